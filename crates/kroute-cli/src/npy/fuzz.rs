//! Fuzzing [`read`] with proptest on byte strings (docs/fuzzing.md): valid `.npy` files of every
//! element type (built here or written by [`write`]), the same files mutated (truncated, bytes
//! flipped, set, inserted or removed, the version and header length rewritten, data added or cut),
//! hostile headers built from parts (shapes huge, negative, non-numeric, nested, unbalanced;
//! descrs unknown or malformed; keys missing, doubled or misspelt; versions 1, 2, 3 and others),
//! soups of Python-literal tokens, and plain random bytes. The property, on every case: `read`
//! does not panic and takes under 5 s; it returns an
//! `Err` that names the file, or a tensor whose element count and type account for every byte
//! after the header (no partial read); a valid file is read back exactly and a file of a type
//! or layout kroute does not take is refused; and no single allocation is out of proportion to
//! the file's size.
//!
//! CI runs `DEFAULT_CASES` cases from a fixed seed. Longer, from the shell:
//! `KROUTE_FUZZ_SECONDS=600 cargo test -p kroute-cli fuzz_read -- --nocapture` (batches of
//! `KROUTE_FUZZ_CASES` cases from seeds `KROUTE_FUZZ_SEED`, +1, +2, … until the time is up).

use super::{read, write};
use half::f16;
use kroute::tensor::{element_count, DType, HostData};
use kroute::Tensor;
use proptest::collection::vec;
use proptest::prelude::*;
use proptest::sample::{select, Index};
use proptest::test_runner::{Config, RngAlgorithm, TestCaseError, TestRng, TestRunner};
use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Instant;

const DEFAULT_SEED: u64 = 0x6b72_6f75_7465; // "kroute"
const DEFAULT_CASES: u32 = 20_000;

// ---------------------------------------------------------------------------------------------
// Allocation tracking: the largest single allocation a thread asks for while armed. Requests
// above 4 GiB are refused outright (the process aborts with "memory allocation failed"), so a
// reader that trusts a header's size fails loudly here instead of swapping the machine.

struct Tracking;

thread_local! {
    static ARMED: Cell<bool> = const { Cell::new(false) };
    static PEAK: Cell<usize> = const { Cell::new(0) };
    /// The slowest read of the fuzz run, in seconds.
    static SLOWEST: Cell<f64> = const { Cell::new(0.0) };
    /// Outcomes of the fuzz run: read, and refused as Io, Shape, DType, other.
    static OUTCOMES: Cell<[u64; 5]> = const { Cell::new([0; 5]) };
}

fn count(k: usize) {
    OUTCOMES.with(|o| {
        let mut v = o.get();
        v[k] += 1;
        o.set(v)
    });
}

const REFUSE_ABOVE: usize = 1 << 32;

/// Record a request; true when it must be refused.
fn note(size: usize) -> bool {
    if !ARMED.try_with(Cell::get).unwrap_or(false) {
        return false;
    }
    let _ = PEAK.try_with(|p| p.set(p.get().max(size)));
    size > REFUSE_ABOVE
}

unsafe impl GlobalAlloc for Tracking {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        if note(layout.size()) {
            return std::ptr::null_mut();
        }
        System.alloc(layout)
    }
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        if note(layout.size()) {
            return std::ptr::null_mut();
        }
        System.alloc_zeroed(layout)
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        System.dealloc(ptr, layout)
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        if note(new_size) {
            return std::ptr::null_mut();
        }
        System.realloc(ptr, layout, new_size)
    }
}

#[global_allocator]
static GLOBAL: Tracking = Tracking;

/// `f`'s result (or its panic) and the largest single allocation it asked for.
fn tracked<T>(f: impl FnOnce() -> T + std::panic::UnwindSafe) -> (std::thread::Result<T>, usize) {
    PEAK.with(|p| p.set(0));
    ARMED.with(|a| a.set(true));
    let r = std::panic::catch_unwind(f);
    ARMED.with(|a| a.set(false));
    (r, PEAK.with(Cell::get))
}

// ---------------------------------------------------------------------------------------------
// Cases.

/// What a case's file must give when it is not mutated.
#[derive(Clone)]
enum Expect {
    /// This shape, type and data (little-endian bytes).
    Read(Vec<usize>, DType, Vec<u8>),
    /// A type or layout kroute does not take: a clear error.
    Refuse,
}

#[derive(Clone)]
enum Base {
    /// Bytes built here, with what they must give (None: anything but a panic or partial read).
    Built(Vec<u8>, Option<Expect>),
    /// A tensor written by `npy::write`.
    Written(Tensor),
}

#[derive(Clone, Debug)]
enum Mutation {
    Truncate(Index),
    Flip(Index, u8),
    /// Flip a byte of the preamble or the header text.
    FlipHeader(Index, u8),
    Set(Index, u8),
    Insert(Index, Vec<u8>),
    Remove(Index, usize),
    Version(u8, u8),
    /// Rewrite the header-length field (u16 for version 1, u32 otherwise).
    HeaderLen(u32),
    HeaderLenDelta(i32),
    AppendData(Vec<u8>),
    CutTail(usize),
}

#[derive(Clone)]
struct Case {
    base: Base,
    mutations: Vec<Mutation>,
}

