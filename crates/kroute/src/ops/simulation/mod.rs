//! The simulation domain: specs only (implementations come in a later issue).

use crate::spec::{side2, side3, Domain, KernelSpec, Metric, ParamSpec, Tolerance};

/// Implemented in a later tranche: no ops and no device kernels yet.
pub static OPS: &[crate::op::Op] = &[];
pub(crate) static CUDA: crate::backend::cuda::Table = crate::backend::cuda::Table::NONE;

// NOTE: G = round(√N) / round(∛N) is computed with side2 / side3, which clamp to 1; the domain
// header gives G = 0 at N = 0 (empty output), so bytes at N = 0 describe one cell rather than 0.
// NOTE: steps-scaled tolerances (sim_heat_equation, integrate_rk4, integrate_verlet) are
// sum(1e-6·steps); a static class holds one number, so it is stored at the default steps = 1
// (Sum { rtol: 1e-6 }) and a non-default steps = k needs Sum { rtol: 1e-6·k } (for the heat
// equation also with the multi-step scale S = T(|A|^(k−1)|u|)).

const STEPS: ParamSpec =
    ParamSpec::int("steps", 1.0, 1.0, 2147483647.0, "time steps (1 … 2^31 − 1)");

/// max(G − 2, 0) for the 2-D grid.
fn interior2(n: u64) -> f64 {
    (side2(n) as f64 - 2.0).max(0.0)
}

