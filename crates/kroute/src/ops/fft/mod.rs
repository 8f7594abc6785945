//! fft (`kernels/fft.md`): forward and inverse complex-to-complex DFTs, the real-to-complex
//! DFT and its power spectrum, on L = 2^⌊log2 N⌋ points in single precision. complex64 is
//! interleaved (re, im) f32 pairs, so every tensor here is a 1-D f32 tensor: a c2c input or
//! output of L points holds 2L f32, an rfft output 2(⌊L/2⌋ + 1).
//!
//! The reference is an f64 radix-2 FFT (exact twiddles from f64 sin/cos, error ~1e-16·log2 L,
//! far below the tolerance): an O(L²) sum is out of reach at L = 2^26.

pub(crate) mod cpu;
mod cuda;
mod cufft;
mod libraries;

pub(crate) use cuda::CUDA;
pub(crate) use cufft::LIBRARIES as CUFFT_LIBRARIES;
pub(crate) use libraries::LIBRARIES;

use crate::op::{input, shape, Case, Op};
use crate::params::Params;
use crate::philox;
use crate::spec::{Domain, KernelSpec, Metric, NonFinite, Tolerance};
use crate::tensor::{DType, Tensor, TensorDesc};
use crate::verify::Expected;
use crate::{Error, Result};

/// L = 2^⌊log2 N⌋ (N = 0 is Error::Empty; treated as L = 1 here) and log2 L.
fn fft_len(n: u64) -> (f64, f64) {
    let log2 = 63 - n.max(1).leading_zeros();
    ((1u64 << log2) as f64, log2 as f64)
}

// NOTE (every entry of this domain): the tolerance is norm(4e-7·log2 L), which depends on N
// through L = 2^⌊log2 N⌋. A static class holds one number, so this is its value at the default
// N = 10^7 (L = 2^23): 4e-7·23 = 9.2e-6. The reference gives each output its own class
// (`spectral`): 4e-7·log2 L, the entry's denormal floor and its non-finite rules.
const TOL: Tolerance = Tolerance::Norm { rtol: 4e-7 * 23.0 };

