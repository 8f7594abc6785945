//! The sorting domain (docs/kernels/sorting.md): full sorts (keys, key–value), top-k and
//! order-statistic selection (median, percentiles) on f32 data under one bit-exact total order,
//! IEEE 754 totalOrder, compared through the u32 key `k(b)` of the entry.

pub(crate) mod cpu;
mod cuda;

pub(crate) use cuda::CUDA;

use crate::op::{input, shape, Case, Op};
use crate::philox;
use crate::spec::{Domain, KernelSpec, Metric, ParamSpec, Tolerance};
use crate::tensor::{DType, Tensor, TensorDesc};
use crate::verify::Expected;
use crate::{Error, Params, Result};

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
        // applied at run time (N = 0 → Error::Empty; k = 100 always means min(100, N)).
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

// ---- the total order ---------------------------------------------------------------------------

/// The entry's order-preserving key: unsigned order of `key(b)` is IEEE totalOrder of the f32
/// with bits b (−NaN < −inf < … < −0 < +0 < … < +inf < +NaN; every bit pattern its own key).
#[inline(always)]
pub(crate) fn key(b: u32) -> u32 {
    b ^ (((b as i32 >> 31) as u32) | 0x8000_0000)
}

/// The inverse of `key`.
#[inline(always)]
pub(crate) fn unkey(k: u32) -> u32 {
    k ^ ((((!k) as i32 >> 31) as u32) | 0x8000_0000)
}

/// A NaN of either sign (exponent all ones, mantissa not zero).
#[inline(always)]
pub(crate) fn is_nan_bits(b: u32) -> bool {
    b & 0x7FFF_FFFF > 0x7F80_0000
}

// ---- shapes and parameters -------------------------------------------------------------------

fn sort_shapes(name: &str, i: &[&Tensor]) -> Result<Vec<TensorDesc>> {
    Ok(vec![TensorDesc::new(DType::F32, &[shape::one_d(name, i[0])?])])
}
fn radix_shapes(i: &[&Tensor], _p: &Params) -> Result<Vec<TensorDesc>> {
    sort_shapes("sort_radix", i)
}
fn bitonic_shapes(i: &[&Tensor], _p: &Params) -> Result<Vec<TensorDesc>> {
    sort_shapes("sort_bitonic", i)
}

fn kv_shapes(i: &[&Tensor], _p: &Params) -> Result<Vec<TensorDesc>> {
    let n = shape::one_d("sort_bitonic_kv", i[0])?;
    let m = shape::one_d("sort_bitonic_kv", i[1])?;
    if n != m {
        return Err(Error::Shape(format!(
            "sort_bitonic_kv: keys and values must have the same length; got {n} keys and {m} values"
        )));
    }
    if n as u64 > 1u64 << 32 {
        return Err(Error::Shape(format!(
            "sort_bitonic_kv: at most 2^32 pairs (positions must fit u32), got {n}"
        )));
    }
    Ok(vec![
        TensorDesc::new(DType::F32, &[n]),
        TensorDesc::new(DType::U32, &[n]),
    ])
}

/// The k of topk_select at length n: the default 100 means min(100, n); an explicit k must lie
/// in 1 … n. An empty input has no valid k (refused as Error::Empty, see the entry).
pub(crate) fn topk_k(n: usize, p: &Params) -> Result<usize> {
    if n == 0 {
        return Err(Error::Empty(
            "topk_select of an empty input: no k in 1 … N is valid (N = 0)".into(),
        ));
    }
    let k = p.get("k");
    if k == 100.0 {
        return Ok(n.min(100));
    }
    if !(k >= 1.0 && k <= n as f64) {
        return Err(Error::Param(format!(
            "topk_select: k must lie in 1 … N = {n}, got {k}"
        )));
    }
    Ok(k as usize)
}

fn topk_shapes(i: &[&Tensor], p: &Params) -> Result<Vec<TensorDesc>> {
    let n = shape::one_d("topk_select", i[0])?;
    let k = topk_k(n, p)?;
    Ok(vec![
        TensorDesc::new(DType::F32, &[k]),
        TensorDesc::new(DType::U64, &[k]),
    ])
}

