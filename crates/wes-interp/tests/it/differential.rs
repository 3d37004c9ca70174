//! The same programs on the JIT and the interpreter: results, traps (code, backtrace, offsets)
//! and gas must be identical, metered and unmetered, and the gas at which a call runs out too.

use wes_core::{TrapCode, Value};
use wes_runtime::RuntimeError;

use crate::{Kind, Outcome, run};

pub(crate) const PROGRAMS: &str = r#"(module
  (memory 1)
  (table 4 funcref)
  (global $g (mut i64) (i64.const 7))
  (elem (i32.const 0) $fib $sq)
  (type $i2i (func (param i32) (result i32)))
  (func $fib (export "fib") (param $n i32) (result i32)
    (if (result i32) (i32.lt_u (local.get $n) (i32.const 2))
      (then (local.get $n))
      (else (i32.add (call $fib (i32.sub (local.get $n) (i32.const 1)))
                     (call $fib (i32.sub (local.get $n) (i32.const 2)))))))
  (func $sq (param i32) (result i32) (i32.mul (local.get 0) (local.get 0)))
  (func (export "indirect") (param i32 i32) (result i32)
    (call_indirect (type $i2i) (local.get 1) (local.get 0)))
  (func (export "loop_sum") (param $n i32) (result i64) (local $acc i64)
    (block $done
      (loop $l
        (br_if $done (i32.eqz (local.get $n)))
        (local.set $acc (i64.add (local.get $acc) (i64.extend_i32_u (local.get $n))))
        (i32.store (i32.and (i32.mul (local.get $n) (i32.const 4)) (i32.const 0xfff)) (local.get $n))
        (local.set $n (i32.sub (local.get $n) (i32.const 1)))
        (br $l)))
    (global.set $g (i64.add (global.get $g) (local.get $acc)))
    (global.get $g))
  (func (export "switch") (param i32) (result i32)
    (block $c (block $b (block $a
      (br_table $a $b $c (local.get 0)))
      (return (i32.const 10)))
      (return (i32.const 20)))
    (i32.const 30))
  (func (export "floats") (param f64 f32) (result f64)
    (f64.add (f64.sqrt (local.get 0)) (f64.promote_f32 (f32.min (local.get 1) (f32.const -0.0)))))
  (func (export "nan") (result i64)
    (i64.reinterpret_f64 (f64.div (f64.const 0) (f64.const 0))))
  (func (export "div") (param i32 i32) (result i32) (i32.div_s (local.get 0) (local.get 1)))
  (func (export "oob") (param i32) (result i32) (i32.load offset=8 (local.get 0)))
  (func $deep (export "deep") (param i32) (result i32)
    (i32.add (i32.const 1) (call $deep (local.get 0))))
  (func (export "grow") (param i32) (result i32)
    (drop (memory.grow (local.get 0)))
    (memory.fill (i32.const 0) (i32.const 7) (i32.const 4096))
    (memory.size))
  (func $count (param $n i32) (result i32)
    (if (result i32) (i32.eqz (local.get $n)) (then (i32.const 99))
      (else (return_call $count (i32.sub (local.get $n) (i32.const 1))))))
  (func (export "tail") (param i32) (result i32) (return_call $count (local.get 0)))
  (func (export "multi") (param i32) (result i32 i32)
    (local.get 0) (i32.const 1)
    (block (param i32 i32) (result i32 i32)
      (br_if 0 (i32.const 1)) (drop) (drop) (i32.const 0) (i32.const 0)))
  ;; The fourth pass's fusions: slot-addressed loads and stores with their offsets, float ops,
  ;; compares fused into `br_if` and `if` (an `i64` immediate too wide to fuse among them), a
  ;; left `local.get` folded past a right operand of several ops, and one that must not fold
  ;; (the right operand writes the local through `local.tee`).
  (func (export "fused") (param $x i32) (param $y i64) (result i64)
    (local $i i32) (local $z i32) (local $acc i64) (local $f f64)
    (block $done
      (loop $l
        (br_if $done (i32.ge_u (local.get $i) (i32.mul (i32.add (local.get $x) (i32.const 1)) (i32.const 2))))
        (f64.store offset=16 (i32.shl (local.get $i) (i32.const 3))
          (f64.mul (f64.convert_i32_u (local.get $i)) (f64.const 1.5)))
        (local.set $f (f64.add (local.get $f)
          (f64.mul (f64.load offset=16 (i32.shl (local.get $i) (i32.const 3))) (f64.load offset=24 (i32.const 0)))))
        (if (i64.gt_s (local.get $y) (i64.const 0x100000000))
          (then (local.set $acc (i64.add (local.get $acc) (i64.const 3))))
          (else (local.set $acc (i64.sub (local.get $acc) (i64.extend_i32_u (local.get $i))))))
        (if (i64.le_u (local.get $y) (i64.const -5))
          (then (local.set $acc (i64.xor (local.get $acc) (i64.const 1)))))
        (local.set $z
          (i32.and (i32.sub (local.get $z) (local.tee $z (i32.add (local.get $i) (i32.const 7)))) (i32.const 0xff0)))
        (i32.store offset=8 (local.get $z) (i32.add (local.get $i) (local.get $z)))
        (local.set $acc (i64.add (local.get $acc) (i64.extend_i32_s (i32.load offset=8 (local.get $z)))))
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (br_if $l (i64.ne (local.get $acc) (i64.const 0x7fffffffffff)))))
    (i64.add (local.get $acc) (i64.reinterpret_f64 (local.get $f))))
  (func (export "xorshift") (param $n i64) (result i64) (local $x i64) (local $acc i64)
    (local.set $x (i64.const 88172645463325252))
    (block $done
      (loop $next
        (br_if $done (i64.eqz (local.get $n)))
        (local.set $x (i64.xor (local.get $x) (i64.shl (local.get $x) (i64.const 13))))
        (local.set $x (i64.xor (local.get $x) (i64.shr_u (local.get $x) (i64.const 7))))
        (local.set $x (i64.xor (local.get $x) (i64.shl (local.get $x) (i64.const 17))))
        (if (i64.eqz (i64.and (local.get $x) (i64.const 1)))
          (then (local.set $acc (i64.add (local.get $acc) (local.get $x))))
          (else (local.set $acc (i64.xor (local.get $acc) (i64.rotl (local.get $x) (i64.const 5))))))
        (br_if $next (i32.eqz (i32.and (i32.wrap_i64 (local.get $x)) (i32.const 0x80000000))))
        (local.set $n (i64.sub (local.get $n) (i64.const 1)))
        (br $next)))
    (local.get $acc))
  ;; `c + a * b` as one op (`Op::F64MulAddSS`, `Op::F32MulAddSS`), from locals and from the
  ;; stack: rounded twice (a fused multiply-add would differ), NaNs as the two operators give.
  (func (export "mul_add") (param $a f64) (param $b f64) (param $c f64) (param $x f32) (result i64)
    (local $y f32)
    (local.set $y (f32.add (f32.const 3) (f32.mul (local.get $x) (f32.demote_f64 (local.get $b)))))
    (i64.xor
      (i64.reinterpret_f64
        (f64.add (f64.mul (local.get $a) (f64.const 3))
          (f64.add (local.get $c) (f64.mul (local.get $a) (local.get $b)))))
      (i64.extend_i32_u (i32.reinterpret_f32
        (f32.add (f32.sqrt (local.get $y)) (f32.mul (local.get $y) (local.get $x)))))))
  (func (export "oob_store") (param i32) (i64.store offset=4 (local.get 0) (i64.const 1)))
  (func (export "oob_store2") (param i32)
    (i32.store offset=65532 (local.get 0) (i32.add (local.get 0) (i32.const 1))))
  (func (export "oob_load") (param i32) (result f64)
    (f64.add (f64.const 1) (f64.load offset=65528 (local.get 0))))
)"#;

