//! Capabilities at link time and at run time: grant, deny, revoke, budgets, custom checkers.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use wes_core::Value;
use wes_runtime::Store;
use wes_security::{
    Budget, BudgetKind, CustomSecurityChecker, GuardedLinker, ModuleIdentity, ModuleRef, SecurityError,
    SecurityManager, SecurityPolicy,
};

use crate::support::{engine, load};

/// `read` (storage.read) and `write` (storage.write, declaring its argument as bytes moved),
/// `read_n` calls `read` n times.
const CONTRACT: &str = r#"(module
  (import "env" "read" (func $read (param i32) (result i32)))
  (import "env" "write" (func $write (param i32) (result i32)))
  (func (export "read") (param i32) (result i32) local.get 0 call $read)
  (func (export "write") (param i32) (result i32) local.get 0 call $write)
  (func (export "read_n") (param $n i32) (result i32) (local $sum i32)
    (block $done (loop $l
      local.get $n i32.eqz br_if $done
      local.get $sum local.get $n call $read i32.add local.set $sum
      local.get $n i32.const 1 i32.sub local.set $n
      br $l))
    local.get $sum))"#;

/// Only `storage.read`.
const READER: &str = r#"(module
  (import "env" "read" (func $read (param i32) (result i32)))
  (func (export "read") (param i32) (result i32) local.get 0 call $read))"#;

fn linker(security: &SecurityManager) -> GuardedLinker {
    let mut linker = security.linker();
    linker.func_wrap("storage.read", "env", "read", |_, _, (x,): (i32,)| Ok(x * 10)).unwrap();
    linker
        .func_wrap("storage.write", "env", "write", |_, permit, (len,): (i32,)| {
            permit.bytes(len as u64)?;
            Ok(len)
        })
        .unwrap();
    linker
}

fn policy(default_grants: &[&str]) -> SecurityPolicy {
    let mut p = SecurityPolicy::spec();
    p.capabilities.default_grants = default_grants.iter().map(|s| s.to_string()).collect();
    p
}

fn call(
    security: &SecurityManager,
    store: &mut Store,
    i: &wes_security::GuardedInstance,
    name: &str,
    x: i32,
) -> Result<i32, SecurityError> {
    match security.invoke(store, i, name, &[Value::I32(x)])?.as_slice() {
        [Value::I32(v)] => Ok(*v),
        other => panic!("unexpected results {other:?}"),
    }
}

#[test]
fn granted_capabilities_link_and_run() {
    let security = SecurityManager::new(SecurityPolicy::contract()).unwrap();
    let linker = linker(&security);
    let (id, module) = load(&security, CONTRACT, None);
    let mut store = Store::new(&engine());
    let i = security.instantiate(&linker, &mut store, &module, &id).unwrap();
    assert_eq!(call(&security, &mut store, &i, "read", 4).unwrap(), 40);
    assert_eq!(call(&security, &mut store, &i, "write", 9).unwrap(), 9);
}

#[test]
fn an_ungranted_import_fails_at_link_time_naming_import_and_capability() {
    let security = SecurityManager::new(policy(&["storage.read"])).unwrap();
    let linker = linker(&security);
    let (id, module) = load(&security, CONTRACT, None);
    // The check alone, without instantiating.
    let err = linker.check_imports(&id, module.module()).unwrap_err();
    assert!(
        matches!(&err, SecurityError::NotGranted { import_module, import_name, capability, .. }
        if import_module == "env" && import_name == "write" && capability == "storage.write"),
        "{err}"
    );
    let mut store = Store::new(&engine());
    let err = security.instantiate(&linker, &mut store, &module, &id).unwrap_err();
    let text = err.to_string();
    assert!(text.contains("env::write") && text.contains("storage.write"), "{text}");
    // A module that imports only what it holds links.
    let (id, module) = load(&security, READER, None);
    assert!(security.instantiate(&linker, &mut store, &module, &id).is_ok());
}

#[test]
fn grants_by_name_and_by_hash() {
    let mut p = policy(&["storage.read"]);
    p.capabilities.grants.insert("token".into(), vec!["storage.write".into()]);
    let security = SecurityManager::new(p).unwrap();
    let linker = linker(&security);
    let mut store = Store::new(&engine());
    let (named, module) = load(&security, CONTRACT, Some("token"));
    assert!(security.instantiate(&linker, &mut store, &module, &named).is_ok());
    let anonymous = ModuleIdentity::from_hash(*named.hash(), None);
    assert!(security.instantiate(&linker, &mut store, &module, &anonymous).is_err());
    // By hash, at run time.
    security.grant(&ModuleRef::Hash(*named.hash()), "storage.write", named.hash()).unwrap();
    assert!(security.instantiate(&linker, &mut store, &module, &anonymous).is_ok());
}