// NOTE (every entry of this domain): no entry names a headline metric outright, but the c2c
// entries credit a nominal 5·L·log2 L "so GFLOP/s compares time directly" across algorithms, the
// usual FFT figure of merit; Flops is chosen for all five (at large L an FFT is in practice
// memory-bound, so Bandwidth is the alternative reading).
pub static SPECS: &[KernelSpec] = &[
    KernelSpec {
        name: "fft_radix2",
        domain: Domain::Fft,
        computes: "X_k = Σ_n x_n·e^{−2πi·kn/L}, L = 2^⌊log2 N⌋, unnormalised forward c2c DFT in natural order (iterative radix-2)",
        shapes: "x complex64[L] (one f32[2L] ~ normal, stream 0, interleaved re/im) → X complex64[L], L = 2^⌊log2 N⌋",
        params: &[],
        tolerance: TOL,
        metric: Metric::Flops,
        bytes: |n| 16.0 * fft_len(n).0,
        flops: |n| {
            let (l, lg) = fft_len(n);
            5.0 * l * lg
        },
    },
    KernelSpec {
        name: "fft_radix4",
        domain: Domain::Fft,
        computes: "fft_radix2's transform (forward unnormalised c2c DFT, L = 2^⌊log2 N⌋, natural order) by radix-4 stages plus one radix-2 stage when log2 L is odd",
        shapes: "x complex64[L] (one f32[2L] ~ normal, stream 0, interleaved re/im) → X complex64[L], L = 2^⌊log2 N⌋",
        params: &[],
        tolerance: TOL,
        metric: Metric::Flops,
        bytes: |n| 16.0 * fft_len(n).0,
        flops: |n| {
            let (l, lg) = fft_len(n);
            5.0 * l * lg
        },
    },
    KernelSpec {
        name: "ifft",
        domain: Domain::Fft,
        computes: "x_n = (1/L)·Σ_k X_k·e^{+2πi·kn/L}, L = 2^⌊log2 N⌋, inverse c2c DFT in natural order",
        shapes: "X complex64[L] (one f32[2L] ~ normal, stream 0, interleaved re/im) → x complex64[L], L = 2^⌊log2 N⌋",
        params: &[],
        tolerance: TOL,
        metric: Metric::Flops,
        bytes: |n| 16.0 * fft_len(n).0,
        flops: |n| {
            let (l, lg) = fft_len(n);
            5.0 * l * lg
        },
    },
    KernelSpec {
        name: "fft_real",
        domain: Domain::Fft,
        computes: "X_k = Σ_n x_n·e^{−2πi·kn/L} for k = 0 … ⌊L/2⌋ (rfft), L = 2^⌊log2 N⌋",
        shapes: "x f32[L] ~ normal (stream 0) → X complex64[⌊L/2⌋ + 1], L = 2^⌊log2 N⌋",
        params: &[],
        tolerance: TOL,
        metric: Metric::Flops,
        bytes: |n| {
            let (l, _) = fft_len(n);
            4.0 * l + 8.0 * ((l / 2.0).floor() + 1.0)
        },
        flops: |n| {
            let (l, lg) = fft_len(n);
            2.5 * l * lg
        },
    },
    KernelSpec {
        name: "spectral_power",
        domain: Domain::Fft,
        computes: "P_k = |X_k|² = Re(X_k)² + Im(X_k)², k = 0 … ⌊L/2⌋, X = rfft(x) (no scaling, no window); the spectrum is never written",
        shapes: "x f32[L] ~ normal (stream 0) → P f32[⌊L/2⌋ + 1], L = 2^⌊log2 N⌋",
        params: &[],
        tolerance: TOL,
        metric: Metric::Flops,
        bytes: |n| {
            let (l, _) = fft_len(n);
            4.0 * l + 4.0 * ((l / 2.0).floor() + 1.0)
        },
        flops: |n| {
            let (l, lg) = fft_len(n);
            2.5 * l * lg + 3.0 * ((l / 2.0).floor() + 1.0)
        },
    },
];

// ---- lengths and shapes ----------------------------------------------------------------------

/// log2 of a power of two.
fn log2(l: usize) -> u32 {
    l.trailing_zeros()
}

/// The point count L of a c2c input of 2L f32 (L a power of two).
fn c2c_len(name: &str, t: &Tensor) -> Result<usize> {
    let len = shape::one_d(name, t)?;
    shape::nonempty(name, t)?;
    if len % 2 != 0 || !(len / 2).is_power_of_two() {
        return Err(Error::Shape(format!(
            "{name}: the input is complex64[L] as 2L interleaved f32 (re, im), L a power of two; \
             got {len} f32"
        )));
    }
    Ok(len / 2)
}

/// The length L of a real input (a power of two).
fn real_len(name: &str, t: &Tensor) -> Result<usize> {
    let len = shape::one_d(name, t)?;
    shape::nonempty(name, t)?;
    if !len.is_power_of_two() {
        return Err(Error::Shape(format!(
            "{name}: the input length must be a power of two (L = 2^⌊log2 N⌋), got {len}"
        )));
    }
    Ok(len)
}

fn c2c_shapes(name: &str, i: &[&Tensor]) -> Result<Vec<TensorDesc>> {
    let l = c2c_len(name, i[0])?;
    Ok(vec![TensorDesc::new(DType::F32, &[2 * l])])
}

fn rfft_shapes(i: &[&Tensor], _: &Params) -> Result<Vec<TensorDesc>> {
    let l = real_len("fft_real", i[0])?;
    Ok(vec![TensorDesc::new(DType::F32, &[2 * (l / 2 + 1)])])
}

