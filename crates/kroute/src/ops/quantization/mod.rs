//! quantization: f32 → f16, and symmetric int8 with one scale per row (`kernels/quantization.md`).

pub(crate) mod cpu;
mod cuda;

pub(crate) use cuda::CUDA;

use crate::op::{input, shape, Case, Op};
use crate::philox;
use crate::spec::{rows, Domain, KernelSpec, Metric, ParamSpec, Tolerance};
use crate::tensor::{DType, Tensor, TensorDesc};
use crate::verify::Expected;
use crate::Error;
use half::f16;

const D: ParamSpec = ParamSpec::int("d", 1024.0, 1.0, 1e9, "row (block) length");

pub static SPECS: &[KernelSpec] = &[
    KernelSpec {
        name: "quantize_f32_to_f16",
        domain: Domain::Quantization,
        computes: "y_i = f16(x_i), round to nearest even",
        shapes: "x f32[N] ~ normal(0, 100) → y f16[N]",
        params: &[],
        tolerance: Tolerance::Exact,
        metric: Metric::Bandwidth,
        bytes: |n| 6.0 * n as f64,
        flops: |n| n as f64,
    },
    KernelSpec {
        name: "quantize_f16_to_i8",
        domain: Domain::Quantization,
        computes: "per row: s = fl32(max|x| / 127), q = clamp(rne(fl32(x / s)), −127, 127), NaN → 0",
        shapes: "x f16[R, 1024] = f16(normal), R = max(1, ⌊N/1024⌋) → q i8[R, 1024], s f32[R]",
        params: &[D],
        tolerance: Tolerance::Exact,
        metric: Metric::Bandwidth,
        bytes: |n| {
            let r = rows(n, 1024) as f64;
            3.0 * r * 1024.0 + 4.0 * r
        },
        flops: |n| 3.0 * rows(n, 1024) as f64 * 1024.0,
    },
    KernelSpec {
        name: "dequantize_i8_to_f16",
        domain: Domain::Quantization,
        computes: "y_{r,j} = f16(fl32(q_{r,j} · s_r))",
        shapes: "q i8[R, 1024] ~ randint(−127, 128); s f32[R] ~ uniform(1e-3, 1e-1) (stream 1) → y f16[R, 1024]",
        params: &[D],
        tolerance: Tolerance::Exact,
        metric: Metric::Bandwidth,
        bytes: |n| {
            let r = rows(n, 1024) as f64;
            3.0 * r * 1024.0 + 4.0 * r
        },
        flops: |n| rows(n, 1024) as f64 * 1024.0,
    },
];

/// The row scale and code of the definition, in f32 exactly as written.
pub fn scale_of(max_abs: f32) -> f32 {
    max_abs / 127.0
}

pub fn code_of(x: f32, s: f32) -> i8 {
    let v = x / s;
    if v.is_nan() {
        0
    } else {
        v.round_ties_even().clamp(-127.0, 127.0) as i8
    }
}

/// max |x| of a row, NaN if the row holds NaN.
pub fn max_abs(row: impl Iterator<Item = f32>) -> f32 {
    row.fold(0.0f32, |m, v| {
        if m.is_nan() || v.is_nan() {
            f32::NAN
        } else {
            m.max(v.abs())
        }
    })
}

fn f16_rows(n: usize, seed: u64, d: usize) -> Tensor {
    let r = rows(n as u64, d as u64) as usize;
    let x = philox::normal(seed, 0, r * d, 0.0, 1.0)
        .into_iter()
        .map(f16::from_f32)
        .collect();
    Tensor::f16(x)
        .reshaped(&[r, d])
        .unwrap_or_else(|_| Tensor::f16(vec![]))
}

fn quant_cases() -> Vec<Case> {
    let d = 1024;
    let mut x: Vec<f16> = philox::normal(9, 0, 6 * d, 0.0, 1.0)
        .into_iter()
        .map(f16::from_f32)
        .collect();
    x[5] = f16::NAN; // row 0 holds NaN: s = NaN, all codes 0
    x[d..2 * d].fill(f16::ZERO); // row 1: zeros, s = 0
    x[2 * d + 7] = f16::INFINITY; // row 2: inf, s = inf
    for (j, v) in x[3 * d..4 * d].iter_mut().enumerate() {
        // row 3: exact ties of x/s at ±k.5 (max 127 → s = 1)
        *v = f16::from_f32(if j == 0 {
            127.0
        } else {
            (j % 255) as f32 / 2.0 - 63.5
        });
    }
    x[4 * d..5 * d]
        .iter_mut()
        .enumerate()
        .for_each(|(j, v)| *v = f16::from_bits(j as u16 % 1024)); // subnormals
    x[5 * d] = f16::from_f32(-0.0);
    let t = Tensor::f16(x)
        .reshaped(&[6, d])
        .unwrap_or_else(|_| Tensor::f16(vec![]));
    vec![Case {
        label: "NaN, zero, inf, tie and subnormal rows",
        inputs: vec![t],
    }]
}

