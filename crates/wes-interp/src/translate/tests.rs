//! The fusions' shape: what the workloads' loops translate to. (Their behaviour against the
//! JIT is `tests/it/differential.rs` and the spec suites.)
#![allow(clippy::unwrap_used, reason = "a failed unwrap fails the test")]

use std::sync::Arc;

use crate::Shared;
use crate::code::{Code, Op};
use crate::num::NumOp;

fn translate_text(wat: &str, defined_index: u32) -> Code {
    translate_metered(wat, defined_index, false)
}

fn translate_metered(wat: &str, defined_index: u32, metered: bool) -> Code {
    let module = Arc::new(wes_decode::decode_text(wat).unwrap());
    let shared = Shared {
        module: Arc::clone(&module),
        segment_pricing: metered.then(|| Arc::new(wes_meter::Pricing::default())),
        metered,
        count_operators: false,
        merge_gas_checks: false,
        nan_canonicalization: true,
        native_sigs: module.types.iter().map(crate::NativeSig::new).collect(),
    };
    let mut code = super::translate(&module, defined_index, &shared).unwrap();
    // The ops as they run: the translator keeps only the slots.
    code.ops = code.slots.iter().map(|s| s.op).collect();
    code
}

/// matmul's inner loop.
const MATMUL_LOOP: &str = r#"(module (memory 1)
(func (param $i i32) (param $row i32) (param $a i32) (param $k i32) (result f64) (local $sum f64)
  (block $k_done
    (loop $k_loop
      (br_if $k_done
        (i32.ge_u (local.get $a) (i32.mul (i32.add (local.get $i) (i32.const 1)) (local.get $row))))
      (local.set $sum
        (f64.add (local.get $sum)
          (f64.mul (f64.load (local.get $a)) (f64.load offset=8 (local.get $k)))))
      (local.set $a (i32.add (local.get $a) (i32.const 8)))
      (local.set $k (i32.add (local.get $k) (local.get $row)))
      (br $k_loop)))
  (local.get $sum)))"#;

/// matmul's inner loop: the f64 loads address their locals, the multiply-add reads the
/// accumulator's local and writes it, the compare fuses into the `br_if`, and no op copies a
/// local to the stack.
#[test]
fn the_matmul_loop_has_no_stack_copies() {
    let code = translate_text(MATMUL_LOOP, 0);
    // The loop: up to its `br` back.
    let end = code.ops.iter().position(|op| matches!(op, Op::Br(_) | Op::Jump { .. })).unwrap();
    let body = &code.ops[..=end];
    assert_eq!(body.len(), 9, "{body:#?}");
    assert!(!body.iter().any(|op| matches!(op, Op::LocalGet(_) | Op::LocalSet(_) | Op::BrIf(_))), "{body:#?}");
    // Sealed: no op of the loop moves the stack (what one pushes, the next pops).
    assert!(matches!(body[2], Op::BrI32GeUSS { sp: 0, a: 2, b: 6, .. }), "{body:#?}");
    assert!(matches!(body[3], Op::Load64S { sp: 0, d: 6, a: 2, end: 8 }), "{body:#?}");
    assert!(matches!(body[4], Op::Load64S { sp: 0, d: 7, a: 3, end: 16 }), "{body:#?}");
    // The multiply-add: `sum + a * k`, into `sum`.
    assert!(matches!(body[5], Op::F64MulAddSS { sp: 0, d: 4, a: 6, b: 7, c: 4 }), "{body:#?}");
    assert!(code.mem0);
}

/// An `if` on a comparison jumps on its negation; a `br` to the `return` at the end returns.
#[test]
fn if_fuses_the_negated_compare_and_a_branch_to_the_end_returns() {
    let code = translate_text(
        r#"(module
          (func (param $n i32) (result i64)
            (if (result i64) (i32.lt_u (local.get $n) (i32.const 2))
              (then (i64.extend_i32_u (local.get $n)))
              (else (i64.const 7)))))"#,
        0,
    );
    assert!(matches!(code.ops[0], Op::BrI32GeUSI { sp: 0, a: 0, imm: 2, .. }), "{:#?}", code.ops);
    assert!(matches!(code.ops[2], Op::Return { .. }), "{:#?}", code.ops);
}

/// A left `local.get` does not move past a right operand that writes its local, and a
/// `local.tee` of an op's result becomes that op writing the local.
#[test]
fn a_left_local_stays_when_the_right_operand_writes_it() {
    let code = translate_text(
        r#"(module
          (func (param $z i32) (param $i i32) (result i32)
            (i32.sub (local.get $z) (local.tee $z (i32.add (local.get $i) (i32.const 7))))))"#,
        0,
    );
    assert!(matches!(code.ops[0], Op::LocalGet(0)), "{:#?}", code.ops);
    assert!(matches!(code.ops[1], Op::I32AddSI { d: 0, a: 1, imm: 7, .. }), "{:#?}", code.ops);
}

