// softmax on CUDA (kernels/softmax.md): one warp per row, grid-stride over rows (launch `Rows`:
// (x, y, n, d, rows)). A row of d ≤ 1024 with d a multiple of 4 is held in registers (up to 8
// float4 per lane, all loads issued before the first use): x is read once and y written once.
// Other row lengths take three (softmax_online: two) strided passes over the row, whose repeats
// come from L1/L2. expf and logf are the accurate library forms (no fast math); each lane sums its
// exponentials in f64 and the warp adds the lanes' sums in f64.

#define KR_SM_REGS 8  // float4 per lane: rows up to 32 · 8 · 4 = 1024

// softmax_stable, log_softmax and softmax_online share the skeleton; KIND selects.
#define KR_STABLE 0
#define KR_ONLINE 1
#define KR_LOG 2

// One step of the online normaliser (Milakov & Gimelshein) on a lane's (m, d): m' = max(m, x)
// keeping NaN, d' = d·e^{m − m'} + e^{x − m'}; while m' = −inf every term is e^{NaN}, and the
// entry's convention keeps d = 0 there.
__device__ __forceinline__ void kr_online_push(float& m, double& d, float x) {
    float mn = kr_nanmax(m, x);
    double dn = d * (double)expf(m - mn) + (double)expf(x - mn);
    d = (mn == KR_NINF) ? 0.0 : dn;
    m = mn;
}

// (m, d) ⊕ (m', d') across the warp: every lane ends with the row's (M, D). A partial with
// m = −inf (only masked entries, or none) contributes 0.
__device__ __forceinline__ void kr_online_warp(float& m, double& d) {
    for (int o = 16; o > 0; o >>= 1) {
        float m2 = __shfl_xor_sync(KR_FULL, m, o);
        double d2 = __shfl_xor_sync(KR_FULL, d, o);
        float mx = kr_nanmax(m, m2);
        double t1 = (m == KR_NINF) ? 0.0 : d * (double)expf(m - mx);
        double t2 = (m2 == KR_NINF) ? 0.0 : d2 * (double)expf(m2 - mx);
        m = mx;
        d = t1 + t2;
    }
}

// Apply to one value once (m, k) are known: e·k for softmax (e = exp(x − m) given), (x − m) − k
// for log_softmax.
template <int KIND>
__device__ __forceinline__ float kr_sm_out(float x, float e, float m, float k) {
    return KIND == KR_LOG ? (x - m) - k : e * k;
}

template <int KIND>
__device__ __forceinline__ void kr_softmax_rows(const float* __restrict__ x, float* __restrict__ y,
                                                u64 rows, u64 d) {
    const int lane = kr_lane();
    const u64 nv = d >> 2;
    const bool regs = (d & 3) == 0 && d <= 32 * 4 * KR_SM_REGS;
    for (u64 r = kr_warp(), nw = kr_nwarps(); r < rows; r += nw) {
        const float* xr = x + r * d;
        float* yr = y + r * d;
        float m;
        double s;
        if (regs) {
            float4 v[KR_SM_REGS];
            kr_warp_row_load(xr, nv, v);
            if (KIND == KR_ONLINE) {
                // One pass: per float4 a NaN-keeping max, one rescale, four new terms.
                m = KR_NINF;
                s = 0.0;
#pragma unroll
                for (int k = 0; k < KR_SM_REGS; k++) {
                    if (lane + 32 * k < nv) {
                        float4 q = v[k];
                        float mt = kr_nanmax(kr_nanmax(q.x, q.y), kr_nanmax(q.z, q.w));
                        float mn = kr_nanmax(m, mt);
                        double dn = s * (double)expf(m - mn);
                        dn += (double)(expf(q.x - mn) + expf(q.y - mn)) + (double)(expf(q.z - mn) + expf(q.w - mn));
                        s = (mn == KR_NINF) ? 0.0 : dn;
                        m = mn;
                    }
                }
                kr_online_warp(m, s);
            } else {
                m = KR_NINF;
#pragma unroll
                for (int k = 0; k < KR_SM_REGS; k++) {
                    if (lane + 32 * k < nv) {
                        float4 q = v[k];
                        m = fmaxf(m, fmaxf(fmaxf(q.x, q.y), fmaxf(q.z, q.w)));
                    }
                }
                // A NaN dropped here still reaches the sum (exp(NaN − m)), so the row is NaN.
                m = kr_warp_allmaxf(m);
                double acc = 0.0;
#pragma unroll
                for (int k = 0; k < KR_SM_REGS; k++) {
                    if (lane + 32 * k < nv) {
                        float4 q = v[k];
                        float4 e = make_float4(expf(q.x - m), expf(q.y - m), expf(q.z - m), expf(q.w - m));
                        acc += (double)((e.x + e.y) + (e.z + e.w));
                        if (KIND == KR_STABLE) v[k] = e;
                    }
                }
                s = kr_warp_allsum(acc);
            }
            // softmax: the reciprocal of the sum (1/0 = inf for an all −inf row, whose
            // exponentials are NaN); log_softmax: log Σ.
            float k = KIND == KR_LOG ? (float)log(s) : (float)(1.0 / s);
            float4* y4 = (float4*)yr;
#pragma unroll
            for (int kk = 0; kk < KR_SM_REGS; kk++) {
                u64 j = lane + 32 * kk;
                if (j < nv) {
                    float4 q = v[kk];
                    if (KIND == KR_ONLINE)
                        q = make_float4(expf(q.x - m), expf(q.y - m), expf(q.z - m), expf(q.w - m));
                    y4[j] = make_float4(kr_sm_out<KIND>(q.x, q.x, m, k), kr_sm_out<KIND>(q.y, q.y, m, k),
                                        kr_sm_out<KIND>(q.z, q.z, m, k), kr_sm_out<KIND>(q.w, q.w, m, k));
                }
            }
        } else {
            if (KIND == KR_ONLINE) {
                m = KR_NINF;
                s = 0.0;
                for (u64 j = lane; j < d; j += 32) kr_online_push(m, s, xr[j]);
                kr_online_warp(m, s);
            } else {
                m = KR_NINF;
                for (u64 j = lane; j < d; j += 32) m = fmaxf(m, xr[j]);
                m = kr_warp_allmaxf(m);
                double acc = 0.0;
                for (u64 j = lane; j < d; j += 32) acc += (double)expf(xr[j] - m);
                s = kr_warp_allsum(acc);
            }
            float k = KIND == KR_LOG ? (float)log(s) : (float)(1.0 / s);
            for (u64 j = lane; j < d; j += 32) {
                float a = xr[j];
                yr[j] = kr_sm_out<KIND>(a, KIND == KR_LOG ? 0.0f : expf(a - m), m, k);
            }
        }
    }
}

extern "C" __global__ void softmax_stable(const float* x, float* y, u64 n, u64 d, u64 rows) {
    kr_softmax_rows<KR_STABLE>(x, y, rows, d);
}

extern "C" __global__ void softmax_online(const float* x, float* y, u64 n, u64 d, u64 rows) {
    kr_softmax_rows<KR_ONLINE>(x, y, rows, d);
}

extern "C" __global__ void log_softmax(const float* x, float* y, u64 n, u64 d, u64 rows) {
    kr_softmax_rows<KR_LOG>(x, y, rows, d);
}
