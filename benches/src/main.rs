//! `wes-bench`: WES side by side with wasmtime and wasmi, on the same workloads, in one process.
//! Run through `cargo xtask bench [--quick] [--filter NAME]`.
//!
//! For each workload, every runtime first runs it once and the results (and fuel/gas where a
//! runtime meters) are compared: a runtime that disagrees stops the bench before any timing.
//! Then each runtime is timed in turn, and the medians are compared with wasmtime's in the same
//! mode (unmetered with unmetered, fuel with metered). The report is Markdown; a full run
//! rewrites the generated part of `docs/benchmarks.md`.

mod large_module;
mod lifecycle_rows;
mod realworld;
mod report;
mod runtimes;
mod workloads;

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use clap::Parser;

use runtimes::{Compiled, Running, Runtime, Val};
use workloads::{Kind, Workload};

#[derive(Parser, Debug)]
#[command(name = "wes-bench", about = "WES side by side with wasmtime and wasmi")]
struct Args {
    /// Smaller workloads and fewer samples: a few minutes.
    #[arg(long)]
    quick: bool,
    /// Only the workloads whose name contains this.
    #[arg(long)]
    filter: Option<String>,
    /// Also run wasmtime with explicit bounds checks (no guard region, no signal-based traps),
    /// unmetered and with fuel: what bounds checking costs the peer, next to WES's explicit
    /// checks. Its rows are never a baseline.
    #[arg(long)]
    explicit_peer: bool,
    /// Where to write the report. By default a full, unfiltered run without `--explicit-peer`
    /// rewrites the generated part of docs/benchmarks.md and other runs write nothing.
    #[arg(long)]
    out: Option<PathBuf>,
    /// Write the modules of the selected workloads to this directory (NAME.wasm) and stop, to
    /// profile one runtime on them outside the harness (`benches/examples`).
    #[arg(long)]
    dump: Option<PathBuf>,
}

/// How long to keep timing one workload (all runtimes), and the bounds on the rounds.
struct Budget {
    time: Duration,
    min_rounds: usize,
    max_rounds: usize,
}

/// One (workload, runtime) cell of the table.
pub struct Cell {
    pub label: String,
    pub family: runtimes::Family,
    pub class: runtimes::Class,
    pub pooling: bool,
    /// Per timed unit (one call, one instantiate+call round, one compile), sorted.
    pub samples: Vec<Duration>,
    /// Fuel or gas the checked call consumed.
    pub consumed: Option<u64>,
}

/// A workload's results.
pub struct Outcome {
    pub name: &'static str,
    pub what: String,
    pub result: Vec<Val>,
    /// The result was also checked against a reference computed natively (in Rust, or by the
    /// same C compiled for the host).
    pub referenced: bool,
    pub cells: Vec<Cell>,
}

