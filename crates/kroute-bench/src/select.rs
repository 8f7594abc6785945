//! Choosing what to verify or time from `--domain`, `--kernel` and `--backend` filters, with
//! clear errors for names that do not exist.

use kroute::op::{ops, Op};
use kroute::{Backend, Domain, Error, Result};

pub struct Selection {
    pub ops: Vec<&'static Op>,
    pub backends: Vec<Backend>,
}

/// Implemented ops matching any of `domains` and any of `kernels` (empty = all), and the
/// requested backends (empty = every CPU backend).
pub fn select(domains: &[String], kernels: &[String], backends: &[String]) -> Result<Selection> {
    let domains: Vec<Domain> = domains
        .iter()
        .map(|d| {
            Domain::from_name(d).ok_or_else(|| {
                Error::Param(format!(
                    "unknown domain '{d}' (expected one of: {})",
                    Domain::ALL.iter().map(|d| d.name()).collect::<Vec<_>>().join(", ")
                ))
            })
        })
        .collect::<Result<_>>()?;
    for k in kernels {
        kroute::op(k)?;
    }
    let backends: Vec<Backend> = if backends.is_empty() {
        // The CPU backends, and cuda where this build and machine have it.
        Backend::ALL
            .into_iter()
            .filter(|b| b.is_cpu() || (*b == Backend::Cuda && b.unavailable_reason().is_none()))
            .collect()
    } else {
        backends
            .iter()
            .map(|b| Backend::from_name(b))
            .collect::<Result<_>>()?
    };
    let ops: Vec<&'static Op> = ops()
        // --domain and --kernel add up: every op of a named domain, and every named kernel.
        .filter(|o| {
            (domains.is_empty() && kernels.is_empty())
                || domains.contains(&o.spec().domain)
                || kernels.iter().any(|k| k == o.name)
        })
        .collect();
    if ops.is_empty() {
        return Err(Error::Param(
            "no implemented kernel matches the filters".into(),
        ));
    }
    Ok(Selection { ops, backends })
}
