//! Static limits: each one at its value passes and one past fails with the named error, the
//! index and the offset; counts are refused from the section header, before allocation.

use wes_decode::{DecodeError, Decoder, Features, Limit, Limits};

use crate::shapes::shape;

/// Multi-memory on, so that a module with several memories is valid up to the limit.
fn decoder(limits: Limits) -> Decoder {
    Decoder::new(Features { multi_memory: true, ..Features::default() }).with_limits(limits)
}

/// The least `n` a shape can have for each limit, and a small limit to test at.
fn small(limit: Limit) -> u64 {
    match limit {
        Limit::ModuleBytes => 40,
        Limit::BodyBytes => 6,
        Limit::CustomSectionBytes => 5,
        _ => 3,
    }
}

fn expect_exceeded(limit: Limit, max: u64, bytes: &[u8], decoder: &Decoder) -> DecodeError {
    let Err(err) = decoder.decode(bytes) else { panic!("{limit} one past accepted") };
    match &err {
        DecodeError::LimitExceeded { limit: l, max: m, actual, .. } => {
            assert_eq!((*l, *m, *actual), (limit, max, max + 1), "{err}");
        }
        other => panic!("{limit}: expected LimitExceeded, got {other}"),
    }
    assert!(err.to_string().contains(limit.name()), "{err}");
    err
}

#[test]
fn every_limit_passes_at_its_value_and_fails_one_past() {
    for limit in Limit::ALL {
        let n = small(limit);
        let mut limits = Limits::unlimited();
        set(&mut limits, limit, n);
        let d = decoder(limits);
        let at = shape(limit, n);
        if let Err(e) = d.decode(&at) {
            panic!("{limit}: a module at the limit ({n}) is rejected: {e}");
        }
        // Without limits, the one-past module is valid: only the limit rejects it.
        let past = shape(limit, n + 1);
        assert!(decoder(Limits::unlimited()).decode(&past).is_ok(), "{limit}: one-past shape invalid");
        let err = expect_exceeded(limit, n, &past, &d);
        match limit.index_kind() {
            Some(_) => assert!(matches!(err, DecodeError::LimitExceeded { index: Some(_), .. }), "{err}"),
            None => assert!(matches!(err, DecodeError::LimitExceeded { index: None, .. }), "{err}"),
        }
    }
}

/// Sets one limit by name, through the same accessor the checks use.
fn set(limits: &mut Limits, limit: Limit, value: u64) {
    let field = match limit {
        Limit::ModuleBytes => &mut limits.max_module_bytes,
        Limit::Types => &mut limits.max_types,
        Limit::Functions => &mut limits.max_functions,
        Limit::Imports => &mut limits.max_imports,
        Limit::Exports => &mut limits.max_exports,
        Limit::Globals => &mut limits.max_globals,
        Limit::Tables => &mut limits.max_tables,
        Limit::Memories => &mut limits.max_memories,
        Limit::DataSegments => &mut limits.max_data_segments,
        Limit::ElementSegments => &mut limits.max_element_segments,
        Limit::LocalsPerFunction => &mut limits.max_locals_per_function,
        Limit::Params => &mut limits.max_params,
        Limit::Results => &mut limits.max_results,
        Limit::BodyBytes => &mut limits.max_body_bytes,
        Limit::OperatorsPerFunction => &mut limits.max_operators_per_function,
        Limit::NestingDepth => &mut limits.max_nesting_depth,
        Limit::BrTableTargets => &mut limits.max_br_table_targets,
        Limit::MemoryPages => &mut limits.max_memory_pages,
        Limit::TableElements => &mut limits.max_table_elements,
        Limit::CustomSectionBytes => &mut limits.max_custom_section_bytes,
        other => panic!("unknown limit {other:?}"),
    };
    *field = value;
    assert_eq!(limits.get(limit), value);
}

#[test]
fn per_function_limits_name_the_function() {
    // Function 0 is imported, function 1 is fine, function 2 has four locals.
    let wat = r#"(module (import "m" "f" (func)) (func) (func (local i32 i32 i32 i32)))"#;
    let d = Decoder::default().with_limits(Limits { max_locals_per_function: 3, ..Limits::unlimited() });
    let err = d.decode_text(wat).unwrap_err();
    assert!(
        matches!(err, DecodeError::LimitExceeded { limit: Limit::LocalsPerFunction, index: Some(2), actual: 4, .. }),
        "{err}"
    );
    assert!(err.to_string().contains("in function 2"), "{err}");
    // Parameters count as locals, as in the validator's own bound.
    let wat = r#"(module (func (param i32 i32) (local i32 i32)))"#;
    let err = d.decode_text(wat).unwrap_err();
    assert!(matches!(err, DecodeError::LimitExceeded { actual: 4, .. }), "{err}");
}

