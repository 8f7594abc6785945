//! linalg on the CPU. `scalar` is the plain loop with f64 sums (exact products, no range
//! trouble); `simd` and `parallel` are the fast paths:
//!
//! - matmul_batched: a packed register-blocked kernel per 128×128 matrix — B's columns packed
//!   into a panel of two vectors per k (2·lanes columns), A's rows of a block of MR packed
//!   k-major, an MR × 2-vector tile of accumulators held in registers over all 128 k (MR = 8 on
//!   AVX-512's 32 registers, 4 on AVX2's 16). Then each row of C is checked: one holding a
//!   value that is not finite or below 2^-100 (an f32 product or partial that overflowed or
//!   underflowed where the answer is representable, or NaN/inf inputs) is computed again in
//!   f64. `parallel` splits the matrices.
//! - matvec: row dots through `drivers::sum2` (f32 lanes over blocks, f64 totals, the f64 redo
//!   where f32 overflowed or underflowed); parallel splits rows.
//! - triangular_solve: row dots of exact products in f64 lanes; parallel goes block by block
//!   (each block's rows against the finished y in parallel, the diagonal block in order).
//! - outer_product: each row is x_i times y, an exact f32 product per element.
//! - spmv_csr: ten random gathers per row dominate and pulp has no gather, so `simd` is the
//!   scalar row loop (f64 sums of exact products); `parallel` splits rows.

use super::{M, MM};
use crate::backend::cpu::drivers::{lanes_sum_by, sum2, SumTerms2, TINY};
use crate::backend::cpu::{arch, Cpu};
use crate::params::Params;
use crate::tensor::Tensor;
use crate::Result;
use pulp::{Simd, WithSimd};
use rayon::prelude::*;

// ---- matmul_batched --------------------------------------------------------------------------

pub fn matmul_batched(cpu: Cpu, i: &[&Tensor], _: &Params, o: &mut [Tensor]) -> Result<()> {
    let (a, b) = (i[0].as_f32()?, i[1].as_f32()?);
    let c = o[0].as_f32_mut()?;
    match cpu {
        Cpu::Scalar => c
            .chunks_mut(MM)
            .zip(a.chunks(MM).zip(b.chunks(MM)))
            .for_each(|(c, (a, b))| {
                (0..M).for_each(|r| row_f64(&a[r * M..(r + 1) * M], b, &mut c[r * M..(r + 1) * M]))
            }),
        Cpu::Simd => gemm_batch(a, b, c),
        // One matrix per task: 4.2 Mflop, far above rayon's cost.
        Cpu::Parallel => c
            .par_chunks_mut(MM)
            .zip(a.par_chunks(MM).zip(b.par_chunks(MM)))
            .for_each(|(c, (a, b))| gemm_batch(a, b, c)),
    }
    Ok(())
}

/// One row of C = A·B in f64 (i-k-j order, every product formed), rounded once: the scalar
/// backend, and the redo of a row whose f32 values cannot be trusted.
fn row_f64(arow: &[f32], b: &[f32], crow: &mut [f32]) {
    let mut acc = [0.0f64; M];
    for (k, &aik) in arow.iter().enumerate() {
        for (s, &bkj) in acc.iter_mut().zip(&b[k * M..(k + 1) * M]) {
            *s += aik as f64 * bkj as f64;
        }
    }
    for (c, s) in crow.iter_mut().zip(acc) {
        *c = s as f32;
    }
}

/// The packed SIMD kernel over whole matrices (`a`, `b`, `c` hold the same number of them).
fn gemm_batch(a: &[f32], b: &[f32], c: &mut [f32]) {
    struct Op<'a>(&'a [f32], &'a [f32], &'a mut [f32]);
    impl WithSimd for Op<'_> {
        type Output = ();
        #[inline(always)]
        fn with_simd<S: Simd>(self, s: S) {
            let Op(a, b, c) = self;
            for (c, (a, b)) in c.chunks_mut(MM).zip(a.chunks(MM).zip(b.chunks(MM))) {
                if S::F32_LANES >= 16 {
                    gemm128::<S, 8>(s, a, b, c);
                } else {
                    gemm128::<S, 4>(s, a, b, c);
                }
                fix_rows(a, b, c);
            }
        }
    }
    arch().dispatch(Op(a, b, c))
}

