//! softmax on the CPU, one row at a time while it sits in L1: the row max, Σ exp(x − m) in f32
//! lanes (4096-element blocks flushed to f64), then one pass writing y. softmax_stable keeps
//! exp(x − m) in y between its second and third pass; softmax_online keeps a running (max,
//! rescaled sum) per lane over tiles of four vectors, combines lanes and blocks by the entry's ⊕,
//! and recomputes the exponentials in its second pass. The exponential is vmath's (≤ 2.5e-7
//! relative); all three use the reciprocal of the sum, which the entry allows.

use crate::backend::cpu::drivers::{self, Rows, BLOCK};
use crate::backend::cpu::{arch, lanes, load_f32s, vmath, Cpu};
use crate::ops::elementwise::cpu::keep_nan;
use crate::params::Params;
use crate::tensor::Tensor;
use crate::Result;
use pulp::{Simd, WithSimd};

/// Which of the three kernels a row pass computes.
#[derive(Clone, Copy, PartialEq)]
enum Kind {
    Stable,
    Online,
    Log,
}

// ---- scalar ------------------------------------------------------------------------------

/// The max of a row; NaN may or may not win (a NaN reaches the sum and the row either way).
fn max_scalar(x: &[f32]) -> f32 {
    x.iter().fold(f32::NEG_INFINITY, |m, &v| m.max(v))
}

/// One step of the online normaliser on (m, d): m' = max(m, x) keeping NaN, d' = d·e^{m − m'} +
/// e^{x − m'}, with d' = 0 while m' = −inf (the entry's convention for −inf − (−inf)).
fn online_push((m, d): (f64, f64), x: f64) -> (f64, f64) {
    let mn = if x.is_nan() || m.is_nan() { f64::NAN } else { m.max(x) };
    if mn == f64::NEG_INFINITY {
        return (mn, 0.0);
    }
    (mn, d * (m - mn).exp() + (x - mn).exp())
}

/// (m, d) ⊕ (m′, d′) = (M, d·e^{m − M} + d′·e^{m′ − M}); a partial with m = −inf adds 0.
fn oplus((m, d): (f64, f64), (m2, d2): (f64, f64)) -> (f64, f64) {
    let mx = if m.is_nan() || m2.is_nan() { f64::NAN } else { m.max(m2) };
    let term = |m: f64, d: f64| if m == f64::NEG_INFINITY { 0.0 } else { d * (m - mx).exp() };
    (mx, term(m, d) + term(m2, d2))
}

fn row_scalar(kind: Kind, x: &[f32], y: &mut [f32]) {
    let (m, s) = if kind == Kind::Online {
        let (m, d) = x.iter().fold((f64::NEG_INFINITY, 0.0), |a, &v| online_push(a, v as f64));
        (m as f32, d)
    } else {
        let m = max_scalar(x);
        (m, x.iter().map(|&v| (v - m).exp() as f64).sum())
    };
    if kind == Kind::Log {
        let l = s.ln() as f32;
        y.iter_mut().zip(x).for_each(|(o, &v)| *o = (v - m) - l);
    } else {
        let inv = (1.0 / s) as f32;
        y.iter_mut().zip(x).for_each(|(o, &v)| *o = (v - m).exp() * inv);
    }
}

// ---- SIMD --------------------------------------------------------------------------------

#[inline(always)]
pub(crate) fn row_max<S: Simd>(s: S, x: &[f32]) -> f32 {
    let (v, tail) = S::as_simd_f32s(x);
    let ninf = s.splat_f32s(f32::NEG_INFINITY);
    let (mut a0, mut a1, mut a2, mut a3) = (ninf, ninf, ninf, ninf);
    let mut quads = v.chunks_exact(4);
    for q in &mut quads {
        a0 = s.max_f32s(a0, q[0]);
        a1 = s.max_f32s(a1, q[1]);
        a2 = s.max_f32s(a2, q[2]);
        a3 = s.max_f32s(a3, q[3]);
    }
    for &q in quads.remainder() {
        a0 = s.max_f32s(a0, q);
    }
    let m = s.reduce_max_f32s(s.max_f32s(s.max_f32s(a0, a1), s.max_f32s(a2, a3)));
    tail.iter().fold(m, |m, &v| m.max(v))
}

