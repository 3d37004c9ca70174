//! Rows of issue 11 that are not one workload on every runtime: loading the compile workload's
//! compiled code from disk or from memory instead of compiling it (WES's `wes-cache` against
//! wasmtime's `Module::serialize`/`deserialize_file`), and instantiate + call throughput on two
//! threads against one. Each figure is a ratio to a peer measured in the same run, so load from
//! elsewhere on the machine falls on both sides.
//!
//! Run by `cargo xtask bench` when the filter (if any) matches `artifact` or `threads`.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, anyhow};
use wes_cache::{Artifact, ArtifactCache, CacheConfig, Source, module_hash};
use wes_core::Value;
use wes_runtime::{Caller, Engine, HostError, InstancePre, Linker, Module, Store};

use crate::runtimes::Mode;

/// wasmtime's errors as anyhow's.
fn wt<T>(r: std::result::Result<T, wasmtime::Error>) -> Result<T> {
    r.map_err(|e| anyhow!("{e:#}"))
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn fmt(d: Duration) -> String {
    let ns = d.as_nanos() as f64;
    if ns >= 1e9 {
        format!("{:.3} s", ns / 1e9)
    } else if ns >= 1e6 {
        format!("{:.2} ms", ns / 1e6)
    } else {
        format!("{:.2} µs", ns / 1e3)
    }
}

fn time<T>(rounds: usize, mut f: impl FnMut() -> Result<T>) -> Result<Duration> {
    let mut samples = Vec::with_capacity(rounds);
    for _ in 0..rounds {
        let t = Instant::now();
        std::hint::black_box(f()?);
        samples.push(t.elapsed());
    }
    Ok(median(samples))
}

fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("wes-bench-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

/// WES: decode + compile, against the cache's disk and memory paths, each to its first call.
fn wes_artifact(wasm: &[u8], mode: Mode, quick: bool, out: &mut String) -> Result<()> {
    let label = if mode == Mode::Metered { "WES (gas)" } else { "WES" };
    let engine = crate::runtimes::wes_engine(label, mode).map_err(|(_, e)| anyhow!(e))?;
    let first_call = |module: &Module| -> Result<Vec<Value>> {
        let mut store = Store::new(&engine);
        if mode == Mode::Metered {
            store.set_meter(Box::new(wes_meter::BasicMeter::new(crate::runtimes::FUEL)));
        }
        let instance = Linker::new().instantiate(&mut store, module)?;
        let f = instance.get_func(&store, "main").ok_or_else(|| anyhow!("no main"))?;
        Ok(f.call(&mut store, &[Value::I64(1), Value::I64(2)])?)
    };
    let compile_rounds = if quick { 3 } else { 5 };
    let compile = time(compile_rounds, || {
        let m = Module::new(&engine, wes_decode::decode(wasm)?)?;
        first_call(&m)
    })?;
    let expected = first_call(&Module::new(&engine, wes_decode::decode(wasm)?)?)?;

    let dir = temp_dir(if mode == Mode::Metered { "cache-gas" } else { "cache" });
    // Memory cap 0: every load reads, checks and maps the artifact from the directory.
    let config = CacheConfig { memory_bytes: 0, ..Default::default() };
    // SAFETY: the directory is this run's own, written only by this process.
    let disk = unsafe { ArtifactCache::with_directory(&engine, wes_decode::Decoder::default(), &config, &dir) }?;
    let (m, source) = disk.load(wasm)?;
    anyhow::ensure!(source == Source::Compiled, "a fresh directory had the module");
    anyhow::ensure!(first_call(&m)? == expected, "the cached code gives another result");
    let disk_rounds = if quick { 10 } else { 30 };
    let from_disk = time(disk_rounds, || {
        let (m, source) = disk.load(wasm)?;
        anyhow::ensure!(source == Source::Disk, "not from disk: {source:?}");
        first_call(&m)
    })?;
    // The same, without the cache: the file read and loaded directly.
    let file = dir.join("direct.cwasm");
    let module = Module::new(&engine, wes_decode::decode(wasm)?)?;
    std::fs::write(&file, Artifact::new(&engine, &wes_decode::Decoder::default(), &module, wasm, false)?.encode())?;
    let direct = time(disk_rounds, || {
        let bytes = std::fs::read(&file)?;
        // SAFETY: written just above by this process.
        let m = unsafe { wes_cache::artifact::load(&engine, &wes_decode::Decoder::default(), &bytes, Some(wasm)) }?;
        first_call(&m)
    })?;
    let _ = std::fs::remove_dir_all(&dir);

    let memory = ArtifactCache::new(&engine, wes_decode::Decoder::default(), &CacheConfig::default())?;
    memory.load(wasm)?;
    let hash = module_hash(wasm);
    let mem_rounds = if quick { 200 } else { 1000 };
    let from_memory_hashed = time(mem_rounds, || {
        let (m, source) = memory.load_hashed(wasm, hash)?;
        anyhow::ensure!(source == Source::Memory);
        first_call(&m)
    })?;
    let lookup_only = time(mem_rounds, || Ok(memory.load_hashed(wasm, hash)?))?;
    let from_memory = time(mem_rounds, || {
        let (m, _) = memory.load(wasm)?;
        first_call(&m)
    })?;
    let ratio = |d: Duration| d.as_secs_f64() / compile.as_secs_f64();
    out.push_str(&format!(
        "| {label} | {} | {} ({:.4}×) | {} ({:.4}×) | {} | {} | {} |\n",
        fmt(compile),
        fmt(from_disk),
        ratio(from_disk),
        fmt(direct),
        ratio(direct),
        fmt(from_memory_hashed),
        fmt(lookup_only),
        fmt(from_memory),
    ));
    Ok(())
}

/// wasmtime: compile against `Module::deserialize_file` of its serialised code, to first call.
fn wasmtime_artifact(wasm: &[u8], quick: bool, out: &mut String) -> Result<()> {
    let engine = wasmtime::Engine::default();
    let first_call = |module: &wasmtime::Module| -> Result<i64> {
        let mut store = wasmtime::Store::new(&engine, ());
        let instance = wt(wasmtime::Instance::new(&mut store, module, &[]))?;
        let f = wt(instance.get_typed_func::<(i64, i64), i64>(&mut store, "main"))?;
        wt(f.call(&mut store, (1, 2)))
    };
    let compile_rounds = if quick { 3 } else { 5 };
    let compile = time(compile_rounds, || first_call(&wt(wasmtime::Module::new(&engine, wasm))?))?;
    let dir = temp_dir("wasmtime-cwasm");
    std::fs::create_dir_all(&dir)?;
    let file = dir.join("compile.cwasm");
    std::fs::write(&file, wt(wt(wasmtime::Module::new(&engine, wasm))?.serialize())?)?;
    let disk_rounds = if quick { 10 } else { 30 };
    let from_disk = time(disk_rounds, || {
        // SAFETY: written just above by this process's wasmtime.
        let m = wt(unsafe { wasmtime::Module::deserialize_file(&engine, &file) })?;
        first_call(&m)
    })?;
    let _ = std::fs::remove_dir_all(&dir);
    let module = wt(wasmtime::Module::new(&engine, wasm))?;
    let mem_rounds = if quick { 200 } else { 1000 };
    let from_memory = time(mem_rounds, || first_call(&module.clone()))?;
    out.push_str(&format!(
        "| wasmtime | {} | {} ({:.4}×) | – | {} | – | – |\n",
        fmt(compile),
        fmt(from_disk),
        from_disk.as_secs_f64() / compile.as_secs_f64(),
        fmt(from_memory),
    ));
    Ok(())
}

/// This thread's time on a CPU, in nanoseconds (`CLOCK_THREAD_CPUTIME_ID`: exact, where
/// `/proc/thread-self/schedstat` lags by up to a scheduler tick, more than a quick run's
/// rounds take), or `None` where it cannot be read.
fn thread_cpu_ns() -> Option<u64> {
    let mut t = libc::timespec { tv_sec: 0, tv_nsec: 0 };
    // SAFETY: `t` is a valid, writable timespec for the duration of the call.
    let ok = unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut t) } == 0;
    let ns = u64::try_from(t.tv_sec).ok()?.checked_mul(1_000_000_000)?.checked_add(u64::try_from(t.tv_nsec).ok()?)?;
    ok.then_some(ns)
}