fn median_shapes(i: &[&Tensor], _p: &Params) -> Result<Vec<TensorDesc>> {
    if shape::one_d("median_select", i[0])? == 0 {
        return Err(Error::Empty(
            "median_select of an empty input has no value".into(),
        ));
    }
    Ok(vec![TensorDesc::new(DType::F32, &[])])
}

/// The percentile list q0 … q4 (f64, each in [0, 100]: Params checks the range).
pub(crate) fn percentiles(p: &Params) -> [f64; 5] {
    ["q0", "q1", "q2", "q3", "q4"].map(|q| p.get(q))
}

fn percentile_shapes(i: &[&Tensor], p: &Params) -> Result<Vec<TensorDesc>> {
    if shape::one_d("percentile_select", i[0])? == 0 {
        return Err(Error::Empty(
            "percentile_select of an empty input has no value".into(),
        ));
    }
    for q in percentiles(p) {
        if !(0.0..=100.0).contains(&q) {
            return Err(Error::Param(format!(
                "percentile_select: every q must lie in [0, 100], got {q}"
            )));
        }
    }
    Ok(vec![TensorDesc::new(DType::F32, &[5])])
}

// ---- order statistics (shared by the reference and the CPU and CUDA evaluations) ------------

/// The order-statistic ranks the median needs (0-based, into s sorted by totalOrder).
pub(crate) fn median_ranks(n: usize) -> (usize, usize) {
    if n % 2 == 1 {
        ((n - 1) / 2, (n - 1) / 2)
    } else {
        (n / 2 - 1, n / 2)
    }
}

/// numpy's median from the two middle order statistics (equal for odd n), as f32.
pub(crate) fn median_value(n: usize, a: f32, b: f32) -> f32 {
    if n % 2 == 1 {
        a
    } else {
        ((a as f64 + b as f64) / 2.0) as f32
    }
}

/// The entry's (lo, hi, g) of percentile q at length n.
pub(crate) fn percentile_at(n: usize, q: f64) -> (usize, usize, f64) {
    let h = (n - 1) as f64 * (q / 100.0);
    let lo = h.floor();
    let g = h - lo;
    let lo = (lo as usize).min(n - 1);
    (lo, (lo + 1).min(n - 1), g)
}

/// numpy's `_lerp` in f64 (from b for g ≥ 0.5), rounded once to f32.
pub(crate) fn lerp(a: f32, b: f32, g: f64) -> f32 {
    let (a, b) = (a as f64, b as f64);
    let r = if g >= 0.5 {
        b - (b - a) * (1.0 - g)
    } else {
        a + (b - a) * g
    };
    r as f32
}

/// Every rank the percentiles need, for `select` to find.
pub(crate) fn percentile_ranks(n: usize, qs: &[f64]) -> Vec<usize> {
    let mut r: Vec<usize> = qs
        .iter()
        .flat_map(|&q| {
            let (lo, hi, _) = percentile_at(n, q);
            [lo, hi]
        })
        .collect();
    r.sort_unstable();
    r.dedup();
    r
}

/// The percentiles from the selected order statistics: `stat(rank)` gives s[rank].
pub(crate) fn percentile_values(n: usize, qs: &[f64], stat: impl Fn(usize) -> f32) -> Vec<f32> {
    qs.iter()
        .map(|&q| {
            let (lo, hi, g) = percentile_at(n, q);
            lerp(stat(lo), stat(hi), g)
        })
        .collect()
}

// ---- references --------------------------------------------------------------------------------


/// x sorted by totalOrder, as bit patterns: a sort of the keys.
fn sorted_bits(x: &[u32]) -> Vec<u32> {
    let mut k: Vec<u32> = x.iter().map(|&b| key(b)).collect();
    k.sort_unstable();
    k.into_iter().map(unkey).collect()
}

fn sort_reference(i: &[&Tensor], _p: &Params) -> Vec<Expected> {
    let x = i[0].as_f32_bits().unwrap_or_default();
    vec![Expected::f32_bits(&[x.len()], sorted_bits(x))]
}

fn kv_reference(i: &[&Tensor], _p: &Params) -> Vec<Expected> {
    let x = i[0].as_f32_bits().unwrap_or_default();
    let v = i[1].as_u32().unwrap_or_default();
    let mut order: Vec<usize> = (0..x.len()).collect();
    // A stable sort by key: equal keys keep their input order.
    order.sort_by_key(|&j| key(x[j]));
    vec![
        Expected::f32_bits(&[x.len()], order.iter().map(|&j| x[j]).collect()),
        Expected::new(
            DType::U32,
            &[x.len()],
            order.iter().map(|&j| v[j] as f64).collect(),
        ),
    ]
}

