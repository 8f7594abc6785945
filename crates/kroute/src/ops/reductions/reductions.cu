// reductions on CUDA (kernels/reductions.md), each in ONE launch: per-thread partials over a
// grid-stride loop, warp shuffles, a block combine, one partial per block in the device's
// scratch area, and the last block to finish combines them in block order (deterministic,
// f64 where accuracy needs it) and writes the result. Signature: (x, out, n, params..., scratch).

extern "C" __global__ void reduce_sum(const float* x, float* out, u64 n, u8* scratch) {
    kr_finish_sum(kr_thread_sum(x, n, [](float v) { return (double)v; }), out, 1.0, 0, scratch);
}

extern "C" __global__ void reduce_mean(const float* x, float* out, u64 n, u8* scratch) {
    kr_finish_sum(kr_thread_sum(x, n, [](float v) { return (double)v; }), out, (double)n, 0, scratch);
}

// Squares in f64: an f32 square of a value below 1e-19 underflows, and ‖x‖ of such inputs
// must still be right (the stat class is relative to the result).
extern "C" __global__ void reduce_l2(const float* __restrict__ x, float* out, u64 n, u8* scratch) {
    const float4* x4 = (const float4*)x;
    u64 nv = n >> 2, s = kr_nthreads(), i = kr_tid();
    double acc = 0.0;
    for (; i + s < nv; i += 2 * s) {
        float4 a = x4[i], b = x4[i + s];
        double p = (double)a.x * a.x, q = (double)b.x * b.x;
        p = fma((double)a.y, (double)a.y, p); q = fma((double)b.y, (double)b.y, q);
        p = fma((double)a.z, (double)a.z, p); q = fma((double)b.z, (double)b.z, q);
        p = fma((double)a.w, (double)a.w, p); q = fma((double)b.w, (double)b.w, q);
        acc += p + q;
    }
    for (; i < nv; i += s) {
        float4 a = x4[i];
        acc += ((double)a.x * a.x + (double)a.y * a.y) + ((double)a.z * a.z + (double)a.w * a.w);
    }
    u64 t = (nv << 2) + kr_tid();
    if (t < n) acc += (double)x[t] * x[t];
    kr_finish_sum(acc, out, 1.0, 1, scratch);
}

// ---- min / max: fmaxf/fminf drop NaN, so NaN is tracked beside them --------------------------

template <bool MAX>
__device__ __forceinline__ float kr_pick(float a, float b) { return MAX ? fmaxf(a, b) : fminf(a, b); }

template <bool MAX>
__device__ __forceinline__ void kr_extreme(const float* __restrict__ x, u64 n, float* out, u8* scratch) {
    const float4* x4 = (const float4*)x;
    u64 nv = n >> 2, s = kr_nthreads(), i = kr_tid();
    float m = MAX ? __int_as_float(0xff800000) : __int_as_float(0x7f800000);
    bool nan = false;
    for (; i + 3 * s < nv; i += 4 * s) {
        float4 v[4] = {x4[i], x4[i + s], x4[i + 2 * s], x4[i + 3 * s]};
#pragma unroll
        for (int k = 0; k < 4; k++) {
            nan |= (v[k].x != v[k].x) | (v[k].y != v[k].y) | (v[k].z != v[k].z) | (v[k].w != v[k].w);
            m = kr_pick<MAX>(m, kr_pick<MAX>(kr_pick<MAX>(v[k].x, v[k].y), kr_pick<MAX>(v[k].z, v[k].w)));
        }
    }
    for (; i < nv; i += s) {
        float4 v = x4[i];
        nan |= (v.x != v.x) | (v.y != v.y) | (v.z != v.z) | (v.w != v.w);
        m = kr_pick<MAX>(m, kr_pick<MAX>(kr_pick<MAX>(v.x, v.y), kr_pick<MAX>(v.z, v.w)));
    }
    u64 t = (nv << 2) + kr_tid();
    if (t < n) { float v = x[t]; nan |= v != v; m = kr_pick<MAX>(m, v); }
    for (int o = 16; o > 0; o >>= 1) m = kr_pick<MAX>(m, __shfl_down_sync(KR_FULL, m, o));
    nan = __any_sync(KR_FULL, nan);
    __shared__ float shm[32];
    __shared__ int shn[32];
    int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, nw = blockDim.x >> 5;
    if (lane == 0) { shm[warp] = m; shn[warp] = nan; }
    __syncthreads();
    float2* part = (float2*)(scratch + KR_PARTIALS);
    if (threadIdx.x == 0) {
        for (int w = 1; w < nw; w++) { m = kr_pick<MAX>(m, shm[w]); nan |= shn[w]; }
        part[blockIdx.x] = make_float2(m, nan ? 1.0f : 0.0f);
    }
    if (!kr_last_block((u32*)(scratch + KR_COUNTER))) return;
    // All threads of the last block share the partials (a serial loop here cost ~25 µs).
    float r = MAX ? __int_as_float(0xff800000) : __int_as_float(0x7f800000);
    bool any = false;
    for (u32 k = threadIdx.x; k < gridDim.x; k += blockDim.x) {
        float2 p = __ldcg(&part[k]);
        r = kr_pick<MAX>(r, p.x);
        any |= p.y != 0.0f;
    }
    for (int o = 16; o > 0; o >>= 1) r = kr_pick<MAX>(r, __shfl_down_sync(KR_FULL, r, o));
    any = __any_sync(KR_FULL, any);
    if (lane == 0) { shm[warp] = r; shn[warp] = any; }
    __syncthreads();
    if (threadIdx.x == 0) {
        for (int w = 1; w < nw; w++) { r = kr_pick<MAX>(r, shm[w]); any |= shn[w]; }
        *out = any ? __int_as_float(0x7fc00000) : r;
    }
}

