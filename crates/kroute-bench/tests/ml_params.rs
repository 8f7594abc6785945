//! The loss and optimizer entries at parameters and values where an f32 evaluation of the
//! definition would not do (docs/kernels/optimizers.md, "The stored state" and "Constants outside
//! f32"; docs/kernels/loss.md), on every implementation available here (cuda where a device is):
//! constants that leave the f32 range take the f64 step, multiply-adds do not overflow where the
//! result is finite, the new state is read as stored, and λ = 0 makes AdamW Adam exactly.

use kroute::{kernel, Params, Tensor};
use kroute_bench::verify::check_many;

/// Check `name` at n on its workload with `params` set and `values` (if given) replacing every
/// element of every f32 input; returns the failures.
fn check(name: &str, n: usize, params: &[(&str, f64)], values: Option<f32>) -> Vec<String> {
    let k = kernel(name).unwrap();
    let mut p = Params::defaults(k.spec);
    for &(q, v) in params {
        p.set(k.spec, q, v).unwrap();
    }
    let mut inputs = k.workload_with(n, 42, &p);
    if let Some(c) = values {
        for t in &mut inputs {
            if let Ok(x) = t.as_f32_mut() {
                x.fill(c);
            }
        }
    }
    let imps: Vec<_> = k
        .implementations()
        .iter()
        .filter(|i| i.available())
        .collect();
    let label = format!("{params:?} values {values:?}");
    check_many(k, &imps, &inputs, &p, label.clone())
        .into_iter()
        .filter(|o| !o.passed)
        .map(|o| {
            format!(
                "{name} {} {label}: {}",
                o.implementation,
                o.detail.unwrap_or_default()
            )
        })
        .collect()
}

#[test]
fn optimizer_constants_outside_f32_take_the_f64_step() {
    let mut f = Vec::new();
    f.extend(check("opt_sgd", 10_007, &[("lr", 1e300)], None));
    f.extend(check("opt_sgd", 10_007, &[("lr", 1e-320)], None));
    f.extend(check(
        "opt_sgd_momentum",
        10_007,
        &[("lr", 1e39), ("momentum", 1e-41)],
        None,
    ));
    // ε = 1e-60 rounds to 0 in f32: 0/(0 + ε) is 0 in the definition, 0/0 = NaN in f32.
    f.extend(check("opt_adam", 10_007, &[("eps", 1e-60)], Some(0.0)));
    f.extend(check("opt_adam", 10_007, &[("lr", 1e300)], None));
    f.extend(check("opt_adamw", 10_007, &[("weight_decay", 1e308)], None));
    // A clip coefficient below 2^-126 (an f32 subnormal) is applied in f64.
    f.extend(check(
        "grad_clip_norm",
        10_007,
        &[("max_norm", 1e-300)],
        None,
    ));
    f.extend(check("grad_clip_norm", 10_007, &[], Some(2e38)));
    assert!(f.is_empty(), "{}", f.join("\n"));
}

#[test]
fn optimizer_steps_near_the_f32_limit() {
    let mut f = Vec::new();
    // p − 2·g with p = g = 2e38 is −2e38: a separate product would overflow first.
    f.extend(check("opt_sgd", 10_007, &[("lr", 2.0)], Some(2e38)));
    // buf = 0.9·2e38 + 2e38 is stored as inf, and p's step reads it.
    f.extend(check("opt_sgd_momentum", 10_007, &[], Some(2e38)));
    f.extend(check("opt_adam", 10_007, &[], Some(2e38)));
    f.extend(check(
        "opt_adam",
        10_007,
        &[("beta1", 0.0), ("beta2", 0.0), ("t", 1e9)],
        None,
    ));
    assert!(f.is_empty(), "{}", f.join("\n"));
}

#[test]
fn adamw_without_decay_is_adam() {
    let (adam, adamw) = (kernel("opt_adam").unwrap(), kernel("opt_adamw").unwrap());
    let mut p = Params::defaults(adamw.spec);
    p.set(adamw.spec, "weight_decay", 0.0).unwrap();
    let inputs = adam.workload(10_007, 42);
    let refs: Vec<&Tensor> = inputs.iter().collect();
    for imp in adamw.implementations().iter().filter(|i| i.available()) {
        let a = adam
            .run(
                adam.implementation(imp.id).unwrap(),
                &refs,
                &Params::defaults(adam.spec),
            )
            .unwrap();
        let w = adamw.run(imp, &refs, &p).unwrap();
        assert_eq!(a, w, "{}", imp.id);
    }
}

#[test]
fn huber_delta_at_its_extremes() {
    let mut f = Vec::new();
    for delta in [1e-45, 1e-38, 3.4e38, 1e300, f64::INFINITY] {
        f.extend(check("loss_huber", 10_007, &[("delta", delta)], None));
        f.extend(check(
            "loss_huber",
            10_007,
            &[("delta", delta)],
            Some(f32::INFINITY),
        ));
    }
    assert!(f.is_empty(), "{}", f.join("\n"));
}
