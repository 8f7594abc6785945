//! activations on the CPU. The vector bodies use forms without cancellation (x·σ(2u) for the
//! tanh GELU, erfc for the erf GELU) and pin the −inf limits the closed forms cannot reach.

use crate::backend::cpu::drivers::Map1;
use crate::backend::cpu::vmath;
use crate::ops::elementwise::cpu::keep_nan;
use pulp::Simd;

/// −0 where x = −inf (the limit of gelu, gelu_erf, silu and mish), else `v`.
#[inline(always)]
fn neg_inf_limit<S: Simd>(s: S, x: S::f32s, v: S::f32s) -> S::f32s {
    s.select_f32s(
        s.equal_f32s(x, s.splat_f32s(f32::NEG_INFINITY)),
        s.splat_f32s(-0.0),
        v,
    )
}

fn scalar_limit(x: f32, f: impl Fn(f32) -> f32) -> f32 {
    if x == f32::NEG_INFINITY {
        -0.0
    } else if x == f32::INFINITY {
        x
    } else {
        f(x)
    }
}

pub struct Relu;
impl Map1 for Relu {
    fn scalar(&self, x: f32) -> f32 {
        if x.is_nan() {
            x
        } else {
            x.max(0.0)
        }
    }
    #[inline(always)]
    fn vector<S: Simd>(&self, s: S, x: S::f32s) -> S::f32s {
        keep_nan(s, x, s.max_f32s(x, s.splat_f32s(0.0)))
    }
}

pub struct LeakyRelu {
    pub alpha: f32,
}
impl Map1 for LeakyRelu {
    fn scalar(&self, x: f32) -> f32 {
        if x > 0.0 {
            x
        } else {
            self.alpha * x
        }
    }
    #[inline(always)]
    fn vector<S: Simd>(&self, s: S, x: S::f32s) -> S::f32s {
        let neg = s.mul_f32s(s.splat_f32s(self.alpha), x);
        s.select_f32s(s.greater_than_f32s(x, s.splat_f32s(0.0)), x, neg)
    }
}

pub struct Elu {
    pub alpha: f32,
}
impl Map1 for Elu {
    fn scalar(&self, x: f32) -> f32 {
        if x > 0.0 {
            x
        } else {
            self.alpha * x.exp_m1()
        }
    }
    #[inline(always)]
    fn vector<S: Simd>(&self, s: S, x: S::f32s) -> S::f32s {
        let neg = s.mul_f32s(s.splat_f32s(self.alpha), vmath::expm1(s, x));
        s.select_f32s(s.greater_than_f32s(x, s.splat_f32s(0.0)), x, neg)
    }
}

const SQRT_2_OVER_PI: f32 = 0.797_884_6;

pub struct Gelu;
impl Map1 for Gelu {
    fn scalar(&self, x: f32) -> f32 {
        scalar_limit(x, |x| {
            0.5 * x * (1.0 + (SQRT_2_OVER_PI * (x + 0.044715 * x * x * x)).tanh())
        })
    }
    /// 0.5x(1 + tanh u) = x / (1 + e^{−2u}): the same value without the cancellation of
    /// 1 + tanh u near u → −∞.
    #[inline(always)]
    fn vector<S: Simd>(&self, s: S, x: S::f32s) -> S::f32s {
        let x3 = s.mul_f32s(s.mul_f32s(x, x), x);
        let u = s.mul_f32s(
            s.splat_f32s(SQRT_2_OVER_PI),
            s.mul_add_f32s(s.splat_f32s(0.044715), x3, x),
        );
        let e = vmath::exp(s, s.mul_f32s(s.splat_f32s(-2.0), u));
        neg_inf_limit(s, x, s.div_f32s(x, s.add_f32s(s.splat_f32s(1.0), e)))
    }
}

pub struct GeluErf;
impl Map1 for GeluErf {
    fn scalar(&self, x: f32) -> f32 {
        scalar_limit(x, |x| {
            0.5 * x * (1.0 + libm::erff(x / std::f32::consts::SQRT_2))
        })
    }
    /// 0.5x(1 + erf(x/√2)) = 0.5x·erfc(−x/√2), accurate where erf is near −1.
    #[inline(always)]
    fn vector<S: Simd>(&self, s: S, x: S::f32s) -> S::f32s {
        let z = s.mul_f32s(x, s.splat_f32s(-std::f32::consts::FRAC_1_SQRT_2));
        let y = s.mul_f32s(s.mul_f32s(s.splat_f32s(0.5), x), vmath::erfc(s, z));
        neg_inf_limit(s, x, y)
    }
}

pub struct Silu;
impl Map1 for Silu {
    fn scalar(&self, x: f32) -> f32 {
        scalar_limit(x, |x| x / (1.0 + (-x).exp()))
    }
    #[inline(always)]
    fn vector<S: Simd>(&self, s: S, x: S::f32s) -> S::f32s {
        let e = vmath::exp(s, s.neg_f32s(x));
        neg_inf_limit(s, x, s.div_f32s(x, s.add_f32s(s.splat_f32s(1.0), e)))
    }
}

pub struct Mish;
impl Map1 for Mish {
    fn scalar(&self, x: f32) -> f32 {
        scalar_limit(x, |x| x * (x.max(0.0) + (-x.abs()).exp().ln_1p()).tanh())
    }
    /// tanh(ln(1 + u)) = n / (n + 2) with u = e^x and n = u(u + 2): one exponential and a
    /// division instead of exp, log1p and tanh, with no cancellation (n ≥ 0). Above x = 20
    /// the factor is 1 in f32, and e^x is kept finite by the clamp.
    #[inline(always)]
    fn vector<S: Simd>(&self, s: S, x: S::f32s) -> S::f32s {
        let twenty = s.splat_f32s(20.0);
        let u = vmath::exp(s, s.min_f32s(x, twenty));
        let n = s.mul_f32s(u, s.add_f32s(u, s.splat_f32s(2.0)));
        let y = s.div_f32s(s.mul_f32s(x, n), s.add_f32s(n, s.splat_f32s(2.0)));
        neg_inf_limit(s, x, s.select_f32s(s.greater_than_f32s(x, twenty), x, y))
    }
}
