//! fused_custom: multi-op chains as one fused kernel (`kernels/fused_custom.md`). Each result
//! equals the unfused chain; the pieces come from the domains that own them (normalization's row
//! statistics, softmax's row max and Σ exp, the optimizers' Adam constants and step, the scans'
//! decoupled look-back on CUDA).

pub(crate) mod cpu;
mod cuda;

pub(crate) use cuda::CUDA;

use crate::op::{input, shape, Case, Op};
use crate::params::Params;
use crate::philox;
use crate::tensor::{DType, HostData, Tensor, TensorDesc};
use crate::verify::Expected;
use crate::{Error, Result};
use crate::spec::{rows, Domain, KernelSpec, Metric, ParamSpec, Tolerance};

// NOTE: open bounds as closed ranges: "> 0" has min = the smallest positive value of the
// parameter's type (f64::from_bits(1), or f32::from_bits(1) for an f32 parameter) and max
// f64::INFINITY; "> 1" (rope_base, f32) has min = the next f32 above 1; "[0, 1)" has max = the
// largest f64 below 1.
const POS_F64: f64 = f64::from_bits(1);
const POS_F32: f64 = f32::from_bits(1) as f64;
const BELOW_ONE: f64 = 1.0 - f64::EPSILON / 2.0;

pub static SPECS: &[KernelSpec] = &[
    KernelSpec {
        name: "fused_layernorm_dropout_residual",
        domain: Domain::FusedCustom,
        computes: "per row (D = 1024): μ, biased σ², x̂_j = (x_j − μ)/√(σ² + ε); y_j = res_j + mask_j·(1/keep)·(γ_j x̂_j + β_j)",
        shapes: "x f32[R, 1024] ~ normal (stream 0), res f32[R, 1024] ~ normal (stream 1), γ f32[1024] ~ uniform(0.5, 1.5) (stream 2), β f32[1024] ~ uniform(−0.1, 0.1) (stream 3), mask u8[R, 1024] ~ bernoulli(0.9) (stream 4), R = max(1, ⌊N/1024⌋) → y f32[R, 1024]",
        // NOTE: the entry does not call eps or keep f64, so both are F32 per §1 (unlike
        // normalization's eps, which is f64); "1/keep is formed in f64 and rounded once to f32"
        // could also be read as keep being an f64 value. At the default 0.9 both readings give the
        // same f32(1/keep) = 1.1111112.
        params: &[
            ParamSpec::f32("eps", 1e-5, POS_F32, f64::INFINITY, "ε added to the biased variance inside the square root"),
            ParamSpec::f32("keep", 0.9, POS_F32, 1.0, "dropout keep probability, in (0, 1]"),
        ],
        tolerance: Tolerance::Elementwise { rtol: 5e-6, atol: 5e-6 },
        metric: Metric::Bandwidth,
        bytes: |n| 13.0 * 1024.0 * rows(n, 1024) as f64 + 8.0 * 1024.0,
        flops: |n| {
            let r = rows(n, 1024) as f64;
            10.0 * r * 1024.0 + 2.0 * r
        },
    },
    KernelSpec {
        name: "fused_attention_softmax_v",
        domain: Domain::FusedCustom,
        computes: "per head b, row i: P_ij = exp(s_ij − m_i)/Σ_k exp(s_ik − m_i), m_i = max_k s_ik (no scale, no mask); out_i = Σ_j P_ij V_j; P never written",
        shapes: "S = 512, D = 128, G = max(1, ⌊N/(S·S)⌋); scores f32[G, S, S] ~ normal(80, 4) (stream 0), V f32[G, S, D] ~ normal (stream 1) → out f32[G, S, D]",
        params: &[],
        tolerance: Tolerance::Norm { rtol: 1e-5 },
        // NOTE: the entry names no headline metric; Flops is chosen because it is attention
        // (§1: GFLOP/s for matmul and attention) and compute-bound (≈ 2·S²·D flops on 4·S² score
        // bytes, ≈ 43 flops/byte overall).
        metric: Metric::Flops,
        bytes: |n| {
            let g = rows(n, 512 * 512) as f64;
            4.0 * g * (512.0 * 512.0 + 2.0 * 512.0 * 128.0)
        },
        flops: |n| {
            let g = rows(n, 512 * 512) as f64;
            g * (2.0 * 512.0 * 512.0 * 128.0 + 4.0 * 512.0 * 512.0) + g * 512.0 * 128.0
        },
    },
    KernelSpec {
        name: "fused_scan_compact",
        domain: Domain::FusedCustom,
        computes: "pred_i = (x_i > t); count = Σ pred_i; for the k-th i with pred_i: values[k] = x_i, indices[k] = i (order kept; one pass, decoupled look-back)",
        shapes: "x f32[N] ~ normal (stream 0) → count u64 scalar, values f32[count], indices u64[count] (count ≈ N/2)",
        // NaN is the only invalid threshold (Error::Param); ±inf are valid.
        params: &[ParamSpec::f32("threshold", 0.0, f64::NEG_INFINITY, f64::INFINITY, "threshold t (any f32 except NaN)")],
        tolerance: Tolerance::Exact,
        metric: Metric::Bandwidth,
        // NOTE: the bytes 4N + 12·count + 8 depend on the data; the harness uses the actual count.
        // Here count is its expectation at the default threshold t = 0 on normal data, N/2,
        // giving 10N + 8 (the entry's "≈ 10N").
        bytes: |n| {
            let count = 0.5 * n as f64;
            4.0 * n as f64 + 12.0 * count + 8.0
        },
        flops: |n| n as f64,
    },
    KernelSpec {
        name: "fused_rope_attention_mask",
        domain: Domain::FusedCustom,
        computes: "half-split RoPE (p = token index, θ_d = base^(−2d/D)) on Q and K, then causal attention: s_ij = Q'_i·K'_j/√D (j ≤ i, else −inf), P = softmax_j(s), out_i = Σ_j P_ij V_j; nothing intermediate written",
        shapes: "H = 32, S = 512, D = 128, B = max(1, ⌊N/(H·S·D)⌋), G = B·H; Q f32[B, 32, 512, 128] ~ normal(0, 2) (stream 0), K, V f32[B, 32, 512, 128] ~ normal (streams 1, 2) → out f32[B, 32, 512, 128]",
        // NOTE: rope_base is not called f64 in the entry, so it is F32 (10000 is exact in f32;
        // rope_apply's base is f64). "> 1" gives min = the next f32 above 1.
        params: &[ParamSpec::f32("rope_base", 10000.0, 1.0 + f32::EPSILON as f64, f64::INFINITY, "RoPE frequency base (S, D fixed)")],
        tolerance: Tolerance::Norm { rtol: 1e-5 },
        // NOTE: the entry names no headline metric; Flops is chosen because it is causal attention
        // (§1: GFLOP/s for matmul and attention), counted as attention_sdpa's causal count.
        metric: Metric::Flops,
        bytes: |n| {
            let g = 32.0 * rows(n, 32 * 512 * 128) as f64;
            16.0 * g * 512.0 * 128.0
        },
        flops: |n| {
            let g = 32.0 * rows(n, 32 * 512 * 128) as f64;
            let (s, d) = (512.0, 128.0);
            g * (2.0 * s * (s + 1.0) * d + 2.5 * s * (s + 1.0) + 6.0 * s * d)
        },
    },
    KernelSpec {
        name: "fused_adam_clip_update",
        domain: Domain::FusedCustom,
        computes: "total = ‖g‖₂; coef = min(1, c/(total + 1e-6)); ĝ = coef·g; m ← β1 m + (1 − β1) ĝ; v ← β2 v + (1 − β2) ĝ²; p ← p − lr·(m/bc1)/(√(v/bc2) + ε), in place",
        shapes: "p f32[N] ~ normal (stream 0), g f32[N], g_i = z_i + copysign(1, z_i), z ~ normal (stream 1), m f32[N] ~ normal(0, 0.01) (stream 2), v f32[N] ~ uniform(0, 1e-4) (stream 3) → p, m, v f32[N] in place, total f32 scalar",
        params: &[
            ParamSpec::f64("max_norm", 1.0, POS_F64, f64::INFINITY, "max_norm c"),
            ParamSpec::f64("lr", 1e-3, POS_F64, f64::INFINITY, "learning rate"),
            ParamSpec::f64("beta1", 0.9, 0.0, BELOW_ONE, "first-moment decay β1"),
            ParamSpec::f64("beta2", 0.999, 0.0, BELOW_ONE, "second-moment decay β2"),
            ParamSpec::f64("eps", 1e-8, 0.0, f64::INFINITY, "ε added to √v̂"),
            ParamSpec::int("t", 10.0, 1.0, 1e9, "step number after incrementing"),
        ],
        // NOTE: four outputs with different classes: total stat(1e-6) (this one, the first listed;
        // stat-class, so needs_large_n() holds), p elementwise(5e-7, 1e-8) (the binding check),
        // m elementwise(5e-7, 5e-9), v elementwise(5e-7, 1e-12).
        tolerance: Tolerance::Stat { rtol: 1e-6, atol: 0.0 },
        metric: Metric::Bandwidth,
        bytes: |n| 28.0 * n as f64 + 4.0,
        flops: |n| 17.0 * n as f64,
    },
    KernelSpec {
        name: "fused_softmax_cross_entropy",
        domain: Domain::FusedCustom,
        computes: "lse_r = m_r + ln Σ_j exp(x_rj − m_r); L = (1/R) Σ_r (lse_r − x_{r,t_r}); grad_rj = (exp(x_rj − lse_r) − [j = t_r])/R",
        shapes: "C = 256, R = max(1, ⌊N/256⌋); logits f32[R, 256] ~ normal(100, 3) (stream 0), targets u64[R] ~ randint(0, 256) (stream 1) → loss f32 scalar, grad f32[R, 256]",
        params: &[],
        // NOTE: two outputs with different classes: loss sum(1e-5) with S = L (this one, the first
        // listed) and grad elementwise(4e-6, 2e-7/R), whose atol depends on R (N) and needs its own
        // check.
        tolerance: Tolerance::Sum { rtol: 1e-5 },
        metric: Metric::Bandwidth,
        bytes: |n| {
            let r = rows(n, 256) as f64;
            8.0 * r * 256.0 + 8.0 * r + 4.0
        },
        flops: |n| {
            let r = rows(n, 256) as f64;
            5.0 * r * 256.0 + 4.0 * r
        },
    },
];

