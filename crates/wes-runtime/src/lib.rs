//! WES's runtime: what a running module needs, whatever backend compiled it.
//!
//! | type | what it is |
//! |---|---|
//! | [`Engine`] | a [`Config`] and a backend (`Arc<dyn wes_core::Backend>`); shared, cheap to clone |
//! | [`Module`] | a module compiled by an engine's backend |
//! | [`Store`] | the unit of isolation: memories, tables, globals, functions, instances; `&mut`, no locks |
//! | [`Linker`] | host functions and store items by `(module, name)`; instantiates modules |
//! | [`InstancePre`] | a module with its imports resolved and checked once, to instantiate many times |
//! | [`Instance`], [`Func`], [`Memory`], [`Table`], [`Global`] | handles into a store |
//! | [`HostFunc`], [`Caller`] | host functions and their view of the calling instance |
//! | [`Tiered`] | a backend of two: runs modules on the first at once, on the second once it compiled them in the background |
//!
//! Calls return `Result<Vec<Value>, RuntimeError>`; a trap is [`RuntimeError::Trap`] carrying a
//! [`wes_core::Trap`] with its code and wasm backtrace, and the store stays usable afterwards.
//!
//! ```
//! use std::sync::Arc;
//! use wes_runtime::{Config, Engine, Linker, Module, Store, HostError, Caller};
//! use wes_core::Value;
//!
//! let engine = Engine::new(Config::default(), Arc::new(wes_jit::Jit::new()?));
//! let wasm = wes_decode::decode_text(r#"(module
//!     (import "host" "double" (func $double (param i32) (result i32)))
//!     (func (export "run") (param i32) (result i32) local.get 0 call $double))"#)?;
//! let module = Module::new(&engine, wasm)?;
//! let mut linker = Linker::new();
//! linker.func_wrap("host", "double", |_: &mut Caller<'_>, (x,): (i32,)| -> Result<i32, HostError> { Ok(x * 2) });
//! let mut store = Store::new(&engine);
//! let instance = linker.instantiate(&mut store, &module)?;
//! let run = instance.get_func(&store, "run").ok_or("no export")?;
//! assert_eq!(run.call(&mut store, &[Value::I32(21)])?, vec![Value::I32(42)]);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # Design
//!
//! | concern | choice | why |
//! |---|---|---|
//! | backend seam | `Arc<dyn wes_core::Backend>`; the instance layout is [`wes_core::vm`] | the runtime knows no backend, a backend knows no runtime type |
//! | traps | compiled code records the code and returns `false`; every frame records itself on the way out | no signal handlers or unwinding: the store is usable after any trap, and the backtrace is free |
//! | call stack | a depth counter checked at every function entry ([`Config::max_call_depth`]); wasm runs on a dedicated stack sized from the limit and the largest frame | the limit is in wasm frames, the same on every machine, and is always hit before the native stack runs out |
//! | memories | one private mapping each, reserved to the maximum and opened by `mprotect`; data segments from a per-module image mapped copy-on-write; mappings of dropped stores scrubbed and reused by the engine; bounds-checked by compiled code | declaring a big memory costs nothing until used, the base never moves, an instance pays only for the pages it touches, a fresh instance makes no mapping; growth failures return -1 |
//! | resource limits | a [`ResourceLimiter`] per store ([`StoreLimits`] by default) asked before every memory, table and instance is created or grown, with the store's totals | a module cannot make a store allocate past its budget; a refusal is a typed error or -1, never an allocation failure |
//! | reuse | [`Store::checkpoint`] / [`Store::reset`]: back to the post-instantiation state, memory in proportion to the pages written | pooled instances (`wes-lifecycle`) that show nothing of their last user |
//! | instantiation | what does not depend on the instance (signature ids, memory and table images) computed once per module; function records in one block per instance | a fresh instance of a large module does per-instance work only |
//! | host functions | closures behind a trampoline monomorphised per closure; errors and panics become [`TrapCode::HostError`](wes_core::TrapCode::HostError) traps | a failing host call is a trap of the wasm call, never a crash |
//!
//! All `unsafe` code lives in the private `vm` module, each block with a `// SAFETY:` argument.
#![deny(missing_docs)]

mod api;
mod engine;
mod error;
mod host;
mod limits;
mod linker;
mod plan;
mod spare;
mod store;
mod tier;
mod vm;

pub use api::{Extern, Func, Global, Instance, Memory, Table};
pub use api::{GasCall, GasUsage};
pub use engine::{Config, Engine, Module};
pub use error::RuntimeError;
pub use host::{Caller, Gate, HostError, HostFunc, MemoryAccessError, WasmParams, WasmResults, WasmTy};
pub use limits::{LimitExceeded, Resource, ResourceLimiter, ResourceOp, ResourceUsage, StoreLimits};
pub use linker::{InstancePre, Linker};
pub use store::{FunctionCost, GasProfile, OutOfGasHandler, ResetStats, Store, StoreStats};
pub use store::{InstanceState, MemoryState, RefState, SnapshotError, ValueState};
pub use tier::{TierState, TierStats, Tiered};
