//! The one checker: an output against the f64 reference, under the kernel's tolerance class
//! (docs/kernels/KERNELS.md §3). `cargo test`, `kroute verify`, `kroute bench` (before timing) and the peers
//! all go through `compare`.

use crate::spec::{NonFinite, Tolerance};
use crate::tensor::{DType, Tensor, TensorDesc};
use half::f16;
use serde::Serialize;

/// The reference result for one output: values in f64 (exact for integers), for the `sum`
/// class the condition scale S = Σ|terms| of each element, and for kernels that copy f32 words
/// (layout) the exact bit patterns, which f64 values cannot carry (a signalling NaN is quieted
/// by the conversion, and every NaN payload is lost to the NaN-matches-NaN rule).
#[derive(Clone, Debug)]
pub struct Expected {
    pub desc: TensorDesc,
    pub values: Vec<f64>,
    pub scale: Option<Vec<f64>>,
    pub bits: Option<Vec<u32>>,
    /// Only the first this-many elements are the result (compaction writes a count and the kept
    /// values into a buffer of capacity N; the rest of the buffer is unspecified). An output
    /// may then be the capacity buffer or exactly the kept values (a peer's `x[x > 0]`).
    pub prefix: Option<usize>,
    /// The tolerance for this output when it depends on the parameters (prng_uniform_f32 is
    /// exact only at a = 0, b = 1; steps-scaled stencils); None: the kernel's spec class.
    pub tolerance: Option<Tolerance>,
}

impl Expected {
    pub fn new(dtype: DType, shape: &[usize], values: Vec<f64>) -> Expected {
        Expected {
            desc: TensorDesc::new(dtype, shape),
            values,
            scale: None,
            bits: None,
            prefix: None,
            tolerance: None,
        }
    }
    /// An f32 output that must equal these words bit for bit (tolerance `bits`).
    pub fn f32_bits(shape: &[usize], bits: Vec<u32>) -> Expected {
        let values = bits.iter().map(|&b| f32::from_bits(b) as f64).collect();
        Expected {
            bits: Some(bits),
            ..Expected::new(DType::F32, shape, values)
        }
    }
    /// Only the first `len` elements are checked (see `prefix`).
    pub fn with_prefix(mut self, len: usize) -> Expected {
        self.prefix = Some(len);
        self
    }
    pub fn with_scale(mut self, scale: Vec<f64>) -> Expected {
        self.scale = Some(scale);
        self
    }
    /// Checked under `tol` instead of the spec's class (see `tolerance`).
    pub fn with_tolerance(mut self, tol: Tolerance) -> Expected {
        self.tolerance = Some(tol);
        self
    }
}

/// How close an output came: the worst error as a fraction of what the tolerance allows
/// (≤ 1 passes), and the first failing element if any.
#[derive(Clone, Debug, Serialize)]
pub struct Agreement {
    pub passed: bool,
    /// max over elements of |error| / allowed (0 for exact matches).
    pub worst_ratio: f64,
    pub failures: usize,
    pub first_failure: Option<String>,
}

/// Round a reference value to the output's element type (the reference rounds once).
fn round_to(dtype: DType, r: f64) -> f64 {
    match dtype {
        DType::F32 => r as f32 as f64,
        DType::F16 => f16::from_f64(r).to_f64(),
        _ => r,
    }
}

/// Distance in units in the last place between two finite f32 values.
fn ulp_distance(a: f32, b: f32) -> u64 {
    fn key(x: f32) -> i64 {
        let b = x.to_bits() as i32 as i64;
        if b < 0 {
            i32::MIN as i64 - b
        } else {
            b
        }
    }
    (key(a) - key(b)).unsigned_abs()
}

impl Agreement {
    /// A whole-output failure (wrong type, shape or length).
    fn failed(msg: String) -> Agreement {
        Agreement {
            passed: false,
            worst_ratio: f64::INFINITY,
            failures: 1,
            first_failure: Some(msg),
        }
    }
}

