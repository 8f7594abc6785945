//! correlation: weighted sums and means, covariance and Pearson correlation of a pair of
//! vectors, and the covariance and correlation matrices of 64 variables
//! (`kernels/correlation.md`; numpy's np.average, np.cov and np.corrcoef semantics). Library
//! route: `faer` for reduce_covariance_matrix.

pub(crate) mod cpu;
mod cuda;
mod libraries;

pub(crate) use cuda::CUDA;
pub(crate) use libraries::LIBRARIES;

use super::common::f32_rows;
use crate::op::{input, shape, Case, Op};
use crate::params::Params;
use crate::philox;
use crate::spec::{rows, Domain, KernelSpec, Metric, Tolerance};
use crate::tensor::{DType, Tensor, TensorDesc};
use crate::verify::Expected;
use crate::Result;

/// The variable count of the matrix kernels (fixed by the entries).
pub const D: usize = 64;

pub static SPECS: &[KernelSpec] = &[
    KernelSpec {
        name: "reduce_weighted_sum",
        domain: Domain::Correlation,
        computes: "s = Σ_{i<N} w_i x_i (f64 products and sum, rounded once)",
        shapes: "x f32[N] ~ normal(1, 1) (stream 0), w f32[N] ~ uniform(0, 1) (stream 1) → s f32 scalar",
        params: &[],
        // S = Σ|w_i x_i|.
        tolerance: Tolerance::Sum { rtol: 1e-5 },
        metric: Metric::Bandwidth,
        bytes: |n| 8.0 * n as f64,
        flops: |n| 2.0 * n as f64,
    },
    KernelSpec {
        name: "reduce_weighted_mean",
        domain: Domain::Correlation,
        computes: "m = (Σ w_i x_i) / (Σ w_i) (both sums in f64, one division, rounded once)",
        shapes: "x f32[N] ~ normal(1, 1) (stream 0), w f32[N] ~ uniform(0, 1) (stream 1) → m f32 scalar",
        params: &[],
        // S = (Σ|w_i x_i| + |m|·Σ|w_i|) / |Σ w_i|, supplied by the reference.
        tolerance: Tolerance::Sum { rtol: 1e-5 },
        metric: Metric::Bandwidth,
        bytes: |n| 8.0 * n as f64,
        flops: |n| 3.0 * n as f64 + 1.0,
    },
    KernelSpec {
        name: "reduce_covariance",
        domain: Domain::Correlation,
        computes: "c = Σ (x_i − x̄)(y_i − ȳ) / (n − 1) (ddof = 1, np.cov)",
        shapes: "x f32[N] ~ normal (stream 0), y_i = f32(0.6·x_i + 0.8·z_i), z ~ normal (stream 1) → c f32 scalar",
        params: &[],
        tolerance: Tolerance::Stat { rtol: 1e-5, atol: 1e-6 },
        metric: Metric::Bandwidth,
        bytes: |n| 8.0 * n as f64,
        flops: |n| 6.0 * n as f64,
    },
    KernelSpec {
        name: "reduce_correlation",
        domain: Domain::Correlation,
        computes: "r = Σ(x_i − x̄)(y_i − ȳ) / sqrt(Σ(x_i − x̄)² · Σ(y_i − ȳ)²) (Pearson)",
        shapes: "x f32[N] ~ normal (stream 0), y_i = f32(0.6·x_i + 0.8·z_i), z ~ normal (stream 1) → r f32 scalar",
        params: &[],
        tolerance: Tolerance::Stat { rtol: 1e-5, atol: 1e-6 },
        metric: Metric::Bandwidth,
        bytes: |n| 8.0 * n as f64,
        flops: |n| 10.0 * n as f64 + 3.0,
    },
    // The covariance matrix's atol is scaled per element by sqrt(C_jj·C_kk) (the entry; the
    // reference supplies it as a sum-class scale, `MATRIX_ATOL`).
    // NOTE: the entry counts the centred Gram matrix as a full GEMM (2·64²·R flops, ≈ 32 flops per
    // byte), but names no headline metric, so the default Bandwidth is kept (§1 lists GFLOP/s only
    // for matmul and attention). Same for reduce_pearson_pairwise.
    KernelSpec {
        name: "reduce_covariance_matrix",
        domain: Domain::Correlation,
        computes: "C[j, k] = Σ_r (X[r, j] − μ_j)(X[r, k] − μ_k) / (R − 1), μ_j = (1/R) Σ_r X[r, j] (np.cov(X, rowvar=False); full symmetric 64×64)",
        shapes: "X f32[R, 64], R = max(1, ⌊N/64⌋), X[r, j] = f32(0.6·f_r + 0.8·z_rj), f_r = element r of normal stream 0, z_rj = element 64r + j of normal stream 1 → C f32[64, 64]",
        params: &[],
        tolerance: Tolerance::Stat { rtol: 1e-5, atol: 1e-6 },
        metric: Metric::Bandwidth,
        bytes: |n| {
            let r = rows(n, 64) as f64;
            4.0 * 64.0 * r + 4.0 * 4096.0
        },
        flops: |n| {
            let r = rows(n, 64) as f64;
            2.0 * 64.0 * 64.0 * r + 2.0 * 64.0 * r
        },
    },
    KernelSpec {
        name: "reduce_pearson_pairwise",
        domain: Domain::Correlation,
        computes: "P[j, k] = C[j, k] / sqrt(C[j, j] · C[k, k]), C as reduce_covariance_matrix (np.corrcoef(X, rowvar=False))",
        shapes: "X f32[R, 64], R = max(1, ⌊N/64⌋) (as reduce_covariance_matrix) → P f32[64, 64]",
        params: &[],
        tolerance: Tolerance::Stat { rtol: 1e-5, atol: 1e-6 },
        metric: Metric::Bandwidth,
        bytes: |n| {
            let r = rows(n, 64) as f64;
            4.0 * 64.0 * r + 4.0 * 4096.0
        },
        flops: |n| {
            let r = rows(n, 64) as f64;
            2.0 * 64.0 * 64.0 * r + 2.0 * 64.0 * r + 3.0 * 4096.0
        },
    },
];

