//! Calibration's timing, shared by `kroute calibrate` and `kroute route-check` so that the
//! profile and the check of it measure alike.
//!
//! One `Stage` holds a kernel's inputs at one size (host copies rotated past the last-level
//! cache, outputs allocated and paged in once, shared by every implementation); `measure`
//! times a group of `Subject`s (implementations, each with the path its data takes) on it:
//!
//! 1. **Warm-up**: one call (several while they take under 1 ms in all). A call slower than
//!    `SLOW_CALL_S` counts as a sample too (one-off costs are small beside it).
//! 2. **Screen**: a short sample of each (`budget / SCREEN_PARTS`); a subject whose warm-up call
//!    alone took `CUT`× the best screened so far is not sampled further (it cannot be the
//!    fastest; its one call is its time).
//! 3. **Contenders**: the subjects screened within `CONTEND`× of the best are timed again in
//!    `ROUNDS` interleaved rounds (the order reversed every round), `budget` in all each, so
//!    the machine's drift (another process, a clock change) falls on all of them alike.
//!
//! A sample on the host is a batch of calls timed together, long enough (`MIN_BATCH_S`) that
//! the clock's own cost and jitter vanish, each call on the next rotated input set; a sample on
//! a device is one call timed by its events after an L2 flush (`Clock`). The figure is the
//! mid-mean of the samples (the mean of the middle half): as robust as the median to a
//! preempted sample, and less noisy.

use crate::bench::{rotation_sets, Settings};
use kroute::backend::{device_at, Clock};
use kroute::{Implementation, Kernel, Location, Params, Result, Tensor, TensorDesc};
use rayon::prelude::*;
use std::time::{Duration, Instant};

/// A host sample is at least this long (calls batched).
pub const MIN_BATCH_S: f64 = 20e-6;
/// A warm-up call slower than this counts as a sample.
pub const SLOW_CALL_S: f64 = 0.01;
/// The screen's share of the budget: budget / SCREEN_PARTS per subject.
pub const SCREEN_PARTS: u32 = 6;
/// A subject whose warm-up call took this many times the best screened time is not sampled.
pub const CUT: f64 = 3.0;
/// Screened within this factor of the best: timed carefully (interleaved rounds).
pub const CONTEND: f64 = 1.5;
/// Interleaved rounds for the contenders.
pub const ROUNDS: u32 = 4;
/// At most this many samples per subject.
pub const MAX_SAMPLES: usize = 4000;

/// How a subject's data reaches the implementation, and which clock times it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Path {
    /// Data already where the implementation runs: a CPU implementation on host data (wall
    /// time, rotated inputs), a device implementation on device data (its events).
    Resident,
    /// A device implementation from host data: upload, run, download (wall time).
    HostToResult,
    /// A CPU implementation on device data: download, run, upload (wall time).
    DeviceToResult,
}

/// What a subject's time is based on.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Basis {
    /// Interleaved rounds against the other contenders.
    Careful,
    /// The screen only (it was ≥ CONTEND× the best).
    Screen,
    /// Its warm-up call only (it was ≥ CUT× the best).
    OneCall,
}

/// One implementation to time, and what it measured.
pub struct Subject {
    pub imp: &'static Implementation,
    pub path: Path,
    samples: Vec<f64>,
    /// Per-call seconds from the warm-up.
    warm_s: Option<f64>,
    basis: Option<Basis>,
    error: Option<String>,
    dev: Option<DevState>,
}

/// Device-resident inputs and outputs of one subject, and its clock.
struct DevState {
    inputs: Vec<Tensor>,
    outs: Vec<Tensor>,
    clock: Option<Box<dyn Clock>>,
}

/// A subject's result.
#[derive(Clone, Debug, PartialEq)]
pub struct Estimate {
    pub seconds: f64,
    pub samples: usize,
    pub basis: Basis,
}

impl Subject {
    pub fn new(imp: &'static Implementation, path: Path) -> Subject {
        Subject {
            imp,
            path,
            samples: Vec::new(),
            warm_s: None,
            basis: None,
            error: None,
            dev: None,
        }
    }

