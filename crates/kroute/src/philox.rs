//! Philox4x32-10 (Salmon et al., SC'11), exactly as docs/kernels/KERNELS.md §2 specifies, and the workload
//! distributions built on it. Inputs are pure functions of (seed, stream, element index), so any
//! backend or peer regenerates the same bytes at any N, in parallel.

use rayon::prelude::*;

const M0: u32 = 0xD251_1F53;
const M1: u32 = 0xCD9E_8D57;
const W0: u32 = 0x9E37_79B9;
const W1: u32 = 0xBB67_AE85;

/// Ten rounds of Philox4x32 on `ctr` with `key`.
#[inline]
pub fn philox4x32_10(ctr: [u32; 4], key: [u32; 2]) -> [u32; 4] {
    let [mut c0, mut c1, mut c2, mut c3] = ctr;
    let [mut k0, mut k1] = key;
    for _ in 0..10 {
        let p0 = M0 as u64 * c0 as u64;
        let p1 = M1 as u64 * c2 as u64;
        let (hi0, lo0) = ((p0 >> 32) as u32, p0 as u32);
        let (hi1, lo1) = ((p1 >> 32) as u32, p1 as u32);
        (c0, c1, c2, c3) = (hi1 ^ c1 ^ k0, lo1, hi0 ^ c3 ^ k1, lo0);
        k0 = k0.wrapping_add(W0);
        k1 = k1.wrapping_add(W1);
    }
    [c0, c1, c2, c3]
}

/// The key for seed s: (s mod 2^32, ⌊s/2^32⌋).
pub fn key(seed: u64) -> [u32; 2] {
    [seed as u32, (seed >> 32) as u32]
}

/// Word k of stream t.
pub fn word(seed: u64, stream: u32, k: u64) -> u32 {
    let j = k / 4;
    philox4x32_10([j as u32, (j >> 32) as u32, stream, 0], key(seed))[(k % 4) as usize]
}

/// Words 0..n of stream t, generated in parallel blocks.
pub fn words(seed: u64, stream: u32, n: usize) -> Vec<u32> {
    let mut out = vec![0u32; n];
    let key = key(seed);
    out.par_chunks_mut(1 << 16)
        .enumerate()
        .for_each(|(ci, chunk)| {
            let base = (ci as u64) << 16;
            for (i, w) in chunk.iter_mut().enumerate() {
                let k = base + i as u64;
                let j = k / 4;
                // One block serves four words; recomputing it per word keeps this obviously
                // right, and generation is not what we time.
                *w = philox4x32_10([j as u32, (j >> 32) as u32, stream, 0], key)[(k % 4) as usize];
            }
        });
    out
}

/// Map words to values in parallel.
fn map_words<T: Send>(
    seed: u64,
    stream: u32,
    n: usize,
    f: impl Fn(u32) -> T + Sync + Send,
) -> Vec<T> {
    words(seed, stream, n).into_par_iter().map(f).collect()
}

/// u = (w >> 8)·2^−24 ∈ [0, 1).
#[inline]
pub fn unit(w: u32) -> f64 {
    (w >> 8) as f64 * (1.0 / 16_777_216.0)
}

/// uniform(a, b), computed in f64 and rounded once to f32.
pub fn uniform(seed: u64, stream: u32, n: usize, a: f64, b: f64) -> Vec<f32> {
    map_words(seed, stream, n, |w| (a + (b - a) * unit(w)) as f32)
}

/// normal(μ, σ) by Box–Muller on word pairs: elements 2p and 2p+1 come from words 2p, 2p+1.
pub fn normal(seed: u64, stream: u32, n: usize, mu: f64, sigma: f64) -> Vec<f32> {
    let w = words(seed, stream, n + (n & 1));
    let mut out = vec![0f32; n];
    out.par_chunks_mut(1 << 16)
        .enumerate()
        .for_each(|(ci, chunk)| {
            let base = ci << 16;
            for (i, x) in chunk.iter_mut().enumerate() {
                let e = base + i;
                let p = e / 2;
                let u1 = ((w[2 * p] >> 8) as f64 + 1.0) * (1.0 / 16_777_216.0);
                let u2 = unit(w[2 * p + 1]);
                let r = (-2.0 * u1.ln()).sqrt();
                let t = 2.0 * std::f64::consts::PI * u2;
                let z = if e % 2 == 0 { r * t.cos() } else { r * t.sin() };
                *x = (mu + sigma * z) as f32;
            }
        });
    out
}

/// bernoulli(p) as u8: 1 where u < p.
pub fn bernoulli(seed: u64, stream: u32, n: usize, p: f64) -> Vec<u8> {
    map_words(seed, stream, n, |w| (unit(w) < p) as u8)
}

/// randint(lo, hi): lo + ⌊w·(hi − lo)/2^32⌋ with a 64-bit product.
pub fn randint(seed: u64, stream: u32, n: usize, lo: i64, hi: i64) -> Vec<i64> {
    let span = (hi - lo) as u64;
    map_words(seed, stream, n, |w| lo + ((w as u64 * span) >> 32) as i64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_answers() {
        // Random123 kat_vectors, as docs/kernels/KERNELS.md §2 lists them.
        assert_eq!(
            philox4x32_10([0; 4], [0; 2]),
            [0x6627e8d5, 0xe169c58d, 0xbc57ac4c, 0x9b00dbd8]
        );
        assert_eq!(
            philox4x32_10([u32::MAX; 4], [u32::MAX; 2]),
            [0x408f276d, 0x41c83b0e, 0xa20bc7c6, 0x6d5451fd]
        );
        assert_eq!(
            philox4x32_10(
                [0x243f6a88, 0x85a308d3, 0x13198a2e, 0x03707344],
                [0xa4093822, 0x299f31d0]
            ),
            [0xd16cfe09, 0x94fdcceb, 0x5001e420, 0x24126ea1]
        );
    }

    #[test]
    fn streams_and_words_agree() {
        let w = words(42, 3, 1000);
        for (k, &x) in w.iter().enumerate() {
            assert_eq!(x, word(42, 3, k as u64));
        }
        assert_ne!(words(42, 0, 8), words(42, 1, 8));
        assert_ne!(words(42, 0, 8), words(43, 0, 8));
    }

    #[test]
    fn distributions_stay_in_range() {
        let u = uniform(42, 0, 100_000, -87.0, 88.0);
        assert!(u.iter().all(|&x| (-87.0..=88.0).contains(&x)));
        let z = normal(42, 0, 100_001, 0.0, 1.0);
        assert_eq!(z.len(), 100_001);
        assert!(z
            .iter()
            .all(|&x| x.abs() <= 5.78 && x != 0.0 || x == 0.0 && x.is_sign_positive()));
        let mean = z.iter().map(|&x| x as f64).sum::<f64>() / z.len() as f64;
        assert!(mean.abs() < 0.02, "{mean}");
        let b = bernoulli(42, 1, 100_000, 0.5);
        let ones = b.iter().filter(|&&m| m == 1).count();
        assert!((49_000..51_000).contains(&ones));
        let r = randint(42, 0, 100_000, -127, 128);
        assert!(r.iter().all(|&x| (-127..128).contains(&x)));
    }
}
