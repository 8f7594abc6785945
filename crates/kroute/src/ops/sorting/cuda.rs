//! sorting on CUDA (`sorting.cu`): an LSD radix sort (per pass: chunk counts, one-block scan,
//! stable scatter), the bitonic network (shared-memory tiles plus global steps, padding
//! virtual), and radix select for the selections. Every kernel sequence runs on the device's
//! one stream, with its temporaries in the device's work area (`Device::work_area`, contents
//! left from earlier calls: every kernel sequence writes what it reads first): the radix
//! sort's chunk offsets and second key buffer, the kv composites, the selection state.

use super::{median_ranks, percentile_ranks, percentiles, topk_k};
use crate::backend::cuda::{Arg, Call, Kernel, Source, Table, BLOCK};
use crate::{Error, Result};

pub(crate) static CUDA: Table = Table {
    source: Some(&Source {
        name: "sorting",
        text: include_str!("sorting.cu"),
    }),
    kernels: &[
        Kernel::custom("sort_radix", sort_radix),
        Kernel::custom("sort_bitonic", sort_bitonic),
        Kernel::custom("sort_bitonic_kv", sort_bitonic_kv),
        Kernel::custom("topk_select", topk_select),
        Kernel::custom("median_select", median_select),
        Kernel::custom("percentile_select", percentile_select),
    ],
};

/// Keys per radix tile (256 threads × 16; KS_TILE in sorting.cu).
const TILE: u64 = 4096;
/// Bitonic shared-memory tiles (KS_TL32, KS_TL64).
const TL32: u64 = 8192;
const TL64: u64 = 4096;
/// Selection state: 512 bytes of targets, then 16 histograms of 2048 u32.
const SELECT_STATE: u64 = 512 + 16 * 2048 * 4;

fn align(bytes: u64) -> u64 {
    bytes.div_ceil(256) * 256
}

/// The start of the work area, at least `bytes` long.
fn area(call: &Call, bytes: u64) -> Result<u64> {
    Ok(call.dev.work_area(align(bytes).max(256) as usize)?.0)
}

/// The device kernels index with u32 counts and positions.
fn check_n(call: &Call) -> Result<u64> {
    let n = call.n();
    if n >= 1 << 32 {
        return Err(Error::Shape(format!(
            "{}: the cuda implementation sorts and selects fewer than 2^32 elements, got {n}",
            call.name
        )));
    }
    Ok(n)
}

fn launch(call: &Call, name: &'static str, grid: u32, args: &[Arg]) -> Result<()> {
    call.dev.launch(call.source, name, grid, BLOCK, 0, args)
}

/// Blocks for `threads` threads' worth of work, at most as many as are resident.
fn grid(call: &Call, name: &'static str, threads: u64) -> Result<u32> {
    call.dev.grid(call.source, name, BLOCK, 0, threads)
}

// ---- radix sort ------------------------------------------------------------------------------

fn sort_radix(call: &Call) -> Result<()> {
    let n = check_n(call)?;
    if n == 0 {
        return Ok(());
    }
    let (x, y) = (call.ins[0].0, call.outs[0].0);
    let tiles = n.div_ceil(TILE);
    // One chunk of `per` consecutive tiles per block, as many blocks as are resident.
    let blocks = grid(call, "sort_radix_scatter", tiles * BLOCK as u64)? as u64;
    let per = tiles.div_ceil(blocks);
    let chunks = tiles.div_ceil(per);
    // Per chunk and digit a u32 count, then position; then the second key buffer.
    let offsets_bytes = align(chunks * 256 * 4);
    let data = area(call, offsets_bytes + 4 * n)?;
    let (offsets, tmp) = (data, data + offsets_bytes);
    // x → tmp → y → tmp → y: the input is never written.
    let route = [(x, tmp), (tmp, y), (y, tmp), (tmp, y)];
    for (pass, &(from, to)) in route.iter().enumerate() {
        let (count, scatter) = match pass {
            0 => ("sort_radix_count_first", "sort_radix_scatter_first"),
            3 => ("sort_radix_count", "sort_radix_scatter_last"),
            _ => ("sort_radix_count", "sort_radix_scatter"),
        };
        let shift = Arg::u32(8 * pass as u32);
        let g = chunks as u32;
        launch(
            call,
            count,
            g,
            &[
                Arg::ptr(from),
                Arg::u64(n),
                shift,
                Arg::ptr(offsets),
                Arg::u64(tiles),
                Arg::u64(per),
            ],
        )?;
        launch(
            call,
            "sort_radix_scan",
            1,
            &[Arg::ptr(offsets), Arg::u64(chunks)],
        )?;
        launch(
            call,
            scatter,
            g,
            &[
                Arg::ptr(from),
                Arg::ptr(to),
                Arg::u64(n),
                shift,
                Arg::ptr(offsets),
                Arg::u64(tiles),
                Arg::u64(per),
            ],
        )?;
    }
    Ok(())
}

