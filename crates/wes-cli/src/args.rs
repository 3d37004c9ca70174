//! Command-line arguments to typed [`Value`]s, by the export's parameter types.

use wes_core::value::ExternRef;
use wes_core::{ValType, Value};

/// Parses `text` as a value of type `ty`.
///
/// # Errors
///
/// A message naming the expected type when `text` is not one.
pub(crate) fn parse(ty: ValType, text: &str) -> Result<Value, String> {
    let bad = || format!("`{text}` is not a valid {ty}");
    Ok(match ty {
        ValType::I32 => Value::I32(int(text, i64::from(i32::MIN), i64::from(u32::MAX)).ok_or_else(bad)? as i32),
        ValType::I64 => Value::I64(int64(text).ok_or_else(bad)?),
        ValType::F32 => Value::F32(float32(text).ok_or_else(bad)?),
        ValType::F64 => Value::F64(float64(text).ok_or_else(bad)?),
        ValType::V128 => {
            let digits = text.strip_prefix("0x").ok_or_else(bad)?.replace('_', "");
            Value::V128(u128::from_str_radix(&digits, 16).map_err(|_| bad())?)
        }
        ValType::FuncRef if text == "null" => Value::FuncRef(None),
        ValType::FuncRef => return Err(format!("`{text}`: only `null` can be passed as a funcref")),
        ValType::ExternRef if text == "null" => Value::ExternRef(None),
        ValType::ExternRef => Value::ExternRef(Some(ExternRef(text.parse().map_err(|_| bad())?))),
    })
}

/// An integer in decimal or `0x` hex, with optional sign and `_` separators, within
/// `[min, max]`; unsigned spellings up to the type's width wrap to the signed value.
fn int(text: &str, min: i64, max: i64) -> Option<i64> {
    let v = int128(text)?;
    (i128::from(min)..=i128::from(max)).contains(&v).then_some(v as i64)
}

fn int64(text: &str) -> Option<i64> {
    let v = int128(text)?;
    (i128::from(i64::MIN)..=i128::from(u64::MAX)).contains(&v).then_some(v as i64)
}

fn int128(text: &str) -> Option<i128> {
    let (negative, rest) = match text.strip_prefix('-') {
        Some(r) => (true, r),
        None => (false, text.strip_prefix('+').unwrap_or(text)),
    };
    let rest = rest.replace('_', "");
    let magnitude = match rest.strip_prefix("0x").or_else(|| rest.strip_prefix("0X")) {
        Some(hex) => i128::from_str_radix(hex, 16).ok()?,
        None => rest.parse::<i128>().ok()?,
    };
    if rest.is_empty() || rest.starts_with(['+', '-']) {
        return None;
    }
    Some(if negative { -magnitude } else { magnitude })
}

/// `nan`, `-nan`, `nan:0xPAYLOAD`, `inf`, or a decimal float; returns the bits.
fn float32(text: &str) -> Option<u32> {
    let (sign, rest) = sign(text);
    if let Some(payload) = nan_payload(rest) {
        let payload = u32::try_from(payload.unwrap_or(0x40_0000)).ok().filter(|p| *p != 0 && *p <= 0x7f_ffff)?;
        return Some(u32::from(sign) << 31 | 0x7f80_0000 | payload);
    }
    let x: f32 = text.parse().ok()?;
    Some(x.to_bits())
}

fn float64(text: &str) -> Option<u64> {
    let (sign, rest) = sign(text);
    if let Some(payload) = nan_payload(rest) {
        let payload = payload.unwrap_or(0x8_0000_0000_0000);
        if payload == 0 || payload > 0xf_ffff_ffff_ffff {
            return None;
        }
        return Some(u64::from(sign) << 63 | 0x7ff0_0000_0000_0000 | payload);
    }
    let x: f64 = text.parse().ok()?;
    Some(x.to_bits())
}

fn sign(text: &str) -> (bool, &str) {
    match text.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, text.strip_prefix('+').unwrap_or(text)),
    }
}

/// `Some(None)` for plain `nan`, `Some(Some(p))` for `nan:0xP`, `None` for anything else.
fn nan_payload(text: &str) -> Option<Option<u64>> {
    if text == "nan" {
        return Some(None);
    }
    let hex = text.strip_prefix("nan:0x")?;
    u64::from_str_radix(hex, 16).ok().map(Some)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn integers_accept_signed_unsigned_and_hex() {
        assert_eq!(parse(ValType::I32, "-7"), Ok(Value::I32(-7)));
        assert_eq!(parse(ValType::I32, "4294967295"), Ok(Value::I32(-1)));
        assert_eq!(parse(ValType::I32, "0x7fff_ffff"), Ok(Value::I32(i32::MAX)));
        assert!(parse(ValType::I32, "4294967296").is_err());
        assert!(parse(ValType::I32, "12abc").is_err());
        assert!(parse(ValType::I32, "").is_err());
        assert!(parse(ValType::I32, "--1").is_err());
        assert_eq!(parse(ValType::I64, "18446744073709551615"), Ok(Value::I64(-1)));
        assert_eq!(parse(ValType::I64, "-9223372036854775808"), Ok(Value::I64(i64::MIN)));
    }

    #[test]
    fn floats_keep_nan_payloads() {
        assert_eq!(parse(ValType::F32, "1.5"), Ok(Value::f32(1.5)));
        assert_eq!(parse(ValType::F32, "nan"), Ok(Value::F32(0x7fc0_0000)));
        assert_eq!(parse(ValType::F32, "-nan:0x1"), Ok(Value::F32(0xff80_0001)));
        assert!(parse(ValType::F32, "nan:0x0").is_err());
        assert_eq!(parse(ValType::F64, "-inf"), Ok(Value::f64(f64::NEG_INFINITY)));
        assert_eq!(parse(ValType::F64, "nan"), Ok(Value::F64(0x7ff8_0000_0000_0000)));
    }

    #[test]
    fn vectors_and_references() {
        assert_eq!(parse(ValType::V128, "0x01"), Ok(Value::V128(1)));
        assert!(parse(ValType::V128, "1").is_err());
        assert_eq!(parse(ValType::ExternRef, "null"), Ok(Value::ExternRef(None)));
        assert_eq!(parse(ValType::ExternRef, "9"), Ok(Value::ExternRef(Some(ExternRef(9)))));
        assert!(parse(ValType::FuncRef, "3").is_err());
    }
}
