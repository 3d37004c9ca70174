//! What the facade costs on top of the runtime API: a contract-style instantiate + call through
//! `wes::Runtime` next to the same through `wes_runtime` directly (same engine settings, same
//! meter), and encoding a 10-value call in each format. `cargo bench -p wes`.
#![allow(clippy::unwrap_used, clippy::expect_used, reason = "a failed setup should stop the benchmark loudly")]

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use wes::{Caller, Encoding, ExternRef, FuncRef, HostError, Runtime, RuntimeConfig, Value};
use wes_runtime::{Linker, Module, Store};

/// The bench harness's contract workload (benches/workloads/contract.wat).
const CONTRACT: &str = include_str!("../../../benches/workloads/contract.wat");

fn inc(_: &mut Caller<'_>, (x,): (i64,)) -> Result<i64, HostError> {
    Ok(x.wrapping_add(1))
}

fn facade(c: &mut Criterion) {
    let mut runtime = Runtime::new(RuntimeConfig::default()).unwrap();
    runtime.linker_mut().func_wrap("env", "inc", inc);
    let module = runtime.load(CONTRACT.as_bytes()).unwrap();

    // The runtime API, on the facade's own engine: the same code, pricing and meter.
    let engine = runtime.engine().clone();
    let raw = Module::new(&engine, wes_decode::decode_text(CONTRACT).unwrap()).unwrap();
    let mut linker = Linker::new();
    linker.func_wrap("env", "inc", inc);

    let mut group = c.benchmark_group("instantiate + call (metered, fresh instance)");
    group.bench_function("runtime API", |b| {
        b.iter(|| {
            let mut store = Store::new(&engine);
            store.set_meter(runtime.gas_meter(1_000_000));
            let instance = linker.instantiate(&mut store, &raw).unwrap();
            let call = instance.get_func(&store, "call").unwrap();
            black_box(call.call(&mut store, &[Value::I64(42)]).unwrap());
        });
    });
    group.bench_function("facade", |b| {
        b.iter(|| {
            let mut instance = runtime.create_instance(&module, runtime.gas_meter(1_000_000)).unwrap();
            let result = instance.execute("call", &[Value::I64(42)]).unwrap();
            black_box(result.values);
            runtime.destroy_instance(instance);
        });
    });
    group.finish();

    // The same loops interleaved in short batches, so load that comes and goes on a shared
    // machine falls on both alike: the median of the per-round ratios is the cost.
    let raw_round = || {
        let mut store = Store::new(&engine);
        store.set_meter(runtime.gas_meter(1_000_000));
        let instance = linker.instantiate(&mut store, &raw).unwrap();
        let call = instance.get_func(&store, "call").unwrap();
        black_box(call.call(&mut store, &[Value::I64(42)]).unwrap());
    };
    let facade_round = |rt: &Runtime, m: &wes::LoadedModule| {
        let mut instance = rt.create_instance(m, rt.gas_meter(1_000_000)).unwrap();
        black_box(instance.execute("call", &[Value::I64(42)]).unwrap().values);
        rt.destroy_instance(instance);
    };
    paired("instantiate + call: facade / runtime API", &raw_round, &|| facade_round(&runtime, &module));
    // The runtime API at its fastest: imports resolved once (what the facade does at load).
    let pre = linker.instantiate_pre(&raw).unwrap();
    let pre_round = || {
        let mut store = Store::new(&engine);
        store.set_meter(runtime.gas_meter(1_000_000));
        let instance = pre.instantiate(&mut store).unwrap();
        let call = instance.get_func(&store, "call").unwrap();
        black_box(call.call(&mut store, &[Value::I64(42)]).unwrap());
    };
    paired("instantiate + call: facade / runtime API with InstancePre", &pre_round, &|| {
        facade_round(&runtime, &module)
    });
    let mut quiet = Runtime::new(RuntimeConfig::from_toml("[monitoring]\nmetrics = false\n").unwrap()).unwrap();
    quiet.linker_mut().func_wrap("env", "inc", inc);
    let quiet_module = quiet.load(CONTRACT.as_bytes()).unwrap();
    paired("instantiate + call: facade with metrics / without", &|| facade_round(&quiet, &quiet_module), &|| {
        facade_round(&runtime, &module)
    });
    // Pooled: the facade with [instance] reuse against a wes-lifecycle pool used directly (the
    // same factory setup: a meter per check-out, the instance reset on check-in).
    let mut pooled =
        Runtime::new(RuntimeConfig::from_toml("[instance]\nreuse = true\nprewarm = 1\n").unwrap()).unwrap();
    pooled.linker_mut().func_wrap("env", "inc", inc);
    let pooled_module = pooled.load(CONTRACT.as_bytes()).unwrap();
    let factory = wes_lifecycle::InstanceFactory::new(&engine, &linker, &raw).unwrap();
    let pool = wes_lifecycle::InstancePool::new(
        factory,
        wes_lifecycle::PoolConfig::default(),
        std::sync::Arc::new(wes_lifecycle::SystemClock::new()),
    )
    .unwrap();
    pool.prewarm(1).unwrap();
    let pool_round = || {
        let mut lease = pool.checkout().unwrap();
        lease.store_mut().set_meter(runtime.gas_meter(1_000_000));
        let instance = lease.instance();
        let call = instance.get_func(lease.store(), "call").unwrap();
        black_box(call.call(lease.store_mut(), &[Value::I64(42)]).unwrap());
    };
    paired("pooled instance + call: facade / wes-lifecycle pool", &pool_round, &|| {
        facade_round(&pooled, &pooled_module)
    });
    let mut profiled = Runtime::new(RuntimeConfig::from_toml("[monitoring]\nprofile = true\n").unwrap()).unwrap();
    profiled.linker_mut().func_wrap("env", "inc", inc);
    let fib = br#"(module (func $fib (export "fib") (param i32) (result i32)
        (if (result i32) (i32.lt_u (local.get 0) (i32.const 2)) (then (local.get 0))
          (else (i32.add (call $fib (i32.sub (local.get 0) (i32.const 1)))
                         (call $fib (i32.sub (local.get 0) (i32.const 2))))))))"#;
    let (fib_plain, fib_profiled) = (runtime.load(fib).unwrap(), profiled.load(fib).unwrap());
    let fib_round = |rt: &Runtime, m: &wes::LoadedModule| {
        let mut instance = rt.create_instance(m, rt.gas_meter(u64::MAX / 4)).unwrap();
        black_box(instance.execute("fib", &[Value::I32(20)]).unwrap().values);
    };
    paired("fib(20) (21,891 calls): profiled / not", &|| fib_round(&runtime, &fib_plain), &|| {
        fib_round(&profiled, &fib_profiled)
    });

    let ten = [
        Value::I32(-7),
        Value::I64(1 << 40),
        Value::f32(1.5),
        Value::f64(-2.25),
        Value::V128(u128::MAX / 3),
        Value::FuncRef(Some(FuncRef::from_index(3))),
        Value::ExternRef(None),
        Value::I32(42),
        Value::I64(-1),
        Value::ExternRef(Some(ExternRef(9))),
    ];
    let mut group = c.benchmark_group("encode 10 values");
    for encoding in Encoding::ALL {
        let e = encoding.encoder();
        group.bench_function(format!("{encoding:?}"), |b| b.iter(|| black_box(e.encode(black_box(&ten)).unwrap())));
    }
    group.finish();
    let mut group = c.benchmark_group("decode 10 values");
    for encoding in Encoding::ALL {
        let e = encoding.encoder();
        let bytes = e.encode(&ten).unwrap();
        group.bench_function(format!("{encoding:?}"), |b| b.iter(|| black_box(e.decode(black_box(&bytes)).unwrap())));
    }
    group.finish();
}