/// An `i64` comparison with an immediate that does not fit 32 bits keeps its own op.
#[test]
fn a_wide_immediate_does_not_fuse_into_the_branch() {
    let code = translate_text(
        r#"(module
          (func (param $y i64) (result i32)
            (block (br_if 0 (i64.gt_s (local.get $y) (i64.const 0x100000000))))
            (block (br_if 0 (i64.gt_s (local.get $y) (i64.const -5))))
            (i32.const 0)))"#,
        0,
    );
    // The comparison pushes the `br_if`'s condition: in the form that makes its move (see
    // `code/sink.rs`), as the `br_if` reads the stack.
    assert!(matches!(code.ops[0], Op::BinSI { n: NumOp::I64GtS, sp: 1, .. }), "{:#?}", code.ops);
    assert!(matches!(code.ops[1], Op::BrIf(_)), "{:#?}", code.ops);
    assert!(matches!(code.ops[2], Op::BrI64GtSSI { imm: -5, .. }), "{:#?}", code.ops);
}

/// xorshift's test of the low bit: the `and` with an immediate and the `eqz` fuse into the
/// `if`, which jumps to the else branch when the `and` is non-zero.
#[test]
fn an_and_with_an_immediate_fuses_into_the_branch() {
    let code = translate_text(
        r#"(module
          (func (param $x i64) (param $y i32) (result i64)
            (block (br_if 0 (i32.eqz (i32.and (local.get $y) (i32.const 0x80000000)))))
            (if (result i64) (i64.eqz (i64.and (local.get $x) (i64.const 1)))
              (then (i64.const 1)) (else (i64.const 2)))))"#,
        0,
    );
    assert!(
        matches!(code.ops[0], Op::BrAnd { sp: 0, wide: false, zero: true, a: 1, imm: i32::MIN, .. }),
        "{:#?}",
        code.ops
    );
    assert!(matches!(code.ops[1], Op::BrAnd { sp: 0, wide: true, zero: false, a: 0, imm: 1, .. }), "{:#?}", code.ops);
}

/// Metered, a `br_if` on `eqz` carries the charge of the segment it falls through to, which
/// stays in place after it (branches may land on it; it runs when the counter is short).
#[test]
fn a_br_if_on_eqz_carries_the_charge_it_falls_through_to() {
    let code = translate_metered(
        r#"(module
          (func (param $n i64) (result i64)
            (block $done
              (loop $next
                (br_if $done (i64.eqz (local.get $n)))
                (local.set $n (i64.sub (local.get $n) (i64.const 1)))
                (br $next)))
            (local.get $n)))"#,
        0,
        true,
    );
    let at = code.ops.iter().position(|op| matches!(op, Op::BrIfZ { .. })).unwrap();
    let (Op::BrIfZ { cost, .. }, Op::Charge { cost: next, .. }) = (code.ops[at], code.ops[at + 1]) else {
        panic!("{:#?}", code.ops)
    };
    assert!(cost > 0 && u64::from(cost) == next, "{:#?}", code.ops);
    assert!(code.ops.iter().any(|op| matches!(op, Op::Return { .. })), "{:#?}", code.ops);
}

/// Metered, a loop testing at the top gets a second way in for its back edge: the back edge
/// pays the test's and the body's segments at once and lands on a copy of the test that falls
/// through into the body; when it cannot pay both it lands on a branch to the original test.
/// The copy's exit gives the body's segment back before it leaves.
#[test]
fn a_loop_testing_at_the_top_pays_its_body_on_the_back_edge() {
    let code = translate_metered(MATMUL_LOOP, 0, true);
    let ops = &code.ops;
    let byte = std::mem::size_of::<crate::code::Slot>() as i64;
    let (back, by, both) = ops
        .iter()
        .enumerate()
        .find_map(|(at, op)| match *op {
            Op::JumpCharge { by, cost } => Some((at, i64::from(by) / byte, cost)),
            _ => None,
        })
        .unwrap_or_else(|| panic!("no back edge: {ops:#?}"));
    let x = (back as i64 + by) as usize;
    // The way in when the counter is short: a branch to the original test's charge.
    let Op::Br(to_test) = ops[x] else { panic!("{ops:#?}") };
    let Op::Charge { cost: c1, .. } = ops[to_test.pc as usize] else { panic!("{ops:#?}") };
    // The copy: the test's two ops and its branch, which falls through into the body.
    assert!(matches!(ops[x + 1], Op::I32AddSI { .. }) && matches!(ops[x + 2], Op::I32MulSS { .. }), "{ops:#?}");
    let test = to_test.pc as usize + 3;
    let (Op::BrI32GeUSS { t: exit, .. }, Op::BrI32GeUSS { t: refund, .. }) = (ops[test], ops[x + 3]) else {
        panic!("{ops:#?}")
    };
    assert!(matches!(ops[x + 4], Op::Load64S { .. }), "{ops:#?}");
    // The way in from above: the original test, the body's charge, a jump over the copy.
    let Op::Charge { cost: c2, .. } = ops[test + 1] else { panic!("{ops:#?}") };
    assert!(matches!(ops[test + 2], Op::Jump { .. }) && test + 3 == x, "{ops:#?}");
    assert_eq!(both, c1 + c2, "{ops:#?}");
    // The copy's exit: the refund of the body's segment, then the original exit.
    assert_eq!(ops[refund.pc as usize], Op::Refund { cost: c2 }, "{ops:#?}");
    assert_eq!(ops[refund.pc as usize + 1], Op::Br(exit), "{ops:#?}");
}

