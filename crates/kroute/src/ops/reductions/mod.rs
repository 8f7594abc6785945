//! reductions: whole-tensor reductions to one value or 256 counts (`kernels/reductions.md`).

pub(crate) mod cpu;
mod cuda;

pub(crate) use cuda::CUDA;

use crate::op::{input, shape, Case, Op};
use crate::params::Params;
use crate::philox;
use crate::spec::{Domain, KernelSpec, Metric, ParamSpec, Tolerance};
use crate::tensor::{DType, Tensor, TensorDesc};
use crate::verify::Expected;
use crate::{Error, Result};

macro_rules! red_spec {
    ($name:literal, $computes:literal, $shapes:literal, $params:expr, $tol:expr, $bytes:expr, $flops:expr) => {
        KernelSpec {
            name: $name,
            domain: Domain::Reductions,
            computes: $computes,
            shapes: $shapes,
            params: $params,
            tolerance: $tol,
            metric: Metric::Bandwidth,
            bytes: $bytes,
            flops: $flops,
        }
    };
}

const SUM: Tolerance = Tolerance::Sum { rtol: 1e-5 };
const STAT: Tolerance = Tolerance::Stat {
    rtol: 1e-5,
    atol: 0.0,
};

pub static SPECS: &[KernelSpec] = &[
    red_spec!("reduce_sum", "s = Σ x_i", "x f32[N] ~ uniform(0, 1) → s f32", &[], SUM, |n| 4.0 * n as f64, |n| n as f64),
    red_spec!("reduce_mean", "m = (Σ x_i) / n", "x f32[N] ~ uniform(0, 1) → m f32", &[], SUM, |n| 4.0 * n as f64, |n| n as f64),
    red_spec!("reduce_min", "min_i x_i (NaN if any NaN)", "x f32[N] ~ normal → f32", &[], Tolerance::Exact, |n| 4.0 * n as f64, |n| n as f64),
    red_spec!("reduce_max", "max_i x_i (NaN if any NaN)", "x f32[N] ~ normal → f32", &[], Tolerance::Exact, |n| 4.0 * n as f64, |n| n as f64),
    red_spec!("reduce_argmax", "index of the largest element; ties → lowest index; first NaN wins",
        "x f32[N] ~ normal → u64", &[], Tolerance::Exact, |n| 4.0 * n as f64, |n| n as f64),
    red_spec!("reduce_argmin", "index of the smallest element; ties → lowest index; first NaN wins",
        "x f32[N] ~ normal → u64", &[], Tolerance::Exact, |n| 4.0 * n as f64, |n| n as f64),
    red_spec!("reduce_l2", "‖x‖₂ = sqrt(Σ x_i²)", "x f32[N] ~ normal → f32", &[], STAT, |n| 4.0 * n as f64, |n| 2.0 * n as f64 + 1.0),
    red_spec!("reduce_var", "v = (1/n) Σ (x_i − m)² (ddof = 0)", "x f32[N] ~ normal(100, 1) → v f32", &[], STAT,
        |n| 4.0 * n as f64, |n| 3.0 * n as f64),
    red_spec!("reduce_stddev", "sqrt of reduce_var (ddof = 0)", "x f32[N] ~ normal(100, 1) → f32", &[], STAT,
        |n| 4.0 * n as f64, |n| 3.0 * n as f64 + 1.0),
    red_spec!("reduce_histogram",
        "counts[b], b = ⌊fl32(fl32(fl32(x − lo)·bins) / fl32(hi − lo))⌋; x = hi → last bin; outside [lo, hi] and NaN not counted",
        "x f32[N] ~ normal → counts u64[bins]",
        &[
            ParamSpec::int("bins", 256.0, 1.0, 65536.0, "number of bins"),
            ParamSpec::f32("lo", -4.0, f32::MIN as f64, f32::MAX as f64, "lower edge (lo < hi, finite)"),
            ParamSpec::f32("hi", 4.0, f32::MIN as f64, f32::MAX as f64, "upper edge (lo < hi, finite)"),
        ],
        Tolerance::Exact, |n| 4.0 * n as f64 + 8.0 * 256.0, |n| 3.0 * n as f64),
];

const X: &[crate::op::Input] = &[input("x", DType::F32)];

fn scalar_out(dtype: DType) -> Vec<TensorDesc> {
    vec![TensorDesc::new(dtype, &[])]
}

fn f32_scalar(_: &[&Tensor], _: &Params) -> Result<Vec<TensorDesc>> {
    Ok(scalar_out(DType::F32))
}

fn f32_scalar_nonempty(i: &[&Tensor], _: &Params) -> Result<Vec<TensorDesc>> {
    shape::nonempty("this reduction", i[0])?;
    Ok(scalar_out(DType::F32))
}

fn u64_scalar_nonempty(i: &[&Tensor], _: &Params) -> Result<Vec<TensorDesc>> {
    shape::nonempty("arg-reduction", i[0])?;
    Ok(scalar_out(DType::U64))
}

