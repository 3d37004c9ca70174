//! Translation of one validated function body to Cranelift IR.
//!
//! Every defined function is compiled twice over:
//!
//! - its **body**, with Cranelift's `tail` calling convention and a signature made for calls
//!   between compiled functions: `(vmctx, frames_left: i32, [gas: i64], [operators: i64],
//!   params...) -> (status: i8, [gas: i64], [operators: i64], results...)`. Parameters and
//!   results travel in registers, the call-depth count (`frames_left`, the frames this call may
//!   still open, itself included) and, in metered code, the remaining gas and, in code that
//!   counts operators, the executed-operator count travel beside them ([`Counters`]), so a
//!   direct `call` between functions of one module touches no memory for any of them. The
//!   returned counters are always the true ones, whatever the status.
//! - its **array-call entry** ([`translate_entry`]), with the array-call signature of
//!   [`wes_core::backend`], `(callee_vmctx, caller_vmctx, args_results) -> status`: it reads the
//!   parameters, the frame count and the gas from memory, calls the body, and writes the
//!   results and the gas back. The runtime, imports, tables and references reach a function
//!   only through this entry, so host, imported and indirect callees are all called alike; a
//!   body calling through a function-reference record stores its frame count less one first.
//!
//! Traps never use Cranelift's `trap` instructions (which would need signal handlers). Each trap
//! condition branches to a cold block that calls the runtime's `TrapUnwind` libcall with the
//! code, this function's index, the offset and its frame pointer; the libcall records the trap
//! and this frame, walks the frame-pointer chain to record the callers (each return address
//! maps to a call site's offset, `frame_table`), and jumps back to the innermost entry from
//! Rust (`wes_core::unwind`), which returns `CALL_TRAPPED`. A failed gas refill unwinds the same
//! way from inside its shim. So a direct call and a refill need no status branch: they return
//! only when they succeeded. A call through a function record (a host function, another
//! backend's code, an entry from Rust) still returns a status, checked as a libcall's is.
//!
//! Tail calls to a function of the same module are Cranelift `return_call`s between bodies;
//! other tail calls return `CALL_TAIL` and leave the call to the caller: see [`tail_call`].
//! SIMD instructions are lowered in [`simd`].
//!
//! Memory accesses are bounds-checked explicitly against the memory's current length:
//! `addr + offset + size <= length`, in 64 bits so nothing wraps. Base and length are loaded
//! where they are used and tagged with their own alias region, so Cranelift reuses them across
//! stores to linear memory; in a function that neither grows a memory nor calls anything (so
//! nothing can move or resize one while it runs) they are also free to move, and loops load
//! them once, outside. A memory never shrinks, so an access needs no check when it ends at or
//! below the memory's declared minimum size (a constant address) or within a range a check on
//! every path to it already proved, for the same address value (`memory::BoundsFacts`).
//!
//! When the module is metered, the first operator of every reachable straight-line segment
//! (as `wes_meter::function_segments` cut them) is preceded by that segment's check-and-deduct;
//! when it counts operators, by the addition of the operators the check charges for (without a
//! check when unmetered); the code for both is in [`gas`].
//!
//! The translator is split along its seams: this file holds the signatures, the entry point
//! [`translate`] and the translator's state; [`operator`] dispatches one wasm operator at a
//! time, [`control`] handles structured control flow, [`memory`] linear-memory and table
//! accesses, [`calls`] calls and libcalls, [`traps`] trap exits and returns, [`entry`] the
//! array-call entries and the out-of-gas shim.

mod calls;
mod control;
mod entry;
mod gas;
mod memory;
mod operator;
mod simd;
mod tail_call;
mod traps;

use std::collections::HashMap;

use cranelift_codegen::ir::condcodes::IntCC;
use cranelift_codegen::ir::immediates::{Ieee32, Ieee64};
use cranelift_codegen::ir::{
    self, AbiParam, Function, InstBuilder, MemFlagsData, Signature, Type, UserFuncName, Value, types,
};
use cranelift_codegen::isa::CallConv;
use cranelift_frontend::{FunctionBuilder, FunctionBuilderContext, Variable};
use wasmparser::{BinaryReader, FunctionBody};
use wes_core::vm::{self, Libcall};
use wes_core::{CompileError, Module, TrapCode, ValType};