impl Case {
    fn built(bytes: Vec<u8>, expect: Option<Expect>) -> Case {
        Case {
            base: Base::Built(bytes, expect),
            mutations: vec![],
        }
    }
    fn mutated(mut self, m: Vec<Mutation>) -> Case {
        self.mutations.extend(m);
        self
    }
}

impl fmt::Debug for Case {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.base {
            Base::Built(b, e) => {
                let shown: String = b
                    .iter()
                    .take(600)
                    .copied()
                    .map(char::from)
                    .map(|c| {
                        if c.is_ascii_graphic() || c == ' ' {
                            c.to_string()
                        } else {
                            format!("\\x{:02x}", c as u32)
                        }
                    })
                    .collect();
                let e = match e {
                    None => "anything but a panic".to_string(),
                    Some(Expect::Refuse) => "refuse".to_string(),
                    Some(Expect::Read(s, d, _)) => format!("read {s:?} {}", d.name()),
                };
                write!(
                    f,
                    "Built({} bytes: b\"{shown}\"{}; expect {e})",
                    b.len(),
                    if b.len() > 600 { "…" } else { "" }
                )?;
            }
            Base::Written(t) => write!(f, "Written({} {:?})", t.dtype().name(), t.shape())?,
        }
        write!(f, " mutated by {:?}", self.mutations)
    }
}

/// Numpy's layout: magic, version, header length (u16 in version 1, u32 otherwise), text, data.
fn npy_bytes(version: (u8, u8), text: &str, data: &[u8]) -> Vec<u8> {
    let mut b = b"\x93NUMPY".to_vec();
    b.extend([version.0, version.1]);
    if version.0 == 1 {
        b.extend((text.len() as u16).to_le_bytes());
    } else {
        b.extend((text.len() as u32).to_le_bytes());
    }
    b.extend(text.as_bytes());
    b.extend(data);
    b
}

/// A header dict from its entries, padded with spaces to a multiple of 64 as numpy does
/// (or not), ended by a newline.
fn dict_text(entries: &[String], version: u8, pad: bool) -> String {
    let mut t = format!("{{{}, }}", entries.join(", "));
    let before = if version == 1 { 10 } else { 12 };
    while pad && (before + t.len() + 1) % 64 != 0 {
        t.push(' ');
    }
    t.push('\n');
    t
}

fn shape_text(dims: &[String]) -> String {
    match dims {
        [d] => format!("({d},)"),
        _ => format!("({})", dims.join(", ")),
    }
}

/// Cheap deterministic bytes (xorshift64*).
fn bytes_from(seed: u64, n: usize) -> Vec<u8> {
    let mut s = seed | 1;
    (0..n)
        .map(|_| {
            s ^= s >> 12;
            s ^= s << 25;
            s ^= s >> 27;
            (s.wrapping_mul(0x2545_f491_4f6c_dd1d) >> 56) as u8
        })
        .collect()
}

/// Element types kroute reads: descr, element size, kroute type.
const SUPPORTED: &[(&str, usize, DType)] = &[
    ("<f4", 4, DType::F32),
    (">f4", 4, DType::F32),
    ("<f2", 2, DType::F16),
    (">f2", 2, DType::F16),
    ("|u1", 1, DType::U8),
    ("<u1", 1, DType::U8),
    (">u1", 1, DType::U8),
    ("|b1", 1, DType::U8),
    ("|i1", 1, DType::I8),
    ("<i1", 1, DType::I8),
    ("<u4", 4, DType::U32),
    (">u4", 4, DType::U32),
    ("<u8", 8, DType::U64),
    (">u8", 8, DType::U64),
];

/// Element types numpy writes and kroute refuses.
const UNSUPPORTED: &[(&str, usize)] = &[
    ("<f8", 8),
    (">f8", 8),
    ("<f16", 16),
    ("<i2", 2),
    ("<i4", 4),
    (">i8", 8),
    ("<u2", 2),
    ("<c8", 8),
    ("<c16", 16),
    ("|S3", 3),
    ("<U2", 8),
    ("|V4", 4),
    ("<M8[s]", 8),
    ("<m8[ns]", 8),
];

fn dims() -> impl Strategy<Value = Vec<usize>> {
    prop_oneof![
        4 => vec(0usize..5, 0..=4),
        1 => (0usize..300).prop_map(|n| vec![n]),
        1 => vec(1usize..8, 2..=3),
    ]
}

/// A valid file (of a type kroute reads or not), any version, either order, keys in any
/// order, padded or not.
fn valid() -> impl Strategy<Value = Case> {
    let dtype = prop_oneof![
        3 => select(SUPPORTED).prop_map(|(d, s, t)| (d, s, Some(t))),
        1 => select(UNSUPPORTED).prop_map(|(d, s)| (d, s, None)),
    ];
    (
        dtype,
        select(vec![1u8, 2, 3]),
        any::<bool>(),
        dims(),
        any::<u64>(),
        any::<bool>(),
        0usize..6,
    )
        .prop_map(
            |((descr, size, ty), version, fortran, dims, seed, pad, order)| {
                let n: usize = dims.iter().product();
                let mut data = bytes_from(seed, n * size);
                if descr == "|b1" {
                    data.iter_mut().for_each(|b| *b &= 1);
                }
                let shape: Vec<String> = dims.iter().map(|d| d.to_string()).collect();
                let mut entries = vec![
                    format!("'descr': '{descr}'"),
                    format!(
                        "'fortran_order': {}",
                        if fortran { "True" } else { "False" }
                    ),
                    format!("'shape': {}", shape_text(&shape)),
                ];
                permute(&mut entries, order);
                let text = dict_text(&entries, version, pad);
                let expect = match ty {
                    Some(ty) if !(fortran && dims.len() > 1) => {
                        let mut le = data.clone();
                        if descr.starts_with('>') {
                            le.chunks_mut(size).for_each(<[u8]>::reverse);
                        }
                        Expect::Read(dims, ty, le)
                    }
                    _ => Expect::Refuse,
                };
                Case::built(npy_bytes((version, 0), &text, &data), Some(expect))
            },
        )
}

