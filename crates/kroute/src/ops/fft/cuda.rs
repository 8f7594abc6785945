//! fft on CUDA (`fft.cu`): Stockham passes with a shared-memory radix-R sub-FFT per column
//! (R ≤ 512, 4096 points per block; a transform of at most 2^11 points is one pass of one
//! block), twiddles from two f64-built tables of about √L entries, and the rfft's separation
//! pass (squaring for spectral_power). 2^23 points take 3 passes (radix 2^8, 2^8, 2^7), 2^26
//! three (2^9, 2^9, 2^8). Temporaries live in the device's work area (tables, the Stockham
//! buffer, the rfft's half-length spectrum); every kernel writes what the next reads.

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

/// The largest transform done in one pass of one block (KF_SMEM in fft.cu holds 2^11 + 1
/// points), and the largest radix of a multi-pass transform (4096 points per block).
const ONE_PASS_LOG2: u32 = 11;
const PASS_LOG2: u32 = 9;

fn align(bytes: u64) -> u64 {
    bytes.div_ceil(256) * 256
}

/// log2 of each pass's radix for 2^lg points: one pass up to 2^11, else as few passes of at
/// most 2^9 as will do, the larger radices first.
fn radices(lg: u32) -> Vec<u32> {
    if lg <= ONE_PASS_LOG2 {
        return vec![lg];
    }
    let passes = lg.div_ceil(PASS_LOG2).max(2);
    (0..passes)
        .map(|i| lg / passes + u32::from(i < lg % passes))
        .collect()
}

/// The twiddle tables for Lt points at the start of the work area: (lo, hi, b, bytes used).
struct Tables {
    lo: u64,
    hi: u64,
    b: u32,
}

/// The work area: the tables for `lt` and then `extra` bytes; returns the tables and the
/// address of the extra space. The tables are rebuilt (in f64) by every call.
fn work(call: &Call, lt: u64, extra: u64) -> Result<(Tables, u64)> {
    let b = lt.trailing_zeros().div_ceil(2);
    let (nlo, nhi) = (1u64 << b, (lt >> b).max(1));
    let lo_bytes = align(8 * nlo);
    let tables_bytes = lo_bytes + align(8 * nhi);
    let base = call.dev.work_area((tables_bytes + extra) as usize)?.0;
    let t = Tables {
        lo: base,
        hi: base + lo_bytes,
        b,
    };
    let grid = call
        .dev
        .grid(call.source, "fft_twiddles", BLOCK, 0, nlo + nhi)?;
    call.dev.launch(
        call.source,
        "fft_twiddles",
        grid,
        BLOCK,
        0,
        &[Arg::ptr(t.lo), Arg::ptr(t.hi), Arg::u64(lt), Arg::u32(b)],
    )?;
    Ok((t, base + tables_bytes))
}

/// The M-point DFT of `x` into `y` (complex64 each) through `tmp` (M complex64), with tables
/// for Lt = M·tws points. `inverse`: conjugate in, conjugate and scale by 1/M out.
#[allow(clippy::too_many_arguments)]
fn c2c(
    call: &Call,
    x: u64,
    y: u64,
    tmp: u64,
    m: u64,
    t: &Tables,
    tws: u64,
    inverse: bool,
) -> Result<()> {
    let rs = radices(m.trailing_zeros());
    let passes = rs.len();
    let mut ns = 1u64;
    let mut src = x;
    for (i, &r) in rs.iter().enumerate() {
        // Ping-pong so that the last pass writes y: y, tmp, y… counted back from the end.
        let dst = if (passes - 1 - i) % 2 == 0 { y } else { tmp };
        let points = (4096u64 >> r).min(m >> r) << r;
        let groups = m / points;
        let grid = call
            .dev
            .grid(call.source, "fft_pass", BLOCK, 0, groups * BLOCK as u64)?;
        call.dev.launch(
            call.source,
            "fft_pass",
            grid,
            BLOCK,
            0,
            &[
                Arg::ptr(src),
                Arg::ptr(dst),
                Arg::u64(m),
                Arg::u32(r),
                Arg::u64(ns),
                Arg::ptr(t.lo),
                Arg::ptr(t.hi),
                Arg::u32(t.b),
                Arg::u64(tws),
                Arg::u32(u32::from(inverse && i == 0)),
                Arg::u32(u32::from(inverse && i + 1 == passes)),
                Arg::f32(if inverse { 1.0 / m as f32 } else { 1.0 }),
            ],
        )?;
        ns <<= r;
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
    let (t, tmp) = work(call, l, 8 * l)?;
    c2c(call, call.ins[0].0, call.outs[0].0, tmp, l, &t, 1, inverse)
}

fn fft_forward(call: &Call) -> Result<()> {
    c2c_call(call, false)
}

fn ifft(call: &Call) -> Result<()> {
    c2c_call(call, true)
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
    // Tables for L (the post pass needs w_L^k; the M-point passes use every other entry),
    // then Z (M complex64) and the Stockham buffer (M complex64).
    let zbytes = align(8 * m.max(1));
    let (t, z) = work(call, l, 2 * zbytes)?;
    if m > 0 {
        c2c(call, call.ins[0].0, z, z + zbytes, m, &t, 2, false)?;
    }
    let grid = call
        .dev
        .grid(call.source, "fft_real_post", BLOCK, 0, m + 1)?;
    call.dev.launch(
        call.source,
        "fft_real_post",
        grid,
        BLOCK,
        0,
        &[
            Arg::ptr(z),
            Arg::ptr(call.ins[0].0),
            Arg::ptr(call.outs[0].0),
            Arg::u64(l),
            Arg::ptr(t.lo),
            Arg::ptr(t.hi),
            Arg::u32(t.b),
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
    use super::radices;

    #[test]
    fn passes_cover_the_length_with_radices_the_kernel_holds() {
        for lg in 0..=32 {
            let r = radices(lg);
            assert_eq!(r.iter().sum::<u32>(), lg);
            if r.len() > 1 {
                assert!(r.iter().all(|&x| (6..=9).contains(&x)), "{lg}: {r:?}");
            } else {
                assert!(r[0] <= 11);
            }
        }
        assert_eq!(radices(23), vec![8, 8, 7]);
        assert_eq!(radices(26), vec![9, 9, 8]);
    }
}
