//! normalization on the CPU. Statistics are accumulated in f64 — 16 independent lanes, which
//! LLVM turns into AVX-512 (or AVX2) f64 vectors with their conversions inside the SIMD context —
//! so the mean is exact to f64 rounding: the output's error then stays relative to γ·x̂ and β
//! (the tolerance's scale) however far the values are scaled, and nothing overflows or
//! underflows on the way. Layer, RMS and group norm take a row (group) while it sits in L1: Σx,
//! then Σ(x − μ)² (two passes), then one f32 fma chain per element (`Norm`). batch_norm reduces
//! columns over chunks of 64 rows (one pass shifted by the chunk's first row, then Chan's merge
//! in f64) and writes y row by row. The scalar backend runs the same bodies without SIMD
//! dispatch (pulp's one-lane type); its batch_norm writes y in f64.

use crate::backend::cpu::drivers::{self, Rows};
use crate::backend::cpu::{arch, Cpu};
use crate::ops::reductions::cpu::Moments;
use crate::params::Params;
use crate::tensor::Tensor;
use crate::Result;
use pulp::{Simd, WithSimd};
use rayon::prelude::*;

/// f64 accumulator lanes of the row sums.
const LANES: usize = 16;

/// Σ (x − c)^P over a run in f64 lanes (P = 1: Σx with c = 0; P = 2: Σ(x − μ)² or Σx²).
#[inline(always)]
fn sum_f64<const P: u32>(x: &[f32], c: f64) -> f64 {
    let mut acc = [0.0f64; LANES];
    let mut chunks = x.chunks_exact(LANES);
    for ch in &mut chunks {
        for k in 0..LANES {
            let v = ch[k] as f64 - c;
            acc[k] += if P == 2 { v * v } else { v };
        }
    }
    let mut total = 0.0;
    for &v in chunks.remainder() {
        let v = v as f64 - c;
        total += if P == 2 { v * v } else { v };
    }
    for a in acc {
        total += a;
    }
    total
}

/// A run's (μ, Σ(x − μ)²) for layer and group norm, (0, Σx²) for rms_norm.
#[inline(always)]
pub(crate) fn run_stats<const RMS: bool>(x: &[f32]) -> (f64, f64) {
    if RMS {
        (0.0, sum_f64::<2>(x, 0.0))
    } else {
        let mu = sum_f64::<1>(x, 0.0) / x.len() as f64;
        (mu, sum_f64::<2>(x, mu))
    }
}

/// The normalisation of one run of n values (a row, a group or a column) from its f64 mean μ
/// and sq = Σ(x − μ)²: x̂ = (x − μ)·rstd, rstd = 1/sqrt(sq/n + ε). In f32, x̂ = (x − c)·r − δ
/// with c = f32(μ), r = f32(rstd) and δ = f32((μ − c)·rstd), which puts back what rounding μ
/// lost (a mean off by one ulp would move x̂ by ulp(μ)·rstd). `wide` runs, whose μ or rstd is
/// not a finite normal f32 or whose deviations |x − μ| ≤ sqrt(sq) could overflow x − c, are
/// computed in f64.
#[derive(Clone, Copy)]
pub(crate) struct Norm {
    mu: f64,
    rstd: f64,
    c: f32,
    r: f32,
    delta: f32,
    wide: bool,
}

impl Norm {
    pub(crate) fn new(mu: f64, sq: f64, n: usize, eps: f64) -> Norm {
        let rstd = 1.0 / (sq / n as f64 + eps).sqrt();
        let (c, r) = (mu as f32, rstd as f32);
        Norm {
            mu,
            rstd,
            c,
            r,
            delta: ((mu - c as f64) * rstd) as f32,
            wide: !(mu.is_finite() && sq < 1e76 && r.is_normal()),
        }
    }

    /// γ·x̂ + β in f64, rounded once.
    fn wide(&self, x: f32, g: f32, b: f32) -> f32 {
        (g as f64 * ((x as f64 - self.mu) * self.rstd) + b as f64) as f32
    }
}

