//! Drivers: a kernel supplies its per-element (or per-vector, or per-row) body once; a driver
//! runs it over whole slices on each CPU backend — a plain loop, a pulp-dispatched SIMD loop
//! with its tail, or that SIMD loop split over rayon.
//!
//! - `map1`/`map2`/`map3`: f32 → f32 maps.
//! - `map1_to`/`map2_to`: f32 inputs to any output type (bytes, f16 bits, …).
//! - `rows`: kernels over rows of d (dot products, quantization, and what is row-wise next:
//!   softmax, norms, losses, attention), with any number of row-indexed outputs.
//! - `sum`/`sum2`: Σ f(x) and Σ f(x, y) in f32 lanes per block, block totals in f64 (reductions,
//!   the losses).

use super::{arch, chunk_len, Cpu, GRAIN};
use pulp::{Simd, WithSimd};
use rayon::prelude::*;

/// A map of one f32 input.
pub trait Map1: Sync {
    fn scalar(&self, x: f32) -> f32;
    fn vector<S: Simd>(&self, s: S, x: S::f32s) -> S::f32s;
}

/// A map of two f32 inputs.
pub trait Map2: Sync {
    fn scalar(&self, x: f32, y: f32) -> f32;
    fn vector<S: Simd>(&self, s: S, x: S::f32s, y: S::f32s) -> S::f32s;
}

/// A map of three f32 inputs.
pub trait Map3: Sync {
    fn scalar(&self, a: f32, b: f32, c: f32) -> f32;
    fn vector<S: Simd>(&self, s: S, a: S::f32s, b: S::f32s, c: S::f32s) -> S::f32s;
}

/// Run `f` over matching chunks of the output on the parallel backend, on one thread when the
/// input is small.
fn split<T: Send, F>(len: usize, y: &mut [T], f: F)
where
    F: Fn(std::ops::Range<usize>, &mut [T]) + Sync,
{
    if len < 2 * GRAIN {
        f(0..len, y);
        return;
    }
    let c = chunk_len(len);
    y.par_chunks_mut(c)
        .enumerate()
        .for_each(|(i, out)| f(i * c..i * c + out.len(), out));
}

pub fn map1<M: Map1>(cpu: Cpu, m: &M, x: &[f32], y: &mut [f32]) {
    match cpu {
        Cpu::Scalar => y.iter_mut().zip(x).for_each(|(o, &a)| *o = m.scalar(a)),
        Cpu::Simd => map1_simd(m, x, y),
        Cpu::Parallel => split(x.len(), y, |r, out| map1_simd(m, &x[r], out)),
    }
}

pub fn map2<M: Map2>(cpu: Cpu, m: &M, x: &[f32], y: &[f32], z: &mut [f32]) {
    match cpu {
        Cpu::Scalar => z
            .iter_mut()
            .zip(x.iter().zip(y))
            .for_each(|(o, (&a, &b))| *o = m.scalar(a, b)),
        Cpu::Simd => map2_simd(m, x, y, z),
        Cpu::Parallel => split(x.len(), z, |r, out| map2_simd(m, &x[r.clone()], &y[r], out)),
    }
}

pub fn map3<M: Map3>(cpu: Cpu, m: &M, a: &[f32], b: &[f32], c: &[f32], z: &mut [f32]) {
    match cpu {
        Cpu::Scalar => z
            .iter_mut()
            .zip(a.iter().zip(b).zip(c))
            .for_each(|(o, ((&a, &b), &c))| *o = m.scalar(a, b, c)),
        Cpu::Simd => map3_simd(m, a, b, c, z),
        Cpu::Parallel => split(a.len(), z, |r, out| {
            map3_simd(m, &a[r.clone()], &b[r.clone()], &c[r], out)
        }),
    }
}

fn map1_simd<M: Map1>(m: &M, x: &[f32], y: &mut [f32]) {
    struct Op<'a, M>(&'a M, &'a [f32], &'a mut [f32]);
    impl<M: Map1> WithSimd for Op<'_, M> {
        type Output = ();
        #[inline(always)]
        fn with_simd<S: Simd>(self, s: S) {
            let Op(m, x, y) = self;
            let (xv, xt) = S::as_simd_f32s(x);
            let (yv, yt) = S::as_mut_simd_f32s(y);
            for (o, &a) in yv.iter_mut().zip(xv) {
                *o = m.vector(s, a);
            }
            if !xt.is_empty() {
                let v = m.vector(s, s.partial_load_f32s(xt));
                s.partial_store_f32s(yt, v);
            }
        }
    }
    arch().dispatch(Op(m, x, y))
}

