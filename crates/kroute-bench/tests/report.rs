//! `kroute report` on a small fixture whose conclusions are known: the tables say what the
//! numbers imply (wins, ratios, the loss, the crossover, the fused chain, the refused idiom) and
//! the charts are written.

use kroute_bench::report::{crossing, load, write};
use serde_json::{json, Value};

#[allow(clippy::too_many_arguments)]
fn rec(
    kernel: &str,
    domain: &str,
    imp: &str,
    n: usize,
    secs: f64,
    device: &str,
    threads: Option<usize>,
    flops_per: f64,
) -> Value {
    let bytes = 4.0 * n as f64;
    let backend = imp.trim_end_matches("-chain");
    json!({
        "kernel": kernel, "domain": domain, "backend": backend, "implementation": imp, "n": n,
        "params": {}, "bytes": bytes, "flops": flops_per * n as f64, "verified": true,
        "verify_worst_ratio": 0.1, "error": null,
        "times": {"min_s": secs * 0.98, "median_s": secs, "p90_s": secs * 1.01, "samples": 20},
        "gbps": bytes / secs / 1e9, "gflops": flops_per * n as f64 / secs / 1e9, "pattern": "read",
        "peak_gbps": null, "pct_of_peak": null, "rotation_sets": 4, "flags": [],
        "device": device, "threads": threads, "repeats": [secs * 0.99, secs * 1.01],
    })
}

fn peer(mut v: Value, idiom: &str, kind: &str) -> Value {
    v["idiom"] = json!(idiom);
    v["kind"] = json!(kind);
    v["alternatives"] = json!([{"idiom": idiom, "kind": kind, "verified": true,
        "verify_worst_ratio": 0.1, "error": null, "times": v["times"].clone()}]);
    v
}

fn fixture() -> Value {
    let (rs, f) = ("reduce_sum", "reductions");
    let (abs, fu) = ("map_reduce_abs_sum", "fused");
    let mut numpy_abs = peer(
        rec(abs, fu, "numpy", 100_000_000, 30e-3, "cpu", Some(1), 2.0),
        "sum(abs(x))",
        "chain",
    );
    numpy_abs["alternatives"].as_array_mut().unwrap().push(
        json!({"idiom": "linalg.norm(x, 1)", "kind": "call", "verified": false,
            "verify_worst_ratio": 3.0, "error": "verification failed: element 0: got 1, expected 2",
            "times": null}),
    );
    let mut cuda_1e6 = rec(rs, f, "cuda", 1_000_000, 10e-6, "cuda", None, 1.0);
    cuda_1e6["host_to_result_s"] = json!(1e-3);
    let mut cuda_1e8 = rec(rs, f, "cuda", 100_000_000, 100e-6, "cuda", None, 1.0);
    cuda_1e8["host_to_result_s"] = json!(3e-3);
    let results = vec![
        rec(rs, f, "simd", 1_000_000, 100e-6, "cpu", Some(1), 1.0),
        rec(rs, f, "parallel", 1_000_000, 60e-6, "cpu", Some(2), 1.0),
        cuda_1e6,
        peer(
            rec(rs, f, "numpy", 1_000_000, 200e-6, "cpu", Some(1), 1.0),
            "sum",
            "call",
        ),
        peer(
            rec(rs, f, "torch-cuda", 1_000_000, 8e-6, "cuda", None, 1.0),
            "torch.sum",
            "call",
        ),
        rec(rs, f, "simd", 100_000_000, 10e-3, "cpu", Some(1), 1.0),
        rec(rs, f, "parallel", 100_000_000, 6e-3, "cpu", Some(2), 1.0),
        cuda_1e8,
        peer(
            rec(rs, f, "numpy", 100_000_000, 20e-3, "cpu", Some(1), 1.0),
            "sum",
            "call",
        ),
        peer(
            rec(rs, f, "torch-cuda", 100_000_000, 110e-6, "cuda", None, 1.0),
            "torch.sum",
            "call",
        ),
        rec(abs, fu, "simd", 100_000_000, 10e-3, "cpu", Some(1), 2.0),
        rec(abs, fu, "cuda", 100_000_000, 100e-6, "cuda", None, 2.0),
        numpy_abs,
        peer(
            rec(
                abs,
                fu,
                "torch-cuda",
                100_000_000,
                120e-6,
                "cuda",
                None,
                2.0,
            ),
            "linalg.vector_norm(x, 1)",
            "call",
        ),
        peer(
            rec(
                abs,
                fu,
                "torch-cuda-chain",
                100_000_000,
                300e-6,
                "cuda",
                None,
                2.0,
            ),
            "sum(abs(x))",
            "chain",
        ),
    ];
    let bw = json!({"read": 40.0, "copy": 35.0, "triad": 38.0});
    json!({
        "schema": "kroute.bench/3", "kroute_version": "0.1.0", "started_unix": 1_764_547_200u64,
        "command": "kroute bench --peers numpy,torch-cuda (fixture)", "seed": 42,
        "machine": {"cpu_model": "Fixture CPU", "simd": "avx512", "logical_cores": 2, "threads": 2,
            "caches": [], "llc_bytes": 32u64 << 20, "array_bytes": 256u64 << 20, "one_thread": bw,
            "all_threads": bw, "gpus": [], "gpu_note": "fixture"},
        "results": results,
        "peers": {"numpy": {"version": "2.4", "device": "cpu", "threads": 1, "timing": "wall"}},
    })
}

