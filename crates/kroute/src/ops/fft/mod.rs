//! The fft domain: specs only (implementations come in a later issue).

use crate::spec::{Domain, KernelSpec, Metric, Tolerance};

/// Implemented in a later tranche: no ops and no device kernels yet.
pub static OPS: &[crate::op::Op] = &[];
pub(crate) static CUDA: crate::backend::cuda::Table = crate::backend::cuda::Table::NONE;

/// L = 2^⌊log2 N⌋ (N = 0 is Error::Empty; treated as L = 1 here) and log2 L.
fn fft_len(n: u64) -> (f64, f64) {
    let log2 = 63 - n.max(1).leading_zeros();
    ((1u64 << log2) as f64, log2 as f64)
}

// NOTE (every entry of this domain): the tolerance is norm(4e-7·log2 L), which depends on N
// through L = 2^⌊log2 N⌋. A static class holds one number, so this is its value at the default
// N = 10^7 (L = 2^23): 4e-7·23 = 9.2e-6. Other N need 4e-7·log2 L (L = 1 must be exact).
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