/// C = A·B for one 128×128 matrix: for each panel of 2·lanes columns of B (packed, one pair
/// of vectors per k), each block of MR rows of A (packed k-major) is multiplied into MR × 2
/// vector accumulators that stay in registers for all 128 k.
#[inline(always)]
fn gemm128<S: Simd, const MR: usize>(s: S, a: &[f32], b: &[f32], c: &mut [f32]) {
    let nr = 2 * S::F32_LANES;
    let zero = s.splat_f32s(0.0);
    let mut panel = [[zero; 2]; M];
    let mut ap = [[0.0f32; MR]; M];
    for j0 in (0..M).step_by(nr) {
        for (k, p) in panel.iter_mut().enumerate() {
            let (v, _) = S::as_simd_f32s(&b[k * M + j0..k * M + j0 + nr]);
            *p = [v[0], v[1]];
        }
        for i0 in (0..M).step_by(MR) {
            for (r, arow) in a[i0 * M..(i0 + MR) * M].chunks_exact(M).enumerate() {
                for (k, &v) in arow.iter().enumerate() {
                    ap[k][r] = v;
                }
            }
            let mut acc = [[zero; 2]; MR];
            for (bk, ak) in panel.iter().zip(ap.iter()) {
                for r in 0..MR {
                    let av = s.splat_f32s(ak[r]);
                    acc[r][0] = s.mul_add_f32s(av, bk[0], acc[r][0]);
                    acc[r][1] = s.mul_add_f32s(av, bk[1], acc[r][1]);
                }
            }
            for (r, acc) in acc.iter().enumerate() {
                let row = (i0 + r) * M + j0;
                let (v, _) = S::as_mut_simd_f32s(&mut c[row..row + nr]);
                v[0] = acc[0];
                v[1] = acc[1];
            }
        }
    }
}

/// Rows of C holding a value that is not finite or below 2^-100 in magnitude are computed
/// again in f64 (an f32 product or partial may have overflowed or lost bits to underflow where
/// the answer is representable; NaN and inf inputs take this path too, and stay NaN or inf).
pub(super) fn fix_rows(a: &[f32], b: &[f32], c: &mut [f32]) {
    for (arow, crow) in a.chunks_exact(M).zip(c.chunks_exact_mut(M)) {
        if crow.iter().any(|v| !v.is_finite() || v.abs() < TINY) {
            row_f64(arow, b, crow);
        }
    }
}

// ---- row dots: matvec and triangular_solve ---------------------------------------------------

/// a·b terms for `drivers::sum2`; products of small values underflow in f32.
struct Product;
impl SumTerms2 for Product {
    const UNDERFLOWS: bool = true;
    #[inline(always)]
    fn term(&self, x: f32, y: f32) -> f64 {
        x as f64 * y as f64
    }
    #[inline(always)]
    fn vector<S: Simd>(&self, s: S, x: S::f32s, y: S::f32s) -> S::f32s {
        s.mul_f32s(x, y)
    }
}

/// Σ a_i b_i for matvec: in f64 on the scalar backend, else through `sum2`'s f32 lanes (one
/// thread: the caller splits rows).
fn dot(cpu: Cpu, a: &[f32], b: &[f32]) -> f64 {
    match cpu {
        Cpu::Scalar => sum2(Cpu::Scalar, &Product, a, b),
        _ => sum2(Cpu::Simd, &Product, a, b),
    }
}

/// Σ a_i b_i for the solve: exact products summed in 16 f64 lanes (vectorised by the
/// compiler). The solve is bound by reading L, so f64 costs nothing measurable, and it keeps
/// y where the sweep's inputs make the system ill-conditioned (±1e20 alternating: sums that
/// cancel to small integers, which f32 partials get wrong by 2e-6 of ‖y‖).
fn dot64(a: &[f32], b: &[f32]) -> f64 {
    lanes_sum_by(a.len(), |k| a[k] as f64 * b[k] as f64)
}

/// Rows per parallel task for row-split kernels over rows of `n` elements: about 2^16 elements.
fn rows_per_task(n: usize) -> usize {
    ((1usize << 16) / n.max(1)).max(1)
}

pub fn matvec(cpu: Cpu, i: &[&Tensor], _: &Params, o: &mut [Tensor]) -> Result<()> {
    let (a, x) = (i[0].as_f32()?, i[1].as_f32()?);
    let y = o[0].as_f32_mut()?;
    let n = x.len();
    if n == 0 {
        y.fill(0.0);
        return Ok(());
    }
    let row = |r: usize| dot(cpu, &a[r * n..(r + 1) * n], x) as f32;
    match cpu {
        Cpu::Parallel => {
            let per = rows_per_task(n);
            y.par_chunks_mut(per).enumerate().for_each(|(t, ys)| {
                for (k, v) in ys.iter_mut().enumerate() {
                    *v = row(t * per + k);
                }
            })
        }
        _ => y.iter_mut().enumerate().for_each(|(r, v)| *v = row(r)),
    }
    Ok(())
}

/// Rows of L solved per block by the parallel backend: the part of each row against the
/// finished y runs in parallel, the 128×128 diagonal block in order.
const SOLVE_BLOCK: usize = 128;

