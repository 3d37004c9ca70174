//! WES's security layer: what a module from a stranger is allowed to be, to touch and to do,
//! and a record of every decision.
//!
//! | piece | job |
//! |---|---|
//! | [`SecurityPolicy`] | the policy as data (TOML/JSON, unknown keys rejected): static limits, capabilities and budgets, threat rules; presets [`spec`](SecurityPolicy::spec) and [`contract`](SecurityPolicy::contract) |
//! | [`wes_decode::Limits`] | the policy's static limits, checked by the decoder in its one pass, before anything is compiled |
//! | [`PermissionController`] | named capabilities (`storage.read`, `crypto`, `log`, ...), granted to modules by hash or name, revocable at run time, with per-invocation budgets |
//! | [`GuardedLinker`] | host functions grouped into capabilities: an import of an ungranted one fails at link time; every call is checked first |
//! | [`ThreatMonitor`] | rules over a sliding window per module — out-of-gas storms, trap storms, memory-growth spikes, host-call floods, compile blow-ups, repeated violations — that log, throttle or quarantine |
//! | [`AuditLogger`] | one JSON line per decision, hash-chained; [`audit::verify`] detects a removed or edited line |
//! | [`CustomSecurityChecker`] | the embedder's own rules, before instantiation and before the host calls it registers for |
//! | [`SecurityManager`] | all of the above composed |
//!
//! ```
//! use std::sync::Arc;
//! use wes_core::Value;
//! use wes_runtime::{Config, Engine, Module, Store};
//! use wes_security::{SecurityError, SecurityManager, SecurityPolicy};
//!
//! let security = SecurityManager::new(SecurityPolicy::contract())?;
//! let mut linker = security.linker();
//! // `storage.write` is one of the contract preset's default grants; `time` is not.
//! linker.func_wrap("storage.write", "env", "store", |_, permit, (len,): (i32,)| {
//!     permit.bytes(len as u64)?; // against the capability's byte budget
//!     Ok(len)
//! })?;
//! linker.func_wrap("time", "env", "now", |_, _, ()| Ok(0i64))?;
//!
//! let engine = Engine::new(Config::default(), Arc::new(wes_jit::Jit::new()?));
//! let wat = br#"(module (import "env" "store" (func $store (param i32) (result i32)))
//!                        (func (export "run") (result i32) i32.const 5 call $store))"#;
//! let (id, wasm) = security.admit(wat, Some("token"))?; // limits checked here
//! let module = Module::new(&engine, wasm)?;
//! let mut store = Store::new(&engine);
//! let instance = security.instantiate(&linker, &mut store, &module, &id)?;
//! assert_eq!(security.invoke(&mut store, &instance, "run", &[])?, vec![Value::I32(5)]);
//!
//! // A module importing `env::now` is refused at link time, naming the import and capability.
//! let clock = br#"(module (import "env" "now" (func (result i64))))"#;
//! let (id, wasm) = security.admit(clock, None)?;
//! let module = Module::new(&engine, wasm)?;
//! let err = security.instantiate(&linker, &mut store, &module, &id).unwrap_err();
//! assert!(matches!(err, SecurityError::NotGranted { ref capability, .. } if capability == "time"));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # Design
//!
//! | concern | choice | why |
//! |---|---|---|
//! | static limits | in the decoder ([`wes_decode::Limits`]), the policy only holds them | checked where the data is, in the one pass, before a count is trusted or anything compiled |
//! | permissions | a guard closure around each host function, bound per instance | the runtime knows nothing of capabilities, only a gate per host function; the user's closure is cloned into each guard (no pointer to it); a call of a granted capability without budget or checker costs what an unguarded one does (the slot opens the function's runtime gate, which points its records at the ordinary entry), a budgeted one also a load and store of its counter, out of line |
//! | revocation | one atomic bit set per module, shared by its instances | a revoke reaches every running instance at its next host call, with no lock on the call path |
//! | budgets | per instance, reset by each [`SecurityManager::invoke`] | "per invocation" means one call from the embedder, whatever it calls inside |
//! | threat windows | exact, one entry per distinct millisecond | memory bounded by the window, not by the event rate; a [`ManualClock`] makes tests and replays deterministic |
//! | audit | SHA-256 chain over the exact line bytes | any removed, inserted, reordered or edited line breaks the chain; the head guards the end |
//!
//! The seed's `SecurityContext` of a host binding (allowed and restricted operations, sandbox
//! mode) maps onto this: allowed operations are the granted capabilities, restricted ones the
//! rest (or revoked), and the sandbox mode is the preset.
//!
//! Not here: limits on what a store allocates at run time (memory and table totals, instance
//! counts) belong to the runtime, where the allocation happens.
#![deny(missing_docs)]

pub mod audit;
mod checker;
mod error;
mod identity;
mod linker;
mod manager;
mod permission;
mod policy;
mod threat;

pub use audit::{AuditLogger, AuditRecord, Decision};
pub use checker::CustomSecurityChecker;
pub use error::{BudgetKind, SecurityError};
pub use identity::{ModuleHash, ModuleIdentity};
pub use linker::{GuardedInstance, GuardedLinker};
pub use manager::{Invocation, SecurityManager};
pub use permission::{Capability, MAX_CAPABILITIES, ModuleRef, PermissionController, Permit, Session};
pub use policy::{Budget, CapabilityPolicy, ResourcePolicy, SecurityPolicy};
pub use threat::{
    Action, Clock, ManualClock, ModuleStatus, Rule, SystemClock, ThreatAlert, ThreatKind, ThreatMonitor, ThreatPolicy,
};
