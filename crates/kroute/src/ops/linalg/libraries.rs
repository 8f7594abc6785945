//! linalg's library routes: `faer` on the CPU (matmul_batched, matvec, triangular_solve) and
//! `cublas` on the device (outer_product and triangular_solve). Each computes the entry's
//! definition on its row-major layout:
//!
//! - faer takes row-major views as they are (`from_row_major_slice`); the batch is split over
//!   rayon, one sequential faer product per 128×128 matrix (faer has no batched product).
//!   faer computes in f32 like our own code, so its results get the same range check: a row
//!   (matmul, matvec) holding a value that is not finite or below 2^-100, or a solve in which
//!   some L_ii·y_i is, is computed again by our f64-redo path (an f32 product or partial may
//!   have overflowed or underflowed where the answer is representable). On the workload it
//!   never triggers; the benchmark times faer.
//! - cuBLAS is column-major: a row-major matrix is the column-major transpose, so A = x·yᵀ is
//!   sger of (y, x) on a zeroed matrix, and L·y = b is strsv on the upper triangle with
//!   CUBLAS_OP_T. Math mode CUBLAS_DEFAULT_MATH (no TF32). strsv gets faer's range check on the
//!   device (a flag kernel over y and the diagonal after strsv, then our `cuda` solve launched
//!   to recompute y only where the flag is set: no read-back; strsv alone failed the sweep's
//!   1e-45, 1e-40 and ±2e38 value cases with NaN). sgemm (strided-batched) and sgemv are not routes: on the H200
//!   the sgemm route failed the entry's 1e19 edge case (f32 products overflow: inf where the
//!   answer is −inf, which our kernels redo in f64), and sgemv has the same products; a route
//!   must meet the contract (docs/adding-a-kernel.md), and both were slower than our `cuda`
//!   there anyway (matmul 76.9 µs against 72.9, matvec 18.0 against 15.9 at 10^7). The
//!   wrappers stay in `backend::cuda::blas` for when a device range check is added.
//! - outer_product on faer would be a copy-bound loop like ours; spmv_csr has no faer route
//!   (faer's sparse module is a separate feature and crate weight).

use super::{cpu, M, MM};
use crate::backend::cpu::drivers::TINY;
use crate::backend::cpu::Cpu;
use crate::backend::cuda::{blas, Arg, Call};
use crate::backend::Backend;
use crate::op::{always_available, Library, LibraryExec};
use crate::params::Params;
use crate::tensor::Tensor;
use crate::Result;
use faer::linalg::matmul::matmul;
use faer::linalg::triangular_solve::solve_lower_triangular_in_place;
use faer::{Accum, MatMut, MatRef, Par};
use rayon::prelude::*;

pub(crate) static LIBRARIES: &[Library] = &[
    Library {
        kernel: "matmul_batched",
        id: "faer",
        backend: Backend::Parallel,
        exec: LibraryExec::Cpu(faer_matmul_batched),
        unavailable: always_available,
    },
    Library {
        kernel: "matvec",
        id: "faer",
        backend: Backend::Parallel,
        exec: LibraryExec::Cpu(faer_matvec),
        unavailable: always_available,
    },
    Library {
        kernel: "triangular_solve",
        id: "faer",
        backend: Backend::Parallel,
        exec: LibraryExec::Cpu(faer_triangular_solve),
        unavailable: always_available,
    },
    Library {
        kernel: "outer_product",
        id: "cublas",
        backend: Backend::Cuda,
        exec: LibraryExec::Cuda(cublas_outer_product),
        unavailable: blas::unavailable,
    },
    Library {
        kernel: "triangular_solve",
        id: "cublas",
        backend: Backend::Cuda,
        exec: LibraryExec::Cuda(cublas_triangular_solve),
        unavailable: blas::unavailable,
    },
];

/// faer's parallelism for a CPU backend: rayon's pool for `parallel`.
fn par(cpu: Cpu) -> Par {
    match cpu {
        Cpu::Parallel => Par::rayon(0),
        _ => Par::Seq,
    }
}

fn suspect(v: f32) -> bool {
    !v.is_finite() || v.abs() < TINY
}

// ---- faer ------------------------------------------------------------------------------------

fn faer_matmul_batched(cpu: Cpu, i: &[&Tensor], p: &Params, o: &mut [Tensor]) -> Result<()> {
    let (a, b) = (i[0].as_f32()?, i[1].as_f32()?);
    let one = |(c, (a, b)): (&mut [f32], (&[f32], &[f32]))| {
        matmul(
            MatMut::from_row_major_slice_mut(&mut *c, M, M),
            Accum::Replace,
            MatRef::from_row_major_slice(a, M, M),
            MatRef::from_row_major_slice(b, M, M),
            1.0f32,
            Par::Seq,
        );
        if c.iter().any(|&v| suspect(v)) {
            cpu::fix_rows(a, b, c);
        }
    };
    let c = o[0].as_f32_mut()?;
    match cpu {
        Cpu::Parallel => c
            .par_chunks_mut(MM)
            .zip(a.par_chunks(MM).zip(b.par_chunks(MM)))
            .for_each(one),
        _ => c
            .chunks_mut(MM)
            .zip(a.chunks(MM).zip(b.chunks(MM)))
            .for_each(one),
    }
    let _ = p;
    Ok(())
}

