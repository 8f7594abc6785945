//! The signal domain's lag kernels (`docs/kernels/signal.md`): autocorrelation over lags
//! 0 … L−1 and cross_correlation over lags −L … L — their ops, f64 references, workloads and
//! edge cases. Both are built from one sum over a window of non-negative lags,
//!
//!   lags(a, b, k0, nl)[j] = Σ_{n : n + k0 + j < N} a[n]·b[n + k0 + j],  j = 0 … nl−1,
//!
//! autocorrelation = lags(x, x, 0, L); cross_correlation's lags k ≥ 0 are lags(x, y, 0, L + 1)
//! and its lags k = −m < 0 are lags(y, x, 1, L)[m − 1] (Σ_n x[n]·y[n − m] = Σ_i y[i]·x[i + m]).
//! The CPU code is in `lags_cpu.rs`, the CUDA kernels in `lags.cu`.

use super::lags_cpu;
use crate::op::{input, shape, Case, Op};
use crate::philox;
use crate::tensor::{DType, Tensor, TensorDesc};
use crate::verify::Expected;
use crate::{Params, Result};
use rayon::prelude::*;

/// (Σ_n a[n]·b[n + k0 + j], Σ_n |a[n]·b[n + k0 + j]|) for j < nl over the terms that exist
/// (n + k0 + j < N), in f64: a product of two f32 values is exact there. Written lag-vectorised
/// (for each n, every lag it contributes to) so the compiler vectorises it, and split over rayon
/// in chunks of samples whose partial arrays are added in chunk order (deterministic): the
/// sweep runs L = 65536 lags over 196 609 samples (10^10 terms), which a per-lag dot product
/// in one f64 chain would take minutes over.
pub fn ref_lags(a: &[f32], b: &[f32], k0: usize, nl: usize) -> (Vec<f64>, Vec<f64>) {
    let n = a.len();
    // Samples past N − k0 have no term at any lag.
    let len = n.saturating_sub(k0);
    let chunk = (1 << 14).max(len.div_ceil(64));
    let part = |c: usize| {
        let mut s = vec![0.0f64; nl];
        let mut t = vec![0.0f64; nl];
        for i in c * chunk..((c + 1) * chunk).min(len) {
            let hi = nl.min(n - i - k0);
            let ai = a[i] as f64;
            for ((s, t), &bv) in s[..hi].iter_mut().zip(&mut t[..hi]).zip(&b[i + k0..i + k0 + hi]) {
                let p = ai * bv as f64;
                *s += p;
                *t += p.abs();
            }
        }
        (s, t)
    };
    let parts: Vec<(Vec<f64>, Vec<f64>)> = (0..len.div_ceil(chunk)).into_par_iter().map(part).collect();
    let mut s = vec![0.0f64; nl];
    let mut t = vec![0.0f64; nl];
    for (ps, pt) in parts {
        s.iter_mut().zip(ps).for_each(|(s, v)| *s += v);
        t.iter_mut().zip(pt).for_each(|(t, v)| *t += v);
    }
    (s, t)
}

/// The first input, 1-D.
fn one_signal(name: &str, i: &[&Tensor]) -> Result<usize> {
    for t in i {
        shape::one_d(name, t)?;
    }
    shape::same_len(name, i)
}

fn auto_shapes(i: &[&Tensor], p: &Params) -> Result<Vec<TensorDesc>> {
    one_signal("autocorrelation", i)?;
    Ok(vec![TensorDesc::new(DType::F32, &[p.usize("max_lag")])])
}

fn cross_shapes(i: &[&Tensor], p: &Params) -> Result<Vec<TensorDesc>> {
    one_signal("cross_correlation", i)?;
    Ok(vec![TensorDesc::new(DType::F32, &[2 * p.usize("max_lag") + 1])])
}

/// r[k] = Σ_{n=0}^{N−1−k} x[n]·x[n + k], k < L; S_k = Σ_n |x[n]·x[n + k]| (0 for k ≥ N).
fn auto_reference(i: &[&Tensor], p: &Params) -> Vec<Expected> {
    let Ok(x) = i[0].as_f32() else { return vec![] };
    let l = p.usize("max_lag");
    let (r, s) = ref_lags(x, x, 0, l);
    vec![Expected::new(DType::F32, &[l], r).with_scale(s)]
}

