//! The executed-operator count is the same on every backend: the JIT (merged and unmerged
//! checks), the interpreter and a tiered module, metered and unmetered, and at the point where
//! a call runs out of gas.

use std::sync::Arc;

use wes_core::{Backend, Value};
use wes_interp::{InterpConfig, Interpreter};
use wes_meter::Pricing;
use wes_runtime::{Config, Engine, Linker, Module, RuntimeError, Store, Tiered};

use crate::differential::{CASES, PROGRAMS};

#[derive(Clone, Copy, Debug)]
enum Counting {
    Jit { merge: bool },
    Interp,
    Tiered,
}

/// An engine of `kind`, and the tiered backend when it is one (to wait for the upper tier).
fn engine(kind: Counting, metered: bool) -> (Engine, Option<Arc<Tiered>>) {
    let pricing = metered.then(|| Arc::new(Pricing::default()));
    let jit = |merge| -> Arc<dyn Backend> {
        Arc::new(
            wes_jit::Jit::with_config(wes_jit::JitConfig {
                pricing: pricing.clone(),
                merge_gas_checks: merge,
                count_operators: true,
                ..Default::default()
            })
            .unwrap(),
        )
    };
    let interp: Arc<dyn Backend> = Arc::new(Interpreter::new(InterpConfig {
        pricing: pricing.clone(),
        count_operators: true,
        ..Default::default()
    }));
    let tiered = matches!(kind, Counting::Tiered).then(|| Arc::new(Tiered::new(interp.clone(), jit(true), 8 << 10)));
    let backend: Arc<dyn Backend> = match (kind, &tiered) {
        (Counting::Jit { merge }, _) => jit(merge),
        (_, Some(t)) => t.clone(),
        _ => interp,
    };
    let mut config = Config::default();
    config.pricing(pricing).count_operators(true);
    (Engine::new(config, backend), tiered)
}

/// The outcome, gas and operator count of `name` under `limit`.
fn count(kind: Counting, metered: bool, name: &str, args: &[Value], limit: u64) -> (String, u64, u64) {
    let (engine, tiered) = engine(kind, metered);
    let module = Module::new(&engine, wes_decode::decode_text(PROGRAMS).unwrap()).unwrap();
    if let Some(t) = tiered {
        // Calls run the JIT's code once it is ready: the switch must not change the count.
        t.wait_idle();
        assert_eq!(Tiered::state(module.compiled().as_ref()), Some(wes_runtime::TierState::Ready));
    }
    let mut store = Store::new(&engine);
    let instance = Linker::new().instantiate(&mut store, &module).unwrap();
    let f = instance.get_func(&store, name).unwrap();
    let r = f.call_with_gas(&mut store, args, limit);
    let outcome = match r.result {
        Ok(v) => format!("{v:?}"),
        Err(RuntimeError::Trap(t)) => format!("{t}"),
        Err(e) => format!("error {e}"),
    };
    assert_eq!(r.operators, store.stats().operators_executed);
    (outcome, r.gas.used(), r.operators)
}

const KINDS: &[Counting] =
    &[Counting::Jit { merge: true }, Counting::Jit { merge: false }, Counting::Interp, Counting::Tiered];

#[test]
fn every_backend_counts_the_same_operators() {
    for metered in [true, false] {
        for (name, args) in CASES {
            let reference = count(KINDS[0], metered, name, args, u64::MAX / 2);
            assert!(reference.2 > 0, "{name}: something was counted");
            for kind in &KINDS[1..] {
                let other = count(*kind, metered, name, args, u64::MAX / 2);
                assert_eq!(reference, other, "{name}{args:?} metered={metered} {kind:?}");
            }
        }
    }
}

#[test]
fn every_backend_counts_the_same_operators_when_gas_runs_out() {
    for (name, args) in CASES {
        let (_, used, _) = count(KINDS[0], true, name, args, u64::MAX / 2);
        for limit in [0, 1, used / 3, used / 2, used.saturating_sub(1)] {
            let reference = count(KINDS[0], true, name, args, limit);
            for kind in &KINDS[1..] {
                let other = count(*kind, true, name, args, limit);
                assert_eq!(reference, other, "{name}{args:?} limit {limit} {kind:?}");
            }
        }
    }
}
