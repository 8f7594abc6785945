// fused_custom on CUDA (kernels/fused_custom.md). This source is compiled after the sources whose
// pieces it uses (cuda.rs joins them): normalization.cu (KrNorm: f64 row statistics, the f32
// affine with the mean's rounding folded back), optimizers.cu (kr_adam1, KR_OPT_LOOP,
// grad_clip_norm_sumsq) and scans.cu (the decoupled look-back: kr_tiles, kr_ticket,
// kr_block_exclusive_chunks, kr_look_back, kr_tiles_done).

// ---- fused_layernorm_dropout_residual ------------------------------------------------------
// A warp per row of 1024 (256 float4: 8 per lane, in registers): layer_norm's f64 statistics and
// f32 affine, then y = mask ? fma(γx̂ + β, 1/keep, res) : res (dropped elements selected, never
// multiplied). Mask bytes other than 0/1 set the scratch flag, which the host reads.
#define KR_LND 1024
#define KR_LND_REGS 8

extern "C" __global__ void fused_layernorm_dropout_residual(const float* __restrict__ x, const float* __restrict__ res,
                                                            const float* __restrict__ g, const float* __restrict__ b,
                                                            const u8* __restrict__ mask, float* __restrict__ y, u64 n,
                                                            float eps, float keep, float ik, u64 rows, u8* scratch) {
    const int lane = kr_lane();
    const u64 nv = KR_LND / 4;
    u32 bad = 0;
    for (u64 r = kr_warp(), nw = kr_nwarps(); r < rows; r += nw) {
        const float* xr = x + r * KR_LND;
        float4 v[KR_LND_REGS];
        kr_warp_row_load(xr, nv, v);
        double s = 0.0;
#pragma unroll
        for (int k = 0; k < KR_LND_REGS; k++)
            s += ((double)v[k].x + (double)v[k].y) + ((double)v[k].z + (double)v[k].w);
        const double mu = kr_warp_allsum(s) / (double)KR_LND;
        double s2 = 0.0;
#pragma unroll
        for (int k = 0; k < KR_LND_REGS; k++) {
            double a = (double)v[k].x - mu, bb = (double)v[k].y - mu;
            double c = (double)v[k].z - mu, d = (double)v[k].w - mu;
            s2 += (a * a + bb * bb) + (c * c + d * d);
        }
        const KrNorm nm = kr_norm(mu, kr_warp_allsum(s2), (double)KR_LND, (double)eps);
        const float4* r4 = (const float4*)(res + r * KR_LND);
        const u32* m4 = (const u32*)(mask + r * KR_LND);
        float4* y4 = (float4*)(y + r * KR_LND);
#pragma unroll
        for (int k = 0; k < KR_LND_REGS; k++) {
            const u64 j = lane + 32 * k;
            const float4 q = v[k], gv = ((const float4*)g)[j], bv = ((const float4*)b)[j], rv = r4[j];
            const u32 w = m4[j];
            bad |= w;
            float4 o;
            o.x = (w & 0xffu) ? fmaf(kr_norm_apply(nm, q.x, gv.x, bv.x), ik, rv.x) : rv.x;
            o.y = (w & 0xff00u) ? fmaf(kr_norm_apply(nm, q.y, gv.y, bv.y), ik, rv.y) : rv.y;
            o.z = (w & 0xff0000u) ? fmaf(kr_norm_apply(nm, q.z, gv.z, bv.z), ik, rv.z) : rv.z;
            o.w = (w & 0xff000000u) ? fmaf(kr_norm_apply(nm, q.w, gv.w, bv.w), ik, rv.w) : rv.w;
            y4[j] = o;
        }
    }
    if (bad & 0xfefefefeu) atomicOr((u32*)(scratch + KR_FLAG), 1u);
}

// ---- fused_scan_compact --------------------------------------------------------------------
// compact_if's tile (128 threads × 8 chunks × 4 = 4096 elements) with the predicate x > t and a
// second output: each thread puts its kept words and their offsets in the tile (u16) in order
// into shared memory; the look-back gives the tile's output offset; the block copies values and
// indices (tile start + offset) out with consecutive threads on consecutive entries. No scan
// array and no predicate mask reach memory. The last tile writes the count.
struct KrFusedCompactShared {
    u32 sh[KR_COMPACT_CHUNKS][KR_COMPACT_THREADS / 32];
    u32 kept_words[KR_CTILE];
    u16 kept_at[KR_CTILE];
    u32 ticket;
    u64 base;
};

