//! The registry: every kernel of the catalog joined, once, with its op and its implementations —
//! `scalar`, `simd` and `parallel` from the op's CPU evaluation, `cuda` from the domain's table,
//! then the domain's library routes (`faer`, `cublas`, later `rustfft`, `cufft`: `op::Library`)
//! with their own ids, and later `wgpu`. Lookups by name are map lookups. A table entry that
//! names no kernel of its domain is recorded in `problems` rather than panicking; the tests
//! require there be none.

use crate::backend::cpu::Cpu;
use crate::backend::{cuda, Backend, DeviceKernel};
use crate::error::{Error, Result};
use crate::op::{Case, CpuKernel, Input, Library, LibraryExec, Op};
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
    /// A library route (`op::Library`) rather than our own code.
    pub library: bool,
    #[serde(skip)]
    exec: Exec,
    /// A library route's own availability check (after the backend's).
    #[serde(skip)]
    needs: Option<fn() -> Option<String>>,
}

enum Exec {
    Cpu(Cpu, CpuKernel),
    Device(Box<dyn DeviceKernel>),
}

impl Implementation {
    /// Why it cannot run on this machine or build, or None when it can.
    pub fn unavailable_reason(&self) -> Option<String> {
        self.backend
            .unavailable_reason()
            .or_else(|| self.needs.and_then(|f| f()))
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
                library: false,
                exec: Exec::Cpu(c, op.cpu),
                needs: None,
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
                                library: false,
                                exec: Exec::Device(Box::new(cuda::Bound { source, kernel: k })),
                                needs: None,
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
    for (domain, libs) in crate::ops::libraries() {
        for lib in libs.iter() {
            r.add_library(*domain, lib);
        }
    }
    r
}

impl Registry {
    /// Join a library route to its kernel, after the kernel's own implementations; a route
    /// naming no implemented kernel of its domain, reusing an id, or whose exec does not fit
    /// its backend is recorded in `problems` instead.
    fn add_library(&mut self, domain: crate::ops::Domain, lib: &'static Library) {
        let what = format!("{}: library route {}:{}", domain.name(), lib.kernel, lib.id);
        let Some(&i) = self.kernel_index.get(lib.kernel) else {
            return self
                .problems
                .push(format!("{what} names no implemented kernel"));
        };
        let k = &mut self.kernels[i];
        if k.spec.domain != domain {
            return self
                .problems
                .push(format!("{what} names a kernel of {}", k.spec.domain.name()));
        }
        if k.implementations.iter().any(|imp| imp.id == lib.id) {
            return self
                .problems
                .push(format!("{what} reuses the id {}", lib.id));
        }
        let exec = match (&lib.exec, lib.backend) {
            (LibraryExec::Cpu(f), Backend::Scalar) => Exec::Cpu(Cpu::Scalar, *f),
            (LibraryExec::Cpu(f), Backend::Simd) => Exec::Cpu(Cpu::Simd, *f),
            (LibraryExec::Cpu(f), Backend::Parallel) => Exec::Cpu(Cpu::Parallel, *f),
            (LibraryExec::Cuda(f), Backend::Cuda) => Exec::Device(Box::new(cuda::Routed {
                kernel: k.spec.name,
                run: *f,
            })),
            (_, b) => {
                return self
                    .problems
                    .push(format!("{what}: its exec cannot run on the {b} backend"))
            }
        };
        k.implementations.push(Implementation {
            kernel: k.spec.name,
            id: lib.id,
            backend: lib.backend,
            library: true,
            exec,
            needs: Some(lib.unavailable),
        });
    }

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

#[cfg(test)]
mod tests {
    //! The library-route seam on made-up routes of `map_add` (the real ones are verified with
    //! every implementation by `verify_all` and `cuda_verify`).
    use super::*;
    use crate::op::always_available;
    use crate::ops::Domain;
    use crate::verify::compare;

