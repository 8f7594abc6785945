// sorting: full sorts, top-k and order statistics of f32 data under IEEE 754 totalOrder, all on
// the u32 key k(b) of the entry (ks_key); values move as bits, never through a float compare.
//
// Radix sort (sort_radix): LSD, 8-bit digits, 4 passes. The tiles (4096 keys: 256 threads x 16)
// are split into one contiguous chunk per block; a pass counts each chunk's digits, scans the
// chunk counts (one block) into each chunk's first output position per digit, and scatters:
// every block walks its chunk's tiles in order, ranks a tile's keys stably (warp by warp, 32
// keys at a time, eight ballots group equal digits; per-warp digit counters in shared
// memory), reorders the tile by digit in shared memory and writes runs of equal digits to
// consecutive global positions, advancing its per-digit positions. No block waits for another.
// (Measured on an H200 at 10^8 with __match_any_sync ranking: this form 6.1 ms, a one-sweep
// form with a per-digit decoupled look-back 5.3 ms, CuPy/CUB 2.65 ms; the ranking has since
// moved to ballots, as CUB's own MatchAny does, because the hardware match serialises over the
// distinct digits of a warp.)
//
// Bitonic sort (sort_bitonic, sort_bitonic_kv): the network in its all-ascending form (the
// first step of stage k compares i with i ^ (k - 1), the later steps i with i + j), so slots
// >= N can be left virtual: they hold the maximum key, and an exchange with them never moves
// anything. Stages up to the shared-memory tile run in one kernel; a longer stage runs its
// strides >= the tile as global passes and the rest in shared memory again.
//
// Selections (median, percentiles, top-k): radix select in three rounds of 11, 11 and 10 bits:
// each round histograms, per wanted rank, the keys whose higher bits match that rank's prefix
// so far; a one-block kernel then picks the bucket holding the rank. After three rounds every
// wanted order statistic is known exactly, with the count of keys equal to it. top-k selects
// the k-th largest key K the same way, then (only if the keys equal to K do not all belong)
// the largest index among the tied ones that still belongs, gathers exactly k candidates and
// sorts them by (key descending, index ascending) with the bitonic kernels.

#define KS_IPT 16
#define KS_TILE 4096

__device__ __forceinline__ u32 ks_key(u32 b) { return b ^ ((u32)((int)b >> 31) | 0x80000000u); }
__device__ __forceinline__ u32 ks_unkey(u32 k) { return k ^ ((u32)((int)(~k) >> 31) | 0x80000000u); }
__device__ __forceinline__ bool ks_isnan(u32 b) { return (b & 0x7fffffffu) > 0x7f800000u; }
__device__ __forceinline__ u32 ks_lanemask_lt() { return (1u << (threadIdx.x & 31)) - 1u; }

// The lanes whose 8-bit digit d equals this lane's, among the lanes with `ok` (or, for a lane
// without, the lanes without): eight ballots, one per bit, as CUB's MatchAny does. The
// hardware __match_any_sync serialises over the distinct values of the warp, up to 32 here.
__device__ __forceinline__ u32 ks_match8(u32 d, bool ok) {
    const u32 valid = __ballot_sync(KR_FULL, ok);
    u32 m = ok ? valid : ~valid;
#pragma unroll
    for (int b = 0; b < 8; b++) {
        const bool bit = (d >> b) & 1u;
        const u32 bal = __ballot_sync(KR_FULL, bit);
        m &= bit ? bal : ~bal;
    }
    return m;
}

// Exclusive prefix over the block's 256 threads of one u32 each; `*total` gets the sum. `sh`
// holds 8 values. Contains two __syncthreads (so `sh` can be reused right after).
__device__ __forceinline__ u32 ks_block_exclusive(u32 v, u32* sh, u32* total) {
    const u32 lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
    u32 inc = v;
#pragma unroll
    for (int o = 1; o < 32; o <<= 1) {
        u32 u = __shfl_up_sync(KR_FULL, inc, o);
        if (lane >= (u32)o) inc += u;
    }
    if (lane == 31) sh[warp] = inc;
    __syncthreads();
    u32 before = 0, all = 0;
#pragma unroll
    for (u32 w = 0; w < 8; w++) {
        u32 s = sh[w];
        if (w < warp) before += s;
        all += s;
    }
    __syncthreads();
    *total = all;
    return before + inc - v;
}

