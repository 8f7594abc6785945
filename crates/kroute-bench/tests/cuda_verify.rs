//! The cuda backend against the f64 reference: every registered cuda implementation at awkward
//! sizes, N, N = 10^8 for sum-, stat- and norm-class kernels, and every edge case; plus
//! device-resident runs. Without a CUDA device (or in a build without the feature) each test
//! prints "skipped: …" and passes.
//!
//! `sanitize_*` run one kernel per domain at small sizes, for compute-sanitizer (memcheck,
//! racecheck): `compute-sanitizer --tool memcheck <this test binary> sanitize_`.

/// Report a skip where CI can see it: libtest captures `println!` of passing tests, but not a
/// direct write to the stderr handle.
macro_rules! say_skipped {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stderr(), $($arg)*);
    }};
}

use kroute::{kernel, kernels, Backend, Implementation, Kernel, Location, Params, Tensor};
use kroute_bench::verify::{sizes_for, verify, SMALL_SIZES};
use std::collections::HashMap;
use std::sync::Arc;

fn skip() -> bool {
    match Backend::Cuda.unavailable_reason() {
        Some(why) => {
            say_skipped!("skipped: no CUDA device ({why})");
            true
        }
        None => false,
    }
}

fn check(name: &str, sizes: &[usize]) -> Vec<String> {
    let k = kernel(name).unwrap();
    check_imp(k, k.on(Backend::Cuda).unwrap(), sizes)
}

fn check_imp(k: &Kernel, imp: &'static Implementation, sizes: &[usize]) -> Vec<String> {
    let mut cache: HashMap<usize, Arc<Vec<Tensor>>> = HashMap::new();
    verify(k, imp, sizes, |n| {
        cache
            .entry(n)
            .or_insert_with(|| Arc::new(k.workload(n, 42)))
            .clone()
    })
    .into_iter()
    .filter(|o| !o.passed)
    .map(|o| {
        format!(
            "{} {} [{}]: {}",
            o.kernel,
            o.implementation,
            o.case,
            o.detail.unwrap_or_default()
        )
    })
    .collect()
}

/// Every implementation on the cuda backend (ours and library routes such as `cublas`) that
/// can run here; a library route that cannot (libcublas missing) is reported and left out.
fn cuda_implementations() -> Vec<(&'static Kernel, &'static Implementation)> {
    let mut v = Vec::new();
    for k in kernels() {
        for imp in k
            .implementations()
            .iter()
            .filter(|i| i.backend == Backend::Cuda)
        {
            match imp.unavailable_reason() {
                Some(why) => say_skipped!("skipped {}:{}: {why}", k.name(), imp.id),
                None => v.push((k, imp)),
            }
        }
    }
    v
}