/// The row length of fused_layernorm_dropout_residual and the class count of
/// fused_softmax_cross_entropy (fixed by the entries).
pub const LN_D: usize = 1024;
pub const CE_C: usize = 256;

fn u64_tensor(v: Vec<u64>) -> Tensor {
    let n = v.len();
    Tensor::from_host(&[n], HostData::U64(v)).unwrap_or_else(|_| Tensor::f32(vec![]))
}

fn scalar_f32() -> TensorDesc {
    TensorDesc::new(DType::F32, &[])
}

// ---- fused_layernorm_dropout_residual --------------------------------------------------------

/// f32(1/keep), formed in f64 and rounded once (the entry).
pub fn inv_keep(keep: f64) -> f32 {
    (1.0 / keep) as f32
}

/// The first mask byte other than 0 and 1, as the Error::Value every implementation returns.
pub fn bad_mask(m: &[u8]) -> Option<Error> {
    m.iter().position(|&v| v > 1).map(|k| mask_error(Some((k, m[k]))))
}

pub fn mask_error(at: Option<(usize, u8)>) -> Error {
    let found = at.map_or("another value".to_string(), |(k, v)| format!("{v} at index {k}"));
    Error::Value(format!("fused_layernorm_dropout_residual: mask values must be 0 or 1, found {found}"))
}

