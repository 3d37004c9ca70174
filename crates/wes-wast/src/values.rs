//! Converting spec-script arguments to [`Value`]s and matching results against expectations.

use wast::core::{AbstractHeapType, HeapType, NanPattern, V128Pattern, WastArgCore, WastRetCore};
use wast::{WastArg, WastRet};
use wes_core::Value;
use wes_core::value::ExternRef;

/// The value a script argument denotes.
pub(crate) fn arg(a: &WastArg<'_>) -> Result<Value, String> {
    let WastArg::Core(a) = a else { return Err("component-model arguments are not core values".into()) };
    Ok(match a {
        WastArgCore::I32(x) => Value::I32(*x),
        WastArgCore::I64(x) => Value::I64(*x),
        WastArgCore::F32(x) => Value::F32(x.bits),
        WastArgCore::F64(x) => Value::F64(x.bits),
        WastArgCore::V128(v) => Value::V128(u128::from_le_bytes(v.to_le_bytes())),
        WastArgCore::RefNull(h) => null_of(h)?,
        WastArgCore::RefExtern(n) => Value::ExternRef(Some(ExternRef(*n))),
        WastArgCore::RefHost(_) => return Err("ref.host (GC proposal) is not a WES value".into()),
    })
}

fn null_of(h: &HeapType<'_>) -> Result<Value, String> {
    match h {
        HeapType::Abstract { ty: AbstractHeapType::Func, .. } => Ok(Value::FuncRef(None)),
        HeapType::Abstract { ty: AbstractHeapType::Extern, .. } => Ok(Value::ExternRef(None)),
        other => Err(format!("null of heap type {other:?} is not a WES value")),
    }
}

/// Checks one result against one expectation; `Err` says how they differ.
pub(crate) fn check(expected: &WastRet<'_>, actual: &Value) -> Result<(), String> {
    let WastRet::Core(expected) = expected else { return Err("component-model result".into()) };
    if matches(expected, actual) { Ok(()) } else { Err(format!("expected {}, got {actual:?}", describe(expected))) }
}

fn matches(expected: &WastRetCore<'_>, actual: &Value) -> bool {
    match (expected, actual) {
        (WastRetCore::I32(e), Value::I32(a)) => e == a,
        (WastRetCore::I64(e), Value::I64(a)) => e == a,
        (WastRetCore::F32(p), Value::F32(bits)) => f32_matches(p, *bits),
        (WastRetCore::F64(p), Value::F64(bits)) => f64_matches(p, *bits),
        (WastRetCore::V128(p), Value::V128(v)) => v128_matches(p, *v),
        (WastRetCore::RefNull(None), Value::FuncRef(None) | Value::ExternRef(None)) => true,
        (WastRetCore::RefNull(Some(h)), a) => null_of(h).is_ok_and(|n| n == *a),
        (WastRetCore::RefExtern(None), Value::ExternRef(Some(_))) => true,
        (WastRetCore::RefExtern(Some(n)), Value::ExternRef(Some(r))) => r.0 == *n,
        (WastRetCore::RefFunc(_), Value::FuncRef(Some(_))) => true,
        (WastRetCore::Either(options), a) => options.iter().any(|o| matches(o, a)),
        _ => false,
    }
}

fn f32_matches(p: &NanPattern<wast::token::F32>, bits: u32) -> bool {
    let nan = f32::from_bits(bits).is_nan();
    match p {
        // Canonical: only the quiet bit set in the payload; either sign.
        NanPattern::CanonicalNan => bits & 0x7fff_ffff == 0x7fc0_0000,
        // Arithmetic: any NaN with the quiet bit set.
        NanPattern::ArithmeticNan => nan && bits & 0x0040_0000 != 0,
        NanPattern::Value(v) => v.bits == bits,
    }
}

fn f64_matches(p: &NanPattern<wast::token::F64>, bits: u64) -> bool {
    let nan = f64::from_bits(bits).is_nan();
    match p {
        NanPattern::CanonicalNan => bits & 0x7fff_ffff_ffff_ffff == 0x7ff8_0000_0000_0000,
        NanPattern::ArithmeticNan => nan && bits & 0x0008_0000_0000_0000 != 0,
        NanPattern::Value(v) => v.bits == bits,
    }
}

fn v128_matches(p: &V128Pattern, v: u128) -> bool {
    let b = v.to_le_bytes();
    let lane = |i: usize, n: usize| -> u64 {
        let mut x = [0u8; 8];
        x[..n].copy_from_slice(&b[i * n..i * n + n]);
        u64::from_le_bytes(x)
    };
    match p {
        // Integer lanes compare by bits: truncating the expectation to the lane width is the point.
        V128Pattern::I8x16(e) => e.iter().enumerate().all(|(i, x)| lane(i, 1) == u64::from(*x as u8)),
        V128Pattern::I16x8(e) => e.iter().enumerate().all(|(i, x)| lane(i, 2) == u64::from(*x as u16)),
        V128Pattern::I32x4(e) => e.iter().enumerate().all(|(i, x)| lane(i, 4) == u64::from(*x as u32)),
        V128Pattern::I64x2(e) => e.iter().enumerate().all(|(i, x)| lane(i, 8) == *x as u64),
        V128Pattern::F32x4(e) => {
            e.iter().enumerate().all(|(i, p)| f32_matches(p, u32::try_from(lane(i, 4)).unwrap_or(0)))
        }
        V128Pattern::F64x2(e) => e.iter().enumerate().all(|(i, p)| f64_matches(p, lane(i, 8))),
    }
}

fn describe(e: &WastRetCore<'_>) -> String {
    match e {
        WastRetCore::F32(NanPattern::Value(v)) => format!("F32({:#x})", v.bits),
        WastRetCore::F64(NanPattern::Value(v)) => format!("F64({:#x})", v.bits),
        other => format!("{other:?}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nan_patterns_follow_the_spec() {
        assert!(f32_matches(&NanPattern::CanonicalNan, 0xffc0_0000));
        assert!(!f32_matches(&NanPattern::CanonicalNan, 0x7fc0_0001));
        assert!(f32_matches(&NanPattern::ArithmeticNan, 0x7fc0_0001));
        assert!(!f32_matches(&NanPattern::ArithmeticNan, 0x7fa0_0000));
        assert!(f64_matches(&NanPattern::CanonicalNan, 0x7ff8_0000_0000_0000));
        assert!(!f64_matches(&NanPattern::ArithmeticNan, 0x3ff0_0000_0000_0000));
    }

    #[test]
    fn v128_lanes_compare_by_bits() {
        let v = u128::from_le_bytes([0xff; 16]);
        assert!(v128_matches(&V128Pattern::I8x16([-1; 16]), v));
        assert!(v128_matches(&V128Pattern::I32x4([-1; 4]), v));
        assert!(!v128_matches(&V128Pattern::I64x2([-1, 0]), v));
    }
}