// ---- bitonic -----------------------------------------------------------------------------------

/// The network over `n` slots of `a` (u64 composites when `wide`, else u32 keys), P = the
/// next power of two, slots ≥ n virtual. The first kernel reads `src` (f32 bits made keys when
/// `keyin`), the last writes f32 bits back when `keyout`.
fn bitonic(
    call: &Call,
    wide: bool,
    src: u64,
    a: u64,
    n: u64,
    keyin: bool,
    keyout: bool,
) -> Result<()> {
    if n == 0 {
        return Ok(());
    }
    let (tl, local, step) = if wide {
        (TL64, "bitonic_local_u64", "bitonic_step_u64")
    } else {
        (TL32, "bitonic_local_u32", "bitonic_step_u32")
    };
    let p = n.next_power_of_two();
    let tiles = n.div_ceil(tl);
    let lg = grid(call, local, tiles * BLOCK as u64)?;
    let local_args = |src: u64, full: bool, kin: bool, kout: bool| {
        [
            Arg::ptr(src),
            Arg::ptr(a),
            Arg::u64(n),
            Arg::u32(full as u32),
            Arg::u32(kin as u32),
            Arg::u32(kout as u32),
        ]
    };
    launch(
        call,
        local,
        lg,
        &local_args(src, true, keyin, keyout && p <= tl),
    )?;
    let pairs = (p / 2).min(n);
    let sg = grid(call, step, pairs)?;
    let mut k = 2 * tl;
    while k <= p {
        let mut j = k / 2;
        let mut flip = true;
        while j >= tl {
            launch(
                call,
                step,
                sg,
                &[
                    Arg::ptr(a),
                    Arg::u64(n),
                    Arg::u64(j),
                    Arg::u32(flip as u32),
                    Arg::u64(pairs),
                ],
            )?;
            flip = false;
            j /= 2;
        }
        launch(
            call,
            local,
            lg,
            &local_args(a, false, false, keyout && k == p),
        )?;
        k *= 2;
    }
    Ok(())
}

fn sort_bitonic(call: &Call) -> Result<()> {
    let n = check_n(call)?;
    // Sorted in place in y: the first tile pass reads x.
    bitonic(call, false, call.ins[0].0, call.outs[0].0, n, true, true)
}

fn sort_bitonic_kv(call: &Call) -> Result<()> {
    let n = check_n(call)?;
    if n == 0 {
        return Ok(());
    }
    let (keys, values) = (call.ins[0].0, call.ins[1].0);
    let (keys_out, values_out) = (call.outs[0].0, call.outs[1].0);
    let c = area(call, 8 * n)?;
    let g = grid(call, "bitonic_kv_prep", n)?;
    launch(
        call,
        "bitonic_kv_prep",
        g,
        &[Arg::ptr(keys), Arg::ptr(c), Arg::u64(n)],
    )?;
    bitonic(call, true, c, c, n, false, false)?;
    let g = grid(call, "bitonic_kv_finish", n)?;
    launch(
        call,
        "bitonic_kv_finish",
        g,
        &[
            Arg::ptr(c),
            Arg::ptr(values),
            Arg::ptr(keys_out),
            Arg::ptr(values_out),
            Arg::u64(n),
        ],
    )
}

// ---- selections --------------------------------------------------------------------------------

/// Initialise the selection state at `st` with up to 10 ranks (targets 0 …).
fn select_init(call: &Call, st: u64, ranks: &[usize]) -> Result<()> {
    let mut args = vec![Arg::ptr(st), Arg::u32(ranks.len() as u32)];
    args.extend((0..10).map(|q| Arg::u64(*ranks.get(q).unwrap_or(&0) as u64)));
    launch(call, "select_init", 1, &args)
}

