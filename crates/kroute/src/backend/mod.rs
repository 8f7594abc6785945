//! Machinery each backend shares across kernels — no math lives here.
//!
//! The CPU backends (scalar, simd, parallel) work on host memory through `cpu`. Device backends
//! (cuda today, wgpu next) sit behind one interface, [`DeviceBackend`]: discovery, buffers and
//! transfers, running a registered kernel ([`DeviceKernel`]), a clock for the harness
//! ([`Clock`]) and a probe. Each device backend is compiled in full with its cargo feature and
//! as a stub without it that answers `Error::Device` (as candle's dummy backends do), so nothing
//! outside `backend/` names a feature.

pub mod cpu;
pub mod cuda;

use crate::error::{Error, Result};
use crate::params::Params;
use crate::spec::KernelSpec;
use crate::tensor::{DType, HostData, Location, Tensor, TensorDesc};
use serde::{Deserialize, Serialize};
use std::any::Any;
use std::sync::Arc;

/// The backends kroute knows: how an implementation runs and where its data lives.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Backend {
    /// Plain Rust, one thread: the readable baseline.
    Scalar,
    /// One thread, explicit SIMD through pulp (AVX2 / AVX-512 / NEON chosen at run time).
    Simd,
    /// The simd code split over a rayon pool.
    Parallel,
    /// CUDA C compiled at run time by NVRTC (the `cuda` feature).
    Cuda,
    /// WGSL through wgpu (a later issue).
    Wgpu,
}

impl Backend {
    pub const ALL: [Backend; 5] = [
        Backend::Scalar,
        Backend::Simd,
        Backend::Parallel,
        Backend::Cuda,
        Backend::Wgpu,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Backend::Scalar => "scalar",
            Backend::Simd => "simd",
            Backend::Parallel => "parallel",
            Backend::Cuda => "cuda",
            Backend::Wgpu => "wgpu",
        }
    }

    pub fn from_name(s: &str) -> Result<Backend> {
        Backend::ALL
            .into_iter()
            .find(|b| b.name() == s)
            .ok_or_else(|| Error::UnknownBackend(s.to_string()))
    }

    pub fn is_cpu(self) -> bool {
        matches!(self, Backend::Scalar | Backend::Simd | Backend::Parallel)
    }

    /// The device backend behind this backend, if it is one.
    pub fn device(self) -> Option<&'static dyn DeviceBackend> {
        match self {
            Backend::Cuda => Some(&cuda::CUDA),
            _ => None,
        }
    }

    /// Where this backend's data lives (device `ordinal` for a device backend).
    pub fn location(self, ordinal: usize) -> Location {
        match self {
            Backend::Cuda => Location::Cuda(ordinal),
            _ => Location::Host,
        }
    }

    /// Why this backend cannot run on this machine or build, or None when it can (the CPU
    /// backends always can; a device backend needs its feature, a device and its compiler).
    pub fn unavailable_reason(self) -> Option<String> {
        match self {
            Backend::Scalar | Backend::Simd | Backend::Parallel => None,
            Backend::Wgpu => Some("the wgpu backend is not implemented yet".into()),
            b => b.device().and_then(|d| d.unavailable_reason()),
        }
    }
}

impl std::fmt::Display for Backend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// The device backend that owns memory at `loc`.
pub fn device_at(loc: Location) -> Result<&'static dyn DeviceBackend> {
    match loc {
        Location::Cuda(_) => Ok(&cuda::CUDA),
        Location::Host => Err(Error::Device("host memory belongs to no device".into())),
    }
}

/// What every device backend provides. `cuda` implements it (with the feature, and as a stub
/// without); a new backend implements it and adds its name to `Backend` and `Location`.
pub trait DeviceBackend: Sync {
    fn backend(&self) -> Backend;
    /// Why it cannot run here (no feature, no driver, no device, no compiler), or None.
    fn unavailable_reason(&self) -> Option<String>;
    /// Copy host data to a new buffer on device `ordinal`.
    fn upload(&self, ordinal: usize, data: &HostData) -> Result<DeviceData>;
    /// Copy a buffer out into host data of the same element type and length (synchronises).
    fn download(&self, data: &DeviceData, into: &mut HostData) -> Result<()>;
    /// A zero-filled buffer for `desc` on device `ordinal`.
    fn zeros(&self, ordinal: usize, desc: &TensorDesc) -> Result<DeviceData>;
    /// A private copy of a buffer (copy on write before a kernel writes an output).
    fn duplicate(&self, data: &DeviceData) -> Result<DeviceData>;
    /// Fill every byte of a buffer (poisoning outputs before verification).
    fn fill_bytes(&self, data: &DeviceData, byte: u8) -> Result<()>;
    /// Wait for all work queued on device `ordinal`; reports errors of earlier launches.
    fn synchronize(&self, ordinal: usize) -> Result<()>;
    /// The harness's clock for kernels on device `ordinal`.
    fn clock(&self, ordinal: usize) -> Result<Box<dyn Clock>>;
    /// Every device of the machine and what it measures, or a note on why there is none.
    fn probe(&self) -> (Vec<GpuProbe>, String);
    /// What identifies each device cheaply (model and driver, no measurement): the router's
    /// machine fingerprint. Empty when there is none.
    fn identity(&self) -> Vec<String>;
    /// Free memory of device `ordinal` in bytes, as the driver reports it now.
    fn free_memory(&self, ordinal: usize) -> Result<u64>;
}

