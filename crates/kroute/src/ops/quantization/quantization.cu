// quantization on CUDA (kernels/quantization.md). f16 conversions are PTX cvt.rn (exact round
// to nearest even, subnormals kept, overflow to inf, NaN kept); divisions are IEEE-rounded.

extern "C" __global__ void quantize_f32_to_f16(const float* x, u16* y, u64 n) {
    kr_map1_to<uint2, u16>(
        x, y, n,
        [](float4 v) {
            return make_uint2((u32)kr_f32_to_f16(v.x) | ((u32)kr_f32_to_f16(v.y) << 16),
                              (u32)kr_f32_to_f16(v.z) | ((u32)kr_f32_to_f16(v.w) << 16));
        },
        [](float v) { return kr_f32_to_f16(v); });
}

// max |x| of f16 bits: the integer order of (bits & 0x7fff) is the order of magnitudes, with
// NaN above inf.
__device__ __forceinline__ u32 kr_absmax2(u32 m, u32 w) {
    u32 lo = w & 0x7fffu, hi = (w >> 16) & 0x7fffu;
    m = m > lo ? m : lo;
    return m > hi ? m : hi;
}

// The code of one value: rne(fl32(x / s)) clamped to ±127, 0 where the quotient is NaN.
// x·(1/s) is within 2^-23 relative of fl32(x / s), so both round to the same integer unless
// the product lies within 1e-4 of a half-integer tie (|x / s| ≤ 128 where it matters); only
// then is the correctly rounded division taken. NaN, inf and zero scales give the same
// classes either way (x·inf vs x/0, x·0 vs x/inf, 0·inf and 0/0 both NaN).
__device__ __forceinline__ u32 kr_code(u16 h, float sc, float rc) {
    float x = kr_f16_to_f32(h);
    float v = x * rc;
    const float magic = 12582912.0f; // 1.5·2^23: adding it rounds to an integer, ties to even
    float r = (v + magic) - magic;
    if (fabsf(fabsf(v - r) - 0.5f) < 1e-4f) v = __fdiv_rn(x, sc);
    v = v != v ? 0.0f : fminf(fmaxf(v, -127.0f), 127.0f);
    return (u32)(__float_as_int(v + magic) - 0x4b400000) & 0xffu;
}

__device__ __forceinline__ u32 kr_code2(u32 w, float sc, float rc) {
    return kr_code((u16)(w & 0xffffu), sc, rc) | (kr_code((u16)(w >> 16), sc, rc) << 8);
}

__device__ __forceinline__ u32 kr_warp_max_u32(u32 v) {
    for (int o = 16; o > 0; o >>= 1) { u32 u = __shfl_xor_sync(KR_FULL, v, o); v = v > u ? v : u; }
    return v;
}

__device__ __forceinline__ float kr_scale(u32 mbits) {
    float m = mbits > 0x7c00u ? __int_as_float(0x7fc00000) : kr_f16_to_f32((u16)mbits);
    return m / 127.0f;
}

// One warp per row. Rows of 1024 halves: each lane holds its 32 halves (four 16-byte loads)
// in registers across the max and the coding, so the row is read once. Other row lengths:
// two passes over the row (the second from cache).
extern "C" __global__ void quantize_f16_to_i8(const u16* __restrict__ x, i8* __restrict__ q, float* __restrict__ sc,
                                              u64 n, u64 d, u64 rows) {
    int lane = kr_lane();
    for (u64 r = kr_warp(), nw = kr_nwarps(); r < rows; r += nw) {
        const u16* row = x + r * d;
        i8* qr = q + r * d;
        if (d == 1024) {
            const uint4* r4 = (const uint4*)row;
            uint4 v[4];
#pragma unroll
            for (int k = 0; k < 4; k++) v[k] = r4[k * 32 + lane];
            u32 m = 0;
#pragma unroll
            for (int k = 0; k < 4; k++) m = kr_absmax2(kr_absmax2(kr_absmax2(kr_absmax2(m, v[k].x), v[k].y), v[k].z), v[k].w);
            float s = kr_scale(kr_warp_max_u32(m));
            float rc = 1.0f / s;
            uint2* q2 = (uint2*)qr;
#pragma unroll
            for (int k = 0; k < 4; k++)
                q2[k * 32 + lane] = make_uint2(kr_code2(v[k].x, s, rc) | (kr_code2(v[k].y, s, rc) << 16),
                                               kr_code2(v[k].z, s, rc) | (kr_code2(v[k].w, s, rc) << 16));
            if (lane == 0) sc[r] = s;
        } else {
            u32 m = 0;
            for (u64 j = lane; j < d; j += 32) m = kr_absmax2(m, row[j]);
            float s = kr_scale(kr_warp_max_u32(m));
            float rc = 1.0f / s;
            for (u64 j = lane; j < d; j += 32) qr[j] = (i8)(u8)kr_code(row[j], s, rc);
            if (lane == 0) sc[r] = s;
        }
    }
}

