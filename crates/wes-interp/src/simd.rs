//! Portable lane semantics of the 128-bit SIMD operators that do not access memory: pure
//! functions on `u128`, no host SIMD required.
//!
//! The interpreter core decodes each SIMD operator once into a [`SimdOp`] (an operator tag and
//! its immediates, 17 bytes) and evaluates it with [`SimdOp::eval`] on `u128` operands; how many
//! operands it pops and of which type is [`SimdOp::arity`] and [`SimdOp::scalar_type`]. Memory
//! operators (`v128.load*`, `v128.store*`) and `v128.const` are the core's: they need the
//! instance's memory or are plain constants.
//!
//! Results are bit-exact with the JIT's (`wes-jit/src/translate/simd.rs`), NaNs included:
//! [`SimdOp::eval`] canonicalises NaN lanes of exactly the operators whose Cranelift lowering
//! the JIT's NaN pass rewrites (`wes-jit/src/nan.rs`: arithmetic, rounding, `sqrt`, `min`/`max`,
//! `demote`/`promote`), and no others: `pmin`/`pmax` are selects, `abs`/`neg` are sign-bit
//! operations, and conversions to integers cannot produce a NaN. [`SimdOp::eval_raw`] skips the
//! canonicalisation, for engines built with it off; its NaN bits are those the JIT's code gives
//! on x86-64, spelled out in portable Rust (`simd/float.rs`).
//!
//! The differential test in `simd/tests.rs` runs every operator on the JIT and here, on the same
//! edge and random inputs, and requires the same bits; `simd/spec_tests.rs` runs the official
//! SIMD spec scripts with every one-operator function answered by [`SimdOp::eval`].

mod float;
mod lanes;
#[cfg(test)]
mod spec_tests;
#[cfg(test)]
mod tests;

use wasmparser::Operator;
use wes_core::ValType;

use self::lanes::{
    Lane, all_true, bitmask, build, canonicalize, cmp, count, get, map, narrow, pairwise, widen, widen_zip, zip,
};

/// Declares [`Kind`] from one list, so the tag, the decoder and the test's list of every
/// operator cannot disagree. Operators with a lane immediate are listed apart (decoded with it);
/// `i8x16.shuffle` is written out by hand.
macro_rules! kinds {
    (lane: $($lane:ident)* ; plain: $($plain:ident)*) => {
        /// Which SIMD operator; the variants are named as `wasmparser::Operator`'s.
        #[derive(Clone, Copy, Debug, PartialEq, Eq)]
        #[repr(u8)]
        enum Kind {
            I8x16Shuffle,
            $($lane,)*
            $($plain,)*
        }

        impl Kind {
            /// Every operator, for the tests.
            #[cfg(test)]
            const ALL: &'static [Kind] = &[Kind::I8x16Shuffle, $(Kind::$lane,)* $(Kind::$plain,)*];

            /// The operators with a lane index, for the tests.
            #[cfg(test)]
            const LANE: &'static [Kind] = &[$(Kind::$lane,)*];

            /// The operator and lane index of an extract or replace.
            fn with_lane(op: &Operator<'_>) -> Option<(Kind, u8)> {
                match *op {
                    $(Operator::$lane { lane } => Some((Kind::$lane, lane)),)*
                    _ => None,
                }
            }

            /// An operator without immediates.
            fn plain(op: &Operator<'_>) -> Option<Kind> {
                match *op {
                    $(Operator::$plain => Some(Kind::$plain),)*
                    _ => None,
                }
            }
        }
    };
}

