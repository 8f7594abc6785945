//! The sweep: every implementation checked beyond the defaults — awkward sizes, every parameter
//! over its documented range, values across the whole f32 range — against the same f64
//! reference and tolerance as `verify`. A fixed list of named cases runs first (reproducible as
//! written); then proptest draws random cases from a seed and shrinks any failure to a minimal
//! one, printed as `kroute` commands that reproduce it.

use crate::verify::{check_many, Outcome};
use kroute::spec::{ParamKind, ParamSpec};
use kroute::tensor::HostData;
use kroute::{Error, Implementation, Kernel, Params, Result, Tensor};
use proptest::prelude::*;
use proptest::test_runner::{Config, RngAlgorithm, TestCaseError, TestError, TestRng, TestRunner};
use serde::Serialize;
use std::cell::RefCell;
use std::time::{Duration, Instant};

/// Sizes every kernel is swept at: empty, tiny, primes, powers of two ± 1, SIMD-width, warp and
/// block multiples ± 1, and sizes past the parallel split (2 · 2^16).
pub const SIZES: &[usize] = &[
    0, 1, 2, 3, 5, 7, 8, 13, 15, 16, 17, 31, 32, 33, 63, 64, 65, 127, 128, 129, 255, 256, 257, 511,
    512, 513, 1023, 1024, 1025, 4095, 4096, 4097, 65535, 65536, 65537, 99_991, 131_073, 1_048_575,
    1_048_577,
];

/// Integer parameters (row lengths, bin counts, taps) are tried at these values where their
/// range allows: 1 … 65536 with the lengths embedding and audio users pass.
const INTS: &[f64] = &[
    1.0, 2.0, 3.0, 4.0, 5.0, 7.0, 8.0, 15.0, 16.0, 17.0, 31.0, 32.0, 33.0, 63.0, 64.0, 65.0, 127.0,
    128.0, 129.0, 255.0, 256.0, 257.0, 511.0, 512.0, 513.0, 767.0, 768.0, 769.0, 1000.0, 1023.0,
    1024.0, 1025.0, 2047.0, 2048.0, 4095.0, 4096.0, 4097.0, 8192.0, 65535.0, 65536.0,
];

/// The largest integer parameter the sweep tries (a row of 65536 f32 is 256 KiB).
pub const INT_CAP: f64 = 65536.0;

/// Float parameters are tried at these values where their range allows (f32::MAX and the
/// smallest denormal included).
const FLOATS: &[f64] = &[
    0.0, -0.0, 1.0, -1.0, 0.5, 2.0, 1e-8, 100.0, -100.0, 1e-38, -1e-38, 1e-45, -1e-45, 1e30, -1e30,
    3.4e38, -3.4e38,
];

/// How the workload's float inputs are altered (integer and mask inputs are left alone).
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Values {
    /// The contract's workload as generated.
    Workload,
    /// Every float input multiplied by this factor in f64 and rounded once (1e-40 makes
    /// denormals; 1e38 pushes the normal tail to ±inf).
    Scale(f64),
    /// Every float element set to this value (constants, ±0, denormals, ±inf).
    Const(f32),
    /// Every float element NaN.
    Nan,
    /// Every other element's sign flipped (mixed signs where the workload is one-signed).
    Signs,
    /// ±c alternately: sums that cancel exactly while any f32 partial of one sign overflows.
    Alternating(f32),
}

/// The value transforms every kernel is swept with.
pub const VALUES: &[Values] = &[
    Values::Scale(1e-45),
    Values::Scale(1e-40),
    Values::Scale(1e-38),
    Values::Scale(1e-30),
    Values::Scale(1e-25),
    Values::Scale(1e-20),
    Values::Scale(1e-10),
    Values::Scale(1e10),
    Values::Scale(1e18),
    Values::Scale(1e20),
    Values::Scale(1e30),
    Values::Scale(2e37),
    Values::Scale(1e38),
    Values::Const(0.0),
    Values::Const(-0.0),
    Values::Const(1.0),
    Values::Const(-3.5),
    Values::Const(1e-40),
    Values::Const(2e38),
    Values::Const(-2e38),
    Values::Const(f32::INFINITY),
    Values::Const(f32::NEG_INFINITY),
    Values::Nan,
    Values::Signs,
    Values::Alternating(2e38),
    Values::Alternating(1e20),
    Values::Alternating(1e-40),
];

