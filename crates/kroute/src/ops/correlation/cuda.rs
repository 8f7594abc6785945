//! correlation on CUDA (`correlation.cu`). weighted_sum and weighted_mean are one-launch
//! reductions (the last block combines); covariance and correlation too, with 48-byte block
//! partials (n, means, co-moments). The matrices take two launches: per-block shifted Gram
//! sums over chunks of 64 rows into the device's work area, then one block per output row.

use crate::backend::cuda::{Arg, Call, Kernel, Source, Table, BLOCK, SCRATCH_PARTIALS_BYTES};
use crate::Result;

pub(crate) static CUDA: Table = Table {
    source: Some(&Source {
        name: "correlation",
        text: include_str!("correlation.cu"),
    }),
    kernels: &[
        Kernel::reduce("reduce_weighted_sum"),
        Kernel::reduce("reduce_weighted_mean"),
        Kernel::custom("reduce_covariance", comoments),
        Kernel::custom("reduce_correlation", comoments),
        Kernel::custom("reduce_covariance_matrix", gram),
        Kernel::custom("reduce_pearson_pairwise", gram),
    ],
};

/// (x, y, out, n, scratch): block partials of 6 doubles, so at most PARTIALS / 48 blocks.
fn comoments(call: &Call) -> Result<()> {
    let grid = call
        .grid(0, call.n().div_ceil(16))?
        .min((SCRATCH_PARTIALS_BYTES / 48) as u32);
    call.launch(grid, 0, &[], true)
}

/// Doubles per block partial of corr_gram_partial (S[64], T[64][64]).
const PART: u64 = 64 + 64 * 64;

/// corr_gram_partial (x, part, rows, chunks) over B blocks, then the kernel itself
/// (x, out, n, part, rows, B) on 64 blocks, one per output row.
fn gram(call: &Call) -> Result<()> {
    let rows = call.n() / 64;
    let chunks = rows.div_ceil(64);
    if chunks == 0 {
        return Ok(());
    }
    let blocks = call
        .dev
        .grid(call.source, "corr_gram_partial", BLOCK, 0, chunks * BLOCK as u64)? as u64;
    let (part, _) = call.dev.work_area((blocks * PART * 8) as usize)?;
    call.dev.launch(
        call.source,
        "corr_gram_partial",
        blocks as u32,
        BLOCK,
        0,
        &[Arg::ptr(call.ins[0].0), Arg::ptr(part), Arg::u64(rows), Arg::u64(chunks)],
    )?;
    call.launch(64, 0, &[Arg::ptr(part), Arg::u64(rows), Arg::u64(blocks)], false)
}
