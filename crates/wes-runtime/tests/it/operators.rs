//! The executed-operator count (`JitConfig::count_operators`, `Config::count_operators`): exact
//! counts of hand-written functions, at traps and out of gas, and the same count metered or
//! not, with merged or unmerged checks and with the profiler's hooks.

use std::sync::Arc;

use wes_core::{TrapCode, Value};
use wes_jit::JitConfig;
use wes_meter::Pricing;
use wes_runtime::{Config, Engine, Linker, Module, RuntimeError, Store};

/// Every operator counted below, by segment (boundaries end a segment and belong to it):
///
/// - `add`: [local.get local.get i32.add end] = 4.
/// - `sum`: S0 [block] 1, S1 [loop] 1, S2 [local.get i32.eqz br_if] 3, S3 [local.get
///   local.get i32.add local.set local.get i32.const i32.sub local.set br] 9, the loop's `end`
///   (dead: nothing falls into it), the block's `end` (reached only by the `br_if`, which lands
///   after it: not charged, so not counted), S6 [local.get end] 2. With `n`: 1 + 1 + 3(n + 1)
///   + 9n + 2 = 12n + 7.
/// - `calls`: [local.get i32.const call] 3 + `add` 4 + [i32.const call] 2 + `add` 4 + [end] 1
///   = 14.
/// - `div`: [i32.const local.get i32.div_u i32.const i32.add end] = 6, also when the division
///   traps part-way: the segment was charged whole, so it is counted whole.
const WAT: &str = r#"(module
  (func $add (export "add") (param i32 i32) (result i32)
    local.get 0 local.get 1 i32.add)
  (func (export "sum") (param $n i32) (result i32) (local $acc i32)
    (block $done
      (loop $next
        (br_if $done (i32.eqz (local.get $n)))
        (local.set $acc (i32.add (local.get $acc) (local.get $n)))
        (local.set $n (i32.sub (local.get $n) (i32.const 1)))
        (br $next)))
    (local.get $acc))
  (func (export "calls") (param i32) (result i32)
    (call $add (local.get 0) (i32.const 1))
    (call $add (i32.const 2)))
  (func (export "div") (param i32) (result i32)
    (i32.add (i32.div_u (i32.const 1) (local.get 0)) (i32.const 5))))"#;

/// The ways code can be compiled to count; every one must count alike.
#[derive(Clone, Copy, Debug)]
struct Setup {
    metered: bool,
    merge: bool,
    profile: bool,
}

const SETUPS: &[Setup] = &[
    Setup { metered: true, merge: true, profile: false },
    Setup { metered: true, merge: false, profile: false },
    Setup { metered: false, merge: true, profile: false },
    Setup { metered: false, merge: false, profile: false },
    Setup { metered: true, merge: true, profile: true },
    Setup { metered: false, merge: true, profile: true },
];

fn engine(s: Setup) -> Engine {
    let pricing = s.metered.then(|| Arc::new(Pricing::default()));
    let jit = JitConfig {
        pricing: pricing.clone(),
        merge_gas_checks: s.merge,
        profile: s.profile,
        count_operators: true,
        ..JitConfig::default()
    };
    let mut config = Config::default();
    config.pricing(pricing).count_operators(true);
    Engine::new(config, Arc::new(wes_jit::Jit::with_config(jit).unwrap()))
}

/// Calls `name` under a gas limit in a fresh store: the outcome, the gas consumed, the
/// operators counted by the call, and the store's total.
fn run(s: Setup, name: &str, args: &[Value], limit: u64) -> (Result<Vec<Value>, RuntimeError>, u64, u64, u64) {
    let engine = engine(s);
    let module = Module::new(&engine, wes_decode::decode_text(WAT).unwrap()).unwrap();
    let mut store = Store::new(&engine);
    let instance = Linker::new().instantiate(&mut store, &module).unwrap();
    if s.profile {
        store.start_profile();
    }
    let f = instance.get_func(&store, name).unwrap();
    let r = f.call_with_gas(&mut store, args, limit);
    (r.result, r.gas.consumed, r.operators, store.stats().operators_executed)
}

