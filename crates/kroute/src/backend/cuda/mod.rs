//! CUDA machinery (no math): discovery, one context and stream per device, device buffers and
//! explicit transfers (pinned staging for large ones), the NVRTC module cache, launches sized
//! to the device, events for timing, and the `(kernel, cuda)` registry.
//!
//! Everything is loaded at run time through `cudarc` (libcuda, libnvrtc). On a machine without a
//! driver or GPU nothing panics: discovery reports "no CUDA device" as `Error::Device`.
//!
//! Data placement: `Op::run_into(Backend::Cuda, …)` accepts each input and output on the host or
//! on the device. Host inputs are uploaded and host outputs round-tripped (uploaded with their
//! current contents, written by the kernel, downloaded) for that call; tensors already on the
//! device move nothing, and the launch is asynchronous (errors surface at the next
//! synchronising call: a download, `Device::synchronize`, an event wait). To time kernels
//! alone, put the data on the device first with `Tensor::to_device`.

pub mod compile;
pub(crate) mod kernels;

pub use compile::Source;
pub use kernels::{find, sources};

use crate::error::{Error, Result};
use crate::op::Op;
use crate::params::Params;
use crate::tensor::{DType, HostData, Location, Storage, Tensor, TensorDesc};
use cudarc::driver::{result as cu, sys, CudaContext, CudaFunction, CudaModule, CudaStream};
use std::collections::HashMap;
use std::ffi::c_void;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Instant;

/// The backend's own kernels (latency probe, L2 flush).
pub static UTIL: Source = Source {
    name: "util",
    text: include_str!("util.cu"),
};

/// A CUDA launch for one kernel: device pointers and element counts of its inputs and outputs
/// (already checked against the op's shape rules), and its parameters.
pub struct Io {
    pub ins: Vec<(u64, usize)>,
    pub in_shapes: Vec<Vec<usize>>,
    pub outs: Vec<(u64, usize)>,
}

/// A kernel's CUDA evaluation.
pub type CudaKernel = fn(&Arc<Device>, &Io, &Params) -> Result<()>;

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

/// What the device is, read once at discovery.
#[derive(Clone, Debug)]
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
    ctx: Arc<CudaContext>,
    stream: Arc<CudaStream>,
    modules: Mutex<HashMap<&'static str, Arc<LoadedModule>>>,
    occupancy: Mutex<HashMap<(usize, u32, u32), u32>>,
    scratch: OnceLock<DeviceBuffer>,
    staging: Mutex<Option<Staging>>,
    flush: Mutex<Option<DeviceBuffer>>,
}

/// Scratch layout: a block counter for last-block-done, per-block partials, and 64 Ki u64
/// histogram accumulators. The last block of every kernel leaves its part zeroed again.
pub const SCRATCH_COUNTER: u64 = 0;
pub const SCRATCH_PARTIALS: u64 = 256;
pub const SCRATCH_PARTIALS_BYTES: u64 = (512 << 10) - 256;
pub const SCRATCH_HIST: u64 = 512 << 10;
pub const SCRATCH_FLAG: u64 = 128;
const SCRATCH_BYTES: usize = (512 << 10) + 65536 * 8;

impl std::fmt::Debug for Device {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "cuda:{} ({})", self.info.ordinal, self.info.name)
    }
}

/// Kernel argument: every value travels in an 8-byte slot (pointers, u64, and 4-byte values in
/// the low half: the launch reads each parameter at its own size, little-endian).
#[derive(Clone, Copy)]
pub struct Arg(u64);
impl Arg {
    pub fn ptr(p: u64) -> Arg {
        Arg(p)
    }
    pub fn u64(v: u64) -> Arg {
        Arg(v)
    }
    pub fn u32(v: u32) -> Arg {
        Arg(v as u64)
    }
    pub fn i32(v: i32) -> Arg {
        Arg(v as u32 as u64)
    }
    pub fn f32(v: f32) -> Arg {
        Arg(v.to_bits() as u64)
    }
}

