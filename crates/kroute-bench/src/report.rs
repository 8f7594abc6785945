//! `kroute report`: the conclusions a run supports, written for a person — the machine and its
//! measured ceilings, who wins each kernel and by how much, where kroute loses, where the GPU wins
//! and why (arithmetic intensity), bandwidth against the ceilings, CPU → GPU crossovers when the
//! run covers several sizes, what fusion saves, and every verification failure. Charts are in
//! `charts.rs`.
//!
//! Comparisons are like with like: a row is compared with rows of its class — one CPU thread,
//! all CPU threads, or the GPU — unless a section says it compares the best of everything.

use crate::ceilings::{self, device_key};
use crate::charts;
use crate::probe::Probe;
use crate::schema::{Ceiling, Record, Report};
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

/// Results from one or more `bench --json` files, with their machine and ceilings.
pub struct Run {
    pub files: Vec<(PathBuf, Report)>,
    pub results: Vec<Record>,
    pub ceilings: Vec<Ceiling>,
}

/// Load results files; none gives an empty run (a report of other inputs alone).
pub fn load(paths: &[PathBuf]) -> Result<Run, String> {
    let mut files = Vec::new();
    for p in paths {
        let text = std::fs::read_to_string(p).map_err(|e| format!("{}: {e}", p.display()))?;
        let r: Report = serde_json::from_str(&text)
            .map_err(|e| format!("{}: not a kroute bench file: {e}", p.display()))?;
        files.push((p.clone(), r));
    }
    // One row per (kernel, implementation, n): a later file replaces an earlier one's row.
    let mut index: BTreeMap<(String, String, usize), usize> = BTreeMap::new();
    let mut results: Vec<Record> = Vec::new();
    for (_, rep) in &files {
        for r in &rep.results {
            let key = (r.kernel.clone(), r.implementation.clone(), r.n);
            match index.get(&key) {
                Some(&i) => results[i] = r.clone(),
                None => {
                    index.insert(key, results.len());
                    results.push(r.clone());
                }
            }
        }
    }
    let probes: Vec<Probe> = files.iter().map(|(_, r)| r.machine.clone()).collect();
    // The highest figure per device and pattern across the files and the merged results.
    let ceilings = ceilings::best(
        files
            .iter()
            .flat_map(|(_, r)| r.ceilings.clone())
            .chain(ceilings::ceilings(&probes, &results)),
    );
    ceilings::apply(&ceilings, &mut results);
    Ok(Run {
        files,
        results,
        ceilings,
    })
}

/// kroute's own rows (a backend kroute has), as opposed to a peer library's.
pub fn is_kroute(r: &Record) -> bool {
    r.idiom.is_none() && kroute::Backend::from_name(&r.backend).is_ok()
}

fn is_chain(r: &Record) -> bool {
    r.implementation.ends_with("-chain")
}

/// Verified, timed and not refused as implausible.
pub fn counts(r: &Record) -> bool {
    r.verified && r.times.is_some() && !r.flags.iter().any(|f| f.starts_with("implausible"))
}

pub fn secs(r: &Record) -> f64 {
    r.times.as_ref().map_or(f64::NAN, |t| t.median_s)
}

/// The class a row is compared within.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Class {
    OneThread,
    AllThreads,
    Gpu,
}

impl Class {
    pub const ALL: [Class; 3] = [Class::OneThread, Class::AllThreads, Class::Gpu];
    pub fn of(r: &Record) -> Class {
        let k = device_key(r);
        if !k.starts_with("cpu") {
            Class::Gpu
        } else if k == "cpu, 1 thread" {
            Class::OneThread
        } else {
            Class::AllThreads
        }
    }
    pub fn name(self) -> &'static str {
        match self {
            Class::OneThread => "CPU, 1 thread",
            Class::AllThreads => "CPU, all threads",
            Class::Gpu => "GPU",
        }
    }
}

/// One kernel at one size: its rows.
pub struct Group<'a> {
    pub kernel: &'a str,
    pub domain: &'a str,
    pub n: usize,
    pub rows: Vec<&'a Record>,
}

impl<'a> Group<'a> {
    fn fastest(&self, keep: impl Fn(&Record) -> bool) -> Option<&'a Record> {
        self.rows
            .iter()
            .copied()
            .filter(|r| counts(r) && keep(r))
            .min_by(|a, b| secs(a).total_cmp(&secs(b)))
    }
    pub fn ours(&self, class: Option<Class>) -> Option<&'a Record> {
        self.fastest(|r| is_kroute(r) && class.is_none_or(|c| Class::of(r) == c))
    }
    /// The best peer: the fastest verified library row (its fastest idiom), chains aside.
    pub fn peer(&self, class: Option<Class>) -> Option<&'a Record> {
        self.fastest(|r| !is_kroute(r) && !is_chain(r) && class.is_none_or(|c| Class::of(r) == c))
    }
    pub fn library(&self, lib: &str) -> Option<&'a Record> {
        self.fastest(|r| r.implementation == lib)
    }
    pub fn winner(&self) -> Option<&'a Record> {
        self.fastest(|r| !is_chain(r))
    }
}