extern "C" __global__ void reduce_min(const float* x, float* out, u64 n, u8* scratch) {
    kr_extreme<false>(x, n, out, scratch);
}
extern "C" __global__ void reduce_max(const float* x, float* out, u64 n, u8* scratch) {
    kr_extreme<true>(x, n, out, scratch);
}

// ---- argmax / argmin: (value, index) pairs, ties to the lower index, the first NaN wins ------

struct KrArg {
    float v;
    u64 i;   // KR_U64_MAX: nothing seen
    u64 nan; // index of the first NaN, KR_U64_MAX if none
};

template <bool MAX>
__device__ __forceinline__ void kr_arg_see(KrArg& a, float v, u64 i) {
    if (v != v) { if (i < a.nan) a.nan = i; }
    else if (a.i == KR_U64_MAX || (MAX ? v > a.v : v < a.v)) { a.v = v; a.i = i; }
}

// Four values at indices b … b + 3, in order. Usually none of them beats the running best, so
// the group is screened first: its max (min) by three fmaxf (fminf) and one compare, and only a
// group that wins, or holds a NaN, goes element by element. A sum that is NaN flags a NaN
// (inf − inf too: that group just takes the exact path). The per-element test for every value
// made the kernel as busy as the memory on the H200 (ncu: SM 80%, DRAM 80%, 90% of copy).
template <bool MAX>
__device__ __forceinline__ void kr_arg_see4(KrArg& a, float4 v, u64 b) {
    const float t = (v.x + v.y) + (v.z + v.w);
    const float m = MAX ? fmaxf(fmaxf(v.x, v.y), fmaxf(v.z, v.w)) : fminf(fminf(v.x, v.y), fminf(v.z, v.w));
    if (t != t || a.i == KR_U64_MAX || (MAX ? m > a.v : m < a.v)) {
        kr_arg_see<MAX>(a, v.x, b); kr_arg_see<MAX>(a, v.y, b + 1);
        kr_arg_see<MAX>(a, v.z, b + 2); kr_arg_see<MAX>(a, v.w, b + 3);
    }
}

// b covers any indices: strictly better values win, equal values keep the lower index.
template <bool MAX>
__device__ __forceinline__ KrArg kr_arg_combine(KrArg a, KrArg b) {
    KrArg r;
    r.nan = a.nan < b.nan ? a.nan : b.nan;
    bool take_b = a.i == KR_U64_MAX ||
                  (b.i != KR_U64_MAX && ((MAX ? b.v > a.v : b.v < a.v) || (b.v == a.v && b.i < a.i)));
    r.v = take_b ? b.v : a.v;
    r.i = take_b ? b.i : a.i;
    return r;
}

