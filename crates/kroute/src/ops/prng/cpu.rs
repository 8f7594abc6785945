//! prng on the CPU.
//!
//! Every kernel turns one Philox block (four words) into four output elements, so one driver
//! (`generate`) serves all four; a kernel says what a block's words become, once per element
//! (`scalar`) and once for a vector of blocks (`vector`).
//!
//! - `scalar`: block by block, the definitions in f64 (the uniform and normal values are the
//!   reference's, rounded once).
//! - `simd`: one vector lane per block: a vector of L blocks (L = 16 on AVX-512) runs the ten
//!   Philox rounds with pulp's widening multiply, giving word q of every block in register q;
//!   the kernel's body maps the four registers to four registers of results, which are stored
//!   interleaved (element 4j + q). Uniforms are one f32 fma (≤ 1 ulp of max(|a|, |b|); exact at
//!   a = 0, b = 1); normals use f32 ln, sqrt and a sin/cos of the exactly reduced angle.
//! - `parallel`: the simd pass over chunks of the output, each starting at its own block.

use crate::backend::cpu::vmath;
use crate::backend::cpu::{arch, chunk_len, lanes, Cpu, GRAIN};
use crate::params::Params;
use crate::philox::philox4x32_10;
use crate::tensor::Tensor;
use crate::Result;
use pulp::{Simd, WithSimd};
use rayon::prelude::*;

const M0: u32 = 0xD251_1F53;
const M1: u32 = 0xCD9E_8D57;
const W0: u32 = 0x9E37_79B9;
const W1: u32 = 0xBB67_AE85;

/// An output element made from a 32-bit lane.
trait Lane: Copy + Default + Send + Sync {
    fn from_lane(v: u32) -> Self;
}
impl Lane for u32 {
    fn from_lane(v: u32) -> u32 {
        v
    }
}
impl Lane for f32 {
    fn from_lane(v: u32) -> f32 {
        f32::from_bits(v)
    }
}
impl Lane for u8 {
    fn from_lane(v: u32) -> u8 {
        v as u8
    }
}

/// What a kernel makes of a block's four words.
trait Gen: Sync {
    type T: Lane;
    /// Elements 4j … 4j + 3 from block j's words.
    fn scalar(&self, w: [u32; 4]) -> [Self::T; 4];
    /// The same for a vector of blocks: register q holds word q of each block; returns the
    /// four elements of each block as 32-bit lanes (f32 bits, u32, or a byte value).
    fn vector<S: Simd>(&self, s: S, w: [S::u32s; 4]) -> [S::u32s; 4];
}

fn key(seed: u64) -> [u32; 2] {
    crate::philox::key(seed)
}

/// Block j's words (the counter carries into c1 above 2^32 blocks).
#[inline]
fn block(j: u64, key: [u32; 2]) -> [u32; 4] {
    philox4x32_10([j as u32, (j >> 32) as u32, 0, 0], key)
}

/// Philox4x32-10 on a vector of counters, one block per lane.
#[inline(always)]
fn philox_vector<S: Simd>(s: S, c: [S::u32s; 4], key: [u32; 2]) -> [S::u32s; 4] {
    let [mut c0, mut c1, mut c2, mut c3] = c;
    let [mut k0, mut k1] = key;
    let (m0, m1) = (s.splat_u32s(M0), s.splat_u32s(M1));
    for _ in 0..10 {
        let (lo0, hi0) = s.widening_mul_u32s(m0, c0);
        let (lo1, hi1) = s.widening_mul_u32s(m1, c2);
        c0 = s.xor_u32s(s.xor_u32s(hi1, c1), s.splat_u32s(k0));
        c1 = lo1;
        c2 = s.xor_u32s(s.xor_u32s(hi0, c3), s.splat_u32s(k1));
        c3 = lo0;
        k0 = k0.wrapping_add(W0);
        k1 = k1.wrapping_add(W1);
    }
    [c0, c1, c2, c3]
}