use self::control::{Frame, Kind};
pub(crate) use self::entry::{translate_entry, translate_out_of_gas_shim, translate_replay_shim};
pub(crate) use self::gas::OUT_OF_GAS_TRAP;

const PTR: Type = types::I64;

/// The array-call signature: of every function's entry, and of calls through records.
pub(crate) fn array_call_signature(call_conv: CallConv) -> Signature {
    let mut sig = Signature::new(call_conv);
    sig.params.extend([AbiParam::new(PTR), AbiParam::new(PTR), AbiParam::new(PTR)]);
    sig.returns.push(AbiParam::new(types::I8));
    sig
}

/// Which counters a body carries in registers beside its parameters and results: the gas
/// left (metered code) and the operators executed (code that counts them), in that order.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Counters {
    /// The remaining gas (`JitConfig::pricing`).
    pub(crate) gas: bool,
    /// The executed-operator count (`JitConfig::count_operators`).
    pub(crate) ops: bool,
}

impl Counters {
    /// How many there are.
    pub(crate) fn len(self) -> usize {
        usize::from(self.gas) + usize::from(self.ops)
    }
}

/// The signature of the body of a function of type `ty`: `(vmctx, frames_left, [gas],
/// [operators], params...) -> (status, [gas], [operators], results...)`, with the `tail`
/// calling convention.
pub(crate) fn body_signature(
    ty: &wes_core::FuncType,
    counters: Counters,
    func_index: u32,
) -> Result<Signature, CompileError> {
    let mut sig = Signature::new(CallConv::Tail);
    sig.params.push(AbiParam::new(PTR));
    sig.params.push(AbiParam::new(types::I32));
    sig.returns.push(AbiParam::new(types::I8));
    for _ in 0..counters.len() {
        sig.params.push(AbiParam::new(types::I64));
        sig.returns.push(AbiParam::new(types::I64));
    }
    for p in ty.params() {
        sig.params.push(AbiParam::new(ir_type(*p, func_index)?));
    }
    for r in ty.results() {
        sig.returns.push(AbiParam::new(ir_type(*r, func_index)?));
    }
    Ok(sig)
}

/// The name under which a body refers to the body of defined function `defined_index`; the
/// JIT resolves it when it lays the code out.
pub(crate) const BODY_NAMESPACE: u32 = 0;

/// The name under which metered code refers to the module's shims: index 0 is the out-of-gas
/// shim, 1 the replay shim.
pub(crate) const SHIM_NAMESPACE: u32 = 2;

/// The type of defined function `defined_index`.
fn defined_type(module: &Module, defined_index: u32) -> Result<&wes_core::FuncType, CompileError> {
    let func_index = module.num_imported_functions + defined_index;
    let body = module
        .bodies
        .get(defined_index as usize)
        .ok_or_else(|| CompileError::Codegen { func_index, message: "no body for this function".into() })?;
    module
        .types
        .get(body.type_index as usize)
        .ok_or_else(|| CompileError::Codegen { func_index, message: "function type index out of range".into() })
}

fn unsupported(what: impl Into<String>, func_index: u32) -> CompileError {
    CompileError::Unsupported { backend: "jit", what: what.into(), func_index: Some(func_index) }
}

/// The Cranelift type holding a wasm value type.
pub(crate) fn ir_type(ty: ValType, _func_index: u32) -> Result<Type, CompileError> {
    Ok(match ty {
        ValType::I32 => types::I32,
        ValType::I64 => types::I64,
        ValType::F32 => types::F32,
        ValType::F64 => types::F64,
        ValType::FuncRef | ValType::ExternRef => PTR,
        // Every v128 is an `i8x16` value; SIMD instructions bitcast to their lane shape.
        ValType::V128 => types::I8X16,
    })
}

