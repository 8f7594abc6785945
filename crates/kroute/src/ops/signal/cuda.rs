//! signal on CUDA (`signal.cu`, and `conv.cu` joined to it): window_apply is a map over the
//! samples; conv1d and fir_filter are the direct form on shared tiles (`KC_TILE` outputs per
//! block); fft_conv1d is one small kernel building the taps' conjugate spectrum and the twiddles
//! into the work area, then overlap-save block FFTs in shared memory (F = 2048, or 4096 for
//! K > 1025; the direct form in double for K > 2049, where no block transform fits, and
//! conv1d's kernel below 64 taps, as on the CPU).

use crate::backend::cuda::{Arg, Call, Kernel, Source, Table};
use crate::Result;

pub(crate) static CUDA: Table = Table {
    source: Some(&Source {
        name: "signal",
        text: concat!(include_str!("signal.cu"), include_str!("conv.cu")),
    }),
    kernels: &[
        Kernel::map("window_apply"),
        Kernel::custom("conv1d", direct),
        Kernel::custom("fir_filter", direct),
        Kernel::custom("fft_conv1d", fft_conv1d),
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
