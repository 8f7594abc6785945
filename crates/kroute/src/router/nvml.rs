//! The health probe's GPU figures through NVML (`nvml-wrapper`, which loads
//! libnvidia-ml at run time: a machine without the driver is a normal case). Without the
//! `nvml` feature (which `cuda` turns on) this says so and reports nothing.
//!
//! NVML numbers GPUs in PCI bus order; CUDA's default order is fastest first, which on a
//! machine of identical GPUs is the same order. Where `CUDA_VISIBLE_DEVICES` renumbers the
//! CUDA devices the two no longer agree, and the router does not take NVML's free memory for a
//! CUDA ordinal (it asks the CUDA driver instead).

use super::health::GpuHealth;

/// Whether NVML index i is CUDA ordinal i here (see the module docs).
#[cfg_attr(not(feature = "nvml"), allow(dead_code))]
fn same_numbering() -> bool {
    std::env::var_os("CUDA_VISIBLE_DEVICES").is_none()
        && std::env::var("CUDA_DEVICE_ORDER").map_or(true, |v| v == "PCI_BUS_ID" || v.is_empty())
}

#[cfg(feature = "nvml")]
mod imp {
    use super::GpuHealth;
    use nvml_wrapper::bitmasks::device::ThrottleReasons;
    use nvml_wrapper::enum_wrappers::device::{Clock, TemperatureSensor};
    use nvml_wrapper::Nvml;
    use std::ffi::OsStr;
    use std::sync::OnceLock;

    /// NVML, initialised once per process, or why not. The driver installs
    /// `libnvidia-ml.so.1`; the unversioned name exists only with development packages.
    fn nvml() -> Result<&'static Nvml, &'static str> {
        static NVML: OnceLock<Result<Nvml, String>> = OnceLock::new();
        NVML.get_or_init(|| {
            Nvml::builder()
                .lib_path(OsStr::new("libnvidia-ml.so.1"))
                .init()
                .or_else(|_| Nvml::init())
                .map_err(|e| format!("NVML not available ({e}): no GPU health figures"))
        })
        .as_ref()
        .map_err(String::as_str)
    }

    /// NVML's throttle reasons as snake-case names.
    fn reasons(r: ThrottleReasons) -> Vec<String> {
        [
            (ThrottleReasons::GPU_IDLE, "gpu_idle"),
            (
                ThrottleReasons::APPLICATIONS_CLOCKS_SETTING,
                "applications_clocks_setting",
            ),
            (ThrottleReasons::SW_POWER_CAP, "sw_power_cap"),
            (ThrottleReasons::HW_SLOWDOWN, "hw_slowdown"),
            (ThrottleReasons::SYNC_BOOST, "sync_boost"),
            (ThrottleReasons::SW_THERMAL_SLOWDOWN, "sw_thermal_slowdown"),
            (ThrottleReasons::HW_THERMAL_SLOWDOWN, "hw_thermal_slowdown"),
            (
                ThrottleReasons::HW_POWER_BRAKE_SLOWDOWN,
                "hw_power_brake_slowdown",
            ),
            (
                ThrottleReasons::DISPLAY_CLOCK_SETTING,
                "display_clock_setting",
            ),
        ]
        .into_iter()
        .filter(|(bit, _)| r.contains(*bit))
        .map(|(_, name)| name.to_string())
        .collect()
    }

    pub fn gpus() -> (Vec<GpuHealth>, String) {
        let nvml = match nvml() {
            Ok(n) => n,
            Err(why) => return (Vec::new(), why.to_string()),
        };
        let count = match nvml.device_count() {
            Ok(c) => c,
            Err(e) => return (Vec::new(), format!("NVML could not count GPUs: {e}")),
        };
        let mut out = Vec::new();
        let mut notes = Vec::new();
        for index in 0..count {
            let d = match nvml.device_by_index(index) {
                Ok(d) => d,
                Err(e) => {
                    notes.push(format!("GPU {index}: {e}"));
                    continue;
                }
            };
            let mem = d.memory_info().ok();
            out.push(GpuHealth {
                index,
                name: d.name().unwrap_or_default(),
                free_bytes: mem.as_ref().map(|m| m.free),
                total_bytes: mem.as_ref().map(|m| m.total),
                temperature_c: d.temperature(TemperatureSensor::Gpu).ok(),
                sm_clock_mhz: d.clock_info(Clock::SM).ok(),
                memory_clock_mhz: d.clock_info(Clock::Memory).ok(),
                utilization_pct: d.utilization_rates().ok().map(|u| u.gpu),
                throttle: d
                    .current_throttle_reasons()
                    .map(reasons)
                    .unwrap_or_default(),
            });
        }
        if out.is_empty() && notes.is_empty() {
            notes.push("NVML found no GPU".into());
        }
        (out, notes.join("; "))
    }

    pub fn free_bytes(ordinal: usize) -> Option<u64> {
        if !super::same_numbering() {
            return None;
        }
        let d = nvml()
            .ok()?
            .device_by_index(u32::try_from(ordinal).ok()?)
            .ok()?;
        d.memory_info().ok().map(|m| m.free)
    }
}

#[cfg(not(feature = "nvml"))]
mod imp {
    use super::GpuHealth;

    pub fn gpus() -> (Vec<GpuHealth>, String) {
        (
            Vec::new(),
            "this build has no NVML (build with the `cuda` or `nvml` feature): no GPU health figures"
                .into(),
        )
    }

    pub fn free_bytes(_: usize) -> Option<u64> {
        None
    }
}

pub use imp::{free_bytes, gpus};