fn both(metered: bool, name: &str, args: &[Value], limit: u64) -> (Outcome, Outcome) {
    (run(Kind::Jit, metered, PROGRAMS, name, args, limit), run(Kind::Interp, metered, PROGRAMS, name, args, limit))
}

fn same(a: &Outcome, b: &Outcome) -> bool {
    let results = match (&a.0, &b.0) {
        (Ok(x), Ok(y)) => x == y,
        (Err(RuntimeError::Trap(x)), Err(RuntimeError::Trap(y))) => x == y,
        _ => false,
    };
    results && a.1 == b.1
}

pub(crate) const CASES: &[(&str, &[Value])] = &[
    ("fib", &[Value::I32(15)]),
    ("indirect", &[Value::I32(0), Value::I32(10)]),
    ("indirect", &[Value::I32(1), Value::I32(12)]),
    ("indirect", &[Value::I32(2), Value::I32(12)]),
    ("indirect", &[Value::I32(9), Value::I32(12)]),
    ("loop_sum", &[Value::I32(1000)]),
    ("switch", &[Value::I32(0)]),
    ("switch", &[Value::I32(1)]),
    ("switch", &[Value::I32(77)]),
    ("floats", &[Value::F64(0x4000_0000_0000_0000), Value::F32(0)]),
    ("floats", &[Value::F64(0xfff4_0000_0000_0001), Value::F32(0x7fa0_0001)]),
    ("nan", &[]),
    ("div", &[Value::I32(7), Value::I32(0)]),
    ("div", &[Value::I32(i32::MIN), Value::I32(-1)]),
    ("div", &[Value::I32(-7), Value::I32(2)]),
    ("oob", &[Value::I32(65530)]),
    ("deep", &[Value::I32(0)]),
    ("grow", &[Value::I32(1)]),
    ("tail", &[Value::I32(100_000)]),
    ("multi", &[Value::I32(5)]),
    ("fused", &[Value::I32(5), Value::I64(1 << 33)]),
    ("fused", &[Value::I32(3), Value::I64(-3)]),
    ("fused", &[Value::I32(0), Value::I64(7)]),
    ("xorshift", &[Value::I64(300)]),
    // 1 + 2^-30 squared less its rounding: exact in one rounding, 0 in two.
    (
        "mul_add",
        &[
            Value::F64(0x3ff0_0000_4000_0000),
            Value::F64(0x3ff0_0000_4000_0000),
            Value::F64(0xbff0_0000_8000_0000),
            Value::F32(0x3f80_0001),
        ],
    ),
    (
        "mul_add",
        &[
            Value::F64(0x7ff4_0000_0000_0001),
            Value::F64(0x4000_0000_0000_0000),
            Value::F64(0xfff8_0000_0000_0002),
            Value::F32(0x7fa0_0001),
        ],
    ),
    (
        "mul_add",
        &[Value::F64(0x7ff0_0000_0000_0000), Value::F64(0), Value::F64(0x3ff0_0000_0000_0000), Value::F32(0xff80_0000)],
    ),
    (
        "mul_add",
        &[
            Value::F64(0xc000_0000_0000_0000),
            Value::F64(0x4010_0000_0000_0000),
            Value::F64(0x4020_0000_0000_0000),
            Value::F32(0x8000_0000),
        ],
    ),
    ("oob_store", &[Value::I32(65528)]),
    ("oob_store", &[Value::I32(65531)]),
    ("oob_store2", &[Value::I32(0)]),
    ("oob_store2", &[Value::I32(1)]),
    ("oob_load", &[Value::I32(0)]),
    ("oob_load", &[Value::I32(1)]),
];

