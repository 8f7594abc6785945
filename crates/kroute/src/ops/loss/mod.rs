//! loss: training-loss reductions to one f32 mean (`kernels/loss.md`), torch.nn.functional
//! semantics.

pub(crate) mod cpu;
pub(crate) mod cuda;

pub(crate) use cuda::CUDA;

use super::common::f32_rows;
use crate::op::{input, shape, Case, Op};
use crate::params::Params;
use crate::philox;
use crate::spec::{rows, Domain, KernelSpec, Metric, ParamSpec, Tolerance};
use crate::tensor::{DType, HostData, Tensor, TensorDesc};
use crate::verify::Expected;
use crate::{Error, Result};

/// The class count of cross_entropy and the row length of kl_div (fixed by the entries).
pub const C: usize = 1000;

// Every entry's sum(1e-5) uses S = (1/n) Σ |ℓ_i| (the result itself for the non-negative losses),
// supplied by the reference.
pub static SPECS: &[KernelSpec] = &[
    KernelSpec {
        name: "loss_mse",
        domain: Domain::Loss,
        computes: "ℓ = (1/n) Σ_i (p_i − t_i)²",
        shapes: "p f32[N] ~ normal(0, 1) (stream 0), t f32[N] ~ normal(0, 1) (stream 1) → ℓ f32 scalar",
        params: &[],
        tolerance: Tolerance::Sum { rtol: 1e-5 },
        metric: Metric::Bandwidth,
        bytes: |n| 8.0 * n as f64,
        flops: |n| 3.0 * n as f64 + 1.0,
    },
    KernelSpec {
        name: "loss_mae",
        domain: Domain::Loss,
        computes: "ℓ = (1/n) Σ_i |p_i − t_i| (l1_loss)",
        shapes: "p f32[N] ~ normal(0, 1) (stream 0), t f32[N] ~ normal(0, 1) (stream 1) → ℓ f32 scalar",
        params: &[],
        tolerance: Tolerance::Sum { rtol: 1e-5 },
        metric: Metric::Bandwidth,
        bytes: |n| 8.0 * n as f64,
        flops: |n| 3.0 * n as f64 + 1.0,
    },
    KernelSpec {
        name: "loss_huber",
        domain: Domain::Loss,
        computes: "d_i = p_i − t_i; ℓ_i = 0.5·d_i² if |d_i| < δ else δ·(|d_i| − 0.5·δ); ℓ = (1/n) Σ ℓ_i",
        shapes: "p f32[N] ~ normal(0, 1) (stream 0), t f32[N] ~ normal(0, 1) (stream 1) → ℓ f32 scalar",
        // NOTE: "delta > 0" is an open bound; closed-range min = smallest positive f64
        // (f64::from_bits(1)), max open-ended (f64::INFINITY).
        params: &[ParamSpec::f64("delta", 1.0, f64::from_bits(1), f64::INFINITY, "Huber threshold δ")],
        tolerance: Tolerance::Sum { rtol: 1e-5 },
        metric: Metric::Bandwidth,
        bytes: |n| 8.0 * n as f64,
        flops: |n| 5.0 * n as f64 + 1.0,
    },
    KernelSpec {
        name: "loss_cross_entropy",
        domain: Domain::Loss,
        computes: "ℓ = (1/R) Σ_r (lse_r − x[r, y_r]), lse_r = m_r + log Σ_c exp(x[r, c] − m_r), m_r = max_c x[r, c]",
        shapes: "x f32[R, 1000] ~ normal(0, 4) (stream 0), R = max(1, ⌊N/1000⌋); y u64[R] ~ randint(0, 1000) (stream 1) → ℓ f32 scalar",
        params: &[],
        tolerance: Tolerance::Sum { rtol: 1e-5 },
        metric: Metric::Bandwidth,
        bytes: |n| {
            let r = rows(n, 1000) as f64;
            4.0 * 1000.0 * r + 8.0 * r
        },
        flops: |n| {
            let r = rows(n, 1000) as f64;
            4.0 * 1000.0 * r + 4.0 * r
        },
    },
    KernelSpec {
        name: "loss_bce",
        domain: Domain::Loss,
        computes: "ℓ_i = −(y_i·max(ln p_i, −100) + (1 − y_i)·max(ln(1 − p_i), −100)); ℓ = (1/n) Σ ℓ_i",
        shapes: "p f32[N] ~ uniform(0, 1) (stream 0), y f32[N] ∈ {0, 1} ~ bernoulli(0.5) (stream 1) → ℓ f32 scalar",
        params: &[],
        tolerance: Tolerance::Sum { rtol: 1e-5 },
        metric: Metric::Bandwidth,
        bytes: |n| 8.0 * n as f64,
        flops: |n| 6.0 * n as f64 + 1.0,
    },
    KernelSpec {
        name: "loss_kl_div",
        domain: Domain::Loss,
        computes: "ℓ = (1/R) Σ_{r,c} [p_rc·ln p_rc − p_rc·lq_rc], 0·ln 0 := 0 (kl_div, reduction 'batchmean')",
        shapes: "lq = log_softmax(a), p = softmax(b) rows of 1000 (a, b ~ normal streams 0, 1; built in f64, rounded to f32), R = max(1, ⌊N/1000⌋): lq f32[R, 1000], p f32[R, 1000] → ℓ f32 scalar",
        params: &[],
        // S = (1/R) Σ |p_rc (ln p_rc − lq_rc)| (terms of both signs).
        tolerance: Tolerance::Sum { rtol: 1e-5 },
        metric: Metric::Bandwidth,
        bytes: |n| 8.0 * 1000.0 * rows(n, 1000) as f64,
        flops: |n| 4.0 * 1000.0 * rows(n, 1000) as f64 + 1.0,
    },
];

