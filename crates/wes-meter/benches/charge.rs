//! The cost of charging gas through the meter API (outside generated code): one
//! `GasMeter::charge_for` on each meter. Target: well under 100 ns per charge.
#![allow(clippy::unwrap_used, missing_docs, reason = "benchmark harness")]

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use wes_meter::{BasicMeter, ChargeKind, CompositeMeter, GasMeter, ProfilingMeter};

fn charge(c: &mut Criterion) {
    let mut g = c.benchmark_group("meter_charge");
    let mut basic = BasicMeter::new(u64::MAX);
    g.bench_function("basic", |b| b.iter(|| basic.charge_for(ChargeKind::Code, black_box(3)).unwrap()));
    let mut dynamic: Box<dyn GasMeter> = Box::new(BasicMeter::new(u64::MAX));
    g.bench_function("basic_dyn", |b| b.iter(|| dynamic.charge_for(ChargeKind::Code, black_box(3)).unwrap()));
    let mut profiling = ProfilingMeter::new(u64::MAX);
    profiling.enter("main");
    g.bench_function("profiling", |b| b.iter(|| profiling.charge_for(ChargeKind::Code, black_box(3)).unwrap()));
    let mut composite =
        CompositeMeter::new(vec![Box::new(BasicMeter::new(u64::MAX)), Box::new(BasicMeter::new(u64::MAX))]);
    g.bench_function("composite_of_two", |b| b.iter(|| composite.charge_for(ChargeKind::Code, black_box(3)).unwrap()));
    g.finish();
}

criterion_group!(benches, charge);
criterion_main!(benches);
