//! Gas: hand-computed figures under the default pricing (see docs/pricing.md), exact limits,
//! out-of-gas state, resumption, refunds, and independence from the compiler's settings.

use std::sync::Arc;

use wes_core::{TrapCode, Value};
use wes_jit::{Jit, JitConfig};
use wes_meter::{BasicMeter, GasMeter, Pricing, PricingTable};
use wes_runtime::{Caller, Config, Engine, GasCall, HostError, Instance, Linker, Module, RuntimeError, Store};

/// An engine metering under `pricing`, optimising or not.
fn metered(pricing: Pricing, optimize: bool) -> Engine {
    crate::metered_engine(&Arc::new(pricing), JitConfig { optimize, ..JitConfig::default() }, Config::default())
}

/// As [`metered`], with gas checks that resume (so a store may have an out-of-gas handler).
fn resuming(pricing: Pricing, optimize: bool) -> Engine {
    let jit = JitConfig { optimize, resume_out_of_gas: true, ..JitConfig::default() };
    crate::metered_engine(&Arc::new(pricing), jit, Config::default())
}

fn setup(engine: &Engine, wat: &str) -> (Store, Instance) {
    let mut linker = Linker::new();
    linker.func_wrap("host", "work", |c: &mut Caller<'_>, (x,): (i32,)| -> Result<i32, HostError> {
        c.charge_gas(100)?;
        Ok(x + 1)
    });
    linker.func_wrap("host", "refund", |c: &mut Caller<'_>, (x,): (i64,)| -> Result<i64, HostError> {
        Ok(c.refund_gas(x as u64) as i64)
    });
    let module = Module::new(engine, wes_decode::decode_text(wat).unwrap()).unwrap();
    let mut store = Store::new(engine);
    let instance = linker.instantiate(&mut store, &module).unwrap();
    (store, instance)
}

fn run(store: &mut Store, instance: Instance, name: &str, args: &[Value], limit: u64) -> GasCall {
    instance.get_func(store, name).unwrap().call_with_gas(store, args, limit)
}

fn code_of(r: &Result<Vec<Value>, RuntimeError>) -> Option<TrapCode> {
    r.as_ref().err().and_then(|e| e.as_trap()).map(|t| t.code)
}

/// Checks that `name(args)` needs exactly `expected` gas: it succeeds with that limit (using
/// all of it) and traps `OutOfGas` with one unit less. Returns the results.
fn exact(store: &mut Store, instance: Instance, name: &str, args: &[Value], expected: u64) -> Vec<Value> {
    let big = run(store, instance, name, args, u64::MAX / 2);
    assert_eq!(big.gas.consumed, expected, "{name}{args:?} with a large limit");
    let at = run(store, instance, name, args, expected);
    assert_eq!(at.gas.consumed, expected, "{name}{args:?} at the exact limit");
    let results = at.result.unwrap_or_else(|e| panic!("{name}{args:?} at the exact limit: {e}"));
    let under = run(store, instance, name, args, expected - 1);
    assert_eq!(code_of(&under.result), Some(TrapCode::OutOfGas), "{name}{args:?} one unit short");
    assert!(under.gas.consumed < expected);
    results
}

