//! fused: a map whose result is reduced at once, never written to memory (`kernels/fused.md`).

pub(crate) mod cpu;
mod cuda;

pub(crate) use cuda::CUDA;

use crate::op::{input, shape, Case, Op};
use crate::philox;
use crate::spec::{Domain, KernelSpec, Metric, ParamSpec, Tolerance};
use crate::tensor::{DType, Tensor, TensorDesc};
use crate::verify::Expected;

macro_rules! fused_spec {
    ($name:literal, $computes:literal, $shapes:literal, $params:expr, $tol:expr, $bytes:literal, $flops:literal) => {
        KernelSpec {
            name: $name,
            domain: Domain::Fused,
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

const SUM: Tolerance = Tolerance::Sum { rtol: 1e-5 };

pub static SPECS: &[KernelSpec] = &[
    fused_spec!(
        "map_reduce_abs_sum",
        "Σ |x_i| (the L1 norm)",
        "x f32[N] ~ normal → f32",
        &[],
        SUM,
        4.0,
        2.0
    ),
    fused_spec!(
        "map_reduce_square_sum",
        "Σ x_i²",
        "x f32[N] ~ normal → f32",
        &[],
        SUM,
        4.0,
        2.0
    ),
    fused_spec!(
        "map_reduce_masked_sum",
        "Σ x_i·[m_i = 1] (select, not multiply)",
        "x f32[N] ~ uniform(0, 1); m u8[N] ~ bernoulli(0.5) (stream 1) → f32",
        &[],
        SUM,
        5.0,
        2.0
    ),
    fused_spec!(
        "map_reduce_threshold_count",
        "#{i : x_i > t}",
        "x f32[N] ~ normal → u64",
        &[ParamSpec::f32(
            "t",
            0.5,
            f32::MIN as f64,
            f32::MAX as f64,
            "threshold"
        )],
        Tolerance::Exact,
        4.0,
        1.0
    ),
];

fn scalar_f32(_: &[&Tensor], _: &crate::Params) -> crate::Result<Vec<TensorDesc>> {
    Ok(vec![TensorDesc::new(DType::F32, &[])])
}

fn sum_of(x: &[f64], f: impl Fn(f64) -> f64) -> Vec<Expected> {
    let terms: Vec<f64> = x.iter().map(|&v| f(v)).collect();
    let s = terms.iter().sum();
    let scale = terms.iter().map(|t| t.abs()).sum();
    vec![Expected::new(DType::F32, &[], vec![s]).with_scale(vec![scale])]
}

fn normal(n: usize, s: u64, _: &crate::params::Params) -> Vec<Tensor> {
    vec![Tensor::f32(philox::normal(s, 0, n, 0.0, 1.0))]
}

fn cases_1() -> Vec<Case> {
    let mut v = vec![Case {
        label: "edge values",
        inputs: vec![Tensor::f32(super::common::edge_values())],
    }];
    v.push(Case {
        label: "±inf",
        inputs: vec![Tensor::f32(vec![
            1.0,
            f32::INFINITY,
            -2.0,
            f32::NEG_INFINITY,
        ])],
    });
    v.push(Case {
        label: "denormals and zeros",
        inputs: vec![Tensor::f32(vec![1e-40, -1e-40, -0.0, 0.0, 0.5])],
    });
    v
}

fn masked_cases() -> Vec<Case> {
    let x = super::common::edge_values();
    let n = x.len();
    // NaN and inf where the mask is 0 must not reach the sum.
    let m0: Vec<u8> = (0..n).map(|i| (i % 2) as u8).collect();
    let mut x1 = philox::uniform(3, 0, 100_003, 0.0, 1.0);
    let m1 = philox::bernoulli(3, 1, 100_003, 0.5);
    for (i, m) in m1.iter().enumerate() {
        if *m == 0 && i % 7 == 0 {
            x1[i] = f32::NAN;
        }
    }
    vec![
        Case {
            label: "edge values, alternating mask",
            inputs: vec![Tensor::f32(x), Tensor::u8(m0)],
        },
        Case {
            label: "NaN only where the mask is 0",
            inputs: vec![Tensor::f32(x1), Tensor::u8(m1)],
        },
    ]
}

pub static OPS: &[Op] = &[
    Op {
        name: "map_reduce_abs_sum",
        inputs: &[input("x", DType::F32)],
        outputs: &["s"],
        shapes: scalar_f32,
        reference: |i, _| sum_of(&i[0].to_f64_vec(), f64::abs),
        workload: normal,
        edge_cases: cases_1,
        cpu: cpu::abs_sum,
    },
    Op {
        name: "map_reduce_square_sum",
        inputs: &[input("x", DType::F32)],
        outputs: &["s"],
        shapes: scalar_f32,
        reference: |i, _| sum_of(&i[0].to_f64_vec(), |v| v * v),
        workload: normal,
        edge_cases: cases_1,
        cpu: cpu::square_sum,
    },
    Op {
        name: "map_reduce_masked_sum",
        inputs: &[input("x", DType::F32), input("m", DType::U8)],
        outputs: &["s"],
        shapes: |i, p| {
            shape::same_len("map_reduce_masked_sum", i)?;
            scalar_f32(i, p)
        },
        reference: |i, _| {
            let (x, m) = (i[0].to_f64_vec(), i[1].to_f64_vec());
            let selected: Vec<f64> = x
                .iter()
                .zip(&m)
                .filter(|(_, &m)| m == 1.0)
                .map(|(&x, _)| x)
                .collect();
            sum_of(&selected, |v| v)
        },
        workload: |n, s, _| {
            vec![
                Tensor::f32(philox::uniform(s, 0, n, 0.0, 1.0)),
                Tensor::u8(philox::bernoulli(s, 1, n, 0.5)),
            ]
        },
        edge_cases: masked_cases,
        cpu: cpu::masked_sum,
    },
    Op {
        name: "map_reduce_threshold_count",
        inputs: &[input("x", DType::F32)],
        outputs: &["count"],
        shapes: |_, _| Ok(vec![TensorDesc::new(DType::U64, &[])]),
        reference: |i, p| {
            let t = p.get("t");
            let c = i[0].to_f64_vec().iter().filter(|&&v| v > t).count();
            vec![Expected::new(DType::U64, &[], vec![c as f64])]
        },
        workload: normal,
        edge_cases: cases_1,
        cpu: cpu::threshold_count,
    },
];