pub fn compare(tol: Tolerance, got: &Tensor, exp: &Expected) -> Agreement {
    let tol = exp.tolerance.unwrap_or(tol);
    if let Some(len) = exp.prefix {
        return compare_prefix(tol, got, exp, len);
    }
    if got.dtype() != exp.desc.dtype {
        return Agreement::failed(format!(
            "dtype {} where {} was expected",
            got.dtype().name(),
            exp.desc.dtype.name()
        ));
    }
    if got.shape() != exp.desc.shape.as_slice() {
        return Agreement::failed(format!(
            "shape {:?} where {:?} was expected",
            got.shape(),
            exp.desc.shape
        ));
    }
    if let (Tolerance::Bits, Some(want), Ok(have)) = (tol, &exp.bits, got.as_f32()) {
        let mut agreement = Agreement {
            passed: true,
            worst_ratio: 0.0,
            failures: 0,
            first_failure: None,
        };
        for (i, (&w, h)) in want.iter().zip(have).enumerate() {
            if h.to_bits() != w {
                agreement.failures += 1;
                agreement.passed = false;
                agreement.worst_ratio = f64::INFINITY;
                agreement.first_failure.get_or_insert_with(|| {
                    format!(
                        "element {i}: bits {:#010x}, expected {w:#010x}",
                        h.to_bits()
                    )
                });
            }
        }
        return agreement;
    }
    let g = got.to_f64_vec();
    let dtype = exp.desc.dtype;
    let mut worst = 0.0f64;
    let mut failures = 0usize;
    let mut first = None;
    let mut note = |i: usize, ratio: f64, gi: f64, ri: f64, allowed: f64| {
        if ratio.is_nan() || ratio > 1.0 {
            failures += 1;
            if first.is_none() {
                first = Some(format!(
                    "element {i}: got {gi:e}, expected {ri:e} (allowed error {allowed:e})"
                ));
            }
        }
        if !ratio.is_nan() {
            worst = worst.max(ratio);
        } else {
            worst = f64::INFINITY;
        }
    };

    if let Tolerance::Spectral {
        rtol,
        atol,
        nonfinite,
    } = tol
    {
        return compare_spectral(&g, &exp.values, rtol, atol, nonfinite);
    }
    if let Tolerance::Norm { rtol } = tol {
        let (mut num, mut den) = (0.0f64, 0.0f64);
        for (i, (&gi, &ri)) in g.iter().zip(&exp.values).enumerate() {
            // Against the reference rounded once to the output type, as every class: a
            // correctly rounded denormal output (attention of values near 1e-45) errs by up to
            // half its own size from the unrounded value, which no norm bound could admit.
            let ri = round_to(exp.desc.dtype, ri);
            if ri.is_nan() != gi.is_nan() || (ri.is_infinite() && gi != ri) {
                note(i, f64::INFINITY, gi, ri, 0.0);
            } else if ri.is_finite() {
                num += (gi - ri) * (gi - ri);
                den += ri * ri;
            }
        }
        let allowed = rtol * den.sqrt();
        let err = num.sqrt();
        let ratio = if err == 0.0 { 0.0 } else { err / allowed };
        if ratio > 1.0 {
            note(0, ratio, err, den.sqrt(), allowed);
        }
        worst = worst.max(ratio);
    } else {
        for (i, (&gi, &ri)) in g.iter().zip(&exp.values).enumerate() {
            let r = round_to(dtype, ri);
            if let Tolerance::SumSpan { .. } = tol {
                // The block-FFT rule: a non-finite reference needs a non-finite output (NaN or
                // ±inf, either); a finite reference admits a non-finite output.
                if !r.is_finite() || !gi.is_finite() {
                    if !r.is_finite() && gi.is_finite() {
                        note(i, f64::INFINITY, gi, r, 0.0);
                    }
                    continue;
                }
            }
            // NaN where and only where the reference is NaN; ±inf exactly.
            if r.is_nan() || gi.is_nan() {
                if r.is_nan() != gi.is_nan() {
                    note(i, f64::INFINITY, gi, r, 0.0);
                }
                continue;
            }
            if r.is_infinite() || gi.is_infinite() {
                if r != gi {
                    note(i, f64::INFINITY, gi, r, 0.0);
                }
                continue;
            }
            // Tolerances compare against the reference rounded once to the output type.
            let err = (gi - r).abs();
            let allowed = match tol {
                Tolerance::Bits | Tolerance::Exact => {
                    // Compare against the reference rounded to the output type; +0 == −0.
                    let e = (gi - r).abs();
                    if e != 0.0 {
                        note(i, f64::INFINITY, gi, r, 0.0);
                    }
                    if matches!(tol, Tolerance::Bits)
                        && gi == 0.0
                        && gi.is_sign_negative() != r.is_sign_negative()
                    {
                        note(i, f64::INFINITY, gi, r, 0.0);
                    }
                    continue;
                }
                Tolerance::Codes { k } => k as f64,
                Tolerance::Ulp { k } => {
                    let d = ulp_distance(gi as f32, r as f32) as f64;
                    note(
                        i,
                        d / (k.max(1) as f64)
                            * if k == 0 && d > 0.0 {
                                f64::INFINITY
                            } else {
                                1.0
                            },
                        gi,
                        r,
                        k as f64,
                    );
                    continue;
                }
                Tolerance::Elementwise { rtol, atol } | Tolerance::Stat { rtol, atol } => {
                    atol + rtol * r.abs()
                }
                Tolerance::Sum { rtol } | Tolerance::SumSpan { rtol } => {
                    let s = exp.scale.as_ref().map_or(r.abs(), |s| s[i]);
                    rtol * s
                }
                Tolerance::Norm { .. } | Tolerance::Spectral { .. } => {
                    unreachable!("handled above")
                }
            };
            let ratio = if err == 0.0 { 0.0 } else { err / allowed };
            note(i, ratio, gi, r, allowed);
        }
    }
    Agreement {
        passed: failures == 0,
        worst_ratio: worst,
        failures,
        first_failure: first,
    }
}