/// The three rounds of radix select for targets t0 … t0 + count − 1 (mode 0: keys of x;
/// mode 1: indices of the keys tied with target 0).
fn select_rounds(call: &Call, st: u64, n: u64, t0: u32, count: u32, mode: u32) -> Result<()> {
    let x = call.ins[0].0;
    let g = grid(call, "select_hist", n.div_ceil(4))?;
    for round in 0..3u32 {
        launch(
            call,
            "select_hist",
            g,
            &[
                Arg::ptr(x),
                Arg::u64(n),
                Arg::ptr(st),
                Arg::u32(round),
                Arg::u32(t0),
                Arg::u32(count),
                Arg::u32(mode),
            ],
        )?;
        launch(
            call,
            "select_pick",
            1,
            &[
                Arg::ptr(st),
                Arg::u32(round),
                Arg::u32(t0),
                Arg::u32(count),
                Arg::u32(mode),
            ],
        )?;
    }
    Ok(())
}

/// The order statistics `ranks` (ascending ranks of a non-empty input of n keys) selected:
/// the selection state holding them.
fn select_ranks(call: &Call, n: u64, ranks: &[usize]) -> Result<u64> {
    let st = area(call, SELECT_STATE)?;
    select_init(call, st, ranks)?;
    select_rounds(call, st, n, 0, ranks.len() as u32, 0)?;
    Ok(st)
}

/// N of an order statistic's input, which must not be empty.
fn nonempty_n(call: &Call) -> Result<u64> {
    let n = check_n(call)?;
    if n == 0 {
        return Err(Error::Empty(format!(
            "{} of an empty input has no value",
            call.name
        )));
    }
    Ok(n)
}

fn median_select(call: &Call) -> Result<()> {
    let n = nonempty_n(call)?;
    let (lo, hi) = median_ranks(n as usize);
    let ranks: Vec<usize> = if lo == hi { vec![lo] } else { vec![lo, hi] };
    let st = select_ranks(call, n, &ranks)?;
    launch(
        call,
        "median_finish",
        1,
        &[Arg::ptr(st), Arg::ptr(call.outs[0].0), Arg::u64(n)],
    )
}

fn percentile_select(call: &Call) -> Result<()> {
    let n = nonempty_n(call)?;
    let qs = percentiles(call.params);
    let ranks = percentile_ranks(n as usize, &qs);
    let st = select_ranks(call, n, &ranks)?;
    let mut args = vec![Arg::ptr(st), Arg::ptr(call.outs[0].0), Arg::u64(n)];
    args.extend(qs.iter().map(|&q| Arg::f64(q)));
    args.push(Arg::u32(ranks.len() as u32));
    launch(call, "percentile_finish", 1, &args)
}

fn topk_select(call: &Call) -> Result<()> {
    let n = check_n(call)?;
    let k = topk_k(n as usize, call.params)? as u64;
    let st = area(call, SELECT_STATE + 8 * k)?;
    let cand = st + SELECT_STATE;
    // Target 0: the k-th largest key, rank n − k ascending.
    select_init(call, st, &[(n - k) as usize])?;
    select_rounds(call, st, n, 0, 1, 0)?;
    launch(call, "topk_mid", 1, &[Arg::ptr(st)])?;
    // Target 1 (skipped when every tied key belongs): the last tied index that belongs.
    select_rounds(call, st, n, 1, 1, 1)?;
    let x = call.ins[0].0;
    let g = grid(call, "topk_compact", n.div_ceil(4))?;
    launch(
        call,
        "topk_compact",
        g,
        &[Arg::ptr(x), Arg::u64(n), Arg::ptr(st), Arg::ptr(cand)],
    )?;
    bitonic(call, true, cand, cand, k, false, false)?;
    let g = grid(call, "topk_write", k)?;
    launch(
        call,
        "topk_write",
        g,
        &[
            Arg::ptr(cand),
            Arg::ptr(call.outs[0].0),
            Arg::ptr(call.outs[1].0),
            Arg::u64(k),
        ],
    )
}
