//! The health probe: how busy this machine is right now — memory available and under pressure,
//! CPU pressure and load, CPU clocks where readable, and on NVIDIA GPUs free memory,
//! temperature, clocks and throttle reasons (NVML, `nvml.rs`). Cheap (file reads and a few
//! NVML queries, no measurement), so the harness can look before it measures and the router
//! can read free GPU memory without a CUDA context.
//!
//! Everything is optional: a kernel without PSI, a VM without cpufreq, a machine without
//! NVML simply leaves a figure out and says so.

use serde::{Deserialize, Serialize};

/// Above these the harness warns that the machine is too busy to measure.
pub mod limits {
    /// Share of the last 10 s during which some runnable task waited for a CPU, %.
    pub const CPU_PSI_SOME_AVG10: f64 = 10.0;
    /// Share of the last 10 s during which some task stalled on memory (reclaim, swap), %.
    pub const MEMORY_PSI_SOME_AVG10: f64 = 5.0;
    /// Memory available below this share of the total: large sizes would swap.
    pub const MIN_AVAILABLE_FRACTION: f64 = 0.10;
    /// A GPU busy with someone else's kernels this share of the last sample period, %.
    pub const GPU_UTILIZATION: u32 = 10;
}

/// `/proc/loadavg`: runnable (and uninterruptible) tasks averaged over 1, 5 and 15 minutes.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct LoadAvg {
    pub one: f64,
    pub five: f64,
    pub fifteen: f64,
}

/// One line of a PSI file: the share of time (%) some (or all) tasks were stalled, averaged
/// over 10, 60 and 300 s, and the total stall in µs.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Stall {
    pub avg10: f64,
    pub avg60: f64,
    pub avg300: f64,
    pub total_us: u64,
}

/// A `/proc/pressure/{cpu,memory,io}` file. `full` is absent for the CPU on older kernels.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Pressure {
    pub some: Stall,
    pub full: Option<Stall>,
}

/// PSI for the three resources; None where the kernel has none (no CONFIG_PSI, psi=0).
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Psi {
    pub cpu: Option<Pressure>,
    pub memory: Option<Pressure>,
    pub io: Option<Pressure>,
}

/// `/proc/meminfo`'s totals, bytes.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Memory {
    pub total_bytes: u64,
    pub available_bytes: u64,
}

/// CPU clocks from cpufreq, MHz: the lowest and highest current clock over the CPUs, and the
/// highest rated maximum.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct CpuClocks {
    pub current_min_mhz: f64,
    pub current_max_mhz: f64,
    pub rated_max_mhz: Option<f64>,
}

/// One NVIDIA GPU as NVML sees it now. A figure NVML would not give is None.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct GpuHealth {
    /// NVML's index (taken as the CUDA ordinal: see `nvml.rs`).
    pub index: u32,
    pub name: String,
    pub free_bytes: Option<u64>,
    pub total_bytes: Option<u64>,
    pub temperature_c: Option<u32>,
    pub sm_clock_mhz: Option<u32>,
    pub memory_clock_mhz: Option<u32>,
    /// % of the last sample period a kernel ran (anyone's).
    pub utilization_pct: Option<u32>,
    /// Why the clocks are held down now, NVML's names in snake case ("gpu_idle",
    /// "sw_power_cap", "hw_thermal_slowdown", …); empty when none.
    pub throttle: Vec<String>,
}

/// Throttle reasons that say nothing about contention: an idle GPU lowers its clocks, and
/// clock settings are configuration.
pub const BENIGN_THROTTLE: [&str; 4] = [
    "gpu_idle",
    "applications_clocks_setting",
    "display_clock_setting",
    "sync_boost",
];

/// The machine's health now.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Health {
    /// Logical CPUs this process may use.
    pub cpus: usize,
    pub load: Option<LoadAvg>,
    pub memory: Option<Memory>,
    pub psi: Psi,
    pub cpu_clocks: Option<CpuClocks>,
    pub gpus: Vec<GpuHealth>,
    /// Why there are no GPU figures (no NVML, no driver, a build without it), or "".
    pub gpu_note: String,
}

