//! `kroute route` (explain a routing decision), `kroute calibrate` (measure the profile) and
//! `kroute route-check` (measure how often the router picks the fastest).

use crate::commands::{bar, print_json, size_arg, write_json};
use kroute::router::Health;
use kroute::router::{fmt_s, profile, Basis, Explanation, Fingerprint, Profile, Request, Router};
use kroute::Backend;
use kroute::{Error, Location, Result};
use kroute_bench::accuracy::{
    check, held_out, replay, Case, Check, Options, Plan, Summary, SCHEMA, WITHIN,
};
use kroute_bench::calibrate::{
    calibrate as run_calibration, machine_of, settings_for_llc, sizes, Limits, Phases,
};
use kroute_bench::meter::Basis as MeterBasis;
use kroute_bench::probe::{caches, llc_bytes, probe_with_passes};
use kroute_bench::select::select;
use std::path::Path;
use std::process::ExitCode;
use std::time::{Duration, Instant};

fn location(on: &str) -> Result<Location> {
    match on {
        "host" => Ok(Location::Host),
        "cuda" => Ok(Location::Cuda(0)),
        _ => on
            .strip_prefix("cuda:")
            .and_then(|o| o.parse().ok())
            .map(Location::Cuda)
            .ok_or_else(|| {
                Error::Param(format!(
                    "--on expects host, cuda or cuda:ORDINAL, got '{on}'"
                ))
            }),
    }
}

fn where_(l: Location) -> String {
    match l {
        Location::Host => "host".into(),
        Location::Cuda(o) => format!("cuda:{o}"),
    }
}

pub fn route(
    kernel: &str,
    n: f64,
    on: &str,
    profile_path: Option<&Path>,
    free_gpu_mib: Option<u64>,
    json: bool,
) -> Result<ExitCode> {
    let k = kroute::kernel(kernel)?;
    let n = size_arg(n)? as u64;
    let data = location(on)?;
    if let Some(p) = profile_path {
        if !p.exists() {
            return Err(Error::Io(format!("{}: no such profile", p.display())));
        }
    }
    let router = Router::for_this_machine(profile_path)?;
    let mut req = Request::new(n, data);
    req.free_device_bytes = free_gpu_mib.map(|m| m << 20);
    let e = router.explain(k, &req)?;
    if json {
        print_json(&e)?;
    } else {
        print_explanation(&e);
    }
    Ok(ExitCode::SUCCESS)
}

fn print_explanation(e: &Explanation) {
    println!(
        "{} at n = {}, data on {}",
        e.kernel,
        e.request.n,
        where_(e.request.data)
    );
    println!("profile    {}", e.profile);
    println!("figures    {}", e.figures);
    if let Some(f) = &e.forced {
        println!("forced     {f}");
    }
    println!(
        "  {:<12} {:<8} {:>11} {:>11} {:>11}  {:<12} notes",
        "impl", "runs on", "compute", "transfer", "total", "basis"
    );
    for c in &e.candidates {
        let basis = match c.basis {
            Basis::Measured => "measured",
            Basis::Extrapolated => "extrapolated",
            Basis::CostModel => "cost model",
            Basis::None => "—",
        };
        let mut notes = c.notes.clone();
        if c.transfer_measured {
            notes.insert(0, "transfer inside the measured total".into());
        }
        println!(
            "{} {:<12} {:<8} {:>11} {:>11} {:>11}  {:<12} {}",
            if c.implementation == e.winner {
                "*"
            } else {
                " "
            },
            c.implementation,
            where_(c.runs_on),
            c.compute_s.map_or("—".into(), fmt_s),
            if c.transfer_s > 0.0 {
                fmt_s(c.transfer_s)
            } else {
                "0".into()
            },
            c.total_s.map_or("—".into(), fmt_s),
            if c.eligible { basis } else { "not eligible" },
            notes.join("; ")
        );
    }
    println!("winner     {}", e.winner);
    println!("why        {}", e.why);
}

/// `kroute calibrate`'s arguments.
pub struct CalArgs {
    pub domains: Vec<String>,
    pub kernels: Vec<String>,
    pub quick: bool,
    pub step: Option<u32>,
    pub max_n: Option<f64>,
    pub out: Option<std::path::PathBuf>,
    pub budget_ms: u64,
    pub max_seconds: Option<f64>,
    pub max_call_ms: f64,
    pub reprobe: bool,
    pub seed: u64,
}

