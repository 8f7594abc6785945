//! cuFFT for library routes (`cufft`): libcufft loaded at run time by cudarc. One plan per
//! (device, length, type), made at first use and kept: auto-allocation off, so the plan's work
//! area is taken from the device's work area (`Device::work_area`, counted with kroute's other
//! device memory) and set before every execution; the plan is bound to kroute's stream on the
//! device. A timed call only sets the work area and executes.

use super::Device;
use crate::backend::cuda::FftType;
use crate::error::{Error, Result};
use cudarc::cufft::sys as cf;
use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};

struct Plan {
    handle: cf::cufftHandle,
    work: usize,
}

/// Plans by (device ordinal, length, type); used only under this lock, on the device's stream.
static PLANS: Mutex<Option<HashMap<(usize, u64, FftType), Plan>>> = Mutex::new(None);

/// Whether libcufft loads and answers (cufftGetVersion), checked once: cudarc panics on a
/// missing library or symbol, so nothing else calls into it before this says yes. No plan is
/// made to answer it.
fn present() -> bool {
    static P: OnceLock<bool> = OnceLock::new();
    *P.get_or_init(|| {
        std::panic::catch_unwind(|| {
            // SAFETY: dlopen of libcufft under its usual names, then one valid out-pointer.
            unsafe {
                if !cf::is_culib_present() {
                    return false;
                }
                let mut v = 0;
                cf::cufftGetVersion(&mut v) == cf::cufftResult_t::CUFFT_SUCCESS
            }
        })
        .unwrap_or(false)
    })
}

/// Why cuFFT cannot run here (no device, no NVRTC, or libcufft not found), or None.
pub fn unavailable() -> Option<String> {
    if let Some(why) = super::unavailable_reason() {
        return Some(why);
    }
    if !present() {
        return Some(
            "libcufft was not found (install the CUDA toolkit's cuFFT, or put libcufft.so on \
             LD_LIBRARY_PATH)"
                .into(),
        );
    }
    None
}

fn status(what: &str, s: cf::cufftResult) -> Result<()> {
    if s == cf::cufftResult_t::CUFFT_SUCCESS {
        Ok(())
    } else {
        Err(Error::Device(format!("cuFFT {what}: {s:?}")))
    }
}

fn cufft_type(t: FftType) -> cf::cufftType {
    match t {
        FftType::C2C => cf::cufftType_t::CUFFT_C2C,
        FftType::R2C => cf::cufftType_t::CUFFT_R2C,
    }
}

/// Run `f` with the plan for (dev, n, t), made at first use.
fn with_plan<T>(
    dev: &Arc<Device>,
    n: u64,
    t: FftType,
    f: impl FnOnce(&Plan) -> Result<T>,
) -> Result<T> {
    if !present() {
        return Err(Error::Device("libcufft was not found".into()));
    }
    let nx = i32::try_from(n)
        .map_err(|_| Error::Shape(format!("cuFFT takes at most 2^31 − 1 points, got {n}")))?;
    dev.bind()?;
    let mut guard = PLANS
        .lock()
        .map_err(|_| Error::Device("cuFFT plan lock poisoned".into()))?;
    let plans = guard.get_or_insert_with(HashMap::new);
    let key = (dev.info.ordinal, n, t);
    if !plans.contains_key(&key) {
        let made = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| -> Result<Plan> {
            let mut h: cf::cufftHandle = 0;
            // SAFETY: one valid out-pointer.
            status("cufftCreate", unsafe { cf::cufftCreate(&mut h) })?;
            let plan = || -> Result<usize> {
                // SAFETY: a handle just made; the context is bound to this thread.
                status("cufftSetAutoAllocation", unsafe {
                    cf::cufftSetAutoAllocation(h, 0)
                })?;
                let mut work = 0usize;
                // SAFETY: as above; one valid out-pointer for the work size.
                status("cufftMakePlan1d", unsafe {
                    cf::cufftMakePlan1d(h, nx, cufft_type(t), 1, &mut work)
                })?;
                // SAFETY: the stream belongs to this device's context.
                status("cufftSetStream", unsafe {
                    cf::cufftSetStream(h, dev.raw_stream() as _)
                })?;
                Ok(work)
            };
            match plan() {
                Ok(work) => Ok(Plan { handle: h, work }),
                Err(e) => {
                    // SAFETY: the handle was made above and is not used again.
                    let _ = unsafe { cf::cufftDestroy(h) };
                    Err(e)
                }
            }
        }))
        .unwrap_or_else(|_| Err(Error::Device("libcufft failed to load".into())))?;
        plans.insert(key, made);
    }
    let plan = plans
        .get(&key)
        .ok_or_else(|| Error::Device("cuFFT plan lost".into()))?;
    f(plan)
}

/// Bytes of work area cuFFT's plan for an n-point transform of type `t` needs (the plan is
/// made and kept at the first ask).
pub fn work_bytes(dev: &Arc<Device>, n: u64, t: FftType) -> Result<u64> {
    with_plan(dev, n, t, |p| Ok(p.work as u64))
}

/// One unnormalised n-point transform on the device's stream: C2C of x (complex64[n]) into y
/// (complex64[n]), forward or `inverse`; R2C of x (f32[n]) into y (complex64[n/2 + 1]).
/// `work` holds at least `work_bytes(dev, n, t)` bytes; x and y are distinct buffers.
pub fn exec(
    dev: &Arc<Device>,
    n: u64,
    t: FftType,
    x: u64,
    y: u64,
    work: u64,
    inverse: bool,
) -> Result<()> {
    with_plan(dev, n, t, |p| {
        // SAFETY: the plan is live and used under the lock; `work` is a device buffer of this
        // device at least as large as the plan asked for; x and y hold the transform's input
        // and output on this device (the caller's checked shapes); queued on kroute's stream.
        unsafe {
            status(
                "cufftSetWorkArea",
                cf::cufftSetWorkArea(p.handle, work as *mut _),
            )?;
            match t {
                FftType::C2C => status(
                    "cufftExecC2C",
                    cf::cufftExecC2C(
                        p.handle,
                        x as *mut cf::cufftComplex,
                        y as *mut cf::cufftComplex,
                        if inverse { 1 } else { -1 }, // CUFFT_INVERSE, CUFFT_FORWARD
                    ),
                ),
                FftType::R2C => status(
                    "cufftExecR2C",
                    cf::cufftExecR2C(
                        p.handle,
                        x as *mut cf::cufftReal,
                        y as *mut cf::cufftComplex,
                    ),
                ),
            }
        }
    })
}
