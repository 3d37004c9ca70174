//! Tiering: a module runs on the lower tier at once and on the upper tier's code once it is
//! ready, with the same results, traps and gas before and after the switch. Today both tiers
//! are JIT configurations (unoptimised below, optimised above), which already exercise the
//! switch through function records, tables and calls between instances.

use std::sync::Arc;

use wes_core::{TrapCode, Value};
use wes_jit::{Jit, JitConfig};
use wes_meter::Pricing;
use wes_runtime::{Config, Engine, Extern, Linker, Module, Store, TierState, Tiered};

const WAT: &str = r#"(module
  (type $t (func (param i64) (result i64)))
  (table 2 funcref)
  (elem (i32.const 0) $fib $boom)
  (func $fib (export "fib") (type $t)
    local.get 0 i64.const 2 i64.lt_u
    if (result i64) local.get 0
    else
      local.get 0 i64.const 1 i64.sub i32.const 0 call_indirect (type $t)
      local.get 0 i64.const 2 i64.sub call $fib i64.add
    end)
  (func $boom (export "boom") (type $t) local.get 0 i32.wrap_i64 i32.const 0 i32.div_u i64.extend_i32_u)
  (func (export "via_table") (param i32 i64) (result i64) local.get 1 local.get 0 call_indirect (type $t)))"#;

fn tiered(pricing: &Arc<Pricing>, budget: usize) -> (Engine, Arc<Tiered>) {
    tiered_with(pricing, budget, JitConfig { optimize: false, ..JitConfig::default() }, JitConfig::default())
}

/// A tiered engine from an unoptimised and an optimised JIT, or the two configurations given.
fn tiered_with(pricing: &Arc<Pricing>, budget: usize, lower: JitConfig, upper: JitConfig) -> (Engine, Arc<Tiered>) {
    let jit = |config: JitConfig| -> Arc<dyn wes_core::Backend> {
        Arc::new(Jit::with_config(JitConfig { pricing: Some(pricing.clone()), ..config }).unwrap())
    };
    let tiered = Arc::new(Tiered::new(jit(lower), jit(upper), budget));
    let mut config = Config::default();
    config.pricing(Some(pricing.clone()));
    (Engine::new(config, tiered.clone()), tiered)
}

/// Results and gas of fib(15) direct, through the table, and a trap, in `store`.
fn observe(store: &mut Store, instance: wes_runtime::Instance) -> Vec<String> {
    let mut seen = Vec::new();
    for (name, args) in [("fib", vec![Value::I64(15)]), ("via_table", vec![Value::I32(0), Value::I64(12)])] {
        let call = instance.get_func(store, name).unwrap().call_with_gas(store, &args, 10_000_000);
        seen.push(format!("{name}: {:?} gas {}", call.result.unwrap(), call.gas.consumed));
    }
    let call =
        instance.get_func(store, "via_table").unwrap().call_with_gas(store, &[Value::I32(1), Value::I64(3)], 1000);
    let trap = call.result.unwrap_err();
    let trap = trap.as_trap().unwrap();
    assert_eq!(trap.code, TrapCode::IntegerDivideByZero);
    seen.push(format!("boom: {:?} gas {}", trap.backtrace, call.gas.consumed));
    seen
}

#[test]
fn tiering_up_changes_nothing_observable() {
    let pricing = Arc::new(Pricing::default());
    let (engine, tiered) = tiered(&pricing, 4096);
    let module = Module::new(&engine, wes_decode::decode_text(WAT).unwrap()).unwrap();
    let mut store = Store::new(&engine);
    let instance = Linker::new().instantiate(&mut store, &module).unwrap();
    // Whatever tier runs these (the upper one may be ready already), the figures are those of
    // a plain optimised JIT engine, which is checked below.
    let early = observe(&mut store, instance);
    tiered.wait_idle();
    assert_eq!(Tiered::state(module.compiled().as_ref()), Some(TierState::Ready));
    assert_eq!(tiered.stats().ready, 1);
    // The same instance now calls the upper tier's code through the same records.
    let late = observe(&mut store, instance);
    assert_eq!(early, late);

    let plain = crate::metered_engine(&pricing, JitConfig::default(), Config::default());
    let module = Module::new(&plain, wes_decode::decode_text(WAT).unwrap()).unwrap();
    let mut store = Store::new(&plain);
    let instance = Linker::new().instantiate(&mut store, &module).unwrap();
    assert_eq!(observe(&mut store, instance), late);
}

#[test]
fn an_upper_tier_whose_frames_exceed_the_budget_is_not_used() {
    let pricing = Arc::new(Pricing::default());
    // A budget of one byte, so the budget is the lower tier's own frame; the upper tier's
    // frames are larger by construction: merged gas checks keep the replay table of their slow
    // path in the frame (400 bytes), and the lower tier does not merge (same gas either way).
    let lower = JitConfig { optimize: false, merge_gas_checks: false, ..JitConfig::default() };
    let upper = JitConfig { merge_gas_checks: true, ..JitConfig::default() };
    let (engine, tiered) = tiered_with(&pricing, 1, lower, upper);
    let module = Module::new(&engine, wes_decode::decode_text(WAT).unwrap()).unwrap();
    tiered.wait_idle();
    match Tiered::state(module.compiled().as_ref()) {
        Some(TierState::Refused(why)) => assert!(why.contains("tier budget"), "{why}"),
        other => panic!("expected a refusal, got {other:?}"),
    }
    assert_eq!(tiered.stats().refused, 1);
    let mut store = Store::new(&engine);
    let instance = Linker::new().instantiate(&mut store, &module).unwrap();
    let fib = instance.get_func(&store, "fib").unwrap();
    assert_eq!(fib.call(&mut store, &[Value::I64(10)]).unwrap(), vec![Value::I64(55)]);
}

#[test]
fn tiered_functions_link_with_other_instances_and_tables() {
    // An exported tiered function imported by a plain JIT instance and called through its table.
    let pricing = Arc::new(Pricing::default());
    let (engine, tiered) = tiered(&pricing, 4096);
    let module = Module::new(&engine, wes_decode::decode_text(WAT).unwrap()).unwrap();
    let user = Module::new(
        &engine,
        wes_decode::decode_text(
            r#"(module (import "lib" "fib" (func $fib (param i64) (result i64)))
                 (table 1 funcref) (elem (i32.const 0) $fib)
                 (type $t (func (param i64) (result i64)))
                 (func (export "run") (param i64) (result i64) local.get 0 i32.const 0 call_indirect (type $t)))"#,
        )
        .unwrap(),
    )
    .unwrap();
    let mut store = Store::new(&engine);
    let lib = Linker::new().instantiate(&mut store, &module).unwrap();
    let mut linker = Linker::new();
    let Some(Extern::Func(fib)) = lib.get_export(&store, "fib") else { panic!("no fib") };
    linker.define("lib", "fib", Extern::Func(fib));
    let user = linker.instantiate(&mut store, &user).unwrap();
    let run = user.get_func(&store, "run").unwrap();
    let before = run.call_with_gas(&mut store, &[Value::I64(20)], u64::MAX);
    tiered.wait_idle();
    let after = run.call_with_gas(&mut store, &[Value::I64(20)], u64::MAX);
    assert_eq!(before.result.unwrap(), vec![Value::I64(6765)]);
    assert_eq!(after.result.unwrap(), vec![Value::I64(6765)]);
    assert_eq!(before.gas.consumed, after.gas.consumed);
}