fn power_shapes(i: &[&Tensor], _: &Params) -> Result<Vec<TensorDesc>> {
    let l = real_len("spectral_power", i[0])?;
    Ok(vec![TensorDesc::new(DType::F32, &[l / 2 + 1])])
}

// ---- reference -------------------------------------------------------------------------------

/// The forward DFT of `a` (interleaved f64 pairs, length 2L, L a power of two) in place:
/// iterative radix-2 decimation in time, bit-reversed input order, twiddles e^{−2πik/L} from
/// f64 sin/cos of each angle (no recurrence).
pub fn fft_f64(a: &mut [f64]) {
    let l = a.len() / 2;
    if l <= 1 {
        return;
    }
    let bits = log2(l);
    for i in 0..l {
        let j = i.reverse_bits() >> (usize::BITS - bits);
        if j > i {
            a.swap(2 * i, 2 * j);
            a.swap(2 * i + 1, 2 * j + 1);
        }
    }
    let tw: Vec<(f64, f64)> = (0..l / 2)
        .map(|k| {
            let (s, c) = (-2.0 * std::f64::consts::PI * k as f64 / l as f64).sin_cos();
            (c, s)
        })
        .collect();
    let mut half = 1;
    while half < l {
        let step = l / (2 * half);
        for start in (0..l).step_by(2 * half) {
            for j in 0..half {
                let (wr, wi) = tw[j * step];
                let (p, q) = (2 * (start + j), 2 * (start + j + half));
                let (br, bi) = (a[q] * wr - a[q + 1] * wi, a[q] * wi + a[q + 1] * wr);
                let (ar, ai) = (a[p], a[p + 1]);
                a[p] = ar + br;
                a[p + 1] = ai + bi;
                a[q] = ar - br;
                a[q + 1] = ai - bi;
            }
        }
        half *= 2;
    }
}

/// The class each output is checked under (docs/kernels/fft.md): norm(4e-7·log2 L) with a
/// floor of log2 L·L denormal steps, every output non-finite where an input is, and any output
/// allowed to be non-finite where Σ|x_n| (a bound on every intermediate of an FFT) may overflow
/// f32: above 2^125 (2^62 for the power spectrum, which squares it). `round`: an extra
/// relative allowance for a final rounding the entry's 4e-7·log2 L leaves no room for at L = 1
/// (the power spectrum's square: 2^-24).
fn spectral(l: usize, nonfinite_input: bool, bound: f64, limit: f64, round: f64) -> Tolerance {
    let lg = log2(l) as f64;
    let nonfinite = if nonfinite_input {
        NonFinite::Every
    } else if bound > limit {
        NonFinite::Allowed
    } else {
        NonFinite::Never
    };
    Tolerance::Spectral {
        rtol: 4e-7 * lg + round,
        atol: lg * l as f64 * f64::from_bits(0x36a0_0000_0000_0000), // 2^-149
        nonfinite,
    }
}

const LIMIT: f64 = 4.253529586511731e37; // 2^125

/// Σ|x_n| over complex points (interleaved pairs) and whether any value is NaN or ±inf.
fn c2c_bound(x: &[f64]) -> (f64, bool) {
    let bound = x.chunks(2).map(|p| p[0].hypot(p[1])).sum();
    (bound, x.iter().any(|v| !v.is_finite()))
}

fn c2c_reference(i: &[&Tensor], inverse: bool) -> Vec<Expected> {
    let mut a = i[0].to_f64_vec();
    let l = a.len() / 2;
    let (bound, bad) = c2c_bound(&a);
    if inverse {
        // x = conj(FFT(conj X)) / L.
        a.iter_mut().skip(1).step_by(2).for_each(|v| *v = -*v);
        fft_f64(&mut a);
        let s = 1.0 / l as f64;
        a.chunks_mut(2).for_each(|p| {
            p[0] *= s;
            p[1] *= -s;
        });
    } else {
        fft_f64(&mut a);
    }
    vec![Expected::new(DType::F32, &[2 * l], a).with_tolerance(spectral(l, bad, bound, LIMIT, 0.0))]
}

