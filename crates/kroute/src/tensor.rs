//! Tensors: an element type, a shape, and storage that knows where it lives.
//!
//! A tensor lives in host memory or in a device backend's memory (`Storage::Device`, whichever
//! backend that is). Moving between them is an explicit transfer (`to_location`, `to_host`),
//! never implicit; element access (`as_f32`, …) is host-only.

use crate::backend::{device_at, DeviceData};
use crate::error::{Error, Result};
use half::f16;
use serde::Serialize;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum DType {
    F32,
    F16,
    U8,
    I8,
    U32,
    U64,
}

impl DType {
    pub fn size(self) -> usize {
        match self {
            DType::F32 | DType::U32 => 4,
            DType::F16 => 2,
            DType::U8 | DType::I8 => 1,
            DType::U64 => 8,
        }
    }
    pub fn name(self) -> &'static str {
        match self {
            DType::F32 => "f32",
            DType::F16 => "f16",
            DType::U8 => "u8",
            DType::I8 => "i8",
            DType::U32 => "u32",
            DType::U64 => "u64",
        }
    }
}

/// Host data, one variant per element type.
#[derive(Clone, Debug, PartialEq)]
pub enum HostData {
    F32(Vec<f32>),
    F16(Vec<f16>),
    U8(Vec<u8>),
    I8(Vec<i8>),
    U32(Vec<u32>),
    U64(Vec<u64>),
}

/// Where a tensor's elements live.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Location {
    Host,
    /// Device memory of the CUDA device with this ordinal.
    Cuda(usize),
}

impl HostData {
    pub fn dtype(&self) -> DType {
        match self {
            HostData::F32(_) => DType::F32,
            HostData::F16(_) => DType::F16,
            HostData::U8(_) => DType::U8,
            HostData::I8(_) => DType::I8,
            HostData::U32(_) => DType::U32,
            HostData::U64(_) => DType::U64,
        }
    }
}

#[derive(Clone, Debug, PartialEq)]
pub enum Storage {
    Host(HostData),
    Device(DeviceData),
}

/// The element type and shape of a tensor, without its data.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TensorDesc {
    pub dtype: DType,
    pub shape: Vec<usize>,
}

impl TensorDesc {
    pub fn new(dtype: DType, shape: &[usize]) -> Self {
        TensorDesc {
            dtype,
            shape: shape.to_vec(),
        }
    }
    pub fn len(&self) -> usize {
        self.shape.iter().product()
    }
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
    pub fn bytes(&self) -> usize {
        self.len() * self.dtype.size()
    }
}

#[derive(Clone, Debug, PartialEq)]
pub struct Tensor {
    shape: Vec<usize>,
    storage: Storage,
}

macro_rules! typed_access {
    ($get:ident, $get_mut:ident, $variant:ident, $t:ty) => {
        pub fn $get(&self) -> Result<&[$t]> {
            match &self.storage {
                Storage::Host(HostData::$variant(v)) => Ok(v),
                Storage::Device(_) => Err(on_device_error(self.location())),
                _ => Err(dtype_error(DType::$variant, self.dtype())),
            }
        }
        pub fn $get_mut(&mut self) -> Result<&mut [$t]> {
            let found = self.dtype();
            if let Storage::Device(_) = self.storage {
                return Err(on_device_error(self.location()));
            }
            match &mut self.storage {
                Storage::Host(HostData::$variant(v)) => Ok(v),
                _ => Err(dtype_error(DType::$variant, found)),
            }
        }
    };
}

fn on_device_error(loc: Location) -> Error {
    Error::Device(format!(
        "the tensor lives on {loc:?}; copy it with to_host() before reading its elements"
    ))
}

/// The number of elements of a shape; a product past `usize` (a damaged file's header, say) is
/// an error rather than a wrapped count.
pub fn element_count(shape: &[usize]) -> Result<usize> {
    shape
        .iter()
        .try_fold(1usize, |a, &d| a.checked_mul(d))
        .ok_or_else(|| {
            Error::Shape(format!(
                "shape {shape:?} holds more elements than this machine can address"
            ))
        })
}

fn dtype_error(want: DType, found: DType) -> Error {
    Error::DType(format!(
        "expected {} data, found {}",
        want.name(),
        found.name()
    ))
}

impl Tensor {
    /// A host tensor; the data length must match the shape.
    pub fn from_host(shape: &[usize], data: HostData) -> Result<Tensor> {
        let n = element_count(shape)?;
        let len = match &data {
            HostData::F32(v) => v.len(),
            HostData::F16(v) => v.len(),
            HostData::U8(v) => v.len(),
            HostData::I8(v) => v.len(),
            HostData::U32(v) => v.len(),
            HostData::U64(v) => v.len(),
        };
        if n != len {
            return Err(Error::Shape(format!(
                "shape {shape:?} holds {n} elements but the data has {len}"
            )));
        }
        Ok(Tensor {
            shape: shape.to_vec(),
            storage: Storage::Host(data),
        })
    }

