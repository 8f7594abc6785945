//! optimizers: one step of SGD, SGD with momentum, Adam and AdamW, and gradient clipping, with
//! torch.optim semantics (`kernels/optimizers.md`).
//!
//! The entries update in place; here each kernel is a pure function of its inputs (the state
//! before the step) to its outputs (the state after it), which the harness allocates apart from
//! the inputs — so every timed sample starts from the same fresh state, as the issue requires,
//! and the bytes are the entries' (state read once, written once).

pub(crate) mod cpu;
mod cuda;

pub(crate) use cuda::CUDA;

use crate::op::{input, shape, Case, Op};
use crate::params::Params;
use crate::philox;
use crate::spec::{Domain, KernelSpec, Metric, ParamSpec, Tolerance};
use crate::tensor::{DType, Tensor, TensorDesc};
use crate::verify::Expected;
use crate::Result;

// NOTE: open bounds as closed ranges: "> 0" has min = smallest positive f64 (f64::from_bits(1))
// and max f64::INFINITY; "[0, 1)" (momentum, β1, β2) has max = the largest f64 below 1
// (1 − 2^−53).
const POS: f64 = f64::from_bits(1);
const BELOW_ONE: f64 = 1.0 - f64::EPSILON / 2.0;

const LR: ParamSpec = ParamSpec::f64("lr", 1e-3, POS, f64::INFINITY, "learning rate");
const BETA1: ParamSpec = ParamSpec::f64("beta1", 0.9, 0.0, BELOW_ONE, "first-moment decay β1");
const BETA2: ParamSpec = ParamSpec::f64("beta2", 0.999, 0.0, BELOW_ONE, "second-moment decay β2");
const EPS: ParamSpec = ParamSpec::f64("eps", 1e-8, 0.0, f64::INFINITY, "ε added to √v̂");
const T: ParamSpec = ParamSpec::int(
    "t",
    10.0,
    1.0,
    1e9,
    "step number after incrementing (bias corrections 1 − β^t)",
);

