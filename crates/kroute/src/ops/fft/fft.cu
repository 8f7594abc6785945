// fft: a Stockham autosort FFT in a few global passes, each pass one radix-R sub-FFT per
// column done in shared memory (docs/kernels/fft.md; the host side is cuda.rs).
//
// Pass (radix R = 2^r, stride Ns = product of the earlier radices), for every column
// j < M/R with c = j mod Ns:
//     v_t = in[j + t·M/R]·w_{Ns·R}^{c·t}          (t < R; no twiddle in the first pass)
//     out[(j/Ns)·Ns·R + c + t·Ns] = Σ_t' v_t'·w_R^{t·t'}
// A block takes J = P/R consecutive columns (P ≤ 4096 points): the loads read J consecutive
// complex64 per t and the stores write J consecutive ones per t (or R consecutive ones when
// Ns = 1), so both are coalesced. The R-point DFTs run in shared memory as Stockham radix-4
// stages (one radix-2 stage first when r is odd), each thread keeping its butterflies' values
// in registers between a read phase and a write phase separated by __syncthreads.
//
// Twiddles: w_Lt^e = hi[e >> b]·lo[e & (2^b − 1)] from two tables of about √Lt float2, built
// per call in f64 (sincospi) by fft_twiddles and rounded once: the error of a twiddle is about
// 1.5 ulp wherever e falls (no recurrence). A transform of M points uses e·(Lt/M).

#define KF_P 4096     // points per block, at most
#define KF_SMEM 4672  // float2: P + J padding (≤ 64 columns) + an R ≤ 512 twiddle table
#define KF_T 256      // threads per block

__device__ __forceinline__ float2 kf_mul(float2 a, float2 b) {
    return make_float2(a.x * b.x - a.y * b.y, a.x * b.y + a.y * b.x);
}
__device__ __forceinline__ float2 kf_add(float2 a, float2 b) { return make_float2(a.x + b.x, a.y + b.y); }
__device__ __forceinline__ float2 kf_sub(float2 a, float2 b) { return make_float2(a.x - b.x, a.y - b.y); }

// w_Lt^e for e < Lt.
__device__ __forceinline__ float2 kf_tw(const float2* __restrict__ lo, const float2* __restrict__ hi, u64 e, u32 b) {
    const float2 h = __ldg(hi + (e >> b));
    const float2 l = __ldg(lo + (e & ((1ull << b) - 1)));
    return kf_mul(h, l);
}

// lo[r] = w_Lt^r (r < 2^b), hi[q] = w_Lt^{q·2^b} (q < max(1, Lt >> b)), w = e^{−2πi·e/Lt}.
extern "C" __global__ void __launch_bounds__(256) fft_twiddles(float2* lo, float2* hi, u64 lt, u32 b) {
    const u64 nlo = 1ull << b, nhi = (lt >> b) > 0 ? (lt >> b) : 1;
    for (u64 i = kr_tid(); i < nlo + nhi; i += kr_nthreads()) {
        const u64 e = i < nlo ? i : (i - nlo) << b;
        double s, c;
        sincospi(-2.0 * (double)e / (double)lt, &s, &c);
        const float2 w = make_float2((float)c, (float)s);
        if (i < nlo) lo[i] = w; else hi[i - nlo] = w;
    }
}

