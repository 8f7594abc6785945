//! `kroute calibrate`: time every implementation of the selected kernels over a range of sizes
//! and write what was measured into a router profile (`kroute::router::Profile`). The timing
//! is the benchmark's own (`bench::time_one`: rotated inputs on the host, the device's clock
//! on a device; `bench::host_to_result` for a device implementation from host data), and every
//! implementation is verified against the reference before it is timed.

use crate::bench::{host_to_result, rotation_sets, time_one, verify_one, Settings};
use crate::probe::Probe;
use kroute::router::{DataAt, GpuFigures, Machine, Point, Profile};
use kroute::{Kernel, Params, Tensor};
use serde::Serialize;
use std::time::Duration;

/// The sizes calibrated: 2^10 … 2^27, or 2^10, 2^14, 2^18, 2^22 for a quick profile.
pub fn sizes(quick: bool) -> Vec<usize> {
    if quick {
        vec![1 << 10, 1 << 14, 1 << 18, 1 << 22]
    } else {
        (10..=27).map(|k| 1usize << k).collect()
    }
}

/// Benchmark settings for calibration: the machine's rotation, a shorter budget per
/// (implementation, size) than a benchmark's (many more points are measured).
pub fn settings(probe: &Probe, budget: Duration) -> Settings {
    settings_for_llc(probe.llc_bytes, budget)
}

/// The same from the last-level cache alone (`probe::caches`), for a run that needs
/// calibration's loop without measuring bandwidth first (`route-check`).
pub fn settings_for_llc(llc_bytes: u64, budget: Duration) -> Settings {
    let (rotate_bytes, max_rotate_bytes) = Settings::rotation_for_llc(llc_bytes);
    Settings {
        seed: 42,
        budget,
        min_samples: 5,
        max_samples: 200,
        target_spread: 0.05,
        rotate_bytes,
        max_rotate_bytes,
    }
}

/// The router's figures from the probe's measurements.
pub fn machine_of(probe: &Probe) -> Machine {
    Machine {
        source: "probe".into(),
        cpu_threads: probe.threads,
        cpu_one_thread_gbps: probe.one_thread.copy,
        cpu_all_threads_gbps: probe.all_threads.copy,
        gpus: probe
            .gpus
            .iter()
            .map(|g| GpuFigures {
                ordinal: g.ordinal,
                name: g.name.clone(),
                memory_gbps: g.d2d_copy_gbps,
                h2d_gbps: g.h2d_staged_gbps,
                d2h_gbps: g.d2h_staged_gbps,
                launch_s: g.launch_to_completion_us * 1e-6,
                sms: g.sms,
                memory_bytes: g.memory_bytes,
            })
            .collect(),
    }
}

/// One measurement (or why there is none).
#[derive(Clone, Debug, Serialize)]
pub struct Measured {
    pub kernel: String,
    pub implementation: String,
    pub data: DataAt,
    pub n: usize,
    pub seconds: Option<f64>,
    pub error: Option<String>,
}

