// normalization on CUDA (kernels/normalization.md). Statistics in f64 (the mean exact to f64
// rounding, nothing overflows or underflows), the output one f32 fma chain per element with the
// mean's f32 rounding folded back in (δ), and an f64 route for runs whose statistics leave the
// f32 range: the same arithmetic as the CPU's (cpu.rs, `Norm`).
//
// layer_norm, rms_norm and group_norm: one warp per run (a row, or a group of (C/G)·L contiguous
// elements), grid-stride over runs. A run of at most 1024 elements, a multiple of 4 (for
// group_norm also L a multiple of 4, so a float4 never straddles two channels), is held in
// registers: x read once, y written once. Other runs take three strided passes.
// batch_norm: per (chunk of rows, column) f64 moments shifted by the chunk's first row
// (batch_norm_partial), a per-column merge by Chan's formula that writes mean, var and the
// output coefficients (batch_norm_finish), then y (batch_norm).

#define KR_NRM_REGS 8  // float4 per lane: runs up to 32 · 8 · 4 = 1024

struct KrNorm {
    double mu, rstd;
    float c, r, delta;
    bool wide;
};

// From a run's mean μ and sq = Σ(x − μ)² over n values: rstd = 1/sqrt(sq/n + ε), c = f32(μ),
// r = f32(rstd), δ = f32((μ − c)·rstd); `wide` when μ or rstd is not a finite normal f32, or
// deviations |x − μ| ≤ sqrt(sq) could overflow x − c.
__device__ __forceinline__ KrNorm kr_norm(double mu, double sq, double n, double eps) {
    KrNorm k;
    k.mu = mu;
    k.rstd = 1.0 / sqrt(sq / n + eps);
    k.c = (float)mu;
    k.r = (float)k.rstd;
    k.delta = (float)((mu - (double)k.c) * k.rstd);
    float ar = fabsf(k.r);
    k.wide = !(isfinite(mu) && sq < 1e76 && ar >= 1.17549435e-38f && ar <= 3.40282347e38f);
    return k;
}

// γ·x̂ + β (β = 0 for rms_norm).
__device__ __forceinline__ float kr_norm_apply(const KrNorm& k, float x, float g, float b) {
    if (!k.wide) return fmaf(g, fmaf(x - k.c, k.r, -k.delta), b);
    return (float)((double)g * (((double)x - k.mu) * k.rstd) + (double)b);
}

#define KR_LAYER 0
#define KR_RMS 1
#define KR_GROUP 2

// Runs of `len` elements; run k's affine index for element j: j (layer, rms), or for group_norm
// (k mod G)·(C/G) + ⌊j / L⌋ with cpg = C/G channels per group.
template <int KIND>
__device__ __forceinline__ u64 kr_channel(u64 k, u64 j, u64 groups, u64 cpg, u64 l) {
    return KIND == KR_GROUP ? (k % groups) * cpg + j / l : j;
}