fn ln_shapes(i: &[&Tensor], p: &Params) -> Result<Vec<TensorDesc>> {
    let name = "fused_layernorm_dropout_residual";
    shape::rows_of(name, i[0], LN_D)?;
    for (t, what) in [(i[1], "res"), (i[4], "mask")] {
        if t.len() != i[0].len() {
            return Err(Error::Shape(format!(
                "{name}: {what} must have x's {} elements, got {}",
                i[0].len(),
                t.len()
            )));
        }
    }
    for (t, what) in [(i[2], "gamma"), (i[3], "beta")] {
        if t.len() != LN_D {
            return Err(Error::Shape(format!("{name}: {what} must have {LN_D} elements, got {}", t.len())));
        }
    }
    let (eps, keep) = (p.get("eps"), p.get("keep"));
    if eps.is_nan() || eps <= 0.0 {
        return Err(Error::Param(format!("{name}: eps must be > 0, got {eps}")));
    }
    if !(keep > 0.0 && keep <= 1.0) {
        return Err(Error::Param(format!("{name}: keep must lie in (0, 1], got {keep}")));
    }
    Ok(vec![TensorDesc::new(DType::F32, i[0].shape())])
}

/// Per row: two-pass f64 statistics, y = res + mask·f32(1/keep)·(γ x̂ + β), checked on the terms'
/// size |res| + (1/keep)(|γ x̂| + |β|) (they cancel where y ≈ 0; as normalization's affine check).
fn ln_reference(i: &[&Tensor], p: &Params) -> Vec<Expected> {
    let (eps, ik) = (p.get("eps"), inv_keep(p.get("keep")) as f64);
    let [x, res, g, b] = [0, 1, 2, 3].map(|j| i[j].to_f64_vec());
    let m = i[4].as_u8().unwrap_or_default();
    let mut y = Vec::with_capacity(x.len());
    for (r, row) in x.chunks(LN_D).enumerate() {
        let n = LN_D as f64;
        let mu = row.iter().sum::<f64>() / n;
        let var = row.iter().map(|v| (v - mu) * (v - mu)).sum::<f64>() / n;
        let rstd = 1.0 / (var + eps).sqrt();
        for j in 0..LN_D {
            let k = r * LN_D + j;
            if m[k] == 0 {
                // Dropped elements are selected, not multiplied: NaN·0 is never formed.
                y.push((res[k], res[k].abs()));
            } else {
                let gx = g[j] * ((row[j] - mu) * rstd);
                y.push((res[k] + ik * (gx + b[j]), res[k].abs() + ik * (gx.abs() + b[j].abs())));
            }
        }
    }
    vec![super::common::terms_expected(i[0].shape(), y, 5e-6, 5e-6)]
}

fn ln_workload(n: usize, seed: u64, p: &Params) -> Vec<Tensor> {
    let r = rows(n as u64, LN_D as u64) as usize;
    let keep = p.get("keep");
    vec![
        super::common::f32_rows(philox::normal(seed, 0, r * LN_D, 0.0, 1.0), LN_D),
        super::common::f32_rows(philox::normal(seed, 1, r * LN_D, 0.0, 1.0), LN_D),
        Tensor::f32(philox::uniform(seed, 2, LN_D, 0.5, 1.5)),
        Tensor::f32(philox::uniform(seed, 3, LN_D, -0.1, 0.1)),
        // The entry's bernoulli(0.9) is the keep probability's default; the sweep varies keep.
        Tensor::u8(philox::bernoulli(seed, 4, r * LN_D, keep))
            .reshaped(&[r, LN_D])
            .unwrap_or_else(|_| Tensor::u8(vec![])),
    ]
}

