//! The peers of `kroute bench --peers`: a Python process (`peers/serve.py`) that runs numpy,
//! PyTorch, CuPy and JAX idioms of a kernel on kroute's own inputs. kroute verifies every idiom's
//! outputs against its reference (the same check as its own implementations), asks for the
//! verified ones to be timed in alternation with its own, and keeps the fastest verified idiom
//! of each library as that library's peer.

use crate::npy;
use kroute::verify::Expected;
use kroute::{Error, Kernel, Result, Tensor, TensorDesc};
use kroute_bench::bench::combine;
use kroute_bench::ceilings::{implausible_at, key, probe_peak, IMPLAUSIBLE};
use kroute_bench::probe::{Pattern, Probe};
use kroute_bench::schema::{agreement, Alternative, Record, Times};
use serde::Deserialize;
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};

/// What `serve.py` says about one library: its version, device, threads and clock, or why it is
/// not here.
#[derive(Clone, Debug, Deserialize, serde::Serialize)]
pub struct Library {
    pub version: Option<String>,
    pub device: Option<String>,
    pub threads: Option<usize>,
    pub timing: Option<String>,
    pub error: Option<String>,
}

#[derive(Clone, Debug, Deserialize)]
pub struct Idiom {
    pub library: String,
    pub idiom: String,
    pub kind: String,
    pub threads: Option<usize>,
    pub outputs: Option<Vec<PathBuf>>,
    pub error: Option<String>,
}

/// One idiom after kroute's verdict, collecting a timing per repeat.
pub struct Tried {
    pub idiom: Idiom,
    pub verified: bool,
    pub worst: Option<f64>,
    pub error: Option<String>,
    pub rounds: Vec<Times>,
    /// Input sets the library rotated through (host libraries; 1 where the clock flushes).
    pub sets: usize,
}

pub struct Peers {
    child: Child,
    stdin: ChildStdin,
    stdout: BufReader<ChildStdout>,
    pub libraries: BTreeMap<String, Library>,
}

/// The server script: `--peers-script`, else $KROUTE_PEERS_SCRIPT, else peers/serve.py here or
/// beside the repository the binary was built in.
pub fn script(given: Option<&Path>) -> Result<PathBuf> {
    let mut candidates: Vec<PathBuf> = Vec::new();
    if let Some(p) = given {
        candidates.push(p.into());
    } else {
        if let Some(p) = std::env::var_os("KROUTE_PEERS_SCRIPT") {
            candidates.push(p.into());
        }
        candidates.push("peers/serve.py".into());
        candidates.push(Path::new(env!("CARGO_MANIFEST_DIR")).join("../../peers/serve.py"));
    }
    candidates
        .iter()
        .find(|p| p.is_file())
        .cloned()
        .ok_or_else(|| {
            Error::Io(format!(
                "peer server not found (tried {}); pass --peers-script",
                candidates
                    .iter()
                    .map(|p| p.display().to_string())
                    .collect::<Vec<_>>()
                    .join(", ")
            ))
        })
}

impl Peers {
    pub fn start(python: &str, script: &Path, libraries: &[String]) -> Result<Peers> {
        let mut child = Command::new(python)
            .arg(script)
            .env("PYTHONUNBUFFERED", "1")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .map_err(|e| Error::Io(format!("cannot start {python} {}: {e}", script.display())))?;
        let stdin = child.stdin.take().expect("piped stdin");
        let stdout = BufReader::new(child.stdout.take().expect("piped stdout"));
        let mut peers = Peers {
            child,
            stdin,
            stdout,
            libraries: BTreeMap::new(),
        };
        let libs: Vec<&str> = if libraries.iter().any(|l| l == "all") {
            Vec::new() // the server's whole list
        } else {
            libraries.iter().map(String::as_str).collect()
        };
        let reply = peers.call(json!({"op": "hello", "libraries": libs}))?;
        peers.libraries = serde_json::from_value(reply["libraries"].clone())
            .map_err(|e| Error::Io(format!("peer server: bad hello reply: {e}")))?;
        Ok(peers)
    }

    fn call(&mut self, request: Value) -> Result<Value> {
        let io = |e: std::io::Error| Error::Io(format!("peer server: {e}"));
        writeln!(self.stdin, "{request}").map_err(io)?;
        self.stdin.flush().map_err(io)?;
        let mut line = String::new();
        if self.stdout.read_line(&mut line).map_err(io)? == 0 {
            return Err(Error::Io("peer server exited (its error is above)".into()));
        }
        let reply: Value = serde_json::from_str(&line)
            .map_err(|e| Error::Io(format!("peer server: bad reply ({e}): {line}")))?;
        match reply.get("error").and_then(Value::as_str) {
            Some(e) => Err(Error::Io(format!("peer server: {e}"))),
            None => Ok(reply),
        }
    }

