//! simulation on the CPU.
//!
//! Stencils: `simd` and `parallel` compute each row in f32 and recompute it in f64 (the
//! reference's form) where a result leaves [2^−100, 1e38] (see `Pass`); `scalar` computes in
//! f64 throughout. Integrators keep their state in f64 across the steps (at dt near 2 velocity
//! Verlet amplifies an f32 state's roundoff far past the tolerance).
//!
//! - `scalar`: the definitions' loops, one output row (grid) or one oscillator at a time.
//! - `simd`: the same row bodies, written over slices so that the compiler vectorises them,
//!   compiled for the machine's widest SIMD level (pulp dispatch: AVX-512 where present); the
//!   integrators step 64 oscillators at a time in f64 lanes, the Monte Carlo estimate runs
//!   Philox on 16 counters at a time (the 32×32→64 products vectorise as `vpmuludq`).
//! - `parallel`: the simd bodies over bands of rows (or chunks of oscillators / Philox blocks)
//!   on rayon; multi-step stencils run one parallel pass per step (Jacobi: every step reads the
//!   whole previous state), ping-ponging between the output and one scratch grid so that the
//!   final state lands in the output.

use crate::backend::cpu::{arch, chunk_len, Cpu, GRAIN};
use crate::params::Params;
use crate::philox;
use crate::tensor::Tensor;
use crate::Result;
use pulp::{Simd, WithSimd};
use rayon::prelude::*;

/// Run `body` on the backend's SIMD level (`simd`, `parallel`) or as written (`scalar`).
#[inline(always)]
fn on<R>(cpu: Cpu, body: impl FnOnce() -> R) -> R {
    match cpu {
        Cpu::Scalar => body(),
        _ => arch().dispatch(body),
    }
}

/// Fill `out` (rows of `w` values) by `row(i, out_row)` for every row i, on the backend:
/// parallel bands of rows of at least `GRAIN` values.
fn rows(cpu: Cpu, out: &mut [f32], w: usize, row: impl Fn(usize, &mut [f32]) + Sync) {
    if w == 0 || out.is_empty() {
        return;
    }
    let all = |first: usize, band: &mut [f32]| {
        for (k, o) in band.chunks_exact_mut(w).enumerate() {
            row(first + k, o);
        }
    };
    if cpu != Cpu::Parallel || out.len() < 2 * GRAIN {
        all(0, out);
        return;
    }
    let per = chunk_len(out.len()).div_ceil(w).max(1);
    out.par_chunks_mut(per * w)
        .enumerate()
        .for_each(|(b, band)| all(b * per, band));
}

// ---- stencils --------------------------------------------------------------------------------
//
// An interior row is a loop over j of an update of K neighbour values: each neighbour row is
// re-sliced to the interior's length m = G − 2 at the offset of the neighbour it supplies, so
// every index is provably in bounds, and the loop (the `Update`'s `#[inline(always)]` body
// inside a `WithSimd`) is compiled for the dispatched SIMD level and vectorises: f32 loads
// widened to f64 lanes, one rounding per store.

/// The interior update of one cell from its K neighbour values (in the stencil's own order):
/// in f32 (`at32`, the fast path) and in f64 in the reference's form (`at`).
trait Update<const K: usize>: Sync {
    fn at32(&self, v: [f32; K]) -> f32;
    fn at(&self, v: [f64; K]) -> f64;
}

/// u + r·(Σ_4 − 4u): v = [centre, up, down, left, right].
struct Heat(f32);
impl Update<5> for Heat {
    #[inline(always)]
    fn at32(&self, v: [f32; 5]) -> f32 {
        v[0] + self.0 * (((v[1] + v[2]) + (v[3] + v[4])) - 4.0 * v[0])
    }
    #[inline(always)]
    fn at(&self, v: [f64; 5]) -> f64 {
        let nb = v[1] + v[2] + v[3] + v[4];
        v[0] + self.0 as f64 * (nb - 4.0 * v[0])
    }
}

