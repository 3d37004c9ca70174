//! Gas metering and operator counting in generated code: the check-and-deduct at the start of
//! each segment, the count of the operators it charges for, and the decoding of the grow
//! libcalls' results.
//!
//! What a segment costs is decided by `wes_meter::function_segments`, never here: this module
//! only emits, at the first operator of each reachable segment,
//!
//! ```text
//!           brif gas >= cost, paid, refill
//!   refill: (cold) OutOfGasUnwind(cost)   ;; handler tops up, or the trap unwinds
//!           jump paid                     ;; the counter now holds `cost`
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
//! Without `JitConfig::resume_out_of_gas` (the default), nothing is ever asked for more gas,
//! so a check need not be able to return: it is a conditional trap,
//!
//! ```text
//!   trapnz gas < c1+…+ck, OUT_OF_GAS_TRAP   ;; ud2 out of line: SIGILL, the fault handler
//!   gas = gas - (c1+…+ck)
//! ```
//!
//! with no block of its own, so a segment adds no block, no edge and no phi to the function
//! (the refill path and its rejoin were most of what metering added to compile time). The
//! counter is written to its home after each check (as with guard regions), so when a check
//! faults the home holds the gas it found, and the runtime's fault handler replays the chain
//! from there (`CompiledModule::fault_at`, `Fault::OutOfGas`): it pays for the segments the gas
//! covers and traps at the first it does not, with the gas, operator count and offset of one
//! check per segment. [`Translator::gas_checks`] records each check's chain by the operator
//! offset its trap instruction carries.
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
//!
//! The executed-operator count (`JitConfig::count_operators`) is a second counter kept the same
//! way: its home is [`vm::STORE_OPERATORS`], in compiled code it is a variable passed to and
//! returned from direct calls, written back and read again wherever the gas counter is. Each
//! check adds the operators of the segments it charges (`wes_meter::ChainLink::ops`) on its
//! paid path: the fast path of a merged check adds the chain's sum, and the replay shim adds
//! each segment's operators as it pays for it, so a segment that runs out of gas is not
//! counted, exactly as it is not charged. Unmetered code that counts adds at the same points
//! with no check. An add on a register is one instruction; a read-modify-write of memory per
//! check would put a store-to-load dependency on every loop iteration.

use cranelift_codegen::ir::condcodes::IntCC;
use cranelift_codegen::ir::{self, InstBuilder, MemFlagsData, StackSlotData, StackSlotKind, Value, types};
use wes_core::vm;

use super::entry::{REPLAY_COUNT, REPLAY_ENTRIES, REPLAY_ENTRY_SIZE, replay_shim_signature};
use super::{PTR, SHIM_NAMESPACE, Translator};

/// The trap code of a gas check that traps (see the module docs); its fault is
/// `Fault::OutOfGas`.
pub(crate) const OUT_OF_GAS_TRAP: ir::TrapCode = ir::TrapCode::unwrap_user(2);

/// The longest chain of `iadd`s a trapping check may extend; the next subtracts with
/// `usub_overflow` (see `Translator::charge_trapping`).
const GAS_CHAIN_BREAK: u32 = 4;

impl Translator<'_, '_> {
    /// Makes the body's counters variables: `params` are the body parameters that carry them
    /// (gas first), as [`Counters`](super::Counters) says.
    pub(super) fn counters_init(&mut self, counters: super::Counters, params: &[Value]) {
        let mut params = params.iter();
        if counters.gas
            && let Some(gas) = params.next()
        {
            let var = self.builder.declare_var(types::I64);
            self.builder.def_var(var, *gas);
            self.gas = Some(var);
        }
        if counters.ops
            && let Some(ops) = params.next()
        {
            let var = self.builder.declare_var(types::I64);
            self.builder.def_var(var, *ops);
            self.ops = Some(var);
        }
    }

    /// The counter variables with their homes in the store context.
    fn counter_vars(&self) -> impl Iterator<Item = (cranelift_frontend::Variable, i32)> + use<> {
        [(self.gas, vm::STORE_GAS), (self.ops, vm::STORE_OPERATORS)]
            .into_iter()
            .filter_map(|(v, at)| v.map(|v| (v, at)))
    }

