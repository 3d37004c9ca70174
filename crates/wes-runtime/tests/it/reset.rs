//! `Store::checkpoint` / `Store::reset`, tested the way an attacker would use a pooled instance:
//! one call leaves secrets everywhere it can (memory pages with and without data, a grown
//! memory, globals, tables, a grown table, dropped segments); after the reset, the next caller
//! must see exactly the post-instantiation state, the start function's effects included.

use wes_core::Value;
use wes_runtime::{Config, Func, Instance, Linker, Module, RuntimeError, Store};

use crate::{call, engine_with};

/// `data_len` bytes of data at 1000 (over 16 KiB: a mapped image; under: copied), a start
/// function that writes memory and a global, and an `attack` export that writes `secret`
/// everywhere.
fn module(data_len: usize, data_offset: &str) -> String {
    let data: String = (0..data_len).map(|i| format!("\\{:02x}", (i % 251) as u8)).collect();
    format!(
        r#"(module
          (import "env" "base" (global $base i32))
          (memory (export "mem") 2 10)
          (global $g (export "g") (mut i64) (i64.const 7))
          (global $started (mut i32) (i32.const 0))
          (table $t 4 20 funcref)
          (type $r (func (result i64)))
          (func $one (result i64) i64.const 1)
          (func $two (result i64) i64.const 2)
          (func $evil (result i64) i64.const 666)
          (elem (table $t) (i32.const 0) func $one $two)
          (elem $p func $two)
          (elem declare func $evil)
          (data ({data_offset}) "{data}")
          (data $d "passive")
          (func $start
            (global.set $started (i32.add (global.get $started) (i32.const 1)))
            (i32.store (i32.const 100000) (i32.const 0x5747)))
          (start $start)
          (func (export "attack") (param $secret i64)
            (i64.store (i32.const 1000) (local.get $secret))
            (i64.store (i32.const 100000) (local.get $secret))
            (i64.store (i32.const 120000) (local.get $secret))
            (drop (memory.grow (i32.const 3)))
            (i64.store (i32.const 300000) (local.get $secret))
            (global.set $g (local.get $secret))
            (table.set $t (i32.const 0) (ref.func $evil))
            (table.set $t (i32.const 3) (ref.func $evil))
            (drop (table.grow $t (ref.func $evil) (i32.const 5)))
            (data.drop $d)
            (elem.drop $p))
          (func (export "observe") (result i64 i64 i64 i64 i32 i32 i32 i64)
            (i64.load (i32.const 1000))
            (i64.load (i32.const 100000))
            (i64.load (i32.const 120000))
            (global.get $g)
            (memory.size)
            (table.size $t)
            (global.get $started)
            (call_indirect $t (type $r) (i32.const 0)))
          (func (export "segments") (result i32)
            (memory.init $d (i32.const 0) (i32.const 0) (i32.const 7))
            (table.init $t $p (i32.const 3) (i32.const 0) (i32.const 1))
            (i32.load8_u (i32.const 0)))
          (func (export "load_high") (result i64) (i64.load (i32.const 300000)))
          (func (export "slot3_is_null") (result i32) (ref.is_null (table.get $t (i32.const 3)))))"#
    )
}

fn setup(wat: &str) -> (Store, Instance) {
    let engine = engine_with(Config::default());
    let module = Module::new(&engine, wes_decode::decode_text(wat).unwrap()).unwrap();
    let mut store = Store::new(&engine);
    let ty =
        wes_core::types::GlobalType { content: wes_core::ValType::I32, mutability: wes_core::types::Mutability::Const };
    let base = wes_runtime::Global::new(&mut store, ty, Value::I32(1000)).unwrap();
    let mut linker = Linker::new();
    linker.define("env", "base", wes_runtime::Extern::Global(base));
    let instance = linker.instantiate(&mut store, &module).unwrap();
    (store, instance)
}

fn observe(store: &mut Store, i: Instance) -> Vec<Value> {
    call(store, i, "observe", &[]).unwrap()
}

