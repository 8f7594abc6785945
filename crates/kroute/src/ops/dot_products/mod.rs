//! dot_products: row-wise dot products over pairs of rows × D matrices (`kernels/dot_products.md`).

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

const D: ParamSpec = ParamSpec::int("d", 128.0, 1.0, 1e9, "row length");

pub static SPECS: &[KernelSpec] = &[
    KernelSpec {
        name: "dot_batched",
        domain: Domain::DotProducts,
        computes: "d_r = Σ_j a_{r,j} b_{r,j} for each row r",
        shapes: "a, b f32[R, 128] ~ normal (streams 0, 1), R = max(1, ⌊N/128⌋) → d f32[R]",
        params: &[D],
        tolerance: Tolerance::Sum { rtol: 1e-5 },
        metric: Metric::Bandwidth,
        bytes: |n| {
            let r = rows(n, 128) as f64;
            8.0 * r * 128.0 + 4.0 * r
        },
        flops: |n| 2.0 * rows(n, 128) as f64 * 128.0,
    },
    KernelSpec {
        name: "cosine_similarity",
        domain: Domain::DotProducts,
        computes: "c_r = (a_r · b_r) / (max(‖a_r‖₂, ε) · max(‖b_r‖₂, ε))",
        shapes: "a, b f32[R, 128] ~ normal (streams 0, 1), R = max(1, ⌊N/128⌋) → c f32[R]",
        params: &[
            D,
            ParamSpec::f32("eps", 1e-8, 0.0, f32::MAX as f64, "norm clamp ε"),
        ],
        tolerance: Tolerance::Elementwise {
            rtol: 1e-5,
            atol: 1e-6,
        },
        metric: Metric::Bandwidth,
        bytes: |n| {
            let r = rows(n, 128) as f64;
            8.0 * r * 128.0 + 4.0 * r
        },
        flops: |n| 6.0 * rows(n, 128) as f64 * 128.0,
    },
];

fn row_shapes(name: &str, i: &[&Tensor], p: &Params) -> Result<Vec<TensorDesc>> {
    let d = p.usize("d");
    if i[0].shape() != i[1].shape() {
        return Err(Error::Shape(format!(
            "{name}: a and b must have the same shape, got {:?} and {:?}",
            i[0].shape(),
            i[1].shape()
        )));
    }
    let r = shape::rows_of(name, i[0], d)?;
    Ok(vec![TensorDesc::new(DType::F32, &[r])])
}

fn workload(n: usize, seed: u64, p: &Params) -> Vec<Tensor> {
    let d = p.usize("d");
    let r = rows(n as u64, d as u64) as usize;
    (0..2)
        .map(|t| f32_rows(philox::normal(seed, t, r * d, 0.0, 1.0), d))
        .collect()
}

/// Per-row f64 sums of products: (Σ ab, Σ|ab|, Σ a², Σ b²).
fn row_sums(i: &[&Tensor], d: usize) -> Vec<[f64; 4]> {
    let (a, b) = (i[0].to_f64_vec(), i[1].to_f64_vec());
    a.chunks(d)
        .zip(b.chunks(d))
        .map(|(a, b)| {
            let mut s = [0.0; 4];
            for (&x, &y) in a.iter().zip(b) {
                s[0] += x * y;
                s[1] += (x * y).abs();
                s[2] += x * x;
                s[3] += y * y;
            }
            s
        })
        .collect()
}

fn cases() -> Vec<Case> {
    let d = 128;
    let mut a = philox::normal(5, 0, 4 * d, 0.0, 1.0);
    let mut b = philox::normal(5, 1, 4 * d, 0.0, 1.0);
    a[3] = f32::NAN; // row 0: NaN in that row only
    a[d..2 * d].fill(0.0); // row 1: a zero row (cosine → 0)
    b[2 * d + 5] = f32::INFINITY; // row 2: an infinity
    b[3 * d..].fill(1e-30); // row 3: tiny norms below ε
    let t = |v| f32_rows(v, d);
    vec![
        Case {
            label: "NaN, zero, inf and tiny rows",
            inputs: vec![t(a), t(b)],
        },
        Case {
            label: "0 rows",
            inputs: vec![f32_rows(vec![], d), f32_rows(vec![], d)],
        },
    ]
}

const AB: &[crate::op::Input] = &[input("a", DType::F32), input("b", DType::F32)];

pub static OPS: &[Op] = &[
    Op {
        name: "dot_batched",
        inputs: AB,
        outputs: &["d"],
        shapes: |i, p| row_shapes("dot_batched", i, p),
        reference: |i, p| {
            let s = row_sums(i, p.usize("d"));
            let r = s.len();
            vec![
                Expected::new(DType::F32, &[r], s.iter().map(|s| s[0]).collect())
                    .with_scale(s.iter().map(|s| s[1]).collect()),
            ]
        },
        workload,
        edge_cases: cases,
        cpu: cpu::dot_batched,
    },
    Op {
        name: "cosine_similarity",
        inputs: AB,
        outputs: &["c"],
        shapes: |i, p| row_shapes("cosine_similarity", i, p),
        reference: |i, p| {
            let eps = p.get("eps");
            let s = row_sums(i, p.usize("d"));
            let r = s.len();
            let c = s
                .iter()
                .map(|s| s[0] / (s[2].sqrt().max(eps) * s[3].sqrt().max(eps)))
                .collect();
            vec![Expected::new(DType::F32, &[r], c)]
        },
        workload,
        edge_cases: cases,
        cpu: cpu::cosine,
    },
];
