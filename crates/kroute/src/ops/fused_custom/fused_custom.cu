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

// A kept element: fma(γx̂ + β, 1/keep, res) in f32; where that is not finite (γx̂ + β or the sum
// left the f32 range on the way, e.g. values near 1e38) the element again in f64, rounded once,
// as the CPU does (a NaN row stays NaN on both routes).
__device__ __forceinline__ float kr_lnd_kept(const KrNorm& nm, float x, float g, float b, float ik, float r) {
    const float y = fmaf(kr_norm_apply(nm, x, g, b), ik, r);
    if (isfinite(y)) return y;
    const double gx = (double)g * (((double)x - nm.mu) * nm.rstd) + (double)b;
    return (float)((double)r + (double)ik * gx);
}

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
            o.x = (w & 0xffu) ? kr_lnd_kept(nm, q.x, gv.x, bv.x, ik, rv.x) : rv.x;
            o.y = (w & 0xff00u) ? kr_lnd_kept(nm, q.y, gv.y, bv.y, ik, rv.y) : rv.y;
            o.z = (w & 0xff0000u) ? kr_lnd_kept(nm, q.z, gv.z, bv.z, ik, rv.z) : rv.z;
            o.w = (w & 0xff000000u) ? kr_lnd_kept(nm, q.w, gv.w, bv.w, ik, rv.w) : rv.w;
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
                // Selects, not a dynamic index (which would put v in local memory).
                const u32 q = (u32)(c & 3);
                const float et = q == 0 ? v[k].x : q == 1 ? v[k].y : q == 2 ? v[k].z : v[k].w;
                const float gt = (float)(((double)et / s - 1.0) * inv_r);
                if (q == 0) o.x = gt;
                else if (q == 1) o.y = gt;
                else if (q == 2) o.z = gt;
                else o.w = gt;
            }
            g4[j] = o;
        }
        if (lane == 0) acc += ((double)m + log(s)) - (double)xr[c];
    }
    kr_finish_sum(acc, loss, (double)rows, 0, scratch);
}

// ---- fused_attention_softmax_v and fused_rope_attention_mask ---------------------------------
// S = 512 keys, D = 128. A block of 256 threads takes (head, tile of query rows); P tiles live
// in shared memory only. FP32 CUDA-core FMAs (no TF32), f32 accumulation.
#define KR_AS 512
#define KR_AD 128
#define KR_AT_THREADS 256

// fused_attention_softmax_v: 64 query rows per block. Phase 1: each warp takes 8 rows, row max
// (fmaxf; a NaN it drops reaches the sum through exp(NaN − m)) and Σ exp(s − m) (f32 per lane,
// f64 across the warp). Phase 2: over key tiles of 32, the block stages V[32 × 128] and
// P[64 × 32] = exp(s − m) in shared memory and each thread accumulates a 4 × 8 block of out;
// at the end out = acc / Σ, formed in f64 and rounded once.
//
// Range: acc = Σ_j p_j V_j with p_j ≤ 1 reaches 512·max|V| (inf for V near 2e38), and for V
// near the denormals the products p_j V_j lose bits. So a head whose max |V| (finite elements,
// from fused_softmax_v_amax, a block per head, before this kernel) lies outside
// [2^-100, 2^100] has its V staged multiplied by 2^-e, e = the exponent of that max (frexp:
// the scaled max lies in [0.5, 1)), and the output multiplied back by 2^e in the same f64 step as
// 1/Σ. Multiplying by a power of two is exact (only elements below 2^-149 of the head's max
// could lose bits), so the f32 accumulation is the same as for inputs of ordinary size: no
// slow path, one extra read of V (4·S·D bytes a head) and a launch.
#define KR_SV_BM 64
#define KR_SV_BK 32

// Per-head max |x| (f32 bits: those of non-negative floats order as unsigned): a block of
// 1024 threads per head of S × D floats, 16 float4 loads a thread (unrolled: all in flight).
#define KR_HEAD_THREADS 1024
#define KR_HEAD_VEC (KR_AS * KR_AD / 4)

// |x| as f32 bits where x is finite, else 0.
__device__ __forceinline__ u32 kr_fin_abs_bits(float x) {
    const u32 a = __float_as_uint(x) & 0x7fffffffu;
    return a < 0x7f800000u ? a : 0u;
}

