//! The per-store resource figures of both presets, enforced by the runtime once the manager
//! instantiates: at the limit a module runs, one past it is refused by name.

use wes_core::Value;
use wes_decode::Features;
use wes_runtime::{LimitExceeded, Resource, RuntimeError, Store, StoreLimits};
use wes_security::{GuardedInstance, SecurityError, SecurityManager, SecurityPolicy};

use crate::support::{engine, load};

const GROWER: &str = r#"(module (memory 1) (table 1 funcref)
    (func (export "grow") (param i32) (result i32) local.get 0 memory.grow 0)
    (func (export "tgrow") (param i32) (result i32) ref.null func local.get 0 table.grow 0))"#;

fn grow(security: &SecurityManager, store: &mut Store, i: &GuardedInstance, name: &str, by: i32) -> i32 {
    match security.invoke(store, i, name, &[Value::I32(by)]).unwrap().as_slice() {
        [Value::I32(v)] => *v,
        other => panic!("unexpected results {other:?}"),
    }
}

fn refusal(e: SecurityError) -> LimitExceeded {
    match e {
        SecurityError::Runtime(RuntimeError::StoreLimit(l)) => l,
        other => panic!("expected a store limit, got {other:?}"),
    }
}

#[test]
fn the_contract_preset_bounds_growth_and_instances_per_store() {
    let security = SecurityManager::new(SecurityPolicy::contract()).unwrap();
    let linker = security.linker();
    let (id, module) = load(&security, GROWER, None);
    let mut store = Store::new(&engine());
    let i = security.instantiate(&linker, &mut store, &module, &id).unwrap();
    let page = 64 * 1024;
    // 512 pages (32 MiB) in all: the 511 more fit, one past is -1, named in the store's stats.
    assert_eq!(grow(&security, &mut store, &i, "grow", 511), 1);
    assert_eq!(grow(&security, &mut store, &i, "grow", 1), -1);
    let expected = LimitExceeded { resource: Resource::MemoryBytes, limit: 512 * page, requested: 513 * page };
    assert_eq!(store.stats().last_refusal, Some(expected));
    // 2,500 table elements.
    assert_eq!(grow(&security, &mut store, &i, "tgrow", 2_499), 1);
    assert_eq!(grow(&security, &mut store, &i, "tgrow", 1), -1);
    assert_eq!(
        store.stats().last_refusal.map(|r| (r.resource, r.limit, r.requested)),
        Some((Resource::TableElements, 2_500, 2_501))
    );
    // One instance per store.
    let e = refusal(security.instantiate(&linker, &mut store, &module, &id).unwrap_err());
    assert_eq!(e, LimitExceeded { resource: Resource::Instances, limit: 1, requested: 2 });
}

#[test]
fn the_spec_preset_has_the_runtimes_default_store_limits() {
    let policy = SecurityPolicy::spec();
    assert_eq!(policy.store_limits(), StoreLimits::default());
    let security =
        SecurityManager::new(policy).unwrap().with_features(Features { multi_memory: true, ..Features::default() });
    let linker = security.linker();
    // 4 GiB across a store's memories: two memories of 65,535 and 1 pages pass (reserved, not
    // touched), one more page is refused before anything is mapped.
    for (second, fits) in [(1, true), (2, false)] {
        let wat = format!("(module (memory 65535) (memory {second}))");
        let (id, module) = load(&security, &wat, None);
        let mut store = Store::new(&engine());
        let r = security.instantiate(&linker, &mut store, &module, &id);
        if fits {
            assert_eq!(store.resource_usage().memory_bytes, 4 << 30);
            assert!(r.is_ok());
        } else {
            let e = refusal(r.err().unwrap());
            assert_eq!((e.resource, e.limit, e.requested), (Resource::MemoryBytes, 4 << 30, (4 << 30) + 65_536));
            assert_eq!(store.resource_usage().memory_bytes, 0);
        }
    }
}

