//! sorting on the CPU. Every kernel works on the u32 key `k(b)` of the entry (`super::key`),
//! so values move as bits and never meet a float comparison.
//!
//! - `scalar`: the definitions in their plainest form — the standard library's sort of the
//!   keys (sort_radix), a textbook bitonic network over P = 2^⌈log2 N⌉ slots padded with the key
//!   0xFFFF_FFFF (sort_bitonic), a bitonic network over the 64-bit composites
//!   (k(key) << 32) | position (sort_bitonic_kv), and `select_nth_unstable` on the keys for the
//!   selections.
//! - `simd`: one thread, written for throughput. sort_radix: one MSD scatter of the keys by their
//!   top 12 bits (the only pass over DRAM-sized data), then every bucket sorted on its low 20 bits
//!   by two 10-bit LSD passes while it sits in cache (43 ms at 10^7 on the 2-core VM, against
//!   81 ms for four 8-bit LSD passes over the whole array; numpy's AVX-512 sort 36 ms).
//!   sort_bitonic_kv: LSD radix sort, 8-bit digits, 4 passes (the stable radix route the entry
//!   allows; a pass in which every key has the same digit is skipped). sort_bitonic: the network in cache-sized
//!   blocks (every stage with a stride below the block runs block by block from L2), each
//!   compare-exchange step a contiguous min/max loop that vectorises (AVX2 where present).
//!   topk: one pass keeping a candidate buffer behind a threshold (most 64-element groups are
//!   rejected by one vectorised max). median/percentile: radix select — a histogram of the top
//!   16 bits of every key (with the NaN test), then the elements of the buckets holding the
//!   wanted ranks are gathered and selected among.
//! - `parallel`: the same algorithms over rayon: radix passes with per-chunk histograms and
//!   disjoint scatters, the bitonic network's blocks and long steps split over threads, topk and
//!   the histograms per chunk, merged.

use super::{
    is_nan_bits, key, median_ranks, median_value, percentile_ranks, percentile_values, percentiles,
    topk_k, unkey,
};
use crate::backend::cpu::{Cpu, DisjointOut, GRAIN};
use crate::params::Params;
use crate::tensor::Tensor;
use crate::Result;
use rayon::prelude::*;

fn threads(cpu: Cpu, n: usize) -> usize {
    match cpu {
        Cpu::Parallel if n >= 2 * GRAIN => rayon::current_num_threads().max(1),
        _ => 1,
    }
}


/// `n` split into `parts` near-equal ranges.
fn ranges(n: usize, parts: usize) -> Vec<std::ops::Range<usize>> {
    let parts = parts.clamp(1, n.max(1));
    (0..parts)
        .map(|p| p * n / parts..(p + 1) * n / parts)
        .collect()
}

// ---- LSD radix sort ------------------------------------------------------------------------------

/// What the radix sort moves: a u32 key, or a u64 whose high half is the key (the kv pairs).
trait Item: Copy + Send + Sync + Default {
    fn digit(self, shift: u32) -> usize;
}
impl Item for u32 {
    #[inline(always)]
    fn digit(self, shift: u32) -> usize {
        ((self >> shift) & 0xFF) as usize
    }
}
impl Item for u64 {
    #[inline(always)]
    fn digit(self, shift: u32) -> usize {
        ((self >> (32 + shift)) & 0xFF) as usize
    }
}

