//! Calls through function records (a table, an imported function) between compiled modules
//! go straight to the callee's body (`FuncEntry::body`): with the callee instance's own
//! vmctx, and only in the calling convention of the engine's backend.

use std::sync::Arc;

use wes_core::backend::{CompiledModule, FuncEntry};
use wes_core::{Backend, TrapCode, Value};
use wes_meter::Pricing;
use wes_runtime::{Config, Linker, Module, RuntimeError, Store};

use crate::{call, check_trap, metered_engine};

const LIB: &str = r#"(module
    (memory (export "mem") 1)
    (data (i32.const 0) "\2a")
    (global $calls (export "calls") (mut i32) (i32.const 0))
    (type $t (func (param i32) (result i32)))
    (table (export "table") 2 funcref)
    (elem (i32.const 0) $read $bad)
    (func $read (export "read") (type $t)
      (global.set $calls (i32.add (global.get $calls) (i32.const 1)))
      (i32.add (i32.load8_u (local.get 0)) (global.get $calls)))
    (func $bad (type $t) (i32.load (i32.const 65536))))"#;

const APP: &str = r#"(module
    (import "lib" "table" (table 2 funcref))
    (import "lib" "read" (func $read (param i32) (result i32)))
    (memory 1)
    (data (i32.const 0) "\07")
    (type $t (func (param i32) (result i32)))
    (func (export "via_table") (param i32) (result i32) (call_indirect (type $t) (i32.const 0) (local.get 0)))
    (func (export "via_import") (result i32) (call $read (i32.const 0)))
    (func (export "own") (result i32) (i32.load8_u (i32.const 0))))"#;

#[test]
fn a_call_through_another_instances_table_runs_in_that_instance() {
    let pricing = Arc::new(Pricing::default());
    let engine = metered_engine(&pricing, wes_jit::JitConfig::default(), Config::default());
    let mut store = Store::new(&engine);
    let mut linker = Linker::new();
    let lib = Module::new(&engine, wes_decode::decode_text(LIB).unwrap()).unwrap();
    let lib = linker.instantiate(&mut store, &lib).unwrap();
    linker.instance(&store, "lib", lib);
    let app = Module::new(&engine, wes_decode::decode_text(APP).unwrap()).unwrap();
    let app = linker.instantiate(&mut store, &app).unwrap();
    // The callee reads its own memory (42) and its own global, not the caller's (7).
    assert_eq!(call(&mut store, app, "via_table", &[Value::I32(0)]).unwrap(), vec![Value::I32(43)]);
    assert_eq!(call(&mut store, app, "via_import", &[]).unwrap(), vec![Value::I32(44)]);
    assert_eq!(call(&mut store, app, "own", &[]).unwrap(), vec![Value::I32(7)]);
    let calls = lib.get_global(&store, "calls").unwrap();
    assert_eq!(calls.get(&store).unwrap(), Value::I32(2));
    // A trap in the callee names the callee's frame, then the caller's.
    let trap = check_trap(&mut store, app, "via_table", &[Value::I32(1)], TrapCode::MemoryOutOfBounds);
    let frames: Vec<u32> = trap.backtrace.iter().map(|f| f.func_index).collect();
    assert_eq!(frames, [1, 1], "{trap}");
}

/// Compiled code that reports another body convention than the engine's backend.
#[derive(Debug)]
struct Foreign(Arc<dyn CompiledModule>);

impl CompiledModule for Foreign {
    fn module(&self) -> &Arc<wes_core::Module> {
        self.0.module()
    }
    fn entry(&self, defined_index: u32) -> Option<FuncEntry> {
        self.0.entry(defined_index)
    }
    fn max_frame_size(&self) -> usize {
        self.0.max_frame_size()
    }
    fn pricing_hash(&self) -> Option<[u8; 32]> {
        self.0.pricing_hash()
    }
    fn needs_guard_regions(&self) -> bool {
        self.0.needs_guard_regions()
    }
    fn body_convention(&self) -> Option<u64> {
        self.0.body_convention().map(|c| c ^ 1)
    }
}

#[test]
fn code_of_another_body_convention_is_refused() {
    let pricing = Arc::new(Pricing::default());
    let engine = metered_engine(&pricing, wes_jit::JitConfig::default(), Config::default());
    let jit = engine.backend();
    let compiled = jit.compile(Arc::new(wes_decode::decode_text(APP).unwrap())).unwrap();
    assert!(compiled.body_convention().is_some());
    assert_eq!(compiled.body_convention(), jit.body_convention());
    let e = Module::from_compiled(&engine, Arc::new(Foreign(compiled.clone()))).unwrap_err();
    assert!(matches!(e, RuntimeError::BodyConventionMismatch { .. }), "{e}");
    Module::from_compiled(&engine, compiled).unwrap();
    // Unmetered and metered bodies take other arguments: their conventions differ.
    let unmetered = wes_jit::Jit::new().unwrap();
    assert_ne!(unmetered.body_convention(), jit.body_convention());
}
