//! fused_custom on CUDA (`fused_custom.cu`), compiled after the sources it borrows from
//! (normalization's row statistics, the optimizers' Adam step and Σ g², the scans' look-back), so
//! that nothing is copied. One launch per kernel except fused_adam_clip_update (Σ g², then the
//! step: the global norm forces the second phase), fused_attention_softmax_v (each head's max
//! |V| first, for its range scaling) and fused_rope_attention_mask (tables, the per-head range
//! check, then the f32 kernel and the f64 one, each skipping the heads the other computes).

use super::{inv_keep, target_error, AT_D, AT_S, CE_C, LN_D};
use crate::backend::cuda::{Arg, Call, Kernel, Source, Table, BLOCK, SCRATCH_FLAG, SCRATCH_PARTIALS_BYTES};
use crate::ops::optimizers::AdamConsts;
use crate::Result;

pub(crate) static CUDA: Table = Table {
    source: Some(&Source {
        name: "fused_custom",
        text: concat!(
            include_str!("../normalization/normalization.cu"),
            include_str!("../optimizers/optimizers.cu"),
            include_str!("../scans/scans.cu"),
            include_str!("fused_custom.cu"),
        ),
    }),
    kernels: &[
        Kernel::custom("fused_layernorm_dropout_residual", layernorm_dropout_residual),
        Kernel::custom("fused_scan_compact", scan_compact),
        Kernel::custom("fused_adam_clip_update", adam_clip_update),
        Kernel::custom("fused_softmax_cross_entropy", softmax_cross_entropy),
        Kernel::custom("fused_attention_softmax_v", attention_softmax_v),
        Kernel::custom("fused_rope_attention_mask", rope_attention_mask),
    ],
};

/// A warp per row; extras f32(1/keep) and the row count, then the scratch area, whose flag
/// reports mask bytes other than 0/1 (read back, as map_reduce_masked_sum's: the error contract
/// needs it).
fn layernorm_dropout_residual(call: &Call) -> Result<()> {
    let rows = call.n() / LN_D as u64;
    if rows == 0 {
        return Ok(());
    }
    let ik = inv_keep(call.params.get("keep"));
    call.launch(call.grid(0, rows * 32)?, 0, &[Arg::f32(ik), Arg::u64(rows)], true)?;
    if call.dev.read_scratch_u32(SCRATCH_FLAG)? != 0 {
        call.dev.clear_u32(call.dev.scratch()? + SCRATCH_FLAG)?;
        return Err(super::mask_error(None));
    }
    Ok(())
}

/// compact_if's launch (tiles of 4096, at least one: the count is written for n = 0).
fn scan_compact(call: &Call) -> Result<()> {
    crate::ops::scans::cuda::launch(call, crate::ops::scans::cuda::COMPACT, true)
}

/// Σ g² by grad_clip_norm_sumsq into the work area (f64) and total, then the clipped Adam step
/// with opt_adam's extras (eight f32 constants, bc1, bc2, wide) and the area.
fn adam_clip_update(call: &Call) -> Result<()> {
    let (area, _) = call.dev.work_area(8)?;
    let n = call.n();
    let (g, total) = (call.ins[1].0, call.outs[3].0);
    let grid = call
        .dev
        .grid(call.source, "grad_clip_norm_sumsq", BLOCK, 0, n.div_ceil(16))?
        .min((SCRATCH_PARTIALS_BYTES / 32) as u32);
    call.dev.launch(
        call.source,
        "grad_clip_norm_sumsq",
        grid,
        BLOCK,
        0,
        &[Arg::ptr(g), Arg::ptr(total), Arg::u64(n), Arg::ptr(area), Arg::ptr(call.dev.scratch()?)],
    )?;
    if n == 0 {
        return Ok(());
    }
    let k = AdamConsts::new(call.params, false);
    let mut extras: Vec<Arg> = k.f32s().into_iter().map(Arg::f32).collect();
    extras.extend([Arg::f64(k.bc1), Arg::f64(k.bc2), Arg::u32(!k.narrow() as u32), Arg::ptr(area)]);
    call.launch(call.grid(0, n.div_ceil(16))?, 0, &extras, false)
}

/// A warp per row, the row losses reduced in the same launch; a target ≥ 256 sets the 64-bit
/// flag (!row << 32 | target) by atomicMax, read back as loss_cross_entropy's.
fn softmax_cross_entropy(call: &Call) -> Result<()> {
    let rows = call.n() / CE_C as u64;
    let grid = call
        .grid(0, rows.max(1) * 32)?
        .min((SCRATCH_PARTIALS_BYTES / 32) as u32);
    call.launch(grid, 0, &[Arg::u64(rows)], true)?;
    match crate::ops::loss::cuda::bad_target(call)? {
        Some((row, value)) => Err(target_error(row, value)),
        None => Ok(()),
    }
}

