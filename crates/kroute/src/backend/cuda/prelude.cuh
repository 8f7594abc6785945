// kroute CUDA prelude: prepended to every domain's .cu before NVRTC compiles it.
// No headers: NVRTC then needs no include path (CI installs only the NVRTC wheel).

typedef unsigned long long u64;
typedef long long i64;
typedef unsigned int u32;
typedef unsigned short u16;
typedef unsigned char u8;
typedef signed char i8;

#define KR_FULL 0xffffffffu
#define KR_U64_MAX 0xffffffffffffffffull

// NaN-propagating max/min: fmaxf/fminf return the other operand on NaN, which docs/kernels/KERNELS.md
// forbids wherever NaN must propagate.
__device__ __forceinline__ float kr_isnan(float x) { return x != x; }
__device__ __forceinline__ float kr_nanmax(float a, float b) { return (a != a || b != b) ? __int_as_float(0x7fc00000) : fmaxf(a, b); }
__device__ __forceinline__ float kr_nanmin(float a, float b) { return (a != a || b != b) ? __int_as_float(0x7fc00000) : fminf(a, b); }

// Exact IEEE binary16 conversions through PTX: cvt.rn rounds to nearest even, keeps
// subnormals, overflows to inf and keeps NaN; no cuda_fp16.h needed.
__device__ __forceinline__ u16 kr_f32_to_f16(float x) {
    u16 h;
    asm("cvt.rn.f16.f32 %0, %1;" : "=h"(h) : "f"(x));
    return h;
}
__device__ __forceinline__ float kr_f16_to_f32(u16 h) {
    float x;
    asm("cvt.f32.f16 %0, %1;" : "=f"(x) : "h"(h));
    return x;
}

// Philox4x32-10 (docs/kernels/KERNELS.md §2) on counter (j mod 2^32, j / 2^32, stream, 0) with
// key (seed mod 2^32, seed / 2^32): the generator of every workload input, for the kernels
// that generate their own numbers (prng, Monte Carlo).
__device__ __forceinline__ uint4 kr_philox(u64 j, u32 stream, u64 seed) {
    u32 c0 = (u32)j, c1 = (u32)(j >> 32), c2 = stream, c3 = 0;
    u32 k0 = (u32)seed, k1 = (u32)(seed >> 32);
#pragma unroll
    for (int r = 0; r < 10; r++) {
        const u32 hi0 = __umulhi(0xD2511F53u, c0), lo0 = 0xD2511F53u * c0;
        const u32 hi1 = __umulhi(0xCD9E8D57u, c2), lo1 = 0xCD9E8D57u * c2;
        c0 = hi1 ^ c1 ^ k0;
        c1 = lo1;
        c2 = hi0 ^ c3 ^ k1;
        c3 = lo0;
        k0 += 0x9E3779B9u;
        k1 += 0xBB67AE85u;
    }
    return make_uint4(c0, c1, c2, c3);
}

// Grid-stride helpers.
__device__ __forceinline__ u64 kr_tid() { return (u64)blockIdx.x * blockDim.x + threadIdx.x; }
__device__ __forceinline__ u64 kr_nthreads() { return (u64)gridDim.x * blockDim.x; }

// Warp reductions.
__device__ __forceinline__ double kr_warp_sum(double v) {
    for (int o = 16; o > 0; o >>= 1) v += __shfl_down_sync(KR_FULL, v, o);
    return v;
}
__device__ __forceinline__ float kr_warp_sumf(float v) {
    for (int o = 16; o > 0; o >>= 1) v += __shfl_down_sync(KR_FULL, v, o);
    return v;
}
__device__ __forceinline__ u64 kr_warp_sum_u64(u64 v) {
    for (int o = 16; o > 0; o >>= 1) v += __shfl_down_sync(KR_FULL, v, o);
    return v;
}

// Butterfly (xor) forms: every lane ends with the warp's total or max, the same value in every
// lane (+ and a NaN-dropping fmaxf are commutative, so both lanes of each exchange compute it
// alike). Row kernels that hold a row across a warp need the statistic in every lane.
__device__ __forceinline__ double kr_warp_allsum(double v) {
    for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(KR_FULL, v, o);
    return v;
}
__device__ __forceinline__ float kr_warp_allmaxf(float v) {
    for (int o = 16; o > 0; o >>= 1) v = fmaxf(v, __shfl_xor_sync(KR_FULL, v, o));
    return v;
}
#define KR_NINF __int_as_float(0xff800000)

