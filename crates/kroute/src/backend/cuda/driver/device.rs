//! One CUDA device: discovery data, its primary context and the one stream kroute uses on it,
//! the module and function caches (NVRTC → CUBIN, loaded once), launches sized by occupancy,
//! and the zeroed scratch area of the one-launch reductions.

use super::compile;
use super::driver_err;
use super::memory::{DeviceBuffer, Staging};
use crate::backend::cuda::{Arg, Source, SCRATCH_BYTES};
use crate::error::{Error, Result};
use cudarc::driver::{result as cu, sys, CudaContext, CudaFunction, CudaModule, CudaStream};
use std::collections::HashMap;
use std::ffi::c_void;
use std::sync::{Arc, Mutex, OnceLock};

pub struct DeviceInfo {
    pub ordinal: usize,
    pub name: String,
    /// Compute capability (major, minor); the CUBIN arch is major·10 + minor.
    pub capability: (i32, i32),
    pub sms: u32,
    pub l2_bytes: u64,
    pub total_mem: u64,
    pub max_smem_optin: u32,
    /// The driver's CUDA version, e.g. 13000 for 13.0.
    pub driver_version: i32,
}

struct LoadedModule {
    module: Arc<CudaModule>,
    funcs: Mutex<HashMap<&'static str, CudaFunction>>,
}

/// One CUDA device: its primary context, one non-blocking stream that every kroute call on it
/// uses (so calls are ordered without events), compiled modules, and a small zeroed scratch
/// area for one-launch reductions.
pub struct Device {
    pub info: DeviceInfo,
    pub(super) ctx: Arc<CudaContext>,
    pub(super) stream: Arc<CudaStream>,
    modules: Mutex<HashMap<&'static str, Arc<LoadedModule>>>,
    pub(super) occupancy: Mutex<HashMap<(usize, u32, u32), u32>>,
    pub(super) scratch: OnceLock<DeviceBuffer>,
    pub(super) staging: Mutex<Option<Staging>>,
    pub(super) flush: Mutex<Option<DeviceBuffer>>,
    tile_state: Mutex<Option<DeviceBuffer>>,
    work: Mutex<Option<DeviceBuffer>>,
    kept: Mutex<HashMap<(&'static str, u64), DeviceBuffer>>,
}

/// Scratch layout: a block counter for last-block-done, per-block partials, and 64 Ki u64
/// histogram accumulators. The last block of every kernel leaves its part zeroed again.
impl std::fmt::Debug for Device {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "cuda:{} ({})", self.info.ordinal, self.info.name)
    }
}

/// Kernel argument: every value travels in an 8-byte slot (pointers, u64, and 4-byte values in
/// the low half: the launch reads each parameter at its own size, little-endian).
impl Device {
    pub(super) fn new(ordinal: usize) -> Result<Device> {
        let ctx = CudaContext::new(ordinal)
            .map_err(|e| driver_err(&format!("creating a context on cuda:{ordinal}"), e))?;
        // One stream per device orders all kroute work: cudarc's per-buffer event tracking
        // would add an event record to every launch, which the launch latency cannot afford.
        // SAFETY: kroute never shares a buffer between streams.
        unsafe { ctx.disable_event_tracking() };
        let stream = ctx
            .new_stream()
            .map_err(|e| driver_err("creating a stream", e))?;
        let attr = |a| {
            ctx.attribute(a)
                .map_err(|e| driver_err("reading a device attribute", e))
        };
        use sys::CUdevice_attribute as A;
        let mut driver_version = 0i32;
        // SAFETY: one valid out-pointer.
        unsafe { sys::cuDriverGetVersion(&mut driver_version) }
            .result()
            .map_err(|e| driver_err("cuDriverGetVersion", e))?;
        let info = DeviceInfo {
            ordinal,
            name: ctx.name().map_err(|e| driver_err("device name", e))?,
            capability: (
                attr(A::CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR)?,
                attr(A::CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MINOR)?,
            ),
            sms: attr(A::CU_DEVICE_ATTRIBUTE_MULTIPROCESSOR_COUNT)?.max(1) as u32,
            l2_bytes: attr(A::CU_DEVICE_ATTRIBUTE_L2_CACHE_SIZE)?.max(0) as u64,
            total_mem: ctx.total_mem().map_err(|e| driver_err("total memory", e))? as u64,
            max_smem_optin: attr(A::CU_DEVICE_ATTRIBUTE_MAX_SHARED_MEMORY_PER_BLOCK_OPTIN)?.max(0)
                as u32,
            driver_version,
        };
        Ok(Device {
            info,
            ctx,
            stream,
            modules: Mutex::new(HashMap::new()),
            occupancy: Mutex::new(HashMap::new()),
            scratch: OnceLock::new(),
            staging: Mutex::new(None),
            flush: Mutex::new(None),
            tile_state: Mutex::new(None),
            work: Mutex::new(None),
            kept: Mutex::new(HashMap::new()),
        })
    }

