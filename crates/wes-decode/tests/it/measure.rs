//! The [`FunctionShape`] the decoder measures for every body while validating it: the counts
//! admission (`wes_core::FunctionLimits`) checks, and whether a function may move memory or
//! end with a pending tail call.

use wes_core::{FunctionLimits, FunctionShape};
use wes_decode::{Decoder, Limits, decode_text};

fn decode(wat: &str) -> wes_core::Module {
    decode_text(wat).unwrap_or_else(|e| panic!("{e}"))
}

fn shapes(wat: &str) -> Vec<FunctionShape> {
    decode(wat).bodies.iter().map(|b| b.shape.clone()).collect()
}

#[test]
fn every_count_of_a_body_is_measured() {
    let s = shapes(
        r#"(module (import "h" "f" (func $h)) (table 1 funcref) (type $t (func))
             (func $f (param i32) (local i64 i64)
               (block $a
                 (loop $b
                   (br_if $a (local.get 0))
                   (br_if $a (local.get 0))
                   (br_table $a $b $a $a (local.get 0))))
               call $h
               (call_indirect (type $t) (i32.const 0))
               return_call $h))"#,
    );
    let want = FunctionShape {
        // block, loop, 2 × (local.get, br_if), local.get, br_table, end, end, call,
        // i32.const, call_indirect, return_call, end.
        operators: 15,
        // block, loop, br_if ×2, br_table, end ×2, call, call_indirect, return_call, end.
        control_operators: 11,
        calls: 3,
        // $a: two br_ifs and the br_table (its three $a targets count once).
        max_branches_per_label: 3,
        max_nesting_depth: 2,
        locals: 3,
        max_br_table_targets: 3,
        may_move_memory: true,
        // `return_call $h`: the import is called by whoever called `$f`.
        may_return_tail: true,
        uses_simd: false,
    };
    assert_eq!(s, vec![want]);
}

#[test]
fn the_measures_do_not_depend_on_the_decoders_limits() {
    let wat = "(module (func (param i32) (block (block (br_table 0 1 0 (local.get 0))))))";
    let strict = Decoder::default().with_limits(Limits { max_nesting_depth: 9, ..Limits::spec() });
    assert_eq!(strict.decode_text(wat).unwrap_or_else(|e| panic!("{e}")).bodies[0].shape, shapes(wat)[0]);
}

#[test]
fn simd_is_noticed_in_the_bodies_that_have_it() {
    let s = shapes("(module (func (drop (i32.const 0))) (func (drop (i32x4.splat (i32.const 1)))))");
    assert_eq!(s.iter().map(|s| s.uses_simd).collect::<Vec<_>>(), vec![false, true]);
}

#[test]
fn growth_spreads_to_callers_and_nowhere_else() {
    let moves: Vec<bool> = shapes(
        r#"(module (import "h" "f" (func $h)) (memory 1) (table 1 funcref) (type $t (func))
             (func $grows (drop (memory.grow (i32.const 1))))
             (func $calls_grows call $grows)
             (func $calls_that call $calls_grows)
             (func $leaf (drop (i32.load (i32.const 0))))
             (func $calls_leaf call $leaf)
             (func $calls_host call $h)
             (func $indirect (call_indirect (type $t) (i32.const 0)))
             (func $rec call $rec)
             (func $calls_later call $later)
             (func $later (drop (memory.grow (i32.const 1)))))"#,
    )
    .iter()
    .map(|s| s.may_move_memory)
    .collect();
    assert_eq!(moves, vec![true, true, true, false, false, true, true, false, true, true]);
}

#[test]
fn only_tail_calls_spread_a_pending_tail_call_and_only_to_tail_callers() {
    let tails: Vec<bool> = shapes(
        r#"(module (import "h" "f" (func $h)) (table 1 funcref) (type $t (func))
             (func $indirect (return_call_indirect (type $t) (i32.const 0)))
             (func $tail_to_indirect return_call $indirect)
             (func $calls_indirect call $indirect)
             (func $tail_to_host return_call $h)
             (func $tail_to_leaf return_call $leaf)
             (func $leaf)
             (func $tail_chain return_call $tail_to_indirect)
             (func $rec return_call $rec)
             (func $tail_to_later return_call $later)
             (func $later (return_call_indirect (type $t) (i32.const 0))))"#,
    )
    .iter()
    .map(|s| s.may_return_tail)
    .collect();
    assert_eq!(tails, vec![true, true, false, true, false, false, true, false, true, true]);
}

