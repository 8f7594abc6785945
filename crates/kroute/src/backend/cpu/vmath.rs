//! Vectorised f32 transcendental functions and f16 <-> f32 conversions.
//!
//! Everything here is written once over `S: pulp::Simd`, so the same source
//! runs on AVX-512, AVX2, NEON and pulp's scalar fallback. Nothing calls
//! libm per lane: each function is range reduction + a minimax polynomial,
//! branch-free (special cases are patched with `select`), built only from
//! IEEE-exact primitives (add/mul/fma/div, integer bit tricks). Because of that
//! every backend produces bit-identical results (NaN payloads aside), which
//! the tests check.
//!
//! All functions are `#[inline(always)]`: pulp applies target features only to
//! code that is inlined into the `with_simd` body. Kernels reach them through
//! `drivers::map1` and friends, whose `Map1::vector` bodies are
//! `#[inline(always)]` for the same reason; a plain closure or a bare fn item
//! (`exp::<S>`) is not inlined, loses the target features and runs ~70x slower
//! (measured: exp 10.5 ns/elem instead of 0.14 ns/elem on AVX-512).
//!
//! Accuracy, relative to the f64 result rounded to f32, measured by the tests
//! at the bottom of this file over strided sweeps of all f32 bit patterns
//! (0.3e9–1e9 points per function):
//!
//! | fn      | bar                    | max rel err | max err / bar |
//! |---------|------------------------|-------------|---------------|
//! | exp     | 4e-6 rel + 2^-148 abs  | 2.5e-7      | 0.50 (subnormal results) |
//! | expm1   | 4e-6 rel               | 7.2e-7      | 0.18          |
//! | ln      | 4e-6 rel + 1e-6 abs    | 1.7e-6      | 0.24          |
//! | log1p   | 4e-6 rel               | 1.7e-6      | 0.43          |
//! | tanh    | 4e-6 rel + 1e-6 abs    | 6.9e-7      | 0.07          |
//! | erf     | 4e-6 rel + 1e-6 abs    | 6.0e-7      | 0.11          |
//! | erfc    | 4e-6 rel + 1e-30 abs   | 9.5e-7      | 0.24          |
//!
//! Throughput on AVX-512 (one core, L1-resident, `map_slice`): exp 0.14,
//! expm1/ln/log1p/tanh ~0.17, erf/erfc ~0.3 ns per element, i.e. well above
//! memory bandwidth. pulp's scalar fallback is ~15–40 ns per element, mostly
//! because `f32::mul_add` is a libm `fmaf` call there; a true fma is required
//! (exact Cody–Waite steps and the exact x² split in erfc rely on it).
//!
//! f16 conversions are bit-exact against the `half` crate (IEEE binary16,
//! round-to-nearest-even, subnormals kept, NaN quietened with payload kept).

#![allow(clippy::excessive_precision)]
#![allow(clippy::unreadable_literal)]

use pulp::Simd;

// ---------------------------------------------------------------------------
// Small helpers. All trivially inlined; they only shorten the code below.
// ---------------------------------------------------------------------------

#[inline(always)]
fn sf<S: Simd>(s: S, v: f32) -> S::f32s {
    s.splat_f32s(v)
}

#[inline(always)]
fn su<S: Simd>(s: S, v: u32) -> S::u32s {
    s.splat_u32s(v)
}

#[inline(always)]
fn to_bits<S: Simd>(s: S, x: S::f32s) -> S::u32s {
    s.transmute_u32s_f32s(x)
}

#[inline(always)]
fn from_bits<S: Simd>(s: S, u: S::u32s) -> S::f32s {
    s.transmute_f32s_u32s(u)
}

#[inline(always)]
fn shl<S: Simd>(s: S, a: S::u32s, n: u32) -> S::u32s {
    s.wrapping_dyn_shl_u32s(a, su(s, n))
}

#[inline(always)]
fn shr<S: Simd>(s: S, a: S::u32s, n: u32) -> S::u32s {
    s.wrapping_dyn_shr_u32s(a, su(s, n))
}

/// `a < c` for values below 2^31. A signed compare is native on every ISA,
/// unlike the unsigned one (AVX2 has to emulate it).
#[inline(always)]
fn lt31<S: Simd>(s: S, a: S::u32s, c: u32) -> S::m32s {
    s.less_than_i32s(s.transmute_i32s_u32s(a), s.splat_i32s(c as i32))
}

/// `a > c` for values below 2^31 (see `lt31`).
#[inline(always)]
fn gt31<S: Simd>(s: S, a: S::u32s, c: u32) -> S::m32s {
    s.greater_than_i32s(s.transmute_i32s_u32s(a), s.splat_i32s(c as i32))
}

/// Horner evaluation, `c[0]` is the constant term. The loop is over a const
/// array, so it is fully unrolled into an fma chain.
#[inline(always)]
fn horner<S: Simd, const N: usize>(s: S, x: S::f32s, c: &[f32; N]) -> S::f32s {
    let mut acc = sf(s, c[N - 1]);
    let mut i = N - 1;
    while i > 0 {
        i -= 1;
        acc = s.mul_add_f32s(acc, x, sf(s, c[i]));
    }
    acc
}

/// Sign bit of `x` (as an f32 with only that bit set).
#[inline(always)]
fn sign_of<S: Simd>(s: S, x: S::f32s) -> S::f32s {
    s.and_f32s(x, sf(s, -0.0))
}

// ---------------------------------------------------------------------------
// Constants
// ---------------------------------------------------------------------------

/// 1.5·2^23: adding it rounds any |v| < 2^22 to an integer (current rounding
/// mode, i.e. nearest-even) and leaves that integer in the low mantissa bits.
const ROUND_MAGIC: f32 = 12582912.0;
const ROUND_MAGIC_BITS: u32 = 0x4B40_0000;

const LOG2E: f32 = core::f32::consts::LOG2_E;
const LN2: f32 = core::f32::consts::LN_2;
/// ln2 split for Cody–Waite: LN2_HI has its 9 low mantissa bits clear, so
/// `n·LN2_HI` is exact for |n| < 2^9 and `x - n·LN2_HI` loses nothing.
const LN2_HI: f32 = 0.693145751953125; // 0x3F317200
const LN2_LO: f32 = 1.428606765330187e-06;

/// expm1(r) ≈ r + r²·P(r) on |r| ≤ ln2/2, minimax for *relative* error of
/// expm1 (so it is also good for exp = 1 + expm1). Degree 5 overall: fit
/// error 4.5e-7 (2.0e-7 for exp); degree 4 would be 2e-5 (5e-6 for exp),
/// which misses the 4e-6 bar.
const EXPM1_P: [f32; 4] = [
    0.4999940097332001,
    0.16666831076145172,
    0.04187260568141937,
    0.008338073268532753,
];

/// ln(1+f) ≈ f - f²/2 + f³·P(f) on f ∈ [√½-1, √2-1], minimax for relative
/// error (so log1p stays relative near 0). Degree 7 overall: fit error
/// 1.6e-6, the lowest degree that meets 4e-6 with margin. (Degree 8 would give
/// 2.7e-7 for one more fma, should a caller ever need it.)
const LOG_P: [f32; 5] = [
    0.33320799469947815,
    -0.24943594634532928,
    0.20443403720855713,
    -0.18411000072956085,
    0.11781594157218933,
];