/// What [`throughput`] measured: rounds per second of wall time, the share of the wall time
/// the threads spent on a CPU (below 1 when other processes kept them waiting for one), and
/// rounds per second the threads were on a CPU (what the work itself costs, whatever share of
/// the machine it got; lower on two threads than on one when they contend).
type Rate = (f64, f64, f64);

/// Instantiate + call rounds on `threads` threads at once, each with `make`'s round function;
/// the median (by wall-time rate) of `reps` repetitions of `rounds` rounds per thread.
fn throughput<F>(threads: usize, rounds: usize, reps: usize, make: &(dyn Fn() -> Result<F> + Sync)) -> Result<Rate>
where
    F: FnMut() -> Result<()>,
{
    let mut rates = Vec::with_capacity(reps);
    for _ in 0..reps {
        let barrier = std::sync::Barrier::new(threads);
        let elapsed: Vec<Result<(Duration, f64, f64)>> = std::thread::scope(|s| {
            let handles: Vec<_> = (0..threads)
                .map(|_| {
                    let barrier = &barrier;
                    s.spawn(move || -> Result<(Duration, f64, f64)> {
                        let mut round = make()?;
                        round()?;
                        barrier.wait();
                        let (t, cpu) = (Instant::now(), thread_cpu_ns());
                        for _ in 0..rounds {
                            round()?;
                        }
                        let wall = t.elapsed();
                        let cpu_ns = match (cpu, thread_cpu_ns()) {
                            (Some(a), Some(b)) => (b - a) as f64,
                            _ => f64::NAN,
                        };
                        Ok((wall, cpu_ns / wall.as_nanos() as f64, cpu_ns))
                    })
                })
                .collect();
            handles.into_iter().map(|h| h.join().map_err(|_| anyhow!("thread panicked"))?).collect()
        });
        let runs = elapsed.into_iter().collect::<Result<Vec<_>>>()?;
        let slowest = runs.iter().map(|r| r.0).max().unwrap_or_default();
        let on_cpu = runs.iter().map(|r| r.1).sum::<f64>() / runs.len() as f64;
        let cpu_seconds = runs.iter().map(|r| r.2).sum::<f64>() / 1e9;
        let total = (threads * rounds) as f64;
        rates.push((total / slowest.as_secs_f64(), on_cpu, total / cpu_seconds));
    }
    rates.sort_by(|a, b| a.0.total_cmp(&b.0));
    Ok(rates[rates.len() / 2])
}

