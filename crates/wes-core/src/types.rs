//! Types of values, functions, tables, memories and globals.

use std::fmt;
use std::sync::Arc;

/// A reference type: what a table holds and what `ref.*` instructions produce.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum RefType {
    /// A reference to a function (`funcref`).
    FuncRef,
    /// An opaque reference supplied by the host (`externref`).
    ExternRef,
}

impl fmt::Display for RefType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            RefType::FuncRef => "funcref",
            RefType::ExternRef => "externref",
        })
    }
}

/// The type of a WebAssembly value.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ValType {
    /// 32-bit integer.
    I32,
    /// 64-bit integer.
    I64,
    /// 32-bit IEEE 754 float.
    F32,
    /// 64-bit IEEE 754 float.
    F64,
    /// 128-bit SIMD vector.
    V128,
    /// A function reference, possibly null.
    FuncRef,
    /// A host reference, possibly null.
    ExternRef,
}

impl ValType {
    /// Whether values of this type are references.
    pub fn is_ref(self) -> bool {
        matches!(self, ValType::FuncRef | ValType::ExternRef)
    }

    /// The reference type, if this is one.
    pub fn as_ref_type(self) -> Option<RefType> {
        match self {
            ValType::FuncRef => Some(RefType::FuncRef),
            ValType::ExternRef => Some(RefType::ExternRef),
            _ => None,
        }
    }

    /// The name used in the text format (`i32`, `funcref`, ...).
    pub fn name(self) -> &'static str {
        match self {
            ValType::I32 => "i32",
            ValType::I64 => "i64",
            ValType::F32 => "f32",
            ValType::F64 => "f64",
            ValType::V128 => "v128",
            ValType::FuncRef => "funcref",
            ValType::ExternRef => "externref",
        }
    }
}

impl From<RefType> for ValType {
    fn from(r: RefType) -> Self {
        match r {
            RefType::FuncRef => ValType::FuncRef,
            RefType::ExternRef => ValType::ExternRef,
        }
    }
}

impl fmt::Display for ValType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A function signature. Cheap to clone: parameters and results share one allocation.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct FuncType {
    /// Parameters followed by results, so one allocation holds both.
    params_results: Arc<[ValType]>,
    num_params: usize,
}

impl FuncType {
    /// A signature with the given parameter and result types.
    pub fn new(params: impl IntoIterator<Item = ValType>, results: impl IntoIterator<Item = ValType>) -> Self {
        let mut all: Vec<ValType> = params.into_iter().collect();
        let num_params = all.len();
        all.extend(results);
        FuncType { params_results: all.into(), num_params }
    }

    /// The parameter types.
    #[inline]
    pub fn params(&self) -> &[ValType] {
        &self.params_results[..self.num_params]
    }

    /// The result types.
    #[inline]
    pub fn results(&self) -> &[ValType] {
        &self.params_results[self.num_params..]
    }
}

impl fmt::Debug for FuncType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl fmt::Display for FuncType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("(func")?;
        if !self.params().is_empty() {
            f.write_str(" (param")?;
            for p in self.params() {
                write!(f, " {p}")?;
            }
            f.write_str(")")?;
        }
        if !self.results().is_empty() {
            f.write_str(" (result")?;
            for r in self.results() {
                write!(f, " {r}")?;
            }
            f.write_str(")")?;
        }
        f.write_str(")")
    }
}

/// Size limits of a table (in elements) or a memory (in pages).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Limits {
    /// The initial (and minimum) size.
    pub min: u64,
    /// The maximum size, if the module declares one.
    pub max: Option<u64>,
}

impl Limits {
    /// Whether `self` may be supplied where `required` is declared, by the import-matching rule
    /// of the spec: at least as large a minimum, and a maximum at most the required one.
    pub fn matches(&self, required: &Limits) -> bool {
        self.min >= required.min
            && match (self.max, required.max) {
                (_, None) => true,
                (Some(have), Some(want)) => have <= want,
                (None, Some(_)) => false,
            }
    }
}

/// The type of a linear memory.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct MemoryType {
    /// Limits in 64 KiB pages.
    pub limits: Limits,
    /// Whether the memory is shared between threads (threads proposal; rejected by default).
    pub shared: bool,
    /// Whether addresses are 64-bit (memory64 proposal; rejected by default).
    pub memory64: bool,
}

/// The type of a table.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct TableType {
    /// What the table holds.
    pub element: RefType,
    /// Limits in elements.
    pub limits: Limits,
}

/// Whether a global may be written.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Mutability {
    /// `global.set` is rejected by validation.
    Const,
    /// `global.set` is allowed.
    Var,
}

/// The type of a global.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct GlobalType {
    /// The value type.
    pub content: ValType,
    /// Whether it may be written.
    pub mutability: Mutability,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn func_type_splits_params_and_results() {
        let ty = FuncType::new([ValType::I32, ValType::F64], [ValType::V128]);
        assert_eq!(ty.params(), &[ValType::I32, ValType::F64]);
        assert_eq!(ty.results(), &[ValType::V128]);
        assert_eq!(ty.to_string(), "(func (param i32 f64) (result v128))");
        assert_ne!(ty, FuncType::new([ValType::I32], [ValType::F64, ValType::V128]));
    }

    #[test]
    fn limits_match_by_spec_rule() {
        let l = |min, max| Limits { min, max };
        assert!(l(2, Some(3)).matches(&l(1, Some(4))));
        assert!(l(2, None).matches(&l(2, None)));
        assert!(!l(2, None).matches(&l(1, Some(4))));
        assert!(!l(1, Some(3)).matches(&l(2, None)));
        assert!(!l(2, Some(5)).matches(&l(1, Some(4))));
    }
}
