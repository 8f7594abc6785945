//! The prng domain (docs/kernels/prng.md): Philox4x32-10 words of stream 0 and what the
//! workload generator makes of them — uniform floats, Box–Muller normals and a dropout mask —
//! bit-identical (or, for the normals, within their tolerance) on every backend to
//! `crate::philox`, which generates every kernel's inputs.
//!
//! A generator reads no data: its one input is a size-only tensor (`Tensor::size_only(n)`,
//! shape [n, 0], no bytes), so the harness sizes it like any other kernel.

pub(crate) mod cpu;
mod cuda;

pub(crate) use cuda::CUDA;

use crate::op::{input, shape, Case, Op};
use crate::philox;
use crate::spec::{Domain, KernelSpec, Metric, ParamSpec, Tolerance};
use crate::tensor::{DType, Tensor, TensorDesc};
use crate::verify::Expected;
use crate::{Error, Params, Result};

// NOTE: the entry says any u64 seed is valid, but parameters travel as f64, which holds every
// integer only up to 2^53; a larger seed would silently become another one. The range is
// therefore [0, 2^53] (a larger seed is Error::Param), which still covers keys with a nonzero
// high word (s ≥ 2^32). The entry is corrected to say so. Monte Carlo (simulation) shares it.
pub(crate) const SEED: ParamSpec = ParamSpec::int(
    "seed",
    42.0,
    0.0,
    9_007_199_254_740_992.0,
    "Philox seed s < 2^53; key = (s mod 2^32, ⌊s/2^32⌋)",
);

pub static SPECS: &[KernelSpec] = &[
    KernelSpec {
        name: "prng_philox",
        domain: Domain::Prng,
        computes: "y_k = word k of stream 0: output word (k mod 4) of Philox4x32-10 on counter (j mod 2^32, ⌊j/2^32⌋, 0, 0), j = ⌊k/4⌋, key (s mod 2^32, ⌊s/2^32⌋)",
        shapes: "no input → y u32[N] (N/4 Philox blocks)",
        params: &[SEED],
        tolerance: Tolerance::Exact,
        metric: Metric::Bandwidth,
        bytes: |n| 4.0 * n as f64,
        flops: |_n| 0.0,
    },
    KernelSpec {
        name: "prng_uniform_f32",
        domain: Domain::Prng,
        computes: "y_k = a + (b − a)·u_k, u_k = (w_k >> 8)·2^−24 ∈ [0, 1), w_k = word k of stream 0; in f64, rounded once to f32",
        shapes: "no input → y f32[N]",
        // The entry also requires a < b, a constraint between parameters: the shape rule checks
        // it (Error::Param).
        params: &[
            SEED,
            ParamSpec::f64("a", 0.0, -1.7e38, 1.7e38, "lower bound of the interval (requires a < b)"),
            ParamSpec::f64("b", 1.0, -1.7e38, 1.7e38, "upper bound of the interval (requires a < b)"),
        ],
        // Exact at a = 0, b = 1 (the defaults); for other (a, b) the reference sets
        // elementwise(0, 3·ulp_f32(max(|a|, |b|))) on its output (`Expected::with_tolerance`).
        tolerance: Tolerance::Exact,
        metric: Metric::Bandwidth,
        bytes: |n| 4.0 * n as f64,
        flops: |n| 2.0 * n as f64,
    },
    KernelSpec {
        name: "prng_normal_f32",
        domain: Domain::Prng,
        computes: "Box–Muller on stream 0: u1 = ((w_2p >> 8) + 1)·2^−24, u2 = (w_2p+1 >> 8)·2^−24, r = sqrt(−2 ln u1), y_2p = r cos(2π u2), y_2p+1 = r sin(2π u2); f64, rounded once",
        shapes: "no input → y f32[N] (|y| ≤ 5.768)",
        params: &[SEED],
        tolerance: Tolerance::Elementwise { rtol: 2e-6, atol: 4e-6 },
        metric: Metric::Bandwidth,
        bytes: |n| 4.0 * n as f64,
        flops: |n| 4.0 * n as f64,
    },
    KernelSpec {
        name: "prng_dropout_mask",
        domain: Domain::Prng,
        computes: "m_k = 1 if u_k < keep else 0, u_k = (w_k >> 8)·2^−24 from word k of stream 0; exactly m_k = [(w_k >> 8) < ⌈keep·2^24⌉]",
        shapes: "no input → m u8[N] (≈ 90% ones)",
        params: &[SEED, ParamSpec::f64("keep", 0.9, 0.0, 1.0, "keep probability")],
        tolerance: Tolerance::Exact,
        metric: Metric::Bandwidth,
        bytes: |n| n as f64,
        flops: |n| n as f64,
    },
];

/// The seed parameter as the u64 it is (the range check keeps it an exact integer).
pub(crate) fn seed(p: &Params) -> u64 {
    p.get("seed") as u64
}

