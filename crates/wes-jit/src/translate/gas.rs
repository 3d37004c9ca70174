//! Gas metering in generated code: the check-and-deduct at the start of each segment and the
//! decoding of the grow libcalls' results.
//!
//! What a segment costs is decided by `wes_meter::function_segments`, never here: this module
//! only emits, at the first operator of each reachable segment,
//!
//! ```text
//!   check:  g = load store_ctx.gas
//!           brif g >= cost, paid, refill
//!   refill: (cold) status = OutOfGas(cost)   ;; handler tops up, or the trap is recorded
//!           brif status, check, trap
//!   paid:   store store_ctx.gas, g - cost
//! ```
//!
//! so nothing of the segment runs before it is paid for, and a topped-up call resumes at the
//! very check that stopped it. The counter lives in the store context (one load of the
//! context pointer, which Cranelift may reuse, then a load and a store per segment).

use cranelift_codegen::ir::condcodes::IntCC;
use cranelift_codegen::ir::{InstBuilder, MemFlagsData, Value, types};
use wes_core::vm::{self, Libcall};

use super::Translator;

impl Translator<'_, '_> {
    /// Charges `cost` gas before the code that follows runs.
    pub(super) fn charge_gas(&mut self, cost: u64) {
        if cost == 0 {
            return;
        }
        let check = self.builder.create_block();
        let refill = self.builder.create_block();
        let paid = self.builder.create_block();
        self.builder.ins().jump(check, &[]);

        self.builder.switch_to_block(check);
        let store = self.load_ptr(self.vmctx, vm::VMCTX_STORE, true);
        let gas = self.builder.ins().load(types::I64, MemFlagsData::trusted(), store, vm::STORE_GAS);
        // The cost is compared as an unsigned 64-bit number; its bits go in the immediate.
        let enough = self.builder.ins().icmp_imm_u(IntCC::UnsignedGreaterThanOrEqual, gas, cost as i64);
        self.builder.ins().brif(enough, paid, &[], refill, &[]);

        self.builder.switch_to_block(refill);
        self.builder.set_cold_block(refill);
        let c = self.builder.ins().iconst(types::I64, cost as i64);
        if let Some(status) = self.libcall(Libcall::OutOfGas, &[c]) {
            let trap = self.trap_block(None);
            self.builder.ins().brif(status, check, &[], trap, &[]);
        } else {
            self.builder.ins().jump(check, &[]);
        }

        self.builder.switch_to_block(paid);
        let left = self.builder.ins().iadd_imm_s(gas, (cost as i64).wrapping_neg());
        self.builder.ins().store(MemFlagsData::trusted(), left, store, vm::STORE_GAS);
    }

    /// Turns a grow libcall's `i64` result into the wasm `i32` result, propagating a trap the
    /// libcall recorded (a negative result).
    pub(super) fn grow_result(&mut self, raw: Value) -> Value {
        let trapped = self.builder.ins().icmp_imm_s(IntCC::SignedLessThan, raw, 0);
        self.branch_trap_if(trapped, None);
        self.builder.ins().ireduce(types::I32, raw)
    }
}
