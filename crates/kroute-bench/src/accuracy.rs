//! `kroute route-check`: how often the router picks the fastest implementation. At held-out
//! sizes 3·2^k (never calibration sizes, which are powers of two) every available
//! implementation is timed with calibration's own loop, for host-resident data and, with a
//! GPU, device-resident data; the router (this machine's profile) is asked for its choice, and
//! the case is a hit when the routed implementation's measured time is within `WITHIN` of the
//! fastest measured. The figure issue 14 asks for: hits ÷ cases ≥ 90%.

use crate::bench::{verify_one, Settings};
use crate::calibrate::Phases;
use crate::meter::{measure, Path, Stage, Subject};
use kroute::router::{DataAt, Fingerprint, Request, Router};
use kroute::{Implementation, Kernel, Location, Tensor};
use serde::{Deserialize, Serialize};
use std::time::Instant;

pub const SCHEMA: &str = "kroute.route-check/1";

/// A routed call is a hit when it takes at most this many times the fastest.
pub const WITHIN: f64 = 1.10;

/// Held-out sizes in [lo, hi]: 3·2^k for every k, or with `quick` for k ≡ 3 (mod 4) only —
/// 3·2^11, 3·2^15, 3·2^19, …, the sizes farthest (in log n) from a quick calibration's
/// 2^10, 2^14, 2^18, 2^22.
pub fn held_out(lo: u64, hi: u64, quick: bool) -> Vec<u64> {
    (0..62u32)
        .filter(|k| !quick || k % 4 == 3)
        .filter_map(|k| 3u64.checked_mul(1u64 << k))
        .filter(|&n| lo <= n && n <= hi)
        .collect()
}

/// One implementation timed at one case.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Timed {
    pub implementation: String,
    pub backend: String,
    /// Median seconds from where the data is to where the result is wanted.
    pub seconds: Option<f64>,
    /// What the router predicted for it.
    pub predicted_s: Option<f64>,
    pub error: Option<String>,
    /// Why it was not timed, when that is no failure (predicted far slower than the pick).
    #[serde(default)]
    pub skipped: Option<String>,
    /// Samples behind the time, and how it was taken (`meter::Basis`).
    #[serde(default)]
    pub samples: usize,
    #[serde(default)]
    pub basis: Option<crate::meter::Basis>,
}

/// One (kernel, size, data location): the router's choice against the measured fastest.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Case {
    pub kernel: String,
    pub n: u64,
    pub data: DataAt,
    pub routed: String,
    pub routed_s: Option<f64>,
    pub fastest: String,
    pub fastest_s: f64,
    /// routed_s ÷ fastest_s (None when the routed implementation could not be timed).
    pub ratio: Option<f64>,
    pub hit: bool,
    pub times: Vec<Timed>,
}

#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct Summary {
    pub cases: usize,
    pub hits: usize,
    /// hits ÷ cases.
    pub fraction: f64,
    pub host_cases: usize,
    pub host_hits: usize,
    pub device_cases: usize,
    pub device_hits: usize,
}

impl Summary {
    pub fn of(cases: &[Case]) -> Summary {
        let mut s = Summary::default();
        for c in cases {
            s.cases += 1;
            s.hits += usize::from(c.hit);
            match c.data {
                DataAt::Host => {
                    s.host_cases += 1;
                    s.host_hits += usize::from(c.hit);
                }
                DataAt::Device => {
                    s.device_cases += 1;
                    s.device_hits += usize::from(c.hit);
                }
            }
        }
        s.fraction = if s.cases == 0 {
            f64::NAN
        } else {
            s.hits as f64 / s.cases as f64
        };
        s
    }
}

/// The file `route-check --json` writes (and `report --accuracy` reads).
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Check {
    pub schema: String,
    pub fingerprint: Fingerprint,
    /// Which profile the router used.
    pub profile: String,
    pub command: String,
    pub started_unix: u64,
    pub budget_ms: u64,
    /// Why kernels were left out (not in the profile, nothing to time).
    pub notes: Vec<String>,
    pub summary: Summary,
    pub cases: Vec<Case>,
}

