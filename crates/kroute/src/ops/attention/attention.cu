// attention on CUDA (kernels/attention.md).
//
// attention_sdpa and attention_flash have the same result and share one f32 SIMT flash kernel
// (TF32 and half-precision tensor cores fail the entry's norm(1e-5)): a block of 256 threads
// takes 64 query rows of one (b, h); its Q tile stays in shared memory while it walks the key /
// value tiles of 64 rows of the kv head g = h·kv/32. A thread (ty, tx) of the 16 × 16 grid owns
// query rows ty + 16r (r < 4): for the scores it computes the 4 × 4 micro-tile of keys tx + 16c
// with float4 reads of Q and K rows (pitch 132 floats: the 8 threads of a quarter-warp read 8
// different K rows without a bank conflict, and Q rows are broadcasts), and for P·V it owns
// output columns 4tx…4tx+3 and 64 + 4tx…64 + 4tx + 3 of the same rows (32 accumulators). The
// online softmax keeps m (running max) and ℓ (normaliser) per row in every thread of the row's
// 16-lane half-warp (butterfly shuffles give every lane the same value); when the max grows the
// accumulators are rescaled by exp(m_old − m_new). Causal blocks stop at their last query row,
// so tiles entirely above the diagonal are never loaded; the 64-row key tiles are aligned with
// the query tiles, so every processed tile has a valid key for every row. A row whose max is
// still −inf (scores of −inf from the data) subtracts 0 instead of −inf: exp(−inf − −inf) is
// never formed. expf is the accurate form (no fast math), the final division is IEEE.
//
// Shared memory: Q tile 64 × 132 floats, one K/V tile 64 × 132 (K, then V in the same buffer),
// P tile 64 × 68: 84.5 KiB (two blocks per SM on sm_80/sm_90), raised with allow_smem.

#define KR_AT_D 128
#define KR_AT_BM 64
#define KR_AT_BN 64
#define KR_AT_QP 132  // pitch of the Q and K/V tiles (floats)
#define KR_AT_PP 68   // pitch of the P tile
#define KR_AT_THREADS 256

// Rows [r0, r0 + 64) of a [rows, 128] matrix into a tile of pitch KR_AT_QP, zero past `rows`.
__device__ __forceinline__ void kr_at_load(float* __restrict__ tile, const float* __restrict__ src, u64 r0,
                                           u64 rows) {
    for (int idx = threadIdx.x; idx < KR_AT_BM * (KR_AT_D / 4); idx += KR_AT_THREADS) {
        const int r = idx >> 5, c4 = idx & 31;
        float4 v = make_float4(0.f, 0.f, 0.f, 0.f);
        if (r0 + r < rows) v = *reinterpret_cast<const float4*>(src + (r0 + r) * KR_AT_D + c4 * 4);
        *reinterpret_cast<float4*>(tile + r * KR_AT_QP + c4 * 4) = v;
    }
}

// Max and sum over the 16 lanes of a half-warp (every lane gets the result).
__device__ __forceinline__ float kr_at_max16(float v) {
    for (int o = 8; o > 0; o >>= 1) v = fmaxf(v, __shfl_xor_sync(KR_FULL, v, o));
    return v;
}
__device__ __forceinline__ float kr_at_sum16(float v) {
    for (int o = 8; o > 0; o >>= 1) v += __shfl_xor_sync(KR_FULL, v, o);
    return v;
}

