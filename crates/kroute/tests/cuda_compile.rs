//! CI without a GPU: NVRTC compiles every CUDA source (every domain's and the backend's own)
//! to a CUBIN for Hopper (sm_90) and for a pre-Hopper arch (sm_80, Ampere), and any compile
//! error fails the test with NVRTC's log. Needs libnvrtc (scripts/ci-nvrtc.sh installs it);
//! without it the test fails and says how to get it, unless KROUTE_SKIP_NVRTC=1.
#![cfg(feature = "cuda")]

/// Report a skip where CI can see it: libtest captures `println!` of passing tests, but not a
/// direct write to the stderr handle.
macro_rules! say_skipped {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stderr(), $($arg)*);
    }};
}

use kroute::backend::cuda;

#[test]
fn every_cuda_source_compiles_for_sm90_and_sm80() {
    if !cuda::compile::nvrtc_present() {
        if std::env::var_os("KROUTE_SKIP_NVRTC").is_some() {
            say_skipped!("skipped: no NVRTC (KROUTE_SKIP_NVRTC is set)");
            return;
        }
        panic!(
            "libnvrtc not found: run `source scripts/ci-nvrtc.sh` (pip wheel nvidia-cuda-nvrtc \
             13.0, LD_LIBRARY_PATH) or set KROUTE_SKIP_NVRTC=1"
        );
    }
    let (major, minor) = cuda::compile::nvrtc_version().expect("NVRTC version");
    for arch in [90, 80] {
        match cuda::compile_all(arch) {
            Ok(built) => {
                // Every domain that registers CUDA kernels, and the backend's own source.
                assert_eq!(built.len(), kroute::registry::cuda_sources().count() + 1);
                for (name, bytes) in built {
                    assert!(bytes > 0);
                    println!("NVRTC {major}.{minor}: {name}.cu → sm_{arch} CUBIN, {bytes} bytes");
                }
            }
            Err(e) => panic!("sm_{arch}: {e}"),
        }
    }
}

#[test]
fn a_compile_error_carries_the_nvrtc_log() {
    if !cuda::compile::nvrtc_present() {
        say_skipped!("skipped: no NVRTC");
        return;
    }
    static BAD: cuda::Source = cuda::Source {
        name: "broken",
        text: "extern \"C\" __global__ void k(float* x) { x[0] = undefined_name; }",
    };
    match cuda::compile::compile_cubin(&BAD, 90) {
        Err(kroute::Error::Compile { kernel, log }) => {
            assert_eq!(kernel, "broken");
            assert!(log.contains("undefined_name"), "log: {log}");
        }
        other => panic!("expected a compile error, got {other:?}"),
    }
}

#[test]
fn no_device_is_reported_not_panicked() {
    // On a machine without a GPU this must be an error value; with one, a device list.
    match cuda::devices() {
        Ok(d) => println!("{} CUDA device(s): {:?}", d.len(), d),
        Err(e) => {
            assert!(matches!(e, kroute::Error::Device(_)));
            say_skipped!("skipped: no CUDA device ({e})");
        }
    }
    let x = kroute::Tensor::f32(vec![1.0, 2.0]);
    if !cuda::available() {
        assert!(x.to_device(0).is_err());
        let op = kroute::kernel("map_abs").unwrap();
        assert!(!op.has(kroute::Backend::Cuda));
        let imp = op.on(kroute::Backend::Cuda).unwrap();
        assert!(matches!(
            op.run(imp, &[&x], &kroute::Params::defaults(op.spec)),
            Err(kroute::Error::Device(_))
        ));
    }
}
