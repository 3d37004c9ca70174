//! Eager translation against wasmi's, alone in a process: bytes to a module ready to
//! instantiate (decode, validate, translate every function), WES's interpreter and wasmi's
//! eager mode alternated round by round. The harness's `compile` row runs wasmtime in the same
//! process, whose compile threads keep spinning for a while after their work and take a core
//! from whatever runs next; this measures the two interpreters without that.
//!
//! `cargo run --release --manifest-path benches/Cargo.toml --example interp_translate -- FILE
//! [ROUNDS] [THREADS]`; FILE is a .wasm module; THREADS is WES's `compile_threads` (default 0,
//! one per core). Prints each side's median and minimum and the ratio of the medians.

use std::time::{Duration, Instant};

use anyhow::{Context, Result, anyhow, bail};

fn median(v: &mut [Duration]) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let Some(path) = args.get(1) else { bail!("usage: interp_translate FILE [ROUNDS] [THREADS]") };
    let rounds: usize = args.get(2).map_or(Ok(100), |r| r.parse()).context("ROUNDS")?;
    let threads: usize = args.get(3).map_or(Ok(0), |t| t.parse()).context("THREADS")?;
    let wasm = std::fs::read(path).with_context(|| format!("reading {path}"))?;

    let mut config = wes::RuntimeConfig::default();
    config.performance.backend = wes::BackendKind::Interp;
    config.performance.translation = wes::Translation::Eager;
    config.performance.compile_threads = threads;
    // As the harness's row and wasmi's eager engine: no gas.
    config.gas.metered = false;
    let engine = config.engine()?;
    let decoder = wes_decode::Decoder::default().with_threads(threads);

    let mut wasmi_config = wasmi::Config::default();
    wasmi_config.compilation_mode(wasmi::CompilationMode::Eager);
    let wasmi_engine = wasmi::Engine::new(&wasmi_config);

    let (mut wes_times, mut wasmi_times) = (Vec::new(), Vec::new());
    for _ in 0..rounds.max(1) {
        let t = Instant::now();
        let module = wes_runtime::Module::new(&engine, decoder.decode(&wasm)?)?;
        wes_times.push(t.elapsed());
        drop(module);
        let t = Instant::now();
        let module = wasmi::Module::new(&wasmi_engine, &wasm[..]).map_err(|e| anyhow!("{e}"))?;
        wasmi_times.push(t.elapsed());
        drop(module);
    }
    let (w, i) = (median(&mut wes_times), median(&mut wasmi_times));
    println!("{path}: {rounds} rounds, WES compile_threads {threads}");
    println!(
        "  WES interp (eager)  median {:>9.3} ms  min {:>9.3} ms",
        w.as_secs_f64() * 1e3,
        wes_times[0].as_secs_f64() * 1e3
    );
    println!(
        "  wasmi (eager)       median {:>9.3} ms  min {:>9.3} ms",
        i.as_secs_f64() * 1e3,
        wasmi_times[0].as_secs_f64() * 1e3
    );
    println!("  WES / wasmi         {:.2}", w.as_secs_f64() / i.as_secs_f64());
    Ok(())
}
