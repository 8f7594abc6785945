//! kroute: compute kernels on every backend a machine has, verified against one exact
//! definition and routed to the fastest.
//!
//! Layers: `spec` (what a kernel computes: the catalog of `KERNELS.md`), `ops` (per domain:
//! reference and implementations), `backend` (shared machinery per backend), and — in a later
//! issue — `router`.

pub mod backend;
pub mod error;
pub mod op;
pub mod ops;
pub mod params;
pub mod philox;
pub mod spec;
pub mod tensor;
pub mod verify;

pub use backend::Backend;
pub use error::{Error, Result};
pub use op::{op, ops, Op};
pub use params::Params;
pub use spec::{Domain, KernelSpec, Tolerance};
pub use tensor::{DType, Location, Tensor, TensorDesc};

/// Every kernel of the catalog, implemented or not, in `KERNELS.md` order.
pub fn catalog() -> impl Iterator<Item = &'static KernelSpec> {
    ops::catalog()
}

/// The catalog entry for a kernel name.
pub fn spec_of(name: &str) -> Result<&'static KernelSpec> {
    catalog()
        .find(|s| s.name == name)
        .ok_or_else(|| Error::UnknownKernel(name.to_string()))
}

/// Run a kernel by name on a backend with default-overridden parameters.
pub fn run(
    kernel: &str,
    backend: Backend,
    inputs: &[&Tensor],
    params: &[(String, String)],
) -> Result<Vec<Tensor>> {
    let op = op(kernel)?;
    let params = Params::resolve(op.spec(), params)?;
    op.run(backend, inputs, &params)
}
