//! fused_custom on the CPU: each chain goes through its data once, the pieces borrowed from the
//! domains that own them.
//!
//! - layernorm_dropout_residual: per row (in L1) normalization's two-pass f64 statistics and
//!   f32 affine (`Norm`, `apply`) into y, then y = mask ? fma(y, 1/keep, res) : res over the row.
//! - scan_compact: the scans' chained pass over chunks of 2^16 (count a chunk, take the
//!   inclusive count of the chunks before it, scatter values and indices), no scan array.
//! - adam_clip_update: Σ g² by the reductions' blocked sum (f64 block totals), then per block of
//!   4096 (in L1) the clipped gradient and the optimizers' Adam maps (m, v, then p).
//! - softmax_cross_entropy: per row softmax's row max and Σ exp(x − m) storing the exponentials
//!   in the gradient row, then the row scaled in place by 1/(S·R); the row loss m + ln S − x_t
//!   in f64, added in row order.

use super::{bad_mask, inv_keep, target_error, CE_C, LN_D};
use crate::backend::cpu::drivers::{self, Rows, BLOCK};
use crate::backend::cpu::{arch, Cpu, DisjointOut, GRAIN};
use crate::ops::normalization::cpu::{apply, run_stats, Norm};
use crate::ops::optimizers::cpu::{blocks, route, AdamP, Blend, Scale};
use crate::ops::optimizers::{clip_coef, f32_ok, AdamConsts};
use crate::ops::reductions::cpu::Square;
use crate::ops::scans::cpu::{chained, range, threads, CHUNK};
use crate::ops::softmax::cpu::{exp_sum, row_max};
use crate::params::Params;
use crate::tensor::Tensor;
use crate::Result;
use pulp::{Simd, WithSimd};
use rayon::prelude::*;

// ---- fused_layernorm_dropout_residual --------------------------------------------------------

struct LnRows<'a> {
    x: &'a [f32],
    res: &'a [f32],
    mask: &'a [u8],
    g: &'a [f32],
    b: &'a [f32],
    y: &'a mut [f32],
    eps: f64,
    ik: f32,
}

impl WithSimd for LnRows<'_> {
    type Output = ();
    #[inline(always)]
    fn with_simd<S: Simd>(self, s: S) {
        let rows = self.x.chunks_exact(LN_D).zip(self.res.chunks_exact(LN_D));
        for ((xr, rr), (mr, yr)) in rows.zip(self.mask.chunks_exact(LN_D).zip(self.y.chunks_exact_mut(LN_D))) {
            let (mu, sq) = run_stats::<false>(xr);
            apply::<S, true>(s, &Norm::new(mu, sq, LN_D, self.eps), xr, self.g, self.b, yr);
            // Dropped elements are selected, not multiplied (a NaN row keeps res there).
            let ik = self.ik;
            for ((o, &r), &m) in yr.iter_mut().zip(rr).zip(mr) {
                *o = if m != 0 { o.mul_add(ik, r) } else { r };
            }
        }
    }
}

pub fn layernorm_dropout_residual(cpu: Cpu, i: &[&Tensor], p: &Params, o: &mut [Tensor]) -> Result<()> {
    let (x, res, g, b, mask) = (i[0].as_f32()?, i[1].as_f32()?, i[2].as_f32()?, i[3].as_f32()?, i[4].as_u8()?);
    if let Some(e) = bad_mask(mask) {
        return Err(e);
    }
    let (eps, ik) = (p.get("eps"), inv_keep(p.get("keep")));
    let y = o[0].as_f32_mut()?;
    drivers::rows(cpu, x.len() / LN_D, LN_D, Rows::new(y, LN_D), |cpu, r, y| {
        let span = r.start * LN_D..r.end * LN_D;
        let op = LnRows {
            x: &x[span.clone()],
            res: &res[span.clone()],
            mask: &mask[span],
            g,
            b,
            y: y.data,
            eps,
            ik,
        };
        if cpu == Cpu::Scalar {
            op.with_simd(pulp::Scalar)
        } else {
            arch().dispatch(op)
        }
    });
    Ok(())
}

