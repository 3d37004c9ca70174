//! Translation of one validated function body into the internal form ([`crate::code`]).
//!
//! One pass over the operators: the translator tracks the operand-stack height (every value is
//! one cell) and the control stack, resolves each branch to a target and a [`DropKeep`], patches
//! forward branches at their block's `end`, and drops code that cannot run (as the JIT does).
//! When metered or counting operators, each segment `wes_meter::function_segments` starts at a
//! reachable operator gets a [`Op::Charge`] of its cost (0 when unmetered) and its operators
//! (0 when not counting) in front of that operator's code: a branch to a block's
//! end lands after the charge of a segment starting at that `end`, exactly where the JIT's
//! branches land, so the same segments are paid for on every path.

use wasmparser::{BinaryReader, BlockType, FunctionBody, Operator};
use wes_core::{CompileError, Module, ValType};
use wes_meter::{FunctionSegments, Pricing};

use crate::code::{Code, DropKeep, LoadKind, Op, RETURN, Target, Width};
use crate::num::NumOp;

fn unsupported(what: impl Into<String>, func_index: Option<u32>) -> CompileError {
    CompileError::Unsupported { backend: "interp", what: what.into(), func_index }
}

/// Refuses what no function of `module` can use here: the v128 type in signatures and
/// globals.
pub(crate) fn check_module(module: &Module) -> Result<(), CompileError> {
    let v128 = |ts: &[ValType]| ts.contains(&ValType::V128);
    if module.types.iter().any(|t| v128(t.params()) || v128(t.results()))
        || module.globals.iter().any(|g| g.content == ValType::V128)
    {
        return Err(unsupported("the v128 type", None));
    }
    Ok(())
}

macro_rules! simd_check {
    ($( @$proposal:ident $op:ident $({ $($arg:ident: $argty:ty),* })? => $visit:ident ($($ann:tt)*))*) => {
        /// Whether `op` is a SIMD operator (of the `simd` or `relaxed_simd` proposals).
        fn is_simd(op: &Operator<'_>) -> bool {
            match op {
                $( Operator::$op $( { $($arg: _),* } )? => simd_check!(one @$proposal), )*
                _ => false,
            }
        }
    };
    (one @simd) => { true };
    (one @relaxed_simd) => { true };
    (one @$proposal:ident) => { false };
}
wasmparser::for_each_operator!(simd_check);

/// What translating defined function `defined_index` would refuse, found without translating:
/// SIMD operators and v128 locals (until the SIMD lanes are wired in).
pub(crate) fn check_body(module: &Module, defined_index: u32) -> Result<(), CompileError> {
    let func_index = module.num_imported_functions + defined_index;
    let (reader, _) = body_reader(module, defined_index)?;
    let codegen = |e: wasmparser::BinaryReaderError| CompileError::Codegen { func_index, message: e.to_string() };
    for local in reader.get_locals_reader().map_err(codegen)? {
        let (_, t) = local.map_err(codegen)?;
        val_type(t, func_index)?;
    }
    let mut ops = reader.get_operators_reader().map_err(codegen)?;
    while !ops.eof() {
        let op = ops.read().map_err(codegen)?;
        if is_simd(&op) {
            return Err(unsupported("SIMD instructions", Some(func_index)));
        }
    }
    Ok(())
}

fn body_reader(module: &Module, defined_index: u32) -> Result<(FunctionBody<'_>, u32), CompileError> {
    let func_index = module.num_imported_functions + defined_index;
    let body = module
        .bodies
        .get(defined_index as usize)
        .ok_or_else(|| CompileError::Codegen { func_index, message: "no body for this function".into() })?;
    let bytes = module.bytes.get(body.range.clone()).ok_or_else(|| CompileError::Codegen {
        func_index,
        message: "function body outside the module bytes".into(),
    })?;
    Ok((FunctionBody::new(BinaryReader::new(bytes, body.range.start as u64)), body.type_index))
}

fn val_type(t: wasmparser::ValType, func_index: u32) -> Result<ValType, CompileError> {
    Ok(match t {
        wasmparser::ValType::I32 => ValType::I32,
        wasmparser::ValType::I64 => ValType::I64,
        wasmparser::ValType::F32 => ValType::F32,
        wasmparser::ValType::F64 => ValType::F64,
        wasmparser::ValType::V128 => return Err(unsupported("the v128 type", Some(func_index))),
        wasmparser::ValType::Ref(r) if r == wasmparser::RefType::FUNCREF => ValType::FuncRef,
        wasmparser::ValType::Ref(r) if r == wasmparser::RefType::EXTERNREF => ValType::ExternRef,
        wasmparser::ValType::Ref(r) => return Err(unsupported(format!("reference type {r}"), Some(func_index))),
    })
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    Func,
    Block,
    Loop,
    If,
}

