//! Instantiation from a module's plan: memory images (mapped and copied), table images,
//! [`InstancePre`], and that none of it is observable: contents, isolation between instances of
//! one module, growth, funcrefs, and gas charged exactly as segment-by-segment copying does.

use std::sync::Arc;

use wes_core::types::{GlobalType, Limits, MemoryType, Mutability};
use wes_core::{TrapCode, ValType, Value};
use wes_jit::{Jit, JitConfig};
use wes_meter::{BasicMeter, Pricing};
use wes_runtime::{
    Caller, Config, Engine, Extern, Func, Global, HostError, Instance, Linker, Memory, Module, RuntimeError, Store,
};

use crate::{call, engine_with};

/// A data segment of `len` bytes `b0, b0+1, ...` (wrapping), as a WAT string literal.
fn bytes(len: usize, b0: u8) -> String {
    (0..len).map(|i| format!("\\{:02x}", b0.wrapping_add(i as u8))).collect()
}

/// 40 KiB of data at 70000 (a mapped image, not page-aligned at either end), 10 bytes at 16
/// (in the same image), a table filled by two element segments, one of them overwriting the
/// other, and a passive segment.
fn module_wat(offset_expr: &str) -> String {
    format!(
        r#"(module
          (import "env" "base" (global $base i32))
          (memory (export "mem") 3 8)
          (table $t (export "table") 8 funcref)
          (type $r (func (result i32)))
          (func $a (result i32) i32.const 1)
          (func $b (result i32) i32.const 2)
          (func $c (result i32) i32.const 3)
          (elem (table $t) (i32.const 1) func $a $b $c)
          (elem (table $t) (i32.const 2) funcref (ref.func $c) (ref.null func))
          (elem $p funcref (ref.func $b))
          (data (i32.const 16) "{}")
          (data ({offset_expr}) "{}")
          (func (export "load8") (param i32) (result i32) local.get 0 i32.load8_u)
          (func (export "store8") (param i32 i32) local.get 0 local.get 1 i32.store8)
          (func (export "grow") (param i32) (result i32) local.get 0 memory.grow)
          (func (export "call") (param i32) (result i32) local.get 0 call_indirect $t (type $r))
          (func (export "init") (param i32) i32.const 0 local.get 0 i32.const 1 table.init $t $p)
          (func (export "get") (param i32) (result funcref) local.get 0 table.get $t))"#,
        bytes(10, 0xa0),
        bytes(40 * 1024, 7)
    )
}

/// Imaged (constant offset) and copied at instantiation (offset from an imported global): the
/// same module otherwise.
const IMAGED: &str = "i32.const 70000";
const COPIED: &str = "global.get $base";

fn setup(engine: &Engine, offset_expr: &str) -> Module {
    Module::new(engine, wes_decode::decode_text(&module_wat(offset_expr)).unwrap()).unwrap()
}

/// A linker for `store` defining `env.base` = 70000.
fn linker_for(store: &mut Store) -> Linker {
    let ty = GlobalType { content: ValType::I32, mutability: Mutability::Const };
    let g = Global::new(store, ty, Value::I32(70000)).unwrap();
    let mut linker = Linker::new();
    linker.define("env", "base", Extern::Global(g));
    linker
}

/// An instance of `module` in a new store, with `env.base` = 70000.
fn fresh(engine: &Engine, module: &Module) -> (Store, Instance) {
    let mut store = Store::new(engine);
    let instance = linker_for(&mut store).instantiate(&mut store, module).unwrap();
    (store, instance)
}

fn load(store: &mut Store, i: Instance, addr: i32) -> i32 {
    match call(store, i, "load8", &[Value::I32(addr)]).unwrap()[..] {
        [Value::I32(v)] => v,
        ref other => panic!("{other:?}"),
    }
}

