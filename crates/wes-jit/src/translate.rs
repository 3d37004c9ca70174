//! Translation of one validated function body to Cranelift IR.
//!
//! Every defined function is compiled twice over:
//!
//! - its **body**, with Cranelift's `tail` calling convention and a signature made for calls
//!   between compiled functions: `(vmctx, frames_left: i32, [gas: i64], params...) ->
//!   (status: i8, [gas: i64], results...)`. Parameters and results travel in registers, the
//!   call-depth count (`frames_left`, the frames this call may still open, itself included)
//!   and, in metered code, the remaining gas travel beside them, so a direct `call` between
//!   functions of one module touches no memory for any of them. The returned gas is always the
//!   true counter, whatever the status.
//! - its **array-call entry** ([`translate_entry`]), with the array-call signature of
//!   [`wes_core::backend`], `(callee_vmctx, caller_vmctx, args_results) -> status`: it reads the
//!   parameters, the frame count and the gas from memory, calls the body, and writes the
//!   results and the gas back. The runtime, imports, tables and references reach a function
//!   only through this entry, so host, imported and indirect callees are all called alike; a
//!   body calling through a function-reference record stores its frame count less one first.
//!
//! Traps never use Cranelift's `trap` instructions (which would need signal handlers). Each trap
//! condition branches to a cold block that calls the runtime's `Trap` libcall with the code and
//! this function's index, then returns `CALL_TRAPPED`; a caller that sees that status from a
//! callee (or zero from a libcall) records its own frame the same way and returns it too. The trap therefore
//! unwinds by ordinary returns, the backtrace is collected innermost first, and no native
//! state is left behind.
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
//! them once, outside.
//!
//! When the module is metered, the first operator of every reachable straight-line segment
//! (as `wes_meter::function_segments` cut them) is preceded by that segment's check-and-deduct;
//! the code for it is in [`gas`].

mod gas;

mod simd;
mod tail_call;

use std::collections::HashMap;

use cranelift_codegen::ir::condcodes::{FloatCC, IntCC};
use cranelift_codegen::ir::immediates::{Ieee32, Ieee64};
use cranelift_codegen::ir::{
    self, AbiParam, BlockArg, Function, InstBuilder, JumpTableData, MemFlagsData, Signature, StackSlotData,
    StackSlotKind, Type, UserFuncName, Value, types,
};
use cranelift_codegen::isa::CallConv;
use cranelift_frontend::{FunctionBuilder, FunctionBuilderContext, Variable};
use wasmparser::{BinaryReader, BlockType, FunctionBody, Operator};
use wes_core::vm::{self, AbiType, Libcall};
use wes_core::{CompileError, Module, TrapCode, ValType};

const PTR: Type = types::I64;

/// The array-call signature: of every function's entry, and of calls through records.
pub(crate) fn array_call_signature(call_conv: CallConv) -> Signature {
    let mut sig = Signature::new(call_conv);
    sig.params.extend([AbiParam::new(PTR), AbiParam::new(PTR), AbiParam::new(PTR)]);
    sig.returns.push(AbiParam::new(types::I8));
    sig
}

