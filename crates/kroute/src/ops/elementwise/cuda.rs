//! elementwise on CUDA: launches of `elementwise.cu` (grid-stride float4 maps).

use crate::backend::cuda::kernels::map;
use crate::backend::cuda::{Arg, CudaKernel, Source};

pub static SRC: Source = Source {
    name: "elementwise",
    text: include_str!("elementwise.cu"),
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
    plain!("map_add"),
    plain!("map_mul"),
    plain!("map_div"),
    plain!("map_fma"),
    plain!("map_exp"),
    plain!("map_log"),
    plain!("map_tanh"),
    plain!("map_sigmoid"),
    plain!("map_softplus"),
    ("map_clamp", |d, io, p| {
        map(
            d,
            &SRC,
            "map_clamp",
            io,
            &[Arg::f32(p.f32("lo")), Arg::f32(p.f32("hi"))],
        )
    }),
    plain!("map_abs"),
    plain!("map_compare"),
];
