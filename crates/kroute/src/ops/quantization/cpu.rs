//! quantization on the CPU. Conversions use our bit-exact lane-generic f16 codec (no F16C
//! assumption); the int8 path finds a row's max |x| on the raw f16 bits (integer max of
//! bits & 0x7fff orders non-NaN magnitudes, and NaN sorts above inf), then codes the row from L1.

use crate::backend::cpu::drivers::{self, Map1To, Rows};
use crate::backend::cpu::{arch, lanes, narrow_u16, narrow_u8, vmath, widen_i8_f32, widen_u16, Cpu};
use crate::params::Params;
use crate::tensor::Tensor;
use crate::Result;
use half::f16;
use pulp::{Simd, WithSimd};

// ---- f32 → f16 ---------------------------------------------------------------------------

/// f32 → f16 bits, round to nearest even (our lane-generic codec: no F16C assumed).
struct ToF16;
impl Map1To<f16> for ToF16 {
    fn scalar(&self, x: f32) -> f16 {
        f16::from_f32(x)
    }
    #[inline(always)]
    fn vector<S: Simd>(&self, s: S, x: S::f32s, out: &mut [f16]) {
        narrow_u16::<S>(vmath::f32_to_f16_bits(s, x), bytemuck::cast_slice_mut(out));
    }
}

pub fn f32_to_f16(cpu: Cpu, i: &[&Tensor], _: &Params, o: &mut [Tensor]) -> Result<()> {
    drivers::map1_to(cpu, &ToF16, i[0].as_f32()?, o[0].as_f16_mut()?);
    Ok(())
}

// ---- f16 → i8 with per-row scales ----------------------------------------------------------

/// Widen up to 16 f16 values into f32 lanes.
#[inline(always)]
fn load_f16<S: Simd>(s: S, h: &[f16]) -> S::f32s {
    vmath::f16_bits_to_f32(s, widen_u16::<S>(bytemuck::cast_slice(h)))
}

/// max |x| of a row of f16, NaN if it holds NaN.
#[inline(always)]
fn row_max_abs<S: Simd>(s: S, row: &[f16]) -> f32 {
    let bits: &[u16] = bytemuck::cast_slice(row);
    let (v, tail) = S::as_simd_u16s(bits);
    let mask = s.splat_u16s(0x7fff);
    let mut m = s.splat_u16s(0);
    for &b in v {
        m = s.max_u16s(m, s.and_u16s(b, mask));
    }
    let mut best = lanes::<_, u16>(&m).iter().copied().max().unwrap_or(0);
    for &b in tail {
        best = best.max(b & 0x7fff);
    }
    if best > 0x7c00 {
        f32::NAN
    } else {
        f16::from_bits(best).to_f32()
    }
}

#[inline(always)]
fn code_row<S: Simd>(s: S, row: &[f16], q: &mut [i8], scale: f32) {
    let w = S::F32_LANES;
    let sv = s.splat_f32s(scale);
    let (lo, hi) = (s.splat_f32s(-127.0), s.splat_f32s(127.0));
    let magic = s.splat_f32s(12_582_912.0); // 1.5·2^23: adding it rounds half to even
    let zero = s.splat_f32s(0.0);
    for (h, out) in row.chunks(w).zip(q.chunks_mut(w)) {
        let v = s.div_f32s(load_f16(s, h), sv);
        let v = s.select_f32s(s.equal_f32s(v, v), v, zero);
        let v = s.min_f32s(s.max_f32s(v, lo), hi);
        // The integer sits in the low mantissa bits, offset by 0x4b40_0000; its low byte is
        // the two's-complement i8 code.
        let bits = s.transmute_u32s_f32s(s.add_f32s(v, magic));
        narrow_u8::<S>(bits, bytemuck::cast_slice_mut(out));
    }
}

struct Quant<'a> {
    x: &'a [f16],
    q: &'a mut [i8],
    sc: &'a mut [f32],
    d: usize,
}

impl WithSimd for Quant<'_> {
    type Output = ();
    #[inline(always)]
    fn with_simd<S: Simd>(self, s: S) {
        let Quant { x, q, sc, d } = self;
        for ((row, qr), sr) in x
            .chunks_exact(d)
            .zip(q.chunks_exact_mut(d))
            .zip(sc.iter_mut())
        {
            *sr = super::scale_of(row_max_abs(s, row));
            code_row(s, row, qr, *sr);
        }
    }
}

pub fn f16_to_i8(cpu: Cpu, i: &[&Tensor], p: &Params, o: &mut [Tensor]) -> Result<()> {
    let x = i[0].as_f16()?;
    let d = p.usize("d");
    let (qo, so) = o.split_at_mut(1);
    let (q, sc) = (qo[0].as_i8_mut()?, so[0].as_f32_mut()?);
    let outs = (Rows::new(q, d), Rows::new(sc, 1));
    drivers::rows(cpu, x.len() / d, d, outs, |cpu, r, (q, sc)| {
        let (x, q, sc) = (&x[r.start * d..r.end * d], q.data, sc.data);
        if cpu == Cpu::Scalar {
            for ((row, qr), sr) in x
                .chunks_exact(d)
                .zip(q.chunks_exact_mut(d))
                .zip(sc.iter_mut())
            {
                *sr = super::scale_of(super::max_abs(row.iter().map(|v| v.to_f32())));
                for (c, v) in qr.iter_mut().zip(row) {
                    *c = super::code_of(v.to_f32(), *sr);
                }
            }
        } else {
            arch().dispatch(Quant { x, q, sc, d })
        }
    });
    Ok(())
}

// ---- i8 → f16 ----------------------------------------------------------------------------

struct Dequant<'a> {
    q: &'a [i8],
    sc: &'a [f32],
    y: &'a mut [f16],
    d: usize,
}

impl WithSimd for Dequant<'_> {
    type Output = ();
    #[inline(always)]
    fn with_simd<S: Simd>(self, s: S) {
        let Dequant { q, sc, y, d } = self;
        let w = S::F32_LANES;
        for ((row, out), &scale) in q.chunks_exact(d).zip(y.chunks_exact_mut(d)).zip(sc) {
            let sv = s.splat_f32s(scale);
            for (c, o) in row.chunks(w).zip(out.chunks_mut(w)) {
                let h = vmath::f32_to_f16_bits(s, s.mul_f32s(widen_i8_f32::<S>(c), sv));
                narrow_u16::<S>(h, bytemuck::cast_slice_mut(o));
            }
        }
    }
}

pub fn i8_to_f16(cpu: Cpu, i: &[&Tensor], p: &Params, o: &mut [Tensor]) -> Result<()> {
    let (q, sc, y) = (i[0].as_i8()?, i[1].as_f32()?, o[0].as_f16_mut()?);
    let d = p.usize("d");
    drivers::rows(cpu, sc.len(), d, Rows::new(y, d), |cpu, r, y| {
        let (q, sc, y) = (&q[r.start * d..r.end * d], &sc[r.clone()], y.data);
        if cpu == Cpu::Scalar {
            for ((row, out), &s) in q.chunks_exact(d).zip(y.chunks_exact_mut(d)).zip(sc) {
                for (o, &c) in out.iter_mut().zip(row) {
                    *o = f16::from_f32(c as f32 * s);
                }
            }
        } else {
            arch().dispatch(Dequant { q, sc, y, d })
        }
    });
    Ok(())
}