const PROGRAMS: &str = r#"(module
  (import "host" "work" (func $work (param i32) (result i32)))
  (import "host" "refund" (func $refund (param i64) (result i64)))
  (memory (export "mem") 1 3)
  (table 2 funcref)
  (elem (i32.const 0) $five)
  (type $t (func (result i32)))
  (func $five (result i32) i32.const 5)
  (func (export "straight") (result i32) i32.const 1 i32.const 2 i32.add)
  (func (export "count") (param $n i32)
    (loop $l
      (i32.store (i32.const 0) (local.get $n))
      local.get $n i32.const 1 i32.sub local.tee $n br_if $l))
  (func (export "bt") (param i32) (result i32)
    (block (block (block
      local.get 0 br_table 0 1 2)
      i32.const 10 return)
      i32.const 20 i32.const 1 i32.add return)
    i32.const 30 i32.const 1 i32.add i32.const 1 i32.add)
  (func (export "direct") (result i32) call $five)
  (func (export "indirect") (result i32) (call_indirect (type $t) (i32.const 0)))
  (func (export "host") (result i32) (call $work (i32.const 7)))
  (func (export "fill") (param $d i32) (param $n i32) (memory.fill (local.get $d) (i32.const 0xAB) (local.get $n)))
  (func (export "grow") (param i32) (result i32) (memory.grow (local.get 0)))
  (func $down (export "tail") (param i32) (result i32)
    local.get 0
    (if (result i32)
      (then local.get 0 i32.const 1 i32.sub return_call $down)
      (else i32.const 42)))
  (func (export "simd") (result i32)
    (i32x4.extract_lane 1 (i32x4.add (v128.const i32x4 1 2 3 4) (v128.const i32x4 5 6 7 8))))
  (func (export "burn_and_refund") (param i64) (result i64)
    (drop (i32.add (i32.const 1) (i32.const 1)))
    (call $refund (local.get 0)))
)"#;

#[test]
fn hand_computed_figures_and_exact_limits() {
    let engine = metered(Pricing::default(), true);
    let (mut s, i) = setup(&engine, PROGRAMS);
    // i32.const i32.const i32.add end
    assert_eq!(exact(&mut s, i, "straight", &[], 4), vec![Value::I32(3)]);
    // [loop]=1, N × [i32.const local.get i32.store(3) local.get i32.const i32.sub local.tee br_if]=10, [end end]=2
    for n in [1, 2, 3, 7, 10, 100] {
        exact(&mut s, i, "count", &[Value::I32(n)], 3 + 10 * n as u64);
    }
    // [block block block local.get br_table(3)]=7, then the target's segment.
    assert_eq!(exact(&mut s, i, "bt", &[Value::I32(0)], 7 + 2), vec![Value::I32(10)]);
    assert_eq!(exact(&mut s, i, "bt", &[Value::I32(1)], 7 + 4), vec![Value::I32(21)]);
    assert_eq!(exact(&mut s, i, "bt", &[Value::I32(2)], 7 + 6), vec![Value::I32(32)]);
    assert_eq!(exact(&mut s, i, "bt", &[Value::I32(99)], 7 + 6), vec![Value::I32(32)]);
    // [call]=10 [end]=1, callee [i32.const end]=2
    assert_eq!(exact(&mut s, i, "direct", &[], 13), vec![Value::I32(5)]);
    // [i32.const call_indirect(15)]=16 [end]=1, callee 2
    assert_eq!(exact(&mut s, i, "indirect", &[], 19), vec![Value::I32(5)]);
    // [i32.const call]=11 [end]=1, host call 50, the host's own charge 100
    assert_eq!(exact(&mut s, i, "host", &[], 162), vec![Value::I32(8)]);
    // [local.get i32.const local.get memory.fill(5) end]=9, plus 1 per byte
    exact(&mut s, i, "fill", &[Value::I32(0), Value::I32(100)], 9 + 100);
    // Per level [local.get if]=2 + [local.get i32.const i32.sub return_call]=13; at 0
    // [local.get if]=2 + [i32.const end]=2 + [end]=1. The counter survives each tail call.
    for n in [0, 1, 5, 100] {
        assert_eq!(exact(&mut s, i, "tail", &[Value::I32(n)], 15 * n as u64 + 5), vec![Value::I32(42)]);
    }
    // v128.const ×2, i32x4.add, i32x4.extract_lane at 4 each (the simd class), end 1.
    assert_eq!(exact(&mut s, i, "simd", &[], 17), vec![Value::I32(8)]);
    // [local.get memory.grow(5) end]=7, plus 1000 per page; a fresh memory for each run.
    for (limit, expect) in [(7 + 2000, Some(vec![Value::I32(1)])), (7 + 1999, None)] {
        let (mut s, i) = setup(&engine, PROGRAMS);
        let r = run(&mut s, i, "grow", &[Value::I32(2)], limit);
        match expect {
            Some(v) => assert_eq!((r.result.unwrap(), r.gas.consumed), (v, limit)),
            None => assert_eq!((code_of(&r.result), r.gas.consumed), (Some(TrapCode::OutOfGas), 7)),
        }
    }
}