/// 2u − u_prev + C²·(Σ_4 − 4u): v = [centre, up, down, left, right, u_prev].
struct Wave(f32);
impl Update<6> for Wave {
    #[inline(always)]
    fn at32(&self, v: [f32; 6]) -> f32 {
        2.0 * v[0] - v[5] + self.0 * (((v[1] + v[2]) + (v[3] + v[4])) - 4.0 * v[0])
    }
    #[inline(always)]
    fn at(&self, v: [f64; 6]) -> f64 {
        let nb = v[1] + v[2] + v[3] + v[4];
        2.0 * v[0] - v[5] + self.0 as f64 * (nb - 4.0 * v[0])
    }
}

/// Σ w_k·u_k. The f64 form adds the products (exact in f64: f32 × f32) in the reference's
/// order, k = 0 … 8, so it is the reference's sum bit for bit: with weights near f32::MAX the
/// products reach 1e77 and another order can cancel differently (inf against finite).
struct Stencil9([f32; 9]);
impl Update<9> for Stencil9 {
    #[inline(always)]
    fn at32(&self, v: [f32; 9]) -> f32 {
        let w = &self.0;
        (w[0] * v[0] + w[1] * v[1] + w[2] * v[2])
            + (w[3] * v[3] + w[4] * v[4] + w[5] * v[5])
            + (w[6] * v[6] + w[7] * v[7] + w[8] * v[8])
    }
    #[inline(always)]
    fn at(&self, v: [f64; 9]) -> f64 {
        let w = &self.0;
        let mut acc = w[0] as f64 * v[0];
        for k in 1..9 {
            acc += w[k] as f64 * v[k];
        }
        acc
    }
}

/// u + r·(Σ_6 − 6u): v = [centre, i−1, i+1, j−1, j+1, k−1, k+1].
struct Heat3(f32);
impl Update<7> for Heat3 {
    #[inline(always)]
    fn at32(&self, v: [f32; 7]) -> f32 {
        v[0] + self.0 * (((v[1] + v[2]) + (v[3] + v[4]) + (v[5] + v[6])) - 6.0 * v[0])
    }
    #[inline(always)]
    fn at(&self, v: [f64; 7]) -> f64 {
        let nb = v[1] + v[2] + v[3] + v[4] + v[5] + v[6];
        v[0] + self.0 as f64 * (nb - 6.0 * v[0])
    }
}

/// Bounds of an f32-path result that can stand: its error is at most a few units of 2^−24
/// times the condition scale S = Σ|terms| ≥ |y|, plus 2^−149 per operation that falls into the
/// subnormals. Inside [2^−100, 1e38] both are far below the tolerance; outside (NaN, ±inf, an
/// f32 intermediate overflow where the reference stays finite, the overflow threshold, tiny
/// results) the row is recomputed in f64.
const TINY: f32 = 7.888609e-31; // 2^-100
const BIG: f32 = 1e38;

/// out[j] = update(src[0][j], …, src[K−1][j]) over one interior row (every slice of length m).
/// `fast`: the f32 path, with the row recomputed in f64 if any result falls outside the
/// bounds above; else f64 throughout (the scalar backend).
struct Pass<'a, U, const K: usize> {
    update: &'a U,
    src: [&'a [f32]; K],
    out: &'a mut [f32],
    fast: bool,
}

impl<U: Update<K>, const K: usize> WithSimd for Pass<'_, U, K> {
    type Output = ();
    #[inline(always)]
    fn with_simd<S: Simd>(self, _s: S) {
        let m = self.out.len();
        let src: [&[f32]; K] = std::array::from_fn(|k| &self.src[k][..m]);
        if self.fast {
            let mut bad = 0u32;
            for (j, o) in self.out.iter_mut().enumerate() {
                let y = self.update.at32(std::array::from_fn(|k| src[k][j]));
                let a = y.abs();
                bad += !((a >= TINY) & (a <= BIG)) as u32;
                *o = y;
            }
            if bad == 0 {
                return;
            }
        }
        for (j, o) in self.out.iter_mut().enumerate() {
            *o = self.update.at(std::array::from_fn(|k| src[k][j] as f64)) as f32;
        }
    }
}

