//! Choosing: every implementation of a kernel is a candidate; each gets a predicted time (the
//! profile's curve, else the cost model) plus the transfer its data needs to reach it, and the
//! fastest eligible one wins. The whole decision is returned as data (`Explanation`).

use super::interpolate::{predict, within};
use super::machine::GpuFigures;
use super::profile::DataAt;
use super::Router;
use crate::error::{Error, Result};
use crate::params::Params;
use crate::registry::{Implementation, Kernel};
use crate::tensor::{Location, Tensor};
use crate::Backend;
use serde::Serialize;

/// One call to route: its size, where its data is, and what is known of its bytes and of the
/// GPU's free memory.
#[derive(Clone, Debug, Serialize)]
pub struct Request {
    /// The problem size N of `docs/kernels/KERNELS.md` §2.
    pub n: u64,
    /// Where the inputs are (and where the outputs are wanted).
    pub data: Location,
    /// Bytes of the inputs and of the outputs; None: the spec's minimal bytes at n, half each.
    pub in_bytes: Option<f64>,
    pub out_bytes: Option<f64>,
    /// Free memory of the GPU the data would use, in bytes; None: ask NVML, else its driver.
    pub free_device_bytes: Option<u64>,
}

impl Request {
    pub fn new(n: u64, data: Location) -> Request {
        Request {
            n,
            data,
            in_bytes: None,
            out_bytes: None,
            free_device_bytes: None,
        }
    }

    pub fn with_free_device_bytes(mut self, bytes: u64) -> Request {
        self.free_device_bytes = Some(bytes);
        self
    }

    /// The request for a call on these inputs: their bytes and the outputs', where they are,
    /// and the size n whose minimal bytes (the spec's) match them — so any kernel's inputs map
    /// onto the sizes its profile was measured at.
    pub fn for_inputs(k: &Kernel, inputs: &[&Tensor], params: &Params) -> Result<Request> {
        let outs = k.check(inputs, params)?;
        let in_bytes: usize = inputs.iter().map(|t| t.bytes()).sum();
        let out_bytes: usize = outs.iter().map(|d| d.bytes()).sum();
        let data = inputs
            .iter()
            .map(|t| t.location())
            .find(|l| *l != Location::Host)
            .unwrap_or(Location::Host);
        let n = size_for_bytes(k, (in_bytes + out_bytes) as f64)
            .unwrap_or_else(|| inputs.first().map_or(0, |t| t.len() as u64));
        Ok(Request {
            n,
            data,
            in_bytes: Some(in_bytes as f64),
            out_bytes: Some(out_bytes as f64),
            free_device_bytes: None,
        })
    }

    fn bytes(&self, k: &Kernel) -> (f64, f64) {
        let total = (k.spec.bytes)(self.n).max(0.0);
        match (self.in_bytes, self.out_bytes) {
            (Some(i), Some(o)) => (i, o),
            (Some(i), None) => (i, (total - i).max(0.0)),
            (None, Some(o)) => ((total - o).max(0.0), o),
            (None, None) => (total / 2.0, total / 2.0),
        }
    }
}

/// The smallest n whose spec bytes reach `bytes` (the spec's bytes grow with n, at least a
/// byte per element), or None when no n up to `bytes` reaches them.
fn size_for_bytes(k: &Kernel, bytes: f64) -> Option<u64> {
    let f = k.spec.bytes;
    let (mut lo, mut hi) = (1u64, (bytes as u64).clamp(2, 1 << 44));
    if f(lo) >= bytes {
        return Some(lo);
    }
    if f(hi) < bytes {
        return None;
    }
    while hi - lo > 1 {
        let mid = lo + (hi - lo) / 2;
        if f(mid) >= bytes {
            hi = mid;
        } else {
            lo = mid;
        }
    }
    Some(hi)
}

/// Where a candidate's prediction came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Basis {
    /// The profile, between measured sizes.
    Measured,
    /// The profile, beyond its measured sizes.
    Extrapolated,
    /// The cost model (no measurement of this implementation here).
    CostModel,
    /// Nothing to predict with.
    None,
}

