//! Translation of one validated function body into the internal form ([`crate::code`]).
//!
//! One pass over the operators: the translator tracks the operand stack's types (so it knows
//! how many cells each value takes: two for a `v128`, one otherwise) and the control stack, resolves each branch to a target and a [`DropKeep`], patches
//! forward branches at their block's `end`, and drops code that cannot run (as the JIT does).
//! When metered or counting operators, the same pass cuts the segments
//! (`wes_meter::SegmentCutter`, which `wes_meter::function_segments` is built on): each that
//! starts at a reachable operator gets a [`Op::Charge`] of its cost (0 when unmetered) and its
//! operators (0 when not counting) in front of that operator's code, filled in when the
//! segment's last operator has been read; a branch to a block's
//! end lands after the charge of a segment starting at that `end`, exactly where the JIT's
//! branches land, so the same segments are paid for on every path.

use wasmparser::{BinaryReader, BlockType, FunctionBody};
use wes_core::{CompileError, Module, ValType};
use wes_meter::{Chains, PlanBuilder, Pricing, Segment, SegmentCutter};

mod check;
mod fuse;
mod operator;

pub(crate) use self::check::{check_body, check_module};

use crate::code::{Code, DropKeep, Op, RETURN, Slot, Target, VLoad, Width, cells};
use crate::simd::SimdOp;

fn unsupported(what: impl Into<String>, func_index: Option<u32>) -> CompileError {
    CompileError::Unsupported { backend: "interp", what: what.into(), func_index }
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

/// Each value type as a one-element slice: a block's single result type without an allocation.
fn one(t: ValType) -> &'static [ValType] {
    match t {
        ValType::I32 => &[ValType::I32],
        ValType::I64 => &[ValType::I64],
        ValType::F32 => &[ValType::F32],
        ValType::F64 => &[ValType::F64],
        ValType::V128 => &[ValType::V128],
        ValType::FuncRef => &[ValType::FuncRef],
        ValType::ExternRef => &[ValType::ExternRef],
    }
}

