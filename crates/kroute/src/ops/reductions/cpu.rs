//! reductions on the CPU. Sums run f32 lanes over L1-sized blocks and carry block totals in
//! f64; the variance combines per-block (n, mean, M2) with Chan's formula, so the input is read
//! from memory once; arg-reductions find a block's extreme with vectors and scan only blocks
//! that improve on it.

use crate::backend::cpu::drivers::{lanes_sum, par_fold, sum as drive_sum, SumTerms, BLOCK, TINY};
use crate::backend::cpu::{arch, Cpu};
use crate::params::Params;
use crate::tensor::Tensor;
use crate::Result;
use pulp::{Simd, WithSimd};

pub struct Identity;
impl SumTerms for Identity {
    const UNDERFLOWS: bool = false;
    #[inline(always)]
    fn term(&self, x: f32) -> f64 {
        x as f64
    }
    #[inline(always)]
    fn vector<S: Simd>(&self, _: S, x: S::f32s) -> S::f32s {
        x
    }
}

pub struct Square;
impl SumTerms for Square {
    const UNDERFLOWS: bool = true;
    #[inline(always)]
    fn term(&self, x: f32) -> f64 {
        x as f64 * x as f64
    }
    #[inline(always)]
    fn vector<S: Simd>(&self, s: S, x: S::f32s) -> S::f32s {
        s.mul_f32s(x, x)
    }
}

fn put_f32(o: &mut [Tensor], v: f64) -> Result<()> {
    o[0].as_f32_mut()?[0] = v as f32;
    Ok(())
}

pub fn sum(cpu: Cpu, i: &[&Tensor], _: &Params, o: &mut [Tensor]) -> Result<()> {
    put_f32(o, drive_sum(cpu, &Identity, i[0].as_f32()?))
}

pub fn mean(cpu: Cpu, i: &[&Tensor], _: &Params, o: &mut [Tensor]) -> Result<()> {
    let x = i[0].as_f32()?;
    put_f32(o, drive_sum(cpu, &Identity, x) / x.len() as f64)
}

pub fn l2(cpu: Cpu, i: &[&Tensor], _: &Params, o: &mut [Tensor]) -> Result<()> {
    put_f32(o, drive_sum(cpu, &Square, i[0].as_f32()?).sqrt())
}

// ---- min / max ---------------------------------------------------------------------------

/// The extreme of a slice with NaN propagation; `MAX` picks max.
fn extreme<const MAX: bool>(cpu: Cpu, x: &[f32]) -> f32 {
    let better = |a: f32, b: f32| {
        if a.is_nan() || b.is_nan() {
            f32::NAN
        } else if (b > a) == MAX && b != a {
            b
        } else {
            a
        }
    };
    match cpu {
        Cpu::Scalar => {
            let mut m = x[0];
            for &v in x {
                if v.is_nan() {
                    return v;
                }
                if (MAX && v > m) || (!MAX && v < m) {
                    m = v;
                }
            }
            m
        }
        Cpu::Simd => extreme_simd::<MAX>(x),
        Cpu::Parallel => par_fold(x.len(), |r| extreme_simd::<MAX>(&x[r]), x[0], better),
    }
}