kinds! {
    lane:
    I8x16ExtractLaneS I8x16ExtractLaneU I8x16ReplaceLane I16x8ExtractLaneS I16x8ExtractLaneU
    I16x8ReplaceLane I32x4ExtractLane I32x4ReplaceLane I64x2ExtractLane I64x2ReplaceLane
    F32x4ExtractLane F32x4ReplaceLane F64x2ExtractLane F64x2ReplaceLane;
    plain:
    I8x16Swizzle I8x16Splat I16x8Splat I32x4Splat I64x2Splat F32x4Splat F64x2Splat
    I8x16Eq I8x16Ne I8x16LtS I8x16LtU I8x16GtS I8x16GtU I8x16LeS I8x16LeU I8x16GeS I8x16GeU
    I16x8Eq I16x8Ne I16x8LtS I16x8LtU I16x8GtS I16x8GtU I16x8LeS I16x8LeU I16x8GeS I16x8GeU
    I32x4Eq I32x4Ne I32x4LtS I32x4LtU I32x4GtS I32x4GtU I32x4LeS I32x4LeU I32x4GeS I32x4GeU
    I64x2Eq I64x2Ne I64x2LtS I64x2GtS I64x2LeS I64x2GeS
    F32x4Eq F32x4Ne F32x4Lt F32x4Gt F32x4Le F32x4Ge F64x2Eq F64x2Ne F64x2Lt F64x2Gt F64x2Le F64x2Ge
    V128Not V128And V128AndNot V128Or V128Xor V128Bitselect V128AnyTrue
    I8x16Abs I8x16Neg I8x16Popcnt I8x16AllTrue I8x16Bitmask I8x16NarrowI16x8S I8x16NarrowI16x8U
    I8x16Shl I8x16ShrS I8x16ShrU I8x16Add I8x16AddSatS I8x16AddSatU I8x16Sub I8x16SubSatS I8x16SubSatU
    I8x16MinS I8x16MinU I8x16MaxS I8x16MaxU I8x16AvgrU
    I16x8ExtAddPairwiseI8x16S I16x8ExtAddPairwiseI8x16U I16x8Abs I16x8Neg I16x8Q15MulrSatS
    I16x8AllTrue I16x8Bitmask I16x8NarrowI32x4S I16x8NarrowI32x4U
    I16x8ExtendLowI8x16S I16x8ExtendHighI8x16S I16x8ExtendLowI8x16U I16x8ExtendHighI8x16U
    I16x8Shl I16x8ShrS I16x8ShrU I16x8Add I16x8AddSatS I16x8AddSatU I16x8Sub I16x8SubSatS I16x8SubSatU
    I16x8Mul I16x8MinS I16x8MinU I16x8MaxS I16x8MaxU I16x8AvgrU
    I16x8ExtMulLowI8x16S I16x8ExtMulHighI8x16S I16x8ExtMulLowI8x16U I16x8ExtMulHighI8x16U
    I32x4ExtAddPairwiseI16x8S I32x4ExtAddPairwiseI16x8U I32x4Abs I32x4Neg I32x4AllTrue I32x4Bitmask
    I32x4ExtendLowI16x8S I32x4ExtendHighI16x8S I32x4ExtendLowI16x8U I32x4ExtendHighI16x8U
    I32x4Shl I32x4ShrS I32x4ShrU I32x4Add I32x4Sub I32x4Mul I32x4MinS I32x4MinU I32x4MaxS I32x4MaxU
    I32x4DotI16x8S I32x4ExtMulLowI16x8S I32x4ExtMulHighI16x8S I32x4ExtMulLowI16x8U I32x4ExtMulHighI16x8U
    I64x2Abs I64x2Neg I64x2AllTrue I64x2Bitmask
    I64x2ExtendLowI32x4S I64x2ExtendHighI32x4S I64x2ExtendLowI32x4U I64x2ExtendHighI32x4U
    I64x2Shl I64x2ShrS I64x2ShrU I64x2Add I64x2Sub I64x2Mul
    I64x2ExtMulLowI32x4S I64x2ExtMulHighI32x4S I64x2ExtMulLowI32x4U I64x2ExtMulHighI32x4U
    F32x4Ceil F32x4Floor F32x4Trunc F32x4Nearest F32x4Abs F32x4Neg F32x4Sqrt
    F32x4Add F32x4Sub F32x4Mul F32x4Div F32x4Min F32x4Max F32x4PMin F32x4PMax
    F64x2Ceil F64x2Floor F64x2Trunc F64x2Nearest F64x2Abs F64x2Neg F64x2Sqrt
    F64x2Add F64x2Sub F64x2Mul F64x2Div F64x2Min F64x2Max F64x2PMin F64x2PMax
    I32x4TruncSatF32x4S I32x4TruncSatF32x4U F32x4ConvertI32x4S F32x4ConvertI32x4U
    I32x4TruncSatF64x2SZero I32x4TruncSatF64x2UZero F64x2ConvertLowI32x4S F64x2ConvertLowI32x4U
    F32x4DemoteF64x2Zero F64x2PromoteLowF32x4
}

/// What a SIMD operator pops and pushes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum SimdArity {
    /// `v128 → v128`.
    Unary,
    /// `v128 v128 → v128`.
    Binary,
    /// `v128 v128 v128 → v128`: `v128.bitselect`.
    Ternary,
    /// `scalar → v128`: the splats.
    Splat,
    /// `v128 → scalar`: `extract_lane*`, `any_true`, `all_true`, `bitmask`.
    Reduce,
    /// `v128 scalar → v128`: `replace_lane`, `shl`, `shr_s`, `shr_u`.
    WithScalar,
}

/// Which float lanes [`SimdOp::eval`] canonicalises NaNs in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum NanLanes {
    F32,
    F64,
}

/// The canonical NaNs: sign clear, quiet bit set, payload zero.
const CANONICAL_F32: u32 = 0x7fc0_0000;
const CANONICAL_F64: u64 = 0x7ff8_0000_0000_0000;

/// A decoded SIMD operator that does not access memory: which one, and its immediate (the
/// sixteen lane indices of `i8x16.shuffle`, or the lane index of an extract or replace in byte
/// 0, already checked against the lane count).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct SimdOp {
    kind: Kind,
    imm: [u8; 16],
}

