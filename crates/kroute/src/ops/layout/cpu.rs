//! layout on the CPU. Everything moves u32 words (a float load and store would be bit-exact on
//! x86 and ARM too, but words say what is meant and rule out any float arithmetic).
//!
//! - `scalar`: the plain loops of the definition (the transpose reads A's rows and writes B's
//!   columns, a cache miss per element once S outgrows the cache).
//! - `simd`: the transpose in 64×64 tiles (both sides of a tile stay in L1: 16 KiB each), each
//!   tile as 8×8 blocks transposed in AVX2 registers (eight row loads, 24 shuffles, eight row
//!   stores; the compiler's scalar 16×16 blocks ran at half of torch's speed), scalar blocks at
//!   the edges and without AVX2; the repacks as
//!   interleaved loops over whole records, which the compiler vectorises as 4-way
//!   (de-)interleaving shuffles.
//! - `parallel`: the same over rayon — bands of tile rows of B (each task owns whole rows of the
//!   output), or ranges of records.

use crate::backend::cpu::{Cpu, GRAIN};
use crate::params::Params;
use crate::tensor::Tensor;
use crate::Result;
use rayon::prelude::*;



const TILE: usize = 64;

/// B rows `rows` (a band of whole output rows, `b` holding exactly them) of the transpose of the
/// s×s matrix `a`, tile by tile.
fn transpose_band(a: &[u32], b: &mut [u32], s: usize, rows: std::ops::Range<usize>) {
    let fast = crate::backend::cpu::avx2();
    for j0 in rows.clone().step_by(TILE) {
        let j1 = (j0 + TILE).min(rows.end);
        for i0 in (0..s).step_by(TILE) {
            let i1 = (i0 + TILE).min(s);
            for jb in (j0..j1).step_by(8) {
                for ib in (i0..i1).step_by(8) {
                    if fast && jb + 8 <= j1 && ib + 8 <= i1 {
                        // SAFETY: AVX2 is present; the 8×8 block lies inside both matrices
                        // (rows ib..ib+8 of a from column jb, rows jb..jb+8 of this band of b
                        // from column ib), as the bounds just checked say.
                        #[cfg(target_arch = "x86_64")]
                        unsafe {
                            transpose8_avx2(&a[ib * s + jb..], s, &mut b[(jb - rows.start) * s + ib..], s)
                        };
                        continue;
                    }
                    for j in jb..(jb + 8).min(j1) {
                        let out = &mut b[(j - rows.start) * s..][..s];
                        for i in ib..(ib + 8).min(i1) {
                            out[i] = a[i * s + j];
                        }
                    }
                }
            }
        }
    }
}

/// b[k][c] = a[c][k] for an 8×8 block: rows of `a` start every `lda` words, rows of `b` every
/// `ldb`. The shuffles move bits (no float arithmetic touches them).
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn transpose8_avx2(a: &[u32], lda: usize, b: &mut [u32], ldb: usize) {
    use std::arch::x86_64::*;
    assert!(a.len() >= 7 * lda + 8 && b.len() >= 7 * ldb + 8);
    let r = |k: usize| _mm256_loadu_ps(a.as_ptr().add(k * lda) as *const f32);
    let (r0, r1, r2, r3, r4, r5, r6, r7) = (r(0), r(1), r(2), r(3), r(4), r(5), r(6), r(7));
    let (t0, t1) = (_mm256_unpacklo_ps(r0, r1), _mm256_unpackhi_ps(r0, r1));
    let (t2, t3) = (_mm256_unpacklo_ps(r2, r3), _mm256_unpackhi_ps(r2, r3));
    let (t4, t5) = (_mm256_unpacklo_ps(r4, r5), _mm256_unpackhi_ps(r4, r5));
    let (t6, t7) = (_mm256_unpacklo_ps(r6, r7), _mm256_unpackhi_ps(r6, r7));
    let s0 = _mm256_shuffle_ps::<0x44>(t0, t2);
    let s1 = _mm256_shuffle_ps::<0xEE>(t0, t2);
    let s2 = _mm256_shuffle_ps::<0x44>(t1, t3);
    let s3 = _mm256_shuffle_ps::<0xEE>(t1, t3);
    let s4 = _mm256_shuffle_ps::<0x44>(t4, t6);
    let s5 = _mm256_shuffle_ps::<0xEE>(t4, t6);
    let s6 = _mm256_shuffle_ps::<0x44>(t5, t7);
    let s7 = _mm256_shuffle_ps::<0xEE>(t5, t7);
    let out = [
        _mm256_permute2f128_ps::<0x20>(s0, s4),
        _mm256_permute2f128_ps::<0x20>(s1, s5),
        _mm256_permute2f128_ps::<0x20>(s2, s6),
        _mm256_permute2f128_ps::<0x20>(s3, s7),
        _mm256_permute2f128_ps::<0x31>(s0, s4),
        _mm256_permute2f128_ps::<0x31>(s1, s5),
        _mm256_permute2f128_ps::<0x31>(s2, s6),
        _mm256_permute2f128_ps::<0x31>(s3, s7),
    ];
    for (k, v) in out.into_iter().enumerate() {
        _mm256_storeu_ps(b.as_mut_ptr().add(k * ldb) as *mut f32, v);
    }
}

