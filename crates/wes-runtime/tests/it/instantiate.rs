//! Linking and instantiation: imports by name and type, registered instances, segment
//! initialisation with the spec's trap semantics, start functions, and limits.

use wes_core::types::{GlobalType, Limits, MemoryType, Mutability, RefType, TableType};
use wes_core::{ExternRef, TrapCode, ValType, Value};
use wes_runtime::{Config, Extern, Func, Global, Linker, Memory, Module, RuntimeError, Store, Table};

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

#[test]
fn objects_made_by_the_embedder_behave_like_wasm_ones() {
    let (mut s, i) = instantiate(
        r#"(module (table (export "t") 2 funcref) (memory (export "m") 1 2)
                   (global (export "c") i32 (i32.const 1)) (global (export "v") (mut i64) (i64.const 2))
                   (func $seven (export "seven") (result i32) i32.const 7)
                   (elem (i32.const 1) $seven)
                   (func (export "call") (param i32) (result i32) local.get 0 call_indirect (result i32)))"#,
    );
    let names: Vec<String> = i.exports(&s).into_iter().map(|(n, _)| n).collect();
    assert_eq!(names, ["t", "m", "c", "v", "seven", "call"]);

    // Globals: constants refuse writes, variables take values of their type only.
    let c = i.get_global(&s, "c").unwrap();
    assert!(matches!(c.set(&mut s, Value::I32(5)), Err(RuntimeError::TypeMismatch(_))));
    let v = i.get_global(&s, "v").unwrap();
    assert!(matches!(v.set(&mut s, Value::I32(5)), Err(RuntimeError::TypeMismatch(_))));
    v.set(&mut s, Value::I64(-9)).unwrap();
    assert_eq!(v.get(&s).unwrap(), Value::I64(-9));

    // Memories grow up to their maximum, and writes are seen by wasm.
    let m = i.get_memory(&s, "m").unwrap();
    assert_eq!(m.grow(&mut s, 1).unwrap(), Some(1));
    assert_eq!(m.grow(&mut s, 1).unwrap(), None);
    assert_eq!(m.size(&s).unwrap(), 2);
    m.data_mut(&mut s).unwrap()[131_071] = 1;
    assert_eq!(m.data(&s).unwrap().len(), 131_072);

    // Tables hold function references the embedder can call, and `call_indirect` sees what the
    // embedder stores.
    let t = i.get_table(&s, "t").unwrap();
    assert_eq!(t.size(&s).unwrap(), 2);
    assert_eq!(t.get(&s, 0).unwrap(), Some(Value::FuncRef(None)));
    assert_eq!(t.get(&s, 2).unwrap(), None);
    let Some(Value::FuncRef(Some(r))) = t.get(&s, 1).unwrap() else { panic!("slot 1 holds $seven") };
    let seven = Func::from_funcref(&s, r).unwrap();
    assert_eq!(seven.call(&mut s, &[]).unwrap(), [Value::I32(7)]);
    t.set(&mut s, 0, Value::FuncRef(Some(seven.to_funcref()))).unwrap();
    assert_eq!(call(&mut s, i, "call", &[Value::I32(0)]).unwrap(), [Value::I32(7)]);
    let e = t.set(&mut s, 5, Value::FuncRef(None)).unwrap_err();
    assert_eq!(e.as_trap().map(|t| t.code), Some(TrapCode::TableOutOfBounds));
}

#[test]
fn tables_and_globals_made_by_the_embedder_can_be_imported() {
    let engine = engine_with(Config::default());
    let mut store = Store::new(&engine);
    let table = Table::new(
        &mut store,
        TableType { element: RefType::ExternRef, limits: Limits { min: 1, max: None } },
        Value::ExternRef(Some(ExternRef(5))),
    )
    .unwrap();
    let g = Global::new(&mut store, GlobalType { content: ValType::F32, mutability: Mutability::Var }, Value::f32(0.5))
        .unwrap();
    let mut linker = Linker::new();
    linker.define("host", "t", Extern::Table(table)).define("host", "g", Extern::Global(g));
    let module = Module::new(
        &engine,
        wes_decode::decode_text(
            r#"(module (import "host" "t" (table 1 externref)) (import "host" "g" (global $g (mut f32)))
                       (func (export "f") (result externref f32)
                         (global.set $g (f32.add (global.get $g) (f32.const 1)))
                         (table.get 0 (i32.const 0)) (global.get $g)))"#,
        )
        .unwrap(),
    )
    .unwrap();
    let i = linker.instantiate(&mut store, &module).unwrap();
    assert_eq!(call(&mut store, i, "f", &[]).unwrap(), [Value::ExternRef(Some(ExternRef(5))), Value::f32(1.5)]);
    assert_eq!(g.get(&store).unwrap(), Value::f32(1.5));
}

