//! `kroute calibrate`: time every implementation of the selected kernels over a range of sizes
//! and write what was measured into a router profile (`kroute::router::Profile`). The timing
//! is the benchmark's own (`bench::time_one`: rotated inputs on the host, the device's clock
//! on a device; `bench::host_to_result` for a device implementation from host data), and every
//! implementation is verified against the reference before it is timed.

use crate::bench::{verify_one, Settings};
use crate::meter::{measure, Path, Stage, Subject};
use crate::probe::Probe;
use kroute::router::{DataAt, GpuFigures, Machine, Point, Profile};
use kroute::{Implementation, Kernel, Tensor};
use serde::Serialize;
use std::collections::HashMap;
use std::time::{Duration, Instant};

/// The sizes calibrated: 2^10 … 2^27, or 2^10, 2^14, 2^18, 2^22 for a quick profile; with
/// `step`, every step-th power of two from 2^10 over the same range instead (a quick profile
/// with step 2: 2^10, 2^12, …, 2^22).
pub fn sizes(quick: bool, step: Option<u32>) -> Vec<usize> {
    let (top, default_step) = if quick { (22, 4) } else { (27, 1) };
    let step = step.unwrap_or(default_step).max(1) as usize;
    (10..=top).step_by(step).map(|k| 1usize << k).collect()
}

/// Benchmark settings for calibration: the machine's rotation, a shorter budget per
/// (implementation, size) than a benchmark's (many more points are measured).
pub fn settings(probe: &Probe, budget: Duration) -> Settings {
    settings_for_llc(probe.llc_bytes, budget)
}

