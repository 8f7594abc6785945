//! normalization on CUDA (`normalization.cu`).

use crate::backend::cuda::Table;

pub(crate) static CUDA: Table = Table::NONE;
