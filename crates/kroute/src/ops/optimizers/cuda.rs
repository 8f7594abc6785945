//! optimizers on CUDA (`optimizers.cu`): one pass per step in the maps' launch
//! (`Call::launch_map`), with the entries' constants derived in f64 here and rounded once to f32
//! (passed after the spec's parameters, with the `wide` flag that selects the f64 step);
//! grad_clip_norm is Σ g² in one launch, then the scaling pass.

use super::{f32_ok, AdamConsts};
use crate::backend::cuda::{Arg, Call, Kernel, Source, Table, MAP_PER_THREAD, SCRATCH_PARTIALS_BYTES};
use crate::Result;

pub(crate) static CUDA: Table = Table {
    source: Some(&Source {
        name: "optimizers",
        text: include_str!("optimizers.cu"),
    }),
    kernels: &[
        Kernel::custom("opt_sgd", sgd),
        Kernel::custom("opt_sgd_momentum", sgd_momentum),
        Kernel::custom("opt_adam", adam),
        Kernel::custom("opt_adamw", adam),
        Kernel::custom("grad_clip_norm", clip_norm),
        Kernel::map("grad_clip_value"),
    ],
};

fn wide(narrow: bool) -> Arg {
    Arg::u32(!narrow as u32)
}

/// Extras: f32(lr), wide.
fn sgd(call: &Call) -> Result<()> {
    let lr = call.params.get("lr");
    call.launch_map(MAP_PER_THREAD, &[Arg::f32(lr as f32), wide(f32_ok(lr))])
}

/// Extras: f32(lr), f32(μ), wide.
fn sgd_momentum(call: &Call) -> Result<()> {
    let (lr, mu) = (call.params.get("lr"), call.params.get("momentum"));
    call.launch_map(
        MAP_PER_THREAD,
        &[Arg::f32(lr as f32), Arg::f32(mu as f32), wide(f32_ok(lr) && f32_ok(mu))],
    )
}

/// Extras: the eight f32 constants (β1, 1 − β1, β2, 1 − β2, lr/bc1, √bc2, ε, 1 − lr·λ), bc1 and
/// bc2 in f64, wide.
fn adam(call: &Call) -> Result<()> {
    let k = AdamConsts::new(call.params, call.name == "opt_adamw");
    let mut extras: Vec<Arg> = k.f32s().into_iter().map(Arg::f32).collect();
    extras.extend([Arg::f64(k.bc1), Arg::f64(k.bc2), wide(k.narrow())]);
    call.launch_map(MAP_PER_THREAD, &extras)
}

/// Σ g² into the work area (f64) and total, then g·coef; the norm is written even for n = 0.
fn clip_norm(call: &Call) -> Result<()> {
    let (area, _) = call.dev.work_area(8)?;
    let n = call.n();
    let (g, total) = (call.ins[0].0, call.outs[1].0);
    let grid = call
        .dev
        .grid(call.source, "grad_clip_norm_sumsq", crate::backend::cuda::BLOCK, 0, n.div_ceil(16))?
        .min((SCRATCH_PARTIALS_BYTES / 32) as u32);
    call.dev.launch(
        call.source,
        "grad_clip_norm_sumsq",
        grid,
        crate::backend::cuda::BLOCK,
        0,
        &[Arg::ptr(g), Arg::ptr(total), Arg::u64(n), Arg::ptr(area), Arg::ptr(call.dev.scratch()?)],
    )?;
    // The scaling pass stays on resident blocks: each block first reads Σ g² back (a
    // dependent load before its first load of g), once per block rather than once per chunk.
    if n == 0 {
        return Ok(());
    }
    call.launch(call.grid(0, n.div_ceil(16))?, 0, &[Arg::ptr(area)], false)
}
