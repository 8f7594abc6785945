//! CPU machinery: SIMD dispatch (pulp picks AVX-512, AVX2, NEON or scalar at run time), the
//! rayon split used by the `parallel` backend, and the drivers that turn one lane-generic
//! kernel body into a whole-slice pass with its tail handled.

pub mod drivers;
pub mod vmath;

use std::sync::OnceLock;

/// Which of the three CPU backends a call runs on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Cpu {
    Scalar,
    Simd,
    Parallel,
}

/// The CPU's model name (`/proc/cpuinfo`), or the architecture where the system does not say.
pub fn cpu_model() -> String {
    std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split(':').nth(1))
                .map(|m| m.trim().to_string())
        })
        .unwrap_or_else(|| std::env::consts::ARCH.to_string())
}

/// The SIMD architecture pulp dispatches to on this machine, detected once.
pub fn arch() -> pulp::Arch {
    static ARCH: OnceLock<pulp::Arch> = OnceLock::new();
    *ARCH.get_or_init(pulp::Arch::new)
}

/// The SIMD level actually dispatched, for `probe` and reports.
pub fn simd_level() -> &'static str {
    match arch() {
        #[cfg(target_arch = "x86_64")]
        pulp::Arch::V4(_) => "avx512 (x86-64-v4, 16 f32 lanes)",
        #[cfg(target_arch = "x86_64")]
        pulp::Arch::V3(_) => "avx2+fma (x86-64-v3, 8 f32 lanes)",
        #[cfg(target_arch = "aarch64")]
        pulp::Arch::Neon(_) => "neon (4 f32 lanes)",
        _ => "scalar fallback",
    }
}

/// Elements per rayon task. Below two grains a call stays on the calling thread: spawning
/// costs microseconds, which small inputs cannot repay. A grain of 2^16 f32 (256 KiB) is far
/// above that cost and small enough to balance 1e7 elements over many cores.
pub const GRAIN: usize = 1 << 16;

/// Whether this x86-64 CPU has AVX2 (for the few kernels written with `std::arch` shuffles that
/// pulp's portable vectors do not offer: the sorts' networks, the transpose's 8×8 blocks).
pub fn avx2() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        is_x86_feature_detected!("avx2")
    }
    #[cfg(not(target_arch = "x86_64"))]
    false
}

/// Split `len` into chunk ranges of `GRAIN` multiples for the parallel backend, about four
/// per thread so uneven cores still finish together.
pub fn chunk_len(len: usize) -> usize {
    let threads = rayon::current_num_threads().max(1);
    let per = len.div_ceil(threads * 4);
    per.div_ceil(GRAIN).max(1) * GRAIN
}

/// Run `f` on the chunk ranges of `0..len` in parallel; results come back in index order.
/// Small inputs run on the calling thread.
pub fn par_map_ranges<T: Send>(
    len: usize,
    f: impl Fn(std::ops::Range<usize>) -> T + Sync,
) -> Vec<T> {
    use rayon::prelude::*;
    if len < 2 * GRAIN {
        return vec![f(0..len)];
    }
    let c = chunk_len(len);
    (0..len.div_ceil(c))
        .into_par_iter()
        .map(|i| f(i * c..((i + 1) * c).min(len)))
        .collect()
}

/// An output that parallel tasks write in disjoint parts — chunks (`slice`) or single
/// positions (`write`) — fixed before any task writes (the scans' chained pass, the radix
/// sort's scatter offsets).
#[derive(Clone, Copy)]
pub struct DisjointOut<T>(*mut T, usize);
unsafe impl<T> Send for DisjointOut<T> {}
unsafe impl<T> Sync for DisjointOut<T> {}
impl<T> DisjointOut<T> {
    pub fn new(v: &mut [T]) -> DisjointOut<T> {
        DisjointOut(v.as_mut_ptr(), v.len())
    }
    /// SAFETY (caller): no two live slices, and no slice and a `write`, overlap.
    #[allow(clippy::mut_from_ref)]
    pub unsafe fn slice(&self, start: usize, len: usize) -> &mut [T] {
        assert!(
            start + len <= self.1,
            "a chunk's output lies inside the buffer"
        );
        std::slice::from_raw_parts_mut(self.0.add(start), len)
    }
    /// SAFETY (caller): no other task writes index i.
    #[inline(always)]
    pub unsafe fn write(&self, i: usize, v: T) {
        debug_assert!(i < self.1);
        self.0.add(i).write(v)
    }
}

