// correlation on CUDA (kernels/correlation.md).
//
// The pair kernels are ONE launch each: per-thread f64 sums over 16-byte loads of both inputs
// (four float4 of each in flight per step), a block combine, one partial per block in the
// scratch area, and the last block combines the partials in block order. Terms are formed in
// f64 from the f32 inputs: no f32 product or partial can overflow (1e19², sums near 1e38) or
// underflow (products below 1e-19) where the answer is representable.
// Covariance and correlation shift each thread's values by the first pair it loads (a sample of
// the data, so (x − K)·(y − K) does not cancel catastrophically in f64; a constant input gives
// exactly 0), then combine the threads' (n, means, co-moments) by Chan's formula.
//
// The matrix kernels take two launches: corr_gram_partial (per block, chunks of 64 rows in
// shared memory, centred per column, their Gram matrix in f32 registers over ≤ 64 rows, added in
// f64 as sums shifted by row 0 of X), then one block per output row sums the block partials in
// block order and writes C or P. Signature of the one-launch kernels: (x, y, out, n, scratch).

// ---- shared loop over pairs -----------------------------------------------------------------

// f(a, b) on every pair (a_i, b_i) this thread owns: float4 groups by a grid-stride loop, the
// n % 4 tail to the first threads. f takes floats and accumulates into what it captured.
template <typename F>
__device__ __forceinline__ void kr_pairs(const float* __restrict__ a, const float* __restrict__ b, u64 n, F f) {
    const float4* a4 = (const float4*)a;
    const float4* b4 = (const float4*)b;
    u64 nv = n >> 2, s = kr_nthreads(), i = kr_tid();
    for (; i + 3 * s < nv; i += 4 * s) {
        float4 x[4], y[4];
#pragma unroll
        for (int k = 0; k < 4; k++) { x[k] = a4[i + k * s]; y[k] = b4[i + k * s]; }
#pragma unroll
        for (int k = 0; k < 4; k++) { f(x[k].x, y[k].x); f(x[k].y, y[k].y); f(x[k].z, y[k].z); f(x[k].w, y[k].w); }
    }
    for (; i < nv; i += s) {
        float4 x = a4[i], y = b4[i];
        f(x.x, y.x); f(x.y, y.y); f(x.z, y.z); f(x.w, y.w);
    }
    u64 t = (nv << 2) + kr_tid();
    if (t < n) f(a[t], b[t]);
}

// Σ w·x with exact f64 products.
extern "C" __global__ void reduce_weighted_sum(const float* x, const float* w, float* out, u64 n, u8* scratch) {
    double acc = 0.0;
    kr_pairs(x, w, n, [&](float a, float b) { acc = fma((double)b, (double)a, acc); });
    kr_finish_sum(acc, out, 1.0, 0, scratch);
}

// Σ w·x and Σ w, combined together; m = Σwx / Σw (0/0 = NaN when every weight is 0).
extern "C" __global__ void reduce_weighted_mean(const float* x, const float* w, float* out, u64 n, u8* scratch) {
    double num = 0.0, den = 0.0;
    kr_pairs(x, w, n, [&](float a, float b) {
        num = fma((double)b, (double)a, num);
        den += (double)b;
    });
    __shared__ double sh[32];
    double bn = kr_block_sum(num, sh);
    double bd = kr_block_sum(den, sh);
    double2* part = (double2*)(scratch + KR_PARTIALS);
    if (threadIdx.x == 0) part[blockIdx.x] = make_double2(bn, bd);
    if (!kr_last_block((u32*)(scratch + KR_COUNTER))) return;
    double tn = 0.0, td = 0.0;
    for (u32 k = threadIdx.x; k < gridDim.x; k += blockDim.x) {
        tn += __ldcg(&part[k].x);
        td += __ldcg(&part[k].y);
    }
    tn = kr_block_sum(tn, sh);
    td = kr_block_sum(td, sh);
    if (threadIdx.x == 0) *out = (float)(tn / td);
}

