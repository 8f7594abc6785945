//! Pieces the domains share: edge values, shape rules and reference helpers for maps, and the
//! glue from tensors to the CPU drivers.

use crate::backend::cpu::drivers::{self, Map1, Map2, Map3};
use crate::backend::cpu::Cpu;
use crate::error::Result;
use crate::op::{shape, Case};
use crate::spec::Tolerance;
use crate::tensor::{DType, Tensor, TensorDesc};
use crate::verify::Expected;

/// Values every f32 kernel is tried on: NaN, ±inf, ±0, denormals, the ends of the normal range,
/// and values near the thresholds of the transcendental maps.
pub fn edge_values() -> Vec<f32> {
    vec![
        f32::NAN,
        f32::INFINITY,
        f32::NEG_INFINITY,
        0.0,
        -0.0,
        1e-40,
        -1e-40,
        f32::from_bits(1),
        f32::MIN_POSITIVE,
        -f32::MIN_POSITIVE,
        f32::MAX,
        f32::MIN,
        1.0,
        -1.0,
        0.5,
        -0.5,
        1e-7,
        -1e-7,
        3.0,
        -3.0,
        10.0,
        -10.0,
        20.0,
        -20.0,
        88.72,
        88.73,
        -87.4,
        -103.9,
        -104.0,
        100.0,
        -100.0,
        1e10,
        -1e10,
        65504.0,
        65520.0,
    ]
}

/// One case holding the edge values (for one-input maps).
pub fn edge_case_1() -> Vec<Case> {
    vec![Case {
        label: "edge values",
        inputs: vec![Tensor::f32(edge_values())],
    }]
}

/// Every ordered pair of edge values (for two-input maps).
pub fn edge_case_2() -> Vec<Case> {
    let v = edge_values();
    let (a, b): (Vec<f32>, Vec<f32>) = v
        .iter()
        .flat_map(|&x| v.iter().map(move |&y| (x, y)))
        .unzip();
    vec![Case {
        label: "edge value pairs",
        inputs: vec![Tensor::f32(a), Tensor::f32(b)],
    }]
}

/// Every ordered triple of a smaller edge set (for three-input maps).
pub fn edge_case_3() -> Vec<Case> {
    let v = [
        f32::NAN,
        f32::INFINITY,
        f32::NEG_INFINITY,
        0.0,
        -0.0,
        1e-40,
        1.0,
        -1.5,
        f32::MAX,
        3e-39,
    ];
    let mut cols = (Vec::new(), Vec::new(), Vec::new());
    for &a in &v {
        for &b in &v {
            for &c in &v {
                cols.0.push(a);
                cols.1.push(b);
                cols.2.push(c);
            }
        }
    }
    vec![Case {
        label: "edge value triples",
        inputs: vec![
            Tensor::f32(cols.0),
            Tensor::f32(cols.1),
            Tensor::f32(cols.2),
        ],
    }]
}

/// Whether an f64 parameter or constant keeps its meaning as an f32: 0 stays 0, anything else
/// must round to a finite normal f32. Where one does not (lr = 1e300, ε = 1e-60, a subnormal
/// Huber δ), kernels evaluate in f64 instead of with the rounded value.
pub fn f32_ok(c: f64) -> bool {
    c == 0.0 || (c as f32).is_normal()
}

/// An f32 output checked as elementwise(rtol, atol) with the relative part taken on the size of
/// the terms that make each value: |y − r| ≤ atol + rtol·S_i for (r, S_i) in `v`. Where the terms
/// cancel (p − lr·g, μ·buf + g), any f32 evaluation errs in proportion to them, not to their sum.
pub fn terms_expected(shape: &[usize], v: Vec<(f64, f64)>, rtol: f64, atol: f64) -> Expected {
    let (y, s): (Vec<f64>, Vec<f64>) = v.into_iter().unzip();
    Expected::new(DType::F32, shape, y)
        .with_scale(s.into_iter().map(|s| atol / rtol + s).collect())
        .with_tolerance(Tolerance::Sum { rtol })
}

/// An f32 tensor of rows of `d` (`[len / d, d]`) for workloads and edge cases, whose lengths
/// are whole rows by construction; an empty tensor otherwise, which any check then fails.
pub fn f32_rows(v: Vec<f32>, d: usize) -> Tensor {
    let r = v.len() / d.max(1);
    Tensor::f32(v)
        .reshaped(&[r, d])
        .unwrap_or_else(|_| Tensor::f32(Vec::new()))
}

/// Maps: all inputs the same length; one output of that length (and the first input's shape).
pub fn map_shapes(name: &str, inputs: &[&Tensor], out: DType) -> Result<Vec<TensorDesc>> {
    shape::same_len(name, inputs)?;
    Ok(vec![TensorDesc::new(out, inputs[0].shape())])
}

pub fn ref_map1(inputs: &[&Tensor], f: impl Fn(f64) -> f64) -> Vec<Expected> {
    let x = inputs[0].to_f64_vec();
    vec![Expected::new(
        DType::F32,
        inputs[0].shape(),
        x.into_iter().map(f).collect(),
    )]
}

pub fn ref_map2(inputs: &[&Tensor], out: DType, f: impl Fn(f64, f64) -> f64) -> Vec<Expected> {
    let (x, y) = (inputs[0].to_f64_vec(), inputs[1].to_f64_vec());
    let v = x.iter().zip(&y).map(|(&a, &b)| f(a, b)).collect();
    vec![Expected::new(out, inputs[0].shape(), v)]
}

pub fn run_map1<M: Map1>(cpu: Cpu, m: &M, inputs: &[&Tensor], out: &mut [Tensor]) -> Result<()> {
    drivers::map1(cpu, m, inputs[0].as_f32()?, out[0].as_f32_mut()?);
    Ok(())
}

pub fn run_map2<M: Map2>(cpu: Cpu, m: &M, inputs: &[&Tensor], out: &mut [Tensor]) -> Result<()> {
    drivers::map2(
        cpu,
        m,
        inputs[0].as_f32()?,
        inputs[1].as_f32()?,
        out[0].as_f32_mut()?,
    );
    Ok(())
}

pub fn run_map3<M: Map3>(cpu: Cpu, m: &M, inputs: &[&Tensor], out: &mut [Tensor]) -> Result<()> {
    let (a, b, c) = (
        inputs[0].as_f32()?,
        inputs[1].as_f32()?,
        inputs[2].as_f32()?,
    );
    drivers::map3(cpu, m, a, b, c, out[0].as_f32_mut()?);
    Ok(())
}