/// One thread against two, their repetitions alternated so that load which comes and goes
/// falls on both: the median of each, and the median of the ratios of each repetition pair (a
/// one-thread run and the two-thread run right after it), which is what the row reports as
/// the scaling: on this VM a core's speed drifts by tens of percent from one second to the
/// next, so a pair measured seconds apart says more than two medians over the whole run.
/// Each repetition runs at least `rounds` rounds per thread, and more for a fast round, so
/// that it lasts about `MIN_REP` on one thread: a repetition of a few milliseconds measures
/// thread start-up and the scheduler more than the rounds (a 1-2 µs pooled round made
/// 10,000-round repetitions of 12-20 ms).
fn scaling<F>(rounds: usize, reps: usize, make: &(dyn Fn() -> Result<F> + Sync)) -> Result<Scaling>
where
    F: FnMut() -> Result<()>,
{
    const MIN_REP: f64 = 0.1;
    let probe = throughput(1, rounds.min(1_000), 1, make)?;
    let rounds = rounds.max((probe.0 * MIN_REP) as usize);
    let (mut one, mut two, mut ratios) = (Vec::with_capacity(reps), Vec::with_capacity(reps), Vec::with_capacity(reps));
    for _ in 0..reps {
        let (a, b) = (throughput(1, rounds, 1, make)?, throughput(2, rounds, 1, make)?);
        ratios.push(b.0 / a.0);
        one.push(a);
        two.push(b);
    }
    let median = |mut v: Vec<Rate>| {
        v.sort_by(|a, b| a.0.total_cmp(&b.0));
        let wall = v[v.len() / 2];
        v.sort_by(|a, b| a.2.total_cmp(&b.2));
        (wall.0, wall.1, v[v.len() / 2].2)
    };
    ratios.sort_by(f64::total_cmp);
    Ok(Scaling { one: median(one), two: median(two), ratio: ratios[ratios.len() / 2] })
}

