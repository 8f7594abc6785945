//! NVRTC: CUDA C source → CUBIN for one real architecture (`sm_XX`), never PTX. The lent H200
//! runs driver 580 (CUDA 13.0), which refuses PTX from a newer NVRTC; machine code for the
//! device's own arch loads on any driver that knows the arch. Results are cached in memory
//! (per process) and on disk, keyed by source hash, arch, NVRTC version and options.

use crate::backend::cuda::Source;
use crate::error::{Error, Result};
use cudarc::nvrtc::{result as nvrtc, sys as nvrtc_sys};
use std::collections::HashMap;
use std::ffi::CString;
use std::sync::{Mutex, OnceLock};

/// Every kernel source starts with this prelude (types, NaN-aware helpers, f16 conversions,
/// warp and block reductions); it is hashed with the source.
pub const PRELUDE: &str = include_str!("../prelude.cuh");

/// Options for every compile. No fast math: division and sqrt correctly rounded, denormals
/// kept (docs/kernels/KERNELS.md: no flush-to-zero, `map_div` exact). `-lineinfo` lets compute-sanitizer
/// name source lines and costs nothing at run time.
pub const OPTIONS: &[&str] = &[
    "--std=c++17",
    "--ftz=false",
    "--prec-div=true",
    "--prec-sqrt=true",
    "--fmad=true",
    "-lineinfo",
];

/// Whether libnvrtc can be loaded (checked before any NVRTC call: cudarc panics inside its
/// loader when the library is missing).
pub fn nvrtc_present() -> bool {
    static PRESENT: OnceLock<bool> = OnceLock::new();
    // SAFETY: only tries to dlopen the library under its usual names.
    *PRESENT.get_or_init(|| unsafe { nvrtc_sys::is_culib_present() })
}

/// NVRTC's (major, minor) version.
pub fn nvrtc_version() -> Result<(i32, i32)> {
    if !nvrtc_present() {
        return Err(no_nvrtc());
    }
    let (mut major, mut minor) = (0i32, 0i32);
    // SAFETY: both pointers are valid for one write each.
    unsafe { nvrtc_sys::nvrtcVersion(&mut major, &mut minor) }
        .result()
        .map_err(|e| Error::Device(format!("nvrtcVersion failed: {e:?}")))?;
    Ok((major, minor))
}

fn no_nvrtc() -> Error {
    Error::Device(
        "libnvrtc not found: install CUDA's NVRTC (e.g. `pip install nvidia-cuda-nvrtc==13.0.*`) \
         and put its lib folder on LD_LIBRARY_PATH"
            .into(),
    )
}

