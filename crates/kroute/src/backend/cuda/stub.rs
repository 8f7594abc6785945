//! The cuda backend in a build without the `cuda` feature: the same names as `driver/`, and
//! every call answers `Error::Device`. A `Device` cannot exist, so its methods are never
//! reached.

use super::{Arg, Launch, Source};
use crate::backend::{Backend, Clock, DeviceBackend, DeviceData, GpuProbe};
use crate::error::{Error, Result};
use crate::params::Params;
use crate::spec::KernelSpec;
use crate::tensor::{HostData, Tensor, TensorDesc};
use std::sync::Arc;

const WHY: &str = "this build has no CUDA support (build with the `cuda` feature)";

fn no_cuda<T>() -> Result<T> {
    Err(Error::Device(WHY.into()))
}

/// A CUDA device; none exists in this build.
pub enum Device {}

impl Device {
    pub fn grid(&self, _: &'static Source, _: &'static str, _: u32, _: u32, _: u64) -> Result<u32> {
        match *self {}
    }
    pub fn launch(
        &self,
        _: &'static Source,
        _: &'static str,
        _: u32,
        _: u32,
        _: u32,
        _: &[Arg],
    ) -> Result<()> {
        match *self {}
    }
    pub fn scratch(self: &Arc<Self>) -> Result<u64> {
        match **self {}
    }
    pub fn allow_smem(&self, _: &'static Source, _: &'static str, _: u32) -> Result<()> {
        match *self {}
    }
    pub fn tile_state(self: &Arc<Self>, _: usize) -> Result<(u64, usize)> {
        match **self {}
    }
    pub fn work_area(self: &Arc<Self>, _: usize) -> Result<(u64, usize)> {
        match **self {}
    }
    pub fn kept_area(
        self: &Arc<Self>,
        _: &'static str,
        _: u64,
        _: usize,
        _: &mut dyn FnMut(u64) -> Result<()>,
    ) -> Result<u64> {
        match **self {}
    }
    pub fn read_scratch_u32(self: &Arc<Self>, _: u64) -> Result<u32> {
        match **self {}
    }
    pub fn clear_u32(&self, _: u64) -> Result<()> {
        match *self {}
    }
    pub fn max_smem_optin(&self) -> u32 {
        match *self {}
    }
}

pub fn unavailable_reason() -> Option<String> {
    Some(WHY.into())
}

pub fn run(
    _: &'static Source,
    _: &'static str,
    _: Launch,
    _: &'static KernelSpec,
    _: &[&Tensor],
    _: &Params,
    _: &mut [Tensor],
) -> Result<()> {
    no_cuda()
}

pub struct Cuda;

impl DeviceBackend for Cuda {
    fn backend(&self) -> Backend {
        Backend::Cuda
    }
    fn unavailable_reason(&self) -> Option<String> {
        unavailable_reason()
    }
    fn upload(&self, _: usize, _: &HostData) -> Result<DeviceData> {
        no_cuda()
    }
    fn download(&self, _: &DeviceData, _: &mut HostData) -> Result<()> {
        no_cuda()
    }
    fn zeros(&self, _: usize, _: &TensorDesc) -> Result<DeviceData> {
        no_cuda()
    }
    fn duplicate(&self, _: &DeviceData) -> Result<DeviceData> {
        no_cuda()
    }
    fn fill_bytes(&self, _: &DeviceData, _: u8) -> Result<()> {
        no_cuda()
    }
    fn synchronize(&self, _: usize) -> Result<()> {
        no_cuda()
    }
    fn clock(&self, _: usize) -> Result<Box<dyn Clock>> {
        no_cuda()
    }
    fn probe(&self) -> (Vec<GpuProbe>, String) {
        (Vec::new(), WHY.into())
    }
    fn identity(&self) -> Vec<String> {
        Vec::new()
    }
    fn free_memory(&self, _: usize) -> Result<u64> {
        no_cuda()
    }
}

/// cuBLAS without the `cuda` feature: unavailable, and every call an `Error::Device`.
pub mod blas {
    use super::{no_cuda, Device, WHY};
    use crate::error::Result;
    use std::sync::Arc;

    pub fn unavailable() -> Option<String> {
        Some(WHY.into())
    }
    pub fn sgemm_strided_batched(
        _: &Arc<Device>,
        _: (u64, u64, u64),
        _: u64,
        _: u64,
        _: u64,
        _: (u64, u64, u64),
        _: u64,
    ) -> Result<()> {
        no_cuda()
    }
    pub fn sgemv_t(_: &Arc<Device>, _: (u64, u64), _: u64, _: u64, _: u64) -> Result<()> {
        no_cuda()
    }
    pub fn sger_zeroed(_: &Arc<Device>, _: (u64, u64), _: u64, _: u64, _: u64) -> Result<()> {
        no_cuda()
    }
    pub fn strsv(_: &Arc<Device>, _: u64, _: bool, _: bool, _: u64, _: u64, _: u64) -> Result<()> {
        no_cuda()
    }
}

/// cuFFT without the `cuda` feature: unavailable, and every call an `Error::Device`.
pub mod fft {
    use super::{no_cuda, Device, WHY};
    use crate::backend::cuda::FftType;
    use crate::error::Result;
    use std::sync::Arc;

    pub fn unavailable() -> Option<String> {
        Some(WHY.into())
    }
    pub fn work_bytes(_: &Arc<Device>, _: u64, _: FftType) -> Result<u64> {
        no_cuda()
    }
    pub fn exec(
        _: &Arc<Device>,
        _: u64,
        _: FftType,
        _: u64,
        _: u64,
        _: u64,
        _: bool,
    ) -> Result<()> {
        no_cuda()
    }
}
