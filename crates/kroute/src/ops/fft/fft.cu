// fft: a Stockham autosort FFT in a few passes over global memory, each pass a radix-R sub-FFT
// (R = 2^LOG_R ≤ 512) of J consecutive columns done in registers and shared memory
// (docs/kernels/fft.md; the host side, which picks the passes, is cuda.rs).
//
// Pass (radix R, stride Ns = the product of the earlier radices, M points), for every column
// j < M/R with c = j mod Ns:
//     v_t = in[j + t·M/R]·w_{Ns·R}^{c·t}          (t < R; no twiddle in the first pass, Ns = 1)
//     out[(j/Ns)·Ns·R + c + t'·Ns] = Σ_t v_t·w_R^{t·t'}
// A block takes a group of J = min(4096/R, M/R) consecutive columns (4096 points at most), so
// every global load reads runs of J consecutive complex64 per t, and every store writes runs of
// J (Ns > 1) or the block's 4096 points in one run (the first pass, Ns = 1, through shared
// memory). J ≤ Ns in every pass after the first (cuda.rs picks the radices so), so the group's
// columns share one c0 = j0 mod Ns and c = c0 + jj.
//
// The R-point DFT of a column is itself Stockham: stages of radix K ∈ {2, 4, 8, 16} (a radix-K
// DFT in registers, a radix-2 network with constant twiddles w_16^k), with stride HS = the
// product of the column's earlier stage radices: butterfly b < R/K, c' = b mod HS,
//     v_u = col[b + u·R/K]·w_{HS·K}^{c'·u},   col'[(b − c')·K + c' + u'·HS] = Σ_u v_u·w_K^{u·u'}.
// The first stage reads global memory directly, the last writes it directly (Ns > 1); between
// them the columns live in shared memory as [t][jj] with the column index swizzled
// (jj ^ (t mod J)), so that both the jj-consecutive accesses of the stages and the
// t-consecutive reads of the first pass's store are free of bank conflicts.
//
// Twiddles, every one from f64 sin/cos rounded once to f32 (no recurrence):
// - inside a column: w_R^e from a table of R entries made by each block in shared memory;
// - between passes: w_{Ns·R}^{c·t} = w^{c0·t}·w^{jj·t}, the first factor made per group (R values
//   in shared memory), the second read from a table of J·R entries per pass built once per
//   length (fft_dtable, cached on the device by cuda.rs) — about 2 ulp per twiddle;
// - the rfft's separation pass: w_L^k = hi[k >> b]·lo[k mod 2^b] from two tables of about √L
//   entries (fft_twiddles, cached per length).
//
// Non-finite inputs: every pass loads a complex value with a NaN or ±inf part as NaN + NaN·i.
// Every output depends on every input through additions and multiplications, which keep NaN,
// so one NaN or inf in the input makes every output NaN (the domain's rule, which a plain FFT
// breaks: an inf in Re x_0 reaches Re X_0 through additions alone and leaves Im X_0 finite).

#define KF_T 256   // threads per block
#define KF_P 4096  // points per block, at most

__device__ __forceinline__ float2 kf_mul(float2 a, float2 b) {
    return make_float2(a.x * b.x - a.y * b.y, a.x * b.y + a.y * b.x);
}
__device__ __forceinline__ float2 kf_add(float2 a, float2 b) { return make_float2(a.x + b.x, a.y + b.y); }
__device__ __forceinline__ float2 kf_sub(float2 a, float2 b) { return make_float2(a.x - b.x, a.y - b.y); }

// A complex value with a NaN or ±inf part becomes NaN + NaN·i (see the top of this file).
__device__ __forceinline__ float2 kf_poison(float2 v) {
    const float nan = __int_as_float(0x7fc00000);
    return (isfinite(v.x) && isfinite(v.y)) ? v : make_float2(nan, nan);
}

// w_n^e = e^{−2πi·e/n} in f64, rounded once (n a power of two and e < n: 2e/n is exact).
__device__ __forceinline__ float2 kf_root(u64 e, u64 n) {
    double s, c;
    sincospi(-2.0 * (double)e / (double)n, &s, &c);
    return make_float2((float)c, (float)s);
}