impl SimdOp {
    /// The SIMD operator `op`, or `None` when `op` is not a SIMD operator, accesses memory, or
    /// is `v128.const`. A lane index past the shape's lanes (which validation rejects) is
    /// `None` too, so every `SimdOp` is one the evaluator handles completely.
    pub(crate) fn decode(op: &Operator<'_>) -> Option<SimdOp> {
        if let Operator::I8x16Shuffle { lanes } = *op {
            return lanes.iter().all(|&l| l < 32).then_some(SimdOp { kind: Kind::I8x16Shuffle, imm: lanes });
        }
        if let Some((kind, lane)) = Kind::with_lane(op) {
            let mut imm = [0; 16];
            imm[0] = lane;
            return (u32::from(lane) < kind.lane_count()).then_some(SimdOp { kind, imm });
        }
        Kind::plain(op).map(|kind| SimdOp { kind, imm: [0; 16] })
    }

    /// What the operator pops and pushes.
    pub(crate) fn arity(self) -> SimdArity {
        use Kind as K;
        match self.kind {
            K::V128Bitselect => SimdArity::Ternary,
            K::I8x16Splat | K::I16x8Splat | K::I32x4Splat | K::I64x2Splat | K::F32x4Splat | K::F64x2Splat => {
                SimdArity::Splat
            }
            K::I8x16ExtractLaneS
            | K::I8x16ExtractLaneU
            | K::I16x8ExtractLaneS
            | K::I16x8ExtractLaneU
            | K::I32x4ExtractLane
            | K::I64x2ExtractLane
            | K::F32x4ExtractLane
            | K::F64x2ExtractLane
            | K::V128AnyTrue
            | K::I8x16AllTrue
            | K::I16x8AllTrue
            | K::I32x4AllTrue
            | K::I64x2AllTrue
            | K::I8x16Bitmask
            | K::I16x8Bitmask
            | K::I32x4Bitmask
            | K::I64x2Bitmask => SimdArity::Reduce,
            K::I8x16ReplaceLane
            | K::I16x8ReplaceLane
            | K::I32x4ReplaceLane
            | K::I64x2ReplaceLane
            | K::F32x4ReplaceLane
            | K::F64x2ReplaceLane
            | K::I8x16Shl
            | K::I16x8Shl
            | K::I32x4Shl
            | K::I64x2Shl
            | K::I8x16ShrS
            | K::I16x8ShrS
            | K::I32x4ShrS
            | K::I64x2ShrS
            | K::I8x16ShrU
            | K::I16x8ShrU
            | K::I32x4ShrU
            | K::I64x2ShrU => SimdArity::WithScalar,
            K::V128Not
            | K::I8x16Abs
            | K::I16x8Abs
            | K::I32x4Abs
            | K::I64x2Abs
            | K::I8x16Neg
            | K::I16x8Neg
            | K::I32x4Neg
            | K::I64x2Neg
            | K::I8x16Popcnt
            | K::I16x8ExtAddPairwiseI8x16S
            | K::I16x8ExtAddPairwiseI8x16U
            | K::I32x4ExtAddPairwiseI16x8S
            | K::I32x4ExtAddPairwiseI16x8U
            | K::I16x8ExtendLowI8x16S
            | K::I16x8ExtendHighI8x16S
            | K::I16x8ExtendLowI8x16U
            | K::I16x8ExtendHighI8x16U
            | K::I32x4ExtendLowI16x8S
            | K::I32x4ExtendHighI16x8S
            | K::I32x4ExtendLowI16x8U
            | K::I32x4ExtendHighI16x8U
            | K::I64x2ExtendLowI32x4S
            | K::I64x2ExtendHighI32x4S
            | K::I64x2ExtendLowI32x4U
            | K::I64x2ExtendHighI32x4U
            | K::F32x4Ceil
            | K::F32x4Floor
            | K::F32x4Trunc
            | K::F32x4Nearest
            | K::F32x4Abs
            | K::F32x4Neg
            | K::F32x4Sqrt
            | K::F64x2Ceil
            | K::F64x2Floor
            | K::F64x2Trunc
            | K::F64x2Nearest
            | K::F64x2Abs
            | K::F64x2Neg
            | K::F64x2Sqrt
            | K::I32x4TruncSatF32x4S
            | K::I32x4TruncSatF32x4U
            | K::F32x4ConvertI32x4S
            | K::F32x4ConvertI32x4U
            | K::I32x4TruncSatF64x2SZero
            | K::I32x4TruncSatF64x2UZero
            | K::F64x2ConvertLowI32x4S
            | K::F64x2ConvertLowI32x4U
            | K::F32x4DemoteF64x2Zero
            | K::F64x2PromoteLowF32x4 => SimdArity::Unary,
            // Every other operator takes two vectors; the differential test builds each
            // operator's module from its arity, so a wrong arity fails validation there.
            _ => SimdArity::Binary,
        }
    }

