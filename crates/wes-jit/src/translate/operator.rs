//! The operator dispatch: one wasm operator at a time, and the arithmetic that can trap.

use std::collections::HashMap;

use cranelift_codegen::ir::condcodes::{FloatCC, IntCC};
use cranelift_codegen::ir::immediates::{Ieee32, Ieee64};
use cranelift_codegen::ir::{self, BlockArg, InstBuilder, JumpTableData, MemFlagsData, Type, Value, types};
use cranelift_frontend::FunctionBuilder;
use wasmparser::Operator;
use wes_core::vm::{self, Libcall};
use wes_core::{CompileError, TrapCode};

use super::calls::Callee;
use super::control::{Frame, Kind};
use super::memory::Ext;
use super::{PTR, Region, Translator, ir_type, unsupported};

impl Translator<'_, '_> {
    pub(super) fn unop(
        &mut self,
        f: impl FnOnce(&mut FunctionBuilder<'_>, Value) -> Value,
    ) -> Result<(), CompileError> {
        let a = self.pop()?;
        let v = f(&mut self.builder, a);
        self.push(v);
        Ok(())
    }

    pub(super) fn binop(
        &mut self,
        f: impl FnOnce(&mut FunctionBuilder<'_>, Value, Value) -> Value,
    ) -> Result<(), CompileError> {
        let (a, b) = self.pop2()?;
        let v = f(&mut self.builder, a, b);
        self.push(v);
        Ok(())
    }

    pub(super) fn icmp(&mut self, cc: IntCC) -> Result<(), CompileError> {
        self.binop(|b, x, y| {
            let c = b.ins().icmp(cc, x, y);
            b.ins().uextend(types::I32, c)
        })
    }

    pub(super) fn fcmp(&mut self, cc: FloatCC) -> Result<(), CompileError> {
        self.binop(|b, x, y| {
            let c = b.ins().fcmp(cc, x, y);
            b.ins().uextend(types::I32, c)
        })
    }

    pub(super) fn div(&mut self, signed: bool, rem: bool) -> Result<(), CompileError> {
        let (a, b) = self.pop2()?;
        let ty = self.builder.func.dfg.value_type(a);
        let zero = self.builder.ins().icmp_imm_s(IntCC::Equal, b, 0);
        self.trap_if(zero, TrapCode::IntegerDivideByZero);
        let v = match (signed, rem) {
            (false, false) => self.builder.ins().udiv(a, b),
            (false, true) => self.builder.ins().urem(a, b),
            (true, false) => {
                let min = if ty == types::I32 { i64::from(i32::MIN) } else { i64::MIN };
                let is_min = self.builder.ins().icmp_imm_s(IntCC::Equal, a, min);
                let is_neg1 = self.builder.ins().icmp_imm_s(IntCC::Equal, b, -1);
                let overflow = self.builder.ins().band(is_min, is_neg1);
                self.trap_if(overflow, TrapCode::IntegerOverflow);
                self.builder.ins().sdiv(a, b)
            }
            (true, true) => {
                // `x rem -1` is 0 for every x, and replacing -1 by 1 keeps the hardware from
                // faulting on `MIN rem -1`.
                let is_neg1 = self.builder.ins().icmp_imm_s(IntCC::Equal, b, -1);
                let one = self.builder.ins().iconst(ty, 1);
                let b = self.builder.ins().select(is_neg1, one, b);
                self.builder.ins().srem(a, b)
            }
        };
        self.push(v);
        Ok(())
    }

    /// A trapping float-to-int conversion: NaN and out-of-range inputs trap, everything else
    /// converts exactly (the saturating instruction then never saturates).
    pub(super) fn trunc(&mut self, to: Type, signed: bool) -> Result<(), CompileError> {
        let x = self.pop()?;
        let from = self.builder.func.dfg.value_type(x);
        let nan = self.builder.ins().fcmp(FloatCC::Unordered, x, x);
        self.trap_if(nan, TrapCode::BadConversionToInteger);
        // Exclusive bounds: the input is in range iff lower < x < upper.
        let (lower, upper): (f64, f64) = match (signed, to == types::I32, from == types::F32) {
            (true, true, true) => (-2147483904.0, 2147483648.0),
            (true, true, false) => (-2147483649.0, 2147483648.0),
            (true, false, true) => (-9223373136366403584.0, 9223372036854775808.0),
            (true, false, false) => (-9223372036854777856.0, 9223372036854775808.0),
            (false, true, _) => (-1.0, 4294967296.0),
            (false, false, _) => (-1.0, 18446744073709551616.0),
        };
        let (lo, hi) = if from == types::F32 {
            (
                self.builder.ins().f32const(Ieee32::with_bits((lower as f32).to_bits())),
                self.builder.ins().f32const(Ieee32::with_bits((upper as f32).to_bits())),
            )
        } else {
            (
                self.builder.ins().f64const(Ieee64::with_bits(lower.to_bits())),
                self.builder.ins().f64const(Ieee64::with_bits(upper.to_bits())),
            )
        };
        let below = self.builder.ins().fcmp(FloatCC::LessThanOrEqual, x, lo);
        let above = self.builder.ins().fcmp(FloatCC::GreaterThanOrEqual, x, hi);
        let out = self.builder.ins().bor(below, above);
        self.trap_if(out, TrapCode::IntegerOverflow);
        let v = if signed {
            self.builder.ins().fcvt_to_sint_sat(to, x)
        } else {
            self.builder.ins().fcvt_to_uint_sat(to, x)
        };
        self.push(v);
        Ok(())
    }

    pub(super) fn extend(&mut self, narrow: Type, wide: Type) -> Result<(), CompileError> {
        self.unop(|b, x| {
            let n = b.ins().ireduce(narrow, x);
            b.ins().sextend(wide, n)
        })
    }

    pub(super) fn operator(&mut self, op: Operator<'_>) -> Result<(), CompileError> {
        use Operator as O;
        if !self.reachable {
            match op {
                O::Block { .. } | O::Loop { .. } | O::If { .. } => {
                    self.unreachable_depth += 1;
                    return Ok(());
                }
                O::End if self.unreachable_depth > 0 => {
                    self.unreachable_depth -= 1;
                    return Ok(());
                }
                O::Else if self.unreachable_depth > 0 => return Ok(()),
                O::End | O::Else => {}
                _ => return Ok(()),
            }
        }
        let fi = self.func_index;
        match op {
            O::Unreachable => {
                self.trap_jump(Some(TrapCode::Unreachable), self.offset);
                self.reachable = false;
            }
            O::Nop => {}
            O::Block { blockty } => {
                let (params, results) = self.block_sig(blockty)?;
                let next = self.block_with_params(&results);
                let height = self.stack.len().checked_sub(params.len()).ok_or_else(|| self.err("stack underflow"))?;
                self.frames.push(Frame {
                    kind: Kind::Block,
                    br_dest: next,
                    next,
                    num_params: params.len(),
                    num_results: results.len(),
                    height,
                    next_reached: false,
                    else_block: None,
                    facts: self.bounds.mark(),
                });
            }
            O::Loop { blockty } => {
                let (params, results) = self.block_sig(blockty)?;
                let header = self.block_with_params(&params);
                let next = self.block_with_params(&results);
                let args = self.popn(params.len())?;
                self.jump(header, &args);
                self.builder.switch_to_block(header);
                let height = self.stack.len();
                let header_params = self.builder.block_params(header).to_vec();
                self.stack.extend(header_params);
                self.frames.push(Frame {
                    kind: Kind::Loop,
                    br_dest: header,
                    next,
                    num_params: params.len(),
                    num_results: results.len(),
                    height,
                    next_reached: false,
                    else_block: None,
                    facts: self.bounds.mark(),
                });
            }
            O::If { blockty } => {
                let cond = self.pop()?;
                let (params, results) = self.block_sig(blockty)?;
                let next = self.block_with_params(&results);
                let then_block = self.builder.create_block();
                let else_block = self.builder.create_block();
                self.builder.ins().brif(cond, then_block, &[], else_block, &[]);
                self.builder.seal_block(else_block);
                self.seal_and_switch(then_block);
                let param_values = self.peekn(params.len())?.to_vec();
                let height = self.stack.len().saturating_sub(params.len());
                self.frames.push(Frame {
                    kind: Kind::If,
                    br_dest: next,
                    next,
                    num_params: params.len(),
                    num_results: results.len(),
                    height,
                    next_reached: false,
                    else_block: Some((else_block, param_values)),
                    facts: self.bounds.mark(),
                });
            }
            O::Else => {
                let fi = self.func_index;
                let bad = |m: &str| CompileError::Codegen { func_index: fi, message: m.into() };
                let frame = self.frames.last_mut().ok_or_else(|| bad("`else` without `if`"))?;
                let (else_block, params) = frame.else_block.take().ok_or_else(|| bad("`else` twice"))?;
                let (next, num_results, height) = (frame.next, frame.num_results, frame.height);
                self.bounds.forget_since(frame.facts);
                if self.reachable {
                    let results = self.popn(num_results)?;
                    self.jump(next, &results);
                    if let Some(f) = self.frames.last_mut() {
                        f.next_reached = true;
                    }
                }
                self.stack.truncate(height);
                self.stack.extend(params);
                self.builder.switch_to_block(else_block);
                self.reachable = true;
            }
            O::End => self.end()?,
            O::Br { relative_depth } => {
                let (dest, n) = self.branch_target(relative_depth)?;
                let args = self.popn(n)?;
                self.jump(dest, &args);
                self.reachable = false;
            }
            O::BrIf { relative_depth } => {
                let cond = self.pop()?;
                let (dest, n) = self.branch_target(relative_depth)?;
                let args: Vec<BlockArg> = self.peekn(n)?.iter().map(|v| BlockArg::Value(*v)).collect();
                let cont = self.builder.create_block();
                self.builder.ins().brif(cond, dest, &args, cont, &[]);
                self.seal_and_switch(cont);
            }
            O::BrTable { targets } => {
                let index = self.pop()?;
                let default = targets.default();
                let depths = targets.targets().collect::<Result<Vec<_>, _>>().map_err(|e| self.err(e.to_string()))?;
                let (_, n) = self.branch_target(default)?;
                let args = self.peekn(n)?.to_vec();
                // Branches carrying values go through one edge block per distinct target,
                // because jump-table entries pass no arguments here.
                let mut edges: HashMap<u32, ir::Block> = HashMap::new();
                let mut target_of = |t: &mut Self, depth: u32| -> Result<ir::Block, CompileError> {
                    let (dest, _) = t.branch_target(depth)?;
                    if n == 0 {
                        return Ok(dest);
                    }
                    if let Some(b) = edges.get(&depth) {
                        return Ok(*b);
                    }
                    let b = t.builder.create_block();
                    edges.insert(depth, b);
                    Ok(b)
                };
                let default_block = target_of(self, default)?;
                let mut table_blocks = Vec::with_capacity(depths.len());
                for d in &depths {
                    table_blocks.push(target_of(self, *d)?);
                }
                let def_call = self.builder.func.dfg.block_call(default_block, &[]);
                let calls: Vec<_> = table_blocks.iter().map(|b| self.builder.func.dfg.block_call(*b, &[])).collect();
                let jt = self.builder.create_jump_table(JumpTableData::new(def_call, &calls));
                self.builder.ins().br_table(index, jt);
                let mut edges: Vec<_> = edges.into_iter().collect();
                edges.sort_by_key(|(d, _)| *d);
                for (depth, block) in edges {
                    self.builder.switch_to_block(block);
                    let (dest, _) = self.branch_target(depth)?;
                    self.jump(dest, &args);
                }
                self.reachable = false;
            }
            O::Return => {
                let (dest, n) = self.branch_target(u32::try_from(self.frames.len() - 1).unwrap_or(0))?;
                let args = self.popn(n)?;
                self.jump(dest, &args);
                self.reachable = false;
            }
            O::Call { function_index } => match self.callee(function_index)? {
                Callee::Body(defined) => self.direct_call(defined)?,
                Callee::Record(funcref, type_index) => self.array_call(funcref, type_index)?,
            },
            O::CallIndirect { type_index, table_index } => {
                let funcref = self.indirect_callee(type_index, table_index)?;
                self.array_call(funcref, type_index)?;
            }
            O::ReturnCall { function_index } => match self.callee(function_index)? {
                Callee::Body(defined) => self.direct_return_call(defined)?,
                Callee::Record(funcref, type_index) => self.return_call(funcref, type_index)?,
            },
            O::ReturnCallIndirect { type_index, table_index } => {
                let funcref = self.indirect_callee(type_index, table_index)?;
                self.return_call(funcref, type_index)?;
            }
            O::Drop => {
                self.pop()?;
            }
            O::Select | O::TypedSelect { .. } => {
                let (a, b, c) = self.pop3()?;
                let v = self.builder.ins().select(c, a, b);
                self.push(v);
            }
            O::TypedSelectMulti { .. } => return Err(unsupported("multi-value select", fi)),
            O::LocalGet { local_index } => {
                let (var, _) = *self.locals.get(local_index as usize).ok_or_else(|| self.err("local out of range"))?;
                let v = self.builder.use_var(var);
                self.push(v);
            }
            O::LocalSet { local_index } => {
                let v = self.pop()?;
                let (var, _) = *self.locals.get(local_index as usize).ok_or_else(|| self.err("local out of range"))?;
                self.builder.def_var(var, v);
            }
            O::LocalTee { local_index } => {
                let v = *self.stack.last().ok_or_else(|| self.err("stack underflow"))?;
                let (var, _) = *self.locals.get(local_index as usize).ok_or_else(|| self.err("local out of range"))?;
                self.builder.def_var(var, v);
            }
            O::GlobalGet { global_index } => {
                let g =
                    self.module.globals.get(global_index as usize).ok_or_else(|| self.err("global out of range"))?;
                let ty = ir_type(g.content, fi)?;
                let p = self.vmctx_entry(vm::VMCTX_GLOBALS, global_index);
                let flags = self.region_flags(MemFlagsData::trusted(), Region::Globals);
                let v = self.builder.ins().load(ty, flags, p, 0);
                self.push(v);
            }
            O::GlobalSet { global_index } => {
                let v = self.pop()?;
                let p = self.vmctx_entry(vm::VMCTX_GLOBALS, global_index);
                let flags = self.region_flags(MemFlagsData::trusted(), Region::Globals);
                self.builder.ins().store(flags, v, p, 0);
            }

            O::I32Load { memarg } => self.load(&memarg, types::I32, 4, Ext::None)?,
            O::I64Load { memarg } => self.load(&memarg, types::I64, 8, Ext::None)?,
            O::F32Load { memarg } => self.load(&memarg, types::F32, 4, Ext::None)?,
            O::F64Load { memarg } => self.load(&memarg, types::F64, 8, Ext::None)?,
            O::I32Load8S { memarg } => self.load(&memarg, types::I32, 1, Ext::S)?,
            O::I32Load8U { memarg } => self.load(&memarg, types::I32, 1, Ext::U)?,
            O::I32Load16S { memarg } => self.load(&memarg, types::I32, 2, Ext::S)?,
            O::I32Load16U { memarg } => self.load(&memarg, types::I32, 2, Ext::U)?,
            O::I64Load8S { memarg } => self.load(&memarg, types::I64, 1, Ext::S)?,
            O::I64Load8U { memarg } => self.load(&memarg, types::I64, 1, Ext::U)?,
            O::I64Load16S { memarg } => self.load(&memarg, types::I64, 2, Ext::S)?,
            O::I64Load16U { memarg } => self.load(&memarg, types::I64, 2, Ext::U)?,
            O::I64Load32S { memarg } => self.load(&memarg, types::I64, 4, Ext::S)?,
            O::I64Load32U { memarg } => self.load(&memarg, types::I64, 4, Ext::U)?,
            O::I32Store { memarg } | O::F32Store { memarg } => self.store(&memarg, 4, false)?,
            O::I64Store { memarg } | O::F64Store { memarg } => self.store(&memarg, 8, false)?,
            O::I32Store8 { memarg } | O::I64Store8 { memarg } => self.store(&memarg, 1, true)?,
            O::I32Store16 { memarg } | O::I64Store16 { memarg } => self.store(&memarg, 2, true)?,
            O::I64Store32 { memarg } => self.store(&memarg, 4, true)?,
            O::MemorySize { mem } => {
                let def = self.vmctx_entry(vm::VMCTX_MEMORIES, mem);
                let flags = self.region_flags(MemFlagsData::trusted(), Region::MemoryDef);
                let len = self.builder.ins().load(types::I64, flags, def, vm::MEMORY_LENGTH);
                let pages = self.builder.ins().ushr_imm_u(len, 16);
                let v = self.builder.ins().ireduce(types::I32, pages);
                self.push(v);
            }
            O::MemoryGrow { mem } => {
                let delta = self.pop()?;
                let m = self.iconst32(mem);
                let raw = self.libcall(Libcall::MemoryGrow, &[m, delta]).ok_or_else(|| self.err("memory.grow"))?;
                let v = self.grow_result(raw);
                self.push(v);
            }
            O::MemoryFill { mem } => {
                let (dst, val, len) = self.pop3()?;
                let m = self.iconst32(mem);
                self.libcall_checked(Libcall::MemoryFill, &[m, dst, val, len])?;
            }
            O::MemoryCopy { dst_mem, src_mem } => {
                let (dst, src, len) = self.pop3()?;
                let d = self.iconst32(dst_mem);
                let s = self.iconst32(src_mem);
                self.libcall_checked(Libcall::MemoryCopy, &[d, s, dst, src, len])?;
            }
            O::MemoryInit { data_index, mem } => {
                let (dst, src, len) = self.pop3()?;
                let m = self.iconst32(mem);
                let d = self.iconst32(data_index);
                self.libcall_checked(Libcall::MemoryInit, &[m, d, dst, src, len])?;
            }
            O::DataDrop { data_index } => {
                let d = self.iconst32(data_index);
                self.libcall(Libcall::DataDrop, &[d]);
            }

            O::I32Const { value } => {
                let v = self.builder.ins().iconst(types::I32, i64::from(value));
                self.push(v);
            }
            O::I64Const { value } => {
                let v = self.builder.ins().iconst(types::I64, value);
                self.push(v);
            }
            O::F32Const { value } => {
                let v = self.builder.ins().f32const(Ieee32::with_bits(value.bits()));
                self.push(v);
            }
            O::F64Const { value } => {
                let v = self.builder.ins().f64const(Ieee64::with_bits(value.bits()));
                self.push(v);
            }

            O::I32Eqz | O::I64Eqz => self.unop(|b, x| {
                let c = b.ins().icmp_imm_s(IntCC::Equal, x, 0);
                b.ins().uextend(types::I32, c)
            })?,
            O::I32Eq | O::I64Eq => self.icmp(IntCC::Equal)?,
            O::I32Ne | O::I64Ne => self.icmp(IntCC::NotEqual)?,
            O::I32LtS | O::I64LtS => self.icmp(IntCC::SignedLessThan)?,
            O::I32LtU | O::I64LtU => self.icmp(IntCC::UnsignedLessThan)?,
            O::I32GtS | O::I64GtS => self.icmp(IntCC::SignedGreaterThan)?,
            O::I32GtU | O::I64GtU => self.icmp(IntCC::UnsignedGreaterThan)?,
            O::I32LeS | O::I64LeS => self.icmp(IntCC::SignedLessThanOrEqual)?,
            O::I32LeU | O::I64LeU => self.icmp(IntCC::UnsignedLessThanOrEqual)?,
            O::I32GeS | O::I64GeS => self.icmp(IntCC::SignedGreaterThanOrEqual)?,
            O::I32GeU | O::I64GeU => self.icmp(IntCC::UnsignedGreaterThanOrEqual)?,
            O::F32Eq | O::F64Eq => self.fcmp(FloatCC::Equal)?,
            O::F32Ne | O::F64Ne => self.fcmp(FloatCC::NotEqual)?,
            O::F32Lt | O::F64Lt => self.fcmp(FloatCC::LessThan)?,
            O::F32Gt | O::F64Gt => self.fcmp(FloatCC::GreaterThan)?,
            O::F32Le | O::F64Le => self.fcmp(FloatCC::LessThanOrEqual)?,
            O::F32Ge | O::F64Ge => self.fcmp(FloatCC::GreaterThanOrEqual)?,

            O::I32Clz | O::I64Clz => self.unop(|b, x| b.ins().clz(x))?,
            O::I32Ctz | O::I64Ctz => self.unop(|b, x| b.ins().ctz(x))?,
            O::I32Popcnt | O::I64Popcnt => self.unop(|b, x| b.ins().popcnt(x))?,
            O::I32Add | O::I64Add => self.binop(|b, x, y| b.ins().iadd(x, y))?,
            O::I32Sub | O::I64Sub => self.binop(|b, x, y| b.ins().isub(x, y))?,
            O::I32Mul | O::I64Mul => self.binop(|b, x, y| b.ins().imul(x, y))?,
            O::I32DivS | O::I64DivS => self.div(true, false)?,
            O::I32DivU | O::I64DivU => self.div(false, false)?,
            O::I32RemS | O::I64RemS => self.div(true, true)?,
            O::I32RemU | O::I64RemU => self.div(false, true)?,
            O::I32And | O::I64And => self.binop(|b, x, y| b.ins().band(x, y))?,
            O::I32Or | O::I64Or => self.binop(|b, x, y| b.ins().bor(x, y))?,
            O::I32Xor | O::I64Xor => self.binop(|b, x, y| b.ins().bxor(x, y))?,
            O::I32Shl | O::I64Shl => self.binop(|b, x, y| b.ins().ishl(x, y))?,
            O::I32ShrS | O::I64ShrS => self.binop(|b, x, y| b.ins().sshr(x, y))?,
            O::I32ShrU | O::I64ShrU => self.binop(|b, x, y| b.ins().ushr(x, y))?,
            O::I32Rotl | O::I64Rotl => self.binop(|b, x, y| b.ins().rotl(x, y))?,
            O::I32Rotr | O::I64Rotr => self.binop(|b, x, y| b.ins().rotr(x, y))?,

            O::F32Abs | O::F64Abs => self.unop(|b, x| b.ins().fabs(x))?,
            O::F32Neg | O::F64Neg => self.unop(|b, x| b.ins().fneg(x))?,
            O::F32Ceil | O::F64Ceil => self.unop(|b, x| b.ins().ceil(x))?,
            O::F32Floor | O::F64Floor => self.unop(|b, x| b.ins().floor(x))?,
            O::F32Trunc | O::F64Trunc => self.unop(|b, x| b.ins().trunc(x))?,
            O::F32Nearest | O::F64Nearest => self.unop(|b, x| b.ins().nearest(x))?,
            O::F32Sqrt | O::F64Sqrt => self.unop(|b, x| b.ins().sqrt(x))?,
            O::F32Add | O::F64Add => self.binop(|b, x, y| b.ins().fadd(x, y))?,
            O::F32Sub | O::F64Sub => self.binop(|b, x, y| b.ins().fsub(x, y))?,
            O::F32Mul | O::F64Mul => self.binop(|b, x, y| b.ins().fmul(x, y))?,
            O::F32Div | O::F64Div => self.binop(|b, x, y| b.ins().fdiv(x, y))?,
            O::F32Min | O::F64Min => self.binop(|b, x, y| b.ins().fmin(x, y))?,
            O::F32Max | O::F64Max => self.binop(|b, x, y| b.ins().fmax(x, y))?,
            O::F32Copysign | O::F64Copysign => self.binop(|b, x, y| b.ins().fcopysign(x, y))?,

            O::I32WrapI64 => self.unop(|b, x| b.ins().ireduce(types::I32, x))?,
            O::I64ExtendI32S => self.unop(|b, x| b.ins().sextend(types::I64, x))?,
            O::I64ExtendI32U => self.unop(|b, x| b.ins().uextend(types::I64, x))?,
            O::I32Extend8S => self.extend(types::I8, types::I32)?,
            O::I32Extend16S => self.extend(types::I16, types::I32)?,
            O::I64Extend8S => self.extend(types::I8, types::I64)?,
            O::I64Extend16S => self.extend(types::I16, types::I64)?,
            O::I64Extend32S => self.extend(types::I32, types::I64)?,
            O::I32TruncF32S | O::I32TruncF64S => self.trunc(types::I32, true)?,
            O::I32TruncF32U | O::I32TruncF64U => self.trunc(types::I32, false)?,
            O::I64TruncF32S | O::I64TruncF64S => self.trunc(types::I64, true)?,
            O::I64TruncF32U | O::I64TruncF64U => self.trunc(types::I64, false)?,
            O::I32TruncSatF32S | O::I32TruncSatF64S => self.unop(|b, x| b.ins().fcvt_to_sint_sat(types::I32, x))?,
            O::I32TruncSatF32U | O::I32TruncSatF64U => self.unop(|b, x| b.ins().fcvt_to_uint_sat(types::I32, x))?,
            O::I64TruncSatF32S | O::I64TruncSatF64S => self.unop(|b, x| b.ins().fcvt_to_sint_sat(types::I64, x))?,
            O::I64TruncSatF32U | O::I64TruncSatF64U => self.unop(|b, x| b.ins().fcvt_to_uint_sat(types::I64, x))?,
            O::F32ConvertI32S | O::F32ConvertI64S => self.unop(|b, x| b.ins().fcvt_from_sint(types::F32, x))?,
            O::F32ConvertI32U | O::F32ConvertI64U => self.unop(|b, x| b.ins().fcvt_from_uint(types::F32, x))?,
            O::F64ConvertI32S | O::F64ConvertI64S => self.unop(|b, x| b.ins().fcvt_from_sint(types::F64, x))?,
            O::F64ConvertI32U | O::F64ConvertI64U => self.unop(|b, x| b.ins().fcvt_from_uint(types::F64, x))?,
            O::F32DemoteF64 => self.unop(|b, x| b.ins().fdemote(types::F32, x))?,
            O::F64PromoteF32 => self.unop(|b, x| b.ins().fpromote(types::F64, x))?,
            O::I32ReinterpretF32 => self.unop(|b, x| b.ins().bitcast(types::I32, MemFlagsData::new(), x))?,
            O::I64ReinterpretF64 => self.unop(|b, x| b.ins().bitcast(types::I64, MemFlagsData::new(), x))?,
            O::F32ReinterpretI32 => self.unop(|b, x| b.ins().bitcast(types::F32, MemFlagsData::new(), x))?,
            O::F64ReinterpretI64 => self.unop(|b, x| b.ins().bitcast(types::F64, MemFlagsData::new(), x))?,

            O::RefNull { .. } => {
                let v = self.builder.ins().iconst(PTR, 0);
                self.push(v);
            }
            O::RefIsNull => self.unop(|b, x| {
                let c = b.ins().icmp_imm_s(IntCC::Equal, x, 0);
                b.ins().uextend(types::I32, c)
            })?,
            O::RefFunc { function_index } => {
                let v = self.vmctx_entry(vm::VMCTX_FUNCS, function_index);
                self.push(v);
            }
            O::TableGet { table } => {
                let index = self.pop()?;
                let addr = self.table_elem_addr(table, index, TrapCode::TableOutOfBounds);
                let flags = self.region_flags(MemFlagsData::trusted(), Region::TableElems);
                let v = self.builder.ins().load(PTR, flags, addr, 0);
                self.push(v);
            }
            O::TableSet { table } => {
                let (index, v) = self.pop2()?;
                let addr = self.table_elem_addr(table, index, TrapCode::TableOutOfBounds);
                let flags = self.region_flags(MemFlagsData::trusted(), Region::TableElems);
                self.builder.ins().store(flags, v, addr, 0);
            }
            O::TableSize { table } => {
                let def = self.table_def(table);
                let flags = self.region_flags(MemFlagsData::trusted(), Region::TableDef);
                let len = self.builder.ins().load(types::I64, flags, def, vm::TABLE_LENGTH);
                let v = self.builder.ins().ireduce(types::I32, len);
                self.push(v);
            }
            O::TableGrow { table } => {
                let (init, delta) = self.pop2()?;
                let t = self.iconst32(table);
                let raw = self.libcall(Libcall::TableGrow, &[t, init, delta]).ok_or_else(|| self.err("table.grow"))?;
                let v = self.grow_result(raw);
                self.push(v);
            }
            O::TableFill { table } => {
                let (dst, val, len) = self.pop3()?;
                let t = self.iconst32(table);
                self.libcall_checked(Libcall::TableFill, &[t, dst, val, len])?;
            }
            O::TableCopy { dst_table, src_table } => {
                let (dst, src, len) = self.pop3()?;
                let d = self.iconst32(dst_table);
                let s = self.iconst32(src_table);
                self.libcall_checked(Libcall::TableCopy, &[d, s, dst, src, len])?;
            }
            O::TableInit { elem_index, table } => {
                let (dst, src, len) = self.pop3()?;
                let t = self.iconst32(table);
                let e = self.iconst32(elem_index);
                self.libcall_checked(Libcall::TableInit, &[t, e, dst, src, len])?;
            }
            O::ElemDrop { elem_index } => {
                let e = self.iconst32(elem_index);
                self.libcall(Libcall::ElemDrop, &[e]);
            }
            other => {
                if self.simd_operator(&other)? {
                    return Ok(());
                }
                let name = format!("{other:?}");
                let name = name.split([' ', '{', '(']).next().unwrap_or("operator").to_string();
                let what = if name.starts_with("V128") || name.contains('x') {
                    format!("the SIMD instruction {name}")
                } else {
                    format!("the instruction {name}")
                };
                return Err(unsupported(what, fi));
            }
        }
        Ok(())
    }
}
