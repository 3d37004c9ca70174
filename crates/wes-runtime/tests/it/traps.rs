//! Every trap kind a wasm instruction can raise comes back as its own code, with a backtrace,
//! and the store keeps working.

use wes_core::{TrapCode, Value};

use crate::{call, check_trap, instantiate};

const TRAPS: &str = r#"(module
  (type $v (func))
  (type $i (func (result i32)))
  (memory 1)
  (table $t 2 funcref)
  (elem (i32.const 0) $ok)
  (func $ok (result i32) i32.const 7)
  (func $unreachable (export "unreachable") unreachable)
  (func (export "load") (param i32) (result i32) local.get 0 i32.load)
  (func (export "store") (param i32) local.get 0 i64.const 1 i64.store offset=8)
  (func (export "fill") (param i32 i32) local.get 0 i32.const 0 local.get 1 memory.fill)
  (func (export "div_s") (param i32 i32) (result i32) local.get 0 local.get 1 i32.div_s)
  (func (export "rem_u64") (param i64 i64) (result i64) local.get 0 local.get 1 i64.rem_u)
  (func (export "rem_s") (param i32 i32) (result i32) local.get 0 local.get 1 i32.rem_s)
  (func (export "trunc") (param f64) (result i32) local.get 0 i32.trunc_f64_s)
  (func (export "trunc_sat") (param f64) (result i32) local.get 0 i32.trunc_sat_f64_s)
  (func (export "call_indirect_i") (param i32) (result i32) local.get 0 call_indirect $t (type $i))
  (func (export "call_indirect_v") (param i32) local.get 0 call_indirect $t (type $v))
  (func (export "table_get") (param i32) (result funcref) local.get 0 table.get $t)
  (func (export "table_fill") (param i32 i32) local.get 0 ref.null func local.get 1 table.fill $t)
  (func (export "nested") (call $unreachable))
  (func (export "ok") (result i32) i32.const 1)
)"#;

#[test]
fn each_trap_kind_has_its_code() {
    let (mut s, i) = instantiate(TRAPS);
    check_trap(&mut s, i, "unreachable", &[], TrapCode::Unreachable);
    check_trap(&mut s, i, "load", &[Value::I32(65_533)], TrapCode::MemoryOutOfBounds);
    check_trap(&mut s, i, "load", &[Value::I32(-1)], TrapCode::MemoryOutOfBounds);
    check_trap(&mut s, i, "store", &[Value::I32(65_528)], TrapCode::MemoryOutOfBounds);
    check_trap(&mut s, i, "fill", &[Value::I32(65_000), Value::I32(1_000)], TrapCode::MemoryOutOfBounds);
    check_trap(&mut s, i, "div_s", &[Value::I32(1), Value::I32(0)], TrapCode::IntegerDivideByZero);
    check_trap(&mut s, i, "rem_u64", &[Value::I64(1), Value::I64(0)], TrapCode::IntegerDivideByZero);
    check_trap(&mut s, i, "div_s", &[Value::I32(i32::MIN), Value::I32(-1)], TrapCode::IntegerOverflow);
    check_trap(&mut s, i, "trunc", &[Value::f64(f64::NAN)], TrapCode::BadConversionToInteger);
    check_trap(&mut s, i, "trunc", &[Value::f64(3e9)], TrapCode::IntegerOverflow);
    check_trap(&mut s, i, "call_indirect_i", &[Value::I32(1)], TrapCode::IndirectCallToNull);
    check_trap(&mut s, i, "call_indirect_v", &[Value::I32(0)], TrapCode::IndirectCallTypeMismatch);
    check_trap(&mut s, i, "call_indirect_i", &[Value::I32(2)], TrapCode::UndefinedElement);
    check_trap(&mut s, i, "table_get", &[Value::I32(2)], TrapCode::TableOutOfBounds);
    check_trap(&mut s, i, "table_fill", &[Value::I32(1), Value::I32(2)], TrapCode::TableOutOfBounds);
}

#[test]
fn edge_cases_that_must_not_trap() {
    let (mut s, i) = instantiate(TRAPS);
    assert_eq!(call(&mut s, i, "rem_s", &[Value::I32(i32::MIN), Value::I32(-1)]).unwrap(), [Value::I32(0)]);
    assert_eq!(call(&mut s, i, "load", &[Value::I32(65_532)]).unwrap(), [Value::I32(0)]);
    assert_eq!(call(&mut s, i, "trunc", &[Value::f64(-2147483648.9)]).unwrap(), [Value::I32(i32::MIN)]);
    assert_eq!(call(&mut s, i, "trunc_sat", &[Value::f64(f64::NAN)]).unwrap(), [Value::I32(0)]);
    assert_eq!(call(&mut s, i, "trunc_sat", &[Value::f64(1e300)]).unwrap(), [Value::I32(i32::MAX)]);
    assert_eq!(call(&mut s, i, "call_indirect_i", &[Value::I32(0)]).unwrap(), [Value::I32(7)]);
    // A zero-length fill at the very end is in bounds.
    assert_eq!(call(&mut s, i, "fill", &[Value::I32(65_536), Value::I32(0)]).unwrap(), []);
}

