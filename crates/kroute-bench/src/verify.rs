//! Verification runs: every implementation against the f64 reference on the workload at several
//! sizes and on every edge case its entry lists. `cargo test` and `kroute verify` both call
//! `verify`.

use kroute::verify::{compare, Agreement};
use kroute::{Backend, Implementation, Kernel, Params, Tensor};
use serde::Serialize;

/// The awkward sizes every kernel is checked at (besides the chosen N): empty, one, a length
/// below any SIMD width, and a prime above any block size.
pub const SMALL_SIZES: [usize; 4] = [0, 1, 7, 1_000_003];

/// N = 10^8 for kernels whose naive form fails only at scale (docs/kernels/KERNELS.md §3).
pub const LARGE_N: usize = 100_000_000;

/// The 10^8 check exists for sums over N terms. A kernel whose workload at 10^8 costs more than
/// this many flops (attention: 2·10^11 at S = 512) accumulates over its own dimensions (S, D),
/// which every smaller workload already exercises in full; it is checked at 10^8 only when
/// asked (`kroute verify --n 1e8`).
pub const LARGE_N_MAX_FLOPS: f64 = 2e10;

#[derive(Clone, Debug, Serialize)]
pub struct Outcome {
    pub kernel: &'static str,
    pub implementation: &'static str,
    pub backend: Backend,
    /// "n=1000003" or the edge case's label.
    pub case: String,
    pub passed: bool,
    /// Worst error over what the tolerance allows, per output (≤ 1 passes).
    pub worst_ratio: f64,
    pub detail: Option<String>,
}

/// The sizes to verify `k` at: the small sizes, `n`, and 10^8 for sum-, stat- and norm-class
/// kernels when `large` is set.
pub fn sizes_for(k: &Kernel, n: usize, large: bool) -> Vec<usize> {
    let mut v = SMALL_SIZES.to_vec();
    v.push(n);
    if large
        && k.spec.tolerance.needs_large_n()
        && (k.spec.flops)(LARGE_N as u64) <= LARGE_N_MAX_FLOPS
    {
        v.push(LARGE_N);
    }
    v.sort_unstable();
    v.dedup();
    v
}

/// Run `imp` over `inputs` and check every output against the reference.
pub fn check_case(
    k: &Kernel,
    imp: &'static Implementation,
    inputs: &[Tensor],
    params: &Params,
    case: String,
) -> Outcome {
    check_many(k, &[imp], inputs, params, case).remove(0)
}

/// Run each of `imps` over `inputs` and check every output against the reference, computed
/// once.
pub fn check_many(
    k: &Kernel,
    imps: &[&'static Implementation],
    inputs: &[Tensor],
    params: &Params,
    case: String,
) -> Vec<Outcome> {
    let refs: Vec<&Tensor> = inputs.iter().collect();
    let mut expected = None;
    imps.iter()
        .map(|&imp| {
            let mut out = Outcome {
                kernel: k.name(),
                implementation: imp.id,
                backend: imp.backend,
                case: case.clone(),
                passed: false,
                worst_ratio: f64::INFINITY,
                detail: None,
            };
            let mut outputs = match k.outputs_for(&refs, params) {
                Ok(o) => o,
                // An empty input to a reduction without identity must be refused
                // (docs/kernels/KERNELS.md §1).
                Err(e @ kroute::Error::Empty(_)) if inputs.iter().any(|t| t.is_empty()) => {
                    out.passed = true;
                    out.worst_ratio = 0.0;
                    out.detail = Some(format!("refused as required: {e}"));
                    return out;
                }
                Err(e) => {
                    out.detail = Some(format!("inputs rejected: {e}"));
                    return out;
                }
            };
            // Poison the outputs so an element the kernel never writes cannot pass by luck.
            outputs.iter_mut().for_each(Tensor::poison);
            if let Err(e) = k.run_into(imp, &refs, params, &mut outputs) {
                out.detail = Some(format!("run failed: {e}"));
                return out;
            }
            let expected = expected.get_or_insert_with(|| k.reference(&refs, params));
            let results: Vec<Agreement> = outputs
                .iter()
                .zip(expected.iter())
                .map(|(o, e)| compare(k.spec.tolerance, o, e))
                .collect();
            out.passed = results.iter().all(|a| a.passed);
            out.worst_ratio = results.iter().map(|a| a.worst_ratio).fold(0.0, f64::max);
            out.detail = results.iter().zip(k.outputs()).find_map(|(a, name)| {
                a.first_failure
                    .as_ref()
                    .map(|f| format!("output '{name}': {f} ({} failing)", a.failures))
            });
            out
        })
        .collect()
}

/// Verify one implementation at `sizes` (inputs from `inputs_at`, which lets the caller share
/// generated workloads between implementations) and on the kernel's edge cases.
pub fn verify(
    k: &Kernel,
    imp: &'static Implementation,
    sizes: &[usize],
    inputs_at: impl FnMut(usize) -> std::sync::Arc<Vec<Tensor>>,
) -> Vec<Outcome> {
    verify_with(k, imp, sizes, &Params::defaults(k.spec), inputs_at)
}

/// Whether two input sets are the same tensors (same shapes, types and values, bit for bit).
fn same_inputs(a: &[Tensor], b: &[Tensor]) -> bool {
    a.len() == b.len()
        && a.iter().zip(b).all(|(x, y)| {
            x.dtype() == y.dtype()
                && x.shape() == y.shape()
                && match (x.as_f32_bits(), y.as_f32_bits()) {
                    (Ok(p), Ok(q)) => p == q,
                    _ => x
                        .to_f64_vec()
                        .iter()
                        .zip(y.to_f64_vec())
                        .all(|(u, w)| u.to_bits() == w.to_bits()),
                }
        })
}

/// `verify` at these parameters (the workloads from `inputs_at` must be built with them). A
/// size whose inputs equal an earlier size's (B = max(1, …) makes every small N one batch) is
/// checked once.
pub fn verify_with(
    k: &Kernel,
    imp: &'static Implementation,
    sizes: &[usize],
    params: &Params,
    inputs_at: impl FnMut(usize) -> std::sync::Arc<Vec<Tensor>>,
) -> Vec<Outcome> {
    verify_many(k, &[imp], sizes, params, inputs_at).remove(0)
}

/// `verify_with` for several implementations of one kernel at once: each case's f64 reference
/// is computed once for all of them (at 10^8 it costs more than a CPU implementation's run).
/// Returns each implementation's outcomes, in the order of `imps`.
pub fn verify_many(
    k: &Kernel,
    imps: &[&'static Implementation],
    sizes: &[usize],
    params: &Params,
    mut inputs_at: impl FnMut(usize) -> std::sync::Arc<Vec<Tensor>>,
) -> Vec<Vec<Outcome>> {
    let params = params.clone();
    let mut per: Vec<Vec<Outcome>> = vec![Vec::new(); imps.len()];
    let mut add = |outcomes: Vec<Outcome>| {
        for (o, v) in outcomes.into_iter().zip(per.iter_mut()) {
            v.push(o);
        }
    };
    let mut seen: Vec<std::sync::Arc<Vec<Tensor>>> = Vec::new();
    for &n in sizes {
        let inputs = inputs_at(n);
        if seen.iter().any(|s| same_inputs(s, &inputs)) {
            continue;
        }
        add(check_many(k, imps, &inputs, &params, format!("n={n}")));
        seen.push(inputs);
    }
    for case in k.edge_cases() {
        add(check_many(
            k,
            imps,
            &case.inputs,
            &params,
            case.label.to_string(),
        ));
    }
    per
}
