//! The results schema shared by `kroute bench --json`, the peers and (later) the report and the
//! router. Documented in `docs/results-schema.md`; bump `SCHEMA` on any incompatible change.

use crate::probe::{Pattern, Probe};
use kroute::{Implementation, Kernel, Params};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

pub const SCHEMA: &str = "kroute.bench/3";

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Times {
    pub min_s: f64,
    pub median_s: f64,
    pub p90_s: f64,
    pub samples: usize,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Record {
    pub kernel: String,
    pub domain: String,
    /// kroute backend name, or the peer's name ("numpy", "torch-cuda", …).
    pub backend: String,
    /// kroute implementation id ("simd", "cuda", later "cufft", …); the peer's name for peers.
    /// Absent in kroute.bench/1 files, where it equals `backend`.
    #[serde(default)]
    pub implementation: String,
    pub n: usize,
    pub params: BTreeMap<String, f64>,
    /// The spec's minimal bytes and counted flops at this n.
    pub bytes: f64,
    pub flops: f64,
    pub verified: bool,
    /// Worst error over allowed error on the benchmark's own inputs (≤ 1 passed).
    pub verify_worst_ratio: Option<f64>,
    pub error: Option<String>,
    pub times: Option<Times>,
    /// bytes / median time, 10^9 bytes/s.
    pub gbps: Option<f64>,
    pub gflops: Option<f64>,
    /// Which measured bandwidth this is compared with, its value, and the ratio.
    pub pattern: Option<Pattern>,
    pub peak_gbps: Option<f64>,
    pub pct_of_peak: Option<f64>,
    /// Input sets rotated through while timing.
    pub rotation_sets: usize,
    /// Warnings, e.g. "above the probe's peak, not a cache effect (…)".
    pub flags: Vec<String>,
    /// How the time was taken (the implementation's clock: "wall time per call…", "cuda
    /// events around each call…"), and for device implementations the median wall time from host data to host result (upload the inputs,
    /// run, download the outputs), which the router needs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timing: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub host_to_result_s: Option<f64>,
    /// Where it ran: "cpu" or "cuda" (absent before kroute.bench/3: from `backend`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub device: Option<String>,
    /// CPU threads it used (scalar and simd 1; parallel the pool; a peer its own setting).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub threads: Option<usize>,
    /// Median seconds of each repeat when kroute and the peers were timed in alternation
    /// (`bench --peers`); `times` combines them (median of these, min of minima, max of p90s).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub repeats: Vec<f64>,
    /// Peers: the idiom timed (the fastest verified one), "call" or "chain" (several library
    /// calls: the unfused form), and every idiom tried with its verdict and times.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub idiom: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub alternatives: Vec<Alternative>,
}

/// One idiom a peer library offered for a kernel.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Alternative {
    pub idiom: String,
    pub kind: String,
    pub verified: bool,
    pub verify_worst_ratio: Option<f64>,
    pub error: Option<String>,
    pub times: Option<Times>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub repeats: Vec<f64>,
}

/// The best bandwidth seen for one access pattern on one device (a CPU thread count or a GPU):
/// the probe's loops or the fastest verified kernel of the run, whichever is higher. Every
/// record's `peak_gbps` is its ceiling after the run.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Ceiling {
    /// "cpu, 1 thread", "cpu, 2 threads", "cuda".
    pub device: String,
    pub pattern: Pattern,
    pub gbps: f64,
    /// "probe" or "kernel/implementation at n".
    pub source: String,
}

impl Record {
    pub fn new(k: &Kernel, imp: &Implementation, n: usize, params: &Params) -> Record {
        Record::named(k, imp.backend.name(), imp.id, n, params)
    }

    /// A row for an implementation that was asked for and does not exist here.
    pub fn skipped(k: &Kernel, id: &str, n: usize, params: &Params) -> Record {
        let backend = kroute::Backend::from_name(id).map_or("", |b| b.name());
        Record::named(k, backend, id, n, params)
    }

    fn named(k: &Kernel, backend: &str, id: &str, n: usize, params: &Params) -> Record {
        let spec = k.spec;
        Record {
            kernel: k.name().to_string(),
            domain: spec.domain.name().to_string(),
            backend: backend.to_string(),
            implementation: id.to_string(),
            n,
            params: params.iter().map(|(k, v)| (k.to_string(), v)).collect(),
            bytes: (spec.bytes)(n as u64),
            flops: (spec.flops)(n as u64),
            verified: false,
            verify_worst_ratio: None,
            error: None,
            times: None,
            gbps: None,
            gflops: None,
            pattern: None,
            peak_gbps: None,
            pct_of_peak: None,
            rotation_sets: 0,
            flags: Vec::new(),
            timing: None,
            host_to_result_s: None,
            device: None,
            threads: None,
            repeats: Vec::new(),
            idiom: None,
            kind: None,
            alternatives: Vec::new(),
        }
    }

