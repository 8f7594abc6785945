//! conv1d, fir_filter and fft_conv1d on the CPU (`conv.rs` has the common form
//! y[n] = Σ_k g[k]·x[n + k − off]).
//!
//! Direct form (conv1d, fir_filter): outputs in blocks of `OUT_BLOCK`; each block's input window
//! (the block plus K − 1 samples, zero-padded past the signal's ends) is copied into a scratch
//! row, so every output is the same K-tap dot product with no edge cases. `simd` vectorises over
//! outputs: h[k] broadcast and FMA'd into four vectors of consecutive outputs (64 outputs per
//! step with AVX-512), taps summed in groups of 64 (each group in f32, then added to the total),
//! which bounds the rounding error by about (64 + K/64)·2^-24·S_n at any K ≤ 1024. A window holding
//! a NaN or ±inf, values whose f32 partials could overflow (max|x|·max|g|·K > 2^126), or a product
//! that could underflow (min nonzero |x|·min nonzero |g| < 2^-126) is computed in f64 instead —
//! the definition's arithmetic (f64 products of f32 values are exact). `scalar` computes every
//! block in f64; `parallel` spreads `simd`'s blocks over rayon.
//!
//! fft_conv1d: overlap-save with F = max(4096, 2^⌈log2 2K⌉) points, P = F − K + 1 outputs per
//! block. The block's F samples s[j] = x[n0 − off + j] give c[m] = IFFT(FFT(s)·conj(H))[m] =
//! Σ_k g[k]·s[m + k] for m < P (no wrap), H the DFT of the zero-padded taps, computed once per
//! call in f64. Two blocks share one complex transform (one as the real part, one as the
//! imaginary: conj(H) of real taps keeps both real). Each block is scaled by a power of two to
//! max|s| ∈ [1, 2) and the taps likewise, so no f32 intermediate overflows or goes subnormal;
//! the outputs are scaled back in f64 and rounded once. A block holding a NaN or ±inf, or one
//! whose max|x|·max|g| < 2^-80 (outputs near or inside the f32 subnormals, where the sum class
//! admits less than one subnormal step of error), is computed in the direct form in f64.
//! Below `FFT_MIN_TAPS` (64) taps fft_conv1d runs the direct form (see there).
//! The transforms are our own (`ops::fft::cpu`: one Stockham row up to 4096 points, the
//! four-step transform above) for scalar/simd/parallel, rustfft's for the `rustfft` route.

use super::conv::Form;
use crate::backend::cpu::{arch, Cpu};
use crate::op::{always_available, Library, LibraryExec};
use crate::ops::fft::cpu::{c2c, simd as simd_dispatch, SplitFft};
use crate::params::Params;
use crate::tensor::Tensor;
use crate::Result;
use pulp::{Simd, WithSimd};
use rayon::prelude::*;

/// Outputs per direct-form block (a multiple of 64, four AVX-512 vectors).
const OUT_BLOCK: usize = 2048;
/// Taps per f32 group of the direct form.
const GROUP: usize = 64;
/// Multiply–adds below which `parallel`'s direct form stays on the calling thread: waking the
/// pool costs tens of µs on a many-core host, more than such a call takes on one core (H200
/// host, 16 cores: N = 6144, K = 31, three blocks, 43 µs on the pool against 12 µs on one
/// thread; at N = 16384 the pool was ahead, 32 against 37 µs).
const PAR_MIN_MACS: usize = 1 << 18;

const TWO_126: f64 = 8.507059173023462e37;
const TWO_M126: f64 = 1.1754943508222875e-38;
const TWO_M80: f64 = 8.271806125530277e-25;

// ---- shared pieces -----------------------------------------------------------------------------

/// What the taps allow: max |g|, min nonzero |g| (∞ when all are 0), all finite.
struct Taps {
    max: f64,
    min_nz: f64,
    finite: bool,
}

