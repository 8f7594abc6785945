//! fft on the CPU: one f32 engine for all five kernels and all three backends.
//!
//! A transform of up to `ROW` points is one Stockham autosort FFT on split (re, im) rows:
//! radix-4 stages, plus one radix-2 stage first when log2 L is odd (fft_radix2 and fft_radix4
//! are one contract; library routes and this engine choose their own radix). Longer transforms
//! take the four-step split L = L1·L2 (L1 = 2^⌊log2 L / 2⌋): L2 column FFTs of L1 points, the
//! twiddles w_L^{n2·k1}, then L1 row FFTs of L2 points written in natural order. Columns and rows
//! go in batches of `BATCH` (one 64-byte line of complex64 per row of the batch), which keeps
//! the strided gathers and scatters cache-friendly; `parallel` spreads the batches over rayon.
//! `simd` and `parallel` run the butterflies under pulp's dispatch (AVX-512 / AVX2 / NEON) so
//! the split-format loops vectorize; `scalar` runs the same code without it.
//!
//! Every twiddle comes from f64: w_L^e = hi[e >> b]·lo[e & (2^b − 1)] from two tables of about
//! √L f64 values (sin/cos of each angle, no recurrence), rounded once to f32 (the entry rejects
//! f32 recurrences and allows f64-derived tables).
//!
//! ifft is conj(FFT(conj X))/L, the conjugations and the exact power-of-two scale folded into
//! the loads and stores; fft_real packs (x_{2n}, x_{2n+1}) as L/2 complex points (the f32 input
//! read as complex64), transforms them and separates the bins in one pass, in which
//! spectral_power squares them instead of storing the spectrum.

use crate::backend::cpu::{arch, Cpu};
use crate::params::Params;
use crate::tensor::Tensor;
use crate::Result;
use pulp::{Simd, WithSimd};
use rayon::prelude::*;

/// The longest transform done as one row; longer ones take the four-step split.
const ROW: usize = 1 << 12;
/// Columns (rows) per four-step batch.
const BATCH: usize = 8;

// ---- twiddles --------------------------------------------------------------------------------

/// w_L^e = e^{−2πi·e/L} for any e, in f64, from two tables of about √L entries.
pub(crate) struct Twiddles {
    l: usize,
    bits: u32,
    lo: Vec<(f64, f64)>,
    hi: Vec<(f64, f64)>,
}

fn unit_root(e: usize, l: usize) -> (f64, f64) {
    let (s, c) = (-2.0 * std::f64::consts::PI * e as f64 / l as f64).sin_cos();
    (c, s)
}

impl Twiddles {
    pub(crate) fn new(l: usize) -> Twiddles {
        let l = l.max(1);
        let bits = l.trailing_zeros().div_ceil(2);
        Twiddles {
            l,
            bits,
            lo: (0..1usize << bits).map(|r| unit_root(r, l)).collect(),
            hi: (0..(l >> bits).max(1))
                .map(|q| unit_root(q << bits, l))
                .collect(),
        }
    }

    #[inline(always)]
    pub(crate) fn get(&self, e: usize) -> (f64, f64) {
        let e = e & (self.l - 1);
        let (a, b) = self.hi[e >> self.bits];
        let (c, d) = self.lo[e & ((1 << self.bits) - 1)];
        (a * c - b * d, a * d + b * c)
    }
}

// ---- one row: Stockham radix-4 (+ one radix-2) on split arrays ----------------------------------

/// A row transform of m points: its stages and their twiddles (per radix-4 stage with stride
/// ns, w_{4ns}^{k·j} for j = 1, 2, 3 and k < ns, laid out [j][k], rounded from f64 once).
struct RowPlan {
    m: usize,
    radix2_first: bool,
    /// (ns, offset of the stage's 3·ns twiddles).
    stages: Vec<(usize, usize)>,
    twr: Vec<f32>,
    twi: Vec<f32>,
}

impl RowPlan {
    fn new(m: usize) -> RowPlan {
        let tw = Twiddles::new(m);
        let radix2_first = m.trailing_zeros() % 2 == 1;
        let (mut twr, mut twi, mut stages) = (Vec::new(), Vec::new(), Vec::new());
        let mut ns = if radix2_first { 2 } else { 1 };
        while ns < m {
            stages.push((ns, twr.len()));
            for j in 1..4 {
                for k in 0..ns {
                    let (c, s) = tw.get(k * j * (m / (4 * ns)));
                    twr.push(c as f32);
                    twi.push(s as f32);
                }
            }
            ns *= 4;
        }
        RowPlan {
            m,
            radix2_first,
            stages,
            twr,
            twi,
        }
    }

