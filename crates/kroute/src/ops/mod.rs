//! One folder per domain: the specs, and where implemented the ops (f64 reference, workload,
//! CPU evaluation) and each device backend's table, side by side.
//!
//! The list below is the one list of domains: it declares the folders, the `Domain` enum, and
//! the per-domain tables the registry is built from. Every domain exports `SPECS` (its catalog
//! entries, in `docs/kernels/KERNELS.md` order), `OPS` (its implemented kernels; empty for a
//! spec-only domain) and `CUDA` (its CUDA source and kernels; `Table::NONE` without). Adding a
//! domain adds one line here.

use crate::backend::cuda;
use crate::op::{Library, Op};
use crate::spec::KernelSpec;
use serde::Serialize;

mod common;

macro_rules! domains {
    ($($variant:ident => $module:ident),* $(,)?) => {
        $(pub mod $module;)*

        /// The domains of the catalog, in `docs/kernels/KERNELS.md` order.
        #[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
        #[serde(rename_all = "snake_case")]
        pub enum Domain {
            $($variant),*
        }

        impl Domain {
            pub const ALL: &'static [Domain] = &[$(Domain::$variant),*];

            /// The folder name, as the catalog and the command line write it.
            pub fn name(self) -> &'static str {
                match self {
                    $(Domain::$variant => stringify!($module)),*
                }
            }
        }

        /// Each domain with its specs, ops and device tables.
        pub(crate) fn tables() -> &'static [DomainTables] {
            static TABLES: &[DomainTables] = &[$(DomainTables {
                domain: Domain::$variant,
                specs: $module::SPECS,
                ops: $module::OPS,
                cuda: &$module::CUDA,
            }),*];
            TABLES
        }
    };
}

domains! {
    Elementwise => elementwise,
    Activations => activations,
    Reductions => reductions,
    Fused => fused,
    DotProducts => dot_products,
    Quantization => quantization,
    Prng => prng,
    Correlation => correlation,
    Softmax => softmax,
    Normalization => normalization,
    Attention => attention,
    Loss => loss,
    Optimizers => optimizers,
    FusedCustom => fused_custom,
    Fft => fft,
    Signal => signal,
    Linalg => linalg,
    Simulation => simulation,
    Sorting => sorting,
    Layout => layout,
    Scans => scans,
}

/// Library routes (`op::Library`; docs/adding-a-kernel.md, "Library routes"): each domain that
/// has any lists its `LIBRARIES` here, beside its ops, and the registry joins them.
pub(crate) fn libraries() -> &'static [(Domain, &'static [Library])] {
    static LIBRARIES: &[(Domain, &[Library])] = &[
        (Domain::Correlation, correlation::LIBRARIES),
        (Domain::Fft, fft::LIBRARIES),
        (Domain::Fft, fft::CUFFT_LIBRARIES),
        (Domain::Signal, signal::CONV_LIBRARIES),
        (Domain::Signal, signal::LAG_LIBRARIES),
        (Domain::Linalg, linalg::LIBRARIES),
    ];
    LIBRARIES
}

impl Domain {
    pub fn from_name(s: &str) -> Option<Domain> {
        Domain::ALL.iter().copied().find(|d| d.name() == s)
    }

    /// Every domain name, comma-separated (for error messages).
    pub fn names() -> String {
        Domain::ALL
            .iter()
            .map(|d| d.name())
            .collect::<Vec<_>>()
            .join(", ")
    }
}

/// What one domain folder exports.
pub(crate) struct DomainTables {
    pub domain: Domain,
    pub specs: &'static [KernelSpec],
    pub ops: &'static [Op],
    pub cuda: &'static cuda::Table,
}