/// The rfft of a real input in f64: bins 0 … ⌊L/2⌋ of the full complex transform, interleaved.
fn rfft_f64(x: &[f64]) -> Vec<f64> {
    let l = x.len();
    let mut a: Vec<f64> = x.iter().flat_map(|&v| [v, 0.0]).collect();
    fft_f64(&mut a);
    a.truncate(2 * (l / 2 + 1));
    a
}

fn real_bound(x: &[f64]) -> (f64, bool) {
    (x.iter().map(|v| v.abs()).sum(), x.iter().any(|v| !v.is_finite()))
}

fn rfft_reference(i: &[&Tensor], _: &Params) -> Vec<Expected> {
    let x = i[0].to_f64_vec();
    let (bound, bad) = real_bound(&x);
    let y = rfft_f64(&x);
    let tol = spectral(x.len(), bad, bound, LIMIT, 0.0);
    vec![Expected::new(DType::F32, &[y.len()], y).with_tolerance(tol)]
}

fn power_reference(i: &[&Tensor], _: &Params) -> Vec<Expected> {
    let x = i[0].to_f64_vec();
    let (bound, bad) = real_bound(&x);
    let p: Vec<f64> = rfft_f64(&x)
        .chunks(2)
        .map(|c| c[0] * c[0] + c[1] * c[1])
        .collect();
    let tol = spectral(x.len(), bad, bound, 4.611686018427388e18, 2f64.powi(-24)); // 2^62
    vec![Expected::new(DType::F32, &[p.len()], p).with_tolerance(tol)]
}

// ---- workloads and edge cases ----------------------------------------------------------------

/// L = 2^⌊log2 n⌋ points; 0 for n = 0 (an empty input, refused as Error::Empty).
pub fn points(n: usize) -> usize {
    if n == 0 {
        0
    } else {
        1 << (usize::BITS - 1 - n.leading_zeros())
    }
}

/// x complex64[L] as one f32[2L] ~ normal (stream 0): element 2j is Re x_j, 2j + 1 is Im x_j.
fn c2c_workload(n: usize, seed: u64, _: &Params) -> Vec<Tensor> {
    vec![Tensor::f32(philox::normal(seed, 0, 2 * points(n), 0.0, 1.0))]
}

/// x f32[L] ~ normal (stream 0).
fn real_workload(n: usize, seed: u64, _: &Params) -> Vec<Tensor> {
    vec![Tensor::f32(philox::normal(seed, 0, points(n), 0.0, 1.0))]
}

/// `count` f32 of a fixed pattern with `v` at `at` (cases for both input kinds).
fn with_value(count: usize, at: usize, v: f32) -> Tensor {
    let mut x: Vec<f32> = (0..count).map(|k| ((k * 7 % 11) as f32 - 5.0) * 0.25).collect();
    x[at] = v;
    Tensor::f32(x)
}

