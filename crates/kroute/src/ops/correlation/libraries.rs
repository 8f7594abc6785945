//! correlation's library route: `faer` for reduce_covariance_matrix (the issue names it).
//!
//! faer computes the Gram matrix of the centred columns; the definition around it is ours:
//! 1. the column means μ_j in f64 (a first pass over X);
//! 2. per block of `ROWS` rows, the centred block D = f32(X − μ) (rounded once from f64) and its
//!    column sums t_j = Σ_r D[r, j] in f64, then faer's f32 product DᵀD (64 × 64, K = `ROWS`:
//!    the contract's GEMM trap is one f32 accumulator over all R rows, so the blocks' Gram
//!    matrices are summed in f64 instead);
//! 3. C = (G − t·tᵀ/R) / (R − 1) in f64 (the t·tᵀ/R term removes what the rounding of μ to f32
//!    centres leaves), the upper triangle mirrored so C is exactly symmetric, rounded once.
//!
//! faer computes in f32, so its blocks get the range check our own kernel's chunks get: a block
//! whose f32 diagonal Σ D[r, j]² is not finite (values near 1e19 whose products overflow, NaN,
//! ±inf) or is below 2^-100 (products that may have underflowed) is done again in f64, the
//! definition's arithmetic. A finite diagonal bounds every off-diagonal partial (|Σ d_j d_k| ≤
//! Σ|d_j d_k| ≤ max(Σ d_j², Σ d_k²)), so a block that passes has no overflowed entry. On the
//! workload it never triggers; the benchmark times faer's products.
//!
//! Backend `parallel`: the blocks are split over rayon, one sequential faer product per block
//! (faer's own rayon split of one 64 × 64 product would be too fine), and combined in block order
//! so the result does not depend on the thread count. `R = 1` gives 0/0 = NaN everywhere
//! (ddof = 1), as the reference.

use super::{mirror, D};
use crate::backend::cpu::drivers::TINY;
use crate::backend::cpu::Cpu;
use crate::backend::Backend;
use crate::op::{always_available, Library, LibraryExec};
use crate::params::Params;
use crate::tensor::Tensor;
use crate::Result;
use faer::linalg::matmul::matmul;
use faer::{Accum, MatMut, MatRef, Par};
use rayon::prelude::*;

pub(crate) static LIBRARIES: &[Library] = &[Library {
    kernel: "reduce_covariance_matrix",
    id: "faer",
    backend: Backend::Parallel,
    exec: LibraryExec::Cpu(faer_covariance_matrix),
    unavailable: always_available,
}];

/// Rows per faer product: the centred block (256 KiB) stays in L2 while faer reads it, and
/// 1024 terms per f32 sum are well inside the contract's ≤ 4096 rows per block.
const ROWS: usize = 1024;

/// A block's centred Gram matrix (row-major D × D, upper triangle meaningful) and column sums.
struct Part {
    g: Vec<f64>,
    t: [f64; D],
}

/// Column means of X (rows of D) in f64, in row blocks (split over rayon for `parallel`).
fn means(cpu: Cpu, x: &[f32]) -> [f64; D] {
    let block = |b: &[f32]| {
        let mut s = [0.0f64; D];
        for row in b.chunks_exact(D) {
            for (a, &v) in s.iter_mut().zip(row) {
                *a += v as f64;
            }
        }
        s
    };
    let add = |mut a: [f64; D], b: [f64; D]| {
        a.iter_mut().zip(b).for_each(|(a, b)| *a += b);
        a
    };
    let sums: Vec<[f64; D]> = if cpu == Cpu::Parallel {
        x.par_chunks(ROWS * D).map(block).collect()
    } else {
        x.chunks(ROWS * D).map(block).collect()
    };
    let total = sums.into_iter().fold([0.0; D], add);
    let r = (x.len() / D) as f64;
    total.map(|s| s / r)
}

/// The f64 redo of a block: the Gram matrix of X − μ in f64 (upper triangle) and its sums.
#[cold]
#[inline(never)]
#[allow(clippy::needless_range_loop)] // (j, k) index pairs of columns read best as indices
fn block_f64(x: &[f32], mu: &[f64; D]) -> Part {
    let mut p = Part {
        g: vec![0.0; D * D],
        t: [0.0; D],
    };
    let mut d = [0.0f64; D];
    for row in x.chunks_exact(D) {
        for j in 0..D {
            d[j] = row[j] as f64 - mu[j];
            p.t[j] += d[j];
        }
        for j in 0..D {
            for k in j..D {
                p.g[j * D + k] += d[j] * d[k];
            }
        }
    }
    p
}