fn map2_simd<M: Map2>(m: &M, x: &[f32], y: &[f32], z: &mut [f32]) {
    struct Op<'a, M>(&'a M, &'a [f32], &'a [f32], &'a mut [f32]);
    impl<M: Map2> WithSimd for Op<'_, M> {
        type Output = ();
        #[inline(always)]
        fn with_simd<S: Simd>(self, s: S) {
            let Op(m, x, y, z) = self;
            let (xv, xt) = S::as_simd_f32s(x);
            let (yv, yt) = S::as_simd_f32s(y);
            let (zv, zt) = S::as_mut_simd_f32s(z);
            for (o, (&a, &b)) in zv.iter_mut().zip(xv.iter().zip(yv)) {
                *o = m.vector(s, a, b);
            }
            if !xt.is_empty() {
                let v = m.vector(s, s.partial_load_f32s(xt), s.partial_load_f32s(yt));
                s.partial_store_f32s(zt, v);
            }
        }
    }
    arch().dispatch(Op(m, x, y, z))
}

fn map3_simd<M: Map3>(m: &M, a: &[f32], b: &[f32], c: &[f32], z: &mut [f32]) {
    struct Op<'a, M>(&'a M, &'a [f32], &'a [f32], &'a [f32], &'a mut [f32]);
    impl<M: Map3> WithSimd for Op<'_, M> {
        type Output = ();
        #[inline(always)]
        fn with_simd<S: Simd>(self, s: S) {
            let Op(m, a, b, c, z) = self;
            let (av, at) = S::as_simd_f32s(a);
            let (bv, bt) = S::as_simd_f32s(b);
            let (cv, ct) = S::as_simd_f32s(c);
            let (zv, zt) = S::as_mut_simd_f32s(z);
            for (o, ((&a, &b), &c)) in zv.iter_mut().zip(av.iter().zip(bv).zip(cv)) {
                *o = m.vector(s, a, b, c);
            }
            if !at.is_empty() {
                let v = m.vector(
                    s,
                    s.partial_load_f32s(at),
                    s.partial_load_f32s(bt),
                    s.partial_load_f32s(ct),
                );
                s.partial_store_f32s(zt, v);
            }
        }
    }
    arch().dispatch(Op(m, a, b, c, z))
}

/// A map of one f32 input to another element type.
pub trait Map1To<T>: Sync {
    fn scalar(&self, x: f32) -> T;
    /// One vector of inputs to its outputs; `out` holds the lane count or fewer (the tail).
    fn vector<S: Simd>(&self, s: S, x: S::f32s, out: &mut [T]);
}

/// A map of two f32 inputs to another element type.
pub trait Map2To<T>: Sync {
    fn scalar(&self, x: f32, y: f32) -> T;
    fn vector<S: Simd>(&self, s: S, x: S::f32s, y: S::f32s, out: &mut [T]);
}

pub fn map1_to<T: Send, M: Map1To<T>>(cpu: Cpu, m: &M, x: &[f32], y: &mut [T]) {
    match cpu {
        Cpu::Scalar => y.iter_mut().zip(x).for_each(|(o, &a)| *o = m.scalar(a)),
        Cpu::Simd => map1_to_simd(m, x, y),
        Cpu::Parallel => split(x.len(), y, |r, out| map1_to_simd(m, &x[r], out)),
    }
}

pub fn map2_to<T: Send, M: Map2To<T>>(cpu: Cpu, m: &M, x: &[f32], y: &[f32], z: &mut [T]) {
    match cpu {
        Cpu::Scalar => z
            .iter_mut()
            .zip(x.iter().zip(y))
            .for_each(|(o, (&a, &b))| *o = m.scalar(a, b)),
        Cpu::Simd => map2_to_simd(m, x, y, z),
        Cpu::Parallel => split(x.len(), z, |r, out| {
            map2_to_simd(m, &x[r.clone()], &y[r], out)
        }),
    }
}