    /// Shared memory one block may opt into (bytes).
    pub fn max_smem_optin(&self) -> u32 {
        self.info.max_smem_optin
    }

    /// The CUBIN arch of this device (90 on Hopper).
    pub fn arch(&self) -> u32 {
        (self.info.capability.0 * 10 + self.info.capability.1) as u32
    }

    pub(super) fn bind(&self) -> Result<()> {
        self.ctx
            .bind_to_thread()
            .map_err(|e| driver_err("binding the CUDA context", e))
    }

    pub fn raw_stream(&self) -> sys::CUstream {
        self.stream.cu_stream()
    }

    /// Wait for all work kroute queued on this device; reports errors of earlier launches.
    pub fn synchronize(&self) -> Result<()> {
        self.bind()?;
        self.stream
            .synchronize()
            .map_err(|e| driver_err("synchronizing the stream", e))
    }

    fn module(&self, src: &'static Source) -> Result<Arc<LoadedModule>> {
        let mut mods = self
            .modules
            .lock()
            .map_err(|_| Error::Device("module cache poisoned".into()))?;
        if let Some(m) = mods.get(src.name) {
            return Ok(m.clone());
        }
        self.bind()?;
        let arch = self.arch();
        let (cubin, cached) = compile::cubin_cached(src, arch)?;
        let load = |c: Vec<u8>| {
            self.ctx
                .load_module(cudarc::nvrtc::Ptx::from_binary(c))
                .map_err(|e| driver_err(&format!("loading the {} module", src.name), e))
        };
        let module = match load(cubin) {
            Ok(m) => m,
            // A stale or damaged cache file: compile afresh once.
            Err(_) if cached => {
                compile::evict(src, arch);
                load(compile::compile_cubin(src, arch)?)?
            }
            Err(e) => return Err(e),
        };
        let m = Arc::new(LoadedModule {
            module,
            funcs: Mutex::new(HashMap::new()),
        });
        mods.insert(src.name, m.clone());
        Ok(m)
    }

    /// Compile (or fetch from the caches) and load a module now, so first-use cost stays out
    /// of timings.
    pub fn prepare(&self, src: &'static Source) -> Result<()> {
        self.module(src).map(|_| ())
    }

    pub(super) fn function(
        &self,
        src: &'static Source,
        name: &'static str,
    ) -> Result<CudaFunction> {
        let m = self.module(src)?;
        let mut funcs = m
            .funcs
            .lock()
            .map_err(|_| Error::Device("function cache poisoned".into()))?;
        if let Some(f) = funcs.get(name) {
            return Ok(f.clone());
        }
        let f = m
            .module
            .load_function(name)
            .map_err(|e| driver_err(&format!("finding kernel {name} in {}", src.name), e))?;
        funcs.insert(name, f.clone());
        Ok(f)
    }

    /// Blocks for a grid-stride kernel: enough to cover `items` work items of `block` threads,
    /// at most as many as fit on the device at once (SMs × resident blocks per SM).
    pub fn grid(
        &self,
        src: &'static Source,
        name: &'static str,
        block: u32,
        smem: u32,
        items: u64,
    ) -> Result<u32> {
        let f = self.function(src, name)?;
        let key = (f.cu_function() as usize, block, smem);
        let per_sm = {
            let mut occ = self
                .occupancy
                .lock()
                .map_err(|_| Error::Device("occupancy cache poisoned".into()))?;
            match occ.get(&key) {
                Some(&v) => v,
                None => {
                    self.bind()?;
                    let v = f
                        .occupancy_max_active_blocks_per_multiprocessor(block, smem as usize, None)
                        .map_err(|e| driver_err("occupancy query", e))?
                        .max(1);
                    occ.insert(key, v);
                    v
                }
            }
        };
        let full = self.info.sms as u64 * per_sm as u64;
        Ok(items.div_ceil(block as u64).clamp(1, full) as u32)
    }

    /// Let a kernel use more than 48 KiB of dynamic shared memory.
    pub fn allow_smem(&self, src: &'static Source, name: &'static str, bytes: u32) -> Result<()> {
        let f = self.function(src, name)?;
        self.bind()?;
        f.set_attribute(
            sys::CUfunction_attribute::CU_FUNC_ATTRIBUTE_MAX_DYNAMIC_SHARED_SIZE_BYTES,
            bytes as i32,
        )
        .map_err(|e| driver_err("raising the shared-memory limit", e))
    }

    /// Queue a kernel on the device's stream.
    pub fn launch(
        &self,
        src: &'static Source,
        name: &'static str,
        grid: u32,
        block: u32,
        smem: u32,
        args: &[Arg],
    ) -> Result<()> {
        let f = self.function(src, name)?;
        self.bind()?;
        let mut slots: Vec<u64> = args.iter().map(|a| a.0).collect();
        let mut ptrs: Vec<*mut c_void> = slots
            .iter_mut()
            .map(|s| s as *mut u64 as *mut c_void)
            .collect();
        // SAFETY: the function comes from a loaded module of this context; every parameter
        // points at an 8-byte slot that outlives the call (the driver copies parameters at
        // launch); the kernels' signatures take exactly these parameters in this order, with
        // device pointers the callers obtained from live buffers of this device.
        unsafe {
            cu::launch_kernel(
                f.cu_function(),
                (grid.max(1), 1, 1),
                (block, 1, 1),
                smem,
                self.raw_stream(),
                &mut ptrs,
            )
        }
        .map_err(|e| driver_err(&format!("launching {name}"), e))
    }