/// The dropout threshold T = ⌈keep·2^24⌉: element k is kept when (w_k >> 8) < T.
pub(crate) fn keep_threshold(p: &Params) -> u32 {
    (p.get("keep") * 16_777_216.0).ceil() as u32
}

fn generated(name: &str, dtype: DType, i: &[&Tensor]) -> Result<Vec<TensorDesc>> {
    Ok(vec![TensorDesc::new(dtype, &[shape::generated(name, i[0])?])])
}
fn philox_shapes(i: &[&Tensor], _p: &Params) -> Result<Vec<TensorDesc>> {
    generated("prng_philox", DType::U32, i)
}
fn uniform_shapes(i: &[&Tensor], p: &Params) -> Result<Vec<TensorDesc>> {
    let (a, b) = (p.get("a"), p.get("b"));
    if !(a < b) {
        return Err(Error::Param(format!(
            "prng_uniform_f32: the interval needs a < b, got a = {a}, b = {b}"
        )));
    }
    generated("prng_uniform_f32", DType::F32, i)
}
fn normal_shapes(i: &[&Tensor], _p: &Params) -> Result<Vec<TensorDesc>> {
    generated("prng_normal_f32", DType::F32, i)
}
fn dropout_shapes(i: &[&Tensor], _p: &Params) -> Result<Vec<TensorDesc>> {
    generated("prng_dropout_mask", DType::U8, i)
}

fn len(i: &[&Tensor]) -> usize {
    i[0].size_only_len().unwrap_or(0)
}

fn philox_reference(i: &[&Tensor], p: &Params) -> Vec<Expected> {
    let n = len(i);
    let w = philox::words(seed(p), 0, n);
    vec![Expected::new(DType::U32, &[n], w.iter().map(|&w| w as f64).collect())]
}

/// One unit in the last place of f32 at |x| (the spacing just above |x|).
fn ulp_f32(x: f64) -> f64 {
    let m = (x.abs() as f32).min(f32::MAX);
    if m == f32::MAX {
        return (m - f32::from_bits(m.to_bits() - 1)) as f64;
    }
    (f32::from_bits(m.to_bits() + 1) - m) as f64
}

fn uniform_reference(i: &[&Tensor], p: &Params) -> Vec<Expected> {
    let n = len(i);
    let (a, b) = (p.get("a"), p.get("b"));
    let w = philox::words(seed(p), 0, n);
    let y = w.iter().map(|&w| a + (b - a) * philox::unit(w)).collect();
    let e = Expected::new(DType::F32, &[n], y);
    if a == 0.0 && b == 1.0 {
        vec![e]
    } else {
        let atol = 3.0 * ulp_f32(a.abs().max(b.abs()));
        vec![e.with_tolerance(Tolerance::Elementwise { rtol: 0.0, atol })]
    }
}

/// Box–Muller on word pairs (2p, 2p + 1) in f64, as `philox::normal` with μ = 0, σ = 1; not
/// rounded, so the checker rounds once.
pub(crate) fn box_muller(w1: u32, w2: u32) -> (f64, f64) {
    let u1 = ((w1 >> 8) as f64 + 1.0) * (1.0 / 16_777_216.0);
    let u2 = philox::unit(w2);
    let r = (-2.0 * u1.ln()).sqrt();
    let (s, c) = (2.0 * std::f64::consts::PI * u2).sin_cos();
    (r * c, r * s)
}

fn normal_reference(i: &[&Tensor], p: &Params) -> Vec<Expected> {
    let n = len(i);
    let w = philox::words(seed(p), 0, n + n % 2);
    let mut y = Vec::with_capacity(n + 1);
    for pair in w.chunks_exact(2) {
        let (c, s) = box_muller(pair[0], pair[1]);
        y.push(c);
        y.push(s);
    }
    y.truncate(n);
    vec![Expected::new(DType::F32, &[n], y)]
}

fn dropout_reference(i: &[&Tensor], p: &Params) -> Vec<Expected> {
    let n = len(i);
    let keep = p.get("keep");
    let w = philox::words(seed(p), 0, n);
    // The definition: u_k < keep in f64 (u is exact), which equals the integer rule.
    let m = w.iter().map(|&w| (philox::unit(w) < keep) as u8 as f64).collect();
    vec![Expected::new(DType::U8, &[n], m)]
}

fn workload(n: usize, _seed: u64, _p: &Params) -> Vec<Tensor> {
    vec![Tensor::size_only(n)]
}

/// Lengths that end inside a Philox block (N mod 4 ≠ 0), inside a SIMD group of blocks, and
/// around a CUDA thread's and a CPU chunk's share.
fn cases() -> Vec<Case> {
    const LENGTHS: [(usize, &str); 11] = [
        (0, "no elements"),
        (1, "1 element: one word of the first block"),
        (2, "2 elements"),
        (3, "3 elements: a partial block"),
        (5, "5 elements: one block and one word"),
        (63, "63 elements: one word short of 16 blocks"),
        (65, "65 elements"),
        (4093, "4093 elements (prime)"),
        (4097, "4097 elements"),
        (65_537, "65537 elements"),
        (262_147, "262147 elements: several CPU chunks and a partial block"),
    ];
    LENGTHS
        .iter()
        .map(|&(n, label)| Case {
            label,
            inputs: vec![Tensor::size_only(n)],
        })
        .collect()
}

