// elementwise on CUDA (kernels/elementwise.md). Compiled without fast math: `/` is the
// correctly rounded division map_div needs, and expf/logf/tanhf are CUDA's accurate versions
// (≤ 2 ulp), well inside elementwise(4e-6).
// Signature of every kernel (backend/cuda/mod.rs, Launch): (inputs..., output, n, params...).

extern "C" __global__ void map_add(const float* x, const float* y, float* z, u64 n) {
    kr_map2(x, y, z, n, [](float a, float b) { return a + b; });
}

extern "C" __global__ void map_mul(const float* x, const float* y, float* z, u64 n) {
    kr_map2(x, y, z, n, [](float a, float b) { return a * b; });
}

extern "C" __global__ void map_div(const float* x, const float* y, float* z, u64 n) {
    kr_map2(x, y, z, n, [](float a, float b) { return a / b; });
}

// Three inputs: the chunk loop of kr_map2_chunks (prelude) spelled out.
template <typename I>
__device__ __forceinline__ void map_fma_chunks(const float4* __restrict__ a4, const float4* __restrict__ b4,
                                               const float4* __restrict__ c4, float4* __restrict__ z4, I nv) {
    const I B = blockDim.x, step = (I)gridDim.x * B * KR_MAP_U;
    const auto f = [](float4 p, float4 q, float4 r) {
        return make_float4(fmaf(p.x, q.x, r.x), fmaf(p.y, q.y, r.y), fmaf(p.z, q.z, r.z), fmaf(p.w, q.w, r.w));
    };
    for (I i = (I)blockIdx.x * B * KR_MAP_U + threadIdx.x; i < nv; i += step) {
        if (i + (KR_MAP_U - 1) * B < nv) {
            float4 p[KR_MAP_U], q[KR_MAP_U], r[KR_MAP_U];
#pragma unroll
            for (int k = 0; k < KR_MAP_U; k++) { p[k] = a4[i + k * B]; q[k] = b4[i + k * B]; r[k] = c4[i + k * B]; }
#pragma unroll
            for (int k = 0; k < KR_MAP_U; k++) z4[i + k * B] = f(p[k], q[k], r[k]);
        } else {
            for (int k = 0; k < KR_MAP_U; k++)
                if (i + k * B < nv) z4[i + k * B] = f(a4[i + k * B], b4[i + k * B], c4[i + k * B]);
        }
    }
}

extern "C" __global__ void map_fma(const float* __restrict__ a, const float* __restrict__ b,
                                   const float* __restrict__ c, float* __restrict__ z, u64 n) {
    const u64 nv = n >> 2;
    const float4 *a4 = (const float4*)a, *b4 = (const float4*)b, *c4 = (const float4*)c;
    if (kr_map_fits_u32(nv)) map_fma_chunks<u32>(a4, b4, c4, (float4*)z, (u32)nv);
    else map_fma_chunks<u64>(a4, b4, c4, (float4*)z, nv);
    const u64 t = (nv << 2) + kr_tid();
    if (t < n) z[t] = fmaf(a[t], b[t], c[t]);
}

extern "C" __global__ void map_exp(const float* x, float* y, u64 n) {
    kr_map1(x, y, n, [](float v) { return expf(v); });
}

extern "C" __global__ void map_log(const float* x, float* y, u64 n) {
    kr_map1(x, y, n, [](float v) { return logf(v); });
}

extern "C" __global__ void map_tanh(const float* x, float* y, u64 n) {
    kr_map1(x, y, n, [](float v) { return tanhf(v); });
}

// e^{−x} overflows to +inf for x < −88.7 and 1/inf = 0, the right limit: no NaN.
extern "C" __global__ void map_sigmoid(const float* x, float* y, u64 n) {
    kr_map1(x, y, n, [](float v) { return 1.0f / (1.0f + expf(-v)); });
}

// The stable form max(x, 0) + ln(1 + e^{−|x|}); NaN propagates through the log term (fmaxf
// alone would drop it).
extern "C" __global__ void map_softplus(const float* x, float* y, u64 n) {
    kr_map1(x, y, n, [](float v) { return fmaxf(v, 0.0f) + log1pf(expf(-fabsf(v))); });
}

extern "C" __global__ void map_clamp(const float* x, float* y, u64 n, float lo, float hi) {
    kr_map1(x, y, n, [=](float v) { return v != v ? v : fminf(fmaxf(v, lo), hi); });
}

extern "C" __global__ void map_abs(const float* x, float* y, u64 n) {
    kr_map1(x, y, n, [](float v) { return fabsf(v); });
}

// m_i = x_i > y_i as a byte (an ordered compare: false on NaN); four results per 4-byte store.
extern "C" __global__ void map_compare(const float* x, const float* y, u8* m, u64 n) {
    kr_map2_to<u32, u8>(
        x, y, m, n,
        [](float4 a, float4 b) {
            return (u32)(a.x > b.x) | ((u32)(a.y > b.y) << 8) | ((u32)(a.z > b.z) << 16) | ((u32)(a.w > b.w) << 24);
        },
        [](float a, float b) { return (u8)(a > b); });
}
