//! `kroute route` (explain a routing decision) and `kroute calibrate` (measure the profile).

use crate::commands::{bar, print_json, size_arg, write_json};
use kroute::router::{fmt_s, profile, Basis, Explanation, Fingerprint, Profile, Request, Router};
use kroute::{Error, Location, Result};
use kroute_bench::calibrate::{calibrate as run_calibration, machine_of, settings, sizes};
use kroute_bench::probe::probe as run_probe;
use kroute_bench::select::select;
use std::path::Path;
use std::process::ExitCode;

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

pub fn calibrate(
    domains: &[String],
    kernels: &[String],
    quick: bool,
    out: Option<&Path>,
    budget_ms: u64,
    seed: u64,
) -> Result<ExitCode> {
    let sel = select(domains, kernels, &[], &[])?;
    let here = Fingerprint::current();
    let cache = profile::default_path(&here);
    eprintln!("probing memory bandwidth and devices…");
    let probe = run_probe();
    let machine = machine_of(&probe);
    eprintln!(
        "{} | copy GB/s: 1 thread {:.1}, {} threads {:.1}{}",
        probe.cpu_model,
        machine.cpu_one_thread_gbps,
        machine.cpu_threads,
        machine.cpu_all_threads_gbps,
        if probe.gpus.is_empty() {
            format!(" | {}", probe.gpu_note)
        } else {
            String::new()
        }
    );
    let mut s = settings(&probe, std::time::Duration::from_millis(budget_ms));
    s.seed = seed;
    let sizes = sizes(quick);
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
            "{:<28} {:<12} {:<7} {:>10} {:>11}",
            "kernel", "impl", "data", "n", "median"
        )
    });
    let measured = run_calibration(&sel.kernels, &sizes, &s, &mut fresh, &mut |m| {
        pb.inc(1);
        pb.set_message(format!("{} n={}", m.kernel, m.n));
        let time = match (&m.seconds, &m.error) {
            (Some(t), _) => fmt_s(*t),
            (None, e) => format!("FAILED: {}", e.as_deref().unwrap_or("?")),
        };
        pb.suspend(|| {
            println!(
                "{:<28} {:<12} {:<7} {:>10} {:>11}",
                m.kernel,
                m.implementation,
                m.data.name(),
                m.n,
                time
            )
        });
    });
    pb.finish_and_clear();
    let failures = measured.iter().filter(|m| m.error.is_some()).count();
    // Merge into this machine's profile in the cache, so domains calibrated one at a time add up.
    let mut merged = match profile::load_for(&here, cache.as_deref()) {
        (Some(mut old), _) => {
            old.merge(fresh);
            old
        }
        (None, note) => {
            if note.starts_with("ignoring") {
                eprintln!("{note}; writing a new one");
            }
            fresh
        }
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
    if let Some(p) = out {
        write_json(p, &merged)?;
        eprintln!("wrote {}", p.display());
    }
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
