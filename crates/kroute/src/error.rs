//! The library's one error type. Every message says what was expected and what came.

use std::fmt;

#[derive(Debug, Clone, PartialEq)]
pub enum Error {
    /// Lengths or dimensions disagree.
    Shape(String),
    /// An input or output has the wrong element type.
    DType(String),
    /// A parameter is unknown or out of its range.
    Param(String),
    /// Input data outside its domain (a mask value other than 0/1, …).
    Value(String),
    /// No identity exists for an empty input.
    Empty(String),
    /// No kernel of that name in the catalog.
    UnknownKernel(String),
    /// No backend of that name.
    UnknownBackend(String),
    /// The kernel exists but has no implementation on that backend (yet).
    NotImplemented { kernel: String, backend: String },
    /// A device is missing or failed (no driver, no GPU, out of memory).
    Device(String),
    /// A kernel failed to compile; carries the compiler's log.
    Compile { kernel: String, log: String },
    /// Reading or writing a file failed.
    Io(String),
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Shape(m) => write!(f, "shape error: {m}"),
            Error::DType(m) => write!(f, "dtype error: {m}"),
            Error::Param(m) => write!(f, "parameter error: {m}"),
            Error::Value(m) => write!(f, "value error: {m}"),
            Error::Empty(m) => write!(f, "empty input: {m}"),
            Error::UnknownKernel(k) => {
                write!(f, "unknown kernel '{k}' (`kroute list` shows the catalog)")
            }
            Error::UnknownBackend(b) => write!(
                f,
                "unknown backend '{b}' (expected one of: {})",
                crate::Backend::ALL
                    .iter()
                    .map(|b| b.name())
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
            Error::NotImplemented { kernel, backend } if backend == "any" => {
                write!(
                    f,
                    "kernel '{kernel}' is in the catalog but has no implementation yet"
                )
            }
            Error::NotImplemented { kernel, backend } => {
                write!(f, "kernel '{kernel}' has no '{backend}' implementation yet")
            }
            Error::Device(m) => write!(f, "device error: {m}"),
            Error::Compile { kernel, log } => write!(f, "compiling '{kernel}' failed:\n{log}"),
            Error::Io(m) => write!(f, "i/o error: {m}"),
        }
    }
}

impl std::error::Error for Error {}