// ---- reference (f64, two passes, rounded once) -----------------------------------------------

fn scalar_out() -> Vec<TensorDesc> {
    vec![TensorDesc::new(DType::F32, &[])]
}

fn f32_scalar(v: f64) -> Expected {
    Expected::new(DType::F32, &[], vec![v])
}

/// (Σ w_i x_i, Σ |w_i x_i|) with f64 products (exact for f32 inputs short of the f64 range).
fn ref_weighted(x: &[f32], w: &[f32]) -> (f64, f64) {
    x.iter().zip(w).fold((0.0, 0.0), |(s, a), (&x, &w)| {
        let t = w as f64 * x as f64;
        (s + t, a + t.abs())
    })
}

fn ws_reference(i: &[&Tensor], _: &Params) -> Vec<Expected> {
    let (Ok(x), Ok(w)) = (i[0].as_f32(), i[1].as_f32()) else {
        return vec![];
    };
    let (s, a) = ref_weighted(x, w);
    vec![f32_scalar(s).with_scale(vec![a])]
}

/// m = Σwx / Σw; the entry's scale S = (Σ|wx| + |m|·Σ|w|) / |Σw|.
fn wm_reference(i: &[&Tensor], _: &Params) -> Vec<Expected> {
    let (Ok(x), Ok(w)) = (i[0].as_f32(), i[1].as_f32()) else {
        return vec![];
    };
    let (num, abs_num) = ref_weighted(x, w);
    let den: f64 = w.iter().map(|&v| v as f64).sum();
    let abs_den: f64 = w.iter().map(|&v| (v as f64).abs()).sum();
    let m = num / den;
    vec![f32_scalar(m).with_scale(vec![(abs_num + m.abs() * abs_den) / den.abs()])]
}

/// Centred second moments of a pair by two passes in f64: (Σdx·dy, Σdx², Σdy²).
pub fn ref_comoments(x: &[f32], y: &[f32]) -> (f64, f64, f64) {
    let n = x.len() as f64;
    let mx = x.iter().map(|&v| v as f64).sum::<f64>() / n;
    let my = y.iter().map(|&v| v as f64).sum::<f64>() / n;
    x.iter().zip(y).fold((0.0, 0.0, 0.0), |(c, a, b), (&x, &y)| {
        let (dx, dy) = (x as f64 - mx, y as f64 - my);
        (c + dx * dy, a + dx * dx, b + dy * dy)
    })
}

