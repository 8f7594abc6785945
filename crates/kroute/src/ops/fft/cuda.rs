//! fft on CUDA (`fft.cu`): a Stockham FFT in as few passes over global memory as the block
//! size allows, each pass a radix-2^r sub-FFT (r ≤ 9) of a group of J consecutive columns in
//! registers and shared memory (4096 points per block), then, for the rfft, the separation pass
//! (squaring for spectral_power). 2^23 points take 3 passes (radix 2^8, 2^8, 2^7), 2^26 three
//! (2^9, 2^9, 2^8); up to 2^9 points one pass of one block.
//!
//! fft_radix2 and fft_radix4 are one contract (docs/kernels/fft.md: same transform, inputs,
//! output, tolerance and flop credit; "stages may be reordered or grouped in shared memory"):
//! both run this radix-2^k Stockham FFT, whose radix-16 register butterflies are four radix-2
//! stages grouped (each a radix-2 network inside: `kf_dft`).
//!
//! Twiddles come from f64 sin/cos, rounded once (fft.cu's header): the per-pass tables and the
//! rfft's are built once per length and kept on the device (`Device::kept_area`), so a timed
//! call only launches its passes. The Stockham buffer and the rfft's half-length spectrum live
//! in the device's work area.

use crate::backend::cuda::{Arg, Call, Kernel, Source, Table, BLOCK};
use crate::{Error, Result};

/// The source, named so that the cuFFT routes (`cufft.rs`) can launch its helper kernels.
pub(crate) static SOURCE: Source = Source {
    name: "fft",
    text: include_str!("fft.cu"),
};

pub(crate) static CUDA: Table = Table {
    source: Some(&SOURCE),
    kernels: &[
        Kernel::custom("fft_radix2", fft_forward),
        Kernel::custom("fft_radix4", fft_forward),
        Kernel::custom("ifft", ifft),
        Kernel::custom("fft_real", fft_real),
        Kernel::custom("spectral_power", spectral_power),
    ],
};

/// log2 of the points a block holds (KF_P in fft.cu) and of the largest radix of a pass.
const BLOCK_LOG2: u32 = 12;
const PASS_LOG2: u32 = 9;

/// fft.cu's pass kernels by log2 of their radix.
const PASS_KERNELS: [&str; PASS_LOG2 as usize + 1] = [
    "fft_pass_r0",
    "fft_pass_r1",
    "fft_pass_r2",
    "fft_pass_r3",
    "fft_pass_r4",
    "fft_pass_r5",
    "fft_pass_r6",
    "fft_pass_r7",
    "fft_pass_r8",
    "fft_pass_r9",
];

fn align(bytes: u64) -> u64 {
    bytes.div_ceil(256) * 256
}

/// log2 of each pass's radix for 2^lg points: one pass up to 2^9, two up to 2^18, else as few
/// passes of at most 2^9 as will do; larger radices first. Every radix of a multi-pass plan is
/// at least 2^5 (2^6 from three passes on), which keeps J ≤ Ns in every pass after the first
/// (fft.cu's groups need it).
fn radices(lg: u32) -> Vec<u32> {
    if lg <= PASS_LOG2 {
        return vec![lg];
    }
    let passes = if lg <= 2 * PASS_LOG2 {
        2
    } else {
        lg.div_ceil(PASS_LOG2)
    };
    (0..passes)
        .map(|i| lg / passes + u32::from(i < lg % passes))
        .collect()
}

/// One pass: log2 of its radix, of its stride Ns (the earlier radices) and of its group width J.
#[derive(Clone, Copy, Debug, PartialEq)]
struct Pass {
    log_r: u32,
    log_ns: u32,
    log_j: u32,
}

fn passes(lg: u32) -> Vec<Pass> {
    let mut log_ns = 0;
    radices(lg)
        .into_iter()
        .map(|log_r| {
            let p = Pass {
                log_r,
                log_ns,
                log_j: (BLOCK_LOG2 - log_r).min(lg - log_r),
            };
            log_ns += log_r;
            p
        })
        .collect()
}

/// Bytes of pass `p`'s table (J·R twiddles; none for the first pass).
fn table_bytes(p: &Pass) -> u64 {
    if p.log_ns == 0 {
        0
    } else {
        align(8 << (p.log_r + p.log_j))
    }
}

