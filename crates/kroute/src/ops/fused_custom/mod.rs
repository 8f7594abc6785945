//! The fused_custom domain: specs only (implementations come in a later issue).

use crate::spec::{rows, Domain, KernelSpec, Metric, ParamSpec, Tolerance};

/// Implemented in a later tranche: no ops and no device kernels yet.
pub static OPS: &[crate::op::Op] = &[];
pub(crate) static CUDA: crate::backend::cuda::Table = crate::backend::cuda::Table::NONE;

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
