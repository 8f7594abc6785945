//! The simulation domain (docs/kernels/simulation.md): 2-D and 3-D explicit stencils on
//! white-noise grids (boundary copied), fused ODE integrators for independent oscillators, and
//! Monte Carlo integration with in-kernel Philox samples.
//!
//! The updates' f32 intermediates (Σ of 4 or 6 neighbours, 2u, the RK4 stage sums, products of
//! weights near f32::MAX) overflow on inputs near 1e38 where the f64 reference, and so the
//! result, stays finite. So the stencils compute in f32 and recompute in f64, in the reference's
//! form and order, every result outside [2^−100, 1e38] (NaN, ±inf, near overflow, tiny: see
//! `cpu::Pass` and `sim_ok` in simulation.cu); multi-step stencils keep their state in f32
//! between steps (ping-pong). The integrators keep their state in f64 registers across the steps
//! (velocity Verlet near dt = 2 amplifies an f32 state's roundoff far past the tolerance).

pub(crate) mod cpu;
mod cuda;

pub(crate) use cuda::CUDA;

use crate::op::{input, shape, Case, Op};
// Monte Carlo's seed is the prng domain's parameter (range [0, 2^53]: the integers f64 holds).
use crate::ops::prng::{seed, SEED};
use crate::philox;
use crate::spec::{side2, side3, Domain, KernelSpec, Metric, ParamSpec, Tolerance};
use crate::tensor::{DType, Tensor, TensorDesc};
use crate::verify::Expected;
use crate::{Error, Params, Result};

// NOTE: G = round(√N) / round(∛N) is computed with side2 / side3, which clamp to 1; the domain
// header gives G = 0 at N = 0 (empty output), so bytes at N = 0 describe one cell rather than 0.
// NOTE: steps-scaled tolerances (sim_heat_equation, integrate_rk4, integrate_verlet) are
// sum(1e-6·steps); a static class holds one number, so it is stored at the default steps = 1
// (Sum { rtol: 1e-6 }) and a non-default steps = k needs Sum { rtol: 1e-6·k } (for the heat
// equation also with the multi-step scale S = T(|A|^(k−1)|u|)). The references fold the factor
// into the scale they return (scale = steps·S), so the static class stays sum(1e-6).
// NOTE: monte_carlo_integrate's entry takes the harness's global seed, but an op sees only its
// inputs and parameters (a size-only input carries n alone), so the seed is a parameter here,
// `seed` (default 42, as the prng entries spell it).

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
        // NOTE: the entry says "none beyond the global seed (default 42)"; an op cannot see the
        // harness's seed, so it is the parameter `seed` (default 42), as in the prng entries.
        params: &[SEED],
        // NOTE: sum(1e-5) with S = the reference itself (all terms positive, so = stat(1e-5)); the
        // entry adds a statistical check |result − π| ≤ 5σ/√N + 1e-6 (σ² = 4 + 2π − π²) that no
        // class expresses and that must be run separately.
        tolerance: Tolerance::Sum { rtol: 1e-5 },
        metric: Metric::Samples,
        bytes: |_n| 4.0,
        flops: |n| 4.0 * n as f64,
    },
];

// ---- shapes ----------------------------------------------------------------------------------

/// G = round(√N) (0 at N = 0: an empty grid); the spec's `side2` clamps to 1 for its bytes.
fn grid_side2(n: usize) -> usize {
    (n as f64).sqrt().round() as usize
}
/// G = round(∛N), 0 at N = 0.
fn grid_side3(n: usize) -> usize {
    (n as f64).cbrt().round() as usize
}

/// A square 2-D grid [G, G]: returns G.
fn square(name: &str, what: &str, t: &Tensor) -> Result<usize> {
    match *t.shape() {
        [a, b] if a == b => Ok(a),
        ref s => Err(Error::Shape(format!(
            "{name}: {what} must be a square 2-D grid [G, G], got shape {s:?}"
        ))),
    }
}

/// A cubic 3-D grid [G, G, G]: returns G.
fn cube(name: &str, t: &Tensor) -> Result<usize> {
    match *t.shape() {
        [a, b, c] if a == b && b == c => Ok(a),
        ref s => Err(Error::Shape(format!(
            "{name}: u must be a cubic 3-D grid [G, G, G], got shape {s:?}"
        ))),
    }
}

fn heat_shapes(i: &[&Tensor], _p: &Params) -> Result<Vec<TensorDesc>> {
    let g = square("sim_heat_equation", "u", i[0])?;
    Ok(vec![TensorDesc::new(DType::F32, &[g, g])])
}

fn wave_shapes(i: &[&Tensor], _p: &Params) -> Result<Vec<TensorDesc>> {
    let name = "sim_wave_equation";
    let gp = square(name, "u_prev", i[0])?;
    let g = square(name, "u", i[1])?;
    if gp != g {
        return Err(Error::Shape(format!(
            "{name}: u_prev and u must be the same grid, got {gp}×{gp} and {g}×{g}"
        )));
    }
    Ok(vec![TensorDesc::new(DType::F32, &[g, g])])
}

