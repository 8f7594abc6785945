//! The layout domain (docs/kernels/layout.md): a square transpose and the AoS ↔ SoA repacks of
//! four-field records. Every output element is a bit copy of one input element (tolerance
//! `bits`, checked on the words, NaN payloads included), and the output is a new dense buffer.

pub(crate) mod cpu;
mod cuda;

pub(crate) use cuda::CUDA;

use crate::op::{input, Case, Op};
use crate::philox;
use crate::spec::{Domain, KernelSpec, Metric, Tolerance};
use crate::tensor::{DType, Tensor, TensorDesc};
use crate::verify::Expected;
use crate::{Error, Params, Result};

/// S = round(√N), the transpose's side (0 at N = 0: an empty matrix).
fn side(n: u64) -> u64 {
    (n as f64).sqrt().round() as u64
}

pub static SPECS: &[KernelSpec] = &[
    KernelSpec {
        name: "transpose_2d",
        domain: Domain::Layout,
        computes: "B[j, i] = A[i, j], 0 ≤ i, j < S, out of place, B materialised row-major",
        shapes: "A f32[S×S] ~ normal(0, 1) (stream 0), S = round(√N) → B f32[S×S]",
        params: &[],
        tolerance: Tolerance::Bits,
        metric: Metric::Bandwidth,
        bytes: |n| {
            let s = side(n) as f64;
            8.0 * s * s
        },
        flops: |_n| 0.0,
    },
    KernelSpec {
        name: "repack_aos_to_soa",
        domain: Domain::Layout,
        computes: "soa[f·R + r] = aos[4r + f], f ∈ {x, y, z, w}, 0 ≤ r < R (de-interleave into four contiguous rows)",
        shapes: "aos f32[R×4] ~ normal(0, 1) (stream 0), R = ⌊N/4⌋ → soa f32[4×R]",
        params: &[],
        tolerance: Tolerance::Bits,
        metric: Metric::Bandwidth,
        bytes: |n| 32.0 * (n / 4) as f64,
        flops: |_n| 0.0,
    },
    KernelSpec {
        name: "repack_soa_to_aos",
        domain: Domain::Layout,
        computes: "aos[4r + f] = soa[f·R + r], f ∈ {0, 1, 2, 3}, 0 ≤ r < R (interleave four rows into records)",
        shapes: "soa f32[4×R] ~ normal(0, 1) (stream 0), R = ⌊N/4⌋ → aos f32[R×4]",
        params: &[],
        tolerance: Tolerance::Bits,
        metric: Metric::Bandwidth,
        bytes: |n| 32.0 * (n / 4) as f64,
        flops: |_n| 0.0,
    },
];

/// The words of an f32 tensor (the reference moves bits, not values).
fn words(t: &Tensor) -> Vec<u32> {
    t.as_f32()
        .map(|v| v.iter().map(|x| x.to_bits()).collect())
        .unwrap_or_default()
}

fn tensor_of_words(w: Vec<u32>, shape: &[usize]) -> Tensor {
    Tensor::f32(w.into_iter().map(f32::from_bits).collect())
        .reshaped(shape)
        .expect("the shape holds the words")
}

/// A 2-D f32 input of `cols` columns (or any, with `cols` None): its (rows, cols).
fn matrix(name: &str, t: &Tensor, what: &str) -> Result<(usize, usize)> {
    match *t.shape() {
        [r, c] => Ok((r, c)),
        ref s => Err(Error::Shape(format!(
            "{name}: the input must be 2-D ({what}), got shape {s:?}"
        ))),
    }
}

fn transpose_shapes(i: &[&Tensor], _p: &Params) -> Result<Vec<TensorDesc>> {
    let (r, c) = matrix("transpose_2d", i[0], "S×S")?;
    if r != c {
        return Err(Error::Shape(format!(
            "transpose_2d: the input must be square (S×S, docs/kernels/layout.md), got {r}×{c}"
        )));
    }
    Ok(vec![TensorDesc::new(DType::F32, &[c, r])])
}

fn transpose_reference(i: &[&Tensor], _p: &Params) -> Vec<Expected> {
    let s = i[0].shape()[0];
    let a = words(i[0]);
    let b = (0..s * s).map(|k| a[(k % s) * s + k / s]).collect();
    vec![Expected::f32_bits(&[s, s], b)]
}

fn transpose_workload(n: usize, seed: u64, _p: &Params) -> Vec<Tensor> {
    let s = side(n as u64) as usize;
    vec![Tensor::f32(philox::normal(seed, 0, s * s, 0.0, 1.0))
        .reshaped(&[s, s])
        .expect("S·S elements")]
}

/// Four-field records: `aos` is [R, 4], `soa` is [4, R].
fn aos_shapes(i: &[&Tensor], _p: &Params) -> Result<Vec<TensorDesc>> {
    let (r, c) = matrix("repack_aos_to_soa", i[0], "R records × 4 fields")?;
    if c != 4 {
        return Err(Error::Shape(format!(
            "repack_aos_to_soa: records have 4 fields (shape [R, 4]), got [{r}, {c}]"
        )));
    }
    Ok(vec![TensorDesc::new(DType::F32, &[4, r])])
}