impl Device {
    fn new(ordinal: usize) -> Result<Device> {
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
        })
    }

    /// The CUBIN arch of this device (90 on Hopper).
    pub fn arch(&self) -> u32 {
        (self.info.capability.0 * 10 + self.info.capability.1) as u32
    }

    fn bind(&self) -> Result<()> {
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

    fn function(&self, src: &'static Source, name: &'static str) -> Result<CudaFunction> {
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

    /// Evict the L2 by reading a buffer 4× its size (outside timed windows).
    pub fn flush_l2(self: &Arc<Self>) -> Result<()> {
        let bytes = (4 * self.info.l2_bytes.max(8 << 20)) as usize;
        let ptr = {
            let mut f = self
                .flush
                .lock()
                .map_err(|_| Error::Device("flush buffer poisoned".into()))?;
            if f.is_none() {
                let b = DeviceBuffer::alloc(self, bytes)?;
                b.memset(1)?;
                *f = Some(b);
            }
            f.as_ref().map(|b| b.ptr).unwrap_or(0)
        };
        let scratch = self.scratch()?;
        let n16 = (bytes / 16) as u64;
        let grid = self.grid(&UTIL, "kr_l2_flush", 512, 0, n16)?;
        self.launch(
            &UTIL,
            "kr_l2_flush",
            grid,
            512,
            0,
            &[
                Arg::ptr(ptr),
                Arg::u64(n16),
                Arg::ptr(scratch + SCRATCH_FLAG + 4),
            ],
        )
    }

    /// A new timing event.
    pub fn event(self: &Arc<Self>) -> Result<Event> {
        self.bind()?;
        let e = cu::event::create(sys::CUevent_flags::CU_EVENT_DEFAULT)
            .map_err(|e| driver_err("creating an event", e))?;
        Ok(Event {
            raw: e,
            dev: self.clone(),
        })
    }

    /// A tiny kernel seen from the host, median seconds over `reps`: launch to completion
    /// (launch, wait on the stream); launch to result, the kernel writing its 4-byte result
    /// straight into pinned host memory; and launch plus a 4-byte device-to-host copy.
    pub fn tiny_latency(self: &Arc<Self>, reps: usize) -> Result<(f64, f64, f64)> {
        let (c, copy) = self.tiny_latency_copy(reps)?;
        self.bind()?;
        // SAFETY: a 4 KiB pinned host allocation (mapped into the device's address space by
        // UVA), freed below after the stream is idle.
        let host: *mut u32 = unsafe { cu::malloc_host(4096, 0) }
            .map_err(|e| driver_err("allocating pinned memory", e))?
            .cast();
        let run = (|| -> Result<f64> {
            let mut v = Vec::with_capacity(reps);
            for k in 0..reps + 20 {
                let t = Instant::now();
                self.launch(
                    &UTIL,
                    "kr_tiny_put",
                    1,
                    32,
                    0,
                    &[Arg::ptr(host as u64), Arg::u32(k as u32 + 1)],
                )?;
                self.synchronize()?;
                // SAFETY: the kernel that wrote it has completed (stream synchronised).
                let got = unsafe { std::ptr::read_volatile(host) };
                if got != k as u32 + 1 {
                    return Err(Error::Device(format!(
                        "launch-to-result probe read {got}, expected {}",
                        k + 1
                    )));
                }
                if k >= 20 {
                    v.push(t.elapsed().as_secs_f64());
                }
            }
            Ok(median(&mut v))
        })();
        let _ = self.synchronize();
        // SAFETY: allocated above; no work that uses it is in flight.
        let _ = unsafe { cu::free_host(host.cast()) };
        Ok((c, run?, copy))
    }

    fn tiny_latency_copy(self: &Arc<Self>, reps: usize) -> Result<(f64, f64)> {
        let flag = self.scratch()? + SCRATCH_FLAG + 8;
        let run = || self.launch(&UTIL, "kr_tiny", 1, 32, 0, &[Arg::ptr(flag)]);
        for _ in 0..20 {
            run()?;
        }
        self.synchronize()?;
        let mut a = Vec::with_capacity(reps);
        let mut b = Vec::with_capacity(reps);
        let mut out = [0u32; 1];
        for _ in 0..reps {
            let t = Instant::now();
            run()?;
            self.synchronize()?;
            a.push(t.elapsed().as_secs_f64());
            let t = Instant::now();
            run()?;
            // SAFETY: `flag` points into the live scratch buffer; `out` is valid for 4 bytes.
            unsafe { cu::memcpy_dtoh_async(&mut out, flag, self.raw_stream()) }
                .map_err(|e| driver_err("reading the flag", e))?;
            self.synchronize()?;
            b.push(t.elapsed().as_secs_f64());
        }
        Ok((median(&mut a), median(&mut b)))
    }
}

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(f64::total_cmp);
    v.get(v.len() / 2).copied().unwrap_or(f64::NAN)
}

