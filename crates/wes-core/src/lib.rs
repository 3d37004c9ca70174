//! The vocabulary every WES crate speaks.
//!
//! `wes-core` is what an embedder sees first, so it is small and has no heavy dependencies:
//!
//! | module | what it holds |
//! |---|---|
//! | [`types`] | value, function, table, memory and global types, and limits |
//! | [`value`] | [`Value`], the typed value crossing the host/wasm boundary |
//! | [`trap`] | [`TrapCode`] and [`Trap`], every way a wasm call can stop abnormally |
//! | [`module`] | [`Module`], a decoded and validated module, as `wes-decode` produces it |
//! | [`admission`] | [`FunctionLimits`], what an engine admits whatever its backend |
//! | [`backend`] | the [`Backend`] trait a compiler or interpreter implements |
//! | [`vm`] | the instance-context layout and libcalls shared by the runtime and backends |
//!
//! Nothing here executes code or parses bytes: decoding is `wes-decode`'s job, execution the
//! runtime's and the backends'.
#![deny(missing_docs)]

pub mod admission;
pub mod backend;
pub mod module;
pub mod parallel;
pub mod spare;
pub mod trap;
pub mod types;
pub mod unwind;
pub mod value;
pub mod vm;

pub use admission::{FunctionLimits, FunctionShape};
pub use backend::{Backend, CodeFingerprint, CompileError, Fault, FuncEntry, GasLink};
pub use module::{Module, ModuleParts};
pub use trap::{FrameInfo, Trap, TrapCode};
pub use types::{FuncType, GlobalType, Limits, MemoryType, Mutability, RefType, TableType, ValType};
pub use value::{ExternRef, FuncRef, Value};

/// The size of a WebAssembly linear-memory page, in bytes.
pub const WASM_PAGE_SIZE: u64 = 65_536;
