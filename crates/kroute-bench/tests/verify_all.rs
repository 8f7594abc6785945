//! Every implemented (kernel, backend) against the f64 reference: awkward sizes, N, N = 10^8 for
//! sum-, stat- and norm-class kernels, and every edge case.

use kroute::{ops, Backend};
use kroute_bench::verify::{sizes_for, verify};
use std::collections::HashMap;
use std::sync::Arc;

#[test]
fn every_cpu_implementation_matches_the_reference() {
    let n = 1 << 20;
    let mut failures = Vec::new();
    let mut checked = 0;
    for op in ops() {
        let sizes = sizes_for(op, n, true);
        let mut cache: HashMap<usize, Arc<Vec<kroute::Tensor>>> = HashMap::new();
        for backend in [Backend::Scalar, Backend::Simd, Backend::Parallel] {
            let outcomes = verify(op, backend, &sizes, |n| {
                cache
                    .entry(n)
                    .or_insert_with(|| Arc::new((op.workload)(n, 42)))
                    .clone()
            });
            for o in outcomes {
                checked += 1;
                if !o.passed {
                    failures.push(format!(
                        "{} {} [{}]: {}",
                        o.kernel,
                        o.backend,
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
    assert!(checked > 38 * 3 * 5);
}
