//! The signal domain (`docs/kernels/signal.md`): `window_apply` (the worked example of
//! `docs/adding-a-kernel.md`); conv1d, fir_filter and fft_conv1d (`conv.rs`, `conv_cpu.rs`,
//! `conv.cu`; fft_conv1d also through rustfft, `conv_cpu::LIBRARIES`); autocorrelation and
//! cross_correlation (`lags.rs`, `lags_cpu.rs`, `lags.cu`; through rustfft in `lags_fft.rs`).

mod conv;
pub(crate) mod conv_cpu;
pub(crate) mod cpu;
mod cuda;
mod lags;
mod lags_cpu;
mod lags_fft;

/// The domain's library routes (`rustfft`): fft_conv1d's, and autocorrelation's and
/// cross_correlation's; `ops::libraries()` lists both.
pub(crate) use conv_cpu::LIBRARIES as CONV_LIBRARIES;
pub(crate) use lags_fft::LIBRARIES as LAG_LIBRARIES;
pub(crate) use cuda::CUDA;

use super::common::{edge_values, f32_rows};
use crate::op::{input, shape, Case, Op};
use crate::philox;
use crate::spec::{rows, Domain, KernelSpec, Metric, ParamSpec, Tolerance};
use crate::tensor::{DType, Tensor, TensorDesc};
use crate::verify::Expected;
use crate::{Params, Result};

/// 2·Σ_{k ∈ lags} (N − |k|), each term floored at 0 (a lag with |k| ≥ N has no terms).
fn lag_flops(n: u64, lags: std::ops::RangeInclusive<i64>) -> f64 {
    lags.map(|k| (n as f64 - k.unsigned_abs() as f64).max(0.0))
        .sum::<f64>()
        * 2.0
}

pub static SPECS: &[KernelSpec] = &[
    KernelSpec {
        name: "conv1d",
        domain: Domain::Signal,
        computes: "'same' centred cross-correlation: y[n] = Σ_{k<K} h[k]·x[n + k − (K−1)/2], n = 0 … N−1, zero padding",
        shapes: "x f32[N] ~ normal (stream 0), h f32[K] ~ normal(0, 1/√K) (stream 1), K = 31 → y f32[N]",
        // NOTE: K must also be odd (even K → Error::Param); the closed range [1, 1023] cannot say so.
        params: &[ParamSpec::int("taps", 31.0, 1.0, 1023.0, "taps K (odd)")],
        // Per output, S_n = Σ_k |h[k]·x[n + k − (K−1)/2]|.
        tolerance: Tolerance::Sum { rtol: 1e-5 },
        // NOTE: conv1d names no headline metric, so Bandwidth (the default) is kept, although
        // fft_conv1d's entry says its GFLOP/s "is comparable with conv1d" (62 flops per 8 bytes).
        metric: Metric::Bandwidth,
        bytes: |n| 8.0 * n as f64 + 4.0 * 31.0,
        flops: |n| 2.0 * 31.0 * n as f64,
    },
    KernelSpec {
        name: "fft_conv1d",
        domain: Domain::Signal,
        computes: "the conv1d definition with K = 255 (offset 127): y[n] = Σ_{k<255} h[k]·x[n + k − 127], zero padding, computed by block FFT (overlap-save/add)",
        shapes: "x f32[N] ~ normal (stream 0), h f32[255] ~ normal(0, 1/√255) (stream 1) → y f32[N]",
        // NOTE: K must also be odd; the closed range [1, 65535] cannot say so.
        params: &[ParamSpec::int("taps", 255.0, 1.0, 65535.0, "taps K (odd)")],
        // Per output against the direct form, S_n = Σ_k |h[k]·x[n + k − 127]|.
        tolerance: Tolerance::Sum { rtol: 1e-5 },
        // NOTE: the entry counts the direct form (2KN) "so GFLOP/s is comparable with conv1d" and
        // speaks of the FFT route's "effective" rate: read as GFLOP/s being the headline (Flops).
        metric: Metric::Flops,
        bytes: |n| 8.0 * n as f64 + 4.0 * 255.0,
        flops: |n| 2.0 * 255.0 * n as f64,
    },
    KernelSpec {
        name: "fir_filter",
        domain: Domain::Signal,
        computes: "causal FIR: y[n] = Σ_{k<K} h[k]·x[n − k], x[i] = 0 for i < 0",
        shapes: "x f32[N] ~ normal (stream 0), h f32[K] ~ normal(0, 1/√K) (stream 1), K = 32 → y f32[N]",
        params: &[ParamSpec::int("taps", 32.0, 1.0, 1024.0, "taps K")],
        // Per output, S_n = Σ_k |h[k]·x[n − k]|.
        tolerance: Tolerance::Sum { rtol: 1e-5 },
        metric: Metric::Bandwidth,
        bytes: |n| 8.0 * n as f64 + 4.0 * 32.0,
        flops: |n| 2.0 * 32.0 * n as f64,
    },
    KernelSpec {
        name: "window_apply",
        domain: Domain::Signal,
        computes: "y[r, n] = x[r, n]·w[n], w[n] = 0.5 − 0.5·cos(2πn/(M − 1)) = sin²(πn/(M − 1)) (symmetric Hann), M = 1024",
        shapes: "x f32[R, M] ~ normal (stream 0), M = 1024, R = max(1, ⌊N/M⌋) → y f32[R, M]",
        params: &[ParamSpec::int("frame_length", 1024.0, 2.0, 1e9, "frame length M")],
        tolerance: Tolerance::Elementwise { rtol: 2e-6, atol: 1e-12 },
        metric: Metric::Bandwidth,
        bytes: |n| 8.0 * rows(n, 1024) as f64 * 1024.0,
        flops: |n| rows(n, 1024) as f64 * 1024.0,
    },
    KernelSpec {
        name: "autocorrelation",
        domain: Domain::Signal,
        computes: "r[k] = Σ_{n=0}^{N−1−k} x[n]·x[n + k], k = 0 … L−1 (non-circular, no mean removal, no 1/N)",
        shapes: "x f32[N] ~ normal(0.5, 1) (stream 0) → r f32[L], L = 256",
        params: &[ParamSpec::int("max_lag", 256.0, 1.0, 1e9, "number of lags L")],
        // Per lag, S_k = Σ_n |x[n]·x[n + k]|.
        tolerance: Tolerance::Sum { rtol: 1e-5 },
        metric: Metric::Bandwidth,
        bytes: |n| 4.0 * n as f64 + 4.0 * 256.0,
        // NOTE: the entry's flops are 2·Σ_{k<L} (N − k) = 2LN − L(L − 1); the closed form goes
        // negative for N < L − 1, where lags k ≥ N have no terms. The sum is taken with each term
        // floored at 0, which equals the closed form for N ≥ L − 1.
        flops: |n| lag_flops(n, 0..=255),
    },
    KernelSpec {
        name: "cross_correlation",
        domain: Domain::Signal,
        computes: "c[k] = Σ_n x[n]·y[n + k] over the valid overlap, k = −L … L, output index k + L",
        shapes: "x f32[N] ~ normal(0.5, 1) (stream 0), y f32[N] ~ normal(0.5, 1) (stream 1) → c f32[2L + 1], L = 255",
        params: &[ParamSpec::int("max_lag", 255.0, 0.0, 1e9, "largest lag L")],
        // Per lag, S_k = Σ_n |x[n]·y[n + k]|.
        tolerance: Tolerance::Sum { rtol: 1e-5 },
        metric: Metric::Bandwidth,
        bytes: |n| 8.0 * n as f64 + 4.0 * (2.0 * 255.0 + 1.0),
        // NOTE: the entry's flops are 2·Σ_{k=−L}^{L} (N − |k|) = 2(2L + 1)N − 2L(L + 1); as in
        // autocorrelation each term is floored at 0 (|k| ≥ N has no overlap), equal to the closed
        // form for N ≥ L.
        flops: |n| lag_flops(n, -255..=255),
    },
];

