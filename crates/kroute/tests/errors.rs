//! Bad input gets a clear error, never a panic: one test per error class.

use kroute::{run, Backend, Error, Tensor};

fn p(k: &str, v: &str) -> Vec<(String, String)> {
    vec![(k.into(), v.into())]
}

#[test]
fn unknown_kernel_and_backend() {
    let x = Tensor::f32(vec![1.0]);
    assert!(matches!(
        run("map_nope", Backend::Simd, &[&x], &[]),
        Err(Error::UnknownKernel(_))
    ));
    assert!(matches!(
        Backend::from_name("tpu"),
        Err(Error::UnknownBackend(_))
    ));
    // In the catalog, not implemented yet: any such entry (none may remain once every
    // domain is done; then there is nothing to check here).
    match kroute::catalog().find(|s| kroute::kernel(s.name).is_err()) {
        Some(s) => assert!(matches!(
            run(s.name, Backend::Simd, &[&x], &[]),
            Err(Error::NotImplemented { .. })
        )),
        None => eprintln!("every catalog entry is implemented: no not-implemented case left"),
    }
    // Implemented, but not on this backend (wgpu: cuda has it when built with the feature).
    let e = run("map_abs", Backend::Wgpu, &[&x], &[]).unwrap_err();
    assert!(matches!(e, Error::NotImplemented { .. }), "{e}");
}

#[test]
fn shapes_disagree() {
    let (x, y) = (Tensor::f32(vec![1.0; 5]), Tensor::f32(vec![1.0; 4]));
    let e = run("map_add", Backend::Parallel, &[&x, &y], &[]).unwrap_err();
    assert!(matches!(e, Error::Shape(_)), "{e}");
    assert!(e.to_string().contains("same length"));
    // Too few inputs.
    assert!(matches!(
        run("map_add", Backend::Simd, &[&x], &[]),
        Err(Error::Shape(_))
    ));
    // Rows: length not a multiple of d.
    let a = Tensor::f32(vec![1.0; 130]);
    assert!(matches!(
        run("dot_batched", Backend::Simd, &[&a, &a], &[]),
        Err(Error::Shape(_))
    ));
    // Codes and scales disagree.
    let q = Tensor::i8(vec![1; 2048]);
    let s = Tensor::f32(vec![1.0; 3]);
    assert!(matches!(
        run("dequantize_i8_to_f16", Backend::Simd, &[&q, &s], &[]),
        Err(Error::Shape(_))
    ));
}

#[test]
fn dtypes_checked() {
    let x = Tensor::u8(vec![1, 2]);
    let e = run("map_exp", Backend::Simd, &[&x], &[]).unwrap_err();
    assert!(matches!(e, Error::DType(_)), "{e}");
    assert!(e.to_string().contains("must be f32"));
}

#[test]
fn parameters_checked() {
    let x = Tensor::f32(vec![0.5]);
    let e = run(
        "map_clamp",
        Backend::Simd,
        &[&x],
        &[("lo".into(), "2".into()), ("hi".into(), "1".into())],
    )
    .unwrap_err();
    assert!(matches!(e, Error::Param(_)), "{e}");
    assert!(matches!(
        run("map_clamp", Backend::Simd, &[&x], &p("low", "1")),
        Err(Error::Param(_))
    ));
    assert!(matches!(
        run("map_clamp", Backend::Simd, &[&x], &p("lo", "abc")),
        Err(Error::Param(_))
    ));
    assert!(matches!(
        run("map_abs", Backend::Simd, &[&x], &p("lo", "1")),
        Err(Error::Param(_))
    ));
    assert!(matches!(
        run("reduce_histogram", Backend::Simd, &[&x], &p("bins", "0")),
        Err(Error::Param(_))
    ));
    assert!(matches!(
        run("reduce_histogram", Backend::Simd, &[&x], &p("bins", "2.5")),
        Err(Error::Param(_))
    ));
    assert!(matches!(
        run("reduce_histogram", Backend::Simd, &[&x], &p("lo", "inf")),
        Err(Error::Param(_))
    ));
}