#[test]
fn results_traps_and_gas_match_the_jit() {
    for metered in [true, false] {
        for (name, args) in CASES {
            let (jit, interp) = both(metered, name, args, u64::MAX / 2);
            assert!(same(&jit, &interp), "{name}{args:?} metered={metered}:\n jit    {jit:?}\n interp {interp:?}");
        }
    }
}

/// The stack moves the interpreter carries from ops on slots to the next op that reads the
/// height (`code/sink.rs`): a sum of 150 pushed temporaries reaching a call (a move past an
/// `i8`, made by an op of its own, before a loop whose branches are renumbered), arms that
/// fall into a join and branch to it with a temporary pushed, a load's push reaching a
/// `return`. Results and gas as the JIT's, at every limit metered.
#[test]
fn stack_moves_made_late_match_the_jit() {
    let mut sum = "(call $sq (i32.xor (local.get $x) (i32.const 150)))".to_string();
    for k in (1..150).rev() {
        sum = format!("(i32.add (i32.xor (local.get $x) (i32.const {k})) {sum})");
    }
    let wat = format!(
        r#"(module (memory 1)
          (func $sq (param i32) (result i32) (i32.mul (local.get 0) (local.get 0)))
          (func (export "lag") (param $x i32) (result i32) (local $i i32)
            (loop $l
              (local.set $x {sum})
              (br_if $l (i32.lt_u (local.tee $i (i32.add (local.get $i) (i32.const 1))) (i32.const 3))))
            (i32.add (i32.xor (local.get $x) (i32.const 9))
              (if (result i32) (i32.and (local.get $x) (i32.const 1))
                (then (i32.xor (local.get $x) (i32.const 3)))
                (else (i32.add (local.get $x) (i32.load offset=4 (local.get $i)))))))
          (func (export "load") (param $a i32) (result i64)
            (i64.store (local.get $a) (i64.const 0x1234567890))
            (i64.load (local.get $a))))"#
    );
    for (name, args) in [("lag", [Value::I32(7)]), ("lag", [Value::I32(8)]), ("load", [Value::I32(64)])] {
        let outcome = |kind, metered, limit| run(kind, metered, &wat, name, &args, limit);
        for metered in [false, true] {
            let (jit, interp) =
                (outcome(Kind::Jit, metered, u64::MAX / 2), outcome(Kind::Interp, metered, u64::MAX / 2));
            assert!(interp.0.is_ok(), "{name}: {interp:?}");
            assert!(same(&jit, &interp), "{name} metered={metered}:\n jit    {jit:?}\n interp {interp:?}");
        }
        let used = outcome(Kind::Jit, true, u64::MAX / 2).1;
        for limit in (0..used).step_by(usize::try_from(used / 40).unwrap_or(1).max(1)) {
            let (jit, interp) = (outcome(Kind::Jit, true, limit), outcome(Kind::Interp, true, limit));
            assert!(same(&jit, &interp), "{name} limit {limit}:\n jit    {jit:?}\n interp {interp:?}");
        }
    }
}

