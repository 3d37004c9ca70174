//! Every kind of error is produced with its code and context, and diagnosed with a cause and
//! a concrete suggestion.

use wes::{Caller, ErrorCode, ErrorKind, HostError, RuntimeConfig, RuntimeError, TrapCode, Value};

use crate::runtime;

const GUEST: &str = r#"(module
  (memory 1)
  (func $line (export "line") (result i32)
    i32.const 1 i32.const 2 i32.add i32.const 3 i32.add i32.const 4 i32.add)
  (func $rec (export "rec") (param i32) (result i32) local.get 0 call $rec)
  (func (export "oob") (result i32) i32.const 70000 i32.load)
  (func (export "unreachable") unreachable)
  (func (export "div") (param i32 i32) (result i32) local.get 0 local.get 1 i32.div_s))"#;

/// Runs `name` on a fresh instance with `limit` gas; the call's error.
fn failure(name: &str, args: &[Value], limit: u64) -> (wes::Runtime, RuntimeError) {
    let rt = runtime();
    let m = rt.load(GUEST.as_bytes()).unwrap();
    let mut i = rt.create_instance(&m, rt.gas_meter(limit)).unwrap();
    let r = i.execute(name, args).unwrap();
    assert!(!r.success);
    let e = r.error.unwrap();
    assert_eq!(e.context().export.as_deref(), Some(name));
    assert_eq!(e.context().module_hash.as_deref(), Some(m.hash()));
    assert_eq!(e.context().instance_id, Some(i.id()));
    (rt, e)
}

#[test]
fn out_of_gas_says_how_much_the_call_needed() {
    let rt = runtime();
    let m = rt.load(GUEST.as_bytes()).unwrap();
    let mut i = rt.create_instance(&m, rt.gas_meter(1_000)).unwrap();
    let needed = i.execute("line", &[]).unwrap().gas.used;
    let (rt, e) = failure("line", &[], needed - 1);
    assert_eq!((e.kind(), e.code()), (ErrorKind::Resource, ErrorCode::OutOfGas));
    assert!(e.is_retryable());
    let d = rt.diagnose(&e);
    // A straight-line function is one charge: the minimum is exact, and it is enough.
    assert!(d.suggestion.contains(&format!("at least {needed} gas")), "{d}");
    let m = rt.load(GUEST.as_bytes()).unwrap();
    let mut i = rt.create_instance(&m, rt.gas_meter(needed)).unwrap();
    assert!(i.execute("line", &[]).unwrap().success);
}

#[test]
fn call_stack_exhausted_names_the_limit_and_the_recursion() {
    let (rt, e) = failure("rec", &[Value::I32(0)], u64::MAX / 4);
    assert_eq!((e.kind(), e.code()), (ErrorKind::Resource, ErrorCode::CallStackExhausted));
    assert!(!e.backtrace().is_empty());
    let d = rt.diagnose(&e);
    assert!(d.cause.contains("10000 wasm frames"), "{d}");
    assert!(d.cause.contains("recursing through func[1] <rec>"), "{d}");
    assert!(d.suggestion.contains("max_call_depth"), "{d}");
}

#[test]
fn traps_of_the_code_are_execution_or_memory_errors() {
    let (rt, e) = failure("oob", &[], 1_000_000);
    assert_eq!(
        (e.kind(), e.code(), e.trap_code()),
        (ErrorKind::Memory, ErrorCode::MemoryOutOfBounds, Some(TrapCode::MemoryOutOfBounds))
    );
    assert!(rt.diagnose(&e).cause.contains("memory outside its bounds"));
    let (rt, e) = failure("unreachable", &[], 1_000_000);
    assert_eq!((e.kind(), e.code()), (ErrorKind::Execution, ErrorCode::Trap));
    assert!(!e.is_retryable());
    assert!(rt.diagnose(&e).cause.contains("unreachable"));
    let (_, e) = failure("div", &[Value::I32(1), Value::I32(0)], 1_000_000);
    assert_eq!(e.trap_code(), Some(TrapCode::IntegerDivideByZero));
    assert_eq!(e.code().as_str(), "WES-TRAP");
}

#[test]
fn host_errors_carry_the_host_message() {
    let mut rt = runtime();
    rt.linker_mut().func_wrap("env", "refuse", |_: &mut Caller<'_>, (): ()| -> Result<(), HostError> {
        Err(HostError::new("account frozen"))
    });
    let m = rt.load(br#"(module (import "env" "refuse" (func $r)) (func (export "go") call $r))"#).unwrap();
    let mut i = rt.create_instance(&m, rt.gas_meter(1_000)).unwrap();
    let e = i.execute("go", &[]).unwrap().error.unwrap();
    assert_eq!((e.kind(), e.code()), (ErrorKind::Execution, ErrorCode::HostError));
    assert!(rt.diagnose(&e).cause.contains("account frozen"));
}