fn wasm_val_type(t: wasmparser::ValType, func_index: u32) -> Result<ValType, CompileError> {
    Ok(match t {
        wasmparser::ValType::I32 => ValType::I32,
        wasmparser::ValType::I64 => ValType::I64,
        wasmparser::ValType::F32 => ValType::F32,
        wasmparser::ValType::F64 => ValType::F64,
        wasmparser::ValType::V128 => ValType::V128,
        wasmparser::ValType::Ref(r) if r == wasmparser::RefType::FUNCREF => ValType::FuncRef,
        wasmparser::ValType::Ref(r) if r == wasmparser::RefType::EXTERNREF => ValType::ExternRef,
        wasmparser::ValType::Ref(r) => return Err(unsupported(format!("reference type {r}"), func_index)),
    })
}

/// What the translation of one body needs to know beyond the module.
pub(crate) struct FunctionFacts<'a> {
    /// Where the body's gas checks (and operator counts) go (`wes_meter::ChargePlan`) when
    /// the module is metered or counts operators.
    pub(crate) segments: Option<&'a wes_meter::ChargePlan>,
    /// The counters the body carries: gas when metered, operators when counting.
    pub(crate) counters: Counters,
    /// Whether running the body may move or resize a memory (`FunctionShape::may_move_memory`,
    /// measured by the decoder).
    pub(crate) may_move_memory: bool,
    /// Tell the runtime when the function is entered and left (`JitConfig::profile`).
    pub(crate) profile: bool,
    /// Give each refill path an edge it never takes (see `Translator::rejoin` and
    /// [`needs_refill_edges`]).
    pub(crate) refill_edges: bool,
    /// Leave memory bounds to guard regions (`BoundsChecks::Guard`): accesses compare
    /// nothing, and a fault of one is its trap.
    pub(crate) guard: bool,
    /// Gas checks call the runtime for more gas and resume (`JitConfig::resume_out_of_gas`),
    /// rather than trap (see [`gas`]).
    pub(crate) resume_out_of_gas: bool,
}

/// Past this many blocks × branch destinations, a metered function is translated again with
/// refill paths that have a second edge (see `Translator::rejoin`).
///
/// Measured (docs/benchmarks.md): without those edges regalloc2's work grows with blocks ×
/// block-parameter inputs, and 4,096 nested `if`s compile in 2.4-3.0 s instead of 0.7 s, a
/// `br_table` of 65,520 targets over 1,000 labels in 2.2-2.7 s instead of 1.0 s; the largest
/// function of the C workloads (`benches/c`, metered) is 4,270 blocks × 6,359 destinations,
/// 2.7e7.
const REFILL_EDGE_WORK: u64 = 100_000_000;

/// Whether translated body `func` is past [`REFILL_EDGE_WORK`].
pub(crate) fn needs_refill_edges(func: &Function) -> bool {
    let blocks = func.dfg.num_blocks() as u64;
    let mut destinations = 0u64;
    for block in func.layout.blocks() {
        if let Some(last) = func.layout.last_inst(block) {
            let dests = func.dfg.insts[last].branch_destination(&func.dfg.jump_tables, &func.dfg.exception_tables);
            destinations += dests.len() as u64;
        }
    }
    blocks.saturating_mul(destinations) > REFILL_EDGE_WORK
}

/// What the translation of a body tells the code generator besides the IR.
#[derive(Default)]
pub(crate) struct Translated {
    /// The operator offsets of its guarded memory accesses in the order they were emitted
    /// (none without [`FunctionFacts::guard`]), for [`is_guarded_access`].
    pub(crate) accesses: Vec<u32>,
    /// Its gas checks that trap (without [`FunctionFacts::resume_out_of_gas`]): the operator
    /// offset each check's trap instruction carries and the segments it charges, in
    /// operator order.
    pub(crate) gas_checks: Vec<(u32, Vec<wes_core::GasLink>)>,
}