#[test]
fn backtrace_names_the_frames_innermost_first() {
    let (mut s, i) = instantiate(TRAPS);
    let trap = check_trap(&mut s, i, "nested", &[], TrapCode::Unreachable);
    let frames: Vec<_> = trap.backtrace.iter().map(|f| (f.func_index, f.func_name.as_deref())).collect();
    assert_eq!(frames, [(1, Some("unreachable")), (14, None)]);
    // Each frame's offset is its instruction in the module: `unreachable`, then the `call`.
    let bytes = wes_decode::decode_text(TRAPS).unwrap().into_parts().bytes;
    let at = |i: usize| trap.backtrace[i].offset.map(|o| bytes[o as usize]);
    assert_eq!((at(0), at(1)), (Some(0x00), Some(0x10)));
    let offset = trap.backtrace[0].offset.unwrap();
    assert_eq!(trap.to_string(), format!("wasm trap: unreachable in func[1] <unreachable> @ 0x{offset:x}"));
}

#[test]
fn store_stays_usable_after_every_trap() {
    let (mut s, i) = instantiate(TRAPS);
    for _ in 0..3 {
        check_trap(&mut s, i, "nested", &[], TrapCode::Unreachable);
        assert_eq!(call(&mut s, i, "ok", &[]).unwrap(), [Value::I32(1)]);
    }
}

#[test]
fn nan_results_are_canonical() {
    let (mut s, i) = instantiate(
        r#"(module (func (export "add") (param f32 f32) (result f32) local.get 0 local.get 1 f32.add)
                   (func (export "neg") (param f64) (result f64) local.get 0 f64.neg))"#,
    );
    // A signalling NaN with a payload comes out as the canonical quiet NaN ...
    let r = call(&mut s, i, "add", &[Value::F32(0x7fa0_0001), Value::f32(1.0)]).unwrap();
    assert_eq!(r[0], Value::F32(0x7fc0_0000));
    // ... while bitwise operations keep the payload, as the spec requires.
    let r = call(&mut s, i, "neg", &[Value::F64(0x7ff4_0000_0000_0001)]).unwrap();
    assert_eq!(r[0], Value::F64(0xfff4_0000_0000_0001));
}

#[test]
fn every_nan_producing_float_operation_gives_the_canonical_nan() {
    // Each operation gets a NaN with a payload and the sign set (or makes one from 0/0 or
    // sqrt(-1), where x86 produces a negative NaN): the result must be the positive canonical
    // NaN, bit for bit.
    let (mut s, i) = instantiate(
        r#"(module
             (func (export "f32") (param $op i32) (param $x f32) (result f32)
               (block $b (block $9 (block $8 (block $7 (block $6 (block $5 (block $4 (block $3 (block $2 (block $1 (block $0
                 (br_table $0 $1 $2 $3 $4 $5 $6 $7 $8 $9 (local.get $op)))
                 (return (f32.add (local.get $x) (f32.const 1))))
                 (return (f32.sub (f32.const 1) (local.get $x))))
                 (return (f32.mul (local.get $x) (f32.const 2))))
                 (return (f32.div (f32.const 0) (f32.const 0))))
                 (return (f32.sqrt (f32.const -1))))
                 (return (f32.min (local.get $x) (f32.const 1))))
                 (return (f32.max (f32.const 1) (local.get $x))))
                 (return (f32.ceil (local.get $x))))
                 (return (f32.nearest (local.get $x))))
                 (return (f32.demote_f64 (f64.promote_f32 (local.get $x)))))
               (f32.const 0))
             (func (export "f64") (param $op i32) (param $x f64) (result f64)
               (block $b (block $6 (block $5 (block $4 (block $3 (block $2 (block $1 (block $0
                 (br_table $0 $1 $2 $3 $4 $5 $6 (local.get $op)))
                 (return (f64.add (local.get $x) (f64.const 1))))
                 (return (f64.mul (local.get $x) (local.get $x))))
                 (return (f64.div (local.get $x) (f64.const 3))))
                 (return (f64.sqrt (local.get $x))))
                 (return (f64.floor (local.get $x))))
                 (return (f64.trunc (local.get $x))))
                 (return (f64.promote_f32 (f32.demote_f64 (local.get $x)))))
               (f64.const 0)))"#,
    );
    for op in 0..10 {
        let r = call(&mut s, i, "f32", &[Value::I32(op), Value::F32(0xffa0_0001)]).unwrap();
        assert_eq!(r[0], Value::F32(0x7fc0_0000), "f32 operation {op}");
    }
    for op in 0..7 {
        let r = call(&mut s, i, "f64", &[Value::I32(op), Value::F64(0xfff4_0000_0000_0001)]).unwrap();
        assert_eq!(r[0], Value::F64(0x7ff8_0000_0000_0000), "f64 operation {op}");
    }
    // Numbers stay numbers.
    let r = call(&mut s, i, "f64", &[Value::I32(1), Value::f64(3.0)]).unwrap();
    assert_eq!(r[0], Value::f64(9.0));
}

