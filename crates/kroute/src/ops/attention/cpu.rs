//! attention on the CPU.
//!
//! Attention (sdpa and flash share one body): per (b, h) and block of `QB` query rows, the
//! scores against a block of keys come from a register-tiled f32 FMA micro-kernel (MR query rows
//! × NR vectors of keys, over d = 0…127 against K transposed once per call, so the keys are the
//! vector lanes), are scaled, masked (causal, and the padding past S), and go through the online
//! softmax: the row max m, the normaliser ℓ (each block's Σp added in f64) and the accumulator
//! rescaled by exp(m_old − m_new) when the max grows. P·V is a second micro-kernel (MR rows × NR
//! vectors of d). sdpa takes all keys in one block (it materialises one row block of scores at a
//! time), flash walks them in blocks of `KB`. A key block whose rows are all masked cannot occur
//! (KB is a multiple of QB, so every processed key block starts at or before its first query
//! row), and a row whose running max is −inf subtracts 0 instead, so exp(−inf − −inf) never
//! makes a NaN. Scalar, simd and parallel run the same body (pulp's one-lane type for scalar;
//! parallel splits (b, h, query block) over the pool).
//!
//! Inputs whose f32 scores or sums could overflow, or whose V is so small that its products
//! fall among the denormals (the sweep's 1e20 and 1e-40 scalings), take the f64 path (the
//! reference's own per-head routine, rounded once).
//!
//! rope_apply: a cos/sin table [4096 × 64] built in f64 (per base, cached) and an f32 fma per
//! output; alibi_bias: per row (h, i) the kept part x − m_h·(i − j) in one fma, the masked part
//! x + (−inf), so NaN and +inf there still give NaN.

use super::{attend_head_f64, attention_dims, alibi_slope, rope_angle, Dims, D, H, ROPE_PERIOD};
use crate::backend::cpu::drivers::{self, Rows};
use crate::backend::cpu::{arch, Cpu};
use crate::backend::cpu::vmath;
use crate::params::Params;
use crate::tensor::Tensor;
use crate::Result;
use pulp::{Simd, WithSimd};
use rayon::prelude::*;
use std::sync::{Arc, Mutex};

/// Query rows per block (a parallel task, and the rows one pass over a key block serves).
const QB: usize = 64;
/// Keys per block for flash (a multiple of QB).
const KB: usize = 256;
/// Query rows per micro-tile.
const MR: usize = 4;
/// Vectors per micro-tile (keys for the scores, d for P·V).
const NR: usize = 2;

#[inline(always)]
fn ld<S: Simd>(x: &[f32], at: usize) -> S::f32s {
    bytemuck::pod_read_unaligned(bytemuck::cast_slice(&x[at..at + S::F32_LANES]))
}

#[inline(always)]
fn st<S: Simd>(x: &mut [f32], at: usize, v: S::f32s) {
    x[at..at + S::F32_LANES].copy_from_slice(bytemuck::cast_slice(std::slice::from_ref(&v)));
}

/// Whether f32 evaluation is safe: no score or accumulator can overflow, and V is not so small
/// that its products with the weights lose their precision to denormals. Non-finite values are
/// left to IEEE arithmetic (they behave alike in f32 and f64).
fn f32_safe(q: &[f32], k: &[f32], v: &[f32], s: usize) -> bool {
    let amax = |x: &[f32]| -> f64 {
        x.iter()
            .filter(|v| v.is_finite())
            .fold(0.0f32, |m, &v| m.max(v.abs())) as f64
    };
    let (aq, ak, av) = (amax(q), amax(k), amax(v));
    aq * ak * (D as f64) < 1e36 && av * (s.max(1) as f64) < 1e36 && (av == 0.0 || av > 1e-30)
}

