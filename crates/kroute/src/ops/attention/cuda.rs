//! attention on CUDA (`attention.cu`). attention_sdpa and attention_flash share one f32 SIMT
//! flash kernel (same definition, same result; the materialising variant would only cost
//! memory on the device): a block of 256 threads per (b, h, 64 query rows), K/V tiles of 64
//! keys through shared memory, 4 × 4 score and 4 × 8 output micro-tiles in registers, the
//! online softmax per row. A range check first (max |x| of Q, K and V on the device) picks the
//! f32 kernel or an f64 one (`attention_wide`, for the inputs whose f32 scores would overflow or
//! whose V is near the denormals), as the CPU does. rope_apply takes its angles in f64 on the fly; alibi_bias is a
//! grid-stride map over the [32, S, S] scores.

use crate::backend::cuda::{Arg, Call, Kernel, Source, Table};
use crate::{Error, Result};

pub(crate) static CUDA: Table = Table {
    source: Some(&Source {
        name: "attention",
        text: include_str!("attention.cu"),
    }),
    kernels: &[
        Kernel::custom("attention_sdpa", attention),
        Kernel::custom("attention_flash", attention),
        Kernel::custom("rope_apply", rope),
        Kernel::custom("alibi_bias", alibi),
    ],
};

/// Threads per attention block and its tile of query rows (`KR_AT_THREADS`, `KR_AT_BM`).
const THREADS: u32 = 256;
const BM: u64 = 64;
/// Shared memory: Q and K/V tiles of 64 × 132 floats and a P tile of 64 × 68.
const SMEM: u32 = (64 * 132 * 2 + 64 * 68) * 4;

/// (q, k, v, o, n, seq, causal, kv_heads, B, S): one block per (b, h, query tile). S is Q's
/// own (the op's shape rule); `seq` only sizes workloads.
fn attention(call: &Call) -> Result<()> {
    let [b, _, s, _] = call.in_shapes[0][..] else {
        return Err(Error::Shape(format!("{}: Q must be [B, 32, S, 128]", call.name)));
    };
    let (b, s) = (b as u64, s as u64);
    if b == 0 || s == 0 {
        return Ok(());
    }
    let blocks = b * 32 * s.div_ceil(BM);
    let grid = u32::try_from(blocks)
        .ok()
        .filter(|&g| g < i32::MAX as u32)
        .ok_or_else(|| Error::Shape(format!("{}: {blocks} blocks exceed the grid limit", call.name)))?;
    // The range check (max |x| of Q, K and V into the work area), then the f32 kernel and the
    // f64 one, each returning at once where the check says the other runs: no read-back.
    let (amax, _) = call.dev.work_area(16)?;
    let (nq, nkv) = (call.ins[0].1 as u64, call.ins[1].1 as u64);
    call.dev.launch(call.source, "attention_amax_clear", 1, 32, 0, &[Arg::ptr(amax)])?;
    let g = call.dev.grid(call.source, "attention_amax", 256, 0, nq.div_ceil(8))?;
    let (q, k, v, o) = (call.ins[0].0, call.ins[1].0, call.ins[2].0, call.outs[0].0);
    call.dev.launch(
        call.source,
        "attention_amax",
        g,
        256,
        0,
        &[Arg::ptr(q), Arg::ptr(k), Arg::ptr(v), Arg::u64(nq), Arg::u64(nkv), Arg::ptr(amax)],
    )?;
    call.dev.allow_smem(call.source, call.name, SMEM)?;
    call.launch_of(THREADS, grid, SMEM, &[Arg::u64(b), Arg::u64(s), Arg::ptr(amax)], false)?;
    let causal = call.params.usize("causal") as u64;
    let kv = call.params.usize("kv_heads") as u64;
    // A warp per query row.
    let g = call.dev.grid(call.source, "attention_wide", 128, 0, b * 32 * s * 32)?;
    call.dev.launch(
        call.source,
        "attention_wide",
        g,
        128,
        0,
        &[
            Arg::ptr(q),
            Arg::ptr(k),
            Arg::ptr(v),
            Arg::ptr(o),
            Arg::ptr(amax),
            Arg::u64(causal),
            Arg::u64(kv),
            Arg::u64(b),
            Arg::u64(s),
        ],
    )
}

/// (x, y, n, base, tokens): a thread per rotated pair.
fn rope(call: &Call) -> Result<()> {
    let tokens = call.n() / 128;
    if tokens == 0 {
        return Ok(());
    }
    call.launch(call.grid(0, tokens * 64)?, 0, &[Arg::u64(tokens)], false)
}

/// (scores, y, n, S): a grid-stride map.
fn alibi(call: &Call) -> Result<()> {
    let n = call.n();
    let s = call.in_shapes[0].get(1).copied().unwrap_or(0) as u64;
    if n == 0 || s == 0 {
        return Ok(());
    }
    call.launch(call.grid(0, n)?, 0, &[Arg::u64(s)], false)
}
