//! Snapshots: a round trip into a second engine continues with identical results and gas;
//! corrupt and mismatched snapshots are refused with a typed error and change nothing.

use std::sync::Arc;

use wes_core::{TrapCode, Value};
use wes_lifecycle::{LifecycleError, Snapshot, SnapshotFormatError};
use wes_runtime::{Config, Engine, Func, HostFunc, Instance, Linker, Module, RuntimeError, SnapshotError, Store};

/// Every kind of state: memory written and grown, mutable globals of three types, a table
/// filled at run time from a passive element segment that is then dropped, a dropped data
/// segment, and a `call_indirect` whose target depends on all of it.
const WAT: &str = r#"(module
  (type $t (func (result i32)))
  (memory 1 4)
  (data $d "\01\02\03\04")
  (data (i32.const 100) "hello")
  (table $tab 4 funcref)
  (elem $e func $a $b)
  (elem (i32.const 0) $a)
  (global $n (mut i32) (i32.const 0))
  (global $acc (mut i64) (i64.const 7))
  (global $f (mut f64) (f64.const 1.5))
  (func $a (result i32) i32.const 10)
  (func $b (result i32) i32.const 20)
  (func (export "step") (result i64)
    (global.set $n (i32.add (global.get $n) (i32.const 1)))
    (if (i32.eq (global.get $n) (i32.const 1))
      (then
        (table.init $tab $e (i32.const 1) (i32.const 0) (i32.const 2))
        (elem.drop $e)
        (memory.init $d (i32.const 200) (i32.const 0) (i32.const 4))
        (data.drop $d)
        (drop (memory.grow (i32.const 1)))))
    (i64.store (i32.add (i32.const 65536) (i32.mul (global.get $n) (i32.const 8))) (global.get $acc))
    (global.set $acc
      (i64.add (i64.mul (global.get $acc) (i64.const 31))
        (i64.extend_i32_u
          (i32.add (call_indirect (type $t) (i32.rem_u (global.get $n) (i32.const 3)))
                   (i32.load (i32.const 200))))))
    (global.set $f (f64.mul (global.get $f) (f64.const 1.25)))
    (i64.add (global.get $acc) (i64.load (i32.const 65544))))
  (func (export "f") (result f64) (global.get $f))
  (func (export "size") (result i32) (memory.size))
  (func (export "reinit_table") (table.init $tab $e (i32.const 0) (i32.const 0) (i32.const 1)))
  (func (export "reinit_memory") (memory.init $d (i32.const 0) (i32.const 0) (i32.const 1))))"#;

/// A metered engine with its own JIT: the "second engine" is a separate one.
fn metered_engine() -> Engine {
    let pricing = Arc::new(wes_meter::Pricing::new(wes_meter::PricingTable::default()).unwrap());
    let jit =
        wes_jit::Jit::with_config(wes_jit::JitConfig { pricing: Some(pricing.clone()), ..Default::default() }).unwrap();
    let mut config = Config::default();
    config.pricing(Some(pricing));
    Engine::new(config, Arc::new(jit))
}

fn plain_engine() -> Engine {
    Engine::new(Config::default(), Arc::new(wes_jit::Jit::new().unwrap()))
}

struct Running {
    module: Module,
    store: Store,
    instance: Instance,
}

fn start(engine: &Engine, wat: &str, gas: u64) -> Running {
    let module = Module::new(engine, wes_decode::decode_text(wat).unwrap()).unwrap();
    let mut store = Store::new(engine);
    store.set_meter(Box::new(wes_meter::BasicMeter::new(gas)));
    let instance = Linker::new().instantiate(&mut store, &module).unwrap();
    Running { module, store, instance }
}

impl Running {
    fn call(&mut self, name: &str) -> Result<Vec<Value>, RuntimeError> {
        let f = self.instance.get_func(&self.store, name).unwrap();
        f.call(&mut self.store, &[])
    }

    fn remaining(&self) -> u64 {
        self.store.meter().unwrap().remaining()
    }

    fn snapshot(&self) -> Snapshot {
        Snapshot::capture(&self.store, &self.instance, &self.module).unwrap()
    }
}

