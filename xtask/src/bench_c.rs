//! `cargo xtask bench-c [--check]`: rebuilds the real-world workload modules
//! (`benches/c/realworld-O2.wasm` and `realworld-Oz.wasm`) from the C sources checked in under
//! `benches/c/`, with Debian's clang, lld and wasi-libc.
//!
//! The modules are checked in, so `cargo xtask bench` runs without a wasm C toolchain and every
//! run measures the same bytes. `--check` rebuilds them into a temporary directory and fails if
//! they differ from the checked-in ones: the modules are what the sources say they are.
//!
//! `benches/c/sources.txt` lists the sources and flags; `benches/build.rs` reads the same list
//! to build the native reference, so the two cannot drift apart.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, Result, bail};
use clap::Args;

use crate::project_root;

#[derive(Args, Debug)]
pub(crate) struct BenchCArgs {
    /// Rebuild into a temporary directory and compare with the checked-in modules instead of
    /// overwriting them.
    #[arg(long)]
    check: bool,
    /// The clang to use.
    #[arg(long, default_value = "clang")]
    clang: String,
}

/// The modules built, by file name and optimisation level: -O2 as C projects ship, -Oz as
/// contract toolchains do. Both with link-time optimisation, as contract toolchains do.
const MODULES: [(&str, &str); 2] = [("realworld-O2.wasm", "-O2"), ("realworld-Oz.wasm", "-Oz")];

pub(crate) fn run(args: &BenchCArgs) -> Result<bool> {
    let dir = project_root().join("benches/c");
    let (flags, sources) = read_sources(&dir.join("sources.txt"))?;
    let out_dir = if args.check {
        let tmp = std::env::temp_dir().join(format!("wes-bench-c-{}", std::process::id()));
        fs::create_dir_all(&tmp).with_context(|| format!("creating {}", tmp.display()))?;
        tmp
    } else {
        dir.clone()
    };
    let version = Command::new(&args.clang)
        .arg("--version")
        .output()
        .with_context(|| format!("could not run {}: install clang, lld and wasi-libc", args.clang))?;
    eprintln!("{}", String::from_utf8_lossy(&version.stdout).lines().next().unwrap_or("clang"));

    let mut same = true;
    for (name, opt) in MODULES {
        let out = out_dir.join(name);
        let mut cmd = Command::new(&args.clang);
        cmd.current_dir(&dir)
            .args(["--target=wasm32-wasi", opt, "-flto", "-w"])
            .args(&flags)
            .args(&sources)
            // No C runtime start files: a library of exports, like a contract, and no
            // constructors to run.
            .args(["-nostartfiles", "-Wl,--no-entry", "-Wl,--strip-all", "-Wl,-z,stack-size=262144"])
            .arg("-o")
            .arg(&out);
        let status = cmd.status().with_context(|| format!("running {}", args.clang))?;
        if !status.success() {
            bail!("{} failed building {name} ({status})", args.clang);
        }
        if args.check {
            let built = fs::read(&out).with_context(|| format!("reading {}", out.display()))?;
            let checked_in = dir.join(name);
            let expected = fs::read(&checked_in).with_context(|| format!("reading {}", checked_in.display()))?;
            if built == expected {
                eprintln!("{name}: reproduced ({} bytes)", built.len());
            } else {
                eprintln!(
                    "{name}: differs from the checked-in module ({} bytes built, {} checked in)",
                    built.len(),
                    expected.len()
                );
                same = false;
            }
        } else {
            eprintln!("wrote {}", out.display());
        }
    }
    if args.check {
        fs::remove_dir_all(&out_dir).with_context(|| format!("removing {}", out_dir.display()))?;
    }
    Ok(same)
}

/// Reads `sources.txt`: `-I dir` and `-D def` lines are flags, other non-comment lines are C
/// files, all relative to `benches/c`.
fn read_sources(path: &Path) -> Result<(Vec<String>, Vec<PathBuf>)> {
    let text = fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    let mut flags = Vec::new();
    let mut sources = Vec::new();
    for line in text.lines().map(str::trim).filter(|l| !l.is_empty() && !l.starts_with('#')) {
        if let Some(dir) = line.strip_prefix("-I") {
            flags.push(format!("-I{}", dir.trim()));
        } else if let Some(def) = line.strip_prefix("-D") {
            flags.push(format!("-D{}", def.trim()));
        } else if line.starts_with('-') {
            bail!("{}: unknown flag line `{line}`", path.display());
        } else {
            sources.push(PathBuf::from(line));
        }
    }
    Ok((flags, sources))
}
