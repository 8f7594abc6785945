// dot_products on CUDA (kernels/dot_products.md): one warp per row, grid-stride over rows.
// Products and sums are f64 (a product of two f32 values is exact there): f32 products of
// rows of 1e19 overflow and of 1e-20 underflow where the answer is representable, and the
// f64 work stays far below what a memory-bound row loop leaves idle on these GPUs.

template <bool NORMS>
__device__ __forceinline__ void kr_rows(const float* __restrict__ a, const float* __restrict__ b,
                                        float* __restrict__ out, u64 rows, u64 d, float eps) {
    int lane = kr_lane();
    bool vec = (d & 3) == 0;
    for (u64 r = kr_warp(), nw = kr_nwarps(); r < rows; r += nw) {
        const float* ra = a + r * d;
        const float* rb = b + r * d;
        double p0 = 0.0, p1 = 0.0, p2 = 0.0;
        if (vec) {
            const float4* a4 = (const float4*)ra;
            const float4* b4 = (const float4*)rb;
            for (u64 j = lane; j < (d >> 2); j += 32) {
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
        } else {
            for (u64 j = lane; j < d; j += 32) {
                double x = ra[j], y = rb[j];
                p0 = fma(x, y, p0);
                if (NORMS) { p1 = fma(x, x, p1); p2 = fma(y, y, p2); }
            }
        }
        double t0 = kr_warp_sum(p0), t1 = 0.0, t2 = 0.0;
        if (NORMS) { t1 = kr_warp_sum(p1); t2 = kr_warp_sum(p2); }
        if (lane == 0) {
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

extern "C" __global__ void dot_batched(const float* a, const float* b, float* out, u64 n, u64 d, u64 rows) {
    kr_rows<false>(a, b, out, rows, d, 0.0f);
}

extern "C" __global__ void cosine_similarity(const float* a, const float* b, float* out, u64 n, u64 d,
                                             float eps, u64 rows) {
    kr_rows<true>(a, b, out, rows, d, eps);
}
