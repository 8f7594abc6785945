//! The linalg domain: specs only (implementations come in a later issue).

use crate::spec::{rows, side2, Domain, KernelSpec, Metric, Tolerance};

/// Implemented in a later tranche: no ops and no device kernels yet.
pub static OPS: &[crate::op::Op] = &[];
pub(crate) static CUDA: crate::backend::cuda::Table = crate::backend::cuda::Table::NONE;

// NOTE: n = round(√N) is computed with side2, which clamps to 1; the entries give n = 0 at N = 0
// (empty output), so bytes/flops at N = 0 describe a 1×1 problem rather than 0.
pub static SPECS: &[KernelSpec] = &[
    KernelSpec {
        name: "matmul_batched",
        domain: Domain::Linalg,
        computes: "C_b = A_b·B_b, (C_b)_ij = Σ_{k<128} (A_b)_ik (B_b)_kj, B independent 128×128 products",
        shapes: "A f32[B, 128, 128] ~ normal (stream 0), Bm f32[B, 128, 128] ~ normal (stream 1), B = max(1, ⌊N/16384⌋) → C f32[B, 128, 128]",
        params: &[],
        tolerance: Tolerance::Norm { rtol: 1e-5 },
        metric: Metric::Flops,
        bytes: |n| 3.0 * 4.0 * 16384.0 * rows(n, 16384) as f64,
        flops: |n| 2.0 * 128.0 * 128.0 * 128.0 * rows(n, 16384) as f64,
    },
    KernelSpec {
        name: "matvec",
        domain: Domain::Linalg,
        computes: "y = A·x, y_i = Σ_{j<n} A_ij x_j",
        shapes: "A f32[n, n] ~ normal (stream 0), x f32[n] ~ normal (stream 1), n = round(√N) → y f32[n]",
        params: &[],
        // Per output, S_i = Σ_j |A_ij x_j|.
        tolerance: Tolerance::Sum { rtol: 1e-5 },
        metric: Metric::Bandwidth,
        bytes: |n| {
            let m = side2(n) as f64;
            4.0 * (m * m + 2.0 * m)
        },
        flops: |n| {
            let m = side2(n) as f64;
            2.0 * m * m
        },
    },
    KernelSpec {
        name: "outer_product",
        domain: Domain::Linalg,
        computes: "A = x·yᵀ, A_ij = x_i·y_j, materialised n×n",
        shapes: "x f32[n] ~ normal (stream 0), y f32[n] ~ normal (stream 1), n = round(√N) → A f32[n, n]",
        params: &[],
        tolerance: Tolerance::Exact,
        metric: Metric::Bandwidth,
        bytes: |n| {
            let m = side2(n) as f64;
            4.0 * (m * m + 2.0 * m)
        },
        flops: |n| {
            let m = side2(n) as f64;
            m * m
        },
    },
    KernelSpec {
        name: "spmv_csr",
        domain: Domain::Linalg,
        computes: "y = A·x for n×n CSR A: y_i = Σ_{p=row_ptr[i]}^{row_ptr[i+1]−1} val[p]·x[col[p]]",
        shapes: "n = max(1, ⌊N/10⌋), w = min(10, n) nonzeros per row, nnz = w·n; row_ptr u32[n+1] = w·i, col u32[nnz] stratified randint (stream 1), val f32[nnz] ~ normal (stream 0), x f32[n] ~ normal (stream 2) → y f32[n]",
        params: &[],
        // Per row, S_i = Σ_p |val[p]·x[col[p]]|.
        tolerance: Tolerance::Sum { rtol: 1e-6 },
        metric: Metric::Bandwidth,
        bytes: |n| {
            let m = rows(n, 10);
            let nnz = (m.min(10) * m) as f64;
            8.0 * nnz + 12.0 * m as f64 + 4.0
        },
        flops: |n| {
            let m = rows(n, 10);
            2.0 * (m.min(10) * m) as f64
        },
    },
    KernelSpec {
        name: "triangular_solve",
        domain: Domain::Linalg,
        computes: "solve L·y = b, L dense lower-triangular: y_i = (b_i − Σ_{j<i} L_ij y_j)/L_ii (forward substitution)",
        shapes: "L f32[n, n]: L_ij ~ normal(0, 1/n) for j < i (stream 0), L_ii ~ uniform(1, 2) (stream 1), 0 above; b f32[n] ~ normal (stream 2), n = round(√N) → y f32[n]",
        params: &[],
        tolerance: Tolerance::Norm { rtol: 1e-6 },
        metric: Metric::Bandwidth,
        bytes: |n| {
            let m = side2(n) as f64;
            4.0 * m * (m + 1.0) / 2.0 + 8.0 * m
        },
        flops: |n| {
            let m = side2(n) as f64;
            m * m
        },
    },
];
