// linalg on CUDA (docs/kernels/linalg.md). Every matrix is row-major and contiguous.
//
// matmul_batched: one block of 256 threads per 128x128 product, each thread an 8x8 tile of C in
//   registers (rows ty*4+{0..3} and 64+ty*4+{0..3}, the same split of columns, so the float4
//   reads of the shared tiles fall in distinct banks); k in steps of 8 through double-buffered
//   shared tiles (A transposed, B as it is), the next step's global loads in flight while the
//   current one is multiplied. f32 FMAs only (no TF32). An element that comes out non-finite
//   or below 2^-100 in magnitude (an f32 product or partial overflowed or underflowed where the
//   answer is representable, or NaN/inf inputs) is computed again in f64.
// matvec: a warp per row, float4 loads of A from the row's first 16-byte boundary, f64 sums of
//   exact products, four loads in flight per lane.
// outer_product: a block per row, float4 stores from the row's first 16-byte boundary (float4
//   loads of y too where y lines up with the row).
// spmv_csr: a thread per row, f64 sums; every index guarded (device-resident indices are not
//   checked on the host: a column out of range gives NaN, row_ptr is clamped to nnz).
// triangular_solve: one block of 1024 threads, 32 rows at a time: warp 0 solves the 32x32
//   diagonal block (the row's lane divides, a shuffle broadcasts y_c, the lanes below
//   subtract), then every thread subtracts the new y from the f64 accumulators of its own rows
//   (kept in the work area). Only the lower triangle is read.

#define LA_M 128
#define LA_BK 8
#define LA_PAD 4

__device__ __forceinline__ bool la_suspect(float c) {
    // Not finite, or below 2^-100 in magnitude (NaN fails the compare and is caught by isfinite).
    return !isfinite(c) || fabsf(c) < 7.888609052210118e-31f;
}

// One element of C again in f64 (the rare path; out of line, so the main loop keeps its
// registers).
__device__ __noinline__ float la_redo(const float* __restrict__ a, const float* __restrict__ b, int row, int col) {
    double s = 0.0;
    for (int k = 0; k < LA_M; k++) s += (double)a[row * LA_M + k] * (double)b[k * LA_M + col];
    return (float)s;
}

// Two blocks per SM: at most 128 registers a thread.
extern "C" __global__ void __launch_bounds__(256, 2)
matmul_batched(const float* __restrict__ A, const float* __restrict__ B, float* __restrict__ C,
               u64 n, u64 batch) {
    __shared__ __align__(16) float As[2][LA_BK][LA_M + LA_PAD];
    __shared__ __align__(16) float Bs[2][LA_BK][LA_M];
    const int tid = threadIdx.x;
    const int ty = tid >> 4, tx = tid & 15;
    // Global load positions: A's 128x8 slab as 256 float4 (row tid/2, k 4*(tid%2)); B's 8x128
    // slab as 256 float4 (k row tid/32, columns 4*(tid%32)).
    const int ar = tid >> 1, ac = (tid & 1) * 4;
    const int br = tid >> 5, bc = (tid & 31) * 4;
    for (u64 m = blockIdx.x; m < batch; m += gridDim.x) {
        const float* a = A + m * (u64)(LA_M * LA_M);
        const float* b = B + m * (u64)(LA_M * LA_M);
        float* c = C + m * (u64)(LA_M * LA_M);
        float acc[8][8];
#pragma unroll
        for (int i = 0; i < 8; i++)
#pragma unroll
            for (int j = 0; j < 8; j++) acc[i][j] = 0.0f;
        float4 ga = *reinterpret_cast<const float4*>(a + ar * LA_M + ac);
        float4 gb = *reinterpret_cast<const float4*>(b + br * LA_M + bc);
        As[0][ac + 0][ar] = ga.x;
        As[0][ac + 1][ar] = ga.y;
        As[0][ac + 2][ar] = ga.z;
        As[0][ac + 3][ar] = ga.w;
        *reinterpret_cast<float4*>(&Bs[0][br][bc]) = gb;
        __syncthreads();
        int buf = 0;
        for (int k0 = 0; k0 < LA_M; k0 += LA_BK) {
            const bool more = k0 + LA_BK < LA_M;
            if (more) {
                ga = *reinterpret_cast<const float4*>(a + ar * LA_M + k0 + LA_BK + ac);
                gb = *reinterpret_cast<const float4*>(b + (k0 + LA_BK + br) * LA_M + bc);
            }
#pragma unroll
            for (int kk = 0; kk < LA_BK; kk++) {
                const float4 a0 = *reinterpret_cast<const float4*>(&As[buf][kk][ty * 4]);
                const float4 a1 = *reinterpret_cast<const float4*>(&As[buf][kk][64 + ty * 4]);
                const float4 b0 = *reinterpret_cast<const float4*>(&Bs[buf][kk][tx * 4]);
                const float4 b1 = *reinterpret_cast<const float4*>(&Bs[buf][kk][64 + tx * 4]);
                const float av[8] = {a0.x, a0.y, a0.z, a0.w, a1.x, a1.y, a1.z, a1.w};
                const float bv[8] = {b0.x, b0.y, b0.z, b0.w, b1.x, b1.y, b1.z, b1.w};
#pragma unroll
                for (int i = 0; i < 8; i++)
#pragma unroll
                    for (int j = 0; j < 8; j++) acc[i][j] = fmaf(av[i], bv[j], acc[i][j]);
            }
            if (more) {
                // The other buffer was last read before the previous step's barrier.
                const int nb = buf ^ 1;
                As[nb][ac + 0][ar] = ga.x;
                As[nb][ac + 1][ar] = ga.y;
                As[nb][ac + 2][ar] = ga.z;
                As[nb][ac + 3][ar] = ga.w;
                *reinterpret_cast<float4*>(&Bs[nb][br][bc]) = gb;
                __syncthreads();
                buf = nb;
            }
        }
#pragma unroll
        for (int i = 0; i < 8; i++) {
            const int row = (i < 4 ? 0 : 64) + ty * 4 + (i & 3);
#pragma unroll
            for (int h = 0; h < 2; h++) {
                const int col = h * 64 + tx * 4;
                float v[4] = {acc[i][h * 4], acc[i][h * 4 + 1], acc[i][h * 4 + 2], acc[i][h * 4 + 3]};
#pragma unroll
                for (int j = 0; j < 4; j++) {
                    if (la_suspect(v[j])) v[j] = la_redo(a, b, row, col + j);
                }
                *reinterpret_cast<float4*>(c + row * LA_M + col) = make_float4(v[0], v[1], v[2], v[3]);
            }
        }
        // The next matrix's first stores to buffer 0 must wait for every read of this one.
        __syncthreads();
    }
}

