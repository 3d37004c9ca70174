//! The artifact format: a backend's compiled code in a versioned, checksummed envelope that
//! says what the code was compiled from and for.
//!
//! ```text
//!   "WESCWASM"            magic
//!   format: u32           FORMAT_VERSION; another value is refused before anything else is read
//!   wes version           \
//!   backend               |  each a u32 length and UTF-8 bytes
//!   backend config        |  (the backend's CodeFingerprint, and the WES that wrote it)
//!   target (CPU)          /
//!   module hash: [u8; 32] SHA-256 of the wasm bytes the code was compiled from
//!   wasm: u8 flag, then u64 length and the bytes when 1 (a self-contained artifact)
//!   validation: u32 length and UTF-8 bytes: the decoder features the module validated with;
//!               u64 count, then per function body its shape (seven LEB128 counts, a flag byte)
//!   payload: u64 length and the backend's bytes (CompiledModule::serialize)
//!   checksum: [u8; 32]    SHA-256 of everything before it
//! ```
//! Integers are little-endian. [`Artifact::decode`] checks the framing and the checksum, so a
//! truncated or altered file is refused whatever byte changed; [`Artifact::check`] then
//! compares what the artifact was made for with the engine that would run it. Only then does
//! the backend see the payload.
//!
//! The validation record lets a load skip validating the function bodies again
//! ([`wes_decode::Decoder::decode_prevalidated`]): the code was compiled from these bytes,
//! which validated, and the record says with which features and to which shapes. A decoder
//! with other features validates in full; so does any load whose quick decode fails.
//!
//! The checksum detects corruption (a torn write, a flipped bit, a file of another version
//! or machine), not forgery: whoever can write an artifact can write its checksum. That is why
//! [`load`] is `unsafe`: its caller vouches for where the bytes come from, as for a native
//! library it would load.

use std::sync::Arc;

use sha2::{Digest, Sha256};
use wes_core::{CodeFingerprint, FunctionShape};
use wes_decode::Decoder;
use wes_runtime::{Engine, Module};

use crate::CacheError;

const MAGIC: &[u8; 8] = b"WESCWASM";
/// The version of the envelope's layout.
pub const FORMAT_VERSION: u32 = 2;
/// The WES version artifacts are written by; an artifact of another version is refused (the
/// code may assume another instance layout or libcall table).
pub const WES_VERSION: &str = env!("CARGO_PKG_VERSION");

/// Why an artifact was refused. Every refusal is detected before any of its code is mapped.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ArtifactError {
    /// The bytes do not start with the artifact magic.
    #[error("not a WES compiled artifact (no WESCWASM magic)")]
    NotAnArtifact,
    /// The envelope ends before a field it declares (`field`, at byte `offset`).
    #[error("artifact truncated: {field} at byte {offset} runs past the end ({len} bytes)")]
    Truncated {
        /// The field being read.
        field: &'static str,
        /// Where it starts.
        offset: usize,
        /// The artifact's length.
        len: usize,
    },
    /// The checksum does not match the contents: the file was altered or torn.
    #[error("artifact checksum mismatch: stored {stored}, computed {computed}")]
    Checksum {
        /// The checksum in the file (hex, abbreviated).
        stored: String,
        /// The checksum of the contents (hex, abbreviated).
        computed: String,
    },
    /// Another layout, or another WES version, wrote it.
    #[error("artifact of {what} {found}, this WES reads {expected}")]
    Version {
        /// `"format"` or `"WES version"`.
        what: &'static str,
        /// What the artifact says.
        found: String,
        /// What this WES writes.
        expected: String,
    },
    /// Another backend, or the same backend configured otherwise (settings, pricing), compiled it.
    #[error(
        "artifact compiled by backend {found_backend}, the engine's is {expected_backend}; settings that differ: {differences}"
    )]
    Backend {
        /// The artifact's backend.
        found_backend: String,
        /// The engine's backend.
        expected_backend: String,
        /// The settings that differ, as `name: artifact's -> engine's`.
        differences: String,
    },
    /// The code was compiled for another CPU (architecture or features).
    #[error("artifact compiled for another target or CPU; differences: {differences}")]
    Target {
        /// What differs, as `name: artifact's -> this host's` (the triple and CPU features).
        differences: String,
    },
    /// The artifact was compiled from other wasm bytes than the ones given.
    #[error("artifact compiled from module {found}, not from the given module {expected}")]
    ModuleMismatch {
        /// The module hash in the artifact (hex, abbreviated).
        found: String,
        /// The hash of the given bytes (hex, abbreviated).
        expected: String,
    },
    /// The artifact does not carry its wasm bytes and none were given.
    #[error("artifact does not contain its module; give the wasm file too")]
    NoModule,
    /// The engine's backend cannot serialise or load code.
    #[error("backend {0} cannot serialise compiled code")]
    Unsupported(String),
    /// A field holds a value the format does not allow.
    #[error("malformed artifact: {0}")]
    Malformed(String),
}

