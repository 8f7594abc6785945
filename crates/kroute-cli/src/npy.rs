//! NumPy `.npy` files in and out (through `npyz`), mapped to kroute tensors. f16 is numpy's
//! float16; a bool array is read as u8 (masks).
//!
//! Reading checks what npyz would trust before npyz sees it (docs/fuzzing.md): the magic and
//! version; a header that lies inside the file, within numpy's size limit, and nests brackets
//! no deeper than an array header needs; a shape, parsed by npyz's own parser, whose product
//! (and every product npyz forms from it) fits in memory; and data exactly as long as the shape
//! says. Every refusal is an `Error` naming the file.

use half::f16;
use kroute::tensor::HostData;
use kroute::{Error, Result, Tensor};
use npyz::{TypeChar, WriterBuilder};
use py_literal::Value;
use std::fs::File;
use std::io::{BufReader, BufWriter, Cursor, Read};
use std::path::Path;

/// The longest header read, as numpy.load's `max_header_size` (which exists for the same
/// reason: the header is parsed as a Python literal).
const MAX_HEADER: u64 = 10_000;

/// The deepest bracket nesting a header may have. An array's header nests 2 deep (`{` and the
/// shape's `(`), a simple structured one 4. The header parser (py_literal, npyz's) backtracks,
/// taking about 3x as long for each further level (40 levels never finish), so a deeper header
/// is refused before it is parsed.
const MAX_DEPTH: usize = 4;

pub fn read(path: &Path) -> Result<Tensor> {
    let io = |e: std::io::Error| Error::Io(format!("{}: {e}", path.display()));
    let bad = |why: String| not_npy(path, why);
    let mut file = File::open(path).map_err(io)?;
    let size = file.metadata().map_err(io)?.len();
    // The preamble and header, held here and handed to npyz as read: npyz trusts the header's
    // length and multiplies its shape out unchecked.
    let head = read_head(&mut file, size).map_err(bad)?;
    let have = size - head.len() as u64;
    let dims = header_shape(path, &head)?;
    let (shape, n) = checked_shape(path, &dims)?;
    let npy = npyz::NpyFile::new(Cursor::new(head).chain(BufReader::new(file))).map_err(io)?;
    if npy.shape() != dims.as_slice() {
        return Err(bad(format!(
            "npyz reads the shape as {:?}, kroute as {dims:?}",
            npy.shape()
        )));
    }
    if npy.order() == npyz::Order::Fortran && shape.len() > 1 {
        return Err(Error::Io(format!(
            "{}: Fortran-ordered arrays are not supported; save with C order",
            path.display()
        )));
    }
    let npyz::DType::Plain(ts) = npy.dtype() else {
        return Err(Error::DType(format!(
            "{}: structured arrays are not supported",
            path.display()
        )));
    };
    // The data must be exactly what the header's shape says: no silent partial read of a
    // longer file, no short read of a shorter one.
    let want = (n as u64).checked_mul(ts.num_bytes().unwrap_or(0) as u64);
    if want != Some(have) {
        return Err(Error::Shape(format!(
            "{}: the header's shape {shape:?} of {ts} needs {} bytes of data, the file holds {have}",
            path.display(),
            want.map_or_else(|| "more than 2^64".to_string(), |w| w.to_string())
        )));
    }
    let data = match (ts.type_char(), ts.size_field()) {
        (TypeChar::Float, 4) => HostData::F32(npy.into_vec().map_err(io)?),
        (TypeChar::Float, 2) => HostData::F16(npy.into_vec::<f16>().map_err(io)?),
        (TypeChar::Uint, 1) => HostData::U8(npy.into_vec().map_err(io)?),
        (TypeChar::Bool, 1) => HostData::U8(
            npy.into_vec::<bool>()
                .map_err(io)?
                .into_iter()
                .map(u8::from)
                .collect(),
        ),
        (TypeChar::Int, 1) => HostData::I8(npy.into_vec().map_err(io)?),
        (TypeChar::Uint, 4) => HostData::U32(npy.into_vec().map_err(io)?),
        (TypeChar::Uint, 8) => HostData::U64(npy.into_vec().map_err(io)?),
        _ => {
            return Err(Error::DType(format!(
                "{}: element type {ts} is not one kroute uses (f32, f16, u8, bool, i8, u32, u64)",
                path.display()
            )))
        }
    };
    Tensor::from_host(&shape, data)
}