fn trap_code(r: Result<Vec<Value>, RuntimeError>) -> TrapCode {
    match r {
        Err(RuntimeError::Trap(t)) => t.code,
        other => panic!("expected a trap, got {other:?}"),
    }
}

#[test]
fn a_restored_instance_continues_with_the_same_results_and_gas_in_a_second_engine() {
    let mut a = start(&metered_engine(), WAT, 20_000);
    for _ in 0..3 {
        a.call("step").unwrap();
    }
    let bytes = a.snapshot().encode();

    // Another engine (its own JIT, its own signature ids and memory mappings), a fresh instance.
    // Its own gas is replaced by the snapshot's.
    let mut b = start(&metered_engine(), WAT, 1_000_000);
    Snapshot::decode(&bytes).unwrap().restore(&mut b.store, &b.instance, &b.module).unwrap();
    assert_eq!(b.remaining(), a.remaining());
    assert_eq!(b.call("size").unwrap(), a.call("size").unwrap());
    // Step on until the gas runs out: every result and every remaining-gas figure agrees, and
    // both run out at the same call.
    let mut steps = 0;
    loop {
        let (ra, rb) = (a.call("step"), b.call("step"));
        assert_eq!(a.remaining(), b.remaining(), "after step {steps}");
        match (ra, rb) {
            (Ok(x), Ok(y)) => assert_eq!(x, y, "step {steps}"),
            (x, y) => {
                assert_eq!(trap_code(x), TrapCode::OutOfGas);
                assert_eq!(trap_code(y), TrapCode::OutOfGas);
                break;
            }
        }
        steps += 1;
    }
    assert!(steps > 10, "the budget allows several steps: {steps}");
    // The dropped segments are dropped in both.
    a.store.set_meter(Box::new(wes_meter::BasicMeter::new(1000)));
    b.store.set_meter(Box::new(wes_meter::BasicMeter::new(1000)));
    assert_eq!(a.call("f").unwrap(), b.call("f").unwrap());
    for export in ["reinit_table", "reinit_memory"] {
        let (x, y) = (trap_code(a.call(export)), trap_code(b.call(export)));
        assert_eq!(x, y, "{export}");
        assert!(matches!(x, TrapCode::TableOutOfBounds | TrapCode::MemoryOutOfBounds), "{export}: {x:?}");
    }
}

#[test]
fn a_restore_rewrites_a_used_instance_completely() {
    let engine = plain_engine();
    let mut a = start(&engine, WAT, 100_000);
    a.call("step").unwrap();
    let early = a.snapshot();
    let expected: Vec<_> = (0..4).map(|_| a.call("step").unwrap()).collect();
    // Restoring the early state into the same, further-run instance replays the same steps.
    early.restore(&mut a.store, &a.instance, &a.module).unwrap();
    let again: Vec<_> = (0..4).map(|_| a.call("step").unwrap()).collect();
    assert_eq!(again, expected);
    // A snapshot taken twice of the same state is the same bytes.
    assert_eq!(a.snapshot().encode(), a.snapshot().encode());
}

#[test]
fn corrupt_snapshots_are_refused() {
    let mut a = start(&plain_engine(), WAT, 100_000);
    a.call("step").unwrap();
    let bytes = a.snapshot().encode();
    for cut in (0..bytes.len()).step_by(7).chain([bytes.len() - 1]) {
        let e = Snapshot::decode(&bytes[..cut]).unwrap_err();
        assert!(
            matches!(
                e,
                SnapshotFormatError::NotASnapshot
                    | SnapshotFormatError::Truncated { .. }
                    | SnapshotFormatError::Checksum
            ),
            "cut at {cut}: {e}"
        );
    }
    for i in (0..bytes.len()).step_by(5) {
        let mut bad = bytes.clone();
        bad[i] ^= 1 << (i % 8);
        let e = Snapshot::decode(&bad).unwrap_err();
        let ok = match i {
            0..8 => e == SnapshotFormatError::NotASnapshot,
            8..12 => matches!(e, SnapshotFormatError::Version { .. }),
            _ => e == SnapshotFormatError::Checksum,
        };
        assert!(ok, "flip at {i}: {e}");
    }
    let mut newer = bytes.clone();
    newer[8] = 2;
    assert_eq!(Snapshot::decode(&newer).unwrap_err(), SnapshotFormatError::Version { found: 2, expected: 1 });
}

