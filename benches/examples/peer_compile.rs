//! Compile time and peak memory of one module with wasmtime, for the hostile corpus's table
//! (`cargo xtask hostile --write DIR` writes the modules): what the peer takes on the same
//! inputs WES compiles or refuses.
//!
//! `cargo run --release --manifest-path benches/Cargo.toml --example peer_compile -- FILE
//! (plain|fuel)`. Prints the outcome, the wall seconds of one `Module::new` (wasmtime's
//! default configuration, compiling functions in parallel like WES) and the process's peak
//! resident memory. Run it once per module and mode: the peak is the process's.

use anyhow::{Context, Result, bail};

fn peak_rss_mb() -> Result<u64> {
    let status = std::fs::read_to_string("/proc/self/status").context("reading /proc/self/status")?;
    let kb = status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        .context("parsing VmHWM")?;
    Ok(kb / 1024)
}

fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let (Some(path), Some(mode)) = (args.get(1), args.get(2)) else {
        bail!("usage: peer_compile FILE (plain|fuel)");
    };
    let mut config = wasmtime::Config::new();
    match mode.as_str() {
        "plain" => {}
        "fuel" => {
            config.consume_fuel(true);
        }
        other => bail!("mode must be plain or fuel, not {other}"),
    }
    let bytes = std::fs::read(path).with_context(|| format!("reading {path}"))?;
    let engine = wasmtime::Engine::new(&config).map_err(|e| anyhow::anyhow!("{e}"))?;
    let start = std::time::Instant::now();
    let outcome = match wasmtime::Module::new(&engine, &bytes) {
        Ok(_) => "compiled".to_string(),
        Err(e) => format!("refused: {}", e.to_string().lines().next().unwrap_or("")),
    };
    println!("{path} {mode}: {outcome} in {:.2} s, peak {} MB", start.elapsed().as_secs_f64(), peak_rss_mb()?);
    Ok(())
}
