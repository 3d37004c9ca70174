//! Host functions: typed closures, every value type, the caller's memory, and failures that
//! become traps of the wasm call.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};

use wes_core::{ExternRef, FuncType, TrapCode, ValType, Value};
use wes_runtime::{Caller, Config, Func, HostError, HostFunc, Linker, Store};

use crate::{call, check_trap, engine_with, instantiate_with};

fn linker() -> Linker {
    let mut l = Linker::new();
    l.func_wrap("env", "add", |_: &mut Caller<'_>, (a, b): (i32, i64)| -> Result<i64, HostError> {
        Ok(i64::from(a) + b)
    });
    l.func_wrap("env", "fail", |_: &mut Caller<'_>, (code,): (i32,)| -> Result<(), HostError> {
        Err(HostError::new(format!("refused with {code}")))
    });
    l.func_wrap("env", "panic", |_: &mut Caller<'_>, (): ()| -> Result<(), HostError> {
        panic!("host bug");
    });
    // Reads `len` bytes at `ptr`, upper-cases them in place, returns the sum of the bytes.
    l.func_wrap("env", "shout", |caller: &mut Caller<'_>, (ptr, len): (u32, u32)| -> Result<u32, HostError> {
        let mut buf = vec![0; len as usize];
        caller.read_memory(u64::from(ptr), &mut buf)?;
        buf.make_ascii_uppercase();
        caller.write_memory(u64::from(ptr), &buf)?;
        Ok(buf.iter().map(|b| u32::from(*b)).sum())
    });
    // Passes every value type through unchanged.
    let all = [ValType::I32, ValType::I64, ValType::F32, ValType::F64, ValType::FuncRef, ValType::ExternRef];
    l.func(
        "env",
        "echo",
        HostFunc::new(FuncType::new(all, all), |_, params, results| {
            results.copy_from_slice(params);
            Ok(())
        }),
    );
    l
}

const GUEST: &str = r#"(module
  (import "env" "add" (func $add (param i32 i64) (result i64)))
  (import "env" "fail" (func $fail (param i32)))
  (import "env" "panic" (func $panic))
  (import "env" "shout" (func $shout (param i32 i32) (result i32)))
  (import "env" "echo" (func $echo (param i32 i64 f32 f64 funcref externref)
                                   (result i32 i64 f32 f64 funcref externref)))
  (memory (export "memory") 1)
  (data (i32.const 16) "hello")
  (func $self (export "self"))
  (elem declare func $self)
  (func (export "add") (param i32 i64) (result i64) local.get 0 local.get 1 call $add)
  (func $guest_fail (export "fail") (param i32) local.get 0 call $fail)
  (func (export "panic") call $panic)
  (func (export "shout") (param i32 i32) (result i32) local.get 0 local.get 1 call $shout)
  (func (export "echo") (param externref) (result i32 i64 f32 f64 funcref externref)
    i32.const -1 i64.const -2 f32.const 1.5 f64.const -2.25 ref.func $self local.get 0 call $echo)
  (func (export "ok") (result i32) i32.const 1))"#;

fn guest() -> (Store, wes_runtime::Instance) {
    instantiate_with(&engine_with(Config::default()), &linker(), GUEST)
}

#[test]
fn typed_host_function_is_called_with_its_arguments() {
    let (mut s, i) = guest();
    assert_eq!(call(&mut s, i, "add", &[Value::I32(-3), Value::I64(10)]).unwrap(), [Value::I64(7)]);
}

#[test]
fn every_value_type_crosses_the_boundary() {
    let (mut s, i) = guest();
    let r = call(&mut s, i, "echo", &[Value::ExternRef(Some(ExternRef(42)))]).unwrap();
    assert_eq!(&r[..4], &[Value::I32(-1), Value::I64(-2), Value::f32(1.5), Value::f64(-2.25)]);
    // The reference is the exported function itself, the same one wherever it is seen.
    let own = i.get_func(&s, "self").unwrap();
    assert_eq!(r[4], Value::FuncRef(Some(own.to_funcref())));
    match r[4] {
        Value::FuncRef(Some(f)) => assert_eq!(Func::from_funcref(&s, f), Some(own)),
        other => panic!("expected a funcref, got {other:?}"),
    }
    assert_eq!(r[5], Value::ExternRef(Some(ExternRef(42))));
    let r = call(&mut s, i, "echo", &[Value::ExternRef(None)]).unwrap();
    assert_eq!(r[5], Value::ExternRef(None));
}