fn stencil2_shapes(i: &[&Tensor], _p: &Params) -> Result<Vec<TensorDesc>> {
    let g = square("sim_stencil_2d", "u", i[0])?;
    Ok(vec![TensorDesc::new(DType::F32, &[g, g])])
}

fn stencil3_shapes(i: &[&Tensor], _p: &Params) -> Result<Vec<TensorDesc>> {
    let g = cube("sim_stencil_3d", i[0])?;
    Ok(vec![TensorDesc::new(DType::F32, &[g, g, g])])
}

fn oscillator_shapes(name: &str, i: &[&Tensor]) -> Result<Vec<TensorDesc>> {
    for (t, what) in i.iter().zip(["x", "v"]) {
        if t.shape().len() != 1 {
            return Err(Error::Shape(format!(
                "{name}: {what} must be 1-D (one value per oscillator), got shape {:?}",
                t.shape()
            )));
        }
    }
    let n = shape::same_len(name, i)?;
    Ok(vec![
        TensorDesc::new(DType::F32, &[n]),
        TensorDesc::new(DType::F32, &[n]),
    ])
}
fn rk4_shapes(i: &[&Tensor], _p: &Params) -> Result<Vec<TensorDesc>> {
    oscillator_shapes("integrate_rk4", i)
}
fn verlet_shapes(i: &[&Tensor], _p: &Params) -> Result<Vec<TensorDesc>> {
    oscillator_shapes("integrate_verlet", i)
}

fn monte_carlo_shapes(i: &[&Tensor], _p: &Params) -> Result<Vec<TensorDesc>> {
    let name = "monte_carlo_integrate";
    if shape::generated(name, i[0])? == 0 {
        return Err(Error::Empty(format!(
            "{name} of N = 0 samples has no value (the mean of no samples)"
        )));
    }
    Ok(vec![TensorDesc::new(DType::F32, &[])])
}

// ---- references --------------------------------------------------------------------------------

/// The steps parameter (≥ 1 after the range check).
fn steps(p: &Params) -> usize {
    (p.get("steps") as usize).max(1)
}

/// One FTCS step of the written form u + r·(Σ_4 − 4u) on a G×G grid, boundary copied.
fn heat_step(src: &[f64], dst: &mut [f64], g: usize, r: f64) {
    dst.copy_from_slice(src);
    for i in 1..g.saturating_sub(1) {
        let (up, mid, dn) = (
            &src[(i - 1) * g..i * g],
            &src[i * g..(i + 1) * g],
            &src[(i + 1) * g..(i + 2) * g],
        );
        let out = &mut dst[i * g + 1..(i + 1) * g - 1];
        for (j, o) in out.iter_mut().enumerate() {
            let c = mid[j + 1];
            let nb = up[j + 1] + dn[j + 1] + mid[j] + mid[j + 2];
            *o = c + r * (nb - 4.0 * c);
        }
    }
}

/// T(a): the one-step condition scale |a| + r·(Σ_4 |a_nb| + 4|a|) (|a| on the boundary), for a
/// grid a of magnitudes.
fn heat_scale(a: &[f64], g: usize, r: f64) -> Vec<f64> {
    let mut s: Vec<f64> = a.iter().map(|v| v.abs()).collect();
    for i in 1..g.saturating_sub(1) {
        for j in 1..g - 1 {
            let c = a[i * g + j].abs();
            let nb = a[(i - 1) * g + j].abs()
                + a[(i + 1) * g + j].abs()
                + a[i * g + j - 1].abs()
                + a[i * g + j + 1].abs();
            s[i * g + j] = c + r * (nb + 4.0 * c);
        }
    }
    s
}

/// `steps` steps in f64 (rounded once by the checker); scale steps·T(|A|^(steps−1)|u|).
fn heat_reference(i: &[&Tensor], p: &Params) -> Vec<Expected> {
    let g = i[0].shape()[0];
    let (r, k) = (p.f32("r") as f64, steps(p));
    let u = i[0].to_f64_vec();
    let mut cur = u.clone();
    let mut next = vec![0.0; u.len()];
    for _ in 0..k {
        heat_step(&cur, &mut next, g, r);
        std::mem::swap(&mut cur, &mut next);
    }
    // |A| has the step's coefficients (r and 1 − 4r, both ≥ 0 for r ≤ 0.25): the same step on |u|.
    let mut mag: Vec<f64> = u.iter().map(|v| v.abs()).collect();
    for _ in 1..k {
        heat_step(&mag, &mut next, g, r);
        std::mem::swap(&mut mag, &mut next);
    }
    // Below f32's normal range a rounding errs by up to half a denormal step (2^−150) whatever
    // the value, so a relative bound alone cannot hold there: each stored step of an interior
    // cell (≤ 7 roundings) adds at most 7·2^−150, which the averaging |A| carries forward without
    // growth. Expressed in the scale (allowed = 1e-6·scale); only states near 1e-38 or smaller
    // notice it (the sweep's scale:1e-36 values at 64 steps ended at 1.9e-40, 26 denormal steps
    // from the f64 result).
    let floor = if k > 1 { 7.0 * 2f64.powi(-150) / 1e-6 } else { 0.0 };
    let scale = heat_scale(&mag, g, r)
        .into_iter()
        .map(|s| (s + floor) * k as f64)
        .collect();
    vec![Expected::new(DType::F32, &[g, g], cur).with_scale(scale)]
}

