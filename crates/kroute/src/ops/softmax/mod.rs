//! The softmax domain: specs only (implementations come in a later issue).

use crate::spec::{rows, Domain, KernelSpec, Metric, Tolerance};

/// Implemented in a later tranche: no ops and no device kernels yet.
pub static OPS: &[crate::op::Op] = &[];
pub(crate) static CUDA: crate::backend::cuda::Table = crate::backend::cuda::Table::NONE;

pub static SPECS: &[KernelSpec] = &[
    KernelSpec {
        name: "softmax_stable",
        domain: Domain::Softmax,
        computes: "y[r, j] = exp(x[r, j] − m_r) / Σ_k exp(x[r, k] − m_r), m_r = max_k x[r, k]",
        shapes: "x f32[R, 1024] ~ normal(0, 4) (stream 0), R = max(1, ⌊N/1024⌋) → y f32[R, 1024]",
        params: &[],
        tolerance: Tolerance::Elementwise { rtol: 1e-5, atol: 1e-9 },
        metric: Metric::Bandwidth,
        bytes: |n| 8.0 * 1024.0 * rows(n, 1024) as f64,
        flops: |n| 5.0 * 1024.0 * rows(n, 1024) as f64,
    },
    KernelSpec {
        name: "softmax_online",
        domain: Domain::Softmax,
        computes: "softmax_stable's y, by the one-pass online normaliser (running max m and rescaled sum d, (m, d) ⊕ (m′, d′) combine), then y = exp(x − m_R)/d_R",
        shapes: "x f32[R, 1024] ~ normal(0, 4) (stream 0), R = max(1, ⌊N/1024⌋) → y f32[R, 1024]",
        params: &[],
        tolerance: Tolerance::Elementwise { rtol: 1e-5, atol: 1e-9 },
        metric: Metric::Bandwidth,
        bytes: |n| 8.0 * 1024.0 * rows(n, 1024) as f64,
        flops: |n| 5.0 * 1024.0 * rows(n, 1024) as f64,
    },
    KernelSpec {
        name: "log_softmax",
        domain: Domain::Softmax,
        computes: "y[r, j] = (x[r, j] − m_r) − log Σ_k exp(x[r, k] − m_r), m_r = max_k x[r, k]",
        shapes: "x f32[R, 1024] ~ normal(0, 4) (stream 0), R = max(1, ⌊N/1024⌋) → y f32[R, 1024]",
        params: &[],
        // NOTE: the entry checks edge row (f) (the workload row + 100) with the wider
        // elementwise(1e-5, 1.6e-5) (2·ulp_f32(max_j x_j)); one static class cannot carry a per-row
        // exception, so this is the workload tolerance and row (f)'s unit test must widen atol.
        tolerance: Tolerance::Elementwise { rtol: 1e-5, atol: 4e-6 },
        metric: Metric::Bandwidth,
        bytes: |n| 8.0 * 1024.0 * rows(n, 1024) as f64,
        flops: |n| {
            let r = rows(n, 1024) as f64;
            5.0 * 1024.0 * r + r
        },
    },
];
