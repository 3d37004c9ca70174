//! Per-store resource limits: totals across memories and tables and counts of objects, asked
//! before anything is allocated; a refusal is a typed error at creation and -1 at growth.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use wes_core::types::{Limits, MemoryType, RefType, TableType};
use wes_core::{Value, WASM_PAGE_SIZE};
use wes_runtime::{
    Config, LimitExceeded, Linker, Memory, Module, Resource, ResourceLimiter, ResourceOp, ResourceUsage, RuntimeError,
    Store, StoreLimits, Table,
};

use crate::{call, engine_with, resident_pages};

const PAGE: u64 = WASM_PAGE_SIZE;

/// `wat` compiled, with multi-memory enabled (several memories make the totals visible).
fn module(engine: &wes_runtime::Engine, wat: &str) -> Module {
    let features = wes_decode::Features { multi_memory: true, ..wes_decode::Features::default() };
    Module::new(engine, wes_decode::Decoder::new(features).decode_text(wat).unwrap()).unwrap()
}

fn refusal(e: RuntimeError) -> LimitExceeded {
    match e {
        RuntimeError::StoreLimit(l) => l,
        other => panic!("expected a store limit, got {other:?}"),
    }
}

#[test]
fn each_limit_admits_its_value_and_refuses_one_more_at_instantiation() {
    let engine = engine_with(Config::default());
    let cases: [(Resource, StoreLimits, &str, &str, u64); 5] = [
        (
            Resource::MemoryBytes,
            StoreLimits { memory_bytes: 3 * PAGE, ..StoreLimits::unlimited() },
            "(module (memory 1) (memory 2))",
            "(module (memory 2) (memory 2))",
            4 * PAGE,
        ),
        (
            Resource::TableElements,
            StoreLimits { table_elements: 30, ..StoreLimits::unlimited() },
            "(module (table 10 funcref) (table 20 externref))",
            "(module (table 10 funcref) (table 21 externref))",
            31,
        ),
        (
            Resource::Memories,
            StoreLimits { memories: 2, ..StoreLimits::unlimited() },
            "(module (memory 0) (memory 0))",
            "(module (memory 0) (memory 0) (memory 0))",
            3,
        ),
        (
            Resource::Tables,
            StoreLimits { tables: 2, ..StoreLimits::unlimited() },
            "(module (table 0 funcref) (table 0 funcref))",
            "(module (table 0 funcref) (table 0 funcref) (table 0 funcref))",
            3,
        ),
        (Resource::Instances, StoreLimits { instances: 1, ..StoreLimits::unlimited() }, "(module)", "(module)", 2),
    ];
    for (resource, limits, fits, too_big, requested) in cases {
        let fits = module(&engine, fits);
        let mut store = Store::new(&engine);
        store.set_limits(limits);
        Linker::new().instantiate(&mut store, &fits).unwrap();
        let usage = store.resource_usage();
        assert_eq!(usage.get(resource), limits.limit(resource), "{resource}");
        // One more, in a fresh store for the per-instance limits and the same one for instances.
        let mut other = Store::new(&engine);
        other.set_limits(limits);
        let (store, too_big) =
            if resource == Resource::Instances { (&mut store, fits) } else { (&mut other, module(&engine, too_big)) };
        let before = store.resource_usage();
        let e = refusal(Linker::new().instantiate(store, &too_big).unwrap_err());
        assert_eq!(e, LimitExceeded { resource, limit: limits.limit(resource), requested }, "{resource}");
        assert!(e.to_string().contains(resource.name()), "{e}");
        // Nothing of the refused instance is in the store, and the refusal is on record.
        assert_eq!(store.resource_usage(), before, "{resource}");
        assert_eq!(store.stats().limit_refusals, 1);
        assert_eq!(store.stats().last_refusal, Some(e));
    }
}

#[test]
fn the_engine_default_limits_every_store_and_a_store_may_be_given_others() {
    let mut config = Config::default();
    config.store_limits(StoreLimits { tables: 1, ..StoreLimits::default() });
    let engine = engine_with(config);
    let two = module(&engine, "(module (table 1 funcref) (table 1 funcref))");
    let mut store = Store::new(&engine);
    let e = refusal(Linker::new().instantiate(&mut store, &two).unwrap_err());
    assert_eq!((e.resource, e.limit, e.requested), (Resource::Tables, 1, 2));
    store.set_limits(StoreLimits::default());
    Linker::new().instantiate(&mut store, &two).unwrap();
    assert_eq!(store.resource_usage().tables, 2);
}