fn scalar(v: f64) -> Expected {
    Expected::new(DType::F32, &[], vec![v])
}

fn x64(i: &[&Tensor]) -> Vec<f64> {
    i[0].to_f64_vec()
}

/// Σx and Σ|x| in f64 (the reference sum and the sum class's condition scale).
pub fn ref_sum(x: &[f64]) -> (f64, f64) {
    (x.iter().sum(), x.iter().map(|v| v.abs()).sum())
}

/// Population variance by two passes in f64.
pub fn ref_var(x: &[f64]) -> f64 {
    let n = x.len() as f64;
    let m = x.iter().sum::<f64>() / n;
    x.iter().map(|v| (v - m) * (v - m)).sum::<f64>() / n
}

fn ref_extreme(x: &[f64], max: bool) -> f64 {
    if x.iter().any(|v| v.is_nan()) {
        return f64::NAN;
    }
    x.iter().copied().fold(
        if max {
            f64::NEG_INFINITY
        } else {
            f64::INFINITY
        },
        |a, v| {
            if max {
                a.max(v)
            } else {
                a.min(v)
            }
        },
    )
}

/// numpy's rule: the first NaN, else the first index of the extreme.
pub fn ref_arg(x: &[f64], max: bool) -> usize {
    if let Some(i) = x.iter().position(|v| v.is_nan()) {
        return i;
    }
    let mut best = 0;
    for (i, &v) in x.iter().enumerate() {
        if (max && v > x[best]) || (!max && v < x[best]) {
            best = i;
        }
    }
    best
}

/// The power of two 2^-e (e ≥ 0, smallest) with max(|lo|, |hi|)·bins·2^-e ≤ 2^126, so that
/// no step of the bin formula overflows f32: 1 for every range below 8.5e37 / bins, where the
/// formula is torch.histc's exactly (docs/kernels/reductions.md).
pub fn histogram_scale(bins: usize, lo: f32, hi: f32) -> f32 {
    let mut p = (lo.abs().max(hi.abs()) as f64) * bins as f64; // exact: 24 + 17 bits
    let mut s = 1.0f32;
    while p > 2f64.powi(126) {
        p /= 2.0;
        s /= 2.0;
    }
    s
}

/// The histogram's f32 bin formula (torch.histc's order of operations) on values scaled by
/// `scale` = `histogram_scale(bins, lo, hi)`; whether x is counted is decided unscaled.
pub fn bin_of(x: f32, bins: usize, lo: f32, hi: f32, scale: f32) -> Option<usize> {
    if x.is_nan() || x < lo || x > hi {
        return None;
    }
    let (xs, ls, hs) = (x * scale, lo * scale, hi * scale);
    let b = ((xs - ls) * bins as f32 / (hs - ls)).floor() as usize;
    Some(b.min(bins - 1))
}

fn histogram_shapes(_: &[&Tensor], p: &Params) -> Result<Vec<TensorDesc>> {
    let (lo, hi) = (p.f32("lo"), p.f32("hi"));
    if !(lo.is_finite() && hi.is_finite() && lo < hi) {
        return Err(Error::Param(format!(
            "reduce_histogram needs finite lo < hi, got lo = {lo} and hi = {hi}"
        )));
    }
    Ok(vec![TensorDesc::new(DType::U64, &[p.usize("bins")])])
}

fn cases() -> Vec<Case> {
    let mut nan_late = philox::normal(7, 0, 10_007, 0.0, 1.0);
    nan_late[5003] = f32::NAN;
    nan_late[9000] = f32::NAN;
    let mut infs = philox::normal(7, 1, 1003, 0.0, 1.0);
    infs[10] = f32::INFINITY;
    infs[20] = f32::NEG_INFINITY;
    let mut big_inf = philox::normal(7, 2, 300_007, 0.0, 1.0);
    big_inf[250_000] = f32::INFINITY;
    let ties: Vec<f32> = philox::randint(7, 3, 300_007, 0, 100)
        .into_iter()
        .map(|v| v as f32)
        .collect();
    let neg_ties: Vec<f32> = ties.iter().map(|v| -v).collect();
    let edges: Vec<f32> = [
        -4.0f32, 4.0, -4.000001, 4.000001, 3.9999998, -3.9999998, 0.0, -0.0, 0.03125, -0.03125,
    ]
    .into_iter()
    .chain((0..=256).map(|k| -4.0 + k as f32 / 32.0))
    .chain([f32::NAN, f32::INFINITY, f32::NEG_INFINITY])
    .collect();
    let t = Tensor::f32;
    vec![
        Case {
            label: "edge values",
            inputs: vec![t(super::common::edge_values())],
        },
        Case {
            label: "NaN late (two of them)",
            inputs: vec![t(nan_late)],
        },
        Case {
            label: "±inf, no NaN",
            inputs: vec![t(infs)],
        },
        Case {
            label: "+inf deep in a long input",
            inputs: vec![t(big_inf)],
        },
        Case {
            label: "ties (randint(0, 100))",
            inputs: vec![t(ties)],
        },
        Case {
            label: "ties (negated)",
            inputs: vec![t(neg_ties)],
        },
        Case {
            label: "signed zeros",
            inputs: vec![t(vec![-0.0, 0.0, -0.0, 0.0])],
        },
        Case {
            label: "denormals",
            inputs: vec![t(vec![
                1e-40,
                -1e-40,
                f32::from_bits(1),
                -f32::from_bits(3),
                1e-39,
            ])],
        },
        Case {
            label: "bin edges",
            inputs: vec![t(edges)],
        },
    ]
}

