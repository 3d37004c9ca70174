//! `[security]`: the policy's limits before compiling, capabilities at link and call time,
//! budgets, the threat monitor and the audit log, each producing a security error the facade
//! diagnoses — fresh and pooled instances alike.

use wes::{Caller, ErrorCode, ErrorKind, HostError, Permit, Runtime, RuntimeConfig, RuntimeError, Value};
use wes_security::ModuleRef;

fn secure(extra: &str) -> Runtime {
    let text = format!("[security]\nenabled = true\npreset = \"contract\"\n{extra}");
    let mut rt = Runtime::new(RuntimeConfig::from_toml(&text).unwrap()).unwrap();
    let guarded = rt.guarded_linker_mut().unwrap();
    guarded
        .func_wrap("storage.write", "env", "store", |_: &mut Caller<'_>, permit: &Permit<'_>, (len,): (i32,)| {
            permit.bytes(len as u64)?;
            Ok(len)
        })
        .unwrap();
    guarded.func_wrap("time", "env", "now", |_: &mut Caller<'_>, _: &Permit<'_>, (): ()| Ok(0i64)).unwrap();
    rt.linker_mut().func_wrap("env", "plain", |_: &mut Caller<'_>, (): ()| -> Result<i32, HostError> { Ok(1) });
    rt
}

const STORER: &str = r#"(module
  (import "env" "store" (func $store (param i32) (result i32)))
  (import "wes" "log" (func $log (param i32 i32)))
  (memory 1)
  (func (export "store") (param i32) (result i32) local.get 0 call $store)
  (func (export "log") (param i32) (loop $l
      (call $log (i32.const 0) (i32.const 10))
      (local.tee 0 (i32.sub (local.get 0) (i32.const 1)))
      br_if $l))
  (func (export "trap") unreachable))"#;

const CLOCK: &str = r#"(module (import "env" "now" (func (result i64))))"#;

fn security_error(e: &RuntimeError, code: ErrorCode) {
    assert_eq!((e.kind(), e.code()), (ErrorKind::Security, code), "{e}");
}