/// Sort `a` by its 32-bit key, stably, with `tmp` (same length) as the second buffer: four
/// passes of 8-bit digits, each a histogram, an exclusive scan and a stable scatter. On
/// `threads` > 1 every pass splits the input into chunks whose histograms give each chunk its
/// own output positions per digit, so the scatters are disjoint and the sort stays stable.
fn radix_sort<T: Item>(a: &mut [T], tmp: &mut [T], threads: usize) {
    let n = a.len();
    let parts = if threads > 1 { threads * 2 } else { 1 };
    let mut in_a = true;
    for pass in 0..4u32 {
        let shift = 8 * pass;
        let (src, dst): (&[T], &mut [T]) = if in_a {
            (&*a, &mut *tmp)
        } else {
            (&*tmp, &mut *a)
        };
        let rs = ranges(n, parts);
        let count = |r: &std::ops::Range<usize>| {
            let mut h = [0usize; 256];
            for &v in &src[r.clone()] {
                h[v.digit(shift)] += 1;
            }
            h
        };
        let hists: Vec<[usize; 256]> = if parts > 1 {
            rs.par_iter().map(count).collect()
        } else {
            rs.iter().map(count).collect()
        };
        // A pass where every key has one digit moves nothing.
        let d0 = src[0].digit(shift);
        if hists.iter().map(|h| h[d0]).sum::<usize>() == n {
            continue;
        }
        // offsets[c][d]: where chunk c's first element of digit d goes.
        let mut offsets = vec![[0usize; 256]; hists.len()];
        let mut at = 0usize;
        for d in 0..256 {
            for (c, h) in hists.iter().enumerate() {
                offsets[c][d] = at;
                at += h[d];
            }
        }
        let out = DisjointOut::new(dst);
        let scatter = |(r, mut off): (&std::ops::Range<usize>, [usize; 256])| {
            for &v in &src[r.clone()] {
                let d = v.digit(shift);
                // SAFETY: chunk c owns positions offsets[c][d] .. + hists[c][d] for each d.
                unsafe { out.write(off[d], v) };
                off[d] += 1;
            }
        };
        if parts > 1 {
            rs.par_iter().zip(offsets).for_each(scatter);
        } else {
            rs.iter().zip(offsets).for_each(scatter);
        }
        in_a = !in_a;
    }
    if !in_a {
        a.copy_from_slice(tmp);
    }
}

/// Elements below which a comparison sort beats the radix passes.
const SMALL: usize = 1024;

