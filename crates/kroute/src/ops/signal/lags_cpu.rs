//! autocorrelation and cross_correlation on the CPU: the direct form, blocked.
//!
//! Both are `lag_sums(a, b, k0, nl)[j] = Σ_{n : n + k0 + j < N} a[n]·b[n + k0 + j]` (see
//! `lags.rs`). The samples n are taken in blocks of `BLOCK` (256). Within a block the sum is
//! vectorised over lags: for a tile of up to 8 vectors of lags held in registers, every sample
//! n adds a[n]·b[n + k0 + j … + W] to them (one broadcast, one unaligned load and one fma per
//! vector). Where a sample's lags would read past N (the last nl samples with terms) the block
//! finishes with the same update on exact lengths, accumulating in memory. Each lag's block
//! partial is one f32 chain of at most 256 products, and block partials are added in f64: far
//! from the stagnation of one chain over N at the 0.5 mean, and short enough that the terms
//! a large first product (an outlier x[0] = 1e4, x[0]² = 1e8 with ulp 8) rounds away stay
//! below the tolerance (with chains of 4096 that case lost 2.7e3 where 1e3 is allowed).
//!
//! A lag whose block partial is not finite (an overflowed product or partial, or NaN/inf data)
//! or below 2^-100 (products that may have underflowed) is summed again for that block in f64,
//! the definition's arithmetic: the sweep's values near 1e38 and 1e-40 come out right.
//! `scalar` sums every block in f64; `parallel` splits the blocks over rayon and adds the
//! ranges' f64 totals in range order.

use crate::backend::cpu::drivers::TINY;
use crate::backend::cpu::{arch, Cpu};
use crate::params::Params;
use crate::tensor::Tensor;
use crate::Result;
use pulp::{Simd, WithSimd};
use rayon::prelude::*;

/// Samples per block: the length of a lag's f32 chain.
const BLOCK: usize = 256;

pub fn autocorrelation(cpu: Cpu, i: &[&Tensor], p: &Params, o: &mut [Tensor]) -> Result<()> {
    let x = i[0].as_f32()?;
    let r = lag_sums(cpu, x, x, 0, p.usize("max_lag"));
    for (o, v) in o[0].as_f32_mut()?.iter_mut().zip(r) {
        *o = v as f32;
    }
    Ok(())
}

pub fn cross_correlation(cpu: Cpu, i: &[&Tensor], p: &Params, o: &mut [Tensor]) -> Result<()> {
    let (x, y) = (i[0].as_f32()?, i[1].as_f32()?);
    let l = p.usize("max_lag");
    place_lags(l, lag_sums(cpu, x, y, 0, l + 1), lag_sums(cpu, y, x, 1, l), o[0].as_f32_mut()?);
    Ok(())
}

/// c[L + j] = pos[j] (lags 0 … L), c[L − 1 − j] = neg[j] (lags −1 … −L), rounded to f32.
pub(super) fn place_lags(l: usize, pos: Vec<f64>, neg: Vec<f64>, c: &mut [f32]) {
    for (j, v) in pos.into_iter().enumerate() {
        c[l + j] = v as f32;
    }
    for (j, v) in neg.into_iter().enumerate() {
        c[l - 1 - j] = v as f32;
    }
}

/// Σ_{n : n + k0 + j < N} a[n]·b[n + k0 + j] for j < nl, in f64 (a and b of one length N).
pub fn lag_sums(cpu: Cpu, a: &[f32], b: &[f32], k0: usize, nl: usize) -> Vec<f64> {
    let n = a.len();
    let mut out = vec![0.0f64; nl];
    // Lags k0 + j ≥ N have no terms, samples n ≥ N − k0 none either.
    let live = nl.min(n.saturating_sub(k0));
    let len = n.saturating_sub(k0);
    if live == 0 {
        return out;
    }
    let lags = Lags { a, b, k0, nl: live };
    let totals = match cpu {
        Cpu::Scalar => {
            let mut t = vec![0.0f64; live];
            for s in (0..len).step_by(BLOCK) {
                lags.block_f64(s, (s + BLOCK).min(len), &mut t);
            }
            t
        }
        Cpu::Simd => lags.range_simd(0, len),
        Cpu::Parallel => {
            // Ranges of whole blocks, about four per thread, at least ~2^22 terms each.
            let blocks = len.div_ceil(BLOCK);
            let per_block = (BLOCK * live) as f64;
            let want = ((blocks as f64 * per_block) / (1 << 22) as f64).ceil() as usize;
            let tasks = want.clamp(1, rayon::current_num_threads().max(1) * 4).min(blocks);
            let step = blocks.div_ceil(tasks) * BLOCK;
            let parts: Vec<Vec<f64>> = (0..len.div_ceil(step))
                .into_par_iter()
                .map(|t| lags.range_simd(t * step, ((t + 1) * step).min(len)))
                .collect();
            let mut t = vec![0.0f64; live];
            for p in parts {
                t.iter_mut().zip(p).for_each(|(t, v)| *t += v);
            }
            t
        }
    };
    out[..live].copy_from_slice(&totals);
    out
}

/// One lag-sum problem: nl ≥ 1 lags all of which have terms (k0 + nl ≤ N).
#[derive(Clone, Copy)]
struct Lags<'a> {
    a: &'a [f32],
    b: &'a [f32],
    k0: usize,
    nl: usize,
}

