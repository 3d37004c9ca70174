//! [`RuntimeError`]: everything that can go wrong compiling, linking, instantiating or calling.

use wes_core::{CompileError, Trap};

/// Why a runtime operation failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RuntimeError {
    /// Wasm code trapped (during a call, a start function or segment initialisation).
    #[error(transparent)]
    Trap(#[from] Trap),
    /// The backend could not compile the module.
    #[error(transparent)]
    Compile(#[from] CompileError),
    /// The linker has nothing under an import's name.
    #[error("unknown import: {module}::{name} ({kind})")]
    UnknownImport {
        /// The import's module name.
        module: String,
        /// The import's field name.
        name: String,
        /// What kind of item was expected.
        kind: &'static str,
    },
    /// The linker has something under an import's name, but of the wrong type.
    #[error("{reason} for import {module}::{name}")]
    IncompatibleImport {
        /// The import's module name.
        module: String,
        /// The import's field name.
        name: String,
        /// How the types differ.
        reason: String,
    },
    /// Arguments or values of the wrong type or number.
    #[error("type mismatch: {0}")]
    TypeMismatch(String),
    /// A handle was used with a store it does not belong to.
    #[error("object used with a store it does not belong to")]
    WrongStore,
    /// A module compiled by one engine was instantiated in a store of another.
    #[error("module belongs to a different engine than the store")]
    EngineMismatch,
    /// The backend compiled code under another pricing table than the engine's (or metered
    /// code for an unmetered engine, or the reverse); hashes are shown abbreviated.
    #[error("code compiled under pricing {compiled} cannot run under pricing {engine}")]
    PricingMismatch {
        /// The pricing the code was compiled under.
        compiled: String,
        /// The engine's pricing.
        engine: String,
    },
    /// The backend's code counts executed operators and the engine's
    /// [`Config::count_operators`](crate::Config::count_operators) does not, or the reverse.
    #[error("code that {} operators cannot run on an engine that {}", counts(*compiled), counts(*engine))]
    OperatorCountMismatch {
        /// Whether the code counts.
        compiled: bool,
        /// Whether the engine counts.
        engine: bool,
    },
    /// The code calls the native bodies of other functions directly, in another calling
    /// convention than the engine's backend gives its bodies (see
    /// [`Backend::body_convention`](wes_core::Backend::body_convention)).
    #[error(
        "code calling native bodies in convention {compiled:#x} cannot run on an engine whose bodies use {engine:#x}"
    )]
    BodyConventionMismatch {
        /// The code's convention.
        compiled: u64,
        /// The engine backend's convention.
        engine: u64,
    },
    /// An out-of-gas handler was set on a store whose engine's code traps when a gas check
    /// finds the counter short instead of resuming (the JIT's `JitConfig::resume_out_of_gas`
    /// is off).
    #[error(
        "the {backend} backend's gas checks trap rather than resume, so there is no out-of-gas handler to call; compile with resume_out_of_gas on"
    )]
    NoOutOfGasResume {
        /// The backend whose code does not resume.
        backend: &'static str,
    },
    /// Code whose gas checks trap rather than resume was loaded into an engine whose stores
    /// may have an out-of-gas handler (its backend's code resumes), which it could not honour.
    #[error(
        "code whose gas checks trap rather than resume cannot run on the {engine} engine, whose stores may have an out-of-gas handler"
    )]
    OutOfGasResumeMismatch {
        /// The engine backend's name.
        engine: &'static str,
    },
    /// The store's [`ResourceLimiter`](crate::ResourceLimiter) refused to create a memory, a
    /// table or an instance (nothing was added to the store).
    #[error(transparent)]
    StoreLimit(#[from] crate::LimitExceeded),
    /// A configured limit, or the host's memory, does not allow the operation.
    #[error("resource limit: {0}")]
    ResourceLimit(String),
    /// [`Store::reset`](crate::Store::reset) could not return the store to its checkpoint; the
    /// store must not be reused.
    #[error("cannot reset the store: {0}")]
    Reset(String),
    /// An instance's state could not be captured or restored (see [`Store::capture`](crate::Store::capture)).
    #[error(transparent)]
    Snapshot(#[from] crate::SnapshotError),
}

impl RuntimeError {
    /// Whether this is a linking error (an import missing or of the wrong type).
    pub fn is_link_error(&self) -> bool {
        matches!(self, RuntimeError::UnknownImport { .. } | RuntimeError::IncompatibleImport { .. })
    }

    /// The trap, if this is one.
    pub fn as_trap(&self) -> Option<&Trap> {
        match self {
            RuntimeError::Trap(t) => Some(t),
            _ => None,
        }
    }
}

fn counts(on: bool) -> &'static str {
    if on { "counts" } else { "does not count" }
}