fn topk_reference(i: &[&Tensor], p: &Params) -> Vec<Expected> {
    let x = i[0].as_f32_bits().unwrap_or_default();
    let k = topk_k(x.len(), p).unwrap_or(0);
    let mut order: Vec<usize> = (0..x.len()).collect();
    // Key descending, index ascending.
    order.sort_by_key(|&j| (std::cmp::Reverse(key(x[j])), j));
    order.truncate(k);
    vec![
        Expected::f32_bits(&[k], order.iter().map(|&j| x[j]).collect()),
        Expected::new(DType::U64, &[k], order.iter().map(|&j| j as f64).collect()),
    ]
}

fn median_reference(i: &[&Tensor], _p: &Params) -> Vec<Expected> {
    let x = i[0].as_f32_bits().unwrap_or_default();
    let s = sorted_bits(x);
    let m = if x.iter().any(|&b| is_nan_bits(b)) || s.is_empty() {
        f64::NAN
    } else {
        let (lo, hi) = median_ranks(s.len());
        let (a, b) = (f32::from_bits(s[lo]) as f64, f32::from_bits(s[hi]) as f64);
        // The f64 mean, rounded once (by the checker) to f32.
        if lo == hi {
            a
        } else {
            (a + b) / 2.0
        }
    };
    vec![Expected::new(DType::F32, &[], vec![m])]
}

fn percentile_reference(i: &[&Tensor], p: &Params) -> Vec<Expected> {
    let x = i[0].as_f32_bits().unwrap_or_default();
    let s = sorted_bits(x);
    let qs = percentiles(p);
    let nan = x.iter().any(|&b| is_nan_bits(b)) || s.is_empty();
    let y = qs
        .iter()
        .map(|&q| {
            if nan {
                return f64::NAN;
            }
            let (lo, hi, g) = percentile_at(s.len(), q);
            let (a, b) = (f32::from_bits(s[lo]) as f64, f32::from_bits(s[hi]) as f64);
            if g >= 0.5 {
                b - (b - a) * (1.0 - g)
            } else {
                a + (b - a) * g
            }
        })
        .collect();
    vec![Expected::new(DType::F32, &[5], y)]
}

// ---- workloads -------------------------------------------------------------------------------

fn normal_workload(n: usize, seed: u64, _p: &Params) -> Vec<Tensor> {
    vec![Tensor::f32(philox::normal(seed, 0, n, 0.0, 1.0))]
}

/// Keys ~ normal(0, 1) (stream 0) and values = iota (generated, not a stream).
fn kv_workload(n: usize, seed: u64, _p: &Params) -> Vec<Tensor> {
    vec![
        Tensor::f32(philox::normal(seed, 0, n, 0.0, 1.0)),
        Tensor::u32((0..n).map(|i| i as u32).collect()),
    ]
}

// ---- edge cases --------------------------------------------------------------------------------

/// The entry's edge-test values: NaNs of both signs, a signalling NaN, a payload NaN, ±inf, ±0,
/// ±denormals, ±FLT_MAX.
const SPECIAL: [u32; 14] = [
    0x7FC0_0000, // +NaN
    0xFFC0_0000, // −NaN
    0x7F80_0001, // signalling NaN
    0x7FFF_FFFF, // NaN with payload (the largest key)
    0x7F80_0000, // +inf
    0xFF80_0000, // −inf
    0x0000_0000, // +0
    0x8000_0000, // −0
    0x0000_0001, // +denormal
    0x8000_0001, // −denormal
    0x7F7F_FFFF, // FLT_MAX
    0xFF7F_FFFF, // −FLT_MAX
    0xFFFF_FFFF, // −NaN with the largest payload (the smallest key)
    0x807F_FFFF, // the largest −denormal
];

