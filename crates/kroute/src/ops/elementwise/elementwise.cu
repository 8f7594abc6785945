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

extern "C" __global__ void map_fma(const float* __restrict__ a, const float* __restrict__ b,
                                   const float* __restrict__ c, float* __restrict__ z, u64 n) {
    const float4* a4 = (const float4*)a;
    const float4* b4 = (const float4*)b;
    const float4* c4 = (const float4*)c;
    float4* z4 = (float4*)z;
    u64 nv = n >> 2, s = kr_nthreads(), i = kr_tid();
    for (; i + s < nv; i += 2 * s) {
        float4 p0 = a4[i], q0 = b4[i], r0 = c4[i], p1 = a4[i + s], q1 = b4[i + s], r1 = c4[i + s];
        z4[i] = make_float4(fmaf(p0.x, q0.x, r0.x), fmaf(p0.y, q0.y, r0.y), fmaf(p0.z, q0.z, r0.z), fmaf(p0.w, q0.w, r0.w));
        z4[i + s] = make_float4(fmaf(p1.x, q1.x, r1.x), fmaf(p1.y, q1.y, r1.y), fmaf(p1.z, q1.z, r1.z), fmaf(p1.w, q1.w, r1.w));
    }
    for (; i < nv; i += s) {
        float4 p = a4[i], q = b4[i], r = c4[i];
        z4[i] = make_float4(fmaf(p.x, q.x, r.x), fmaf(p.y, q.y, r.y), fmaf(p.z, q.z, r.z), fmaf(p.w, q.w, r.w));
    }
    u64 t = (nv << 2) + kr_tid();
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