// ---- fused_scan_compact ----------------------------------------------------------------------

fn kept(x: &[f32], t: f32) -> u64 {
    x.iter().map(|&v| (v > t) as u64).sum()
}

/// Kept words and indices of x[r] into the front of `vals` and `idx`; returns how many.
fn compact_range(x: &[f32], t: f32, r: std::ops::Range<usize>, vals: &mut [u32], idx: &mut [u64]) -> usize {
    let mut j = 0;
    for k in r {
        if x[k] > t {
            vals[j] = x[k].to_bits();
            idx[j] = k as u64;
            j += 1;
        }
    }
    j
}

pub fn scan_compact(cpu: Cpu, i: &[&Tensor], p: &Params, o: &mut [Tensor]) -> Result<()> {
    let x = i[0].as_f32()?;
    let t = p.f32("threshold");
    let (count, rest) = o.split_at_mut(1);
    let (vals, idx) = rest.split_at_mut(1);
    let vals: &mut [u32] = bytemuck::cast_slice_mut(vals[0].as_f32_mut()?);
    let idx = idx[0].as_u64_mut()?;
    let n = x.len();
    count.as_mut()[0].as_u64_mut()?[0] = match cpu {
        Cpu::Scalar => compact_range(x, t, 0..n, vals, idx) as u64,
        Cpu::Simd | Cpu::Parallel => {
            let (vo, io) = (DisjointOut::new(vals), DisjointOut::new(idx));
            chained(
                n.div_ceil(CHUNK),
                threads(cpu, n),
                0u64,
                |c| kept(&x[range(c, n)], t),
                |a, b| a + b,
                |c, offset| {
                    let r = range(c, n);
                    let k = kept(&x[r.clone()], t) as usize;
                    let at = offset as usize;
                    // SAFETY: chunk c alone writes its k kept elements, at its offset.
                    let (dv, di) = unsafe { (vo.slice(at, k), io.slice(at, k)) };
                    compact_range(x, t, r, dv, di);
                    offset + k as u64
                },
            )
        }
    };
    Ok(())
}

// ---- fused_adam_clip_update ------------------------------------------------------------------

pub fn adam_clip_update(cpu: Cpu, i: &[&Tensor], p: &Params, o: &mut [Tensor]) -> Result<()> {
    let [w, g, m, v] = [i[0].as_f32()?, i[1].as_f32()?, i[2].as_f32()?, i[3].as_f32()?];
    // Phase 1: the global norm (the reductions' blocked Σ g², f64 block totals).
    let total = drivers::sum(cpu, &Square, g).sqrt();
    let coef = clip_coef(total, p.get("max_norm"));
    let k = AdamConsts::new(p, false);
    // The f64 bodies where a constant (or the coefficient: NaN, subnormal) is not a normal f32.
    let cpu = route(cpu, k.narrow() && f32_ok(coef));
    let scale = Scale { c: coef as f32, c64: coef };
    let mb = Blend::<false> { a: k.b1, b: k.c1 };
    let vb = Blend::<true> { a: k.b2, b: k.c2 };
    let step = AdamP { k, f: k.f32s() };
    let (po, rest) = o.split_at_mut(1);
    let (mo, rest) = rest.split_at_mut(1);
    let (vo, to) = rest.split_at_mut(1);
    to[0].as_f32_mut()?[0] = total as f32;
    let outs = (
        Rows::new(po[0].as_f32_mut()?, 1),
        (Rows::new(mo[0].as_f32_mut()?, 1), Rows::new(vo[0].as_f32_mut()?, 1)),
    );
    // Phase 2, per block in L1: ĝ = coef·g (not written back), then opt_adam's maps on ĝ.
    blocks(cpu, w.len(), outs, |cpu, r, (po, (mo, vo))| {
        let mut gc = [0.0f32; BLOCK];
        let gc = &mut gc[..r.len()];
        drivers::map1(cpu, &scale, &g[r.clone()], gc);
        drivers::map2(cpu, &mb, &m[r.clone()], gc, mo.data);
        drivers::map2(cpu, &vb, &v[r.clone()], gc, vo.data);
        drivers::map3(cpu, &step, &w[r], mo.data, vo.data, po.data);
    });
    Ok(())
}