    /// Transform the row in (re, im), using (sre, sim) as the other Stockham buffer; the
    /// result is in (re, im) when this returns false, in (sre, sim) when it returns true.
    #[inline(always)]
    fn run(&self, re: &mut [f32], im: &mut [f32], sre: &mut [f32], sim: &mut [f32]) -> bool {
        let m = self.m;
        let (re, im, sre, sim) = (&mut re[..m], &mut im[..m], &mut sre[..m], &mut sim[..m]);
        let mut swapped = false;
        if m < 2 {
            return false;
        }
        if self.radix2_first {
            radix2_stage(re, im, sre, sim);
            swapped = true;
        }
        for &(ns, off) in &self.stages {
            let tw = [
                (&self.twr[off..off + ns], &self.twi[off..off + ns]),
                (
                    &self.twr[off + ns..off + 2 * ns],
                    &self.twi[off + ns..off + 2 * ns],
                ),
                (
                    &self.twr[off + 2 * ns..off + 3 * ns],
                    &self.twi[off + 2 * ns..off + 3 * ns],
                ),
            ];
            if swapped {
                radix4_stage(ns, tw, sre, sim, re, im);
            } else {
                radix4_stage(ns, tw, re, im, sre, sim);
            }
            swapped = !swapped;
        }
        swapped
    }
}

/// The first stage of an odd-log2 row: b[2j] = a[j] + a[j + m/2], b[2j + 1] = a[j] − a[j + m/2].
#[inline(always)]
fn radix2_stage(ar: &[f32], ai: &[f32], br: &mut [f32], bi: &mut [f32]) {
    let h = ar.len() / 2;
    let (a0r, a1r) = ar.split_at(h);
    let (a0i, a1i) = ai.split_at(h);
    for (j, (bo_r, bo_i)) in br.chunks_exact_mut(2).zip(bi.chunks_exact_mut(2)).enumerate() {
        bo_r[0] = a0r[j] + a1r[j];
        bo_r[1] = a0r[j] - a1r[j];
        bo_i[0] = a0i[j] + a1i[j];
        bo_i[1] = a0i[j] - a1i[j];
    }
}

type Tw<'a> = [(&'a [f32], &'a [f32]); 3];

/// One Stockham radix-4 stage (decimation in time) at stride ns: for j = g·ns + k,
/// v_t = a[j + t·m/4]·w_{4ns}^{k·t}, then b[g·4ns + k + t·ns] = the 4-point DFT of v.
#[inline(always)]
fn radix4_stage(ns: usize, tw: Tw, ar: &[f32], ai: &[f32], br: &mut [f32], bi: &mut [f32]) {
    let q = ar.len() / 4;
    for g in 0..q / ns {
        let j0 = g * ns;
        let a = |t: usize| (&ar[t * q + j0..][..ns], &ai[t * q + j0..][..ns]);
        let ((a0r, a0i), (a1r, a1i), (a2r, a2i), (a3r, a3i)) = (a(0), a(1), a(2), a(3));
        let (ob_r, ob_i) = (
            &mut br[4 * j0..4 * j0 + 4 * ns],
            &mut bi[4 * j0..4 * j0 + 4 * ns],
        );
        let (b01r, b23r) = ob_r.split_at_mut(2 * ns);
        let (b0r, b1r) = b01r.split_at_mut(ns);
        let (b2r, b3r) = b23r.split_at_mut(ns);
        let (b01i, b23i) = ob_i.split_at_mut(2 * ns);
        let (b0i, b1i) = b01i.split_at_mut(ns);
        let (b2i, b3i) = b23i.split_at_mut(ns);
        let ((w1r, w1i), (w2r, w2i), (w3r, w3i)) = (tw[0], tw[1], tw[2]);
        for k in 0..ns {
            let (v0r, v0i) = (a0r[k], a0i[k]);
            let (v1r, v1i) = cmul(a1r[k], a1i[k], w1r[k], w1i[k]);
            let (v2r, v2i) = cmul(a2r[k], a2i[k], w2r[k], w2i[k]);
            let (v3r, v3i) = cmul(a3r[k], a3i[k], w3r[k], w3i[k]);
            let (t0r, t0i) = (v0r + v2r, v0i + v2i);
            let (t1r, t1i) = (v0r - v2r, v0i - v2i);
            let (t2r, t2i) = (v1r + v3r, v1i + v3i);
            let (t3r, t3i) = (v1r - v3r, v1i - v3i);
            b0r[k] = t0r + t2r;
            b0i[k] = t0i + t2i;
            b2r[k] = t0r - t2r;
            b2i[k] = t0i - t2i;
            // t1 ∓ i·t3: −i·(a + bi) = b − ai.
            b1r[k] = t1r + t3i;
            b1i[k] = t1i - t3r;
            b3r[k] = t1r - t3i;
            b3i[k] = t1i + t3r;
        }
    }
}

