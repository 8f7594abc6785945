//! An implemented kernel: its inputs and outputs, shape rules, f64 reference, workload, edge
//! cases, and one evaluation per backend (as MLX gives each primitive its CPU and GPU `eval`).
//! The registry lists every `(kernel, backend)` that has an implementation.

use crate::backend::cpu::Cpu;
use crate::backend::Backend;
use crate::error::{Error, Result};
use crate::params::Params;
use crate::spec::KernelSpec;
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
    /// Inputs at problem size N from a seed (KERNELS.md §2).
    pub workload: fn(usize, u64) -> Vec<Tensor>,
    pub edge_cases: fn() -> Vec<Case>,
    pub cpu: CpuKernel,
}

impl Op {
    pub fn spec(&self) -> &'static KernelSpec {
        crate::spec_of(self.name).expect("every op has a catalog entry (tested)")
    }

    /// The backends that can run this op here: the CPU ones always; `cuda` when this build has
    /// the feature and the kernel, and the machine a device and NVRTC.
    pub fn backends(&self) -> Vec<Backend> {
        #[allow(unused_mut)]
        let mut v = vec![Backend::Scalar, Backend::Simd, Backend::Parallel];
        #[cfg(feature = "cuda")]
        if crate::backend::cuda::has_kernel(self.name) && crate::backend::cuda::available() {
            v.push(Backend::Cuda);
        }
        v
    }

    pub fn has(&self, backend: Backend) -> bool {
        self.backends().contains(&backend)
    }

    /// Check inputs (count, element types, shapes, parameters) and describe the outputs.
    pub fn check(&self, inputs: &[&Tensor], params: &Params) -> Result<Vec<TensorDesc>> {
        if inputs.len() != self.inputs.len() {
            let names: Vec<_> = self.inputs.iter().map(|i| i.name).collect();
            return Err(Error::Shape(format!(
                "{} takes {} input(s) ({}), got {}",
                self.name,
                self.inputs.len(),
                names.join(", "),
                inputs.len()
            )));
        }
        for (t, want) in inputs.iter().zip(self.inputs) {
            if t.dtype() != want.dtype {
                return Err(Error::DType(format!(
                    "{}: input '{}' must be {}, got {}",
                    self.name,
                    want.name,
                    want.dtype.name(),
                    t.dtype().name()
                )));
            }
        }
        (self.shapes)(inputs, params)
    }

    /// Allocate outputs for these inputs.
    pub fn outputs_for(&self, inputs: &[&Tensor], params: &Params) -> Result<Vec<Tensor>> {
        Ok(self
            .check(inputs, params)?
            .iter()
            .map(Tensor::zeros)
            .collect())
    }

    /// Run on `backend` into preallocated outputs (the harness times this).
    pub fn run_into(
        &self,
        backend: Backend,
        inputs: &[&Tensor],
        params: &Params,
        outputs: &mut [Tensor],
    ) -> Result<()> {
        let descs = self.check(inputs, params)?;
        if outputs.len() != descs.len() || outputs.iter().zip(&descs).any(|(o, d)| o.desc() != *d) {
            return Err(Error::Shape(format!(
                "{}: outputs must be {:?}",
                self.name,
                descs
                    .iter()
                    .map(|d| format!("{}{:?}", d.dtype.name(), d.shape))
                    .collect::<Vec<_>>()
            )));
        }
        #[cfg(feature = "cuda")]
        if backend == Backend::Cuda {
            // Inputs and outputs may be on the host or the device (see backend::cuda).
            return crate::backend::cuda::run(self, inputs, params, outputs);
        }
        let cpu = match backend {
            Backend::Scalar => Cpu::Scalar,
            Backend::Simd => Cpu::Simd,
            Backend::Parallel => Cpu::Parallel,
            // Reached for cuda only in a build without the feature: say so, rather than
            // claiming the kernel lacks a cuda implementation.
            Backend::Cuda => {
                return Err(Error::Device(
                    Backend::Cuda.unavailable_reason().unwrap_or_default(),
                ))
            }
            other => {
                return Err(Error::NotImplemented {
                    kernel: self.name.into(),
                    backend: other.name().into(),
                })
            }
        };
        (self.cpu)(cpu, inputs, params, outputs)
    }

    /// Run on `backend`, allocating the outputs.
    pub fn run(
        &self,
        backend: Backend,
        inputs: &[&Tensor],
        params: &Params,
    ) -> Result<Vec<Tensor>> {
        let mut out = self.outputs_for(inputs, params)?;
        self.run_into(backend, inputs, params, &mut out)?;
        Ok(out)
    }
}

/// Every implemented op, in catalog order.
pub fn ops() -> impl Iterator<Item = &'static Op> {
    use crate::ops::*;
    [
        elementwise::OPS,
        activations::OPS,
        reductions::OPS,
        fused::OPS,
        dot_products::OPS,
        quantization::OPS,
    ]
    .into_iter()
    .flatten()
}

/// The op for a kernel name: `UnknownKernel` if it is not in the catalog, `NotImplemented`
/// if it is but has no implementation yet.
pub fn op(name: &str) -> Result<&'static Op> {
    if let Some(op) = ops().find(|o| o.name == name) {
        return Ok(op);
    }
    crate::spec_of(name)?;
    Err(Error::NotImplemented {
        kernel: name.into(),
        backend: "any".into(),
    })
}

/// All `(kernel, backend)` pairs that have an implementation.
pub fn implementations() -> Vec<(&'static str, Backend)> {
    ops()
        .flat_map(|o| o.backends().into_iter().map(move |b| (o.name, b)))
        .collect()
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
