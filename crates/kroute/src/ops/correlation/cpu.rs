//! correlation on the CPU, every kernel in one pass over memory.
//!
//! - weighted_sum: `drivers::sum2` of w·x (f32 lanes per block, f64 block totals, a block redone
//!   in f64 where its f32 total overflowed or may have lost products to underflow).
//! - weighted_mean: the same blocks carrying Σwx and Σw together (one read of w).
//! - covariance, correlation: per block of 2048 pairs (16 KiB, in L1) a first look finds the
//!   block's centre (its first pair K plus the mean of x − K: exact for a constant block, so a
//!   constant input gives exactly 0 and r = 0/0 = NaN as the f64 reference does), a second look
//!   from L1 sums the centred terms in f32 lanes; block co-moments are combined in f64 by
//!   Chan's formula. No E[xy] − E[x]E[y] cancellation at any offset.
//! - the matrices: chunks of 128 rows centred the same way per column, the chunk's centred Gram
//!   matrix (upper triangle) in f32 lanes, chunks combined in f64 by Chan's formula; the result
//!   mirrored, so exactly symmetric.
//!
//! A block or chunk whose f32 sums are not finite (values near 1e38, products of 1e19, NaN or
//! ±inf) or whose sums of squares are below 2^-100 (products that may have underflowed) is done
//! again from L1 in f64, which is the definition's arithmetic. `scalar` runs the f64 path on
//! every block.

use super::{mirror, pearson, pearson_matrix, D};
use crate::backend::cpu::drivers::{lanes_sum, lanes_sum_by, par_fold, sum2, SumTerms2, BLOCK, TINY};
use crate::backend::cpu::{arch, Cpu};
use crate::params::Params;
use crate::tensor::Tensor;
use crate::Result;
use pulp::{Simd, WithSimd};
use rayon::prelude::*;

fn put(o: &mut [Tensor], v: f64) -> Result<()> {
    o[0].as_f32_mut()?[0] = v as f32;
    Ok(())
}

// ---- weighted sum and mean ------------------------------------------------------------------

struct Wx;
impl SumTerms2 for Wx {
    const UNDERFLOWS: bool = true;
    fn term(&self, x: f32, w: f32) -> f64 {
        w as f64 * x as f64
    }
    #[inline(always)]
    fn vector<S: Simd>(&self, s: S, x: S::f32s, w: S::f32s) -> S::f32s {
        s.mul_f32s(w, x)
    }
}

pub fn weighted_sum(cpu: Cpu, i: &[&Tensor], _: &Params, o: &mut [Tensor]) -> Result<()> {
    put(o, sum2(cpu, &Wx, i[0].as_f32()?, i[1].as_f32()?))
}

/// (Σwx, Σw) in f64.
type Sums = (f64, f64);

fn add(a: Sums, b: Sums) -> Sums {
    (a.0 + b.0, a.1 + b.1)
}

/// Σwx and Σw of one block in f64 lanes (the redo path, and scalar's).
#[inline(never)]
fn wsums_f64(x: &[f32], w: &[f32]) -> Sums {
    (
        lanes_sum_by(x.len(), |i| w[i] as f64 * x[i] as f64),
        lanes_sum(w, |v| v as f64),
    )
}

#[cold]
#[inline(never)]
fn wsums_redo(x: &[f32], w: &[f32]) -> Sums {
    wsums_f64(x, w)
}