// ---- per-element terms (the definition, in f64 on the f32 inputs) ---------------------------

pub fn mse_term(p: f32, t: f32) -> f64 {
    let d = p as f64 - t as f64;
    d * d
}

pub fn mae_term(p: f32, t: f32) -> f64 {
    (p as f64 - t as f64).abs()
}

/// 0.5·d² where |d| < δ, else δ·(|d| − δ/2); NaN fails the compare and reaches the linear branch.
pub fn huber_term(p: f32, t: f32, delta: f64) -> f64 {
    let d = p as f64 - t as f64;
    if d.abs() < delta {
        0.5 * d * d
    } else {
        delta * (d.abs() - 0.5 * delta)
    }
}

/// max(v, −100) keeping NaN (torch's clamp of each log; `f64::max` would drop a NaN).
fn clamp_log(v: f64) -> f64 {
    if v < -100.0 {
        -100.0
    } else {
        v
    }
}

/// −(y·max(ln p, −100) + (1 − y)·max(ln(1 − p), −100)); ln(1 − p) as log1p(−p), which keeps it
/// where 1 − p would round (p below 2^-30 here), as the numpy peer evaluates it.
pub fn bce_term(p: f32, y: f32) -> f64 {
    let (p, y) = (p as f64, y as f64);
    -(y * clamp_log(p.ln()) + (1.0 - y) * clamp_log((-p).ln_1p()))
}

/// p·ln p − p·lq with 0·ln 0 := 0 (torch's xlogy); 0·lq is NaN for an infinite lq.
pub fn kl_term(lq: f32, p: f32) -> f64 {
    let (lq, p) = (lq as f64, p as f64);
    let xlogx = if p == 0.0 { 0.0 } else { p * p.ln() };
    xlogx - p * lq
}

// ---- shapes ----------------------------------------------------------------------------------

fn scalar_out() -> Vec<TensorDesc> {
    vec![TensorDesc::new(DType::F32, &[])]
}

/// mse, mae, huber, bce: two inputs of one length, not empty (a mean of nothing has no value).
fn pair_shapes(name: &str, i: &[&Tensor]) -> Result<Vec<TensorDesc>> {
    shape::same_len(name, i)?;
    shape::nonempty(name, i[0])?;
    Ok(scalar_out())
}

/// cross_entropy: logits rows of C and one target per row.
fn ce_shapes(i: &[&Tensor], _: &Params) -> Result<Vec<TensorDesc>> {
    let r = shape::rows_of("loss_cross_entropy", i[0], C)?;
    if i[1].len() != r {
        return Err(Error::Shape(format!(
            "loss_cross_entropy: one target per row: {r} rows of {C} logits but {} targets",
            i[1].len()
        )));
    }
    shape::nonempty("loss_cross_entropy", i[0])?;
    Ok(scalar_out())
}

/// kl_div: lq and p, rows of C each.
fn kl_shapes(i: &[&Tensor], _: &Params) -> Result<Vec<TensorDesc>> {
    shape::same_len("loss_kl_div", i)?;
    shape::rows_of("loss_kl_div", i[0], C)?;
    shape::rows_of("loss_kl_div", i[1], C)?;
    shape::nonempty("loss_kl_div", i[0])?;
    Ok(scalar_out())
}