pub static OPS: &[Op] = &[
    Op {
        name: "prng_philox",
        inputs: &[input("size", DType::U8)],
        outputs: &["y"],
        shapes: philox_shapes,
        reference: philox_reference,
        workload,
        edge_cases: cases,
        cpu: cpu::philox,
    },
    Op {
        name: "prng_uniform_f32",
        inputs: &[input("size", DType::U8)],
        outputs: &["y"],
        shapes: uniform_shapes,
        reference: uniform_reference,
        workload,
        edge_cases: cases,
        cpu: cpu::uniform,
    },
    Op {
        name: "prng_normal_f32",
        inputs: &[input("size", DType::U8)],
        outputs: &["y"],
        shapes: normal_shapes,
        reference: normal_reference,
        workload,
        edge_cases: cases,
        cpu: cpu::normal,
    },
    Op {
        name: "prng_dropout_mask",
        inputs: &[input("size", DType::U8)],
        outputs: &["m"],
        shapes: dropout_shapes,
        reference: dropout_reference,
        workload,
        edge_cases: cases,
        cpu: cpu::dropout,
    },
];

#[cfg(test)]
mod tests {
    use crate::registry::registry;
    use crate::{Params, Tensor};

    /// The entry's known answers (seed 42), from every CPU implementation.
    #[test]
    fn known_answers_on_every_cpu_backend() {
        let r = registry();
        let run = |name: &str, n: usize, imp: &str| {
            let k = r.kernel(name).unwrap();
            let size = Tensor::size_only(n);
            let p = Params::defaults(k.spec);
            k.run(k.implementation(imp).unwrap(), &[&size], &p).unwrap().remove(0)
        };
        for imp in ["scalar", "simd", "parallel"] {
            // 64 words: a whole SIMD group on AVX-512, so the vector path is the one checked.
            let w = run("prng_philox", 64, imp);
            assert_eq!(
                &w.as_u32().unwrap()[..8],
                &[
                    0x9ceaf053, 0x77f5493b, 0x12bf50ad, 0x5742b3d7, 0xfcdb2127, 0x53ba6cfd,
                    0x838f5a6e, 0x744e06fb
                ],
                "{imp}"
            );
            let u = run("prng_uniform_f32", 64, imp);
            assert_eq!(
                &u.as_f32().unwrap()[..4],
                &[0.61295986, 0.46858650, 0.07323170, 0.34086150],
                "{imp}"
            );
            let z = run("prng_normal_f32", 64, imp);
            for (got, want) in z.as_f32().unwrap()[..4]
                .iter()
                .zip([-0.97018969f32, 0.19401902, -1.23562002, 1.92392707])
            {
                assert!((got - want).abs() <= 4e-6, "{imp}: {got} vs {want}");
            }
            let m = run("prng_dropout_mask", 64, imp);
            assert_eq!(&m.as_u8().unwrap()[..8], &[1, 1, 1, 1, 0, 1, 1, 1], "{imp}");
        }
    }

    #[test]
    fn stream_one_known_answer() {
        let w: Vec<u32> = (0..4).map(|k| crate::philox::word(42, 1, k)).collect();
        assert_eq!(w, [0x02933769, 0x2051e913, 0x3b68b038, 0xb62c409c]);
    }

    /// The integer dropout rule keeps the element whose u is exactly f32(0.9), which `u <
    /// 0.9f32` would drop.
    #[test]
    fn dropout_threshold_is_the_integer_rule() {
        let k = registry().kernel("prng_dropout_mask").unwrap();
        let p = Params::defaults(k.spec);
        assert_eq!(super::keep_threshold(&p), 15_099_495);
        assert!((15_099_494.0 / 16_777_216.0f64) < 0.9);
        assert!(!((15_099_494.0 / 16_777_216.0f32) < 0.9f32));
    }

    #[test]
    fn bad_intervals_and_seeds_are_parameter_errors() {
        let k = registry().kernel("prng_uniform_f32").unwrap();
        let mut p = Params::defaults(k.spec);
        p.set(k.spec, "a", 2.0).unwrap();
        let size = Tensor::size_only(8);
        assert!(matches!(k.check(&[&size], &p), Err(crate::Error::Param(_))));
        assert!(Params::resolve(k.spec, &[("seed".into(), "18446744073709551615".into())]).is_err());
        // Data where a size is expected is a shape error, not a panic.
        let data = Tensor::u8(vec![1, 2, 3]);
        assert!(matches!(
            k.check(&[&data], &Params::defaults(k.spec)),
            Err(crate::Error::Shape(_))
        ));
    }
}