// Block sum of a double, result valid in thread 0. `sh` holds >= 32 doubles. Blocks are
// multiples of 32 threads.
__device__ __forceinline__ double kr_block_sum(double v, double* sh) {
    int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
    v = kr_warp_sum(v);
    if (lane == 0) sh[warp] = v;
    __syncthreads();
    int nw = blockDim.x >> 5;
    v = (threadIdx.x < nw) ? sh[threadIdx.x] : 0.0;
    if (warp == 0) v = kr_warp_sum(v);
    __syncthreads();
    return v;
}

// One launch, all blocks: each block publishes its partial, then the last block to arrive
// (counted with an atomic after a fence) combines all partials in block order, so the result
// does not depend on which block finished first. The last block also resets the counter for
// the next launch. Returns true in every thread of the last block.
__device__ __forceinline__ bool kr_last_block(u32* counter) {
    __shared__ bool last;
    __threadfence();
    __syncthreads();
    if (threadIdx.x == 0) {
        u32 prev = atomicAdd(counter, 1u);
        last = (prev == gridDim.x - 1);
        if (last) *counter = 0;
    }
    __syncthreads();
    if (last) __threadfence();
    return last;
}


// Scratch layout (mirrors SCRATCH_* in backend/cuda/mod.rs).
#define KR_COUNTER 0
#define KR_FLAG 128
#define KR_PARTIALS 256
#define KR_HIST 524288

// ---- maps -------------------------------------------------------------------------------
// One launch shape for every map (`Launch::Map`, measured on the H200 by
// scripts/map-variants.py): block b's threads take float4 groups i = b·B·U + k·B + t, k < U,
// all loads issued before the first use, on a grid as big as the work, so each block moves one
// contiguous chunk and retires. This is torch's vectorised elementwise shape (B = 128, U = 2);
// the earlier grid-stride loop on a grid of resident blocks ran 3–8% slower at 10^8. The loop
// over chunks keeps any grid correct; the n % 4 tail goes to the grid's first threads.

#define KR_MAP_U 2

template <typename F>
__device__ __forceinline__ float4 kr_ap1(float4 v, F f) {
    return make_float4(f(v.x), f(v.y), f(v.z), f(v.w));
}
template <typename F>
__device__ __forceinline__ float4 kr_ap2(float4 a, float4 b, F f) {
    return make_float4(f(a.x, b.x), f(a.y, b.y), f(a.z, b.z), f(a.w, b.w));
}

// Whether a map's float4 indices fit 32 bits on this grid: i + step stays below 2^32 when
// nv + gridDim·blockDim·U does. torch's elementwise kernels index in 32 bits too; 64-bit
// address arithmetic in the prologue cost the one-shot maps 0.5–1% at 10^7 on the H200.
__device__ __forceinline__ bool kr_map_fits_u32(u64 nv) {
    return nv + (u64)gridDim.x * blockDim.x * KR_MAP_U < (1ull << 32);
}

// The chunk loops of kr_map1_to and kr_map2_to, over float4 groups indexed in I (u32 or u64).
template <typename I, typename Out4, typename F4>
__device__ __forceinline__ void kr_map1_chunks(const float4* __restrict__ x4, Out4* __restrict__ y4, I nv, F4 f4) {
    const I b = blockDim.x, step = (I)gridDim.x * b * KR_MAP_U;
    for (I i = (I)blockIdx.x * b * KR_MAP_U + threadIdx.x; i < nv; i += step) {
        if (i + (KR_MAP_U - 1) * b < nv) {
            float4 v[KR_MAP_U];
#pragma unroll
            for (int k = 0; k < KR_MAP_U; k++) v[k] = x4[i + k * b];
#pragma unroll
            for (int k = 0; k < KR_MAP_U; k++) y4[i + k * b] = f4(v[k]);
        } else {
            for (int k = 0; k < KR_MAP_U; k++)
                if (i + k * b < nv) y4[i + k * b] = f4(x4[i + k * b]);
        }
    }
}

template <typename I, typename Out4, typename F4>
__device__ __forceinline__ void kr_map2_chunks(const float4* __restrict__ x4, const float4* __restrict__ y4,
                                               Out4* __restrict__ z4, I nv, F4 f4) {
    const I b = blockDim.x, step = (I)gridDim.x * b * KR_MAP_U;
    for (I i = (I)blockIdx.x * b * KR_MAP_U + threadIdx.x; i < nv; i += step) {
        if (i + (KR_MAP_U - 1) * b < nv) {
            float4 u[KR_MAP_U], v[KR_MAP_U];
#pragma unroll
            for (int k = 0; k < KR_MAP_U; k++) { u[k] = x4[i + k * b]; v[k] = y4[i + k * b]; }
#pragma unroll
            for (int k = 0; k < KR_MAP_U; k++) z4[i + k * b] = f4(u[k], v[k]);
        } else {
            for (int k = 0; k < KR_MAP_U; k++)
                if (i + k * b < nv) z4[i + k * b] = f4(x4[i + k * b], y4[i + k * b]);
        }
    }
}

