//! Merged gas checks (`wes_meter::ChargePlan` in the interpreter): one check pays for a chain
//! of pure segments, and when the counter holds too little the loop pays the chain's segments
//! one by one. At every gas limit, with and without an out-of-gas handler that tops the meter
//! up a little at a time (so a chain's replay asks it once per segment), and counting
//! operators: the interpreter merging must do what it does not merging, and what the JIT (which
//! merges by the same plan) does — results, traps and offsets, gas, handler requests, counts.

use std::sync::{Arc, Mutex};

use wes_core::{Backend, Value};
use wes_interp::{InterpConfig, Interpreter};
use wes_meter::Pricing;
use wes_runtime::{Config, Engine, Linker, Module, RuntimeError, Store};

/// Long chains: a loop whose arms and join are pure (xorshift's shape: each turn pays twice
/// merged, four times not), a nest of pure blocks (a chain per `end`), then a load that traps
/// for a large argument (a trap after merged checks, at its own offset).
const WAT: &str = r#"(module (memory 1)
  (func (export "run") (param $n i32) (param $a i32) (result i64) (local $x i64) (local $acc i64)
    (local.set $x (i64.const 88172645463325252))
    (block $done
      (loop $next
        (br_if $done (i32.eqz (local.get $n)))
        (local.set $x (i64.xor (local.get $x) (i64.shl (local.get $x) (i64.const 13))))
        (if (i64.eqz (i64.and (local.get $x) (i64.const 1)))
          (then (local.set $acc (i64.add (local.get $acc) (local.get $x))))
          (else (local.set $acc (i64.xor (local.get $acc) (i64.rotl (local.get $x) (i64.const 5))))))
        (local.set $n (i32.sub (local.get $n) (i32.const 1)))
        (br $next)))
    (block (block (block (block
      (local.set $acc (i64.add (local.get $acc) (i64.const 1))))
      (local.set $acc (i64.add (local.get $acc) (i64.const 2))))
      (local.set $acc (i64.add (local.get $acc) (i64.const 3))))
      (local.set $acc (i64.add (local.get $acc) (i64.const 4))))
    (i64.add (local.get $acc) (i64.load offset=65528 (local.get $a)))))"#;

/// The three engines compared: the JIT, the interpreter merging checks, and not merging;
/// counting operators or not.
fn engines(count_operators: bool) -> [Engine; 3] {
    let pricing = Some(Arc::new(Pricing::default()));
    let mut config = Config::default();
    config.pricing(pricing.clone()).count_operators(count_operators);
    let interp = |merge_gas_checks| -> Arc<dyn Backend> {
        Arc::new(Interpreter::new(InterpConfig {
            pricing: pricing.clone(),
            count_operators,
            merge_gas_checks,
            ..Default::default()
        }))
    };
    let jit = wes_jit::Jit::with_config(wes_jit::JitConfig {
        pricing: pricing.clone(),
        count_operators,
        resume_out_of_gas: true,
        ..Default::default()
    })
    .unwrap();
    [
        Engine::new(config.clone(), Arc::new(jit)),
        Engine::new(config.clone(), interp(true)),
        Engine::new(config, interp(false)),
    ]
}

/// What a call did: its results or error, gas used, operators executed, and the shortfalls
/// the out-of-gas handler was asked for.
type Run = (Result<Vec<Value>, RuntimeError>, u64, u64, Vec<u64>);

fn run((engine, module): &(Engine, Module), args: &[Value], limit: u64, top_up: Option<u64>) -> Run {
    let mut store = Store::new(engine);
    let asked = Arc::new(Mutex::new(Vec::new()));
    if let Some(n) = top_up {
        let asked = Arc::clone(&asked);
        store
            .set_out_of_gas_handler(move |meter: &mut dyn wes_meter::GasMeter, needed| {
                let mut asked = asked.lock().unwrap();
                // At most 40 top-ups, so that a limit of 0 still ends.
                if asked.len() >= 40 {
                    return false;
                }
                asked.push(needed);
                meter.add_gas(n);
                true
            })
            .unwrap();
    }
    let instance = Linker::new().instantiate(&mut store, module).unwrap();
    let f = instance.get_func(&store, "run").unwrap();
    let r = f.call_with_gas(&mut store, args, limit);
    let operators = store.stats().operators_executed;
    let asked = asked.lock().unwrap().clone();
    (r.result, r.gas.used(), operators, asked)
}

