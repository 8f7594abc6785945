//! normalization: layer, RMS, batch (training mode) and group normalisation with affine
//! parameters (`kernels/normalization.md`).

pub(crate) mod cpu;
mod cuda;

pub(crate) use cuda::CUDA;

use super::common::f32_rows;
use crate::op::{input, shape, Case, Op};
use crate::params::Params;
use crate::philox;
use crate::spec::{rows, Domain, KernelSpec, Metric, ParamSpec, Tolerance};
use crate::tensor::{DType, Tensor, TensorDesc};
use crate::verify::Expected;
use crate::{Error, Result};

/// The normalised length (layer_norm, rms_norm) or the feature count (batch_norm): the entry's
/// 1024; the sweep varies it.
const D: ParamSpec = ParamSpec::int("d", 1024.0, 1.0, 1e9, "row length (features)");

/// group_norm's group count G (the entry's 32; it must divide the channel count C = 256).
const GROUPS: ParamSpec = ParamSpec::int("groups", 32.0, 1.0, 256.0, "groups G (dividing C)");

// NOTE: "eps, range > 0" is an open bound; as a closed range its min is the smallest positive f64
// (f64::from_bits(1) = 5e-324), and the max is open-ended (f64::INFINITY).
const EPS: ParamSpec = ParamSpec::f64(
    "eps",
    1e-5,
    f64::from_bits(1),
    f64::INFINITY,
    "ε added to the biased variance inside the square root",
);

pub static SPECS: &[KernelSpec] = &[
    KernelSpec {
        name: "layer_norm",
        domain: Domain::Normalization,
        computes: "per row: μ = (1/D) Σ_j x_j, σ² = (1/D) Σ_j (x_j − μ)², y_j = γ_j (x_j − μ)/sqrt(σ² + ε) + β_j, D = 1024",
        shapes: "x f32[R, 1024] ~ normal(4, 1) (stream 0), R = max(1, ⌊N/1024⌋); γ f32[1024] ~ uniform(0.5, 1.5) (stream 1), β f32[1024] ~ normal(0, 0.1) (stream 2) → y f32[R, 1024]",
        params: &[D, EPS],
        tolerance: Tolerance::Elementwise { rtol: 1e-5, atol: 1e-5 },
        metric: Metric::Bandwidth,
        bytes: |n| 8.0 * 1024.0 * rows(n, 1024) as f64 + 8.0 * 1024.0,
        flops: |n| {
            let r = rows(n, 1024) as f64;
            7.0 * 1024.0 * r + 3.0 * r
        },
    },
    KernelSpec {
        name: "rms_norm",
        domain: Domain::Normalization,
        computes: "per row: ρ = sqrt((1/D) Σ_j x_j² + ε), y_j = γ_j · x_j / ρ, D = 1024 (no mean subtraction, no β)",
        shapes: "x f32[R, 1024] ~ normal(4, 1) (stream 0), R = max(1, ⌊N/1024⌋); γ f32[1024] ~ uniform(0.5, 1.5) (stream 1) → y f32[R, 1024]",
        params: &[D, EPS],
        tolerance: Tolerance::Elementwise { rtol: 1e-5, atol: 1e-5 },
        metric: Metric::Bandwidth,
        bytes: |n| 8.0 * 1024.0 * rows(n, 1024) as f64 + 4.0 * 1024.0,
        flops: |n| {
            let r = rows(n, 1024) as f64;
            4.0 * 1024.0 * r + 3.0 * r
        },
    },
    KernelSpec {
        name: "batch_norm",
        domain: Domain::Normalization,
        computes: "training mode, per column j: μ_j = (1/B) Σ_b x[b, j], σ²_j = (1/B) Σ_b (x[b, j] − μ_j)², y[b, j] = γ_j (x[b, j] − μ_j)/sqrt(σ²_j + ε) + β_j; outputs y, μ, σ²",
        shapes: "x f32[B, 1024] ~ normal(4, 1) (stream 0), B = max(1, ⌊N/1024⌋); γ f32[1024] ~ uniform(0.5, 1.5) (stream 1), β f32[1024] ~ normal(0, 0.1) (stream 2) → y f32[B, 1024], mean f32[1024], var f32[1024]",
        // NOTE: the entry gives two classes: y elementwise(1e-5, 1e-5), mean and var stat(1e-5)
        // (atol 0). One static class holds only one, so this is y's class, the first listed. mean
        // and var carry Stat { rtol: 1e-5, atol: 0 } in their own check (`Expected::with_tolerance`);
        // because they are stat-class, verification should include N = 10^8, which
        // needs_large_n() does not flag for Elementwise (run it by hand: `kroute verify --kernel
        // batch_norm --n 1e8`).
        params: &[D, EPS],
        tolerance: Tolerance::Elementwise { rtol: 1e-5, atol: 1e-5 },
        metric: Metric::Bandwidth,
        bytes: |n| 8.0 * 1024.0 * rows(n, 1024) as f64 + 16.0 * 1024.0,
        flops: |n| 7.0 * 1024.0 * rows(n, 1024) as f64 + 3.0 * 1024.0,
    },
    KernelSpec {
        name: "group_norm",
        domain: Domain::Normalization,
        computes: "x (B, C = 256, L = 64), G = 32 groups of 8 channels: per (b, g) μ, biased σ² over 512 elements; y[b, c, l] = γ_c (x[b, c, l] − μ_{b,⌊c/8⌋})/sqrt(σ²_{b,⌊c/8⌋} + ε) + β_c",
        shapes: "x f32[B, 256, 64] ~ normal(4, 1) (stream 0), B = max(1, ⌊N/16384⌋); γ f32[256] ~ uniform(0.5, 1.5) (stream 1), β f32[256] ~ normal(0, 0.1) (stream 2) → y f32[B, 256, 64]",
        // C = 256 and L = 64 are fixed by the workload (the input's shape gives them); the group
        // count is a parameter so the sweep can vary the group size (it must divide C).
        params: &[GROUPS, EPS],
        tolerance: Tolerance::Elementwise { rtol: 1e-5, atol: 1e-5 },
        metric: Metric::Bandwidth,
        bytes: |n| 8.0 * 16384.0 * rows(n, 16384) as f64 + 2.0 * 4.0 * 256.0,
        flops: |n| {
            let b = rows(n, 16384) as f64;
            7.0 * 16384.0 * b + 3.0 * 32.0 * b
        },
    },
];