/// Normal data (from `seed`) with every 5th element a special value, and runs of duplicates
/// (every 97th block of 40 elements one repeated value).
fn mixed(n: usize, seed: u64) -> Vec<f32> {
    let mut x = philox::normal(seed, 0, n, 0.0, 1.0);
    for i in 0..n {
        if i % 5 == 2 {
            x[i] = f32::from_bits(SPECIAL[(i / 5) % SPECIAL.len()]);
        }
        if (i / 40) % 97 == 3 {
            x[i] = x[(i / 40) * 40];
        }
    }
    x
}

/// Normal data from `seed` without NaN (the selections' data where NaN would decide everything),
/// with ±0, ±inf, denormals and duplicates among it.
fn mixed_no_nan(n: usize, seed: u64) -> Vec<f32> {
    mixed(n, seed)
        .into_iter()
        .map(|v| if v.is_nan() { 0.5 } else { v })
        .collect()
}

fn f32_case(label: &'static str, x: Vec<f32>) -> Case {
    Case {
        label,
        inputs: vec![Tensor::f32(x)],
    }
}

/// The float inputs every kernel of the domain meets: the entry's sizes and values.
fn float_cases(selection: bool) -> Vec<Case> {
    let bits = |v: &[u32]| v.iter().map(|&b| f32::from_bits(b)).collect::<Vec<f32>>();
    let data = |n: usize, seed: u64| {
        if selection {
            mixed_no_nan(n, seed)
        } else {
            mixed(n, seed)
        }
    };
    let mut cases = vec![
        f32_case("no elements", vec![]),
        f32_case("one element (a NaN with payload)", bits(&[0x7FC0_1234])),
        f32_case("one element", vec![-2.5]),
        f32_case("two elements, +0 then −0", vec![0.0, -0.0]),
        f32_case("three elements", vec![3.0, -1.0, 2.0]),
        f32_case("the special values alone", bits(&SPECIAL)),
        f32_case("the special values reversed", {
            let mut v = bits(&SPECIAL);
            v.reverse();
            v
        }),
        f32_case("1000 elements with specials and duplicates", data(1000, 11)),
        f32_case(
            "1,000,003 elements (prime) with specials and duplicates",
            data(1_000_003, 12),
        ),
        f32_case("2^20 elements", data(1 << 20, 13)),
        f32_case("2^20 + 1 elements", data((1 << 20) + 1, 14)),
        f32_case("4095 elements", data(4095, 15)),
        f32_case("4097 elements", data(4097, 16)),
        f32_case("65537 elements", data(65537, 17)),
        f32_case("all equal (3.0 × 70,001)", vec![3.0; 70_001]),
        f32_case("all −0 and +0 alternating", {
            (0..9_999)
                .map(|i| if i % 2 == 0 { -0.0 } else { 0.0 })
                .collect()
        }),
        f32_case("sorted input", {
            let mut v = philox::normal(18, 0, 100_003, 0.0, 1.0);
            v.sort_by(|a, b| a.total_cmp(b));
            v
        }),
        f32_case("reversed input", {
            let mut v = philox::normal(19, 0, 100_003, 0.0, 1.0);
            v.sort_by(|a, b| b.total_cmp(a));
            v
        }),
        f32_case("denormals only, both signs", {
            (0..5_003u32)
                .map(|i| f32::from_bits(((i * 1_237) % 0x0080_0000) | ((i % 2) << 31)))
                .collect()
        }),
        f32_case("±inf and ±FLT_MAX runs", {
            [f32::INFINITY, f32::MAX, -f32::MAX, f32::NEG_INFINITY, 1.0].repeat(2_001)
        }),
    ];
    if selection {
        cases.push(f32_case("a NaN among 100,001 normal values", {
            let mut v = philox::normal(20, 0, 100_001, 0.0, 1.0);
            v[77_777] = f32::from_bits(0xFFC0_0000);
            v
        }));
    }
    cases
}

fn sort_cases() -> Vec<Case> {
    float_cases(false)
}

