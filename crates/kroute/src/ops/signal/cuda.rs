//! signal on CUDA (`signal.cu`, with `conv.cu` and `lags.cu` joined to it): window_apply is a
//! map over the samples; conv1d and fir_filter are the direct form on shared tiles (`KC_TILE`
//! outputs per block); fft_conv1d is one small kernel building the taps' conjugate spectrum and
//! the twiddles into the work area, then overlap-save block FFTs in shared memory (F = 2048, or
//! 4096 for K > 1025; the direct form in double for K > 2049, where no block transform fits, and
//! conv1d's kernel below 64 taps, as on the CPU); autocorrelation and cross_correlation are lag
//! sums in two launches each (`lags.cu`).

use crate::backend::cuda::{Arg, Call, Kernel, Source, Table, BLOCK};
use crate::Result;

pub(crate) static CUDA: Table = Table {
    source: Some(&Source {
        name: "signal",
        text: concat!(
            include_str!("signal.cu"),
            include_str!("conv.cu"),
            include_str!("lags.cu")
        ),
    }),
    kernels: &[
        Kernel::map_per("window_apply", 4),
        Kernel::custom("conv1d", direct),
        Kernel::custom("fir_filter", direct),
        Kernel::custom("fft_conv1d", fft_conv1d),
        Kernel::custom("autocorrelation", autocorrelation),
        Kernel::custom("cross_correlation", cross_correlation),
    ],
};

/// Threads and outputs per block of the direct form (KC_T, KC_TILE in conv.cu).
const KC_T: u32 = 256;
const KC_TILE: u64 = 256 * 9;
/// Threads per block of the block FFT (KF2_T).
const KF2_T: u32 = 512;

/// conv1d and fir_filter: one block per tile of KC_TILE outputs (grid-stride beyond the
/// resident count).
fn direct(call: &Call) -> Result<()> {
    let n = call.n();
    if n == 0 {
        return Ok(());
    }
    let tiles = n.div_ceil(KC_TILE);
    let grid = call.grid_of(KC_T, 0, tiles * KC_T as u64)?;
    call.launch_of(KC_T, grid, 0, &[], false)
}

/// The block size F for K taps on the device, or None past what shared memory holds.
pub(crate) fn device_fft_len(k: u64) -> Option<u64> {
    match k {
        0..=1025 => Some(2048),
        1026..=2049 => Some(4096),
        _ => None,
    }
}

fn fft_conv1d(call: &Call) -> Result<()> {
    let n = call.n();
    if n == 0 {
        return Ok(());
    }
    let k = call.params.usize("taps") as u64;
    if k < super::conv_cpu::FFT_MIN_TAPS as u64 {
        // Few taps: the direct form (conv1d's kernel, the same arguments), as on the CPU.
        let grid = call.grid_of(KC_T, 0, n.div_ceil(KC_TILE) * KC_T as u64)?;
        return call.dev.launch(call.source, "conv1d", grid, KC_T, 0, &call.args(&[], None));
    }
    let Some(f) = device_fft_len(k) else {
        let grid = call.dev.grid(call.source, "fft_conv1d_long", 256, 0, n)?;
        return call.dev.launch(call.source, "fft_conv1d_long", grid, 256, 0, &call.args(&[], None));
    };
    // The work area: C (F float2), tw (F/2 float2), meta (2 i32).
    let (base, _) = call.dev.work_area((12 * f + 16) as usize)?;
    let (c, tw, meta) = (base, base + 8 * f, base + 12 * f);
    let (h, _) = call.ins[1];
    let blocks = f.div_ceil(256) as u32;
    call.dev.launch(
        call.source,
        "fft_conv1d_taps",
        blocks,
        256,
        0,
        &[Arg::ptr(h), Arg::u64(k), Arg::u32(f as u32), Arg::ptr(c), Arg::ptr(tw), Arg::ptr(meta)],
    )?;
    let p = f - k + 1;
    let pairs = n.div_ceil(2 * p);
    let grid = call.grid_of(KF2_T, 0, pairs * KF2_T as u64)?;
    let lg = f.trailing_zeros();
    call.launch_of(
        KF2_T,
        grid,
        0,
        &[Arg::u32(f as u32), Arg::u32(lg), Arg::ptr(c), Arg::ptr(tw), Arg::ptr(meta)],
        false,
    )
}

/// Samples per chunk of lag_partial (KR_LAG_CHUNK).
const LAG_CHUNK: u64 = 4096;

/// lags(a, b, k0, nl) (lags.cu) into out[base + j], or out[base − j] when `reverse`: the chunk
/// partials of the nl' = min(nl, N − k0) lags that have terms into the work area, then
/// lag_finish over all nl lags (the others are 0).
#[allow(clippy::too_many_arguments)]
fn lag_pass(call: &Call, a: u64, b: u64, out: u64, k0: u64, nl: u64, base: u64, reverse: bool) -> Result<()> {
    if nl == 0 {
        return Ok(());
    }
    let n = call.n();
    let len = n.saturating_sub(k0);
    let live = nl.min(len);
    let chunks = if live == 0 { 0 } else { len.div_ceil(LAG_CHUNK) };
    let mut part = 0;
    if chunks > 0 {
        // Lags per thread: enough threads busy at L = 256, registers for more.
        let (lpt, name) = match live {
            0..=256 => (1, "lag_partial_1"),
            257..=512 => (2, "lag_partial_2"),
            _ => (4, "lag_partial_4"),
        };
        let tl = BLOCK as u64 * lpt;
        let (area, _) = call.dev.work_area((chunks * live * 8) as usize)?;
        part = area;
        // a's chunk (KR_LAG_CHUNK) and b's window (chunk + tile − 1) in shared memory.
        let smem = ((2 * LAG_CHUNK + tl) * 4) as u32;
        let blocks = u32::try_from(chunks * live.div_ceil(tl)).map_err(|_| {
            crate::Error::Shape(format!("{}: {chunks} chunks × {live} lags exceed one grid", call.name))
        })?;
        call.dev.launch(
            call.source,
            name,
            blocks,
            BLOCK,
            smem,
            &[Arg::ptr(a), Arg::ptr(b), Arg::ptr(part), Arg::u64(n), Arg::u64(k0), Arg::u64(live), Arg::u64(chunks)],
        )?;
    }
    let grid = call.dev.grid(call.source, "lag_finish", BLOCK, 0, nl)?;
    call.dev.launch(
        call.source,
        "lag_finish",
        grid,
        BLOCK,
        0,
        &[
            Arg::ptr(part),
            Arg::ptr(out),
            Arg::u64(nl),
            Arg::u64(live),
            Arg::u64(chunks),
            Arg::u64(base),
            Arg::u64(reverse as u64),
        ],
    )
}

/// r[k] = lags(x, x, 0, L)[k].
fn autocorrelation(call: &Call) -> Result<()> {
    let x = call.ins[0].0;
    let l = call.params.usize("max_lag") as u64;
    lag_pass(call, x, x, call.outs[0].0, 0, l, 0, false)
}

/// c[L + k] = lags(x, y, 0, L + 1)[k] for k ≥ 0, c[L − m] = lags(y, x, 1, L)[m − 1] for m ≥ 1.
fn cross_correlation(call: &Call) -> Result<()> {
    let (x, y, c) = (call.ins[0].0, call.ins[1].0, call.outs[0].0);
    let l = call.params.usize("max_lag") as u64;
    lag_pass(call, x, y, c, 0, l + 1, l, false)?;
    if l > 0 {
        lag_pass(call, y, x, c, 1, l, l - 1, true)?;
    }
    Ok(())
}
