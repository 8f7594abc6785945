// dot_products on CUDA (kernels/dot_products.md): one warp per row, grid-stride over rows.
// Each lane adds its products in f32 for at most 8 steps (32 terms), then moves the partial to
// f64; rows of ≤ 1024 elements reduce across the warp in f32 (a 5-level tree), longer rows in
// f64.

template <bool NORMS>
__device__ __forceinline__ void kr_rows(const float* __restrict__ a, const float* __restrict__ b,
                                        float* __restrict__ out, u64 rows, u64 d, float eps) {
    int lane = kr_lane();
    bool vec = (d & 3) == 0;
    bool longrow = d > 1024;
    for (u64 r = kr_warp(), nw = kr_nwarps(); r < rows; r += nw) {
        const float* ra = a + r * d;
        const float* rb = b + r * d;
        float p0 = 0.0f, p1 = 0.0f, p2 = 0.0f;
        double q0 = 0.0, q1 = 0.0, q2 = 0.0;
        int steps = 0;
        if (vec) {
            const float4* a4 = (const float4*)ra;
            const float4* b4 = (const float4*)rb;
            for (u64 j = lane; j < (d >> 2); j += 32) {
                float4 x = a4[j], y = b4[j];
                p0 += (x.x * y.x + x.y * y.y) + (x.z * y.z + x.w * y.w);
                if (NORMS) {
                    p1 += (x.x * x.x + x.y * x.y) + (x.z * x.z + x.w * x.w);
                    p2 += (y.x * y.x + y.y * y.y) + (y.z * y.z + y.w * y.w);
                }
                if (++steps == 8) {
                    q0 += p0; q1 += p1; q2 += p2;
                    p0 = p1 = p2 = 0.0f;
                    steps = 0;
                }
            }
        } else {
            for (u64 j = lane; j < d; j += 32) {
                float x = ra[j], y = rb[j];
                p0 = fmaf(x, y, p0);
                if (NORMS) { p1 = fmaf(x, x, p1); p2 = fmaf(y, y, p2); }
                if (++steps == 32) {
                    q0 += p0; q1 += p1; q2 += p2;
                    p0 = p1 = p2 = 0.0f;
                    steps = 0;
                }
            }
        }
        double t0, t1 = 0.0, t2 = 0.0;
        if (longrow) {
            t0 = kr_warp_sum(q0 + p0);
            if (NORMS) { t1 = kr_warp_sum(q1 + p1); t2 = kr_warp_sum(q2 + p2); }
        } else {
            t0 = kr_warp_sumf(p0);
            if (NORMS) { t1 = kr_warp_sumf(p1); t2 = kr_warp_sumf(p2); }
        }
        if (lane == 0) {
            if (NORMS) {
                // The finish in f32 (correctly rounded sqrt and division: a few ulp, far
                // inside elementwise(1e-5, 1e-6)); f64 division and sqrt on one lane per row
                // kept too few loads in flight.
                float na = sqrtf((float)t1), nb = sqrtf((float)t2);
                // max(norm, ε) that keeps NaN (fmaxf would drop it).
                na = na != na ? na : (na > eps ? na : eps);
                nb = nb != nb ? nb : (nb > eps ? nb : eps);
                out[r] = (float)t0 / (na * nb);
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
