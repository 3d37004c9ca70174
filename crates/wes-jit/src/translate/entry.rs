//! The small functions around the bodies: each function's array-call entry, and the module's
//! out-of-gas and replay shims that metered code calls from its cold refill paths.

use cranelift_codegen::ir::condcodes::IntCC;
use cranelift_codegen::ir::{self, AbiParam, Function, InstBuilder, MemFlagsData, Signature, UserFuncName, types};
use cranelift_codegen::isa::CallConv;
use cranelift_frontend::{FunctionBuilder, FunctionBuilderContext};
use wes_core::vm::{self, Libcall};
use wes_core::{CompileError, Module};

use super::{BODY_NAMESPACE, PTR, SHIM_NAMESPACE, array_call_signature, body_signature, defined_type, ir_type};

/// The signature of the out-of-gas shim: `(vmctx, cost: i64, offset: i32)`, no result (the
/// `preserve_all` convention has none), preserving every register.
pub(super) fn out_of_gas_shim_signature() -> Signature {
    let mut sig = Signature::new(CallConv::PreserveAll);
    sig.params.extend([AbiParam::new(PTR), AbiParam::new(types::I64), AbiParam::new(types::I32)]);
    sig
}

/// The signature of [`Libcall::OutOfGasUnwind`] with the C convention.
fn out_of_gas_libcall_signature(call_conv: CallConv) -> Signature {
    let mut sig = Signature::new(call_conv);
    sig.params.extend([AbiParam::new(PTR), AbiParam::new(types::I64), AbiParam::new(types::I32), AbiParam::new(PTR)]);
    sig
}

/// Builds the out-of-gas shim into `func`: it calls [`Libcall::OutOfGasUnwind`] through the
/// libcall table with the C convention and its own frame pointer, and saves and restores every
/// register that call may clobber. It returns only when the counter holds at least the cost;
/// when the handler gives no more gas the libcall records the trap at the offset the caller
/// passed, in the caller's frame (found from the shim's frame), and unwinds.
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
    let offset =
        i32::try_from(Libcall::OutOfGasUnwind.index() as u64 * u64::from(vm::POINTER_SIZE)).unwrap_or(i32::MAX);
    let callee = b.ins().load(PTR, flags, table, offset);
    let sig = b.import_signature(out_of_gas_libcall_signature(call_conv));
    let fp = b.ins().get_frame_pointer(PTR);
    b.ins().call_indirect(sig, callee, &[params[0], params[1], params[2], fp]);
    b.ins().return_(&[]);
    b.seal_all_blocks();
    b.finalize(frontend);
}

/// The layout of the table a merged check's slow path hands the replay shim: the number of
/// segments at byte 0, then one `(cost, start offset, operators)` entry of `u64`s per segment
/// from byte 8 (the operators are read only by the shim of code that counts them).
pub(super) const REPLAY_COUNT: i32 = 0;
/// See [`REPLAY_COUNT`].
pub(super) const REPLAY_ENTRIES: i32 = 8;
/// See [`REPLAY_COUNT`].
pub(super) const REPLAY_ENTRY_SIZE: i32 = 24;

/// The signature of the replay shim: `(vmctx, table)`, no result, preserving every register.
pub(super) fn replay_shim_signature() -> Signature {
    let mut sig = Signature::new(CallConv::PreserveAll);
    sig.params.extend([AbiParam::new(PTR), AbiParam::new(PTR)]);
    sig
}

