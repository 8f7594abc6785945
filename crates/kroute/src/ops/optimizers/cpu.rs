//! optimizers on the CPU: each step is a few f32 maps (`drivers::map2`/`map3`) with the entries'
//! constants rounded once to f32 and every multiply-add fused (no intermediate overflow where
//! the result is finite). Steps with several outputs go through the input in blocks of 4096
//! elements, each map over the block while it sits in L1, so the state is read once and written
//! once (momentum: buf then p; Adam: m, v, then p from the new m and v); the parallel backend
//! spreads the blocks over the pool (`drivers::rows` with rows of one element).
//!
//! Each map's `scalar` body is the definition in f64 (the scalar backend, and every backend when
//! a constant does not survive rounding to f32: `super::f32_ok`).

use super::{clip_coef, f32_ok, AdamConsts};
use crate::backend::cpu::drivers::{self, Map1, Map2, Map3, Rows, BLOCK};
use crate::backend::cpu::Cpu;
use crate::ops::elementwise::cpu::Clamp;
use crate::ops::reductions::cpu::Square;
use crate::params::Params;
use crate::tensor::Tensor;
use crate::Result;
use pulp::Simd;

/// p − lr·x (SGD's step on g, momentum's on the new buf): one fma.
struct Step {
    lr: f32,
    lr64: f64,
}
impl Map2 for Step {
    fn scalar(&self, p: f32, x: f32) -> f32 {
        (p as f64 - self.lr64 * x as f64) as f32
    }
    #[inline(always)]
    fn vector<S: Simd>(&self, s: S, p: S::f32s, x: S::f32s) -> S::f32s {
        s.mul_add_f32s(s.splat_f32s(-self.lr), x, p)
    }
}

/// a·x + b·y (momentum's μ·buf + g with b = 1, Adam's β1·m + (1 − β1)·g): one fma after one
/// product. `SQUARE` takes y² (Adam's β2·v + (1 − β2)·g²) as fma((b·y), y, a·x): no g² is formed
/// (it overflows from |g| = 1.9e19 and is subnormal below 1.1e-19, where the sum need not be),
/// and the square's product is exact inside the fma.
pub(crate) struct Blend<const SQUARE: bool> {
    pub(crate) a: f64,
    pub(crate) b: f64,
}
impl<const SQUARE: bool> Map2 for Blend<SQUARE> {
    fn scalar(&self, x: f32, y: f32) -> f32 {
        let y = y as f64;
        (self.a * x as f64 + self.b * if SQUARE { y * y } else { y }) as f32
    }
    #[inline(always)]
    fn vector<S: Simd>(&self, s: S, x: S::f32s, y: S::f32s) -> S::f32s {
        let by = if self.b == 1.0 { y } else { s.mul_f32s(s.splat_f32s(self.b as f32), y) };
        if SQUARE {
            return s.mul_add_f32s(by, y, s.mul_f32s(s.splat_f32s(self.a as f32), x));
        }
        s.mul_add_f32s(s.splat_f32s(self.a as f32), x, by)
    }
}

/// Adam's parameter step from the new m and v: p·wd − (lr/bc1)·(m / (√v/√bc2 + ε)) (wd = 1 − lr·λ
/// for AdamW, 1 for Adam, where p·1 is exact). Where m/denominator falls below the normal range
/// (and so has lost bits, or all of them) the step is ((lr/bc1)·m)/denominator instead.
pub(crate) struct AdamP {
    pub(crate) k: AdamConsts,
    pub(crate) f: [f32; 8],
}
impl Map3 for AdamP {
    fn scalar(&self, p: f32, m: f32, v: f32) -> f32 {
        let k = &self.k;
        let (m, v) = (m as f64, v as f64);
        (p as f64 * k.wd - k.lr * (m / k.bc1) / ((v / k.bc2).sqrt() + k.eps)) as f32
    }
    #[inline(always)]
    fn vector<S: Simd>(&self, s: S, p: S::f32s, m: S::f32s, v: S::f32s) -> S::f32s {
        let [_, _, _, _, step, sbc2, eps, wd] = self.f;
        let denom = s.add_f32s(s.div_f32s(s.sqrt_f32s(v), s.splat_f32s(sbc2)), s.splat_f32s(eps));
        let u = s.div_f32s(m, denom);
        let pw = s.mul_f32s(p, s.splat_f32s(wd));
        let fused = s.mul_add_f32s(s.splat_f32s(-step), u, pw);
        // Below the normal range (subnormal, or flushed to 0) while m is not 0 and the
        // denominator is finite (m/inf = 0 is exact: the fused form keeps p).
        let zero = s.splat_f32s(0.0);
        let small = s.and_m32s(
            s.less_than_f32s(s.abs_f32s(u), s.splat_f32s(f32::MIN_POSITIVE)),
            s.and_m32s(
                s.greater_than_f32s(s.abs_f32s(m), zero),
                s.less_than_f32s(denom, s.splat_f32s(f32::INFINITY)),
            ),
        );
        let alt = s.sub_f32s(pw, s.div_f32s(s.mul_f32s(s.splat_f32s(step), m), denom));
        s.select_f32s(small, alt, fused)
    }
}

/// x·c (the clip coefficient), in f64 for the scalar body.
pub(crate) struct Scale {
    pub(crate) c: f32,
    pub(crate) c64: f64,
}
impl Map1 for Scale {
    fn scalar(&self, x: f32) -> f32 {
        (x as f64 * self.c64) as f32
    }
    #[inline(always)]
    fn vector<S: Simd>(&self, s: S, x: S::f32s) -> S::f32s {
        s.mul_f32s(x, s.splat_f32s(self.c))
    }
}

