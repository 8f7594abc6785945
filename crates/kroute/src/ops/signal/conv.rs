//! signal's FIR kernels (`docs/kernels/signal.md`): conv1d ('same' centred correlation, odd K),
//! fir_filter (causal convolution) and fft_conv1d (conv1d at K = 255 by block FFT). All three are
//! one form, a correlation with taps g and an offset:
//!
//!   y[n] = Σ_{k<K} g[k]·x[n + k − off],  x[i] = 0 outside [0, N)
//!
//! conv1d and fft_conv1d: g = h, off = (K − 1)/2; fir_filter: g = h reversed, off = K − 1
//! (Σ_k h[k]·x[n − k] = Σ_j h[K−1−j]·x[n + j − (K − 1)]). The padded terms are part of the sum
//! (0·g[k]: an infinite tap meeting the padding gives NaN, as torch's zero padding does).
//!
//! The reference is that sum in f64 (products of f32 values are exact there), rounded once, with
//! S_n = Σ_k |g[k]·x[n + k − off]| per output for the sum class.

use super::conv_cpu;
use crate::op::{input, shape, Case, Input, Op};
use crate::params::Params;
use crate::philox;
use crate::spec::Tolerance;
use crate::tensor::{DType, Tensor, TensorDesc};
use crate::verify::Expected;
use crate::{Error, Result};

/// Which of the three kernels: how its taps and offset follow from h.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Form {
    /// 'same' centred correlation (conv1d, fft_conv1d): g = h, off = (K − 1)/2.
    Centred,
    /// Causal convolution (fir_filter): g = h reversed, off = K − 1.
    Causal,
}

impl Form {
    /// (g, off) for taps h.
    pub fn taps(self, h: &[f32]) -> (Vec<f32>, usize) {
        match self {
            Form::Centred => (h.to_vec(), h.len().saturating_sub(1) / 2),
            Form::Causal => (h.iter().rev().copied().collect(), h.len().saturating_sub(1)),
        }
    }
}

/// Outputs per block of the reference (its inner loop runs over outputs, so it vectorises).
const REF_BLOCK: usize = 1024;

/// (y, S) in f64: y[n] = Σ_k g[k]·x[n + k − off] in k order, S_n = Σ_k |g[k]·x[n + k − off]|,
/// padded x values 0.
pub fn correlate_f64(x: &[f32], g: &[f32], off: usize) -> (Vec<f64>, Vec<f64>) {
    let n = x.len();
    let (mut y, mut s) = (vec![0.0f64; n], vec![0.0f64; n]);
    let at = |i: isize| -> f64 {
        if i >= 0 && (i as usize) < n {
            x[i as usize] as f64
        } else {
            0.0
        }
    };
    for start in (0..n).step_by(REF_BLOCK) {
        let end = (start + REF_BLOCK).min(n);
        for (k, &gk) in g.iter().enumerate() {
            let gk = gk as f64;
            for j in start..end {
                let t = gk * at(j as isize + k as isize - off as isize);
                y[j] += t;
                s[j] += t.abs();
            }
        }
    }
    (y, s)
}

// ---- shapes ----------------------------------------------------------------------------------

/// x f32[N] and h f32[K] with K the `taps` parameter (odd for the centred form) → y f32[N].
fn shapes(name: &str, form: Form, i: &[&Tensor], p: &Params) -> Result<Vec<TensorDesc>> {
    let n = shape::one_d(name, i[0])?;
    let k = shape::one_d(name, i[1])?;
    let taps = p.usize("taps");
    if form == Form::Centred && taps % 2 == 0 {
        return Err(Error::Param(format!(
            "{name}: taps K must be odd ('same' centring is ambiguous for even K), got {taps}"
        )));
    }
    if k != taps {
        return Err(Error::Shape(format!(
            "{name}: h must hold the taps K = {taps} values (the `taps` parameter), got {k}"
        )));
    }
    Ok(vec![TensorDesc::new(DType::F32, &[n])])
}