/// c[k + L] = Σ_n x[n]·y[n + k] over the overlap, k = −L … L.
fn cross_reference(i: &[&Tensor], p: &Params) -> Vec<Expected> {
    let (Ok(x), Ok(y)) = (i[0].as_f32(), i[1].as_f32()) else {
        return vec![];
    };
    let l = p.usize("max_lag");
    let (pos, pos_s) = ref_lags(x, y, 0, l + 1);
    let (neg, neg_s) = ref_lags(y, x, 1, l);
    let mut c = vec![0.0; 2 * l + 1];
    let mut s = vec![0.0; 2 * l + 1];
    for j in 0..=l {
        (c[l + j], s[l + j]) = (pos[j], pos_s[j]);
    }
    for j in 0..l {
        (c[l - 1 - j], s[l - 1 - j]) = (neg[j], neg_s[j]);
    }
    vec![Expected::new(DType::F32, &[2 * l + 1], c).with_scale(s)]
}

/// x ~ normal(0.5, 1), stream 0.
fn auto_workload(n: usize, seed: u64, _: &Params) -> Vec<Tensor> {
    vec![Tensor::f32(philox::normal(seed, 0, n, 0.5, 1.0))]
}

/// x ~ normal(0.5, 1) (stream 0), y ~ normal(0.5, 1) (stream 1).
fn cross_workload(n: usize, seed: u64, _: &Params) -> Vec<Tensor> {
    vec![
        Tensor::f32(philox::normal(seed, 0, n, 0.5, 1.0)),
        Tensor::f32(philox::normal(seed, 1, n, 0.5, 1.0)),
    ]
}

fn normal(n: usize, seed: u64, stream: u32) -> Vec<f32> {
    philox::normal(seed, stream, n, 0.5, 1.0)
}

/// A normal(0.5, 1) signal of n samples with `edits` (index, value) applied.
fn signal(n: usize, seed: u64, stream: u32, edits: &[(usize, f32)]) -> Tensor {
    let mut x = normal(n, seed, stream);
    for &(i, v) in edits {
        x[i] = v;
    }
    Tensor::f32(x)
}

/// A normal(0.5, 1) signal of n samples scaled by `f` in f64 and rounded once.
fn scaled(n: usize, seed: u64, stream: u32, f: f64) -> Tensor {
    Tensor::f32(normal(n, seed, stream).into_iter().map(|v| (v as f64 * f) as f32).collect())
}

/// ±v alternately.
fn alternating(n: usize, v: f32) -> Tensor {
    Tensor::f32((0..n).map(|i| if i % 2 == 0 { v } else { -v }).collect())
}

/// Every seventh sample a denormal, every eleventh ±0: terms that underflow beside normal ones.
fn denormals(n: usize, seed: u64, stream: u32) -> Tensor {
    let mut x = normal(n, seed, stream);
    for (i, v) in x.iter_mut().enumerate() {
        if i % 7 == 3 {
            *v = if i % 2 == 0 { 1e-40 } else { -1e-42 };
        } else if i % 11 == 5 {
            *v = if i % 2 == 0 { 0.0 } else { -0.0 };
        }
    }
    Tensor::f32(x)
}

const NAN: f32 = f32::NAN;
const INF: f32 = f32::INFINITY;

/// autocorrelation at its default L = 256.
fn auto_cases() -> Vec<Case> {
    let one = |label, x: Tensor| Case { label, inputs: vec![x] };
    vec![
        one("N = 1: r[0] = x[0]², the other 255 lags 0", Tensor::f32(vec![3.0])),
        one("N = 2 (lags ≥ 2 have no terms)", Tensor::f32(vec![1.5, -2.0])),
        one("N = 255 < L", signal(255, 51, 0, &[])),
        one("N = 511 = 2L − 1", signal(511, 52, 0, &[])),
        one(
            "NaN at x[200] of 400: r[k] NaN for k ≤ 200, finite above",
            signal(400, 53, 0, &[(200, NAN)]),
        ),
        one("NaN at x[0] of 10 007 (every lag NaN)", signal(10_007, 54, 0, &[(0, NAN)])),
        one("NaN at the last sample of 10 007", signal(10_007, 55, 0, &[(10_006, NAN)])),
        one("+inf at x[5000] of 10 007", signal(10_007, 56, 0, &[(5000, INF)])),
        one(
            "inf·0: +inf at x[100], zeros at x[103] and x[300] of 600",
            signal(600, 57, 0, &[(100, INF), (103, 0.0), (300, 0.0)]),
        ),
        one("−inf at x[4095] and x[4096] (a block boundary)", signal(9000, 58, 0, &[(4095, -INF), (4096, -INF)])),
        one("denormals and ±0 among normal samples", denormals(10_007, 59, 0)),
        one("an outlier first sample (1e4)", signal(10_007, 60, 0, &[(0, 1e4)])),
        one("scaled by 1e-20 (products are f32 denormals)", scaled(10_007, 61, 0, 1e-20)),
        one("scaled by 1e-23 (products underflow f32 to 0)", scaled(10_007, 62, 0, 1e-23)),
        one("scaled by 1e17 (block sums near 1e37)", scaled(10_007, 63, 0, 1e17)),
        one("scaled by 1e19 (products overflow f32; the sums are ±inf)", scaled(10_007, 64, 0, 1e19)),
        one("±2e38 alternating (r[k] = ±(N − k)·4e76: ±inf)", alternating(10_007, 2e38)),
        one("±1e-40 alternating (every product underflows)", alternating(10_007, 1e-40)),
        one("a block and lag-tile boundary: N = 4096 + 255", signal(4096 + 255, 65, 0, &[])),
    ]
}