/// Four rows: a constant row, a row holding NaN (and ±inf in res where the mask drops), a row
/// shifted by 1e4 (mean cancellation), and a plain row with an all-zero and all-one mask stretch.
fn ln_cases() -> Vec<Case> {
    let p = Params::defaults(&SPECS[0]);
    let mut v = ln_workload(4 * LN_D, 41, &p);
    if let Ok(x) = v[0].as_f32_mut() {
        x[..LN_D].fill(0.75);
        x[LN_D + 100] = f32::NAN;
        x[2 * LN_D..3 * LN_D].iter_mut().for_each(|e| *e += 1e4);
        x[3 * LN_D + 5] = f32::INFINITY;
    }
    if let Ok(m) = v[4].as_u8_mut() {
        m[LN_D + 100] = 0;
        m[LN_D + 101] = 1;
        m[LN_D + 102] = 0;
        m[2 * LN_D..2 * LN_D + 64].fill(0);
        m[2 * LN_D + 64..2 * LN_D + 128].fill(1);
    }
    let mut denorm = ln_workload(LN_D, 43, &p);
    if let Ok(x) = denorm[0].as_f32_mut() {
        x.iter_mut().for_each(|e| *e *= 1e-40);
    }
    vec![
        Case {
            label: "constant row, NaN row, row + 1e4, inf in x",
            inputs: v,
        },
        Case {
            label: "a row of denormals",
            inputs: denorm,
        },
    ]
}

// ---- fused_scan_compact ----------------------------------------------------------------------

fn compact_shapes(i: &[&Tensor], p: &Params) -> Result<Vec<TensorDesc>> {
    let name = "fused_scan_compact";
    let n = shape::one_d(name, i[0])?;
    let t = p.get("threshold");
    if t.is_nan() {
        return Err(Error::Param(format!("{name}: the threshold must not be NaN")));
    }
    Ok(vec![
        TensorDesc::new(DType::U64, &[1]),
        TensorDesc::new(DType::F32, &[n]),
        TensorDesc::new(DType::U64, &[n]),
    ])
}

/// count, then the kept words and their indices in capacity-N buffers of which only the first
/// count entries are compared (bit for bit).
fn compact_reference(i: &[&Tensor], p: &Params) -> Vec<Expected> {
    let x = i[0].as_f32().unwrap_or_default();
    let t = p.f32("threshold");
    let idx: Vec<usize> = (0..x.len()).filter(|&k| x[k] > t).collect();
    let count = idx.len();
    let mut words: Vec<u32> = idx.iter().map(|&k| x[k].to_bits()).collect();
    let mut at: Vec<f64> = idx.iter().map(|&k| k as f64).collect();
    words.resize(x.len(), 0);
    at.resize(x.len(), 0.0);
    vec![
        Expected::new(DType::U64, &[1], vec![count as f64]),
        Expected::f32_bits(&[x.len()], words).with_prefix(count),
        Expected::new(DType::U64, &[x.len()], at).with_prefix(count),
    ]
}

fn compact_workload(n: usize, seed: u64, _: &Params) -> Vec<Tensor> {
    vec![Tensor::f32(philox::normal(seed, 0, n, 0.0, 1.0))]
}

fn compact_cases() -> Vec<Case> {
    let mut special = super::common::edge_values();
    special.extend([0.0, -0.0, f32::from_bits(1), -f32::from_bits(1), f32::INFINITY, f32::NAN, 1.0]);
    let mut cases = vec![
        Case {
            label: "edge values: NaN, ±0, ±inf, denormals",
            inputs: vec![Tensor::f32(special)],
        },
        Case {
            label: "none kept",
            inputs: vec![Tensor::f32(vec![-1.0, -0.0, 0.0, f32::NEG_INFINITY, f32::NAN])],
        },
        Case {
            label: "all kept",
            inputs: vec![Tensor::f32((1..=5000).map(|k| k as f32 * 0.25).collect())],
        },
        Case {
            label: "no elements",
            inputs: vec![Tensor::f32(vec![])],
        },
    ];
    // Around a CUDA tile (4096) and a CPU chunk (2^16).
    for (n, label) in [
        (4095, "4095 elements"),
        (4097, "4097 elements"),
        (65_535, "65535 elements"),
        (65_537, "65537 elements"),
        (3 * 65_536 + 4099, "3·2^16 + 4099 elements"),
    ] {
        cases.push(Case {
            label,
            inputs: vec![Tensor::f32(philox::normal(9, 0, n, 0.0, 1.0))],
        });
    }
    cases
}

// ---- fused_adam_clip_update ------------------------------------------------------------------

use super::optimizers::{clip_coef, AdamConsts};

