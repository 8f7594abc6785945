//! reductions on CUDA: launches of `reductions.cu`, each one launch (last block combines).

use crate::backend::cuda::kernels::{reduce, BLOCK};
use crate::backend::cuda::{Arg, CudaKernel, Device, Io, Source};
use crate::params::Params;
use crate::Result;
use std::sync::Arc;

pub static SRC: Source = Source {
    name: "reductions",
    text: include_str!("reductions.cu"),
};

macro_rules! plain {
    ($name:literal) => {
        (
            $name,
            (|d, io, _| reduce(d, &SRC, $name, io, &[])) as CudaKernel,
        )
    };
}

/// Shared-memory sub-histograms per block: one per warp when they fit in the default 48 KiB,
/// else one in as much shared memory as the device allows, else none (global atomics).
fn histogram(dev: &Arc<Device>, io: &Io, p: &Params) -> Result<()> {
    let bins = p.usize("bins") as u32;
    let (lo, hi) = (p.f32("lo"), p.f32("hi"));
    let per_copy = bins * 4;
    let copies = if per_copy * 8 <= 48 << 10 {
        8
    } else if per_copy <= dev.info.max_smem_optin {
        1
    } else {
        0
    };
    let smem = per_copy * copies;
    if smem > 48 << 10 {
        dev.allow_smem(&SRC, "reduce_histogram", smem)?;
    }
    let n = io.ins[0].1 as u64;
    let scratch = dev.scratch()?;
    let grid = dev.grid(&SRC, "reduce_histogram", BLOCK, smem, n.div_ceil(16))?;
    dev.launch(
        &SRC,
        "reduce_histogram",
        grid,
        BLOCK,
        smem,
        &[
            Arg::ptr(io.ins[0].0),
            Arg::u64(n),
            Arg::ptr(io.outs[0].0),
            Arg::u32(bins),
            Arg::f32(lo),
            Arg::f32(hi),
            // fl32(hi − lo), as the definition rounds it.
            Arg::f32(hi - lo),
            Arg::u32(copies),
            Arg::ptr(scratch),
        ],
    )
}

pub static KERNELS: &[(&str, CudaKernel)] = &[
    plain!("reduce_sum"),
    plain!("reduce_mean"),
    plain!("reduce_min"),
    plain!("reduce_max"),
    plain!("reduce_argmax"),
    plain!("reduce_argmin"),
    plain!("reduce_l2"),
    plain!("reduce_var"),
    plain!("reduce_stddev"),
    ("reduce_histogram", histogram),
];
