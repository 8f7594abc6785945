//! The report's routing table: from a router profile (`kroute calibrate`), which
//! implementation the router picks over each kernel's measured sizes, for host- and
//! device-resident data, with the crossover sizes interpolated; and a check of the usual rules
//! of thumb against the same measurements.
//!
//! Every figure is the router's own prediction (`Router::explain`) restricted to the
//! implementations the profile measured, so the table is what the router does on that machine,
//! and at a measured size a prediction is the measurement itself.

use kroute::router::{fmt_seconds, Basis, Candidate, DataAt, Machine, Profile, Request, Router};
use kroute::{Backend, Location};
use serde::Serialize;
use std::fmt::Write as _;

/// A rule is wrong on a case when its pick is at least this much slower than the best.
pub const TOLERANCE: f64 = 1.10;

/// One stretch of sizes where one implementation wins.
#[derive(Clone, Debug, Serialize)]
pub struct Segment {
    pub implementation: String,
    /// From this size (None: the smallest measured) to this size (None: the largest).
    pub from_n: Option<f64>,
    pub to_n: Option<f64>,
}

/// One kernel's routes for data at one place.
#[derive(Clone, Debug, Serialize)]
pub struct Routes {
    pub kernel: String,
    pub data: DataAt,
    pub min_n: u64,
    pub max_n: u64,
    pub segments: Vec<Segment>,
}

/// One (kernel, data, measured size) and what each measured implementation takes there.
#[derive(Clone, Debug, Serialize)]
pub struct Case {
    pub kernel: String,
    pub data: DataAt,
    pub n: u64,
    /// Whether the kernel does O(N log N) work or more (see `superlinear`).
    pub superlinear: bool,
    /// (implementation, backend, predicted seconds from where the data is, whether that is
    /// extrapolated beyond the sizes the implementation was measured at), fastest first.
    pub times: Vec<(String, Backend, f64, bool)>,
}

impl Case {
    fn best(&self) -> &(String, Backend, f64, bool) {
        &self.times[0]
    }
    fn best_of(&self, keep: impl Fn(Backend) -> bool) -> Option<&(String, Backend, f64, bool)> {
        self.times.iter().find(|t| keep(t.1))
    }
}

/// A rule of thumb checked against the cases it applies to.
#[derive(Clone, Debug, Serialize)]
pub struct RuleCheck {
    pub rule: String,
    /// Why it could not be checked (e.g. no GPU in the profile), or None.
    pub unchecked: Option<String>,
    pub cases: usize,
    pub host_cases: usize,
    pub device_cases: usize,
    /// Cases where its pick is within `TOLERANCE` of the best.
    pub holds: usize,
    /// Cases where its pick is at least `TOLERANCE`× / 2× slower than the best.
    pub wrong: usize,
    pub wrong_2x: usize,
    /// Median slowdown (pick ÷ best) over the cases where it is wrong.
    pub median_wrong: Option<f64>,
    /// The worst cases: (kernel, data, n, rule's pick, its time, best, best time, ratio).
    pub worst: Vec<Miss>,
}

#[derive(Clone, Debug, Serialize)]
pub struct Miss {
    pub kernel: String,
    pub data: DataAt,
    pub n: u64,
    pub picked: String,
    pub picked_s: f64,
    pub best: String,
    pub best_s: f64,
    pub ratio: f64,
    /// Whether the pick's or the best's time is a prediction beyond the sizes its
    /// implementation was measured at (calibration drops far-slower implementations early).
    pub picked_extrapolated: bool,
    pub best_extrapolated: bool,
}

/// The routing table and the rules' check for one profile.
#[derive(Clone, Debug, Serialize)]
pub struct Routing {
    pub machine: String,
    pub gpu: bool,
    pub routes: Vec<Routes>,
    pub rules: Vec<RuleCheck>,
    /// Kernels in the profile this build does not have.
    pub unknown: Vec<String>,
}

