;; Loads, stores and bulk operations priced per byte; growth priced per page.
(module
  (memory 1 4)
  (data $hello "hello, gas")
  (func (export "fill") (param $n i32) (memory.fill (i32.const 16) (i32.const 7) (local.get $n)))
  (func (export "copy") (param $n i32) (memory.copy (i32.const 1000) (i32.const 0) (local.get $n)))
  (func (export "init") (param $n i32) (memory.init $hello (i32.const 64) (i32.const 0) (local.get $n)))
  (func (export "grow") (param $n i32) (result i32) (memory.grow (local.get $n)))
  (func (export "checksum") (param $n i32) (result i32) (local $i i32) (local $acc i32)
    (block $done
      (loop $l
        (br_if $done (i32.ge_u (local.get $i) (local.get $n)))
        (i32.store8 (local.get $i) (local.get $i))
        (local.set $acc (i32.add (local.get $acc) (i32.load8_u (local.get $i))))
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (br $l)))
    (local.get $acc))
  (func (export "bubble") (param $n i32) (result i32) (local $i i32) (local $j i32) (local $a i32) (local $b i32)
    ;; Write n descending words, then bubble-sort them; returns the first word.
    (loop $w
      (i32.store (i32.shl (local.get $i) (i32.const 2)) (i32.sub (local.get $n) (local.get $i)))
      (local.tee $i (i32.add (local.get $i) (i32.const 1)))
      (br_if $w (i32.lt_u (local.get $n))))
    (local.set $i (i32.const 0))
    (block $sorted
      (loop $outer
        (br_if $sorted (i32.ge_u (local.get $i) (local.get $n)))
        (local.set $j (i32.const 0))
        (block $pass
          (loop $inner
            (br_if $pass (i32.ge_u (i32.add (local.get $j) (i32.const 1)) (i32.sub (local.get $n) (local.get $i))))
            (local.set $a (i32.load (i32.shl (local.get $j) (i32.const 2))))
            (local.set $b (i32.load (i32.shl (i32.add (local.get $j) (i32.const 1)) (i32.const 2))))
            (if (i32.gt_u (local.get $a) (local.get $b))
              (then
                (i32.store (i32.shl (local.get $j) (i32.const 2)) (local.get $b))
                (i32.store (i32.shl (i32.add (local.get $j) (i32.const 1)) (i32.const 2)) (local.get $a))))
            (local.set $j (i32.add (local.get $j) (i32.const 1)))
            (br $inner)))
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (br $outer)))
    (i32.load (i32.const 0))))