#[test]
fn a_reset_instance_shows_nothing_of_its_last_user() {
    // Mapped image, copied image, and data copied at instantiation (offset from an import).
    // Without a start function, a mapped image or a copied one is the checkpoint as it is.
    let cases = [
        (40_000, "i32.const 1000", true),
        (100, "i32.const 1000", true),
        (40_000, "global.get $base", true),
        (40_000, "i32.const 1000", false),
        (100, "i32.const 1000", false),
    ];
    for (len, offset, start) in cases {
        let wat = module(len, offset);
        let wat = if start { wat } else { wat.replace("(start $start)", "") };
        let (mut store, i) = setup(&wat);
        store.checkpoint().unwrap();
        let initial = observe(&mut store, i);
        let first_bytes = i64::from_le_bytes(std::array::from_fn(|k| (k % 251) as u8));
        assert_eq!(
            initial,
            [
                Value::I64(first_bytes),
                Value::I64(if start { 0x5747 } else { 0 }),
                Value::I64(0),
                Value::I64(7),
                Value::I32(2),
                Value::I32(4),
                Value::I32(i32::from(start)),
                Value::I64(1)
            ],
            "{len} {offset}"
        );
        let mem_before = i.get_memory(&store, "mem").unwrap().data(&store).unwrap().to_vec();
        for round in 0..3i64 {
            let secret = 0x5ec2e7 + round;
            call(&mut store, i, "attack", &[Value::I64(secret)]).unwrap();
            let seen = observe(&mut store, i);
            assert_eq!(seen[..4], [Value::I64(secret); 4], "the attack wrote");
            assert_eq!(seen[4..6], [Value::I32(5), Value::I32(9)]);
            let stats = store.reset().unwrap();
            assert_eq!(stats.memory_bytes, 2 * 65536);
            assert_eq!(observe(&mut store, i), initial, "round {round}, {len} {offset}");
            let mem = i.get_memory(&store, "mem").unwrap().data(&store).unwrap();
            assert!(mem == mem_before.as_slice(), "memory differs after reset, {len} {offset}");
            // The dropped segments are back, and table slot 3 is null again.
            assert_eq!(call(&mut store, i, "slot3_is_null", &[]).unwrap(), [Value::I32(1)]);
            assert_eq!(call(&mut store, i, "segments", &[]).unwrap(), [Value::I32(u32::from(b'p') as i32)]);
            store.reset().unwrap();
        }
        // Memory grown past the reset length is closed again: out of bounds, not zero or stale.
        call(&mut store, i, "attack", &[Value::I64(1)]).unwrap();
        assert_eq!(call(&mut store, i, "load_high", &[]).unwrap(), [Value::I64(1)]);
        store.reset().unwrap();
        let t = crate::trap_of(call(&mut store, i, "load_high", &[]));
        assert_eq!(t.code, wes_core::TrapCode::MemoryOutOfBounds);
    }
}

#[test]
fn embedder_writes_are_reset_too_and_a_store_that_gained_objects_is_refused() {
    let (mut store, i) = setup(&module(40_000, "i32.const 1000"));
    store.checkpoint().unwrap();
    let initial = observe(&mut store, i);
    let mem = i.get_memory(&store, "mem").unwrap();
    mem.data_mut(&mut store).unwrap()[1000..1008].copy_from_slice(&[0xff; 8]);
    mem.grow(&mut store, 1).unwrap();
    i.get_global(&store, "g").unwrap().set(&mut store, Value::I64(-1)).unwrap();
    store.reset().unwrap();
    assert_eq!(observe(&mut store, i), initial);
    // A new object would survive a reset: refused, so a pool drops the store instead.
    let host =
        wes_runtime::HostFunc::wrap(|_: &mut wes_runtime::Caller<'_>, (): ()| -> Result<(), wes_runtime::HostError> {
            Ok(())
        });
    let _ = Func::from_host(&mut store, &host);
    assert!(matches!(store.reset(), Err(RuntimeError::Reset(_))));
    let engine = engine_with(Config::default());
    assert!(matches!(Store::new(&engine).reset(), Err(RuntimeError::Reset(_))), "no checkpoint");
}

/// Found by the differential harness (wes-difftest): a checkpoint taken after code ran, of a
/// store whose memory is empty (0 pages), failed with "cannot snapshot memory 0", since an
/// empty memory cannot be mapped from a file.
#[test]
fn a_store_with_an_empty_memory_is_checkpointed_after_code_ran() {
    let wat = r#"(module
        (memory (export "mem") 0)
        (global $g (export "g") (mut i32) (i32.const 0))
        (func (export "bump") (global.set $g (i32.add (global.get $g) (i32.const 1))))
        (func (export "grow") (result i32) (i32.store (i32.const 0) (i32.const 7)) (memory.size))
        (func (export "state") (result i32 i32) (global.get $g) (memory.size)))"#;
    let engine = engine_with(Config::default());
    let module = Module::new(&engine, wes_decode::decode_text(wat).unwrap()).unwrap();
    let mut store = Store::new(&engine);
    let i = Linker::new().instantiate(&mut store, &module).unwrap();
    call(&mut store, i, "bump", &[]).unwrap();
    store.checkpoint().unwrap();
    let mem = i.get_memory(&store, "mem").unwrap();
    mem.grow(&mut store, 1).unwrap();
    assert_eq!(call(&mut store, i, "grow", &[]).unwrap(), vec![Value::I32(1)]);
    call(&mut store, i, "bump", &[]).unwrap();
    store.reset().unwrap();
    assert_eq!(call(&mut store, i, "state", &[]).unwrap(), vec![Value::I32(1), Value::I32(0)]);
    // Grown again after the reset, the memory reads as zero: nothing of the last user is left.
    mem.grow(&mut store, 1).unwrap();
    assert_eq!(mem.data(&store).unwrap()[..4], [0; 4]);
}