#[test]
fn the_default_limits_admit_their_maxima_and_refuse_one_more() {
    let check = |wat: String| FunctionLimits::default().check(&decode(&wat)).map_err(|e| e.to_string());
    let table =
        |n: u64| format!("(module (func (param i32) (block (br_table {} 0 (local.get 0)))))", "0 ".repeat(n as usize));
    assert_eq!(check(table(65_520)), Ok(()));
    assert_eq!(
        check(table(65_521)),
        Err("function 0 exceeds the limit on br_table targets: 65521 (at most 65520)".into())
    );
    let nested = |n: usize| format!("(module (func {} {}))", "block ".repeat(n), "end ".repeat(n));
    assert_eq!(check(nested(4096)), Ok(()));
    assert_eq!(check(nested(4097)), Err("function 0 exceeds the limit on nesting depth: 4097 (at most 4096)".into()));
    // Each `(block)` is two control operators, and the function's `end` one more.
    let flat = |control: u64| {
        format!(
            "(module (func {} {}))",
            "(block) ".repeat(((control - 1) / 2) as usize),
            if control.is_multiple_of(2) { "unreachable" } else { "" }
        )
    };
    assert_eq!(check(flat(16_000)), Ok(()));
    assert_eq!(
        check(flat(16_001)),
        Err("function 0 exceeds the limit on control operators per function: 16001 (at most 16000)".into())
    );
}

/// Modules of every shape the measures distinguish: calls spreading growth and tail calls,
/// SIMD, imports, tables, data, names.
const PREVALIDATED: &[&str] = &[
    r#"(module (import "h" "f" (func $h)) (table 1 funcref) (type $t (func)) (memory 1)
         (func $grow (drop (memory.grow (i32.const 1))))
         (func $calls_grow call $grow)
         (func $tail (param i32) (local f64) (return_call $h))
         (func $leaf (param i32) (result i32) (i32x4.extract_lane 0 (i32x4.splat (local.get 0))))
         (func $deep (block (loop (if (i32.const 1) (then (br_table 0 1 2 (i32.const 0)))))))
         (func (export "run") (call_indirect (type $t) (i32.const 0)))
         (data (i32.const 8) "abc"))"#,
    "(module)",
    "(module (func $only (nop)))",
];

#[test]
fn a_prevalidated_decode_gives_the_module_a_full_decode_gives() {
    let decoder = Decoder::default();
    for wat in PREVALIDATED {
        let bytes = wat::parse_str(wat).unwrap();
        let full = decoder.decode(&bytes).unwrap();
        let measured: Vec<FunctionShape> = full.bodies.iter().map(|b| b.shape.clone()).collect();
        // SAFETY: the shapes are the ones this decoder just measured validating these bytes.
        let quick = unsafe { decoder.decode_prevalidated(&bytes, &measured) }.unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(quick, full, "{wat}");
    }
}

#[test]
fn a_prevalidated_decode_needs_one_shape_per_body_and_still_checks_the_limits() {
    let bytes = wat::parse_str(PREVALIDATED[0]).unwrap();
    let decoder = Decoder::default();
    let shapes: Vec<FunctionShape> = decoder.decode(&bytes).unwrap().bodies.iter().map(|b| b.shape.clone()).collect();
    for wrong in [&shapes[..shapes.len() - 1], &[shapes.clone(), shapes.clone()].concat()[..], &[]] {
        // SAFETY: the bytes validated with this decoder; the shape list is wrong on purpose,
        // which the decode must refuse rather than take.
        let e = unsafe { decoder.decode_prevalidated(&bytes, wrong) }.unwrap_err();
        assert!(matches!(e, wes_decode::DecodeError::Malformed { .. }), "{} shapes: {e}", wrong.len());
    }
    // The per-function limits hold against the recorded shapes: `$tail` has two locals.
    let strict = Decoder::default().with_limits(Limits { max_locals_per_function: 1, ..Limits::default() });
    // SAFETY: as above (the limits are not part of what validation vouches for).
    let e = unsafe { strict.decode_prevalidated(&bytes, &shapes) }.unwrap_err();
    assert!(
        matches!(
            e,
            wes_decode::DecodeError::LimitExceeded {
                limit: wes_decode::Limit::LocalsPerFunction,
                max: 1,
                actual: 2,
                index: Some(3),
                ..
            }
        ),
        "{e}"
    );
    // The same verdict as the full decode, but for the offset (the body's, not the operator's).
    let full = strict.decode(&bytes).unwrap_err();
    let what = |e: &wes_decode::DecodeError| match e {
        wes_decode::DecodeError::LimitExceeded { limit, max, actual, index, .. } => (*limit, *max, *actual, *index),
        other => panic!("{other}"),
    };
    assert_eq!(what(&e), what(&full));
}