/// A `br` to a loop's charge pays it itself only when it drops no cells (its handler moves
/// none); one dropping cells stays a `br`, and the charge it lands on pays.
#[test]
fn only_a_branch_dropping_nothing_pays_the_charge_it_lands_on() {
    let wat = r#"(module
      (func (param $n i32) (result i64)
        (i64.const 0)
        (loop $l (param i64) (result i64)
          (local.set $n (i32.sub (local.get $n) (i32.const 1)))
          (if (i32.eqz (local.get $n)) (then (return (i64.const 1))))
          (i64.const 7)
          (br $l)))
      (func (param $n i32)
        (loop $l
          (local.set $n (i32.sub (local.get $n) (i32.const 1)))
          (br_if 1 (i32.eqz (local.get $n)))
          (br $l))))"#;
    let dropping = translate_metered(wat, 0, true);
    assert!(
        !dropping.ops.iter().any(|op| matches!(op, Op::BrCharge { .. } | Op::JumpCharge { .. })),
        "{:#?}",
        dropping.ops
    );
    assert!(dropping.ops.iter().any(|op| matches!(op, Op::Br(t) if t.dk.drop == 1)), "{:#?}", dropping.ops);
    let plain = translate_metered(wat, 1, true);
    // Sealed, the fused branch finds the charge from its own address.
    let (at, by) = plain
        .ops
        .iter()
        .enumerate()
        .find_map(|(at, op)| match *op {
            Op::JumpCharge { by, .. } => Some((at, by)),
            _ => None,
        })
        .unwrap_or_else(|| panic!("no fused branch: {:#?}", plain.ops));
    let to = at as i64 + i64::from(by) / std::mem::size_of::<crate::code::Slot>() as i64;
    // A loop testing at the top lands on its second way in, whose branch goes to the charge.
    let to = match plain.ops[to as usize] {
        Op::Br(t) => i64::from(t.pc),
        _ => to,
    };
    assert!(matches!(plain.ops[to as usize], Op::Charge { .. }), "{:#?}", plain.ops);
}

/// A `br` that moves no cells becomes a jump relative to itself, landing where the `br` did;
/// one that drops cells stays a `br`.
#[test]
fn plain_branches_jump_from_their_own_address() {
    let wat = r#"(module
      (func (param $n i32) (result i32)
        (local $acc i32)
        (block $done
          (loop $l
            (br_if $done (i32.eqz (local.get $n)))
            (if (i32.and (local.get $n) (i32.const 1))
              (then (local.set $acc (i32.add (local.get $acc) (local.get $n))))
              (else (local.set $acc (i32.xor (local.get $acc) (local.get $n)))))
            (local.set $n (i32.sub (local.get $n) (i32.const 1)))
            (br $l)))
        (local.get $acc)))"#;
    let code = translate_metered(wat, 0, false);
    let jumps: Vec<(usize, i32)> = code
        .ops
        .iter()
        .enumerate()
        .filter_map(|(at, op)| match *op {
            Op::Jump { by } => Some((at, by)),
            _ => None,
        })
        .collect();
    // The `then` arm's jump over the `else` arm (forwards) and the loop's back edge.
    assert!(jumps.iter().any(|&(_, by)| by > 0), "{:#?}", code.ops);
    assert!(jumps.iter().any(|&(_, by)| by < 0), "{:#?}", code.ops);
    let size = std::mem::size_of::<crate::code::Slot>() as i64;
    for (at, by) in jumps {
        assert_eq!(i64::from(by) % size, 0);
        let to = at as i64 + i64::from(by) / size;
        assert!((0..code.ops.len() as i64).contains(&to), "{at} jumps to {to}: {:#?}", code.ops);
    }
    assert!(!code.ops.iter().any(|op| matches!(op, Op::Br(_))), "{:#?}", code.ops);
}

