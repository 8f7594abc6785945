//! The layout domain: specs only (implementations come in a later issue).

use crate::spec::{side2, Domain, KernelSpec, Metric, Tolerance};

/// Implemented in a later tranche: no ops and no device kernels yet.
pub static OPS: &[crate::op::Op] = &[];
pub(crate) static CUDA: crate::backend::cuda::Table = crate::backend::cuda::Table::NONE;

pub static SPECS: &[KernelSpec] = &[
    KernelSpec {
        name: "transpose_2d",
        domain: Domain::Layout,
        computes: "B[j, i] = A[i, j], 0 ≤ i, j < S, out of place, B materialised row-major",
        shapes: "A f32[S×S] ~ normal(0, 1) (stream 0), S = round(√N) → B f32[S×S]",
        params: &[],
        tolerance: Tolerance::Bits,
        metric: Metric::Bandwidth,
        // NOTE: side2 clamps S to 1; the entry gives S = 0 at N = 0 (empty output), so bytes at
        // N = 0 are 8 instead of 0.
        bytes: |n| {
            let s = side2(n) as f64;
            8.0 * s * s
        },
        flops: |_n| 0.0,
    },
    KernelSpec {
        name: "repack_aos_to_soa",
        domain: Domain::Layout,
        computes: "soa[f·R + r] = aos[4r + f], f ∈ {x, y, z, w}, 0 ≤ r < R (de-interleave into four contiguous rows)",
        shapes: "aos f32[R×4] ~ normal(0, 1) (stream 0), R = ⌊N/4⌋ → soa f32[4×R]",
        params: &[],
        tolerance: Tolerance::Bits,
        metric: Metric::Bandwidth,
        bytes: |n| 32.0 * (n / 4) as f64,
        flops: |_n| 0.0,
    },
    KernelSpec {
        name: "repack_soa_to_aos",
        domain: Domain::Layout,
        computes: "aos[4r + f] = soa[f·R + r], f ∈ {0, 1, 2, 3}, 0 ≤ r < R (interleave four rows into records)",
        shapes: "soa f32[4×R] ~ normal(0, 1) (stream 0), R = ⌊N/4⌋ → aos f32[R×4]",
        params: &[],
        tolerance: Tolerance::Bits,
        metric: Metric::Bandwidth,
        bytes: |n| 32.0 * (n / 4) as f64,
        flops: |_n| 0.0,
    },
];
