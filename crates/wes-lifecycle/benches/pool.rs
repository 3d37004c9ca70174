//! Criterion benchmarks of the instance layer: a pooled check-out + call + check-in (reset) of
//! a small contract, and the reset of a 16 MiB memory after a call dirtied 64 KiB or all of it.
//! `cargo bench -p wes-lifecycle`.
#![allow(clippy::unwrap_used, clippy::expect_used, reason = "a failed setup should stop the benchmark loudly")]

use std::hint::black_box;
use std::sync::Arc;

use criterion::{Criterion, criterion_group, criterion_main};
use wes_core::Value;
use wes_lifecycle::{InstanceFactory, InstancePool, PoolConfig, PoolStrategy, SystemClock};
use wes_runtime::{Caller, Config, Engine, HostError, Linker, Module};

const CONTRACT: &str = include_str!("../../../benches/workloads/contract.wat");
const DIRTY: &str = include_str!("../../../benches/workloads/dirty.wat");

fn pool(engine: &Engine, wat: &str) -> InstancePool {
    let module = Module::new(engine, wes_decode::decode_text(wat).unwrap()).unwrap();
    let mut linker = Linker::new();
    linker.func_wrap("env", "inc", |_: &mut Caller<'_>, (x,): (i64,)| -> Result<i64, HostError> {
        Ok(x.wrapping_add(1))
    });
    let factory = InstanceFactory::new(engine, &linker, &module).unwrap();
    let config = PoolConfig { strategy: PoolStrategy::Fixed(1), ..PoolConfig::default() };
    InstancePool::new(factory, config, Arc::new(SystemClock::new())).unwrap()
}

fn lifecycle(c: &mut Criterion) {
    let engine = Engine::new(Config::default(), Arc::new(wes_jit::Jit::new().unwrap()));
    let contract = pool(&engine, CONTRACT);
    c.bench_function("pooled check-out + call + check-in (contract)", |b| {
        b.iter(|| {
            let mut lease = contract.checkout().unwrap();
            black_box(lease.call("call", &[Value::I64(42)]).unwrap());
        });
    });

    let dirty = pool(&engine, DIRTY);
    let mut group = c.benchmark_group("reset of a 16 MiB memory");
    for (name, bytes) in [("64 KiB dirtied", 64 << 10), ("16 MiB dirtied", 16 << 20)] {
        let mut lease = dirty.checkout().unwrap();
        group.bench_function(name, |b| {
            b.iter_custom(|iters| {
                let mut total = std::time::Duration::ZERO;
                for _ in 0..iters {
                    lease.call("dirty", &[Value::I32(bytes)]).unwrap();
                    let store = lease.store_mut();
                    let started = std::time::Instant::now();
                    black_box(store.reset().unwrap());
                    total += started.elapsed();
                }
                total
            });
        });
    }
    group.finish();
}

criterion_group!(benches, lifecycle);
criterion_main!(benches);
