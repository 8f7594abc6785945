//! activations: neural-network maps of one f32 input (`kernels/activations.md`).

pub(crate) mod cpu;
mod cuda;

pub(crate) use cuda::CUDA;

use super::common::*;
use crate::op::{input, Op};
use crate::philox;
use crate::spec::{Domain, KernelSpec, Metric, ParamSpec, Tolerance};
use crate::tensor::{DType, Tensor};

const TOL: Tolerance = Tolerance::Elementwise {
    rtol: 4e-6,
    atol: 1e-6,
};

macro_rules! act_spec {
    ($name:literal, $computes:literal, $params:expr, $tol:expr, $flops:literal) => {
        KernelSpec {
            name: $name,
            domain: Domain::Activations,
            computes: $computes,
            shapes: "x f32[N] ~ normal(0, 3) → y f32[N]",
            params: $params,
            tolerance: $tol,
            metric: Metric::Bandwidth,
            bytes: |n| 8.0 * n as f64,
            flops: |n| $flops * n as f64,
        }
    };
}

const ALPHA_LEAKY: &[ParamSpec] = &[ParamSpec::f32(
    "alpha",
    0.01,
    f32::MIN as f64,
    f32::MAX as f64,
    "negative slope (any finite value)",
)];
const ALPHA_ELU: &[ParamSpec] = &[ParamSpec::f32(
    "alpha",
    1.0,
    f32::MIN as f64,
    f32::MAX as f64,
    "scale of the negative part",
)];

pub static SPECS: &[KernelSpec] = &[
    act_spec!(
        "map_relu",
        "y_i = max(x_i, 0), NaN → NaN",
        &[],
        Tolerance::Exact,
        1.0
    ),
    act_spec!(
        "map_leaky_relu",
        "y_i = x_i if x_i > 0 else α·x_i",
        ALPHA_LEAKY,
        Tolerance::Exact,
        2.0
    ),
    act_spec!(
        "map_elu",
        "y_i = x_i if x_i > 0 else α·(e^{x_i} − 1)",
        ALPHA_ELU,
        // atol = 2^-149, one step of the denormal grid: α·(e^x − 1) rounds to a denormal for
        // tiny α, where no f32 evaluation can be relatively accurate.
        Tolerance::Elementwise {
            rtol: 4e-6,
            atol: 1.401298464324817e-45
        },
        3.0
    ),
    act_spec!(
        "map_gelu",
        "y = 0.5x(1 + tanh(√(2/π)(x + 0.044715x³)))",
        &[],
        TOL,
        8.0
    ),
    act_spec!("map_gelu_erf", "y = 0.5x(1 + erf(x/√2))", &[], TOL, 5.0),
    act_spec!("map_silu", "y_i = x_i / (1 + e^{−x_i})", &[], TOL, 4.0),
    act_spec!("map_mish", "y_i = x_i·tanh(softplus(x_i))", &[], TOL, 6.0),
];

fn workload(n: usize, seed: u64, _: &crate::params::Params) -> Vec<Tensor> {
    vec![Tensor::f32(philox::normal(seed, 0, n, 0.0, 3.0))]
}

/// The limits at ±inf, where the closed forms evaluate inf·0 or inf/inf (docs/kernels/KERNELS.md §1).
fn limits(x: f64, f: impl Fn(f64) -> f64) -> f64 {
    if x == f64::INFINITY {
        f64::INFINITY
    } else if x == f64::NEG_INFINITY {
        -0.0
    } else {
        f(x)
    }
}

fn softplus(x: f64) -> f64 {
    x.max(0.0) + (-x.abs()).exp().ln_1p()
}

macro_rules! act_op {
    ($name:literal, $cpu:expr, $reference:expr) => {
        Op {
            name: $name,
            inputs: &[input("x", DType::F32)],
            outputs: &["y"],
            shapes: |i, _| map_shapes($name, i, DType::F32),
            reference: $reference,
            workload,
            edge_cases: edge_case_1,
            cpu: $cpu,
        }
    };
}

pub static OPS: &[Op] = &[
    act_op!(
        "map_relu",
        |c, i, _, o| run_map1(c, &cpu::Relu, i, o),
        |i, _| { ref_map1(i, |x| if x.is_nan() { x } else { x.max(0.0) }) }
    ),
    act_op!(
        "map_leaky_relu",
        |c, i, p, o| run_map1(
            c,
            &cpu::LeakyRelu {
                alpha: p.f32("alpha")
            },
            i,
            o
        ),
        |i, p| {
            let a = p.get("alpha");
            ref_map1(i, |x| if x > 0.0 { x } else { a * x })
        }
    ),
    act_op!(
        "map_elu",
        |c, i, p, o| run_map1(
            c,
            &cpu::Elu {
                alpha: p.f32("alpha")
            },
            i,
            o
        ),
        |i, p| {
            let a = p.get("alpha");
            ref_map1(i, |x| if x > 0.0 { x } else { a * x.exp_m1() })
        }
    ),
    act_op!(
        "map_gelu",
        |c, i, _, o| run_map1(c, &cpu::Gelu, i, o),
        |i, _| {
            let k = (2.0 / std::f64::consts::PI).sqrt();
            ref_map1(i, |x| {
                limits(x, |x| {
                    0.5 * x * (1.0 + (k * (x + 0.044715 * x * x * x)).tanh())
                })
            })
        }
    ),
    act_op!(
        "map_gelu_erf",
        |c, i, _, o| run_map1(c, &cpu::GeluErf, i, o),
        |i, _| {
            ref_map1(i, |x| {
                limits(x, |x| 0.5 * x * libm::erfc(-x / std::f64::consts::SQRT_2))
            })
        }
    ),
    act_op!(
        "map_silu",
        |c, i, _, o| run_map1(c, &cpu::Silu, i, o),
        |i, _| { ref_map1(i, |x| limits(x, |x| x / (1.0 + (-x).exp()))) }
    ),
    act_op!(
        "map_mish",
        |c, i, _, o| run_map1(c, &cpu::Mish, i, o),
        |i, _| { ref_map1(i, |x| limits(x, |x| x * softplus(x).tanh())) }
    ),
];
