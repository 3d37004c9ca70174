//! `wes`: run a WebAssembly module from the command line.
//!
//! ```text
//! wes run FILE [--invoke NAME] [ARG...] [--gas N] [--pricing FILE] [--config FILE] [--cache DIR] [--json]
//!         [--backend jit|interp|tiered] [--metrics prometheus|json] [--profile OUT.svg] [--profile-folded OUT.txt]
//! wes compile FILE [-o FILE.cwasm] [--pricing FILE] [--config FILE]
//! wes inspect FILE [--json] [--config FILE]
//! wes wast FILE... [--config FILE]
//! ```
//!
//! The engine is built from a `wes::RuntimeConfig`: the defaults, or `--config FILE` (TOML or
//! JSON, see examples/wes.toml). Every run is metered unless the configuration turns it off:
//! under the default pricing table (docs/pricing.md), the configuration's, or the one given
//! with `--pricing`, with the limit given by `--gas` or the configuration's `gas.default_limit`.
//!
//! `wes compile` writes a compiled artifact that carries its wasm bytes, so `wes run
//! FILE.cwasm` needs nothing else; run it with the configuration it was compiled with (see
//! `compile.rs`). `--cache DIR` loads the code through a cache directory several processes may
//! share (compiled and written on a miss).
//!
//! Exit status: 0 success, 1 the wasm code trapped, 2 unusable input (unreadable file, invalid
//! module, unknown export, wrong arguments), always with a one-line message on stderr.

mod args;
mod compile;
mod inspect;
mod output;
mod profile;
mod progress;
mod run;
mod wast;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

#[derive(Parser, Debug)]
#[command(name = "wes", version, about = "WES: a deterministic WebAssembly runtime")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Instantiate FILE (.wasm, .wat, or a .cwasm artifact from `wes compile`) and call an export.
    ///
    /// Without --invoke, runs the `_start` export, or only the start function if there is no
    /// `_start`. Arguments are parsed by the export's parameter types: integers in decimal or
    /// 0x-hex, floats as decimals, `inf`, `-inf`, `nan` or `nan:0xPAYLOAD`, references as
    /// `null` (or a number for externref).
    Run {
        /// The module, binary or text.
        file: PathBuf,
        /// The export to call.
        #[arg(long)]
        invoke: Option<String>,
        /// Print one JSON object instead of plain results.
        #[arg(long)]
        json: bool,
        /// The gas limit of the run (start function and call together); running out traps
        /// with `OutOfGas`.
        #[arg(long, value_name = "N")]
        gas: Option<u64>,
        /// A pricing table (.toml or .json) to charge gas by, instead of the configuration's.
        #[arg(long, value_name = "FILE")]
        pricing: Option<PathBuf>,
        /// A runtime configuration (.toml or .json, see examples/wes.toml).
        #[arg(long, value_name = "FILE")]
        config: Option<PathBuf>,
        /// A compiled-artifact cache directory: the code is loaded from it, or compiled and
        /// written to it. Several processes may share one.
        #[arg(long, value_name = "DIR")]
        cache: Option<PathBuf>,
        /// The backend, instead of the configuration's `performance.backend`.
        #[arg(long, value_enum)]
        backend: Option<Backend>,
        /// After the run, print the runtime's metrics to stderr in this format.
        #[arg(long, value_enum, value_name = "FORMAT")]
        metrics: Option<MetricsFormat>,
        /// Profile the call and write a flame graph of its gas per function (SVG).
        #[arg(long, value_name = "FILE")]
        profile: Option<PathBuf>,
        /// Profile the call and write its stacks in the folded format (`a;b;c GAS` per line).
        #[arg(long, value_name = "FILE")]
        profile_folded: Option<PathBuf>,
        /// Arguments for the export.
        #[arg(allow_hyphen_values = true)]
        args: Vec<String>,
    },
    /// Compile FILE (.wasm or .wat) to a self-contained artifact that `wes run` loads without
    /// compiling, on a machine with the same CPU features and the same configuration.
    Compile {
        /// The module, binary or text.
        file: PathBuf,
        /// Where to write the artifact (default: FILE with the extension .cwasm).
        #[arg(short, long, value_name = "FILE")]
        output: Option<PathBuf>,
        /// A pricing table (.toml or .json) to compile gas checks for, instead of the
        /// configuration's.
        #[arg(long, value_name = "FILE")]
        pricing: Option<PathBuf>,
        /// A runtime configuration (.toml or .json).
        #[arg(long, value_name = "FILE")]
        config: Option<PathBuf>,
    },
    /// Show a module's imports, exports with their types and static gas bounds, memories,
    /// tables, globals and sizes.
    Inspect {
        /// The module, binary or text.
        file: PathBuf,
        /// Print one JSON object.
        #[arg(long)]
        json: bool,
        /// A runtime configuration whose pricing the gas bounds use.
        #[arg(long, value_name = "FILE")]
        config: Option<PathBuf>,
    },
    /// Run `.wast` scripts (the spec testsuite's format) with the spec runner's semantics.
    ///
    /// Exit status 0 when every directive passed, 1 when one failed or could not be run, 2
    /// for an unreadable file or configuration.
    Wast {
        /// The scripts.
        #[arg(required = true)]
        files: Vec<PathBuf>,
        /// A runtime configuration (.toml or .json).
        #[arg(long, value_name = "FILE")]
        config: Option<PathBuf>,
        /// How many failures to print per file.
        #[arg(long, default_value_t = 10)]
        show: usize,
    },
}