fn map1_to_simd<T, M: Map1To<T>>(m: &M, x: &[f32], y: &mut [T]) {
    struct Op<'a, M, T>(&'a M, &'a [f32], &'a mut [T]);
    impl<T, M: Map1To<T>> WithSimd for Op<'_, M, T> {
        type Output = ();
        #[inline(always)]
        fn with_simd<S: Simd>(self, s: S) {
            let Op(m, x, y) = self;
            let w = S::F32_LANES;
            let (xv, xt) = S::as_simd_f32s(x);
            let (yv, yt) = y.split_at_mut(xv.len() * w);
            for (&a, out) in xv.iter().zip(yv.chunks_exact_mut(w)) {
                m.vector(s, a, out);
            }
            if !xt.is_empty() {
                m.vector(s, s.partial_load_f32s(xt), yt);
            }
        }
    }
    arch().dispatch(Op(m, x, y))
}

fn map2_to_simd<T, M: Map2To<T>>(m: &M, x: &[f32], y: &[f32], z: &mut [T]) {
    struct Op<'a, M, T>(&'a M, &'a [f32], &'a [f32], &'a mut [T]);
    impl<T, M: Map2To<T>> WithSimd for Op<'_, M, T> {
        type Output = ();
        #[inline(always)]
        fn with_simd<S: Simd>(self, s: S) {
            let Op(m, x, y, z) = self;
            let w = S::F32_LANES;
            let (xv, xt) = S::as_simd_f32s(x);
            let (yv, yt) = S::as_simd_f32s(y);
            let (zv, zt) = z.split_at_mut(xv.len() * w);
            for ((&a, &b), out) in xv.iter().zip(yv).zip(zv.chunks_exact_mut(w)) {
                m.vector(s, a, b, out);
            }
            if !xt.is_empty() {
                m.vector(s, s.partial_load_f32s(xt), s.partial_load_f32s(yt), zt);
            }
        }
    }
    arch().dispatch(Op(m, x, y, z))
}

/// Row-indexed outputs that can be cut at a row boundary: `Rows` of one type, or a tuple of
/// them (codes and scales, say).
pub trait RowOutputs: Send + Sized {
    /// (rows before `at`, rows from `at`).
    fn split_rows(self, at: usize) -> (Self, Self);
}

/// One output with `width` elements per row.
pub struct Rows<'a, T> {
    pub data: &'a mut [T],
    pub width: usize,
}

impl<'a, T> Rows<'a, T> {
    pub fn new(data: &'a mut [T], width: usize) -> Self {
        Rows { data, width }
    }
}

impl<T: Send> RowOutputs for Rows<'_, T> {
    fn split_rows(self, at: usize) -> (Self, Self) {
        let (a, b) = self
            .data
            .split_at_mut((at * self.width).min(self.data.len()));
        (Rows::new(a, self.width), Rows::new(b, self.width))
    }
}

impl<A: RowOutputs, B: RowOutputs> RowOutputs for (A, B) {
    fn split_rows(self, at: usize) -> (Self, Self) {
        let (a0, a1) = self.0.split_rows(at);
        let (b0, b1) = self.1.split_rows(at);
        ((a0, b0), (a1, b1))
    }
}

/// Run `body(cpu, rows, outputs)` over `count` rows of `d` elements: every row at once on the
/// calling thread for scalar and simd (`cpu` as given), runs of whole rows over the pool for
/// parallel (each called with `Cpu::Simd`), with the outputs cut to match. Small inputs stay
/// on the calling thread.
pub fn rows<O, F>(cpu: Cpu, count: usize, d: usize, outputs: O, body: F)
where
    O: RowOutputs,
    F: Fn(Cpu, std::ops::Range<usize>, O) + Sync,
{
    if cpu != Cpu::Parallel || count.saturating_mul(d) < 2 * GRAIN {
        let mode = if cpu == Cpu::Scalar {
            Cpu::Scalar
        } else {
            Cpu::Simd
        };
        return body(mode, 0..count, outputs);
    }
    // Whole rows per task, about one grain of elements each, split in halves as rayon's own
    // chunked iterators do.
    let per = (GRAIN / d.max(1)).max(1);
    split_rows(0..count, per, outputs, &body);
}

fn split_rows<O, F>(r: std::ops::Range<usize>, per: usize, outputs: O, body: &F)
where
    O: RowOutputs,
    F: Fn(Cpu, std::ops::Range<usize>, O) + Sync,
{
    if r.len() <= per {
        return body(Cpu::Simd, r, outputs);
    }
    let half = r.len().div_ceil(2 * per) * per;
    let (a, b) = outputs.split_rows(half);
    let mid = r.start + half;
    rayon::join(
        || split_rows(r.start..mid, per, a, body),
        || split_rows(mid..r.end, per, b, body),
    );
}

