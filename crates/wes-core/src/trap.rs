//! Traps: every way a WebAssembly call can stop abnormally, with where it happened.

use std::fmt;

/// Why execution trapped.
///
/// The `Display` text of each code is the message the official spec testsuite expects in its
/// `assert_trap`/`assert_exhaustion` directives, so the spec runner compares codes by text
/// without a translation table.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum TrapCode {
    /// The `unreachable` instruction ran.
    Unreachable,
    /// A load, store or bulk memory operation touched bytes outside linear memory.
    MemoryOutOfBounds,
    /// A table access or bulk table operation touched elements outside the table.
    TableOutOfBounds,
    /// Integer division or remainder by zero.
    IntegerDivideByZero,
    /// Signed division overflowed (`INT_MIN / -1`).
    IntegerOverflow,
    /// A trapping float-to-int conversion got NaN or a value out of the integer's range.
    BadConversionToInteger,
    /// `call_indirect` found a null entry.
    IndirectCallToNull,
    /// `call_indirect` found a function of another type.
    IndirectCallTypeMismatch,
    /// `call_indirect` indexed past the end of the table.
    UndefinedElement,
    /// The call stack reached its configured depth limit.
    CallStackExhausted,
    /// The gas limit was reached before the next segment could be paid for.
    OutOfGas,
    /// A host function returned an error.
    HostError,
}

impl TrapCode {
    /// Every trap code, for tables and exhaustive tests.
    pub const ALL: &'static [TrapCode] = &[
        TrapCode::Unreachable,
        TrapCode::MemoryOutOfBounds,
        TrapCode::TableOutOfBounds,
        TrapCode::IntegerDivideByZero,
        TrapCode::IntegerOverflow,
        TrapCode::BadConversionToInteger,
        TrapCode::IndirectCallToNull,
        TrapCode::IndirectCallTypeMismatch,
        TrapCode::UndefinedElement,
        TrapCode::CallStackExhausted,
        TrapCode::OutOfGas,
        TrapCode::HostError,
    ];

    /// A stable identifier (`MemoryOutOfBounds`, ...) for machine-readable output such as the
    /// CLI's JSON; unlike `Display`, it never changes with the spec's wording.
    pub fn name(self) -> &'static str {
        match self {
            TrapCode::Unreachable => "Unreachable",
            TrapCode::MemoryOutOfBounds => "MemoryOutOfBounds",
            TrapCode::TableOutOfBounds => "TableOutOfBounds",
            TrapCode::IntegerDivideByZero => "IntegerDivideByZero",
            TrapCode::IntegerOverflow => "IntegerOverflow",
            TrapCode::BadConversionToInteger => "BadConversionToInteger",
            TrapCode::IndirectCallToNull => "IndirectCallToNull",
            TrapCode::IndirectCallTypeMismatch => "IndirectCallTypeMismatch",
            TrapCode::UndefinedElement => "UndefinedElement",
            TrapCode::CallStackExhausted => "CallStackExhausted",
            TrapCode::OutOfGas => "OutOfGas",
            TrapCode::HostError => "HostError",
        }
    }

    /// The spec testsuite's wording for this trap.
    pub fn message(self) -> &'static str {
        match self {
            TrapCode::Unreachable => "unreachable",
            TrapCode::MemoryOutOfBounds => "out of bounds memory access",
            TrapCode::TableOutOfBounds => "out of bounds table access",
            TrapCode::IntegerDivideByZero => "integer divide by zero",
            TrapCode::IntegerOverflow => "integer overflow",
            TrapCode::BadConversionToInteger => "invalid conversion to integer",
            TrapCode::IndirectCallToNull => "uninitialized element",
            TrapCode::IndirectCallTypeMismatch => "indirect call type mismatch",
            TrapCode::UndefinedElement => "undefined element",
            TrapCode::CallStackExhausted => "call stack exhausted",
            TrapCode::OutOfGas => "out of gas",
            TrapCode::HostError => "host error",
        }
    }

    /// The code named by [`TrapCode::name`], for reading machine-readable output back.
    pub fn from_name(name: &str) -> Option<TrapCode> {
        TrapCode::ALL.iter().copied().find(|c| c.name() == name)
    }
}

impl fmt::Display for TrapCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.message())
    }
}

/// One frame of a wasm backtrace.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FrameInfo {
    /// The function's index in the module's function index space.
    pub func_index: u32,
    /// The function's name from the name section, if the module has one.
    pub func_name: Option<String>,
    /// The byte offset in the module of the instruction executing in this frame, if the backend
    /// tracks it.
    pub offset: Option<u32>,
}

impl fmt::Display for FrameInfo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "func[{}]", self.func_index)?;
        if let Some(name) = &self.func_name {
            write!(f, " <{name}>")?;
        }
        if let Some(offset) = self.offset {
            write!(f, " @ 0x{offset:x}")?;
        }
        Ok(())
    }
}

/// A trap: the code, an optional detail (a host error's message), and the wasm backtrace,
/// innermost frame first.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub struct Trap {
    /// Why execution stopped.
    pub code: TrapCode,
    /// More detail, when there is any (for [`TrapCode::HostError`], the host's message).
    pub detail: Option<String>,
    /// The wasm frames live when the trap happened, innermost first.
    pub backtrace: Vec<FrameInfo>,
}

impl Trap {
    /// A trap with no detail and no backtrace yet.
    pub fn new(code: TrapCode) -> Self {
        Trap { code, detail: None, backtrace: Vec::new() }
    }

    /// A trap with a detail message.
    pub fn with_detail(code: TrapCode, detail: impl Into<String>) -> Self {
        Trap { code, detail: Some(detail.into()), backtrace: Vec::new() }
    }
}

impl From<TrapCode> for Trap {
    fn from(code: TrapCode) -> Self {
        Trap::new(code)
    }
}

impl fmt::Display for Trap {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "wasm trap: {}", self.code)?;
        if let Some(detail) = &self.detail {
            write!(f, ": {detail}")?;
        }
        if let Some(frame) = self.backtrace.first() {
            write!(f, " in {frame}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_are_unique() {
        for (i, code) in TrapCode::ALL.iter().enumerate() {
            assert_eq!(TrapCode::from_name(code.name()), Some(*code));
            for other in &TrapCode::ALL[i + 1..] {
                assert_ne!(code.name(), other.name());
            }
        }
        assert_eq!(TrapCode::from_name("NoSuchTrap"), None);
    }

    #[test]
    fn display_uses_spec_wording_and_first_frame() {
        let mut trap = Trap::with_detail(TrapCode::HostError, "disk full");
        trap.backtrace.push(FrameInfo { func_index: 3, func_name: Some("write".into()), offset: Some(0x2a) });
        assert_eq!(trap.to_string(), "wasm trap: host error: disk full in func[3] <write> @ 0x2a");
        assert_eq!(TrapCode::IntegerDivideByZero.to_string(), "integer divide by zero");
    }
}