// The block's max of m (every thread passes one); valid in thread 0. `part` has 32 entries.
__device__ __forceinline__ u32 kr_block_max_u32(u32 m, u32* part) {
    for (int o = 16; o > 0; o >>= 1) m = max(m, __shfl_xor_sync(KR_FULL, m, o));
    __syncthreads();  // part of the previous call is read
    if ((threadIdx.x & 31) == 0) part[threadIdx.x >> 5] = m;
    __syncthreads();
    if (threadIdx.x == 0)
        for (int k = 1; k < KR_HEAD_THREADS / 32; k++) m = max(m, part[k]);
    return m;
}

// (v, amax, heads): amax[h] = max |V| over head h's finite elements; grid-striding over heads.
extern "C" __global__ void __launch_bounds__(KR_HEAD_THREADS)
    fused_softmax_v_amax(const float* __restrict__ v, u32* __restrict__ amax, u64 heads) {
    __shared__ u32 part[KR_HEAD_THREADS / 32];
    for (u64 h = blockIdx.x; h < heads; h += gridDim.x) {
        const float4* vh = (const float4*)(v + h * KR_AS * KR_AD);
        u32 m = 0;
#pragma unroll
        for (int it = 0; it < KR_HEAD_VEC / KR_HEAD_THREADS; it++) {
            const float4 x = vh[threadIdx.x + it * KR_HEAD_THREADS];
            m = max(max(m, max(kr_fin_abs_bits(x.x), kr_fin_abs_bits(x.y))),
                    max(kr_fin_abs_bits(x.z), kr_fin_abs_bits(x.w)));
        }
        m = kr_block_max_u32(m, part);
        if (threadIdx.x == 0) amax[h] = m;
    }
}

// The exponent e by which head h's V is scaled down (0: not scaled).
__device__ __forceinline__ int kr_sv_exponent(u32 amax_bits) {
    const double a = (double)__uint_as_float(amax_bits);
    // 2^-100 and 2^100: the CPU's f32 range for V is [1e-30, 1e30], about the same.
    if (a == 0.0 || (a >= 7.888609052210118e-31 && a <= 1.2676506002282294e30)) return 0;
    int e;
    frexp(a, &e);
    return e;
}

