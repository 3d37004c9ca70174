//! Instances of the JIT and of the interpreter in one store: calls, tail calls and tables
//! across them in both directions, with the gas of a JIT-only run.

use wes_core::{TrapCode, Value};
use wes_runtime::{Caller, Engine, HostError, Linker, RuntimeError, Store};

use crate::{Kind, call, engine, interp_module, module};

const LIB: &str = r#"(module
  (table (export "tab") 2 funcref)
  (elem (i32.const 0) $double $count)
  (func $double (export "double") (param i32) (result i32) (i32.mul (local.get 0) (i32.const 2)))
  (func $count (export "count") (param $n i32) (result i32)
    (if (result i32) (i32.eqz (local.get $n)) (then (i32.const 7))
      (else (return_call $count (i32.sub (local.get $n) (i32.const 1))))))
  (func (export "boom") (param i32) (result i32) (i32.div_u (local.get 0) (i32.const 0)))
)"#;

const APP: &str = r#"(module
  (type $i2i (func (param i32) (result i32)))
  (import "lib" "double" (func $double (type $i2i)))
  (import "lib" "count" (func $count (type $i2i)))
  (import "lib" "boom" (func $boom (type $i2i)))
  (import "lib" "tab" (table 2 funcref))
  (func (export "direct") (param i32) (result i32) (call $double (local.get 0)))
  (func (export "via_table") (param i32 i32) (result i32)
    (call_indirect (type $i2i) (local.get 1) (local.get 0)))
  (func (export "tail_import") (param i32) (result i32) (return_call $count (local.get 0)))
  (func (export "tail_table") (param i32) (result i32)
    (return_call_indirect (type $i2i) (local.get 0) (i32.const 1)))
  (func (export "nested") (param i32) (result i32)
    (i32.add (i32.const 1) (return_call $count (local.get 0))))
  (func (export "trap") (param i32) (result i32) (i32.add (i32.const 1) (call $boom (local.get 0))))
)"#;

/// Runs every export of APP with `lib_on` and `app_on` backends in one store on a JIT engine.
fn outcomes(lib_interp: bool, app_interp: bool) -> Vec<(Result<Vec<Value>, RuntimeError>, u64)> {
    let engine = engine(Kind::Jit, true, 10_000);
    let lib = if lib_interp { interp_module(&engine, LIB) } else { module(&engine, LIB) };
    let app = if app_interp { interp_module(&engine, APP) } else { module(&engine, APP) };
    let mut store = Store::new(&engine);
    let lib = Linker::new().instantiate(&mut store, &lib).unwrap();
    let mut linker = Linker::new();
    linker.instance(&store, "lib", lib);
    let app = linker.instantiate(&mut store, &app).unwrap();
    let cases: &[(&str, &[Value])] = &[
        ("direct", &[Value::I32(21)]),
        ("via_table", &[Value::I32(0), Value::I32(5)]),
        ("via_table", &[Value::I32(1), Value::I32(5)]),
        ("via_table", &[Value::I32(2), Value::I32(5)]),
        ("tail_import", &[Value::I32(50_000)]),
        ("tail_table", &[Value::I32(1000)]),
        ("trap", &[Value::I32(3)]),
    ];
    cases.iter().map(|(name, args)| call(&mut store, app, name, args, 1 << 40)).collect()
}

fn assert_same(a: &[(Result<Vec<Value>, RuntimeError>, u64)], b: &[(Result<Vec<Value>, RuntimeError>, u64)]) {
    for (x, y) in a.iter().zip(b) {
        let ok = match (&x.0, &y.0) {
            (Ok(p), Ok(q)) => p == q,
            (Err(RuntimeError::Trap(p)), Err(RuntimeError::Trap(q))) => p == q,
            _ => false,
        };
        assert!(ok && x.1 == y.1, "\n{x:?}\n{y:?}");
    }
}

#[test]
fn jit_and_interpreter_instances_call_each_other_in_one_store() {
    let reference = outcomes(false, false);
    assert_eq!(reference[0].0.as_ref().unwrap(), &[Value::I32(42)]);
    for (lib, app) in [(true, false), (false, true), (true, true)] {
        let got = outcomes(lib, app);
        assert_same(&reference, &got);
    }
    let trapped = outcomes(true, false);
    let Err(RuntimeError::Trap(t)) = &trapped[6].0 else { panic!("{:?}", trapped[6]) };
    assert_eq!(t.code, TrapCode::IntegerDivideByZero);
    assert_eq!(t.backtrace.len(), 2);
}