impl Check {
    pub fn load(path: &std::path::Path) -> std::result::Result<Check, String> {
        let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
        #[derive(Deserialize)]
        struct Head {
            schema: Option<String>,
        }
        let head: Head = serde_json::from_str(&text)
            .map_err(|e| format!("{}: not a {SCHEMA} file: {e}", path.display()))?;
        if head.schema.as_deref() != Some(SCHEMA) {
            return Err(format!(
                "{}: not a {SCHEMA} file (schema {})",
                path.display(),
                head.schema.as_deref().unwrap_or("missing")
            ));
        }
        serde_json::from_str(&text)
            .map_err(|e| format!("{}: a damaged {SCHEMA} file: {e}", path.display()))
    }
}

/// The router's accuracy as a report section (Markdown): the summary figure, per data
/// location, and every miss with what the router predicted.
pub fn markdown(c: &Check, source: &str) -> String {
    use std::fmt::Write as _;
    let t = |s: Option<f64>| s.map_or("—".into(), |s| kroute::router::fmt_seconds(s, 2));
    let pct = |h: usize, n: usize| {
        if n == 0 {
            "—".to_string()
        } else {
            format!("{h} of {n} ({:.0}%)", 100.0 * h as f64 / n as f64)
        }
    };
    let s_ = &c.summary;
    let mut s = String::from("## Routing accuracy\n\n");
    let _ = writeln!(
        s,
        "From `{source}` (`{}`, {}; {}): at held-out sizes 3·2^k, never calibration sizes, every \
         available implementation was timed with calibration's loop and the router asked for its \
         choice. A case is a hit when the routed implementation's measured time is within {:.0}% of \
         the fastest measured (issue 14's target: ≥ 90% of cases).\n",
        c.command,
        crate::report::utc(c.started_unix),
        c.profile,
        (WITHIN - 1.0) * 100.0
    );
    let _ = writeln!(
        s,
        "| data | hits |\n| --- | --- |\n| host | {} |\n| device | {} |\n| **all** | **{}** |\n",
        pct(s_.host_hits, s_.host_cases),
        pct(s_.device_hits, s_.device_cases),
        pct(s_.hits, s_.cases)
    );
    for n in &c.notes {
        let _ = writeln!(s, "- {n}");
    }
    let misses: Vec<&Case> = c.cases.iter().filter(|c| !c.hit).collect();
    if misses.is_empty() {
        s += "No misses.\n\n";
        return s;
    }
    s += "\nThe misses, with the router's predictions beside the measurements (a prediction far \
          from its measurement says why the router chose wrong):\n\n\
          | kernel | n | data | routed | measured | predicted | fastest | measured | predicted | routed ÷ fastest |\n\
          | --- | ---: | --- | --- | ---: | ---: | --- | ---: | ---: | ---: |\n";
    for m in misses {
        let pred = |id: &str| {
            m.times
                .iter()
                .find(|t| t.implementation == id)
                .and_then(|t| t.predicted_s)
        };
        let _ = writeln!(
            s,
            "| {} | {} | {} | {} | {} | {} | {} | {} | {} | {} |",
            m.kernel,
            m.n,
            m.data.name(),
            m.routed,
            t(m.routed_s),
            t(pred(&m.routed)),
            m.fastest,
            t(Some(m.fastest_s)),
            t(pred(&m.fastest)),
            m.ratio.map_or("not timed".into(), |r| format!("{r:.2}×"))
        );
    }
    s.push('\n');
    s
}

/// Several checks as one (e.g. one per domain, run one at a time): every case, the summary
/// recomputed, the commands joined. None for no checks.
pub fn merge(checks: Vec<Check>) -> Option<Check> {
    let mut it = checks.into_iter();
    let mut all = it.next()?;
    for c in it {
        all.command = format!("{}; {}", all.command, c.command);
        all.started_unix = all.started_unix.min(c.started_unix);
        if c.profile != all.profile {
            all.profile = format!("{}; {}", all.profile, c.profile);
        }
        all.notes.extend(c.notes);
        all.cases.extend(c.cases);
    }
    all.summary = Summary::of(&all.cases);
    Some(all)
}

fn location(d: DataAt) -> Location {
    match d {
        DataAt::Host => Location::Host,
        DataAt::Device => Location::Cuda(0),
    }
}