fn wave_reference(i: &[&Tensor], p: &Params) -> Vec<Expected> {
    let g = i[1].shape()[0];
    let c2 = p.f32("c2") as f64;
    let (up, u) = (i[0].to_f64_vec(), i[1].to_f64_vec());
    let mut y = u.clone();
    let mut s: Vec<f64> = u.iter().map(|v| v.abs()).collect();
    for a in 1..g.saturating_sub(1) {
        for b in 1..g - 1 {
            let k = a * g + b;
            let nb = [k - g, k + g, k - 1, k + 1];
            let sum: f64 = nb.iter().map(|&m| u[m]).sum();
            let abs: f64 = nb.iter().map(|&m| u[m].abs()).sum();
            y[k] = 2.0 * u[k] - up[k] + c2 * (sum - 4.0 * u[k]);
            s[k] = 2.0 * u[k].abs() + up[k].abs() + c2 * (abs + 4.0 * u[k].abs());
        }
    }
    vec![Expected::new(DType::F32, &[g, g], y).with_scale(s)]
}

/// The nine weights w0 … w8 (row-major over (a, b) ∈ {−1, 0, 1}²), as f32 values.
fn weights(p: &Params) -> [f32; 9] {
    std::array::from_fn(|k| p.f32(["w0", "w1", "w2", "w3", "w4", "w5", "w6", "w7", "w8"][k]))
}

fn stencil2_reference(i: &[&Tensor], p: &Params) -> Vec<Expected> {
    let g = i[0].shape()[0];
    let w = weights(p).map(|v| v as f64);
    let u = i[0].to_f64_vec();
    let mut y = u.clone();
    let mut s: Vec<f64> = u.iter().map(|v| v.abs()).collect();
    for a in 1..g.saturating_sub(1) {
        for b in 1..g - 1 {
            let (mut sum, mut abs) = (0.0, 0.0);
            for da in 0..3 {
                for db in 0..3 {
                    let t = w[da * 3 + db] * u[(a + da - 1) * g + b + db - 1];
                    sum += t;
                    abs += t.abs();
                }
            }
            y[a * g + b] = sum;
            s[a * g + b] = abs;
        }
    }
    vec![Expected::new(DType::F32, &[g, g], y).with_scale(s)]
}

fn stencil3_reference(i: &[&Tensor], p: &Params) -> Vec<Expected> {
    let g = i[0].shape()[0];
    let r = p.f32("r") as f64;
    let u = i[0].to_f64_vec();
    let mut y = u.clone();
    let mut s: Vec<f64> = u.iter().map(|v| v.abs()).collect();
    let gg = g * g;
    for a in 1..g.saturating_sub(1) {
        for b in 1..g - 1 {
            for c in 1..g - 1 {
                let k = a * gg + b * g + c;
                let nb = [k - gg, k + gg, k - g, k + g, k - 1, k + 1];
                let sum: f64 = nb.iter().map(|&m| u[m]).sum();
                let abs: f64 = nb.iter().map(|&m| u[m].abs()).sum();
                y[k] = u[k] + r * (sum - 6.0 * u[k]);
                s[k] = u[k].abs() + r * (abs + 6.0 * u[k].abs());
            }
        }
    }
    vec![Expected::new(DType::F32, &[g, g, g], y).with_scale(s)]
}

/// One RK4 step of x' = v, v' = −x (ω = 1), as the entry writes it.
fn rk4_step(x: f64, v: f64, h: f64) -> (f64, f64) {
    let w2 = 1.0;
    let (k1x, k1v) = (v, -w2 * x);
    let (k2x, k2v) = (v + h / 2.0 * k1v, -w2 * (x + h / 2.0 * k1x));
    let (k3x, k3v) = (v + h / 2.0 * k2v, -w2 * (x + h / 2.0 * k2x));
    let (k4x, k4v) = (v + h * k3v, -w2 * (x + h * k3x));
    (
        x + h / 6.0 * (k1x + 2.0 * k2x + 2.0 * k3x + k4x),
        v + h / 6.0 * (k1v + 2.0 * k2v + 2.0 * k3v + k4v),
    )
}

/// One velocity-Verlet step, as the entry writes it.
fn verlet_step(x: f64, v: f64, h: f64) -> (f64, f64) {
    let w2 = 1.0;
    let a = -w2 * x;
    let xn = x + h * v + (h * h / 2.0) * a;
    let an = -w2 * xn;
    (xn, v + (h / 2.0) * (a + an))
}