#[test]
fn out_of_gas_leaves_state_as_the_last_paid_segment_left_it() {
    let engine = metered(Pricing::default(), true);
    let (mut s, i) = setup(&engine, PROGRAMS);
    let mem = i.get_memory(&s, "mem").unwrap();
    // count(10) pays 1, then 10 per iteration; with 1 + 10·4 + 5 the fifth iteration's segment
    // cannot be paid, so memory holds what the fourth stored (n = 7) and 41 was charged.
    let r = run(&mut s, i, "count", &[Value::I32(10)], 1 + 10 * 4 + 5);
    assert_eq!(code_of(&r.result), Some(TrapCode::OutOfGas));
    assert_eq!(r.gas.consumed, 41);
    assert_eq!(&mem.data(&s).unwrap()[0..4], &7i32.to_le_bytes());

    // A fill one byte short writes nothing.
    let r = run(&mut s, i, "fill", &[Value::I32(100), Value::I32(50)], 9 + 49);
    assert_eq!(code_of(&r.result), Some(TrapCode::OutOfGas));
    assert_eq!(r.gas.consumed, 9);
    assert!(mem.data(&s).unwrap()[100..150].iter().all(|b| *b == 0));
    // Out of bounds is checked before gas: a huge fill out of bounds traps as out of bounds.
    let r = run(&mut s, i, "fill", &[Value::I32(65_500), Value::I32(1000)], 20);
    assert_eq!(code_of(&r.result), Some(TrapCode::MemoryOutOfBounds));
    assert_eq!(r.gas.consumed, 9);

    // A grow one unit short does not grow; a failing grow costs nothing per page.
    let r = run(&mut s, i, "grow", &[Value::I32(1)], 7 + 999);
    assert_eq!(code_of(&r.result), Some(TrapCode::OutOfGas));
    assert_eq!(mem.size(&s).unwrap(), 1);
    let r = run(&mut s, i, "grow", &[Value::I32(5)], 7);
    assert_eq!(r.result.unwrap(), vec![Value::I32(-1)]);
    assert_eq!(r.gas.consumed, 7);
}

#[test]
fn a_handler_can_top_up_and_resume_where_execution_stopped() {
    let engine = resuming(Pricing::default(), true);
    let (mut s, i) = setup(&engine, PROGRAMS);
    let asked = Arc::new(std::sync::atomic::AtomicU64::new(0));
    let seen = asked.clone();
    s.set_out_of_gas_handler(move |meter: &mut dyn GasMeter, _needed| {
        seen.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        meter.add_gas(25);
        true
    })
    .unwrap();
    let r = run(&mut s, i, "count", &[Value::I32(100)], 10);
    assert_eq!(r.result.unwrap(), vec![]);
    assert_eq!(r.gas.consumed, 1003, "the same gas as an uninterrupted run");
    assert!(asked.load(std::sync::atomic::Ordering::Relaxed) >= 39);
    let mem = i.get_memory(&s, "mem").unwrap();
    assert_eq!(&mem.data(&s).unwrap()[0..4], &1i32.to_le_bytes(), "the loop ran to its end");

    s.set_out_of_gas_handler(|_, _| false).unwrap();
    let r = run(&mut s, i, "count", &[Value::I32(100)], 10);
    assert_eq!(code_of(&r.result), Some(TrapCode::OutOfGas));
    s.clear_out_of_gas_handler();
}

