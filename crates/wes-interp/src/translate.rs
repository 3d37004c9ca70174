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

use wasmparser::{BinaryReader, BlockType, FunctionBody, Operator};
use wes_core::{CompileError, Module, ValType};
use wes_meter::{Chains, PlanBuilder, Pricing, Segment, SegmentCutter};

mod check;
mod fuse;

use self::check::is_simd;
pub(crate) use self::check::{check_body, check_module};

use crate::code::{Code, DropKeep, LoadKind, Op, RETURN, Slot, Target, VLoad, Width, cells};
use crate::num::NumOp;
use crate::simd::{SimdArity, SimdOp};

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
                    charge = t.reachable.then(|| t.emit(Op::Charge { cost: 0, ops: 0, chain: 0 }));
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
    if cfg!(test) {
        code.ops.shrink_to_fit();
    } else {
        code.ops = Vec::new();
    }
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
            Some(Op::Charge { cost: c, ops: o, .. }) => {
                (*c, *o) = (cost, ops);
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

    fn operator(&mut self, op: &Operator<'_>) -> Result<(), CompileError> {
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
                    Op::CallImport { f: function_index, sp: 0 }
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

    fn table_type(&self, table: u32) -> Result<ValType, CompileError> {
        let t = self.module.tables.get(table as usize).ok_or_else(|| self.err("table out of range"))?;
        Ok(ValType::from(t.element))
    }
}

#[cfg(test)]
mod tests;
