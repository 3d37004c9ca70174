//! Snapshots: an instance's whole state in a versioned, checksummed file, restored in another
//! engine, process or machine to continue with the same results and the same gas.
//!
//! The state is the runtime's [`InstanceState`] (memories, globals, tables with function
//! references as indices, element and dropped data segments, the meter's remaining gas),
//! serialised with serde (postcard) in an envelope:
//!
//! ```text
//!   "WESSNAP\0"   magic
//!   format: u32   FORMAT_VERSION; another value is refused before anything else is read
//!   body          postcard: module hash (SHA-256 of the wasm bytes), pricing hash, state
//!   checksum      SHA-256 of everything before it
//! ```
//!
//! A snapshot restores only into an instance of the module it was taken from (by hash), under
//! the same pricing (gas would mean something else otherwise); the runtime then checks each
//! object's shape before writing anything.

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use wes_runtime::{Instance, InstanceState, Module, Store};

use crate::LifecycleError;

const MAGIC: &[u8; 8] = b"WESSNAP\0";
/// The version of the snapshot format.
pub const FORMAT_VERSION: u32 = 1;

/// Why snapshot bytes were refused.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SnapshotFormatError {
    /// The bytes do not start with the snapshot magic.
    #[error("not a WES snapshot (no WESSNAP magic)")]
    NotASnapshot,
    /// Another format version wrote it.
    #[error("snapshot format {found}, this WES reads {expected}")]
    Version {
        /// The snapshot's format version.
        found: u32,
        /// The version this WES reads.
        expected: u32,
    },
    /// The bytes end before the checksum.
    #[error("snapshot truncated: {len} bytes")]
    Truncated {
        /// How many bytes there are.
        len: usize,
    },
    /// The checksum does not match the contents.
    #[error("snapshot checksum mismatch: the file was altered or torn")]
    Checksum,
    /// The body does not decode.
    #[error("malformed snapshot: {0}")]
    Malformed(String),
    /// The snapshot was taken from another module.
    #[error("snapshot of module {snapshot}, not of this module {module}")]
    ModuleMismatch {
        /// The snapshot's module hash (hex, abbreviated).
        snapshot: String,
        /// This module's (hex, abbreviated).
        module: String,
    },
    /// The snapshot was taken under another pricing.
    #[error("snapshot taken under pricing {snapshot}, the store's engine uses {engine}")]
    PricingMismatch {
        /// The snapshot's pricing hash (hex, abbreviated) or `unmetered`.
        snapshot: String,
        /// The engine's.
        engine: String,
    },
}

/// An instance's state with what it was taken from.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Snapshot {
    /// SHA-256 of the module's wasm bytes.
    pub module_hash: [u8; 32],
    /// The pricing hash of the engine it was taken in, `None` when unmetered.
    pub pricing_hash: Option<[u8; 32]>,
    /// The state.
    pub state: InstanceState,
}

fn short(h: Option<&[u8; 32]>) -> String {
    match h {
        Some(h) => h.iter().take(8).map(|b| format!("{b:02x}")).collect(),
        None => "unmetered".into(),
    }
}

fn module_hash(module: &Module) -> [u8; 32] {
    Sha256::digest(&module.module().bytes[..]).into()
}

impl Snapshot {
    /// The state of `instance`, an instance of `module` in `store`, taken between calls.
    ///
    /// # Errors
    ///
    /// [`LifecycleError::Runtime`] when the runtime cannot capture it (an instance of another
    /// store, a reference the instance cannot name).
    pub fn capture(store: &Store, instance: &Instance, module: &Module) -> Result<Snapshot, LifecycleError> {
        Ok(Snapshot {
            module_hash: module_hash(module),
            pricing_hash: store.engine().config().pricing.as_ref().map(|p| p.hash()),
            state: store.capture(instance)?,
        })
    }

    /// Writes the state into `instance`, an instance of `module` in `store` (typically fresh,
    /// in another engine). Calls then continue as in the captured instance.
    ///
    /// # Errors
    ///
    /// [`SnapshotFormatError::ModuleMismatch`] or [`SnapshotFormatError::PricingMismatch`]
    /// when the snapshot is of another module or pricing, and the runtime's
    /// [`SnapshotError`](wes_runtime::SnapshotError) when an object does not fit; the store is
    /// unchanged after any of these.
    pub fn restore(&self, store: &mut Store, instance: &Instance, module: &Module) -> Result<(), LifecycleError> {
        let hash = module_hash(module);
        if hash != self.module_hash {
            return Err(SnapshotFormatError::ModuleMismatch {
                snapshot: short(Some(&self.module_hash)),
                module: short(Some(&hash)),
            }
            .into());
        }
        let pricing = store.engine().config().pricing.as_ref().map(|p| p.hash());
        if pricing != self.pricing_hash {
            return Err(SnapshotFormatError::PricingMismatch {
                snapshot: short(self.pricing_hash.as_ref()),
                engine: short(pricing.as_ref()),
            }
            .into());
        }
        Ok(store.restore(instance, &self.state)?)
    }

    /// The snapshot as bytes, checksum last.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::new();
        out.extend_from_slice(MAGIC);
        out.extend_from_slice(&FORMAT_VERSION.to_le_bytes());
        // Serialising plain data into a vector cannot fail; should it, the body is empty and
        // decoding refuses the snapshot as malformed.
        let body = postcard::to_stdvec(self).unwrap_or_default();
        out.extend_from_slice(&body);
        let sum = Sha256::digest(&out);
        out.extend_from_slice(&sum);
        out
    }

    /// Reads a snapshot, checking magic, format version and checksum.
    ///
    /// # Errors
    ///
    /// [`SnapshotFormatError`]: not a snapshot, another version, truncated, altered, malformed.
    pub fn decode(bytes: &[u8]) -> Result<Snapshot, SnapshotFormatError> {
        if bytes.len() < MAGIC.len() || &bytes[..MAGIC.len()] != MAGIC {
            return Err(SnapshotFormatError::NotASnapshot);
        }
        let header = MAGIC.len() + 4;
        if bytes.len() < header + 32 {
            return Err(SnapshotFormatError::Truncated { len: bytes.len() });
        }
        let mut v = [0u8; 4];
        v.copy_from_slice(&bytes[MAGIC.len()..header]);
        let found = u32::from_le_bytes(v);
        if found != FORMAT_VERSION {
            return Err(SnapshotFormatError::Version { found, expected: FORMAT_VERSION });
        }
        let (contents, stored) = bytes.split_at(bytes.len() - 32);
        if Sha256::digest(contents)[..] != stored[..] {
            return Err(SnapshotFormatError::Checksum);
        }
        let (snapshot, rest) = postcard::take_from_bytes::<Snapshot>(&contents[header..])
            .map_err(|e| SnapshotFormatError::Malformed(e.to_string()))?;
        if !rest.is_empty() {
            return Err(SnapshotFormatError::Malformed(format!("{} bytes after the state", rest.len())));
        }
        Ok(snapshot)
    }
}