extern "C" __global__ void __launch_bounds__(KR_AT_THREADS)
    fused_attention_softmax_v(const float* __restrict__ sc, const float* __restrict__ v, float* __restrict__ out, u64 n,
                              u64 heads, const u32* __restrict__ amax) {
    __shared__ float m_s[KR_SV_BM];
    __shared__ double inv_s[KR_SV_BM];
    __shared__ float ps[KR_SV_BM][KR_SV_BK + 1];
    __shared__ float4 vs[KR_SV_BK][KR_AD / 4];
    const int tid = threadIdx.x, lane = tid & 31, warp = tid >> 5;
    const u64 tiles = KR_AS / KR_SV_BM;
    for (u64 w = blockIdx.x; w < heads * tiles; w += gridDim.x) {
        const u64 h = w / tiles, q0 = (w % tiles) * KR_SV_BM;
        const float* sh = sc + (h * KR_AS + q0) * KR_AS;  // the tile's first score row
        const float4* vh = (const float4*)(v + h * KR_AS * KR_AD);
        const int e = kr_sv_exponent(amax[h]);
        const double vin = ldexp(1.0, -e), vout = ldexp(1.0, e);
        __syncthreads();  // the previous tile is done with m_s, inv_s
        for (int r = warp; r < KR_SV_BM; r += KR_AT_THREADS / 32) {
            const float4* row = (const float4*)(sh + (u64)r * KR_AS);
            float4 x[4];
#pragma unroll
            for (int k = 0; k < 4; k++) x[k] = row[lane + 32 * k];
            float m = KR_NINF;
#pragma unroll
            for (int k = 0; k < 4; k++) m = fmaxf(m, fmaxf(fmaxf(x[k].x, x[k].y), fmaxf(x[k].z, x[k].w)));
            m = kr_warp_allmaxf(m);
            float e = 0.0f;
#pragma unroll
            for (int k = 0; k < 4; k++)
                e += (expf(x[k].x - m) + expf(x[k].y - m)) + (expf(x[k].z - m) + expf(x[k].w - m));
            const double s = kr_warp_allsum((double)e);
            if (lane == 0) {
                m_s[r] = m;
                inv_s[r] = vout / s;  // 2^e / Σ: exact scaling of 1/Σ
            }
        }
        // Thread block of out: rows r0 … r0 + 3, columns c0 … c0 + 7.
        const int r0 = (tid >> 4) * 4, c0 = (tid & 15) * 8;
        float acc[4][8];
#pragma unroll
        for (int a = 0; a < 4; a++)
#pragma unroll
            for (int b = 0; b < 8; b++) acc[a][b] = 0.0f;
        for (int k0 = 0; k0 < KR_AS; k0 += KR_SV_BK) {
            __syncthreads();  // m_s ready; the previous tile's ps and vs consumed
            // V tile: 32 × 32 float4, 4 per thread.
#pragma unroll
            for (int k = 0; k < 4; k++) {
                const int idx = tid + KR_AT_THREADS * k, r = idx >> 5, c = idx & 31;
                float4 x = vh[(u64)(k0 + r) * (KR_AD / 4) + c];
                if (e != 0) {
                    // V·2^-e: exact (in f64, as 2^-e itself may exceed the f32 range).
                    x = make_float4((float)((double)x.x * vin), (float)((double)x.y * vin),
                                    (float)((double)x.z * vin), (float)((double)x.w * vin));
                }
                vs[r][c] = x;
            }
            // P tile: 64 × 32, 8 per thread (a warp reads 32 consecutive scores of one row).
#pragma unroll
            for (int k = 0; k < 8; k++) {
                const int r = warp + 8 * k;
                ps[r][lane] = expf(sh[(u64)r * KR_AS + k0 + lane] - m_s[r]);
            }
            __syncthreads();
#pragma unroll 4
            for (int kk = 0; kk < KR_SV_BK; kk++) {
                const float4 b0 = vs[kk][c0 / 4], b1 = vs[kk][c0 / 4 + 1];
                const float bv[8] = {b0.x, b0.y, b0.z, b0.w, b1.x, b1.y, b1.z, b1.w};
#pragma unroll
                for (int a = 0; a < 4; a++) {
                    const float p = ps[r0 + a][kk];
#pragma unroll
                    for (int b = 0; b < 8; b++) acc[a][b] = fmaf(p, bv[b], acc[a][b]);
                }
            }
        }
#pragma unroll
        for (int a = 0; a < 4; a++) {
            const double k = inv_s[r0 + a];
            float4* o = (float4*)(out + ((h * KR_AS + q0 + r0 + a) * KR_AD + c0));
#define KR_SV_OUT(b) (float)((double)acc[a][b] * k)
            o[0] = make_float4(KR_SV_OUT(0), KR_SV_OUT(1), KR_SV_OUT(2), KR_SV_OUT(3));
            o[1] = make_float4(KR_SV_OUT(4), KR_SV_OUT(5), KR_SV_OUT(6), KR_SV_OUT(7));
#undef KR_SV_OUT
        }
    }
}

// fused_rope_attention_mask. The cos/sin tables (f32[S][D/2] each, built in f64 and rounded once
// by fused_rope_tables into the work area: constants, not rotated data) are read from L2. A
// block takes 32 query rows of a head: Q' (rotated) in shared memory; for each key tile of 32
// with a key ≤ the tile's last query, K' (rotated) is staged, each thread forms 4 scores
// (masked pairs selected to −inf, never computed into the sum), each warp updates the online
// softmax of 4 rows (running max m, sum l, rescale α = exp(m_old − m_new)), then V replaces K'
// in the same buffer and each thread updates a 2 × 8 block of the output (α-rescaled). Keys
// past a query are skipped in P·V too, so NaN or inf there never enters (0·inf would be NaN).
#define KR_RA_BM 32
#define KR_RA_BN 32
#define KR_RA_PAD (KR_AD + 1)

// Also the same tables unrounded (f64) for the f64 path, fused_rope_wide.
extern "C" __global__ void fused_rope_tables(float* cos_t, float* sin_t, float base, double* cos64, double* sin64) {
    const u64 half = KR_AD / 2;
    for (u64 i = kr_tid(); i < KR_AS * half; i += kr_nthreads()) {
        const u64 p = i / half, d = i % half;
        const double ang = (double)p * pow((double)base, -2.0 * (double)d / (double)KR_AD);
        double s, c;
        sincos(ang, &s, &c);
        cos_t[i] = (float)c;
        sin_t[i] = (float)s;
        cos64[i] = c;
        sin64[i] = s;
    }
}

