// scans: single-pass prefix sums and compaction with decoupled look-back (Merrill & Garland).
//
// A tile is THREADS × C chunks × 4 elements (the layout below; 4096 elements for the u32 scans
// and compaction, 8192 for the f32 scan). Blocks take tiles by
// ticket (an atomic counter), so every tile a block waits on is held by a block that is
// running. A block scans its tile (each thread its 16 elements, then the block over the
// threads' per-chunk totals), publishes
// the tile's aggregate, and its first warp looks back over the predecessors' published values,
// 32 at a time, until it meets an inclusive prefix; then it publishes its own inclusive prefix
// and the block writes its results.
//
// Tile state (grown on the host as needed, never cleared; its layout fixed by its capacity in
// tiles, `cap`, for the area's lifetime): counters (ticket, blocks done), then flags u32[cap],
// aggregates u64[cap], inclusive prefixes u64[cap] and packed status words u64[cap] (below). A flag is (epoch << 2) | kind, kind 1 =
// the tile's aggregate is published, 2 = its inclusive prefix is too; a flag of another call's
// epoch reads as "not yet". The aggregate and the inclusive prefix have their own slots: a
// reader that saw "aggregate" must not read a value the tile has since overwritten with its
// inclusive prefix. A value is written before its flag (release), a reader reads the flag
// before the value (acquire). The last block to finish resets the two counters.
//
// Values: the u32 scans carry u32 sums (wrapping), the f32 scan carries f64 (so a prefix that
// leaves the f32 range and comes back is still right), compaction carries u64 counts.

// Threads per block and chunks per tile (the layout below), measured on the H200 at 10^8
// (scripts/scan-variants.py): the u32 scans and compaction 128 × 8 (tiles of 4096, 8 blocks per
// SM), the f32 scan 256 × 8 (8192; its f64 sums take twice the registers). Larger tiles mean
// fewer steps on the chain of look-backs, which is what bounds these kernels; more registers
// mean fewer blocks per SM. cuda.rs launches each with the same figures.
#define KR_U32_THREADS 128
#define KR_U32_CHUNKS 8
#define KR_F32_THREADS 256
#define KR_F32_CHUNKS 8
#define KR_COMPACT_THREADS 128
#define KR_COMPACT_CHUNKS 8
#define KR_AGG 1u
#define KR_INC 2u

struct KrTiles {
    u32* counters;
    u32* flags;
    u64* aggregates;
    u64* inclusives;
    u64* words;
};

__device__ __forceinline__ KrTiles kr_tiles(u8* state, u64 cap) {
    KrTiles t;
    t.counters = (u32*)state;
    t.flags = (u32*)(state + 256);
    t.aggregates = (u64*)(state + 256 + cap * 4);
    t.inclusives = (u64*)(state + 256 + cap * 12);
    t.words = (u64*)(state + 256 + cap * 20);
    return t;
}

template <typename T> __device__ __forceinline__ u64 kr_bits(T v);
template <> __device__ __forceinline__ u64 kr_bits<u32>(u32 v) { return v; }
template <> __device__ __forceinline__ u64 kr_bits<u64>(u64 v) { return v; }
template <> __device__ __forceinline__ u64 kr_bits<double>(double v) { return (u64)__double_as_longlong(v); }
template <typename T> __device__ __forceinline__ T kr_from_bits(u64 b);
template <> __device__ __forceinline__ u32 kr_from_bits<u32>(u64 b) { return (u32)b; }
template <> __device__ __forceinline__ u64 kr_from_bits<u64>(u64 b) { return b; }
template <> __device__ __forceinline__ double kr_from_bits<double>(u64 b) { return __longlong_as_double((i64)b); }

// 32-bit values (the u32 scans, and compaction's counts below 2^32) travel with their flag in
// one u64 status word, (value << 32) | flag, in their own array (never holding raw 64-bit values,
// which could look like a flag): one 8-byte store publishes
// both, one 8-byte load reads both (single-copy atomic), so a look-back step is one L2 round
// trip and needs no fence. 64-bit values (f64 sums, u64 counts) have their own slots and a u32
// flag published with release semantics after the value and read with acquire before it.
__device__ __forceinline__ void kr_st_release(u32* p, u32 v) {
    asm volatile("st.release.gpu.global.u32 [%0], %1;" ::"l"(p), "r"(v) : "memory");
}
__device__ __forceinline__ u32 kr_ld_acquire(const u32* p) {
    u32 v;
    asm volatile("ld.acquire.gpu.global.u32 %0, [%1];" : "=r"(v) : "l"(p) : "memory");
    return v;
}
__device__ __forceinline__ void kr_st_relaxed(u64* p, u64 v) {
    asm volatile("st.relaxed.gpu.global.u64 [%0], %1;" ::"l"(p), "l"(v) : "memory");
}
__device__ __forceinline__ u64 kr_ld_relaxed(const u64* p) {
    u64 v;
    asm volatile("ld.relaxed.gpu.global.u64 %0, [%1];" : "=l"(v) : "l"(p) : "memory");
    return v;
}