/// A decoded artifact: what its code was compiled from and for, and the code.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Artifact {
    /// The WES version that wrote it.
    pub wes_version: String,
    /// The backend, its configuration and the target the code was compiled for.
    pub fingerprint: CodeFingerprint,
    /// SHA-256 of the wasm bytes the code was compiled from.
    pub module_hash: [u8; 32],
    /// The wasm bytes themselves, when the artifact is self-contained.
    pub wasm: Option<Vec<u8>>,
    /// How the module validated when its code was compiled.
    pub validation: Validation,
    /// The backend's serialised code.
    pub payload: Vec<u8>,
}

/// How an artifact's module validated: with which decoder features, to which function shapes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Validation {
    /// The features of the decoder that validated the module ([`features_key`]).
    pub features: String,
    /// Each function body's shape, as that decoder measured it.
    pub shapes: Vec<FunctionShape>,
}

/// How an artifact names a decoder's features: a load with a decoder whose key differs
/// validates the module in full.
pub fn features_key(decoder: &Decoder) -> String {
    format!("{:?}", decoder.features())
}

/// SHA-256 of `bytes`: how artifacts and cache keys name a module.
pub fn module_hash(bytes: &[u8]) -> [u8; 32] {
    Sha256::digest(bytes).into()
}

pub(crate) fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn short(bytes: &[u8]) -> String {
    hex(&bytes[..bytes.len().min(8)])
}

impl Artifact {
    /// The artifact of `module`, compiled by `engine` from `wasm`, which `decoder` decoded;
    /// the wasm bytes are included when `embed_wasm`, so that [`load`] needs nothing else.
    ///
    /// `decoder` must be the decoder that made `module`: the artifact records its features,
    /// and a load with a decoder of the same features takes the bodies as valid.
    ///
    /// # Errors
    ///
    /// [`ArtifactError::Unsupported`] when the engine's backend cannot serialise its code.
    pub fn new(
        engine: &Engine,
        decoder: &Decoder,
        module: &Module,
        wasm: &[u8],
        embed_wasm: bool,
    ) -> Result<Artifact, ArtifactError> {
        let backend = engine.backend();
        let unsupported = || ArtifactError::Unsupported(backend.name().into());
        let fingerprint = backend.fingerprint().ok_or_else(unsupported)?;
        let payload = module.compiled().serialize().ok_or_else(unsupported)?;
        Ok(Artifact {
            wes_version: WES_VERSION.into(),
            fingerprint,
            module_hash: module_hash(wasm),
            wasm: embed_wasm.then(|| wasm.to_vec()),
            validation: Validation {
                features: features_key(decoder),
                shapes: module.compiled().module().bodies.iter().map(|b| b.shape.clone()).collect(),
            },
            payload,
        })
    }

    /// The artifact as bytes, checksum last.
    pub fn encode(&self) -> Vec<u8> {
        let wasm_len = self.wasm.as_ref().map_or(0, Vec::len);
        let mut out = Vec::with_capacity(256 + wasm_len + self.payload.len());
        out.extend_from_slice(MAGIC);
        out.extend_from_slice(&FORMAT_VERSION.to_le_bytes());
        let f = &self.fingerprint;
        for s in [&self.wes_version, &f.backend, &f.config, &f.target] {
            out.extend_from_slice(&(s.len() as u32).to_le_bytes());
            out.extend_from_slice(s.as_bytes());
        }
        out.extend_from_slice(&self.module_hash);
        match &self.wasm {
            Some(w) => {
                out.push(1);
                out.extend_from_slice(&(w.len() as u64).to_le_bytes());
                out.extend_from_slice(w);
            }
            None => out.push(0),
        }
        let v = &self.validation;
        out.extend_from_slice(&(v.features.len() as u32).to_le_bytes());
        out.extend_from_slice(v.features.as_bytes());
        out.extend_from_slice(&(v.shapes.len() as u64).to_le_bytes());
        for shape in &v.shapes {
            write_shape(&mut out, shape);
        }
        out.extend_from_slice(&(self.payload.len() as u64).to_le_bytes());
        out.extend_from_slice(&self.payload);
        let sum = Sha256::digest(&out);
        out.extend_from_slice(&sum);
        out
    }

