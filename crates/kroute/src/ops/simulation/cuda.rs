//! simulation on CUDA (`simulation.cu`): one thread per column of a 2-D grid and strip of 8
//! rows (the strip's column loaded into registers at once), 32×8 (k, j) tiles of a 3-D grid over
//! strips of 8 planes likewise, the integrators as fused maps (each oscillator read and written
//! once, its state in registers across the steps), and Monte Carlo as a one-launch reduction
//! with Philox in the kernel.

use crate::backend::cuda::{Arg, Call, Kernel, Source, Table, BLOCK};
// The side G of an output of G² or G³ cells (exact: the shape rule made the grid square or cubic).
use crate::spec::{side2, side3};
use crate::Result;

pub(crate) static CUDA: Table = Table {
    source: Some(&Source {
        name: "simulation",
        text: include_str!("simulation.cu"),
    }),
    kernels: &[
        Kernel::custom("sim_heat_equation", heat),
        Kernel::custom("sim_wave_equation", grid2),
        Kernel::custom("sim_stencil_2d", grid2),
        Kernel::custom("sim_stencil_3d", grid3),
        Kernel::custom("integrate_rk4", oscillators),
        Kernel::custom("integrate_verlet", oscillators),
        Kernel::custom("monte_carlo_integrate", monte_carlo),
    ],
};

/// Rows (2-D) or planes (3-D) one thread walks (SIM_STRIP in simulation.cu).
const STRIP: u64 = 8;

fn blocks(call: &Call, threads: u64) -> Result<u32> {
    let blocks = threads.div_ceil(BLOCK as u64);
    u32::try_from(blocks).map_err(|_| {
        crate::Error::Device(format!(
            "{}: a grid of {blocks} blocks is too large",
            call.name
        ))
    })
}

/// A 2-D launch: G columns × ⌈G/STRIP⌉ strips of threads, `extras` after G.
fn launch2(call: &Call, g: u64, extras: &[Arg]) -> Result<()> {
    let grid = blocks(call, g * g.div_ceil(STRIP))?;
    let mut a = vec![Arg::u64(g)];
    a.extend_from_slice(extras);
    call.launch(grid, 0, &a, false)
}

/// The wave equation's and the 2-D stencil's grid: the side of the output.
fn grid2(call: &Call) -> Result<()> {
    let cells = call.outs[0].1 as u64;
    if cells == 0 {
        return Ok(());
    }
    launch2(call, side2(cells), &[])
}

/// Blocks of 32 (k) × 8 (j) tiles, one per tile and strip of STRIP planes.
fn grid3(call: &Call) -> Result<()> {
    let cells = call.outs[0].1 as u64;
    if cells == 0 {
        return Ok(());
    }
    let g = side3(cells);
    let (tk, tj) = (g.div_ceil(32), g.div_ceil(8));
    let grid = blocks(call, tk * tj * g.div_ceil(STRIP) * BLOCK as u64)?;
    call.launch(grid, 0, &[Arg::u64(g), Arg::u64(tk), Arg::u64(tj)], false)
}

/// `steps` launches of one step, ping-ponging between the output and a scratch grid (an odd
/// count starts in the output, so the last step writes it). Launch k reads `src`, writes `dst`.
fn heat(call: &Call) -> Result<()> {
    let cells = call.outs[0].1 as u64;
    if cells == 0 {
        return Ok(());
    }
    let g = side2(cells);
    let steps = (call.params.get("steps") as u64).max(1);
    let (u, out) = (call.ins[0].0, call.outs[0].0);
    if steps == 1 {
        return launch2(call, g, &[Arg::ptr(u), Arg::ptr(out)]);
    }
    // The scratch grid: the device's grow-only work area (every step writes all of its grid,
    // boundary included, before the next reads it, so what an earlier call left is never read).
    let (scratch, _) = call.dev.work_area(cells as usize * 4)?;
    let (mut a, mut b) = if steps % 2 == 1 {
        (out, scratch)
    } else {
        (scratch, out)
    };
    launch2(call, g, &[Arg::ptr(u), Arg::ptr(a)])?;
    for _ in 1..steps {
        launch2(call, g, &[Arg::ptr(a), Arg::ptr(b)])?;
        std::mem::swap(&mut a, &mut b);
    }
    Ok(())
}

/// A fused map over the oscillators (the steps loop runs inside each thread), four per thread
/// step.
fn oscillators(call: &Call) -> Result<()> {
    let n = call.n();
    if n == 0 {
        return Ok(());
    }
    call.launch(call.grid(0, n.div_ceil(4))?, 0, &[], false)
}

/// A one-launch reduction: every thread generates and sums whole Philox blocks, the last block
/// combines the block partials in order. N comes from the size-only input's shape.
fn monte_carlo(call: &Call) -> Result<()> {
    let n = call.n();
    let blocks = n.div_ceil(4).max(1);
    let grid = call
        .grid(0, blocks)?
        .min((crate::backend::cuda::SCRATCH_PARTIALS_BYTES / 32) as u32);
    call.launch(grid, 0, &[], true)
}
