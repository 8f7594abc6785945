//! reductions on CUDA: one launch each, the last block combines (`reductions.cu`).

use crate::backend::cuda::{Arg, Call, Kernel, Source, Table};
use crate::Result;

pub(crate) static CUDA: Table = Table {
    source: Some(&Source {
        name: "reductions",
        text: include_str!("reductions.cu"),
    }),
    kernels: &[
        Kernel::reduce("reduce_sum"),
        Kernel::reduce("reduce_mean"),
        Kernel::reduce("reduce_min"),
        Kernel::reduce("reduce_max"),
        Kernel::reduce("reduce_argmax"),
        Kernel::reduce("reduce_argmin"),
        Kernel::reduce("reduce_l2"),
        Kernel::reduce("reduce_var"),
        Kernel::reduce("reduce_stddev"),
        Kernel::custom("reduce_histogram", histogram),
    ],
};

/// Shared-memory sub-histograms per block (see `reduce_histogram` in reductions.cu); extras
/// after the spec's (bins, lo, hi): the scale 2^-e that keeps the formula in the f32 range,
/// fl32(lo·scale), w = fl32(hi·scale − lo·scale), 1/w when exact or 0, and the layout of the
/// sub-histograms.
fn histogram(call: &Call) -> Result<()> {
    let p = call.params;
    let bins = p.usize("bins") as u32;
    let (lo, hi) = (p.f32("lo"), p.f32("hi"));
    // 32 lane-private copies (padded by one word) while they fit in 48 KiB, else 8 per-warp
    // copies, else one in whatever shared memory the device allows, else none.
    let (copies, stride) = if 32 * (bins + 1) * 4 <= 48 << 10 {
        (32, bins + 1)
    } else if 8 * bins * 4 <= 48 << 10 {
        (8, bins)
    } else if bins * 4 <= call.dev.max_smem_optin() {
        (1, bins)
    } else {
        (0, bins)
    };
    let smem = stride * copies * 4;
    let scale = super::histogram_scale(bins as usize, lo, hi);
    let lo_s = lo * scale;
    let w = hi * scale - lo_s;
    // 1/w is exact when w is a power of two (and its reciprocal a normal f32).
    let inv_w = if w.is_normal() && (w.to_bits() & 0x7f_ffff) == 0 && (1.0 / w).is_normal() {
        1.0 / w
    } else {
        0.0
    };
    if smem > 48 << 10 {
        call.dev.allow_smem(call.source, call.name, smem)?;
    }
    let grid = call.grid(smem, call.n().div_ceil(16))?;
    call.launch(
        grid,
        smem,
        &[
            Arg::f32(scale),
            Arg::f32(lo_s),
            Arg::f32(w),
            Arg::f32(inv_w),
            Arg::u32(copies),
            Arg::u32(stride),
        ],
        true,
    )
}
