//! The `kroute` binary end to end: every error class gives a clear message and a non-zero exit
//! (never a panic), and `run` / `workload` / `check` / `list` / `verify` work on real files.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn kroute(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_kroute"))
        .args(args)
        .output()
        .expect("kroute runs")
}

fn tmp(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("kroute-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir.join(name)
}

/// Write a .npy by hand (version 1.0 header), for dtypes kroute does not produce.
fn write_npy(path: &Path, descr: &str, shape: &[usize], data: &[u8]) {
    let shape_txt = match shape {
        [] => "()".to_string(),
        [n] => format!("({n},)"),
        s => format!(
            "({})",
            s.iter()
                .map(|d| d.to_string())
                .collect::<Vec<_>>()
                .join(", ")
        ),
    };
    let mut header =
        format!("{{'descr': '{descr}', 'fortran_order': False, 'shape': {shape_txt}, }}");
    while (10 + header.len() + 1) % 64 != 0 {
        header.push(' ');
    }
    header.push('\n');
    let mut bytes = b"\x93NUMPY\x01\x00".to_vec();
    bytes.extend((header.len() as u16).to_le_bytes());
    bytes.extend(header.as_bytes());
    bytes.extend(data);
    std::fs::write(path, bytes).unwrap();
}

fn f32_npy(path: &Path, shape: &[usize], v: &[f32]) {
    let data: Vec<u8> = v.iter().flat_map(|x| x.to_le_bytes()).collect();
    write_npy(path, "<f4", shape, &data);
}

fn fails_with(out: &Output, needle: &str) {
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "expected failure, stderr: {err}");
    assert_eq!(out.status.code(), Some(1), "stderr: {err}");
    assert!(!err.contains("panicked"), "panic: {err}");
    assert!(err.contains(needle), "expected '{needle}' in: {err}");
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

#[test]
fn run_add_on_files_and_check_the_result() {
    let (x, y, z) = (tmp("x.npy"), tmp("y.npy"), tmp("z.npy"));
    f32_npy(&x, &[3], &[1.0, 2.5, -1.0]);
    f32_npy(&y, &[3], &[0.5, 0.5, f32::INFINITY]);
    let out = kroute(&[
        "run",
        "map_add",
        "--input",
        s(&x),
        "--input",
        s(&y),
        "--out",
        s(&z),
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let bytes = std::fs::read(&z).unwrap();
    let body = &bytes[bytes.len() - 12..];
    let v: Vec<f32> = body
        .chunks(4)
        .map(|c| f32::from_le_bytes(c.try_into().unwrap()))
        .collect();
    assert_eq!(v, [1.5, 3.0, f32::INFINITY]);
    // Routed by default; -v says which implementation ran and why.
    let cache = tmp("run-cache");
    let verbose = |env: &[(&str, &str)]| {
        let args = ["run", "map_add", "-v", "--input", s(&x), "--input", s(&y)];
        let out = kroute_env(&[&args[..], &["--out", s(&z)]].concat(), env);
        assert!(out.status.success());
        String::from_utf8_lossy(&out.stderr).into_owned()
    };
    let err = verbose(&[("KROUTE_CACHE_DIR", s(&cache))]);
    assert!(
        err.contains("map_add on ") && err.contains("routed at n = 3"),
        "{err}"
    );
    let err = verbose(&[
        ("KROUTE_CACHE_DIR", s(&cache)),
        ("KROUTE_BACKEND", "scalar"),
    ]);
    assert!(
        err.contains("map_add on scalar") && err.contains("forced"),
        "{err}"
    );
    let ok = kroute(&[
        "check",
        "map_add",
        "--input",
        s(&x),
        "--input",
        s(&y),
        "--output",
        s(&z),
    ]);
    assert!(ok.status.success());
    // A wrong output file is caught by `check`.
    f32_npy(&z, &[3], &[1.5, 3.0, 0.0]);
    let bad = kroute(&[
        "check",
        "map_add",
        "--input",
        s(&x),
        "--input",
        s(&y),
        "--output",
        s(&z),
    ]);
    assert_eq!(bad.status.code(), Some(1));
}

#[test]
fn workload_then_run_rows_kernel_with_a_2d_input() {
    let dir = tmp("wl");
    let out = kroute(&[
        "workload",
        "quantize_f16_to_i8",
        "--n",
        "5000",
        "--dir",
        s(&dir),
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let (q, sc) = (tmp("q.npy"), tmp("s.npy"));
    let x = dir.join("in0.npy");
    let out = kroute(&[
        "run",
        "quantize_f16_to_i8",
        "--input",
        s(&x),
        "--out",
        s(&q),
        "--out",
        s(&sc),
        "--backend",
        "simd",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let ok = kroute(&[
        "check",
        "quantize_f16_to_i8",
        "--input",
        s(&x),
        "--output",
        s(&q),
        "--output",
        s(&sc),
    ]);
    assert!(
        ok.status.success(),
        "{}",
        String::from_utf8_lossy(&ok.stdout)
    );
    // d taken from the file's shape disagrees with an explicit parameter.
    let out = kroute(&[
        "run",
        "quantize_f16_to_i8",
        "--param",
        "d=512",
        "--input",
        s(&x),
        "--out",
        s(&q),
        "--out",
        s(&sc),
    ]);
    fails_with(&out, "disagrees");
}

#[test]
fn scalar_results_are_0d_arrays() {
    let (x, r) = (tmp("sx.npy"), tmp("sr.npy"));
    f32_npy(&x, &[4], &[1.0, 2.0, 3.0, 4.0]);
    let out = kroute(&["run", "reduce_sum", "--input", s(&x), "--out", s(&r)]);
    assert!(out.status.success());
    let bytes = std::fs::read(&r).unwrap();
    let text = String::from_utf8_lossy(&bytes);
    assert!(text.contains("'shape': ()"), "{text}");
    assert_eq!(
        f32::from_le_bytes(bytes[bytes.len() - 4..].try_into().unwrap()),
        10.0
    );
}

#[test]
fn every_error_class_is_a_clear_message() {
    let (x, y, o) = (tmp("ex.npy"), tmp("ey.npy"), tmp("eo.npy"));
    f32_npy(&x, &[3], &[1.0, 2.0, 3.0]);
    f32_npy(&y, &[2], &[1.0, 2.0]);
    fails_with(
        &kroute(&["run", "map_nope", "--input", s(&x), "--out", s(&o)]),
        "unknown kernel",
    );
    fails_with(
        &kroute(&[
            "run",
            "map_abs",
            "--input",
            s(&x),
            "--out",
            s(&o),
            "--backend",
            "tpu",
        ]),
        "unknown backend",
    );
    fails_with(
        &kroute(&[
            "run",
            "map_add",
            "--input",
            s(&x),
            "--input",
            s(&y),
            "--out",
            s(&o),
        ]),
        "same length",
    );
    fails_with(
        &kroute(&["run", "map_add", "--input", s(&x), "--out", s(&o)]),
        "needs 2 --input",
    );
    fails_with(
        &kroute(&[
            "run",
            "quantize_f16_to_i8",
            "--input",
            s(&x),
            "--out",
            s(&o),
        ]),
        "needs 2 --out",
    );
    fails_with(
        &kroute(&[
            "run",
            "map_clamp",
            "--param",
            "lo=3",
            "--param",
            "hi=1",
            "--input",
            s(&x),
            "--out",
            s(&o),
        ]),
        "lo ≤ hi",
    );
    fails_with(
        &kroute(&[
            "run",
            "map_clamp",
            "--param",
            "lo",
            "--input",
            s(&x),
            "--out",
            s(&o),
        ]),
        "k=v",
    );
    fails_with(
        &kroute(&[
            "run",
            "map_exp",
            "--input",
            "/nonexistent/x.npy",
            "--out",
            s(&o),
        ]),
        "i/o error",
    );
    let junk = tmp("junk.npy");
    std::fs::write(&junk, b"not an npy file").unwrap();
    fails_with(
        &kroute(&["run", "map_exp", "--input", s(&junk), "--out", s(&o)]),
        "i/o error",
    );
    let f64file = tmp("f64.npy");
    write_npy(&f64file, "<f8", &[2], &[0u8; 16]);
    fails_with(
        &kroute(&["run", "map_exp", "--input", s(&f64file), "--out", s(&o)]),
        "element type",
    );
    let u8file = tmp("u8.npy");
    write_npy(&u8file, "|u1", &[3], &[0, 1, 2]);
    fails_with(
        &kroute(&["run", "map_exp", "--input", s(&u8file), "--out", s(&o)]),
        "must be f32",
    );
    fails_with(
        &kroute(&[
            "run",
            "map_reduce_masked_sum",
            "--input",
            s(&x),
            "--input",
            s(&u8file),
            "--out",
            s(&o),
        ]),
        "mask values",
    );
    let empty = tmp("empty.npy");
    f32_npy(&empty, &[0], &[]);
    fails_with(
        &kroute(&["run", "reduce_min", "--input", s(&empty), "--out", s(&o)]),
        "empty input",
    );
    fails_with(&kroute(&["bench", "--domain", "nope"]), "unknown domain");
    // A catalog entry without an implementation, where one remains (none may, once every
    // domain is done).
    match kroute::catalog().find(|s| kroute::kernel(s.name).is_err()) {
        Some(s) => fails_with(
            &kroute(&["verify", "--kernel", s.name]),
            "no implementation yet",
        ),
        None => eprintln!("every catalog entry is implemented: no not-implemented case left"),
    }
    fails_with(&kroute(&["bench", "--n", "1.5"]), "whole number");
}

#[test]
fn list_shows_the_catalog_and_coverage() {
    let out = kroute(&["list"]);
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    // The summary agrees with the registry (no counts written here).
    let implementations: usize = kroute::kernels().map(|k| k.implementations().len()).sum();
    let summary = format!(
        "{} kernels in {} domain(s); {} implemented; {implementations} implementations,",
        kroute::catalog().count(),
        kroute::Domain::ALL.len(),
        kroute::kernels().count()
    );
    assert!(text.contains(&summary), "{summary}\n{text}");
    assert!(text.contains("compact_mask"));
    let json = kroute(&["list", "--json", "--domain", "fused"]);
    let v: serde_json::Value = serde_json::from_slice(&json.stdout).unwrap();
    assert_eq!(v.as_array().unwrap().len(), 4);
}

#[test]
fn verify_subcommand_reports_and_exits_zero() {
    let out = kroute(&[
        "verify",
        "--domain",
        "fused",
        "--backend",
        "simd",
        "--n",
        "10000",
        "--no-large",
    ]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{text}");
    assert!(text.contains("4 passed, 0 failed"), "{text}");
}

#[test]
fn a_header_whose_shape_overflows_or_disagrees_with_the_data_is_refused() {
    let (bad, long, o) = (tmp("overflow.npy"), tmp("long.npy"), tmp("o.npy"));
    // (2^63 + 1)·2 wraps to 2 in 64 bits: two floats of data must not pass for it.
    let two: Vec<u8> = [1.0f32, 2.0].iter().flat_map(|x| x.to_le_bytes()).collect();
    write_npy(&bad, "<f4", &[9_223_372_036_854_775_809, 2], &two);
    fails_with(
        &kroute(&["run", "map_abs", "--input", s(&bad), "--out", s(&o)]),
        "more elements than this machine can address",
    );
    // A file with more data than its header's shape is not read in part.
    let three: Vec<u8> = [1.0f32, 2.0, 3.0]
        .iter()
        .flat_map(|x| x.to_le_bytes())
        .collect();
    write_npy(&long, "<f4", &[2], &three);
    fails_with(
        &kroute(&["run", "map_abs", "--input", s(&long), "--out", s(&o)]),
        "needs 8 bytes of data, the file holds 12",
    );
    assert!(!o.exists(), "no output may be written for a refused input");
}

fn kroute_env(args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut c = Command::new(env!("CARGO_BIN_EXE_kroute"));
    c.args(args).env_remove("KROUTE_BACKEND");
    for (k, v) in env {
        c.env(k, v);
    }
    c.output().expect("kroute runs")
}

#[test]
fn route_explains_and_refuses_bad_input() {
    let cache = tmp("route-cache");
    let env = [("KROUTE_CACHE_DIR", s(&cache))];
    let out = kroute_env(&["route", "map_add", "--n", "1e6"], &env);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    for needle in [
        "map_add at n = 1000000",
        "no profile",
        "cost model",
        "winner",
        "why",
        "simd",
    ] {
        assert!(text.contains(needle), "{needle} missing from:\n{text}");
    }
    let out = kroute_env(
        &["route", "map_add", "--n", "1e6", "--on", "cuda", "--json"],
        &env,
    );
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(json["candidates"].as_array().unwrap().len() >= 3);
    assert!(json["winner"].is_string());
    // Forced through the environment.
    let out = kroute_env(
        &["route", "map_add", "--n", "1e6"],
        &[
            ("KROUTE_CACHE_DIR", s(&cache)),
            ("KROUTE_BACKEND", "scalar"),
        ],
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("winner     scalar"));
    fails_with(
        &kroute_env(&["route", "map_add", "--on", "gpu"], &env),
        "--on expects",
    );
    fails_with(
        &kroute_env(&["route", "nope", "--n", "10"], &env),
        "unknown kernel",
    );
    fails_with(
        &kroute_env(&["route", "map_add", "--n", "1.5"], &env),
        "whole number",
    );
    fails_with(
        &kroute_env(
            &["route", "map_add"],
            &[("KROUTE_CACHE_DIR", s(&cache)), ("KROUTE_BACKEND", "warp")],
        ),
        "KROUTE_BACKEND",
    );
}

#[test]
fn calibrate_writes_a_profile_that_route_then_uses() {
    let cache = tmp("cal-cache");
    let file = tmp("cal.json");
    let env = [("KROUTE_CACHE_DIR", s(&cache))];
    let out = kroute_env(
        &[
            "calibrate",
            "--kernel",
            "map_add",
            "--quick",
            "--budget-ms",
            "10",
            "--out",
            s(&file),
        ],
        &env,
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let p: serde_json::Value = serde_json::from_slice(&std::fs::read(&file).unwrap()).unwrap();
    assert_eq!(p["schema"], "kroute.profile/1");
    assert!(p["curves"].as_array().unwrap().len() >= 3);
    let out = kroute_env(&["route", "map_add", "--n", "3e5"], &env);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("measured") && !text.contains("no profile"),
        "{text}"
    );
    // The router against measurements at held-out sizes (3·2^11 and 3·2^15 here), then the
    // report's routing table, rules of thumb and accuracy from the two files.
    let check = tmp("check.json");
    let out = kroute_env(
        &[
            "route-check",
            "--kernel",
            "map_add",
            "--quick",
            "--max-n",
            "1e5",
            "--budget-ms",
            "10",
            "--json",
            s(&check),
        ],
        &env,
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("routed within 10% of the fastest"), "{text}");
    let c: serde_json::Value = serde_json::from_slice(&std::fs::read(&check).unwrap()).unwrap();
    assert_eq!(c["schema"], "kroute.route-check/1");
    let ns: Vec<u64> = c["cases"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["n"].as_u64().unwrap())
        .collect();
    assert_eq!(ns, [6144, 98304]);
    let out = kroute_env(&["route-check", "--kernel", "map_add", "--n", "1024"], &env);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("never calibrated"));
    let dir = tmp("routing-report");
    let out = kroute_env(
        &[
            "report",
            "--profile",
            s(&file),
            "--accuracy",
            s(&check),
            "-o",
            s(&dir),
        ],
        &env,
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let md = std::fs::read_to_string(dir.join("report.md")).unwrap();
    for want in [
        "## Routing table",
        "| map_add | host |",
        "could not be checked",
        "## Routing accuracy",
    ] {
        assert!(md.contains(want), "{want}: {md}");
    }
    // A profile from another machine is ignored, with the reason.
    let foreign = String::from_utf8(std::fs::read(&file).unwrap())
        .unwrap()
        .replacen("\"cpu\": \"", "\"cpu\": \"Another ", 1);
    std::fs::write(&file, foreign).unwrap();
    let out = kroute_env(&["route", "map_add", "--profile", s(&file)], &env);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("ignoring the profile") && text.contains("another CPU"),
        "{text}"
    );
}