#[inline(always)]
fn cmul(ar: f32, ai: f32, br: f32, bi: f32) -> (f32, f32) {
    (ar * br - ai * bi, ar * bi + ai * br)
}

// ---- the transform ----------------------------------------------------------------------------

/// Scratch for one batch: BATCH rows of the longest row and the Stockham buffer.
struct Scratch {
    re: Vec<f32>,
    im: Vec<f32>,
    sre: Vec<f32>,
    sim: Vec<f32>,
}

impl Scratch {
    fn new(m: usize) -> Scratch {
        let z = || vec![0f32; BATCH * m];
        Scratch {
            re: z(),
            im: z(),
            sre: z(),
            sim: z(),
        }
    }

    /// Row b of the batch (length m) after the plan ran: (re, im) of the result.
    fn result(&self, b: usize, m: usize, swapped: bool) -> (&[f32], &[f32]) {
        let r = b * m..(b + 1) * m;
        if swapped {
            (&self.sre[r.clone()], &self.sim[r])
        } else {
            (&self.re[r.clone()], &self.im[r])
        }
    }
}

/// Run `plan` on the first `rows` rows of the scratch; true when the results are in (sre, sim).
#[inline(always)]
fn run_rows(plan: &RowPlan, s: &mut Scratch, rows: usize) -> bool {
    let m = plan.m;
    let mut swapped = false;
    for b in 0..rows {
        let r = b * m..(b + 1) * m;
        swapped = plan.run(
            &mut s.re[r.clone()],
            &mut s.im[r.clone()],
            &mut s.sre[r.clone()],
            &mut s.sim[r],
        );
    }
    swapped
}

/// `f` under pulp's dispatch (so its inlined loops are compiled for the SIMD level found) for
/// simd and parallel, directly for scalar.
#[inline(always)]
fn simd<R>(cpu: Cpu, f: impl FnOnce() -> R) -> R {
    struct Run<F>(F);
    impl<R, F: FnOnce() -> R> WithSimd for Run<F> {
        type Output = R;
        #[inline(always)]
        fn with_simd<S: Simd>(self, _: S) -> R {
            (self.0)()
        }
    }
    match cpu {
        Cpu::Scalar => f(),
        _ => arch().dispatch(Run(f)),
    }
}

/// A raw output pointer shared by batches that write disjoint elements.
#[derive(Clone, Copy)]
struct Out(*mut f32);
// SAFETY: every use writes a set of elements no other batch writes (see the callers), and the
// buffer outlives the scope the batches run in.
unsafe impl Send for Out {}
unsafe impl Sync for Out {}

impl Out {
    /// SAFETY: the caller keeps `i` inside the buffer and writes only elements it owns.
    #[inline(always)]
    unsafe fn write(&self, i: usize, v: f32) {
        *self.0.add(i) = v;
    }
}

/// Run `batch(first, scratch)` for first = 0, BATCH, … < count (under pulp's dispatch for
/// simd and parallel), in parallel for `parallel`.
fn batches(cpu: Cpu, count: usize, m: usize, batch: impl Fn(usize, &mut Scratch) + Sync) {
    let starts = (0..count).step_by(BATCH);
    if cpu == Cpu::Parallel {
        starts
            .collect::<Vec<_>>()
            .into_par_iter()
            .for_each_init(|| Scratch::new(m), |s, first| simd(cpu, || batch(first, s)));
    } else {
        let mut s = Scratch::new(m);
        starts.for_each(|first| simd(cpu, || batch(first, &mut s)));
    }
}

