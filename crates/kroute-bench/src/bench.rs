//! The benchmark loop (docs/design.md "Rules that keep it honest"), one for every
//! implementation: verify first; put the inputs where the implementation runs; take the clock
//! of that place (CPU: wall time over input copies rotated past the last-level cache; a device:
//! its own clock, e.g. CUDA events after an L2 flush); warm up; sample until the spread is low
//! or the time budget is spent; report min / median / p90 with bytes and flops counted from the
//! spec. Device implementations also get host-to-result: host inputs to host outputs.

use crate::probe::{Pattern, Probe};
use crate::schema::{Record, Times};
use kroute::backend::{device_at, Clock, WallClock};
use kroute::verify::Expected;
use kroute::{Backend, Implementation, Kernel, Location, Params, Result, Tensor};
use std::time::{Duration, Instant};

#[derive(Clone, Debug)]
pub struct Settings {
    pub seed: u64,
    /// Time budget for one (implementation, n) after warm-up.
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
        let (rotate_bytes, max_rotate_bytes) = Settings::rotation_for_llc(probe.llc_bytes);
        Settings {
            seed: 42,
            budget: Duration::from_millis(1500),
            min_samples: 5,
            max_samples: 500,
            target_spread: 0.02,
            rotate_bytes,
            max_rotate_bytes,
        }
    }

    /// (rotate_bytes, max_rotate_bytes) for a last-level cache of `llc` bytes: ≥ 4× the LLC,
    /// and never under the probe's 256 MiB arrays; at most 6 GiB of copies.
    pub fn rotation_for_llc(llc: u64) -> (u64, u64) {
        ((4 * llc).max(256 << 20), 6 << 30)
    }
}