// w_16^k = e^{−2πi·k/16}, k < 8, correctly rounded constants (k is a compile-time constant
// wherever this is called, so the switch folds away).
__device__ __forceinline__ float2 kf_w16(int k) {
    switch (k) {
        case 1: return make_float2(0.92387953251128674f, -0.38268343236508978f);
        case 2: return make_float2(0.70710678118654752f, -0.70710678118654752f);
        case 3: return make_float2(0.38268343236508978f, -0.92387953251128674f);
        case 5: return make_float2(-0.38268343236508978f, -0.92387953251128674f);
        case 6: return make_float2(-0.70710678118654752f, -0.70710678118654752f);
        case 7: return make_float2(-0.92387953251128674f, -0.38268343236508978f);
        default: return make_float2(1.0f, 0.0f);  // k = 0 (k = 4, −i, is a swap: kf_dft)
    }
}

// The bits-bit reversal of i < 2^bits, bits ≤ 4 (no loop: it must fold to a constant once the
// callers' loops unroll, or v would live in local memory).
__host__ __device__ constexpr int kf_brev(int i, int bits) {
    return (((i & 1) << 3) | ((i & 2) << 1) | ((i & 4) >> 1) | ((i & 8) >> 3)) >> (4 - bits);
}

// The forward K-point DFT in registers (K ≤ 16): y_u' = Σ_u v_u·w_K^{u·u'}, radix-2 decimation
// in time on v holding the inputs in bit-reversed order (the callers load v[brev(u)] = v_u).
template <int LOG_K>
__device__ __forceinline__ void kf_dft(float2* v) {
    constexpr int K = 1 << LOG_K;
#pragma unroll
    for (int s = 0; s < LOG_K; s++) {
        // K/2 butterflies of span 2h, h = 2^s (constant trip counts, so every loop unrolls and
        // v stays in registers).
#pragma unroll
        for (int i = 0; i < K / 2; i++) {
            const int h = 1 << s, k = i & (h - 1), lo = ((i >> s) << (s + 1)) + k;
            const int e = k * (8 >> s);  // w_{2h}^k = w_16^{k·16/(2h)}
            float2 b = v[lo + h];
            if (e == 4) b = make_float2(b.y, -b.x);  // ·(−i)
            else if (e != 0) b = kf_mul(b, kf_w16(e));
            const float2 a = v[lo];
            v[lo] = kf_add(a, b);
            v[lo + h] = kf_sub(a, b);
        }
    }
}

// The column's stages: ⌈LOG_R / 4⌉ (at least one), radix 16 but the last (9 → 4+4+1, 8 → 4+4,
// 7 → 4+3, 6 → 4+2, 5 → 4+1): radix-16 stages keep the registers lowest per point.
__host__ __device__ constexpr int kf_nstages(int log_r) { return log_r <= 4 ? 1 : (log_r + 3) / 4; }
__host__ __device__ constexpr int kf_stage_k(int log_r, int s) {
    return s < kf_nstages(log_r) - 1 ? 4 : log_r - 4 * (kf_nstages(log_r) - 1);
}
__host__ __device__ constexpr int kf_stage_hs(int log_r, int s) {
    int hs = 0;
    for (int i = 0; i < s; i++) hs += kf_stage_k(log_r, i);
    return hs;
}

// Shared-memory slot of column jj's point t: [t][jj] with the column swizzled.
__device__ __forceinline__ u32 kf_swz(u32 t, u32 jj, u32 log_j) {
    return (t << log_j) + (jj ^ (t & ((1u << log_j) - 1)));
}

struct KfPass {
    const float2* in;         // never the same buffer as out
    float2* out;
    float2* sm;               // KF_P points
    const float2* wt;         // w_R^e, e < R (shared)
    const float2* at;         // w_{Ns·R}^{c0·t}, t < R (shared; Ns > 1)
    const float2* dtab;       // w_{Ns·R}^{jj·t} at t·J + jj (Ns > 1)
    u64 j0;                   // the group's first column
    u32 log_m, log_ns, log_j;
    u32 conj_in, post;        // inverse: conjugate on load (first pass), conjugate and scale on store (last)
    float scale;
};