#[test]
fn host_error_becomes_a_trap_with_the_message() {
    let (mut s, i) = guest();
    let trap = check_trap(&mut s, i, "fail", &[Value::I32(7)], TrapCode::HostError);
    assert_eq!(trap.detail.as_deref(), Some("refused with 7"));
    assert_eq!(trap.backtrace.first().and_then(|f| f.func_name.as_deref()), Some("guest_fail"));
    assert_eq!(call(&mut s, i, "ok", &[]).unwrap(), [Value::I32(1)]);
}

#[test]
fn host_panic_becomes_a_trap_not_a_crash() {
    let (mut s, i) = guest();
    let trap = check_trap(&mut s, i, "panic", &[], TrapCode::HostError);
    assert_eq!(trap.detail.as_deref(), Some("host function panicked: host bug"));
    assert_eq!(call(&mut s, i, "ok", &[]).unwrap(), [Value::I32(1)]);
}

#[test]
fn caller_reads_and_writes_the_calling_instance_memory() {
    let (mut s, i) = guest();
    let sum: u32 = b"HELLO".iter().map(|b| u32::from(*b)).sum();
    assert_eq!(call(&mut s, i, "shout", &[Value::I32(16), Value::I32(5)]).unwrap(), [Value::I32(sum as i32)]);
    let memory = i.get_memory(&s, "memory").unwrap();
    assert_eq!(&memory.data(&s).unwrap()[16..21], b"HELLO");
}

#[test]
fn caller_memory_access_out_of_bounds_is_a_host_error() {
    let (mut s, i) = guest();
    let trap = check_trap(&mut s, i, "shout", &[Value::I32(65_534), Value::I32(5)], TrapCode::HostError);
    assert!(trap.detail.unwrap_or_default().contains("out of bounds"));
}

#[test]
fn host_function_called_directly_has_no_memory() {
    let engine = engine_with(Config::default());
    let mut store = Store::new(&engine);
    let calls = Arc::new(AtomicU32::new(0));
    let seen = Arc::clone(&calls);
    let f = HostFunc::wrap(move |caller: &mut Caller<'_>, (x,): (f64,)| -> Result<f64, HostError> {
        seen.fetch_add(1, Ordering::Relaxed);
        assert!(caller.memory_size().is_err());
        Ok(x * 2.0)
    });
    let func = Func::from_host(&mut store, &f);
    assert_eq!(func.call(&mut store, &[Value::f64(1.25)]).unwrap(), [Value::f64(2.5)]);
    assert_eq!(calls.load(Ordering::Relaxed), 1);
}

#[test]
fn wrong_result_type_from_a_host_function_traps() {
    let mut l = Linker::new();
    l.func(
        "env",
        "bad",
        HostFunc::new(FuncType::new([], [ValType::I32]), |_, _, results| {
            results[0] = Value::I64(1);
            Ok(())
        }),
    );
    let (mut s, i) = instantiate_with(
        &engine_with(Config::default()),
        &l,
        r#"(module (import "env" "bad" (func $bad (result i32))) (func (export "f") (result i32) call $bad))"#,
    );
    let trap = check_trap(&mut s, i, "f", &[], TrapCode::HostError);
    assert!(trap.detail.unwrap_or_default().contains("returned i64"));
}

