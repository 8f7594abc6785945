//! The scans domain (docs/kernels/scans.md): u32 prefix sums that wrap mod 2^32, an f32 prefix
//! sum held to the `sum` class per element, and order-preserving compaction into a buffer of
//! capacity N with a u64 count.

pub(crate) mod cpu;
pub(crate) mod cuda;

pub(crate) use cuda::CUDA;

use crate::op::{input, shape, Case, Op};
use crate::philox;
use crate::spec::{Domain, KernelSpec, Metric, Tolerance};
use crate::tensor::{DType, Tensor, TensorDesc};
use crate::verify::Expected;
use crate::{Params, Result};

// NOTE: compaction bytes depend on the data (the harness uses the actual count); as functions of
// N they use the expected count N/2 (x > 0 on normal data; bernoulli(0.5) mask), which gives the
// entries' ≈ 60,000,008 and ≈ 70,000,008 B at N = 10^7. Exact for the count and bits for the
// values: on the integer count exact equality is bit equality, so Bits covers both.
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

/// A scan: y has x's length and the given element type.
fn scan_shapes(name: &str, dtype: DType, i: &[&Tensor]) -> Result<Vec<TensorDesc>> {
    Ok(vec![TensorDesc::new(dtype, &[shape::one_d(name, i[0])?])])
}

fn inclusive_shapes(i: &[&Tensor], _p: &Params) -> Result<Vec<TensorDesc>> {
    scan_shapes("scan_inclusive", DType::U32, i)
}
fn exclusive_shapes(i: &[&Tensor], _p: &Params) -> Result<Vec<TensorDesc>> {
    scan_shapes("scan_exclusive", DType::U32, i)
}
fn f32_shapes(i: &[&Tensor], _p: &Params) -> Result<Vec<TensorDesc>> {
    scan_shapes("scan_inclusive_f32", DType::F32, i)
}

/// Compaction of 1-D inputs of one length n: values f32[n] (capacity) and count u64[1].
fn compaction_shapes(name: &str, i: &[&Tensor]) -> Result<Vec<TensorDesc>> {
    for t in i {
        shape::one_d(name, t)?;
    }
    let n = shape::same_len(name, i)?;
    Ok(vec![
        TensorDesc::new(DType::F32, &[n]),
        TensorDesc::new(DType::U64, &[1]),
    ])
}
fn compact_if_shapes(i: &[&Tensor], _p: &Params) -> Result<Vec<TensorDesc>> {
    compaction_shapes("compact_if", i)
}
fn compact_mask_shapes(i: &[&Tensor], _p: &Params) -> Result<Vec<TensorDesc>> {
    compaction_shapes("compact_mask", i)
}

fn u32_scan_reference(i: &[&Tensor], inclusive: bool) -> Vec<Expected> {
    let x = i[0].as_u32().unwrap_or_default();
    let mut acc = 0u32;
    let y = x
        .iter()
        .map(|&v| {
            let before = acc;
            acc = acc.wrapping_add(v);
            (if inclusive { acc } else { before }) as f64
        })
        .collect();
    vec![Expected::new(DType::U32, &[x.len()], y)]
}
fn inclusive_reference(i: &[&Tensor], _p: &Params) -> Vec<Expected> {
    u32_scan_reference(i, true)
}
fn exclusive_reference(i: &[&Tensor], _p: &Params) -> Vec<Expected> {
    u32_scan_reference(i, false)
}

/// Prefixes in f64, with the condition scale S_i = Σ_{j ≤ i} |x_j|.
fn f32_reference(i: &[&Tensor], _p: &Params) -> Vec<Expected> {
    let x = i[0].as_f32().unwrap_or_default();
    let (mut acc, mut abs) = (0f64, 0f64);
    let (mut y, mut s) = (Vec::with_capacity(x.len()), Vec::with_capacity(x.len()));
    for &v in x {
        acc += v as f64;
        abs += (v as f64).abs();
        y.push(acc);
        s.push(abs);
    }
    vec![Expected::new(DType::F32, &[x.len()], y).with_scale(s)]
}