#[test]
fn the_report_says_what_the_fixture_implies() {
    let dir = std::env::temp_dir().join(format!("kroute-report-test-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let input = dir.join("fixture.json");
    std::fs::write(&input, fixture().to_string()).unwrap();
    let run = load(std::slice::from_ref(&input)).unwrap();
    let files = write(&run, &[], &dir.join("out")).unwrap();
    let md = std::fs::read_to_string(dir.join("out/report.md")).unwrap();
    let has = |s: &str| assert!(md.contains(s), "report.md lacks {s:?}:\n{md}");
    // Fastest of everything: torch at 10^6, kroute's cuda at 10^8 for both kernels.
    has("kroute on 2 of 3 pairs");
    has("| torch-cuda | 1 | 33% |");
    // GPU like with like: 8/10 = 0.8, 110/100 = 1.1, 120/100 = 1.2.
    has("| GPU | 3 | 2 | 1.10× |");
    // One thread: numpy ÷ simd = 2, 2, 3.
    has("| CPU, 1 thread | 3 | 3 | 2.00× |");
    // The loss, plainly, with its noise verdict.
    has("| reduce_sum | 10^6 | GPU | cuda 10.0 µs | torch-cuda `torch.sum` 8.0 µs | 0.80× | beyond |");
    // Crossover: the GPU leads on device-resident data from the first size; host-resident it
    // crosses between 10^6 (0.06) and 10^8 (2.0) at ≈ 4.0e7 in log–log.
    has("| reduce_sum | 10^6, 10^8 | GPU from the first size (10^6) | GPU above n ≈ 4.0e7 |");
    // Fusion: the single call and the unfused chain side by side.
    has("torch-cuda-chain `sum(abs(x))` 300.0 µs");
    // The refused idiom is listed, the verified one is the peer.
    has("numpy `linalg.norm(x, 1)` | verification failed");
    has("numpy `sum(abs(x))`");
    // What was measured, per class.
    has("| GPU | 10^8 | 2 of 2 | cuda | torch-cuda |");
    for f in &files[1..] {
        let svg = std::fs::read_to_string(f).unwrap();
        assert!(svg.starts_with("<svg"), "{} is not an SVG", f.display());
    }
    let names: Vec<String> = files
        .iter()
        .map(|f| {
            f.strip_prefix(dir.join("out"))
                .unwrap()
                .display()
                .to_string()
        })
        .collect();
    for want in [
        "report.md",
        "speedup-per-domain.svg",
        "roofline.svg",
        "size/reduce_sum.svg",
    ] {
        assert!(names.iter().any(|n| n == want), "{want} not in {names:?}");
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn crossings_are_interpolated_in_log_log() {
    assert_eq!(crossing(&[(1e6, 0.5), (1e8, 2.0)]), "GPU above n ≈ 1.0e7");
    assert_eq!(
        crossing(&[(1e3, 2.0), (1e6, 3.0)]),
        "GPU from the first size (10^3)"
    );
    assert_eq!(
        crossing(&[(1e3, 0.2), (1e6, 0.9)]),
        "CPU at every size up to 10^6"
    );
}

#[test]
fn a_file_that_is_not_a_bench_result_is_refused_with_its_name() {
    let p = std::env::temp_dir().join(format!("kroute-report-bad-{}.json", std::process::id()));
    std::fs::write(&p, "{\"hello\": 1}").unwrap();
    let e = load(std::slice::from_ref(&p)).err().unwrap();
    assert!(e.contains("not a kroute bench file"), "{e}");
    let _ = std::fs::remove_file(&p);
}