fn reference(form: Form, span_rule: bool, i: &[&Tensor], _: &Params) -> Vec<Expected> {
    let (Ok(x), Ok(h)) = (i[0].as_f32(), i[1].as_f32()) else {
        return vec![];
    };
    let (g, off) = form.taps(h);
    let (y, s) = correlate_f64(x, &g, off);
    let e = Expected::new(DType::F32, &[x.len()], y).with_scale(s);
    // fft_conv1d's exception (the entry's comparison rule): with a NaN or ±inf input, outputs
    // where the direct form is finite may be non-finite (same FFT block).
    let bad = x.iter().chain(h).any(|v| !v.is_finite());
    if span_rule && bad {
        vec![e.with_tolerance(Tolerance::SumSpan { rtol: 1e-5 })]
    } else {
        vec![e]
    }
}

/// x f32[N] ~ normal (stream 0), h f32[K] ~ normal(0, 1/√K) (stream 1), K = the taps parameter.
fn workload(n: usize, seed: u64, p: &Params) -> Vec<Tensor> {
    let k = p.usize("taps");
    vec![
        Tensor::f32(philox::normal(seed, 0, n, 0.0, 1.0)),
        Tensor::f32(philox::normal(seed, 1, k, 0.0, 1.0 / (k.max(1) as f64).sqrt())),
    ]
}

// ---- edge cases ------------------------------------------------------------------------------

/// The workload at n with the default taps `k` and `edits` applied to x.
fn with_x(n: usize, k: usize, seed: u64, edits: &[(usize, f32)]) -> Vec<Tensor> {
    let mut x = philox::normal(seed, 0, n, 0.0, 1.0);
    for &(at, v) in edits {
        x[at] = v;
    }
    let h = philox::normal(seed, 1, k, 0.0, 1.0 / (k as f64).sqrt());
    vec![Tensor::f32(x), Tensor::f32(h)]
}