/// Fill `out` (elements from 4·j0 on) on one thread: vectors of L blocks, the last partial
/// vector computed whole into a staging buffer and copied as far as it fits.
fn generate_simd<G: Gen>(g: &G, key: [u32; 2], j0: u64, out: &mut [G::T]) {
    struct Run<'a, G: Gen>(&'a G, [u32; 2], u64, &'a mut [G::T]);
    impl<G: Gen> WithSimd for Run<'_, G> {
        type Output = ();
        #[inline(always)]
        fn with_simd<S: Simd>(self, s: S) {
            let Run(g, key, j0, out) = self;
            let l = S::U32_LANES;
            let mut iota = [0u32; 16];
            for (i, v) in iota.iter_mut().enumerate() {
                *v = i as u32;
            }
            let iota: S::u32s = crate::backend::cpu::load_u32s::<S>(&iota);
            let mut stage = [G::T::default(); 64];
            for (v, chunk) in out.chunks_mut(4 * l).enumerate() {
                let j = j0 + (v * l) as u64;
                let words = if (j as u32).checked_add(l as u32 - 1).is_some() {
                    let c0 = s.add_u32s(s.splat_u32s(j as u32), iota);
                    let hi = s.splat_u32s((j >> 32) as u32);
                    let zero = s.splat_u32s(0);
                    philox_vector(s, [c0, hi, zero, zero], key)
                } else {
                    // The low counter word wraps inside this vector: the carry differs per
                    // lane, so these blocks go one by one (once per 2^32 blocks).
                    let mut w = [[0u32; 16]; 4];
                    for i in 0..l {
                        let b = block(j + i as u64, key);
                        for q in 0..4 {
                            w[q][i] = b[q];
                        }
                    }
                    w.map(|a| crate::backend::cpu::load_u32s::<S>(&a))
                };
                let e = g.vector(s, words);
                let e: [&[u32]; 4] = [lanes(&e[0]), lanes(&e[1]), lanes(&e[2]), lanes(&e[3])];
                let dst: &mut [G::T] = if chunk.len() == 4 * l {
                    chunk
                } else {
                    &mut stage[..4 * l]
                };
                for i in 0..l {
                    for q in 0..4 {
                        dst[4 * i + q] = G::T::from_lane(e[q][i]);
                    }
                }
                if chunk.len() < 4 * l {
                    let n = chunk.len();
                    chunk.copy_from_slice(&stage[..n]);
                }
            }
        }
    }
    arch().dispatch(Run(g, key, j0, out))
}

fn generate<G: Gen>(cpu: Cpu, g: &G, seed: u64, out: &mut [G::T]) {
    let key = key(seed);
    match cpu {
        Cpu::Scalar => {
            for (j, chunk) in out.chunks_mut(4).enumerate() {
                let e = g.scalar(block(j as u64, key));
                let n = chunk.len();
                chunk.copy_from_slice(&e[..n]);
            }
        }
        Cpu::Simd => generate_simd(g, key, 0, out),
        Cpu::Parallel => {
            if out.len() < 2 * GRAIN {
                return generate_simd(g, key, 0, out);
            }
            // Chunks are multiples of GRAIN elements, so each starts at a whole block and at a
            // whole vector of blocks.
            let c = chunk_len(out.len());
            out.par_chunks_mut(c)
                .enumerate()
                .for_each(|(i, chunk)| generate_simd(g, key, (i * c / 4) as u64, chunk));
        }
    }
}

// ---- the four kernels ------------------------------------------------------------------------

struct Words;
impl Gen for Words {
    type T = u32;
    fn scalar(&self, w: [u32; 4]) -> [u32; 4] {
        w
    }
    #[inline(always)]
    fn vector<S: Simd>(&self, _s: S, w: [S::u32s; 4]) -> [S::u32s; 4] {
        w
    }
}

#[inline(always)]
fn shr<S: Simd>(s: S, n: u32, a: S::u32s) -> S::u32s {
    s.wrapping_dyn_shr_u32s(a, s.splat_u32s(n))
}
#[inline(always)]
fn shl<S: Simd>(s: S, n: u32, a: S::u32s) -> S::u32s {
    s.wrapping_dyn_shl_u32s(a, s.splat_u32s(n))
}