// (A, x, y, n = m*k, k, m): a warp per row of k elements.
extern "C" __global__ void __launch_bounds__(256)
matvec(const float* __restrict__ A, const float* __restrict__ x, float* __restrict__ y, u64 n,
       u64 k, u64 m) {
    const int lane = kr_lane();
    for (u64 r = kr_warp(); r < m; r += kr_nwarps()) {
        const float* row = A + r * k;
        // Elements before the row's first 16-byte boundary (0 to 3), then float4s, then a tail.
        u64 pre = ((16 - ((unsigned long long)row & 15)) & 15) >> 2;
        if (pre > k) pre = k;
        double acc = 0.0;
        if ((u64)lane < pre) acc = (double)row[lane] * (double)__ldg(x + lane);
        const float4* r4 = reinterpret_cast<const float4*>(row + pre);
        const u64 n4 = (k - pre) >> 2;
        u64 v = lane;
        for (; v + 96 < n4; v += 128) {
            float4 q[4];
#pragma unroll
            for (int u = 0; u < 4; u++) q[u] = __ldg(r4 + v + 32 * u);
#pragma unroll
            for (int u = 0; u < 4; u++) {
                const float* xs = x + pre + 4 * (v + 32 * u);
                acc += (double)q[u].x * (double)__ldg(xs) + (double)q[u].y * (double)__ldg(xs + 1) +
                       (double)q[u].z * (double)__ldg(xs + 2) + (double)q[u].w * (double)__ldg(xs + 3);
            }
        }
        for (; v < n4; v += 32) {
            const float4 q = __ldg(r4 + v);
            const float* xs = x + pre + 4 * v;
            acc += (double)q.x * (double)__ldg(xs) + (double)q.y * (double)__ldg(xs + 1) +
                   (double)q.z * (double)__ldg(xs + 2) + (double)q.w * (double)__ldg(xs + 3);
        }
        for (u64 j = pre + 4 * n4 + lane; j < k; j += 32) acc += (double)row[j] * (double)__ldg(x + j);
        acc = kr_warp_sum(acc);
        if (lane == 0) y[r] = (float)acc;
    }
}

// (x, y, A, n = len(x), m = len(y)): A[i][j] = x[i]*y[j], a block per row.
extern "C" __global__ void __launch_bounds__(256)
outer_product(const float* __restrict__ x, const float* __restrict__ y, float* __restrict__ A,
              u64 n, u64 m) {
    for (u64 i = blockIdx.x; i < n; i += gridDim.x) {
        const float xi = x[i];
        float* row = A + i * m;
        u64 pre = ((16 - ((unsigned long long)row & 15)) & 15) >> 2;
        if (pre > m) pre = m;
        if (threadIdx.x < pre) row[threadIdx.x] = xi * __ldg(y + threadIdx.x);
        float4* r4 = reinterpret_cast<float4*>(row + pre);
        const u64 n4 = (m - pre) >> 2;
        if ((((unsigned long long)(y + pre)) & 15) == 0) {
            // y lines up with the row (m % 4 = 0 and both 16-byte aligned): one 16-byte load
            // per 16-byte store instead of four 4-byte loads.
            const float4* y4 = reinterpret_cast<const float4*>(y + pre);
            for (u64 v = threadIdx.x; v < n4; v += blockDim.x) {
                const float4 w = __ldg(y4 + v);
                r4[v] = make_float4(xi * w.x, xi * w.y, xi * w.z, xi * w.w);
            }
        } else {
            for (u64 v = threadIdx.x; v < n4; v += blockDim.x) {
                const float* ys = y + pre + 4 * v;
                r4[v] = make_float4(xi * __ldg(ys), xi * __ldg(ys + 1), xi * __ldg(ys + 2), xi * __ldg(ys + 3));
            }
        }
        for (u64 j = pre + 4 * n4 + threadIdx.x; j < m; j += blockDim.x) row[j] = xi * __ldg(y + j);
    }
}