/// The block the reductions work through while it sits in L1 (two-pass variance, arg-reduction
/// scans, histogram counter flushes).
pub const BLOCK: usize = 4096;

/// Σ f(x_i). Terms are added in f32 lanes over a block while it sits in L1 (4096 elements over
/// 4×16 lanes is 64 terms per lane: ~1e-7 relative), block totals in f64. An f32 term or
/// partial can overflow (values near 1e38, squares of 1e20) or, for squares, underflow (below
/// 1e-19) where the answer is representable: a block whose f32 total is not finite, or for
/// `UNDERFLOWS` terms below 2^-100, is summed again from L1 in f64 lanes.
pub trait SumTerms: Sync {
    /// Whether a term can lose bits to f32 underflow (squares can; x and |x| cannot).
    const UNDERFLOWS: bool;
    fn term(&self, x: f32) -> f64;
    fn vector<S: Simd>(&self, s: S, x: S::f32s) -> S::f32s;
}

/// Σ f(x_i) on one CPU backend, returned in f64 (the caller rounds once).
pub fn sum<T: SumTerms>(cpu: Cpu, t: &T, x: &[f32]) -> f64 {
    match cpu {
        // Plain and readable: one f64 accumulator, accurate at any N.
        Cpu::Scalar => x.iter().map(|&v| t.term(v)).sum(),
        Cpu::Simd => sum_simd(t, x),
        Cpu::Parallel => par_fold(x.len(), |r| sum_simd(t, &x[r]), 0.0, |a, b| a + b),
    }
}

/// Lanes of f64 accumulators per sum: independent chains, enough of them to hide the add
/// latency.
pub const F64_LANES: usize = 16;

/// Σ f(i) over i in 0..len in f64, element i in lane i % F64_LANES and the tail added last:
/// the f64 redo path of the reductions (sums, moments, masked sums, row dots), run only on a
/// block or row whose f32 sum overflowed or underflowed. Independent lanes keep that path from
/// being bound by the add latency when it is taken often (squares of all-zero data).
#[inline(always)]
pub fn lanes_sum_by(len: usize, f: impl Fn(usize) -> f64) -> f64 {
    let mut acc = [0.0f64; F64_LANES];
    let body = len - len % F64_LANES;
    for i in (0..body).step_by(F64_LANES) {
        for (k, a) in acc.iter_mut().enumerate() {
            *a += f(i + k);
        }
    }
    let tail: f64 = (body..len).map(&f).sum();
    acc.iter().sum::<f64>() + tail
}

/// `lanes_sum_by` over the elements of `x`.
#[inline(always)]
pub fn lanes_sum(x: &[f32], f: impl Fn(f32) -> f64) -> f64 {
    lanes_sum_by(x.len(), |i| f(x[i]))
}

/// Fold ranges of `0..len` in parallel and combine the partials in index order, so the result
/// does not depend on which thread finished first.
pub fn par_fold<T: Send + Copy>(
    len: usize,
    f: impl Fn(std::ops::Range<usize>) -> T + Sync,
    init: T,
    combine: impl Fn(T, T) -> T,
) -> T {
    super::par_map_ranges(len, f)
        .into_iter()
        .fold(init, combine)
}

fn sum_simd<T: SumTerms>(t: &T, x: &[f32]) -> f64 {
    struct Op<'a, T>(&'a T, &'a [f32]);
    impl<T: SumTerms> WithSimd for Op<'_, T> {
        type Output = f64;
        #[inline(always)]
        fn with_simd<S: Simd>(self, s: S) -> f64 {
            let Op(t, x) = self;
            let mut total = 0.0f64;
            for block in x.chunks(BLOCK) {
                let (v, tail) = S::as_simd_f32s(block);
                // Four accumulators hide the add latency.
                let mut acc = [s.splat_f32s(0.0); 4];
                let mut quads = v.chunks_exact(4);
                for q in &mut quads {
                    for k in 0..4 {
                        acc[k] = s.add_f32s(acc[k], t.vector(s, q[k]));
                    }
                }
                for &a in quads.remainder() {
                    acc[0] = s.add_f32s(acc[0], t.vector(s, a));
                }
                let a = s.add_f32s(s.add_f32s(acc[0], acc[1]), s.add_f32s(acc[2], acc[3]));
                let b = s.reduce_sum_f32s(a);
                let lossy = !b.is_finite() || (T::UNDERFLOWS && b < TINY);
                total += if lossy {
                    redo_f64(t, &block[..block.len() - tail.len()])
                } else {
                    b as f64
                };
                total += tail.iter().map(|&a| t.term(a)).sum::<f64>();
            }
            total
        }
    }
    arch().dispatch(Op(t, x))
}

