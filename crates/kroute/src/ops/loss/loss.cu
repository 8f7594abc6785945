// loss on CUDA (kernels/loss.md), each in ONE launch ending in the prelude's last-block combine
// (kr_finish_sum): per-thread f64 sums over float4 loads of both inputs, block partials in the
// scratch area, the total divided once and rounded once. Terms are formed in f64 from the f32
// inputs (the definition, so no value range needs a second route); bce and kl_div take their
// logs in f32 (logf, log1pf: the accurate library forms, no fast math) and the rest in f64.
// Signature: (a, b, out, n, params..., scratch); cross_entropy adds the row count.

// Σ term(a_i, b_i) of this thread, two float4 loads of each input in flight per step.
template <typename F>
__device__ __forceinline__ double kr_thread_sum2(const float* __restrict__ a, const float* __restrict__ b,
                                                 u64 n, F term) {
    const float4* a4 = (const float4*)a;
    const float4* b4 = (const float4*)b;
    u64 nv = n >> 2, s = kr_nthreads(), i = kr_tid();
    double acc = 0.0;
    for (; i + s < nv; i += 2 * s) {
        float4 x0 = a4[i], x1 = a4[i + s], y0 = b4[i], y1 = b4[i + s];
        double s0 = (term(x0.x, y0.x) + term(x0.y, y0.y)) + (term(x0.z, y0.z) + term(x0.w, y0.w));
        double s1 = (term(x1.x, y1.x) + term(x1.y, y1.y)) + (term(x1.z, y1.z) + term(x1.w, y1.w));
        acc += s0 + s1;
    }
    for (; i < nv; i += s) {
        float4 x = a4[i], y = b4[i];
        acc += (term(x.x, y.x) + term(x.y, y.y)) + (term(x.z, y.z) + term(x.w, y.w));
    }
    u64 t = (nv << 2) + kr_tid();
    if (t < n) acc += term(a[t], b[t]);
    return acc;
}

extern "C" __global__ void loss_mse(const float* p, const float* t, float* out, u64 n, u8* scratch) {
    double acc = kr_thread_sum2(p, t, n, [](float a, float b) {
        double d = (double)a - (double)b;
        return d * d;
    });
    kr_finish_sum(acc, out, (double)n, 0, scratch);
}

extern "C" __global__ void loss_mae(const float* p, const float* t, float* out, u64 n, u8* scratch) {
    double acc = kr_thread_sum2(p, t, n, [](float a, float b) { return fabs((double)a - (double)b); });
    kr_finish_sum(acc, out, (double)n, 0, scratch);
}

// 0.5·d² where |d| < δ, else δ·(|d| − δ/2): NaN fails the compare and the linear branch keeps it.
extern "C" __global__ void loss_huber(const float* p, const float* t, float* out, u64 n, double delta,
                                      u8* scratch) {
    double acc = kr_thread_sum2(p, t, n, [=](float a, float b) {
        double d = (double)a - (double)b, ad = fabs(d);
        return ad < delta ? 0.5 * d * d : delta * (ad - 0.5 * delta);
    });
    kr_finish_sum(acc, out, (double)n, 0, scratch);
}

// max(v, −100) keeping NaN (fmaxf would return −100 for NaN).
__device__ __forceinline__ float kr_clamp_log(float v) { return v < -100.0f ? -100.0f : v; }

extern "C" __global__ void loss_bce(const float* p, const float* y, float* out, u64 n, u8* scratch) {
    double acc = kr_thread_sum2(p, y, n, [](float a, float b) {
        double lp = kr_clamp_log(logf(a)), l1 = kr_clamp_log(log1pf(-a)), yd = b;
        return -(yd * lp + (1.0 - yd) * l1);
    });
    kr_finish_sum(acc, out, (double)n, 0, scratch);
}

// p·ln p − p·lq with 0·ln 0 := 0 (xlogy); divided by the row count R = n / 1000 ('batchmean').
extern "C" __global__ void loss_kl_div(const float* lq, const float* p, float* out, u64 n, u8* scratch) {
    double acc = kr_thread_sum2(lq, p, n, [](float q, float a) {
        double pd = a;
        double xl = a == 0.0f ? 0.0 : pd * (double)logf(a);
        return xl - pd * (double)q;
    });
    kr_finish_sum(acc, out, (double)(n / 1000), 0, scratch);
}

// A warp per row of 1000 logits (250 float4: at most 8 per lane, in registers): the row max, Σ
// exp(x − m) in f32 per lane and f64 across the warp, then lse − x[y] in f64 added by lane 0.
// A NaN the max drops still reaches the sum through exp(NaN − m).
#define KR_CE_C 1000
#define KR_CE_REGS 8

extern "C" __global__ void loss_cross_entropy(const float* __restrict__ x, const u64* __restrict__ y, float* out,
                                              u64 n, u64 rows, u8* scratch) {
    const int lane = kr_lane();
    const u64 nv = KR_CE_C / 4;
    double acc = 0.0;
    for (u64 r = kr_warp(), nw = kr_nwarps(); r < rows; r += nw) {
        const float* xr = x + r * KR_CE_C;
        const u64 c = y[r];
        float4 v[KR_CE_REGS];
        kr_warp_row_load(xr, nv, v);
        float m = KR_NINF;
#pragma unroll
        for (int k = 0; k < KR_CE_REGS; k++)
            if (lane + 32 * k < nv) m = fmaxf(m, fmaxf(fmaxf(v[k].x, v[k].y), fmaxf(v[k].z, v[k].w)));
        m = kr_warp_allmaxf(m);
        float e = 0.0f;
#pragma unroll
        for (int k = 0; k < KR_CE_REGS; k++)
            if (lane + 32 * k < nv)
                e += (expf(v[k].x - m) + expf(v[k].y - m)) + (expf(v[k].z - m) + expf(v[k].w - m));
        double s = kr_warp_allsum((double)e);
        if (lane == 0) {
            if (c < KR_CE_C) {
                acc += ((double)m + log(s)) - (double)xr[c];
            } else {
                u64 key = ((u64)(~(u32)r) << 32) | (c > 0xffffffffull ? 0xffffffffull : c);
                atomicMax((unsigned long long*)(scratch + KR_FLAG), (unsigned long long)key);
            }
        }
    }
    kr_finish_sum(acc, out, (double)rows, 0, scratch);
}
