//! Every registered CPU implementation against the f64 reference: awkward sizes, N, N = 10^8
//! for sum-, stat- and norm-class kernels, and every edge case. (Device implementations are in
//! cuda_verify.rs.)

use kroute::{kernels, Kernel, Params};
use kroute_bench::verify::{sizes_for, verify_many};
use std::collections::HashMap;
use std::sync::Arc;

/// The sequence length attention is verified at here. Every attention call is a whole batch of
/// S = seq (B = max(1, …)): at flash's default 2048 that is 69 GFLOP per call, and each check
/// runs an f64 reference as well. Flash's tiles (64 query rows, 256 keys), the causal and
/// GQA/MQA traps and S = 1000 are covered by tests/attention.rs; `kroute verify` and `kroute
/// bench` check the defaults.
const TEST_SEQ: f64 = 512.0;

/// The defaults, with `seq` at most `TEST_SEQ`.
fn test_params(k: &Kernel) -> Params {
    let mut p = Params::defaults(k.spec);
    if let Some(s) = k.spec.param("seq") {
        p.set(k.spec, "seq", s.default.min(TEST_SEQ)).unwrap();
    }
    p
}

// Two halves of the catalog, so that the test harness runs them on two threads: the reference,
// `scalar` and `simd` run on one core, and the 10^8 cases dominate (about 7 minutes in one).
#[test]
fn every_cpu_implementation_matches_the_reference_first_half() {
    verify_part(0);
}

#[test]
fn every_cpu_implementation_matches_the_reference_second_half() {
    verify_part(1);
}

/// The kernels of one half: alternate kernels of the catalog, so the heavy domains split.
fn part(half: usize) -> impl Iterator<Item = &'static Kernel> {
    kernels()
        .enumerate()
        .filter(move |(i, _)| i % 2 == half)
        .map(|(_, k)| k)
}

fn verify_part(half: usize) {
    let n = 1 << 20;
    let mut failures = Vec::new();
    let (mut checked, mut implementations) = (0, 0);
    let mut took: Vec<(f64, &str)> = Vec::new();
    for k in part(half) {
        let t0 = std::time::Instant::now();
        let sizes = sizes_for(k, n, true);
        let params = test_params(k);
        let mut cache: HashMap<usize, Arc<Vec<kroute::Tensor>>> = HashMap::new();
        let imps: Vec<_> = k
            .implementations()
            .iter()
            .filter(|i| i.backend.is_cpu())
            .collect();
        implementations += imps.len();
        // One reference per case for all of the kernel's CPU implementations.
        let outcomes = verify_many(k, &imps, &sizes, &params, |n| {
            cache
                .entry(n)
                .or_insert_with(|| Arc::new(k.workload_with(n, 42, &params)))
                .clone()
        });
        for o in outcomes.into_iter().flatten() {
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
        took.push((t0.elapsed().as_secs_f64(), k.name()));
    }
    // Where the time goes (shown with --nocapture): the slowest kernels.
    took.sort_by(|a, b| b.0.total_cmp(&a.0));
    for (s, k) in took.iter().take(12) {
        println!("{s:7.2} s  {k}");
    }
    assert!(
        failures.is_empty(),
        "{} of {checked} checks failed:\n{}",
        failures.len(),
        failures.join("\n")
    );
    // Every implemented kernel has its three CPU implementations, each checked at every size,
    // and every CPU library route (`faer`) is checked the same way.
    let routes = part(half)
        .flat_map(|k| k.implementations())
        .filter(|i| i.library && i.backend.is_cpu())
        .count();
    assert_eq!(implementations, 3 * part(half).count() + routes);
    println!("{implementations} CPU implementations, {checked} checks passed");
}
