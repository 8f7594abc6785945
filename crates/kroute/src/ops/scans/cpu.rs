//! scans on the CPU.
//!
//! - `scalar`: the definitions' loops — one running sum (u32 wrapping, or f64 for the f32 scan,
//!   each prefix rounded once), one branch per kept element.
//! - `simd`: the input in chunks of `CHUNK` elements (256 KiB of input: a second look at a
//!   chunk comes from L2). A scan chunk is one running sum: the u32 scan runs at about one
//!   element per cycle, near a core's bandwidth, and splitting a chunk into segments scanned
//!   side by side (independent add chains for the f64 carries) measured slower here, so it was
//!   left out. Compaction uses AVX-512's compress (`vpcompressd` into a register, then a store
//!   masked to the kept count: no write past the kept elements), where the CPU has it, else a
//!   branchy copy.
//! - `parallel`: the same chunks, in one pass over memory: every thread takes the next chunk by
//!   ticket, sums (or counts) it, waits for the previous chunk's inclusive prefix, publishes its
//!   own, then scans (or compacts) the chunk from cache. A chunk's predecessor has always been
//!   taken by a running thread, so the wait is short and cannot deadlock, whatever number of
//!   threads join. (Two passes — totals, then the scan — would move 12 bytes per u32 element
//!   instead of 8.)
//!
//! The f32 scan accumulates in f64 throughout, so a prefix that leaves the f32 range and comes
//! back (3e38 + 3e38 − 3e38) is still right, as in the reference.

use crate::backend::cpu::drivers::lanes_sum;
use crate::backend::cpu::{Cpu, DisjointOut};
use crate::params::Params;
use crate::tensor::Tensor;
use crate::Result;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};

/// Elements per chunk (the unit of the chained pass and of a thread's work).
pub(crate) const CHUNK: usize = 1 << 16;
/// A running prefix the chained pass carries between chunks, stored in a u64.
pub(crate) trait Carry: Copy + Send + Sync {
    fn to_bits(self) -> u64;
    fn from_bits(b: u64) -> Self;
}
impl Carry for u32 {
    fn to_bits(self) -> u64 {
        self as u64
    }
    fn from_bits(b: u64) -> u32 {
        b as u32
    }
}
impl Carry for u64 {
    fn to_bits(self) -> u64 {
        self
    }
    fn from_bits(b: u64) -> u64 {
        b
    }
}
impl Carry for f64 {
    fn to_bits(self) -> u64 {
        f64::to_bits(self)
    }
    fn from_bits(b: u64) -> f64 {
        f64::from_bits(b)
    }
}

/// The chained pass over `chunks` chunks: `total(c)` is chunk c's own total, `apply(c, carry)`
/// does its work given the inclusive prefix of the chunks before it (`zero` for chunk 0) and
/// returns the prefix after it. Returns the total of everything. On one thread (`threads` = 1)
/// it is a plain loop, and needs no totals: the carry comes out of each chunk's pass.
pub(crate) fn chained<C: Carry>(
    chunks: usize,
    threads: usize,
    zero: C,
    total: impl Fn(usize) -> C + Sync,
    add: impl Fn(C, C) -> C + Sync,
    apply: impl Fn(usize, C) -> C + Sync,
) -> C {
    if threads <= 1 || chunks <= 1 {
        return (0..chunks).fold(zero, |carry, c| apply(c, carry));
    }
    let ticket = AtomicUsize::new(0);
    let prefix: Vec<AtomicU64> = (0..chunks).map(|_| AtomicU64::new(0)).collect();
    let ready: Vec<AtomicBool> = (0..chunks).map(|_| AtomicBool::new(false)).collect();
    rayon::scope(|scope| {
        for _ in 0..threads.min(chunks) {
            scope.spawn(|_| loop {
                let c = ticket.fetch_add(1, Ordering::Relaxed);
                if c >= chunks {
                    break;
                }
                let own = total(c);
                let carry = if c == 0 {
                    zero
                } else {
                    let mut spins = 0u32;
                    while !ready[c - 1].load(Ordering::Acquire) {
                        spins += 1;
                        if spins < 1 << 10 {
                            std::hint::spin_loop();
                        } else {
                            // An oversubscribed machine: let the predecessor's thread run.
                            std::thread::yield_now();
                        }
                    }
                    C::from_bits(prefix[c - 1].load(Ordering::Relaxed))
                };
                prefix[c].store(add(carry, own).to_bits(), Ordering::Relaxed);
                ready[c].store(true, Ordering::Release);
                apply(c, carry);
            });
        }
    });
    C::from_bits(prefix[chunks - 1].load(Ordering::Acquire))
}

pub(crate) fn threads(cpu: Cpu, n: usize) -> usize {
    match cpu {
        Cpu::Parallel if n >= 2 * CHUNK => rayon::current_num_threads(),
        _ => 1,
    }
}