fn val_type(t: wasmparser::ValType, func_index: u32) -> Result<ValType, CompileError> {
    Ok(match t {
        wasmparser::ValType::I32 => ValType::I32,
        wasmparser::ValType::I64 => ValType::I64,
        wasmparser::ValType::F32 => ValType::F32,
        wasmparser::ValType::F64 => ValType::F64,
        wasmparser::ValType::V128 => ValType::V128,
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
/// A block's signature as slices of the module's types (or [`one`]'s): no allocation per
/// block or call.
struct Ctrl<'m> {
    kind: Kind,
    /// Operand-stack height in cells below the block's parameters.
    height: u32,
    /// Operand-stack depth in values below the block's parameters.
    depth: usize,
    params: &'m [ValType],
    results: &'m [ValType],
    /// For a loop: where its branches go.
    loop_pc: u32,
    patches: Vec<Patch>,
    /// For an `if` before its `else`: the `BrIfEqz` to point at the else branch.
    else_patch: Option<usize>,
}

struct Translator<'m> {
    module: &'m Module,
    func_index: u32,
    /// The body has a SIMD operator (measured by the decoder): only then is an operator
    /// worth trying as a [`SimdOp`].
    uses_simd: bool,
    ops: Vec<Op>,
    offsets: Vec<u32>,
    tables: Vec<Target>,
    v128s: Vec<u128>,
    simd: Vec<SimdOp>,
    ctrl: Vec<Ctrl<'m>>,
    /// The types on the operand stack.
    types: Vec<ValType>,
    /// Cells on the operand stack.
    height: u32,
    /// The cell index of each local.
    local_at: Vec<(u32, ValType)>,
    max_height: u32,
    reachable: bool,
    unreachable_depth: u32,
    /// The slot of the operand stack's first cell: the cells of the parameters and locals.
    stack_base: u32,
    /// Ops before this index are never fused with later ones: a branch may target it.
    fence: usize,
    /// An op reaching memory 0 through the loop's cached definition was emitted.
    mem0: bool,
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
    let mut local_at = Vec::new();
    let mut at: u32 = 0;
    for p in ty.params() {
        local_at.push((at, *p));
        at = at.saturating_add(cells(*p));
    }
    let param_cells = at;
    for local in reader.get_locals_reader().map_err(codegen)? {
        let (count, t) = local.map_err(codegen)?;
        let t = val_type(t, func_index)?;
        for _ in 0..count {
            local_at.push((at, t));
            at = at
                .checked_add(cells(t))
                .ok_or_else(|| CompileError::Codegen { func_index, message: "too many locals".into() })?;
        }
    }
    let mut t = Translator {
        module,
        func_index,
        uses_simd: module.bodies.get(defined_index as usize).is_none_or(|b| b.shape.uses_simd),
        ops: Vec::new(),
        offsets: Vec::new(),
        tables: Vec::new(),
        v128s: Vec::new(),
        simd: Vec::new(),
        ctrl: vec![Ctrl {
            kind: Kind::Func,
            height: 0,
            depth: 0,
            params: &[],
            results: ty.results(),
            loop_pc: 0,
            patches: Vec::new(),
            else_patch: None,
        }],
        types: Vec::new(),
        height: 0,
        local_at,
        stack_base: at,
        max_height: 0,
        reachable: true,
        unreachable_depth: 0,
        fence: 0,
        mem0: false,
        offset: body_offset,
    };
    // An operator takes two or three bytes of the body on average: room for that many ops up
    // front spares the vectors' repeated growth (a tenth of a translation's instructions), and
    // the excess is given back once the body is done. Capped, so a body of few long operators
    // cannot make it reserve far more than it needs; past the cap the vectors grow as usual.
    let body = reader.range();
    let expected = usize::try_from(body.end.saturating_sub(body.start) / 2).unwrap_or(0).min(1 << 16);
    t.ops.reserve(expected);
    t.offsets.reserve(expected);
    let mut ops = reader.get_operators_reader().map_err(codegen)?;
    // Segments are cut as the operators are read (the same cut `wes_meter::function_segments`
    // makes): a reachable segment gets a charge in front of its first operator's code, whose
    // figures are filled in when the segment's last operator has been read.
    let mut cutter = SegmentCutter::new();
    let mut charge: Option<usize> = None;
    // With merged checks, the segment graph is built in the same pass, and each segment's
    // charge (if it was emitted) noted, for `Code::merge_charges`.
    let mut plan = (pricing.is_some() && shared.merge_gas_checks).then(PlanScratch::take);
    while !ops.eof() {
        // The position, then `read`: the same as `read_with_offset`, whose result moved through
        // two more `Result`s (its own and `map_err`'s) made this loop a third slower (the
        // eager translation of a 588 KiB module: 17.8 ms against 12.2 ms).
        let offset = ops.original_position();
        let op = match ops.read() {
            Ok(op) => op,
            Err(e) => return Err(codegen(e)),
        };
        t.offset = u32::try_from(offset).unwrap_or(u32::MAX);
        let ended = match pricing {
            Some(p) => {
                if cutter.at_start() {
                    charge = t.reachable.then(|| t.emit(Op::Charge { cost: 0, chain: 0 }));
                }
                let ended = cutter.push(&op, offset, p);
                if let Some(plan) = &mut plan {
                    plan.builder.push(&op, ended.is_some());
                }
                ended
            }
            None => None,
        };
        t.operator(&op)?;
        if let Some(seg) = ended {
            t.settle_charge(charge, &seg, shared)?;
            if let Some(plan) = &mut plan {
                plan.segments.push(seg);
                plan.at.push(charge);
            }
            charge = None;
        }
        if t.ctrl.is_empty() {
            break;
        }
    }
    if let Some(seg) = cutter.finish() {
        t.settle_charge(charge, &seg, shared)?;
        if let Some(plan) = &mut plan {
            plan.segments.push(seg);
            plan.at.push(charge);
        }
    }
    if !t.ctrl.is_empty() {
        return Err(t.err("body ends inside a block"));
    }
    let mut code = Code {
        func_index,
        body_offset,
        params: ty.params().to_vec(),
        results: ty.results().to_vec(),
        param_cells,
        result_cells: ty.results().iter().map(|r| cells(*r)).sum(),
        local_cells: at - param_cells,
        max_height: t.max_height,
        ops: t.ops,
        slots: Box::new([]),
        offsets: t.offsets,
        tables: t.tables,
        v128s: t.v128s,
        simd: t.simd,
        chains: Vec::new(),
        links: Vec::new(),
        mem0: t.mem0,
        canon: shared.nan_canonicalization,
    };
    if let Some(mut plan) = plan {
        plan.builder.chains_into(&plan.segments, &mut plan.chains);
        let (metered, counting) = (shared.metered, shared.count_operators);
        code.merge_charges(&plan.chains, &plan.segments, &plan.at, metered, counting, &mut plan.absorbed)
            .map_err(|message| CompileError::Codegen { func_index, message })?;
        plan.put_back();
    }
    code.seal().map_err(|message| CompileError::Codegen { func_index, message })?;
    code.slots = code.ops.iter().map(|op| Slot { run: crate::exec::handler_address(op), op: *op }).collect();
    code.ops = Vec::new();
    code.offsets.shrink_to_fit();
    Ok(code)
}

/// The merged-check planner's memory (`wes_meter::PlanBuilder`, its result, the segments
/// and where their charges are), kept by each thread for the next function it translates:
/// planned afresh, a function took a dozen allocations, a sixth of a metered lazy translation.
struct PlanScratch {
    builder: PlanBuilder,
    chains: Chains,
    segments: Vec<Segment>,
    /// Per segment: the op of its charge, if one was emitted (the segment is reachable).
    at: Vec<Option<usize>>,
    /// The charges the plan absorbs.
    absorbed: Vec<usize>,
}

thread_local! {
    static PLAN_SCRATCH: std::cell::Cell<Option<Box<PlanScratch>>> = const { std::cell::Cell::new(None) };
}

impl PlanScratch {
    /// The thread's scratch, emptied, or a new one (a translation inside a translation, or a
    /// thread's first).
    fn take() -> Box<PlanScratch> {
        match PLAN_SCRATCH.with(std::cell::Cell::take) {
            Some(mut s) => {
                s.builder.clear();
                s.segments.clear();
                s.at.clear();
                s
            }
            None => Box::new(PlanScratch {
                builder: PlanBuilder::new(),
                chains: Chains::default(),
                segments: Vec::new(),
                at: Vec::new(),
                absorbed: Vec::new(),
            }),
        }
    }

    /// Keeps this scratch for the thread's next translation, unless a body far larger than
    /// most made it big (its memory is then given back).
    fn put_back(self: Box<Self>) {
        if self.segments.capacity() <= 1 << 14 {
            PLAN_SCRATCH.with(|s| s.set(Some(self)));
        }
    }
}

impl<'m> Translator<'m> {
    fn err(&self, message: impl Into<String>) -> CompileError {
        CompileError::Codegen { func_index: self.func_index, message: message.into() }
    }

    /// Fills in the charge emitted for segment `seg` (at `at`, if it was reachable): its cost
    /// when metered, its operators when counting. A segment that charges neither keeps a
    /// charge of nothing, which cannot fail and changes no count. No fusion moves or removes
    /// a charge (none matches one); if one ever did, the body is refused rather than run
    /// with a segment unpaid.
    fn settle_charge(
        &mut self,
        at: Option<usize>,
        seg: &wes_meter::Segment,
        shared: &crate::Shared,
    ) -> Result<(), CompileError> {
        let Some(at) = at else { return Ok(()) };
        let cost = if shared.metered { seg.cost } else { 0 };
        // A body has fewer operators than bytes, and a module fewer than 2^32 bytes.
        let ops = if shared.count_operators { u32::try_from(seg.ops).unwrap_or(u32::MAX) } else { 0 };
        match self.ops.get_mut(at) {
            Some(op @ Op::Charge { .. }) => {
                *op = if ops == 0 { Op::Charge { cost, chain: 0 } } else { Op::ChargeCount { cost, ops, chain: 0 } };
                Ok(())
            }
            _ => Err(self.err(format!("the charge of the segment at {} moved", seg.start))),
        }
    }

    fn emit(&mut self, op: Op) -> usize {
        self.ops.push(op);
        self.offsets.push(self.offset);
        self.ops.len() - 1
    }

    /// The pc of the next op, which a branch may target: no op before it is fused with ops
    /// after it.
    fn pc(&mut self) -> u32 {
        self.fence = self.ops.len();
        u32::try_from(self.ops.len()).unwrap_or(u32::MAX)
    }

    /// The slot of operand-stack cell `h`: past the frame's locals.
    fn slot(&self, h: u32) -> u32 {
        self.stack_base.saturating_add(h)
    }

    /// Pops `n` values.
    fn pop(&mut self, n: usize) -> Result<(), CompileError> {
        let at = self.types.len().checked_sub(n).ok_or_else(|| self.err("operand stack underflow"))?;
        // Without allocating: this runs for nearly every operator.
        let c: u32 = self.types.get(at..).unwrap_or(&[]).iter().map(|t| cells(*t)).sum();
        self.height = self.height.checked_sub(c).ok_or_else(|| self.err("operand stack underflow"))?;
        self.types.truncate(at);
        Ok(())
    }

    /// Pops one value, returning its type.
    fn pop1(&mut self) -> Result<ValType, CompileError> {
        let t = self.types.last().copied().ok_or_else(|| self.err("operand stack underflow"))?;
        self.pop(1)?;
        Ok(t)
    }

    fn push(&mut self, tys: &[ValType]) {
        for t in tys {
            self.types.push(*t);
            self.height = self.height.saturating_add(cells(*t));
        }
        self.max_height = self.max_height.max(self.height);
    }

    /// Resets the operand stack to `depth` values (`height` cells), then pushes `tys`.
    fn reset(&mut self, depth: usize, height: u32, tys: &[ValType]) {
        self.types.truncate(depth);
        self.height = height;
        self.push(tys);
    }

    fn block_sig(&self, bt: BlockType) -> Result<(&'m [ValType], &'m [ValType]), CompileError> {
        Ok(match bt {
            BlockType::Empty => (&[], &[]),
            BlockType::Type(t) => (&[], one(val_type(t, self.func_index)?)),
            BlockType::FuncType(i) => {
                let module: &'m Module = self.module;
                let ft = module.types.get(i as usize).ok_or_else(|| self.err("block type out of range"))?;
                (ft.params(), ft.results())
            }
        })
    }

    fn func_type(&self, type_index: u32) -> Result<(&'m [ValType], &'m [ValType]), CompileError> {
        let module: &'m Module = self.module;
        let ft = module.types.get(type_index as usize).ok_or_else(|| self.err("type index out of range"))?;
        Ok((ft.params(), ft.results()))
    }

    fn func_sig(&self, function_index: u32) -> Result<(&'m [ValType], &'m [ValType]), CompileError> {
        let ti =
            *self.module.functions.get(function_index as usize).ok_or_else(|| self.err("function out of range"))?;
        self.func_type(ti)
    }

    /// The target of a branch `depth` levels out from the current height, and where to record
    /// it for patching (`None` when it is already known).
    fn target(&mut self, depth: u32) -> Result<(Target, Option<usize>), CompileError> {
        let i = self.ctrl.len().checked_sub(1 + depth as usize).ok_or_else(|| self.err("branch depth out of range"))?;
        let c = &self.ctrl[i];
        let keep: u32 = if c.kind == Kind::Loop { c.params } else { c.results }.iter().map(|t| cells(*t)).sum();
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

    /// Points the `if` op at `at` at its else branch (or its end), `pc`.
    fn patch_else(&mut self, at: usize, pc: u32) {
        match self.ops.get_mut(at) {
            Some(Op::BrIfEqz(to) | Op::IfNez { to, .. }) => *to = pc,
            Some(op) => {
                if let Some(t) = op.target_mut() {
                    t.pc = pc;
                }
            }
            None => {}
        }
    }

    fn load_v(&mut self, m: &wasmparser::MemArg, kind: VLoad) -> Result<(), CompileError> {
        let (mem, offset) = self.memarg(m)?;
        self.simple(Op::LoadV { kind, mem, offset }, 1, &[ValType::V128])
    }

    fn lane(&mut self, m: &wasmparser::MemArg, size: u8, lane: u8, load: bool) -> Result<(), CompileError> {
        let (mem, offset) = self.memarg(m)?;
        if load {
            self.simple(Op::LoadLane { size, lane, mem, offset }, 2, &[ValType::V128])
        } else {
            self.simple(Op::StoreLane { size, lane, mem, offset }, 2, &[])
        }
    }

    /// Emits `op`, which pops `pops` values and pushes values of types `pushes`.
    fn simple(&mut self, op: Op, pops: usize, pushes: &[ValType]) -> Result<(), CompileError> {
        self.pop(pops)?;
        self.emit(op);
        self.push(pushes);
        Ok(())
    }

    /// Emits the narrow or wide form of a local access of `local_index`.
    fn local(&mut self, local_index: u32, narrow: fn(u32) -> Op, wide: fn(u32) -> Op) -> Result<ValType, CompileError> {
        let (at, ty) = *self.local_at.get(local_index as usize).ok_or_else(|| self.err("local out of range"))?;
        self.emit(if ty == ValType::V128 { wide(at) } else { narrow(at) });
        Ok(ty)
    }

    fn global_width(&self, global_index: u32) -> Result<(Width, ValType), CompileError> {
        let g = self.module.globals.get(global_index as usize).ok_or_else(|| self.err("global out of range"))?;
        Ok((
            g.content,
            match g.content {
                ValType::I32 | ValType::F32 => Width::W32,
                ValType::I64 | ValType::F64 | ValType::FuncRef | ValType::ExternRef => Width::W64,
                ValType::V128 => Width::W128,
            },
        ))
        .map(|(t, w)| (w, t))
    }

    fn table_type(&self, table: u32) -> Result<ValType, CompileError> {
        let t = self.module.tables.get(table as usize).ok_or_else(|| self.err("table out of range"))?;
        Ok(ValType::from(t.element))
    }
}

#[cfg(test)]
mod tests;