/// erf(x)/x ≈ P(x²) for |x| < ERF_SMALL: relative error 1.3e-7. Below 0.5 the
/// `1 - erfc` route would lose relative accuracy to cancellation; above it,
/// erfc(x)/erf(x) < 1 so `1 - erfc` is as good as erfc itself.
const ERF_SMALL: f32 = 0.5;
const ERF_P: [f32; 4] = [
    1.128378987312317,
    -0.3761073350906372,
    0.1124562919139862,
    -0.02438931167125702,
];

/// erfc(x)·e^{x²} ≈ P(t), t = 1/(1 + x/2), for x ∈ [0, 9] (t ∈ [0.18, 1]),
/// minimax for relative error with P(1) = 1 pinned (so erfc(0) is exactly
/// 1): 5.3e-7 with these rounded coefficients.
/// The t substitution maps the whole half line onto a compact interval where
/// this smooth function needs only degree 7 (degree 6 would be ~3e-6), and
/// keeps every term small where P is small (large x), so Horner does not
/// cancel. Beyond x = 9 erfc < 1e-30, where only the absolute bound matters.
const ERFC_P: [f32; 8] = [
    -2.998375566676259e-05,
    0.28290578722953796,
    0.273189514875412,
    0.2988925278186798,
    -0.0007073555025272071,
    0.43749818205833435,
    -0.38841480016708374,
    0.0966661274433136,
];
/// erfc(x) = 0 in f32 for x > 10.06; clamping keeps x² finite (no inf-inf in
/// the exact-square trick) and sends exp(-x²) cleanly to 0.
const ERFC_CLAMP: f32 = 10.5;

/// Below this |x|, expm1(x) and tanh(x) round to x itself. It also keeps the
/// `p·2^-1` step of `expm1_core` away from the subnormal range, where it
/// would drop bits.
const TINY: f32 = 9.094947e-13; // 2^-40

// ---------------------------------------------------------------------------
// exp family
// ---------------------------------------------------------------------------

/// x = n·ln2 + r with n integral and |r| ≲ ln2/2. Returns r and the bit
/// pattern of `n + ROUND_MAGIC` (n in its low bits, two's complement
/// relative to ROUND_MAGIC_BITS). Requires |x·log2e| < 2^22.
#[inline(always)]
fn reduce_ln2<S: Simd>(s: S, x: S::f32s) -> (S::f32s, S::u32s) {
    let k = s.mul_add_f32s(x, sf(s, LOG2E), sf(s, ROUND_MAGIC));
    let n = s.sub_f32s(k, sf(s, ROUND_MAGIC));
    let r = s.mul_add_f32s(n, sf(s, -LN2_HI), x);
    let r = s.mul_add_f32s(n, sf(s, -LN2_LO), r);
    (r, to_bits(s, k))
}

/// expm1(r) for |r| ≲ ln2/2, relative error ≤ 4.6e-7 (+ rounding).
#[inline(always)]
fn expm1_poly<S: Simd>(s: S, r: S::f32s) -> S::f32s {
    let p = horner(s, r, &EXPM1_P);
    s.mul_add_f32s(s.mul_f32s(r, r), p, r)
}

/// y·2^n for n ∈ [-150, 128] (k from `reduce_ln2`), y ∈ [0.7, 1.5).
/// 2^n itself is not representable at either end, so it is applied as two
/// normal factors 2^⌊(n+256)/2⌋-128 · 2^(rest). The first product is exact,
/// so results that land in the subnormal range are rounded only once.
#[inline(always)]
fn scale_pow2<S: Simd>(s: S, y: S::f32s, k: S::u32s) -> S::f32s {
    let e = s.sub_u32s(k, su(s, ROUND_MAGIC_BITS - 256)); // n + 256 ∈ [106, 384]
    let h = shr(s, e, 1);
    let s1 = from_bits(s, shl(s, s.sub_u32s(h, su(s, 1)), 23)); // 2^(h-128)
    let s2 = from_bits(s, shl(s, s.sub_u32s(s.sub_u32s(e, h), su(s, 1)), 23)); // 2^(n-h+128)
    s.mul_f32s(s.mul_f32s(y, s1), s2)
}

/// e^x, relative error ≤ 4e-6 over the whole f32 range, including correctly
/// scaled subnormal results for x ∈ [-103.97, -87.34]. x > 88.7228 → +inf,
/// x < -103.98 → 0, NaN → NaN.
#[inline(always)]
pub fn exp<S: Simd>(s: S, x: S::f32s) -> S::f32s {
    // Clamp so n stays in [-150, 128]: everything beyond under/overflows anyway.
    let xc = s.min_f32s(s.max_f32s(x, sf(s, -104.0)), sf(s, 89.0));
    let (r, k) = reduce_ln2(s, xc);
    let y = s.add_f32s(expm1_poly(s, r), sf(s, 1.0));
    let y = scale_pow2(s, y, k);
    // min/max NaN semantics differ between ISAs, so patch NaN explicitly.
    s.select_f32s(s.equal_f32s(x, x), y, x)
}

/// e^x - 1 for x ∈ [-30, 89]; relative for all such x ≥ TINY in magnitude.
/// Computes 2^n·(1 + p) - 1 as 2·(p·2^(n-1) + (2^(n-1) - 1/2)): a single fma
/// with no cancellation issue for n = 0 (exactly p) and no intermediate 2^n
/// (which does not exist for n = 128, yet results up to 88.72 are finite).
#[inline(always)]
fn expm1_core<S: Simd>(s: S, xc: S::f32s) -> S::f32s {
    let (r, k) = reduce_ln2(s, xc);
    let p = expm1_poly(s, r);
    // 2^(n-1): biased exponent n + 126 ∈ [83, 254] for x ∈ [-30, 89].
    let u = from_bits(s, shl(s, s.sub_u32s(k, su(s, ROUND_MAGIC_BITS - 126)), 23));
    let t = s.mul_add_f32s(p, u, s.sub_f32s(u, sf(s, 0.5)));
    s.add_f32s(t, t)
}

/// e^x - 1, relative error ≤ 4e-6 everywhere (also for tiny |x|, ±0 and
/// subnormals, which are returned unchanged, as rounding dictates).
/// x → -inf gives -1, large x gives +inf, NaN → NaN.
#[inline(always)]
pub fn expm1<S: Simd>(s: S, x: S::f32s) -> S::f32s {
    // e^-30 < 2^-43: the result is -1 to f32 long before the clamp.
    let xc = s.min_f32s(s.max_f32s(x, sf(s, -30.0)), sf(s, 89.0));
    let y = expm1_core(s, xc);
    // `>=` is false for NaN, so NaN also takes the `x` branch.
    s.select_f32s(
        s.greater_than_or_equal_f32s(s.abs_f32s(x), sf(s, TINY)),
        y,
        x,
    )
}

