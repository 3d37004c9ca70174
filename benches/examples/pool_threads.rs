//! Pooled instantiate + call rounds of the contract workload on THREADS threads for SECONDS,
//! for profiling what a second thread adds (`perf record` sees only the rounds once the pool is
//! warm). Prints rounds per second.
//!
//! `cargo run --release --manifest-path benches/Cargo.toml --example pool_threads -- THREADS
//! SECONDS (pool|fresh)`

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, anyhow, bail};
use wes_core::Value;
use wes_runtime::{Caller, Config, Engine, HostError, Linker, Module, Store};

const CONTRACT: &str = include_str!("../workloads/contract.wat");

fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let (Some(threads), Some(seconds), Some(mode)) = (args.get(1), args.get(2), args.get(3)) else {
        bail!("usage: pool_threads THREADS SECONDS (pool|fresh)");
    };
    let threads: usize = threads.parse().context("THREADS")?;
    let seconds: f64 = seconds.parse().context("SECONDS")?;
    let engine = Engine::new(Config::default(), Arc::new(wes_jit::Jit::new()?));
    let module = Module::new(&engine, wes_decode::decode_text(CONTRACT)?)?;
    let mut linker = Linker::new();
    linker.func_wrap("env", "inc", |_: &mut Caller<'_>, (x,): (i64,)| -> Result<i64, HostError> {
        Ok(x.wrapping_add(1))
    });
    let pre = Arc::new(linker.instantiate_pre(&module)?);
    let factory = wes_lifecycle::InstanceFactory::new(&engine, &linker, &module)?;
    let pool = wes_lifecycle::InstancePool::new(
        factory,
        wes_lifecycle::PoolConfig { strategy: wes_lifecycle::PoolStrategy::Fixed(4), ..Default::default() },
        Arc::new(wes_lifecycle::SystemClock::new()),
    )?;
    let pooled = mode == "pool";
    let until = Instant::now() + Duration::from_secs_f64(seconds);
    let rounds: Vec<u64> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..threads)
            .map(|_| {
                let (pool, pre, engine) = (pool.clone(), pre.clone(), engine.clone());
                s.spawn(move || -> Result<u64> {
                    let mut n = 0u64;
                    while Instant::now() < until {
                        for _ in 0..1000 {
                            if pooled {
                                let mut lease = pool.checkout()?;
                                lease.call("call", &[Value::I64(42)])?;
                            } else {
                                let mut store = Store::new(&engine);
                                let instance = pre.instantiate(&mut store)?;
                                let f = instance.get_func(&store, "call").ok_or_else(|| anyhow!("no call"))?;
                                f.call(&mut store, &[Value::I64(42)])?;
                            }
                        }
                        n += 1000;
                    }
                    Ok(n)
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().map_err(|_| anyhow!("thread panicked"))?).collect::<Result<Vec<_>>>()
    })?;
    let total: u64 = rounds.iter().sum();
    println!("{mode}, {threads} threads: {:.0} rounds/s", total as f64 / seconds);
    Ok(())
}