fn taps_info(g: &[f32]) -> Taps {
    let mut t = Taps {
        max: 0.0,
        min_nz: f64::INFINITY,
        finite: true,
    };
    for &v in g {
        let a = (v as f64).abs();
        t.finite &= a.is_finite();
        t.max = t.max.max(a);
        if a != 0.0 {
            t.min_nz = t.min_nz.min(a);
        }
    }
    t
}

/// Over w: the bits of max |v| (≥ 0x7f80_0000 when a NaN or ±inf is present) and the bits of
/// min nonzero |v| minus one (u32::MAX when every value is ±0). Integer max/min: vectorises.
#[inline(always)]
fn scan(w: &[f32]) -> (u32, u32) {
    let (mut hi, mut lo) = (0u32, u32::MAX);
    for &v in w {
        let b = v.to_bits() & 0x7fff_ffff;
        hi = hi.max(b);
        lo = lo.min(b.wrapping_sub(1));
    }
    (hi, lo)
}

/// Whether an f32 direct-form evaluation of a window scanned as (hi, lo) is safe.
fn f32_safe(hi: u32, lo: u32, t: &Taps, k: usize) -> bool {
    if hi >= 0x7f80_0000 || !t.finite {
        return false;
    }
    let bx = f32::from_bits(hi) as f64;
    let small_ok = lo == u32::MAX || f32::from_bits(lo + 1) as f64 * t.min_nz >= TWO_M126;
    bx * t.max * k as f64 <= TWO_126 && small_ok
}

/// w[j] = x[start + j] for j < w.len(), 0 outside [0, N).
fn window(x: &[f32], start: isize, w: &mut [f32]) {
    let n = x.len() as isize;
    let lo = (-start).clamp(0, w.len() as isize) as usize;
    let hi = (n - start).clamp(0, w.len() as isize) as usize;
    w[..lo].fill(0.0);
    if hi > lo {
        let s = (start + lo as isize) as usize;
        w[lo..hi].copy_from_slice(&x[s..s + hi - lo]);
    }
    w[hi.max(lo)..].fill(0.0);
}

/// y[i] = Σ_k g[k]·w[i + k] in f64 (k in order), rounded once: the definition's arithmetic.
/// `acc` is scratch of at least y.len().
fn direct_f64(g: &[f32], w: &[f32], y: &mut [f32], acc: &mut Vec<f64>) {
    let len = y.len();
    acc.clear();
    acc.resize(len, 0.0);
    for (k, &gk) in g.iter().enumerate() {
        let gk = gk as f64;
        for (a, &v) in acc.iter_mut().zip(&w[k..k + len]) {
            *a += gk * v as f64;
        }
    }
    for (o, &a) in y.iter_mut().zip(acc.iter()) {
        *o = a as f32;
    }
}

/// One vector of w from `at` (an unaligned load).
#[inline(always)]
fn load<S: Simd>(w: &[f32], at: usize) -> S::f32s {
    S::as_simd_f32s(&w[at..at + S::F32_LANES]).0[0]
}

/// y[i] = Σ_k g[k]·w[i + k] in f32 for i < y.len() (a multiple of 4 vectors); w holds at least
/// y.len() + K − 1 values. Taps in groups of `GROUP`, each group's sum added to the total.
struct DotRows<'a> {
    g: &'a [f32],
    w: &'a [f32],
    y: &'a mut [f32],
}