pub fn groups(results: &[Record]) -> Vec<Group<'_>> {
    let mut order: Vec<(String, usize)> = Vec::new();
    let mut by: BTreeMap<(String, usize), Vec<&Record>> = BTreeMap::new();
    for r in results {
        let key = (r.kernel.clone(), r.n);
        if !by.contains_key(&key) {
            order.push(key.clone());
        }
        by.entry(key).or_default().push(r);
    }
    // Catalog order of first appearance, sizes ascending within a kernel.
    let first: BTreeMap<String, usize> = order
        .iter()
        .enumerate()
        .rev()
        .map(|(i, (k, _))| (k.clone(), i))
        .collect();
    order.sort_by_key(|(k, n)| (first[k], *n));
    order
        .into_iter()
        .map(|key| {
            let rows = by.remove(&key).unwrap_or_default();
            Group {
                kernel: &rows[0].kernel,
                domain: &rows[0].domain,
                n: key.1,
                rows,
            }
        })
        .collect()
}

/// Median, geometric mean, min and max of ratios.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Stats {
    pub count: usize,
    pub above_one: usize,
    pub median: f64,
    pub geomean: f64,
    pub min: f64,
    pub max: f64,
}

pub fn stats(v: &[f64]) -> Option<Stats> {
    let mut s: Vec<f64> = v
        .iter()
        .copied()
        .filter(|x| x.is_finite() && *x > 0.0)
        .collect();
    if s.is_empty() {
        return None;
    }
    s.sort_by(f64::total_cmp);
    let m = s.len();
    Some(Stats {
        count: m,
        above_one: s.iter().filter(|&&x| x > 1.0).count(),
        median: crate::bench::median(&s),
        geomean: (s.iter().map(|x| x.ln()).sum::<f64>() / m as f64).exp(),
        min: s[0],
        max: s[m - 1],
    })
}

pub fn fmt_time(s: f64) -> String {
    kroute::router::fmt_seconds(s, 2)
}

fn fmt_n(n: usize) -> String {
    let e = (n as f64).log10();
    if n >= 1000 && (e - e.round()).abs() < 1e-9 {
        format!("10^{}", e.round())
    } else {
        n.to_string()
    }
}

fn name(r: &Record) -> String {
    match &r.idiom {
        Some(i) => format!("{} `{}`", r.implementation, i.replace('|', "\\|")),
        None => r.implementation.clone(),
    }
}

/// A ratio with enough digits to tell 0.996 from 1.
pub fn ratio(x: f64) -> String {
    if (0.99..1.01).contains(&x) {
        format!("{x:.3}×")
    } else {
        format!("{x:.2}×")
    }
}

fn ratio_cell(x: f64) -> String {
    if !x.is_finite() {
        "—".into()
    } else if x >= 1.0 {
        format!("**{}**", ratio(x))
    } else {
        format!("{} (slower)", ratio(x))
    }
}

/// Whether two rows' difference is inside the larger of their spreads across repeats (or, for
/// a row timed once, its own p90 − median).
fn within_noise(a: &Record, b: &Record) -> bool {
    let own = |r: &Record| {
        spread(r).map(|s| s / 100.0).unwrap_or_else(|| {
            r.times
                .as_ref()
                .map_or(0.0, |t| (t.p90_s - t.median_s) / t.median_s)
        })
    };
    let d = (secs(a) / secs(b) - 1.0).abs();
    d <= own(a).max(own(b))
}

/// Spread of a row's medians across the alternating repeats, in percent of its median.
fn spread(r: &Record) -> Option<f64> {
    if r.repeats.len() < 2 {
        return None;
    }
    let lo = r.repeats.iter().copied().fold(f64::INFINITY, f64::min);
    let hi = r.repeats.iter().copied().fold(0.0, f64::max);
    Some(100.0 * (hi - lo) / secs(r))
}

