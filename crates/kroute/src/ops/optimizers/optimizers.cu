// optimizers on CUDA (kernels/optimizers.md): each step is one pass over float4 loads of every
// state tensor (Adam/AdamW: p, g, m, v read once, p, m, v written once), in the maps' launch
// shape: two float4 of each stream per thread, a grid as big as the work; the n % 4 tail goes
// to the first threads.
// The entries' constants arrive derived in f64 on the host and rounded once to f32 (extras after
// the spec's parameters), every multiply-add fused. `wide` (a constant that does not survive
// rounding to f32, e.g. lr = 1e300 or ε = 1e-60) selects the same step in f64 from the f64
// parameters, uniformly for the launch. grad_clip_norm is two launches: Σ g² in f64 (one launch,
// last block combines), then the scaling pass.

// One element of each step: f32 constants, or the f64 definition when WIDE. Either way the
// parameter update reads the new state as stored (f32), as the reference does.
struct KrSgd {
    float lr, mu;
    double lr64, mu64;
};

template <bool WIDE>
__device__ __forceinline__ float kr_sgd1(float p, float g, const KrSgd& k) {
    return WIDE ? (float)((double)p - k.lr64 * (double)g) : fmaf(-k.lr, g, p);
}

// buf' = μ·buf + g; p' = p − lr·buf'.
template <bool WIDE>
__device__ __forceinline__ void kr_momentum1(float p, float g, float b, float& po, float& bo, const KrSgd& k) {
    if (WIDE) {
        bo = (float)(k.mu64 * (double)b + (double)g);
        po = (float)((double)p - k.lr64 * (double)bo);
    } else {
        bo = fmaf(k.mu, b, g);
        po = fmaf(-k.lr, bo, p);
    }
}

// β1, 1 − β1, β2, 1 − β2, lr/bc1, √bc2, ε, 1 − lr·λ as f32; and in f64 the same step's
// definition: lr, β1, β2, ε, the decay factor and bc1, bc2.
struct KrAdam {
    float b1, c1, b2, c2, step, sbc2, eps, wd;
    double lr64, b164, b264, eps64, wd64, bc1, bc2;
};

template <bool WIDE>
__device__ __forceinline__ void kr_adam1(float p, float g, float m, float v, float& po, float& mo, float& vo,
                                         const KrAdam& k) {
    if (WIDE) {
        double gd = g;
        mo = (float)(k.b164 * (double)m + (1.0 - k.b164) * gd);
        vo = (float)(k.b264 * (double)v + (1.0 - k.b264) * (gd * gd));
        po = (float)((double)p * k.wd64 - k.lr64 * ((double)mo / k.bc1) / (sqrt((double)vo / k.bc2) + k.eps64));
    } else {
        // (1 − β2)·g² as fma((1 − β2)·g, g, β2·v): no g² is formed (it overflows from |g| = 1.9e19
        // and is subnormal below 1.1e-19, where the sum need not be).
        mo = fmaf(k.b1, m, k.c1 * g);
        vo = fmaf(k.c2 * g, g, k.b2 * v);
        float denom = sqrtf(vo) / k.sbc2 + k.eps;
        float u = mo / denom, pw = p * k.wd;
        // An m/denominator below the normal range has lost bits (or all of them) while m is not 0
        // and the denominator finite: then ((lr/bc1)·m)/denominator (m/inf = 0 is exact).
        bool small = fabsf(u) < 1.17549435e-38f && mo != 0.0f && denom < __int_as_float(0x7f800000);
        po = small ? pw - (k.step * mo) / denom : fmaf(-k.step, u, pw);
    }
}

// The skeleton over float4s of every stream, in the maps' chunked shape (prelude, KR_MAP_U = 2:
// block b's threads take float4s b·2B + t and b·2B + B + t, on a grid as big as the work):
// LOAD(u, j) loads set u (P0, G0, … or P1, G1, …) from float4 j, ELEM4(u) computes set u's four
// elements, STORE(u, j) writes them, and TAIL(t) handles one element of the n % 4 tail. The loop
// over chunks keeps any grid correct.
#define KR_OPT_LOOP(LOAD, ELEM4, STORE, TAIL)                                    \
    {                                                                            \
        const u64 nv = n >> 2, B = blockDim.x, step = (u64)gridDim.x * B * 2;    \
        for (u64 i = (u64)blockIdx.x * B * 2 + threadIdx.x; i < nv; i += step) { \
            if (i + B < nv) {                                                    \
                LOAD(0, i) LOAD(1, i + B)                                        \
                ELEM4(0) ELEM4(1)                                                \
                STORE(0, i) STORE(1, i + B)                                      \
            } else {                                                             \
                LOAD(0, i) ELEM4(0) STORE(0, i)                                  \
            }                                                                    \
        }                                                                        \
        u64 t = (nv << 2) + kr_tid();                                            \
        if (t < n) { TAIL(t) }                                                   \
    }