/// A header's dimensions as usize and their element count, or why they cannot be held.
fn checked_shape(path: &Path, dims: &[u64]) -> Result<(Vec<usize>, usize)> {
    let shape = dims
        .iter()
        .map(|&d| usize::try_from(d))
        .collect::<std::result::Result<Vec<usize>, _>>()
        .map_err(|_| {
            Error::Shape(format!(
                "{}: a dimension does not fit in memory",
                path.display()
            ))
        })?;
    let n = kroute::tensor::element_count(&shape).map_err(|_| {
        Error::Shape(format!(
            "{}: the header's shape {shape:?} holds more elements than this machine can address",
            path.display()
        ))
    })?;
    // A 0-sized dimension makes the count 0, but npyz's strides multiply the other dimensions
    // all the same: their product must fit too (numpy refuses such a shape as well).
    let others: Vec<usize> = shape.iter().map(|&d| d.max(1)).collect();
    if kroute::tensor::element_count(&others).is_err() {
        return Err(Error::Shape(format!(
            "{}: the header's shape {shape:?} holds more elements than this machine can \
             address, not counting its 0-sized dimension",
            path.display()
        )));
    }
    Ok((shape, n))
}

/// The preamble and header text (format versions 1.0, 2.0 and 3.0), checked: the magic, the
/// version, a header that lies inside the file and within `MAX_HEADER`. The file is left at
/// the start of the data.
fn read_head(f: &mut File, size: u64) -> std::result::Result<Vec<u8>, String> {
    let short = |e: std::io::Error| match e.kind() {
        std::io::ErrorKind::UnexpectedEof => {
            format!("the file's {size} bytes end inside the preamble")
        }
        _ => e.to_string(),
    };
    let mut head = vec![0u8; 10];
    f.read_exact(&mut head).map_err(short)?;
    if &head[..6] != b"\x93NUMPY" {
        return Err("it does not start with the magic \\x93NUMPY".into());
    }
    let len = match (head[6], head[7]) {
        (1, 0) => u16::from_le_bytes([head[8], head[9]]) as u64,
        (2, 0) | (3, 0) => {
            head.resize(12, 0);
            f.read_exact(&mut head[10..]).map_err(short)?;
            u32::from_le_bytes([head[8], head[9], head[10], head[11]]) as u64
        }
        (major, minor) => {
            return Err(format!(
                "format version {major}.{minor} is not one of 1.0, 2.0, 3.0"
            ))
        }
    };
    let start = head.len() as u64;
    if len > size - start {
        return Err(format!(
            "the header claims {len} bytes, the file holds {} after the preamble",
            size - start
        ));
    }
    if len > MAX_HEADER {
        return Err(format!(
            "the header is {len} bytes long; like numpy.load, kroute reads at most {MAX_HEADER}"
        ));
    }
    head.resize((start + len) as usize, 0);
    f.read_exact(&mut head[start as usize..]).map_err(short)?;
    Ok(head)
}