fn deadline(start: Instant, max_seconds: Option<f64>) -> Result<Option<Instant>> {
    match max_seconds {
        None => Ok(None),
        Some(s) if s.is_finite() && s >= 0.0 => Ok(Some(start + Duration::from_secs_f64(s))),
        Some(s) => Err(Error::Param(format!(
            "--max-seconds expects a number of seconds ≥ 0, got {s}"
        ))),
    }
}

fn print_phases(what: &str, total: f64, p: &Phases) {
    eprintln!(
        "{what} took {total:.1} s: inputs {:.1} s, verification {:.1} s, timing {:.1} s, other {:.1} s",
        p.inputs_s,
        p.verify_s,
        p.timing_s,
        (total - p.inputs_s - p.verify_s - p.timing_s).max(0.0)
    );
    let mut notes = Vec::new();
    if p.dropped > 0 {
        notes.push(format!(
            "{} implementation(s) dropped at larger sizes as far slower",
            p.dropped
        ));
    }
    if p.too_slow > 0 {
        notes.push(format!(
            "{} point(s) skipped as one call would be too slow",
            p.too_slow
        ));
    }
    if p.predicted_far > 0 {
        notes.push(format!(
            "{} timing(s) skipped as predicted far slower than the pick",
            p.predicted_far
        ));
    }
    if !notes.is_empty() {
        eprintln!("  {}", notes.join("; "));
    }
    if !p.out_of_time.is_empty() {
        eprintln!(
            "  out of time (--max-seconds): {} kernel(s) not started: {}",
            p.out_of_time.len(),
            p.out_of_time.join(" ")
        );
    }
}

pub fn calibrate(a: &CalArgs) -> Result<ExitCode> {
    let start = Instant::now();
    let until = deadline(start, a.max_seconds)?;
    if !(a.max_call_ms.is_finite() && a.max_call_ms > 0.0) {
        return Err(Error::Param(format!(
            "--max-call-ms expects a positive number, got {}",
            a.max_call_ms
        )));
    }
    let sel = select(&a.domains, &a.kernels, &[], &[])?;
    let here = Fingerprint::current();
    let cache = profile::default_path(&here);
    let cached = match profile::load_for(&here, cache.as_deref()) {
        (Some(p), _) => Some(p),
        (None, note) => {
            if note.starts_with("ignoring") {
                eprintln!("{note}; writing a new one");
            }
            None
        }
    };
    // The machine's figures: the cached profile's (this machine, this kroute) unless asked
    // to measure again; else a probe with three passes per figure.
    let t = Instant::now();
    let (machine, llc) = match cached
        .as_ref()
        .filter(|p| !a.reprobe && p.machine.source == "probe")
    {
        Some(p) => {
            eprintln!("machine figures from the cached profile (--reprobe measures them again)");
            let h = Health::now();
            if let Some(w) = h.warning() {
                eprintln!("{w}");
            }
            (p.machine.clone(), llc_bytes(&caches()))
        }
        None => {
            eprintln!("probing memory bandwidth and devices…");
            let probe = probe_with_passes(3);
            if let Some(w) = probe.health.warning() {
                eprintln!("{w}");
            }
            if probe.gpus.is_empty() {
                eprintln!("{}", probe.gpu_note);
            }
            (machine_of(&probe), probe.llc_bytes)
        }
    };
    let probe_s = t.elapsed().as_secs_f64();
    eprintln!(
        "{} | copy GB/s: 1 thread {:.1}, {} threads {:.1} ({probe_s:.1} s)",
        here.cpu, machine.cpu_one_thread_gbps, machine.cpu_threads, machine.cpu_all_threads_gbps,
    );
    let mut s = settings_for_llc(llc, Duration::from_millis(a.budget_ms));
    s.seed = a.seed;
    let max_n = a.max_n.map(size_arg).transpose()?;
    let sizes: Vec<usize> = sizes(a.quick, a.step)
        .into_iter()
        .filter(|&n| max_n.is_none_or(|m| n <= m))
        .collect();
    if sizes.is_empty() {
        return Err(Error::Param("--max-n leaves no size to calibrate".into()));
    }
    let limits = Limits {
        max_call_s: a.max_call_ms * 1e-3,
        deadline: until,
        ..Limits::default()
    };
    let mut fresh = Profile::new(here.clone(), machine);
    let rows: usize = sel
        .kernels
        .iter()
        .map(|k| {
            k.implementations()
                .iter()
                .filter(|i| i.available())
                .map(|i| if i.backend.is_cpu() { 1 } else { 2 })
                .sum::<usize>()
        })
        .sum();
    let pb = bar((rows * sizes.len()) as u64);
    pb.suspend(|| {
        println!(
            "{:<28} {:<12} {:<7} {:>10} {:>11} {:>8}  how",
            "kernel", "impl", "data", "n", "time", "samples"
        )
    });
    let mut phases = Phases::default();
    let measured = run_calibration(
        &sel.kernels,
        &sizes,
        &s,
        &limits,
        &mut fresh,
        &mut phases,
        &mut |m| {
            pb.set_message(format!("{} n={}", m.kernel, m.n));
            let (time, how) = match (&m.seconds, &m.error, &m.skipped) {
                (Some(t), _, _) => {
                    pb.inc(1);
                    (
                        fmt_s(*t),
                        match m.basis {
                            Some(MeterBasis::Careful) => "interleaved",
                            Some(MeterBasis::Screen) => "screen",
                            Some(MeterBasis::OneCall) => "one call",
                            None => "",
                        }
                        .to_string(),
                    )
                }
                (None, Some(e), _) => ("FAILED".into(), e.clone()),
                (None, None, Some(why)) => ("skipped".into(), why.clone()),
                (None, None, None) => ("—".into(), String::new()),
            };
            pb.suspend(|| {
                println!(
                    "{:<28} {:<12} {:<7} {:>10} {:>11} {:>8}  {how}",
                    m.kernel,
                    m.implementation,
                    m.data.name(),
                    m.n,
                    time,
                    m.samples
                )
            });
        },
    );
    pb.finish_and_clear();
    let failures = measured.iter().filter(|m| m.error.is_some()).count();
    // Merge into this machine's profile in the cache, so domains calibrated one at a time add up.
    let mut merged = match cached {
        Some(mut old) => {
            old.merge(fresh);
            old
        }
        None => fresh,
    };
    merged.fingerprint = here;
    summary(&merged, &sel.kernels);
    match &cache {
        Some(p) => {
            merged.save(p)?;
            eprintln!("wrote {}", p.display());
        }
        None => eprintln!("no cache folder (set KROUTE_CACHE_DIR or HOME): profile not cached"),
    }
    if let Some(p) = &a.out {
        write_json(p, &merged)?;
        eprintln!("wrote {}", p.display());
    }
    eprintln!("probe {probe_s:.1} s");
    print_phases("calibration", start.elapsed().as_secs_f64(), &phases);
    if failures > 0 {
        eprintln!("{failures} measurement(s) failed");
        return Ok(ExitCode::from(1));
    }
    Ok(ExitCode::SUCCESS)
}