// ---- covariance and correlation --------------------------------------------------------------

struct KrCo {
    double n, mx, my, cxy, m2x, m2y;
};

__device__ __forceinline__ KrCo kr_co_combine(KrCo a, KrCo b) {
    if (a.n == 0.0) return b;
    if (b.n == 0.0) return a;
    KrCo r;
    r.n = a.n + b.n;
    double dx = b.mx - a.mx, dy = b.my - a.my, f = a.n * b.n / r.n;
    r.mx = a.mx + dx * (b.n / r.n);
    r.my = a.my + dy * (b.n / r.n);
    r.cxy = a.cxy + b.cxy + dx * dy * f;
    r.m2x = a.m2x + b.m2x + dx * dx * f;
    r.m2y = a.m2y + b.m2y + dy * dy * f;
    return r;
}

__device__ __forceinline__ KrCo kr_co_shfl(KrCo a, int o) {
    KrCo b;
    b.n = __shfl_down_sync(KR_FULL, a.n, o);
    b.mx = __shfl_down_sync(KR_FULL, a.mx, o);
    b.my = __shfl_down_sync(KR_FULL, a.my, o);
    b.cxy = __shfl_down_sync(KR_FULL, a.cxy, o);
    b.m2x = __shfl_down_sync(KR_FULL, a.m2x, o);
    b.m2y = __shfl_down_sync(KR_FULL, a.m2y, o);
    return kr_co_combine(a, b);
}

// max(m2, 0) keeping NaN.
__device__ __forceinline__ double kr_nonneg(double v) { return v < 0.0 ? 0.0 : v; }

// Per thread: shifted sums over its pairs, turned into (n, means, co-moments); warp and block
// combines; block partials (48 bytes each) in the scratch area; the last block combines them
// in block order. SQ: also the squares (correlation).
template <bool SQ>
__device__ __forceinline__ void kr_comoments(const float* x, const float* y, float* out, u64 n, u8* scratch) {
    // The shift: the thread's first pair (any element of the data would do; 0 when n = 0).
    u64 e = 4 * kr_tid();
    if (e >= n) e = n > 0 ? kr_tid() % n : 0;
    const double kx = n > 0 ? (double)x[e] : 0.0, ky = n > 0 ? (double)y[e] : 0.0;
    double c = 0.0, sx = 0.0, sy = 0.0, sxy = 0.0, sxx = 0.0, syy = 0.0;
    kr_pairs(x, y, n, [&](float a, float b) {
        double dx = (double)a - kx, dy = (double)b - ky;
        c += 1.0;
        sx += dx;
        sy += dy;
        sxy = fma(dx, dy, sxy);
        if (SQ) {
            sxx = fma(dx, dx, sxx);
            syy = fma(dy, dy, syy);
        }
    });
    KrCo a = {0.0, 0.0, 0.0, 0.0, 0.0, 0.0};
    if (c > 0.0) {
        a.n = c;
        a.mx = kx + sx / c;
        a.my = ky + sy / c;
        a.cxy = sxy - sx * sy / c;
        a.m2x = SQ ? kr_nonneg(sxx - sx * sx / c) : 0.0;
        a.m2y = SQ ? kr_nonneg(syy - sy * sy / c) : 0.0;
    }
    for (int o = 16; o > 0; o >>= 1) a = kr_co_shfl(a, o);
    __shared__ KrCo sh[32];
    int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, nw = blockDim.x >> 5;
    if (lane == 0) sh[warp] = a;
    __syncthreads();
    KrCo* part = (KrCo*)(scratch + KR_PARTIALS);
    if (threadIdx.x == 0) {
        for (int w = 1; w < nw; w++) a = kr_co_combine(a, sh[w]);
        part[blockIdx.x] = a;
    }
    if (!kr_last_block((u32*)(scratch + KR_COUNTER))) return;
    KrCo r = {0.0, 0.0, 0.0, 0.0, 0.0, 0.0};
    for (u32 k = threadIdx.x; k < gridDim.x; k += blockDim.x) {
        KrCo p;
        p.n = __ldcg(&part[k].n);
        p.mx = __ldcg(&part[k].mx);
        p.my = __ldcg(&part[k].my);
        p.cxy = __ldcg(&part[k].cxy);
        p.m2x = __ldcg(&part[k].m2x);
        p.m2y = __ldcg(&part[k].m2y);
        r = kr_co_combine(r, p);
    }
    for (int o = 16; o > 0; o >>= 1) r = kr_co_shfl(r, o);
    __syncthreads();
    if (lane == 0) sh[warp] = r;
    __syncthreads();
    if (threadIdx.x == 0) {
        for (int w = 1; w < nw; w++) r = kr_co_combine(r, sh[w]);
        double v;
        if (!SQ) v = r.cxy / ((double)n - 1.0);
        else v = n < 2 ? __longlong_as_double(0x7ff8000000000000ll) : r.cxy / sqrt(r.m2x * r.m2y);
        *out = (float)v;
    }
}

