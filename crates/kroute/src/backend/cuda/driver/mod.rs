//! The cuda backend with the `cuda` feature: libcuda and libnvrtc loaded at run time through
//! cudarc. On a machine without a driver or GPU nothing panics: discovery reports "no CUDA
//! device" as `Error::Device`.

pub mod blas;
pub mod compile;
mod device;
pub mod fft;
mod memory;
mod probe;
mod timing;

pub use device::{Device, DeviceInfo};
pub use memory::DeviceBuffer;
pub use timing::{timed_launch, Event};

use super::{Launch, Source, UTIL};
use crate::backend::{Backend, Clock, DeviceBackend, DeviceData, GpuProbe};
use crate::error::{Error, Result};
use crate::params::Params;
use crate::spec::KernelSpec;
use crate::tensor::{HostData, Location, Tensor, TensorDesc};
use cudarc::driver::{result as cu, sys};
use std::sync::{Arc, OnceLock};

fn driver_err(what: &str, e: cu::DriverError) -> Error {
    if e.0 == sys::cudaError_enum::CUDA_ERROR_OUT_OF_MEMORY {
        Error::Device(format!("{what}: out of device memory"))
    } else {
        let name = e
            .error_name()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_else(|_| format!("{:?}", e.0));
        Error::Device(format!("{what}: {name}"))
    }
}

// ---- discovery -----------------------------------------------------------------------------

static DEVICES: OnceLock<std::result::Result<Vec<Arc<Device>>, String>> = OnceLock::new();

fn discover() -> std::result::Result<Vec<Arc<Device>>, String> {
    // SAFETY: only tries to dlopen libcuda under its usual names.
    if !unsafe { sys::is_culib_present() } {
        return Err("no CUDA device: libcuda was not found (no NVIDIA driver)".into());
    }
    // cudarc panics inside its loader when a symbol is missing (an old driver); report that
    // as a missing device instead of taking the process down.
    let found = std::panic::catch_unwind(|| -> std::result::Result<Vec<Arc<Device>>, String> {
        cu::init().map_err(|e| format!("no CUDA device: cuInit failed ({e:?})"))?;
        let count = cu::device::get_count()
            .map_err(|e| format!("no CUDA device: counting devices failed ({e:?})"))?;
        if count <= 0 {
            return Err("no CUDA device: the driver reports none".into());
        }
        (0..count as usize)
            .map(|o| {
                Device::new(o)
                    .map(Arc::new)
                    .map_err(|e| format!("no usable CUDA device: {e}"))
            })
            .collect()
    });
    found.unwrap_or_else(|_| Err("no CUDA device: the CUDA driver library failed to load".into()))
}

/// Every CUDA device of the machine, or why there is none.
pub fn devices() -> Result<&'static [Arc<Device>]> {
    match DEVICES.get_or_init(discover) {
        Ok(v) => Ok(v),
        Err(e) => Err(Error::Device(e.clone())),
    }
}

/// The device with this ordinal.
pub fn device(ordinal: usize) -> Result<Arc<Device>> {
    devices()?.get(ordinal).cloned().ok_or_else(|| {
        Error::Device(format!(
            "no CUDA device with ordinal {ordinal} (this machine has {})",
            devices().map(|d| d.len()).unwrap_or(0)
        ))
    })
}

/// Why the cuda backend cannot run here, or None when it can (a device and NVRTC).
pub fn unavailable_reason() -> Option<String> {
    if let Err(e) = devices() {
        return Some(match e {
            Error::Device(m) => m,
            other => other.to_string(),
        });
    }
    if !compile::nvrtc_present() {
        return Some("no NVRTC: libnvrtc was not found (kernels cannot be compiled)".into());
    }
    None
}

pub fn available() -> bool {
    unavailable_reason().is_none()
}

// ---- the DeviceBackend interface --------------------------------------------------------------

/// The cuda backend (see `backend::DeviceBackend`).
pub struct Cuda;

/// The buffer behind device data that this backend made.
pub fn buffer(d: &DeviceData) -> Result<&DeviceBuffer> {
    d.buf
        .downcast_ref::<DeviceBuffer>()
        .ok_or_else(|| Error::Device(format!("{d:?} is not CUDA memory")))
}

fn data(buf: DeviceBuffer, dtype: crate::tensor::DType) -> DeviceData {
    DeviceData {
        location: Location::Cuda(buf.device().info.ordinal),
        dtype,
        buf: Arc::new(buf),
    }
}