/// The NaN-propagating extreme of a non-empty slice, as a SIMD body.
struct Extreme<'a, const MAX: bool>(&'a [f32]);
impl<const MAX: bool> WithSimd for Extreme<'_, MAX> {
    type Output = f32;
    #[inline(always)]
    fn with_simd<S: Simd>(self, s: S) -> f32 {
        let x = self.0;
        let (v, tail) = S::as_simd_f32s(x);
        let start = s.splat_f32s(x[0]);
        let mut acc = [start; 4];
        // NaN is tracked apart from the min/max (the instructions drop it): Σ v·0 per lane is 0
        // for finite data and NaN once a lane has met a NaN (or ±inf: inf·0), on four
        // independent FMA chains beside the four max chains — no mask-register traffic.
        let zero = s.splat_f32s(0.0);
        let mut poison = [zero; 4];
        let mut quads = v.chunks_exact(4);
        for q in &mut quads {
            for k in 0..4 {
                acc[k] = if MAX {
                    s.max_f32s(acc[k], q[k])
                } else {
                    s.min_f32s(acc[k], q[k])
                };
                poison[k] = s.mul_add_f32s(q[k], zero, poison[k]);
            }
        }
        for &a in quads.remainder() {
            acc[0] = if MAX {
                s.max_f32s(acc[0], a)
            } else {
                s.min_f32s(acc[0], a)
            };
            poison[0] = s.mul_add_f32s(a, zero, poison[0]);
        }
        let p = s.add_f32s(s.add_f32s(poison[0], poison[1]), s.add_f32s(poison[2], poison[3]));
        // NaN here means a NaN or an infinity somewhere: look for the NaN itself (rare data).
        if s.reduce_sum_f32s(p).is_nan() && x.iter().any(|v| v.is_nan()) {
            return f32::NAN;
        }
        if tail.iter().any(|v| v.is_nan()) {
            return f32::NAN;
        }
        let pick = |a, b| {
            if MAX {
                s.max_f32s(a, b)
            } else {
                s.min_f32s(a, b)
            }
        };
        let m = pick(pick(acc[0], acc[1]), pick(acc[2], acc[3]));
        let mut r = if MAX {
            s.reduce_max_f32s(m)
        } else {
            s.reduce_min_f32s(m)
        };
        for &t in tail {
            r = if MAX { r.max(t) } else { r.min(t) };
        }
        r
    }
}

fn extreme_simd<const MAX: bool>(x: &[f32]) -> f32 {
    arch().dispatch(Extreme::<MAX>(x))
}

pub fn min(cpu: Cpu, i: &[&Tensor], _: &Params, o: &mut [Tensor]) -> Result<()> {
    o[0].as_f32_mut()?[0] = extreme::<false>(cpu, i[0].as_f32()?);
    Ok(())
}

pub fn max(cpu: Cpu, i: &[&Tensor], _: &Params, o: &mut [Tensor]) -> Result<()> {
    o[0].as_f32_mut()?[0] = extreme::<true>(cpu, i[0].as_f32()?);
    Ok(())
}

// ---- argmax / argmin ---------------------------------------------------------------------

/// The best (value, index) so far; `nan` once a NaN was seen (then index is the first NaN).
#[derive(Clone, Copy)]
struct Best {
    value: f32,
    index: usize,
    nan: bool,
}

/// Combine two partials where `a` covers earlier indices: NaN wins, then strictly better
/// values, so ties keep the lower index.
fn combine<const MAX: bool>(a: Option<Best>, b: Option<Best>) -> Option<Best> {
    match (a, b) {
        (None, b) => b,
        (a, None) => a,
        (Some(a), Some(b)) => Some(if a.nan {
            a
        } else if b.nan || (MAX && b.value > a.value) || (!MAX && b.value < a.value) {
            b
        } else {
            a
        }),
    }
}

fn arg<const MAX: bool>(cpu: Cpu, x: &[f32]) -> usize {
    let best = match cpu {
        Cpu::Scalar => {
            let mut best = 0;
            for (i, &v) in x.iter().enumerate() {
                if v.is_nan() {
                    return i;
                }
                if (MAX && v > x[best]) || (!MAX && v < x[best]) {
                    best = i;
                }
            }
            return best;
        }
        Cpu::Simd => arg_simd::<MAX>(x, 0),
        Cpu::Parallel => par_fold(
            x.len(),
            |r| arg_simd::<MAX>(&x[r.clone()], r.start),
            None,
            combine::<MAX>,
        ),
    };
    best.map_or(0, |b| b.index)
}

fn arg_simd<const MAX: bool>(x: &[f32], offset: usize) -> Option<Best> {
    struct Op<'a, const MAX: bool>(&'a [f32], usize);
    impl<const MAX: bool> WithSimd for Op<'_, MAX> {
        type Output = Option<Best>;
        #[inline(always)]
        fn with_simd<S: Simd>(self, s: S) -> Option<Best> {
            arg_blocks::<S, MAX>(s, self.0, self.1)
        }
    }
    arch().dispatch(Op::<MAX>(x, offset))
}