#[test]
fn a_module_past_a_policy_limit_is_refused_before_compiling() {
    let rt = secure("[security.limits]\nmax_memory_pages = 2\n");
    let e = rt.load(br#"(module (memory 3))"#).unwrap_err();
    security_error(&e, ErrorCode::PolicyViolation);
    assert!(e.message().contains("max_memory_pages"), "{e}");
    let d = rt.diagnose(&e);
    assert!(d.suggestion.contains("[security.limits]"), "{d}");
    rt.load(br#"(module (memory 2))"#).unwrap();
    // Malformed bytes stay a validation error under a security layer.
    assert_eq!(rt.load(b"\0asm\x01").unwrap_err().code(), ErrorCode::InvalidModule);
}

#[test]
fn an_import_of_an_ungranted_capability_is_refused_at_instantiation_and_grants_by_name_apply() {
    for reuse in [false, true] {
        let rt = secure(&format!(
            "[instance]\nreuse = {reuse}\n[security.capabilities]\ngrants = {{ \"clock\" = [\"time\"] }}\n"
        ));
        let m = rt.load(CLOCK.as_bytes()).unwrap();
        let e = rt.create_instance(&m, rt.gas_meter(1_000)).unwrap_err();
        security_error(&e, ErrorCode::PermissionDenied);
        assert!(e.message().contains("env::now") && e.message().contains("`time`"), "{e}");
        assert!(rt.diagnose(&e).suggestion.contains("grant"), "{}", rt.diagnose(&e));
        let named = rt.load_named(CLOCK.as_bytes(), Some("clock")).unwrap();
        rt.create_instance(&named, rt.gas_meter(1_000)).unwrap();
    }
}

#[test]
fn a_revoked_capability_fails_the_next_call_with_a_security_error_and_its_backtrace() {
    for reuse in [false, true] {
        let rt = secure(&format!("[instance]\nreuse = {reuse}\n"));
        let m = rt.load(STORER.as_bytes()).unwrap();
        let mut i = rt.create_instance(&m, rt.gas_meter(100_000)).unwrap();
        assert_eq!(i.execute("store", &[Value::I32(5)]).unwrap().values, [Value::I32(5)]);
        let hash = wes_security::ModuleHash::from_hex(m.hash()).unwrap();
        rt.security().unwrap().revoke(&ModuleRef::Hash(hash), "storage.write", &hash).unwrap();
        let r = i.execute("store", &[Value::I32(5)]).unwrap();
        let e = r.error.unwrap();
        security_error(&e, ErrorCode::PermissionDenied);
        assert!(e.message().contains("revoked"), "{e}");
        assert!(!e.backtrace().is_empty(), "the trap's frames are kept");
        assert!(r.gas.used > 0, "gas up to the refused call is reported");
    }
}

#[test]
fn a_capability_budget_runs_out_within_one_call_and_restarts_with_the_next() {
    let rt = secure("");
    let m = rt.load(STORER.as_bytes()).unwrap();
    let mut i = rt.create_instance(&m, rt.gas_meter(10_000_000)).unwrap();
    // The contract preset allows 100 `log` calls per invocation.
    let ok = i.execute("log", &[Value::I32(100)]).unwrap();
    assert!(ok.success, "{:?}", ok.error);
    assert_eq!(ok.logs.len(), 100);
    let over = i.execute("log", &[Value::I32(101)]).unwrap();
    let e = over.error.unwrap();
    security_error(&e, ErrorCode::BudgetExhausted);
    assert!(rt.diagnose(&e).suggestion.contains("budget"));
    assert!(i.execute("log", &[Value::I32(1)]).unwrap().success);
}

#[test]
fn a_trap_storm_quarantines_the_module_until_released() {
    let rt = secure("[security.threats.trap_storm]\nthreshold = 3\n");
    let m = rt.load(STORER.as_bytes()).unwrap();
    let mut i = rt.create_instance(&m, rt.gas_meter(100_000)).unwrap();
    for _ in 0..3 {
        let e = i.execute("trap", &[]).unwrap().error.unwrap();
        assert_eq!(e.code(), ErrorCode::Trap);
    }
    let e = i.execute("store", &[Value::I32(1)]).unwrap_err();
    security_error(&e, ErrorCode::Quarantined);
    assert!(!e.is_retryable());
    let e = rt.load(STORER.as_bytes()).unwrap_err();
    security_error(&e, ErrorCode::Quarantined);
    let hash = wes_security::ModuleHash::from_hex(m.hash()).unwrap();
    assert!(rt.security().unwrap().release(&hash).unwrap());
    assert!(i.execute("store", &[Value::I32(1)]).unwrap().success);
}

#[test]
fn host_functions_without_a_capability_and_the_plain_linker_still_work() {
    let rt = secure("");
    let m = rt
        .load(br#"(module (import "env" "plain" (func $p (result i32))) (func (export "f") (result i32) call $p))"#)
        .unwrap();
    let mut i = rt.create_instance(&m, rt.gas_meter(1_000)).unwrap();
    assert_eq!(i.execute("f", &[]).unwrap().values, [Value::I32(1)]);
}

#[test]
fn the_audit_log_records_decisions_across_restarts_and_a_tampered_one_is_refused() {
    let dir = std::env::temp_dir().join(format!("wes-audit-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let log = dir.join("audit.jsonl");
    let _ = std::fs::remove_file(&log);
    let extra = format!("audit_log = {:?}\n", log.display().to_string());
    for _ in 0..2 {
        let rt = secure(&extra);
        let m = rt.load(CLOCK.as_bytes()).unwrap();
        assert!(rt.create_instance(&m, rt.gas_meter(1_000)).is_err());
    }
    let text = std::fs::read_to_string(&log).unwrap();
    // Two runtimes, one chain: admit + deny each.
    assert_eq!(wes_security::audit::verify(&text, None).unwrap(), 4, "{text}");
    assert!(text.contains("\"deny\"") && text.contains("capability:time"), "{text}");
    std::fs::write(&log, text.replacen("deny", "allow", 1)).unwrap();
    let e =
        Runtime::new(RuntimeConfig::from_toml(&format!("[security]\nenabled = true\n{extra}")).unwrap()).unwrap_err();
    assert_eq!(e.code(), ErrorCode::Config);
    assert!(e.message().contains("does not verify"), "{e}");
    std::fs::remove_dir_all(&dir).unwrap();
}