template <bool MAX>
__device__ __forceinline__ KrArg kr_arg_shfl(KrArg a, int o) {
    KrArg b;
    b.v = __shfl_down_sync(KR_FULL, a.v, o);
    b.i = __shfl_down_sync(KR_FULL, a.i, o);
    b.nan = __shfl_down_sync(KR_FULL, a.nan, o);
    return kr_arg_combine<MAX>(a, b);
}

template <bool MAX>
__device__ __forceinline__ void kr_arg(const float* __restrict__ x, u64 n, u64* out, u8* scratch) {
    const float4* x4 = (const float4*)x;
    u64 nv = n >> 2, s = kr_nthreads(), i = kr_tid();
    KrArg a;
    a.v = 0.0f;
    a.i = KR_U64_MAX;
    a.nan = KR_U64_MAX;
    // Each thread visits its elements in increasing index order, so strict comparisons keep
    // the first occurrence within a thread.
    for (; i + s < nv; i += 2 * s) {
        float4 v0 = x4[i], v1 = x4[i + s];
        u64 b0 = i << 2, b1 = (i + s) << 2;
        kr_arg_see4<MAX>(a, v0, b0);
        kr_arg_see4<MAX>(a, v1, b1);
    }
    for (; i < nv; i += s) kr_arg_see4<MAX>(a, x4[i], i << 2);
    u64 t = (nv << 2) + kr_tid();
    if (t < n) kr_arg_see<MAX>(a, x[t], t);
    for (int o = 16; o > 0; o >>= 1) a = kr_arg_shfl<MAX>(a, o);
    __shared__ KrArg sh[32];
    int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, nw = blockDim.x >> 5;
    if (lane == 0) sh[warp] = a;
    __syncthreads();
    KrArg* part = (KrArg*)(scratch + KR_PARTIALS);
    if (threadIdx.x == 0) {
        for (int w = 1; w < nw; w++) a = kr_arg_combine<MAX>(a, sh[w]);
        part[blockIdx.x] = a;
    }
    if (!kr_last_block((u32*)(scratch + KR_COUNTER))) return;
    KrArg r;
    r.v = 0.0f;
    r.i = KR_U64_MAX;
    r.nan = KR_U64_MAX;
    for (u32 k = threadIdx.x; k < gridDim.x; k += blockDim.x) {
        KrArg p;
        p.v = __ldcg(&part[k].v);
        p.i = __ldcg(&part[k].i);
        p.nan = __ldcg(&part[k].nan);
        r = kr_arg_combine<MAX>(r, p);
    }
    for (int o = 16; o > 0; o >>= 1) r = kr_arg_shfl<MAX>(r, o);
    __syncthreads();
    if (lane == 0) sh[warp] = r;
    __syncthreads();
    if (threadIdx.x == 0) {
        for (int w = 1; w < nw; w++) r = kr_arg_combine<MAX>(r, sh[w]);
        *out = r.nan != KR_U64_MAX ? r.nan : (r.i == KR_U64_MAX ? 0 : r.i);
    }
}

extern "C" __global__ void reduce_argmax(const float* x, u64* out, u64 n, u8* scratch) {
    kr_arg<true>(x, n, out, scratch);
}
extern "C" __global__ void reduce_argmin(const float* x, u64* out, u64 n, u8* scratch) {
    kr_arg<false>(x, n, out, scratch);
}

// ---- variance: shifted sums in each thread, then Chan's parallel combine of (count, mean, M2) ---

struct KrMom {
    double n, mean, m2;
};

__device__ __forceinline__ KrMom kr_mom_combine(KrMom a, KrMom b) {
    if (a.n == 0.0) return b;
    if (b.n == 0.0) return a;
    KrMom r;
    r.n = a.n + b.n;
    double d = b.mean - a.mean;
    r.mean = a.mean + d * (b.n / r.n);
    r.m2 = a.m2 + b.m2 + d * d * (a.n * b.n / r.n);
    return r;
}

// A thread's values as sums about a shift c, its first value: Σ(x − c) and Σ(x − c)², in f64
// (an f32 sum of values near 1e38 overflows, f32 squares of deviations below 1e-19
// underflow). M2 = Σ(x − c)² − (Σ(x − c))²/n cannot cancel badly because c is one of the
// values: (m − c)² ≤ M2 (m their mean), so Σ(x − c)² = M2 + n(m − c)² ≤ (n + 1)·M2, and the
// sums' rounding stays below about n²·ε₆₄ of M2. A thread holds a few hundred values at 10^8
// (~1e-11; stat(1e-5) allows 1e-5); threads then combine by Chan's rule. An
// earlier form, moments of every 16 values combined by Chan's rule, spent two f64 divisions
// per 16 values and 56 registers: 92% of the copy figure on the H200 (ncu: occupancy 50%,
// DRAM 82%).
struct KrShift {
    double c, s1, s2, n;
};