/// The entry's edge cases; `width` f32 per point (2 for c2c inputs, 1 for real ones).
fn cases(width: usize) -> Vec<Case> {
    let t = |v: Vec<f32>| Tensor::f32(v);
    let n = |points: usize| points * width;
    let mut v = vec![
        Case {
            label: "L = 1",
            inputs: vec![t(vec![3.5, -1.25][..width].to_vec())],
        },
        Case {
            label: "L = 2",
            inputs: vec![t(vec![1.0, -2.0, 3.0, 0.5][..2 * width].to_vec())],
        },
        Case {
            label: "L = 4",
            inputs: vec![with_value(n(4), 1, 2.0)],
        },
        Case {
            label: "L = 8 (odd log2 L)",
            inputs: vec![with_value(n(8), 3, -1.5)],
        },
        Case {
            label: "an impulse at L = 32",
            inputs: vec![t((0..n(32)).map(|k| (k == width) as u8 as f32).collect())],
        },
        Case {
            label: "a constant at L = 64",
            inputs: vec![t(vec![0.75; n(64)])],
        },
        Case {
            label: "denormals at L = 128",
            inputs: vec![t((0..n(128))
                .map(|k| f32::from_bits(1 + (k as u32).wrapping_mul(2_654_435_761) % 4_000_000) * if k % 3 == 0 { -1.0 } else { 1.0 })
                .collect())],
        },
        Case {
            label: "values near f32::MAX at L = 16 (overflow)",
            inputs: vec![t((0..n(16)).map(|k| if k % 2 == 0 { 3e38 } else { -1e38 }).collect())],
        },
    ];
    for (label, value) in [
        ("one NaN at L = 16", f32::NAN),
        ("one +inf at L = 16", f32::INFINITY),
        ("one -inf at L = 16", f32::NEG_INFINITY),
    ] {
        v.push(Case {
            label,
            inputs: vec![with_value(n(16), 5, value)],
        });
    }
    v
}

fn c2c_cases() -> Vec<Case> {
    cases(2)
}

fn real_cases() -> Vec<Case> {
    cases(1)
}

pub static OPS: &[Op] = &[
    Op {
        name: "fft_radix2",
        inputs: &[input("x", DType::F32)],
        outputs: &["X"],
        shapes: |i, _| c2c_shapes("fft_radix2", i),
        reference: |i, _| c2c_reference(i, false),
        workload: c2c_workload,
        edge_cases: c2c_cases,
        cpu: cpu::fft_radix2,
    },
    Op {
        name: "fft_radix4",
        inputs: &[input("x", DType::F32)],
        outputs: &["X"],
        shapes: |i, _| c2c_shapes("fft_radix4", i),
        reference: |i, _| c2c_reference(i, false),
        workload: c2c_workload,
        edge_cases: c2c_cases,
        cpu: cpu::fft_radix4,
    },
    Op {
        name: "ifft",
        inputs: &[input("X", DType::F32)],
        outputs: &["x"],
        shapes: |i, _| c2c_shapes("ifft", i),
        reference: |i, _| c2c_reference(i, true),
        workload: c2c_workload,
        edge_cases: c2c_cases,
        cpu: cpu::ifft,
    },
    Op {
        name: "fft_real",
        inputs: &[input("x", DType::F32)],
        outputs: &["X"],
        shapes: rfft_shapes,
        reference: rfft_reference,
        workload: real_workload,
        edge_cases: real_cases,
        cpu: cpu::fft_real,
    },
    Op {
        name: "spectral_power",
        inputs: &[input("x", DType::F32)],
        outputs: &["P"],
        shapes: power_shapes,
        reference: power_reference,
        workload: real_workload,
        edge_cases: real_cases,
        cpu: cpu::spectral_power,
    },
];

#[cfg(test)]
mod tests {
    use super::*;

    /// The O(L²) definition against the f64 FFT the reference uses.
    #[test]
    fn the_reference_fft_is_the_dft() {
        for l in [1usize, 2, 4, 8, 32, 128] {
            let x: Vec<f64> = (0..2 * l).map(|k| ((k * 37 % 17) as f64 - 8.0) / 3.0).collect();
            let mut a = x.clone();
            fft_f64(&mut a);
            for k in 0..l {
                let (mut re, mut im) = (0.0, 0.0);
                for n in 0..l {
                    let t = -2.0 * std::f64::consts::PI * ((k * n) % l) as f64 / l as f64;
                    re += x[2 * n] * t.cos() - x[2 * n + 1] * t.sin();
                    im += x[2 * n] * t.sin() + x[2 * n + 1] * t.cos();
                }
                assert!((a[2 * k] - re).abs() < 1e-12 && (a[2 * k + 1] - im).abs() < 1e-12);
            }
        }
    }

