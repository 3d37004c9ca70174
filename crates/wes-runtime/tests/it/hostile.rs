//! The run-time hostile corpus: modules that try to run forever, recurse without end, take the
//! host's memory or flood it with calls, each generated here.
//!
//! Budget: every call runs metered under the default pricing with [`GAS`] units, in a store
//! limited to [`limits`]; the call depth is the engine's (10,000 frames unless a case says
//! otherwise). Every case must end in a typed error or a trap within that budget — out of gas
//! having charged at most [`GAS`], the depth limit, a bounds trap, or a refusal naming the limit
//! — with the store's usage within its limits (asserted through [`Store::resource_usage`]) and
//! untouched memory not resident (asserted with `mincore`). The process surviving is the rest
//! of the test binary running. Nothing here is timed; the whole corpus runs in well under a
//! second of compiled code.

use std::sync::Arc;

use wes_core::{TrapCode, Value, WASM_PAGE_SIZE};
use wes_jit::JitConfig;
use wes_meter::Pricing;
use wes_runtime::{
    Caller, Config, Engine, GasCall, HostError, Instance, LimitExceeded, Linker, Module, Resource, RuntimeError, Store,
    StoreLimits,
};

use crate::resident_pages;

/// Gas per call: ten million units, a few milliseconds of compiled code at the default pricing.
const GAS: u64 = 10_000_000;
const MIB: u64 = 1 << 20;

/// What every store of the corpus may hold: 64 MiB of memory, a million table elements, four of
/// each object.
fn limits() -> StoreLimits {
    StoreLimits { memory_bytes: 64 * MIB, table_elements: 1_000_000, memories: 4, tables: 4, instances: 4 }
}

fn engine_with(config: Config) -> Engine {
    crate::metered_engine(&Arc::new(Pricing::default()), JitConfig::default(), config)
}

fn engine() -> Engine {
    engine_with(Config::default())
}

