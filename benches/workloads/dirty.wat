;; Workloads 9 and 10: a contract with 16 MiB of memory whose call dirties the first N bytes,
;; one write per 4 KiB page, instantiated afresh for every call (or checked out of a pool and
;; reset). What a fresh instance or a reset costs when a call touched 64 KiB, or all 16 MiB.
(module
  (memory (export "memory") 256 256)
  (func (export "dirty") (param $bytes i32) (result i64)
    (local $at i32) (local $n i64)
    (block $done
      (loop $next
        (br_if $done (i32.ge_u (local.get $at) (local.get $bytes)))
        (i64.store (local.get $at) (i64.add (i64.load (local.get $at)) (i64.const 1)))
        (local.set $n (i64.add (local.get $n) (i64.load (local.get $at))))
        (local.set $at (i32.add (local.get $at) (i32.const 4096)))
        (br $next)))
    (local.get $n)))