/// One (b, h) block of query rows [i0, i0 + rows): what the micro-kernels read and where O goes.
struct Block<'a> {
    /// Q rows of this block (rows × D).
    q: &'a [f32],
    /// K transposed for this kv head: D rows of `sp` keys (zero past S).
    kt: &'a [f32],
    sp: usize,
    /// V of this kv head (S × D).
    v: &'a [f32],
    o: &'a mut [f32],
    i0: usize,
    s: usize,
    kb: usize,
    causal: bool,
    scalar: bool,
}

impl WithSimd for Block<'_> {
    type Output = ();
    #[inline(always)]
    fn with_simd<S: Simd>(self, s: S) {
        let Block { q, kt, sp, v, o, i0, s: seq, kb, causal, scalar } = self;
        let l = S::F32_LANES;
        let nrl = NR * l;
        let rows = q.len() / D;
        // Keys this block reads: all, or (causal) up to its last row.
        let kend = if causal { (i0 + rows).min(seq) } else { seq };
        let kbw = kb.min(kend.div_ceil(nrl) * nrl).max(nrl);
        let mut sc = vec![0.0f32; rows * kbw];
        let mut acc = vec![0.0f32; rows * D];
        let mut m = vec![f32::NEG_INFINITY; rows];
        let mut ell = vec![0.0f64; rows];
        let scale = s.splat_f32s((1.0 / (D as f64).sqrt()) as f32);
        let mut j0 = 0;
        while j0 < kend {
            let jn = kb.min(kend - j0);
            let jw = jn.div_ceil(nrl) * nrl;
            // Scores: panel of nrl keys outer (it stays in L1), MR rows inner.
            for jp in (0..jw).step_by(nrl) {
                for r0 in (0..rows).step_by(MR) {
                    let mut t = [[s.splat_f32s(0.0); NR]; MR];
                    // Rows past the block's end repeat its last row (computed, not stored).
                    let ri: [usize; MR] = std::array::from_fn(|r| (r0 + r).min(rows - 1) * D);
                    for d in 0..D {
                        let at = d * sp + j0 + jp;
                        let kv: [S::f32s; NR] = std::array::from_fn(|c| ld::<S>(kt, at + c * l));
                        for r in 0..MR {
                            let qv = s.splat_f32s(q[ri[r] + d]);
                            for c in 0..NR {
                                t[r][c] = s.mul_add_e_f32s(qv, kv[c], t[r][c]);
                            }
                        }
                    }
                    for (r, tr) in t.iter().enumerate().take(rows - r0) {
                        for (c, &tc) in tr.iter().enumerate() {
                            st::<S>(&mut sc, (r0 + r) * kbw + jp + c * l, s.mul_f32s(tc, scale));
                        }
                    }
                }
            }
            // Mask, online softmax statistics, rescale.
            for r in 0..rows {
                let i = i0 + r;
                let valid = if causal { jn.min((i + 1).saturating_sub(j0)) } else { jn };
                let row = &mut sc[r * kbw..r * kbw + jw];
                row[valid..].fill(f32::NEG_INFINITY);
                let mut mx = s.splat_f32s(f32::NEG_INFINITY);
                for c in (0..jw).step_by(l) {
                    mx = s.max_f32s(mx, ld::<S>(row, c));
                }
                let mx = s.reduce_max_f32s(mx);
                let m_old = m[r];
                let m_new = if mx > m_old { mx } else { m_old };
                // A row that has seen only −inf so far subtracts 0: exp(−inf) = 0, no NaN.
                let msub = if m_new == f32::NEG_INFINITY { 0.0 } else { m_new };
                let mut sum = s.splat_f32s(0.0);
                if scalar {
                    for x in row.iter_mut() {
                        *x = (*x - msub).exp();
                    }
                    sum = s.splat_f32s(row.iter().sum());
                } else {
                    let ms = s.splat_f32s(msub);
                    for c in (0..jw).step_by(l) {
                        let e = vmath::exp(s, s.sub_f32s(ld::<S>(row, c), ms));
                        st::<S>(row, c, e);
                        sum = s.add_f32s(sum, e);
                    }
                }
                let alpha = (m_old - msub).exp();
                if alpha != 1.0 {
                    let a = &mut acc[r * D..(r + 1) * D];
                    a.iter_mut().for_each(|x| *x *= alpha);
                    ell[r] *= alpha as f64;
                }
                ell[r] += s.reduce_sum_f32s(sum) as f64;
                m[r] = m_new;
            }
            // acc += P · V over the block's keys (masked weights are 0).
            for dc in (0..D).step_by(nrl) {
                for r0 in (0..rows).step_by(MR) {
                    let ri: [usize; MR] = std::array::from_fn(|r| (r0 + r).min(rows - 1));
                    let mut t: [[S::f32s; NR]; MR] =
                        std::array::from_fn(|r| std::array::from_fn(|c| ld::<S>(&acc, ri[r] * D + dc + c * l)));
                    for j in 0..jn {
                        let vrow = (j0 + j) * D + dc;
                        let vv: [S::f32s; NR] = std::array::from_fn(|c| ld::<S>(v, vrow + c * l));
                        for r in 0..MR {
                            let p = s.splat_f32s(sc[ri[r] * kbw + j]);
                            for c in 0..NR {
                                t[r][c] = s.mul_add_e_f32s(p, vv[c], t[r][c]);
                            }
                        }
                    }
                    for (r, tr) in t.iter().enumerate().take(rows - r0) {
                        for (c, &tc) in tr.iter().enumerate() {
                            st::<S>(&mut acc, (r0 + r) * D + dc + c * l, tc);
                        }
                    }
                }
            }
            j0 += jn;
        }
        for r in 0..rows {
            let inv = (1.0 / ell[r]) as f32;
            for (od, &ad) in o[r * D..(r + 1) * D].iter_mut().zip(&acc[r * D..(r + 1) * D]) {
                // 1/ℓ rounds to f32 first; ℓ = 0 (a row of −inf or NaN scores) gives NaN as the
                // reference's 0/0 does.
                *od = if ell[r] == 0.0 || ell[r].is_nan() { ad / ell[r] as f32 } else { ad * inv };
            }
        }
    }
}

