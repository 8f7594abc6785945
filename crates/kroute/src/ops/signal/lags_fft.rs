//! The `rustfft` library route of autocorrelation and cross_correlation: the same lag sums as
//! `lags_cpu.rs` (`lags.rs` has the definition), by FFT in blocks, in f64.
//!
//! A block of B samples of a and the window of b it meets (B + nl − 1 samples, zero past N) are
//! transformed together as one complex signal a + i·b of size F = max(4096, 2^⌈log2 2nl⌉) ≥
//! B + nl − 1 (no wrap-around), their spectra separated by conjugate symmetry, multiplied as
//! conj(Â)·B̂ and transformed back: the first nl values are the block's lag sums, added over the
//! blocks in f64. Before packing, the block and the window are each scaled by a power of two
//! that brings their largest magnitude near 1 (exact; undone at the end), so a window of 1e-17
//! beside a block of 1e17 is not lost in the other's rounding. An f64 FFT errs by about
//! 1e-16·log2 F·‖block‖·‖window‖, some 10^-14 of a lag's Σ|terms| on the workload.
//!
//! Lags with no terms (k ≥ N) are exactly 0, as the definition says (the FFT would leave
//! ~1e-17 there, which sum(1e-5) with S_k = 0 refuses). An input holding NaN or ±inf is handed
//! to the direct form: an FFT spreads a NaN over every lag of its block, where the definition
//! has it only in the lags whose overlap holds it.

use super::lags_cpu;
use crate::backend::cpu::Cpu;
use crate::backend::Backend;
use crate::op::{always_available, Library, LibraryExec};
use crate::params::Params;
use crate::tensor::Tensor;
use crate::Result;
use rayon::prelude::*;
use rustfft::num_complex::Complex;
use rustfft::{Fft, FftPlanner};
use std::sync::Arc;

pub(crate) const LIBRARIES: &[Library] = &[
    Library {
        kernel: "autocorrelation",
        id: "rustfft",
        backend: Backend::Parallel,
        exec: LibraryExec::Cpu(autocorrelation),
        unavailable: always_available,
    },
    Library {
        kernel: "cross_correlation",
        id: "rustfft",
        backend: Backend::Parallel,
        exec: LibraryExec::Cpu(cross_correlation),
        unavailable: always_available,
    },
];

fn finite(x: &[f32]) -> bool {
    x.iter().all(|v| v.is_finite())
}

fn autocorrelation(cpu: Cpu, i: &[&Tensor], p: &Params, o: &mut [Tensor]) -> Result<()> {
    let x = i[0].as_f32()?;
    if !finite(x) {
        return lags_cpu::autocorrelation(cpu, i, p, o);
    }
    let r = lag_sums(cpu, x, x, 0, p.usize("max_lag"));
    for (o, v) in o[0].as_f32_mut()?.iter_mut().zip(r) {
        *o = v as f32;
    }
    Ok(())
}

fn cross_correlation(cpu: Cpu, i: &[&Tensor], p: &Params, o: &mut [Tensor]) -> Result<()> {
    let (x, y) = (i[0].as_f32()?, i[1].as_f32()?);
    if !finite(x) || !finite(y) {
        return lags_cpu::cross_correlation(cpu, i, p, o);
    }
    let l = p.usize("max_lag");
    let (pos, neg) = (lag_sums(cpu, x, y, 0, l + 1), lag_sums(cpu, y, x, 1, l));
    lags_cpu::place_lags(l, pos, neg, o[0].as_f32_mut()?);
    Ok(())
}

/// The power of two nearest the largest |v| of `x` (1 for an all-zero x), as f64.
fn scale_of(x: &[f32]) -> f64 {
    let m = x.iter().fold(0.0f32, |m, v| m.max(v.abs()));
    if m == 0.0 {
        1.0
    } else {
        2f64.powi((m as f64).log2().round() as i32)
    }
}

/// lags(a, b, k0, nl) (`lags.rs`) by block FFTs in f64; finite inputs.
fn lag_sums(cpu: Cpu, a: &[f32], b: &[f32], k0: usize, nl: usize) -> Vec<f64> {
    let n = a.len();
    let len = n.saturating_sub(k0);
    let live = nl.min(len);
    let mut out = vec![0.0f64; nl];
    if live == 0 {
        return out;
    }
    let f = (2 * live).next_power_of_two().max(4096);
    let blk = f - live + 1;
    let mut planner = FftPlanner::<f64>::new();
    let (fwd, inv) = (planner.plan_fft_forward(f), planner.plan_fft_inverse(f));
    let plan = Plan { a, b, k0, live, f, blk, fwd, inv };
    let blocks = len.div_ceil(blk);
    let totals = if cpu == Cpu::Parallel && blocks > 1 {
        let tasks = (rayon::current_num_threads() * 4).min(blocks);
        let per = blocks.div_ceil(tasks);
        let parts: Vec<Vec<f64>> = (0..blocks.div_ceil(per))
            .into_par_iter()
            .map(|t| plan.blocks(t * per, ((t + 1) * per).min(blocks)))
            .collect();
        let mut t = vec![0.0f64; live];
        for p in parts {
            t.iter_mut().zip(p).for_each(|(t, v)| *t += v);
        }
        t
    } else {
        plan.blocks(0, blocks)
    };
    out[..live].copy_from_slice(&totals);
    out
}

struct Plan<'a> {
    a: &'a [f32],
    b: &'a [f32],
    k0: usize,
    live: usize,
    f: usize,
    blk: usize,
    fwd: Arc<dyn Fft<f64>>,
    inv: Arc<dyn Fft<f64>>,
}

impl Plan<'_> {
    /// The lag sums of blocks [c0, c1), added in block order.
    fn blocks(&self, c0: usize, c1: usize) -> Vec<f64> {
        let (n, f) = (self.a.len(), self.f);
        let len = n - self.k0;
        let zero = Complex::new(0.0, 0.0);
        let mut z = vec![zero; f];
        let mut w = vec![zero; f];
        let mut scratch = vec![zero; self.fwd.get_inplace_scratch_len().max(self.inv.get_inplace_scratch_len())];
        let mut t = vec![0.0f64; self.live];
        for c in c0..c1 {
            let s = c * self.blk;
            let xa = &self.a[s..(s + self.blk).min(len)];
            let xb = &self.b[s + self.k0..(s + self.k0 + self.blk + self.live - 1).min(n)];
            let (sa, sb) = (scale_of(xa), scale_of(xb));
            z.iter_mut().for_each(|v| *v = zero);
            for (v, &x) in z.iter_mut().zip(xa) {
                v.re = x as f64 / sa;
            }
            for (v, &x) in z.iter_mut().zip(xb) {
                v.im = x as f64 / sb;
            }
            self.fwd.process_with_scratch(&mut z, &mut scratch);
            // Â[k] = (Z[k] + conj Z[−k]) / 2, B̂[k] = (Z[k] − conj Z[−k]) / 2i; W = conj(Â)·B̂.
            for k in 0..f {
                let (zk, zr) = (z[k], z[(f - k) % f].conj());
                let ah = (zk + zr) * 0.5;
                let bh = (zk - zr) * Complex::new(0.0, -0.5);
                w[k] = ah.conj() * bh;
            }
            self.inv.process_with_scratch(&mut w, &mut scratch);
            let back = sa * sb / f as f64;
            for (t, v) in t.iter_mut().zip(&w) {
                *t += v.re * back;
            }
        }
        t
    }
}
