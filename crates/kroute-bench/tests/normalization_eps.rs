//! The normalization entries' extra unit check (docs/kernels/normalization.md): every kernel once
//! with eps = 1 on a workload-shaped batch, on every implementation available here (cuda where a
//! device is). At the default ε = 1e-5 a misplaced ε (outside the square root, added to ρ, or
//! missing) passes the workload; at ε = 1 it fails by orders of magnitude.

use kroute::{kernel, Params};
use kroute_bench::verify::check_many;

#[test]
fn every_normalization_kernel_is_right_with_eps_1() {
    let mut failures = Vec::new();
    for (name, n) in [
        ("layer_norm", 16 * 1024),
        ("rms_norm", 16 * 1024),
        ("batch_norm", 300 * 1024),
        ("group_norm", 3 * 16384),
    ] {
        let k = kernel(name).unwrap();
        let mut p = Params::defaults(k.spec);
        p.set(k.spec, "eps", 1.0).unwrap();
        let inputs = k.workload_with(n, 42, &p);
        let imps: Vec<_> = k
            .implementations()
            .iter()
            .filter(|i| i.available())
            .collect();
        for o in check_many(k, &imps, &inputs, &p, "eps = 1".into()) {
            if !o.passed {
                failures.push(format!(
                    "{name} {}: {}",
                    o.implementation,
                    o.detail.unwrap_or_default()
                ));
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