/// K of every (b, kv head) transposed to D rows of `sp` keys, zero past S.
fn transpose_k(cpu: Cpu, k: &[f32], s: usize, sp: usize) -> Vec<f32> {
    let heads = k.len() / (s * D).max(1);
    let mut kt = vec![0.0f32; heads * D * sp];
    let one = |(src, dst): (&[f32], &mut [f32])| {
        for (j, row) in src.chunks_exact(D).enumerate() {
            for (d, &x) in row.iter().enumerate() {
                dst[d * sp + j] = x;
            }
        }
    };
    if s == 0 || heads == 0 {
        return kt;
    }
    if cpu == Cpu::Parallel {
        k.par_chunks(s * D).zip(kt.par_chunks_mut(D * sp)).for_each(one);
    } else {
        k.chunks(s * D).zip(kt.chunks_mut(D * sp)).for_each(one);
    }
    kt
}

fn attention(cpu: Cpu, name: &str, i: &[&Tensor], p: &Params, o: &mut [Tensor], kb: Option<usize>) -> Result<()> {
    let dims = attention_dims(name, i, p)?;
    let (q, k, v) = (i[0].as_f32()?, i[1].as_f32()?, i[2].as_f32()?);
    let out = o[0].as_f32_mut()?;
    let Dims { b, s, kv, causal } = dims;
    if b == 0 || s == 0 {
        return Ok(());
    }
    let head = s * D;
    let kv_of = |bh: usize| (bh / H) * kv + dims.group(bh % H);
    if !f32_safe(q, k, v, s) {
        let wide = |(bh, oh): (usize, &mut [f32])| {
            let g = kv_of(bh);
            let r = attend_head_f64(&q[bh * head..(bh + 1) * head], &k[g * head..(g + 1) * head], &v[g * head..(g + 1) * head], s, causal);
            oh.iter_mut().zip(r).for_each(|(y, x)| *y = x as f32);
        };
        if cpu == Cpu::Parallel {
            out.par_chunks_mut(head).enumerate().for_each(wide);
        } else {
            out.chunks_mut(head).enumerate().for_each(wide);
        }
        return Ok(());
    }
    // Keys padded to a multiple of the widest micro-tile (2 × 16 lanes).
    let sp = s.div_ceil(32) * 32;
    let kt = transpose_k(cpu, k, s, sp);
    let kb = kb.unwrap_or(sp).max(QB);
    let block = |bh: usize, qb: usize, ob: &mut [f32]| {
        let g = kv_of(bh);
        let i0 = qb * QB;
        let rows = ob.len() / D;
        let blk = Block {
            q: &q[bh * head + i0 * D..bh * head + (i0 + rows) * D],
            kt: &kt[g * D * sp..(g + 1) * D * sp],
            sp,
            v: &v[g * head..(g + 1) * head],
            o: ob,
            i0,
            s,
            kb,
            causal,
            scalar: cpu == Cpu::Scalar,
        };
        if cpu == Cpu::Scalar {
            blk.with_simd(pulp::Scalar)
        } else {
            arch().dispatch(blk)
        }
    };
    if cpu == Cpu::Parallel {
        out.par_chunks_mut(head).enumerate().for_each(|(bh, oh)| {
            oh.par_chunks_mut(QB * D).enumerate().for_each(|(qb, ob)| block(bh, qb, ob))
        });
    } else {
        for (bh, oh) in out.chunks_mut(head).enumerate() {
            for (qb, ob) in oh.chunks_mut(QB * D).enumerate() {
                block(bh, qb, ob);
            }
        }
    }
    Ok(())
}