fn f16_cases() -> Vec<Case> {
    let mut v = super::common::edge_values();
    v.extend([
        65504.0, -65504.0, 65520.0, -65520.0, 65519.996, 6.1e-5, 5.96e-8, 2.98e-8, 2.99e-8, -3e-8,
        1e-9,
    ]);
    // Ties: halfway between neighbouring f16 values, at several exponents.
    for k in [1.0f32, 2.0, 1024.0, 1e-6] {
        let h = f16::from_f32(k);
        let next = f16::from_bits(h.to_bits() + 1);
        v.push((h.to_f32() + next.to_f32()) / 2.0);
        v.push(-(h.to_f32() + next.to_f32()) / 2.0);
    }
    // Every f16-relevant exponent, with random mantissas.
    v.extend(
        philox::words(11, 0, 100_003)
            .into_iter()
            .map(|w| f32::from_bits((w & 0x807f_ffff) | ((w % 40 + 97) << 23))),
    );
    vec![Case {
        label: "f16 boundaries, ties and subnormals",
        inputs: vec![Tensor::f32(v)],
    }]
}

fn dequant_cases() -> Vec<Case> {
    let d = 1024;
    let q: Vec<i8> = (0..2 * d).map(|j| (j % 256) as u8 as i8).collect(); // every code, −128 included
    let s = vec![0.0173f32, 600.0]; // row 1 overflows f16 for large codes
    vec![Case {
        label: "every code, −128 included; overflow to inf",
        inputs: vec![
            Tensor::i8(q)
                .reshaped(&[2, d])
                .unwrap_or_else(|_| Tensor::i8(vec![])),
            Tensor::f32(s),
        ],
    }]
}

pub static OPS: &[Op] = &[
    Op {
        name: "quantize_f32_to_f16",
        inputs: &[input("x", DType::F32)],
        outputs: &["y"],
        shapes: |i, _| Ok(vec![TensorDesc::new(DType::F16, i[0].shape())]),
        // The checker rounds the f64 value once to f16: exactly the definition.
        reference: |i, _| vec![Expected::new(DType::F16, i[0].shape(), i[0].to_f64_vec())],
        workload: |n, s, _| vec![Tensor::f32(philox::normal(s, 0, n, 0.0, 100.0))],
        edge_cases: f16_cases,
        cpu: cpu::f32_to_f16,
    },
    Op {
        name: "quantize_f16_to_i8",
        inputs: &[input("x", DType::F16)],
        outputs: &["q", "s"],
        shapes: |i, p| {
            let d = p.usize("d");
            let r = shape::rows_of("quantize_f16_to_i8", i[0], d)?;
            Ok(vec![
                TensorDesc::new(DType::I8, &[r, d]),
                TensorDesc::new(DType::F32, &[r]),
            ])
        },
        reference: |i, p| {
            let d = p.usize("d");
            let x = i[0].as_f16().unwrap_or(&[]);
            let r = x.len() / d;
            let (mut q, mut s) = (Vec::with_capacity(x.len()), Vec::with_capacity(r));
            for row in x.chunks_exact(d) {
                let sr = scale_of(max_abs(row.iter().map(|v| v.to_f32())));
                s.push(sr as f64);
                q.extend(row.iter().map(|v| code_of(v.to_f32(), sr) as f64));
            }
            vec![
                Expected::new(DType::I8, &[r, d], q),
                Expected::new(DType::F32, &[r], s),
            ]
        },
        workload: |n, s, p| vec![f16_rows(n, s, p.usize("d"))],
        edge_cases: quant_cases,
        cpu: cpu::f16_to_i8,
    },
    Op {
        name: "dequantize_i8_to_f16",
        inputs: &[input("q", DType::I8), input("s", DType::F32)],
        outputs: &["y"],
        shapes: |i, p| {
            let d = p.usize("d");
            let r = shape::rows_of("dequantize_i8_to_f16", i[0], d)?;
            if i[1].len() != r {
                return Err(Error::Shape(format!(
                    "dequantize_i8_to_f16: {r} rows of codes need {r} scales, got {}",
                    i[1].len()
                )));
            }
            Ok(vec![TensorDesc::new(DType::F16, &[r, d])])
        },
        reference: |i, p| {
            let d = p.usize("d");
            let (q, s) = (i[0].as_i8().unwrap_or(&[]), i[1].as_f32().unwrap_or(&[]));
            let y = q
                .chunks_exact(d)
                .zip(s)
                .flat_map(|(row, &s)| row.iter().map(move |&c| (c as f32 * s) as f64))
                .collect();
            vec![Expected::new(DType::F16, &[q.len() / d, d], y)]
        },
        workload: |n, seed, p| {
            let d = p.usize("d");
            let r = rows(n as u64, d as u64) as usize;
            let q = philox::randint(seed, 0, r * d, -127, 128)
                .into_iter()
                .map(|v| v as i8)
                .collect();
            vec![
                Tensor::i8(q)
                    .reshaped(&[r, d])
                    .unwrap_or_else(|_| Tensor::i8(vec![])),
                Tensor::f32(philox::uniform(seed, 1, r, 1e-3, 1e-1)),
            ]
        },
        edge_cases: dequant_cases,
        cpu: cpu::i8_to_f16,
    },
];
