// simulation: explicit stencils, fused oscillator integrators, in-kernel Monte Carlo.
//
// Stencils: each update is computed in float first. Its error is then at most a few units of
// 2^-24 times the condition scale S = Σ|terms| (S ≥ |y|), plus 2^-149 per operation where a
// product or sum falls into the subnormals. A result with 2^-100 ≤ |y| ≤ 1e38 is kept; any
// other (NaN, ±inf, an overflow of a float intermediate where the f64 reference stays finite,
// a result near the overflow threshold, or a tiny one whose subnormal errors could matter) is
// recomputed in double, in the reference's own form and order. The double path is taken on
// special cells only, so the kernels move float data at float cost.
// The centre enters as the entries write it (u + r*(sum - 4u)), so an infinite interior cell
// gives NaN, as required. Boundary cells are moved as loaded (float loads and stores do not
// touch the bits).
//
// Integrators: the state is double throughout (an f32 state at dt near 2 amplifies its roundoff
// by up to ~1/sin(θ) per step: velocity Verlet's near-Jordan form), computed in registers.

// Whether a float-path result can stand (see above).
__device__ __forceinline__ bool sim_ok(float y) {
    const float a = fabsf(y);
    return a >= 7.888609052210118e-31f && a <= 1e38f;
}

// ---- 2-D grids ----------------------------------------------------------------------------------
// One thread per (column, strip of SIM_STRIP rows): consecutive threads take consecutive columns
// (coalesced). A thread first loads its column's SIM_STRIP + 2 rows (the strip and its halo)
// into registers, all loads in flight at once (enough bytes in flight to cover DRAM latency),
// then computes the strip; the left/right (and corner) neighbours are the neighbouring threads'
// loads of the same rows and come from L1. Each input row is read from DRAM about
// (SIM_STRIP + 2)/SIM_STRIP times, each output written once.
// fast(k, above, mid, below) returns the float update of interior cell k; a result sim_ok
// refuses is redone after the strip by slow(k), which reloads what it needs: the double path
// and its operands stay out of the strip's registers (more blocks per SM; 8 rows per strip and
// the deferred slow path took the heat step from 365 to ~300 µs at 10^8 on the H200).
#define SIM_STRIP 8

template <typename F, typename S>
__device__ __forceinline__ void sim_grid2(const float* __restrict__ u, float* __restrict__ out, u64 g, F fast, S slow) {
    const u64 t = kr_tid();
    const u64 s = t / g;
    const u64 i0 = s * SIM_STRIP;
    if (i0 >= g) return;
    const u64 col = t - s * g;
    const bool edge_col = col == 0 || col + 1 == g;
    float c[SIM_STRIP + 2];
#pragma unroll
    for (int r = 0; r < SIM_STRIP + 2; r++) {
        const u64 i = i0 + r;  // row i − 1
        c[r] = (i >= 1 && i - 1 < g) ? __ldg(&u[(i - 1) * g + col]) : 0.0f;
    }
    u32 redo = 0;
#pragma unroll
    for (int r = 0; r < SIM_STRIP; r++) {
        const u64 i = i0 + r;
        if (i < g) {
            const u64 k = i * g + col;
            if (edge_col || i == 0 || i + 1 == g) {
                out[k] = c[r + 1];
            } else {
                const float y = fast(k, c[r], c[r + 1], c[r + 2]);
                redo |= (u32)!sim_ok(y) << r;
                out[k] = y;
            }
        }
    }
    while (redo) {
        const int r = __ffs(redo) - 1;
        redo &= redo - 1;
        const u64 k = (i0 + r) * g + col;
        out[k] = slow(k);
    }
}