/// Metered, an `if` arm's branch to the function's end becomes the charge of the last segment
/// and the return in one op, as unmetered it becomes the return: the arm takes no more
/// dispatches than unmetered.
#[test]
fn an_arm_ending_the_function_pays_and_returns_in_one_op() {
    let wat = r#"(module
      (func $fib (param $n i32) (result i64)
        (if (result i64) (i32.lt_u (local.get $n) (i32.const 2))
          (then (i64.extend_i32_s (local.get $n)))
          (else (i64.add (call $fib (i32.sub (local.get $n) (i32.const 1)))
                         (call $fib (i32.sub (local.get $n) (i32.const 2))))))))"#;
    let arm = |code: &Code| {
        let at = code.ops.iter().position(|op| matches!(op, Op::I64ExtendSS { .. })).unwrap();
        code.ops[at + 1]
    };
    assert!(matches!(arm(&translate_metered(wat, 0, false)), Op::Return { .. }));
    assert!(matches!(arm(&translate_metered(wat, 0, true)), Op::ChargeReturn { cost: 1, .. }));
}

/// `i64.extend_i32_u` costs no op (an `i32` cell is zero-extended already); `i32.wrap_i64`
/// and `i64.extend_i32_s` are ops on slots of their own, the `local.get`s folded in.
#[test]
fn widening_and_wrapping_take_at_most_one_op() {
    let wat = r#"(module
      (func (param $a i32) (param $b i64) (result i64)
        (i64.add (i64.extend_i32_u (local.get $a))
                 (i64.extend_i32_s (i32.wrap_i64 (local.get $b))))))"#;
    let code = translate_text(wat, 0);
    // The add reads `$a`'s slot itself: the extension left nothing between them.
    assert!(
        matches!(
            code.ops[..],
            [Op::I32WrapS { a: 1, .. }, Op::I64ExtendSS { .. }, Op::I64AddSS { a: 0, .. }, Op::Return { .. }]
        ),
        "{:#?}",
        code.ops
    );
}

/// An `add` of the product a `mul` just pushed, its right operand, fuses with it: the left a
/// local (the `mul` moved down to the left's cell) or a value on the stack, the sum pushed or
/// set to a local. An `add` of a product on its left does not.
#[test]
fn an_add_of_a_product_fuses_with_the_mul() {
    let code = translate_text(
        r#"(module
          (func (param $a f64) (param $b f64) (param $c f64) (param $x f32) (result f64) (local $y f32)
            (local.set $y (f32.add (f32.const 3) (f32.mul (local.get $x) (local.get $x))))
            (local.set $x (f32.add (local.get $y) (f32.mul (local.get $y) (local.get $x))))
            (f64.add (f64.mul (local.get $a) (f64.const 3))
              (f64.add (local.get $c) (f64.mul (local.get $a) (local.get $b))))
            (f64.add (f64.mul (local.get $a) (local.get $b)) (local.get $c))
            (f64.add)))"#,
        0,
    );
    let count = |f: fn(&Op) -> bool| code.ops.iter().filter(|op| f(op)).count();
    // `3 + x * x` (the constant on the stack), `y + y * x` into `x`.
    assert!(matches!(code.ops[1], Op::F32MulAddSS { sp: 0, d: 4, a: 3, b: 3, c: 5 }), "{:#?}", code.ops);
    assert!(matches!(code.ops[2], Op::F32MulAddSS { sp: 0, d: 3, a: 4, b: 3, c: 4 }), "{:#?}", code.ops);
    // `c + a * b` fuses; `a * b + c`, its product on the left, does not.
    assert_eq!(count(|op| matches!(op, Op::F64MulAddSS { d: 6, a: 0, b: 1, c: 2, .. })), 1, "{:#?}", code.ops);
    assert_eq!(count(|op| matches!(op, Op::F64MulSS { .. })), 1, "{:#?}", code.ops);
}

/// An access of memory 0 with an op of its own carries its end (offset plus size), which must
/// fit 32 bits: one ending past 2^32 - 1 keeps the general op, with its offset.
#[test]
fn memory_ops_carry_their_end() {
    let code = translate_text(
        r#"(module (memory 1)
          (func (param $a i32) (result i64)
            (i64.load offset=0xfffffff7 (local.get $a))
            (i64.load offset=0xfffffff8 (local.get $a))
            (i64.add)
            (i64.store8 offset=0xfffffffe (local.get $a) (i64.const 1))))"#,
        0,
    );
    assert!(code.ops.iter().any(|op| matches!(op, Op::Load64S { end: 0xffff_ffff, .. })), "{:#?}", code.ops);
    assert!(code.ops.iter().any(|op| matches!(op, Op::LoadS { offset: 0xffff_fff8, .. })), "{:#?}", code.ops);
    assert!(code.ops.iter().any(|op| matches!(op, Op::Store8 { end: 0xffff_ffff, .. })), "{:#?}", code.ops);
}