    /// Writes the counters back to the store context (before code that reads or charges them).
    pub(super) fn flush_counters(&mut self) {
        for (var, at) in self.counter_vars() {
            let value = self.builder.use_var(var);
            let store = self.load_ptr(self.vmctx, vm::VMCTX_STORE, true);
            self.builder.ins().store(MemFlagsData::trusted(), value, store, at);
        }
    }

    /// Reads the counters from the store context (after code that may have charged them).
    pub(super) fn reload_counters(&mut self) {
        for (var, at) in self.counter_vars() {
            let store = self.load_ptr(self.vmctx, vm::VMCTX_STORE, true);
            let value = self.builder.ins().load(types::I64, MemFlagsData::trusted(), store, at);
            self.builder.def_var(var, value);
        }
    }

    /// The counters' variables' values, in body-return order.
    pub(super) fn counter_values(&mut self) -> Vec<Value> {
        let vars: Vec<_> = self.counter_vars().map(|(v, _)| v).collect();
        vars.into_iter().map(|v| self.builder.use_var(v)).collect()
    }

    /// Takes a direct callee's returned counters (the first values of `rets`, in body-return
    /// order) as this function's; the rest of `rets`.
    pub(super) fn take_returned_counters<'r>(&mut self, rets: &'r [Value]) -> &'r [Value] {
        let vars: Vec<_> = self.counter_vars().map(|(v, _)| v).collect();
        for (var, value) in vars.iter().zip(rets) {
            self.builder.def_var(*var, *value);
        }
        rets.get(vars.len()..).unwrap_or(&[])
    }

    /// Adds `n` executed operators to the count, when counting.
    fn count_ops(&mut self, n: u64) {
        if let Some(var) = self.ops
            && n > 0
        {
            let ops = self.builder.use_var(var);
            // Wrapping, like every add in the store context's counter: 2^64 operators is
            // centuries of execution.
            let more = self.builder.ins().iadd_imm_s(ops, n as i64);
            self.builder.def_var(var, more);
        }
    }

    /// Charges, before the code that follows runs, the segments of a check's chain (in the
    /// order they run; see the module docs), and counts their operators.
    ///
    /// With guard regions the counters are then also written to their homes: a memory access
    /// of the segment may fault, and the trap reads the gas and the count from the store
    /// context. Every other change of a counter keeps the home current already (calls return
    /// what the callee last wrote, libcalls and refills are followed by a reload), so the home
    /// holds what the variable holds at every access that may fault, as the explicit checks'
    /// trap exits write it. One store per check, not per access, and no load: the variable
    /// stays in its register.
    pub(super) fn charge_chain(&mut self, chain: &[wes_meter::ChainLink]) {
        if !self.resume_out_of_gas && self.gas.is_some() {
            self.charge_trapping(chain);
            // The trap reads the gas from the home (see the module docs).
            self.flush_counters();
            return;
        }
        match chain {
            [link] => self.charge_gas(link.cost, link.ops),
            _ => self.charge_merged(chain),
        }
        if self.guard {
            self.flush_counters();
        }
    }

    /// One conditional trap for the chain's total, then the deduction; the chain is recorded
    /// for the fault handler under the current operator's offset (the trap's source location).
    fn charge_trapping(&mut self, chain: &[wes_meter::ChainLink]) {
        let Some(var) = self.gas else { return };
        // The plan never lets a chain's sums overflow; saturating keeps these totals anyway.
        let total = chain.iter().fold(0u64, |a, l| a.saturating_add(l.cost));
        let total_ops = chain.iter().fold(0u64, |a, l| a.saturating_add(l.ops));
        if total == 0 {
            // No segment of the chain has a check to fail.
            self.count_ops(total_ops);
            return;
        }
        let links = chain
            .iter()
            .map(|l| wes_core::GasLink { offset: u32::try_from(l.start).unwrap_or(u32::MAX), cost: l.cost, ops: l.ops })
            .collect();
        self.gas_checks.push((self.offset, links));
        let gas = self.builder.use_var(var);
        // The subtraction is an `iadd` unless the counter's value is already the end of
        // `GAS_CHAIN_BREAK - 1` of them, when it is a `usub_overflow` (two results, so
        // Cranelift's e-graph leaves it in place). Along a path without merges (nothing
        // rejoins at a check any more) the counter's values otherwise form one chain of
        // constant additions that the optimiser reassociates node by node, a square in the
        // chain's length (compiling the C workloads metered: 30% of the work). The `iadd` form
        // is one instruction shorter to run (`cmp; jb; lea` against `sub; setb; test; jnz`).
        let depth = self.gas_chain.get(&gas).copied().unwrap_or(0);
        let anchor = depth + 1 >= GAS_CHAIN_BREAK;
        let left = if anchor {
            let cost = self.builder.ins().iconst(types::I64, total as i64);
            let (left, short) = self.builder.ins().usub_overflow(gas, cost);
            self.builder.ins().trapnz(short, OUT_OF_GAS_TRAP);
            left
        } else {
            // Compared as unsigned 64-bit numbers; the cost's bits go in the immediate.
            let short = self.builder.ins().icmp_imm_u(IntCC::UnsignedLessThan, gas, total as i64);
            self.builder.ins().trapnz(short, OUT_OF_GAS_TRAP);
            let left = self.builder.ins().iadd_imm_s(gas, (total as i64).wrapping_neg());
            self.gas_chain.insert(left, depth + 1);
            left
        };
        self.builder.def_var(var, left);
        match self.ops {
            // The operator count's chain is broken at the same checks, the same way.
            Some(ops_var) if anchor && total_ops > 0 => {
                let ops = self.builder.use_var(ops_var);
                let n = self.builder.ins().iconst(types::I64, total_ops as i64);
                let (more, _) = self.builder.ins().uadd_overflow(ops, n);
                self.builder.def_var(ops_var, more);
            }
            _ => self.count_ops(total_ops),
        }
    }

    /// One check of the chain's total on the fast path; when it fails, the cold path replays
    /// the per-segment checks, so handler calls, gas, operator count and trap offset are those
    /// of one check per segment.
    fn charge_merged(&mut self, chain: &[wes_meter::ChainLink]) {
        // The plan never lets a chain's sums overflow; saturating keeps these totals anyway.
        let total = chain.iter().fold(0u64, |a, l| a.saturating_add(l.cost));
        let total_ops = chain.iter().fold(0u64, |a, l| a.saturating_add(l.ops));
        let Some(var) = self.gas else {
            // Unmetered: nothing can stop the chain once its first segment starts.
            self.count_ops(total_ops);
            return;
        };
        if chain.len() > wes_meter::MAX_CHAIN {
            // The plan never makes one; charging segment by segment is always right.
            for l in chain {
                self.charge_gas(l.cost, l.ops);
            }
            return;
        }
        if total == 0 {
            // No segment of the chain has a check to fail.
            self.count_ops(total_ops);
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
        self.count_ops(total_ops);
        self.builder.ins().jump(cont, &[]);

        // The slow path: each segment's own check, in order, as if unmerged, made by the
        // module's replay shim from a table of the chain's (cost, offset) pairs.
        self.builder.switch_to_block(slow);
        self.builder.set_cold_block(slow);
        let slot = self.replay_slot();
        let counting = self.ops.is_some();
        let mut n = 0i32;
        for l in chain {
            if l.cost == 0 && !counting {
                continue; // an unmerged zero-cost segment has no check (and nothing to count)
            }
            let at = REPLAY_ENTRIES + REPLAY_ENTRY_SIZE * n;
            let c = self.builder.ins().iconst(types::I64, l.cost as i64);
            self.builder.ins().stack_store(PTR, c, slot, at);
            let o = self.builder.ins().iconst(types::I64, i64::from(u32::try_from(l.start).unwrap_or(u32::MAX)));
            self.builder.ins().stack_store(PTR, o, slot, at + 8);
            if counting {
                let k = self.builder.ins().iconst(types::I64, l.ops as i64);
                self.builder.ins().stack_store(PTR, k, slot, at + 16);
            }
            n += 1;
        }
        let count = self.builder.ins().iconst(types::I64, i64::from(n));
        self.builder.ins().stack_store(PTR, count, slot, REPLAY_COUNT);
        let table = self.builder.ins().stack_addr(PTR, slot, 0);
        self.flush_counters();
        let shim = self.replay_shim();
        // It returns only when every segment was paid for; otherwise it unwinds, reporting the
        // trap where the unmerged check would have: at the start of the segment not paid for.
        self.builder.ins().call(shim, &[self.vmctx, table]);
        self.reload_counters();
        self.rejoin(cont);

        self.builder.switch_to_block(cont);
    }

    /// The stack slot of the replay shim's table, sized for the longest chain.
    fn replay_slot(&mut self) -> ir::StackSlot {
        if let Some(s) = self.replay_slot {
            return s;
        }
        let size = (REPLAY_ENTRIES as u32) + REPLAY_ENTRY_SIZE as u32 * wes_meter::MAX_CHAIN as u32;
        let s = self.builder.create_sized_stack_slot(StackSlotData::new(StackSlotKind::ExplicitSlot, size, 3));
        self.replay_slot = Some(s);
        s
    }

    /// The module's replay shim, imported once.
    fn replay_shim(&mut self) -> ir::FuncRef {
        if let Some(f) = self.replay_shim {
            return f;
        }
        let sig = self.builder.import_signature(replay_shim_signature());
        let name = self.builder.func.declare_imported_user_function(ir::UserExternalName::new(SHIM_NAMESPACE, 1));
        let f = self.builder.import_function(ir::ExtFuncData {
            name: ir::ExternalName::User(name),
            signature: sig,
            colocated: true,
            patchable: false,
        });
        self.replay_shim = Some(f);
        f
    }

    /// Charges `cost` gas before the code that follows runs, and counts `ops` operators once
    /// it is paid.
    pub(super) fn charge_gas(&mut self, cost: u64, ops: u64) {
        let Some(var) = self.gas else {
            self.count_ops(ops);
            return;
        };
        if cost == 0 {
            self.count_ops(ops);
            return;
        }
        let refill = self.builder.create_block();
        let paid = self.builder.create_block();
        let gas = self.builder.use_var(var);
        // The cost is compared as an unsigned 64-bit number; its bits go in the immediate.
        let enough = self.builder.ins().icmp_imm_u(IntCC::UnsignedGreaterThanOrEqual, gas, cost as i64);
        self.builder.ins().brif(enough, paid, &[], refill, &[]);

        // The refill writes the counter back before and reads it again after; it returns only
        // when the counter holds the cost (a failure unwinds), so it goes straight on to pay.
        self.builder.switch_to_block(refill);
        self.builder.set_cold_block(refill);
        let c = self.builder.ins().iconst(types::I64, cost as i64);
        self.refill(c, self.offset);
        self.rejoin(paid);

        self.builder.switch_to_block(paid);
        let gas = self.builder.use_var(var);
        let left = self.builder.ins().iadd_imm_s(gas, (cost as i64).wrapping_neg());
        self.builder.def_var(var, left);
        self.count_ops(ops);
    }

    /// Ends a refill path, whose refill returned (so the counter is paid for), with a jump to
    /// `to`. In a function past `REFILL_EDGE_WORK` (`FunctionFacts::refill_edges`) the path
    /// also gets an edge it never takes, to a cold block of its own that ends in an
    /// unreachable `trap`.
    ///
    /// Why: with one successor, each refill block feeds the block parameter of the gas
    /// counter where it rejoins, and regalloc2's pass that places the moves between blocks
    /// then rescans its list of block-parameter inputs for blocks a live range crosses, which
    /// grows with blocks × branch destinations: 4,096 nested `if`s compiled metered in 2.4-3.0
    /// s instead of 0.6-0.7 s, a 65,520-target `br_table` in 2.2-2.7 s instead of 0.8-1.0 s.
    /// The edge costs a block and a compare per check (in all functions, about a tenth of the
    /// work of compiling metered code), so only the functions where the product is large pay it.
    fn rejoin(&mut self, to: ir::Block) {
        if !self.refill_edges {
            self.builder.ins().jump(to, &[]);
            return;
        }
        let never = self.builder.create_block();
        self.builder.set_cold_block(never);
        // Always true (the vmctx is never null), but nothing Cranelift can fold away.
        let ok = self.builder.ins().icmp_imm_u(IntCC::NotEqual, self.vmctx, 0);
        self.builder.ins().brif(ok, to, &[], never, &[]);
        self.builder.seal_block(never);
        self.builder.switch_to_block(never);
        self.builder.ins().trap(ir::TrapCode::unwrap_user(1));
    }

    /// Turns a grow libcall's `i64` result into the wasm `i32` result, propagating a trap the
    /// libcall recorded (a negative result).
    pub(super) fn grow_result(&mut self, raw: Value) -> Value {
        let trapped = self.builder.ins().icmp_imm_s(IntCC::SignedLessThan, raw, 0);
        self.branch_trap_if(trapped, None);
        self.builder.ins().ireduce(types::I32, raw)
    }
}
