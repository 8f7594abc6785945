//! One test per defect issue 8 listed (and the ones its sweep found), on every implementation
//! available here: scalar, simd, parallel, and cuda where a device is present (each test says
//! when cuda was skipped).

use kroute::{kernel, Params, Tensor};
use kroute_bench::sweep::{sweep, Budget, Case, Values};
use kroute_bench::verify::check_many;

macro_rules! say {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stderr(), $($arg)*);
    }};
}

/// Every available implementation of `name` on these inputs and parameters; the failures.
fn check(name: &str, inputs: Vec<Tensor>, params: &[(&str, f64)], label: &str) -> Vec<String> {
    let k = kernel(name).unwrap();
    let mut p = Params::defaults(k.spec);
    for &(n, v) in params {
        p.set(k.spec, n, v).unwrap();
    }
    let imps: Vec<_> = k
        .implementations()
        .iter()
        .filter(|i| i.available())
        .collect();
    if imps.iter().all(|i| i.backend.is_cpu()) {
        say!("{name} [{label}]: cuda skipped (no device here)");
    }
    check_many(k, &imps, &inputs, &p, label.into())
        .into_iter()
        .filter(|o| !o.passed)
        .map(|o| {
            format!(
                "{name} {} [{label}]: {}",
                o.implementation,
                o.detail.unwrap_or_default()
            )
        })
        .collect()
}

fn rows(v: Vec<f32>, d: usize) -> Tensor {
    let r = v.len() / d;
    Tensor::f32(v).reshaped(&[r, d]).unwrap()
}

