//! fused_custom on the CPU: each chain goes through its data once, the pieces borrowed from the
//! domains that own them.
//!
//! - layernorm_dropout_residual: per row (in L1) normalization's two-pass f64 statistics and
//!   f32 affine (`Norm`, `apply`) into y, then y = mask ? fma(y, 1/keep, res) : res over the row.
//! - scan_compact: the scans' chained pass over chunks of 2^16 (count a chunk, take the
//!   inclusive count of the chunks before it, scatter values and indices: AVX-512 compress
//!   of 16 at a time, else branch-free), no scan array.
//! - adam_clip_update: Σ g² by the reductions' blocked sum (f64 block totals), then per block of
//!   4096 (in L1) the clipped gradient and the optimizers' Adam maps (m, v, then p).
//! - softmax_cross_entropy: per row softmax's row max and Σ exp(x − m) storing the exponentials
//!   in the gradient row, then the row scaled in place by 1/(S·R); the row loss m + ln S − x_t
//!   in f64, added in row order.
//! - attention_softmax_v and rope_attention_mask: a query row at a time, its scores (given, or
//!   Q'_i·K'_j/√D for j ≤ i from the head's rotated rows) in a row buffer, softmax's row max and
//!   Σ exp(s − m) (exponentials kept), then out_i = (Σ_j e_j V_j)/S as f32 axpys over V rows
//!   (the head's V, 256 KiB, stays in L2). P is never written. Parallel: heads (rows) over the
//!   pool. The scalar backend runs the same bodies on pulp's one-lane type.

