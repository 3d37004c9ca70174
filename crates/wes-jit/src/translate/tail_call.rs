//! Tail calls (`return_call`, `return_call_indirect`) in constant native stack.
//!
//! A `return_call` of a function of the same module is a Cranelift `return_call` from body to
//! body (both have the `tail` convention); that lives in translate.rs. This module handles the
//! rest: calls through imports, tables and references, whose callee may be a host function,
//! another instance or another backend's code, reachable only through its array-call entry
//! with the C calling convention. Those tail calls use a *trampoline in the caller*:
//!
//! 1. A function that tail-calls writes the callee's arguments into the store's tail-call
//!    buffer ([`vm::STORE_TAIL_ARGS`], sized for any signature), the callee's record and its own
//!    vmctx into the store context, writes the gas counter back and returns [`CALL_TAIL`] — its
//!    frame is gone.
//! 2. Whoever made the last ordinary call (compiled code after a call, or the runtime's entry)
//!    sees `CALL_TAIL` and calls the pending callee's entry with the buffer, in a loop, giving
//!    each the frame count the tail-calling function had, until a callee returns or traps; the
//!    results are then taken from the buffer.
//!
//! The native stack and the call depth therefore stay flat however long a chain of tail calls
//! is, and a tail call to a host function works like any other.
//!
//! Cost: a call through a record pays nothing extra on its fast path (the status compare that
//! detects traps compares with [`CALL_RETURNED`]), a direct call of a body that may end in such
//! a tail call one compare; the loop lives in a cold block per call site.

use cranelift_codegen::ir::condcodes::IntCC;
use cranelift_codegen::ir::{self, InstBuilder, MemFlagsData, Value, types};
use wes_core::CompileError;
use wes_core::backend::{CALL_RETURNED, CALL_TAIL, CALL_TRAPPED};
use wes_core::vm;

use super::{PTR, Translator};

/// Byte offset of slot `i` of an argument/result buffer.
fn slot(i: usize) -> i32 {
    i32::try_from(i as u64 * u64::from(vm::VALRAW_SIZE)).unwrap_or(i32::MAX)
}

impl Translator<'_, '_> {
    /// `return_call*` of the function behind `funcref` (a non-null record) with type
    /// `type_index`: hands the call to whoever called this function.
    pub(super) fn return_call(&mut self, funcref: Value, type_index: u32) -> Result<(), CompileError> {
        let ty = self.module.types.get(type_index as usize).ok_or_else(|| self.err("type index out of range"))?;
        let args = self.popn(ty.params().len())?;
        let store = self.load_ptr(self.vmctx, vm::VMCTX_STORE, true);
        let buffer = self.load_ptr(store, vm::STORE_TAIL_ARGS, true);
        for (i, a) in args.iter().enumerate() {
            self.builder.ins().store(MemFlagsData::trusted(), *a, buffer, slot(i));
        }
        self.builder.ins().store(MemFlagsData::trusted(), funcref, store, vm::STORE_TAIL_CALLEE);
        self.builder.ins().store(MemFlagsData::trusted(), self.vmctx, store, vm::STORE_TAIL_CALLER);
        self.flush_counters();
        self.return_with(CALL_TAIL, None);
        self.reachable = false;
        Ok(())
    }

    /// Continues after an array call that returned `status`: on [`CALL_RETURNED`] straight on,
    /// on [`CALL_TRAPPED`] to the trap exit, and on [`CALL_TAIL`] through the loop that makes
    /// the pending tail calls and then copies their `results` results into the call buffer.
    pub(super) fn call_status(&mut self, status: Value, results: usize) -> Result<(), CompileError> {
        let cont = self.builder.create_block();
        let slow = self.builder.create_block();
        self.builder.set_cold_block(slow);
        let returned = self.builder.ins().icmp_imm_s(IntCC::Equal, status, i64::from(CALL_RETURNED));
        self.builder.ins().brif(returned, cont, &[], slow, &[]);

        // The counter in memory is current: it was written back before the call and nothing
        // has charged the variable since.
        self.builder.switch_to_block(slow);
        let buffer = self.pending_tail_calls(status, true);
        if results > 0 {
            let own = self.call_buffer()?;
            for i in 0..results {
                let v = self.builder.ins().load(types::I8X16, MemFlagsData::trusted(), buffer, slot(i));
                self.builder.ins().stack_store(PTR, v, own, slot(i));
            }
        }
        self.builder.ins().jump(cont, &[]);
        self.builder.switch_to_block(cont);
        Ok(())
    }

