//! signal on CUDA (`signal.cu`): window_apply is a map over the samples.

use crate::backend::cuda::{Kernel, Source, Table};

pub(crate) static CUDA: Table = Table {
    source: Some(&Source {
        name: "signal",
        text: include_str!("signal.cu"),
    }),
    kernels: &[Kernel::map("window_apply")],
};
