//! fft on the CPU: one f32 engine for all five kernels and all three backends.
//!
//! **Rows.** A transform of m points is an in-place decimation-in-time FFT on split (re, im)
//! arrays whose input is loaded in bit-reversed order: fft_radix2 runs log2 m radix-2 stages;
//! every other kernel runs radix-4 stages, after one radix-2 stage when log2 m is odd (a radix-4
//! stage on bit-reversed blocks pairs them as (F0, F2, F1, F3): the base-4 digit reversal and
//! the radix-2 bit in one permutation). The engine transforms W rows at once, interleaved point
//! by point (`re[j·W + b]` is point j of row b), so every butterfly is W-lane vector arithmetic
//! whatever the stage's stride: no scalar first stages. One row (W = 1) serves L < `SPLIT`.
//!
//! **Four-step.** L ≥ `SPLIT` takes L = L1·L2 (L1 = 2^⌊log2 L / 2⌋): pass 1 gathers W adjacent
//! columns n2 (W·8 contiguous bytes per n1, which is exactly the lane layout), runs the L1-point
//! column FFTs, multiplies by w_L^{n2·k1} and writes B[k1, n2] (split, one 64-byte line of re and
//! one of im per k1); pass 2 reads W rows of B (transposed into lanes in cache), runs the
//! L2-point row FFTs and writes X[k1 + L1·k2] (W·8 contiguous interleaved bytes per k2). Each pass
//! streams the signal once; B lives in a buffer kept between calls (a fresh 2L-f32 allocation
//! each call costs its first-touch page faults, ~10 ms at L = 2^23). `parallel` spreads the
//! batches of W rows over rayon. `simd` and `parallel` run under pulp's dispatch (AVX-512 /
//! AVX2 / NEON), so the lane loops vectorize; `scalar` runs the same code without it.
//!
//! **Twiddles** all come from f64 sin/cos (no recurrence; the entry rejects f32 recurrences):
//! the stage tables hold w_{2s}^k, w_{4s}^{k,2k,3k} rounded once to f32; the four-step twiddle
//! w_L^{k1·n2} with n2 = c0 + b is w_L^{k1·c0}·w_L^{k1·b}, both factors rounded from f64 (the
//! second from a table cached per plan), multiplied in f32: within ~2 ulp of the exact value,
//! with no growth in L. Plans (stage tables, permutations, the four-step table) are cached per
//! (L, radix) for the process, so a timed call does not rebuild them.
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
use std::collections::HashMap;
use std::cell::RefCell;
use std::sync::{Arc, Mutex, OnceLock};

/// Lanes of a batch: W rows transformed together (16 f32: one AVX-512 vector, two AVX2 ones).
const W: usize = 16;
/// The shortest transform taken by the four-step split (L1, L2 ≥ 16 = W).
const SPLIT: usize = 256;

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

// ---- one batch of rows: in-place DIT on bit-reversed input ------------------------------------

#[derive(Clone, Copy)]
enum Stage {
    /// Radix-2 from blocks of s to 2s; twiddles w_{2s}^k at `off`.
    Two { s: usize, off: usize },
    /// Radix-4 from blocks of s to 4s; twiddles w_{4s}^{k}, w^{2k}, w^{3k} at off, off + s,
    /// off + 2s.
    Four { s: usize, off: usize },
}

/// A row transform of m points: its input permutation, stages and stage twiddles (f32, from
/// f64 once).
struct RowPlan {
    m: usize,
    /// rev[j]: the bit reversal of j (log2 m bits), where point j is loaded.
    rev: Vec<u32>,
    stages: Vec<Stage>,
    twr: Vec<f32>,
    twi: Vec<f32>,
}