/// Whether a kernel does O(N log N) work or more: its counted flops per element grow with n
/// (FFTs, matrix products), or it is a sort (whose spec counts no flops).
pub fn superlinear(k: &kroute::Kernel) -> bool {
    let per = |n: u64| (k.spec.flops)(n) / n as f64;
    let (a, b) = (per(1 << 12), per(1 << 22));
    (a > 0.0 && b / a >= 1.5) || k.name().starts_with("sort")
}

fn location(d: DataAt) -> Location {
    match d {
        DataAt::Host => Location::Host,
        DataAt::Device => Location::Cuda(0),
    }
}

/// The profile's implementations at n, fastest first, as the router predicts them from where
/// the data is (a CPU implementation on device data pays the transfer; implementations the
/// profile did not measure are left out, so the cost model never enters the table).
fn measured(router: &Router, k: &kroute::Kernel, n: u64, data: DataAt) -> Vec<Candidate> {
    // The report describes the profile's machine, not this one: every GPU has room.
    let req = Request::new(n, location(data)).with_free_device_bytes(u64::MAX);
    let Ok(e) = router.explain(k, &req) else {
        return Vec::new();
    };
    let mut c: Vec<Candidate> = e
        .candidates
        .into_iter()
        .filter(|c| {
            c.eligible
                && c.total_s.is_some_and(f64::is_finite)
                && matches!(c.basis, Basis::Measured | Basis::Extrapolated)
        })
        .collect();
    c.sort_by(|a, b| {
        a.total_s
            .unwrap_or(0.0)
            .total_cmp(&b.total_s.unwrap_or(0.0))
    });
    c
}

fn winner(router: &Router, k: &kroute::Kernel, n: u64, data: DataAt) -> Option<String> {
    measured(router, k, n, data)
        .into_iter()
        .next()
        .map(|c| c.implementation)
}

/// Routes over [lo, hi]: the winner on a grid of 8 points per octave, each change located by
/// bisection in log n (the router's prediction is piecewise linear in log–log, so the crossing
/// between two measured sizes is the interpolated one).
fn routes(router: &Router, k: &kroute::Kernel, data: DataAt, lo: u64, hi: u64) -> Vec<Segment> {
    let steps = ((hi as f64 / lo as f64).log2() * 8.0).ceil().max(1.0) as usize;
    let at = |i: usize| -> u64 {
        ((lo as f64).ln() + (hi as f64 / lo as f64).ln() * i as f64 / steps as f64)
            .exp()
            .round() as u64
    };
    let mut segs: Vec<Segment> = Vec::new();
    let mut prev: Option<(u64, String)> = None;
    for i in 0..=steps {
        let n = at(i).clamp(lo, hi);
        let Some(w) = winner(router, k, n, data) else {
            continue;
        };
        match &prev {
            Some((_, p)) if *p == w => {}
            Some((pn, p)) => {
                // Bisect between pn (p wins) and n (w wins) for where p stops winning.
                let (mut a, mut b) = (*pn as f64, n as f64);
                for _ in 0..40 {
                    let m = (a * b).sqrt();
                    if b - a < 1.0 {
                        break;
                    }
                    if winner(router, k, m.round() as u64, data).as_deref() == Some(p.as_str()) {
                        a = m;
                    } else {
                        b = m;
                    }
                }
                let cross = (a * b).sqrt();
                if let Some(last) = segs.last_mut() {
                    last.to_n = Some(cross);
                }
                segs.push(Segment {
                    implementation: w.clone(),
                    from_n: Some(cross),
                    to_n: None,
                });
            }
            None => segs.push(Segment {
                implementation: w.clone(),
                from_n: None,
                to_n: None,
            }),
        }
        prev = Some((n, w));
    }
    segs
}