#[test]
fn mismatched_snapshots_are_refused_and_change_nothing() {
    let mut a = start(&plain_engine(), WAT, 100_000);
    a.call("step").unwrap();
    let snap = a.snapshot();

    // Another module.
    let other = WAT.replace("(i64.const 31)", "(i64.const 37)");
    let mut b = start(&plain_engine(), &other, 100_000);
    let before = b.snapshot();
    let e = snap.restore(&mut b.store, &b.instance, &b.module).unwrap_err();
    assert!(matches!(e, LifecycleError::Snapshot(SnapshotFormatError::ModuleMismatch { .. })), "{e}");

    // Another pricing (metered against unmetered).
    let mut m = start(&metered_engine(), WAT, 100_000);
    let e = snap.restore(&mut m.store, &m.instance, &m.module).unwrap_err();
    assert!(matches!(e, LifecycleError::Snapshot(SnapshotFormatError::PricingMismatch { .. })), "{e}");

    // The right module, but a state whose shape does not fit (as a forged or buggy writer
    // would make): refused by the runtime before anything is written.
    let mut c = start(&plain_engine(), WAT, 100_000);
    let fresh = c.snapshot();
    let mut bad = snap.clone();
    bad.state.tables[0].push(wes_runtime::RefState::Func(99));
    bad.state.tables[0].truncate(4);
    bad.state.tables[0][3] = wes_runtime::RefState::Func(99);
    let e = bad.restore(&mut c.store, &c.instance, &c.module).unwrap_err();
    assert!(matches!(e, LifecycleError::Runtime(RuntimeError::Snapshot(SnapshotError::Mismatch { .. }))), "{e}");
    let mut bad = snap.clone();
    bad.state.memories[0].pages = 5;
    let e = bad.restore(&mut c.store, &c.instance, &c.module).unwrap_err();
    assert!(e.to_string().contains("memory 0 pages"), "{e}");
    let mut bad = snap.clone();
    bad.state.globals[1].1 = wes_runtime::ValueState::F64(0);
    let e = bad.restore(&mut c.store, &c.instance, &c.module).unwrap_err();
    assert!(e.to_string().contains("global 1 type"), "{e}");
    let mut bad = snap.clone();
    bad.state.memories[0].runs.push((u64::MAX - 1, vec![1, 2, 3]));
    assert!(bad.restore(&mut c.store, &c.instance, &c.module).is_err());
    // Nothing was written by any refusal.
    assert_eq!(c.snapshot(), fresh);
    assert_eq!(b.snapshot(), before);
}

#[test]
fn a_function_the_instance_cannot_name_cannot_be_captured() {
    // A host function the module does not import, put into its (exported) table by the host.
    let wat = WAT.replace("(table $tab 4 funcref)", "(table $tab (export \"tab\") 4 funcref)");
    let mut b = start(&plain_engine(), &wat, 100_000);
    let host =
        HostFunc::wrap(|_: &mut wes_runtime::Caller<'_>, (): ()| -> Result<i32, wes_runtime::HostError> { Ok(1) });
    let f2 = Func::from_host(&mut b.store, &host);
    let table = match b.instance.get_export(&b.store, "tab").unwrap() {
        wes_runtime::Extern::Table(t) => t,
        other => panic!("not a table: {other:?}"),
    };
    table.set(&mut b.store, 2, Value::FuncRef(Some(f2.to_funcref()))).unwrap();
    let e = Snapshot::capture(&b.store, &b.instance, &b.module).unwrap_err();
    assert!(
        matches!(e, LifecycleError::Runtime(RuntimeError::Snapshot(SnapshotError::Unrepresentable(ref w))) if w.contains("table 0 element 2")),
        "{e}"
    );
}