/// The entry's edge cases at K taps: N = 1, N < K, NaN and ±inf at the ends and inside, inf
/// meeting a zero tap, values whose f32 products overflow or underflow; an impulse for the
/// direct form, and for fft_conv1d (`blocks`) cases at its block boundaries (outputs per block
/// 3842 on the CPU, 1794 on CUDA).
fn cases(k: usize, blocks: bool) -> Vec<Case> {
    let (nan, inf) = (f32::NAN, f32::INFINITY);
    let mut v = vec![
        Case {
            label: "N = 1",
            inputs: with_x(1, k, 11, &[]),
        },
        Case {
            label: "N = 2",
            inputs: with_x(2, k, 12, &[]),
        },
        Case {
            label: "N < K (N = K / 2 + 3)",
            inputs: with_x(k / 2 + 3, k, 13, &[]),
        },
        Case {
            label: "N = K",
            inputs: with_x(k, k, 14, &[]),
        },
        Case {
            label: "NaN at x[0]",
            inputs: with_x(10_007, k, 15, &[(0, nan)]),
        },
        Case {
            label: "NaN at x[N − 1]",
            inputs: with_x(10_007, k, 16, &[(10_006, nan)]),
        },
        Case {
            label: "NaN inside",
            inputs: with_x(10_007, k, 17, &[(5003, nan)]),
        },
        Case {
            label: "+inf and −inf far apart",
            inputs: with_x(10_007, k, 18, &[(100, inf), (9000, -inf)]),
        },
        Case {
            label: "+inf and −inf in one window (inf − inf)",
            inputs: with_x(10_007, k, 19, &[(4000, inf), (4001, -inf)]),
        },
        Case {
            label: "values near f32::MAX (f32 partials overflow, answers finite)",
            inputs: {
                let mut t = with_x(10_007, k, 20, &[]);
                if let Ok(x) = t[0].as_f32_mut() {
                    for (j, e) in x.iter_mut().enumerate() {
                        *e = if j % 2 == 0 { 3e38 } else { -3e38 };
                    }
                }
                t
            },
        },
        Case {
            label: "denormal x (f32 products underflow)",
            inputs: {
                let mut t = with_x(10_007, k, 21, &[]);
                if let Ok(x) = t[0].as_f32_mut() {
                    x.iter_mut().for_each(|e| *e = (*e as f64 * 1e-39) as f32);
                }
                t
            },
        },
        Case {
            label: "inf meeting a zero tap (inf·0)",
            inputs: {
                let mut t = with_x(10_007, k, 23, &[(777, inf)]);
                if let Ok(h) = t[1].as_f32_mut() {
                    h[0] = 0.0;
                }
                t
            },
        },
    ];
    if !blocks {
        // Not for fft_conv1d: outputs whose whole window is zero have S_n = 0, where the sum
        // class admits no error, but a block transform spreads rounding of ~1e-7 of the block's
        // scale over every output of the block (docs/kernels/signal.md, fft_conv1d's notes).
        v.push(Case {
            label: "an impulse (the taps, shifted)",
            inputs: {
                let mut t = with_x(4099, k, 22, &[]);
                if let Ok(x) = t[0].as_f32_mut() {
                    x.iter_mut().for_each(|e| *e = 0.0);
                    x[2048] = 1.0;
                }
                t
            },
        });
    }
    if blocks {
        for (label, n, at) in [
            ("NaN at a CPU block boundary (x[3842])", 20_000, 3842),
            ("NaN at a CUDA block boundary (x[1794])", 20_000, 1794),
        ] {
            v.push(Case {
                label,
                inputs: with_x(n, k, 24, &[(at, nan)]),
            });
        }
        for (label, n) in [
            ("N = one CPU block pair + 1 (7685)", 7685),
            ("N = one CUDA block − 1 (1793)", 1793),
            ("N = 3 CUDA blocks + 1 (5383)", 5383),
        ] {
            v.push(Case {
                label,
                inputs: with_x(n, k, 25, &[]),
            });
        }
    }
    v
}

const XH: &[Input] = &[input("x", DType::F32), input("h", DType::F32)];

pub(crate) const CONV1D: Op = Op {
    name: "conv1d",
    inputs: XH,
    outputs: &["y"],
    shapes: |i, p| shapes("conv1d", Form::Centred, i, p),
    reference: |i, p| reference(Form::Centred, false, i, p),
    workload,
    edge_cases: || cases(31, false),
    cpu: conv_cpu::conv1d,
};

pub(crate) const FFT_CONV1D: Op = Op {
    name: "fft_conv1d",
    inputs: XH,
    outputs: &["y"],
    shapes: |i, p| shapes("fft_conv1d", Form::Centred, i, p),
    reference: |i, p| reference(Form::Centred, true, i, p),
    workload,
    edge_cases: || cases(255, true),
    cpu: conv_cpu::fft_conv1d,
};

