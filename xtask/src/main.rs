//! `cargo xtask`: the project's automation, in Rust rather than shell scripts.
//!
//! | command | what it does |
//! |---|---|
//! | `spec-test` | runs the official WebAssembly spec testsuite against a backend |
//! | `ci` | everything CI runs: format, clippy, tests, spec tests for every backend, the hostile corpus |
//! | `bench` | WES side by side with wasmtime and wasmi (the `benches/` workspace) |
//! | `bench-c` | rebuilds the real-world workload modules in `benches/c/` from their C sources |
//! | `hostile` | the hostile-module corpus: every case compiles within its time and memory budget |

mod bench;
mod bench_c;
mod ci;
mod hostile;
mod spec;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

#[derive(Parser, Debug)]
#[command(name = "cargo xtask", about = "WES project automation")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Run the official WebAssembly spec testsuite.
    SpecTest(spec::SpecTestArgs),
    /// Run everything CI runs: fmt, clippy, tests, the spec tests of every backend, and the
    /// hostile corpus.
    Ci,
    /// Benchmark WES side by side with wasmtime and wasmi; prints a Markdown table and, on a
    /// full run, writes it to docs/benchmarks.md.
    Bench(bench::BenchArgs),
    /// Rebuild the real-world workload modules (benches/c/*.wasm) from their C sources with
    /// clang, or check that they rebuild to the same bytes.
    BenchC(bench_c::BenchCArgs),
    /// Compile the hostile-module corpus, unmetered and metered, each case in a child process,
    /// and check each against its time and memory budget.
    Hostile(hostile::HostileArgs),
    /// One compile of the hostile corpus (the child process `hostile` starts).
    #[command(hide = true)]
    HostileCase(hostile::CaseArgs),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::SpecTest(args) => spec::run(&args),
        Command::Ci => ci::run(),
        Command::Bench(args) => bench::run(&args),
        Command::BenchC(args) => bench_c::run(&args),
        Command::Hostile(args) => hostile::run(&args),
        Command::HostileCase(args) => hostile::run_case_child(&args),
    };
    match result {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(2)
        }
    }
}

/// The workspace root, so commands work from any directory.
fn project_root() -> PathBuf {
    let manifest = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    manifest.parent().map(PathBuf::from).unwrap_or(manifest)
}