#[test]
fn a_missing_import_says_what_the_module_expected_and_what_is_linked() {
    let mut rt = runtime();
    rt.linker_mut().func_wrap("env", "db_read", |_: &mut Caller<'_>, (k,): (i32,)| -> Result<i32, HostError> { Ok(k) });
    rt.linker_mut()
        .func_wrap("env", "db_write", |_: &mut Caller<'_>, (_k,): (i32,)| -> Result<(), HostError> { Ok(()) });
    let m = rt.load(br#"(module (import "env" "db_remove" (func (param i32))))"#).unwrap();
    let e = rt.create_instance(&m, rt.gas_meter(1_000)).unwrap_err();
    assert_eq!((e.kind(), e.code()), (ErrorKind::Validation, ErrorCode::UnknownImport));
    let d = rt.diagnose(&e);
    assert!(d.cause.contains("env::db_remove"), "{d}");
    assert!(d.cause.contains("db_read, db_write"), "{d}");
    // Linked, but with another type.
    let m = rt.load(br#"(module (import "env" "db_read" (func (param i64))))"#).unwrap();
    let e = rt.create_instance(&m, rt.gas_meter(1_000)).unwrap_err();
    assert_eq!(e.code(), ErrorCode::IncompatibleImport);
}

#[test]
fn input_errors_are_validation_errors() {
    let rt = runtime();
    let e = rt.load(b"\0asm\x01\0\0\0\x01").unwrap_err();
    assert_eq!((e.kind(), e.code()), (ErrorKind::Validation, ErrorCode::InvalidModule));
    assert!(e.context().module_hash.is_some());
    assert!(rt.diagnose(&e).suggestion.contains("WebAssembly"));

    let m = rt.load(GUEST.as_bytes()).unwrap();
    let mut i = rt.create_instance(&m, rt.gas_meter(1_000)).unwrap();
    let e = i.execute("nope", &[]).unwrap_err();
    assert_eq!(e.code(), ErrorCode::NoSuchExport);
    let e = i.execute("div", &[Value::I64(1)]).unwrap_err();
    assert_eq!((e.kind(), e.code()), (ErrorKind::Validation, ErrorCode::BadArguments));
    assert!(e.message().contains("(func (param i32 i32) (result i32))"), "{e}");

    let e = wes::Runtime::new(RuntimeConfig::from_toml("[limits]\nmax_call_depth = 5\n").unwrap())
        .and_then(|rt| rt.load(b"not wasm").map(|_| ()))
        .unwrap_err();
    assert_eq!(e.code(), ErrorCode::InvalidModule);
    let e: RuntimeError = RuntimeConfig::from_toml("[gas]\nx = 1").unwrap_err().into();
    assert_eq!((e.kind(), e.code()), (ErrorKind::Validation, ErrorCode::Config));
    let e: RuntimeError = wes::Encoding::Json.encoder().decode(b"[").unwrap_err().into();
    assert_eq!(e.code(), ErrorCode::Encoding);
}

#[test]
fn resource_limits_are_resource_errors() {
    let config = RuntimeConfig::from_toml("[limits]\nmax_memory_pages = 4\n").unwrap();
    let rt = wes::Runtime::new(config).unwrap();
    let m = rt.load(br#"(module (memory 5))"#).unwrap();
    let e = rt.create_instance(&m, rt.gas_meter(1_000)).unwrap_err();
    assert_eq!((e.kind(), e.code()), (ErrorKind::Resource, ErrorCode::ResourceLimit));
    assert!(e.is_retryable());
    assert!(rt.diagnose(&e).suggestion.contains("[limits]"));
}

#[test]
fn store_limits_refuse_creation_and_make_growth_fail_softly() {
    let config = RuntimeConfig::from_toml("[limits.store]\nmemory_bytes = 131072\ninstances = 1\n").unwrap();
    let rt = wes::Runtime::new(config).unwrap();
    let big = rt.load(br#"(module (memory 3))"#).unwrap();
    let e = rt.create_instance(&big, rt.gas_meter(1_000)).unwrap_err();
    assert_eq!((e.kind(), e.code()), (ErrorKind::Resource, ErrorCode::ResourceLimit));
    assert!(e.message().contains("memory"), "{e}");
    let m = rt
        .load(br#"(module (memory 1) (func (export "grow") (param i32) (result i32) (memory.grow (local.get 0))))"#)
        .unwrap();
    let mut i = rt.create_instance(&m, rt.gas_meter(100_000)).unwrap();
    assert_eq!(i.execute("grow", &[Value::I32(1)]).unwrap().values, [Value::I32(1)], "2 pages = 128 KiB fit");
    assert_eq!(i.execute("grow", &[Value::I32(1)]).unwrap().values, [Value::I32(-1)], "a third does not");
}

#[test]
fn compile_limits_come_from_the_configuration() {
    let text = r#"(module (func (export "f") (result i32) i32.const 1 i32.const 2 i32.add i32.const 3 i32.add))"#;
    let strict = RuntimeConfig::from_toml("[limits.compile]\nmax_operators = 4\n").unwrap();
    let e = wes::Runtime::new(strict).unwrap().load(text.as_bytes()).unwrap_err();
    assert_eq!((e.kind(), e.code()), (ErrorKind::Resource, ErrorCode::ResourceLimit), "{e}");
    assert!(e.message().contains("operators"), "{e}");
    assert!(!e.is_retryable(), "the same module exceeds the same limit every time");
    wes::Runtime::new(RuntimeConfig::default()).unwrap().load(text.as_bytes()).unwrap();
    match RuntimeConfig::from_toml("[limits.compile]\nmax_operatorz = 4\n") {
        Err(wes::ConfigError::Key { path, .. }) => assert_eq!(path, "limits.compile.max_operatorz"),
        other => panic!("{other:?}"),
    }
}