/// Write `report.md` and the charts into `dir`; returns the files written. `extra` are
/// sections written from other inputs (the routing table, the router's accuracy), placed
/// before the charts; with no results files the report is those sections alone.
pub fn write(run: &Run, extra: &[String], dir: &Path) -> Result<Vec<PathBuf>, String> {
    std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    if run.files.is_empty() {
        let path = dir.join("report.md");
        let md = format!(
            "# kroute report: the router\n\nWritten by `kroute report` from the inputs named below.\n\n{}",
            extra.concat()
        );
        std::fs::write(&path, md).map_err(|e| format!("{}: {e}", path.display()))?;
        return Ok(vec![path]);
    }
    let groups = groups(&run.results);
    let mut written = Vec::new();
    let mut md = String::new();
    let (_, first) = &run.files[0];
    let _ = writeln!(md, "# kroute report: {}\n", machine_title(&first.machine));
    md += &header(run);
    md += &machine(run);
    md += &coverage(&groups);
    md += &summary(&groups);
    md += &losses(&groups);
    md += &domains(&groups);
    md += &kernels(&groups);
    md += &gpu_vs_cpu(&groups);
    md += &crossovers(&groups);
    md += &fusion(&groups);
    md += &bandwidth(&groups);
    md += &failures(&run.results);
    md += &extra.concat();
    md += "## Charts\n\n";
    let charts = charts::all(&groups, &run.ceilings, dir)?;
    for (file, caption) in &charts {
        let rel = file.strip_prefix(dir).unwrap_or(file);
        if rel.starts_with("size") {
            continue;
        }
        let _ = writeln!(md, "![{caption}]({})\n\n*{caption}*\n", rel.display());
    }
    let sizes: Vec<_> = charts
        .iter()
        .filter(|(f, _)| f.strip_prefix(dir).is_ok_and(|r| r.starts_with("size")))
        .collect();
    if !sizes.is_empty() {
        md += "Time against size, per kernel: ";
        md += &sizes
            .iter()
            .map(|(f, c)| format!("[{c}]({})", f.strip_prefix(dir).unwrap_or(f).display()))
            .collect::<Vec<_>>()
            .join(", ");
        md += ".\n";
    }
    written.extend(charts.into_iter().map(|(f, _)| f));
    let path = dir.join("report.md");
    std::fs::write(&path, md).map_err(|e| format!("{}: {e}", path.display()))?;
    written.insert(0, path);
    Ok(written)
}

fn machine_title(m: &Probe) -> String {
    let gpu = m
        .gpus
        .first()
        .map_or(String::new(), |g| format!(" + {}", g.name));
    format!("{} ({} threads){gpu}", m.cpu_model, m.threads)
}

fn header(run: &Run) -> String {
    let mut s = String::new();
    s += "Written by `kroute report` from the results below; every figure in it comes from them. \
          Each row was verified against kroute's f64 reference (the kernel's tolerance) before it was \
          timed; peers are the fastest verified idiom of each library (`kroute bench --peers`), \
          timed in the same run as kroute, alternating with it.\n\n";
    s += "| results file | started (UTC) | command |\n| --- | --- | --- |\n";
    for (p, r) in &run.files {
        let _ = writeln!(
            s,
            "| `{}` | {} | `{}` |",
            p.file_name()
                .map_or(String::new(), |f| f.to_string_lossy().into()),
            utc(r.started_unix),
            r.command
        );
    }
    s.push('\n');
    s
}

/// Seconds since the epoch as "YYYY-MM-DD HH:MM" (civil-from-days, proleptic Gregorian).
pub fn utc(t: u64) -> String {
    let days = (t / 86400) as i64;
    let (h, mi) = ((t % 86400) / 3600, (t % 3600) / 60);
    let z = days + 719468;
    let era = z.div_euclid(146097);
    let doe = z - era * 146097;
    let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!("{y:04}-{m:02}-{d:02} {h:02}:{mi:02}")
}