/// Translates the body of defined function `defined_index` of `module` into `func`.
pub(crate) fn translate(
    module: &Module,
    defined_index: u32,
    call_conv: CallConv,
    frontend: cranelift_codegen::isa::TargetFrontendConfig,
    func: &mut Function,
    fctx: &mut FunctionBuilderContext,
    facts: &FunctionFacts<'_>,
) -> Result<Translated, CompileError> {
    let segments = facts.segments;
    let func_index = module.num_imported_functions + defined_index;
    let body = module
        .bodies
        .get(defined_index as usize)
        .ok_or_else(|| CompileError::Codegen { func_index, message: "no body for this function".into() })?;
    let ty = defined_type(module, defined_index)?;
    let counters = facts.counters;
    func.signature = body_signature(ty, counters, func_index)?;
    func.name = UserFuncName::user(BODY_NAMESPACE, defined_index);

    let bytes = module.bytes.get(body.range.clone()).ok_or_else(|| CompileError::Codegen {
        func_index,
        message: "function body outside the module bytes".into(),
    })?;
    let reader = FunctionBody::new(BinaryReader::new(bytes, body.range.start as u64));
    let codegen = |e: wasmparser::BinaryReaderError| CompileError::Codegen { func_index, message: e.to_string() };

    // Local declarations: parameters first, then the declared locals.
    let mut local_types: Vec<ValType> = ty.params().to_vec();
    for local in reader.get_locals_reader().map_err(codegen)? {
        let (count, t) = local.map_err(codegen)?;
        let t = wasm_val_type(t, func_index)?;
        local_types.extend(std::iter::repeat_n(t, count as usize));
    }
    let result_types = ty.results().iter().map(|r| ir_type(*r, func_index)).collect::<Result<Vec<_>, _>>()?;

    let mut builder = FunctionBuilder::new(func, fctx);
    let entry = builder.create_block();
    builder.append_block_params_for_function_params(entry);
    builder.switch_to_block(entry);
    let params = builder.block_params(entry).to_vec();
    let (vmctx, frames_left) = (params[0], params[1]);
    let first_param = 2 + counters.len();
    // Every callee may open one frame fewer than this function.
    let callee_frames = builder.ins().iadd_imm_s(frames_left, -1);

    let mut t = Translator {
        module,
        func_index,
        builder,
        vmctx,
        frames_left,
        callee_frames,
        result_types: result_types.clone(),
        stack: Vec::new(),
        frames: Vec::new(),
        bounds: memory::BoundsFacts::default(),
        reachable: true,
        unreachable_depth: 0,
        locals: Vec::new(),
        trap_blocks: HashMap::new(),
        trap_exits: Vec::new(),
        trap_offset: None,
        pending_stubs: Vec::new(),
        libcall_sigs: HashMap::new(),
        array_sig: None,
        body_refs: HashMap::new(),
        body_sigs: HashMap::new(),
        out_of_gas_shim: None,
        replay_shim: None,
        replay_slot: None,
        call_conv,
        call_buffer: None,
        offset: u32::try_from(body.range.start).unwrap_or(u32::MAX),
        gas: None,
        ops: None,
        regions: [None; Region::COUNT],
        memory_fixed: !facts.may_move_memory,
        profile: facts.profile,
        refill_edges: facts.refill_edges,
        guard: facts.guard,
        resume_out_of_gas: facts.resume_out_of_gas,
        accesses: Vec::new(),
        gas_checks: Vec::new(),
        gas_chain: HashMap::new(),
        record_bodies: body.shape.calls <= RECORD_BODY_CALLS,
    };

    // The counters arrive in registers; every exit returns them.
    t.counters_init(counters, &params[2..first_param]);

    let exhausted = t.builder.ins().icmp_imm_s(IntCC::Equal, frames_left, 0);
    t.trap_if(exhausted, TrapCode::CallStackExhausted);
    // After the depth check: a call that never starts opens no profiled frame.
    if t.profile {
        let index = t.iconst32(func_index);
        t.libcall(Libcall::ProfileEnter, &[index]);
    }

    for (i, lt) in local_types.iter().enumerate() {
        let ir = ir_type(*lt, func_index)?;
        let var = t.builder.declare_var(ir);
        let init = match params.get(first_param + i) {
            Some(p) if i < ty.params().len() => *p,
            _ => t.zero(ir),
        };
        t.builder.def_var(var, init);
        t.locals.push((var, ir));
    }

    let ret = t.builder.create_block();
    for r in &result_types {
        t.builder.append_block_param(ret, *r);
    }
    t.frames.push(Frame {
        kind: Kind::Block,
        br_dest: ret,
        next: ret,
        num_params: 0,
        num_results: result_types.len(),
        height: 0,
        next_reached: false,
        else_block: None,
        facts: 0,
    });

    let mut ops = reader.get_operators_reader().map_err(codegen)?;
    while !ops.eof() {
        let offset = ops.original_position();
        t.offset = u32::try_from(offset).unwrap_or(u32::MAX);
        // Every call site then carries the offset of its operator: a trap that unwinds names
        // each caller's call by its return address (`frame_table`).
        t.builder.set_srcloc(ir::SourceLoc::new(t.offset));
        // `read` with the position taken before, not `read_with_offset`: the same, but the
        // latter's result moved through two more `Result`s costs a third of the interpreter's
        // translation time (wes-interp's translate.rs).
        let op = match ops.read() {
            Ok(op) => op,
            Err(e) => return Err(codegen(e)),
        };
        if t.reachable
            && let Some(wes_meter::SegmentCharge::Check { chain }) = segments.and_then(|s| s.at(offset))
        {
            t.charge_chain(chain);
        }
        t.operator(op)?;
        if t.frames.is_empty() {
            break;
        }
    }

    // The return block: report success with the gas left and the results.
    t.builder.switch_to_block(ret);
    let results = t.builder.block_params(ret).to_vec();
    t.return_with(wes_core::backend::CALL_RETURNED, Some(&results));

    // The trap exits, one per code, plus `None` for "already recorded by a callee".
    t.emit_trap_exits();

    t.builder.seal_all_blocks();
    t.builder.finalize(frontend);
    Ok(Translated { accesses: t.accesses, gas_checks: t.gas_checks })
}