extern "C" __global__ void reduce_covariance(const float* x, const float* y, float* out, u64 n, u8* scratch) {
    kr_comoments<false>(x, y, out, n, scratch);
}
extern "C" __global__ void reduce_correlation(const float* x, const float* y, float* out, u64 n, u8* scratch) {
    kr_comoments<true>(x, y, out, n, scratch);
}

// ---- covariance and correlation matrices ------------------------------------------------------

#define KR_D 64
#define KR_CH 64            // rows per chunk
#define KR_TILES 136        // 4×4 tiles (tj ≤ tk) of the upper triangle of the 64×64 matrix
#define KR_PART (KR_D + KR_D * KR_D)  // doubles per block partial: S[64], then T[64][64]
#define KR_TINY 7.888609e-31f         // 2^-100: below it a sum of f32 squares may have lost bits

// Tile t < 136 → (tj, tk), tj ≤ tk, row by row of the upper triangle of 16×16 tiles.
__device__ __forceinline__ void kr_tile(int t, int& tj, int& tk) {
    int j = 0, left = t;
    while (left >= 16 - j) { left -= 16 - j; j++; }
    tj = j;
    tk = j + left;
}

// Block b: chunks b, b + B, … of 64 rows. Per chunk, with the original rows in `orig`: each
// column's centre c_j (row 0 of the chunk plus the f32 mean of x − row 0: exact for a constant
// column), centred rows in `cen` and their column sums t1_j, then each of the first 136 threads
// sums its 4×4 tile of the Gram matrix over the chunk in f32. A chunk whose diagonal sums are
// not finite or below 2^-100, or whose t1 is not finite, is redone in f64 from `orig`. The
// chunk's mean μ and centred Gram G are added in f64 as sums shifted by K = row 0 of X:
// S_j += m·δ_j, T_jk += G_jk + m·δ_j·δ_k with δ = μ − K, which are plain sums across chunks and
// blocks. Block b writes S and the upper tiles of T to part + b·KR_PART.
extern "C" __global__ void __launch_bounds__(256) corr_gram_partial(const float* __restrict__ x,
                                                                    double* __restrict__ part, u64 rows,
                                                                    u64 chunks) {
    __shared__ __align__(16) float orig[KR_CH * KR_D];
    __shared__ __align__(16) float cen[KR_CH * KR_D];
    __shared__ float red[4][KR_D];
    __shared__ double kd[KR_D], mu[KR_D], t1s[KR_D], delta[KR_D];
    __shared__ float cs[KR_D];
    __shared__ int lossy;
    const int t = threadIdx.x;
    const int col = t & 63, q = t >> 6;  // column and row phase (blockDim = 256)
    int tj = 0, tk = 0;
    const bool gram = t < KR_TILES;
    if (gram) kr_tile(t, tj, tk);
    if (t < KR_D) kd[t] = rows > 0 ? (double)x[t] : 0.0;
    double T[16];
#pragma unroll
    for (int i = 0; i < 16; i++) T[i] = 0.0;
    double S = 0.0;  // threads t < 64: S_t
    __syncthreads();
    for (u64 ch = blockIdx.x; ch < chunks; ch += gridDim.x) {
        const u64 r0 = ch * KR_CH;
        const int m = (int)(rows - r0 < KR_CH ? rows - r0 : KR_CH);
        // Load the chunk (contiguous: m·64 floats) with 16-byte loads.
        const float4* src = (const float4*)(x + r0 * KR_D);
        for (int v = t; v < m * (KR_D / 4); v += blockDim.x) ((float4*)orig)[v] = src[v];
        if (t == 0) lossy = 0;
        __syncthreads();
        // Column centres: four row phases per column, then one thread per column.
        float p = 0.0f;
        for (int r = q; r < m; r += 4) p += orig[r * KR_D + col] - orig[col];
        red[q][col] = p;
        __syncthreads();
        if (t < KR_D) {
            double s4 = ((double)red[0][t] + (double)red[1][t]) + ((double)red[2][t] + (double)red[3][t]);
            cs[t] = (float)((double)orig[t] + s4 / (double)m);
        }
        __syncthreads();
        p = 0.0f;
        for (int r = q; r < m; r += 4) {
            float d = orig[r * KR_D + col] - cs[col];
            cen[r * KR_D + col] = d;
            p += d;
        }
        red[q][col] = p;
        __syncthreads();
        if (t < KR_D) {
            double s4 = ((double)red[0][t] + (double)red[1][t]) + ((double)red[2][t] + (double)red[3][t]);
            t1s[t] = s4;
            if (!isfinite(s4)) lossy = 1;
        }
        // The chunk's Gram tile in f32 (at most 64 terms per accumulator).
        float g[16];
#pragma unroll
        for (int i = 0; i < 16; i++) g[i] = 0.0f;
        if (gram) {
            for (int r = 0; r < m; r++) {
                const float4 a = *(const float4*)&cen[r * KR_D + 4 * tj];
                const float4 b = *(const float4*)&cen[r * KR_D + 4 * tk];
                const float av[4] = {a.x, a.y, a.z, a.w}, bv[4] = {b.x, b.y, b.z, b.w};
#pragma unroll
                for (int i = 0; i < 4; i++)
#pragma unroll
                    for (int k = 0; k < 4; k++) g[4 * i + k] = fmaf(av[i], bv[k], g[4 * i + k]);
            }
            if (tj == tk) {
#pragma unroll
                for (int i = 0; i < 4; i++) {
                    float dd = g[5 * i];
                    if (!(dd >= KR_TINY && dd <= 3.40282347e38f)) lossy = 1;  // NaN fails too
                }
            }
        }
        __syncthreads();
        const bool wide = lossy != 0;  // the same in every thread of the block
        double G[16];
        if (!wide) {
            if (t < KR_D) mu[t] = (double)cs[t] + t1s[t] / (double)m;
            __syncthreads();
            if (gram) {
#pragma unroll
                for (int i = 0; i < 4; i++)
#pragma unroll
                    for (int k = 0; k < 4; k++)
                        G[4 * i + k] = (double)g[4 * i + k] - t1s[4 * tj + i] * t1s[4 * tk + k] / (double)m;
            }
        } else {
            // f64: exact column means, then centred products.
            if (t < KR_D) {
                double s = 0.0;
                for (int r = 0; r < m; r++) s += (double)orig[r * KR_D + t];
                mu[t] = s / (double)m;
            }
            __syncthreads();
            if (gram) {
#pragma unroll
                for (int i = 0; i < 16; i++) G[i] = 0.0;
                for (int r = 0; r < m; r++) {
                    double a[4], b[4];
#pragma unroll
                    for (int i = 0; i < 4; i++) {
                        a[i] = (double)orig[r * KR_D + 4 * tj + i] - mu[4 * tj + i];
                        b[i] = (double)orig[r * KR_D + 4 * tk + i] - mu[4 * tk + i];
                    }
#pragma unroll
                    for (int i = 0; i < 4; i++)
#pragma unroll
                        for (int k = 0; k < 4; k++) G[4 * i + k] = fma(a[i], b[k], G[4 * i + k]);
                }
            }
        }
        // Shifted sums: δ = μ − K.
        if (t < KR_D) {
            delta[t] = mu[t] - kd[t];
            S += (double)m * delta[t];
        }
        __syncthreads();
        if (gram) {
#pragma unroll
            for (int i = 0; i < 4; i++)
#pragma unroll
                for (int k = 0; k < 4; k++)
                    T[4 * i + k] += G[4 * i + k] + (double)m * delta[4 * tj + i] * delta[4 * tk + k];
        }
        __syncthreads();  // orig, cen, mu and delta are rewritten by the next chunk
    }
    double* out = part + (u64)blockIdx.x * KR_PART;
    if (t < KR_D) out[t] = S;
    if (gram) {
#pragma unroll
        for (int i = 0; i < 4; i++)
#pragma unroll
            for (int k = 0; k < 4; k++) out[KR_D + (4 * tj + i) * KR_D + 4 * tk + k] = T[4 * i + k];
    }
}

