//! The correlation domain: specs only (implementations come in a later issue).

use crate::spec::{rows, Domain, KernelSpec, Metric, Tolerance};

/// Implemented in a later tranche: no ops and no device kernels yet.
pub static OPS: &[crate::op::Op] = &[];
pub(crate) static CUDA: crate::backend::cuda::Table = crate::backend::cuda::Table::NONE;

pub static SPECS: &[KernelSpec] = &[
    KernelSpec {
        name: "reduce_weighted_sum",
        domain: Domain::Correlation,
        computes: "s = Σ_{i<N} w_i x_i (f64 products and sum, rounded once)",
        shapes: "x f32[N] ~ normal(1, 1) (stream 0), w f32[N] ~ uniform(0, 1) (stream 1) → s f32 scalar",
        params: &[],
        // S = Σ|w_i x_i|.
        tolerance: Tolerance::Sum { rtol: 1e-5 },
        metric: Metric::Bandwidth,
        bytes: |n| 8.0 * n as f64,
        flops: |n| 2.0 * n as f64,
    },
    KernelSpec {
        name: "reduce_weighted_mean",
        domain: Domain::Correlation,
        computes: "m = (Σ w_i x_i) / (Σ w_i) (both sums in f64, one division, rounded once)",
        shapes: "x f32[N] ~ normal(1, 1) (stream 0), w f32[N] ~ uniform(0, 1) (stream 1) → m f32 scalar",
        params: &[],
        // S = (Σ|w_i x_i| + |m|·Σ|w_i|) / |Σ w_i|, supplied by the reference.
        tolerance: Tolerance::Sum { rtol: 1e-5 },
        metric: Metric::Bandwidth,
        bytes: |n| 8.0 * n as f64,
        flops: |n| 3.0 * n as f64 + 1.0,
    },
    KernelSpec {
        name: "reduce_covariance",
        domain: Domain::Correlation,
        computes: "c = Σ (x_i − x̄)(y_i − ȳ) / (n − 1) (ddof = 1, np.cov)",
        shapes: "x f32[N] ~ normal (stream 0), y_i = f32(0.6·x_i + 0.8·z_i), z ~ normal (stream 1) → c f32 scalar",
        params: &[],
        tolerance: Tolerance::Stat { rtol: 1e-5, atol: 1e-6 },
        metric: Metric::Bandwidth,
        bytes: |n| 8.0 * n as f64,
        flops: |n| 6.0 * n as f64,
    },
    KernelSpec {
        name: "reduce_correlation",
        domain: Domain::Correlation,
        computes: "r = Σ(x_i − x̄)(y_i − ȳ) / sqrt(Σ(x_i − x̄)² · Σ(y_i − ȳ)²) (Pearson)",
        shapes: "x f32[N] ~ normal (stream 0), y_i = f32(0.6·x_i + 0.8·z_i), z ~ normal (stream 1) → r f32 scalar",
        params: &[],
        tolerance: Tolerance::Stat { rtol: 1e-5, atol: 1e-6 },
        metric: Metric::Bandwidth,
        bytes: |n| 8.0 * n as f64,
        flops: |n| 10.0 * n as f64 + 3.0,
    },
    // NOTE: the entry counts the centred Gram matrix as a full GEMM (2·64²·R flops, ≈ 32 flops per
    // byte), but names no headline metric, so the default Bandwidth is kept (§1 lists GFLOP/s only
    // for matmul and attention). Same for reduce_pearson_pairwise.
    KernelSpec {
        name: "reduce_covariance_matrix",
        domain: Domain::Correlation,
        computes: "C[j, k] = Σ_r (X[r, j] − μ_j)(X[r, k] − μ_k) / (R − 1), μ_j = (1/R) Σ_r X[r, j] (np.cov(X, rowvar=False); full symmetric 64×64)",
        shapes: "X f32[R, 64], R = max(1, ⌊N/64⌋), X[r, j] = f32(0.6·f_r + 0.8·z_rj), f_r = element r of normal stream 0, z_rj = element 64r + j of normal stream 1 → C f32[64, 64]",
        params: &[],
        tolerance: Tolerance::Stat { rtol: 1e-5, atol: 1e-6 },
        metric: Metric::Bandwidth,
        bytes: |n| {
            let r = rows(n, 64) as f64;
            4.0 * 64.0 * r + 4.0 * 4096.0
        },
        flops: |n| {
            let r = rows(n, 64) as f64;
            2.0 * 64.0 * 64.0 * r + 2.0 * 64.0 * r
        },
    },
    KernelSpec {
        name: "reduce_pearson_pairwise",
        domain: Domain::Correlation,
        computes: "P[j, k] = C[j, k] / sqrt(C[j, j] · C[k, k]), C as reduce_covariance_matrix (np.corrcoef(X, rowvar=False))",
        shapes: "X f32[R, 64], R = max(1, ⌊N/64⌋) (as reduce_covariance_matrix) → P f32[64, 64]",
        params: &[],
        tolerance: Tolerance::Stat { rtol: 1e-5, atol: 1e-6 },
        metric: Metric::Bandwidth,
        bytes: |n| {
            let r = rows(n, 64) as f64;
            4.0 * 64.0 * r + 4.0 * 4096.0
        },
        flops: |n| {
            let r = rows(n, 64) as f64;
            2.0 * 64.0 * 64.0 * r + 2.0 * 64.0 * r + 3.0 * 4096.0
        },
    },
];