/// Whether `srcloc` is the operator offset of one of the function's guarded accesses
/// (`accesses`: what `translate` returned, in emission order).
///
/// Each guarded access is followed by a `sequence_point` ([`Translator::fence_guarded_access`]),
/// so Cranelift can neither merge a load into the instruction that uses its value (which would
/// carry the user's source location, or none if the optimiser made it) nor drop a store that a
/// later one overwrites: every faulting instruction is an access of its own, under its
/// operator's location, and the first access past the end is the one that faults. This
/// checks it: a fault site whose location is no access's would name the wrong operator, and
/// compiling fails instead.
pub(crate) fn is_guarded_access(accesses: &[u32], srcloc: u32) -> bool {
    // Accesses are emitted in operator order, so their offsets never decrease.
    accesses.binary_search(&srcloc).is_ok()
}

struct Translator<'m, 'f> {
    module: &'m Module,
    func_index: u32,
    builder: FunctionBuilder<'f>,
    vmctx: Value,
    /// The frames this call may open, itself included (the body's parameter).
    frames_left: Value,
    /// What every callee gets: `frames_left - 1`.
    callee_frames: Value,
    /// The IR types of this function's results.
    result_types: Vec<Type>,
    stack: Vec<Value>,
    frames: Vec<Frame>,
    /// The bounds checks that every path to the current point has passed.
    bounds: memory::BoundsFacts,
    reachable: bool,
    /// While unreachable: how many blocks opened in dead code are still open.
    unreachable_depth: u32,
    locals: Vec<(Variable, Type)>,
    /// The trap exit sites of each code jump to now, and how many sites use it.
    trap_blocks: HashMap<Option<TrapCode>, (ir::Block, u32)>,
    /// Every trap exit made, in order.
    trap_exits: Vec<(Option<TrapCode>, ir::Block)>,
    /// Where trap sites leave the trapping instruction's offset for the trap exits.
    trap_offset: Option<ir::StackSlot>,
    /// Trap stubs branched to but not filled yet: (stub, code, offset).
    pending_stubs: Vec<traps::PendingStub>,
    libcall_sigs: HashMap<Libcall, ir::SigRef>,
    array_sig: Option<ir::SigRef>,
    /// The bodies this one calls directly, by defined index.
    body_refs: HashMap<u32, ir::FuncRef>,
    /// The body signatures of the types this one calls through records, by type index.
    body_sigs: HashMap<u32, ir::SigRef>,
    /// The out-of-gas shim, once imported.
    out_of_gas_shim: Option<ir::FuncRef>,
    /// The replay shim, once imported.
    replay_shim: Option<ir::FuncRef>,
    /// The table merged checks hand the replay shim.
    replay_slot: Option<ir::StackSlot>,
    call_conv: CallConv,
    /// The argument/result buffer of outgoing calls, shared by all call sites.
    call_buffer: Option<ir::StackSlot>,
    /// The module offset of the instruction being translated.
    offset: u32,
    /// The remaining gas while this function runs, when metered (see [`gas`]).
    gas: Option<Variable>,
    /// The operators executed so far, when counting them (see [`gas`]).
    ops: Option<Variable>,
    /// The alias regions declared so far, by [`Region`].
    regions: [Option<ir::AliasRegion>; Region::COUNT],
    /// Whether memories keep their base and length while this function runs: it neither
    /// grows a memory nor calls anything that could (libcalls for bulk operations and gas
    /// never do; the decoder measured it: `wes_core::FunctionShape::may_move_memory`).
    memory_fixed: bool,
    /// Report entry and exit to the runtime's gas profiler.
    profile: bool,
    /// See [`FunctionFacts::refill_edges`].
    refill_edges: bool,
    /// See [`FunctionFacts::guard`].
    guard: bool,
    /// With `guard`, the operator offset of every memory access emitted so far, in order (see
    /// [`is_guarded_access`]).
    accesses: Vec<u32>,
    /// See [`FunctionFacts::resume_out_of_gas`].
    resume_out_of_gas: bool,
    /// See [`Translated::gas_checks`].
    gas_checks: Vec<(u32, Vec<wes_core::GasLink>)>,
    /// The counter values that trapping checks' `iadd`s made, with the length of the chain of
    /// them each ends (see `gas::GAS_CHAIN_BREAK`).
    gas_chain: HashMap<Value, u32>,
    /// Whether calls through records try the callee's body first (see [`RECORD_BODY_CALLS`]).
    record_bodies: bool,
}