    /// The scalar the operator consumes (`Splat`, `WithScalar`) or produces (`Reduce`); `None`
    /// for operators on vectors only.
    pub(crate) fn scalar_type(self) -> Option<ValType> {
        use Kind as K;
        match self.kind {
            K::I64x2Splat | K::I64x2ExtractLane | K::I64x2ReplaceLane => Some(ValType::I64),
            K::F32x4Splat | K::F32x4ExtractLane | K::F32x4ReplaceLane => Some(ValType::F32),
            K::F64x2Splat | K::F64x2ExtractLane | K::F64x2ReplaceLane => Some(ValType::F64),
            _ => match self.arity() {
                // The 8- to 32-bit lanes, shift amounts and every boolean or mask are `i32`.
                SimdArity::Splat | SimdArity::Reduce | SimdArity::WithScalar => Some(ValType::I32),
                SimdArity::Unary | SimdArity::Binary | SimdArity::Ternary => None,
            },
        }
    }

    /// The result of the operator on `a`, `b` and `c` (those its arity does not use are
    /// ignored; a scalar is passed and returned zero-extended in the low bits), with every NaN
    /// a float arithmetic lane produces made canonical, as the JIT does by default.
    pub(crate) fn eval(self, a: u128, b: u128, c: u128) -> u128 {
        let r = self.eval_raw(a, b, c);
        match self.nan_lanes() {
            Some(NanLanes::F32) => canonicalize(r, f32::from_bits(CANONICAL_F32)),
            Some(NanLanes::F64) => canonicalize(r, f64::from_bits(CANONICAL_F64)),
            None => r,
        }
    }

    /// The lanes [`Self::eval`] canonicalises: those of the operators the JIT lowers to a
    /// Cranelift opcode its NaN pass rewrites (`wes-jit/src/nan.rs`, `produces_nan`).
    fn nan_lanes(self) -> Option<NanLanes> {
        use Kind as K;
        match self.kind {
            K::F32x4Ceil
            | K::F32x4Floor
            | K::F32x4Trunc
            | K::F32x4Nearest
            | K::F32x4Sqrt
            | K::F32x4Add
            | K::F32x4Sub
            | K::F32x4Mul
            | K::F32x4Div
            | K::F32x4Min
            | K::F32x4Max
            | K::F32x4DemoteF64x2Zero => Some(NanLanes::F32),
            K::F64x2Ceil
            | K::F64x2Floor
            | K::F64x2Trunc
            | K::F64x2Nearest
            | K::F64x2Sqrt
            | K::F64x2Add
            | K::F64x2Sub
            | K::F64x2Mul
            | K::F64x2Div
            | K::F64x2Min
            | K::F64x2Max
            | K::F64x2PromoteLowF32x4 => Some(NanLanes::F64),
            _ => None,
        }
    }