// A map over n elements in groups of four, from f32 inputs to any output type: `f4` makes a
// group's output (Out4: float4 for f32, uint2 for four halves, u32 for four bytes) from its
// float4 input(s), `f1` one element of the n % 4 tail.
template <typename Out4, typename Out, typename F4, typename F1>
__device__ __forceinline__ void kr_map1_to(const float* __restrict__ x, Out* __restrict__ y, u64 n, F4 f4, F1 f1) {
    const u64 nv = n >> 2;
    if (kr_map_fits_u32(nv)) kr_map1_chunks<u32>((const float4*)x, (Out4*)y, (u32)nv, f4);
    else kr_map1_chunks<u64>((const float4*)x, (Out4*)y, nv, f4);
    const u64 t = (nv << 2) + kr_tid();
    if (t < n) y[t] = f1(x[t]);
}

template <typename Out4, typename Out, typename F4, typename F1>
__device__ __forceinline__ void kr_map2_to(const float* __restrict__ x, const float* __restrict__ y,
                                           Out* __restrict__ z, u64 n, F4 f4, F1 f1) {
    const u64 nv = n >> 2;
    if (kr_map_fits_u32(nv)) kr_map2_chunks<u32>((const float4*)x, (const float4*)y, (Out4*)z, (u32)nv, f4);
    else kr_map2_chunks<u64>((const float4*)x, (const float4*)y, (Out4*)z, nv, f4);
    const u64 t = (nv << 2) + kr_tid();
    if (t < n) z[t] = f1(x[t], y[t]);
}

// f32 → f32 maps of one and two inputs: `f` per element.
template <typename F>
__device__ __forceinline__ void kr_map1(const float* __restrict__ x, float* __restrict__ y, u64 n, F f) {
    kr_map1_to<float4, float>(x, y, n, [=](float4 v) { return kr_ap1(v, f); }, f);
}

template <typename F>
__device__ __forceinline__ void kr_map2(const float* __restrict__ x, const float* __restrict__ y,
                                        float* __restrict__ z, u64 n, F f) {
    kr_map2_to<float4, float>(x, y, z, n, [=](float4 a, float4 b) { return kr_ap2(a, b, f); }, f);
}

// One warp per row, grid-stride over the rows (launch shape `Rows`, which passes the row count
// after the parameters):
//     for (u64 r = kr_warp(), nw = kr_nwarps(); r < rows; r += nw) { … kr_lane() … }
// rows comes from the host, so no thread runs a 64-bit division (n / d) before its first load.
// A plain loop rather than a helper taking a lambda: captured pointers lose __restrict__.
__device__ __forceinline__ int kr_lane() { return threadIdx.x & 31; }
__device__ __forceinline__ u64 kr_warp() { return kr_tid() >> 5; }
__device__ __forceinline__ u64 kr_nwarps() { return kr_nthreads() >> 5; }

// A warp's row of nv float4s held in registers: lane L holds float4 L + 32k in v[k], k < V, all
// loads issued before any use. Slots past nv are left unset: guard every use by L + 32k < nv.
template <int V>
__device__ __forceinline__ void kr_warp_row_load(const float* __restrict__ row, u64 nv, float4 (&v)[V]) {
    const float4* r4 = (const float4*)row;
    const u64 lane = kr_lane();
#pragma unroll
    for (int k = 0; k < V; k++)
        if (lane + 32 * k < nv) v[k] = r4[lane + 32 * k];
}

// Words i … i + 3 of x into w: one 16-byte load when all four lie below n (i a multiple of 4),
// else one by one with 0 past n. Returns whether all four lie below n.
__device__ __forceinline__ bool kr_load4(const u32* __restrict__ x, u64 i, u64 n, u32* w) {
    if (i + 4 <= n) {
        const uint4 q = *(const uint4*)(x + i);
        w[0] = q.x; w[1] = q.y; w[2] = q.z; w[3] = q.w;
        return true;
    }
#pragma unroll
    for (int k = 0; k < 4; k++) w[k] = i + k < n ? x[i + k] : 0u;
    return false;
}