/// The fft domain's rule (docs/kernels/fft.md): ‖y_F − r_F‖₂ ≤ rtol·‖r‖₂ + atol over the
/// elements F compared, ‖r‖₂ over every finite reference value. `Never`: every output must be
/// finite (F = all); `Every`: every output must be NaN or ±inf; `Allowed`: F = the finite outputs
/// whose reference lies in the f32 range.
fn compare_spectral(g: &[f64], r: &[f64], rtol: f64, atol: f64, rule: NonFinite) -> Agreement {
    let mut failures = 0usize;
    let mut first = None;
    let mut fail = |msg: String| {
        failures += 1;
        first.get_or_insert(msg);
    };
    let (mut num, mut den) = (0.0f64, 0.0f64);
    for (i, (&gi, &ri)) in g.iter().zip(r).enumerate() {
        if ri.is_finite() {
            den += ri * ri;
        }
        match rule {
            NonFinite::Every if gi.is_finite() => fail(format!(
                "element {i}: got {gi:e}; an input is NaN or ±inf, so every output must be"
            )),
            NonFinite::Every => {}
            NonFinite::Never if !gi.is_finite() => {
                fail(format!("element {i}: got {gi:e}, expected {ri:e}"))
            }
            NonFinite::Allowed if !gi.is_finite() || ri.abs() > f32::MAX as f64 => {}
            // Against the reference rounded once to f32, as every class: a correctly rounded
            // denormal output (spectral_power's x_0² at L = 1, scaled by 1e-20) errs by up to
            // half a denormal step, which no relative allowance covers.
            _ => num += (gi - ri as f32 as f64).powi(2),
        }
    }
    let allowed = rtol * den.sqrt() + atol;
    let err = num.sqrt();
    let ratio = if err == 0.0 || rule == NonFinite::Every {
        0.0
    } else {
        err / allowed
    };
    if ratio.is_nan() || ratio > 1.0 {
        fail(format!(
            "norm of the error {err:e} against reference norm {:e} (allowed {allowed:e})",
            den.sqrt()
        ));
    }
    // The norm's ratio where it failed; infinite for a failure of the non-finite rules alone.
    let worst = if ratio.is_nan() {
        f64::INFINITY
    } else if ratio > 1.0 || failures == 0 {
        ratio
    } else {
        f64::INFINITY
    };
    Agreement {
        passed: failures == 0,
        worst_ratio: worst,
        failures,
        first_failure: first,
    }
}