pub static SPECS: &[KernelSpec] = &[
    KernelSpec {
        name: "opt_sgd",
        domain: Domain::Optimizers,
        computes: "p ← p − lr·g (torch SGD, no momentum, no weight decay), in place",
        shapes: "p f32[N] ~ normal (stream 0), g f32[N] ~ normal(0, 0.01) (stream 1) → p f32[N] in place",
        params: &[LR],
        tolerance: Tolerance::Elementwise { rtol: 5e-7, atol: 1e-8 },
        metric: Metric::Bandwidth,
        bytes: |n| 12.0 * n as f64,
        flops: |n| 2.0 * n as f64,
    },
    KernelSpec {
        name: "opt_sgd_momentum",
        domain: Domain::Optimizers,
        computes: "buf ← μ·buf + g; p ← p − lr·buf (torch SGD momentum, dampening 0, no Nesterov), in place",
        shapes: "p f32[N] ~ normal (stream 0), g f32[N] ~ normal(0, 0.01) (stream 1), buf f32[N] ~ normal(0, 0.01) (stream 2) → p, buf f32[N] in place",
        params: &[LR, ParamSpec::f64("momentum", 0.9, 0.0, BELOW_ONE, "momentum μ")],
        // NOTE: two outputs with different classes: p elementwise(5e-7, 1e-8) (this one, the first
        // listed) and buf elementwise(5e-7, 5e-9); the reference gives each its own, with the
        // relative part on the update's terms (optimizers.md, "Tolerances").
        tolerance: Tolerance::Elementwise { rtol: 5e-7, atol: 1e-8 },
        metric: Metric::Bandwidth,
        bytes: |n| 20.0 * n as f64,
        flops: |n| 4.0 * n as f64,
    },
    KernelSpec {
        name: "opt_adam",
        domain: Domain::Optimizers,
        computes: "m ← β1 m + (1 − β1) g; v ← β2 v + (1 − β2) g²; m̂ = m/(1 − β1^t); v̂ = v/(1 − β2^t); p ← p − lr·m̂/(√v̂ + ε), in place",
        shapes: "p f32[N] ~ normal (stream 0), g f32[N] ~ normal(0, 0.01) (stream 1), m f32[N] ~ normal(0, 0.01) (stream 2), v f32[N] ~ uniform(0, 1e-4) (stream 3) → p, m, v f32[N] in place",
        params: &[LR, BETA1, BETA2, EPS, T],
        // NOTE: three outputs with different classes: p elementwise(5e-7, 1e-8) (this one, the
        // first listed), m elementwise(5e-7, 5e-9), v elementwise(5e-7, 1e-12).
        tolerance: Tolerance::Elementwise { rtol: 5e-7, atol: 1e-8 },
        metric: Metric::Bandwidth,
        bytes: |n| 28.0 * n as f64,
        flops: |n| 14.0 * n as f64,
    },
    KernelSpec {
        name: "opt_adamw",
        domain: Domain::Optimizers,
        computes: "p ← p·(1 − lr·λ), then the opt_adam step on the decayed p, in place",
        shapes: "p f32[N] ~ normal (stream 0), g f32[N] ~ normal(0, 0.01) (stream 1), m f32[N] ~ normal(0, 0.01) (stream 2), v f32[N] ~ uniform(0, 1e-4) (stream 3) → p, m, v f32[N] in place",
        params: &[
            LR,
            BETA1,
            BETA2,
            EPS,
            T,
            ParamSpec::f64("weight_decay", 0.01, 0.0, f64::INFINITY, "decoupled weight decay λ"),
        ],
        // NOTE: as opt_adam: p elementwise(5e-7, 1e-8) (this one), m elementwise(5e-7, 5e-9),
        // v elementwise(5e-7, 1e-12).
        tolerance: Tolerance::Elementwise { rtol: 5e-7, atol: 1e-8 },
        metric: Metric::Bandwidth,
        bytes: |n| 28.0 * n as f64,
        flops: |n| 15.0 * n as f64,
    },
    KernelSpec {
        name: "grad_clip_norm",
        domain: Domain::Optimizers,
        computes: "total = √(Σ g_i²); coef = min(1, c/(total + 1e-6)); g ← g·coef; returns total (torch clip_grad_norm_)",
        shapes: "g f32[N], g_i = z_i + copysign(1, z_i), z ~ normal (stream 0) → g f32[N] in place, total f32 scalar",
        params: &[ParamSpec::f64("max_norm", 1.0, POS, f64::INFINITY, "max_norm c")],
        // NOTE: two outputs with different classes: total stat(5e-6) (this one; being stat-class
        // it also keeps needs_large_n(), which the Σg² trap needs) and g elementwise(6e-6,
        // 2^-149), each set by the reference.
        tolerance: Tolerance::Stat { rtol: 5e-6, atol: 0.0 },
        metric: Metric::Bandwidth,
        bytes: |n| 8.0 * n as f64 + 4.0,
        flops: |n| 3.0 * n as f64 + 3.0,
    },
    KernelSpec {
        name: "grad_clip_value",
        domain: Domain::Optimizers,
        computes: "g_i ← min(max(g_i, −c), c) (torch clip_grad_value_; NaN kept), in place",
        shapes: "g f32[N] ~ normal(0, 0.01) (stream 0) → g f32[N] in place",
        // "> 0": min = smallest positive f32 (f32::from_bits(1)); an f32 parameter.
        params: &[ParamSpec::f32("clip_value", 0.01, f32::from_bits(1) as f64, f64::INFINITY, "clip value c (both bounds ±c)")],
        tolerance: Tolerance::Exact,
        metric: Metric::Bandwidth,
        bytes: |n| 8.0 * n as f64,
        flops: |n| 2.0 * n as f64,
    },
];

// ---- constants (the entries' Notes: derived in f64, rounded once to f32) --------------------