/// Instantiates `module` in `store` under `security` until a refusal (at most `max + 1`
/// times); how many instances were made and the refusal.
fn fill(
    security: &SecurityManager,
    store: &mut Store,
    module: &wes_runtime::Module,
    id: &wes_security::ModuleIdentity,
    max: u64,
) -> (u64, LimitExceeded) {
    let linker = security.linker();
    for made in 0..=max {
        if let Err(e) = security.instantiate(&linker, store, module, id) {
            return (made, refusal(e));
        }
    }
    panic!("{} instances were all admitted", max + 1);
}

#[test]
fn the_spec_preset_counts_instances_memories_and_tables_to_ten_thousand() {
    let limits = StoreLimits::default();
    assert_eq!((limits.instances, limits.memories, limits.tables), (10_000, 10_000, 10_000));
    let security = SecurityManager::new(SecurityPolicy::spec())
        .unwrap()
        .with_features(Features { multi_memory: true, ..Features::default() });
    // Instances: a module with nothing to allocate, 10,000 times; the next is refused.
    let (id, module) = load(&security, "(module)", None);
    let mut store = Store::new(&engine());
    let (made, e) = fill(&security, &mut store, &module, &id, 10_000);
    assert_eq!(made, 10_000);
    assert_eq!(e, LimitExceeded { resource: Resource::Instances, limit: 10_000, requested: 10_001 });
    // Memories: two per instance, so the 5,001st instance would hold 10,002; refused by name
    // with nothing of it left behind.
    let (id, module) = load(&security, "(module (memory 0) (memory 0))", None);
    let mut store = Store::new(&engine());
    let (made, e) = fill(&security, &mut store, &module, &id, 5_000);
    assert_eq!(made, 5_000);
    assert_eq!(e, LimitExceeded { resource: Resource::Memories, limit: 10_000, requested: 10_002 });
    assert_eq!(store.resource_usage().memories, 10_000);
    // Tables: the same with two empty tables per instance.
    let (id, module) = load(&security, "(module (table 0 funcref) (table 0 externref))", None);
    let mut store = Store::new(&engine());
    let (made, e) = fill(&security, &mut store, &module, &id, 5_000);
    assert_eq!(made, 5_000);
    assert_eq!(e, LimitExceeded { resource: Resource::Tables, limit: 10_000, requested: 10_002 });
    assert_eq!(store.resource_usage().tables, 10_000);
}

#[test]
fn the_spec_preset_bounds_table_elements_across_tables_at_ten_million() {
    let security = SecurityManager::new(SecurityPolicy::spec()).unwrap();
    let linker = security.linker();
    // 9,999,999 elements declared in one table, then a second grown by one: exactly the limit
    // across the two. One more is -1 (the second table's own maximum is far from reached, so the
    // store's total is what refuses it).
    let (id, module) = load(
        &security,
        r#"(module (table 9999999 funcref) (table 0 funcref)
             (func (export "tgrow") (param i32) (result i32) ref.null func local.get 0 table.grow 1))"#,
        None,
    );
    let mut store = Store::new(&engine());
    let i = security.instantiate(&linker, &mut store, &module, &id).unwrap();
    assert_eq!(grow(&security, &mut store, &i, "tgrow", 1), 0);
    assert_eq!(store.resource_usage().table_elements, 10_000_000);
    assert_eq!(grow(&security, &mut store, &i, "tgrow", 1), -1);
    assert_eq!(
        store.stats().last_refusal,
        Some(LimitExceeded { resource: Resource::TableElements, limit: 10_000_000, requested: 10_000_001 })
    );
    // A second instance declaring one element is refused before it is made.
    let (id, small) = load(&security, "(module (table 1 funcref))", None);
    let e = refusal(security.instantiate(&linker, &mut store, &small, &id).unwrap_err());
    assert_eq!(e, LimitExceeded { resource: Resource::TableElements, limit: 10_000_000, requested: 10_000_001 });
}