/// Builds the replay shim into `func`: the slow path of a merged gas check (see
/// [`gas`](super::gas)), shared by every function of the module. For each `(cost, offset,
/// operators)` of the table in order it does what one unmerged check does, on the counters in
/// memory: while the gas counter is below `cost`, it asks [`Libcall::OutOfGasUnwind`] for it
/// (which, when the handler gives no more, records the trap at `offset` in the frame that
/// called the shim and unwinds); then it deducts `cost` and, when `count_operators`, adds
/// `operators` to the operator counter. It returns once every segment is paid for.
///
/// Why a shim rather than the checks written out in every slow path: written out, each merged
/// segment cost four blocks and about twenty instructions of cold code, most of the IR of a
/// metered function, and compile time grew faster than the function.
pub(crate) fn translate_replay_shim(
    count_operators: bool,
    call_conv: CallConv,
    frontend: cranelift_codegen::isa::TargetFrontendConfig,
    func: &mut Function,
    fctx: &mut FunctionBuilderContext,
) {
    func.signature = replay_shim_signature();
    func.name = UserFuncName::user(SHIM_NAMESPACE, 1);
    let mut b = FunctionBuilder::new(func, fctx);
    let entry = b.create_block();
    let head = b.create_block();
    let body = b.create_block();
    let check = b.create_block();
    let pay = b.create_block();
    let refill = b.create_block();
    let finish = b.create_block();
    b.append_block_params_for_function_params(entry);
    let index = b.declare_var(types::I64);

    b.switch_to_block(entry);
    let params = b.block_params(entry).to_vec();
    let (vmctx, table) = (params[0], params[1]);
    let flags = MemFlagsData::trusted();
    let count = b.ins().load(types::I64, flags, table, REPLAY_COUNT);
    let zero = b.ins().iconst(types::I64, 0);
    b.def_var(index, zero);
    b.ins().jump(head, &[]);

    b.switch_to_block(head);
    let i = b.use_var(index);
    let done = b.ins().icmp(IntCC::UnsignedGreaterThanOrEqual, i, count);
    b.ins().brif(done, finish, &[], body, &[]);

    b.switch_to_block(body);
    let scaled = b.ins().imul_imm_s(i, i64::from(REPLAY_ENTRY_SIZE));
    let base = b.ins().iadd(table, scaled);
    let cost = b.ins().load(types::I64, flags, base, REPLAY_ENTRIES);
    b.ins().jump(check, &[]);

    b.switch_to_block(check);
    let store = b.ins().load(PTR, flags.with_readonly(), vmctx, vm::VMCTX_STORE);
    let gas = b.ins().load(types::I64, flags, store, vm::STORE_GAS);
    let enough = b.ins().icmp(IntCC::UnsignedGreaterThanOrEqual, gas, cost);
    b.ins().brif(enough, pay, &[], refill, &[]);

    b.switch_to_block(pay);
    let left = b.ins().isub(gas, cost);
    b.ins().store(flags, left, store, vm::STORE_GAS);
    if count_operators {
        let n = b.ins().load(types::I64, flags, base, REPLAY_ENTRIES + 16);
        let ops = b.ins().load(types::I64, flags, store, vm::STORE_OPERATORS);
        let more = b.ins().iadd(ops, n);
        b.ins().store(flags, more, store, vm::STORE_OPERATORS);
    }
    let next = b.ins().iadd_imm_s(i, 1);
    b.def_var(index, next);
    b.ins().jump(head, &[]);

    // The libcall returns only when the counter holds at least `cost`; the check is made
    // again all the same, as an unmerged check pays after a refill.
    b.switch_to_block(refill);
    let libcalls = b.ins().load(PTR, flags.with_readonly(), vmctx, vm::VMCTX_LIBCALLS);
    let offset =
        i32::try_from(Libcall::OutOfGasUnwind.index() as u64 * u64::from(vm::POINTER_SIZE)).unwrap_or(i32::MAX);
    let callee = b.ins().load(PTR, flags.with_readonly(), libcalls, offset);
    let sig = b.import_signature(out_of_gas_libcall_signature(call_conv));
    let at = b.ins().load(types::I32, flags, base, REPLAY_ENTRIES + 8);
    let fp = b.ins().get_frame_pointer(PTR);
    b.ins().call_indirect(sig, callee, &[vmctx, cost, at, fp]);
    b.ins().jump(check, &[]);

    b.switch_to_block(finish);
    b.ins().return_(&[]);

    b.seal_all_blocks();
    b.finalize(frontend);
}

/// Byte offset of slot `i` of an argument/result buffer.
pub(super) fn slot_offset(i: usize) -> i32 {
    i32::try_from(i as u64 * u64::from(vm::VALRAW_SIZE)).unwrap_or(i32::MAX)
}

/// Builds the array-call entry of defined function `defined_index` into `func`: parameters,
/// frame count and counters (gas, operators) from memory, a direct call of the body, results
/// and counters back to memory.
pub(crate) fn translate_entry(
    module: &Module,
    defined_index: u32,
    call_conv: CallConv,
    counters: super::Counters,
    frontend: cranelift_codegen::isa::TargetFrontendConfig,
    func: &mut Function,
    fctx: &mut FunctionBuilderContext,
) -> Result<(), CompileError> {
    let func_index = module.num_imported_functions + defined_index;
    let ty = defined_type(module, defined_index)?;
    func.signature = array_call_signature(call_conv);
    func.name = UserFuncName::user(1, func_index);
    let body_sig = body_signature(ty, counters, func_index)?;
    let homes: Vec<i32> = [(counters.gas, vm::STORE_GAS), (counters.ops, vm::STORE_OPERATORS)]
        .into_iter()
        .filter_map(|(on, at)| on.then_some(at))
        .collect();
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
    for at in &homes {
        call_args.push(b.ins().load(types::I64, flags, store, *at));
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
    for at in &homes {
        // The body returns the true counters whatever its status.
        b.ins().store(flags, results[0], store, *at);
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
