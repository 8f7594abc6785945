//! scans on CUDA (`scans.cu`): single-pass decoupled look-back over tiles of 4096 elements, the
//! per-tile state in the device's tile-state area. Each call takes a new epoch, which tags the
//! flags it writes, so the area is never cleared between calls.

use crate::backend::cuda::{Arg, Call, Kernel, Source, Table};
use crate::Result;
use std::sync::atomic::{AtomicU32, Ordering};

pub(crate) static CUDA: Table = Table {
    source: Some(&Source {
        name: "scans",
        text: include_str!("scans.cu"),
    }),
    kernels: &[
        Kernel::custom("scan_inclusive", scan),
        Kernel::custom("scan_exclusive", scan),
        Kernel::custom("scan_inclusive_f32", scan),
        Kernel::custom("compact_if", compact),
        Kernel::custom("compact_mask", compact),
    ],
};

/// Elements per tile: 256 threads × 16 (KR_TILE in scans.cu).
const TILE: u64 = 4096;

/// Epochs run through 1 … 2^30 − 1 (a flag holds epoch << 2; 0 is the zeroed area's).
fn next_epoch() -> u32 {
    static EPOCH: AtomicU32 = AtomicU32::new(0);
    EPOCH.fetch_add(1, Ordering::Relaxed) % ((1 << 30) - 1) + 1
}

/// One launch over `tiles` tiles (at least one when `always`: compaction writes its count 0).
fn launch(call: &Call, always: bool) -> Result<()> {
    let tiles = call.n().div_ceil(TILE).max(always as u64);
    if tiles == 0 {
        return Ok(());
    }
    // Counters (256 B), then per tile a u32 flag, a u64 aggregate and a u64 inclusive prefix;
    // the area's capacity in tiles fixes where each array starts.
    let (state, bytes) = call.dev.tile_state((256 + tiles * 20) as usize)?;
    // Even, so that the u64 arrays after the u32 flags start 8-byte aligned (the area is a
    // power of two: (2^23 − 256)/20 would be odd, a misaligned fault above ~8.6e8 elements).
    let cap = (bytes as u64 - 256) / 20 & !1;
    let grid = call.grid(0, tiles * crate::backend::cuda::BLOCK as u64)?;
    call.launch(
        grid,
        0,
        &[
            Arg::ptr(state),
            Arg::u32(next_epoch()),
            Arg::u64(tiles),
            Arg::u64(cap),
        ],
        false,
    )
}

fn scan(call: &Call) -> Result<()> {
    launch(call, false)
}

fn compact(call: &Call) -> Result<()> {
    launch(call, true)
}