fn cov_reference(i: &[&Tensor], _: &Params) -> Vec<Expected> {
    let (Ok(x), Ok(y)) = (i[0].as_f32(), i[1].as_f32()) else {
        return vec![];
    };
    let (c, _, _) = ref_comoments(x, y);
    vec![f32_scalar(c / (x.len() as f64 - 1.0))]
}

fn corr_reference(i: &[&Tensor], _: &Params) -> Vec<Expected> {
    let (Ok(x), Ok(y)) = (i[0].as_f32(), i[1].as_f32()) else {
        return vec![];
    };
    let (c, a, b) = ref_comoments(x, y);
    vec![f32_scalar(pearson(c, a, b, x.len()))]
}

/// r = c / sqrt(a·b), NaN for n = 1 (as the ddof = 1 covariances it divides are). The f64
/// product a·b cannot overflow or underflow for f32 data (|d|² ≤ 2^256·n, ≥ 2^-298).
pub fn pearson(c: f64, a: f64, b: f64, n: usize) -> f64 {
    if n < 2 {
        return f64::NAN;
    }
    c / (a * b).sqrt()
}

/// The centred Gram matrix G = Σ_r (x_r − μ)(x_r − μ)ᵀ of rows of D, upper triangle mirrored,
/// in f64 (two passes).
pub fn ref_gram(x: &[f32]) -> Vec<f64> {
    let r = x.len() / D;
    let mut mu = [0.0f64; D];
    for row in x.chunks_exact(D) {
        for (m, &v) in mu.iter_mut().zip(row) {
            *m += v as f64;
        }
    }
    mu.iter_mut().for_each(|m| *m /= r as f64);
    let mut g = vec![0.0f64; D * D];
    let mut d = [0.0f64; D];
    for row in x.chunks_exact(D) {
        for ((dj, &v), m) in d.iter_mut().zip(row).zip(&mu) {
            *dj = v as f64 - m;
        }
        for j in 0..D {
            let dj = d[j];
            for k in j..D {
                g[j * D + k] += dj * d[k];
            }
        }
    }
    mirror(&mut g);
    g
}

/// Copy the upper triangle onto the lower (the outputs must be exactly symmetric).
pub fn mirror<T: Copy>(g: &mut [T]) {
    for j in 0..D {
        for k in 0..j {
            g[j * D + k] = g[k * D + j];
        }
    }
}

/// P from a centred Gram matrix over `rows` rows: C / sqrt(C_jj·C_kk), clipped to [−1, 1] as
/// numpy's corrcoef does (NaN kept); all NaN for one row.
pub fn pearson_matrix(g: &[f64], rows: usize) -> Vec<f64> {
    (0..D * D)
        .map(|e| {
            let (j, k) = (e / D, e % D);
            // NaN stays NaN (f64::clamp passes it through).
            pearson(g[e], g[j * D + j], g[k * D + k], rows).clamp(-1.0, 1.0)
        })
        .collect()
}

/// The matrix's stat(1e-5, 1e-6) with its absolute part in units of sqrt(C_jj·C_kk), the size
/// of the terms of C_jk (Cauchy–Schwarz): |y − r| ≤ 1e-5·|r| + 1e-6·sqrt(C_jj·C_kk). At unit
/// variance (the workload) it is the entry's atol; a fixed atol would fail every f32 kernel on
/// data scaled by 100 (an entry near 0 then errs by ~1e-5 while sqrt(C_jj·C_kk) is ~1e4) and
/// pass anything on data scaled by 1e-10.
pub const MATRIX_RTOL: f64 = 1e-5;
pub const MATRIX_ATOL: f64 = 1e-6;

