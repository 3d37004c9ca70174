//! `[instance] reuse`: instances come out of their module's pool and go back reset, so the
//! next user sees nothing the last one wrote; pools are pre-warmed and bounded.

use wes::{ErrorCode, ErrorKind, Runtime, RuntimeConfig, Value};

/// A contract that keeps state in memory, a global and a table, and counts its start runs.
const STATEFUL: &str = r#"(module
  (memory (export "memory") 1)
  (global $g (mut i64) (i64.const 7))
  (global $starts (mut i32) (i32.const 0))
  (table 2 funcref)
  (func $secret (result i32) i32.const 99)
  (elem declare func $secret)
  (func $start global.get $starts i32.const 1 i32.add global.set $starts)
  (start $start)
  (func (export "write") (param i64)
    (i64.store (i32.const 1024) (local.get 0))
    (global.set $g (local.get 0))
    (table.set (i32.const 1) (ref.func $secret)))
  (func (export "read") (result i64 i64 i32 i32)
    (i64.load (i32.const 1024))
    (global.get $g)
    (ref.is_null (table.get (i32.const 1)))
    (global.get $starts)))"#;

fn pooled(extra: &str) -> Runtime {
    let text = format!("[instance]\nreuse = true\npool_size = 2\n{extra}");
    Runtime::new(RuntimeConfig::from_toml(&text).unwrap()).unwrap()
}

#[test]
fn a_reused_instance_shows_the_next_user_nothing_the_last_one_wrote() {
    let rt = pooled("");
    let m = rt.load(STATEFUL.as_bytes()).unwrap();
    let fresh = [Value::I64(0), Value::I64(7), Value::I32(1), Value::I32(1)];
    let mut first = rt.create_instance(&m, rt.gas_meter(10_000)).unwrap();
    assert_eq!(first.execute("read", &[]).unwrap().values, fresh);
    first.execute("write", &[Value::I64(0x5ec2e7)]).unwrap();
    first.set_data(String::from("first user's data"));
    assert_eq!(
        first.execute("read", &[]).unwrap().values[..3],
        [Value::I64(0x5ec2e7), Value::I64(0x5ec2e7), Value::I32(0)]
    );
    rt.destroy_instance(first);

    let mut second = rt.create_instance(&m, rt.gas_meter(10_000)).unwrap();
    // Memory, global and table as right after instantiation; the start function ran once, when
    // the instance was made, not again on reuse; the embedder's data is gone.
    assert_eq!(second.execute("read", &[]).unwrap().values, fresh);
    assert!(second.data_mut::<String>().is_none());
    // The meter is the new user's: neither the first user's gas nor the start function's is
    // charged to it (the start function ran, under the runtime's default limit, when the
    // instance was made).
    let mut third = {
        rt.destroy_instance(second);
        rt.create_instance(&m, rt.gas_meter(10_000)).unwrap()
    };
    assert_eq!(third.gas_remaining(), 10_000);
    let r = third.execute("read", &[]).unwrap();
    assert_eq!(third.gas_remaining(), 10_000 - r.gas.used);
    let stats = rt.pool_metrics().unwrap();
    assert_eq!(stats.created, 1, "{stats:?}");
    assert_eq!(stats.reused, 2, "{stats:?}");
}

#[test]
fn pools_are_prewarmed_bounded_and_report_exhaustion_as_a_retryable_resource_error() {
    let rt = pooled("prewarm = 2\n");
    let m = rt.load(STATEFUL.as_bytes()).unwrap();
    assert_eq!(rt.pool_metrics().unwrap().created, 2, "made at load");
    let a = rt.create_instance(&m, rt.gas_meter(1_000)).unwrap();
    let b = rt.create_instance(&m, rt.gas_meter(1_000)).unwrap();
    let e = rt.create_instance(&m, rt.gas_meter(1_000)).unwrap_err();
    assert_eq!((e.kind(), e.code()), (ErrorKind::Resource, ErrorCode::PoolExhausted));
    assert!(e.is_retryable());
    assert!(rt.diagnose(&e).suggestion.contains("instance.pool_size"));
    drop(a);
    let c = rt.create_instance(&m, rt.gas_meter(1_000)).unwrap();
    drop((b, c));
    assert_eq!(rt.pool_metrics().unwrap().created, 2, "no instance beyond the pre-warmed ones");
}

#[test]
fn a_module_whose_imports_are_missing_still_reports_the_link_error_per_instance() {
    let rt = pooled("");
    let m = rt.load(br#"(module (import "env" "missing" (func)))"#).unwrap();
    let e = rt.create_instance(&m, rt.gas_meter(1_000)).unwrap_err();
    assert_eq!(e.code(), ErrorCode::UnknownImport);
}

#[test]
fn out_of_gas_in_a_pooled_instance_is_diagnosed_like_in_a_fresh_one() {
    for rt in [pooled(""), Runtime::new(RuntimeConfig::default()).unwrap()] {
        let m = rt.load(br#"(module (func (export "spin") (loop br 0)))"#).unwrap();
        let mut i = rt.create_instance(&m, rt.gas_meter(1_000)).unwrap();
        let e = i.execute("spin", &[]).unwrap().error.unwrap();
        assert_eq!(e.code(), ErrorCode::OutOfGas);
        assert!(rt.diagnose(&e).suggestion.contains("needs at least"), "{}", rt.diagnose(&e));
    }
}

#[test]
fn a_start_function_that_loops_is_stopped_by_the_default_limit_when_prewarming() {
    let rt = pooled("prewarm = 1\n[gas]\ndefault_limit = 100000\n");
    let e = rt.load(br#"(module (func $s (loop br 0)) (start $s))"#).unwrap_err();
    assert_eq!(e.code(), ErrorCode::OutOfGas, "{e}");
}
