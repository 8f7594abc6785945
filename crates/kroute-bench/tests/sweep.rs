//! The bounded sweep (CI): every CPU implementation of every kernel on the named cases and a
//! fixed number of random cases from a fixed seed. `kroute verify --sweep` runs longer sweeps
//! and the device implementations.

use kroute::kernels;
use kroute_bench::sweep::{sweep, Budget};

#[test]
fn every_cpu_implementation_passes_the_sweep() {
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
    for k in kernels() {
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
    }
    assert!(
        failures.is_empty(),
        "{} sweep failures (of {checks} checks):\n{}",
        failures.len(),
        failures.join("\n")
    );
    println!("sweep: {checks} checks passed, {refused} cases refused by parameter rules");
}
