//! The normalization domain: specs only (implementations come in a later issue).

use crate::spec::{rows, Domain, KernelSpec, Metric, ParamSpec, Tolerance};

/// Implemented in a later tranche: no ops and no device kernels yet.
pub static OPS: &[crate::op::Op] = &[];
pub(crate) static CUDA: crate::backend::cuda::Table = crate::backend::cuda::Table::NONE;

// NOTE: "eps, range > 0" is an open bound; as a closed range its min is the smallest positive f64
// (f64::from_bits(1) = 5e-324), and the max is open-ended (f64::INFINITY).
const EPS: ParamSpec = ParamSpec::f64(
    "eps",
    1e-5,
    f64::from_bits(1),
    f64::INFINITY,
    "ε added to the biased variance inside the square root",
);

pub static SPECS: &[KernelSpec] = &[
    KernelSpec {
        name: "layer_norm",
        domain: Domain::Normalization,
        computes: "per row: μ = (1/D) Σ_j x_j, σ² = (1/D) Σ_j (x_j − μ)², y_j = γ_j (x_j − μ)/sqrt(σ² + ε) + β_j, D = 1024",
        shapes: "x f32[R, 1024] ~ normal(4, 1) (stream 0), R = max(1, ⌊N/1024⌋); γ f32[1024] ~ uniform(0.5, 1.5) (stream 1), β f32[1024] ~ normal(0, 0.1) (stream 2) → y f32[R, 1024]",
        params: &[EPS],
        tolerance: Tolerance::Elementwise { rtol: 1e-5, atol: 1e-5 },
        metric: Metric::Bandwidth,
        bytes: |n| 8.0 * 1024.0 * rows(n, 1024) as f64 + 8.0 * 1024.0,
        flops: |n| {
            let r = rows(n, 1024) as f64;
            7.0 * 1024.0 * r + 3.0 * r
        },
    },
    KernelSpec {
        name: "rms_norm",
        domain: Domain::Normalization,
        computes: "per row: ρ = sqrt((1/D) Σ_j x_j² + ε), y_j = γ_j · x_j / ρ, D = 1024 (no mean subtraction, no β)",
        shapes: "x f32[R, 1024] ~ normal(4, 1) (stream 0), R = max(1, ⌊N/1024⌋); γ f32[1024] ~ uniform(0.5, 1.5) (stream 1) → y f32[R, 1024]",
        params: &[EPS],
        tolerance: Tolerance::Elementwise { rtol: 1e-5, atol: 1e-5 },
        metric: Metric::Bandwidth,
        bytes: |n| 8.0 * 1024.0 * rows(n, 1024) as f64 + 4.0 * 1024.0,
        flops: |n| {
            let r = rows(n, 1024) as f64;
            4.0 * 1024.0 * r + 3.0 * r
        },
    },
    KernelSpec {
        name: "batch_norm",
        domain: Domain::Normalization,
        computes: "training mode, per column j: μ_j = (1/B) Σ_b x[b, j], σ²_j = (1/B) Σ_b (x[b, j] − μ_j)², y[b, j] = γ_j (x[b, j] − μ_j)/sqrt(σ²_j + ε) + β_j; outputs y, μ, σ²",
        shapes: "x f32[B, 1024] ~ normal(4, 1) (stream 0), B = max(1, ⌊N/1024⌋); γ f32[1024] ~ uniform(0.5, 1.5) (stream 1), β f32[1024] ~ normal(0, 0.1) (stream 2) → y f32[B, 1024], mean f32[1024], var f32[1024]",
        params: &[EPS],
        // NOTE: the entry gives two classes: y elementwise(1e-5, 1e-5), mean and var stat(1e-5)
        // (atol 0). One static class holds only one, so this is y's class, the first listed. mean
        // and var need Stat { rtol: 1e-5, atol: 0 } in their own check, and because they are
        // stat-class, verification should include N = 10^8, which needs_large_n() does not flag
        // for Elementwise.
        tolerance: Tolerance::Elementwise { rtol: 1e-5, atol: 1e-5 },
        metric: Metric::Bandwidth,
        bytes: |n| 8.0 * 1024.0 * rows(n, 1024) as f64 + 16.0 * 1024.0,
        flops: |n| 7.0 * 1024.0 * rows(n, 1024) as f64 + 3.0 * 1024.0,
    },
    KernelSpec {
        name: "group_norm",
        domain: Domain::Normalization,
        computes: "x (B, C = 256, L = 64), G = 32 groups of 8 channels: per (b, g) μ, biased σ² over 512 elements; y[b, c, l] = γ_c (x[b, c, l] − μ_{b,⌊c/8⌋})/sqrt(σ²_{b,⌊c/8⌋} + ε) + β_c",
        shapes: "x f32[B, 256, 64] ~ normal(4, 1) (stream 0), B = max(1, ⌊N/16384⌋); γ f32[256] ~ uniform(0.5, 1.5) (stream 1), β f32[256] ~ normal(0, 0.1) (stream 2) → y f32[B, 256, 64]",
        // groups is fixed at 32 (C = 256, L = 64): not a parameter.
        params: &[EPS],
        tolerance: Tolerance::Elementwise { rtol: 1e-5, atol: 1e-5 },
        metric: Metric::Bandwidth,
        bytes: |n| 8.0 * 16384.0 * rows(n, 16384) as f64 + 2.0 * 4.0 * 256.0,
        flops: |n| {
            let b = rows(n, 16384) as f64;
            7.0 * 16384.0 * b + 3.0 * 32.0 * b
        },
    },
];
