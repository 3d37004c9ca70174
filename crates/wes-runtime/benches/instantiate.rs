//! Criterion benchmarks of instantiation: a fresh store and instance of a large contract-shaped
//! module (the one `cargo xtask bench` uses, from `benches/src/large_module.rs`) through the
//! linker and through an [`InstancePre`], with and without a call. `cargo bench -p wes-runtime
//! --bench instantiate`.
#![allow(clippy::unwrap_used, clippy::expect_used, reason = "a failed setup should stop the benchmark loudly")]

#[path = "../../../benches/src/large_module.rs"]
#[allow(dead_code, reason = "the harness also reads the module's dimensions; this bench only builds it")]
mod large_module;

use std::hint::black_box;
use std::sync::Arc;

use criterion::{Criterion, criterion_group, criterion_main};
use wes_core::Value;
use wes_runtime::{Caller, Config, Engine, HostError, Linker, Module, Store};

fn instantiate(c: &mut Criterion) {
    let engine = Engine::new(Config::default(), Arc::new(wes_jit::Jit::new().unwrap()));
    let module = Module::new(&engine, wes_decode::decode_text(&large_module::wat()).unwrap()).unwrap();
    let mut linker = Linker::new();
    linker.func_wrap("env", "inc", |_: &mut Caller<'_>, (x,): (i64,)| -> Result<i64, HostError> {
        Ok(x.wrapping_add(1))
    });
    let pre = linker.instantiate_pre(&module).unwrap();

    let mut group = c.benchmark_group("large module");
    group.bench_function("instantiate (fresh store, linker)", |b| {
        b.iter(|| {
            let mut store = Store::new(&engine);
            black_box(linker.instantiate(&mut store, &module).unwrap());
        });
    });
    group.bench_function("instantiate (fresh store, InstancePre)", |b| {
        b.iter(|| {
            let mut store = Store::new(&engine);
            black_box(pre.instantiate(&mut store).unwrap());
        });
    });
    group.bench_function("instantiate + call (fresh store, InstancePre)", |b| {
        b.iter(|| {
            let mut store = Store::new(&engine);
            let instance = pre.instantiate(&mut store).unwrap();
            let call = instance.get_func(&store, "call").unwrap();
            black_box(call.call(&mut store, &[Value::I64(42)]).unwrap());
        });
    });
    group.finish();
}

criterion_group!(benches, instantiate);
criterion_main!(benches);
