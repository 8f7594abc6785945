//! elementwise on CUDA: every kernel of `elementwise.cu` is a grid-stride map.

use crate::backend::cuda::{Kernel, Source, Table};

pub(crate) static CUDA: Table = Table {
    source: Some(&Source {
        name: "elementwise",
        text: include_str!("elementwise.cu"),
    }),
    kernels: &[
        Kernel::map("map_add"),
        Kernel::map("map_mul"),
        Kernel::map("map_div"),
        Kernel::map("map_fma"),
        Kernel::map("map_exp"),
        Kernel::map("map_log"),
        Kernel::map("map_tanh"),
        Kernel::map("map_sigmoid"),
        Kernel::map("map_softplus"),
        Kernel::map("map_clamp"),
        Kernel::map("map_abs"),
        Kernel::map("map_compare"),
    ],
};