#[inline(always)]
fn arg_blocks<S: Simd, const MAX: bool>(s: S, x: &[f32], offset: usize) -> Option<Best> {
    let mut best: Option<Best> = None;
    for (k, block) in x.chunks(BLOCK).enumerate() {
        let m = Extreme::<MAX>(block).with_simd(s);
        let base = offset + k * BLOCK;
        if m.is_nan() {
            let i = block.iter().position(|v| v.is_nan()).unwrap_or(0);
            return combine::<MAX>(
                best,
                Some(Best {
                    value: m,
                    index: base + i,
                    nan: true,
                }),
            );
        }
        let improves = match best {
            None => true,
            Some(b) => (MAX && m > b.value) || (!MAX && m < b.value),
        };
        if improves {
            // The block is in L1: finding the first element equal to its extreme is cheap,
            // and on random data few blocks improve on the running best.
            let i = block.iter().position(|&v| v == m).unwrap_or(0);
            best = Some(Best {
                value: m,
                index: base + i,
                nan: false,
            });
        }
    }
    best
}

pub fn argmax(cpu: Cpu, i: &[&Tensor], _: &Params, o: &mut [Tensor]) -> Result<()> {
    o[0].as_u64_mut()?[0] = arg::<true>(cpu, i[0].as_f32()?) as u64;
    Ok(())
}

pub fn argmin(cpu: Cpu, i: &[&Tensor], _: &Params, o: &mut [Tensor]) -> Result<()> {
    o[0].as_u64_mut()?[0] = arg::<false>(cpu, i[0].as_f32()?) as u64;
    Ok(())
}

// ---- variance ----------------------------------------------------------------------------

/// Count, mean and sum of squared deviations of a part of the input.
#[derive(Clone, Copy)]
pub struct Moments {
    pub n: f64,
    pub mean: f64,
    pub m2: f64,
}

impl Moments {
    pub const EMPTY: Moments = Moments {
        n: 0.0,
        mean: 0.0,
        m2: 0.0,
    };

    /// Chan et al.'s pairwise combine.
    pub fn combine(a: Moments, b: Moments) -> Moments {
        if a.n == 0.0 {
            return b;
        }
        if b.n == 0.0 {
            return a;
        }
        let n = a.n + b.n;
        let d = b.mean - a.mean;
        Moments {
            n,
            mean: a.mean + d * (b.n / n),
            m2: a.m2 + b.m2 + d * d * (a.n * b.n / n),
        }
    }

    pub fn var(&self) -> f64 {
        self.m2 / self.n
    }
}

/// Moments of one L1-sized block: a first pass finds the block mean c, a second pass (from L1)
/// sums (x − c) and (x − c)², which cannot cancel catastrophically. Both run in f32 lanes; a
/// block where they overflow (values near 1e38, deviations of 1e19) or where the squares may
/// have underflowed (Σ(x − c)² below 2^-100) is done again in f64 lanes.
#[inline(always)]
fn block_moments<S: Simd>(s: S, block: &[f32]) -> Moments {
    let n = block.len() as f64;
    let (v, tail) = S::as_simd_f32s(block);
    let z = s.splat_f32s(0.0);
    // Several accumulators: one chain would be bound by the add latency, not by memory.
    // (Indexing the accumulators by a run-time counter would put them in memory: unroll.)
    let (mut a0, mut a1, mut a2, mut a3) = (z, z, z, z);
    let mut quads = v.chunks_exact(4);
    for q in &mut quads {
        a0 = s.add_f32s(a0, q[0]);
        a1 = s.add_f32s(a1, q[1]);
        a2 = s.add_f32s(a2, q[2]);
        a3 = s.add_f32s(a3, q[3]);
    }
    for &a in quads.remainder() {
        a0 = s.add_f32s(a0, a);
    }
    let acc = s.add_f32s(s.add_f32s(a0, a1), s.add_f32s(a2, a3));
    let sum = s.reduce_sum_f32s(acc) as f64 + tail.iter().map(|&t| t as f64).sum::<f64>();
    let c = (sum / n) as f32;
    let cv = s.splat_f32s(c);
    let (mut s1a, mut s1b, mut s2a, mut s2b) = (z, z, z, z);
    let mut pairs = v.chunks_exact(2);
    for p in &mut pairs {
        let (d0, d1) = (s.sub_f32s(p[0], cv), s.sub_f32s(p[1], cv));
        s1a = s.add_f32s(s1a, d0);
        s1b = s.add_f32s(s1b, d1);
        s2a = s.mul_add_f32s(d0, d0, s2a);
        s2b = s.mul_add_f32s(d1, d1, s2b);
    }
    for &a in pairs.remainder() {
        let d = s.sub_f32s(a, cv);
        s1a = s.add_f32s(s1a, d);
        s2a = s.mul_add_f32s(d, d, s2a);
    }
    let (s1, s2) = (s.add_f32s(s1a, s1b), s.add_f32s(s2a, s2b));
    let (mut t1, mut t2) = (s.reduce_sum_f32s(s1) as f64, s.reduce_sum_f32s(s2) as f64);
    for &t in tail {
        let d = t as f64 - c as f64;
        t1 += d;
        t2 += d * d;
    }
    if !(sum.is_finite() && t1.is_finite() && t2.is_finite()) || t2 < TINY as f64 {
        return block_moments_f64(block);
    }
    Moments {
        n,
        mean: c as f64 + t1 / n,
        m2: non_negative(t2 - t1 * t1 / n),
    }
}

