//! The router's profile: on one machine, measured time against problem size for every
//! (kernel, implementation, where the data was), and the machine's figures (memory and
//! host↔device bandwidth, launch latency) measured when it was written. JSON, keyed by a
//! fingerprint of the machine and of kroute.

use super::machine::Machine;
use crate::error::{Error, Result};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// Bump on any incompatible change of the profile's JSON.
pub const SCHEMA: &str = "kroute.profile/1";

/// What a profile was measured on: a profile from another machine or another kroute
/// predicts nothing here.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Fingerprint {
    /// The CPU's model name.
    pub cpu: String,
    /// Each GPU's model and driver ("cuda:0 NVIDIA H200, driver CUDA 13.0"); empty without.
    pub gpus: Vec<String>,
    /// The kroute version that measured.
    pub kroute: String,
}

impl Fingerprint {
    /// This machine and this kroute (cheap: names and versions, no measurement).
    pub fn current() -> Fingerprint {
        Fingerprint {
            cpu: crate::backend::cpu::cpu_model(),
            gpus: crate::Backend::ALL
                .iter()
                .filter_map(|b| b.device())
                .flat_map(|d| d.identity())
                .collect(),
            kroute: env!("CARGO_PKG_VERSION").to_string(),
        }
    }

    /// Why a profile measured on `self` does not describe `here`, or None when it does.
    pub fn mismatch(&self, here: &Fingerprint) -> Option<String> {
        if self.kroute != here.kroute {
            return Some(format!(
                "it was measured by kroute {} and this is kroute {} (recalibrate: kroute calibrate)",
                self.kroute, here.kroute
            ));
        }
        if self.cpu != here.cpu {
            return Some(format!(
                "it was measured on another CPU ('{}', this is '{}')",
                self.cpu, here.cpu
            ));
        }
        if self.gpus != here.gpus {
            let show = |g: &[String]| {
                if g.is_empty() {
                    "no GPU".to_string()
                } else {
                    g.join("; ")
                }
            };
            return Some(format!(
                "it was measured with other GPUs or drivers ({}; this machine has {})",
                show(&self.gpus),
                show(&here.gpus)
            ));
        }
        None
    }

    /// A short stable hash naming this machine's profile file.
    pub fn key(&self) -> String {
        let mut h: u64 = 0xcbf2_9ce4_8422_2325;
        let text = format!("{}\n{}\n{}", self.cpu, self.gpus.join("\n"), self.kroute);
        for b in text.bytes() {
            h ^= b as u64;
            h = h.wrapping_mul(0x0100_0000_01b3);
        }
        format!("{h:016x}")
    }
}

/// Where a kernel's data was when it was timed. For a CPU implementation data on the device
/// is never measured (the router adds the transfer); a device implementation is measured both
/// ways, `Host` including the transfers in and out.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DataAt {
    Host,
    Device,
}

impl DataAt {
    pub fn name(self) -> &'static str {
        match self {
            DataAt::Host => "host",
            DataAt::Device => "device",
        }
    }
}

/// One measurement: the median seconds of a call at problem size n.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct Point {
    pub n: u64,
    pub seconds: f64,
}

/// Measured time against size for one (kernel, implementation, data location).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Curve {
    pub kernel: String,
    pub implementation: String,
    pub data: DataAt,
    /// Sorted by n.
    pub points: Vec<Point>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Profile {
    pub schema: String,
    pub fingerprint: Fingerprint,
    /// Seconds since the Unix epoch when it was written.
    pub created_unix_s: u64,
    /// The machine's figures when it was measured (transfers, launch latency, bandwidth).
    pub machine: Machine,
    pub curves: Vec<Curve>,
}