#[test]
fn running_out_of_gas_happens_at_the_same_unit_and_offset() {
    for (name, args) in CASES {
        let (full, _) = both(true, name, args, u64::MAX / 2);
        let used = full.1;
        for limit in [0, 1, used / 3, used / 2, used.saturating_sub(1)] {
            let (jit, interp) = both(true, name, args, limit);
            assert!(same(&jit, &interp), "{name}{args:?} limit {limit}:\n jit    {jit:?}\n interp {interp:?}");
        }
    }
}

/// Every limit a short call can run out at, not a sample of them: each segment's charge
/// (among them an `if` arm's branch to the function's end, which pays the last segment and
/// returns in one op) runs out at the JIT's unit and offset.
#[test]
fn every_limit_runs_out_where_the_jit_does() {
    for (name, args) in [("fib", &[Value::I32(5)][..]), ("switch", &[Value::I32(1)]), ("tail", &[Value::I32(3)])] {
        let (full, _) = both(true, name, args, u64::MAX / 2);
        for limit in 0..=full.1 {
            let (jit, interp) = both(true, name, args, limit);
            assert!(same(&jit, &interp), "{name}{args:?} limit {limit}:\n jit    {jit:?}\n interp {interp:?}");
        }
    }
}

#[test]
fn traps_carry_the_jit_backtrace() {
    let (jit, interp) = both(true, "oob", &[Value::I32(65530)], u64::MAX / 2);
    let Err(RuntimeError::Trap(t)) = &interp.0 else { panic!("no trap: {interp:?}") };
    assert_eq!(t.code, TrapCode::MemoryOutOfBounds);
    assert!(t.backtrace.first().and_then(|f| f.offset).is_some(), "{t:?}");
    assert!(same(&jit, &interp));
    // The runtime keeps the innermost frames of a deep backtrace; both backends record all.
    let (jit, interp) = both(false, "deep", &[Value::I32(0)], 0);
    let Err(RuntimeError::Trap(t)) = &interp.0 else { panic!("no trap: {interp:?}") };
    assert_eq!(t.code, TrapCode::CallStackExhausted);
    assert!(t.backtrace.len() > 1, "{t:?}");
    assert!(same(&jit, &interp));
}

