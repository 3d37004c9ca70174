;; Workload 2: a tight integer loop. Each iteration is one xorshift64 step and a data-dependent
;; branch, so the loop is short basic blocks: where per-block metering costs the most.
(module
  (func (export "run") (param $n i64) (result i64)
    (local $x i64) (local $acc i64)
    (local.set $x (i64.const 88172645463325252))
    (block $done
      (loop $next
        (br_if $done (i64.eqz (local.get $n)))
        (local.set $x (i64.xor (local.get $x) (i64.shl (local.get $x) (i64.const 13))))
        (local.set $x (i64.xor (local.get $x) (i64.shr_u (local.get $x) (i64.const 7))))
        (local.set $x (i64.xor (local.get $x) (i64.shl (local.get $x) (i64.const 17))))
        (if (i64.eqz (i64.and (local.get $x) (i64.const 1)))
          (then (local.set $acc (i64.add (local.get $acc) (local.get $x))))
          (else (local.set $acc (i64.xor (local.get $acc) (i64.rotl (local.get $x) (i64.const 5))))))
        (local.set $n (i64.sub (local.get $n) (i64.const 1)))
        (br $next)))
    (local.get $acc)))
