//! The cuda backend: CUDA C compiled at run time by NVRTC (to a CUBIN for the device's own
//! arch) and launched through `cudarc`, everything loaded at run time.
//!
//! This file is what the domains write against, and compiles with or without the `cuda`
//! feature: a domain's `cuda.rs` is a [`Table`] of its `.cu` source and its kernels, each with a
//! [`Launch`] shape; every kernel takes its arguments in one order, built from the spec by
//! [`Call::args`]. The machinery lives in `driver/` (feature `cuda`: `device.rs` context,
//! stream, module cache and launches; `memory.rs` buffers and staged transfers; `compile.rs`
//! NVRTC and its caches; `timing.rs` events, L2 flush and the harness's clock; `probe.rs`
//! measurements) and in `stub.rs` without the feature, which answers `Error::Device`.
//!
//! Data placement: a cuda implementation accepts each input and output on the host or on the
//! device. Host inputs are uploaded and host outputs round-tripped for that call; tensors
//! already on the device move nothing, and the launch is asynchronous (errors surface at the
//! next synchronising call). To time kernels alone, put the data on the device first
//! (`Tensor::to_location`).

#[cfg(feature = "cuda")]
mod driver;
#[cfg(feature = "cuda")]
pub use driver::*;

#[cfg(not(feature = "cuda"))]
mod stub;
#[cfg(not(feature = "cuda"))]
pub use stub::*;

use crate::error::Result;
use crate::params::Params;
use crate::spec::{KernelSpec, ParamKind};
use std::sync::Arc;

/// The backend as the rest of kroute sees it (`backend::DeviceBackend`).
pub static CUDA: Cuda = Cuda;

/// A kernel source: a module name (the domain) and its CUDA C text. Every source is compiled
/// with the prelude (`prelude.cuh`) in front.
#[derive(Clone, Copy, Debug)]
pub struct Source {
    pub name: &'static str,
    pub text: &'static str,
}

/// The backend's own kernels (latency probe, L2 flush).
pub static UTIL: Source = Source {
    name: "util",
    text: include_str!("util.cu"),
};

/// One domain's CUDA kernels: its source and how each kernel is launched.
pub struct Table {
    pub source: Option<&'static Source>,
    pub kernels: &'static [Kernel],
}

impl Table {
    /// A domain without CUDA kernels (yet).
    pub const NONE: Table = Table {
        source: None,
        kernels: &[],
    };
}

/// A kernel of a domain's source, named as in the catalog, and its launch shape.
pub struct Kernel {
    pub name: &'static str,
    pub launch: Launch,
}

/// How a kernel is launched. Every kernel takes `(inputs…, outputs…, n, params…, extras…,
/// scratch)`: device pointers in the entry's order, n = the element count of the first input,
/// the spec's parameters in spec order (f32 as `float`, integers as `u64`, f64 as `double`),
/// then what a custom launch adds, then the scratch pointer for reductions.
#[derive(Clone, Copy)]
pub enum Launch {
    /// An elementwise kernel over n items, this many per thread, on a grid as big as the work
    /// (blocks of `MAP_BLOCK`; see `Call::launch_map`); nothing is launched for n = 0.
    Map(u64),
    /// A one-launch reduction over n inputs whose last block combines the partials; takes the
    /// scratch area last and launches even for n = 0 (it writes the identity).
    Reduce,
    /// One warp per row of `d` (the `d` parameter), on a grid of as many warps as rows (the
    /// kernels loop over rows past 2^31 − 1 blocks); the row count n / d follows the parameters
    /// as a `u64` extra, so no thread divides.
    Rows,
    /// A launch of its own (shared memory, extra arguments, a read-back).
    Custom(fn(&Call) -> Result<()>),
}

impl Kernel {
    /// A map whose threads take `MAP_PER_THREAD` elements (`kr_map1_to`, `kr_map2_to`).
    pub const fn map(name: &'static str) -> Kernel {
        Kernel::map_per(name, MAP_PER_THREAD)
    }
    /// A map whose threads take `per_thread` elements each.
    pub const fn map_per(name: &'static str, per_thread: u64) -> Kernel {
        Kernel {
            name,
            launch: Launch::Map(per_thread),
        }
    }
    pub const fn reduce(name: &'static str) -> Kernel {
        Kernel {
            name,
            launch: Launch::Reduce,
        }
    }
    pub const fn rows(name: &'static str) -> Kernel {
        Kernel {
            name,
            launch: Launch::Rows,
        }
    }
    pub const fn custom(name: &'static str, f: fn(&Call) -> Result<()>) -> Kernel {
        Kernel {
            name,
            launch: Launch::Custom(f),
        }
    }
}

/// A cuFFT transform type (`fft::exec`): complex-to-complex or real-to-complex, single precision.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum FftType {
    C2C,
    R2C,
}