/// The same from the last-level cache alone (`probe::caches`), for a run that needs
/// calibration's loop without measuring bandwidth first (`route-check`).
pub fn settings_for_llc(llc_bytes: u64, budget: Duration) -> Settings {
    let (rotate_bytes, max_rotate_bytes) = rotation_for_llc(llc_bytes);
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

/// Calibration's rotation for a last-level cache of `llc` bytes: input copies totalling twice
/// the cache, at least 64 MiB (a call then finds its inputs evicted, as after other work), at
/// most 2 GiB. The benchmark rotates ≥ 4× the cache and ≥ 256 MiB; calibration copies inputs
/// at every size of every kernel, and half as much is as cold.
pub fn rotation_for_llc(llc: u64) -> (u64, u64) {
    ((2 * llc).max(64 << 20), 2 << 30)
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
    /// Samples behind the time, and how it was taken (`meter::Basis`).
    pub samples: usize,
    pub basis: Option<crate::meter::Basis>,
    pub error: Option<String>,
    /// Why it was not timed here, when that is no failure (dropped as far slower, too slow
    /// for one call, out of time).
    pub skipped: Option<String>,
}

impl Measured {
    fn new(k: &Kernel, id: &str, data: DataAt, n: usize) -> Measured {
        Measured {
            kernel: k.name().into(),
            implementation: id.into(),
            data,
            n,
            seconds: None,
            samples: 0,
            basis: None,
            error: None,
            skipped: None,
        }
    }
}

/// What bounds a calibration's time besides the budget per (implementation, size).
#[derive(Clone, Debug)]
pub struct Limits {
    /// An implementation this many times slower than the fastest (same data location) at two
    /// consecutive sizes, and not catching up, is not timed at larger sizes.
    pub drop_factor: f64,
    /// An implementation whose one call is predicted (from its last two sizes) to take longer
    /// than this, and `drop_factor`× longer than the one predicted fastest in its group, is not
    /// timed at that size.
    pub max_call_s: f64,
    /// No kernel is started after this instant (the rest are reported as not calibrated).
    pub deadline: Option<Instant>,
}

impl Default for Limits {
    fn default() -> Limits {
        Limits {
            drop_factor: 4.0,
            max_call_s: 0.5,
            deadline: None,
        }
    }
}

/// Where a calibration's time went.
#[derive(Clone, Debug, Default, Serialize)]
pub struct Phases {
    /// Workloads, rotated copies, outputs.
    pub inputs_s: f64,
    /// References and verification (each kernel's smallest size).
    pub verify_s: f64,
    /// Warm-up, screens, interleaved rounds.
    pub timing_s: f64,
    /// (kernel, implementation, data) points not timed, by reason.
    pub dropped: usize,
    pub too_slow: usize,
    /// (route-check) implementations not timed as predicted far slower than the pick.
    pub predicted_far: usize,
    /// Kernels not started before the deadline.
    pub out_of_time: Vec<String>,
}

/// Predicted seconds of one call at n from the points measured so far (log–log from the last
/// two, the slope held to [1, 2]; time ∝ n from one point).
pub fn next_call_s(points: &[(usize, f64)], n: usize) -> Option<f64> {
    let &(n1, t1) = points.last()?;
    let slope = match points.len() {
        1 => 1.0,
        m => {
            let (n0, t0) = points[m - 2];
            ((t1 / t0).ln() / (n1 as f64 / n0 as f64).ln()).clamp(1.0, 2.0)
        }
    };
    Some(t1 * (n as f64 / n1 as f64).powf(slope))
}

/// Why an implementation whose times were `ratios` × the fastest at the sizes so far is not
/// timed at larger ones: `factor`× or more at the last two, and not catching up (the later
/// ratio at least 0.9× the earlier — a GPU slower at small sizes gains as n grows and is kept).
pub fn drop_reason(ratios: &[f64], factor: f64) -> Option<String> {
    match ratios {
        [.., a, b] if *a >= factor && *b >= factor && *b >= 0.9 * a => Some(format!(
            "{a:.1}× and {b:.1}× the fastest at the last two sizes: not timed at larger ones"
        )),
        _ => None,
    }
}

/// Time every available implementation of `kernels` at `sizes` into `profile` with
/// calibration's meter (`meter::measure`: warm-up, screen, interleaved rounds for the close
/// ones), calling `each` with every measurement as it is made. Implementations are verified at
/// each kernel's smallest size first; one that fails, or fails a run, is reported and not timed
/// further. `limits` drops implementations far slower than the fastest and calls predicted too
/// slow, and stops at a deadline.
pub fn calibrate(
    kernels: &[&'static Kernel],
    sizes: &[usize],
    settings: &Settings,
    limits: &Limits,
    profile: &mut Profile,
    phases: &mut Phases,
    each: &mut dyn FnMut(&Measured),
) -> Vec<Measured> {
    let mut all = Vec::new();
    let mut say = |m: Measured, all: &mut Vec<Measured>| {
        each(&m);
        all.push(m);
    };
    for (ki, &k) in kernels.iter().enumerate() {
        if limits.deadline.is_some_and(|d| Instant::now() >= d) {
            phases
                .out_of_time
                .extend(kernels[ki..].iter().map(|k| k.name().to_string()));
            break;
        }
        let imps: Vec<&'static Implementation> = k
            .implementations()
            .iter()
            .filter(|i| i.available())
            .collect();
        let mut failed: Vec<&str> = Vec::new();
        let mut verified = false;
        // Per (implementation, data): measured (n, seconds), ratios to the group's best, and
        // why it is no longer timed.
        let mut seen: HashMap<(&str, DataAt), Vec<(usize, f64)>> = HashMap::new();
        let mut ratios: HashMap<(&str, DataAt), Vec<f64>> = HashMap::new();
        let mut dropped: HashMap<(&str, DataAt), String> = HashMap::new();
        for &n in sizes {
            let t = Instant::now();
            let stage = Stage::new(k, n, settings, imps.iter().any(|i| i.backend.is_cpu()));
            phases.inputs_s += t.elapsed().as_secs_f64();
            let mut stage = match stage {
                Ok(s) => s,
                Err(e) => {
                    let mut m = Measured::new(k, "*", DataAt::Host, n);
                    m.error = Some(format!("workload rejected: {e}"));
                    say(m, &mut all);
                    continue;
                }
            };
            if !verified {
                let t = Instant::now();
                let refs: Vec<&Tensor> = stage.sets[0].iter().collect();
                let expected = k.reference(&refs, &stage.params);
                for imp in &imps {
                    let r = verify_one(k, imp, n, &stage.sets[..1], &expected);
                    if let Some(e) = r.error {
                        failed.push(imp.id);
                        let mut m = Measured::new(k, imp.id, DataAt::Host, n);
                        m.error = Some(format!("not calibrated: {e}"));
                        say(m, &mut all);
                    }
                }
                verified = true;
                phases.verify_s += t.elapsed().as_secs_f64();
            }
            for data in [DataAt::Host, DataAt::Device] {
                let mut subjects: Vec<Subject> = Vec::new();
                for &imp in imps.iter().filter(|i| !failed.contains(&i.id)) {
                    let path = match (data, imp.backend.is_cpu()) {
                        (DataAt::Host, true) | (DataAt::Device, false) => Path::Resident,
                        (DataAt::Host, false) => Path::HostToResult,
                        // The router adds the transfer for a CPU implementation on device data.
                        (DataAt::Device, true) => continue,
                    };
                    if dropped.contains_key(&(imp.id, data)) {
                        continue;
                    }
                    subjects.push(Subject::new(imp, path));
                }
                if subjects.is_empty() {
                    continue;
                }
                // The likely fastest first (by the last size's times), so the screen's bar is
                // set early; calls predicted too slow are left out while something else is
                // predicted faster.
                let guess = |s: &Subject| {
                    seen.get(&(s.imp.id, data))
                        .and_then(|p| next_call_s(p, n))
                        .unwrap_or(f64::INFINITY)
                };
                subjects.sort_by(|a, b| guess(a).total_cmp(&guess(b)));
                let fastest_guess = subjects.first().map_or(f64::INFINITY, guess);
                let mut kept = Vec::new();
                for s in subjects {
                    let g = guess(&s);
                    if g > limits.max_call_s && g > limits.drop_factor * fastest_guess {
                        let mut m = Measured::new(k, s.imp.id, data, n);
                        m.skipped = Some(format!(
                            "one call predicted to take {} (over {}): not timed",
                            kroute::router::fmt_s(g),
                            kroute::router::fmt_s(limits.max_call_s)
                        ));
                        phases.too_slow += 1;
                        say(m, &mut all);
                    } else {
                        kept.push(s);
                    }
                }
                let mut subjects = kept;
                let t = Instant::now();
                measure(&mut stage, &mut subjects, settings.budget);
                phases.timing_s += t.elapsed().as_secs_f64();
                let best = subjects
                    .iter()
                    .filter_map(|s| s.result().ok())
                    .map(|e| e.seconds)
                    .fold(f64::INFINITY, f64::min);
                for s in &subjects {
                    let mut m = Measured::new(k, s.imp.id, data, n);
                    match s.result() {
                        Ok(e) => {
                            profile.record(
                                k.name(),
                                s.imp.id,
                                data,
                                Point {
                                    n: n as u64,
                                    seconds: e.seconds,
                                },
                            );
                            m.seconds = Some(e.seconds);
                            m.samples = e.samples;
                            m.basis = Some(e.basis);
                            seen.entry((s.imp.id, data))
                                .or_default()
                                .push((n, e.seconds));
                            let r = ratios.entry((s.imp.id, data)).or_default();
                            r.push(e.seconds / best);
                            if let Some(why) = drop_reason(r, limits.drop_factor) {
                                dropped.insert((s.imp.id, data), why);
                            }
                        }
                        Err(e) => {
                            failed.push(s.imp.id);
                            m.error = Some(e);
                        }
                    }
                    say(m, &mut all);
                    if let Some(why) = dropped.get(&(s.imp.id, data)) {
                        if sizes.last() != Some(&n) {
                            phases.dropped += 1;
                            let mut m = Measured::new(k, s.imp.id, data, n);
                            m.skipped = Some(why.clone());
                            say(m, &mut all);
                        }
                    }
                }
            }
        }
    }
    all
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
            &Limits::default(),
            &mut profile,
            &mut Phases::default(),
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
        // The winner is the measured fastest at the nearest sizes, or within the router's tie
        // margin of it (a near tie goes to the lighter implementation: router::choose::TIE).
        let at = |id: &str| {
            e.candidates
                .iter()
                .find(|c| c.implementation == id)
                .and_then(|c| c.total_s)
                .unwrap()
        };
        let tie = 1.0 + kroute::router::choose::TIE;
        assert!(["scalar", "simd", "parallel"]
            .iter()
            .all(|id| at(id) * tie >= w.total_s.unwrap()));
    }

    #[test]
    fn far_slower_implementations_are_dropped_unless_catching_up() {
        assert_eq!(drop_reason(&[5.0], 4.0), None);
        assert!(drop_reason(&[5.0, 6.0], 4.0).is_some());
        assert!(drop_reason(&[1.0, 5.0, 4.6], 4.0).is_some());
        // Far slower once only, or gaining fast (a GPU at small sizes): kept.
        assert_eq!(drop_reason(&[3.0, 6.0], 4.0), None);
        assert_eq!(drop_reason(&[40.0, 10.0], 4.0), None);
    }

    #[test]
    fn the_next_call_is_predicted_from_the_last_two_sizes() {
        assert_eq!(next_call_s(&[], 10), None);
        assert_eq!(next_call_s(&[(10, 1.0)], 40), Some(4.0));
        // Slope 2 stays 2; a flat or falling one counts as linear, a steeper one as 2.
        let close = |a: Option<f64>, b: f64| (a.unwrap() - b).abs() < 1e-9 * b;
        assert!(close(next_call_s(&[(10, 1.0), (20, 4.0)], 40), 16.0));
        assert!(close(next_call_s(&[(10, 1.0), (20, 1.0)], 40), 2.0));
        assert!(close(next_call_s(&[(10, 1.0), (20, 64.0)], 40), 256.0));
    }

    /// With a one-call limit nothing can meet and any prediction above the fastest counting as
    /// far slower, only the implementation predicted fastest is timed past the first size, and
    /// the others are reported as skipped, not failed.
    #[test]
    fn calls_predicted_too_slow_are_skipped_but_the_fastest_is_timed() {
        let k = kroute::kernel("map_mul").unwrap();
        let mut profile = Profile::new(Fingerprint::current(), Machine::assumed());
        let limits = Limits {
            max_call_s: 1e-12,
            drop_factor: 1.0,
            ..Limits::default()
        };
        let mut phases = Phases::default();
        let got = calibrate(
            &[k],
            &[1 << 10, 1 << 11],
            &tiny_settings(),
            &limits,
            &mut profile,
            &mut phases,
            &mut |_| {},
        );
        assert!(got.iter().all(|m| m.error.is_none()), "{got:?}");
        let at = |n: usize| {
            got.iter()
                .filter(move |m| m.n == n && m.data == DataAt::Host)
        };
        let timed = at(1024).filter(|m| m.seconds.is_some()).count();
        assert!(timed >= 3, "{got:?}");
        assert_eq!(at(2048).filter(|m| m.seconds.is_some()).count(), 1);
        assert_eq!(at(2048).filter(|m| m.skipped.is_some()).count(), timed - 1);
        assert!(phases.too_slow >= timed - 1);
        assert!(phases.timing_s > 0.0 && phases.inputs_s > 0.0);
    }

    #[test]
    fn nothing_is_started_after_the_deadline() {
        let k = kroute::kernel("map_mul").unwrap();
        let mut profile = Profile::new(Fingerprint::current(), Machine::assumed());
        let limits = Limits {
            deadline: Some(Instant::now()),
            ..Limits::default()
        };
        let mut phases = Phases::default();
        let got = calibrate(
            &[k],
            &[1 << 10],
            &tiny_settings(),
            &limits,
            &mut profile,
            &mut phases,
            &mut |_| {},
        );
        assert!(got.is_empty() && profile.curves.is_empty());
        assert_eq!(phases.out_of_time, ["map_mul"]);
    }

    #[test]
    fn quick_full_and_stepped_sizes() {
        assert_eq!(sizes(true, None), [1 << 10, 1 << 14, 1 << 18, 1 << 22]);
        assert_eq!(sizes(false, None).len(), 18);
        assert_eq!(sizes(false, None).last(), Some(&(1 << 27)));
        assert_eq!(
            sizes(true, Some(2)),
            [
                1 << 10,
                1 << 12,
                1 << 14,
                1 << 16,
                1 << 18,
                1 << 20,
                1 << 22
            ]
        );
        assert_eq!(sizes(false, Some(0)), sizes(false, Some(1)));
    }
}
