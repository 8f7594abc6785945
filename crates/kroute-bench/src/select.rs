//! Choosing what to verify or time from `--domain`, `--kernel`, `--backend` and `--impl`
//! filters, with clear errors for names that do not exist.

use kroute::{registry, Backend, Domain, Error, Implementation, Kernel, Result};

pub struct Selection {
    pub kernels: Vec<&'static Kernel>,
    backends: Vec<Backend>,
    impls: Vec<String>,
}

/// One implementation to run, or one that was asked for and cannot be.
pub enum Row {
    Run(&'static Implementation),
    Skip { id: String, why: String },
}

/// Implemented kernels matching any of `domains` and any of `kernels` (empty = all), and the
/// implementations of the named backends and ids (empty = every one available here).
pub fn select(
    domains: &[String],
    kernels: &[String],
    backends: &[String],
    impls: &[String],
) -> Result<Selection> {
    let domains: Vec<Domain> = domains
        .iter()
        .map(|d| {
            Domain::from_name(d).ok_or_else(|| {
                Error::Param(format!(
                    "unknown domain '{d}' (expected one of: {})",
                    Domain::names()
                ))
            })
        })
        .collect::<Result<_>>()?;
    for k in kernels {
        kroute::kernel(k)?;
    }
    let backends: Vec<Backend> = backends
        .iter()
        .map(|b| Backend::from_name(b))
        .collect::<Result<_>>()?;
    let known = registry().implementation_ids();
    for i in impls {
        if !known.contains(&i.as_str()) {
            return Err(Error::Param(format!(
                "unknown implementation '{i}' (this build has: {})",
                known.join(", ")
            )));
        }
    }
    let chosen: Vec<&'static Kernel> = kroute::kernels()
        // --domain and --kernel add up: every kernel of a named domain, and every named kernel.
        .filter(|k| {
            (domains.is_empty() && kernels.is_empty())
                || domains.contains(&k.spec.domain)
                || kernels.iter().any(|n| n == k.name())
        })
        .collect();
    if chosen.is_empty() {
        return Err(Error::Param(
            "no implemented kernel matches the filters".into(),
        ));
    }
    Ok(Selection {
        kernels: chosen,
        backends,
        impls: impls.to_vec(),
    })
}

impl Selection {
    /// What to run for `k`: its implementations on the named backends and with the named ids
    /// (a named one that cannot run here is a `Skip` saying why), or by default every
    /// implementation available here.
    pub fn rows(&self, k: &'static Kernel) -> Vec<Row> {
        let all = k.implementations();
        if self.backends.is_empty() && self.impls.is_empty() {
            return all.iter().filter(|i| i.available()).map(Row::Run).collect();
        }
        let mut rows = Vec::new();
        for &b in &self.backends {
            let on: Vec<&'static Implementation> = all.iter().filter(|i| i.backend == b).collect();
            if on.is_empty() {
                rows.push(Row::Skip {
                    id: b.name().into(),
                    why: b.unavailable_reason().map_or_else(
                        || format!("no {b} implementation"),
                        |why| format!("skipped: {why}"),
                    ),
                });
            }
            rows.extend(on.into_iter().map(Row::Run));
        }
        for id in &self.impls {
            match k.implementation(id) {
                Ok(i) => rows.push(Row::Run(i)),
                Err(_) => rows.push(Row::Skip {
                    id: id.clone(),
                    why: format!("no {id} implementation"),
                }),
            }
        }
        // Named twice (by backend and by id): run once.
        let mut seen = Vec::new();
        rows.retain(|r| match r {
            Row::Run(i) if seen.contains(&i.id) => false,
            Row::Run(i) => {
                seen.push(i.id);
                true
            }
            Row::Skip { .. } => true,
        });
        rows
    }
}
