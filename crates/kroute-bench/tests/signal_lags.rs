//! signal's lag kernels (autocorrelation, cross_correlation) on every CPU implementation and
//! route: the default verification at awkward sizes and on the edge cases, and the accumulation
//! check at N = 10^8 that verify_all skips for them (their 10^8 workloads
//! are 5·10^10 and 10^11 flops at the default lags, past `LARGE_N_MAX_FLOPS`): the 0.5 mean
//! makes a lag's sum stagnate in one sequential f32 chain, whatever the number of lags, so a
//! few lags at 10^8 check what 256 would. (Their bounded sweep is tests/sweep.rs's, with the
//! same budget and seed as every kernel's.)

use kroute::spec::Tolerance;
use kroute::verify::compare;
use kroute::{kernel, Params, Tensor};
use kroute_bench::verify::{check_many, verify_with, SMALL_SIZES};
use std::sync::Arc;

const KERNELS: [&str; 2] = ["autocorrelation", "cross_correlation"];

#[test]
fn every_cpu_implementation_matches_the_reference() {
    let mut failures = Vec::new();
    for name in KERNELS {
        let k = kernel(name).unwrap();
        let mut sizes = SMALL_SIZES.to_vec();
        sizes.extend([2, 100, 255, 256, 257, 511, 4096 + 300, 65_537, 1 << 20]);
        for lags in [1.0, 17.0, 256.0, 300.0, 1000.0] {
            let mut p = Params::defaults(k.spec);
            p.set(k.spec, "max_lag", lags).unwrap();
            for imp in k.implementations().iter().filter(|i| i.backend.is_cpu()) {
                for o in verify_with(k, imp, &sizes, &p, |n| Arc::new(k.workload_with(n, 42, &p))) {
                    if !o.passed {
                        failures.push(format!(
                            "{name} {} L={lags} [{}]: {:?}",
                            o.implementation, o.case, o.detail
                        ));
                    }
                }
            }
        }
        // The routes are CPU implementations too (rustfft).
        assert!(
            k.implementations().iter().any(|i| i.id == "rustfft"),
            "{name} has its rustfft route"
        );
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn lag_sums_hold_at_1e8_where_one_f32_chain_fails() {
    let n = 100_000_000;
    for (name, lags) in [("autocorrelation", 2.0), ("cross_correlation", 1.0)] {
        let k = kernel(name).unwrap();
        let mut p = Params::defaults(k.spec);
        p.set(k.spec, "max_lag", lags).unwrap();
        let inputs = k.workload_with(n, 42, &p);
        let imps: Vec<_> = k
            .implementations()
            .iter()
            .filter(|i| i.backend.is_cpu())
            .collect();
        let outcomes = check_many(k, &imps, &inputs, &p, "n=1e8".into());
        for o in &outcomes {
            assert!(
                o.passed,
                "{name} {} at 10^8: {:?}",
                o.implementation, o.detail
            );
            println!(
                "{name} {} at 10^8: worst {:.2e} of the tolerance",
                o.implementation, o.worst_ratio
            );
        }
        // The test has teeth: lag 0 in one sequential f32 accumulator fails it.
        let (x, y) = (
            inputs[0].as_f32().unwrap(),
            inputs[inputs.len() - 1].as_f32().unwrap(),
        );
        let naive = x.iter().zip(y).fold(0.0f32, |s, (&a, &b)| s + a * b);
        let refs: Vec<&Tensor> = inputs.iter().collect();
        let exp = k.reference(&refs, &p).remove(0);
        let zero = if name == "autocorrelation" {
            0
        } else {
            lags as usize
        };
        let one = kroute::verify::Expected::new(kroute::DType::F32, &[1], vec![exp.values[zero]])
            .with_scale(vec![exp.scale.as_ref().unwrap()[zero]]);
        let a = compare(
            Tolerance::Sum { rtol: 1e-5 },
            &Tensor::f32(vec![naive]),
            &one,
        );
        assert!(
            !a.passed,
            "{name}: one f32 chain passed at 10^8 (worst {})",
            a.worst_ratio
        );
    }
}
