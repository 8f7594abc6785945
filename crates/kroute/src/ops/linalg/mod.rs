//! linalg: dense and sparse linear-algebra building blocks in f32 (`docs/kernels/linalg.md`):
//! batched 128×128 products, matrix-vector and outer products, CSR SpMV and a lower-triangular
//! solve. All matrices are row-major and contiguous. Library routes: `faer` (CPU) and `cublas`.

pub(crate) mod cpu;
mod cuda;
mod libraries;

pub(crate) use cuda::CUDA;
pub(crate) use libraries::LIBRARIES;

use crate::op::{input, shape, Case, Op};
use crate::params::Params;
use crate::philox;
use crate::spec::{rows, side2, Domain, KernelSpec, Metric, Tolerance};
use crate::tensor::{DType, Tensor, TensorDesc};
use crate::verify::Expected;
use crate::{Error, Result};
use rayon::prelude::*;

/// The side of every matrix of matmul_batched (fixed by the entry).
pub const M: usize = 128;
/// Elements of one matrix of matmul_batched.
pub const MM: usize = M * M;
/// Nonzeros per row of the spmv workload (fixed by the entry).
pub const W: usize = 10;

// NOTE: n = round(√N) is computed with side2, which clamps to 1; the entries give n = 0 at N = 0
// (empty output), so bytes/flops at N = 0 describe a 1×1 problem rather than 0.
pub static SPECS: &[KernelSpec] = &[
    KernelSpec {
        name: "matmul_batched",
        domain: Domain::Linalg,
        computes: "C_b = A_b·B_b, (C_b)_ij = Σ_{k<128} (A_b)_ik (B_b)_kj, B independent 128×128 products",
        shapes: "A f32[B, 128, 128] ~ normal (stream 0), Bm f32[B, 128, 128] ~ normal (stream 1), B = max(1, ⌊N/16384⌋) → C f32[B, 128, 128]",
        params: &[],
        tolerance: Tolerance::Norm { rtol: 1e-5 },
        metric: Metric::Flops,
        bytes: |n| 3.0 * 4.0 * 16384.0 * rows(n, 16384) as f64,
        flops: |n| 2.0 * 128.0 * 128.0 * 128.0 * rows(n, 16384) as f64,
    },
    KernelSpec {
        name: "matvec",
        domain: Domain::Linalg,
        computes: "y = A·x, y_i = Σ_{j<n} A_ij x_j",
        shapes: "A f32[n, n] ~ normal (stream 0), x f32[n] ~ normal (stream 1), n = round(√N) → y f32[n]",
        params: &[],
        // Per output, S_i = Σ_j |A_ij x_j|.
        tolerance: Tolerance::Sum { rtol: 1e-5 },
        metric: Metric::Bandwidth,
        bytes: |n| {
            let m = side2(n) as f64;
            4.0 * (m * m + 2.0 * m)
        },
        flops: |n| {
            let m = side2(n) as f64;
            2.0 * m * m
        },
    },
    KernelSpec {
        name: "outer_product",
        domain: Domain::Linalg,
        computes: "A = x·yᵀ, A_ij = x_i·y_j, materialised n×n",
        shapes: "x f32[n] ~ normal (stream 0), y f32[n] ~ normal (stream 1), n = round(√N) → A f32[n, n]",
        params: &[],
        tolerance: Tolerance::Exact,
        metric: Metric::Bandwidth,
        bytes: |n| {
            let m = side2(n) as f64;
            4.0 * (m * m + 2.0 * m)
        },
        flops: |n| {
            let m = side2(n) as f64;
            m * m
        },
    },
    KernelSpec {
        name: "spmv_csr",
        domain: Domain::Linalg,
        computes: "y = A·x for n×n CSR A: y_i = Σ_{p=row_ptr[i]}^{row_ptr[i+1]−1} val[p]·x[col[p]]",
        shapes: "n = max(1, ⌊N/10⌋), w = min(10, n) nonzeros per row, nnz = w·n; row_ptr u32[n+1] = w·i, col u32[nnz] stratified randint (stream 1), val f32[nnz] ~ normal (stream 0), x f32[n] ~ normal (stream 2) → y f32[n]",
        params: &[],
        // Per row, S_i = Σ_p |val[p]·x[col[p]]|.
        tolerance: Tolerance::Sum { rtol: 1e-6 },
        metric: Metric::Bandwidth,
        bytes: |n| {
            let m = rows(n, 10);
            let nnz = (m.min(10) * m) as f64;
            8.0 * nnz + 12.0 * m as f64 + 4.0
        },
        flops: |n| {
            let m = rows(n, 10);
            2.0 * (m.min(10) * m) as f64
        },
    },
    KernelSpec {
        name: "triangular_solve",
        domain: Domain::Linalg,
        computes: "solve L·y = b, L dense lower-triangular: y_i = (b_i − Σ_{j<i} L_ij y_j)/L_ii (forward substitution)",
        shapes: "L f32[n, n]: L_ij ~ normal(0, 1/n) for j < i (stream 0), L_ii ~ uniform(1, 2) (stream 1), 0 above; b f32[n] ~ normal (stream 2), n = round(√N) → y f32[n]",
        params: &[],
        tolerance: Tolerance::Norm { rtol: 1e-6 },
        metric: Metric::Bandwidth,
        bytes: |n| {
            let m = side2(n) as f64;
            4.0 * m * (m + 1.0) / 2.0 + 8.0 * m
        },
        flops: |n| {
            let m = side2(n) as f64;
            m * m
        },
    },
];

