//! The bounded sweep (CI): every CPU implementation of every kernel on the named cases and a
//! fixed number of random cases from a fixed seed. `kroute verify --sweep` runs longer sweeps
//! and the device implementations.

use kroute::kernels;
use kroute_bench::sweep::{sweep, Budget};

// Two halves of the catalog (alternate kernels), run by the harness on two threads: most of a
// case's time is the reference and `scalar` on one core.
#[test]
fn every_cpu_implementation_passes_the_sweep_first_half() {
    sweep_part(0);
}

#[test]
fn every_cpu_implementation_passes_the_sweep_second_half() {
    sweep_part(1);
}

fn sweep_part(half: usize) {
    let cases: u32 = std::env::var("KROUTE_SWEEP_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(24);
    let budget = Budget {
        cases,
        seconds: 30.0,
    };
    let mut failures = Vec::new();
    let (mut checks, mut refused) = (0, 0);
    let mut took: Vec<(f64, &str)> = Vec::new();
    for k in kernels()
        .enumerate()
        .filter(|(i, _)| i % 2 == half)
        .map(|(_, k)| k)
    {
        let t0 = std::time::Instant::now();
        let imps: Vec<_> = k
            .implementations()
            .iter()
            .filter(|i| i.backend.is_cpu())
            .collect();
        let r = sweep(k, &imps, budget, 7);
        checks += r.checks;
        refused += r.refused;
        for f in r.failures {
            failures.push(format!(
                "{} {} [{}]: {}\n  {}",
                f.kernel, f.implementation, f.case, f.detail, f.reproducer
            ));
        }
        took.push((t0.elapsed().as_secs_f64(), k.name()));
    }
    // Where the time goes (shown with --nocapture): the slowest kernels.
    took.sort_by(|a, b| b.0.total_cmp(&a.0));
    for (s, k) in took.iter().take(12) {
        println!("{s:7.2} s  {k}");
    }
    assert!(
        failures.is_empty(),
        "{} sweep failures (of {checks} checks):\n{}",
        failures.len(),
        failures.join("\n")
    );
    println!("sweep: {checks} checks passed, {refused} cases refused by parameter rules");
}