__device__ __forceinline__ void kr_attention(const float* __restrict__ q, const float* __restrict__ k,
                                             const float* __restrict__ v, float* __restrict__ o, u64 causal,
                                             u64 kv, u64 b, u64 s) {
    extern __shared__ float4 kr_at_smem4[];
    float* qs = reinterpret_cast<float*>(kr_at_smem4);
    float* kvs = qs + KR_AT_BM * KR_AT_QP;
    float* ps = kvs + KR_AT_BN * KR_AT_QP;

    const u64 tiles = (s + KR_AT_BM - 1) / KR_AT_BM;
    const u64 blk = blockIdx.x;
    const u64 bh = blk / tiles;
    // The last query tiles first: with causal they carry the most keys.
    const u64 qt = tiles - 1 - (blk - bh * tiles);
    if (bh >= b * 32) return;
    const u64 bi = bh / 32, h = bh - bi * 32;
    const u64 g = bi * kv + h * kv / 32;
    const u64 q0 = qt * KR_AT_BM;
    const float* qh = q + bh * s * KR_AT_D;
    const float* kh = k + g * s * KR_AT_D;
    const float* vh = v + g * s * KR_AT_D;

    const int tx = threadIdx.x & 15, ty = threadIdx.x >> 4;
    const float scale = (float)(1.0 / sqrt((double)KR_AT_D));

    kr_at_load(qs, qh, q0, s);

    float acc[4][8];
    float m[4], l[4];
#pragma unroll
    for (int r = 0; r < 4; r++) {
        m[r] = KR_NINF;
        l[r] = 0.f;
#pragma unroll
        for (int c = 0; c < 8; c++) acc[r][c] = 0.f;
    }

    const u64 kend = causal ? min(s, q0 + KR_AT_BM) : s;
    for (u64 j0 = 0; j0 < kend; j0 += KR_AT_BN) {
        __syncthreads();  // the previous tile's V and P are no longer read (and Q is loaded)
        kr_at_load(kvs, kh, j0, s);
        __syncthreads();

        float sc[4][4];
#pragma unroll
        for (int r = 0; r < 4; r++)
#pragma unroll
            for (int c = 0; c < 4; c++) sc[r][c] = 0.f;
#pragma unroll 2
        for (int d = 0; d < KR_AT_D; d += 4) {
            float4 qv[4], kv4[4];
#pragma unroll
            for (int r = 0; r < 4; r++) qv[r] = *reinterpret_cast<const float4*>(qs + (ty + 16 * r) * KR_AT_QP + d);
#pragma unroll
            for (int c = 0; c < 4; c++) kv4[c] = *reinterpret_cast<const float4*>(kvs + (tx + 16 * c) * KR_AT_QP + d);
#pragma unroll
            for (int r = 0; r < 4; r++)
#pragma unroll
                for (int c = 0; c < 4; c++) {
                    sc[r][c] = fmaf(qv[r].x, kv4[c].x, sc[r][c]);
                    sc[r][c] = fmaf(qv[r].y, kv4[c].y, sc[r][c]);
                    sc[r][c] = fmaf(qv[r].z, kv4[c].z, sc[r][c]);
                    sc[r][c] = fmaf(qv[r].w, kv4[c].w, sc[r][c]);
                }
        }

        // Scale, mask (past S; causal j > i), online softmax statistics.
#pragma unroll
        for (int r = 0; r < 4; r++) {
            const u64 i = q0 + ty + 16 * r;
            float mx = KR_NINF;
#pragma unroll
            for (int c = 0; c < 4; c++) {
                const u64 j = j0 + tx + 16 * c;
                float x = sc[r][c] * scale;
                if (j >= s || (causal && j > i)) x = KR_NINF;
                sc[r][c] = x;
                mx = fmaxf(mx, x);
            }
            mx = kr_at_max16(mx);
            const float mnew = fmaxf(m[r], mx);
            const float msub = (mnew == KR_NINF) ? 0.f : mnew;
            const float alpha = expf(m[r] - msub);
            float sum = 0.f;
#pragma unroll
            for (int c = 0; c < 4; c++) {
                sc[r][c] = expf(sc[r][c] - msub);
                sum += sc[r][c];
            }
            sum = kr_at_sum16(sum);
            l[r] = l[r] * alpha + sum;
#pragma unroll
            for (int c = 0; c < 8; c++) acc[r][c] *= alpha;
            m[r] = mnew;
        }

        __syncthreads();  // every thread is done with K
#pragma unroll
        for (int r = 0; r < 4; r++)
#pragma unroll
            for (int c = 0; c < 4; c++) ps[(ty + 16 * r) * KR_AT_PP + tx + 16 * c] = sc[r][c];
        kr_at_load(kvs, vh, j0, s);
        __syncthreads();

        // acc += P · V over this tile's keys (P is 0 past S and above the diagonal; V rows past
        // S were loaded as 0).
        const int jn = (int)min((u64)KR_AT_BN, kend - j0);
        for (int j = 0; j < jn; j++) {
            const float4 va = *reinterpret_cast<const float4*>(kvs + j * KR_AT_QP + 4 * tx);
            const float4 vb = *reinterpret_cast<const float4*>(kvs + j * KR_AT_QP + 64 + 4 * tx);
#pragma unroll
            for (int r = 0; r < 4; r++) {
                const float p = ps[(ty + 16 * r) * KR_AT_PP + j];
                acc[r][0] = fmaf(p, va.x, acc[r][0]);
                acc[r][1] = fmaf(p, va.y, acc[r][1]);
                acc[r][2] = fmaf(p, va.z, acc[r][2]);
                acc[r][3] = fmaf(p, va.w, acc[r][3]);
                acc[r][4] = fmaf(p, vb.x, acc[r][4]);
                acc[r][5] = fmaf(p, vb.y, acc[r][5]);
                acc[r][6] = fmaf(p, vb.z, acc[r][6]);
                acc[r][7] = fmaf(p, vb.w, acc[r][7]);
            }
        }
    }

    // O = acc / ℓ (ℓ = 0, a row of −inf scores, gives 0/0 = NaN as the reference does).
#pragma unroll
    for (int r = 0; r < 4; r++) {
        const u64 i = q0 + ty + 16 * r;
        if (i >= s) continue;
        float* orow = o + (bh * s + i) * KR_AT_D;
        float4 a, bq;
        a.x = acc[r][0] / l[r];
        a.y = acc[r][1] / l[r];
        a.z = acc[r][2] / l[r];
        a.w = acc[r][3] / l[r];
        bq.x = acc[r][4] / l[r];
        bq.y = acc[r][5] / l[r];
        bq.z = acc[r][6] / l[r];
        bq.w = acc[r][7] / l[r];
        *reinterpret_cast<float4*>(orow + 4 * tx) = a;
        *reinterpret_cast<float4*>(orow + 64 + 4 * tx) = bq;
    }
}