#[test]
fn a_revoked_grant_traps_later_calls_with_a_security_error() {
    let security = SecurityManager::new(SecurityPolicy::contract()).unwrap();
    let linker = linker(&security);
    let (id, module) = load(&security, CONTRACT, Some("token"));
    let mut store = Store::new(&engine());
    let a = security.instantiate(&linker, &mut store, &module, &id).unwrap();
    // Another instance of the same module, in another store.
    let mut other = Store::new(&engine());
    let b = security.instantiate(&linker, &mut other, &module, &id).unwrap();
    assert_eq!(call(&security, &mut store, &a, "write", 1).unwrap(), 1);

    security.revoke(&ModuleRef::Name("token".into()), "storage.write", id.hash()).unwrap();
    for (store, i) in [(&mut store, &a), (&mut other, &b)] {
        let err = call(&security, store, i, "write", 1).unwrap_err();
        assert!(
            matches!(&err, SecurityError::Revoked { capability, function, .. }
            if capability == "storage.write" && function == "env::write"),
            "{err}"
        );
        // The other capability is untouched.
        assert_eq!(call(&security, store, i, "read", 2).unwrap(), 20);
    }
    // A new instance is refused at link time now.
    let mut third = Store::new(&engine());
    assert!(matches!(security.instantiate(&linker, &mut third, &module, &id), Err(SecurityError::NotGranted { .. })));
    // Granting again restores it for the running instances.
    security.grant(&ModuleRef::Name("token".into()), "storage.write", id.hash()).unwrap();
    assert_eq!(call(&security, &mut store, &a, "write", 3).unwrap(), 3);
}

#[test]
fn call_budgets_are_per_invocation() {
    let mut p = policy(&["*"]);
    p.capabilities.budgets.insert("storage.read".into(), Budget { calls_per_invocation: 3, ..Budget::UNLIMITED });
    let security = SecurityManager::new(p).unwrap();
    let linker = linker(&security);
    let (id, module) = load(&security, CONTRACT, None);
    let mut store = Store::new(&engine());
    let i = security.instantiate(&linker, &mut store, &module, &id).unwrap();
    assert_eq!(call(&security, &mut store, &i, "read_n", 3).unwrap(), 60);
    let err = call(&security, &mut store, &i, "read_n", 4).unwrap_err();
    assert!(
        matches!(&err, SecurityError::BudgetExhausted { kind: BudgetKind::Calls, limit: 3, used: 4, capability, .. }
        if capability == "storage.read"),
        "{err}"
    );
    // The next invocation starts from zero.
    assert_eq!(call(&security, &mut store, &i, "read_n", 3).unwrap(), 60);
}

/// A capability with no call budget passes its calls uncounted; a revocation in the middle of
/// an invocation still makes the very next call trap, and a grant restores it at once.
#[test]
fn a_capability_without_a_budget_revoked_during_a_call_traps_its_next_call() {
    let security = Arc::new(SecurityManager::new(policy(&["*"])).unwrap());
    let (id, module) = load(&security, CONTRACT, Some("token"));
    let seen = Arc::new(AtomicU64::new(0));
    let mut linker = security.linker();
    let (s, hash, count) = (Arc::clone(&security), *id.hash(), Arc::clone(&seen));
    linker
        .func_wrap("storage.read", "env", "read", move |_, _, (x,): (i32,)| {
            // The second call revokes the capability it is a call of.
            if count.fetch_add(1, Ordering::Relaxed) == 1 {
                s.revoke(&ModuleRef::Name("token".into()), "storage.read", &hash).unwrap();
            }
            Ok(x * 10)
        })
        .unwrap();
    linker.func_wrap("storage.write", "env", "write", |_, _, (x,): (i32,)| Ok(x)).unwrap();
    let mut store = Store::new(&engine());
    let i = security.instantiate(&linker, &mut store, &module, &id).unwrap();
    // Unbudgeted: many calls pass, none counted.
    assert_eq!(call(&security, &mut store, &i, "read", 1).unwrap(), 10);
    assert_eq!(i.session.calls(security.permissions().capability("storage.read").unwrap()), 0);
    // read_n(5) calls read five times: its first (the second call of read so far) revokes,
    // its second traps before the body runs.
    let err = call(&security, &mut store, &i, "read_n", 5).unwrap_err();
    assert!(matches!(&err, SecurityError::Revoked { capability, .. } if capability == "storage.read"), "{err}");
    assert_eq!(seen.load(Ordering::Relaxed), 2);
    security.grant(&ModuleRef::Name("token".into()), "storage.read", id.hash()).unwrap();
    assert_eq!(call(&security, &mut store, &i, "read_n", 3).unwrap(), 60);
}