/// The passes of a 2^lg-point transform and each one's table address (0 for none), the tables
/// built at the first call for this length and kept on the device.
fn plan(call: &Call, lg: u32) -> Result<Vec<(Pass, u64)>> {
    let ps = passes(lg);
    let total: u64 = ps.iter().map(table_bytes).sum();
    if total == 0 {
        return Ok(ps.into_iter().map(|p| (p, 0)).collect());
    }
    let dev = call.dev;
    let base = dev.kept_area(
        "fft_pass_tables",
        u64::from(lg),
        total as usize,
        &mut |base| {
            let mut at = base;
            for p in ps.iter().filter(|p| p.log_ns > 0) {
                let n = 1u64 << (p.log_r + p.log_j);
                let grid = dev.grid(&SOURCE, "fft_dtable", BLOCK, 0, n)?;
                dev.launch(
                    &SOURCE,
                    "fft_dtable",
                    grid,
                    BLOCK,
                    0,
                    &[
                        Arg::ptr(at),
                        Arg::u32(p.log_r),
                        Arg::u32(p.log_j),
                        Arg::u32(p.log_ns + p.log_r),
                    ],
                )?;
                at += table_bytes(p);
            }
            Ok(())
        },
    )?;
    let mut at = base;
    Ok(ps
        .into_iter()
        .map(|p| {
            let t = if p.log_ns > 0 { at } else { 0 };
            at += table_bytes(&p);
            (p, t)
        })
        .collect())
}

/// The 2^lg-point DFT of `x` into `y` (complex64 each; never the same buffer) through `tmp`
/// (2^lg complex64; unused by a one-pass transform). `inverse`: conjugate in, conjugate and
/// scale by 2^-lg out.
fn c2c(call: &Call, x: u64, y: u64, tmp: u64, lg: u32, inverse: bool) -> Result<()> {
    let plan = plan(call, lg)?;
    let n = plan.len();
    let mut src = x;
    for (i, (p, table)) in plan.iter().enumerate() {
        // Ping-pong so that the last pass writes y: y, tmp, y… counted back from the end.
        let dst = if (n - 1 - i) % 2 == 0 { y } else { tmp };
        let name = PASS_KERNELS[p.log_r as usize];
        let groups = 1u64 << (lg - p.log_r - p.log_j);
        let grid = call
            .dev
            .grid(&SOURCE, name, BLOCK, 0, groups * BLOCK as u64)?;
        call.dev.launch(
            &SOURCE,
            name,
            grid,
            BLOCK,
            0,
            &[
                Arg::ptr(src),
                Arg::ptr(dst),
                Arg::u32(lg),
                Arg::u32(p.log_ns),
                Arg::u32(p.log_j),
                Arg::ptr(*table),
                Arg::u32(u32::from(inverse && i == 0)),
                Arg::u32(u32::from(inverse && i + 1 == n)),
                Arg::f32(if inverse {
                    1.0 / (1u64 << lg) as f32
                } else {
                    1.0
                }),
            ],
        )?;
        src = dst;
    }
    Ok(())
}

/// L complex points from the call's 2L-f32 input (the shape rule made L a power of two).
fn c2c_call(call: &Call, inverse: bool) -> Result<()> {
    let l = call.n() / 2;
    if l == 0 {
        return Ok(());
    }
    if l > 1 << 31 {
        return Err(Error::Shape(format!(
            "{}: the cuda implementation transforms at most 2^31 points, got {l}",
            call.name
        )));
    }
    let lg = l.trailing_zeros();
    let tmp = if passes(lg).len() > 1 {
        call.dev.work_area((8 * l) as usize)?.0
    } else {
        0
    };
    c2c(call, call.ins[0].0, call.outs[0].0, tmp, lg, inverse)
}

fn fft_forward(call: &Call) -> Result<()> {
    c2c_call(call, false)
}

fn ifft(call: &Call) -> Result<()> {
    c2c_call(call, true)
}