/// y = γ·x̂ + β over a run (β absent, i.e. 0, unless `BETA`).
#[inline(always)]
pub(crate) fn apply<S: Simd, const BETA: bool>(s: S, nm: &Norm, x: &[f32], g: &[f32], b: &[f32], y: &mut [f32]) {
    if nm.wide {
        return apply_wide::<BETA>(nm, x, g, b, y);
    }
    let (c, r, nd) = (s.splat_f32s(nm.c), s.splat_f32s(nm.r), s.splat_f32s(-nm.delta));
    let (xv, xt) = S::as_simd_f32s(x);
    let (gv, gt) = S::as_simd_f32s(g);
    let (yv, yt) = S::as_mut_simd_f32s(y);
    let body = xv.len() * S::F32_LANES;
    if BETA {
        let (bv, _) = S::as_simd_f32s(&b[..body]);
        for (((o, &a), &gg), &bb) in yv.iter_mut().zip(xv).zip(gv).zip(bv) {
            let xh = s.mul_add_f32s(s.sub_f32s(a, c), r, nd);
            *o = s.mul_add_f32s(gg, xh, bb);
        }
    } else {
        for ((o, &a), &gg) in yv.iter_mut().zip(xv).zip(gv) {
            *o = s.mul_f32s(gg, s.mul_add_f32s(s.sub_f32s(a, c), r, nd));
        }
    }
    for (k, (o, (&a, &gg))) in yt.iter_mut().zip(xt.iter().zip(gt)).enumerate() {
        let xh = (a - nm.c).mul_add(nm.r, -nm.delta);
        *o = if BETA { gg.mul_add(xh, b[body + k]) } else { gg * xh };
    }
}

/// The f64 route (`Norm::wide`) over a run: extreme runs, and every run on the scalar backend.
fn apply_wide<const BETA: bool>(nm: &Norm, x: &[f32], g: &[f32], b: &[f32], y: &mut [f32]) {
    for (k, (o, (&a, &gg))) in y.iter_mut().zip(x.iter().zip(g)).enumerate() {
        *o = nm.wide(a, gg, if BETA { b[k] } else { 0.0 });
    }
}

/// Runs of `len` elements of x, each normalised by its own statistics; run k takes its γ (and β)
/// from `g[(k % period)·len..]` (layer/rms: period 1, γ of len; group_norm: γ expanded per
/// element of a sample, period G).
struct RunsOp<'a, const RMS: bool> {
    x: &'a [f32],
    y: &'a mut [f32],
    first: usize,
    len: usize,
    period: usize,
    g: &'a [f32],
    b: &'a [f32],
    eps: f64,
}

impl<const RMS: bool> WithSimd for RunsOp<'_, RMS> {
    type Output = ();
    #[inline(always)]
    fn with_simd<S: Simd>(self, s: S) {
        let len = self.len;
        for (k, (xr, yr)) in self.x.chunks_exact(len).zip(self.y.chunks_exact_mut(len)).enumerate() {
            let (mu, sq) = run_stats::<RMS>(xr);
            let nm = Norm::new(mu, sq, len, self.eps);
            let at = ((self.first + k) % self.period) * len;
            let g = &self.g[at..at + len];
            if RMS {
                apply::<S, false>(s, &nm, xr, g, &[], yr);
            } else {
                apply::<S, true>(s, &nm, xr, g, &self.b[at..at + len], yr);
            }
        }
    }
}

#[allow(clippy::too_many_arguments)]
fn runs<const RMS: bool>(
    cpu: Cpu,
    x: &[f32],
    y: &mut [f32],
    len: usize,
    period: usize,
    g: &[f32],
    b: &[f32],
    eps: f64,
) {
    drivers::rows(cpu, x.len() / len, len, Rows::new(y, len), |cpu, r, y| {
        let op = RunsOp::<RMS> {
            x: &x[r.start * len..r.end * len],
            y: y.data,
            first: r.start,
            len,
            period,
            g,
            b,
            eps,
        };
        if cpu == Cpu::Scalar {
            // The same body on pulp's one-lane scalar type.
            op.with_simd(pulp::Scalar)
        } else {
            arch().dispatch(op)
        }
    });
}

pub fn layer_norm(cpu: Cpu, i: &[&Tensor], p: &Params, o: &mut [Tensor]) -> Result<()> {
    let (x, g, b) = (i[0].as_f32()?, i[1].as_f32()?, i[2].as_f32()?);
    let d = p.usize("d");
    runs::<false>(cpu, x, o[0].as_f32_mut()?, d, 1, g, b, p.get("eps"));
    Ok(())
}

pub fn rms_norm(cpu: Cpu, i: &[&Tensor], p: &Params, o: &mut [Tensor]) -> Result<()> {
    let (x, g) = (i[0].as_f32()?, i[1].as_f32()?);
    let d = p.usize("d");
    runs::<true>(cpu, x, o[0].as_f32_mut()?, d, 1, g, &[], p.get("eps"));
    Ok(())
}

