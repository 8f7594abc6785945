//! fft's CPU library routes: `rustfft` for all five kernels (fft_radix2, fft_radix4, ifft,
//! fft_real, spectral_power), the r2c pair through the `realfft` crate (rustfft's own R2C
//! wrapper: an L/2-point complex rustfft of the packed pairs plus one separation pass, with
//! twiddles from f64 sin/cos, as the entry names it).
//!
//! - complex64 is interleaved (re, im) f32, which is `Complex<f32>` (`#[repr(C)]`, two f32):
//!   the tensors are viewed as complex slices in place. rustfft transforms in place, so the
//!   c2c input is copied into the output and transformed there; realfft uses its input as
//!   scratch, so the real input is copied into a buffer first (both copies are part of the
//!   timed call, as numpy's and torch's own copies are part of theirs).
//! - ifft is rustfft's unnormalised inverse, then the exact power-of-two scale 1/L.
//! - spectral_power squares realfft's spectrum (in f64, rounded once, as our kernel does).
//! - Backend `simd`: rustfft runs one transform on one thread, with its own AVX / SSE / NEON
//!   code chosen at run time, so it is the single-threaded SIMD implementation to set beside our
//!   `simd`. Splitting a single transform over rayon would be our four-step wrapped around
//!   rustfft's row FFTs, no longer the library's own algorithm.
//!
//! One adaptation: rustfft's butterflies skip the multiplications by trivial twiddles (1, −i),
//! so a NaN in Im x_n never reaches Re X_0 = Σ Re x_n; the entry's rule (any non-finite input
//! makes every output non-finite) failed on its NaN/±inf edge cases (4 finite outputs of 32 at
//! L = 16). A non-finite input always leaves some output non-finite (X_0 = Σ x_n sums it with
//! no multiplication), so one scan of the output suffices: any non-finite output makes every
//! output NaN. That never touches a finite-input result below the overflow bound (every output
//! is finite there) and above it any pattern is allowed. rustfft is an FFT like ours, whose
//! intermediates Σ|x_n| bounds, so the entry's overflow rule covers it as it covers ours.

use crate::backend::cpu::Cpu;
use crate::backend::Backend;
use crate::op::{always_available, Library, LibraryExec};
use crate::params::Params;
use crate::tensor::Tensor;
use crate::{Error, Result};
use realfft::{RealFftPlanner, RealToComplex};
use rustfft::num_complex::Complex;
use rustfft::{Fft, FftPlanner};
use std::cell::RefCell;
use std::sync::{Arc, Mutex, OnceLock};

pub(crate) static LIBRARIES: &[Library] = &[
    route("fft_radix2", rustfft_forward),
    route("fft_radix4", rustfft_forward),
    route("ifft", rustfft_inverse),
    route("fft_real", rustfft_real),
    route("spectral_power", rustfft_power),
];

const fn route(kernel: &'static str, exec: crate::op::CpuKernel) -> Library {
    Library {
        kernel,
        id: "rustfft",
        backend: Backend::Simd,
        exec: LibraryExec::Cpu(exec),
        unavailable: always_available,
    }
}

// ---- plans and scratch -------------------------------------------------------------------------

/// The process-wide planners. Planning is not free (rustfft chooses an algorithm for L and
/// builds its twiddle tables, O(L) f64 sin/cos: milliseconds at L = 2^23), and a timed call must
/// time the transform, not the planning, as numpy (pocketfft's plan cache) and cuFFT (a cached
/// plan) are timed. Both planners keep a map from length to plan (an `Arc` shared by every
/// caller); the lock is held only while a plan is looked up or made, never while one runs.
struct Planners {
    c2c: FftPlanner<f32>,
    r2c: RealFftPlanner<f32>,
}

fn planners() -> std::sync::MutexGuard<'static, Planners> {
    static PLANNERS: OnceLock<Mutex<Planners>> = OnceLock::new();
    PLANNERS
        .get_or_init(|| {
            Mutex::new(Planners {
                c2c: FftPlanner::new(),
                r2c: RealFftPlanner::new(),
            })
        })
        .lock()
        // A panic while planning leaves the maps as they were (a plan is inserted whole).
        .unwrap_or_else(|e| e.into_inner())
}

fn c2c_plan(l: usize, inverse: bool) -> Arc<dyn Fft<f32>> {
    let mut p = planners();
    if inverse {
        p.c2c.plan_fft_inverse(l)
    } else {
        p.c2c.plan_fft_forward(l)
    }
}

fn r2c_plan(l: usize) -> Arc<dyn RealToComplex<f32>> {
    planners().r2c.plan_fft_forward(l)
}

