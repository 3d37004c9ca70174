//! Integration tests of `wes-jit` as a [`Backend`]: what it compiles, what it refuses, and the
//! facts it reports to the runtime. Execution is tested through `wes-runtime`'s tests and the
//! spec suite.
#![allow(clippy::unwrap_used, reason = "helpers fail a test by panicking, like assertions do")]

use std::sync::Arc;

use wes_core::{Backend, CompileError};
use wes_jit::{Jit, JitConfig};

fn compile(jit: &Jit, wat: &str) -> Result<Arc<dyn wes_core::backend::CompiledModule>, CompileError> {
    jit.compile(Arc::new(wes_decode::decode_text(wat).unwrap()))
}

#[test]
fn referenced_functions_get_an_entry_and_the_others_none() {
    let jit = Jit::new().unwrap();
    let m = compile(
        &jit,
        r#"(module (import "a" "b" (func)) (table 1 funcref)
             (func $exported (export "e"))
             (func $in_table (result i32) i32.const 1)
             (func $declared (param i64))
             (func $global_init)
             (func $start)
             (func $direct_only (result i32) (call $exported) (drop (ref.func $declared)) i32.const 2)
             (elem (i32.const 0) $in_table)
             (elem declare func $declared)
             (global funcref (ref.func $global_init))
             (start $start))"#,
    )
    .unwrap();
    let have: Vec<bool> = (0..6).map(|i| m.entry(i).is_some()).collect();
    assert_eq!(have, [true, true, true, true, true, false]);
    assert!(m.entry(6).is_none());
    assert_eq!(m.module().bodies.len(), 6);
}

#[test]
fn simd_compiles_everywhere_a_v128_can_stand() {
    let jit = Jit::new().unwrap();
    for wat in [
        r#"(module (func (param v128) (result v128) local.get 0))"#,
        r#"(module (func (local v128)))"#,
        r#"(module (global (mut v128) (v128.const i32x4 0 0 0 0)))"#,
        r#"(module (memory 1) (func (result i32) (i32x4.extract_lane 0 (v128.load (i32.const 0)))))"#,
        r#"(module (func (param i32) (result v128)
             (block (result v128) (v128.const i64x2 1 2) (v128.const i64x2 3 4) (local.get 0) select)))"#,
    ] {
        compile(&jit, wat).unwrap_or_else(|e| panic!("{wat}: {e}"));
    }
}

#[test]
fn unsupported_features_are_refused_not_a_crash() {
    let jit = Jit::new().unwrap();
    let features = wes_decode::Features { memory64: true, ..wes_decode::Features::default() };
    let m = wes_decode::Decoder::new(features).decode_text("(module (memory i64 1))").unwrap();
    match jit.compile(Arc::new(m)) {
        Err(CompileError::Unsupported { backend: "jit", .. }) => {}
        other => panic!("expected Unsupported, got {other:?}"),
    }
    // The backend is still usable after refusing.
    let many: String = (0..64).map(|_| "(func (result i32) i32.const 1)").collect();
    compile(&jit, &format!("(module {many})")).unwrap();
}

#[test]
fn tail_calls_compile() {
    let jit = Jit::new().unwrap();
    let m = compile(
        &jit,
        r#"(module (type $t (func (param i64) (result i64))) (table 1 funcref)
             (func $f (param i64) (result i64) (return_call $f (local.get 0)))
             (func (export "g") (param i64) (result i64) (return_call_indirect (type $t) (local.get 0) (i32.const 0))))"#,
    )
    .unwrap();
    assert!(m.entry(1).is_some());
}

#[test]
fn parallel_and_serial_compilation_agree() {
    let funcs: String = (0..100).map(|i| format!("(func (export \"f{i}\") (result i32) i32.const {i})")).collect();
    let wat = format!("(module {funcs})");
    let serial = Jit::with_config(JitConfig { threads: 1, ..JitConfig::default() }).unwrap();
    let parallel = Jit::with_config(JitConfig { threads: 4, ..JitConfig::default() }).unwrap();
    let a = compile(&serial, &wat).unwrap();
    let b = compile(&parallel, &wat).unwrap();
    assert_eq!(a.max_frame_size(), b.max_frame_size());
    assert!((0..100).all(|i| a.entry(i).is_some() && b.entry(i).is_some()));
}

#[test]
fn frame_size_grows_with_live_locals() {
    let jit = Jit::new().unwrap();
    let small = compile(&jit, "(module (func $f call $f))").unwrap();
    let locals: String = (0..300).map(|_| " i64").collect();
    // Loads cannot be moved past the call, so all of them are live across it.
    let body: String = (1..300).map(|n| format!(" i32.const {} i64.load local.set {n}", n * 8)).collect();
    let sum: String = (1..300).map(|n| format!(" local.get {n} i64.add")).collect();
    let big = compile(
        &jit,
        &format!(
            "(module (memory 1) (func $f (param i64) (result i64) (local{locals}) {body} local.get 0 call $f {sum}))"
        ),
    )
    .unwrap();
    assert!(small.max_frame_size() >= 16);
    assert!(
        big.max_frame_size() > small.max_frame_size() + 1000,
        "{} vs {}",
        big.max_frame_size(),
        small.max_frame_size()
    );
}
