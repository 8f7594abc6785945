//! Routing decisions on synthetic profiles.

use super::*;
use crate::tensor::Location;
use crate::Backend;

fn fp() -> Fingerprint {
    Fingerprint {
        cpu: "Test CPU".into(),
        gpus: vec!["cuda:0 Test GPU, driver CUDA 13.0".into()],
        kroute: env!("CARGO_PKG_VERSION").into(),
    }
}

fn figures() -> Machine {
    Machine {
        source: "probe".into(),
        cpu_threads: 8,
        cpu_one_thread_gbps: 10.0,
        cpu_all_threads_gbps: 40.0,
        gpus: vec![GpuFigures {
            ordinal: 0,
            name: "Test GPU".into(),
            memory_gbps: 3000.0,
            h2d_gbps: 20.0,
            d2h_gbps: 20.0,
            launch_s: 5e-6,
            sms: 100,
            memory_bytes: 80 << 30,
        }],
    }
}

/// A profile where, for map_add, simd costs 1 ns/element, parallel 5 µs + 0.25 ns/element,
/// and cuda 10 µs + 0.005 ns/element on device data (host data: plus 0.6 ns/element).
fn profile() -> Profile {
    let mut p = Profile::new(fp(), figures());
    for k in 10..=24 {
        let n = 1u64 << k;
        let nf = n as f64;
        let mut put =
            |id: &str, at: DataAt, s: f64| p.record("map_add", id, at, Point { n, seconds: s });
        put("scalar", DataAt::Host, 3e-9 * nf);
        put("simd", DataAt::Host, 1e-9 * nf);
        put("parallel", DataAt::Host, 5e-6 + 0.25e-9 * nf);
        put("cuda", DataAt::Device, 10e-6 + 0.005e-9 * nf);
        put("cuda", DataAt::Host, 20e-6 + 0.6e-9 * nf);
    }
    p
}

/// Equal up to JSON's float printing (the last bit of a time may round).
fn same(a: &Profile, b: &Profile) -> bool {
    let close = |x: f64, y: f64| (x - y).abs() <= 1e-12 * y.abs();
    a.fingerprint == b.fingerprint
        && a.machine == b.machine
        && a.curves.len() == b.curves.len()
        && a.curves.iter().zip(&b.curves).all(|(c, d)| {
            (&c.kernel, &c.implementation, c.data) == (&d.kernel, &d.implementation, d.data)
                && c.points.len() == d.points.len()
                && c.points
                    .iter()
                    .zip(&d.points)
                    .all(|(p, q)| p.n == q.n && close(p.seconds, q.seconds))
        })
}

fn router() -> Router {
    Router::new(Some(profile()), figures()).assume_available(true)
}

fn map_add() -> &'static Kernel {
    crate::kernel("map_add").unwrap()
}

fn cand<'e>(e: &'e Explanation, id: &str) -> &'e Candidate {
    e.candidates
        .iter()
        .find(|c| c.implementation == id)
        .unwrap()
}

fn winner(r: &Router, n: u64, data: Location) -> String {
    let req = Request::new(n, data).with_free_device_bytes(1 << 40);
    r.explain(map_add(), &req).unwrap().winner
}

#[test]
fn crossover_from_simd_to_parallel_measured() {
    let r = router();
    // simd 1 ns/elt against parallel 5 µs + 0.25 ns/elt: parallel wins above ≈ 6700.
    assert_eq!(winner(&r, 1 << 10, Location::Host), "simd");
    assert_eq!(winner(&r, 1 << 12, Location::Host), "simd");
    assert_eq!(winner(&r, 1 << 14, Location::Host), "parallel");
    let e = r
        .explain(
            map_add(),
            &Request::new(3 << 12, Location::Host).with_free_device_bytes(1 << 40),
        )
        .unwrap();
    let w = e.winner().unwrap();
    assert_eq!(w.basis, Basis::Measured);
    assert!(e.why.contains("predicted fastest"), "{}", e.why);
}