/// n = round(√N), 0 at N = 0 (the square matrices of this domain).
pub fn side(n: usize) -> usize {
    (n as f64).sqrt().round() as usize
}

// ---- shapes ----------------------------------------------------------------------------------

/// matmul_batched: A and Bm both [B, 128, 128] (or one [128, 128] matrix) → C of that shape.
fn matmul_shapes(i: &[&Tensor], _: &Params) -> Result<Vec<TensorDesc>> {
    let ok = |t: &Tensor| matches!(t.shape(), [_, M, M] | [M, M]);
    for (t, name) in i.iter().zip(["A", "Bm"]) {
        if !ok(t) {
            return Err(Error::Shape(format!(
                "matmul_batched: '{name}' must be [B, {M}, {M}] (or [{M}, {M}]), got {:?}",
                t.shape()
            )));
        }
    }
    if i[0].shape() != i[1].shape() {
        return Err(Error::Shape(format!(
            "matmul_batched: A and Bm must have one shape; got {:?} and {:?}",
            i[0].shape(),
            i[1].shape()
        )));
    }
    Ok(vec![TensorDesc::new(DType::F32, i[0].shape())])
}

/// A 2-D matrix's (rows, cols).
fn matrix(name: &str, what: &str, t: &Tensor) -> Result<(usize, usize)> {
    match t.shape() {
        [r, c] => Ok((*r, *c)),
        s => Err(Error::Shape(format!(
            "{name}: '{what}' must be a 2-D matrix, got shape {s:?}"
        ))),
    }
}

/// matvec: A [m, n] and x [n] → y [m] (the workload is square; numpy's rule allows any m).
fn matvec_shapes(i: &[&Tensor], _: &Params) -> Result<Vec<TensorDesc>> {
    let (m, n) = matrix("matvec", "A", i[0])?;
    let k = shape::one_d("matvec", i[1])?;
    if k != n {
        return Err(Error::Shape(format!(
            "matvec: A is {m}×{n}, so x must have {n} elements; got {k}"
        )));
    }
    Ok(vec![TensorDesc::new(DType::F32, &[m])])
}

/// outer_product: x [n], y [m] → A [n, m].
fn outer_shapes(i: &[&Tensor], _: &Params) -> Result<Vec<TensorDesc>> {
    let n = shape::one_d("outer_product", i[0])?;
    let m = shape::one_d("outer_product", i[1])?;
    Ok(vec![TensorDesc::new(DType::F32, &[n, m])])
}