/// group_norm: groups of (C/G)·L contiguous elements, as rows; γ and β expanded to one value per
/// element of a sample (C·L, the same for every sample), so a group reads its affine like a row.
pub fn group_norm(cpu: Cpu, i: &[&Tensor], p: &Params, o: &mut [Tensor]) -> Result<()> {
    let (x, g, b) = (i[0].as_f32()?, i[1].as_f32()?, i[2].as_f32()?);
    let (c, l) = (i[0].shape()[1], i[0].shape()[2]);
    let groups = p.usize("groups");
    let expand = |v: &[f32]| -> Vec<f32> { v.iter().flat_map(|&a| std::iter::repeat_n(a, l)).collect() };
    let (ge, be) = (expand(g), expand(b));
    runs::<false>(cpu, x, o[0].as_f32_mut()?, c / groups * l, groups, &ge, &be, p.get("eps"));
    Ok(())
}

// ---- batch_norm ------------------------------------------------------------------------------

/// Rows per chunk of the column reduction: each chunk's moments come from one pass shifted by
/// its first row (in f64 the shift's cancellation, 1 + ((x₀ − μ)/σ)², costs nothing unless a
/// first row lies thousands of σ out), then chunks are merged by Chan's formula.
const CHUNK: usize = 64;

/// A column's statistics so far: Chan-merged moments, and Σx apart (the mean; the merge's
/// difference of means would turn two chunks' +inf into NaN, where the mean is +inf).
#[derive(Clone, Copy)]
struct Col {
    m: Moments,
    total: f64,
}

impl Col {
    const EMPTY: Col = Col {
        m: Moments::EMPTY,
        total: 0.0,
    };
    fn merge(self, other: Col) -> Col {
        Col {
            m: Moments::combine(self.m, other.m),
            total: self.total + other.total,
        }
    }
}

/// Per-column f64 accumulators of one chunk: the shift (the chunk's first row), Σx, Σ(x − k),
/// Σ(x − k)².
struct ColSums {
    k: Vec<f32>,
    s: Vec<f64>,
    t1: Vec<f64>,
    t2: Vec<f64>,
}

/// Merges the moments of every column of the chunks of x (rows of d) into a new column vector.
#[inline(always)]
fn column_stats(x: &[f32], d: usize) -> Vec<Col> {
    let mut cols = vec![Col::EMPTY; d];
    let mut w = ColSums {
        k: vec![0.0; d],
        s: vec![0.0; d],
        t1: vec![0.0; d],
        t2: vec![0.0; d],
    };
    for chunk in x.chunks(CHUNK * d) {
        w.k.copy_from_slice(&chunk[..d]);
        w.s.fill(0.0);
        w.t1.fill(0.0);
        w.t2.fill(0.0);
        for row in chunk.chunks_exact(d) {
            let it = row.iter().zip(&w.k).zip(w.s.iter_mut().zip(w.t1.iter_mut().zip(w.t2.iter_mut())));
            for ((&v, &k), (s, (t1, t2))) in it {
                let (v, dv) = (v as f64, v as f64 - k as f64);
                *s += v;
                *t1 += dv;
                *t2 += dv * dv;
            }
        }
        let n = (chunk.len() / d) as f64;
        for (j, c) in cols.iter_mut().enumerate() {
            let (t1, t2) = (w.t1[j], w.t2[j]);
            // max(m2, 0) keeping NaN (rounding can leave it a hair below zero).
            let m2 = t2 - t1 * t1 / n;
            let m = Moments {
                n,
                mean: w.k[j] as f64 + t1 / n,
                m2: if m2 < 0.0 { 0.0 } else { m2 },
            };
            *c = c.merge(Col { m, total: w.s[j] });
        }
    }
    cols
}

fn columns_simd(x: &[f32], d: usize) -> Vec<Col> {
    struct Op<'a>(&'a [f32], usize);
    impl WithSimd for Op<'_> {
        type Output = Vec<Col>;
        #[inline(always)]
        fn with_simd<S: Simd>(self, _: S) -> Vec<Col> {
            column_stats(self.0, self.1)
        }
    }
    arch().dispatch(Op(x, d))
}

/// Per-column statistics: chunk by chunk (scalar without SIMD dispatch, simd), or runs of chunks
/// over the pool merged in order (parallel).
fn columns(cpu: Cpu, x: &[f32], d: usize) -> Vec<Col> {
    let b = x.len() / d;
    match cpu {
        Cpu::Scalar => column_stats(x, d),
        Cpu::Simd => columns_simd(x, d),
        Cpu::Parallel => {
            let tasks = (rayon::current_num_threads() * 4).min(b.div_ceil(CHUNK)).max(1);
            let per = b.div_ceil(tasks).div_ceil(CHUNK) * CHUNK;
            let parts: Vec<Vec<Col>> = x.par_chunks(per * d).map(|p| columns_simd(p, d)).collect();
            let mut cols = vec![Col::EMPTY; d];
            for part in parts {
                for (c, p) in cols.iter_mut().zip(part) {
                    *c = c.merge(p);
                }
            }
            cols
        }
    }
}

