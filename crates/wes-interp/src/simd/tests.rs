//! The lane semantics checked against the JIT as oracle, operator by operator, and the operator
//! list checked against wasmparser's list of the final SIMD proposal.
//!
//! For every operator a tiny module is compiled by the JIT (once with NaN canonicalisation, the
//! default, and once without), each of its exported variants (several lane indices, several
//! shuffles) is called on 400 deterministic inputs — edge values of every lane shape
//! mixed with random bits — and [`SimdOp::eval`] / [`SimdOp::eval_raw`] of the operator decoded
//! from that very module must give the same bits.

#![allow(clippy::panic, clippy::unwrap_used, clippy::expect_used, reason = "a failed test panics, like assertions do")]

use std::collections::BTreeSet;
use std::sync::Arc;

use wasmparser::{Operator, Parser, Payload};
use wes_core::{ValType, Value};
use wes_jit::{Jit, JitConfig};
use wes_runtime::{Config, Engine, Linker, Module, Store};

use super::{Kind, SimdArity, SimdOp};

/// How many inputs each variant of each operator is run on.
const INPUTS: usize = 400;

/// Operators of the final SIMD proposal that do not access memory, `v128.const` excluded:
/// 236 operators, of which 22 load or store and 1 is a constant.
pub(super) const NON_MEMORY_OPERATORS: usize = 213;

/// One row per SIMD operator wasmparser knows: proposal, `Operator` variant, visitor name, and
/// whether it takes a memory argument.
macro_rules! wasmparser_simd_table {
    ($( @$proposal:ident $op:ident $({ $($arg:ident: $argty:ty),* })? => $visit:ident ($($ann:tt)*) )*) => {
        &[$( (stringify!($proposal), stringify!($op), stringify!($visit), wasmparser_simd_table!(@memory $($($arg)*)?)) ),*]
    };
    (@memory memarg $($rest:ident)*) => { true };
    (@memory $($rest:ident)*) => { false };
}

const WASMPARSER_SIMD: &[(&str, &str, &str, bool)] = wasmparser::for_each_visit_simd_operator!(wasmparser_simd_table);

/// The text-format name of the operator whose visitor is `visit`: `visit_i8x16_add_sat_s` is
/// `i8x16.add_sat_s`.
fn text_name(visit: &str) -> String {
    let name = visit.strip_prefix("visit_").expect("visitor names start with visit_");
    name.replacen('_', ".", 1)
}

/// The text name of `kind`.
fn kind_text_name(kind: Kind) -> String {
    let debug = format!("{kind:?}");
    let row =
        WASMPARSER_SIMD.iter().find(|r| r.0 == "simd" && r.1 == debug).expect("every kind is a wasmparser operator");
    text_name(row.2)
}

#[test]
fn the_operator_list_is_the_final_simd_proposal_without_memory_and_const() {
    let ours: BTreeSet<String> = Kind::ALL.iter().map(|k| format!("{k:?}")).collect();
    assert_eq!(ours.len(), Kind::ALL.len(), "a kind is listed twice");
    let expected: BTreeSet<String> = WASMPARSER_SIMD
        .iter()
        .filter(|(proposal, op, _, memory)| *proposal == "simd" && !memory && *op != "V128Const")
        .map(|r| r.1.to_string())
        .collect();
    assert_eq!(ours, expected);
    assert_eq!(ours.len(), NON_MEMORY_OPERATORS);
    assert_eq!(WASMPARSER_SIMD.iter().filter(|r| r.0 == "simd").count(), 236);
}

#[test]
fn a_simd_op_is_small() {
    assert!(std::mem::size_of::<SimdOp>() <= 24, "{} bytes", std::mem::size_of::<SimdOp>());
}

/// Every operator of `bytes`' function bodies, in order, as decoded by `SimdOp::decode`.
fn decoded_ops(bytes: &[u8]) -> Vec<Vec<(String, Option<SimdOp>)>> {
    let mut bodies = Vec::new();
    for payload in Parser::new(0).parse_all(bytes) {
        if let Payload::CodeSectionEntry(body) = payload.unwrap() {
            let mut ops = Vec::new();
            let mut reader = body.get_operators_reader().unwrap();
            while !reader.eof() {
                let op = reader.read().unwrap();
                ops.push((format!("{op:?}"), SimdOp::decode(&op)));
            }
            bodies.push(ops);
        }
    }
    bodies
}