#[test]
fn values_live_across_refills_survive_them() {
    // A loop with many integer and float values live across each segment check. A handler
    // that tops up a little at a time makes refills happen in the middle of the loop, again
    // and again; every value must come out as in an uninterrupted run (the refill path must
    // not clobber a register the loop keeps a value in).
    let wat = r#"(module (func (export "mix") (param $n i32) (result f64)
      (local $a i64) (local $b i64) (local $c i64) (local $d i64) (local $e i64) (local $f i64)
      (local $x f64) (local $y f64) (local $z f64) (local $w f64)
      (local.set $y (f64.const 1.5))
      (block $done (loop $next
        (br_if $done (i32.eqz (local.get $n)))
        (local.set $a (i64.add (local.get $a) (i64.extend_i32_u (local.get $n))))
        (local.set $b (i64.xor (local.get $b) (i64.mul (local.get $a) (i64.const 31))))
        (local.set $c (i64.add (local.get $c) (local.get $b)))
        (local.set $d (i64.rotl (i64.add (local.get $d) (local.get $c)) (i64.const 7)))
        (local.set $e (i64.sub (local.get $e) (local.get $d)))
        (local.set $f (i64.add (local.get $f) (i64.shr_u (local.get $e) (i64.const 3))))
        (local.set $x (f64.add (local.get $x) (f64.convert_i32_u (local.get $n))))
        (local.set $y (f64.mul (local.get $y) (f64.const 1.0001)))
        (local.set $z (f64.add (local.get $z) (f64.div (local.get $x) (local.get $y))))
        (local.set $w (f64.sub (local.get $w) (f64.sqrt (local.get $z))))
        (local.set $n (i32.sub (local.get $n) (i32.const 1)))
        (br $next)))
      (f64.add
        (f64.add (f64.add (local.get $x) (local.get $y)) (f64.add (local.get $z) (local.get $w)))
        (f64.convert_i64_s
          (i64.xor (i64.xor (i64.add (local.get $a) (local.get $b)) (i64.add (local.get $c) (local.get $d)))
                   (i64.add (local.get $e) (local.get $f)))))))"#;
    let engine = resuming(Pricing::default(), true);
    let (mut s, i) = setup(&engine, wat);
    let whole = run(&mut s, i, "mix", &[Value::I32(500)], u64::MAX / 2);
    let expected = whole.result.unwrap();
    for step in [1, 7, 13, 50] {
        s.set_out_of_gas_handler(move |meter: &mut dyn GasMeter, _needed| {
            meter.add_gas(step);
            true
        })
        .unwrap();
        let r = run(&mut s, i, "mix", &[Value::I32(500)], 1);
        assert_eq!(r.result.unwrap(), expected, "topping up {step} at a time");
        assert_eq!(r.gas.consumed, whole.gas.consumed, "topping up {step} at a time");
    }
    s.clear_out_of_gas_handler();
}

#[test]
fn gas_charged_by_pending_tail_calls_counts_when_they_trap() {
    // `entry` reaches `hop` through a table (an array call), `hop` tail-calls `burn` through
    // the table, so the call site in `entry` makes the pending tail call itself; `burn` runs
    // a loop and traps. Everything charged until the trap must be reported: with one unit
    // less the call must run out of gas instead of reaching the trap. The same through a
    // direct call of `hop`.
    let wat = r#"(module (table 2 funcref) (elem (i32.const 0) $hop $burn) (type $t (func (param i32)))
      (func $hop (param i32) (return_call_indirect (type $t) (local.get 0) (i32.const 1)))
      (func $burn (param $n i32)
        (loop $l (local.set $n (i32.sub (local.get $n) (i32.const 1))) (br_if $l (local.get $n)))
        unreachable)
      (func (export "through_table") (param i32) (call_indirect (type $t) (local.get 0) (i32.const 0)))
      (func (export "direct") (param i32) (call $hop (local.get 0))))"#;
    let engine = metered(Pricing::default(), true);
    let (mut s, i) = setup(&engine, wat);
    for export in ["through_table", "direct"] {
        let big = run(&mut s, i, export, &[Value::I32(50)], 1_000_000);
        assert_eq!(code_of(&big.result), Some(TrapCode::Unreachable), "{export}");
        let exact = run(&mut s, i, export, &[Value::I32(50)], big.gas.consumed);
        assert_eq!(code_of(&exact.result), Some(TrapCode::Unreachable), "{export}");
        assert_eq!(exact.gas.consumed, big.gas.consumed, "{export}");
        let short = run(&mut s, i, export, &[Value::I32(50)], big.gas.consumed - 1);
        assert_eq!(code_of(&short.result), Some(TrapCode::OutOfGas), "{export}: consumed {}", big.gas.consumed);
    }
}