impl WithSimd for DotRows<'_> {
    type Output = ();
    #[inline(always)]
    fn with_simd<S: Simd>(self, s: S) {
        let DotRows { g, w, y } = self;
        let l = S::F32_LANES;
        let z = s.splat_f32s(0.0);
        for i in (0..y.len()).step_by(4 * l) {
            let (mut t0, mut t1, mut t2, mut t3) = (z, z, z, z);
            for (gi, grp) in g.chunks(GROUP).enumerate() {
                let (mut a0, mut a1, mut a2, mut a3) = (z, z, z, z);
                for (j, &gk) in grp.iter().enumerate() {
                    let at = i + gi * GROUP + j;
                    let v = s.splat_f32s(gk);
                    a0 = s.mul_add_f32s(v, load::<S>(w, at), a0);
                    a1 = s.mul_add_f32s(v, load::<S>(w, at + l), a1);
                    a2 = s.mul_add_f32s(v, load::<S>(w, at + 2 * l), a2);
                    a3 = s.mul_add_f32s(v, load::<S>(w, at + 3 * l), a3);
                }
                t0 = s.add_f32s(t0, a0);
                t1 = s.add_f32s(t1, a1);
                t2 = s.add_f32s(t2, a2);
                t3 = s.add_f32s(t3, a3);
            }
            let (out, _) = S::as_mut_simd_f32s(&mut y[i..i + 4 * l]);
            out[0] = t0;
            out[1] = t1;
            out[2] = t2;
            out[3] = t3;
        }
    }
}

/// Scan windows and decide under pulp's dispatch: (hi, lo) of w.
fn scan_simd(cpu: Cpu, w: &[f32]) -> (u32, u32) {
    simd_dispatch(cpu, || scan(w))
}

/// Run `f(first output, outputs, state)` over chunks of `block` outputs of y: in order on one
/// thread, or over rayon for `parallel` (each worker with its own state from `init`).
fn for_blocks<T: Send>(
    cpu: Cpu,
    y: &mut [f32],
    block: usize,
    init: impl Fn() -> T + Sync + Send,
    f: impl Fn(usize, &mut [f32], &mut T) + Sync + Send,
) {
    if cpu == Cpu::Parallel && y.len() > block {
        y.par_chunks_mut(block)
            .enumerate()
            .for_each_init(&init, |t, (b, yb)| f(b * block, yb, t));
    } else {
        let mut t = init();
        for (b, yb) in y.chunks_mut(block).enumerate() {
            f(b * block, yb, &mut t);
        }
    }
}

// ---- direct form -------------------------------------------------------------------------------

/// Per-worker scratch of the direct form: the window, the padded f32 outputs, f64 sums.
struct DirectScratch {
    w: Vec<f32>,
    y: Vec<f32>,
    acc: Vec<f64>,
}

fn direct(cpu: Cpu, form: Form, i: &[&Tensor], o: &mut [Tensor]) -> Result<()> {
    let (x, h) = (i[0].as_f32()?, i[1].as_f32()?);
    let y = o[0].as_f32_mut()?;
    let (g, off) = form.taps(h);
    let (g, k) = (&g[..], g.len());
    let t = taps_info(g);
    let init = || DirectScratch {
        w: vec![0.0; OUT_BLOCK + k + 64],
        y: vec![0.0; OUT_BLOCK],
        acc: Vec::new(),
    };
    let spread = if cpu == Cpu::Parallel && y.len().saturating_mul(k) < PAR_MIN_MACS {
        Cpu::Simd
    } else {
        cpu
    };
    for_blocks(spread, y, OUT_BLOCK, init, |n0, yb, s| {
        let len = yb.len();
        window(x, n0 as isize - off as isize, &mut s.w[..len + k - 1]);
        if cpu != Cpu::Scalar {
            let (hi, lo) = scan_simd(cpu, &s.w[..len + k - 1]);
            if f32_safe(hi, lo, &t, k) {
                let padded = len.div_ceil(64) * 64;
                arch().dispatch(DotRows {
                    g,
                    w: &s.w,
                    y: &mut s.y[..padded],
                });
                yb.copy_from_slice(&s.y[..len]);
                return;
            }
        }
        direct_f64(g, &s.w, yb, &mut s.acc);
    });
    Ok(())
}

pub fn conv1d(cpu: Cpu, i: &[&Tensor], _: &Params, o: &mut [Tensor]) -> Result<()> {
    direct(cpu, Form::Centred, i, o)
}

pub fn fir_filter(cpu: Cpu, i: &[&Tensor], _: &Params, o: &mut [Tensor]) -> Result<()> {
    direct(cpu, Form::Causal, i, o)
}