/// Per kernel and data location, which implementation the profile says is fastest at each
/// measured size.
fn summary(p: &Profile, kernels: &[&'static kroute::Kernel]) {
    let router = Router::new(Some(p.clone()), p.machine.clone());
    println!();
    println!("fastest by the profile (data on host, then on the device where there is one):");
    for k in kernels {
        let mut ns: Vec<u64> = p
            .curves
            .iter()
            .filter(|c| c.kernel == k.name())
            .flat_map(|c| c.points.iter().map(|q| q.n))
            .collect();
        ns.sort_unstable();
        ns.dedup();
        let mut places = vec![Location::Host];
        if p.curves
            .iter()
            .any(|c| c.kernel == k.name() && c.data == kroute::router::DataAt::Device)
        {
            places.push(Location::Cuda(0));
        }
        for data in places {
            let picks: Vec<String> = ns
                .iter()
                .map(|&n| {
                    router.explain(k, &Request::new(n, data)).map_or_else(
                        |e| format!("{n}: {e}"),
                        |e| format!("{} {}", size(n), e.winner),
                    )
                })
                .collect();
            println!(
                "  {:<28} {:<7} {}",
                k.name(),
                where_(data),
                picks.join(", ")
            );
        }
    }
}

/// 2^k for a power of two, else the number.
fn size(n: u64) -> String {
    if n.is_power_of_two() {
        format!("2^{}", n.ilog2())
    } else {
        n.to_string()
    }
}

/// `kroute route-check`'s arguments.
pub struct CheckArgs {
    pub domains: Vec<String>,
    pub kernels: Vec<String>,
    pub quick: bool,
    pub sizes: Vec<f64>,
    pub max_n: Option<f64>,
    pub profile: Option<std::path::PathBuf>,
    pub json: Option<std::path::PathBuf>,
    pub budget_ms: u64,
    pub max_seconds: Option<f64>,
    pub skip_factor: f64,
    pub seed: u64,
    pub replay: Option<std::path::PathBuf>,
}

pub fn route_check(a: &CheckArgs) -> Result<ExitCode> {
    if let Some(recorded) = &a.replay {
        return route_replay(recorded, a);
    }
    let start = Instant::now();
    let until = deadline(start, a.max_seconds)?;
    if !(a.skip_factor.is_finite() && a.skip_factor >= 0.0) {
        return Err(Error::Param(format!(
            "--skip-factor expects a number ≥ 0 (0: time every implementation), got {}",
            a.skip_factor
        )));
    }
    let sel = select(&a.domains, &a.kernels, &[], &[])?;
    if let Some(p) = &a.profile {
        if !p.exists() {
            return Err(Error::Io(format!("{}: no such profile", p.display())));
        }
    }
    let router = Router::for_this_machine(a.profile.as_deref())?;
    if let Some(f) = router.forced() {
        return Err(Error::Param(format!(
            "KROUTE_BACKEND forces '{}': unset it to check the router's own choices",
            f.name()
        )));
    }
    let Some(prof) = router.profile() else {
        return Err(Error::Io(format!(
            "{}; calibrate first (kroute calibrate --quick …)",
            router.profile_note()
        )));
    };
    let explicit: Vec<u64> = a
        .sizes
        .iter()
        .map(|&n| size_arg(n).map(|n| n as u64))
        .collect::<Result<_>>()?;
    let max_n = a.max_n.map(size_arg).transpose()?.map(|n| n as u64);
    let mut plans = Vec::new();
    let mut notes = Vec::new();
    for &k in &sel.kernels {
        let mut measured: Vec<u64> = prof
            .curves
            .iter()
            .filter(|c| c.kernel == k.name())
            .flat_map(|c| c.points.iter().map(|p| p.n))
            .collect();
        measured.sort_unstable();
        measured.dedup();
        let (Some(&lo), Some(&hi)) = (measured.first(), measured.last()) else {
            notes.push(format!(
                "{}: not in the profile (kroute calibrate --kernel {})",
                k.name(),
                k.name()
            ));
            continue;
        };
        let sizes = if explicit.is_empty() {
            held_out(lo, hi, a.quick)
        } else {
            if let Some(n) = explicit.iter().find(|n| measured.contains(n)) {
                return Err(Error::Param(format!(
                    "--n {n} is a size the profile measured for {}: accuracy is checked at sizes \
                     never calibrated",
                    k.name()
                )));
            }
            explicit.clone()
        };
        let sizes: Vec<u64> = sizes
            .into_iter()
            .filter(|&n| max_n.is_none_or(|m| n <= m))
            .collect();
        if sizes.is_empty() {
            notes.push(format!(
                "{}: no held-out size within the profile's {lo}…{hi}{}",
                k.name(),
                max_n.map_or(String::new(), |m| format!(" and --max-n {m}"))
            ));
            continue;
        }
        plans.push(Plan { kernel: k, sizes });
    }
    if plans.is_empty() {
        return Err(Error::Param(format!(
            "nothing to check: {}",
            notes.join("; ")
        )));
    }
    for n in &notes {
        eprintln!("{n}");
    }
    let health = Health::now();
    if let Some(w) = health.warning() {
        eprintln!("{w}");
    }
    let gpu = Backend::Cuda.unavailable_reason().is_none();
    let mut s = settings_for_llc(llc_bytes(&caches()), Duration::from_millis(a.budget_ms));
    s.seed = a.seed;
    eprintln!(
        "routing by {}; data on the host{}",
        router.profile_note(),
        if gpu {
            " and on cuda:0"
        } else {
            " only (no GPU here)"
        }
    );
    let started_unix = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    print_case_header();
    let opts = Options {
        skip_factor: a.skip_factor,
        deadline: until,
    };
    let mut phases = Phases::default();
    let cases = check(
        &plans,
        &router,
        &s,
        gpu,
        &opts,
        &mut phases,
        &mut print_case,
    );
    let summary = print_summary(&cases);
    print_phases("route-check", start.elapsed().as_secs_f64(), &phases);
    if !phases.out_of_time.is_empty() {
        notes.push(format!(
            "out of time (--max-seconds): not checked: {}",
            phases.out_of_time.join(", ")
        ));
    }
    if let Some(p) = &a.json {
        let c = Check {
            schema: SCHEMA.into(),
            fingerprint: Fingerprint::current(),
            profile: router.profile_note().into(),
            command: std::env::args().collect::<Vec<_>>().join(" "),
            started_unix,
            budget_ms: a.budget_ms,
            notes,
            summary,
            cases,
        };
        write_json(p, &c)?;
        eprintln!("wrote {}", p.display());
    }
    Ok(ExitCode::SUCCESS)
}

fn print_case_header() {
    println!(
        "{:<28} {:>10} {:<6} {:<12} {:>11} {:<12} {:>11} {:>7}",
        "kernel", "n", "data", "routed", "time", "fastest", "time", "ratio"
    );
}

fn print_case(c: &Case) {
    println!(
        "{:<28} {:>10} {:<6} {:<12} {:>11} {:<12} {:>11} {:>7} {}",
        c.kernel,
        c.n,
        c.data.name(),
        c.routed,
        c.routed_s.map_or("—".into(), fmt_s),
        c.fastest,
        fmt_s(c.fastest_s),
        c.ratio.map_or("—".into(), |r| format!("{r:.2}×")),
        if c.hit { "" } else { "MISS" }
    );
}

/// The hit figure and the misses, printed; the summary returned.
fn print_summary(cases: &[Case]) -> Summary {
    let summary = Summary::of(cases);
    println!();
    println!(
        "routed within {:.0}% of the fastest: {} of {} cases ({:.1}%); host {} of {}, device {} of {}",
        (WITHIN - 1.0) * 100.0,
        summary.hits,
        summary.cases,
        100.0 * summary.fraction,
        summary.host_hits,
        summary.host_cases,
        summary.device_hits,
        summary.device_cases
    );
    let misses: Vec<_> = cases.iter().filter(|c| !c.hit).collect();
    if !misses.is_empty() {
        println!("misses:");
        for m in misses {
            println!(
                "  {} n={} {}: routed {} {}, fastest {} {}",
                m.kernel,
                m.n,
                m.data.name(),
                m.routed,
                m.routed_s.map_or("not timed".into(), fmt_s),
                m.fastest,
                fmt_s(m.fastest_s)
            );
        }
    }
    summary
}

/// `route-check --replay`: the recorded cases re-routed by this build's router over
/// `--profile`, scored on the recorded times.
fn route_replay(recorded: &Path, a: &CheckArgs) -> Result<ExitCode> {
    let check = Check::load(recorded).map_err(Error::Io)?;
    let Some(profile_path) = &a.profile else {
        return Err(Error::Param(
            "--replay needs --profile (the profile the recorded check routed by)".into(),
        ));
    };
    let prof = Profile::load(profile_path)?;
    let machine = prof.machine.clone();
    let router = Router::new(Some(prof), machine).assume_available(true);
    eprintln!(
        "replaying {} ({} cases, recorded by `{}`) with {}: nothing is timed",
        recorded.display(),
        check.cases.len(),
        check.command,
        router.profile_note()
    );
    print_case_header();
    let (cases, missing) = replay(&check, &router);
    let mut notes = check.notes.clone();
    if !missing.is_empty() {
        let m = format!("not in this build, left out: {}", missing.join(", "));
        eprintln!("{m}");
        notes.push(m);
    }
    for c in &cases {
        print_case(c);
    }
    let summary = print_summary(&cases);
    let unscored = cases.iter().filter(|c| c.routed_s.is_none()).count();
    if unscored > 0 {
        println!(
            "{unscored} of the misses are picks the recording did not time (counted as misses)"
        );
    }
    notes.push(format!(
        "replayed: the cases of {} (recorded by `{}`) re-routed by {} and scored on the recorded \
         times; {unscored} picks were not timed then and count as misses",
        recorded.display(),
        check.command,
        router.profile_note()
    ));
    if let Some(p) = &a.json {
        let c = Check {
            schema: SCHEMA.into(),
            fingerprint: check.fingerprint.clone(),
            profile: format!("{} ({})", profile_path.display(), router.profile_note()),
            command: std::env::args().collect::<Vec<_>>().join(" "),
            started_unix: check.started_unix,
            budget_ms: check.budget_ms,
            notes,
            summary,
            cases,
        };
        write_json(p, &c)?;
        eprintln!("wrote {}", p.display());
    }
    Ok(ExitCode::SUCCESS)
}