fn wsums_simd(x: &[f32], w: &[f32]) -> Sums {
    struct Op<'a>(&'a [f32], &'a [f32]);
    impl WithSimd for Op<'_> {
        type Output = Sums;
        #[inline(always)]
        fn with_simd<S: Simd>(self, s: S) -> Sums {
            let Op(x, w) = self;
            let mut total = (0.0, 0.0);
            for (xb, wb) in x.chunks(BLOCK).zip(w.chunks(BLOCK)) {
                let (xv, xt) = S::as_simd_f32s(xb);
                let (wv, wt) = S::as_simd_f32s(wb);
                let z = s.splat_f32s(0.0);
                // Two chains each: Σwx (fma) and Σw.
                let (mut n0, mut n1, mut d0, mut d1) = (z, z, z, z);
                let mut pairs = xv.chunks_exact(2).zip(wv.chunks_exact(2));
                for (a, b) in &mut pairs {
                    n0 = s.mul_add_f32s(b[0], a[0], n0);
                    n1 = s.mul_add_f32s(b[1], a[1], n1);
                    d0 = s.add_f32s(d0, b[0]);
                    d1 = s.add_f32s(d1, b[1]);
                }
                if xv.len() % 2 == 1 {
                    let (a, b) = (xv[xv.len() - 1], wv[wv.len() - 1]);
                    n0 = s.mul_add_f32s(b, a, n0);
                    d0 = s.add_f32s(d0, b);
                }
                let num = s.reduce_sum_f32s(s.add_f32s(n0, n1));
                let den = s.reduce_sum_f32s(s.add_f32s(d0, d1));
                let body = xb.len() - xt.len();
                let lossy = !(num.is_finite() && den.is_finite()) || num.abs() < TINY;
                let part = if lossy {
                    wsums_redo(&xb[..body], &wb[..body])
                } else {
                    (num as f64, den as f64)
                };
                total = add(add(total, part), wsums_f64(xt, wt));
            }
            total
        }
    }
    arch().dispatch(Op(x, w))
}

pub fn weighted_mean(cpu: Cpu, i: &[&Tensor], _: &Params, o: &mut [Tensor]) -> Result<()> {
    let (x, w) = (i[0].as_f32()?, i[1].as_f32()?);
    let (num, den) = match cpu {
        Cpu::Scalar => x
            .chunks(BLOCK)
            .zip(w.chunks(BLOCK))
            .fold((0.0, 0.0), |t, (a, b)| add(t, wsums_f64(a, b))),
        Cpu::Simd => wsums_simd(x, w),
        Cpu::Parallel => par_fold(
            x.len(),
            |r| wsums_simd(&x[r.clone()], &w[r]),
            (0.0, 0.0),
            add,
        ),
    };
    put(o, num / den)
}

// ---- covariance and correlation of a pair ---------------------------------------------------

/// Pairs per block: x and y blocks together fill 16 KiB of L1.
const PAIR_BLOCK: usize = 2048;

/// Count, means and centred co-moments of a part of the pair.
#[derive(Clone, Copy)]
pub struct Co {
    n: f64,
    mx: f64,
    my: f64,
    cxy: f64,
    m2x: f64,
    m2y: f64,
}

impl Co {
    const EMPTY: Co = Co {
        n: 0.0,
        mx: 0.0,
        my: 0.0,
        cxy: 0.0,
        m2x: 0.0,
        m2y: 0.0,
    };

    /// Chan et al.'s pairwise combine, extended to the co-moment.
    fn combine(a: Co, b: Co) -> Co {
        if a.n == 0.0 {
            return b;
        }
        if b.n == 0.0 {
            return a;
        }
        let n = a.n + b.n;
        let (dx, dy) = (b.mx - a.mx, b.my - a.my);
        let f = a.n * b.n / n;
        Co {
            n,
            mx: a.mx + dx * (b.n / n),
            my: a.my + dy * (b.n / n),
            cxy: a.cxy + b.cxy + dx * dy * f,
            m2x: a.m2x + b.m2x + dx * dx * f,
            m2y: a.m2y + b.m2y + dy * dy * f,
        }
    }

    /// From centres (cx, cy) and the sums of d = x − c: t1 = Σd, txy = Σdx·dy, t2 = Σd².
    fn from_sums(n: f64, c: (f64, f64), t1: (f64, f64), txy: f64, t2: (f64, f64)) -> Co {
        Co {
            n,
            mx: c.0 + t1.0 / n,
            my: c.1 + t1.1 / n,
            cxy: txy - t1.0 * t1.1 / n,
            m2x: non_negative(t2.0 - t1.0 * t1.0 / n),
            m2y: non_negative(t2.1 - t1.1 * t1.1 / n),
        }
    }
}

/// max(m2, 0) keeping NaN: rounding can leave Σd² − (Σd)²/n a hair below zero.
fn non_negative(m2: f64) -> f64 {
    if m2 < 0.0 {
        0.0
    } else {
        m2
    }
}