// Stage S of the column DFTs of a radix-2^LOG_R pass: its constants, and what one butterfly
// (number Q of this thread, bf = tid + Q·KF_T) does; v holds the thread's butterflies, K values
// each. Q is a template parameter so that every index into v is a compile-time constant and v
// stays in registers.
template <int LOG_R, int S>
struct KfStage {
    static constexpr int R = 1 << LOG_R;
    static constexpr int LOG_K = kf_stage_k(LOG_R, S), LOG_HS = kf_stage_hs(LOG_R, S);
    static constexpr int K = 1 << LOG_K;
    static constexpr u32 HS = 1u << LOG_HS;
    static constexpr bool FIRST = S == 0, LAST = S == kf_nstages(LOG_R) - 1;
    static constexpr int NQ = (KF_P / K + KF_T - 1) / KF_T;  // butterflies per thread, at most

    // Read the butterfly's K values (global memory in the first stage, with the pass's
    // twiddle; shared memory after, with the column's), then its DFT.
    template <int Q>
    __device__ __forceinline__ static void read(const KfPass& p, float2* v) {
        const u32 bf = threadIdx.x + Q * KF_T;
        if (bf >= ((u32)(R / K) << p.log_j)) return;
        const u32 jj = bf & ((1u << p.log_j) - 1), b = bf >> p.log_j, c = b & (HS - 1);
#pragma unroll
        for (int u = 0; u < K; u++) {
            const u32 t = b + u * (R / K);
            float2 x;
            if (FIRST) {
                x = kf_poison(__ldg(p.in + p.j0 + jj + ((u64)t << (p.log_m - LOG_R))));
                if (p.conj_in) x.y = -x.y;
                if (p.log_ns > 0) x = kf_mul(x, kf_mul(p.at[t], __ldg(p.dtab + (t << p.log_j) + jj)));
            } else {
                x = p.sm[kf_swz(t, jj, p.log_j)];
                if (u > 0) x = kf_mul(x, p.wt[(c * u) << (LOG_R - LOG_HS - LOG_K)]);
            }
            v[Q * K + kf_brev(u, LOG_K)] = x;
        }
        kf_dft<LOG_K>(v + Q * K);
    }

    // Write the butterfly's outputs to shared memory at (b − c)·K + c + u'·HS.
    template <int Q>
    __device__ __forceinline__ static void to_shared(const KfPass& p, float2* v) {
        const u32 bf = threadIdx.x + Q * KF_T;
        if (bf >= ((u32)(R / K) << p.log_j)) return;
        const u32 jj = bf & ((1u << p.log_j) - 1), b = bf >> p.log_j, c = b & (HS - 1);
#pragma unroll
        for (int u = 0; u < K; u++) p.sm[kf_swz(((b - c) << LOG_K) + c + ((u32)u << LOG_HS), jj, p.log_j)] = v[Q * K + u];
    }

    // The last stage of a pass after the first: straight to global memory,
    // out[(j/Ns)·Ns·R + c_j + t'·Ns], runs of J consecutive c_j.
    template <int Q>
    __device__ __forceinline__ static void to_global(const KfPass& p, float2* v) {
        const u32 bf = threadIdx.x + Q * KF_T;
        if (bf >= ((u32)(R / K) << p.log_j)) return;
        const u32 jj = bf & ((1u << p.log_j) - 1), b = bf >> p.log_j, c = b & (HS - 1);
        const u64 j = p.j0 + jj, cj = j & ((1ull << p.log_ns) - 1);
        float2* o = p.out + (((j >> p.log_ns) << (p.log_ns + LOG_R)) + cj);
#pragma unroll
        for (int u = 0; u < K; u++) o[(u64)(((b - c) << LOG_K) + c + ((u32)u << LOG_HS)) << p.log_ns] = v[Q * K + u];
    }
};

// St::read/to_shared/to_global for Q = I … St::NQ − 1 (WHAT: 0, 1, 2).
template <typename St, int WHAT, int I = 0>
__device__ __forceinline__ void kf_each(const KfPass& p, float2* v) {
    if constexpr (I < St::NQ) {
        if constexpr (WHAT == 0) St::template read<I>(p, v);
        else if constexpr (WHAT == 1) St::template to_shared<I>(p, v);
        else St::template to_global<I>(p, v);
        kf_each<St, WHAT, I + 1>(p, v);
    }
}

