//! fused map-reduce on CUDA: launches of `fused.cu`, one pass and one launch each.

use crate::backend::cuda::kernels::reduce;
use crate::backend::cuda::{Arg, CudaKernel, Device, Io, Source, SCRATCH_FLAG};
use crate::params::Params;
use crate::{Error, Result};
use std::sync::Arc;

pub static SRC: Source = Source {
    name: "fused",
    text: include_str!("fused.cu"),
};

/// The kernel flags mask bytes other than 0 and 1; reading the flag waits for the kernel,
/// which only this op's error contract requires.
fn masked_sum(dev: &Arc<Device>, io: &Io, _: &Params) -> Result<()> {
    reduce(dev, &SRC, "map_reduce_masked_sum", io, &[])?;
    // A timed call's end event goes before the read-back: it measures the kernel.
    crate::backend::cuda::launched(dev)?;
    if dev.read_scratch_u32(SCRATCH_FLAG)? != 0 {
        let flag = dev.scratch()? + SCRATCH_FLAG;
        // Clear the flag for the next call (4 bytes, then wait).
        dev.clear_u32(flag)?;
        return Err(Error::Value(
            "map_reduce_masked_sum: mask values must be 0 or 1 (found another value)".into(),
        ));
    }
    Ok(())
}

pub static KERNELS: &[(&str, CudaKernel)] = &[
    ("map_reduce_abs_sum", |d, io, _| {
        reduce(d, &SRC, "map_reduce_abs_sum", io, &[])
    }),
    ("map_reduce_square_sum", |d, io, _| {
        reduce(d, &SRC, "map_reduce_square_sum", io, &[])
    }),
    ("map_reduce_masked_sum", masked_sum),
    ("map_reduce_threshold_count", |d, io, p| {
        reduce(
            d,
            &SRC,
            "map_reduce_threshold_count",
            io,
            &[Arg::f32(p.f32("t"))],
        )
    }),
];