/// One block in f64 lanes: the mean, then the centred sums.
#[inline(never)]
fn block_co_f64(x: &[f32], y: &[f32]) -> Co {
    if x.is_empty() {
        return Co::EMPTY;
    }
    let n = x.len() as f64;
    let (mx, my) = (lanes_sum(x, |v| v as f64) / n, lanes_sum(y, |v| v as f64) / n);
    let dx = |i: usize| x[i] as f64 - mx;
    let dy = |i: usize| y[i] as f64 - my;
    let t1 = (lanes_sum_by(x.len(), dx), lanes_sum_by(x.len(), dy));
    let txy = lanes_sum_by(x.len(), |i| dx(i) * dy(i));
    let t2 = (
        lanes_sum_by(x.len(), |i| dx(i) * dx(i)),
        lanes_sum_by(x.len(), |i| dy(i) * dy(i)),
    );
    Co::from_sums(n, (mx, my), t1, txy, t2)
}

#[cold]
#[inline(never)]
fn block_co_redo(x: &[f32], y: &[f32]) -> Co {
    block_co_f64(x, y)
}

/// The sum of two accumulators' lanes, in f64.
#[inline(always)]
fn reduce2<S: Simd>(s: S, v: [S::f32s; 2]) -> f64 {
    s.reduce_sum_f32s(s.add_f32s(v[0], v[1])) as f64
}

/// One block in f32 lanes: centre, then centred sums (see the module comment).
#[inline(always)]
fn block_co<S: Simd>(s: S, x: &[f32], y: &[f32]) -> Co {
    let n = x.len() as f64;
    let (xv, xt) = S::as_simd_f32s(x);
    let (yv, yt) = S::as_simd_f32s(y);
    let z = s.splat_f32s(0.0);
    // The centre: K + mean(x − K) with K the block's first pair.
    let (kx, ky) = (x[0], y[0]);
    let (kxv, kyv) = (s.splat_f32s(kx), s.splat_f32s(ky));
    let (mut ax0, mut ax1, mut ay0, mut ay1) = (z, z, z, z);
    let mut pairs = xv.chunks_exact(2).zip(yv.chunks_exact(2));
    for (a, b) in &mut pairs {
        ax0 = s.add_f32s(ax0, s.sub_f32s(a[0], kxv));
        ax1 = s.add_f32s(ax1, s.sub_f32s(a[1], kxv));
        ay0 = s.add_f32s(ay0, s.sub_f32s(b[0], kyv));
        ay1 = s.add_f32s(ay1, s.sub_f32s(b[1], kyv));
    }
    if xv.len() % 2 == 1 {
        ax0 = s.add_f32s(ax0, s.sub_f32s(xv[xv.len() - 1], kxv));
        ay0 = s.add_f32s(ay0, s.sub_f32s(yv[yv.len() - 1], kyv));
    }
    let sx = s.reduce_sum_f32s(s.add_f32s(ax0, ax1)) as f64
        + xt.iter().map(|&v| v as f64 - kx as f64).sum::<f64>();
    let sy = s.reduce_sum_f32s(s.add_f32s(ay0, ay1)) as f64
        + yt.iter().map(|&v| v as f64 - ky as f64).sum::<f64>();
    let (cx, cy) = ((kx as f64 + sx / n) as f32, (ky as f64 + sy / n) as f32);
    let (cxv, cyv) = (s.splat_f32s(cx), s.splat_f32s(cy));
    // Centred sums, two chains each.
    let (mut t1x, mut t1y, mut txy, mut t2x, mut t2y) = ([z; 2], [z; 2], [z; 2], [z; 2], [z; 2]);
    let mut pairs = xv.chunks_exact(2).zip(yv.chunks_exact(2));
    for (a, b) in &mut pairs {
        for k in 0..2 {
            let (dx, dy) = (s.sub_f32s(a[k], cxv), s.sub_f32s(b[k], cyv));
            t1x[k] = s.add_f32s(t1x[k], dx);
            t1y[k] = s.add_f32s(t1y[k], dy);
            txy[k] = s.mul_add_f32s(dx, dy, txy[k]);
            t2x[k] = s.mul_add_f32s(dx, dx, t2x[k]);
            t2y[k] = s.mul_add_f32s(dy, dy, t2y[k]);
        }
    }
    if xv.len() % 2 == 1 {
        let (dx, dy) = (
            s.sub_f32s(xv[xv.len() - 1], cxv),
            s.sub_f32s(yv[yv.len() - 1], cyv),
        );
        t1x[0] = s.add_f32s(t1x[0], dx);
        t1y[0] = s.add_f32s(t1y[0], dy);
        txy[0] = s.mul_add_f32s(dx, dy, txy[0]);
        t2x[0] = s.mul_add_f32s(dx, dx, t2x[0]);
        t2y[0] = s.mul_add_f32s(dy, dy, t2y[0]);
    }
    let (mut a1x, mut a1y, mut axy, mut a2x, mut a2y) = (
        reduce2(s, t1x),
        reduce2(s, t1y),
        reduce2(s, txy),
        reduce2(s, t2x),
        reduce2(s, t2y),
    );
    let lossy = !(a1x.is_finite() && a1y.is_finite() && axy.is_finite() && a2x.is_finite() && a2y.is_finite())
        || a2x < TINY as f64
        || a2y < TINY as f64;
    if lossy {
        return block_co_redo(x, y);
    }
    for (&a, &b) in xt.iter().zip(yt) {
        let (dx, dy) = (a as f64 - cx as f64, b as f64 - cy as f64);
        a1x += dx;
        a1y += dy;
        axy += dx * dy;
        a2x += dx * dx;
        a2y += dy * dy;
    }
    Co::from_sums(n, (cx as f64, cy as f64), (a1x, a1y), axy, (a2x, a2y))
}

