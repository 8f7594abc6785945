//! `kroute probe`: what this machine is and what its memory actually delivers, measured by our
//! own STREAM-style loops (best of several passes over arrays ≥ 4× the last-level cache).

use kroute::backend::cpu::{arch, cpu_model, simd_level};
use kroute::router::Health;
use pulp::{Simd, WithSimd};
use rayon::prelude::*;
use serde::{Deserialize, Serialize};
use std::hint::black_box;
use std::time::Instant;

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Cache {
    pub level: u32,
    pub kind: String,
    pub size_bytes: u64,
    /// How many logical CPUs share one instance.
    pub shared_by: u32,
}

/// Measured bandwidth in GB/s (10^9 bytes/s), counting each array read once and each written
/// once, as STREAM does (no write-allocate traffic).
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct Bandwidth {
    /// Σ a: one stream read.
    pub read: f64,
    /// b = s·a (STREAM's scale; a plain copy loop would become memcpy with its
    /// non-temporal stores, which no kernel here uses).
    pub copy: f64,
    /// a = b + s·c: two streams read, one written.
    pub triad: f64,
}

/// One GPU and what it measured (defined beside the device backends).
pub type Gpu = kroute::backend::GpuProbe;

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Probe {
    pub cpu_model: String,
    pub simd: String,
    pub logical_cores: usize,
    pub threads: usize,
    pub caches: Vec<Cache>,
    pub llc_bytes: u64,
    pub array_bytes: u64,
    pub one_thread: Bandwidth,
    pub all_threads: Bandwidth,
    pub gpus: Vec<Gpu>,
    pub gpu_note: String,
    /// How busy the machine was when it was probed (absent in older JSON).
    #[serde(default)]
    pub health: Health,
}

/// Which measured figure a kernel's access pattern should be compared with.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Pattern {
    Read,
    Copy,
    Triad,
}

impl Pattern {
    pub fn name(self) -> &'static str {
        match self {
            Pattern::Read => "read",
            Pattern::Copy => "copy",
            Pattern::Triad => "triad",
        }
    }
}

impl Bandwidth {
    pub fn get(&self, p: Pattern) -> f64 {
        match p {
            Pattern::Read => self.read,
            Pattern::Copy => self.copy,
            Pattern::Triad => self.triad,
        }
    }
}

fn parse_size(s: &str) -> Option<u64> {
    let s = s.trim();
    let (num, mult) = match s.chars().last()? {
        'K' => (&s[..s.len() - 1], 1024),
        'M' => (&s[..s.len() - 1], 1024 * 1024),
        'G' => (&s[..s.len() - 1], 1024 * 1024 * 1024),
        _ => (s, 1),
    };
    num.parse::<u64>().ok().map(|n| n * mult)
}

fn count_cpus(list: &str) -> u32 {
    list.trim()
        .split(',')
        .filter(|p| !p.is_empty())
        .map(|p| match p.split_once('-') {
            Some((a, b)) => b.parse::<u32>().unwrap_or(0) - a.parse::<u32>().unwrap_or(0) + 1,
            None => 1,
        })
        .sum()
}

pub fn caches() -> Vec<Cache> {
    let mut v = Vec::new();
    for i in 0..8 {
        let dir = format!("/sys/devices/system/cpu/cpu0/cache/index{i}");
        let read = |f: &str| std::fs::read_to_string(format!("{dir}/{f}")).ok();
        let (Some(level), Some(kind), Some(size)) = (read("level"), read("type"), read("size"))
        else {
            break;
        };
        v.push(Cache {
            level: level.trim().parse().unwrap_or(0),
            kind: kind.trim().to_lowercase(),
            size_bytes: parse_size(&size).unwrap_or(0),
            shared_by: read("shared_cpu_list").map_or(1, |s| count_cpus(&s)),
        });
    }
    v
}

/// The last-level cache size, or 32 MiB when the system does not say.
pub fn llc_bytes(caches: &[Cache]) -> u64 {
    caches
        .iter()
        .filter(|c| c.kind != "instruction")
        .max_by_key(|c| c.level)
        .map_or(32 << 20, |c| c.size_bytes)
}

struct Read<'a>(&'a [f32]);
impl WithSimd for Read<'_> {
    type Output = f32;
    #[inline(always)]
    fn with_simd<S: Simd>(self, s: S) -> f32 {
        let (v, _) = S::as_simd_f32s(self.0);
        let mut acc = [s.splat_f32s(0.0); 4];
        for q in v.chunks_exact(4) {
            for k in 0..4 {
                acc[k] = s.add_f32s(acc[k], q[k]);
            }
        }
        s.reduce_sum_f32s(s.add_f32s(s.add_f32s(acc[0], acc[1]), s.add_f32s(acc[2], acc[3])))
    }
}

struct Scale<'a>(&'a [f32], &'a mut [f32], f32);
impl WithSimd for Scale<'_> {
    type Output = ();
    #[inline(always)]
    fn with_simd<S: Simd>(self, s: S) {
        let (a, _) = S::as_simd_f32s(self.0);
        let (b, _) = S::as_mut_simd_f32s(self.1);
        let k = s.splat_f32s(self.2);
        for (o, &x) in b.iter_mut().zip(a) {
            *o = s.mul_f32s(k, x);
        }
    }
}