#[test]
fn host_functions_reach_the_store_data() {
    #[derive(Debug, Default, PartialEq)]
    struct Ledger {
        entries: Vec<i64>,
    }
    let mut l = Linker::new();
    l.func_wrap("env", "record", |caller: &mut Caller<'_>, (x,): (i64,)| -> Result<i32, HostError> {
        let ledger = caller.data::<Ledger>().ok_or_else(|| HostError::new("no ledger"))?;
        ledger.entries.push(x);
        Ok(ledger.entries.len() as i32)
    });
    let engine = engine_with(Config::default());
    let module = wes_runtime::Module::new(
        &engine,
        wes_decode::decode_text(
            r#"(module (import "env" "record" (func $r (param i64) (result i32)))
                       (func (export "f") (param i64) (result i32) local.get 0 call $r))"#,
        )
        .unwrap(),
    )
    .unwrap();
    let mut store = Store::new(&engine);
    let i = l.instantiate(&mut store, &module).unwrap();
    // Without data the host function fails cleanly.
    let trap = check_trap(&mut store, i, "f", &[Value::I64(1)], TrapCode::HostError);
    assert_eq!(trap.detail.as_deref(), Some("no ledger"));
    store.set_data(Ledger::default());
    assert_eq!(call(&mut store, i, "f", &[Value::I64(10)]).unwrap(), [Value::I32(1)]);
    assert_eq!(call(&mut store, i, "f", &[Value::I64(20)]).unwrap(), [Value::I32(2)]);
    assert_eq!(store.data::<Ledger>(), Some(&Ledger { entries: vec![10, 20] }));
    assert!(store.data::<String>().is_none());
    store.data_mut::<Ledger>().unwrap().entries.clear();
    assert_eq!(call(&mut store, i, "f", &[Value::I64(30)]).unwrap(), [Value::I32(1)]);
}

#[test]
fn typed_wrappers_cover_every_rust_value_type() {
    let mut l = Linker::new();
    l.func_wrap(
        "env",
        "mix",
        |_: &mut Caller<'_>,
         (a, b, c, d, r, e): (u32, u64, f32, f64, Option<wes_core::FuncRef>, Option<ExternRef>)|
         -> Result<(f64, Option<ExternRef>, i32), HostError> {
            let total = f64::from(a) + b as f64 + f64::from(c) + d;
            Ok((total, e.map(|x| ExternRef(x.0 + 1)), i32::from(r.is_some())))
        },
    );
    let (mut s, i) = instantiate_with(
        &engine_with(Config::default()),
        &l,
        r#"(module
             (import "env" "mix" (func $mix (param i32 i64 f32 f64 funcref externref) (result f64 externref i32)))
             (func $f (export "f") (param externref) (result f64 externref i32)
               i32.const -1 i64.const 2 f32.const 0.5 f64.const 0.25 ref.func $f local.get 0 call $mix)
             (elem declare func $f))"#,
    );
    let r = call(&mut s, i, "f", &[Value::ExternRef(Some(ExternRef(9)))]).unwrap();
    // `i32.const -1` is u32::MAX to the host.
    let expected = f64::from(u32::MAX) + 2.0 + 0.5 + 0.25;
    assert_eq!(r, [Value::f64(expected), Value::ExternRef(Some(ExternRef(10))), Value::I32(1)]);
}

/// Twenty parameters of every numeric and reference type, in a repeating order.
fn wide_types() -> Vec<ValType> {
    let cycle = [ValType::I32, ValType::I64, ValType::F32, ValType::F64, ValType::ExternRef];
    (0..20).map(|i| cycle[i % cycle.len()]).collect()
}