#[test]
fn memory_operators_constants_relaxed_and_scalar_operators_are_not_decoded() {
    let mut body = String::new();
    let mut expected = 0;
    for (proposal, op, visit, memory) in WASMPARSER_SIMD {
        // Operands do not matter: the module is only parsed, never validated.
        if *memory {
            let lane = if op.contains("Lane") { " 0" } else { "" };
            body.push_str(&format!("    {}{lane}\n", text_name(visit)));
        } else if *op == "V128Const" {
            body.push_str("    v128.const i64x2 1 2\n");
        } else if *proposal == "relaxed_simd" {
            body.push_str(&format!("    {}\n", text_name(visit)));
        } else {
            continue;
        }
        expected += 1;
    }
    body.push_str("    i32.add\n    f32.add\n    f64.min\n    i64.shl\n    select\n");
    expected += 5;
    let text = format!("(module (memory 1) (func\n{body}))");
    let bytes = wat::parse_str(&text).unwrap();
    let ops = decoded_ops(&bytes).concat();
    // The body's operators and its final `end`.
    assert_eq!(ops.len(), expected + 1);
    assert_eq!(expected, 22 + 1 + 20 + 5);
    for (op, decoded) in ops {
        assert!(decoded.is_none(), "{op} decoded as {decoded:?}");
    }
}

#[test]
fn immediates_out_of_range_are_not_decoded() {
    assert!(SimdOp::decode(&Operator::I8x16Shuffle { lanes: [31; 16] }).is_some());
    let mut lanes = [0; 16];
    lanes[7] = 32;
    assert!(SimdOp::decode(&Operator::I8x16Shuffle { lanes }).is_none());
    assert!(SimdOp::decode(&Operator::I8x16ExtractLaneS { lane: 15 }).is_some());
    assert!(SimdOp::decode(&Operator::I8x16ExtractLaneS { lane: 16 }).is_none());
    assert!(SimdOp::decode(&Operator::I16x8ReplaceLane { lane: 8 }).is_none());
    assert!(SimdOp::decode(&Operator::F32x4ExtractLane { lane: 4 }).is_none());
    assert!(SimdOp::decode(&Operator::I64x2ReplaceLane { lane: 2 }).is_none());
    assert!(SimdOp::decode(&Operator::F64x2ExtractLane { lane: 1 }).is_some());
}

/// Spot checks of the rules the spec singles out, independent of the JIT.
#[test]
fn spec_corner_cases() {
    let op = |o: Operator<'_>| SimdOp::decode(&o).unwrap();
    let f32x4 = |l: [f32; 4]| l.iter().rev().fold(0u128, |acc, x| (acc << 32) | u128::from(x.to_bits()));
    // abs of i8 -128 is -128.
    assert_eq!(op(Operator::I8x16Abs).eval(u128::from_le_bytes([0x80; 16]), 0, 0), u128::from_le_bytes([0x80; 16]));
    // nearest rounds ties to even; min puts -0 below +0; trunc_sat takes NaN to 0.
    assert_eq!(op(Operator::F32x4Nearest).eval(f32x4([2.5, -0.5, 3.5, 1e30]), 0, 0), f32x4([2.0, -0.0, 4.0, 1e30]));
    assert_eq!(
        op(Operator::F32x4Min).eval(f32x4([0.0, -0.0, 1.0, 2.0]), f32x4([-0.0, 0.0, 1.0, 1.0]), 0),
        f32x4([-0.0, -0.0, 1.0, 1.0])
    );
    assert_eq!(
        op(Operator::F32x4Max).eval(f32x4([0.0, -0.0, 1.0, 2.0]), f32x4([-0.0, 0.0, 1.0, 1.0]), 0),
        f32x4([0.0, 0.0, 1.0, 2.0])
    );
    let sat = op(Operator::I32x4TruncSatF32x4S).eval(f32x4([f32::NAN, 3e9, -3e9, -1.9]), 0, 0);
    assert_eq!(
        sat,
        u128::from(i32::MAX as u32) << 32 | u128::from(i32::MIN as u32) << 64 | u128::from(-1i32 as u32) << 96
    );
    // q15mulr_sat saturates 0x8000 * 0x8000.
    let q15 = op(Operator::I16x8Q15MulrSatS).eval(0x8000, 0x8000, 0);
    assert_eq!(q15 & 0xffff, 0x7fff);
    // Shift amounts are taken modulo the lane width.
    assert_eq!(op(Operator::I8x16Shl).eval(1, 9, 0), 2);
    // A NaN sum is canonical with canonicalisation, and the operand's NaN made quiet without.
    let nan = u128::from(0x7fa0_0001u32);
    assert_eq!(op(Operator::F32x4Add).eval(nan, 0, 0) & 0xffff_ffff, 0x7fc0_0000);
    assert_eq!(op(Operator::F32x4Add).eval_raw(nan, 0, 0) & 0xffff_ffff, 0x7fe0_0001);
    // 0 / 0 without canonicalisation is x86's indefinite NaN, as the JIT's `divps` gives it.
    assert_eq!(op(Operator::F32x4Div).eval_raw(0, 0, 0) & 0xffff_ffff, 0xffc0_0000);
    // pmin is a select: the NaN operand comes back bit for bit.
    assert_eq!(op(Operator::F32x4PMin).eval(nan, 0, 0) & 0xffff_ffff, 0x7fa0_0001);
}