/// A flood's host function: does nothing, costs the base cost of a host call.
fn linker() -> Linker {
    let mut linker = Linker::new();
    linker.func_wrap("host", "ping", |_: &mut Caller<'_>, (x,): (i32,)| -> Result<i32, HostError> { Ok(x) });
    linker
}

/// `wat` instantiated in a store limited to `limits`; the store comes back either way, to check
/// what it holds after a refusal.
fn instantiate(engine: &Engine, limits: StoreLimits, wat: &str) -> (Store, Result<Instance, RuntimeError>) {
    let module = Module::new(engine, wes_decode::decode_text(wat).unwrap()).unwrap();
    let mut store = Store::new(engine);
    store.set_limits(limits);
    let instance = linker().instantiate(&mut store, &module);
    (store, instance)
}

fn run(store: &mut Store, instance: Instance, name: &str, args: &[Value]) -> GasCall {
    let call = instance.get_func(store, name).unwrap().call_with_gas(store, args, GAS);
    assert!(call.gas.consumed <= GAS, "{name}: {} gas", call.gas.consumed);
    assert_within_limits(store);
    call
}

fn trap_code(call: &GasCall) -> Option<TrapCode> {
    call.result.as_ref().err().and_then(|e| e.as_trap()).map(|t| t.code)
}

fn assert_within_limits(store: &Store) {
    let usage = store.resource_usage();
    let limits = limits().max_of(StoreLimits::default());
    for r in Resource::ALL {
        assert!(usage.get(r) <= limits.limit(r), "{r}: {} held", usage.get(r));
    }
}

/// The larger of two limits, per resource (a case may run under the default limits).
trait MaxOf {
    fn max_of(self, other: StoreLimits) -> StoreLimits;
}

impl MaxOf for StoreLimits {
    fn max_of(self, o: StoreLimits) -> StoreLimits {
        StoreLimits {
            memory_bytes: self.memory_bytes.max(o.memory_bytes),
            table_elements: self.table_elements.max(o.table_elements),
            memories: self.memories.max(o.memories),
            tables: self.tables.max(o.tables),
            instances: self.instances.max(o.instances),
        }
    }
}

fn store_limit(e: RuntimeError) -> LimitExceeded {
    match e {
        RuntimeError::StoreLimit(l) => l,
        other => panic!("expected a store limit, got {other:?}"),
    }
}

#[test]
fn infinite_loops_run_out_of_gas() {
    let engine = engine();
    let loops = [
        "(loop br 0)",
        "(loop (br_if 0 (i32.const 1)))",
        "(loop (br_table 0 0 0 (i32.const 2)))",
        "(block (loop (br_if 1 (i32.eqz (i32.const 1))) br 0))",
    ];
    for body in loops {
        let wat = format!(r#"(module (func (export "run") {body}))"#);
        let (mut store, i) = instantiate(&engine, limits(), &wat);
        let call = run(&mut store, i.unwrap(), "run", &[]);
        assert_eq!(trap_code(&call), Some(TrapCode::OutOfGas), "{body}");
    }
    // A tail call to itself runs in constant stack: it too ends by gas, not depth.
    let (mut store, i) = instantiate(&engine, limits(), r#"(module (func $f (export "run") return_call $f))"#);
    assert_eq!(trap_code(&run(&mut store, i.unwrap(), "run", &[])), Some(TrapCode::OutOfGas));
}

#[test]
fn unbounded_recursion_hits_the_depth_limit() {
    let engine = engine();
    let cases = [
        r#"(module (func $f (export "run") call $f))"#,
        r#"(module (func $a (export "run") call $b) (func $b call $a))"#,
        r#"(module (type $t (func)) (table funcref (elem $f))
             (func $f (export "run") (call_indirect (type $t) (i32.const 0))))"#,
        // With a host call in every frame.
        r#"(module (import "host" "ping" (func $p (param i32) (result i32)))
             (func $f (export "run") (drop (call $p (i32.const 1))) call $f))"#,
    ];
    for wat in cases {
        let (mut store, i) = instantiate(&engine, limits(), wat);
        let call = run(&mut store, i.unwrap(), "run", &[]);
        assert_eq!(trap_code(&call), Some(TrapCode::CallStackExhausted), "{wat}");
        assert!(call.gas.consumed < GAS);
    }
}

/// A function with `n` `i64` locals all live across its recursive call, so each frame holds
/// them: `f(x) = f(x - 1) + n·x`. Each local starts with a load (memory is zero), which the
/// compiler may not move past the call, so it cannot recompute them after it.
fn huge_frame(n: usize) -> String {
    let mut body = String::from("(if (i32.eqz (local.get 0)) (then (return (i64.const 0))))\n");
    for l in 1..=n {
        body.push_str(&format!(
            "(local.set {l} (i64.add (i64.load offset={} (i32.const 0)) (i64.extend_i32_u (local.get 0))))\n",
            8 * l
        ));
    }
    body.push_str("(call $f (i32.sub (local.get 0) (i32.const 1)))\n");
    for l in 1..=n {
        body.push_str(&format!("(local.get {l}) i64.add\n"));
    }
    format!(
        r#"(module (memory 1) (func $f (export "run") (param i32) (result i64) (local {}) {body}))"#,
        vec!["i64"; n].join(" ")
    )
}

#[test]
fn recursion_with_huge_frames_is_refused_or_hits_the_depth_limit() {
    let wat = huge_frame(1_000);
    // 10,000 frames of at least 8 KB need more than 64 MiB of stack: refused before any is
    // reserved, naming the sizes.
    let mut config = Config::default();
    config.max_wasm_stack(64 * MIB as usize);
    let (store, i) = instantiate(&engine_with(config.clone()), limits(), &wat);
    let e = i.unwrap_err();
    assert!(matches!(e, RuntimeError::ResourceLimit(ref m) if m.contains("stack")), "{e}");
    assert_eq!(store.resource_usage().instances, 0);
    // At 200 frames it fits, and recursing deeper traps at the depth limit.
    config.max_call_depth(200);
    let (mut store, i) = instantiate(&engine_with(config), limits(), &wat);
    let i = i.unwrap();
    assert_eq!(run(&mut store, i, "run", &[Value::I32(100)]).result.unwrap(), [Value::I64(1_000 * (100 * 101 / 2))]);
    let call = run(&mut store, i, "run", &[Value::I32(1_000_000)]);
    assert_eq!(trap_code(&call), Some(TrapCode::CallStackExhausted));
}

#[test]
fn memory_growth_bombs_stop_at_the_store_limit() {
    let engine = engine();
    let (mut store, i) = instantiate(
        &engine,
        limits(),
        r#"(module (memory (export "m") 1)
             (func (export "run") (result i32)
               (loop (br_if 0 (i32.ne (memory.grow (i32.const 1)) (i32.const -1))))
               memory.size)
             (func (export "big") (result i32) (memory.grow (i32.const 65535))))"#,
    );
    let i = i.unwrap();
    // One page at a time up to 64 MiB, then -1: the loop ends with 1,024 pages.
    let call = run(&mut store, i, "run", &[]);
    assert_eq!(call.result.unwrap(), [Value::I32(1_024)]);
    assert_eq!(store.resource_usage().memory_bytes, 64 * MIB);
    assert_eq!(store.stats().limit_refusals, 1);
    assert_eq!(run(&mut store, i, "big", &[]).result.unwrap(), [Value::I32(-1)]);
    // Grown, never written: not resident.
    let m = i.get_memory(&store, "m").unwrap();
    assert_eq!(resident_pages(&m.data(&store).unwrap()[WASM_PAGE_SIZE as usize..]), 0);
}