    /// Reads an artifact, checking its magic, format version and checksum, and that every
    /// field lies inside it. It says nothing yet about whether this engine may run it: see
    /// [`Artifact::check`].
    ///
    /// # Errors
    ///
    /// [`ArtifactError`]: not an artifact, another format version, truncated, checksum
    /// mismatch, or a malformed field.
    pub fn decode(bytes: &[u8]) -> Result<Artifact, ArtifactError> {
        let mut r = Reader { bytes, at: 0 };
        if bytes.len() < MAGIC.len() || &bytes[..MAGIC.len()] != MAGIC {
            return Err(ArtifactError::NotAnArtifact);
        }
        r.at = MAGIC.len();
        let format = r.u32("format version")?;
        if format != FORMAT_VERSION {
            return Err(ArtifactError::Version {
                what: "format",
                found: format.to_string(),
                expected: FORMAT_VERSION.to_string(),
            });
        }
        let body_len = bytes.len().checked_sub(32).filter(|&n| n >= r.at).ok_or(ArtifactError::Truncated {
            field: "checksum",
            offset: r.at,
            len: bytes.len(),
        })?;
        let (body, stored) = bytes.split_at(body_len);
        let computed: [u8; 32] = Sha256::digest(body).into();
        if computed != stored {
            return Err(ArtifactError::Checksum { stored: short(stored), computed: short(&computed) });
        }
        // From here on the contents are what the writer wrote; the checks below only guard
        // against a writer of this version that wrote nonsense.
        let mut r = Reader { bytes: body, at: r.at };
        let wes_version = r.string("WES version")?;
        let backend = r.string("backend")?;
        let config = r.string("backend config")?;
        let target = r.string("target")?;
        let module_hash: [u8; 32] =
            r.take(32, "module hash")?.try_into().map_err(|_| ArtifactError::Malformed("module hash".into()))?;
        let wasm = match r.take(1, "wasm flag")?[0] {
            0 => None,
            1 => {
                let n = r.len("wasm length")?;
                Some(r.take(n, "wasm")?.to_vec())
            }
            f => return Err(ArtifactError::Malformed(format!("wasm flag {f}"))),
        };
        let features = r.string("validation features")?;
        let n = r.len("shape count")?;
        // Every shape takes at least eight bytes: a forged count cannot reserve more than
        // the artifact's size.
        let mut shapes = Vec::with_capacity(n.min(r.bytes.len() / 8));
        for _ in 0..n {
            shapes.push(r.shape()?);
        }
        let n = r.len("payload length")?;
        let payload = r.take(n, "payload")?.to_vec();
        if r.at != body.len() {
            return Err(ArtifactError::Malformed(format!("{} bytes after the payload", body.len() - r.at)));
        }
        Ok(Artifact {
            wes_version,
            fingerprint: CodeFingerprint { backend, config, target },
            module_hash,
            wasm,
            validation: Validation { features, shapes },
            payload,
        })
    }

    /// Checks that `engine` may run this artifact's code: same WES version, same backend and
    /// configuration, same target and CPU features, and (when `wasm` is given) compiled from
    /// exactly those bytes.
    ///
    /// # Errors
    ///
    /// [`ArtifactError::Version`], [`ArtifactError::Backend`], [`ArtifactError::Target`],
    /// [`ArtifactError::ModuleMismatch`], or [`ArtifactError::Unsupported`] when the engine's
    /// backend loads no code.
    pub fn check(&self, engine: &Engine, wasm: Option<&[u8]>) -> Result<(), ArtifactError> {
        let backend = engine.backend();
        let ours = backend.fingerprint().ok_or_else(|| ArtifactError::Unsupported(backend.name().into()))?;
        self.check_against(&ours, wasm.map(module_hash))
    }

    pub(crate) fn check_against(&self, ours: &CodeFingerprint, hash: Option<[u8; 32]>) -> Result<(), ArtifactError> {
        if self.wes_version != WES_VERSION {
            return Err(ArtifactError::Version {
                what: "WES version",
                found: self.wes_version.clone(),
                expected: WES_VERSION.into(),
            });
        }
        let f = &self.fingerprint;
        if f.backend != ours.backend || f.config != ours.config {
            return Err(ArtifactError::Backend {
                found_backend: f.backend.clone(),
                expected_backend: ours.backend.clone(),
                differences: differences(&f.config, &ours.config),
            });
        }
        if f.target != ours.target {
            return Err(ArtifactError::Target { differences: differences(&f.target, &ours.target) });
        }
        if let Some(h) = hash
            && h != self.module_hash
        {
            return Err(ArtifactError::ModuleMismatch { found: short(&self.module_hash), expected: short(&h) });
        }
        Ok(())
    }
}