/// What [`scaling`] measured.
struct Scaling {
    one: Rate,
    two: Rate,
    /// The median of the pairs' two-thread / one-thread wall rates.
    ratio: f64,
}

fn scaling_row(label: &str, s: Scaling) -> String {
    let (one, two) = (s.one, s.two);
    format!(
        "| {label} | {:.0}/s ({:.0}%) | {:.0}/s ({:.0}%) | {:.2}× | {:.0} | {:.0} | {:.2}× |\n",
        one.0,
        one.1 * 100.0,
        two.0,
        two.1 * 100.0,
        s.ratio,
        one.2,
        two.2,
        2.0 * two.2 / one.2
    )
}

fn wes_contract(engine: &Engine, wasm: &[u8]) -> Result<InstancePre> {
    let module = Module::new(engine, wes_decode::decode(wasm)?)?;
    let mut linker = Linker::new();
    linker.func_wrap("env", "inc", |_: &mut Caller<'_>, (x,): (i64,)| -> Result<i64, HostError> {
        Ok(x.wrapping_add(1))
    });
    Ok(linker.instantiate_pre(&module)?)
}

fn threads_rows(contract: &[u8], quick: bool, out: &mut String) -> Result<()> {
    let (rounds, reps) = if quick { (2_000, 5) } else { (10_000, 15) };
    let engine = crate::runtimes::wes_engine("WES", Mode::Unmetered).map_err(|(_, e)| anyhow!(e))?;
    let pre = Arc::new(wes_contract(&engine, contract)?);
    let wes_round = || -> Result<_> {
        let (engine, pre) = (engine.clone(), pre.clone());
        Ok(move || -> Result<()> {
            let mut store = Store::new(&engine);
            let instance = pre.instantiate(&mut store)?;
            let f = instance.get_func(&store, "call").ok_or_else(|| anyhow!("no call"))?;
            f.call(&mut store, &[Value::I64(42)])?;
            Ok(())
        })
    };
    out.push_str(&scaling_row("WES (fresh store, `InstancePre`)", scaling(rounds, reps, &wes_round)?));

    let factory = wes_lifecycle::InstanceFactory::new(
        &engine,
        &wes_linker(),
        &Module::new(&engine, wes_decode::decode(contract)?)?,
    )?;
    let pool = Arc::new(wes_lifecycle::InstancePool::new(
        factory,
        wes_lifecycle::PoolConfig { strategy: wes_lifecycle::PoolStrategy::Fixed(4), ..Default::default() },
        Arc::new(wes_lifecycle::SystemClock::new()),
    )?);
    let pool_round = || -> Result<_> {
        let pool = pool.clone();
        Ok(move || -> Result<()> {
            let mut lease = pool.checkout()?;
            lease.call("call", &[Value::I64(42)])?;
            drop(lease);
            Ok(())
        })
    };
    out.push_str(&scaling_row("WES (pool)", scaling(rounds, reps, &pool_round)?));

    for pooling in [false, true] {
        let mut config = wasmtime::Config::new();
        if pooling {
            let mut p = wasmtime::PoolingAllocationConfig::default();
            p.total_core_instances(16).total_memories(16).total_tables(16).max_memory_size(64 << 20);
            config.allocation_strategy(wasmtime::InstanceAllocationStrategy::Pooling(p));
        }
        let engine = wt(wasmtime::Engine::new(&config))?;
        let module = wt(wasmtime::Module::new(&engine, contract))?;
        let mut linker = wasmtime::Linker::new(&engine);
        wt(linker.func_wrap("env", "inc", |x: i64| x.wrapping_add(1)))?;
        let pre = Arc::new(wt(linker.instantiate_pre(&module))?);
        let round = || -> Result<_> {
            let (engine, pre) = (engine.clone(), pre.clone());
            Ok(move || -> Result<()> {
                let mut store = wasmtime::Store::new(&engine, ());
                let instance = wt(pre.instantiate(&mut store))?;
                let f = wt(instance.get_typed_func::<i64, i64>(&mut store, "call"))?;
                wt(f.call(&mut store, 42))?;
                Ok(())
            })
        };
        let measured = scaling(rounds, reps, &round)?;
        let label = if pooling { "wasmtime (pooling)" } else { "wasmtime" };
        out.push_str(&scaling_row(label, measured));
    }
    Ok(())
}