/// One of the six orders of three entries (and leaves longer lists' tails in place).
fn permute(v: &mut [String], k: usize) {
    if v.len() >= 3 {
        v[..3].rotate_left(k % 3);
        if k >= 3 {
            v.swap(0, 1);
        }
    }
}

/// A tensor of every type kroute holds, written by `npy::write`.
fn written() -> impl Strategy<Value = Case> {
    (0usize..6, dims(), any::<u64>()).prop_map(|(ty, dims, seed)| {
        let n: usize = dims.iter().product();
        let b = bytes_from(seed, n * 8);
        let data = match ty {
            0 => HostData::F32(
                b.chunks(4)
                    .take(n)
                    .map(|c| f32::from_le_bytes(c.try_into().unwrap()))
                    .collect(),
            ),
            1 => HostData::F16(
                b.chunks(2)
                    .take(n)
                    .map(|c| f16::from_le_bytes(c.try_into().unwrap()))
                    .collect(),
            ),
            2 => HostData::U8(b[..n].to_vec()),
            3 => HostData::I8(b[..n].iter().map(|&x| x as i8).collect()),
            4 => HostData::U32(
                b.chunks(4)
                    .take(n)
                    .map(|c| u32::from_le_bytes(c.try_into().unwrap()))
                    .collect(),
            ),
            _ => HostData::U64(
                b.chunks(8)
                    .take(n)
                    .map(|c| u64::from_le_bytes(c.try_into().unwrap()))
                    .collect(),
            ),
        };
        Case {
            base: Base::Written(Tensor::from_host(&dims, data).unwrap()),
            mutations: vec![],
        }
    })
}

/// A dimension as header text, with its value where one is meant.
fn dim_literal() -> impl Strategy<Value = (String, Option<u64>)> {
    const ODD: &[(&str, Option<u64>)] = &[
        ("18446744073709551615", Some(u64::MAX)),
        ("18446744073709551616", None),
        ("9223372036854775808", Some(1 << 63)),
        ("9223372036854775809", Some((1 << 63) + 1)),
        ("4294967296", Some(1 << 32)),
        ("1099511627776", Some(1 << 40)),
        ("340282366920938463463374607431768211456", None),
        ("99999999999999999999999999999999999999999999999999", None),
        ("-1", None),
        ("-0", Some(0)),
        ("+3", Some(3)),
        ("3-1", Some(2)),
        ("- 2", None),
        ("0x10", Some(16)),
        ("0o7", Some(7)),
        ("0b11", Some(3)),
        ("1_0", Some(10)),
        ("007", None),
        ("3L", None),
        ("1.5", None),
        ("2.0", None),
        ("1e3", None),
        ("2j", None),
        ("None", None),
        ("True", None),
        ("'3'", None),
        ("b'3'", None),
        ("(2,)", None),
        ("[2]", None),
        ("{}", None),
        ("", None),
        (")", None),
        ("(", None),
    ];
    prop_oneof![
        6 => (0u64..6).prop_map(|d| (d.to_string(), Some(d))),
        2 => (0u32..64).prop_map(|e| ((1u64 << e).to_string(), Some(1u64 << e))),
        1 => any::<u64>().prop_map(|d| (d.to_string(), Some(d))),
        3 => select(ODD).prop_map(|(s, v)| (s.to_string(), v)),
    ]
}

/// Nesting depths around the reader's limit and far past it.
const BOMBS: &[usize] = &[1, 2, 3, 4, 5, 6, 8, 12, 40, 400, 4000, 30000];

/// A shape value as header text, with its element count where one is meant.
fn shape_literal() -> impl Strategy<Value = (String, Option<u64>)> {
    const WRAP: &[(&str, &str)] = &[
        ("(", ")"),
        ("(", ")"),
        ("(", ")"),
        ("[", "]"),
        ("(", ""),
        ("", ")"),
        (")", "("),
        ("((", "))"),
        ("{", "}"),
        ("(", ",,)"),
        ("", ""),
    ];
    prop_oneof![
        8 => (vec(dim_literal(), 0..=5), select(WRAP)).prop_map(|(dims, (open, close))| {
            let n = dims.iter().try_fold(1u64, |a, (_, d)| a.checked_mul((*d)?));
            let texts: Vec<String> = dims.into_iter().map(|(t, _)| t).collect();
            let inner = match texts.len() {
                1 if open == "(" && close == ")" => format!("{},", texts[0]),
                _ => texts.join(", "),
            };
            (format!("{open}{inner}{close}"), n)
        }),
        // Nesting bombs.
        1 => select(BOMBS).prop_map(|k| (format!("{}{}", "(".repeat(k), ")".repeat(k)), None)),
        1 => select(BOMBS).prop_map(|k| (format!("({}2,)", "[".repeat(k)), None)),
        1 => select(BOMBS).prop_map(|k| (format!("({}{})", "{[(".repeat(k / 3 + 1), ")]}".repeat(k / 3 + 1)), None)),
    ]
}