thread_local! {
    /// Scratch per thread, kept between calls: at L = 2^23 rustfft's scratch is 64 MiB, and a
    /// fresh allocation each call would time the kernel's first-touch page faults, not the FFT.
    static SCRATCH: RefCell<(Vec<Complex<f32>>, Vec<f32>, Vec<Complex<f32>>)> =
        const { RefCell::new((Vec::new(), Vec::new(), Vec::new())) };
}

/// `v` resized to `len` (contents unspecified: every user overwrites what it reads).
fn sized<T: Copy + Default>(v: &mut Vec<T>, len: usize) -> &mut [T] {
    if v.len() < len {
        v.resize(len, T::default());
    }
    &mut v[..len]
}

/// Interleaved (re, im) f32 as complex points.
fn as_complex(v: &mut [f32]) -> &mut [Complex<f32>] {
    // SAFETY: Complex<f32> is #[repr(C)] { re: f32, im: f32 }: size 8, alignment 4, the layout
    // of two consecutive f32; the slice holds len / 2 whole pairs and is borrowed mutably for
    // the returned lifetime.
    unsafe { std::slice::from_raw_parts_mut(v.as_mut_ptr().cast(), v.len() / 2) }
}

fn library_error(e: impl std::fmt::Display) -> Error {
    Error::Shape(format!("rustfft: {e}"))
}

// ---- the routes ------------------------------------------------------------------------------

/// The c2c transform of x (2L interleaved f32) into y, in place in y after one copy.
fn c2c(x: &[f32], y: &mut [f32], inverse: bool) {
    let l = x.len() / 2;
    y.copy_from_slice(x);
    if l <= 1 {
        return;
    }
    let plan = c2c_plan(l, inverse);
    SCRATCH.with_borrow_mut(|(scratch, _, _)| {
        let scratch = sized(scratch, plan.get_inplace_scratch_len());
        plan.process_with_scratch(as_complex(y), scratch);
    });
    if inverse {
        let s = 1.0 / l as f32; // a power of two: exact.
        y.iter_mut().for_each(|v| *v *= s);
    }
    poison(y);
}

/// Every value NaN where any is NaN or ±inf (see the module notes).
fn poison(v: &mut [f32]) {
    // An integer OR-reduction (which vectorizes) of "exponent all ones".
    let bad = v
        .iter()
        .fold(0u32, |a, x| a | (x.to_bits() & 0x7f80_0000 == 0x7f80_0000) as u32);
    if bad != 0 {
        v.fill(f32::NAN);
    }
}

fn rustfft_forward(_: Cpu, i: &[&Tensor], _: &Params, o: &mut [Tensor]) -> Result<()> {
    c2c(i[0].as_f32()?, o[0].as_f32_mut()?, false);
    Ok(())
}

fn rustfft_inverse(_: Cpu, i: &[&Tensor], _: &Params, o: &mut [Tensor]) -> Result<()> {
    c2c(i[0].as_f32()?, o[0].as_f32_mut()?, true);
    Ok(())
}

/// realfft's spectrum of x (L real) as ⌊L/2⌋ + 1 complex points handed to `out`.
fn r2c(x: &[f32], out: impl FnOnce(&[Complex<f32>])) -> Result<()> {
    let l = x.len();
    let plan = r2c_plan(l);
    SCRATCH.with_borrow_mut(|(scratch, input, spectrum)| {
        let input = sized(input, l);
        input.copy_from_slice(x);
        let spectrum = sized(spectrum, l / 2 + 1);
        let scratch = sized(scratch, plan.get_scratch_len());
        plan.process_with_scratch(input, spectrum, scratch)
            .map_err(library_error)?;
        let bad = spectrum.iter().any(|c| !(c.re.is_finite() && c.im.is_finite()));
        if bad {
            spectrum.fill(Complex::new(f32::NAN, f32::NAN));
        }
        out(spectrum);
        Ok(())
    })
}

fn rustfft_real(_: Cpu, i: &[&Tensor], _: &Params, o: &mut [Tensor]) -> Result<()> {
    let x = i[0].as_f32()?;
    let y = o[0].as_f32_mut()?;
    r2c(x, |s| {
        for (p, c) in y.chunks_exact_mut(2).zip(s) {
            p[0] = c.re;
            p[1] = c.im;
        }
    })
}

fn rustfft_power(_: Cpu, i: &[&Tensor], _: &Params, o: &mut [Tensor]) -> Result<()> {
    let x = i[0].as_f32()?;
    let p = o[0].as_f32_mut()?;
    r2c(x, |s| {
        for (v, c) in p.iter_mut().zip(s) {
            let (re, im) = (c.re as f64, c.im as f64);
            *v = (re * re + im * im) as f32;
        }
    })
}