/// m·2^−k as f32, exactly, for an integer m ≤ 2^24 (k = 24) in every lane, without an
/// int→float conversion (pulp has none): ⌊m/2⌋ is added to the bits of 1.0, the 1.0 is
/// subtracted (exact), and the low bit is added as 2^−24 (exact: the sum has ≤ 24 bits).
#[inline(always)]
fn unit24<S: Simd>(s: S, m: S::u32s) -> S::f32s {
    // An add, not an or: m = 2^24 carries into the exponent (1.0 + 1.0 = 2.0).
    let half = s.add_u32s(shr(s, 1, m), s.splat_u32s(0x3F80_0000));
    let hi = s.sub_f32s(s.transmute_f32s_u32s(half), s.splat_f32s(1.0));
    let low = s.and_u32s(s.sub_u32s(s.splat_u32s(0), s.and_u32s(m, s.splat_u32s(1))), s.splat_u32s(0x3380_0000));
    s.add_f32s(hi, s.transmute_f32s_u32s(low))
}

struct Uniform {
    a: f64,
    b: f64,
}
impl Gen for Uniform {
    type T = f32;
    fn scalar(&self, w: [u32; 4]) -> [f32; 4] {
        w.map(|w| (self.a + (self.b - self.a) * crate::philox::unit(w)) as f32)
    }
    #[inline(always)]
    fn vector<S: Simd>(&self, s: S, w: [S::u32s; 4]) -> [S::u32s; 4] {
        // b − a formed in f64 and rounded once; one fma: within 1 ulp of max(|a|, |b|), and
        // exact at a = 0, b = 1 (u has 24 bits).
        let a = s.splat_f32s(self.a as f32);
        let d = s.splat_f32s((self.b - self.a) as f32);
        // Loops, not `w.map(closure)`: a closure is not inlined into pulp's target-feature
        // context, and its SIMD calls then run as slow out-of-line functions.
        let mut y = w;
        for q in 0..4 {
            let u = unit24(s, shr(s, 8, w[q]));
            y[q] = s.transmute_u32s_f32s(s.mul_add_f32s(d, u, a));
        }
        y
    }
}

struct Normal;
impl Gen for Normal {
    type T = f32;
    fn scalar(&self, w: [u32; 4]) -> [f32; 4] {
        let (c0, s0) = super::box_muller(w[0], w[1]);
        let (c1, s1) = super::box_muller(w[2], w[3]);
        [c0 as f32, s0 as f32, c1 as f32, s1 as f32]
    }
    #[inline(always)]
    fn vector<S: Simd>(&self, s: S, w: [S::u32s; 4]) -> [S::u32s; 4] {
        let (c0, s0) = box_muller_vector(s, w[0], w[1]);
        let (c1, s1) = box_muller_vector(s, w[2], w[3]);
        [
            s.transmute_u32s_f32s(c0),
            s.transmute_u32s_f32s(s0),
            s.transmute_u32s_f32s(c1),
            s.transmute_u32s_f32s(s1),
        ]
    }
}

