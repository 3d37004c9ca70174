;; Table operations priced per element.
(module
  (table $t 4 100 funcref)
  (elem declare func $f)
  (func $f)
  (func (export "grow") (param $n i32) (result i32) (table.grow $t (ref.func $f) (local.get $n)))
  (func (export "fill") (param $n i32) (table.fill $t (i32.const 0) (ref.func $f) (local.get $n)))
  (func (export "copy") (param $n i32) (table.copy $t $t (i32.const 1) (i32.const 0) (local.get $n)))
  (func (export "size") (result i32) (table.size $t)))
