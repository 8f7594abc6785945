//! cuBLAS for library routes (`cublas`): libcublas loaded at run time by cudarc, one handle per
//! device bound to kroute's stream on it, math mode `CUBLAS_DEFAULT_MATH` set explicitly (f32
//! arithmetic, no TF32 — linalg's contract forbids it; `NVIDIA_TF32_OVERRIDE` must stay unset).
//! The wrappers are the column-major BLAS calls as cuBLAS defines them; the domain maps its
//! row-major contract onto them (a row-major matrix is the column-major transpose).

use super::{device as find_device, Device};
use crate::error::{Error, Result};
use cudarc::cublas::sys as cb;
use cudarc::driver::result as cu;
use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};

/// A cuBLAS handle; used only under the lock of `HANDLES`, on its device's one stream.
struct Handle(cb::cublasHandle_t);
// SAFETY: the handle is only used while holding the `HANDLES` lock (one thread at a time).
unsafe impl Send for Handle {}

static HANDLES: Mutex<Option<HashMap<usize, Handle>>> = Mutex::new(None);

/// Whether libcublas can be loaded, checked once (cudarc panics on a missing library, so
/// nothing calls into it before this says yes).
fn present() -> bool {
    static P: OnceLock<bool> = OnceLock::new();
    // SAFETY: only tries to dlopen libcublas under its usual names.
    *P.get_or_init(|| {
        std::panic::catch_unwind(|| unsafe { cb::is_culib_present() }).unwrap_or(false)
    })
}

/// Why cuBLAS cannot run here (no device, no NVRTC, or libcublas not found), or None.
pub fn unavailable() -> Option<String> {
    if let Some(why) = super::unavailable_reason() {
        return Some(why);
    }
    if !present() {
        return Some(
            "libcublas was not found (install the CUDA toolkit's cuBLAS, or put libcublas.so on \
             LD_LIBRARY_PATH)"
                .into(),
        );
    }
    let Ok(dev) = find_device(0) else {
        return Some("no CUDA device".into());
    };
    with_handle(&dev, |_| Ok(())).err().map(|e| e.to_string())
}

fn status(what: &str, s: cb::cublasStatus_t) -> Result<()> {
    if s == cb::cublasStatus_t::CUBLAS_STATUS_SUCCESS {
        Ok(())
    } else {
        Err(Error::Device(format!("cuBLAS {what}: {s:?}")))
    }
}

/// Run `f` with this device's handle (made at first use, bound to the device's stream).
fn with_handle<T>(dev: &Arc<Device>, f: impl FnOnce(cb::cublasHandle_t) -> Result<T>) -> Result<T> {
    if !present() {
        return Err(Error::Device("libcublas was not found".into()));
    }
    dev.bind()?;
    let mut guard = HANDLES
        .lock()
        .map_err(|_| Error::Device("cuBLAS handle lock poisoned".into()))?;
    let handles = guard.get_or_insert_with(HashMap::new);
    let ordinal = dev.info.ordinal;
    let h = match handles.entry(ordinal) {
        std::collections::hash_map::Entry::Occupied(e) => e.get().0,
        std::collections::hash_map::Entry::Vacant(e) => {
            // A missing symbol in an old libcublas panics inside cudarc's loader: an error here.
            let made = std::panic::catch_unwind(std::panic::AssertUnwindSafe(
                || -> Result<cb::cublasHandle_t> {
                    let mut h = std::ptr::null_mut();
                    // SAFETY: one valid out-pointer; the context is bound to this thread.
                    status("cublasCreate", unsafe { cb::cublasCreate_v2(&mut h) })?;
                    // SAFETY: a handle just made; the stream belongs to this device's context.
                    status("cublasSetStream", unsafe {
                        cb::cublasSetStream_v2(h, dev.raw_stream() as _)
                    })?;
                    // SAFETY: as above. Default math: f32 FMA arithmetic, no TF32 tensor cores.
                    status("cublasSetMathMode", unsafe {
                        cb::cublasSetMathMode(h, cb::cublasMath_t::CUBLAS_DEFAULT_MATH)
                    })?;
                    Ok(h)
                },
            ))
            .unwrap_or_else(|_| Err(Error::Device("libcublas failed to load".into())))?;
            e.insert(Handle(made)).0
        }
    };
    f(h)
}

fn int(what: &str, v: u64) -> Result<i32> {
    i32::try_from(v).map_err(|_| Error::Param(format!("cuBLAS takes 32-bit sizes: {what} = {v}")))
}