/// Parse `/proc/loadavg` ("0.37 0.88 1.18 2/345 12345").
pub fn parse_loadavg(text: &str) -> Option<LoadAvg> {
    let mut f = text.split_whitespace().map(|x| x.parse::<f64>().ok());
    Some(LoadAvg {
        one: f.next()??,
        five: f.next()??,
        fifteen: f.next()??,
    })
}

/// Parse a PSI file: "some avg10=1.23 avg60=0.50 avg300=0.10 total=12345" and, where the
/// kernel has it, a "full …" line. None when there is no "some" line.
pub fn parse_pressure(text: &str) -> Option<Pressure> {
    let mut some = None;
    let mut full = None;
    for line in text.lines() {
        let mut words = line.split_whitespace();
        let slot = match words.next() {
            Some("some") => &mut some,
            Some("full") => &mut full,
            _ => continue,
        };
        let mut s = Stall::default();
        let mut seen = 0;
        for w in words {
            let Some((k, v)) = w.split_once('=') else {
                continue;
            };
            let ok = match k {
                "avg10" => v.parse().map(|x| s.avg10 = x).is_ok(),
                "avg60" => v.parse().map(|x| s.avg60 = x).is_ok(),
                "avg300" => v.parse().map(|x| s.avg300 = x).is_ok(),
                "total" => v.parse().map(|x| s.total_us = x).is_ok(),
                _ => false,
            };
            seen += usize::from(ok);
        }
        if seen == 4 {
            *slot = Some(s);
        }
    }
    Some(Pressure { some: some?, full })
}

/// Parse `/proc/meminfo`'s MemTotal and MemAvailable (kB).
pub fn parse_meminfo(text: &str) -> Option<Memory> {
    let field = |name: &str| {
        text.lines()
            .find_map(|l| l.strip_prefix(name)?.strip_prefix(':'))
            .and_then(|rest| rest.split_whitespace().next()?.parse::<u64>().ok())
            .map(|kb| kb * 1024)
    };
    Some(Memory {
        total_bytes: field("MemTotal")?,
        available_bytes: field("MemAvailable")?,
    })
}

fn read(path: &str) -> Option<String> {
    std::fs::read_to_string(path).ok()
}

/// cpufreq's current (and rated maximum) clocks over the CPUs, where the system exposes them
/// (many VMs do not).
fn cpu_clocks() -> Option<CpuClocks> {
    let dir = std::fs::read_dir("/sys/devices/system/cpu").ok()?;
    let (mut cur, mut max) = (Vec::new(), Vec::new());
    for e in dir.flatten() {
        let name = e.file_name();
        let name = name.to_string_lossy();
        if !(name.starts_with("cpu") && name[3..].chars().all(|c| c.is_ascii_digit())) {
            continue;
        }
        let khz = |f: &str| {
            read(&format!("/sys/devices/system/cpu/{name}/cpufreq/{f}"))
                .and_then(|t| t.trim().parse::<f64>().ok())
        };
        if let Some(c) = khz("scaling_cur_freq") {
            cur.push(c / 1000.0);
        }
        if let Some(m) = khz("cpuinfo_max_freq") {
            max.push(m / 1000.0);
        }
    }
    if cur.is_empty() {
        return None;
    }
    Some(CpuClocks {
        current_min_mhz: cur.iter().copied().fold(f64::INFINITY, f64::min),
        current_max_mhz: cur.iter().copied().fold(0.0, f64::max),
        rated_max_mhz: max.into_iter().reduce(f64::max),
    })
}

