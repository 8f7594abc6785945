//! The machine's figures the router predicts with when it has no measurement: memory
//! bandwidth, host↔device transfers and launch latency (from the probe, or assumed), and the
//! cost model built on them and on a kernel's spec bytes and flops.

use crate::backend::Backend;
use crate::spec::KernelSpec;
use serde::{Deserialize, Serialize};

/// The CPU's figures and each GPU's.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Machine {
    /// Where the figures come from: "probe" (measured) or "assumed" (typical values).
    pub source: String,
    /// Worker threads of the parallel backend.
    pub cpu_threads: usize,
    /// Memory bandwidth, GB/s (10^9 B/s): one thread, and all threads.
    pub cpu_one_thread_gbps: f64,
    pub cpu_all_threads_gbps: f64,
    pub gpus: Vec<GpuFigures>,
}

/// One GPU's figures.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct GpuFigures {
    pub ordinal: usize,
    pub name: String,
    /// Device memory bandwidth, GB/s.
    pub memory_gbps: f64,
    /// Host→device and device→host copies as kroute makes them (staged), GB/s.
    pub h2d_gbps: f64,
    pub d2h_gbps: f64,
    /// A launch until its result is visible on the host, seconds: the floor of any call.
    pub launch_s: f64,
    /// Streaming multiprocessors (0: unknown).
    pub sms: u32,
    /// Total device memory in bytes (0: unknown).
    pub memory_bytes: u64,
}

impl GpuFigures {
    /// Figures typical of a current data-centre GPU over PCIe, for a GPU nothing measured.
    pub fn assumed(ordinal: usize, name: String) -> GpuFigures {
        GpuFigures {
            ordinal,
            name,
            memory_gbps: 1000.0,
            h2d_gbps: 10.0,
            d2h_gbps: 10.0,
            launch_s: 10e-6,
            sms: 0,
            memory_bytes: 0,
        }
    }

    /// Seconds to move `to_device` bytes in and `to_host` bytes out (one latency per
    /// direction that moves anything).
    pub fn transfer_s(&self, to_device: f64, to_host: f64) -> f64 {
        let one = |bytes: f64, gbps: f64| {
            if bytes > 0.0 {
                self.launch_s + bytes / (gbps.max(1e-3) * 1e9)
            } else {
                0.0
            }
        };
        one(to_device, self.h2d_gbps) + one(to_host, self.d2h_gbps)
    }
}

/// Per-call overhead of a CPU call (a function call and its checks), and of a parallel one
/// (waking the pool), seconds.
const CPU_CALL_S: f64 = 0.2e-6;
const POOL_CALL_S: f64 = 10e-6;
/// Assumed arithmetic rates, flop/s: plain code, one SIMD core, one SM.
const SCALAR_FLOPS: f64 = 1e9;
const SIMD_FLOPS: f64 = 8e9;
const SM_FLOPS: f64 = 200e9;

impl Machine {
    /// Typical figures for a machine nothing measured: a CPU thread streaming 10 GB/s, all
    /// threads together at most 40 GB/s, and every GPU the device backends find at
    /// `GpuFigures::assumed`.
    pub fn assumed() -> Machine {
        let threads = rayon::current_num_threads().max(1);
        let mut gpus = Vec::new();
        for d in Backend::ALL.iter().filter_map(|b| b.device()) {
            for (ordinal, name) in d.identity().into_iter().enumerate() {
                gpus.push(GpuFigures::assumed(ordinal, name));
            }
        }
        Machine {
            source: "assumed".into(),
            cpu_threads: threads,
            cpu_one_thread_gbps: 10.0,
            cpu_all_threads_gbps: (10.0 * threads as f64).min(40.0),
            gpus,
        }
    }

    pub fn gpu(&self, ordinal: usize) -> Option<&GpuFigures> {
        self.gpus.iter().find(|g| g.ordinal == ordinal)
    }

    /// The cost model: predicted seconds of `spec` at size n on `backend` with its data
    /// resident, from the kernel's minimal bytes and counted flops — a call overhead plus the
    /// larger of memory time and arithmetic time. A rough guide for when nothing was measured;
    /// a GPU the figures do not describe gets `GpuFigures::assumed`. None for a backend the
    /// model does not know.
    pub fn model_s(
        &self,
        spec: &KernelSpec,
        backend: Backend,
        n: u64,
        ordinal: usize,
    ) -> Option<f64> {
        let bytes = (spec.bytes)(n).max(0.0);
        let flops = (spec.flops)(n).max(0.0);
        let gb = |gbps: f64| bytes / (gbps.max(1e-3) * 1e9);
        let threads = self.cpu_threads.max(1) as f64;
        Some(match backend {
            // Plain loops rarely stream at the SIMD loops' measured rate: half of it.
            Backend::Scalar => {
                CPU_CALL_S + gb(0.5 * self.cpu_one_thread_gbps).max(flops / SCALAR_FLOPS)
            }
            Backend::Simd => CPU_CALL_S + gb(self.cpu_one_thread_gbps).max(flops / SIMD_FLOPS),
            Backend::Parallel => {
                POOL_CALL_S + gb(self.cpu_all_threads_gbps).max(flops / (SIMD_FLOPS * threads))
            }
            Backend::Cuda | Backend::Wgpu => {
                let assumed;
                let g = match self.gpu(ordinal) {
                    Some(g) => g,
                    None => {
                        assumed = GpuFigures::assumed(ordinal, String::new());
                        &assumed
                    }
                };
                let sms = if g.sms == 0 { 100.0 } else { g.sms as f64 };
                g.launch_s + gb(g.memory_gbps).max(flops / (SM_FLOPS * sms))
            }
        })
    }
}
