// layout: exact 32-bit copies. Values move as u32 words (never through float arithmetic, which
// may quiet a signalling NaN), so NaN payloads, -0 and denormals arrive unchanged.

// One 32×32 tile per block of 256 threads (32 columns × 8 rows): the tile's rows are read
// coalesced into shared memory (one padding column keeps the column reads free of bank
// conflicts), then its columns are written coalesced as rows of B. Partial tiles at the right
// and bottom edges are masked. A square S×S matrix; s comes from the host.
extern "C" __global__ void transpose_2d(const u32* __restrict__ a, u32* __restrict__ b, u64 n, u64 s) {
    __shared__ u32 tile[32][33];
    const u64 tiles = (s + 31) >> 5;
    const int tx = threadIdx.x & 31, ty = threadIdx.x >> 5;
    for (u64 t = blockIdx.x; t < tiles * tiles; t += gridDim.x) {
        const u64 ti = t / tiles, tj = t - ti * tiles;
        const u64 col = (tj << 5) + tx;
        for (int k = ty; k < 32; k += 8) {
            const u64 row = (ti << 5) + k;
            if (row < s && col < s) tile[k][tx] = a[row * s + col];
        }
        __syncthreads();
        const u64 bcol = (ti << 5) + tx;
        for (int k = ty; k < 32; k += 8) {
            const u64 brow = (tj << 5) + k;
            if (brow < s && bcol < s) b[brow * s + bcol] = tile[tx][k];
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