fn adam_clip_shapes(i: &[&Tensor], p: &Params) -> Result<Vec<TensorDesc>> {
    shape::same_len("fused_adam_clip_update", i)?;
    if p.get("t") < 1.0 {
        return Err(Error::Param("fused_adam_clip_update: the step t must be ≥ 1".into()));
    }
    let s = i[0].shape();
    Ok(vec![
        TensorDesc::new(DType::F32, s),
        TensorDesc::new(DType::F32, s),
        TensorDesc::new(DType::F32, s),
        scalar_f32(),
    ])
}

/// total = ‖g‖₂ in f64, ĝ = coef·g (exact), then opt_adam's reference on ĝ (its tolerances on
/// the update's terms).
fn adam_clip_reference(i: &[&Tensor], p: &Params) -> Vec<Expected> {
    let k = AdamConsts::new(p, false);
    let [w, g, m, v] = [0, 1, 2, 3].map(|j| i[j].to_f64_vec());
    let total = g.iter().map(|x| x * x).sum::<f64>().sqrt();
    let coef = clip_coef(total, p.get("max_norm"));
    let gc: Vec<f64> = g.iter().map(|x| x * coef).collect();
    let mut out = super::optimizers::adam_expected(i[0].shape(), &k, &w, &gc, &m, &v);
    out.push(Expected::new(DType::F32, &[], vec![total]).with_tolerance(Tolerance::Stat { rtol: 1e-6, atol: 0.0 }));
    out
}

/// p ~ normal (0), g = z + copysign(1, z), z ~ normal (1), m ~ normal(0, 0.01) (2),
/// v ~ uniform(0, 1e-4) (3).
fn adam_clip_workload(n: usize, seed: u64, _: &Params) -> Vec<Tensor> {
    let z = philox::normal(seed, 1, n, 0.0, 1.0);
    vec![
        Tensor::f32(philox::normal(seed, 0, n, 0.0, 1.0)),
        Tensor::f32(z.iter().map(|&z| (z as f64 + 1f64.copysign(z as f64)) as f32).collect()),
        Tensor::f32(philox::normal(seed, 2, n, 0.0, 0.01)),
        Tensor::f32(philox::uniform(seed, 3, n, 0.0, 1e-4)),
    ]
}

fn adam_clip_cases() -> Vec<Case> {
    let p = Params::defaults(&SPECS[4]);
    let edit = |edits: &[(usize, usize, f32)]| {
        let mut v = adam_clip_workload(10_007, 45, &p);
        for &(j, k, x) in edits {
            if let Ok(t) = v[j].as_f32_mut() {
                t[k] = x;
            }
        }
        v
    };
    let small = vec![
        Tensor::f32(vec![0.5, -1.0, 2.0, 0.0, 1e-3, -0.25, 3.0]),
        Tensor::f32(vec![0.25, -0.5, 1e-3, 0.0, -0.0, 0.125, 1e-40]),
        Tensor::f32(vec![0.0, 0.01, -0.01, 0.0, 1e-3, 0.0, 0.0]),
        Tensor::f32(vec![0.0, 1e-4, 1e-5, 0.0, 1e-40, 1e-6, 0.0]),
    ];
    vec![
        Case {
            label: "NaN in g: every p, m, v NaN",
            inputs: edit(&[(1, 5000, f32::NAN)]),
        },
        Case {
            label: "NaN in p and m, inf in v (element-wise)",
            inputs: edit(&[(0, 3, f32::NAN), (2, 4100, f32::NAN), (3, 10_006, f32::INFINITY)]),
        },
        Case {
            label: "below max_norm: coef 1, tiny and zero state",
            inputs: small,
        },
        Case {
            label: "g near 1e19 (squares leave the f32 range)",
            inputs: edit(&[(1, 7, 1e19), (1, 8, -3e19), (1, 9, 2e-25)]),
        },
    ]
}

// ---- fused_softmax_cross_entropy -------------------------------------------------------------

pub fn target_error(row: usize, value: u64) -> Error {
    Error::Value(format!(
        "fused_softmax_cross_entropy: class targets must lie in [0, {CE_C}); row {row} has target {value}"
    ))
}

fn ce_shapes(i: &[&Tensor], _: &Params) -> Result<Vec<TensorDesc>> {
    let name = "fused_softmax_cross_entropy";
    let r = shape::rows_of(name, i[0], CE_C)?;
    if i[1].len() != r {
        return Err(Error::Shape(format!(
            "{name}: one target per row: {r} rows of {CE_C} logits but {} targets",
            i[1].len()
        )));
    }
    shape::nonempty(name, i[0])?;
    Ok(vec![scalar_f32(), TensorDesc::new(DType::F32, &[r, CE_C])])
}

