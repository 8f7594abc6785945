//! dot_products on CUDA: a group of lanes per row (`dot_products.cu`).

use crate::backend::cuda::{Arg, Call, Kernel, Source, Table};
use crate::error::Result;

pub(crate) static CUDA: Table = Table {
    source: Some(&Source {
        name: "dot_products",
        text: include_str!("dot_products.cu"),
    }),
    kernels: &[
        Kernel::custom("dot_batched", launch),
        Kernel::custom("cosine_similarity", launch),
    ],
};

/// Lanes per row: a power of two giving each lane about four loads (a float4, or one float
/// where d is not a multiple of 4), at most a warp.
fn lanes_per_row(d: u64) -> u32 {
    let loads = if d % 4 == 0 { d / 4 } else { d };
    loads.div_ceil(4).next_power_of_two().clamp(1, 32) as u32
}

/// A group of lanes per row (`Call::launch_rows`), the group's size passed after the row count.
fn launch(call: &Call) -> Result<()> {
    let g = lanes_per_row(call.params.usize("d").max(1) as u64);
    call.launch_rows(g, &[Arg::u32(g)])
}

#[cfg(test)]
mod tests {
    use super::lanes_per_row;

    #[test]
    fn rows_get_about_four_loads_a_lane() {
        assert_eq!(lanes_per_row(1), 1);
        assert_eq!(lanes_per_row(4), 1);
        assert_eq!(lanes_per_row(16), 1);
        assert_eq!(lanes_per_row(20), 2);
        assert_eq!(lanes_per_row(128), 8);
        assert_eq!(lanes_per_row(127), 32);
        assert_eq!(lanes_per_row(33), 16);
        assert_eq!(lanes_per_row(1 << 20), 32);
        assert_eq!(lanes_per_row(1_000_000_000), 32);
    }
}