/// spmv_csr: row_ptr u32[rows + 1], col u32[nnz], val f32[nnz], x f32[cols] → y f32[rows].
/// Where the index arrays are on the host their values are checked too (row_ptr starts at 0,
/// never decreases and ends at nnz; every column < cols): `Error::Value` on every
/// implementation. Device-resident indices cannot be read here; the CUDA kernel guards every
/// index instead (an out-of-range column gives NaN, never a wild read).
fn spmv_shapes(i: &[&Tensor], _: &Params) -> Result<Vec<TensorDesc>> {
    let name = "spmv_csr";
    let np1 = shape::one_d(name, i[0])?;
    let nnz = shape::one_d(name, i[1])?;
    let nv = shape::one_d(name, i[2])?;
    let cols = shape::one_d(name, i[3])?;
    if np1 == 0 {
        return Err(Error::Shape(format!(
            "{name}: row_ptr must hold rows + 1 ≥ 1 entries, got none"
        )));
    }
    if nv != nnz {
        return Err(Error::Shape(format!(
            "{name}: col and val must have one length (nnz); got {nnz} and {nv}"
        )));
    }
    if nnz > u32::MAX as usize || cols > u32::MAX as usize {
        return Err(Error::Param(format!(
            "{name}: nnz and the column count must fit u32; got {nnz} and {cols}"
        )));
    }
    if let (Ok(rp), Ok(col)) = (i[0].as_u32(), i[1].as_u32()) {
        check_csr(rp, col, cols)?;
    }
    Ok(vec![TensorDesc::new(DType::F32, &[np1 - 1])])
}

/// The CSR structure's values: row_ptr from 0 to nnz, non-decreasing; columns below `cols`.
pub fn check_csr(rp: &[u32], col: &[u32], cols: usize) -> Result<()> {
    let name = "spmv_csr";
    if rp[0] != 0 || rp[rp.len() - 1] as usize != col.len() {
        return Err(Error::Value(format!(
            "{name}: row_ptr must run from 0 to nnz = {}; got {} … {}",
            col.len(),
            rp[0],
            rp[rp.len() - 1]
        )));
    }
    if let Some(r) = rp.windows(2).position(|w| w[1] < w[0]) {
        return Err(Error::Value(format!(
            "{name}: row_ptr must not decrease; row_ptr[{}] = {} > row_ptr[{}] = {}",
            r,
            rp[r],
            r + 1,
            rp[r + 1]
        )));
    }
    if let Some(p) = col.iter().position(|&c| c as usize >= cols) {
        return Err(Error::Value(format!(
            "{name}: column indices must be below the {cols} columns of x; col[{p}] = {}",
            col[p]
        )));
    }
    Ok(())
}

/// triangular_solve: L [n, n] and b [n] → y [n].
fn trsv_shapes(i: &[&Tensor], _: &Params) -> Result<Vec<TensorDesc>> {
    let (r, c) = matrix("triangular_solve", "L", i[0])?;
    let n = shape::one_d("triangular_solve", i[1])?;
    if r != c || n != r {
        return Err(Error::Shape(format!(
            "triangular_solve: L must be n×n and b of length n; got L {r}×{c} and b of {n}"
        )));
    }
    Ok(vec![TensorDesc::new(DType::F32, &[n])])
}

// ---- reference -------------------------------------------------------------------------------

fn f32s(t: &Tensor) -> &[f32] {
    t.as_f32().unwrap_or(&[])
}

/// C_b = A_b·B_b in f64 (i-k-j order; every product formed, so inf·0 gives NaN), rounded once.
fn matmul_reference(i: &[&Tensor], _: &Params) -> Vec<Expected> {
    let (a, b) = (f32s(i[0]), f32s(i[1]));
    let mut c = vec![0.0f64; a.len()];
    c.par_chunks_mut(MM)
        .zip(a.par_chunks(MM).zip(b.par_chunks(MM)))
        .for_each(|(c, (a, b))| {
            for r in 0..M {
                let crow = &mut c[r * M..(r + 1) * M];
                for k in 0..M {
                    let aik = a[r * M + k] as f64;
                    for (cj, &bkj) in crow.iter_mut().zip(&b[k * M..(k + 1) * M]) {
                        *cj += aik * bkj as f64;
                    }
                }
            }
        });
    vec![Expected::new(DType::F32, i[0].shape(), c)]
}

