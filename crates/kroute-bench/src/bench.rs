//! The benchmark loop (DESIGN.md "Rules that keep it honest"): verify first, rotate input sets
//! so the timed working set is ≥ 4× the last-level cache, warm up, sample until the spread is
//! low or the time budget is spent, and report min / median / p90 with bytes and flops counted
//! from the spec.

use crate::probe::{Pattern, Probe};
use crate::schema::{Record, Times};
use kroute::op::Op;
use kroute::verify::Expected;
use kroute::{Backend, Params, Tensor};
use std::time::{Duration, Instant};

/// Timing on the cuda backend (device-resident data, CUDA events, L2 flush).
#[cfg(feature = "cuda")]
#[path = "bench_cuda.rs"]
pub mod cuda;

#[derive(Clone, Debug)]
pub struct Settings {
    pub seed: u64,
    /// Time budget for one (kernel, backend, n) after warm-up.
    pub budget: Duration,
    pub min_samples: usize,
    pub max_samples: usize,
    /// Stop early once (p90 − median) / median falls below this.
    pub target_spread: f64,
    /// Rotate through input sets totalling at least this many bytes.
    pub rotate_bytes: u64,
    /// Never allocate more than this for rotation copies.
    pub max_rotate_bytes: u64,
}

impl Settings {
    pub fn for_machine(probe: &Probe) -> Settings {
        Settings {
            seed: 42,
            budget: Duration::from_millis(1500),
            min_samples: 5,
            max_samples: 500,
            target_spread: 0.02,
            // ≥ 4× the LLC, and never under the probe's 256 MiB arrays.
            rotate_bytes: (4 * probe.llc_bytes).max(256 << 20),
            max_rotate_bytes: 6 << 30,
        }
    }
}

/// How a kernel touches memory, for choosing which measured bandwidth to compare with.
pub fn pattern(op: &Op, inputs: &[Tensor], outputs: &[Tensor]) -> Pattern {
    let inb: usize = inputs.iter().map(Tensor::bytes).sum();
    let outb: usize = outputs.iter().map(Tensor::bytes).sum();
    if outb * 20 < inb {
        Pattern::Read
    } else if op.inputs.len() >= 2 && inputs[1].bytes() * 4 >= inputs[0].bytes() {
        Pattern::Triad
    } else {
        Pattern::Copy
    }
}

pub fn percentile(sorted: &[f64], q: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let i = ((sorted.len() - 1) as f64 * q).round() as usize;
    sorted[i]
}

pub fn times_of(samples: &[f64]) -> Times {
    let mut s = samples.to_vec();
    s.sort_by(f64::total_cmp);
    Times {
        min_s: s.first().copied().unwrap_or(f64::NAN),
        median_s: percentile(&s, 0.5),
        p90_s: percentile(&s, 0.9),
        samples: s.len(),
    }
}

/// Sample `run(i)` (i = the rotation index) until the spread is low or the budget is spent.
pub fn sample(
    settings: &Settings,
    sets: usize,
    mut run: impl FnMut(usize) -> kroute::Result<()>,
) -> kroute::Result<Times> {
    // Warm-up: page in every rotation set once, and at least 50 ms of calls.
    let t0 = Instant::now();
    for i in 0..sets.max(2) {
        run(i % sets)?;
    }
    while t0.elapsed() < Duration::from_millis(50) {
        run(0)?;
    }
    let start = Instant::now();
    let mut samples = Vec::new();
    loop {
        let i = samples.len() % sets;
        let t = Instant::now();
        run(i)?;
        samples.push(t.elapsed().as_secs_f64());
        let n = samples.len();
        if n >= settings.max_samples {
            break;
        }
        if n >= settings.min_samples {
            let t = times_of(&samples);
            let spread = (t.p90_s - t.median_s) / t.median_s;
            if (n >= 10 && spread < settings.target_spread) || start.elapsed() > settings.budget {
                break;
            }
        }
    }
    Ok(times_of(&samples))
}

/// One timed configuration: verified on the first input set, then sampled over all sets.
pub fn bench_one(
    op: &Op,
    backend: Backend,
    n: usize,
    sets: &[Vec<Tensor>],
    expected: &[Expected],
    probe: &Probe,
    settings: &Settings,
) -> Record {
    let spec = op.spec();
    let params = Params::defaults(spec);
    let refs: Vec<Vec<&Tensor>> = sets.iter().map(|s| s.iter().collect()).collect();
    let mut record = Record::new(op, backend, n, &params);
    let mut outs: Vec<Vec<Tensor>> = match sets
        .iter()
        .map(|_| op.outputs_for(&refs[0], &params))
        .collect()
    {
        Ok(o) => o,
        Err(e) => return record.failed(format!("inputs rejected: {e}")),
    };
    // Verified before timed: a failing implementation is reported, never timed.
    outs[0].iter_mut().for_each(Tensor::poison);
    if let Err(e) = op.run_into(backend, &refs[0], &params, &mut outs[0]) {
        return record.failed(format!("run failed: {e}"));
    }
    if let Err(why) = record.verify(spec.tolerance, &outs[0], expected) {
        return record.failed(why);
    }
    let times = match sample(settings, sets.len(), |i| {
        op.run_into(backend, &refs[i], &params, &mut outs[i])
    }) {
        Ok(t) => t,
        Err(e) => return record.failed(format!("run failed while timing: {e}")),
    };
    let pattern = pattern(op, &sets[0], &outs[0]);
    let peak = if backend == Backend::Parallel {
        &probe.all_threads
    } else {
        &probe.one_thread
    }
    .get(pattern);
    record.finish(times, pattern, peak, sets.len());
    record
}

/// How many input sets to rotate through so the timed working set is ≥ `rotate_bytes`.
pub fn rotation_sets(bytes_per_set: u64, settings: &Settings) -> usize {
    let want = settings.rotate_bytes.div_ceil(bytes_per_set.max(1)) as usize;
    let cap = (settings.max_rotate_bytes / bytes_per_set.max(1)).max(1) as usize;
    want.clamp(1, cap.max(1)).min(4096)
}