pub fn attention_sdpa(cpu: Cpu, i: &[&Tensor], p: &Params, o: &mut [Tensor]) -> Result<()> {
    attention(cpu, "attention_sdpa", i, p, o, None)
}

pub fn attention_flash(cpu: Cpu, i: &[&Tensor], p: &Params, o: &mut [Tensor]) -> Result<()> {
    attention(cpu, "attention_flash", i, p, o, Some(KB))
}

// ---- rope_apply ------------------------------------------------------------------------------

/// cos and sin of p·θ_i for p < 4096, i < 64, computed in f64 and rounded once: [p][i].
struct RopeTable {
    base: u64,
    cos: Vec<f32>,
    sin: Vec<f32>,
}

/// The table for `base`, built once and kept for the next call with the same base.
fn rope_table(base: f64) -> Arc<RopeTable> {
    static CACHE: Mutex<Option<Arc<RopeTable>>> = Mutex::new(None);
    let mut c = CACHE.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(t) = c.as_ref().filter(|t| t.base == base.to_bits()) {
        return t.clone();
    }
    let (mut cos, mut sin) = (Vec::with_capacity(ROPE_PERIOD * 64), Vec::with_capacity(ROPE_PERIOD * 64));
    for pos in 0..ROPE_PERIOD {
        for i in 0..D / 2 {
            let a = rope_angle(base, pos, i);
            cos.push(a.cos() as f32);
            sin.push(a.sin() as f32);
        }
    }
    let t = Arc::new(RopeTable { base: base.to_bits(), cos, sin });
    *c = Some(t.clone());
    t
}

struct Rope<'a> {
    x: &'a [f32],
    y: &'a mut [f32],
    t0: usize,
    table: &'a RopeTable,
}