// The range check, per head as on the CPU: amax[3h + t] = max |x| over head h of Q, K, V (t =
// 0, 1, 2), NaN ignored and ±inf counted (f32::max's fold). A block of 1024 per head.
__device__ __forceinline__ u32 kr_abs_bits_inf(float x) {
    const u32 a = __float_as_uint(x) & 0x7fffffffu;
    return a <= 0x7f800000u ? a : 0u;  // NaN → 0
}

extern "C" __global__ void __launch_bounds__(KR_HEAD_THREADS)
    fused_rope_amax(const float* __restrict__ q, const float* __restrict__ k, const float* __restrict__ v,
                    u32* __restrict__ amax, u64 heads) {
    __shared__ u32 part[KR_HEAD_THREADS / 32];
    for (u64 h = blockIdx.x; h < heads; h += gridDim.x) {
#pragma unroll 1
        for (int t = 0; t < 3; t++) {
            const float4* x = (const float4*)((t == 0 ? q : t == 1 ? k : v) + h * KR_AS * KR_AD);
            u32 m = 0;
#pragma unroll
            for (int it = 0; it < KR_HEAD_VEC / KR_HEAD_THREADS; it++) {
                const float4 e = x[threadIdx.x + it * KR_HEAD_THREADS];
                m = max(max(m, max(kr_abs_bits_inf(e.x), kr_abs_bits_inf(e.y))),
                        max(kr_abs_bits_inf(e.z), kr_abs_bits_inf(e.w)));
            }
            m = kr_block_max_u32(m, part);
            if (threadIdx.x == 0) amax[3 * h + t] = m;
        }
    }
}

// Head h goes to the f64 path (the CPU's bounds: Q and K in [1e-15, 1e15], V in [1e-30, 1e30],
// else f32 scores or P·V products could overflow or fall among the denormals; NaN-only or
// all-zero tensors count as 0, outside, as there).
__device__ __forceinline__ bool kr_rope_wide(const u32* amax, u64 h) {
    const float bq = __uint_as_float(amax[3 * h]), bk = __uint_as_float(amax[3 * h + 1]);
    const float bv = __uint_as_float(amax[3 * h + 2]);
    return !(bq >= 1e-15f && bq <= 1e15f) || !(bk >= 1e-15f && bk <= 1e15f) || !(bv >= 1e-30f && bv <= 1e30f);
}

// Rows r0 + t … of u (a head's [S × D]) rotated into dst[rows][KR_RA_PAD], positions r0 + row.
__device__ __forceinline__ void kr_rope_stage(const float* __restrict__ u, u64 r0, const float* __restrict__ cos_t,
                                              const float* __restrict__ sin_t, float (*dst)[KR_RA_PAD], int rows) {
    const int half = KR_AD / 2;
    for (int idx = threadIdx.x; idx < rows * half; idx += KR_AT_THREADS) {
        const int r = idx / half, d = idx % half;
        const u64 p = r0 + r;
        const float a = u[p * KR_AD + d], b = u[p * KR_AD + d + half];
        const float c = cos_t[p * half + d], s = sin_t[p * half + d];
        dst[r][d] = a * c - b * s;
        dst[r][d + half] = a * s + b * c;
    }
}

