//! The sorting domain: specs only (implementations come in a later issue).

use crate::spec::{Domain, KernelSpec, Metric, ParamSpec, Tolerance};

/// Implemented in a later tranche: no ops and no device kernels yet.
pub static OPS: &[crate::op::Op] = &[];
pub(crate) static CUDA: crate::backend::cuda::Table = crate::backend::cuda::Table::NONE;

// NOTE: the selections (topk_select, median_select, percentile_select) have the headline
// Gelem/s = N / median time, which has no Metric variant; Keys (Gkey/s = N / time, the same
// quantity) is used for them.
pub static SPECS: &[KernelSpec] = &[
    KernelSpec {
        name: "sort_radix",
        domain: Domain::Sorting,
        computes: "y = x sorted ascending under IEEE 754 totalOrder (u32 key k(b)); e.g. LSD radix sort",
        shapes: "x f32[N] ~ normal(0, 1) (stream 0) → y f32[N] (out of place)",
        params: &[],
        tolerance: Tolerance::Bits,
        metric: Metric::Keys,
        bytes: |n| 8.0 * n as f64,
        flops: |_n| 0.0,
    },
    KernelSpec {
        name: "sort_bitonic",
        domain: Domain::Sorting,
        computes: "sort_radix's result (ascending, totalOrder, bit-identical) by a bitonic network on P = 2^⌈log2 N⌉ slots, padding = key 0xFFFF_FFFF",
        shapes: "x f32[N] ~ normal(0, 1) (stream 0) → y f32[N]",
        params: &[],
        tolerance: Tolerance::Bits,
        metric: Metric::Keys,
        bytes: |n| 8.0 * n as f64,
        flops: |_n| 0.0,
    },
    KernelSpec {
        name: "sort_bitonic_kv",
        domain: Domain::Sorting,
        computes: "stable key–value sort: keys ascending under totalOrder, ties keep input order (composite (k(key) << 32) | position), values permuted with their keys",
        shapes: "keys f32[N] ~ normal(0, 1) (stream 0), values u32[N] = iota (values[i] = i) → keys_out f32[N], values_out u32[N]",
        params: &[],
        // NOTE: bits for keys_out, exact for values_out; on u32 values exact equality is bit
        // equality, so Bits covers both.
        tolerance: Tolerance::Bits,
        metric: Metric::Keys,
        bytes: |n| 16.0 * n as f64,
        flops: |_n| 0.0,
    },
    KernelSpec {
        name: "topk_select",
        domain: Domain::Sorting,
        computes: "the k largest elements under totalOrder, descending, with u64 indices; ties by lower index first",
        shapes: "x f32[N] ~ normal(0, 1) (stream 0) → values f32[k], indices u64[k], k = min(100, N)",
        // NOTE: the default k = min(100, N) and the valid range 1 … N depend on N; the spec stores
        // the default 100 and the range [1, 1e9], so k ≤ N (and the min(100, N) default) must be
        // applied at run time (N = 0 → Error::Param).
        params: &[ParamSpec::int("k", 100.0, 1.0, 1e9, "number of elements kept (default min(100, N), must be ≤ N)")],
        // NOTE: bits for values, exact for indices; on u64 indices exact equality is bit
        // equality, so Bits covers both.
        tolerance: Tolerance::Bits,
        metric: Metric::Keys,
        bytes: |n| 4.0 * n as f64 + 12.0 * n.min(100) as f64,
        flops: |_n| 0.0,
    },
    KernelSpec {
        name: "median_select",
        domain: Domain::Sorting,
        computes: "numpy median under totalOrder: n odd → s[(n−1)/2]; n even → f32((f64(s[n/2 − 1]) + f64(s[n/2]))/2); any NaN → NaN; by selection",
        shapes: "x f32[N] ~ normal(0, 1) (stream 0) → m f32 scalar",
        params: &[],
        tolerance: Tolerance::Exact,
        metric: Metric::Keys,
        bytes: |n| 4.0 * n as f64 + 4.0,
        flops: |_n| 2.0,
    },
    KernelSpec {
        name: "percentile_select",
        domain: Domain::Sorting,
        computes: "numpy percentile 'linear' per q in f64: h = (n − 1)·q/100, lo = ⌊h⌋, hi = min(lo + 1, n − 1), g = h − lo, a = s[lo], b = s[hi]; g ≥ 0.5 ? b − (b − a)(1 − g) : a + (b − a)g",
        shapes: "x f32[N] ~ normal(0, 1) (stream 0) → y f32[|q|] = f32[5]",
        // NOTE: the entry has one f64 list parameter q = [25, 50, 75, 90, 99] of any length ≥ 1
        // (output f32[len(q)]); ParamSpec is scalar, so the default list is spelled as five
        // parameters q0 … q4, each f64 in [0, 100]. A different length cannot be expressed here.
        params: &[
            ParamSpec::f64("q0", 25.0, 0.0, 100.0, "percentile q[0]"),
            ParamSpec::f64("q1", 50.0, 0.0, 100.0, "percentile q[1]"),
            ParamSpec::f64("q2", 75.0, 0.0, 100.0, "percentile q[2]"),
            ParamSpec::f64("q3", 90.0, 0.0, 100.0, "percentile q[3]"),
            ParamSpec::f64("q4", 99.0, 0.0, 100.0, "percentile q[4]"),
        ],
        // Exact for kroute backends; peers are checked with sum(1e-6), S = |a| + |b|.
        tolerance: Tolerance::Exact,
        metric: Metric::Keys,
        bytes: |n| 4.0 * n as f64 + 4.0 * 5.0,
        flops: |_n| 4.0 * 5.0,
    },
];
