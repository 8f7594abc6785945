//! dot_products on CUDA: one warp per row (`dot_products.cu`).

use crate::backend::cuda::{Kernel, Source, Table};

pub(crate) static CUDA: Table = Table {
    source: Some(&Source {
        name: "dot_products",
        text: include_str!("dot_products.cu"),
    }),
    kernels: &[Kernel::rows("dot_batched"), Kernel::rows("cosine_similarity")],
};