#[test]
fn refunds_are_bounded() {
    let engine = metered(Pricing::default(), true);
    let (mut s, i) = setup(&engine, PROGRAMS);
    // Before the refund: [i32.const i32.const i32.add drop local.get call]=15 + host 50 = 65
    // consumed, so at most 13 can be refunded; afterwards [end]=1.
    let r = run(&mut s, i, "burn_and_refund", &[Value::I64(5)], 1000);
    assert_eq!(r.result.unwrap(), vec![Value::I64(5)]);
    assert_eq!((r.gas.consumed, r.gas.refunded, r.gas.used()), (66, 5, 61));
    let r = run(&mut s, i, "burn_and_refund", &[Value::I64(1000)], 1000);
    assert_eq!(r.result.unwrap(), vec![Value::I64(13)]);
    assert_eq!(r.gas.refunded, 13);
}

#[test]
fn gas_does_not_depend_on_optimisation_threads_or_meter() {
    let calls: Vec<(&str, Vec<Value>)> = vec![
        ("count", vec![Value::I32(33)]),
        ("bt", vec![Value::I32(1)]),
        ("indirect", vec![]),
        ("host", vec![]),
        ("fill", vec![Value::I32(3), Value::I32(77)]),
    ];
    let figures = move |optimize: bool| -> Vec<u64> {
        let engine = metered(Pricing::default(), optimize);
        let (mut s, i) = setup(&engine, PROGRAMS);
        calls.iter().map(|(n, a)| run(&mut s, i, n, a, 1 << 40).gas.consumed).collect()
    };
    let reference = figures(true);
    assert_eq!(figures(false), reference);
    let threads: Vec<_> = (0..4)
        .map(|_| {
            let figures = figures.clone();
            std::thread::spawn(move || figures(true))
        })
        .collect();
    for t in threads {
        assert_eq!(t.join().unwrap(), reference);
    }
    // The same figures through a meter installed on the store.
    let engine = metered(Pricing::default(), true);
    let (mut s, i) = setup(&engine, PROGRAMS);
    s.set_meter(Box::new(BasicMeter::new(1 << 40).with_log()));
    let f = i.get_func(&s, "count").unwrap();
    f.call(&mut s, &[Value::I32(33)]).unwrap();
    assert_eq!(s.meter().unwrap().consumed(), reference[0]);
    assert!(s.meter().unwrap().log().unwrap().iter().all(|r| r.amount > 0));
}

#[test]
fn code_never_runs_under_another_pricing() {
    let mut other = PricingTable::default();
    other.classes.integer = 2;
    let other = Arc::new(Pricing::new(other).unwrap());
    let jit = Jit::with_config(JitConfig { pricing: Some(other.clone()), ..JitConfig::default() }).unwrap();
    let mut config = Config::default();
    config.pricing(Some(Arc::new(Pricing::default())));
    let engine = Engine::new(config, Arc::new(jit));
    let m = wes_decode::decode_text("(module)").unwrap();
    assert!(matches!(Module::new(&engine, m.clone()), Err(RuntimeError::PricingMismatch { .. })));
    // And a different table gives different, still exact, gas.
    let engine = metered(Pricing::new(other.table().clone()).unwrap(), true);
    let (mut s, i) = setup(&engine, PROGRAMS);
    assert_eq!(run(&mut s, i, "straight", &[], 100).gas.consumed, 5, "i32.add now costs 2");
    // Unmetered engines charge nothing and need no meter.
    let engine = Engine::new(Config::default(), Arc::new(Jit::new().unwrap()));
    let (mut s, i) = setup(&engine, PROGRAMS);
    let r = run(&mut s, i, "count", &[Value::I32(5)], 1);
    assert_eq!((r.result.unwrap(), r.gas.consumed), (vec![], 0));
}