/// A capacity buffer (or an exactly sized result) against the first `len` elements of the
/// reference: 1-D, at least `len` long, and equal there.
fn compare_prefix(tol: Tolerance, got: &Tensor, exp: &Expected, len: usize) -> Agreement {
    if got.shape().len() != 1 || got.len() < len {
        return Agreement::failed(format!(
            "shape {:?} cannot hold the {len} result elements",
            got.shape()
        ));
    }
    // f32 values, or u64 positions (fused_scan_compact's source indices).
    let head = match (got.as_f32(), got.as_u64()) {
        (Ok(v), _) => Tensor::f32(v[..len].to_vec()),
        (_, Ok(v)) => {
            match Tensor::from_host(&[len], crate::tensor::HostData::U64(v[..len].to_vec())) {
                Ok(t) => t,
                Err(e) => return Agreement::failed(e.to_string()),
            }
        }
        _ => return Agreement::failed(format!("a {} prefix output", got.dtype().name())),
    };
    let e = Expected {
        desc: TensorDesc::new(exp.desc.dtype, &[len]),
        values: exp.values[..len].to_vec(),
        scale: exp.scale.as_ref().map(|s| s[..len].to_vec()),
        bits: exp.bits.as_ref().map(|b| b[..len].to_vec()),
        prefix: None,
        tolerance: exp.tolerance,
    };
    compare(tol, &head, &e)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn exp1(v: f64) -> Expected {
        Expected::new(DType::F32, &[1], vec![v])
    }

    #[test]
    fn exact_treats_signed_zeros_and_nans_alike() {
        let t = |v: f32| Tensor::f32(vec![v]);
        assert!(compare(Tolerance::Exact, &t(-0.0), &exp1(0.0)).passed);
        assert!(compare(Tolerance::Exact, &t(f32::NAN), &exp1(f64::NAN)).passed);
        assert!(!compare(Tolerance::Exact, &t(f32::NAN), &exp1(1.0)).passed);
        assert!(!compare(Tolerance::Exact, &t(1.0), &exp1(f64::NAN)).passed);
        assert!(!compare(Tolerance::Exact, &t(1.0), &exp1(1.0 + 1e-7)).passed);
        assert!(!compare(Tolerance::Bits, &t(-0.0), &exp1(0.0)).passed);
    }

    #[test]
    fn infinities_must_match_exactly() {
        let tol = Tolerance::Elementwise {
            rtol: 1.0,
            atol: 1.0,
        };
        assert!(compare(tol, &Tensor::f32(vec![f32::INFINITY]), &exp1(f64::INFINITY)).passed);
        assert!(!compare(tol, &Tensor::f32(vec![f32::MAX]), &exp1(f64::INFINITY)).passed);
        assert!(
            !compare(
                tol,
                &Tensor::f32(vec![f32::NEG_INFINITY]),
                &exp1(f64::INFINITY)
            )
            .passed
        );
    }

    #[test]
    fn sum_class_scales_by_condition() {
        let tol = Tolerance::Sum { rtol: 1e-5 };
        let e = exp1(1.0).with_scale(vec![1e6]);
        assert!(compare(tol, &Tensor::f32(vec![1.0 + 9.0]), &e).passed);
        assert!(!compare(tol, &Tensor::f32(vec![1.0 + 11.0]), &e).passed);
    }

    #[test]
    fn sum_span_needs_non_finite_where_the_reference_is_and_admits_it_elsewhere() {
        let tol = Tolerance::SumSpan { rtol: 1e-5 };
        let e = Expected::new(DType::F32, &[3], vec![f64::NAN, f64::INFINITY, 1.0])
            .with_scale(vec![1.0; 3]);
        let t = |v: Vec<f32>| Tensor::f32(v);
        assert!(compare(tol, &t(vec![f32::INFINITY, f32::NAN, 1.0]), &e).passed);
        assert!(compare(tol, &t(vec![f32::NAN, f32::NAN, f32::NAN]), &e).passed);
        assert!(!compare(tol, &t(vec![0.0, f32::NAN, 1.0]), &e).passed);
        assert!(!compare(tol, &t(vec![f32::NAN, f32::NAN, 1.1]), &e).passed);
    }

    #[test]
    fn shape_and_dtype_are_checked() {
        let e = Expected::new(DType::F32, &[2], vec![1.0, 2.0]);
        assert!(!compare(Tolerance::Exact, &Tensor::f32(vec![1.0]), &e).passed);
        assert!(!compare(Tolerance::Exact, &Tensor::u8(vec![1, 2]), &e).passed);
    }

    #[test]
    fn a_prefix_checks_only_the_result_part_of_a_capacity_buffer() {
        let exp = Expected::f32_bits(&[4], vec![0x3F80_0000, 0x8000_0000, 0, 0]).with_prefix(2);
        let t = |v: Vec<f32>| Tensor::f32(v);
        assert!(compare(Tolerance::Bits, &t(vec![1.0, -0.0, 7.0, f32::NAN]), &exp).passed);
        assert!(compare(Tolerance::Bits, &t(vec![1.0, -0.0]), &exp).passed);
        assert!(!compare(Tolerance::Bits, &t(vec![1.0, 0.0, 0.0, 0.0]), &exp).passed);
        assert!(!compare(Tolerance::Bits, &t(vec![1.0]), &exp).passed);
    }

    #[test]
    fn ulp_counts_across_zero() {
        assert_eq!(ulp_distance(f32::from_bits(1), -f32::from_bits(1)), 2);
        let tol = Tolerance::Ulp { k: 1 };
        let one_up = f32::from_bits(1.0f32.to_bits() + 1);
        assert!(compare(tol, &Tensor::f32(vec![one_up]), &exp1(1.0)).passed);
        let two_up = f32::from_bits(1.0f32.to_bits() + 2);
        assert!(!compare(tol, &Tensor::f32(vec![two_up]), &exp1(1.0)).passed);
    }

    #[test]
    fn bits_references_catch_a_quieted_nan_and_a_changed_payload() {
        let exp = Expected::f32_bits(&[3], vec![0x7F80_0001, 0x7FC0_0001, 0x8000_0000]);
        let got = |w: [u32; 3]| Tensor::f32(w.iter().map(|&b| f32::from_bits(b)).collect());
        assert!(
            compare(
                Tolerance::Bits,
                &got([0x7F80_0001, 0x7FC0_0001, 0x8000_0000]),
                &exp
            )
            .passed
        );
        // A float copy that quiets the signalling NaN, or one that canonicalises payloads.
        let quieted = compare(
            Tolerance::Bits,
            &got([0x7FC0_0001, 0x7FC0_0001, 0x8000_0000]),
            &exp,
        );
        assert!(!quieted.passed);
        assert!(quieted.first_failure.unwrap().contains("0x7fc00001"));
        assert!(
            !compare(
                Tolerance::Bits,
                &got([0x7F80_0001, 0x7FC0_0000, 0x8000_0000]),
                &exp
            )
            .passed
        );
        assert!(
            !compare(
                Tolerance::Bits,
                &got([0x7F80_0001, 0x7FC0_0001, 0x0000_0000]),
                &exp
            )
            .passed
        );
    }
}
