//! The contract in code: what a kernel computes, its parameters, its cost and its tolerance.
//!
//! Every kernel of `docs/kernels/KERNELS.md` has one `KernelSpec`. Specs are plain data (no behaviour beyond
//! the cost formulas), so the whole catalog can be listed, documented and checked without any
//! implementation existing yet.

use serde::Serialize;

pub use crate::ops::Domain;

/// Tolerance classes of `docs/kernels/KERNELS.md` §3.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
#[serde(tag = "class", rename_all = "snake_case")]
pub enum Tolerance {
    /// Byte-identical output.
    Bits,
    /// Identical values; +0 == −0, any NaN matches any NaN.
    Exact,
    /// Integer codes within k of the reference.
    Codes { k: u32 },
    /// Within k ulps of the f32-rounded reference.
    Ulp { k: u32 },
    /// |y − r| ≤ atol + rtol·|r| per element.
    Elementwise { rtol: f64, atol: f64 },
    /// |y − r| ≤ rtol·S per output, S = Σ|terms| (the reference supplies S).
    Sum { rtol: f64 },
    /// ‖y − r‖₂ ≤ rtol·‖r‖₂ over the whole output.
    Norm { rtol: f64 },
    /// `Sum` with the block-FFT rule for a NaN or ±inf input (fft_conv1d, docs/kernels/signal.md):
    /// where the reference is NaN or ±inf the output must be NaN or ±inf (either); where it is
    /// finite the output may be non-finite (an FFT block holding the bad value; not compared),
    /// and a finite output is compared as `Sum`.
    SumSpan { rtol: f64 },
    /// |y − r| ≤ atol + rtol·|r| for statistics.
    Stat { rtol: f64, atol: f64 },
    /// The fft domain's norm (docs/kernels/fft.md): ‖y − r‖₂ ≤ rtol·‖r‖₂ + atol over the finite
    /// outputs (atol: the denormal floor no f32 transform can beat), `nonfinite` saying where
    /// NaN or ±inf may or must appear (no element-wise pattern is comparable across algorithms).
    Spectral {
        rtol: f64,
        atol: f64,
        nonfinite: NonFinite,
    },
}

/// Where a `Spectral` output may be NaN or ±inf.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum NonFinite {
    /// Nowhere: every output finite (finite inputs whose transform cannot overflow).
    Never,
    /// Everywhere: every output must be NaN or ±inf (an input was non-finite).
    Every,
    /// Anywhere (an f32 transform of these inputs may overflow); finite outputs are compared.
    Allowed,
}

impl Tolerance {
    /// Classes whose verification must include N = 10^8 (docs/kernels/KERNELS.md §3).
    pub fn needs_large_n(&self) -> bool {
        matches!(
            self,
            Tolerance::Sum { .. }
                | Tolerance::SumSpan { .. }
                | Tolerance::Stat { .. }
                | Tolerance::Norm { .. }
                | Tolerance::Spectral { .. }
        )
    }

    pub fn describe(&self) -> String {
        match *self {
            Tolerance::Bits => "bits".into(),
            Tolerance::Exact => "exact".into(),
            Tolerance::Codes { k } => format!("codes({k})"),
            Tolerance::Ulp { k } => format!("ulp({k})"),
            Tolerance::Elementwise { rtol, atol } => format!("elementwise({rtol:e}, {atol:e})"),
            Tolerance::Sum { rtol } => format!("sum({rtol:e})"),
            Tolerance::SumSpan { rtol } => {
                format!("sum({rtol:e}), non-finite where the reference is, elsewhere allowed")
            }
            Tolerance::Norm { rtol } => format!("norm({rtol:e})"),
            Tolerance::Stat { rtol, atol } if atol == 0.0 => format!("stat({rtol:e})"),
            Tolerance::Stat { rtol, atol } => format!("stat({rtol:e}, {atol:e})"),
            Tolerance::Spectral {
                rtol,
                atol,
                nonfinite,
            } => match nonfinite {
                NonFinite::Never => format!("norm({rtol:e}) + {atol:e}"),
                NonFinite::Every => "every output non-finite".into(),
                NonFinite::Allowed => format!("norm({rtol:e}) + {atol:e} over finite outputs"),
            },
        }
    }
}

/// The headline metric a kernel is judged by.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Metric {
    /// Bytes moved over time against measured memory bandwidth (the default).
    Bandwidth,
    /// GFLOP/s, for compute-bound kernels (matmul, attention).
    Flops,
    /// Gkey/s, for sorts.
    Keys,
    /// Samples/s, for kernels that read almost nothing (Monte Carlo).
    Samples,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ParamKind {
    /// An f32 value (the reference widens the f32 value, docs/kernels/KERNELS.md §1).
    F32,
    /// An f64 value, where the entry says so.
    F64,
    /// An integer (sizes, counts, steps).
    Int,
}

/// One parameter of a kernel: its default and its valid closed range.
#[derive(Clone, Copy, Debug, Serialize)]
pub struct ParamSpec {
    pub name: &'static str,
    pub kind: ParamKind,
    pub default: f64,
    pub min: f64,
    pub max: f64,
    pub doc: &'static str,
}

impl ParamSpec {
    pub const fn f32(
        name: &'static str,
        default: f64,
        min: f64,
        max: f64,
        doc: &'static str,
    ) -> Self {
        ParamSpec {
            name,
            kind: ParamKind::F32,
            default,
            min,
            max,
            doc,
        }
    }
    pub const fn f64(
        name: &'static str,
        default: f64,
        min: f64,
        max: f64,
        doc: &'static str,
    ) -> Self {
        ParamSpec {
            name,
            kind: ParamKind::F64,
            default,
            min,
            max,
            doc,
        }
    }
    pub const fn int(
        name: &'static str,
        default: f64,
        min: f64,
        max: f64,
        doc: &'static str,
    ) -> Self {
        ParamSpec {
            name,
            kind: ParamKind::Int,
            default,
            min,
            max,
            doc,
        }
    }
}

/// One kernel of the catalog, as `docs/kernels/KERNELS.md` and its domain file define it.
#[derive(Debug, Serialize)]
pub struct KernelSpec {
    pub name: &'static str,
    pub domain: Domain,
    /// One line: the math, in the words of the entry's **Computes**.
    pub computes: &'static str,
    /// The entry's **Shapes at N**, as written: inputs (with distributions) → outputs.
    pub shapes: &'static str,
    pub params: &'static [ParamSpec],
    pub tolerance: Tolerance,
    pub metric: Metric,
    /// Minimal bytes at problem size N with default parameters.
    #[serde(skip)]
    pub bytes: fn(u64) -> f64,
    /// Counted flops at problem size N with default parameters (docs/kernels/KERNELS.md §1 counting rules).
    #[serde(skip)]
    pub flops: fn(u64) -> f64,
}

impl KernelSpec {
    pub fn param(&self, name: &str) -> Option<&ParamSpec> {
        self.params.iter().find(|p| p.name == name)
    }
}

/// R = max(1, ⌊N/D⌋): the row count of a "rows × D" kernel.
pub const fn rows(n: u64, d: u64) -> u64 {
    let r = n / d;
    if r == 0 {
        1
    } else {
        r
    }
}

/// G = round(√N): the side of a square grid.
pub fn side2(n: u64) -> u64 {
    ((n as f64).sqrt().round() as u64).max(1)
}

/// G = round(∛N): the side of a cubic grid.
pub fn side3(n: u64) -> u64 {
    ((n as f64).cbrt().round() as u64).max(1)
}
