//! Lowering of the fixed-width SIMD instructions (`v128`) to Cranelift IR.
//!
//! Every `v128` on the operand stack, in a local, a block parameter or a global is an `i8x16`
//! Cranelift value; each instruction bitcasts its operands to the lane shape it works on
//! (`i16x8`, `f32x4`, ...) and its result back to `i8x16`. The bitcasts are free in machine
//! code, and one representation means block parameters and locals never disagree on a type.
//!
//! Float lanes get the same NaN canonicalisation as scalars: Cranelift's
//! `enable_nan_canonicalization` rewrites vector float arithmetic too. `pmin`/`pmax` are
//! selects, not arithmetic, and pass NaNs through as the specification says.
//!
//! The translator hands every operator it does not handle itself to
//! [`Translator::simd_operator`], so the main dispatch carries a single hook.

use cranelift_codegen::ir::condcodes::{FloatCC, IntCC};
use cranelift_codegen::ir::types::{F32X4, F64X2, I8, I8X16, I16, I16X8, I32, I32X4, I64X2};
use cranelift_codegen::ir::{ConstantData, Endianness, InstBuilder, MemFlagsData, Type, Value};
use wasmparser::{MemArg, Operator};
use wes_core::CompileError;

use super::Translator;
use super::memory::memory_index;

/// Flags of a bitcast between vector shapes: lanes are numbered little-endian, as in wasm.
fn lane_order() -> MemFlagsData {
    MemFlagsData::new().with_endianness(Endianness::Little)
}

impl Translator<'_, '_> {
    /// Pops a `v128` and views it as `ty`.
    fn vpop(&mut self, ty: Type) -> Result<Value, CompileError> {
        let v = self.pop()?;
        Ok(self.as_shape(v, ty))
    }

    fn vpop2(&mut self, ty: Type) -> Result<(Value, Value), CompileError> {
        let b = self.vpop(ty)?;
        let a = self.vpop(ty)?;
        Ok((a, b))
    }

    fn as_shape(&mut self, v: Value, ty: Type) -> Value {
        if self.builder.func.dfg.value_type(v) == ty { v } else { self.builder.ins().bitcast(ty, lane_order(), v) }
    }

    /// Pushes a vector of any shape as the canonical `i8x16`.
    fn vpush(&mut self, v: Value) {
        let v = self.as_shape(v, I8X16);
        self.push(v);
    }

    /// A `v128` constant.
    pub(super) fn v128_const(&mut self, bytes: &[u8; 16]) -> Value {
        let c = self.builder.func.dfg.constants.insert(ConstantData::from(bytes.to_vec()));
        self.builder.ins().vconst(I8X16, c)
    }

    /// An `i64x2` zero made directly (not bitcast): the x86-64 backend recognises
    /// `snarrow`/`uunarrow` of a saturating conversion with exactly this operand.
    fn zero_i64x2(&mut self) -> Value {
        let c = self.builder.func.dfg.constants.insert(ConstantData::from(vec![0u8; 16]));
        self.builder.ins().vconst(I64X2, c)
    }

    fn vunop(&mut self, ty: Type, f: impl FnOnce(&mut Self, Value) -> Value) -> Result<(), CompileError> {
        let a = self.vpop(ty)?;
        let v = f(self, a);
        self.vpush(v);
        Ok(())
    }

    fn vbinop(&mut self, ty: Type, f: impl FnOnce(&mut Self, Value, Value) -> Value) -> Result<(), CompileError> {
        let (a, b) = self.vpop2(ty)?;
        let v = f(self, a, b);
        self.vpush(v);
        Ok(())
    }

    fn vicmp(&mut self, ty: Type, cc: IntCC) -> Result<(), CompileError> {
        self.vbinop(ty, |t, a, b| t.builder.ins().icmp(cc, a, b))
    }

    fn vfcmp(&mut self, ty: Type, cc: FloatCC) -> Result<(), CompileError> {
        self.vbinop(ty, |t, a, b| t.builder.ins().fcmp(cc, a, b))
    }

    /// A scalar `i32`/`i64` shift amount applied to every lane; Cranelift takes it modulo the
    /// lane width, as wasm does.
    fn vshift(&mut self, ty: Type, f: impl FnOnce(&mut Self, Value, Value) -> Value) -> Result<(), CompileError> {
        let amount = self.pop()?;
        let a = self.vpop(ty)?;
        let v = f(self, a, amount);
        self.vpush(v);
        Ok(())
    }

    fn vsplat(&mut self, ty: Type) -> Result<(), CompileError> {
        let x = self.pop()?;
        let lane = ty.lane_type();
        let x = if lane == I8 || lane == I16 { self.builder.ins().ireduce(lane, x) } else { x };
        let v = self.builder.ins().splat(ty, x);
        self.vpush(v);
        Ok(())
    }