/// Run one interior row's pass on the backend.
#[inline(always)]
fn pass<U: Update<K>, const K: usize>(cpu: Cpu, update: &U, src: [&[f32]; K], out: &mut [f32]) {
    match cpu {
        Cpu::Scalar => Pass {
            update,
            src,
            out,
            fast: false,
        }
        .with_simd(pulp::Scalar::new()),
        _ => arch().dispatch(Pass {
            update,
            src,
            out,
            fast: true,
        }),
    }
}

/// Row i of a G×G grid.
#[inline(always)]
fn row_of(u: &[f32], g: usize, i: usize) -> &[f32] {
    &u[i * g..(i + 1) * g]
}

/// Whether row i of a G-row grid is a boundary row (copied).
#[inline(always)]
fn edge(i: usize, g: usize) -> bool {
    i == 0 || i + 1 >= g
}

/// Copy the two end cells of an interior row; returns its interior.
#[inline(always)]
fn ends<'a>(mid: &[f32], out: &'a mut [f32]) -> &'a mut [f32] {
    let g = mid.len();
    out[0] = mid[0];
    out[g - 1] = mid[g - 1];
    &mut out[1..g - 1]
}

/// The interior of a row shifted by d ∈ {0, 1, 2} (left neighbour, centre, right neighbour).
#[inline(always)]
fn shift(row: &[f32], d: usize) -> &[f32] {
    &row[d..d + row.len() - 2]
}

/// One heat step from `src` into `dst` (both G×G).
fn heat_step(cpu: Cpu, src: &[f32], dst: &mut [f32], g: usize, r: f32) {
    let h = Heat(r);
    rows(cpu, dst, g, |i, out| {
        let mid = row_of(src, g, i);
        if edge(i, g) {
            out.copy_from_slice(mid);
            return;
        }
        let (up, dn) = (row_of(src, g, i - 1), row_of(src, g, i + 1));
        let o = ends(mid, out);
        pass(
            cpu,
            &h,
            [
                shift(mid, 1),
                shift(up, 1),
                shift(dn, 1),
                shift(mid, 0),
                shift(mid, 2),
            ],
            o,
        );
    });
}

pub fn sim_heat_equation(cpu: Cpu, i: &[&Tensor], p: &Params, o: &mut [Tensor]) -> Result<()> {
    let g = i[0].shape()[0];
    let u = i[0].as_f32()?;
    let out = o[0].as_f32_mut()?;
    let (r, steps) = (p.f32("r"), (p.get("steps") as usize).max(1));
    if steps == 1 {
        heat_step(cpu, u, out, g, r);
        return Ok(());
    }
    // Ping-pong: an odd count starts in the output, an even one in the scratch grid, so the
    // last step writes the output.
    let mut scratch = vec![0f32; u.len()];
    let (mut a, mut b): (&mut [f32], &mut [f32]) = if steps % 2 == 1 {
        (out, &mut scratch)
    } else {
        (&mut scratch, out)
    };
    heat_step(cpu, u, a, g, r);
    for _ in 1..steps {
        heat_step(cpu, a, b, g, r);
        std::mem::swap(&mut a, &mut b);
    }
    Ok(())
}

pub fn sim_wave_equation(cpu: Cpu, i: &[&Tensor], p: &Params, o: &mut [Tensor]) -> Result<()> {
    let g = i[1].shape()[0];
    let (prev, u) = (i[0].as_f32()?, i[1].as_f32()?);
    let w = Wave(p.f32("c2"));
    rows(cpu, o[0].as_f32_mut()?, g, |i, out| {
        let mid = row_of(u, g, i);
        if edge(i, g) {
            out.copy_from_slice(mid);
            return;
        }
        let (up, dn, pv) = (row_of(u, g, i - 1), row_of(u, g, i + 1), row_of(prev, g, i));
        let o = ends(mid, out);
        let src = [
            shift(mid, 1),
            shift(up, 1),
            shift(dn, 1),
            shift(mid, 0),
            shift(mid, 2),
            shift(pv, 1),
        ];
        pass(cpu, &w, src, o);
    });
    Ok(())
}

