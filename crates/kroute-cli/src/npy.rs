//! NumPy `.npy` files in and out (through `npyz`), mapped to kroute tensors. f16 is numpy's
//! float16; a bool array is read as u8 (masks).

use half::f16;
use kroute::tensor::HostData;
use kroute::{Error, Result, Tensor};
use npyz::{TypeChar, WriterBuilder};
use std::fs::File;
use std::io::{BufReader, BufWriter};
use std::path::Path;

pub fn read(path: &Path) -> Result<Tensor> {
    let io = |e: std::io::Error| Error::Io(format!("{}: {e}", path.display()));
    // Check the shape's element count before npyz, which would overflow on it.
    let (text, have) = raw_header(path).map_err(io)?;
    if let Some(dims) = header_shape(&text) {
        checked_shape(path, &dims)?;
    }
    let file = File::open(path).map_err(io)?;
    let npy = npyz::NpyFile::new(BufReader::new(file)).map_err(io)?;
    if npy.order() == npyz::Order::Fortran && npy.shape().len() > 1 {
        return Err(Error::Io(format!(
            "{}: Fortran-ordered arrays are not supported; save with C order",
            path.display()
        )));
    }
    let (shape, n) = checked_shape(path, npy.shape())?;
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
    let n = kroute::tensor::element_count(&shape)
        .map_err(|e| Error::Shape(format!("{}: the header's {e}", path.display())))?;
    Ok((shape, n))
}

/// The header's text and the number of bytes after it (format versions 1, 2 and 3), read before
/// npyz sees the file: npyz multiplies the shape out unchecked.
fn raw_header(path: &Path) -> std::io::Result<(String, u64)> {
    use std::io::Read;
    let mut f = File::open(path)?;
    let mut head = [0u8; 12];
    f.read_exact(&mut head[..10])?;
    let (start, len) = if head[6] == 1 {
        (10, u16::from_le_bytes([head[8], head[9]]) as u64)
    } else {
        f.read_exact(&mut head[10..12])?;
        (
            12,
            u32::from_le_bytes([head[8], head[9], head[10], head[11]]) as u64,
        )
    };
    let mut text = vec![0u8; len.min(1 << 20) as usize];
    f.read_exact(&mut text)?;
    let after = f.metadata()?.len().saturating_sub(start + len);
    Ok((String::from_utf8_lossy(&text).into_owned(), after))
}

/// The dimensions in a header's `'shape': (…)` entry, if they parse as u64.
fn header_shape(text: &str) -> Option<Vec<u64>> {
    let rest = &text[text.find("'shape'")?..];
    let inner = &rest[rest.find('(')? + 1..rest.find(')')?];
    inner
        .split(',')
        .map(str::trim)
        .filter(|d| !d.is_empty())
        .map(|d| d.trim_end_matches('L').parse().ok())
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