#[test]
fn a_trap_before_the_first_segment_keeps_the_counter_exact() {
    // The call-depth check runs before a function's first segment; the counter it writes back
    // on that trap must be the one it loaded.
    let engine = metered(Pricing::default(), true);
    let wat = r#"(module (func $r (export "r") call $r) (func (export "one") (result i32) i32.const 1))"#;
    let (mut s, i) = setup(&engine, wat);
    s.set_meter(Box::new(BasicMeter::new(1 << 40)));
    let r = i.get_func(&s, "r").unwrap().call(&mut s, &[]);
    assert_eq!(code_of(&r), Some(TrapCode::CallStackExhausted));
    // 10 000 frames each paid [call]=10 before the next entry's depth check trapped.
    assert_eq!(s.meter().unwrap().consumed(), 10 * 10_000);
    assert_eq!(exact(&mut s, i, "one", &[], 2), vec![Value::I32(1)]);
}

#[test]
fn host_call_cost_is_charged_before_the_host_runs_whatever_the_meter() {
    // A meter that only counts is charged a host call's base cost through the gas counter; a
    // logging meter gets it as its own `HostCall` charge. Both must see the same totals, the
    // same out-of-gas points and the same request to the handler, and neither may let the host
    // function run when the base cost does not fit.
    let engine = resuming(Pricing::default(), true);
    let base = Pricing::default().host_call_cost();
    let calls = Arc::new(std::sync::atomic::AtomicU64::new(0));
    let seen = calls.clone();
    let mut linker = Linker::new();
    linker.func_wrap("host", "tick", move |_: &mut Caller<'_>, (x,): (i64,)| -> Result<i64, HostError> {
        seen.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        Ok(x + 1)
    });
    let wat = r#"(module
      (import "host" "tick" (func $tick (param i64) (result i64)))
      (func (export "once") (result i64) (call $tick (i64.const 1)))
      (func (export "loop") (param $n i32) (result i64) (local $acc i64)
        (block $done (loop $next
          (br_if $done (i32.eqz (local.get $n)))
          (local.set $acc (call $tick (local.get $acc)))
          (local.set $n (i32.sub (local.get $n) (i32.const 1)))
          (br $next)))
        (local.get $acc)))"#;
    let module = Module::new(&engine, wes_decode::decode_text(wat).unwrap()).unwrap();
    let count = || calls.load(std::sync::atomic::Ordering::Relaxed);
    // [i64.const call]=11, the host call, [end]=1.
    let once = 11 + base + 1;
    let mut loop_totals = Vec::new();
    for logging in [false, true] {
        let meter = |limit: u64| -> Box<dyn GasMeter> {
            if logging { Box::new(BasicMeter::new(limit).with_log()) } else { Box::new(BasicMeter::new(limit)) }
        };
        assert_eq!(meter(1).counts_only(), !logging);
        let mut s = Store::new(&engine);
        let i = linker.instantiate(&mut s, &module).unwrap();
        let f = i.get_func(&s, "once").unwrap();
        let asked = Arc::new(std::sync::Mutex::new(Vec::new()));
        let record = asked.clone();
        s.set_out_of_gas_handler(move |_, needed| {
            record.lock().unwrap().push(needed);
            false
        })
        .unwrap();
        // The segment before the call fits, the base cost does not: no host call.
        let before = count();
        s.set_meter(meter(11 + base - 1));
        assert_eq!(code_of(&f.call(&mut s, &[])), Some(TrapCode::OutOfGas), "logging: {logging}");
        assert_eq!(count(), before, "the host function ran without its base cost (logging: {logging})");
        assert_eq!(s.meter().unwrap().consumed(), 11);
        assert_eq!(*asked.lock().unwrap(), [1], "the handler is asked for what is missing");
        // The base cost fits, the last segment does not: the host ran once.
        s.set_meter(meter(once - 1));
        assert_eq!(code_of(&f.call(&mut s, &[])), Some(TrapCode::OutOfGas));
        assert_eq!(count(), before + 1);
        assert_eq!(s.meter().unwrap().consumed(), 11 + base);
        // Exactly enough.
        s.set_meter(meter(once));
        assert_eq!(f.call(&mut s, &[]).unwrap(), [Value::I64(2)]);
        assert_eq!((count(), s.meter().unwrap().consumed()), (before + 2, once));
        if logging {
            let log = s.meter().unwrap().log().unwrap();
            let host: Vec<u64> =
                log.iter().filter(|r| r.kind == wes_meter::ChargeKind::HostCall).map(|r| r.amount).collect();
            assert_eq!(host, [base], "one HostCall charge of the base cost, with its kind");
            assert_eq!(log.iter().map(|r| r.amount).sum::<u64>(), once);
        }
        // Many calls: the same total either way, `base` per call beyond the code.
        s.set_meter(meter(1 << 40));
        let r = i.get_func(&s, "loop").unwrap().call(&mut s, &[Value::I32(1000)]).unwrap();
        assert_eq!(r, [Value::I64(1000)]);
        loop_totals.push(s.meter().unwrap().consumed());
        if logging {
            let log = s.meter().unwrap().log().unwrap();
            let (host, other): (Vec<&wes_meter::ChargeRecord>, Vec<_>) =
                log.iter().partition(|r| r.kind == wes_meter::ChargeKind::HostCall);
            assert_eq!(host.len(), 1000);
            assert!(host.iter().all(|r| r.amount == base));
            assert!(other.iter().all(|r| r.kind == wes_meter::ChargeKind::Code));
        }
    }
    assert_eq!(loop_totals[0], loop_totals[1], "counting and logging meters agree");
}