/// A CUDA event on a device's stream.
pub struct Event {
    raw: sys::CUevent,
    dev: Arc<Device>,
}

// SAFETY: a CUevent handle may be used from any thread of the process.
unsafe impl Send for Event {}
// SAFETY: as above; the driver serialises operations on an event.
unsafe impl Sync for Event {}

impl Event {
    pub fn record(&self) -> Result<()> {
        self.dev.bind()?;
        // SAFETY: the event and the stream belong to the bound context.
        unsafe { cu::event::record(self.raw, self.dev.raw_stream()) }
            .map_err(|e| driver_err("recording an event", e))
    }
    pub fn synchronize(&self) -> Result<()> {
        // SAFETY: the event is live.
        unsafe { cu::event::synchronize(self.raw) }
            .map_err(|e| driver_err("waiting on an event", e))
    }
    /// Seconds from `self` to `end` (both recorded and complete).
    pub fn seconds_to(&self, end: &Event) -> Result<f64> {
        // SAFETY: both events are live and recorded on the same stream.
        unsafe { cu::event::elapsed(self.raw, end.raw) }
            .map(|ms| ms as f64 / 1e3)
            .map_err(|e| driver_err("reading event time", e))
    }
}

impl Drop for Event {
    fn drop(&mut self) {
        if self.dev.bind().is_ok() {
            // SAFETY: the event is live and not used after this.
            let _ = unsafe { cu::event::destroy(self.raw) };
        }
    }
}

thread_local! {
    /// An end event waiting to be recorded once the kernels of a timed call are queued.
    static END_EVENT: std::cell::Cell<Option<sys::CUevent>> = const { std::cell::Cell::new(None) };
}

/// Run `f` (an `Op::run_into` on `Backend::Cuda`, say) and record `end` on the stream as soon
/// as its kernels are queued: before any host-side check that has to wait for them (the mask
/// check of `map_reduce_masked_sum` reads a flag back), so events time the kernels, not the
/// host's round trip. Returns `f`'s result.
pub fn timed_launch<R>(end: &Event, f: impl FnOnce() -> R) -> Result<R> {
    END_EVENT.with(|e| e.set(Some(end.raw)));
    let r = f();
    if END_EVENT.with(|e| e.take()).is_some() {
        end.record()?;
    }
    Ok(r)
}

/// Called once a kernel's launches are queued: records a pending end event (see
/// `timed_launch`).
pub fn launched(dev: &Device) -> Result<()> {
    if let Some(ev) = END_EVENT.with(|e| e.take()) {
        dev.bind()?;
        // SAFETY: the event is live (its owner waits in `timed_launch`) and belongs to this
        // context, whose stream is the device's.
        unsafe { cu::event::record(ev, dev.raw_stream()) }
            .map_err(|e| driver_err("recording an event", e))?;
    }
    Ok(())
}

// ---- buffers and transfers -----------------------------------------------------------------

/// Device memory owned by kroute (a plain cuMemAlloc: no managed memory).
pub struct DeviceBuffer {
    ptr: u64,
    bytes: usize,
    dev: Arc<Device>,
}

impl std::fmt::Debug for DeviceBuffer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "DeviceBuffer({} bytes on {:?})", self.bytes, self.dev)
    }
}