fn machine(run: &Run) -> String {
    let m = &run.files[0].1.machine;
    let mut s = String::from("## The machine\n\n");
    let _ = writeln!(
        s,
        "- CPU: {}, {} logical cores, kroute's pool {} threads, SIMD dispatched: {}, last-level cache {:.0} MB.",
        m.cpu_model,
        m.logical_cores,
        m.threads,
        m.simd,
        m.llc_bytes as f64 / 1e6
    );
    let _ = writeln!(
        s,
        "- Memory, measured by the probe's loops (GB/s read / copy / triad): 1 thread {:.1} / {:.1} / {:.1}; {} threads {:.1} / {:.1} / {:.1}.",
        m.one_thread.read, m.one_thread.copy, m.one_thread.triad, m.threads, m.all_threads.read, m.all_threads.copy, m.all_threads.triad
    );
    for g in &m.gpus {
        let _ = writeln!(
            s,
            "- GPU: {} (compute capability {}, {} SMs, {:.0} GB, L2 {:.0} MB), driver CUDA {}; device copy {:.0} GB/s; \
             host→device {:.1} GB/s pinned, {:.1} pageable; a tiny kernel's launch to result {:.1} µs.",
            g.name,
            g.compute_capability,
            g.sms,
            g.memory_bytes as f64 / 1e9,
            g.l2_bytes as f64 / 1e6,
            g.driver_cuda_version,
            g.d2d_copy_gbps,
            g.h2d_pinned_gbps,
            g.h2d_pageable_gbps,
            g.launch_to_result_us
        );
    }
    if m.gpus.is_empty() && !m.gpu_note.is_empty() {
        let _ = writeln!(s, "- GPU: none ({}).", m.gpu_note);
    }
    // Results files written before the health probe existed carry none (cpus 0).
    if m.health.cpus > 0 {
        let why = m.health.too_busy();
        let _ = writeln!(
            s,
            "- Health when the run started: {}.",
            if why.is_empty() {
                "quiet enough to measure".to_string()
            } else {
                format!("**too busy to measure reliably** ({})", why.join("; "))
            }
        );
    }
    let peers: BTreeMap<&String, &serde_json::Value> =
        run.files.iter().flat_map(|(_, r)| r.peers.iter()).collect();
    if !peers.is_empty() {
        s += "\nPeers:\n\n| library | version | device | threads | clock |\n| --- | --- | --- | --- | --- |\n";
        for (name, v) in peers {
            let g = |k: &str| {
                v.get(k).map_or(String::new(), |x| {
                    x.as_str().map_or(x.to_string(), String::from)
                })
            };
            if let Some(e) = v.get("error").and_then(|e| e.as_str()) {
                let _ = writeln!(s, "| {name} | not available: {e} | | | |");
            } else {
                let _ = writeln!(
                    s,
                    "| {name} | {} | {} | {} | {} |",
                    g("version"),
                    g("device"),
                    v.get("threads")
                        .and_then(|t| t.as_u64())
                        .map_or("—".into(), |t| t.to_string()),
                    g("timing")
                );
            }
        }
    }
    s += "\n### Ceilings\n\nThe best bandwidth seen per device and access pattern: the probe's loops \
          (at the start of the run and re-measured before each kernel) or the fastest verified kernel \
          of the run, whichever is higher. \"% of ceiling\" below is against these.\n\n\
          | device | pattern | GB/s | from |\n| --- | --- | ---: | --- |\n";
    for c in &run.ceilings {
        let _ = writeln!(
            s,
            "| {} | {} | {:.1} | {} |",
            c.device,
            c.pattern.name(),
            c.gbps,
            c.source
        );
    }
    s.push('\n');
    s
}

/// What the results cover: per class, the sizes, kernels and libraries timed — so a reader
/// sees what a claim rests on and what was not measured.
fn coverage(groups: &[Group]) -> String {
    let mut s = String::from(
        "## What was measured\n\n| class | n | kernels | kroute implementations | peers |\n| --- | --- | ---: | --- | --- |\n",
    );
    let mut sizes: Vec<usize> = groups.iter().map(|g| g.n).collect();
    sizes.sort_unstable();
    sizes.dedup();
    let all_kernels: std::collections::BTreeSet<&str> = groups.iter().map(|g| g.kernel).collect();
    for c in Class::ALL {
        for &n in &sizes {
            let mut kernels = std::collections::BTreeSet::new();
            let mut ours = std::collections::BTreeSet::new();
            let mut peers = std::collections::BTreeSet::new();
            for g in groups.iter().filter(|g| g.n == n) {
                for r in g.rows.iter().filter(|r| counts(r) && Class::of(r) == c) {
                    kernels.insert(g.kernel);
                    if is_kroute(r) {
                        ours.insert(r.implementation.as_str());
                    } else if !is_chain(r) {
                        peers.insert(r.backend.as_str());
                    }
                }
            }
            if kernels.is_empty() {
                continue;
            }
            let join = |v: &std::collections::BTreeSet<&str>| {
                if v.is_empty() {
                    "none".to_string()
                } else {
                    v.iter().copied().collect::<Vec<_>>().join(", ")
                }
            };
            let _ = writeln!(
                s,
                "| {} | {} | {} of {} | {} | {} |",
                c.name(),
                fmt_n(n),
                kernels.len(),
                all_kernels.len(),
                join(&ours),
                join(&peers)
            );
        }
    }
    s.push('\n');
    s
}

