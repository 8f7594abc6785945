//! KROUTE_BACKEND forces the router (its own test binary: it sets the process's environment,
//! which no other test here reads concurrently).

use kroute::router::{router, Force, Request, Router};
use kroute::{Location, Tensor};

#[test]
fn kroute_backend_forces_and_bad_values_are_errors() {
    let cache = std::env::temp_dir().join(format!("kroute-env-test-{}", std::process::id()));
    // SAFETY (edition 2021: safe fns): the only test of this binary, before any thread reads.
    std::env::set_var("KROUTE_CACHE_DIR", &cache);

    std::env::set_var("KROUTE_BACKEND", "simd");
    let r = Router::for_this_machine(None).unwrap();
    assert_eq!(r.forced(), Some(&Force::Backend(kroute::Backend::Simd)));
    let k = kroute::kernel("map_add").unwrap();
    let e = r
        .explain(k, &Request::new(1 << 26, Location::Host))
        .unwrap();
    assert_eq!(e.winner, "simd");
    assert!(e.why.contains("KROUTE_BACKEND"), "{}", e.why);
    // No profile in an empty cache: said, and the cost model predicts the rest.
    assert!(r.profile().is_none());
    assert!(
        r.profile_note().contains("kroute calibrate"),
        "{}",
        r.profile_note()
    );

    std::env::set_var("KROUTE_BACKEND", "nonsense");
    let err = Router::for_this_machine(None).unwrap_err().to_string();
    assert!(
        err.contains("KROUTE_BACKEND") && err.contains("nonsense"),
        "{err}"
    );

    std::env::set_var("KROUTE_BACKEND", "scalar");
    let x = Tensor::f32(vec![1.5; 1000]);
    let y = Tensor::f32(vec![2.0; 1000]);
    let out = kroute::run_auto("map_add", &[&x, &y], &[]).unwrap();
    assert_eq!(out[0].as_f32().unwrap()[999], 3.5);
    let e = router()
        .unwrap()
        .explain(k, &Request::new(1000, Location::Host))
        .unwrap();
    assert_eq!(e.winner, "scalar");
    // Bad input through the routed call: an error, not a panic.
    assert!(kroute::run_auto("map_add", &[&x], &[]).is_err());
    assert!(kroute::run_auto("no_such_kernel", &[&x], &[]).is_err());
    let _ = std::fs::remove_dir_all(&cache);
}
