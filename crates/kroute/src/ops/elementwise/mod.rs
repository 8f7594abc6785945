//! elementwise: maps over one to three f32 tensors of N elements (`kernels/elementwise.md`).

pub(crate) mod cpu;
mod cuda;

pub(crate) use cuda::CUDA;

use super::common::*;
use crate::op::{input, Op};
use crate::philox;
use crate::spec::{Domain, KernelSpec, Metric, ParamSpec, Tolerance};
use crate::tensor::{DType, Tensor, TensorDesc};
use crate::verify::Expected;
use crate::{Error, Params, Result};

const TRANSCENDENTAL: Tolerance = Tolerance::Elementwise {
    rtol: 4e-6,
    atol: 1e-6,
};

macro_rules! map_spec {
    ($name:literal, $computes:literal, $shapes:literal, $params:expr, $tol:expr, $bytes:literal, $flops:literal) => {
        KernelSpec {
            name: $name,
            domain: Domain::Elementwise,
            computes: $computes,
            shapes: $shapes,
            params: $params,
            tolerance: $tol,
            metric: Metric::Bandwidth,
            bytes: |n| $bytes * n as f64,
            flops: |n| $flops * n as f64,
        }
    };
}

pub static SPECS: &[KernelSpec] = &[
    map_spec!("map_add", "z_i = x_i + y_i", "x, y f32[N] ~ normal → z f32[N]", &[], Tolerance::Exact, 12.0, 1.0),
    map_spec!("map_mul", "z_i = x_i · y_i", "x, y f32[N] ~ normal → z f32[N]", &[], Tolerance::Exact, 12.0, 1.0),
    map_spec!("map_div", "z_i = x_i / y_i, correctly rounded",
        "x f32[N] ~ normal; y_i = (1 − 2·b_i)·u_i, u ~ uniform(0.5, 2) (stream 1), b ~ bernoulli(0.5) (stream 2) → z f32[N]",
        &[], Tolerance::Exact, 12.0, 1.0),
    // The entry's per-element bound 2.4e-7·(|a_i b_i| + |c_i|) is the sum class on the two terms.
    map_spec!("map_fma", "z_i = a_i · b_i + c_i", "a, b, c f32[N] ~ normal → z f32[N]", &[],
        Tolerance::Sum { rtol: 2.4e-7 }, 16.0, 2.0),
    map_spec!("map_exp", "y_i = e^{x_i}", "x f32[N] ~ uniform(−87, 88) → y f32[N]", &[],
        Tolerance::Elementwise { rtol: 4e-6, atol: 2.8025969286496341e-45 }, 8.0, 1.0),
    map_spec!("map_log", "y_i = ln x_i", "x_i = f32(e^{z_i}), z_i = −30 + 60·u_i (u stream 0, z in f64) → y f32[N]",
        &[], TRANSCENDENTAL, 8.0, 1.0),
    map_spec!("map_tanh", "y_i = tanh x_i", "x f32[N] ~ normal(0, 3) → y f32[N]", &[], TRANSCENDENTAL, 8.0, 1.0),
    map_spec!("map_sigmoid", "y_i = 1 / (1 + e^{−x_i})", "x f32[N] ~ normal(0, 5) → y f32[N]", &[],
        TRANSCENDENTAL, 8.0, 3.0),
    map_spec!("map_softplus", "y_i = max(x, 0) + ln(1 + e^{−|x|})", "x f32[N] ~ normal(0, 5) → y f32[N]", &[],
        TRANSCENDENTAL, 8.0, 4.0),
    map_spec!("map_clamp", "y_i = min(max(x_i, lo), hi)", "x f32[N] ~ normal(0, 2) → y f32[N]",
        &[
            ParamSpec::f32("lo", -1.0, f32::MIN as f64, f32::MAX as f64, "lower bound (lo ≤ hi)"),
            ParamSpec::f32("hi", 1.0, f32::MIN as f64, f32::MAX as f64, "upper bound (lo ≤ hi)"),
        ],
        Tolerance::Exact, 8.0, 2.0),
    map_spec!("map_abs", "y_i = |x_i|", "x f32[N] ~ normal → y f32[N]", &[], Tolerance::Exact, 8.0, 1.0),
    map_spec!("map_compare", "m_i = 1 if x_i > y_i else 0", "x, y f32[N] ~ normal → m u8[N]", &[],
        Tolerance::Exact, 9.0, 1.0),
];

const X: &[crate::op::Input] = &[input("x", DType::F32)];
const XY: &[crate::op::Input] = &[input("x", DType::F32), input("y", DType::F32)];

fn normal_inputs(count: u32, n: usize, seed: u64) -> Vec<Tensor> {
    (0..count)
        .map(|t| Tensor::f32(philox::normal(seed, t, n, 0.0, 1.0)))
        .collect()
}

fn unary_shapes(i: &[&Tensor], _: &Params) -> Result<Vec<TensorDesc>> {
    map_shapes("map", i, DType::F32)
}

macro_rules! unary_op {
    ($name:literal, $map:expr, $reference:expr, $workload:expr) => {
        Op {
            name: $name,
            inputs: X,
            outputs: &["y"],
            shapes: unary_shapes,
            reference: |i, _| ref_map1(i, $reference),
            workload: $workload,
            edge_cases: edge_case_1,
            cpu: |cpu, i, _, o| run_map1(cpu, &$map, i, o),
        }
    };
}

