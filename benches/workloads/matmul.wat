;; Workload 4: f64 matrix multiply, C = A * B, all n x n, row-major.
;; A at 0, B at n*n*8, C at 2*n*n*8; `init` fills A and B, `run` multiplies and returns the sum
;; of C (the summation order is fixed, so every conforming runtime returns the same bits).
(module
  (memory (export "memory") 32)  ;; 2 MiB: three 256 x 256 matrices of f64
  (func (export "init") (param $n i32)
    (local $i i32) (local $total i32)
    (local.set $total (i32.mul (local.get $n) (local.get $n)))
    (block $done
      (loop $next
        (br_if $done (i32.ge_u (local.get $i) (local.get $total)))
        ;; A[i] = (i mod 17) / 8 - 1, B[i] = (i mod 13) / 4 + 0.5
        (f64.store (i32.shl (local.get $i) (i32.const 3))
          (f64.sub
            (f64.div (f64.convert_i32_u (i32.rem_u (local.get $i) (i32.const 17))) (f64.const 8))
            (f64.const 1)))
        (f64.store
          (i32.add (i32.shl (local.get $total) (i32.const 3)) (i32.shl (local.get $i) (i32.const 3)))
          (f64.add
            (f64.div (f64.convert_i32_u (i32.rem_u (local.get $i) (i32.const 13))) (f64.const 4))
            (f64.const 0.5)))
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (br $next))))
  (func (export "run") (param $n i32) (result f64)
    (local $i i32) (local $j i32) (local $k i32)
    (local $a i32) (local $b i32) (local $c i32)
    (local $row i32) (local $sum f64) (local $total f64)
    (local.set $b (i32.shl (i32.mul (local.get $n) (local.get $n)) (i32.const 3)))
    (local.set $c (i32.shl (local.get $b) (i32.const 1)))
    (local.set $row (i32.shl (local.get $n) (i32.const 3)))
    (local.set $i (i32.const 0))
    (block $i_done
      (loop $i_loop
        (br_if $i_done (i32.ge_u (local.get $i) (local.get $n)))
        (local.set $j (i32.const 0))
        (block $j_done
          (loop $j_loop
            (br_if $j_done (i32.ge_u (local.get $j) (local.get $n)))
            (local.set $sum (f64.const 0))
            ;; a walks row i of A, k walks column j of B
            (local.set $a (i32.mul (local.get $i) (local.get $row)))
            (local.set $k (i32.add (local.get $b) (i32.shl (local.get $j) (i32.const 3))))
            (local.set $total (f64.const 0))
            (block $k_done
              (loop $k_loop
                (br_if $k_done
                  (i32.ge_u (local.get $a) (i32.mul (i32.add (local.get $i) (i32.const 1)) (local.get $row))))
                (local.set $sum
                  (f64.add (local.get $sum)
                    (f64.mul (f64.load (local.get $a)) (f64.load (local.get $k)))))
                (local.set $a (i32.add (local.get $a) (i32.const 8)))
                (local.set $k (i32.add (local.get $k) (local.get $row)))
                (br $k_loop)))
            (f64.store
              (i32.add (local.get $c)
                (i32.shl (i32.add (i32.mul (local.get $i) (local.get $n)) (local.get $j)) (i32.const 3)))
              (local.get $sum))
            (local.set $j (i32.add (local.get $j) (i32.const 1)))
            (br $j_loop)))
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (br $i_loop)))
    ;; sum C in order
    (local.set $total (f64.const 0))
    (local.set $a (local.get $c))
    (local.set $k (i32.add (local.get $c) (local.get $b)))
    (block $s_done
      (loop $s_loop
        (br_if $s_done (i32.ge_u (local.get $a) (local.get $k)))
        (local.set $total (f64.add (local.get $total) (f64.load (local.get $a))))
        (local.set $a (i32.add (local.get $a) (i32.const 8)))
        (br $s_loop)))
    (local.get $total)))