fn assert_none(failures: Vec<String>) {
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// The workload of `name` at n with these parameters and values.
fn case(name: &str, n: usize, params: Vec<(&'static str, f64)>, values: Values) -> Vec<String> {
    case_seeded(name, n, 42, params, values)
}

fn case_seeded(
    name: &str,
    n: usize,
    seed: u64,
    params: Vec<(&'static str, f64)>,
    values: Values,
) -> Vec<String> {
    let k = kernel(name).unwrap();
    let c = Case {
        n,
        seed,
        params: params.clone(),
        values,
    };
    let p = c.params(k).unwrap();
    check(name, c.inputs(k, &p), &params, &c.label())
}

#[test]
fn dot_and_cosine_are_right_for_row_lengths_near_1024() {
    // CUDA lost a lane's partial at the final warp sum after exactly 8 (float4) or 32 steps.
    let mut f = Vec::new();
    for d in [768, 900, 993, 1000, 1023, 1024, 1025, 4096] {
        for name in ["dot_batched", "cosine_similarity"] {
            f.extend(case(name, 20 * d, vec![("d", d as f64)], Values::Workload));
        }
    }
    assert_none(f);
}

#[test]
fn mean_and_var_of_values_near_2e38() {
    // simd and parallel summed in f32: the mean came out inf and the variance NaN.
    let x = || Tensor::f32(vec![2e38; 64]);
    let mut f = check("reduce_mean", vec![x()], &[], "2e38 × 64");
    f.extend(check("reduce_var", vec![x()], &[], "2e38 × 64"));
    f.extend(case("reduce_mean", 10_007, vec![], Values::Scale(2e37)));
    assert_none(f);
}

#[test]
fn stddev_of_huge_cancelling_and_of_tiny_values() {
    let alt: Vec<f32> = (0..16)
        .map(|i| if i % 2 == 0 { 1e20 } else { -1e20 })
        .collect();
    let mut f = check(
        "reduce_stddev",
        vec![Tensor::f32(alt)],
        &[],
        "[1e20, -1e20] × 8",
    );
    // A moment difference went negative: NaN.
    f.extend(case("reduce_stddev", 10_007, vec![], Values::Scale(1e-25)));
    f.extend(check(
        "reduce_stddev",
        vec![Tensor::f32(vec![f32::INFINITY])],
        &[],
        "[inf]",
    ));
    assert_none(f);
}

#[test]
fn l2_of_tiny_values_does_not_underflow() {
    let mut f = check(
        "reduce_l2",
        vec![Tensor::f32(vec![1e-23; 16])],
        &[],
        "1e-23 × 16",
    );
    f.extend(case(
        "map_reduce_square_sum",
        300_007,
        vec![],
        Values::Scale(1e-25),
    ));
    assert_none(f);
}

#[test]
fn cosine_of_a_row_of_2e18_with_itself_is_one() {
    let a = rows(vec![2e18; 128], 128);
    assert_none(check(
        "cosine_similarity",
        vec![a.clone(), a],
        &[],
        "2e18 row with itself",
    ));
}

#[test]
fn dot_whose_partials_overflow_but_whose_answer_is_finite() {
    // The sweep's shrunk case: rows of 16 values ~1e19, a dot of -1.8e38.
    assert_none(case(
        "dot_batched",
        0,
        vec![("d", 16.0)],
        Values::Scale(1e19),
    ));
    // ±2e38 alternating: sums that cancel exactly.
    let mut f = Vec::new();
    for name in [
        "reduce_sum",
        "reduce_mean",
        "map_reduce_abs_sum",
        "reduce_var",
    ] {
        f.extend(case(name, 10_007, vec![], Values::Alternating(2e38)));
    }
    let x: Vec<f32> = (0..10_007)
        .map(|i| if i % 2 == 0 { 2e38 } else { -2e38 })
        .collect();
    let m = Tensor::u8(vec![1; 10_007]);
    f.extend(check(
        "map_reduce_masked_sum",
        vec![Tensor::f32(x), m],
        &[],
        "±2e38, all selected",
    ));
    assert_none(f);
}

#[test]
fn histogram_over_ranges_where_the_f32_formula_overflows() {
    // (x − lo)·bins overflowed f32: the vector path took bin 0 from inf's bits.
    let x: Vec<f32> = vec![3e38, -3e38, 0.0, 1e38, -1e38, 3.4e38, -3.4e38, 1.0];
    let mut f = Vec::new();
    for (lo, hi) in [
        (-3.4e38, 3.4e38),
        (-3.4e38, 0.0),
        (0.0, 3.4e38),
        (-1.0, 3.0e38),
    ] {
        for bins in [1.0, 7.0, 256.0, 65536.0] {
            let p = [("bins", bins), ("lo", lo), ("hi", hi)];
            f.extend(check(
                "reduce_histogram",
                vec![Tensor::f32(x.clone())],
                &p,
                "extremes",
            ));
            f.extend(case_seeded(
                "reduce_histogram",
                300_007,
                1,
                p.to_vec(),
                Values::Scale(1e38),
            ));
        }
    }
    assert_none(f);
}

#[test]
fn elu_with_a_tiny_alpha_is_within_one_denormal_step() {
    assert_none(case(
        "map_elu",
        10_007,
        vec![("alpha", 1e-38)],
        Values::Workload,
    ));
}

#[test]
fn a_device_sweep_runs_where_there_is_a_device() {
    // The CPU sweep is tests/sweep.rs; here the cuda implementations get a short one (a few
    // random cases per kernel) when a device is present.
    let mut failures = Vec::new();
    let mut ran = false;
    for k in kroute::kernels() {
        let imps: Vec<_> = k
            .implementations()
            .iter()
            .filter(|i| !i.backend.is_cpu() && i.available())
            .collect();
        if imps.is_empty() {
            continue;
        }
        ran = true;
        let r = sweep(
            k,
            &imps,
            Budget {
                cases: 16,
                seconds: 10.0,
            },
            7,
        );
        failures.extend(r.failures.into_iter().map(|f| {
            format!(
                "{} {} [{}]: {}\n  {}",
                f.kernel, f.implementation, f.case, f.detail, f.reproducer
            )
        }));
    }
    if !ran {
        say!("device sweep skipped: no device implementation is available here");
    }
    assert_none(failures);
}

#[test]
fn h200_sweep_range_cases_of_fused_custom_linalg_and_attention() {
    // The H200 sweep's cuda failures (the CPU passed them): layernorm_dropout_residual's
    // γx̂ + β overflowing before the residual (-inf for ~-2.2e38), attention_softmax_v's
    // Σ p·V overflowing before the division, rope_attention_mask with no range route (NaN;
    // denormal products at 1e-45), the cublas triangular_solve route's NaN (strsv has no
    // range handling), and attention's f64 path returning NaN at large scales.
    let mut f = case(
        "fused_layernorm_dropout_residual",
        10_007,
        vec![("eps", 1.0), ("keep", 1.0)],
        Values::Scale(1e38),
    );
    for v in [
        Values::Const(2e38),
        Values::Const(-2e38),
        Values::Alternating(2e38),
        Values::Scale(1e-45),
    ] {
        f.extend(case("fused_attention_softmax_v", 10_007, vec![], v));
    }
    for v in [
        Values::Scale(1e20),
        Values::Const(2e38),
        Values::Alternating(1e20),
        Values::Scale(1e-45),
    ] {
        f.extend(case("fused_rope_attention_mask", 10_007, vec![], v));
    }
    for v in [
        Values::Scale(1e-45),
        Values::Scale(1e-40),
        Values::Const(1e-40),
        Values::Alternating(2e38),
        Values::Alternating(1e-40),
    ] {
        f.extend(case("triangular_solve", 10_007, vec![], v));
    }
    for v in [
        Values::Scale(1e20),
        Values::Const(2e38),
        Values::Scale(1e-45),
    ] {
        f.extend(case("attention_sdpa", 10_007, vec![("seq", 33.0)], v));
    }
    assert_none(f);
}