/// The routing table and the rules of thumb for `profile`.
pub fn routing(profile: &Profile) -> Routing {
    let router = Router::new(Some(profile.clone()), profile.machine.clone()).assume_available(true);
    let gpu = profile.curves.iter().any(|c| c.data == DataAt::Device);
    let mut names: Vec<&str> = Vec::new();
    for c in &profile.curves {
        if !names.contains(&c.kernel.as_str()) {
            names.push(&c.kernel);
        }
    }
    let mut out = Routing {
        machine: machine_line(&profile.machine, &profile.fingerprint.cpu),
        gpu,
        routes: Vec::new(),
        rules: Vec::new(),
        unknown: Vec::new(),
    };
    let mut cases = Vec::new();
    for name in names {
        let Ok(k) = kroute::kernel(name) else {
            out.unknown.push(name.to_string());
            continue;
        };
        let mut ns: Vec<u64> = profile
            .curves
            .iter()
            .filter(|c| c.kernel == name)
            .flat_map(|c| c.points.iter().map(|p| p.n))
            .filter(|&n| n > 0)
            .collect();
        ns.sort_unstable();
        ns.dedup();
        let (Some(&lo), Some(&hi)) = (ns.first(), ns.last()) else {
            continue;
        };
        let places: &[DataAt] = if profile
            .curves
            .iter()
            .any(|c| c.kernel == name && c.data == DataAt::Device)
        {
            &[DataAt::Host, DataAt::Device]
        } else {
            &[DataAt::Host]
        };
        let sup = superlinear(k);
        for &data in places {
            out.routes.push(Routes {
                kernel: name.into(),
                data,
                min_n: lo,
                max_n: hi,
                segments: routes(&router, k, data, lo, hi),
            });
            for &n in &ns {
                let times: Vec<(String, Backend, f64, bool)> = measured(&router, k, n, data)
                    .into_iter()
                    .map(|c| {
                        let ex = matches!(c.basis, Basis::Extrapolated);
                        (
                            c.implementation,
                            c.backend,
                            c.total_s.unwrap_or(f64::NAN),
                            ex,
                        )
                    })
                    .collect();
                if !times.is_empty() {
                    cases.push(Case {
                        kernel: name.into(),
                        data,
                        n,
                        superlinear: sup,
                        times,
                    });
                }
            }
        }
    }
    out.rules = rules(&cases, gpu);
    out
}

fn machine_line(m: &Machine, cpu: &str) -> String {
    let gpus: Vec<&str> = m.gpus.iter().map(|g| g.name.as_str()).collect();
    format!(
        "{cpu} ({} threads){}",
        m.cpu_threads,
        if gpus.is_empty() {
            String::new()
        } else {
            format!(" + {}", gpus.join(", "))
        }
    )
}

/// What a rule allows on a case: Some(backends it picks), or None where it says nothing.
type Rule = fn(&Case) -> Option<fn(Backend) -> bool>;

fn gpu(b: Backend) -> bool {
    !b.is_cpu()
}
fn cpu(b: Backend) -> bool {
    b.is_cpu()
}
fn simd(b: Backend) -> bool {
    b == Backend::Simd
}