    /// The time measured, or why there is none.
    pub fn result(&self) -> std::result::Result<Estimate, String> {
        if let Some(e) = &self.error {
            return Err(e.clone());
        }
        let s = mid_mean(&self.samples);
        match self.basis {
            Some(basis) if s.is_finite() && s > 0.0 => Ok(Estimate {
                seconds: s,
                samples: self.samples.len(),
                basis,
            }),
            _ => Err(format!("unusable time {s}")),
        }
    }

    fn current(&self) -> f64 {
        if self.samples.is_empty() {
            self.warm_s.unwrap_or(f64::INFINITY)
        } else {
            mid_mean(&self.samples)
        }
    }

    /// Where the implementation runs.
    fn location(&self) -> Location {
        self.imp.location(0)
    }
}

/// The mean of the middle half of the samples (the median for fewer than four).
pub fn mid_mean(samples: &[f64]) -> f64 {
    let mut s: Vec<f64> = samples.iter().copied().filter(|x| x.is_finite()).collect();
    s.sort_by(f64::total_cmp);
    let m = s.len();
    if m == 0 {
        return f64::NAN;
    }
    if m < 4 {
        return crate::bench::median(&s);
    }
    let (lo, hi) = (m / 4, m - m / 4);
    s[lo..hi].iter().sum::<f64>() / (hi - lo) as f64
}

/// A kernel's inputs at one size, shared by every subject timed at it.
pub struct Stage {
    pub kernel: &'static Kernel,
    pub n: usize,
    pub params: Params,
    /// Set 0 and its rotated copies (host).
    pub sets: Vec<Vec<Tensor>>,
    /// Host outputs, one per set, written once so their pages are in.
    outs: Vec<Vec<Tensor>>,
    descs: Vec<TensorDesc>,
    /// The next rotated set.
    next: usize,
}

impl Stage {
    /// The kernel's workload at n; with `rotate`, copies of it (`settings`' rotation) and host
    /// outputs for each, paged in. Err when the kernel rejects its own workload.
    pub fn new(k: &'static Kernel, n: usize, settings: &Settings, rotate: bool) -> Result<Stage> {
        let params = Params::defaults(k.spec);
        let base = k.workload(n, settings.seed);
        let refs: Vec<&Tensor> = base.iter().collect();
        let descs = k.check(&refs, &params)?;
        let out_bytes: usize = descs.iter().map(|d| d.bytes()).sum();
        let set_bytes = (base.iter().map(Tensor::bytes).sum::<usize>() + out_bytes) as u64;
        let copies = if rotate {
            rotation_sets(set_bytes, settings)
        } else {
            1
        };
        // Copies made and paged in on every core.
        let mut sets = vec![base];
        let copied: Vec<Vec<Tensor>> = (1..copies)
            .into_par_iter()
            .map(|_| sets[0].clone())
            .collect();
        sets.extend(copied);
        let outs = (0..copies)
            .into_par_iter()
            .map(|_| {
                descs
                    .iter()
                    .map(|d| {
                        let mut t = Tensor::zeros(d);
                        t.poison();
                        t
                    })
                    .collect()
            })
            .collect();
        Ok(Stage {
            kernel: k,
            n,
            params,
            sets,
            outs,
            descs,
            next: 0,
        })
    }

    /// How many input sets are rotated through.
    pub fn rotation(&self) -> usize {
        self.sets.len()
    }

    /// One call of a CPU implementation on the next rotated set.
    fn call_host(&mut self, imp: &Implementation) -> Result<()> {
        let i = self.next % self.sets.len();
        self.next = i + 1;
        let refs: Vec<&Tensor> = self.sets[i].iter().collect();
        self.kernel
            .run_into(imp, &refs, &self.params, &mut self.outs[i])
    }