    fn vextract(&mut self, ty: Type, lane: u8, signed: Option<bool>) -> Result<(), CompileError> {
        let a = self.vpop(ty)?;
        let x = self.builder.ins().extractlane(a, lane);
        let x = match signed {
            Some(true) => self.builder.ins().sextend(I32, x),
            Some(false) => self.builder.ins().uextend(I32, x),
            None => x,
        };
        self.push(x);
        Ok(())
    }

    fn vreplace(&mut self, ty: Type, lane: u8) -> Result<(), CompileError> {
        let x = self.pop()?;
        let a = self.vpop(ty)?;
        let l = ty.lane_type();
        let x = if l == I8 || l == I16 { self.builder.ins().ireduce(l, x) } else { x };
        let v = self.builder.ins().insertlane(a, x, lane);
        self.vpush(v);
        Ok(())
    }

    /// The native address of a `size`-byte access, after popping the wasm address.
    fn vaddr(&mut self, memarg: &MemArg, size: u32) -> Result<Value, CompileError> {
        let addr = self.pop()?;
        let mem = memory_index(memarg, self.func_index)?;
        Ok(self.mem_addr(mem, addr, memarg.offset, size))
    }

    /// `v128.loadNxM_s/u`: eight, four or two narrow lanes, each widened.
    fn vload_extend(&mut self, memarg: &MemArg, lanes: Type, signed: bool) -> Result<(), CompileError> {
        let p = self.vaddr(memarg, 8)?;
        let flags = self.heap_flags(Endianness::Little);
        let ins = self.builder.ins();
        let v = match (lanes, signed) {
            (I16X8, true) => ins.sload8x8(flags, p, 0),
            (I16X8, false) => ins.uload8x8(flags, p, 0),
            (I32X4, true) => ins.sload16x4(flags, p, 0),
            (I32X4, false) => ins.uload16x4(flags, p, 0),
            (_, true) => ins.sload32x2(flags, p, 0),
            (_, false) => ins.uload32x2(flags, p, 0),
        };
        self.fence_guarded_access();
        self.vpush(v);
        Ok(())
    }

    fn vload_splat(&mut self, memarg: &MemArg, ty: Type) -> Result<(), CompileError> {
        let p = self.vaddr(memarg, ty.lane_type().bytes())?;
        let flags = self.heap_flags(Endianness::Little);
        let x = self.builder.ins().load(ty.lane_type(), flags, p, 0);
        self.fence_guarded_access();
        let v = self.builder.ins().splat(ty, x);
        self.vpush(v);
        Ok(())
    }

    fn vload_zero(&mut self, memarg: &MemArg, ty: Type) -> Result<(), CompileError> {
        let p = self.vaddr(memarg, ty.lane_type().bytes())?;
        let flags = self.heap_flags(Endianness::Little);
        let x = self.builder.ins().load(ty.lane_type(), flags, p, 0);
        self.fence_guarded_access();
        let v = self.builder.ins().scalar_to_vector(ty, x);
        self.vpush(v);
        Ok(())
    }

    fn vload_lane(&mut self, memarg: &MemArg, ty: Type, lane: u8) -> Result<(), CompileError> {
        let a = self.vpop(ty)?;
        let p = self.vaddr(memarg, ty.lane_type().bytes())?;
        let flags = self.heap_flags(Endianness::Little);
        let x = self.builder.ins().load(ty.lane_type(), flags, p, 0);
        self.fence_guarded_access();
        let v = self.builder.ins().insertlane(a, x, lane);
        self.vpush(v);
        Ok(())
    }

    fn vstore_lane(&mut self, memarg: &MemArg, ty: Type, lane: u8) -> Result<(), CompileError> {
        let a = self.vpop(ty)?;
        let p = self.vaddr(memarg, ty.lane_type().bytes())?;
        let x = self.builder.ins().extractlane(a, lane);
        let flags = self.heap_flags(Endianness::Little);
        self.builder.ins().store(flags, x, p, 0);
        self.fence_guarded_access();
        Ok(())
    }

    /// `extend_low`/`extend_high` of `from`'s lanes to twice their width.
    fn vwiden(&mut self, from: Type, high: bool, signed: bool) -> Result<(), CompileError> {
        self.vunop(from, |t, a| widen(t, a, high, signed))
    }

    /// `extmul_low`/`extmul_high`: both operands widened, then multiplied.
    fn vextmul(&mut self, from: Type, high: bool, signed: bool) -> Result<(), CompileError> {
        self.vbinop(from, |t, a, b| {
            let a = widen(t, a, high, signed);
            let b = widen(t, b, high, signed);
            t.builder.ins().imul(a, b)
        })
    }

    /// `extadd_pairwise`: adjacent lanes widened and added.
    fn vextadd(&mut self, from: Type, signed: bool) -> Result<(), CompileError> {
        self.vunop(from, |t, a| {
            let lo = widen(t, a, false, signed);
            let hi = widen(t, a, true, signed);
            t.builder.ins().iadd_pairwise(lo, hi)
        })
    }

