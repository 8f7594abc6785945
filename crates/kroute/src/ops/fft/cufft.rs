//! fft's cuFFT routes (`cufft`, on the cuda backend): all five kernels through
//! `backend::cuda::fft` (plans kept per length and type, their work area in the device's work
//! area), each followed by one small pass of ours (`fft_lib_finish` in fft.cu):
//!
//! - fft_radix2, fft_radix4: `cufftExecC2C` forward (cuFFT picks its own radices: a valid
//!   implementation of either, docs/kernels/fft.md), then a read-only check of the output;
//! - ifft: `CUFFT_INVERSE`, unnormalised, then the 1/L scaling in the same pass (exact: L is a
//!   power of two);
//! - fft_real: `cufftExecR2C` (L/2 + 1 bins, the entry's layout), then the check;
//! - spectral_power: R2C into the work area, then |X_k|² in the finishing pass (in f64, rounded
//!   once). Fusing the square into cuFFT would need a cuFFT callback (LTO callbacks, or the
//!   static library); the second kernel reads the spectrum once more (8(L/2 + 1) bytes).
//!
//! The finishing pass also applies the domain's non-finite rule, which cuFFT alone need not meet:
//! where any output is NaN or ±inf, every output becomes NaN (an inf in Re x_0 reaches Re X_0
//! through additions alone and can leave Im X_0 finite). The overflow rule needs no range check:
//! below Σ|x_n| ≤ 2^125 no intermediate of an f32 FFT (cuFFT's included) can overflow, and above it
//! the entry allows non-finite outputs anywhere. L = 1 (X_0 = x_0) is one small kernel of ours
//! (`fft_lib_one`), no cuFFT plan.

use super::cuda::SOURCE;
use crate::backend::cuda::{fft as cufft, Arg, Call, FftType, BLOCK};
use crate::backend::Backend;
use crate::op::{Library, LibraryExec};
use crate::Result;

pub(crate) static LIBRARIES: &[Library] = &[
    Library {
        kernel: "fft_radix2",
        id: "cufft",
        backend: Backend::Cuda,
        exec: LibraryExec::Cuda(forward),
        unavailable: cufft::unavailable,
    },
    Library {
        kernel: "fft_radix4",
        id: "cufft",
        backend: Backend::Cuda,
        exec: LibraryExec::Cuda(forward),
        unavailable: cufft::unavailable,
    },
    Library {
        kernel: "ifft",
        id: "cufft",
        backend: Backend::Cuda,
        exec: LibraryExec::Cuda(inverse),
        unavailable: cufft::unavailable,
    },
    Library {
        kernel: "fft_real",
        id: "cufft",
        backend: Backend::Cuda,
        exec: LibraryExec::Cuda(real),
        unavailable: cufft::unavailable,
    },
    Library {
        kernel: "spectral_power",
        id: "cufft",
        backend: Backend::Cuda,
        exec: LibraryExec::Cuda(power),
        unavailable: cufft::unavailable,
    },
];

fn align(bytes: u64) -> u64 {
    bytes.div_ceil(256) * 256
}

/// fft_lib_one: L = 1 (kind 0: c2c, 1: rfft, 2: power).
fn one(call: &Call, kind: u32) -> Result<()> {
    let (x, y) = (call.ins[0].0, call.outs[0].0);
    call.dev.launch(
        &SOURCE,
        "fft_lib_one",
        1,
        32,
        0,
        &[Arg::ptr(x), Arg::ptr(y), Arg::u32(kind)],
    )
}

/// fft_lib_finish over n values of y (mode 0: check, 1: scale, 2: y = |src|²).
fn finish(call: &Call, y: u64, src: u64, n: u64, mode: u32, scale: f32) -> Result<()> {
    let scratch = call.dev.scratch()?;
    let grid = call.dev.grid(&SOURCE, "fft_lib_finish", BLOCK, 0, n)?;
    call.dev.launch(
        &SOURCE,
        "fft_lib_finish",
        grid,
        BLOCK,
        0,
        &[
            Arg::ptr(y),
            Arg::ptr(src),
            Arg::u64(n),
            Arg::u32(mode),
            Arg::f32(scale),
            Arg::ptr(scratch),
        ],
    )
}

fn c2c(call: &Call, inverse: bool) -> Result<()> {
    let l = call.n() / 2;
    let (x, y) = (call.ins[0].0, call.outs[0].0);
    match l {
        0 => Ok(()),
        1 => one(call, 0),
        _ => {
            let work = cufft::work_bytes(call.dev, l, FftType::C2C)?;
            let area = call.dev.work_area(align(work).max(256) as usize)?.0;
            cufft::exec(call.dev, l, FftType::C2C, x, y, area, inverse)?;
            let scale = 1.0 / l as f32; // a power of two: exact
            finish(call, y, 0, 2 * l, u32::from(inverse), scale)
        }
    }
}

fn forward(call: &Call) -> Result<()> {
    c2c(call, false)
}

fn inverse(call: &Call) -> Result<()> {
    c2c(call, true)
}

/// R2C of the call's L reals: X (L/2 + 1 bins) into the output, or (`power`) into the work area
/// and |X|² into the output.
fn r2c(call: &Call, power: bool) -> Result<()> {
    let l = call.n();
    let (x, out) = (call.ins[0].0, call.outs[0].0);
    if l == 0 {
        return Ok(());
    }
    if l == 1 {
        return one(call, 1 + u32::from(power));
    }
    let bins = l / 2 + 1;
    let work = align(cufft::work_bytes(call.dev, l, FftType::R2C)?).max(256);
    let spectrum = if power { align(8 * bins) } else { 0 };
    let area = call.dev.work_area((work + spectrum) as usize)?.0;
    if power {
        let xs = area + work;
        cufft::exec(call.dev, l, FftType::R2C, x, xs, area, false)?;
        finish(call, out, xs, bins, 2, 1.0)
    } else {
        cufft::exec(call.dev, l, FftType::R2C, x, out, area, false)?;
        finish(call, out, 0, 2 * bins, 0, 1.0)
    }
}

fn real(call: &Call) -> Result<()> {
    r2c(call, false)
}

fn power(call: &Call) -> Result<()> {
    r2c(call, true)
}

#[cfg(test)]
mod tests {
    use crate::backend::Backend;

    /// Every fft kernel has a `cufft` route on the cuda backend, after our own `cuda`; where it
    /// cannot run (no GPU, no libcufft, a build without the feature) it says why and never
    /// panics.
    #[test]
    fn every_fft_kernel_has_a_cufft_route_that_says_why_it_cannot_run() {
        for name in [
            "fft_radix2",
            "fft_radix4",
            "ifft",
            "fft_real",
            "spectral_power",
        ] {
            let k = crate::kernel(name).unwrap();
            let ids: Vec<&str> = k.implementations().iter().map(|i| i.id).collect();
            let (ours, route) = (
                ids.iter().position(|&i| i == "cuda").unwrap(),
                ids.iter().position(|&i| i == "cufft").unwrap(),
            );
            assert!(ours < route, "{name}: {ids:?}");
            let c = k.implementation("cufft").unwrap();
            assert!(c.library && c.backend == Backend::Cuda);
            assert_eq!(c.available(), c.unavailable_reason().is_none());
            if Backend::Cuda.unavailable_reason().is_some() {
                assert!(c.unavailable_reason().is_some(), "{name}");
            }
        }
    }
}