// One block per output row j: each warp sums some of the 192 values row j needs over the B
// block partials (lanes strided, a fixed shuffle order: deterministic) — T[j][k], S_k and
// T[k][k] for every k — then thread k writes C[j][k] = (T_jk − S_j·S_k/R)/(R − 1), or P[j][k].
// T is read from its upper triangle, and every product is formed the same way in block j and
// block k, so the output is exactly symmetric.
template <bool PEARSON>
__device__ __forceinline__ void kr_gram_finish(float* __restrict__ out, const double* __restrict__ part, u64 rows,
                                               u64 blocks) {
    __shared__ double v[3 * KR_D];  // T[j][k], S_k, T[k][k]
    const u64 j = blockIdx.x;
    if (j >= KR_D) return;
    const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, nw = blockDim.x >> 5;
    for (int e = warp; e < 3 * KR_D; e += nw) {
        const int k = e % KR_D;
        u64 off;
        if (e < KR_D) off = KR_D + (j <= (u64)k ? j * KR_D + k : (u64)k * KR_D + j);
        else if (e < 2 * KR_D) off = k;
        else off = KR_D + (u64)k * KR_D + k;
        double s = 0.0;
        for (u64 b = lane; b < blocks; b += 32) s += part[b * KR_PART + off];
        s = kr_warp_allsum(s);
        if (lane == 0) v[e] = s;
    }
    __syncthreads();
    const int k = threadIdx.x;
    if (k >= KR_D) return;
    const double R = (double)rows;
    const double sj = v[KR_D + j], sk = v[KR_D + k];
    const double c = v[k] - (sj * sk) / R;
    double r;
    if (!PEARSON) {
        r = c / (R - 1.0);
    } else {
        const double cj = kr_nonneg(v[2 * KR_D + j] - (sj * sj) / R);
        const double ck = kr_nonneg(v[2 * KR_D + k] - (sk * sk) / R);
        const double lo = cj < ck ? cj : ck, hi = cj < ck ? ck : cj;  // one order for (j, k) and (k, j)
        r = rows < 2 ? __longlong_as_double(0x7ff8000000000000ll) : c / sqrt(lo * hi);
        r = r > 1.0 ? 1.0 : (r < -1.0 ? -1.0 : r);  // numpy's clip; NaN fails both and stays
    }
    out[j * KR_D + k] = (float)r;
}

extern "C" __global__ void reduce_covariance_matrix(const float* x, float* out, u64 n, const double* part, u64 rows,
                                                    u64 blocks) {
    kr_gram_finish<false>(out, part, rows, blocks);
}
extern "C" __global__ void reduce_pearson_pairwise(const float* x, float* out, u64 n, const double* part, u64 rows,
                                                   u64 blocks) {
    kr_gram_finish<true>(out, part, rows, blocks);
}
