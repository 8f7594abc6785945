//! fused map-reduce on the CPU: one pass, the mapped value never leaves registers.

use crate::backend::cpu::drivers::{lanes_sum_by, par_fold, sum, SumTerms, BLOCK};
use crate::backend::cpu::{arch, lanes, widen_u8, Cpu};
use crate::ops::reductions::cpu::Square;
use crate::params::Params;
use crate::tensor::Tensor;
use crate::{Error, Result};
use pulp::{Simd, WithSimd};

struct Abs;
impl SumTerms for Abs {
    const UNDERFLOWS: bool = false;
    #[inline(always)]
    fn term(&self, x: f32) -> f64 {
        x.abs() as f64
    }
    #[inline(always)]
    fn vector<S: Simd>(&self, s: S, x: S::f32s) -> S::f32s {
        s.abs_f32s(x)
    }
}

pub fn abs_sum(cpu: Cpu, i: &[&Tensor], _: &Params, o: &mut [Tensor]) -> Result<()> {
    o[0].as_f32_mut()?[0] = sum(cpu, &Abs, i[0].as_f32()?) as f32;
    Ok(())
}

pub fn square_sum(cpu: Cpu, i: &[&Tensor], _: &Params, o: &mut [Tensor]) -> Result<()> {
    o[0].as_f32_mut()?[0] = sum(cpu, &Square, i[0].as_f32()?) as f32;
    Ok(())
}

/// (Σ selected x, OR of all mask bytes): the OR finds values other than 0/1 in the same pass.
fn masked_simd(x: &[f32], m: &[u8]) -> (f64, u8) {
    struct Op<'a>(&'a [f32], &'a [u8]);
    impl WithSimd for Op<'_> {
        type Output = (f64, u8);
        #[inline(always)]
        fn with_simd<S: Simd>(self, s: S) -> (f64, u8) {
            let Op(x, m) = self;
            let w = S::F32_LANES;
            let mut total = 0.0f64;
            let mut seen = 0u8;
            let zero = s.splat_f32s(0.0);
            let one = s.splat_u32s(1);
            for (xb, mb) in x.chunks(BLOCK).zip(m.chunks(BLOCK)) {
                // Validation from L1: an OR over the block's mask bytes (vectorised).
                seen |= mb.iter().fold(0u8, |a, &b| a | b);
                let (xv, xt) = S::as_simd_f32s(xb);
                let (mut acc0, mut acc1) = (zero, zero);
                let mut pairs = xv.chunks_exact(2).zip(mb.chunks_exact(2 * w));
                for (a, mk) in &mut pairs {
                    acc0 = s.add_f32s(
                        acc0,
                        s.select_f32s(s.equal_u32s(widen_u8::<S>(&mk[..w]), one), a[0], zero),
                    );
                    acc1 = s.add_f32s(
                        acc1,
                        s.select_f32s(s.equal_u32s(widen_u8::<S>(&mk[w..]), one), a[1], zero),
                    );
                }
                let done = xv.len() / 2 * 2;
                for (a, mk) in xv[done..].iter().zip(mb[done * w..].chunks_exact(w)) {
                    acc0 = s.add_f32s(
                        acc0,
                        s.select_f32s(s.equal_u32s(widen_u8::<S>(mk), one), *a, zero),
                    );
                }
                let b = s.reduce_sum_f32s(s.add_f32s(acc0, acc1));
                let body = xv.len() * w;
                total += if b.is_finite() {
                    b as f64
                } else {
                    // Overflowed in f32 (or met inf/NaN): the block again in f64 lanes.
                    masked_f64(&xb[..body], &mb[..body])
                };
                for (&a, &b) in xt.iter().zip(&mb[body..]) {
                    if b == 1 {
                        total += a as f64;
                    }
                }
            }
            (total, seen)
        }
    }
    arch().dispatch(Op(x, m))
}

/// Σ x·[m = 1] in f64 lanes; out of line and cold (blocks of extreme values only).
#[cold]
#[inline(never)]
fn masked_f64(x: &[f32], m: &[u8]) -> f64 {
    lanes_sum_by(x.len(), |i| if m[i] == 1 { x[i] as f64 } else { 0.0 })
}

pub fn masked_sum(cpu: Cpu, i: &[&Tensor], _: &Params, o: &mut [Tensor]) -> Result<()> {
    let (x, m) = (i[0].as_f32()?, i[1].as_u8()?);
    let (total, seen) = match cpu {
        Cpu::Scalar => x.iter().zip(m).fold((0.0f64, 0u8), |(t, s), (&x, &m)| {
            (if m == 1 { t + x as f64 } else { t }, s | m)
        }),
        Cpu::Simd => masked_simd(x, m),
        Cpu::Parallel => par_fold(
            x.len(),
            |r| masked_simd(&x[r.clone()], &m[r]),
            (0.0, 0),
            |a, b| (a.0 + b.0, a.1 | b.1),
        ),
    };
    if seen & !1 != 0 {
        let (k, v) = m
            .iter()
            .enumerate()
            .find(|(_, &v)| v > 1)
            .map_or((0, seen), |(k, &v)| (k, v));
        return Err(Error::Value(format!(
            "map_reduce_masked_sum: mask values must be 0 or 1, found {v} at index {k}"
        )));
    }
    o[0].as_f32_mut()?[0] = total as f32;
    Ok(())
}

fn count_simd(x: &[f32], t: f32) -> u64 {
    struct Op<'a>(&'a [f32], f32);
    impl WithSimd for Op<'_> {
        type Output = u64;
        #[inline(always)]
        fn with_simd<S: Simd>(self, s: S) -> u64 {
            let Op(x, t) = self;
            let tv = s.splat_f32s(t);
            let (one, zero) = (s.splat_u32s(1), s.splat_u32s(0));
            let mut total = 0u64;
            for block in x.chunks(BLOCK) {
                let (v, tail) = S::as_simd_f32s(block);
                let mut acc = zero;
                for &a in v {
                    acc = s.add_u32s(acc, s.select_u32s(s.greater_than_f32s(a, tv), one, zero));
                }
                total += lanes::<_, u32>(&acc).iter().map(|&c| c as u64).sum::<u64>();
                total += tail.iter().filter(|&&a| a > t).count() as u64;
            }
            total
        }
    }
    arch().dispatch(Op(x, t))
}

pub fn threshold_count(cpu: Cpu, i: &[&Tensor], p: &Params, o: &mut [Tensor]) -> Result<()> {
    let (x, t) = (i[0].as_f32()?, p.f32("t"));
    o[0].as_u64_mut()?[0] = match cpu {
        Cpu::Scalar => x.iter().filter(|&&v| v > t).count() as u64,
        Cpu::Simd => count_simd(x, t),
        Cpu::Parallel => par_fold(x.len(), |r| count_simd(&x[r], t), 0, |a, b| a + b),
    };
    Ok(())
}