/// Predictions within this fraction of the fastest's count as a tie, which the lightest
/// implementation wins (`lightness`).
pub const TIE: f64 = 0.03;

/// One thread before the pool before a device; on one thread SIMD before scalar (the scalar
/// code's speed rests on what the compiler makes of it, and it is never much faster).
fn lightness(b: Backend) -> u8 {
    match b {
        Backend::Simd => 0,
        Backend::Scalar => 1,
        Backend::Parallel => 2,
        _ => 3,
    }
}

/// One implementation considered.
#[derive(Clone, Debug, Serialize)]
pub struct Candidate {
    pub implementation: String,
    pub backend: Backend,
    pub runs_on: Location,
    /// Predicted seconds with the data already where it runs.
    pub compute_s: Option<f64>,
    /// Predicted seconds moving the data there and the outputs back (0 when resident).
    pub transfer_s: f64,
    /// What the call is predicted to take from where the data is.
    pub total_s: Option<f64>,
    pub basis: Basis,
    /// Whether the transfer was part of the measurement (a device implementation timed from
    /// host data) rather than added from the transfer figures.
    pub transfer_measured: bool,
    /// Whether it may win: available here, with room on its device.
    pub eligible: bool,
    /// Why not, or what to know about the prediction.
    pub notes: Vec<String>,
}

/// The router's decision and everything it weighed.
#[derive(Clone, Debug, Serialize)]
pub struct Explanation {
    pub kernel: String,
    pub request: Request,
    /// Which profile predicted, or why none did.
    pub profile: String,
    /// Where the machine figures come from ("probe" or "assumed").
    pub figures: String,
    /// What forced the choice, if anything.
    pub forced: Option<String>,
    pub candidates: Vec<Candidate>,
    /// The winning implementation's id.
    pub winner: String,
    pub why: String,
}

impl Explanation {
    pub fn winner(&self) -> Option<&Candidate> {
        self.candidates
            .iter()
            .find(|c| c.implementation == self.winner)
    }
}

impl Router {
    /// Every candidate for `k` on this request, and the winner.
    pub fn explain(&self, k: &Kernel, req: &Request) -> Result<Explanation> {
        let (in_b, out_b) = req.bytes(k);
        let ordinal = match req.data {
            Location::Cuda(o) => o,
            Location::Host => 0,
        };
        let mut candidates: Vec<Candidate> = k
            .implementations()
            .iter()
            .map(|imp| self.candidate(k, imp, req, ordinal, in_b, out_b))
            .collect();
        let (winner, why) = match &self.force {
            Some(f) => {
                let imp = f.pick(k).map_err(|e| {
                    Error::Param(format!("{} forces '{}': {e}", self.force_from, f.name()))
                })?;
                if !self.assume_available {
                    if let Some(why) = imp.unavailable_reason() {
                        return Err(Error::Device(format!(
                            "{} forces '{}', which cannot run here: {why}",
                            self.force_from,
                            f.name()
                        )));
                    }
                }
                (
                    imp.id.to_string(),
                    format!("forced by {} ({})", self.force_from, f.name()),
                )
            }
            None => self.pick(&candidates)?,
        };
        candidates.sort_by(|a, b| {
            b.eligible.cmp(&a.eligible).then(
                a.total_s
                    .unwrap_or(f64::INFINITY)
                    .total_cmp(&b.total_s.unwrap_or(f64::INFINITY)),
            )
        });
        Ok(Explanation {
            kernel: k.name().into(),
            request: req.clone(),
            profile: self.profile_note.clone(),
            figures: self.machine().source.clone(),
            forced: self
                .force
                .as_ref()
                .map(|f| format!("{}={}", self.force_from, f.name())),
            candidates,
            winner,
            why,
        })
    }