    pub fn f32(v: Vec<f32>) -> Tensor {
        Tensor {
            shape: vec![v.len()],
            storage: Storage::Host(HostData::F32(v)),
        }
    }
    pub fn f16(v: Vec<f16>) -> Tensor {
        Tensor {
            shape: vec![v.len()],
            storage: Storage::Host(HostData::F16(v)),
        }
    }
    pub fn u8(v: Vec<u8>) -> Tensor {
        Tensor {
            shape: vec![v.len()],
            storage: Storage::Host(HostData::U8(v)),
        }
    }
    pub fn u32(v: Vec<u32>) -> Tensor {
        Tensor {
            shape: vec![v.len()],
            storage: Storage::Host(HostData::U32(v)),
        }
    }
    pub fn i8(v: Vec<i8>) -> Tensor {
        Tensor {
            shape: vec![v.len()],
            storage: Storage::Host(HostData::I8(v)),
        }
    }

    /// The input of a generator (the prng kernels, Monte Carlo), which reads no data, only a
    /// length: a u8 tensor of shape [n, 0], which holds no elements and costs no bytes to move.
    /// Every path that sizes work from its inputs (workloads, transfers, peers) then works for
    /// generators unchanged; `size_only_len` reads n back.
    pub fn size_only(n: usize) -> Tensor {
        Tensor {
            shape: vec![n, 0],
            storage: Storage::Host(HostData::U8(Vec::new())),
        }
    }

    /// n for a size-only tensor (u8, shape [n, 0]), else None.
    pub fn size_only_len(&self) -> Option<usize> {
        match (self.dtype(), self.shape()) {
            (DType::U8, &[n, 0]) => Some(n),
            _ => None,
        }
    }

    /// Reshape without moving data; the element count must not change.
    pub fn reshaped(mut self, shape: &[usize]) -> Result<Tensor> {
        if element_count(shape)? != self.len() {
            return Err(Error::Shape(format!(
                "cannot reshape {:?} ({} elements) to {shape:?}",
                self.shape,
                self.len()
            )));
        }
        self.shape = shape.to_vec();
        Ok(self)
    }

    /// A zero-filled host tensor of this description (outputs are allocated this way).
    pub fn zeros(desc: &TensorDesc) -> Tensor {
        let n = desc.len();
        let data = match desc.dtype {
            DType::F32 => HostData::F32(vec![0.0; n]),
            DType::F16 => HostData::F16(vec![f16::ZERO; n]),
            DType::U8 => HostData::U8(vec![0; n]),
            DType::I8 => HostData::I8(vec![0; n]),
            DType::U32 => HostData::U32(vec![0; n]),
            DType::U64 => HostData::U64(vec![0; n]),
        };
        Tensor {
            shape: desc.shape.clone(),
            storage: Storage::Host(data),
        }
    }

    /// Fill with a value no kernel produces by accident, so unwritten outputs are caught.
    pub fn poison(&mut self) {
        let d = match &mut self.storage {
            Storage::Host(d) => d,
            Storage::Device(d) => {
                // 0xff bytes: NaN for f32 and f16, and values no integer kernel here writes
                // by chance; a failed fill leaves the old contents, which still differ from
                // a fresh result in general.
                if d.make_unique().is_ok() {
                    let _ = d.backend().and_then(|b| b.fill_bytes(d, 0xff));
                }
                return;
            }
        };
        match d {
            HostData::F32(v) => v.fill(f32::from_bits(0x7fc0_dead)),
            HostData::F16(v) => v.fill(f16::from_bits(0x7e5a)),
            HostData::U8(v) => v.fill(0xa5),
            HostData::I8(v) => v.fill(-99),
            HostData::U32(v) => v.fill(0xdead_beef),
            HostData::U64(v) => v.fill(0xdead_beef_dead_beef),
        }
    }

    pub fn shape(&self) -> &[usize] {
        &self.shape
    }
    pub fn len(&self) -> usize {
        self.shape.iter().product()
    }
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
    pub fn dtype(&self) -> DType {
        match &self.storage {
            Storage::Host(h) => h.dtype(),
            Storage::Device(d) => d.dtype,
        }
    }
    pub fn desc(&self) -> TensorDesc {
        TensorDesc {
            dtype: self.dtype(),
            shape: self.shape.clone(),
        }
    }
    pub fn location(&self) -> Location {
        match &self.storage {
            Storage::Host(_) => Location::Host,
            Storage::Device(d) => d.location,
        }
    }
    pub fn bytes(&self) -> usize {
        self.len() * self.dtype().size()
    }
    pub fn host(&self) -> Result<&HostData> {
        match &self.storage {
            Storage::Host(d) => Ok(d),
            Storage::Device(_) => Err(on_device_error(self.location())),
        }
    }

    pub fn storage(&self) -> &Storage {
        &self.storage
    }