/// The separation pass's twiddles w_L^k = hi[k >> b]·lo[k mod 2^b] (fft.cu's `fft_twiddles`),
/// kept on the device per length: (lo, hi, b).
fn post_tables(call: &Call, l: u64) -> Result<(u64, u64, u32)> {
    let b = l.trailing_zeros().div_ceil(2);
    let (nlo, nhi) = (1u64 << b, (l >> b).max(1));
    let lo_bytes = align(8 * nlo);
    let dev = call.dev;
    let lo = dev.kept_area(
        "fft_post_tables",
        l,
        (lo_bytes + align(8 * nhi)) as usize,
        &mut |base| {
            let grid = dev.grid(&SOURCE, "fft_twiddles", BLOCK, 0, nlo + nhi)?;
            dev.launch(
                &SOURCE,
                "fft_twiddles",
                grid,
                BLOCK,
                0,
                &[
                    Arg::ptr(base),
                    Arg::ptr(base + lo_bytes),
                    Arg::u64(l),
                    Arg::u32(b),
                ],
            )
        },
    )?;
    Ok((lo, lo + lo_bytes, b))
}

/// The rfft of L real values: the L/2-point DFT of the input read as complex64 into Z, then
/// the separation pass writing X (or |X|² when `power`).
fn real(call: &Call, power: bool) -> Result<()> {
    let l = call.n();
    if l == 0 {
        return Ok(());
    }
    if l > 1 << 32 {
        return Err(Error::Shape(format!(
            "{}: the cuda implementation transforms at most 2^32 points, got {l}",
            call.name
        )));
    }
    let m = l / 2;
    let (lo, hi, b) = post_tables(call, l)?;
    // Z (M complex64), then the Stockham buffer (M complex64).
    let zbytes = align(8 * m.max(1));
    let z = call.dev.work_area((2 * zbytes) as usize)?.0;
    if m > 0 {
        c2c(
            call,
            call.ins[0].0,
            z,
            z + zbytes,
            m.trailing_zeros(),
            false,
        )?;
    }
    let grid = call
        .dev
        .grid(&SOURCE, "fft_real_post", BLOCK, 0, m / 2 + 1)?;
    call.dev.launch(
        &SOURCE,
        "fft_real_post",
        grid,
        BLOCK,
        0,
        &[
            Arg::ptr(z),
            Arg::ptr(call.ins[0].0),
            Arg::ptr(call.outs[0].0),
            Arg::u64(l),
            Arg::ptr(lo),
            Arg::ptr(hi),
            Arg::u32(b),
            Arg::u32(u32::from(power)),
        ],
    )
}

fn fft_real(call: &Call) -> Result<()> {
    real(call, false)
}

fn spectral_power(call: &Call) -> Result<()> {
    real(call, true)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passes_cover_the_length_with_radices_the_kernel_holds() {
        for lg in 0..=32 {
            let r = radices(lg);
            assert_eq!(r.iter().sum::<u32>(), lg);
            assert!(r.iter().all(|&x| x <= PASS_LOG2), "{lg}: {r:?}");
            if r.len() == 2 {
                assert!(r.iter().all(|&x| x >= 5), "{lg}: {r:?}");
            } else if r.len() > 2 {
                assert!(r.iter().all(|&x| x >= 6), "{lg}: {r:?}");
            }
            for p in passes(lg) {
                // A group is at most one block's points and whole columns of the transform.
                assert!(p.log_r + p.log_j <= BLOCK_LOG2 && p.log_r + p.log_j <= lg);
                // fft.cu: the group's columns share c0 = j0 mod Ns (J ≤ Ns after the first pass).
                assert!(p.log_ns == 0 || p.log_j <= p.log_ns, "{lg}: {p:?}");
            }
        }
        assert_eq!(radices(23), vec![8, 8, 7]);
        assert_eq!(radices(26), vec![9, 9, 8]);
        assert_eq!(radices(12), vec![6, 6]);
        assert_eq!(radices(9), vec![9]);
        assert_eq!(
            passes(23),
            vec![
                Pass {
                    log_r: 8,
                    log_ns: 0,
                    log_j: 4
                },
                Pass {
                    log_r: 8,
                    log_ns: 8,
                    log_j: 4
                },
                Pass {
                    log_r: 7,
                    log_ns: 16,
                    log_j: 5
                },
            ]
        );
    }
}