/// What bounds a check's time besides the budget per (implementation, size).
#[derive(Clone, Debug)]
pub struct Options {
    /// An implementation the router predicts at least this many times slower than its pick is
    /// not timed (0: time every one). Calibration measured it at the neighbouring sizes; a
    /// prediction that far off would be a defect of the profile, not a near miss.
    pub skip_factor: f64,
    /// No kernel is started after this instant (the rest are noted as not checked).
    pub deadline: Option<Instant>,
}

impl Default for Options {
    fn default() -> Options {
        Options {
            skip_factor: 5.0,
            deadline: None,
        }
    }
}

/// What to check: kernels and, per kernel, the held-out sizes.
pub struct Plan {
    pub kernel: &'static Kernel,
    pub sizes: Vec<u64>,
}

/// Time the available implementations of each planned kernel at its sizes (host data, and
/// device data when `gpu`) with calibration's meter (`meter::measure`, the same warm-up,
/// screen, interleaved rounds and mid-mean as the profile's), ask `router` for its choice, and
/// return the cases; `each` sees every case as it is made. Implementations failing
/// verification (at the kernel's first size) are reported in the case's times and never count
/// as the fastest; those predicted `opts.skip_factor`× slower than the router's pick are listed
/// as skipped. Kernels not started before `opts.deadline` are named in `phases.out_of_time`.
pub fn check(
    plans: &[Plan],
    router: &Router,
    settings: &Settings,
    gpu: bool,
    opts: &Options,
    phases: &mut Phases,
    each: &mut dyn FnMut(&Case),
) -> Vec<Case> {
    let mut all = Vec::new();
    let places: &[DataAt] = if gpu {
        &[DataAt::Host, DataAt::Device]
    } else {
        &[DataAt::Host]
    };
    for (pi, plan) in plans.iter().enumerate() {
        if opts.deadline.is_some_and(|d| Instant::now() >= d) {
            phases
                .out_of_time
                .extend(plans[pi..].iter().map(|p| p.kernel.name().to_string()));
            break;
        }
        let k = plan.kernel;
        let imps: Vec<&'static Implementation> = k
            .implementations()
            .iter()
            .filter(|i| i.available())
            .collect();
        let mut failed: Vec<(&str, String)> = Vec::new();
        let mut verified = false;
        for &n in &plan.sizes {
            let t = Instant::now();
            let stage = Stage::new(
                k,
                n as usize,
                settings,
                imps.iter().any(|i| i.backend.is_cpu()),
            );
            phases.inputs_s += t.elapsed().as_secs_f64();
            let Ok(mut stage) = stage else {
                continue;
            };
            if !verified {
                let t = Instant::now();
                let refs: Vec<&Tensor> = stage.sets[0].iter().collect();
                let expected = k.reference(&refs, &stage.params);
                for imp in &imps {
                    if let Some(e) =
                        verify_one(k, imp, n as usize, &stage.sets[..1], &expected).error
                    {
                        failed.push((imp.id, format!("failed verification: {e}")));
                    }
                }
                verified = true;
                phases.verify_s += t.elapsed().as_secs_f64();
            }
            for &data in places {
                let e = router.explain(k, &Request::new(n, location(data)));
                let predicted = |id: &str| {
                    e.as_ref().ok().and_then(|e| {
                        e.candidates
                            .iter()
                            .find(|c| c.implementation == id)
                            .and_then(|c| c.total_s)
                    })
                };
                let routed = match &e {
                    Ok(e) => e.winner.clone(),
                    Err(err) => format!("(router failed: {err})"),
                };
                let routed_pred = predicted(&routed);
                let mut times: Vec<Timed> = Vec::new();
                let mut subjects: Vec<Subject> = Vec::new();
                for &imp in &imps {
                    let predicted_s = predicted(imp.id);
                    let mut t = Timed {
                        implementation: imp.id.into(),
                        backend: imp.backend.name().into(),
                        seconds: None,
                        predicted_s,
                        error: None,
                        skipped: None,
                        samples: 0,
                        basis: None,
                    };
                    if let Some((_, why)) = failed.iter().find(|(id, _)| *id == imp.id) {
                        t.error = Some(why.clone());
                    } else if let (Some(p), Some(r)) = (predicted_s, routed_pred) {
                        if opts.skip_factor > 0.0 && imp.id != routed && p >= opts.skip_factor * r {
                            t.skipped = Some(format!(
                                "predicted {:.1}× the router's pick: not timed",
                                p / r
                            ));
                            phases.predicted_far += 1;
                        }
                    }
                    if t.error.is_none() && t.skipped.is_none() {
                        let path = match (data, imp.backend.is_cpu()) {
                            (DataAt::Host, true) | (DataAt::Device, false) => Path::Resident,
                            (DataAt::Host, false) => Path::HostToResult,
                            (DataAt::Device, true) => Path::DeviceToResult,
                        };
                        subjects.push(Subject::new(imp, path));
                    }
                    times.push(t);
                }
                // The predicted fastest first: the screen's bar is set early.
                let guess = |s: &Subject| predicted(s.imp.id).unwrap_or(f64::INFINITY);
                subjects.sort_by(|a, b| guess(a).total_cmp(&guess(b)));
                let t = Instant::now();
                measure(&mut stage, &mut subjects, settings.budget);
                phases.timing_s += t.elapsed().as_secs_f64();
                for s in &subjects {
                    let Some(t) = times.iter_mut().find(|t| t.implementation == s.imp.id) else {
                        continue;
                    };
                    match s.result() {
                        Ok(est) => {
                            t.seconds = Some(est.seconds);
                            t.samples = est.samples;
                            t.basis = Some(est.basis);
                        }
                        Err(err) => t.error = Some(err),
                    }
                }
                let Some(fastest) = times
                    .iter()
                    .filter(|t| t.seconds.is_some())
                    .min_by(|a, b| {
                        a.seconds
                            .unwrap_or(0.0)
                            .total_cmp(&b.seconds.unwrap_or(0.0))
                    })
                    .cloned()
                else {
                    continue;
                };
                let fastest_s = fastest.seconds.unwrap_or(f64::NAN);
                let routed_s = times
                    .iter()
                    .find(|t| t.implementation == routed)
                    .and_then(|t| t.seconds);
                let ratio = routed_s.map(|r| r / fastest_s);
                let case = Case {
                    kernel: k.name().into(),
                    n,
                    data,
                    routed: routed.clone(),
                    routed_s,
                    fastest: fastest.implementation,
                    fastest_s,
                    ratio,
                    hit: ratio.is_some_and(|r| r <= WITHIN),
                    times,
                };
                each(&case);
                all.push(case);
            }
        }
    }
    all
}