__device__ __forceinline__ void kr_shift_add(KrShift& a, const float* v, int k) {
    if (a.n == 0.0) a.c = (double)v[0];
    double s1 = 0.0, s2 = 0.0;
#pragma unroll
    for (int j = 0; j < k; j++) {
        double d = (double)v[j] - a.c;
        s1 += d;
        s2 = fma(d, d, s2);
    }
    a.s1 += s1;
    a.s2 += s2;
    a.n += (double)k;
}

__device__ __forceinline__ KrMom kr_shift_moments(const KrShift& a) {
    KrMom m = {0.0, 0.0, 0.0};
    if (a.n == 0.0) return m;
    m.n = a.n;
    m.mean = a.c + a.s1 / a.n;
    m.m2 = a.s2 - a.s1 * a.s1 / a.n;
    m.m2 = m.m2 < 0.0 ? 0.0 : m.m2; // rounding can leave it a hair below 0; NaN stays NaN
    return m;
}

__device__ __forceinline__ KrMom kr_mom_shfl(KrMom a, int o) {
    KrMom b;
    b.n = __shfl_down_sync(KR_FULL, a.n, o);
    b.mean = __shfl_down_sync(KR_FULL, a.mean, o);
    b.m2 = __shfl_down_sync(KR_FULL, a.m2, o);
    return kr_mom_combine(a, b);
}

__device__ __forceinline__ void kr_var(const float* __restrict__ x, u64 n, float* out, int root, u8* scratch) {
    const float4* x4 = (const float4*)x;
    u64 nv = n >> 2, s = kr_nthreads(), i = kr_tid();
    KrShift sh_ = {0.0, 0.0, 0.0, 0.0};
    for (; i + 3 * s < nv; i += 4 * s) {
        float4 q[4] = {x4[i], x4[i + s], x4[i + 2 * s], x4[i + 3 * s]};
        float v[16];
#pragma unroll
        for (int k = 0; k < 4; k++) { v[4 * k] = q[k].x; v[4 * k + 1] = q[k].y; v[4 * k + 2] = q[k].z; v[4 * k + 3] = q[k].w; }
        kr_shift_add(sh_, v, 16);
    }
    for (; i < nv; i += s) {
        float4 q = x4[i];
        float v[4] = {q.x, q.y, q.z, q.w};
        kr_shift_add(sh_, v, 4);
    }
    u64 t = (nv << 2) + kr_tid();
    if (t < n) { float v = x[t]; kr_shift_add(sh_, &v, 1); }
    KrMom a = kr_shift_moments(sh_);
    for (int o = 16; o > 0; o >>= 1) a = kr_mom_shfl(a, o);
    __shared__ KrMom sh[32];
    int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, nw = blockDim.x >> 5;
    if (lane == 0) sh[warp] = a;
    __syncthreads();
    KrMom* part = (KrMom*)(scratch + KR_PARTIALS);
    if (threadIdx.x == 0) {
        for (int w = 1; w < nw; w++) a = kr_mom_combine(a, sh[w]);
        part[blockIdx.x] = a;
    }
    if (!kr_last_block((u32*)(scratch + KR_COUNTER))) return;
    KrMom r = {0.0, 0.0, 0.0};
    for (u32 k = threadIdx.x; k < gridDim.x; k += blockDim.x) {
        KrMom p;
        p.n = __ldcg(&part[k].n);
        p.mean = __ldcg(&part[k].mean);
        p.m2 = __ldcg(&part[k].m2);
        r = kr_mom_combine(r, p);
    }
    for (int o = 16; o > 0; o >>= 1) r = kr_mom_shfl(r, o);
    __syncthreads();
    if (lane == 0) sh[warp] = r;
    __syncthreads();
    if (threadIdx.x == 0) {
        for (int w = 1; w < nw; w++) r = kr_mom_combine(r, sh[w]);
        double var = r.m2 / r.n;
        *out = (float)(root ? sqrt(var) : var);
    }
}