/// How a kernel touches memory, for choosing which measured bandwidth to compare with.
pub fn pattern(k: &Kernel, inputs: &[Tensor], outb: usize) -> Pattern {
    let inb: usize = inputs.iter().map(Tensor::bytes).sum();
    if outb * 20 < inb {
        Pattern::Read
    } else if k.inputs().len() >= 2 && inputs[1].bytes() * 4 >= inputs[0].bytes() {
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

/// Sample `run(i)` (i = the rotation index) on `clock` in batches until the spread is low or
/// the budget is spent.
pub fn sample(
    settings: &Settings,
    clock: &mut dyn Clock,
    sets: usize,
    run: &mut dyn FnMut(usize) -> Result<()>,
) -> Result<Times> {
    // A cold-starting clock (a device) times short samples: batches of 25 queued at once, and
    // at least 50 before a low spread may end the sampling. On the host, 10 before a low spread
    // may, and `min_samples` before the budget may (a 10^8 scalar call can take a second).
    let (batch, for_spread, for_budget) = if clock.starts_cold() {
        (25, settings.min_samples.max(50), 25)
    } else {
        (1, settings.min_samples.max(10), settings.min_samples)
    };
    let start = Instant::now();
    let mut samples = Vec::new();
    loop {
        let offset = samples.len();
        let got = clock.time(batch, &mut |i| run((offset + i) % sets))?;
        samples.extend(got);
        let n = samples.len();
        if n >= settings.max_samples {
            break;
        }
        let t = times_of(&samples);
        let spread = (t.p90_s - t.median_s) / t.median_s;
        if (n >= for_spread && spread < settings.target_spread)
            || (n >= for_budget && start.elapsed() > settings.budget)
        {
            break;
        }
    }
    Ok(times_of(&samples))
}

/// How many input sets to rotate through so the timed working set is ≥ `rotate_bytes`.
pub fn rotation_sets(bytes_per_set: u64, settings: &Settings) -> usize {
    let want = settings.rotate_bytes.div_ceil(bytes_per_set.max(1)) as usize;
    let cap = (settings.max_rotate_bytes / bytes_per_set.max(1)).max(1) as usize;
    want.clamp(1, cap.max(1)).min(4096)
}

/// The clock for data at `loc`.
fn clock_at(loc: Location) -> Result<Box<dyn Clock>> {
    match loc {
        Location::Host => Ok(Box::new(WallClock)),
        Location::Cuda(o) => device_at(loc)?.clock(o),
    }
}

/// Median wall seconds from host inputs to host outputs (upload, run, download).
pub fn host_to_result(
    k: &Kernel,
    imp: &Implementation,
    inputs: &[Tensor],
    params: &Params,
    reps: usize,
) -> Result<f64> {
    let loc = imp.location(0);
    let mut v = Vec::with_capacity(reps);
    for _ in 0..reps {
        let t = Instant::now();
        let dins: Vec<Tensor> = inputs
            .iter()
            .map(|x| x.to_location(loc))
            .collect::<Result<_>>()?;
        let refs: Vec<&Tensor> = dins.iter().collect();
        let mut outs: Vec<Tensor> = k
            .check(&refs, params)?
            .iter()
            .map(|d| Tensor::zeros_at(d, loc))
            .collect::<Result<_>>()?;
        k.run_into(imp, &refs, params, &mut outs)?;
        for o in &outs {
            std::hint::black_box(o.to_host()?);
        }
        v.push(t.elapsed().as_secs_f64());
    }
    Ok(times_of(&v).median_s)
}

/// A record for `imp` at n, verified on the first input set: a failing implementation is
/// reported (`error` set), never timed.
pub fn verify_one(
    k: &Kernel,
    imp: &Implementation,
    n: usize,
    sets: &[Vec<Tensor>],
    expected: &[Expected],
) -> Record {
    let params = Params::defaults(k.spec);
    let mut record = Record::new(k, imp, n, &params);
    record.device = Some(if imp.backend.is_cpu() { "cpu" } else { "cuda" }.into());
    record.threads = match imp.backend {
        Backend::Parallel => Some(rayon::current_num_threads()),
        b if b.is_cpu() => Some(1),
        _ => None,
    };
    if let Some(why) = imp.unavailable_reason() {
        return record.failed(format!("skipped: {why}"));
    }
    let base: Vec<&Tensor> = sets[0].iter().collect();
    let mut outs = match k.outputs_for(&base, &params) {
        Ok(o) => o,
        Err(e) => return record.failed(format!("inputs rejected: {e}")),
    };
    outs.iter_mut().for_each(Tensor::poison);
    if let Err(e) = k.run_into(imp, &base, &params, &mut outs) {
        return record.failed(format!("run failed: {e}"));
    }
    if let Err(why) = record.verify(k.spec.tolerance, &outs, expected) {
        return record.failed(why);
    }
    record.pattern = Some(pattern(k, &sets[0], outs.iter().map(Tensor::bytes).sum()));
    record
}

/// One timing of a verified implementation: (times, the clock's description, sets rotated).
pub fn time_one(
    k: &Kernel,
    imp: &Implementation,
    sets: &[Vec<Tensor>],
    settings: &Settings,
) -> Result<(Times, &'static str, usize)> {
    let params = Params::defaults(k.spec);
    let loc = imp.location(0);
    let mut clock = clock_at(loc)?;
    // Inputs where the implementation runs: every host copy, or one set on the device.
    let used = if clock.starts_cold() { 1 } else { sets.len() };
    let placed: Vec<Vec<Tensor>> = sets[..used]
        .iter()
        .map(|s| s.iter().map(|t| t.to_location(loc)).collect())
        .collect::<Result<_>>()?;
    let refs: Vec<Vec<&Tensor>> = placed.iter().map(|s| s.iter().collect()).collect();
    let descs = k.check(&refs[0], &params)?;
    let mut outs: Vec<Vec<Tensor>> = (0..used)
        .map(|_| descs.iter().map(|d| Tensor::zeros_at(d, loc)).collect())
        .collect::<Result<_>>()?;
    let mut run = |i: usize| k.run_into(imp, &refs[i], &params, &mut outs[i]);
    // Warm-up. On the host: page in every set once, and at least 50 ms of calls. On a
    // device (asynchronous launches): three calls and a wait — a 50 ms loop there would
    // queue seconds of GPU work and heat the chip before the samples.
    for i in 0..used.max(3) {
        run(i % used)?;
    }
    match loc {
        Location::Host => {
            let t0 = Instant::now();
            while t0.elapsed() < Duration::from_millis(50) {
                run(0)?;
            }
        }
        Location::Cuda(o) => device_at(loc)?.synchronize(o)?,
    }
    let times = sample(settings, clock.as_mut(), used, &mut run)?;
    Ok((times, clock.describe(), used))
}

/// The median of sorted values, the mean of the middle two for an even count (NaN if none).
pub fn median(sorted: &[f64]) -> f64 {
    let m = sorted.len();
    match m {
        0 => f64::NAN,
        _ if m % 2 == 1 => sorted[m / 2],
        _ => 0.5 * (sorted[m / 2 - 1] + sorted[m / 2]),
    }
}

/// Several timings of one thing as one: the median of their medians, the lowest minimum, the
/// highest p90, every sample counted; and the medians themselves (the spread across repeats).
pub fn combine(rounds: &[Times]) -> (Times, Vec<f64>) {
    let medians: Vec<f64> = rounds.iter().map(|t| t.median_s).collect();
    let mut sorted = medians.clone();
    sorted.sort_by(f64::total_cmp);
    let m = sorted.len();
    let times = Times {
        min_s: rounds.iter().map(|t| t.min_s).fold(f64::INFINITY, f64::min),
        median_s: median(&sorted),
        p90_s: rounds.iter().map(|t| t.p90_s).fold(0.0, f64::max),
        samples: rounds.iter().map(|t| t.samples).sum(),
    };
    (times, if m > 1 { medians } else { Vec::new() })
}

/// Time figures of a verified record from its timings (one per repeat), compared with the
/// probe; a device implementation also gets host-to-result.
pub fn finish_one(
    record: &mut Record,
    k: &Kernel,
    imp: &Implementation,
    sets: &[Vec<Tensor>],
    rounds: &[(Times, &'static str, usize)],
    probe: &Probe,
) {
    let Some(&(_, timing, used)) = rounds.first() else {
        return;
    };
    let (times, repeats) = combine(&rounds.iter().map(|r| r.0.clone()).collect::<Vec<_>>());
    let pattern = record.pattern.unwrap_or(Pattern::Copy);
    let device = record.device.clone().unwrap_or_default();
    let (pattern, peak) = crate::ceilings::probe_peak(probe, &device, record.threads, pattern);
    // The host's samples rotate copies through the last-level cache; the device clock flushes
    // its L2 before every sample.
    let cache = if imp.backend.is_cpu() {
        probe.llc_bytes
    } else {
        0
    };
    record.finish(times, pattern, peak, used, cache);
    record.repeats = repeats;
    record.timing = Some(timing.into());
    if !imp.backend.is_cpu() {
        let reps = if record.n >= 50_000_000 { 3 } else { 7 };
        let params = Params::defaults(k.spec);
        match host_to_result(k, imp, &sets[0], &params, reps) {
            Ok(s) => record.host_to_result_s = Some(s),
            Err(e) => record.flags.push(format!("host-to-result failed: {e}")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(median_s: f64, p90_s: f64) -> Times {
        Times {
            min_s: median_s * 0.9,
            median_s,
            p90_s,
            samples: 10,
        }
    }

    #[test]
    fn repeats_combine_into_the_median_of_medians_and_the_widest_range() {
        let (c, medians) = combine(&[t(2.0, 2.2), t(1.0, 1.1), t(4.0, 4.1)]);
        assert_eq!(c.median_s, 2.0);
        assert_eq!(c.min_s, 0.9);
        assert_eq!(c.p90_s, 4.1);
        assert_eq!(c.samples, 30);
        assert_eq!(medians, vec![2.0, 1.0, 4.0]);
        let (c, _) = combine(&[t(1.0, 1.0), t(3.0, 3.0)]);
        assert_eq!(c.median_s, 2.0);
        // One timing has no spread across repeats to report.
        assert!(combine(&[t(1.0, 1.0)]).1.is_empty());
    }
}