struct Triad<'a>(&'a mut [f32], &'a [f32], &'a [f32], f32);
impl WithSimd for Triad<'_> {
    type Output = ();
    #[inline(always)]
    fn with_simd<S: Simd>(self, s: S) {
        let (a, _) = S::as_mut_simd_f32s(self.0);
        let (b, _) = S::as_simd_f32s(self.1);
        let (c, _) = S::as_simd_f32s(self.2);
        let k = s.splat_f32s(self.3);
        for ((o, &x), &y) in a.iter_mut().zip(b).zip(c) {
            *o = s.mul_add_f32s(k, y, x);
        }
    }
}

/// Best-of-`reps` GB/s of `f`, which moves `bytes`.
fn best(reps: usize, bytes: f64, mut f: impl FnMut()) -> f64 {
    f();
    (0..reps)
        .map(|_| {
            let t = Instant::now();
            f();
            bytes / t.elapsed().as_secs_f64() / 1e9
        })
        .fold(0.0, f64::max)
}

fn measure(a: &mut [f32], b: &mut [f32], c: &mut [f32], parallel: bool, reps: usize) -> Bandwidth {
    let n = a.len() as f64;
    let chunk = (a.len() / (4 * rayon::current_num_threads())).max(1 << 16);
    let k = black_box(1.0001f32);
    let read = best(reps, 4.0 * n, || {
        let s: f32 = if parallel {
            a.par_chunks(chunk).map(|x| arch().dispatch(Read(x))).sum()
        } else {
            arch().dispatch(Read(a))
        };
        black_box(s);
    });
    let copy = best(reps, 8.0 * n, || {
        if parallel {
            b.par_chunks_mut(chunk)
                .zip(a.par_chunks(chunk))
                .for_each(|(b, a)| arch().dispatch(Scale(a, b, k)));
        } else {
            arch().dispatch(Scale(a, b, k));
        }
    });
    let triad = best(reps, 12.0 * n, || {
        if parallel {
            a.par_chunks_mut(chunk)
                .zip(b.par_chunks(chunk).zip(c.par_chunks(chunk)))
                .for_each(|(a, (b, c))| arch().dispatch(Triad(a, b, c, k)));
        } else {
            arch().dispatch(Triad(a, b, c, k));
        }
    });
    Bandwidth { read, copy, triad }
}

/// The probe's three arrays, kept to re-measure bandwidth during a long benchmark: on a shared
/// host it drifts (seen here: all-thread copy from 41 to 78 GB/s within minutes), so each
/// kernel is compared with a measurement taken just before it.
pub struct Arrays {
    a: Vec<f32>,
    b: Vec<f32>,
    c: Vec<f32>,
}

impl Arrays {
    /// Each array ≥ 4× the LLC and ≥ 256 MiB: a VM's reported LLC can understate what the
    /// host's caches hold, and a short pass is noisy.
    pub fn new(llc: u64) -> Arrays {
        let len = (llc.max(64 << 20)) as usize;
        Arrays {
            a: vec![1.0; len],
            b: vec![2.0; len],
            c: vec![0.5; len],
        }
    }

    pub fn bytes(&self) -> u64 {
        4 * self.a.len() as u64
    }

    /// Best of `reps` passes per pattern: (one thread, all threads).
    pub fn measure(&mut self, reps: usize) -> (Bandwidth, Bandwidth) {
        let one = measure(&mut self.a, &mut self.b, &mut self.c, false, reps);
        let all = measure(&mut self.a, &mut self.b, &mut self.c, true, 2 * reps);
        (one, all)
    }
}

/// Probe the machine. Takes a few seconds: three arrays of ≥ 4× the last-level cache. The
/// machine's health is read first, before the probe's own loops load it.
pub fn probe() -> Probe {
    probe_with_passes(10)
}

/// The probe with `passes` passes per bandwidth figure (the best is kept): `kroute calibrate`
/// takes fewer than `kroute probe`'s ten.
pub fn probe_with_passes(passes: usize) -> Probe {
    let health = Health::now();
    let caches = caches();
    let llc = llc_bytes(&caches);
    let mut arrays = Arrays::new(llc);
    let (one_thread, all_threads) = arrays.measure(passes.max(1));
    let array_bytes = arrays.bytes();
    drop(arrays);
    let (gpus, gpu_note) = gpus();
    Probe {
        cpu_model: cpu_model(),
        simd: simd_level().to_string(),
        logical_cores: std::thread::available_parallelism().map_or(1, |n| n.get()),
        threads: rayon::current_num_threads(),
        caches,
        llc_bytes: llc,
        array_bytes,
        one_thread,
        all_threads,
        gpus,
        gpu_note,
        health,
    }
}

/// Every device backend's GPUs and what they measure, or notes saying why there are none.
pub fn gpus() -> (Vec<Gpu>, String) {
    let mut all = Vec::new();
    let mut notes = Vec::new();
    for d in kroute::Backend::ALL.iter().filter_map(|b| b.device()) {
        let (g, note) = d.probe();
        all.extend(g);
        if !note.is_empty() {
            notes.push(note);
        }
    }
    (all, notes.join("; "))
}