fn summary(groups: &[Group]) -> String {
    let mut s = String::from("## Summary\n\n");
    let kernels: std::collections::BTreeSet<&str> = groups.iter().map(|g| g.kernel).collect();
    let sizes: std::collections::BTreeSet<usize> = groups.iter().map(|g| g.n).collect();
    let _ = writeln!(
        s,
        "{} kernels at {} size(s) ({}): {} (kernel, size) pairs.\n",
        kernels.len(),
        sizes.len(),
        sizes
            .iter()
            .map(|&n| fmt_n(n))
            .collect::<Vec<_>>()
            .join(", "),
        groups.len()
    );
    // Wins: the fastest verified row of each pair, over kroute and every peer.
    let mut wins: BTreeMap<String, usize> = BTreeMap::new();
    let mut decided = 0;
    for g in groups {
        if let Some(w) = g.winner() {
            *wins.entry(w.implementation.clone()).or_default() += 1;
            decided += 1;
        }
    }
    let ours: usize = wins
        .iter()
        .filter(|(k, _)| kroute::Backend::from_name(k).is_ok())
        .map(|(_, v)| v)
        .sum();
    let _ = writeln!(
        s,
        "**Fastest of everything timed** (kroute and every peer, any device): kroute on {ours} of {decided} pairs.\n"
    );
    s += "| implementation | wins | share |\n| --- | ---: | ---: |\n";
    let mut w: Vec<_> = wins.into_iter().collect();
    w.sort_by_key(|x| std::cmp::Reverse(x.1));
    for (imp, c) in w {
        let _ = writeln!(
            s,
            "| {imp} | {c} | {:.0}% |",
            100.0 * c as f64 / decided.max(1) as f64
        );
    }
    s += "\n**kroute against the best peer, like with like** (time of the fastest verified peer ÷ time of \
          kroute's fastest implementation in the same class; above 1 kroute is faster):\n\n\
          | class | pairs | kroute faster | median | geometric mean | range |\n| --- | ---: | ---: | ---: | ---: | --- |\n";
    for c in Class::ALL {
        let v: Vec<f64> = groups
            .iter()
            .filter_map(|g| Some(secs(g.peer(Some(c))?) / secs(g.ours(Some(c))?)))
            .collect();
        if let Some(st) = stats(&v) {
            let _ = writeln!(
                s,
                "| {} | {} | {} | {:.2}× | {:.2}× | {:.2}–{:.2}× |",
                c.name(),
                st.count,
                st.above_one,
                st.median,
                st.geomean,
                st.min,
                st.max
            );
        }
    }
    let v: Vec<f64> = groups
        .iter()
        .filter_map(|g| Some(secs(g.library("numpy")?) / secs(g.ours(Some(Class::OneThread))?)))
        .collect();
    if let Some(st) = stats(&v) {
        let _ = writeln!(
            s,
            "| numpy vs kroute on 1 thread | {} | {} | {:.2}× | {:.2}× | {:.2}–{:.2}× |",
            st.count, st.above_one, st.median, st.geomean, st.min, st.max
        );
    }
    let v: Vec<f64> = groups
        .iter()
        .filter_map(|g| Some(secs(g.library("numpy")?) / secs(g.ours(None)?)))
        .collect();
    if let Some(st) = stats(&v) {
        let _ = writeln!(
            s,
            "| numpy vs kroute's best anywhere | {} | {} | {:.2}× | {:.2}× | {:.2}–{:.2}× |",
            st.count, st.above_one, st.median, st.geomean, st.min, st.max
        );
    }
    s.push('\n');
    s
}

fn losses(groups: &[Group]) -> String {
    let mut rows = Vec::new();
    for g in groups {
        for c in Class::ALL {
            let (Some(o), Some(p)) = (g.ours(Some(c)), g.peer(Some(c))) else {
                continue;
            };
            let r = secs(p) / secs(o);
            if r < 1.0 {
                rows.push(format!(
                    "| {} | {} | {} | {} {} | {} {} | {} | {} |",
                    g.kernel,
                    fmt_n(g.n),
                    c.name(),
                    o.implementation,
                    fmt_time(secs(o)),
                    name(p),
                    fmt_time(secs(p)),
                    ratio(r),
                    if within_noise(o, p) {
                        "within"
                    } else {
                        "beyond"
                    }
                ));
            }
        }
    }
    let mut s = String::from("## Where kroute loses\n\n");
    if rows.is_empty() {
        s += "Nowhere in these results: in every class and pair measured, kroute's fastest implementation was \
              at least as fast as the best verified peer.\n\n";
        return s;
    }
    let _ = writeln!(
        s,
        "{} (kernel, size, class) comparisons where a peer was faster than kroute's best in the same class. \
         \"Spread\" says whether the gap is within or beyond the larger of the two rows' spreads across the \
         alternating repeats (a row timed once: its p90 − median).\n",
        rows.len()
    );
    s += "| kernel | n | class | kroute | peer | peer ÷ kroute | spread |\n| --- | --- | --- | --- | --- | ---: | --- |\n";
    s += &rows.join("\n");
    s += "\n\n";
    s
}

