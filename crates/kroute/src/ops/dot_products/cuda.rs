//! dot_products on CUDA: launches of `dot_products.cu` (one warp per row).

use crate::backend::cuda::kernels::BLOCK;
use crate::backend::cuda::{Arg, CudaKernel, Device, Io, Source};
use crate::params::Params;
use crate::Result;
use std::sync::Arc;

pub static SRC: Source = Source {
    name: "dot_products",
    text: include_str!("dot_products.cu"),
};

fn rows(dev: &Arc<Device>, io: &Io, p: &Params, name: &'static str, extra: &[Arg]) -> Result<()> {
    let rows = io.outs[0].1 as u64;
    if rows == 0 {
        return Ok(());
    }
    let d = p.usize("d") as u64;
    // One warp per row: BLOCK / 32 rows per block.
    let grid = dev.grid(&SRC, name, BLOCK, 0, rows * 32)?;
    let mut args = vec![
        Arg::ptr(io.ins[0].0),
        Arg::ptr(io.ins[1].0),
        Arg::ptr(io.outs[0].0),
        Arg::u64(rows),
        Arg::u64(d),
    ];
    args.extend_from_slice(extra);
    dev.launch(&SRC, name, grid, BLOCK, 0, &args)
}

pub static KERNELS: &[(&str, CudaKernel)] = &[
    ("dot_batched", |d, io, p| rows(d, io, p, "dot_batched", &[])),
    ("cosine_similarity", |d, io, p| {
        rows(d, io, p, "cosine_similarity", &[Arg::f32(p.f32("eps"))])
    }),
];