/// C_i = A_i·B_i (column-major, no transposes) for `batch` products of m×k by k×n, each
/// operand `stride` elements after the last; ld = the rows of each.
#[allow(clippy::too_many_arguments)]
pub fn sgemm_strided_batched(
    dev: &Arc<Device>,
    (m, n, k): (u64, u64, u64),
    a: u64,
    b: u64,
    c: u64,
    (stride_a, stride_b, stride_c): (u64, u64, u64),
    batch: u64,
) -> Result<()> {
    let (mi, ni, ki, bi) = (
        int("m", m)?,
        int("n", n)?,
        int("k", k)?,
        int("batch", batch)?,
    );
    let (one, zero) = (1.0f32, 0.0f32);
    with_handle(dev, |h| {
        use cb::cublasOperation_t::CUBLAS_OP_N as N;
        // SAFETY: device pointers of this device sized by the caller's checked shapes;
        // alpha and beta on the host (the default pointer mode).
        status("sgemm_strided_batched", unsafe {
            cb::cublasSgemmStridedBatched(
                h,
                N,
                N,
                mi,
                ni,
                ki,
                &one,
                a as *const f32,
                mi,
                stride_a as i64,
                b as *const f32,
                ki,
                stride_b as i64,
                &zero,
                c as *mut f32,
                mi,
                stride_c as i64,
                bi,
            )
        })
    })
}

/// y = Aᵀ·x for a column-major m×n A (lda = m): y has n elements, x has m.
pub fn sgemv_t(dev: &Arc<Device>, (m, n): (u64, u64), a: u64, x: u64, y: u64) -> Result<()> {
    let (mi, ni) = (int("m", m)?, int("n", n)?);
    let (one, zero) = (1.0f32, 0.0f32);
    with_handle(dev, |h| {
        if m == 0 {
            // An empty sum: cuBLAS returns at once and would leave y unwritten.
            // SAFETY: y holds n f32 on this device; queued on kroute's stream.
            return unsafe { cu::memset_d8_async(y, 0, (n * 4) as usize, dev.raw_stream()) }
                .map_err(|e| Error::Device(format!("zeroing y: {e:?}")));
        }
        // SAFETY: as in `sgemm_strided_batched`.
        status("sgemv", unsafe {
            cb::cublasSgemv_v2(
                h,
                cb::cublasOperation_t::CUBLAS_OP_T,
                mi,
                ni,
                &one,
                a as *const f32,
                mi.max(1),
                x as *const f32,
                1,
                &zero,
                y as *mut f32,
                1,
            )
        })
    })
}

/// A = x·yᵀ for a column-major m×n A (lda = m), x of m and y of n: A is zeroed first and
/// sger adds to it (0 + x_i·y_j is the product itself).
pub fn sger_zeroed(dev: &Arc<Device>, (m, n): (u64, u64), x: u64, y: u64, a: u64) -> Result<()> {
    let (mi, ni) = (int("m", m)?, int("n", n)?);
    let one = 1.0f32;
    with_handle(dev, |h| {
        // SAFETY: `a` holds m·n f32 on this device; the memset is queued on kroute's stream,
        // the stream cuBLAS uses, so it is ordered before sger.
        unsafe { cu::memset_d8_async(a, 0, (m * n * 4) as usize, dev.raw_stream()) }
            .map_err(|e| Error::Device(format!("zeroing the output: {e:?}")))?;
        // SAFETY: as in `sgemm_strided_batched`.
        status("sger", unsafe {
            cb::cublasSger_v2(
                h,
                mi,
                ni,
                &one,
                x as *const f32,
                1,
                y as *const f32,
                1,
                a as *mut f32,
                mi.max(1),
            )
        })
    })
}

/// Solve op(A)·y = b in place for a column-major n×n triangular A (lda = n): `upper` and
/// `transpose` pick the triangle and op, non-unit diagonal. `y` holds b on entry (copied from
/// `b` here, on the stream).
pub fn strsv(
    dev: &Arc<Device>,
    n: u64,
    upper: bool,
    transpose: bool,
    a: u64,
    b: u64,
    y: u64,
) -> Result<()> {
    let ni = int("n", n)?;
    use cb::cublasFillMode_t::{CUBLAS_FILL_MODE_LOWER, CUBLAS_FILL_MODE_UPPER};
    use cb::cublasOperation_t::{CUBLAS_OP_N, CUBLAS_OP_T};
    with_handle(dev, |h| {
        // SAFETY: b and y hold n f32 on this device; queued on the stream cuBLAS uses.
        unsafe { cu::memcpy_dtod_async(y, b, (n * 4) as usize, dev.raw_stream()) }
            .map_err(|e| Error::Device(format!("copying b: {e:?}")))?;
        // SAFETY: as in `sgemm_strided_batched`.
        status("strsv", unsafe {
            cb::cublasStrsv_v2(
                h,
                if upper {
                    CUBLAS_FILL_MODE_UPPER
                } else {
                    CUBLAS_FILL_MODE_LOWER
                },
                if transpose { CUBLAS_OP_T } else { CUBLAS_OP_N },
                cb::cublasDiagType_t::CUBLAS_DIAG_NON_UNIT,
                ni,
                a as *const f32,
                ni.max(1),
                y as *mut f32,
                1,
            )
        })
    })
}