fn co_simd(x: &[f32], y: &[f32]) -> Co {
    struct Op<'a>(&'a [f32], &'a [f32]);
    impl WithSimd for Op<'_> {
        type Output = Co;
        #[inline(always)]
        fn with_simd<S: Simd>(self, s: S) -> Co {
            let Op(x, y) = self;
            x.chunks(PAIR_BLOCK)
                .zip(y.chunks(PAIR_BLOCK))
                .fold(Co::EMPTY, |m, (a, b)| Co::combine(m, block_co(s, a, b)))
        }
    }
    arch().dispatch(Op(x, y))
}

fn comoments(cpu: Cpu, x: &[f32], y: &[f32]) -> Co {
    match cpu {
        Cpu::Scalar => x
            .chunks(PAIR_BLOCK)
            .zip(y.chunks(PAIR_BLOCK))
            .fold(Co::EMPTY, |m, (a, b)| Co::combine(m, block_co_f64(a, b))),
        Cpu::Simd => co_simd(x, y),
        Cpu::Parallel => par_fold(
            x.len(),
            |r| co_simd(&x[r.clone()], &y[r]),
            Co::EMPTY,
            Co::combine,
        ),
    }
}

pub fn covariance(cpu: Cpu, i: &[&Tensor], _: &Params, o: &mut [Tensor]) -> Result<()> {
    let (x, y) = (i[0].as_f32()?, i[1].as_f32()?);
    let c = comoments(cpu, x, y);
    put(o, c.cxy / (c.n - 1.0))
}

pub fn correlation(cpu: Cpu, i: &[&Tensor], _: &Params, o: &mut [Tensor]) -> Result<()> {
    let (x, y) = (i[0].as_f32()?, i[1].as_f32()?);
    let c = comoments(cpu, x, y);
    put(o, pearson(c.cxy, c.m2x, c.m2y, x.len()))
}

// ---- covariance and correlation matrices ----------------------------------------------------

/// Rows per chunk: the chunk (32 KiB) and its centred copy stay in L1/L2 while the Gram
/// matrix is accumulated; 128 terms per f32 accumulator.
const CH: usize = 128;

/// Count, column means and the centred Gram matrix (upper triangle, row-major D×D) of a part.
struct Mat {
    n: f64,
    mean: [f64; D],
    g: Vec<f64>,
}

impl Mat {
    fn empty() -> Mat {
        Mat {
            n: 0.0,
            mean: [0.0; D],
            g: vec![0.0; D * D],
        }
    }