/// y_i = Σ_j A_ij x_j in f64, with the sum class's scale S_i = Σ_j |A_ij x_j|.
fn matvec_reference(i: &[&Tensor], _: &Params) -> Vec<Expected> {
    let (a, x) = (f32s(i[0]), f32s(i[1]));
    let n = x.len();
    let m = i[0].shape()[0];
    let (y, s): (Vec<f64>, Vec<f64>) = (0..m)
        .into_par_iter()
        .map(|r| {
            let row = &a[r * n..(r + 1) * n];
            row.iter().zip(x).fold((0.0, 0.0), |(y, s), (&a, &x)| {
                let t = a as f64 * x as f64;
                (y + t, s + t.abs())
            })
        })
        .unzip();
    vec![Expected::new(DType::F32, &[m], y).with_scale(s)]
}

/// A_ij = x_i·y_j (exact in f64).
fn outer_reference(i: &[&Tensor], _: &Params) -> Vec<Expected> {
    let (x, y) = (f32s(i[0]), f32s(i[1]));
    let v = x
        .iter()
        .flat_map(|&a| y.iter().map(move |&b| a as f64 * b as f64))
        .collect();
    vec![Expected::new(DType::F32, &[x.len(), y.len()], v)]
}

/// y_i = Σ_p val[p]·x[col[p]] in f64, with S_i = Σ_p |val[p]·x[col[p]]|.
fn spmv_reference(i: &[&Tensor], _: &Params) -> Vec<Expected> {
    let (rp, col) = (i[0].as_u32().unwrap_or(&[]), i[1].as_u32().unwrap_or(&[]));
    let (val, x) = (f32s(i[2]), f32s(i[3]));
    let rows = rp.len().saturating_sub(1);
    let (y, s): (Vec<f64>, Vec<f64>) = (0..rows)
        .map(|r| {
            (rp[r] as usize..rp[r + 1] as usize).fold((0.0, 0.0), |(y, s), p| {
                let t = val[p] as f64 * x[col[p] as usize] as f64;
                (y + t, s + t.abs())
            })
        })
        .unzip();
    vec![Expected::new(DType::F32, &[rows], y).with_scale(s)]
}

/// Forward substitution in f64, reading only the lower triangle.
fn trsv_reference(i: &[&Tensor], _: &Params) -> Vec<Expected> {
    let (l, b) = (f32s(i[0]), f32s(i[1]));
    let n = b.len();
    let mut y = vec![0.0f64; n];
    for r in 0..n {
        let row = &l[r * n..r * n + r];
        let s: f64 = row.iter().zip(&y).map(|(&a, &y)| a as f64 * y).sum();
        y[r] = (b[r] as f64 - s) / l[r * n + r] as f64;
    }
    vec![Expected::new(DType::F32, &[n], y)]
}

// ---- workloads -------------------------------------------------------------------------------

fn shaped(v: Vec<f32>, shape: &[usize]) -> Tensor {
    Tensor::f32(v)
        .reshaped(shape)
        .unwrap_or_else(|_| Tensor::f32(Vec::new()))
}

/// A, Bm f32[B, 128, 128] ~ normal, streams 0 and 1, B = max(1, ⌊N/16384⌋).
fn matmul_workload(n: usize, seed: u64, _: &Params) -> Vec<Tensor> {
    let b = rows(n as u64, MM as u64) as usize;
    vec![
        shaped(philox::normal(seed, 0, b * MM, 0.0, 1.0), &[b, M, M]),
        shaped(philox::normal(seed, 1, b * MM, 0.0, 1.0), &[b, M, M]),
    ]
}