impl DeviceBuffer {
    /// Uninitialised device memory (a zero-byte buffer holds no allocation).
    pub fn alloc(dev: &Arc<Device>, bytes: usize) -> Result<DeviceBuffer> {
        let ptr = if bytes == 0 {
            0
        } else {
            dev.bind()?;
            // SAFETY: a plain allocation in the bound context; freed in Drop.
            unsafe { cu::malloc_sync(bytes) }
                .map_err(|e| driver_err(&format!("allocating {bytes} bytes"), e))?
        };
        Ok(DeviceBuffer {
            ptr,
            bytes,
            dev: dev.clone(),
        })
    }
    pub fn ptr(&self) -> u64 {
        self.ptr
    }
    pub fn bytes(&self) -> usize {
        self.bytes
    }
    pub fn device(&self) -> &Arc<Device> {
        &self.dev
    }
    /// Queue a byte fill of the whole buffer.
    pub fn memset(&self, byte: u8) -> Result<()> {
        if self.bytes == 0 {
            return Ok(());
        }
        self.dev.bind()?;
        // SAFETY: the range lies inside this live allocation.
        unsafe { cu::memset_d8_async(self.ptr, byte, self.bytes, self.dev.raw_stream()) }
            .map_err(|e| driver_err("memset", e))
    }
    /// A device-side copy of this buffer (queued).
    pub fn duplicate(&self) -> Result<DeviceBuffer> {
        let b = DeviceBuffer::alloc(&self.dev, self.bytes)?;
        if self.bytes > 0 {
            self.dev.bind()?;
            // SAFETY: both ranges are live allocations of `bytes` bytes on this device.
            unsafe { cu::memcpy_dtod_async(b.ptr, self.ptr, self.bytes, self.dev.raw_stream()) }
                .map_err(|e| driver_err("device copy", e))?;
        }
        Ok(b)
    }
    /// Copy host bytes in (waits until the host memory may be reused).
    pub fn upload(&self, src: &[u8]) -> Result<()> {
        if src.len() != self.bytes {
            return Err(Error::Shape(format!(
                "upload of {} bytes into a buffer of {}",
                src.len(),
                self.bytes
            )));
        }
        self.dev.htod(self.ptr, src)
    }
    /// Copy the buffer out to host bytes (synchronises).
    pub fn download(&self, dst: &mut [u8]) -> Result<()> {
        if dst.len() != self.bytes {
            return Err(Error::Shape(format!(
                "download of a buffer of {} bytes into {}",
                self.bytes,
                dst.len()
            )));
        }
        self.dev.dtoh(dst, self.ptr)
    }
}

impl Drop for DeviceBuffer {
    fn drop(&mut self) {
        if self.ptr != 0 && self.dev.bind().is_ok() {
            // A free cannot report failure from Drop; the driver frees at context teardown.
            // SAFETY: the pointer came from cuMemAlloc and is freed once.
            let _ = unsafe { cu::free_sync(self.ptr) };
        }
    }
}

/// Two pinned host buffers that large transfers stream through: the host copies one chunk
/// into a pinned buffer while the DMA engine moves the other, so a pageable Vec moves at close
/// to pinned speed without pinning it.
struct Staging {
    bufs: [*mut u8; 2],
    events: [sys::CUevent; 2],
}

// SAFETY: the pinned pointers and events are owned by the Staging value, used under the
// device's staging mutex only.
unsafe impl Send for Staging {}

const STAGE_CHUNK: usize = 16 << 20;
/// Transfers below this go straight from pageable memory (one driver call is cheaper).
pub const STAGE_MIN: usize = 4 << 20;

/// Copy with several threads: one core cannot fill a PCIe 5 link.
fn par_copy(dst: &mut [u8], src: &[u8]) {
    use rayon::prelude::*;
    const PIECE: usize = 1 << 20;
    dst.par_chunks_mut(PIECE)
        .zip(src.par_chunks(PIECE))
        .for_each(|(d, s)| d.copy_from_slice(s));
}