// ---- shapes --------------------------------------------------------------------------------

/// A 1-D parameter vector of `len` (γ or β).
fn affine_vec(name: &str, what: &str, t: &Tensor, len: usize) -> Result<()> {
    match t.shape() {
        [n] if *n == len => Ok(()),
        s => Err(Error::Shape(format!(
            "{name}: {what} must be 1-D of length {len}, got shape {s:?}"
        ))),
    }
}

/// layer_norm, rms_norm and batch_norm: x rows of d, then γ (and β) of length d.
fn rows_shapes(name: &str, i: &[&Tensor], p: &Params) -> Result<usize> {
    let d = p.usize("d");
    let r = shape::rows_of(name, i[0], d)?;
    for (t, what) in i[1..].iter().zip(["γ", "β"]) {
        affine_vec(name, what, t, d)?;
    }
    Ok(r)
}

/// group_norm: x (B, C, L) with C a multiple of the group count, γ and β of length C.
/// Returns (B, C, L).
fn group_dims(i: &[&Tensor], p: &Params) -> Result<(usize, usize, usize)> {
    let g = p.usize("groups");
    let [b, c, l] = *i[0].shape() else {
        return Err(Error::Shape(format!(
            "group_norm: x must be 3-D (B, C, L), got shape {:?}",
            i[0].shape()
        )));
    };
    if c == 0 || l == 0 {
        return Err(Error::Shape(format!(
            "group_norm: a group needs elements; got C = {c}, L = {l}"
        )));
    }
    if g == 0 || c % g != 0 {
        return Err(Error::Param(format!(
            "group_norm: groups must divide the channel count C = {c}, got {g}"
        )));
    }
    for (t, what) in i[1..].iter().zip(["γ", "β"]) {
        affine_vec("group_norm", what, t, c)?;
    }
    Ok((b, c, l))
}

