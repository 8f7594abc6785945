//! prng on CUDA (`prng.cu`): one thread per Philox block, grid-stride. The kernels take
//! `(y, n, seed, params…)`: the size-only input has no data to pass (n is its length).

use crate::backend::cuda::{Arg, Call, Kernel, Source, Table, BLOCK};
use crate::Result;

pub(crate) static CUDA: Table = Table {
    source: Some(&Source {
        name: "prng",
        text: include_str!("prng.cu"),
    }),
    kernels: &[
        Kernel::custom("prng_philox", generate),
        Kernel::custom("prng_uniform_f32", generate),
        Kernel::custom("prng_normal_f32", generate),
        Kernel::custom("prng_dropout_mask", generate),
    ],
};

fn generate(call: &Call) -> Result<()> {
    let n = call.n();
    if n == 0 {
        return Ok(());
    }
    let y = call.outs[0].0;
    let mut args = vec![Arg::ptr(y), Arg::u64(n), Arg::u64(super::seed(call.params))];
    match call.name {
        "prng_uniform_f32" => {
            args.push(Arg::f64(call.params.get("a")));
            args.push(Arg::f64(call.params.get("b")));
        }
        "prng_dropout_mask" => args.push(Arg::u32(super::keep_threshold(call.params))),
        _ => {}
    }
    let blocks = n.div_ceil(4);
    let grid = call.grid(0, blocks)?;
    call.dev.launch(call.source, call.name, grid, BLOCK, 0, &args)
}