impl Device {
    fn staging(&self) -> Result<std::sync::MutexGuard<'_, Option<Staging>>> {
        let mut g = self
            .staging
            .lock()
            .map_err(|_| Error::Device("staging buffers poisoned".into()))?;
        if g.is_none() {
            self.bind()?;
            let mut bufs = [std::ptr::null_mut::<u8>(); 2];
            let mut events = [std::ptr::null_mut(); 2];
            for k in 0..2 {
                // SAFETY: a pinned host allocation, freed in Device's Drop.
                bufs[k] = unsafe { cu::malloc_host(STAGE_CHUNK, 0) }
                    .map_err(|e| driver_err("allocating pinned staging memory", e))?
                    .cast();
                events[k] = cu::event::create(sys::CUevent_flags::CU_EVENT_DISABLE_TIMING)
                    .map_err(|e| driver_err("creating an event", e))?;
                // Start recorded, so the first wait returns at once.
                // SAFETY: live event on this context's stream.
                unsafe { cu::event::record(events[k], self.raw_stream()) }
                    .map_err(|e| driver_err("recording an event", e))?;
            }
            *g = Some(Staging { bufs, events });
        }
        Ok(g)
    }

    /// Host → device, returning when `src` may be reused.
    pub fn htod(&self, dst: u64, src: &[u8]) -> Result<()> {
        if src.is_empty() {
            return Ok(());
        }
        self.bind()?;
        if src.len() < STAGE_MIN {
            // SAFETY: `dst` is a live device range of src.len() bytes; a pageable source
            // makes the copy complete (staged by the driver) before the call returns.
            unsafe { cu::memcpy_htod_async(dst, src, self.raw_stream()) }
                .map_err(|e| driver_err("host-to-device copy", e))?;
            return self.synchronize();
        }
        let g = self.staging()?;
        let s = g
            .as_ref()
            .ok_or_else(|| Error::Device("no staging".into()))?;
        for (k, chunk) in src.chunks(STAGE_CHUNK).enumerate() {
            let slot = k & 1;
            // SAFETY: the event is live; waiting makes the pinned buffer free to overwrite.
            unsafe { cu::event::synchronize(s.events[slot]) }
                .map_err(|e| driver_err("staging wait", e))?;
            // SAFETY: the pinned buffer holds STAGE_CHUNK bytes, no DMA is reading it now.
            let pinned = unsafe { std::slice::from_raw_parts_mut(s.bufs[slot], chunk.len()) };
            par_copy(pinned, chunk);
            // SAFETY: pinned source and device destination ranges are valid for the copy;
            // the event recorded after it guards the pinned buffer's reuse.
            unsafe {
                cu::memcpy_htod_async(dst + (k * STAGE_CHUNK) as u64, &*pinned, self.raw_stream())
                    .map_err(|e| driver_err("host-to-device copy", e))?;
                cu::event::record(s.events[slot], self.raw_stream())
                    .map_err(|e| driver_err("recording an event", e))?;
            }
        }
        drop(g);
        self.synchronize()
    }

    /// Device → host (synchronises).
    pub fn dtoh(&self, dst: &mut [u8], src: u64) -> Result<()> {
        if dst.is_empty() {
            return Ok(());
        }
        self.bind()?;
        if dst.len() < STAGE_MIN {
            // SAFETY: `src` is a live device range of dst.len() bytes.
            unsafe { cu::memcpy_dtoh_async(dst, src, self.raw_stream()) }
                .map_err(|e| driver_err("device-to-host copy", e))?;
            return self.synchronize();
        }
        let g = self.staging()?;
        let s = g
            .as_ref()
            .ok_or_else(|| Error::Device("no staging".into()))?;
        let chunks: Vec<(usize, usize)> = (0..dst.len())
            .step_by(STAGE_CHUNK)
            .map(|o| (o, (dst.len() - o).min(STAGE_CHUNK)))
            .collect();
        let issue = |k: usize| -> Result<()> {
            let (o, len) = chunks[k];
            let slot = k & 1;
            // SAFETY: the pinned buffer has room for `len` bytes and its previous contents
            // were copied out before this chunk is issued; the device range is live.
            unsafe {
                let pinned = std::slice::from_raw_parts_mut(s.bufs[slot], len);
                cu::memcpy_dtoh_async(pinned, src + o as u64, self.raw_stream())
                    .map_err(|e| driver_err("device-to-host copy", e))?;
                cu::event::record(s.events[slot], self.raw_stream())
                    .map_err(|e| driver_err("recording an event", e))
            }
        };
        issue(0)?;
        for k in 0..chunks.len() {
            if k + 1 < chunks.len() {
                issue(k + 1)?;
            }
            let (o, len) = chunks[k];
            // SAFETY: the event marks the DMA into this pinned buffer as complete.
            unsafe { cu::event::synchronize(s.events[k & 1]) }
                .map_err(|e| driver_err("staging wait", e))?;
            // SAFETY: the DMA into the pinned buffer finished (event above).
            let pinned = unsafe { std::slice::from_raw_parts(s.bufs[k & 1], len) };
            par_copy(&mut dst[o..o + len], pinned);
        }
        Ok(())
    }

    /// Pinned and pageable copy bandwidths (GB/s, 10^9 B/s) for `bytes`-sized transfers:
    /// (h2d pinned, h2d pageable, h2d staged, d2h pinned, d2h pageable, d2h staged).
    pub fn transfer_bandwidths(self: &Arc<Self>, bytes: usize) -> Result<[f64; 6]> {
        let dbuf = DeviceBuffer::alloc(self, bytes)?;
        let mut pageable = vec![1u8; bytes];
        self.bind()?;
        // SAFETY: a pinned allocation of `bytes` bytes, freed below.
        let pinned_ptr: *mut u8 = unsafe { cu::malloc_host(bytes, 0) }
            .map_err(|e| driver_err("allocating pinned memory", e))?
            .cast();
        // SAFETY: the allocation above has `bytes` bytes and lives until freed below.
        let pinned = unsafe { std::slice::from_raw_parts_mut(pinned_ptr, bytes) };
        pinned.fill(1);
        let best = |f: &mut dyn FnMut() -> Result<()>| -> Result<f64> {
            f()?;
            let mut b = 0.0f64;
            for _ in 0..5 {
                let t = Instant::now();
                f()?;
                b = b.max(bytes as f64 / t.elapsed().as_secs_f64() / 1e9);
            }
            Ok(b)
        };
        let s = self.raw_stream();
        let p = dbuf.ptr;
        let result = (|| -> Result<[f64; 6]> {
            let h2d_pinned = best(&mut || {
                // SAFETY: pinned source and device range both hold `bytes` bytes.
                unsafe { cu::memcpy_htod_async(p, &*pinned, s) }
                    .map_err(|e| driver_err("h2d", e))?;
                self.synchronize()
            })?;
            let h2d_pageable = best(&mut || {
                // SAFETY: as above, from pageable memory.
                unsafe { cu::memcpy_htod_async(p, &pageable[..], s) }
                    .map_err(|e| driver_err("h2d", e))?;
                self.synchronize()
            })?;
            let h2d_staged = best(&mut || self.htod(p, &pageable))?;
            let d2h_pinned = best(&mut || {
                // SAFETY: as above, device to pinned.
                unsafe { cu::memcpy_dtoh_async(&mut *pinned, p, s) }
                    .map_err(|e| driver_err("d2h", e))?;
                self.synchronize()
            })?;
            let d2h_pageable = best(&mut || {
                // SAFETY: as above, device to pageable.
                unsafe { cu::memcpy_dtoh_async(&mut pageable[..], p, s) }
                    .map_err(|e| driver_err("d2h", e))?;
                self.synchronize()
            })?;
            let mut out = vec![0u8; bytes];
            let d2h_staged = best(&mut || self.dtoh(&mut out, p))?;
            Ok([
                h2d_pinned,
                h2d_pageable,
                h2d_staged,
                d2h_pinned,
                d2h_pageable,
                d2h_staged,
            ])
        })();
        let _ = self.synchronize();
        // SAFETY: allocated above with cuMemAllocHost, no copy is in flight after the sync.
        let _ = unsafe { cu::free_host(pinned_ptr.cast()) };
        pageable.clear();
        result
    }

    /// Device-to-device copy bandwidth (bytes read + bytes written, GB/s) over a `bytes` copy,
    /// best of several, timed with events.
    pub fn copy_bandwidth(self: &Arc<Self>, bytes: usize) -> Result<f64> {
        let a = DeviceBuffer::alloc(self, bytes)?;
        let b = DeviceBuffer::alloc(self, bytes)?;
        a.memset(3)?;
        let (e0, e1) = (self.event()?, self.event()?);
        let mut best = 0.0f64;
        for _ in 0..12 {
            e0.record()?;
            // SAFETY: both ranges are live allocations of `bytes` bytes.
            unsafe { cu::memcpy_dtod_async(b.ptr, a.ptr, bytes, self.raw_stream()) }
                .map_err(|e| driver_err("device copy", e))?;
            e1.record()?;
            e1.synchronize()?;
            best = best.max(2.0 * bytes as f64 / e0.seconds_to(&e1)? / 1e9);
        }
        Ok(best)
    }
}