// ---- radix sort -----------------------------------------------------------------------------
// Each pass is three kernels over the same split of the tiles into G contiguous chunks, one
// chunk per block: count (the digit histogram of each chunk), scan (one block: each chunk's
// first output position per digit) and scatter (each block walks its chunk's tiles in order,
// ranks every tile's keys stably, and keeps a running output position per digit). No block
// ever waits for another.

// The digit histogram of chunk blockIdx.x (tiles [b·per, (b+1)·per)), to partial[b·256 + d].
template <bool FIRST>
__device__ __forceinline__ void ks_radix_count(const u32* __restrict__ kin, u64 n, u32 shift, u32* partial, u64 tiles, u64 per) {
    __shared__ u32 h[256];
    h[threadIdx.x] = 0;
    __syncthreads();
    const u64 t0 = (u64)blockIdx.x * per;
    const u64 t1 = t0 + per < tiles ? t0 + per : tiles;
    const u64 start = t0 * KS_TILE;
    const u64 end = t1 * KS_TILE < n ? t1 * KS_TILE : n;
    const u32 lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
    for (u64 base = start + (u64)warp * 128; base < end; base += 8 * 128) {
        const u64 i0 = base + lane * 4;
        u32 w[4];
        kr_load4(kin, i0, end, w);
#pragma unroll
        for (int e = 0; e < 4; e++) {
            const bool ok = i0 + e < end;
            const u32 k = FIRST ? ks_key(w[e]) : w[e];
            if (ok) atomicAdd(&h[(k >> shift) & 255u], 1u);
        }
    }
    __syncthreads();
    partial[(u64)blockIdx.x * 256 + threadIdx.x] = h[threadIdx.x];
}

extern "C" __global__ void __launch_bounds__(256) sort_radix_count_first(const u32* kin, u64 n, u32 shift, u32* partial, u64 tiles,
                                                                         u64 per) {
    ks_radix_count<true>(kin, n, shift, partial, tiles, per);
}
extern "C" __global__ void __launch_bounds__(256) sort_radix_count(const u32* kin, u64 n, u32 shift, u32* partial, u64 tiles, u64 per) {
    ks_radix_count<false>(kin, n, shift, partial, tiles, per);
}

// One block: partial[b·256 + d] becomes the first output position of digit d in chunk b (the
// keys of smaller digits, plus digit d's keys in chunks before b). Thread d owns digit d; loads
// go eight at a time so they are in flight together.
extern "C" __global__ void __launch_bounds__(256) sort_radix_scan(u32* partial, u64 chunks) {
    __shared__ u32 sh[8];
    const u32 d = threadIdx.x;
    u32 total = 0;
    u64 b = 0;
    for (; b + 8 <= chunks; b += 8) {
        u32 v[8];
#pragma unroll
        for (int q = 0; q < 8; q++) v[q] = partial[(b + q) * 256 + d];
#pragma unroll
        for (int q = 0; q < 8; q++) {
            partial[(b + q) * 256 + d] = total;
            total += v[q];
        }
    }
    for (; b < chunks; b++) {
        const u32 v = partial[b * 256 + d];
        partial[b * 256 + d] = total;
        total += v;
    }
    u32 all;
    const u32 base = ks_block_exclusive(total, sh, &all);
    b = 0;
    for (; b + 8 <= chunks; b += 8) {
        u32 v[8];
#pragma unroll
        for (int q = 0; q < 8; q++) v[q] = partial[(b + q) * 256 + d];
#pragma unroll
        for (int q = 0; q < 8; q++) partial[(b + q) * 256 + d] = v[q] + base;
    }
    for (; b < chunks; b++) partial[b * 256 + d] += base;
}