#[test]
fn host_function_with_twenty_params_and_results() {
    // Past the inline buffers: the values go through the heap and must still be exact.
    let params = wide_types();
    let results: Vec<ValType> = params.iter().rev().copied().collect();
    let mut l = Linker::new();
    l.func(
        "env",
        "reverse",
        HostFunc::new(FuncType::new(params.clone(), results.clone()), |_, params, results| {
            assert_eq!((params.len(), results.len()), (20, 20));
            for (r, p) in results.iter_mut().zip(params.iter().rev()) {
                *r = *p;
            }
            Ok(())
        }),
    );
    let names = |tys: &[ValType]| tys.iter().map(|t| t.to_string()).collect::<Vec<_>>().join(" ");
    let args: String = params
        .iter()
        .enumerate()
        .map(|(i, t)| match t {
            ValType::I32 => format!("(i32.const {})", -(i as i32)),
            ValType::I64 => format!("(i64.const {})", 1_i64 << (i + 20)),
            ValType::F32 => format!("(f32.const {i}.5)"),
            ValType::F64 => format!("(f64.const -{i}.25)"),
            _ => "(local.get 0)".to_string(),
        })
        .collect();
    let wat = format!(
        r#"(module
             (import "env" "reverse" (func $rev (param {p}) (result {r})))
             (func (export "f") (param externref) (result {r}) {args} call $rev))"#,
        p = names(&params),
        r = names(&results),
    );
    let (mut s, i) = instantiate_with(&engine_with(Config::default()), &l, &wat);
    let got = call(&mut s, i, "f", &[Value::ExternRef(Some(ExternRef(77)))]).unwrap();
    let expected: Vec<Value> = params
        .iter()
        .enumerate()
        .map(|(i, t)| match t {
            ValType::I32 => Value::I32(-(i as i32)),
            ValType::I64 => Value::I64(1_i64 << (i + 20)),
            ValType::F32 => Value::f32(i as f32 + 0.5),
            ValType::F64 => Value::f64(-(i as f64) - 0.25),
            _ => Value::ExternRef(Some(ExternRef(77))),
        })
        .rev()
        .collect();
    assert_eq!(got, expected);
}

#[test]
fn wrong_result_type_past_the_inline_buffer_traps_with_its_index() {
    let results = wide_types();
    let mut l = Linker::new();
    l.func(
        "env",
        "bad",
        HostFunc::new(FuncType::new([], results.clone()), |_, _, results| {
            // Result 16 is an i64.
            results[16] = Value::F32(0);
            Ok(())
        }),
    );
    let names = results.iter().map(|t| t.to_string()).collect::<Vec<_>>().join(" ");
    let wat = format!(
        r#"(module (import "env" "bad" (func $bad (result {names})))
                   (func (export "f") (result {names}) call $bad))"#
    );
    let (mut s, i) = instantiate_with(&engine_with(Config::default()), &l, &wat);
    let trap = check_trap(&mut s, i, "f", &[], TrapCode::HostError);
    assert_eq!(trap.detail.as_deref(), Some("host function returned f32 for result 16 of type i64"));
}

#[test]
fn host_errors_and_panics_of_every_kind_of_host_function_trap_with_their_message() {
    let ty = FuncType::new([ValType::I32], [ValType::I32]);
    let mut l = Linker::new();
    l.func(
        "env",
        "dyn_fail",
        HostFunc::new(ty.clone(), |_, p, _| Err(HostError::new(format!("dyn refused {:?}", p[0])))),
    );
    l.func(
        "env",
        "dyn_panic",
        HostFunc::new(ty, |_, p, _| -> Result<(), HostError> { panic!("dyn bug {}", p[0].as_i32().unwrap()) }),
    );
    l.func_wrap("env", "typed_panic", |_: &mut Caller<'_>, (x,): (i32,)| -> Result<i32, HostError> {
        // A `String` payload, unlike the `&str` of `panic!("literal")`.
        panic!("typed bug {x}")
    });
    let (mut s, i) = instantiate_with(
        &engine_with(Config::default()),
        &l,
        r#"(module
             (import "env" "dyn_fail" (func $a (param i32) (result i32)))
             (import "env" "dyn_panic" (func $b (param i32) (result i32)))
             (import "env" "typed_panic" (func $c (param i32) (result i32)))
             (func (export "a") (result i32) (call $a (i32.const 1)))
             (func (export "b") (result i32) (call $b (i32.const 2)))
             (func (export "c") (result i32) (call $c (i32.const 3))))"#,
    );
    let detail = |s: &mut Store, name: &str| check_trap(s, i, name, &[], TrapCode::HostError).detail;
    assert_eq!(detail(&mut s, "a").as_deref(), Some("dyn refused I32(1)"));
    assert_eq!(detail(&mut s, "b").as_deref(), Some("host function panicked: dyn bug 2"));
    assert_eq!(detail(&mut s, "c").as_deref(), Some("host function panicked: typed bug 3"));
    // The store is still usable, and a backtrace names the wasm frame.
    let trap = check_trap(&mut s, i, "c", &[], TrapCode::HostError);
    assert!(!trap.backtrace.is_empty());
}

