//! Rejections: the right kind, the right place, and feature gates named as such.

use wes_decode::{DecodeError, Decoder, Features};

#[test]
fn truncated_binary_is_malformed_with_offset() {
    let bytes = wat::parse_str("(module (func (result i32) i32.const 7))").unwrap();
    let err = wes_decode::decode(&bytes[..bytes.len() - 3]).unwrap_err();
    assert!(matches!(err, DecodeError::Malformed { .. }), "{err}");
    assert!(err.offset().unwrap() <= bytes.len() as u64);
}

#[test]
fn bad_magic_is_malformed_at_zero() {
    let err = wes_decode::decode(b"\0asn\x01\0\0\0").unwrap_err();
    assert!(matches!(err, DecodeError::Malformed { offset: 0, .. }), "{err}");
}

#[test]
fn type_mismatch_is_invalid_at_the_instruction() {
    let bytes = wat::parse_str("(module (func (result i32) i64.const 1))").unwrap();
    let err = wes_decode::decode(&bytes).unwrap_err();
    let DecodeError::Invalid { offset, message } = &err else { panic!("expected invalid, got {err}") };
    assert!(message.contains("type mismatch"), "{message}");
    // The offset points inside the code section, at or after the function body's start.
    let code_start = bytes.len() - 5;
    assert!(*offset as usize >= code_start, "offset {offset} before body at {code_start}");
}

#[test]
fn overlong_u32_memory_limit_is_malformed() {
    // Memory section with one entry: no maximum, minimum 2 written with six LEB128 bytes.
    let bytes = b"\0asm\x01\0\0\0\x05\x08\x01\x00\x82\x80\x80\x80\x80\x00";
    let err = wes_decode::decode(bytes).unwrap_err();
    assert!(matches!(&err, DecodeError::Malformed { message, .. } if message.contains("too long")), "{err}");
    // Five bytes is the longest legal encoding.
    let ok = b"\0asm\x01\0\0\0\x05\x07\x01\x00\x82\x80\x80\x80\x00";
    assert!(wes_decode::decode(ok).is_ok());
}

#[test]
fn text_errors_say_where() {
    let err = wes_decode::decode_text("(module (func (result i32) i32.const))").unwrap_err();
    let DecodeError::Text { message } = &err else { panic!("expected text error, got {err}") };
    assert!(message.contains(":1:"), "no line/column in {message}");
}

/// Each proposal outside WES's default set, with a module that needs it.
const GATED: &[(&str, &str)] = &[
    ("threads", "(module (memory 1 1 shared))"),
    ("memory64", "(module (memory i64 1))"),
    ("multi-memory", "(module (memory 1) (memory 1))"),
    ("exceptions", "(module (tag))"),
    ("gc", "(module (type (struct)))"),
    ("relaxed-simd", "(module (func (param v128) (result v128) local.get 0 local.get 0 i8x16.relaxed_swizzle))"),
];

#[test]
fn proposals_outside_the_default_set_are_feature_errors() {
    for (name, text) in GATED {
        let bytes = wat::parse_str(text).unwrap();
        let err = wes_decode::decode(&bytes).unwrap_err();
        assert!(matches!(err, DecodeError::FeatureNotEnabled { .. }), "{name}: expected a feature error, got {err}");
    }
}

#[test]
fn enabling_a_proposal_lets_its_modules_through() {
    let features =
        Features { threads: true, memory64: true, multi_memory: true, relaxed_simd: true, ..Features::default() };
    let decoder = Decoder::new(features);
    for (name, text) in GATED.iter().filter(|(n, _)| !matches!(*n, "exceptions" | "gc")) {
        let bytes = wat::parse_str(text).unwrap();
        assert!(decoder.decode(&bytes).is_ok(), "{name} should decode once enabled");
    }
    // Exceptions and GC validate when enabled, but a WES module cannot represent them yet.
    let decoder = Decoder::new(Features { gc: true, exceptions: true, ..Features::default() });
    for text in ["(module (tag))", "(module (type (struct)))"] {
        let err = decoder.decode(&wat::parse_str(text).unwrap()).unwrap_err();
        assert!(matches!(err, DecodeError::Unsupported { .. }), "{err}");
    }
}

#[test]
fn default_set_includes_tail_calls_and_extended_const_but_wasm2_does_not() {
    let tail = wat::parse_str("(module (func $f (return_call $f)))").unwrap();
    let ext = wat::parse_str("(module (global i32 (i32.add (i32.const 1) (i32.const 2))))").unwrap();
    assert!(wes_decode::decode(&tail).is_ok());
    assert!(wes_decode::decode(&ext).is_ok());
    let v2 = Decoder::new(Features::wasm2());
    assert!(matches!(v2.decode(&tail), Err(DecodeError::FeatureNotEnabled { .. })));
    assert!(v2.decode(&ext).is_err());
}

#[test]
fn components_are_refused() {
    let bytes = wat::parse_str("(component)").unwrap();
    assert!(wes_decode::decode(&bytes).is_err());
}