/// The signature of the body of a function of type `ty`: `(vmctx, frames_left, [gas],
/// params...) -> (status, [gas], results...)`, with the `tail` calling convention.
pub(crate) fn body_signature(
    ty: &wes_core::FuncType,
    metered: bool,
    func_index: u32,
) -> Result<Signature, CompileError> {
    let mut sig = Signature::new(CallConv::Tail);
    sig.params.push(AbiParam::new(PTR));
    sig.params.push(AbiParam::new(types::I32));
    sig.returns.push(AbiParam::new(types::I8));
    if metered {
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

/// The name under which metered code refers to the module's out-of-gas shim.
pub(crate) const SHIM_NAMESPACE: u32 = 2;

/// The signature of the out-of-gas shim: [`Libcall::OutOfGas`]'s parameters, no result (the
/// `preserve_all` convention has none), preserving every register.
fn out_of_gas_shim_signature() -> Signature {
    let mut sig = Signature::new(CallConv::PreserveAll);
    sig.params.extend([AbiParam::new(PTR), AbiParam::new(types::I64)]);
    sig
}

/// Builds the out-of-gas shim into `func`: it calls [`Libcall::OutOfGas`] through the libcall
/// table with the C convention, and saves and restores every register that call may clobber.
/// The libcall's status is not returned; the caller reads the outcome from the gas counter,
/// which holds at least the cost exactly when the libcall succeeded.
///
/// Metered code calls it from the cold refill path of every segment check. A C call there
/// would clobber every caller-saved register, including all float registers, so any value
/// live across a loop's check would have to sit in a callee-saved register or be spilled and
/// reloaded on the hot path; through the shim, the hot path keeps its registers and only the
/// (rare) refill pays for saving them.
pub(crate) fn translate_out_of_gas_shim(
    call_conv: CallConv,
    frontend: cranelift_codegen::isa::TargetFrontendConfig,
    func: &mut Function,
    fctx: &mut FunctionBuilderContext,
) {
    func.signature = out_of_gas_shim_signature();
    func.name = UserFuncName::user(SHIM_NAMESPACE, 0);
    let mut b = FunctionBuilder::new(func, fctx);
    let entry = b.create_block();
    b.append_block_params_for_function_params(entry);
    b.switch_to_block(entry);
    let params = b.block_params(entry).to_vec();
    let flags = MemFlagsData::trusted().with_readonly();
    let table = b.ins().load(PTR, flags, params[0], vm::VMCTX_LIBCALLS);
    let offset = i32::try_from(Libcall::OutOfGas.index() as u64 * u64::from(vm::POINTER_SIZE)).unwrap_or(i32::MAX);
    let callee = b.ins().load(PTR, flags, table, offset);
    let mut sig = Signature::new(call_conv);
    sig.params.extend([AbiParam::new(PTR), AbiParam::new(types::I64)]);
    sig.returns.push(AbiParam::new(types::I32));
    let sig = b.import_signature(sig);
    // The status is dropped: the caller reads the outcome from the gas counter.
    b.ins().call_indirect(sig, callee, &params);
    b.ins().return_(&[]);
    b.seal_all_blocks();
    b.finalize(frontend);
}

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

/// Byte offset of slot `i` of an argument/result buffer.
fn slot_offset(i: usize) -> i32 {
    i32::try_from(i as u64 * u64::from(vm::VALRAW_SIZE)).unwrap_or(i32::MAX)
}

/// Builds the array-call entry of defined function `defined_index` into `func`: parameters,
/// frame count and gas from memory, a direct call of the body, results and gas back to memory.
pub(crate) fn translate_entry(
    module: &Module,
    defined_index: u32,
    call_conv: CallConv,
    metered: bool,
    frontend: cranelift_codegen::isa::TargetFrontendConfig,
    func: &mut Function,
    fctx: &mut FunctionBuilderContext,
) -> Result<(), CompileError> {
    let func_index = module.num_imported_functions + defined_index;
    let ty = defined_type(module, defined_index)?;
    func.signature = array_call_signature(call_conv);
    func.name = UserFuncName::user(1, func_index);
    let body_sig = body_signature(ty, metered, func_index)?;
    let mut b = FunctionBuilder::new(func, fctx);
    let entry = b.create_block();
    b.append_block_params_for_function_params(entry);
    b.switch_to_block(entry);
    let params = b.block_params(entry).to_vec();
    let (vmctx, args) = (params[0], params[2]);
    let flags = MemFlagsData::trusted();
    let store = b.ins().load(PTR, flags.with_readonly(), vmctx, vm::VMCTX_STORE);
    let frames_left = b.ins().load(types::I32, flags, store, vm::STORE_FRAMES_LEFT);
    let mut call_args = vec![vmctx, frames_left];
    if metered {
        call_args.push(b.ins().load(types::I64, flags, store, vm::STORE_GAS));
    }
    for (i, p) in ty.params().iter().enumerate() {
        let t = ir_type(*p, func_index)?;
        call_args.push(b.ins().load(t, flags, args, slot_offset(i)));
    }
    let sig = b.import_signature(body_sig);
    let name = b.func.declare_imported_user_function(ir::UserExternalName::new(BODY_NAMESPACE, defined_index));
    let callee = b.import_function(ir::ExtFuncData {
        name: ir::ExternalName::User(name),
        signature: sig,
        colocated: true,
        patchable: false,
    });
    let call = b.ins().call(callee, &call_args);
    let rets = b.inst_results(call).to_vec();
    let status = rets[0];
    let mut results = &rets[1..];
    if metered {
        // The body returns the true counter whatever its status.
        b.ins().store(flags, results[0], store, vm::STORE_GAS);
        results = &results[1..];
    }
    let returned = b.create_block();
    let other = b.create_block();
    let ok = b.ins().icmp_imm_s(IntCC::Equal, status, i64::from(wes_core::backend::CALL_RETURNED));
    b.ins().brif(ok, returned, &[], other, &[]);
    b.switch_to_block(returned);
    for (i, r) in results.iter().enumerate() {
        b.ins().store(flags, *r, args, slot_offset(i));
    }
    b.ins().return_(&[status]);
    b.switch_to_block(other);
    b.ins().return_(&[status]);
    b.seal_all_blocks();
    b.finalize(frontend);
    Ok(())
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

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    Block,
    Loop,
    If,
}

struct Frame {
    kind: Kind,
    /// Where `br` to this frame goes: the loop header for loops, `next` otherwise.
    br_dest: ir::Block,
    /// The block after `end`, with the results as parameters.
    next: ir::Block,
    num_params: usize,
    num_results: usize,
    /// Operand-stack height below this frame's parameters.
    height: usize,
    /// Whether anything branches or falls through to `next`.
    next_reached: bool,
    /// For `if`: the else block, and the parameters to give it, until `else` is seen.
    else_block: Option<(ir::Block, Vec<Value>)>,
}

/// What the translation of one body needs to know beyond the module.
pub(crate) struct FunctionFacts<'a> {
    /// Where the body's gas checks go (`wes_meter::ChargePlan`) when the module is metered.
    pub(crate) segments: Option<&'a wes_meter::ChargePlan>,
    /// Whether running the body may move or resize a memory (`analysis::may_move_memory`).
    pub(crate) may_move_memory: bool,
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
) -> Result<(), CompileError> {
    let segments = facts.segments;
    let func_index = module.num_imported_functions + defined_index;
    let body = module
        .bodies
        .get(defined_index as usize)
        .ok_or_else(|| CompileError::Codegen { func_index, message: "no body for this function".into() })?;
    let ty = defined_type(module, defined_index)?;
    let metered = segments.is_some();
    func.signature = body_signature(ty, metered, func_index)?;
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
    let first_param = if metered { 3 } else { 2 };
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
        reachable: true,
        unreachable_depth: 0,
        locals: Vec::new(),
        trap_blocks: HashMap::new(),
        libcall_sigs: HashMap::new(),
        array_sig: None,
        body_refs: HashMap::new(),
        out_of_gas_shim: None,
        call_conv,
        call_buffer: None,
        offset: u32::try_from(body.range.start).unwrap_or(u32::MAX),
        gas: None,
        regions: [None; Region::COUNT],
        memory_fixed: !facts.may_move_memory,
    };

    // The gas counter arrives in a register; every exit returns it.
    if metered {
        t.gas_init(params[2]);
    }

    let exhausted = t.builder.ins().icmp_imm_s(IntCC::Equal, frames_left, 0);
    t.trap_if(exhausted, TrapCode::CallStackExhausted);

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
    });

    let mut ops = reader.get_operators_reader().map_err(codegen)?;
    while !ops.eof() {
        t.offset = u32::try_from(ops.original_position()).unwrap_or(u32::MAX);
        let (op, offset) = ops.read_with_offset().map_err(codegen)?;
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

    // The trap blocks, one per code, plus `None` for "already recorded by a callee".
    let mut traps: Vec<_> = t.trap_blocks.iter().map(|(c, b)| (*c, *b)).collect();
    traps.sort_by_key(|(c, _)| c.map_or(0, vm::trap_code_to_raw));
    for (code, block) in traps {
        t.builder.switch_to_block(block);
        t.builder.set_cold_block(block);
        let raw = code.map_or(0, vm::trap_code_to_raw);
        let raw = t.builder.ins().iconst(types::I32, i64::from(raw));
        let fi = t.builder.ins().iconst(types::I32, i64::from(func_index));
        let at = t.builder.block_params(block)[0];
        t.libcall(Libcall::Trap, &[raw, fi, at]);
        t.return_with(wes_core::backend::CALL_TRAPPED, None);
    }

    t.builder.seal_all_blocks();
    t.builder.finalize(frontend);
    Ok(())
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
    reachable: bool,
    /// While unreachable: how many blocks opened in dead code are still open.
    unreachable_depth: u32,
    locals: Vec<(Variable, Type)>,
    trap_blocks: HashMap<Option<TrapCode>, ir::Block>,
    libcall_sigs: HashMap<Libcall, ir::SigRef>,
    array_sig: Option<ir::SigRef>,
    /// The bodies this one calls directly, by defined index.
    body_refs: HashMap<u32, ir::FuncRef>,
    /// The out-of-gas shim, once imported.
    out_of_gas_shim: Option<ir::FuncRef>,
    call_conv: CallConv,
    /// The argument/result buffer of outgoing calls, shared by all call sites.
    call_buffer: Option<ir::StackSlot>,
    /// The module offset of the instruction being translated.
    offset: u32,
    /// The remaining gas while this function runs, when metered (see [`gas`]).
    gas: Option<Variable>,
    /// The alias regions declared so far, by [`Region`].
    regions: [Option<ir::AliasRegion>; Region::COUNT],
    /// Whether memories keep their base and length while this function runs: it neither
    /// grows a memory nor calls anything that could (libcalls for bulk operations and gas
    /// never do; see [`crate::analysis`]).
    memory_fixed: bool,
}