/// A kernel's evaluation on a device backend, as the registry stores it.
pub trait DeviceKernel: Send + Sync {
    /// Run into `outputs`; inputs and outputs may be on the host (staged for this call) or on
    /// the backend's device. Shapes were checked against the op's rules.
    fn run(
        &self,
        spec: &'static KernelSpec,
        inputs: &[&Tensor],
        params: &Params,
        outputs: &mut [Tensor],
    ) -> Result<()>;
}

/// How the harness times one implementation's samples.
pub trait Clock {
    /// Time `count` calls of `run(i)`, i = 0..count, each alone: seconds per call.
    fn time(&mut self, count: usize, run: &mut dyn FnMut(usize) -> Result<()>) -> Result<Vec<f64>>;
    /// Whether every sample starts cold by itself (the clock evicts the caches first);
    /// otherwise the harness rotates input copies larger than the caches.
    fn starts_cold(&self) -> bool;
    /// How a sample is timed, for the record.
    fn describe(&self) -> &'static str;
}

/// Host wall time around each call (the CPU backends).
pub struct WallClock;

impl Clock for WallClock {
    fn time(&mut self, count: usize, run: &mut dyn FnMut(usize) -> Result<()>) -> Result<Vec<f64>> {
        let mut v = Vec::with_capacity(count);
        for i in 0..count {
            let t = std::time::Instant::now();
            run(i)?;
            v.push(t.elapsed().as_secs_f64());
        }
        Ok(v)
    }
    fn starts_cold(&self) -> bool {
        false
    }
    fn describe(&self) -> &'static str {
        "wall time per call; input copies rotated so the working set exceeds the last-level cache"
    }
}

/// Device memory of some device backend, type-erased so tensors need not know the backend.
/// Clones share the buffer; a kernel writing an output makes it unique first.
#[derive(Clone)]
pub struct DeviceData {
    pub location: Location,
    pub dtype: DType,
    pub buf: Arc<dyn Any + Send + Sync>,
}

impl DeviceData {
    pub fn backend(&self) -> Result<&'static dyn DeviceBackend> {
        device_at(self.location)
    }
    /// Make the buffer unique before a kernel writes it (copy on write).
    pub fn make_unique(&mut self) -> Result<()> {
        if Arc::get_mut(&mut self.buf).is_none() {
            *self = self.backend()?.duplicate(self)?;
        }
        Ok(())
    }
}

impl std::fmt::Debug for DeviceData {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "DeviceData({} on {:?})",
            self.dtype.name(),
            self.location
        )
    }
}

/// Device tensors are equal only when they share a buffer: comparing contents needs a
/// download, which `PartialEq` must not hide.
impl PartialEq for DeviceData {
    fn eq(&self, other: &Self) -> bool {
        self.location == other.location
            && self.dtype == other.dtype
            && std::ptr::addr_eq(Arc::as_ptr(&self.buf), Arc::as_ptr(&other.buf))
    }
}

/// One GPU and what the probe measured on it.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct GpuProbe {
    pub name: String,
    pub detail: String,
    /// Device ordinal, compute capability "9.0", SMs, L2 and memory (absent for older JSON).
    #[serde(default)]
    pub ordinal: usize,
    #[serde(default)]
    pub compute_capability: String,
    #[serde(default)]
    pub sms: u32,
    #[serde(default)]
    pub l2_bytes: u64,
    #[serde(default)]
    pub memory_bytes: u64,
    /// The driver's CUDA version ("13.0") and NVRTC's.
    #[serde(default)]
    pub driver_cuda_version: String,
    #[serde(default)]
    pub nvrtc_version: String,
    /// Device-to-device copy (1 GiB, bytes read + written), GB/s.
    #[serde(default)]
    pub d2d_copy_gbps: f64,
    /// Host↔device copies of 256 MiB, GB/s: from pinned memory, from pageable memory in one
    /// driver call, and through kroute's pinned staging (what `Tensor::to_location` uses).
    #[serde(default)]
    pub h2d_pinned_gbps: f64,
    #[serde(default)]
    pub h2d_pageable_gbps: f64,
    #[serde(default)]
    pub h2d_staged_gbps: f64,
    #[serde(default)]
    pub d2h_pinned_gbps: f64,
    #[serde(default)]
    pub d2h_pageable_gbps: f64,
    #[serde(default)]
    pub d2h_staged_gbps: f64,
    /// A tiny kernel from Rust, median µs: launch to completion seen by the host (stream
    /// wait); launch to result, the kernel writing its 4-byte result into pinned host memory;
    /// and launch plus a 4-byte device-to-host copy of the result.
    #[serde(default)]
    pub launch_to_completion_us: f64,
    #[serde(default)]
    pub launch_to_result_us: f64,
    #[serde(default)]
    pub launch_to_result_copy_us: f64,
}
