//! The registry: every kernel of the catalog joined, once, with its op and its implementations —
//! `scalar`, `simd` and `parallel` from the op's CPU evaluation, `cuda` from the domain's table,
//! and later library routes (`rustfft`, `faer`, `cublas`, `cufft`) and `wgpu`. Lookups by name
//! are map lookups. A table entry that names no kernel of its domain is recorded in `problems`
//! rather than panicking; the tests require there be none.

use crate::backend::cpu::Cpu;
use crate::backend::{cuda, Backend, DeviceKernel};
use crate::error::{Error, Result};
use crate::op::{Case, CpuKernel, Input, Op};
use crate::params::Params;
use crate::spec::KernelSpec;
use crate::tensor::{Location, Tensor, TensorDesc};
use crate::verify::Expected;
use serde::Serialize;
use std::collections::HashMap;
use std::sync::OnceLock;

/// One way to compute a kernel: an id (`simd`, `cuda`, `cufft`, …) and the backend that runs it,
/// which says where its data lives.
#[derive(Serialize)]
pub struct Implementation {
    pub kernel: &'static str,
    pub id: &'static str,
    pub backend: Backend,
    #[serde(skip)]
    exec: Exec,
}

enum Exec {
    Cpu(Cpu, CpuKernel),
    Device(Box<dyn DeviceKernel>),
}

impl Implementation {
    /// Why it cannot run on this machine or build, or None when it can.
    pub fn unavailable_reason(&self) -> Option<String> {
        self.backend.unavailable_reason()
    }
    pub fn available(&self) -> bool {
        self.unavailable_reason().is_none()
    }
    /// Where its data lives (device `ordinal` for a device backend).
    pub fn location(&self, ordinal: usize) -> Location {
        self.backend.location(ordinal)
    }
}

impl std::fmt::Debug for Implementation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{}", self.kernel, self.id)
    }
}

/// An implemented kernel: its catalog entry, its op and every implementation.
pub struct Kernel {
    pub spec: &'static KernelSpec,
    pub op: &'static Op,
    implementations: Vec<Implementation>,
}

impl Kernel {
    pub fn name(&self) -> &'static str {
        self.spec.name
    }
    pub fn inputs(&self) -> &'static [Input] {
        self.op.inputs
    }
    pub fn outputs(&self) -> &'static [&'static str] {
        self.op.outputs
    }
    /// Inputs at problem size N from a seed (docs/kernels/KERNELS.md §2).
    pub fn workload(&self, n: usize, seed: u64) -> Vec<Tensor> {
        (self.op.workload)(n, seed, &Params::defaults(self.spec))
    }
    /// Inputs at problem size N for these parameters (a row length other than the default).
    pub fn workload_with(&self, n: usize, seed: u64, params: &Params) -> Vec<Tensor> {
        (self.op.workload)(n, seed, params)
    }
    /// The f64 reference; call only on inputs `check` accepted.
    pub fn reference(&self, inputs: &[&Tensor], params: &Params) -> Vec<Expected> {
        (self.op.reference)(inputs, params)
    }
    pub fn edge_cases(&self) -> Vec<Case> {
        (self.op.edge_cases)()
    }

    /// Every implementation compiled into this build, available here or not.
    pub fn implementations(&self) -> &[Implementation] {
        &self.implementations
    }

    /// The implementation with this id.
    pub fn implementation(&self, id: &str) -> Result<&Implementation> {
        self.implementations
            .iter()
            .find(|i| i.id == id)
            .ok_or_else(|| Error::NotImplemented {
                kernel: self.name().into(),
                backend: id.into(),
            })
    }

    /// The first implementation on `backend` (the backend's own code before library routes).
    pub fn on(&self, backend: Backend) -> Result<&Implementation> {
        self.implementations
            .iter()
            .find(|i| i.backend == backend)
            .ok_or_else(|| Error::NotImplemented {
                kernel: self.name().into(),
                backend: backend.name().into(),
            })
    }

    /// Whether an implementation on `backend` can run here.
    pub fn has(&self, backend: Backend) -> bool {
        self.on(backend).is_ok_and(|i| i.available())
    }

    /// Check inputs (count, element types, shapes, parameters) and describe the outputs.
    pub fn check(&self, inputs: &[&Tensor], params: &Params) -> Result<Vec<TensorDesc>> {
        let name = self.name();
        let want = self.op.inputs;
        if inputs.len() != want.len() {
            let names: Vec<_> = want.iter().map(|i| i.name).collect();
            return Err(Error::Shape(format!(
                "{name} takes {} input(s) ({}), got {}",
                want.len(),
                names.join(", "),
                inputs.len()
            )));
        }
        for (t, w) in inputs.iter().zip(want) {
            if t.dtype() != w.dtype {
                return Err(Error::DType(format!(
                    "{name}: input '{}' must be {}, got {}",
                    w.name,
                    w.dtype.name(),
                    t.dtype().name()
                )));
            }
        }
        (self.op.shapes)(inputs, params)
    }

    /// Host outputs for these inputs.
    pub fn outputs_for(&self, inputs: &[&Tensor], params: &Params) -> Result<Vec<Tensor>> {
        Ok(self
            .check(inputs, params)?
            .iter()
            .map(Tensor::zeros)
            .collect())
    }

    /// Run `imp` into preallocated outputs (the harness times this). Device implementations
    /// take inputs and outputs on the host or on their device; CPU ones on the host.
    pub fn run_into(
        &self,
        imp: &Implementation,
        inputs: &[&Tensor],
        params: &Params,
        outputs: &mut [Tensor],
    ) -> Result<()> {
        if imp.kernel != self.name() {
            return Err(Error::Param(format!(
                "{}: given an implementation of {}",
                self.name(),
                imp.kernel
            )));
        }
        let descs = self.check(inputs, params)?;
        if outputs.len() != descs.len() || outputs.iter().zip(&descs).any(|(o, d)| o.desc() != *d) {
            return Err(Error::Shape(format!(
                "{}: outputs must be {:?}",
                self.name(),
                descs
                    .iter()
                    .map(|d| format!("{}{:?}", d.dtype.name(), d.shape))
                    .collect::<Vec<_>>()
            )));
        }
        match &imp.exec {
            Exec::Cpu(cpu, f) => f(*cpu, inputs, params, outputs),
            Exec::Device(k) => k.run(self.spec, inputs, params, outputs),
        }
    }

    /// Run `imp`, allocating host outputs.
    pub fn run(
        &self,
        imp: &Implementation,
        inputs: &[&Tensor],
        params: &Params,
    ) -> Result<Vec<Tensor>> {
        let mut out = self.outputs_for(inputs, params)?;
        self.run_into(imp, inputs, params, &mut out)?;
        Ok(out)
    }
}

