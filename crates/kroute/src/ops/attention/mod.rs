//! attention: scaled dot-product attention (materialising and flash/tiled, causal, MQA/GQA),
//! rotary position embedding and the ALiBi bias (`kernels/attention.md`).

pub(crate) mod cpu;
mod cuda;

pub(crate) use cuda::CUDA;

use super::common::{f32_rows, terms_expected};
use crate::op::{input, shape, Case, Op};
use crate::params::Params;
use crate::philox;
use crate::spec::{rows, Domain, KernelSpec, Metric, ParamSpec, Tolerance};
use crate::tensor::{DType, Tensor, TensorDesc};
use crate::verify::Expected;
use crate::{Error, Result};
use rayon::prelude::*;

// NOTE: `causal` is a bool; ParamKind has no bool, so it is an Int parameter in [0, 1]
// (0 = false, 1 = true).
// NOTE: `kv_heads` must also divide 32 (1, 2, 4, 8, 16, 32); the closed range [1, 32] cannot
// express that, so the divisibility check stays with the kernel (Error::Param).
const CAUSAL: ParamSpec =
    ParamSpec::int("causal", 0.0, 0.0, 1.0, "causal mask (0 = false, 1 = true)");
const KV_HEADS: ParamSpec = ParamSpec::int(
    "kv_heads",
    32.0,
    1.0,
    32.0,
    "kv heads; must divide 32 (1 = MQA, 2…16 = GQA)",
);

/// B·S·D·(2·32 + 2·kv_heads)·4 bytes and 4·B·H·S²·D + 5·B·H·S² flops (non-causal, MHA defaults).
fn sdpa_bytes(n: u64, s: u64) -> f64 {
    let b = rows(n, 32 * s * 128) as f64;
    let s = s as f64;
    4.0 * b * s * 128.0 * (2.0 * 32.0 + 2.0 * 32.0)
}

fn sdpa_flops(n: u64, s: u64) -> f64 {
    let b = rows(n, 32 * s * 128) as f64;
    let s = s as f64;
    4.0 * b * 32.0 * s * s * 128.0 + 5.0 * b * 32.0 * s * s
}