pub fn transpose_2d(cpu: Cpu, i: &[&Tensor], _p: &Params, o: &mut [Tensor]) -> Result<()> {
    let s = i[0].shape()[0];
    let (a, b) = (i[0].as_f32_bits()?, o[0].as_f32_bits_mut()?);
    match cpu {
        Cpu::Scalar => {
            for (j, row) in b.chunks_exact_mut(s.max(1)).enumerate() {
                for (k, v) in row.iter_mut().enumerate() {
                    *v = a[k * s + j];
                }
            }
        }
        Cpu::Simd => transpose_band(a, b, s, 0..s),
        Cpu::Parallel => {
            // Bands of whole tile rows of B, about GRAIN elements each.
            let band = (GRAIN / s.max(1)).div_ceil(TILE).max(1) * TILE;
            b.par_chunks_mut((band * s).max(1))
                .enumerate()
                .for_each(|(k, out)| {
                    let start = k * band;
                    transpose_band(a, out, s, start..start + out.len() / s.max(1));
                });
        }
    }
    Ok(())
}

/// soa rows x, y, z, w from records `aos` (the same range of records in each).
fn deinterleave(aos: &[u32], x: &mut [u32], y: &mut [u32], z: &mut [u32], w: &mut [u32]) {
    for ((((rec, x), y), z), w) in aos
        .chunks_exact(4)
        .zip(x)
        .zip(y.iter_mut())
        .zip(z.iter_mut())
        .zip(w.iter_mut())
    {
        (*x, *y, *z, *w) = (rec[0], rec[1], rec[2], rec[3]);
    }
}

fn interleave(aos: &mut [u32], x: &[u32], y: &[u32], z: &[u32], w: &[u32]) {
    for ((((rec, &x), &y), &z), &w) in aos.chunks_exact_mut(4).zip(x).zip(y).zip(z).zip(w) {
        rec.copy_from_slice(&[x, y, z, w]);
    }
}

/// The four rows of a [4, R] buffer.
fn rows4(v: &[u32], r: usize) -> [&[u32]; 4] {
    [&v[..r], &v[r..2 * r], &v[2 * r..3 * r], &v[3 * r..4 * r]]
}

fn rows4_mut(v: &mut [u32], r: usize) -> [&mut [u32]; 4] {
    let (x, rest) = v.split_at_mut(r);
    let (y, rest) = rest.split_at_mut(r);
    let (z, w) = rest.split_at_mut(r);
    [x, y, z, w]
}

pub fn repack_aos_to_soa(cpu: Cpu, i: &[&Tensor], _p: &Params, o: &mut [Tensor]) -> Result<()> {
    let r = i[0].shape()[0];
    let (aos, soa) = (i[0].as_f32_bits()?, o[0].as_f32_bits_mut()?);
    let [x, y, z, w] = rows4_mut(soa, r);
    match cpu {
        Cpu::Scalar => {
            for (f, row) in [x, y, z, w].into_iter().enumerate() {
                for (k, v) in row.iter_mut().enumerate() {
                    *v = aos[4 * k + f];
                }
            }
        }
        Cpu::Simd => deinterleave(aos, x, y, z, w),
        Cpu::Parallel => {
            let c = GRAIN / 4;
            aos.par_chunks(4 * c)
                .zip(x.par_chunks_mut(c))
                .zip(y.par_chunks_mut(c))
                .zip(z.par_chunks_mut(c))
                .zip(w.par_chunks_mut(c))
                .for_each(|((((a, x), y), z), w)| deinterleave(a, x, y, z, w));
        }
    }
    Ok(())
}

pub fn repack_soa_to_aos(cpu: Cpu, i: &[&Tensor], _p: &Params, o: &mut [Tensor]) -> Result<()> {
    let r = i[0].shape()[1];
    let (soa, aos) = (i[0].as_f32_bits()?, o[0].as_f32_bits_mut()?);
    let [x, y, z, w] = rows4(soa, r);
    match cpu {
        Cpu::Scalar => {
            for (f, row) in [x, y, z, w].into_iter().enumerate() {
                for (k, &v) in row.iter().enumerate() {
                    aos[4 * k + f] = v;
                }
            }
        }
        Cpu::Simd => interleave(aos, x, y, z, w),
        Cpu::Parallel => {
            let c = GRAIN / 4;
            aos.par_chunks_mut(4 * c)
                .zip(x.par_chunks(c))
                .zip(y.par_chunks(c))
                .zip(z.par_chunks(c))
                .zip(w.par_chunks(c))
                .for_each(|((((a, x), y), z), w)| interleave(a, x, y, z, w));
        }
    }
    Ok(())
}