/// Past this many calls in one function, its calls through records (tables, imports) only make
/// the array call, without first trying the callee's body: the body path doubles the IR of
/// each such call (a second call and its tail-call path), and a hostile function of 2,000
/// `call_indirect`s compiled metered in 1.98 s instead of 1.2 s. Real functions make far
/// fewer calls; these keep what the array call cost before.
pub(crate) const RECORD_BODY_CALLS: u64 = 256;

/// Disjoint kinds of memory compiled code touches. Tagging loads and stores with them lets
/// Cranelift reuse a memory's base and length across stores to linear memory, and a global
/// across stores to other things; untagged stores and calls still clobber everything.
#[derive(Clone, Copy, Debug)]
enum Region {
    /// The bytes of linear memories.
    Heap,
    /// Memory definitions (base and length).
    MemoryDef,
    /// Global slots.
    Globals,
    /// Table elements.
    TableElems,
    /// Table definitions (base and length).
    TableDef,
}

impl Region {
    const COUNT: usize = 5;
}

impl Translator<'_, '_> {
    fn err(&self, message: impl Into<String>) -> CompileError {
        CompileError::Codegen { func_index: self.func_index, message: message.into() }
    }

    fn pop(&mut self) -> Result<Value, CompileError> {
        self.stack.pop().ok_or_else(|| self.err("operand stack underflow"))
    }

    fn pop2(&mut self) -> Result<(Value, Value), CompileError> {
        let b = self.pop()?;
        let a = self.pop()?;
        Ok((a, b))
    }

    fn pop3(&mut self) -> Result<(Value, Value, Value), CompileError> {
        let c = self.pop()?;
        let (a, b) = self.pop2()?;
        Ok((a, b, c))
    }