/// One output y shaped as x, once the inputs passed their rule.
fn y_like_x(checked: Result<&[&Tensor]>) -> Result<Vec<TensorDesc>> {
    Ok(vec![TensorDesc::new(DType::F32, checked?[0].shape())])
}

// ---- reference -----------------------------------------------------------------------------

/// (μ, biased σ²) of a run of values, two passes in f64.
fn mean_var(x: &[f64]) -> (f64, f64) {
    let n = x.len() as f64;
    let mu = x.iter().sum::<f64>() / n;
    (mu, x.iter().map(|v| (v - mu) * (v - mu)).sum::<f64>() / n)
}

/// y = γ·x̂ + β, x̂ = (x − μ)/sqrt(σ² + ε), and its condition scale 1 + |γ·x̂| + |β|.
fn normalise(x: f64, mu: f64, var: f64, eps: f64, g: f64, b: f64) -> (f64, f64) {
    let gx = g * ((x - mu) / (var + eps).sqrt());
    (gx + b, 1.0 + gx.abs() + b.abs())
}

/// An affine output y = γ·x̂ + β checked as the entry says: |y − r| ≤ 1e-5 + 1e-5·(|γ·x̂| + |β|),
/// elementwise(1e-5, 1e-5) with the relative term taken on the two terms' size rather than on
/// their sum (they cancel where y ≈ 0, and the sweep scales γ, β and x far past the atol).
fn affine_expected(shape: &[usize], v: Vec<(f64, f64)>) -> Expected {
    let (y, scale) = v.into_iter().unzip();
    Expected::new(DType::F32, shape, y)
        .with_scale(scale)
        .with_tolerance(Tolerance::Sum { rtol: 1e-5 })
}

fn layer_norm_reference(i: &[&Tensor], p: &Params) -> Vec<Expected> {
    let (d, eps) = (p.usize("d"), p.get("eps"));
    let (x, g, b) = (i[0].to_f64_vec(), i[1].to_f64_vec(), i[2].to_f64_vec());
    let mut y = Vec::with_capacity(x.len());
    for row in x.chunks(d) {
        let (mu, var) = mean_var(row);
        y.extend((0..d).map(|j| normalise(row[j], mu, var, eps, g[j], b[j])));
    }
    vec![affine_expected(i[0].shape(), y)]
}

fn rms_norm_reference(i: &[&Tensor], p: &Params) -> Vec<Expected> {
    let (d, eps) = (p.usize("d"), p.get("eps"));
    let (x, g) = (i[0].to_f64_vec(), i[1].to_f64_vec());
    let mut y = Vec::with_capacity(x.len());
    for row in x.chunks(d) {
        let rho = (row.iter().map(|v| v * v).sum::<f64>() / d as f64 + eps).sqrt();
        y.extend((0..d).map(|j| g[j] * (row[j] / rho)));
    }
    vec![Expected::new(DType::F32, i[0].shape(), y)]
}

fn batch_norm_reference(i: &[&Tensor], p: &Params) -> Vec<Expected> {
    let (d, eps) = (p.usize("d"), p.get("eps"));
    let (x, g, b) = (i[0].to_f64_vec(), i[1].to_f64_vec(), i[2].to_f64_vec());
    let stats: Vec<(f64, f64)> = (0..d)
        .map(|j| mean_var(&x[j..].iter().step_by(d).copied().collect::<Vec<_>>()))
        .collect();
    let y: Vec<(f64, f64)> = x
        .iter()
        .enumerate()
        .map(|(k, &v)| {
            let j = k % d;
            normalise(v, stats[j].0, stats[j].1, eps, g[j], b[j])
        })
        .collect();
    let stat = Tolerance::Stat {
        rtol: 1e-5,
        atol: 0.0,
    };
    vec![
        affine_expected(i[0].shape(), y),
        Expected::new(DType::F32, &[d], stats.iter().map(|s| s.0).collect()).with_tolerance(stat),
        Expected::new(DType::F32, &[d], stats.iter().map(|s| s.1).collect()).with_tolerance(stat),
    ]
}

