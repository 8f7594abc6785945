//! softmax on CUDA: one warp per row (`softmax.cu`), the row in registers at d ≤ 1024.

use crate::backend::cuda::{Kernel, Source, Table};

pub(crate) static CUDA: Table = Table {
    source: Some(&Source {
        name: "softmax",
        text: include_str!("softmax.cu"),
    }),
    kernels: &[
        Kernel::rows("softmax_stable"),
        Kernel::rows("softmax_online"),
        Kernel::rows("log_softmax"),
    ],
};
