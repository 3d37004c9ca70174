//! What the security layer costs on the paths it sits on:
//!
//! - `permission/enter`: the check before one host call (grant bit, call budget), alone;
//! - `host_call/{plain,guarded}`: a wasm loop making 1,000 host calls, with an ordinary host
//!   function and with the same function guarded by a capability (the difference over 1,000
//!   is the check's cost in place, trampoline and all);
//! - `host_call/interleaved` (printed, before those): the two alternated round by round, the
//!   per-call medians and the median ratio, which load from elsewhere cannot skew;
//! - `threat/record`: one threat event into a monitor on wall-clock time.
//!
//! `cargo bench -p wes-security --bench security`
#![allow(clippy::panic, reason = "a benchmark whose setup fails has nothing to measure")]

use std::sync::Arc;
use std::time::Instant;

use criterion::{Criterion, criterion_group, criterion_main};
use wes_core::Value;
use wes_runtime::{Caller, Config, Engine, Func, HostError, Linker, Module, Store};
use wes_security::{
    Action, Budget, ModuleHash, ModuleIdentity, PermissionController, Rule, SecurityManager, SecurityPolicy,
    ThreatKind, ThreatMonitor, ThreatPolicy,
};

const LOOP: &str = r#"(module (import "env" "f" (func $f (param i32) (result i32)))
  (func (export "run") (param $n i32) (result i32) (local $acc i32)
    (block $d (loop $l local.get $n i32.eqz br_if $d
      local.get $acc call $f local.set $acc
      local.get $n i32.const 1 i32.sub local.set $n br $l))
    local.get $acc))"#;

fn bench(c: &mut Criterion) {
    // The check alone.
    let controller = PermissionController::default();
    let cap = controller.capability("storage.read").unwrap_or_else(|e| panic!("{e}"));
    controller.set_budget("storage.read", Budget { calls_per_invocation: u64::MAX, ..Budget::UNLIMITED }).ok();
    let id = ModuleIdentity::new(b"bench", None);
    controller.grant(&wes_security::ModuleRef::Hash(*id.hash()), "storage.read").ok();
    let session = controller.session(&id);
    c.bench_function("permission/enter", |b| {
        b.iter(|| session.enter(std::hint::black_box(cap), "env::f").map(|p| p.capability()))
    });

    // In place: 1,000 host calls from wasm.
    let engine = Engine::new(Config::default(), Arc::new(wes_jit::Jit::new().unwrap_or_else(|e| panic!("{e}"))));
    let security = SecurityManager::new(SecurityPolicy::spec()).unwrap_or_else(|e| panic!("{e}"));
    let (id, wasm) = security.admit(LOOP.as_bytes(), None).unwrap_or_else(|e| panic!("{e}"));
    let module = Module::new(&engine, wasm).unwrap_or_else(|e| panic!("{e}"));
    let mut plain = Linker::new();
    plain.func_wrap("env", "f", |_: &mut Caller<'_>, (x,): (i32,)| -> Result<i32, HostError> { Ok(x + 1) });
    let mut guarded = security.linker();
    guarded.func_wrap("storage.read", "env", "f", |_, _, (x,): (i32,)| Ok(x + 1)).unwrap_or_else(|e| panic!("{e}"));
    let mut plain_store = Store::new(&engine);
    let instance = plain.instantiate(&mut plain_store, &module).unwrap_or_else(|e| panic!("{e}"));
    let plain_run = instance.get_func(&plain_store, "run").unwrap_or_else(|| panic!("no run"));
    let mut guarded_store = Store::new(&engine);
    let instance = guarded.instantiate(&mut guarded_store, &module, &id).unwrap_or_else(|e| panic!("{e}"));
    let guarded_run = instance.instance.get_func(&guarded_store, "run").unwrap_or_else(|| panic!("no run"));
    assert_eq!(guarded_run.call(&mut guarded_store, &[Value::I32(1_000)]).ok(), Some(vec![Value::I32(1_000)]));
    interleaved(&mut plain_store, plain_run, &mut guarded_store, guarded_run);
    let mut group = c.benchmark_group("host_call");
    group.bench_function("plain", |b| b.iter(|| plain_run.call(&mut plain_store, &[Value::I32(1_000)])));
    group.bench_function("guarded", |b| b.iter(|| guarded_run.call(&mut guarded_store, &[Value::I32(1_000)])));
    group.finish();

    // One threat event.
    let rule = Rule { threshold: 1 << 40, window_ms: 60_000, action: Action::Throttle };
    let monitor = ThreatMonitor::new(ThreatPolicy { host_call_flood: rule, ..ThreatPolicy::off() });
    let module = ModuleHash([3; 32]);
    c.bench_function("threat/record", |b| b.iter(|| monitor.record(&module, ThreatKind::HostCalls, 1)));
}

/// Plain and guarded 1,000-call runs alternated, round after round, so that load from elsewhere
/// on a shared machine falls on both alike: the medians per call and the median of the
/// per-round ratios, printed. (Criterion's separate groups, seconds apart, moved by ±40 % on a
/// loaded host.)
fn interleaved(plain_store: &mut Store, plain: Func, guarded_store: &mut Store, guarded: Func) {
    const ROUNDS: usize = 3_000;
    let median = |v: &mut Vec<f64>| {
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    };
    let time = |store: &mut Store, f: Func| {
        let start = Instant::now();
        std::hint::black_box(f.call(store, &[Value::I32(1_000)]).ok());
        start.elapsed().as_nanos() as f64 / 1_000.0
    };
    let (mut p, mut g, mut ratio) = (Vec::new(), Vec::new(), Vec::new());
    for _ in 0..ROUNDS {
        let a = time(plain_store, plain);
        let b = time(guarded_store, guarded);
        p.push(a);
        g.push(b);
        ratio.push(b / a);
    }
    let (p, g, r) = (median(&mut p), median(&mut g), median(&mut ratio));
    println!("host_call/interleaved ({ROUNDS} rounds): plain {p:.2} ns/call, guarded {g:.2} ns/call, ratio {r:.3}");
}

criterion_group!(benches, bench);
criterion_main!(benches);