/// Per row in f64: (m, s = Σ exp(x − m)), loss_r = m + ln s − x_t, grad = (exp(x − m)/s − [j = t])/R.
fn ce_reference(i: &[&Tensor], _: &Params) -> Vec<Expected> {
    let x = i[0].to_f64_vec();
    let t = i[1].as_u64().unwrap_or_default();
    let r = t.len() as f64;
    let (mut sum, mut abs) = (0.0, 0.0);
    let mut grad = Vec::with_capacity(x.len());
    for (row, &c) in x.chunks(CE_C).zip(t) {
        let (m, s) = super::softmax::row_stats(row);
        let c = c as usize;
        let loss = (m + s.ln()) - row.get(c).copied().unwrap_or(f64::NAN);
        sum += loss;
        abs += loss.abs();
        grad.extend(row.iter().enumerate().map(|(j, &v)| ((v - m).exp() / s - (j == c) as u8 as f64) / r));
    }
    vec![
        Expected::new(DType::F32, &[], vec![sum / r]).with_scale(vec![abs / r]),
        Expected::new(DType::F32, &[t.len(), CE_C], grad).with_tolerance(Tolerance::Elementwise {
            rtol: 4e-6,
            atol: 2e-7 / r,
        }),
    ]
}

/// logits ~ normal(100, 3) (stream 0), targets ~ randint(0, 256) (stream 1).
fn ce_workload(n: usize, seed: u64, _: &Params) -> Vec<Tensor> {
    let r = rows(n as u64, CE_C as u64) as usize;
    let t = philox::randint(seed, 1, r, 0, CE_C as i64);
    vec![
        super::common::f32_rows(philox::normal(seed, 0, r * CE_C, 100.0, 3.0), CE_C),
        u64_tensor(t.into_iter().map(|c| c as u64).collect()),
    ]
}

fn ce_cases() -> Vec<Case> {
    let p = Params::defaults(&SPECS[5]);
    let with = |f: &dyn Fn(&mut [f32], &mut [u64])| {
        let mut v = ce_workload(7 * CE_C, 47, &p);
        let (a, b) = v.split_at_mut(1);
        if let (Ok(x), Ok(y)) = (a[0].as_f32_mut(), b[0].as_u64_mut()) {
            f(x, y);
        }
        v
    };
    vec![
        Case {
            label: "equal logits, a target 120 below the rest, targets 0 and 255",
            inputs: with(&|x, y| {
                x[..CE_C].fill(3.0);
                x[CE_C..2 * CE_C].fill(0.0);
                x[CE_C + 9] = -120.0;
                y[1] = 9;
                y[2] = 0;
                y[3] = 255;
            }),
        },
        Case {
            label: "target logit −inf",
            inputs: with(&|x, y| x[4 * CE_C + y[4] as usize] = f32::NEG_INFINITY),
        },
        Case {
            label: "NaN in a row",
            inputs: with(&|x, _| x[6 * CE_C + 17] = f32::NAN),
        },
        Case {
            label: "one row",
            inputs: ce_workload(CE_C, 49, &p),
        },
    ]
}

// ---- fused_attention_softmax_v and fused_rope_attention_mask --------------------------------

/// Sequence length and head dimension of both attention entries (fixed).
pub const AT_S: usize = 512;
pub const AT_D: usize = 128;

/// Heads G of `t` holding G blocks of `per` elements (any shape whose length is a multiple).
fn heads(name: &str, what: &str, t: &Tensor, per: usize) -> Result<usize> {
    if !t.len().is_multiple_of(per) {
        return Err(Error::Shape(format!(
            "{name}: {what} must hold whole heads of {per} elements, got {}",
            t.len()
        )));
    }
    Ok(t.len() / per)
}

fn softmax_v_shapes(i: &[&Tensor], _: &Params) -> Result<Vec<TensorDesc>> {
    let name = "fused_attention_softmax_v";
    let g = heads(name, "scores", i[0], AT_S * AT_S)?;
    if i[1].len() != g * AT_S * AT_D {
        return Err(Error::Shape(format!(
            "{name}: V must be [{g}, {AT_S}, {AT_D}] for {g} heads of scores, got {} elements",
            i[1].len()
        )));
    }
    Ok(vec![TensorDesc::new(DType::F32, &[g, AT_S, AT_D])])
}

/// out_i = Σ_j P_ij V_j of one row in f64 from scores `s` (the first `len` keys; the rest are
/// masked and skipped) and V rows of D.
pub(crate) fn softmax_v_row(s: &[f64], v: &[f64], out: &mut Vec<f64>) {
    let m = s.iter().fold(f64::NEG_INFINITY, |m, &x| if x > m || x.is_nan() { x } else { m });
    let e: Vec<f64> = s.iter().map(|&x| (x - m).exp()).collect();
    let total: f64 = e.iter().sum();
    let mut acc = [0.0f64; AT_D];
    for (j, &w) in e.iter().enumerate() {
        for (a, &x) in acc.iter_mut().zip(&v[j * AT_D..(j + 1) * AT_D]) {
            *a += w * x;
        }
    }
    out.extend(acc.iter().map(|a| a / total));
}