    /// Every library's idioms for `k`, run once on the inputs in `dir` and verified here.
    pub fn run(
        &mut self,
        k: &Kernel,
        n: usize,
        inputs: &[Tensor],
        expected: &[Expected],
        outputs: &[TensorDesc],
        dir: &Path,
    ) -> Result<Vec<Tried>> {
        let mut files = Vec::new();
        for (i, t) in inputs.iter().enumerate() {
            let p = dir.join(format!("in{i}.npy"));
            npy::write(&p, t)?;
            files.push(p);
        }
        let params: BTreeMap<&str, f64> = kroute::Params::defaults(k.spec).iter().collect();
        let reply = self.call(json!({
            "op": "run", "kernel": k.name(), "n": n, "params": params, "inputs": files,
            // A capacity output (compaction's values) may come back holding only the result.
            "outputs": outputs.iter().zip(expected).map(|(d, e)| json!({
                "dtype": d.dtype.name(), "shape": d.shape, "capacity": e.prefix.is_some(),
            })).collect::<Vec<_>>(),
            "dir": dir,
        }))?;
        let idioms: Vec<Idiom> = serde_json::from_value(reply["idioms"].clone())
            .map_err(|e| Error::Io(format!("peer server: bad run reply: {e}")))?;
        Ok(idioms
            .into_iter()
            .map(|idiom| {
                let verdict = match (&idiom.outputs, &idiom.error) {
                    (_, Some(e)) => Err((format!("raised {e}"), None)),
                    (Some(outs), None) => check(k, outs, expected),
                    (None, None) => Err(("no outputs".into(), None)),
                };
                let (verified, worst, error) = match verdict {
                    Ok(w) => (true, Some(w), None),
                    Err((e, w)) => (false, w, Some(e)),
                };
                Tried {
                    idiom,
                    verified,
                    worst,
                    error,
                    rounds: Vec::new(),
                    sets: 1,
                }
            })
            .collect())
    }

    /// Time the verified idioms once more (one repeat).
    pub fn time(
        &mut self,
        tried: &mut [Tried],
        budget_s: f64,
        rotate_bytes: u64,
        device_rotate_bytes: u64,
    ) -> Result<()> {
        let ids: Vec<usize> = (0..tried.len()).filter(|&i| tried[i].verified).collect();
        if ids.is_empty() {
            return Ok(());
        }
        let reply = self.call(json!({
            "op": "time", "ids": ids, "budget_s": budget_s, "rotate_bytes": rotate_bytes,
            "device_rotate_bytes": device_rotate_bytes,
        }))?;
        let times = reply["times"].as_array().cloned().unwrap_or_default();
        for (&i, t) in ids.iter().zip(times) {
            match serde_json::from_value::<Times>(t.clone()) {
                Ok(times) => {
                    tried[i].sets = t["rotation_sets"].as_u64().unwrap_or(1) as usize;
                    tried[i].rounds.push(times);
                }
                Err(_) => {
                    let why = t["error"].as_str().unwrap_or("no timing").to_string();
                    tried[i].verified = false;
                    tried[i].error = Some(format!("failed while timing: {why}"));
                }
            }
        }
        Ok(())
    }
}

impl Drop for Peers {
    fn drop(&mut self) {
        let _ = writeln!(self.stdin, "{}", json!({"op": "quit"}));
        let _ = self.stdin.flush();
        let _ = self.child.wait();
    }
}

/// A peer's output files against the reference: Ok(worst ratio) or Err((why, worst so far)).
fn check(
    k: &Kernel,
    files: &[PathBuf],
    expected: &[Expected],
) -> std::result::Result<f64, (String, Option<f64>)> {
    if files.len() != expected.len() {
        return Err((
            format!(
                "{} outputs, {} has {}",
                files.len(),
                k.name(),
                expected.len()
            ),
            None,
        ));
    }
    let outputs: Vec<Tensor> = files
        .iter()
        .map(|f| npy::read(f).map_err(|e| (format!("unreadable output: {e}"), None)))
        .collect::<std::result::Result<_, _>>()?;
    match agreement(k.spec.tolerance, &outputs, expected) {
        (worst, Ok(())) => Ok(worst),
        (worst, Err(why)) => Err((why, Some(worst))),
    }
}