/// The k-step map of a linear one-step map `step` as a 2×2 matrix (columns: the images of (1, 0)
/// and (0, 1)), by repeated squaring in f64.
fn matrix_power(step: fn(f64, f64, f64) -> (f64, f64), h: f64, mut k: usize) -> [[f64; 2]; 2] {
    let mul = |a: [[f64; 2]; 2], b: [[f64; 2]; 2]| {
        let mut c = [[0.0; 2]; 2];
        for (r, row) in c.iter_mut().enumerate() {
            for (col, e) in row.iter_mut().enumerate() {
                *e = a[r][0] * b[0][col] + a[r][1] * b[1][col];
            }
        }
        c
    };
    let (e0, e1) = (step(1.0, 0.0, h), step(0.0, 1.0, h));
    let mut base = [[e0.0, e1.0], [e0.1, e1.1]];
    let mut acc = [[1.0, 0.0], [0.0, 1.0]];
    while k > 0 {
        if k & 1 == 1 {
            acc = mul(base, acc);
        }
        base = mul(base, base);
        k >>= 1;
    }
    acc
}

/// `steps` steps of a linear oscillator map in f64: finite states through the k-step matrix (the
/// iterated map up to f64 rounding, so large `steps` stay cheap), non-finite ones iterated as
/// written (IEEE: inf − inf inside a stage gives NaN, which a matrix would not). Scale
/// steps·(|x| + |v|).
fn oscillator_reference(
    i: &[&Tensor],
    p: &Params,
    step: fn(f64, f64, f64) -> (f64, f64),
) -> Vec<Expected> {
    let (x, v) = (i[0].to_f64_vec(), i[1].to_f64_vec());
    let n = x.len();
    let (h, k) = (p.f32("dt") as f64, steps(p));
    let m = matrix_power(step, h, k);
    let (mut xo, mut vo) = (Vec::with_capacity(n), Vec::with_capacity(n));
    for (&a, &b) in x.iter().zip(&v) {
        let (xn, vn) = if a.is_finite() && b.is_finite() {
            (m[0][0] * a + m[0][1] * b, m[1][0] * a + m[1][1] * b)
        } else {
            let (mut s, mut t) = (a, b);
            for _ in 0..k {
                (s, t) = step(s, t, h);
                if s.is_nan() && t.is_nan() {
                    break;
                }
            }
            (s, t)
        };
        xo.push(xn);
        vo.push(vn);
    }
    let scale: Vec<f64> = x
        .iter()
        .zip(&v)
        .map(|(a, b)| k as f64 * (a.abs() + b.abs()))
        .collect();
    vec![
        Expected::new(DType::F32, &[n], xo).with_scale(scale.clone()),
        Expected::new(DType::F32, &[n], vo).with_scale(scale),
    ]
}
fn rk4_reference(i: &[&Tensor], p: &Params) -> Vec<Expected> {
    oscillator_reference(i, p, rk4_step)
}
fn verlet_reference(i: &[&Tensor], p: &Params) -> Vec<Expected> {
    oscillator_reference(i, p, verlet_step)
}

/// f(x) = 4/(1 + x²), x = (w >> 8)·2^−24.
fn mc_term(w: u32) -> f64 {
    let x = philox::unit(w);
    4.0 / (1.0 + x * x)
}

/// (1/N) Σ f(x_i) in f64 over words 0..N of stream 0; all terms are positive, so S = the result.
fn monte_carlo_reference(i: &[&Tensor], p: &Params) -> Vec<Expected> {
    let n = i[0].size_only_len().unwrap_or(0);
    let key = philox::key(seed(p));
    let sum: f64 = (0..n.div_ceil(4))
        .map(|j| {
            let w = philox::philox4x32_10([j as u32, (j >> 32) as u32, 0, 0], key);
            let used = (n - 4 * j).min(4);
            w[..used].iter().map(|&w| mc_term(w)).sum::<f64>()
        })
        .sum();
    let mean = sum / n.max(1) as f64;
    vec![Expected::new(DType::F32, &[], vec![mean])]
}

// ---- workloads -------------------------------------------------------------------------------

fn grid2(seed: u64, stream: u32, g: usize) -> Tensor {
    Tensor::f32(philox::normal(seed, stream, g * g, 0.0, 1.0))
        .reshaped(&[g, g])
        .expect("G·G cells")
}

fn grid3(seed: u64, g: usize) -> Tensor {
    Tensor::f32(philox::normal(seed, 0, g * g * g, 0.0, 1.0))
        .reshaped(&[g, g, g])
        .expect("G³ cells")
}

fn grid2_workload(n: usize, seed: u64, _p: &Params) -> Vec<Tensor> {
    vec![grid2(seed, 0, grid_side2(n))]
}
fn wave_workload(n: usize, seed: u64, _p: &Params) -> Vec<Tensor> {
    let g = grid_side2(n);
    vec![grid2(seed, 0, g), grid2(seed, 1, g)]
}
fn grid3_workload(n: usize, seed: u64, _p: &Params) -> Vec<Tensor> {
    vec![grid3(seed, grid_side3(n))]
}
fn oscillator_workload(n: usize, seed: u64, _p: &Params) -> Vec<Tensor> {
    let m = n / 2;
    vec![
        Tensor::f32(philox::normal(seed, 0, m, 0.0, 1.0)),
        Tensor::f32(philox::normal(seed, 1, m, 0.0, 1.0)),
    ]
}
fn monte_carlo_workload(n: usize, _seed: u64, _p: &Params) -> Vec<Tensor> {
    vec![Tensor::size_only(n)]
}

// ---- edge cases ------------------------------------------------------------------------------