#[test]
fn lazy_and_eager_translation_run_simd_alike() {
    use std::sync::Arc;
    use wes_core::Backend;
    use wes_runtime::{Linker, Module, Store};
    let wat = r#"(module (func (export "f") (result i32)
      (i32x4.extract_lane 1 (i32x4.add (v128.const i32x4 1 2 3 4) (i32x4.splat (i32.const 40))))))"#;
    for eager in [false, true] {
        let engine = crate::engine(Kind::Jit, false, 100);
        let interp = wes_interp::Interpreter::new(wes_interp::InterpConfig { eager, ..Default::default() });
        let compiled = interp.compile(Arc::new(wes_decode::decode_text(wat).unwrap())).unwrap();
        let m = Module::from_compiled(&engine, compiled).unwrap();
        let mut store = Store::new(&engine);
        let i = Linker::new().instantiate(&mut store, &m).unwrap();
        let r = crate::call(&mut store, i, "f", &[], 0);
        assert_eq!(r.0.unwrap(), vec![Value::I32(42)]);
    }
}

/// Eager translation on several threads: every function is translated once, whichever thread
/// took it, and the module runs as lazily translated code does, gas included.
#[test]
fn eager_translation_on_threads_runs_as_lazy_translation() {
    use std::sync::Arc;
    use wes_core::Backend;
    use wes_runtime::{Linker, Module, Store};
    // 200 functions, each calling the next with a sum that depends on every one of them.
    let mut wat = String::from("(module\n");
    for i in 0..200 {
        let next = if i == 199 { "(local.get 0)".to_string() } else { format!("(call $f{} (local.get 0))", i + 1) };
        wat.push_str(&format!(
            "(func $f{i} (export \"f{i}\") (param i64) (result i64) (i64.add (i64.mul {next} (i64.const 31)) (i64.const {i})))\n"
        ));
    }
    wat.push(')');
    let module = Arc::new(wes_decode::decode_text(&wat).unwrap());
    let mut results = Vec::new();
    for (eager, threads) in [(false, 1), (true, 1), (true, 2), (true, 7)] {
        let engine = crate::engine(Kind::Jit, true, 1000);
        let pricing = Some(Arc::new(wes_meter::Pricing::default()));
        let interp =
            wes_interp::Interpreter::new(wes_interp::InterpConfig { eager, threads, pricing, ..Default::default() });
        let m = Module::from_compiled(&engine, interp.compile(Arc::clone(&module)).unwrap()).unwrap();
        let mut store = Store::new(&engine);
        let i = Linker::new().instantiate(&mut store, &m).unwrap();
        let (r, gas) = crate::call(&mut store, i, "f0", &[Value::I64(3)], 1_000_000);
        results.push((r.unwrap(), gas));
    }
    assert!(results[0].1 > 200, "{results:?}");
    assert!(results.windows(2).all(|w| w[0] == w[1]), "{results:?}");
}