// (row_ptr, col, val, x, y, n = rows + 1, nnz, cols): a thread per row.
extern "C" __global__ void __launch_bounds__(256)
spmv_csr(const u32* __restrict__ row_ptr, const u32* __restrict__ col, const float* __restrict__ val,
         const float* __restrict__ x, float* __restrict__ y, u64 n, u64 nnz, u64 cols) {
    if (n == 0) return;
    const u64 rows = n - 1;
    for (u64 r = kr_tid(); r < rows; r += kr_nthreads()) {
        u64 p0 = row_ptr[r], p1 = row_ptr[r + 1];
        if (p1 > nnz) p1 = nnz;
        double acc = 0.0;
        for (u64 p = p0; p < p1; p++) {
            const u32 c = __ldg(col + p);
            const double xv = c < cols ? (double)__ldg(x + c) : __longlong_as_double(0x7ff8000000000000ll);
            acc += (double)__ldg(val + p) * xv;
        }
        y[r] = (float)acc;
    }
}

// The solve by one block of 1024 threads (every thread of the block calls it); acc = rows
// doubles of work area.
__device__ __forceinline__ void la_trsv(const float* __restrict__ L, const float* __restrict__ b,
                                        float* __restrict__ y, u64 rows, double* __restrict__ acc) {
    __shared__ float ys[32];
    const u64 t = threadIdx.x;
    for (u64 i = t; i < rows; i += blockDim.x) acc[i] = (double)b[i];
    __syncthreads();
    for (u64 r0 = 0; r0 < rows; r0 += 32) {
        const u64 r1 = r0 + 32 < rows ? r0 + 32 : rows;
        if (t < 32) {
            // The diagonal block: lane l owns row r0 + l.
            const u64 i = r0 + t;
            double a = i < r1 ? acc[i] : 0.0;
            float mine = 0.0f;
            for (u64 c = r0; c < r1; c++) {
                float yc = 0.0f;
                if (i == c) {
                    yc = (float)(a / (double)L[c * rows + c]);
                    mine = yc;
                }
                yc = __shfl_sync(KR_FULL, yc, (int)(c - r0));
                if (i > c && i < r1) a -= (double)L[i * rows + c] * (double)yc;
            }
            if (i < r1) {
                y[i] = mine;
                ys[t] = mine;
            }
        }
        __syncthreads();
        // Every later row owned by this thread subtracts the block's columns.
        for (u64 i = t; i < rows; i += blockDim.x) {
            if (i < r1) continue;
            const float* li = L + i * rows;
            double s = 0.0;
            for (u64 c = r0; c < r1; c++) s += (double)li[c] * (double)ys[c - r0];
            acc[i] -= s;
        }
        __syncthreads();
    }
}

// (L, b, y, n = rows*rows, rows, acc): one block of 1024 threads.
extern "C" __global__ void __launch_bounds__(1024)
triangular_solve(const float* __restrict__ L, const float* __restrict__ b, float* __restrict__ y,
                 u64 n, u64 rows, double* __restrict__ acc) {
    la_trsv(L, b, y, rows, acc);
}

// The cublas route's range check (ops/linalg/libraries.rs), after strsv wrote y: *flag = 1
// where some L_ii·y_i (in f64) is not finite or below 2^-100 in magnitude — the faer route's
// rule: strsv's f32 products or partial sums may have overflowed or underflowed there — else 0.
// One block of 1024 threads; the flag is written either way (nothing to clear).
extern "C" __global__ void __launch_bounds__(1024)
triangular_solve_check(const float* __restrict__ L, const float* __restrict__ y, u64 rows, u32* flag) {
    int bad = 0;
    for (u64 i = threadIdx.x; i < rows; i += blockDim.x) {
        const double v = (double)L[i * rows + i] * (double)y[i];
        bad |= !isfinite(v) || fabs(v) < 7.888609052210118e-31;  // 2^-100; NaN fails isfinite
    }
    bad = __syncthreads_or(bad);
    if (threadIdx.x == 0) *flag = bad ? 1u : 0u;
}

// (L, b, y, n, rows, acc, flag): triangular_solve again, over strsv's y, where the check set the
// flag; otherwise it returns at once (the flag is the same for the whole block).
extern "C" __global__ void __launch_bounds__(1024)
triangular_solve_redo(const float* __restrict__ L, const float* __restrict__ b, float* __restrict__ y,
                      u64 n, u64 rows, double* __restrict__ acc, const u32* __restrict__ flag) {
    if (*flag == 0u) return;
    la_trsv(L, b, y, rows, acc);
}
