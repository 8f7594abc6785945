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

/// Shared-memory sub-histograms per block (see `reduce_histogram` in reductions.cu).
fn histogram(dev: &Arc<Device>, io: &Io, p: &Params) -> Result<()> {
    let bins = p.usize("bins") as u32;
    let (lo, hi) = (p.f32("lo"), p.f32("hi"));
    // 32 lane-private copies (padded by one word) while they fit in 48 KiB, else 8 per-warp
    // copies, else one in whatever shared memory the device allows, else none.
    let (copies, stride) = if 32 * (bins + 1) * 4 <= 48 << 10 {
        (32, bins + 1)
    } else if 8 * bins * 4 <= 48 << 10 {
        (8, bins)
    } else if bins * 4 <= dev.info.max_smem_optin {
        (1, bins)
    } else {
        (0, bins)
    };
    let smem = stride * copies * 4;
    let w = hi - lo;
    // 1/w is exact when w is a power of two (and its reciprocal a normal f32).
    let inv_w = if w.is_normal() && (w.to_bits() & 0x7f_ffff) == 0 && (1.0 / w).is_normal() {
        1.0 / w
    } else {
        0.0
    };
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
            Arg::f32(w),
            Arg::f32(inv_w),
            Arg::u32(copies),
            Arg::u32(stride),
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
