//! The prng domain: specs only (implementations come in a later issue).

use crate::spec::{Domain, KernelSpec, Metric, ParamSpec, Tolerance};

/// Implemented in a later tranche: no ops and no device kernels yet.
pub static OPS: &[crate::op::Op] = &[];
pub(crate) static CUDA: crate::backend::cuda::Table = crate::backend::cuda::Table::NONE;

// NOTE: `seed` is a u64 ("any u64 is valid"); its range is written as [0, u64::MAX as f64], and
// u64::MAX as f64 rounds up to 2^64 (f64 cannot hold 2^64 − 1), so the stored max is one past the
// real one. A range check must parse the seed as a u64 rather than trust the f64 bound.
const SEED: ParamSpec = ParamSpec::int(
    "seed",
    42.0,
    0.0,
    u64::MAX as f64,
    "Philox seed s; key = (s mod 2^32, ⌊s/2^32⌋)",
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
        // NOTE: the entry also requires a < b, a cross-parameter constraint a per-parameter range
        // cannot express; it must be checked separately (Error::Param).
        params: &[
            SEED,
            ParamSpec::f64("a", 0.0, -1.7e38, 1.7e38, "lower bound of the interval (requires a < b)"),
            ParamSpec::f64("b", 1.0, -1.7e38, 1.7e38, "upper bound of the interval (requires a < b)"),
        ],
        // NOTE: the tolerance depends on the parameters: exact at a = 0, b = 1 (the defaults),
        // elementwise(0, 3·ulp_f32(max(|a|, |b|))) otherwise. A static class can hold only one, so
        // this is the default-parameter class (Exact); non-default (a, b) need
        // Elementwise { rtol: 0, atol: 3·ulp_f32(max(|a|, |b|)) } computed at run time.
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