impl RowPlan {
    fn new(m: usize, radix2: bool) -> RowPlan {
        let bits = m.trailing_zeros();
        let rev = (0..m as u32)
            .map(|j| if bits == 0 { 0 } else { j.reverse_bits() >> (32 - bits) })
            .collect();
        let (mut twr, mut twi, mut stages) = (Vec::new(), Vec::new(), Vec::new());
        let mut push = |e: usize, l: usize| {
            let (c, s) = unit_root(e, l);
            twr.push(c as f32);
            twi.push(s as f32);
        };
        let mut s = 1;
        if radix2 || bits % 2 == 1 {
            // fft_radix2: every stage; otherwise the one radix-2 stage of an odd log2 m, first.
            while s < m {
                stages.push(Stage::Two { s, off: twr_len(&stages) });
                (0..s).for_each(|k| push(k, 2 * s));
                s *= 2;
                if !radix2 {
                    break;
                }
            }
        }
        while s < m {
            stages.push(Stage::Four { s, off: twr_len(&stages) });
            for t in 1..4 {
                (0..s).for_each(|k| push(k * t, 4 * s));
            }
            s *= 4;
        }
        RowPlan {
            m,
            rev,
            stages,
            twr,
            twi,
        }
    }

    /// Transform the W interleaved rows in (re, im) (m·W values each), in place.
    #[inline(always)]
    fn run<const L: usize>(&self, re: &mut [f32], im: &mut [f32]) {
        let (re, im) = (&mut re[..self.m * L], &mut im[..self.m * L]);
        for &st in &self.stages {
            match st {
                Stage::Two { s, off } => {
                    radix2::<L>(s, &self.twr[off..off + s], &self.twi[off..off + s], re, im)
                }
                Stage::Four { s, off } => radix4::<L>(
                    s,
                    &self.twr[off..off + 3 * s],
                    &self.twi[off..off + 3 * s],
                    re,
                    im,
                ),
            }
        }
    }
}

/// The twiddle count of the stages so far (where the next stage's table starts).
fn twr_len(stages: &[Stage]) -> usize {
    stages
        .iter()
        .map(|st| match *st {
            Stage::Two { s, .. } => s,
            Stage::Four { s, .. } => 3 * s,
        })
        .sum()
}

/// Lanes `L` of point j: `re[j·L .. (j + 1)·L]`.
#[inline(always)]
fn lanes<const L: usize>(v: &mut [f32], j: usize) -> &mut [f32; L] {
    (&mut v[j * L..(j + 1) * L]).try_into().unwrap()
}

/// Four disjoint points (ascending) of one array.
#[inline(always)]
fn four<const L: usize>(v: &mut [f32], p: [usize; 4]) -> [&mut [f32; L]; 4] {
    let (a, rest) = v[p[0] * L..].split_at_mut((p[1] - p[0]) * L);
    let (b, rest) = rest.split_at_mut((p[2] - p[1]) * L);
    let (c, d) = rest.split_at_mut((p[3] - p[2]) * L);
    [
        (&mut a[..L]).try_into().unwrap(),
        (&mut b[..L]).try_into().unwrap(),
        (&mut c[..L]).try_into().unwrap(),
        (&mut d[..L]).try_into().unwrap(),
    ]
}

/// One radix-2 DIT stage: X_k = E_k + w_{2s}^k·O_k, X_{k+s} = E_k − w_{2s}^k·O_k.
#[inline(always)]
fn radix2<const L: usize>(s: usize, wr: &[f32], wi: &[f32], re: &mut [f32], im: &mut [f32]) {
    let m = re.len() / L;
    for p in (0..m).step_by(2 * s) {
        for k in 0..s {
            let (a, b) = (p + k, p + k + s);
            let (cr, ci) = (wr[k], wi[k]);
            let (er, or) = re[a * L..(b + 1) * L].split_at_mut((b - a) * L);
            let (ei, oi) = im[a * L..(b + 1) * L].split_at_mut((b - a) * L);
            let (er, ei): (&mut [f32; L], &mut [f32; L]) =
                ((&mut er[..L]).try_into().unwrap(), (&mut ei[..L]).try_into().unwrap());
            let (or, oi): (&mut [f32; L], &mut [f32; L]) =
                ((&mut or[..L]).try_into().unwrap(), (&mut oi[..L]).try_into().unwrap());
            for l in 0..L {
                let (tr, ti) = cmul(or[l], oi[l], cr, ci);
                let (xr, xi) = (er[l], ei[l]);
                er[l] = xr + tr;
                ei[l] = xi + ti;
                or[l] = xr - tr;
                oi[l] = xi - ti;
            }
        }
    }
}

