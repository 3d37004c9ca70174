//! WES's compiled-artifact cache: a backend's compiled code as a versioned, checksummed
//! artifact ([`Artifact`], [`artifact::load`]), and [`ArtifactCache`], which keeps compiled
//! modules of one engine in memory (a least-recently-used set bounded by bytes) and in a
//! directory several processes share (atomic writes, shared and exclusive file locks, a size
//! cap with eviction).
//!
//! A node runs the same contracts after every restart; compiling them again is most of its
//! start-up. With a cache directory, a restart reads each artifact, checks it, validates the
//! wasm again (cheap next to compiling it) and maps the code:
//!
//! ```text
//!   wasm bytes ─▶ key = SHA-256(module, WES version, format, backend + settings + pricing, CPU)
//!        memory hit ─▶ Module
//!        file hit   ─▶ checksum, versions, backend, CPU, module hash ─▶ validate wasm ─▶ map code ─▶ Module
//!        miss / bad ─▶ validate, compile ─▶ write artifact (temp + rename) ─▶ Module
//! ```
//!
//! What a backend's code depends on is its [`wes_core::CodeFingerprint`]; what its code is as
//! bytes is [`wes_core::backend::CompiledModule::serialize`] and
//! [`wes_core::Backend::deserialize`]. The JIT's code needs no relocation at load (see
//! `wes-jit`'s `artifact.rs`). The validated module is never stored: it is made again from
//! the wasm bytes by the validator, so only the validator makes a `wes_core::Module`.
//!
//! ```
//! use std::sync::Arc;
//! use wes_cache::{ArtifactCache, CacheConfig, Source};
//!
//! let engine = wes_runtime::Engine::new(Default::default(), Arc::new(wes_jit::Jit::new()?));
//! let cache = ArtifactCache::new(&engine, wes_decode::Decoder::default(), &CacheConfig::default())?;
//! let wasm = wat::parse_str("(module (func (export \"f\") (result i32) i32.const 7))")?;
//! assert_eq!(cache.load(&wasm)?.1, Source::Compiled);
//! assert_eq!(cache.load(&wasm)?.1, Source::Memory);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
#![deny(missing_docs)]

pub mod artifact;
mod cache;
mod disk;

use std::path::PathBuf;

pub use artifact::{Artifact, ArtifactError, module_hash};
pub use cache::{ArtifactCache, CacheConfig, Source};

/// Why a cache or artifact operation failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CacheError {
    /// An artifact was refused.
    #[error(transparent)]
    Artifact(#[from] ArtifactError),
    /// The wasm bytes do not validate.
    #[error(transparent)]
    Decode(#[from] wes_decode::DecodeError),
    /// The module does not compile, or the backend refused the artifact's code.
    #[error(transparent)]
    Runtime(#[from] wes_runtime::RuntimeError),
    /// The cache directory could not be used.
    #[error("{what} {}: {source}", path.display())]
    Io {
        /// What was being done.
        what: &'static str,
        /// The file or directory.
        path: PathBuf,
        /// What the system said.
        #[source]
        source: std::io::Error,
    },
}

/// What an [`ArtifactCache`] has done since it was made.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct CacheStats {
    /// Loads answered from memory.
    pub memory_hits: u64,
    /// Loads answered from the directory.
    pub disk_hits: u64,
    /// Modules compiled.
    pub compiled: u64,
    /// Artifacts in the directory refused (corrupt, of another version, backend or CPU) and
    /// recompiled.
    pub rejected: u64,
    /// Modules dropped from memory to stay within its cap.
    pub memory_evicted: u64,
    /// Artifacts deleted from the directory to stay within its cap (by this cache).
    pub disk_evicted: u64,
    /// Reads or writes of the directory that failed (the load went on without it).
    pub disk_errors: u64,
    /// Modules in memory now.
    pub memory_modules: u64,
    /// Their bytes (code and wasm).
    pub memory_bytes: u64,
}