#[test]
fn byte_budgets_count_what_host_functions_declare() {
    let mut p = policy(&["*"]);
    p.capabilities.budgets.insert("storage.write".into(), Budget { bytes_per_invocation: 100, ..Budget::UNLIMITED });
    let security = SecurityManager::new(p).unwrap();
    let linker = linker(&security);
    let (id, module) = load(&security, CONTRACT, None);
    let mut store = Store::new(&engine());
    let i = security.instantiate(&linker, &mut store, &module, &id).unwrap();
    assert_eq!(call(&security, &mut store, &i, "write", 100).unwrap(), 100);
    let err = call(&security, &mut store, &i, "write", 101).unwrap_err();
    assert!(
        matches!(err, SecurityError::BudgetExhausted { kind: BudgetKind::Bytes, limit: 100, used: 101, .. }),
        "{err}"
    );
}

/// Refuses modules named `evil` at instantiation, and `storage.write` calls after `allowed`.
struct Checker {
    allowed: u64,
    seen: AtomicU64,
}

impl CustomSecurityChecker for Checker {
    fn name(&self) -> &str {
        "house-rules"
    }
    fn capabilities(&self) -> Vec<String> {
        vec!["storage.write".into()]
    }
    fn check_instantiation(&self, module: &ModuleIdentity, wasm: &wes_core::Module) -> Result<(), String> {
        assert!(!wasm.imports.is_empty());
        if module.name() == Some("evil") { Err("no evil modules".into()) } else { Ok(()) }
    }
    fn check_host_call(&self, _: &ModuleIdentity, capability: &str, function: &str) -> Result<(), String> {
        assert_eq!((capability, function), ("storage.write", "env::write"), "only registered capabilities are shown");
        let n = self.seen.fetch_add(1, Ordering::Relaxed) + 1;
        if n > self.allowed { Err(format!("write #{n} refused")) } else { Ok(()) }
    }
}

#[test]
fn a_custom_checker_refuses_instantiation_and_host_calls() {
    let security = SecurityManager::new(SecurityPolicy::contract()).unwrap();
    let checker = Arc::new(Checker { allowed: 1, seen: AtomicU64::new(0) });
    security.add_checker(checker.clone());
    let linker = linker(&security);
    let mut store = Store::new(&engine());
    let (evil, module) = load(&security, CONTRACT, Some("evil"));
    let err = security.instantiate(&linker, &mut store, &module, &evil).unwrap_err();
    assert!(
        matches!(&err, SecurityError::Refused { checker, reason, .. } if checker == "house-rules" && reason == "no evil modules"),
        "{err}"
    );

    let (id, module) = load(&security, CONTRACT, Some("fine"));
    let i = security.instantiate(&linker, &mut store, &module, &id).unwrap();
    assert_eq!(call(&security, &mut store, &i, "write", 1).unwrap(), 1);
    // Reads are not shown to the checker.
    assert_eq!(call(&security, &mut store, &i, "read_n", 5).unwrap(), 150);
    let err = call(&security, &mut store, &i, "write", 1).unwrap_err();
    assert!(matches!(&err, SecurityError::Refused { reason, .. } if reason == "write #2 refused"), "{err}");
    assert_eq!(checker.seen.load(Ordering::Relaxed), 2);
}

#[test]
fn unguarded_definitions_still_link() {
    let security = SecurityManager::new(policy(&[])).unwrap();
    let mut linker = security.linker();
    linker.plain().func_wrap(
        "env",
        "read",
        |_: &mut wes_runtime::Caller<'_>, (x,): (i32,)| -> Result<i32, wes_runtime::HostError> { Ok(x) },
    );
    let (id, module) = load(&security, READER, None);
    let mut store = Store::new(&engine());
    let i = security.instantiate(&linker, &mut store, &module, &id).unwrap();
    assert_eq!(call(&security, &mut store, &i, "read", 7).unwrap(), 7);
    // A missing import is the runtime's link error.
    let (id, module) = load(&security, CONTRACT, None);
    assert!(
        matches!(security.instantiate(&linker, &mut store, &module, &id), Err(SecurityError::Runtime(e)) if e.is_link_error())
    );
}

#[test]
fn capability_names_are_checked() {
    let security = SecurityManager::new(policy(&[])).unwrap();
    let mut linker = security.linker();
    for bad in ["", "Storage", "a b", "x/y"] {
        assert!(
            matches!(linker.func_wrap(bad, "env", "f", |_, _, ()| Ok(())), Err(SecurityError::InvalidCapability(_))),
            "{bad:?}"
        );
    }
    for i in 0..64 {
        let _ = security.permissions().capability(&format!("c{i}"));
    }
    assert!(matches!(security.permissions().capability("one.more"), Err(SecurityError::TooManyCapabilities(_))));
}