// One FTCS step from src to dst (the canonical u/out are step 1's; a multi-step launch passes
// the ping-pong pair as src/dst).
extern "C" __global__ void sim_heat_equation(const float* __restrict__ u0, float* __restrict__ out0, u64 n,
                                             float r, u64 steps, u64 g,
                                             const float* __restrict__ src, float* __restrict__ dst) {
    sim_grid2(src, dst, g, [=](u64 k, float a, float m, float b) {
        const float l = __ldg(&src[k - 1]), rt = __ldg(&src[k + 1]);
        return m + r * (((a + b) + (l + rt)) - 4.0f * m);
    }, [=](u64 k) {
        const double c = src[k];
        const double nb = (((double)src[k - g] + (double)src[k + g]) + (double)src[k - 1]) + (double)src[k + 1];
        return (float)(c + (double)r * (nb - 4.0 * c));
    });
}

extern "C" __global__ void sim_wave_equation(const float* __restrict__ up, const float* __restrict__ u,
                                             float* __restrict__ out, u64 n, float c2, u64 g) {
    sim_grid2(u, out, g, [=](u64 k, float a, float m, float b) {
        const float l = __ldg(&u[k - 1]), rt = __ldg(&u[k + 1]), p = __ldg(&up[k]);
        return 2.0f * m - p + c2 * (((a + b) + (l + rt)) - 4.0f * m);
    }, [=](u64 k) {
        const double c = u[k];
        const double nb = (((double)u[k - g] + (double)u[k + g]) + (double)u[k - 1]) + (double)u[k + 1];
        return (float)(2.0 * c - (double)up[k] + (double)c2 * (nb - 4.0 * c));
    });
}

// Cross-correlation with w0..w8 row-major over (row offset, column offset). The double path
// adds the products (exact in double: float × float) in the reference's order, w0 first, so it
// is the reference's sum bit for bit: with weights near FLT_MAX the products reach 1e77 and
// another order can cancel differently.
extern "C" __global__ void sim_stencil_2d(const float* __restrict__ u, float* __restrict__ out, u64 n,
                                          float w0, float w1, float w2, float w3, float w4, float w5,
                                          float w6, float w7, float w8, u64 g) {
    sim_grid2(u, out, g, [=](u64 k, float a, float m, float b) {
        const float a0 = __ldg(&u[k - g - 1]), a2 = __ldg(&u[k - g + 1]);
        const float m0 = __ldg(&u[k - 1]), m2 = __ldg(&u[k + 1]);
        const float b0 = __ldg(&u[k + g - 1]), b2 = __ldg(&u[k + g + 1]);
        return (w0 * a0 + w1 * a + w2 * a2) + (w3 * m0 + w4 * m + w5 * m2) + (w6 * b0 + w7 * b + w8 * b2);
    }, [=](u64 k) {
        double acc = (double)w0 * u[k - g - 1];
        acc += (double)w1 * u[k - g];
        acc += (double)w2 * u[k - g + 1];
        acc += (double)w3 * u[k - 1];
        acc += (double)w4 * u[k];
        acc += (double)w5 * u[k + 1];
        acc += (double)w6 * u[k + g - 1];
        acc += (double)w7 * u[k + g];
        return (float)(acc + (double)w8 * u[k + g + 1]);
    });
}