/// A G×G grid of normal noise from `seed`, with `set` applied to its values.
fn grid2_with(seed: u64, stream: u32, g: usize, set: impl Fn(&mut Vec<f32>)) -> Tensor {
    let mut v = philox::normal(seed, stream, g * g, 0.0, 1.0);
    set(&mut v);
    Tensor::f32(v).reshaped(&[g, g]).expect("G·G cells")
}

/// Grid cases shared by the 2-D kernels: each case's grids come from `grids(g, set)`, which
/// makes every input grid of side g with `set` applied to the last one (u).
fn grid2_cases(grids: fn(usize, &dyn Fn(&mut Vec<f32>)) -> Vec<Tensor>) -> Vec<Case> {
    let none = |_: &mut Vec<f32>| {};
    let g = 37;
    vec![
        Case {
            label: "0×0 grid: empty output",
            inputs: grids(0, &none),
        },
        Case {
            label: "1×1 grid: a copy",
            inputs: grids(1, &none),
        },
        Case {
            label: "2×2 grid: no interior, a copy",
            inputs: grids(2, &none),
        },
        Case {
            label: "3×3 grid: one interior cell",
            inputs: grids(3, &none),
        },
        Case {
            label: "NaN at an interior cell and at a boundary cell",
            inputs: grids(g, &|v| {
                v[10 * g + 10] = f32::NAN;
                v[5] = f32::NAN;
            }),
        },
        Case {
            label: "+inf interior (NaN at its cell, inf at its neighbours), −inf on the boundary",
            inputs: grids(g, &|v| {
                v[20 * g + 7] = f32::INFINITY;
                v[(g - 1) * g + 9] = f32::NEG_INFINITY;
                v[12 * g] = f32::INFINITY;
            }),
        },
        Case {
            label: "values near f32::MAX (f32 intermediates would overflow)",
            inputs: grids(g, &|v| {
                for (k, x) in v.iter_mut().enumerate() {
                    *x = if k % 2 == 0 { 3e38 } else { -3e38 };
                }
            }),
        },
        Case {
            label: "denormals and −0",
            inputs: grids(9, &|v| {
                for (k, x) in v.iter_mut().enumerate() {
                    *x = match k % 3 {
                        0 => -0.0,
                        1 => f32::from_bits(1 + k as u32),
                        _ => -1e-40,
                    };
                }
            }),
        },
        Case {
            label: "33×33 grid (a 32-wide tile plus one)",
            inputs: grids(33, &none),
        },
        Case {
            label: "129×129 grid",
            inputs: grids(129, &none),
        },
        Case {
            label: "257×257 grid (rows past a 256-thread block)",
            inputs: grids(257, &none),
        },
        Case {
            label: "1023×1023 grid (several CPU bands)",
            inputs: grids(1023, &none),
        },
    ]
}

fn one_grid(g: usize, set: &dyn Fn(&mut Vec<f32>)) -> Vec<Tensor> {
    vec![grid2_with(11, 0, g, set)]
}
fn two_grids(g: usize, set: &dyn Fn(&mut Vec<f32>)) -> Vec<Tensor> {
    vec![grid2_with(12, 0, g, |_| {}), grid2_with(12, 1, g, set)]
}

fn heat_cases() -> Vec<Case> {
    grid2_cases(one_grid)
}
fn stencil2_cases() -> Vec<Case> {
    grid2_cases(one_grid)
}
fn wave_cases() -> Vec<Case> {
    let mut cases = grid2_cases(two_grids);
    cases.push(Case {
        label: "NaN and inf in u_prev: that cell only (boundary takes u)",
        inputs: vec![
            grid2_with(13, 0, 17, |v| {
                v[5 * 17 + 5] = f32::NAN;
                v[9 * 17 + 3] = f32::NEG_INFINITY;
                v[0] = f32::NAN;
            }),
            grid2_with(13, 1, 17, |_| {}),
        ],
    });
    cases
}

fn stencil3_cases() -> Vec<Case> {
    let cube_with = |g: usize, set: &dyn Fn(&mut Vec<f32>)| {
        let mut v = philox::normal(14, 0, g * g * g, 0.0, 1.0);
        set(&mut v);
        vec![Tensor::f32(v).reshaped(&[g, g, g]).expect("G³ cells")]
    };
    let none = |_: &mut Vec<f32>| {};
    let g = 19;
    vec![
        Case {
            label: "0³ grid: empty output",
            inputs: cube_with(0, &none),
        },
        Case {
            label: "1³ grid: a copy",
            inputs: cube_with(1, &none),
        },
        Case {
            label: "2³ grid: no interior, a copy",
            inputs: cube_with(2, &none),
        },
        Case {
            label: "3³ grid: one interior cell",
            inputs: cube_with(3, &none),
        },
        Case {
            label: "NaN and +inf interior, −inf on a face",
            inputs: cube_with(g, &|v| {
                v[(5 * g + 6) * g + 7] = f32::NAN;
                v[(12 * g + 3) * g + 14] = f32::INFINITY;
                v[(9 * g) * g + 4] = f32::NEG_INFINITY;
            }),
        },
        Case {
            label: "values near f32::MAX (f32 intermediates would overflow)",
            inputs: cube_with(g, &|v| {
                for (k, x) in v.iter_mut().enumerate() {
                    *x = if k % 2 == 0 { 3e38 } else { -3e38 };
                }
            }),
        },
        Case {
            label: "33³ grid",
            inputs: cube_with(33, &none),
        },
        Case {
            label: "67³ grid (awkward planes)",
            inputs: cube_with(67, &none),
        },
    ]
}