// The f32 kernel's range check, as on the CPU: amax[0..3] = max |x| over the finite elements of
// Q, K and V (f32 bits, ordered as unsigned for non-negative values). f32 evaluation is safe
// when no score or accumulator can overflow and V is not so small that its products with the
// weights fall among the denormals; otherwise `attention_wide` computes the call in f64.
__device__ __forceinline__ bool kr_at_f32_safe(const u32* amax, u64 s) {
    const double aq = __uint_as_float(amax[0]), ak = __uint_as_float(amax[1]), av = __uint_as_float(amax[2]);
    return aq * ak * (double)KR_AT_D < 1e36 && av * (double)(s > 0 ? s : 1) < 1e36 && (av == 0.0 || av > 1e-30);
}

extern "C" __global__ void attention_amax_clear(u32* amax) {
    if (threadIdx.x < 3 && blockIdx.x == 0) amax[threadIdx.x] = 0;
}

// max |x| of the finite elements of Q (nq elements), K and V (nkv each) into amax[0..3].
extern "C" __global__ void attention_amax(const float* __restrict__ q, const float* __restrict__ k,
                                          const float* __restrict__ v, u64 nq, u64 nkv, u32* amax) {
    u32 mq = 0, mk = 0, mv = 0;
    const u32 inf = 0x7f800000u;
    for (u64 i = kr_tid(), st = kr_nthreads(); i < nq; i += st) {
        const u32 a = __float_as_uint(q[i]) & 0x7fffffffu;
        if (a < inf) mq = max(mq, a);
    }
    for (u64 i = kr_tid(), st = kr_nthreads(); i < nkv; i += st) {
        const u32 a = __float_as_uint(k[i]) & 0x7fffffffu, b = __float_as_uint(v[i]) & 0x7fffffffu;
        if (a < inf) mk = max(mk, a);
        if (b < inf) mv = max(mv, b);
    }
    for (int o = 16; o > 0; o >>= 1) {
        mq = max(mq, __shfl_xor_sync(KR_FULL, mq, o));
        mk = max(mk, __shfl_xor_sync(KR_FULL, mk, o));
        mv = max(mv, __shfl_xor_sync(KR_FULL, mv, o));
    }
    if ((threadIdx.x & 31) == 0) {
        if (mq) atomicMax(amax, mq);
        if (mk) atomicMax(amax + 1, mk);
        if (mv) atomicMax(amax + 2, mv);
    }
}