fn cov_matrix_reference(i: &[&Tensor], _: &Params) -> Vec<Expected> {
    let Ok(x) = i[0].as_f32() else { return vec![] };
    let r = x.len() / D;
    let c: Vec<f64> = ref_gram(x).iter().map(|v| v / (r as f64 - 1.0)).collect();
    let scale = (0..D * D)
        .map(|e| {
            let (j, k) = (e / D, e % D);
            c[e].abs() + MATRIX_ATOL / MATRIX_RTOL * (c[j * D + j] * c[k * D + k]).sqrt()
        })
        .collect();
    vec![Expected::new(DType::F32, &[D, D], c)
        .with_scale(scale)
        .with_tolerance(Tolerance::Sum { rtol: MATRIX_RTOL })]
}

fn pearson_reference(i: &[&Tensor], _: &Params) -> Vec<Expected> {
    let Ok(x) = i[0].as_f32() else { return vec![] };
    vec![Expected::new(DType::F32, &[D, D], pearson_matrix(&ref_gram(x), x.len() / D))]
}

// ---- shapes ----------------------------------------------------------------------------------

fn ws_shapes(i: &[&Tensor], _: &Params) -> Result<Vec<TensorDesc>> {
    shape::same_len("reduce_weighted_sum", i)?;
    Ok(scalar_out())
}

/// Two inputs of one length, not empty (a mean or a covariance of nothing has no value).
fn pair_shapes(name: &str, i: &[&Tensor]) -> Result<Vec<TensorDesc>> {
    shape::same_len(name, i)?;
    shape::nonempty(name, i[0])?;
    Ok(scalar_out())
}

/// X: rows of D (1-D of a multiple of D, or 2-D [R, D]), at least one row.
fn matrix_shapes(name: &str, i: &[&Tensor]) -> Result<Vec<TensorDesc>> {
    shape::rows_of(name, i[0], D)?;
    shape::nonempty(name, i[0])?;
    Ok(vec![TensorDesc::new(DType::F32, &[D, D])])
}

// ---- workloads -------------------------------------------------------------------------------

/// x ~ normal(1, 1) (stream 0), w ~ uniform(0, 1) (stream 1).
fn weighted_workload(n: usize, seed: u64, _: &Params) -> Vec<Tensor> {
    vec![
        Tensor::f32(philox::normal(seed, 0, n, 1.0, 1.0)),
        Tensor::f32(philox::uniform(seed, 1, n, 0.0, 1.0)),
    ]
}

/// f32(0.6·a + 0.8·b) in f64 on the f32 values, rounded once.
fn mix(a: f32, b: f32) -> f32 {
    (0.6 * a as f64 + 0.8 * b as f64) as f32
}

/// The pair: x ~ normal (stream 0), y = f32(0.6·x + 0.8·z), z ~ normal (stream 1).
fn pair_workload(n: usize, seed: u64, _: &Params) -> Vec<Tensor> {
    let x = philox::normal(seed, 0, n, 0.0, 1.0);
    let z = philox::normal(seed, 1, n, 0.0, 1.0);
    let y = x.iter().zip(&z).map(|(&a, &b)| mix(a, b)).collect();
    vec![Tensor::f32(x), Tensor::f32(y)]
}

/// X [R, 64], R = max(1, ⌊N/64⌋): X[r, j] = f32(0.6·f_r + 0.8·z_rj), f ~ normal stream 0 (one
/// per row), z ~ normal stream 1 (row-major).
fn matrix_workload(n: usize, seed: u64, _: &Params) -> Vec<Tensor> {
    let r = rows(n as u64, D as u64) as usize;
    let f = philox::normal(seed, 0, r, 0.0, 1.0);
    let z = philox::normal(seed, 1, r * D, 0.0, 1.0);
    let x = z.iter().enumerate().map(|(e, &b)| mix(f[e / D], b)).collect();
    vec![f32_rows(x, D)]
}

// ---- edge cases ------------------------------------------------------------------------------

/// `base` (two inputs of one length) with element k of the inputs set to (a, b) per edit.
fn edit2(mut v: Vec<Tensor>, edits: &[(usize, f32, f32)]) -> Vec<Tensor> {
    let (x, y) = v.split_at_mut(1);
    if let (Ok(x), Ok(y)) = (x[0].as_f32_mut(), y[0].as_f32_mut()) {
        for &(k, a, b) in edits {
            x[k] = a;
            y[k] = b;
        }
    }
    v
}