fn softmax_v_reference(i: &[&Tensor], _: &Params) -> Vec<Expected> {
    let (s, v) = (i[0].to_f64_vec(), i[1].to_f64_vec());
    let g = s.len() / (AT_S * AT_S);
    let mut out = Vec::with_capacity(g * AT_S * AT_D);
    for h in 0..g {
        let vh = &v[h * AT_S * AT_D..(h + 1) * AT_S * AT_D];
        for row in s[h * AT_S * AT_S..(h + 1) * AT_S * AT_S].chunks(AT_S) {
            softmax_v_row(row, vh, &mut out);
        }
    }
    vec![rounded(&[g, AT_S, AT_D], out)]
}

/// The attention outputs checked against the f64 values rounded once to f32: the norm check
/// compares unrounded values, and an output in the subnormal range (the sweep's 1e-45 scale)
/// cannot be nearer its f64 value than its own rounding (elsewhere that costs 6e-8 of 1e-5).
fn rounded(shape: &[usize], v: Vec<f64>) -> Expected {
    Expected::new(DType::F32, shape, v.into_iter().map(|x| x as f32 as f64).collect())
}

/// scores ~ normal(80, 4) (stream 0), V ~ normal (stream 1), G = max(1, ⌊N/S²⌋).
fn softmax_v_workload(n: usize, seed: u64, _: &Params) -> Vec<Tensor> {
    let g = rows(n as u64, (AT_S * AT_S) as u64) as usize;
    let shaped = |v: Vec<f32>, d: usize| Tensor::f32(v).reshaped(&[g, AT_S, d]).unwrap_or_else(|_| Tensor::f32(vec![]));
    vec![
        shaped(philox::normal(seed, 0, g * AT_S * AT_S, 80.0, 4.0), AT_S),
        shaped(philox::normal(seed, 1, g * AT_S * AT_D, 0.0, 1.0), AT_D),
    ]
}

fn softmax_v_cases() -> Vec<Case> {
    let mut v = softmax_v_workload(0, 51, &Params::defaults(&SPECS[1]));
    if let Ok(s) = v[0].as_f32_mut() {
        s[..AT_S].fill(3.5);
        s[AT_S + 7] = f32::NAN;
        s[2 * AT_S..2 * AT_S + 100].fill(f32::NEG_INFINITY);
        s[3 * AT_S..4 * AT_S].fill(f32::NEG_INFINITY);
        s[4 * AT_S + 9] = 120.0;
        s[5 * AT_S..6 * AT_S].iter_mut().for_each(|x| *x *= 1e-30);
    }
    vec![Case {
        label: "equal scores, NaN, −inf entries, an all −inf row, a dominant score, tiny scores",
        inputs: v,
    }]
}

/// cos and sin of p·θ_d, θ_d = base^(−2d/D), for p < S and d < D/2: angles and values in f64,
/// rounded once to f32 (the entry's tables), row p at [p·D/2 ..].
pub fn rope_tables(base: f64) -> (Vec<f32>, Vec<f32>) {
    let half = AT_D / 2;
    let mut cos = Vec::with_capacity(AT_S * half);
    let mut sin = Vec::with_capacity(AT_S * half);
    for p in 0..AT_S {
        for d in 0..half {
            let ang = p as f64 * base.powf(-2.0 * d as f64 / AT_D as f64);
            cos.push(ang.cos() as f32);
            sin.push(ang.sin() as f32);
        }
    }
    (cos, sin)
}

fn rope_shapes(i: &[&Tensor], p: &Params) -> Result<Vec<TensorDesc>> {
    let name = "fused_rope_attention_mask";
    shape::same_len(name, i)?;
    heads(name, "Q, K and V", i[0], AT_S * AT_D)?;
    let base = p.get("rope_base");
    if base.is_nan() || base <= 1.0 {
        return Err(Error::Param(format!("{name}: rope_base must be > 1, got {base}")));
    }
    Ok(vec![TensorDesc::new(DType::F32, i[0].shape())])
}

/// Rotate rows of D in f64 (half-split pairs (d, d + D/2)) at positions p = row index.
fn rotate_f64(u: &[f64], base: f64) -> Vec<f64> {
    let half = AT_D / 2;
    let mut out = vec![0.0; u.len()];
    for (r, (row, o)) in u.chunks(AT_D).zip(out.chunks_mut(AT_D)).enumerate() {
        let p = (r % AT_S) as f64;
        for d in 0..half {
            let (s, c) = (p * base.powf(-2.0 * d as f64 / AT_D as f64)).sin_cos();
            o[d] = row[d] * c - row[d + half] * s;
            o[d + half] = row[d] * s + row[d + half] * c;
        }
    }
    out
}

fn rope_reference(i: &[&Tensor], p: &Params) -> Vec<Expected> {
    let [q, k, v] = [0, 1, 2].map(|j| i[j].to_f64_vec());
    vec![rounded(i[0].shape(), rope_f64(&q, &k, &v, p.get("rope_base")))]
}