pub static SPECS: &[KernelSpec] = &[
    KernelSpec {
        name: "attention_sdpa",
        domain: Domain::Attention,
        computes: "per (b, h), g = ⌊h·kv_heads/32⌋: S_ij = Σ_d Q[b,h,i,d]·K[b,g,j,d]/√D (causal: −inf for j > i); P_i = softmax_j(S_i·); O[b,h,i,:] = Σ_j P_ij V[b,g,j,:]",
        shapes: "H = 32, D = 128, S = seq, B = max(1, ⌊N/(32·S·128)⌋); Q f32[B, 32, S, 128] ~ normal(0, 2) (stream 0), K, V f32[B, kv_heads, S, 128] ~ normal(0, 1) (streams 1, 2) → O f32[B, 32, S, 128]",
        params: &[
            ParamSpec::int("seq", 512.0, 1.0, 65536.0, "sequence length S (≤ 65536: a larger S only sizes an unallocatable workload)"),
            CAUSAL,
            KV_HEADS,
        ],
        tolerance: Tolerance::Norm { rtol: 1e-5 },
        metric: Metric::Flops,
        bytes: |n| sdpa_bytes(n, 512),
        flops: |n| sdpa_flops(n, 512),
    },
    KernelSpec {
        name: "attention_flash",
        domain: Domain::Attention,
        computes: "attention_sdpa's O, by tiles with a running max, running normaliser and rescaled accumulator (online softmax), never materialising the S×S scores",
        shapes: "H = 32, D = 128, S = seq, B = max(1, ⌊N/(32·S·128)⌋); Q f32[B, 32, S, 128] ~ normal(0, 2) (stream 0), K, V f32[B, kv_heads, S, 128] ~ normal(0, 1) (streams 1, 2) → O f32[B, 32, S, 128]",
        params: &[
            ParamSpec::int("seq", 2048.0, 1.0, 65536.0, "sequence length S (≤ 65536: a larger S only sizes an unallocatable workload)"),
            CAUSAL,
            KV_HEADS,
        ],
        tolerance: Tolerance::Norm { rtol: 1e-5 },
        metric: Metric::Flops,
        bytes: |n| sdpa_bytes(n, 2048),
        flops: |n| sdpa_flops(n, 2048),
    },
    KernelSpec {
        name: "rope_apply",
        domain: Domain::Attention,
        computes: "half-split RoPE, p = t mod 4096, θ_i = base^(−2i/128): y[t,i] = x[t,i]·cos(pθ_i) − x[t,i+64]·sin(pθ_i), y[t,i+64] = x[t,i+64]·cos(pθ_i) + x[t,i]·sin(pθ_i); angles in f64",
        shapes: "x f32[T, 128] ~ normal(0, 1) (stream 0), T = max(1, ⌊N/128⌋) → y f32[T, 128]",
        // NOTE: "base > 1" is an open bound; its closed-range min is the next f64 above 1
        // (1 + f64::EPSILON), and the max is open-ended (f64::INFINITY).
        params: &[ParamSpec::f64("base", 10000.0, 1.0 + f64::EPSILON, f64::INFINITY, "RoPE frequency base (D = 128, position period 4096 fixed)")],
        tolerance: Tolerance::Elementwise { rtol: 4e-6, atol: 4e-6 },
        metric: Metric::Bandwidth,
        bytes: |n| 8.0 * 128.0 * rows(n, 128) as f64,
        flops: |n| 3.0 * 128.0 * rows(n, 128) as f64,
    },
    KernelSpec {
        name: "alibi_bias",
        domain: Domain::Attention,
        computes: "y[h,i,j] = scores[h,i,j] + bias[h,i,j], bias = −m_h·(i − j) for j ≤ i, −inf for j > i, m_h = 2^(−(h+1)/4) (H = 32)",
        shapes: "scores f32[32, S, S] ~ normal(0, 1) (stream 0), S = max(1, round(√(N/32))) → y f32[32, S, S]",
        params: &[],
        // Per element, S = |scores[h,i,j]| + |bias[h,i,j]|; the −inf positions must be exact.
        tolerance: Tolerance::Sum { rtol: 1e-6 },
        metric: Metric::Bandwidth,
        bytes: |n| {
            let s = (n as f64 / 32.0).sqrt().round().max(1.0);
            8.0 * 32.0 * s * s
        },
        flops: |n| {
            let s = (n as f64 / 32.0).sqrt().round().max(1.0);
            32.0 * s * (s + 1.0)
        },
    },
];

// ---- shapes --------------------------------------------------------------------------------

/// Query heads (fixed by the entry).
pub(crate) const H: usize = 32;
/// Head dimension (fixed by the entry).
pub(crate) const D: usize = 128;

/// An attention call's dimensions.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Dims {
    pub b: usize,
    pub s: usize,
    pub kv: usize,
    pub causal: bool,
}

impl Dims {
    /// The kv head query head h reads: ⌊h·kv/H⌋ (torch's repeat_interleave grouping).
    pub fn group(&self, h: usize) -> usize {
        h * self.kv / H
    }
}

/// Q [B, 32, S, 128], K and V [B, kv_heads, S, 128]. kv_heads must divide 32 (Error::Param).
/// S is Q's own third dimension: `seq` sizes the workload, and a call (an edge case, a user's
/// tensors) may carry any S ≥ 0; K and V must have the same S.
pub(crate) fn attention_dims(name: &str, i: &[&Tensor], p: &Params) -> Result<Dims> {
    let kv = p.usize("kv_heads");
    if kv == 0 || H % kv != 0 {
        return Err(Error::Param(format!(
            "{name}: kv_heads must divide 32 (1, 2, 4, 8, 16 or 32), got {kv}"
        )));
    }
    let [b, h, s, d] = *i[0].shape() else {
        return Err(Error::Shape(format!(
            "{name}: Q must be 4-D [B, 32, S, 128], got shape {:?}",
            i[0].shape()
        )));
    };
    if h != H || d != D {
        return Err(Error::Shape(format!(
            "{name}: Q must be [B, 32, S, 128], got shape {:?}",
            i[0].shape()
        )));
    }
    for (t, what) in i[1..].iter().zip(["K", "V"]) {
        if t.shape() != [b, kv, s, D] {
            return Err(Error::Shape(format!(
                "{name}: {what} must be [B, kv_heads, S, 128] = {:?}, got shape {:?}",
                [b, kv, s, D],
                t.shape()
            )));
        }
    }
    Ok(Dims {
        b,
        s,
        kv,
        causal: p.usize("causal") != 0,
    })
}