// ---- block FFT ---------------------------------------------------------------------------------

/// conj(H)·2^-eh of the zero-padded taps on F points, split.
pub(crate) struct Spectrum {
    re: Vec<f32>,
    im: Vec<f32>,
}

/// The block size F for K taps.
pub(crate) fn fft_len(k: usize) -> usize {
    (2 * k).next_power_of_two().max(4096)
}

/// 2^e with e = ⌊log2 v⌋ for v > 0 (f32 values, subnormals included: exact in f64).
fn exponent(v: f64) -> i32 {
    ((v.to_bits() >> 52) & 0x7ff) as i32 - 1023
}

fn spectrum(g: &[f32], f: usize, eh: i32) -> Spectrum {
    let sc = 2f64.powi(-eh);
    let mut a = vec![0.0f64; 2 * f];
    for (j, &v) in g.iter().enumerate() {
        a[2 * j] = v as f64 * sc;
    }
    crate::ops::fft::fft_f64(&mut a);
    Spectrum {
        re: a.iter().step_by(2).map(|&v| v as f32).collect(),
        im: a.iter().skip(1).step_by(2).map(|&v| -v as f32).collect(),
    }
}

/// An F-point engine: z ← IFFT(FFT(z)·C), normalised (1/F), in place on split (re, im).
pub(crate) trait Engine {
    fn filter(&mut self, re: &mut [f32], im: &mut [f32], c: &Spectrum);
}

/// Our transforms: one row transform (F ≤ 4096) or the four-step `c2c`.
struct Own {
    f: usize,
    cpu: Cpu,
    row: Option<SplitFft>,
    buf: Vec<f32>,
    out: Vec<f32>,
}

impl Own {
    fn new(cpu: Cpu, f: usize) -> Own {
        let row = (f <= SplitFft::MAX).then(|| SplitFft::new(f));
        let big = if row.is_some() { 0 } else { 2 * f };
        Own {
            f,
            // Inside a block the transform runs on the worker's thread.
            cpu: if cpu == Cpu::Scalar { Cpu::Scalar } else { Cpu::Simd },
            row,
            buf: vec![0.0; big],
            out: vec![0.0; big],
        }
    }
}

/// (re, im) ← (re, im)·C elementwise (complex).
#[inline(always)]
fn multiply(re: &mut [f32], im: &mut [f32], c: &Spectrum) {
    for (((a, b), &cr), &ci) in re.iter_mut().zip(im.iter_mut()).zip(&c.re).zip(&c.im) {
        let (x, y) = (*a, *b);
        *a = x * cr - y * ci;
        *b = x * ci + y * cr;
    }
}

impl Engine for Own {
    #[inline(always)]
    fn filter(&mut self, re: &mut [f32], im: &mut [f32], c: &Spectrum) {
        let f = self.f;
        if let Some(row) = &mut self.row {
            row.forward(re, im);
            multiply(re, im, c);
            // The inverse as conj(DFT(conj z))/F.
            im.iter_mut().for_each(|v| *v = -*v);
            row.forward(re, im);
            let s = 1.0 / f as f32;
            re.iter_mut().for_each(|v| *v *= s);
            im.iter_mut().for_each(|v| *v *= -s);
            return;
        }
        for (j, p) in self.buf.chunks_exact_mut(2).enumerate() {
            p[0] = re[j];
            p[1] = im[j];
        }
        c2c(self.cpu, &self.buf, &mut self.out, false, false);
        for (j, p) in self.out.chunks_exact_mut(2).enumerate() {
            let (x, y) = (p[0], p[1]);
            p[0] = x * c.re[j] - y * c.im[j];
            p[1] = x * c.im[j] + y * c.re[j];
        }
        c2c(self.cpu, &self.out, &mut self.buf, true, false);
        for (j, p) in self.buf.chunks_exact(2).enumerate() {
            re[j] = p[0];
            im[j] = p[1];
        }
    }
}