/// Σ exp(x − m) over the row (f32 lanes per 4096-element block, blocks in f64), storing the
/// exponentials in `y` when `STORE`.
#[inline(always)]
pub(crate) fn exp_sum<S: Simd, const STORE: bool>(s: S, x: &[f32], m: f32, y: &mut [f32]) -> f64 {
    let mv = s.splat_f32s(m);
    let mut total = 0.0f64;
    for (xb, yb) in x.chunks(BLOCK).zip(y.chunks_mut(BLOCK)) {
        let (v, tail) = S::as_simd_f32s(xb);
        let (yv, yt) = S::as_mut_simd_f32s(yb);
        let z = s.splat_f32s(0.0);
        let (mut a0, mut a1) = (z, z);
        let mut pairs = v.chunks_exact(2).zip(yv.chunks_exact_mut(2));
        for (q, o) in &mut pairs {
            let e0 = vmath::exp(s, s.sub_f32s(q[0], mv));
            let e1 = vmath::exp(s, s.sub_f32s(q[1], mv));
            if STORE {
                o[0] = e0;
                o[1] = e1;
            }
            a0 = s.add_f32s(a0, e0);
            a1 = s.add_f32s(a1, e1);
        }
        if v.len() % 2 == 1 {
            let k = v.len() - 1;
            let e = vmath::exp(s, s.sub_f32s(v[k], mv));
            if STORE {
                yv[k] = e;
            }
            a0 = s.add_f32s(a0, e);
        }
        total += s.reduce_sum_f32s(s.add_f32s(a0, a1)) as f64;
        for (&t, o) in tail.iter().zip(yt) {
            let e = (t - m).exp();
            if STORE {
                *o = e;
            }
            total += e as f64;
        }
    }
    total
}

/// The online normaliser of a row: per lane a running (m, d) over tiles of four vectors (one
/// rescale per tile), lanes and blocks combined by ⊕ in f64, the tail pushed element by element.
#[inline(always)]
fn online_stats<S: Simd>(s: S, x: &[f32]) -> (f64, f64) {
    let ninf = s.splat_f32s(f32::NEG_INFINITY);
    let zero = s.splat_f32s(0.0);
    let mut acc = (f64::NEG_INFINITY, 0.0);
    for xb in x.chunks(BLOCK) {
        let (v, tail) = S::as_simd_f32s(xb);
        let (mut m, mut d) = (ninf, zero);
        for tile in v.chunks(4) {
            let mut mt = tile[0];
            let mut poison = tile[0];
            for &q in &tile[1..] {
                mt = s.max_f32s(mt, q);
                poison = s.add_f32s(poison, q);
            }
            // The max instructions may drop NaN; a tile's plain sum is NaN when it holds one
            // (or both infinities, whose row is NaN anyway), and then so is the running max.
            let mn = keep_nan(s, m, keep_nan(s, poison, s.max_f32s(m, mt)));
            let mut dn = s.mul_f32s(d, vmath::exp(s, s.sub_f32s(m, mn)));
            for &q in tile {
                dn = s.add_f32s(dn, vmath::exp(s, s.sub_f32s(q, mn)));
            }
            // While the running max is −inf every term is exp(NaN): the sum stays 0.
            d = s.select_f32s(s.equal_f32s(mn, ninf), zero, dn);
            m = mn;
        }
        let (ms, ds): (&[f32], &[f32]) = (lanes(&m), lanes(&d));
        for (&ml, &dl) in ms.iter().zip(ds) {
            acc = oplus(acc, (ml as f64, dl as f64));
        }
        for &t in tail {
            acc = online_push(acc, t as f64);
        }
    }
    acc
}