pub fn sim_stencil_2d(cpu: Cpu, i: &[&Tensor], p: &Params, o: &mut [Tensor]) -> Result<()> {
    let g = i[0].shape()[0];
    let u = i[0].as_f32()?;
    let st = Stencil9(super::weights(p));
    rows(cpu, o[0].as_f32_mut()?, g, |i, out| {
        let mid = row_of(u, g, i);
        if edge(i, g) {
            out.copy_from_slice(mid);
            return;
        }
        let (up, dn) = (row_of(u, g, i - 1), row_of(u, g, i + 1));
        let o = ends(mid, out);
        let src = [
            shift(up, 0),
            shift(up, 1),
            shift(up, 2),
            shift(mid, 0),
            shift(mid, 1),
            shift(mid, 2),
            shift(dn, 0),
            shift(dn, 1),
            shift(dn, 2),
        ];
        pass(cpu, &st, src, o);
    });
    Ok(())
}

pub fn sim_stencil_3d(cpu: Cpu, i: &[&Tensor], p: &Params, o: &mut [Tensor]) -> Result<()> {
    let g = i[0].shape()[0];
    let u = i[0].as_f32()?;
    let h = Heat3(p.f32("r"));
    let gg = g * g;
    // A "row" is one k-line, index a·G + b; lines on a face (a or b at 0 or G − 1) are copied.
    rows(cpu, o[0].as_f32_mut()?, g, |line, out| {
        let (a, b) = (line / g, line % g);
        let base = line * g;
        let mid = &u[base..base + g];
        if edge(a, g) || edge(b, g) {
            out.copy_from_slice(mid);
            return;
        }
        let at = |k: usize| shift(&u[k..k + g], 1);
        let o = ends(mid, out);
        let src = [
            shift(mid, 1),
            at(base - gg),
            at(base + gg),
            at(base - g),
            at(base + g),
            shift(mid, 0),
            shift(mid, 2),
        ];
        pass(cpu, &h, src, o);
    });
    Ok(())
}

// ---- integrators -----------------------------------------------------------------------------

/// One step of a linear oscillator method (ω² = 1, so −ω²·y is −y exactly).
trait Method: Sync + Copy {
    fn step(&self, x: f64, v: f64) -> (f64, f64);
}

/// Classical RK4, as the entry writes it; h2 = h/2, h6 = h/6.
#[derive(Clone, Copy)]
struct Rk4 {
    h: f64,
    h2: f64,
    h6: f64,
}
impl Method for Rk4 {
    #[inline(always)]
    fn step(&self, x: f64, v: f64) -> (f64, f64) {
        let Rk4 { h, h2, h6 } = *self;
        let (k1x, k1v) = (v, -x);
        let (k2x, k2v) = (v + h2 * k1v, -(x + h2 * k1x));
        let (k3x, k3v) = (v + h2 * k2v, -(x + h2 * k2x));
        let (k4x, k4v) = (v + h * k3v, -(x + h * k3x));
        (
            x + h6 * (k1x + 2.0 * k2x + 2.0 * k3x + k4x),
            v + h6 * (k1v + 2.0 * k2v + 2.0 * k3v + k4v),
        )
    }
}

/// Velocity Verlet; hh = h²/2, h2 = h/2.
#[derive(Clone, Copy)]
struct Verlet {
    h: f64,
    hh: f64,
    h2: f64,
}
impl Method for Verlet {
    #[inline(always)]
    fn step(&self, x: f64, v: f64) -> (f64, f64) {
        let a = -x;
        let xn = x + self.h * v + self.hh * a;
        (xn, v + self.h2 * (a - xn))
    }
}

/// Oscillators per SIMD group: the state of a group stays in f64 registers across the steps.
const LANES: usize = 16;

/// `steps` steps of every oscillator of x, v into xo, vo: groups of LANES side by side (the
/// lanes loop vectorises), then the rest one at a time.
struct Integrate<'a, M> {
    method: M,
    steps: usize,
    x: &'a [f32],
    v: &'a [f32],
    xo: &'a mut [f32],
    vo: &'a mut [f32],
}