/// `--backend`: the backends of this build.
#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Backend {
    /// The Cranelift JIT.
    Jit,
    /// The interpreter.
    Interp,
    /// The interpreter at once, the JIT's code once it has compiled.
    Tiered,
}

impl Backend {
    pub(crate) fn kind(self) -> wes::BackendKind {
        match self {
            Backend::Jit => wes::BackendKind::Jit,
            Backend::Interp => wes::BackendKind::Interp,
            Backend::Tiered => wes::BackendKind::Tiered,
        }
    }
}

/// `--metrics`: the exposition formats of `wes-metrics`.
#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum MetricsFormat {
    /// The Prometheus text format.
    Prometheus,
    /// JSON.
    Json,
}

/// The valued options that may follow the export's arguments.
#[derive(Parser, Debug, Default)]
#[command(no_binary_name = true)]
struct Trailing {
    #[arg(long)]
    gas: Option<u64>,
    #[arg(long)]
    pricing: Option<PathBuf>,
    #[arg(long)]
    config: Option<PathBuf>,
    #[arg(long)]
    cache: Option<PathBuf>,
    #[arg(long, value_enum)]
    backend: Option<Backend>,
    #[arg(long, value_enum)]
    metrics: Option<MetricsFormat>,
    #[arg(long)]
    profile: Option<PathBuf>,
    #[arg(long)]
    profile_folded: Option<PathBuf>,
}

/// The options [`Trailing`] lifts out of the export's arguments.
const VALUED: [&str; 8] =
    ["--gas", "--pricing", "--config", "--cache", "--backend", "--metrics", "--profile", "--profile-folded"];

impl Trailing {
    /// Removes the [`VALUED`] options (`--gas N`, `--gas=N`, ...) from `args` and parses them
    /// with clap.
    fn lift(args: &mut Vec<String>) -> Result<Trailing, clap::Error> {
        let mut lifted = Vec::new();
        let mut rest = Vec::new();
        let mut words = std::mem::take(args).into_iter();
        while let Some(w) = words.next() {
            if VALUED.contains(&w.as_str()) {
                lifted.push(w);
                lifted.extend(words.next());
            } else if VALUED.iter().any(|o| w.strip_prefix(o).is_some_and(|rest| rest.starts_with('='))) {
                lifted.push(w);
            } else {
                rest.push(w);
            }
        }
        *args = rest;
        if lifted.is_empty() { Ok(Trailing::default()) } else { Trailing::try_parse_from(lifted) }
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Run {
            file,
            invoke,
            json,
            gas,
            pricing,
            config,
            backend,
            metrics,
            profile,
            profile_folded,
            cache,
            mut args,
        } => {
            // Arguments may start with `-` (negative numbers, `-inf`), so the list takes
            // hyphenated words and would swallow trailing options; no value is spelled that
            // way, so lift them out and let clap parse them on their own.
            let before = args.len();
            args.retain(|a| a != "--json");
            let json = json || args.len() != before;
            let trailing = match Trailing::lift(&mut args) {
                Ok(t) => t,
                Err(e) => e.exit(),
            };
            let options = run::Options {
                json,
                gas: gas.or(trailing.gas),
                pricing: pricing.or(trailing.pricing),
                config: config.or(trailing.config),
                backend: backend.or(trailing.backend),
                metrics: metrics.or(trailing.metrics),
                profile_svg: profile.or(trailing.profile),
                profile_folded: profile_folded.or(trailing.profile_folded),
                cache: cache.or(trailing.cache),
            };
            run::run(&file, invoke.as_deref(), &args, &options)
        }
        Command::Compile { file, output, pricing, config } => {
            let options = run::Options { pricing, config, ..run::Options::default() };
            match run::runtime(&options) {
                Ok(runtime) => compile::run(&file, output.as_deref(), &runtime),
                Err(e) => {
                    eprintln!("wes: {e}");
                    ExitCode::from(2)
                }
            }
        }
        Command::Inspect { file, json, config } => inspect::run(&file, json, config.as_deref()),
        Command::Wast { files, config, show } => wast::run(&files, config.as_deref(), show),
    }
}