template <typename T>
__device__ __forceinline__ void kr_publish(KrTiles t, u64 tile, u32 epoch, u32 kind, T v) {
    const u32 f = (epoch << 2) | kind;
    if (sizeof(T) == 4) {
        kr_st_relaxed(t.words + tile, kr_bits<T>(v) << 32 | f);
    } else {
        u64* slot = kind == KR_INC ? t.inclusives : t.aggregates;
        ((volatile u64*)slot)[tile] = kr_bits<T>(v);
        kr_st_release(t.flags + tile, f);
    }
}

// Tile idx's published value (waiting until it has published in this epoch); returns its kind.
template <typename T>
__device__ __forceinline__ u32 kr_status(KrTiles t, u64 idx, u32 epoch, T* v) {
    if (sizeof(T) == 4) {
        u64 w;
        do {
            w = kr_ld_relaxed(t.words + idx);
        } while (((u32)w >> 2) != epoch);
        *v = kr_from_bits<T>(w >> 32);
        return (u32)w & 3;
    }
    u32 f;
    do {
        f = kr_ld_acquire(t.flags + idx);
    } while ((f >> 2) != epoch);
    const u64* slot = (f & 3) == KR_INC ? t.inclusives : t.aggregates;
    *v = kr_from_bits<T>(((volatile const u64*)slot)[idx]);
    return f & 3;
}

// Inclusive warp scan (Hillis–Steele over shuffles).
template <typename T>
__device__ __forceinline__ T kr_warp_inclusive(T v) {
    const int lane = threadIdx.x & 31;
#pragma unroll
    for (int o = 1; o < 32; o <<= 1) {
        T u = __shfl_up_sync(KR_FULL, v, o);
        if (lane >= o) v += u;
    }
    return v;
}

template <typename T>
__device__ __forceinline__ T kr_warp_total(T v) {
#pragma unroll
    for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(KR_FULL, v, o);
    return v;
}

// The exclusive prefix of `tile` (all tiles before it), computed by warp 0 and returned in
// every thread of warp 0; publishes the tile's aggregate first and its inclusive prefix last.
template <typename T>
__device__ T kr_look_back(KrTiles t, u64 tile, u32 epoch, T aggregate) {
    const int lane = threadIdx.x & 31;
    if (tile == 0) {
        if (lane == 0) kr_publish<T>(t, 0, epoch, KR_INC, aggregate);
        return T(0);
    }
    if (lane == 0) kr_publish<T>(t, tile, epoch, KR_AGG, aggregate);
    T exclusive = T(0);
    i64 pred = (i64)tile - 1;
    while (true) {
        const i64 idx = pred - lane;
        u32 kind = KR_INC;
        T v = T(0);
        if (idx >= 0) kind = kr_status<T>(t, (u64)idx, epoch, &v);
        const u32 inc = __ballot_sync(KR_FULL, kind == KR_INC);
        if (inc) {
            // Lanes up to the nearest inclusive prefix (the lowest such lane) count.
            const int stop = __ffs(inc) - 1;
            exclusive += kr_warp_total(lane <= stop ? v : T(0));
            break;
        }
        exclusive += kr_warp_total(v);
        pred -= 32;
    }
    if (lane == 0) kr_publish<T>(t, tile, epoch, KR_INC, exclusive + aggregate);
    return exclusive;
}

// A block's next tile, or `tiles` when none is left.
__device__ __forceinline__ u64 kr_ticket(KrTiles t, u32* sh) {
    __syncthreads();
    if (threadIdx.x == 0) *sh = atomicAdd(&t.counters[0], 1u);
    __syncthreads();
    return *sh;
}

__device__ __forceinline__ void kr_tiles_done(KrTiles t) {
    if (kr_last_block(&t.counters[1]) && threadIdx.x == 0) t.counters[0] = 0;
}

// ---- the tile layout ----------------------------------------------------------------------------
// A tile is C chunks of THREADS × 4 elements; thread t holds elements 4t … 4t + 3 of
// each chunk, so every load and store of a warp is 512 contiguous bytes (16-byte accesses side by
// side), and the order of a thread's values is (chunk, thread, k). The block scans the threads'
// per-chunk sums for all chunks at once (C warp scans side by side).

