//! linalg on CUDA (`linalg.cu`): every kernel has a launch of its own (sizes that are not
//! parameters: the batch, the matrix's columns, nnz).

use crate::backend::cuda::{one_shot_grid, Arg, Call, Kernel, Source, Table};
use crate::Result;

/// Also launched by the cuBLAS triangular_solve route (its range check and redo).
pub(super) static SOURCE: Source = Source {
    name: "linalg",
    text: include_str!("linalg.cu"),
};

pub(crate) static CUDA: Table = Table {
    source: Some(&SOURCE),
    kernels: &[
        Kernel::custom("matmul_batched", matmul_batched),
        Kernel::custom("matvec", matvec),
        Kernel::custom("outer_product", outer_product),
        Kernel::custom("spmv_csr", spmv_csr),
        Kernel::custom("triangular_solve", triangular_solve),
    ],
};

/// (A, Bm, C, n, batch): a block of 256 threads per 128×128 product.
fn matmul_batched(call: &Call) -> Result<()> {
    let batch = call.n() / super::MM as u64;
    if batch == 0 {
        return Ok(());
    }
    let grid = batch.min(i32::MAX as u64) as u32;
    call.launch(grid, 0, &[Arg::u64(batch)], false)
}

/// (A, x, y, n, cols, rows): a warp per row.
fn matvec(call: &Call) -> Result<()> {
    let (rows, cols) = (call.in_shapes[0][0] as u64, call.in_shapes[0][1] as u64);
    if rows == 0 {
        return Ok(());
    }
    let grid = call.grid(0, rows * 32)?;
    call.launch(grid, 0, &[Arg::u64(cols), Arg::u64(rows)], false)
}

/// (x, y, A, n, m): a block per row of A.
fn outer_product(call: &Call) -> Result<()> {
    let (n, m) = (call.ins[0].1 as u64, call.ins[1].1 as u64);
    if n == 0 || m == 0 {
        return Ok(());
    }
    // A block for every row: on a grid of resident blocks each block waited on its next x[i]
    // before its first store, row after row (3.6 TB/s written at 10^8 on the H200, where
    // torch's fill_ writes 4.5).
    call.launch(one_shot_grid(n, 1), 0, &[Arg::u64(m)], false)
}

/// (row_ptr, col, val, x, y, n = rows + 1, nnz, cols): a thread per row.
fn spmv_csr(call: &Call) -> Result<()> {
    let rows = call.n().saturating_sub(1);
    if rows == 0 {
        return Ok(());
    }
    let (nnz, cols) = (call.ins[1].1 as u64, call.ins[3].1 as u64);
    let grid = call.grid(0, rows)?;
    call.launch(grid, 0, &[Arg::u64(nnz), Arg::u64(cols)], false)
}

/// (L, b, y, n, rows, acc): one block of 1024 threads; rows f64 accumulators in the work area.
fn triangular_solve(call: &Call) -> Result<()> {
    let rows = call.ins[1].1 as u64;
    if rows == 0 {
        return Ok(());
    }
    let (acc, _) = call.dev.work_area(rows as usize * 8)?;
    call.launch_of(1024, 1, 0, &[Arg::u64(rows), Arg::ptr(acc)], false)
}