    /// Continues after a direct call of a body that returned `status` and, on
    /// [`CALL_RETURNED`], `results`; returns the results to push. A body never returns
    /// [`CALL_TRAPPED`]: its traps unwind (see [`traps`](super::traps)). On [`CALL_TAIL`] (the
    /// callee ended with a tail call through a record) it makes the pending tail calls and
    /// loads their results from the tail-call buffer. A callee that cannot return
    /// [`CALL_TAIL`] (`may_tail` false, see `FunctionShape::may_return_tail`, measured by the
    /// decoder) returns only [`CALL_RETURNED`], so the call needs no branch at all: most of the
    /// calls of compiled Rust or C.
    pub(super) fn body_call_status(
        &mut self,
        status: Value,
        results: &[Value],
        result_types: &[ir::Type],
        may_tail: bool,
    ) -> Result<Vec<Value>, CompileError> {
        if !may_tail {
            return Ok(results.to_vec());
        }
        let cont = self.builder.create_block();
        for t in result_types {
            self.builder.append_block_param(cont, *t);
        }
        self.body_call_status_to(status, results, result_types, may_tail, cont)?;
        self.builder.switch_to_block(cont);
        Ok(self.builder.block_params(cont).to_vec())
    }

    /// [`Translator::body_call_status`] that ends by jumping to `cont` (whose parameters are
    /// the result types) with the results, for a caller that joins other paths there.
    pub(super) fn body_call_status_to(
        &mut self,
        status: Value,
        results: &[Value],
        result_types: &[ir::Type],
        may_tail: bool,
        cont: ir::Block,
    ) -> Result<(), CompileError> {
        let args: Vec<ir::BlockArg> = results.iter().map(|v| ir::BlockArg::Value(*v)).collect();
        if !may_tail {
            self.builder.ins().jump(cont, &args);
            return Ok(());
        }
        let slow = self.builder.create_block();
        self.builder.set_cold_block(slow);
        let returned = self.builder.ins().icmp_imm_s(IntCC::Equal, status, i64::from(CALL_RETURNED));
        self.builder.ins().brif(returned, cont, &args, slow, &[]);

        // The body returned the counter in a register; the tail callees charge the memory copy.
        self.builder.switch_to_block(slow);
        self.flush_counters();
        let buffer = self.pending_tail_calls(status, false);
        let mut loaded = Vec::with_capacity(result_types.len());
        for (i, t) in result_types.iter().enumerate() {
            let v = self.builder.ins().load(*t, MemFlagsData::trusted(), buffer, slot(i));
            loaded.push(ir::BlockArg::Value(v));
        }
        self.builder.ins().jump(cont, &loaded);
        Ok(())
    }

    /// From a cold block where a callee returned `status` other than [`CALL_RETURNED`], with
    /// the gas counter in memory current: goes to the trap exit on [`CALL_TRAPPED`] (when
    /// `may_trap`: the callee was called through a record); otherwise
    /// calls the pending tail callee's entry until one does not tail-call again (each takes
    /// the frame of the callee this call site called, and may open as many frames), and goes
    /// to the trap exit if that one trapped. Leaves the builder in a block where the gas
    /// variable holds the counter the tail callees left, reloaded before any trap exit can
    /// write it back, and the results are in the returned tail-call buffer.
    fn pending_tail_calls(&mut self, status: Value, may_trap: bool) -> Value {
        let tail = self.builder.create_block();
        let done = self.builder.create_block();
        let copy = self.builder.create_block();
        for b in [tail, done, copy] {
            self.builder.set_cold_block(b);
        }
        if may_trap {
            let trapped = self.builder.ins().icmp_imm_s(IntCC::Equal, status, i64::from(CALL_TRAPPED));
            let trap = self.trap_stub_synced(None, self.offset);
            self.builder.ins().brif(trapped, trap, &[], tail, &[]);
            self.fill_trap_stubs();
        } else {
            self.builder.ins().jump(tail, &[]);
        }

        self.builder.switch_to_block(tail);
        self.store_callee_frames();
        let store = self.load_ptr(self.vmctx, vm::VMCTX_STORE, true);
        let buffer = self.load_ptr(store, vm::STORE_TAIL_ARGS, true);
        let callee = self.load_ptr(store, vm::STORE_TAIL_CALLEE, false);
        let caller = self.load_ptr(store, vm::STORE_TAIL_CALLER, false);
        let code = self.builder.ins().load(PTR, MemFlagsData::trusted(), callee, vm::FUNCREF_CALL);
        let callee_vmctx = self.builder.ins().load(PTR, MemFlagsData::trusted(), callee, vm::FUNCREF_VMCTX);
        let sig = self.array_sig();
        let call = self.builder.ins().call_indirect(sig, code, &[callee_vmctx, caller, buffer]);
        let again_status = self.builder.inst_results(call)[0];
        let again = self.builder.ins().icmp_imm_s(IntCC::Equal, again_status, i64::from(CALL_TAIL));
        self.builder.ins().brif(again, tail, &[], done, &[]);

        // Reload before the trap exit: its libcall writes the variable back to memory, which
        // would otherwise undo what the tail callees charged.
        self.builder.switch_to_block(done);
        self.reload_counters();
        let trapped = self.builder.ins().icmp_imm_s(IntCC::Equal, again_status, i64::from(CALL_TRAPPED));
        let trap = self.trap_stub_synced(None, self.offset);
        self.builder.ins().brif(trapped, trap, &[], copy, &[]);
        self.fill_trap_stubs();
        self.builder.switch_to_block(copy);
        buffer
    }
}