/// The first target ≥ C as (row, value), for the Error::Value every implementation returns.
pub fn bad_target(y: &[u64]) -> Option<(usize, u64)> {
    y.iter().position(|&c| c >= C as u64).map(|r| (r, y[r]))
}

pub fn target_error(row: usize, value: u64) -> Error {
    Error::Value(format!(
        "loss_cross_entropy: class targets must lie in [0, {C}); row {row} has target {value}"
    ))
}

// ---- reference -------------------------------------------------------------------------------

/// ℓ = (Σ terms)/div and the sum class's scale S = (Σ |terms|)/div.
fn mean_expected(terms: impl Iterator<Item = f64>, div: f64) -> Vec<Expected> {
    let (s, a) = terms.fold((0.0, 0.0), |(s, a), t| (s + t, a + t.abs()));
    vec![Expected::new(DType::F32, &[], vec![s / div]).with_scale(vec![a / div])]
}

fn pair_reference(i: &[&Tensor], f: impl Fn(f32, f32) -> f64) -> Vec<Expected> {
    let (Ok(x), Ok(y)) = (i[0].as_f32(), i[1].as_f32()) else {
        return vec![];
    };
    mean_expected(x.iter().zip(y).map(|(&a, &b)| f(a, b)), x.len() as f64)
}

fn ce_reference(i: &[&Tensor], _: &Params) -> Vec<Expected> {
    let x = i[0].to_f64_vec();
    let y = i[1].as_u64().unwrap_or(&[]);
    let terms = x.chunks(C).zip(y).map(|(row, &c)| {
        let (m, s) = super::softmax::row_stats(row);
        (m + s.ln()) - row.get(c as usize).copied().unwrap_or(f64::NAN)
    });
    mean_expected(terms, y.len() as f64)
}

fn kl_reference(i: &[&Tensor], _: &Params) -> Vec<Expected> {
    let (Ok(lq), Ok(p)) = (i[0].as_f32(), i[1].as_f32()) else {
        return vec![];
    };
    mean_expected(lq.iter().zip(p).map(|(&a, &b)| kl_term(a, b)), (lq.len() / C) as f64)
}

// ---- workloads -------------------------------------------------------------------------------

/// p, t ~ normal(0, 1), streams 0 and 1.
fn normal_pair(n: usize, seed: u64, _: &Params) -> Vec<Tensor> {
    vec![
        Tensor::f32(philox::normal(seed, 0, n, 0.0, 1.0)),
        Tensor::f32(philox::normal(seed, 1, n, 0.0, 1.0)),
    ]
}

/// p ~ uniform(0, 1) (stream 0), y ∈ {0, 1} ~ bernoulli(0.5) (stream 1) as f32.
fn bce_workload(n: usize, seed: u64, _: &Params) -> Vec<Tensor> {
    let y = philox::bernoulli(seed, 1, n, 0.5);
    vec![
        Tensor::f32(philox::uniform(seed, 0, n, 0.0, 1.0)),
        Tensor::f32(y.into_iter().map(f32::from).collect()),
    ]
}

fn u64_tensor(v: Vec<u64>) -> Tensor {
    let n = v.len();
    Tensor::from_host(&[n], HostData::U64(v)).unwrap_or_else(|_| Tensor::f32(vec![]))
}

/// Logits x [R, C] ~ normal(0, 4) (stream 0), targets y u64[R] ~ randint(0, C) (stream 1).
fn ce_workload(n: usize, seed: u64, _: &Params) -> Vec<Tensor> {
    let r = rows(n as u64, C as u64) as usize;
    let y = philox::randint(seed, 1, r, 0, C as i64);
    vec![
        f32_rows(philox::normal(seed, 0, r * C, 0.0, 4.0), C),
        u64_tensor(y.into_iter().map(|c| c as u64).collect()),
    ]
}

/// Row-wise log_softmax (`log`) or softmax of f32 values, in f64 (max-subtracted, sums in index
/// order), rounded once.
fn softmax_rows(x: &[f32], log: bool) -> Vec<f32> {
    let mut out = Vec::with_capacity(x.len());
    for row in x.chunks(C) {
        let row: Vec<f64> = row.iter().map(|&v| v as f64).collect();
        let (m, s) = super::softmax::row_stats(&row);
        out.extend(row.iter().map(|&v| {
            if log {
                ((v - m) - s.ln()) as f32
            } else {
                ((v - m).exp() / s) as f32
            }
        }));
    }
    out
}