#[test]
fn nans_are_canonical_wherever_they_can_be_seen_along_a_chain() {
    // The product feeds only the sum (whose NaN is canonicalised), the square root only the
    // demotion; but a product that is also stored, or passed through a local to the caller,
    // is seen, and must be canonical where it is seen.
    let (mut s, i) = instantiate(
        r#"(module (memory 1)
             (func (export "fma") (param f64 f64 f64) (result f64)
               (f64.add (f64.mul (local.get 0) (local.get 1)) (local.get 2)))
             (func (export "chain") (param f64) (result f32)
               (f32.demote_f64 (f64.sqrt (f64.neg (local.get 0)))))
             (func (export "stored") (param f64 f64) (result f64 i64)
               (local $p f64)
               (local.set $p (f64.mul (local.get 0) (local.get 1)))
               (f64.store (i32.const 8) (local.get $p))
               (f64.add (local.get $p) (f64.const 1))
               (i64.load (i32.const 8))))"#,
    );
    let nan = Value::F64(0xfff4_0000_0000_0001);
    let canonical = Value::F64(0x7ff8_0000_0000_0000);
    assert_eq!(call(&mut s, i, "fma", &[nan, Value::f64(2.0), Value::f64(1.0)]).unwrap(), [canonical]);
    assert_eq!(
        call(&mut s, i, "fma", &[Value::f64(2.0), Value::f64(3.0), Value::f64(1.0)]).unwrap(),
        [Value::f64(7.0)]
    );
    assert_eq!(call(&mut s, i, "chain", &[Value::f64(4.0)]).unwrap(), [Value::F32(0x7fc0_0000)]);
    let r = call(&mut s, i, "stored", &[nan, Value::f64(2.0)]).unwrap();
    assert_eq!(r, [canonical, Value::I64(0x7ff8_0000_0000_0000)]);
}

#[test]
fn accesses_see_memory_grown_by_a_callee_inside_the_loop() {
    // The loop writes one byte per page, growing the memory through a call whenever it
    // reaches the end: a length kept from before the call (from the load before the loop,
    // say) would trap out of bounds.
    let (mut s, i) = instantiate(
        r#"(module (memory 1 8)
             (func $grow (drop (memory.grow (i32.const 1))))
             (func (export "fill") (param $pages i32) (result i32)
               (local $p i32)
               (drop (i32.load (i32.const 0)))
               (loop $next
                 (if (i32.ge_u (local.get $p) (memory.size)) (then (call $grow)))
                 (i32.store8 (i32.add (i32.mul (local.get $p) (i32.const 65536)) (i32.const 65535)) (i32.const 7))
                 (local.set $p (i32.add (local.get $p) (i32.const 1)))
                 (br_if $next (i32.lt_u (local.get $p) (local.get $pages))))
               (i32.load8_u (i32.const 327679)))
             (func (export "edge") (param $a i32) (result i32)
               (i32.load offset=4 (local.get $a))))"#,
    );
    assert_eq!(call(&mut s, i, "fill", &[Value::I32(5)]).unwrap(), [Value::I32(7)]);
    // Five pages now: the last four bytes are readable, one byte further is not, and an
    // offset past the length traps whatever the address.
    let end = 5 * 65536 - 8;
    assert_eq!(call(&mut s, i, "edge", &[Value::I32(end)]).unwrap(), [Value::I32(7 << 24)]);
    let e = call(&mut s, i, "edge", &[Value::I32(end + 1)]).unwrap_err();
    assert_eq!(e.as_trap().map(|t| t.code), Some(TrapCode::MemoryOutOfBounds));
    let e = call(&mut s, i, "edge", &[Value::I32(-1)]).unwrap_err();
    assert_eq!(e.as_trap().map(|t| t.code), Some(TrapCode::MemoryOutOfBounds));
}

#[test]
fn a_memory_smaller_than_the_access_traps_at_every_address() {
    let (mut s, i) = instantiate(
        r#"(module (memory 0 1)
             (func (export "load") (param $a i32) (result i64) (i64.load (local.get $a))))"#,
    );
    for a in [0, 1, 8, -8, -1] {
        let e = call(&mut s, i, "load", &[Value::I32(a)]).unwrap_err();
        assert_eq!(e.as_trap().map(|t| t.code), Some(TrapCode::MemoryOutOfBounds), "address {a}");
    }
}

#[test]
fn arguments_are_type_checked() {
    let (mut s, i) = instantiate(TRAPS);
    let e = call(&mut s, i, "div_s", &[Value::I32(1)]).unwrap_err();
    assert!(matches!(e, wes_runtime::RuntimeError::TypeMismatch(_)), "{e}");
    let e = call(&mut s, i, "div_s", &[Value::I32(1), Value::I64(1)]).unwrap_err();
    assert!(matches!(e, wes_runtime::RuntimeError::TypeMismatch(_)), "{e}");
}
