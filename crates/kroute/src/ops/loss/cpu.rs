//! loss on the CPU. mse, mae, huber, bce and kl_div are two-input sums (`drivers::sum2`): the
//! terms in f32 lanes over 4096-element blocks, block totals in f64, and a block whose f32 total
//! is not finite (or, for squares and products, below 2^-100) summed again with the f64 term —
//! which is the definition (`super::*_term`), so extreme values cost time, never accuracy. The
//! logs are vmath's (bce, kl_div). cross_entropy goes a row at a time with softmax's row max and
//! Σ exp(x − m), each row term lse − x[y] formed in f64.

use super::{bad_target, target_error, C};
use crate::backend::cpu::drivers::{sum2, SumTerms2};
use crate::backend::cpu::{arch, vmath, Cpu, GRAIN};
use crate::ops::common::f32_ok;
use crate::ops::softmax::cpu::{exp_sum, row_max};
use crate::params::Params;
use crate::tensor::Tensor;
use crate::Result;
use pulp::{Simd, WithSimd};
use rayon::prelude::*;

struct Mse;
impl SumTerms2 for Mse {
    const UNDERFLOWS: bool = true;
    fn term(&self, p: f32, t: f32) -> f64 {
        super::mse_term(p, t)
    }
    #[inline(always)]
    fn vector<S: Simd>(&self, s: S, p: S::f32s, t: S::f32s) -> S::f32s {
        let d = s.sub_f32s(p, t);
        s.mul_f32s(d, d)
    }
}

struct Mae;
impl SumTerms2 for Mae {
    const UNDERFLOWS: bool = false;
    fn term(&self, p: f32, t: f32) -> f64 {
        super::mae_term(p, t)
    }
    #[inline(always)]
    fn vector<S: Simd>(&self, s: S, p: S::f32s, t: S::f32s) -> S::f32s {
        s.abs_f32s(s.sub_f32s(p, t))
    }
}

/// δ in f64 for the definition and in f32 (with δ/2) for the lanes.
struct Huber {
    delta: f64,
    d32: f32,
    half: f32,
}
impl SumTerms2 for Huber {
    const UNDERFLOWS: bool = true;
    fn term(&self, p: f32, t: f32) -> f64 {
        super::huber_term(p, t, self.delta)
    }
    #[inline(always)]
    fn vector<S: Simd>(&self, s: S, p: S::f32s, t: S::f32s) -> S::f32s {
        let a = s.abs_f32s(s.sub_f32s(p, t));
        let quad = s.mul_f32s(s.mul_f32s(a, a), s.splat_f32s(0.5));
        let lin = s.mul_f32s(s.splat_f32s(self.d32), s.sub_f32s(a, s.splat_f32s(self.half)));
        // NaN fails the compare and takes the linear branch, which keeps it.
        s.select_f32s(s.less_than_f32s(a, s.splat_f32s(self.d32)), quad, lin)
    }
}

/// max(v, −100) by compare and select: NaN fails the compare and stays.
#[inline(always)]
fn clamp_log<S: Simd>(s: S, v: S::f32s) -> S::f32s {
    let lo = s.splat_f32s(-100.0);
    s.select_f32s(s.less_than_f32s(v, lo), lo, v)
}

/// y·ln p rounds to the subnormal grid where y does (the sweep's 1e-43 scale): blocks summing
/// below 2^-100 are redone in f64.
struct Bce;
impl SumTerms2 for Bce {
    const UNDERFLOWS: bool = true;
    fn term(&self, p: f32, y: f32) -> f64 {
        super::bce_term(p, y)
    }
    #[inline(always)]
    fn vector<S: Simd>(&self, s: S, p: S::f32s, y: S::f32s) -> S::f32s {
        let a = clamp_log(s, vmath::ln(s, p));
        let b = clamp_log(s, vmath::log1p(s, s.neg_f32s(p)));
        let one_minus_y = s.sub_f32s(s.splat_f32s(1.0), y);
        s.neg_f32s(s.mul_add_f32s(y, a, s.mul_f32s(one_minus_y, b)))
    }
}

/// p·(ln p − lq), and −p·lq where p = 0 (xlogy's 0·ln 0 = 0).
struct Kl;
impl SumTerms2 for Kl {
    const UNDERFLOWS: bool = true;
    fn term(&self, lq: f32, p: f32) -> f64 {
        super::kl_term(lq, p)
    }
    #[inline(always)]
    fn vector<S: Simd>(&self, s: S, lq: S::f32s, p: S::f32s) -> S::f32s {
        let t = s.mul_f32s(p, s.sub_f32s(vmath::ln(s, p), lq));
        let zero = s.neg_f32s(s.mul_f32s(p, lq));
        s.select_f32s(s.equal_f32s(p, s.splat_f32s(0.0)), zero, t)
    }
}

