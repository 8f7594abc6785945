//! softmax: row-wise softmax and log-softmax over rows of d (`kernels/softmax.md`).

pub(crate) mod cpu;
mod cuda;

pub(crate) use cuda::CUDA;

use super::common::f32_rows;
use crate::op::{input, shape, Case, Op};
use crate::params::Params;
use crate::philox;
use crate::spec::{rows, Domain, KernelSpec, Metric, ParamSpec, Tolerance};
use crate::tensor::{DType, Tensor, TensorDesc};
use crate::verify::Expected;
use crate::Result;

/// The row length (the entry's 1024; the sweep varies it).
const D: ParamSpec = ParamSpec::int("d", 1024.0, 1.0, 1e9, "row length");

pub static SPECS: &[KernelSpec] = &[
    KernelSpec {
        name: "softmax_stable",
        domain: Domain::Softmax,
        computes: "y[r, j] = exp(x[r, j] − m_r) / Σ_k exp(x[r, k] − m_r), m_r = max_k x[r, k]",
        shapes: "x f32[R, 1024] ~ normal(0, 4) (stream 0), R = max(1, ⌊N/1024⌋) → y f32[R, 1024]",
        params: &[D],
        tolerance: Tolerance::Elementwise { rtol: 1e-5, atol: 1e-9 },
        metric: Metric::Bandwidth,
        bytes: |n| 8.0 * 1024.0 * rows(n, 1024) as f64,
        flops: |n| 5.0 * 1024.0 * rows(n, 1024) as f64,
    },
    KernelSpec {
        name: "softmax_online",
        domain: Domain::Softmax,
        computes: "softmax_stable's y, by the one-pass online normaliser (running max m and rescaled sum d, (m, d) ⊕ (m′, d′) combine), then y = exp(x − m_R)/d_R",
        shapes: "x f32[R, 1024] ~ normal(0, 4) (stream 0), R = max(1, ⌊N/1024⌋) → y f32[R, 1024]",
        params: &[D],
        tolerance: Tolerance::Elementwise { rtol: 1e-5, atol: 1e-9 },
        metric: Metric::Bandwidth,
        bytes: |n| 8.0 * 1024.0 * rows(n, 1024) as f64,
        flops: |n| 5.0 * 1024.0 * rows(n, 1024) as f64,
    },
    KernelSpec {
        name: "log_softmax",
        domain: Domain::Softmax,
        computes: "y[r, j] = (x[r, j] − m_r) − log Σ_k exp(x[r, k] − m_r), m_r = max_k x[r, k]",
        shapes: "x f32[R, 1024] ~ normal(0, 4) (stream 0), R = max(1, ⌊N/1024⌋) → y f32[R, 1024]",
        params: &[D],
        // NOTE: the entry checks edge row (f) (the workload row + 100) with the wider
        // elementwise(1e-5, 1.6e-5) (2·ulp_f32(max_j x_j)); one static class cannot carry a per-row
        // exception, so this is the workload tolerance and row (f)'s unit test must widen atol.
        tolerance: Tolerance::Elementwise { rtol: 1e-5, atol: 4e-6 },
        metric: Metric::Bandwidth,
        bytes: |n| 8.0 * 1024.0 * rows(n, 1024) as f64,
        flops: |n| {
            let r = rows(n, 1024) as f64;
            5.0 * 1024.0 * r + r
        },
    },
];

fn row_shapes(name: &str, i: &[&Tensor], p: &Params) -> Result<Vec<TensorDesc>> {
    shape::rows_of(name, i[0], p.usize("d"))?;
    Ok(vec![TensorDesc::new(DType::F32, i[0].shape())])
}

/// R = max(1, ⌊N/d⌋) rows of d logits ~ normal(0, 4), stream 0.
fn workload(n: usize, seed: u64, p: &Params) -> Vec<Tensor> {
    let d = p.usize("d");
    let r = rows(n as u64, d as u64) as usize;
    vec![f32_rows(philox::normal(seed, 0, r * d, 0.0, 4.0), d)]
}

/// Per row: the max m (NaN if the row holds one) and Σ_k exp(x_k − m), in f64 from the f32
/// values. −inf − (−inf) and inf − inf are NaN, as the entry's edge cases require.
pub(crate) fn row_stats(x: &[f64]) -> (f64, f64) {
    let m = if x.iter().any(|v| v.is_nan()) {
        f64::NAN
    } else {
        x.iter().copied().fold(f64::NEG_INFINITY, f64::max)
    };
    (m, x.iter().map(|&v| (v - m).exp()).sum())
}

