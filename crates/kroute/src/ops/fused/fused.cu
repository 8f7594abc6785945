// fused map-reduce on CUDA (kernels/fused.md): one pass, one launch; the mapped value never
// leaves registers. The combine is the reductions' (per-thread f64 terms, block tree, last
// block adds block partials in order).

extern "C" __global__ void map_reduce_abs_sum(const float* x, float* out, u64 n, u8* scratch) {
    kr_finish_sum(kr_thread_sum(x, n, [](float v) { return fabs((double)v); }), out, 1.0, 0, scratch);
}

extern "C" __global__ void map_reduce_square_sum(const float* x, float* out, u64 n, u8* scratch) {
    kr_finish_sum(kr_thread_sum(x, n, [](float v) { return (double)v * (double)v; }), out, 1.0, 0, scratch);
}

// x where the mask byte is 1 (a select: NaN where m = 0 never reaches the sum), in f64: an
// f32 partial of values near 1e38 overflows.
__device__ __forceinline__ double kr_sel(float v, u32 w, int k) { return ((w >> (8 * k)) & 0xffu) == 1u ? (double)v : 0.0; }

// Σ x_i·[m_i = 1]. Mask bytes other than 0 and 1 set a flag in the scratch area, which the
// host reads (and clears) to report Error::Value.
extern "C" __global__ void map_reduce_masked_sum(const float* __restrict__ x, const u8* __restrict__ m,
                                                 float* out, u64 n, u8* scratch) {
    const float4* x4 = (const float4*)x;
    const u32* m4 = (const u32*)m;
    u64 nv = n >> 2, s = kr_nthreads(), i = kr_tid();
    double acc = 0.0;
    u32 bad = 0;
    for (; i + 3 * s < nv; i += 4 * s) {
        float4 v[4] = {x4[i], x4[i + s], x4[i + 2 * s], x4[i + 3 * s]};
        u32 w[4] = {m4[i], m4[i + s], m4[i + 2 * s], m4[i + 3 * s]};
        double p = 0.0;
#pragma unroll
        for (int k = 0; k < 4; k++) {
            bad |= w[k];
            p += (kr_sel(v[k].x, w[k], 0) + kr_sel(v[k].y, w[k], 1)) + (kr_sel(v[k].z, w[k], 2) + kr_sel(v[k].w, w[k], 3));
        }
        acc += p;
    }
    for (; i < nv; i += s) {
        float4 v = x4[i];
        u32 w = m4[i];
        bad |= w;
        acc += (kr_sel(v.x, w, 0) + kr_sel(v.y, w, 1)) + (kr_sel(v.z, w, 2) + kr_sel(v.w, w, 3));
    }
    u64 t = (nv << 2) + kr_tid();
    if (t < n) { u32 w = m[t]; bad |= w; acc += kr_sel(x[t], w, 0); }
    if (bad & 0xfefefefeu) atomicOr((u32*)(scratch + KR_FLAG), 1u);
    kr_finish_sum(acc, out, 1.0, 0, scratch);
}

extern "C" __global__ void map_reduce_threshold_count(const float* __restrict__ x, u64* out, u64 n, float th,
                                                      u8* scratch) {
    const float4* x4 = (const float4*)x;
    u64 nv = n >> 2, s = kr_nthreads(), i = kr_tid();
    u64 c = 0;
    for (; i + 3 * s < nv; i += 4 * s) {
        float4 v[4] = {x4[i], x4[i + s], x4[i + 2 * s], x4[i + 3 * s]};
        u32 k4 = 0;
#pragma unroll
        for (int k = 0; k < 4; k++) k4 += (v[k].x > th) + (v[k].y > th) + (v[k].z > th) + (v[k].w > th);
        c += k4;
    }
    for (; i < nv; i += s) {
        float4 v = x4[i];
        c += (v.x > th) + (v.y > th) + (v.z > th) + (v.w > th);
    }
    u64 t = (nv << 2) + kr_tid();
    if (t < n) c += x[t] > th;
    kr_finish_count(c, out, scratch);
}