/// Per-worker scratch of the block FFT: the two windows, the split buffers, f64 sums.
struct FftScratch<E> {
    engine: E,
    wa: Vec<f32>,
    wb: Vec<f32>,
    re: Vec<f32>,
    im: Vec<f32>,
    acc: Vec<f64>,
}

/// How a block is computed.
enum Plan {
    /// Every sample ±0 (finite taps): the outputs are 0.
    Zero,
    /// By FFT, its samples scaled by 2^-e.
    Fft(i32),
    /// In the direct form, in f64.
    Direct,
}

fn plan(hi: u32, taps_ok: bool, bh: f64) -> Plan {
    if !taps_ok || hi >= 0x7f80_0000 {
        return Plan::Direct;
    }
    if hi == 0 {
        return Plan::Zero;
    }
    let bx = f32::from_bits(hi) as f64;
    if bx * bh < TWO_M80 {
        Plan::Direct
    } else {
        Plan::Fft(exponent(bx))
    }
}

/// s·2^-e into z (f64 scaling, one rounding).
fn scaled(s: &[f32], e: i32, z: &mut [f32]) {
    let sc = 2f64.powi(-e);
    for (o, &v) in z.iter_mut().zip(s) {
        *o = (v as f64 * sc) as f32;
    }
}

/// y[m] = v[m]·2^e rounded once.
fn unscale(v: &[f32], e: i32, y: &mut [f32]) {
    let sc = 2f64.powi(e);
    for (o, &a) in y.iter_mut().zip(v) {
        *o = (a as f64 * sc) as f32;
    }
}

/// fft_conv1d with the transforms of engines made by `make`.
fn fft_run<E: Engine + Send>(
    cpu: Cpu,
    i: &[&Tensor],
    o: &mut [Tensor],
    make: impl Fn(usize) -> E + Sync + Send,
) -> Result<()> {
    let (x, h) = (i[0].as_f32()?, i[1].as_f32()?);
    let y = o[0].as_f32_mut()?;
    if y.is_empty() {
        return Ok(());
    }
    let (g, off) = Form::Centred.taps(h);
    let (g, k) = (&g[..], g.len());
    let f = fft_len(k);
    let p = f - k + 1;
    let t = taps_info(g);
    let taps_ok = t.finite && t.max > 0.0;
    let eh = if taps_ok { exponent(t.max) } else { 0 };
    let c = spectrum(g, f, eh);
    let init = || FftScratch {
        engine: make(f),
        wa: vec![0.0; f],
        wb: vec![0.0; f],
        re: vec![0.0; f],
        im: vec![0.0; f],
        acc: Vec::new(),
    };
    // Two blocks of P outputs per transform.
    for_blocks(cpu, y, 2 * p, init, |n0, yb, s| {
        let (ya, yb) = yb.split_at_mut(p.min(yb.len()));
        window(x, n0 as isize - off as isize, &mut s.wa);
        window(x, (n0 + p) as isize - off as isize, &mut s.wb);
        let (ha, _) = simd_dispatch(cpu, || scan(&s.wa));
        let pa = plan(ha, taps_ok, t.max);
        let pb = if yb.is_empty() {
            Plan::Zero
        } else {
            plan(simd_dispatch(cpu, || scan(&s.wb)).0, taps_ok, t.max)
        };
        let (ea, eb) = match (&pa, &pb) {
            (Plan::Fft(a), Plan::Fft(b)) => (Some(*a), Some(*b)),
            (Plan::Fft(a), _) => (Some(*a), None),
            (_, Plan::Fft(b)) => (None, Some(*b)),
            _ => (None, None),
        };
        if ea.is_some() || eb.is_some() {
            let FftScratch {
                engine,
                wa,
                wb,
                re,
                im,
                ..
            } = &mut *s;
            simd_dispatch(cpu, || {
                match ea {
                    Some(e) => scaled(wa, e, re),
                    None => re.fill(0.0),
                }
                match eb {
                    Some(e) => scaled(wb, e, im),
                    None => im.fill(0.0),
                }
                engine.filter(re, im, &c);
                if let Some(e) = ea {
                    unscale(&re[..ya.len()], e + eh, ya);
                }
                if let Some(e) = eb {
                    unscale(&im[..yb.len()], e + eh, yb);
                }
            });
        }
        for (plan, w, out) in [(pa, &s.wa, ya), (pb, &s.wb, yb)] {
            match plan {
                Plan::Zero => out.fill(0.0),
                Plan::Direct => direct_f64(g, w, out, &mut s.acc),
                Plan::Fft(_) => {}
            }
        }
    });
    Ok(())
}

