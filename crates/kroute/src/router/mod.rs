//! The router: which implementation runs a call, chosen from measurements on this machine.
//!
//! - `profile`: what `kroute calibrate` measured (time against size per kernel, implementation
//!   and data location), keyed by a fingerprint of the machine; stale or foreign ones are
//!   ignored with a message.
//! - `interpolate`: log–log piecewise-linear prediction from measured points.
//! - `machine`: the probe's figures (bandwidths, transfers, launch latency) and the cost model
//!   used where nothing was measured.
//! - `choose`: candidates, transfer costs, the memory gate, the winner and why (`Explanation`).
//! - `force`: forcing a backend or implementation (API, `KROUTE_BACKEND`).
//! - `health`: how busy the machine is now (PSI, load, memory, CPU clocks; GPU free memory,
//!   temperature, clocks and throttle reasons through NVML in `nvml`).
//!
//! Nothing here names a kernel or an implementation: every implementation the registry holds
//! is a candidate, so kernels and implementations added later are routed as they are.

pub mod choose;
pub mod force;
pub mod health;
pub mod interpolate;
pub mod machine;
mod nvml;
pub mod profile;

pub use choose::{fmt_s, fmt_seconds, Basis, Candidate, Explanation, Request};
pub use force::Force;
pub use health::Health;
pub use machine::{GpuFigures, Machine};
pub use profile::{DataAt, Fingerprint, Point, Profile};

use crate::error::Result;
use crate::params::Params;
use crate::registry::{Implementation, Kernel};
use crate::tensor::{Location, Tensor};
use std::path::Path;
use std::sync::OnceLock;

/// A profile (or none), the machine's figures, and what is forced.
#[derive(Clone, Debug)]
pub struct Router {
    profile: Option<Profile>,
    /// Which profile, or why none applies.
    profile_note: String,
    /// Figures when the profile carries none (no profile).
    figures: Machine,
    force: Option<Force>,
    /// Who forced: "KROUTE_BACKEND" or "the caller".
    force_from: String,
    /// Treat every compiled implementation as runnable (planning for a machine with devices
    /// this one lacks; tests).
    assume_available: bool,
}

impl Router {
    /// A router over this profile (already checked against the machine) and these figures.
    pub fn new(profile: Option<Profile>, figures: Machine) -> Router {
        let profile_note = match &profile {
            Some(p) => format!(
                "profile of {} ({})",
                p.fingerprint.cpu, p.fingerprint.kroute
            ),
            None => "no profile: cost model".into(),
        };
        Router {
            profile,
            profile_note,
            figures,
            force: None,
            force_from: String::new(),
            assume_available: false,
        }
    }

    /// The router for this machine: its profile from the cache (or `profile_path`), checked
    /// against the machine's fingerprint; the figures the profile measured, else assumed ones;
    /// and what `KROUTE_BACKEND` forces. An unusable profile is ignored and said why.
    pub fn for_this_machine(profile_path: Option<&Path>) -> Result<Router> {
        let here = Fingerprint::current();
        let (profile, note) = profile::load_for(&here, profile_path);
        let figures = profile
            .as_ref()
            .map_or_else(Machine::assumed, |p| p.machine.clone());
        let mut r = Router::new(profile, figures);
        r.profile_note = note;
        if let Some(f) = Force::from_env()? {
            r.force = Some(f);
            r.force_from = force::ENV.into();
        }
        Ok(r)
    }

    /// Force a backend or implementation for every call (None: route).
    pub fn with_force(mut self, force: Option<Force>) -> Router {
        self.force = force;
        self.force_from = "the caller".into();
        self
    }

    /// Consider implementations this machine cannot run as if it could (planning, tests).
    pub fn assume_available(mut self, yes: bool) -> Router {
        self.assume_available = yes;
        self
    }

    pub fn profile(&self) -> Option<&Profile> {
        self.profile.as_ref()
    }

    /// Which profile predicts, or why none does.
    pub fn profile_note(&self) -> &str {
        &self.profile_note
    }

    pub fn forced(&self) -> Option<&Force> {
        self.force.as_ref()
    }

    /// The figures predictions use: the profile's when it has one.
    pub fn machine(&self) -> &Machine {
        self.profile.as_ref().map_or(&self.figures, |p| &p.machine)
    }

    /// The implementation for a call of `k` on these inputs.
    pub fn choose_for<'k>(
        &self,
        k: &'k Kernel,
        inputs: &[&Tensor],
        params: &Params,
    ) -> Result<&'k Implementation> {
        self.choose(k, &Request::for_inputs(k, inputs, params)?)
    }

    /// Run `k` on the implementation routed for these inputs. The outputs live where the
    /// inputs do when the chosen implementation runs there (device data stays on the device),
    /// else on the host.
    pub fn run(&self, k: &Kernel, inputs: &[&Tensor], params: &Params) -> Result<Vec<Tensor>> {
        let req = Request::for_inputs(k, inputs, params)?;
        let imp = self.choose(k, &req)?;
        let ordinal = match req.data {
            Location::Cuda(o) => o,
            Location::Host => 0,
        };
        if req.data == Location::Host || imp.location(ordinal) != req.data {
            return k.run(imp, inputs, params);
        }
        let mut outs = k
            .check(inputs, params)?
            .iter()
            .map(|d| Tensor::zeros_at(d, req.data))
            .collect::<Result<Vec<_>>>()?;
        k.run_into(imp, inputs, params, &mut outs)?;
        Ok(outs)
    }
}

/// The process's router, made at first use (`Router::for_this_machine(None)`: the profile and
/// `KROUTE_BACKEND` are read once); an ignored profile is said once on stderr.
pub fn router() -> Result<&'static Router> {
    static R: OnceLock<Result<Router>> = OnceLock::new();
    R.get_or_init(|| {
        let r = Router::for_this_machine(None)?;
        if r.profile.is_none() && r.profile_note.starts_with("ignoring") {
            eprintln!("kroute: {}; routing by the cost model", r.profile_note);
        }
        Ok(r)
    })
    .as_ref()
    .map_err(Clone::clone)
}

#[cfg(test)]
mod tests;