/// A descr value as header text, with its element size where known.
fn descr_literal() -> impl Strategy<Value = (String, Option<usize>)> {
    const ODD: &[(&str, Option<usize>)] = &[
        ("'<f3'", None),
        ("'f4'", Some(4)),
        ("'<x4'", None),
        ("'='", None),
        ("''", None),
        ("'<'", None),
        ("'<f'", None),
        ("'|f4'", Some(4)),
        ("'<f4 '", Some(4)),
        ("'<f4\\x00'", Some(4)),
        ("'\\u00e9'", None),
        ("'<f99999999999999999999'", None),
        ("'<U4611686018427387904'", None),
        ("'<U99999999999999999999'", None),
        ("'|S0'", Some(0)),
        ("'|V0'", Some(0)),
        ("'|S18446744073709551615'", None),
        ("'<M8[99999999999999999999s]'", None),
        ("'<M8'", Some(8)),
        ("'<M8[s'", None),
        ("'>b1'", Some(1)),
        ("'<b2'", None),
        ("4", None),
        ("None", None),
        ("b'<f4'", Some(4)),
        ("\"<f4\"", Some(4)),
        ("'''<f4'''", Some(4)),
        ("'<f' '4'", Some(4)),
        ("[('a', '<f4')]", Some(4)),
        ("[('a', '<f4', (2,))]", Some(8)),
        ("[('a', '<f4', (18446744073709551615, 2))]", None),
        ("[('a', '<u1', (4294967296, 4294967296))]", None),
        ("[('a', [('b', '<f4')])]", Some(4)),
        ("[('a',)]", None),
        ("[]", Some(0)),
        ("[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]", None),
    ];
    prop_oneof![
        3 => select(SUPPORTED).prop_map(|(d, s, _)| (format!("'{d}'"), Some(s))),
        1 => select(UNSUPPORTED).prop_map(|(d, s)| (format!("'{d}'"), Some(s))),
        3 => select(ODD).prop_map(|(d, s)| (d.to_string(), s)),
    ]
}

#[derive(Clone, Copy, Debug)]
enum Key {
    Plain,
    Double,
    Missing,
    Twice,
    Split,
    Misspelt,
}

fn key() -> impl Strategy<Value = Key> {
    prop_oneof![
        10 => Just(Key::Plain),
        1 => Just(Key::Double),
        1 => Just(Key::Missing),
        1 => Just(Key::Twice),
        1 => Just(Key::Split),
        1 => Just(Key::Misspelt),
    ]
}

fn entry(k: Key, name: &str, value: &str, normal: &str, out: &mut Vec<String>) {
    match k {
        Key::Plain => out.push(format!("'{name}': {value}")),
        Key::Double => out.push(format!("\"{name}\": {value}")),
        Key::Missing => {}
        Key::Twice => {
            out.push(format!("'{name}': {normal}"));
            out.push(format!("'{name}': {value}"));
        }
        Key::Split => out.push(format!("'{}' '{}': {value}", &name[..2], &name[2..])),
        Key::Misspelt => out.push(format!("'{name} ': {value}")),
    }
}

#[derive(Clone, Copy, Debug)]
enum DataLen {
    Exact,
    Off(i16),
    Random(u16),
}

/// Headers built from parts, most of them wrong somewhere.
fn hostile() -> impl Strategy<Value = Case> {
    const EXTRA: &[&str] = &[
        "'extra': 1",
        "1: 2",
        "None: None",
        "'shape2': (1,)",
        "(1, 2): 3",
    ];
    const ENDS: &[&str] = &["\n", "\n", "\n", "", "\r\n", "\0", " \n#", "\n\n", "}"];
    const DICT: &[(&str, &str)] = &[
        ("{", ", }"),
        ("{", ", }"),
        ("{", "}"),
        ("{", ""),
        ("[", "]"),
        ("", ""),
    ];
    let fortran = select(vec![
        "False", "True", "0", "1", "None", "'False'", "false", "",
    ]);
    let version = prop_oneof![
        8 => select(vec![(1u8, 0u8), (2, 0), (3, 0)]),
        1 => any::<(u8, u8)>(),
    ];
    let data_len = prop_oneof![
        4 => Just(DataLen::Exact),
        2 => (-8i16..=8).prop_map(DataLen::Off),
        1 => (0u16..200).prop_map(DataLen::Random),
    ];
    (
        (shape_literal(), descr_literal(), fortran),
        (key(), key(), key()),
        (
            vec(select(EXTRA), 0..=2),
            0usize..6,
            select(DICT),
            select(ENDS),
            (0u8..3, -3i64..=3),
        ),
        (version, data_len, any::<u64>()),
    )
        .prop_map(
            |(
                ((shape, n), (descr, size), fortran),
                (kd, kf, ks),
                (extra, order, (open, close), end, (pad, off)),
                (version, data_len, seed),
            )| {
                let mut entries = vec![];
                entry(kd, "descr", &descr, "'<f4'", &mut entries);
                entry(kf, "fortran_order", fortran, "False", &mut entries);
                entry(ks, "shape", &shape, "(2,)", &mut entries);
                permute(&mut entries, order);
                entries.extend(extra.iter().map(|e| e.to_string()));
                let mut text = format!("{open}{}{close}", entries.join(", "));
                let before = if version.0 == 1 { 10 } else { 12 };
                match pad {
                    // numpy's padding to 64 bytes,
                    1 => {
                        while (before + text.len() + end.len()) % 64 != 0 {
                            text.push(' ');
                        }
                    }
                    // or to about the reader's 10 000-byte limit.
                    2 => {
                        let to = (10_000 + off - end.len() as i64).max(0) as usize;
                        if text.len() < to {
                            text.push_str(&" ".repeat(to - text.len()));
                        }
                    }
                    _ => {}
                }
                text.push_str(end);
                let exact = n
                    .zip(size)
                    .and_then(|(n, s)| n.checked_mul(s as u64))
                    .filter(|&b| b <= 1 << 16);
                let len = match (data_len, exact) {
                    (DataLen::Exact, Some(b)) => b as usize,
                    (DataLen::Off(d), Some(b)) => (b as i64 + d as i64).max(0) as usize,
                    (DataLen::Random(r), _) => r as usize,
                    (_, None) => (seed % 64) as usize,
                };
                Case::built(npy_bytes(version, &text, &bytes_from(seed, len)), None)
            },
        )
}

