//! Device memory and transfers: plain cuMemAlloc buffers (no managed memory), and two pinned
//! staging buffers that large host↔device copies stream through.

use super::{driver_err, Device};
use crate::error::{Error, Result};
use crate::tensor::HostData;
use cudarc::driver::{result as cu, sys};
use std::sync::Arc;

// ---- buffers and transfers -----------------------------------------------------------------

/// Device memory owned by kroute (a plain cuMemAlloc: no managed memory).
pub struct DeviceBuffer {
    pub(super) ptr: u64,
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
pub(super) struct Staging {
    pub(super) bufs: [*mut u8; 2],
    pub(super) events: [sys::CUevent; 2],
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
    pub(super) fn staging(&self) -> Result<std::sync::MutexGuard<'_, Option<Staging>>> {
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