// The f64 path (inputs outside the f32 kernel's range): a warp per query row, each lane holding
// 4 of the 128 columns; the reference's two passes (max, then exp, sum and the weighted rows of
// V) in f64, rounded once. The dot products are butterfly sums, which leave the same value in
// every lane and in both passes. Slow, and only for such inputs.
__device__ __forceinline__ double kr_at_dot64(const double* qd, const float* kj, int lane) {
    double part = 0.0;
#pragma unroll
    for (int c = 0; c < 4; c++) part = __fma_rn(qd[c], (double)kj[lane + 32 * c], part);
    for (int o = 16; o > 0; o >>= 1) part = __dadd_rn(part, __shfl_xor_sync(KR_FULL, part, o));
    return part;
}

// The scaled score, rounded: explicit roundings (__fma_rn, __dadd_rn, __dmul_rn) are never
// contracted or reassociated, so both passes get the same bits for a key. Written as
// scale · dot, the PTX had mul.f64 (no rounding modifier: ptxas may fuse it) feeding the second
// pass's sub.f64 of m, i.e. exp(fma(scale, dot, −m)): the product's rounding error, up to half
// an ulp of the score, reached exp; for scores near 1e40 (inputs scaled by 1e20) that is ~1e24,
// so exp gave inf for the row's max key, ℓ = inf and acc/ℓ = inf/inf = NaN (the H200 sweep's
// NaN at scale 1e20 … 2e38).
__device__ __forceinline__ double kr_at_score64(const double* qd, const float* kj, int lane, double scale) {
    return __dmul_rn(scale, kr_at_dot64(qd, kj, lane));
}

extern "C" __global__ void attention_wide(const float* __restrict__ q, const float* __restrict__ k,
                                          const float* __restrict__ v, float* __restrict__ o, const u32* amax,
                                          u64 causal, u64 kv, u64 b, u64 s) {
    if (kr_at_f32_safe(amax, s)) return;
    const double scale = 1.0 / sqrt((double)KR_AT_D);
    const int lane = threadIdx.x & 31;
    const u64 first = kr_tid() >> 5, warps = kr_nthreads() >> 5;
    for (u64 row = first; row < b * 32 * s; row += warps) {
        const u64 bh = row / s, i = row - bh * s;
        const u64 bi = bh / 32, h = bh - bi * 32;
        const u64 g = bi * kv + h * kv / 32;
        const float* qi = q + row * KR_AT_D;
        const float* kh = k + g * s * KR_AT_D;
        const float* vh = v + g * s * KR_AT_D;
        const u64 kend = causal ? i + 1 : s;
        double qd[4];
#pragma unroll
        for (int c = 0; c < 4; c++) qd[c] = (double)qi[lane + 32 * c];
        double m = __longlong_as_double(0xfff0000000000000ull);  // -inf
        bool nan = false;
        for (u64 j = 0; j < kend; j++) {
            const double x = kr_at_score64(qd, kh + j * KR_AT_D, lane, scale);
            if (x != x) nan = true;
            else if (x > m) m = x;
        }
        if (nan) m = __longlong_as_double(0x7ff8000000000000ull);  // NaN
        double acc[4] = {0.0, 0.0, 0.0, 0.0}, l = 0.0;
        for (u64 j = 0; j < kend; j++) {
            // The same rounded score as the first pass: exp(0) = 1 for the max key.
            const double p = exp(kr_at_score64(qd, kh + j * KR_AT_D, lane, scale) - m);
            l += p;
#pragma unroll
            for (int c = 0; c < 4; c++) acc[c] += p * (double)vh[j * KR_AT_D + lane + 32 * c];
        }
#pragma unroll
        for (int c = 0; c < 4; c++) o[row * KR_AT_D + lane + 32 * c] = (float)(acc[c] / l);
    }
}