/// The wasm type of a scalar.
fn wat_type(ty: ValType) -> &'static str {
    match ty {
        ValType::I32 => "i32",
        ValType::I64 => "i64",
        ValType::F32 => "f32",
        ValType::F64 => "f64",
        other => panic!("no SIMD operator takes or gives a {other:?}"),
    }
}

/// The immediate variants to test `kind` with: lane indices, or shuffle masks.
fn immediates(kind: Kind, rng: &mut fastrand::Rng) -> Vec<String> {
    if kind == Kind::I8x16Shuffle {
        let mut masks: Vec<[u8; 16]> = vec![
            std::array::from_fn(|i| i as u8),
            std::array::from_fn(|i| i as u8 + 16),
            std::array::from_fn(|i| 31 - i as u8),
            std::array::from_fn(|i| if i % 2 == 0 { i as u8 / 2 } else { 16 + i as u8 / 2 }),
            [31; 16],
        ];
        masks.extend((0..3).map(|_| std::array::from_fn(|_| rng.u8(0..32))));
        return masks.iter().map(|m| m.iter().map(|l| format!(" {l}")).collect()).collect();
    }
    if Kind::LANE.contains(&kind) {
        let n = kind.lane_count();
        let lanes: BTreeSet<u32> = [0, 1, n / 2, n - 1].into_iter().collect();
        return lanes.iter().map(|l| format!(" {l}")).collect();
    }
    vec![String::new()]
}

/// The module testing `kind`: one exported function `f{i}` per immediate variant, taking the
/// operator's operands as parameters and returning its result.
fn module_text(kind: Kind, arity: SimdArity, scalar: Option<ValType>, variants: &[String]) -> String {
    let name = kind_text_name(kind);
    let s = scalar.map(wat_type).unwrap_or("");
    let (params, result) = match arity {
        SimdArity::Unary => ("v128".to_string(), "v128"),
        SimdArity::Binary => ("v128 v128".to_string(), "v128"),
        SimdArity::Ternary => ("v128 v128 v128".to_string(), "v128"),
        SimdArity::Splat => (s.to_string(), "v128"),
        SimdArity::Reduce => ("v128".to_string(), s),
        SimdArity::WithScalar => (format!("v128 {s}"), "v128"),
    };
    let gets = params.split(' ').enumerate().map(|(i, _)| format!("local.get {i} ")).collect::<String>();
    let mut text = String::from("(module\n");
    for (i, imm) in variants.iter().enumerate() {
        text.push_str(&format!("  (func (export \"f{i}\") (param {params}) (result {result}) {gets}{name}{imm})\n"));
    }
    text.push(')');
    text
}

/// Edge values of an integer lane of `bits` bits, as unsigned bits.
fn int_edges(bits: u32) -> Vec<u64> {
    let ones = u64::MAX >> (64 - bits);
    let min = 1u64 << (bits - 1);
    let mut v = vec![0, 1, 2, ones, ones - 1, min, min - 1, min + 1, ones / 3, ones / 3 * 2, 0x7f, 0x80, 0xff, 0x100];
    v.extend([0x7fff, 0x8000, 0xffff, 0x1_0000, 0x7fff_ffff, 0x8000_0000, 0xffff_ffff, 0x1_0000_0000]);
    v.into_iter().map(|x| x & ones).collect()
}