/// tanh(x) = expm1(2|x|) / (expm1(2|x|) + 2), with the sign of x.
/// Relative everywhere (expm1 is relative, and the quotient only damps its
/// error); odd by construction; ±inf → ±1; never NaN for finite/inf input.
#[inline(always)]
pub fn tanh<S: Simd>(s: S, x: S::f32s) -> S::f32s {
    let ax = s.abs_f32s(x);
    // tanh rounds to 1 beyond |x| = 9.02; clamping keeps expm1 finite so the
    // quotient never becomes inf/inf.
    let z = s.min_f32s(s.add_f32s(ax, ax), sf(s, 20.0));
    let t = expm1_core(s, z);
    let y = s.div_f32s(t, s.add_f32s(t, sf(s, 2.0)));
    let y = s.or_f32s(y, sign_of(s, x));
    s.select_f32s(s.greater_than_or_equal_f32s(ax, sf(s, TINY)), y, x)
}

// ---------------------------------------------------------------------------
// log family
// ---------------------------------------------------------------------------

/// For positive normal a: a = 2^e·m with m ∈ [√½, √2). Returns (2^23 + e +
/// 127 as an exact f32, m). Biasing by 0x3F800000 - bits(√½) before taking
/// the exponent makes the split land at √½ instead of 1, so that f = m - 1 is
/// small on both sides and exact (Sterbenz).
#[inline(always)]
fn split_exponent<S: Simd>(s: S, a: S::f32s) -> (S::f32s, S::f32s) {
    let ub = to_bits(s, a);
    let eb = shr(s, s.add_u32s(ub, su(s, 0x3F80_0000 - 0x3F35_04F3)), 23);
    let m = from_bits(
        s,
        s.add_u32s(s.sub_u32s(ub, shl(s, eb, 23)), su(s, 0x3F80_0000)),
    );
    // int -> float without a conversion instruction: eb < 2^9 sits in the
    // mantissa of 2^23.
    let ef = from_bits(s, s.or_u32s(eb, su(s, 0x4B00_0000)));
    (ef, m)
}

/// ln(1+f) for f ∈ [√½-1, √2-1], relative error ≤ 1.6e-6 (+ rounding).
/// Keeps -0 → -0.
#[inline(always)]
fn log1p_poly<S: Simd>(s: S, f: S::f32s) -> S::f32s {
    let p = horner(s, f, &LOG_P);
    let q = s.mul_add_f32s(p, f, sf(s, -0.5));
    s.mul_add_f32s(s.mul_f32s(f, f), q, f)
}

/// IEEE special cases of log(a): 0 → -inf, +inf → +inf, a < 0 or NaN → NaN.
#[inline(always)]
fn log_specials<S: Simd>(s: S, a: S::f32s, y: S::f32s) -> S::f32s {
    let y = s.select_f32s(s.equal_f32s(a, sf(s, 0.0)), sf(s, f32::NEG_INFINITY), y);
    let y = s.select_f32s(
        s.equal_f32s(a, sf(s, f32::INFINITY)),
        sf(s, f32::INFINITY),
        y,
    );
    s.select_f32s(
        s.greater_than_or_equal_f32s(a, sf(s, 0.0)),
        y,
        sf(s, f32::NAN),
    )
}

/// Natural logarithm, error ≤ 1e-6 + 4e-6·|ln x| (measured: relative 1.7e-6
/// everywhere, including near x = 1, where the reduced argument is exact). Subnormal inputs are exact-scaled by
/// 2^23 first (no flush). 0 → -inf, x < 0 → NaN, +inf → +inf, NaN → NaN.
#[inline(always)]
pub fn ln<S: Simd>(s: S, x: S::f32s) -> S::f32s {
    const TWO23: f32 = 8388608.0;
    let sub = s.less_than_f32s(x, sf(s, f32::MIN_POSITIVE));
    let xs = s.select_f32s(sub, s.mul_f32s(x, sf(s, TWO23)), x);
    let bias = s.select_f32s(sub, sf(s, TWO23 + 127.0 + 23.0), sf(s, TWO23 + 127.0));
    let (ef, m) = split_exponent(s, xs);
    let e = s.sub_f32s(ef, bias);
    let y = s.mul_add_f32s(e, sf(s, LN2), log1p_poly(s, s.sub_f32s(m, sf(s, 1.0))));
    log_specials(s, x, y)
}

/// ln(1 + x), relative error ≤ 4e-6 for all x > -1 (also for tiny |x|).
/// -1 → -inf, x < -1 → NaN, +inf → +inf, NaN → NaN.
#[inline(always)]
pub fn log1p<S: Simd>(s: S, x: S::f32s) -> S::f32s {
    let a = s.add_f32s(x, sf(s, 1.0));
    let (ef, m) = split_exponent(s, a);
    let e = s.sub_f32s(ef, sf(s, 8388608.0 + 127.0));
    // When 1+x ∈ [√½, √2), x itself is the exact reduced argument (1+x may
    // have rounded away its low bits). Elsewhere |log1p(x)| > 0.34, so the
    // rounding of 1+x costs at most ~2e-7 relative.
    let f = s.select_f32s(s.equal_f32s(e, sf(s, 0.0)), x, s.sub_f32s(m, sf(s, 1.0)));
    let y = s.mul_add_f32s(e, sf(s, LN2), log1p_poly(s, f));
    log_specials(s, a, y)
}

// ---------------------------------------------------------------------------
// erf family
// ---------------------------------------------------------------------------

/// exp(-x²) for x ∈ [0, ERFC_CLAMP] with x² carried as an exact hi+lo pair.
/// Rounding x² alone would cost up to x²·2^-24 ≈ 6e-6 relative at x = 10.
#[inline(always)]
fn exp_neg_sq<S: Simd>(s: S, x: S::f32s) -> S::f32s {
    let hi = s.mul_f32s(x, x);
    let lo = s.mul_add_f32s(x, x, s.neg_f32s(hi)); // x² - hi, exact with fma
    let a = s.max_f32s(s.neg_f32s(hi), sf(s, -104.0));
    let (r, k) = reduce_ln2(s, a);
    // The Cody–Waite steps are exact, so lo (≤ ulp(hi)/2) can be folded in
    // afterwards without losing it.
    let r = s.sub_f32s(r, lo);
    let y = s.add_f32s(expm1_poly(s, r), sf(s, 1.0));
    scale_pow2(s, y, k)
}

/// erfc(x) for x ∈ [0, ERFC_CLAMP].
#[inline(always)]
fn erfc_nonneg<S: Simd>(s: S, x: S::f32s) -> S::f32s {
    let t = s.div_f32s(sf(s, 1.0), s.mul_add_f32s(x, sf(s, 0.5), sf(s, 1.0)));
    s.mul_f32s(exp_neg_sq(s, x), horner(s, t, &ERFC_P))
}

/// Complementary error function, relative error ≤ 4e-6 wherever
/// erfc(x) ≥ 1e-30 (x < 8.1), absolute ≤ 1e-30 beyond; saturates to exactly
/// 0 for x > 10.06 and to 2 for x → -inf. NaN → NaN.
///
/// For exact GELU: 0.5·x·erfc(-x/√2) keeps relative accuracy for negative x
/// where 1 + erf would cancel.
#[inline(always)]
pub fn erfc<S: Simd>(s: S, x: S::f32s) -> S::f32s {
    let ax = s.min_f32s(s.abs_f32s(x), sf(s, ERFC_CLAMP));
    let c = erfc_nonneg(s, ax);
    let y = s.select_f32s(
        s.less_than_f32s(x, sf(s, 0.0)),
        s.sub_f32s(sf(s, 2.0), c),
        c,
    );
    s.select_f32s(s.equal_f32s(x, x), y, x)
}