fn main() -> ExitCode {
    let args = Args::parse();
    match run(&args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn run(args: &Args) -> Result<()> {
    let started = Instant::now();
    let budget = if args.quick {
        Budget { time: Duration::from_secs(2), min_rounds: 3, max_rounds: 500 }
    } else {
        Budget { time: Duration::from_secs(20), min_rounds: 5, max_rounds: 2000 }
    };
    let mut runtimes: Vec<Box<dyn Runtime>> = Vec::new();
    let mut unavailable = Vec::new();
    for r in runtimes::all(args.explicit_peer) {
        match r {
            Ok(r) => runtimes.push(r),
            Err((label, why)) => {
                eprintln!("{label}: {why}");
                unavailable.push((label, why));
            }
        }
    }
    let workloads: Vec<Workload> = workloads::all(args.quick)?
        .into_iter()
        .filter(|w| args.filter.as_ref().is_none_or(|f| w.name.contains(f.as_str())))
        .collect();
    if let Some(dir) = &args.dump {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        for w in &workloads {
            let path = dir.join(format!("{}.wasm", w.name));
            std::fs::write(&path, &w.wasm).with_context(|| format!("writing {}", path.display()))?;
            eprintln!("wrote {}", path.display());
        }
        return Ok(());
    }
    // The artifact-cache and thread-scaling rows are not one workload on every runtime; they
    // run when the filter names them (or there is none).
    let extra_wanted =
        args.filter.as_deref().is_none_or(|f| ["artifact", "threads"].iter().any(|n| n.contains(f) || f.contains(n)));
    if workloads.is_empty() && !extra_wanted {
        bail!("no workload matches the filter");
    }
    let mut outcomes = Vec::new();
    for w in &workloads {
        eprintln!("== {}: {}", w.name, w.what);
        outcomes.push(bench_workload(w, &runtimes, &budget)?);
    }
    let extra = if extra_wanted {
        let all = workloads::all(args.quick)?;
        let find = |name: &str| all.iter().find(|w| w.name == name).map(|w| w.wasm.clone());
        let compile = find("compile").context("no compile workload")?;
        let contract = find("instantiate+call").context("no contract workload")?;
        Some(lifecycle_rows::run(&compile, &contract, args.quick, args.filter.as_deref())?)
    } else {
        None
    };
    let wall = started.elapsed();
    let mode = if args.quick { "quick" } else { "full" };
    let filtered = args.filter.is_some();
    let mut table = if outcomes.is_empty() {
        String::new()
    } else {
        report::render(&outcomes, &unavailable, mode, filtered, wall)?
    };
    if let Some(extra) = extra {
        table.push_str("\n## Compiled artifacts and threads\n\n");
        table.push_str(&extra);
    }
    println!("{table}");
    let out = match &args.out {
        Some(path) => Some(path.clone()),
        None if !args.quick && !filtered && !args.explicit_peer => Some(report::default_path()),
        None => None,
    };
    if let Some(path) = out {
        report::write(&path, &table).with_context(|| format!("writing {}", path.display()))?;
        eprintln!("wrote {}", path.display());
    }
    eprintln!("bench ({mode}) took {:.1} s", wall.as_secs_f64());
    Ok(())
}

/// Checks a workload gives the same result on every runtime, then times it on each.
fn bench_workload(w: &Workload, runtimes: &[Box<dyn Runtime>], budget: &Budget) -> Result<Outcome> {
    let runtimes: Vec<&dyn Runtime> = runtimes.iter().map(AsRef::as_ref).filter(|r| r.runs(&w.kind)).collect();
    // The check: one run per runtime, before any timing.
    let mut checked = Vec::new();
    for rt in &runtimes {
        let compiled = rt.compile(&w.wasm).with_context(|| format!("{}: compiling {}", rt.label(), w.name))?;
        let mut instance =
            compiled.instantiate().with_context(|| format!("{}: instantiating {}", rt.label(), w.name))?;
        for (func, args) in &w.setup {
            instance.call(func, args).with_context(|| format!("{}: {}.{func}", rt.label(), w.name))?;
        }
        let before = instance.consumed()?;
        let result =
            instance.call(w.func, &w.args).with_context(|| format!("{}: {}.{}", rt.label(), w.name, w.func))?;
        let consumed = match (before, instance.consumed()?) {
            (Some(b), Some(a)) => Some(a - b),
            _ => None,
        };
        checked.push((result, consumed, compiled, instance));
    }
    let expected = checked.first().map(|c| c.0.clone()).unwrap_or_default();
    if let Some(reference) = &w.reference
        && *reference != expected
    {
        bail!(
            "{}: {} returned {} but the native reference is {}",
            w.name,
            runtimes[0].label(),
            show(&expected),
            show(reference)
        );
    }
    for (rt, (result, _, _, _)) in runtimes.iter().zip(&checked) {
        if *result != expected {
            bail!(
                "{}: {} returned {} but {} returned {}",
                w.name,
                rt.label(),
                show(result),
                runtimes[0].label(),
                show(&expected)
            );
        }
    }

    // The timing, in rounds: each round takes one sample of every runtime in turn, so a burst of
    // load from elsewhere on the machine hits all rows alike rather than one.
    let mut states: Vec<_> =
        checked.into_iter().map(|(_, consumed, compiled, instance)| (consumed, compiled, instance)).collect();
    let mut samples: Vec<Vec<Duration>> = vec![Vec::new(); runtimes.len()];
    let start = Instant::now();
    while samples[0].len() < budget.min_rounds
        || (samples[0].len() < budget.max_rounds && start.elapsed() < budget.time)
    {
        for ((rt, (_, compiled, instance)), out) in runtimes.iter().zip(&mut states).zip(&mut samples) {
            let one = sample_once(w, *rt, compiled.as_ref(), instance.as_mut())
                .with_context(|| format!("{}: timing {}", rt.label(), w.name))?;
            out.push(one);
        }
    }
    let mut cells = Vec::new();
    for ((rt, (consumed, _, _)), mut samples) in runtimes.iter().zip(states).zip(samples) {
        samples.sort();
        eprintln!(
            "   {:<26} median {:>10}  min {:>10}  ({} samples)",
            rt.label(),
            report::duration(samples[samples.len() / 2]),
            report::duration(samples[0]),
            samples.len()
        );
        cells.push(Cell {
            label: rt.label().to_string(),
            family: rt.family(),
            class: rt.mode().class(),
            pooling: rt.pooling(),
            samples,
            consumed,
        });
    }
    Ok(Outcome { name: w.name, what: w.what.clone(), result: expected, referenced: w.reference.is_some(), cells })
}

/// One timed unit of a workload on one runtime: a call, an instantiate+call round (averaged
/// over the workload's rounds), or a compile. Setup and drops stay outside the clock.
fn sample_once(
    w: &Workload,
    rt: &dyn Runtime,
    compiled: &dyn Compiled,
    instance: &mut dyn Running,
) -> Result<Duration> {
    match w.kind {
        Kind::Call => {
            let start = Instant::now();
            instance.call(w.func, &w.args)?;
            Ok(start.elapsed())
        }
        Kind::InstantiateCall { rounds } => {
            let start = Instant::now();
            for _ in 0..rounds {
                let mut fresh = compiled.instantiate()?;
                fresh.call(w.func, &w.args)?;
            }
            Ok(start.elapsed() / rounds)
        }
        Kind::Compile => {
            let start = Instant::now();
            let module = rt.compile(&w.wasm)?;
            let elapsed = start.elapsed();
            drop(module);
            Ok(elapsed)
        }
        Kind::FirstResult => {
            let start = Instant::now();
            let module = rt.compile(&w.wasm)?;
            let mut fresh = module.instantiate()?;
            fresh.call(w.func, &w.args)?;
            let elapsed = start.elapsed();
            drop((fresh, module));
            Ok(elapsed)
        }
    }
}

fn show(values: &[Val]) -> String {
    values.iter().map(ToString::to_string).collect::<Vec<_>>().join(", ")
}
