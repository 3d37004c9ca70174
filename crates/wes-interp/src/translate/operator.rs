//! The translation of each operator: what it pops and pushes, and the ops it emits (the
//! fusions of `fuse.rs` first).

use wasmparser::Operator;
use wes_core::{CompileError, ValType};

use super::check::is_simd;
use super::{Ctrl, Kind, Patch, Translator, unsupported};
use crate::code::{DropKeep, LoadKind, Op, RETURN, Target, VLoad, cells};
use crate::num::NumOp;
use crate::simd::{SimdArity, SimdOp};

impl Translator<'_> {
    /// Translates one operator at the current height (nothing when unreachable, but the
    /// control stack's bookkeeping).
    pub(super) fn operator(&mut self, op: &Operator<'_>) -> Result<(), CompileError> {
        use Operator as O;
        use ValType::{F32, F64, I32, I64, V128};
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
        if let Some(n) = NumOp::from_operator(op) {
            if n.arity() == 1 {
                self.pop(1)?;
                self.emit_unary(n);
                self.push(&[n.result_type()]);
                return Ok(());
            }
            self.pop(2)?;
            self.emit_binary(n);
            self.push(&[n.result_type()]);
            return Ok(());
        }
        if self.uses_simd
            && let Some(s) = SimdOp::decode(op)
        {
            return self.simd_op(s);
        }
        match *op {
            O::Unreachable => {
                self.emit(Op::Unreachable);
                self.reachable = false;
            }
            O::Nop => {}
            O::Block { blockty } | O::Loop { blockty } | O::If { blockty } => {
                let is_if = matches!(op, O::If { .. });
                if is_if {
                    self.pop(1)?;
                }
                let (params, results) = self.block_sig(blockty)?;
                let pc: u32 = params.iter().map(|t| cells(*t)).sum();
                let height = self.height.checked_sub(pc).ok_or_else(|| self.err("operand stack underflow"))?;
                let depth =
                    self.types.len().checked_sub(params.len()).ok_or_else(|| self.err("operand stack underflow"))?;
                let (kind, else_patch) = match op {
                    O::Loop { .. } => (Kind::Loop, None),
                    O::If { .. } => {
                        let to_else = Target { pc: RETURN, dk: DropKeep { drop: 0, keep: 0 } };
                        let op = match self.take_eqz() {
                            Some((a, sp, wide)) => match self.take_and(a, wide) {
                                // Jumps to the else branch when the `and` is non-zero.
                                Some((x, imm, s)) => Op::BrAnd { sp: sp + s, wide, zero: false, a: x, imm, t: to_else },
                                None => Op::IfNez { a, sp, wide, to: RETURN },
                            },
                            None => self.take_compare(true, to_else).unwrap_or(Op::BrIfEqz(RETURN)),
                        };
                        (Kind::If, Some(self.emit(op)))
                    }
                    _ => (Kind::Block, None),
                };
                let loop_pc = self.pc();
                self.ctrl.push(Ctrl { kind, height, depth, params, results, loop_pc, patches: Vec::new(), else_patch });
            }
            O::Else => {
                let reachable = self.reachable;
                let pc_after_jump = self.pc() + u32::from(reachable);
                let fi = self.func_index;
                let c = self
                    .ctrl
                    .last_mut()
                    .ok_or_else(|| CompileError::Codegen { func_index: fi, message: "`else` without `if`".into() })?;
                let else_at = c.else_patch.take();
                let (height, depth, params) = (c.height, c.depth, c.params);
                let keep: u32 = c.results.iter().map(|t| cells(*t)).sum();
                if reachable {
                    let at = self.ops.len();
                    c.patches.push(Patch::Op(at));
                    self.emit(Op::Br(Target { pc: RETURN, dk: DropKeep { drop: 0, keep } }));
                }
                if let Some(at) = else_at {
                    self.patch_else(at, pc_after_jump);
                }
                self.reset(depth, height, params);
                self.reachable = true;
            }
            O::End => {
                let c = self.ctrl.pop().ok_or_else(|| self.err("`end` without a block"))?;
                if c.kind == Kind::Func {
                    if self.reachable {
                        self.emit(Op::Return { sp: 0 });
                    }
                    return Ok(());
                }
                let end = self.pc();
                let reached = self.reachable || !c.patches.is_empty() || c.else_patch.is_some();
                if let Some(at) = c.else_patch {
                    self.patch_else(at, end);
                }
                for p in &c.patches {
                    match *p {
                        Patch::Op(at) => match self.ops.get_mut(at).and_then(Op::target_mut) {
                            Some(t) => t.pc = end,
                            None => return Err(self.err("patched op is not a branch")),
                        },
                        Patch::Table(at) => {
                            let t = self.tables.get_mut(at).ok_or_else(|| CompileError::Codegen {
                                func_index: self.func_index,
                                message: "br_table entry out of range".into(),
                            })?;
                            t.pc = end;
                        }
                    }
                }
                self.reset(c.depth, c.height, c.results);
                self.reachable = reached;
            }
            O::Br { relative_depth } => {
                let (target, patch) = self.target(relative_depth)?;
                let at = self.emit(Op::Br(target));
                if let Some(i) = patch {
                    self.ctrl[i].patches.push(Patch::Op(at));
                }
                self.reachable = false;
            }
            O::BrIf { relative_depth } => {
                self.pop(1)?;
                let eqz = self.take_eqz();
                let (target, patch) = self.target(relative_depth)?;
                let op = match eqz {
                    Some((a, sp, wide)) => match self.take_and(a, wide) {
                        Some((x, imm, s)) => Op::BrAnd { sp: sp + s, wide, zero: true, a: x, imm, t: target },
                        None => Op::BrIfZ { a, sp, wide, cost: 0, t: target },
                    },
                    None => self.take_compare(false, target).unwrap_or(Op::BrIf(target)),
                };
                let at = self.emit(op);
                if let Some(i) = patch {
                    self.ctrl[i].patches.push(Patch::Op(at));
                }
            }
            O::BrTable { ref targets } => {
                self.pop(1)?;
                let start = u32::try_from(self.tables.len()).map_err(|_| self.err("too many br_table targets"))?;
                let depths = targets.targets().collect::<Result<Vec<_>, _>>().map_err(|e| self.err(e.to_string()))?;
                for d in depths.iter().copied().chain(std::iter::once(targets.default())) {
                    let (target, patch) = self.target(d)?;
                    let at = self.tables.len();
                    self.tables.push(target);
                    if let Some(i) = patch {
                        self.ctrl[i].patches.push(Patch::Table(at));
                    }
                }
                let len = u32::try_from(depths.len()).map_err(|_| self.err("too many br_table targets"))?;
                self.emit(Op::BrTable { start, len });
                self.reachable = false;
            }
            O::Return => {
                self.emit(Op::Return { sp: 0 });
                self.reachable = false;
            }
            O::Call { function_index } => {
                let (p, r) = self.func_sig(function_index)?;
                let op = if function_index < self.module.num_imported_functions {
                    Op::CallImport { f: function_index, sp: 0, sig: crate::code::ImportSig::of(p, r) }
                } else {
                    Op::Call { f: function_index, sp: 0 }
                };
                self.simple(op, p.len(), r)?;
            }
            O::CallIndirect { type_index, table_index } => {
                let (p, r) = self.func_type(type_index)?;
                self.simple(Op::CallIndirect { type_index, table: table_index }, p.len() + 1, r)?;
            }
            O::ReturnCall { function_index } => {
                let (p, _) = self.func_sig(function_index)?;
                self.simple(Op::ReturnCall(function_index), p.len(), &[])?;
                self.reachable = false;
            }
            O::ReturnCallIndirect { type_index, table_index } => {
                let (p, _) = self.func_type(type_index)?;
                self.simple(Op::ReturnCallIndirect { type_index, table: table_index }, p.len() + 1, &[])?;
                self.reachable = false;
            }
            O::Drop => {
                let t = self.pop1()?;
                self.emit(if t == V128 { Op::Drop2 } else { Op::Drop });
            }
            O::Select | O::TypedSelect { .. } => {
                self.pop(1)?;
                let t = self.pop1()?;
                self.pop(1)?;
                self.emit(if t == V128 { Op::Select2 } else { Op::Select });
                self.push(&[t]);
            }
            O::LocalGet { local_index } => {
                let t = self.local(local_index, Op::LocalGet, Op::LocalGet2)?;
                self.push(&[t]);
            }
            O::LocalSet { local_index } => {
                self.pop(1)?;
                self.local(local_index, Op::LocalSet, Op::LocalSet2)?;
                self.fuse_local_set(self.ops.len() - 1);
            }
            O::LocalTee { local_index } => {
                // A tee of a value an op on slots just computed is a `local.set` fused into
                // that op and a `local.get`, which the op consuming the value may absorb.
                let at = self.ops.len();
                let t = self.local(local_index, Op::LocalTee, Op::LocalTee2)?;
                if t != V128 {
                    self.pop(1)?;
                    if let Some(&Op::LocalTee(i)) = self.ops.get(at) {
                        self.ops[at] = Op::LocalSet(i);
                        self.fuse_local_set(at);
                        if self.ops.len() == at {
                            self.emit(Op::LocalGet(i));
                        } else {
                            self.ops[at] = Op::LocalTee(i);
                        }
                    }
                    self.push(&[t]);
                }
            }
            O::GlobalGet { global_index } => {
                let (w, t) = self.global_width(global_index)?;
                self.simple(Op::GlobalGet(global_index, w), 0, &[t])?;
            }
            O::GlobalSet { global_index } => {
                let (w, _) = self.global_width(global_index)?;
                self.simple(Op::GlobalSet(global_index, w), 1, &[])?;
            }
            O::I32Load { ref memarg } => self.load(memarg, LoadKind::I32, I32)?,
            O::F32Load { ref memarg } => self.load(memarg, LoadKind::I32, F32)?,
            O::I64Load { ref memarg } => self.load(memarg, LoadKind::I64, I64)?,
            O::F64Load { ref memarg } => self.load(memarg, LoadKind::I64, F64)?,
            O::I32Load8S { ref memarg } => self.load(memarg, LoadKind::I32S8, I32)?,
            O::I32Load8U { ref memarg } => self.load(memarg, LoadKind::I32U8, I32)?,
            O::I32Load16S { ref memarg } => self.load(memarg, LoadKind::I32S16, I32)?,
            O::I32Load16U { ref memarg } => self.load(memarg, LoadKind::I32U16, I32)?,
            O::I64Load8S { ref memarg } => self.load(memarg, LoadKind::I64S8, I64)?,
            O::I64Load8U { ref memarg } => self.load(memarg, LoadKind::I64U8, I64)?,
            O::I64Load16S { ref memarg } => self.load(memarg, LoadKind::I64S16, I64)?,
            O::I64Load16U { ref memarg } => self.load(memarg, LoadKind::I64U16, I64)?,
            O::I64Load32S { ref memarg } => self.load(memarg, LoadKind::I64S32, I64)?,
            O::I64Load32U { ref memarg } => self.load(memarg, LoadKind::I64U32, I64)?,
            O::I32Store { ref memarg } | O::F32Store { ref memarg } | O::I64Store32 { ref memarg } => {
                self.store(memarg, 4)?
            }
            O::I64Store { ref memarg } | O::F64Store { ref memarg } => self.store(memarg, 8)?,
            O::I32Store8 { ref memarg } | O::I64Store8 { ref memarg } => self.store(memarg, 1)?,
            O::I32Store16 { ref memarg } | O::I64Store16 { ref memarg } => self.store(memarg, 2)?,
            O::MemorySize { mem } => self.simple(Op::MemorySize(mem), 0, &[I32])?,
            O::MemoryGrow { mem } => self.simple(Op::MemoryGrow(mem), 1, &[I32])?,
            O::MemoryFill { mem } => self.simple(Op::MemoryFill(mem), 3, &[])?,
            O::MemoryCopy { dst_mem, src_mem } => self.simple(Op::MemoryCopy { dst: dst_mem, src: src_mem }, 3, &[])?,
            O::MemoryInit { data_index, mem } => self.simple(Op::MemoryInit { mem, data: data_index }, 3, &[])?,
            O::DataDrop { data_index } => self.simple(Op::DataDrop(data_index), 0, &[])?,
            O::I32Const { value } => self.simple(Op::Const(u64::from(value as u32)), 0, &[I32])?,
            O::I64Const { value } => self.simple(Op::Const(value as u64), 0, &[I64])?,
            O::F32Const { value } => self.simple(Op::Const(u64::from(value.bits())), 0, &[F32])?,
            O::F64Const { value } => self.simple(Op::Const(value.bits()), 0, &[F64])?,
            O::RefNull { hty } => {
                let t = if hty == wasmparser::HeapType::FUNC { ValType::FuncRef } else { ValType::ExternRef };
                self.simple(Op::Const(0), 0, &[t])?
            }
            O::RefFunc { function_index } => self.simple(Op::RefFunc(function_index), 0, &[ValType::FuncRef])?,
            O::TableGet { table } => {
                let t = self.table_type(table)?;
                self.simple(Op::TableGet(table), 1, &[t])?
            }
            O::TableSet { table } => self.simple(Op::TableSet(table), 2, &[])?,
            O::TableSize { table } => self.simple(Op::TableSize(table), 0, &[I32])?,
            O::TableGrow { table } => self.simple(Op::TableGrow(table), 2, &[I32])?,
            O::TableFill { table } => self.simple(Op::TableFill(table), 3, &[])?,
            O::TableCopy { dst_table, src_table } => {
                self.simple(Op::TableCopy { dst: dst_table, src: src_table }, 3, &[])?
            }
            O::TableInit { elem_index, table } => self.simple(Op::TableInit { table, elem: elem_index }, 3, &[])?,
            O::ElemDrop { elem_index } => self.simple(Op::ElemDrop(elem_index), 0, &[])?,
            O::V128Const { value } => {
                let at = u32::try_from(self.v128s.len()).map_err(|_| self.err("too many v128 constants"))?;
                self.v128s.push(value.i128() as u128);
                self.simple(Op::ConstV(at), 0, &[V128])?
            }
            O::V128Load { ref memarg } => self.load_v(memarg, VLoad::Full)?,
            O::V128Load8x8S { ref memarg } => self.load_v(memarg, VLoad::Extend { lane_bytes: 1, signed: true })?,
            O::V128Load8x8U { ref memarg } => self.load_v(memarg, VLoad::Extend { lane_bytes: 1, signed: false })?,
            O::V128Load16x4S { ref memarg } => self.load_v(memarg, VLoad::Extend { lane_bytes: 2, signed: true })?,
            O::V128Load16x4U { ref memarg } => self.load_v(memarg, VLoad::Extend { lane_bytes: 2, signed: false })?,
            O::V128Load32x2S { ref memarg } => self.load_v(memarg, VLoad::Extend { lane_bytes: 4, signed: true })?,
            O::V128Load32x2U { ref memarg } => self.load_v(memarg, VLoad::Extend { lane_bytes: 4, signed: false })?,
            O::V128Load8Splat { ref memarg } => self.load_v(memarg, VLoad::Splat(1))?,
            O::V128Load16Splat { ref memarg } => self.load_v(memarg, VLoad::Splat(2))?,
            O::V128Load32Splat { ref memarg } => self.load_v(memarg, VLoad::Splat(4))?,
            O::V128Load64Splat { ref memarg } => self.load_v(memarg, VLoad::Splat(8))?,
            O::V128Load32Zero { ref memarg } => self.load_v(memarg, VLoad::Zero(4))?,
            O::V128Load64Zero { ref memarg } => self.load_v(memarg, VLoad::Zero(8))?,
            O::V128Store { ref memarg } => {
                let (mem, offset) = self.memarg(memarg)?;
                self.simple(Op::StoreV { mem, offset }, 2, &[])?
            }
            O::V128Load8Lane { ref memarg, lane } => self.lane(memarg, 1, lane, true)?,
            O::V128Load16Lane { ref memarg, lane } => self.lane(memarg, 2, lane, true)?,
            O::V128Load32Lane { ref memarg, lane } => self.lane(memarg, 4, lane, true)?,
            O::V128Load64Lane { ref memarg, lane } => self.lane(memarg, 8, lane, true)?,
            O::V128Store8Lane { ref memarg, lane } => self.lane(memarg, 1, lane, false)?,
            O::V128Store16Lane { ref memarg, lane } => self.lane(memarg, 2, lane, false)?,
            O::V128Store32Lane { ref memarg, lane } => self.lane(memarg, 4, lane, false)?,
            O::V128Store64Lane { ref memarg, lane } => self.lane(memarg, 8, lane, false)?,
            ref other => {
                let name = format!("{other:?}");
                let name = name.split([' ', '{', '(']).next().unwrap_or("operator").to_string();
                let what = if is_simd(other) {
                    format!("the SIMD instruction {name}")
                } else {
                    format!("the instruction {name}")
                };
                return Err(unsupported(what, Some(self.func_index)));
            }
        }
        Ok(())
    }

    /// A SIMD lane operator: what it pops and pushes follows its arity.
    fn simd_op(&mut self, s: SimdOp) -> Result<(), CompileError> {
        let at = u32::try_from(self.simd.len()).map_err(|_| self.err("too many SIMD operators"))?;
        self.simd.push(s);
        let arity = s.arity();
        let scalar = s.scalar_type().unwrap_or(ValType::I32);
        let (pops, result) = match arity {
            SimdArity::Unary | SimdArity::Splat => (1, ValType::V128),
            SimdArity::Binary | SimdArity::WithScalar => (2, ValType::V128),
            SimdArity::Ternary => (3, ValType::V128),
            SimdArity::Reduce => (1, scalar),
        };
        self.simple(Op::Simd(at, arity), pops, &[result])
    }
}