#[test]
fn transfer_cost_flips_the_choice() {
    let r = router();
    let n = 1 << 22;
    // Device data: cuda computes without moving anything.
    assert_eq!(winner(&r, n, Location::Cuda(0)), "cuda");
    // The same size from host data: cuda's measured host-to-result (0.6 ns/elt) loses to
    // parallel (0.25 ns/elt).
    assert_eq!(winner(&r, n, Location::Host), "parallel");
    let e = r
        .explain(
            map_add(),
            &Request::new(n, Location::Host).with_free_device_bytes(1 << 40),
        )
        .unwrap();
    let cuda = cand(&e, "cuda");
    assert!(cuda.transfer_measured && cuda.transfer_s > 0.0);
    // And a CPU candidate for device data pays the transfer from the figures.
    let e = r
        .explain(
            map_add(),
            &Request::new(n, Location::Cuda(0)).with_free_device_bytes(1 << 40),
        )
        .unwrap();
    let par = cand(&e, "parallel");
    let bytes = 12.0 * n as f64;
    assert!(par.transfer_s >= bytes / 20e9, "{par:?}");
    assert!(!par.transfer_measured);
}

#[test]
fn missing_profile_falls_back_to_the_cost_model() {
    let r = Router::new(None, figures()).assume_available(true);
    let e = r
        .explain(
            map_add(),
            &Request::new(1 << 24, Location::Cuda(0)).with_free_device_bytes(1 << 40),
        )
        .unwrap();
    assert!(e.candidates.iter().all(|c| c.basis == Basis::CostModel));
    // 200 MB on a 3 TB/s device against a 40 GB/s CPU plus the trip over the link.
    assert_eq!(e.winner, "cuda");
    assert_eq!(winner(&r, 1 << 10, Location::Host), "simd");
    // A profile without this kernel is no better than none for it.
    let mut p = Profile::new(fp(), figures());
    p.record(
        "map_mul",
        "simd",
        DataAt::Host,
        Point {
            n: 1024,
            seconds: 1e-6,
        },
    );
    let r = Router::new(Some(p), figures()).assume_available(true);
    let e = r
        .explain(map_add(), &Request::new(1 << 10, Location::Host))
        .unwrap();
    assert!(e.candidates.iter().all(|c| c.basis == Basis::CostModel));
}