/// Box–Muller in f32: r = sqrt(−2 ln u1) with u1 = (m1 + 1)·2^−24 exact, and (cos, sin) of
/// 2π·m2·2^−24 by an exact reduction of the 24-bit m2 to a quadrant and an angle in
/// [−π/4, π/4), where short Taylor polynomials are accurate to an ulp or two.
#[inline(always)]
fn box_muller_vector<S: Simd>(s: S, w1: S::u32s, w2: S::u32s) -> (S::f32s, S::f32s) {
    let m1 = s.add_u32s(shr(s, 8, w1), s.splat_u32s(1));
    let u1 = unit24(s, m1);
    let r = s.sqrt_f32s(s.mul_f32s(s.splat_f32s(-2.0), vmath::ln(s, u1)));
    // The angle in units of 2^−24 turns: round to the nearest quadrant q, leaving
    // f ∈ [−2^21, 2^21) units, i.e. θ = f·(π/2)/2^22 ∈ [−π/4, π/4).
    let t = s.and_u32s(
        s.add_u32s(shr(s, 8, w2), s.splat_u32s(1 << 21)),
        s.splat_u32s(0x00FF_FFFF),
    );
    let q = shr(s, 22, t);
    // f + 2^21 = t mod 2^22 < 2^23 sits exactly in the mantissa of 2^23.
    let f_biased = s.or_u32s(s.and_u32s(t, s.splat_u32s(0x003F_FFFF)), s.splat_u32s(0x4B00_0000));
    let f = s.sub_f32s(
        s.transmute_f32s_u32s(f_biased),
        s.splat_f32s(8_388_608.0 + 2_097_152.0),
    );
    let theta = s.mul_f32s(f, s.splat_f32s((std::f64::consts::FRAC_PI_2 / 4_194_304.0) as f32));
    let t2 = s.mul_f32s(theta, theta);
    #[inline(always)]
    fn poly<S: Simd, const K: usize>(s: S, t2: S::f32s, coef: [f64; K]) -> S::f32s {
        let mut acc = s.splat_f32s(0.0);
        for k in (0..K).rev() {
            acc = s.mul_add_f32s(acc, t2, s.splat_f32s(coef[k] as f32));
        }
        acc
    }
    // sin θ = θ·(1 − θ²/3! + … − θ⁸/9!·…), cos θ = 1 − θ²/2! + … + θ¹⁰/10!: the first terms
    // left out are below 2e-9 on [−π/4, π/4].
    let sin = s.mul_f32s(
        theta,
        poly(s, t2, [1.0, -1.0 / 6.0, 1.0 / 120.0, -1.0 / 5040.0, 1.0 / 362_880.0, -1.0 / 39_916_800.0]),
    );
    let cos = poly(
        s,
        t2,
        [
        1.0,
        -0.5,
        1.0 / 24.0,
        -1.0 / 720.0,
        1.0 / 40_320.0,
        -1.0 / 3_628_800.0,
        1.0 / 479_001_600.0,
        ],
    );
    // Rotate by q quarter turns: q = 1 → (−sin, cos), 2 → (−cos, −sin), 3 → (sin, −cos).
    let odd = s.equal_u32s(s.and_u32s(q, s.splat_u32s(1)), s.splat_u32s(1));
    let (cos_u, sin_u) = (s.transmute_u32s_f32s(cos), s.transmute_u32s_f32s(sin));
    let c = s.select_u32s(odd, sin_u, cos_u);
    let sn = s.select_u32s(odd, cos_u, sin_u);
    let flip_c = shl(s, 30, s.and_u32s(s.add_u32s(q, s.splat_u32s(1)), s.splat_u32s(2)));
    let flip_s = shl(s, 30, s.and_u32s(q, s.splat_u32s(2)));
    let rc = s.mul_f32s(r, s.transmute_f32s_u32s(s.xor_u32s(c, flip_c)));
    let rs = s.mul_f32s(r, s.transmute_f32s_u32s(s.xor_u32s(sn, flip_s)));
    (rc, rs)
}

struct Dropout {
    threshold: u32,
}
impl Gen for Dropout {
    type T = u8;
    fn scalar(&self, w: [u32; 4]) -> [u8; 4] {
        w.map(|w| ((w >> 8) < self.threshold) as u8)
    }
    #[inline(always)]
    fn vector<S: Simd>(&self, s: S, w: [S::u32s; 4]) -> [S::u32s; 4] {
        let t = s.splat_u32s(self.threshold);
        let (one, zero) = (s.splat_u32s(1), s.splat_u32s(0));
        // Both sides are below 2^25: a signed compare, native everywhere (AVX2 has no
        // unsigned one).
        let t = s.transmute_i32s_u32s(t);
        let mut m = w;
        for q in 0..4 {
            let keep = s.less_than_i32s(s.transmute_i32s_u32s(shr(s, 8, w[q])), t);
            m[q] = s.select_u32s(keep, one, zero);
        }
        m
    }
}

pub fn philox(cpu: Cpu, _i: &[&Tensor], p: &Params, o: &mut [Tensor]) -> Result<()> {
    generate(cpu, &Words, super::seed(p), o[0].as_u32_mut()?);
    Ok(())
}

