//! Traps in native code unwind to the innermost entry from Rust and name every frame on the
//! way from the frame-pointer chain (`wes_core::unwind`). The interpreter returns through
//! its frames instead; the two must agree on the code, the backtrace (every frame's function
//! and offset), the gas and the state, at every tight gas limit the harness tries.

use wes_difftest::{compare, standard_engines};

/// Recursion through direct calls and a table (whose calls go through array-call entries), ending
/// in a trap or a loop that runs out of gas at depth.
const DEEP: &str = r#"(module
    (memory (export "mem") 1)
    (global $g (export "g") (mut i32) (i32.const 0))
    (table 2 funcref)
    (elem (i32.const 0) $down $spin)
    (type $t (func (param i32) (result i32)))
    (func $down (param $n i32) (result i32)
      (global.set $g (i32.add (global.get $g) (i32.const 1)))
      (i32.store (i32.shl (local.get $n) (i32.const 2)) (local.get $n))
      (if (result i32) (i32.eqz (local.get $n))
        (then (i32.div_s (i32.const 1) (local.get $n)))
        (else
          (i32.add (i32.const 1)
            (if (result i32) (i32.and (local.get $n) (i32.const 1))
              (then (call $down (i32.sub (local.get $n) (i32.const 1))))
              (else (call_indirect (type $t) (i32.sub (local.get $n) (i32.const 1)) (i32.const 0))))))))
    (func $spin (param $n i32) (result i32)
      (if (result i32) (i32.eqz (local.get $n))
        (then (loop $l (global.set $g (i32.add (global.get $g) (i32.const 3))) (br $l)) (i32.const 0))
        (else (i32.add (i32.const 1) (call_indirect (type $t) (i32.sub (local.get $n) (i32.const 1)) (i32.const 1))))))
    (func (export "div") (result i32) (call $down (i32.const 9)))
    (func (export "spin") (result i32) (call $spin (i32.const 12)))
    (func (export "bounds") (result i32) (i32.load (i32.const 70000))))"#;

/// One function of `n` nested `if`s, each storing and counting: past the size where the JIT
/// gives every refill path a second edge (`REFILL_EDGE_WORK` in wes-jit) when `n` is 2,000.
fn nested_ifs(n: usize) -> String {
    let mut body = String::new();
    for i in 0..n {
        body.push_str(&format!("(global.set $g (i32.add (global.get $g) (i32.const {i})))\n(if (local.get 0) (then\n"));
    }
    body.push_str("(i32.store (i32.const 0) (global.get $g))");
    for i in 0..n {
        body.push_str(&format!("\n(i32.store (i32.const {}) (local.get 0))))", (i % 1000) * 4));
    }
    format!(
        r#"(module (memory (export "mem") 1) (global $g (export "g") (mut i32) (i32.const 0))
          (func (export "nest") (local i32) (local.set 0 (i32.const 1)) {body}))"#
    )
}

#[test]
fn traps_that_unwind_agree_with_the_interpreter_on_backtraces_and_gas() {
    let engines = standard_engines().unwrap();
    let summary = compare(&wat::parse_str(DEEP).unwrap(), &engines).unwrap();
    assert_eq!(summary.calls, 3, "{summary:?}");
    assert_eq!(summary.trap_count("IntegerDivideByZero"), 1, "{summary:?}");
    assert_eq!(summary.trap_count("OutOfGas"), 1, "{summary:?}");
    assert_eq!(summary.trap_count("MemoryOutOfBounds"), 1, "{summary:?}");
    assert!(summary.tight_out_of_gas >= 6, "{summary:?}");

    let summary = compare(&wat::parse_str(nested_ifs(2_000)).unwrap(), &engines).unwrap();
    assert_eq!((summary.calls, summary.returned), (1, 1), "{summary:?}");
    assert!(summary.tight_out_of_gas >= 3, "{summary:?}");
}