/// rope_apply: x [T, 128] (or a 1-D run of whole tokens).
fn rope_tokens(i: &[&Tensor]) -> Result<usize> {
    shape::rows_of("rope_apply", i[0], D)
}

/// alibi_bias: scores [32, S, S]; returns S.
fn alibi_side(i: &[&Tensor]) -> Result<usize> {
    match *i[0].shape() {
        [h, s, s2] if h == H && s == s2 => Ok(s),
        _ => Err(Error::Shape(format!(
            "alibi_bias: scores must be [32, S, S], got shape {:?}",
            i[0].shape()
        ))),
    }
}

// ---- reference -----------------------------------------------------------------------------

/// One query head's output rows in f64: for each row i, the max-subtracted softmax of the scaled
/// scores against keys 0..S (causal: 0..=i), then the weighted sum of V's rows. q: S×128 of head
/// h, k and v: S×128 of its kv head. Written for clarity; the products are laid out so that the
/// inner loops run over contiguous memory (the reference is also the CPU's wide path).
pub(crate) fn attend_head_f64(q: &[f32], k: &[f32], v: &[f32], s: usize, causal: bool) -> Vec<f64> {
    let scale = 1.0 / (D as f64).sqrt();
    let k64: Vec<f64> = k.iter().map(|&x| x as f64).collect();
    let v64: Vec<f64> = v.iter().map(|&x| x as f64).collect();
    let mut out = vec![0.0f64; s * D];
    let mut p = vec![0.0f64; s];
    for i in 0..s {
        let keys = if causal { i + 1 } else { s };
        let qi: Vec<f64> = q[i * D..(i + 1) * D].iter().map(|&x| x as f64).collect();
        for (j, pj) in p[..keys].iter_mut().enumerate() {
            let kj = &k64[j * D..(j + 1) * D];
            *pj = scale * qi.iter().zip(kj).map(|(a, b)| a * b).sum::<f64>();
        }
        // The max keeps NaN (a NaN score makes the row NaN either way, through its exp).
        let m = p[..keys]
            .iter()
            .fold(f64::NEG_INFINITY, |m, &x| if x.is_nan() || m.is_nan() { f64::NAN } else { m.max(x) });
        let mut l = 0.0;
        for pj in &mut p[..keys] {
            *pj = (*pj - m).exp();
            l += *pj;
        }
        let o = &mut out[i * D..(i + 1) * D];
        for (j, &pj) in p[..keys].iter().enumerate() {
            for (od, &vd) in o.iter_mut().zip(&v64[j * D..(j + 1) * D]) {
                *od += pj * vd;
            }
        }
        o.iter_mut().for_each(|x| *x /= l);
    }
    out
}

/// O for every (b, h) in f64, the heads in parallel (the reference runs at up to 10^8 elements,
/// 10^11 flops, in the default verification on the GPU machine).
pub(crate) fn attention_f64(q: &[f32], k: &[f32], v: &[f32], dims: Dims) -> Vec<f64> {
    let Dims { b, s, kv, causal } = dims;
    let heads: Vec<Vec<f64>> = (0..b * H)
        .into_par_iter()
        .map(|bh| {
            let (bi, h) = (bh / H, bh % H);
            let g = bi * kv + dims.group(h);
            let qh = &q[bh * s * D..(bh + 1) * s * D];
            let (kh, vh) = (&k[g * s * D..(g + 1) * s * D], &v[g * s * D..(g + 1) * s * D]);
            attend_head_f64(qh, kh, vh, s, causal)
        })
        .collect();
    heads.concat()
}

