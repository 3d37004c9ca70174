//! Every way a float's bits can be observed, fed NaNs that hardware chooses (`inf - inf`, which
//! x86 answers with a negative NaN) and NaNs with payloads: each observation reads the
//! canonical NaN on every engine, the JIT (which canonicalises where bits are observed, not
//! where they are computed) and the interpreter (which canonicalises every result) alike. The
//! inputs come from memory, so no compiler can fold them.

use wes_core::Value;
use wes_difftest::{compare, standard_engines};
use wes_runtime::{Linker, Store};

const CANON64: u64 = 0x7ff8_0000_0000_0000;
const CANON32: u32 = 0x7fc0_0000;

/// Memory 0..8: +inf (f64); 8..16: a NaN with a payload (f64); 16..20: +inf (f32); 20..24: a
/// NaN with a payload (f32). Results are stored from 64 on.
const MODULE: &str = r#"(module
  (memory (export "mem") 1)
  (data (i32.const 0) "\00\00\00\00\00\00\f0\7f" "\01\00\00\00\00\00\f4\7f" "\00\00\80\7f" "\01\00\a0\7f")
  (global $g (export "g") (mut f64) (f64.const 0))
  (func $inf (result f64) (f64.load (i32.const 0)))
  (func $pnan (result f64) (f64.load (i32.const 8)))
  (func $inf32 (result f32) (f32.load (i32.const 16)))
  (func $pnan32 (result f32) (f32.load (i32.const 20)))
  (func $id (param f64) (result f64) local.get 0)
  (func $bits (param f64) (result i64) (i64.reinterpret_f64 (local.get 0)))

  ;; A sum carried around a loop, observed after it: stored, returned, reinterpreted.
  (func $sum (param $x f64) (param $n i32) (result f64) (local $s f64)
    (block $d (loop $l
      (br_if $d (i32.eqz (local.get $n)))
      (local.set $s (f64.add (local.get $s) (f64.mul (local.get $x) (f64.const 2))))
      (local.set $n (i32.sub (local.get $n) (i32.const 1)))
      (br $l)))
    (local.get $s))
  (func (export "loop_store") (param i32)
    (local $s f64) (local $n i32)
    (local.set $n (i32.add (i32.and (local.get 0) (i32.const 7)) (i32.const 2)))
    (block $d (loop $l
      (br_if $d (i32.eqz (local.get $n)))
      (local.set $s (f64.add (local.get $s) (f64.sub (call $inf) (call $inf))))
      (local.set $n (i32.sub (local.get $n) (i32.const 1)))
      (br $l)))
    (f64.store (i32.const 64) (local.get $s)))
  (func (export "loop_ret") (result i64) (i64.reinterpret_f64 (call $sum (f64.sub (call $inf) (call $inf)) (i32.const 5))))
  (func (export "loop_payload") (result i64) (i64.reinterpret_f64 (call $sum (call $pnan) (i32.const 3))))
  ;; Through a select and through block results.
  (func (export "select") (param i32) (result i64)
    (i64.reinterpret_f64 (select (f64.sub (call $inf) (call $inf)) (f64.const 1) (i32.or (local.get 0) (i32.const 1)))))
  (func (export "if_result") (param i32) (result f64)
    (if (result f64) (i32.eqz (i32.and (local.get 0) (i32.const 0)))
      (then (f64.sub (call $inf) (call $inf))) (else (f64.mul (call $pnan) (f64.const 1)))))
  ;; Sign operations observe the sign bit of the NaN they are given.
  (func (export "neg") (result i64) (i64.reinterpret_f64 (f64.neg (f64.sub (call $inf) (call $inf)))))
  (func (export "abs") (result i64) (i64.reinterpret_f64 (f64.abs (f64.sub (call $inf) (call $inf)))))
  (func (export "copysign") (result f64) (f64.copysign (f64.const 1) (f64.sub (call $inf) (call $inf))))
  ;; Calls, globals, conversions between widths, min and max.
  (func (export "call_arg") (result i64) (call $bits (f64.add (call $pnan) (f64.const 1))))
  (func (export "global") (global.set $g (f64.div (f64.sub (call $inf) (call $inf)) (f64.const 3))))
  (func (export "demote") (result i32) (i32.reinterpret_f32 (f32.demote_f64 (f64.sub (call $inf) (call $inf)))))
  (func (export "promote") (result i64) (i64.reinterpret_f64 (f64.promote_f32 (f32.sub (call $inf32) (call $inf32)))))
  (func (export "min_max") (result i64) (i64.reinterpret_f64 (f64.min (f64.max (call $pnan) (f64.const 1)) (f64.const 2))))
  (func (export "store32") (f32.store (i32.const 72) (f32.add (call $pnan32) (f32.const 1))))
  ;; Observations that must not be disturbed: a compare and a saturating conversion.
  (func (export "compare") (result i32) (f64.ne (f64.sub (call $inf) (call $inf)) (f64.const 0)))
  (func (export "trunc_sat") (result i32) (i32.trunc_sat_f64_s (f64.sub (call $inf) (call $inf))))
  ;; Vectors: stored, a lane as integer and as float, carried around a loop.
  (func (export "v_store") (v128.store (i32.const 80) (f32x4.sub (f32x4.splat (call $inf32)) (f32x4.splat (call $inf32)))))
  (func (export "v_lane") (result i32) (i32x4.extract_lane 1 (f32x4.mul (f32x4.splat (call $pnan32)) (f32x4.splat (f32.const 1)))))
  (func (export "v_flane") (result f64) (f64x2.extract_lane 1 (f64x2.add (f64x2.splat (call $inf)) (f64x2.splat (f64.neg (call $inf))))))
  (func (export "v_loop") (result v128) (local $v v128) (local $n i32)
    (local.set $n (i32.const 4))
    (block $d (loop $l
      (br_if $d (i32.eqz (local.get $n)))
      (local.set $v (f64x2.add (local.get $v) (f64x2.sub (f64x2.splat (call $inf)) (f64x2.splat (call $inf)))))
      (local.set $n (i32.sub (local.get $n) (i32.const 1)))
      (br $l)))
    (local.get $v)))"#;