pub(crate) use super::common::f32_ok;

/// One Adam/AdamW step's constants: β1, 1 − β1, β2, 1 − β2, lr/bc1, √bc2, ε and the decay
/// factor 1 − lr·λ (1 for Adam), in f64; `f32s` rounds each once.
#[derive(Clone, Copy, Debug)]
pub struct AdamConsts {
    pub b1: f64,
    pub c1: f64,
    pub b2: f64,
    pub c2: f64,
    pub step: f64,
    pub sbc2: f64,
    pub eps: f64,
    pub wd: f64,
    /// lr and bc2 themselves, for the f64 evaluation.
    pub lr: f64,
    pub bc1: f64,
    pub bc2: f64,
}

impl AdamConsts {
    pub fn new(p: &Params, decay: bool) -> AdamConsts {
        let (lr, b1, b2, eps, t) = (p.get("lr"), p.get("beta1"), p.get("beta2"), p.get("eps"), p.get("t"));
        let bc1 = 1.0 - b1.powf(t);
        let bc2 = 1.0 - b2.powf(t);
        let wd = if decay { 1.0 - lr * p.get("weight_decay") } else { 1.0 };
        AdamConsts {
            b1,
            c1: 1.0 - b1,
            b2,
            c2: 1.0 - b2,
            step: lr / bc1,
            sbc2: bc2.sqrt(),
            eps,
            wd,
            lr,
            bc1,
            bc2,
        }
    }
    /// [β1, 1 − β1, β2, 1 − β2, lr/bc1, √bc2, ε, 1 − lr·λ] as f32.
    pub fn f32s(&self) -> [f32; 8] {
        [self.b1, self.c1, self.b2, self.c2, self.step, self.sbc2, self.eps, self.wd].map(|c| c as f32)
    }
    /// Whether every constant is fine as an f32 (else the step runs in f64).
    pub fn narrow(&self) -> bool {
        [self.b1, self.c1, self.b2, self.c2, self.step, self.sbc2, self.eps, self.wd]
            .iter()
            .all(|&c| f32_ok(c))
    }
}

/// min(1, c/(total + 1e-6)), NaN for a NaN total (np.minimum, not Python's min).
pub fn clip_coef(total: f64, c: f64) -> f64 {
    if total.is_nan() {
        f64::NAN
    } else {
        (c / (total + 1e-6)).min(1.0)
    }
}

// ---- shapes ----------------------------------------------------------------------------------

/// Every input of one length; one output per listed input, shaped as the first.
fn state_shapes(name: &str, i: &[&Tensor], outs: usize) -> Result<Vec<TensorDesc>> {
    shape::same_len(name, i)?;
    Ok(vec![TensorDesc::new(DType::F32, i[0].shape()); outs])
}

// ---- reference -------------------------------------------------------------------------------

/// The entries' elementwise(rtol, atol) for p, buf or m, and v, with the relative part taken on
/// the terms of each update (docs/kernels/optimizers.md, "Tolerances").
const P_TOL: (f64, f64) = (5e-7, 1e-8);
const M_TOL: (f64, f64) = (5e-7, 5e-9);
const V_TOL: (f64, f64) = (5e-7, 1e-12);

/// a + b with its terms' size |a| + |b|.
fn sum2(a: f64, b: f64) -> (f64, f64) {
    (a + b, a.abs() + b.abs())
}

fn expected(shape: &[usize], v: Vec<(f64, f64)>, (rtol, atol): (f64, f64)) -> Expected {
    super::common::terms_expected(shape, v, rtol, atol)
}

/// The new state as the f32 tensor that holds it, which the parameter update then reads (torch's
/// kernels, and every implementation here): it differs from the f64 value only where that
/// overflows f32 (buf = 0.9·2e38 + 2e38 is inf, and so is p's step).
fn stored(x: f64) -> f64 {
    x as f32 as f64
}

/// One f32 subnormal step, 2^-149.
const TINY: f64 = 1.401298464324817e-45;

