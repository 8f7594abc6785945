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
    let file = File::open(path).map_err(io)?;
    let npy = npyz::NpyFile::new(BufReader::new(file)).map_err(io)?;
    if npy.order() == npyz::Order::Fortran && npy.shape().len() > 1 {
        return Err(Error::Io(format!(
            "{}: Fortran-ordered arrays are not supported; save with C order",
            path.display()
        )));
    }
    let shape: Vec<usize> = npy.shape().iter().map(|&d| d as usize).collect();
    let npyz::DType::Plain(ts) = npy.dtype() else {
        return Err(Error::DType(format!(
            "{}: structured arrays are not supported",
            path.display()
        )));
    };
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