/// View a SIMD register as its lanes.
#[inline(always)]
pub fn lanes<T: bytemuck::Pod, U: bytemuck::Pod>(v: &T) -> &[U] {
    bytemuck::cast_slice(std::slice::from_ref(v))
}

/// A full vector from the first lanes of a 16-element staging array (a plain load; pulp's
/// `partial_load` would mask by a run-time length).
#[inline(always)]
pub fn load_u32s<S: pulp::Simd>(a: &[u32; 16]) -> S::u32s {
    bytemuck::pod_read_unaligned(bytemuck::cast_slice(&a[..S::U32_LANES]))
}

#[inline(always)]
pub fn load_f32s<S: pulp::Simd>(a: &[f32; 16]) -> S::f32s {
    bytemuck::pod_read_unaligned(bytemuck::cast_slice(&a[..S::F32_LANES]))
}

// Width changes between byte, half and word lanes. pulp has no generic widening or narrowing,
// so each goes through a 16-element array. A full vector copies exactly `LANES` elements in a
// loop with a constant trip count, which LLVM unrolls into one vpmovzx/vpmovsx/vpmov (AVX-512)
// or a short pack sequence (AVX2); only a tail takes the variable-length loop.

macro_rules! widen {
    ($(#[$doc:meta])* $name:ident, $from:ty, $lanes:ident, $to:ty, $load:ident, $ret:ident) => {
        $(#[$doc])*
        #[inline(always)]
        pub fn $name<S: pulp::Simd>(v: &[$from]) -> S::$ret {
            let mut b = [<$to>::default(); 16];
            if v.len() >= S::$lanes {
                let v = &v[..S::$lanes];
                for j in 0..S::$lanes {
                    b[j] = v[j] as $to;
                }
            } else {
                for (d, &x) in b.iter_mut().zip(v) {
                    *d = x as $to;
                }
            }
            $load::<S>(&b)
        }
    };
}

widen!(
    /// Up to one vector of u8 widened to u32 lanes (missing lanes are 0).
    widen_u8, u8, U32_LANES, u32, load_u32s, u32s
);
widen!(
    /// Up to one vector of i8 widened to f32 lanes (missing lanes are 0).
    widen_i8_f32, i8, F32_LANES, f32, load_f32s, f32s
);
widen!(
    /// Up to one vector of u16 widened to u32 lanes (missing lanes are 0).
    widen_u16, u16, U32_LANES, u32, load_u32s, u32s
);

macro_rules! narrow {
    ($(#[$doc:meta])* $name:ident, $to:ty) => {
        $(#[$doc])*
        #[inline(always)]
        pub fn $name<S: pulp::Simd>(v: S::u32s, out: &mut [$to]) {
            let w: &[u32] = lanes(&v);
            if out.len() == S::U32_LANES {
                let (out, w) = (&mut out[..S::U32_LANES], &w[..S::U32_LANES]);
                for j in 0..S::U32_LANES {
                    out[j] = w[j] as $to;
                }
            } else {
                for (o, &x) in out.iter_mut().zip(w) {
                    *o = x as $to;
                }
            }
        }
    };
}

narrow!(
    /// The low 16 bits of each u32 lane, into `out` (its length ≤ the lane count).
    narrow_u16, u16
);
narrow!(
    /// The low 8 bits of each u32 lane, into `out` (its length ≤ the lane count).
    narrow_u8, u8
);