/// Whether a stored state value is an f32 subnormal: there a second rounding, which every f32
/// evaluation of the update makes, moves it by a whole step of 2^-149, and p's step with it
/// (optimizers.md, "Tolerances").
fn subnormal(x: f64) -> bool {
    x.abs() < f32::MIN_POSITIVE as f64
}

fn sgd_reference(i: &[&Tensor], p: &Params) -> Vec<Expected> {
    let lr = p.get("lr");
    let (w, g) = (i[0].to_f64_vec(), i[1].to_f64_vec());
    let y = w.iter().zip(&g).map(|(w, g)| sum2(*w, -lr * g)).collect();
    vec![expected(i[0].shape(), y, P_TOL)]
}

fn momentum_reference(i: &[&Tensor], p: &Params) -> Vec<Expected> {
    let (lr, mu) = (p.get("lr"), p.get("momentum"));
    let (w, g, b) = (i[0].to_f64_vec(), i[1].to_f64_vec(), i[2].to_f64_vec());
    let buf: Vec<(f64, f64)> = b.iter().zip(&g).map(|(b, g)| sum2(mu * b, *g)).collect();
    // p's step is lr·buf, and buf's error is relative to its terms: the step's size is lr·S_buf.
    let w = w
        .iter()
        .zip(&buf)
        .map(|(w, b)| {
            let bs = stored(b.0);
            let unc = if subnormal(bs) { lr * TINY } else { 0.0 };
            (w - lr * bs, w.abs() + lr * b.1 + unc / P_TOL.0)
        })
        .collect();
    let s = i[0].shape();
    vec![expected(s, w, P_TOL), expected(s, buf, M_TOL)]
}

fn adam_reference(i: &[&Tensor], p: &Params, decay: bool) -> Vec<Expected> {
    let k = AdamConsts::new(p, decay);
    let [w, g, m, v] = [0, 1, 2, 3].map(|j| i[j].to_f64_vec());
    adam_expected(i[0].shape(), &k, &w, &g, &m, &v)
}

/// The new p, m and v of one Adam/AdamW step from the state and gradient in f64 (also
/// fused_adam_clip_update's, on the clipped gradient).
pub(crate) fn adam_expected(s: &[usize], k: &AdamConsts, w: &[f64], g: &[f64], m: &[f64], v: &[f64]) -> Vec<Expected> {
    let m: Vec<(f64, f64)> = m.iter().zip(g).map(|(m, g)| sum2(k.b1 * m, k.c1 * g)).collect();
    let v: Vec<(f64, f64)> = v.iter().zip(g).map(|(v, g)| sum2(k.b2 * v, k.c2 * (g * g))).collect();
    // The step's size is taken on m's terms (m's error is relative to them, not to m).
    let w = (0..w.len())
        .map(|j| {
            let (mj, vj) = (stored(m[j].0), stored(v[j].0));
            let denom = (vj / k.bc2).sqrt() + k.eps;
            let (pw, step) = (w[j] * k.wd, k.lr * (mj / k.bc1) / denom);
            let mut unc = 0.0;
            if subnormal(mj) {
                unc += k.lr / k.bc1 * TINY / denom;
            }
            if subnormal(vj) {
                let moved = ((vj.abs() + TINY) / k.bc2).sqrt() - (vj.abs() / k.bc2).sqrt();
                unc += step.abs() * moved / denom;
            }
            (pw - step, pw.abs() + k.lr * (m[j].1 / k.bc1) / denom + unc / P_TOL.0)
        })
        .collect();
    vec![expected(s, w, P_TOL), expected(s, m, M_TOL), expected(s, v, V_TOL)]
}