/// The catalog, the implemented kernels, and what did not join.
pub struct Registry {
    specs: Vec<&'static KernelSpec>,
    spec_index: HashMap<&'static str, usize>,
    kernels: Vec<Kernel>,
    kernel_index: HashMap<&'static str, usize>,
    /// Entries that did not join (a duplicate name, an op or table entry naming no kernel of
    /// its domain, a CUDA table without a source). Empty in a correct build.
    pub problems: Vec<String>,
}

/// The registry, built at first use.
pub fn registry() -> &'static Registry {
    static R: OnceLock<Registry> = OnceLock::new();
    R.get_or_init(build)
}

fn build() -> Registry {
    let mut r = Registry {
        specs: Vec::new(),
        spec_index: HashMap::new(),
        kernels: Vec::new(),
        kernel_index: HashMap::new(),
        problems: Vec::new(),
    };
    for t in crate::ops::tables() {
        let domain = t.domain.name();
        for s in t.specs {
            if s.domain != t.domain {
                r.problems.push(format!(
                    "{} sits in {domain} but its spec says {}",
                    s.name,
                    s.domain.name()
                ));
            }
            if r.spec_index.insert(s.name, r.specs.len()).is_some() {
                r.problems
                    .push(format!("{} is in the catalog twice", s.name));
            }
            r.specs.push(s);
        }
        for op in t.ops {
            let Some(spec) = t.specs.iter().find(|s| s.name == op.name) else {
                r.problems
                    .push(format!("op {} names no kernel of {domain}", op.name));
                continue;
            };
            let cpu = |id, c| Implementation {
                kernel: spec.name,
                id,
                backend: match c {
                    Cpu::Scalar => Backend::Scalar,
                    Cpu::Simd => Backend::Simd,
                    Cpu::Parallel => Backend::Parallel,
                },
                exec: Exec::Cpu(c, op.cpu),
            };
            if r.kernel_index.insert(spec.name, r.kernels.len()).is_some() {
                r.problems.push(format!("op {} is defined twice", op.name));
            }
            r.kernels.push(Kernel {
                spec,
                op,
                implementations: vec![
                    cpu("scalar", Cpu::Scalar),
                    cpu("simd", Cpu::Simd),
                    cpu("parallel", Cpu::Parallel),
                ],
            });
        }
        match (t.cuda.source, t.cuda.kernels) {
            (_, []) => {}
            (None, _) => r
                .problems
                .push(format!("{domain}: CUDA kernels without a source")),
            (Some(source), kernels) => {
                for k in kernels {
                    match r.kernel_index.get(k.name) {
                        Some(&i) if r.kernels[i].spec.domain == t.domain => {
                            let kernel = r.kernels[i].spec.name;
                            r.kernels[i].implementations.push(Implementation {
                                kernel,
                                id: "cuda",
                                backend: Backend::Cuda,
                                exec: Exec::Device(Box::new(cuda::Bound { source, kernel: k })),
                            })
                        }
                        _ => r.problems.push(format!(
                            "{domain}: CUDA kernel {} names no implemented kernel of the domain",
                            k.name
                        )),
                    }
                }
            }
        }
    }
    r
}

impl Registry {
    /// Every kernel of the catalog, implemented or not, in catalog order.
    pub fn catalog(&self) -> impl Iterator<Item = &'static KernelSpec> + '_ {
        self.specs.iter().copied()
    }
    pub fn spec(&self, name: &str) -> Option<&'static KernelSpec> {
        self.spec_index.get(name).map(|&i| self.specs[i])
    }
    /// The implemented kernels, in catalog order.
    pub fn kernels(&self) -> impl Iterator<Item = &Kernel> + '_ {
        self.kernels.iter()
    }
    pub fn kernel(&self, name: &str) -> Option<&Kernel> {
        self.kernel_index.get(name).map(|&i| &self.kernels[i])
    }
    /// Every implementation id registered for any kernel, in first-seen order.
    pub fn implementation_ids(&self) -> Vec<&'static str> {
        let mut ids: Vec<&'static str> = Vec::new();
        for i in self.kernels.iter().flat_map(|k| &k.implementations) {
            if !ids.contains(&i.id) {
                ids.push(i.id);
            }
        }
        ids
    }
}

/// Every domain's CUDA source, in catalog order.
pub fn cuda_sources() -> impl Iterator<Item = &'static cuda::Source> {
    crate::ops::tables().iter().filter_map(|t| t.cuda.source)
}