/// One radix-4 DIT stage from blocks of s to 4s. On bit-reversed input the four blocks hold the
/// DFTs of the residues 0, 2, 1, 3 (mod 4): v_t = w_{4s}^{t·k}·F_t, then the 4-point DFT of v.
#[inline(always)]
fn radix4<const L: usize>(s: usize, wr: &[f32], wi: &[f32], re: &mut [f32], im: &mut [f32]) {
    let m = re.len() / L;
    for p in (0..m).step_by(4 * s) {
        for k in 0..s {
            let at = [p + k, p + k + s, p + k + 2 * s, p + k + 3 * s];
            let [b0r, b1r, b2r, b3r] = four::<L>(re, at);
            let [b0i, b1i, b2i, b3i] = four::<L>(im, at);
            let (w1r, w1i) = (wr[k], wi[k]);
            let (w2r, w2i) = (wr[s + k], wi[s + k]);
            let (w3r, w3i) = (wr[2 * s + k], wi[2 * s + k]);
            for l in 0..L {
                let (v0r, v0i) = (b0r[l], b0i[l]);
                let (v1r, v1i) = cmul(b2r[l], b2i[l], w1r, w1i);
                let (v2r, v2i) = cmul(b1r[l], b1i[l], w2r, w2i);
                let (v3r, v3i) = cmul(b3r[l], b3i[l], w3r, w3i);
                let (t0r, t0i) = (v0r + v2r, v0i + v2i);
                let (t1r, t1i) = (v0r - v2r, v0i - v2i);
                let (t2r, t2i) = (v1r + v3r, v1i + v3i);
                let (t3r, t3i) = (v1r - v3r, v1i - v3i);
                b0r[l] = t0r + t2r;
                b0i[l] = t0i + t2i;
                b2r[l] = t0r - t2r;
                b2i[l] = t0i - t2i;
                // t1 ∓ i·t3: −i·(a + bi) = b − ai.
                b1r[l] = t1r + t3i;
                b1i[l] = t1i - t3r;
                b3r[l] = t1r - t3i;
                b3i[l] = t1i + t3r;
            }
        }
    }
}

#[inline(always)]
fn cmul(ar: f32, ai: f32, br: f32, bi: f32) -> (f32, f32) {
    (ar * br - ai * bi, ar * bi + ai * br)
}

// ---- plans, cached ----------------------------------------------------------------------------

/// Everything a transform of L points needs beyond its data, built once per (L, radix).
struct Plan {
    l: usize,
    /// One row (L < SPLIT), or the four-step's column and row plans.
    row: Option<RowPlan>,
    split: Option<FourStep>,
}

struct FourStep {
    l1: usize,
    l2: usize,
    p1: RowPlan,
    p2: RowPlan,
    /// w_L^{k1·b} for k1 < L1, b < W, at [k1·W + b] (f32 from f64).
    tr: Vec<f32>,
    ti: Vec<f32>,
    tw: Twiddles,
}

