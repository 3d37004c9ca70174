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

    // The same two loops interleaved in short batches, so load that comes and goes on a shared
    // machine falls on both alike: the median of the per-round ratios is the facade's cost.
    let rounds = 41;
    let batch = 200;
    let mut raw_times = Vec::with_capacity(rounds);
    let mut facade_times = Vec::with_capacity(rounds);
    let mut ratios = Vec::with_capacity(rounds);
    for round in 0..rounds {
        let time_raw = || {
            let t = std::time::Instant::now();
            for _ in 0..batch {
                let mut store = Store::new(&engine);
                store.set_meter(runtime.gas_meter(1_000_000));
                let instance = linker.instantiate(&mut store, &raw).unwrap();
                let call = instance.get_func(&store, "call").unwrap();
                black_box(call.call(&mut store, &[Value::I64(42)]).unwrap());
            }
            t.elapsed().as_secs_f64() / f64::from(batch)
        };
        let time_facade = || {
            let t = std::time::Instant::now();
            for _ in 0..batch {
                let mut instance = runtime.create_instance(&module, runtime.gas_meter(1_000_000)).unwrap();
                black_box(instance.execute("call", &[Value::I64(42)]).unwrap().values);
                runtime.destroy_instance(instance);
            }
            t.elapsed().as_secs_f64() / f64::from(batch)
        };
        // Alternate which goes first, so neither always runs on a warmer cache.
        let (r, f) = if round % 2 == 0 {
            let r = time_raw();
            (r, time_facade())
        } else {
            let f = time_facade();
            (time_raw(), f)
        };
        raw_times.push(r);
        facade_times.push(f);
        ratios.push(f / r);
    }
    let median = |v: &mut Vec<f64>| {
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    };
    println!(
        "paired instantiate + call, {rounds} rounds of {batch}: runtime API {:.2} µs, facade {:.2} µs, median ratio {:.3}",
        median(&mut raw_times) * 1e6,
        median(&mut facade_times) * 1e6,
        median(&mut ratios)
    );

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

criterion_group!(benches, facade);
criterion_main!(benches);
