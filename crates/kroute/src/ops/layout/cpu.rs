//! layout on the CPU. Everything moves u32 words (a float load and store would be bit-exact on
//! x86 and ARM too, but words say what is meant and rule out any float arithmetic).
//!
//! - `scalar`: the plain loops of the definition (the transpose reads A's rows and writes B's
//!   columns, a cache miss per element once S outgrows the cache).
//! - `simd`: the transpose in 64×64 tiles (both sides of a tile stay in L1: 16 KiB each), each
//!   tile as 16×16 blocks whose inner loops the compiler turns into vector moves; the repacks as
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
const BLOCK: usize = 16;

/// B rows `rows` (a band of whole output rows, `b` holding exactly them) of the transpose of the
/// s×s matrix `a`, tile by tile.
fn transpose_band(a: &[u32], b: &mut [u32], s: usize, rows: std::ops::Range<usize>) {
    for j0 in rows.clone().step_by(TILE) {
        let j1 = (j0 + TILE).min(rows.end);
        for i0 in (0..s).step_by(TILE) {
            let i1 = (i0 + TILE).min(s);
            for jb in (j0..j1).step_by(BLOCK) {
                for ib in (i0..i1).step_by(BLOCK) {
                    for j in jb..(jb + BLOCK).min(j1) {
                        let out = &mut b[(j - rows.start) * s..][..s];
                        for i in ib..(ib + BLOCK).min(i1) {
                            out[i] = a[i * s + j];
                        }
                    }
                }
            }
        }
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
