//! Machinery each backend shares across kernels — no math lives here.

pub mod cpu;

use crate::error::{Error, Result};
use serde::Serialize;

/// Every backend kroute knows; which of them a kernel has is in the registry.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Backend {
    /// Plain Rust, one thread: the readable baseline.
    Scalar,
    /// One thread, explicit SIMD through pulp (AVX2 / AVX-512 / NEON chosen at run time).
    Simd,
    /// The simd code split over a rayon pool.
    Parallel,
    /// CUDA C compiled at run time by NVRTC (a later issue).
    Cuda,
    /// WGSL through wgpu (a later issue).
    Wgpu,
}

impl Backend {
    pub const ALL: [Backend; 5] = [
        Backend::Scalar,
        Backend::Simd,
        Backend::Parallel,
        Backend::Cuda,
        Backend::Wgpu,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Backend::Scalar => "scalar",
            Backend::Simd => "simd",
            Backend::Parallel => "parallel",
            Backend::Cuda => "cuda",
            Backend::Wgpu => "wgpu",
        }
    }

    pub fn from_name(s: &str) -> Result<Backend> {
        Backend::ALL
            .into_iter()
            .find(|b| b.name() == s)
            .ok_or_else(|| Error::UnknownBackend(s.to_string()))
    }

    pub fn is_cpu(self) -> bool {
        matches!(self, Backend::Scalar | Backend::Simd | Backend::Parallel)
    }
}

impl std::fmt::Display for Backend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}