// The scatter of chunk blockIdx.x: keys (raw f32 bits when FIRST) from kin to kout by the
// digit at `shift`, stably; LAST writes f32 bits back. `offsets` from sort_radix_scan.
// Requires n < 2^32.
template <bool FIRST, bool LAST>
__device__ __forceinline__ void ks_radix_scatter(const u32* __restrict__ kin, u32* __restrict__ kout, u64 n, u32 shift,
                                                 const u32* __restrict__ offsets, u64 tiles, u64 per) {
    __shared__ u32 s_cnt[8][256];  // per warp and digit: counts, then the warp's offset in the tile's digit run
    __shared__ u32 s_excl[256];    // per digit: where its run starts in the tile
    __shared__ u32 s_glob[256];    // per digit: where this tile's run starts in the output
    __shared__ u32 s_keys[KS_TILE];
    __shared__ u32 sh[8];
    const u32 t = threadIdx.x, lane = t & 31, warp = t >> 5;
    // Thread t owns digit t: the next output position of that digit in this chunk.
    u32 next = offsets[(u64)blockIdx.x * 256 + t];
    const u64 t0 = (u64)blockIdx.x * per;
    const u64 t1 = t0 + per < tiles ? t0 + per : tiles;
    for (u64 tile = t0; tile < t1; tile++) {
#pragma unroll
        for (int w = 0; w < 8; w++) s_cnt[w][t] = 0;
        const u64 base = tile * KS_TILE + (u64)warp * (32 * KS_IPT);
        u32 k[KS_IPT], r[KS_IPT];
#pragma unroll
        for (int i = 0; i < KS_IPT; i++) {
            const u64 idx = base + (u64)i * 32 + lane;
            const u32 v = idx < n ? kin[idx] : 0u;
            k[i] = FIRST ? ks_key(v) : v;
        }
        __syncthreads();
        // Stable ranks within the warp's 512 keys: 32 at a time, in index order.
#pragma unroll
        for (int i = 0; i < KS_IPT; i++) {
            const u64 idx = base + (u64)i * 32 + lane;
            const bool ok = idx < n;
            const u32 d = (k[i] >> shift) & 255u;
            const u32 peers = ks_match8(d, ok);
            const u32 lt = peers & ks_lanemask_lt();
            const u32 before = ok ? s_cnt[warp][d] : 0u;
            __syncwarp();
            if (ok && lt == 0) s_cnt[warp][d] = before + __popc(peers);
            __syncwarp();
            r[i] = before + __popc(lt);
        }
        __syncthreads();
        // The warps' counts become offsets, in warp (= index) order.
        u32 count = 0;
#pragma unroll
        for (int w = 0; w < 8; w++) {
            const u32 c = s_cnt[w][t];
            s_cnt[w][t] = count;
            count += c;
        }
        u32 tile_total;
        s_excl[t] = ks_block_exclusive(count, sh, &tile_total);
        s_glob[t] = next;
        next += count;
        __syncthreads();
        // Reorder the tile by digit in shared memory (stable: warp offset + rank in warp).
#pragma unroll
        for (int i = 0; i < KS_IPT; i++) {
            const u64 idx = base + (u64)i * 32 + lane;
            if (idx < n) {
                const u32 d = (k[i] >> shift) & 255u;
                s_keys[s_excl[d] + s_cnt[warp][d] + r[i]] = k[i];
            }
        }
        __syncthreads();
        const u64 rest = n - tile * KS_TILE;
        const u32 valid = rest < KS_TILE ? (u32)rest : KS_TILE;
        for (u32 j = t; j < valid; j += 256) {
            const u32 v = s_keys[j];
            const u32 d = (v >> shift) & 255u;
            kout[(u64)s_glob[d] + (j - s_excl[d])] = LAST ? ks_unkey(v) : v;
        }
        __syncthreads();
    }
}

extern "C" __global__ void __launch_bounds__(256) sort_radix_scatter_first(const u32* kin, u32* kout, u64 n, u32 shift,
                                                                           const u32* offsets, u64 tiles, u64 per) {
    ks_radix_scatter<true, false>(kin, kout, n, shift, offsets, tiles, per);
}
extern "C" __global__ void __launch_bounds__(256) sort_radix_scatter(const u32* kin, u32* kout, u64 n, u32 shift, const u32* offsets,
                                                                     u64 tiles, u64 per) {
    ks_radix_scatter<false, false>(kin, kout, n, shift, offsets, tiles, per);
}
extern "C" __global__ void __launch_bounds__(256) sort_radix_scatter_last(const u32* kin, u32* kout, u64 n, u32 shift,
                                                                          const u32* offsets, u64 tiles, u64 per) {
    ks_radix_scatter<false, true>(kin, kout, n, shift, offsets, tiles, per);
}

// ---- bitonic network ------------------------------------------------------------------------

// Pair p of a step with stride j: its lower slot (the bit j of i is clear).
__device__ __forceinline__ u64 ks_lower(u64 p, u64 j) { return ((p & ~(j - 1)) << 1) | (p & (j - 1)); }