#[test]
fn hand_counted_functions() {
    /// Export, arguments, operators, result or trap.
    type Case<'a> = (&'a str, &'a [Value], u64, Result<i32, TrapCode>);
    let cases: &[Case<'_>] = &[
        ("add", &[Value::I32(2), Value::I32(3)], 4, Ok(5)),
        ("sum", &[Value::I32(0)], 7, Ok(0)),
        ("sum", &[Value::I32(10)], 127, Ok(55)),
        ("calls", &[Value::I32(1)], 14, Ok(4)),
        ("div", &[Value::I32(1)], 6, Ok(6)),
        ("div", &[Value::I32(0)], 6, Err(TrapCode::IntegerDivideByZero)),
    ];
    for s in SETUPS {
        for (name, args, count, expect) in cases {
            let (result, _, ops, total) = run(*s, name, args, 1 << 40);
            let got = match result {
                Ok(v) => Ok(v[0].as_i32().unwrap()),
                Err(e) => Err(e.as_trap().unwrap().code),
            };
            assert_eq!(&got, expect, "{name}{args:?} {s:?}");
            assert_eq!(ops, *count, "{name}{args:?} {s:?}");
            assert_eq!(total, *count, "{name}{args:?} {s:?}: the store counts what its one call did");
        }
    }
}

#[test]
fn under_the_default_pricing_these_operators_cost_one_each() {
    // Makes the out-of-gas cases below computable by hand: gas and operators coincide.
    let (_, gas, ops, _) = run(SETUPS[0], "sum", &[Value::I32(10)], 1 << 40);
    assert_eq!((gas, ops), (127, 127));
}

#[test]
fn a_segment_that_cannot_be_paid_for_is_not_counted() {
    // `sum 5`: S0 S1 S2 (5, one merged check), S3 (9: 14), S2 (3: 17), then S3 needs 9 with 4
    // left. Counted: the 17 operators of the segments paid for, not the one that ran out.
    // With a limit of 3 the merged first check fails and its replay pays S0 and S1 (2) and
    // stops at S2.
    for s in SETUPS.iter().filter(|s| s.metered) {
        for (limit, count) in [(21, 17), (3, 2), (0, 0)] {
            let (result, gas, ops, total) = run(*s, "sum", &[Value::I32(5)], limit);
            let trap = result.unwrap_err();
            assert_eq!(trap.as_trap().unwrap().code, TrapCode::OutOfGas, "{s:?}");
            assert_eq!((ops, total), (count, count), "limit {limit} {s:?}");
            assert_eq!(gas, count, "limit {limit} {s:?}: gas charged = operators counted here");
        }
    }
}

#[test]
fn calls_accumulate_in_the_store_and_each_reports_its_own() {
    for s in SETUPS {
        let engine = engine(*s);
        let module = Module::new(&engine, wes_decode::decode_text(WAT).unwrap()).unwrap();
        let mut store = Store::new(&engine);
        let instance = Linker::new().instantiate(&mut store, &module).unwrap();
        let sum = instance.get_func(&store, "sum").unwrap();
        let div = instance.get_func(&store, "div").unwrap();
        assert_eq!(sum.call_with_gas(&mut store, &[Value::I32(3)], 1 << 40).operators, 43);
        assert_eq!(div.call_with_gas(&mut store, &[Value::I32(0)], 1 << 40).operators, 6);
        sum.call(&mut store, &[Value::I32(1)]).unwrap();
        assert_eq!(store.stats().operators_executed, 43 + 6 + 19, "{s:?}");
    }
}

#[test]
fn code_that_counts_runs_only_on_an_engine_that_counts() {
    let m = wes_decode::decode_text(WAT).unwrap();
    let counting =
        Arc::new(wes_jit::Jit::with_config(JitConfig { count_operators: true, ..JitConfig::default() }).unwrap());
    let plain = Engine::new(Config::default(), counting);
    let e = Module::new(&plain, m.clone()).unwrap_err();
    assert!(matches!(e, RuntimeError::OperatorCountMismatch { compiled: true, engine: false }), "{e}");
    let mut config = Config::default();
    config.count_operators(true);
    let expecting = Engine::new(config, Arc::new(wes_jit::Jit::new().unwrap()));
    let e = Module::new(&expecting, m).unwrap_err();
    assert!(matches!(e, RuntimeError::OperatorCountMismatch { compiled: false, engine: true }), "{e}");
}

#[test]
fn nothing_is_counted_when_off() {
    let (store, instance) = crate::instantiate(WAT);
    let mut store = store;
    let f = instance.get_func(&store, "sum").unwrap();
    assert_eq!(f.call_with_gas(&mut store, &[Value::I32(10)], 1 << 40).operators, 0);
    assert_eq!(store.stats().operators_executed, 0);
}
