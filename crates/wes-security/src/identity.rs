//! [`ModuleIdentity`]: who a module is to the security layer: its content hash, and a name if
//! the embedder gave one.

use std::fmt;

use sha2::{Digest, Sha256};

/// The SHA-256 of a module's bytes.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ModuleHash(pub [u8; 32]);

impl ModuleHash {
    /// The hash of `bytes`.
    pub fn of(bytes: &[u8]) -> Self {
        ModuleHash(Sha256::digest(bytes).into())
    }

    /// Lower-case hex, 64 characters.
    pub fn to_hex(&self) -> String {
        hex(&self.0)
    }

    /// Parses 64 hex digits, optionally after `sha256:`.
    pub fn from_hex(s: &str) -> Option<Self> {
        let s = s.strip_prefix("sha256:").unwrap_or(s);
        if s.len() != 64 {
            return None;
        }
        let mut out = [0u8; 32];
        for (i, byte) in out.iter_mut().enumerate() {
            *byte = u8::from_str_radix(s.get(2 * i..2 * i + 2)?, 16).ok()?;
        }
        Some(ModuleHash(out))
    }
}

impl fmt::Debug for ModuleHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ModuleHash({})", self.to_hex())
    }
}

impl fmt::Display for ModuleHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Twelve hex digits name a module unambiguously in practice and keep messages short.
        f.write_str(&self.to_hex()[..12])
    }
}

pub(crate) fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        s.push(DIGITS[usize::from(b >> 4)] as char);
        s.push(DIGITS[usize::from(b & 0xf)] as char);
    }
    s
}

/// A module as the security layer knows it: grants, threat windows and audit records are kept
/// by its hash; a name, when given, lets a policy grant capabilities to every version of it.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct ModuleIdentity {
    hash: ModuleHash,
    name: Option<String>,
}

impl ModuleIdentity {
    /// The identity of the module `bytes` (binary or text: whatever was handed in), with an
    /// optional name.
    pub fn new(bytes: &[u8], name: Option<&str>) -> Self {
        ModuleIdentity { hash: ModuleHash::of(bytes), name: name.map(str::to_string) }
    }

    /// An identity from a hash computed elsewhere.
    pub fn from_hash(hash: ModuleHash, name: Option<&str>) -> Self {
        ModuleIdentity { hash, name: name.map(str::to_string) }
    }

    /// The content hash.
    pub fn hash(&self) -> &ModuleHash {
        &self.hash
    }

    /// The name, if any.
    pub fn name(&self) -> Option<&str> {
        self.name.as_deref()
    }
}

impl fmt::Display for ModuleIdentity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.name {
            Some(name) => write!(f, "`{name}` ({})", self.hash),
            None => write!(f, "{}", self.hash),
        }
    }
}