/// The records of one kernel at one n from every library's idioms: the fastest verified
/// plausible idiom is the library's row; a fused kernel also gets the library's fastest chain
/// (the unfused form) when its best is a single call. A library none of whose idioms passed
/// gets a failing row that says why.
pub fn records(
    k: &Kernel,
    n: usize,
    tried: &[Tried],
    pattern: Pattern,
    libraries: &BTreeMap<String, Library>,
    probe: &Probe,
) -> Vec<Record> {
    let params = kroute::Params::defaults(k.spec);
    let fused = matches!(k.spec.domain.name(), "fused" | "fused_custom");
    let mut out = Vec::new();
    let mut libs: Vec<&str> = tried.iter().map(|t| t.idiom.library.as_str()).collect();
    libs.dedup();
    for lib in libs {
        let info = libraries.get(lib);
        let device = info
            .and_then(|l| l.device.clone())
            .unwrap_or_else(|| "cpu".into());
        let mine: Vec<&Tried> = tried.iter().filter(|t| t.idiom.library == lib).collect();
        // Every idiom with its verdict; a plausible timing makes it a candidate.
        let mut alts = Vec::new();
        let mut candidates: Vec<(usize, Times, Vec<f64>)> = Vec::new();
        for (i, t) in mine.iter().enumerate() {
            let mut alt = Alternative {
                idiom: t.idiom.idiom.clone(),
                kind: t.idiom.kind.clone(),
                verified: t.verified,
                verify_worst_ratio: t.worst,
                error: t.error.clone(),
                times: None,
                repeats: Vec::new(),
            };
            if t.verified && !t.rounds.is_empty() {
                let (times, repeats) = combine(&t.rounds);
                let gbps = (k.spec.bytes)(n as u64) / times.median_s / 1e9;
                if implausible_at(probe, &key(&device, t.idiom.threads), pattern, gbps) {
                    alt.error = Some(format!(
                        "implausible: {gbps:.1} GB/s is over {IMPLAUSIBLE}× the probe's bandwidth here — a \
                         lazy or asynchronous result, or a timing that missed the work; not counted"
                    ));
                } else {
                    candidates.push((i, times.clone(), repeats.clone()));
                }
                alt.times = Some(times);
                alt.repeats = repeats;
            }
            alts.push(alt);
        }
        // Verify-only runs (no repeats) keep every verified idiom as an untimed candidate.
        if !tried.iter().any(|t| !t.rounds.is_empty()) {
            candidates = (0..mine.len())
                .filter(|&i| mine[i].verified)
                .map(|i| {
                    let nothing = Times {
                        min_s: f64::NAN,
                        median_s: f64::NAN,
                        p90_s: f64::NAN,
                        samples: 0,
                    };
                    (i, nothing, Vec::new())
                })
                .collect();
        }
        let fastest = |chain_only: bool| {
            candidates
                .iter()
                .filter(|(i, ..)| !chain_only || mine[*i].idiom.kind == "chain")
                .min_by(|a, b| a.1.median_s.total_cmp(&b.1.median_s))
                .cloned()
        };
        let row = |id: String, pick: Option<(usize, Times, Vec<f64>)>| {
            let mut r = Record::skipped(k, &id, n, &params);
            r.backend = lib.to_string();
            r.implementation = id;
            r.device = Some(device.clone());
            r.timing = info.and_then(|l| l.timing.clone());
            r.alternatives = alts.clone();
            match pick {
                Some((i, times, repeats)) => {
                    let t = mine[i];
                    r.verified = true;
                    r.verify_worst_ratio = t.worst;
                    r.idiom = Some(t.idiom.idiom.clone());
                    r.kind = Some(t.idiom.kind.clone());
                    r.threads = t.idiom.threads;
                    r.pattern = Some(pattern);
                    if times.samples > 0 {
                        let (pattern, peak) = probe_peak(probe, &device, r.threads, pattern);
                        let cache = if device == "cpu" { probe.llc_bytes } else { 0 };
                        r.finish(times, pattern, peak, t.sets, cache);
                        r.repeats = repeats;
                    }
                }
                None => {
                    let why: Vec<String> = mine
                        .iter()
                        .map(|t| {
                            format!(
                                "{}: {}",
                                t.idiom.idiom,
                                alts.iter()
                                    .find(|a| a.idiom == t.idiom.idiom)
                                    .and_then(|a| a.error.clone())
                                    .unwrap_or_else(|| "not timed".into())
                            )
                        })
                        .collect();
                    r.error = Some(format!("no idiom passed: {}", why.join("; ")));
                }
            }
            r
        };
        let best = fastest(false);
        let best_is_chain = best
            .as_ref()
            .is_some_and(|b| mine[b.0].idiom.kind == "chain");
        out.push(row(lib.to_string(), best));
        if fused && !best_is_chain {
            if let Some(chain) = fastest(true) {
                out.push(row(format!("{lib}-chain"), Some(chain)));
            }
        }
    }
    out
}