#[test]
fn values_outside_their_domain() {
    let x = Tensor::f32(vec![1.0; 300_000]);
    let mut m = vec![1u8; 300_000];
    m[123_456] = 2;
    let m = Tensor::u8(m);
    for b in [Backend::Scalar, Backend::Simd, Backend::Parallel] {
        let e = run("map_reduce_masked_sum", b, &[&x, &m], &[]).unwrap_err();
        assert!(matches!(e, Error::Value(_)), "{e}");
        assert!(e.to_string().contains("123456"), "{e}");
    }
}

#[test]
fn class_targets_outside_the_classes() {
    let x = Tensor::f32(vec![0.5; 5 * 1000])
        .reshaped(&[5, 1000])
        .unwrap();
    let y = Tensor::from_host(
        &[5],
        kroute::tensor::HostData::U64(vec![0, 999, 7, 1000, 5000]),
    )
    .unwrap();
    for b in [Backend::Scalar, Backend::Simd, Backend::Parallel] {
        let e = run("loss_cross_entropy", b, &[&x, &y], &[]).unwrap_err();
        assert!(matches!(e, Error::Value(_)), "{e}");
        assert!(e.to_string().contains("row 3 has target 1000"), "{e}");
    }
    // One target per row.
    let y2 = Tensor::from_host(&[4], kroute::tensor::HostData::U64(vec![0; 4])).unwrap();
    let e = run("loss_cross_entropy", Backend::Simd, &[&x, &y2], &[]).unwrap_err();
    assert!(matches!(e, Error::Shape(_)), "{e}");
}

#[test]
fn loss_and_optimizer_params_and_shapes() {
    let (a, b) = (Tensor::f32(vec![1.0; 5]), Tensor::f32(vec![1.0; 4]));
    for k in ["loss_mse", "loss_mae", "loss_huber", "loss_bce", "opt_sgd"] {
        let e = run(k, Backend::Simd, &[&a, &b], &[]).unwrap_err();
        assert!(matches!(e, Error::Shape(_)), "{k}: {e}");
    }
    for (k, name, v) in [
        ("loss_huber", "delta", "0"),
        ("opt_sgd", "lr", "0"),
        ("opt_sgd_momentum", "momentum", "1"),
        ("opt_adam", "beta2", "1"),
        ("opt_adam", "t", "0"),
        ("opt_adamw", "weight_decay", "-1"),
        ("grad_clip_norm", "max_norm", "0"),
        ("grad_clip_value", "clip_value", "0"),
    ] {
        let e = run(k, Backend::Simd, &[&a, &a, &a, &a], &p(name, v)).unwrap_err();
        assert!(matches!(e, Error::Param(_)), "{k} {name}={v}: {e}");
    }
    // kl_div takes rows of 1000.
    let r = Tensor::f32(vec![0.001; 1500]);
    let e = run("loss_kl_div", Backend::Simd, &[&r, &r], &[]).unwrap_err();
    assert!(matches!(e, Error::Shape(_)), "{e}");
}

#[test]
fn empty_inputs_without_identity() {
    let x = Tensor::f32(vec![]);
    for k in [
        "reduce_min",
        "reduce_max",
        "reduce_mean",
        "reduce_argmax",
        "reduce_argmin",
        "reduce_var",
        "reduce_stddev",
    ] {
        assert!(
            matches!(run(k, Backend::Simd, &[&x], &[]), Err(Error::Empty(_))),
            "{k}"
        );
    }
    // The mean losses have no value for an empty batch.
    for k in [
        "loss_mse",
        "loss_mae",
        "loss_huber",
        "loss_bce",
        "loss_kl_div",
    ] {
        assert!(
            matches!(run(k, Backend::Simd, &[&x, &x], &[]), Err(Error::Empty(_))),
            "{k}"
        );
    }
    // Identities exist for these.
    assert_eq!(
        run("reduce_sum", Backend::Simd, &[&x], &[]).unwrap()[0]
            .as_f32()
            .unwrap(),
        &[0.0]
    );
    assert_eq!(
        run("map_reduce_threshold_count", Backend::Simd, &[&x], &[]).unwrap()[0]
            .as_u64()
            .unwrap(),
        &[0]
    );
    assert!(run("map_exp", Backend::Parallel, &[&x], &[]).unwrap()[0].is_empty());
}
