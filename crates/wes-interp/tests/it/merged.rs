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

/// The three engines compared: the JIT, the interpreter merging checks, and not merging.
fn engines() -> [Engine; 3] {
    let pricing = Some(Arc::new(Pricing::default()));
    let mut config = Config::default();
    config.pricing(pricing.clone()).count_operators(true);
    let interp = |merge_gas_checks| -> Arc<dyn Backend> {
        Arc::new(Interpreter::new(InterpConfig {
            pricing: pricing.clone(),
            count_operators: true,
            merge_gas_checks,
            ..Default::default()
        }))
    };
    let jit = wes_jit::Jit::with_config(wes_jit::JitConfig {
        pricing: pricing.clone(),
        count_operators: true,
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
    let engines = engines().map(|e| {
        let module = Module::new(&e, wes_decode::decode_text(WAT).unwrap()).unwrap();
        (e, module)
    });
    for args in [[Value::I32(6), Value::I32(0)], [Value::I32(5), Value::I32(100)]] {
        let full = run(&engines[0], &args, u64::MAX / 2, None);
        assert!(full.2 > 0, "operators are counted");
        for limit in 0..=full.1 {
            for top_up in [None, Some(1), Some(7)] {
                let [jit, merged, unmerged] = [0, 1, 2].map(|i| run(&engines[i], &args, limit, top_up));
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
