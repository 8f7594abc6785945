// prng: one thread per Philox block (four consecutive elements), grid-stride, one 16-byte (or,
// for the u8 mask, 4-byte) store per block; a block that ends past n stores its first n mod 4
// elements one by one. Bit-identical to crate::philox (the normals: within their tolerance). kr_store4 is the prelude's.

extern "C" __global__ void prng_philox(u32* __restrict__ y, u64 n, u64 seed) {
    const u64 blocks = (n + 3) / 4;
    for (u64 j = kr_tid(); j < blocks; j += kr_nthreads()) kr_store4<u32>(y, j, n, kr_philox(j, 0, seed));
}

// u = (w >> 8)·2^-24, y = a + (b − a)·u in double, rounded once: the reference's value exactly.
// (Measured on the H200 at 10^8: 129 µs, 73% of the copy peak, against 109 µs for the bare
// words; the double conversions are the difference. An f32 fma would be within the tolerance
// and likely as fast as the words; it has not yet run on a GPU.)
extern "C" __global__ void prng_uniform_f32(float* __restrict__ y, u64 n, u64 seed, double a, double b) {
    const u64 blocks = (n + 3) / 4;
    const double d = b - a;
    for (u64 j = kr_tid(); j < blocks; j += kr_nthreads()) {
        const uint4 w = kr_philox(j, 0, seed);
        const double s = 0x1p-24;
        const float4 v = make_float4((float)(a + d * ((w.x >> 8) * s)), (float)(a + d * ((w.y >> 8) * s)),
                                     (float)(a + d * ((w.z >> 8) * s)), (float)(a + d * ((w.w >> 8) * s)));
        kr_store4<float>(y, j, n, v);
    }
}

// Box–Muller in f32 with accurate logf (not __logf: its absolute error near 1 ruins r) and
// sincospif of the exact 2·u2.
__device__ __forceinline__ float2 kr_box_muller(u32 w1, u32 w2) {
    const float u1 = (float)((w1 >> 8) + 1) * 0x1p-24f;
    const float u2 = (float)(w2 >> 8) * 0x1p-24f;
    const float r = sqrtf(-2.0f * logf(u1));
    float s, c;
    sincospif(2.0f * u2, &s, &c);
    return make_float2(r * c, r * s);
}

extern "C" __global__ void prng_normal_f32(float* __restrict__ y, u64 n, u64 seed) {
    const u64 blocks = (n + 3) / 4;
    for (u64 j = kr_tid(); j < blocks; j += kr_nthreads()) {
        const uint4 w = kr_philox(j, 0, seed);
        const float2 p = kr_box_muller(w.x, w.y), q = kr_box_muller(w.z, w.w);
        kr_store4<float>(y, j, n, make_float4(p.x, p.y, q.x, q.y));
    }
}

// m = [(w >> 8) < T], T = ceil(keep·2^24) computed on the host.
extern "C" __global__ void prng_dropout_mask(u8* __restrict__ m, u64 n, u64 seed, u32 threshold) {
    const u64 blocks = (n + 3) / 4;
    for (u64 j = kr_tid(); j < blocks; j += kr_nthreads()) {
        const uint4 w = kr_philox(j, 0, seed);
        const uchar4 v = make_uchar4((w.x >> 8) < threshold, (w.y >> 8) < threshold, (w.z >> 8) < threshold,
                                     (w.w >> 8) < threshold);
        kr_store4<u8>(m, j, n, v);
    }
}