// The exclusive prefix, in (chunk, thread) order, of this thread's per-chunk totals s[c] within
// the block of W warps: pre[c]. Returns the block's total. `sh` holds C × W values.
template <int C, int W, typename T>
__device__ __forceinline__ T kr_block_exclusive_chunks(const T* s, T* pre, T (*sh)[W]) {
    const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
    T exc[C];
#pragma unroll
    for (int c = 0; c < C; c++) {
        const T inc = kr_warp_inclusive(s[c]);
        if (lane == 31) sh[c][warp] = inc;
        // The exclusive prefix from the lane below (not inc − s: inf − inf would be NaN).
        exc[c] = __shfl_up_sync(KR_FULL, inc, 1);
        if (lane == 0) exc[c] = T(0);
    }
    __syncthreads();
    T run = T(0);
#pragma unroll
    for (int c = 0; c < C; c++) {
        T before = T(0), all = T(0);
#pragma unroll
        for (int w = 0; w < W; w++) {
            const T v = sh[c][w];
            if (w < warp) before += v;
            all += v;
        }
        pre[c] = run + (before + exc[c]);
        run += all;
    }
    return run;
}

// ---- scans: u32 elements with u32 sums (mod 2^32), f32 elements with f64 sums ----------------

__device__ __forceinline__ u32 kr_word(u32 w, u32) { return w; }
__device__ __forceinline__ float kr_word(u32 w, float) { return __uint_as_float(w); }
__device__ __forceinline__ u32 kr_unword(u32 v) { return v; }
__device__ __forceinline__ u32 kr_unword(float v) { return __float_as_uint(v); }

// Elements E (u32 or float), running sums A (u32, wrapping, or double), each output rounded
// back to E.
template <typename E, typename A, bool INCLUSIVE, int THREADS, int C>
__device__ __forceinline__ void kr_scan(const E* __restrict__ x, E* __restrict__ y, u64 n, u8* state, u32 epoch, u64 tiles,
                                        u64 cap) {
    __shared__ A sh[C][THREADS / 32];
    __shared__ u32 ticket;
    __shared__ A base;
    const KrTiles t = kr_tiles(state, cap);
    const u32* xw = (const u32*)x;
    u32* yw = (u32*)y;
    for (u64 tile = kr_ticket(t, &ticket); tile < tiles; tile = kr_ticket(t, &ticket)) {
        const u64 i0 = tile * (THREADS * 4 * C) + (u64)threadIdx.x * 4;
        u32 w[C][4];
#pragma unroll
        for (int c = 0; c < C; c++) kr_load4(xw, i0 + c * (THREADS * 4), n, w[c]);
        A s[C], pre[C];
#pragma unroll
        for (int c = 0; c < C; c++) {
            s[c] = A(0);
#pragma unroll
            for (int k = 0; k < 4; k++) s[c] += (A)kr_word(w[c][k], E());
        }
        const A aggregate = kr_block_exclusive_chunks<C, THREADS / 32>(s, pre, sh);
        if (threadIdx.x < 32) {
            A e = kr_look_back<A>(t, tile, epoch, aggregate);
            if (threadIdx.x == 0) base = e;
        }
        __syncthreads();
        const A b = base;
#pragma unroll
        for (int c = 0; c < C; c++) {
            A acc = b + pre[c];
            u32 out[4];
#pragma unroll
            for (int k = 0; k < 4; k++) {
                const A v = (A)kr_word(w[c][k], E());
                if (INCLUSIVE) { acc += v; out[k] = kr_unword((E)acc); }
                else { out[k] = kr_unword((E)acc); acc += v; }
            }
            kr_store4<u32>(yw, (i0 + c * (THREADS * 4)) >> 2, n, make_uint4(out[0], out[1], out[2], out[3]));
        }
    }
    kr_tiles_done(t);
}

extern "C" __global__ void __launch_bounds__(KR_U32_THREADS) scan_inclusive(const u32* x, u32* y, u64 n, u8* state, u32 epoch, u64 tiles,
                                                                          u64 cap) {
    kr_scan<u32, u32, true, KR_U32_THREADS, KR_U32_CHUNKS>(x, y, n, state, epoch, tiles, cap);
}
extern "C" __global__ void __launch_bounds__(KR_U32_THREADS) scan_exclusive(const u32* x, u32* y, u64 n, u8* state, u32 epoch, u64 tiles,
                                                                          u64 cap) {
    kr_scan<u32, u32, false, KR_U32_THREADS, KR_U32_CHUNKS>(x, y, n, state, epoch, tiles, cap);
}
extern "C" __global__ void __launch_bounds__(KR_F32_THREADS) scan_inclusive_f32(const float* x, float* y, u64 n, u8* state, u32 epoch,
                                                                              u64 tiles, u64 cap) {
    kr_scan<float, double, true, KR_F32_THREADS, KR_F32_CHUNKS>(x, y, n, state, epoch, tiles, cap);
}

