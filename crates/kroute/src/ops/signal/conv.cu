// signal's FIR kernels (conv.rs, conv_cpu.rs; the host side is cuda.rs): every output is
// y[n] = Σ_{k<K} g[k]·x[n + k − off], x = 0 outside [0, n) (padded terms included), with
// conv1d/fft_conv1d: g = h, off = (K − 1)/2; fir_filter: g = h reversed, off = K − 1.

// ---- direct form (conv1d, fir_filter) ------------------------------------------------------------
// A block of KC_T threads computes KC_TILE = KC_T·KC_R consecutive outputs from a shared tile of
// the input (the outputs' window plus the K − 1 halo, zero past the ends) and the taps in shared
// memory. Thread t owns the KC_R consecutive outputs t·R … t·R + R − 1 and slides a window of
// R inputs through registers: per R taps it reads R new inputs (stride R between threads: R odd
// keeps the reads free of bank conflicts) and does R² FMAs. The block scans its tile first:
// max |x| and min nonzero |x| (as bits) against the taps' — a tile holding a NaN or ±inf, one
// whose f32 partials could overflow (max|x|·max|g|·K > 2^126) or whose products could underflow
// (min|x|·min|g| < 2^-126) runs the same loop in double (exact products of f32, the
// definition's arithmetic); else f32 with taps summed in groups of KC_G (each group's f32 sum
// added to the total: error ≤ (KC_G + K/KC_G)·2^-24·S_n).

#define KC_T 256
#define KC_R 9
#define KC_TILE (KC_T * KC_R)
#define KC_KMAX 1024
#define KC_G 63  // taps per f32 group, a multiple of KC_R
#define KC_XS (KC_TILE + KC_KMAX + 2 * KC_R)

// Bits of |v| (sign cleared): ordered as the magnitudes; ≥ 0x7f800000 for NaN and ±inf.
__device__ __forceinline__ u32 kc_abits(float v) { return __float_as_uint(v) & 0x7fffffffu; }

// Whether the f32 loop is safe for a tile scanned as (hi, lo − 1) with the taps' (thi, tlo − 1).
__device__ __forceinline__ bool kc_f32_safe(u32 hi, u32 lom1, u32 thi, u32 tlom1, u64 k) {
    if (hi >= 0x7f800000u || thi >= 0x7f800000u) return false;
    const double bx = (double)__uint_as_float(hi), bh = (double)__uint_as_float(thi);
    if (bx * bh * (double)k > 8.507059173023462e37) return false;  // 2^126
    if (lom1 == 0xffffffffu || tlom1 == 0xffffffffu) return true;  // all zero: exact
    return (double)__uint_as_float(lom1 + 1) * (double)__uint_as_float(tlom1 + 1) >= 1.1754943508222875e-38;
}

// The tile's outputs owned by this thread, accumulated in T (float or double).
template <typename T>
__device__ __forceinline__ void kc_tile(const float* __restrict__ xs, const float* __restrict__ gs, u64 k,
                                        float* __restrict__ y, u64 n, u64 n0) {
    const u32 j0 = threadIdx.x * KC_R;
    T tot[KC_R], acc[KC_R], win[KC_R];
#pragma unroll
    for (int r = 0; r < KC_R; r++) {
        tot[r] = 0;
        acc[r] = 0;
        win[r] = (T)xs[j0 + r];
    }
    for (u64 kb = 0; kb < k; kb += KC_R) {
        T nxt[KC_R];
#pragma unroll
        for (int r = 0; r < KC_R; r++) nxt[r] = (T)xs[j0 + kb + KC_R + r];
#pragma unroll
        for (int kk = 0; kk < KC_R; kk++) {
            if (kb + kk < k) {  // uniform: past K there is no tap (0·inf would be NaN)
                const T g = (T)gs[kb + kk];
#pragma unroll
                for (int r = 0; r < KC_R; r++) acc[r] = fma(g, r + kk < KC_R ? win[r + kk] : nxt[r + kk - KC_R], acc[r]);
            }
        }
#pragma unroll
        for (int r = 0; r < KC_R; r++) win[r] = nxt[r];
        if ((kb + KC_R) % KC_G == 0) {
#pragma unroll
            for (int r = 0; r < KC_R; r++) {
                tot[r] += acc[r];
                acc[r] = 0;
            }
        }
    }
#pragma unroll
    for (int r = 0; r < KC_R; r++) {
        const u64 i = n0 + j0 + r;
        if (i < n) y[i] = (float)(tot[r] + acc[r]);
    }
}

