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

/// Host functions of every signature form the interpreter's import call handles itself (no
/// result, a 32-bit or a 64-bit one, up to `ImportSig::MAX_PARAMS` scalars) and of the forms
/// it leaves to the loop (more parameters, two results), each returning or trapping, in a
/// loop that carries their results: results, traps (code, backtrace) and gas as on the JIT,
/// and the host sees the same arguments in the same order.
#[test]
fn host_functions_of_every_signature_match_the_jit() {
    use std::sync::{Arc, Mutex};
    use wes_core::{FuncType, ValType};
    use wes_runtime::HostFunc;

    const WAT: &str = r#"(module
      (import "env" "unit" (func $unit (param i32 i64 f32 f64)))
      (import "env" "narrow" (func $narrow (param i32) (result i32)))
      (import "env" "fnarrow" (func $fnarrow (param f32) (result f32)))
      (import "env" "wide" (func $wide (param i64 i64) (result i64)))
      (import "env" "fwide" (func $fwide (param f64 i32) (result f64)))
      (import "env" "eight" (func $eight (param i32 i32 i32 i32 i32 i32 i32 i64) (result i64)))
      (import "env" "nine" (func $nine (param i32 i32 i32 i32 i32 i32 i32 i32 i32) (result i32)))
      (import "env" "two" (func $two (param i32) (result i32 i64)))
      (import "env" "none" (func $none))
      (func (export "run") (param $n i32) (result i64) (local $acc i64) (local $f f64)
        (block $done
          (loop $l
            (br_if $done (i32.eqz (local.get $n)))
            (call $unit (local.get $n) (local.get $acc) (f32.convert_i32_u (local.get $n)) (local.get $f))
            (call $none)
            (local.set $acc (i64.add (local.get $acc) (i64.extend_i32_u (call $narrow (local.get $n)))))
            (local.set $acc (call $wide (local.get $acc) (i64.extend_i32_u (local.get $n))))
            (local.set $f (call $fwide (local.get $f) (local.get $n)))
            (local.set $acc (i64.add (local.get $acc)
              (i64.extend_i32_u (i32.reinterpret_f32 (call $fnarrow (f32.convert_i32_u (local.get $n)))))))
            (local.set $acc (i64.xor (local.get $acc)
              (call $eight (local.get $n) (i32.const 2) (i32.const 3) (i32.const 4) (i32.const 5)
                (i32.const 6) (i32.const 7) (local.get $acc))))
            (local.set $acc (i64.add (local.get $acc) (i64.extend_i32_u
              (call $nine (local.get $n) (i32.const 2) (i32.const 3) (i32.const 4) (i32.const 5)
                (i32.const 6) (i32.const 7) (i32.const 8) (i32.const 9)))))
            (call $two (local.get $n))
            (local.set $acc (i64.add (local.get $acc)))
            (i64.extend_i32_u) (local.get $acc) (i64.add) (local.set $acc)
            (local.set $n (i32.sub (local.get $n) (i32.const 1)))
            (br $l)))
        (i64.add (local.get $acc) (i64.reinterpret_f64 (local.get $f)))))"#;

    // What each host function saw, in order; `trap_at`: the `n` at which `narrow` fails.
    type Seen = Arc<Mutex<Vec<(&'static str, Vec<Value>)>>>;
    let run = |interp: bool, trap_at: i32| {
        let engine = engine(Kind::Jit, true, 10_000);
        let m = if interp { interp_module(&engine, WAT) } else { module(&engine, WAT) };
        let seen: Seen = Arc::new(Mutex::new(Vec::new()));
        let mut linker = Linker::new();
        let sigs: [(&'static str, Vec<ValType>, Vec<ValType>); 9] = {
            use ValType::{F32, F64, I32, I64};
            [
                ("unit", vec![I32, I64, F32, F64], vec![]),
                ("narrow", vec![I32], vec![I32]),
                ("fnarrow", vec![F32], vec![F32]),
                ("wide", vec![I64, I64], vec![I64]),
                ("fwide", vec![F64, I32], vec![F64]),
                ("eight", vec![I32, I32, I32, I32, I32, I32, I32, I64], vec![I64]),
                ("nine", vec![I32; 9], vec![I32]),
                ("two", vec![I32], vec![I32, I64]),
                ("none", vec![], vec![]),
            ]
        };
        for (name, params, results) in sigs {
            let seen = Arc::clone(&seen);
            let f = HostFunc::new(FuncType::new(params, results), move |_, args, out| {
                seen.lock().unwrap().push((name, args.to_vec()));
                let mix = args.iter().fold(0x9e37_79b9_u64, |h, v| {
                    let bits = match *v {
                        Value::I32(x) => u64::from(x as u32),
                        Value::I64(x) => x as u64,
                        Value::F32(x) => u64::from(x),
                        Value::F64(x) => x,
                        _ => 0,
                    };
                    (h ^ bits).wrapping_mul(0x100_0000_01b3)
                });
                if name == "narrow" && args.first() == Some(&Value::I32(trap_at)) {
                    return Err(HostError::new("narrow refuses"));
                }
                for (i, o) in out.iter_mut().enumerate() {
                    let h = mix.rotate_left(i as u32 * 7);
                    *o = match *o {
                        Value::I32(_) => Value::I32(h as i32),
                        Value::I64(_) => Value::I64(h as i64),
                        // A NaN payload through the slot, unchanged.
                        Value::F32(_) => Value::F32(0x7fa0_0000 | (h as u32 & 0xffff)),
                        Value::F64(_) => Value::F64(h >> 2),
                        v => v,
                    };
                }
                Ok(())
            });
            linker.func("env", name, f);
        }
        let mut store = Store::new(&engine);
        let i = linker.instantiate(&mut store, &m).unwrap();
        let out = call(&mut store, i, "run", &[Value::I32(40)], 1 << 40);
        let seen = seen.lock().unwrap().clone();
        (out, seen)
    };
    for trap_at in [0, 17] {
        let (jit, jit_seen) = run(false, trap_at);
        let (interp, interp_seen) = run(true, trap_at);
        assert_same(std::slice::from_ref(&jit), std::slice::from_ref(&interp));
        assert_eq!(jit_seen, interp_seen, "the host saw different calls");
        assert_eq!(jit_seen.len(), if trap_at == 0 { 40 * 9 } else { 23 * 9 + 3 });
        if trap_at == 17 {
            let Err(RuntimeError::Trap(t)) = &interp.0 else { panic!("{interp:?}") };
            assert_eq!(t.backtrace.len(), 1, "{t:?}");
        }
    }
}