/// A place holding a forward branch target, patched at the block's `end`.
#[derive(Clone, Copy, Debug)]
enum Patch {
    Op(usize),
    Table(usize),
}

#[derive(Debug)]
struct Ctrl {
    kind: Kind,
    /// Operand-stack height below the block's parameters.
    height: u32,
    params: u32,
    results: u32,
    /// For a loop: where its branches go.
    loop_pc: u32,
    patches: Vec<Patch>,
    /// For an `if` before its `else`: the `BrIfEqz` to point at the else branch.
    else_patch: Option<usize>,
}

struct Translator<'m> {
    module: &'m Module,
    func_index: u32,
    ops: Vec<Op>,
    offsets: Vec<u32>,
    tables: Vec<Target>,
    ctrl: Vec<Ctrl>,
    height: u32,
    max_height: u32,
    reachable: bool,
    unreachable_depth: u32,
    offset: u32,
}

/// Translates defined function `defined_index` of `module`, with gas charges and operator counts
/// as `shared` says.
pub(crate) fn translate(module: &Module, defined_index: u32, shared: &crate::Shared) -> Result<Code, CompileError> {
    let pricing: Option<&Pricing> = shared.segment_pricing.as_deref();
    let func_index = module.num_imported_functions + defined_index;
    let (reader, type_index) = body_reader(module, defined_index)?;
    let codegen = |e: wasmparser::BinaryReaderError| CompileError::Codegen { func_index, message: e.to_string() };
    let ty = module
        .types
        .get(type_index as usize)
        .ok_or_else(|| CompileError::Codegen { func_index, message: "function type out of range".into() })?;
    let body_offset = u32::try_from(reader.range().start).unwrap_or(u32::MAX);
    let mut num_locals: u32 = 0;
    for local in reader.get_locals_reader().map_err(codegen)? {
        let (count, t) = local.map_err(codegen)?;
        val_type(t, func_index)?;
        num_locals = num_locals.saturating_add(count);
    }
    let segments: Option<FunctionSegments> = match pricing {
        Some(p) => {
            let range = reader.range();
            let bytes = module.bytes.get(range.start as usize..range.end as usize).ok_or_else(|| {
                CompileError::Codegen { func_index, message: "function body outside the module bytes".into() }
            })?;
            Some(wes_meter::function_segments(bytes, range.start, p).map_err(codegen)?)
        }
        None => None,
    };
    let results = u32::try_from(ty.results().len()).unwrap_or(u32::MAX);
    let mut t = Translator {
        module,
        func_index,
        ops: Vec::new(),
        offsets: Vec::new(),
        tables: Vec::new(),
        ctrl: vec![Ctrl {
            kind: Kind::Func,
            height: 0,
            params: 0,
            results,
            loop_pc: 0,
            patches: Vec::new(),
            else_patch: None,
        }],
        height: 0,
        max_height: 0,
        reachable: true,
        unreachable_depth: 0,
        offset: body_offset,
    };
    let mut ops = reader.get_operators_reader().map_err(codegen)?;
    while !ops.eof() {
        let (op, offset) = ops.read_with_offset().map_err(codegen)?;
        t.offset = u32::try_from(offset).unwrap_or(u32::MAX);
        if t.reachable
            && let Some(seg) = segments.as_ref().and_then(|s| s.at(offset))
        {
            let cost = if shared.metered { seg.cost } else { 0 };
            // A body has fewer operators than bytes, and a module fewer than 2^32 bytes.
            let ops = if shared.count_operators { u32::try_from(seg.ops).unwrap_or(u32::MAX) } else { 0 };
            if cost > 0 || ops > 0 {
                t.emit(Op::Charge { cost, ops });
            }
        }
        t.operator(&op)?;
        if t.ctrl.is_empty() {
            break;
        }
    }
    if !t.ctrl.is_empty() {
        return Err(t.err("body ends inside a block"));
    }
    Ok(Code {
        func_index,
        body_offset,
        params: ty.params().to_vec(),
        num_results: results,
        num_locals,
        max_height: t.max_height,
        ops: t.ops,
        offsets: t.offsets,
        tables: t.tables,
    })
}