/// Error function, error ≤ 1e-6 + 4e-6·|erf x| (measured relative 6.0e-7,
/// also for tiny |x|). Odd; ±inf → ±1; NaN → NaN.
/// For large negative x, 1 + erf(x) is only accurate to ~6e-8 absolute;
/// use `erfc(-x)` when that tail matters.
#[inline(always)]
pub fn erf<S: Simd>(s: S, x: S::f32s) -> S::f32s {
    let ax = s.abs_f32s(x);
    let small = s.mul_f32s(x, horner(s, s.mul_f32s(x, x), &ERF_P));
    let c = erfc_nonneg(s, s.min_f32s(ax, sf(s, ERFC_CLAMP)));
    let big = s.or_f32s(s.sub_f32s(sf(s, 1.0), c), sign_of(s, x));
    // `>=` is false for NaN, which therefore takes the (NaN-propagating)
    // polynomial branch.
    s.select_f32s(
        s.greater_than_or_equal_f32s(ax, sf(s, ERF_SMALL)),
        big,
        small,
    )
}

// ---------------------------------------------------------------------------
// f16 <-> f32
// ---------------------------------------------------------------------------

/// f32 → IEEE binary16 bits (low 16 bits of each lane, high half zero),
/// bit-exact with `half::f16::from_f32` / F16C `vcvtps2ph`: round to nearest
/// even, overflow → ±inf, f16 subnormals kept, -0 kept, NaN → quiet NaN with
/// the top payload bits kept.
#[inline(always)]
pub fn f32_to_f16_bits<S: Simd>(s: S, x: S::f32s) -> S::u32s {
    let xb = to_bits(s, x);
    let a = s.and_u32s(xb, su(s, 0x7FFF_FFFF));
    let sign = shr(s, s.and_u32s(xb, su(s, 0x8000_0000)), 16);

    // Normal f16 results: rebias the exponent (-(127-15) << 23) and round the
    // 13 dropped bits to nearest-even by adding 0xFFF plus the lsb that
    // survives; a carry out of the mantissa correctly bumps the exponent (up
    // to inf for [65520, 65536)).
    let sh = shr(s, a, 13);
    let odd = s.and_u32s(sh, su(s, 1));
    let normal = shr(s, s.add_u32s(s.add_u32s(a, su(s, 0xC800_0FFF)), odd), 13);

    // f16 subnormals (|x| < 2^-14): adding 0.5 puts the f16 quantum 2^-24
    // exactly at the f32 ulp, so the FPU's own round-to-nearest-even does
    // the rounding; the low bits are then the f16 mantissa (0x400 means the
    // value rounded up to the smallest normal, which is also right).
    let subn = s.sub_u32s(
        to_bits(s, s.add_f32s(from_bits(s, a), sf(s, 0.5))),
        su(s, 0x3F00_0000),
    );

    let nan_bits = s.select_u32s(
        gt31(s, a, 0x7F80_0000),
        s.or_u32s(s.and_u32s(sh, su(s, 0x03FF)), su(s, 0x0200)),
        su(s, 0),
    );

    let r = s.select_u32s(lt31(s, a, 0x3880_0000), subn, normal); // < 2^-14
    let r = s.select_u32s(
        lt31(s, a, 0x4780_0000), // < 65536: past that only inf/NaN remain
        r,
        s.or_u32s(nan_bits, su(s, 0x7C00)),
    );
    s.or_u32s(r, sign)
}

/// IEEE binary16 bits (low 16 bits of each lane; higher bits ignored) → f32,
/// bit-exact with `half::f16::to_f32` / F16C `vcvtph2ps` (NaN → quiet NaN,
/// payload kept).
#[inline(always)]
pub fn f16_bits_to_f32<S: Simd>(s: S, h: S::u32s) -> S::f32s {
    let em = s.and_u32s(h, su(s, 0x7FFF));
    let sign = shl(s, s.and_u32s(h, su(s, 0x8000)), 16);
    let o = shl(s, em, 13);
    let normal = s.add_u32s(o, su(s, (127 - 15) << 23));
    // Zero/subnormal: read the mantissa as 2^-14·(1 + m/1024) and subtract
    // 2^-14. Exact, and never feeds a denormal to the FPU (slow on some x86).
    let subn = to_bits(
        s,
        s.sub_f32s(
            from_bits(s, s.add_u32s(o, su(s, (127 - 14) << 23))),
            sf(s, 6.103515625e-05), // 2^-14
        ),
    );
    let quiet = s.select_u32s(gt31(s, em, 0x7C00), su(s, 0x7FC0_0000), su(s, 0x7F80_0000));
    let infnan = s.or_u32s(o, quiet);
    let r = s.select_u32s(lt31(s, em, 0x0400), subn, normal);
    let r = s.select_u32s(lt31(s, em, 0x7C00), r, infnan);
    from_bits(s, s.or_u32s(r, sign))
}

// ---------------------------------------------------------------------------
// Slice driver for the tests (kernels use `drivers::map1`, which also splits
// over rayon and never panics on user input).
// ---------------------------------------------------------------------------

/// y[i] = f(x[i]) over whole vectors, then the tail with a masked
/// partial load/store (the padding lanes compute f(0), which is harmless for
/// every function here). Panics if the lengths differ.
///
/// Pass `#[inline(always)] |s, v| exp(s, v)`, not `exp::<S>` or an
/// un-annotated closure: see the module docs (~70x slower otherwise).
#[cfg(test)]
#[inline(always)]
fn map_slice<S: Simd>(s: S, x: &[f32], y: &mut [f32], f: impl Fn(S, S::f32s) -> S::f32s) {
    assert_eq!(x.len(), y.len());
    let (xv, xt) = S::as_simd_f32s(x);
    let (yv, yt) = S::as_mut_simd_f32s(y);
    for (yv, xv) in yv.iter_mut().zip(xv) {
        *yv = f(s, *xv);
    }
    if !xt.is_empty() {
        s.partial_store_f32s(yt, f(s, s.partial_load_f32s(xt)));
    }
}

// ---------------------------------------------------------------------------
// Tests
// ---------------------------------------------------------------------------

#[cfg(test)]
mod tests {
    use super::*;
    use pulp::WithSimd;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Mutex;

    // ---- backends -------------------------------------------------------

    #[derive(Clone, Copy, Debug, PartialEq)]
    enum Backend {
        /// `pulp::Arch::new()`: AVX-512 on the dev machine.
        Native,
        /// AVX2 explicitly (x86 only).
        Avx2,
        /// pulp's scalar fallback (1 lane; what other targets' tails use).
        Scalar,
    }
    const BACKENDS: [Backend; 3] = [Backend::Native, Backend::Avx2, Backend::Scalar];

