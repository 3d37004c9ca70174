;; Workload 6: a loop calling an imported host function; measures the wasm -> host -> wasm
;; round trip. The host's `env.inc` returns its argument plus one.
(module
  (import "env" "inc" (func $inc (param i64) (result i64)))
  (func (export "run") (param $n i32) (result i64)
    (local $acc i64)
    (block $done
      (loop $next
        (br_if $done (i32.eqz (local.get $n)))
        (local.set $acc (call $inc (i64.xor (local.get $acc) (i64.extend_i32_u (local.get $n)))))
        (local.set $n (i32.sub (local.get $n) (i32.const 1)))
        (br $next)))
    (local.get $acc)))
