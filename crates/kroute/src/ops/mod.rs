//! One folder per domain: the spec (and, where implemented, the f64 reference and the
//! implementations of each backend) side by side.

use crate::spec::KernelSpec;

mod common;

pub mod activations;
pub mod attention;
pub mod correlation;
pub mod dot_products;
pub mod elementwise;
pub mod fft;
pub mod fused;
pub mod fused_custom;
pub mod layout;
pub mod linalg;
pub mod loss;
pub mod normalization;
pub mod optimizers;
pub mod prng;
pub mod quantization;
pub mod reductions;
pub mod scans;
pub mod signal;
pub mod simulation;
pub mod softmax;
pub mod sorting;

/// Every domain's specs, in `KERNELS.md` catalog order.
pub fn catalog() -> impl Iterator<Item = &'static KernelSpec> {
    [
        elementwise::SPECS,
        activations::SPECS,
        reductions::SPECS,
        fused::SPECS,
        dot_products::SPECS,
        quantization::SPECS,
        prng::SPECS,
        correlation::SPECS,
        softmax::SPECS,
        normalization::SPECS,
        attention::SPECS,
        loss::SPECS,
        optimizers::SPECS,
        fused_custom::SPECS,
        fft::SPECS,
        signal::SPECS,
        linalg::SPECS,
        simulation::SPECS,
        sorting::SPECS,
        layout::SPECS,
        scans::SPECS,
    ]
    .into_iter()
    .flatten()
}