impl Translator<'_> {
    fn err(&self, message: impl Into<String>) -> CompileError {
        CompileError::Codegen { func_index: self.func_index, message: message.into() }
    }

    fn emit(&mut self, op: Op) -> usize {
        self.ops.push(op);
        self.offsets.push(self.offset);
        self.ops.len() - 1
    }

    fn pc(&self) -> u32 {
        u32::try_from(self.ops.len()).unwrap_or(u32::MAX)
    }

    fn pop(&mut self, n: u32) -> Result<(), CompileError> {
        self.height = self.height.checked_sub(n).ok_or_else(|| self.err("operand stack underflow"))?;
        Ok(())
    }

    fn push(&mut self, n: u32) {
        self.height = self.height.saturating_add(n);
        self.max_height = self.max_height.max(self.height);
    }

    fn block_sig(&self, bt: BlockType) -> Result<(u32, u32), CompileError> {
        Ok(match bt {
            BlockType::Empty => (0, 0),
            BlockType::Type(t) => {
                val_type(t, self.func_index)?;
                (0, 1)
            }
            BlockType::FuncType(i) => {
                let ft = self.module.types.get(i as usize).ok_or_else(|| self.err("block type out of range"))?;
                (ft.params().len() as u32, ft.results().len() as u32)
            }
        })
    }

    fn func_type(&self, type_index: u32) -> Result<(u32, u32), CompileError> {
        let ft = self.module.types.get(type_index as usize).ok_or_else(|| self.err("type index out of range"))?;
        Ok((ft.params().len() as u32, ft.results().len() as u32))
    }

    fn func_sig(&self, function_index: u32) -> Result<(u32, u32), CompileError> {
        let ti =
            *self.module.functions.get(function_index as usize).ok_or_else(|| self.err("function out of range"))?;
        self.func_type(ti)
    }

    /// The target of a branch `depth` levels out from the current height, and where to record
    /// it for patching (`None` when it is already known).
    fn target(&mut self, depth: u32) -> Result<(Target, Option<usize>), CompileError> {
        let i = self.ctrl.len().checked_sub(1 + depth as usize).ok_or_else(|| self.err("branch depth out of range"))?;
        let c = &self.ctrl[i];
        let keep = if c.kind == Kind::Loop { c.params } else { c.results };
        let drop = self
            .height
            .checked_sub(c.height)
            .and_then(|h| h.checked_sub(keep))
            .ok_or_else(|| self.err("branch below its block"))?;
        let dk = DropKeep { drop, keep };
        Ok(match c.kind {
            Kind::Func => (Target { pc: RETURN, dk }, None),
            Kind::Loop => (Target { pc: c.loop_pc, dk }, None),
            Kind::Block | Kind::If => (Target { pc: RETURN, dk }, Some(i)),
        })
    }

    fn memarg(&self, m: &wasmparser::MemArg) -> Result<(u32, u64), CompileError> {
        match m.target {
            wasmparser::MemArgTarget::Memory(mem) => Ok((mem, m.offset)),
            wasmparser::MemArgTarget::Array(_) => Err(unsupported("GC array accesses", Some(self.func_index))),
        }
    }

    fn load(&mut self, m: &wasmparser::MemArg, kind: LoadKind) -> Result<(), CompileError> {
        let (mem, offset) = self.memarg(m)?;
        self.pop(1)?;
        self.emit(Op::Load { kind, mem, offset });
        self.push(1);
        Ok(())
    }

    fn store(&mut self, m: &wasmparser::MemArg, size: u8) -> Result<(), CompileError> {
        let (mem, offset) = self.memarg(m)?;
        self.pop(2)?;
        self.emit(Op::Store { size, mem, offset });
        Ok(())
    }

    fn simple(&mut self, op: Op, pops: u32, pushes: u32) -> Result<(), CompileError> {
        self.pop(pops)?;
        self.emit(op);
        self.push(pushes);
        Ok(())
    }

    fn global_width(&self, global_index: u32) -> Result<Width, CompileError> {
        let g = self.module.globals.get(global_index as usize).ok_or_else(|| self.err("global out of range"))?;
        Ok(match g.content {
            ValType::I32 | ValType::F32 => Width::W32,
            ValType::I64 | ValType::F64 | ValType::FuncRef | ValType::ExternRef => Width::W64,
            ValType::V128 => return Err(unsupported("the v128 type", Some(self.func_index))),
        })
    }

    fn operator(&mut self, op: &Operator<'_>) -> Result<(), CompileError> {
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
        if let Some(n) = NumOp::from_operator(op) {
            return self.simple(Op::Num(n), n.arity(), 1);
        }
        match *op {
            O::Unreachable => {
                self.emit(Op::Unreachable);
                self.reachable = false;
            }
            O::Nop => {}
            O::Block { blockty } => {
                let (p, r) = self.block_sig(blockty)?;
                let height = self.height.checked_sub(p).ok_or_else(|| self.err("operand stack underflow"))?;
                self.ctrl.push(Ctrl {
                    kind: Kind::Block,
                    height,
                    params: p,
                    results: r,
                    loop_pc: 0,
                    patches: Vec::new(),
                    else_patch: None,
                });
            }
            O::Loop { blockty } => {
                let (p, r) = self.block_sig(blockty)?;
                let height = self.height.checked_sub(p).ok_or_else(|| self.err("operand stack underflow"))?;
                let loop_pc = self.pc();
                self.ctrl.push(Ctrl {
                    kind: Kind::Loop,
                    height,
                    params: p,
                    results: r,
                    loop_pc,
                    patches: Vec::new(),
                    else_patch: None,
                });
            }
            O::If { blockty } => {
                self.pop(1)?;
                let (p, r) = self.block_sig(blockty)?;
                let height = self.height.checked_sub(p).ok_or_else(|| self.err("operand stack underflow"))?;
                let at = self.emit(Op::BrIfEqz(RETURN));
                self.ctrl.push(Ctrl {
                    kind: Kind::If,
                    height,
                    params: p,
                    results: r,
                    loop_pc: 0,
                    patches: Vec::new(),
                    else_patch: Some(at),
                });
            }
            O::Else => {
                let reachable = self.reachable;
                let pc_after_jump = self.pc() + u32::from(reachable);
                let c = self.ctrl.last_mut().ok_or_else(|| CompileError::Codegen {
                    func_index: self.func_index,
                    message: "`else` without `if`".into(),
                })?;
                let else_at = c.else_patch.take();
                let (height, params, results) = (c.height, c.params, c.results);
                if reachable {
                    let at = self.ops.len();
                    c.patches.push(Patch::Op(at));
                    self.emit(Op::Br(Target { pc: RETURN, dk: DropKeep { drop: 0, keep: results } }));
                }
                if let Some(at) = else_at
                    && let Some(Op::BrIfEqz(pc)) = self.ops.get_mut(at)
                {
                    *pc = pc_after_jump;
                }
                self.height = height + params;
                self.max_height = self.max_height.max(self.height);
                self.reachable = true;
            }
            O::End => {
                let c = self.ctrl.pop().ok_or_else(|| self.err("`end` without a block"))?;
                if c.kind == Kind::Func {
                    if self.reachable {
                        self.emit(Op::Return);
                    }
                    return Ok(());
                }
                let end = self.pc();
                let reached = self.reachable || !c.patches.is_empty() || c.else_patch.is_some();
                if let Some(at) = c.else_patch
                    && let Some(Op::BrIfEqz(pc)) = self.ops.get_mut(at)
                {
                    *pc = end;
                }
                for p in &c.patches {
                    match *p {
                        Patch::Op(at) => match self.ops.get_mut(at) {
                            Some(Op::Br(t) | Op::BrIf(t)) => t.pc = end,
                            _ => return Err(self.err("patched op is not a branch")),
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
                self.height = c.height + c.results;
                self.max_height = self.max_height.max(self.height);
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
                let (target, patch) = self.target(relative_depth)?;
                let at = self.emit(Op::BrIf(target));
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
                self.emit(Op::Return);
                self.reachable = false;
            }
            O::Call { function_index } => {
                let (p, r) = self.func_sig(function_index)?;
                self.simple(Op::Call(function_index), p, r)?;
            }
            O::CallIndirect { type_index, table_index } => {
                let (p, r) = self.func_type(type_index)?;
                self.simple(Op::CallIndirect { type_index, table: table_index }, p + 1, r)?;
            }
            O::ReturnCall { function_index } => {
                let (p, _) = self.func_sig(function_index)?;
                self.simple(Op::ReturnCall(function_index), p, 0)?;
                self.reachable = false;
            }
            O::ReturnCallIndirect { type_index, table_index } => {
                let (p, _) = self.func_type(type_index)?;
                self.simple(Op::ReturnCallIndirect { type_index, table: table_index }, p + 1, 0)?;
                self.reachable = false;
            }
            O::Drop => self.simple(Op::Drop, 1, 0)?,
            O::Select => self.simple(Op::Select, 3, 1)?,
            O::TypedSelect { ty } => {
                val_type(ty, self.func_index)?;
                self.simple(Op::Select, 3, 1)?;
            }
            O::LocalGet { local_index } => self.simple(Op::LocalGet(local_index), 0, 1)?,
            O::LocalSet { local_index } => self.simple(Op::LocalSet(local_index), 1, 0)?,
            O::LocalTee { local_index } => self.simple(Op::LocalTee(local_index), 1, 1)?,
            O::GlobalGet { global_index } => {
                let w = self.global_width(global_index)?;
                self.simple(Op::GlobalGet(global_index, w), 0, 1)?;
            }
            O::GlobalSet { global_index } => {
                let w = self.global_width(global_index)?;
                self.simple(Op::GlobalSet(global_index, w), 1, 0)?;
            }
            O::I32Load { ref memarg } | O::F32Load { ref memarg } => self.load(memarg, LoadKind::I32)?,
            O::I64Load { ref memarg } | O::F64Load { ref memarg } => self.load(memarg, LoadKind::I64)?,
            O::I32Load8S { ref memarg } => self.load(memarg, LoadKind::I32S8)?,
            O::I32Load8U { ref memarg } => self.load(memarg, LoadKind::I32U8)?,
            O::I32Load16S { ref memarg } => self.load(memarg, LoadKind::I32S16)?,
            O::I32Load16U { ref memarg } => self.load(memarg, LoadKind::I32U16)?,
            O::I64Load8S { ref memarg } => self.load(memarg, LoadKind::I64S8)?,
            O::I64Load8U { ref memarg } => self.load(memarg, LoadKind::I64U8)?,
            O::I64Load16S { ref memarg } => self.load(memarg, LoadKind::I64S16)?,
            O::I64Load16U { ref memarg } => self.load(memarg, LoadKind::I64U16)?,
            O::I64Load32S { ref memarg } => self.load(memarg, LoadKind::I64S32)?,
            O::I64Load32U { ref memarg } => self.load(memarg, LoadKind::I64U32)?,
            O::I32Store { ref memarg } | O::F32Store { ref memarg } | O::I64Store32 { ref memarg } => {
                self.store(memarg, 4)?
            }
            O::I64Store { ref memarg } | O::F64Store { ref memarg } => self.store(memarg, 8)?,
            O::I32Store8 { ref memarg } | O::I64Store8 { ref memarg } => self.store(memarg, 1)?,
            O::I32Store16 { ref memarg } | O::I64Store16 { ref memarg } => self.store(memarg, 2)?,
            O::MemorySize { mem } => self.simple(Op::MemorySize(mem), 0, 1)?,
            O::MemoryGrow { mem } => self.simple(Op::MemoryGrow(mem), 1, 1)?,
            O::MemoryFill { mem } => self.simple(Op::MemoryFill(mem), 3, 0)?,
            O::MemoryCopy { dst_mem, src_mem } => self.simple(Op::MemoryCopy { dst: dst_mem, src: src_mem }, 3, 0)?,
            O::MemoryInit { data_index, mem } => self.simple(Op::MemoryInit { mem, data: data_index }, 3, 0)?,
            O::DataDrop { data_index } => self.simple(Op::DataDrop(data_index), 0, 0)?,
            O::I32Const { value } => self.simple(Op::Const(u64::from(value as u32)), 0, 1)?,
            O::I64Const { value } => self.simple(Op::Const(value as u64), 0, 1)?,
            O::F32Const { value } => self.simple(Op::Const(u64::from(value.bits())), 0, 1)?,
            O::F64Const { value } => self.simple(Op::Const(value.bits()), 0, 1)?,
            O::RefNull { .. } => self.simple(Op::Const(0), 0, 1)?,
            O::RefFunc { function_index } => self.simple(Op::RefFunc(function_index), 0, 1)?,
            O::TableGet { table } => self.simple(Op::TableGet(table), 1, 1)?,
            O::TableSet { table } => self.simple(Op::TableSet(table), 2, 0)?,
            O::TableSize { table } => self.simple(Op::TableSize(table), 0, 1)?,
            O::TableGrow { table } => self.simple(Op::TableGrow(table), 2, 1)?,
            O::TableFill { table } => self.simple(Op::TableFill(table), 3, 0)?,
            O::TableCopy { dst_table, src_table } => {
                self.simple(Op::TableCopy { dst: dst_table, src: src_table }, 3, 0)?
            }
            O::TableInit { elem_index, table } => self.simple(Op::TableInit { table, elem: elem_index }, 3, 0)?,
            O::ElemDrop { elem_index } => self.simple(Op::ElemDrop(elem_index), 0, 0)?,
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
}