__device__ __forceinline__ void kc_direct(const float* __restrict__ x, const float* __restrict__ h,
                                          float* __restrict__ y, u64 n, u64 k, bool causal) {
    __shared__ float xs[KC_XS];
    __shared__ float gs[KC_KMAX + KC_R];
    __shared__ u32 sc[4];  // tile max bits, tile min-nonzero bits − 1, taps' the same
    const u64 off = causal ? k - 1 : (k - 1) / 2;
    if (threadIdx.x == 0) {
        sc[2] = 0;
        sc[3] = 0xffffffffu;
    }
    __syncthreads();
    u32 thi = 0, tlo = 0xffffffffu;
    for (u32 j = threadIdx.x; j < KC_KMAX + KC_R; j += KC_T) {
        float g = 0.0f;
        if (j < k) g = causal ? h[k - 1 - j] : h[j];
        gs[j] = g;
        if (j < k) {
            thi = max(thi, kc_abits(g));
            tlo = min(tlo, kc_abits(g) - 1u);
        }
    }
    atomicMax(&sc[2], thi);
    atomicMin(&sc[3], tlo);
    const u64 tiles = (n + KC_TILE - 1) / KC_TILE;
    const u64 wlen = KC_TILE + k - 1;
    for (u64 t = blockIdx.x; t < tiles; t += gridDim.x) {
        const u64 n0 = t * KC_TILE;
        __syncthreads();  // the previous tile's reads are done
        if (threadIdx.x == 0) {
            sc[0] = 0;
            sc[1] = 0xffffffffu;
        }
        __syncthreads();
        u32 hi = 0, lo = 0xffffffffu;
        for (u32 j = threadIdx.x; j < KC_XS; j += KC_T) {
            const i64 i = (i64)(n0 + j) - (i64)off;
            float v = 0.0f;
            if (j < wlen && i >= 0 && i < (i64)n) v = x[i];
            xs[j] = v;
            hi = max(hi, kc_abits(v));
            lo = min(lo, kc_abits(v) - 1u);
        }
        atomicMax(&sc[0], hi);
        atomicMin(&sc[1], lo);
        __syncthreads();
        if (kc_f32_safe(sc[0], sc[1], sc[2], sc[3], k)) {
            kc_tile<float>(xs, gs, k, y, n, n0);
        } else {
            kc_tile<double>(xs, gs, k, y, n, n0);
        }
    }
}

extern "C" __global__ void __launch_bounds__(KC_T) conv1d(const float* __restrict__ x, const float* __restrict__ h,
                                                           float* __restrict__ y, u64 n, u64 k) {
    kc_direct(x, h, y, n, k, false);
}

extern "C" __global__ void __launch_bounds__(KC_T) fir_filter(const float* __restrict__ x, const float* __restrict__ h,
                                                               float* __restrict__ y, u64 n, u64 k) {
    kc_direct(x, h, y, n, k, true);
}

// ---- fft_conv1d: overlap-save in shared memory ----------------------------------------------------
// F = 2048 points (4096 for K > 1025), P = F − K + 1 outputs per segment; a block takes two
// segments a (outputs n0 … n0 + P − 1) and b (the next P) as the real and imaginary parts of
// one complex transform: s[j] = x[n0 − off + j] (a) and x[n0 + P − off + j] (b), j < F, zero
// outside [0, n). Then c = IFFT(FFT(s)·conj(H)) gives c[m] = Σ_k h[k]·s[m + k] for m < P (no
// wrap), real part for a and imaginary part for b (conj(H) of real taps keeps both real).
//
// The transform: radix-2 decimation in time in place in shared memory, input loaded in
// bit-reversed order; stage with half-length L2 = 2^s: butterfly b < F/2 takes
// i = (b / L2)·2·L2 + b % L2 and i + L2 with twiddle w_F^{(b % L2)·F/(2·L2)} from tw (F/2
// values built in f64). The inverse is conj(DFT(conj Y))/F, the 1/F folded into C (the
// spectrum buffer) and the conjugations into the multiply and the store. Index math checked
// by a numpy emulation of these loops (the result matched np.correlate to 1e-6).
//
// Range: each segment is scaled by 2^-e to max |s| ∈ [1, 2) (the taps by 2^-eh, in C), so no
// f32 intermediate overflows or goes subnormal, and scaled back on the store (ldexpf: one
// rounding). A segment holding a NaN or ±inf, or with max|s|·max|h| < 2^-80 (outputs near the
// f32 subnormals, where the sum class admits less than a subnormal step), or taps that are not
// finite or all zero, is computed in the direct form in double instead; an all-zero segment
// writes zeros (it must not pick up the other segment's rounding).

#define KF2_T 512
#define KF2_FMAX 4096