/// Accesses at and past the end of memory, in deep calls, after a grow, of every width: with
/// guard regions each out-of-bounds one is a fault, which must be the interpreter's trap (code,
/// every frame's function and offset) and must have written nothing (a store straddling the
/// end leaves the last bytes as they were).
const EDGES: &str = r#"(module
    (memory (export "mem") 1 3)
    (table 1 funcref)
    (elem (i32.const 0) $deep)
    (type $t (func (param i32 i32) (result i32)))
    (func $deep (param $n i32) (param $a i32) (result i32)
      (if (result i32) (i32.eqz (local.get $n))
        (then (i32.load offset=8 (local.get $a)))
        (else (i32.add (i32.const 1)
          (call_indirect (type $t) (i32.sub (local.get $n) (i32.const 1)) (local.get $a) (i32.const 0))))))
    (func (export "edge") (result i32)
      (i32.store (i32.const 65532) (i32.const 7)) (i32.load (i32.const 65532)))
    (func (export "straddle") (i64.store (i32.const 65532) (i64.const -1)))
    (func (export "after_straddle") (result i32) (i32.load (i32.const 65532)))
    (func (export "far") (result i64) (i64.load offset=0xffffffff (i32.const -1)))
    (func (export "deep") (result i32) (call $deep (i32.const 20) (i32.const 65530)))
    (func (export "wide") (result i32) (i32x4.extract_lane 0 (v128.load (i32.const 65521))))
    (func (export "grown") (result i32)
      (drop (memory.grow (i32.const 1)))
      (i32.store (i32.const 131068) (i32.const 5)) (i32.load (i32.const 131068)))
    (func (export "past_grown") (result i32) (i32.load8_u (i32.const 131072))))"#;

#[test]
fn guard_region_faults_are_the_traps_of_explicit_checks() {
    let engines = standard_engines().unwrap();
    // The default JIT (guard regions on x86-64 Linux) is compared with the explicit one.
    assert!(engines.iter().any(|(name, _)| *name == "jit-explicit"), "the explicit-checks engine is compared");
    let summary = compare(&wat::parse_str(EDGES).unwrap(), &engines).unwrap();
    assert_eq!(summary.calls, 8, "{summary:?}");
    // straddle, far, deep, wide, past_grown.
    assert_eq!(summary.trap_count("MemoryOutOfBounds"), 5, "{summary:?}");
}

/// Calls through a table reach compiled callees' bodies directly (the record's body, with
/// arguments, frame count and gas in registers): every kind of value and several results
/// through them, a callee that ends in a tail call through the table (the pending tail call
/// comes back through the direct call), runaway recursion through the table (the depth limit
/// counts the same frames), and traps deep in it.
const INDIRECT: &str = r#"(module
    (memory (export "mem") 1)
    (global $g (export "g") (mut i64) (i64.const 0))
    (type $mix (func (param i32 i64 f32 f64 v128) (result f64 i64 i32)))
    (type $t (func (param i32) (result i32)))
    (table 5 funcref)
    (elem (i32.const 0) $mix $hop $land $forever $trap)
    (func $mix (type $mix)
      (f64.add (local.get 3) (f64.promote_f32 (local.get 2)))
      (i64.add (local.get 1) (i64x2.extract_lane 1 (local.get 4)))
      (i32.add (local.get 0) (i32x4.extract_lane 0 (local.get 4))))
    (func $hop (type $t)
      (global.set $g (i64.add (global.get $g) (i64.const 1)))
      (if (i32.eqz (local.get 0)) (then (return_call_indirect (type $t) (i32.const 7) (i32.const 2))))
      (return_call_indirect (type $t) (i32.sub (local.get 0) (i32.const 1)) (i32.const 1)))
    (func $land (type $t) (i32.store (i32.const 16) (local.get 0)) (i32.mul (local.get 0) (i32.const 3)))
    (func $forever (type $t) (i32.add (i32.const 1) (call_indirect (type $t) (local.get 0) (i32.const 3))))
    (func $trap (type $t)
      (if (result i32) (local.get 0)
        (then (i32.add (i32.const 1) (call_indirect (type $t) (i32.sub (local.get 0) (i32.const 1)) (i32.const 4))))
        (else (i32.load (i32.const 65536)))))
    (func (export "mix") (result f64 i64 i32)
      (call_indirect (type $mix) (i32.const 5) (i64.const -9) (f32.const 1.5) (f64.const 2.25)
        (v128.const i32x4 1 2 3 4) (i32.const 0)))
    (func (export "hop") (result i32) (call_indirect (type $t) (i32.const 5) (i32.const 1)))
    (func (export "forever") (result i32) (call_indirect (type $t) (i32.const 0) (i32.const 3)))
    (func (export "trap") (result i32) (call_indirect (type $t) (i32.const 6) (i32.const 4))))"#;

#[test]
fn calls_through_tables_into_bodies_agree_with_the_interpreter() {
    let engines = standard_engines().unwrap();
    let summary = compare(&wat::parse_str(INDIRECT).unwrap(), &engines).unwrap();
    assert_eq!(summary.calls, 4, "{summary:?}");
    assert_eq!(summary.returned, 2, "{summary:?}");
    assert_eq!(summary.trap_count("CallStackExhausted"), 1, "{summary:?}");
    assert_eq!(summary.trap_count("MemoryOutOfBounds"), 1, "{summary:?}");
    assert!(summary.tight_out_of_gas >= 4, "{summary:?}");
}
