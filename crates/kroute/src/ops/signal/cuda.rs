//! signal on CUDA (`signal.cu`, then `lags.cu`): window_apply is a map over the samples;
//! autocorrelation and cross_correlation are lag sums in two launches each (`lags.cu`).

use crate::backend::cuda::{Arg, Call, Kernel, Source, Table, BLOCK};
use crate::Result;

pub(crate) static CUDA: Table = Table {
    source: Some(&Source {
        name: "signal",
        text: concat!(include_str!("signal.cu"), include_str!("lags.cu")),
    }),
    kernels: &[
        Kernel::map("window_apply"),
        Kernel::custom("autocorrelation", autocorrelation),
        Kernel::custom("cross_correlation", cross_correlation),
    ],
};

/// Samples per chunk of lag_partial (KR_LAG_CHUNK).
const LAG_CHUNK: u64 = 4096;

/// lags(a, b, k0, nl) (lags.cu) into out[base + j], or out[base − j] when `reverse`: the chunk
/// partials of the nl' = min(nl, N − k0) lags that have terms into the work area, then
/// lag_finish over all nl lags (the others are 0).
#[allow(clippy::too_many_arguments)]
fn lag_pass(call: &Call, a: u64, b: u64, out: u64, k0: u64, nl: u64, base: u64, reverse: bool) -> Result<()> {
    if nl == 0 {
        return Ok(());
    }
    let n = call.n();
    let len = n.saturating_sub(k0);
    let live = nl.min(len);
    let chunks = if live == 0 { 0 } else { len.div_ceil(LAG_CHUNK) };
    let mut part = 0;
    if chunks > 0 {
        // Lags per thread: enough threads busy at L = 256, registers for more.
        let (lpt, name) = match live {
            0..=256 => (1, "lag_partial_1"),
            257..=512 => (2, "lag_partial_2"),
            _ => (4, "lag_partial_4"),
        };
        let tl = BLOCK as u64 * lpt;
        let (area, _) = call.dev.work_area((chunks * live * 8) as usize)?;
        part = area;
        // a's chunk (KR_LAG_CHUNK) and b's window (chunk + tile − 1) in shared memory.
        let smem = ((2 * LAG_CHUNK + tl) * 4) as u32;
        let blocks = u32::try_from(chunks * live.div_ceil(tl)).map_err(|_| {
            crate::Error::Shape(format!("{}: {chunks} chunks × {live} lags exceed one grid", call.name))
        })?;
        call.dev.launch(
            call.source,
            name,
            blocks,
            BLOCK,
            smem,
            &[Arg::ptr(a), Arg::ptr(b), Arg::ptr(part), Arg::u64(n), Arg::u64(k0), Arg::u64(live), Arg::u64(chunks)],
        )?;
    }
    let grid = call.dev.grid(call.source, "lag_finish", BLOCK, 0, nl)?;
    call.dev.launch(
        call.source,
        "lag_finish",
        grid,
        BLOCK,
        0,
        &[
            Arg::ptr(part),
            Arg::ptr(out),
            Arg::u64(nl),
            Arg::u64(live),
            Arg::u64(chunks),
            Arg::u64(base),
            Arg::u64(reverse as u64),
        ],
    )
}

/// r[k] = lags(x, x, 0, L)[k].
fn autocorrelation(call: &Call) -> Result<()> {
    let x = call.ins[0].0;
    let l = call.params.usize("max_lag") as u64;
    lag_pass(call, x, x, call.outs[0].0, 0, l, 0, false)
}

/// c[L + k] = lags(x, y, 0, L + 1)[k] for k ≥ 0, c[L − m] = lags(y, x, 1, L)[m − 1] for m ≥ 1.
fn cross_correlation(call: &Call) -> Result<()> {
    let (x, y, c) = (call.ins[0].0, call.ins[1].0, call.outs[0].0);
    let l = call.params.usize("max_lag") as u64;
    lag_pass(call, x, y, c, 0, l + 1, l, false)?;
    if l > 0 {
        lag_pass(call, y, x, c, 1, l, l - 1, true)?;
    }
    Ok(())
}
