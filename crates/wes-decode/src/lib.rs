//! Decoding and validation: `.wasm` bytes or `.wat` text in, a validated [`Module`] out.
//!
//! Validation is `wasmparser`'s validator with exactly the proposals in [`Features`] enabled;
//! decoding reads each section once, alongside validation, into the plain data of
//! [`wes_core::Module`]. Function bodies are validated but not copied: the module records where
//! each body lies in the original bytes, and backends re-read the operators from there.
//!
//! Decoding never panics, whatever the bytes, and never allocates in proportion to a count
//! read from the input before the items behind that count have been read: every error is a
//! [`DecodeError`] saying what is wrong and at which byte offset.
//!
//! ```
//! let module = wes_decode::decode_text("(module (func (export \"answer\") (result i32) i32.const 42))")?;
//! assert_eq!(module.exports[0].name, "answer");
//! # Ok::<(), wes_decode::DecodeError>(())
//! ```
#![deny(missing_docs)]

mod error;
mod features;
mod limits;
mod reader;
mod shape;

pub use error::DecodeError;
pub use features::Features;
pub use limits::{Limit, Limits};
pub use wes_core::Module;

use std::sync::Arc;

/// Decodes and validates a binary module with the default [`Features`].
///
/// # Errors
///
/// [`DecodeError`] when the bytes are malformed, invalid, or use a proposal that is not enabled.
pub fn decode(bytes: &[u8]) -> Result<Module, DecodeError> {
    Decoder::default().decode(bytes)
}

/// Parses a text-format module and decodes it with the default [`Features`].
///
/// # Errors
///
/// [`DecodeError::Text`] when the text does not parse, otherwise as [`decode`].
pub fn decode_text(text: &str) -> Result<Module, DecodeError> {
    Decoder::default().decode_text(text)
}

/// Decodes either format: bytes starting with the binary magic are binary, anything else is
/// text. This is what a file given on a command line goes through.
///
/// # Errors
///
/// As [`decode`] and [`decode_text`].
pub fn decode_any(input: &[u8]) -> Result<Module, DecodeError> {
    Decoder::default().decode_any(input)
}

/// A decoder with a chosen set of [`Features`] and [`Limits`].
#[derive(Clone, Debug, Default)]
pub struct Decoder {
    features: Features,
    limits: Limits,
    threads: usize,
}

impl Decoder {
    /// A decoder accepting the given proposals, with no [`Limits`] beyond `wasmparser`'s.
    pub fn new(features: Features) -> Self {
        Decoder { features, limits: Limits::default(), threads: 0 }
    }

    /// The same decoder, rejecting modules past `limits` (checked in the decoding pass,
    /// before anything is compiled) with [`DecodeError::LimitExceeded`].
    ///
    /// ```
    /// use wes_decode::{DecodeError, Decoder, Limit, Limits};
    /// let decoder = Decoder::default().with_limits(Limits { max_params: 2, ..Limits::spec() });
    /// let err = decoder.decode_text("(module (type (func (param i32 i32 i32))))").unwrap_err();
    /// assert!(matches!(err, DecodeError::LimitExceeded { limit: Limit::Params, max: 2, actual: 3, index: Some(0), .. }));
    /// ```
    pub fn with_limits(mut self, limits: Limits) -> Self {
        self.limits = limits;
        self
    }

    /// The same decoder, validating one module's function bodies on at most `threads` threads
    /// (0, the default: one per core; small modules use fewer). Bodies are validated
    /// independently, so the module and the error are the same on any number.
    pub fn with_threads(mut self, threads: usize) -> Self {
        self.threads = threads;
        self
    }

    /// The proposals this decoder accepts.
    pub fn features(&self) -> &Features {
        &self.features
    }

    /// The limits this decoder enforces.
    pub fn limits(&self) -> &Limits {
        &self.limits
    }

    /// Decodes and validates a binary module.
    ///
    /// # Errors
    ///
    /// [`DecodeError`] when the bytes are malformed, invalid, or use a proposal that is not
    /// enabled.
    pub fn decode(&self, bytes: &[u8]) -> Result<Module, DecodeError> {
        limits::check_module_bytes(&self.limits, bytes.len())?;
        reader::read_module(
            Arc::from(bytes),
            self.features.to_wasmparser(),
            &self.limits,
            reader::Bodies::Validate,
            self.threads,
        )
    }

    /// Decodes a binary module validated before, without validating its function bodies again:
    /// what loading a compiled artifact needs, whose code was compiled from these very bytes.
    /// Everything outside the bodies is read and validated as by [`Decoder::decode`], and the
    /// limits are checked (the per-function ones against `shapes`); each body's operators are
    /// not read at all, and its [`FunctionShape`](wes_core::FunctionShape) is taken from
    /// `shapes`, in order.
    ///
    /// # Safety
    ///
    /// `bytes` must have decoded before, with [`Decoder::decode`] of a decoder with these same
    /// [`Features`], to a module whose bodies had exactly `shapes` (`module.bodies[i].shape`).
    /// The module is sealed as valid without its bodies being checked: a body that is not
    /// valid reaches a backend that trusts it.
    ///
    /// # Errors
    ///
    /// As [`Decoder::decode`] for the module outside the bodies and for the limits;
    /// [`DecodeError::Malformed`] when there is not one shape per body. A caller that gets any
    /// error should decode with [`Decoder::decode`] for the authoritative verdict.
    pub unsafe fn decode_prevalidated(
        &self,
        bytes: &[u8],
        shapes: &[wes_core::FunctionShape],
    ) -> Result<Module, DecodeError> {
        limits::check_module_bytes(&self.limits, bytes.len())?;
        reader::read_module(
            Arc::from(bytes),
            self.features.to_wasmparser(),
            &self.limits,
            reader::Bodies::Measured(shapes),
            self.threads,
        )
    }

    /// Parses a text-format module, then decodes and validates the binary it encodes to.
    ///
    /// # Errors
    ///
    /// [`DecodeError::Text`] when the text does not parse, otherwise as [`Decoder::decode`].
    pub fn decode_text(&self, text: &str) -> Result<Module, DecodeError> {
        let bytes = wat::parse_str(text).map_err(|e| DecodeError::Text { message: e.to_string() })?;
        self.decode(&bytes)
    }

    /// Decodes either format (see [`decode_any`]).
    ///
    /// # Errors
    ///
    /// As [`Decoder::decode`] and [`Decoder::decode_text`].
    pub fn decode_any(&self, input: &[u8]) -> Result<Module, DecodeError> {
        if input.starts_with(b"\0asm") {
            return self.decode(input);
        }
        let text = std::str::from_utf8(input).map_err(|e| DecodeError::Text {
            message: format!("input is neither a wasm binary nor UTF-8 text: {e}"),
        })?;
        self.decode_text(text)
    }
}