/// lq = log_softmax(a), p = softmax(b), rows of C; a, b ~ normal(0, 1), streams 0 and 1.
fn kl_workload(n: usize, seed: u64, _: &Params) -> Vec<Tensor> {
    let r = rows(n as u64, C as u64) as usize;
    let a = philox::normal(seed, 0, r * C, 0.0, 1.0);
    let b = philox::normal(seed, 1, r * C, 0.0, 1.0);
    vec![f32_rows(softmax_rows(&a, true), C), f32_rows(softmax_rows(&b, false), C)]
}

// ---- edge cases ------------------------------------------------------------------------------

/// Workload pairs (10 007 elements: two blocks and a tail) with `edits` applied as (index, p, t).
fn pair_case(label: &'static str, seed: u64, edits: &[(usize, f32, f32)]) -> Case {
    let v = normal_pair(10_007, seed, &Params::defaults(&SPECS[0]));
    Case {
        label,
        inputs: edit_pairs(v, edits),
    }
}

/// Set element k of the two inputs to (a, b) for each (k, a, b).
fn edit_pairs(mut v: Vec<Tensor>, edits: &[(usize, f32, f32)]) -> Vec<Tensor> {
    let (x, y) = v.split_at_mut(1);
    if let (Ok(x), Ok(y)) = (x[0].as_f32_mut(), y[0].as_f32_mut()) {
        for &(k, a, b) in edits {
            x[k] = a;
            y[k] = b;
        }
    }
    v
}

/// mse, mae, huber: NaN, ±inf, inf − inf, the Huber boundary |d| = δ, and values whose f32
/// squares or differences leave the f32 range.
fn regression_cases() -> Vec<Case> {
    let (inf, nan) = (f32::INFINITY, f32::NAN);
    let scaled = |label, k: f32| {
        let mut c = pair_case(label, 23, &[]);
        for t in &mut c.inputs {
            t.as_f32_mut().into_iter().flatten().for_each(|v| *v *= k);
        }
        c
    };
    vec![
        pair_case("NaN in p", 21, &[(5000, nan, 0.5)]),
        pair_case("NaN in t", 21, &[(3, 0.5, nan)]),
        pair_case("+inf in p", 21, &[(10_006, inf, 1.0)]),
        pair_case("−inf in t", 21, &[(0, 1.0, -inf)]),
        pair_case("inf − inf", 21, &[(4096, inf, inf)]),
        pair_case("−inf − (−inf)", 21, &[(7, -inf, -inf)]),
        pair_case("|d| = δ, 0 and −0", 21, &[(1, 1.0, 0.0), (2, -0.5, 0.5), (3, 0.0, -0.0)]),
        scaled("scaled by 1e-20 (squares are f32 subnormals)", 1e-20),
        scaled("scaled by 1e19 (squares overflow in f32)", 1e19),
        scaled("scaled by 5e37 (differences overflow in f32)", 5e37),
    ]
}

/// bce: the clamp at p = 0 and 1, soft targets, p outside [0, 1], NaN.
fn bce_cases() -> Vec<Case> {
    let base = |seed| bce_workload(10_007, seed, &Params::defaults(&SPECS[4]));
    let edit = |label, seed, edits: &[(usize, f32, f32)]| Case {
        label,
        inputs: edit_pairs(base(seed), edits),
    };
    let mut soft = base(25);
    soft[1] = Tensor::f32(philox::uniform(25, 2, 10_007, 0.0, 1.0));
    vec![
        edit(
            "p = 0 and 1 against y = 0 and 1 (the −100 clamp)",
            24,
            &[(0, 0.0, 1.0), (1, 1.0, 0.0), (2, 0.0, 0.0), (3, 1.0, 1.0), (9000, 1e-45, 1.0)],
        ),
        Case {
            label: "soft targets",
            inputs: soft,
        },
        edit("p > 1", 24, &[(100, 1.5, 1.0)]),
        edit("p < 0", 24, &[(100, -0.25, 0.0)]),
        edit("NaN in p", 24, &[(4097, f32::NAN, 1.0)]),
        edit("NaN in y", 24, &[(7, 0.5, f32::NAN)]),
    ]
}

