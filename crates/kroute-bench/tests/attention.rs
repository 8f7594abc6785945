//! The attention entry's traps that need parameters or a tolerance of their own (the edge cases
//! at the default parameters are in the op's `edge_cases`): causal masks with tiles above the
//! diagonal, GQA and MQA, S = 1, 63, 65 and 1000, Q × 100 at norm(3e-5), kv_heads that do not
//! divide 32; on every implementation available here (cuda where a device is present).

use kroute::spec::Tolerance;
use kroute::verify::compare;
use kroute::{kernel, Error, Params, Tensor};
use kroute_bench::verify::check_many;

macro_rules! say {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stderr(), $($arg)*);
    }};
}

const KERNELS: [&str; 2] = ["attention_sdpa", "attention_flash"];

fn params(name: &str, seq: usize, causal: bool, kv: usize) -> Params {
    let k = kernel(name).unwrap();
    let mut p = Params::defaults(k.spec);
    p.set(k.spec, "seq", seq as f64).unwrap();
    p.set(k.spec, "causal", causal as u8 as f64).unwrap();
    p.set(k.spec, "kv_heads", kv as f64).unwrap();
    p
}

/// Every available implementation of `name` on its workload at (B = 1, seq, causal, kv) with Q
/// scaled by `q_scale`, checked at norm(rtol); the failures.
fn check(name: &str, seq: usize, causal: bool, kv: usize, q_scale: f32, rtol: f64) -> Vec<String> {
    let k = kernel(name).unwrap();
    let p = params(name, seq, causal, kv);
    let mut inputs = k.workload_with(0, 42, &p);
    if q_scale != 1.0 {
        inputs[0]
            .as_f32_mut()
            .unwrap()
            .iter_mut()
            .for_each(|x| *x *= q_scale);
    }
    let label = format!("S = {seq}, causal = {causal}, kv_heads = {kv}, Q × {q_scale}");
    let imps: Vec<_> = k
        .implementations()
        .iter()
        .filter(|i| i.available())
        .collect();
    if imps.iter().all(|i| i.backend.is_cpu()) {
        say!("{name} [{label}]: cuda skipped (no device here)");
    }
    let refs: Vec<&Tensor> = inputs.iter().collect();
    if rtol == 1e-5 {
        return check_many(k, &imps, &inputs, &p, label.clone())
            .into_iter()
            .filter(|o| !o.passed)
            .map(|o| {
                format!(
                    "{name} {} [{label}]: {}",
                    o.implementation,
                    o.detail.unwrap_or_default()
                )
            })
            .collect();
    }
    let expected = k.reference(&refs, &p);
    let mut failures = Vec::new();
    for imp in imps {
        let out = k.run(imp, &refs, &p).unwrap();
        let a = compare(Tolerance::Norm { rtol }, &out[0], &expected[0]);
        if !a.passed {
            failures.push(format!(
                "{name} {} [{label}]: {:?}",
                imp.id, a.first_failure
            ));
        }
    }
    failures
}

fn assert_none(failures: Vec<String>) {
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn causal_gqa_and_mqa_around_the_tiles() {
    let mut failures = Vec::new();
    for name in KERNELS {
        for (seq, causal, kv) in [
            (1, true, 32),
            (1, false, 1),
            (63, true, 8),
            (65, true, 1),
            (65, false, 4),
            (129, true, 2),
            (300, true, 16),
        ] {
            failures.extend(check(name, seq, causal, kv, 1.0, 1e-5));
        }
    }
    assert_none(failures);
}

/// S = 1000: several key blocks of flash with a ragged last one, causal (whole tiles above the
/// diagonal skipped), GQA.
#[test]
fn s_1000_causal_gqa() {
    let mut failures = Vec::new();
    for name in KERNELS {
        failures.extend(check(name, 1000, true, 4, 1.0, 1e-5));
    }
    assert_none(failures);
}

/// Scores far above 88 (no exp overflow): Q × 30 at norm(1e-5), Q × 100 at norm(3e-5).
#[test]
fn large_scores_are_max_subtracted() {
    let mut failures = Vec::new();
    for name in KERNELS {
        failures.extend(check(name, 200, false, 32, 30.0, 1e-5));
        failures.extend(check(name, 200, true, 8, 30.0, 1e-5));
        failures.extend(check(name, 200, false, 32, 100.0, 3e-5));
    }
    assert_none(failures);
}

/// Causal row 0 attends only key 0: O[b, h, 0, :] = V[b, g, 0, :] exactly (weight 1).
#[test]
fn causal_row_zero_is_v_row_zero() {
    for name in KERNELS {
        let k = kernel(name).unwrap();
        let p = params(name, 70, true, 2);
        let inputs = k.workload_with(0, 42, &p);
        let refs: Vec<&Tensor> = inputs.iter().collect();
        let v = inputs[2].as_f32().unwrap();
        for imp in k.implementations().iter().filter(|i| i.available()) {
            let out = k.run(imp, &refs, &p).unwrap();
            let o = out[0].as_f32().unwrap();
            for h in 0..32 {
                let g = h * 2 / 32;
                let (oh, vg) = (&o[h * 70 * 128..][..128], &v[g * 70 * 128..][..128]);
                assert_eq!(oh, vg, "{name} {} head {h}", imp.id);
            }
        }
    }
}

#[test]
fn kv_heads_must_divide_32() {
    for name in KERNELS {
        let k = kernel(name).unwrap();
        let p = params(name, 8, false, 3);
        let inputs = k.workload_with(0, 42, &params(name, 8, false, 4));
        let refs: Vec<&Tensor> = inputs.iter().collect();
        assert!(matches!(k.check(&refs, &p), Err(Error::Param(_))), "{name}");
        // K and V with another head count than kv_heads: a shape error.
        let p8 = params(name, 8, false, 8);
        assert!(
            matches!(k.check(&refs, &p8), Err(Error::Shape(_))),
            "{name}"
        );
    }
}