    /// [`Self::eval`] without NaN canonicalisation: a NaN an arithmetic lane produces has the
    /// bits the JIT's code gives it with canonicalisation off on x86-64, on every host (the
    /// rules are in `simd/float.rs`).
    pub(crate) fn eval_raw(self, a: u128, b: u128, c: u128) -> u128 {
        use Kind as K;
        // Lane index of an extract or replace (checked against the shape by `decode`).
        let lane = u32::from(self.imm[0]);
        // Shift amount: wasm takes it modulo the lane width, as `wrapping_shl`/`_shr` do.
        let n = b as u32;
        match self.kind {
            K::I8x16Shuffle => {
                let (x, y) = (a.to_le_bytes(), b.to_le_bytes());
                // Indices are below 32 (`decode`): 0..16 pick from `a`, 16..32 from `b`.
                u128::from_le_bytes(
                    self.imm.map(|i| if i < 16 { x[usize::from(i & 15)] } else { y[usize::from(i & 15)] }),
                )
            }
            K::I8x16Swizzle => {
                let (x, s) = (a.to_le_bytes(), b.to_le_bytes());
                u128::from_le_bytes(s.map(|i| x.get(usize::from(i)).copied().unwrap_or(0)))
            }

            K::I8x16Splat => build(|_| a as u8),
            K::I16x8Splat => build(|_| a as u16),
            K::I32x4Splat | K::F32x4Splat => build(|_| a as u32),
            K::I64x2Splat | K::F64x2Splat => build(|_| a as u64),

            K::I8x16ExtractLaneS => u128::from(i32::from(get::<i8>(a, lane)) as u32),
            K::I8x16ExtractLaneU => get::<u8>(a, lane).bits(),
            K::I16x8ExtractLaneS => u128::from(i32::from(get::<i16>(a, lane)) as u32),
            K::I16x8ExtractLaneU => get::<u16>(a, lane).bits(),
            K::I32x4ExtractLane | K::F32x4ExtractLane => get::<u32>(a, lane).bits(),
            K::I64x2ExtractLane | K::F64x2ExtractLane => get::<u64>(a, lane).bits(),
            K::I8x16ReplaceLane => replace(a, lane, b as u8),
            K::I16x8ReplaceLane => replace(a, lane, b as u16),
            K::I32x4ReplaceLane | K::F32x4ReplaceLane => replace(a, lane, b as u32),
            K::I64x2ReplaceLane | K::F64x2ReplaceLane => replace(a, lane, b as u64),

            K::I8x16Eq => cmp::<u8>(a, b, |x, y| x == y),
            K::I8x16Ne => cmp::<u8>(a, b, |x, y| x != y),
            K::I8x16LtS => cmp::<i8>(a, b, |x, y| x < y),
            K::I8x16LtU => cmp::<u8>(a, b, |x, y| x < y),
            K::I8x16GtS => cmp::<i8>(a, b, |x, y| x > y),
            K::I8x16GtU => cmp::<u8>(a, b, |x, y| x > y),
            K::I8x16LeS => cmp::<i8>(a, b, |x, y| x <= y),
            K::I8x16LeU => cmp::<u8>(a, b, |x, y| x <= y),
            K::I8x16GeS => cmp::<i8>(a, b, |x, y| x >= y),
            K::I8x16GeU => cmp::<u8>(a, b, |x, y| x >= y),
            K::I16x8Eq => cmp::<u16>(a, b, |x, y| x == y),
            K::I16x8Ne => cmp::<u16>(a, b, |x, y| x != y),
            K::I16x8LtS => cmp::<i16>(a, b, |x, y| x < y),
            K::I16x8LtU => cmp::<u16>(a, b, |x, y| x < y),
            K::I16x8GtS => cmp::<i16>(a, b, |x, y| x > y),
            K::I16x8GtU => cmp::<u16>(a, b, |x, y| x > y),
            K::I16x8LeS => cmp::<i16>(a, b, |x, y| x <= y),
            K::I16x8LeU => cmp::<u16>(a, b, |x, y| x <= y),
            K::I16x8GeS => cmp::<i16>(a, b, |x, y| x >= y),
            K::I16x8GeU => cmp::<u16>(a, b, |x, y| x >= y),
            K::I32x4Eq => cmp::<u32>(a, b, |x, y| x == y),
            K::I32x4Ne => cmp::<u32>(a, b, |x, y| x != y),
            K::I32x4LtS => cmp::<i32>(a, b, |x, y| x < y),
            K::I32x4LtU => cmp::<u32>(a, b, |x, y| x < y),
            K::I32x4GtS => cmp::<i32>(a, b, |x, y| x > y),
            K::I32x4GtU => cmp::<u32>(a, b, |x, y| x > y),
            K::I32x4LeS => cmp::<i32>(a, b, |x, y| x <= y),
            K::I32x4LeU => cmp::<u32>(a, b, |x, y| x <= y),
            K::I32x4GeS => cmp::<i32>(a, b, |x, y| x >= y),
            K::I32x4GeU => cmp::<u32>(a, b, |x, y| x >= y),
            K::I64x2Eq => cmp::<u64>(a, b, |x, y| x == y),
            K::I64x2Ne => cmp::<u64>(a, b, |x, y| x != y),
            K::I64x2LtS => cmp::<i64>(a, b, |x, y| x < y),
            K::I64x2GtS => cmp::<i64>(a, b, |x, y| x > y),
            K::I64x2LeS => cmp::<i64>(a, b, |x, y| x <= y),
            K::I64x2GeS => cmp::<i64>(a, b, |x, y| x >= y),
            // IEEE comparisons: false when either lane is a NaN, except `ne`.
            K::F32x4Eq => cmp::<f32>(a, b, |x, y| x == y),
            K::F32x4Ne => cmp::<f32>(a, b, |x, y| x != y),
            K::F32x4Lt => cmp::<f32>(a, b, |x, y| x < y),
            K::F32x4Gt => cmp::<f32>(a, b, |x, y| x > y),
            K::F32x4Le => cmp::<f32>(a, b, |x, y| x <= y),
            K::F32x4Ge => cmp::<f32>(a, b, |x, y| x >= y),
            K::F64x2Eq => cmp::<f64>(a, b, |x, y| x == y),
            K::F64x2Ne => cmp::<f64>(a, b, |x, y| x != y),
            K::F64x2Lt => cmp::<f64>(a, b, |x, y| x < y),
            K::F64x2Gt => cmp::<f64>(a, b, |x, y| x > y),
            K::F64x2Le => cmp::<f64>(a, b, |x, y| x <= y),
            K::F64x2Ge => cmp::<f64>(a, b, |x, y| x >= y),

            K::V128Not => !a,
            K::V128And => a & b,
            K::V128AndNot => a & !b,
            K::V128Or => a | b,
            K::V128Xor => a ^ b,
            K::V128Bitselect => (a & c) | (b & !c),
            K::V128AnyTrue => u128::from(a != 0),

            // `abs` of the most negative lane is itself, as wrapping arithmetic gives.
            K::I8x16Abs => map(a, i8::wrapping_abs),
            K::I16x8Abs => map(a, i16::wrapping_abs),
            K::I32x4Abs => map(a, i32::wrapping_abs),
            K::I64x2Abs => map(a, i64::wrapping_abs),
            K::I8x16Neg => map(a, i8::wrapping_neg),
            K::I16x8Neg => map(a, i16::wrapping_neg),
            K::I32x4Neg => map(a, i32::wrapping_neg),
            K::I64x2Neg => map(a, i64::wrapping_neg),
            K::I8x16Popcnt => map(a, |x: u8| x.count_ones() as u8),
            K::I8x16AllTrue => u128::from(all_true::<u8>(a)),
            K::I16x8AllTrue => u128::from(all_true::<u16>(a)),
            K::I32x4AllTrue => u128::from(all_true::<u32>(a)),
            K::I64x2AllTrue => u128::from(all_true::<u64>(a)),
            K::I8x16Bitmask => bitmask::<u8>(a),
            K::I16x8Bitmask => bitmask::<u16>(a),
            K::I32x4Bitmask => bitmask::<u32>(a),
            K::I64x2Bitmask => bitmask::<u64>(a),

            // Narrowing saturates each signed lane to the narrower signed or unsigned range.
            K::I8x16NarrowI16x8S => narrow(a, b, |x: i16| x.clamp(i8::MIN.into(), i8::MAX.into()) as i8),
            K::I8x16NarrowI16x8U => narrow(a, b, |x: i16| x.clamp(0, u8::MAX.into()) as u8),
            K::I16x8NarrowI32x4S => narrow(a, b, |x: i32| x.clamp(i16::MIN.into(), i16::MAX.into()) as i16),
            K::I16x8NarrowI32x4U => narrow(a, b, |x: i32| x.clamp(0, u16::MAX.into()) as u16),

            K::I8x16Shl => map(a, |x: u8| x.wrapping_shl(n)),
            K::I16x8Shl => map(a, |x: u16| x.wrapping_shl(n)),
            K::I32x4Shl => map(a, |x: u32| x.wrapping_shl(n)),
            K::I64x2Shl => map(a, |x: u64| x.wrapping_shl(n)),
            K::I8x16ShrS => map(a, |x: i8| x.wrapping_shr(n)),
            K::I16x8ShrS => map(a, |x: i16| x.wrapping_shr(n)),
            K::I32x4ShrS => map(a, |x: i32| x.wrapping_shr(n)),
            K::I64x2ShrS => map(a, |x: i64| x.wrapping_shr(n)),
            K::I8x16ShrU => map(a, |x: u8| x.wrapping_shr(n)),
            K::I16x8ShrU => map(a, |x: u16| x.wrapping_shr(n)),
            K::I32x4ShrU => map(a, |x: u32| x.wrapping_shr(n)),
            K::I64x2ShrU => map(a, |x: u64| x.wrapping_shr(n)),

            K::I8x16Add => zip(a, b, u8::wrapping_add),
            K::I16x8Add => zip(a, b, u16::wrapping_add),
            K::I32x4Add => zip(a, b, u32::wrapping_add),
            K::I64x2Add => zip(a, b, u64::wrapping_add),
            K::I8x16Sub => zip(a, b, u8::wrapping_sub),
            K::I16x8Sub => zip(a, b, u16::wrapping_sub),
            K::I32x4Sub => zip(a, b, u32::wrapping_sub),
            K::I64x2Sub => zip(a, b, u64::wrapping_sub),
            K::I16x8Mul => zip(a, b, u16::wrapping_mul),
            K::I32x4Mul => zip(a, b, u32::wrapping_mul),
            K::I64x2Mul => zip(a, b, u64::wrapping_mul),
            K::I8x16AddSatS => zip(a, b, i8::saturating_add),
            K::I16x8AddSatS => zip(a, b, i16::saturating_add),
            K::I8x16AddSatU => zip(a, b, u8::saturating_add),
            K::I16x8AddSatU => zip(a, b, u16::saturating_add),
            K::I8x16SubSatS => zip(a, b, i8::saturating_sub),
            K::I16x8SubSatS => zip(a, b, i16::saturating_sub),
            K::I8x16SubSatU => zip(a, b, u8::saturating_sub),
            K::I16x8SubSatU => zip(a, b, u16::saturating_sub),
            K::I8x16MinS => zip(a, b, |x: i8, y| x.min(y)),
            K::I16x8MinS => zip(a, b, |x: i16, y| x.min(y)),
            K::I32x4MinS => zip(a, b, |x: i32, y| x.min(y)),
            K::I8x16MinU => zip(a, b, |x: u8, y| x.min(y)),
            K::I16x8MinU => zip(a, b, |x: u16, y| x.min(y)),
            K::I32x4MinU => zip(a, b, |x: u32, y| x.min(y)),
            K::I8x16MaxS => zip(a, b, |x: i8, y| x.max(y)),
            K::I16x8MaxS => zip(a, b, |x: i16, y| x.max(y)),
            K::I32x4MaxS => zip(a, b, |x: i32, y| x.max(y)),
            K::I8x16MaxU => zip(a, b, |x: u8, y| x.max(y)),
            K::I16x8MaxU => zip(a, b, |x: u16, y| x.max(y)),
            K::I32x4MaxU => zip(a, b, |x: u32, y| x.max(y)),
            // Rounding average: `(x + y + 1) / 2` computed without overflow.
            K::I8x16AvgrU => zip(a, b, |x: u8, y| ((u16::from(x) + u16::from(y) + 1) >> 1) as u8),
            K::I16x8AvgrU => zip(a, b, |x: u16, y| ((u32::from(x) + u32::from(y) + 1) >> 1) as u16),
            // Q15 rounding multiply; only `-1 * -1` (0x8000²) saturates.
            K::I16x8Q15MulrSatS => zip(a, b, |x: i16, y| {
                ((i32::from(x) * i32::from(y) + 0x4000) >> 15).clamp(i16::MIN.into(), i16::MAX.into()) as i16
            }),
            // Two products of at most 2^30 each: their sum wraps only for 0x8000⁴, as in the JIT.
            K::I32x4DotI16x8S => pairwise(a, b, |a0: i16, a1, b0, b1| {
                (i32::from(a0) * i32::from(b0)).wrapping_add(i32::from(a1) * i32::from(b1))
            }),

            K::I16x8ExtendLowI8x16S => widen::<i8, i16>(a, false, i16::from),
            K::I16x8ExtendHighI8x16S => widen::<i8, i16>(a, true, i16::from),
            K::I16x8ExtendLowI8x16U => widen::<u8, u16>(a, false, u16::from),
            K::I16x8ExtendHighI8x16U => widen::<u8, u16>(a, true, u16::from),
            K::I32x4ExtendLowI16x8S => widen::<i16, i32>(a, false, i32::from),
            K::I32x4ExtendHighI16x8S => widen::<i16, i32>(a, true, i32::from),
            K::I32x4ExtendLowI16x8U => widen::<u16, u32>(a, false, u32::from),
            K::I32x4ExtendHighI16x8U => widen::<u16, u32>(a, true, u32::from),
            K::I64x2ExtendLowI32x4S => widen::<i32, i64>(a, false, i64::from),
            K::I64x2ExtendHighI32x4S => widen::<i32, i64>(a, true, i64::from),
            K::I64x2ExtendLowI32x4U => widen::<u32, u64>(a, false, u64::from),
            K::I64x2ExtendHighI32x4U => widen::<u32, u64>(a, true, u64::from),
            // Products of widened lanes never overflow the wide lane.
            K::I16x8ExtMulLowI8x16S => widen_zip(a, b, false, |x: i8, y| i16::from(x) * i16::from(y)),
            K::I16x8ExtMulHighI8x16S => widen_zip(a, b, true, |x: i8, y| i16::from(x) * i16::from(y)),
            K::I16x8ExtMulLowI8x16U => widen_zip(a, b, false, |x: u8, y| u16::from(x) * u16::from(y)),
            K::I16x8ExtMulHighI8x16U => widen_zip(a, b, true, |x: u8, y| u16::from(x) * u16::from(y)),
            K::I32x4ExtMulLowI16x8S => widen_zip(a, b, false, |x: i16, y| i32::from(x) * i32::from(y)),
            K::I32x4ExtMulHighI16x8S => widen_zip(a, b, true, |x: i16, y| i32::from(x) * i32::from(y)),
            K::I32x4ExtMulLowI16x8U => widen_zip(a, b, false, |x: u16, y| u32::from(x) * u32::from(y)),
            K::I32x4ExtMulHighI16x8U => widen_zip(a, b, true, |x: u16, y| u32::from(x) * u32::from(y)),
            K::I64x2ExtMulLowI32x4S => widen_zip(a, b, false, |x: i32, y| i64::from(x) * i64::from(y)),
            K::I64x2ExtMulHighI32x4S => widen_zip(a, b, true, |x: i32, y| i64::from(x) * i64::from(y)),
            K::I64x2ExtMulLowI32x4U => widen_zip(a, b, false, |x: u32, y| u64::from(x) * u64::from(y)),
            K::I64x2ExtMulHighI32x4U => widen_zip(a, b, true, |x: u32, y| u64::from(x) * u64::from(y)),
            K::I16x8ExtAddPairwiseI8x16S => pairwise(a, a, |x: i8, y, _, _| i16::from(x) + i16::from(y)),
            K::I16x8ExtAddPairwiseI8x16U => pairwise(a, a, |x: u8, y, _, _| u16::from(x) + u16::from(y)),
            K::I32x4ExtAddPairwiseI16x8S => pairwise(a, a, |x: i16, y, _, _| i32::from(x) + i32::from(y)),
            K::I32x4ExtAddPairwiseI16x8U => pairwise(a, a, |x: u16, y, _, _| u32::from(x) + u32::from(y)),

            K::F32x4Ceil => map(a, |x| float::unary(x, f32::ceil)),
            K::F64x2Ceil => map(a, |x| float::unary(x, f64::ceil)),
            K::F32x4Floor => map(a, |x| float::unary(x, f32::floor)),
            K::F64x2Floor => map(a, |x| float::unary(x, f64::floor)),
            K::F32x4Trunc => map(a, |x| float::unary(x, f32::trunc)),
            K::F64x2Trunc => map(a, |x| float::unary(x, f64::trunc)),
            K::F32x4Nearest => map(a, |x| float::unary(x, f32::round_ties_even)),
            K::F64x2Nearest => map(a, |x| float::unary(x, f64::round_ties_even)),
            K::F32x4Sqrt => map(a, |x| float::unary(x, f32::sqrt)),
            K::F64x2Sqrt => map(a, |x| float::unary(x, f64::sqrt)),
            // Sign-bit operations: every other bit, NaN payloads included, is kept.
            K::F32x4Abs => map(a, |x: u32| x & 0x7fff_ffff),
            K::F64x2Abs => map(a, |x: u64| x & 0x7fff_ffff_ffff_ffff),
            K::F32x4Neg => map(a, |x: u32| x ^ 0x8000_0000),
            K::F64x2Neg => map(a, |x: u64| x ^ 0x8000_0000_0000_0000),
            K::F32x4Add => zip(a, b, |x: f32, y| float::binary(x, y, |x, y| x + y)),
            K::F64x2Add => zip(a, b, |x: f64, y| float::binary(x, y, |x, y| x + y)),
            K::F32x4Sub => zip(a, b, |x: f32, y| float::binary(x, y, |x, y| x - y)),
            K::F64x2Sub => zip(a, b, |x: f64, y| float::binary(x, y, |x, y| x - y)),
            K::F32x4Mul => zip(a, b, |x: f32, y| float::binary(x, y, |x, y| x * y)),
            K::F64x2Mul => zip(a, b, |x: f64, y| float::binary(x, y, |x, y| x * y)),
            K::F32x4Div => zip(a, b, |x: f32, y| float::binary(x, y, |x, y| x / y)),
            K::F64x2Div => zip(a, b, |x: f64, y| float::binary(x, y, |x, y| x / y)),
            K::F32x4Min => zip(a, b, float::min::<f32>),
            K::F64x2Min => zip(a, b, float::min::<f64>),
            K::F32x4Max => zip(a, b, float::max::<f32>),
            K::F64x2Max => zip(a, b, float::max::<f64>),
            K::F32x4PMin => zip(a, b, float::pmin::<f32>),
            K::F64x2PMin => zip(a, b, float::pmin::<f64>),
            K::F32x4PMax => zip(a, b, float::pmax::<f32>),
            K::F64x2PMax => zip(a, b, float::pmax::<f64>),

            // Rust's float-to-int `as` is wasm's `trunc_sat`: toward zero, saturating, NaN to 0.
            K::I32x4TruncSatF32x4S => build(|i| get::<f32>(a, i) as i32),
            K::I32x4TruncSatF32x4U => build(|i| get::<f32>(a, i) as u32),
            K::I32x4TruncSatF64x2SZero => build(|i| if i < 2 { get::<f64>(a, i) as i32 } else { 0 }),
            K::I32x4TruncSatF64x2UZero => build(|i| if i < 2 { get::<f64>(a, i) as u32 } else { 0 }),
            // Int-to-float `as` rounds to nearest even.
            K::F32x4ConvertI32x4S => build(|i| get::<i32>(a, i) as f32),
            K::F32x4ConvertI32x4U => build(|i| get::<u32>(a, i) as f32),
            K::F64x2ConvertLowI32x4S => build(|i| f64::from(get::<i32>(a, i))),
            K::F64x2ConvertLowI32x4U => build(|i| f64::from(get::<u32>(a, i))),
            K::F32x4DemoteF64x2Zero => build(|i| if i < 2 { float::demote(get::<f64>(a, i)) } else { 0.0 }),
            K::F64x2PromoteLowF32x4 => build(|i| float::promote(get::<f32>(a, i))),
        }
    }
}

impl Kind {
    /// Lanes of the shape an extract or replace works on; 16 for every other operator.
    fn lane_count(self) -> u32 {
        use Kind as K;
        match self {
            K::I16x8ExtractLaneS | K::I16x8ExtractLaneU | K::I16x8ReplaceLane => count::<u16>(),
            K::I32x4ExtractLane | K::I32x4ReplaceLane | K::F32x4ExtractLane | K::F32x4ReplaceLane => count::<u32>(),
            K::I64x2ExtractLane | K::I64x2ReplaceLane | K::F64x2ExtractLane | K::F64x2ReplaceLane => count::<u64>(),
            _ => count::<u8>(),
        }
    }
}

/// `a` with lane `lane` of `L` replaced by `x`.
fn replace<L: Lane>(a: u128, lane: u32, x: L) -> u128 {
    build(|i| if i == lane { x } else { get(a, i) })
}