use super::{bad_mask, inv_keep, rope_tables, target_error, AT_D, AT_S, CE_C, LN_D};
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
            let rstd = 1.0 / (sq / LN_D as f64 + self.eps).sqrt();
            for (j, ((o, &r), &m)) in yr.iter_mut().zip(rr).zip(mr).enumerate() {
                if m == 0 {
                    *o = r;
                    continue;
                }
                let y = o.mul_add(ik, r);
                // γ x̂ + β or the sum left the f32 range on the way: the element in f64.
                *o = if y.is_finite() {
                    y
                } else {
                    let gx = self.g[j] as f64 * ((xr[j] as f64 - mu) * rstd) + self.b[j] as f64;
                    (r as f64 + ik as f64 * gx) as f32
                };
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

/// Kept words and indices of x[r] into the front of `vals` and `idx`, one branch each; returns
/// how many.
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

/// `compact_range` without a data-dependent branch: at half kept (the workload) the branch
/// mispredicts every other element, ~25 ms at 10^7 on the dev machine against numpy's 10.5.
/// AVX-512 compresses 16 at a time; elsewhere each element is written at the next free slot
/// and the slot advances only when it is kept (the guard is false only past the last kept).
fn compact_range_fast(x: &[f32], t: f32, r: std::ops::Range<usize>, vals: &mut [u32], idx: &mut [u64]) -> usize {
    #[cfg(target_arch = "x86_64")]
    if crate::ops::scans::cpu::avx512_available() {
        // SAFETY: the features were detected at run time.
        return unsafe { avx512::compact(x, t, r, vals, idx) };
    }
    let cap = vals.len();
    let mut j = 0;
    for k in r {
        let v = x[k];
        if j < cap {
            vals[j] = v.to_bits();
            idx[j] = k as u64;
        }
        j += usize::from(v > t);
    }
    j
}

#[cfg(target_arch = "x86_64")]
mod avx512 {
    use std::arch::x86_64::*;

    /// 16 elements per step: the ordered x > t mask (NaN never kept), `vpcompressd` of the
    /// values and two `vpcompressq` of the indices, stores masked to the kept count (never past
    /// it: the next chunk owns what follows).
    #[target_feature(enable = "avx512f,avx512bw,avx512vl")]
    pub unsafe fn compact(
        x: &[f32],
        t: f32,
        r: std::ops::Range<usize>,
        vals: &mut [u32],
        idx: &mut [u64],
    ) -> usize {
        let mut j = 0usize;
        let mut i = r.start;
        let tv = _mm512_set1_ps(t);
        let lanes = _mm512_set_epi64(7, 6, 5, 4, 3, 2, 1, 0);
        while i + 16 <= r.end {
            let v = _mm512_loadu_ps(x.as_ptr().add(i));
            let m: u16 = _mm512_cmp_ps_mask::<_CMP_GT_OQ>(v, tv);
            let k = m.count_ones() as usize;
            debug_assert!(j + k <= vals.len() && j + k <= idx.len());
            let packed = _mm512_maskz_compress_epi32(m, _mm512_castps_si512(v));
            _mm512_mask_storeu_epi32(vals.as_mut_ptr().add(j) as *mut _, ((1u32 << k) - 1) as u16, packed);
            let (lo, hi) = ((m & 0xFF) as u8, (m >> 8) as u8);
            let base = _mm512_add_epi64(_mm512_set1_epi64(i as i64), lanes);
            let (kl, kh) = (lo.count_ones() as usize, hi.count_ones() as usize);
            let il = _mm512_maskz_compress_epi64(lo, base);
            _mm512_mask_storeu_epi64(idx.as_mut_ptr().add(j) as *mut _, ((1u16 << kl) - 1) as u8, il);
            let ih = _mm512_maskz_compress_epi64(hi, _mm512_add_epi64(base, _mm512_set1_epi64(8)));
            _mm512_mask_storeu_epi64(idx.as_mut_ptr().add(j + kl) as *mut _, ((1u16 << kh) - 1) as u8, ih);
            j += k;
            i += 16;
        }
        j + super::compact_range(x, t, i..r.end, &mut vals[j..], &mut idx[j..])
    }
}

pub fn scan_compact(cpu: Cpu, i: &[&Tensor], p: &Params, o: &mut [Tensor]) -> Result<()> {
    let x = i[0].as_f32()?;
    let t = p.f32("threshold");
    let (count, rest) = o.split_at_mut(1);
    let (vals, idx) = rest.split_at_mut(1);
    let vals: &mut [u32] = bytemuck::cast_slice_mut(vals[0].as_f32_mut()?);
    let idx = idx[0].as_u64_mut()?;
    let n = x.len();
    count[0].as_u64_mut()?[0] = match cpu {
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
                    compact_range_fast(x, t, r, dv, di);
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

// ---- fused_attention_softmax_v, fused_rope_attention_mask ------------------------------------

/// Σ a_k b_k in f32 lanes (fused multiply-adds).
#[inline(always)]
fn dot<S: Simd>(s: S, a: &[f32], b: &[f32]) -> f32 {
    if S::F32_LANES == 1 {
        // The scalar backend: plain products and adds (a one-lane fma would be a libm call).
        return a.iter().zip(b).map(|(x, y)| x * y).sum();
    }
    let (av, at) = S::as_simd_f32s(a);
    let (bv, bt) = S::as_simd_f32s(b);
    let (mut a0, mut a1) = (s.splat_f32s(0.0), s.splat_f32s(0.0));
    let mut pairs = av.chunks_exact(2).zip(bv.chunks_exact(2));
    for (x, y) in &mut pairs {
        a0 = s.mul_add_f32s(x[0], y[0], a0);
        a1 = s.mul_add_f32s(x[1], y[1], a1);
    }
    if av.len() % 2 == 1 {
        a0 = s.mul_add_f32s(av[av.len() - 1], bv[bv.len() - 1], a0);
    }
    let mut t = s.reduce_sum_f32s(s.add_f32s(a0, a1));
    for (&x, &y) in at.iter().zip(bt) {
        t = x.mul_add(y, t);
    }
    t
}

/// y += a·x.
#[inline(always)]
fn axpy<S: Simd>(s: S, a: f32, x: &[f32], y: &mut [f32]) {
    if S::F32_LANES == 1 {
        y.iter_mut().zip(x).for_each(|(o, &v)| *o += a * v);
        return;
    }
    let (xv, xt) = S::as_simd_f32s(x);
    let (yv, yt) = S::as_mut_simd_f32s(y);
    let av = s.splat_f32s(a);
    for (o, &v) in yv.iter_mut().zip(xv) {
        *o = s.mul_add_f32s(av, v, *o);
    }
    for (o, &v) in yt.iter_mut().zip(xt) {
        *o = a.mul_add(v, *o);
    }
}

/// out = Σ_j softmax(scores)_j V_j over the given scores (keys 0 … len − 1); `e` is a row buffer.
#[inline(always)]
fn softmax_v_row<S: Simd>(s: S, scores: &[f32], v: &[f32], e: &mut [f32], out: &mut [f32]) {
    let e = &mut e[..scores.len()];
    let m = row_max(s, scores);
    // A NaN the max dropped, or m = ±inf, reaches every output through Σ e.
    let total = exp_sum::<S, true>(s, scores, m, e);
    out.fill(0.0);
    for (j, &w) in e.iter().enumerate() {
        axpy(s, w, &v[j * AT_D..(j + 1) * AT_D], out);
    }
    let k = (1.0 / total) as f32;
    out.iter_mut().for_each(|o| *o *= k);
}

/// The backend's body: pulp's one-lane type for scalar, the dispatched SIMD otherwise.
fn run_simd<F: WithSimd<Output = ()>>(cpu: Cpu, op: F) {
    if cpu == Cpu::Scalar {
        op.with_simd(pulp::Scalar)
    } else {
        arch().dispatch(op)
    }
}

pub fn attention_softmax_v(cpu: Cpu, i: &[&Tensor], _: &Params, o: &mut [Tensor]) -> Result<()> {
    let (sc, v) = (i[0].as_f32()?, i[1].as_f32()?);
    let out = o[0].as_f32_mut()?;
    struct Op<'a> {
        sc: &'a [f32],
        v: &'a [f32],
        first: usize,
        out: &'a mut [f32],
    }
    impl WithSimd for Op<'_> {
        type Output = ();
        #[inline(always)]
        fn with_simd<S: Simd>(self, s: S) {
            let mut e = [0.0f32; AT_S];
            let mut wide = Vec::new();
            let mut head = (usize::MAX, false);
            for (k, (row, out)) in self.sc.chunks_exact(AT_S).zip(self.out.chunks_exact_mut(AT_D)).enumerate() {
                let h = (self.first + k) / AT_S;
                let v = &self.v[h * AT_S * AT_D..(h + 1) * AT_S * AT_D];
                // V near the ends of the f32 range (products below the normal range lose bits;
                // Σ e_j V_j can overflow): the head's rows in f64, rounded once. Checked once a head.
                if head.0 != h {
                    let big = v.iter().fold(0.0f32, |a, &x| a.max(x.abs()));
                    head = (h, !(1e-30..=1e30).contains(&big));
                }
                if head.1 {
                    let s64: Vec<f64> = row.iter().map(|&x| x as f64).collect();
                    let v64: Vec<f64> = v.iter().map(|&x| x as f64).collect();
                    wide.clear();
                    super::softmax_v_row(&s64, &v64, &mut wide);
                    out.iter_mut().zip(&wide).for_each(|(o, &w)| *o = w as f32);
                    continue;
                }
                softmax_v_row(s, row, v, &mut e, out);
            }
        }
    }
    // Rows of the output (one query row each); a parallel task takes runs of whole rows.
    drivers::rows(cpu, sc.len() / AT_S, AT_D, Rows::new(out, AT_D), |cpu, r, out| {
        let op = Op {
            sc: &sc[r.start * AT_S..r.end * AT_S],
            v,
            first: r.start,
            out: out.data,
        };
        run_simd(cpu, op)
    });
    Ok(())
}

/// Rotate one head's rows (half-split pairs, position = row) with the f32 tables, into `out`.
fn rotate(u: &[f32], cos: &[f32], sin: &[f32], out: &mut [f32]) {
    let half = AT_D / 2;
    for (p, (row, o)) in u.chunks_exact(AT_D).zip(out.chunks_exact_mut(AT_D)).enumerate() {
        let (c, s) = (&cos[p * half..(p + 1) * half], &sin[p * half..(p + 1) * half]);
        for d in 0..half {
            let (a, b) = (row[d], row[d + half]);
            o[d] = a * c[d] - b * s[d];
            o[d + half] = a * s[d] + b * c[d];
        }
    }
}

pub fn rope_attention_mask(cpu: Cpu, i: &[&Tensor], p: &Params, o: &mut [Tensor]) -> Result<()> {
    let (q, k, v) = (i[0].as_f32()?, i[1].as_f32()?, i[2].as_f32()?);
    let (cos, sin) = rope_tables(p.get("rope_base"));
    let scale = (1.0 / (AT_D as f64).sqrt()) as f32;
    let out = o[0].as_f32_mut()?;
    const HEAD: usize = AT_S * AT_D;
    struct Op<'a> {
        q: &'a [f32],
        k: &'a [f32],
        v: &'a [f32],
        cos: &'a [f32],
        sin: &'a [f32],
        scale: f32,
        base: f64,
        out: &'a mut [f32],
    }
    impl WithSimd for Op<'_> {
        type Output = ();
        #[inline(always)]
        fn with_simd<S: Simd>(self, s: S) {
            let (mut qr, mut kr) = (vec![0.0f32; HEAD], vec![0.0f32; HEAD]);
            let (mut sc, mut e) = ([0.0f32; AT_S], [0.0f32; AT_S]);
            for (h, out) in self.out.chunks_exact_mut(HEAD).enumerate() {
                let at = h * HEAD..(h + 1) * HEAD;
                // A head near the ends of the f32 range (products below the normal range lose
                // bits, sums can overflow) in f64, rounded once.
                let big = |x: &[f32]| x.iter().fold(0.0f32, |a, &e| a.max(e.abs()));
                let (bq, bk, bv) = (big(&self.q[at.clone()]), big(&self.k[at.clone()]), big(&self.v[at.clone()]));
                if !(1e-15..=1e15).contains(&bq) || !(1e-15..=1e15).contains(&bk) || !(1e-30..=1e30).contains(&bv) {
                    let f = |x: &[f32]| x.iter().map(|&e| e as f64).collect::<Vec<f64>>();
                    let w = super::rope_f64(&f(&self.q[at.clone()]), &f(&self.k[at.clone()]), &f(&self.v[at]), self.base);
                    out.iter_mut().zip(&w).for_each(|(o, &x)| *o = x as f32);
                    continue;
                }
                rotate(&self.q[at.clone()], self.cos, self.sin, &mut qr);
                rotate(&self.k[at.clone()], self.cos, self.sin, &mut kr);
                let vh = &self.v[at];
                for (i, (qi, oi)) in qr.chunks_exact(AT_D).zip(out.chunks_exact_mut(AT_D)).enumerate() {
                    // Keys j ≤ i only: masked pairs are skipped, never multiplied by 0.
                    for (j, o) in sc[..=i].iter_mut().enumerate() {
                        *o = dot(s, qi, &kr[j * AT_D..(j + 1) * AT_D]) * self.scale;
                    }
                    softmax_v_row(s, &sc[..=i], vh, &mut e, oi);
                }
            }
        }
    }
    // Heads over the pool (one head is 2^16 elements: one grain).
    drivers::rows(cpu, q.len() / HEAD, HEAD, Rows::new(out, HEAD), |cpu, r, out| {
        let at = r.start * HEAD..r.end * HEAD;
        let op = Op {
            q: &q[at.clone()],
            k: &k[at.clone()],
            v: &v[at],
            cos: &cos,
            sin: &sin,
            scale,
            base: p.get("rope_base"),
            out: out.data,
        };
        run_simd(cpu, op)
    });
    Ok(())
}