extern "C" __global__ void __launch_bounds__(KR_AT_THREADS)
    fused_rope_attention_mask(const float* __restrict__ q, const float* __restrict__ k, const float* __restrict__ v,
                              float* __restrict__ out, u64 n, float rope_base, u64 heads, const float* __restrict__ cos_t,
                              const float* __restrict__ sin_t, const u32* __restrict__ amax) {
    __shared__ float qs[KR_RA_BM][KR_RA_PAD];
    __shared__ float kv[KR_RA_BN][KR_RA_PAD];
    __shared__ float ps[KR_RA_BM][KR_RA_BN + 1];
    __shared__ float alpha[KR_RA_BM], lsum[KR_RA_BM];
    const int tid = threadIdx.x, lane = tid & 31, warp = tid >> 5;
    const float scale = (float)(1.0 / sqrt((double)KR_AD));
    const u64 tiles = KR_AS / KR_RA_BM;
    for (u64 w = blockIdx.x; w < heads * tiles; w += gridDim.x) {
        // Longest query tiles first (the causal work grows with the tile index).
        const u64 h = w / tiles, q0 = (tiles - 1 - w % tiles) * KR_RA_BM;
        if (kr_rope_wide(amax, h)) continue;  // fused_rope_wide computes this head (block-uniform)
        const u64 base = h * KR_AS * KR_AD;
        __syncthreads();  // the previous tile is done with qs, lsum
        kr_rope_stage(q + base, q0, cos_t, sin_t, qs, KR_RA_BM);
        // Online softmax state of rows warp·4 … warp·4 + 3, held by lane 0 … 3 of the warp.
        float m_run = KR_NINF, l_run = 0.0f;
        // Output block: rows r0, r0 + 1; columns c0 … c0 + 7.
        const int r0 = (tid >> 4) * 2, c0 = (tid & 15) * 8;
        float acc[2][8];
#pragma unroll
        for (int a = 0; a < 2; a++)
#pragma unroll
            for (int b = 0; b < 8; b++) acc[a][b] = 0.0f;
        const u64 kend = q0 + KR_RA_BM;  // keys < kend can be unmasked for some query of the tile
        for (u64 k0 = 0; k0 < kend; k0 += KR_RA_BN) {
            __syncthreads();  // kv and ps of the previous key tile consumed
            kr_rope_stage(k + base, k0, cos_t, sin_t, kv, KR_RA_BN);
            __syncthreads();
            // Scores: thread takes row tid / 8, keys (tid % 8)·4 … + 3.
            {
                const int r = tid >> 3, cb = (tid & 7) * 4;
                float s[4] = {0.0f, 0.0f, 0.0f, 0.0f};
#pragma unroll 8
                for (int d = 0; d < KR_AD; d++) {
                    const float a = qs[r][d];
#pragma unroll
                    for (int c = 0; c < 4; c++) s[c] = fmaf(a, kv[cb + c][d], s[c]);
                }
                const u64 qi = q0 + r;
#pragma unroll
                for (int c = 0; c < 4; c++) ps[r][cb + c] = (k0 + cb + c <= qi) ? s[c] * scale : KR_NINF;
            }
            __syncthreads();
            // Online softmax: warp w updates rows 4w … 4w + 3, a lane per key.
#pragma unroll
            for (int rr = 0; rr < 4; rr++) {
                const int r = warp * 4 + rr;
                const float x = ps[r][lane];
                const float tmax = kr_warp_allmaxf(x);
                const float m_old = __shfl_sync(KR_FULL, m_run, rr);
                const float m_new = fmaxf(m_old, tmax);
                // Key 0 is in every row's first tile, so m_new is finite for finite inputs.
                const float p = expf(x - m_new);
                const float psum = kr_warp_sumf(p);  // valid in lane 0
                const float a = expf(m_old - m_new);
                ps[r][lane] = p;
                if (lane == rr) m_run = m_new;
                const float l_old = __shfl_sync(KR_FULL, l_run, rr);
                const float l_new = l_old * a + __shfl_sync(KR_FULL, psum, 0);
                if (lane == rr) l_run = l_new;
                if (lane == 0) alpha[r] = a;
            }
            __syncthreads();  // scores read; V may replace K'
            for (int idx = tid; idx < KR_RA_BN * (KR_AD / 4); idx += KR_AT_THREADS) {
                const int r = idx / (KR_AD / 4), c = idx % (KR_AD / 4);
                const float4 x = ((const float4*)(v + base + (k0 + r) * KR_AD))[c];
                kv[r][4 * c] = x.x;
                kv[r][4 * c + 1] = x.y;
                kv[r][4 * c + 2] = x.z;
                kv[r][4 * c + 3] = x.w;
            }
            __syncthreads();
#pragma unroll
            for (int a = 0; a < 2; a++) {
                const float al = alpha[r0 + a];
                const u64 qi = q0 + r0 + a;
                // Keys of this tile that query qi may see (the rest are skipped, not weighted by 0).
                const int kmax = qi >= k0 + KR_RA_BN - 1 ? KR_RA_BN : (int)(qi + 1 - k0);
#pragma unroll
                for (int b = 0; b < 8; b++) acc[a][b] *= al;
                for (int kk = 0; kk < kmax; kk++) {
                    const float p = ps[r0 + a][kk];
#pragma unroll
                    for (int b = 0; b < 8; b++) acc[a][b] = fmaf(p, kv[kk][c0 + b], acc[a][b]);
                }
            }
        }
        // The row sums to shared memory for the output threads.
        if (lane < 4) lsum[warp * 4 + lane] = l_run;
        __syncthreads();
#pragma unroll
        for (int a = 0; a < 2; a++) {
            const float inv = 1.0f / lsum[r0 + a];
            float4* o = (float4*)(out + base + (q0 + r0 + a) * KR_AD + c0);
            o[0] = make_float4(acc[a][0] * inv, acc[a][1] * inv, acc[a][2] * inv, acc[a][3] * inv);
            o[1] = make_float4(acc[a][4] * inv, acc[a][5] * inv, acc[a][6] * inv, acc[a][7] * inv);
        }
    }
}