/// The rules: (name, needs a GPU, rule).
fn catalog() -> [(&'static str, bool, Rule); 4] {
    [
        ("GPU above 100k elements", true, |c| {
            Some(if c.n > 100_000 { gpu } else { cpu })
        }),
        ("GPU only when the CPU needs more than ~2 ms", true, |c| {
            let cpu_s = c.best_of(cpu)?.2;
            Some(if cpu_s > 2e-3 { gpu } else { cpu })
        }),
        (
            "SIMD CPU (one thread) for 100k–10M elements",
            false,
            |c| {
                (100_000..=10_000_000)
                    .contains(&c.n)
                    .then_some(simd as fn(Backend) -> bool)
            },
        ),
        ("GPU always for O(N log N) and up", true, |c| {
            c.superlinear.then_some(gpu as fn(Backend) -> bool)
        }),
    ]
}

/// Check each rule on the cases: where it applies and a backend it names was measured, its
/// pick is the fastest implementation on that backend class (the most generous reading), and
/// it holds when that pick is within `TOLERANCE` of the fastest of all.
pub fn rules(cases: &[Case], have_gpu: bool) -> Vec<RuleCheck> {
    catalog()
        .into_iter()
        .map(|(name, needs_gpu, rule)| {
            let mut r = RuleCheck {
                rule: name.into(),
                unchecked: None,
                cases: 0,
                host_cases: 0,
                device_cases: 0,
                holds: 0,
                wrong: 0,
                wrong_2x: 0,
                median_wrong: None,
                worst: Vec::new(),
            };
            if needs_gpu && !have_gpu {
                r.unchecked =
                    Some("could not be checked: the profile has no GPU measurements".into());
                return r;
            }
            let mut misses: Vec<Miss> = Vec::new();
            for c in cases {
                let Some(keep) = rule(c) else { continue };
                let Some(pick) = c.best_of(keep) else {
                    continue;
                };
                let best = c.best();
                let ratio = pick.2 / best.2;
                r.cases += 1;
                match c.data {
                    DataAt::Host => r.host_cases += 1,
                    DataAt::Device => r.device_cases += 1,
                }
                if ratio < TOLERANCE {
                    r.holds += 1;
                    continue;
                }
                r.wrong += 1;
                r.wrong_2x += usize::from(ratio >= 2.0);
                misses.push(Miss {
                    kernel: c.kernel.clone(),
                    data: c.data,
                    n: c.n,
                    picked: pick.0.clone(),
                    picked_s: pick.2,
                    best: best.0.clone(),
                    best_s: best.2,
                    ratio,
                    picked_extrapolated: pick.3,
                    best_extrapolated: best.3,
                });
            }
            if r.cases == 0 {
                r.unchecked = Some("no case it applies to was measured".into());
            }
            let mut ratios: Vec<f64> = misses.iter().map(|m| m.ratio).collect();
            ratios.sort_by(f64::total_cmp);
            r.median_wrong = (!ratios.is_empty()).then(|| crate::bench::median(&ratios));
            misses.sort_by(|a, b| b.ratio.total_cmp(&a.ratio));
            misses.truncate(5);
            r.worst = misses;
            r
        })
        .collect()
}

fn sig(x: f64) -> String {
    if x < 1e4 {
        format!("{x:.0}")
    } else {
        let e = x.log10().floor() as i32;
        format!("{:.1}e{e}", x / 10f64.powi(e))
    }
}

fn fmt(s: f64) -> String {
    fmt_seconds(s, 2)
}

/// The routing table and the rules as a report section (Markdown).
pub fn markdown(r: &Routing, source: &str) -> String {
    let mut s = String::from("## Routing table\n\n");
    let _ = writeln!(
        s,
        "From the router profile `{source}` ({}): which implementation the router picks, by the \
         profile's measurements, over each kernel's measured sizes. A boundary is where two \
         implementations' curves cross, interpolated in log–log between measured sizes. \"host\": the \
         data starts and ends on the host (a GPU implementation pays its transfers, as measured); \
         \"device\": it starts and ends on the GPU (a CPU implementation pays the transfers the probe \
         measured).\n",
        r.machine
    );
    if !r.unknown.is_empty() {
        let _ = writeln!(
            s,
            "Kernels in the profile that this build does not have (left out): {}.\n",
            r.unknown.join(", ")
        );
    }
    s += "| kernel | data | sizes | routes |\n| --- | --- | --- | --- |\n";
    for t in &r.routes {
        let route = t
            .segments
            .iter()
            .map(|g| match (g.from_n, g.to_n) {
                (None, None) => format!("**{}** throughout", g.implementation),
                (None, Some(b)) => format!("**{}** below {}", g.implementation, sig(b)),
                (Some(a), None) => format!("**{}** above {}", g.implementation, sig(a)),
                (Some(a), Some(b)) => {
                    format!("**{}** {}–{}", g.implementation, sig(a), sig(b))
                }
            })
            .collect::<Vec<_>>()
            .join(" · ");
        let _ = writeln!(
            s,
            "| {} | {} | {}–{} | {} |",
            t.kernel,
            t.data.name(),
            sig(t.min_n as f64),
            sig(t.max_n as f64),
            if route.is_empty() {
                "—".into()
            } else {
                route
            }
        );
    }
    s += "\n### The rules of thumb, checked\n\n";
    let _ = writeln!(
        s,
        "Each rule is read as generously as it allows: where it names a backend, it gets that \
         backend's fastest implementation. A case is a (kernel, data location, measured size); the \
         rule holds on a case when its pick is within {:.0}% of the fastest implementation measured \
         there. \"O(N log N) and up\": kernels whose counted flops per element grow with N, and \
         sorts. A time marked (extrapolated) is the router's prediction beyond the largest size its \
         implementation was measured at (calibration stops timing an implementation once it is far \
         slower than the best), not a measurement.\n",
        (TOLERANCE - 1.0) * 100.0
    );
    s += "| rule | cases (host / device) | holds | ≥10% slower | ≥2× slower | median slowdown when wrong | worst |\n\
          | --- | --- | ---: | ---: | ---: | ---: | --- |\n";
    for c in &r.rules {
        if let Some(why) = &c.unchecked {
            let _ = writeln!(s, "| {} | — | — | — | — | — | {why} |", c.rule);
            continue;
        }
        let pct = |x: usize| format!("{x} ({:.0}%)", 100.0 * x as f64 / c.cases as f64);
        let _ = writeln!(
            s,
            "| {} | {} ({} / {}) | {} | {} | {} | {} | {} |",
            c.rule,
            c.cases,
            c.host_cases,
            c.device_cases,
            pct(c.holds),
            pct(c.wrong),
            pct(c.wrong_2x),
            c.median_wrong.map_or("—".into(), |m| format!("{m:.2}×")),
            c.worst.first().map_or("—".into(), miss)
        );
    }
    let mut lines = String::new();
    for c in r.rules.iter().filter(|c| c.worst.len() > 1) {
        let _ = writeln!(
            lines,
            "- {}: {}",
            c.rule,
            c.worst.iter().map(miss).collect::<Vec<_>>().join("; ")
        );
    }
    if !lines.is_empty() {
        s += "\nThe worst cases of each rule:\n\n";
        s += &lines;
    }
    s.push('\n');
    s
}

fn miss(m: &Miss) -> String {
    let ex = |yes: bool| if yes { " (extrapolated)" } else { "" };
    format!(
        "{} n={} {}: {} {}{} vs {} {}{} ({:.2}×)",
        m.kernel,
        sig(m.n as f64),
        m.data.name(),
        m.picked,
        fmt(m.picked_s),
        ex(m.picked_extrapolated),
        m.best,
        fmt(m.best_s),
        ex(m.best_extrapolated),
        m.ratio
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use kroute::router::{Fingerprint, GpuFigures, Point};

    fn profile(gpu: bool) -> Profile {
        let mut m = Machine::assumed();
        m.gpus.clear();
        if gpu {
            m.gpus.push(GpuFigures::assumed(0, "Test GPU".into()));
        }
        let mut p = Profile::new(Fingerprint::current(), m);
        let mut put = |imp: &str, data: DataAt, f: &dyn Fn(f64) -> f64| {
            for k in 10..=26 {
                let n = 1u64 << k;
                p.record(
                    "map_add",
                    imp,
                    data,
                    Point {
                        n,
                        seconds: f(n as f64),
                    },
                );
            }
        };
        // simd: 1 ns per element from 0.1 µs; parallel: 10 µs to wake, then twice as fast.
        put("simd", DataAt::Host, &|n| 1e-7 + 1e-9 * n);
        put("parallel", DataAt::Host, &|n| 1e-5 + 0.5e-9 * n);
        put("scalar", DataAt::Host, &|n| 1e-7 + 4e-9 * n);
        if gpu {
            // 20 µs launch, 0.01 ns per element resident; 1 ns per element from the host.
            put("cuda", DataAt::Device, &|n| 2e-5 + 1e-11 * n);
            put("cuda", DataAt::Host, &|n| 5e-5 + 1.2e-9 * n);
        }
        p
    }

    #[test]
    fn the_cpu_routes_cross_where_the_curves_do() {
        let r = routing(&profile(false));
        assert!(!r.gpu);
        let t = &r.routes[0];
        assert_eq!((t.kernel.as_str(), t.data), ("map_add", DataAt::Host));
        let names: Vec<&str> = t
            .segments
            .iter()
            .map(|s| s.implementation.as_str())
            .collect();
        assert_eq!(names, ["simd", "parallel"]);
        // 1e-7 + 1e-9 n = 1e-5 + 0.5e-9 n at n = 19800.
        let x = t.segments[0].to_n.unwrap();
        assert!((x / 19_800.0 - 1.0).abs() < 0.1, "{x}");
        assert_eq!(t.segments[1].from_n, Some(x));
        assert_eq!(t.segments[1].to_n, None);
    }

    #[test]
    fn gpu_rules_are_unchecked_without_a_gpu() {
        let r = routing(&profile(false));
        let by = |name: &str| r.rules.iter().find(|c| c.rule.starts_with(name)).unwrap();
        for g in ["GPU above", "GPU only", "GPU always"] {
            assert!(
                by(g).unchecked.as_deref().unwrap().contains("no GPU"),
                "{g}"
            );
        }
        // SIMD for 100k–10M: parallel is twice as fast there, so the rule is wrong on each
        // measured size in range (2^17 … 2^23), by nearly 2×.
        let s = by("SIMD");
        assert_eq!(s.unchecked, None);
        assert_eq!(s.cases, 7);
        assert_eq!(s.holds, 0);
        assert_eq!(s.wrong, 7);
        assert!(s.median_wrong.unwrap() > 1.8);
        assert_eq!(s.worst[0].best, "parallel");
        assert!(markdown(&r, "p.json").contains("could not be checked"));
    }

    #[test]
    fn gpu_rules_measure_how_wrong_they_are() {
        let r = routing(&profile(true));
        assert!(r.gpu);
        let dev = r.routes.iter().find(|t| t.data == DataAt::Device).unwrap();
        // Resident data: cuda throughout (the CPU pays transfers at 10 GB/s).
        assert_eq!(dev.segments.len(), 1);
        assert_eq!(dev.segments[0].implementation, "cuda");
        // From the host the GPU never wins (1.2 ns per element against parallel's 0.5).
        let host = r.routes.iter().find(|t| t.data == DataAt::Host).unwrap();
        assert!(host.segments.iter().all(|s| s.implementation != "cuda"));
        let by = |name: &str| r.rules.iter().find(|c| c.rule.starts_with(name)).unwrap();
        let above = by("GPU above");
        assert_eq!(above.unchecked, None);
        assert_eq!(above.cases, 2 * 17);
        // Wrong on host data above 100k (2^17 … 2^26: cuda is picked, parallel is best, by
        // about 2.5×) and on device data at 100k and below (2^10 … 2^16: a CPU is picked and
        // pays 20 µs of transfer latency and 1.2 ns per element; cuda is best).
        assert_eq!((above.holds, above.wrong), (17, 17), "{above:?}");
        let worst = &above.worst[0];
        assert_eq!((worst.data, worst.best.as_str()), (DataAt::Device, "cuda"));
        assert!(above
            .worst
            .iter()
            .all(|m| m.data == DataAt::Device || m.picked == "cuda"));
        // map_add is linear: the O(N log N) rule applies to nothing measured.
        assert!(by("GPU always").unchecked.is_some());
        let md = markdown(&r, "p.json");
        assert!(md.contains("| map_add | device |"), "{md}");
    }

    #[test]
    fn sorts_and_ffts_count_as_superlinear() {
        assert!(!superlinear(kroute::kernel("map_add").unwrap()));
        if let Ok(k) = kroute::kernel("sort_bitonic") {
            assert!(superlinear(k));
        }
    }

    /// A rule's pick whose time is a prediction beyond its implementation's measured sizes is
    /// marked so in the worst cases.
    #[test]
    fn extrapolated_times_are_marked() {
        let c = Case {
            kernel: "map_add".into(),
            data: DataAt::Host,
            n: 1 << 20,
            superlinear: false,
            times: vec![
                ("parallel".into(), Backend::Parallel, 1e-3, false),
                ("simd".into(), Backend::Simd, 3e-3, true),
            ],
        };
        let r = rules(&[c], false);
        let simd_rule = r.iter().find(|r| r.rule.starts_with("SIMD")).unwrap();
        let m = &simd_rule.worst[0];
        assert!(m.picked_extrapolated && !m.best_extrapolated);
        assert!(
            miss(m).contains("simd 3.00 ms (extrapolated) vs parallel"),
            "{}",
            miss(m)
        );
    }
}