/// cross_correlation at its default L = 255.
fn cross_cases() -> Vec<Case> {
    let two = |label, x: Tensor, y: Tensor| Case { label, inputs: vec![x, y] };
    vec![
        two("N = 1: c[0] = x[0]·y[0] at index L", Tensor::f32(vec![3.0]), Tensor::f32(vec![-2.0])),
        two(
            "N = 3: lags ±1, ±2 and 0 only (order: c_xy[k] = c_yx[−k])",
            Tensor::f32(vec![1.0, 2.0, 3.0]),
            Tensor::f32(vec![10.0, 100.0, 1000.0]),
        ),
        two("N = 200 < L", signal(200, 71, 0, &[]), signal(200, 71, 1, &[])),
        two("N = 511 = 2L + 1", signal(511, 72, 0, &[]), signal(511, 72, 1, &[])),
        two(
            "NaN at x[100] of 400: lags k ≥ 300 and k < −100 finite",
            signal(400, 73, 0, &[(100, NAN)]),
            signal(400, 73, 1, &[]),
        ),
        two(
            "NaN at y[399] of 400 (only lags whose overlap holds it)",
            signal(400, 74, 0, &[]),
            signal(400, 74, 1, &[(399, NAN)]),
        ),
        two(
            "NaN in x at 5000 of 10 007 (every lag NaN)",
            signal(10_007, 75, 0, &[(5000, NAN)]),
            signal(10_007, 75, 1, &[]),
        ),
        two(
            "+inf in x, −inf in y",
            signal(10_007, 76, 0, &[(17, INF)]),
            signal(10_007, 76, 1, &[(4096, -INF)]),
        ),
        two(
            "inf·0: +inf at x[50], y = 0 at 60 and 30",
            signal(600, 77, 0, &[(50, INF)]),
            signal(600, 77, 1, &[(60, 0.0), (30, 0.0)]),
        ),
        two("denormals and ±0", denormals(10_007, 78, 0), denormals(10_007, 78, 1)),
        two(
            "outliers: x[0] = 1e4, y[N−1] = −1e4",
            signal(10_007, 79, 0, &[(0, 1e4)]),
            signal(10_007, 79, 1, &[(10_006, -1e4)]),
        ),
        two("scaled by 1e-20", scaled(10_007, 80, 0, 1e-20), scaled(10_007, 80, 1, 1e-20)),
        two("scaled by 1e19 (±inf sums)", scaled(10_007, 81, 0, 1e19), scaled(10_007, 81, 1, 1e19)),
        two("scaled by 1e17 and 1e-17", scaled(10_007, 82, 0, 1e17), scaled(10_007, 82, 1, 1e-17)),
        two("±2e38 alternating", alternating(10_007, 2e38), alternating(10_007, 2e38)),
        two("N = 4096 + 511", signal(4096 + 511, 83, 0, &[]), signal(4096 + 511, 83, 1, &[])),
    ]
}

pub(super) const AUTOCORRELATION: Op = Op {
    name: "autocorrelation",
    inputs: &[input("x", DType::F32)],
    outputs: &["r"],
    shapes: auto_shapes,
    reference: auto_reference,
    workload: auto_workload,
    edge_cases: auto_cases,
    cpu: lags_cpu::autocorrelation,
};

pub(super) const CROSS_CORRELATION: Op = Op {
    name: "cross_correlation",
    inputs: &[input("x", DType::F32), input("y", DType::F32)],
    outputs: &["c"],
    shapes: cross_shapes,
    reference: cross_reference,
    workload: cross_workload,
    edge_cases: cross_cases,
    cpu: lags_cpu::cross_correlation,
};