    fn popn(&mut self, n: usize) -> Result<Vec<Value>, CompileError> {
        let at = self.stack.len().checked_sub(n).ok_or_else(|| self.err("operand stack underflow"))?;
        Ok(self.stack.split_off(at))
    }

    fn peekn(&self, n: usize) -> Result<&[Value], CompileError> {
        let at = self.stack.len().checked_sub(n).ok_or_else(|| self.err("operand stack underflow"))?;
        Ok(&self.stack[at..])
    }

    fn push(&mut self, v: Value) {
        self.stack.push(v);
    }

    fn zero(&mut self, ty: Type) -> Value {
        match ty {
            types::F32 => self.builder.ins().f32const(Ieee32::with_bits(0)),
            types::F64 => self.builder.ins().f64const(Ieee64::with_bits(0)),
            types::I8X16 => self.v128_const(&[0; 16]),
            _ => self.builder.ins().iconst(ty, 0),
        }
    }

    /// Loads a pointer from `base + offset`; `invariant` pointers never change while the
    /// instance lives, so Cranelift may reuse the load.
    fn load_ptr(&mut self, base: Value, offset: i32, invariant: bool) -> Value {
        // An invariant load may also move: out of loops, and ahead of checks, because the
        // vmctx and the arrays it points to are valid for as long as the instance lives.
        let flags =
            if invariant { MemFlagsData::trusted().with_readonly().with_can_move() } else { MemFlagsData::trusted() };
        self.builder.ins().load(PTR, flags, base, offset)
    }

    /// Flags tagged with alias region `r`.
    fn region_flags(&mut self, flags: MemFlagsData, r: Region) -> MemFlagsData {
        let i = r as usize;
        let region = match self.regions[i] {
            Some(region) => region,
            None => {
                let region = self
                    .builder
                    .func
                    .dfg
                    .alias_regions
                    .insert(ir::AliasRegionData { user_id: i as u32, description: format!("{r:?}").into() });
                self.regions[i] = Some(region);
                region
            }
        };
        flags.with_alias_region(Some(region))
    }

    /// Flags of a linear-memory access: bounds-checked before (so it cannot trap), any
    /// alignment, with `endianness`.
    /// The flags of one linear-memory access (call it once per access). With explicit checks
    /// it cannot fault; with guard regions it may, and Cranelift records it as a trap site
    /// (code `HEAP_OUT_OF_BOUNDS`), which the module's fault table maps to the operator.
    fn heap_flags(&mut self, endianness: ir::Endianness) -> MemFlagsData {
        let flags = MemFlagsData::new().with_endianness(endianness);
        let flags = if self.guard {
            self.accesses.push(self.offset);
            flags.with_trap_code(Some(ir::TrapCode::HEAP_OUT_OF_BOUNDS))
        } else {
            flags.with_notrap()
        };
        self.region_flags(flags, Region::Heap)
    }

    /// After a guarded access (with guard regions; nothing otherwise): a `sequence_point`,
    /// which emits no code but is a side effect and a memory fence to Cranelift, so that
    /// every access stays an instruction of its own that runs where its operator does:
    /// - a load is not merged into the instruction using its value, which would fault under
    ///   another operator's location (see [`is_guarded_access`]);
    /// - a store is not removed as dead when a later store overwrites the same bytes
    ///   (Cranelift's dead-store elimination keeps the later one, which would then fault
    ///   under its own operator instead of the first store's).
    fn fence_guarded_access(&mut self) {
        if self.guard {
            self.builder.ins().sequence_point();
        }
    }

    /// The address of entry `index` of the vmctx array at `field`.
    fn vmctx_entry(&mut self, field: i32, index: u32) -> Value {
        let array = self.load_ptr(self.vmctx, field, true);
        let offset = i32::try_from(u64::from(index) * u64::from(vm::POINTER_SIZE)).unwrap_or(i32::MAX);
        self.load_ptr(array, offset, true)
    }

    fn iconst32(&mut self, x: u32) -> Value {
        self.builder.ins().iconst(types::I32, i64::from(x))
    }
}

#[cfg(test)]
mod tests;