/// Edge values of an `f32` lane: zeros, infinities, NaNs of every kind, subnormals, and values
/// at the rounding and integer-conversion boundaries.
#[rustfmt::skip]
const F32_EDGES: &[u32] = &[
    0x0000_0000, 0x8000_0000, 0x7f80_0000, 0xff80_0000, // ±0, ±inf
    0x7fc0_0000, 0xffc0_0000, 0x7fa0_0001, 0x7fc0_1234, // NaNs: canonical, negative, signalling, payload
    0xffa0_0001, 0x7f80_0001, 0xffff_ffff, 0x7fbf_ffff, // more signalling and payload NaNs
    0x0000_0001, 0x8000_0001, 0x007f_ffff, 0x807f_ffff, 0x0080_0000, // subnormals, smallest normal
    0x3f80_0000, 0xbf80_0000, 0x3f00_0000, 0xbf00_0000, // ±1, ±0.5
    0x3fc0_0000, 0xbfc0_0000, 0x4020_0000, 0xc020_0000, // ±1.5, ±2.5
    0x3f7f_ffff, 0x3f00_0001, 0x4b00_0000, 0x4b00_0001, 0x4aff_ffff, // near 1, near 0.5, near 2^23
    0x4f00_0000, 0xcf00_0000, 0x4eff_ffff, 0xcf00_0001, // ±2^31 and neighbours
    0x4f80_0000, 0x4f7f_ffff, 0x5f00_0000, 0xdf00_0000, // 2^32, below it, ±2^63
    0x7f7f_ffff, 0xff7f_ffff, 0x4040_0000, 0x4049_0fdb, // ±max, 3, pi
];

/// Edge values of an `f64` lane.
#[rustfmt::skip]
const F64_EDGES: &[u64] = &[
    0x0000_0000_0000_0000, 0x8000_0000_0000_0000, 0x7ff0_0000_0000_0000, 0xfff0_0000_0000_0000, // ±0, ±inf
    0x7ff8_0000_0000_0000, 0xfff8_0000_0000_0000, 0x7ff4_0000_0000_0001, 0x7ff8_0000_0000_1234, // NaNs
    0xfff4_0000_0000_0001, 0x7ff0_0000_0000_0001, 0xffff_ffff_ffff_ffff, 0x7ff8_0000_2000_0000, // more NaNs
    0x0000_0000_0000_0001, 0x8000_0000_0000_0001, 0x000f_ffff_ffff_ffff, 0x0010_0000_0000_0000, // subnormals
    0x3ff0_0000_0000_0000, 0xbff0_0000_0000_0000, 0x3fe0_0000_0000_0000, 0xbfe0_0000_0000_0000, // ±1, ±0.5
    0x3ff8_0000_0000_0000, 0x4004_0000_0000_0000, 0xc004_0000_0000_0000, // 1.5, ±2.5
    0x4330_0000_0000_0000, 0x4330_0000_0000_0001, 0x432f_ffff_ffff_ffff, // 2^52 and neighbours
    0x41e0_0000_0000_0000, 0xc1e0_0000_0000_0000, 0x41df_ffff_ffc0_0000, 0x41df_ffff_ffe0_0000, // ±2^31, 2^31-1, 2^31-0.5
    0xc1e0_0000_0010_0000, 0xc1e0_0000_0020_0000, 0x41ef_ffff_ffe0_0000, 0x41ef_ffff_fff0_0000, // -2^31-0.5, -2^31-1, 2^32-1, 2^32-0.5
    0x41f0_0000_0000_0000, 0x43e0_0000_0000_0000, 0xc3e0_0000_0000_0000, // 2^32, ±2^63
    0x7fef_ffff_ffff_ffff, 0xffef_ffff_ffff_ffff, // ±max
    0x47ef_ffff_e000_0000, 0x47ef_ffff_f000_0000, 0x47ef_ffff_efff_ffff, // f32::MAX, half an ulp above, just below
    0x36a0_0000_0000_0000, 0x3690_0000_0000_0000, 0x3690_0000_0000_0001, 0x380f_ffff_c000_0000, // f32 subnormal range
    0x3ff0_0000_1000_0000, 0x3ff0_0000_3000_0000, // f32 rounding ties
];

/// A lane of `bits` bits: an edge value (integer or float) or random bits.
fn lane(rng: &mut fastrand::Rng, bits: u32) -> u128 {
    let ones = u128::MAX >> (128 - bits);
    let v = match rng.u8(0..4) {
        0 => rng.u128(..),
        1 | 2 if bits == 32 && rng.bool() => u128::from(F32_EDGES[rng.usize(..F32_EDGES.len())]),
        1 | 2 if bits == 64 && rng.bool() => u128::from(F64_EDGES[rng.usize(..F64_EDGES.len())]),
        _ => {
            let edges = int_edges(bits);
            u128::from(edges[rng.usize(..edges.len())])
        }
    };
    v & ones
}