// The f64 path (heads outside the f32 kernel's range, kr_rope_wide): a warp per query row i of
// such a head, lane l holding columns l + 32c (c < 4), i.e. the rotation pairs (l, l + 64) and
// (l + 32, l + 96). The definition in f64: rotated Q'_i and K'_j (f64 cos/sin tables), scores
// s_j = (Q'_i · K'_j)·(1/√D) for j ≤ i (butterfly sums: every lane holds the same value) stored
// once in shared memory, so that the max and the exponentials see the same s_j (recomputing
// them could round differently, and at scores near 1e40 one ulp is far beyond exp's range);
// m = max s_j (NaN if some s_j is NaN, as the reference's fold), ℓ = Σ exp(s_j − m),
// out = (Σ exp(s_j − m) V_j)/ℓ, rounded once to f32. Slow, and only for such heads.
#define KR_RW_WARPS 4

__device__ __forceinline__ void kr_rope64(const float* __restrict__ u, u64 p, int lane, const double* __restrict__ c64,
                                          const double* __restrict__ s64, double r[4]) {
    const int half = KR_AD / 2;
#pragma unroll
    for (int c = 0; c < 2; c++) {
        const int d = lane + 32 * c;
        const double a = (double)u[p * KR_AD + d], b = (double)u[p * KR_AD + d + half];
        const double cs = c64[p * half + d], sn = s64[p * half + d];
        r[c] = a * cs - b * sn;
        r[c + 2] = a * sn + b * cs;
    }
}

extern "C" __global__ void __launch_bounds__(32 * KR_RW_WARPS)
    fused_rope_wide(const float* __restrict__ q, const float* __restrict__ k, const float* __restrict__ v,
                    float* __restrict__ out, u64 heads, const double* __restrict__ cos64,
                    const double* __restrict__ sin64, const u32* __restrict__ amax) {
    __shared__ double sc[KR_RW_WARPS][KR_AS];
    const int lane = kr_lane(), wb = threadIdx.x >> 5;
    const double scale = 1.0 / sqrt((double)KR_AD);
    for (u64 row = kr_warp(), nw = kr_nwarps(); row < heads * KR_AS; row += nw) {
        const u64 h = row / KR_AS, i = row % KR_AS;
        if (!kr_rope_wide(amax, h)) continue;  // warp-uniform
        const u64 base = h * KR_AS * KR_AD;
        double qr[4];
        kr_rope64(q + base, i, lane, cos64, sin64, qr);
        double m = __longlong_as_double(0xfff0000000000000ull);  // −inf
        bool nan = false;
        for (u64 j = 0; j <= i; j++) {
            double kr[4];
            kr_rope64(k + base, j, lane, cos64, sin64, kr);
            double part = (qr[0] * kr[0] + qr[1] * kr[1]) + (qr[2] * kr[2] + qr[3] * kr[3]);
            for (int o = 16; o > 0; o >>= 1) part += __shfl_xor_sync(KR_FULL, part, o);
            const double x = __dmul_rn(part, scale);
            if (lane == (int)(j & 31)) sc[wb][j] = x;
            if (x != x) nan = true;
            else if (x > m) m = x;
        }
        if (nan) m = __longlong_as_double(0x7ff8000000000000ull);  // NaN
        __syncwarp();  // the scores are in shared memory
        double acc[4] = {0.0, 0.0, 0.0, 0.0}, l = 0.0;
        for (u64 j = 0; j <= i; j++) {
            const double p = exp(sc[wb][j] - m);
            l += p;
            const float* vj = v + base + j * KR_AD;
#pragma unroll
            for (int c = 0; c < 4; c++) acc[c] += p * (double)vj[lane + 32 * c];
        }
        float* o = out + base + i * KR_AD;
#pragma unroll
        for (int c = 0; c < 4; c++) o[lane + 32 * c] = (float)(acc[c] / l);
        __syncwarp();  // the scores are read before the next row writes them
    }
}
