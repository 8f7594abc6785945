//! Parameter values, resolved against a kernel's `ParamSpec`s: defaults filled in, names and
//! ranges checked, float values rounded to f32 where the parameter is f32.

use crate::error::{Error, Result};
use crate::spec::{KernelSpec, ParamKind};

#[derive(Clone, Debug, PartialEq)]
pub struct Params {
    values: Vec<(&'static str, f64)>,
}

impl Params {
    /// The defaults of every parameter.
    pub fn defaults(spec: &KernelSpec) -> Params {
        let value = |p: &crate::spec::ParamSpec| match p.kind {
            ParamKind::F32 => p.default as f32 as f64,
            _ => p.default,
        };
        Params {
            values: spec.params.iter().map(|p| (p.name, value(p))).collect(),
        }
    }

    /// Defaults overridden by `name=value` pairs; unknown names and out-of-range values are
    /// `Error::Param`.
    pub fn resolve(spec: &KernelSpec, overrides: &[(String, String)]) -> Result<Params> {
        let mut params = Params::defaults(spec);
        for (name, text) in overrides {
            let value: f64 = text.trim().parse().map_err(|_| {
                Error::Param(format!(
                    "{}: parameter '{name}' needs a number, got '{text}'",
                    spec.name
                ))
            })?;
            params.set(spec, name, value)?;
        }
        Ok(params)
    }

    /// Set one parameter, checking its name, kind and range.
    pub fn set(&mut self, spec: &KernelSpec, name: &str, value: f64) -> Result<()> {
        let Some(p) = spec.param(name) else {
            let known: Vec<_> = spec.params.iter().map(|p| p.name).collect();
            return Err(Error::Param(if known.is_empty() {
                format!("{} takes no parameters, got '{name}'", spec.name)
            } else {
                format!(
                    "{} has no parameter '{name}' (it takes: {})",
                    spec.name,
                    known.join(", ")
                )
            }));
        };
        let value = match p.kind {
            ParamKind::F32 => value as f32 as f64,
            ParamKind::F64 => value,
            ParamKind::Int if value.fract() != 0.0 => {
                return Err(Error::Param(format!(
                    "{}: parameter '{name}' must be an integer, got {value}",
                    spec.name
                )))
            }
            ParamKind::Int => value,
        };
        if !(value >= p.min && value <= p.max) {
            return Err(Error::Param(format!(
                "{}: parameter '{name}' must lie in [{}, {}], got {value}",
                spec.name, p.min, p.max
            )));
        }
        for slot in &mut self.values {
            if slot.0 == p.name {
                slot.1 = value;
            }
        }
        Ok(())
    }

    /// A parameter's value. Kernels only ask for parameters their spec declares, so a missing
    /// name is a programming error caught by the catalog tests; it reads as NaN rather than
    /// panicking.
    pub fn get(&self, name: &str) -> f64 {
        self.values
            .iter()
            .find(|(n, _)| *n == name)
            .map_or(f64::NAN, |&(_, v)| v)
    }
    pub fn f32(&self, name: &str) -> f32 {
        self.get(name) as f32
    }
    pub fn usize(&self, name: &str) -> usize {
        self.get(name) as usize
    }
    pub fn iter(&self) -> impl Iterator<Item = (&'static str, f64)> + '_ {
        self.values.iter().copied()
    }
}