/// How many entries at the head of [`F32_EDGES`] and [`F64_EDGES`] are zeros, infinities and
/// a few NaNs: drawn alone, they make the pairs that produce NaNs (`inf - inf`, `0 * inf`,
/// `0 / 0`) often.
const SPECIALS: usize = 8;

/// How many ways a vector's lanes can be drawn; see [`vector`].
const MODES: u8 = 15;

/// A vector drawn in `mode`: random bits, or lanes of one width filled with edge and random
/// values, or float lanes of zeros, infinities and NaNs only.
fn vector(rng: &mut fastrand::Rng, mode: u8) -> u128 {
    let bits = match mode {
        0 => return rng.u128(..),
        1 => 8,
        2 => 16,
        3..=5 => 32,
        6..=8 => 64,
        9..=11 => return (0..4).fold(0, |acc, i| acc | u128::from(F32_EDGES[rng.usize(..SPECIALS)]) << (32 * i)),
        _ => return (0..2).fold(0, |acc, i| acc | u128::from(F64_EDGES[rng.usize(..SPECIALS)]) << (64 * i)),
    };
    (0..128 / bits).fold(0, |acc, i| acc | (lane(rng, bits) << (i * bits)))
}

/// Three operand vectors, each drawn half the time in the first one's mode, so that like
/// meets like (infinities of both signs, zeros and infinities, NaN and NaN).
fn operands(rng: &mut fastrand::Rng) -> (u128, u128, u128) {
    let first = rng.u8(0..MODES);
    let mode = |rng: &mut fastrand::Rng| if rng.bool() { first } else { rng.u8(0..MODES) };
    let (mb, mc) = (mode(rng), mode(rng));
    (vector(rng, first), vector(rng, mb), vector(rng, mc))
}

/// A scalar of `ty`, zero-extended: shift amounts of every size, edge values, random bits.
fn scalar(rng: &mut fastrand::Rng, ty: ValType) -> u128 {
    match ty {
        ValType::I32 if rng.bool() => u128::from(rng.u32(0..140)),
        ValType::I32 if rng.bool() => u128::from((-rng.i32(0..140)) as u32),
        ValType::I32 | ValType::F32 => lane(rng, 32),
        _ => lane(rng, 64),
    }
}

/// `bits` as a value of `ty` (a scalar zero-extended in the low bits).
pub(super) fn to_value(ty: ValType, bits: u128) -> Value {
    match ty {
        ValType::I32 => Value::I32(bits as u32 as i32),
        ValType::I64 => Value::I64(bits as u64 as i64),
        ValType::F32 => Value::F32(bits as u32),
        ValType::F64 => Value::F64(bits as u64),
        ValType::V128 => Value::V128(bits),
        other => panic!("not a SIMD operand type: {other:?}"),
    }
}

/// The bits of a numeric or vector value, zero-extended.
pub(super) fn from_value(v: &Value) -> u128 {
    match *v {
        Value::I32(x) => u128::from(x as u32),
        Value::I64(x) => u128::from(x as u64),
        Value::F32(x) => u128::from(x),
        Value::F64(x) => u128::from(x),
        Value::V128(x) => x,
        ref other => panic!("not a SIMD result: {other:?}"),
    }
}

/// Whether `got` equals `want`, where float lanes of an arithmetic operator that are NaN in both
/// count as equal (uncanonicalised NaN bits are the host's choice in the JIT's code).
fn same_up_to_nan_bits(op: SimdOp, got: u128, want: u128) -> bool {
    use super::NanLanes;
    use super::lanes::{count, get};
    match op.nan_lanes() {
        None => got == want,
        Some(NanLanes::F32) => (0..count::<f32>()).all(|i| {
            get::<u32>(got, i) == get::<u32>(want, i) || (get::<f32>(got, i).is_nan() && get::<f32>(want, i).is_nan())
        }),
        Some(NanLanes::F64) => (0..count::<f64>()).all(|i| {
            get::<u64>(got, i) == get::<u64>(want, i) || (get::<f64>(got, i).is_nan() && get::<f64>(want, i).is_nan())
        }),
    }
}