    /// Take samples of subject `s` for about `seconds`, and at least `min_new` of them (with
    /// none asked, at least one overall unless a call is longer than `seconds`).
    fn take(&mut self, s: &mut Subject, seconds: f64, min_new: usize) -> Result<()> {
        let start = Instant::now();
        let per_call = s.current();
        if min_new == 0 && !s.samples.is_empty() && per_call >= seconds {
            return Ok(());
        }
        let had = s.samples.len();
        let done = |samples: &[f64]| {
            (start.elapsed().as_secs_f64() >= seconds && samples.len() - had >= min_new)
                || samples.len() >= MAX_SAMPLES
        };
        let k = self.kernel;
        match (s.path, s.location()) {
            (Path::Resident, Location::Host) => {
                let batch = if per_call.is_finite() && per_call > 0.0 {
                    ((MIN_BATCH_S / per_call).ceil() as usize).clamp(1, 10_000)
                } else {
                    1
                };
                loop {
                    let t = Instant::now();
                    for _ in 0..batch {
                        self.call_host(s.imp)?;
                    }
                    s.samples.push(t.elapsed().as_secs_f64() / batch as f64);
                    if done(&s.samples) {
                        break;
                    }
                }
            }
            (Path::Resident, _) => {
                let DevState {
                    inputs,
                    outs,
                    clock,
                } = s.dev.as_mut().expect("warmed up");
                let refs: Vec<&Tensor> = inputs.iter().collect();
                let clock = clock.as_mut().expect("warmed up");
                let params = &self.params;
                let imp = s.imp;
                // Queued batches; few when a call is long.
                let batch = if per_call > 1e-3 { 2 } else { 25 };
                loop {
                    let got = clock.time(batch, &mut |_| k.run_into(imp, &refs, params, outs))?;
                    s.samples.extend(got);
                    if done(&s.samples) {
                        break;
                    }
                }
            }
            (Path::HostToResult, _) | (Path::DeviceToResult, _) => loop {
                let t = self.one_trip(s)?;
                s.samples.push(t);
                if done(&s.samples) {
                    break;
                }
            },
        }
        Ok(())
    }

    /// One call from where the data is to where the result is wanted, across a link: seconds.
    fn one_trip(&mut self, s: &mut Subject) -> Result<f64> {
        let k = self.kernel;
        let params = &self.params;
        match s.path {
            Path::HostToResult => {
                let loc = s.location();
                let t = Instant::now();
                let dins: Vec<Tensor> = self.sets[0]
                    .iter()
                    .map(|x| x.to_location(loc))
                    .collect::<Result<_>>()?;
                let refs: Vec<&Tensor> = dins.iter().collect();
                let mut outs: Vec<Tensor> = self
                    .descs
                    .iter()
                    .map(|d| Tensor::zeros_at(d, loc))
                    .collect::<Result<_>>()?;
                k.run_into(s.imp, &refs, params, &mut outs)?;
                for o in &outs {
                    std::hint::black_box(o.to_host()?);
                }
                Ok(t.elapsed().as_secs_f64())
            }
            Path::DeviceToResult => {
                let on = Location::Cuda(0);
                let dev = device_at(on)?;
                let placed = &s.dev.as_ref().expect("warmed up").inputs;
                let t = Instant::now();
                let host: Vec<Tensor> =
                    placed.iter().map(Tensor::to_host).collect::<Result<_>>()?;
                let refs: Vec<&Tensor> = host.iter().collect();
                let outs = k.run(s.imp, &refs, params)?;
                let back: Vec<Tensor> = outs
                    .iter()
                    .map(|o| o.to_location(on))
                    .collect::<Result<_>>()?;
                dev.synchronize(0)?;
                std::hint::black_box(back);
                Ok(t.elapsed().as_secs_f64())
            }
            Path::Resident => unreachable!("resident subjects are sampled by take"),
        }
    }

