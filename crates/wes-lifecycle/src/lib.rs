//! WES's instance layer: what a node running the same contracts thousands of times a second
//! needs between a compiled module and a call.
//!
//! | type | what it is |
//! |---|---|
//! | [`InstanceFactory`] | a module linked once ([`wes_runtime::InstancePre`]); makes fresh instances with only per-instance work |
//! | [`InstancePool`] | warm instances of one module: [`PoolStrategy::Fixed`] or [`PoolStrategy::Dynamic`], lock-free check-out/check-in, reset on check-in |
//! | [`InstanceManager`] | pools by module, instances by id, a capacity across modules with eviction by tier and LRU, metrics |
//! | [`LifecycleController`] | an instance's [`State`], changed only by legal transitions; [`LifetimePolicy`] retires it |
//! | [`Clock`] | time for lifetimes and timeouts; [`ManualClock`] lets tests drive it |
//! | [`Snapshot`] | an instance's whole state in a versioned, checksummed file, restored elsewhere to continue identically |
//!
//! Reuse is safe because a checked-in instance is reset to its exact post-instantiation state
//! before anyone sees it again: [`wes_runtime::Store::reset`] drops every memory page written
//! since the checkpoint (`madvise`, so the cost follows what the last user dirtied, not the
//! memory's size) and restores tables, globals and dropped segments. The start function's
//! effects are part of the checkpoint. The meter and the embedder's data of a store are the
//! caller's to set per use.
//!
//! ```
//! use std::sync::Arc;
//! use wes_lifecycle::{InstanceFactory, InstanceManager, PoolConfig, PoolStrategy};
//! use wes_runtime::{Config, Engine, Linker, Module};
//! use wes_core::Value;
//!
//! let engine = Engine::new(Config::default(), Arc::new(wes_jit::Jit::new()?));
//! let wasm = wes_decode::decode_text(r#"(module (global $n (mut i32) (i32.const 0))
//!     (func (export "bump") (result i32)
//!       (global.set $n (i32.add (global.get $n) (i32.const 1))) (global.get $n)))"#)?;
//! let module = Module::new(&engine, wasm)?;
//! let manager = InstanceManager::default();
//! let factory = InstanceFactory::new(&engine, &Linker::new(), &module)?;
//! let id = manager.register(factory, PoolConfig { strategy: PoolStrategy::Fixed(1), ..Default::default() })?;
//! for _ in 0..3 {
//!     let mut lease = manager.checkout(id)?;
//!     // Every caller starts from the post-instantiation state.
//!     assert_eq!(lease.call("bump", &[])?, vec![Value::I32(1)]);
//! }
//! assert_eq!(manager.metrics().reused, 2);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
#![deny(missing_docs)]

mod clock;
mod factory;
mod idle;
mod manager;
mod metrics;
mod pool;
mod snapshot;
mod state;

pub use clock::{Clock, ManualClock, SystemClock};
pub use factory::{InstanceFactory, InstanceId, Instantiate, LiveInstance, StoreSetup};
pub use manager::{HeldInstance, InstanceManager, ManagerConfig};
pub use metrics::MetricsSnapshot;
pub use pool::{InstancePool, Lease, ModuleId, PoolConfig, PoolStrategy};
pub use snapshot::{FORMAT_VERSION as SNAPSHOT_FORMAT_VERSION, Snapshot, SnapshotFormatError};
pub use state::{LifecycleController, LifetimePolicy, RetireReason, State};

/// What can go wrong in the instance layer.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum LifecycleError {
    /// The runtime failed: linking, instantiation, a call, a checkpoint.
    #[error(transparent)]
    Runtime(#[from] wes_runtime::RuntimeError),
    /// A [custom instantiation](InstanceFactory::from_fn) refused (a security decision, say).
    #[error(transparent)]
    Refused(Box<dyn std::error::Error + Send + Sync>),
    /// A snapshot was refused: corrupt, of another format, module or pricing.
    #[error(transparent)]
    Snapshot(#[from] SnapshotFormatError),
    /// A pool is at its maximum and none of its instances is idle.
    #[error("module {module:?}: all {max} instances are in use")]
    Exhausted {
        /// The module.
        module: ModuleId,
        /// The pool's maximum.
        max: usize,
    },
    /// The manager is at capacity and no other module has an idle instance to evict.
    #[error("the manager's capacity of {capacity} instances is reached and none is idle")]
    CapacityReached {
        /// The manager's capacity.
        capacity: usize,
    },
    /// No module is registered under this id.
    #[error("no module {0:?}")]
    UnknownModule(ModuleId),
    /// The instance has no such exported function.
    #[error("no exported function {0:?}")]
    NoSuchExport(String),
    /// A state change the lifecycle does not allow.
    #[error("illegal lifecycle transition from {from:?} to {to:?}")]
    IllegalTransition {
        /// The current state.
        from: State,
        /// The state asked for.
        to: State,
    },
}
