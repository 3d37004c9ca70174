//! The call-stack limit is counted in wasm frames: deterministic, configurable, and hit before
//! the native stack runs out.

use wes_core::{TrapCode, Value};
use wes_runtime::{Config, Linker};

use crate::{call, check_trap, engine_with, instantiate, instantiate_with};

/// `depth(n)` recurses `n` times, so it uses `n + 1` frames.
const RECURSE: &str = r#"(module
  (func $depth (export "depth") (param i32) (result i32)
    local.get 0 i32.eqz
    if (result i32) i32.const 0
    else local.get 0 i32.const 1 i32.sub call $depth i32.const 1 i32.add end)
  (func $runaway (export "runaway") call $runaway)
  (func (export "ok") (result i32) i32.const 1))"#;

#[test]
fn the_limit_is_exact_in_wasm_frames() {
    let mut config = Config::default();
    config.max_call_depth(100);
    let (mut s, i) = instantiate_with(&engine_with(config), &Linker::new(), RECURSE);
    assert_eq!(call(&mut s, i, "depth", &[Value::I32(99)]).unwrap(), [Value::I32(99)]);
    let trap = check_trap(&mut s, i, "depth", &[Value::I32(100)], TrapCode::CallStackExhausted);
    assert_eq!(trap.detail.as_deref(), Some("more than 100 nested wasm calls"));
    // The counter was reset by the trap: the same depth works again.
    assert_eq!(call(&mut s, i, "depth", &[Value::I32(99)]).unwrap(), [Value::I32(99)]);
}

#[test]
fn runaway_recursion_traps_and_the_store_survives() {
    let (mut s, i) = instantiate(RECURSE);
    for _ in 0..2 {
        let trap = check_trap(&mut s, i, "runaway", &[], TrapCode::CallStackExhausted);
        assert!(!trap.backtrace.is_empty());
        assert_eq!(call(&mut s, i, "ok", &[]).unwrap(), [Value::I32(1)]);
    }
    // The default limit allows deep, legitimate recursion.
    assert_eq!(call(&mut s, i, "depth", &[Value::I32(9_999)]).unwrap(), [Value::I32(9_999)]);
}

/// A module whose one function keeps 199 loaded values live across a recursive call.
fn big_frame_module() -> String {
    let mut locals = String::new();
    let mut sum = String::from("local.get 0");
    for n in 1..200 {
        locals.push_str(" i64");
        sum.push_str(&format!(" local.get {n} i64.add"));
    }
    format!(
        r#"(module (memory 1) (func $f (export "f") (param i64) (result i64) (local{locals})
             {sets} local.get 0 i64.const 1 i64.add call $f {sum} i64.add))"#,
        sets = (1..200).map(|n| format!("i32.const {} i64.load local.set {n}", n * 8)).collect::<Vec<_>>().join(" "),
    )
}

#[test]
fn modules_needing_too_much_stack_are_refused_up_front() {
    let mut config = Config::default();
    // No host function calling back into wasm: the stack is the frames and one host reserve
    // (each level of re-entry would add a reserve of its own).
    config.max_wasm_stack(4 << 20).max_host_reentry(0);
    let engine = engine_with(config);
    // Small frames fit in 4 MiB at the default depth ...
    let (mut s, i) = instantiate_with(&engine, &Linker::new(), RECURSE);
    check_trap(&mut s, i, "runaway", &[], TrapCode::CallStackExhausted);
    // ... 1.6 KB frames do not.
    let module = wes_runtime::Module::new(&engine, wes_decode::decode_text(&big_frame_module()).unwrap()).unwrap();
    let e = Linker::new().instantiate(&mut s, &module).unwrap_err();
    assert!(matches!(e, wes_runtime::RuntimeError::ResourceLimit(_)), "{e}");
    // The store is unaffected.
    assert_eq!(call(&mut s, i, "ok", &[]).unwrap(), [Value::I32(1)]);
}

#[test]
fn big_frames_still_hit_the_wasm_limit() {
    let wat = big_frame_module();
    let (mut s, i) = instantiate(&wat);
    check_trap(&mut s, i, "f", &[Value::I64(0)], TrapCode::CallStackExhausted);
}