// ---- compaction -----------------------------------------------------------------------------
// Each thread flags its elements, the block scans the counts, the look-back gives the tile's
// output offset; each thread puts its kept words in order into shared memory, and the block
// copies the tile's kept run out with consecutive threads on consecutive words. The last tile
// writes the count. Words move as u32 (NaN payloads, -0 and denormals unchanged).

// Counts (the look-back's values) are u32 when n < 2^32 (packed status), else u64.
#define KR_CTILE (KR_COMPACT_THREADS * 4 * KR_COMPACT_CHUNKS)
struct KrCompactShared {
    u32 sh[KR_COMPACT_CHUNKS][KR_COMPACT_THREADS / 32];
    u32 kept_words[KR_CTILE];
    u32 ticket;
    u64 base;
};

template <bool MASK, typename N>
__device__ __forceinline__ void kr_compact(const u32* __restrict__ x, const u8* __restrict__ mask, u32* __restrict__ values,
                                           u64* count, u64 n, u8* state, u32 epoch, u64 tiles, u64 cap, KrCompactShared& shm) {
    u32 (*sh)[KR_COMPACT_THREADS / 32] = shm.sh;
    u32* kept_words = shm.kept_words;
    u32& ticket = shm.ticket;
    u64& base = shm.base;
    const KrTiles t = kr_tiles(state, cap);
    for (u64 tile = kr_ticket(t, &ticket); tile < tiles; tile = kr_ticket(t, &ticket)) {
        const u64 i0 = tile * KR_CTILE + (u64)threadIdx.x * 4;
        u32 v[KR_COMPACT_CHUNKS][4];
        u32 keep[KR_COMPACT_CHUNKS]; // bit k: element k of the chunk is kept
#pragma unroll
        for (int c = 0; c < KR_COMPACT_CHUNKS; c++) {
            const u64 i = i0 + c * (KR_COMPACT_THREADS * 4);
            const bool full = kr_load4(x, i, n, v[c]);
            keep[c] = 0;
            if (MASK) {
                if (full) {
                    const u32 m = *(const u32*)(mask + i);
#pragma unroll
                    for (int k = 0; k < 4; k++) keep[c] |= (((m >> (k * 8)) & 0xffu) != 0u) << k;
                } else {
#pragma unroll
                    for (int k = 0; k < 4; k++) if (i + k < n) keep[c] |= (mask[i + k] != 0) << k;
                }
            } else {
#pragma unroll
                for (int k = 0; k < 4; k++) {
                    // x > 0: the word lies in (0, +inf] (positive sign, not zero, not NaN).
                    keep[c] |= (i + k < n && v[c][k] - 1u < 0x7f800000u) << k;
                }
            }
        }
        u32 s[KR_COMPACT_CHUNKS], pre[KR_COMPACT_CHUNKS];
#pragma unroll
        for (int c = 0; c < KR_COMPACT_CHUNKS; c++) s[c] = __popc(keep[c]);
        const u32 aggregate = kr_block_exclusive_chunks<KR_COMPACT_CHUNKS, KR_COMPACT_THREADS / 32>(s, pre, sh);
#pragma unroll
        for (int c = 0; c < KR_COMPACT_CHUNKS; c++) {
            u32 o = pre[c];
#pragma unroll
            for (int k = 0; k < 4; k++) {
                if (keep[c] >> k & 1) kept_words[o++] = v[c][k];
            }
        }
        if (threadIdx.x < 32) {
            const u64 e = kr_look_back<N>(t, tile, epoch, (N)aggregate);
            if (threadIdx.x == 0) {
                base = e;
                if (tile == tiles - 1) *count = e + aggregate;
            }
        }
        __syncthreads();
        const u64 b = base;
        for (u32 j = threadIdx.x; j < aggregate; j += KR_COMPACT_THREADS) values[b + j] = kept_words[j];
    }
    kr_tiles_done(t);
}

extern "C" __global__ void __launch_bounds__(KR_COMPACT_THREADS) compact_if(const u32* x, u32* values, u64* count, u64 n, u8* state, u32 epoch, u64 tiles, u64 cap) {
    __shared__ KrCompactShared m;
    if (n >> 32) kr_compact<false, u64>(x, 0, values, count, n, state, epoch, tiles, cap, m);
    else kr_compact<false, u32>(x, 0, values, count, n, state, epoch, tiles, cap, m);
}
extern "C" __global__ void __launch_bounds__(KR_COMPACT_THREADS) compact_mask(const u32* x, const u8* mask, u32* values, u64* count, u64 n, u8* state,
                                                               u32 epoch, u64 tiles, u64 cap) {
    __shared__ KrCompactShared m;
    if (n >> 32) kr_compact<true, u64>(x, mask, values, count, n, state, epoch, tiles, cap, m);
    else kr_compact<true, u32>(x, mask, values, count, n, state, epoch, tiles, cap, m);
}
