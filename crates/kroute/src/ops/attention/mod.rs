//! The attention domain: specs only (implementations come in a later issue).

use crate::spec::{rows, Domain, KernelSpec, Metric, ParamSpec, Tolerance};

/// Implemented in a later tranche: no ops and no device kernels yet.
pub static OPS: &[crate::op::Op] = &[];
pub(crate) static CUDA: crate::backend::cuda::Table = crate::backend::cuda::Table::NONE;

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
            ParamSpec::int("seq", 512.0, 1.0, 1e9, "sequence length S"),
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
            ParamSpec::int("seq", 2048.0, 1.0, 1e9, "sequence length S"),
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