/// ℓ = Σ terms / div into the scalar output.
fn mean_of<T: SumTerms2>(cpu: Cpu, t: &T, i: &[&Tensor], o: &mut [Tensor], div: f64) -> Result<()> {
    let total = sum2(cpu, t, i[0].as_f32()?, i[1].as_f32()?);
    o[0].as_f32_mut()?[0] = (total / div) as f32;
    Ok(())
}

pub fn mse(cpu: Cpu, i: &[&Tensor], _: &Params, o: &mut [Tensor]) -> Result<()> {
    mean_of(cpu, &Mse, i, o, i[0].len() as f64)
}

pub fn mae(cpu: Cpu, i: &[&Tensor], _: &Params, o: &mut [Tensor]) -> Result<()> {
    mean_of(cpu, &Mae, i, o, i[0].len() as f64)
}

/// A δ that is not a normal f32 (a subnormal rounds by up to 2^-149 absolute, which every term
/// carries) takes the f64 terms throughout.
pub fn huber(cpu: Cpu, i: &[&Tensor], p: &Params, o: &mut [Tensor]) -> Result<()> {
    let delta = p.get("delta");
    let h = Huber {
        delta,
        d32: delta as f32,
        half: (0.5 * delta) as f32,
    };
    let cpu = if f32_ok(delta) { cpu } else { Cpu::Scalar };
    mean_of(cpu, &h, i, o, i[0].len() as f64)
}

pub fn bce(cpu: Cpu, i: &[&Tensor], _: &Params, o: &mut [Tensor]) -> Result<()> {
    mean_of(cpu, &Bce, i, o, i[0].len() as f64)
}

pub fn kl_div(cpu: Cpu, i: &[&Tensor], _: &Params, o: &mut [Tensor]) -> Result<()> {
    mean_of(cpu, &Kl, i, o, (i[0].len() / C) as f64)
}

// ---- cross_entropy ---------------------------------------------------------------------------

/// lse − x[y] of one row in f64, from the row max m and s = Σ exp(x − m) (a NaN the max may have
/// dropped reaches s).
fn row_term(row: &[f32], target: u64, m: f32, s: f64) -> f64 {
    (m as f64 + s.ln()) - row[target as usize] as f64
}

fn ce_scalar(x: &[f32], y: &[u64]) -> f64 {
    x.chunks_exact(C)
        .zip(y)
        .map(|(row, &c)| {
            let m = row.iter().fold(f32::NEG_INFINITY, |m, &v| m.max(v));
            let s: f64 = row.iter().map(|&v| (v - m).exp() as f64).sum();
            row_term(row, c, m, s)
        })
        .sum()
}

fn ce_simd(x: &[f32], y: &[u64]) -> f64 {
    struct Op<'a>(&'a [f32], &'a [u64]);
    impl WithSimd for Op<'_> {
        type Output = f64;
        #[inline(always)]
        fn with_simd<S: Simd>(self, s: S) -> f64 {
            let Op(x, y) = self;
            // exp_sum's output slot, unused (nothing is stored).
            let mut unused = [0.0f32; C];
            let mut total = 0.0;
            for (row, &c) in x.chunks_exact(C).zip(y) {
                let m = row_max(s, row);
                let e = exp_sum::<S, false>(s, row, m, &mut unused);
                total += row_term(row, c, m, e);
            }
            total
        }
    }
    arch().dispatch(Op(x, y))
}

pub fn cross_entropy(cpu: Cpu, i: &[&Tensor], _: &Params, o: &mut [Tensor]) -> Result<()> {
    let (x, y) = (i[0].as_f32()?, i[1].as_u64()?);
    if let Some((r, v)) = bad_target(y) {
        return Err(target_error(r, v));
    }
    let total = match cpu {
        Cpu::Scalar => ce_scalar(x, y),
        Cpu::Simd => ce_simd(x, y),
        // Runs of whole rows, about one grain of logits each, added in row order.
        Cpu::Parallel if x.len() >= 2 * GRAIN => {
            let per = (GRAIN / C).max(1);
            let parts: Vec<f64> = (0..y.len().div_ceil(per))
                .into_par_iter()
                .map(|k| {
                    let r = k * per..((k + 1) * per).min(y.len());
                    ce_simd(&x[r.start * C..r.end * C], &y[r])
                })
                .collect();
            parts.iter().sum()
        }
        Cpu::Parallel => ce_simd(x, y),
    };
    o[0].as_f32_mut()?[0] = (total / y.len() as f64) as f32;
    Ok(())
}
