//! Branches that keep several cells and land on a segment's charge: the interpreter pays that
//! charge in the branch and skips it (`BrCharge`), and must pay it once, as the JIT's check
//! does. The corpus found a branch keeping a `v128` (two cells) paying twice (module #30).

use wes_difftest::{compare, standard_engines};

const KEEPS: &str = r#"(module
    (global $g (export "g") (mut i32) (i32.const 0))
    (func (export "block_v128") (result i32)
      (i32x4.extract_lane 3
        (block (result v128)
          (i64.const 7)
          (v128.const i32x4 1 2 3 4)
          (br 0)))
      (global.set $g (i32.add (global.get $g) (i32.const 1)))
      (global.get $g)
      (i32.add))
    (func (export "block_pair") (result i64)
      (block (result i64 i64)
        (i32.const 9)
        (i64.const 1)
        (i64.const 2)
        (br 0))
      (global.set $g (i32.add (global.get $g) (i32.const 1)))
      (i64.add))
    (func (export "loop_pair") (result i64)
      (local $n i32)
      (i64.const 0) (i64.const 1)
      (loop $l (param i64 i64) (result i64 i64)
        (local.set $n (i32.add (local.get $n) (i32.const 1)))
        (i32.const 5)
        (i64.const 3)
        (i64.const 4)
        (br_if $l (i32.lt_u (local.get $n) (i32.const 100)))
        (drop) (drop) (drop))
      (i64.add)))"#;

#[test]
fn branches_keeping_cells_pay_the_charge_they_land_on_once() {
    let engines = standard_engines().unwrap();
    let summary = compare(&wat::parse_str(KEEPS).unwrap(), &engines).unwrap();
    assert_eq!((summary.calls, summary.returned), (3, 3), "{summary:?}");
}
