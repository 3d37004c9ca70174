//! Linking and instantiation: imports by name and type, registered instances, segment
//! initialisation with the spec's trap semantics, start functions, and limits.

use wes_core::types::{GlobalType, Limits, MemoryType, Mutability};
use wes_core::{TrapCode, ValType, Value};
use wes_runtime::{Config, Extern, Global, Linker, Memory, Module, RuntimeError, Store};

use crate::{call, engine_with, instantiate, instantiate_with};

#[test]
fn instances_link_through_registered_exports() {
    let engine = engine_with(Config::default());
    let mut store = Store::new(&engine);
    let mut linker = Linker::new();
    let a = Module::new(
        &engine,
        wes_decode::decode_text(
            r#"(module (global (export "g") (mut i32) (i32.const 5))
                       (memory (export "m") 1)
                       (func (export "get") (result i32) global.get 0))"#,
        )
        .unwrap(),
    )
    .unwrap();
    let ia = linker.instantiate(&mut store, &a).unwrap();
    linker.instance(&store, "a", ia);
    let b = Module::new(
        &engine,
        wes_decode::decode_text(
            r#"(module (import "a" "g" (global $g (mut i32)))
                       (import "a" "m" (memory 1))
                       (import "a" "get" (func $get (result i32)))
                       (func (export "bump") (result i32)
                         global.get $g i32.const 1 i32.add global.set $g
                         i32.const 0 i32.const 99 i32.store8
                         call $get))"#,
        )
        .unwrap(),
    )
    .unwrap();
    let ib = linker.instantiate(&mut store, &b).unwrap();
    assert_eq!(call(&mut store, ib, "bump", &[]).unwrap(), [Value::I32(6)]);
    assert_eq!(ia.get_global(&store, "g").unwrap().get(&store).unwrap(), Value::I32(6));
    assert_eq!(ia.get_memory(&store, "m").unwrap().data(&store).unwrap()[0], 99);
}

#[test]
fn missing_and_mistyped_imports_are_link_errors() {
    let engine = engine_with(Config::default());
    let module = |wat: &str| Module::new(&engine, wes_decode::decode_text(wat).unwrap()).unwrap();
    let mut store = Store::new(&engine);
    let mut linker = Linker::new();
    let e = linker.instantiate(&mut store, &module(r#"(module (import "x" "f" (func)))"#)).unwrap_err();
    assert!(matches!(e, RuntimeError::UnknownImport { .. }) && e.is_link_error(), "{e}");

    let g = Global::new(&mut store, GlobalType { content: ValType::I64, mutability: Mutability::Const }, Value::I64(1))
        .unwrap();
    linker.define("x", "g", Extern::Global(g));
    let e = linker.instantiate(&mut store, &module(r#"(module (import "x" "g" (global i32)))"#)).unwrap_err();
    assert!(matches!(e, RuntimeError::IncompatibleImport { .. }), "{e}");

    let m =
        Memory::new(&mut store, MemoryType { limits: Limits { min: 1, max: None }, shared: false, memory64: false })
            .unwrap();
    linker.define("x", "m", Extern::Memory(m));
    let e = linker.instantiate(&mut store, &module(r#"(module (import "x" "m" (memory 1 2)))"#)).unwrap_err();
    assert!(e.is_link_error(), "{e}");
    linker.instantiate(&mut store, &module(r#"(module (import "x" "m" (memory 1)))"#)).unwrap();
}

#[test]
fn out_of_bounds_segment_traps_but_earlier_writes_stay() {
    let engine = engine_with(Config::default());
    let mut store = Store::new(&engine);
    let mut linker = Linker::new();
    let m =
        Memory::new(&mut store, MemoryType { limits: Limits { min: 1, max: None }, shared: false, memory64: false })
            .unwrap();
    linker.define("x", "m", Extern::Memory(m));
    let module = Module::new(
        &engine,
        wes_decode::decode_text(
            r#"(module (import "x" "m" (memory 1))
                       (data (i32.const 0) "ab")
                       (data (i32.const 65535) "cd"))"#,
        )
        .unwrap(),
    )
    .unwrap();
    let e = linker.instantiate(&mut store, &module).unwrap_err();
    assert_eq!(e.as_trap().map(|t| t.code), Some(TrapCode::MemoryOutOfBounds), "{e}");
    assert_eq!(&m.data(&store).unwrap()[..2], b"ab");
}

#[test]
fn start_function_runs_and_its_trap_fails_instantiation() {
    let (mut s, i) = instantiate(
        r#"(module (global $g (mut i32) (i32.const 0))
                   (func $start global.get $g i32.const 1 i32.add global.set $g)
                   (start $start)
                   (func (export "g") (result i32) global.get $g))"#,
    );
    assert_eq!(call(&mut s, i, "g", &[]).unwrap(), [Value::I32(1)]);

    let engine = engine_with(Config::default());
    let module =
        Module::new(&engine, wes_decode::decode_text("(module (func $s unreachable) (start $s))").unwrap()).unwrap();
    let e = Linker::new().instantiate(&mut Store::new(&engine), &module).unwrap_err();
    assert_eq!(e.as_trap().map(|t| t.code), Some(TrapCode::Unreachable));
}

#[test]
fn memory_grow_respects_the_configured_limit() {
    let mut config = Config::default();
    config.max_memory_pages(3);
    let (mut s, i) = instantiate_with(
        &engine_with(config),
        &Linker::new(),
        r#"(module (memory 1) (func (export "grow") (param i32) (result i32) local.get 0 memory.grow)
                   (func (export "size") (result i32) memory.size))"#,
    );
    assert_eq!(call(&mut s, i, "grow", &[Value::I32(2)]).unwrap(), [Value::I32(1)]);
    assert_eq!(call(&mut s, i, "grow", &[Value::I32(1)]).unwrap(), [Value::I32(-1)]);
    assert_eq!(call(&mut s, i, "size", &[]).unwrap(), [Value::I32(3)]);
}

#[test]
fn handles_of_another_store_are_rejected() {
    let (mut s1, i1) = instantiate(r#"(module (func (export "f")))"#);
    let (mut s2, _) = instantiate(r#"(module (func (export "f")))"#);
    let f = i1.get_func(&s1, "f").unwrap();
    assert!(matches!(f.call(&mut s2, &[]), Err(RuntimeError::WrongStore)));
    assert!(f.call(&mut s1, &[]).unwrap().is_empty());
}

#[test]
fn engines_modules_and_stores_can_move_between_threads() {
    fn send<T: Send>() {}
    fn send_sync<T: Send + Sync>() {}
    send_sync::<wes_runtime::Engine>();
    send_sync::<Module>();
    send_sync::<Linker>();
    send::<Store>();

    // A store made on one thread runs on another.
    let (mut s, i) = instantiate(r#"(module (func (export "f") (result i32) i32.const 3))"#);
    let r = std::thread::spawn(move || call(&mut s, i, "f", &[]).unwrap()).join().unwrap();
    assert_eq!(r, [Value::I32(3)]);
}
