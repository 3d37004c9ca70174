//! A gated host function (`HostFunc::wrap_gated`) called every way a store can call it —
//! directly, through a table, by a tail call — on every engine: while its gate is open the
//! check never runs, closed it runs before every call, and a refusing check traps the call;
//! switching the gate reaches a store between two calls, and the gas is the same on every
//! metered engine whatever the gate's state.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};

use wes_core::Value;
use wes_difftest::standard_engines;
use wes_runtime::{Caller, HostError, HostFunc, Linker, Store};

const MODULE: &str = r#"(module
  (import "env" "inc" (func $inc (param i32) (result i32)))
  (table 1 funcref)
  (elem (i32.const 0) $inc)
  (type $t (func (param i32) (result i32)))
  (func (export "direct") (param i32) (result i32) (call $inc (local.get 0)))
  (func (export "indirect") (param i32) (result i32) (call_indirect (type $t) (local.get 0) (i32.const 0)))
  (func (export "tail") (param i32) (result i32) (return_call $inc (local.get 0))))"#;

struct State {
    refuse: AtomicBool,
    checks: AtomicU32,
}

#[test]
fn a_gated_host_function_checks_only_while_closed_on_every_engine() {
    let bytes = wat::parse_str(MODULE).unwrap();
    let mut gas_seen: Option<Vec<u64>> = None;
    for (name, engine) in &standard_engines().unwrap() {
        let state = Arc::new(State { refuse: AtomicBool::new(false), checks: AtomicU32::new(0) });
        let (inc, gate) = HostFunc::wrap_gated(
            Arc::clone(&state),
            |s| {
                s.checks.fetch_add(1, Ordering::Relaxed);
                match s.refuse.load(Ordering::Relaxed) {
                    true => Err(HostError::new("refused")),
                    false => Ok(()),
                }
            },
            |_, _: &mut Caller<'_>, (x,): (i32,)| -> Result<i32, HostError> { Ok(x + 1) },
        );
        let mut linker = Linker::new();
        linker.func("env", "inc", inc);
        let module = wes_runtime::Module::new(engine, wes_decode::decode(&bytes).unwrap()).unwrap();
        let metered =
            name.starts_with("jit") && !name.ends_with("unmetered") || *name == "interp" || *name == "interp-eager";
        let mut store = Store::new(engine);
        if metered {
            store.set_meter(Box::new(wes_meter::BasicMeter::new(1 << 40)));
        }
        let instance = linker.instantiate(&mut store, &module).unwrap();
        let checks = || state.checks.load(Ordering::Relaxed);
        let mut gas = Vec::new();
        let mut call = |store: &mut Store, export: &str, x: i32| {
            let f = instance.get_func(store, export).unwrap();
            let before = store.meter().map_or(0, |m| m.used());
            let result = f.call(store, &[Value::I32(x)]);
            gas.push(store.meter().map_or(0, |m| m.used()) - before);
            result
        };
        for (round, open) in [false, true, false].into_iter().enumerate() {
            assert!(gate.set(open), "{name}");
            for (i, export) in ["direct", "indirect", "tail"].into_iter().enumerate() {
                let before = checks();
                let x = (round * 3 + i) as i32;
                let got = call(&mut store, export, x).unwrap_or_else(|e| panic!("{name} {export}: {e}"));
                assert_eq!(got, [Value::I32(x + 1)], "{name} {export}");
                assert_eq!(checks() - before, u32::from(!open), "{name} {export}, gate open: {open}");
            }
        }
        state.refuse.store(true, Ordering::Relaxed);
        for export in ["direct", "indirect", "tail"] {
            let err = call(&mut store, export, 1).unwrap_err();
            assert!(err.to_string().contains("refused"), "{name} {export}: {err}");
        }
        // Open, a refusing check is not asked.
        assert!(gate.set(true));
        assert_eq!(call(&mut store, "direct", 7).unwrap(), [Value::I32(8)], "{name}");
        if metered {
            match &gas_seen {
                None => gas_seen = Some(gas),
                Some(seen) => assert_eq!(seen, &gas, "{name}: gas per call"),
            }
        }
        drop((linker, store));
        assert!(!gate.is_live(), "{name}");
    }
    assert!(gas_seen.is_some_and(|g| g.iter().all(|&g| g > 0)));
}