fn plan(l: usize, radix2: bool) -> Arc<Plan> {
    static PLANS: OnceLock<Mutex<HashMap<(usize, bool), Arc<Plan>>>> = OnceLock::new();
    let map = PLANS.get_or_init(Default::default);
    if let Some(p) = map.lock().unwrap_or_else(|e| e.into_inner()).get(&(l, radix2)) {
        return p.clone();
    }
    // Built outside the lock (a 2^26 plan takes a few ms); a race builds it twice, harmlessly.
    let p = Arc::new(if l < SPLIT {
        Plan {
            l,
            row: Some(RowPlan::new(l, radix2)),
            split: None,
        }
    } else {
        let l1 = 1usize << (l.trailing_zeros() / 2);
        let l2 = l / l1;
        let tw = Twiddles::new(l);
        let (mut tr, mut ti) = (Vec::with_capacity(l1 * W), Vec::with_capacity(l1 * W));
        for k1 in 0..l1 {
            for b in 0..W {
                let (c, s) = tw.get(k1 * b);
                tr.push(c as f32);
                ti.push(s as f32);
            }
        }
        Plan {
            l,
            row: None,
            split: Some(FourStep {
                l1,
                l2,
                p1: RowPlan::new(l1, radix2),
                p2: RowPlan::new(l2, radix2),
                tr,
                ti,
                tw,
            }),
        }
    });
    let mut m = map.lock().unwrap_or_else(|e| e.into_inner());
    m.entry((l, radix2)).or_insert(p).clone()
}

/// A buffer of `len` f32 from a pool kept between calls (contents unspecified), handed back to
/// the pool when `f` returns: large transforms would otherwise pay first-touch page faults on
/// every call. The pool keeps at most two buffers (the real kernels use two at once).
fn with_buffer<R>(len: usize, f: impl FnOnce(&mut [f32]) -> R) -> R {
    static POOL: Mutex<Vec<Vec<f32>>> = Mutex::new(Vec::new());
    let mut buf = {
        let mut pool = POOL.lock().unwrap_or_else(|e| e.into_inner());
        match pool.iter().position(|b| b.len() >= len) {
            Some(i) => pool.swap_remove(i),
            None => pool.pop().unwrap_or_default(),
        }
    };
    if buf.len() < len {
        buf = vec![0f32; len];
    }
    let r = f(&mut buf[..len]);
    let mut pool = POOL.lock().unwrap_or_else(|e| e.into_inner());
    pool.push(buf);
    if pool.len() > 2 {
        // Drop the smallest.
        let i = (0..pool.len()).min_by_key(|&i| pool[i].len()).unwrap();
        pool.swap_remove(i);
    }
    r
}

// ---- the transform ----------------------------------------------------------------------------

/// `f` under pulp's dispatch (so its inlined loops are compiled for the SIMD level found) for
/// simd and parallel, directly for scalar (signal's block convolution uses it too).
#[inline(always)]
pub(crate) fn simd<R>(cpu: Cpu, f: impl FnOnce() -> R) -> R {
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
    /// SAFETY: the caller keeps `i..i + v.len()` inside the buffer and writes only elements it
    /// owns.
    #[inline(always)]
    unsafe fn write(&self, i: usize, v: &[f32]) {
        std::ptr::copy_nonoverlapping(v.as_ptr(), self.0.add(i), v.len());
    }
}

/// Scratch of one batch: W interleaved rows of m points, split; one per thread, kept between
/// calls (a fresh 512 KiB allocation per call is first-touch page faults again).
struct Scratch {
    re: Vec<f32>,
    im: Vec<f32>,
}

thread_local! {
    static SCRATCH: RefCell<Scratch> = const { RefCell::new(Scratch { re: Vec::new(), im: Vec::new() }) };
}

/// One batch of W rows: `run` holds the loops, compiled for the SIMD level it is handed.
trait Batch: Sync {
    fn run<S: Simd>(&self, s: S, first: usize, scratch: &mut Scratch);
}

/// A batch under pulp's dispatch. The loops must be inlined into `with_simd` (so LLVM compiles
/// them with the dispatched target features): a closure called from two sites was not, and ran
/// as SSE2 code (measured: 3-4× rustfft's time).
struct Dispatch<'a, B>(&'a B, usize, &'a mut Scratch);