/// Times `base` and `other` in alternating batches and prints the median time of each and the
/// median of the per-round ratios `other / base`.
/// `WES_PAIRED=TEXT` runs only the pairs whose label contains TEXT (to profile one);
/// `WES_PAIRED_ROUNDS=N` runs N rounds instead of 41 (a longer run to profile).
fn paired(label: &str, base: &dyn Fn(), other: &dyn Fn()) {
    if std::env::var("WES_PAIRED").is_ok_and(|only| !label.contains(&only)) {
        return;
    }
    let rounds = std::env::var("WES_PAIRED_ROUNDS").ok().and_then(|n| n.parse::<usize>().ok()).unwrap_or(41).max(1);
    let batch = 100u32;
    let time = |f: &dyn Fn()| {
        let t = std::time::Instant::now();
        for _ in 0..batch {
            f();
        }
        t.elapsed().as_secs_f64() / f64::from(batch)
    };
    let (mut a, mut b, mut ratios) = (Vec::new(), Vec::new(), Vec::new());
    for round in 0..rounds {
        // Alternate which goes first, so neither always runs on a warmer cache.
        let (x, y) = if round % 2 == 0 {
            let x = time(base);
            (x, time(other))
        } else {
            let y = time(other);
            (time(base), y)
        };
        a.push(x);
        b.push(y);
        ratios.push(y / x);
    }
    let median = |v: &mut Vec<f64>| {
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    };
    println!(
        "paired, {rounds} rounds of {batch}: {label}: {:.2} µs / {:.2} µs, median ratio {:.3}",
        median(&mut b) * 1e6,
        median(&mut a) * 1e6,
        median(&mut ratios)
    );
}

criterion_group!(benches, facade);
criterion_main!(benches);