fn domains(groups: &[Group]) -> String {
    let classes: Vec<Class> = Class::ALL
        .into_iter()
        .filter(|&c| {
            groups
                .iter()
                .any(|g| g.ours(Some(c)).is_some() && g.peer(Some(c)).is_some())
        })
        .collect();
    let mut s = String::from(
        "## Per domain\n\nWinners count the fastest verified row of each (kernel, size) over kroute and every peer. \
         Then, per class, best peer ÷ kroute's best in that class: median and range over the domain's kernels \
         and sizes (above 1: kroute faster).\n\n| domain | pairs | winners |",
    );
    for c in &classes {
        let _ = write!(s, " {} |", c.name());
    }
    s += "\n| --- | ---: | --- |";
    s += &" --- |".repeat(classes.len());
    s.push('\n');
    let mut by: BTreeMap<&str, Vec<&Group>> = BTreeMap::new();
    for g in groups {
        by.entry(g.domain).or_default().push(g);
    }
    for (d, gs) in by {
        let mut wins: BTreeMap<String, usize> = BTreeMap::new();
        for g in &gs {
            if let Some(w) = g.winner() {
                *wins.entry(w.implementation.clone()).or_default() += 1;
            }
        }
        let mut w: Vec<_> = wins.into_iter().collect();
        w.sort_by_key(|x| std::cmp::Reverse(x.1));
        let _ = write!(
            s,
            "| {d} | {} | {} |",
            gs.len(),
            w.iter()
                .map(|(k, c)| format!("{k} {c}"))
                .collect::<Vec<_>>()
                .join(", ")
        );
        for &c in &classes {
            let v: Vec<f64> = gs
                .iter()
                .filter_map(|g| Some(secs(g.peer(Some(c))?) / secs(g.ours(Some(c))?)))
                .collect();
            let cell = stats(&v).map_or("—".into(), |st| {
                if st.count == 1 {
                    ratio(st.median)
                } else {
                    format!("{} ({:.2}–{:.2})", ratio(st.median), st.min, st.max)
                }
            });
            let _ = write!(s, " {cell} |");
        }
        s.push('\n');
    }
    s.push('\n');
    s
}

fn kernels(groups: &[Group]) -> String {
    let mut s = String::from(
        "## Every kernel\n\nkroute's fastest implementation and the best verified peer, each within a class (time, \
         GB/s, % of the ceiling for its device and pattern; ± is the spread of kroute's medians across the \
         alternating repeats).\n\n\
         | kernel | n | class | kroute | time ± | GB/s | % ceiling | best peer | time | peer ÷ kroute |\n\
         | --- | --- | --- | --- | --- | ---: | ---: | --- | --- | ---: |\n",
    );
    for g in groups {
        for c in Class::ALL {
            let o = g.ours(Some(c));
            let p = g.peer(Some(c));
            if o.is_none() && p.is_none() {
                continue;
            }
            let cell = |r: Option<&Record>| r.map_or("—".into(), |r| fmt_time(secs(r)));
            let _ = writeln!(
                s,
                "| {} | {} | {} | {} | {}{} | {} | {} | {} | {} | {} |",
                g.kernel,
                fmt_n(g.n),
                c.name(),
                o.map_or("—".into(), |r| r.implementation.clone()),
                cell(o),
                o.and_then(spread)
                    .map_or(String::new(), |x| format!(" ±{x:.0}%")),
                o.and_then(|r| r.gbps)
                    .map_or("—".into(), |x| format!("{x:.1}")),
                o.and_then(|r| r.pct_of_peak)
                    .filter(|x| x.is_finite())
                    .map_or("—".into(), |x| format!("{x:.0}%")),
                p.map_or("—".into(), name),
                cell(p),
                match (o, p) {
                    (Some(o), Some(p)) => ratio_cell(secs(p) / secs(o)),
                    _ => "—".into(),
                }
            );
        }
    }
    s.push('\n');
    s
}

/// Arithmetic intensity, flops per byte of the spec's minimal traffic.
fn intensity(r: &Record) -> f64 {
    r.flops / r.bytes
}