// The work area: C (conj(H)·2^-eh/F, F float2), tw (F/2 float2), then meta {eh, taps_ok}.
// One block per 256 bins; every block finds max|h| itself (K reads).
extern "C" __global__ void __launch_bounds__(256) fft_conv1d_taps(const float* __restrict__ h, u64 k, u32 f,
                                                                  float2* __restrict__ c, float2* __restrict__ tw,
                                                                  int* __restrict__ meta) {
    __shared__ u32 smax;
    __shared__ u32 sbad;
    if (threadIdx.x == 0) {
        smax = 0;
        sbad = 0;
    }
    __syncthreads();
    u32 m = 0, bad = 0;
    for (u64 j = threadIdx.x; j < k; j += blockDim.x) {
        const u32 b = kc_abits(h[j]);
        if (b >= 0x7f800000u) bad = 1; else m = max(m, b);
    }
    atomicMax(&smax, m);
    atomicOr(&sbad, bad);
    __syncthreads();
    const bool ok = sbad == 0 && smax != 0;
    int eh = 0;
    if (ok) frexp((double)__uint_as_float(smax), &eh);
    eh -= 1;  // max|h|·2^-eh ∈ [1, 2)
    const u32 j = blockIdx.x * blockDim.x + threadIdx.x;
    if (j == 0) {
        meta[0] = eh;
        meta[1] = ok ? 1 : 0;
    }
    if (j < f / 2) {
        double s, co;
        sincospi(-2.0 * (double)j / (double)f, &s, &co);
        tw[j] = make_float2((float)co, (float)s);
    }
    if (j < f && ok) {
        // conj(H[j]) = Σ_k h[k]·e^{+2πi·jk/F}; the angle index jk mod F is exact in u64.
        double re = 0.0, im = 0.0;
        for (u64 t = 0; t < k; t++) {
            double s, co;
            sincospi(2.0 * (double)((j * t) % f) / (double)f, &s, &co);
            const double v = (double)h[t];
            re += v * co;
            im += v * s;
        }
        const double sc = ldexp(1.0 / (double)f, -eh);
        c[j] = make_float2((float)(re * sc), (float)(im * sc));
    }
}

// In-place forward DFT of z (F = 2^lg points, already in bit-reversed order).
__device__ __forceinline__ void kf2_fft(float2* z, const float2* __restrict__ tw, u32 f, u32 lg) {
    for (u32 s = 0; s < lg; s++) {
        const u32 l2 = 1u << s;
        const u32 step = f >> (s + 1);  // F / (2·L2)
        for (u32 b = threadIdx.x; b < f / 2; b += KF2_T) {
            const u32 p = b & (l2 - 1);
            const u32 i = ((b >> s) << (s + 1)) + p;
            const float2 w = __ldg(tw + p * step);
            const float2 u = z[i], v = z[i + l2];
            const float2 t = make_float2(v.x * w.x - v.y * w.y, v.x * w.y + v.y * w.x);
            z[i] = make_float2(u.x + t.x, u.y + t.y);
            z[i + l2] = make_float2(u.x - t.x, u.y - t.y);
        }
        __syncthreads();
    }
}

// Output o of the centred direct form, Σ_t h[t]·x[o + t − off] (x zero outside [0, n)), in
// double, rounded once.
__device__ __forceinline__ float direct_one(const float* __restrict__ x, const float* __restrict__ h, u64 n, u64 k,
                                            u64 off, u64 o) {
    double acc = 0.0;
    for (u64 t = 0; t < k; t++) {
        const i64 i = (i64)(o + t) - (i64)off;
        const float v = (i >= 0 && i < (i64)n) ? x[i] : 0.0f;
        acc = fma((double)__ldg(h + t), (double)v, acc);
    }
    return (float)acc;
}

// One segment's P outputs from `start` in the direct form, in double.
__device__ __forceinline__ void kf2_direct(const float* __restrict__ x, const float* __restrict__ h, float* __restrict__ y,
                                           u64 n, u64 k, u64 off, u64 first, u64 count) {
    for (u64 m = threadIdx.x; m < count; m += KF2_T) y[first + m] = direct_one(x, h, n, k, off, first + m);
}

// 0: zero segment, 1: FFT, 2: direct.
__device__ __forceinline__ int kf2_plan(u32 hi, bool taps_ok, int eh, int* e) {
    if (!taps_ok || hi >= 0x7f800000u) return 2;
    if (hi == 0) return 0;
    int ex;
    frexp((double)__uint_as_float(hi), &ex);
    *e = ex - 1;  // max|s|·2^-e ∈ [1, 2)
    // max|s|·max|h| < 2^-80 ⇔ e + eh < -80 up to the mantissas (both in [1, 2)): use the exponents.
    return (*e + eh < -80) ? 2 : 1;
}