impl<M: Method> WithSimd for Integrate<'_, M> {
    type Output = ();
    #[inline(always)]
    fn with_simd<S: Simd>(self, _s: S) {
        let Integrate {
            method,
            steps,
            x,
            v,
            xo,
            vo,
        } = self;
        let n = x.len().min(v.len()).min(xo.len()).min(vo.len());
        let body = n - n % LANES;
        for s in (0..body).step_by(LANES) {
            let (xs, vs) = (&x[s..s + LANES], &v[s..s + LANES]);
            let mut a: [f64; LANES] = std::array::from_fn(|l| xs[l] as f64);
            let mut b: [f64; LANES] = std::array::from_fn(|l| vs[l] as f64);
            for _ in 0..steps {
                for l in 0..LANES {
                    (a[l], b[l]) = method.step(a[l], b[l]);
                }
            }
            let (xd, vd) = (&mut xo[s..s + LANES], &mut vo[s..s + LANES]);
            for l in 0..LANES {
                xd[l] = a[l] as f32;
                vd[l] = b[l] as f32;
            }
        }
        for k in body..n {
            let (mut a, mut b) = (x[k] as f64, v[k] as f64);
            for _ in 0..steps {
                (a, b) = method.step(a, b);
            }
            xo[k] = a as f32;
            vo[k] = b as f32;
        }
    }
}

fn integrate<M: Method>(
    cpu: Cpu,
    i: &[&Tensor],
    p: &Params,
    o: &mut [Tensor],
    method: M,
) -> Result<()> {
    let (x, v) = (i[0].as_f32()?, i[1].as_f32()?);
    let steps = (p.get("steps") as usize).max(1);
    let [xo, vo] = o else {
        return Err(crate::Error::Shape("two outputs expected".into()));
    };
    let (xo, vo) = (xo.as_f32_mut()?, vo.as_f32_mut()?);
    match cpu {
        // One oscillator at a time, its steps in a loop.
        Cpu::Scalar => {
            for k in 0..x.len() {
                let (mut a, mut b) = (x[k] as f64, v[k] as f64);
                for _ in 0..steps {
                    (a, b) = method.step(a, b);
                }
                xo[k] = a as f32;
                vo[k] = b as f32;
            }
        }
        Cpu::Simd => arch().dispatch(Integrate {
            method,
            steps,
            x,
            v,
            xo,
            vo,
        }),
        Cpu::Parallel => {
            let n = x.len();
            // Work per oscillator grows with steps: split finer than the memory grain.
            let c = if n.saturating_mul(steps) < 2 * GRAIN {
                n.max(1)
            } else {
                (chunk_len(n) / steps.min(64)).max(LANES)
            };
            xo.par_chunks_mut(c)
                .zip(vo.par_chunks_mut(c))
                .enumerate()
                .for_each(|(k, (xo, vo))| {
                    let r = k * c..k * c + xo.len();
                    let (x, v) = (&x[r.clone()], &v[r]);
                    arch().dispatch(Integrate {
                        method,
                        steps,
                        x,
                        v,
                        xo,
                        vo,
                    })
                });
        }
    }
    Ok(())
}

pub fn integrate_rk4(cpu: Cpu, i: &[&Tensor], p: &Params, o: &mut [Tensor]) -> Result<()> {
    let h = p.f32("dt") as f64;
    integrate(
        cpu,
        i,
        p,
        o,
        Rk4 {
            h,
            h2: h * 0.5,
            h6: h / 6.0,
        },
    )
}

pub fn integrate_verlet(cpu: Cpu, i: &[&Tensor], p: &Params, o: &mut [Tensor]) -> Result<()> {
    let h = p.f32("dt") as f64;
    integrate(
        cpu,
        i,
        p,
        o,
        Verlet {
            h,
            hh: h * h * 0.5,
            h2: h * 0.5,
        },
    )
}

// ---- Monte Carlo -----------------------------------------------------------------------------

/// Philox blocks per SIMD group.
pub(super) const PB: usize = 16;