/// Time every available implementation of `kernels` at `sizes` into `profile`, calling `each`
/// with every measurement as it is made. An implementation that fails verification (checked
/// at each kernel's smallest size) or a run is reported and not timed further.
pub fn calibrate(
    kernels: &[&'static Kernel],
    sizes: &[usize],
    settings: &Settings,
    profile: &mut Profile,
    each: &mut dyn FnMut(&Measured),
) -> Vec<Measured> {
    let mut all = Vec::new();
    let mut say = |m: Measured, all: &mut Vec<Measured>| {
        each(&m);
        all.push(m);
    };
    for &k in kernels {
        let params = Params::defaults(k.spec);
        let imps: Vec<_> = k
            .implementations()
            .iter()
            .filter(|i| i.available())
            .collect();
        let mut failed: Vec<&str> = Vec::new();
        let mut verified = false;
        for &n in sizes {
            let base = k.workload(n, settings.seed);
            let refs: Vec<&Tensor> = base.iter().collect();
            let descs = match k.check(&refs, &params) {
                Ok(d) => d,
                Err(e) => {
                    let m = Measured {
                        kernel: k.name().into(),
                        implementation: "*".into(),
                        data: DataAt::Host,
                        n,
                        seconds: None,
                        error: Some(format!("workload rejected: {e}")),
                    };
                    say(m, &mut all);
                    continue;
                }
            };
            let out_bytes: usize = descs.iter().map(|d| d.bytes()).sum();
            let set_bytes = (base.iter().map(Tensor::bytes).sum::<usize>() + out_bytes) as u64;
            let copies = if imps.iter().any(|i| i.backend.is_cpu()) {
                rotation_sets(set_bytes, settings)
            } else {
                1
            };
            let mut sets = vec![base];
            if !verified {
                let expected = k.reference(&refs_of(&sets[0]), &params);
                for imp in &imps {
                    let r = verify_one(k, imp, n, &sets, &expected);
                    if let Some(e) = r.error {
                        failed.push(imp.id);
                        let m = Measured {
                            kernel: k.name().into(),
                            implementation: imp.id.into(),
                            data: DataAt::Host,
                            n,
                            seconds: None,
                            error: Some(format!("not calibrated: {e}")),
                        };
                        say(m, &mut all);
                    }
                }
                verified = true;
            }
            for _ in 1..copies {
                sets.push(sets[0].clone());
            }
            for imp in imps.iter().filter(|i| !failed.contains(&i.id)) {
                let own = if imp.backend.is_cpu() {
                    DataAt::Host
                } else {
                    DataAt::Device
                };
                let mut runs = vec![(own, time_one(k, imp, &sets, settings).map(|t| t.0.median_s))];
                if !imp.backend.is_cpu() {
                    let reps = if n >= 1 << 24 { 3 } else { 7 };
                    runs.push((
                        DataAt::Host,
                        host_to_result(k, imp, &sets[0], &params, reps),
                    ));
                }
                for (data, got) in runs {
                    let mut m = Measured {
                        kernel: k.name().into(),
                        implementation: imp.id.into(),
                        data,
                        n,
                        seconds: None,
                        error: None,
                    };
                    match got {
                        Ok(s) if s.is_finite() && s > 0.0 => {
                            profile.record(
                                k.name(),
                                imp.id,
                                data,
                                Point {
                                    n: n as u64,
                                    seconds: s,
                                },
                            );
                            m.seconds = Some(s);
                        }
                        Ok(s) => m.error = Some(format!("unusable time {s}")),
                        Err(e) => m.error = Some(format!("run failed: {e}")),
                    }
                    say(m, &mut all);
                }
            }
        }
    }
    all
}

fn refs_of(set: &[Tensor]) -> Vec<&Tensor> {
    set.iter().collect()
}

/// Settings for calibrations in tests (calibrate's and route-check's): a few samples of a few
/// milliseconds each, a 1 MiB rotation, seconds on the CPU.
#[cfg(test)]
pub(crate) fn tiny_settings() -> Settings {
    Settings {
        seed: 7,
        budget: Duration::from_millis(20),
        min_samples: 3,
        max_samples: 50,
        target_spread: 0.2,
        rotate_bytes: 1 << 20,
        max_rotate_bytes: 8 << 20,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use kroute::router::{Fingerprint, Request, Router};
    use kroute::Location;

    /// A calibration over a tiny size range, as CI runs it: seconds on the CPU.
    #[test]
    fn a_tiny_calibration_writes_a_profile_the_router_uses() {
        let settings = tiny_settings();
        let k = kroute::kernel("map_add").unwrap();
        let fp = Fingerprint::current();
        let mut profile = Profile::new(fp.clone(), Machine::assumed());
        let t = std::time::Instant::now();
        let got = calibrate(
            &[k],
            &[1 << 10, 1 << 12],
            &settings,
            &mut profile,
            &mut |_| {},
        );
        assert!(t.elapsed() < Duration::from_secs(30), "{:?}", t.elapsed());
        for m in &got {
            assert!(m.error.is_none(), "{m:?}");
        }
        for id in ["scalar", "simd", "parallel"] {
            let c = profile.curve("map_add", id, DataAt::Host).unwrap();
            assert_eq!(
                c.points.iter().map(|p| p.n).collect::<Vec<_>>(),
                [1024, 4096]
            );
        }
        // Saved, loaded back as this machine's, and routing by it.
        let path =
            std::env::temp_dir().join(format!("kroute-cal-test-{}.json", std::process::id()));
        profile.save(&path).unwrap();
        let (p, note) = kroute::router::profile::load_for(&fp, Some(&path));
        let _ = std::fs::remove_file(&path);
        let p = p.unwrap_or_else(|| panic!("{note}"));
        let r = Router::new(Some(p), Machine::assumed());
        let e = r.explain(k, &Request::new(2048, Location::Host)).unwrap();
        let w = e.winner().unwrap();
        assert_eq!(w.basis, kroute::router::Basis::Measured);
        // The winner is the measured fastest at the nearest sizes.
        let at = |id: &str| {
            e.candidates
                .iter()
                .find(|c| c.implementation == id)
                .and_then(|c| c.total_s)
                .unwrap()
        };
        assert!(["scalar", "simd", "parallel"]
            .iter()
            .all(|id| at(id) >= w.total_s.unwrap()));
    }
}
