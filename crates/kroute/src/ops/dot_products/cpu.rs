//! Row-wise dot products on the CPU: each row's sums run in f32 lanes (a 128-wide row is eight
//! AVX-512 vectors), flushed to f64 every `BLOCK` elements so long rows stay accurate, and done
//! again in f64 lanes where f32 overflowed or underflowed; the parallel backend splits rows.

use crate::backend::cpu::drivers::{self, lanes_sum_by, Rows, BLOCK, TINY};
use crate::backend::cpu::{arch, Cpu};
use crate::params::Params;
use crate::tensor::Tensor;
use crate::Result;
use pulp::{Simd, WithSimd};

/// Σ ab, Σ a², Σ b² of one row (the norms only when `NORMS`).
#[inline(always)]
fn row<S: Simd, const NORMS: bool>(s: S, a: &[f32], b: &[f32]) -> [f64; 3] {
    let mut out = [0.0f64; 3];
    for (ab, bb) in a.chunks(BLOCK).zip(b.chunks(BLOCK)) {
        let (av, at) = S::as_simd_f32s(ab);
        let (bv, bt) = S::as_simd_f32s(bb);
        let z = s.splat_f32s(0.0);
        let (mut d0, mut d1, mut na, mut nb) = (z, z, z, z);
        let (mut ap, mut bp) = (av.chunks_exact(2), bv.chunks_exact(2));
        for (x, y) in (&mut ap).zip(&mut bp) {
            d0 = s.mul_add_f32s(x[0], y[0], d0);
            d1 = s.mul_add_f32s(x[1], y[1], d1);
            if NORMS {
                na = s.mul_add_f32s(x[0], x[0], s.mul_add_f32s(x[1], x[1], na));
                nb = s.mul_add_f32s(y[0], y[0], s.mul_add_f32s(y[1], y[1], nb));
            }
        }
        for (&x, &y) in ap.remainder().iter().zip(bp.remainder()) {
            d0 = s.mul_add_f32s(x, y, d0);
            if NORMS {
                na = s.mul_add_f32s(x, x, na);
                nb = s.mul_add_f32s(y, y, nb);
            }
        }
        let body = av.len() * S::F32_LANES;
        let dot = s.reduce_sum_f32s(s.add_f32s(d0, d1));
        let (sa, sb) = (s.reduce_sum_f32s(na), s.reduce_sum_f32s(nb));
        // An f32 product or partial overflows (rows of 1e19), or underflows where it matters
        // (norms below 2^-100, a dot below it whose terms may be larger): the chunk again in
        // f64 lanes.
        let lossy = if NORMS {
            !(dot.is_finite() && sa.is_finite() && sb.is_finite()) || sa < TINY || sb < TINY
        } else {
            !dot.is_finite() || dot.abs() < TINY
        };
        if lossy {
            let r = row_f64::<NORMS>(&ab[..body], &bb[..body]);
            (0..3).for_each(|k| out[k] += r[k]);
        } else {
            out[0] += dot as f64;
            out[1] += sa as f64;
            out[2] += sb as f64;
        }
        for (&x, &y) in at.iter().zip(bt) {
            out[0] += x as f64 * y as f64;
            out[1] += x as f64 * x as f64;
            out[2] += y as f64 * y as f64;
        }
    }
    out
}

/// Σ ab, Σ a², Σ b² in f64 lanes (products of f32 values are exact in f64). Out of line and
/// cold: it runs only on rows of extreme values, and the hot loop keeps its registers.
#[cold]
#[inline(never)]
fn row_f64<const NORMS: bool>(a: &[f32], b: &[f32]) -> [f64; 3] {
    let sum = |f: fn(f64, f64) -> f64| lanes_sum_by(a.len(), |i| f(a[i] as f64, b[i] as f64));
    if NORMS {
        [sum(|x, y| x * y), sum(|x, _| x * x), sum(|_, y| y * y)]
    } else {
        [sum(|x, y| x * y), 0.0, 0.0]
    }
}

struct RowsOp<'a, const NORMS: bool> {
    a: &'a [f32],
    b: &'a [f32],
    d: usize,
    eps: f32,
    out: &'a mut [f32],
}

impl<const NORMS: bool> WithSimd for RowsOp<'_, NORMS> {
    type Output = ();
    #[inline(always)]
    fn with_simd<S: Simd>(self, s: S) {
        let RowsOp { a, b, d, eps, out } = self;
        for ((o, ra), rb) in out.iter_mut().zip(a.chunks_exact(d)).zip(b.chunks_exact(d)) {
            *o = finish::<NORMS>(row::<S, NORMS>(s, ra, rb), eps);
        }
    }
}

fn finish<const NORMS: bool>(r: [f64; 3], eps: f32) -> f32 {
    if NORMS {
        let eps = eps as f64;
        (r[0] / (r[1].sqrt().max(eps) * r[2].sqrt().max(eps))) as f32
    } else {
        r[0] as f32
    }
}

fn rows<const NORMS: bool>(cpu: Cpu, i: &[&Tensor], p: &Params, o: &mut [Tensor]) -> Result<()> {
    let (a, b, out) = (i[0].as_f32()?, i[1].as_f32()?, o[0].as_f32_mut()?);
    let (d, eps) = (p.usize("d"), if NORMS { p.f32("eps") } else { 0.0 });
    drivers::rows(cpu, out.len(), d, Rows::new(out, 1), |cpu, r, out| {
        let (a, b) = (&a[r.start * d..r.end * d], &b[r.start * d..r.end * d]);
        let out = out.data;
        if cpu == Cpu::Scalar {
            for ((o, ra), rb) in out.iter_mut().zip(a.chunks_exact(d)).zip(b.chunks_exact(d)) {
                let mut r = [0.0f64; 3];
                for (&x, &y) in ra.iter().zip(rb) {
                    r[0] += x as f64 * y as f64;
                    if NORMS {
                        r[1] += x as f64 * x as f64;
                        r[2] += y as f64 * y as f64;
                    }
                }
                *o = finish::<NORMS>(r, eps);
            }
        } else {
            arch().dispatch(RowsOp::<NORMS> { a, b, d, eps, out })
        }
    });
    Ok(())
}

pub fn dot_batched(cpu: Cpu, i: &[&Tensor], p: &Params, o: &mut [Tensor]) -> Result<()> {
    rows::<false>(cpu, i, p, o)
}

pub fn cosine(cpu: Cpu, i: &[&Tensor], p: &Params, o: &mut [Tensor]) -> Result<()> {
    rows::<true>(cpu, i, p, o)
}