// ---- fused_softmax_cross_entropy -------------------------------------------------------------

/// One row: grad row from the row's exponentials, returns the row loss in f64. `e` holds
/// exp(x − m) on entry (s their sum).
fn ce_finish(row: &[f32], c: usize, m: f32, s: f64, inv_r: f64, grad: &mut [f32]) -> f64 {
    let k = (inv_r / s) as f32;
    let et = grad[c] as f64;
    grad.iter_mut().for_each(|e| *e *= k);
    // The target entry in f64: p_t − 1 cancels where p_t ≈ 1.
    grad[c] = ((et / s - 1.0) * inv_r) as f32;
    (m as f64 + s.ln()) - row[c] as f64
}

fn ce_scalar(x: &[f32], t: &[u64], inv_r: f64, grad: &mut [f32]) -> f64 {
    let mut total = 0.0;
    for ((row, &c), gr) in x.chunks_exact(CE_C).zip(t).zip(grad.chunks_exact_mut(CE_C)) {
        let m = row.iter().fold(f32::NEG_INFINITY, |m, &v| m.max(v));
        let mut s = 0.0f64;
        for (o, &v) in gr.iter_mut().zip(row) {
            *o = (v - m).exp();
            s += *o as f64;
        }
        total += ce_finish(row, c as usize, m, s, inv_r, gr);
    }
    total
}

fn ce_simd(x: &[f32], t: &[u64], inv_r: f64, grad: &mut [f32]) -> f64 {
    struct Op<'a>(&'a [f32], &'a [u64], f64, &'a mut [f32]);
    impl WithSimd for Op<'_> {
        type Output = f64;
        #[inline(always)]
        fn with_simd<S: Simd>(self, s: S) -> f64 {
            let Op(x, t, inv_r, grad) = self;
            let mut total = 0.0;
            for ((row, &c), gr) in x.chunks_exact(CE_C).zip(t).zip(grad.chunks_exact_mut(CE_C)) {
                let m = row_max(s, row);
                let e = exp_sum::<S, true>(s, row, m, gr);
                total += ce_finish(row, c as usize, m, e, inv_r, gr);
            }
            total
        }
    }
    arch().dispatch(Op(x, t, inv_r, grad))
}

pub fn softmax_cross_entropy(cpu: Cpu, i: &[&Tensor], _: &Params, o: &mut [Tensor]) -> Result<()> {
    let (x, t) = (i[0].as_f32()?, i[1].as_u64()?);
    if let Some(r) = t.iter().position(|&c| c >= CE_C as u64) {
        return Err(target_error(r, t[r]));
    }
    let inv_r = 1.0 / t.len() as f64;
    let (lo, go) = o.split_at_mut(1);
    let grad = go[0].as_f32_mut()?;
    let total = match cpu {
        Cpu::Scalar => ce_scalar(x, t, inv_r, grad),
        Cpu::Simd => ce_simd(x, t, inv_r, grad),
        // Runs of whole rows, about one grain of logits each, added in row order.
        Cpu::Parallel => {
            let per = (GRAIN / CE_C).max(1);
            let parts: Vec<f64> = grad
                .par_chunks_mut(per * CE_C)
                .enumerate()
                .map(|(k, gr)| {
                    let r = k * per..k * per + gr.len() / CE_C;
                    ce_simd(&x[r.start * CE_C..r.end * CE_C], &t[r], inv_r, gr)
                })
                .collect();
            parts.iter().sum()
        }
    };
    lo[0].as_f32_mut()?[0] = (total * inv_r) as f32;
    Ok(())
}
