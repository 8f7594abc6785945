//! The `(kernel, cuda)` registry. Each domain's launch functions live beside its spec in
//! `ops/<domain>/cuda.rs` (with its `<domain>.cu`); they are compiled in here, so the domain
//! modules need not know about the feature.

use super::{Arg, CudaKernel, Device, Io, Source};
use crate::error::Result;
use std::sync::Arc;

#[path = "../../ops/activations/cuda.rs"]
mod activations;
#[path = "../../ops/dot_products/cuda.rs"]
mod dot_products;
#[path = "../../ops/elementwise/cuda.rs"]
mod elementwise;
#[path = "../../ops/fused/cuda.rs"]
mod fused;
#[path = "../../ops/quantization/cuda.rs"]
mod quantization;
#[path = "../../ops/reductions/cuda.rs"]
mod reductions;

type Entry = (&'static str, CudaKernel);

fn table() -> impl Iterator<Item = &'static Entry> {
    [
        elementwise::KERNELS,
        activations::KERNELS,
        reductions::KERNELS,
        fused::KERNELS,
        dot_products::KERNELS,
        quantization::KERNELS,
    ]
    .into_iter()
    .flatten()
}

/// The cuda evaluation of a kernel, if this build has one.
pub fn find(name: &str) -> Option<CudaKernel> {
    table().find(|(n, _)| *n == name).map(|(_, k)| *k)
}

/// Every domain's CUDA source, in catalog order.
pub fn sources() -> &'static [&'static Source] {
    static ALL: [&Source; 6] = [
        &elementwise::SRC,
        &activations::SRC,
        &reductions::SRC,
        &fused::SRC,
        &dot_products::SRC,
        &quantization::SRC,
    ];
    &ALL
}

/// Threads per block for every kernel here: 8 warps, a multiple of 32 as the block reductions
/// need, and small enough that 8 blocks fit on an SM at full occupancy.
pub const BLOCK: u32 = 256;

/// A grid-stride map over `n` elements: `(inputs…, output, n, extra…)`. Each thread step
/// covers 16 elements (4 × float4), which sizes the grid.
pub fn map(
    dev: &Arc<Device>,
    src: &'static Source,
    name: &'static str,
    io: &Io,
    extra: &[Arg],
) -> Result<()> {
    let n = io.outs[0].1 as u64;
    if n == 0 {
        return Ok(());
    }
    let grid = dev.grid(src, name, BLOCK, 0, n.div_ceil(16))?;
    let mut args: Vec<Arg> = io.ins.iter().map(|&(p, _)| Arg::ptr(p)).collect();
    args.push(Arg::ptr(io.outs[0].0));
    args.push(Arg::u64(n));
    args.extend_from_slice(extra);
    dev.launch(src, name, grid, BLOCK, 0, &args)
}

/// A one-launch reduction `(inputs…, n, output, extra…, scratch)` over the first input's n.
/// Empty inputs still launch one block, which writes the identity.
pub fn reduce(
    dev: &Arc<Device>,
    src: &'static Source,
    name: &'static str,
    io: &Io,
    extra: &[Arg],
) -> Result<()> {
    let n = io.ins[0].1 as u64;
    let scratch = dev.scratch()?;
    let grid = dev.grid(src, name, BLOCK, 0, n.div_ceil(16))?;
    let grid = grid.min((super::SCRATCH_PARTIALS_BYTES / 32) as u32);
    let mut args: Vec<Arg> = io.ins.iter().map(|&(p, _)| Arg::ptr(p)).collect();
    args.push(Arg::u64(n));
    args.push(Arg::ptr(io.outs[0].0));
    args.extend_from_slice(extra);
    args.push(Arg::ptr(scratch));
    dev.launch(src, name, grid, BLOCK, 0, &args)
}