#[test]
fn every_observation_of_a_chosen_nan_reads_the_canonical_nan_on_every_engine() {
    let bytes = wat::parse_str(MODULE).unwrap();
    let engines = standard_engines().unwrap();
    let summary = compare(&bytes, &engines).unwrap_or_else(|d| panic!("{d}"));
    assert_eq!((summary.calls, summary.returned, summary.traps.len()), (20, 20, 0), "{summary:?}");

    let neg = CANON64 | 1 << 63;
    let v = |x: u64| Value::V128(u128::from(x) | u128::from(x) << 64);
    let expected: &[(&str, Option<Value>)] = &[
        ("loop_ret", Some(Value::I64(CANON64 as i64))),
        ("loop_payload", Some(Value::I64(CANON64 as i64))),
        ("select", Some(Value::I64(CANON64 as i64))),
        ("if_result", Some(Value::F64(CANON64))),
        ("neg", Some(Value::I64(neg as i64))),
        ("abs", Some(Value::I64(CANON64 as i64))),
        ("copysign", Some(Value::F64(1f64.to_bits()))),
        ("call_arg", Some(Value::I64(CANON64 as i64))),
        ("demote", Some(Value::I32(CANON32 as i32))),
        ("promote", Some(Value::I64(CANON64 as i64))),
        ("min_max", Some(Value::I64(CANON64 as i64))),
        ("compare", Some(Value::I32(1))),
        ("trunc_sat", Some(Value::I32(0))),
        ("v_lane", Some(Value::I32(CANON32 as i32))),
        ("v_flane", Some(Value::F64(CANON64))),
        ("v_loop", Some(v(CANON64))),
        ("loop_store", None),
        ("global", None),
        ("store32", None),
        ("v_store", None),
    ];
    for (name, engine) in &engines {
        let module = wes_runtime::Module::new(engine, wes_decode::decode(&bytes).unwrap()).unwrap();
        let mut store = Store::new(engine);
        if name.starts_with("jit") && !name.ends_with("unmetered") || name == &"interp" || name == &"interp-eager" {
            store.set_meter(Box::new(wes_meter::BasicMeter::new(1 << 40)));
        }
        let instance = Linker::new().instantiate(&mut store, &module).unwrap();
        for (export, want) in expected {
            let f = instance.get_func(&store, export).unwrap();
            let args: Vec<Value> = f.ty(&store).unwrap().params().iter().map(|_| Value::I32(3)).collect();
            let got = f.call(&mut store, &args).unwrap_or_else(|e| panic!("{name} {export}: {e}"));
            if let Some(want) = want {
                assert_eq!(got.first(), Some(want), "{name} {export}");
            }
        }
        let memory = instance.get_memory(&store, "mem").unwrap();
        let data = memory.data(&store).unwrap();
        let word = |at: usize| u64::from_le_bytes(data[at..at + 8].try_into().unwrap());
        let half = |at: usize| u32::from_le_bytes(data[at..at + 4].try_into().unwrap());
        assert_eq!(word(64), CANON64, "{name} loop_store");
        assert_eq!(half(72), CANON32, "{name} store32");
        assert_eq!([half(80), half(84), half(88), half(92)], [CANON32; 4], "{name} v_store");
        let g = instance.get_global(&store, "g").unwrap().get(&store).unwrap();
        assert_eq!(g, Value::F64(CANON64), "{name} global");
    }
}