/// The `name=value` words of two settings strings that differ, as `name: a -> b` (a word
/// that is not `name=value`, like a target triple, is its own name).
fn differences(found: &str, expected: &str) -> String {
    fn words(s: &str) -> std::collections::BTreeMap<&str, &str> {
        s.split(|c: char| c.is_whitespace() || c == '[' || c == ']')
            .filter(|w| !w.is_empty())
            .enumerate()
            .map(|(i, w)| match w.split_once('=') {
                Some((k, v)) => (k, v),
                // A bare word (the triple) is keyed by its position.
                None => (["#0", "#1", "#2", "#3"].get(i).copied().unwrap_or("#"), w),
            })
            .collect()
    }
    let (a, b) = (words(found), words(expected));
    let mut out: Vec<String> = Vec::new();
    for k in a.keys().chain(b.keys().filter(|k| !a.contains_key(*k))) {
        let (x, y) = (a.get(k).copied().unwrap_or("(none)"), b.get(k).copied().unwrap_or("(none)"));
        if x != y {
            let name = if k.starts_with('#') { "target" } else { k };
            out.push(format!("{name}: {x} -> {y}"));
        }
    }
    if out.is_empty() { "(in order only)".into() } else { out.join(", ") }
}

/// Loads an artifact into `engine`: decodes and checks it ([`Artifact::decode`],
/// [`Artifact::check`]), validates the module again with `decoder` (from `wasm`, or from the
/// bytes in the artifact when `wasm` is `None`), and hands the code to the engine's backend.
/// The module is validated, never read from the artifact: only the validator makes a
/// [`wes_core::Module`].
///
/// # Safety
///
/// The artifact's code is mapped and run. `bytes` must have been written by [`Artifact::encode`]
/// (through `wes compile` or the cache) of a WES the caller trusts, and kept where only trusted
/// processes write: the checks detect corruption and mismatches, not a forged file with a
/// matching checksum.
///
/// # Errors
///
/// [`CacheError::Artifact`] when the artifact is refused, [`CacheError::Decode`] when the module
/// does not validate, [`CacheError::Runtime`] when the backend refuses the code or its pricing is
/// not the engine's.
pub unsafe fn load(
    engine: &Engine,
    decoder: &Decoder,
    bytes: &[u8],
    wasm: Option<&[u8]>,
) -> Result<Module, CacheError> {
    let artifact = Artifact::decode(bytes)?;
    // SAFETY: the caller's contract is this function's, which is `load_decoded`'s.
    unsafe { load_decoded(engine, decoder, &artifact, wasm) }
}

/// [`load`] for an artifact already decoded (and its checksum so verified), for a caller that
/// reads it first, say to admit its embedded module.
///
/// # Safety
///
/// As [`load`]: `artifact` was decoded from bytes of a trusted origin.
///
/// # Errors
///
/// As [`load`].
pub unsafe fn load_decoded(
    engine: &Engine,
    decoder: &Decoder,
    artifact: &Artifact,
    wasm: Option<&[u8]>,
) -> Result<Module, CacheError> {
    artifact.check(engine, wasm)?;
    let wasm = match (wasm, &artifact.wasm) {
        (Some(w), _) => w,
        (None, Some(w)) => {
            // A self-contained artifact: its bytes must be the ones its code was compiled from.
            if module_hash(w) != artifact.module_hash {
                return Err(ArtifactError::Malformed("embedded module does not match its hash".into()).into());
            }
            w.as_slice()
        }
        (None, None) => return Err(ArtifactError::NoModule.into()),
    };
    // SAFETY: the caller vouches for the artifact's origin; it was checked for this engine and
    // for exactly these wasm bytes just above.
    unsafe { load_checked(engine, decoder, wasm, artifact) }
}

/// Whether `bytes` start like an artifact (its magic), rather than like a module.
pub fn is_artifact(bytes: &[u8]) -> bool {
    bytes.starts_with(MAGIC)
}

