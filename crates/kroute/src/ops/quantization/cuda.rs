//! quantization on CUDA (`quantization.cu`): the f16 conversion and the dequantization are maps
//! (the latter over the codes, with each element's row scale, two groups of eight per thread);
//! f16 → i8 is one warp per row, codes and the row's scale in the same launch.

use crate::backend::cuda::{Kernel, Source, Table};

pub(crate) static CUDA: Table = Table {
    source: Some(&Source {
        name: "quantization",
        text: include_str!("quantization.cu"),
    }),
    kernels: &[
        Kernel::map("quantize_f32_to_f16"),
        Kernel::rows("quantize_f16_to_i8"),
        Kernel::map_per("dequantize_i8_to_f16", 16),
    ],
};
