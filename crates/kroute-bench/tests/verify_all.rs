//! Every registered CPU implementation against the f64 reference: awkward sizes, N, N = 10^8
//! for sum-, stat- and norm-class kernels, and every edge case. (Device implementations are in
//! cuda_verify.rs.)

use kroute::kernels;
use kroute_bench::verify::{sizes_for, verify};
use std::collections::HashMap;
use std::sync::Arc;

#[test]
fn every_cpu_implementation_matches_the_reference() {
    let n = 1 << 20;
    let mut failures = Vec::new();
    let (mut checked, mut implementations) = (0, 0);
    for k in kernels() {
        let sizes = sizes_for(k, n, true);
        let mut cache: HashMap<usize, Arc<Vec<kroute::Tensor>>> = HashMap::new();
        for imp in k.implementations().iter().filter(|i| i.backend.is_cpu()) {
            implementations += 1;
            let outcomes = verify(k, imp, &sizes, |n| {
                cache
                    .entry(n)
                    .or_insert_with(|| Arc::new(k.workload(n, 42)))
                    .clone()
            });
            for o in outcomes {
                checked += 1;
                if !o.passed {
                    failures.push(format!(
                        "{} {} [{}]: {}",
                        o.kernel,
                        o.implementation,
                        o.case,
                        o.detail.unwrap_or_default()
                    ));
                }
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {checked} checks failed:\n{}",
        failures.len(),
        failures.join("\n")
    );
    // Every implemented kernel has its three CPU implementations, each checked at every size,
    // and every CPU library route (`faer`) is checked the same way.
    let routes = kernels()
        .flat_map(|k| k.implementations())
        .filter(|i| i.library && i.backend.is_cpu())
        .count();
    assert_eq!(implementations, 3 * kernels().count() + routes);
    println!("{implementations} CPU implementations, {checked} checks passed");
}