pub static SPECS: &[KernelSpec] = &[
    KernelSpec {
        name: "sim_heat_equation",
        domain: Domain::Simulation,
        computes: "steps FTCS (Jacobi) steps: interior u'[i,j] = u + r·(u[i−1,j] + u[i+1,j] + u[i,j−1] + u[i,j+1] − 4u); boundary copied",
        shapes: "u f32[G×G] ~ normal(0, 1) (stream 0), G = round(√N) → u_out f32[G×G]",
        params: &[
            ParamSpec::f32("r", 0.2, 0.0, 0.25, "diffusion number r (FTCS stability limit 0.25)"),
            STEPS,
        ],
        // Per output, S = |u| + r·(Σ_4 |u_nb| + 4|u|) at steps = 1 (boundary: bit-exact copy).
        tolerance: Tolerance::Sum { rtol: 1e-6 },
        metric: Metric::Bandwidth,
        // 8·G²·steps and 7·max(G − 2, 0)²·steps at the default steps = 1.
        bytes: |n| {
            let g = side2(n) as f64;
            8.0 * g * g
        },
        flops: |n| {
            let i = interior2(n);
            7.0 * i * i
        },
    },
    KernelSpec {
        name: "sim_wave_equation",
        domain: Domain::Simulation,
        computes: "one leapfrog step: interior u_next = 2u − u_prev + C²·(u[i−1,j] + u[i+1,j] + u[i,j−1] + u[i,j+1] − 4u); boundary u_next = u",
        shapes: "u_prev f32[G×G] ~ normal(0, 1) (stream 0), u f32[G×G] ~ normal(0, 1) (stream 1), G = round(√N) → u_next f32[G×G]",
        params: &[ParamSpec::f32("c2", 0.25, 0.0, 0.5, "C² (2-D CFL limit 0.5)")],
        // Per output, S = 2|u| + |u_prev| + C²·(Σ_4 |u_nb| + 4|u|) (boundary: bit-exact copy of u).
        tolerance: Tolerance::Sum { rtol: 1e-6 },
        metric: Metric::Bandwidth,
        bytes: |n| {
            let g = side2(n) as f64;
            12.0 * g * g
        },
        flops: |n| {
            let i = interior2(n);
            9.0 * i * i
        },
    },
    KernelSpec {
        name: "sim_stencil_2d",
        domain: Domain::Simulation,
        computes: "3×3 cross-correlation: interior out[i,j] = Σ_{a,b ∈ {−1,0,1}} w[(a+1)·3 + (b+1)]·u[i+a, j+b]; boundary copied",
        shapes: "u f32[G×G] ~ normal(0, 1) (stream 0), G = round(√N); weights f32[9] (parameter) → out f32[G×G]",
        // NOTE: the entry has one array parameter `weights` (9 f32 values, `--param
        // weights=w0,…,w8`); ParamSpec is scalar, so it is spelled as nine parameters w0 … w8 with
        // the defaults [1, 2, 1, 2, 4, 2, 1, 2, 1]/16, each any finite f32. The CLI needs to map
        // `weights=` onto them.
        params: &[
            ParamSpec::f32("w0", 0.0625, f32::MIN as f64, f32::MAX as f64, "weight [−1, −1]"),
            ParamSpec::f32("w1", 0.125, f32::MIN as f64, f32::MAX as f64, "weight [−1, 0]"),
            ParamSpec::f32("w2", 0.0625, f32::MIN as f64, f32::MAX as f64, "weight [−1, +1]"),
            ParamSpec::f32("w3", 0.125, f32::MIN as f64, f32::MAX as f64, "weight [0, −1]"),
            ParamSpec::f32("w4", 0.25, f32::MIN as f64, f32::MAX as f64, "weight [0, 0] (centre)"),
            ParamSpec::f32("w5", 0.125, f32::MIN as f64, f32::MAX as f64, "weight [0, +1]"),
            ParamSpec::f32("w6", 0.0625, f32::MIN as f64, f32::MAX as f64, "weight [+1, −1]"),
            ParamSpec::f32("w7", 0.125, f32::MIN as f64, f32::MAX as f64, "weight [+1, 0]"),
            ParamSpec::f32("w8", 0.0625, f32::MIN as f64, f32::MAX as f64, "weight [+1, +1]"),
        ],
        // Per output, S = Σ_9 |w_k·u_k| (boundary: bit-exact copy).
        tolerance: Tolerance::Sum { rtol: 1e-6 },
        metric: Metric::Bandwidth,
        bytes: |n| {
            let g = side2(n) as f64;
            8.0 * g * g
        },
        flops: |n| {
            let i = interior2(n);
            17.0 * i * i
        },
    },
    KernelSpec {
        name: "sim_stencil_3d",
        domain: Domain::Simulation,
        computes: "one 7-point step: interior u' = u + r·(u[i±1,j,k] + u[i,j±1,k] + u[i,j,k±1] − 6u); boundary copied",
        shapes: "u f32[G×G×G] ~ normal(0, 1) (stream 0), G = round(∛N) → u_out f32[G×G×G]",
        // NOTE: the valid range is [0, 1/6]; the max is stored as the f64 1/6, and f32(1/6)
        // (0.16666667) lies just above it, so the f32 nearest the limit is rejected.
        params: &[ParamSpec::f32("r", 0.125, 0.0, 1.0 / 6.0, "diffusion number r (3-D FTCS stability limit 1/6)")],
        // Per output, S = |u| + r·(Σ_6 |u_nb| + 6|u|) (boundary: bit-exact copy).
        tolerance: Tolerance::Sum { rtol: 1e-6 },
        metric: Metric::Bandwidth,
        bytes: |n| {
            let g = side3(n) as f64;
            8.0 * g * g * g
        },
        flops: |n| {
            let i = (side3(n) as f64 - 2.0).max(0.0);
            9.0 * i * i * i
        },
    },
    KernelSpec {
        name: "integrate_rk4",
        domain: Domain::Simulation,
        computes: "steps classical RK4 steps of x' = v, v' = −ω²x (ω = 1), h = dt, per oscillator; reference iterates the RK4 map in f64",
        shapes: "x f32[n] ~ normal(0, 1) (stream 0), v f32[n] ~ normal(0, 1) (stream 1), n = ⌊N/2⌋ → x_new f32[n], v_new f32[n]",
        params: &[
            // "(0, 2]": min = smallest positive f32.
            ParamSpec::f32("dt", 0.01, f32::from_bits(1) as f64, 2.0, "time step h"),
            STEPS,
        ],
        // Per output, S_i = |x_i| + |v_i| of the input state, at steps = 1.
        tolerance: Tolerance::Sum { rtol: 1e-6 },
        metric: Metric::Bandwidth,
        bytes: |n| 16.0 * (n / 2) as f64,
        flops: |n| 30.0 * (n / 2) as f64, // 30·n·steps at the default steps = 1
    },
    KernelSpec {
        name: "integrate_verlet",
        domain: Domain::Simulation,
        computes: "steps velocity-Verlet steps: a = −ω²x; x_new = x + h·v + (h²/2)·a; a_new = −ω²x_new; v_new = v + (h/2)·(a + a_new) (ω = 1, h = dt)",
        shapes: "x f32[n] ~ normal(0, 1) (stream 0), v f32[n] ~ normal(0, 1) (stream 1), n = ⌊N/2⌋ → x_new f32[n], v_new f32[n]",
        params: &[
            // "(0, 2)": min = smallest positive f32, max = largest f32 below 2 (2 − 2^−23).
            ParamSpec::f32("dt", 0.01, f32::from_bits(1) as f64, 2.0 - f32::EPSILON as f64, "time step h"),
            STEPS,
        ],
        // Per output, S_i = |x_i| + |v_i| of the input state, at steps = 1.
        tolerance: Tolerance::Sum { rtol: 1e-6 },
        metric: Metric::Bandwidth,
        bytes: |n| 16.0 * (n / 2) as f64,
        flops: |n| 9.0 * (n / 2) as f64, // 9·n·steps at the default steps = 1
    },
    KernelSpec {
        name: "monte_carlo_integrate",
        domain: Domain::Simulation,
        computes: "result = (1/N) Σ_{i<N} 4/(1 + x_i²), x_i = (w_i >> 8)·2^−24 from word i of stream 0, generated inside the kernel (Philox4x32-10)",
        shapes: "no array input (seed only) → result f32 scalar; N samples",
        // NOTE: the entry says "none beyond the global seed (default 42)"; the seed is taken to be
        // the harness's global seed, so no parameter is listed (the prng entries, by contrast,
        // list seed as their own parameter).
        params: &[],
        // NOTE: sum(1e-5) with S = the reference itself (all terms positive, so = stat(1e-5)); the
        // entry adds a statistical check |result − π| ≤ 5σ/√N + 1e-6 (σ² = 4 + 2π − π²) that no
        // class expresses and that must be run separately.
        tolerance: Tolerance::Sum { rtol: 1e-5 },
        metric: Metric::Samples,
        bytes: |_n| 4.0,
        flops: |n| 4.0 * n as f64,
    },
];