#[test]
fn code_whose_checks_trap_refuses_a_handler_and_stops_where_resuming_code_does() {
    // Without `resume_out_of_gas` a short check is a trap, not a call that could return: the
    // store refuses a handler it could never ask, and such code is not admitted into an engine
    // whose stores may have one. Out of gas, it stops where code that resumes stops, with the
    // same gas, the same shortfall and the same backtrace.
    let jit = JitConfig { resume_out_of_gas: false, ..JitConfig::default() };
    let trapping = crate::metered_engine(&Arc::new(Pricing::default()), jit, Config::default());
    let (mut s, i) = setup(&trapping, PROGRAMS);
    let e = s.set_out_of_gas_handler(|_, _| true).unwrap_err();
    assert!(matches!(e, RuntimeError::NoOutOfGasResume { backend: "jit" }), "{e}");

    let resumes = resuming(Pricing::default(), true);
    let trapping_jit = wes_jit::Jit::with_config(JitConfig {
        pricing: Some(Arc::new(Pricing::default())),
        resume_out_of_gas: false,
        ..JitConfig::default()
    })
    .unwrap();
    let compiled =
        wes_core::Backend::compile(&trapping_jit, Arc::new(wes_decode::decode_text(PROGRAMS).unwrap())).unwrap();
    let e = Module::from_compiled(&resumes, compiled).unwrap_err();
    assert!(matches!(e, RuntimeError::OutOfGasResumeMismatch { engine: "jit" }), "{e}");

    let (mut r, j) = setup(&resumes, PROGRAMS);
    let mut stopped = 0;
    for limit in [0, 1, 5, 10, 57, 300, 999] {
        let a = run(&mut s, i, "count", &[Value::I32(100)], limit);
        let b = run(&mut r, j, "count", &[Value::I32(100)], limit);
        assert_eq!(format!("{:?}", a.result), format!("{:?}", b.result), "at limit {limit}");
        assert_eq!(a.gas.consumed, b.gas.consumed, "at limit {limit}");
        assert_eq!(s.stats().last_shortfall, r.stats().last_shortfall, "at limit {limit}");
        stopped += usize::from(code_of(&a.result) == Some(TrapCode::OutOfGas));
    }
    assert_eq!(stopped, 7, "every limit is short of the 1003 the loop needs");
}