/// The symmetric Hann window in f64: w[n] = sin²(π·n / (M − 1)), the `np.hanning(M)` values.
/// (The sin² form has no cancellation near the frame edges, where w ≈ 1e-5.)
pub fn hann(m: usize) -> Vec<f64> {
    let span = (m.max(2) - 1) as f64;
    (0..m)
        .map(|n| {
            // Fold onto the first half so the angle stays at most π/2: exactly symmetric.
            let k = n.min(m - 1 - n) as f64;
            (std::f64::consts::PI * k / span).sin().powi(2)
        })
        .collect()
}

fn window_shapes(i: &[&Tensor], p: &Params) -> Result<Vec<TensorDesc>> {
    shape::rows_of("window_apply", i[0], p.usize("frame_length"))?;
    Ok(vec![TensorDesc::new(DType::F32, i[0].shape())])
}

fn window_reference(i: &[&Tensor], p: &Params) -> Vec<Expected> {
    let w = hann(p.usize("frame_length"));
    let x = i[0].to_f64_vec();
    let y = x
        .chunks(w.len())
        .flat_map(|row| row.iter().zip(&w).map(|(&v, &w)| v * w))
        .collect();
    vec![Expected::new(DType::F32, i[0].shape(), y)]
}

/// R = max(1, ⌊N/M⌋) frames of M samples of normal(0, 1), stream 0 (M = 1024 by default).
fn window_workload(n: usize, seed: u64, p: &Params) -> Vec<Tensor> {
    let m = p.usize("frame_length");
    let r = rows(n as u64, m as u64) as usize;
    vec![f32_rows(philox::normal(seed, 0, r * m, 0.0, 1.0), m)]
}

/// Edge values at every position of two frames, so NaN, ±inf, −0 and denormals meet the zero
/// weights at n = 0 and M − 1 (inf·0 = NaN) and the tiny ones next to them.
fn window_cases() -> Vec<Case> {
    let v = edge_values();
    let x: Vec<f32> = (0..2 * 1024).map(|k| v[(k * 7) % v.len()]).collect();
    let mut edges = x.clone();
    for (k, e) in [f32::INFINITY, f32::NAN, f32::NEG_INFINITY, -0.0].into_iter().enumerate() {
        edges[k * 1023 % 2048] = e;
        edges[(k * 1023 + 1) % 2048] = e;
    }
    let t = |v| f32_rows(v, 1024);
    vec![
        Case {
            label: "edge values across two frames",
            inputs: vec![t(x)],
        },
        Case {
            label: "inf, NaN and -0 at the zero-weight ends",
            inputs: vec![t(edges)],
        },
    ]
}

pub static OPS: &[Op] = &[
    conv::CONV1D,
    conv::FFT_CONV1D,
    conv::FIR_FILTER,
    Op {
    name: "window_apply",
    inputs: &[input("x", DType::F32)],
    outputs: &["y"],
    shapes: window_shapes,
    reference: window_reference,
    workload: window_workload,
    edge_cases: window_cases,
    cpu: cpu::window_apply,
    },
    lags::AUTOCORRELATION,
    lags::CROSS_CORRELATION,
];
