//! What a domain writes for each kernel it implements: inputs and outputs, shape rules, the f64
//! reference, the workload, edge cases, and its CPU evaluation (as MLX gives each primitive its
//! own `eval`). Device evaluations live beside it in the domain's `cuda.rs`; the registry
//! (`registry.rs`) joins them.

use crate::backend::cpu::Cpu;
use crate::backend::Backend;
use crate::error::{Error, Result};
use crate::params::Params;
use crate::tensor::{DType, Tensor, TensorDesc};
use crate::verify::Expected;

/// A CPU evaluation; `Cpu` says which of scalar, simd and parallel to run. Inputs and outputs
/// have been checked against the op's shape rules before it is called.
pub type CpuKernel = fn(Cpu, &[&Tensor], &Params, &mut [Tensor]) -> Result<()>;

/// One named input and the element type it must have.
#[derive(Clone, Copy, Debug)]
pub struct Input {
    pub name: &'static str,
    pub dtype: DType,
}

pub const fn input(name: &'static str, dtype: DType) -> Input {
    Input { name, dtype }
}

/// Extra inputs an entry's edge cases name (NaN, ±inf, −0, denormals, ties…).
pub struct Case {
    pub label: &'static str,
    pub inputs: Vec<Tensor>,
}

pub struct Op {
    pub name: &'static str,
    pub inputs: &'static [Input],
    pub outputs: &'static [&'static str],
    /// Shape and parameter rules beyond element types; returns the outputs' descriptions.
    pub shapes: fn(&[&Tensor], &Params) -> Result<Vec<TensorDesc>>,
    /// The f64 reference, written for clarity; called only on inputs `shapes` accepted.
    pub reference: fn(&[&Tensor], &Params) -> Vec<Expected>,
    /// Inputs at problem size N from a seed (docs/kernels/KERNELS.md §2).
    /// Row-shaped kernels take their row length from `Params` (the sweep varies it).
    pub workload: fn(usize, u64, &Params) -> Vec<Tensor>,
    pub edge_cases: fn() -> Vec<Case>,
    pub cpu: CpuKernel,
}

/// A library route (`faer`, `cublas`, `rustfft`, `cufft`): one more implementation of a kernel of
/// the domain, with its own id, that calls a library instead of our code. A domain lists its
/// routes in `LIBRARIES` next to its ops; the registry joins each to its kernel after the
/// domain's own implementations, so verification, the benchmark (`--impl ID`), the router and
/// calibration pick it up like any other (docs/adding-a-kernel.md, "Library routes").
#[derive(Clone, Copy)]
pub struct Library {
    /// The kernel it computes (a kernel of the domain with an op).
    pub kernel: &'static str,
    /// Its implementation id, the library's name: `faer`, `cublas`.
    pub id: &'static str,
    /// Where it runs and where its data lives: a CPU backend (host data; `Cpu` follows it, so
    /// a `Parallel` route is handed `Cpu::Parallel`) or `Cuda` (device data).
    pub backend: Backend,
    pub exec: LibraryExec,
    /// Why the library cannot run here (not loadable, no device), or None; checked after the
    /// backend's own reason. A route must never panic where its library is missing.
    pub unavailable: fn() -> Option<String>,
}

/// How a library route runs.
#[derive(Clone, Copy)]
pub enum LibraryExec {
    /// On host data, like `parallel`: inputs and outputs checked against the op's shapes.
    Cpu(CpuKernel),
    /// On the cuda backend, like `cuda`: data staged on the device, then this function gets the
    /// call (device pointers, device, stream) where a kernel of ours would be launched.
    Cuda(fn(&crate::backend::cuda::Call) -> Result<()>),
}

/// For `Library::unavailable` when the library is always there (a Rust crate compiled in).
pub fn always_available() -> Option<String> {
    None
}

/// Shape helpers shared by the domains.
pub mod shape {
    use super::*;

    /// All inputs must have the same length as the first; returns it.
    pub fn same_len(name: &str, inputs: &[&Tensor]) -> Result<usize> {
        let n = inputs[0].len();
        for t in &inputs[1..] {
            if t.len() != n {
                return Err(Error::Shape(format!(
                    "{name}: all inputs must have the same length; got {} and {}",
                    n,
                    t.len()
                )));
            }
        }
        Ok(n)
    }

    /// Rows of length d: the input length must be a multiple of d, and a 2-D input's last
    /// dimension must be d. Returns the row count.
    pub fn rows_of(name: &str, t: &Tensor, d: usize) -> Result<usize> {
        if d == 0 {
            return Err(Error::Param(format!("{name}: d must be ≥ 1")));
        }
        match t.shape() {
            [_, cols] if *cols != d => Err(Error::Shape(format!(
                "{name}: a 2-D input has rows of {cols} but d = {d}"
            ))),
            s if s.len() > 2 => Err(Error::Shape(format!(
                "{name}: expected a 1-D or 2-D input, got shape {s:?}"
            ))),
            _ if t.len() % d != 0 => Err(Error::Shape(format!(
                "{name}: input length {} is not a multiple of the row length d = {d}",
                t.len()
            ))),
            _ => Ok(t.len() / d),
        }
    }

    /// A 1-D input: returns its length.
    pub fn one_d(name: &str, t: &Tensor) -> Result<usize> {
        match t.shape() {
            [n] => Ok(*n),
            s => Err(Error::Shape(format!(
                "{name}: the input must be 1-D, got shape {s:?}"
            ))),
        }
    }

    /// The length n of a generator's size-only input (`Tensor::size_only`, shape [n, 0]).
    pub fn generated(name: &str, t: &Tensor) -> Result<usize> {
        t.size_only_len().ok_or_else(|| {
            Error::Shape(format!(
                "{name} generates its output and reads no data: its input must be a size-only \
                 tensor of shape [n, 0] (Tensor::size_only(n)), got shape {:?}",
                t.shape()
            ))
        })
    }

    pub fn nonempty(name: &str, t: &Tensor) -> Result<()> {
        if t.is_empty() {
            Err(Error::Empty(format!(
                "{name} of an empty input has no value (no identity)"
            )))
        } else {
            Ok(())
        }
    }
}
