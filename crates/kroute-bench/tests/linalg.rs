//! linalg on the CPU, with its library routes: every CPU implementation (scalar, simd,
//! parallel and `faer`) against the reference at awkward sizes and on the edge cases, the
//! bounded sweep, the routes found by id the way `kroute bench --impl faer` finds them, and the
//! CSR structure errors. (verify_all and sweep cover the same with every other kernel; this
//! file is the quick check while working on the domain.)

use kroute::{kernel, Backend, Domain, Error, Params, Tensor};
use kroute_bench::select::{select, Row};
use kroute_bench::sweep::{sweep, Budget};
use kroute_bench::verify::{verify, SMALL_SIZES};
use std::sync::Arc;

const KERNELS: [&str; 5] = [
    "matmul_batched",
    "matvec",
    "outer_product",
    "spmv_csr",
    "triangular_solve",
];

#[test]
fn every_cpu_implementation_and_route_matches_the_reference() {
    let mut failures = Vec::new();
    for name in KERNELS {
        let k = kernel(name).unwrap();
        assert_eq!(k.spec.domain, Domain::Linalg);
        let mut sizes = SMALL_SIZES.to_vec();
        sizes.extend([20, 16384 * 3 + 5, 90_001, 1 << 20]);
        for imp in k.implementations().iter().filter(|i| i.backend.is_cpu()) {
            for o in verify(k, imp, &sizes, |n| Arc::new(k.workload(n, 42))) {
                if !o.passed {
                    failures.push(format!(
                        "{name} {} [{}]: {}",
                        imp.id,
                        o.case,
                        o.detail.unwrap_or_default()
                    ));
                }
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn the_sweep_passes_on_every_cpu_implementation_and_route() {
    let mut failures = Vec::new();
    for name in KERNELS {
        let k = kernel(name).unwrap();
        let imps: Vec<_> = k
            .implementations()
            .iter()
            .filter(|i| i.backend.is_cpu())
            .collect();
        let r = sweep(
            k,
            &imps,
            Budget {
                cases: 8,
                seconds: 20.0,
            },
            7,
        );
        failures.extend(r.failures.into_iter().map(|f| {
            format!(
                "{} {} [{}]: {}",
                f.kernel, f.implementation, f.case, f.detail
            )
        }));
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn library_routes_are_found_by_id_and_report_why_they_cannot_run() {
    let sel = select(
        &["linalg".into()],
        &[],
        &[],
        &["faer".into(), "cublas".into()],
    )
    .unwrap();
    for k in &sel.kernels {
        let ids: Vec<String> = sel
            .rows(k)
            .into_iter()
            .map(|r| match r {
                Row::Run(i) => i.id.to_string(),
                Row::Skip { id, .. } => format!("skip {id}"),
            })
            .collect();
        let has = |id| k.implementation(id).is_ok();
        assert_eq!(
            ids.iter().any(|i| i == "faer"),
            has("faer"),
            "{}: {ids:?}",
            k.name()
        );
        if let Ok(c) = k.implementation("cublas") {
            assert!(c.library && c.backend == Backend::Cuda);
            // No GPU here (or no libcublas): unavailable with a reason, never a panic.
            if Backend::Cuda.unavailable_reason().is_some() {
                assert!(c.unavailable_reason().is_some());
            }
        }
    }
    for name in ["matmul_batched", "matvec", "triangular_solve"] {
        let f = kernel(name).unwrap().implementation("faer").unwrap();
        assert!(f.library && f.available() && f.backend == Backend::Parallel);
    }
    for name in ["outer_product", "triangular_solve"] {
        assert!(
            kernel(name).unwrap().implementation("cublas").is_ok(),
            "{name}"
        );
    }
    // sgemm and sgemv overflow where the contract asks for the f64-redone answer: not routes.
    for name in ["matmul_batched", "matvec"] {
        assert!(
            kernel(name).unwrap().implementation("cublas").is_err(),
            "{name}"
        );
    }
}

#[test]
fn bad_csr_structures_are_value_errors_on_every_implementation() {
    let k = kernel("spmv_csr").unwrap();
    let p = Params::defaults(k.spec);
    let x = Tensor::f32(vec![1.0; 4]);
    let val = Tensor::f32(vec![1.0; 3]);
    let cases = [
        (vec![0u32, 2, 1, 3], vec![0u32, 1, 2]), // row_ptr decreases
        (vec![1u32, 2, 3, 3], vec![0u32, 1, 2]), // does not start at 0
        (vec![0u32, 1, 2, 2], vec![0u32, 1, 2]), // ends below nnz
        (vec![0u32, 1, 2, 3], vec![0u32, 4, 2]), // column 4 of 4
    ];
    for (rp, col) in cases {
        let (rp, col) = (Tensor::u32(rp), Tensor::u32(col));
        for imp in k.implementations().iter().filter(|i| i.backend.is_cpu()) {
            let e = k.run(imp, &[&rp, &col, &val, &x], &p);
            assert!(matches!(e, Err(Error::Value(_))), "{}: {e:?}", imp.id);
        }
    }
    // Shapes: A not 2-D, x of the wrong length, a non-square L.
    let mv = kernel("matvec").unwrap();
    let a = Tensor::f32(vec![1.0; 6]).reshaped(&[2, 3]).unwrap();
    assert!(matches!(
        mv.check(&[&a, &Tensor::f32(vec![1.0; 2])], &p),
        Err(Error::Shape(_))
    ));
    let ts = kernel("triangular_solve").unwrap();
    assert!(matches!(
        ts.check(&[&a, &Tensor::f32(vec![1.0; 2])], &p),
        Err(Error::Shape(_))
    ));
    let mm = kernel("matmul_batched").unwrap();
    let m = Tensor::f32(vec![0.0; 64 * 64]).reshaped(&[64, 64]).unwrap();
    assert!(matches!(mm.check(&[&m, &m], &p), Err(Error::Shape(_))));
}

/// A quick look, not a benchmark (`kroute bench` is): our simd and parallel matmul against the
/// faer route on 64 matrices, best of 5. `cargo test --test linalg -- --ignored --nocapture`.
#[test]
#[ignore]
fn matmul_against_faer_quick_look() {
    let k = kernel("matmul_batched").unwrap();
    let x = k.workload(64 * 16384, 1);
    let refs: Vec<&Tensor> = x.iter().collect();
    let p = Params::defaults(k.spec);
    let mut out = k.outputs_for(&refs, &p).unwrap();
    for id in ["simd", "faer", "parallel"] {
        let imp = k.implementation(id).unwrap();
        let mut best = f64::INFINITY;
        for _ in 0..5 {
            let t = std::time::Instant::now();
            k.run_into(imp, &refs, &p, &mut out).unwrap();
            best = best.min(t.elapsed().as_secs_f64());
        }
        println!(
            "matmul_batched {id}: {:.2} ms, {:.1} GFLOP/s",
            best * 1e3,
            64.0 * 2.0 * 128f64.powi(3) / best / 1e9
        );
    }
}