#[test]
fn growth_past_the_store_total_returns_minus_one_and_is_recorded() {
    let engine = engine_with(Config::default());
    let m = module(
        &engine,
        r#"(module (memory 1) (memory 1) (table 1 funcref)
             (func (export "grow0") (param i32) (result i32) local.get 0 memory.grow 0)
             (func (export "grow1") (param i32) (result i32) local.get 0 memory.grow 1)
             (func (export "tgrow") (param i32) (result i32) ref.null func local.get 0 table.grow 0))"#,
    );
    let mut store = Store::new(&engine);
    store.set_limits(StoreLimits { memory_bytes: 4 * PAGE, table_elements: 10, ..StoreLimits::unlimited() });
    let i = Linker::new().instantiate(&mut store, &m).unwrap();
    // Two pages held; the total across both memories is what counts.
    assert_eq!(call(&mut store, i, "grow0", &[Value::I32(1)]).unwrap(), [Value::I32(1)]);
    assert_eq!(call(&mut store, i, "grow1", &[Value::I32(2)]).unwrap(), [Value::I32(-1)]);
    let stats = store.stats();
    assert_eq!(stats.limit_refusals, 1);
    assert_eq!(
        stats.last_refusal,
        Some(LimitExceeded { resource: Resource::MemoryBytes, limit: 4 * PAGE, requested: 5 * PAGE })
    );
    assert_eq!(call(&mut store, i, "grow1", &[Value::I32(1)]).unwrap(), [Value::I32(1)]);
    assert_eq!(store.resource_usage().memory_bytes, 4 * PAGE);
    assert_eq!(call(&mut store, i, "grow0", &[Value::I32(1)]).unwrap(), [Value::I32(-1)]);
    assert_eq!(call(&mut store, i, "tgrow", &[Value::I32(9)]).unwrap(), [Value::I32(1)]);
    assert_eq!(call(&mut store, i, "tgrow", &[Value::I32(1)]).unwrap(), [Value::I32(-1)]);
    assert_eq!(store.stats().limit_refusals, 3);
    assert_eq!(store.resource_usage().table_elements, 10);
    assert_eq!(store.stats().memory_grows, 2);
}

#[test]
fn embedder_created_objects_are_limited_too() {
    let engine = engine_with(Config::default());
    let mut store = Store::new(&engine);
    store.set_limits(StoreLimits { memory_bytes: 2 * PAGE, table_elements: 5, ..StoreLimits::unlimited() });
    let ty = |min, max| MemoryType { limits: Limits { min, max }, shared: false, memory64: false };
    let mem = Memory::new(&mut store, ty(2, Some(10))).unwrap();
    let e = refusal(Memory::new(&mut store, ty(1, None)).unwrap_err());
    assert_eq!((e.resource, e.requested), (Resource::MemoryBytes, 3 * PAGE));
    assert_eq!(mem.grow(&mut store, 1).unwrap(), None);
    let tty = TableType { element: RefType::ExternRef, limits: Limits { min: 6, max: None } };
    let e = refusal(Table::new(&mut store, tty, Value::ExternRef(None)).unwrap_err());
    assert_eq!((e.resource, e.limit, e.requested), (Resource::TableElements, 5, 6));
    assert_eq!(store.stats().limit_refusals, 3);
    assert_eq!(store.resource_usage().memories, 1);
}

/// One budget of memory shared by several stores: the embedder's own limiter, plugged in.
#[derive(Clone)]
struct SharedBudget {
    left: Arc<AtomicU64>,
    ops: Arc<std::sync::Mutex<Vec<ResourceOp>>>,
}

impl ResourceLimiter for SharedBudget {
    fn admit(&mut self, op: ResourceOp, current: &ResourceUsage, desired: &ResourceUsage) -> Result<(), LimitExceeded> {
        self.ops.lock().unwrap().push(op);
        let want = desired.memory_bytes - current.memory_bytes;
        let left = self.left.load(Ordering::Relaxed);
        if want > left {
            return Err(LimitExceeded { resource: Resource::MemoryBytes, limit: left, requested: want });
        }
        self.left.store(left - want, Ordering::Relaxed);
        Ok(())
    }
}