fn gpu_vs_cpu(groups: &[Group]) -> String {
    let mut s = String::from("## Where the GPU wins, and why\n\n");
    let with_gpu: Vec<&Group> = groups
        .iter()
        .filter(|g| {
            g.rows
                .iter()
                .any(|r| Class::of(r) == Class::Gpu && counts(r))
        })
        .collect();
    if with_gpu.is_empty() {
        s += "No GPU row in these results.\n\n";
        return s;
    }
    s += "Best CPU row (kroute or peer) against kroute's CUDA implementation, with data already on the GPU \
          (device-resident) and with the inputs on the host (upload, kernel, download: host-to-result). \
          Arithmetic intensity is flops per byte of minimal traffic.\n\n\
          | kernel | n | flops/byte | best CPU | GPU, device-resident | CPU ÷ GPU | GPU, host-to-result | CPU ÷ GPU |\n\
          | --- | --- | ---: | --- | --- | ---: | --- | ---: |\n";
    let (mut dev_w, mut host_w, mut total) = (Vec::new(), Vec::new(), 0usize);
    let mut lose_i = Vec::new();
    for g in &with_gpu {
        let cpu = g.fastest(|r| Class::of(r) != Class::Gpu && !is_chain(r));
        let gpu = g.ours(Some(Class::Gpu));
        let (Some(c), Some(u)) = (cpu, gpu) else {
            continue;
        };
        total += 1;
        let d = secs(c) / secs(u);
        let h = u.host_to_result_s.map_or(f64::NAN, |h| secs(c) / h);
        let i = intensity(u);
        if d > 1.0 {
            dev_w.push(i);
        } else {
            lose_i.push(i);
        }
        if h > 1.0 {
            host_w.push(i);
        }
        let _ = writeln!(
            s,
            "| {} | {} | {:.2} | {} {} | {} | {} | {} | {} |",
            g.kernel,
            fmt_n(g.n),
            i,
            name(c),
            fmt_time(secs(c)),
            fmt_time(secs(u)),
            ratio_cell(d),
            u.host_to_result_s.map_or("—".into(), fmt_time),
            ratio_cell(h)
        );
    }
    let med = |v: &[f64]| stats(v).map_or("—".into(), |s| format!("{:.2}", s.median));
    let _ = writeln!(
        s,
        "\nWith the data on the GPU, kroute's CUDA implementation beats the best CPU row on {} of {total} pairs \
         (median intensity of those {}, of the others {}). With the data on the host — the inputs uploaded and \
         the outputs downloaded in the timed window — it beats it on {} of {total}.\n",
        dev_w.len(),
        med(&dev_w),
        med(&lose_i),
        host_w.len()
    );
    s
}

/// Where, in log–log between two measured sizes, kroute's GPU time crosses its best CPU time.
fn crossovers(groups: &[Group]) -> String {
    let mut s = String::from("## CPU → GPU crossover\n\n");
    let mut by: BTreeMap<&str, Vec<&Group>> = BTreeMap::new();
    for g in groups {
        by.entry(g.kernel).or_default().push(g);
    }
    let multi: Vec<_> = by.iter().filter(|(_, gs)| gs.len() >= 2).collect();
    let any_gpu = groups.iter().any(|g| g.ours(Some(Class::Gpu)).is_some());
    if multi.is_empty() || !any_gpu {
        s += "Needs results at several sizes with both CPU and GPU rows; these have none.\n\n";
        return s;
    }
    s += "kroute's best CPU implementation against its CUDA one, interpolated in log–log between the sizes \
          measured. \"GPU from the first size\" means the GPU was already faster at the smallest size run.\n\n\
          | kernel | sizes | device-resident data | host-resident data |\n| --- | --- | --- | --- |\n";
    for (k, gs) in multi {
        let pts = |host: bool| -> Vec<(f64, f64)> {
            gs.iter()
                .filter_map(|g| {
                    let c = secs(g.fastest(|r| is_kroute(r) && Class::of(r) != Class::Gpu)?);
                    let u = g.ours(Some(Class::Gpu))?;
                    let gt = if host { u.host_to_result_s? } else { secs(u) };
                    Some((g.n as f64, c / gt))
                })
                .collect()
        };
        let _ = writeln!(
            s,
            "| {k} | {} | {} | {} |",
            gs.iter().map(|g| fmt_n(g.n)).collect::<Vec<_>>().join(", "),
            crossing(&pts(false)),
            crossing(&pts(true))
        );
    }
    s.push('\n');
    s
}

/// Describe where ratio (CPU time ÷ GPU time) crosses 1 over sizes.
pub fn crossing(pts: &[(f64, f64)]) -> String {
    if pts.is_empty() {
        return "—".into();
    }
    if pts.iter().all(|p| p.1 > 1.0) {
        return format!("GPU from the first size ({})", fmt_n(pts[0].0 as usize));
    }
    if pts.iter().all(|p| p.1 <= 1.0) {
        return format!(
            "CPU at every size up to {}",
            fmt_n(pts[pts.len() - 1].0 as usize)
        );
    }
    for w in pts.windows(2) {
        let ((n0, r0), (n1, r1)) = (w[0], w[1]);
        if r0 <= 1.0 && r1 > 1.0 {
            let t = -r0.ln() / (r1.ln() - r0.ln());
            let n = (n0.ln() + t * (n1.ln() - n0.ln())).exp();
            return format!("GPU above n ≈ {}", sig(n));
        }
    }
    "mixed (no single crossing)".into()
}

fn sig(x: f64) -> String {
    let e = x.log10().floor() as i32;
    format!("{:.1}e{e}", x / 10f64.powi(e))
}