impl Drop for Device {
    fn drop(&mut self) {
        if let Ok(mut g) = self.staging.lock() {
            if let Some(s) = g.take() {
                if self.bind().is_ok() {
                    let _ = self.stream.synchronize();
                    for k in 0..2 {
                        // SAFETY: allocated in `staging` and not used after this.
                        unsafe {
                            let _ = cu::free_host(s.bufs[k].cast());
                            let _ = cu::event::destroy(s.events[k]);
                        }
                    }
                }
            }
        }
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

// ---- tensors on the device -----------------------------------------------------------------

/// A tensor's device storage: its element type and a shared buffer. Clones share the buffer;
/// a kernel writing an output first makes its buffer unique (copy on write).
#[derive(Clone)]
pub struct CudaData {
    pub dtype: DType,
    pub buf: Arc<DeviceBuffer>,
}

impl std::fmt::Debug for CudaData {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "CudaData({}, {:?})", self.dtype.name(), self.buf)
    }
}

/// Device tensors are equal only when they share a buffer: comparing contents needs a
/// download, which `PartialEq` must not hide.
impl PartialEq for CudaData {
    fn eq(&self, other: &Self) -> bool {
        self.dtype == other.dtype && Arc::ptr_eq(&self.buf, &other.buf)
    }
}