#[test]
fn an_embedders_limiter_replaces_the_default() {
    let engine = engine_with(Config::default());
    let m = module(
        &engine,
        r#"(module (memory 2) (func (export "grow") (param i32) (result i32) local.get 0 memory.grow 0))"#,
    );
    let budget = SharedBudget { left: Arc::new(AtomicU64::new(5 * PAGE)), ops: Arc::default() };
    let mut a = Store::new(&engine);
    a.set_limiter(budget.clone());
    let mut b = Store::new(&engine);
    b.set_limiter(budget.clone());
    let ia = Linker::new().instantiate(&mut a, &m).unwrap();
    let ib = Linker::new().instantiate(&mut b, &m).unwrap();
    assert_eq!(call(&mut a, ia, "grow", &[Value::I32(1)]).unwrap(), [Value::I32(2)]);
    assert_eq!(call(&mut b, ib, "grow", &[Value::I32(1)]).unwrap(), [Value::I32(-1)]);
    assert_eq!(budget.left.load(Ordering::Relaxed), 0);
    assert_eq!(
        *budget.ops.lock().unwrap(),
        [ResourceOp::Instantiate, ResourceOp::Instantiate, ResourceOp::MemoryGrow, ResourceOp::MemoryGrow]
    );
    let e = refusal(Linker::new().instantiate(&mut b, &m).unwrap_err());
    assert_eq!((e.limit, e.requested), (0, 2 * PAGE));
}

#[test]
fn a_failed_instantiation_leaves_nothing_in_the_store() {
    let mut config = Config::default();
    config.max_memory_pages(4);
    let engine = engine_with(config);
    // The tables and globals come first; the second memory is past the engine's per-memory
    // limit and fails after the first memory was made.
    let m = module(
        &engine,
        r#"(module (memory 1) (memory 5) (table 7 funcref) (global i32 (i32.const 1)) (func (export "f")))"#,
    );
    let mut store = Store::new(&engine);
    let e = Linker::new().instantiate(&mut store, &m).unwrap_err();
    assert!(matches!(e, RuntimeError::ResourceLimit(_)), "{e}");
    assert_eq!(store.resource_usage(), ResourceUsage::default());
    // The store works on: an instance of another module gets the first indices.
    let ok = module(&engine, r#"(module (memory 1) (func (export "one") (result i32) i32.const 1))"#);
    let i = Linker::new().instantiate(&mut store, &ok).unwrap();
    assert_eq!(call(&mut store, i, "one", &[]).unwrap(), [Value::I32(1)]);
    assert_eq!(store.resource_usage().instances, 1);
    assert_eq!(store.resource_usage().memories, 1);
}

#[test]
fn grown_memory_is_not_resident_until_written() {
    let engine = engine_with(Config::default());
    let m = module(
        &engine,
        r#"(module (memory (export "m") 1)
             (func (export "grow") (param i32) (result i32) local.get 0 memory.grow 0)
             (func (export "poke") (param i32) local.get 0 i32.const 7 i32.store8))"#,
    );
    let mut store = Store::new(&engine);
    let i = Linker::new().instantiate(&mut store, &m).unwrap();
    assert_eq!(call(&mut store, i, "grow", &[Value::I32(1024)]).unwrap(), [Value::I32(1)]);
    let mem = i.get_memory(&store, "m").unwrap();
    let data = mem.data(&store).unwrap();
    assert_eq!(data.len() as u64, 1025 * PAGE);
    assert_eq!(resident_pages(&data[PAGE as usize..]), 0, "64 MiB grown, none of it touched");
    let at = 700 * PAGE as i32 + 12;
    call(&mut store, i, "poke", &[Value::I32(at)]).unwrap();
    let data = mem.data(&store).unwrap();
    assert_eq!(resident_pages(&data[at as usize..at as usize + 1]), 1);
    // At most the written page's huge page (2 MiB) with transparent huge pages always on.
    assert!(resident_pages(&data[PAGE as usize..]) <= 512);
    assert_eq!(data[at as usize], 7);
}

#[test]
fn a_reset_returns_the_usage_to_the_checkpoint() {
    let engine = engine_with(Config::default());
    let m = module(
        &engine,
        r#"(module (memory 1) (table 1 funcref)
             (func (export "grow") (result i32)
               (drop (table.grow (ref.null func) (i32.const 9)))
               (memory.grow (i32.const 3))))"#,
    );
    let mut store = Store::new(&engine);
    store.set_limits(StoreLimits { memory_bytes: 4 * PAGE, ..StoreLimits::unlimited() });
    let i = Linker::new().instantiate(&mut store, &m).unwrap();
    store.checkpoint().unwrap();
    let initial = store.resource_usage();
    assert_eq!(call(&mut store, i, "grow", &[]).unwrap(), [Value::I32(1)]);
    assert_eq!((store.resource_usage().memory_bytes, store.resource_usage().table_elements), (4 * PAGE, 10));
    store.reset().unwrap();
    assert_eq!(store.resource_usage(), initial);
    // The pages a reset gave back can be grown into again.
    assert_eq!(call(&mut store, i, "grow", &[]).unwrap(), [Value::I32(1)]);
}
