//! Timing on the cuda backend. Verified first (host inputs through the transparent
//! round trip, against the same reference as every backend); then the inputs are uploaded
//! once and outputs allocated on the device, and each sample is one launch between two CUDA
//! events, after a kernel that reads 4× the L2 (so every sample starts cold, and the host has
//! queued the launch before the GPU gets to it). Samples are queued in batches and read after
//! one synchronisation. A second figure, host-to-result, is wall time from host inputs to
//! host outputs (allocate, upload, run, download), which the router needs.

use super::{times_of, Settings};
use crate::probe::{Pattern, Probe};
use crate::schema::{Record, Times};
use kroute::backend::cuda;
use kroute::op::Op;
use kroute::verify::Expected;
use kroute::{Backend, Location, Params, Result, Tensor};
use std::time::{Duration, Instant};

pub const TIMING: &str =
    "cuda events around each launch; inputs resident on the device; L2 flushed (4× its size read) before each sample";

/// The measured device copy bandwidth kernels are compared with (GB/s).
pub fn copy_peak(probe: &Probe) -> f64 {
    probe.gpus.first().map_or(0.0, |g| g.d2d_copy_gbps)
}

fn sample_events(
    dev: &std::sync::Arc<cuda::Device>,
    settings: &Settings,
    mut run: impl FnMut() -> Result<()>,
) -> Result<Times> {
    const BATCH: usize = 25;
    let events: Vec<(cuda::Event, cuda::Event)> = (0..BATCH)
        .map(|_| Ok((dev.event()?, dev.event()?)))
        .collect::<Result<_>>()?;
    let start = Instant::now();
    let mut samples = Vec::new();
    loop {
        for (e0, e1) in &events {
            dev.flush_l2()?;
            e0.record()?;
            cuda::timed_launch(e1, &mut run)??;
        }
        dev.synchronize()?;
        for (e0, e1) in &events {
            samples.push(e0.seconds_to(e1)?);
        }
        let n = samples.len();
        let t = times_of(&samples);
        let spread = (t.p90_s - t.median_s) / t.median_s;
        if n >= settings.max_samples
            || (n >= settings.min_samples.max(2 * BATCH) && spread < settings.target_spread)
            || start.elapsed() > settings.budget
        {
            return Ok(t);
        }
    }
}

/// Median wall seconds from host inputs to host outputs.
fn host_to_result(op: &Op, inputs: &[Tensor], params: &Params, reps: usize) -> Result<f64> {
    let mut v = Vec::with_capacity(reps);
    for _ in 0..reps {
        let t = Instant::now();
        let dins: Vec<Tensor> = inputs
            .iter()
            .map(|x| x.to_device(0))
            .collect::<Result<_>>()?;
        let refs: Vec<&Tensor> = dins.iter().collect();
        let mut outs: Vec<Tensor> = op
            .check(&refs, params)?
            .iter()
            .map(|d| Tensor::zeros_at(d, Location::Cuda(0)))
            .collect::<Result<_>>()?;
        op.run_into(Backend::Cuda, &refs, params, &mut outs)?;
        for o in &outs {
            std::hint::black_box(o.to_host()?);
        }
        v.push(t.elapsed().as_secs_f64());
    }
    Ok(times_of(&v).median_s)
}

/// Verify, then time one kernel at one size on cuda:0.
pub fn bench_one(
    op: &Op,
    n: usize,
    inputs: &[Tensor],
    expected: &[Expected],
    probe: &Probe,
    settings: &Settings,
) -> Record {
    let spec = op.spec();
    let params = Params::defaults(spec);
    let mut record = Record::new(op, Backend::Cuda, n, &params);
    if let Some(why) = Backend::Cuda.unavailable_reason() {
        return record.failed(format!("skipped: {why}"));
    }
    let refs: Vec<&Tensor> = inputs.iter().collect();
    let mut outs = match op.outputs_for(&refs, &params) {
        Ok(o) => o,
        Err(e) => return record.failed(format!("inputs rejected: {e}")),
    };
    outs.iter_mut().for_each(Tensor::poison);
    if let Err(e) = op.run_into(Backend::Cuda, &refs, &params, &mut outs) {
        return record.failed(format!("run failed: {e}"));
    }
    if let Err(why) = record.verify(spec.tolerance, &outs, expected) {
        return record.failed(why);
    }
    drop(outs);
    let timed = (|| -> Result<(Times, f64)> {
        let dev = cuda::device(0)?;
        let dins: Vec<Tensor> = inputs
            .iter()
            .map(|x| x.to_device(0))
            .collect::<Result<_>>()?;
        let drefs: Vec<&Tensor> = dins.iter().collect();
        let mut douts: Vec<Tensor> = op
            .check(&drefs, &params)?
            .iter()
            .map(|d| Tensor::zeros_at(d, Location::Cuda(0)))
            .collect::<Result<_>>()?;
        for _ in 0..3 {
            op.run_into(Backend::Cuda, &drefs, &params, &mut douts)?;
        }
        dev.synchronize()?;
        let times = sample_events(&dev, settings, || {
            op.run_into(Backend::Cuda, &drefs, &params, &mut douts)
        })?;
        drop((dins, douts));
        let reps = if n >= 50_000_000 { 3 } else { 7 };
        Ok((times, host_to_result(op, inputs, &params, reps)?))
    })();
    match timed {
        Ok((times, h2r)) => {
            let peak = copy_peak(probe);
            record.finish(times, Pattern::Copy, peak, 1);
            record.timing = Some(TIMING.into());
            record.host_to_result_s = Some(h2r);
            record
        }
        Err(e) => record.failed(format!("run failed while timing: {e}")),
    }
}

/// Keep the harness's budget semantics for GPU samples (they are much shorter).
pub fn settings_for_gpu(s: &Settings) -> Settings {
    let mut g = s.clone();
    g.budget = g.budget.min(Duration::from_millis(1500));
    g.min_samples = g.min_samples.max(50);
    g
}
