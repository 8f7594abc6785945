// dot_products on CUDA (kernels/dot_products.md): a group of lanes per row, grid-stride over rows.
// Products and sums are f64 (a product of two f32 values is exact there): f32 products of
// rows of 1e19 overflow and of 1e-20 underflow where the answer is representable, and the
// f64 work stays far below what a memory-bound row loop leaves idle on these GPUs.
//
// Each row belongs to a group of g lanes (g a power of two ≤ 32, chosen by the host for about
// four loads a lane: 8 for rows of 128), so a warp holds 32/g rows. A warp per row spent 30
// shuffles on the three f64 sums of every row of 128 and kept too few loads in flight
// (cosine_similarity at 74% of the copy figure on the H200, SM 68%, DRAM 67%); a group of 8
// reduces in three steps and one shuffle instruction serves four rows.
template <bool NORMS>
__device__ __forceinline__ void kr_rows(const float* __restrict__ a, const float* __restrict__ b,
                                        float* __restrict__ out, u64 rows, u64 d, float eps, u32 g) {
    const u32 lane = kr_lane(), gl = lane & (g - 1), lg = __ffs(g) - 1, per_warp = 32 >> lg;
    const bool vec = (d & 3) == 0;
    // The loop bound is the same for the whole warp, so every lane reaches the shuffles.
    for (u64 r0 = kr_warp() * per_warp, step = kr_nwarps() * per_warp; r0 < rows; r0 += step) {
        const u64 r = r0 + (lane >> lg);
        const bool live = r < rows;
        const float* ra = a + r * d;
        const float* rb = b + r * d;
        double p0 = 0.0, p1 = 0.0, p2 = 0.0;
        if (live && vec) {
            const float4* a4 = (const float4*)ra;
            const float4* b4 = (const float4*)rb;
#pragma unroll 4
            for (u64 j = gl; j < (d >> 2); j += g) {
                float4 x = a4[j], y = b4[j];
                p0 = fma((double)x.x, (double)y.x, p0);
                p0 = fma((double)x.y, (double)y.y, p0);
                p0 = fma((double)x.z, (double)y.z, p0);
                p0 = fma((double)x.w, (double)y.w, p0);
                if (NORMS) {
                    p1 = fma((double)x.x, (double)x.x, p1);
                    p1 = fma((double)x.y, (double)x.y, p1);
                    p1 = fma((double)x.z, (double)x.z, p1);
                    p1 = fma((double)x.w, (double)x.w, p1);
                    p2 = fma((double)y.x, (double)y.x, p2);
                    p2 = fma((double)y.y, (double)y.y, p2);
                    p2 = fma((double)y.z, (double)y.z, p2);
                    p2 = fma((double)y.w, (double)y.w, p2);
                }
            }
        } else if (live) {
#pragma unroll 4
            for (u64 j = gl; j < d; j += g) {
                double x = ra[j], y = rb[j];
                p0 = fma(x, y, p0);
                if (NORMS) { p1 = fma(x, x, p1); p2 = fma(y, y, p2); }
            }
        }
        // xor offsets below g stay inside the group; lane gl = 0 ends with the group's sums.
        for (u32 o = g >> 1; o > 0; o >>= 1) {
            p0 += __shfl_xor_sync(KR_FULL, p0, o);
            if (NORMS) {
                p1 += __shfl_xor_sync(KR_FULL, p1, o);
                p2 += __shfl_xor_sync(KR_FULL, p2, o);
            }
        }
        const double t0 = p0, t1 = p1, t2 = p2;
        if (live && gl == 0) {
            if (NORMS) {
                float c;
                if (t1 > 1e-30 && t1 < 1e30 && t2 > 1e-30 && t2 < 1e30) {
                    // The usual case, finished in f32 (correctly rounded sqrt and division: a
                    // few ulp, far inside elementwise(1e-5, 1e-6)); f64 division and sqrt on
                    // one lane per row kept too few loads in flight.
                    float na = sqrtf((float)t1), nb = sqrtf((float)t2);
                    na = na > eps ? na : eps;
                    nb = nb > eps ? nb : eps;
                    c = (float)t0 / (na * nb);
                } else {
                    // Norms whose squares or product leave the f32 range, and NaN: in f64.
                    double na = sqrt(t1), nb = sqrt(t2), e = (double)eps;
                    // max(norm, ε) that keeps NaN (fmax would drop it).
                    na = na != na ? na : (na > e ? na : e);
                    nb = nb != nb ? nb : (nb > e ? nb : e);
                    c = (float)(t0 / (na * nb));
                }
                out[r] = c;
            } else {
                out[r] = (float)t0;
            }
        }
    }
}

extern "C" __global__ void dot_batched(const float* a, const float* b, float* out, u64 n, u64 d, u64 rows,
                                       u32 g) {
    kr_rows<false>(a, b, out, rows, d, 0.0f, g);
}

extern "C" __global__ void cosine_similarity(const float* a, const float* b, float* out, u64 n, u64 d,
                                             float eps, u64 rows, u32 g) {
    kr_rows<true>(a, b, out, rows, d, eps, g);
}
