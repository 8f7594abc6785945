//! Timing on the device: CUDA events on the device's stream, the L2 flush that makes every
//! sample start cold, and the harness's clock built from both.

use super::memory::DeviceBuffer;
use super::{driver_err, Device};
use crate::backend::cuda::{Arg, SCRATCH_FLAG, UTIL};
use crate::backend::Clock;
use crate::error::{Error, Result};
use cudarc::driver::{result as cu, sys};
use std::sync::Arc;

impl Device {
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
}

pub(super) fn median(v: &mut [f64]) -> f64 {
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

/// Run `f` (an `Op::run_into` on `Backend::Cuda`, say) and record `end` on the stream once its
/// launches are queued (`launched`, called by the run after the kernel's own work, which for
/// `map_reduce_masked_sum` includes reading its mask flag back). Returns `f`'s result.
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
pub(crate) fn launched(dev: &Device) -> Result<()> {
    if let Some(ev) = END_EVENT.with(|e| e.take()) {
        dev.bind()?;
        // SAFETY: the event is live (its owner waits in `timed_launch`) and belongs to this
        // context, whose stream is the device's.
        unsafe { cu::event::record(ev, dev.raw_stream()) }
            .map_err(|e| driver_err("recording an event", e))?;
    }
    Ok(())
}

/// The harness's clock on a CUDA device: each sample is one call between two events, after a
/// kernel that reads 4× the L2 (so every sample starts cold and the host has queued the call
/// before the GPU reaches it). Samples are queued in batches and read after one wait.
pub struct EventClock {
    dev: Arc<Device>,
    events: Vec<(Event, Event)>,
}

impl EventClock {
    pub fn new(dev: Arc<Device>) -> EventClock {
        EventClock {
            events: Vec::new(),
            dev,
        }
    }
}

impl Clock for EventClock {
    fn time(&mut self, count: usize, run: &mut dyn FnMut(usize) -> Result<()>) -> Result<Vec<f64>> {
        while self.events.len() < count {
            self.events.push((self.dev.event()?, self.dev.event()?));
        }
        for (i, (e0, e1)) in self.events[..count].iter().enumerate() {
            self.dev.flush_l2()?;
            e0.record()?;
            timed_launch(e1, || run(i))??;
        }
        self.dev.synchronize()?;
        self.events[..count]
            .iter()
            .map(|(e0, e1)| e0.seconds_to(e1))
            .collect()
    }
    fn starts_cold(&self) -> bool {
        true
    }
    fn describe(&self) -> &'static str {
        "cuda events around each call; inputs resident on the device; L2 flushed (4× its size read) before each sample"
    }
}