/// Header text as a soup of Python-literal tokens, within the nesting limit or not.
fn token_soup() -> impl Strategy<Value = Case> {
    const TOKENS: &[&str] = &[
        "{",
        "}",
        "(",
        ")",
        "[",
        "]",
        "'",
        "\"",
        "'''",
        ":",
        ",",
        " ",
        "\n",
        "\\",
        "\\x",
        "\\u",
        "\\N{",
        "\\777",
        "0",
        "1",
        "7",
        "9",
        "18446744073709551616",
        "-",
        "+",
        "_",
        ".",
        "e",
        "j",
        "0x",
        "0o",
        "0b",
        "b",
        "B",
        "r",
        "u",
        "f",
        "L",
        "True",
        "False",
        "None",
        "'shape'",
        "'descr'",
        "'fortran_order'",
        "'<f4'",
        "'|b1'",
        "(2,)",
        "#",
        "\0",
        "\u{e9}",
        "\u{10ffff}",
    ];
    (
        vec(select(TOKENS), 0..60),
        select(vec![(1u8, 0u8), (2, 0), (3, 0)]),
        0usize..64,
        any::<u64>(),
    )
        .prop_map(|(tokens, version, len, seed)| {
            let text = format!("{}\n", tokens.concat());
            Case::built(npy_bytes(version, &text, &bytes_from(seed, len)), None)
        })
}

fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        3 => any::<Index>().prop_map(Mutation::Truncate),
        3 => (any::<Index>(), 1u8..=255).prop_map(|(i, x)| Mutation::Flip(i, x)),
        4 => (any::<Index>(), 1u8..=255).prop_map(|(i, x)| Mutation::FlipHeader(i, x)),
        2 => (any::<Index>(), any::<u8>()).prop_map(|(i, x)| Mutation::Set(i, x)),
        1 => (any::<Index>(), vec(any::<u8>(), 1..8)).prop_map(|(i, v)| Mutation::Insert(i, v)),
        1 => (any::<Index>(), 1usize..16).prop_map(|(i, n)| Mutation::Remove(i, n)),
        1 => (0u8..5, 0u8..2).prop_map(|(a, b)| Mutation::Version(a, b)),
        1 => prop_oneof![
            any::<u32>(),
            select(vec![0u32, 1, 0xffff, 0x1_0000, 0xffff_ffff, 0x8000_0000])
        ]
        .prop_map(Mutation::HeaderLen),
        2 => (-70i32..=70).prop_map(Mutation::HeaderLenDelta),
        1 => vec(any::<u8>(), 1..16).prop_map(Mutation::AppendData),
        1 => (1usize..16).prop_map(Mutation::CutTail),
    ]
}

/// The header-length field's offset and width, by the version byte.
fn len_field(b: &[u8]) -> (usize, usize) {
    if b.get(6) == Some(&1) {
        (8, 2)
    } else {
        (8, 4)
    }
}

fn header_len(b: &[u8]) -> Option<u64> {
    let (at, w) = len_field(b);
    let f = b.get(at..at + w)?;
    Some(f.iter().rev().fold(0u64, |a, &x| a << 8 | x as u64))
}

fn set_header_len(b: &mut [u8], v: u64) {
    let (at, w) = len_field(b);
    if let Some(f) = b.get_mut(at..at + w) {
        for (i, x) in f.iter_mut().enumerate() {
            *x = (v >> (8 * i)) as u8;
        }
    }
}

/// Where the data starts by the preamble, if the file holds a whole preamble.
fn data_start(b: &[u8]) -> Option<u64> {
    let (at, w) = len_field(b);
    Some((at + w) as u64 + header_len(b)?)
}