/// Every float of the inputs through `f`.
fn map_all(mut v: Vec<Tensor>, f: impl Fn(f32) -> f32) -> Vec<Tensor> {
    for t in &mut v {
        t.as_f32_mut().into_iter().flatten().for_each(|e| *e = f(*e));
    }
    v
}

/// Cases the pair kernels share (10 007 elements: blocks and a tail), on `work`'s inputs.
fn pair_cases(work: fn(usize, u64, &Params) -> Vec<Tensor>) -> Vec<Case> {
    let p = Params::defaults(&SPECS[0]);
    let base = |seed| work(10_007, seed, &p);
    let (nan, inf) = (f32::NAN, f32::INFINITY);
    vec![
        Case { label: "NaN in the first input", inputs: edit2(base(31), &[(5000, nan, 0.5)]) },
        Case { label: "NaN in the second input", inputs: edit2(base(31), &[(10_006, 0.5, nan)]) },
        Case { label: "+inf in the first input", inputs: edit2(base(31), &[(3, inf, 1.0)]) },
        Case { label: "−inf in the second input", inputs: edit2(base(31), &[(4096, 1.0, -inf)]) },
        Case { label: "inf·0", inputs: edit2(base(31), &[(17, inf, 0.0), (18, 0.0, -inf)]) },
        Case { label: "±0 and denormals", inputs: edit2(base(31), &[(1, -0.0, 1e-40), (2, 1e-45, -0.0)]) },
        Case { label: "an outlier first element", inputs: edit2(base(32), &[(0, 1e4, -1e4)]) },
        Case { label: "offset by 1e4 (a one-pass E[xy] − E[x]E[y] cancels)", inputs: map_all(base(33), |v| v + 1e4) },
        Case { label: "scaled by 1e-20 (products are f32 subnormals)", inputs: map_all(base(34), |v| v * 1e-20) },
        Case { label: "scaled by 1e19 (products overflow f32)", inputs: map_all(base(35), |v| v * 1e19) },
        Case { label: "scaled by 2e37 (sums overflow f32)", inputs: map_all(base(36), |v| v * 2e37) },
        Case { label: "±2e38 alternating", inputs: {
            let a: Vec<f32> = (0..10_007).map(|i| if i % 2 == 0 { 2e38 } else { -2e38 }).collect();
            vec![Tensor::f32(a.clone()), Tensor::f32(a)]
        } },
    ]
}

fn ws_cases() -> Vec<Case> {
    let mut c = pair_cases(weighted_workload);
    c.push(Case { label: "N = 1", inputs: vec![Tensor::f32(vec![3.0]), Tensor::f32(vec![0.5])] });
    c
}

fn wm_cases() -> Vec<Case> {
    let mut c = pair_cases(weighted_workload);
    let base = weighted_workload(10_007, 37, &Params::defaults(&SPECS[0]));
    let x = base[0].clone();
    c.push(Case { label: "all weights 0 (0/0)", inputs: vec![x.clone(), Tensor::f32(vec![0.0; 10_007])] });
    c.push(Case { label: "mixed-sign weights", inputs: {
        let w: Vec<f32> = philox::normal(37, 2, 10_007, 0.0, 1.0);
        vec![x.clone(), Tensor::f32(w)]
    } });
    c.push(Case { label: "weights summing to 0 (±inf)", inputs: vec![
        Tensor::f32(vec![1.0, 2.0, 3.0, 4.0]),
        Tensor::f32(vec![1.0, -1.0, 0.5, -0.5]),
    ] });
    c
}

/// A constant input whose mean is exact in every summation order (2.0, n a power of two).
fn constant_case(label: &'static str, first: bool) -> Case {
    let v = pair_workload(1024, 38, &Params::defaults(&SPECS[0]));
    let mut i = v;
    i[if first { 0 } else { 1 }] = Tensor::f32(vec![2.0; 1024]);
    Case { label, inputs: i }
}

fn cov_cases() -> Vec<Case> {
    let mut c = pair_cases(pair_workload);
    c.push(constant_case("constant x = 2.0", true));
    c.push(constant_case("constant y = 2.0", false));
    c.push(Case { label: "n = 2", inputs: vec![Tensor::f32(vec![1.0, 3.0]), Tensor::f32(vec![-2.0, 5.0])] });
    c
}