#[test]
fn every_cuda_kernel_matches_the_reference() {
    if skip() {
        return;
    }
    let large = std::env::var_os("KROUTE_CUDA_NO_LARGE").is_none();
    let mut failures = Vec::new();
    let mut count = 0;
    for (k, imp) in cuda_implementations() {
        failures.extend(check_imp(k, imp, &sizes_for(k, 1 << 20, large)));
        count += 1;
    }
    assert!(count > 0, "no cuda implementation registered");
    println!("{count} cuda implementations verified");
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn device_resident_runs_match_host_round_trips() {
    if skip() {
        return;
    }
    for (o, imp) in cuda_implementations() {
        let inputs = o.workload(100_003, 7);
        let params = Params::defaults(o.spec);
        let refs: Vec<&Tensor> = inputs.iter().collect();
        let host = o.run(imp, &refs, &params).unwrap();
        let dins: Vec<Tensor> = inputs.iter().map(|t| t.to_device(0).unwrap()).collect();
        let drefs: Vec<&Tensor> = dins.iter().collect();
        let mut douts: Vec<Tensor> = o
            .check(&drefs, &params)
            .unwrap()
            .iter()
            .map(|d| Tensor::zeros_at(d, Location::Cuda(0)).unwrap())
            .collect();
        // Twice: the second run checks that the scratch area was left clean.
        for _ in 0..2 {
            o.run_into(imp, &drefs, &params, &mut douts).unwrap();
        }
        for (h, d) in host.iter().zip(&douts) {
            assert_eq!(d.location(), Location::Cuda(0));
            let back = d.to_host().unwrap();
            assert_eq!(
                format!("{:?}", back.to_f64_vec()),
                format!("{:?}", h.to_f64_vec()),
                "{}",
                o.name()
            );
        }
    }
}

#[test]
fn cuda_errors_are_values() {
    if skip() {
        return;
    }
    // A mask byte of 2 is Error::Value, and the next call is clean again.
    let x = Tensor::f32(vec![1.0; 10]);
    let mut m = vec![1u8; 10];
    m[3] = 2;
    let e = kroute::run(
        "map_reduce_masked_sum",
        Backend::Cuda,
        &[&x, &Tensor::u8(m)],
        &[],
    );
    assert!(matches!(e, Err(kroute::Error::Value(_))), "{e:?}");
    let ok = kroute::run(
        "map_reduce_masked_sum",
        Backend::Cuda,
        &[&x, &Tensor::u8(vec![1; 10])],
        &[],
    )
    .unwrap();
    assert_eq!(ok[0].as_f32().unwrap()[0], 10.0);
    // Reading a device tensor's elements directly is an error, not a panic.
    let d = x.to_device(0).unwrap();
    assert!(d.as_f32().is_err());
    assert!(kroute::run("map_abs", Backend::Scalar, &[&d], &[]).is_err());
}

/// The maps index in 32 bits wherever n and the grid allow (every size verify reaches); the
/// 64-bit loop takes over past that. A grid of 2^24 blocks pushes a small map past the 32-bit
/// bound, so this runs the 64-bit loop of a one-, two- and three-input map and a byte output.
/// (The driver's buffers exist only in a build with the `cuda` feature.)
#[cfg(feature = "cuda")]
#[test]
fn maps_keep_their_64_bit_path() {
    use kroute::backend::cuda::{device, Arg, DeviceBuffer, Source, MAP_BLOCK};
    if skip() {
        return;
    }
    static ELEMENTWISE: Source = Source {
        name: "elementwise",
        text: include_str!("../../kroute/src/ops/elementwise/elementwise.cu"),
    };
    let dev = device(0).unwrap();
    let n = 100_003usize;
    let grid = 1u32 << 24;
    assert!((n as u64 / 4) + grid as u64 * MAP_BLOCK as u64 * 2 >= 1 << 32);
    let host: Vec<Vec<f32>> = (0..3)
        .map(|s| {
            (0..n)
                .map(|i| ((i * 7 + s * 13) % 101) as f32 * 0.37 - 11.0)
                .collect()
        })
        .collect();
    let bytes = |v: &[f32]| v.iter().flat_map(|x| x.to_le_bytes()).collect::<Vec<u8>>();
    let ins: Vec<DeviceBuffer> = host
        .iter()
        .map(|v| {
            let b = DeviceBuffer::alloc(&dev, 4 * n).unwrap();
            b.upload(&bytes(v)).unwrap();
            b
        })
        .collect();
    let out = DeviceBuffer::alloc(&dev, 4 * n).unwrap();
    let run = |name: &'static str, k: usize, out_bytes: usize| -> Vec<u8> {
        out.memset(0xff).unwrap();
        let mut args: Vec<Arg> = ins[..k].iter().map(|b| Arg::ptr(b.ptr())).collect();
        args.extend([Arg::ptr(out.ptr()), Arg::u64(n as u64)]);
        dev.launch(&ELEMENTWISE, name, grid, MAP_BLOCK, 0, &args)
            .unwrap();
        let mut got = vec![0u8; 4 * n];
        out.download(&mut got).unwrap();
        got.truncate(out_bytes);
        got
    };
    let (x, y, z) = (&host[0], &host[1], &host[2]);
    let want_add: Vec<f32> = (0..n).map(|i| x[i] + y[i]).collect();
    let want_fma: Vec<f32> = (0..n).map(|i| x[i].mul_add(y[i], z[i])).collect();
    let want_abs: Vec<f32> = x.iter().map(|v| v.abs()).collect();
    let want_cmp: Vec<u8> = (0..n).map(|i| (x[i] > y[i]) as u8).collect();
    assert_eq!(run("map_add", 2, 4 * n), bytes(&want_add), "map_add");
    assert_eq!(run("map_fma", 3, 4 * n), bytes(&want_fma), "map_fma");
    assert_eq!(run("map_abs", 1, 4 * n), bytes(&want_abs), "map_abs");
    assert_eq!(run("map_compare", 2, n), want_cmp, "map_compare");
}

macro_rules! sanitize {
    ($test:ident, $kernel:literal) => {
        #[test]
        fn $test() {
            if skip() {
                return;
            }
            let f = check($kernel, &SMALL_SIZES);
            assert!(f.is_empty(), "{}", f.join("\n"));
        }
    };
}