/// The DFT of L complex points x (2L interleaved f32) into y (2L f32). `inverse`: x is
/// conjugated on load, the result conjugated and scaled by 1/L on store (the inverse DFT).
pub(crate) fn c2c(cpu: Cpu, x: &[f32], y: &mut [f32], inverse: bool) {
    let l = x.len() / 2;
    if l == 0 {
        return;
    }
    let sign = if inverse { -1.0f32 } else { 1.0 };
    let scale = if inverse { 1.0 / l as f32 } else { 1.0 };
    if l <= ROW {
        let plan = RowPlan::new(l);
        let mut s = Scratch::new(l);
        for (k, p) in x.chunks_exact(2).enumerate() {
            s.re[k] = p[0];
            s.im[k] = sign * p[1];
        }
        let swapped = simd(cpu, || run_rows(&plan, &mut s, 1));
        let (re, im) = s.result(0, l, swapped);
        for (k, p) in y.chunks_exact_mut(2).enumerate() {
            p[0] = re[k] * scale;
            p[1] = sign * im[k] * scale;
        }
        return;
    }
    let l1 = 1usize << (l.trailing_zeros() / 2);
    let l2 = l / l1;
    let (p1, p2, tw) = (RowPlan::new(l1), RowPlan::new(l2), Twiddles::new(l));
    // B[k1·L2 + n2] (split): the column transforms, twiddled, as rows of L2.
    let (mut bre, mut bim) = (vec![0f32; l], vec![0f32; l]);
    let (obr, obi) = (Out(bre.as_mut_ptr()), Out(bim.as_mut_ptr()));
    batches(cpu, l2, l1.max(l2), |c0, s| {
        // Columns n2 = c0 … c0 + 7: x[n1·L2 + n2] for n1 < L1, one 64-byte line per n1.
        for n1 in 0..l1 {
            let src = &x[2 * (n1 * l2 + c0)..][..2 * BATCH];
            for (b, p) in src.chunks_exact(2).enumerate() {
                s.re[b * l1 + n1] = p[0];
                s.im[b * l1 + n1] = sign * p[1];
            }
        }
        let swapped = run_rows(&p1, s, BATCH);
        for b in 0..BATCH {
            let n2 = c0 + b;
            let (re, im) = s.result(b, l1, swapped);
            for k1 in 0..l1 {
                let (wr, wi) = tw.get(n2 * k1);
                let (vr, vi) = (re[k1] as f64, im[k1] as f64);
                let at = k1 * l2 + n2;
                // SAFETY: at < L, and this batch alone writes the columns c0 … c0 + 7 of B.
                unsafe {
                    obr.write(at, (vr * wr - vi * wi) as f32);
                    obi.write(at, (vr * wi + vi * wr) as f32);
                }
            }
        }
    });
    let oy = Out(y.as_mut_ptr());
    batches(cpu, l1, l1.max(l2), |r0, s| {
        s.re[..BATCH * l2].copy_from_slice(&bre[r0 * l2..(r0 + BATCH) * l2]);
        s.im[..BATCH * l2].copy_from_slice(&bim[r0 * l2..(r0 + BATCH) * l2]);
        let swapped = run_rows(&p2, s, BATCH);
        // X[k1 + L1·k2] for k1 = r0 … r0 + 7: one 64-byte line per k2.
        for b in 0..BATCH {
            let (re, im) = s.result(b, l2, swapped);
            for k2 in 0..l2 {
                let at = 2 * (r0 + b + l1 * k2);
                // SAFETY: at + 1 < 2L, and this batch alone writes the outputs k1 = r0 … r0 + 7.
                unsafe {
                    oy.write(at, re[k2] * scale);
                    oy.write(at + 1, sign * im[k2] * scale);
                }
            }
        }
    });
}