impl Values {
    /// The form `--values` takes: workload, scale:X, const:X, alt:X, nan, signs.
    pub fn label(&self) -> String {
        match self {
            Values::Workload => "workload".into(),
            Values::Scale(s) => format!("scale:{s:e}"),
            Values::Const(c) => format!("const:{c:e}"),
            Values::Nan => "nan".into(),
            Values::Signs => "signs".into(),
            Values::Alternating(c) => format!("alt:{c:e}"),
        }
    }

    pub fn parse(text: &str) -> Result<Values> {
        let bad = || {
            Error::Param(format!(
                "--values takes workload, scale:X, const:X, alt:X, nan or signs; got '{text}'"
            ))
        };
        let number = |v: &str| v.trim().parse::<f64>().map_err(|_| bad());
        Ok(match text.split_once(':') {
            None if text == "workload" => Values::Workload,
            None if text == "nan" => Values::Nan,
            None if text == "signs" => Values::Signs,
            Some(("scale", v)) => Values::Scale(number(v)?),
            Some(("const", v)) => Values::Const(number(v)? as f32),
            Some(("alt", v)) => Values::Alternating(number(v)? as f32),
            _ => return Err(bad()),
        })
    }

    fn f64(&self, i: usize, x: f64) -> f64 {
        match *self {
            Values::Workload => x,
            Values::Scale(s) => x * s,
            Values::Const(c) => c as f64,
            Values::Nan => f64::NAN,
            Values::Signs if i % 2 == 1 => -x,
            Values::Signs => x,
            Values::Alternating(c) if i % 2 == 1 => -(c as f64),
            Values::Alternating(c) => c as f64,
        }
    }

    /// Apply to one input tensor (f32 and f16 elements; others unchanged).
    pub fn apply(&self, t: &mut Tensor) {
        if *self == Values::Workload {
            return;
        }
        if let Ok(v) = t.as_f32_mut() {
            for (i, x) in v.iter_mut().enumerate() {
                *x = self.f64(i, *x as f64) as f32;
            }
        } else if let Ok(v) = t.as_f16_mut() {
            for (i, x) in v.iter_mut().enumerate() {
                *x = half::f16::from_f64(self.f64(i, x.to_f64()));
            }
        }
    }
}