fn clip_norm_reference(i: &[&Tensor], p: &Params) -> Vec<Expected> {
    let g = i[0].to_f64_vec();
    let total = g.iter().map(|v| v * v).sum::<f64>().sqrt();
    let coef = clip_coef(total, p.get("max_norm"));
    vec![
        Expected::new(DType::F32, i[0].shape(), g.iter().map(|v| v * coef).collect())
            .with_tolerance(Tolerance::Elementwise { rtol: 6e-6, atol: f32::from_bits(1) as f64 }),
        Expected::new(DType::F32, &[], vec![total]).with_tolerance(Tolerance::Stat { rtol: 5e-6, atol: 0.0 }),
    ]
}

fn clip_value_reference(i: &[&Tensor], p: &Params) -> Vec<Expected> {
    let c = p.f32("clip_value") as f64;
    let g = i[0].to_f64_vec();
    let y = g.iter().map(|&v| if v.is_nan() { v } else { v.max(-c).min(c) }).collect();
    vec![Expected::new(DType::F32, i[0].shape(), y)]
}

// ---- workloads -------------------------------------------------------------------------------

/// p ~ normal (stream 0), g ~ normal(0, 0.01) (stream 1), then the state tensors: `state` of
/// normal(0, 0.01) (stream 2: buf or m) and, with `v`, v ~ uniform(0, 1e-4) (stream 3).
fn state_workload(n: usize, seed: u64, m: bool, v: bool) -> Vec<Tensor> {
    let mut t = vec![
        Tensor::f32(philox::normal(seed, 0, n, 0.0, 1.0)),
        Tensor::f32(philox::normal(seed, 1, n, 0.0, 0.01)),
    ];
    if m {
        t.push(Tensor::f32(philox::normal(seed, 2, n, 0.0, 0.01)));
    }
    if v {
        t.push(Tensor::f32(philox::uniform(seed, 3, n, 0.0, 1e-4)));
    }
    t
}

/// g_i = z_i + copysign(1, z_i), z ~ normal (stream 0): every |g_i| ≥ 1, so clipping happens.
fn clip_norm_workload(n: usize, seed: u64, _: &Params) -> Vec<Tensor> {
    let z = philox::normal(seed, 0, n, 0.0, 1.0);
    vec![Tensor::f32(z.iter().map(|&z| (z as f64 + 1f64.copysign(z as f64)) as f32).collect())]
}

// ---- edge cases ------------------------------------------------------------------------------

/// The workload at 10 007 (two blocks and a tail) with `edits` as (input, index, value).
fn edited(mut t: Vec<Tensor>, edits: &[(usize, usize, f32)]) -> Vec<Tensor> {
    for &(j, k, v) in edits {
        if let Ok(x) = t[j].as_f32_mut() {
            x[k] = v;
        }
    }
    t
}

/// NaN and ±inf in each input in turn (element-wise propagation only), zero state, tiny v and g.
fn state_cases(m: bool, v: bool) -> Vec<Case> {
    let inputs = 2 + m as usize + v as usize;
    let base = || state_workload(10_007, 31, m, v);
    let (nan, inf) = (f32::NAN, f32::INFINITY);
    let mut cases = vec![Case {
        label: "NaN in each input (element-wise)",
        inputs: edited(base(), &(0..inputs).map(|j| (j, 17 * j + 3, nan)).collect::<Vec<_>>()),
    }];
    cases.push(Case {
        label: "±inf in p and g, NaN late",
        inputs: edited(base(), &[(0, 5, inf), (0, 6, -inf), (1, 4100, inf), (1, 4101, -inf), (1, 10_006, nan)]),
    });
    let mut zero = base();
    for t in &mut zero[1..] {
        t.as_f32_mut().into_iter().flatten().for_each(|x| *x = 0.0);
    }
    cases.push(Case {
        label: "zero gradient and state",
        inputs: zero,
    });
    if v {
        // Tiny v and g: a large step, Adam's math.
        cases.push(Case {
            label: "tiny v and g",
            inputs: edited(base(), &[(1, 8, 1e-30), (2, 8, 0.0), (3, 8, 1e-40), (1, 9, -1e-20), (3, 9, 0.0)]),
        });
    }
    cases
}

