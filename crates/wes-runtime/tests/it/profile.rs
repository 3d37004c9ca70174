//! The gas profiler: per-function gas attributed exactly (it adds up to the call's gas to the
//! unit), inclusive and exclusive, through recursion, traps, host functions calling back into
//! wasm and tail calls; and profiling changes no gas figure.

use std::sync::Arc;

use wes_core::Value;
use wes_meter::{BasicMeter, Pricing};
use wes_runtime::{Caller, Config, Engine, GasProfile, HostError, Linker, Module, Store};

use crate::metered_engine;

fn engines() -> (Engine, Engine) {
    let pricing = Arc::new(Pricing::default());
    let plain = metered_engine(&pricing, wes_jit::JitConfig::default(), Config::default());
    let profiled =
        metered_engine(&pricing, wes_jit::JitConfig { profile: true, ..Default::default() }, Config::default());
    (plain, profiled)
}

/// Runs `export(args)` of `wat` on both engines with `linker`; the gas (equal on both) and the
/// profile.
fn run(wat: &str, linker: &Linker, export: &str, args: &[Value]) -> (u64, bool, GasProfile) {
    let (plain, profiled) = engines();
    let mut outcome = Vec::new();
    for (engine, profile) in [(&plain, false), (&profiled, true)] {
        let module = Module::new(engine, wes_decode::decode_text(wat).unwrap()).unwrap();
        let mut store = Store::new(engine);
        store.set_meter(Box::new(BasicMeter::new(1_000_000_000)));
        let instance = linker.instantiate(&mut store, &module).unwrap();
        let before = store.meter().unwrap().consumed();
        if profile {
            store.start_profile();
        }
        let f = instance.get_func(&store, export).unwrap();
        let r = f.call(&mut store, args);
        let gas = store.meter().unwrap().consumed() - before;
        outcome.push((gas, r.is_ok(), store.take_profile()));
    }
    assert_eq!((outcome[0].0, outcome[0].1), (outcome[1].0, outcome[1].1), "profiling changes no gas or outcome");
    let (gas, ok, profile) = outcome.pop().unwrap();
    (gas, ok, profile.unwrap())
}

fn cost<'p>(p: &'p GasProfile, name: &str) -> &'p wes_runtime::FunctionCost {
    p.functions.iter().find(|f| f.label() == name).unwrap_or_else(|| panic!("no {name} in {p:?}"))
}

const FIB: &str = r#"(module
  (func $fib (export "fib") (param i32) (result i32)
    (if (result i32) (i32.lt_u (local.get 0) (i32.const 2))
      (then (local.get 0))
      (else (i32.add (call $fib (i32.sub (local.get 0) (i32.const 1)))
                     (call $fib (i32.sub (local.get 0) (i32.const 2)))))))
  (func $square (param i32) (result i32) (i32.mul (local.get 0) (local.get 0)))
  (func (export "main") (param i32) (result i32)
    (call $square (call $fib (local.get 0)))))"#;

#[test]
fn gas_per_function_adds_up_to_the_call_through_recursion() {
    let (gas, ok, p) = run(FIB, &Linker::new(), "main", &[Value::I32(15)]);
    assert!(ok);
    assert_eq!(p.total_gas(), gas, "exclusive gas adds up to the call's gas");
    let (main, fib, square) = (cost(&p, "func[2]"), cost(&p, "fib"), cost(&p, "square"));
    assert_eq!(main.gas_inclusive, gas);
    assert_eq!(main.gas_inclusive, main.gas_exclusive + fib.gas_inclusive + square.gas_inclusive);
    assert_eq!(fib.calls, 1973, "fib(15) makes 1973 calls");
    assert_eq!(fib.gas_inclusive, fib.gas_exclusive, "recursion is counted once inclusively");
    assert_eq!(square.calls, 1);
    // The folded stacks carry the same gas, by path.
    let folded: u64 = p.folded().lines().map(|l| l.rsplit(' ').next().unwrap().parse::<u64>().unwrap()).sum();
    assert_eq!(folded, gas);
    assert!(p.folded().lines().any(|l| l.starts_with("func[2];fib;fib;fib ")), "{}", p.folded());
    assert!(main.time_inclusive >= fib.time_inclusive);
}