// Tiles of TL slots in shared memory. `full`: every stage 2 … TL (the flip step, then the
// half-cleaners); else the half-cleaners of strides TL/2 … 1 of a longer stage. Slots >= n
// read as `pad` and are never written. `keyin`: src holds f32 bits (made keys on load);
// `keyout`: store f32 bits (u32 only).
template <typename T, int TL>
__device__ __forceinline__ void ks_bitonic_local(const T* src, T* dst, u64 n, T pad, u32 full, u32 keyin, u32 keyout) {
    __shared__ T s[TL];
    const u64 tiles = (n + TL - 1) / TL;
    for (u64 tile = blockIdx.x; tile < tiles; tile += gridDim.x) {
        const u64 b0 = tile * TL;
        for (u32 i = threadIdx.x; i < TL; i += blockDim.x) {
            T v = pad;
            if (b0 + i < n) {
                v = src[b0 + i];
                if (keyin) v = (T)ks_key((u32)v);
            }
            s[i] = v;
        }
        __syncthreads();
        // Exchange slot i with slot l > i: the smaller key to i.
        auto ce = [&](u32 i, u32 l) {
            const T a = s[i], b = s[l];
            if (a > b) { s[i] = b; s[l] = a; }
        };
        if (full) {
            for (u32 k = 2; k <= TL; k <<= 1) {
                for (u32 p = threadIdx.x; p < TL / 2; p += blockDim.x) {
                    const u32 i = (u32)ks_lower(p, k >> 1);
                    ce(i, i ^ (k - 1));
                }
                __syncthreads();
                for (u32 j = k >> 2; j > 0; j >>= 1) {
                    for (u32 p = threadIdx.x; p < TL / 2; p += blockDim.x) {
                        const u32 i = (u32)ks_lower(p, j);
                        ce(i, i + j);
                    }
                    __syncthreads();
                }
            }
        } else {
            for (u32 j = TL / 2; j > 0; j >>= 1) {
                for (u32 p = threadIdx.x; p < TL / 2; p += blockDim.x) {
                    const u32 i = (u32)ks_lower(p, j);
                    ce(i, i + j);
                }
                __syncthreads();
            }
        }
        for (u32 i = threadIdx.x; i < TL; i += blockDim.x) {
            if (b0 + i < n) {
                T v = s[i];
                if (keyout) v = (T)ks_unkey((u32)v);
                dst[b0 + i] = v;
            }
        }
        __syncthreads();
    }
}

// One global step of stage k (stride j; `flip`: the stage's first step, partner i ^ (2j - 1)).
template <typename T>
__device__ __forceinline__ void ks_bitonic_step(T* a, u64 n, u64 j, u32 flip, u64 pairs) {
    for (u64 p = kr_tid(); p < pairs; p += kr_nthreads()) {
        const u64 i = ks_lower(p, j);
        const u64 l = flip ? (i ^ (2 * j - 1)) : (i + j);
        if (l < n) {
            const T x = a[i], y = a[l];
            if (x > y) { a[i] = y; a[l] = x; }
        }
    }
}

#define KS_TL32 8192
#define KS_TL64 4096

extern "C" __global__ void __launch_bounds__(256) bitonic_local_u32(const u32* src, u32* dst, u64 n, u32 full, u32 keyin, u32 keyout) {
    ks_bitonic_local<u32, KS_TL32>(src, dst, n, 0xffffffffu, full, keyin, keyout);
}
extern "C" __global__ void __launch_bounds__(256) bitonic_local_u64(const u64* src, u64* dst, u64 n, u32 full, u32 keyin, u32 keyout) {
    ks_bitonic_local<u64, KS_TL64>(src, dst, n, KR_U64_MAX, full, 0, 0);
}
extern "C" __global__ void __launch_bounds__(256) bitonic_step_u32(u32* a, u64 n, u64 j, u32 flip, u64 pairs) {
    ks_bitonic_step<u32>(a, n, j, flip, pairs);
}
extern "C" __global__ void __launch_bounds__(256) bitonic_step_u64(u64* a, u64 n, u64 j, u32 flip, u64 pairs) {
    ks_bitonic_step<u64>(a, n, j, flip, pairs);
}

