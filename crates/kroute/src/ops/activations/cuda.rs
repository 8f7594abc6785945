//! activations on CUDA: every kernel of `activations.cu` is a grid-stride map.

use crate::backend::cuda::{Kernel, Source, Table};

pub(crate) static CUDA: Table = Table {
    source: Some(&Source {
        name: "activations",
        text: include_str!("activations.cu"),
    }),
    kernels: &[
        Kernel::map("map_relu"),
        Kernel::map("map_leaky_relu"),
        Kernel::map("map_elu"),
        Kernel::map("map_gelu"),
        Kernel::map("map_gelu_erf"),
        Kernel::map("map_silu"),
        Kernel::map("map_mish"),
    ],
};
