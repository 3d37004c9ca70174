//! Integration tests of the `wes` facade, in one binary.
#![allow(clippy::panic, clippy::unwrap_used, clippy::expect_used, reason = "tests fail by panicking")]

mod config;
mod encoding;
mod errors;
mod execute;
mod pool;
mod prediction;
mod security;

use wes::{Runtime, RuntimeConfig};

/// A runtime with the default configuration.
pub(crate) fn runtime() -> Runtime {
    Runtime::new(RuntimeConfig::default()).unwrap()
}

/// A runtime and its modules are shared between threads; an instance moves between them.
#[test]
fn runtimes_are_shared_and_instances_sent_between_threads() {
    fn shared<T: Send + Sync>() {}
    fn sent<T: Send>() {}
    shared::<Runtime>();
    shared::<wes::LoadedModule>();
    sent::<wes::Instance>();
    sent::<wes::RuntimeError>();

    let rt = runtime();
    let m =
        rt.load(br#"(module (func (export "f") (param i32) (result i32) local.get 0 i32.const 1 i32.add))"#).unwrap();
    std::thread::scope(|s| {
        for t in 0..2 {
            let (rt, m) = (&rt, &m);
            s.spawn(move || {
                for k in 0..50 {
                    let mut i = rt.create_instance(m, rt.gas_meter(1_000)).unwrap();
                    let r = i.execute("f", &[wes::Value::I32(t * 100 + k)]).unwrap();
                    assert_eq!(r.values, [wes::Value::I32(t * 100 + k + 1)]);
                }
            });
        }
    });
    assert_eq!(rt.metrics().calls, 100);
}