template <typename N>
__device__ __forceinline__ void kr_scan_compact(const u32* __restrict__ x, u64* count, u32* __restrict__ values,
                                                u64* __restrict__ indices, u64 n, float th, u8* state, u32 epoch,
                                                u64 tiles, u64 cap, KrFusedCompactShared& shm) {
    const KrTiles t = kr_tiles(state, cap);
    for (u64 tile = kr_ticket(t, &shm.ticket); tile < tiles; tile = kr_ticket(t, &shm.ticket)) {
        const u64 start = tile * KR_CTILE;
        const u64 i0 = start + (u64)threadIdx.x * 4;
        u32 v[KR_COMPACT_CHUNKS][4];
        u32 keep[KR_COMPACT_CHUNKS];  // bit k: element k of the chunk is kept
#pragma unroll
        for (int c = 0; c < KR_COMPACT_CHUNKS; c++) {
            const u64 i = i0 + c * (KR_COMPACT_THREADS * 4);
            kr_load4(x, i, n, v[c]);
            keep[c] = 0;
#pragma unroll
            for (int k = 0; k < 4; k++) keep[c] |= (u32)(i + k < n && __uint_as_float(v[c][k]) > th) << k;
        }
        u32 s[KR_COMPACT_CHUNKS], pre[KR_COMPACT_CHUNKS];
#pragma unroll
        for (int c = 0; c < KR_COMPACT_CHUNKS; c++) s[c] = __popc(keep[c]);
        const u32 aggregate = kr_block_exclusive_chunks<KR_COMPACT_CHUNKS, KR_COMPACT_THREADS / 32>(s, pre, shm.sh);
#pragma unroll
        for (int c = 0; c < KR_COMPACT_CHUNKS; c++) {
            u32 o = pre[c];
#pragma unroll
            for (int k = 0; k < 4; k++) {
                if (keep[c] >> k & 1) {
                    shm.kept_words[o] = v[c][k];
                    shm.kept_at[o] = (u16)(threadIdx.x * 4 + c * (KR_COMPACT_THREADS * 4) + k);
                    o++;
                }
            }
        }
        if (threadIdx.x < 32) {
            const u64 e = kr_look_back<N>(t, tile, epoch, (N)aggregate);
            if (threadIdx.x == 0) {
                shm.base = e;
                if (tile == tiles - 1) *count = e + aggregate;
            }
        }
        __syncthreads();
        const u64 base = shm.base;
        for (u32 j = threadIdx.x; j < aggregate; j += KR_COMPACT_THREADS) {
            values[base + j] = shm.kept_words[j];
            indices[base + j] = start + shm.kept_at[j];
        }
    }
    kr_tiles_done(t);
}

extern "C" __global__ void __launch_bounds__(KR_COMPACT_THREADS)
    fused_scan_compact(const u32* x, u64* count, u32* values, u64* indices, u64 n, float th, u8* state, u32 epoch,
                       u64 tiles, u64 cap) {
    __shared__ KrFusedCompactShared m;
    if (n >> 32) kr_scan_compact<u64>(x, count, values, indices, n, th, state, epoch, tiles, cap, m);
    else kr_scan_compact<u32>(x, count, values, indices, n, th, state, epoch, tiles, cap, m);
}

