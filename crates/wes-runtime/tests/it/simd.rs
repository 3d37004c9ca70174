//! `v128` values everywhere a value can go: parameters, results, locals, globals, host
//! functions (typed and untyped), and calls between instances.

use wes_core::{FuncType, ValType, Value};
use wes_runtime::{Caller, Config, HostError, HostFunc, Linker};

use crate::{call, engine_with, instantiate, instantiate_with};

/// Lanes `[a, b, c, d]` of an `i32x4`, lane 0 least significant.
fn i32x4(l: [u32; 4]) -> u128 {
    l.iter().rev().fold(0u128, |acc, x| (acc << 32) | u128::from(*x))
}

#[test]
fn v128_parameters_results_locals_and_globals() {
    let (mut s, i) = instantiate(
        r#"(module
          (global $g (export "g") (mut v128) (v128.const i32x4 1 2 3 4))
          (func (export "add") (param v128 v128) (result v128)
            (local $t v128)
            (local.set $t (i32x4.add (local.get 0) (local.get 1)))
            (global.set $g (local.get $t))
            (local.get $t))
          (func (export "get") (result v128) (global.get $g)))"#,
    );
    let a = i32x4([1, 2, 3, u32::MAX]);
    let b = i32x4([10, 20, 30, 2]);
    let r = call(&mut s, i, "add", &[Value::V128(a), Value::V128(b)]).unwrap();
    assert_eq!(r, [Value::V128(i32x4([11, 22, 33, 1]))]);
    assert_eq!(call(&mut s, i, "get", &[]).unwrap(), [Value::V128(i32x4([11, 22, 33, 1]))]);
    let g = i.get_global(&s, "g").unwrap();
    assert_eq!(g.get(&s).unwrap(), Value::V128(i32x4([11, 22, 33, 1])));
}

#[test]
fn v128_crosses_typed_and_untyped_host_functions() {
    let mut l = Linker::new();
    // Typed: swaps the two 64-bit halves.
    l.func_wrap("env", "swap", |_: &mut Caller<'_>, (v,): (u128,)| -> Result<u128, HostError> {
        Ok(v.rotate_left(64))
    });
    // Untyped: echoes a v128 next to an i32.
    l.func(
        "env",
        "echo",
        HostFunc::new(FuncType::new([ValType::I32, ValType::V128], [ValType::V128, ValType::I32]), |_, p, r| {
            r[0] = p[1];
            r[1] = p[0];
            Ok(())
        }),
    );
    let (mut s, i) = instantiate_with(
        &engine_with(Config::default()),
        &l,
        r#"(module
          (import "env" "swap" (func $swap (param v128) (result v128)))
          (import "env" "echo" (func $echo (param i32 v128) (result v128 i32)))
          (func (export "swap") (param v128) (result v128) (call $swap (local.get 0)))
          (func (export "echo") (param v128) (result i32)
            (call $echo (i32.const 7) (i32x4.mul (local.get 0) (i32x4.splat (i32.const 3))))
            drop
            i32x4.extract_lane 3))"#,
    );
    let v = i32x4([1, 2, 3, 4]);
    assert_eq!(call(&mut s, i, "swap", &[Value::V128(v)]).unwrap(), [Value::V128(i32x4([3, 4, 1, 2]))]);
    assert_eq!(call(&mut s, i, "echo", &[Value::V128(v)]).unwrap(), [Value::I32(12)]);
}

#[test]
fn float_lanes_get_canonical_nans() {
    let (mut s, i) = instantiate(
        r#"(module (func (export "f") (param v128 v128) (result v128)
             (f32x4.add (local.get 0) (local.get 1))))"#,
    );
    // A NaN with a payload plus anything is the canonical NaN 0x7fc00000, on every host.
    let nan = i32x4([0x7fa0_0001, 0xffc0_1234, 0x3f80_0000, 0x7f80_0001]);
    let one = i32x4([0x3f80_0000; 4]);
    let r = call(&mut s, i, "f", &[Value::V128(nan), Value::V128(one)]).unwrap();
    assert_eq!(r, [Value::V128(i32x4([0x7fc0_0000, 0x7fc0_0000, 0x4000_0000, 0x7fc0_0000]))]);
}