sanitize!(sanitize_elementwise_map_div, "map_div");
sanitize!(sanitize_elementwise_map_compare, "map_compare");
sanitize!(sanitize_activations_map_gelu, "map_gelu");
sanitize!(sanitize_reductions_reduce_argmax, "reduce_argmax");
sanitize!(sanitize_reductions_reduce_var, "reduce_var");
sanitize!(sanitize_reductions_reduce_histogram, "reduce_histogram");
sanitize!(
    sanitize_fused_map_reduce_masked_sum,
    "map_reduce_masked_sum"
);
sanitize!(sanitize_dot_products_cosine_similarity, "cosine_similarity");
sanitize!(
    sanitize_quantization_quantize_f16_to_i8,
    "quantize_f16_to_i8"
);
sanitize!(
    sanitize_quantization_dequantize_i8_to_f16,
    "dequantize_i8_to_f16"
);
sanitize!(sanitize_signal_window_apply, "window_apply");
// The tiled transpose shares memory between a block's warps: racecheck's case.
sanitize!(sanitize_layout_transpose_2d, "transpose_2d");
sanitize!(sanitize_layout_repack_soa_to_aos, "repack_soa_to_aos");
// simulation: the strip-walking stencils (halo loads at every grid edge), the fused
// integrators, and Monte Carlo's last-block reduction.
sanitize!(sanitize_simulation_sim_heat_equation, "sim_heat_equation");
sanitize!(sanitize_simulation_sim_wave_equation, "sim_wave_equation");
sanitize!(sanitize_simulation_sim_stencil_2d, "sim_stencil_2d");
sanitize!(sanitize_simulation_sim_stencil_3d, "sim_stencil_3d");
sanitize!(sanitize_simulation_integrate_rk4, "integrate_rk4");
sanitize!(sanitize_simulation_integrate_verlet, "integrate_verlet");
sanitize!(
    sanitize_simulation_monte_carlo_integrate,
    "monte_carlo_integrate"
);
// Every scan and compaction kernel (decoupled look-back: flags, fences, the ticket counter).
sanitize!(sanitize_scans_scan_inclusive, "scan_inclusive");
sanitize!(sanitize_scans_scan_exclusive, "scan_exclusive");
sanitize!(sanitize_scans_scan_inclusive_f32, "scan_inclusive_f32");
sanitize!(sanitize_scans_compact_if, "compact_if");
sanitize!(sanitize_scans_compact_mask, "compact_mask");
sanitize!(sanitize_prng_prng_philox, "prng_philox");
sanitize!(sanitize_prng_prng_uniform_f32, "prng_uniform_f32");
sanitize!(sanitize_prng_prng_normal_f32, "prng_normal_f32");
sanitize!(sanitize_prng_prng_dropout_mask, "prng_dropout_mask");
// sorting: the radix passes (per-digit look-back, shared-memory reorder), the bitonic
// tiles and global steps, and the radix-select rounds (top-k ties, compaction).
sanitize!(sanitize_sorting_sort_radix, "sort_radix");
sanitize!(sanitize_sorting_sort_bitonic, "sort_bitonic");
sanitize!(sanitize_sorting_sort_bitonic_kv, "sort_bitonic_kv");
sanitize!(sanitize_sorting_topk_select, "topk_select");
sanitize!(sanitize_sorting_median_select, "median_select");
sanitize!(sanitize_sorting_percentile_select, "percentile_select");
// softmax and normalization: warp-per-row kernels (registers and the strided general path) and
// batch_norm's three launches with their column partials.
sanitize!(sanitize_softmax_softmax_stable, "softmax_stable");
sanitize!(sanitize_softmax_softmax_online, "softmax_online");
sanitize!(sanitize_normalization_layer_norm, "layer_norm");
sanitize!(sanitize_normalization_batch_norm, "batch_norm");
sanitize!(sanitize_normalization_group_norm, "group_norm");
// loss and optimizers: the two-input one-launch reductions, cross_entropy's warp per row with its
// error flag, Adam's four-stream pass, and grad_clip_norm's two launches through the work area.
sanitize!(sanitize_loss_loss_huber, "loss_huber");
sanitize!(sanitize_loss_loss_cross_entropy, "loss_cross_entropy");
sanitize!(sanitize_optimizers_opt_adamw, "opt_adamw");
sanitize!(sanitize_optimizers_grad_clip_norm, "grad_clip_norm");
// linalg: the GEMM's double-buffered shared tiles (racecheck), the misaligned float4 rows of
// matvec and outer_product, spmv's guarded gathers and the one-block triangular solve.
sanitize!(sanitize_linalg_matmul_batched, "matmul_batched");
sanitize!(sanitize_linalg_matvec, "matvec");
sanitize!(sanitize_linalg_outer_product, "outer_product");
sanitize!(sanitize_linalg_spmv_csr, "spmv_csr");
sanitize!(sanitize_linalg_triangular_solve, "triangular_solve");
