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

/// Instance ids are unique in a runtime: counted up on one thread, and unique across threads
/// and across runtimes used in turn on one thread (each thread takes them in blocks).
#[test]
fn instance_ids_are_unique_across_threads_and_runtimes() {
    let (a, b) = (runtime(), runtime());
    let wat = br#"(module (func (export "f")))"#;
    let (ma, mb) = (a.load(wat).unwrap(), b.load(wat).unwrap());
    let first: Vec<u64> = (0..3).map(|_| a.create_instance(&ma, a.gas_meter(10)).unwrap().id()).collect();
    assert_eq!(first, [1, 2, 3]);
    let ids = std::sync::Mutex::new(Vec::new());
    std::thread::scope(|s| {
        for _ in 0..3 {
            s.spawn(|| {
                for _ in 0..700 {
                    let i = a.create_instance(&ma, a.gas_meter(10)).unwrap();
                    // Another runtime in between: its ids do not disturb this one's.
                    drop(b.create_instance(&mb, b.gas_meter(10)).unwrap());
                    ids.lock().unwrap().push(i.id());
                }
            });
        }
    });
    let mut ids = ids.into_inner().unwrap();
    ids.extend(first);
    let n = ids.len();
    ids.sort_unstable();
    ids.dedup();
    assert_eq!((ids.len(), n), (2_103, 2_103), "every id is distinct");
}
