//! Tail calls run in constant native stack and never count towards the call-depth limit:
//! self recursion, mutual recursion, indirect tail calls, and tail calls to host functions.

use wes_core::{TrapCode, Value};
use wes_runtime::{Caller, Config, HostError, Linker};

use crate::{call, check_trap, engine_with, instantiate_with};

const TEN_MILLION: i64 = 10_000_000;

const GUEST: &str = r#"(module
  (import "env" "double" (func $double (param i64) (result i64)))
  (type $step (func (param i64 i64) (result i64)))
  (table funcref (elem $count_indirect))
  ;; count(n, acc) = acc + n, by n self tail calls.
  (func $count (export "count") (param i64 i64) (result i64)
    (if (result i64) (i64.eqz (local.get 0))
      (then (local.get 1))
      (else (return_call $count (i64.sub (local.get 0) (i64.const 1))
                                (i64.add (local.get 1) (i64.const 1))))))
  ;; even/odd by mutual tail recursion.
  (func $even (export "even") (param i64) (result i32)
    (if (result i32) (i64.eqz (local.get 0)) (then (i32.const 1))
      (else (return_call $odd (i64.sub (local.get 0) (i64.const 1))))))
  (func $odd (export "odd") (param i64) (result i32)
    (if (result i32) (i64.eqz (local.get 0)) (then (i32.const 0))
      (else (return_call $even (i64.sub (local.get 0) (i64.const 1))))))
  ;; The same loop through the table.
  (func $count_indirect (export "count_indirect") (param i64 i64) (result i64)
    (if (result i64) (i64.eqz (local.get 0))
      (then (local.get 1))
      (else (return_call_indirect (type $step)
              (i64.sub (local.get 0) (i64.const 1)) (i64.add (local.get 1) (i64.const 2))
              (i32.const 0)))))
  ;; A tail call to a host function, from inside an ordinary call.
  (func $to_host (param i64) (result i64) (return_call $double (local.get 0)))
  (func (export "host") (param i64) (result i64)
    (i64.add (call $to_host (local.get 0)) (i64.const 1)))
  ;; Ordinary recursion still hits the limit.
  (func $deep (export "deep") (param i64) (result i64)
    (if (result i64) (i64.eqz (local.get 0)) (then (i64.const 0))
      (else (i64.add (call $deep (i64.sub (local.get 0) (i64.const 1))) (i64.const 1)))))
  ;; Ordinary recursion whose every level ends in a long tail-call chain.
  (func $mixed (export "mixed") (param i64) (result i64)
    (if (result i64) (i64.eqz (local.get 0)) (then (i64.const 0))
      (else (i64.add (call $mixed (i64.sub (local.get 0) (i64.const 1)))
                     (call $count (i64.const 1000) (i64.const 0)))))))"#;

fn guest(max_call_depth: u32) -> (wes_runtime::Store, wes_runtime::Instance) {
    let mut config = Config::default();
    config.max_call_depth(max_call_depth);
    let mut l = Linker::new();
    l.func_wrap("env", "double", |_: &mut Caller<'_>, (x,): (i64,)| -> Result<i64, HostError> { Ok(x * 2) });
    instantiate_with(&engine_with(config), &l, GUEST)
}

#[test]
fn ten_million_self_tail_calls_run_in_constant_stack() {
    // A depth limit of 10 frames: the tail calls must not count.
    let (mut s, i) = guest(10);
    let r = call(&mut s, i, "count", &[Value::I64(TEN_MILLION), Value::I64(5)]).unwrap();
    assert_eq!(r, [Value::I64(TEN_MILLION + 5)]);
}

#[test]
fn mutual_tail_recursion_runs_in_constant_stack() {
    let (mut s, i) = guest(10);
    assert_eq!(call(&mut s, i, "even", &[Value::I64(TEN_MILLION)]).unwrap(), [Value::I32(1)]);
    assert_eq!(call(&mut s, i, "odd", &[Value::I64(TEN_MILLION)]).unwrap(), [Value::I32(0)]);
    assert_eq!(call(&mut s, i, "even", &[Value::I64(TEN_MILLION + 1)]).unwrap(), [Value::I32(0)]);
}

#[test]
fn indirect_tail_calls_run_in_constant_stack() {
    let (mut s, i) = guest(10);
    let r = call(&mut s, i, "count_indirect", &[Value::I64(TEN_MILLION), Value::I64(0)]).unwrap();
    assert_eq!(r, [Value::I64(2 * TEN_MILLION)]);
}

#[test]
fn a_tail_call_to_a_host_function_returns_to_the_caller() {
    let (mut s, i) = guest(10);
    assert_eq!(call(&mut s, i, "host", &[Value::I64(20)]).unwrap(), [Value::I64(41)]);
}

#[test]
fn ordinary_calls_still_count_and_tail_chains_inside_them_do_not() {
    let (mut s, i) = guest(10);
    // `deep(n)` uses n + 1 frames.
    assert_eq!(call(&mut s, i, "deep", &[Value::I64(9)]).unwrap(), [Value::I64(9)]);
    check_trap(&mut s, i, "deep", &[Value::I64(10)], TrapCode::CallStackExhausted);
    // `mixed(n)` uses n + 1 frames too: each `count` call takes one frame above the `mixed`
    // that calls it, and its 1000 tail calls reuse that frame.
    assert_eq!(call(&mut s, i, "mixed", &[Value::I64(9)]).unwrap(), [Value::I64(9000)]);
    check_trap(&mut s, i, "mixed", &[Value::I64(10)], TrapCode::CallStackExhausted);
    // The store is usable after the trap.
    assert_eq!(call(&mut s, i, "count", &[Value::I64(3), Value::I64(0)]).unwrap(), [Value::I64(3)]);
}

#[test]
fn a_host_function_reached_by_tail_call_sees_the_tail_caller_instance() {
    let engine = engine_with(Config::default());
    let mut l = Linker::new();
    // Reads the byte at 0 of the calling instance's memory.
    l.func_wrap("env", "peek", |caller: &mut Caller<'_>, (): ()| -> Result<i32, HostError> {
        let mut b = [0];
        caller.read_memory(0, &mut b)?;
        Ok(i32::from(b[0]))
    });
    let a = wes_runtime::Module::new(
        &engine,
        wes_decode::decode_text(
            r#"(module (import "env" "peek" (func $peek (result i32)))
                 (memory 1) (data (i32.const 0) "A")
                 (func (export "f") (result i32) (return_call $peek)))"#,
        )
        .unwrap(),
    )
    .unwrap();
    let b = wes_runtime::Module::new(
        &engine,
        wes_decode::decode_text(
            r#"(module (import "a" "f" (func $f (result i32)))
                 (memory 1) (data (i32.const 0) "B")
                 (func (export "g") (result i32) (call $f)))"#,
        )
        .unwrap(),
    )
    .unwrap();
    let mut s = wes_runtime::Store::new(&engine);
    let ia = l.instantiate(&mut s, &a).unwrap();
    l.instance(&s, "a", ia);
    let ib = l.instantiate(&mut s, &b).unwrap();
    // `g` in B calls `f` in A, which tail-calls the host: the host's caller is A.
    assert_eq!(call(&mut s, ib, "g", &[]).unwrap(), [Value::I32(i32::from(b'A'))]);
    assert_eq!(call(&mut s, ia, "f", &[]).unwrap(), [Value::I32(i32::from(b'A'))]);
}