fn attention_reference(name: &str, i: &[&Tensor], p: &Params) -> Vec<Expected> {
    let Ok(dims) = attention_dims(name, i, p) else {
        return vec![];
    };
    let (Ok(q), Ok(k), Ok(v)) = (i[0].as_f32(), i[1].as_f32(), i[2].as_f32()) else {
        return vec![];
    };
    vec![Expected::new(DType::F32, i[0].shape(), attention_f64(q, k, v, dims))]
}

/// θ_i = base^(−2i/128) and the angle p·θ_i in f64: the entry requires f64 angles (f32 ones are
/// off by up to 2.4e-4 rad at p ≈ 4095).
pub(crate) fn rope_angle(base: f64, pos: usize, i: usize) -> f64 {
    pos as f64 * base.powf(-2.0 * i as f64 / D as f64)
}

fn rope_reference(i: &[&Tensor], p: &Params) -> Vec<Expected> {
    let base = p.get("base");
    let x = i[0].to_f64_vec();
    let mut y = vec![(0.0, 0.0); x.len()];
    for (t, (xr, yr)) in x.chunks_exact(D).zip(y.chunks_exact_mut(D)).enumerate() {
        for k in 0..D / 2 {
            let a = rope_angle(base, t % ROPE_PERIOD, k);
            let (c, s) = (a.cos(), a.sin());
            let (x1, x2) = (xr[k], xr[k + D / 2]);
            // Each output with its condition scale, the size of its two products.
            yr[k] = (x1 * c - x2 * s, (x1 * c).abs() + (x2 * s).abs());
            yr[k + D / 2] = (x2 * c + x1 * s, (x2 * c).abs() + (x1 * s).abs());
        }
    }
    // elementwise(4e-6, 4e-6) with the relative part on the products' size (the entry: the
    // products nearly cancel where y ≈ 0, and f32(cos), f32(sin) err relative to them).
    vec![terms_expected(i[0].shape(), y, 4e-6, 4e-6)]
}

/// The position period of rope_apply.
pub(crate) const ROPE_PERIOD: usize = 4096;

/// The ALiBi slope m_h = 2^(−(h+1)/4) (H = 32) in f64.
pub(crate) fn alibi_slope(h: usize) -> f64 {
    (-8.0 * (h + 1) as f64 / H as f64).exp2()
}

fn alibi_reference(i: &[&Tensor], _: &Params) -> Vec<Expected> {
    let Ok(s) = alibi_side(i) else {
        return vec![];
    };
    let x = i[0].to_f64_vec();
    let mut y = Vec::with_capacity(x.len());
    let mut scale = Vec::with_capacity(x.len());
    for (k, &v) in x.iter().enumerate() {
        let (h, r, c) = (k / (s * s), (k / s) % s, k % s);
        let bias = if c <= r { -alibi_slope(h) * (r - c) as f64 } else { f64::NEG_INFINITY };
        y.push(v + bias);
        scale.push(v.abs() + bias.abs());
    }
    vec![Expected::new(DType::F32, i[0].shape(), y).with_scale(scale)]
}

// ---- workloads -----------------------------------------------------------------------------

/// Q [B, 32, S, 128] ~ normal(0, 2) (stream 0), K and V [B, kv_heads, S, 128] ~ normal(0, 1)
/// (streams 1, 2), B = max(1, ⌊N/(32·S·128)⌋).
fn attention_workload(n: usize, seed: u64, p: &Params) -> Vec<Tensor> {
    let (s, kv) = (p.usize("seq"), p.usize("kv_heads"));
    let b = rows(n as u64, (H * s * D) as u64) as usize;
    let shaped = |v: Vec<f32>, h: usize| {
        Tensor::f32(v)
            .reshaped(&[b, h, s, D])
            .unwrap_or_else(|_| Tensor::f32(vec![]))
    };
    vec![
        shaped(philox::normal(seed, 0, b * H * s * D, 0.0, 2.0), H),
        shaped(philox::normal(seed, 1, b * kv * s * D, 0.0, 1.0), kv),
        shaped(philox::normal(seed, 2, b * kv * s * D, 0.0, 1.0), kv),
    ]
}