#[test]
fn table_growth_bombs_stop_at_the_store_limit() {
    let engine = engine();
    // Half a million elements (5,000,000 gas of growth at 10 per element, within the budget).
    let (mut store, i) = instantiate(
        &engine,
        StoreLimits { table_elements: 500_000, ..limits() },
        r#"(module (table 0 funcref) (table 0 externref)
             (func (export "run") (result i32)
               (loop (br_if 0 (i32.ne (table.grow 0 (ref.null func) (i32.const 100000)) (i32.const -1))))
               (table.grow 1 (ref.null extern) (i32.const 1))
               drop
               table.size 0))"#,
    );
    // Five grows of 100,000 reach the limit exactly; the sixth, and then one element in the
    // other table, are -1.
    let call = run(&mut store, i.unwrap(), "run", &[]);
    assert_eq!(call.result.unwrap(), [Value::I32(500_000)]);
    assert_eq!(store.resource_usage().table_elements, 500_000);
    assert_eq!(store.stats().limit_refusals, 2);
    assert_eq!(store.stats().last_refusal.map(|r| r.requested), Some(500_001));
}

#[test]
fn declared_bombs_are_refused_before_anything_is_allocated() {
    let engine = engine();
    // The issue's 16 tables of ten million elements (1.2 GiB), under the corpus's limits and
    // under the runtime's defaults.
    let tables = format!("(module {})", "(table 10000000 funcref) ".repeat(16));
    // The first limit passed is named: the corpus's four tables, the default ten million
    // elements.
    let refusals = [
        (limits(), LimitExceeded { resource: Resource::Tables, limit: 4, requested: 16 }),
        (
            StoreLimits::default(),
            LimitExceeded { resource: Resource::TableElements, limit: 10_000_000, requested: 160_000_000 },
        ),
    ];
    for (limits, refusal) in refusals {
        let (store, i) = instantiate(&engine, limits, &tables);
        assert_eq!(store_limit(i.unwrap_err()), refusal);
        assert_eq!(store.resource_usage().table_elements, 0);
    }
    // A 65,536-page memory: refused in 64 MiB, admitted (reserved, not touched) by default.
    let memory =
        r#"(module (memory (export "m") 65536) (func (export "grow") (result i32) (memory.grow (i32.const 1))))"#;
    let (_, i) = instantiate(&engine, limits(), memory);
    let e = store_limit(i.unwrap_err());
    assert_eq!((e.resource, e.requested), (Resource::MemoryBytes, 4 << 30));
    let (mut store, i) = instantiate(&engine, StoreLimits::default(), memory);
    let i = i.unwrap();
    assert_eq!(store.resource_usage().memory_bytes, 4 << 30);
    assert_eq!(resident_pages(i.get_memory(&store, "m").unwrap().data(&store).unwrap()), 0);
    assert_eq!(run(&mut store, i, "grow", &[]).result.unwrap(), [Value::I32(-1)]);
    // Instances, one past the count.
    let module = Module::new(&engine, wes_decode::decode_text("(module (memory 1))").unwrap()).unwrap();
    let mut store = Store::new(&engine);
    store.set_limits(limits());
    for _ in 0..4 {
        linker().instantiate(&mut store, &module).unwrap();
    }
    let e = store_limit(linker().instantiate(&mut store, &module).unwrap_err());
    assert_eq!((e.resource, e.limit, e.requested), (Resource::Instances, 4, 5));
}