extern "C" __global__ void __launch_bounds__(KF2_T) fft_conv1d(const float* __restrict__ x, const float* __restrict__ h,
                                                               float* __restrict__ y, u64 n, u64 k, u32 f, u32 lg,
                                                               const float2* __restrict__ c, const float2* __restrict__ tw,
                                                               const int* __restrict__ meta) {
    __shared__ float2 z[KF2_FMAX];
    __shared__ u32 sh[2];
    const u64 off = (k - 1) / 2;
    const u64 p = f - k + 1;
    const u64 pairs = (n + 2 * p - 1) / (2 * p);
    const int eh = meta[0];
    const bool taps_ok = meta[1] != 0;
    for (u64 q = blockIdx.x; q < pairs; q += gridDim.x) {
        const u64 n0 = q * 2 * p;
        const u64 na = min(p, n - n0);                     // outputs of segment a
        const u64 nb = n0 + p < n ? min(p, n - n0 - p) : 0;  // and of b
        __syncthreads();  // the previous pair's shared reads are done
        if (threadIdx.x == 0) {
            sh[0] = 0;
            sh[1] = 0;
        }
        __syncthreads();
        u32 ha = 0, hb = 0;
        for (u32 j = threadIdx.x; j < f; j += KF2_T) {
            const i64 ia = (i64)(n0 + j) - (i64)off, ib = ia + (i64)p;
            const float a = (ia >= 0 && ia < (i64)n) ? x[ia] : 0.0f;
            const float b = (nb > 0 && ib >= 0 && ib < (i64)n) ? x[ib] : 0.0f;
            ha = max(ha, kc_abits(a));
            hb = max(hb, kc_abits(b));
            z[__brev(j) >> (32 - lg)] = make_float2(a, b);
        }
        atomicMax(&sh[0], ha);
        atomicMax(&sh[1], hb);
        __syncthreads();
        int ea = 0, eb = 0;
        const int pa = kf2_plan(sh[0], taps_ok, eh, &ea);
        const int pb = nb > 0 ? kf2_plan(sh[1], taps_ok, eh, &eb) : 0;
        if (pa == 1 || pb == 1) {
            // Scale (a segment not done by FFT contributes zeros).
            for (u32 j = threadIdx.x; j < f; j += KF2_T) {
                const float2 v = z[j];
                z[j] = make_float2(pa == 1 ? ldexpf(v.x, -ea) : 0.0f, pb == 1 ? ldexpf(v.y, -eb) : 0.0f);
            }
            __syncthreads();
            kf2_fft(z, tw, f, lg);
            // Y = Z·C, conjugated, in bit-reversed order for the second transform: each thread
            // handles the pairs (j, rev j) with j ≤ rev j, so no element is written twice.
            for (u32 j = threadIdx.x; j < f; j += KF2_T) {
                const u32 r = __brev(j) >> (32 - lg);
                if (j <= r) {
                    const float2 u = z[j], v = z[r], cu = c[j], cv = c[r];
                    z[r] = make_float2(u.x * cu.x - u.y * cu.y, -(u.x * cu.y + u.y * cu.x));
                    z[j] = make_float2(v.x * cv.x - v.y * cv.y, -(v.x * cv.y + v.y * cv.x));
                }
            }
            __syncthreads();
            kf2_fft(z, tw, f, lg);
            // c = conj(z) (1/F is in C): real part → a, −imaginary part → b.
            for (u32 m = threadIdx.x; m < p; m += KF2_T) {
                const float2 v = z[m];
                if (pa == 1 && m < na) y[n0 + m] = ldexpf(v.x, ea + eh);
                if (pb == 1 && m < nb) y[n0 + p + m] = ldexpf(-v.y, eb + eh);
            }
        }
        if (pa == 0)
            for (u32 m = threadIdx.x; m < na; m += KF2_T) y[n0 + m] = 0.0f;
        if (pb == 0)
            for (u32 m = threadIdx.x; m < nb; m += KF2_T) y[n0 + p + m] = 0.0f;
        if (pa == 2) kf2_direct(x, h, y, n, k, off, n0, na);
        if (pb == 2) kf2_direct(x, h, y, n, k, off, n0 + p, nb);
    }
}

// fft_conv1d for K > 2049 (no room for a block transform in shared memory): the direct form in
// double, one output per thread.
extern "C" __global__ void __launch_bounds__(256) fft_conv1d_long(const float* __restrict__ x, const float* __restrict__ h,
                                                                  float* __restrict__ y, u64 n, u64 k) {
    const u64 off = (k - 1) / 2;
    for (u64 o = kr_tid(); o < n; o += kr_nthreads()) y[o] = direct_one(x, h, n, k, off, o);
}