/// Re-route a recorded check's cases with `router` and score each on the times recorded then —
/// no timing. A change to the router (its predictor, its near-tie rule) is judged on the very
/// measurements that judged the router before it. A case whose new pick was not timed in the
/// recording (skipped as predicted far slower, or failed) cannot be scored: it is returned with
/// `routed_s` None and counts as a miss. Kernels this build lacks are left out and named.
pub fn replay(recorded: &Check, router: &Router) -> (Vec<Case>, Vec<String>) {
    let mut cases = Vec::new();
    let mut missing: Vec<String> = Vec::new();
    for c in &recorded.cases {
        let Ok(k) = kroute::kernel(&c.kernel) else {
            if !missing.contains(&c.kernel) {
                missing.push(c.kernel.clone());
            }
            continue;
        };
        let e = router.explain(k, &Request::new(c.n, location(c.data)));
        let routed = match &e {
            Ok(e) => e.winner.clone(),
            Err(err) => format!("(router failed: {err})"),
        };
        let mut times = c.times.clone();
        for t in &mut times {
            t.predicted_s = e.as_ref().ok().and_then(|e| {
                e.candidates
                    .iter()
                    .find(|x| x.implementation == t.implementation)
                    .and_then(|x| x.total_s)
            });
        }
        let routed_s = times
            .iter()
            .find(|t| t.implementation == routed)
            .and_then(|t| t.seconds);
        let ratio = routed_s.map(|r| r / c.fastest_s);
        cases.push(Case {
            routed,
            routed_s,
            ratio,
            hit: ratio.is_some_and(|r| r <= WITHIN),
            times,
            ..c.clone()
        });
    }
    (cases, missing)
}

