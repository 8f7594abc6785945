//! Honest peaks: for each device (a CPU thread count, a GPU) and access pattern, the best
//! bandwidth seen — the probe's own loops or the fastest verified kernel of the run, kroute's or
//! a peer's. Each record is then compared with its ceiling. A figure far above the probe's is not
//! a ceiling but a suspect (a lazy or asynchronous result, or data held in a cache).

use crate::probe::{Pattern, Probe};
use crate::schema::{Ceiling, Record};
use std::collections::BTreeMap;

/// A bandwidth above this many times the probe's figure is implausible: no kernel streams
/// twice as fast as the machine's own best loop measured minutes earlier.
pub const IMPLAUSIBLE: f64 = 2.0;

pub const PATTERNS: [Pattern; 3] = [Pattern::Read, Pattern::Copy, Pattern::Triad];

/// A ceiling's key for where something ran: "cpu, 1 thread", "cpu, 16 threads" or the device
/// ("cuda").
pub fn key(device: &str, threads: Option<usize>) -> String {
    match (device, threads) {
        ("cpu", Some(1) | None) => "cpu, 1 thread".into(),
        ("cpu", Some(t)) => format!("cpu, {t} threads"),
        (d, _) => d.into(),
    }
}

/// Where a record ran, as a ceiling's key (a kroute.bench/2 record has no `device`: it is
/// taken from the backend).
pub fn device_key(r: &Record) -> String {
    let device = r.device.clone().unwrap_or_else(|| {
        if matches!(
            r.backend.as_str(),
            "cuda" | "torch-cuda" | "torch-compile-cuda" | "cupy" | "jax-cuda"
        ) {
            "cuda".into()
        } else {
            "cpu".into()
        }
    });
    if device == "cpu" && r.threads.is_none() && r.backend == "parallel" {
        return "cpu, all threads".into();
    }
    key(&device, r.threads)
}

/// The probe's figure for a device key and pattern, if it measured one.
pub fn probe_figure(probe: &Probe, key: &str, pattern: Pattern) -> Option<f64> {
    if key == "cpu, 1 thread" {
        Some(probe.one_thread.get(pattern))
    } else if key.starts_with("cpu") {
        Some(probe.all_threads.get(pattern))
    } else if pattern == Pattern::Copy {
        probe
            .gpus
            .first()
            .map(|g| g.d2d_copy_gbps)
            .filter(|&g| g > 0.0)
    } else {
        None
    }
}

/// The probe's figure a result is held to, and its pattern: the result's own pattern where the
/// probe measured it, else the copy loop (a GPU's probe runs only that one, so a GPU triad is
/// held to the copy peak, as `implausible_at` does, rather than to nothing).
pub fn probe_peak(
    probe: &Probe,
    device: &str,
    threads: Option<usize>,
    pattern: Pattern,
) -> (Pattern, f64) {
    let key = key(device, threads);
    match probe_figure(probe, &key, pattern) {
        Some(f) => (pattern, f),
        None => (
            Pattern::Copy,
            probe_figure(probe, &key, Pattern::Copy).unwrap_or(f64::NAN),
        ),
    }
}

/// Whether `gbps` for `pattern` is beyond belief on the device `key`.
pub fn implausible_at(probe: &Probe, key: &str, pattern: Pattern, gbps: f64) -> bool {
    // A GPU read or triad is judged against the copy loop, the only one its probe runs.
    let figure =
        probe_figure(probe, key, pattern).or_else(|| probe_figure(probe, key, Pattern::Copy));
    figure.is_some_and(|f| f > 0.0 && gbps > IMPLAUSIBLE * f)
}

/// Whether a record's bandwidth is beyond belief for where it ran.
pub fn implausible(probe: &Probe, r: &Record) -> bool {
    match (r.gbps, r.pattern) {
        (Some(g), Some(p)) => implausible_at(probe, &device_key(r), p, g),
        _ => false,
    }
}

/// The highest candidate per device and pattern (the first of equals), ignoring figures that
/// are not positive and finite.
pub fn best(candidates: impl IntoIterator<Item = Ceiling>) -> Vec<Ceiling> {
    let mut best: BTreeMap<(String, u8), Ceiling> = BTreeMap::new();
    for c in candidates {
        if !(c.gbps.is_finite() && c.gbps > 0.0) {
            continue;
        }
        match best.get_mut(&(c.device.clone(), c.pattern as u8)) {
            Some(slot) if c.gbps <= slot.gbps => {}
            Some(slot) => *slot = c,
            None => {
                best.insert((c.device.clone(), c.pattern as u8), c);
            }
        }
    }
    best.into_values().collect()
}