/// The backend to run: the f64 bodies (scalar) when a constant does not fit f32.
pub(crate) fn route(cpu: Cpu, narrow: bool) -> Cpu {
    if narrow {
        cpu
    } else {
        Cpu::Scalar
    }
}

pub fn sgd(cpu: Cpu, i: &[&Tensor], p: &Params, o: &mut [Tensor]) -> Result<()> {
    let lr = p.get("lr");
    let step = Step { lr: lr as f32, lr64: lr };
    let (w, g) = (i[0].as_f32()?, i[1].as_f32()?);
    drivers::map2(route(cpu, f32_ok(lr)), &step, w, g, o[0].as_f32_mut()?);
    Ok(())
}

/// `body(cpu, block, outputs cut to the block)` over blocks of `BLOCK` elements of `0..n`, the
/// blocks spread over the pool on the parallel backend.
pub(crate) fn blocks<O: drivers::RowOutputs>(
    cpu: Cpu,
    n: usize,
    outs: O,
    body: impl Fn(Cpu, std::ops::Range<usize>, O) + Sync,
) {
    drivers::rows(cpu, n, 1, outs, |cpu, r, mut outs| {
        let mut start = r.start;
        while start < r.end {
            let end = (start + BLOCK).min(r.end);
            let (this, rest) = outs.split_rows(end - start);
            body(cpu, start..end, this);
            outs = rest;
            start = end;
        }
    });
}

pub fn sgd_momentum(cpu: Cpu, i: &[&Tensor], p: &Params, o: &mut [Tensor]) -> Result<()> {
    let (lr, mu) = (p.get("lr"), p.get("momentum"));
    let cpu = route(cpu, f32_ok(lr) && f32_ok(mu));
    let step = Step { lr: lr as f32, lr64: lr };
    let blend = Blend::<false> { a: mu, b: 1.0 };
    let (w, g, b) = (i[0].as_f32()?, i[1].as_f32()?, i[2].as_f32()?);
    let (po, bo) = o.split_at_mut(1);
    let outs = (Rows::new(po[0].as_f32_mut()?, 1), Rows::new(bo[0].as_f32_mut()?, 1));
    blocks(cpu, w.len(), outs, |cpu, r, (po, bo)| {
        drivers::map2(cpu, &blend, &b[r.clone()], &g[r.clone()], bo.data);
        drivers::map2(cpu, &step, &w[r], bo.data, po.data);
    });
    Ok(())
}

fn adam_step(cpu: Cpu, i: &[&Tensor], p: &Params, o: &mut [Tensor], decay: bool) -> Result<()> {
    let k = AdamConsts::new(p, decay);
    let cpu = route(cpu, k.narrow());
    let mb = Blend::<false> { a: k.b1, b: k.c1 };
    let vb = Blend::<true> { a: k.b2, b: k.c2 };
    let step = AdamP { k, f: k.f32s() };
    let [w, g, m, v] = [i[0].as_f32()?, i[1].as_f32()?, i[2].as_f32()?, i[3].as_f32()?];
    let (po, rest) = o.split_at_mut(1);
    let (mo, vo) = rest.split_at_mut(1);
    let outs = (
        Rows::new(po[0].as_f32_mut()?, 1),
        (Rows::new(mo[0].as_f32_mut()?, 1), Rows::new(vo[0].as_f32_mut()?, 1)),
    );
    blocks(cpu, w.len(), outs, |cpu, r, (po, (mo, vo))| {
        drivers::map2(cpu, &mb, &m[r.clone()], &g[r.clone()], mo.data);
        drivers::map2(cpu, &vb, &v[r.clone()], &g[r.clone()], vo.data);
        drivers::map3(cpu, &step, &w[r], mo.data, vo.data, po.data);
    });
    Ok(())
}

pub fn adam(cpu: Cpu, i: &[&Tensor], p: &Params, o: &mut [Tensor]) -> Result<()> {
    adam_step(cpu, i, p, o, false)
}

pub fn adamw(cpu: Cpu, i: &[&Tensor], p: &Params, o: &mut [Tensor]) -> Result<()> {
    adam_step(cpu, i, p, o, true)
}

/// ‖g‖₂ by the reductions' blocked sum of squares (f64 block totals), then one scaling pass.
pub fn clip_norm(cpu: Cpu, i: &[&Tensor], p: &Params, o: &mut [Tensor]) -> Result<()> {
    let g = i[0].as_f32()?;
    let total = drivers::sum(cpu, &Square, g).sqrt();
    let coef = clip_coef(total, p.get("max_norm"));
    let scale = Scale { c: coef as f32, c64: coef };
    drivers::map1(route(cpu, f32_ok(coef)), &scale, g, o[0].as_f32_mut()?);
    o[1].as_f32_mut()?[0] = total as f32;
    Ok(())
}

/// clamp(g, −c, c) keeping NaN: elementwise's clamp.
pub fn clip_value(cpu: Cpu, i: &[&Tensor], p: &Params, o: &mut [Tensor]) -> Result<()> {
    let c = p.f32("clip_value");
    drivers::map1(cpu, &Clamp { lo: -c, hi: c }, i[0].as_f32()?, o[0].as_f32_mut()?);
    Ok(())
}
