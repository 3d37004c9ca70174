//! Compile CPU time of one module with WES on one thread, metered or not: for profiling the
//! JIT (`perf record` on this process sees only WES, never a peer) and for comparing changes
//! to it where wall time is too noisy on a shared machine.
//!
//! `cargo run --release --manifest-path benches/Cargo.toml --example compile_cpu -- FILE
//! (metered|metered-resume|unmetered) [ROUNDS]`; FILE is a .wasm or .wat module. Prints the
//! minimum and median thread CPU time of ROUNDS (default 5) compiles. `metered` compiles gas
//! checks that trap when short (the default), `metered-resume` checks that call the runtime
//! and resume (`JitConfig::resume_out_of_gas`).

use std::sync::Arc;

use anyhow::{Context, Result, bail};
use wes_core::Backend;

/// CPU time of the calling thread, in nanoseconds (Linux: the first field of its schedstat).
fn thread_cpu_ns() -> Result<u64> {
    let stat = std::fs::read_to_string("/proc/thread-self/schedstat").context("reading the thread's CPU time")?;
    stat.split_whitespace().next().and_then(|n| n.parse().ok()).context("parsing /proc/thread-self/schedstat")
}

fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let (Some(path), Some(mode)) = (args.get(1), args.get(2)) else {
        bail!("usage: compile_cpu FILE (metered|metered-resume|unmetered) [ROUNDS]");
    };
    let (metered, resume) = match mode.as_str() {
        "metered" => (true, false),
        "metered-resume" => (true, true),
        "unmetered" => (false, false),
        other => bail!("mode must be metered, metered-resume or unmetered, not {other}"),
    };
    let rounds: usize = args.get(3).map_or(Ok(5), |r| r.parse()).context("ROUNDS")?;
    let bytes = std::fs::read(path).with_context(|| format!("reading {path}"))?;
    let bytes = if path.ends_with(".wat") { wat::parse_bytes(&bytes)?.into_owned() } else { bytes };
    let module = Arc::new(wes_decode::decode(&bytes)?);
    let jit = wes_jit::Jit::with_config(wes_jit::JitConfig {
        pricing: metered.then(|| Arc::new(wes_meter::Pricing::default())),
        resume_out_of_gas: resume,
        threads: 1,
        ..wes_jit::JitConfig::default()
    })?;
    let mut ms = Vec::with_capacity(rounds);
    for _ in 0..rounds.max(1) {
        let start = thread_cpu_ns()?;
        jit.compile(module.clone())?;
        ms.push((thread_cpu_ns()? - start) as f64 / 1e6);
    }
    ms.sort_by(f64::total_cmp);
    println!(
        "{path} {mode}: {:.0} ms min, {:.0} ms median CPU per compile ({} rounds)",
        ms[0],
        ms[ms.len() / 2],
        ms.len()
    );
    Ok(())
}
