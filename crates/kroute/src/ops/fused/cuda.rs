//! fused map-reduce on CUDA: one pass and one launch each (`fused.cu`).

use crate::backend::cuda::{Call, Kernel, Launch, Source, Table, SCRATCH_FLAG};
use crate::{Error, Result};

pub(crate) static CUDA: Table = Table {
    source: Some(&Source {
        name: "fused",
        text: include_str!("fused.cu"),
    }),
    kernels: &[
        Kernel::reduce("map_reduce_abs_sum"),
        Kernel::reduce("map_reduce_square_sum"),
        Kernel::custom("map_reduce_masked_sum", masked_sum),
        Kernel::reduce("map_reduce_threshold_count"),
    ],
};

/// The kernel flags mask bytes other than 0 and 1; reading the flag waits for the kernel,
/// which only this op's error contract requires. The read-back is part of the op — a caller
/// cannot have the sum without it — so a timed call's end event is recorded after it (the
/// harness records it once this returns) and the benchmark counts what the caller pays.
fn masked_sum(call: &Call) -> Result<()> {
    call.run(Launch::Reduce)?;
    if call.dev.read_scratch_u32(SCRATCH_FLAG)? != 0 {
        // Clear the flag for the next call (4 bytes, then wait).
        call.dev.clear_u32(call.dev.scratch()? + SCRATCH_FLAG)?;
        return Err(Error::Value(
            "map_reduce_masked_sum: mask values must be 0 or 1 (found another value)".into(),
        ));
    }
    Ok(())
}