// ---- fused_adam_clip_update ----------------------------------------------------------------
// Phase 1 is optimizers' grad_clip_norm_sumsq (Σ g² in f64 into area[0], total = f32 √). Phase 2
// here: coef = min(1, c/(‖g‖ + 1e-6)) in f64 (NaN for a NaN norm), ĝ = f32(coef)·g (in f64 where
// coef is not 0 or a normal f32), then opt_adam's element step on ĝ; ĝ is not written.
template <bool WIDE>
__device__ __forceinline__ void kr_adam_clip(const float* __restrict__ p, const float* __restrict__ g,
                                             const float* __restrict__ m, const float* __restrict__ v,
                                             float* __restrict__ po, float* __restrict__ mo, float* __restrict__ vo,
                                             u64 n, const KrAdam& k, float cf, double coef) {
    const float4 *p4 = (const float4*)p, *g4 = (const float4*)g, *m4 = (const float4*)m, *v4 = (const float4*)v;
    float4 *po4 = (float4*)po, *mo4 = (float4*)mo, *vo4 = (float4*)vo;
#define KR_GC(e) (WIDE ? (float)((double)(e) * coef) : (e) * cf)
#define LOAD(u, j) float4 P##u = p4[j], G##u = g4[j], M##u = m4[j], V##u = v4[j], PO##u, MO##u, VO##u;
#define ELEM4(u)                                                                             \
    kr_adam1<WIDE>(P##u.x, KR_GC(G##u.x), M##u.x, V##u.x, PO##u.x, MO##u.x, VO##u.x, k);     \
    kr_adam1<WIDE>(P##u.y, KR_GC(G##u.y), M##u.y, V##u.y, PO##u.y, MO##u.y, VO##u.y, k);     \
    kr_adam1<WIDE>(P##u.z, KR_GC(G##u.z), M##u.z, V##u.z, PO##u.z, MO##u.z, VO##u.z, k);     \
    kr_adam1<WIDE>(P##u.w, KR_GC(G##u.w), M##u.w, V##u.w, PO##u.w, MO##u.w, VO##u.w, k);
#define STORE(u, j) po4[j] = PO##u; mo4[j] = MO##u; vo4[j] = VO##u;
#define TAIL(t) kr_adam1<WIDE>(p[t], KR_GC(g[t]), m[t], v[t], po[t], mo[t], vo[t], k);
    KR_OPT_LOOP(LOAD, ELEM4, STORE, TAIL)
#undef LOAD
#undef ELEM4
#undef STORE
#undef TAIL
#undef KR_GC
}

extern "C" __global__ void fused_adam_clip_update(const float* p, const float* g, const float* m, const float* v,
                                                  float* po, float* mo, float* vo, float* total, u64 n,
                                                  double max_norm, double lr, double beta1, double beta2, double eps,
                                                  u64 t, float b1, float c1, float b2, float c2, float step, float sbc2,
                                                  float epsf, float wd, double bc1, double bc2, u32 wide,
                                                  const double* area) {
    const double tot = sqrt(area[0]);
    const double coef = isnan(tot) ? tot : fmin(1.0, max_norm / (tot + 1e-6));
    const float cf = (float)coef;
    const bool narrow = coef == 0.0 || (fabsf(cf) >= 1.17549435e-38f && fabsf(cf) <= 3.40282347e38f);
    KrAdam k = {b1, c1, b2, c2, step, sbc2, epsf, wd, lr, beta1, beta2, eps, 1.0, bc1, bc2};
    if (wide || !narrow) kr_adam_clip<true>(p, g, m, v, po, mo, vo, n, k, cf, coef);
    else kr_adam_clip<false>(p, g, m, v, po, mo, vo, n, k, cf, coef);
}

// ---- fused_softmax_cross_entropy -----------------------------------------------------------
// A warp per row of 256 logits (64 float4: 2 per lane, in registers): the row max, e = exp(x − m)
// with Σ e in f32 per lane and f64 across the warp, grad = e·f32(1/(S·R)) written from the
// registers (the target entry (e_t/S − 1)/R in f64), and the row loss m + ln S − x_t in f64
// added by lane 0, reduced over rows by the last-block combine. A target ≥ 256 sets the flag as
// loss_cross_entropy's does.
#define KR_XC 256
#define KR_XC_REGS 2

extern "C" __global__ void fused_softmax_cross_entropy(const float* __restrict__ x, const u64* __restrict__ y,
                                                       float* loss, float* __restrict__ grad, u64 n, u64 rows,
                                                       u8* scratch) {
    const int lane = kr_lane();
    const u64 nv = KR_XC / 4;
    const double inv_r = 1.0 / (double)rows;
    double acc = 0.0;
    for (u64 r = kr_warp(), nw = kr_nwarps(); r < rows; r += nw) {
        const float* xr = x + r * KR_XC;
        const u64 c = y[r];
        float4 v[KR_XC_REGS];
        kr_warp_row_load(xr, nv, v);
        float m = KR_NINF;
#pragma unroll
        for (int k = 0; k < KR_XC_REGS; k++) m = fmaxf(m, fmaxf(fmaxf(v[k].x, v[k].y), fmaxf(v[k].z, v[k].w)));
        m = kr_warp_allmaxf(m);
        float e = 0.0f;
#pragma unroll
        for (int k = 0; k < KR_XC_REGS; k++) {
            // A NaN the max dropped still reaches the sum (exp(NaN − m)).
            v[k] = make_float4(expf(v[k].x - m), expf(v[k].y - m), expf(v[k].z - m), expf(v[k].w - m));
            e += (v[k].x + v[k].y) + (v[k].z + v[k].w);
        }
        const double s = kr_warp_allsum((double)e);
        if (c >= KR_XC) {
            if (lane == 0) {
                u64 key = ((u64)(~(u32)r) << 32) | (c > 0xffffffffull ? 0xffffffffull : c);
                atomicMax((unsigned long long*)(scratch + KR_FLAG), (unsigned long long)key);
            }
            continue;
        }
        const float kf = (float)(inv_r / s);
        float4* g4 = (float4*)(grad + r * KR_XC);
#pragma unroll
        for (int k = 0; k < KR_XC_REGS; k++) {
            const u64 j = lane + 32 * k;
            float4 o = make_float4(v[k].x * kf, v[k].y * kf, v[k].z * kf, v[k].w * kf);
            if (c >> 2 == j) {
                const float et = (&v[k].x)[c & 3];
                (&o.x)[c & 3] = (float)(((double)et / s - 1.0) * inv_r);
            }
            g4[j] = o;
        }
        if (lane == 0) acc += ((double)m + log(s)) - (double)xr[c];
    }
    kr_finish_sum(acc, loss, (double)rows, 0, scratch);
}