fn wes_linker() -> Linker {
    let mut linker = Linker::new();
    linker.func_wrap("env", "inc", |_: &mut Caller<'_>, (x,): (i64,)| -> Result<i64, HostError> {
        Ok(x.wrapping_add(1))
    });
    linker
}

/// The section, in Markdown; `filter` selects `artifact`, `threads` or both (`None`).
pub fn run(compile_wasm: &[u8], contract: &[u8], quick: bool, filter: Option<&str>) -> Result<String> {
    let want = |name: &str| filter.is_none_or(|f| name.contains(f));
    let mut out = String::new();
    let load = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    out.push_str(&format!(
        "Load average at the start: {}.\n\n",
        load.split_whitespace().take(3).collect::<Vec<_>>().join(" ")
    ));
    if want("artifact") {
        eprintln!("== artifact: load the compile workload's code instead of compiling it");
        out.push_str(&format!(
            "### artifact: the compile workload ({} KiB) to its first call\n\n\
             | runtime | compile + first call | from disk (cache dir) | from disk (one file) | from memory, hash given | memory lookup alone | from memory, hashing the bytes |\n\
             |---|---:|---:|---:|---:|---:|---:|\n",
            compile_wasm.len() >> 10
        ));
        wes_artifact(compile_wasm, Mode::Unmetered, quick, &mut out).context("WES artifact rows")?;
        wes_artifact(compile_wasm, Mode::Metered, quick, &mut out).context("WES (gas) artifact rows")?;
        wasmtime_artifact(compile_wasm, quick, &mut out).context("wasmtime artifact rows")?;
        out.push('\n');
    }
    if want("threads") {
        eprintln!("== threads: instantiate + call of the contract on one thread and on two");
        out.push_str(
            "### threads: instantiate + call of the contract, one thread against two\n\n\
             Rounds per second of wall time (in brackets: the share of the wall time each thread was \
             on a CPU), then rounds per second on a CPU (per CPU-second: what a round costs whatever \
             share of the machine it got), one and two thread runs alternated, medians, each run at least 0.1 s long on one thread; \
             \"2 threads / 1\" is the median of the ratios of each one-thread run and the two-thread run \
             right after it. The last \
             column is what two threads would reach with two cores to themselves: 2 × the per \
             CPU-second rate of two threads / that of one.\n\n\
             | runtime | 1 thread | 2 threads | 2 threads / 1 | per CPU-s, 1 thread | per CPU-s, 2 threads | 2 threads / 1, per CPU-s |\n\
             |---|---:|---:|---:|---:|---:|---:|\n",
        );
        threads_rows(contract, quick, &mut out).context("threads rows")?;
        out.push('\n');
    }
    Ok(out)
}
