//! Forcing the router's hand: a backend (every kernel runs on its first implementation there)
//! or an implementation id, through the API or `KROUTE_BACKEND`.

use crate::backend::Backend;
use crate::error::{Error, Result};
use crate::registry::{registry, Implementation, Kernel};
use serde::Serialize;

/// The environment variable that forces a backend or implementation (`auto` or unset: route).
pub const ENV: &str = "KROUTE_BACKEND";

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Force {
    Backend(Backend),
    Implementation(String),
}

impl Force {
    /// `auto` (or nothing) routes; a backend name forces that backend; any other implementation
    /// id this build has forces that implementation. Anything else is an error naming both.
    pub fn parse(text: &str) -> Result<Option<Force>> {
        let t = text.trim();
        if t.is_empty() || t == "auto" {
            return Ok(None);
        }
        if let Ok(b) = Backend::from_name(t) {
            return Ok(Some(Force::Backend(b)));
        }
        let ids = registry().implementation_ids();
        if ids.contains(&t) {
            return Ok(Some(Force::Implementation(t.into())));
        }
        Err(Error::Param(format!(
            "cannot force '{t}': expected auto, a backend ({}) or an implementation id ({})",
            Backend::ALL.map(|b| b.name()).join(", "),
            ids.join(", ")
        )))
    }

    /// What `KROUTE_BACKEND` forces, if anything.
    pub fn from_env() -> Result<Option<Force>> {
        match std::env::var(ENV) {
            Ok(v) => Force::parse(&v).map_err(|e| Error::Param(format!("{ENV}: {e}"))),
            Err(std::env::VarError::NotPresent) => Ok(None),
            Err(e) => Err(Error::Param(format!("{ENV}: {e}"))),
        }
    }

    pub fn name(&self) -> &str {
        match self {
            Force::Backend(b) => b.name(),
            Force::Implementation(id) => id,
        }
    }

    /// The implementation of `k` this forces (an error if `k` has none there).
    pub fn pick<'k>(&self, k: &'k Kernel) -> Result<&'k Implementation> {
        match self {
            Force::Backend(b) => k.on(*b),
            Force::Implementation(id) => k.implementation(id),
        }
    }
}
