//! Bytes to the first result on one thread, phase by phase: decode and validate, load (the
//! backend's compile or lazy set-up), instantiate, the first call (which, on the lazy
//! interpreter, translates every function it reaches), and a second call. For profiling the
//! `first-result` row outside the harness, where no peer shares the process.
//!
//! `cargo run --release --manifest-path benches/Cargo.toml --example first_result -- FILE
//! (interp-lazy|interp-eager|interp-background|jit) (metered|unmetered) [ROUNDS]`; FILE is a module with an
//! export `main(i64, i64) -> i64` and no imports (`wes-bench --filter first-result --dump DIR`
//! writes the harness's). Prints the median wall time of each phase over ROUNDS (default 5):
//! the thread's CPU time is counted in scheduler ticks on some kernels, too coarse here.

use std::time::Instant;

use anyhow::{Context, Result, bail};
use wes_core::Value;
use wes_runtime::{Linker, Module, Store};

fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let (Some(path), Some(backend), Some(mode)) = (args.get(1), args.get(2), args.get(3)) else {
        bail!("usage: first_result FILE (interp-lazy|interp-eager|interp-background|jit) (metered|unmetered) [ROUNDS]");
    };
    let rounds: usize = args.get(4).map_or(Ok(5), |r| r.parse()).context("ROUNDS")?;
    let mut config = wes::RuntimeConfig::default();
    config.gas.metered = match mode.as_str() {
        "metered" => true,
        "unmetered" => false,
        other => bail!("mode must be metered or unmetered, not {other}"),
    };
    match backend.as_str() {
        "interp-lazy" | "interp-eager" | "interp-background" => {
            config.performance.backend = wes::BackendKind::Interp;
            config.performance.translation = match backend.as_str() {
                "interp-lazy" => wes::Translation::Lazy,
                "interp-eager" => wes::Translation::Eager,
                _ => wes::Translation::Background,
            };
        }
        "jit" => {}
        other => bail!("backend must be interp-lazy, interp-eager, interp-background or jit, not {other}"),
    }
    let engine = config.engine()?;
    let bytes = std::fs::read(path).with_context(|| format!("reading {path}"))?;
    let phases = ["decode", "load", "instantiate", "first call", "second call"];
    let mut times: Vec<Vec<f64>> = vec![Vec::new(); phases.len()];
    let mut result = None;
    let wall = Instant::now();
    let now = || wall.elapsed().as_nanos() as u64;
    for _ in 0..rounds.max(1) {
        let mut marks = vec![now()];
        let decoded = wes_decode::decode(&bytes)?;
        marks.push(now());
        let module = Module::new(&engine, decoded)?;
        marks.push(now());
        let mut store = Store::new(&engine);
        store.set_meter(Box::new(wes_meter::BasicMeter::new(u64::MAX / 4)));
        let instance = Linker::new().instantiate(&mut store, &module)?;
        let main = instance.get_func(&store, "main").context("no export main")?;
        marks.push(now());
        let args = [Value::I64(1), Value::I64(2)];
        let first = main.call(&mut store, &args)?;
        marks.push(now());
        // The second call runs on the memory the first left (it may return something else).
        main.call(&mut store, &args)?;
        marks.push(now());
        if let Some(r) = result.as_ref().filter(|r| **r != first) {
            bail!("first results differ between rounds: {r:?} and {first:?}");
        }
        result = Some(first);
        for (i, w) in marks.windows(2).enumerate() {
            times[i].push((w[1] - w[0]) as f64 / 1e6);
        }
    }
    println!("{path}, {backend}, {mode}: {rounds} rounds in {:.2} s; result {result:?}", wall.elapsed().as_secs_f64());
    let mut first_result = 0.0;
    for (name, t) in phases.iter().zip(&mut times) {
        t.sort_by(f64::total_cmp);
        let median = t[t.len() / 2];
        if *name != "second call" {
            first_result += median;
        }
        println!("  {name:12} median {median:9.3} ms  min {:9.3} ms", t[0]);
    }
    println!("  bytes to first result (sum of medians): {first_result:.3} ms");
    Ok(())
}
