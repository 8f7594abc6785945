// signal on CUDA (kernels/signal.md). Signature of every kernel (backend/cuda/mod.rs, Launch):
// (inputs..., outputs..., n, params...).

// The symmetric Hann weight w[j] = sin²(π·k/(M − 1)), k = min(j, M − 1 − j): folding keeps the
// angle ≤ π/2 (no loss near π), sinpif takes the angle in units of π without rounding π·k, and
// the sin² form does not cancel near the frame ends (0.5 − 0.5·cos would, by ~1e-3 at j = 1).
// About 3 ulp in all: far inside elementwise(2e-6, 1e-12).
__device__ __forceinline__ float kr_hann(u64 j, u64 m) {
    u64 k = j < m - 1 - j ? j : m - 1 - j;
    float s = sinpif((float)k / (float)(m - 1));
    return s * s;
}

// The same in 32 bits with 1/(M − 1) taken once (one rounding more in the angle: about 4 ulp in
// all). The 64-bit form's modulo, conversions and division per sample left window_apply
// compute-bound on the H200 (76% of the copy ceiling at 10^8).
__device__ __forceinline__ float kr_hann32(u32 j, u32 m, float inv) {
    const u32 k = j < m - 1 - j ? j : m - 1 - j;
    const float s = sinpif((float)k * inv);
    return s * s;
}

// y[r, j] = x[r, j]·w[j] over n = R·M samples; four samples per step when M is a multiple of 4
// (then a float4 never straddles two frames).
extern "C" __global__ void window_apply(const float* __restrict__ x, float* __restrict__ y, u64 n, u64 m) {
    u64 s = kr_nthreads();
    if ((m & 3) == 0 && n <= 0xffffffffull) {
        const u32 mm = (u32)m;
        const float inv = 1.0f / (float)(mm - 1);
        const float4* x4 = (const float4*)x;
        float4* y4 = (float4*)y;
        for (u64 i = kr_tid(); i < (n >> 2); i += s) {
            const u32 j = ((u32)i << 2) % mm;
            const float4 v = x4[i];
            y4[i] = make_float4(v.x * kr_hann32(j, mm, inv), v.y * kr_hann32(j + 1, mm, inv),
                                v.z * kr_hann32(j + 2, mm, inv), v.w * kr_hann32(j + 3, mm, inv));
        }
    } else if ((m & 3) == 0) {
        const float4* x4 = (const float4*)x;
        float4* y4 = (float4*)y;
        for (u64 i = kr_tid(); i < (n >> 2); i += s) {
            u64 j = (i << 2) % m;
            float4 v = x4[i];
            y4[i] = make_float4(v.x * kr_hann(j, m), v.y * kr_hann(j + 1, m), v.z * kr_hann(j + 2, m),
                                v.w * kr_hann(j + 3, m));
        }
    } else {
        for (u64 i = kr_tid(); i < n; i += s) y[i] = x[i] * kr_hann(i % m, m);
    }
}
