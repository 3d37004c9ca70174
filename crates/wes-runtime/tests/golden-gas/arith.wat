;; Straight-line arithmetic of every class.
(module
  (func (export "int") (param i32 i32) (result i32)
    (i32.xor (i32.mul (i32.add (local.get 0) (local.get 1)) (i32.const 3)) (i32.shl (local.get 1) (i32.const 2))))
  (func (export "div") (param i64 i64) (result i64)
    (i64.add (i64.div_s (local.get 0) (local.get 1)) (i64.rem_u (local.get 0) (local.get 1))))
  (func (export "float") (param i32) (result i32)
    (i32.trunc_f64_s (f64.sqrt (f64.div (f64.convert_i32_s (local.get 0)) (f64.const 0.25)))))
  (func (export "select") (param i32) (result i32)
    (select (i32.const 10) (i32.const 20) (local.get 0)))
  (func (export "mul64") (param i64) (result i64)
    (i64.mul (local.get 0) (i64.mul (local.get 0) (local.get 0)))))