// Stage S of the column DFTs (and every later one, by recursion).
template <int LOG_R, int S>
__device__ __forceinline__ void kf_stage(const KfPass& p) {
    using St = KfStage<LOG_R, S>;
    constexpr int R = 1 << LOG_R;
    float2 v[St::NQ * St::K];
    kf_each<St, 0>(p, v);
    if (!St::FIRST) __syncthreads();  // every value of the stage read before any is overwritten
    if (St::LAST && p.post) {
#pragma unroll
        for (int i = 0; i < St::NQ * St::K; i++) v[i] = make_float2(v[i].x * p.scale, -v[i].y * p.scale);
    }
    if (St::LAST && p.log_ns > 0) {
        kf_each<St, 2>(p, v);
        return;
    }
    kf_each<St, 1>(p, v);
    __syncthreads();
    if constexpr (St::LAST) {
        // The first pass (Ns = 1): column j's R outputs go to out[j·R + t], so the group's
        // J·R points are one run; read shared memory t-consecutive.
        const u32 pts = (u32)R << p.log_j;
        float2* o = p.out + (p.j0 << LOG_R);
        for (u32 idx = threadIdx.x; idx < pts; idx += KF_T) o[idx] = p.sm[kf_swz(idx & (R - 1), idx >> LOG_R, p.log_j)];
    } else {
        kf_stage<LOG_R, S + 1>(p);
    }
}

template <int LOG_R>
__device__ __forceinline__ void kf_pass(const float2* __restrict__ in, float2* __restrict__ out, u32 log_m, u32 log_ns,
                                        u32 log_j, const float2* __restrict__ dtab, u32 conj_in, u32 post, float scale) {
    constexpr int R = 1 << LOG_R;
    __shared__ float2 sm[KF_P];
    __shared__ float2 wt[R];
    __shared__ float2 at[R];
    const u32 tid = threadIdx.x;
    for (u32 e = tid; e < (u32)R; e += KF_T) wt[e] = kf_root(e, R);
    const u64 groups = (1ull << (log_m - LOG_R)) >> log_j;
    const u64 nsr = 1ull << (log_ns + LOG_R);
    KfPass p{in, out, sm, wt, at, dtab, 0, log_m, log_ns, log_j, conj_in, post, scale};
    for (u64 g = blockIdx.x; g < groups; g += gridDim.x) {
        p.j0 = g << log_j;
        if (log_ns > 0) {
            const u64 c0 = p.j0 & ((1ull << log_ns) - 1);
            for (u32 t = tid; t < (u32)R; t += KF_T) at[t] = kf_root((c0 * t) & (nsr - 1), nsr);
        }
        __syncthreads();  // wt and at written; the previous group is done with sm and at
        kf_stage<LOG_R, 0>(p);
        __syncthreads();
    }
}

// One pass of radix 2^LOG_R over 2^log_m points (cuda.rs: log_j = min(12 − LOG_R, log_m − LOG_R),
// log_ns = the earlier radices' bits, dtab = the pass's table when log_ns > 0).
#define KF_PASS(LR)                                                                                             \
    extern "C" __global__ void __launch_bounds__(KF_T, 3)                                                        \
        fft_pass_r##LR(const float2* __restrict__ in, float2* __restrict__ out, u32 log_m, u32 log_ns, u32 log_j, \
                       const float2* __restrict__ dtab, u32 conj_in, u32 post, float scale) {                   \
        kf_pass<LR>(in, out, log_m, log_ns, log_j, dtab, conj_in, post, scale);                                  \
    }
KF_PASS(0)
KF_PASS(1)
KF_PASS(2)
KF_PASS(3)
KF_PASS(4)
KF_PASS(5)
KF_PASS(6)
KF_PASS(7)
KF_PASS(8)
KF_PASS(9)

