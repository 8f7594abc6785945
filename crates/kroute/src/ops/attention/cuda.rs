//! attention on CUDA (placeholder while the kernels are written).
use crate::backend::cuda::Table;
pub(crate) static CUDA: Table = Table::NONE;