fn oscillator_cases() -> Vec<Case> {
    let pair = |n: usize| {
        vec![
            Tensor::f32(philox::normal(15, 0, n, 0.0, 1.0)),
            Tensor::f32(philox::normal(15, 1, n, 0.0, 1.0)),
        ]
    };
    let mut special = pair(12);
    {
        let [x, v] = &mut special[..] else {
            unreachable!()
        };
        let (x, v) = (x.as_f32_mut().unwrap(), v.as_f32_mut().unwrap());
        x[1] = f32::NAN;
        v[3] = f32::NAN;
        x[5] = f32::INFINITY;
        v[7] = f32::NEG_INFINITY;
        x[9] = 3e38;
        v[9] = 3e38;
        x[10] = -0.0;
        v[10] = -0.0;
        x[11] = 1e-40;
        v[11] = -1e-45;
    }
    let mut cases = vec![
        Case {
            label: "no oscillators",
            inputs: pair(0),
        },
        Case {
            label: "one oscillator",
            inputs: pair(1),
        },
        Case {
            label: "NaN, ±inf, 3e38, −0 and denormals: each oscillator on its own",
            inputs: special,
        },
    ];
    for (n, label) in [
        (15, "15 oscillators"),
        (17, "17 oscillators"),
        (4095, "4095 oscillators"),
        (4097, "4097 oscillators"),
        (65537, "65537 oscillators"),
        (131_073, "131073 oscillators (two CPU grains plus one)"),
    ] {
        cases.push(Case {
            label,
            inputs: pair(n),
        });
    }
    cases
}

fn monte_carlo_cases() -> Vec<Case> {
    [
        (0, "N = 0: Error::Empty"),
        (1, "one sample"),
        (3, "3 samples: a partial Philox block"),
        (4097, "4097 samples"),
        (65_537, "65537 samples"),
        (1_048_573, "2^20 − 3 samples"),
    ]
    .into_iter()
    .map(|(n, label)| Case {
        label,
        inputs: vec![Tensor::size_only(n)],
    })
    .collect()
}

pub static OPS: &[Op] = &[
    Op {
        name: "sim_heat_equation",
        inputs: &[input("u", DType::F32)],
        outputs: &["u_out"],
        shapes: heat_shapes,
        reference: heat_reference,
        workload: grid2_workload,
        edge_cases: heat_cases,
        cpu: cpu::sim_heat_equation,
    },
    Op {
        name: "sim_wave_equation",
        inputs: &[input("u_prev", DType::F32), input("u", DType::F32)],
        outputs: &["u_next"],
        shapes: wave_shapes,
        reference: wave_reference,
        workload: wave_workload,
        edge_cases: wave_cases,
        cpu: cpu::sim_wave_equation,
    },
    Op {
        name: "sim_stencil_2d",
        inputs: &[input("u", DType::F32)],
        outputs: &["out"],
        shapes: stencil2_shapes,
        reference: stencil2_reference,
        workload: grid2_workload,
        edge_cases: stencil2_cases,
        cpu: cpu::sim_stencil_2d,
    },
    Op {
        name: "sim_stencil_3d",
        inputs: &[input("u", DType::F32)],
        outputs: &["u_out"],
        shapes: stencil3_shapes,
        reference: stencil3_reference,
        workload: grid3_workload,
        edge_cases: stencil3_cases,
        cpu: cpu::sim_stencil_3d,
    },
    Op {
        name: "integrate_rk4",
        inputs: &[input("x", DType::F32), input("v", DType::F32)],
        outputs: &["x_new", "v_new"],
        shapes: rk4_shapes,
        reference: rk4_reference,
        workload: oscillator_workload,
        edge_cases: oscillator_cases,
        cpu: cpu::integrate_rk4,
    },
    Op {
        name: "integrate_verlet",
        inputs: &[input("x", DType::F32), input("v", DType::F32)],
        outputs: &["x_new", "v_new"],
        shapes: verlet_shapes,
        reference: verlet_reference,
        workload: oscillator_workload,
        edge_cases: oscillator_cases,
        cpu: cpu::integrate_verlet,
    },
    Op {
        name: "monte_carlo_integrate",
        inputs: &[input("size", DType::U8)],
        outputs: &["result"],
        shapes: monte_carlo_shapes,
        reference: monte_carlo_reference,
        workload: monte_carlo_workload,
        edge_cases: monte_carlo_cases,
        cpu: cpu::monte_carlo_integrate,
    },
];

/// The verification runs the entries name at non-default parameters (the harness's edge cases
/// run at the defaults): steps = 10 for the heat equation, dt = 0.5 with steps = 3 and steps = 100
/// for the integrators, asymmetric stencil weights, and Monte Carlo's statistical check. Each
/// also shows that the wrong variant the entry names fails.
#[cfg(test)]
mod tests {
    use super::*;
    use crate::backend::cpu::Cpu;
    use crate::op::CpuKernel;
    use crate::verify::compare;