/// The ceilings of a run, from its probes (the start-of-run one and any re-measurements) and
/// its verified, plausible records.
pub fn ceilings(probes: &[Probe], records: &[Record]) -> Vec<Ceiling> {
    let mut candidates = Vec::new();
    let keys: std::collections::BTreeSet<String> = records.iter().map(device_key).collect();
    for key in &keys {
        for probe in probes {
            for p in PATTERNS {
                if let Some(f) = probe_figure(probe, key, p) {
                    candidates.push(Ceiling {
                        device: key.clone(),
                        pattern: p,
                        gbps: f,
                        source: "probe".into(),
                    });
                }
            }
        }
    }
    let first = probes.first();
    for r in records {
        let (Some(g), Some(p), true) = (r.gbps, r.pattern, r.verified && r.times.is_some()) else {
            continue;
        };
        if first.is_some_and(|pr| implausible(pr, r)) {
            continue;
        }
        candidates.push(Ceiling {
            device: device_key(r),
            pattern: p,
            gbps: g,
            source: format!("{} on {} at n = {}", r.kernel, r.implementation, r.n),
        });
    }
    best(candidates)
}

/// Compare every timed record with its ceiling: `peak_gbps` and `pct_of_peak` are set from it.
pub fn apply(ceilings: &[Ceiling], records: &mut [Record]) {
    for r in records.iter_mut() {
        let (Some(g), Some(p)) = (r.gbps, r.pattern) else {
            continue;
        };
        let key = device_key(r);
        // A pattern nothing measured on this device falls back to its copy figure.
        let c = ceilings
            .iter()
            .find(|c| c.device == key && c.pattern == p)
            .or_else(|| {
                ceilings
                    .iter()
                    .find(|c| c.device == key && c.pattern == Pattern::Copy)
            });
        if let Some(c) = c {
            r.peak_gbps = Some(c.gbps);
            r.pct_of_peak = Some(100.0 * g / c.gbps);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::probe::Bandwidth;
    use crate::schema::Times;

    fn probe() -> Probe {
        let bw = |x: f64| Bandwidth {
            read: x,
            copy: x,
            triad: x,
        };
        Probe {
            cpu_model: "test".into(),
            simd: "none".into(),
            logical_cores: 2,
            threads: 2,
            caches: Vec::new(),
            llc_bytes: 32 << 20,
            array_bytes: 256 << 20,
            one_thread: bw(40.0),
            all_threads: bw(60.0),
            gpus: Vec::new(),
            gpu_note: String::new(),
            health: Default::default(),
        }
    }

    fn row(imp: &str, threads: usize, gbps: f64) -> Record {
        let k = kroute::kernel("reduce_sum").unwrap();
        let p = kroute::Params::defaults(k.spec);
        let mut r = Record::skipped(k, imp, 1000, &p);
        r.implementation = imp.into();
        r.device = Some("cpu".into());
        r.threads = Some(threads);
        r.verified = true;
        r.pattern = Some(Pattern::Read);
        r.gbps = Some(gbps);
        r.times = Some(Times {
            min_s: 1.0,
            median_s: 1.0,
            p90_s: 1.0,
            samples: 10,
        });
        r
    }

    #[test]
    fn a_ceiling_is_the_best_of_the_probe_and_the_plausible_kernels() {
        let rows = vec![
            row("simd", 1, 45.0),     // beats the 1-thread probe: the ceiling
            row("parallel", 2, 55.0), // under the 2-thread probe
            row("numpy", 1, 400.0),   // 10× the probe: refused
        ];
        let c = ceilings(&[probe()], &rows);
        let get = |d: &str| {
            c.iter()
                .find(|c| c.device == d && c.pattern == Pattern::Read)
                .unwrap()
        };
        assert_eq!(get("cpu, 1 thread").gbps, 45.0);
        assert!(get("cpu, 1 thread").source.contains("simd"));
        assert_eq!(get("cpu, 2 threads").gbps, 60.0);
        assert_eq!(get("cpu, 2 threads").source, "probe");
        assert!(implausible(&probe(), &rows[2]));
        assert!(!implausible(&probe(), &rows[0]));
        let mut rows = rows;
        apply(&c, &mut rows);
        assert_eq!(rows[0].pct_of_peak, Some(100.0));
        assert!((rows[1].pct_of_peak.unwrap() - 100.0 * 55.0 / 60.0).abs() < 1e-9);
    }
}