pub(crate) fn range(c: usize, n: usize) -> std::ops::Range<usize> {
    c * CHUNK..((c + 1) * CHUNK).min(n)
}

// ---- u32 scans -------------------------------------------------------------------------------

fn wrapping_sum(x: &[u32]) -> u32 {
    x.iter().fold(0u32, |a, &v| a.wrapping_add(v))
}

/// Scan one chunk from `carry` (the prefix before it); `INCLUSIVE` or exclusive. Returns the
/// prefix after it.
fn scan_u32_chunk<const INCLUSIVE: bool>(x: &[u32], y: &mut [u32], carry: u32) -> u32 {
    let mut acc = carry;
    for (v, out) in x.iter().zip(y) {
        let before = acc;
        acc = acc.wrapping_add(*v);
        *out = if INCLUSIVE { acc } else { before };
    }
    acc
}

fn scan_u32<const INCLUSIVE: bool>(cpu: Cpu, x: &[u32], y: &mut [u32]) {
    if cpu == Cpu::Scalar {
        scan_u32_chunk::<INCLUSIVE>(x, y, 0);
        return;
    }
    let n = x.len();
    let out = DisjointOut::new(y);
    chained(
        n.div_ceil(CHUNK),
        threads(cpu, n),
        0u32,
        |c| wrapping_sum(&x[range(c, n)]),
        |a, b| a.wrapping_add(b),
        |c, carry| {
            let r = range(c, n);
            // SAFETY: chunk c alone writes y[r].
            let y = unsafe { out.slice(r.start, r.len()) };
            scan_u32_chunk::<INCLUSIVE>(&x[r], y, carry)
        },
    );
}

pub fn scan_inclusive(cpu: Cpu, i: &[&Tensor], _p: &Params, o: &mut [Tensor]) -> Result<()> {
    scan_u32::<true>(cpu, i[0].as_u32()?, o[0].as_u32_mut()?);
    Ok(())
}

pub fn scan_exclusive(cpu: Cpu, i: &[&Tensor], _p: &Params, o: &mut [Tensor]) -> Result<()> {
    scan_u32::<false>(cpu, i[0].as_u32()?, o[0].as_u32_mut()?);
    Ok(())
}

// ---- f32 scan (f64 carries) ------------------------------------------------------------------

fn scan_f32_chunk(x: &[f32], y: &mut [f32], carry: f64) -> f64 {
    let mut acc = carry;
    for (v, out) in x.iter().zip(y) {
        acc += *v as f64;
        *out = acc as f32;
    }
    acc
}

pub fn scan_inclusive_f32(cpu: Cpu, i: &[&Tensor], _p: &Params, o: &mut [Tensor]) -> Result<()> {
    let (x, y) = (i[0].as_f32()?, o[0].as_f32_mut()?);
    if cpu == Cpu::Scalar {
        scan_f32_chunk(x, y, 0.0);
        return Ok(());
    }
    let n = x.len();
    let out = DisjointOut::new(y);
    chained(
        n.div_ceil(CHUNK),
        threads(cpu, n),
        0f64,
        |c| lanes_sum(&x[range(c, n)], |v| v as f64),
        |a, b| a + b,
        |c, carry| {
            let r = range(c, n);
            // SAFETY: chunk c alone writes y[r].
            let y = unsafe { out.slice(r.start, r.len()) };
            scan_f32_chunk(&x[r], y, carry)
        },
    );
    Ok(())
}

// ---- compaction ------------------------------------------------------------------------------

/// Which elements compaction keeps: x > 0, or mask ≠ 0. Values move as u32 words.
#[derive(Clone, Copy)]
enum Keep<'a> {
    Positive,
    Mask(&'a [u8]),
}

/// x > 0 exactly, on the word: w − 1 < 0x7F800000 (unsigned) means w in (0, +inf], i.e. a
/// positive sign, not zero, not NaN (words above +inf are NaNs).
#[inline(always)]
fn positive(w: u32) -> bool {
    w.wrapping_sub(1) < 0x7F80_0000
}

impl Keep<'_> {
    #[inline(always)]
    fn keeps(&self, x: &[u32], i: usize) -> bool {
        match self {
            Keep::Positive => positive(x[i]),
            Keep::Mask(m) => m[i] != 0,
        }
    }
    /// How many of x[r] are kept (a loop per kind over slices, which the compiler vectorises).
    fn count(&self, x: &[u32], r: std::ops::Range<usize>) -> u64 {
        match self {
            Keep::Positive => x[r].iter().map(|&w| positive(w) as u64).sum(),
            Keep::Mask(m) => m[r].iter().map(|&b| (b != 0) as u64).sum(),
        }
    }
}