#[cfg(test)]
mod tests {
    use super::*;
    use kroute::router::{Machine, Profile};

    #[test]
    fn held_out_sizes_are_never_powers_of_two() {
        assert_eq!(held_out(1 << 10, 1 << 14, false), [1536, 3072, 6144, 12288]);
        assert_eq!(held_out(1 << 10, 1 << 22, true), [6144, 98304, 1572864]);
        assert!(held_out(1 << 10, 1 << 27, false)
            .iter()
            .all(|n| !n.is_power_of_two()));
        assert!(held_out(10, 5, false).is_empty());
    }

    #[test]
    fn summary_counts_hits_per_location() {
        let case = |data, hit| Case {
            kernel: "k".into(),
            n: 3,
            data,
            routed: "a".into(),
            routed_s: Some(1.0),
            fastest: "a".into(),
            fastest_s: 1.0,
            ratio: Some(1.0),
            hit,
            times: Vec::new(),
        };
        let s = Summary::of(&[
            case(DataAt::Host, true),
            case(DataAt::Host, false),
            case(DataAt::Device, true),
            case(DataAt::Device, true),
        ]);
        assert_eq!((s.cases, s.hits, s.host_hits, s.device_cases), (4, 3, 1, 2));
        assert_eq!(s.fraction, 0.75);
        assert!(Summary::of(&[]).fraction.is_nan());
    }

    #[test]
    fn checks_run_one_at_a_time_merge_into_one_figure() {
        let check = |hit: bool, cmd: &str| Check {
            schema: SCHEMA.into(),
            fingerprint: Fingerprint::current(),
            profile: "p".into(),
            command: cmd.into(),
            started_unix: if hit { 10 } else { 5 },
            budget_ms: 300,
            notes: Vec::new(),
            summary: Summary::default(),
            cases: vec![Case {
                kernel: "k".into(),
                n: 3,
                data: DataAt::Host,
                routed: "a".into(),
                routed_s: Some(2.0),
                fastest: "b".into(),
                fastest_s: 1.0,
                ratio: Some(2.0),
                hit,
                times: Vec::new(),
            }],
        };
        let m = merge(vec![check(true, "one"), check(false, "two")]).unwrap();
        assert_eq!((m.summary.cases, m.summary.hits), (2, 1));
        assert_eq!((m.command.as_str(), m.started_unix), ("one; two", 5));
        assert!(merge(Vec::new()).is_none());
    }

    /// A check of one small kernel at two tiny held-out sizes against a tiny calibration:
    /// seconds on the CPU.
    #[test]
    fn a_tiny_check_times_every_implementation_and_the_routers_choice() {
        let settings = crate::calibrate::tiny_settings();
        let k = kroute::kernel("map_add").unwrap();
        let mut profile = Profile::new(Fingerprint::current(), Machine::assumed());
        crate::calibrate::calibrate(
            &[k],
            &[1 << 10, 1 << 13],
            &settings,
            &crate::calibrate::Limits::default(),
            &mut profile,
            &mut Phases::default(),
            &mut |_| {},
        );
        let router = Router::new(Some(profile), Machine::assumed());
        let sizes = held_out(1 << 10, 1 << 13, false);
        assert_eq!(sizes, [1536, 3072, 6144]);
        let plans = [Plan {
            kernel: k,
            sizes: sizes[..2].to_vec(),
        }];
        let mut seen = 0;
        let cases = check(
            &plans,
            &router,
            &settings,
            false,
            &Options {
                skip_factor: 0.0,
                ..Options::default()
            },
            &mut Phases::default(),
            &mut |_| seen += 1,
        );
        assert_eq!((cases.len(), seen), (2, 2));
        for c in &cases {
            assert_eq!(c.data, DataAt::Host);
            let timed: Vec<&str> = c
                .times
                .iter()
                .filter(|t| t.seconds.is_some())
                .map(|t| t.implementation.as_str())
                .collect();
            for id in ["scalar", "simd", "parallel"] {
                assert!(timed.contains(&id), "{c:?}");
            }
            assert!(c.times.iter().all(|t| t.predicted_s.is_some()));
            let r = c.ratio.unwrap();
            assert!(r >= 1.0 && c.hit == (r <= WITHIN), "{c:?}");
            assert!(c.fastest_s <= c.routed_s.unwrap());
        }
    }