impl<B: Batch> WithSimd for Dispatch<'_, B> {
    type Output = ();
    #[inline(always)]
    fn with_simd<S: Simd>(self, s: S) {
        self.0.run(s, self.1, self.2)
    }
}

fn one<B: Batch>(cpu: Cpu, b: &B, first: usize, scratch: &mut Scratch) {
    match cpu {
        Cpu::Scalar => b.run(pulp::Scalar::new(), first, scratch),
        _ => arch().dispatch(Dispatch(b, first, scratch)),
    }
}

/// Run the batches first = 0, W, … < count on scratch of m points (in parallel for
/// `parallel`).
fn batches<B: Batch>(cpu: Cpu, count: usize, m: usize, b: &B) {
    let go = |i: usize| {
        SCRATCH.with_borrow_mut(|s| {
            if s.re.len() < m * W {
                s.re.resize(m * W, 0.0);
                s.im.resize(m * W, 0.0);
            }
            one(cpu, b, i * W, s)
        })
    };
    if cpu == Cpu::Parallel {
        (0..count / W).into_par_iter().for_each(go);
    } else {
        (0..count / W).for_each(go);
    }
}

/// The DFT of L complex points x (2L interleaved f32) into y (2L f32). `inverse`: x is
/// conjugated on load, the result conjugated and scaled by 1/L on store (the inverse DFT).
/// `radix2`: radix-2 stages only (fft_radix2); otherwise radix-4 (+ one radix-2).
pub(crate) fn c2c(cpu: Cpu, x: &[f32], y: &mut [f32], inverse: bool, radix2: bool) {
    let l = x.len() / 2;
    if l == 0 {
        return;
    }
    let plan = plan(l, radix2);
    let sign = if inverse { -1.0f32 } else { 1.0 };
    let scale = if inverse { 1.0 / l as f32 } else { 1.0 };
    if let Some(row) = &plan.row {
        let (mut re, mut im) = (vec![0f32; l], vec![0f32; l]);
        for (j, p) in x.chunks_exact(2).enumerate() {
            let r = row.rev[j] as usize;
            re[r] = p[0];
            im[r] = sign * p[1];
        }
        simd(cpu, || row.run::<1>(&mut re, &mut im));
        for (k, p) in y.chunks_exact_mut(2).enumerate() {
            p[0] = re[k] * scale;
            p[1] = sign * im[k] * scale;
        }
        return;
    }
    let fs = plan.split.as_ref().unwrap();
    debug_assert_eq!(plan.l, l);
    with_buffer(2 * l, |b| four_step(cpu, fs, x, y, b, sign, scale));
}

/// The four-step transform (see the module notes); `b` holds B (re then im, L each).
fn four_step(cpu: Cpu, fs: &FourStep, x: &[f32], y: &mut [f32], b: &mut [f32], sign: f32, scale: f32) {
    let (l1, l2) = (fs.l1, fs.l2);
    let ob = Out(b.as_mut_ptr());
    batches(cpu, l2, l1, &Pass1 { fs, x, ob, sign });
    let (bre, bim) = b.split_at(l1 * l2);
    let oy = Out(y.as_mut_ptr());
    batches(cpu, l1, l2, &Pass2 { fs, bre, bim, oy, sign, scale });
}

/// Pass 1: columns n2 = c0 … c0 + W − 1 (lanes), L1-point FFTs over n1, twiddled, into
/// B[k1·L2 + n2].
struct Pass1<'a> {
    fs: &'a FourStep,
    x: &'a [f32],
    ob: Out,
    sign: f32,
}