#[test]
fn one_host_function_serves_several_stores() {
    let calls = Arc::new(AtomicU32::new(0));
    let seen = Arc::clone(&calls);
    let f = HostFunc::wrap(move |_: &mut Caller<'_>, (x,): (i64,)| -> Result<i64, HostError> {
        seen.fetch_add(1, Ordering::Relaxed);
        Ok(x * 3)
    });
    let mut l = Linker::new();
    l.func("env", "triple", f.clone());
    let engine = engine_with(Config::default());
    let wat = r#"(module (import "env" "triple" (func $t (param i64) (result i64)))
                         (func (export "f") (param i64) (result i64) (call $t (local.get 0))))"#;
    let (mut s1, i1) = instantiate_with(&engine, &l, wat);
    let (mut s2, i2) = instantiate_with(&engine, &l, wat);
    // The same function placed twice in one store is one function there.
    let a = Func::from_host(&mut s1, &f);
    let b = Func::from_host(&mut s1, &f);
    assert_eq!(a.to_funcref(), b.to_funcref());
    drop(l);
    assert_eq!(call(&mut s1, i1, "f", &[Value::I64(2)]).unwrap(), [Value::I64(6)]);
    drop(s1);
    assert_eq!(call(&mut s2, i2, "f", &[Value::I64(5)]).unwrap(), [Value::I64(15)]);
    assert_eq!(calls.load(Ordering::Relaxed), 2);
}

/// A gated host function: while its gate is open, the check never runs; while it is closed,
/// the check runs after the call's base cost (the call is counted) and before the arguments
/// are read, and its error traps without running the function. The gate starts closed, and
/// setting it is seen by the next call of a running instance.
#[test]
fn gated_host_function_checks_only_while_its_gate_is_closed() {
    struct State {
        refuse: AtomicBool,
        checks: AtomicU32,
        runs: AtomicU32,
    }
    let state = Arc::new(State { refuse: AtomicBool::new(false), checks: AtomicU32::new(0), runs: AtomicU32::new(0) });
    let (inc, gate) = HostFunc::wrap_gated(
        Arc::clone(&state),
        |g| {
            g.checks.fetch_add(1, Ordering::Relaxed);
            match g.refuse.load(Ordering::Relaxed) {
                true => Err(HostError::new("gate refused")),
                false => Ok(()),
            }
        },
        |g, _: &mut Caller<'_>, (x,): (i32,)| -> Result<i32, HostError> {
            g.runs.fetch_add(1, Ordering::Relaxed);
            Ok(x + 1)
        },
    );
    let mut l = Linker::new();
    l.func("env", "inc", inc);
    let wat = r#"(module (import "env" "inc" (func $inc (param i32) (result i32)))
        (func (export "f") (param i32) (result i32) local.get 0 call $inc))"#;
    let (mut s, i) = instantiate_with(&engine_with(Config::default()), &l, wat);
    let counts = |g: &State| (g.checks.load(Ordering::Relaxed), g.runs.load(Ordering::Relaxed));

    assert!(!gate.is_open() && gate.is_live());
    assert_eq!(call(&mut s, i, "f", &[Value::I32(0)]).unwrap(), [Value::I32(1)]);
    assert_eq!(counts(&state), (1, 1));
    assert!(gate.set(true));
    assert_eq!(call(&mut s, i, "f", &[Value::I32(1)]).unwrap(), [Value::I32(2)]);
    assert_eq!(counts(&state), (1, 2));
    assert!(gate.set(false));
    assert_eq!(call(&mut s, i, "f", &[Value::I32(2)]).unwrap(), [Value::I32(3)]);
    assert_eq!(counts(&state), (2, 3));
    state.refuse.store(true, Ordering::Relaxed);
    let trap = check_trap(&mut s, i, "f", &[Value::I32(3)], TrapCode::HostError);
    assert_eq!(trap.detail.as_deref(), Some("gate refused"));
    assert_eq!(counts(&state), (3, 3));
    // Four calls got past their base cost, the refused one included.
    assert_eq!(s.stats().host_calls, 4);
    // Called by the embedder directly (no calling instance), the same.
    let Some(wes_runtime::Extern::Func(f)) = l.get(&mut s, "env", "inc") else { panic!("no env::inc") };
    assert!(matches!(f.call(&mut s, &[Value::I32(4)]), Err(wes_runtime::RuntimeError::Trap(_))));
    state.refuse.store(false, Ordering::Relaxed);
    assert_eq!(f.call(&mut s, &[Value::I32(4)]).unwrap(), [Value::I32(5)]);
    assert_eq!(counts(&state), (5, 4));
    // Open, even a refusing check is not asked.
    state.refuse.store(true, Ordering::Relaxed);
    assert!(gate.set(true));
    assert_eq!(f.call(&mut s, &[Value::I32(5)]).unwrap(), [Value::I32(6)]);
    assert_eq!(counts(&state), (5, 5));
    // The gate does not keep the function alive.
    drop((l, s));
    assert!(!gate.is_live() && !gate.set(false) && !gate.is_open());
}