/// Where a direct call goes (see `Translator::callee`).
enum Callee {
    /// The body of this defined function.
    Body(u32),
    /// The function behind this record, of this type.
    Record(Value, u32),
}

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
    fn heap_flags(&mut self, endianness: ir::Endianness) -> MemFlagsData {
        self.region_flags(MemFlagsData::new().with_notrap().with_endianness(endianness), Region::Heap)
    }

    /// The address of entry `index` of the vmctx array at `field`.
    fn vmctx_entry(&mut self, field: i32, index: u32) -> Value {
        let array = self.load_ptr(self.vmctx, field, true);
        let offset = i32::try_from(u64::from(index) * u64::from(vm::POINTER_SIZE)).unwrap_or(i32::MAX);
        self.load_ptr(array, offset, true)
    }

    fn trap_block(&mut self, code: Option<TrapCode>) -> ir::Block {
        if let Some(b) = self.trap_blocks.get(&code) {
            return *b;
        }
        let b = self.builder.create_block();
        // The module offset of the trapping instruction, for the backtrace.
        self.builder.append_block_param(b, types::I32);
        self.trap_blocks.insert(code, b);
        b
    }

    /// The current instruction's module offset, as an argument for a trap block.
    fn offset_arg(&mut self) -> BlockArg {
        BlockArg::Value(self.builder.ins().iconst(types::I32, i64::from(self.offset)))
    }

    /// Branches to the trap block of `code` when `cond` is non-zero, and continues otherwise.
    fn trap_if(&mut self, cond: Value, code: TrapCode) {
        self.branch_trap_if(cond, Some(code));
    }

    fn branch_trap_if(&mut self, cond: Value, code: Option<TrapCode>) {
        // Each site branches to a cold stub of its own that passes the offset on, so the hot
        // path does not materialise the offset before every check.
        let trap = self.trap_block(code);
        let stub = self.builder.create_block();
        let cont = self.builder.create_block();
        self.builder.ins().brif(cond, stub, &[], cont, &[]);
        self.builder.switch_to_block(stub);
        self.builder.set_cold_block(stub);
        let at = self.offset_arg();
        self.builder.ins().jump(trap, &[at]);
        self.builder.switch_to_block(cont);
    }

    /// Propagates a trap when a callee or libcall returned status zero.
    fn check_status(&mut self, status: Value) {
        let failed = self.builder.ins().icmp_imm_s(IntCC::Equal, status, 0);
        self.branch_trap_if(failed, None);
    }

    /// Returns `status` with the gas left and `results` (zeros of the result types when `None`:
    /// on a trap or a pending tail call the caller ignores them).
    fn return_with(&mut self, status: u8, results: Option<&[Value]>) {
        let mut rets = vec![self.builder.ins().iconst(types::I8, i64::from(status))];
        if let Some(var) = self.gas {
            rets.push(self.builder.use_var(var));
        }
        match results {
            Some(r) => rets.extend_from_slice(r),
            None => {
                for t in self.result_types.clone() {
                    let z = self.zero(t);
                    rets.push(z);
                }
            }
        }
        self.builder.ins().return_(&rets);
    }

    /// Makes the frame count of the next array call `frames_left - 1`, as a direct call's.
    fn store_callee_frames(&mut self) {
        let store = self.load_ptr(self.vmctx, vm::VMCTX_STORE, true);
        self.builder.ins().store(MemFlagsData::trusted(), self.callee_frames, store, vm::STORE_FRAMES_LEFT);
    }

    /// The reference to the body of defined function `defined_index`, imported once.
    fn body_ref(&mut self, defined_index: u32) -> Result<ir::FuncRef, CompileError> {
        if let Some(r) = self.body_refs.get(&defined_index) {
            return Ok(*r);
        }
        let ty = defined_type(self.module, defined_index)?;
        let sig = body_signature(ty, self.gas.is_some(), self.func_index)?;
        let sig = self.builder.import_signature(sig);
        let name =
            self.builder.func.declare_imported_user_function(ir::UserExternalName::new(BODY_NAMESPACE, defined_index));
        let r = self.builder.import_function(ir::ExtFuncData {
            name: ir::ExternalName::User(name),
            signature: sig,
            colocated: true,
            patchable: false,
        });
        self.body_refs.insert(defined_index, r);
        Ok(r)
    }

    /// The arguments of a direct call of a body: `vmctx, frames, [gas], params`.
    fn body_args(&mut self, frames: Value, params: usize) -> Result<Vec<Value>, CompileError> {
        let args = self.popn(params)?;
        let mut all = vec![self.vmctx, frames];
        if let Some(var) = self.gas {
            all.push(self.builder.use_var(var));
        }
        all.extend(args);
        Ok(all)
    }

    /// How `call` or `return_call` of `function_index` reaches it: a defined function's body
    /// directly, an import through its function-reference record.
    fn callee(&mut self, function_index: u32) -> Result<Callee, CompileError> {
        let type_index = *self
            .module
            .functions
            .get(function_index as usize)
            .ok_or_else(|| self.err("function index out of range"))?;
        Ok(match function_index.checked_sub(self.module.num_imported_functions) {
            Some(defined) => Callee::Body(defined),
            None => Callee::Record(self.vmctx_entry(vm::VMCTX_FUNCS, function_index), type_index),
        })
    }

    /// `call` of defined function `defined_index`: a direct call of its body, the arguments,
    /// frame count and gas in registers.
    fn direct_call(&mut self, defined_index: u32) -> Result<(), CompileError> {
        let ty = defined_type(self.module, defined_index)?;
        let params = ty.params().len();
        let result_types = ty.results().iter().map(|r| ir_type(*r, self.func_index)).collect::<Result<Vec<_>, _>>()?;
        let callee = self.body_ref(defined_index)?;
        let args = self.body_args(self.callee_frames, params)?;
        let call = self.builder.ins().call(callee, &args);
        let rets = self.builder.inst_results(call).to_vec();
        let status = rets[0];
        let mut results = &rets[1..];
        if let Some(var) = self.gas {
            self.builder.def_var(var, results[0]);
            results = &results[1..];
        }
        let results = results.to_vec();
        let results = self.body_call_status(status, &results, &result_types)?;
        for r in results {
            self.push(r);
        }
        Ok(())
    }

    /// `return_call` of defined function `defined_index`: a native tail call of its body,
    /// which takes over this function's frame, frame count and caller.
    fn direct_return_call(&mut self, defined_index: u32) -> Result<(), CompileError> {
        let ty = defined_type(self.module, defined_index)?;
        let callee = self.body_ref(defined_index)?;
        let args = self.body_args(self.frames_left, ty.params().len())?;
        self.builder.ins().return_call(callee, &args);
        self.reachable = false;
        Ok(())
    }

    fn libcall(&mut self, lc: Libcall, args: &[Value]) -> Option<Value> {
        let sig = match self.libcall_sigs.get(&lc) {
            Some(s) => *s,
            None => {
                let (params, results) = lc.signature();
                let abi = |t: &AbiType| {
                    AbiParam::new(match t {
                        AbiType::I32 => types::I32,
                        AbiType::I64 | AbiType::Ptr => types::I64,
                    })
                };
                let mut sig = Signature::new(self.call_conv);
                sig.params.extend(params.iter().map(abi));
                sig.returns.extend(results.iter().map(abi));
                let s = self.builder.import_signature(sig);
                self.libcall_sigs.insert(lc, s);
                s
            }
        };
        let mut all = vec![self.vmctx];
        all.extend_from_slice(args);
        self.gas_flush();
        let call = if lc == Libcall::OutOfGas {
            // Through the shim that preserves every register, so that values live across the
            // (cold) call need not be kept in callee-saved registers or spilled around loops.
            let shim = match self.out_of_gas_shim {
                Some(f) => f,
                None => {
                    let sig = self.builder.import_signature(out_of_gas_shim_signature());
                    let name =
                        self.builder.func.declare_imported_user_function(ir::UserExternalName::new(SHIM_NAMESPACE, 0));
                    let f = self.builder.import_function(ir::ExtFuncData {
                        name: ir::ExternalName::User(name),
                        signature: sig,
                        colocated: true,
                        patchable: false,
                    });
                    self.out_of_gas_shim = Some(f);
                    f
                }
            };
            self.builder.ins().call(shim, &all);
            // Cranelift's `preserve_all` convention returns nothing, so the status is read
            // from the counter: the libcall leaves it at least `cost` exactly when it succeeded
            // (see `Libcall::OutOfGas`).
            self.gas_reload();
            let gas = self.builder.use_var(self.gas?);
            return Some(self.builder.ins().icmp(IntCC::UnsignedGreaterThanOrEqual, gas, args[0]));
        } else {
            let table = self.load_ptr(self.vmctx, vm::VMCTX_LIBCALLS, true);
            let offset = i32::try_from(lc.index() as u64 * u64::from(vm::POINTER_SIZE)).unwrap_or(i32::MAX);
            let callee = self.load_ptr(table, offset, true);
            self.builder.ins().call_indirect(sig, callee, &all)
        };
        self.gas_reload();
        self.builder.inst_results(call).first().copied()
    }

    /// A libcall that returns a status, with the trap propagated.
    fn libcall_checked(&mut self, lc: Libcall, args: &[Value]) -> Result<(), CompileError> {
        let status = self.libcall(lc, args).ok_or_else(|| self.err("libcall without status"))?;
        self.check_status(status);
        Ok(())
    }

    fn iconst32(&mut self, x: u32) -> Value {
        self.builder.ins().iconst(types::I32, i64::from(x))
    }

    /// Calls the function behind `funcref` (a non-null `FuncRef` record) with the array call.
    fn array_call(&mut self, funcref: Value, type_index: u32) -> Result<(), CompileError> {
        let ty = self.module.types.get(type_index as usize).ok_or_else(|| self.err("type index out of range"))?;
        let params = ty.params().len();
        let result_types = ty.results().iter().map(|r| ir_type(*r, self.func_index)).collect::<Result<Vec<_>, _>>()?;
        let args = self.popn(params)?;
        let slots = params.max(result_types.len());
        let addr = if slots == 0 {
            self.builder.ins().iconst(PTR, 0)
        } else {
            let slot = self.call_buffer()?;
            for (i, a) in args.iter().enumerate() {
                let offset = i32::try_from(i as u64 * u64::from(vm::VALRAW_SIZE)).unwrap_or(i32::MAX);
                self.builder.ins().stack_store(PTR, *a, slot, offset);
            }
            self.builder.ins().stack_addr(PTR, slot, 0)
        };
        let sig = self.array_sig();
        let code = self.builder.ins().load(PTR, MemFlagsData::trusted(), funcref, vm::FUNCREF_CALL);
        let callee_vmctx = self.builder.ins().load(PTR, MemFlagsData::trusted(), funcref, vm::FUNCREF_VMCTX);
        self.store_callee_frames();
        self.gas_flush();
        let call = self.builder.ins().call_indirect(sig, code, &[callee_vmctx, self.vmctx, addr]);
        self.gas_reload();
        let status = self.builder.inst_results(call)[0];
        self.call_status(status, result_types.len())?;
        if !result_types.is_empty() {
            let slot = self.call_buffer()?;
            for (i, rt) in result_types.iter().enumerate() {
                let offset = i32::try_from(i as u64 * u64::from(vm::VALRAW_SIZE)).unwrap_or(i32::MAX);
                let v = self.builder.ins().stack_load(PTR, *rt, slot, offset);
                self.push(v);
            }
        }
        Ok(())
    }

    /// The signature of array calls, imported once per function.
    fn array_sig(&mut self) -> ir::SigRef {
        if let Some(s) = self.array_sig {
            return s;
        }
        let s = self.builder.import_signature(array_call_signature(self.call_conv));
        self.array_sig = Some(s);
        s
    }

    /// The function a `call_indirect` or `return_call_indirect` calls: the non-null record at
    /// the popped index of `table`, checked to have type `type_index`.
    fn indirect_callee(&mut self, type_index: u32, table_index: u32) -> Result<Value, CompileError> {
        let index = self.pop()?;
        let addr = self.table_elem_addr(table_index, index, TrapCode::UndefinedElement);
        let flags = self.region_flags(MemFlagsData::trusted(), Region::TableElems);
        let funcref = self.builder.ins().load(PTR, flags, addr, 0);
        let null = self.builder.ins().icmp_imm_s(IntCC::Equal, funcref, 0);
        self.trap_if(null, TrapCode::IndirectCallToNull);
        let actual = self.builder.ins().load(types::I32, MemFlagsData::trusted(), funcref, vm::FUNCREF_TYPE_ID);
        let ids = self.load_ptr(self.vmctx, vm::VMCTX_TYPE_IDS, true);
        let offset = i32::try_from(u64::from(type_index) * 4).map_err(|_| self.err("type index too large"))?;
        let expected = self.builder.ins().load(types::I32, MemFlagsData::trusted().with_readonly(), ids, offset);
        let mismatch = self.builder.ins().icmp(IntCC::NotEqual, actual, expected);
        self.trap_if(mismatch, TrapCode::IndirectCallTypeMismatch);
        Ok(funcref)
    }

    /// The shared call buffer, sized for the widest signature of the module.
    fn call_buffer(&mut self) -> Result<ir::StackSlot, CompileError> {
        if let Some(s) = self.call_buffer {
            return Ok(s);
        }
        let widest = self.module.types.iter().map(|t| t.params().len().max(t.results().len())).max().unwrap_or(0);
        let size = u32::try_from(widest.max(1) as u64 * u64::from(vm::VALRAW_SIZE))
            .map_err(|_| self.err("signature too wide"))?;
        let s = self.builder.create_sized_stack_slot(StackSlotData::new(StackSlotKind::ExplicitSlot, size, 4));
        self.call_buffer = Some(s);
        Ok(s)
    }

    fn block_sig(&self, bt: BlockType) -> Result<(Vec<Type>, Vec<Type>), CompileError> {
        let fi = self.func_index;
        Ok(match bt {
            BlockType::Empty => (vec![], vec![]),
            BlockType::Type(t) => (vec![], vec![ir_type(wasm_val_type(t, fi)?, fi)?]),
            BlockType::FuncType(idx) => {
                let ft = self.module.types.get(idx as usize).ok_or_else(|| self.err("block type out of range"))?;
                let p = ft.params().iter().map(|t| ir_type(*t, fi)).collect::<Result<Vec<_>, _>>()?;
                let r = ft.results().iter().map(|t| ir_type(*t, fi)).collect::<Result<Vec<_>, _>>()?;
                (p, r)
            }
        })
    }

    fn block_with_params(&mut self, tys: &[Type]) -> ir::Block {
        let b = self.builder.create_block();
        for t in tys {
            self.builder.append_block_param(b, *t);
        }
        b
    }

    fn jump(&mut self, dest: ir::Block, args: &[Value]) {
        let args: Vec<BlockArg> = args.iter().map(|v| BlockArg::Value(*v)).collect();
        self.builder.ins().jump(dest, &args);
    }

    /// The frame `depth` levels out, and the values a branch to it carries.
    fn branch_target(&mut self, depth: u32) -> Result<(ir::Block, usize), CompileError> {
        let i =
            self.frames.len().checked_sub(1 + depth as usize).ok_or_else(|| self.err("branch depth out of range"))?;
        let f = &mut self.frames[i];
        if f.kind == Kind::Loop {
            Ok((f.br_dest, f.num_params))
        } else {
            f.next_reached = true;
            Ok((f.br_dest, f.num_results))
        }
    }

    /// The native address of a `size`-byte access at `addr + offset` in memory `mem`, after the
    /// bounds check.
    fn mem_addr(&mut self, mem: u32, addr: Value, offset: u64, size: u32) -> Value {
        let def = self.vmctx_entry(vm::VMCTX_MEMORIES, mem);
        let mut flags = self.region_flags(MemFlagsData::trusted(), Region::MemoryDef);
        if self.memory_fixed {
            // Nothing this function does can move or resize a memory, so Cranelift may load
            // base and length once, out of every loop.
            flags = flags.with_readonly().with_can_move();
        }
        let len = self.builder.ins().load(types::I64, flags, def, vm::MEMORY_LENGTH);
        let base = self.builder.ins().load(PTR, flags, def, vm::MEMORY_BASE);
        let addr = self.builder.ins().uextend(types::I64, addr);
        // In bounds when `addr + offset + size <= len`. `offset < 2^32` and `size <= 16` for
        // 32-bit memories, so the sum cannot wrap. (Comparing `addr` with `len - (offset +
        // size)` instead saves an instruction per access, but every distinct offset then
        // makes a loop-invariant value of its own, and in a loop with many offsets they
        // crowd the registers and are spilled: sha256 got slower.)
        let end = self.builder.ins().iadd_imm_s(addr, offset.saturating_add(u64::from(size)) as i64);
        let oob = self.builder.ins().icmp(IntCC::UnsignedGreaterThan, end, len);
        self.trap_if(oob, TrapCode::MemoryOutOfBounds);
        let native = self.builder.ins().iadd(base, addr);
        if offset == 0 { native } else { self.builder.ins().iadd_imm_s(native, offset as i64) }
    }

    fn load(&mut self, memarg: &wasmparser::MemArg, ty: Type, size: u32, kind: Ext) -> Result<(), CompileError> {
        let addr = self.pop()?;
        let p = self.mem_addr(memory_index(memarg, self.func_index)?, addr, memarg.offset, size);
        let flags = self.heap_flags(ir::Endianness::Little);
        let ins = self.builder.ins();
        let v = match (kind, size) {
            (Ext::None, _) => ins.load(ty, flags, p, 0),
            (Ext::S, 1) => ins.sload8(ty, flags, p, 0),
            (Ext::U, 1) => ins.uload8(ty, flags, p, 0),
            (Ext::S, 2) => ins.sload16(ty, flags, p, 0),
            (Ext::U, 2) => ins.uload16(ty, flags, p, 0),
            (Ext::S, _) => ins.sload32(flags, p, 0),
            (Ext::U, _) => ins.uload32(flags, p, 0),
        };
        self.push(v);
        Ok(())
    }

    fn store(&mut self, memarg: &wasmparser::MemArg, size: u32, narrow: bool) -> Result<(), CompileError> {
        let (addr, v) = self.pop2()?;
        let p = self.mem_addr(memory_index(memarg, self.func_index)?, addr, memarg.offset, size);
        let flags = self.heap_flags(ir::Endianness::Little);
        let ins = self.builder.ins();
        match (narrow, size) {
            (false, _) => ins.store(flags, v, p, 0),
            (true, 1) => ins.istore8(flags, v, p, 0),
            (true, 2) => ins.istore16(flags, v, p, 0),
            (true, _) => ins.istore32(flags, v, p, 0),
        };
        Ok(())
    }

    fn table_def(&mut self, table: u32) -> Value {
        self.vmctx_entry(vm::VMCTX_TABLES, table)
    }

    /// The address of element `index` of table `table`, trapping with `code` when out of bounds.
    fn table_elem_addr(&mut self, table: u32, index: Value, code: TrapCode) -> Value {
        let def = self.table_def(table);
        let flags = self.region_flags(MemFlagsData::trusted(), Region::TableDef);
        let len = self.builder.ins().load(types::I64, flags, def, vm::TABLE_LENGTH);
        let index = self.builder.ins().uextend(types::I64, index);
        let oob = self.builder.ins().icmp(IntCC::UnsignedGreaterThanOrEqual, index, len);
        self.trap_if(oob, code);
        let base = self.builder.ins().load(PTR, flags, def, vm::TABLE_BASE);
        let scaled = self.builder.ins().imul_imm_s(index, i64::from(vm::POINTER_SIZE));
        self.builder.ins().iadd(base, scaled)
    }

    fn unop(&mut self, f: impl FnOnce(&mut FunctionBuilder<'_>, Value) -> Value) -> Result<(), CompileError> {
        let a = self.pop()?;
        let v = f(&mut self.builder, a);
        self.push(v);
        Ok(())
    }

    fn binop(&mut self, f: impl FnOnce(&mut FunctionBuilder<'_>, Value, Value) -> Value) -> Result<(), CompileError> {
        let (a, b) = self.pop2()?;
        let v = f(&mut self.builder, a, b);
        self.push(v);
        Ok(())
    }

    fn icmp(&mut self, cc: IntCC) -> Result<(), CompileError> {
        self.binop(|b, x, y| {
            let c = b.ins().icmp(cc, x, y);
            b.ins().uextend(types::I32, c)
        })
    }

    fn fcmp(&mut self, cc: FloatCC) -> Result<(), CompileError> {
        self.binop(|b, x, y| {
            let c = b.ins().fcmp(cc, x, y);
            b.ins().uextend(types::I32, c)
        })
    }

    fn div(&mut self, signed: bool, rem: bool) -> Result<(), CompileError> {
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
    fn trunc(&mut self, to: Type, signed: bool) -> Result<(), CompileError> {
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

    fn extend(&mut self, narrow: Type, wide: Type) -> Result<(), CompileError> {
        self.unop(|b, x| {
            let n = b.ins().ireduce(narrow, x);
            b.ins().sextend(wide, n)
        })
    }

    /// Handles `end` of the innermost frame.
    fn end(&mut self) -> Result<(), CompileError> {
        let mut frame = self.frames.pop().ok_or_else(|| self.err("`end` without a block"))?;
        if self.reachable {
            let results = self.popn(frame.num_results)?;
            self.jump(frame.next, &results);
            frame.next_reached = true;
        }
        if let Some((else_block, params)) = frame.else_block.take() {
            // An `if` without `else`: the missing branch passes its parameters through.
            self.builder.switch_to_block(else_block);
            self.jump(frame.next, &params);
            frame.next_reached = true;
        }
        self.stack.truncate(frame.height);
        if self.frames.is_empty() {
            // The function's own block: `next` is the return block, handled by the caller.
            return Ok(());
        }
        if frame.next_reached {
            self.builder.switch_to_block(frame.next);
            let params = self.builder.block_params(frame.next).to_vec();
            self.stack.extend(params);
            self.reachable = true;
        } else {
            self.reachable = false;
        }
        Ok(())
    }

    fn operator(&mut self, op: Operator<'_>) -> Result<(), CompileError> {
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
                let t = self.trap_block(Some(TrapCode::Unreachable));
                let at = self.offset_arg();
                self.builder.ins().jump(t, &[at]);
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
                });
            }
            O::If { blockty } => {
                let cond = self.pop()?;
                let (params, results) = self.block_sig(blockty)?;
                let next = self.block_with_params(&results);
                let then_block = self.builder.create_block();
                let else_block = self.builder.create_block();
                self.builder.ins().brif(cond, then_block, &[], else_block, &[]);
                self.builder.switch_to_block(then_block);
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
                });
            }
            O::Else => {
                let fi = self.func_index;
                let bad = |m: &str| CompileError::Codegen { func_index: fi, message: m.into() };
                let frame = self.frames.last_mut().ok_or_else(|| bad("`else` without `if`"))?;
                let (else_block, params) = frame.else_block.take().ok_or_else(|| bad("`else` twice"))?;
                let (next, num_results, height) = (frame.next, frame.num_results, frame.height);
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
                self.builder.switch_to_block(cont);
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

#[derive(Clone, Copy, Debug)]
enum Ext {
    None,
    S,
    U,
}

fn memory_index(memarg: &wasmparser::MemArg, func_index: u32) -> Result<u32, CompileError> {
    match memarg.target {
        wasmparser::MemArgTarget::Memory(m) => Ok(m),
        wasmparser::MemArgTarget::Array(_) => Err(unsupported("GC array accesses", func_index)),
    }
}

#[cfg(test)]
mod tests {
    use cranelift_codegen::ir::Opcode;
    use cranelift_codegen::settings::{self, Configurable};

    use super::*;

    /// Translates every function of `wat` and returns the IR.
    fn ir(wat: &str) -> Vec<Function> {
        let module = wes_decode::decode_text(wat).unwrap();
        let mut flags = settings::builder();
        flags.set("opt_level", "none").unwrap();
        let isa = cranelift_native::builder().unwrap().finish(settings::Flags::new(flags)).unwrap();
        (0..module.bodies.len() as u32)
            .map(|i| {
                let mut func = Function::new();
                let mut fctx = FunctionBuilderContext::new();
                let facts = FunctionFacts { segments: None, may_move_memory: true };
                translate(&module, i, isa.default_call_conv(), isa.frontend_config(), &mut func, &mut fctx, &facts)
                    .unwrap();
                func
            })
            .collect()
    }

    #[test]
    fn wasm_traps_never_use_cranelift_trap_instructions() {
        let funcs = ir(r#"(module (memory 1) (table 1 funcref) (type $t (func (result i32)))
            (func (param i32 i64 f64) (result i32)
              (drop (i32.div_s (local.get 0) (local.get 0)))
              (drop (i64.rem_u (local.get 1) (local.get 1)))
              (drop (i32.trunc_f64_u (local.get 2)))
              (drop (i32.load (local.get 0)))
              (drop (table.get 0 (local.get 0)))
              (memory.fill (local.get 0) (local.get 0) (local.get 0))
              (drop (call_indirect (type $t) (local.get 0)))
              unreachable))"#);
        let f = &funcs[0];
        let opcodes: Vec<Opcode> =
            f.layout.blocks().flat_map(|b| f.layout.block_insts(b)).map(|i| f.dfg.insts[i].opcode()).collect();
        assert!(!opcodes.is_empty());
        for op in opcodes {
            assert!(!matches!(op, Opcode::Trap | Opcode::Trapz | Opcode::Trapnz), "{op} in\n{}", f.display());
        }
    }

    #[test]
    fn every_body_checks_its_frame_count_and_returns_a_status() {
        let f = &ir("(module (func (param i32) (result i64) i64.const 7))")[0];
        let text = f.display().to_string();
        // Even a trivial function checks the frames it may open, whose cold trap block calls
        // the Trap libcall and returns 0; the normal exit returns 1.
        assert!(text.contains("iconst.i8 1"), "{text}");
        assert!(text.contains("iconst.i8 0"), "{text}");
        assert!(text.contains("call_indirect"), "{text}");
        assert!(text.contains("icmp eq v1"), "{text}");
        // (vmctx, frames_left, param) -> (status, result), in the tail convention.
        assert_eq!(f.signature.call_conv, CallConv::Tail);
        assert_eq!(f.signature.params.len(), 3);
        assert_eq!(f.signature.returns.len(), 2);
    }

    #[test]
    fn direct_calls_pass_everything_in_registers_and_calls_through_records_store_the_count() {
        let funcs = ir(r#"(module (import "m" "f" (func $imp (param i32) (result i32)))
            (func $g (param i32) (result i32) local.get 0)
            (func (param i32) (result i32)
              (call $g (local.get 0))
              (call $imp)))"#);
        let f = &funcs[1];
        let text = f.display().to_string();
        let opcodes: Vec<Opcode> =
            f.layout.blocks().flat_map(|b| f.layout.block_insts(b)).map(|i| f.dfg.insts[i].opcode()).collect();
        // One direct call of $g's body; the import goes through its record, after the frame
        // count was stored for its entry.
        assert_eq!(opcodes.iter().filter(|o| **o == Opcode::Call).count(), 1, "{text}");
        assert!(opcodes.iter().filter(|o| **o == Opcode::CallIndirect).count() >= 2, "{text}");
        assert!(opcodes.contains(&Opcode::Store), "{text}");
        // The direct call takes (vmctx, frames_left, the i32) and returns (status, result).
        let call = f
            .layout
            .blocks()
            .flat_map(|b| f.layout.block_insts(b))
            .find(|i| f.dfg.insts[*i].opcode() == Opcode::Call)
            .unwrap();
        assert_eq!(f.dfg.inst_args(call).len(), 3, "{text}");
        assert_eq!(f.dfg.inst_results(call).len(), 2, "{text}");
    }
}