template <int KIND>
__device__ __forceinline__ void kr_norm_runs(const float* __restrict__ x, const float* __restrict__ g,
                                             const float* __restrict__ b, float* __restrict__ y,
                                             u64 runs, u64 len, double eps, u64 groups, u64 cpg, u64 l) {
    const int lane = kr_lane();
    const u64 nv = len >> 2;
    const bool regs = (len & 3) == 0 && len <= 32 * 4 * KR_NRM_REGS && (KIND != KR_GROUP || (l & 3) == 0);
    for (u64 r = kr_warp(), nw = kr_nwarps(); r < runs; r += nw) {
        const float* xr = x + r * len;
        float* yr = y + r * len;
        double mu = 0.0, sq = 0.0;
        if (regs) {
            float4 v[KR_NRM_REGS];
            kr_warp_row_load(xr, nv, v);
            if (KIND != KR_RMS) {
                double s = 0.0;
#pragma unroll
                for (int k = 0; k < KR_NRM_REGS; k++)
                    if (lane + 32 * k < nv)
                        s += ((double)v[k].x + (double)v[k].y) + ((double)v[k].z + (double)v[k].w);
                mu = kr_warp_allsum(s) / (double)len;
            }
            double s2 = 0.0;
#pragma unroll
            for (int k = 0; k < KR_NRM_REGS; k++) {
                if (lane + 32 * k < nv) {
                    double a = (double)v[k].x - mu, bb = (double)v[k].y - mu;
                    double c = (double)v[k].z - mu, d = (double)v[k].w - mu;
                    s2 += (a * a + bb * bb) + (c * c + d * d);
                }
            }
            sq = kr_warp_allsum(s2);
            const KrNorm nm = kr_norm(mu, sq, (double)len, eps);
            float4* y4 = (float4*)yr;
#pragma unroll
            for (int k = 0; k < KR_NRM_REGS; k++) {
                u64 j = lane + 32 * k;
                if (j < nv) {
                    float4 q = v[k], gv, bv = make_float4(0.f, 0.f, 0.f, 0.f);
                    if (KIND == KR_GROUP) {
                        // Four elements of one channel (L is a multiple of 4).
                        u64 ch = kr_channel<KIND>(r, 4 * j, groups, cpg, l);
                        gv = make_float4(g[ch], g[ch], g[ch], g[ch]);
                        bv = make_float4(b[ch], b[ch], b[ch], b[ch]);
                    } else {
                        gv = ((const float4*)g)[j];
                        if (KIND == KR_LAYER) bv = ((const float4*)b)[j];
                    }
                    y4[j] = make_float4(kr_norm_apply(nm, q.x, gv.x, bv.x), kr_norm_apply(nm, q.y, gv.y, bv.y),
                                        kr_norm_apply(nm, q.z, gv.z, bv.z), kr_norm_apply(nm, q.w, gv.w, bv.w));
                }
            }
        } else {
            if (KIND != KR_RMS) {
                double s = 0.0;
                for (u64 j = lane; j < len; j += 32) s += (double)xr[j];
                mu = kr_warp_allsum(s) / (double)len;
            }
            double s2 = 0.0;
            for (u64 j = lane; j < len; j += 32) {
                double a = (double)xr[j] - mu;
                s2 += a * a;
            }
            sq = kr_warp_allsum(s2);
            const KrNorm nm = kr_norm(mu, sq, (double)len, eps);
            for (u64 j = lane; j < len; j += 32) {
                u64 ch = kr_channel<KIND>(r, j, groups, cpg, l);
                yr[j] = kr_norm_apply(nm, xr[j], g[ch], KIND == KR_RMS ? 0.0f : b[ch]);
            }
        }
    }
}

extern "C" __global__ void layer_norm(const float* x, const float* g, const float* b, float* y, u64 n, u64 d,
                                      double eps, u64 rows) {
    kr_norm_runs<KR_LAYER>(x, g, b, y, rows, d, eps, 1, 1, 1);
}

extern "C" __global__ void rms_norm(const float* x, const float* g, float* y, u64 n, u64 d, double eps, u64 rows) {
    kr_norm_runs<KR_RMS>(x, g, g, y, rows, d, eps, 1, 1, 1);
}

// Extras after the parameters: C, L and the run count B·G.
extern "C" __global__ void group_norm(const float* x, const float* g, const float* b, float* y, u64 n,
                                      u64 groups, double eps, u64 c, u64 l, u64 runs) {
    u64 cpg = c / groups;
    kr_norm_runs<KR_GROUP>(x, g, b, y, runs, cpg * l, eps, groups, cpg, l);
}

// ---- batch_norm -------------------------------------------------------------------------------

// Per (chunk, column) item, consecutive threads on consecutive columns (coalesced rows): over the
// chunk's rows, Σx, Σ(x − k) and Σ(x − k)² in f64 with k the chunk's first row; writes
// part[item] = (Σx, m2 = Σ(x − k)² − (Σ(x − k))²/n ≥ 0, NaN kept).
extern "C" __global__ void batch_norm_partial(const float* __restrict__ x, double2* __restrict__ part, u64 rows,
                                              u64 d, u64 per, u64 chunks) {
    for (u64 it = kr_tid(), s = kr_nthreads(); it < chunks * d; it += s) {
        u64 c = it / d, j = it - c * d;
        u64 r0 = c * per, r1 = r0 + per < rows ? r0 + per : rows;
        const float* col = x + j;
        double k = (double)col[r0 * d];
        double sx = 0.0, t1 = 0.0, t2 = 0.0;
        u64 r = r0;
        for (; r + 4 <= r1; r += 4) {
            float a0 = col[r * d], a1 = col[(r + 1) * d], a2 = col[(r + 2) * d], a3 = col[(r + 3) * d];
            double d0 = (double)a0 - k, d1 = (double)a1 - k, d2 = (double)a2 - k, d3 = (double)a3 - k;
            sx += ((double)a0 + (double)a1) + ((double)a2 + (double)a3);
            t1 += (d0 + d1) + (d2 + d3);
            t2 += (d0 * d0 + d1 * d1) + (d2 * d2 + d3 * d3);
        }
        for (; r < r1; r++) {
            float a = col[r * d];
            double dd = (double)a - k;
            sx += (double)a;
            t1 += dd;
            t2 += dd * dd;
        }
        double n = (double)(r1 - r0);
        double m2 = t2 - t1 * t1 / n;
        part[it] = make_double2(sx, m2 < 0.0 ? 0.0 : m2);
    }
}