/// A f32[n, n] (stream 0), x f32[n] (stream 1) ~ normal, n = round(√N).
fn matvec_workload(n: usize, seed: u64, _: &Params) -> Vec<Tensor> {
    let m = side(n);
    vec![
        shaped(philox::normal(seed, 0, m * m, 0.0, 1.0), &[m, m]),
        Tensor::f32(philox::normal(seed, 1, m, 0.0, 1.0)),
    ]
}

/// x (stream 0), y (stream 1) f32[n] ~ normal, n = round(√N).
fn outer_workload(n: usize, seed: u64, _: &Params) -> Vec<Tensor> {
    let m = side(n);
    vec![
        Tensor::f32(philox::normal(seed, 0, m, 0.0, 1.0)),
        Tensor::f32(philox::normal(seed, 1, m, 0.0, 1.0)),
    ]
}

/// The entry's CSR matrix: n = max(1, ⌊N/10⌋) rows of w = min(10, n) nonzeros; for n ≥ 10 the
/// s-th column of row r is randint(⌊s·n/10⌋, ⌊(s+1)·n/10⌋) from word 10r + s of stream 1 (sorted
/// and unique by stratification), for n < 10 every row holds all columns; val ~ normal (stream
/// 0), x ~ normal (stream 2).
fn spmv_workload(n: usize, seed: u64, _: &Params) -> Vec<Tensor> {
    let m = rows(n as u64, W as u64) as usize;
    let w = W.min(m);
    let nnz = w * m;
    let row_ptr: Vec<u32> = (0..=m).map(|r| (w * r) as u32).collect();
    let col: Vec<u32> = if m >= W {
        let words = philox::words(seed, 1, nnz);
        words
            .par_iter()
            .enumerate()
            .map(|(p, &wd)| {
                let s = p % W;
                let (lo, hi) = ((s * m / W) as u64, ((s + 1) * m / W) as u64);
                (lo + ((wd as u64 * (hi - lo)) >> 32)) as u32
            })
            .collect()
    } else {
        (0..nnz).map(|p| (p % m) as u32).collect()
    };
    vec![
        Tensor::u32(row_ptr),
        Tensor::u32(col),
        Tensor::f32(philox::normal(seed, 0, nnz, 0.0, 1.0)),
        Tensor::f32(philox::normal(seed, 2, m, 0.0, 1.0)),
    ]
}

/// L f32[n, n]: L_ij = element i·n + j of normal(0, 1/n) (stream 0) for j < i, L_ii = element i
/// of uniform(1, 2) (stream 1), stored zeros above; b ~ normal (stream 2).
fn trsv_workload(n: usize, seed: u64, _: &Params) -> Vec<Tensor> {
    let m = side(n);
    let mut l = philox::normal(seed, 0, m * m, 0.0, 1.0 / m.max(1) as f64);
    let d = philox::uniform(seed, 1, m, 1.0, 2.0);
    l.par_chunks_mut(m.max(1)).enumerate().for_each(|(r, row)| {
        row[r] = d[r];
        row[r + 1..].fill(0.0);
    });
    vec![
        shaped(l, &[m, m]),
        Tensor::f32(philox::normal(seed, 2, m, 0.0, 1.0)),
    ]
}

// ---- edge cases ------------------------------------------------------------------------------

/// `inputs` with `f` applied to the f32 data of input `k`.
fn edit(mut inputs: Vec<Tensor>, k: usize, f: impl FnOnce(&mut [f32])) -> Vec<Tensor> {
    if let Ok(v) = inputs[k].as_f32_mut() {
        f(v);
    }
    inputs
}

fn scaled(inputs: Vec<Tensor>, by: f32) -> Vec<Tensor> {
    inputs
        .into_iter()
        .map(|mut t| {
            if let Ok(v) = t.as_f32_mut() {
                v.iter_mut().for_each(|x| *x *= by);
            }
            t
        })
        .collect()
}