    const CPUS: [Cpu; 3] = [Cpu::Scalar, Cpu::Simd, Cpu::Parallel];

    fn op(name: &str) -> &'static Op {
        OPS.iter().find(|o| o.name == name).expect("an op")
    }
    fn spec(name: &str) -> &'static KernelSpec {
        SPECS.iter().find(|s| s.name == name).expect("a spec")
    }
    fn params(name: &str, kv: &[(&str, f64)]) -> Params {
        let mut p = Params::defaults(spec(name));
        for &(k, v) in kv {
            p.set(spec(name), k, v).expect("a valid parameter");
        }
        p
    }

    /// Whether `kernel` on `inputs` passes against the reference.
    fn passes(name: &str, kernel: CpuKernel, cpu: Cpu, inputs: &[Tensor], p: &Params) -> bool {
        let refs: Vec<&Tensor> = inputs.iter().collect();
        let o = op(name);
        let mut outs: Vec<Tensor> = (o.shapes)(&refs, p)
            .expect("shapes")
            .iter()
            .map(Tensor::zeros)
            .collect();
        kernel(cpu, &refs, p, &mut outs).expect("runs");
        let exp = (o.reference)(&refs, p);
        outs.iter()
            .zip(&exp)
            .all(|(g, e)| compare(spec(name).tolerance, g, e).passed)
    }

    fn all_pass(name: &str, n: usize, p: &Params) {
        let inputs = (op(name).workload)(n, 42, p);
        for cpu in CPUS {
            assert!(
                passes(name, op(name).cpu, cpu, &inputs, p),
                "{name} {cpu:?} {p:?}"
            );
        }
    }

    #[test]
    fn heat_at_ten_steps_and_one_step_short_fails() {
        let p = params("sim_heat_equation", &[("steps", 10.0)]);
        all_pass("sim_heat_equation", 300_000, &p);
        all_pass(
            "sim_heat_equation",
            20_000,
            &params("sim_heat_equation", &[("steps", 7.0)]),
        );
        // Nine steps where ten are asked: the ping-pong returning the wrong buffer.
        let inputs = (op("sim_heat_equation").workload)(20_000, 42, &p);
        let short = |c: Cpu, i: &[&Tensor], _: &Params, o: &mut [Tensor]| {
            let p9 = params("sim_heat_equation", &[("steps", 9.0)]);
            cpu::sim_heat_equation(c, i, &p9, o)
        };
        assert!(!passes("sim_heat_equation", short, Cpu::Simd, &inputs, &p));
    }

    #[test]
    fn stencil_2d_asymmetric_weights_and_a_flip_fails() {
        let w: Vec<(&str, f64)> = ["w0", "w1", "w2", "w3", "w4", "w5", "w6", "w7", "w8"]
            .iter()
            .enumerate()
            .map(|(k, &n)| (n, (k + 1) as f64 / 64.0))
            .collect();
        let p = params("sim_stencil_2d", &w);
        all_pass("sim_stencil_2d", 100_000, &p);
        // A flipped kernel (convolution instead of cross-correlation).
        let flipped: Vec<(&str, f64)> = w
            .iter()
            .zip(w.iter().rev())
            .map(|(a, b)| (a.0, b.1))
            .collect();
        let pf = params("sim_stencil_2d", &flipped);
        let inputs = (op("sim_stencil_2d").workload)(10_000, 42, &p);
        let refs: Vec<&Tensor> = inputs.iter().collect();
        let mut out = vec![Tensor::zeros(
            &(op("sim_stencil_2d").shapes)(&refs, &p).unwrap()[0],
        )];
        cpu::sim_stencil_2d(Cpu::Simd, &refs, &pf, &mut out).unwrap();
        let exp = stencil2_reference(&refs, &p);
        assert!(!compare(spec("sim_stencil_2d").tolerance, &out[0], &exp[0]).passed);
    }

    #[test]
    fn integrators_at_large_dt_and_many_steps() {
        for name in ["integrate_rk4", "integrate_verlet"] {
            for kv in [
                [("dt", 0.5), ("steps", 3.0)],
                [("dt", 0.01), ("steps", 100.0)],
                [("dt", 1.9), ("steps", 1000.0)],
            ] {
                all_pass(name, 20_001, &params(name, &kv));
            }
        }
    }

    /// Heun's method (RK2) where RK4 is asked, and symplectic Euler / position Verlet where
    /// velocity Verlet is: all fail at dt = 0.5, steps = 3.
    #[test]
    fn lower_order_methods_fail_at_large_dt() {
        fn run_with(
            step: fn(f64, f64, f64) -> (f64, f64),
        ) -> impl Fn(Cpu, &[&Tensor], &Params, &mut [Tensor]) -> Result<()> {
            move |_, i, p, o| {
                let (x, v) = (i[0].as_f32()?.to_vec(), i[1].as_f32()?.to_vec());
                let h = p.f32("dt") as f64;
                let (mut xo, mut vo) = (Vec::new(), Vec::new());
                for (&a, &b) in x.iter().zip(&v) {
                    let (mut s, mut t) = (a as f64, b as f64);
                    for _ in 0..steps(p) {
                        (s, t) = step(s, t, h);
                    }
                    xo.push(s as f32);
                    vo.push(t as f32);
                }
                o[0].as_f32_mut()?.copy_from_slice(&xo);
                o[1].as_f32_mut()?.copy_from_slice(&vo);
                Ok(())
            }
        }
        let heun = |x: f64, v: f64, h: f64| {
            let (k1x, k1v) = (v, -x);
            let (k2x, k2v) = (v + h * k1v, -(x + h * k1x));
            (x + h / 2.0 * (k1x + k2x), v + h / 2.0 * (k1v + k2v))
        };
        let symplectic_euler = |x: f64, v: f64, h: f64| {
            let vn = v - h * x;
            (x + h * vn, vn)
        };
        let position_verlet = |x: f64, v: f64, h: f64| {
            let xm = x + h / 2.0 * v;
            let vn = v - h * xm;
            (xm + h / 2.0 * vn, vn)
        };
        let check = |name: &str, step: fn(f64, f64, f64) -> (f64, f64), ok: bool| {
            let p = params(name, &[("dt", 0.5), ("steps", 3.0)]);
            let inputs = (op(name).workload)(2_000, 42, &p);
            let refs: Vec<&Tensor> = inputs.iter().collect();
            let mut outs: Vec<Tensor> = (op(name).shapes)(&refs, &p)
                .unwrap()
                .iter()
                .map(Tensor::zeros)
                .collect();
            run_with(step)(Cpu::Scalar, &refs, &p, &mut outs).unwrap();
            let exp = (op(name).reference)(&refs, &p);
            let passed = outs
                .iter()
                .zip(&exp)
                .all(|(g, e)| compare(spec(name).tolerance, g, e).passed);
            assert_eq!(passed, ok, "{name}");
        };
        check("integrate_rk4", rk4_step, true);
        check("integrate_rk4", heun, false);
        check("integrate_verlet", verlet_step, true);
        check("integrate_verlet", symplectic_euler, false);
        check("integrate_verlet", position_verlet, false);
    }

    /// |result − π| ≤ 5σ/√N + 1e-6, σ² = 4 + 2π − π², for the reference and the kernels.
    #[test]
    fn monte_carlo_statistical_check() {
        let sigma = (4.0 + 2.0 * std::f64::consts::PI - std::f64::consts::PI.powi(2)).sqrt();
        for (n, seed) in [(1usize << 20, 42.0), (1_000_003, 7.0)] {
            let p = params("monte_carlo_integrate", &[("seed", seed)]);
            let inputs = vec![Tensor::size_only(n)];
            let refs: Vec<&Tensor> = inputs.iter().collect();
            let bound = 5.0 * sigma / (n as f64).sqrt() + 1e-6;
            let r = monte_carlo_reference(&refs, &p)[0].values[0];
            assert!((r - std::f64::consts::PI).abs() <= bound, "reference {r}");
            for cpu in CPUS {
                let mut o = vec![Tensor::zeros(&TensorDesc::new(DType::F32, &[]))];
                cpu::monte_carlo_integrate(cpu, &refs, &p, &mut o).unwrap();
                let y = o[0].as_f32().unwrap()[0] as f64;
                assert!((y - std::f64::consts::PI).abs() <= bound, "{cpu:?} {y}");
                assert!((y - r).abs() <= 1e-5 * r, "{cpu:?} {y} vs {r}");
            }
        }
        // The seed moves the samples.
        let inputs = vec![Tensor::size_only(4096)];
        let refs: Vec<&Tensor> = inputs.iter().collect();
        let a = monte_carlo_reference(&refs, &params("monte_carlo_integrate", &[("seed", 1.0)]));
        let b = monte_carlo_reference(&refs, &params("monte_carlo_integrate", &[("seed", 2.0)]));
        assert_ne!(a[0].values[0], b[0].values[0]);
    }

    /// The sample words are the contract's: Philox4x32-10's first known answer (counter 0,
    /// key 0), and the CPU's vectorised generator lane by lane against the scalar one.
    #[test]
    fn philox_known_answer() {
        assert_eq!(
            philox::philox4x32_10([0; 4], [0, 0]),
            [0x6627e8d5, 0xe169c58d, 0xbc57ac4c, 0x9b00dbd8]
        );
        let key = philox::key(0x1234_5678_9abc_def0);
        let base = (1u64 << 32) - 5; // counters that carry into the high word
        let lo: [u32; cpu::PB] = std::array::from_fn(|l| (base + l as u64) as u32);
        let hi: [u32; cpu::PB] = std::array::from_fn(|l| ((base + l as u64) >> 32) as u32);
        let w = cpu::philox_lanes(&lo, &hi, key);
        for l in 0..cpu::PB {
            let j = base + l as u64;
            let want = philox::philox4x32_10([j as u32, (j >> 32) as u32, 0, 0], key);
            assert_eq!([w[0][l], w[1][l], w[2][l], w[3][l]], want);
        }
    }
}