/// The rfft of x (L real) into X (⌊L/2⌋ + 1 interleaved bins), or their squared magnitudes
/// into P when `power`: Z = DFT of z_n = x_{2n} + i·x_{2n+1} (M = L/2 points), then
/// X_k = E_k + w_L^k·O_k with E_k = (Z_k + conj Z_{M−k})/2, O_k = −i·(Z_k − conj Z_{M−k})/2.
fn real(cpu: Cpu, x: &[f32], out: &mut [f32], power: bool) {
    let l = x.len();
    if l == 0 {
        return;
    }
    if l == 1 {
        if power {
            out[0] = (x[0] as f64 * x[0] as f64) as f32;
        } else {
            out[0] = x[0];
            out[1] = 0.0;
        }
        return;
    }
    let m = l / 2;
    let mut z = vec![0f32; l];
    c2c(cpu, x, &mut z, false);
    let tw = Twiddles::new(l);
    let width = if power { 1 } else { 2 };
    let bin = |k: usize| -> (f32, f32) {
        let (a, b) = (k % m, (m - k % m) % m);
        let (zr, zi) = (z[2 * a], z[2 * a + 1]);
        let (cr, ci) = (z[2 * b], -z[2 * b + 1]);
        let (er, ei) = (0.5 * (zr + cr), 0.5 * (zi + ci));
        let (or, oi) = (0.5 * (zi - ci), -0.5 * (zr - cr));
        let (wr, wi) = tw.get(k);
        let (wr, wi) = (wr as f32, wi as f32);
        (er + (wr * or - wi * oi), ei + (wr * oi + wi * or))
    };
    let fill = |k0: usize, chunk: &mut [f32]| {
        for (j, o) in chunk.chunks_exact_mut(width).enumerate() {
            let (re, im) = bin(k0 + j);
            if power {
                o[0] = (re as f64 * re as f64 + im as f64 * im as f64) as f32;
            } else {
                o[0] = re;
                o[1] = im;
            }
        }
    };
    let chunk = 1 << 14;
    if cpu == Cpu::Parallel {
        out.par_chunks_mut(chunk * width)
            .enumerate()
            .for_each(|(c, o)| fill(c * chunk, o));
    } else {
        fill(0, out);
    }
}

pub fn fft_radix2(cpu: Cpu, i: &[&Tensor], _: &Params, o: &mut [Tensor]) -> Result<()> {
    c2c(cpu, i[0].as_f32()?, o[0].as_f32_mut()?, false);
    Ok(())
}

pub fn fft_radix4(cpu: Cpu, i: &[&Tensor], _: &Params, o: &mut [Tensor]) -> Result<()> {
    c2c(cpu, i[0].as_f32()?, o[0].as_f32_mut()?, false);
    Ok(())
}

pub fn ifft(cpu: Cpu, i: &[&Tensor], _: &Params, o: &mut [Tensor]) -> Result<()> {
    c2c(cpu, i[0].as_f32()?, o[0].as_f32_mut()?, true);
    Ok(())
}

pub fn fft_real(cpu: Cpu, i: &[&Tensor], _: &Params, o: &mut [Tensor]) -> Result<()> {
    real(cpu, i[0].as_f32()?, o[0].as_f32_mut()?, false);
    Ok(())
}

pub fn spectral_power(cpu: Cpu, i: &[&Tensor], _: &Params, o: &mut [Tensor]) -> Result<()> {
    real(cpu, i[0].as_f32()?, o[0].as_f32_mut()?, true);
    Ok(())
}

// ---- reusable short transforms (signal's fft_conv1d) -----------------------------------------

/// A forward DFT of m ≤ `SplitFft::MAX` points (a power of two) on split (re, im) arrays, its
/// plan (twiddles from f64) built once: for kernels that run many short transforms, such as
/// signal's block convolution. Call it under pulp's dispatch for the SIMD code paths.
pub(crate) struct SplitFft {
    plan: RowPlan,
    sre: Vec<f32>,
    sim: Vec<f32>,
}

impl SplitFft {
    /// The longest transform it does (one Stockham row).
    pub(crate) const MAX: usize = ROW;

    pub(crate) fn new(m: usize) -> SplitFft {
        debug_assert!(m.is_power_of_two() && m <= ROW);
        SplitFft {
            plan: RowPlan::new(m),
            sre: vec![0.0; m],
            sim: vec![0.0; m],
        }
    }

    /// (re, im) ← DFT(re + i·im), unnormalised, in place (the first m elements).
    #[inline(always)]
    pub(crate) fn forward(&mut self, re: &mut [f32], im: &mut [f32]) {
        let m = self.plan.m;
        if self.plan.run(re, im, &mut self.sre, &mut self.sim) {
            re[..m].copy_from_slice(&self.sre);
            im[..m].copy_from_slice(&self.sim);
        }
    }
}
