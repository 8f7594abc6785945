// layout: exact 32-bit copies. Values move as u32 words (never through float arithmetic, which
// may quiet a signalling NaN), so NaN payloads, -0 and denormals arrive unchanged.

// One 64×64 tile per block of 256 threads (64 columns × 4 rows, 16 words per thread in flight
// each way): the tile's rows are read coalesced into shared memory (one padding column keeps the
// column reads free of bank conflicts), then its columns are written coalesced as rows of B.
// Partial tiles at the right and bottom edges are masked. A square S×S matrix; s comes from the
// host. (32×32 tiles, 4 words per thread: 283 µs at 10^8 on the H200, 67% of copy.)
#define KL_T 64
extern "C" __global__ void __launch_bounds__(256) transpose_2d(const u32* __restrict__ a, u32* __restrict__ b, u64 n, u64 s) {
    __shared__ u32 tile[KL_T][KL_T + 1];
    const u64 tiles = (s + KL_T - 1) / KL_T;
    const int tx = threadIdx.x % KL_T, ty = threadIdx.x / KL_T;
    for (u64 t = blockIdx.x; t < tiles * tiles; t += gridDim.x) {
        const u64 ti = t / tiles, tj = t - ti * tiles;
        const u64 col = tj * KL_T + tx;
        u32 v[KL_T / 4];
#pragma unroll
        for (int k = 0; k < KL_T / 4; k++) {
            const u64 row = ti * KL_T + ty + 4 * k;
            v[k] = (row < s && col < s) ? a[row * s + col] : 0u;
        }
#pragma unroll
        for (int k = 0; k < KL_T / 4; k++) tile[ty + 4 * k][tx] = v[k];
        __syncthreads();
        const u64 bcol = ti * KL_T + tx;
#pragma unroll
        for (int k = 0; k < KL_T / 4; k++) {
            const u64 brow = tj * KL_T + ty + 4 * k;
            if (brow < s && bcol < s) b[brow * s + bcol] = tile[tx][ty + 4 * k];
        }
        __syncthreads();
    }
}

// A thread per record: one 16-byte load of (x, y, z, w), four coalesced stores, one per row.
extern "C" __global__ void repack_aos_to_soa(const uint4* __restrict__ aos, u32* __restrict__ soa, u64 n) {
    const u64 r_n = n >> 2;
    for (u64 r = kr_tid(); r < r_n; r += kr_nthreads()) {
        const uint4 v = aos[r];
        soa[r] = v.x;
        soa[r_n + r] = v.y;
        soa[2 * r_n + r] = v.z;
        soa[3 * r_n + r] = v.w;
    }
}

// The inverse: four coalesced loads, one from each row, one 16-byte store per record.
extern "C" __global__ void repack_soa_to_aos(const u32* __restrict__ soa, uint4* __restrict__ aos, u64 n) {
    const u64 r_n = n >> 2;
    for (u64 r = kr_tid(); r < r_n; r += kr_nthreads()) {
        aos[r] = make_uint4(soa[r], soa[r_n + r], soa[2 * r_n + r], soa[3 * r_n + r]);
    }
}
