//! activations on CUDA: launches of `activations.cu` (grid-stride float4 maps).

use crate::backend::cuda::kernels::map;
use crate::backend::cuda::{Arg, CudaKernel, Source};

pub static SRC: Source = Source {
    name: "activations",
    text: include_str!("activations.cu"),
};

macro_rules! plain {
    ($name:literal) => {
        (
            $name,
            (|d, io, _| map(d, &SRC, $name, io, &[])) as CudaKernel,
        )
    };
}

pub static KERNELS: &[(&str, CudaKernel)] = &[
    plain!("map_relu"),
    ("map_leaky_relu", |d, io, p| {
        map(d, &SRC, "map_leaky_relu", io, &[Arg::f32(p.f32("alpha"))])
    }),
    ("map_elu", |d, io, p| {
        map(d, &SRC, "map_elu", io, &[Arg::f32(p.f32("alpha"))])
    }),
    plain!("map_gelu"),
    plain!("map_gelu_erf"),
    plain!("map_silu"),
    plain!("map_mish"),
];
