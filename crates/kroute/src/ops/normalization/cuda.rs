//! normalization on CUDA (`normalization.cu`): a warp per row (layer, rms) or per group
//! (group_norm), the run in registers at ≤ 1024 elements; batch_norm in three launches over the
//! device's work area (per-chunk column moments, a per-column merge, then y).

use crate::backend::cuda::{Arg, Call, Kernel, Source, Table, BLOCK};
use crate::{Error, Result};

pub(crate) static CUDA: Table = Table {
    source: Some(&Source {
        name: "normalization",
        text: include_str!("normalization.cu"),
    }),
    kernels: &[
        Kernel::rows("layer_norm"),
        Kernel::rows("rms_norm"),
        Kernel::custom("batch_norm", batch_norm),
        Kernel::custom("group_norm", group_norm),
    ],
};

/// (x, γ, β, y, n, groups, eps, C, L, runs): a warp per group of (C/G)·L elements.
fn group_norm(call: &Call) -> Result<()> {
    let [b, c, l] = call.in_shapes[0][..] else {
        return Err(Error::Shape("group_norm: x must be 3-D (B, C, L)".into()));
    };
    let runs = (b * call.params.usize("groups")) as u64;
    if runs == 0 {
        return Ok(());
    }
    let grid = call.grid(0, runs * 32)?;
    call.launch(grid, 0, &[Arg::u64(c as u64), Arg::u64(l as u64), Arg::u64(runs)], false)
}

/// Column moments per chunk of rows into the work area (16 bytes per chunk and column), merged
/// per column into mean, var and the output coefficients (16 + 16 bytes per column), then y.
fn batch_norm(call: &Call) -> Result<()> {
    let d = call.params.usize("d") as u64;
    let rows = call.n() / d;
    if rows == 0 {
        return Ok(());
    }
    // Enough (chunk, column) items to fill the device, at least 32 rows per chunk.
    let resident = call.dev.grid(call.source, "batch_norm_partial", BLOCK, 0, u64::MAX / 2)? as u64 * BLOCK as u64;
    let chunks = resident.div_ceil(d).clamp(1, rows.div_ceil(32));
    let per = rows.div_ceil(chunks);
    let chunks = rows.div_ceil(per);
    let part_bytes = (chunks * d * 16).div_ceil(256) * 256;
    let (area, _) = call.dev.work_area((part_bytes + 32 * d) as usize)?;
    let (part, coef, wide) = (area, area + part_bytes, area + part_bytes + 16 * d);
    let (x, g, b) = (call.ins[0].0, call.ins[1].0, call.ins[2].0);
    let (mean, var) = (call.outs[1].0, call.outs[2].0);
    let eps = call.params.get("eps");
    let grid = call.dev.grid(call.source, "batch_norm_partial", BLOCK, 0, chunks * d)?;
    call.dev.launch(
        call.source,
        "batch_norm_partial",
        grid,
        BLOCK,
        0,
        &[Arg::ptr(x), Arg::ptr(part), Arg::u64(rows), Arg::u64(d), Arg::u64(per), Arg::u64(chunks)],
    )?;
    let grid = call.dev.grid(call.source, "batch_norm_finish", BLOCK, 0, d)?;
    call.dev.launch(
        call.source,
        "batch_norm_finish",
        grid,
        BLOCK,
        0,
        &[
            Arg::ptr(g),
            Arg::ptr(b),
            Arg::ptr(part),
            Arg::ptr(coef),
            Arg::ptr(wide),
            Arg::ptr(mean),
            Arg::ptr(var),
            Arg::u64(rows),
            Arg::u64(d),
            Arg::f64(eps),
            Arg::u64(per),
            Arg::u64(chunks),
        ],
    )?;
    // A block per four rows.
    let grid = call.grid(0, rows.div_ceil(4) * BLOCK as u64)?;
    call.launch(grid, 0, &[Arg::ptr(coef), Arg::ptr(wide), Arg::u64(rows)], false)
}