pub static OPS: &[Op] = &[
    Op {
        name: "map_add",
        inputs: XY,
        outputs: &["z"],
        shapes: |i, _| map_shapes("map_add", i, DType::F32),
        reference: |i, _| ref_map2(i, DType::F32, |x, y| x + y),
        workload: |n, s, _| normal_inputs(2, n, s),
        edge_cases: edge_case_2,
        cpu: |cpu, i, _, o| run_map2(cpu, &cpu::Add, i, o),
    },
    Op {
        name: "map_mul",
        inputs: XY,
        outputs: &["z"],
        shapes: |i, _| map_shapes("map_mul", i, DType::F32),
        reference: |i, _| ref_map2(i, DType::F32, |x, y| x * y),
        workload: |n, s, _| normal_inputs(2, n, s),
        edge_cases: edge_case_2,
        cpu: |cpu, i, _, o| run_map2(cpu, &cpu::Mul, i, o),
    },
    Op {
        name: "map_div",
        inputs: XY,
        outputs: &["z"],
        shapes: |i, _| map_shapes("map_div", i, DType::F32),
        reference: |i, _| ref_map2(i, DType::F32, |x, y| x / y),
        workload: |n, s, _| {
            let x = philox::normal(s, 0, n, 0.0, 1.0);
            let u = philox::uniform(s, 1, n, 0.5, 2.0);
            let b = philox::bernoulli(s, 2, n, 0.5);
            let y = u
                .iter()
                .zip(&b)
                .map(|(&u, &b)| if b == 1 { -u } else { u })
                .collect();
            vec![Tensor::f32(x), Tensor::f32(y)]
        },
        edge_cases: edge_case_2,
        cpu: |cpu, i, _, o| run_map2(cpu, &cpu::Div, i, o),
    },
    Op {
        name: "map_fma",
        inputs: &[
            input("a", DType::F32),
            input("b", DType::F32),
            input("c", DType::F32),
        ],
        outputs: &["z"],
        shapes: |i, _| map_shapes("map_fma", i, DType::F32),
        reference: |i, _| {
            let (a, b, c) = (i[0].to_f64_vec(), i[1].to_f64_vec(), i[2].to_f64_vec());
            let v = (0..a.len()).map(|k| a[k] * b[k] + c[k]).collect();
            let s = (0..a.len())
                .map(|k| (a[k] * b[k]).abs() + c[k].abs())
                .collect();
            vec![Expected::new(DType::F32, i[0].shape(), v).with_scale(s)]
        },
        workload: |n, s, _| normal_inputs(3, n, s),
        edge_cases: edge_case_3,
        cpu: |cpu, i, _, o| run_map3(cpu, &cpu::Fma, i, o),
    },
    unary_op!("map_exp", cpu::Exp, f64::exp, |n, s, _| vec![Tensor::f32(
        philox::uniform(s, 0, n, -87.0, 88.0)
    )]),
    unary_op!("map_log", cpu::Log, f64::ln, |n, s, _| {
        let u = philox::words(s, 0, n);
        vec![Tensor::f32(
            u.into_iter()
                .map(|w| (-30.0 + 60.0 * philox::unit(w)).exp() as f32)
                .collect(),
        )]
    }),
    unary_op!("map_tanh", cpu::Tanh, f64::tanh, |n, s, _| vec![Tensor::f32(
        philox::normal(s, 0, n, 0.0, 3.0)
    )]),
    unary_op!(
        "map_sigmoid",
        cpu::Sigmoid,
        |x| 1.0 / (1.0 + (-x).exp()),
        |n, s, _| { vec![Tensor::f32(philox::normal(s, 0, n, 0.0, 5.0))] }
    ),
    unary_op!(
        "map_softplus",
        cpu::Softplus,
        |x| x.max(0.0) + (-x.abs()).exp().ln_1p(),
        |n, s, _| { vec![Tensor::f32(philox::normal(s, 0, n, 0.0, 5.0))] }
    ),
    Op {
        name: "map_clamp",
        inputs: X,
        outputs: &["y"],
        shapes: |i, p| {
            if p.get("lo") > p.get("hi") {
                return Err(Error::Param(format!(
                    "map_clamp needs lo ≤ hi, got lo = {} and hi = {}",
                    p.get("lo"),
                    p.get("hi")
                )));
            }
            map_shapes("map_clamp", i, DType::F32)
        },
        reference: |i, p| {
            let (lo, hi) = (p.get("lo"), p.get("hi"));
            ref_map1(i, |x| if x.is_nan() { x } else { x.max(lo).min(hi) })
        },
        workload: |n, s, _| vec![Tensor::f32(philox::normal(s, 0, n, 0.0, 2.0))],
        edge_cases: edge_case_1,
        cpu: |cpu, i, p, o| {
            run_map1(
                cpu,
                &cpu::Clamp {
                    lo: p.f32("lo"),
                    hi: p.f32("hi"),
                },
                i,
                o,
            )
        },
    },
    unary_op!("map_abs", cpu::Abs, f64::abs, |n, s, _| normal_inputs(1, n, s)),
    Op {
        name: "map_compare",
        inputs: XY,
        outputs: &["m"],
        shapes: |i, _| map_shapes("map_compare", i, DType::U8),
        reference: |i, _| ref_map2(i, DType::U8, |x, y| (x > y) as u8 as f64),
        workload: |n, s, _| normal_inputs(2, n, s),
        edge_cases: edge_case_2,
        cpu: cpu::compare,
    },
];
