// scans: single-pass prefix sums and compaction with decoupled look-back (Merrill & Garland).
//
// A tile is 256 threads × 16 consecutive elements. Blocks take tiles by ticket (an atomic
// counter), so every tile a block waits on is held by a block that is running. A block scans
// its tile (each thread its 16 elements, then the block over the threads' totals), publishes
// the tile's aggregate, and its first warp looks back over the predecessors' published values,
// 32 at a time, until it meets an inclusive prefix; then it publishes its own inclusive prefix
// and the block writes its results.
//
// Tile state (grown on the host as needed, never cleared; its layout fixed by its capacity in
// tiles, `cap`, for the area's lifetime): counters (ticket, blocks done), then flags u32[cap],
// aggregates u64[cap] and inclusive prefixes u64[cap]. A flag is (epoch << 2) | kind, kind 1 =
// the tile's aggregate is published, 2 = its inclusive prefix is too; a flag of another call's
// epoch reads as "not yet". The aggregate and the inclusive prefix have their own slots: a
// reader that saw "aggregate" must not read a value the tile has since overwritten with its
// inclusive prefix. A value is written before its flag, with a fence between; a reader fences
// after seeing the flag. The last block to finish resets the two counters.
//
// Values: the u32 scans carry u32 sums (wrapping), the f32 scan carries f64 (so a prefix that
// leaves the f32 range and comes back is still right), compaction carries u64 counts.

#define KR_IPT 16
#define KR_TILE (256 * KR_IPT)
#define KR_AGG 1u
#define KR_INC 2u

struct KrTiles {
    u32* counters;
    u32* flags;
    u64* aggregates;
    u64* inclusives;
};