    /// The device buffer of a device tensor.
    pub fn device_data(&self) -> Result<&DeviceData> {
        match &self.storage {
            Storage::Device(d) => Ok(d),
            Storage::Host(_) => Err(Error::Device("the tensor lives on the host".into())),
        }
    }
    pub fn device_data_mut(&mut self) -> Result<&mut DeviceData> {
        match &mut self.storage {
            Storage::Device(d) => Ok(d),
            Storage::Host(_) => Err(Error::Device("the tensor lives on the host".into())),
        }
    }

    /// A copy of this tensor in host memory (a plain clone when it is already there).
    pub fn to_host(&self) -> Result<Tensor> {
        match &self.storage {
            Storage::Host(_) => Ok(self.clone()),
            Storage::Device(_) => {
                let mut t = Tensor::zeros(&self.desc());
                self.download_into(&mut t)?;
                Ok(t)
            }
        }
    }

    /// Copy this device tensor into a host tensor of the same description, in place (no second
    /// host copy).
    pub fn download_into(&self, dst: &mut Tensor) -> Result<()> {
        if dst.desc() != self.desc() {
            return Err(Error::Shape(format!(
                "download of {}{:?} into {}{:?}",
                self.dtype().name(),
                self.shape,
                dst.dtype().name(),
                dst.shape
            )));
        }
        match (&self.storage, &mut dst.storage) {
            (Storage::Device(d), Storage::Host(h)) => d.backend()?.download(d, h),
            (Storage::Host(s), Storage::Host(h)) => {
                h.clone_from(s);
                Ok(())
            }
            _ => Err(Error::Device(
                "download_into needs a host destination".into(),
            )),
        }
    }

    /// A copy of this tensor on CUDA device `ordinal` (shares the buffer when it is already
    /// there). `Error::Device` without the `cuda` feature or without a device.
    pub fn to_device(&self, ordinal: usize) -> Result<Tensor> {
        self.to_location(Location::Cuda(ordinal))
    }

    /// A copy of this tensor at `loc` (shares the buffer when it is already there; data on
    /// another device goes through the host).
    pub fn to_location(&self, loc: Location) -> Result<Tensor> {
        if self.location() == loc {
            return Ok(self.clone());
        }
        let Location::Cuda(ordinal) = loc else {
            return self.to_host();
        };
        let staged;
        let host = match &self.storage {
            Storage::Host(h) => h,
            Storage::Device(_) => {
                staged = self.to_host()?;
                staged.host()?
            }
        };
        Ok(Tensor {
            shape: self.shape.clone(),
            storage: Storage::Device(device_at(loc)?.upload(ordinal, host)?),
        })
    }

    /// A zero-filled tensor at `loc` (device outputs are allocated this way).
    pub fn zeros_at(desc: &TensorDesc, loc: Location) -> Result<Tensor> {
        match loc {
            Location::Host => Ok(Tensor::zeros(desc)),
            Location::Cuda(ordinal) => Ok(Tensor {
                shape: desc.shape.clone(),
                storage: Storage::Device(device_at(loc)?.zeros(ordinal, desc)?),
            }),
        }
    }

    typed_access!(as_f32, as_f32_mut, F32, f32);
    typed_access!(as_f16, as_f16_mut, F16, f16);
    typed_access!(as_u8, as_u8_mut, U8, u8);
    typed_access!(as_i8, as_i8_mut, I8, i8);
    typed_access!(as_u32, as_u32_mut, U32, u32);
    typed_access!(as_u64, as_u64_mut, U64, u64);

    /// An f32 tensor's elements as their bit patterns, for kernels that move or order words
    /// (layout, compaction, sorting) and must keep NaN payloads, −0 and denormals as they are.
    pub fn as_f32_bits(&self) -> Result<&[u32]> {
        Ok(bytemuck::cast_slice(self.as_f32()?))
    }
    pub fn as_f32_bits_mut(&mut self) -> Result<&mut [u32]> {
        Ok(bytemuck::cast_slice_mut(self.as_f32_mut()?))
    }

    /// Element i widened to f64 (for verification and display; integers convert exactly
    /// up to 2^53).
    ///
    /// A device tensor is downloaded first; if that fails the result is all NaN, so that no
    /// check can pass by accident.
    pub fn to_f64_vec(&self) -> Vec<f64> {
        let d = match &self.storage {
            Storage::Host(d) => d,
            Storage::Device(_) => {
                return match self.to_host() {
                    Ok(h) => h.to_f64_vec(),
                    Err(_) => vec![f64::NAN; self.len()],
                }
            }
        };
        match d {
            HostData::F32(v) => v.iter().map(|&x| x as f64).collect(),
            HostData::F16(v) => v.iter().map(|&x| x.to_f64()).collect(),
            HostData::U8(v) => v.iter().map(|&x| x as f64).collect(),
            HostData::I8(v) => v.iter().map(|&x| x as f64).collect(),
            HostData::U32(v) => v.iter().map(|&x| x as f64).collect(),
            HostData::U64(v) => v.iter().map(|&x| x as f64).collect(),
        }
    }
}
