//! Gas metering in generated code: the check-and-deduct at the start of each segment and the
//! decoding of the grow libcalls' results.
//!
//! What a segment costs is decided by `wes_meter::function_segments`, never here: this module
//! only emits, at the first operator of each reachable segment,
//!
//! ```text
//!   check:  brif gas >= cost, paid, refill
//!   refill: (cold) status = OutOfGas(cost)   ;; handler tops up, or the trap is recorded
//!           brif status, check, trap
//!   paid:   gas = gas - cost
//! ```
//!
//! so nothing of the segment runs before it is paid for, and a topped-up call resumes at the
//! very check that stopped it.
//!
//! Where the counter lives was decided by measurement (docs/benchmarks.md): its home is the
//! store context ([`vm::STORE_GAS`]), shared by every instance of a store, but while compiled
//! code runs it is a Cranelift variable, so the register allocator keeps it in a register
//! through loops, and it is passed to and returned from direct calls between bodies like an
//! argument. It is written back before every libcall and array call (the runtime, a host
//! function or another instance reads and charges the memory copy) and read again after them;
//! array-call entries read it at entry and write it back at exit. Keeping it in memory at every
//! segment cost 2.6× on a tight loop; the variable brings that down to the figures in
//! docs/benchmarks.md.

use cranelift_codegen::ir::condcodes::IntCC;
use cranelift_codegen::ir::{InstBuilder, MemFlagsData, Value, types};
use wes_core::vm::{self, Libcall};

use super::Translator;

impl Translator<'_, '_> {
    /// Makes the function metered: the counter, which arrives as the body parameter `gas`,
    /// becomes a variable.
    pub(super) fn gas_init(&mut self, gas: Value) {
        let var = self.builder.declare_var(types::I64);
        self.builder.def_var(var, gas);
        self.gas = Some(var);
    }

    /// Writes the counter back to the store context (before code that reads or charges it).
    pub(super) fn gas_flush(&mut self) {
        if let Some(var) = self.gas {
            let gas = self.builder.use_var(var);
            let store = self.load_ptr(self.vmctx, vm::VMCTX_STORE, true);
            self.builder.ins().store(MemFlagsData::trusted(), gas, store, vm::STORE_GAS);
        }
    }

    /// Reads the counter from the store context (after code that may have charged it).
    pub(super) fn gas_reload(&mut self) {
        if let Some(var) = self.gas {
            let store = self.load_ptr(self.vmctx, vm::VMCTX_STORE, true);
            let gas = self.builder.ins().load(types::I64, MemFlagsData::trusted(), store, vm::STORE_GAS);
            self.builder.def_var(var, gas);
        }
    }

    /// Charges `cost` gas before the code that follows runs.
    pub(super) fn charge_gas(&mut self, cost: u64) {
        let Some(var) = self.gas else { return };
        if cost == 0 {
            return;
        }
        let check = self.builder.create_block();
        let refill = self.builder.create_block();
        let paid = self.builder.create_block();
        self.builder.ins().jump(check, &[]);

        self.builder.switch_to_block(check);
        let gas = self.builder.use_var(var);
        // The cost is compared as an unsigned 64-bit number; its bits go in the immediate.
        let enough = self.builder.ins().icmp_imm_u(IntCC::UnsignedGreaterThanOrEqual, gas, cost as i64);
        self.builder.ins().brif(enough, paid, &[], refill, &[]);

        self.builder.switch_to_block(refill);
        self.builder.set_cold_block(refill);
        let c = self.builder.ins().iconst(types::I64, cost as i64);
        // `libcall` writes the counter back before and reads it again after.
        if let Some(status) = self.libcall(Libcall::OutOfGas, &[c]) {
            let trap = self.trap_block(None);
            let at = self.offset_arg();
            self.builder.ins().brif(status, check, &[], trap, &[at]);
        } else {
            self.builder.ins().jump(check, &[]);
        }

        self.builder.switch_to_block(paid);
        let left = self.builder.ins().iadd_imm_s(gas, (cost as i64).wrapping_neg());
        self.builder.def_var(var, left);
    }

    /// Turns a grow libcall's `i64` result into the wasm `i32` result, propagating a trap the
    /// libcall recorded (a negative result).
    pub(super) fn grow_result(&mut self, raw: Value) -> Value {
        let trapped = self.builder.ins().icmp_imm_s(IntCC::SignedLessThan, raw, 0);
        self.branch_trap_if(trapped, None);
        self.builder.ins().ireduce(types::I32, raw)
    }
}
