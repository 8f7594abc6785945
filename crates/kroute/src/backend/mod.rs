//! Machinery each backend shares across kernels — no math lives here.

pub mod cpu;
#[cfg(feature = "cuda")]
pub mod cuda;

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
    /// CUDA C compiled at run time by NVRTC (the `cuda` feature).
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

    /// Why this backend cannot run on this machine or build, or None when it can (the CPU
    /// backends always can; `cuda` needs the feature, a device and NVRTC).
    pub fn unavailable_reason(self) -> Option<String> {
        match self {
            Backend::Scalar | Backend::Simd | Backend::Parallel => None,
            #[cfg(feature = "cuda")]
            Backend::Cuda => cuda::unavailable_reason(),
            #[cfg(not(feature = "cuda"))]
            Backend::Cuda => Some("this build has no CUDA support (the `cuda` feature)".into()),
            Backend::Wgpu => Some("the wgpu backend is not implemented yet".into()),
        }
    }
}

impl std::fmt::Display for Backend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}