    /// The scratch area (zeroed once; kernels leave it zeroed).
    pub fn scratch(self: &Arc<Self>) -> Result<u64> {
        if let Some(s) = self.scratch.get() {
            return Ok(s.ptr);
        }
        let buf = DeviceBuffer::alloc(self, SCRATCH_BYTES)?;
        buf.memset(0)?;
        self.synchronize()?;
        let _ = self.scratch.set(buf);
        self.scratch
            .get()
            .map(|s| s.ptr)
            .ok_or_else(|| Error::Device("scratch allocation lost".into()))
    }

    /// An area of at least `bytes` for single-pass scans' per-tile state (flags tagged with a
    /// call's epoch, so it is never cleared between calls): its pointer and its size, which
    /// fixes the layout for the area's lifetime (see `grown`).
    pub fn tile_state(self: &Arc<Self>, bytes: usize) -> Result<(u64, usize)> {
        self.grown(&self.tile_state, bytes, "tile state")
    }

    /// An area of at least `bytes` for a kernel's temporaries (the sorting domain's second key
    /// buffer, chunk offsets, selection state), holding what the last call left; its pointer
    /// and size. Separate from `tile_state`, whose layout the scans own.
    pub fn work_area(self: &Arc<Self>, bytes: usize) -> Result<(u64, usize)> {
        self.grown(&self.work, bytes, "work area")
    }

    /// An area that lives as long as the device, one per (`key`, `id`): a domain's tables for
    /// one length (fft's twiddles). Made at first use and filled by `init` with its pointer
    /// (kernels queued on the stream, so every later call sees them filled); later calls get
    /// the same area without `init`. A failed `init` keeps nothing.
    pub fn kept_area(
        self: &Arc<Self>,
        key: &'static str,
        id: u64,
        bytes: usize,
        init: &mut dyn FnMut(u64) -> Result<()>,
    ) -> Result<u64> {
        let mut kept = self
            .kept
            .lock()
            .map_err(|_| Error::Device("kept areas lock poisoned".into()))?;
        if let Some(buf) = kept.get(&(key, id)) {
            return Ok(buf.ptr());
        }
        let buf = DeviceBuffer::alloc(self, bytes.max(1))?;
        if let Err(e) = init(buf.ptr()) {
            // Queued work may still use the area: let it finish before the area is freed.
            let _ = self.synchronize();
            return Err(e);
        }
        let ptr = buf.ptr();
        kept.insert((key, id), buf);
        Ok(ptr)
    }

    /// A grow-only area in `slot`: zeroed when made, grown by doubling (at least 1 MiB) when a
    /// call needs more. Growing waits for queued work, which may still use the old area.
    fn grown(
        self: &Arc<Self>,
        slot: &Mutex<Option<DeviceBuffer>>,
        bytes: usize,
        what: &str,
    ) -> Result<(u64, usize)> {
        let mut slot = slot
            .lock()
            .map_err(|_| Error::Device(format!("{what} lock poisoned")))?;
        if let Some(buf) = slot.as_ref().filter(|b| b.bytes() >= bytes) {
            return Ok((buf.ptr(), buf.bytes()));
        }
        self.synchronize()?;
        let grown = bytes.next_power_of_two().max(1 << 20);
        *slot = None;
        let buf = DeviceBuffer::alloc(self, grown)?;
        buf.memset(0)?;
        let made = (buf.ptr(), buf.bytes());
        *slot = Some(buf);
        Ok(made)
    }

    /// Read a u32 the kernels left in the scratch area (synchronises).
    pub fn read_scratch_u32(self: &Arc<Self>, offset: u64) -> Result<u32> {
        let base = self.scratch()?;
        let mut v = [0u32; 1];
        self.bind()?;
        // SAFETY: the scratch buffer is live and `offset + 4` lies inside it; `v` is valid.
        unsafe { cu::memcpy_dtoh_async(&mut v, base + offset, self.raw_stream()) }
            .map_err(|e| driver_err("reading scratch", e))?;
        self.synchronize()?;
        Ok(v[0])
    }

    /// Zero a u32 in device memory and wait.
    pub fn clear_u32(&self, ptr: u64) -> Result<()> {
        self.bind()?;
        // SAFETY: callers pass a pointer into a live buffer of this device with 4 bytes left.
        unsafe { cu::memset_d8_async(ptr, 0, 4, self.raw_stream()) }
            .map_err(|e| driver_err("clearing a flag", e))?;
        self.synchronize()
    }
}