fn same(a: &Run, b: &Run) -> bool {
    let results = match (&a.0, &b.0) {
        (Ok(x), Ok(y)) => x == y,
        (Err(RuntimeError::Trap(x)), Err(RuntimeError::Trap(y))) => x == y,
        _ => false,
    };
    results && a.1 == b.1 && a.2 == b.2 && a.3 == b.3
}

#[test]
fn merged_checks_pay_as_one_charge_per_segment() {
    every_limit(WAT, &[[Value::I32(6), Value::I32(0)], [Value::I32(5), Value::I32(100)]], true);
}

/// Loops testing at the top, whose back edge pays the test's and the body's segments ahead
/// (`Code::invert_loops`, not when counting operators) and whose exit gives the body's back:
/// matmul's shape (the exit test on a product, the body loading), a test reading a global and
/// moving the stack, a loop with two back edges, an inner loop starting where the outer
/// test's body does, an exit carrying a value out of its block, and a body that traps.
const WHILE_LOOPS: &str = r#"(module (memory 1) (global $g (mut i32) (i32.const 0))
  (func (export "run") (param $n i32) (param $a i32) (result i64) (local $i i32) (local $j i32) (local $s i64)
    (block $done
      (loop $k
        (br_if $done (i32.ge_u (local.get $i) (i32.mul (i32.add (local.get $n) (i32.const 1)) (i32.const 2))))
        (local.set $s (i64.add (local.get $s) (i64.load (i32.and (local.get $i) (i32.const 1023)))))
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (br $k)))
    (global.set $g (local.get $n))
    (block $out
      (loop $l
        (br_if $out (i32.eqz (i32.add (global.get $g) (i32.const 0))))
        (global.set $g (i32.sub (global.get $g) (i32.const 1)))
        (if (i32.and (global.get $g) (i32.const 1)) (then (br $l)))
        (local.set $s (i64.xor (local.get $s) (i64.const 5)))
        (br $l)))
    (local.set $i (i32.const 0))
    (block $outer
      (loop $o
        (br_if $outer (i32.ge_s (local.get $i) (local.get $n)))
        (local.set $j (i32.const 0))
        (block $inner
          (loop $in
            (br_if $inner (i32.ge_s (local.get $j) (local.get $i)))
            (local.set $s (i64.add (local.get $s) (i64.extend_i32_u (local.get $j))))
            (local.set $j (i32.add (local.get $j) (i32.const 1)))
            (br $in)))
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (br $o)))
    (local.set $s (i64.add (local.get $s)
      (block $v (result i64)
        (loop $w
          (br_if $v (i64.const 9) (i32.eqz (local.get $n)))
          (local.set $n (i32.sub (local.get $n) (i32.const 1)))
          (br $w))
        (i64.const 0))))
    (local.set $i (i32.const 0))
    (block $t
      (loop $u
        (br_if $t (i32.ge_u (local.get $i) (i32.const 3)))
        (local.set $s (i64.add (local.get $s) (i64.load offset=65528 (local.get $a))))
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (br $u)))
    (local.get $s)))"#;

#[test]
fn loops_paying_their_body_ahead_pay_as_one_charge_per_segment() {
    every_limit(WHILE_LOOPS, &[[Value::I32(4), Value::I32(0)], [Value::I32(3), Value::I32(4)]], false);
    // xorshift's loop, whose body is a merged chain (its arms and join are pure).
    every_limit(WAT, &[[Value::I32(6), Value::I32(0)], [Value::I32(5), Value::I32(100)]], false);
}

/// The JIT and the interpreter merging and not merging, at every gas limit up to what the
/// call needs, without a handler and with one topping up 1 and 7 at a time.
fn every_limit(wat: &str, calls: &[[Value; 2]], count_operators: bool) {
    let engines = engines(count_operators).map(|e| {
        let module = Module::new(&e, wes_decode::decode_text(wat).unwrap()).unwrap();
        (e, module)
    });
    for args in calls {
        let full = run(&engines[0], args, u64::MAX / 2, None);
        assert_eq!(full.2 > 0, count_operators, "operators are counted when asked");
        for limit in 0..=full.1 {
            for top_up in [None, Some(1), Some(7)] {
                let [jit, merged, unmerged] = [0, 1, 2].map(|i| run(&engines[i], args, limit, top_up));
                assert!(
                    same(&merged, &unmerged),
                    "{args:?} limit {limit} top-up {top_up:?}:\n merged   {merged:?}\n unmerged {unmerged:?}"
                );
                assert!(
                    same(&merged, &jit),
                    "{args:?} limit {limit} top-up {top_up:?}:\n interp {merged:?}\n jit    {jit:?}"
                );
            }
        }
    }
}