fn clip_norm_cases() -> Vec<Case> {
    let base = || clip_norm_workload(10_007, 33, &Params::defaults(&SPECS[4]));
    vec![
        Case {
            label: "NaN anywhere: every element NaN",
            inputs: edited(base(), &[(0, 5000, f32::NAN)]),
        },
        Case {
            label: "+inf: total inf, coef 0, the inf element NaN",
            inputs: edited(base(), &[(0, 77, f32::INFINITY)]),
        },
        Case {
            label: "below max_norm: coef 1",
            inputs: vec![Tensor::f32(vec![0.25, -0.5, 1e-3, 0.0, -0.0, 0.125, 1e-40])],
        },
        Case {
            label: "values near 1e19 and 1e-25 (squares leave the f32 range)",
            inputs: vec![Tensor::f32(vec![1e19, -3e19, 2e-25, 1.0, 4e19, -1e-25, 7.5e18])],
        },
    ]
}

fn clip_value_cases() -> Vec<Case> {
    let c = 0.01f32;
    let mut v = super::common::edge_values();
    v.extend([c, -c, f32::from_bits(c.to_bits() + 1), -f32::from_bits(c.to_bits() + 1), 0.009, -0.011]);
    vec![Case {
        label: "edge values, ±c and one ulp beyond",
        inputs: vec![Tensor::f32(v)],
    }]
}

const PG: &[crate::op::Input] = &[input("p", DType::F32), input("g", DType::F32)];
const PGB: &[crate::op::Input] = &[input("p", DType::F32), input("g", DType::F32), input("buf", DType::F32)];
const PGMV: &[crate::op::Input] = &[
    input("p", DType::F32),
    input("g", DType::F32),
    input("m", DType::F32),
    input("v", DType::F32),
];
const G: &[crate::op::Input] = &[input("g", DType::F32)];

/// An optimizer step: the state tensors in, the new state out (the first `outputs`), with the
/// workload's optional m/buf (stream 2) and v (stream 3).
macro_rules! step_op {
    ($name:literal, $inputs:expr, $outputs:expr, $reference:expr, $m:expr, $v:expr, $cpu:path) => {
        Op {
            name: $name,
            inputs: $inputs,
            outputs: $outputs,
            shapes: |i, _| state_shapes($name, i, $outputs.len()),
            reference: $reference,
            workload: |n, s, _| state_workload(n, s, $m, $v),
            edge_cases: || state_cases($m, $v),
            cpu: $cpu,
        }
    };
}

pub static OPS: &[Op] = &[
    step_op!("opt_sgd", PG, &["p"], sgd_reference, false, false, cpu::sgd),
    step_op!("opt_sgd_momentum", PGB, &["p", "buf"], momentum_reference, true, false, cpu::sgd_momentum),
    step_op!("opt_adam", PGMV, &["p", "m", "v"], |i, p| adam_reference(i, p, false), true, true, cpu::adam),
    step_op!("opt_adamw", PGMV, &["p", "m", "v"], |i, p| adam_reference(i, p, true), true, true, cpu::adamw),
    Op {
        name: "grad_clip_norm",
        inputs: G,
        outputs: &["g", "total"],
        shapes: |i, _| {
            Ok(vec![
                TensorDesc::new(DType::F32, i[0].shape()),
                TensorDesc::new(DType::F32, &[]),
            ])
        },
        reference: clip_norm_reference,
        workload: clip_norm_workload,
        edge_cases: clip_norm_cases,
        cpu: cpu::clip_norm,
    },
    Op {
        name: "grad_clip_value",
        inputs: G,
        outputs: &["g"],
        shapes: |i, _| state_shapes("grad_clip_value", i, 1),
        reference: clip_value_reference,
        workload: |n, s, _| vec![Tensor::f32(philox::normal(s, 0, n, 0.0, 0.01))],
        edge_cases: clip_value_cases,
        cpu: cpu::clip_value,
    },
];