    /// Chan's combine of `b` into `self`, on the upper triangle.
    #[allow(clippy::needless_range_loop)] // (j, k) index pairs of columns read best as indices
    fn absorb(&mut self, b: &Mat) {
        if b.n == 0.0 {
            return;
        }
        if self.n == 0.0 {
            self.n = b.n;
            self.mean = b.mean;
            self.g.copy_from_slice(&b.g);
            return;
        }
        let n = self.n + b.n;
        let f = self.n * b.n / n;
        let mut d = [0.0f64; D];
        for j in 0..D {
            d[j] = b.mean[j] - self.mean[j];
            self.mean[j] += d[j] * (b.n / n);
        }
        for j in 0..D {
            let dj = d[j] * f;
            for k in j..D {
                self.g[j * D + k] += b.g[j * D + k] + dj * d[k];
            }
        }
        self.n = n;
    }
}

/// A chunk of rows in f64: column means, then the centred Gram matrix.
#[inline(never)]
#[allow(clippy::needless_range_loop)] // (j, k) index pairs of columns read best as indices
fn chunk_f64(x: &[f32], out: &mut Mat) {
    let m = x.len() / D;
    let mut mean = [0.0f64; D];
    for row in x.chunks_exact(D) {
        for (a, &v) in mean.iter_mut().zip(row) {
            *a += v as f64;
        }
    }
    mean.iter_mut().for_each(|a| *a /= m as f64);
    out.g.fill(0.0);
    let mut d = [0.0f64; D];
    for row in x.chunks_exact(D) {
        for j in 0..D {
            d[j] = row[j] as f64 - mean[j];
        }
        for j in 0..D {
            let dj = d[j];
            let g = &mut out.g[j * D..(j + 1) * D];
            for k in j..D {
                g[k] += dj * d[k];
            }
        }
    }
    out.n = m as f64;
    out.mean = mean;
}

#[cold]
#[inline(never)]
fn chunk_redo(x: &[f32], out: &mut Mat) {
    chunk_f64(x, out)
}

/// Work space for a chunk in f32 lanes: the centred rows and the Gram accumulators.
struct Work {
    d: Vec<f32>,
    g: Vec<f32>,
}

impl Work {
    fn new() -> Work {
        Work {
            d: vec![0.0; CH * D],
            g: vec![0.0; D * D],
        }
    }
}

/// A chunk of ≤ CH rows in f32 lanes into `out`: per-column centre (the first row plus the
/// mean of x − first row), centred rows, their Gram matrix (upper triangle, by vectors from
/// the one holding the diagonal), then the f64 moments.
#[inline(always)]
#[allow(clippy::needless_range_loop)] // (j, k) index pairs of columns read best as indices
fn chunk_simd<S: Simd>(s: S, x: &[f32], w: &mut Work, out: &mut Mat) {
    let m = x.len() / D;
    let k = &x[..D];
    let mut acc = [0.0f32; D];
    for row in x.chunks_exact(D) {
        for j in 0..D {
            acc[j] += row[j] - k[j];
        }
    }
    let mut c = [0.0f32; D];
    for j in 0..D {
        c[j] = (k[j] as f64 + acc[j] as f64 / m as f64) as f32;
    }
    let mut t1 = [0.0f32; D];
    for (row, d) in x.chunks_exact(D).zip(w.d.chunks_exact_mut(D)) {
        for j in 0..D {
            d[j] = row[j] - c[j];
            t1[j] += d[j];
        }
    }
    let lanes = S::F32_LANES;
    let nv = D / lanes;
    w.g.fill(0.0);
    let d = &w.d[..m * D];
    let mut quads = d.chunks_exact(4 * D);
    for q in &mut quads {
        // No closures here (an array `map`): a closure is compiled without the target
        // features pulp dispatched to, and SIMD values would cross it through memory.
        let (r0, r1) = (S::as_simd_f32s(&q[..D]).0, S::as_simd_f32s(&q[D..2 * D]).0);
        let (r2, r3) = (S::as_simd_f32s(&q[2 * D..3 * D]).0, S::as_simd_f32s(&q[3 * D..]).0);
        for j in 0..D {
            let (a0, a1) = (s.splat_f32s(q[j]), s.splat_f32s(q[D + j]));
            let (a2, a3) = (s.splat_f32s(q[2 * D + j]), s.splat_f32s(q[3 * D + j]));
            let g = S::as_mut_simd_f32s(&mut w.g[j * D..(j + 1) * D]).0;
            for kv in j / lanes..nv {
                // Two chains, joined once: half the dependent-FMA latency.
                let u = s.mul_add_f32s(a0, r0[kv], g[kv]);
                let v = s.mul_f32s(a1, r1[kv]);
                let u = s.mul_add_f32s(a2, r2[kv], u);
                let v = s.mul_add_f32s(a3, r3[kv], v);
                g[kv] = s.add_f32s(u, v);
            }
        }
    }
    for row in quads.remainder().chunks_exact(D) {
        let r = S::as_simd_f32s(row).0;
        for j in 0..D {
            let a = s.splat_f32s(row[j]);
            let g = S::as_mut_simd_f32s(&mut w.g[j * D..(j + 1) * D]).0;
            for kv in j / lanes..nv {
                g[kv] = s.mul_add_f32s(a, r[kv], g[kv]);
            }
        }
    }
    // Finite diagonal sums bound every off-diagonal partial (|Σd_j d_k| ≤ max(Σd_j², Σd_k²)).
    let lossy = (0..D).any(|j| {
        let q = w.g[j * D + j];
        !(t1[j].is_finite() && q.is_finite()) || q < TINY
    });
    if lossy {
        return chunk_redo(x, out);
    }
    let mf = m as f64;
    for j in 0..D {
        out.mean[j] = c[j] as f64 + t1[j] as f64 / mf;
        let tj = t1[j] as f64 / mf;
        for kk in j..D {
            out.g[j * D + kk] = w.g[j * D + kk] as f64 - tj * t1[kk] as f64;
        }
    }
    out.n = mf;
}