// One pass over M points (m), radix 2^r, stride ns, twiddle index scale tws = Lt/M.
// conj_in: conjugate on load (first pass of an inverse); post: conjugate and multiply by
// scale on store (last pass of an inverse).
extern "C" __global__ void __launch_bounds__(256) fft_pass(const float2* __restrict__ in, float2* __restrict__ out,
                                                            u64 m, u32 r, u64 ns, const float2* __restrict__ lo,
                                                            const float2* __restrict__ hi, u32 b, u64 tws, u32 conj_in,
                                                            u32 post, float scale) {
    __shared__ float2 sm[KF_SMEM];
    const u32 R = 1u << r;
    const u64 cols = m >> r;                          // columns j < M/R
    const u32 J = (u32)min((u64)(KF_P >> r), cols);   // columns per block
    const u32 P = J * R;                              // points per block
    const u32 RS = R + 1;                             // padded column stride in shared memory
    float2* const st = sm + J * RS;                   // w_R^e, e < R (only when R ≤ 512)
    const bool table = R <= 512;
    const u32 tid = threadIdx.x;
    const u64 groups = cols / J;
    const u64 stride = m >> r;                        // M/R: distance of a column's points

    if (table) {
        for (u32 e = tid; e < R; e += KF_T) st[e] = kf_tw(lo, hi, (u64)e * (m >> r) * tws, b);
    }
    for (u64 g = blockIdx.x; g < groups; g += gridDim.x) {
        const u64 j0 = g * J;
        // Load (J consecutive columns per t), twiddle, store column-major in shared memory.
        for (u32 idx = tid; idx < P; idx += KF_T) {
            const u32 jj = idx % J, t = idx / J;
            const u64 j = j0 + jj;
            float2 v = in[j + (u64)t * stride];
            if (conj_in) v.y = -v.y;
            if (ns > 1 && t > 0) {
                const u64 c = j % ns;
                // c·t < Ns·R, so the index stays below M; ·Lt/M for the table of Lt.
                const u64 e = c * t * (m / (ns * R)) * tws;
                v = kf_mul(v, kf_tw(lo, hi, e, b));
            }
            sm[jj * RS + t] = v;
        }
        __syncthreads();

        // The R-point DFT of every column, in place (registers between the phases).
        u32 hs = 1;  // Stockham stride within the column
        if (r & 1) {
            float2 v[16];
#pragma unroll
            for (int i = 0; i < 8; i++) {
                const u32 bf = tid + i * KF_T;
                if (bf < P / 2) {
                    const u32 jj = bf / (R / 2), k = bf % (R / 2);
                    v[2 * i] = sm[jj * RS + k];
                    v[2 * i + 1] = sm[jj * RS + k + R / 2];
                }
            }
            __syncthreads();
#pragma unroll
            for (int i = 0; i < 8; i++) {
                const u32 bf = tid + i * KF_T;
                if (bf < P / 2) {
                    const u32 jj = bf / (R / 2), k = bf % (R / 2);
                    sm[jj * RS + 2 * k] = kf_add(v[2 * i], v[2 * i + 1]);
                    sm[jj * RS + 2 * k + 1] = kf_sub(v[2 * i], v[2 * i + 1]);
                }
            }
            __syncthreads();
            hs = 2;
        }
        for (; hs < R; hs *= 4) {
            const u32 q = R / 4;
            float2 v[16];
#pragma unroll
            for (int i = 0; i < 4; i++) {
                const u32 bf = tid + i * KF_T;
                if (bf < P / 4) {
                    const u32 jj = bf / q, k = bf % q, c = k % hs;
                    const float2* col = sm + jj * RS;
                    v[4 * i] = col[k];
#pragma unroll
                    for (int u = 1; u < 4; u++) {
                        const u32 e = c * u * (R / (4 * hs));  // < R
                        const float2 w = table ? st[e] : kf_tw(lo, hi, (u64)e * (m >> r) * tws, b);
                        v[4 * i + u] = kf_mul(col[k + u * q], w);
                    }
                }
            }
            __syncthreads();
#pragma unroll
            for (int i = 0; i < 4; i++) {
                const u32 bf = tid + i * KF_T;
                if (bf < P / 4) {
                    const u32 jj = bf / q, k = bf % q, c = k % hs, base = (k - c) * 4 + c;
                    float2* col = sm + jj * RS;
                    const float2 t0 = kf_add(v[4 * i], v[4 * i + 2]), t1 = kf_sub(v[4 * i], v[4 * i + 2]);
                    const float2 t2 = kf_add(v[4 * i + 1], v[4 * i + 3]), t3 = kf_sub(v[4 * i + 1], v[4 * i + 3]);
                    col[base] = kf_add(t0, t2);
                    col[base + 2 * hs] = kf_sub(t0, t2);
                    col[base + hs] = make_float2(t1.x + t3.y, t1.y - t3.x);      // t1 − i·t3
                    col[base + 3 * hs] = make_float2(t1.x - t3.y, t1.y + t3.x);  // t1 + i·t3
                }
            }
            __syncthreads();
        }

        // Store: out[(j/Ns)·Ns·R + c + t·Ns]; contiguous in t when Ns = 1, in jj otherwise.
        for (u32 idx = tid; idx < P; idx += KF_T) {
            const u32 jj = ns == 1 ? idx / R : idx % J;
            const u32 t = ns == 1 ? idx % R : idx / J;
            const u64 j = j0 + jj, c = j % ns;
            float2 v = sm[jj * RS + t];
            if (post) v = make_float2(v.x * scale, -v.y * scale);
            out[(j - c) * R + c + (u64)t * ns] = v;
        }
        __syncthreads();  // the next group reuses the shared columns
    }
}