// Block j's four elements v (a 16-, 8- or 4-byte vector of T) stored at y + 4j: one store when
// all four lie below n, else the first n − 4j one by one.
template <typename T, typename V>
__device__ __forceinline__ void kr_store4(T* y, u64 j, u64 n, V v) {
    const u64 k = 4 * j;
    if (k + 4 <= n) {
        *(V*)(y + k) = v;
    } else {
        const T* e = (const T*)&v;
        for (u64 q = 0; k + q < n; q++) y[k + q] = e[q];
    }
}

// ---- one-launch reductions ------------------------------------------------------------------

// Σ term(x_i) of this thread, `term` returning the term in f64: an f32 term or partial
// overflows (values near 1e38, squares of 1e20) or underflows (squares below 1e-19) where the
// answer is representable, and f64 adds are far from the limit of a memory-bound loop on
// these GPUs (H200: 64 f64 adds per SM per clock against ~4 floats arriving).
template <typename F>
__device__ __forceinline__ double kr_thread_sum(const float* __restrict__ x, u64 n, F term) {
    const float4* x4 = (const float4*)x;
    u64 nv = n >> 2, s = kr_nthreads(), i = kr_tid();
    double acc = 0.0;
    for (; i + 3 * s < nv; i += 4 * s) {
        float4 v0 = x4[i], v1 = x4[i + s], v2 = x4[i + 2 * s], v3 = x4[i + 3 * s];
        double s0 = (term(v0.x) + term(v0.y)) + (term(v0.z) + term(v0.w));
        double s1 = (term(v1.x) + term(v1.y)) + (term(v1.z) + term(v1.w));
        double s2 = (term(v2.x) + term(v2.y)) + (term(v2.z) + term(v2.w));
        double s3 = (term(v3.x) + term(v3.y)) + (term(v3.z) + term(v3.w));
        acc += (s0 + s1) + (s2 + s3);
    }
    for (; i < nv; i += s) {
        float4 v = x4[i];
        acc += (term(v.x) + term(v.y)) + (term(v.z) + term(v.w));
    }
    u64 t = (nv << 2) + kr_tid();
    if (t < n) acc += term(x[t]);
    return acc;
}

// Combine per-thread f64 sums: block tree, one partial per block in the scratch area, and the
// last block adds the partials in block order. Returns true in thread 0 of the last block,
// where *total holds the grid's sum.
__device__ __forceinline__ bool kr_grid_sum(double acc, double* total, u8* scratch) {
    __shared__ double sh[32];
    double b = kr_block_sum(acc, sh);
    double* part = (double*)(scratch + KR_PARTIALS);
    if (threadIdx.x == 0) part[blockIdx.x] = b;
    if (!kr_last_block((u32*)(scratch + KR_COUNTER))) return false;
    double t = 0.0;
    for (u32 k = threadIdx.x; k < gridDim.x; k += blockDim.x) t += __ldcg(&part[k]);
    *total = kr_block_sum(t, sh);
    return threadIdx.x == 0;
}

// kr_grid_sum, then out = f32(total / div), or its sqrt.
__device__ __forceinline__ void kr_finish_sum(double acc, float* out, double div, int root, u8* scratch) {
    double t;
    if (kr_grid_sum(acc, &t, scratch)) {
        t = t / div;
        if (root) t = sqrt(t);
        *out = (float)t;
    }
}

__device__ __forceinline__ u64 kr_block_sum_u64(u64 v, u64* sh) {
    int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
    v = kr_warp_sum_u64(v);
    if (lane == 0) sh[warp] = v;
    __syncthreads();
    int nw = blockDim.x >> 5;
    v = (threadIdx.x < nw) ? sh[threadIdx.x] : 0ull;
    if (warp == 0) v = kr_warp_sum_u64(v);
    __syncthreads();
    return v;
}

// Same for integer counts.
__device__ __forceinline__ void kr_finish_count(u64 c, u64* out, u8* scratch) {
    __shared__ u64 sh[32];
    u64 b = kr_block_sum_u64(c, sh);
    u64* part = (u64*)(scratch + KR_PARTIALS);
    if (threadIdx.x == 0) part[blockIdx.x] = b;
    if (!kr_last_block((u32*)(scratch + KR_COUNTER))) return;
    u64 t = 0;
    for (u32 k = threadIdx.x; k < gridDim.x; k += blockDim.x) t += __ldcg(&part[k]);
    t = kr_block_sum_u64(t, sh);
    if (threadIdx.x == 0) *out = t;
}