pub(crate) const FIR_FILTER: Op = Op {
    name: "fir_filter",
    inputs: XH,
    outputs: &["y"],
    shapes: |i, p| shapes("fir_filter", Form::Causal, i, p),
    reference: |i, p| reference(Form::Causal, false, i, p),
    workload,
    edge_cases: || cases(32, false),
    cpu: conv_cpu::fir_filter,
};

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backend::cpu::Cpu;
    use crate::spec::KernelSpec;

    fn spec(name: &str) -> &'static KernelSpec {
        super::super::SPECS.iter().find(|s| s.name == name).unwrap()
    }

    /// The definitions on a small case worked by hand.
    #[test]
    fn the_reference_is_the_definition() {
        let x = [1.0f32, 2.0, 3.0, 4.0];
        let h = [1.0f32, 10.0, 100.0];
        // conv1d: y[n] = h0·x[n−1] + h1·x[n] + h2·x[n+1].
        let (g, off) = Form::Centred.taps(&h);
        assert_eq!(correlate_f64(&x, &g, off).0, vec![210.0, 321.0, 432.0, 43.0]);
        // fir: y[n] = h0·x[n] + h1·x[n−1] + h2·x[n−2].
        let (g, off) = Form::Causal.taps(&h);
        assert_eq!(correlate_f64(&x, &g, off).0, vec![1.0, 12.0, 123.0, 234.0]);
    }

    #[test]
    fn even_taps_and_wrong_lengths_are_refused() {
        let s = spec("conv1d");
        let mut p = Params::defaults(s);
        p.set(s, "taps", 4.0).unwrap();
        let (x, h) = (Tensor::f32(vec![1.0; 8]), Tensor::f32(vec![1.0; 4]));
        assert!(matches!((CONV1D.shapes)(&[&x, &h], &p), Err(Error::Param(_))));
        let p = Params::defaults(s);
        assert!(matches!((CONV1D.shapes)(&[&x, &h], &p), Err(Error::Shape(_))));
        let f = spec("fir_filter");
        let mut p = Params::defaults(f);
        p.set(f, "taps", 4.0).unwrap();
        assert_eq!((FIR_FILTER.shapes)(&[&x, &h], &p).unwrap()[0].shape, vec![8]);
    }

    /// Every CPU implementation (and the rustfft route) against the reference at awkward sizes,
    /// several taps and the edge cases.
    #[test]
    fn cpu_implementations_match_the_reference() {
        let mut failures = Vec::new();
        let mut run = |op: &Op, label: &str, p: &Params, x: &[Tensor]| {
            let spec = spec(op.name);
            let refs: Vec<&Tensor> = x.iter().collect();
            let desc = (op.shapes)(&refs, p).unwrap();
            let exp = (op.reference)(&refs, p);
            let mut kernels: Vec<(String, crate::op::CpuKernel, Cpu)> = [Cpu::Scalar, Cpu::Simd, Cpu::Parallel]
                .into_iter()
                .map(|c| (format!("{c:?}"), op.cpu, c))
                .collect();
            if op.name == "fft_conv1d" {
                kernels.push(("rustfft".into(), conv_cpu::rustfft_conv1d, Cpu::Parallel));
            }
            for (id, f, cpu) in kernels {
                let mut out: Vec<Tensor> = desc.iter().map(Tensor::zeros).collect();
                out.iter_mut().for_each(Tensor::poison);
                f(cpu, &refs, p, &mut out).unwrap();
                let a = crate::verify::compare(spec.tolerance, &out[0], &exp[0]);
                if !a.passed {
                    failures.push(format!("{} {id} {label}: {:?}", op.name, a.first_failure));
                }
            }
        };
        for op in [&CONV1D, &FIR_FILTER, &FFT_CONV1D] {
            let s = spec(op.name);
            let taps: &[f64] = match op.name {
                "fir_filter" => &[1.0, 2.0, 7.0, 32.0, 33.0, 100.0, 1024.0],
                "conv1d" => &[1.0, 3.0, 31.0, 33.0, 101.0, 1023.0],
                _ => &[1.0, 3.0, 255.0, 257.0, 2047.0, 2049.0, 5001.0],
            };
            for &k in taps {
                let mut p = Params::defaults(s);
                p.set(s, "taps", k).unwrap();
                for n in [0usize, 1, 7, 16, 17, 100, 1000, 3841, 3843, 7685, 65_537, 300_007] {
                    let x = (op.workload)(n, 7 + n as u64, &p);
                    run(op, &format!("K={k} N={n}"), &p, &x);
                }
            }
            let p = Params::defaults(s);
            for c in (op.edge_cases)() {
                run(op, c.label, &p, &c.inputs);
            }
        }
        assert!(failures.is_empty(), "{}", failures.join("\n"));
    }
}
