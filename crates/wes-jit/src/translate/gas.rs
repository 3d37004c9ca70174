//! Gas metering in generated code: the check-and-deduct at the start of each segment and the
//! decoding of the grow libcalls' results.
//!
//! What a segment costs is decided by `wes_meter::function_segments`, never here: this module
//! only emits, at the first operator of each reachable segment,
//!
//! ```text
//!           brif gas >= cost, paid, refill
//!   refill: (cold) status = OutOfGas(cost)   ;; handler tops up, or the trap is recorded
//!           brif status, paid, trap          ;; status: the counter now holds `cost`
//!   paid:   gas = gas - cost
//! ```
//!
//! so nothing of the segment runs before it is paid for, and a topped-up call resumes at the
//! very point that stopped it.
//!
//! With `JitConfig::merge_gas_checks`, `wes_meter::ChargePlan::merged` lets one check charge a
//! *chain* of segments `[(o1,c1), …, (ok,ck)]` (the first is the segment itself; the ones
//! before the last are pure and each has the next as its only successor), and the absorbed
//! segments get no check of their own:
//!
//! ```text
//!   check:   brif gas >= c1+…+ck, paid, slow
//!   paid:    gas = gas - (c1+…+ck); jump cont
//!   slow:    (cold) for each i: the check above for ci, trapping at offset oi
//!            jump cont
//!   cont:
//! ```
//!
//! The fast path is one compare and one subtraction for the whole chain; the slow path is
//! exactly the sequence of per-segment checks (the same handler requests, gas and trap
//! offset), which is unobservable as a difference because nothing between the merged check
//! and the check it replays can trap, write state or call out. A chain of one segment emits
//! the plain check.
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
use cranelift_codegen::ir::{BlockArg, InstBuilder, MemFlagsData, Value, types};
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

    /// Charges, before the code that follows runs, the segments of a check's chain
    /// (`(start offset, cost)` in the order they run; see the module docs).
    pub(super) fn charge_chain(&mut self, chain: &[(u64, u64)]) {
        let [(_, cost)] = chain else {
            self.charge_merged(chain);
            return;
        };
        self.charge_gas(*cost);
    }

    /// One check of the chain's total on the fast path; when it fails, the cold path replays
    /// the per-segment checks, so handler calls, gas and trap offset are those of one check
    /// per segment.
    fn charge_merged(&mut self, chain: &[(u64, u64)]) {
        let Some(var) = self.gas else { return };
        // The plan never lets a chain's sum overflow; saturating keeps this total anyway.
        let total = chain.iter().fold(0u64, |a, (_, c)| a.saturating_add(*c));
        if total == 0 {
            return;
        }
        let check = self.builder.create_block();
        let paid = self.builder.create_block();
        let slow = self.builder.create_block();
        let cont = self.builder.create_block();
        self.builder.ins().jump(check, &[]);

        self.builder.switch_to_block(check);
        let gas = self.builder.use_var(var);
        let enough = self.builder.ins().icmp_imm_u(IntCC::UnsignedGreaterThanOrEqual, gas, total as i64);
        self.builder.ins().brif(enough, paid, &[], slow, &[]);

        self.builder.switch_to_block(paid);
        let left = self.builder.ins().iadd_imm_s(gas, (total as i64).wrapping_neg());
        self.builder.def_var(var, left);
        self.builder.ins().jump(cont, &[]);

        // The slow path: each segment's own check, in order, as if unmerged. It is written out
        // here rather than calling `charge_gas` per segment: that version (re-check loop
        // dropped, a phi in the deduction) changed Cranelift's register allocation of the hot
        // path around it, and metered fib took 2.42 ms instead of 1.73 ms (`cargo xtask bench
        // --quick --filter fib`, 2026-11-21).
        self.builder.switch_to_block(slow);
        self.builder.set_cold_block(slow);
        for &(offset, cost) in chain {
            if cost == 0 {
                continue; // an unmerged zero-cost segment has no check
            }
            let again = self.builder.create_block();
            let refill = self.builder.create_block();
            let next = self.builder.create_block();
            self.builder.ins().jump(again, &[]);

            self.builder.switch_to_block(again);
            self.builder.set_cold_block(again);
            let gas = self.builder.use_var(var);
            let enough = self.builder.ins().icmp_imm_u(IntCC::UnsignedGreaterThanOrEqual, gas, cost as i64);
            self.builder.ins().brif(enough, next, &[], refill, &[]);

            self.builder.switch_to_block(refill);
            self.builder.set_cold_block(refill);
            let c = self.builder.ins().iconst(types::I64, cost as i64);
            if let Some(status) = self.libcall(Libcall::OutOfGas, &[c]) {
                let trap = self.trap_block(None);
                // The trap is reported where the unmerged check would have been: at the start
                // of the segment that could not be paid for.
                let at = self.builder.ins().iconst(types::I32, i64::from(u32::try_from(offset).unwrap_or(u32::MAX)));
                self.builder.ins().brif(status, again, &[], trap, &[BlockArg::Value(at)]);
            } else {
                self.builder.ins().jump(again, &[]);
            }

            self.builder.switch_to_block(next);
            self.builder.set_cold_block(next);
            let left = self.builder.ins().iadd_imm_s(gas, (cost as i64).wrapping_neg());
            self.builder.def_var(var, left);
        }
        self.builder.ins().jump(cont, &[]);

        self.builder.switch_to_block(cont);
    }

    /// Charges `cost` gas before the code that follows runs.
    pub(super) fn charge_gas(&mut self, cost: u64) {
        let Some(var) = self.gas else { return };
        if cost == 0 {
            return;
        }
        let refill = self.builder.create_block();
        let paid = self.builder.create_block();
        let gas = self.builder.use_var(var);
        // The cost is compared as an unsigned 64-bit number; its bits go in the immediate.
        let enough = self.builder.ins().icmp_imm_u(IntCC::UnsignedGreaterThanOrEqual, gas, cost as i64);
        self.builder.ins().brif(enough, paid, &[], refill, &[]);

        // The libcall writes the counter back before and reads it again after; its status
        // says whether the counter now holds the cost, so a success goes straight on to pay
        // it, exactly as the check would.
        self.builder.switch_to_block(refill);
        self.builder.set_cold_block(refill);
        let c = self.builder.ins().iconst(types::I64, cost as i64);
        let status = self.libcall(Libcall::OutOfGas, &[c]);
        let trap = self.trap_block(None);
        let at = self.offset_arg();
        match status {
            Some(status) => self.builder.ins().brif(status, paid, &[], trap, &[at]),
            None => self.builder.ins().jump(trap, &[at]),
        };

        self.builder.switch_to_block(paid);
        let gas = self.builder.use_var(var);
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