/// y = (x − c_j)·a_j + b_j across the columns of each row, a_j = γ_j·r_j and b_j = β_j − γ_j·δ_j
/// (`Norm`); wide columns then again in f64.
struct BatchOut<'a> {
    x: &'a [f32],
    y: &'a mut [f32],
    d: usize,
    c: &'a [f32],
    a: &'a [f32],
    b: &'a [f32],
    wide: &'a [(usize, Norm, f32, f32)],
}

impl WithSimd for BatchOut<'_> {
    type Output = ();
    #[inline(always)]
    fn with_simd<S: Simd>(self, s: S) {
        let BatchOut { x, y, d, c, a, b, wide } = self;
        let (cv, ct) = S::as_simd_f32s(c);
        let (av, at) = S::as_simd_f32s(a);
        let (bv, bt) = S::as_simd_f32s(b);
        for (xr, yr) in x.chunks_exact(d).zip(y.chunks_exact_mut(d)) {
            let (xv, xt) = S::as_simd_f32s(xr);
            let (yv, yt) = S::as_mut_simd_f32s(yr);
            for ((((o, &v), &cc), &aa), &bb) in yv.iter_mut().zip(xv).zip(cv).zip(av).zip(bv) {
                *o = s.mul_add_f32s(s.sub_f32s(v, cc), aa, bb);
            }
            for ((((o, &v), &cc), &aa), &bb) in yt.iter_mut().zip(xt).zip(ct).zip(at).zip(bt) {
                *o = (v - cc).mul_add(aa, bb);
            }
            for &(j, nm, g, be) in wide {
                yr[j] = nm.wide(xr[j], g, be);
            }
        }
    }
}

pub fn batch_norm(cpu: Cpu, i: &[&Tensor], p: &Params, o: &mut [Tensor]) -> Result<()> {
    let (x, g, b) = (i[0].as_f32()?, i[1].as_f32()?, i[2].as_f32()?);
    let (d, eps) = (p.usize("d"), p.get("eps"));
    let rows = x.len() / d;
    let cols = columns(cpu, x, d);
    let norms: Vec<Norm> = cols
        .iter()
        .map(|c| Norm::new(c.total / rows as f64, c.m.m2, rows, eps))
        .collect();
    {
        let [y, mean, var] = o else {
            return Err(crate::Error::Shape("batch_norm writes y, mean and var".into()));
        };
        for ((m, v), c) in mean.as_f32_mut()?.iter_mut().zip(var.as_f32_mut()?).zip(&cols) {
            *m = (c.total / rows as f64) as f32;
            *v = (c.m.m2 / rows as f64) as f32;
        }
        // Per column: c, a = γ·r, b = β − γ·δ in f32; columns whose a or b leave the f32 range
        // (γ·r of 2e38·316), or whose statistics are extreme, are wide.
        let mut cc = vec![0.0f32; d];
        let mut aa = vec![0.0f32; d];
        let mut bb = vec![0.0f32; d];
        let mut wide = Vec::new();
        for (j, n) in norms.iter().enumerate() {
            let (gj, bj) = (g[j] as f64, b[j] as f64);
            let (a, b0) = ((gj * n.r as f64) as f32, (bj - gj * n.delta as f64) as f32);
            (cc[j], aa[j], bb[j]) = (n.c, a, b0);
            if n.wide || !a.is_finite() || !b0.is_finite() {
                wide.push((j, *n, g[j], b[j]));
            }
        }
        let y = y.as_f32_mut()?;
        drivers::rows(cpu, rows, d, Rows::new(y, d), |cpu, r, y| {
            let x = &x[r.start * d..r.end * d];
            if cpu == Cpu::Scalar {
                for (xr, yr) in x.chunks_exact(d).zip(y.data.chunks_exact_mut(d)) {
                    for (j, (o, &v)) in yr.iter_mut().zip(xr).enumerate() {
                        *o = norms[j].wide(v, g[j], b[j]);
                    }
                }
            } else {
                arch().dispatch(BatchOut {
                    x,
                    y: y.data,
                    d,
                    c: &cc,
                    a: &aa,
                    b: &bb,
                    wide: &wide,
                })
            }
        });
    }
    Ok(())
}