fn matmul_cases() -> Vec<Case> {
    let p = Params::defaults(&SPECS[0]);
    let base = || matmul_workload(2 * MM, 31, &p);
    let empty = || shaped(Vec::new(), &[0, M, M]);
    vec![
        Case {
            label: "NaN in A (a row of C NaN)",
            inputs: edit(base(), 0, |a| a[MM + 5 * M + 77] = f32::NAN),
        },
        Case {
            label: "NaN in Bm (a column of C NaN)",
            inputs: edit(base(), 1, |b| b[3 * M + 100] = f32::NAN),
        },
        Case {
            label: "inf in A against zeros in Bm (inf·0 = NaN)",
            inputs: edit(edit(base(), 0, |a| a[2 * M + 10] = f32::INFINITY), 1, |b| {
                b[10 * M..10 * M + 7].fill(0.0)
            }),
        },
        Case {
            label: "B = 0",
            inputs: vec![empty(), empty()],
        },
        Case {
            label: "one [128, 128] matrix",
            inputs: matmul_workload(MM, 32, &p)
                .into_iter()
                .map(|t| t.reshaped(&[M, M]).unwrap_or_else(|_| Tensor::f32(vec![])))
                .collect(),
        },
        Case {
            label: "scaled by 1e-20 (products are f32 subnormals)",
            inputs: scaled(base(), 1e-20),
        },
        Case {
            label: "scaled by 1e19 (products and sums overflow f32)",
            inputs: scaled(base(), 1e19),
        },
    ]
}

fn matvec_cases() -> Vec<Case> {
    let p = Params::defaults(&SPECS[1]);
    let base = || matvec_workload(10_000, 33, &p);
    vec![
        Case {
            label: "NaN in A (one y NaN)",
            inputs: edit(base(), 0, |a| a[17 * 100 + 3] = f32::NAN),
        },
        Case {
            label: "NaN in x (all of y NaN)",
            inputs: edit(base(), 1, |x| x[99] = f32::NAN),
        },
        Case {
            label: "+inf in x against a zero in A",
            inputs: edit(edit(base(), 1, |x| x[4] = f32::INFINITY), 0, |a| a[4] = 0.0),
        },
        Case {
            label: "rectangular 37×101",
            inputs: vec![
                shaped(philox::normal(34, 0, 37 * 101, 0.0, 1.0), &[37, 101]),
                Tensor::f32(philox::normal(34, 1, 101, 0.0, 1.0)),
            ],
        },
        Case {
            label: "scaled by 1e-20 (products are f32 subnormals)",
            inputs: scaled(base(), 1e-20),
        },
        Case {
            label: "scaled by 1e19 (products overflow f32)",
            inputs: scaled(base(), 1e19),
        },
    ]
}

fn outer_cases() -> Vec<Case> {
    let p = Params::defaults(&SPECS[2]);
    let base = || outer_workload(1000, 35, &p);
    vec![
        Case {
            label: "NaN in x (a row NaN)",
            inputs: edit(base(), 0, |x| x[3] = f32::NAN),
        },
        Case {
            label: "±inf·0 and −0",
            inputs: edit(edit(base(), 0, |x| {
                x[0] = f32::INFINITY;
                x[1] = -0.0;
                x[2] = 0.0;
            }), 1, |y| {
                y[0] = 0.0;
                y[1] = f32::NEG_INFINITY;
                y[5] = -0.0;
            }),
        },
        Case {
            label: "rectangular 31×1",
            inputs: vec![
                Tensor::f32(philox::normal(36, 0, 31, 0.0, 1.0)),
                Tensor::f32(vec![2.5]),
            ],
        },
        Case {
            label: "subnormal and huge products",
            inputs: vec![
                Tensor::f32(vec![1e-20, 1e20, 3e-39, -1e-45, 2.0]),
                Tensor::f32(vec![1e-20, 1e20, 0.5, 3.0, f32::MAX]),
            ],
        },
    ]
}

