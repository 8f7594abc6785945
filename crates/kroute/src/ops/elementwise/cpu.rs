//! elementwise on the CPU: each map's scalar body (plain Rust) and vector body (pulp, with our
//! own polynomial transcendentals); the drivers run them on scalar, simd and parallel.

use crate::backend::cpu::drivers::{self, Map1, Map2, Map2To, Map3};
use crate::backend::cpu::{narrow_u8, vmath, Cpu};
use crate::params::Params;
use crate::tensor::Tensor;
use crate::Result;
use pulp::Simd;

pub struct Add;
impl Map2 for Add {
    fn scalar(&self, x: f32, y: f32) -> f32 {
        x + y
    }
    #[inline(always)]
    fn vector<S: Simd>(&self, s: S, x: S::f32s, y: S::f32s) -> S::f32s {
        s.add_f32s(x, y)
    }
}

pub struct Mul;
impl Map2 for Mul {
    fn scalar(&self, x: f32, y: f32) -> f32 {
        x * y
    }
    #[inline(always)]
    fn vector<S: Simd>(&self, s: S, x: S::f32s, y: S::f32s) -> S::f32s {
        s.mul_f32s(x, y)
    }
}

pub struct Div;
impl Map2 for Div {
    fn scalar(&self, x: f32, y: f32) -> f32 {
        x / y
    }
    /// A true IEEE division (vdivps), not a reciprocal estimate: the entry asks for the
    /// correctly rounded quotient.
    #[inline(always)]
    fn vector<S: Simd>(&self, s: S, x: S::f32s, y: S::f32s) -> S::f32s {
        s.div_f32s(x, y)
    }
}

pub struct Fma;
impl Map3 for Fma {
    /// Fused, as the vector body: a separate multiply rounds products that land among the
    /// denormals by more than the entry's bound allows.
    fn scalar(&self, a: f32, b: f32, c: f32) -> f32 {
        a.mul_add(b, c)
    }
    #[inline(always)]
    fn vector<S: Simd>(&self, s: S, a: S::f32s, b: S::f32s, c: S::f32s) -> S::f32s {
        s.mul_add_f32s(a, b, c)
    }
}

pub struct Exp;
impl Map1 for Exp {
    fn scalar(&self, x: f32) -> f32 {
        x.exp()
    }
    #[inline(always)]
    fn vector<S: Simd>(&self, s: S, x: S::f32s) -> S::f32s {
        vmath::exp(s, x)
    }
}

pub struct Log;
impl Map1 for Log {
    fn scalar(&self, x: f32) -> f32 {
        x.ln()
    }
    #[inline(always)]
    fn vector<S: Simd>(&self, s: S, x: S::f32s) -> S::f32s {
        vmath::ln(s, x)
    }
}

pub struct Tanh;
impl Map1 for Tanh {
    fn scalar(&self, x: f32) -> f32 {
        x.tanh()
    }
    #[inline(always)]
    fn vector<S: Simd>(&self, s: S, x: S::f32s) -> S::f32s {
        vmath::tanh(s, x)
    }
}

pub struct Sigmoid;
impl Map1 for Sigmoid {
    fn scalar(&self, x: f32) -> f32 {
        1.0 / (1.0 + (-x).exp())
    }
    /// e^{−x} overflows to +inf for x < −88.7 and 1/inf = 0, the right limit: no NaN.
    #[inline(always)]
    fn vector<S: Simd>(&self, s: S, x: S::f32s) -> S::f32s {
        let one = s.splat_f32s(1.0);
        s.div_f32s(one, s.add_f32s(one, vmath::exp(s, s.neg_f32s(x))))
    }
}

pub struct Softplus;
impl Map1 for Softplus {
    fn scalar(&self, x: f32) -> f32 {
        x.max(0.0) + (-x.abs()).exp().ln_1p()
    }
    #[inline(always)]
    fn vector<S: Simd>(&self, s: S, x: S::f32s) -> S::f32s {
        softplus(s, x)
    }
}

/// The stable softplus max(x, 0) + ln(1 + e^{−|x|}); NaN propagates through the log term.
#[inline(always)]
pub fn softplus<S: Simd>(s: S, x: S::f32s) -> S::f32s {
    let t = vmath::log1p(s, vmath::exp(s, s.neg_f32s(s.abs_f32s(x))));
    s.add_f32s(s.max_f32s(x, s.splat_f32s(0.0)), t)
}

/// x where x is NaN, else `v`: hardware min/max return the other operand on NaN.
#[inline(always)]
pub fn keep_nan<S: Simd>(s: S, x: S::f32s, v: S::f32s) -> S::f32s {
    s.select_f32s(s.equal_f32s(x, x), v, x)
}

pub struct Clamp {
    pub lo: f32,
    pub hi: f32,
}
impl Map1 for Clamp {
    fn scalar(&self, x: f32) -> f32 {
        if x.is_nan() {
            x
        } else {
            x.max(self.lo).min(self.hi)
        }
    }
    #[inline(always)]
    fn vector<S: Simd>(&self, s: S, x: S::f32s) -> S::f32s {
        let c = s.min_f32s(s.max_f32s(x, s.splat_f32s(self.lo)), s.splat_f32s(self.hi));
        keep_nan(s, x, c)
    }
}

pub struct Abs;
impl Map1 for Abs {
    fn scalar(&self, x: f32) -> f32 {
        x.abs()
    }
    #[inline(always)]
    fn vector<S: Simd>(&self, s: S, x: S::f32s) -> S::f32s {
        s.abs_f32s(x)
    }
}

/// m_i = x_i > y_i as u8 (false on NaN: an ordered compare).
pub struct Greater;
impl Map2To<u8> for Greater {
    fn scalar(&self, x: f32, y: f32) -> u8 {
        (x > y) as u8
    }
    #[inline(always)]
    fn vector<S: Simd>(&self, s: S, x: S::f32s, y: S::f32s, out: &mut [u8]) {
        let m = s.select_u32s(s.greater_than_f32s(x, y), s.splat_u32s(1), s.splat_u32s(0));
        narrow_u8::<S>(m, out);
    }
}

pub fn compare(cpu: Cpu, i: &[&Tensor], _: &Params, o: &mut [Tensor]) -> Result<()> {
    drivers::map2_to(cpu, &Greater, i[0].as_f32()?, i[1].as_f32()?, o[0].as_u8_mut()?);
    Ok(())
}
