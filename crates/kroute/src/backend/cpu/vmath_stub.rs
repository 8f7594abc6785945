//! TEMPORARY per-lane stand-in until vmath.rs lands (not committed).
use pulp::Simd;
#[inline(always)]
fn per_lane<S: Simd>(x: S::f32s, f: impl Fn(f32) -> f32) -> S::f32s {
    let mut v = x;
    let l: &mut [f32] = bytemuck::cast_slice_mut(std::slice::from_mut(&mut v));
    for e in l {
        *e = f(*e)
    }
    v
}
pub fn exp<S: Simd>(_: S, x: S::f32s) -> S::f32s {
    per_lane::<S>(x, f32::exp)
}
pub fn expm1<S: Simd>(_: S, x: S::f32s) -> S::f32s {
    per_lane::<S>(x, f32::exp_m1)
}
pub fn ln<S: Simd>(_: S, x: S::f32s) -> S::f32s {
    per_lane::<S>(x, f32::ln)
}
pub fn log1p<S: Simd>(_: S, x: S::f32s) -> S::f32s {
    per_lane::<S>(x, f32::ln_1p)
}
pub fn tanh<S: Simd>(_: S, x: S::f32s) -> S::f32s {
    per_lane::<S>(x, f32::tanh)
}
pub fn erfc<S: Simd>(_: S, x: S::f32s) -> S::f32s {
    per_lane::<S>(x, |v| libm::erfc(v as f64) as f32)
}
pub fn f32_to_f16_bits<S: Simd>(s: S, x: S::f32s) -> S::u32s {
    s.transmute_u32s_f32s(per_lane::<S>(x, |v| {
        f32::from_bits(half::f16::from_f32(v).to_bits() as u32)
    }))
}
pub fn f16_bits_to_f32<S: Simd>(s: S, h: S::u32s) -> S::f32s {
    per_lane::<S>(s.transmute_f32s_u32s(h), |v| {
        half::f16::from_bits(v.to_bits() as u16).to_f32()
    })
}