fn faer_matvec(cpu: Cpu, i: &[&Tensor], p: &Params, o: &mut [Tensor]) -> Result<()> {
    let (a, x) = (i[0].as_f32()?, i[1].as_f32()?);
    let (m, n) = (i[0].shape()[0], x.len());
    if m == 0 || n == 0 {
        o[0].as_f32_mut()?.fill(0.0);
        return Ok(());
    }
    {
        let y = o[0].as_f32_mut()?;
        matmul(
            MatMut::from_column_major_slice_mut(y, m, 1),
            Accum::Replace,
            MatRef::from_row_major_slice(a, m, n),
            MatRef::from_column_major_slice(x, n, 1),
            1.0f32,
            par(cpu),
        );
    }
    if o[0].as_f32()?.iter().any(|&v| suspect(v)) {
        // Our rows, with their f64 redo, where faer's f32 sums cannot be trusted.
        let mut ours = o[0].clone();
        cpu::matvec(Cpu::Simd, i, p, std::slice::from_mut(&mut ours))?;
        let (y, fixed) = (o[0].as_f32_mut()?, ours.as_f32()?);
        for (v, &f) in y.iter_mut().zip(fixed) {
            if suspect(*v) {
                *v = f;
            }
        }
    }
    Ok(())
}

fn faer_triangular_solve(cpu: Cpu, i: &[&Tensor], p: &Params, o: &mut [Tensor]) -> Result<()> {
    let (l, b) = (i[0].as_f32()?, i[1].as_f32()?);
    let n = b.len();
    if n == 0 {
        return Ok(());
    }
    let y = o[0].as_f32_mut()?;
    y.copy_from_slice(b);
    // Only the lower triangle of L is read.
    solve_lower_triangular_in_place(
        MatRef::from_row_major_slice(l, n, n),
        MatMut::from_column_major_slice_mut(&mut *y, n, 1),
        par(cpu),
    );
    // L_ii·y_i = b_i − Σ_{j<i} L_ij y_j: where that is not finite or below 2^-100, f32 products
    // may have overflowed or underflowed; solve again on our path (f64 redo of such rows).
    let lossy = (0..n).any(|r| {
        let v = l[r * n + r] as f64 * y[r] as f64;
        !v.is_finite() || v.abs() < TINY as f64
    });
    if lossy {
        cpu::triangular_solve(cpu, i, p, o)?;
    }
    Ok(())
}

// ---- cuBLAS ----------------------------------------------------------------------------------

/// A = x·yᵀ row-major (n × m) is column-major (m × n) y·xᵀ: sger of (y, x) on a zeroed A.
fn cublas_outer_product(call: &Call) -> Result<()> {
    let (n, m) = (call.ins[0].1 as u64, call.ins[1].1 as u64);
    if n == 0 || m == 0 {
        return Ok(());
    }
    let (x, y, a) = (call.ins[0].0, call.ins[1].0, call.outs[0].0);
    blas::sger_zeroed(call.dev, (m, n), y, x, a)
}

/// Row-major lower L is column-major upper Lᵀ: solve (Lᵀ)ᵀ·y = b, upper triangle, OP_T. Then
/// the faer route's range check on the device (triangular_solve_check: some L_ii·y_i not finite
/// or below 2^-100 sets a flag in the work area) and our solve (triangular_solve_redo), which
/// recomputes y only where the flag is set and otherwise returns at once: no read-back.
fn cublas_triangular_solve(call: &Call) -> Result<()> {
    let n = call.ins[1].1 as u64;
    if n == 0 {
        return Ok(());
    }
    let (l, b, y) = (call.ins[0].0, call.ins[1].0, call.outs[0].0);
    blas::strsv(call.dev, n, true, true, l, b, y)?;
    // The flag (u32, 16 bytes kept for alignment), then the redo's n f64 accumulators.
    let (area, _) = call.dev.work_area(16 + 8 * n as usize)?;
    let (flag, acc) = (area, area + 16);
    let src = &super::cuda::SOURCE;
    let check = [Arg::ptr(l), Arg::ptr(y), Arg::u64(n), Arg::ptr(flag)];
    call.dev.launch(src, "triangular_solve_check", 1, 1024, 0, &check)?;
    let redo = [
        Arg::ptr(l),
        Arg::ptr(b),
        Arg::ptr(y),
        Arg::u64(n * n),
        Arg::u64(n),
        Arg::ptr(acc),
        Arg::ptr(flag),
    ];
    call.dev.launch(src, "triangular_solve_redo", 1, 1024, 0, &redo)
}
