//! One function per subcommand; each returns the process exit code or an error to print.

use crate::peers::{self, Peers};
use crate::{npy, Filters};
use indicatif::{ProgressBar, ProgressStyle};
use kroute::router::fmt_s as fmt_time;
use kroute::router::Health;
use kroute::verify::compare;
use kroute::Implementation;
use kroute::{registry, Backend, Error, Kernel, Params, Result, Tensor};
use kroute_bench::bench::{finish_one, rotation_sets, time_one, verify_one, Settings};
use kroute_bench::ceilings::{implausible, IMPLAUSIBLE};
use kroute_bench::probe::Pattern;
use kroute_bench::probe::{probe as run_probe, Probe};
use kroute_bench::schema::Times;
use kroute_bench::schema::{Record, Report, SCHEMA};
use kroute_bench::select::{select, Row};
use kroute_bench::sweep::{sweep as sweep_kernel, Budget, Values};
use kroute_bench::verify::{sizes_for, verify_many, Outcome};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

pub fn bar(len: u64) -> ProgressBar {
    let pb = ProgressBar::new(len);
    pb.set_style(
        ProgressStyle::with_template("{spinner} [{elapsed_precise}] {bar:30} {pos}/{len} {msg}")
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    pb
}

fn json_text<T: serde::Serialize>(value: &T) -> Result<String> {
    serde_json::to_string_pretty(value).map_err(|e| Error::Io(e.to_string()))
}

/// Print a value as pretty JSON on stdout.
pub fn print_json<T: serde::Serialize>(value: &T) -> Result<()> {
    println!("{}", json_text(value)?);
    Ok(())
}

pub fn write_json<T: serde::Serialize>(path: &Path, value: &T) -> Result<()> {
    let text = json_text(value)?;
    std::fs::write(path, text).map_err(|e| Error::Io(format!("{}: {e}", path.display())))
}

pub fn size_arg(n: f64) -> Result<usize> {
    if n >= 0.0 && n.fract() == 0.0 && n <= 1e12 {
        Ok(n as usize)
    } else {
        Err(Error::Param(format!(
            "--n must be a whole number of elements, got {n}"
        )))
    }
}

pub fn list(domains: &[String], json: bool, n: f64) -> Result<ExitCode> {
    let n = size_arg(n)? as u64;
    let ids = registry().implementation_ids();
    let specs: Vec<_> = kroute::catalog()
        .filter(|s| domains.is_empty() || domains.iter().any(|d| d == s.domain.name()))
        .collect();
    if specs.is_empty() {
        return Err(Error::Param(format!(
            "no kernel in domain(s) {}",
            domains.join(", ")
        )));
    }
    // ✓ runs here, ○ compiled in but unavailable here (no device, no feature), · none.
    let mark = |name: &str, id: &str| match kroute::kernel(name).and_then(|k| k.implementation(id))
    {
        Ok(i) if i.available() => "✓",
        Ok(_) => "○",
        Err(_) => "·",
    };
    if json {
        let rows: Vec<_> = specs
            .iter()
            .map(|s| {
                let imps: Vec<_> = kroute::kernel(s.name)
                    .map(|k| {
                        k.implementations()
                            .iter()
                            .map(|i| {
                                serde_json::json!({
                                    "id": i.id,
                                    "backend": i.backend,
                                    "available": i.available(),
                                })
                            })
                            .collect()
                    })
                    .unwrap_or_default();
                serde_json::json!({
                    "spec": s,
                    "n": n,
                    "bytes": (s.bytes)(n),
                    "flops": (s.flops)(n),
                    "implementations": imps,
                })
            })
            .collect();
        println!(
            "{}",
            serde_json::to_string_pretty(&rows).map_err(|e| Error::Io(e.to_string()))?
        );
        return Ok(ExitCode::SUCCESS);
    }
    println!(
        "{:<34} {:<13} {:>9} {:>9}  {:<26} {}",
        "kernel",
        "domain",
        "MB",
        "GFLOP",
        "tolerance",
        ids.iter().map(|id| format!("{id:<9}")).collect::<String>()
    );
    let mut implemented = 0;
    let (mut compiled, mut runnable) = (0, 0);
    for s in &specs {
        let marks: Vec<&str> = ids.iter().map(|id| mark(s.name, id)).collect();
        compiled += marks.iter().filter(|m| **m != "·").count();
        runnable += marks.iter().filter(|m| **m == "✓").count();
        implemented += usize::from(kroute::kernel(s.name).is_ok());
        println!(
            "{:<34} {:<13} {:>9.1} {:>9.3}  {:<26} {}",
            s.name,
            s.domain.name(),
            (s.bytes)(n) / 1e6,
            (s.flops)(n) / 1e9,
            s.tolerance.describe(),
            marks.iter().map(|m| format!("{m:<9}")).collect::<String>()
        );
    }
    println!("(MB and GFLOP at n = {n}; ✓ runs here, ○ built but not available here, · none)");
    println!(
        "\n{} kernels in {} domain(s); {implemented} implemented; {compiled} implementations, {runnable} available here.",
        specs.len(),
        specs.iter().map(|s| s.domain).collect::<std::collections::BTreeSet<_>>().len(),
    );
    for id in &ids {
        if let Some(why) = kroute::kernels()
            .find_map(|k| k.implementation(id).ok())
            .and_then(|i| i.unavailable_reason())
        {
            println!("{id}: {why}");
        }
    }
    Ok(ExitCode::SUCCESS)
}

pub fn verify(
    f: &Filters,
    n: usize,
    large: bool,
    seed: u64,
    json: Option<PathBuf>,
) -> Result<ExitCode> {
    let sel = select(&f.domains, &f.kernels, &f.backends, &f.impls)?;
    let plan: Vec<(&'static Kernel, Vec<Row>)> =
        sel.kernels.iter().map(|&k| (k, sel.rows(k))).collect();
    let pb = bar(plan.iter().map(|(_, r)| r.len() as u64).sum());
    let mut all: Vec<Outcome> = Vec::new();
    let (mut passed, mut failed) = (0usize, 0usize);
    for (k, rows) in plan {
        let sizes = sizes_for(k, n, large);
        let mut cache: HashMap<usize, Arc<Vec<Tensor>>> = HashMap::new();
        let mut imps = Vec::new();
        for row in rows {
            let imp = match row {
                Row::Skip { id, why } => {
                    pb.suspend(|| println!("SKIP {:<28} {:<8} {why}", k.name(), id));
                    pb.inc(1);
                    continue;
                }
                Row::Run(imp) => imp,
            };
            if let Some(why) = imp.unavailable_reason() {
                pb.suspend(|| println!("SKIP {:<28} {:<8} skipped: {why}", k.name(), imp.id));
                pb.inc(1);
                continue;
            }
            imps.push(imp);
        }
        if imps.is_empty() {
            continue;
        }
        pb.set_message(k.name());
        // Every implementation of the kernel on one reference per case.
        let per = verify_many(k, &imps, &sizes, &Params::defaults(k.spec), |n| {
            cache
                .entry(n)
                .or_insert_with(|| Arc::new(k.workload(n, seed)))
                .clone()
        });
        for (imp, outcomes) in imps.iter().zip(per) {
            let bad: Vec<&Outcome> = outcomes.iter().filter(|o| !o.passed).collect();
            let worst = outcomes.iter().map(|o| o.worst_ratio).fold(0.0, f64::max);
            if bad.is_empty() {
                passed += 1;
                pb.suspend(|| {
                    println!(
                        "PASS {:<28} {:<8} {:>2} cases, worst error {:.3} of allowed",
                        k.name(),
                        imp.id,
                        outcomes.len(),
                        worst
                    )
                });
            } else {
                failed += 1;
                for o in &bad {
                    pb.suspend(|| {
                        println!(
                            "FAIL {:<28} {:<8} [{}] {}",
                            k.name(),
                            imp.id,
                            o.case,
                            o.detail.as_deref().unwrap_or("")
                        )
                    });
                }
            }
            all.extend(outcomes);
            pb.inc(1);
        }
    }
    pb.finish_and_clear();
    println!("{passed} passed, {failed} failed");
    if let Some(path) = json {
        write_json(&path, &all)?;
    }
    Ok(if failed == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

/// `verify --sweep`: the named cases and random ones on every selected implementation; the
/// random time is shared by the kernels.
pub fn sweep(
    f: &Filters,
    seed: u64,
    seconds: f64,
    cases: u32,
    json: Option<PathBuf>,
) -> Result<ExitCode> {
    let sel = select(&f.domains, &f.kernels, &f.backends, &f.impls)?;
    let per_kernel = seconds / sel.kernels.len().max(1) as f64;
    let pb = bar(sel.kernels.len() as u64);
    let (mut reports, mut failed) = (Vec::new(), 0usize);
    for &k in &sel.kernels {
        let mut imps = Vec::new();
        for row in sel.rows(k) {
            match row {
                Row::Skip { id, why } => {
                    pb.suspend(|| println!("SKIP {:<28} {:<8} {why}", k.name(), id))
                }
                Row::Run(imp) => match imp.unavailable_reason() {
                    Some(why) => pb
                        .suspend(|| println!("SKIP {:<28} {:<8} skipped: {why}", k.name(), imp.id)),
                    None => imps.push(imp),
                },
            }
        }
        if imps.is_empty() {
            pb.inc(1);
            continue;
        }
        pb.set_message(k.name());
        let budget = Budget {
            cases,
            seconds: per_kernel,
        };
        let r = sweep_kernel(k, &imps, budget, seed);
        for imp in &imps {
            let bad: Vec<_> = r
                .failures
                .iter()
                .filter(|x| x.implementation == imp.id)
                .collect();
            pb.suspend(|| {
                if bad.is_empty() {
                    println!(
                        "PASS {:<28} {:<8} {} cases ({} random, seed {}), {} refused by parameter rules{}",
                        k.name(),
                        imp.id,
                        r.cases,
                        r.random_cases,
                        r.seed,
                        r.refused,
                        if r.repeats > 0 {
                            format!(", {} named cases repeating an earlier one's inputs", r.repeats)
                        } else {
                            String::new()
                        }
                    );
                }
                for x in &bad {
                    println!(
                        "FAIL {:<28} {:<8} [{}] {}\n  reproduce:\n  {}",
                        k.name(),
                        imp.id,
                        x.case,
                        x.detail,
                        x.reproducer
                    );
                }
            });
        }
        failed += r.failures.len();
        reports.push(r);
        pb.inc(1);
    }
    pb.finish_and_clear();
    let checks: usize = reports.iter().map(|r| r.checks).sum();
    let passed: usize = reports.iter().map(|r| r.passed).sum();
    println!(
        "sweep: {passed} of {checks} checks passed over {} kernels; {failed} failure(s)",
        reports.len()
    );
    if let Some(path) = json {
        write_json(&path, &reports)?;
    }
    Ok(if failed == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

fn print_probe(p: &Probe) {
    println!("cpu        {}", p.cpu_model);
    println!("simd       {}", p.simd);
    println!(
        "cores      {} logical, {} worker threads",
        p.logical_cores, p.threads
    );
    for c in &p.caches {
        println!(
            "cache      L{} {:<12} {:>8} KiB (shared by {})",
            c.level,
            c.kind,
            c.size_bytes / 1024,
            c.shared_by
        );
    }
    println!(
        "bandwidth  measured on 3 arrays of {} MiB (GB/s = 10^9 B/s)",
        p.array_bytes >> 20
    );
    println!(
        "             {:<12} {:>8} {:>8} {:>8}",
        "", "read", "copy", "triad"
    );
    for (name, b) in [("1 thread", &p.one_thread), ("all threads", &p.all_threads)] {
        println!(
            "             {:<12} {:>8.1} {:>8.1} {:>8.1}",
            name, b.read, b.copy, b.triad
        );
    }
    if p.gpus.is_empty() {
        println!("gpu        {}", p.gpu_note);
    }
    for g in &p.gpus {
        println!(
            "gpu        cuda:{} {} ({}), driver CUDA {}, NVRTC {}",
            g.ordinal, g.name, g.detail, g.driver_cuda_version, g.nvrtc_version
        );
        println!(
            "             device copy {:.0} GB/s (1 GiB, read + write)",
            g.d2d_copy_gbps
        );
        println!(
            "             host→device GB/s: pinned {:.1}, pageable {:.1}, staged {:.1}",
            g.h2d_pinned_gbps, g.h2d_pageable_gbps, g.h2d_staged_gbps
        );
        println!(
            "             device→host GB/s: pinned {:.1}, pageable {:.1}, staged {:.1}",
            g.d2h_pinned_gbps, g.d2h_pageable_gbps, g.d2h_staged_gbps
        );
        println!(
            "             tiny kernel: launch→completion {:.1} µs, launch→result {:.1} µs \
             (into pinned memory), {:.1} µs (with a 4-byte copy)",
            g.launch_to_completion_us, g.launch_to_result_us, g.launch_to_result_copy_us
        );
    }
    if !p.gpus.is_empty() && !p.gpu_note.is_empty() {
        println!("gpu note   {}", p.gpu_note);
    }
    print_health(&p.health);
}

/// The health probe's figures, one line per subject; what is unreadable here says so.
fn print_health(h: &Health) {
    let gib = |b: u64| b as f64 / (1u64 << 30) as f64;
    println!("health     (read before the bandwidth loops)");
    match h.load {
        Some(l) => println!(
            "  load     {:.2} {:.2} {:.2} (1, 5, 15 min) on {} CPUs",
            l.one, l.five, l.fifteen, h.cpus
        ),
        None => println!("  load     not readable (/proc/loadavg)"),
    }
    match h.memory {
        Some(m) => println!(
            "  memory   {:.1} of {:.1} GiB available",
            gib(m.available_bytes),
            gib(m.total_bytes)
        ),
        None => println!("  memory   not readable (/proc/meminfo)"),
    }
    for (name, p) in [
        ("cpu", h.psi.cpu),
        ("memory", h.psi.memory),
        ("io", h.psi.io),
    ] {
        match p {
            Some(p) => println!(
                "  psi {:<6} some {:.1}% / {:.1}% / {:.1}% (avg 10 s / 60 s / 300 s){}",
                name,
                p.some.avg10,
                p.some.avg60,
                p.some.avg300,
                p.full.map_or(String::new(), |f| format!(
                    ", full {:.1}% / {:.1}% / {:.1}%",
                    f.avg10, f.avg60, f.avg300
                ))
            ),
            None => println!("  psi {name:<6} not available (no /proc/pressure/{name})"),
        }
    }
    match h.cpu_clocks {
        Some(c) => println!(
            "  cpu MHz  {:.0}–{:.0} now{}",
            c.current_min_mhz,
            c.current_max_mhz,
            c.rated_max_mhz
                .map_or(String::new(), |m| format!(", rated max {m:.0}"))
        ),
        None => println!("  cpu MHz  not readable (no cpufreq in /sys)"),
    }
    for g in &h.gpus {
        let opt = |v: Option<u32>, unit: &str| v.map_or("?".into(), |v| format!("{v}{unit}"));
        println!(
            "  gpu {}    {}: {} of {} GiB free, {}, SM {} memory {}, busy {}, throttle: {}",
            g.index,
            g.name,
            g.free_bytes
                .map_or("?".into(), |b| format!("{:.1}", gib(b))),
            g.total_bytes
                .map_or("?".into(), |b| format!("{:.1}", gib(b))),
            opt(g.temperature_c, " °C"),
            opt(g.sm_clock_mhz, " MHz"),
            opt(g.memory_clock_mhz, " MHz"),
            opt(g.utilization_pct, "%"),
            if g.throttle.is_empty() {
                "none".into()
            } else {
                g.throttle.join(", ")
            }
        );
    }
    if !h.gpu_note.is_empty() {
        println!("  gpu      {}", h.gpu_note);
    }
    match h.warning() {
        Some(w) => println!("  verdict  {w}"),
        None => println!("  verdict  quiet enough to measure"),
    }
}

pub fn probe(json: bool) -> Result<ExitCode> {
    let p = run_probe();
    if json {
        print_json(&p)?;
    } else {
        print_probe(&p);
    }
    Ok(ExitCode::SUCCESS)
}

pub fn table_row(r: &Record) -> String {
    match (&r.times, &r.error) {
        (Some(t), _) => {
            let mut notes: Vec<String> = r.idiom.iter().map(|i| format!("[{i}]")).collect();
            if !r.flags.is_empty() {
                notes.push(format!("⚠ {}", r.flags.join("; ")));
            }
            format!(
                "{:<28} {:<18} {:>10} {:>11} {:>11} {:>11} {:>8.1} {:>6.0}% {:<5} {:>7.2} {:>4}  {}",
                r.kernel,
                r.implementation,
                r.n,
                fmt_time(t.min_s),
                fmt_time(t.median_s),
                fmt_time(t.p90_s),
                r.gbps.unwrap_or(0.0),
                r.pct_of_peak.unwrap_or(f64::NAN),
                r.pattern.map_or("", Pattern::name),
                r.gflops.unwrap_or(0.0),
                t.samples,
                notes.join(" ")
            )
        }
        (None, None) if r.verified => format!(
            "{:<28} {:<18} {:>10}  verified (not timed){}",
            r.kernel,
            r.implementation,
            r.n,
            r.idiom
                .as_ref()
                .map_or(String::new(), |i| format!("  [{i}]"))
        ),
        (None, Some(e)) if e.starts_with("skipped:") => {
            format!("{:<28} {:<18} {:>10}  {e}", r.kernel, r.implementation, r.n)
        }
        (None, e) => format!(
            "{:<28} {:<18} {:>10}  FAILED: {}",
            r.kernel,
            r.implementation,
            r.n,
            e.as_deref().unwrap_or("?")
        ),
    }
}

pub fn table_header() -> String {
    format!(
        "{:<28} {:<18} {:>10} {:>11} {:>11} {:>11} {:>8} {:>7} {:<5} {:>7} {:>4}",
        "kernel", "impl", "n", "min", "median", "p90", "GB/s", "%peak", "vs", "GFLOP/s", "runs"
    )
}

/// `--peers` and how to run them.
#[derive(Clone, Debug, Default)]
pub struct PeerArgs {
    /// Libraries (numpy, torch-cpu, torch-cpu-1t, torch-cuda, torch-compile-cpu,
    /// torch-compile-cuda, cupy, jax-cpu, jax-cuda, all).
    pub libraries: Vec<String>,
    pub python: String,
    pub script: Option<PathBuf>,
    /// Repeats of (kroute, peers), alternating which goes first.
    pub repeats: usize,
}

pub fn bench(
    f: &Filters,
    sizes: &[f64],
    json: Option<PathBuf>,
    budget_ms: u64,
    seed: u64,
    peer_args: &PeerArgs,
) -> Result<ExitCode> {
    let sel = select(&f.domains, &f.kernels, &f.backends, &f.impls)?;
    let sizes: Vec<usize> = if sizes.is_empty() {
        vec![10_000_000]
    } else {
        sizes.iter().map(|&n| size_arg(n)).collect::<Result<_>>()?
    };
    let mut peers = if peer_args.libraries.is_empty() {
        None
    } else {
        let script = peers::script(peer_args.script.as_deref())?;
        let p = Peers::start(&peer_args.python, &script, &peer_args.libraries)?;
        for (name, l) in &p.libraries {
            match &l.error {
                Some(e) => eprintln!("peer {name}: not available ({e})"),
                None => eprintln!(
                    "peer {name} {} on {}{}",
                    l.version.as_deref().unwrap_or("?"),
                    l.device.as_deref().unwrap_or("?"),
                    l.threads
                        .map_or(String::new(), |t| format!(", {t} thread(s)"))
                ),
            }
        }
        Some(p)
    };
    // 0 repeats: verify everything, time nothing (how CI checks the peers).
    let repeats = peer_args.repeats;
    eprintln!("probing memory bandwidth…");
    let machine = run_probe();
    eprintln!(
        "{} | {} | measured GB/s read/copy/triad: 1 thread {:.1}/{:.1}/{:.1}, {} threads {:.1}/{:.1}/{:.1}",
        machine.cpu_model,
        machine.simd,
        machine.one_thread.read,
        machine.one_thread.copy,
        machine.one_thread.triad,
        machine.threads,
        machine.all_threads.read,
        machine.all_threads.copy,
        machine.all_threads.triad
    );
    for g in &machine.gpus {
        eprintln!(
            "cuda:{} {} | device copy {:.0} GB/s | tiny kernel launch→result {:.1} µs",
            g.ordinal, g.name, g.d2d_copy_gbps, g.launch_to_result_us
        );
    }
    if let Some(w) = machine.health.warning() {
        eprintln!("{w}");
    }
    let mut arrays = kroute_bench::probe::Arrays::new(machine.llc_bytes);
    let mut settings = Settings::for_machine(&machine);
    settings.seed = seed;
    settings.budget = std::time::Duration::from_millis(budget_ms);
    let started_unix = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let total = sizes.len()
        * sel
            .kernels
            .iter()
            .map(|&k| sel.rows(k).len())
            .sum::<usize>();
    let pb = bar(total as u64);
    pb.suspend(|| println!("{}", table_header()));
    let mut results = Vec::new();
    let mut probes = vec![machine.clone()];
    let mut local = machine.clone();
    let mut measured = std::time::Instant::now();
    for &n in &sizes {
        for &k in &sel.kernels {
            pb.set_message(format!("{} n={n}: generating inputs", k.name()));
            // Bandwidth drifts on a shared host: compare each kernel with a measurement at most
            // 20 s old (a re-measurement costs seconds where the last-level cache is large).
            let rows = sel.rows(k);
            if repeats > 0
                && measured.elapsed() > std::time::Duration::from_secs(20)
                && (peers.is_some()
                    || rows
                        .iter()
                        .any(|r| matches!(r, Row::Run(i) if i.backend.is_cpu())))
            {
                pb.set_message(format!("{} n={n}: re-measuring bandwidth", k.name()));
                (local.one_thread, local.all_threads) = arrays.measure(3);
                probes.push(local.clone());
                measured = std::time::Instant::now();
            }
            let mut job = Job {
                k,
                n,
                machine: &local,
                settings: &settings,
                pb: &pb,
                repeats,
            };
            let records = job.run(&rows, peers.as_mut());
            for r in records {
                pb.suspend(|| println!("{}", table_row(&r)));
                results.push(r);
            }
            // Written after every kernel, so a run cut short (a time limit, a crash in a peer)
            // still leaves every finished kernel in a valid file.
            if let Some(path) = &json {
                let report = bench_report(
                    &machine,
                    &probes,
                    results.clone(),
                    started_unix,
                    seed,
                    &peers,
                );
                write_json(path, &report)?;
            }
        }
    }
    pb.finish_and_clear();
    let report = bench_report(&machine, &probes, results, started_unix, seed, &peers);
    let results = &report.results;
    let ceilings = &report.ceilings;
    // A backend this machine lacks (no CUDA device) is skipped, not failed.
    let skipped = results
        .iter()
        .filter(|r| {
            r.error
                .as_deref()
                .is_some_and(|e| e.starts_with("skipped:"))
        })
        .count();
    let failed = results.iter().filter(|r| r.error.is_some()).count() - skipped;
    let timed = results.iter().filter(|r| r.times.is_some()).count();
    let untimed = results.len() - failed - skipped - timed;
    println!(
        "{timed} timed, {}{failed} failed, {skipped} skipped",
        if untimed > 0 {
            format!("{untimed} verified (not timed), ")
        } else {
            String::new()
        }
    );
    for c in ceilings {
        println!(
            "ceiling {:<18} {:<5} {:>8.1} GB/s  ({})",
            c.device,
            c.pattern.name(),
            c.gbps,
            c.source
        );
    }
    if let Some(path) = json {
        write_json(&path, &report)?;
        eprintln!("wrote {}", path.display());
    }
    Ok(if failed == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

/// The results file of a run so far: implausible figures flagged, the run's ceilings (probes and
/// verified kernels) applied to every record.
fn bench_report(
    machine: &Probe,
    probes: &[Probe],
    mut results: Vec<Record>,
    started_unix: u64,
    seed: u64,
    peers: &Option<Peers>,
) -> Report {
    for r in results.iter_mut() {
        if implausible(machine, r) {
            r.flags.push(format!(
                "implausible: over {IMPLAUSIBLE}× the probe's bandwidth; not used as a ceiling"
            ));
        }
    }
    let ceilings = kroute_bench::ceilings::ceilings(probes, &results);
    kroute_bench::ceilings::apply(&ceilings, &mut results);
    Report {
        schema: SCHEMA.into(),
        kroute_version: env!("CARGO_PKG_VERSION").into(),
        started_unix,
        command: std::env::args().collect::<Vec<_>>().join(" "),
        seed,
        machine: machine.clone(),
        results,
        peers: peers
            .as_ref()
            .map(|p| {
                p.libraries
                    .iter()
                    .map(|(k, v)| (k.clone(), serde_json::to_value(v).unwrap_or_default()))
                    .collect()
            })
            .unwrap_or_default(),
        ceilings,
    }
}

/// One of kroute's rows in a `Job`: its record, the implementation (none for a skipped row) and
/// one timing per repeat.
type Ours<'a> = (
    Record,
    Option<&'a Implementation>,
    Vec<(Times, &'static str, usize)>,
);

/// One kernel at one n: inputs and the reference made once; kroute's implementations and the
/// peers verified once, then timed in `repeats` rounds that alternate which goes first
/// (kroute, peers | peers, kroute | …), so both see the same machine.
struct Job<'a> {
    k: &'static Kernel,
    n: usize,
    machine: &'a Probe,
    settings: &'a Settings,
    pb: &'a ProgressBar,
    repeats: usize,
}

impl Job<'_> {
    fn run(&mut self, rows: &[Row], mut peers: Option<&mut Peers>) -> Vec<Record> {
        let (k, n, settings) = (self.k, self.n, self.settings);
        let base = k.workload(n, settings.seed);
        let params = Params::defaults(k.spec);
        let refs: Vec<&Tensor> = base.iter().collect();
        let descs = k.check(&refs, &params).unwrap_or_default();
        let out_bytes: usize = descs.iter().map(|d| d.bytes()).sum();
        let set_bytes = (base.iter().map(Tensor::bytes).sum::<usize>() + out_bytes) as u64;
        // Rotation copies are for implementations on the host; devices flush their caches.
        let copies = if rows
            .iter()
            .any(|r| matches!(r, Row::Run(i) if i.backend.is_cpu()))
        {
            rotation_sets(set_bytes, settings)
        } else {
            1
        };
        self.pb
            .set_message(format!("{} n={n}: reference", k.name()));
        let expected = k.reference(&refs, &params);
        let pattern = kroute_bench::bench::pattern(k, &base, out_bytes);
        let mut sets = vec![base];
        for _ in 1..copies {
            sets.push(sets[0].clone());
        }
        // Verified before timed, ours and theirs.
        let mut ours: Vec<Ours> = Vec::new();
        for row in rows {
            match row {
                Row::Run(imp) => {
                    self.pb
                        .set_message(format!("{} n={n}: verifying {}", k.name(), imp.id));
                    let r = verify_one(k, imp, n, &sets, &expected);
                    ours.push((r, Some(imp), Vec::new()));
                }
                Row::Skip { id, why } => {
                    let mut r = Record::skipped(k, id, n, &params);
                    r.error = Some(why.clone());
                    ours.push((r, None, Vec::new()));
                }
            }
        }
        let dir = std::env::temp_dir().join(format!("kroute-peers-{}", std::process::id()));
        let mut tried = Vec::new();
        if let Some(p) = peers.as_deref_mut() {
            self.pb
                .set_message(format!("{} n={n}: running the peers", k.name()));
            let got = std::fs::create_dir_all(&dir)
                .map_err(|e| Error::Io(format!("{}: {e}", dir.display())))
                .and_then(|_| p.run(k, n, &sets[0], &expected, &descs, &dir));
            match got {
                Ok(t) => tried = t,
                Err(e) => self
                    .pb
                    .suspend(|| eprintln!("peers failed on {} n={n}: {e}", k.name())),
            }
        }
        let device_rotate = self.machine.gpus.first().map_or(0, |g| 4 * g.l2_bytes);
        for round in 0..self.repeats {
            for kroute_turn in [round % 2 == 0, round % 2 == 1] {
                if kroute_turn {
                    for (r, imp, rounds) in ours.iter_mut() {
                        let (Some(imp), None) = (imp, &r.error) else {
                            continue;
                        };
                        self.pb.set_message(format!(
                            "{} n={n} on {} (repeat {})",
                            k.name(),
                            imp.id,
                            round + 1
                        ));
                        match time_one(k, imp, &sets, settings) {
                            Ok(t) => rounds.push(t),
                            Err(e) => r.error = Some(format!("run failed while timing: {e}")),
                        }
                    }
                } else if let (Some(p), false) = (peers.as_deref_mut(), tried.is_empty()) {
                    self.pb.set_message(format!(
                        "{} n={n}: timing the peers (repeat {})",
                        k.name(),
                        round + 1
                    ));
                    if let Err(e) = p.time(
                        &mut tried,
                        settings.budget.as_secs_f64(),
                        settings.rotate_bytes,
                        device_rotate,
                    ) {
                        self.pb
                            .suspend(|| eprintln!("peers failed on {} n={n}: {e}", k.name()));
                        tried.clear();
                    }
                }
            }
        }
        let _ = std::fs::remove_dir_all(&dir);
        let mut out = Vec::new();
        for (mut r, imp, rounds) in ours {
            if let (Some(imp), None) = (imp, &r.error) {
                finish_one(&mut r, k, imp, &sets, &rounds, self.machine);
            }
            self.pb.inc(1);
            out.push(r);
        }
        if let Some(p) = peers {
            out.extend(peers::records(
                k,
                n,
                &tried,
                pattern,
                &p.libraries,
                self.machine,
            ));
        }
        out
    }
}

fn parse_params(params: &[String]) -> Result<Vec<(String, String)>> {
    params
        .iter()
        .map(|p| {
            p.split_once('=')
                .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
                .ok_or_else(|| Error::Param(format!("--param expects k=v, got '{p}'")))
        })
        .collect()
}

/// Resolve parameters for files: a 2-D first input fixes the row length d (docs/kernels/KERNELS.md rows × D).
fn file_params(op: &Kernel, params: &[String], inputs: &[Tensor]) -> Result<Params> {
    let mut pairs = parse_params(params)?;
    if let (Some(_), Some([_, cols])) = (op.spec.param("d"), inputs.first().map(|t| t.shape())) {
        match pairs.iter().find(|(k, _)| k == "d") {
            Some((_, v)) if v.parse::<usize>().ok() != Some(*cols) => {
                return Err(Error::Shape(format!(
                    "{}: --param d={v} disagrees with the input's rows of {cols}",
                    op.name()
                )))
            }
            Some(_) => {}
            None => pairs.push(("d".into(), cols.to_string())),
        }
    }
    Params::resolve(op.spec, &pairs)
}

fn count_check(op: &Kernel, what: &str, got: usize, want: usize, names: &[&str]) -> Result<()> {
    if got != want {
        return Err(Error::Shape(format!(
            "{} needs {want} {what} file(s) ({}), got {got}",
            op.name(),
            names.join(", ")
        )));
    }
    Ok(())
}

pub fn run(
    kernel: &str,
    params: &[String],
    inputs: &[PathBuf],
    outputs: &[PathBuf],
    backend: &str,
    implementation: Option<&str>,
    verbose: bool,
) -> Result<ExitCode> {
    let op = kroute::kernel(kernel)?;
    let names: Vec<&str> = op.inputs().iter().map(|i| i.name).collect();
    count_check(op, "--input", inputs.len(), op.inputs().len(), &names)?;
    count_check(op, "--out", outputs.len(), op.outputs().len(), op.outputs())?;
    let tensors: Vec<Tensor> = inputs.iter().map(|p| npy::read(p)).collect::<Result<_>>()?;
    let params = file_params(op, params, &tensors)?;
    let refs: Vec<&Tensor> = tensors.iter().collect();
    let (imp, why) = match (implementation, backend) {
        (Some(id), _) => (op.implementation(id)?, "named by --impl".to_string()),
        (None, "auto") => {
            let router = kroute::router::router()?;
            let req = kroute::router::Request::for_inputs(op, &refs, &params)?;
            let e = router.explain(op, &req)?;
            (
                op.implementation(&e.winner)?,
                format!("routed at n = {}: {}", req.n, e.why),
            )
        }
        (None, b) => (
            op.on(Backend::from_name(b)?)?,
            "named by --backend".to_string(),
        ),
    };
    if verbose {
        eprintln!("{} on {} ({why})", op.name(), imp.id);
    }
    let result = op.run(imp, &refs, &params)?;
    for (path, t) in outputs.iter().zip(&result) {
        npy::write(path, t)?;
        eprintln!(
            "wrote {} ({} {:?})",
            path.display(),
            t.dtype().name(),
            t.shape()
        );
    }
    Ok(ExitCode::SUCCESS)
}

pub fn workload(
    kernel: &str,
    n: f64,
    seed: u64,
    params: &[String],
    values: &str,
    dir: &Path,
) -> Result<ExitCode> {
    let op = kroute::kernel(kernel)?;
    let n = size_arg(n)?;
    let params = Params::resolve(op.spec, &parse_params(params)?)?;
    let values = Values::parse(values)?;
    std::fs::create_dir_all(dir).map_err(|e| Error::Io(format!("{}: {e}", dir.display())))?;
    let mut inputs = op.workload_with(n, seed, &params);
    inputs.iter_mut().for_each(|t| values.apply(t));
    for (k, t) in inputs.iter().enumerate() {
        let path = dir.join(format!("in{k}.npy"));
        npy::write(&path, t)?;
        println!("{}", path.display());
    }
    Ok(ExitCode::SUCCESS)
}

pub fn check(
    kernel: &str,
    params: &[String],
    inputs: &[PathBuf],
    outputs: &[PathBuf],
) -> Result<ExitCode> {
    let op = kroute::kernel(kernel)?;
    let names: Vec<&str> = op.inputs().iter().map(|i| i.name).collect();
    count_check(op, "--input", inputs.len(), op.inputs().len(), &names)?;
    count_check(
        op,
        "--output",
        outputs.len(),
        op.outputs().len(),
        op.outputs(),
    )?;
    let tensors: Vec<Tensor> = inputs.iter().map(|p| npy::read(p)).collect::<Result<_>>()?;
    let params = file_params(op, params, &tensors)?;
    let refs: Vec<&Tensor> = tensors.iter().collect();
    op.check(&refs, &params)?;
    let expected = op.reference(&refs, &params);
    let mut ok = true;
    for ((path, e), name) in outputs.iter().zip(&expected).zip(op.outputs()) {
        let got = npy::read(path)?;
        // Peers may write a scalar as shape () or (1,); both are accepted.
        let got = if got.len() == 1 && e.desc.shape.is_empty() {
            got.reshaped(&[])?
        } else {
            got
        };
        let a = compare(op.spec.tolerance, &got, e);
        println!(
            "{} {name}: worst error {:.3} of allowed{}",
            if a.passed { "PASS" } else { "FAIL" },
            a.worst_ratio,
            a.first_failure
                .map(|f| format!(" — {f}"))
                .unwrap_or_default()
        );
        ok &= a.passed;
    }
    Ok(if ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

pub fn report(
    results: &[PathBuf],
    profile: Option<&Path>,
    accuracy: &[PathBuf],
    out: &Path,
) -> Result<ExitCode> {
    let run = kroute_bench::report::load(results).map_err(Error::Io)?;
    let mut extra = Vec::new();
    if let Some(p) = profile {
        // Any kroute profile, from any machine: the report describes the machine it measured.
        let prof = kroute::router::Profile::load(p)?;
        let r = kroute_bench::routing::routing(&prof);
        extra.push(kroute_bench::routing::markdown(&r, &file_name(p)));
    }
    let checks = accuracy
        .iter()
        .map(|p| kroute_bench::accuracy::Check::load(p).map_err(Error::Io))
        .collect::<Result<Vec<_>>>()?;
    if let Some(c) = kroute_bench::accuracy::merge(checks) {
        let names: Vec<String> = accuracy.iter().map(|p| file_name(p)).collect();
        extra.push(kroute_bench::accuracy::markdown(&c, &names.join("`, `")));
    }
    let files = kroute_bench::report::write(&run, &extra, out).map_err(Error::Io)?;
    println!(
        "wrote {} ({} chart(s))",
        files[0].display(),
        files.len() - 1
    );
    Ok(ExitCode::SUCCESS)
}

fn file_name(p: &Path) -> String {
    p.file_name()
        .map_or_else(|| p.display().to_string(), |f| f.to_string_lossy().into())
}
