;; A counter contract with a CosmWasm-style ABI, for `cargo run -p wes --example contract`.
;;
;; Regions are 12 bytes {offset, capacity, length} made by the exported `allocate`.
;; `execute(msg)` reads the state with `db_read` (the host has the contract allocate the
;; value's region from inside db_read), adds the first number in the JSON message, writes the
;; state back with `db_write`, logs, and answers {"count":N} in a region of its own.
(module
  (import "env" "db_read" (func $db_read (param i32) (result i32)))
  (import "env" "db_write" (func $db_write (param i32 i32)))
  (import "wes" "log" (func $log (param i32 i32)))
  (memory (export "memory") 1)
  (global $heap (mut i32) (i32.const 1024))
  (data (i32.const 16) "count")
  (data (i32.const 32) "{\"count\":")
  (data (i32.const 48) "counter updated")
  (func $allocate (export "allocate") (param $size i32) (result i32) (local $r i32)
    (local.set $r (global.get $heap))
    (i32.store (local.get $r) (i32.add (local.get $r) (i32.const 12)))
    (i32.store offset=4 (local.get $r) (local.get $size))
    (i32.store offset=8 (local.get $r) (i32.const 0))
    (global.set $heap (i32.add (global.get $heap) (i32.add (local.get $size) (i32.const 12))))
    (local.get $r))
  ;; A region holding the bytes [src, src + len).
  (func $region_of (param $src i32) (param $len i32) (result i32) (local $r i32)
    (local.set $r (call $allocate (local.get $len)))
    (memory.copy (i32.load (local.get $r)) (local.get $src) (local.get $len))
    (i32.store offset=8 (local.get $r) (local.get $len))
    (local.get $r))
  ;; The first decimal number in a region (0 if none).
  (func $parse (param $r i32) (result i64) (local $p i32) (local $end i32) (local $n i64) (local $c i32) (local $seen i32)
    (local.set $p (i32.load (local.get $r)))
    (local.set $end (i32.add (local.get $p) (i32.load offset=8 (local.get $r))))
    (block $done (loop $l
      (br_if $done (i32.ge_u (local.get $p) (local.get $end)))
      (local.set $c (i32.sub (i32.load8_u (local.get $p)) (i32.const 48)))
      (if (i32.lt_u (local.get $c) (i32.const 10))
        (then (local.set $seen (i32.const 1))
              (local.set $n (i64.add (i64.mul (local.get $n) (i64.const 10)) (i64.extend_i32_u (local.get $c)))))
        (else (br_if $done (local.get $seen))))
      (local.set $p (i32.add (local.get $p) (i32.const 1)))
      (br $l)))
    (local.get $n))
  ;; Writes n in decimal at dst; returns the number of bytes.
  (func $format (param $n i64) (param $dst i32) (result i32) (local $len i32) (local $t i64) (local $i i32) (local $c i32)
    (local.set $t (local.get $n))
    (loop $count
      (local.set $len (i32.add (local.get $len) (i32.const 1)))
      (local.set $t (i64.div_u (local.get $t) (i64.const 10)))
      (br_if $count (i64.ne (local.get $t) (i64.const 0))))
    (local.set $i (local.get $len))
    (loop $digits
      (local.set $i (i32.sub (local.get $i) (i32.const 1)))
      (i32.store8 (i32.add (local.get $dst) (local.get $i))
                  (i32.add (i32.const 48) (i32.wrap_i64 (i64.rem_u (local.get $n) (i64.const 10)))))
      (local.set $n (i64.div_u (local.get $n) (i64.const 10)))
      (br_if $digits (local.get $i)))
    (local.get $len))
  (func (export "execute") (param $msg i32) (result i32) (local $key i32) (local $old i32) (local $count i64) (local $r i32) (local $len i32)
    (local.set $key (call $region_of (i32.const 16) (i32.const 5)))
    (local.set $old (call $db_read (local.get $key)))
    (local.set $count (i64.add (call $parse (local.get $msg))
      (if (result i64) (local.get $old) (then (call $parse (local.get $old))) (else (i64.const 0)))))
    ;; The new state, as decimal.
    (local.set $r (call $allocate (i32.const 20)))
    (i32.store offset=8 (local.get $r) (call $format (local.get $count) (i32.load (local.get $r))))
    (call $db_write (local.get $key) (local.get $r))
    (call $log (i32.const 48) (i32.const 15))
    ;; The answer: {"count":N}
    (local.set $r (call $allocate (i32.const 40)))
    (memory.copy (i32.load (local.get $r)) (i32.const 32) (i32.const 9))
    (local.set $len (i32.add (i32.const 9)
      (call $format (local.get $count) (i32.add (i32.load (local.get $r)) (i32.const 9)))))
    (i32.store8 (i32.add (i32.load (local.get $r)) (local.get $len)) (i32.const 125))
    (i32.store offset=8 (local.get $r) (i32.add (local.get $len) (i32.const 1)))
    (local.get $r))
)
