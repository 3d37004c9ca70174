;; Workload 7: a small contract-style module, instantiated afresh for every call as a node
;; does for each transaction: one memory with a data segment, a global, an imported host
;; function, and a cheap export that reads its input and calls the host once.
(module
  (import "env" "inc" (func $inc (param i64) (result i64)))
  (memory (export "memory") 1)
  (global $calls (mut i32) (i32.const 0))
  (data (i32.const 16) "transfer:alice->bob:0000000042")
  (func $checksum (param $ptr i32) (param $len i32) (result i64)
    (local $acc i64)
    (block $done
      (loop $next
        (br_if $done (i32.eqz (local.get $len)))
        (local.set $acc
          (i64.add (i64.mul (local.get $acc) (i64.const 31))
                   (i64.load8_u (local.get $ptr))))
        (local.set $ptr (i32.add (local.get $ptr) (i32.const 1)))
        (local.set $len (i32.sub (local.get $len) (i32.const 1)))
        (br $next)))
    (local.get $acc))
  (func (export "call") (param $amount i64) (result i64)
    (global.set $calls (i32.add (global.get $calls) (i32.const 1)))
    (call $inc
      (i64.add (call $checksum (i32.const 16) (i32.const 30)) (local.get $amount)))))