pub fn triangular_solve(cpu: Cpu, i: &[&Tensor], _: &Params, o: &mut [Tensor]) -> Result<()> {
    let (l, b) = (i[0].as_f32()?, i[1].as_f32()?);
    let y = o[0].as_f32_mut()?;
    let n = b.len();
    if cpu == Cpu::Scalar {
        // Plain forward substitution with y in f64 (the reference's own order).
        let mut yd = vec![0.0f64; n];
        for r in 0..n {
            let s: f64 = l[r * n..r * n + r]
                .iter()
                .zip(&yd)
                .map(|(&a, &v)| a as f64 * v)
                .sum();
            yd[r] = (b[r] as f64 - s) / l[r * n + r] as f64;
        }
        y.iter_mut().zip(yd).for_each(|(v, d)| *v = d as f32);
        return Ok(());
    }
    let solve = |r: usize, done: f64, y: &[f32], from: usize| -> f32 {
        let s = done + dot64(&l[r * n + from..r * n + r], &y[from..r]);
        ((b[r] as f64 - s) / l[r * n + r] as f64) as f32
    };
    if cpu == Cpu::Simd || n <= SOLVE_BLOCK {
        for r in 0..n {
            y[r] = solve(r, 0.0, y, 0);
        }
        return Ok(());
    }
    let mut part = vec![0.0f64; SOLVE_BLOCK];
    for r0 in (0..n).step_by(SOLVE_BLOCK) {
        let r1 = (r0 + SOLVE_BLOCK).min(n);
        // Each row of the block against y[..r0], in parallel.
        let done = &y[..r0];
        part[..r1 - r0]
            .par_iter_mut()
            .enumerate()
            .for_each(|(k, p)| *p = dot64(&l[(r0 + k) * n..(r0 + k) * n + r0], done));
        // The diagonal block in order.
        for r in r0..r1 {
            y[r] = solve(r, part[r - r0], y, r0);
        }
    }
    Ok(())
}

// ---- outer_product ---------------------------------------------------------------------------

pub fn outer_product(cpu: Cpu, i: &[&Tensor], _: &Params, o: &mut [Tensor]) -> Result<()> {
    let (x, y) = (i[0].as_f32()?, i[1].as_f32()?);
    let a = o[0].as_f32_mut()?;
    let m = y.len();
    if m == 0 {
        return Ok(());
    }
    match cpu {
        Cpu::Scalar => {
            for (row, &xi) in a.chunks_exact_mut(m).zip(x) {
                for (v, &yj) in row.iter_mut().zip(y) {
                    *v = xi * yj;
                }
            }
        }
        Cpu::Simd => outer_rows(x, y, a),
        Cpu::Parallel => {
            let per = rows_per_task(m);
            a.par_chunks_mut(per * m)
                .zip(x.par_chunks(per))
                .for_each(|(a, x)| outer_rows(x, y, a));
        }
    }
    Ok(())
}

/// Rows x_i·y: a splat times each vector of y (each product exact in f32), the tail in scalar.
fn outer_rows(x: &[f32], y: &[f32], a: &mut [f32]) {
    struct Op<'a>(&'a [f32], &'a [f32], &'a mut [f32]);
    impl WithSimd for Op<'_> {
        type Output = ();
        #[inline(always)]
        fn with_simd<S: Simd>(self, s: S) {
            let Op(x, y, a) = self;
            let (yv, yt) = S::as_simd_f32s(y);
            for (row, &xi) in a.chunks_exact_mut(y.len()).zip(x) {
                let xv = s.splat_f32s(xi);
                let (rv, rt) = S::as_mut_simd_f32s(row);
                for (r, &v) in rv.iter_mut().zip(yv) {
                    *r = s.mul_f32s(xv, v);
                }
                for (r, &v) in rt.iter_mut().zip(yt) {
                    *r = xi * v;
                }
            }
        }
    }
    arch().dispatch(Op(x, y, a))
}

// ---- spmv_csr --------------------------------------------------------------------------------

pub fn spmv_csr(cpu: Cpu, i: &[&Tensor], _: &Params, o: &mut [Tensor]) -> Result<()> {
    let (rp, col) = (i[0].as_u32()?, i[1].as_u32()?);
    let (val, x) = (i[2].as_f32()?, i[3].as_f32()?);
    let y = o[0].as_f32_mut()?;
    // The shape check verified row_ptr and every column (`check_csr`), so indexing is in range.
    let row = |r: usize| -> f32 {
        let (p0, p1) = (rp[r] as usize, rp[r + 1] as usize);
        let s: f64 = col[p0..p1]
            .iter()
            .zip(&val[p0..p1])
            .map(|(&c, &v)| v as f64 * x[c as usize] as f64)
            .sum();
        s as f32
    };
    match cpu {
        Cpu::Parallel => {
            // ~4096 rows (10 nonzeros each) per task.
            y.par_chunks_mut(4096).enumerate().for_each(|(t, ys)| {
                for (k, v) in ys.iter_mut().enumerate() {
                    *v = row(t * 4096 + k);
                }
            })
        }
        _ => y.iter_mut().enumerate().for_each(|(r, v)| *v = row(r)),
    }
    Ok(())
}