/// Cross-entropy rows among workload rows: the entry's shifted row (+100) and the row whose
/// target logit is 120 below the others; a target logit of −inf; NaN; targets 0 and C − 1.
fn ce_cases() -> Vec<Case> {
    let p = Params::defaults(&SPECS[3]);
    let base = |seed| ce_workload(7 * C, seed, &p);
    let with = |v: Vec<Tensor>, f: &dyn Fn(&mut [f32], &mut [u64])| {
        let (mut x, mut y) = (v[0].clone(), v[1].clone());
        if let (Ok(xs), Ok(ys)) = (x.as_f32_mut(), y.as_u64_mut()) {
            f(xs, ys);
        }
        vec![x, y]
    };
    vec![
        Case {
            label: "a row + 100, a target 120 below equal zero logits, targets 0 and 999",
            inputs: with(base(27), &|x, y| {
                let row1: Vec<f32> = x[C..2 * C].iter().map(|v| v + 100.0).collect();
                x[2 * C..3 * C].copy_from_slice(&row1);
                y[2] = y[1];
                x[3 * C..4 * C].fill(0.0);
                x[3 * C + 400] = -120.0;
                y[3] = 400;
                y[4] = 0;
                y[5] = 999;
            }),
        },
        Case {
            label: "target logit −inf",
            inputs: with(base(27), &|x, y| x[4 * C + y[4] as usize] = f32::NEG_INFINITY),
        },
        Case {
            label: "NaN in a row",
            inputs: with(base(27), &|x, _| x[6 * C + 17] = f32::NAN),
        },
        Case {
            label: "+inf in a row",
            inputs: with(base(27), &|x, _| x[C + 3] = f32::INFINITY),
        },
    ]
}

/// kl_div: p = 0 with finite lq (term 0) and with lq = −inf (NaN); lq = −inf with p > 0 (+inf);
/// NaN.
fn kl_cases() -> Vec<Case> {
    let base = || kl_workload(5 * C, 29, &Params::defaults(&SPECS[5]));
    let with = |f: &dyn Fn(&mut [f32], &mut [f32])| {
        let mut v = base();
        let (a, b) = v.split_at_mut(1);
        if let (Ok(lq), Ok(p)) = (a[0].as_f32_mut(), b[0].as_f32_mut()) {
            f(lq, p);
        }
        v
    };
    vec![
        Case {
            label: "p = 0 with finite lq",
            inputs: with(&|_, p| {
                p[C..2 * C].fill(0.0);
                p[C + 5] = 1.0;
                p[3 * C + 999] = 0.0;
            }),
        },
        Case {
            label: "p = 0 and lq = −inf",
            inputs: with(&|lq, p| {
                p[2 * C + 1] = 0.0;
                lq[2 * C + 1] = f32::NEG_INFINITY;
            }),
        },
        Case {
            label: "lq = −inf with p > 0",
            inputs: with(&|lq, _| lq[4 * C + 999] = f32::NEG_INFINITY),
        },
        Case {
            label: "NaN in lq",
            inputs: with(&|lq, _| lq[7] = f32::NAN),
        },
    ]
}

const PT: &[crate::op::Input] = &[input("p", DType::F32), input("t", DType::F32)];

/// A mean of per-element terms over two inputs of one length (mse, mae, huber, bce).
macro_rules! pair_op {
    ($name:literal, $inputs:expr, $reference:expr, $workload:expr, $cases:expr, $cpu:path) => {
        Op {
            name: $name,
            inputs: $inputs,
            outputs: &["loss"],
            shapes: |i, _| pair_shapes($name, i),
            reference: $reference,
            workload: $workload,
            edge_cases: $cases,
            cpu: $cpu,
        }
    };
}

pub static OPS: &[Op] = &[
    pair_op!("loss_mse", PT, |i, _| pair_reference(i, mse_term), normal_pair, regression_cases, cpu::mse),
    pair_op!("loss_mae", PT, |i, _| pair_reference(i, mae_term), normal_pair, regression_cases, cpu::mae),
    pair_op!(
        "loss_huber",
        PT,
        |i, p| {
            let delta = p.get("delta");
            pair_reference(i, |a, b| huber_term(a, b, delta))
        },
        normal_pair,
        regression_cases,
        cpu::huber
    ),
    Op {
        name: "loss_cross_entropy",
        inputs: &[input("x", DType::F32), input("y", DType::U64)],
        outputs: &["loss"],
        shapes: ce_shapes,
        reference: ce_reference,
        workload: ce_workload,
        edge_cases: ce_cases,
        cpu: cpu::cross_entropy,
    },
    pair_op!(
        "loss_bce",
        &[input("p", DType::F32), input("y", DType::F32)],
        |i, _| pair_reference(i, bce_term),
        bce_workload,
        bce_cases,
        cpu::bce
    ),
    Op {
        name: "loss_kl_div",
        inputs: &[input("lq", DType::F32), input("p", DType::F32)],
        outputs: &["loss"],
        shapes: kl_shapes,
        reference: kl_reference,
        workload: kl_workload,
        edge_cases: kl_cases,
        cpu: cpu::kl_div,
    },
];