#[test]
fn a_trap_closes_the_frames_it_unwinds_at_the_gas_it_reached() {
    let wat = r#"(module
      (func $down (param i32)
        (if (i32.eqz (local.get 0)) (then unreachable))
        (call $down (i32.sub (local.get 0) (i32.const 1))))
      (func (export "go") (call $down (i32.const 50))))"#;
    let (gas, ok, p) = run(wat, &Linker::new(), "go", &[]);
    assert!(!ok);
    assert_eq!(p.total_gas(), gas);
    assert_eq!(cost(&p, "down").calls, 51);
    assert_eq!(cost(&p, "func[1]").gas_inclusive, gas);
}

#[test]
fn host_functions_calling_back_and_tail_calls_are_attributed_to_the_right_frames() {
    let wat = r#"(module
      (import "env" "back" (func $back (param i32) (result i32)))
      (func $leaf (export "leaf") (param i32) (result i32)
        (i32.mul (local.get 0) (i32.const 3)))
      (func $tail (param i32) (result i32) (return_call $leaf (local.get 0)))
      (func (export "go") (param i32) (result i32)
        (i32.add (call $back (local.get 0)) (call $tail (local.get 0)))))"#;
    let mut linker = Linker::new();
    linker.func_wrap("env", "back", |c: &mut Caller<'_>, (x,): (i32,)| -> Result<i32, HostError> {
        let leaf = c.get_func("leaf").ok_or_else(|| HostError::new("no leaf"))?;
        let r = c.call(leaf, &[Value::I32(x)])?;
        match r[..] {
            [Value::I32(v)] => Ok(v + 1),
            _ => Err(HostError::new("bad result")),
        }
    });
    let (gas, ok, p) = run(wat, &linker, "go", &[Value::I32(4)]);
    assert!(ok);
    assert_eq!(p.total_gas(), gas);
    let leaf = cost(&p, "leaf");
    assert_eq!(leaf.calls, 2, "once from the host, once by tail call");
    assert_eq!(cost(&p, "tail").calls, 1);
    // The tail-called leaf replaced $tail's frame: it is its sibling, not its child.
    assert!(p.stacks.iter().any(|(s, _, _)| s == &["func[3]".to_string(), "leaf".to_string()]), "{:?}", p.stacks);
}

/// Generated call graphs: functions with loops of varying trip counts calling later ones;
/// the attribution adds up on every one.
#[test]
fn attribution_adds_up_on_generated_modules() {
    let mut x = 0x1234_5678_9abc_def1_u64;
    let mut next = move |n: u64| {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x % n
    };
    for _ in 0..6 {
        let n = 3 + next(6) as u32;
        let mut funcs = String::new();
        for i in 0..n {
            let trips = 1 + next(20);
            let mut calls = String::new();
            for j in i + 1..n {
                if next(2) == 0 {
                    calls.push_str(&format!("(drop (call $f{j} (local.get 0)))"));
                }
            }
            funcs.push_str(&format!(
                r#"(func $f{i} (export "f{i}") (param i32) (result i32) (local $k i32)
                     (local.set $k (i32.const {trips}))
                     (loop $l (local.set 0 (i32.add (local.get 0) (local.get $k)))
                              (local.set $k (i32.sub (local.get $k) (i32.const 1)))
                              (br_if $l (local.get $k)))
                     {calls}
                     (local.get 0))"#
            ));
        }
        let wat = format!("(module {funcs})");
        let (gas, ok, p) = run(&wat, &Linker::new(), "f0", &[Value::I32(1)]);
        assert!(ok);
        assert_eq!(p.total_gas(), gas, "{wat}");
        assert_eq!(cost(&p, "f0").gas_inclusive, gas);
    }
}
