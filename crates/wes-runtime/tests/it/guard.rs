#![cfg(all(target_arch = "x86_64", target_os = "linux"))]
//! Guard-region bounds checks (`wes_jit::BoundsChecks::Guard`): an engine whose code compares
//! nothing keeps every memory accessible exactly up to its length, however the memory came to
//! be (fresh, grown, reset, or kept from a dropped store of another module), and turns each
//! fault into the out-of-bounds trap at the access's own operator.

use std::sync::Arc;

use wes_core::{TrapCode, Value};
use wes_runtime::{Config, Engine, Linker, Module, Store};

use crate::{call, check_trap, instantiate_with};

fn engine_bounded(bounds_checks: wes_jit::BoundsChecks) -> Engine {
    let jit = wes_jit::Jit::with_config(wes_jit::JitConfig { bounds_checks, ..Default::default() }).unwrap();
    Engine::new(Config::default(), Arc::new(jit))
}

fn guard_engine() -> Engine {
    engine_bounded(wes_jit::BoundsChecks::Guard)
}

/// A memory kept from a store whose module mapped a larger image is handed to a module whose
/// memory is smaller: the image's pages past the new length must not stay accessible.
#[test]
fn a_kept_memory_is_accessible_only_up_to_its_new_length() {
    let engine = guard_engine();
    assert!(engine.guard_regions());
    // 40 KiB of data: a mapped image (more than the bytes copied in).
    let data: String = (0..40 * 1024).map(|i| format!("\\{:02x}", (i % 251) as u8 + 1)).collect();
    let big = format!(
        r#"(module (memory 2) (data (i32.const 0) "{data}")
             (func (export "at") (param i32) (result i32) (i32.load8_u (local.get 0))))"#
    );
    let small = r#"(module (memory 0 1)
        (func (export "at") (param i32) (result i32) (i32.load8_u (local.get 0)))
        (func (export "grow") (result i32) (memory.grow (i32.const 1))))"#;
    for _ in 0..3 {
        let (mut store, inst) = instantiate_with(&engine, &Linker::new(), &big);
        assert_eq!(call(&mut store, inst, "at", &[Value::I32(40 * 1024 - 1)]).unwrap(), [Value::I32(40 * 1024 % 251)]);
        drop(store);
        let (mut store, inst) = instantiate_with(&engine, &Linker::new(), small);
        for at in [0, 4096, 40 * 1024 - 1] {
            let trap = check_trap(&mut store, inst, "at", &[Value::I32(at)], TrapCode::MemoryOutOfBounds);
            assert_eq!(trap.backtrace.len(), 1, "{trap}");
        }
        // Grown, the new page reads as zero, not as the old image.
        assert_eq!(call(&mut store, inst, "grow", &[]).unwrap(), [Value::I32(0)]);
        assert_eq!(call(&mut store, inst, "at", &[Value::I32(0)]).unwrap(), [Value::I32(0)]);
        check_trap(&mut store, inst, "at", &[Value::I32(65536)], TrapCode::MemoryOutOfBounds);
    }
}

/// A load whose value Cranelift would merge into the instruction that uses it (faulting there,
/// under the user's source location), and a store it would drop because a later one
/// overwrites the same bytes (so the later one faults): each trap must name the first
/// access past the end, as explicit checks do.
#[test]
fn merged_loads_and_overwritten_stores_trap_at_their_own_operators() {
    let engine = guard_engine();
    let explicit = engine_bounded(wes_jit::BoundsChecks::Explicit);
    let wat = r#"(module (memory 1)
        (func (export "splat") (result i32)
          (i32x4.extract_lane 0 (i32x4.splat (i32.load (i32.const 65534)))))
        (func (export "inner") (result i32) (i32.load (i32.load (i32.const 65534))))
        (func (export "outer") (result i32) (i32.load offset=65533 (i32.load (i32.const 0))))
        (func (export "add") (result i64)
          (i64.add (i64.load (i32.const 8)) (i64.load (i32.const 65530))))
        (func (export "twice")
          (i64.store8 (i32.const 262143) (i64.const 1))
          (i64.store8 (i32.const 262143) (i64.const 1))))"#;
    let module = |e: &Engine| Module::new(e, wes_decode::decode_text(wat).unwrap()).unwrap();
    let (g, x) = (module(&engine), module(&explicit));
    let (mut gs, mut xs) = (Store::new(&engine), Store::new(&explicit));
    let gi = Linker::new().instantiate(&mut gs, &g).unwrap();
    let xi = Linker::new().instantiate(&mut xs, &x).unwrap();
    for name in ["splat", "inner", "outer", "add", "twice"] {
        let guard = check_trap(&mut gs, gi, name, &[], TrapCode::MemoryOutOfBounds);
        let checked = check_trap(&mut xs, xi, name, &[], TrapCode::MemoryOutOfBounds);
        assert_eq!(guard.backtrace, checked.backtrace, "{name}");
    }
}

/// Code LLVM generates (the C workloads' -Oz module, 265 KiB): every faulting instruction of
/// its guarded code names an access operator, or compiling would fail.
#[test]
fn compiled_c_code_names_every_faulting_access() {
    let bytes = std::fs::read(concat!(env!("CARGO_MANIFEST_DIR"), "/../../benches/c/realworld-Oz.wasm")).unwrap();
    let module = wes_decode::decode(&bytes).unwrap();
    Module::new(&guard_engine(), module).unwrap();
}

/// With the fault handler installed, a fault outside compiled code is not ours: the action
/// that was there before (the standard library's, then the default) ends the process with
/// SIGSEGV, as it would have without WES, rather than the fault repeating forever.
#[test]
fn a_fault_outside_compiled_code_still_ends_the_process() {
    if std::env::var_os("WES_GUARD_FAULT_CHILD").is_some() {
        let module =
            wes_decode::decode_text("(module (memory 1) (func (export \"f\") (drop (i32.load (i32.const 0)))))");
        Module::new(&guard_engine(), module.unwrap()).unwrap();
        // SAFETY: none: this child process exists to fault here, at an address nothing maps.
        unsafe { std::ptr::without_provenance::<u8>(8).read_volatile() };
        return;
    }
    let exe = std::env::current_exe().unwrap();
    let mut child = std::process::Command::new(exe)
        .args(["guard::a_fault_outside_compiled_code_still_ends_the_process", "--exact", "--test-threads=1"])
        .env("WES_GUARD_FAULT_CHILD", "1")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if std::time::Instant::now() > deadline {
            child.kill().unwrap();
            panic!("the child did not end: the fault repeats");
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    };
    use std::os::unix::process::ExitStatusExt;
    assert_eq!(status.signal(), Some(libc::SIGSEGV), "{status:?}");
}