fn uniform01(n: usize, s: u64, _: &Params) -> Vec<Tensor> {
    vec![Tensor::f32(philox::uniform(s, 0, n, 0.0, 1.0))]
}
fn normal(n: usize, s: u64, _: &Params) -> Vec<Tensor> {
    vec![Tensor::f32(philox::normal(s, 0, n, 0.0, 1.0))]
}
fn normal100(n: usize, s: u64, _: &Params) -> Vec<Tensor> {
    vec![Tensor::f32(philox::normal(s, 0, n, 100.0, 1.0))]
}

pub static OPS: &[Op] = &[
    Op {
        name: "reduce_sum",
        inputs: X,
        outputs: &["s"],
        shapes: f32_scalar,
        reference: |i, _| {
            let (s, scale) = ref_sum(&x64(i));
            vec![scalar(s).with_scale(vec![scale])]
        },
        workload: uniform01,
        edge_cases: cases,
        cpu: cpu::sum,
    },
    Op {
        name: "reduce_mean",
        inputs: X,
        outputs: &["m"],
        shapes: f32_scalar_nonempty,
        reference: |i, _| {
            let x = x64(i);
            let n = x.len() as f64;
            let (s, scale) = ref_sum(&x);
            vec![scalar(s / n).with_scale(vec![scale / n])]
        },
        workload: uniform01,
        edge_cases: cases,
        cpu: cpu::mean,
    },
    Op {
        name: "reduce_min",
        inputs: X,
        outputs: &["min"],
        shapes: f32_scalar_nonempty,
        reference: |i, _| vec![scalar(ref_extreme(&x64(i), false))],
        workload: normal,
        edge_cases: cases,
        cpu: cpu::min,
    },
    Op {
        name: "reduce_max",
        inputs: X,
        outputs: &["max"],
        shapes: f32_scalar_nonempty,
        reference: |i, _| vec![scalar(ref_extreme(&x64(i), true))],
        workload: normal,
        edge_cases: cases,
        cpu: cpu::max,
    },
    Op {
        name: "reduce_argmax",
        inputs: X,
        outputs: &["index"],
        shapes: u64_scalar_nonempty,
        reference: |i, _| {
            vec![Expected::new(
                DType::U64,
                &[],
                vec![ref_arg(&x64(i), true) as f64],
            )]
        },
        workload: normal,
        edge_cases: cases,
        cpu: cpu::argmax,
    },
    Op {
        name: "reduce_argmin",
        inputs: X,
        outputs: &["index"],
        shapes: u64_scalar_nonempty,
        reference: |i, _| {
            vec![Expected::new(
                DType::U64,
                &[],
                vec![ref_arg(&x64(i), false) as f64],
            )]
        },
        workload: normal,
        edge_cases: cases,
        cpu: cpu::argmin,
    },
    Op {
        name: "reduce_l2",
        inputs: X,
        outputs: &["norm"],
        shapes: f32_scalar,
        reference: |i, _| vec![scalar(x64(i).iter().map(|v| v * v).sum::<f64>().sqrt())],
        workload: normal,
        edge_cases: cases,
        cpu: cpu::l2,
    },
    Op {
        name: "reduce_var",
        inputs: X,
        outputs: &["var"],
        shapes: f32_scalar_nonempty,
        reference: |i, _| vec![scalar(ref_var(&x64(i)))],
        workload: normal100,
        edge_cases: cases,
        cpu: cpu::var,
    },
    Op {
        name: "reduce_stddev",
        inputs: X,
        outputs: &["std"],
        shapes: f32_scalar_nonempty,
        reference: |i, _| vec![scalar(ref_var(&x64(i)).sqrt())],
        workload: normal100,
        edge_cases: cases,
        cpu: cpu::stddev,
    },
    Op {
        name: "reduce_histogram",
        inputs: X,
        outputs: &["counts"],
        shapes: histogram_shapes,
        reference: |i, p| {
            let (bins, lo, hi) = (p.usize("bins"), p.f32("lo"), p.f32("hi"));
            let scale = histogram_scale(bins, lo, hi);
            let mut counts = vec![0f64; bins];
            for &x in i[0].as_f32().unwrap_or(&[]) {
                if let Some(b) = bin_of(x, bins, lo, hi, scale) {
                    counts[b] += 1.0;
                }
            }
            vec![Expected::new(DType::U64, &[bins], counts)]
        },
        workload: normal,
        edge_cases: cases,
        cpu: cpu::histogram,
    },
];
