//! `kroute`: a thin command line over the library and the harness.

mod commands;
mod npy;
mod peers;
mod route;

use clap::{Parser, Subcommand};
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Parser)]
#[command(
    name = "kroute",
    version,
    about = "Compute kernels on every backend, verified and measured"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(clap::Args, Clone, Default)]
pub struct Filters {
    /// Only kernels of this domain (repeatable).
    #[arg(long = "domain", value_name = "D")]
    pub domains: Vec<String>,
    /// Only this kernel (repeatable).
    #[arg(long = "kernel", value_name = "K")]
    pub kernels: Vec<String>,
    /// Only implementations on this backend (repeatable): scalar, simd, parallel, cuda, wgpu.
    #[arg(long = "backend", value_name = "B")]
    pub backends: Vec<String>,
    /// Only this implementation (repeatable): an id such as simd or cuda (`kroute list` shows
    /// them). Default, with no --backend either: every implementation available here.
    #[arg(long = "impl", value_name = "ID")]
    pub impls: Vec<String>,
}

#[derive(Subcommand)]
enum Command {
    /// The whole catalog with its coverage matrix (kernel × implementation).
    List {
        #[arg(long = "domain", value_name = "D")]
        domains: Vec<String>,
        /// Print JSON instead of a table.
        #[arg(long)]
        json: bool,
        /// Problem size for the bytes and flops shown.
        #[arg(long, default_value_t = 10_000_000.0)]
        n: f64,
    },
    /// Check implementations against the f64 reference (sizes 0, 1, 7, 1000003, N; 10^8 for
    /// sum-, stat- and norm-class kernels) and on every edge case.
    Verify {
        #[command(flatten)]
        filters: Filters,
        /// The main size N.
        #[arg(long, default_value_t = 10_000_000)]
        n: usize,
        /// Skip the N = 10^8 runs of sum-, stat- and norm-class kernels.
        #[arg(long)]
        no_large: bool,
        #[arg(long, default_value_t = 42)]
        seed: u64,
        /// Write every outcome as JSON.
        #[arg(long, value_name = "FILE")]
        json: Option<PathBuf>,
        /// Sweep instead: awkward sizes, every parameter over its range and values across the
        /// f32 range (named cases), then random cases drawn from --seed and shrunk on failure.
        #[arg(long)]
        sweep: bool,
        /// With --sweep: seconds of random cases in all (shared by the kernels selected).
        #[arg(long, default_value_t = 120.0, requires = "sweep")]
        seconds: f64,
        /// With --sweep: at most this many random cases per kernel.
        #[arg(long, default_value_t = 100_000, requires = "sweep")]
        cases: u32,
    },
    /// Describe this machine: CPU, SIMD level dispatched, caches, measured memory bandwidth.
    Probe {
        #[arg(long)]
        json: bool,
    },
    /// Time kernels honestly: verified first, rotated inputs, min / median / p90, GB/s and % of
    /// the probe's measured bandwidth.
    Bench {
        #[command(flatten)]
        filters: Filters,
        /// Problem size (repeatable; default 10^7).
        #[arg(long = "n", value_name = "N")]
        sizes: Vec<f64>,
        /// Write the results (schema kroute.bench/3) to FILE.
        #[arg(long, value_name = "FILE")]
        json: Option<PathBuf>,
        /// Time budget per configuration, in milliseconds.
        #[arg(long, default_value_t = 1500)]
        budget_ms: u64,
        #[arg(long, default_value_t = 42)]
        seed: u64,
        /// Time peer libraries in the same run, alternating with kroute: numpy, torch-cpu,
        /// torch-cpu-1t, torch-cuda, torch-compile-cpu, torch-compile-cuda (fused_custom only),
        /// cupy, jax-cpu, jax-cuda, or all (those installed).
        /// Comma-separated or repeated.
        #[arg(long = "peers", value_name = "LIBS", value_delimiter = ',')]
        peers: Vec<String>,
        /// Python that runs the peers (needs numpy; the others where installed).
        #[arg(long, env = "KROUTE_PYTHON", default_value = "python3")]
        python: String,
        /// The peer server (default: peers/serve.py).
        #[arg(long, value_name = "FILE")]
        peers_script: Option<PathBuf>,
        /// Rounds of (kroute, peers), alternating which goes first; default 2 with --peers, 1
        /// without. 0 verifies everything and times nothing.
        #[arg(long)]
        repeats: Option<usize>,
    },
    /// Run one kernel on .npy files.
    Run {
        kernel: String,
        /// Parameter override, k=v (repeatable).
        #[arg(long = "param", value_name = "K=V")]
        params: Vec<String>,
        /// Input files in the order the entry lists them.
        #[arg(long = "input", value_name = "FILE")]
        inputs: Vec<PathBuf>,
        /// Output files in the order the entry lists them (one per output).
        #[arg(long = "out", value_name = "FILE")]
        outputs: Vec<PathBuf>,
        /// The backend whose first implementation runs it, or auto: the router chooses (the
        /// machine's profile, else the cost model; KROUTE_BACKEND forces).
        #[arg(long, default_value = "auto")]
        backend: String,
        /// The implementation that runs it (overrides --backend).
        #[arg(long = "impl", value_name = "ID")]
        implementation: Option<String>,
        /// Say which implementation ran and why (on stderr).
        #[arg(short, long)]
        verbose: bool,
    },
    /// Which implementation the router picks for a kernel at size N, every candidate's
    /// predicted time and transfer cost, and why the winner won.
    Route {
        kernel: String,
        #[arg(long, default_value_t = 10_000_000.0)]
        n: f64,
        /// Where the data is: host, or cuda (cuda:ORDINAL).
        #[arg(long, default_value = "host")]
        on: String,
        /// The profile to predict from (default: this machine's in the cache folder).
        #[arg(long, value_name = "FILE")]
        profile: Option<PathBuf>,
        /// Free GPU memory to assume, MiB (default: the driver's figure).
        #[arg(long, value_name = "MIB")]
        free_gpu_mib: Option<u64>,
        /// Print the decision as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Time every implementation of the selected kernels at sizes 2^10 … 2^27 (data where each
    /// runs, and for device implementations from host data too) and write the router's profile
    /// to the cache folder (merged with what is there for this machine) and to --out.
    Calibrate {
        /// Only kernels of this domain (repeatable).
        #[arg(long = "domain", value_name = "D")]
        domains: Vec<String>,
        /// Only this kernel (repeatable).
        #[arg(long = "kernel", value_name = "K")]
        kernels: Vec<String>,
        /// Four sizes only: 2^10, 2^14, 2^18, 2^22.
        #[arg(long)]
        quick: bool,
        /// Every K-th power of two from 2^10 (default 1, or 4 with --quick): --quick --step 2
        /// calibrates 2^10, 2^12, …, 2^22.
        #[arg(long, value_name = "K")]
        step: Option<u32>,
        /// No size above this.
        #[arg(long, value_name = "N")]
        max_n: Option<f64>,
        /// Also write the profile here.
        #[arg(long, value_name = "FILE")]
        out: Option<PathBuf>,
        /// Time budget per (implementation, size) for the implementations close to the
        /// fastest, in milliseconds (the others get a sixth of it).
        #[arg(long, default_value_t = 30)]
        budget_ms: u64,
        /// Start no kernel after this many seconds; the profile keeps what was measured and
        /// the kernels left are named.
        #[arg(long, value_name = "S")]
        max_seconds: Option<f64>,
        /// Skip a size where an implementation's one call is predicted (from its last two
        /// sizes) to exceed this, unless it is predicted the fastest there.
        #[arg(long, default_value_t = 500.0, value_name = "MS")]
        max_call_ms: f64,
        /// Measure the machine's bandwidths again instead of reusing the cached profile's.
        #[arg(long)]
        reprobe: bool,
        #[arg(long, default_value_t = 42)]
        seed: u64,
    },
    /// How often the router picks the fastest: at held-out sizes 3·2^k (never calibration
    /// sizes) time every available implementation (host data, and device data with a GPU)
    /// with calibration's loop, ask the router (this machine's profile), and count the cases
    /// where the routed implementation is within 10% of the fastest.
    RouteCheck {
        /// Only kernels of this domain (repeatable).
        #[arg(long = "domain", value_name = "D")]
        domains: Vec<String>,
        /// Only this kernel (repeatable).
        #[arg(long = "kernel", value_name = "K")]
        kernels: Vec<String>,
        /// Fewer sizes: 3·2^11, 3·2^15, 3·2^19, … (those farthest from a quick calibration's).
        #[arg(long)]
        quick: bool,
        /// These held-out sizes instead (repeatable); a size the profile measured is refused.
        #[arg(long = "n", value_name = "N")]
        sizes: Vec<f64>,
        /// No size above this.
        #[arg(long, value_name = "N")]
        max_n: Option<f64>,
        /// The profile to route by (default: this machine's in the cache folder).
        #[arg(long, value_name = "FILE")]
        profile: Option<PathBuf>,
        /// Write every case (schema kroute.route-check/1) to FILE, for `kroute report --accuracy`.
        #[arg(long, value_name = "FILE")]
        json: Option<PathBuf>,
        /// Time budget per (implementation, size), in milliseconds (calibrate's default).
        #[arg(long, default_value_t = 30)]
        budget_ms: u64,
        /// Start no kernel after this many seconds (the kernels left are named).
        #[arg(long, value_name = "S")]
        max_seconds: Option<f64>,
        /// Do not time an implementation the router predicts this many times slower than its
        /// pick (listed as skipped); 0 times every one.
        #[arg(long, default_value_t = 5.0)]
        skip_factor: f64,
        #[arg(long, default_value_t = 42)]
        seed: u64,
        /// Time nothing: re-route the cases of this recorded check (`--json` of an earlier run,
        /// on any machine) with the router of this build and --profile (the profile that run
        /// routed by, fingerprint not checked), and score each pick on the recorded times.
        #[arg(long, value_name = "FILE", requires = "profile")]
        replay: Option<PathBuf>,
    },
    /// Write a kernel's benchmark inputs at size N as .npy files (for peers, and to reproduce a
    /// sweep case).
    Workload {
        kernel: String,
        #[arg(long, default_value_t = 10_000_000.0)]
        n: f64,
        #[arg(long, default_value_t = 42)]
        seed: u64,
        /// Parameter override, k=v (repeatable): a row length other than the default shapes
        /// the inputs.
        #[arg(long = "param", value_name = "K=V")]
        params: Vec<String>,
        /// Alter the float inputs as the sweep does: workload, scale:X, const:X, alt:X, nan,
        /// signs.
        #[arg(long, default_value = "workload")]
        values: String,
        /// Folder for in0.npy, in1.npy, …
        #[arg(long)]
        dir: PathBuf,
    },
    /// Write the conclusions of one or more `bench --json` files: report.md and SVG charts;
    /// with --profile, the machine's routing table and the rules of thumb checked against it;
    /// with --accuracy, the router's accuracy (`kroute route-check --json`).
    Report {
        /// Results files (kroute.bench/2 or /3); a later file's row replaces an earlier one's.
        /// May be left out when --profile or --accuracy is given.
        #[arg(required_unless_present_any = ["profile", "accuracy"])]
        results: Vec<PathBuf>,
        /// A router profile (`kroute calibrate --out`): adds the routing table.
        #[arg(long, value_name = "FILE")]
        profile: Option<PathBuf>,
        /// A route-check file (`kroute route-check --json`): adds the router's accuracy.
        /// Repeatable: checks run one domain at a time count as one.
        #[arg(long, value_name = "FILE")]
        accuracy: Vec<PathBuf>,
        /// Folder for report.md and the charts.
        #[arg(short, long, value_name = "DIR")]
        out: PathBuf,
    },
    /// Check output files against the f64 reference (how peers are verified).
    Check {
        kernel: String,
        #[arg(long = "param", value_name = "K=V")]
        params: Vec<String>,
        #[arg(long = "input", value_name = "FILE")]
        inputs: Vec<PathBuf>,
        #[arg(long = "output", value_name = "FILE")]
        outputs: Vec<PathBuf>,
    },
}

fn main() -> ExitCode {
    // Behave like a Unix tool when the reader goes away (`kroute list | head`): Rust ignores
    // SIGPIPE, which turns the next print into a panic.
    #[cfg(unix)]
    // SAFETY: called before any other thread exists; restores the default disposition.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
    let cli = Cli::parse();
    let result = match cli.command {
        Command::List { domains, json, n } => commands::list(&domains, json, n),
        Command::Verify {
            filters,
            sweep: true,
            seed,
            json,
            seconds,
            cases,
            ..
        } => commands::sweep(&filters, seed, seconds, cases, json),
        Command::Verify {
            filters,
            n,
            no_large,
            seed,
            json,
            ..
        } => commands::verify(&filters, n, !no_large, seed, json),
        Command::Probe { json } => commands::probe(json),
        Command::Bench {
            filters,
            sizes,
            json,
            budget_ms,
            seed,
            repeats,
            peers,
            python,
            peers_script,
        } => commands::bench(
            &filters,
            &sizes,
            json,
            budget_ms,
            seed,
            &commands::PeerArgs {
                repeats: repeats.unwrap_or(if peers.is_empty() { 1 } else { 2 }),
                libraries: peers,
                python,
                script: peers_script,
            },
        ),
        Command::Run {
            kernel,
            params,
            inputs,
            outputs,
            backend,
            implementation,
            verbose,
        } => commands::run(
            &kernel,
            &params,
            &inputs,
            &outputs,
            &backend,
            implementation.as_deref(),
            verbose,
        ),
        Command::Route {
            kernel,
            n,
            on,
            profile,
            free_gpu_mib,
            json,
        } => crate::route::route(&kernel, n, &on, profile.as_deref(), free_gpu_mib, json),
        Command::Calibrate {
            domains,
            kernels,
            quick,
            step,
            max_n,
            out,
            budget_ms,
            max_seconds,
            max_call_ms,
            reprobe,
            seed,
        } => crate::route::calibrate(&crate::route::CalArgs {
            domains,
            kernels,
            quick,
            step,
            max_n,
            out,
            budget_ms,
            max_seconds,
            max_call_ms,
            reprobe,
            seed,
        }),
        Command::Workload {
            kernel,
            n,
            seed,
            params,
            values,
            dir,
        } => commands::workload(&kernel, n, seed, &params, &values, &dir),
        Command::Report {
            results,
            profile,
            accuracy,
            out,
        } => commands::report(&results, profile.as_deref(), &accuracy, &out),
        Command::RouteCheck {
            domains,
            kernels,
            quick,
            sizes,
            max_n,
            profile,
            json,
            budget_ms,
            max_seconds,
            skip_factor,
            seed,
            replay,
        } => crate::route::route_check(&crate::route::CheckArgs {
            domains,
            kernels,
            quick,
            sizes,
            max_n,
            profile,
            json,
            budget_ms,
            max_seconds,
            skip_factor,
            seed,
            replay,
        }),
        Command::Check {
            kernel,
            params,
            inputs,
            outputs,
        } => commands::check(&kernel, &params, &inputs, &outputs),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(1)
        }
    }
}
