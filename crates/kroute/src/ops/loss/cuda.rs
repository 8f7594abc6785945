//! loss on CUDA (`loss.cu`): one launch each. mse, mae, huber, bce and kl_div are two-input
//! one-launch reductions (the last block combines); cross_entropy is a warp per row of 1000
//! logits in registers, its row terms reduced the same way.

use crate::backend::cuda::{Arg, Call, Kernel, Source, Table, SCRATCH_FLAG, SCRATCH_PARTIALS_BYTES};
use crate::Result;

pub(crate) static CUDA: Table = Table {
    source: Some(&Source {
        name: "loss",
        text: include_str!("loss.cu"),
    }),
    kernels: &[
        Kernel::reduce("loss_mse"),
        Kernel::reduce("loss_mae"),
        Kernel::reduce("loss_huber"),
        Kernel::custom("loss_cross_entropy", cross_entropy),
        Kernel::reduce("loss_bce"),
        Kernel::reduce("loss_kl_div"),
    ],
};

/// (x, y, out, n, rows, scratch). A target ≥ 1000 sets the 64-bit flag word to
/// (!row << 32 | min(target, 2^32 − 1)) by atomicMax, so the first bad row wins; reading the flag
/// waits for the kernel, which this op's error contract requires (as map_reduce_masked_sum's).
fn cross_entropy(call: &Call) -> Result<()> {
    let rows = call.n() / super::C as u64;
    let grid = call
        .grid(0, rows.max(1) * 32)?
        .min((SCRATCH_PARTIALS_BYTES / 32) as u32);
    call.launch(grid, 0, &[Arg::u64(rows)], true)?;
    match bad_target(call)? {
        Some((row, value)) => Err(super::target_error(row, value)),
        None => Ok(()),
    }
}

/// The first row whose target was out of range, from the 64-bit flag word a row kernel set to
/// (!row << 32 | min(target, 2^32 − 1)) by atomicMax (also fused_softmax_cross_entropy's); the
/// flag is cleared for the next call.
pub(crate) fn bad_target(call: &Call) -> Result<Option<(usize, u64)>> {
    let high = call.dev.read_scratch_u32(SCRATCH_FLAG + 4)?;
    if high == 0 {
        return Ok(None);
    }
    let value = call.dev.read_scratch_u32(SCRATCH_FLAG)?;
    let scratch = call.dev.scratch()?;
    call.dev.clear_u32(scratch + SCRATCH_FLAG)?;
    call.dev.clear_u32(scratch + SCRATCH_FLAG + 4)?;
    Ok(Some((!high as usize, value as u64)))
}

