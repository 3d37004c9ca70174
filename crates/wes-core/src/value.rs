//! [`Value`]: a typed WebAssembly value as it crosses the host/wasm boundary.

use std::fmt;

use crate::types::ValType;

/// A non-null function reference.
///
/// The number is an index the runtime hands out per store; it means nothing outside the store
/// that produced it, and a store rejects indices it did not hand out.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct FuncRef(u32);

impl FuncRef {
    /// Wraps a store-scoped function index. Meant for runtimes, not for embedders.
    pub fn from_index(index: u32) -> Self {
        FuncRef(index)
    }

    /// The store-scoped index.
    pub fn index(self) -> u32 {
        self.0
    }
}

/// A non-null host reference: an opaque number chosen by the embedder.
///
/// WebAssembly code can store, pass and compare it for null but never look inside. A host that
/// needs rich data behind it keeps its own table and uses the number as the key, which keeps
/// `Value` plain data (copyable, comparable, deterministic).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ExternRef(pub u32);

/// A WebAssembly value.
///
/// Floats are held as their bit patterns so that NaN payloads survive a round trip and equality
/// is bitwise: two runs that produce the same bits compare equal, which is what determinism
/// checks need. Use [`Value::f32`]/[`Value::f64`] and [`Value::as_f32`]/[`Value::as_f64`] to
/// convert from and to Rust floats.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Value {
    /// A 32-bit integer (signedness is up to the operator that uses it).
    I32(i32),
    /// A 64-bit integer.
    I64(i64),
    /// The bits of an `f32`.
    F32(u32),
    /// The bits of an `f64`.
    F64(u64),
    /// A 128-bit vector, lane 0 in the least significant bits.
    V128(u128),
    /// A function reference or `ref.null func`.
    FuncRef(Option<FuncRef>),
    /// A host reference or `ref.null extern`.
    ExternRef(Option<ExternRef>),
}

impl Value {
    /// An `f32` value from a Rust float (bits preserved).
    pub fn f32(x: f32) -> Self {
        Value::F32(x.to_bits())
    }

    /// An `f64` value from a Rust float (bits preserved).
    pub fn f64(x: f64) -> Self {
        Value::F64(x.to_bits())
    }

    /// The type of this value.
    pub fn ty(&self) -> ValType {
        match self {
            Value::I32(_) => ValType::I32,
            Value::I64(_) => ValType::I64,
            Value::F32(_) => ValType::F32,
            Value::F64(_) => ValType::F64,
            Value::V128(_) => ValType::V128,
            Value::FuncRef(_) => ValType::FuncRef,
            Value::ExternRef(_) => ValType::ExternRef,
        }
    }

    /// The zero value of a type: what locals, and tables grown without an initialiser, hold.
    pub fn default_for(ty: ValType) -> Self {
        match ty {
            ValType::I32 => Value::I32(0),
            ValType::I64 => Value::I64(0),
            ValType::F32 => Value::F32(0),
            ValType::F64 => Value::F64(0),
            ValType::V128 => Value::V128(0),
            ValType::FuncRef => Value::FuncRef(None),
            ValType::ExternRef => Value::ExternRef(None),
        }
    }

    /// The `i32`, if this is one.
    pub fn as_i32(&self) -> Option<i32> {
        match *self {
            Value::I32(x) => Some(x),
            _ => None,
        }
    }

    /// The `i64`, if this is one.
    pub fn as_i64(&self) -> Option<i64> {
        match *self {
            Value::I64(x) => Some(x),
            _ => None,
        }
    }

    /// The `f32`, if this is one.
    pub fn as_f32(&self) -> Option<f32> {
        match *self {
            Value::F32(x) => Some(f32::from_bits(x)),
            _ => None,
        }
    }

    /// The `f64`, if this is one.
    pub fn as_f64(&self) -> Option<f64> {
        match *self {
            Value::F64(x) => Some(f64::from_bits(x)),
            _ => None,
        }
    }

    /// The vector, if this is one.
    pub fn as_v128(&self) -> Option<u128> {
        match *self {
            Value::V128(x) => Some(x),
            _ => None,
        }
    }
}

impl From<i32> for Value {
    fn from(x: i32) -> Self {
        Value::I32(x)
    }
}

impl From<i64> for Value {
    fn from(x: i64) -> Self {
        Value::I64(x)
    }
}

impl From<f32> for Value {
    fn from(x: f32) -> Self {
        Value::f32(x)
    }
}

impl From<f64> for Value {
    fn from(x: f64) -> Self {
        Value::f64(x)
    }
}

/// Displays the value the way the text format writes a constant of its type, with floats in
/// full precision (`nan:0x400000` for NaNs with a payload other than the canonical one).
impl fmt::Display for Value {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fn float(f: &mut fmt::Formatter<'_>, x: f64, bits_nan: Option<(bool, u64, u64)>) -> fmt::Result {
            match bits_nan {
                Some((negative, payload, canonical)) => {
                    let sign = if negative { "-" } else { "" };
                    if payload == canonical { write!(f, "{sign}nan") } else { write!(f, "{sign}nan:0x{payload:x}") }
                }
                None => write!(f, "{x:?}"),
            }
        }
        match *self {
            Value::I32(x) => write!(f, "{x}"),
            Value::I64(x) => write!(f, "{x}"),
            Value::F32(bits) => {
                let x = f32::from_bits(bits);
                let nan = x.is_nan().then_some((bits >> 31 == 1, u64::from(bits & 0x7f_ffff), 0x40_0000));
                float(f, f64::from(x), nan)
            }
            Value::F64(bits) => {
                let x = f64::from_bits(bits);
                let nan = x.is_nan().then_some((bits >> 63 == 1, bits & 0xf_ffff_ffff_ffff, 0x8_0000_0000_0000));
                float(f, x, nan)
            }
            Value::V128(x) => write!(f, "0x{x:032x}"),
            Value::FuncRef(None) | Value::ExternRef(None) => f.write_str("null"),
            Value::FuncRef(Some(r)) => write!(f, "func:{}", r.index()),
            Value::ExternRef(Some(r)) => write!(f, "extern:{}", r.0),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn floats_keep_their_bits() {
        let nan = f32::from_bits(0x7fa0_0001);
        assert_eq!(Value::f32(nan), Value::F32(0x7fa0_0001));
        assert_eq!(Value::f32(nan).as_f32().map(f32::to_bits), Some(0x7fa0_0001));
        assert_ne!(Value::f64(0.0), Value::f64(-0.0));
    }

    #[test]
    fn display_matches_text_format() {
        assert_eq!(Value::I32(-7).to_string(), "-7");
        assert_eq!(Value::f32(1.5).to_string(), "1.5");
        assert_eq!(Value::F32(0x7fc0_0000).to_string(), "nan");
        assert_eq!(Value::F32(0xffa0_0000).to_string(), "-nan:0x200000");
        assert_eq!(Value::F64(0x7ff8_0000_0000_0000).to_string(), "nan");
        assert_eq!(Value::FuncRef(None).to_string(), "null");
        assert_eq!(Value::ExternRef(Some(ExternRef(3))).to_string(), "extern:3");
    }

    #[test]
    fn defaults_have_the_asked_type() {
        for ty in [
            ValType::I32,
            ValType::I64,
            ValType::F32,
            ValType::F64,
            ValType::V128,
            ValType::FuncRef,
            ValType::ExternRef,
        ] {
            assert_eq!(Value::default_for(ty).ty(), ty);
        }
    }
}