// Key–value: composites (k(key) << 32) | position, sorted as u64; then keys and values out.
extern "C" __global__ void __launch_bounds__(256) bitonic_kv_prep(const u32* keys, u64* c, u64 n) {
    for (u64 i = kr_tid(); i < n; i += kr_nthreads()) c[i] = ((u64)ks_key(keys[i]) << 32) | (u32)i;
}
extern "C" __global__ void __launch_bounds__(256) bitonic_kv_finish(const u64* c, const u32* values, u32* keys_out, u32* values_out,
                                                                    u64 n) {
    for (u64 i = kr_tid(); i < n; i += kr_nthreads()) {
        const u64 v = c[i];
        keys_out[i] = ks_unkey((u32)(v >> 32));
        values_out[i] = values[(u32)v];
    }
}

// ---- radix select ---------------------------------------------------------------------------
// State (bytes): 0 NaN flag (u32), 4 top-k candidate count (u32), 8 top-k "ties all taken"
// flag (u32); 64 original ranks u64[16]; 192 remaining ranks u64[16]; 320 key prefixes
// u32[16]; 384 counts of keys equal to the found key u32[16]; 512 histograms u32[16][2048].

#define KS_MAXT 16
#define KS_BINS 2048

struct KsSel {
    u32* nan;
    u32* count;
    u32* skip;
    u64* rank0;
    u64* rank;
    u32* prefix;
    u32* eq;
    u32* hist;
};

__device__ __forceinline__ KsSel ks_sel(u8* st) {
    KsSel s;
    s.nan = (u32*)st;
    s.count = (u32*)(st + 4);
    s.skip = (u32*)(st + 8);
    s.rank0 = (u64*)(st + 64);
    s.rank = (u64*)(st + 192);
    s.prefix = (u32*)(st + 320);
    s.eq = (u32*)(st + 384);
    s.hist = (u32*)(st + 512);
    return s;
}

// Round r: the digit's shift and width, and the mask of the bits already fixed.
__device__ __forceinline__ u32 ks_shift(u32 r) { return r == 0 ? 21u : r == 1 ? 10u : 0u; }
__device__ __forceinline__ u32 ks_bins(u32 r) { return r < 2 ? 2048u : 1024u; }
__device__ __forceinline__ u32 ks_fixed(u32 r) { return r == 0 ? 0u : r == 1 ? 0xffe00000u : 0xfffffc00u; }

// One block: targets 0 … tcount-1 get ranks r0 … (at most 10); everything else zeroed.
extern "C" __global__ void __launch_bounds__(256) select_init(u8* st, u32 tcount, u64 r0, u64 r1, u64 r2, u64 r3, u64 r4, u64 r5,
                                                              u64 r6, u64 r7, u64 r8, u64 r9) {
    KsSel s = ks_sel(st);
    const u64 r[10] = {r0, r1, r2, r3, r4, r5, r6, r7, r8, r9};
    if (threadIdx.x < KS_MAXT) {
        const u32 t = threadIdx.x;
        const u64 v = t < tcount && t < 10 ? r[t] : 0;
        s.rank0[t] = v;
        s.rank[t] = v;
        s.prefix[t] = 0;
        s.eq[t] = 0;
    }
    if (threadIdx.x == 0) { *s.nan = 0; *s.count = 0; *s.skip = 0; }
    for (u32 i = threadIdx.x; i < KS_MAXT * KS_BINS; i += blockDim.x) s.hist[i] = 0;
}