fn group_norm_reference(i: &[&Tensor], p: &Params) -> Vec<Expected> {
    let Ok((_, c, l)) = group_dims(i, p) else {
        return vec![];
    };
    let (groups, eps) = (p.usize("groups"), p.get("eps"));
    let (x, g, b) = (i[0].to_f64_vec(), i[1].to_f64_vec(), i[2].to_f64_vec());
    let per = c / groups; // channels per group
    let mut y = Vec::with_capacity(x.len());
    for grp in x.chunks(per * l) {
        let (mu, var) = mean_var(grp);
        // The group's channels: the group index within its sample times `per`, plus k / L.
        let first = (y.len() / l) % c;
        y.extend(
            grp.iter()
                .enumerate()
                .map(|(k, &v)| normalise(v, mu, var, eps, g[first + k / l], b[first + k / l])),
        );
    }
    vec![affine_expected(i[0].shape(), y)]
}

// ---- workloads -----------------------------------------------------------------------------

/// γ ~ uniform(0.5, 1.5) (stream 1) and, with `beta`, β ~ normal(0, 0.1) (stream 2).
fn affine_tensors(seed: u64, len: usize, beta: bool) -> Vec<Tensor> {
    let mut v = vec![Tensor::f32(philox::uniform(seed, 1, len, 0.5, 1.5))];
    if beta {
        v.push(Tensor::f32(philox::normal(seed, 2, len, 0.0, 0.1)));
    }
    v
}

/// x: R = max(1, ⌊N/d⌋) rows of d ~ normal(4, 1) (stream 0); γ (and β) of d.
fn rows_workload(n: usize, seed: u64, p: &Params, beta: bool) -> Vec<Tensor> {
    let d = p.usize("d");
    let r = rows(n as u64, d as u64) as usize;
    let x = f32_rows(philox::normal(seed, 0, r * d, 4.0, 1.0), d);
    [vec![x], affine_tensors(seed, d, beta)].concat()
}

/// x (B, 256, 64) ~ normal(4, 1), B = max(1, ⌊N/16384⌋); γ, β of 256.
fn group_workload(n: usize, seed: u64, _: &Params) -> Vec<Tensor> {
    let b = rows(n as u64, 16384) as usize;
    let x = Tensor::f32(philox::normal(seed, 0, b * 16384, 4.0, 1.0))
        .reshaped(&[b, 256, 64])
        .unwrap_or_else(|_| Tensor::f32(vec![]));
    [vec![x], affine_tensors(seed, 256, true)].concat()
}

// ---- edge cases ----------------------------------------------------------------------------

/// Rows of 1024 around the entry's edge rows: workload rows, a constant row of 2.0 (σ² = 0), a
/// row from normal(16, 1) (where one-pass variance fails at any summation order), NaN, +inf,
/// −inf, both infinities, and for rms_norm a zero row.
fn edge_rows() -> Vec<f32> {
    const D: usize = 1024;
    let w = |k: u32, mu: f64| philox::normal(13, k, D, mu, 1.0);
    let mut nan = w(3, 4.0);
    nan[10] = f32::NAN;
    let mut pinf = w(4, 4.0);
    pinf[700] = f32::INFINITY;
    let mut ninf = w(5, 4.0);
    ninf[0] = f32::NEG_INFINITY;
    let mut both = w(6, 4.0);
    both[1] = f32::INFINITY;
    both[2] = f32::NEG_INFINITY;
    [
        w(0, 4.0),
        vec![2.0; D],
        w(1, 16.0),
        nan,
        pinf,
        ninf,
        both,
        vec![0.0; D],
        w(2, 4.0),
    ]
    .concat()
}

fn row_cases(beta: bool) -> Vec<Case> {
    let with = |x: Tensor| [vec![x], affine_tensors(13, 1024, beta)].concat();
    vec![
        Case {
            label: "constant, normal(16, 1), NaN, ±inf and zero rows among workload rows",
            inputs: with(f32_rows(edge_rows(), 1024)),
        },
        Case {
            label: "0 rows",
            inputs: with(f32_rows(vec![], 1024)),
        },
    ]
}