impl CudaData {
    pub fn ordinal(&self) -> usize {
        self.buf.dev.info.ordinal
    }
    /// The buffer, made unique first if a clone shares it.
    pub fn unique(&mut self) -> Result<&DeviceBuffer> {
        if Arc::get_mut(&mut self.buf).is_none() {
            self.buf = Arc::new(self.buf.duplicate()?);
        }
        Ok(&self.buf)
    }
}

pub fn host_bytes(d: &HostData) -> &[u8] {
    match d {
        HostData::F32(v) => bytemuck::cast_slice(v),
        HostData::F16(v) => bytemuck::cast_slice(v),
        HostData::U8(v) => v,
        HostData::I8(v) => bytemuck::cast_slice(v),
        HostData::U32(v) => bytemuck::cast_slice(v),
        HostData::U64(v) => bytemuck::cast_slice(v),
    }
}

pub fn host_bytes_mut(d: &mut HostData) -> &mut [u8] {
    match d {
        HostData::F32(v) => bytemuck::cast_slice_mut(v),
        HostData::F16(v) => bytemuck::cast_slice_mut(v),
        HostData::U8(v) => v,
        HostData::I8(v) => bytemuck::cast_slice_mut(v),
        HostData::U32(v) => bytemuck::cast_slice_mut(v),
        HostData::U64(v) => bytemuck::cast_slice_mut(v),
    }
}

/// Upload host data to a new device buffer.
pub fn upload(dev: &Arc<Device>, d: &HostData, dtype: DType) -> Result<CudaData> {
    let bytes = host_bytes(d);
    let buf = DeviceBuffer::alloc(dev, bytes.len())?;
    buf.upload(bytes)?;
    Ok(CudaData {
        dtype,
        buf: Arc::new(buf),
    })
}

/// Download device data into a new host tensor of this description (written in place: no
/// second host copy).
pub fn download(c: &CudaData, desc: &TensorDesc) -> Result<Tensor> {
    let mut t = Tensor::zeros(desc);
    match t.storage_mut() {
        Storage::Host(h) => c.buf.download(host_bytes_mut(h))?,
        _ => return Err(Error::Device("zeros() made a non-host tensor".into())),
    }
    Ok(t)
}