fn reference(i: &[&Tensor], p: &Params, log: bool) -> Vec<Expected> {
    let d = p.usize("d");
    let x = i[0].to_f64_vec();
    let mut y = Vec::with_capacity(x.len());
    let mut largest = 0.0f64;
    for row in x.chunks(d) {
        let (m, s) = row_stats(row);
        if m.is_finite() {
            largest = largest.max(m.abs());
        }
        if log {
            y.extend(row.iter().map(|&v| (v - m) - s.ln()));
        } else {
            y.extend(row.iter().map(|&v| (v - m).exp() / s));
        }
    }
    let e = Expected::new(DType::F32, i[0].shape(), y);
    if !log {
        return vec![e];
    }
    // The entry's atol is 4e-6 for the workload (|x| ≤ 23.1) and 2·ulp_f32(max_j x_j) for the
    // shifted row (f), which an implementation forming lse = m + log Σ first may lose: the one
    // rule max(4e-6, 2·ulp_f32(largest |m_r|)) gives both (docs/kernels/softmax.md).
    let atol = (2.0 * ulp_f32(largest)).max(4e-6);
    vec![e.with_tolerance(Tolerance::Elementwise { rtol: 1e-5, atol })]
}

/// One unit in the last place of f32 at |v| (v finite).
fn ulp_f32(v: f64) -> f64 {
    let b = (v.abs() as f32).to_bits() & 0x7f80_0000;
    if b == 0 {
        f32::from_bits(1) as f64
    } else {
        f32::from_bits(b) as f64 * 2f64.powi(-23)
    }
}

/// The entry's edge rows, each among workload rows (every other row must be unaffected).
fn edge_rows(shifted: bool) -> Vec<f32> {
    const D: usize = 1024;
    let w = |k: u64| philox::normal(11, k as u32, D, 0.0, 4.0);
    let mut rows: Vec<Vec<f32>> = vec![w(0), vec![f32::NEG_INFINITY; D], w(1)]; // (a)
    let mut b = w(2);
    b[517] = f32::INFINITY; // (b)
    rows.push(b);
    let mut c = w(3);
    c[0] = f32::NAN; // (c) first, where a running max is still −inf
    rows.push(c);
    let mut c2 = w(4);
    c2[700] = f32::NAN;
    rows.push(c2);
    let mut d = w(5);
    d[0] = f32::NEG_INFINITY; // (d): position 0, the first lane's share of a warp, scattered
    for k in 0..D / 128 {
        d[128 * k..128 * k + 4].fill(f32::NEG_INFINITY);
    }
    d[333] = f32::NEG_INFINITY;
    d[1023] = f32::NEG_INFINITY;
    rows.push(d);
    let mut d2 = w(6);
    d2[..256].fill(f32::NEG_INFINITY); // (d): the first SIMD tiles and lanes' share masked
    rows.push(d2);
    let mut one = vec![f32::NEG_INFINITY; D];
    one[1023] = -3.0; // all masked but one: that one is 1 (log: 0)
    rows.push(one);
    rows.push(vec![0.37; D]); // (e)
    if shifted {
        rows.push(w(7).iter().map(|&v| v + 100.0).collect()); // (f)
    }
    let mut g = vec![0.0f32; D];
    g[400] = -120.0; // (g)
    rows.push(g);
    let mut both = w(8);
    both[3] = f32::INFINITY;
    both[9] = f32::NEG_INFINITY;
    rows.push(both);
    rows.push(w(9));
    rows.concat()
}

fn cases() -> Vec<Case> {
    let t = |v| f32_rows(v, 1024);
    vec![
        Case {
            label: "edge rows (a)–(g) among workload rows",
            inputs: vec![t(edge_rows(true))],
        },
        Case {
            label: "edge rows without the shifted row (log_softmax at atol 4e-6)",
            inputs: vec![t(edge_rows(false))],
        },
        Case {
            label: "0 rows",
            inputs: vec![t(vec![])],
        },
    ]
}

const X: &[crate::op::Input] = &[input("x", DType::F32)];

/// One softmax op: the row shape rule, the reference (log or not), the shared workload and cases.
macro_rules! softmax_op {
    ($name:literal, $log:expr, $cpu:path) => {
        Op {
            name: $name,
            inputs: X,
            outputs: &["y"],
            shapes: |i, p| row_shapes($name, i, p),
            reference: |i, p| reference(i, p, $log),
            workload,
            edge_cases: cases,
            cpu: $cpu,
        }
    };
}

pub static OPS: &[Op] = &[
    softmax_op!("softmax_stable", false, cpu::softmax_stable),
    softmax_op!("softmax_online", false, cpu::softmax_online),
    softmax_op!("log_softmax", true, cpu::log_softmax),
];