/// A chain of host re-entries: wasm calls the host, which calls wasm again, as deep as the
/// default `max_host_reentry` allows.
/// Each level nests the interpreter natively once; the runtime sizes the native stack from
/// `max_frame_size`, so a frame bound that is too small would overflow here.
#[test]
fn host_reentry_chain_stays_within_the_frame_bound() {
    const WAT: &str = r#"(module
      (import "env" "again" (func $again (param i32) (result i32)))
      (func (export "down") (param i32) (result i32)
        (if (result i32) (i32.eqz (local.get 0)) (then (i32.const 0))
          (else (i32.add (i32.const 1) (call $again (i32.sub (local.get 0) (i32.const 1))))))))"#;
    let run = |engine: &Engine, interp: bool| {
        let m = if interp { interp_module(engine, WAT) } else { module(engine, WAT) };
        let mut linker = Linker::new();
        linker.func_wrap("env", "again", |c: &mut Caller<'_>, (n,): (i32,)| -> Result<i32, HostError> {
            let f = c.get_func("down").ok_or_else(|| HostError::new("no down"))?;
            let r = c.call(f, &[Value::I32(n)])?;
            r.first().and_then(Value::as_i32).ok_or_else(|| HostError::new("no result"))
        });
        let mut store = Store::new(engine);
        let i = linker.instantiate(&mut store, &m).unwrap();
        call(&mut store, i, "down", &[Value::I32(7)], 1 << 40)
    };
    let engine = engine(Kind::Jit, true, 10_000);
    let jit = run(&engine, false);
    let interp = run(&engine, true);
    assert_eq!(interp.0.as_ref().unwrap(), &[Value::I32(7)], "{interp:?}");
    assert_eq!(jit.0.as_ref().unwrap(), interp.0.as_ref().unwrap());
    assert_eq!(jit.1, interp.1);
}

/// An interpreted function calls a JIT function that tail-calls an interpreted one through an
/// import: the JIT function returns `CALL_TAIL` to the interpreter, which runs the pending
/// callee as a frame of its own; results, traps and gas as on the JIT alone.
#[test]
fn a_pending_tail_call_from_native_code_runs_as_an_interpreted_frame() {
    const MID: &str = r#"(module
      (import "lib" "count" (func $count (param i32) (result i32)))
      (import "lib" "boom" (func $boom (param i32) (result i32)))
      (func (export "mid") (param i32) (result i32) (return_call $count (local.get 0)))
      (func (export "mid_boom") (param i32) (result i32) (return_call $boom (local.get 0))))"#;
    const TOP: &str = r#"(module
      (import "mid" "mid" (func $mid (param i32) (result i32)))
      (import "mid" "mid_boom" (func $mid_boom (param i32) (result i32)))
      (func (export "top") (param i32) (result i32) (i32.add (i32.const 1) (call $mid (local.get 0))))
      (func (export "top_boom") (param i32) (result i32) (i32.add (i32.const 1) (call $mid_boom (local.get 0)))))"#;
    let run = |interp_ends: bool| {
        let engine = engine(Kind::Jit, true, 10_000);
        let lib = if interp_ends { interp_module(&engine, LIB) } else { module(&engine, LIB) };
        let mid = module(&engine, MID);
        let top = if interp_ends { interp_module(&engine, TOP) } else { module(&engine, TOP) };
        let mut store = Store::new(&engine);
        let lib = Linker::new().instantiate(&mut store, &lib).unwrap();
        let mut linker = Linker::new();
        linker.instance(&store, "lib", lib);
        let mid = linker.instantiate(&mut store, &mid).unwrap();
        linker.instance(&store, "mid", mid);
        let top = linker.instantiate(&mut store, &top).unwrap();
        vec![
            call(&mut store, top, "top", &[Value::I32(300)], 1 << 40),
            call(&mut store, top, "top_boom", &[Value::I32(3)], 1 << 40),
        ]
    };
    let reference = run(false);
    assert_eq!(reference[0].0.as_ref().unwrap(), &[Value::I32(8)]);
    let got = run(true);
    assert_same(&reference, &got);
    let Err(RuntimeError::Trap(t)) = &got[1].0 else { panic!("{:?}", got[1]) };
    assert_eq!(t.code, TrapCode::IntegerDivideByZero);
}