// Round r of the targets t0 … t0+tcount-1. mode 0: the values are the keys of x (round 0 also
// flags NaN); mode 1 (top-k ties): the values are the indices i of the keys equal to target
// 0's key, skipped entirely when the skip flag is set. Round 0 has no fixed bits, so every
// target shares target t0's histogram there.
extern "C" __global__ void __launch_bounds__(256) select_hist(const u32* __restrict__ x, u64 n, u8* st, u32 round, u32 t0, u32 tcount,
                                                              u32 mode) {
    __shared__ u32 h[KS_BINS];
    __shared__ u32 s_pre[KS_MAXT];
    __shared__ u32 s_flag;
    KsSel s = ks_sel(st);
    if (threadIdx.x == 0) s_flag = 0;
    if (threadIdx.x < KS_MAXT) s_pre[threadIdx.x] = s.prefix[threadIdx.x];
    for (u32 i = threadIdx.x; i < KS_BINS; i += 256) h[i] = 0;
    __syncthreads();
    if (mode == 1 && *(volatile u32*)s.skip) return;  // uniform over the block
    const u32 shift = ks_shift(round), bmask = ks_bins(round) - 1, fixed = ks_fixed(round);
    const u32 tie = s_pre[0];
    const u32 lane = threadIdx.x & 31;
    const u64 warp = (u64)blockIdx.x * 8 + (threadIdx.x >> 5);
    const u64 stride = (u64)gridDim.x * 8 * 128;
    bool nan = false;
    for (u64 base = warp * 128; base < n; base += stride) {
        const u64 i0 = base + lane * 4;
        u32 w[4];
        kr_load4(x, i0, n, w);
#pragma unroll
        for (int e = 0; e < 4; e++) {
            bool ok = i0 + e < n;
            const u32 k = ks_key(w[e]);
            u32 v = k;
            if (mode == 1) {
                ok = ok && k == tie;
                v = (u32)(i0 + e);
            } else if (round == 0) {
                nan |= ok && ks_isnan(w[e]);
            }
            if (round == 0) {
                if (ok) atomicAdd(&h[(v >> shift) & bmask], 1u);
            } else {
                for (u32 t = t0; t < t0 + tcount; t++) {
                    const bool m = ok && (v & fixed) == s_pre[t];
                    if (!__any_sync(KR_FULL, m)) continue;
                    const u32 d = m ? (v >> shift) & bmask : 0xffffffffu;
                    const u32 peers = __match_any_sync(KR_FULL, d);
                    if (m && (peers & ks_lanemask_lt()) == 0) atomicAdd(&s.hist[t * KS_BINS + d], (u32)__popc(peers));
                }
            }
        }
    }
    if (nan) atomicOr(&s_flag, 1u);
    __syncthreads();
    if (round == 0) {
        for (u32 i = threadIdx.x; i < KS_BINS; i += 256)
            if (h[i]) atomicAdd(&s.hist[t0 * KS_BINS + i], h[i]);
        if (threadIdx.x == 0 && s_flag) atomicOr(s.nan, 1u);
    }
}

// One block: for each target, the bucket of this round holding its remaining rank; the
// bucket's bits join the prefix, the rank becomes the rank within the bucket, and the
// bucket's count is kept (after round 2: the count of keys equal to the found key). Then the
// histograms used are zeroed for the next round.
extern "C" __global__ void __launch_bounds__(256) select_pick(u8* st, u32 round, u32 t0, u32 tcount, u32 mode) {
    __shared__ u32 sh[8];
    __shared__ u32 s_found[2];
    KsSel s = ks_sel(st);
    if (mode == 1 && *(volatile u32*)s.skip) return;  // uniform over the block
    const u32 bins = ks_bins(round), per = bins / 256, shift = ks_shift(round);
    for (u32 t = t0; t < t0 + tcount; t++) {
        const u32* h = s.hist + (round == 0 ? t0 : t) * KS_BINS;
        const u32 b0 = threadIdx.x * per;
        u32 mine = 0;
        for (u32 b = 0; b < per; b++) mine += h[b0 + b];
        u32 total;
        const u32 before = ks_block_exclusive(mine, sh, &total);
        const u64 r = s.rank[t];
        if (r >= before && r < (u64)before + mine) {
            u32 c = before;
            for (u32 b = 0; b < per; b++) {
                const u32 hb = h[b0 + b];
                if (r < (u64)c + hb) {
                    s_found[0] = b0 + b;
                    s_found[1] = c;
                    break;
                }
                c += hb;
            }
        }
        __syncthreads();
        if (threadIdx.x == 0) {
            const u32 b = s_found[0];
            s.prefix[t] |= b << shift;
            s.rank[t] = r - s_found[1];
            s.eq[t] = h[b];
        }
        __syncthreads();
    }
    const u32 first = t0, last = round == 0 ? t0 + 1 : t0 + tcount;
    for (u32 t = first; t < last; t++)
        for (u32 i = threadIdx.x; i < KS_BINS; i += 256) s.hist[t * KS_BINS + i] = 0;
}

// numpy's median from target 0 (and target 1 for even n).
extern "C" __global__ void median_finish(u8* st, float* y, u64 n) {
    KsSel s = ks_sel(st);
    if (threadIdx.x != 0 || blockIdx.x != 0) return;
    if (*s.nan) { *y = __uint_as_float(0x7fc00000u); return; }
    const float a = __uint_as_float(ks_unkey(s.prefix[0]));
    if (n & 1) { *y = a; return; }
    const float b = __uint_as_float(ks_unkey(s.prefix[1]));
    *y = (float)(__dadd_rn((double)a, (double)b) * 0.5);
}