    /// Place the subject's data and make its first call(s): per-call seconds.
    fn warm(&mut self, s: &mut Subject) -> Result<f64> {
        let k = self.kernel;
        match (s.path, s.location()) {
            (Path::Resident, Location::Host) => {
                // One call, then batches for about a millisecond: the quickest batch's time
                // per call (a batch the machine interrupted says nothing of the code).
                let t = Instant::now();
                self.call_host(s.imp)?;
                let first = t.elapsed().as_secs_f64();
                if first >= SLOW_CALL_S {
                    return Ok(first);
                }
                let batch = ((MIN_BATCH_S / first.max(1e-9)).ceil() as usize).clamp(1, 10_000);
                let mut quickest = f64::INFINITY;
                let mut calls = 1;
                while calls < 3 || t.elapsed().as_secs_f64() < 1e-3 {
                    let b = Instant::now();
                    for _ in 0..batch {
                        self.call_host(s.imp)?;
                    }
                    quickest = quickest.min(b.elapsed().as_secs_f64() / batch as f64);
                    calls += batch;
                }
                Ok(quickest)
            }
            (Path::Resident, loc) => {
                let o = match loc {
                    Location::Cuda(o) => o,
                    Location::Host => 0,
                };
                let inputs: Vec<Tensor> = self.sets[0]
                    .iter()
                    .map(|x| x.to_location(loc))
                    .collect::<Result<_>>()?;
                let mut outs: Vec<Tensor> = self
                    .descs
                    .iter()
                    .map(|d| Tensor::zeros_at(d, loc))
                    .collect::<Result<_>>()?;
                let clock = device_at(loc)?.clock(o)?;
                let refs: Vec<&Tensor> = inputs.iter().collect();
                let dev = device_at(loc)?;
                // The first call loads the module; the second is timed (wall, synchronized).
                k.run_into(s.imp, &refs, &self.params, &mut outs)?;
                dev.synchronize(o)?;
                let t = Instant::now();
                k.run_into(s.imp, &refs, &self.params, &mut outs)?;
                dev.synchronize(o)?;
                let took = t.elapsed().as_secs_f64();
                s.dev = Some(DevState {
                    inputs,
                    outs,
                    clock: Some(clock),
                });
                Ok(took)
            }
            (Path::HostToResult, _) => {
                self.one_trip(s)?;
                self.one_trip(s)
            }
            (Path::DeviceToResult, _) => {
                let on = Location::Cuda(0);
                let inputs: Vec<Tensor> = self.sets[0]
                    .iter()
                    .map(|x| x.to_location(on))
                    .collect::<Result<_>>()?;
                device_at(on)?.synchronize(0)?;
                s.dev = Some(DevState {
                    inputs,
                    outs: Vec::new(),
                    clock: None,
                });
                self.one_trip(s)
            }
        }
    }
}

/// Time every subject on `stage` (see the module's text): the subjects hold their results.
/// `budget` is what each contender gets in its interleaved rounds. Subjects are screened in
/// the order given, so the likely fastest should come first.
pub fn measure(stage: &mut Stage, subjects: &mut [Subject], budget: Duration) {
    let budget = budget.as_secs_f64();
    let screen = budget / SCREEN_PARTS as f64;
    let mut best = f64::INFINITY;
    for s in subjects.iter_mut() {
        let warm = match stage.warm(s) {
            Ok(w) => w,
            Err(e) => {
                s.error = Some(format!("run failed: {e}"));
                continue;
            }
        };
        s.warm_s = Some(warm);
        if warm >= SLOW_CALL_S {
            s.samples.push(warm);
        }
        // A device's warm-up is wall time around a synchronized call, not its events' time:
        // no measure to cut it by.
        let comparable = !(s.path == Path::Resident && !s.imp.backend.is_cpu());
        if comparable && warm >= CUT * best {
            s.basis = Some(Basis::OneCall);
            if s.samples.is_empty() {
                s.samples.push(warm);
            }
            continue;
        }
        // Up to three samples where the budget holds them: one interrupted call must not
        // decide the screen.
        let want = ((budget / s.current()).floor() as usize).clamp(1, 3);
        let min_new = want.saturating_sub(s.samples.len());
        if let Err(e) = stage.take(s, screen, min_new) {
            s.error = Some(format!("run failed: {e}"));
            continue;
        }
        s.basis = Some(Basis::Screen);
        best = best.min(s.current());
    }
    let mut contenders: Vec<usize> = subjects
        .iter()
        .enumerate()
        .filter(|(_, s)| s.error.is_none() && s.basis == Some(Basis::Screen))
        .filter(|(_, s)| s.current() <= CONTEND * best)
        .map(|(i, _)| i)
        .collect();
    if contenders.len() < 2 {
        // Alone within reach of the best: nothing to tell apart, its screen stands.
        return;
    }
    // Rounds of at least one sample each: fewer when a call is long beside the budget.
    let rest = (budget - screen).max(0.0);
    let slowest = contenders
        .iter()
        .map(|&i| subjects[i].current())
        .fold(0.0, f64::max);
    let rounds = ((rest / slowest).floor() as u32).clamp(1, ROUNDS);
    let per_round = rest / rounds as f64;
    for _ in 0..rounds {
        for &i in &contenders {
            let s = &mut subjects[i];
            if s.error.is_some() {
                continue;
            }
            if let Err(e) = stage.take(s, per_round, 1) {
                s.error = Some(format!("run failed: {e}"));
            }
        }
        contenders.reverse();
    }
    for &i in &contenders {
        if subjects[i].error.is_none() {
            subjects[i].basis = Some(Basis::Careful);
        }
    }
}

