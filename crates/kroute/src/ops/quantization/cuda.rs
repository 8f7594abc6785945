//! quantization on CUDA: launches of `quantization.cu`.

use crate::backend::cuda::kernels::{map, BLOCK};
use crate::backend::cuda::{Arg, CudaKernel, Device, Io, Source};
use crate::params::Params;
use crate::Result;
use std::sync::Arc;

pub static SRC: Source = Source {
    name: "quantization",
    text: include_str!("quantization.cu"),
};

/// One warp per row of d halves; codes and the row's scale in the same launch.
fn f16_to_i8(dev: &Arc<Device>, io: &Io, p: &Params) -> Result<()> {
    let rows = io.outs[1].1 as u64;
    if rows == 0 {
        return Ok(());
    }
    let grid = dev.grid(&SRC, "quantize_f16_to_i8", BLOCK, 0, rows * 32)?;
    dev.launch(
        &SRC,
        "quantize_f16_to_i8",
        grid,
        BLOCK,
        0,
        &[
            Arg::ptr(io.ins[0].0),
            Arg::ptr(io.outs[0].0),
            Arg::ptr(io.outs[1].0),
            Arg::u64(rows),
            Arg::u64(p.usize("d") as u64),
        ],
    )
}

fn i8_to_f16(dev: &Arc<Device>, io: &Io, p: &Params) -> Result<()> {
    let n = io.outs[0].1 as u64;
    if n == 0 {
        return Ok(());
    }
    let d = p.usize("d") as u64;
    let grid = dev.grid(&SRC, "dequantize_i8_to_f16", BLOCK, 0, n.div_ceil(16))?;
    dev.launch(
        &SRC,
        "dequantize_i8_to_f16",
        grid,
        BLOCK,
        0,
        &[
            Arg::ptr(io.ins[0].0),
            Arg::ptr(io.ins[1].0),
            Arg::ptr(io.outs[0].0),
            Arg::u64(n / d),
            Arg::u64(d),
        ],
    )
}

pub static KERNELS: &[(&str, CudaKernel)] = &[
    ("quantize_f32_to_f16", |d, io, _| {
        map(d, &SRC, "quantize_f32_to_f16", io, &[])
    }),
    ("quantize_f16_to_i8", f16_to_i8),
    ("dequantize_i8_to_f16", i8_to_f16),
];
