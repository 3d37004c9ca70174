//! Function bodies validated on several threads: the module, its bodies' shapes and the error
//! reported are those of one thread, whatever the number.

use wes_decode::{DecodeError, Decoder};

/// `n` functions calling each other in a chain, every seventh growing memory, every fifth
/// tail-calling, and the bodies named in `invalid` returning an `i64` where an `i32` is due.
fn module(n: usize, invalid: &[usize]) -> Vec<u8> {
    let mut wat = String::from("(module (memory 1)\n");
    for i in 0..n {
        let next = (i + 1) % n;
        let body = if invalid.contains(&i) {
            "(i64.const 0)".to_string()
        } else if i % 7 == 0 {
            "(drop (memory.grow (i32.const 0))) (i32.const 1)".to_string()
        } else if i % 5 == 0 {
            format!("(return_call $f{next} (local.get 0))")
        } else {
            format!("(block (br_if 0 (local.get 0)) (drop (call $f{next} (i32.const 1)))) (local.get 0)")
        };
        wat.push_str(&format!("  (func $f{i} (param i32) (result i32) {body})\n"));
    }
    wat.push(')');
    wat::parse_str(&wat).unwrap_or_else(|e| panic!("{e}"))
}

fn decode(bytes: &[u8], threads: usize) -> Result<wes_core::Module, DecodeError> {
    Decoder::default().with_threads(threads).decode(bytes)
}

#[test]
fn bodies_validated_on_threads_measure_what_one_thread_measures() {
    let bytes = module(300, &[]);
    let one = decode(&bytes, 1).unwrap_or_else(|e| panic!("{e}"));
    // Shapes spread over calls: the callers of a function that grows memory may move it.
    assert!(one.bodies.iter().filter(|b| b.shape.may_move_memory).count() > 7, "spread over the call chain");
    for threads in [2, 3, 8] {
        let many = decode(&bytes, threads).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(many.bodies, one.bodies, "{threads} threads");
    }
}

#[test]
fn the_first_invalid_body_is_the_error_whatever_the_threads() {
    let bytes = module(300, &[120, 250]);
    let one = decode(&bytes, 1).unwrap_err();
    assert!(matches!(one, DecodeError::Invalid { .. }), "{one}");
    // Body 120's error (the bytes up to its end are the same in both), not body 250's.
    assert_eq!(decode(&module(300, &[120]), 1).unwrap_err(), one);
    assert_ne!(decode(&module(300, &[250]), 1).unwrap_err(), one);
    for threads in [2, 3, 8] {
        assert_eq!(decode(&bytes, threads).unwrap_err(), one, "{threads} threads");
    }
}

#[test]
fn an_invalid_body_comes_before_what_is_malformed_after_it() {
    let mut bytes = module(100, &[60]);
    // A data section after the code: one active segment with a truncated offset expression.
    bytes.extend_from_slice(&[11, 3, 1, 0, 0x41]);
    let one = decode(&bytes, 1).unwrap_err();
    assert!(matches!(one, DecodeError::Invalid { .. }), "{one}");
    for threads in [2, 8] {
        assert_eq!(decode(&bytes, threads).unwrap_err(), one, "{threads} threads");
    }
    // Valid bodies: the malformed section is the error.
    let mut valid = module(100, &[]);
    valid.extend_from_slice(&[11, 3, 1, 0, 0x41]);
    for threads in [1, 8] {
        let e = decode(&valid, threads).unwrap_err();
        assert!(matches!(e, DecodeError::Malformed { .. }), "{threads} threads: {e}");
    }
}

/// A code section longer than one batch of waiting bodies (4,096) validates batch by batch:
/// the shapes, calls spread across batches included, and the first error are those of one pass.
#[test]
fn bodies_past_one_batch_measure_and_fail_as_one_pass() {
    let bytes = module(9_000, &[]);
    let one = decode(&bytes, 1).unwrap_or_else(|e| panic!("{e}"));
    let two = decode(&bytes, 2).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(two.bodies, one.bodies);
    // The chain of calls wraps around, so every function reaches one that grows memory.
    assert!(one.bodies.iter().all(|b| b.shape.may_move_memory));
    let invalid = module(9_000, &[5_000, 8_000]);
    let first = decode(&module(9_000, &[5_000]), 1).unwrap_err();
    for threads in [1, 2] {
        assert_eq!(decode(&invalid, threads).unwrap_err(), first, "{threads} threads");
    }
}