// Per column: μ = Σx / B (Σx kept apart: two chunks' +inf stay +inf), m2 = Σ_c m2_c + n_c(μ_c − μ)²
// (Chan), mean and var written, and the output coefficients: coef[j] = (c, a = γ·r, b = β − γ·δ,
// wide) and wide[j] = (μ, rstd) for the f64 route.
extern "C" __global__ void batch_norm_finish(const float* __restrict__ g, const float* __restrict__ b,
                                             const double2* __restrict__ part, float4* __restrict__ coef,
                                             double2* __restrict__ wide, float* __restrict__ mean,
                                             float* __restrict__ var, u64 rows, u64 d, double eps, u64 per,
                                             u64 chunks) {
    for (u64 j = kr_tid(), s = kr_nthreads(); j < d; j += s) {
        double total = 0.0;
        for (u64 c = 0; c < chunks; c++) total += part[c * d + j].x;
        double mu = total / (double)rows, m2 = 0.0;
        for (u64 c = 0; c < chunks; c++) {
            double2 p = part[c * d + j];
            double n = (double)(((c + 1) * per < rows ? (c + 1) * per : rows) - c * per);
            double dm = p.x / n - mu;
            m2 += p.y + n * dm * dm;
        }
        mean[j] = (float)mu;
        var[j] = (float)(m2 / (double)rows);
        KrNorm nm = kr_norm(mu, m2, (double)rows, eps);
        double gj = (double)g[j];
        float a = (float)(gj * (double)nm.r), bb = (float)((double)b[j] - gj * (double)nm.delta);
        bool w = nm.wide || !isfinite(a) || !isfinite(bb);
        coef[j] = make_float4(nm.c, a, bb, w ? 1.0f : 0.0f);
        wide[j] = make_double2(nm.mu, nm.rstd);
    }
}

__device__ __forceinline__ float kr_bn_out(float v, float4 cf, double2 w, float g, float b) {
    if (cf.w == 0.0f) return fmaf(v - cf.x, cf.y, cf.z);
    return (float)((double)g * (((double)v - w.x) * w.y) + (double)b);
}

// y row by row: a block takes four rows at a time (all loads issued first), its threads the
// columns (float4 where d is a multiple of 4).
extern "C" __global__ void batch_norm(const float* __restrict__ x, const float* __restrict__ g,
                                      const float* __restrict__ b, float* __restrict__ y, float* mean, float* var,
                                      u64 n, u64 d, double eps, const float4* __restrict__ coef,
                                      const double2* __restrict__ wide, u64 rows) {
    for (u64 r0 = 4 * (u64)blockIdx.x; r0 < rows; r0 += 4 * (u64)gridDim.x) {
        if ((d & 3) == 0) {
            for (u64 j = threadIdx.x; j < (d >> 2); j += blockDim.x) {
                float4 v[4];
#pragma unroll
                for (int k = 0; k < 4; k++)
                    if (r0 + k < rows) v[k] = ((const float4*)(x + (r0 + k) * d))[j];
                float4 c0 = coef[4 * j], c1 = coef[4 * j + 1], c2 = coef[4 * j + 2], c3 = coef[4 * j + 3];
                bool any = c0.w != 0.0f || c1.w != 0.0f || c2.w != 0.0f || c3.w != 0.0f;
#pragma unroll
                for (int k = 0; k < 4; k++) {
                    if (r0 + k >= rows) break;
                    float4 q = v[k], o;
                    if (!any) {
                        o = make_float4(fmaf(q.x - c0.x, c0.y, c0.z), fmaf(q.y - c1.x, c1.y, c1.z),
                                        fmaf(q.z - c2.x, c2.y, c2.z), fmaf(q.w - c3.x, c3.y, c3.z));
                    } else {
                        u64 jj = 4 * j;
                        o = make_float4(kr_bn_out(q.x, c0, wide[jj], g[jj], b[jj]),
                                        kr_bn_out(q.y, c1, wide[jj + 1], g[jj + 1], b[jj + 1]),
                                        kr_bn_out(q.z, c2, wide[jj + 2], g[jj + 2], b[jj + 2]),
                                        kr_bn_out(q.w, c3, wide[jj + 3], g[jj + 3], b[jj + 3]));
                    }
                    ((float4*)(y + (r0 + k) * d))[j] = o;
                }
            }
        } else {
            for (u64 j = threadIdx.x; j < d; j += blockDim.x) {
                float4 cf = coef[j];
                for (u64 k = 0; k < 4 && r0 + k < rows; k++) {
                    u64 e = (r0 + k) * d + j;
                    y[e] = kr_bn_out(x[e], cf, wide[j], g[j], b[j]);
                }
            }
        }
    }
}