impl Batch for Pass1<'_> {
    #[inline(always)]
    fn run<S: Simd>(&self, _: S, c0: usize, s: &mut Scratch) {
        let Pass1 { fs, x, ob, sign } = *self;
        let (l1, l2) = (fs.l1, fs.l2);
        let l = l1 * l2;
        for n1 in 0..l1 {
            let src: &[f32; 2 * W] = x[2 * (n1 * l2 + c0)..][..2 * W].try_into().unwrap();
            let r = fs.p1.rev[n1] as usize;
            let (dr, di) = (lanes::<W>(&mut s.re, r), lanes::<W>(&mut s.im, r));
            for l in 0..W {
                dr[l] = src[2 * l];
                di[l] = sign * src[2 * l + 1];
            }
        }
        fs.p1.run::<W>(&mut s.re, &mut s.im);
        for k1 in 0..l1 {
            let (ar, ai) = fs.tw.get(k1 * c0);
            let (ar, ai) = (ar as f32, ai as f32);
            let tr: &[f32; W] = fs.tr[k1 * W..][..W].try_into().unwrap();
            let ti: &[f32; W] = fs.ti[k1 * W..][..W].try_into().unwrap();
            let (vr, vi) = (lanes::<W>(&mut s.re, k1), lanes::<W>(&mut s.im, k1));
            let (mut or, mut oi) = ([0f32; W], [0f32; W]);
            for l in 0..W {
                let (wr, wi) = cmul(ar, ai, tr[l], ti[l]);
                (or[l], oi[l]) = cmul(vr[l], vi[l], wr, wi);
            }
            // SAFETY: k1·L2 + c0 + W ≤ L (and L + … ≤ 2L for im); this batch alone writes
            // the columns c0 … c0 + W − 1 of B.
            unsafe {
                ob.write(k1 * l2 + c0, &or);
                ob.write(l + k1 * l2 + c0, &oi);
            }
        }
    }
}

/// Pass 2: rows k1 = r0 … r0 + W − 1 (lanes), L2-point FFTs over n2, into X[k1 + L1·k2].
struct Pass2<'a> {
    fs: &'a FourStep,
    bre: &'a [f32],
    bim: &'a [f32],
    oy: Out,
    sign: f32,
    scale: f32,
}

impl Batch for Pass2<'_> {
    #[inline(always)]
    fn run<S: Simd>(&self, _: S, r0: usize, s: &mut Scratch) {
        let Pass2 { fs, bre, bim, oy, sign, scale } = *self;
        let (l1, l2) = (fs.l1, fs.l2);
        for n0 in (0..l2).step_by(W) {
            // A W × W tile of B, transposed into the lanes.
            for lane in 0..W {
                let row = (r0 + lane) * l2 + n0;
                let (sr, si): (&[f32; W], &[f32; W]) = (
                    bre[row..][..W].try_into().unwrap(),
                    bim[row..][..W].try_into().unwrap(),
                );
                for t in 0..W {
                    let r = fs.p2.rev[n0 + t] as usize;
                    s.re[r * W + lane] = sr[t];
                    s.im[r * W + lane] = si[t];
                }
            }
        }
        fs.p2.run::<W>(&mut s.re, &mut s.im);
        for k2 in 0..l2 {
            let (vr, vi) = (lanes::<W>(&mut s.re, k2), lanes::<W>(&mut s.im, k2));
            let mut o = [0f32; 2 * W];
            for l in 0..W {
                o[2 * l] = vr[l] * scale;
                o[2 * l + 1] = sign * vi[l] * scale;
            }
            // SAFETY: 2(r0 + L1·k2) + 2W ≤ 2L, and this batch alone writes the outputs
            // k1 = r0 … r0 + W − 1.
            unsafe { oy.write(2 * (r0 + l1 * k2), &o) };
        }
    }
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
    with_buffer(l, |z| {
        c2c(cpu, x, z, false, false);
        separate(cpu, z, out, power);
    });
}

/// Bins per chunk of the separation: w_L^k = w_L^{k0}·w_L^{k − k0} from a table of `SEP`.
const SEP: usize = 64;

