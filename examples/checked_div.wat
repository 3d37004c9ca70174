;; Integer division, which traps on a zero divisor: shows how a trap is reported.
;;   cargo run --release -p wes-cli -- run examples/checked_div.wat --invoke div 7 0 --json
(module
  (func $inner (param i32 i32) (result i32)
    (i32.div_s (local.get 0) (local.get 1)))
  (func (export "div") (param i32 i32) (result i32)
    (call $inner (local.get 0) (local.get 1))))