pub fn uniform(cpu: Cpu, _i: &[&Tensor], p: &Params, o: &mut [Tensor]) -> Result<()> {
    let g = Uniform {
        a: p.get("a"),
        b: p.get("b"),
    };
    generate(cpu, &g, super::seed(p), o[0].as_f32_mut()?);
    Ok(())
}

pub fn normal(cpu: Cpu, _i: &[&Tensor], p: &Params, o: &mut [Tensor]) -> Result<()> {
    generate(cpu, &Normal, super::seed(p), o[0].as_f32_mut()?);
    Ok(())
}

pub fn dropout(cpu: Cpu, _i: &[&Tensor], p: &Params, o: &mut [Tensor]) -> Result<()> {
    let g = Dropout {
        threshold: super::keep_threshold(p),
    };
    generate(cpu, &g, super::seed(p), o[0].as_u8_mut()?);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Blocks whose index crosses 2^32 (the carry into c1) and a vector that wraps the low
    /// counter word, against the scalar definition.
    #[test]
    fn counters_carry_into_the_high_word() {
        let key = key(0x1234_5678_9abc);
        let j0 = (1u64 << 32) - 5;
        let mut got = vec![0u32; 4 * 40];
        generate_simd(&Words, key, j0, &mut got);
        for (k, &w) in got.iter().enumerate() {
            let j = j0 + k as u64 / 4;
            assert_eq!(w, block(j, key)[k % 4], "element {k}");
        }
    }

    /// The f32 Box–Muller against the f64 one over every quadrant boundary and the u1 ends.
    #[test]
    fn vector_box_muller_is_within_the_tolerance() {
        let mut w1 = vec![];
        let mut w2 = vec![];
        for m2 in [0u32, 1, (1 << 22) - 1, 1 << 22, (1 << 22) + 1, 1 << 23, 3 << 22, (1 << 24) - 1, 0x1F_FFFF, 0x20_0000] {
            for m1 in [0u32, 1, 0x7F_FFFF, 0x80_0000, (1 << 24) - 2, (1 << 24) - 1] {
                w1.push(m1 << 8 | 0xAB);
                w2.push(m2 << 8 | 0x3C);
            }
        }
        let more = crate::philox::words(5, 0, 20_000);
        for p in more.chunks_exact(2) {
            w1.push(p[0]);
            w2.push(p[1]);
        }
        // Interleave the pairs into blocks of four words and run the vector path.
        let n = w1.len() / 2 * 2;
        let mut worst = 0f64;
        struct Pairs<'a>(&'a [u32], &'a [u32], &'a mut Vec<(f32, f32)>);
        impl WithSimd for Pairs<'_> {
            type Output = ();
            fn with_simd<S: Simd>(self, s: S) {
                let l = S::U32_LANES;
                for start in (0..self.0.len()).step_by(l) {
                    let mut a = [0u32; 16];
                    let mut b = [0u32; 16];
                    let m = (self.0.len() - start).min(l);
                    a[..m].copy_from_slice(&self.0[start..start + m]);
                    b[..m].copy_from_slice(&self.1[start..start + m]);
                    let (c, sn) = box_muller_vector(
                        s,
                        crate::backend::cpu::load_u32s::<S>(&a),
                        crate::backend::cpu::load_u32s::<S>(&b),
                    );
                    let (c, sn): (&[f32], &[f32]) = (lanes(&c), lanes(&sn));
                    for i in 0..m {
                        self.2.push((c[i], sn[i]));
                    }
                }
            }
        }
        let mut got = vec![];
        arch().dispatch(Pairs(&w1[..n], &w2[..n], &mut got));
        for (i, &(c, sn)) in got.iter().enumerate() {
            let (rc, rs) = super::super::box_muller(w1[i], w2[i]);
            for (g, r) in [(c, rc), (sn, rs)] {
                let allowed = 4e-6 + 2e-6 * (r as f32 as f64).abs();
                let e = (g as f64 - r as f32 as f64).abs() / allowed;
                assert!(e <= 0.5, "pair {i}: words {:#x} {:#x}: got {g}, want {r}", w1[i], w2[i]);
                worst = worst.max(e);
            }
        }
        assert!(worst <= 0.5, "worst error {worst} of the tolerance");
    }
}
