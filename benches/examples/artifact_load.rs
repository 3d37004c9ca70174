//! Where loading a compiled artifact spends its time, phase by phase: for profiling the path
//! `wes-cache` takes from an artifact's bytes to a module ready to instantiate (`perf record`
//! on this process sees only that path once the one compile is done).
//!
//! `cargo run --release --manifest-path benches/Cargo.toml --example artifact_load -- FILE
//! (metered|unmetered) [ROUNDS]`; FILE is a .wasm or .wat module. Prints the median of ROUNDS
//! (default 50) for each phase and for the whole `wes_cache::artifact::load`.

use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use wes_cache::Artifact;

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let (Some(path), Some(mode)) = (args.get(1), args.get(2)) else {
        bail!("usage: artifact_load FILE (metered|unmetered) [ROUNDS]");
    };
    let metered = match mode.as_str() {
        "metered" => true,
        "unmetered" => false,
        other => bail!("mode must be metered or unmetered, not {other}"),
    };
    let rounds: usize = args.get(3).map_or(Ok(50), |r| r.parse()).context("ROUNDS")?;
    let bytes = std::fs::read(path).with_context(|| format!("reading {path}"))?;
    let wasm = if path.ends_with(".wat") { wat::parse_bytes(&bytes)?.into_owned() } else { bytes };
    let mut config = wes::RuntimeConfig::default();
    config.gas.metered = metered;
    let engine = config.engine()?;
    let decoder = wes_decode::Decoder::default();
    let t = Instant::now();
    let module = wes_runtime::Module::new(&engine, decoder.decode(&wasm)?)?;
    let compile = t.elapsed();
    let artifact = Artifact::new(&engine, &decoder, &module, &wasm, false)?.encode();
    eprintln!("artifact {} bytes, wasm {} bytes", artifact.len(), wasm.len());
    drop(module);

    let first_call = |m: &wes_runtime::Module| -> Result<()> {
        let mut store = wes_runtime::Store::new(&engine);
        if metered {
            store.set_meter(Box::new(wes_meter::BasicMeter::new(u64::MAX / 4)));
        }
        let instance = wes_runtime::Linker::new().instantiate(&mut store, m)?;
        if let Some(f) = instance.get_func(&store, "main") {
            f.call(&mut store, &[wes_core::Value::I64(1), wes_core::Value::I64(2)])?;
        }
        Ok(())
    };
    let (mut whole, mut envelope, mut decode, mut code, mut call, mut dropping) =
        (vec![], vec![], vec![], vec![], vec![], vec![]);
    for _ in 0..rounds.max(1) {
        let t = Instant::now();
        // SAFETY: written just above by this process.
        let m = unsafe { wes_cache::artifact::load(&engine, &decoder, &artifact, Some(&wasm)) }?;
        whole.push(t.elapsed());
        let t = Instant::now();
        first_call(&m)?;
        call.push(t.elapsed());
        let t = Instant::now();
        drop(m);
        dropping.push(t.elapsed());

        let t = Instant::now();
        let a = Artifact::decode(&artifact)?;
        a.check(&engine, Some(&wasm))?;
        envelope.push(t.elapsed());
        let t = Instant::now();
        // SAFETY: the shapes are those the decoder measured when it validated these bytes.
        let decoded = std::sync::Arc::new(unsafe { decoder.decode_prevalidated(&wasm, &a.validation.shapes) }?);
        decode.push(t.elapsed());
        let t = Instant::now();
        // SAFETY: as above; checked for this engine and these bytes.
        let compiled = unsafe { engine.backend().deserialize(decoded, &a.payload) }?;
        let m = wes_runtime::Module::from_compiled(&engine, compiled)?;
        code.push(t.elapsed());
        drop(m);
    }
    let whole = median(whole);
    println!(
        "{path} {mode}: compile {compile:?}; load {whole:?} (1/{:.0} of compile): envelope+check {:?}, decode {:?}, code+plan {:?}; first call {:?}; drop {:?}",
        compile.as_secs_f64() / whole.as_secs_f64(),
        median(envelope),
        median(decode),
        median(code),
        median(call),
        median(dropping)
    );
    Ok(())
}