    /// a + b on host data, as a library would compute it.
    fn add(_: Cpu, i: &[&Tensor], _: &Params, o: &mut [Tensor]) -> Result<()> {
        let (a, b) = (i[0].as_f32()?, i[1].as_f32()?);
        for ((y, &a), &b) in o[0].as_f32_mut()?.iter_mut().zip(a).zip(b) {
            *y = a + b;
        }
        Ok(())
    }
    fn never(_: &cuda::Call) -> Result<()> {
        Err(Error::Device("not reached without a device".into()))
    }
    fn not_loadable() -> Option<String> {
        Some("libexample was not found".into())
    }

    static CPU_ROUTE: Library = Library {
        kernel: "map_add",
        id: "example",
        backend: Backend::Parallel,
        exec: LibraryExec::Cpu(add),
        unavailable: always_available,
    };
    static MISSING: Library = Library {
        kernel: "map_add",
        id: "example_missing",
        backend: Backend::Parallel,
        exec: LibraryExec::Cpu(add),
        unavailable: not_loadable,
    };
    static DEVICE_ROUTE: Library = Library {
        kernel: "map_add",
        id: "example_cuda",
        backend: Backend::Cuda,
        exec: LibraryExec::Cuda(never),
        unavailable: always_available,
    };

    fn with(libs: &[&'static Library]) -> Registry {
        let mut r = build();
        r.problems.clear();
        for lib in libs.iter() {
            r.add_library(Domain::Elementwise, lib);
        }
        r
    }

    #[test]
    fn a_cpu_route_joins_after_the_own_implementations_and_runs_on_host_data() {
        let r = with(&[&CPU_ROUTE]);
        assert!(r.problems.is_empty(), "{:?}", r.problems);
        let k = r.kernel("map_add").unwrap();
        let ids: Vec<_> = k.implementations().iter().map(|i| i.id).collect();
        assert_eq!(ids.last(), Some(&"example"));
        assert!(r.implementation_ids().contains(&"example"));
        let imp = k.implementation("example").unwrap();
        assert!(imp.library && imp.available() && imp.backend.is_cpu());
        assert_eq!(imp.location(0), Location::Host);
        // The backend's own code still comes first.
        assert_eq!(k.on(Backend::Parallel).unwrap().id, "parallel");
        let x = k.workload(1001, 3);
        let refs: Vec<&Tensor> = x.iter().collect();
        let p = Params::defaults(k.spec);
        let out = k.run(imp, &refs, &p).unwrap();
        let exp = k.reference(&refs, &p);
        assert!(compare(k.spec.tolerance, &out[0], &exp[0]).passed);
    }

    #[test]
    fn a_missing_library_is_unavailable_with_its_reason_and_never_panics() {
        let r = with(&[&MISSING, &DEVICE_ROUTE]);
        let k = r.kernel("map_add").unwrap();
        let imp = k.implementation("example_missing").unwrap();
        assert_eq!(
            imp.unavailable_reason().as_deref(),
            Some("libexample was not found")
        );
        let dev = k.implementation("example_cuda").unwrap();
        assert_eq!(dev.location(0), Location::Cuda(0));
        if let Some(why) = Backend::Cuda.unavailable_reason() {
            // No device (or no `cuda` feature): the backend's reason, and running is an error.
            assert_eq!(dev.unavailable_reason(), Some(why));
            let x = k.workload(10, 1);
            let refs: Vec<&Tensor> = x.iter().collect();
            assert!(k.run(dev, &refs, &Params::defaults(k.spec)).is_err());
        }
    }

    #[test]
    fn a_route_that_does_not_fit_is_a_problem_not_a_panic() {
        static NO_KERNEL: Library = Library {
            kernel: "map_nothing",
            ..CPU_ROUTE
        };
        static OTHER_DOMAIN: Library = Library {
            kernel: "reduce_sum",
            ..CPU_ROUTE
        };
        static SAME_ID: Library = Library {
            id: "simd",
            ..CPU_ROUTE
        };
        static WRONG_BACKEND: Library = Library {
            backend: Backend::Cuda,
            ..CPU_ROUTE
        };
        let r = with(&[&NO_KERNEL, &OTHER_DOMAIN, &SAME_ID, &WRONG_BACKEND]);
        assert_eq!(r.problems.len(), 4, "{:?}", r.problems);
        let k = r.kernel("map_add").unwrap();
        assert!(k.implementations().iter().all(|i| !i.library));
    }
}
