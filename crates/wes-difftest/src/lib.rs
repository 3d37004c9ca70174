//! Differential testing across WES backends and configurations (issue 14, item 7).
//!
//! One generated corpus drives every engine. [`generate`] turns seed bytes into a valid module
//! (wasm-smith, with SIMD, tail calls, reference types, bulk memory, multi-value and traps);
//! [`compare`] runs it on every engine of a list, each in fresh stores whose host functions
//! (which a module may import, [`HOST_IMPORTS`]) are the same, and checks that they
//! agree on everything a call can observe:
//!
//! - the outcome of compiling and instantiating it (a trap or resource error included), with the
//!   gas instantiation used and the state it left;
//! - for every exported function, called in export order with deterministic arguments: the
//!   results, bit for bit (NaN payloads and v128 lanes included), or the trap (code, trap
//!   offset, backtrace frames); the gas used; a hash of the final state (every exported memory's
//!   bytes, global values and table contents);
//! - for every call on a metered engine, the same call rerun from the same state under tight
//!   gas limits (the exact gas used, one less, a half, a seventh, 1): the outcome, the gas
//!   charged when it stopped and the state it left.
//!
//! Gas is compared among metered engines of the same pricing (by content hash); unmetered
//! engines are compared on outcomes and state, and only run calls a metered engine finished,
//! so a module that loops forever cannot hang the harness.
//!
//! The engines compared today are the JIT's and the interpreter's configurations that must
//! agree ([`standard_engines`]); another backend joins by one line in that list. [`rotation`]
//! picks three of them per module (the reference, one interpreter engine, one other JIT
//! engine) for the corpus test and the fuzz target.
#![deny(missing_docs)]

mod compare;
mod engines;
mod generate;
mod run;

pub use compare::{Divergence, Summary, compare, compare_seed};
pub use engines::{CALL_GAS, engine_config, rotation, standard_engines};
pub use generate::{
    FUEL, GenerateError, HOST_IMPORTS, ModuleFeatures, generate, module_features, smith_config, smith_config_with_host,
};
pub use run::host_linker;
pub use run::{Outcome, Step};