fn rope_workload(n: usize, seed: u64, _: &Params) -> Vec<Tensor> {
    let t = rows(n as u64, D as u64) as usize;
    vec![f32_rows(philox::normal(seed, 0, t * D, 0.0, 1.0), D)]
}

fn alibi_workload(n: usize, seed: u64, _: &Params) -> Vec<Tensor> {
    let s = ((n as f64 / H as f64).sqrt().round() as usize).max(1);
    let x = Tensor::f32(philox::normal(seed, 0, H * s * s, 0.0, 1.0))
        .reshaped(&[H, s, s])
        .unwrap_or_else(|_| Tensor::f32(vec![]));
    vec![x]
}

// ---- edge cases ----------------------------------------------------------------------------

/// Q, K, V at B, S (MHA, seed 23); `edit` changes them before they are shaped.
fn qkv(b: usize, s: usize, edit: impl Fn(&mut [f32], &mut [f32], &mut [f32])) -> Vec<Tensor> {
    let mut q = philox::normal(23, 0, b * H * s * D, 0.0, 2.0);
    let mut k = philox::normal(23, 1, b * H * s * D, 0.0, 1.0);
    let mut v = philox::normal(23, 2, b * H * s * D, 0.0, 1.0);
    edit(&mut q, &mut k, &mut v);
    [q, k, v]
        .into_iter()
        .map(|x| {
            Tensor::f32(x)
                .reshaped(&[b, H, s, D])
                .unwrap_or_else(|_| Tensor::f32(vec![]))
        })
        .collect()
}

/// The entry's traps at the default parameters (MHA, not causal; the causal and GQA/MQA traps,
/// S = 1000 and the Q × 100 case need parameters or their own tolerance and are in
/// kroute-bench's tests/attention.rs): S = 1 (O = V), S = 63 and 65 around the tiles, NaN in a
/// Q, K and V row, and Q × 30 (scores of std 60: a kernel without the max subtraction
/// overflows).
fn attention_cases() -> Vec<Case> {
    let at = |b, h, i| ((b * H + h) * 65 + i) * D;
    vec![
        Case { label: "S = 1 (O = V)", inputs: qkv(2, 1, |_, _, _| {}) },
        Case { label: "S = 63", inputs: qkv(1, 63, |_, _, _| {}) },
        Case {
            label: "S = 65, B = 2: NaN in Q[0,3,10,5], K[1,7,40,0], V[0,20,64,127]; ±inf in Q[1,30,2,:2]",
            inputs: qkv(2, 65, |q, k, v| {
                q[at(0, 3, 10) + 5] = f32::NAN;
                k[at(1, 7, 40)] = f32::NAN;
                v[at(0, 20, 64) + 127] = f32::NAN;
                q[at(1, 30, 2)] = f32::INFINITY;
                q[at(1, 30, 2) + 1] = f32::NEG_INFINITY;
            }),
        },
        Case {
            label: "Q × 30 (scores std 60, row max ≈ 180), S = 200",
            inputs: qkv(1, 200, |q, _, _| q.iter_mut().for_each(|x| *x *= 30.0)),
        },
        Case { label: "B = 0", inputs: qkv(0, 7, |_, _, _| {}) },
    ]
}