// Byte j of w (a code + 128) as the float code: 2^23 + u has u in its low mantissa bits, so
// building it with one byte permute and subtracting 2^23 + 128 is exact, and avoids the
// quarter-rate int→float conversion.
__device__ __forceinline__ float kr_byte_to_float(u32 w, int j) {
    return __int_as_float(__byte_perm(w, 0x4b000000u, 0x7650u | j)) - 8388736.0f;
}

// Two floats to two halves in one instruction (cvt.rn.f16x2.f32, sm_80+; the first operand
// goes to the upper half), exact round to nearest even like kr_f32_to_f16.
__device__ __forceinline__ u32 kr_f32x2_to_f16x2(float lo, float hi) {
#if __CUDA_ARCH__ >= 800
    u32 r;
    asm("cvt.rn.f16x2.f32 %0, %1, %2;" : "=r"(r) : "f"(hi), "f"(lo));
    return r;
#else
    return (u32)kr_f32_to_f16(lo) | ((u32)kr_f32_to_f16(hi) << 16);
#endif
}

// Eight codes of one row (scale f) to eight halves: one 8-byte load becomes one 16-byte store,
// so a warp's loads and stores are each one contiguous run (sixteen codes to two 16-byte stores
// per thread wrote every other 16 bytes per instruction: 80% of the copy ceiling on the H200).
__device__ __forceinline__ uint4 kr_dequant8(uint2 c, float f) {
    // Flip the sign bits (c + 128 as unsigned bytes) for the int→float trick.
    const u32 w[2] = {c.x ^ 0x80808080u, c.y ^ 0x80808080u};
    u32 o[4];
#pragma unroll
    for (int k = 0; k < 2; k++) {
        float v[4];
#pragma unroll
        for (int j = 0; j < 4; j++) v[j] = __fmul_rn(kr_byte_to_float(w[k], j), f);
        o[2 * k] = kr_f32x2_to_f16x2(v[0], v[1]);
        o[2 * k + 1] = kr_f32x2_to_f16x2(v[2], v[3]);
    }
    return make_uint4(o[0], o[1], o[2], o[3]);
}

// y = f16(fl32(q·s_row)). When d % 8 = 0, groups of eight codes (within one row) in the maps'
// chunked shape (prelude, KR_MAP_U groups per thread); the row of a group in 32 bits where the
// group count allows (a 64-bit division is several times the work).
extern "C" __global__ void dequantize_i8_to_f16(const i8* __restrict__ q, const float* __restrict__ sc,
                                                u16* __restrict__ y, u64 n, u64 d) {
    if ((d & 7) == 0) {
        const uint2* q8 = (const uint2*)q;
        uint4* y8 = (uint4*)y;
        const u64 ng = n >> 3, dg = d >> 3, b = blockDim.x, step = (u64)gridDim.x * b * KR_MAP_U;
        const bool narrow = ng <= 0xffffffffull;
        for (u64 i = (u64)blockIdx.x * b * KR_MAP_U + threadIdx.x; i < ng; i += step) {
            uint2 c[KR_MAP_U];
            float f[KR_MAP_U];
#pragma unroll
            for (int k = 0; k < KR_MAP_U; k++) {
                const u64 g = i + k * b;
                if (g < ng) {
                    c[k] = q8[g];
                    f[k] = sc[narrow ? (u64)((u32)g / (u32)dg) : g / dg];
                }
            }
#pragma unroll
            for (int k = 0; k < KR_MAP_U; k++)
                if (i + k * b < ng) y8[i + k * b] = kr_dequant8(c[k], f[k]);
        }
    } else {
        for (u64 i = kr_tid(), s = kr_nthreads(); i < n; i += s) y[i] = kr_f32_to_f16(__fmul_rn((float)q[i], sc[i / d]));
    }
}