    /// On a profile where scalar is 100× slower than the others, the check does not time it
    /// (it cannot be within 10% of the fastest), and says so; the others are timed.
    #[test]
    fn implementations_predicted_far_slower_are_listed_not_timed() {
        use kroute::router::Point;
        let k = kroute::kernel("map_add").unwrap();
        let mut profile = Profile::new(Fingerprint::current(), Machine::assumed());
        for (id, s) in [("scalar", 1e-4), ("simd", 1e-6), ("parallel", 1.05e-6)] {
            for n in [1024u64, 8192] {
                let seconds = s * n as f64 / 1024.0;
                profile.record("map_add", id, DataAt::Host, Point { n, seconds });
            }
        }
        let router = Router::new(Some(profile), Machine::assumed());
        let plans = [Plan {
            kernel: k,
            sizes: vec![3072],
        }];
        let mut phases = Phases::default();
        let cases = check(
            &plans,
            &router,
            &crate::calibrate::tiny_settings(),
            false,
            &Options::default(),
            &mut phases,
            &mut |_| {},
        );
        assert_eq!(cases.len(), 1);
        let c = &cases[0];
        assert_eq!(c.routed, "simd");
        let t = |id: &str| c.times.iter().find(|t| t.implementation == id).unwrap();
        assert!(t("scalar").seconds.is_none() && t("scalar").skipped.is_some());
        assert!(t("scalar").error.is_none());
        assert!(t("simd").seconds.is_some() && t("parallel").seconds.is_some());
        assert_eq!(phases.predicted_far, 1);
    }

    /// A replay re-asks the router and scores its pick on the recorded times: a new pick that
    /// was timed is scored, one that was not counts as a miss, an unknown kernel is named.
    #[test]
    fn a_replay_scores_the_new_pick_on_the_recorded_times() {
        use kroute::router::Point;
        let mut profile = Profile::new(Fingerprint::current(), Machine::assumed());
        for (id, s) in [("scalar", 4e-6), ("simd", 1e-6), ("parallel", 2e-6)] {
            for n in [1024u64, 8192] {
                let seconds = s * n as f64 / 1024.0;
                profile.record("map_add", id, DataAt::Host, Point { n, seconds });
            }
        }
        let router = Router::new(Some(profile), Machine::assumed());
        let timed = |id: &str, s: Option<f64>| Timed {
            implementation: id.into(),
            backend: id.into(),
            seconds: s,
            predicted_s: None,
            error: None,
            skipped: s.is_none().then(|| "not timed".into()),
            samples: 1,
            basis: None,
        };
        let case = |kernel: &str, times: Vec<Timed>| Case {
            kernel: kernel.into(),
            n: 3072,
            data: DataAt::Host,
            routed: "parallel".into(),
            routed_s: Some(2.2e-6),
            fastest: "parallel".into(),
            fastest_s: 2.2e-6,
            ratio: Some(1.0),
            hit: true,
            times,
        };
        let recorded = Check {
            schema: SCHEMA.into(),
            fingerprint: Fingerprint::current(),
            profile: "p".into(),
            command: "c".into(),
            started_unix: 0,
            budget_ms: 1,
            notes: Vec::new(),
            summary: Summary::default(),
            cases: vec![
                case(
                    "map_add",
                    vec![timed("simd", Some(3.0e-6)), timed("parallel", Some(2.2e-6))],
                ),
                case(
                    "map_add",
                    vec![timed("simd", None), timed("parallel", Some(2.2e-6))],
                ),
                case("no_such_kernel", Vec::new()),
            ],
        };
        let (cases, missing) = replay(&recorded, &router);
        assert_eq!(missing, ["no_such_kernel"]);
        assert_eq!(cases.len(), 2);
        assert_eq!(cases[0].routed, "simd");
        assert!(!cases[0].hit && (cases[0].ratio.unwrap() - 3.0 / 2.2).abs() < 1e-12);
        assert!(cases[0].times.iter().all(|t| t.predicted_s.is_some()));
        assert_eq!(
            (cases[1].routed.as_str(), cases[1].routed_s),
            ("simd", None)
        );
        assert!(!cases[1].hit);
    }
}