extern "C" __global__ void reduce_var(const float* x, float* out, u64 n, u8* scratch) {
    kr_var(x, n, out, 0, scratch);
}
extern "C" __global__ void reduce_stddev(const float* x, float* out, u64 n, u8* scratch) {
    kr_var(x, n, out, 1, scratch);
}

// ---- histogram: privatised in shared memory ----------------------------------------------------
// `copies` sub-histograms of u32 per block (one per lane or per warp) break up the atomic
// traffic on popular bins; each block then adds its counts to u64 accumulators in the scratch
// area, and the last block moves them to the output and zeroes them. copies = 0: no shared
// memory fits the bins, count straight into the accumulators.

__device__ __forceinline__ u32 kr_bin(float v, float lo, float hi, float sc, float lo_s, float nbins, float w,
                                      float inv_w, u32 bins, bool& ok) {
    // torch.histc's order of operations in f32 on values scaled by sc = 2^-e (1 unless the
    // range is within a factor `bins` of f32::MAX; kernels/reductions.md), each step
    // correctly rounded (no contraction). When w is a power of two, inv_w = 1/w exactly and
    // a·inv_w is the same correctly rounded value as a/w (one rounding of the same real
    // number), at a fraction of a division's cost.
    float a = __fmul_rn(__fsub_rn(__fmul_rn(v, sc), lo_s), nbins);
    float q = inv_w != 0.0f ? __fmul_rn(a, inv_w) : __fdiv_rn(a, w);
    ok = (v >= lo) && (v <= hi);
    u32 b = __float2uint_rd(q);
    return b < bins - 1 ? b : bins - 1;
}

// Sub-histogram c lives at c·stride; stride = bins + 1 when there are 32 copies (one per lane:
// no two lanes of a warp ever add to the same address, and the odd stride spreads the lanes'
// copies over the banks).
extern "C" __global__ void reduce_histogram(const float* __restrict__ x, u64* out, u64 n, u64 bins64,
                                            float lo, float hi, float sc, float lo_s, float w, float inv_w,
                                            u32 copies,
                                            u32 stride, u8* scratch) {
    extern __shared__ u32 hist[];
    u32 bins = (u32)bins64;
    u64* acc = (u64*)(scratch + KR_HIST);
    float nbins = (float)bins;
    u32 total = stride * copies;
    for (u32 k = threadIdx.x; k < total; k += blockDim.x) hist[k] = 0;
    __syncthreads();
    u32 mine_copy = copies == 32 ? (threadIdx.x & 31) : (copies ? (threadIdx.x >> 5) % copies : 0);
    u32* mine = copies ? hist + mine_copy * stride : 0;
    const float4* x4 = (const float4*)x;
    u64 nv = n >> 2, s = kr_nthreads(), i = kr_tid();
    bool ok;
#define KR_COUNT(val)                                                   \
    {                                                                   \
        u32 b = kr_bin((val), lo, hi, sc, lo_s, nbins, w, inv_w, bins, ok);              \
        if (ok) { if (copies) atomicAdd(&mine[b], 1u); else atomicAdd(&acc[b], 1ull); } \
    }
    for (; i + 3 * s < nv; i += 4 * s) {
        float4 v[4] = {x4[i], x4[i + s], x4[i + 2 * s], x4[i + 3 * s]};
#pragma unroll
        for (int k = 0; k < 4; k++) { KR_COUNT(v[k].x) KR_COUNT(v[k].y) KR_COUNT(v[k].z) KR_COUNT(v[k].w) }
    }
    for (; i < nv; i += s) {
        float4 v = x4[i];
        KR_COUNT(v.x) KR_COUNT(v.y) KR_COUNT(v.z) KR_COUNT(v.w)
    }
    u64 t = (nv << 2) + kr_tid();
    if (t < n) KR_COUNT(x[t])
#undef KR_COUNT
    __syncthreads();
    if (copies) {
        for (u32 b = threadIdx.x; b < bins; b += blockDim.x) {
            u32 c = 0;
            for (u32 k = 0; k < copies; k++) c += hist[k * stride + b];
            if (c) atomicAdd(&acc[b], (u64)c);
        }
    }
    if (!kr_last_block((u32*)(scratch + KR_COUNTER))) return;
    for (u32 b = threadIdx.x; b < bins; b += blockDim.x) out[b] = atomicExch(&acc[b], 0ull);
}
