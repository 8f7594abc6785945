//! layout on CUDA (`layout.cu`): a shared-memory tiled transpose, and the repacks as maps over
//! records.

use crate::backend::cuda::{Arg, Call, Kernel, Source, Table, BLOCK};
use crate::Result;

pub(crate) static CUDA: Table = Table {
    source: Some(&Source {
        name: "layout",
        text: include_str!("layout.cu"),
    }),
    kernels: &[
        Kernel::custom("transpose_2d", transpose),
        Kernel::map_per("repack_aos_to_soa", 4),
        Kernel::map_per("repack_soa_to_aos", 4),
    ],
};

/// One block per 64×64 tile (grid-stride over the tiles beyond the resident blocks); the side
/// S = √n exactly, the shape rule having required a square matrix.
fn transpose(call: &Call) -> Result<()> {
    let n = call.n();
    if n == 0 {
        return Ok(());
    }
    let s = n.isqrt();
    let tiles = s.div_ceil(64);
    let grid = call.grid(0, tiles * tiles * BLOCK as u64)?;
    call.launch(grid, 0, &[Arg::u64(s)], false)
}