/// The kept words in order, in an expected capacity buffer, and their count.
fn compacted(x: &[f32], keep: impl Fn(usize) -> bool) -> Vec<Expected> {
    let mut kept: Vec<u32> = (0..x.len()).filter(|&i| keep(i)).map(|i| x[i].to_bits()).collect();
    let count = kept.len();
    kept.resize(x.len(), 0);
    vec![
        Expected::f32_bits(&[x.len()], kept).with_prefix(count),
        Expected::new(DType::U64, &[1], vec![count as f64]),
    ]
}
fn compact_if_reference(i: &[&Tensor], _p: &Params) -> Vec<Expected> {
    let x = i[0].as_f32().unwrap_or_default();
    compacted(x, |k| x[k] > 0.0)
}
fn compact_mask_reference(i: &[&Tensor], _p: &Params) -> Vec<Expected> {
    let x = i[0].as_f32().unwrap_or_default();
    let m = i[1].as_u8().unwrap_or_default();
    compacted(x, |k| m[k] != 0)
}

/// x[i] = word i of stream 0: all 32 bits vary, so the running sum wraps about every second
/// element.
fn bits_workload(n: usize, seed: u64, _p: &Params) -> Vec<Tensor> {
    vec![Tensor::u32(philox::words(seed, 0, n))]
}
fn f32_workload(n: usize, seed: u64, _p: &Params) -> Vec<Tensor> {
    vec![Tensor::f32(philox::normal(seed, 0, n, 1.0, 1.0))]
}
fn compact_if_workload(n: usize, seed: u64, _p: &Params) -> Vec<Tensor> {
    vec![Tensor::f32(philox::normal(seed, 0, n, 0.0, 1.0))]
}
fn compact_mask_workload(n: usize, seed: u64, _p: &Params) -> Vec<Tensor> {
    vec![
        Tensor::f32(philox::normal(seed, 0, n, 0.0, 1.0)),
        Tensor::u8(philox::bernoulli(seed, 1, n, 0.5)),
    ]
}

/// Lengths around the chunking of every implementation: a CUDA tile (4096, the f32 scan's
/// 8192; a chunk of a tile is 512 or 1024) and a CPU chunk (2^16), each minus and plus one;
/// `inputs(n)` makes a case's inputs.
fn awkward_cases(inputs: impl Fn(usize) -> Vec<Tensor>) -> Vec<Case> {
    const AWKWARD: [(usize, &str); 8] = [
        (1023, "1023 elements"),
        (1025, "1025 elements"),
        (4095, "4095 elements"),
        (4097, "4097 elements"),
        (8191, "8191 elements"),
        (8193, "8193 elements"),
        (65535, "65535 elements"),
        (65537, "65537 elements"),
    ];
    AWKWARD
        .iter()
        .map(|&(n, label)| Case {
            label,
            inputs: inputs(n),
        })
        .collect()
}

fn u32_cases() -> Vec<Case> {
    let mut cases = vec![
        Case {
            label: "one element",
            inputs: vec![Tensor::u32(vec![0xFFFF_FFFF])],
        },
        Case {
            label: "no elements",
            inputs: vec![Tensor::u32(vec![])],
        },
        Case {
            label: "all 0xFFFFFFFF: wraps at every step",
            inputs: vec![Tensor::u32(vec![0xFFFF_FFFF; 10_001])],
        },
    ];
    cases.extend(awkward_cases(|n| vec![Tensor::u32(philox::words(7, 0, n))]));
    cases
}

fn f32_cases() -> Vec<Case> {
    let mut nan_late = philox::normal(3, 0, 70_000, 1.0, 1.0);
    nan_late[66_000] = f32::NAN;
    let mut infs = philox::normal(4, 0, 9_000, 1.0, 1.0);
    infs[100] = f32::INFINITY;
    infs[5000] = f32::NEG_INFINITY;
    let mut cases = vec![
        Case {
            label: "a NaN in the second CPU chunk: NaN from there on",
            inputs: vec![Tensor::f32(nan_late)],
        },
        Case {
            label: "+inf, then −inf in a later tile: inf, then NaN",
            inputs: vec![Tensor::f32(infs)],
        },
        Case {
            label: "prefixes that leave the f32 range and come back (3e38 + 3e38 − 3e38)",
            inputs: vec![Tensor::f32(
                [3e38f32, 3e38, -3e38, -3e38, 1.0, f32::MAX, f32::MAX, -f32::MAX]
                    .repeat(700),
            )],
        },
        Case {
            label: "denormals and −0",
            inputs: vec![Tensor::f32(vec![
                -0.0,
                f32::from_bits(1),
                f32::from_bits(0x807F_FFFF),
                1e-40,
                -0.0,
            ])],
        },
        Case {
            label: "one element",
            inputs: vec![Tensor::f32(vec![-2.5])],
        },
        Case {
            label: "no elements",
            inputs: vec![Tensor::f32(vec![])],
        },
    ];
    cases.extend(awkward_cases(|n| {
        vec![Tensor::f32(philox::normal(8, 0, n, 1.0, 1.0))]
    }));
    cases
}