fn fusion(groups: &[Group]) -> String {
    let with: Vec<&Group> = groups
        .iter()
        .filter(|g| g.rows.iter().any(|r| is_chain(r)))
        .collect();
    let mut s = String::from("## What fusion saves\n\n");
    if with.is_empty() {
        s += "No fused kernel here had a library whose fastest idiom was a single call beside an unfused chain.\n\n";
        return s;
    }
    s += "Fused kernels, where a library offers both a single call and the unfused chain of calls: kroute's one \
          pass against each.\n\n| kernel | n | kroute | library, single call | library, unfused chain |\n| --- | --- | --- | --- | --- |\n";
    for g in with {
        for chain in g.rows.iter().filter(|r| is_chain(r) && counts(r)) {
            let call = g.library(&chain.backend);
            let c = Class::of(chain);
            let o = g.ours(Some(c));
            let _ = writeln!(
                s,
                "| {} | {} | {} | {} | {} {} |",
                g.kernel,
                fmt_n(g.n),
                o.map_or("—".into(), |o| format!(
                    "{} {}",
                    o.implementation,
                    fmt_time(secs(o))
                )),
                call.map_or("—".into(), |r| format!(
                    "{} {}",
                    name(r),
                    fmt_time(secs(r))
                )),
                name(chain),
                fmt_time(secs(chain))
            );
        }
    }
    s.push('\n');
    s
}

fn bandwidth(groups: &[Group]) -> String {
    let mut s = String::from(
        "## Bandwidth against the ceilings\n\nkroute's rows at the largest size of each kernel, by class: the median \
         and the lowest % of ceiling (memory-bound kernels only: those whose spec counts under 1 flop per byte).\n\n\
         | class | rows | median % of ceiling | lowest |\n| --- | ---: | ---: | --- |\n",
    );
    let largest: BTreeMap<&str, usize> = groups.iter().fold(BTreeMap::new(), |mut m, g| {
        let e = m.entry(g.kernel).or_insert(0);
        *e = (*e).max(g.n);
        m
    });
    for c in Class::ALL {
        let mut v: Vec<(f64, String)> = Vec::new();
        for g in groups.iter().filter(|g| largest[g.kernel] == g.n) {
            for r in g
                .rows
                .iter()
                .filter(|r| is_kroute(r) && counts(r) && Class::of(r) == c)
            {
                if let Some(p) = r.pct_of_peak.filter(|p| p.is_finite()) {
                    if intensity(r) < 1.0 {
                        v.push((p, format!("{} on {} {:.0}%", r.kernel, r.implementation, p)));
                    }
                }
            }
        }
        if v.is_empty() {
            continue;
        }
        let st = stats(&v.iter().map(|x| x.0).collect::<Vec<_>>()).expect("non-empty");
        let low = v
            .iter()
            .min_by(|a, b| a.0.total_cmp(&b.0))
            .map(|x| x.1.clone())
            .unwrap_or_default();
        let _ = writeln!(
            s,
            "| {} | {} | {:.0}% | {low} |",
            c.name(),
            v.len(),
            st.median
        );
    }
    s.push('\n');
    s
}

fn failures(results: &[Record]) -> String {
    let mut s = String::from("## Verification failures\n\n");
    let mut rows = Vec::new();
    for r in results {
        if let Some(e) = &r.error {
            // A peer's failing row repeats its idioms' verdicts, listed below.
            if !e.starts_with("skipped:") && r.alternatives.is_empty() {
                rows.push(format!(
                    "| {} | {} | {} | {} |",
                    r.kernel,
                    fmt_n(r.n),
                    r.implementation,
                    short(e)
                ));
            }
        }
        if r.implementation.ends_with("-chain") {
            continue; // its idioms are listed with the library's own row
        }
        for a in &r.alternatives {
            if let Some(e) = a
                .error
                .as_ref()
                .filter(|_| !a.verified || a.error.is_some())
            {
                rows.push(format!(
                    "| {} | {} | {} `{}` | {} |",
                    r.kernel,
                    fmt_n(r.n),
                    r.implementation,
                    a.idiom.replace('|', "\\|"),
                    short(e)
                ));
            }
        }
    }
    if rows.is_empty() {
        s += "None: every implementation and every peer idiom tried passed verification.\n\n";
    } else {
        let _ = writeln!(
            s,
            "Every row and peer idiom that was refused (never timed, never a winner): {}.\n",
            rows.len()
        );
        s += "| kernel | n | implementation or idiom | why |\n| --- | --- | --- | --- |\n";
        s += &rows.join("\n");
        s += "\n\n";
    }
    s
}

fn short(e: &str) -> String {
    let e = e.replace('|', "\\|").replace('\n', " ");
    if e.chars().count() > 160 {
        format!("{}…", e.chars().take(160).collect::<String>())
    } else {
        e
    }
}
