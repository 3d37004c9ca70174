//! What a backend must offer the spec runner to execute scripts.
//!
//! The runner decodes every module itself through `wes-decode`'s public API, so the
//! `validate` backend needs nothing more. A backend that executes implements [`Executor`] on
//! top of the runtime's public API; the runner then drives instantiation, registration,
//! invocation and global reads through it, the same way for every backend.

use wes_core::{Module, Value};

/// How a step of execution failed.
#[derive(Debug)]
#[expect(dead_code, reason = "built by executing backends; the first (jit) arrives with wes-runtime")]
pub(crate) enum ExecError {
    /// The wasm code trapped; the message is the trap's text.
    Trap(String),
    /// Imports could not be satisfied.
    Link(String),
    /// Anything else (unknown export, wrong argument types, backend refusal).
    Other(String),
}

impl std::fmt::Display for ExecError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ExecError::Trap(m) => write!(f, "trap: {m}"),
            ExecError::Link(m) => write!(f, "link error: {m}"),
            ExecError::Other(m) => write!(f, "error: {m}"),
        }
    }
}

/// One script's execution state: a store with the `spectest` host module, the instances made
/// so far and the names they are registered under.
pub(crate) trait Executor {
    /// Instantiates `module`; it becomes the current instance and, if named, can be referred
    /// to by that name.
    fn instantiate(&mut self, name: Option<&str>, module: Module) -> Result<(), ExecError>;
    /// Makes an instance's exports importable under `as_name`.
    fn register(&mut self, as_name: &str, instance: Option<&str>) -> Result<(), ExecError>;
    /// Calls an exported function.
    fn invoke(&mut self, instance: Option<&str>, func: &str, args: &[Value]) -> Result<Vec<Value>, ExecError>;
    /// Reads an exported global.
    fn get(&mut self, instance: Option<&str>, global: &str) -> Result<Value, ExecError>;
}

/// The backends `--backend` accepts, in the order `cargo xtask ci` runs them.
pub(crate) const BACKENDS: &[&str] = &["validate"];

/// A fresh executor for one script, or `None` for a backend that only validates.
pub(crate) fn executor(backend: &str) -> Option<Box<dyn Executor>> {
    // Only `validate` exists so far, and it does not execute.
    let _ = backend;
    None
}
