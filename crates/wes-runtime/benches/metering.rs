//! Metered against unmetered WES, in the same run: a loop-heavy and a call-heavy workload.
//! The slowdown of the metered engine is what gas costs inside generated code.
#![allow(clippy::unwrap_used, missing_docs, reason = "benchmark harness")]

use std::sync::Arc;

use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};
use wes_core::Value;
use wes_jit::{Jit, JitConfig};
use wes_meter::Pricing;
use wes_runtime::{Config, Engine, Instance, Linker, Module, Store};

const WAT: &str = r#"(module
  (func (export "loop") (param $n i32) (result i64) (local $acc i64)
    (block $done
      (loop $l
        (br_if $done (i32.eqz (local.get $n)))
        (local.set $acc (i64.add (local.get $acc) (i64.extend_i32_u (local.get $n))))
        (local.set $n (i32.sub (local.get $n) (i32.const 1)))
        (br $l)))
    (local.get $acc))
  (func $fib (export "fib") (param $n i32) (result i32)
    (if (result i32) (i32.lt_u (local.get $n) (i32.const 2))
      (then (local.get $n))
      (else (i32.add (call $fib (i32.sub (local.get $n) (i32.const 1)))
                     (call $fib (i32.sub (local.get $n) (i32.const 2))))))))"#;

fn setup(metered: bool) -> (Store, Instance) {
    let pricing = metered.then(|| Arc::new(Pricing::default()));
    let jit = Jit::with_config(JitConfig { pricing: pricing.clone(), ..JitConfig::default() }).unwrap();
    let mut config = Config::default();
    config.pricing(pricing);
    let engine = Engine::new(config, Arc::new(jit));
    let module = Module::new(&engine, wes_decode::decode_text(WAT).unwrap()).unwrap();
    let mut store = Store::new(&engine);
    let instance = Linker::new().instantiate(&mut store, &module).unwrap();
    (store, instance)
}

fn metering(c: &mut Criterion) {
    let mut g = c.benchmark_group("metering");
    g.sample_size(20);
    for (workload, arg) in [("loop", 1_000_000), ("fib", 25)] {
        for metered in [false, true] {
            let (mut store, instance) = setup(metered);
            let f = instance.get_func(&store, workload).unwrap();
            let args = [Value::I32(arg)];
            let id = BenchmarkId::new(workload, if metered { "metered" } else { "unmetered" });
            if metered {
                g.bench_function(id, |b| b.iter(|| f.call_with_gas(&mut store, &args, u64::MAX / 2).result.unwrap()));
            } else {
                g.bench_function(id, |b| b.iter(|| f.call(&mut store, &args).unwrap()));
            }
        }
    }
    g.finish();
}

criterion_group!(benches, metering);
criterion_main!(benches);