/// The separation pass of the rfft (see `real`) from Z (M = L/2 points) into `out`.
fn separate(cpu: Cpu, z: &[f32], out: &mut [f32], power: bool) {
    let m = z.len() / 2;
    let l = 2 * m;
    let tw = Twiddles::new(l);
    let (mut fr, mut fi) = ([0f64; SEP], [0f64; SEP]);
    for j in 0..SEP {
        (fr[j], fi[j]) = unit_root(j, l);
    }
    let width = if power { 1 } else { 2 };
    let fill = |k0: usize, chunk: &mut [f32]| {
        let (ar, ai) = tw.get(k0);
        for (j, o) in chunk.chunks_exact_mut(width).enumerate() {
            let k = k0 + j;
            let (a, b) = (k % m, (m - k % m) % m);
            let (zr, zi) = (z[2 * a], z[2 * a + 1]);
            let (cr, ci) = (z[2 * b], -z[2 * b + 1]);
            let (er, ei) = (0.5 * (zr + cr), 0.5 * (zi + ci));
            let (or, oi) = (0.5 * (zi - ci), -0.5 * (zr - cr));
            let (wr, wi) = (ar * fr[j] - ai * fi[j], ar * fi[j] + ai * fr[j]);
            let (wr, wi) = (wr as f32, wi as f32);
            let (re, im) = (er + (wr * or - wi * oi), ei + (wr * oi + wi * or));
            if power {
                o[0] = (re as f64 * re as f64 + im as f64 * im as f64) as f32;
            } else {
                o[0] = re;
                o[1] = im;
            }
        }
    };
    if cpu == Cpu::Parallel {
        out.par_chunks_mut(SEP * width)
            .enumerate()
            .with_min_len(256)
            .for_each(|(c, o)| simd(cpu, || fill(c * SEP, o)));
    } else {
        simd(cpu, || {
            out.chunks_mut(SEP * width)
                .enumerate()
                .for_each(|(c, o)| fill(c * SEP, o))
        });
    }
}

pub fn fft_radix2(cpu: Cpu, i: &[&Tensor], _: &Params, o: &mut [Tensor]) -> Result<()> {
    c2c(cpu, i[0].as_f32()?, o[0].as_f32_mut()?, false, true);
    Ok(())
}

pub fn fft_radix4(cpu: Cpu, i: &[&Tensor], _: &Params, o: &mut [Tensor]) -> Result<()> {
    c2c(cpu, i[0].as_f32()?, o[0].as_f32_mut()?, false, false);
    Ok(())
}

pub fn ifft(cpu: Cpu, i: &[&Tensor], _: &Params, o: &mut [Tensor]) -> Result<()> {
    c2c(cpu, i[0].as_f32()?, o[0].as_f32_mut()?, true, false);
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
/// plan (twiddles from f64, radix-4 stages) built once: for kernels that run many short
/// transforms, such as signal's block convolution. One lane of the row engine: the input is
/// loaded in bit-reversed order into scratch, transformed in place, copied back. Call it under
/// pulp's dispatch for the SIMD code paths.
pub(crate) struct SplitFft {
    plan: RowPlan,
    sre: Vec<f32>,
    sim: Vec<f32>,
}

impl SplitFft {
    /// The longest transform it is used for (longer ones go through the four-step `c2c`).
    pub(crate) const MAX: usize = 4096;

    pub(crate) fn new(m: usize) -> SplitFft {
        debug_assert!(m.is_power_of_two() && m <= Self::MAX);
        SplitFft {
            plan: RowPlan::new(m, false),
            sre: vec![0.0; m],
            sim: vec![0.0; m],
        }
    }

    /// (re, im) ← DFT(re + i·im), unnormalised, in place (the first m elements).
    #[inline(always)]
    pub(crate) fn forward(&mut self, re: &mut [f32], im: &mut [f32]) {
        let m = self.plan.m;
        for j in 0..m {
            let r = self.plan.rev[j] as usize;
            self.sre[r] = re[j];
            self.sim[r] = im[j];
        }
        self.plan.run::<1>(&mut self.sre, &mut self.sim);
        re[..m].copy_from_slice(&self.sre);
        im[..m].copy_from_slice(&self.sim);
    }
}