/// A block again in f64 lanes; out of line and cold, so the f32 loop keeps its registers.
#[cold]
#[inline(never)]
fn redo_f64<T: SumTerms>(t: &T, x: &[f32]) -> f64 {
    lanes_sum(x, |v| t.term(v))
}

/// Below this an f32 sum of squares may have lost bits to underflow that matter: each term
/// loses at most 2^-150, a block of 4096 at most 2^-138.
pub const TINY: f32 = 7.888609e-31; // 2^-100

/// Σ f(x_i, y_i) over two f32 inputs of one length (the losses): `sum`'s blocks, f32 lanes and
/// f64 block totals. A block whose f32 total is not finite (an overflowed term or partial, or a
/// NaN or inf that the f64 term may resolve differently), or for `UNDERFLOWS` terms is below
/// 2^-100 in magnitude, is summed again from L1 with the f64 `term`, which is the definition.
pub trait SumTerms2: Sync {
    /// Whether a term can lose bits to f32 underflow (squares and products of small values).
    const UNDERFLOWS: bool;
    fn term(&self, x: f32, y: f32) -> f64;
    fn vector<S: Simd>(&self, s: S, x: S::f32s, y: S::f32s) -> S::f32s;
}

/// Σ f(x_i, y_i) on one CPU backend, returned in f64 (the caller rounds once).
pub fn sum2<T: SumTerms2>(cpu: Cpu, t: &T, x: &[f32], y: &[f32]) -> f64 {
    match cpu {
        Cpu::Scalar => x.iter().zip(y).map(|(&a, &b)| t.term(a, b)).sum(),
        Cpu::Simd => sum2_simd(t, x, y),
        Cpu::Parallel => par_fold(
            x.len(),
            |r| sum2_simd(t, &x[r.clone()], &y[r]),
            0.0,
            |a, b| a + b,
        ),
    }
}

fn sum2_simd<T: SumTerms2>(t: &T, x: &[f32], y: &[f32]) -> f64 {
    struct Op<'a, T>(&'a T, &'a [f32], &'a [f32]);
    impl<T: SumTerms2> WithSimd for Op<'_, T> {
        type Output = f64;
        #[inline(always)]
        fn with_simd<S: Simd>(self, s: S) -> f64 {
            let Op(t, x, y) = self;
            let mut total = 0.0f64;
            for (xb, yb) in x.chunks(BLOCK).zip(y.chunks(BLOCK)) {
                let (xv, xt) = S::as_simd_f32s(xb);
                let (yv, yt) = S::as_simd_f32s(yb);
                let mut acc = [s.splat_f32s(0.0); 4];
                let mut quads = xv.chunks_exact(4).zip(yv.chunks_exact(4));
                for (a, b) in &mut quads {
                    for k in 0..4 {
                        acc[k] = s.add_f32s(acc[k], t.vector(s, a[k], b[k]));
                    }
                }
                let done = xv.len() / 4 * 4;
                for (&a, &b) in xv[done..].iter().zip(&yv[done..]) {
                    acc[0] = s.add_f32s(acc[0], t.vector(s, a, b));
                }
                let a = s.add_f32s(s.add_f32s(acc[0], acc[1]), s.add_f32s(acc[2], acc[3]));
                let b = s.reduce_sum_f32s(a);
                let body = xb.len() - xt.len();
                let lossy = !b.is_finite() || (T::UNDERFLOWS && b.abs() < TINY);
                total += if lossy {
                    redo2_f64(t, &xb[..body], &yb[..body])
                } else {
                    b as f64
                };
                total += xt.iter().zip(yt).map(|(&a, &b)| t.term(a, b)).sum::<f64>();
            }
            total
        }
    }
    arch().dispatch(Op(t, x, y))
}

#[cold]
#[inline(never)]
fn redo2_f64<T: SumTerms2>(t: &T, x: &[f32], y: &[f32]) -> f64 {
    lanes_sum_by(x.len(), |i| t.term(x[i], y[i]))
}