fn engine(nan_canonicalization: bool) -> Engine {
    let jit = Jit::with_config(JitConfig { nan_canonicalization, threads: 1, ..JitConfig::default() }).unwrap();
    Engine::new(Config::default(), Arc::new(jit))
}

/// Runs every operator on the JIT and through `eval` (or `eval_raw`), returns how many
/// operators were tested, and fails listing the mismatches per operator.
fn differential(nan_canonicalization: bool) -> usize {
    let engine = engine(nan_canonicalization);
    let mut rng = fastrand::Rng::with_seed(0x5eed_0014);
    let mut failures = Vec::new();
    let mut mismatches = std::collections::BTreeMap::<String, usize>::new();
    let mut tested = BTreeSet::new();
    let mut calls = 0usize;
    for &kind in Kind::ALL {
        // The operator as the interpreter will see it: decoded from the module under test.
        let probe = SimdOp { kind, imm: [0; 16] };
        let (arity, ty) = (probe.arity(), probe.scalar_type());
        let variants = immediates(kind, &mut rng);
        let text = module_text(kind, arity, ty, &variants);
        let bytes = wat::parse_str(&text).unwrap_or_else(|e| panic!("{kind:?}: {e}\n{text}"));
        let bodies = decoded_ops(&bytes);
        let module =
            Module::new(&engine, wes_decode::decode(&bytes).unwrap_or_else(|e| panic!("{kind:?}: {e}\n{text}")))
                .unwrap();
        let mut store = Store::new(&engine);
        let instance = Linker::new().instantiate(&mut store, &module).unwrap();
        for (v, body) in bodies.iter().enumerate() {
            let ops: Vec<SimdOp> = body.iter().filter_map(|(_, d)| *d).collect();
            assert_eq!(ops.len(), 1, "{kind:?} variant {v}: {body:?}");
            let op = ops[0];
            assert_eq!(op.kind, kind);
            assert_eq!((op.arity(), op.scalar_type()), (arity, ty));
            let f = instance.get_func(&store, &format!("f{v}")).unwrap();
            for _ in 0..INPUTS {
                let (mut a, mut b, c) = operands(&mut rng);
                let args = match arity {
                    SimdArity::Unary | SimdArity::Reduce => vec![Value::V128(a)],
                    SimdArity::Binary => vec![Value::V128(a), Value::V128(b)],
                    SimdArity::Ternary => vec![Value::V128(a), Value::V128(b), Value::V128(c)],
                    SimdArity::Splat => {
                        let t = ty.unwrap();
                        a = scalar(&mut rng, t);
                        vec![to_value(t, a)]
                    }
                    SimdArity::WithScalar => {
                        let t = ty.unwrap();
                        b = scalar(&mut rng, t);
                        vec![Value::V128(a), to_value(t, b)]
                    }
                };
                let out = f.call(&mut store, &args).unwrap_or_else(|e| panic!("{kind:?}: {e}"));
                calls += 1;
                let want = from_value(&out[0]);
                // Unused operands are passed too: `eval` must ignore them.
                let (got, same) = if nan_canonicalization {
                    let got = op.eval(a, b, c);
                    (got, got == want)
                } else {
                    let got = op.eval_raw(a, b, c);
                    // `eval_raw` spells out x86-64's NaN bits; on another host the JIT's
                    // uncanonicalised NaNs are that host's own.
                    let same =
                        if cfg!(target_arch = "x86_64") { got == want } else { same_up_to_nan_bits(op, got, want) };
                    (got, same)
                };
                if same {
                    continue;
                }
                let count = mismatches.entry(format!("{kind:?}")).or_default();
                *count += 1;
                if *count <= 3 {
                    failures.push(format!(
                        "{kind:?}{} a={a:#034x} b={b:#034x} c={c:#034x}: jit {want:#034x}, interp {got:#034x}",
                        variants[v]
                    ));
                }
            }
        }
        tested.insert(format!("{kind:?}"));
    }
    assert!(
        mismatches.is_empty(),
        "mismatches per operator: {mismatches:?}\nfirst three of each:\n{}",
        failures.join("\n")
    );
    assert!(calls >= NON_MEMORY_OPERATORS * INPUTS);
    tested.len()
}

#[test]
fn every_operator_matches_the_jit_bit_for_bit() {
    assert_eq!(differential(true), NON_MEMORY_OPERATORS);
}

#[test]
fn every_operator_matches_the_uncanonicalised_jit() {
    assert_eq!(differential(false), NON_MEMORY_OPERATORS);
}