// ---- 3-D grid -------------------------------------------------------------------------------------
// A block is a 32 (k) × 8 (j) tile of one strip of SIM_STRIP planes along i; block b is
// (strip, tile j, tile k) with tile k fastest (tiles_k, tiles_j from the host). A thread loads
// its (j, k) column over the strip and its halo (all loads in flight), then computes the strip;
// the j±1 and k±1 neighbours are, inside the tile, the other threads' loads of the same planes
// (L1), and at the tile's edges a neighbouring tile's lines (L2). The double path is deferred as
// in 2-D.
extern "C" __global__ void sim_stencil_3d(const float* __restrict__ u, float* __restrict__ out, u64 n,
                                          float r, u64 g, u64 tiles_k, u64 tiles_j) {
    const u64 per_strip = tiles_k * tiles_j;
    const u64 b = blockIdx.x;
    const u64 s = b / per_strip;
    const u64 rest = b - s * per_strip;
    const u64 tj = rest / tiles_k, tk = rest - tj * tiles_k;
    const u64 kk = tk * 32 + (threadIdx.x & 31), j = tj * 8 + (threadIdx.x >> 5);
    const u64 i0 = s * SIM_STRIP;
    if (kk >= g || j >= g || i0 >= g) return;
    const u64 gg = g * g, m = j * g + kk;
    const bool edge_jk = j == 0 || j + 1 == g || kk == 0 || kk + 1 == g;
    float c[SIM_STRIP + 2];
#pragma unroll
    for (int q = 0; q < SIM_STRIP + 2; q++) {
        const u64 i = i0 + q;  // plane i − 1
        c[q] = (i >= 1 && i - 1 < g) ? __ldg(&u[(i - 1) * gg + m]) : 0.0f;
    }
    u32 redo = 0;
#pragma unroll
    for (int q = 0; q < SIM_STRIP; q++) {
        const u64 i = i0 + q;
        if (i < g) {
            const u64 k = i * gg + m;
            if (edge_jk || i == 0 || i + 1 == g) {
                out[k] = c[q + 1];
            } else {
                const float jm = __ldg(&u[k - g]), jp = __ldg(&u[k + g]);
                const float km = __ldg(&u[k - 1]), kp = __ldg(&u[k + 1]);
                const float mid = c[q + 1];
                const float y = mid + r * (((c[q] + c[q + 2]) + (jm + jp) + (km + kp)) - 6.0f * mid);
                redo |= (u32)!sim_ok(y) << q;
                out[k] = y;
            }
        }
    }
    while (redo) {
        const int q = __ffs(redo) - 1;
        redo &= redo - 1;
        const u64 k = (i0 + q) * gg + m;
        const double ctr = u[k];
        const double nb = (double)u[k - gg] + (double)u[k + gg] + (double)u[k - g] + (double)u[k + g] + (double)u[k - 1] + (double)u[k + 1];
        out[k] = (float)(ctr + (double)r * (nb - 6.0 * ctr));
    }
}

// ---- integrators ------------------------------------------------------------------------------------
// Fused: each oscillator's x and v read once, `steps` steps in double registers, x_new and v_new
// written once. ω² = 1, so −ω²·y is −y exactly.

__device__ __forceinline__ void sim_rk4(double& x, double& v, double h, double h2, double h6) {
    const double k1x = v, k1v = -x;
    const double k2x = v + h2 * k1v, k2v = -(x + h2 * k1x);
    const double k3x = v + h2 * k2v, k3v = -(x + h2 * k2x);
    const double k4x = v + h * k3v, k4v = -(x + h * k3x);
    const double xn = x + h6 * (k1x + 2.0 * k2x + 2.0 * k3x + k4x);
    const double vn = v + h6 * (k1v + 2.0 * k2v + 2.0 * k3v + k4v);
    x = xn;
    v = vn;
}

__device__ __forceinline__ void sim_verlet(double& x, double& v, double h, double hh, double h2) {
    const double a = -x;
    const double xn = x + h * v + hh * a;
    v = v + h2 * (a - xn);
    x = xn;
}

// Four oscillators per thread step through float4 loads (x and v: 32 bytes in flight per
// thread), the n % 4 tail to the first threads.
template <typename Step>
__device__ __forceinline__ void sim_oscillators(const float* __restrict__ x, const float* __restrict__ v,
                                                float* __restrict__ xo, float* __restrict__ vo, u64 n, u64 steps, Step step) {
    const float4* x4 = (const float4*)x;
    const float4* v4 = (const float4*)v;
    float4* xo4 = (float4*)xo;
    float4* vo4 = (float4*)vo;
    const u64 nv = n >> 2;
    for (u64 i = kr_tid(); i < nv; i += kr_nthreads()) {
        const float4 a = x4[i], b = v4[i];
        double p[4] = {a.x, a.y, a.z, a.w}, q[4] = {b.x, b.y, b.z, b.w};
        for (u64 s = 0; s < steps; s++) {
#pragma unroll
            for (int l = 0; l < 4; l++) step(p[l], q[l]);
        }
        xo4[i] = make_float4((float)p[0], (float)p[1], (float)p[2], (float)p[3]);
        vo4[i] = make_float4((float)q[0], (float)q[1], (float)q[2], (float)q[3]);
    }
    const u64 t = (nv << 2) + kr_tid();
    if (t < n) {
        double p = x[t], q = v[t];
        for (u64 s = 0; s < steps; s++) step(p, q);
        xo[t] = (float)p;
        vo[t] = (float)q;
    }
}