fn soa_shapes(i: &[&Tensor], _p: &Params) -> Result<Vec<TensorDesc>> {
    let (f, r) = matrix("repack_soa_to_aos", i[0], "4 field rows × R")?;
    if f != 4 {
        return Err(Error::Shape(format!(
            "repack_soa_to_aos: the input holds 4 field rows (shape [4, R]), got [{f}, {r}]"
        )));
    }
    Ok(vec![TensorDesc::new(DType::F32, &[r, 4])])
}

fn aos_reference(i: &[&Tensor], _p: &Params) -> Vec<Expected> {
    let r = i[0].shape()[0];
    let a = words(i[0]);
    let soa = (0..4 * r).map(|k| a[4 * (k % r.max(1)) + k / r.max(1)]).collect();
    vec![Expected::f32_bits(&[4, r], soa)]
}

fn soa_reference(i: &[&Tensor], _p: &Params) -> Vec<Expected> {
    let r = i[0].shape()[1];
    let s = words(i[0]);
    let aos = (0..4 * r).map(|k| s[(k % 4) * r + k / 4]).collect();
    vec![Expected::f32_bits(&[r, 4], aos)]
}

/// R = ⌊N/4⌋ records of normal(0, 1) from stream 0, shaped [R, 4] (aos) or [4, R] (soa).
fn records(n: usize, seed: u64, shape: fn(usize) -> [usize; 2]) -> Vec<Tensor> {
    let r = n / 4;
    vec![Tensor::f32(philox::normal(seed, 0, 4 * r, 0.0, 1.0))
        .reshaped(&shape(r))
        .expect("4·R elements")]
}

fn aos_workload(n: usize, seed: u64, _p: &Params) -> Vec<Tensor> {
    records(n, seed, |r| [r, 4])
}

fn soa_workload(n: usize, seed: u64, _p: &Params) -> Vec<Tensor> {
    records(n, seed, |r| [4, r])
}

/// Words a float operation would change: NaN payloads (quiet, negative quiet, signalling), −0,
/// denormals, ±inf and the largest finite values, placed through the input.
fn special_words(len: usize) -> Vec<u32> {
    const SPECIAL: [u32; 10] = [
        0x7FC0_0001, // quiet NaN with a payload
        0xFFC0_0000, // negative quiet NaN
        0x7F80_0001, // signalling NaN
        0x8000_0000, // −0
        0x0000_0001, // smallest denormal
        0x807F_FFFF, // largest negative denormal
        0x7F80_0000, // +inf
        0xFF80_0000, // −inf
        0x7F7F_FFFF, // f32::MAX
        0x3F80_0000, // 1.0
    ];
    (0..len)
        .map(|k| {
            if k % 3 == 0 {
                SPECIAL[(k / 3) % SPECIAL.len()]
            } else {
                (k as f32 * 0.37 - 5.0).to_bits()
            }
        })
        .collect()
}

fn transpose_cases() -> Vec<Case> {
    let sq = |s: usize| tensor_of_words(special_words(s * s), &[s, s]);
    vec![
        Case {
            label: "1×1 (still a new buffer)",
            inputs: vec![sq(1)],
        },
        Case {
            label: "NaN payloads, −0, denormals, 5×5",
            inputs: vec![sq(5)],
        },
        Case {
            label: "33×33: one full 32-tile and partial tiles at both edges",
            inputs: vec![sq(33)],
        },
        Case {
            label: "65×65: one full CUDA tile (64) and partial tiles at both edges",
            inputs: vec![sq(65)],
        },
        Case {
            label: "129×129: full tiles in both directions and partial edge tiles",
            inputs: vec![sq(129)],
        },
        Case {
            label: "0×0",
            inputs: vec![sq(0)],
        },
    ]
}

/// Records holding the special words, shaped by `shape(R)`: [R, 4] or [4, R].
fn record_cases(shape: fn(usize) -> [usize; 2]) -> Vec<Case> {
    let t = |r: usize| tensor_of_words(special_words(4 * r), &shape(r));
    vec![
        Case {
            label: "one record",
            inputs: vec![t(1)],
        },
        Case {
            label: "NaN payloads, −0, denormals in 37 records",
            inputs: vec![t(37)],
        },
        Case {
            label: "no records",
            inputs: vec![t(0)],
        },
    ]
}

fn aos_cases() -> Vec<Case> {
    record_cases(|r| [r, 4])
}

fn soa_cases() -> Vec<Case> {
    record_cases(|r| [4, r])
}

pub static OPS: &[Op] = &[
    Op {
        name: "transpose_2d",
        inputs: &[input("a", DType::F32)],
        outputs: &["b"],
        shapes: transpose_shapes,
        reference: transpose_reference,
        workload: transpose_workload,
        edge_cases: transpose_cases,
        cpu: cpu::transpose_2d,
    },
    Op {
        name: "repack_aos_to_soa",
        inputs: &[input("aos", DType::F32)],
        outputs: &["soa"],
        shapes: aos_shapes,
        reference: aos_reference,
        workload: aos_workload,
        edge_cases: aos_cases,
        cpu: cpu::repack_aos_to_soa,
    },
    Op {
        name: "repack_soa_to_aos",
        inputs: &[input("soa", DType::F32)],
        outputs: &["aos"],
        shapes: soa_shapes,
        reference: soa_reference,
        workload: soa_workload,
        edge_cases: soa_cases,
        cpu: cpu::repack_soa_to_aos,
    },
];