/// Whether host inputs are rotated for these subjects (some CPU implementation on host data).
pub fn needs_rotation(subjects: &[Subject]) -> bool {
    subjects
        .iter()
        .any(|s| s.path == Path::Resident && s.imp.backend.is_cpu())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mid_mean_ignores_the_tails() {
        assert!(mid_mean(&[]).is_nan());
        assert_eq!(mid_mean(&[3.0]), 3.0);
        assert_eq!(mid_mean(&[1.0, 5.0]), 3.0);
        // A preempted sample and a lucky one change nothing.
        assert_eq!(mid_mean(&[100.0, 2.0, 2.0, 0.01, 2.0, 2.0, 2.0, 2.0]), 2.0);
        assert_eq!(mid_mean(&[1.0, 2.0, 3.0, 4.0]), 2.5);
    }

    fn settings() -> Settings {
        crate::calibrate::tiny_settings()
    }

    #[test]
    fn every_cpu_implementation_gets_a_time_and_the_close_ones_a_careful_one() {
        let k = kroute::kernel("map_add").unwrap();
        let mut subjects: Vec<Subject> = k
            .implementations()
            .iter()
            .filter(|i| i.backend.is_cpu() && i.available())
            .map(|i| Subject::new(i, Path::Resident))
            .collect();
        assert!(needs_rotation(&subjects));
        let mut stage = Stage::new(k, 4096, &settings(), true).unwrap();
        assert!(stage.rotation() > 1);
        measure(&mut stage, &mut subjects, Duration::from_millis(12));
        let got: Vec<Estimate> = subjects.iter().map(|s| s.result().unwrap()).collect();
        let best = got.iter().map(|e| e.seconds).fold(f64::INFINITY, f64::min);
        for (s, e) in subjects.iter().zip(&got) {
            assert!(e.seconds > 0.0 && e.samples >= 1, "{}: {e:?}", s.imp.id);
        }
        // Whatever is close to the best was timed carefully, against the others close to it.
        let close: Vec<&Estimate> = got.iter().filter(|e| e.seconds <= 1.2 * best).collect();
        if close.len() >= 2 {
            assert!(close.iter().all(|e| e.basis == Basis::Careful), "{got:?}");
        }
    }

    #[test]
    fn a_far_slower_implementation_is_cut_after_one_call() {
        // Scalar sorting at 2^14 is many times slower than the SIMD sort: screened first, the
        // fast one sets the bar and the slow one is not sampled past its warm-up.
        let k = kroute::kernel("sort_bitonic").unwrap();
        let imp = |id: &str| k.implementation(id).unwrap();
        let mut subjects = vec![
            Subject::new(imp("simd"), Path::Resident),
            Subject::new(imp("scalar"), Path::Resident),
        ];
        let mut stage = Stage::new(k, 1 << 14, &settings(), true).unwrap();
        measure(&mut stage, &mut subjects, Duration::from_millis(10));
        let fast = subjects[0].result().unwrap();
        let slow = subjects[1].result().unwrap();
        assert!(slow.seconds > CUT * fast.seconds, "{fast:?} {slow:?}");
        assert_eq!(slow.basis, Basis::OneCall);
        assert_eq!(slow.samples, 1);
    }
}