/// Decodes `wasm` and loads the artifact's payload as its code. The bodies are not validated
/// again when the artifact says a decoder of `decoder`'s features validated them; anything
/// else, and any error of that quick decode, goes through the full validation, whose verdict
/// is the one returned.
///
/// # Safety
///
/// `artifact` passed [`Artifact::check`] for `engine` and for these `wasm` bytes, and the
/// caller trusts its origin (see [`load`]).
pub(crate) unsafe fn load_checked(
    engine: &Engine,
    decoder: &Decoder,
    wasm: &[u8],
    artifact: &Artifact,
) -> Result<Module, CacheError> {
    let v = &artifact.validation;
    let quick = if v.features == features_key(decoder) {
        // SAFETY: the artifact's writer, which the caller trusts, compiled its code from these
        // bytes (checked by hash) after a decoder of these features validated them to these
        // shapes (`Artifact::new`).
        unsafe { decoder.decode_prevalidated(wasm, &v.shapes) }.ok()
    } else {
        None
    };
    let module = match quick {
        Some(m) => Arc::new(m),
        None => Arc::new(decoder.decode(wasm)?),
    };
    let payload = &artifact.payload;
    // SAFETY: as this function's contract: the payload was serialised by a backend with the
    // engine's fingerprint, for these very bytes, which validated to `module`.
    let compiled = unsafe { engine.backend().deserialize(module, payload) }.map_err(wes_runtime::RuntimeError::from)?;
    Ok(Module::from_compiled(engine, compiled)?)
}

fn write_leb(out: &mut Vec<u8>, mut value: u64) {
    loop {
        let byte = (value & 0x7f) as u8;
        value >>= 7;
        if value == 0 {
            out.push(byte);
            return;
        }
        out.push(byte | 0x80);
    }
}

fn write_shape(out: &mut Vec<u8>, s: &FunctionShape) {
    // Exhaustive: a field added to the shape must be added here (and to `Reader::shape`).
    let FunctionShape {
        operators,
        control_operators,
        calls,
        max_branches_per_label,
        max_nesting_depth,
        locals,
        max_br_table_targets,
        may_move_memory,
        may_return_tail,
        uses_simd,
    } = *s;
    for n in
        [operators, control_operators, calls, max_branches_per_label, max_nesting_depth, locals, max_br_table_targets]
    {
        write_leb(out, n);
    }
    out.push(u8::from(may_move_memory) | u8::from(may_return_tail) << 1 | u8::from(uses_simd) << 2);
}

/// Reads the envelope front to back; every read past the end is a typed error.
struct Reader<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize, field: &'static str) -> Result<&'a [u8], ArtifactError> {
        let end = self.at.checked_add(n).filter(|&e| e <= self.bytes.len()).ok_or(ArtifactError::Truncated {
            field,
            offset: self.at,
            len: self.bytes.len(),
        })?;
        let s = &self.bytes[self.at..end];
        self.at = end;
        Ok(s)
    }

    fn u32(&mut self, field: &'static str) -> Result<u32, ArtifactError> {
        let b = self.take(4, field)?;
        Ok(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    }

    fn len(&mut self, field: &'static str) -> Result<usize, ArtifactError> {
        let b = self.take(8, field)?;
        let mut a = [0u8; 8];
        a.copy_from_slice(b);
        usize::try_from(u64::from_le_bytes(a)).map_err(|_| ArtifactError::Malformed(format!("{field} out of range")))
    }

    fn leb(&mut self, field: &'static str) -> Result<u64, ArtifactError> {
        let mut value = 0u64;
        for shift in (0..64).step_by(7) {
            let b = self.take(1, field)?[0];
            value |= u64::from(b & 0x7f) << shift;
            if b & 0x80 == 0 {
                return Ok(value);
            }
        }
        Err(ArtifactError::Malformed(format!("{field}: LEB128 longer than ten bytes")))
    }

    fn shape(&mut self) -> Result<FunctionShape, ArtifactError> {
        let mut shape = FunctionShape {
            operators: self.leb("shape")?,
            control_operators: self.leb("shape")?,
            calls: self.leb("shape")?,
            max_branches_per_label: self.leb("shape")?,
            max_nesting_depth: self.leb("shape")?,
            locals: self.leb("shape")?,
            max_br_table_targets: self.leb("shape")?,
            ..FunctionShape::default()
        };
        let flags = self.take(1, "shape flags")?[0];
        if flags & !0b111 != 0 {
            return Err(ArtifactError::Malformed(format!("shape flags {flags:#x}")));
        }
        shape.may_move_memory = flags & 1 != 0;
        shape.may_return_tail = flags & 2 != 0;
        shape.uses_simd = flags & 4 != 0;
        Ok(shape)
    }

    fn string(&mut self, field: &'static str) -> Result<String, ArtifactError> {
        let n = self.u32(field)? as usize;
        let b = self.take(n, field)?;
        String::from_utf8(b.to_vec()).map_err(|_| ArtifactError::Malformed(format!("{field} is not UTF-8")))
    }
}