    /// The implementation to run `k` on this request.
    pub fn choose<'k>(&self, k: &'k Kernel, req: &Request) -> Result<&'k Implementation> {
        let e = self.explain(k, req)?;
        k.implementation(&e.winner)
    }

    fn pick(&self, candidates: &[Candidate]) -> Result<(String, String)> {
        let mut ranked: Vec<&Candidate> = candidates
            .iter()
            .filter(|c| c.eligible && c.total_s.is_some())
            .collect();
        ranked.sort_by(|a, b| {
            a.total_s
                .unwrap_or(f64::INFINITY)
                .total_cmp(&b.total_s.unwrap_or(f64::INFINITY))
        });
        let Some(&fastest) = ranked.first() else {
            return Err(Error::Device(format!(
                "no implementation can run here: {}",
                candidates
                    .iter()
                    .map(|c| format!("{} ({})", c.implementation, c.notes.join("; ")))
                    .collect::<Vec<_>>()
                    .join(", ")
            )));
        };
        // Near ties go to the lightest implementation: the profile cannot tell them apart,
        // and the lighter one asks less of a busy machine (no pool to wake, no device).
        let t_fastest = fastest.total_s.unwrap_or(f64::NAN);
        let best = ranked
            .iter()
            .copied()
            .filter(|c| c.total_s.unwrap_or(f64::INFINITY) <= t_fastest * (1.0 + TIE))
            .min_by_key(|c| lightness(c.backend))
            .unwrap_or(fastest);
        let t = best.total_s.unwrap_or(f64::NAN);
        let basis = match best.basis {
            Basis::Measured => "measured here",
            Basis::Extrapolated => "extrapolated from sizes measured here",
            Basis::CostModel => "the cost model",
            Basis::None => "nothing",
        };
        let mut why = format!(
            "{} is predicted fastest: {} ({basis}{})",
            best.implementation,
            fmt_s(t),
            if best.transfer_s > 0.0 {
                format!(", of which {} transfer", fmt_s(best.transfer_s))
            } else {
                String::new()
            }
        );
        if best.implementation != fastest.implementation {
            why = format!(
                "{} is predicted within {:.0}% of the fastest, {} at {}, and lighter: {}",
                best.implementation,
                TIE * 100.0,
                fastest.implementation,
                fmt_s(t_fastest),
                fmt_s(t)
            );
        }
        if let Some(next) = ranked
            .iter()
            .find(|c| c.implementation != best.implementation)
            .filter(|_| best.implementation == fastest.implementation)
        {
            let tn = next.total_s.unwrap_or(f64::NAN);
            why.push_str(&format!(
                "; next {} at {} ({:.2}× slower{})",
                next.implementation,
                fmt_s(tn),
                tn / t,
                if next.transfer_s > 0.0 {
                    format!(", {} of it transfer", fmt_s(next.transfer_s))
                } else {
                    String::new()
                }
            ));
        }
        let excluded: Vec<String> = candidates
            .iter()
            .filter(|c| !c.eligible)
            .map(|c| format!("{}: {}", c.implementation, c.notes.join("; ")))
            .collect();
        if !excluded.is_empty() {
            why.push_str(&format!("; not eligible: {}", excluded.join(", ")));
        }
        Ok((best.implementation.clone(), why))
    }

    fn candidate(
        &self,
        k: &Kernel,
        imp: &Implementation,
        req: &Request,
        ordinal: usize,
        in_b: f64,
        out_b: f64,
    ) -> Candidate {
        let runs_on = imp.location(ordinal);
        let resident = runs_on == req.data;
        let mut notes = Vec::new();
        let mut eligible = true;
        if !self.assume_available {
            if let Some(why) = imp.unavailable_reason() {
                return Candidate {
                    implementation: imp.id.into(),
                    backend: imp.backend,
                    runs_on,
                    compute_s: None,
                    transfer_s: 0.0,
                    total_s: None,
                    basis: Basis::None,
                    transfer_measured: false,
                    eligible: false,
                    notes: vec![format!("{} unavailable: {why}", imp.backend)],
                };
            }
        }
        // The GPU whose link the data crosses (the data's, or the candidate's).
        let link_ordinal = match (runs_on, req.data) {
            (Location::Cuda(o), _) | (_, Location::Cuda(o)) => Some(o),
            _ => None,
        };
        let assumed;
        let link: Option<&GpuFigures> = match link_ordinal {
            None => None,
            Some(o) => match self.machine().gpu(o) {
                Some(g) => Some(g),
                None => {
                    assumed = GpuFigures::assumed(o, format!("cuda:{o}"));
                    if self.machine().source != "assumed" {
                        notes.push("no figures for this GPU: assumed ones".into());
                    }
                    Some(&assumed)
                }
            },
        };
        let transfer_s = match (resident, link, runs_on) {
            (true, _, _) | (_, None, _) => 0.0,
            // Host data to a device: inputs up, outputs down.
            (false, Some(g), Location::Cuda(_)) => g.transfer_s(in_b, out_b),
            // Device data to the host: inputs down, outputs up.
            (false, Some(g), Location::Host) => g.transfer_s(out_b, in_b),
        };
        // Room on the device for what must be allocated there.
        if let Location::Cuda(o) = runs_on {
            let need = if resident { out_b } else { in_b + out_b };
            // The caller's figure, else NVML's (no CUDA context needed), else the driver's.
            let free = req
                .free_device_bytes
                .or_else(|| {
                    (imp.backend == Backend::Cuda)
                        .then(|| super::health::gpu_free_bytes(o))
                        .flatten()
                })
                .or_else(|| imp.backend.device().and_then(|d| d.free_memory(o).ok()));
            if let Some(free) = free {
                if need > free as f64 {
                    eligible = false;
                    notes.push(format!(
                        "needs {:.1} MiB of device memory, {:.1} MiB free",
                        need / 1048576.0,
                        free as f64 / 1048576.0
                    ));
                }
            }
        }
        let own = if runs_on == Location::Host {
            DataAt::Host
        } else {
            DataAt::Device
        };
        let curve = |at: DataAt| {
            self.profile
                .as_ref()
                .and_then(|p| p.curve(k.name(), imp.id, at))
                .filter(|c| !c.points.is_empty())
        };
        let mut basis = Basis::None;
        let mut compute_s = None;
        if let Some(c) = curve(own) {
            compute_s = predict(&c.points, req.n);
            basis = if within(&c.points, req.n) {
                Basis::Measured
            } else {
                Basis::Extrapolated
            };
        }
        // A device implementation timed from host data: the transfer is in the measurement.
        let mut transfer_measured = false;
        let mut total_s = compute_s.map(|c| c + transfer_s);
        let mut transfer_s = transfer_s;
        if !resident && req.data == Location::Host && own == DataAt::Device {
            if let Some(c) = curve(DataAt::Host) {
                if let Some(t) = predict(&c.points, req.n) {
                    total_s = Some(t);
                    transfer_measured = true;
                    if let Some(cs) = compute_s {
                        transfer_s = (t - cs).max(0.0);
                    }
                    if compute_s.is_none() {
                        basis = if within(&c.points, req.n) {
                            Basis::Measured
                        } else {
                            Basis::Extrapolated
                        };
                    }
                }
            }
        }
        if total_s.is_none() {
            match self.machine().model_s(k.spec, imp.backend, req.n, ordinal) {
                Some(t) => {
                    compute_s = Some(t);
                    total_s = Some(t + transfer_s);
                    basis = Basis::CostModel;
                    if self.profile.is_some() {
                        notes.push("not in the profile: cost model".into());
                    }
                }
                None => {
                    eligible = false;
                    notes.push("nothing measured and no figures to model it".into());
                }
            }
        }
        Candidate {
            implementation: imp.id.into(),
            backend: imp.backend,
            runs_on,
            compute_s,
            transfer_s,
            total_s,
            basis,
            transfer_measured,
            eligible,
            notes,
        }
    }
}

/// Seconds for people: µs (one decimal) below a millisecond, ms below a second, with three
/// decimals.
pub fn fmt_s(s: f64) -> String {
    fmt_seconds(s, 3)
}

/// Seconds for people with `decimals` decimals in ms and s (µs always with one); — for a
/// time that is not finite.
pub fn fmt_seconds(s: f64, decimals: usize) -> String {
    if !s.is_finite() {
        "—".into()
    } else if s < 1e-3 {
        format!("{:.1} µs", s * 1e6)
    } else if s < 1.0 {
        format!("{:.*} ms", decimals, s * 1e3)
    } else {
        format!("{s:.decimals$} s")
    }
}