/// Philox4x32-10 on PB counters (j, j_hi, 0, 0) side by side; returns the four words of each.
#[inline(always)]
pub(super) fn philox_lanes(lo: &[u32; PB], hi: &[u32; PB], key: [u32; 2]) -> [[u32; PB]; 4] {
    const M0: u64 = 0xD251_1F53;
    const M1: u64 = 0xCD9E_8D57;
    let mut c0 = *lo;
    let mut c1 = *hi;
    let mut c2 = [0u32; PB];
    let mut c3 = [0u32; PB];
    let (mut k0, mut k1) = (key[0], key[1]);
    for _ in 0..10 {
        for l in 0..PB {
            let p0 = M0 * c0[l] as u64;
            let p1 = M1 * c2[l] as u64;
            let n0 = (p1 >> 32) as u32 ^ c1[l] ^ k0;
            let n2 = (p0 >> 32) as u32 ^ c3[l] ^ k1;
            c1[l] = p1 as u32;
            c3[l] = p0 as u32;
            c0[l] = n0;
            c2[l] = n2;
        }
        k0 = k0.wrapping_add(0x9E37_79B9);
        k1 = k1.wrapping_add(0xBB67_AE85);
    }
    [c0, c1, c2, c3]
}

/// f(x) = 4/(1 + x²) in f32 for x = (w >> 8)·2^−24 (exact in f32).
#[inline(always)]
fn term32(w: u32) -> f32 {
    let x = (w >> 8) as f32 * (1.0 / 16_777_216.0);
    4.0 / (1.0 + x * x)
}

/// Σ f over the samples of Philox blocks [j0, j1) whose words are all below n, in groups of PB
/// blocks: f32 sums per group (64 terms), f64 across groups.
#[inline(always)]
fn mc_blocks(j0: u64, j1: u64, key: [u32; 2]) -> f64 {
    let mut total = 0.0f64;
    let mut j = j0;
    while j + PB as u64 <= j1 {
        let lo: [u32; PB] = std::array::from_fn(|l| (j + l as u64) as u32);
        let hi: [u32; PB] = std::array::from_fn(|l| ((j + l as u64) >> 32) as u32);
        let w = philox_lanes(&lo, &hi, key);
        let mut acc = [0f32; PB];
        for word in &w {
            for l in 0..PB {
                acc[l] += term32(word[l]);
            }
        }
        total += acc.iter().map(|&a| a as f64).sum::<f64>();
        j += PB as u64;
    }
    for j in j..j1 {
        let w = philox::philox4x32_10([j as u32, (j >> 32) as u32, 0, 0], key);
        total += w.iter().map(|&w| term32(w) as f64).sum::<f64>();
    }
    total
}

pub fn monte_carlo_integrate(cpu: Cpu, i: &[&Tensor], p: &Params, o: &mut [Tensor]) -> Result<()> {
    let n = crate::op::shape::generated("monte_carlo_integrate", i[0])? as u64;
    let key = philox::key(super::seed(p));
    let full = n / 4;
    // The last block's surplus words (n not a multiple of 4) are discarded.
    let tail = |acc: f64| {
        let used = (n % 4) as usize;
        if used == 0 {
            return acc;
        }
        let w = philox::philox4x32_10([full as u32, (full >> 32) as u32, 0, 0], key);
        acc + w[..used].iter().map(|&w| term32(w) as f64).sum::<f64>()
    };
    let sum = match cpu {
        Cpu::Scalar => {
            let mut acc = 0.0f64;
            for j in 0..full {
                let w = philox::philox4x32_10([j as u32, (j >> 32) as u32, 0, 0], key);
                acc += w.iter().map(|&w| super::mc_term(w)).sum::<f64>();
            }
            tail(acc)
        }
        Cpu::Simd => tail(on(cpu, || mc_blocks(0, full, key))),
        Cpu::Parallel => {
            let parts = crate::backend::cpu::par_map_ranges(full as usize, |r| {
                on(cpu, || mc_blocks(r.start as u64, r.end as u64, key))
            });
            tail(parts.into_iter().sum())
        }
    };
    o[0].as_f32_mut()?[0] = (sum / n as f64) as f32;
    Ok(())
}