// numpy's percentile ('linear') per q, in f64 with every operation rounded as written.
extern "C" __global__ void percentile_finish(u8* st, float* y, u64 n, double q0, double q1, double q2, double q3, double q4,
                                             u32 tcount) {
    KsSel s = ks_sel(st);
    const u32 t = threadIdx.x;
    if (blockIdx.x != 0 || t >= 5) return;
    if (*s.nan) { y[t] = __uint_as_float(0x7fc00000u); return; }
    const double qs[5] = {q0, q1, q2, q3, q4};
    const double h = __dmul_rn((double)(n - 1), qs[t] / 100.0);
    const double lo_f = floor(h);
    const double g = __dsub_rn(h, lo_f);
    u64 lo = (u64)lo_f;
    if (lo > n - 1) lo = n - 1;
    const u64 hi = lo + 1 < n ? lo + 1 : n - 1;
    u32 ia = 0, ib = 0;
    for (u32 k = 0; k < tcount; k++) {
        if (s.rank0[k] == lo) ia = k;
        if (s.rank0[k] == hi) ib = k;
    }
    const double a = (double)__uint_as_float(ks_unkey(s.prefix[ia]));
    const double b = (double)__uint_as_float(ks_unkey(s.prefix[ib]));
    const double d = __dsub_rn(b, a);
    const double r = g >= 0.5 ? __dsub_rn(b, __dmul_rn(d, __dsub_rn(1.0, g))) : __dadd_rn(a, __dmul_rn(d, g));
    y[t] = (float)r;
}

// ---- top-k ------------------------------------------------------------------------------------

// After target 0 (rank n - k ascending) is found: `need` of the keys equal to it belong to the
// top k (the rest of it is strictly larger). If not all equal keys belong, target 1 selects
// the need-th smallest index among them; else the tie rounds are skipped.
extern "C" __global__ void topk_mid(u8* st) {
    KsSel s = ks_sel(st);
    if (threadIdx.x != 0 || blockIdx.x != 0) return;
    const u64 eq = s.eq[0], need = eq - s.rank[0];
    if (need < eq) {
        s.rank0[1] = need - 1;
        s.rank[1] = need - 1;
        s.prefix[1] = 0;
        *s.skip = 0;
    } else {
        *s.skip = 1;
    }
}

// The k candidates: keys above K, and keys equal to K at indices up to the tie limit. Written
// unordered as ((~key) << 32) | index, whose ascending order is the output order.
extern "C" __global__ void __launch_bounds__(256) topk_compact(const u32* __restrict__ x, u64 n, u8* st, u64* cand) {
    KsSel s = ks_sel(st);
    const u32 K = s.prefix[0];
    const u32 limit = *s.skip ? 0xffffffffu : s.prefix[1];
    const u32 lane = threadIdx.x & 31;
    const u64 warp = (u64)blockIdx.x * 8 + (threadIdx.x >> 5);
    const u64 stride = (u64)gridDim.x * 8 * 128;
    for (u64 base = warp * 128; base < n; base += stride) {
        const u64 i0 = base + lane * 4;
        u32 w[4];
        kr_load4(x, i0, n, w);
#pragma unroll
        for (int e = 0; e < 4; e++) {
            const u32 k = ks_key(w[e]);
            const u32 i = (u32)(i0 + e);
            const bool take = i0 + e < n && (k > K || (k == K && i <= limit));
            const u32 ballot = __ballot_sync(KR_FULL, take);
            if (ballot == 0) continue;
            u32 at = 0;
            if (lane == (u32)(__ffs(ballot) - 1)) at = atomicAdd(s.count, (u32)__popc(ballot));
            at = __shfl_sync(KR_FULL, at, __ffs(ballot) - 1);
            if (take) cand[at + __popc(ballot & ks_lanemask_lt())] = ((u64)(~k) << 32) | i;
        }
    }
}

extern "C" __global__ void __launch_bounds__(256) topk_write(const u64* cand, u32* values, u64* indices, u64 k) {
    for (u64 i = kr_tid(); i < k; i += kr_nthreads()) {
        const u64 c = cand[i];
        values[i] = ks_unkey(~(u32)(c >> 32));
        indices[i] = (u32)c;
    }
}
