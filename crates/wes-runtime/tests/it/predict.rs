//! The predictor against measured gas: static bounds hold (and are exact for straight-line
//! code), and history-based estimates are close on a workload whose gas grows with its input.

use std::sync::Arc;

use wes_core::Value;
use wes_jit::JitConfig;
use wes_meter::{CallHistory, Pricing, ResourcePredictor, WorstCase};
use wes_runtime::{Config, Linker, Module, Store};

const WAT: &str = r#"(module
  (func $sq (param i32) (result i32) (i32.mul (local.get 0) (local.get 0)))
  (func (export "straight") (param i32) (result i32) (i32.add (local.get 0) (i32.const 1)))
  (func (export "branchy") (param i32) (result i32)
    (if (result i32) (local.get 0)
      (then (call $sq (i32.add (local.get 0) (i32.const 3))))
      (else (i32.const 0))))
  (func (export "calls") (param i32) (result i32) (call $sq (call $sq (local.get 0))))
  (func (export "sum") (param $n i32) (result i64) (local $acc i64)
    (block $done
      (loop $l
        (br_if $done (i32.eqz (local.get $n)))
        (local.set $acc (i64.add (local.get $acc) (i64.extend_i32_u (local.get $n))))
        (local.set $n (i32.sub (local.get $n) (i32.const 1)))
        (br $l)))
    (local.get $acc)))"#;

struct Fixture {
    store: Store,
    instance: wes_runtime::Instance,
    predictor: ResourcePredictor,
    module: wes_core::Module,
}

fn fixture() -> Fixture {
    let pricing = Arc::new(Pricing::default());
    let engine = crate::metered_engine(&pricing, JitConfig::default(), Config::default());
    let module = wes_decode::decode_text(WAT).unwrap();
    let predictor = ResourcePredictor::analyze(&module, &pricing).unwrap();
    let compiled = Module::new(&engine, module.clone()).unwrap();
    let mut store = Store::new(&engine);
    let instance = Linker::new().instantiate(&mut store, &compiled).unwrap();
    Fixture { store, instance, predictor, module }
}

impl Fixture {
    fn gas(&mut self, export: &str, arg: i32) -> u64 {
        let f = self.instance.get_func(&self.store, export).unwrap();
        let r = f.call_with_gas(&mut self.store, &[Value::I32(arg)], 1 << 40);
        r.result.unwrap();
        r.gas.consumed
    }

    fn index(&self, export: &str) -> u32 {
        self.module.exports.iter().find(|e| e.name == export).unwrap().index
    }
}

#[test]
fn static_bounds_hold_and_are_exact_for_straight_line_code() {
    let mut f = fixture();
    let straight = f.index("straight");
    let measured = f.gas("straight", 5);
    assert_eq!(f.predictor.worst_case(straight), Some(&WorstCase::Bounded(measured)));
    for export in ["branchy", "calls"] {
        let Some(WorstCase::Bounded(bound)) = f.predictor.worst_case(f.index(export)).cloned() else {
            panic!("{export} has no loop, recursion or indirect call: it must be bounded");
        };
        for arg in [0, 1, -4, 1000] {
            let measured = f.gas(export, arg);
            assert!(measured <= bound, "{export}({arg}) used {measured} > bound {bound}");
        }
    }
    // `calls` takes its only path: the bound is exact.
    let calls = f.index("calls");
    let measured = f.gas("calls", 3);
    assert_eq!(f.predictor.worst_case(calls), Some(&WorstCase::Bounded(measured)));
    assert!(matches!(f.predictor.worst_case(f.index("sum")), Some(WorstCase::Unbounded(_))));
    // Each segment's exact cost sums to a full pass over the straight-line function.
    let segs = f.predictor.segments(straight).unwrap();
    assert_eq!(segs.total(), f.gas("straight", 0));
}

#[test]
fn history_estimates_track_gas_that_grows_with_the_input() {
    let mut f = fixture();
    let mut history = CallHistory::new();
    for n in [3, 40, 150, 600] {
        let gas = f.gas("sum", n);
        history.record("sum", n as u64, gas);
    }
    let mut worst = 0.0f64;
    for n in [1, 77, 1000, 5000] {
        let measured = f.gas("sum", n) as f64;
        let estimate = history.estimate("sum", n as u64).unwrap() as f64;
        let error = (estimate - measured).abs() / measured;
        worst = worst.max(error);
    }
    // sum(n) costs exactly a + b·n, so a line through earlier calls predicts it to rounding.
    assert!(worst < 0.001, "worst relative error {worst}");
}