/// A flag set when the closure holding it is dropped.
struct Dropped(Arc<AtomicBool>);

impl Drop for Dropped {
    fn drop(&mut self) {
        self.0.store(true, Ordering::SeqCst);
    }
}

/// Stores keep their references to a host function as per-thread spares between one store and
/// the next, but a host function's closure is still dropped with its last handle and last
/// store: whichever goes last, and whichever thread the stores were dropped on (a thread that
/// stays alive, parked, with its spare).
#[test]
fn a_host_functions_closure_is_dropped_with_its_last_handle_and_store() {
    let wat = r#"(module (import "env" "f" (func $f (param i32) (result i32)))
        (func (export "f") (param i32) (result i32) local.get 0 call $f))"#;
    let engine = engine_with(Config::default());
    let module = wes_runtime::Module::new(&engine, wes_decode::decode_text(wat).unwrap()).unwrap();
    let make = || {
        let flag = Arc::new(AtomicBool::new(false));
        let held = Dropped(Arc::clone(&flag));
        let f = HostFunc::wrap(move |_: &mut Caller<'_>, (x,): (i32,)| -> Result<i32, HostError> {
            let _ = &held;
            Ok(x + 1)
        });
        (f, flag)
    };
    let run = |f: &HostFunc| {
        let mut l = Linker::new();
        l.func("env", "f", f.clone());
        let mut s = Store::new(&engine);
        let i = l.instantiate(&mut s, &module).unwrap();
        assert_eq!(call(&mut s, i, "f", &[Value::I32(1)]).unwrap(), [Value::I32(2)]);
        s
    };

    // Stores dropped first (each leaves a spare on this thread), then the handle.
    let (f, flag) = make();
    for _ in 0..3 {
        drop(run(&f));
    }
    assert!(!flag.load(Ordering::SeqCst));
    drop(f);
    assert!(flag.load(Ordering::SeqCst), "the spare outlived the last handle");

    // The handle first, then the last store.
    let (f, flag) = make();
    let s = run(&f);
    drop(f);
    assert!(!flag.load(Ordering::SeqCst), "a store still uses it");
    drop(s);
    assert!(flag.load(Ordering::SeqCst));

    // A store dropped on another thread, which stays alive (parked) with its spare; the last
    // handle goes on this one.
    let (f, flag) = make();
    let (dropped_tx, dropped_rx) = std::sync::mpsc::channel();
    let (end_tx, end_rx) = std::sync::mpsc::channel::<()>();
    std::thread::scope(|scope| {
        let f2 = f.clone();
        let run = &run;
        scope.spawn(move || {
            drop(run(&f2));
            drop(f2);
            dropped_tx.send(()).unwrap();
            let _ = end_rx.recv();
        });
        dropped_rx.recv().unwrap();
        assert!(!flag.load(Ordering::SeqCst));
        drop(f);
        assert!(flag.load(Ordering::SeqCst), "another thread's spare outlived the last handle");
        drop(end_tx);
    });
}
