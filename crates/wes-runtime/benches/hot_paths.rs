//! Criterion micro-benchmarks of wes-runtime's hot paths: what one contract-style invocation
//! pays beyond the wasm it runs. `cargo bench -p wes-runtime`; the side-by-side comparison with
//! other runtimes is `cargo xtask bench`.
#![allow(clippy::unwrap_used, clippy::expect_used, reason = "a failed setup should stop the benchmark loudly")]

use std::hint::black_box;
use std::sync::Arc;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use wes_core::Value;
use wes_runtime::{Caller, Config, Engine, HostError, Linker, Module, Store};

/// A small contract: a memory with a data segment, a global, an imported host function.
const CONTRACT: &str = r#"(module
  (import "env" "inc" (func $inc (param i64) (result i64)))
  (memory 1)
  (global $calls (mut i32) (i32.const 0))
  (data (i32.const 16) "transfer:alice->bob:0000000042")
  (func (export "call") (param i64) (result i64)
    (global.set $calls (i32.add (global.get $calls) (i32.const 1)))
    (call $inc (i64.add (i64.load (i32.const 16)) (local.get 0))))
  (func (export "nop") (param i64) (result i64) (local.get 0))
  (func (export "host_loop") (param $n i32) (result i64)
    (local $acc i64)
    (block $done
      (loop $next
        (br_if $done (i32.eqz (local.get $n)))
        (local.set $acc (call $inc (local.get $acc)))
        (local.set $n (i32.sub (local.get $n) (i32.const 1)))
        (br $next)))
    (local.get $acc)))"#;

const HOST_CALLS: i32 = 1_000;

fn setup() -> (Engine, Module, Linker) {
    let engine = Engine::new(Config::default(), Arc::new(wes_jit::Jit::new().unwrap()));
    let module = Module::new(&engine, wes_decode::decode_text(CONTRACT).unwrap()).unwrap();
    let mut linker = Linker::new();
    linker.func_wrap("env", "inc", |_: &mut Caller<'_>, (x,): (i64,)| -> Result<i64, HostError> {
        Ok(x.wrapping_add(1))
    });
    (engine, module, linker)
}

fn hot_paths(c: &mut Criterion) {
    let (engine, module, linker) = setup();

    c.bench_function("instantiate (fresh store)", |b| {
        b.iter(|| {
            let mut store = Store::new(&engine);
            black_box(linker.instantiate(&mut store, &module).unwrap());
        });
    });

    c.bench_function("instantiate + call (fresh store)", |b| {
        b.iter(|| {
            let mut store = Store::new(&engine);
            let instance = linker.instantiate(&mut store, &module).unwrap();
            let call = instance.get_func(&store, "call").unwrap();
            black_box(call.call(&mut store, &[Value::I64(42)]).unwrap());
        });
    });

    let mut store = Store::new(&engine);
    let instance = linker.instantiate(&mut store, &module).unwrap();
    let nop = instance.get_func(&store, "nop").unwrap();
    c.bench_function("call an export (host -> wasm)", |b| {
        b.iter(|| black_box(nop.call(&mut store, &[Value::I64(1)]).unwrap()));
    });

    let host_loop = instance.get_func(&store, "host_loop").unwrap();
    let mut group = c.benchmark_group("host call (wasm -> host)");
    group.throughput(Throughput::Elements(HOST_CALLS as u64));
    group.bench_function("per 1000 calls", |b| {
        b.iter(|| black_box(host_loop.call(&mut store, &[Value::I32(HOST_CALLS)]).unwrap()));
    });
    group.finish();

    // A host function that calls back into wasm, as a contract host's db_read calls the
    // contract's allocate: wasm -> host -> wasm and back, per round trip.
    let mut linker = Linker::new();
    linker.func_wrap("env", "inc", |c: &mut Caller<'_>, (x,): (i64,)| -> Result<i64, HostError> {
        let nop = c.get_func("nop").ok_or_else(|| HostError::new("no nop"))?;
        Ok(c.call(nop, &[Value::I64(x)])?.first().and_then(Value::as_i64).unwrap_or(0).wrapping_add(1))
    });
    let mut store = Store::new(&engine);
    let instance = linker.instantiate(&mut store, &module).unwrap();
    let host_loop = instance.get_func(&store, "host_loop").unwrap();
    let mut group = c.benchmark_group("host call calling back into wasm (wasm -> host -> wasm)");
    group.throughput(Throughput::Elements(HOST_CALLS as u64));
    group.bench_function("per 1000 round trips", |b| {
        b.iter(|| black_box(host_loop.call(&mut store, &[Value::I32(HOST_CALLS)]).unwrap()));
    });
    group.finish();
}

criterion_group!(benches, hot_paths);
criterion_main!(benches);
