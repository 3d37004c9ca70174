//! The harness must see a difference when there is one: engines that really differ (NaN
//! canonicalisation on and off) diverge, on a result and on memory alone, and the divergence
//! names the export and both outcomes.

use std::sync::Arc;

use wes_difftest::{compare, engine_config, standard_engines};
use wes_jit::{Jit, JitConfig};
use wes_meter::Pricing;
use wes_runtime::Engine;

fn metered(pricing: &Arc<Pricing>, jit: JitConfig) -> Engine {
    let mut config = engine_config();
    config.pricing(Some(pricing.clone()));
    Engine::new(config, Arc::new(Jit::with_config(JitConfig { pricing: Some(pricing.clone()), ..jit }).unwrap()))
}

/// `f32.add` of a NaN with a payload: canonicalised to 0x7fc00000, or left with its payload.
const NAN_RESULT: &str = r#"(module
    (func (export "same") (result i32) (i32.const 7))
    (func (export "nan") (result f32) (f32.add (f32.const nan:0x200001) (f32.const 1))))"#;

/// The same NaN, only stored: the results agree and the memory does not.
const NAN_STORED: &str = r#"(module
    (memory (export "mem") 1)
    (func (export "store") (f32.store (i32.const 8) (f32.add (f32.const nan:0x200001) (f32.const 1)))))"#;

#[test]
fn engines_that_differ_on_nan_bits_diverge_on_the_result_and_on_memory() {
    let pricing = Arc::new(Pricing::default());
    let canonical = metered(&pricing, JitConfig::default());
    let raw = metered(&pricing, JitConfig { nan_canonicalization: false, ..JitConfig::default() });
    let engines = [("canonical", canonical), ("raw", raw)];

    let bytes = wat::parse_str(NAN_RESULT).unwrap();
    let d = compare(&bytes, &engines).unwrap_err();
    assert_eq!(d.engines, ["canonical".to_string(), "raw".to_string()]);
    assert!(d.at.contains("\"nan\""), "{d}");
    assert!(d.what.contains("outcome"), "{d}");
    assert!(d.outcomes[0].contains(&format!("F32({})", 0x7fc0_0000u32)), "{d}");
    assert!(!d.outcomes[1].contains(&format!("F32({})", 0x7fc0_0000u32)), "{d}");

    let bytes = wat::parse_str(NAN_STORED).unwrap();
    let d = compare(&bytes, &engines).unwrap_err();
    assert!(d.at.contains("\"store\"") && d.what.contains("state hash"), "{d}");
}

#[test]
fn the_standard_engines_agree_on_these_modules_and_count_what_they_ran() {
    let engines = standard_engines().unwrap();
    let summary = compare(&wat::parse_str(NAN_RESULT).unwrap(), &engines).unwrap();
    assert_eq!((summary.modules, summary.instantiated, summary.calls, summary.returned), (1, 1, 2, 2));
    assert_eq!(summary.pairs_compared, engines.len() as u64 - 1);
    // Each call reruns under its exact gas, one less, a half, a seventh and 1 (fewer when
    // these coincide); all but the exact one run out of gas.
    assert!(summary.tight_runs >= 4 && summary.tight_out_of_gas == summary.tight_runs - 2, "{summary:?}");
    // Both calls on each unmetered engine (the JIT's, with guard regions and with explicit
    // bounds checks, and the interpreter's).
    let unmetered = engines.iter().filter(|(name, _)| name.ends_with("unmetered")).count() as u64;
    assert_eq!(unmetered, 3);
    assert_eq!(summary.unmetered_calls, 2 * unmetered);
}

#[test]
fn a_call_that_loops_forever_runs_out_of_gas_and_is_not_run_unmetered() {
    let engines = standard_engines().unwrap();
    let wat = r#"(module
        (global $g (export "g") (mut i32) (i32.const 0))
        (func (export "first") (global.set $g (i32.const 1)))
        (func (export "spin") (loop $l (br $l)))
        (func (export "after") (result i32) (global.get $g)))"#;
    let summary = compare(&wat::parse_str(wat).unwrap(), &engines).unwrap();
    assert_eq!((summary.calls, summary.trap_count("OutOfGas"), summary.returned), (3, 1, 2));
    // Each unmetered engine (the two JIT engines and the interpreter's) ran only the call
    // before the endless one.
    assert_eq!(summary.unmetered_calls, 3);
}

#[test]
fn gas_is_compared_only_under_the_same_pricing() {
    let default = Arc::new(Pricing::default());
    let mut table = wes_meter::PricingTable::default();
    table.call += 1000;
    let dearer = Arc::new(Pricing::new(table).unwrap());
    let engines =
        [("default", metered(&default, JitConfig::default())), ("dearer", metered(&dearer, JitConfig::default()))];
    let wat = r#"(module (func $f (result i32) (i32.const 1)) (func (export "run") (result i32) (call $f)))"#;
    let summary = compare(&wat::parse_str(wat).unwrap(), &engines).unwrap();
    assert_eq!((summary.calls, summary.returned, summary.pairs_compared), (1, 1, 1));
}