fn spmv_cases() -> Vec<Case> {
    let p = Params::defaults(&SPECS[3]);
    let base = || spmv_workload(1000, 37, &p);
    // A general CSR matrix: rows of 0 … 20 entries (empty rows), unsorted and repeated columns.
    let irregular = || {
        let (rows, cols) = (57usize, 23usize);
        let lens = philox::randint(38, 3, rows, 0, 21);
        let mut rp = vec![0u32];
        for &l in &lens {
            rp.push(rp[rp.len() - 1] + l as u32);
        }
        let nnz = rp[rows] as usize;
        let col = philox::randint(38, 1, nnz, 0, cols as i64);
        vec![
            Tensor::u32(rp),
            Tensor::u32(col.into_iter().map(|c| c as u32).collect()),
            Tensor::f32(philox::normal(38, 0, nnz, 0.0, 1.0)),
            Tensor::f32(philox::normal(38, 2, cols, 0.0, 1.0)),
        ]
    };
    vec![
        Case {
            label: "NaN in x (every row referencing it NaN)",
            inputs: edit(base(), 3, |x| x[42] = f32::NAN),
        },
        Case {
            label: "+inf in val",
            inputs: edit(base(), 2, |v| v[7] = f32::INFINITY),
        },
        Case {
            label: "irregular rows (empty rows, unsorted and repeated columns)",
            inputs: irregular(),
        },
        Case {
            label: "scaled by 1e-20 (products are f32 subnormals)",
            inputs: scaled(base(), 1e-20),
        },
    ]
}

fn trsv_cases() -> Vec<Case> {
    let p = Params::defaults(&SPECS[4]);
    let base = || trsv_workload(10_000, 39, &p);
    vec![
        Case {
            label: "NaN in b (y NaN from there on)",
            inputs: edit(base(), 1, |b| b[40] = f32::NAN),
        },
        Case {
            label: "NaN stored above the diagonal (must not be read)",
            inputs: edit(base(), 0, |l| {
                for r in 0..100 {
                    l[r * 100 + r + 1..(r + 1) * 100].fill(f32::NAN);
                }
            }),
        },
        Case {
            label: "scaled by 1e-30 (products are tiny)",
            inputs: scaled(base(), 1e-30),
        },
        Case {
            label: "n = 300 (blocks and tails)",
            inputs: trsv_workload(90_000, 40, &p),
        },
    ]
}

pub static OPS: &[Op] = &[
    Op {
        name: "matmul_batched",
        inputs: &[input("A", DType::F32), input("Bm", DType::F32)],
        outputs: &["C"],
        shapes: matmul_shapes,
        reference: matmul_reference,
        workload: matmul_workload,
        edge_cases: matmul_cases,
        cpu: cpu::matmul_batched,
    },
    Op {
        name: "matvec",
        inputs: &[input("A", DType::F32), input("x", DType::F32)],
        outputs: &["y"],
        shapes: matvec_shapes,
        reference: matvec_reference,
        workload: matvec_workload,
        edge_cases: matvec_cases,
        cpu: cpu::matvec,
    },
    Op {
        name: "outer_product",
        inputs: &[input("x", DType::F32), input("y", DType::F32)],
        outputs: &["A"],
        shapes: outer_shapes,
        reference: outer_reference,
        workload: outer_workload,
        edge_cases: outer_cases,
        cpu: cpu::outer_product,
    },
    Op {
        name: "spmv_csr",
        inputs: &[
            input("row_ptr", DType::U32),
            input("col", DType::U32),
            input("val", DType::F32),
            input("x", DType::F32),
        ],
        outputs: &["y"],
        shapes: spmv_shapes,
        reference: spmv_reference,
        workload: spmv_workload,
        edge_cases: spmv_cases,
        cpu: cpu::spmv_csr,
    },
    Op {
        name: "triangular_solve",
        inputs: &[input("L", DType::F32), input("b", DType::F32)],
        outputs: &["y"],
        shapes: trsv_shapes,
        reference: trsv_reference,
        workload: trsv_workload,
        edge_cases: trsv_cases,
        cpu: cpu::triangular_solve,
    },
];