fn rope_cases() -> Vec<Case> {
    // Tokens 0 … 4097 (p = 0 at t = 0 and 4096), then the entry's edge values at p = 0, 1 and 4095.
    let mut x = philox::normal(29, 0, 4098 * D, 0.0, 1.0);
    for (t, i, v) in [
        (0, 3, f32::NAN),
        (0, 70, f32::INFINITY),
        (1, 5, f32::NAN),
        (1, 64, f32::NEG_INFINITY),
        (4095, 63, f32::INFINITY),
        (4096, 127, f32::NEG_INFINITY),
        (2, 0, 1e-40),
        (3, 1, f32::MAX),
    ] {
        x[t * D + i] = v;
    }
    vec![
        Case { label: "T = 4098: p = 0 exact, NaN and ±inf at p = 0, 1, 4095", inputs: vec![f32_rows(x, D)] },
        Case { label: "T = 1", inputs: vec![f32_rows(philox::normal(29, 1, D, 0.0, 1.0), D)] },
        Case { label: "T = 0", inputs: vec![f32_rows(vec![], D)] },
    ]
}

fn alibi_cases() -> Vec<Case> {
    let sq = |s: usize, x: Vec<f32>| {
        Tensor::f32(x)
            .reshaped(&[H, s, s])
            .unwrap_or_else(|_| Tensor::f32(vec![]))
    };
    let s = 37;
    let mut x = philox::normal(31, 0, H * s * s, 0.0, 1.0);
    // Masked positions (j > i): NaN and +inf give NaN, −inf stays −inf; kept ones follow IEEE.
    for (h, i, j, v) in [
        (0, 0, 1, f32::NAN),
        (3, 5, 30, f32::INFINITY),
        (31, 10, 36, f32::NEG_INFINITY),
        (7, 20, 3, f32::NAN),
        (8, 20, 20, f32::INFINITY),
        (9, 36, 0, f32::NEG_INFINITY),
        (10, 30, 30, -0.0),
        (11, 4, 4, 1e-40),
    ] {
        x[(h * s + i) * s + j] = v;
    }
    vec![
        Case { label: "S = 37: NaN, ±inf in the masked and kept halves, −0 on the diagonal", inputs: vec![sq(s, x)] },
        Case { label: "S = 1 (y = scores)", inputs: vec![sq(1, philox::normal(31, 1, H, 0.0, 1.0))] },
        Case { label: "S = 0", inputs: vec![sq(0, vec![])] },
    ]
}

const QKV: &[crate::op::Input] = &[input("q", DType::F32), input("k", DType::F32), input("v", DType::F32)];

fn attention_out(name: &str, i: &[&Tensor], p: &Params) -> Result<Vec<TensorDesc>> {
    attention_dims(name, i, p)?;
    Ok(vec![TensorDesc::new(DType::F32, i[0].shape())])
}

pub static OPS: &[Op] = &[
    Op {
        name: "attention_sdpa",
        inputs: QKV,
        outputs: &["o"],
        shapes: |i, p| attention_out("attention_sdpa", i, p),
        reference: |i, p| attention_reference("attention_sdpa", i, p),
        workload: attention_workload,
        edge_cases: attention_cases,
        cpu: cpu::attention_sdpa,
    },
    Op {
        name: "attention_flash",
        inputs: QKV,
        outputs: &["o"],
        shapes: |i, p| attention_out("attention_flash", i, p),
        reference: |i, p| attention_reference("attention_flash", i, p),
        workload: attention_workload,
        edge_cases: attention_cases,
        cpu: cpu::attention_flash,
    },
    Op {
        name: "rope_apply",
        inputs: &[input("x", DType::F32)],
        outputs: &["y"],
        shapes: |i, _| {
            rope_tokens(i)?;
            Ok(vec![TensorDesc::new(DType::F32, i[0].shape())])
        },
        reference: rope_reference,
        workload: rope_workload,
        edge_cases: rope_cases,
        cpu: cpu::rope_apply,
    },
    Op {
        name: "alibi_bias",
        inputs: &[input("scores", DType::F32)],
        outputs: &["y"],
        shapes: |i, _| {
            alibi_side(i)?;
            Ok(vec![TensorDesc::new(DType::F32, i[0].shape())])
        },
        reference: alibi_reference,
        workload: alibi_workload,
        edge_cases: alibi_cases,
        cpu: cpu::alibi_bias,
    },
];