    #[test]
    fn lengths_that_are_not_powers_of_two_are_refused() {
        let t = |n: usize| Tensor::f32(vec![1.0; n]);
        assert!(matches!(c2c_shapes("fft_radix2", &[&t(0)]), Err(Error::Empty(_))));
        assert!(matches!(c2c_shapes("fft_radix2", &[&t(3)]), Err(Error::Shape(_))));
        assert!(matches!(c2c_shapes("fft_radix2", &[&t(12)]), Err(Error::Shape(_))));
        assert!(c2c_shapes("fft_radix2", &[&t(2)]).is_ok());
        let p = Params::defaults(&SPECS[3]);
        assert!(matches!(rfft_shapes(&[&t(0)], &p), Err(Error::Empty(_))));
        assert!(matches!(rfft_shapes(&[&t(6)], &p), Err(Error::Shape(_))));
        assert_eq!(power_shapes(&[&t(8)], &p).unwrap()[0].shape, vec![5]);
        assert_eq!(rfft_shapes(&[&t(1)], &p).unwrap()[0].shape, vec![2]);
        assert_eq!(points(10_000_000), 1 << 23);
    }

    /// Every op on every CPU backend against the reference, across the single-row and the
    /// four-step lengths and the edge cases (the registry's tests add N = 10^8 and the sweep).
    #[test]
    fn cpu_implementations_match_the_reference() {
        use crate::backend::cpu::Cpu;
        let mut failures = Vec::new();
        for (op, spec) in OPS.iter().zip(SPECS) {
            let p = Params::defaults(spec);
            let mut inputs: Vec<(String, Vec<Tensor>)> = (0..=16)
                .map(|b| (format!("L=2^{b}"), (op.workload)(1 << b, 7, &p)))
                .collect();
            inputs.push(("N=1000003".into(), (op.workload)(1_000_003, 42, &p)));
            inputs.extend((op.edge_cases)().into_iter().map(|c| (c.label.to_string(), c.inputs)));
            for (label, x) in &inputs {
                let refs: Vec<&Tensor> = x.iter().collect();
                let desc = (op.shapes)(&refs, &p).unwrap();
                let exp = (op.reference)(&refs, &p);
                for cpu in [Cpu::Scalar, Cpu::Simd, Cpu::Parallel] {
                    let mut out: Vec<Tensor> = desc.iter().map(Tensor::zeros).collect();
                    out.iter_mut().for_each(Tensor::poison);
                    (op.cpu)(cpu, &refs, &p, &mut out).unwrap();
                    let a = crate::verify::compare(spec.tolerance, &out[0], &exp[0]);
                    if !a.passed {
                        failures.push(format!("{} {cpu:?} {label}: {:?}", op.name, a.first_failure));
                    }
                }
            }
        }
        assert!(failures.is_empty(), "{}", failures.join("\n"));
    }

    /// Rough CPU timings (not a benchmark: `kroute bench` is): `cargo test -p kroute --lib
    /// fft_cpu_timing -- --ignored --nocapture`.
    #[test]
    #[ignore]
    fn fft_cpu_timing() {
        use crate::backend::cpu::Cpu;
        for lg in [20, 23] {
            let x = c2c_workload(1 << lg, 42, &Params::defaults(&SPECS[0]));
            let xs = x[0].as_f32().unwrap();
            let mut y = vec![0f32; xs.len()];
            for cpu in [Cpu::Scalar, Cpu::Simd, Cpu::Parallel] {
                let mut best = f64::INFINITY;
                for _ in 0..3 {
                    let t = std::time::Instant::now();
                    cpu::c2c(cpu, xs, &mut y, false, false);
                    best = best.min(t.elapsed().as_secs_f64());
                }
                println!("c2c 2^{lg} {cpu:?}: {:.2} ms", best * 1e3);
            }
        }
    }
}