/// max(m2, 0) that keeps NaN (`f64::max` would drop it): rounding can leave Σd² − (Σd)²/n a
/// hair below zero.
fn non_negative(m2: f64) -> f64 {
    if m2 < 0.0 {
        0.0
    } else {
        m2
    }
}

/// The same two passes in f64 lanes: no f32 overflow or underflow on the way. Out of line and
/// cold: the hot loop keeps its registers (it runs only on blocks of extreme values).
#[cold]
#[inline(never)]
fn block_moments_f64(block: &[f32]) -> Moments {
    let n = block.len() as f64;
    let c = lanes_sum(block, |v| v as f64) / n;
    let t1 = lanes_sum(block, |v| v as f64 - c);
    let t2 = lanes_sum(block, |v| (v as f64 - c) * (v as f64 - c));
    Moments {
        n,
        mean: c + t1 / n,
        m2: non_negative(t2 - t1 * t1 / n),
    }
}

fn moments_simd(x: &[f32]) -> Moments {
    struct Op<'a>(&'a [f32]);
    impl WithSimd for Op<'_> {
        type Output = Moments;
        #[inline(always)]
        fn with_simd<S: Simd>(self, s: S) -> Moments {
            self.0.chunks(BLOCK).fold(Moments::EMPTY, |m, b| {
                Moments::combine(m, block_moments(s, b))
            })
        }
    }
    arch().dispatch(Op(x))
}

pub fn moments(cpu: Cpu, x: &[f32]) -> Moments {
    match cpu {
        Cpu::Scalar => {
            // Two passes in f64: plain and exact enough at any N.
            let n = x.len() as f64;
            let mean = x.iter().map(|&v| v as f64).sum::<f64>() / n;
            let m2 = x
                .iter()
                .map(|&v| (v as f64 - mean) * (v as f64 - mean))
                .sum();
            Moments { n, mean, m2 }
        }
        Cpu::Simd => moments_simd(x),
        Cpu::Parallel => par_fold(
            x.len(),
            |r| moments_simd(&x[r]),
            Moments::EMPTY,
            Moments::combine,
        ),
    }
}

pub fn var(cpu: Cpu, i: &[&Tensor], _: &Params, o: &mut [Tensor]) -> Result<()> {
    put_f32(o, moments(cpu, i[0].as_f32()?).var())
}

pub fn stddev(cpu: Cpu, i: &[&Tensor], _: &Params, o: &mut [Tensor]) -> Result<()> {
    put_f32(o, moments(cpu, i[0].as_f32()?).var().sqrt())
}

// ---- histogram ---------------------------------------------------------------------------

struct Bins {
    bins: usize,
    lo: f32,
    hi: f32,
    /// `histogram_scale`: 1 unless the range is within a factor `bins` of f32::MAX.
    scale: f32,
}