#[test]
fn imaged_and_copied_segments_give_the_same_instance() {
    let engine = engine_with(Config::default());
    for offset in [IMAGED, COPIED] {
        let module = setup(&engine, offset);
        let (mut store, i) = fresh(&engine, &module);
        let mem = i.get_memory(&store, "mem").unwrap();
        let data = mem.data(&store).unwrap();
        assert_eq!(data.len(), 3 * 65536);
        assert_eq!(&data[..16], &[0; 16]);
        assert_eq!(data[16..26], (0xa0..0xaa).collect::<Vec<u8>>()[..]);
        assert!(data[26..70000].iter().all(|b| *b == 0), "{offset}");
        assert!(data[70000..70000 + 40 * 1024].iter().enumerate().all(|(k, b)| *b == 7u8.wrapping_add(k as u8)));
        assert!(data[70000 + 40 * 1024..].iter().all(|b| *b == 0));
        // Table: [null, a, c, null, null...]; the second segment overwrote the first's $b.
        let results: Vec<_> = (1..3).map(|k| call(&mut store, i, "call", &[Value::I32(k)]).unwrap()).collect();
        assert_eq!(results, [vec![Value::I32(1)], vec![Value::I32(3)]]);
        for k in [0, 3, 7] {
            let t = crate::trap_of(call(&mut store, i, "call", &[Value::I32(k)]));
            assert_eq!(t.code, TrapCode::IndirectCallToNull, "{offset} {k}");
        }
        // Active segments are dropped; the passive one is not.
        call(&mut store, i, "init", &[Value::I32(0)]).unwrap();
        assert_eq!(call(&mut store, i, "call", &[Value::I32(0)]).unwrap(), [Value::I32(2)]);
        // A funcref read back from the table is the same function as its export... by handle.
        let Value::FuncRef(Some(r)) = call(&mut store, i, "get", &[Value::I32(1)]).unwrap()[0] else {
            panic!("not a funcref")
        };
        let f = Func::from_funcref(&store, r).unwrap();
        assert_eq!(f.call(&mut store, &[]).unwrap(), [Value::I32(1)]);
    }
}

#[test]
fn instances_of_one_image_do_not_see_each_others_writes() {
    let engine = engine_with(Config::default());
    let module = setup(&engine, IMAGED);
    let (mut s1, i1) = fresh(&engine, &module);
    let (mut s2, i2) = fresh(&engine, &module);
    // Write into an image page, a zero page, and the part of an image page past the data.
    for addr in [70000, 70001, 16, 150_000] {
        call(&mut s1, i1, "store8", &[Value::I32(addr), Value::I32(0x55)]).unwrap();
    }
    assert_eq!(load(&mut s1, i1, 70000), 0x55);
    assert_eq!(load(&mut s2, i2, 70000), 7);
    assert_eq!(load(&mut s2, i2, 70001), 8);
    assert_eq!(load(&mut s2, i2, 16), 0xa0);
    assert_eq!(load(&mut s2, i2, 150_000), 0);
    drop(s1);
    let (mut s3, i3) = fresh(&engine, &module);
    assert_eq!(load(&mut s3, i3, 70000), 7);
    assert_eq!(load(&mut s2, i2, 70000), 7);
}

#[test]
fn an_imaged_memory_grows_with_zeroes_and_keeps_its_contents() {
    let engine = engine_with(Config::default());
    let module = setup(&engine, IMAGED);
    let (mut store, i) = fresh(&engine, &module);
    call(&mut store, i, "store8", &[Value::I32(70000), Value::I32(0x55)]).unwrap();
    assert_eq!(call(&mut store, i, "grow", &[Value::I32(5)]).unwrap(), [Value::I32(3)]);
    assert_eq!(call(&mut store, i, "grow", &[Value::I32(1)]).unwrap(), [Value::I32(-1)]);
    let data = i.get_memory(&store, "mem").unwrap().data(&store).unwrap();
    assert_eq!(data.len(), 8 * 65536);
    assert_eq!((data[70000], data[70001], data[16]), (0x55, 8, 0xa0));
    assert!(data[3 * 65536..].iter().all(|b| *b == 0));
    call(&mut store, i, "store8", &[Value::I32(8 * 65536 - 1), Value::I32(1)]).unwrap();
    let t = crate::trap_of(call(&mut store, i, "store8", &[Value::I32(8 * 65536), Value::I32(1)]));
    assert_eq!(t.code, TrapCode::MemoryOutOfBounds);
}

/// A metered engine under the default pricing.
fn metered() -> Engine {
    let pricing = Arc::new(Pricing::default());
    let jit = Jit::with_config(JitConfig { pricing: Some(pricing.clone()), ..JitConfig::default() }).unwrap();
    let mut config = Config::default();
    config.pricing(Some(pricing));
    Engine::new(config, Arc::new(jit))
}

/// Instantiates under a meter of `limit`: the gas used, or the error.
fn instantiate_metered(engine: &Engine, module: &Module, limit: u64) -> Result<u64, RuntimeError> {
    let mut store = Store::new(engine);
    let linker = linker_for(&mut store);
    store.set_meter(Box::new(BasicMeter::new(limit)));
    linker.instantiate(&mut store, module)?;
    Ok(store.meter().unwrap().used())
}