/// Threads of the per-head max |x| blocks (`KR_HEAD_THREADS`).
const HEAD_THREADS: u32 = 1024;

/// Blocks of 256 threads over (head, query tile) work items, grid-striding when there are more
/// than the device holds at once.
fn tiles_grid(call: &Call, items: u64) -> Result<u32> {
    call.grid(0, items * BLOCK as u64)
}

/// max |V| of each head into the work area (fused_softmax_v_amax, a block of 1024 per head), then a
/// block per (head, 64 query rows) with extras: the head count and that area. A head whose max
/// lies outside [2^-100, 2^100] has V scaled by an exact power of two on the device (the f32
/// accumulation Σ p_j V_j would overflow or fall among the denormals): no read-back.
fn attention_softmax_v(call: &Call) -> Result<()> {
    let heads = call.n() / (AT_S * AT_S) as u64;
    if heads == 0 {
        return Ok(());
    }
    let (amax, _) = call.dev.work_area(4 * heads as usize)?;
    let v = call.ins[1].0;
    let grid = call.dev.grid(call.source, "fused_softmax_v_amax", HEAD_THREADS, 0, heads * HEAD_THREADS as u64)?;
    call.dev.launch(
        call.source,
        "fused_softmax_v_amax",
        grid,
        HEAD_THREADS,
        0,
        &[Arg::ptr(v), Arg::ptr(amax), Arg::u64(heads)],
    )?;
    let extras = [Arg::u64(heads), Arg::ptr(amax)];
    call.launch(tiles_grid(call, heads * (AT_S as u64 / 64))?, 0, &extras, false)
}

/// The cos/sin tables into the work area (fused_rope_tables: f64 angles, the tables rounded
/// once to f32 and kept in f64 too), the per-head range check (fused_rope_amax: max |x| of Q, K
/// and V, a block of 1024 per head), then the f32 kernel (a block per (head, 32 query rows);
/// extras: the head count, the two f32 tables and the check) and the f64 one (fused_rope_wide:
/// a warp per query row of the heads the check sends there, as the CPU's per-head route). Each
/// skips the heads the other computes: both are launched, nothing is read back.
fn rope_attention_mask(call: &Call) -> Result<()> {
    let heads = call.n() / (AT_S * AT_D) as u64;
    if heads == 0 {
        return Ok(());
    }
    let table = (AT_S * AT_D / 2) as u64;
    // f32 cos, f32 sin, f64 cos, f64 sin, then 3 u32 a head.
    let (area, _) = call.dev.work_area((24 * table + 12 * heads) as usize)?;
    let (cos, sin) = (area, area + 4 * table);
    let (cos64, sin64, amax) = (area + 8 * table, area + 16 * table, area + 24 * table);
    let base = call.params.f32("rope_base");
    let grid = call.dev.grid(call.source, "fused_rope_tables", BLOCK, 0, table)?;
    call.dev.launch(
        call.source,
        "fused_rope_tables",
        grid,
        BLOCK,
        0,
        &[Arg::ptr(cos), Arg::ptr(sin), Arg::f32(base), Arg::ptr(cos64), Arg::ptr(sin64)],
    )?;
    let (q, k, v, out) = (call.ins[0].0, call.ins[1].0, call.ins[2].0, call.outs[0].0);
    let grid = call.dev.grid(call.source, "fused_rope_amax", HEAD_THREADS, 0, heads * HEAD_THREADS as u64)?;
    call.dev.launch(
        call.source,
        "fused_rope_amax",
        grid,
        HEAD_THREADS,
        0,
        &[Arg::ptr(q), Arg::ptr(k), Arg::ptr(v), Arg::ptr(amax), Arg::u64(heads)],
    )?;
    let extras = [Arg::u64(heads), Arg::ptr(cos), Arg::ptr(sin), Arg::ptr(amax)];
    call.launch(tiles_grid(call, heads * (AT_S as u64 / 32))?, 0, &extras, false)?;
    // A warp per query row (blocks of 4 warps).
    let rows = heads * AT_S as u64;
    let grid = call.dev.grid(call.source, "fused_rope_wide", WIDE_THREADS, 0, rows * 32)?;
    call.dev.launch(
        call.source,
        "fused_rope_wide",
        grid,
        WIDE_THREADS,
        0,
        &[
            Arg::ptr(q),
            Arg::ptr(k),
            Arg::ptr(v),
            Arg::ptr(out),
            Arg::u64(heads),
            Arg::ptr(cos64),
            Arg::ptr(sin64),
            Arg::ptr(amax),
        ],
    )
}

/// Threads of a fused_rope_wide block (32 · `KR_RW_WARPS`).
const WIDE_THREADS: u32 = 128;