// The rfft's last step: z holds Z = DFT of z_n = x_{2n} + i·x_{2n+1} (M = L/2 points);
// X_k = E_k + w_L^k·O_k, E_k = (Z_k + conj Z_{M−k})/2, O_k = −i·(Z_k − conj Z_{M−k})/2 for
// k = 0 … M; power writes |X_k|² (in f64, rounded once) instead of X. L = 1 copies x_0.
extern "C" __global__ void __launch_bounds__(256) fft_real_post(const float2* __restrict__ z, const float* __restrict__ x,
                                                                 float* __restrict__ out, u64 l, const float2* __restrict__ lo,
                                                                 const float2* __restrict__ hi, u32 b, u32 power) {
    const u64 m = l / 2;
    if (l == 1) {
        if (kr_tid() == 0) {
            if (power) out[0] = (float)((double)x[0] * (double)x[0]);
            else { out[0] = x[0]; out[1] = 0.0f; }
        }
        return;
    }
    for (u64 k = kr_tid(); k <= m; k += kr_nthreads()) {
        const u64 a = k % m, bb = (m - a) % m;
        const float2 zk = z[a];
        const float2 zc = make_float2(z[bb].x, -z[bb].y);
        const float2 e = make_float2(0.5f * (zk.x + zc.x), 0.5f * (zk.y + zc.y));
        const float2 o = make_float2(0.5f * (zk.y - zc.y), -0.5f * (zk.x - zc.x));
        const float2 wo = kf_mul(kf_tw(lo, hi, k & (l - 1), b), o);
        const float2 xk = kf_add(e, wo);
        if (power) out[k] = (float)((double)xk.x * (double)xk.x + (double)xk.y * (double)xk.y);
        else { out[2 * k] = xk.x; out[2 * k + 1] = xk.y; }
    }
}

// The cuFFT routes' finishing pass (cufft.rs) over cuFFT's output, n values: mode 0 only looks
// at y (f32[n]); mode 1 scales y in place (ifft's 1/L); mode 2 writes y[k] = |src_k|² (src
// complex64[n], in f64, rounded once: spectral_power). Where any value of cuFFT's output is NaN
// or ±inf, every output becomes NaN: an input with a NaN or inf (or an overflow, which the
// domain allows to be NaN anywhere) then yields no finite output, as the domain's rule asks
// (cuFFT may leave some finite, e.g. Im X_0 where an inf sits in Re x_0). The blocks raise a flag
// in the scratch area; the last block reads it, fills y with NaN if it is set, and leaves the
// flag and the counter zeroed.
extern "C" __global__ void __launch_bounds__(256) fft_lib_finish(float* __restrict__ y, const float2* __restrict__ src,
                                                                  u64 n, u32 mode, float scale, u8* scratch) {
    u32* const counter = (u32*)(scratch + KR_COUNTER);
    u32* const flag = (u32*)(scratch + KR_FLAG);
    bool bad = false;
    for (u64 i = kr_tid(); i < n; i += kr_nthreads()) {
        if (mode == 2) {
            const float2 c = src[i];
            bad |= !(isfinite(c.x) && isfinite(c.y));
            y[i] = (float)((double)c.x * (double)c.x + (double)c.y * (double)c.y);
        } else {
            const float v = y[i];
            bad |= !isfinite(v);
            if (mode == 1) y[i] = v * scale;
        }
    }
    if (__syncthreads_or(bad) && threadIdx.x == 0) atomicOr(flag, 1u);
    if (kr_last_block(counter)) {
        const u32 f = *(volatile u32*)flag;
        if (f) {
            for (u64 i = threadIdx.x; i < n; i += blockDim.x) y[i] = __int_as_float(0x7fc00000);
        }
        __syncthreads();
        if (threadIdx.x == 0) *flag = 0;
    }
}

// The cuFFT routes at L = 1 (no cuFFT plan): kind 0, c2c (either direction): X_0 = x_0; kind 1,
// rfft: X_0 = (x_0, 0); kind 2, power: x_0² (f64, rounded once). A non-finite input gives NaN
// in every output (the domain's rule), as fft_lib_finish does.
extern "C" __global__ void __launch_bounds__(32) fft_lib_one(const float* __restrict__ x, float* __restrict__ y, u32 kind) {
    if (threadIdx.x != 0 || blockIdx.x != 0) return;
    const float nan = __int_as_float(0x7fc00000);
    if (kind == 0) {
        const bool ok = isfinite(x[0]) && isfinite(x[1]);
        y[0] = ok ? x[0] : nan;
        y[1] = ok ? x[1] : nan;
    } else if (kind == 1) {
        y[0] = isfinite(x[0]) ? x[0] : nan;
        y[1] = isfinite(x[0]) ? 0.0f : nan;
    } else {
        y[0] = (float)((double)x[0] * (double)x[0]);
    }
}
