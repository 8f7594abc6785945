//! What the device measures: device copy bandwidth, host↔device transfer bandwidths (pinned,
//! pageable, staged), and the latency of a tiny kernel seen from the host.

use super::compile;
use super::memory::DeviceBuffer;
use super::timing::median;
use super::{driver_err, Device};
use crate::backend::cuda::{Arg, SCRATCH_FLAG, UTIL};
use crate::backend::GpuProbe;
use crate::error::{Error, Result};
use cudarc::driver::result as cu;
use std::sync::Arc;
use std::time::Instant;

impl Device {
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

impl Device {
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

/// Every CUDA device and what it measures, or a note saying why there are none.
pub fn probe() -> (Vec<GpuProbe>, String) {
    let devices = match super::devices() {
        Ok(d) => d,
        Err(e) => return (Vec::new(), format!("skipped: {e}")),
    };
    let nvrtc = compile::nvrtc_version()
        .map(|(a, b)| format!("{a}.{b}"))
        .unwrap_or_else(|e| format!("none ({e})"));
    let mut out = Vec::new();
    let mut notes = Vec::new();
    for d in devices {
        let i = &d.info;
        let mut g = GpuProbe {
            name: i.name.clone(),
            detail: format!(
                "sm_{}{}, {} SMs, {} MiB L2, {} GiB",
                i.capability.0,
                i.capability.1,
                i.sms,
                i.l2_bytes >> 20,
                i.total_mem >> 30
            ),
            ordinal: i.ordinal,
            compute_capability: format!("{}.{}", i.capability.0, i.capability.1),
            sms: i.sms,
            l2_bytes: i.l2_bytes,
            memory_bytes: i.total_mem,
            driver_cuda_version: format!(
                "{}.{}",
                i.driver_version / 1000,
                (i.driver_version % 1000) / 10
            ),
            nvrtc_version: nvrtc.clone(),
            ..GpuProbe::default()
        };
        let measured = (|| -> Result<()> {
            d.prepare(&UTIL)?;
            g.d2d_copy_gbps = d.copy_bandwidth(1 << 30)?;
            let t = d.transfer_bandwidths(256 << 20)?;
            g.h2d_pinned_gbps = t[0];
            g.h2d_pageable_gbps = t[1];
            g.h2d_staged_gbps = t[2];
            g.d2h_pinned_gbps = t[3];
            g.d2h_pageable_gbps = t[4];
            g.d2h_staged_gbps = t[5];
            let (c, r, copy) = d.tiny_latency(2000)?;
            g.launch_to_completion_us = c * 1e6;
            g.launch_to_result_us = r * 1e6;
            g.launch_to_result_copy_us = copy * 1e6;
            Ok(())
        })();
        if let Err(e) = measured {
            notes.push(format!("cuda:{}: measuring failed: {e}", i.ordinal));
        }
        out.push(g);
    }
    (out, notes.join("; "))
}