impl Mutation {
    fn apply(&self, b: &mut Vec<u8>) {
        let n = b.len();
        match self {
            Mutation::Truncate(i) => b.truncate(i.index(n + 1)),
            Mutation::Flip(i, x) if n > 0 => b[i.index(n)] ^= x,
            Mutation::FlipHeader(i, x) if n > 0 => {
                let end = data_start(b).map_or(n as u64, |d| d.min(n as u64)).max(1) as usize;
                b[i.index(end)] ^= x
            }
            Mutation::Set(i, x) if n > 0 => b[i.index(n)] = *x,
            Mutation::Insert(i, v) => {
                let at = i.index(n + 1);
                b.splice(at..at, v.iter().copied());
            }
            Mutation::Remove(i, k) if n > 0 => {
                let at = i.index(n);
                b.drain(at..(at + k).min(n));
            }
            Mutation::Version(major, minor) if n >= 8 => {
                // Keep the length field's value across a change of its width.
                let len = header_len(b);
                b[6] = *major;
                b[7] = *minor;
                if let Some(len) = len {
                    set_header_len(b, len);
                }
            }
            Mutation::HeaderLen(v) => set_header_len(b, *v as u64),
            Mutation::HeaderLenDelta(d) => {
                if let Some(len) = header_len(b) {
                    set_header_len(b, len.wrapping_add(*d as i64 as u64));
                }
            }
            Mutation::AppendData(v) => b.extend(v),
            Mutation::CutTail(k) => b.truncate(n.saturating_sub(*k)),
            _ => {}
        }
    }
}

fn cases() -> impl Strategy<Value = Case> {
    let muts = || vec(mutation(), 1..=3);
    prop_oneof![
        3 => valid(),
        1 => written(),
        4 => (valid(), muts()).prop_map(|(c, m)| c.mutated(m)),
        2 => (written(), muts()).prop_map(|(c, m)| c.mutated(m)),
        5 => (hostile(), vec(mutation(), 0..=1)).prop_map(|(c, m)| c.mutated(m)),
        2 => token_soup(),
        1 => vec(any::<u8>(), 0..200).prop_map(|b| Case::built(b, None)),
        1 => (0u8..5, 0u8..2, vec(any::<u8>(), 0..200)).prop_map(|(major, minor, rest)| {
            let mut b = b"\x93NUMPY".to_vec();
            b.extend([major, minor]);
            b.extend(rest);
            Case::built(b, None)
        }),
    ]
}

// ---------------------------------------------------------------------------------------------
// The property.

fn le_bytes(d: &HostData) -> Vec<u8> {
    match d {
        HostData::F32(v) => v.iter().flat_map(|x| x.to_le_bytes()).collect(),
        HostData::F16(v) => v.iter().flat_map(|x| x.to_le_bytes()).collect(),
        HostData::U8(v) => v.clone(),
        HostData::I8(v) => v.iter().map(|&x| x as u8).collect(),
        HostData::U32(v) => v.iter().flat_map(|x| x.to_le_bytes()).collect(),
        HostData::U64(v) => v.iter().flat_map(|x| x.to_le_bytes()).collect(),
    }
}

fn panic_text(p: &(dyn std::any::Any + Send)) -> String {
    p.downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| p.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "(no message)".into())
}

/// Read one case's file and judge the answer.
fn check(case: &Case, path: &Path) -> Result<(), TestCaseError> {
    let io = |e: std::io::Error| TestCaseError::fail(format!("{}: {e}", path.display()));
    let (mut bytes, expect) = match &case.base {
        Base::Built(b, e) => (b.clone(), e.clone()),
        Base::Written(t) => {
            write(path, t).map_err(|e| TestCaseError::fail(e.to_string()))?;
            let le = le_bytes(t.host().unwrap());
            (
                std::fs::read(path).map_err(io)?,
                Some(Expect::Read(t.shape().to_vec(), t.dtype(), le)),
            )
        }
    };
    for m in &case.mutations {
        m.apply(&mut bytes);
    }
    let expect = if case.mutations.is_empty() {
        expect
    } else {
        None
    };
    std::fs::write(path, &bytes).map_err(io)?;

    let clock = Instant::now();
    let (got, peak) = tracked(|| read(path));
    let secs = clock.elapsed().as_secs_f64();
    SLOWEST.with(|s| s.set(s.get().max(secs)));
    if secs > 5.0 {
        return Err(TestCaseError::fail(format!("read took {secs:.1} s")));
    }
    // Every buffer the reader may hold is bounded by the file: the header text, the data (at
    // most 2x while a Vec grows), the parser's tokens. 64x the file plus 1 MiB is generous.
    let bound = 64 * bytes.len() + (1 << 20);
    if peak > bound {
        return Err(TestCaseError::fail(format!(
            "read asked for {peak} bytes at once for a file of {} bytes",
            bytes.len()
        )));
    }
    let fail = |m: String| Err(TestCaseError::fail(m));
    match got {
        Err(p) => fail(format!("read panicked: {}", panic_text(&*p))),
        Ok(Err(e)) => {
            count(match e {
                kroute::Error::Io(_) => 1,
                kroute::Error::Shape(_) => 2,
                kroute::Error::DType(_) => 3,
                _ => 4,
            });
            let msg = e.to_string();
            if !msg.contains(&path.display().to_string()) {
                return fail(format!("the error does not name the file: {msg}"));
            }
            match expect {
                Some(Expect::Read(..)) => fail(format!("a valid file was refused: {msg}")),
                _ => Ok(()),
            }
        }
        Ok(Ok(t)) => {
            count(0);
            if let Some(Expect::Refuse) = expect {
                return fail(format!(
                    "read a file it must refuse, as {} {:?}",
                    t.dtype().name(),
                    t.shape()
                ));
            }
            let Ok(data) = t.host() else {
                return fail("read gave a tensor not on the host".into());
            };
            // The element count is the shape's product and the data fills the file exactly.
            if element_count(t.shape()).ok() != Some(t.len())
                || le_bytes(data).len() != t.len() * t.dtype().size()
            {
                return fail(format!(
                    "shape {:?} and {} elements disagree",
                    t.shape(),
                    t.len()
                ));
            }
            let Some(start) = data_start(&bytes) else {
                return fail("read a file without a whole preamble".into());
            };
            let need = (t.len() * t.dtype().size()) as u64;
            if start.checked_add(need) != Some(bytes.len() as u64) {
                return fail(format!(
                    "read {} elements of {} ({need} bytes) from a file of {} bytes whose data starts at {start}",
                    t.len(),
                    t.dtype().name(),
                    bytes.len()
                ));
            }
            if let Some(Expect::Read(shape, dtype, le)) = expect {
                if t.shape() != shape.as_slice() || t.dtype() != dtype || le_bytes(data) != le {
                    return fail(format!(
                        "read {} {:?}, expected {} {shape:?} (or the data differs)",
                        t.dtype().name(),
                        t.shape(),
                        dtype.name()
                    ));
                }
            }
            Ok(())
        }
    }
}