#[test]
fn foreign_and_stale_profiles_are_ignored_with_a_reason() {
    let here = fp();
    let mut other = profile();
    other.fingerprint.cpu = "Another CPU".into();
    let why = other.clone().check(&here).unwrap_err();
    assert!(why.contains("another CPU"), "{why}");
    let mut stale = profile();
    stale.fingerprint.kroute = "0.0.1".into();
    let why = stale.clone().check(&here).unwrap_err();
    assert!(
        why.contains("kroute 0.0.1") && why.contains("recalibrate"),
        "{why}"
    );
    let mut gpu = profile();
    gpu.fingerprint.gpus.clear();
    assert!(gpu.check(&here).unwrap_err().contains("GPU"));
    assert!(profile().check(&here).is_ok());

    // Through a file: the loader says why and returns none.
    let dir = std::env::temp_dir().join(format!("kroute-router-test-{}", std::process::id()));
    let path = dir.join("p.json");
    stale.save(&path).unwrap();
    let (p, note) = profile::load_for(&here, Some(&path));
    assert!(p.is_none() && note.starts_with("ignoring"), "{note}");
    profile().save(&path).unwrap();
    let (p, _) = profile::load_for(&here, Some(&path));
    assert!(same(&p.unwrap(), &profile()));
    std::fs::write(&path, "{\"schema\": \"something else\"}").unwrap();
    let (p, note) = profile::load_for(&here, Some(&path));
    assert!(p.is_none() && note.contains("kroute.profile/1"), "{note}");
    std::fs::write(&path, "not json").unwrap();
    assert!(profile::load_for(&here, Some(&path)).0.is_none());
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn forced_backend_and_implementation_through_the_api() {
    let r = router().with_force(Some(Force::Backend(Backend::Scalar)));
    let e = r
        .explain(map_add(), &Request::new(1 << 20, Location::Host))
        .unwrap();
    assert_eq!(e.winner, "scalar");
    assert!(e.why.contains("forced"));
    let r = router().with_force(Force::parse("cuda").unwrap());
    assert_eq!(winner(&r, 1 << 10, Location::Host), "cuda");
    assert_eq!(Force::parse("auto").unwrap(), None);
    assert_eq!(Force::parse("").unwrap(), None);
    assert!(Force::parse("quantum").is_err());
    // Forcing a backend a kernel lacks is an error, not a silent fallback.
    let r = router().with_force(Some(Force::Backend(Backend::Wgpu)));
    let err = r
        .explain(map_add(), &Request::new(1024, Location::Host))
        .unwrap_err();
    assert!(err.to_string().contains("wgpu"), "{err}");
}

#[test]
fn forced_unavailable_device_is_a_clear_error() {
    if Backend::Cuda.unavailable_reason().is_none() {
        return; // a machine with a GPU
    }
    let r = Router::new(None, figures()).with_force(Some(Force::Backend(Backend::Cuda)));
    let err = r
        .explain(map_add(), &Request::new(1024, Location::Host))
        .unwrap_err();
    assert!(err.to_string().contains("cannot run here"), "{err}");
    // Without forcing, cuda is listed as unavailable and never wins.
    let r = Router::new(Some(profile()), figures());
    let e = r
        .explain(map_add(), &Request::new(1 << 22, Location::Host))
        .unwrap();
    let cuda = cand(&e, "cuda");
    assert!(!cuda.eligible && cuda.notes.iter().any(|n| n.contains("cuda unavailable")));
    assert_ne!(e.winner, "cuda");
}

#[test]
fn a_gpu_without_room_for_the_working_set_is_not_chosen() {
    let r = router();
    let n = 1u64 << 24; // 201 MB of inputs and outputs
    let roomy = Request::new(n, Location::Cuda(0)).with_free_device_bytes(1 << 30);
    assert_eq!(r.explain(map_add(), &roomy).unwrap().winner, "cuda");
    // Data on the device needs room for the outputs (67 MB): 16 MiB free is not enough.
    let full = Request::new(n, Location::Cuda(0)).with_free_device_bytes(16 << 20);
    let e = r.explain(map_add(), &full).unwrap();
    assert_ne!(e.winner, "cuda");
    let cuda = cand(&e, "cuda");
    assert!(!cuda.eligible && cuda.notes.iter().any(|n| n.contains("device memory")));
    assert!(e.why.contains("not eligible"), "{}", e.why);
}

#[test]
fn requests_from_tensors_map_onto_profile_sizes() {
    let k = map_add();
    let x = Tensor::f32(vec![1.0; 5000]);
    let y = Tensor::f32(vec![2.0; 5000]);
    let params = crate::Params::defaults(k.spec);
    let req = Request::for_inputs(k, &[&x, &y], &params).unwrap();
    assert_eq!(req.n, 5000);
    assert_eq!(req.data, Location::Host);
    assert_eq!(req.in_bytes, Some(40000.0));
    // Routed and run: the result is the sum whichever implementation ran.
    let out = router().run(k, &[&x, &y], &params).unwrap();
    assert_eq!(out[0].as_f32().unwrap()[0], 3.0);
    // Bad inputs are an error, not a panic.
    assert!(Request::for_inputs(k, &[&x], &params).is_err());
}

#[test]
fn every_kernels_inputs_map_onto_a_size_with_the_same_bytes() {
    for k in crate::kernels() {
        let params = crate::Params::defaults(k.spec);
        let n = 3 << 10;
        let inputs = k.workload(n, 1);
        let refs: Vec<&Tensor> = inputs.iter().collect();
        let req = Request::for_inputs(k, &refs, &params).unwrap();
        let io = req.in_bytes.unwrap() + req.out_bytes.unwrap();
        let spec_at = |m: u64| (k.spec.bytes)(m);
        // Where the spec's bytes are the call's, the size found has them too; elsewhere (a
        // spec counting other bytes than the buffers) the first input's length is used.
        if (spec_at(n as u64) - io).abs() <= 1e-9 * io {
            assert_eq!(spec_at(req.n), spec_at(n as u64), "{}", k.name());
        }
        assert!(req.n > 0, "{}", k.name());
    }
}

#[test]
fn every_implemented_kernel_routes_without_a_profile() {
    let r = Router::new(None, Machine::assumed());
    for k in crate::kernels() {
        for n in [0u64, 1, 1 << 10, 1 << 27] {
            let e = r.explain(k, &Request::new(n, Location::Host)).unwrap();
            assert!(
                e.winner().is_some_and(|c| c.eligible),
                "{} at {n}",
                k.name()
            );
        }
    }
}

#[test]
fn profile_json_round_trips_and_merges() {
    let p = profile();
    let back = Profile::from_json(&p.to_json().unwrap()).unwrap();
    assert!(same(&back, &p));
    let mut a = Profile::new(fp(), figures());
    a.record(
        "map_add",
        "simd",
        DataAt::Host,
        Point {
            n: 1024,
            seconds: 1e-6,
        },
    );
    let mut b = Profile::new(fp(), figures());
    b.record(
        "map_add",
        "simd",
        DataAt::Host,
        Point {
            n: 1024,
            seconds: 2e-6,
        },
    );
    b.record(
        "map_add",
        "simd",
        DataAt::Host,
        Point {
            n: 2048,
            seconds: 3e-6,
        },
    );
    a.merge(b);
    let c = a.curve("map_add", "simd", DataAt::Host).unwrap();
    assert_eq!(
        c.points,
        vec![
            Point {
                n: 1024,
                seconds: 2e-6
            },
            Point {
                n: 2048,
                seconds: 3e-6
            }
        ]
    );
    // A damaged time is refused on load.
    let mut bad = Profile::new(fp(), figures());
    bad.record(
        "map_add",
        "simd",
        DataAt::Host,
        Point {
            n: 1024,
            seconds: -1.0,
        },
    );
    let err = Profile::from_json(&bad.to_json().unwrap()).unwrap_err();
    assert!(err.to_string().contains("damaged"), "{err}");
}

/// Predictions within `TIE` of each other are a tie the profile cannot resolve: the lighter
/// implementation wins it (simd before parallel), and the explanation says so; a clear win
/// stays with the faster one.
#[test]
fn near_ties_go_to_the_lighter_implementation() {
    let mut p = Profile::new(fp(), figures());
    for n in [1u64 << 10, 1 << 14, 1 << 18] {
        let nf = n as f64;
        let mut put =
            |id: &str, s: f64| p.record("map_add", id, DataAt::Host, Point { n, seconds: s });
        put("scalar", 5e-9 * nf);
        put("simd", 1e-9 * nf);
        // 2% faster than simd at 2^10 and 2^14, 20% faster at 2^18.
        put(
            "parallel",
            if n < 1 << 18 {
                0.98e-9 * nf
            } else {
                0.8e-9 * nf
            },
        );
    }
    let r = Router::new(Some(p), figures());
    let e = r
        .explain(
            map_add(),
            &Request::new(1 << 12, Location::Host).with_free_device_bytes(0),
        )
        .unwrap();
    assert_eq!(e.winner, "simd");
    assert!(
        e.why.contains("within 3%") && e.why.contains("parallel"),
        "{}",
        e.why
    );
    // The candidates still list parallel as the lower prediction.
    assert!(cand(&e, "parallel").total_s < cand(&e, "simd").total_s);
    let e = r
        .explain(
            map_add(),
            &Request::new(1 << 18, Location::Host).with_free_device_bytes(0),
        )
        .unwrap();
    assert_eq!(e.winner, "parallel");
    assert!(e.why.contains("predicted fastest"), "{}", e.why);
    // On one thread, SIMD takes a tie from scalar.
    let mut p = Profile::new(fp(), figures());
    for n in [1u64 << 10, 1 << 14] {
        let nf = n as f64;
        p.record(
            "map_add",
            "scalar",
            DataAt::Host,
            Point {
                n,
                seconds: 0.99e-9 * nf,
            },
        );
        p.record(
            "map_add",
            "simd",
            DataAt::Host,
            Point {
                n,
                seconds: 1e-9 * nf,
            },
        );
        p.record(
            "map_add",
            "parallel",
            DataAt::Host,
            Point {
                n,
                seconds: 2e-9 * nf,
            },
        );
    }
    let r = Router::new(Some(p), figures());
    let req = Request::new(1 << 12, Location::Host).with_free_device_bytes(0);
    assert_eq!(r.explain(map_add(), &req).unwrap().winner, "simd");
}