impl Health {
    /// Read the machine's health now.
    pub fn now() -> Health {
        let (gpus, gpu_note) = super::nvml::gpus();
        Health {
            cpus: std::thread::available_parallelism().map_or(1, |n| n.get()),
            load: read("/proc/loadavg").and_then(|t| parse_loadavg(&t)),
            memory: read("/proc/meminfo").and_then(|t| parse_meminfo(&t)),
            psi: Psi {
                cpu: read("/proc/pressure/cpu").and_then(|t| parse_pressure(&t)),
                memory: read("/proc/pressure/memory").and_then(|t| parse_pressure(&t)),
                io: read("/proc/pressure/io").and_then(|t| parse_pressure(&t)),
            },
            cpu_clocks: cpu_clocks(),
            gpus,
            gpu_note,
        }
    }

    /// What makes the machine too busy to measure now (`limits`), each as a short phrase;
    /// empty when nothing does.
    pub fn too_busy(&self) -> Vec<String> {
        let mut why = Vec::new();
        if let Some(p) = self.psi.cpu {
            if p.some.avg10 > limits::CPU_PSI_SOME_AVG10 {
                why.push(format!(
                    "tasks waited for a CPU {:.0}% of the last 10 s (PSI)",
                    p.some.avg10
                ));
            }
        }
        if let Some(l) = self.load {
            if l.one > self.cpus as f64 {
                why.push(format!("load {:.2} on {} CPUs", l.one, self.cpus));
            }
        }
        if let Some(p) = self.psi.memory {
            if p.some.avg10 > limits::MEMORY_PSI_SOME_AVG10 {
                why.push(format!(
                    "tasks stalled on memory {:.0}% of the last 10 s (PSI)",
                    p.some.avg10
                ));
            }
        }
        if let Some(m) = self.memory {
            if (m.available_bytes as f64) < limits::MIN_AVAILABLE_FRACTION * m.total_bytes as f64 {
                why.push(format!(
                    "{:.1} of {:.1} GiB memory available",
                    m.available_bytes as f64 / (1u64 << 30) as f64,
                    m.total_bytes as f64 / (1u64 << 30) as f64
                ));
            }
        }
        for g in &self.gpus {
            let bad: Vec<&str> = g
                .throttle
                .iter()
                .map(String::as_str)
                .filter(|r| !BENIGN_THROTTLE.contains(r))
                .collect();
            if !bad.is_empty() {
                why.push(format!("GPU {} throttled: {}", g.index, bad.join(", ")));
            }
            if let Some(u) = g.utilization_pct.filter(|&u| u > limits::GPU_UTILIZATION) {
                why.push(format!("GPU {} already busy {u}% of the time", g.index));
            }
        }
        why
    }

    /// One line for the harness to print before it measures, or None when the machine is
    /// quiet enough.
    pub fn warning(&self) -> Option<String> {
        let why = self.too_busy();
        (!why.is_empty()).then(|| {
            format!(
                "warning: this machine is too busy to measure reliably ({}); times taken now \
                 will be slower and noisier than the machine is",
                why.join("; ")
            )
        })
    }

    /// Free memory of the GPU at CUDA ordinal `ordinal` by NVML, when NVML describes it.
    pub fn gpu_free_bytes(&self, ordinal: usize) -> Option<u64> {
        self.gpus
            .iter()
            .find(|g| g.index as usize == ordinal)
            .and_then(|g| g.free_bytes)
    }
}

/// Free memory of the GPU at CUDA ordinal `ordinal` now, by NVML (no CUDA context needed), or
/// None when NVML is absent or cannot say: the router then asks the CUDA driver.
pub fn gpu_free_bytes(ordinal: usize) -> Option<u64> {
    super::nvml::free_bytes(ordinal)
}

#[cfg(test)]
mod tests {
    use super::*;

    // As the kernel writes them (Linux 6.x).
    const CPU_PSI: &str = "some avg10=23.50 avg60=12.00 avg300=3.25 total=987654321\n\
                           full avg10=0.00 avg60=0.00 avg300=0.00 total=0\n";
    const CPU_PSI_OLD: &str = "some avg10=0.00 avg60=0.10 avg300=0.02 total=1234\n";
    const MEMINFO: &str = "MemTotal:       24576000 kB\nMemFree:         1000000 kB\n\
                           MemAvailable:   20000000 kB\nBuffers:          100 kB\n";