/// Copy the kept elements of x[r] to the front of `out`, one branch each; returns how many.
fn compact_plain(keep: Keep, x: &[u32], r: std::ops::Range<usize>, out: &mut [u32]) -> usize {
    let mut j = 0;
    for i in r {
        if keep.keeps(x, i) {
            out[j] = x[i];
            j += 1;
        }
    }
    j
}

/// Whether this CPU has the AVX-512 subsets the compress paths use (f, bw, vl).
#[cfg(target_arch = "x86_64")]
pub(crate) fn avx512_available() -> bool {
    avx512::available()
}

/// `compact_plain` with AVX-512 where the CPU has it.
fn compact_range(keep: Keep, x: &[u32], r: std::ops::Range<usize>, out: &mut [u32]) -> usize {
    #[cfg(target_arch = "x86_64")]
    if avx512::available() {
        // SAFETY: the features were detected at run time.
        return unsafe { avx512::compact(keep, x, r, out) };
    }
    compact_plain(keep, x, r, out)
}

#[cfg(target_arch = "x86_64")]
mod avx512 {
    use super::Keep;
    use std::arch::x86_64::*;

    pub fn available() -> bool {
        use std::sync::OnceLock;
        static HAS: OnceLock<bool> = OnceLock::new();
        *HAS.get_or_init(|| {
            is_x86_feature_detected!("avx512f")
                && is_x86_feature_detected!("avx512bw")
                && is_x86_feature_detected!("avx512vl")
        })
    }

    /// 16 elements per step: the keep mask, `vpcompressd` into a register, a store masked to
    /// the kept count (never past it: the next chunk may own the words after).
    #[target_feature(enable = "avx512f,avx512bw,avx512vl")]
    pub unsafe fn compact(
        keep: Keep,
        x: &[u32],
        r: std::ops::Range<usize>,
        out: &mut [u32],
    ) -> usize {
        let mut j = 0usize;
        let mut i = r.start;
        let inf = _mm512_set1_epi32(0x7F80_0000);
        let one = _mm512_set1_epi32(1);
        while i + 16 <= r.end {
            let v = _mm512_loadu_si512(x.as_ptr().add(i) as *const _);
            let m: u16 = match keep {
                // `positive`, sixteen at a time.
                Keep::Positive => _mm512_cmplt_epu32_mask(_mm512_sub_epi32(v, one), inf),
                Keep::Mask(mask) => {
                    let b = _mm_loadu_si128(mask.as_ptr().add(i) as *const _);
                    _mm_cmpneq_epi8_mask(b, _mm_setzero_si128())
                }
            };
            let packed = _mm512_maskz_compress_epi32(m, v);
            let k = m.count_ones() as usize;
            debug_assert!(j + k <= out.len());
            _mm512_mask_storeu_epi32(
                out.as_mut_ptr().add(j) as *mut _,
                ((1u32 << k) - 1) as u16,
                packed,
            );
            j += k;
            i += 16;
        }
        j + super::compact_plain(keep, x, i..r.end, &mut out[j..])
    }
}

fn compact(cpu: Cpu, keep: Keep, x: &[u32], values: &mut [u32], count: &mut [u64]) {
    let n = x.len();
    let total = match cpu {
        Cpu::Scalar => compact_plain(keep, x, 0..n, values) as u64,
        Cpu::Simd | Cpu::Parallel => {
            let out = DisjointOut::new(values);
            chained(
                n.div_ceil(CHUNK),
                threads(cpu, n),
                0u64,
                |c| keep.count(x, range(c, n)),
                |a, b| a + b,
                |c, offset| {
                    let r = range(c, n);
                    let kept = keep.count(x, r.clone()) as usize;
                    // SAFETY: chunk c alone writes its kept elements, at their offset.
                    let dst = unsafe { out.slice(offset as usize, kept) };
                    let wrote = compact_range(keep, x, r, dst);
                    debug_assert_eq!(wrote, kept);
                    offset + kept as u64
                },
            )
        }
    };
    count[0] = total;
}


pub fn compact_if(cpu: Cpu, i: &[&Tensor], _p: &Params, o: &mut [Tensor]) -> Result<()> {
    let x = i[0].as_f32_bits()?;
    let (values, count) = o.split_at_mut(1);
    let values: &mut [u32] = bytemuck::cast_slice_mut(values[0].as_f32_mut()?);
    compact(cpu, Keep::Positive, x, values, count[0].as_u64_mut()?);
    Ok(())
}

pub fn compact_mask(cpu: Cpu, i: &[&Tensor], _p: &Params, o: &mut [Tensor]) -> Result<()> {
    let (x, mask) = (i[0].as_f32_bits()?, i[1].as_u8()?);
    let (values, count) = o.split_at_mut(1);
    let values: &mut [u32] = bytemuck::cast_slice_mut(values[0].as_f32_mut()?);
    compact(cpu, Keep::Mask(mask), x, values, count[0].as_u64_mut()?);
    Ok(())
}