impl DeviceBackend for Cuda {
    fn backend(&self) -> Backend {
        Backend::Cuda
    }
    fn unavailable_reason(&self) -> Option<String> {
        unavailable_reason()
    }
    fn upload(&self, ordinal: usize, h: &HostData) -> Result<DeviceData> {
        let dev = device(ordinal)?;
        let bytes = memory::host_bytes(h);
        let buf = DeviceBuffer::alloc(&dev, bytes.len())?;
        buf.upload(bytes)?;
        Ok(data(buf, h.dtype()))
    }
    fn download(&self, d: &DeviceData, into: &mut HostData) -> Result<()> {
        buffer(d)?.download(memory::host_bytes_mut(into))
    }
    fn zeros(&self, ordinal: usize, desc: &TensorDesc) -> Result<DeviceData> {
        let dev = device(ordinal)?;
        let buf = DeviceBuffer::alloc(&dev, desc.bytes())?;
        buf.memset(0)?;
        Ok(data(buf, desc.dtype))
    }
    fn duplicate(&self, d: &DeviceData) -> Result<DeviceData> {
        Ok(data(buffer(d)?.duplicate()?, d.dtype))
    }
    fn fill_bytes(&self, d: &DeviceData, byte: u8) -> Result<()> {
        buffer(d)?.memset(byte)
    }
    fn synchronize(&self, ordinal: usize) -> Result<()> {
        device(ordinal)?.synchronize()
    }
    fn clock(&self, ordinal: usize) -> Result<Box<dyn Clock>> {
        Ok(Box::new(timing::EventClock::new(device(ordinal)?)))
    }
    fn probe(&self) -> (Vec<GpuProbe>, String) {
        probe::probe()
    }
    fn identity(&self) -> Vec<String> {
        let Ok(devs) = devices() else {
            return Vec::new();
        };
        devs.iter()
            .map(|d| {
                let v = d.info.driver_version;
                format!(
                    "cuda:{} {}, driver CUDA {}.{}",
                    d.info.ordinal,
                    d.info.name,
                    v / 1000,
                    (v % 1000) / 10
                )
            })
            .collect()
    }
    fn free_memory(&self, ordinal: usize) -> Result<u64> {
        let dev = device(ordinal)?;
        dev.bind()?;
        let (free, _total) =
            cu::mem_get_info().map_err(|e| driver_err("reading free device memory", e))?;
        Ok(free as u64)
    }
}

// ---- running a kernel ------------------------------------------------------------------------

/// A cuda implementation's run (see the module docs of `backend::cuda` for where data may live):
/// stage the data, then `launch` kernel `name` of `source` (a library route's own function).
pub fn run(
    source: &'static Source,
    name: &'static str,
    launch: Launch,
    spec: &'static KernelSpec,
    inputs: &[&Tensor],
    params: &Params,
    outputs: &mut [Tensor],
) -> Result<()> {
    // The device: where the first device tensor lives, else cuda:0; all must agree.
    let mut ordinal = None;
    for loc in inputs
        .iter()
        .map(|t| t.location())
        .chain(outputs.iter().map(|t| t.location()))
    {
        match (loc, ordinal) {
            (Location::Cuda(o), None) => ordinal = Some(o),
            (Location::Cuda(o), Some(p)) if p != o => {
                return Err(Error::Device(format!(
                    "{}: tensors on cuda:{p} and cuda:{o}; move them to one device",
                    spec.name
                )))
            }
            _ => {}
        }
    }
    let ordinal = ordinal.unwrap_or(0);
    let dev = device(ordinal)?;
    // Inputs: device tensors as they are, host tensors uploaded for this call.
    // (Only host tensors are copied: a device tensor's buffer is used as it is, so a timed call
    // on device data allocates nothing for its inputs.)
    let staged_in: Vec<Option<Tensor>> = inputs
        .iter()
        .map(|t| match t.location() {
            Location::Host => t.to_location(Location::Cuda(ordinal)).map(Some),
            _ => Ok(None),
        })
        .collect::<Result<_>>()?;
    let ins = inputs
        .iter()
        .zip(&staged_in)
        .map(|(&t, s)| {
            let t = s.as_ref().unwrap_or(t);
            // A generator's size-only input (`Tensor::size_only(n)`, u8 [n, 0]) holds no
            // elements; its length is n, which the kernel sizes its work by.
            let len = t.size_only_len().unwrap_or(t.len());
            Ok((buffer(t.device_data()?)?.ptr(), len))
        })
        .collect::<Result<Vec<_>>>()?;
    // Outputs: device tensors made unique; host outputs travel with their current contents
    // (so a poisoned output that the kernel fails to write is still caught).
    let mut staged_out: Vec<Option<Tensor>> = Vec::with_capacity(outputs.len());
    let mut outs = Vec::with_capacity(outputs.len());
    for t in outputs.iter_mut() {
        if t.location() == Location::Host {
            let s = t.to_location(Location::Cuda(ordinal))?;
            outs.push((buffer(s.device_data()?)?.ptr(), t.len()));
            staged_out.push(Some(s));
        } else {
            let d = t.device_data_mut()?;
            d.make_unique()?;
            outs.push((buffer(d)?.ptr(), t.len()));
            staged_out.push(None);
        }
    }
    let call = super::Call {
        dev: &dev,
        source,
        name,
        spec,
        params,
        ins,
        outs,
        in_shapes: inputs.iter().map(|t| t.shape().to_vec()).collect(),
    };
    call.run(launch)?;
    timing::launched(&dev)?;
    for (t, s) in outputs.iter_mut().zip(staged_out) {
        if let Some(s) = s {
            s.download_into(t)?;
        }
    }
    Ok(())
}

/// Compile every kernel source (and the backend's own) for `sm_{arch}`; used by CI without a
/// GPU. Returns (source name, CUBIN bytes).
pub fn compile_all(arch: u32) -> Result<Vec<(&'static str, usize)>> {
    std::iter::once(&UTIL)
        .chain(crate::registry::cuda_sources())
        .map(|s: &Source| compile::compile_cubin(s, arch).map(|c| (s.name, c.len())))
        .collect()
}
