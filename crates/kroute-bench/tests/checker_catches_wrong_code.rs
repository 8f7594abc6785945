//! The checker itself is tested: deliberately wrong implementations, the classic mistakes the
//! tolerance classes exist to catch, must fail verification.

use kroute::verify::compare;
use kroute::{kernel as op, Params, Tensor};
use kroute_bench::verify::LARGE_N;

fn check(kernel: &str, inputs: &[Tensor], output: Tensor) -> bool {
    let op = op(kernel).unwrap();
    let refs: Vec<&Tensor> = inputs.iter().collect();
    let params = Params::defaults(op.spec);
    let expected = op.reference(&refs, &params);
    compare(op.spec.tolerance, &output, &expected[0]).passed
}

fn scalar(v: f32) -> Tensor {
    Tensor::f32(vec![v]).reshaped(&[]).unwrap()
}

#[test]
fn naive_and_lane_wise_f32_sums_fail_at_1e8_while_blocked_passes() {
    let op = op("reduce_sum").unwrap();
    let inputs = op.workload(LARGE_N, 42);
    let x = inputs[0].as_f32().unwrap();
    // One f32 accumulator stalls at 2^24.
    let naive: f32 = x.iter().fold(0.0f32, |a, &v| a + v);
    assert!(
        !check("reduce_sum", &inputs, scalar(naive)),
        "naive sum {naive} passed"
    );
    // Eight f32 lanes: ~1.2e7 terms per lane is past what sum(1e-5) allows.
    let mut lanes = [0.0f32; 8];
    for (i, &v) in x.iter().enumerate() {
        lanes[i % 8] += v;
    }
    let lane_sum: f32 = lanes.iter().sum();
    assert!(
        !check("reduce_sum", &inputs, scalar(lane_sum)),
        "8-lane sum {lane_sum} passed"
    );
    // The shipped implementation passes on the same inputs.
    let good = op
        .run(
            op.implementation("simd").unwrap(),
            &[&inputs[0]],
            &Params::defaults(op.spec),
        )
        .unwrap();
    assert!(check(
        "reduce_sum",
        &inputs,
        good.into_iter().next().unwrap()
    ));
}

#[test]
fn one_pass_variance_fails() {
    let op = op("reduce_var").unwrap();
    let inputs = op.workload(1_000_000, 42);
    let x = inputs[0].as_f32().unwrap();
    let n = x.len() as f64;
    // E[x²] − E[x]² with each mean rounded to f32 (even from exactly rounded sums).
    let m = (x.iter().map(|&v| v as f64).sum::<f64>() / n) as f32;
    let m2 = (x.iter().map(|&v| v as f64 * v as f64).sum::<f64>() / n) as f32;
    assert!(
        !check("reduce_var", &inputs, scalar(m2 - m * m)),
        "one-pass variance passed"
    );
}

#[test]
fn reciprocal_division_fails_exact() {
    let op = op("map_div").unwrap();
    let inputs = op.workload(100_000, 42);
    let (x, y) = (inputs[0].as_f32().unwrap(), inputs[1].as_f32().unwrap());
    let z: Vec<f32> = x.iter().zip(y).map(|(&a, &b)| a * (1.0 / b)).collect();
    assert!(!check("map_div", &inputs, Tensor::f32(z)));
}

#[test]
fn nan_dropping_max_fails() {
    let mut x = vec![1.0f32, -2.0, 3.0];
    x[1] = f32::NAN;
    let inputs = vec![Tensor::f32(x.clone())];
    // `f32::max` returns the other operand on NaN: relu(NaN) = 0 is a defect.
    let relu: Vec<f32> = x.iter().map(|v| v.max(0.0)).collect();
    assert!(!check("map_relu", &inputs, Tensor::f32(relu)));
    let m = x.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    assert!(!check("reduce_max", &inputs, scalar(m)));
}

#[test]
fn argmax_taking_the_last_tie_fails() {
    let x = vec![1.0f32, 5.0, 2.0, 5.0];
    let last = x
        .iter()
        .enumerate()
        .fold(0, |b, (i, &v)| if v >= x[b] { i } else { b });
    let out = Tensor::from_host(&[], kroute::tensor::HostData::U64(vec![last as u64])).unwrap();
    assert!(!check("reduce_argmax", &[Tensor::f32(x)], out));
}

#[test]
fn exp_with_a_short_polynomial_fails() {
    let op = op("map_exp").unwrap();
    let inputs = op.workload(10_000, 42);
    // A degree-3 Taylor polynomial after range reduction: ~1e-4 relative error.
    let y: Vec<f32> = inputs[0]
        .as_f32()
        .unwrap()
        .iter()
        .map(|&v| {
            let k = (v / std::f32::consts::LN_2).round();
            let r = v - k * std::f32::consts::LN_2;
            (1.0 + r + r * r / 2.0 + r * r * r / 6.0) * 2f32.powi(k as i32)
        })
        .collect();
    assert!(!check("map_exp", &inputs, Tensor::f32(y)));
}