// ---- opt_sgd: p' = p − lr·g ----------------------------------------------------------------

template <bool WIDE>
__device__ __forceinline__ void kr_sgd(const float* __restrict__ p, const float* __restrict__ g,
                                       float* __restrict__ po, u64 n, const KrSgd& k) {
    const float4 *p4 = (const float4*)p, *g4 = (const float4*)g;
    float4* o4 = (float4*)po;
#define LOAD(u, j) float4 P##u = p4[j], G##u = g4[j], O##u;
#define ELEM4(u)                               \
    O##u.x = kr_sgd1<WIDE>(P##u.x, G##u.x, k); \
    O##u.y = kr_sgd1<WIDE>(P##u.y, G##u.y, k); \
    O##u.z = kr_sgd1<WIDE>(P##u.z, G##u.z, k); \
    O##u.w = kr_sgd1<WIDE>(P##u.w, G##u.w, k);
#define STORE(u, j) o4[j] = O##u;
#define TAIL(t) po[t] = kr_sgd1<WIDE>(p[t], g[t], k);
    KR_OPT_LOOP(LOAD, ELEM4, STORE, TAIL)
#undef LOAD
#undef ELEM4
#undef STORE
#undef TAIL
}

extern "C" __global__ void opt_sgd(const float* p, const float* g, float* po, u64 n, double lr, float lr32,
                                   u32 wide) {
    KrSgd k = {lr32, 0.0f, lr, 0.0};
    if (wide) kr_sgd<true>(p, g, po, n, k);
    else kr_sgd<false>(p, g, po, n, k);
}

// ---- opt_sgd_momentum: buf' = μ·buf + g; p' = p − lr·buf' -----------------------------------