#[test]
fn imaged_segments_charge_the_gas_copied_ones_do_at_every_limit() {
    let engine = metered();
    let imaged = setup(&engine, IMAGED);
    let copied = setup(&engine, COPIED);
    let full = instantiate_metered(&engine, &imaged, 1 << 40).unwrap();
    assert_eq!(instantiate_metered(&engine, &copied, 1 << 40).unwrap(), full);
    assert!(full > 40 * 1024, "the data segments are priced per byte: {full}");
    // Every limit below the total fails the same way on both, at the same segment.
    for limit in [0, 1, 3, 5, full / 2, full - 1] {
        let a = instantiate_metered(&engine, &imaged, limit).unwrap_err();
        let b = instantiate_metered(&engine, &copied, limit).unwrap_err();
        assert_eq!(format!("{a}"), format!("{b}"), "limit {limit}");
        assert!(matches!(a, RuntimeError::Trap(ref t) if t.code == TrapCode::OutOfGas), "{a}");
    }
    assert_eq!(instantiate_metered(&engine, &imaged, full).unwrap(), full);
}

#[test]
fn instance_pre_links_once_and_instantiates_in_many_stores() {
    let engine = engine_with(Config::default());
    let wat = r#"(module
        (import "env" "inc" (func $inc (param i64) (result i64)))
        (import "env" "inc" (func $inc2 (param i64) (result i64)))
        (memory 1) (data (i32.const 0) "\2a")
        (table 2 funcref) (elem (i32.const 0) $inc $inc2)
        (func (export "run") (param i64) (result i64)
          (call $inc (i64.add (local.get 0) (i64.load8_u (i32.const 0)))))
        (func (export "get") (param i32) (result funcref) (table.get 0 (local.get 0))))"#;
    let module = Module::new(&engine, wes_decode::decode_text(wat).unwrap()).unwrap();
    let mut linker = Linker::new();
    linker.func_wrap("env", "inc", |_: &mut Caller<'_>, (x,): (i64,)| -> Result<i64, HostError> { Ok(x + 1) });
    let pre = linker.instantiate_pre(&module).unwrap();
    // Changing the linker afterwards changes nothing for `pre`.
    linker.func_wrap("env", "inc", |_: &mut Caller<'_>, (x,): (i64,)| -> Result<i64, HostError> { Ok(x + 100) });
    let threads: Vec<_> = (0..2)
        .map(|t| {
            let pre = pre.clone();
            let engine = engine.clone();
            std::thread::spawn(move || {
                for k in 0..20i64 {
                    let mut store = Store::new(&engine);
                    let i = pre.instantiate(&mut store).unwrap();
                    let run = i.get_func(&store, "run").unwrap();
                    assert_eq!(run.call(&mut store, &[Value::I64(k + t)]).unwrap(), [Value::I64(k + t + 43)]);
                    // One host function imported twice is one function: equal references.
                    let get = i.get_func(&store, "get").unwrap();
                    let a = get.call(&mut store, &[Value::I32(0)]).unwrap();
                    assert_eq!(a, get.call(&mut store, &[Value::I32(1)]).unwrap());
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    // Errors come when linking, with the import's name.
    let mut bad = Linker::new();
    let e = bad.instantiate_pre(&module).unwrap_err();
    assert!(matches!(e, RuntimeError::UnknownImport { ref name, .. } if name == "inc"), "{e}");
    bad.func_wrap("env", "inc", |_: &mut Caller<'_>, (x,): (i32,)| -> Result<i32, HostError> { Ok(x) });
    let e = bad.instantiate_pre(&module).unwrap_err();
    assert!(matches!(e, RuntimeError::IncompatibleImport { ref name, .. } if name == "inc"), "{e}");
    assert!(e.to_string().contains("expected"), "{e}");
    // A store item of one store cannot be used in another.
    let mut store = Store::new(&engine);
    let mem =
        Memory::new(&mut store, MemoryType { limits: Limits { min: 1, max: None }, shared: false, memory64: false })
            .unwrap();
    let m2 = Module::new(&engine, wes_decode::decode_text(r#"(module (import "x" "m" (memory 1)))"#).unwrap()).unwrap();
    let mut l2 = Linker::new();
    l2.define("x", "m", Extern::Memory(mem));
    let pre2 = l2.instantiate_pre(&m2).unwrap();
    assert!(pre2.instantiate(&mut store).is_ok());
    let e = pre2.instantiate(&mut Store::new(&engine)).unwrap_err();
    assert!(matches!(e, RuntimeError::WrongStore), "{e}");
}

#[test]
fn a_memory_kept_by_the_engine_carries_nothing_into_the_next_store() {
    let engine = engine_with(Config::default());
    // Same memory type (so the same reservation), different images: mapped, copied, none.
    let module = |data: &str| {
        let wat = format!(
            r#"(module (memory (export "mem") 2 4) {data}
                 (func (export "scribble") (i64.store (i32.const 8) (i64.const -1))
                   (i64.store (i32.const 70000) (i64.const -1)) (drop (memory.grow (i32.const 1)))
                   (i64.store (i32.const 140000) (i64.const -1))))"#
        );
        Module::new(&engine, wes_decode::decode_text(&wat).unwrap()).unwrap()
    };
    let mapped = module(&format!(r#"(data (i32.const 4) "{}")"#, bytes(30_000, 1)));
    let copied = module(r#"(data (i32.const 4) "\07\08")"#);
    let empty = module("");
    let expected = |m: &Module| {
        let mut store = Store::new(&engine);
        let i = Linker::new().instantiate(&mut store, m).unwrap();
        i.get_memory(&store, "mem").unwrap().data(&store).unwrap().to_vec()
    };
    let want: Vec<Vec<u8>> = [&mapped, &copied, &empty].iter().map(|m| expected(m)).collect();
    for round in 0..3 {
        for m in [&mapped, &copied, &empty, &copied, &mapped, &empty, &mapped] {
            let mut store = Store::new(&engine);
            let i = Linker::new().instantiate(&mut store, m).unwrap();
            let data = i.get_memory(&store, "mem").unwrap().data(&store).unwrap().to_vec();
            let k = if std::ptr::eq(m, &mapped) {
                0
            } else if std::ptr::eq(m, &copied) {
                1
            } else {
                2
            };
            assert!(data == want[k], "round {round}: module {k} sees another store's memory");
            call(&mut store, i, "scribble", &[]).unwrap();
        }
    }
}

/// A dropped store's memory mapping is kept by the engine for the next store: a small one
/// (at most 64 KiB, no image mapped over it) zeroed in place, a larger one by dropping its
/// pages. Either way the next store of any module sees its own image and zeroes, nothing of
/// what the last one wrote: every byte is compared, after attacks that write every page.
#[test]
fn a_recycled_memory_shows_nothing_of_the_store_that_used_it() {
    let engine = engine_with(Config::default());
    let wat = |pages: u32, max: u32, data: &str| {
        format!(
            r#"(module
              (memory (export "mem") {pages} {max})
              (data (i32.const 16) "{data}")
              (func (export "attack") (param $secret i32) (local $p i32)
                (drop (memory.grow (i32.const 1)))
                (block $done (loop $next
                  (br_if $done (i32.ge_u (local.get $p) (i32.mul (memory.size) (i32.const 65536))))
                  (i32.store (local.get $p) (local.get $secret))
                  (local.set $p (i32.add (local.get $p) (i32.const 4)))
                  (br $next)))))"#
        )
    };
    // One page growing to two (past 64 KiB: dropped), one page that cannot grow (zeroed in
    // place), and modules of the same reservation with other images, so mappings move between
    // modules.
    let modules: Vec<(Module, Vec<u8>)> = [(1, 2, "small"), (1, 1, "tiny"), (1, 1, "other data"), (1, 2, "x")]
        .into_iter()
        .map(|(pages, max, data)| {
            let module = Module::new(&engine, wes_decode::decode_text(&wat(pages, max, data)).unwrap()).unwrap();
            let mut image = vec![0u8; pages as usize * 65536];
            image[16..16 + data.len()].copy_from_slice(data.as_bytes());
            (module, image)
        })
        .collect();
    for round in 0..12 {
        let (module, image) = &modules[round % modules.len()];
        let mut store = Store::new(&engine);
        let instance = Linker::new().instantiate(&mut store, module).unwrap();
        let mem = instance.get_memory(&store, "mem").unwrap();
        assert!(mem.data(&store).unwrap() == image.as_slice(), "round {round}: a fresh memory holds only its image");
        call(&mut store, instance, "attack", &[Value::I32(0x5ec2e7 + round as i32)]).unwrap();
        assert!(mem.data(&store).unwrap()[..8].iter().any(|&b| b != 0), "the attack wrote");
    }
}