impl Lags<'_> {
    /// The lags' sums over samples [s, e) added to `t` in f64 (lag-vectorised; the products
    /// are exact in f64).
    fn block_f64(&self, s: usize, e: usize, t: &mut [f64]) {
        let n = self.a.len();
        for i in s..e {
            let hi = self.nl.min(n - i - self.k0);
            let ai = self.a[i] as f64;
            let bs = &self.b[i + self.k0..i + self.k0 + hi];
            for (t, &bv) in t[..hi].iter_mut().zip(bs) {
                *t += ai * bv as f64;
            }
        }
    }

    /// Lag j's sum over samples [s, e) in f64 (the redo of one lossy block partial).
    #[cold]
    #[inline(never)]
    fn lag_f64(&self, j: usize, s: usize, e: usize) -> f64 {
        let n = self.a.len();
        let e = e.min(n - self.k0 - j);
        (s..e.max(s))
            .map(|i| self.a[i] as f64 * self.b[i + self.k0 + j] as f64)
            .sum()
    }

    /// The totals over samples [s0, e0) (a multiple of BLOCK apart, or to the end): block
    /// partials in f32 lanes, added in f64.
    fn range_simd(&self, s0: usize, e0: usize) -> Vec<f64> {
        struct Op<'a>(Lags<'a>, usize, usize);
        impl WithSimd for Op<'_> {
            type Output = Vec<f64>;
            #[inline(always)]
            fn with_simd<S: Simd>(self, s: S) -> Vec<f64> {
                let Op(l, s0, e0) = self;
                l.range::<S>(s, s0, e0)
            }
        }
        arch().dispatch(Op(*self, s0, e0))
    }

    #[inline(always)]
    fn range<S: Simd>(&self, s: S, s0: usize, e0: usize) -> Vec<f64> {
        let (a, b, k0, nl, n) = (self.a, self.b, self.k0, self.nl, self.a.len());
        let w = S::F32_LANES;
        let nv = nl.div_ceil(w);
        // Samples below `lim` can read all nv·W lags of the tile without passing N.
        let lim = n.saturating_sub(k0 + nv * w - 1);
        let mut totals = vec![0.0f64; nl];
        let mut p = vec![0.0f32; nv * w];
        let mut bs = s0;
        while bs < e0 {
            let be = (bs + BLOCK).min(e0);
            p.iter_mut().for_each(|v| *v = 0.0);
            let mid = be.min(lim.max(bs));
            if mid > bs {
                let mut v0 = 0;
                while v0 < nv {
                    let left = nv - v0;
                    let t = if left >= 8 { 8 } else if left >= 4 { 4 } else if left >= 2 { 2 } else { 1 };
                    let out = &mut p[v0 * w..(v0 + t) * w];
                    let base = k0 + v0 * w;
                    match t {
                        8 => tile::<S, 8>(s, a, b, base, bs, mid, out),
                        4 => tile::<S, 4>(s, a, b, base, bs, mid, out),
                        2 => tile::<S, 2>(s, a, b, base, bs, mid, out),
                        _ => tile::<S, 1>(s, a, b, base, bs, mid, out),
                    }
                    v0 += t;
                }
            }
            // The last samples: each adds to the lags it has terms for, on exact lengths.
            for i in mid..be {
                let hi = nl.min(n - i - k0);
                axpy(s, a[i], &b[i + k0..i + k0 + hi], &mut p[..hi]);
            }
            for (j, (t, &v)) in totals.iter_mut().zip(&p[..nl]).enumerate() {
                *t += if !v.is_finite() || v.abs() < TINY {
                    self.lag_f64(j, bs, be)
                } else {
                    v as f64
                };
            }
            bs = be;
        }
        totals
    }
}

/// out[t·W … t·W + W] += Σ_{i ∈ [n0, n1)} a[i]·b[i + base + t·W …] for t < T: T vectors of lags
/// in registers over the samples.
#[inline(always)]
#[allow(clippy::too_many_arguments)]
fn tile<S: Simd, const T: usize>(
    s: S,
    a: &[f32],
    b: &[f32],
    base: usize,
    n0: usize,
    n1: usize,
    out: &mut [f32],
) {
    let w = S::F32_LANES;
    assert!(n1 > n0 && n1 - 1 + base + T * w <= b.len() && n1 <= a.len() && out.len() == T * w);
    let mut acc = [s.splat_f32s(0.0); T];
    let bp = b.as_ptr();
    for i in n0..n1 {
        let av = s.splat_f32s(a[i]);
        for (t, acc) in acc.iter_mut().enumerate() {
            // SAFETY: i + base + t·W + W ≤ (n1 − 1) + base + T·W ≤ b.len() (asserted above);
            // S::f32s is a plain array of f32 lanes, read unaligned.
            let bv = unsafe { core::ptr::read_unaligned(bp.add(i + base + t * w) as *const S::f32s) };
            *acc = s.mul_add_f32s(av, bv, *acc);
        }
    }
    let (ov, _) = S::as_mut_simd_f32s(out);
    for (o, acc) in ov.iter_mut().zip(acc) {
        *o = s.add_f32s(*o, acc);
    }
}

/// y += a·x (one sample's update of the lags it has terms for).
#[inline(always)]
fn axpy<S: Simd>(s: S, a: f32, x: &[f32], y: &mut [f32]) {
    let av = s.splat_f32s(a);
    let (xv, xt) = S::as_simd_f32s(x);
    let (yv, yt) = S::as_mut_simd_f32s(y);
    for (y, &x) in yv.iter_mut().zip(xv) {
        *y = s.mul_add_f32s(av, x, *y);
    }
    for (y, &x) in yt.iter_mut().zip(xt) {
        *y += a * x;
    }
}
