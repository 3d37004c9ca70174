;; Workload 5: bulk memory. Each round fills an 8 MiB region with a byte and copies it over
;; another 8 MiB region (overlapping by half, so `memory.copy` must behave as memmove), then
;; reads a few bytes back so the result depends on every round.
(module
  (memory (export "memory") 256)
  (func (export "run") (param $rounds i32) (result i64)
    (local $i i32) (local $acc i64)
    (block $done
      (loop $next
        (br_if $done (i32.ge_u (local.get $i) (local.get $rounds)))
        ;; fill [0, 8 MiB) with the round number
        (memory.fill (i32.const 0) (local.get $i) (i32.const 0x800000))
        ;; a marker that moves each round
        (i32.store8 (i32.mul (local.get $i) (i32.const 4099)) (i32.const 0xff))
        ;; copy [0, 8 MiB) to [4 MiB, 12 MiB): overlapping, forwards
        (memory.copy (i32.const 0x400000) (i32.const 0) (i32.const 0x800000))
        ;; copy [4 MiB, 12 MiB) back to [2 MiB, 10 MiB): overlapping, backwards
        (memory.copy (i32.const 0x200000) (i32.const 0x400000) (i32.const 0x800000))
        (local.set $acc
          (i64.add
            (i64.rotl (local.get $acc) (i64.const 7))
            (i64.add
              (i64.load (i32.add (i32.const 0x200000) (i32.mul (local.get $i) (i32.const 4099))))
              (i64.load (i32.add (i32.const 0x600000) (i32.mul (local.get $i) (i32.const 4099)))))))
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (br $next)))
    (local.get $acc)))