/// X at R = 64 (a power of two) with `f` applied.
fn matrix_case(label: &'static str, f: impl Fn(&mut [f32])) -> Case {
    let mut v = matrix_workload(64 * 64, 39, &Params::defaults(&SPECS[0]));
    if let Ok(x) = v[0].as_f32_mut() {
        f(x);
    }
    Case { label, inputs: v }
}

fn matrix_cases() -> Vec<Case> {
    let big = |label, f: fn(f32) -> f32| Case {
        label,
        inputs: map_all(matrix_workload(1_000_003, 40, &Params::defaults(&SPECS[0])), f),
    };
    vec![
        matrix_case("NaN at X[5, 7]", |x| x[5 * D + 7] = f32::NAN),
        matrix_case("+inf at X[63, 0]", |x| x[63 * D] = f32::INFINITY),
        matrix_case("constant column 3 (2.0)", |x| (0..64).for_each(|r| x[r * D + 3] = 2.0)),
        matrix_case("column 9 offset by 1e4", |x| (0..64).for_each(|r| x[r * D + 9] += 1e4)),
        matrix_case("an outlier first row", |x| x[..D].iter_mut().for_each(|v| *v *= 1e4)),
        matrix_case("column 1 = −column 0, column 2 = column 0", |x| {
            (0..64).for_each(|r| {
                x[r * D + 1] = -x[r * D];
                x[r * D + 2] = x[r * D];
            })
        }),
        big("scaled by 1e-20 (products are f32 subnormals)", |v| v * 1e-20),
        big("scaled by 1e19 (products overflow f32)", |v| v * 1e19),
        Case { label: "one row (all NaN)", inputs: vec![f32_rows(philox::normal(41, 0, D, 0.0, 1.0), D)] },
    ]
}

const XW: &[crate::op::Input] = &[input("x", DType::F32), input("w", DType::F32)];
const XY: &[crate::op::Input] = &[input("x", DType::F32), input("y", DType::F32)];
const X: &[crate::op::Input] = &[input("X", DType::F32)];

pub static OPS: &[Op] = &[
    Op {
        name: "reduce_weighted_sum",
        inputs: XW,
        outputs: &["s"],
        shapes: ws_shapes,
        reference: ws_reference,
        workload: weighted_workload,
        edge_cases: ws_cases,
        cpu: cpu::weighted_sum,
    },
    Op {
        name: "reduce_weighted_mean",
        inputs: XW,
        outputs: &["m"],
        shapes: |i, _| pair_shapes("reduce_weighted_mean", i),
        reference: wm_reference,
        workload: weighted_workload,
        edge_cases: wm_cases,
        cpu: cpu::weighted_mean,
    },
    Op {
        name: "reduce_covariance",
        inputs: XY,
        outputs: &["c"],
        shapes: |i, _| pair_shapes("reduce_covariance", i),
        reference: cov_reference,
        workload: pair_workload,
        edge_cases: cov_cases,
        cpu: cpu::covariance,
    },
    Op {
        name: "reduce_correlation",
        inputs: XY,
        outputs: &["r"],
        shapes: |i, _| pair_shapes("reduce_correlation", i),
        reference: corr_reference,
        workload: pair_workload,
        edge_cases: cov_cases,
        cpu: cpu::correlation,
    },
    Op {
        name: "reduce_covariance_matrix",
        inputs: X,
        outputs: &["C"],
        shapes: |i, _| matrix_shapes("reduce_covariance_matrix", i),
        reference: cov_matrix_reference,
        workload: matrix_workload,
        edge_cases: matrix_cases,
        cpu: cpu::covariance_matrix,
    },
    Op {
        name: "reduce_pearson_pairwise",
        inputs: X,
        outputs: &["P"],
        shapes: |i, _| matrix_shapes("reduce_pearson_pairwise", i),
        reference: pearson_reference,
        workload: matrix_workload,
        edge_cases: matrix_cases,
        cpu: cpu::pearson_pairwise,
    },
];