fn kv_cases() -> Vec<Case> {
    let iota = |n: usize| Tensor::u32((0..n as u32).collect());
    let mut cases: Vec<Case> = float_cases(false)
        .into_iter()
        .map(|c| {
            let n = c.inputs[0].len();
            Case {
                label: c.label,
                inputs: vec![
                    c.inputs.into_iter().next().unwrap_or(Tensor::f32(vec![])),
                    iota(n),
                ],
            }
        })
        .collect();
    cases.push(Case {
        label: "values not iota (moved with their keys)",
        inputs: vec![
            Tensor::f32(mixed(70_001, 21)),
            Tensor::u32(philox::words(21, 1, 70_001)),
        ],
    });
    cases.push(Case {
        label: "many ties: 100,003 keys from 7 values",
        inputs: vec![
            Tensor::f32(
                (0..100_003)
                    .map(|i| [1.0, -0.0, 0.0, 2.5, -1.0, f32::NAN, 1e-40][i % 7])
                    .collect(),
            ),
            iota(100_003),
        ],
    });
    cases
}

fn topk_cases() -> Vec<Case> {
    let mut cases = float_cases(false);
    cases.push(f32_case(
        "150 copies of the maximum: the first 100 positions win",
        {
            let mut v = philox::normal(22, 0, 10_000, 0.0, 1.0);
            for j in 0..150 {
                v[(j * 61 + 7) % 10_000] = 9.0;
            }
            v
        },
    ));
    cases.push(f32_case("ties straddling the k-th place", {
        (0..50_000).map(|i| ((i * 7919) % 120) as f32).collect()
    }));
    cases.push(f32_case("fewer than 100 elements: k = N", mixed(57, 23)));
    cases
}

fn selection_cases() -> Vec<Case> {
    let mut cases = float_cases(true);
    cases.extend([
        f32_case(
            "−inf and +inf as the middle pair: NaN",
            vec![f32::NEG_INFINITY, f32::INFINITY],
        ),
        f32_case(
            "−0 and +0 as the middle pair: +0",
            vec![-0.0, 0.0, -1.0, 1.0],
        ),
        f32_case(
            "±inf among finite values",
            vec![f32::INFINITY, 1.0, 2.0, f32::NEG_INFINITY, f32::INFINITY],
        ),
        f32_case(
            "x = [1, 2, 3, 4, +inf]",
            vec![1.0, 2.0, 3.0, 4.0, f32::INFINITY],
        ),
        f32_case(
            "a middle pair whose sum overflows f32",
            vec![f32::MAX, f32::MAX, -1.0, f32::INFINITY],
        ),
        f32_case(
            "smallest denormals as the middle pair",
            vec![f32::from_bits(1), f32::from_bits(1), -5.0, 5.0],
        ),
        f32_case("a NaN first", vec![f32::NAN, 1.0, 2.0]),
    ]);
    cases
}

pub static OPS: &[Op] = &[
    Op {
        name: "sort_radix",
        inputs: &[input("x", DType::F32)],
        outputs: &["y"],
        shapes: radix_shapes,
        reference: sort_reference,
        workload: normal_workload,
        edge_cases: sort_cases,
        cpu: cpu::sort_radix,
    },
    Op {
        name: "sort_bitonic",
        inputs: &[input("x", DType::F32)],
        outputs: &["y"],
        shapes: bitonic_shapes,
        reference: sort_reference,
        workload: normal_workload,
        edge_cases: sort_cases,
        cpu: cpu::sort_bitonic,
    },
    Op {
        name: "sort_bitonic_kv",
        inputs: &[input("keys", DType::F32), input("values", DType::U32)],
        outputs: &["keys_out", "values_out"],
        shapes: kv_shapes,
        reference: kv_reference,
        workload: kv_workload,
        edge_cases: kv_cases,
        cpu: cpu::sort_bitonic_kv,
    },
    Op {
        name: "topk_select",
        inputs: &[input("x", DType::F32)],
        outputs: &["values", "indices"],
        shapes: topk_shapes,
        reference: topk_reference,
        workload: normal_workload,
        edge_cases: topk_cases,
        cpu: cpu::topk_select,
    },
    Op {
        name: "median_select",
        inputs: &[input("x", DType::F32)],
        outputs: &["m"],
        shapes: median_shapes,
        reference: median_reference,
        workload: normal_workload,
        edge_cases: selection_cases,
        cpu: cpu::median_select,
    },
    Op {
        name: "percentile_select",
        inputs: &[input("x", DType::F32)],
        outputs: &["y"],
        shapes: percentile_shapes,
        reference: percentile_reference,
        workload: normal_workload,
        edge_cases: selection_cases,
        cpu: cpu::percentile_select,
    },
];