/// The definition in f64 over whole heads (also the CPU's route for heads near the ends of the
/// f32 range).
pub(crate) fn rope_f64(q: &[f64], k: &[f64], v: &[f64], base: f64) -> Vec<f64> {
    let q = rotate_f64(q, base);
    let k = rotate_f64(k, base);
    let scale = 1.0 / (AT_D as f64).sqrt();
    let mut out = Vec::with_capacity(q.len());
    let mut s = Vec::with_capacity(AT_S);
    for h in 0..q.len() / (AT_S * AT_D) {
        let at = h * AT_S * AT_D;
        let (kh, vh) = (&k[at..at + AT_S * AT_D], &v[at..at + AT_S * AT_D]);
        for (i, qi) in q[at..at + AT_S * AT_D].chunks(AT_D).enumerate() {
            s.clear();
            // Keys j ≤ i only: masked pairs are skipped (NaN or inf there never enters).
            s.extend((0..=i).map(|j| qi.iter().zip(&kh[j * AT_D..(j + 1) * AT_D]).map(|(a, b)| a * b).sum::<f64>() * scale));
            softmax_v_row(&s, vh, &mut out);
        }
    }
    out
}

/// Q ~ normal(0, 2) (stream 0), K, V ~ normal (streams 1, 2), [B, 32, 512, 128].
fn rope_workload(n: usize, seed: u64, _: &Params) -> Vec<Tensor> {
    let b = rows(n as u64, (32 * AT_S * AT_D) as u64) as usize;
    let len = b * 32 * AT_S * AT_D;
    let shaped = |v: Vec<f32>| Tensor::f32(v).reshaped(&[b, 32, AT_S, AT_D]).unwrap_or_else(|_| Tensor::f32(vec![]));
    vec![
        shaped(philox::normal(seed, 0, len, 0.0, 2.0)),
        shaped(philox::normal(seed, 1, len, 0.0, 1.0)),
        shaped(philox::normal(seed, 2, len, 0.0, 1.0)),
    ]
}

/// One batch (32 heads) with NaN in a query row and in an (unmasked) key row of head 0, and NaN
/// and inf in the last key and value rows of head 1, which only the last query sees.
fn rope_cases() -> Vec<Case> {
    let mut v = rope_workload(0, 53, &Params::defaults(&SPECS[3]));
    let hd = AT_S * AT_D;
    if let Ok(q) = v[0].as_f32_mut() {
        q[100 * AT_D + 5] = f32::NAN;
    }
    if let Ok(k) = v[1].as_f32_mut() {
        k[300 * AT_D + 70] = f32::NAN;
        k[hd + 511 * AT_D + 3] = f32::NAN;
    }
    if let Ok(x) = v[2].as_f32_mut() {
        x[hd + 511 * AT_D + 9] = f32::INFINITY;
        x[hd + 400 * AT_D..hd + 401 * AT_D].fill(f32::NEG_INFINITY);
    }
    vec![Case {
        label: "NaN in Q and K rows, NaN and ±inf in K and V rows only later queries see",
        inputs: v,
    }]
}

pub static OPS: &[Op] = &[
    Op {
        name: "fused_layernorm_dropout_residual",
        inputs: &[
            input("x", DType::F32),
            input("res", DType::F32),
            input("gamma", DType::F32),
            input("beta", DType::F32),
            input("mask", DType::U8),
        ],
        outputs: &["y"],
        shapes: ln_shapes,
        reference: ln_reference,
        workload: ln_workload,
        edge_cases: ln_cases,
        cpu: cpu::layernorm_dropout_residual,
    },
    Op {
        name: "fused_scan_compact",
        inputs: &[input("x", DType::F32)],
        outputs: &["count", "values", "indices"],
        shapes: compact_shapes,
        reference: compact_reference,
        workload: compact_workload,
        edge_cases: compact_cases,
        cpu: cpu::scan_compact,
    },
    Op {
        name: "fused_adam_clip_update",
        inputs: &[
            input("p", DType::F32),
            input("g", DType::F32),
            input("m", DType::F32),
            input("v", DType::F32),
        ],
        outputs: &["p", "m", "v", "total"],
        shapes: adam_clip_shapes,
        reference: adam_clip_reference,
        workload: adam_clip_workload,
        edge_cases: adam_clip_cases,
        cpu: cpu::adam_clip_update,
    },
    Op {
        name: "fused_softmax_cross_entropy",
        inputs: &[input("logits", DType::F32), input("targets", DType::U64)],
        outputs: &["loss", "grad"],
        shapes: ce_shapes,
        reference: ce_reference,
        workload: ce_workload,
        edge_cases: ce_cases,
        cpu: cpu::softmax_cross_entropy,
    },
    Op {
        name: "fused_attention_softmax_v",
        inputs: &[input("scores", DType::F32), input("v", DType::F32)],
        outputs: &["out"],
        shapes: softmax_v_shapes,
        reference: softmax_v_reference,
        workload: softmax_v_workload,
        edge_cases: softmax_v_cases,
        cpu: cpu::attention_softmax_v,
    },
    Op {
        name: "fused_rope_attention_mask",
        inputs: &[input("q", DType::F32), input("k", DType::F32), input("v", DType::F32)],
        outputs: &["out"],
        shapes: rope_shapes,
        reference: rope_reference,
        workload: rope_workload,
        edge_cases: rope_cases,
        cpu: cpu::rope_attention_mask,
    },
];