/// Zeroed device storage for a description.
pub fn zeros(dev: &Arc<Device>, desc: &TensorDesc) -> Result<CudaData> {
    let buf = DeviceBuffer::alloc(dev, desc.bytes())?;
    buf.memset(0)?;
    Ok(CudaData {
        dtype: desc.dtype,
        buf: Arc::new(buf),
    })
}

// ---- running an op --------------------------------------------------------------------------

/// Whether `name` has a cuda implementation compiled into this build.
pub fn has_kernel(name: &str) -> bool {
    find(name).is_some()
}

/// `Op::run_into` for `Backend::Cuda` (see the module docs for where data may live).
pub fn run(op: &Op, inputs: &[&Tensor], params: &Params, outputs: &mut [Tensor]) -> Result<()> {
    let kernel = find(op.name).ok_or_else(|| Error::NotImplemented {
        kernel: op.name.into(),
        backend: "cuda".into(),
    })?;
    // The device: where the first device tensor lives, else cuda:0; all must agree.
    let mut ordinal = None;
    for loc in inputs
        .iter()
        .map(|t| t.location())
        .chain(outputs.iter().map(|t| t.location()))
    {
        if let Location::Cuda(o) = loc {
            match ordinal {
                None => ordinal = Some(o),
                Some(p) if p != o => {
                    return Err(Error::Device(format!(
                        "{}: tensors on cuda:{p} and cuda:{o}; move them to one device",
                        op.name
                    )))
                }
                _ => {}
            }
        }
    }
    let dev = device(ordinal.unwrap_or(0))?;
    // Inputs: device tensors as they are, host tensors uploaded for this call.
    let mut staged_in: Vec<Option<CudaData>> = Vec::with_capacity(inputs.len());
    for t in inputs {
        staged_in.push(match t.storage() {
            Storage::Host(h) => Some(upload(&dev, h, t.dtype())?),
            _ => None,
        });
    }
    let mut io = Io {
        ins: Vec::with_capacity(inputs.len()),
        in_shapes: inputs.iter().map(|t| t.shape().to_vec()).collect(),
        outs: Vec::with_capacity(outputs.len()),
    };
    for (t, s) in inputs.iter().zip(&staged_in) {
        let c = match (s, t.storage()) {
            (Some(c), _) => c,
            (None, Storage::Cuda(c)) => c,
            _ => return Err(Error::Device("input storage vanished".into())),
        };
        io.ins.push((c.buf.ptr, t.len()));
    }
    // Outputs: device tensors made unique; host outputs travel with their current contents
    // (so a poisoned output that the kernel fails to write is still caught).
    let mut staged_out: Vec<Option<CudaData>> = Vec::with_capacity(outputs.len());
    for t in outputs.iter_mut() {
        let len = t.len();
        let dtype = t.dtype();
        match t.storage_mut() {
            Storage::Host(h) => {
                let c = upload(&dev, h, dtype)?;
                io.outs.push((c.buf.ptr, len));
                staged_out.push(Some(c));
            }
            Storage::Cuda(c) => {
                io.outs.push((c.unique()?.ptr, len));
                staged_out.push(None);
            }
        }
    }
    kernel(&dev, &io, params)?;
    launched(&dev)?;
    for (t, s) in outputs.iter_mut().zip(staged_out) {
        if let Some(c) = s {
            if let Storage::Host(h) = t.storage_mut() {
                c.buf.download(host_bytes_mut(h))?;
            }
        }
    }
    Ok(())
}

/// Compile every kernel source (and the backend's own) for `sm_{arch}`; used by CI without a
/// GPU. Returns (source name, CUBIN bytes).
pub fn compile_all(arch: u32) -> Result<Vec<(&'static str, usize)>> {
    std::iter::once(&UTIL)
        .chain(sources().iter().copied())
        .map(|s| compile::compile_cubin(s, arch).map(|c| (s.name, c.len())))
        .collect()
}