/// The deepest bracket nesting in `text`, counting brackets inside strings too (an
/// over-count only refuses headers that are not plain arrays).
fn nesting(text: &[u8]) -> usize {
    let (mut depth, mut deepest) = (0usize, 0usize);
    for &c in text {
        match c {
            b'(' | b'[' | b'{' => {
                depth += 1;
                deepest = deepest.max(depth);
            }
            b')' | b']' | b'}' => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    deepest
}

fn not_npy(path: &Path, why: String) -> Error {
    Error::Io(format!(
        "{}: not a .npy file kroute can read: {why}",
        path.display()
    ))
}

/// A value from the header for a message, cut to 100 characters.
fn clip(v: impl std::fmt::Display) -> String {
    let s = v.to_string();
    match s.char_indices().nth(100) {
        Some((at, _)) => format!("{}…", &s[..at]),
        None => s,
    }
}

/// The dimensions in the header's `'shape'` entry, parsed as npyz parses them (the same
/// parser, the last entry of a repeated key), after the nesting check.
fn header_shape(path: &Path, head: &[u8]) -> Result<Vec<u64>> {
    let bad = |why: String| not_npy(path, why);
    let text = &head[if head[6] == 1 { 10 } else { 12 }..];
    let text = text.strip_suffix(b"\n").unwrap_or(text);
    let depth = nesting(text);
    if depth > MAX_DEPTH {
        return Err(bad(format!(
            "the header nests brackets {depth} deep; an array's header needs 2, and kroute \
             parses none deeper than {MAX_DEPTH}"
        )));
    }
    let text = std::str::from_utf8(text).map_err(|_| bad("the header is not UTF-8 text".into()))?;
    let value: Value = text.parse().map_err(|e: py_literal::ParseError| {
        // pest's report echoes the line; keep where and what it expected.
        let e = e.to_string();
        let at = e.lines().find_map(|l| Some(l.split_once("--> ")?.1.trim()));
        let want = e.lines().find_map(|l| l.trim().strip_prefix("= "));
        let why = match (at, want) {
            (Some(at), Some(want)) => format!("at line:column {at}, {want}"),
            _ => clip(e.split_whitespace().collect::<Vec<_>>().join(" ")),
        };
        bad(format!("the header is not a Python literal ({why})"))
    })?;
    let Value::Dict(entries) = value else {
        return Err(bad("the header is not a Python dict".into()));
    };
    let Some((_, shape)) = entries
        .iter()
        .rev()
        .find(|(k, _)| k.as_string().is_some_and(|k| k == "shape"))
    else {
        return Err(bad("the header has no 'shape'".into()));
    };
    let (Value::Tuple(dims) | Value::List(dims)) = shape else {
        return Err(Error::Shape(format!(
            "{}: the header's 'shape' is {}, not a tuple",
            path.display(),
            clip(shape)
        )));
    };
    dims.iter()
        .map(|d| {
            match d {
                Value::Integer(i) => u64::try_from(i).ok(),
                _ => None,
            }
            .ok_or_else(|| {
                Error::Shape(format!(
                    "{}: the header's shape holds {}, not a dimension (a whole number from 0 to \
                 2^64 - 1)",
                    path.display(),
                    clip(d)
                ))
            })
        })
        .collect()
}

fn write_vec<T: npyz::AutoSerialize + Copy>(
    path: &Path,
    shape: &[u64],
    v: &[T],
) -> std::io::Result<()> {
    let file = BufWriter::new(File::create(path)?);
    let mut w = npyz::WriteOptions::new()
        .default_dtype()
        .shape(shape)
        .writer(file)
        .begin_nd()?;
    w.extend(v.iter().copied())?;
    w.finish()
}

pub fn write(path: &Path, t: &Tensor) -> Result<()> {
    let shape: Vec<u64> = t.shape().iter().map(|&d| d as u64).collect();
    let r = match t.host()? {
        HostData::F32(v) => write_vec(path, &shape, v),
        HostData::F16(v) => write_vec(path, &shape, v),
        HostData::U8(v) => write_vec(path, &shape, v),
        HostData::I8(v) => write_vec(path, &shape, v),
        HostData::U32(v) => write_vec(path, &shape, v),
        HostData::U64(v) => write_vec(path, &shape, v),
    };
    r.map_err(|e| Error::Io(format!("{}: {e}", path.display())))
}

#[cfg(test)]
mod fuzz;