fn env<T: std::str::FromStr>(name: &str) -> Option<T> {
    let v = std::env::var(name).ok()?;
    Some(
        v.parse()
            .unwrap_or_else(|_| panic!("{name}={v} does not parse")),
    )
}

/// Run the fuzzer: one batch of `KROUTE_FUZZ_CASES` (default `DEFAULT_CASES`) cases from
/// `KROUTE_FUZZ_SEED`, or batches from seed, seed+1, … until `KROUTE_FUZZ_SECONDS` pass.
#[test]
fn fuzz_read_never_panics_and_never_reads_in_part() {
    let seed: u64 = env("KROUTE_FUZZ_SEED").unwrap_or(DEFAULT_SEED);
    let per_batch: u32 = env("KROUTE_FUZZ_CASES").unwrap_or(DEFAULT_CASES);
    let seconds: Option<f64> = env("KROUTE_FUZZ_SECONDS");
    println!("npy fuzz: seed {seed}, {per_batch} cases a batch, {seconds:?} s");
    let path: PathBuf =
        std::env::temp_dir().join(format!("kroute-npy-fuzz-{}.npy", std::process::id()));
    let start = Instant::now();
    let (mut total, mut batch) = (0u64, 0u64);
    loop {
        let config = Config {
            cases: per_batch,
            failure_persistence: None,
            max_shrink_iters: 20_000,
            ..Config::default()
        };
        let s = seed.wrapping_add(batch);
        let mut seed_bytes = [0u8; 32];
        seed_bytes[..8].copy_from_slice(&s.to_le_bytes());
        let mut runner = TestRunner::new_with_rng(
            config,
            TestRng::from_seed(RngAlgorithm::ChaCha, &seed_bytes),
        );
        let ran = Cell::new(0u64);
        let result = runner.run(&cases(), |case| {
            ran.set(ran.get() + 1);
            check(&case, &path)
        });
        total += ran.get();
        batch += 1;
        if let Err(e) = result {
            let _ = std::fs::remove_file(&path);
            panic!("npy fuzz failed (seed {s}, after {total} cases): {e}");
        }
        if seconds.is_none_or(|t| start.elapsed().as_secs_f64() >= t) {
            break;
        }
    }
    let _ = std::fs::remove_file(&path);
    println!(
        "npy fuzz: {total} cases in {batch} batch(es) from seed {seed}, {:.1} s, no failure; \
         slowest read {:.4} s",
        start.elapsed().as_secs_f64(),
        SLOWEST.with(Cell::get)
    );
    let [ok, io, shape, dtype, other] = OUTCOMES.with(Cell::get);
    println!(
        "npy fuzz outcomes (shrinking included): read {ok}; refused: Io {io}, Shape {shape}, \
         DType {dtype}, other {other}"
    );
}

// ---------------------------------------------------------------------------------------------
// One test per finding (docs/fuzzing.md), and the allocation check the issue asks for.

/// Read `bytes` as a file: the result (a panic fails the test), the largest single allocation,
/// the seconds taken.
fn read_case(name: &str, bytes: &[u8]) -> (kroute::Result<Tensor>, usize, f64) {
    let path = std::env::temp_dir().join(format!("kroute-npy-{}-{name}.npy", std::process::id()));
    std::fs::write(&path, bytes).unwrap();
    let t = Instant::now();
    let (got, peak) = tracked(|| read(&path));
    let secs = t.elapsed().as_secs_f64();
    let _ = std::fs::remove_file(&path);
    match got {
        Ok(r) => (r, peak, secs),
        Err(p) => panic!("read panicked on {name}: {}", panic_text(&*p)),
    }
}

fn header(entries: &str) -> String {
    dict_text(&[entries.to_string()], 1, true)
}

/// Finding 1: a `)` before the `(` after `'shape'` made kroute's own shape scan slice a string
/// backwards (a panic, before npyz was reached).
#[test]
fn finding_1_a_close_paren_before_the_shape_tuple_is_an_error() {
    let text = header("'descr': '<f4', 'fortran_order': False, 'shape': ), 'shape2': (1,)");
    let (r, _, _) = read_case("f1", &npy_bytes((1, 0), &text, &[0; 4]));
    assert!(matches!(r, Err(kroute::Error::Io(_))), "{r:?}");
}