thread_local! {
    /// The radix sort's second buffer, kept between calls: a fresh one costs a page fault per
    /// 4 KiB on first touch, a large part of a pass.
    static SECOND: std::cell::RefCell<Vec<u32>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// The MSD digit of the hybrid sort: the key's top 12 bits (sign, exponent and three mantissa
/// bits of the f32), which split normal-like data into a few hundred buckets small enough for
/// L2, where a top byte would leave a dozen of several MB.
const MSD_BITS: u32 = 12;
/// Buckets below this many keys are finished by a comparison sort.
const BUCKET_SMALL: usize = 256;

/// Hybrid radix sort of the f32 bits x into y: one stable scatter of the keys by their top 12
/// bits from x to y (the only pass over DRAM-sized data), then each bucket sorted on its low 20
/// bits by two 10-bit LSD passes (y → tmp → y, the inverse transform on the second) while it
/// sits in cache. Buckets go to threads whole.
fn hybrid_sort_keys(x: &[u32], y: &mut [u32], threads: usize) {
    let n = x.len();
    let shift = 32 - MSD_BITS;
    let buckets = 1usize << MSD_BITS;
    let parts = if threads > 1 { threads * 2 } else { 1 };
    let rs = ranges(n, parts);
    let count = |r: &std::ops::Range<usize>| {
        let mut h = vec![0usize; buckets];
        for &b in &x[r.clone()] {
            h[(key(b) >> shift) as usize] += 1;
        }
        h
    };
    let hists: Vec<Vec<usize>> = if parts > 1 {
        rs.par_iter().map(count).collect()
    } else {
        rs.iter().map(count).collect()
    };
    let mut offsets = vec![vec![0usize; buckets]; hists.len()];
    let mut starts = Vec::with_capacity(buckets + 1);
    let mut at = 0usize;
    for d in 0..buckets {
        starts.push(at);
        for (c, h) in hists.iter().enumerate() {
            offsets[c][d] = at;
            at += h[d];
        }
    }
    starts.push(n);
    let out = DisjointOut::new(y);
    let scatter = |(r, mut off): (&std::ops::Range<usize>, Vec<usize>)| {
        for &b in &x[r.clone()] {
            let k = key(b);
            let d = (k >> shift) as usize;
            // SAFETY: chunk c owns positions offsets[c][d] .. + hists[c][d] for each d.
            unsafe { out.write(off[d], k) };
            off[d] += 1;
        }
    };
    if parts > 1 {
        rs.par_iter().zip(offsets).for_each(scatter);
    } else {
        rs.iter().zip(offsets).for_each(scatter);
    }
    SECOND.with(|cell| {
        let mut tmp = cell.borrow_mut();
        if tmp.len() < n {
            *tmp = vec![0u32; n];
        }
        // The buckets as disjoint (keys, scratch) slice pairs.
        let mut pairs = Vec::new();
        let (mut ys, mut ts) = (&mut *y, &mut tmp[..n]);
        for w in starts.windows(2) {
            let len = w[1] - w[0];
            let (a, rest_y) = ys.split_at_mut(len);
            let (b, rest_t) = ts.split_at_mut(len);
            (ys, ts) = (rest_y, rest_t);
            if len > 0 {
                pairs.push((a, b));
            }
        }
        if threads > 1 {
            pairs.into_par_iter().for_each(|(a, b)| sort_bucket(a, b));
        } else {
            pairs.into_iter().for_each(|(a, b)| sort_bucket(a, b));
        }
    });
}

/// Keys with one top-12-bit digit, sorted on their low 20 bits and turned back into f32 bits
/// in place, `tmp` (same length) as the second buffer.
fn sort_bucket(keys: &mut [u32], tmp: &mut [u32]) {
    if keys.len() < BUCKET_SMALL {
        keys.sort_unstable();
        keys.iter_mut().for_each(|k| *k = unkey(*k));
        return;
    }
    let mut h = [[0usize; 1024]; 2];
    for &k in keys.iter() {
        h[0][(k & 1023) as usize] += 1;
        h[1][((k >> 10) & 1023) as usize] += 1;
    }
    for hist in h.iter_mut() {
        let mut at = 0;
        for c in hist.iter_mut() {
            (at, *c) = (at + *c, at);
        }
    }
    for &k in keys.iter() {
        let d = (k & 1023) as usize;
        tmp[h[0][d]] = k;
        h[0][d] += 1;
    }
    for &k in tmp.iter() {
        let d = ((k >> 10) & 1023) as usize;
        keys[h[1][d]] = unkey(k);
        h[1][d] += 1;
    }
}

pub fn sort_radix(cpu: Cpu, i: &[&Tensor], _p: &Params, o: &mut [Tensor]) -> Result<()> {
    let x = i[0].as_f32_bits()?;
    let y = o[0].as_f32_bits_mut()?;
    let n = x.len();
    if cpu == Cpu::Scalar || n < SMALL {
        y.iter_mut().zip(x).for_each(|(d, &s)| *d = key(s));
        y.sort_unstable();
        y.iter_mut().for_each(|v| *v = unkey(*v));
    } else {
        hybrid_sort_keys(x, y, threads(cpu, n));
    }
    Ok(())
}

// ---- bitonic network -------------------------------------------------------------------------

/// The textbook network on a power-of-two slice: for every stage k and stride j, element i and
/// its partner i ^ j are ordered ascending where bit k of i is clear, descending where set.
fn bitonic_textbook<T: Ord + Copy>(a: &mut [T]) {
    let p = a.len();
    let mut k = 2;
    while k <= p {
        let mut j = k / 2;
        while j >= 1 {
            for i in 0..p {
                let l = i ^ j;
                if l > i {
                    let asc = i & k == 0;
                    if (a[i] > a[l]) == asc {
                        a.swap(i, l);
                    }
                }
            }
            j /= 2;
        }
        k *= 2;
    }
}

/// One compare-exchange run: lo[i] against hi[i], the smaller to lo when ascending.
#[inline(always)]
fn exchange<T: Ord + Copy>(lo: &mut [T], hi: &mut [T], asc: bool) {
    if asc {
        for (a, b) in lo.iter_mut().zip(hi.iter_mut()) {
            let (x, y) = (*a, *b);
            *a = x.min(y);
            *b = x.max(y);
        }
    } else {
        for (a, b) in lo.iter_mut().zip(hi.iter_mut()) {
            let (x, y) = (*a, *b);
            *a = x.max(y);
            *b = x.min(y);
        }
    }
}

/// Step (k, j) on `a`, whose first element has global index `base` (a multiple of 2j; a's
/// length a multiple of 2j): every group of 2j slots is one exchange run.
#[inline(always)]
fn step<T: Ord + Copy>(a: &mut [T], base: usize, k: usize, j: usize) {
    for (c, g) in a.chunks_mut(2 * j).enumerate() {
        let asc = (base + c * 2 * j) & k == 0;
        let (lo, hi) = g.split_at_mut(j);
        exchange(lo, hi, asc);
    }
}

/// All steps with stride below the block for stages `k_from ..= k_to` of one block (global
/// index `base`): with `k_from` = 2 the whole of stages 2 … B, else the tail of one stage.
#[inline(always)]
fn block_steps<T: Ord + Copy>(a: &mut [T], base: usize, k_from: usize, k_to: usize) {
    let b = a.len();
    let mut k = k_from;
    while k <= k_to {
        let mut j = (k / 2).min(b / 2);
        while j >= 1 {
            step(a, base, k, j);
            j /= 2;
        }
        k *= 2;
    }
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn block_steps_avx2<T: Ord + Copy>(a: &mut [T], base: usize, k_from: usize, k_to: usize) {
    block_steps(a, base, k_from, k_to)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn exchange_avx2<T: Ord + Copy>(lo: &mut [T], hi: &mut [T], asc: bool) {
    exchange(lo, hi, asc)
}

fn block_steps_fast<T: Ord + Copy>(a: &mut [T], base: usize, k_from: usize, k_to: usize) {
    #[cfg(target_arch = "x86_64")]
    if crate::backend::cpu::avx2() {
        // SAFETY: AVX2 was detected at run time.
        return unsafe { block_steps_avx2(a, base, k_from, k_to) };
    }
    block_steps(a, base, k_from, k_to)
}

fn exchange_fast<T: Ord + Copy>(lo: &mut [T], hi: &mut [T], asc: bool) {
    #[cfg(target_arch = "x86_64")]
    if crate::backend::cpu::avx2() {
        // SAFETY: AVX2 was detected at run time.
        return unsafe { exchange_avx2(lo, hi, asc) };
    }
    exchange(lo, hi, asc)
}

/// The network on a power-of-two slice in blocks of `block` elements (a power of two): stages
/// up to the block size block by block; then per stage k, the steps of stride ≥ block over the
/// whole slice (threads split groups, or the halves of one group), and the steps below it block
/// by block again. Same comparisons as the textbook network, so the same result.
fn bitonic_blocked<T: Ord + Copy + Send + Sync>(a: &mut [T], block: usize, threads: usize) {
    let p = a.len();
    let block = block.min(p);
    let blocks = |a: &mut [T], k_from: usize, k_to: usize| {
        if threads > 1 {
            a.par_chunks_mut(block)
                .enumerate()
                .for_each(|(c, b)| block_steps_fast(b, c * block, k_from, k_to));
        } else {
            for (c, b) in a.chunks_mut(block).enumerate() {
                block_steps_fast(b, c * block, k_from, k_to);
            }
        }
    };
    blocks(a, 2, block);
    let mut k = 2 * block;
    while k <= p {
        let mut j = k / 2;
        while j >= block {
            let span = 2 * j;
            let groups = p / span;
            let pieces = threads * 4;
            if threads > 1 && groups >= pieces {
                let per = groups / pieces * span;
                a.par_chunks_mut(per).enumerate().for_each(|(c, g)| {
                    for (q, grp) in g.chunks_mut(span).enumerate() {
                        let asc = (c * per + q * span) & k == 0;
                        let (lo, hi) = grp.split_at_mut(j);
                        exchange_fast(lo, hi, asc);
                    }
                });
            } else {
                for (c, grp) in a.chunks_mut(span).enumerate() {
                    let asc = (c * span) & k == 0;
                    let (lo, hi) = grp.split_at_mut(j);
                    if threads > 1 {
                        let part = j.div_ceil(threads * 4).max(GRAIN);
                        lo.par_chunks_mut(part)
                            .zip(hi.par_chunks_mut(part))
                            .for_each(|(l, h)| exchange_fast(l, h, asc));
                    } else {
                        exchange_fast(lo, hi, asc);
                    }
                }
            }
            j /= 2;
        }
        blocks(a, k, k);
        k *= 2;
    }
}

pub fn sort_bitonic(cpu: Cpu, i: &[&Tensor], _p: &Params, o: &mut [Tensor]) -> Result<()> {
    let x = i[0].as_f32_bits()?;
    let y = o[0].as_f32_bits_mut()?;
    let n = x.len();
    if n == 0 {
        return Ok(());
    }
    let p = n.next_power_of_two();
    // Slots ≥ N hold the maximum key 0xFFFF_FFFF (the largest +NaN, 0x7FFFFFFF).
    let mut slots = vec![u32::MAX; p];
    slots[..n].iter_mut().zip(x).for_each(|(s, &b)| *s = key(b));
    match cpu {
        Cpu::Scalar => bitonic_textbook(&mut slots),
        _ => bitonic_blocked(&mut slots, 1 << 15, threads(cpu, n)),
    }
    y.iter_mut().zip(&slots).for_each(|(y, &k)| *y = unkey(k));
    Ok(())
}

/// Stable key–value sort: composites (k(key) << 32) | position, so no two are equal and the
/// order by composite is the stable order by key.
pub fn sort_bitonic_kv(cpu: Cpu, i: &[&Tensor], _p: &Params, o: &mut [Tensor]) -> Result<()> {
    let (x, v) = (i[0].as_f32_bits()?, i[1].as_u32()?);
    let n = x.len();
    let (ko, vo) = o.split_at_mut(1);
    let (ko, vo) = (ko[0].as_f32_bits_mut()?, vo[0].as_u32_mut()?);
    if n == 0 {
        return Ok(());
    }
    let composite = |j: usize| ((key(x[j]) as u64) << 32) | j as u64;
    let mut slots: Vec<u64>;
    match cpu {
        Cpu::Scalar => {
            slots = vec![u64::MAX; n.next_power_of_two()];
            slots[..n]
                .iter_mut()
                .enumerate()
                .for_each(|(j, s)| *s = composite(j));
            bitonic_textbook(&mut slots);
        }
        _ => {
            // LSD radix on the key half is stable, so the positions in the low half come out
            // in input order among equal keys: the same result as the composite network.
            let t = threads(cpu, n);
            slots = vec![0u64; n];
            let fill = |(c, s): (usize, &mut [u64])| {
                s.iter_mut()
                    .enumerate()
                    .for_each(|(q, s)| *s = composite(c * GRAIN + q))
            };
            if t > 1 {
                slots.par_chunks_mut(GRAIN).enumerate().for_each(fill);
            } else {
                slots.chunks_mut(GRAIN).enumerate().for_each(fill);
            }
            if n < SMALL {
                slots.sort_unstable();
            } else {
                let mut tmp = vec![0u64; n];
                radix_sort(&mut slots, &mut tmp, t);
            }
        }
    }
    let t = threads(cpu, n);
    let write = |(c, (k, w)): (usize, (&mut [u32], &mut [u32]))| {
        for q in 0..k.len() {
            let s = slots[c * GRAIN + q];
            k[q] = unkey((s >> 32) as u32);
            w[q] = v[(s & 0xFFFF_FFFF) as usize];
        }
    };
    if t > 1 {
        ko.par_chunks_mut(GRAIN)
            .zip(vo.par_chunks_mut(GRAIN))
            .enumerate()
            .for_each(write);
    } else {
        ko.chunks_mut(GRAIN)
            .zip(vo.chunks_mut(GRAIN))
            .enumerate()
            .for_each(write);
    }
    Ok(())
}

// ---- top-k -------------------------------------------------------------------------------------

/// A candidate: its key and index; better = larger key, then smaller index.
type Cand = (u32, u64);

fn better(a: &Cand, b: &Cand) -> std::cmp::Ordering {
    b.0.cmp(&a.0).then(a.1.cmp(&b.1))
}

/// Keep the best k of `c` (in any order).
fn prune(c: &mut Vec<Cand>, k: usize) {
    if c.len() > k {
        c.select_nth_unstable_by(k - 1, better);
        c.truncate(k);
    }
}

/// The best k of x (global indices from `base`), unordered: a buffer of candidates behind a
/// threshold key; once the buffer has been pruned to k, only keys strictly above the k-th
/// kept key can enter (a later equal key has a larger index, so it ranks below the kept one).
fn topk_range(x: &[u32], base: usize, k: usize) -> Vec<Cand> {
    let cap = (4 * k).max(1024);
    let mut buf: Vec<Cand> = Vec::with_capacity(cap + 64);
    let mut thr: Option<u32> = None;
    const G: usize = 64;
    for (g, grp) in x.chunks(G).enumerate() {
        if let Some(t) = thr {
            // One vectorised pass rejects most groups.
            let m = grp.iter().fold(0u32, |m, &b| m.max(key(b)));
            if m <= t {
                continue;
            }
        }
        for (q, &b) in grp.iter().enumerate() {
            let kb = key(b);
            if thr.is_none_or(|t| kb > t) {
                buf.push((kb, (base + g * G + q) as u64));
            }
        }
        if buf.len() >= cap {
            prune(&mut buf, k);
            thr = buf.iter().map(|c| c.0).min();
        }
    }
    prune(&mut buf, k);
    buf
}

pub fn topk_select(cpu: Cpu, i: &[&Tensor], p: &Params, o: &mut [Tensor]) -> Result<()> {
    let x = i[0].as_f32_bits()?;
    let n = x.len();
    let k = topk_k(n, p)?;
    let mut best: Vec<Cand> = match cpu {
        Cpu::Scalar => {
            let mut all: Vec<Cand> = x
                .iter()
                .enumerate()
                .map(|(j, &b)| (key(b), j as u64))
                .collect();
            prune(&mut all, k);
            all
        }
        _ if threads(cpu, n) > 1 => {
            let parts = ranges(n, threads(cpu, n) * 4);
            let mut all: Vec<Cand> = parts
                .par_iter()
                .map(|r| topk_range(&x[r.clone()], r.start, k))
                .flatten_iter()
                .collect();
            prune(&mut all, k);
            all
        }
        _ => topk_range(x, 0, k),
    };
    best.sort_unstable_by(better);
    let (vals, idx) = o.split_at_mut(1);
    let (vals, idx) = (vals[0].as_f32_bits_mut()?, idx[0].as_u64_mut()?);
    for (q, c) in best.iter().enumerate() {
        vals[q] = unkey(c.0);
        idx[q] = c.1;
    }
    Ok(())
}

// ---- order statistics ------------------------------------------------------------------------

/// s[r] (as keys) for each rank of the sorted, deduplicated `ranks`, or None when x holds a NaN.
fn select(cpu: Cpu, x: &[u32], ranks: &[usize]) -> Option<Vec<u32>> {
    match cpu {
        Cpu::Scalar => {
            if x.iter().any(|&b| is_nan_bits(b)) {
                return None;
            }
            let mut keys: Vec<u32> = x.iter().map(|&b| key(b)).collect();
            Some(multi_select(&mut keys, ranks))
        }
        _ => radix_select(x, ranks, threads(cpu, x.len())),
    }
}

/// Select the ranks (sorted, deduplicated) in place: from the largest down, each selection
/// leaves everything before its rank no larger, so the next works on that prefix only.
fn multi_select(keys: &mut [u32], ranks: &[usize]) -> Vec<u32> {
    let mut out = vec![0u32; ranks.len()];
    let mut end = keys.len();
    for (q, &r) in ranks.iter().enumerate().rev() {
        let (_, &mut v, _) = keys[..end].select_nth_unstable(r);
        out[q] = v;
        end = r;
    }
    out
}

const TOP_BITS: u32 = 16;
const BUCKETS: usize = 1 << TOP_BITS;

/// Radix select: a histogram of the keys' top 16 bits finds the bucket of every rank; the
/// elements of those buckets are gathered and selected among.
fn radix_select(x: &[u32], ranks: &[usize], threads: usize) -> Option<Vec<u32>> {
    let parts = ranges(x.len(), if threads > 1 { threads * 4 } else { 1 });
    let count = |r: &std::ops::Range<usize>| {
        let mut h = vec![0u32; BUCKETS];
        let mut nan = false;
        for &b in &x[r.clone()] {
            nan |= is_nan_bits(b);
            h[(key(b) >> (32 - TOP_BITS)) as usize] += 1;
        }
        (h, nan)
    };
    let counted: Vec<(Vec<u32>, bool)> = if threads > 1 {
        parts.par_iter().map(count).collect()
    } else {
        // One range may exceed u32 counts only past 2^32 elements: split there.
        ranges(x.len(), x.len().div_ceil(1 << 31))
            .iter()
            .map(count)
            .collect()
    };
    if counted.iter().any(|c| c.1) {
        return None;
    }
    let mut hist = vec![0u64; BUCKETS];
    for (h, _) in &counted {
        hist.iter_mut().zip(h).for_each(|(a, &b)| *a += b as u64);
    }
    // below[b]: elements in buckets before b.
    let mut below = vec![0u64; BUCKETS + 1];
    for b in 0..BUCKETS {
        below[b + 1] = below[b] + hist[b];
    }
    let bucket_of = |r: usize| below.partition_point(|&c| c <= r as u64) - 1;
    let mut wanted: Vec<usize> = ranks.iter().map(|&r| bucket_of(r)).collect();
    wanted.dedup();
    let mut bitmap = vec![0u64; BUCKETS / 64];
    for &b in &wanted {
        bitmap[b / 64] |= 1 << (b % 64);
    }
    let gather = |r: &std::ops::Range<usize>| {
        let mut c = Vec::new();
        for &b in &x[r.clone()] {
            let kb = key(b);
            let bk = (kb >> (32 - TOP_BITS)) as usize;
            if bitmap[bk / 64] >> (bk % 64) & 1 != 0 {
                c.push(kb);
            }
        }
        c
    };
    let mut cand: Vec<u32> = if threads > 1 {
        parts.par_iter().map(gather).flatten_iter().collect()
    } else {
        gather(&(0..x.len()))
    };
    // The candidates' ranks: rank r in bucket b is (r − below[b]) plus the wanted buckets'
    // elements before b, all gathered candidates being from wanted buckets.
    let local: Vec<usize> = ranks
        .iter()
        .map(|&r| {
            let b = bucket_of(r);
            let before: u64 = wanted.iter().filter(|&&w| w < b).map(|&w| hist[w]).sum();
            (r as u64 - below[b] + before) as usize
        })
        .collect();
    Some(multi_select(&mut cand, &local))
}

pub fn median_select(cpu: Cpu, i: &[&Tensor], _p: &Params, o: &mut [Tensor]) -> Result<()> {
    let x = i[0].as_f32_bits()?;
    let n = x.len();
    let (lo, hi) = median_ranks(n);
    let m = match select(cpu, x, &[lo, hi][..if lo == hi { 1 } else { 2 }]) {
        None => f32::NAN,
        Some(s) => {
            let a = f32::from_bits(unkey(s[0]));
            let b = f32::from_bits(unkey(*s.last().unwrap_or(&s[0])));
            median_value(n, a, b)
        }
    };
    o[0].as_f32_mut()?[0] = m;
    Ok(())
}

pub fn percentile_select(cpu: Cpu, i: &[&Tensor], p: &Params, o: &mut [Tensor]) -> Result<()> {
    let x = i[0].as_f32_bits()?;
    let n = x.len();
    let qs = percentiles(p);
    let ranks = percentile_ranks(n, &qs);
    let y = o[0].as_f32_mut()?;
    match select(cpu, x, &ranks) {
        None => y.iter_mut().for_each(|v| *v = f32::NAN),
        Some(s) => {
            let stat = |r: usize| {
                let q = ranks.binary_search(&r).unwrap_or(0);
                f32::from_bits(unkey(s[q]))
            };
            y.copy_from_slice(&percentile_values(n, &qs, stat));
        }
    }
    Ok(())
}