template <bool WIDE>
__device__ __forceinline__ void kr_momentum(const float* __restrict__ p, const float* __restrict__ g,
                                            const float* __restrict__ b, float* __restrict__ po,
                                            float* __restrict__ bo, u64 n, const KrSgd& k) {
    const float4 *p4 = (const float4*)p, *g4 = (const float4*)g, *b4 = (const float4*)b;
    float4 *po4 = (float4*)po, *bo4 = (float4*)bo;
#define LOAD(u, j) float4 P##u = p4[j], G##u = g4[j], B##u = b4[j], PO##u, BO##u;
#define ELEM4(u)                                                        \
    kr_momentum1<WIDE>(P##u.x, G##u.x, B##u.x, PO##u.x, BO##u.x, k);    \
    kr_momentum1<WIDE>(P##u.y, G##u.y, B##u.y, PO##u.y, BO##u.y, k);    \
    kr_momentum1<WIDE>(P##u.z, G##u.z, B##u.z, PO##u.z, BO##u.z, k);    \
    kr_momentum1<WIDE>(P##u.w, G##u.w, B##u.w, PO##u.w, BO##u.w, k);
#define STORE(u, j) po4[j] = PO##u; bo4[j] = BO##u;
#define TAIL(t) kr_momentum1<WIDE>(p[t], g[t], b[t], po[t], bo[t], k);
    KR_OPT_LOOP(LOAD, ELEM4, STORE, TAIL)
#undef LOAD
#undef ELEM4
#undef STORE
#undef TAIL
}

extern "C" __global__ void opt_sgd_momentum(const float* p, const float* g, const float* b, float* po, float* bo,
                                            u64 n, double lr, double mu, float lr32, float mu32, u32 wide) {
    KrSgd k = {lr32, mu32, lr, mu};
    if (wide) kr_momentum<true>(p, g, b, po, bo, n, k);
    else kr_momentum<false>(p, g, b, po, bo, n, k);
}

// ---- opt_adam, opt_adamw: m, v, then p from the new m and v, in one pass ---------------------

template <bool WIDE>
__device__ __forceinline__ void kr_adam(const float* __restrict__ p, const float* __restrict__ g,
                                        const float* __restrict__ m, const float* __restrict__ v,
                                        float* __restrict__ po, float* __restrict__ mo, float* __restrict__ vo,
                                        u64 n, const KrAdam& k) {
    const float4 *p4 = (const float4*)p, *g4 = (const float4*)g, *m4 = (const float4*)m, *v4 = (const float4*)v;
    float4 *po4 = (float4*)po, *mo4 = (float4*)mo, *vo4 = (float4*)vo;
#define LOAD(u, j) float4 P##u = p4[j], G##u = g4[j], M##u = m4[j], V##u = v4[j], PO##u, MO##u, VO##u;
#define ELEM4(u)                                                                       \
    kr_adam1<WIDE>(P##u.x, G##u.x, M##u.x, V##u.x, PO##u.x, MO##u.x, VO##u.x, k);      \
    kr_adam1<WIDE>(P##u.y, G##u.y, M##u.y, V##u.y, PO##u.y, MO##u.y, VO##u.y, k);      \
    kr_adam1<WIDE>(P##u.z, G##u.z, M##u.z, V##u.z, PO##u.z, MO##u.z, VO##u.z, k);      \
    kr_adam1<WIDE>(P##u.w, G##u.w, M##u.w, V##u.w, PO##u.w, MO##u.w, VO##u.w, k);
#define STORE(u, j) po4[j] = PO##u; mo4[j] = MO##u; vo4[j] = VO##u;
#define TAIL(t) kr_adam1<WIDE>(p[t], g[t], m[t], v[t], po[t], mo[t], vo[t], k);
    KR_OPT_LOOP(LOAD, ELEM4, STORE, TAIL)
#undef LOAD
#undef ELEM4
#undef STORE
#undef TAIL
}

// Extras (both kernels): the eight f32 constants, bc1 and bc2 in f64, and `wide`.
__device__ __forceinline__ void kr_adam_run(const float* p, const float* g, const float* m, const float* v,
                                            float* po, float* mo, float* vo, u64 n, KrAdam k, u32 wide) {
    if (wide) kr_adam<true>(p, g, m, v, po, mo, vo, n, k);
    else kr_adam<false>(p, g, m, v, po, mo, vo, n, k);
}

extern "C" __global__ void opt_adam(const float* p, const float* g, const float* m, const float* v, float* po,
                                    float* mo, float* vo, u64 n, double lr, double beta1, double beta2, double eps,
                                    u64 t, float b1, float c1, float b2, float c2, float step, float sbc2, float epsf,
                                    float wd, double bc1, double bc2, u32 wide) {
    KrAdam k = {b1, c1, b2, c2, step, sbc2, epsf, wd, lr, beta1, beta2, eps, 1.0, bc1, bc2};
    kr_adam_run(p, g, m, v, po, mo, vo, n, k, wide);
}

extern "C" __global__ void opt_adamw(const float* p, const float* g, const float* m, const float* v, float* po,
                                     float* mo, float* vo, u64 n, double lr, double beta1, double beta2, double eps,
                                     u64 t, double weight_decay, float b1, float c1, float b2, float c2, float step,
                                     float sbc2, float epsf, float wd, double bc1, double bc2, u32 wide) {
    KrAdam k = {b1, c1, b2, c2, step, sbc2, epsf, wd, lr, beta1, beta2, eps, 1.0 - lr * weight_decay, bc1, bc2};
    kr_adam_run(p, g, m, v, po, mo, vo, n, k, wide);
}

// ---- grad_clip_norm: Σ g² (f64, one launch), then g·coef ------------------------------------

// (g, total, n, area, scratch): the last block writes Σ g² to area[0] (f64, for the coefficient)
// and total = f32(√Σ g²).
extern "C" __global__ void grad_clip_norm_sumsq(const float* g, float* total, u64 n, double* area, u8* scratch) {
    double acc = kr_thread_sum(g, n, [](float x) {
        double d = x;
        return d * d;
    });
    double t;
    if (kr_grid_sum(acc, &t, scratch)) {
        area[0] = t;
        *total = (float)sqrt(t);
    }
}

// (g, g', total, n, max_norm, area): coef = min(1, c/(‖g‖ + 1e-6)) in f64 (NaN for a NaN norm),
// applied as an f32 product where coef is 0 or a normal f32, else in f64.
extern "C" __global__ void grad_clip_norm(const float* g, float* go, float* total, u64 n, double max_norm,
                                          const double* area) {
    double tot = sqrt(area[0]);
    double coef = isnan(tot) ? tot : fmin(1.0, max_norm / (tot + 1e-6));
    float cf = (float)coef;
    if (coef == 0.0 || (fabsf(cf) >= 1.17549435e-38f && fabsf(cf) <= 3.40282347e38f))
        kr_map1(g, go, n, [=](float x) { return x * cf; });
    else
        kr_map1(g, go, n, [=](float x) { return (float)((double)x * coef); });
}

// ---- grad_clip_value: clamp to [−c, c] keeping NaN (fminf/fmaxf alone would drop it) --------

extern "C" __global__ void grad_clip_value(const float* g, float* go, u64 n, float c) {
    kr_map1(g, go, n, [=](float x) { return x != x ? x : fminf(fmaxf(x, -c), c); });
}