/// One sweep case: the workload at size `n` from `seed`, these parameter values (the rest at
/// their defaults), its float inputs altered by `values`.
#[derive(Clone, Debug)]
pub struct Case {
    pub n: usize,
    pub seed: u64,
    pub params: Vec<(&'static str, f64)>,
    pub values: Values,
}

impl Case {
    fn at(n: usize, params: Vec<(&'static str, f64)>, values: Values) -> Case {
        Case {
            n,
            seed: 42,
            params,
            values,
        }
    }

    /// The parameters, checked against the kernel's ranges.
    pub fn params(&self, k: &Kernel) -> Result<Params> {
        let mut p = Params::defaults(k.spec);
        for &(name, v) in &self.params {
            p.set(k.spec, name, v)?;
        }
        Ok(p)
    }

    pub fn inputs(&self, k: &Kernel, params: &Params) -> Vec<Tensor> {
        let mut inputs = k.workload_with(self.n, self.seed, params);
        inputs.iter_mut().for_each(|t| self.values.apply(t));
        inputs
    }

    pub fn label(&self) -> String {
        let mut s = format!("n={} seed={}", self.n, self.seed);
        for (name, v) in &self.params {
            s += &format!(" {name}={v:e}");
        }
        if self.values != Values::Workload {
            s += &format!(" values={}", self.values.label());
        }
        s
    }

    /// Shell commands that rebuild this case's inputs, run `imp` on them and check the outputs
    /// against the reference.
    pub fn reproducer(&self, k: &Kernel, imp: &str) -> String {
        let dir = "/tmp/kroute-repro";
        let params: String = self
            .params
            .iter()
            .map(|(name, v)| format!(" --param {name}={v:e}"))
            .collect();
        let files = |prefix: &str, flag: &str, count: usize| -> String {
            (0..count)
                .map(|i| format!(" {flag} {dir}/{prefix}{i}.npy"))
                .collect()
        };
        let ins = files("in", "--input", k.inputs().len());
        format!(
            "kroute workload {kernel} --n {n} --seed {seed}{params} --values {values} --dir {dir} && \\\n  \
             kroute run {kernel} --impl {imp}{params}{ins}{outs} && \\\n  \
             kroute check {kernel}{params}{ins}{checks}",
            kernel = k.name(),
            n = self.n,
            seed = self.seed,
            values = self.values.label(),
            outs = files("out", "--out", k.outputs().len()),
            checks = files("out", "--output", k.outputs().len()),
        )
    }
}

/// The largest time-step count the sweep tries. Steps multiply the work without changing any
/// shape or index: 64 steps exercise the multi-step ping-pong and the steps-scaled tolerance as
/// well as 65536 do, at a thousandth of the time (the unit tests of the simulation domain run
/// the long ones).
pub const STEPS_CAP: f64 = 64.0;

/// The largest sequence length the sweep tries (attention). Every attention call is a whole
/// batch of S (B = max(1, …)) at 4·32·S²·128 flops: S = 129 crosses the 64-row query tiles
/// (CPU and CUDA) and the CUDA 64-key tiles at 0.27 GFLOP a call; S = 65536 would be 7·10^13.
/// Longer sequences (flash's 256-key CPU blocks, S = 1000) are in tests/attention.rs.
pub const SEQ_CAP: f64 = 129.0;

/// The sequence length of the named cases that do not set it (sizes, value transforms, other
/// parameters): not a multiple of any tile, and cheap enough for the 90 such cases.
pub const SEQ_BASE: f64 = 33.0;

/// The parameters every named case starts from: `seq` at `SEQ_BASE` where the kernel has one
/// and its default is larger (so the case's label and reproducer carry it).
fn base_params(k: &Kernel) -> Vec<(&'static str, f64)> {
    k.spec
        .params
        .iter()
        .filter(|p| p.name == "seq" && p.default > SEQ_BASE)
        .map(|p| (p.name, SEQ_BASE))
        .collect()
}

/// The largest value the sweep gives a parameter: its maximum, integers capped at `INT_CAP`
/// (time steps at `STEPS_CAP`, sequence lengths at `SEQ_CAP`).
fn sweep_max(p: &ParamSpec) -> f64 {
    match p.kind {
        ParamKind::Int if p.name == "steps" => p.max.min(STEPS_CAP.max(p.min)),
        ParamKind::Int if p.name == "seq" => p.max.min(SEQ_CAP.max(p.min)),
        ParamKind::Int => p.max.min(INT_CAP.max(p.min)),
        _ => p.max,
    }
}

/// The values a parameter is tried at: its default, its bounds (integers capped at
/// `INT_CAP`) and the listed values inside its range.
pub fn param_values(p: &ParamSpec) -> Vec<f64> {
    let (list, hi) = match p.kind {
        ParamKind::Int => (INTS, sweep_max(p)),
        _ => (FLOATS, p.max),
    };
    // The default itself is covered by every other case; −0 and +0 count as different values.
    let mut seen = vec![p.default.to_bits()];
    let mut v = vec![p.min, hi];
    v.extend(list.iter().copied().filter(|&x| x >= p.min && x <= hi));
    v.retain(|x| {
        let new = !seen.contains(&x.to_bits());
        seen.push(x.to_bits());
        new
    });
    v
}

/// The named cases: every size at the defaults; every parameter at each of its values (the
/// others at their defaults); pairs of float parameters equal and at opposite ends (clamp
/// bounds equal, a histogram over the whole f32 range); every value transform at a size below
/// and one above the parallel split.
pub fn named_cases(k: &Kernel) -> Vec<Case> {
    let base = base_params(k);
    // The base parameters with (name, v) set.
    let with = |name: &'static str, v: f64| -> Vec<(&'static str, f64)> {
        let mut p: Vec<_> = base.iter().copied().filter(|b| b.0 != name).collect();
        p.push((name, v));
        p
    };
    let mut cases: Vec<Case> = SIZES
        .iter()
        .map(|&n| Case::at(n, base.clone(), Values::Workload))
        .collect();
    for p in k.spec.params {
        for v in param_values(p) {
            // Three rows of an integer parameter's length (row kernels), else a size that is
            // no multiple of any vector width.
            let n = match p.kind {
                ParamKind::Int => 3 * v as usize + 1,
                _ => 10_007,
            };
            cases.push(Case::at(n, with(p.name, v), Values::Workload));
        }
    }
    let floats: Vec<&ParamSpec> = k
        .spec
        .params
        .iter()
        .filter(|p| p.kind != ParamKind::Int)
        .collect();
    if let [a, b, ..] = floats[..] {
        let mut pairs: Vec<(f64, f64)> = [-1.0, 0.0, 1.0, 1e-40, 3e38, -3e38]
            .iter()
            .map(|&v| (v, v))
            .collect();
        pairs.extend([
            (a.min, b.max),
            (0.0, 1e-38),
            (1.0, 1.0 + 2f64.powi(-23)),
            (-1e30, 1e30),
        ]);
        for (x, y) in pairs {
            for values in [Values::Workload, Values::Scale(1e38), Values::Scale(1e-38)] {
                let mut p = with(a.name, x);
                p.push((b.name, y));
                cases.push(Case::at(10_007, p, values));
            }
        }
    }
    for &values in VALUES {
        for n in [10_007, 300_007] {
            cases.push(Case::at(n, base.clone(), values));
        }
    }
    cases
}

/// A random case: any size up to 70 000 or a listed one, each parameter at a listed value or
/// anywhere in its range (floats log-uniform in magnitude), and the values scaled by any power
/// of ten the f32 range holds or transformed as in `VALUES`.
pub fn random_cases(k: &Kernel) -> impl Strategy<Value = Case> {
    let size = prop_oneof![proptest::sample::select(SIZES.to_vec()), 0usize..70_000,];
    let params: Vec<BoxedStrategy<(&'static str, f64)>> = k
        .spec
        .params
        .iter()
        .map(|p| {
            let name = p.name;
            let listed = proptest::sample::select(param_values(p)).boxed();
            let any = match p.kind {
                ParamKind::Int => (p.min as u64..=sweep_max(p) as u64)
                    .prop_map(|v| v as f64)
                    .boxed(),
                _ => {
                    let (lo, hi) = (p.min, sweep_max(p));
                    (any::<bool>(), -45.0f64..38.5)
                        .prop_map(move |(neg, e)| {
                            let v = 10f64.powf(e) * if neg { -1.0 } else { 1.0 };
                            v.clamp(lo, hi)
                        })
                        .boxed()
                }
            };
            prop_oneof![listed, any]
                .prop_map(move |v| (name, v))
                .boxed()
        })
        .collect();
    let values = prop_oneof![
        Just(Values::Workload),
        (-45i32..=38).prop_map(|e| Values::Scale(10f64.powi(e))),
        proptest::sample::select(VALUES.to_vec()),
    ];
    (size, 0u64..1000, params, values).prop_map(|(n, seed, params, values)| Case {
        n,
        seed,
        params,
        values,
    })
}

/// A failing check, minimal where proptest shrank it.
#[derive(Clone, Debug, Serialize)]
pub struct Failure {
    pub kernel: &'static str,
    pub implementation: &'static str,
    pub case: String,
    pub detail: String,
    pub reproducer: String,
}

/// What the sweep did for one kernel.
#[derive(Clone, Debug, Default, Serialize)]
pub struct Report {
    pub kernel: &'static str,
    pub implementations: Vec<&'static str>,
    /// Cases whose parameters the kernel accepted, run on every implementation.
    pub cases: usize,
    /// Cases refused with a clear error (parameters outside a joint constraint such as lo < hi,
    /// or a size the parameters cannot shape), identically on every implementation.
    pub refused: usize,
    /// Implementation × case checks run, and how many passed.
    pub checks: usize,
    pub passed: usize,
    pub random_cases: usize,
    /// Named cases not run because an earlier one had the same parameters and inputs.
    pub repeats: usize,
    pub seed: u64,
    pub failures: Vec<Failure>,
}

/// How long the random part runs: `cases` random cases, or until `seconds` pass, whichever
/// ends first.
#[derive(Clone, Copy, Debug)]
pub struct Budget {
    pub cases: u32,
    pub seconds: f64,
}

/// Check one case on every implementation; None when the kernel refuses its parameters.
fn run_case(k: &Kernel, imps: &[&'static Implementation], case: &Case) -> Option<Vec<Outcome>> {
    let params = case.params(k).ok()?;
    let inputs = case.inputs(k, &params);
    run_inputs(k, imps, case, &params, &inputs)
}

fn run_inputs(
    k: &Kernel,
    imps: &[&'static Implementation],
    case: &Case,
    params: &Params,
    inputs: &[Tensor],
) -> Option<Vec<Outcome>> {
    let refs: Vec<&Tensor> = inputs.iter().collect();
    match k.check(&refs, &params) {
        Ok(_) => {}
        Err(Error::Empty(_)) => {}
        Err(_) => return None,
    }
    Some(check_many(k, imps, inputs, params, case.label()))
}

/// A hash of a case's parameters and input tensors (dtype, shape, every bit): two named cases
/// with the same one run the same computation.
fn fingerprint(params: &Params, inputs: &[Tensor]) -> u64 {
    use std::hash::{Hash, Hasher};
    let mut h = std::collections::hash_map::DefaultHasher::new();
    format!("{params:?}").hash(&mut h);
    for t in inputs {
        t.shape().hash(&mut h);
        match t.host() {
            Ok(HostData::F32(v)) => v.iter().for_each(|x| x.to_bits().hash(&mut h)),
            Ok(HostData::F16(v)) => v.iter().for_each(|x| x.to_bits().hash(&mut h)),
            Ok(HostData::U8(v)) => (0u8, v).hash(&mut h),
            Ok(HostData::I8(v)) => (1u8, v).hash(&mut h),
            Ok(HostData::U32(v)) => (2u8, v).hash(&mut h),
            Ok(HostData::U64(v)) => (3u8, v).hash(&mut h),
            Err(_) => t.len().hash(&mut h),
        }
        t.dtype().name().hash(&mut h);
    }
    h.finish()
}

fn tally(report: &mut Report, k: &Kernel, case: &Case, outcomes: Option<Vec<Outcome>>) {
    let Some(outcomes) = outcomes else {
        report.refused += 1;
        return;
    };
    report.cases += 1;
    for o in outcomes {
        report.checks += 1;
        if o.passed {
            report.passed += 1;
        } else {
            report.failures.push(Failure {
                kernel: o.kernel,
                implementation: o.implementation,
                case: o.case,
                detail: o.detail.unwrap_or_default(),
                reproducer: case.reproducer(k, o.implementation),
            });
        }
    }
}

/// Sweep `imps` (implementations of `k`): every named case, then random cases from `seed`
/// within `budget`, the first failing random case shrunk to a minimal one.
pub fn sweep(k: &Kernel, imps: &[&'static Implementation], budget: Budget, seed: u64) -> Report {
    let mut report = Report {
        kernel: k.name(),
        implementations: imps.iter().map(|i| i.id).collect(),
        seed,
        ..Report::default()
    };
    let start = Instant::now();
    // Sizes below a kernel's smallest shape all make the same inputs (attention at fixed S and
    // D: one batch for every N up to H·S·D): each distinct computation runs once.
    let mut seen = std::collections::HashSet::new();
    for case in named_cases(k) {
        let Ok(params) = case.params(k) else {
            tally(&mut report, k, &case, None);
            continue;
        };
        let inputs = case.inputs(k, &params);
        if !seen.insert(fingerprint(&params, &inputs)) {
            report.repeats += 1;
            continue;
        }
        let outcomes = run_inputs(k, imps, &case, &params, &inputs);
        tally(&mut report, k, &case, outcomes);
    }
    if budget.cases == 0 {
        return report;
    }
    let deadline = start + Duration::from_secs_f64(budget.seconds.max(0.0));
    let config = Config {
        cases: budget.cases,
        failure_persistence: None,
        max_shrink_iters: 2048,
        max_global_rejects: budget.cases.saturating_mul(4),
        ..Config::default()
    };
    let mut seed_bytes = [0u8; 32];
    seed_bytes[..8].copy_from_slice(&seed.to_le_bytes());
    seed_bytes[8..16].copy_from_slice(&(k.name().len() as u64).to_le_bytes());
    for (i, b) in k.name().bytes().enumerate() {
        seed_bytes[16 + i % 16] ^= b;
    }
    let mut runner = TestRunner::new_with_rng(
        config,
        TestRng::from_seed(RngAlgorithm::ChaCha, &seed_bytes),
    );
    // The runner's closure is `Fn`: tallies go through a RefCell. While shrinking, the closure
    // runs on smaller cases that are not counted again.
    let random = RefCell::new(Report::default());
    let shrinking = RefCell::new(false);
    let result = runner.run(&random_cases(k), |case| {
        if Instant::now() > deadline && !*shrinking.borrow() {
            // Out of time: pass the remaining cases unseen (they are not counted).
            return Ok(());
        }
        let outcomes = run_case(k, imps, &case);
        let failed = outcomes
            .as_ref()
            .and_then(|o| o.iter().find(|o| !o.passed).cloned());
        if !*shrinking.borrow() {
            let mut r = random.borrow_mut();
            r.random_cases += 1;
            tally(&mut r, k, &case, outcomes);
            // Only the shrunk failure is reported for the random part (below).
            r.failures.clear();
        }
        match failed {
            Some(o) => {
                *shrinking.borrow_mut() = true;
                Err(TestCaseError::fail(format!(
                    "{}: {}",
                    o.implementation,
                    o.detail.unwrap_or_default()
                )))
            }
            None => Ok(()),
        }
    });
    let r = random.into_inner();
    report.cases += r.cases;
    report.refused += r.refused;
    report.checks += r.checks;
    report.passed += r.passed;
    report.random_cases = r.random_cases;
    if let Err(TestError::Fail(_, minimal)) = result {
        // Re-run the minimal case to name every implementation it fails on.
        let mut again = Report::default();
        tally(&mut again, k, &minimal, run_case(k, imps, &minimal));
        if !again.failures.is_empty() {
            report.failures.extend(again.failures);
        } else {
            report.failures.push(Failure {
                kernel: k.name(),
                implementation: "?",
                case: minimal.label(),
                detail: "failed while shrinking but passes alone (not deterministic)".into(),
                reproducer: minimal.reproducer(k, imps.first().map_or("scalar", |i| i.id)),
            });
        }
    }
    report
}
