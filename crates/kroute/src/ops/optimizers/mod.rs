//! The optimizers domain: specs only (implementations come in a later issue).

use crate::spec::{Domain, KernelSpec, Metric, ParamSpec, Tolerance};

/// Implemented in a later tranche: no ops and no device kernels yet.
pub static OPS: &[crate::op::Op] = &[];
pub(crate) static CUDA: crate::backend::cuda::Table = crate::backend::cuda::Table::NONE;

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
        // listed) and buf elementwise(5e-7, 5e-9); buf's check needs the smaller atol.
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
        // NOTE: two outputs with different classes: total stat(5e-6) (this one, the first listed;
        // being stat-class it also keeps needs_large_n(), which the Σg² trap needs) and g
        // elementwise(6e-6, 0), the same |y − r| ≤ atol + rtol·|r| form with rtol 6e-6.
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