/// FNV-1a, 64 bits: a stable hash for the disk cache key (std's hasher may change between
/// Rust releases, which would only cost recompiles, but a fixed one keeps keys reproducible).
fn fnv1a(parts: &[&[u8]]) -> u64 {
    let mut h = 0xcbf2_9ce4_8422_2325u64;
    for p in parts {
        for &b in *p {
            h ^= b as u64;
            h = h.wrapping_mul(0x0000_0100_0000_01b3);
        }
        h ^= 0xff;
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    h
}

/// The full text NVRTC sees for a source.
pub fn full_text(src: &Source) -> String {
    format!("{PRELUDE}\n#line 1 \"{}.cu\"\n{}", src.name, src.text)
}

/// Compile one source for `sm_{arch}` (e.g. 90) and return the CUBIN. A compile error is
/// `Error::Compile` carrying NVRTC's log.
pub fn compile_cubin(src: &Source, arch: u32) -> Result<Vec<u8>> {
    if !nvrtc_present() {
        return Err(no_nvrtc());
    }
    let text = CString::new(full_text(src)).map_err(|_| Error::Compile {
        kernel: src.name.into(),
        log: "source holds a NUL byte".into(),
    })?;
    let file = CString::new(format!("{}.cu", src.name)).unwrap_or_default();
    let prog = nvrtc::create_program(&text, Some(&file)).map_err(|e| Error::Compile {
        kernel: src.name.into(),
        log: format!("nvrtcCreateProgram failed: {e:?}"),
    })?;
    let mut opts: Vec<String> = OPTIONS.iter().map(|s| s.to_string()).collect();
    opts.push(format!("--gpu-architecture=sm_{arch}"));
    // SAFETY: `prog` is a live program created above; the options are plain strings.
    let compiled = unsafe { nvrtc::compile_program(prog, &opts) };
    // SAFETY: `prog` is live; the log is read before the program is destroyed.
    let log = unsafe { nvrtc::get_program_log(prog) }
        .map(|chars| {
            let bytes: Vec<u8> = chars
                .iter()
                .map(|&c| c as u8)
                .take_while(|&b| b != 0)
                .collect();
            String::from_utf8_lossy(&bytes).into_owned()
        })
        .unwrap_or_default();
    let result = match compiled {
        Err(e) => Err(Error::Compile {
            kernel: src.name.into(),
            log: format!("{e:?} for sm_{arch}\n{log}"),
        }),
        Ok(()) => get_cubin(prog).map_err(|e| Error::Compile {
            kernel: src.name.into(),
            log: format!("reading the CUBIN failed: {e}\n{log}"),
        }),
    };
    // SAFETY: `prog` is live and not used after this.
    let _ = unsafe { nvrtc::destroy_program(prog) };
    result
}

fn get_cubin(prog: nvrtc_sys::nvrtcProgram) -> std::result::Result<Vec<u8>, String> {
    let mut size = 0usize;
    // SAFETY: `prog` was compiled successfully; `size` is valid for one write.
    unsafe { nvrtc_sys::nvrtcGetCUBINSize(prog, &mut size) }
        .result()
        .map_err(|e| format!("{e:?}"))?;
    if size == 0 {
        return Err("NVRTC produced an empty CUBIN".into());
    }
    let mut buf = vec![0u8; size];
    // SAFETY: `buf` has exactly the size NVRTC reported.
    unsafe { nvrtc_sys::nvrtcGetCUBIN(prog, buf.as_mut_ptr().cast()) }
        .result()
        .map_err(|e| format!("{e:?}"))?;
    Ok(buf)
}

use crate::cache_dir;

/// The CUBIN for `src` on `sm_{arch}`: from memory, else disk, else NVRTC (then stored in both).
/// The disk cache is best effort: an unwritable or corrupt cache only costs a recompile.
pub fn cubin_cached(src: &Source, arch: u32) -> Result<(Vec<u8>, bool)> {
    static MEMORY: OnceLock<Mutex<HashMap<(u64, u32), Vec<u8>>>> = OnceLock::new();
    let (major, minor) = nvrtc_version()?;
    let text = full_text(src);
    let hash = fnv1a(&[
        text.as_bytes(),
        OPTIONS.join(" ").as_bytes(),
        format!("sm_{arch} nvrtc {major}.{minor}").as_bytes(),
    ]);
    let memory = MEMORY.get_or_init(Default::default);
    if let Some(c) = memory
        .lock()
        .ok()
        .and_then(|m| m.get(&(hash, arch)).cloned())
    {
        return Ok((c, true));
    }
    let file = cache_dir().map(|d| {
        d.join(format!(
            "{}-sm{arch}-nvrtc{major}.{minor}-{hash:016x}.cubin",
            src.name
        ))
    });
    let from_disk = file
        .as_ref()
        .and_then(|f| std::fs::read(f).ok())
        .filter(|c| c.len() > 4 && c[..4] == *b"\x7fELF");
    let (cubin, hit) = match from_disk {
        Some(c) => (c, true),
        None => {
            let c = compile_cubin(src, arch)?;
            if let Some(f) = &file {
                if let Some(dir) = f.parent() {
                    let _ = std::fs::create_dir_all(dir);
                }
                // Write then rename, so a concurrent reader never sees half a file.
                let tmp = f.with_extension(format!("tmp{}", std::process::id()));
                if std::fs::write(&tmp, &c).is_ok() {
                    let _ = std::fs::rename(&tmp, f);
                }
            }
            (c, false)
        }
    };
    if let Ok(mut m) = memory.lock() {
        m.insert((hash, arch), cubin.clone());
    }
    Ok((cubin, hit))
}

/// Forget a CUBIN on disk (after the driver refused to load it).
pub fn evict(src: &Source, arch: u32) {
    if let (Some(dir), Ok((major, minor))) = (cache_dir(), nvrtc_version()) {
        let text = full_text(src);
        let hash = fnv1a(&[
            text.as_bytes(),
            OPTIONS.join(" ").as_bytes(),
            format!("sm_{arch} nvrtc {major}.{minor}").as_bytes(),
        ]);
        let _ = std::fs::remove_file(dir.join(format!(
            "{}-sm{arch}-nvrtc{major}.{minor}-{hash:016x}.cubin",
            src.name
        )));
    }
}
