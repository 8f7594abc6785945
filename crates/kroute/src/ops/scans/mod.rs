//! The scans domain: specs only (implementations come in a later issue).

use crate::spec::{Domain, KernelSpec, Metric, Tolerance};

/// Implemented in a later tranche: no ops and no device kernels yet.
pub static OPS: &[crate::op::Op] = &[];
pub(crate) static CUDA: crate::backend::cuda::Table = crate::backend::cuda::Table::NONE;

// NOTE: compaction bytes depend on the data (the harness uses the actual count); as functions of
// N they use the expected count N/2 (x > 0 on normal data; bernoulli(0.5) mask), which gives the
// entries' ≈ 60,000,008 and ≈ 70,000,008 B at N = 10^7.
// NOTE: compact_if and compact_mask name exact for count and bits for the values; on the integer
// count exact equality is bit equality, so Bits covers both.
pub static SPECS: &[KernelSpec] = &[
    KernelSpec {
        name: "scan_inclusive",
        domain: Domain::Scans,
        computes: "y[i] = (x[0] + … + x[i]) mod 2^32 (u32 wrapping)",
        shapes: "x u32[N] ~ bits32 (word i of stream 0) → y u32[N]",
        params: &[],
        tolerance: Tolerance::Exact,
        metric: Metric::Bandwidth,
        bytes: |n| 8.0 * n as f64,
        flops: |_n| 0.0,
    },
    KernelSpec {
        name: "scan_exclusive",
        domain: Domain::Scans,
        computes: "y[0] = 0, y[i] = (x[0] + … + x[i−1]) mod 2^32 (u32 wrapping)",
        shapes: "x u32[N] ~ bits32 (word i of stream 0) → y u32[N]",
        params: &[],
        tolerance: Tolerance::Exact,
        metric: Metric::Bandwidth,
        bytes: |n| 8.0 * n as f64,
        flops: |_n| 0.0,
    },
    KernelSpec {
        name: "scan_inclusive_f32",
        domain: Domain::Scans,
        computes: "y[i] = Σ_{j ≤ i} x[j] (f64 reference, each prefix rounded once to f32)",
        shapes: "x f32[N] ~ normal(1, 1) (stream 0) → y f32[N]",
        params: &[],
        // Per element, S_i = Σ_{j ≤ i} |x_j|.
        tolerance: Tolerance::Sum { rtol: 2e-5 },
        metric: Metric::Bandwidth,
        bytes: |n| 8.0 * n as f64,
        flops: |n| n as f64,
    },
    KernelSpec {
        name: "compact_if",
        domain: Domain::Scans,
        computes: "values = [x[i] for i in 0..N if x[i] > 0] in order, count = len(values) (NaN and ±0 dropped, denormals kept)",
        shapes: "x f32[N] ~ normal(0, 1) (stream 0) → values f32[count] (capacity N), count u64 (≈ N/2)",
        params: &[],
        tolerance: Tolerance::Bits,
        metric: Metric::Bandwidth,
        bytes: |n| {
            let count = 0.5 * n as f64;
            4.0 * n as f64 + 4.0 * count + 8.0
        },
        flops: |n| n as f64,
    },
    KernelSpec {
        name: "compact_mask",
        domain: Domain::Scans,
        computes: "values = [x[i] for i in 0..N if mask[i] ≠ 0] in order (moved as bits), count = len(values)",
        shapes: "x f32[N] ~ normal(0, 1) (stream 0), mask u8[N] ~ bernoulli(0.5) (stream 1) → values f32[count] (capacity N), count u64 (≈ N/2)",
        params: &[],
        tolerance: Tolerance::Bits,
        metric: Metric::Bandwidth,
        bytes: |n| {
            let count = 0.5 * n as f64;
            5.0 * n as f64 + 4.0 * count + 8.0
        },
        flops: |_n| 0.0,
    },
];
