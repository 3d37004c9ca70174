;; Recursive Fibonacci: call-heavy, the classic first program for a runtime.
;;   cargo run --release -p wes-cli -- run examples/fib.wat --invoke fib 20
(module
  (func $fib (export "fib") (param $n i32) (result i32)
    (if (result i32) (i32.lt_u (local.get $n) (i32.const 2))
      (then (local.get $n))
      (else
        (i32.add
          (call $fib (i32.sub (local.get $n) (i32.const 1)))
          (call $fib (i32.sub (local.get $n) (i32.const 2)))))))

  ;; `wes run examples/fib.wat` without --invoke runs this.
  (func (export "_start") (result i32)
    (call $fib (i32.const 25))))