/// One vector of output: e·k (`Stable`, e the stored exponential), exp(a − m)·k (`Online`), or
/// (a − m) − k (`Log`).
#[inline(always)]
fn out_vec<S: Simd>(s: S, kind: Kind, a: S::f32s, e: S::f32s, m: S::f32s, k: S::f32s) -> S::f32s {
    match kind {
        Kind::Stable => s.mul_f32s(e, k),
        Kind::Online => s.mul_f32s(vmath::exp(s, s.sub_f32s(a, m)), k),
        Kind::Log => s.sub_f32s(s.sub_f32s(a, m), k),
    }
}

/// The pass that writes y (see `out_vec`).
#[inline(always)]
fn finish<S: Simd>(s: S, kind: Kind, x: &[f32], m: f32, k: f32, y: &mut [f32]) {
    let (mv, kv) = (s.splat_f32s(m), s.splat_f32s(k));
    let (xv, xt) = S::as_simd_f32s(x);
    let (yv, yt) = S::as_mut_simd_f32s(y);
    for (o, &a) in yv.iter_mut().zip(xv) {
        *o = out_vec(s, kind, a, *o, mv, kv);
    }
    if !xt.is_empty() {
        let mut buf = [0.0f32; 16];
        buf[..yt.len()].copy_from_slice(yt);
        let v = out_vec(s, kind, s.partial_load_f32s(xt), load_f32s::<S>(&buf), mv, kv);
        s.partial_store_f32s(yt, v);
    }
}

#[inline(always)]
fn row_simd<S: Simd>(s: S, kind: Kind, x: &[f32], y: &mut [f32]) {
    let (m, k) = match kind {
        Kind::Stable => {
            let m = row_max(s, x);
            (m, (1.0 / exp_sum::<S, true>(s, x, m, y)) as f32)
        }
        Kind::Online => {
            let (m, d) = online_stats(s, x);
            (m as f32, (1.0 / d) as f32)
        }
        Kind::Log => {
            let m = row_max(s, x);
            (m, exp_sum::<S, false>(s, x, m, y).ln() as f32)
        }
    };
    finish(s, kind, x, m, k, y);
}

struct RowsOp<'a> {
    kind: Kind,
    x: &'a [f32],
    y: &'a mut [f32],
    d: usize,
}

impl WithSimd for RowsOp<'_> {
    type Output = ();
    #[inline(always)]
    fn with_simd<S: Simd>(self, s: S) {
        let RowsOp { kind, x, y, d } = self;
        for (xr, yr) in x.chunks_exact(d).zip(y.chunks_exact_mut(d)) {
            row_simd(s, kind, xr, yr);
        }
    }
}

fn run(kind: Kind, cpu: Cpu, i: &[&Tensor], p: &Params, o: &mut [Tensor]) -> Result<()> {
    let d = p.usize("d");
    let (x, y) = (i[0].as_f32()?, o[0].as_f32_mut()?);
    drivers::rows(cpu, x.len() / d, d, Rows::new(y, d), |cpu, r, y| {
        let x = &x[r.start * d..r.end * d];
        if cpu == Cpu::Scalar {
            for (xr, yr) in x.chunks_exact(d).zip(y.data.chunks_exact_mut(d)) {
                row_scalar(kind, xr, yr);
            }
        } else {
            arch().dispatch(RowsOp { kind, x, y: y.data, d })
        }
    });
    Ok(())
}

pub fn softmax_stable(cpu: Cpu, i: &[&Tensor], p: &Params, o: &mut [Tensor]) -> Result<()> {
    run(Kind::Stable, cpu, i, p, o)
}

pub fn softmax_online(cpu: Cpu, i: &[&Tensor], p: &Params, o: &mut [Tensor]) -> Result<()> {
    run(Kind::Online, cpu, i, p, o)
}

pub fn log_softmax(cpu: Cpu, i: &[&Tensor], p: &Params, o: &mut [Tensor]) -> Result<()> {
    run(Kind::Log, cpu, i, p, o)
}
