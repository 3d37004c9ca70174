//! [`DecodeError`]: why bytes or text are not a module WES will run, and where.

/// Why a module was rejected. Every variant carries the byte offset in the module where the
/// problem was found (for text, the line and column are in the message).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DecodeError {
    /// The bytes are not a well-formed WebAssembly binary (bad header, truncated section,
    /// bad LEB128, unknown section, ...).
    #[error("malformed module at offset 0x{offset:x}: {message}")]
    Malformed {
        /// Byte offset of the problem.
        offset: u64,
        /// What is wrong.
        message: String,
    },
    /// The binary is well-formed but breaks a validation rule (type mismatch, unknown index,
    /// ...).
    #[error("invalid module at offset 0x{offset:x}: {message}")]
    Invalid {
        /// Byte offset of the problem.
        offset: u64,
        /// What is wrong.
        message: String,
    },
    /// The module uses a proposal that is not enabled in [`Features`](crate::Features).
    #[error("feature not enabled at offset 0x{offset:x}: {message}")]
    FeatureNotEnabled {
        /// Byte offset of the first use.
        offset: u64,
        /// Which feature, in the validator's words.
        message: String,
    },
    /// The module is valid under the enabled features but uses something a WES module cannot
    /// represent (for example GC struct types).
    #[error("unsupported at offset 0x{offset:x}: {message}")]
    Unsupported {
        /// Byte offset of the construct.
        offset: u64,
        /// What it is.
        message: String,
    },
    /// The module exceeds one of the decoder's [`Limits`](crate::Limits).
    #[error("limit {limit} exceeded{}: {actual} > {max}, at offset 0x{offset:x}", crate::limits::IndexNote(*limit, *index))]
    LimitExceeded {
        /// Which limit.
        limit: crate::Limit,
        /// The limit's value.
        max: u64,
        /// What the module has.
        actual: u64,
        /// The index of the function (or type, memory, table: see [`Limit::index_kind`]) at
        /// fault, when the limit is per item.
        ///
        /// [`Limit::index_kind`]: crate::Limit::index_kind
        index: Option<u32>,
        /// Byte offset of the section, item or operator that exceeds it.
        offset: u64,
    },
    /// The text format could not be parsed.
    #[error("text format error: {message}")]
    Text {
        /// The parser's message, with line and column.
        message: String,
    },
}

impl DecodeError {
    /// The byte offset of the problem in the binary, if the input was binary.
    pub fn offset(&self) -> Option<u64> {
        match self {
            DecodeError::Malformed { offset, .. }
            | DecodeError::Invalid { offset, .. }
            | DecodeError::FeatureNotEnabled { offset, .. }
            | DecodeError::Unsupported { offset, .. }
            | DecodeError::LimitExceeded { offset, .. } => Some(*offset),
            DecodeError::Text { .. } => None,
        }
    }

    #[cold]
    pub(crate) fn malformed(e: wasmparser::BinaryReaderError) -> Self {
        DecodeError::Malformed { offset: e.offset(), message: e.message().to_string() }
    }

    /// Classifies an error from the validator. The validator also reads the binary, so a
    /// malformed encoding inside a function body reaches us through it; wasmparser does not tag
    /// its errors, so the wording tells feature gates apart from validation failures.
    #[cold]
    pub(crate) fn from_validator(e: wasmparser::BinaryReaderError) -> Self {
        let offset = e.offset();
        let message = e.message().to_string();
        if is_feature_gate(&message) {
            DecodeError::FeatureNotEnabled { offset, message }
        } else {
            DecodeError::Invalid { offset, message }
        }
    }

    #[cold]
    pub(crate) fn unsupported(offset: u64, message: impl Into<String>) -> Self {
        DecodeError::Unsupported { offset, message: message.into() }
    }
}

fn is_feature_gate(message: &str) -> bool {
    const GATES: &[&str] = &[
        "not enabled",
        "must be enabled",
        "to be enabled",
        "feature required",
        "not supported without",
        "requires the",
        "requires gc",
        "disallowed",
        // wasmparser's wording for a second memory without the multi-memory proposal.
        "multiple memories",
    ];
    GATES.iter().any(|g| message.contains(g))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gates_are_recognised() {
        assert!(is_feature_gate("threads must be enabled for shared memories"));
        assert!(is_feature_gate("SIMD support is not enabled"));
        assert!(!is_feature_gate("type mismatch: expected i32, found i64"));
    }
}