#[test]
fn huge_bulk_operations_are_paid_for_before_they_touch_anything() {
    let engine = engine();
    let (mut store, i) = instantiate(
        &engine,
        StoreLimits::default(),
        r#"(module (memory (export "m") 65536) (table 1000000 funcref)
             (func (export "fill") (memory.fill (i32.const 0) (i32.const 1) (i32.const -1)))
             (func (export "copy") (memory.copy (i32.const 1) (i32.const 0) (i32.const -1)))
             (func (export "past") (memory.fill (i32.const 2) (i32.const 1) (i32.const -1)))
             (func (export "tfill") (table.fill (i32.const 0) (ref.null func) (i32.const 1000000)))
             (func (export "tpast") (table.fill (i32.const 1) (ref.null func) (i32.const 1000000))))"#,
    );
    let i = i.unwrap();
    // 4 GiB - 1 bytes at 1 gas each: out of gas before a byte is written.
    for name in ["fill", "copy"] {
        let call = run(&mut store, i, name, &[]);
        assert_eq!(trap_code(&call), Some(TrapCode::OutOfGas), "{name}");
    }
    assert_eq!(trap_code(&run(&mut store, i, "past", &[])), Some(TrapCode::MemoryOutOfBounds));
    assert_eq!(resident_pages(i.get_memory(&store, "m").unwrap().data(&store).unwrap()), 0);
    // A million table elements at 2 gas each fit the budget; one past the end traps.
    assert!(run(&mut store, i, "tfill", &[]).result.is_ok());
    assert_eq!(trap_code(&run(&mut store, i, "tpast", &[])), Some(TrapCode::TableOutOfBounds));
}

#[test]
fn data_segments_at_the_edge_of_memory() {
    let engine = engine();
    let fits = [r#"(memory 1) (data (i32.const 65535) "x")"#, r#"(memory 1) (data (i32.const 65536) "")"#];
    for m in fits {
        let (_, i) = instantiate(&engine, limits(), &format!("(module {m})"));
        assert!(i.is_ok(), "{m}");
    }
    let past = [
        r#"(memory 1) (data (i32.const 65535) "xy")"#,
        r#"(memory 1) (data (i32.const -1) "")"#,
        r#"(memory 0) (data (i32.const 0) "x")"#,
    ];
    for m in past {
        let (_, i) = instantiate(&engine, limits(), &format!("(module {m})"));
        let e = i.unwrap_err();
        assert_eq!(e.as_trap().map(|t| t.code), Some(TrapCode::MemoryOutOfBounds), "{m}");
    }
    // The last byte of a 4 GiB memory: written, and only its page (its huge page at most) is
    // resident.
    let (store, i) = instantiate(
        &engine,
        StoreLimits::default(),
        r#"(module (memory (export "m") 65536) (data (i32.const -1) "z"))"#,
    );
    let i = i.unwrap();
    let data = i.get_memory(&store, "m").unwrap().data(&store).unwrap();
    assert_eq!(data[(4 << 30) - 1], b'z');
    assert!((1..=512).contains(&resident_pages(data)));
}

#[test]
fn host_call_floods_run_out_of_gas() {
    let engine = engine();
    let (mut store, i) = instantiate(
        &engine,
        limits(),
        r#"(module (import "host" "ping" (func $p (param i32) (result i32)))
             (func (export "run") (loop (drop (call $p (i32.const 1))) br 0)))"#,
    );
    let call = run(&mut store, i.unwrap(), "run", &[]);
    assert_eq!(trap_code(&call), Some(TrapCode::OutOfGas));
    // Each call costs at least the host-call base cost (50), so the budget bounds the flood.
    let calls = store.stats().host_calls;
    assert!(calls > 0 && calls <= GAS / Pricing::default().host_call_cost(), "{calls} host calls");
}