/// Finding 2: a shape the scan did not recognise (`"shape"` in double quotes, a list, hex)
/// skipped the overflow check, and npyz multiplied the shape out unchecked (a panic where
/// overflow checks are on, a wrapped count elsewhere).
#[test]
fn finding_2_a_shape_in_any_python_spelling_is_checked_for_overflow() {
    for shape in [
        "\"shape\": (2, 18446744073709551615)",
        "'shape': [2, 18446744073709551615]",
        "'shape': (0x2, 0xffffffffffffffff)",
        "'shape': (2, 9223372036854775807+9223372036854775807)",
    ] {
        let text = header(&format!("'descr': '<f4', 'fortran_order': False, {shape}"));
        let (r, _, _) = read_case("f2", &npy_bytes((1, 0), &text, &[0; 8]));
        let msg = format!("{r:?}");
        assert!(matches!(r, Err(kroute::Error::Shape(_))), "{shape}: {msg}");
        assert!(
            msg.contains("more elements than this machine can address"),
            "{msg}"
        );
    }
}

/// Finding 3: a 0-sized dimension made the element count 0, but npyz's strides multiply the
/// other dimensions, which overflowed (a panic where overflow checks are on).
#[test]
fn finding_3_a_zero_dimension_does_not_hide_an_overflowing_shape() {
    for shape in ["(0, 4294967296, 4294967296)", "(4294967296, 4294967296, 0)"] {
        let text = header(&format!(
            "'descr': '<f4', 'fortran_order': False, 'shape': {shape}"
        ));
        let (r, _, _) = read_case("f3", &npy_bytes((1, 0), &text, &[]));
        assert!(matches!(r, Err(kroute::Error::Shape(_))), "{shape}: {r:?}");
    }
    // A 0-sized array whose other dimensions fit is still read.
    let text = header("'descr': '<f4', 'fortran_order': False, 'shape': (0, 4294967296)");
    let (r, _, _) = read_case("f3ok", &npy_bytes((1, 0), &text, &[]));
    assert_eq!(r.unwrap().shape(), &[0, 4294967296]);
}

/// Finding 4: the header parser (py_literal, through npyz) backtracks exponentially on nested
/// brackets: 40 `[` in a 120-byte file never finished. Headers nesting deeper than a plain
/// array's need are refused before parsing.
#[test]
fn finding_4_deeply_nested_brackets_are_refused_at_once() {
    for shape in [
        format!("({}2,)", "[".repeat(40)),
        format!("({}{})", "[".repeat(40), "]".repeat(40)),
        format!("({}{})", "{[(".repeat(10), ")]}".repeat(10)),
        format!("({}{})", "(".repeat(30000), ")".repeat(30000)),
    ] {
        let text = header(&format!(
            "'descr': '<f4', 'fortran_order': False, 'shape': {shape}"
        ));
        let (r, _, secs) = read_case("f4", &npy_bytes((1, 0), &text, &[0; 4]));
        assert!(matches!(r, Err(kroute::Error::Io(_))), "{r:?}");
        assert!(secs < 1.0, "{secs} s");
    }
}

/// Finding 5: a header-length field larger than the file made npyz allocate the whole claimed
/// header (up to 4 GiB) before reading it, once the file was larger than the 1 MiB kroute's
/// own scan read.
#[test]
fn finding_5_a_header_length_past_the_end_of_the_file_is_refused_before_allocating() {
    let mut bytes = b"\x93NUMPY\x02\x00\xff\xff\xff\xff".to_vec();
    bytes.resize((1 << 20) + 100, b' ');
    let (r, peak, _) = read_case("f5", &bytes);
    assert!(matches!(r, Err(kroute::Error::Io(_))), "{r:?}");
    assert!(peak < 4 << 20, "asked for {peak} bytes at once");
}

/// The issue's case: a header claiming 2^40 elements with 8 bytes of data is refused before
/// anything of that size is allocated.
#[test]
fn a_tiny_file_claiming_2_pow_40_elements_is_refused_before_allocating() {
    for descr in ["<f4", "|u1", "<u8"] {
        let text = header(&format!(
            "'descr': '{descr}', 'fortran_order': False, 'shape': (1099511627776,)"
        ));
        let (r, peak, _) = read_case("big", &npy_bytes((1, 0), &text, &[0; 8]));
        let msg = format!("{r:?}");
        assert!(matches!(r, Err(kroute::Error::Shape(_))), "{msg}");
        assert!(msg.contains("the file holds 8"), "{msg}");
        assert!(peak < 1 << 20, "asked for {peak} bytes at once");
    }
}

/// Finding 4's bound: a header at the size and nesting limits, written to make the parser
/// backtrack most, is still parsed (and refused) in milliseconds (44 ms measured here).
#[test]
fn a_header_at_the_size_and_nesting_limits_parses_quickly() {
    for unit in [
        "[[[]]], ",
        "{{{}}}, ",
        "{[()]}, ",
        "[{(1,)}], ",
        "{{{1:1}:1}:1}, ",
    ] {
        for close in ["}", ""] {
            let mut text = String::from("{");
            while text.len() < 9_990 - unit.len() {
                text.push_str(unit);
            }
            text.push_str(close);
            text.push('\n');
            let (r, _, secs) = read_case("limits", &npy_bytes((2, 0), &text, &[]));
            assert!(matches!(r, Err(kroute::Error::Io(_))), "{r:?}");
            assert!(secs < 2.0, "{unit:?}: {secs} s");
        }
    }
}