#[test]
fn imported_items_count_towards_their_index_space() {
    let wat = r#"(module (import "m" "a" (func)) (import "m" "b" (func)) (func) (func))"#;
    let d = Decoder::default().with_limits(Limits { max_functions: 3, ..Limits::unlimited() });
    let err = d.decode_text(wat).unwrap_err();
    assert!(matches!(err, DecodeError::LimitExceeded { limit: Limit::Functions, actual: 4, .. }), "{err}");
    // Three imports alone are over a limit of two, found when the imports are read.
    let wat = r#"(module (import "m" "a" (global i32)) (import "m" "b" (global i32)) (import "m" "c" (global i32)))"#;
    let d = Decoder::default().with_limits(Limits { max_globals: 2, ..Limits::unlimited() });
    let err = d.decode_text(wat).unwrap_err();
    assert!(matches!(err, DecodeError::LimitExceeded { limit: Limit::Globals, actual: 3, .. }), "{err}");
}

#[test]
fn a_declared_maximum_counts_too() {
    let d =
        Decoder::default().with_limits(Limits { max_memory_pages: 16, max_table_elements: 10, ..Limits::unlimited() });
    assert!(d.decode_text("(module (memory 1 16) (table 1 10 funcref))").is_ok());
    let err = d.decode_text("(module (memory 1 17))").unwrap_err();
    assert!(matches!(err, DecodeError::LimitExceeded { limit: Limit::MemoryPages, actual: 17, index: Some(0), .. }));
    let err = d.decode_text("(module (table 1 11 funcref))").unwrap_err();
    assert!(matches!(err, DecodeError::LimitExceeded { limit: Limit::TableElements, actual: 11, index: Some(0), .. }));
}

#[test]
fn a_forged_count_is_refused_by_the_header() {
    // A function section claiming 200 functions in 200 bytes: refused with the limit's
    // error at the section, before any item is read.
    let mut bytes = b"\0asm\x01\0\0\0\x01\x04\x01\x60\0\0\x03\xca\x01\xc8\x01".to_vec();
    bytes.extend(std::iter::repeat_n(0u8, 200));
    let d = Decoder::default().with_limits(Limits { max_functions: 100, ..Limits::unlimited() });
    let err = d.decode(&bytes).unwrap_err();
    assert!(
        matches!(err, DecodeError::LimitExceeded { limit: Limit::Functions, actual: 200, offset: 17, .. }),
        "{err}"
    );
}

#[test]
fn module_bytes_are_checked_before_anything_else() {
    let d = Decoder::default().with_limits(Limits { max_module_bytes: 8, ..Limits::unlimited() });
    let err = d.decode(b"\0asm\x01\0\0\0\x01").unwrap_err();
    assert!(matches!(err, DecodeError::LimitExceeded { limit: Limit::ModuleBytes, actual: 9, offset: 0, .. }));
}

#[test]
fn limits_off_change_nothing_and_scanning_keeps_validation_errors() {
    // The same invalid body, validated with and without the operator scan, gives the same
    // kind of error at the same offset.
    let bytes = wat::parse_str("(module (func (result i32) block i64.const 1 end i32.const 0))").unwrap();
    let plain = Decoder::default().decode(&bytes).unwrap_err();
    let scanned = Decoder::default()
        .with_limits(Limits { max_nesting_depth: 100, ..Limits::unlimited() })
        .decode(&bytes)
        .unwrap_err();
    assert_eq!(plain.offset(), scanned.offset());
    assert!(
        matches!((&plain, &scanned), (DecodeError::Invalid { .. }, DecodeError::Invalid { .. })),
        "{plain} / {scanned}"
    );
    assert_eq!(Decoder::default().limits(), &Limits::unlimited());
}

#[test]
fn spec_limits_are_what_wasmparser_enforces() {
    // One past each finite spec limit that wasmparser also checks: without our limits it is
    // rejected by wasmparser (as a plain validation error); with them, by us, typed.
    for limit in [Limit::LocalsPerFunction, Limit::MemoryPages] {
        let max = Limits::spec().get(limit);
        let past = shape(limit, max + 1);
        assert!(decoder(Limits::unlimited()).decode(&past).is_err(), "{limit}: wasmparser accepts one past");
        expect_exceeded(limit, max, &past, &decoder(Limits::spec()));
        assert!(decoder(Limits::spec()).decode(&shape(limit, max)).is_ok(), "{limit} at the spec limit");
    }
}

#[test]
fn the_reader_refuses_types_past_its_bound_before_our_check() {
    // wasmparser reads at most 1,000 parameters or results and refuses more as malformed
    // while reading the type, before any check of ours can run: at the spec's value the
    // limit is the reader's.
    for limit in [Limit::Params, Limit::Results] {
        let max = Limits::spec().get(limit);
        assert!(decoder(Limits::spec()).decode(&shape(limit, max)).is_ok());
        let err = decoder(Limits::spec()).decode(&shape(limit, max + 1)).unwrap_err();
        assert!(matches!(err, DecodeError::Malformed { .. }), "{limit}: {err}");
    }
}