    #[test]
    fn parses_loadavg() {
        let l = parse_loadavg("0.37 0.88 1.18 2/345 12345\n").unwrap();
        assert_eq!((l.one, l.five, l.fifteen), (0.37, 0.88, 1.18));
        assert_eq!(parse_loadavg(""), None);
        assert_eq!(parse_loadavg("0.1 x 0.3"), None);
    }

    #[test]
    fn parses_psi_with_and_without_full() {
        let p = parse_pressure(CPU_PSI).unwrap();
        assert_eq!(p.some.avg10, 23.5);
        assert_eq!(p.some.avg300, 3.25);
        assert_eq!(p.some.total_us, 987654321);
        assert_eq!(p.full.unwrap().avg10, 0.0);
        let p = parse_pressure(CPU_PSI_OLD).unwrap();
        assert_eq!(p.full, None);
        assert_eq!(p.some.avg60, 0.1);
        // Not PSI, or a damaged line: nothing.
        assert_eq!(parse_pressure("hello"), None);
        assert_eq!(
            parse_pressure("some avg10=x avg60=0 avg300=0 total=0"),
            None
        );
    }

    #[test]
    fn parses_meminfo() {
        let m = parse_meminfo(MEMINFO).unwrap();
        assert_eq!(m.total_bytes, 24576000 * 1024);
        assert_eq!(m.available_bytes, 20000000 * 1024);
        assert_eq!(parse_meminfo("MemTotal: 10 kB\n"), None);
    }

    fn quiet() -> Health {
        Health {
            cpus: 2,
            load: parse_loadavg("0.5 0.5 0.5 1/100 1"),
            memory: parse_meminfo(MEMINFO),
            psi: Psi {
                cpu: parse_pressure(CPU_PSI_OLD),
                memory: parse_pressure(CPU_PSI_OLD),
                io: None,
            },
            ..Health::default()
        }
    }

    #[test]
    fn a_quiet_machine_has_no_warning() {
        assert_eq!(quiet().warning(), None);
        // An idle GPU lowers its clocks: not a reason.
        let mut h = quiet();
        h.gpus.push(GpuHealth {
            throttle: vec!["gpu_idle".into()],
            utilization_pct: Some(0),
            ..GpuHealth::default()
        });
        assert_eq!(h.warning(), None);
    }

    #[test]
    fn each_kind_of_business_is_named() {
        let mut h = quiet();
        h.psi.cpu = parse_pressure(CPU_PSI);
        let w = h.too_busy();
        assert_eq!(w.len(), 1);
        assert!(w[0].contains("24%") || w[0].contains("23%"), "{w:?}");
        let mut h = quiet();
        h.load = parse_loadavg("3.10 1 1 1/1 1");
        assert_eq!(h.too_busy(), ["load 3.10 on 2 CPUs"]);
        let mut h = quiet();
        h.memory = Some(Memory {
            total_bytes: 10 << 30,
            available_bytes: 1 << 29,
        });
        assert!(h.too_busy()[0].contains("memory available"));
        let mut h = quiet();
        h.gpus.push(GpuHealth {
            index: 0,
            throttle: vec!["gpu_idle".into(), "hw_thermal_slowdown".into()],
            utilization_pct: Some(80),
            ..GpuHealth::default()
        });
        let w = h.warning().unwrap();
        assert!(w.contains("GPU 0 throttled: hw_thermal_slowdown"), "{w}");
        assert!(w.contains("busy 80%"), "{w}");
        assert!(!w.contains('\n'));
    }

    #[test]
    fn reading_this_machine_never_fails() {
        let h = Health::now();
        assert!(h.cpus >= 1);
        // A build without NVML, or a machine without it, says why there are no GPU figures.
        assert!(!h.gpus.is_empty() || !h.gpu_note.is_empty());
    }
}
