//! Tensors: an element type, a shape, and storage that knows where it lives.
//!
//! Host storage always exists; with the `cuda` feature a tensor can also live in CUDA device
//! memory (`Storage::Cuda`). Moving between them is an explicit transfer (`to_device`,
//! `to_host`), never implicit; element access (`as_f32`, …) is host-only.

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

#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub enum Storage {
    Host(HostData),
    #[cfg(feature = "cuda")]
    Cuda(crate::backend::cuda::CudaData),
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
                #[cfg(feature = "cuda")]
                Storage::Cuda(_) => Err(on_device_error(self.location())),
                _ => Err(dtype_error(DType::$variant, self.dtype())),
            }
        }
        pub fn $get_mut(&mut self) -> Result<&mut [$t]> {
            let found = self.dtype();
            #[cfg(feature = "cuda")]
            if let Storage::Cuda(_) = self.storage {
                return Err(on_device_error(self.location()));
            }
            match &mut self.storage {
                Storage::Host(HostData::$variant(v)) => Ok(v),
                _ => Err(dtype_error(DType::$variant, found)),
            }
        }
    };
}

#[cfg(feature = "cuda")]
fn on_device_error(loc: Location) -> Error {
    Error::Device(format!(
        "the tensor lives on {loc:?}; copy it with to_host() before reading its elements"
    ))
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
        let n: usize = shape.iter().product();
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
    pub fn i8(v: Vec<i8>) -> Tensor {
        Tensor {
            shape: vec![v.len()],
            storage: Storage::Host(HostData::I8(v)),
        }
    }

    /// Reshape without moving data; the element count must not change.
    pub fn reshaped(mut self, shape: &[usize]) -> Result<Tensor> {
        if shape.iter().product::<usize>() != self.len() {
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
            #[cfg(feature = "cuda")]
            Storage::Cuda(c) => {
                // 0xff bytes: NaN for f32 and f16, and values no integer kernel here writes
                // by chance; a failed fill leaves the old contents, which still differ from
                // a fresh result in general.
                if let Ok(b) = c.unique() {
                    let _ = b.memset(0xff);
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
            Storage::Host(HostData::F32(_)) => DType::F32,
            Storage::Host(HostData::F16(_)) => DType::F16,
            Storage::Host(HostData::U8(_)) => DType::U8,
            Storage::Host(HostData::I8(_)) => DType::I8,
            Storage::Host(HostData::U32(_)) => DType::U32,
            Storage::Host(HostData::U64(_)) => DType::U64,
            #[cfg(feature = "cuda")]
            Storage::Cuda(c) => c.dtype,
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
            #[cfg(feature = "cuda")]
            Storage::Cuda(c) => Location::Cuda(c.ordinal()),
        }
    }
    pub fn bytes(&self) -> usize {
        self.len() * self.dtype().size()
    }
    pub fn host(&self) -> Result<&HostData> {
        match &self.storage {
            Storage::Host(d) => Ok(d),
            #[cfg(feature = "cuda")]
            Storage::Cuda(_) => Err(on_device_error(self.location())),
        }
    }

    pub fn storage(&self) -> &Storage {
        &self.storage
    }
    #[cfg(feature = "cuda")]
    pub(crate) fn storage_mut(&mut self) -> &mut Storage {
        &mut self.storage
    }

    /// A copy of this tensor in host memory (a plain clone when it is already there).
    pub fn to_host(&self) -> Result<Tensor> {
        match &self.storage {
            Storage::Host(_) => Ok(self.clone()),
            #[cfg(feature = "cuda")]
            Storage::Cuda(c) => crate::backend::cuda::download(c, &self.desc()),
        }
    }

    /// A copy of this tensor on CUDA device `ordinal` (shares the buffer when it is already
    /// there). `Error::Device` without the `cuda` feature or without a device.
    pub fn to_device(&self, ordinal: usize) -> Result<Tensor> {
        self.to_location(Location::Cuda(ordinal))
    }

    /// A copy of this tensor at `loc`.
    pub fn to_location(&self, loc: Location) -> Result<Tensor> {
        if self.location() == loc {
            return Ok(self.clone());
        }
        match loc {
            Location::Host => self.to_host(),
            #[cfg(feature = "cuda")]
            Location::Cuda(o) => {
                // From the host tensor's own memory (another device's data comes via the host).
                let staged;
                let src = if let Storage::Host(_) = self.storage {
                    self
                } else {
                    staged = self.to_host()?;
                    &staged
                };
                let dev = crate::backend::cuda::device(o)?;
                let Storage::Host(h) = &src.storage else {
                    return Err(Error::Device("to_host() gave a device tensor".into()));
                };
                Ok(Tensor {
                    shape: self.shape.clone(),
                    storage: Storage::Cuda(crate::backend::cuda::upload(&dev, h, self.dtype())?),
                })
            }
            #[cfg(not(feature = "cuda"))]
            Location::Cuda(_) => Err(Error::Device(
                "this build has no CUDA support (build with the `cuda` feature)".into(),
            )),
        }
    }

    /// A zero-filled tensor at `loc` (device outputs are allocated this way).
    pub fn zeros_at(desc: &TensorDesc, loc: Location) -> Result<Tensor> {
        match loc {
            Location::Host => Ok(Tensor::zeros(desc)),
            #[cfg(feature = "cuda")]
            Location::Cuda(o) => {
                let dev = crate::backend::cuda::device(o)?;
                Ok(Tensor {
                    shape: desc.shape.clone(),
                    storage: Storage::Cuda(crate::backend::cuda::zeros(&dev, desc)?),
                })
            }
            #[cfg(not(feature = "cuda"))]
            Location::Cuda(_) => Err(Error::Device(
                "this build has no CUDA support (build with the `cuda` feature)".into(),
            )),
        }
    }

    typed_access!(as_f32, as_f32_mut, F32, f32);
    typed_access!(as_f16, as_f16_mut, F16, f16);
    typed_access!(as_u8, as_u8_mut, U8, u8);
    typed_access!(as_i8, as_i8_mut, I8, i8);
    typed_access!(as_u32, as_u32_mut, U32, u32);
    typed_access!(as_u64, as_u64_mut, U64, u64);

    /// Element i widened to f64 (for verification and display; integers convert exactly
    /// up to 2^53).
    ///
    /// A device tensor is downloaded first; if that fails the result is all NaN, so that no
    /// check can pass by accident.
    pub fn to_f64_vec(&self) -> Vec<f64> {
        let d = match &self.storage {
            Storage::Host(d) => d,
            #[cfg(feature = "cuda")]
            Storage::Cuda(_) => {
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