/// The moments of a run of whole rows, chunk by chunk.
fn mat_run(cpu: Cpu, x: &[f32]) -> Mat {
    let mut total = Mat::empty();
    let mut part = Mat::empty();
    if cpu == Cpu::Scalar {
        for chunk in x.chunks(CH * D) {
            chunk_f64(chunk, &mut part);
            total.absorb(&part);
        }
        return total;
    }
    struct Op<'a>(&'a [f32], &'a mut Mat, &'a mut Mat);
    impl WithSimd for Op<'_> {
        type Output = ();
        #[inline(always)]
        fn with_simd<S: Simd>(self, s: S) {
            let Op(x, total, part) = self;
            let mut w = Work::new();
            for chunk in x.chunks(CH * D) {
                chunk_simd(s, chunk, &mut w, part);
                total.absorb(part);
            }
        }
    }
    arch().dispatch(Op(x, &mut total, &mut part));
    total
}

/// Rows per parallel task (256 KiB of input).
const TASK_ROWS: usize = 1024;

fn mat_moments(cpu: Cpu, x: &[f32]) -> Mat {
    let rows = x.len() / D;
    if cpu != Cpu::Parallel || rows < 2 * TASK_ROWS {
        return mat_run(cpu, x);
    }
    let parts: Vec<Mat> = (0..rows.div_ceil(TASK_ROWS))
        .into_par_iter()
        .map(|t| {
            let r = t * TASK_ROWS..((t + 1) * TASK_ROWS).min(rows);
            mat_run(Cpu::Simd, &x[r.start * D..r.end * D])
        })
        .collect();
    // Combined in row order: the result does not depend on the thread count.
    let mut total = Mat::empty();
    for p in &parts {
        total.absorb(p);
    }
    total
}

pub fn covariance_matrix(cpu: Cpu, i: &[&Tensor], _: &Params, o: &mut [Tensor]) -> Result<()> {
    let x = i[0].as_f32()?;
    let mut m = mat_moments(cpu, x);
    mirror(&mut m.g);
    let div = m.n - 1.0;
    for (o, g) in o[0].as_f32_mut()?.iter_mut().zip(&m.g) {
        *o = (g / div) as f32;
    }
    Ok(())
}

pub fn pearson_pairwise(cpu: Cpu, i: &[&Tensor], _: &Params, o: &mut [Tensor]) -> Result<()> {
    let x = i[0].as_f32()?;
    let mut m = mat_moments(cpu, x);
    mirror(&mut m.g);
    let p = pearson_matrix(&m.g, x.len() / D);
    for (o, v) in o[0].as_f32_mut()?.iter_mut().zip(&p) {
        *o = *v as f32;
    }
    Ok(())
}
