//! scans on CUDA (`scans.cu`): single-pass decoupled look-back over tiles of 4096 elements
//! (the f32 scan: 8192), the
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
        Kernel::custom("scan_inclusive", scan_u32),
        Kernel::custom("scan_exclusive", scan_u32),
        Kernel::custom("scan_inclusive_f32", scan_f32),
        Kernel::custom("compact_if", compact),
        Kernel::custom("compact_mask", compact),
    ],
};

/// Threads per block and elements per tile (threads × 4 × chunks), as scans.cu's KR_U32_*,
/// KR_F32_* and KR_COMPACT_* define them.
const U32: Shape = Shape { block: 128, tile: 128 * 4 * 8 };
const F32: Shape = Shape { block: 256, tile: 256 * 4 * 8 };
pub(crate) const COMPACT: Shape = Shape { block: 128, tile: 128 * 4 * 8 };

pub(crate) struct Shape {
    block: u32,
    tile: u64,
}

/// Epochs run through 1 … 2^30 − 1 (a flag holds epoch << 2; 0 is the zeroed area's).
fn next_epoch() -> u32 {
    static EPOCH: AtomicU32 = AtomicU32::new(0);
    EPOCH.fetch_add(1, Ordering::Relaxed) % ((1 << 30) - 1) + 1
}

/// One launch over the tiles (at least one when `always`: compaction writes its count 0).
pub(crate) fn launch(call: &Call, shape: Shape, always: bool) -> Result<()> {
    let tiles = call.n().div_ceil(shape.tile).max(always as u64);
    if tiles == 0 {
        return Ok(());
    }
    // Counters (256 B), then per tile a u32 flag, a u64 aggregate, a u64 inclusive prefix and
    // a u64 packed status word; the area's capacity in tiles fixes where each array starts.
    let (state, bytes) = call.dev.tile_state((256 + tiles * 28) as usize)?;
    // Even, so that the u64 arrays after the u32 flags start 8-byte aligned (the area is a
    // power of two: (2^23 − 256)/20 was odd, a misaligned fault above ~8.6e8 elements).
    let cap = (bytes as u64 - 256) / 28 & !1;
    let grid = call.grid_of(shape.block, 0, tiles * shape.block as u64)?;
    call.launch_of(
        shape.block,
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

fn scan_u32(call: &Call) -> Result<()> {
    launch(call, U32, false)
}

fn scan_f32(call: &Call) -> Result<()> {
    launch(call, F32, false)
}

fn compact(call: &Call) -> Result<()> {
    launch(call, COMPACT, true)
}
