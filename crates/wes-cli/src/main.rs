//! `wes`: run a WebAssembly module from the command line.
//!
//! ```text
//! wes run FILE [--invoke NAME] [ARG...] [--json]
//! ```
//!
//! Exit status: 0 success, 1 the wasm code trapped, 2 unusable input (unreadable file, invalid
//! module, unknown export, wrong arguments), always with a one-line message on stderr.

mod args;
mod output;
mod run;

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
    /// Instantiate FILE (.wasm or .wat) and call an export.
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
        /// Arguments for the export.
        #[arg(allow_hyphen_values = true)]
        args: Vec<String>,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Run { file, invoke, json, mut args } => {
            // Arguments may start with `-` (negative numbers, `-inf`), so the list takes
            // hyphenated words and would swallow a trailing `--json`; no value is spelled that
            // way, so lift it out.
            let before = args.len();
            args.retain(|a| a != "--json");
            let json = json || args.len() != before;
            run::run(&file, invoke.as_deref(), &args, json)
        }
    }
}