/// `v128` values through locals, globals, `select`, blocks, calls (to interpreted and to JIT
/// code, whose array call carries a whole slot) and every SIMD memory operator.
const VECTORS: &str = r#"(module
  (memory 1)
  (data (i32.const 0) "\00\01\02\03\04\05\06\07\88\99\aa\bb\cc\dd\ee\ff\7f\80")
  (global $v (mut v128) (v128.const i64x2 0x1111 0x2222))
  (func $swap (param v128 i32 v128) (result v128 i32 v128)
    (local.get 2) (local.get 1) (local.get 0))
  (func (export "vectors") (param $k i32) (result i64) (local $a v128) (local $b v128)
    (local.set $a (v128.load offset=1 (i32.const 0)))
    (v128.store (i32.const 32) (local.get $a))
    (local.set $b (select (result v128) (global.get $v) (local.get $a) (local.get $k)))
    (global.set $v (v128.load8x8_s (i32.const 8)))
    (v128.store (i32.const 48) (global.get $v))
    (v128.store (i32.const 64) (v128.load16x4_u (i32.const 4)))
    (v128.store (i32.const 80) (v128.load32x2_s (i32.const 8)))
    (v128.store (i32.const 96) (v128.load8_splat (i32.const 17)))
    (v128.store (i32.const 112) (v128.load64_zero (i32.const 9)))
    (v128.store (i32.const 128) (v128.load16_lane 5 (i32.const 3) (local.get $b)))
    (v128.store64_lane 1 (i32.const 144) (local.get $b))
    (v128.store8_lane 15 (i32.const 152) (v128.load32_splat (i32.const 12)))
    (call $swap (local.get $a) (i32.const 5) (local.get $b))
    (drop) (drop) (drop)
    (block (result v128 v128) (local.get $a) (local.get $b) (br_if 0 (local.get $k)))
    (local.set $a) (local.set $b)
    (v128.store (i32.const 160) (local.get $a))
    (v128.store (i32.const 176) (local.get $b))
    (i64.load (i32.const 32))
    (i64.xor (i64.load (i32.const 48)))
    (i64.xor (i64.load (i32.const 72)))
    (i64.xor (i64.load (i32.const 88)))
    (i64.xor (i64.load (i32.const 104)))
    (i64.xor (i64.load (i32.const 112)))
    (i64.xor (i64.load (i32.const 136)))
    (i64.xor (i64.load (i32.const 144)))
    (i64.xor (i64.load (i32.const 152)))
    (i64.xor (i64.load (i32.const 160)))
    (i64.xor (i64.load (i32.const 168))))
  (func (export "oob") (result i32) (v128.store (i32.const 65530) (v128.const i64x2 1 2)) (i32.const 0))
)"#;

#[test]
fn vectors_and_their_memory_operators_match_the_jit() {
    for metered in [true, false] {
        for k in [0, 1] {
            let args = [Value::I32(k)];
            let jit = run(Kind::Jit, metered, VECTORS, "vectors", &args, u64::MAX / 2);
            let interp = run(Kind::Interp, metered, VECTORS, "vectors", &args, u64::MAX / 2);
            assert!(jit.0.is_ok(), "{jit:?}");
            assert!(same(&jit, &interp), "k={k} metered={metered}:\n jit    {jit:?}\n interp {interp:?}");
        }
        let jit = run(Kind::Jit, metered, VECTORS, "oob", &[], u64::MAX / 2);
        let interp = run(Kind::Interp, metered, VECTORS, "oob", &[], u64::MAX / 2);
        assert!(same(&jit, &interp), "oob:\n jit    {jit:?}\n interp {interp:?}");
    }
}
