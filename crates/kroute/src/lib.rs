//! kroute: compute kernels on every backend a machine has, verified against one exact
//! definition and routed to the fastest.
//!
//! Layers: `spec` (what a kernel computes: the catalog of `docs/kernels/KERNELS.md`), `ops`
//! (per domain: reference and implementations), `registry` (every kernel joined with its
//! implementations), `backend` (shared machinery per backend), and `router` (which
//! implementation runs a call: measured profiles, a cost model, forcing and explaining).

pub mod backend;
pub mod error;
pub mod op;
pub mod ops;
pub mod params;
pub mod philox;
pub mod registry;
pub mod router;
pub mod spec;
pub mod tensor;
pub mod verify;

pub use backend::Backend;
pub use error::{Error, Result};
pub use op::Op;
pub use params::Params;
pub use registry::{registry, Implementation, Kernel};
pub use spec::{Domain, KernelSpec, Tolerance};
pub use tensor::{DType, Location, Tensor, TensorDesc};

/// Every kernel of the catalog, implemented or not, in `docs/kernels/KERNELS.md` order.
pub fn catalog() -> impl Iterator<Item = &'static KernelSpec> {
    registry().catalog()
}

/// The catalog entry for a kernel name.
pub fn spec_of(name: &str) -> Result<&'static KernelSpec> {
    registry()
        .spec(name)
        .ok_or_else(|| Error::UnknownKernel(name.to_string()))
}

/// Every implemented kernel, in catalog order.
pub fn kernels() -> impl Iterator<Item = &'static Kernel> {
    registry().kernels()
}

/// The implemented kernel of this name: `UnknownKernel` if it is not in the catalog,
/// `NotImplemented` if it is but has no implementation yet.
pub fn kernel(name: &str) -> Result<&'static Kernel> {
    if let Some(k) = registry().kernel(name) {
        return Ok(k);
    }
    spec_of(name)?;
    Err(Error::NotImplemented {
        kernel: name.into(),
        backend: "any".into(),
    })
}

/// Run a kernel by name on the implementation the router chooses for these inputs (the
/// machine's profile, else the cost model; `KROUTE_BACKEND` forces a backend or
/// implementation), with `name=value` parameter overrides. Outputs stay on the device when the
/// inputs are there and the chosen implementation runs there; otherwise they are on the host.
pub fn run_auto(
    kernel_name: &str,
    inputs: &[&Tensor],
    params: &[(String, String)],
) -> Result<Vec<Tensor>> {
    let k = kernel(kernel_name)?;
    let params = Params::resolve(k.spec, params)?;
    router::router()?.run(k, inputs, &params)
}

/// Run a kernel by name on a backend's first implementation, with `name=value` parameter
/// overrides.
pub fn run(
    kernel_name: &str,
    backend: Backend,
    inputs: &[&Tensor],
    params: &[(String, String)],
) -> Result<Vec<Tensor>> {
    let k = kernel(kernel_name)?;
    let params = Params::resolve(k.spec, params)?;
    k.run(k.on(backend)?, inputs, &params)
}

/// Where kroute keeps files between runs (compiled CUBINs, the router's profiles):
/// `$KROUTE_CACHE_DIR`, else `$XDG_CACHE_HOME/kroute`, else `~/.cache/kroute`.
pub fn cache_dir() -> Option<std::path::PathBuf> {
    use std::path::PathBuf;
    if let Some(d) = std::env::var_os("KROUTE_CACHE_DIR") {
        return Some(PathBuf::from(d));
    }
    if let Some(d) = std::env::var_os("XDG_CACHE_HOME") {
        return Some(PathBuf::from(d).join("kroute"));
    }
    std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache").join("kroute"))
}