/// Below this many taps fft_conv1d runs the direct form: a block transform's rounding is
/// relative to the block's scale, while the sum class scales by S_n, which for a handful of taps
/// is the size of single products (K = 1, 3 failed at 1e-4 relative); the direct form is also
/// the faster there.
pub(crate) const FFT_MIN_TAPS: usize = 64;

pub fn fft_conv1d(cpu: Cpu, i: &[&Tensor], _: &Params, o: &mut [Tensor]) -> Result<()> {
    if i[1].len() < FFT_MIN_TAPS {
        return direct(cpu, Form::Centred, i, o);
    }
    fft_run(cpu, i, o, |f| Own::new(cpu, f))
}

// ---- the rustfft route ---------------------------------------------------------------------------

/// rustfft's forward and inverse plans for F points, with their buffers.
struct Rust {
    fwd: std::sync::Arc<dyn rustfft::Fft<f32>>,
    inv: std::sync::Arc<dyn rustfft::Fft<f32>>,
    buf: Vec<rustfft::num_complex::Complex<f32>>,
    scratch: Vec<rustfft::num_complex::Complex<f32>>,
}

impl Engine for Rust {
    fn filter(&mut self, re: &mut [f32], im: &mut [f32], c: &Spectrum) {
        use rustfft::num_complex::Complex;
        for (j, z) in self.buf.iter_mut().enumerate() {
            *z = Complex::new(re[j], im[j]);
        }
        self.fwd.process_with_scratch(&mut self.buf, &mut self.scratch);
        for (j, z) in self.buf.iter_mut().enumerate() {
            *z *= Complex::new(c.re[j], c.im[j]);
        }
        self.inv.process_with_scratch(&mut self.buf, &mut self.scratch);
        let s = 1.0 / self.buf.len() as f32;
        for (j, z) in self.buf.iter().enumerate() {
            re[j] = z.re * s;
            im[j] = z.im * s;
        }
    }
}

/// fft_conv1d with rustfft's transforms (the same blocks, scaling and f64 fallbacks as ours;
/// rayon over block pairs on `parallel`).
pub fn rustfft_conv1d(cpu: Cpu, i: &[&Tensor], _: &Params, o: &mut [Tensor]) -> Result<()> {
    let k = i[1].len();
    if k < FFT_MIN_TAPS {
        return direct(cpu, Form::Centred, i, o);
    }
    let f = fft_len(k);
    let mut planner = rustfft::FftPlanner::<f32>::new();
    let (fwd, inv) = (planner.plan_fft_forward(f), planner.plan_fft_inverse(f));
    let len = fwd
        .get_inplace_scratch_len()
        .max(inv.get_inplace_scratch_len());
    fft_run(cpu, i, o, |f| Rust {
        fwd: fwd.clone(),
        inv: inv.clone(),
        buf: vec![Default::default(); f],
        scratch: vec![Default::default(); len],
    })
}

/// signal's library routes: rustfft for fft_conv1d, on rayon like `parallel`.
pub(crate) static LIBRARIES: &[Library] = &[Library {
    kernel: "fft_conv1d",
    id: "rustfft",
    backend: crate::backend::Backend::Parallel,
    exec: LibraryExec::Cpu(rustfft_conv1d),
    unavailable: always_available,
}];
