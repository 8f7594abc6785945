//! The loss domain: specs only (implementations come in a later issue).

use crate::spec::{rows, Domain, KernelSpec, Metric, ParamSpec, Tolerance};

/// Implemented in a later tranche: no ops and no device kernels yet.
pub static OPS: &[crate::op::Op] = &[];
pub(crate) static CUDA: crate::backend::cuda::Table = crate::backend::cuda::Table::NONE;

// Every entry's sum(1e-5) uses S = (1/n) Σ |ℓ_i| (the result itself for the non-negative losses),
// supplied by the reference.
pub static SPECS: &[KernelSpec] = &[
    KernelSpec {
        name: "loss_mse",
        domain: Domain::Loss,
        computes: "ℓ = (1/n) Σ_i (p_i − t_i)²",
        shapes: "p f32[N] ~ normal(0, 1) (stream 0), t f32[N] ~ normal(0, 1) (stream 1) → ℓ f32 scalar",
        params: &[],
        tolerance: Tolerance::Sum { rtol: 1e-5 },
        metric: Metric::Bandwidth,
        bytes: |n| 8.0 * n as f64,
        flops: |n| 3.0 * n as f64 + 1.0,
    },
    KernelSpec {
        name: "loss_mae",
        domain: Domain::Loss,
        computes: "ℓ = (1/n) Σ_i |p_i − t_i| (l1_loss)",
        shapes: "p f32[N] ~ normal(0, 1) (stream 0), t f32[N] ~ normal(0, 1) (stream 1) → ℓ f32 scalar",
        params: &[],
        tolerance: Tolerance::Sum { rtol: 1e-5 },
        metric: Metric::Bandwidth,
        bytes: |n| 8.0 * n as f64,
        flops: |n| 3.0 * n as f64 + 1.0,
    },
    KernelSpec {
        name: "loss_huber",
        domain: Domain::Loss,
        computes: "d_i = p_i − t_i; ℓ_i = 0.5·d_i² if |d_i| < δ else δ·(|d_i| − 0.5·δ); ℓ = (1/n) Σ ℓ_i",
        shapes: "p f32[N] ~ normal(0, 1) (stream 0), t f32[N] ~ normal(0, 1) (stream 1) → ℓ f32 scalar",
        // NOTE: "delta > 0" is an open bound; closed-range min = smallest positive f64
        // (f64::from_bits(1)), max open-ended (f64::INFINITY).
        params: &[ParamSpec::f64("delta", 1.0, f64::from_bits(1), f64::INFINITY, "Huber threshold δ")],
        tolerance: Tolerance::Sum { rtol: 1e-5 },
        metric: Metric::Bandwidth,
        bytes: |n| 8.0 * n as f64,
        flops: |n| 5.0 * n as f64 + 1.0,
    },
    KernelSpec {
        name: "loss_cross_entropy",
        domain: Domain::Loss,
        computes: "ℓ = (1/R) Σ_r (lse_r − x[r, y_r]), lse_r = m_r + log Σ_c exp(x[r, c] − m_r), m_r = max_c x[r, c]",
        shapes: "x f32[R, 1000] ~ normal(0, 4) (stream 0), R = max(1, ⌊N/1000⌋); y u64[R] ~ randint(0, 1000) (stream 1) → ℓ f32 scalar",
        params: &[],
        tolerance: Tolerance::Sum { rtol: 1e-5 },
        metric: Metric::Bandwidth,
        bytes: |n| {
            let r = rows(n, 1000) as f64;
            4.0 * 1000.0 * r + 8.0 * r
        },
        flops: |n| {
            let r = rows(n, 1000) as f64;
            4.0 * 1000.0 * r + 4.0 * r
        },
    },
    KernelSpec {
        name: "loss_bce",
        domain: Domain::Loss,
        computes: "ℓ_i = −(y_i·max(ln p_i, −100) + (1 − y_i)·max(ln(1 − p_i), −100)); ℓ = (1/n) Σ ℓ_i",
        shapes: "p f32[N] ~ uniform(0, 1) (stream 0), y f32[N] ∈ {0, 1} ~ bernoulli(0.5) (stream 1) → ℓ f32 scalar",
        params: &[],
        tolerance: Tolerance::Sum { rtol: 1e-5 },
        metric: Metric::Bandwidth,
        bytes: |n| 8.0 * n as f64,
        flops: |n| 6.0 * n as f64 + 1.0,
    },
    KernelSpec {
        name: "loss_kl_div",
        domain: Domain::Loss,
        computes: "ℓ = (1/R) Σ_{r,c} [p_rc·ln p_rc − p_rc·lq_rc], 0·ln 0 := 0 (kl_div, reduction 'batchmean')",
        shapes: "lq = log_softmax(a), p = softmax(b) rows of 1000 (a, b ~ normal streams 0, 1; built in f64, rounded to f32), R = max(1, ⌊N/1000⌋): lq f32[R, 1000], p f32[R, 1000] → ℓ f32 scalar",
        params: &[],
        // S = (1/R) Σ |p_rc (ln p_rc − lq_rc)| (terms of both signs).
        tolerance: Tolerance::Sum { rtol: 1e-5 },
        metric: Metric::Bandwidth,
        bytes: |n| 8.0 * 1000.0 * rows(n, 1000) as f64,
        flops: |n| 4.0 * 1000.0 * rows(n, 1000) as f64 + 1.0,
    },
];