/// NaNs of both signs and payloads, ±0, ±inf, the smallest denormals of both signs, between
/// ordinary values.
fn special_floats(len: usize) -> Vec<f32> {
    const SPECIAL: [u32; 10] = [
        0x7FC0_0001, // quiet NaN with a payload: dropped by x > 0, kept by a mask
        0xFFC0_0000, // negative NaN
        0x7F80_0001, // signalling NaN
        0x8000_0000, // −0
        0x0000_0000, // +0
        0x0000_0001, // smallest positive denormal: kept (no flush to zero)
        0x8000_0001, // its negative: dropped
        0x7F80_0000, // +inf: kept
        0xFF80_0000, // −inf
        0x7F7F_FFFF, // f32::MAX
    ];
    (0..len)
        .map(|k| {
            if k % 3 == 0 {
                f32::from_bits(SPECIAL[(k / 3) % SPECIAL.len()])
            } else {
                k as f32 * 0.37 - 5.0
            }
        })
        .collect()
}

fn compact_if_cases() -> Vec<Case> {
    let mut cases = vec![
        Case {
            label: "NaNs, ±0, ±inf, denormals of both signs",
            inputs: vec![Tensor::f32(special_floats(61))],
        },
        Case {
            label: "all ≤ 0: count 0",
            inputs: vec![Tensor::f32(vec![-1.0, -0.0, 0.0, f32::NEG_INFINITY, -3.0])],
        },
        Case {
            label: "all > 0: a copy",
            inputs: vec![Tensor::f32((1..=5000).map(|k| k as f32 * 0.25).collect())],
        },
        Case {
            label: "no elements",
            inputs: vec![Tensor::f32(vec![])],
        },
    ];
    cases.extend(awkward_cases(|n| {
        vec![Tensor::f32(philox::normal(9, 0, n, 0.0, 1.0))]
    }));
    cases
}

fn compact_mask_cases() -> Vec<Case> {
    let x = |n: usize| Tensor::f32(special_floats(n));
    let mut cases = vec![
        Case {
            label: "all-one mask: a bit copy (NaN payloads, −0, denormals)",
            inputs: vec![x(61), Tensor::u8(vec![1; 61])],
        },
        Case {
            label: "all-zero mask: count 0",
            inputs: vec![x(61), Tensor::u8(vec![0; 61])],
        },
        Case {
            label: "alternating mask over NaNs and −0",
            inputs: vec![x(64), Tensor::u8((0..64).map(|k| (k % 2) as u8).collect())],
        },
        Case {
            label: "no elements",
            inputs: vec![x(0), Tensor::u8(vec![])],
        },
    ];
    cases.extend(awkward_cases(|n| {
        vec![x(n), Tensor::u8(philox::bernoulli(10, 1, n, 0.5))]
    }));
    cases
}

pub static OPS: &[Op] = &[
    Op {
        name: "scan_inclusive",
        inputs: &[input("x", DType::U32)],
        outputs: &["y"],
        shapes: inclusive_shapes,
        reference: inclusive_reference,
        workload: bits_workload,
        edge_cases: u32_cases,
        cpu: cpu::scan_inclusive,
    },
    Op {
        name: "scan_exclusive",
        inputs: &[input("x", DType::U32)],
        outputs: &["y"],
        shapes: exclusive_shapes,
        reference: exclusive_reference,
        workload: bits_workload,
        edge_cases: u32_cases,
        cpu: cpu::scan_exclusive,
    },
    Op {
        name: "scan_inclusive_f32",
        inputs: &[input("x", DType::F32)],
        outputs: &["y"],
        shapes: f32_shapes,
        reference: f32_reference,
        workload: f32_workload,
        edge_cases: f32_cases,
        cpu: cpu::scan_inclusive_f32,
    },
    Op {
        name: "compact_if",
        inputs: &[input("x", DType::F32)],
        outputs: &["values", "count"],
        shapes: compact_if_shapes,
        reference: compact_if_reference,
        workload: compact_if_workload,
        edge_cases: compact_if_cases,
        cpu: cpu::compact_if,
    },
    Op {
        name: "compact_mask",
        inputs: &[input("x", DType::F32), input("mask", DType::U8)],
        outputs: &["values", "count"],
        shapes: compact_mask_shapes,
        reference: compact_mask_reference,
        workload: compact_mask_workload,
        edge_cases: compact_mask_cases,
        cpu: cpu::compact_mask,
    },
];