// (q, k, v, o, n, seq, causal, kv_heads, B, S, amax): one block per (b, h, query tile),
// B·32·⌈S/64⌉ blocks of 256 threads; every block returns at once when the inputs need the f64
// path.
extern "C" __global__ void __launch_bounds__(KR_AT_THREADS) attention_sdpa(const float* q, const float* k,
                                                                          const float* v, float* o, u64 n,
                                                                          u64 seq, u64 causal, u64 kv, u64 b,
                                                                          u64 s, const u32* amax) {
    if (!kr_at_f32_safe(amax, s)) return;
    kr_attention(q, k, v, o, causal, kv, b, s);
}

extern "C" __global__ void __launch_bounds__(KR_AT_THREADS) attention_flash(const float* q, const float* k,
                                                                           const float* v, float* o, u64 n,
                                                                           u64 seq, u64 causal, u64 kv, u64 b,
                                                                           u64 s, const u32* amax) {
    if (!kr_at_f32_safe(amax, s)) return;
    kr_attention(q, k, v, o, causal, kv, b, s);
}

// rope_apply (x, y, n, base, tokens): a thread per rotated pair (t, i), i < 64; the angle
// p·θ_i in f64 (θ_i = base^(−i/64)), its cos and sin in f64, rounded to f32 (the entry: f32
// angles are off by up to 2.4e-4 rad near p = 4095). p = 0 gives cos 1, sin 0 exactly.
extern "C" __global__ void rope_apply(const float* __restrict__ x, float* __restrict__ y, u64 n, double base,
                                      u64 tokens) {
    // The grid-stride step is a multiple of 64 (whole blocks of 256), so a thread keeps its i
    // and computes θ_i once.
    const u64 i = kr_tid() & 63;
    const double theta = pow(base, -2.0 * (double)i / 128.0);
    for (u64 it = kr_tid(), st = kr_nthreads(); it < tokens * 64; it += st) {
        const u64 t = it >> 6;
        const double ang = (double)(t & 4095) * theta;
        double sd, cd;
        sincos(ang, &sd, &cd);
        const float c = (float)cd, sn = (float)sd;
        const float x1 = x[t * 128 + i], x2 = x[t * 128 + 64 + i];
        y[t * 128 + i] = fmaf(x1, c, -(x2 * sn));
        y[t * 128 + 64 + i] = fmaf(x2, c, x1 * sn);
    }
}

// alibi_bias (scores, y, n, S): y = x − m_h·(i − j) (one fma) for j ≤ i, x + (−inf) above the
// diagonal (NaN and +inf there give NaN). m_h = 2^(−(h+1)/4) from f64, rounded once.
extern "C" __global__ void alibi_bias(const float* __restrict__ x, float* __restrict__ y, u64 n, u64 s) {
    for (u64 it = kr_tid(), st = kr_nthreads(); it < n; it += st) {
        const u64 row = it / s, j = it - row * s;
        const u64 h = row / s, i = row - h * s;
        const float m = (float)exp2(-(double)(h + 1) / 4.0);
        y[it] = j <= i ? fmaf(-m, (float)(i - j), x[it]) : x[it] + KR_NINF;
    }
}