/// Threads per block for every kernel: 8 warps, a multiple of 32 as the block reductions need,
/// and small enough that 8 blocks fit on an SM at full occupancy.
pub const BLOCK: u32 = 256;

/// Threads per block of a map: torch's vectorised elementwise block. On the H200
/// (scripts/map-variants.py), 128 threads × two float4 was within 0.5% of the best shape tried
/// at 10^7 and 10^8 and within 0.8% of torch; 256 × 2 and 512-thread blocks lost up to 3% on
/// `exp` at 10^8.
pub const MAP_BLOCK: u32 = 128;
/// Elements per thread of a map: KR_MAP_U (prelude.cuh) float4 groups.
pub const MAP_PER_THREAD: u64 = 8;

/// Scratch layout: a block counter for last-block-done, per-block partials, and 64 Ki u64
/// histogram accumulators. The last block of every kernel leaves its part zeroed again.
/// Mirrored by the KR_* constants of `prelude.cuh`.
pub const SCRATCH_COUNTER: u64 = 0;
pub const SCRATCH_FLAG: u64 = 128;
pub const SCRATCH_PARTIALS: u64 = 256;
pub const SCRATCH_PARTIALS_BYTES: u64 = (512 << 10) - 256;
pub const SCRATCH_HIST: u64 = 512 << 10;
pub const SCRATCH_BYTES: usize = (512 << 10) + 65536 * 8;

/// Kernel argument: every value travels in an 8-byte slot (pointers, u64, f64, and 4-byte
/// values in the low half: the launch reads each parameter at its own size, little-endian).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Arg(pub u64);
impl Arg {
    pub fn ptr(p: u64) -> Arg {
        Arg(p)
    }
    pub fn u64(v: u64) -> Arg {
        Arg(v)
    }
    pub fn u32(v: u32) -> Arg {
        Arg(v as u64)
    }
    pub fn f32(v: f32) -> Arg {
        Arg(v.to_bits() as u64)
    }
    pub fn f64(v: f64) -> Arg {
        Arg(v.to_bits())
    }
}

/// One launch of a registered kernel: its device, source and name, the device pointers and
/// lengths of its inputs and outputs (already checked against the op's shape rules), and its
/// parameters.
pub struct Call<'a> {
    pub dev: &'a Arc<Device>,
    pub source: &'static Source,
    pub name: &'static str,
    pub spec: &'static KernelSpec,
    pub params: &'a Params,
    pub ins: Vec<(u64, usize)>,
    pub outs: Vec<(u64, usize)>,
    /// The inputs' shapes (a launch whose sizes are not all parameters: group_norm's C and L).
    pub in_shapes: Vec<Vec<usize>>,
}