__device__ __forceinline__ KrTiles kr_tiles(u8* state, u64 cap) {
    KrTiles t;
    t.counters = (u32*)state;
    t.flags = (u32*)(state + 256);
    t.aggregates = (u64*)(state + 256 + cap * 4);
    t.inclusives = (u64*)(state + 256 + cap * 12);
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

__device__ __forceinline__ void kr_publish(KrTiles t, u64 tile, u32 epoch, u32 kind, u64 bits) {
    u64* slot = kind == KR_INC ? t.inclusives : t.aggregates;
    ((volatile u64*)slot)[tile] = bits;
    __threadfence();
    ((volatile u32*)t.flags)[tile] = (epoch << 2) | kind;
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

// The exclusive prefix of this thread's total within the block; `*aggregate` gets the block's
// total. `sh` holds 8 values.
template <typename T>
__device__ __forceinline__ T kr_block_exclusive(T v, T* sh, T* aggregate) {
    const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
    T inc = kr_warp_inclusive(v);
    if (lane == 31) sh[warp] = inc;
    // The exclusive prefix from the lane below (not inc − v: inf − inf would be NaN).
    T exc = __shfl_up_sync(KR_FULL, inc, 1);
    if (lane == 0) exc = T(0);
    __syncthreads();
    T before = T(0), all = T(0);
#pragma unroll
    for (int w = 0; w < 8; w++) {
        T s = sh[w];
        if (w < warp) before += s;
        all += s;
    }
    *aggregate = all;
    return before + exc;
}

// The exclusive prefix of `tile` (all tiles before it), computed by warp 0 and returned in
// every thread of warp 0; publishes the tile's aggregate first and its inclusive prefix last.
template <typename T>
__device__ T kr_look_back(KrTiles t, u64 tile, u32 epoch, T aggregate) {
    const int lane = threadIdx.x & 31;
    if (tile == 0) {
        if (lane == 0) kr_publish(t, 0, epoch, KR_INC, kr_bits<T>(aggregate));
        return T(0);
    }
    if (lane == 0) kr_publish(t, tile, epoch, KR_AGG, kr_bits<T>(aggregate));
    T exclusive = T(0);
    i64 pred = (i64)tile - 1;
    while (true) {
        const i64 idx = pred - lane;
        u32 kind = KR_INC;
        T v = T(0);
        if (idx >= 0) {
            u32 f;
            do {
                f = ((volatile u32*)t.flags)[idx];
            } while ((f >> 2) != epoch);
            __threadfence();
            kind = f & 3;
            const u64* slot = kind == KR_INC ? t.inclusives : t.aggregates;
            v = kr_from_bits<T>(((volatile const u64*)slot)[idx]);
        }
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
    if (lane == 0) kr_publish(t, tile, epoch, KR_INC, kr_bits<T>(exclusive + aggregate));
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

// A thread's 16 words at i0: four 16-byte loads when all lie below n (then returns true), else
// one by one with 0 past n.
__device__ __forceinline__ bool kr_load16(const u32* __restrict__ x, u64 i0, u64 n, u32* w) {
    if (i0 + KR_IPT <= n) {
#pragma unroll
        for (int k = 0; k < KR_IPT; k += 4) {
            uint4 q = *(const uint4*)(x + i0 + k);
            w[k] = q.x; w[k + 1] = q.y; w[k + 2] = q.z; w[k + 3] = q.w;
        }
        return true;
    }
#pragma unroll
    for (int k = 0; k < KR_IPT; k++) w[k] = i0 + k < n ? x[i0 + k] : 0u;
    return false;
}

// ---- scans: u32 elements with u32 sums (mod 2^32), f32 elements with f64 sums ----------------

__device__ __forceinline__ u32 kr_word(u32 w, u32) { return w; }
__device__ __forceinline__ float kr_word(u32 w, float) { return __uint_as_float(w); }
__device__ __forceinline__ u32 kr_unword(u32 v) { return v; }
__device__ __forceinline__ u32 kr_unword(float v) { return __float_as_uint(v); }

// Elements E (u32 or float), running sums A (u32, wrapping, or double), each output rounded
// back to E.
template <typename E, typename A, bool INCLUSIVE>
__device__ __forceinline__ void kr_scan(const E* __restrict__ x, E* __restrict__ y, u64 n, u8* state, u32 epoch, u64 tiles,
                                        u64 cap) {
    __shared__ A sh[8];
    __shared__ u32 ticket;
    __shared__ A base;
    const KrTiles t = kr_tiles(state, cap);
    const u32* xw = (const u32*)x;
    u32* yw = (u32*)y;
    for (u64 tile = kr_ticket(t, &ticket); tile < tiles; tile = kr_ticket(t, &ticket)) {
        const u64 i0 = tile * KR_TILE + (u64)threadIdx.x * KR_IPT;
        u32 w[KR_IPT];
        const bool full = kr_load16(xw, i0, n, w);
        E v[KR_IPT];
#pragma unroll
        for (int k = 0; k < KR_IPT; k++) v[k] = kr_word(w[k], E());
        A sum = A(0);
#pragma unroll
        for (int k = 0; k < KR_IPT; k++) sum += (A)v[k];
        A aggregate;
        A before = kr_block_exclusive(sum, sh, &aggregate);
        if (threadIdx.x < 32) {
            A e = kr_look_back<A>(t, tile, epoch, aggregate);
            if (threadIdx.x == 0) base = e;
        }
        __syncthreads();
        A acc = base + before;
        u32 out[KR_IPT];
#pragma unroll
        for (int k = 0; k < KR_IPT; k++) {
            if (INCLUSIVE) { acc += (A)v[k]; out[k] = kr_unword((E)acc); }
            else { out[k] = kr_unword((E)acc); acc += (A)v[k]; }
        }
        if (full) {
#pragma unroll
            for (int k = 0; k < KR_IPT; k += 4) *(uint4*)(yw + i0 + k) = make_uint4(out[k], out[k + 1], out[k + 2], out[k + 3]);
        } else {
#pragma unroll
            for (int k = 0; k < KR_IPT; k++) if (i0 + k < n) yw[i0 + k] = out[k];
        }
    }
    kr_tiles_done(t);
}

extern "C" __global__ void __launch_bounds__(256) scan_inclusive(const u32* x, u32* y, u64 n, u8* state, u32 epoch, u64 tiles, u64 cap) {
    kr_scan<u32, u32, true>(x, y, n, state, epoch, tiles, cap);
}
extern "C" __global__ void __launch_bounds__(256) scan_exclusive(const u32* x, u32* y, u64 n, u8* state, u32 epoch, u64 tiles, u64 cap) {
    kr_scan<u32, u32, false>(x, y, n, state, epoch, tiles, cap);
}
extern "C" __global__ void __launch_bounds__(256) scan_inclusive_f32(const float* x, float* y, u64 n, u8* state, u32 epoch, u64 tiles,
                                                                     u64 cap) {
    kr_scan<float, double, true>(x, y, n, state, epoch, tiles, cap);
}

// ---- compaction -----------------------------------------------------------------------------
// Each thread flags its 16 elements, the block scans the counts, the look-back gives the tile's
// output offset, and each thread copies its kept words there in order. The last tile writes
// the count. Words move as u32 (NaN payloads, -0 and denormals unchanged).

template <bool MASK>
__device__ __forceinline__ void kr_compact(const u32* __restrict__ x, const u8* __restrict__ mask, u32* __restrict__ values,
                                           u64* count, u64 n, u8* state, u32 epoch, u64 tiles, u64 cap) {
    __shared__ u32 sh[8];
    __shared__ u32 ticket;
    __shared__ u64 base;
    const KrTiles t = kr_tiles(state, cap);
    for (u64 tile = kr_ticket(t, &ticket); tile < tiles; tile = kr_ticket(t, &ticket)) {
        const u64 i0 = tile * KR_TILE + (u64)threadIdx.x * KR_IPT;
        u32 v[KR_IPT];
        u32 keep = 0; // bit k: element k is kept
        if (kr_load16(x, i0, n, v)) {
            if (MASK) {
                uint4 m = *(const uint4*)(mask + i0);
                u32 w[4] = {m.x, m.y, m.z, m.w};
#pragma unroll
                for (int k = 0; k < KR_IPT; k++) keep |= (((w[k >> 2] >> ((k & 3) * 8)) & 0xffu) != 0u) << k;
            }
        } else if (MASK) {
#pragma unroll
            for (int k = 0; k < KR_IPT; k++) if (i0 + k < n) keep |= (mask[i0 + k] != 0) << k;
        }
        if (!MASK) {
#pragma unroll
            for (int k = 0; k < KR_IPT; k++) {
                // x > 0: the word lies in (0, +inf] (positive sign, not zero, not NaN).
                const bool in = i0 + k < n;
                keep |= (in && v[k] - 1u < 0x7f800000u) << k;
            }
        }
        const u32 kept = __popc(keep);
        u32 aggregate;
        u32 before = kr_block_exclusive(kept, sh, &aggregate);
        if (threadIdx.x < 32) {
            u64 e = kr_look_back<u64>(t, tile, epoch, (u64)aggregate);
            if (threadIdx.x == 0) {
                base = e;
                if (tile == tiles - 1) *count = e + aggregate;
            }
        }
        __syncthreads();
        u64 o = base + before;
#pragma unroll
        for (int k = 0; k < KR_IPT; k++) {
            if (keep >> k & 1) values[o++] = v[k];
        }
    }
    kr_tiles_done(t);
}

extern "C" __global__ void __launch_bounds__(256) compact_if(const u32* x, u32* values, u64* count, u64 n, u8* state, u32 epoch, u64 tiles, u64 cap) {
    kr_compact<false>(x, 0, values, count, n, state, epoch, tiles, cap);
}
extern "C" __global__ void __launch_bounds__(256) compact_mask(const u32* x, const u8* mask, u32* values, u64* count, u64 n, u8* state,
                                                               u32 epoch, u64 tiles, u64 cap) {
    kr_compact<true>(x, mask, values, count, n, state, epoch, tiles, cap);
}