/// Seals `parts` that break [`wes_core::Module::from_parts_unchecked`]'s contract on purpose.
fn invalid_module(parts: wes_core::ModuleParts) -> wes_core::Module {
    // SAFETY: these parts are not valid, deliberately: the test that uses them pins that the
    // runtime and the JIT check the few facts they index by (counts of imports, body ranges,
    // entry points) before using them and refuse such a module with an error. Nothing of it is
    // ever executed, so no compiled code relies on the broken facts.
    unsafe { wes_core::Module::from_parts_unchecked(parts) }
}

#[test]
fn hand_made_inconsistent_modules_are_errors_not_panics() {
    use wes_core::module::FuncBody;
    let engine = engine_with(Config::default());
    // Imports counted that do not exist.
    let m = invalid_module(wes_core::ModuleParts { num_imported_memories: 5, ..wes_core::ModuleParts::default() });
    let module = Module::new(&engine, m).unwrap();
    let e = Linker::new().instantiate(&mut Store::new(&engine), &module).unwrap_err();
    assert!(matches!(e, RuntimeError::TypeMismatch(_)), "{e}");
    // A body outside the bytes, and one of garbage.
    for bytes in [&[][..], &[0xff, 0xff, 0xff, 0xff][..]] {
        let m = invalid_module(wes_core::ModuleParts {
            bytes: bytes.into(),
            types: vec![wes_core::FuncType::new([], [])],
            functions: vec![0],
            bodies: vec![FuncBody { type_index: 0, range: 0..4, shape: Default::default() }],
            ..wes_core::ModuleParts::default()
        });
        let e = Module::new(&engine, m).unwrap_err();
        assert!(matches!(e, RuntimeError::Compile(wes_core::CompileError::Codegen { func_index: 0, .. })), "{e}");
    }
}

#[test]
fn table_and_memory_limits_apply_to_growth_and_to_instantiation() {
    let mut config = Config::default();
    config.max_table_elements(5).max_memory_pages(2);
    let engine = engine_with(config);
    let (mut s, i) = instantiate_with(
        &engine,
        &Linker::new(),
        r#"(module (table 2 externref)
                   (func (export "grow") (param i32) (result i32) ref.null extern local.get 0 table.grow 0))"#,
    );
    assert_eq!(call(&mut s, i, "grow", &[Value::I32(3)]).unwrap(), [Value::I32(2)]);
    assert_eq!(call(&mut s, i, "grow", &[Value::I32(1)]).unwrap(), [Value::I32(-1)]);

    for wat in ["(module (memory 3))", "(module (table 6 funcref))"] {
        let module = Module::new(&engine, wes_decode::decode_text(wat).unwrap()).unwrap();
        let e = Linker::new().instantiate(&mut Store::new(&engine), &module).unwrap_err();
        assert!(matches!(e, RuntimeError::ResourceLimit(_)), "{wat}: {e}");
    }
}

#[test]
fn modules_stay_with_their_engine_and_link_errors_name_the_import() {
    let a = engine_with(Config::default());
    let b = engine_with(Config::default());
    let module = Module::new(&a, wes_decode::decode_text("(module)").unwrap()).unwrap();
    let e = Linker::new().instantiate(&mut Store::new(&b), &module).unwrap_err();
    assert!(matches!(e, RuntimeError::EngineMismatch), "{e}");

    let module = Module::new(&a, wes_decode::decode_text(r#"(module (import "env" "tick" (func)))"#).unwrap()).unwrap();
    let e = Linker::new().instantiate(&mut Store::new(&a), &module).unwrap_err();
    assert_eq!(e.to_string(), "unknown import: env::tick (func)");
}