/// One block through faer: centre into `work` (f32), DᵀD in f32, checked, widened to f64.
fn block(x: &[f32], mu: &[f64; D], work: &mut Vec<f32>) -> Part {
    let rows = x.len() / D;
    work.resize(rows * D + D * D, 0.0);
    let (dm, g32) = work.split_at_mut(rows * D);
    let mut t = [0.0f64; D];
    for (row, d) in x.chunks_exact(D).zip(dm.chunks_exact_mut(D)) {
        for j in 0..D {
            d[j] = (row[j] as f64 - mu[j]) as f32;
        }
        for (a, &v) in t.iter_mut().zip(d.iter()) {
            *a += v as f64;
        }
    }
    let dref = MatRef::from_row_major_slice(dm, rows, D);
    matmul(
        MatMut::from_row_major_slice_mut(&mut *g32, D, D),
        Accum::Replace,
        dref.transpose(),
        dref,
        1.0f32,
        Par::Seq,
    );
    let lossy = (0..D).any(|j| {
        let q = g32[j * D + j];
        !(t[j].is_finite() && q.is_finite()) || q < TINY
    });
    if lossy {
        return block_f64(x, mu);
    }
    Part {
        g: g32.iter().map(|&v| v as f64).collect(),
        t,
    }
}

fn faer_covariance_matrix(cpu: Cpu, i: &[&Tensor], _: &Params, o: &mut [Tensor]) -> Result<()> {
    let x = i[0].as_f32()?;
    let r = x.len() / D;
    let mu = means(cpu, x);
    let parts: Vec<Part> = if cpu == Cpu::Parallel {
        x.par_chunks(ROWS * D)
            .map_init(Vec::new, |w, b| block(b, &mu, w))
            .collect()
    } else {
        let mut w = Vec::new();
        x.chunks(ROWS * D).map(|b| block(b, &mu, &mut w)).collect()
    };
    // In block order: the result does not depend on the thread count.
    let mut g = vec![0.0f64; D * D];
    let mut t = [0.0f64; D];
    for p in &parts {
        g.iter_mut().zip(&p.g).for_each(|(a, b)| *a += b);
        t.iter_mut().zip(p.t).for_each(|(a, b)| *a += b);
    }
    let n = r as f64;
    for j in 0..D {
        for k in j..D {
            g[j * D + k] -= t[j] * t[k] / n;
        }
    }
    mirror(&mut g);
    let div = n - 1.0;
    for (o, v) in o[0].as_f32_mut()?.iter_mut().zip(&g) {
        *o = (v / div) as f32;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spec::KernelSpec;

    fn spec() -> &'static KernelSpec {
        super::super::SPECS
            .iter()
            .find(|s| s.name == "reduce_covariance_matrix")
            .unwrap()
    }

    /// The route against the reference over row counts around the block size and the entry's
    /// edge cases, on both the sequential and the parallel split (`kroute verify` adds 10^7).
    #[test]
    fn faer_covariance_matrix_matches_the_reference() {
        let op = super::super::OPS
            .iter()
            .find(|o| o.name == "reduce_covariance_matrix")
            .unwrap();
        let p = Params::defaults(spec());
        let mut inputs: Vec<(String, Vec<Tensor>)> = [1, 2, 3, 63, 64, 1023, 1024, 1025, 3000]
            .iter()
            .map(|&r| (format!("R={r}"), (op.workload)(r * D, 5, &p)))
            .collect();
        inputs.extend((op.edge_cases)().into_iter().map(|c| (c.label.to_string(), c.inputs)));
        let mut failures = Vec::new();
        for (label, x) in &inputs {
            let refs: Vec<&Tensor> = x.iter().collect();
            let desc = (op.shapes)(&refs, &p).unwrap();
            let exp = (op.reference)(&refs, &p);
            for cpu in [Cpu::Simd, Cpu::Parallel] {
                let mut out: Vec<Tensor> = desc.iter().map(Tensor::zeros).collect();
                out.iter_mut().for_each(Tensor::poison);
                faer_covariance_matrix(cpu, &refs, &p, &mut out).unwrap();
                let c = out[0].as_f32().unwrap();
                let symmetric = (0..D).all(|j| {
                    (0..D).all(|k| c[j * D + k].to_bits() == c[k * D + j].to_bits())
                });
                let a = crate::verify::compare(spec().tolerance, &out[0], &exp[0]);
                if !a.passed || !symmetric {
                    failures.push(format!("{cpu:?} {label}: {:?} symmetric {symmetric}", a.first_failure));
                }
            }
        }
        assert!(failures.is_empty(), "{}", failures.join("\n"));
    }
}