fn batch_cases() -> Vec<Case> {
    const D: usize = 1024;
    let with = |x: Tensor| [vec![x], affine_tensors(17, D, true)].concat();
    let mut x = philox::normal(17, 0, 300 * D, 4.0, 1.0);
    for (col, row, v) in [
        (3, 150, f32::NAN),
        (7, 0, f32::INFINITY),
        (9, 299, f32::NEG_INFINITY),
        (11, 5, f32::INFINITY),
        (11, 200, f32::NEG_INFINITY),
    ] {
        x[row * D + col] = v;
    }
    for r in 0..300 {
        x[r * D + 13] = 2.0; // a constant column: var exactly 0, y = β
        x[r * D + 14] = 16.0 + x[r * D + 14] - 4.0; // a column from normal(16, 1)
    }
    vec![
        Case {
            label: "B = 1 (var 0, y = β, mean = x)",
            inputs: with(f32_rows(philox::normal(17, 0, D, 4.0, 1.0), D)),
        },
        Case {
            label: "B = 300: NaN, ±inf, constant and normal(16, 1) columns",
            inputs: with(f32_rows(x, D)),
        },
    ]
}

fn group_cases() -> Vec<Case> {
    let mut x = philox::normal(19, 0, 2 * 16384, 4.0, 1.0);
    let group = |b: usize, g: usize| b * 16384 + g * 512..b * 16384 + (g + 1) * 512;
    x[group(0, 0)].fill(2.0);
    let hi = philox::normal(19, 3, 512, 16.0, 1.0);
    x[group(0, 5)].copy_from_slice(&hi);
    x[group(0, 7).start + 100] = f32::NAN;
    x[group(0, 9).start + 511] = f32::INFINITY;
    x[group(1, 31).start] = f32::NEG_INFINITY;
    let t = Tensor::f32(x)
        .reshaped(&[2, 256, 64])
        .unwrap_or_else(|_| Tensor::f32(vec![]));
    vec![Case {
        label: "constant, normal(16, 1), NaN and ±inf groups among workload groups",
        inputs: [vec![t], affine_tensors(19, 256, true)].concat(),
    }]
}

const XGB: &[crate::op::Input] = &[
    input("x", DType::F32),
    input("gamma", DType::F32),
    input("beta", DType::F32),
];

pub static OPS: &[Op] = &[
    Op {
        name: "layer_norm",
        inputs: XGB,
        outputs: &["y"],
        shapes: |i, p| y_like_x(rows_shapes("layer_norm", i, p).map(|_| i)),
        reference: layer_norm_reference,
        workload: |n, s, p| rows_workload(n, s, p, true),
        edge_cases: || row_cases(true),
        cpu: cpu::layer_norm,
    },
    Op {
        name: "rms_norm",
        inputs: &[input("x", DType::F32), input("gamma", DType::F32)],
        outputs: &["y"],
        shapes: |i, p| y_like_x(rows_shapes("rms_norm", i, p).map(|_| i)),
        reference: rms_norm_reference,
        workload: |n, s, p| rows_workload(n, s, p, false),
        edge_cases: || row_cases(false),
        cpu: cpu::rms_norm,
    },
    Op {
        name: "batch_norm",
        inputs: XGB,
        outputs: &["y", "mean", "var"],
        shapes: |i, p| {
            if rows_shapes("batch_norm", i, p)? == 0 {
                return Err(Error::Empty(
                    "batch_norm of an empty batch has no mean or variance".into(),
                ));
            }
            let d = p.usize("d");
            Ok(vec![
                TensorDesc::new(DType::F32, i[0].shape()),
                TensorDesc::new(DType::F32, &[d]),
                TensorDesc::new(DType::F32, &[d]),
            ])
        },
        reference: batch_norm_reference,
        workload: |n, s, p| rows_workload(n, s, p, true),
        edge_cases: batch_cases,
        cpu: cpu::batch_norm,
    },
    Op {
        name: "group_norm",
        inputs: XGB,
        outputs: &["y"],
        shapes: |i, p| y_like_x(group_dims(i, p).map(|_| i)),
        reference: group_norm_reference,
        workload: group_workload,
        edge_cases: group_cases,
        cpu: cpu::group_norm,
    },
];