// A pass's table: d[t·J + jj] = w_{2^log_nsr}^{jj·t} for t < 2^log_r, jj < J = 2^log_j.
extern "C" __global__ void __launch_bounds__(256) fft_dtable(float2* d, u32 log_r, u32 log_j, u32 log_nsr) {
    const u64 n = 1ull << (log_r + log_j), nsr = 1ull << log_nsr;
    for (u64 i = kr_tid(); i < n; i += kr_nthreads()) {
        const u64 t = i >> log_j, jj = i & ((1ull << log_j) - 1);
        d[i] = kf_root((jj * t) & (nsr - 1), nsr);
    }
}

// w_Lt^e = hi[e >> b]·lo[e & (2^b − 1)] for e < Lt.
__device__ __forceinline__ float2 kf_tw(const float2* __restrict__ lo, const float2* __restrict__ hi, u64 e, u32 b) {
    return kf_mul(__ldg(hi + (e >> b)), __ldg(lo + (e & ((1ull << b) - 1))));
}

// lo[r] = w_Lt^r (r < 2^b), hi[q] = w_Lt^{q·2^b} (q < max(1, Lt >> b)), w = e^{−2πi·e/Lt}.
extern "C" __global__ void __launch_bounds__(256) fft_twiddles(float2* lo, float2* hi, u64 lt, u32 b) {
    const u64 nlo = 1ull << b, nhi = (lt >> b) > 0 ? (lt >> b) : 1;
    for (u64 i = kr_tid(); i < nlo + nhi; i += kr_nthreads()) {
        const u64 e = i < nlo ? i : (i - nlo) << b;
        const float2 w = kf_root(e, lt);
        if (i < nlo) lo[i] = w; else hi[i - nlo] = w;
    }
}

// The rfft's last step: z holds Z = DFT of z_n = x_{2n} + i·x_{2n+1} (M = L/2 points);
// X_k = E_k + w_L^k·O_k, E_k = (Z_k + conj Z_{M−k})/2, O_k = −i·(Z_k − conj Z_{M−k})/2, and
// X_{M−k} = conj(E_k − w_L^k·O_k) (E_{M−k} = conj E_k, O_{M−k} = conj O_k, w_L^{M−k} =
// −conj w_L^k): one thread per pair k ≤ M/2 reads Z_k and Z_{M−k} once and writes X_k and
// X_{M−k}. power writes |X_k|² (in f64, rounded once) instead of X. L = 1 copies x_0 (its
// imaginary part 0, NaN where x_0 is not finite).
extern "C" __global__ void __launch_bounds__(256) fft_real_post(const float2* __restrict__ z, const float* __restrict__ x,
                                                                 float* __restrict__ out, u64 l, const float2* __restrict__ lo,
                                                                 const float2* __restrict__ hi, u32 b, u32 power) {
    const u64 m = l / 2;
    if (l == 1) {
        if (kr_tid() == 0) {
            const float x0 = x[0];
            if (power) out[0] = (float)((double)x0 * (double)x0);
            else { out[0] = x0; out[1] = isfinite(x0) ? 0.0f : __int_as_float(0x7fc00000); }
        }
        return;
    }
    for (u64 k = kr_tid(); k <= m / 2; k += kr_nthreads()) {
        const u64 kc = (m - k) & (m - 1);
        const float2 zk = z[k];
        const float2 zc = make_float2(z[kc].x, -z[kc].y);
        const float2 e = make_float2(0.5f * (zk.x + zc.x), 0.5f * (zk.y + zc.y));
        const float2 o = make_float2(0.5f * (zk.y - zc.y), -0.5f * (zk.x - zc.x));
        const float2 wo = kf_mul(kf_tw(lo, hi, k, b), o);
        const float2 xk = kf_add(e, wo);
        const float2 xm = make_float2(e.x - wo.x, wo.y - e.y);  // conj(E − wO)
        if (power) {
            out[k] = (float)((double)xk.x * (double)xk.x + (double)xk.y * (double)xk.y);
            if (m - k != k) out[m - k] = (float)((double)xm.x * (double)xm.x + (double)xm.y * (double)xm.y);
        } else {
            out[2 * k] = xk.x;
            out[2 * k + 1] = xk.y;
            if (m - k != k) {
                out[2 * (m - k)] = xm.x;
                out[2 * (m - k) + 1] = xm.y;
            }
        }
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