/// Counts with one extra slot (index `bins`) that swallows uncounted values, so the vector
/// path needs no branch.
fn histogram_simd(h: &Bins, x: &[f32]) -> Vec<u64> {
    // SCALED: the range needs its scale (rare); the usual loop does not multiply by 1.
    struct Op<'a, const SCALED: bool>(&'a Bins, &'a [f32]);
    impl<const SCALED: bool> WithSimd for Op<'_, SCALED> {
        type Output = Vec<u64>;
        #[inline(always)]
        fn with_simd<S: Simd>(self, s: S) -> Vec<u64> {
            let Op(h, x) = self;
            let slots = h.bins + 1;
            // One private copy per lane (16 × 257 × 4 B fits L1): repeated bins in one vector
            // then never wait on each other's store-to-load forwarding.
            let copies = S::F32_LANES;
            let mut counts = vec![0u32; copies * slots];
            let mut total = vec![0u64; slots];
            let (lo, hi) = (s.splat_f32s(h.lo), s.splat_f32s(h.hi));
            let (scale, lo_s) = (s.splat_f32s(h.scale), s.splat_f32s(h.lo * h.scale));
            let nbins = s.splat_f32s(h.bins as f32);
            let width = s.splat_f32s(h.hi * h.scale - h.lo * h.scale);
            let magic = s.splat_f32s(8_388_608.0); // 2^23: adding it rounds to an integer
            let last = s.splat_u32s(h.bins as u32 - 1);
            let dump = s.splat_u32s(h.bins as u32);
            let mantissa = s.splat_u32s(0x7f_ffff);
            let one = s.splat_f32s(1.0);
            // u32 counters are flushed before they could overflow.
            for segment in x.chunks(1 << 30) {
                let (v, tail) = S::as_simd_f32s(segment);
                for &a in v {
                    let a_s = if SCALED { s.mul_f32s(a, scale) } else { a };
                    let q = s.mul_f32s(s.sub_f32s(a_s, lo_s), nbins);
                    let q = s.div_f32s(q, width);
                    let valid = s.and_m32s(
                        s.greater_than_or_equal_f32s(a, lo),
                        s.less_than_or_equal_f32s(a, hi),
                    );
                    let q = s.select_f32s(valid, q, s.splat_f32s(0.0));
                    let r = s.sub_f32s(s.add_f32s(q, magic), magic);
                    let fl = s.select_f32s(s.greater_than_f32s(r, q), s.sub_f32s(r, one), r);
                    let idx = s.and_u32s(s.transmute_u32s_f32s(s.add_f32s(fl, magic)), mantissa);
                    let idx = s.min_u32s(idx, last);
                    let idx = s.select_u32s(valid, idx, dump);
                    let lanes: &[u32] = crate::backend::cpu::lanes(&idx);
                    for (k, &b) in lanes.iter().enumerate() {
                        counts[k * slots + b as usize] += 1;
                    }
                }
                for &t in tail {
                    let b = super::bin_of(t, h.bins, h.lo, h.hi, h.scale).unwrap_or(h.bins);
                    counts[b] += 1;
                }
                for (k, c) in counts.iter_mut().enumerate() {
                    total[k % slots] += *c as u64;
                    *c = 0;
                }
            }
            total.truncate(h.bins);
            total
        }
    }
    if h.scale == 1.0 {
        arch().dispatch(Op::<false>(h, x))
    } else {
        arch().dispatch(Op::<true>(h, x))
    }
}

pub fn histogram(cpu: Cpu, i: &[&Tensor], p: &Params, o: &mut [Tensor]) -> Result<()> {
    let x = i[0].as_f32()?;
    let (bins, lo, hi) = (p.usize("bins"), p.f32("lo"), p.f32("hi"));
    let h = Bins {
        bins,
        lo,
        hi,
        scale: super::histogram_scale(bins, lo, hi),
    };
    let counts = match cpu {
        Cpu::Scalar => {
            let mut c = vec![0u64; h.bins];
            for &v in x {
                if let Some(b) = super::bin_of(v, h.bins, h.lo, h.hi, h.scale) {
                    c[b] += 1;
                }
            }
            c
        }
        Cpu::Simd => histogram_simd(&h, x),
        Cpu::Parallel => {
            let parts = crate::backend::cpu::par_map_ranges(x.len(), |r| histogram_simd(&h, &x[r]));
            parts.into_iter().fold(vec![0u64; h.bins], |mut acc, p| {
                acc.iter_mut().zip(p).for_each(|(a, b)| *a += b);
                acc
            })
        }
    };
    o[0].as_u64_mut()?.copy_from_slice(&counts);
    Ok(())
}