    fn run<Op: WithSimd>(b: Backend, op: Op) -> Option<Op::Output> {
        match b {
            Backend::Native => Some(pulp::Arch::new().dispatch(op)),
            Backend::Scalar => Some(Simd::vectorize(pulp::Scalar::new(), op)),
            Backend::Avx2 => {
                #[cfg(any(target_arch = "x86", target_arch = "x86_64"))]
                {
                    pulp::x86::V3::try_new().map(|v| Simd::vectorize(v, op))
                }
                #[cfg(not(any(target_arch = "x86", target_arch = "x86_64")))]
                {
                    let _ = op;
                    None
                }
            }
        }
    }

    // ---- function table ---------------------------------------------------

    #[derive(Clone, Copy, Debug, PartialEq)]
    enum Func {
        Exp,
        Expm1,
        Ln,
        Log1p,
        Tanh,
        Erf,
        Erfc,
    }

    struct MapOp<'a> {
        func: Func,
        x: &'a [f32],
        y: &'a mut [f32],
    }

    impl WithSimd for MapOp<'_> {
        type Output = ();
        #[inline(always)]
        fn with_simd<S: Simd>(self, s: S) {
            let (x, y) = (self.x, self.y);
            match self.func {
                Func::Exp => map_slice(
                    s,
                    x,
                    y,
                    #[inline(always)]
                    |s, v| exp(s, v),
                ),
                Func::Expm1 => map_slice(
                    s,
                    x,
                    y,
                    #[inline(always)]
                    |s, v| expm1(s, v),
                ),
                Func::Ln => map_slice(
                    s,
                    x,
                    y,
                    #[inline(always)]
                    |s, v| ln(s, v),
                ),
                Func::Log1p => map_slice(
                    s,
                    x,
                    y,
                    #[inline(always)]
                    |s, v| log1p(s, v),
                ),
                Func::Tanh => map_slice(
                    s,
                    x,
                    y,
                    #[inline(always)]
                    |s, v| tanh(s, v),
                ),
                Func::Erf => map_slice(
                    s,
                    x,
                    y,
                    #[inline(always)]
                    |s, v| erf(s, v),
                ),
                Func::Erfc => map_slice(
                    s,
                    x,
                    y,
                    #[inline(always)]
                    |s, v| erfc(s, v),
                ),
            }
        }
    }

    fn eval(b: Backend, func: Func, x: &[f32]) -> Option<Vec<f32>> {
        let mut y = vec![0.0f32; x.len()];
        run(b, MapOp { func, x, y: &mut y })?;
        Some(y)
    }

    // ---- f64 references for erf / erfc ------------------------------------
    //
    // |x| < 1.5: erf(x) = 2/√π·e^{-x²}·Σ 2^n x^{2n+1}/(2n+1)!!, all terms of
    // one sign (no cancellation); erfc = 1 - erf loses at most 1/erfc(1.5)
    // ≈ 30x. |x| ≥ 1.5: Laplace continued fraction for erfc (Lentz).
    // Checked against mpmath: ≤ 2.5e-14 relative for erf and erfc on the
    // ranges used (see `erf_reference_spot_values`).

    const FRAC_2_SQRT_PI: f64 = core::f64::consts::FRAC_2_SQRT_PI;

    fn erf_series(x: f64) -> f64 {
        let x2 = x * x;
        let mut term = x;
        let mut sum = x;
        let mut n = 0.0;
        loop {
            n += 1.0;
            term *= 2.0 * x2 / (2.0 * n + 1.0);
            sum += term;
            if term.abs() <= sum.abs() * 1e-17 {
                break;
            }
        }
        FRAC_2_SQRT_PI * (-x2).exp() * sum
    }

    /// erfc(x) for x ≥ 1.5.
    fn erfc_cf(x: f64) -> f64 {
        let (mut f, mut c, mut d) = (x, x, 0.0f64);
        for n in 1..2000 {
            let a = n as f64 * 0.5;
            d = 1.0 / (x + a * d);
            c = x + a / c;
            let delta = c * d;
            f *= delta;
            if (delta - 1.0).abs() < 2e-16 {
                break;
            }
        }
        (-x * x).exp() * (FRAC_2_SQRT_PI * 0.5) / f
    }

    fn erf_ref(x: f64) -> f64 {
        let ax = x.abs();
        if x.is_nan() {
            f64::NAN
        } else if ax < 1.5 {
            erf_series(x)
        } else if ax > 12.0 {
            1f64.copysign(x)
        } else {
            (1.0 - erfc_cf(ax)).copysign(x)
        }
    }

    fn erfc_ref(x: f64) -> f64 {
        if x.is_nan() {
            f64::NAN
        } else if x.abs() < 1.5 {
            1.0 - erf_series(x)
        } else if x > 0.0 {
            if x > 27.0 {
                0.0
            } else {
                erfc_cf(x)
            }
        } else if x < -12.0 {
            2.0
        } else {
            2.0 - erfc_cf(-x)
        }
    }

    #[test]
    fn erf_reference_spot_values() {
        // (x, erf(x), erfc(x)) from mpmath at 40 digits.
        let t: &[(f64, f64, f64)] = &[
            (0.5, 0.52049987781304653768, 0.47950012218695346232),
            (1e-3, 0.0011283787909692363799, 0.99887162120903076362),
            (1.5, 0.96610514647531072707, 0.033894853524689272933),
            (2.5, 0.99959304798255504106, 0.00040695201744495893956),
            (5.0, 0.99999999999846254021, 1.5374597944280348502e-12),
            (9.0, 1.0, 4.1370317465138102381e-37),
            (10.0, 1.0, 2.088487583762544757e-45),
            (1e-20, 1.1283791670955125739e-20, 1.0),
        ];
        for &(x, e, c) in t {
            assert!((erf_ref(x) / e - 1.0).abs() < 1e-13, "erf {x}");
            assert!((erfc_ref(x) / c - 1.0).abs() < 1e-13, "erfc {x}");
        }
        assert!((erfc_ref(-3.0) / 1.9999779095030014146 - 1.0).abs() < 1e-15);
    }

    // ---- checking -------------------------------------------------------

    struct Spec {
        func: Func,
        name: &'static str,
        reference: fn(f64) -> f64,
        rtol: f64,
        atol: f64,
        /// Pure relative error is reported only where |ref| ≥ this.
        rel_floor: f64,
    }

    const SPECS: [Spec; 7] = [
        Spec {
            func: Func::Exp,
            name: "exp",
            reference: f64::exp,
            rtol: 4e-6,
            atol: 2.802596928649634e-45, /* 2^-148 */
            rel_floor: f32::MIN_POSITIVE as f64,
        },
        Spec {
            func: Func::Expm1,
            name: "expm1",
            reference: f64::exp_m1,
            rtol: 4e-6,
            atol: 0.0,
            rel_floor: 0.0,
        },
        Spec {
            func: Func::Ln,
            name: "ln",
            reference: f64::ln,
            rtol: 4e-6,
            atol: 1e-6,
            rel_floor: 0.0,
        },
        Spec {
            func: Func::Log1p,
            name: "log1p",
            reference: f64::ln_1p,
            rtol: 4e-6,
            atol: 0.0,
            rel_floor: 0.0,
        },
        Spec {
            func: Func::Tanh,
            name: "tanh",
            reference: f64::tanh,
            rtol: 4e-6,
            atol: 1e-6,
            rel_floor: 0.0,
        },
        Spec {
            func: Func::Erf,
            name: "erf",
            reference: erf_ref,
            rtol: 4e-6,
            atol: 1e-6,
            rel_floor: f32::MIN_POSITIVE as f64,
        },
        Spec {
            func: Func::Erfc,
            name: "erfc",
            reference: erfc_ref,
            rtol: 4e-6,
            atol: 1e-30,
            rel_floor: 1e-30,
        },
    ];

    fn spec(func: Func) -> &'static Spec {
        SPECS.iter().find(|s| s.func == func).unwrap()
    }

    #[derive(Default)]
    struct Stats {
        n: u64,
        max_rel: f64,
        max_rel_x: f32,
        max_score: f64,
        max_score_x: f32,
        fails: u64,
        mismatches: u64,
        notes: Vec<String>,
    }

    impl Stats {
        fn merge(&mut self, o: Stats) {
            self.n += o.n;
            if o.max_rel > self.max_rel {
                self.max_rel = o.max_rel;
                self.max_rel_x = o.max_rel_x;
            }
            if o.max_score > self.max_score {
                self.max_score = o.max_score;
                self.max_score_x = o.max_score_x;
            }
            self.fails += o.fails;
            self.mismatches += o.mismatches;
            for n in o.notes {
                if self.notes.len() < 12 {
                    self.notes.push(n);
                }
            }
        }
        fn note(&mut self, s: String) {
            if self.notes.len() < 12 {
                self.notes.push(s);
            }
        }
    }

    fn judge(sp: &Spec, x: f32, y: f32, st: &mut Stats) {
        let r = (sp.reference)(x as f64) as f32;
        st.n += 1;
        let ok = if r.is_nan() {
            y.is_nan()
        } else if r.is_infinite() {
            y == r
        } else if !y.is_finite() {
            false
        } else {
            let (r, y) = (r as f64, y as f64);
            let d = (y - r).abs();
            let tol = sp.atol + sp.rtol * r.abs();
            let score = if tol > 0.0 {
                d / tol
            } else if d == 0.0 {
                0.0
            } else {
                f64::INFINITY
            };
            if score > st.max_score {
                st.max_score = score;
                st.max_score_x = x;
            }
            if r != 0.0 && r.abs() >= sp.rel_floor {
                let rel = d / r.abs();
                if rel > st.max_rel {
                    st.max_rel = rel;
                    st.max_rel_x = x;
                }
            }
            d <= tol
        };
        if !ok {
            st.fails += 1;
            st.note(format!(
                "{}: x={x:e} ({:#010x}) got {y:e} want {r:e}",
                sp.name,
                x.to_bits()
            ));
        }
    }

    fn same(a: f32, b: f32) -> bool {
        a.to_bits() == b.to_bits() || (a.is_nan() && b.is_nan())
    }

    /// Every backend on `xs`; the native result is judged against the
    /// reference, the others must agree with it bit for bit (so they pass
    /// too). Non-native backends only run when `all_backends`.
    fn check_chunk(sp: &Spec, xs: &[f32], all_backends: bool, st: &mut Stats) {
        let y0 = eval(Backend::Native, sp.func, xs).unwrap();
        for (&x, &y) in xs.iter().zip(&y0) {
            judge(sp, x, y, st);
        }
        if all_backends {
            for b in &BACKENDS[1..] {
                if let Some(yb) = eval(*b, sp.func, xs) {
                    for i in 0..xs.len() {
                        if !same(yb[i], y0[i]) {
                            st.mismatches += 1;
                            st.note(format!(
                                "{} {b:?} != Native at x={:e}: {:e} vs {:e}",
                                sp.name, xs[i], yb[i], y0[i]
                            ));
                        }
                    }
                }
            }
        }
    }

    /// Odd length so every chunk also exercises the masked tail.
    const CHUNK: usize = (1 << 16) + 5;

    /// Runs `work(chunk_index, range_of_indices)` over `0..total` on two
    /// threads (the machine has two cores) and merges the stats.
    fn par_chunks(total: u64, work: impl Fn(usize, u64, u64, &mut Stats) + Sync) -> Stats {
        let next = AtomicUsize::new(0);
        let out = Mutex::new(Stats::default());
        let nchunks = total.div_ceil(CHUNK as u64) as usize;
        std::thread::scope(|sc| {
            for _ in 0..2 {
                sc.spawn(|| {
                    let mut st = Stats::default();
                    loop {
                        let c = next.fetch_add(1, Ordering::Relaxed);
                        if c >= nchunks {
                            break;
                        }
                        let lo = c as u64 * CHUNK as u64;
                        let hi = (lo + CHUNK as u64).min(total);
                        work(c, lo, hi, &mut st);
                    }
                    out.lock().unwrap().merge(st);
                });
            }
        });
        out.into_inner().unwrap()
    }

    /// Sweeps bit patterns start, start+stride, … ≤ end (both signs are
    /// covered by the ranges given), plus `specials`; a quarter of the
    /// chunks also run the AVX2 and scalar backends.
    fn sweep(sp: &Spec, ranges: &[(u32, u32, u32)], specials: &[f32]) -> Stats {
        let mut total = Stats::default();
        for &(start, end, stride) in ranges {
            let count = (end - start) as u64 / stride as u64 + 1;
            let st = par_chunks(count, |c, lo, hi, st| {
                let xs: Vec<f32> = (lo..hi)
                    .map(|i| f32::from_bits(start + (i * stride as u64) as u32))
                    .collect();
                check_chunk(sp, &xs, c % 4 == 0, st);
            });
            total.merge(st);
        }
        check_chunk(sp, specials, true, &mut total);
        total
    }

    fn report(sp: &Spec, st: &Stats) {
        println!(
            "{:6}: {:>11} pts, max rel err {:.3e} (x = {:e}), max err/tol {:.3} (x = {:e}), fails {}, backend mismatches {}",
            sp.name, st.n, st.max_rel, st.max_rel_x, st.max_score, st.max_score_x, st.fails, st.mismatches
        );
        for n in &st.notes {
            println!("    {n}");
        }
        assert_eq!(st.fails, 0, "{} fails its accuracy bar", sp.name);
        assert_eq!(st.mismatches, 0, "{}: backends disagree", sp.name);
    }

    fn common_specials() -> Vec<f32> {
        let mut v = vec![
            0.0,
            -0.0,
            f32::INFINITY,
            f32::NEG_INFINITY,
            f32::NAN,
            -f32::NAN,
            f32::from_bits(0x7F80_0001), // signalling NaN
            f32::MIN_POSITIVE,
            f32::from_bits(1),
            f32::from_bits(0x007F_FFFF),
            f32::MAX,
            f32::EPSILON,
            1.0,
            0.5,
            2.0,
            1e-30,
            1e-10,
            9.094947e-13,
            9.0949465e-13,
            5.960_464_5e-8,
            0.34657359,
            core::f32::consts::LN_2,
            1.0397208,
            88.72283,
            88.722839,
            88.72284,
            89.0,
            -87.33654,
            -87.3365,
            -88.0,
            -100.0,
            -103.27893,
            -103.97208,
            -103.9721,
            -104.0,
            -105.0,
            -17.32868,
            -30.0,
            -31.0,
            9.0,
            9.02,
            10.0,
            20.0,
            0.70710677,
            0.70710683,
            core::f32::consts::SQRT_2,
            1.4142137,
            0.29289323,
            -0.29289323,
            0.41421354,
            -0.5,
            -0.99999994,
            -0.9999,
            -1.0,
            -1.0000001,
            3.0,
            3.5355339, // 5/√2, the GELU tail
            5.0,
            8.0,
            8.1,
            9.3,
            10.05,
            10.06,
            10.5,
            11.0,
            12.0,
            27.0,
        ];
        let neg: Vec<f32> = v.iter().map(|x| -x).collect();
        v.extend(neg);
        v
    }

    const ALL: (u32, u32, u32) = (0, u32::MAX, 7);

    #[test]
    fn exp_accuracy() {
        let sp = spec(Func::Exp);
        let st = sweep(sp, &[ALL], &common_specials());
        report(sp, &st);
    }

    #[test]
    fn expm1_accuracy() {
        let sp = spec(Func::Expm1);
        let st = sweep(sp, &[ALL], &common_specials());
        report(sp, &st);
    }

    #[test]
    fn ln_accuracy() {
        let sp = spec(Func::Ln);
        // Positive inputs densely (stride 3 over all 2^31 patterns: every
        // binade including subnormals), everything else more sparsely.
        let st = sweep(
            sp,
            &[(0, 0x7FFF_FFFF, 3), (0x8000_0000, u32::MAX, 1001)],
            &common_specials(),
        );
        report(sp, &st);
    }

    #[test]
    fn log1p_accuracy() {
        let sp = spec(Func::Log1p);
        // All x ≥ 0 and all x ∈ [-1, 0) with stride 3, the rest sparse.
        let st = sweep(
            sp,
            &[
                (0, 0x7FFF_FFFF, 3),
                (0x8000_0000, 0xBF80_0000, 3),
                (0xBF80_0001, u32::MAX, 1001),
            ],
            &common_specials(),
        );
        report(sp, &st);
    }

    #[test]
    fn log1p_softplus_range_dense() {
        // softplus feeds (0, 1]: check every f32 in [2^-20, 1].
        let sp = spec(Func::Log1p);
        let st = sweep(sp, &[(0x3580_0000, 0x3F80_0000, 1)], &[]);
        report(sp, &st);
    }

    #[test]
    fn tanh_accuracy() {
        let sp = spec(Func::Tanh);
        let st = sweep(sp, &[ALL], &common_specials());
        report(sp, &st);
        // Oddness, bit for bit.
        let xs: Vec<f32> = (0..2_000_000u32)
            .map(|i| f32::from_bits(i * 2039))
            .filter(|x| !x.is_nan())
            .collect();
        let nx: Vec<f32> = xs.iter().map(|x| -x).collect();
        let (a, b) = (
            eval(Backend::Native, Func::Tanh, &xs).unwrap(),
            eval(Backend::Native, Func::Tanh, &nx).unwrap(),
        );
        for i in 0..xs.len() {
            assert_eq!(
                a[i].to_bits() ^ 0x8000_0000,
                b[i].to_bits(),
                "tanh not odd at {}",
                xs[i]
            );
        }
    }

    #[test]
    fn erf_accuracy() {
        let sp = spec(Func::Erf);
        // |x| ≤ 12 densely (stride 7 over ~2.2e9 patterns), the rest sparse.
        let st = sweep(
            sp,
            &[
                (0, 0x4140_0000, 7),
                (0x4140_0001, u32::MAX / 2, 997),
                (0x8000_0000, 0xC140_0000, 7),
                (0xC140_0001, u32::MAX, 997),
            ],
            &common_specials(),
        );
        report(sp, &st);
    }

    #[test]
    fn erfc_accuracy() {
        let sp = spec(Func::Erfc);
        let st = sweep(
            sp,
            &[
                (0, 0x4140_0000, 7),
                (0x4140_0001, u32::MAX / 2, 997),
                (0x8000_0000, 0xC140_0000, 7),
                (0xC140_0001, u32::MAX, 997),
            ],
            &common_specials(),
        );
        report(sp, &st);
    }

    #[test]
    fn erfc_saturation_and_gelu_tail() {
        let x: Vec<f32> = vec![
            10.1,
            10.5,
            11.0,
            50.0,
            1e30,
            f32::MAX,
            f32::INFINITY,
            -10.0,
            -50.0,
            f32::NEG_INFINITY,
        ];
        for b in BACKENDS {
            if let Some(y) = eval(b, Func::Erfc, &x) {
                assert_eq!(&y[..7], &[0.0; 7], "{b:?}");
                assert_eq!(&y[7..], &[2.0; 3], "{b:?}");
            }
            if let Some(y) = eval(b, Func::Erf, &x) {
                assert_eq!(&y[..7], &[1.0; 7], "{b:?}");
                assert_eq!(&y[7..], &[-1.0; 3], "{b:?}");
            }
        }
        // gelu(x) = 0.5·x·erfc(-x/√2) in the far negative tail stays relative.
        for &x in &[-3.0f32, -5.0, -7.0, -9.0, -10.0, -12.0] {
            let a = -x * core::f32::consts::FRAC_1_SQRT_2;
            let y = eval(Backend::Native, Func::Erfc, &[a]).unwrap()[0];
            let g = 0.5 * x as f64 * y as f64;
            let want = 0.5 * x as f64 * erfc_ref(a as f64);
            assert!(
                (g - want).abs() <= 4e-6 * want.abs() + 1e-30,
                "gelu({x}) = {g:e} vs {want:e}"
            );
        }
    }

    #[test]
    fn special_values() {
        let nan = f32::NAN;
        let (inf, ninf) = (f32::INFINITY, f32::NEG_INFINITY);
        let cases: &[(Func, f32, f32)] = &[
            (Func::Exp, inf, inf),
            (Func::Exp, ninf, 0.0),
            (Func::Exp, 0.0, 1.0),
            (Func::Exp, -0.0, 1.0),
            (Func::Exp, 88.72284, inf),
            (Func::Exp, -104.0, 0.0),
            (Func::Expm1, inf, inf),
            (Func::Expm1, ninf, -1.0),
            (Func::Expm1, -0.0, -0.0),
            (Func::Expm1, 0.0, 0.0),
            (Func::Expm1, 88.72284, inf),
            (Func::Ln, 0.0, ninf),
            (Func::Ln, -0.0, ninf),
            (Func::Ln, 1.0, 0.0),
            (Func::Ln, inf, inf),
            (Func::Ln, -1.0, nan),
            (Func::Ln, ninf, nan),
            (Func::Log1p, -1.0, ninf),
            (Func::Log1p, -2.0, nan),
            (Func::Log1p, 0.0, 0.0),
            (Func::Log1p, inf, inf),
            (Func::Log1p, ninf, nan),
            (Func::Tanh, inf, 1.0),
            (Func::Tanh, ninf, -1.0),
            (Func::Tanh, f32::MAX, 1.0),
            (Func::Tanh, -f32::MAX, -1.0),
            (Func::Tanh, -0.0, -0.0),
            (Func::Erf, inf, 1.0),
            (Func::Erf, ninf, -1.0),
            (Func::Erf, -0.0, -0.0),
            (Func::Erfc, inf, 0.0),
            (Func::Erfc, ninf, 2.0),
            (Func::Erfc, 0.0, 1.0),
        ];
        for b in BACKENDS {
            for &(func, x, want) in cases {
                if let Some(y) = eval(b, func, &[x]) {
                    let y = y[0];
                    assert!(
                        same(y, want),
                        "{b:?} {func:?}({x}) = {y} (bits {:#x}), want {want}",
                        y.to_bits()
                    );
                }
            }
            for func in [
                Func::Exp,
                Func::Expm1,
                Func::Ln,
                Func::Log1p,
                Func::Tanh,
                Func::Erf,
                Func::Erfc,
            ] {
                if let Some(y) = eval(b, func, &[nan, -nan, f32::from_bits(0x7F80_0001)]) {
                    assert!(y.iter().all(|v| v.is_nan()), "{b:?} {func:?}(NaN) = {y:?}");
                }
            }
        }
    }

    #[test]
    fn map_slice_tails() {
        // Every length around a few vector widths, against element-wise
        // scalar evaluation.
        for len in 0..70 {
            let x: Vec<f32> = (0..len).map(|i| (i as f32 - 30.0) * 0.37).collect();
            let want: Vec<f32> = x
                .iter()
                .map(|&v| eval(Backend::Scalar, Func::Tanh, &[v]).unwrap()[0])
                .collect();
            for b in BACKENDS {
                if let Some(y) = eval(b, Func::Tanh, &x) {
                    assert_eq!(y, want, "{b:?} len {len}");
                }
            }
        }
    }

    // ---- f16 --------------------------------------------------------------

    struct ToF16<'a> {
        x: &'a [f32],
        y: &'a mut [u32],
    }
    impl WithSimd for ToF16<'_> {
        type Output = ();
        #[inline(always)]
        fn with_simd<S: Simd>(self, s: S) {
            let (xv, xt) = S::as_simd_f32s(self.x);
            let (yv, yt) = S::as_mut_simd_u32s(self.y);
            for (y, x) in yv.iter_mut().zip(xv) {
                *y = f32_to_f16_bits(s, *x);
            }
            s.partial_store_u32s(yt, f32_to_f16_bits(s, s.partial_load_f32s(xt)));
        }
    }

    struct FromF16<'a> {
        x: &'a [u32],
        y: &'a mut [f32],
    }
    impl WithSimd for FromF16<'_> {
        type Output = ();
        #[inline(always)]
        fn with_simd<S: Simd>(self, s: S) {
            let (xv, xt) = S::as_simd_u32s(self.x);
            let (yv, yt) = S::as_mut_simd_f32s(self.y);
            for (y, x) in yv.iter_mut().zip(xv) {
                *y = f16_bits_to_f32(s, *x);
            }
            s.partial_store_f32s(yt, f16_bits_to_f32(s, s.partial_load_u32s(xt)));
        }
    }

    fn check_to_f16(xs: &[f32], all_backends: bool, st: &mut Stats) {
        for b in BACKENDS {
            if b != Backend::Native && !all_backends {
                continue;
            }
            let mut y = vec![0u32; xs.len()];
            if run(b, ToF16 { x: xs, y: &mut y }).is_none() {
                continue;
            }
            for (&x, &h) in xs.iter().zip(&y) {
                st.n += 1;
                let want = half::f16::from_f32(x).to_bits() as u32;
                if h != want {
                    st.fails += 1;
                    st.note(format!(
                        "{b:?}: f32 {:#010x} -> {h:#06x}, want {want:#06x}",
                        x.to_bits()
                    ));
                }
            }
        }
    }

    #[test]
    fn f16_to_f32_exhaustive() {
        // All 65536 inputs, also with garbage in the (ignored) high half.
        let hs: Vec<u32> = (0..=0xFFFFu32)
            .chain((0..=0xFFFFu32).map(|h| h | 0xA5C3_0000))
            .collect();
        for b in BACKENDS {
            let mut y = vec![0f32; hs.len()];
            if run(b, FromF16 { x: &hs, y: &mut y }).is_none() {
                continue;
            }
            for (&h, &f) in hs.iter().zip(&y) {
                let want = half::f16::from_bits(h as u16).to_f32();
                assert_eq!(
                    f.to_bits(),
                    want.to_bits(),
                    "{b:?}: f16 {h:#x} -> {f:e}, want {want:e}"
                );
            }
        }
    }

    #[test]
    fn f32_to_f16_exhaustive_relevant_range() {
        // Every f32 with a biased exponent in [100, 143] (2^-27 ≤ |x| < 2^17:
        // every rounding decision, all ties, all f16 subnormals, the
        // 65504/65520 boundary), both signs: 7.4e8 patterns.
        let lo = 100u32 << 23;
        let hi = (144u32 << 23) - 1;
        let n = (hi - lo) as u64 + 1;
        let st = par_chunks(2 * n, |c, a, b, st| {
            let xs: Vec<f32> = (a..b)
                .map(|i| {
                    let sign = if i >= n { 0x8000_0000 } else { 0 };
                    f32::from_bits(sign | (lo + (i % n) as u32))
                })
                .collect();
            check_to_f16(&xs, c % 8 == 0, st);
        });
        println!(
            "f32->f16 exponent range: {} checks, fails {}",
            st.n, st.fails
        );
        for n in &st.notes {
            println!("    {n}");
        }
        assert_eq!(st.fails, 0);
    }

    #[test]
    fn f32_to_f16_all_patterns_strided() {
        // All 2^32 patterns with stride 13 (3.3e8: f32 subnormals, huge
        // values, inf, every NaN class) plus hand-picked specials.
        let n = (u32::MAX / 13) as u64 + 1;
        let mut st = par_chunks(n, |c, a, b, st| {
            let xs: Vec<f32> = (a..b).map(|i| f32::from_bits((i * 13) as u32)).collect();
            check_to_f16(&xs, c % 8 == 0, st);
        });
        let mut sp: Vec<f32> = vec![
            0.0,
            f32::MIN_POSITIVE,
            f32::from_bits(1),
            f32::MAX,
            f32::INFINITY,
            f32::NAN,
            f32::from_bits(0x7F80_0001),
            f32::from_bits(0x7FBF_FFFF),
            f32::from_bits(0x7FC0_2000),
            f32::from_bits(0x7F80_2000),
            65504.0,
            65519.996,
            65520.0,
            65536.0,
            6.1035156e-5,
            6.097555e-5,
            5.9604645e-8,
            2.9802322e-8,
            2.9802326e-8,
            8.940697e-8,
            1.0009766,
            1.0004883,
            1.0014648,
        ];
        let neg: Vec<f32> = sp.iter().map(|x| -x).collect();
        sp.extend(neg);
        check_to_f16(&sp, true, &mut st);
        println!("f32->f16 strided: {} checks, fails {}", st.n, st.fails);
        for n in &st.notes {
            println!("    {n}");
        }
        assert_eq!(st.fails, 0);
    }
}