    /// Verified before timed: compare the first run's outputs with the reference and record
    /// the worst error; `Err` carries why it failed (then the record is never timed).
    pub fn verify(
        &mut self,
        tol: kroute::Tolerance,
        outputs: &[kroute::Tensor],
        expected: &[kroute::verify::Expected],
    ) -> Result<(), String> {
        let (worst, verdict) = agreement(tol, outputs, expected);
        if !outputs.is_empty() {
            self.verify_worst_ratio = Some(worst);
        }
        verdict?;
        self.verified = true;
        Ok(())
    }

    pub fn failed(mut self, why: String) -> Record {
        self.error = Some(why);
        self
    }

    /// Fill in the timing and the comparison with the measured peak. `cache_bytes`: the cache
    /// the timed working set (`sets` copies of the kernel's bytes) could sit in between calls —
    /// the last-level cache on the host, 0 where the clock flushes it before every sample.
    pub fn finish(
        &mut self,
        times: Times,
        pattern: Pattern,
        peak: f64,
        sets: usize,
        cache_bytes: u64,
    ) {
        let gbps = self.bytes / times.median_s / 1e9;
        self.gbps = Some(gbps);
        self.gflops = Some(self.flops / times.median_s / 1e9);
        self.pattern = Some(pattern);
        self.peak_gbps = Some(peak);
        let pct = 100.0 * gbps / peak;
        self.pct_of_peak = Some(pct);
        if pct > 100.0 {
            let (ws, cache) = (self.bytes * sets as f64 / 1e6, cache_bytes as f64 / 1e6);
            self.flags.push(if cache_bytes == 0 {
                "above the probe's peak, not a cache effect (caches flushed before each sample): \
                 the bandwidth moved since the probe"
                    .into()
            } else if ws <= cache {
                format!("above the probe's peak: a cache effect (working set {ws:.0} MB fits the {cache:.0} MB cache)")
            } else {
                format!(
                    "above the probe's peak, not a cache effect (working set {ws:.0} MB > {cache:.0} MB cache): \
                     the bandwidth moved since the probe"
                )
            });
        }
        self.rotation_sets = sets;
        self.times = Some(times);
    }
}

/// Outputs against their references under one tolerance, in order until the first that fails:
/// the worst error over allowed error seen, and why the failing output failed.
pub fn agreement(
    tol: kroute::Tolerance,
    outputs: &[kroute::Tensor],
    expected: &[kroute::verify::Expected],
) -> (f64, Result<(), String>) {
    let mut worst = 0.0f64;
    for (o, e) in outputs.iter().zip(expected) {
        let a = kroute::verify::compare(tol, o, e);
        worst = worst.max(a.worst_ratio);
        if !a.passed {
            let why = format!(
                "verification failed: {}",
                a.first_failure.unwrap_or_default()
            );
            return (worst, Err(why));
        }
    }
    (worst, Ok(()))
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Report {
    pub schema: String,
    pub kroute_version: String,
    /// Seconds since the Unix epoch when the run started.
    pub started_unix: u64,
    pub command: String,
    pub seed: u64,
    pub machine: Probe,
    pub results: Vec<Record>,
    /// Peer libraries asked for and what each is (version, device, threads, clock) or why it
    /// is absent.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub peers: BTreeMap<String, serde_json::Value>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ceilings: Vec<Ceiling>,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(bytes: f64) -> Record {
        let k = kroute::kernel("reduce_sum").unwrap();
        let p = Params::defaults(k.spec);
        let mut r = Record::new(k, k.on(kroute::Backend::Simd).unwrap(), 1000, &p);
        r.bytes = bytes;
        r
    }

    fn times(median_s: f64) -> Times {
        Times {
            min_s: median_s,
            median_s,
            p90_s: median_s,
            samples: 10,
        }
    }

    #[test]
    fn above_peak_says_whether_the_working_set_fits_the_cache() {
        // 40 MB in 1 ms is 40 GB/s against a 30 GB/s peak.
        let mut r = record(40e6);
        r.finish(times(1e-3), Pattern::Read, 30.0, 10, 32 << 20);
        assert!(r.flags[0].contains("not a cache effect"), "{:?}", r.flags);
        let mut r = record(1e6);
        r.finish(times(1e-5 / 4.0), Pattern::Read, 30.0, 4, 32 << 20);
        assert!(
            r.flags[0].contains("a cache effect (working set 4 MB"),
            "{:?}",
            r.flags
        );
        let mut r = record(40e6);
        r.finish(times(1e-3), Pattern::Read, 30.0, 1, 0);
        assert!(r.flags[0].contains("caches flushed"), "{:?}", r.flags);
        let mut r = record(40e6);
        r.finish(times(1e-3), Pattern::Read, 50.0, 10, 32 << 20);
        assert!(r.flags.is_empty());
    }
}