impl Call<'_> {
    /// The element count of the first input.
    pub fn n(&self) -> u64 {
        self.ins.first().map_or(0, |i| i.1 as u64)
    }

    /// The canonical argument list: inputs, outputs, n, the spec's parameters in spec order,
    /// `extras`, and the scratch pointer when `scratch` is set.
    pub fn args(&self, extras: &[Arg], scratch: Option<u64>) -> Vec<Arg> {
        let mut a: Vec<Arg> = self.ins.iter().map(|&(p, _)| Arg::ptr(p)).collect();
        a.extend(self.outs.iter().map(|&(p, _)| Arg::ptr(p)));
        a.push(Arg::u64(self.n()));
        a.extend(param_args(self.spec, self.params));
        a.extend_from_slice(extras);
        a.extend(scratch.map(Arg::ptr));
        a
    }

    /// Blocks of `BLOCK` threads for `items` work items, at most as many as are resident.
    pub fn grid(&self, smem: u32, items: u64) -> Result<u32> {
        self.grid_of(BLOCK, smem, items)
    }

    /// `grid` for a kernel whose blocks have `block` threads (its `__launch_bounds__`).
    pub fn grid_of(&self, block: u32, smem: u32, items: u64) -> Result<u32> {
        self.dev.grid(self.source, self.name, block, smem, items)
    }

    /// A map's launch: blocks of `MAP_BLOCK` threads taking `per_thread` elements each, as many
    /// blocks as the work needs (a block moves one contiguous chunk and retires). The kernels'
    /// loops step over chunks, so a grid capped at 2^31 − 1 blocks still covers any n. Nothing
    /// is launched for n = 0.
    pub fn launch_map(&self, per_thread: u64, extras: &[Arg]) -> Result<()> {
        let n = self.n();
        if n == 0 {
            return Ok(());
        }
        let grid = one_shot_grid(n, per_thread * MAP_BLOCK as u64);
        self.launch_of(MAP_BLOCK, grid, 0, extras, false)
    }

    /// Rows of `d` (the `d` parameter), `lanes` threads to a row (a power of two, at most a
    /// warp: a warp holds 32 / lanes rows), on a grid as big as the work (the kernels loop over
    /// rows past 2^31 − 1 blocks). The row count n / d follows the parameters as a `u64`, then
    /// `extras`; nothing is launched without a whole row.
    pub fn launch_rows(&self, lanes: u32, extras: &[Arg]) -> Result<()> {
        let d = self.params.usize("d").max(1) as u64;
        let rows = self.n() / d;
        if rows == 0 {
            return Ok(());
        }
        let warps = rows.div_ceil(32 / lanes as u64);
        let mut args = vec![Arg::u64(rows)];
        args.extend_from_slice(extras);
        self.launch(one_shot_grid(warps * 32, BLOCK as u64), 0, &args, false)
    }

    /// Launch with the canonical arguments plus `extras` (and the scratch area when asked).
    pub fn launch(&self, grid: u32, smem: u32, extras: &[Arg], scratch: bool) -> Result<()> {
        self.launch_of(BLOCK, grid, smem, extras, scratch)
    }

    /// `launch` with blocks of `block` threads.
    pub fn launch_of(
        &self,
        block: u32,
        grid: u32,
        smem: u32,
        extras: &[Arg],
        scratch: bool,
    ) -> Result<()> {
        let scratch = if scratch {
            Some(self.dev.scratch()?)
        } else {
            None
        };
        let args = self.args(extras, scratch);
        self.dev
            .launch(self.source, self.name, grid, block, smem, &args)
    }

    /// The standard launches; `Custom` calls its own function.
    pub fn run(&self, launch: Launch) -> Result<()> {
        match launch {
            Launch::Map(per_thread) => self.launch_map(per_thread, &[]),
            Launch::Reduce => {
                // Each block leaves a 32-byte partial in the scratch area.
                let grid = self
                    .grid(0, self.n().div_ceil(16))?
                    .min((SCRATCH_PARTIALS_BYTES / 32) as u32);
                self.launch(grid, 0, &[], true)
            }
            // A warp per row: on the H200, quantize_f16_to_i8 at 10^8 took 82 µs, against 89 µs
            // on a grid of resident blocks looping over rows.
            Launch::Rows => self.launch_rows(32, &[]),
            Launch::Custom(f) => f(self),
        }
    }
}

/// Blocks of `per_block` work items covering `items` (at least one, at most the 2^31 − 1 a
/// grid can have: kernels launched this way loop over what a capped grid leaves).
pub fn one_shot_grid(items: u64, per_block: u64) -> u32 {
    items.div_ceil(per_block).clamp(1, i32::MAX as u64) as u32
}

/// The spec's parameters in spec order, each at its kind's width.
pub fn param_args<'a>(spec: &'a KernelSpec, params: &'a Params) -> impl Iterator<Item = Arg> + 'a {
    spec.params.iter().map(move |p| match p.kind {
        ParamKind::F32 => Arg::f32(params.f32(p.name)),
        ParamKind::F64 => Arg::f64(params.get(p.name)),
        ParamKind::Int => Arg::u64(params.get(p.name) as u64),
    })
}

/// A domain's kernel bound to its source: what the registry stores as a cuda implementation.
pub struct Bound {
    pub source: &'static Source,
    pub kernel: &'static Kernel,
}

impl crate::backend::DeviceKernel for Bound {
    fn run(
        &self,
        spec: &'static KernelSpec,
        inputs: &[&crate::tensor::Tensor],
        params: &Params,
        outputs: &mut [crate::tensor::Tensor],
    ) -> Result<()> {
        run(
            self.source,
            self.kernel.name,
            self.kernel.launch,
            spec,
            inputs,
            params,
            outputs,
        )
    }
}

/// What a library route's calls name as their source: they launch no kernel of ours (a call
/// that tried would find no function in it and fail with `Error::Device`).
pub static LIBRARY: Source = Source {
    name: "library",
    text: "",
};

/// A library route on the cuda backend (cuBLAS, cuFFT): staged exactly like a `cuda`
/// implementation, then `run` gets the [`Call`] (device pointers, the device and its stream)
/// and calls the library instead of launching a kernel of ours.
pub struct Routed {
    pub kernel: &'static str,
    pub run: fn(&Call) -> Result<()>,
}

impl crate::backend::DeviceKernel for Routed {
    fn run(
        &self,
        spec: &'static KernelSpec,
        inputs: &[&crate::tensor::Tensor],
        params: &Params,
        outputs: &mut [crate::tensor::Tensor],
    ) -> Result<()> {
        let launch = Launch::Custom(self.run);
        run(&LIBRARY, self.kernel, launch, spec, inputs, params, outputs)
    }
}