impl Profile {
    pub fn new(fingerprint: Fingerprint, machine: Machine) -> Profile {
        Profile {
            schema: SCHEMA.into(),
            fingerprint,
            created_unix_s: std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_secs()),
            machine,
            curves: Vec::new(),
        }
    }

    pub fn curve(&self, kernel: &str, implementation: &str, data: DataAt) -> Option<&Curve> {
        self.curves
            .iter()
            .find(|c| c.kernel == kernel && c.implementation == implementation && c.data == data)
    }

    /// Add a measurement (replacing one at the same n).
    pub fn record(&mut self, kernel: &str, implementation: &str, data: DataAt, p: Point) {
        let i = match self.curves.iter().position(|c| {
            c.kernel == kernel && c.implementation == implementation && c.data == data
        }) {
            Some(i) => i,
            None => {
                self.curves.push(Curve {
                    kernel: kernel.into(),
                    implementation: implementation.into(),
                    data,
                    points: Vec::new(),
                });
                self.curves.len() - 1
            }
        };
        let points = &mut self.curves[i].points;
        points.retain(|q| q.n != p.n);
        points.push(p);
        points.sort_by_key(|q| q.n);
    }

    /// Take every measurement of `newer` (a calibration of some kernels) into this profile;
    /// the machine figures become `newer`'s.
    pub fn merge(&mut self, newer: Profile) {
        for c in newer.curves {
            for p in c.points {
                self.record(&c.kernel, &c.implementation, c.data, p);
            }
        }
        self.machine = newer.machine;
        self.created_unix_s = newer.created_unix_s;
    }

    pub fn from_json(text: &str) -> Result<Profile> {
        #[derive(Deserialize)]
        struct Head {
            schema: Option<String>,
        }
        let head: Head = serde_json::from_str(text)
            .map_err(|e| Error::Io(format!("not a kroute profile: {e}")))?;
        match head.schema.as_deref() {
            Some(SCHEMA) => {}
            other => {
                return Err(Error::Io(format!(
                    "not a {SCHEMA} profile (schema {})",
                    other.unwrap_or("missing")
                )))
            }
        }
        let p: Profile = serde_json::from_str(text)
            .map_err(|e| Error::Io(format!("a damaged kroute profile: {e}")))?;
        for c in &p.curves {
            if let Some(bad) = c
                .points
                .iter()
                .find(|q| !(q.seconds.is_finite() && q.seconds > 0.0))
            {
                return Err(Error::Io(format!(
                    "a damaged kroute profile: {} {} ({} data) at n = {} has time {}",
                    c.kernel,
                    c.implementation,
                    c.data.name(),
                    bad.n,
                    bad.seconds
                )));
            }
        }
        Ok(p)
    }

    pub fn to_json(&self) -> Result<String> {
        serde_json::to_string_pretty(self).map_err(|e| Error::Io(e.to_string()))
    }

    pub fn load(path: &Path) -> Result<Profile> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| Error::Io(format!("{}: {e}", path.display())))?;
        Profile::from_json(&text).map_err(|e| Error::Io(format!("{}: {e}", path.display())))
    }

    /// Write the profile (creating the folder).
    pub fn save(&self, path: &Path) -> Result<()> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir)
                .map_err(|e| Error::Io(format!("{}: {e}", dir.display())))?;
        }
        std::fs::write(path, self.to_json()?)
            .map_err(|e| Error::Io(format!("{}: {e}", path.display())))
    }

    /// This profile if it describes `here`, else why not.
    pub fn check(self, here: &Fingerprint) -> std::result::Result<Profile, String> {
        match self.fingerprint.mismatch(here) {
            None => Ok(self),
            Some(why) => Err(why),
        }
    }
}

/// Where the profile of the machine `fp` is kept: `<cache dir>/profiles/<key>.json`, one file
/// per machine so a home folder shared by several machines keeps each one's.
pub fn default_path(fp: &Fingerprint) -> Option<PathBuf> {
    crate::cache_dir().map(|d| d.join("profiles").join(format!("{}.json", fp.key())))
}

/// The profile for this machine from `path` (default: the cache), or None with a message
/// saying why none applies (none written yet, unreadable, stale or foreign).
pub fn load_for(here: &Fingerprint, path: Option<&Path>) -> (Option<Profile>, String) {
    let Some(path) = path.map(Path::to_path_buf).or_else(|| default_path(here)) else {
        return (
            None,
            "no cache folder (set KROUTE_CACHE_DIR or HOME)".into(),
        );
    };
    if !path.exists() {
        return (
            None,
            format!(
                "no profile for this machine at {} (kroute calibrate writes one)",
                path.display()
            ),
        );
    }
    match Profile::load(&path).map_err(|e| e.to_string()) {
        Err(e) => (None, format!("ignoring the profile: {e}")),
        Ok(p) => match p.check(here) {
            Ok(p) => {
                let why = format!("profile {}", path.display());
                (Some(p), why)
            }
            Err(why) => (
                None,
                format!("ignoring the profile {}: {why}", path.display()),
            ),
        },
    }
}
