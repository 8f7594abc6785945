
// autocorrelation and cross_correlation (kernels/signal.md): the direct form in two launches,
// on the lag sum of ops/signal/lags.rs,
//   lags(a, b, k0, nl)[j] = Σ_{n : n + k0 + j < N} a[n]·b[n + k0 + j],  j < nl.
// lag_partial_<LPT>: block (c, t) takes chunk c (KR_LAG_CHUNK samples of a, from 0) and tile t
// (BLOCK·LPT lags); the chunk of a and the window of b it meets (chunk + tile − 1 samples) are
// staged in shared memory; thread i owns lags i, i + BLOCK, … (LPT of them, in registers:
// each step one broadcast of a[m] and LPT consecutive-across-the-warp reads of b). A lag's
// chunk partial is f32 fma chains of 256 products added in f64; where a chain is not finite or below
// 2^-100 (f32 products or partials that overflowed or may have underflowed, or NaN/inf data) it
// is summed again from shared memory in f64, the definition's arithmetic. Partials are written
// as f64, part[c·nl + j]. lag_finish adds a lag's chunk partials in chunk order in f64
// (deterministic) and writes out[base + j] (or out[base − j]).

#define KR_LAG_CHUNK 4096
#define KR_LAG_SUB 256    // samples per f32 chain
#define KR_LAG_TINY 7.888609052210118e-31f  // 2^-100, as the CPU drivers' TINY

template <int LPT>
__device__ __forceinline__ void kr_lag_partial(const float* __restrict__ a, const float* __restrict__ b,
                                               double* __restrict__ part, u64 n, u64 k0, u64 nl, u64 chunks) {
    extern __shared__ float kr_lag_sm[];
    const u64 bd = blockDim.x, tid = threadIdx.x;
    const u64 tl = bd * LPT;
    const u64 c = blockIdx.x % chunks, j0 = (blockIdx.x / chunks) * tl;
    // Samples n ≥ N − k0 have no terms (the host sizes the grid so that every chunk has some).
    const u64 len_all = n - k0;
    const u64 s = c * KR_LAG_CHUNK;
    const u64 e = min(s + (u64)KR_LAG_CHUNK, len_all);
    const u64 len = e - s;
    float* as = kr_lag_sm;                 // as[m] = a[s + m], m < len
    float* bs = kr_lag_sm + KR_LAG_CHUNK;  // bs[i] = b[s + k0 + j0 + i], i < len + tl − 1 (0 past N)
    for (u64 i = tid; i < len; i += bd) as[i] = a[s + i];
    for (u64 i = tid; i < len + tl - 1; i += bd) {
        u64 g = s + k0 + j0 + i;
        bs[i] = g < n ? b[g] : 0.0f;
    }
    __syncthreads();

    // Lag q of this thread (local index j = tid + q·bd, absolute lag k0 + j0 + j) has a term at
    // sample s + m for m < lim[q]. Lags past nl are computed on in-range shared memory and dropped.
    float acc[LPT];
    u64 lim[LPT];
    u64 common = len;
#pragma unroll
    for (int q = 0; q < LPT; q++) {
        acc[q] = 0.0f;
        u64 j = tid + q * bd;
        u64 k = k0 + j0 + j;
        lim[q] = len;
        if (j0 + j < nl) {
            lim[q] = s + k < n ? min(len, n - s - k) : 0;
            common = min(common, lim[q]);
        }
    }
    // f32 chains of KR_LAG_SUB samples, added in f64: a chain over the whole chunk would round
    // away the small terms after a large first one (an outlier x[0] = 1e4: x[0]² = 1e8, ulp 8).
    double dacc[LPT];
    bool redo[LPT];
#pragma unroll
    for (int q = 0; q < LPT; q++) {
        dacc[q] = 0.0;
        redo[q] = false;
    }
    for (u64 m0 = 0; m0 < len; m0 += KR_LAG_SUB) {
        const u64 m1 = min(m0 + (u64)KR_LAG_SUB, len);
        const u64 cut = min(m1, max(m0, common));
        for (u64 m = m0; m < cut; m++) {
            float av = as[m];
#pragma unroll
            for (int q = 0; q < LPT; q++) acc[q] = fmaf(av, bs[m + tid + q * bd], acc[q]);
        }
        // The chunk's last samples: only the terms that exist (a zero from past N times a NaN
        // or inf of a would not be a term of the sum).
        for (u64 m = cut; m < m1; m++) {
            float av = as[m];
#pragma unroll
            for (int q = 0; q < LPT; q++)
                if (m < lim[q]) acc[q] = fmaf(av, bs[m + tid + q * bd], acc[q]);
        }
#pragma unroll
        for (int q = 0; q < LPT; q++) {
            if (m0 < lim[q] && (!isfinite(acc[q]) || fabsf(acc[q]) < KR_LAG_TINY)) redo[q] = true;
            dacc[q] += (double)acc[q];
            acc[q] = 0.0f;
        }
    }
#pragma unroll
    for (int q = 0; q < LPT; q++) {
        u64 j = tid + q * bd;
        if (j0 + j >= nl) continue;
        double d = dacc[q];
        if (redo[q]) {
            d = 0.0;
            for (u64 m = 0; m < lim[q]; m++) d += (double)as[m] * (double)bs[m + j];
        }
        part[c * nl + j0 + j] = d;
    }
}

extern "C" __global__ void __launch_bounds__(256)
    lag_partial_1(const float* a, const float* b, double* part, u64 n, u64 k0, u64 nl, u64 chunks) {
    kr_lag_partial<1>(a, b, part, n, k0, nl, chunks);
}
extern "C" __global__ void __launch_bounds__(256)
    lag_partial_2(const float* a, const float* b, double* part, u64 n, u64 k0, u64 nl, u64 chunks) {
    kr_lag_partial<2>(a, b, part, n, k0, nl, chunks);
}
extern "C" __global__ void __launch_bounds__(256)
    lag_partial_4(const float* a, const float* b, double* part, u64 n, u64 k0, u64 nl, u64 chunks) {
    kr_lag_partial<4>(a, b, part, n, k0, nl, chunks);
}

// out[base ± j] = Σ_c part[c·live + j] for j < live (chunk order, f64), 0 for live ≤ j < nl
// (lags with no terms).
extern "C" __global__ void lag_finish(const double* __restrict__ part, float* __restrict__ out, u64 nl,
                                      u64 live, u64 chunks, u64 base, u64 reverse) {
    for (u64 j = kr_tid(); j < nl; j += kr_nthreads()) {
        double t = 0.0;
        if (j < live)
            for (u64 c = 0; c < chunks; c++) t += part[c * live + j];
        out[reverse ? base - j : base + j] = (float)t;
    }
}