extern "C" __global__ void integrate_rk4(const float* __restrict__ x, const float* __restrict__ v,
                                         float* __restrict__ xo, float* __restrict__ vo, u64 n, float dt, u64 steps) {
    const double h = dt, h2 = h * 0.5, h6 = h / 6.0;
    sim_oscillators(x, v, xo, vo, n, steps, [=](double& a, double& b) { sim_rk4(a, b, h, h2, h6); });
}

extern "C" __global__ void integrate_verlet(const float* __restrict__ x, const float* __restrict__ v,
                                            float* __restrict__ xo, float* __restrict__ vo, u64 n, float dt, u64 steps) {
    const double h = dt, hh = h * h * 0.5, h2 = h * 0.5;
    sim_oscillators(x, v, xo, vo, n, steps, [=](double& a, double& b) { sim_verlet(a, b, h, hh, h2); });
}

// ---- Monte Carlo ------------------------------------------------------------------------------------
// Philox4x32-10 as docs/kernels/KERNELS.md §2 defines it (checked against crate::philox by the
// verification: the reference runs the host generator on the same counters).
__device__ __forceinline__ uint4 sim_philox(u32 c0, u32 c1, u32 c2, u32 c3, u32 k0, u32 k1) {
#pragma unroll
    for (int r = 0; r < 10; r++) {
        const u32 hi0 = __umulhi(0xD2511F53u, c0), lo0 = 0xD2511F53u * c0;
        const u32 hi1 = __umulhi(0xCD9E8D57u, c2), lo1 = 0xCD9E8D57u * c2;
        const u32 n0 = hi1 ^ c1 ^ k0, n2 = hi0 ^ c3 ^ k1;
        c0 = n0;
        c1 = lo1;
        c2 = n2;
        c3 = lo0;
        k0 += 0x9E3779B9u;
        k1 += 0xBB67AE85u;
    }
    return make_uint4(c0, c1, c2, c3);
}

// f(x) = 4/(1 + x²) at x = (w >> 8)·2^-24 (exact in float); IEEE division.
__device__ __forceinline__ float sim_mc_term(u32 w) {
    const float x = (float)(w >> 8) * 5.9604644775390625e-8f;
    return 4.0f / (1.0f + x * x);
}

// Each thread sums whole Philox blocks (stream 0: counter (j, j >> 32, 0, 0)), four terms in
// float, the blocks in double; thread 0 adds the words of a partial last block that lie below n.
// The last block combines the block partials in block order and writes f32(sum / n).
extern "C" __global__ void monte_carlo_integrate(const u8* __restrict__ size, float* __restrict__ out, u64 n,
                                                 u64 seed, u8* __restrict__ scratch) {
    const u32 k0 = (u32)seed, k1 = (u32)(seed >> 32);
    const u64 blocks = n >> 2;
    double acc = 0.0;
    for (u64 j = kr_tid(); j < blocks; j += kr_nthreads()) {
        const uint4 w = sim_philox((u32)j, (u32)(j >> 32), 0u, 0u, k0, k1);
        acc += (double)((sim_mc_term(w.x) + sim_mc_term(w.y)) + (sim_mc_term(w.z) + sim_mc_term(w.w)));
    }
    if (kr_tid() == 0 && (n & 3)) {
        const uint4 w = sim_philox((u32)blocks, (u32)(blocks >> 32), 0u, 0u, k0, k1);
        const u32 used = (u32)(n & 3);
        acc += sim_mc_term(w.x);
        if (used > 1) acc += sim_mc_term(w.y);
        if (used > 2) acc += sim_mc_term(w.z);
    }
    kr_finish_sum(acc, out, (double)n, 0, scratch);
}