    fn vbitmask(&mut self, ty: Type) -> Result<(), CompileError> {
        let a = self.vpop(ty)?;
        let v = self.builder.ins().vhigh_bits(I32, a);
        self.push(v);
        Ok(())
    }

    fn vall_true(&mut self, ty: Type) -> Result<(), CompileError> {
        let a = self.vpop(ty)?;
        let c = self.builder.ins().vall_true(a);
        let v = self.builder.ins().uextend(I32, c);
        self.push(v);
        Ok(())
    }

    /// `pmin` (`b < a ? b : a`) and `pmax` (`a < b ? b : a`): selects, so NaNs pass unchanged.
    fn vpminmax(&mut self, ty: Type, max: bool) -> Result<(), CompileError> {
        self.vbinop(ty, |t, a, b| {
            let cmp = if max {
                t.builder.ins().fcmp(FloatCC::LessThan, a, b)
            } else {
                t.builder.ins().fcmp(FloatCC::LessThan, b, a)
            };
            let cmp = t.as_shape(cmp, ty);
            t.builder.ins().bitselect(cmp, b, a)
        })
    }

    /// Translates `op` if it is a SIMD instruction; `Ok(false)` when it is not one.
    pub(super) fn simd_operator(&mut self, op: &Operator<'_>) -> Result<bool, CompileError> {
        use Operator as O;
        match *op {
            O::V128Load { ref memarg } => {
                let p = self.vaddr(memarg, 16)?;
                let flags = self.heap_flags(Endianness::Little);
                let v = self.builder.ins().load(I8X16, flags, p, 0);
                self.fence_guarded_access();
                self.vpush(v);
            }
            O::V128Store { ref memarg } => {
                let v = self.vpop(I8X16)?;
                let p = self.vaddr(memarg, 16)?;
                let flags = self.heap_flags(Endianness::Little);
                self.builder.ins().store(flags, v, p, 0);
                self.fence_guarded_access();
            }
            O::V128Load8x8S { ref memarg } => self.vload_extend(memarg, I16X8, true)?,
            O::V128Load8x8U { ref memarg } => self.vload_extend(memarg, I16X8, false)?,
            O::V128Load16x4S { ref memarg } => self.vload_extend(memarg, I32X4, true)?,
            O::V128Load16x4U { ref memarg } => self.vload_extend(memarg, I32X4, false)?,
            O::V128Load32x2S { ref memarg } => self.vload_extend(memarg, I64X2, true)?,
            O::V128Load32x2U { ref memarg } => self.vload_extend(memarg, I64X2, false)?,
            O::V128Load8Splat { ref memarg } => self.vload_splat(memarg, I8X16)?,
            O::V128Load16Splat { ref memarg } => self.vload_splat(memarg, I16X8)?,
            O::V128Load32Splat { ref memarg } => self.vload_splat(memarg, I32X4)?,
            O::V128Load64Splat { ref memarg } => self.vload_splat(memarg, I64X2)?,
            O::V128Load32Zero { ref memarg } => self.vload_zero(memarg, I32X4)?,
            O::V128Load64Zero { ref memarg } => self.vload_zero(memarg, I64X2)?,
            O::V128Load8Lane { ref memarg, lane } => self.vload_lane(memarg, I8X16, lane)?,
            O::V128Load16Lane { ref memarg, lane } => self.vload_lane(memarg, I16X8, lane)?,
            O::V128Load32Lane { ref memarg, lane } => self.vload_lane(memarg, I32X4, lane)?,
            O::V128Load64Lane { ref memarg, lane } => self.vload_lane(memarg, I64X2, lane)?,
            O::V128Store8Lane { ref memarg, lane } => self.vstore_lane(memarg, I8X16, lane)?,
            O::V128Store16Lane { ref memarg, lane } => self.vstore_lane(memarg, I16X8, lane)?,
            O::V128Store32Lane { ref memarg, lane } => self.vstore_lane(memarg, I32X4, lane)?,
            O::V128Store64Lane { ref memarg, lane } => self.vstore_lane(memarg, I64X2, lane)?,

            O::V128Const { ref value } => {
                let v = self.v128_const(value.bytes());
                self.push(v);
            }
            O::I8x16Shuffle { ref lanes } => {
                let (a, b) = self.vpop2(I8X16)?;
                let mask = self.builder.func.dfg.immediates.push(ConstantData::from(lanes.to_vec()));
                let v = self.builder.ins().shuffle(a, b, mask);
                self.vpush(v);
            }
            O::I8x16Swizzle => self.vbinop(I8X16, |t, a, b| t.builder.ins().swizzle(a, b))?,
            O::I8x16Splat => self.vsplat(I8X16)?,
            O::I16x8Splat => self.vsplat(I16X8)?,
            O::I32x4Splat => self.vsplat(I32X4)?,
            O::I64x2Splat => self.vsplat(I64X2)?,
            O::F32x4Splat => self.vsplat(F32X4)?,
            O::F64x2Splat => self.vsplat(F64X2)?,
            O::I8x16ExtractLaneS { lane } => self.vextract(I8X16, lane, Some(true))?,
            O::I8x16ExtractLaneU { lane } => self.vextract(I8X16, lane, Some(false))?,
            O::I16x8ExtractLaneS { lane } => self.vextract(I16X8, lane, Some(true))?,
            O::I16x8ExtractLaneU { lane } => self.vextract(I16X8, lane, Some(false))?,
            O::I32x4ExtractLane { lane } => self.vextract(I32X4, lane, None)?,
            O::I64x2ExtractLane { lane } => self.vextract(I64X2, lane, None)?,
            O::F32x4ExtractLane { lane } => self.vextract(F32X4, lane, None)?,
            O::F64x2ExtractLane { lane } => self.vextract(F64X2, lane, None)?,
            O::I8x16ReplaceLane { lane } => self.vreplace(I8X16, lane)?,
            O::I16x8ReplaceLane { lane } => self.vreplace(I16X8, lane)?,
            O::I32x4ReplaceLane { lane } => self.vreplace(I32X4, lane)?,
            O::I64x2ReplaceLane { lane } => self.vreplace(I64X2, lane)?,
            O::F32x4ReplaceLane { lane } => self.vreplace(F32X4, lane)?,
            O::F64x2ReplaceLane { lane } => self.vreplace(F64X2, lane)?,

            O::I8x16Eq => self.vicmp(I8X16, IntCC::Equal)?,
            O::I8x16Ne => self.vicmp(I8X16, IntCC::NotEqual)?,
            O::I8x16LtS => self.vicmp(I8X16, IntCC::SignedLessThan)?,
            O::I8x16LtU => self.vicmp(I8X16, IntCC::UnsignedLessThan)?,
            O::I8x16GtS => self.vicmp(I8X16, IntCC::SignedGreaterThan)?,
            O::I8x16GtU => self.vicmp(I8X16, IntCC::UnsignedGreaterThan)?,
            O::I8x16LeS => self.vicmp(I8X16, IntCC::SignedLessThanOrEqual)?,
            O::I8x16LeU => self.vicmp(I8X16, IntCC::UnsignedLessThanOrEqual)?,
            O::I8x16GeS => self.vicmp(I8X16, IntCC::SignedGreaterThanOrEqual)?,
            O::I8x16GeU => self.vicmp(I8X16, IntCC::UnsignedGreaterThanOrEqual)?,
            O::I16x8Eq => self.vicmp(I16X8, IntCC::Equal)?,
            O::I16x8Ne => self.vicmp(I16X8, IntCC::NotEqual)?,
            O::I16x8LtS => self.vicmp(I16X8, IntCC::SignedLessThan)?,
            O::I16x8LtU => self.vicmp(I16X8, IntCC::UnsignedLessThan)?,
            O::I16x8GtS => self.vicmp(I16X8, IntCC::SignedGreaterThan)?,
            O::I16x8GtU => self.vicmp(I16X8, IntCC::UnsignedGreaterThan)?,
            O::I16x8LeS => self.vicmp(I16X8, IntCC::SignedLessThanOrEqual)?,
            O::I16x8LeU => self.vicmp(I16X8, IntCC::UnsignedLessThanOrEqual)?,
            O::I16x8GeS => self.vicmp(I16X8, IntCC::SignedGreaterThanOrEqual)?,
            O::I16x8GeU => self.vicmp(I16X8, IntCC::UnsignedGreaterThanOrEqual)?,
            O::I32x4Eq => self.vicmp(I32X4, IntCC::Equal)?,
            O::I32x4Ne => self.vicmp(I32X4, IntCC::NotEqual)?,
            O::I32x4LtS => self.vicmp(I32X4, IntCC::SignedLessThan)?,
            O::I32x4LtU => self.vicmp(I32X4, IntCC::UnsignedLessThan)?,
            O::I32x4GtS => self.vicmp(I32X4, IntCC::SignedGreaterThan)?,
            O::I32x4GtU => self.vicmp(I32X4, IntCC::UnsignedGreaterThan)?,
            O::I32x4LeS => self.vicmp(I32X4, IntCC::SignedLessThanOrEqual)?,
            O::I32x4LeU => self.vicmp(I32X4, IntCC::UnsignedLessThanOrEqual)?,
            O::I32x4GeS => self.vicmp(I32X4, IntCC::SignedGreaterThanOrEqual)?,
            O::I32x4GeU => self.vicmp(I32X4, IntCC::UnsignedGreaterThanOrEqual)?,
            O::I64x2Eq => self.vicmp(I64X2, IntCC::Equal)?,
            O::I64x2Ne => self.vicmp(I64X2, IntCC::NotEqual)?,
            O::I64x2LtS => self.vicmp(I64X2, IntCC::SignedLessThan)?,
            O::I64x2GtS => self.vicmp(I64X2, IntCC::SignedGreaterThan)?,
            O::I64x2LeS => self.vicmp(I64X2, IntCC::SignedLessThanOrEqual)?,
            O::I64x2GeS => self.vicmp(I64X2, IntCC::SignedGreaterThanOrEqual)?,
            O::F32x4Eq => self.vfcmp(F32X4, FloatCC::Equal)?,
            O::F32x4Ne => self.vfcmp(F32X4, FloatCC::NotEqual)?,
            O::F32x4Lt => self.vfcmp(F32X4, FloatCC::LessThan)?,
            O::F32x4Gt => self.vfcmp(F32X4, FloatCC::GreaterThan)?,
            O::F32x4Le => self.vfcmp(F32X4, FloatCC::LessThanOrEqual)?,
            O::F32x4Ge => self.vfcmp(F32X4, FloatCC::GreaterThanOrEqual)?,
            O::F64x2Eq => self.vfcmp(F64X2, FloatCC::Equal)?,
            O::F64x2Ne => self.vfcmp(F64X2, FloatCC::NotEqual)?,
            O::F64x2Lt => self.vfcmp(F64X2, FloatCC::LessThan)?,
            O::F64x2Gt => self.vfcmp(F64X2, FloatCC::GreaterThan)?,
            O::F64x2Le => self.vfcmp(F64X2, FloatCC::LessThanOrEqual)?,
            O::F64x2Ge => self.vfcmp(F64X2, FloatCC::GreaterThanOrEqual)?,

            O::V128Not => self.vunop(I8X16, |t, a| t.builder.ins().bnot(a))?,
            O::V128And => self.vbinop(I8X16, |t, a, b| t.builder.ins().band(a, b))?,
            O::V128AndNot => self.vbinop(I8X16, |t, a, b| t.builder.ins().band_not(a, b))?,
            O::V128Or => self.vbinop(I8X16, |t, a, b| t.builder.ins().bor(a, b))?,
            O::V128Xor => self.vbinop(I8X16, |t, a, b| t.builder.ins().bxor(a, b))?,
            O::V128Bitselect => {
                let c = self.vpop(I8X16)?;
                let (a, b) = self.vpop2(I8X16)?;
                let v = self.builder.ins().bitselect(c, a, b);
                self.vpush(v);
            }
            O::V128AnyTrue => {
                let a = self.vpop(I8X16)?;
                let c = self.builder.ins().vany_true(a);
                let v = self.builder.ins().uextend(I32, c);
                self.push(v);
            }

            O::I8x16Abs => self.vunop(I8X16, |t, a| t.builder.ins().iabs(a))?,
            O::I16x8Abs => self.vunop(I16X8, |t, a| t.builder.ins().iabs(a))?,
            O::I32x4Abs => self.vunop(I32X4, |t, a| t.builder.ins().iabs(a))?,
            O::I64x2Abs => self.vunop(I64X2, |t, a| t.builder.ins().iabs(a))?,
            O::I8x16Neg => self.vunop(I8X16, |t, a| t.builder.ins().ineg(a))?,
            O::I16x8Neg => self.vunop(I16X8, |t, a| t.builder.ins().ineg(a))?,
            O::I32x4Neg => self.vunop(I32X4, |t, a| t.builder.ins().ineg(a))?,
            O::I64x2Neg => self.vunop(I64X2, |t, a| t.builder.ins().ineg(a))?,
            O::I8x16Popcnt => self.vunop(I8X16, |t, a| t.builder.ins().popcnt(a))?,
            O::I8x16AllTrue => self.vall_true(I8X16)?,
            O::I16x8AllTrue => self.vall_true(I16X8)?,
            O::I32x4AllTrue => self.vall_true(I32X4)?,
            O::I64x2AllTrue => self.vall_true(I64X2)?,
            O::I8x16Bitmask => self.vbitmask(I8X16)?,
            O::I16x8Bitmask => self.vbitmask(I16X8)?,
            O::I32x4Bitmask => self.vbitmask(I32X4)?,
            O::I64x2Bitmask => self.vbitmask(I64X2)?,
            O::I8x16NarrowI16x8S => self.vbinop(I16X8, |t, a, b| t.builder.ins().snarrow(a, b))?,
            O::I8x16NarrowI16x8U => self.vbinop(I16X8, |t, a, b| t.builder.ins().unarrow(a, b))?,
            O::I16x8NarrowI32x4S => self.vbinop(I32X4, |t, a, b| t.builder.ins().snarrow(a, b))?,
            O::I16x8NarrowI32x4U => self.vbinop(I32X4, |t, a, b| t.builder.ins().unarrow(a, b))?,

            O::I8x16Shl => self.vshift(I8X16, |t, a, n| t.builder.ins().ishl(a, n))?,
            O::I16x8Shl => self.vshift(I16X8, |t, a, n| t.builder.ins().ishl(a, n))?,
            O::I32x4Shl => self.vshift(I32X4, |t, a, n| t.builder.ins().ishl(a, n))?,
            O::I64x2Shl => self.vshift(I64X2, |t, a, n| t.builder.ins().ishl(a, n))?,
            O::I8x16ShrS => self.vshift(I8X16, |t, a, n| t.builder.ins().sshr(a, n))?,
            O::I16x8ShrS => self.vshift(I16X8, |t, a, n| t.builder.ins().sshr(a, n))?,
            O::I32x4ShrS => self.vshift(I32X4, |t, a, n| t.builder.ins().sshr(a, n))?,
            O::I64x2ShrS => self.vshift(I64X2, |t, a, n| t.builder.ins().sshr(a, n))?,
            O::I8x16ShrU => self.vshift(I8X16, |t, a, n| t.builder.ins().ushr(a, n))?,
            O::I16x8ShrU => self.vshift(I16X8, |t, a, n| t.builder.ins().ushr(a, n))?,
            O::I32x4ShrU => self.vshift(I32X4, |t, a, n| t.builder.ins().ushr(a, n))?,
            O::I64x2ShrU => self.vshift(I64X2, |t, a, n| t.builder.ins().ushr(a, n))?,

            O::I8x16Add => self.vbinop(I8X16, |t, a, b| t.builder.ins().iadd(a, b))?,
            O::I16x8Add => self.vbinop(I16X8, |t, a, b| t.builder.ins().iadd(a, b))?,
            O::I32x4Add => self.vbinop(I32X4, |t, a, b| t.builder.ins().iadd(a, b))?,
            O::I64x2Add => self.vbinop(I64X2, |t, a, b| t.builder.ins().iadd(a, b))?,
            O::I8x16Sub => self.vbinop(I8X16, |t, a, b| t.builder.ins().isub(a, b))?,
            O::I16x8Sub => self.vbinop(I16X8, |t, a, b| t.builder.ins().isub(a, b))?,
            O::I32x4Sub => self.vbinop(I32X4, |t, a, b| t.builder.ins().isub(a, b))?,
            O::I64x2Sub => self.vbinop(I64X2, |t, a, b| t.builder.ins().isub(a, b))?,
            O::I16x8Mul => self.vbinop(I16X8, |t, a, b| t.builder.ins().imul(a, b))?,
            O::I32x4Mul => self.vbinop(I32X4, |t, a, b| t.builder.ins().imul(a, b))?,
            O::I64x2Mul => self.vbinop(I64X2, |t, a, b| t.builder.ins().imul(a, b))?,
            O::I8x16AddSatS => self.vbinop(I8X16, |t, a, b| t.builder.ins().sadd_sat(a, b))?,
            O::I16x8AddSatS => self.vbinop(I16X8, |t, a, b| t.builder.ins().sadd_sat(a, b))?,
            O::I8x16AddSatU => self.vbinop(I8X16, |t, a, b| t.builder.ins().uadd_sat(a, b))?,
            O::I16x8AddSatU => self.vbinop(I16X8, |t, a, b| t.builder.ins().uadd_sat(a, b))?,
            O::I8x16SubSatS => self.vbinop(I8X16, |t, a, b| t.builder.ins().ssub_sat(a, b))?,
            O::I16x8SubSatS => self.vbinop(I16X8, |t, a, b| t.builder.ins().ssub_sat(a, b))?,
            O::I8x16SubSatU => self.vbinop(I8X16, |t, a, b| t.builder.ins().usub_sat(a, b))?,
            O::I16x8SubSatU => self.vbinop(I16X8, |t, a, b| t.builder.ins().usub_sat(a, b))?,
            O::I8x16MinS => self.vbinop(I8X16, |t, a, b| t.builder.ins().smin(a, b))?,
            O::I16x8MinS => self.vbinop(I16X8, |t, a, b| t.builder.ins().smin(a, b))?,
            O::I32x4MinS => self.vbinop(I32X4, |t, a, b| t.builder.ins().smin(a, b))?,
            O::I8x16MinU => self.vbinop(I8X16, |t, a, b| t.builder.ins().umin(a, b))?,
            O::I16x8MinU => self.vbinop(I16X8, |t, a, b| t.builder.ins().umin(a, b))?,
            O::I32x4MinU => self.vbinop(I32X4, |t, a, b| t.builder.ins().umin(a, b))?,
            O::I8x16MaxS => self.vbinop(I8X16, |t, a, b| t.builder.ins().smax(a, b))?,
            O::I16x8MaxS => self.vbinop(I16X8, |t, a, b| t.builder.ins().smax(a, b))?,
            O::I32x4MaxS => self.vbinop(I32X4, |t, a, b| t.builder.ins().smax(a, b))?,
            O::I8x16MaxU => self.vbinop(I8X16, |t, a, b| t.builder.ins().umax(a, b))?,
            O::I16x8MaxU => self.vbinop(I16X8, |t, a, b| t.builder.ins().umax(a, b))?,
            O::I32x4MaxU => self.vbinop(I32X4, |t, a, b| t.builder.ins().umax(a, b))?,
            O::I8x16AvgrU => self.vbinop(I8X16, |t, a, b| t.builder.ins().avg_round(a, b))?,
            O::I16x8AvgrU => self.vbinop(I16X8, |t, a, b| t.builder.ins().avg_round(a, b))?,
            O::I16x8Q15MulrSatS => self.vbinop(I16X8, |t, a, b| t.builder.ins().sqmul_round_sat(a, b))?,
            O::I32x4DotI16x8S => self.vbinop(I16X8, |t, a, b| {
                let lo = t.builder.ins().swiden_low(a);
                let lo_b = t.builder.ins().swiden_low(b);
                let lo = t.builder.ins().imul(lo, lo_b);
                let hi = t.builder.ins().swiden_high(a);
                let hi_b = t.builder.ins().swiden_high(b);
                let hi = t.builder.ins().imul(hi, hi_b);
                t.builder.ins().iadd_pairwise(lo, hi)
            })?,

            O::I16x8ExtendLowI8x16S => self.vwiden(I8X16, false, true)?,
            O::I16x8ExtendHighI8x16S => self.vwiden(I8X16, true, true)?,
            O::I16x8ExtendLowI8x16U => self.vwiden(I8X16, false, false)?,
            O::I16x8ExtendHighI8x16U => self.vwiden(I8X16, true, false)?,
            O::I32x4ExtendLowI16x8S => self.vwiden(I16X8, false, true)?,
            O::I32x4ExtendHighI16x8S => self.vwiden(I16X8, true, true)?,
            O::I32x4ExtendLowI16x8U => self.vwiden(I16X8, false, false)?,
            O::I32x4ExtendHighI16x8U => self.vwiden(I16X8, true, false)?,
            O::I64x2ExtendLowI32x4S => self.vwiden(I32X4, false, true)?,
            O::I64x2ExtendHighI32x4S => self.vwiden(I32X4, true, true)?,
            O::I64x2ExtendLowI32x4U => self.vwiden(I32X4, false, false)?,
            O::I64x2ExtendHighI32x4U => self.vwiden(I32X4, true, false)?,
            O::I16x8ExtMulLowI8x16S => self.vextmul(I8X16, false, true)?,
            O::I16x8ExtMulHighI8x16S => self.vextmul(I8X16, true, true)?,
            O::I16x8ExtMulLowI8x16U => self.vextmul(I8X16, false, false)?,
            O::I16x8ExtMulHighI8x16U => self.vextmul(I8X16, true, false)?,
            O::I32x4ExtMulLowI16x8S => self.vextmul(I16X8, false, true)?,
            O::I32x4ExtMulHighI16x8S => self.vextmul(I16X8, true, true)?,
            O::I32x4ExtMulLowI16x8U => self.vextmul(I16X8, false, false)?,
            O::I32x4ExtMulHighI16x8U => self.vextmul(I16X8, true, false)?,
            O::I64x2ExtMulLowI32x4S => self.vextmul(I32X4, false, true)?,
            O::I64x2ExtMulHighI32x4S => self.vextmul(I32X4, true, true)?,
            O::I64x2ExtMulLowI32x4U => self.vextmul(I32X4, false, false)?,
            O::I64x2ExtMulHighI32x4U => self.vextmul(I32X4, true, false)?,
            O::I16x8ExtAddPairwiseI8x16S => self.vextadd(I8X16, true)?,
            O::I16x8ExtAddPairwiseI8x16U => self.vextadd(I8X16, false)?,
            O::I32x4ExtAddPairwiseI16x8S => self.vextadd(I16X8, true)?,
            O::I32x4ExtAddPairwiseI16x8U => self.vextadd(I16X8, false)?,

            O::F32x4Ceil => self.vunop(F32X4, |t, a| t.builder.ins().ceil(a))?,
            O::F64x2Ceil => self.vunop(F64X2, |t, a| t.builder.ins().ceil(a))?,
            O::F32x4Floor => self.vunop(F32X4, |t, a| t.builder.ins().floor(a))?,
            O::F64x2Floor => self.vunop(F64X2, |t, a| t.builder.ins().floor(a))?,
            O::F32x4Trunc => self.vunop(F32X4, |t, a| t.builder.ins().trunc(a))?,
            O::F64x2Trunc => self.vunop(F64X2, |t, a| t.builder.ins().trunc(a))?,
            O::F32x4Nearest => self.vunop(F32X4, |t, a| t.builder.ins().nearest(a))?,
            O::F64x2Nearest => self.vunop(F64X2, |t, a| t.builder.ins().nearest(a))?,
            O::F32x4Abs => self.vunop(F32X4, |t, a| t.builder.ins().fabs(a))?,
            O::F64x2Abs => self.vunop(F64X2, |t, a| t.builder.ins().fabs(a))?,
            O::F32x4Neg => self.vunop(F32X4, |t, a| t.builder.ins().fneg(a))?,
            O::F64x2Neg => self.vunop(F64X2, |t, a| t.builder.ins().fneg(a))?,
            O::F32x4Sqrt => self.vunop(F32X4, |t, a| t.builder.ins().sqrt(a))?,
            O::F64x2Sqrt => self.vunop(F64X2, |t, a| t.builder.ins().sqrt(a))?,
            O::F32x4Add => self.vbinop(F32X4, |t, a, b| t.builder.ins().fadd(a, b))?,
            O::F64x2Add => self.vbinop(F64X2, |t, a, b| t.builder.ins().fadd(a, b))?,
            O::F32x4Sub => self.vbinop(F32X4, |t, a, b| t.builder.ins().fsub(a, b))?,
            O::F64x2Sub => self.vbinop(F64X2, |t, a, b| t.builder.ins().fsub(a, b))?,
            O::F32x4Mul => self.vbinop(F32X4, |t, a, b| t.builder.ins().fmul(a, b))?,
            O::F64x2Mul => self.vbinop(F64X2, |t, a, b| t.builder.ins().fmul(a, b))?,
            O::F32x4Div => self.vbinop(F32X4, |t, a, b| t.builder.ins().fdiv(a, b))?,
            O::F64x2Div => self.vbinop(F64X2, |t, a, b| t.builder.ins().fdiv(a, b))?,
            O::F32x4Min => self.vbinop(F32X4, |t, a, b| t.builder.ins().fmin(a, b))?,
            O::F64x2Min => self.vbinop(F64X2, |t, a, b| t.builder.ins().fmin(a, b))?,
            O::F32x4Max => self.vbinop(F32X4, |t, a, b| t.builder.ins().fmax(a, b))?,
            O::F64x2Max => self.vbinop(F64X2, |t, a, b| t.builder.ins().fmax(a, b))?,
            O::F32x4PMin => self.vpminmax(F32X4, false)?,
            O::F64x2PMin => self.vpminmax(F64X2, false)?,
            O::F32x4PMax => self.vpminmax(F32X4, true)?,
            O::F64x2PMax => self.vpminmax(F64X2, true)?,

            O::I32x4TruncSatF32x4S => self.vunop(F32X4, |t, a| t.builder.ins().fcvt_to_sint_sat(I32X4, a))?,
            O::I32x4TruncSatF32x4U => self.vunop(F32X4, |t, a| t.builder.ins().fcvt_to_uint_sat(I32X4, a))?,
            O::F32x4ConvertI32x4S => self.vunop(I32X4, |t, a| t.builder.ins().fcvt_from_sint(F32X4, a))?,
            O::F32x4ConvertI32x4U => self.vunop(I32X4, |t, a| t.builder.ins().fcvt_from_uint(F32X4, a))?,
            O::I32x4TruncSatF64x2SZero => self.vunop(F64X2, |t, a| {
                let wide = t.builder.ins().fcvt_to_sint_sat(I64X2, a);
                let zero = t.zero_i64x2();
                t.builder.ins().snarrow(wide, zero)
            })?,
            O::I32x4TruncSatF64x2UZero => self.vunop(F64X2, |t, a| {
                let wide = t.builder.ins().fcvt_to_uint_sat(I64X2, a);
                let zero = t.zero_i64x2();
                t.builder.ins().uunarrow(wide, zero)
            })?,
            O::F64x2ConvertLowI32x4S => self.vunop(I32X4, |t, a| {
                let wide = t.builder.ins().swiden_low(a);
                t.builder.ins().fcvt_from_sint(F64X2, wide)
            })?,
            O::F64x2ConvertLowI32x4U => self.vunop(I32X4, |t, a| {
                let wide = t.builder.ins().uwiden_low(a);
                t.builder.ins().fcvt_from_uint(F64X2, wide)
            })?,
            O::F32x4DemoteF64x2Zero => self.vunop(F64X2, |t, a| t.builder.ins().fvdemote(a))?,
            O::F64x2PromoteLowF32x4 => self.vunop(F32X4, |t, a| t.builder.ins().fvpromote_low(a))?,
            _ => return Ok(false),
        }
        Ok(true)
    }
}

/// The low or high half of `a`'s lanes, widened to twice their width.
fn widen(t: &mut Translator<'_, '_>, a: Value, high: bool, signed: bool) -> Value {
    let ins = t.builder.ins();
    match (high, signed) {
        (false, true) => ins.swiden_low(a),
        (true, true) => ins.swiden_high(a),
        (false, false) => ins.uwiden_low(a),
        (true, false) => ins.uwiden_high(a),
    }
}