impl WithSimd for Rope<'_> {
    type Output = ();
    #[inline(always)]
    fn with_simd<S: Simd>(self, s: S) {
        let l = S::F32_LANES;
        for (k, (xr, yr)) in self.x.chunks_exact(D).zip(self.y.chunks_exact_mut(D)).enumerate() {
            let at = ((self.t0 + k) % ROPE_PERIOD) * (D / 2);
            let (c, sn) = (&self.table.cos[at..at + D / 2], &self.table.sin[at..at + D / 2]);
            for i in (0..D / 2).step_by(l) {
                let (x1, x2) = (ld::<S>(xr, i), ld::<S>(xr, i + D / 2));
                let (cv, sv) = (ld::<S>(c, i), ld::<S>(sn, i));
                // x1·c − x2·s and x2·c + x1·s: the second product rounded, the sum fused.
                let y1 = s.mul_add_e_f32s(x1, cv, s.neg_f32s(s.mul_f32s(x2, sv)));
                let y2 = s.mul_add_e_f32s(x2, cv, s.mul_f32s(x1, sv));
                st::<S>(yr, i, y1);
                st::<S>(yr, i + D / 2, y2);
            }
        }
    }
}

pub fn rope_apply(cpu: Cpu, i: &[&Tensor], p: &Params, o: &mut [Tensor]) -> Result<()> {
    let x = i[0].as_f32()?;
    let y = o[0].as_f32_mut()?;
    let t = x.len() / D;
    if t == 0 {
        return Ok(());
    }
    let table = rope_table(p.get("base"));
    drivers::rows(cpu, t, D, Rows::new(y, D), |cpu, r, y| {
        let op = Rope {
            x: &x[r.start * D..r.end * D],
            y: y.data,
            t0: r.start,
            table: &table,
        };
        if cpu == Cpu::Scalar {
            op.with_simd(pulp::Scalar)
        } else {
            arch().dispatch(op)
        }
    });
    Ok(())
}

// ---- alibi_bias ------------------------------------------------------------------------------

struct Alibi<'a> {
    x: &'a [f32],
    y: &'a mut [f32],
    /// The first row's index among the 32·S rows.
    r0: usize,
    s: usize,
    slopes: &'a [f32; H],
}

impl WithSimd for Alibi<'_> {
    type Output = ();
    #[inline(always)]
    fn with_simd<S: Simd>(self, s: S) {
        let l = S::F32_LANES;
        let n = self.s;
        let iota: [f32; 16] = std::array::from_fn(|k| k as f32);
        let iota = crate::backend::cpu::load_f32s::<S>(&iota);
        for (k, (xr, yr)) in self.x.chunks_exact(n).zip(self.y.chunks_exact_mut(n)).enumerate() {
            let row = self.r0 + k;
            let (h, i) = (row / n, row % n);
            let m = self.slopes[h];
            let nm = s.splat_f32s(-m);
            // Kept part j ≤ i: y = x − m·(i − j), i − j exact in f32 (S < 2^24).
            let kept = i + 1;
            let body = kept / l * l;
            for j in (0..body).step_by(l) {
                let dist = s.sub_f32s(s.splat_f32s((i - j) as f32), iota);
                st::<S>(yr, j, s.mul_add_e_f32s(nm, dist, ld::<S>(xr, j)));
            }
            for j in body..kept {
                yr[j] = xr[j] + -m * (i - j) as f32;
            }
            // Masked part j > i: y = x + (−inf) (NaN and +inf give NaN).
            for (yj, &xj) in yr[kept..].iter_mut().zip(&xr[kept..]) {
                *yj = xj + f32::NEG_INFINITY;
            }
        }
    }
}

pub fn alibi_bias(cpu: Cpu, i: &[&Tensor], _: &Params, o: &mut [Tensor]) -> Result<()> {
    let x = i[0].as_f32()?;
    let y = o[0].as_f32_mut()?;
    let n = i[0].shape()[1];
    if n == 0 {
        return Ok(());
    }
    let slopes: [f32; H] = std::array::from_fn(|h| alibi_slope(h) as f32);
    drivers::rows(cpu, H * n, n, Rows::new(y, n), |cpu, r, y| {
        let op = Alibi {
            x: &x[r.start * n..r.end * n],
            y: y.data,
            r0: r.start,
            s: n,
            slopes: &slopes,
        };
        if cpu == Cpu::Scalar {
            op.with_simd(pulp::Scalar)
        } else {
            arch().dispatch(op)
        }
    });
    Ok(())
}
