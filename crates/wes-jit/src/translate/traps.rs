//! Exits: the trap stubs every trap condition branches to, the shared trap exits they jump
//! to, and the returns of a body.

use cranelift_codegen::ir::condcodes::IntCC;
use cranelift_codegen::ir::{self, InstBuilder, StackSlotData, StackSlotKind, Value, types};
use wes_core::TrapCode;
use wes_core::vm::{self, Libcall};

use super::{PTR, Translator};

/// A trap stub made by `trap_stub` or `trap_stub_synced`, to be filled once the branch to it
/// has ended the current block.
pub(super) struct PendingStub {
    stub: ir::Block,
    code: Option<TrapCode>,
    /// The module offset the trap is reported at.
    at: u32,
    /// The counters' variables hold what their homes do.
    synced: bool,
}

/// The most trap sites that jump to one trap exit (see `trap_block`).
const TRAP_SITES_PER_EXIT: u32 = 64;

impl Translator<'_, '_> {
    /// A shared exit of trap `code` (`None`: a callee already recorded it). It takes no
    /// block parameters: the trap sites jumping to it pass the offset in a stack slot and
    /// have written the gas counter back, so nothing flows into it as an SSA value.
    ///
    /// Why: with the offset (and, through the gas variable, the counter) as parameters, every
    /// trap site and refill fed a phi of the shared block, and regalloc2 merges the incoming
    /// values of one phi into one bundle a value at a time, quadratic in the number of sites:
    /// a function of 100k blocks, metered, did not compile in 30 s. And an exit serves at most
    /// [`TRAP_SITES_PER_EXIT`] sites: regalloc2 computes dominators by walking from each
    /// predecessor of a block up to the dominator found so far, and the sites of one long
    /// function hang off one chain of blocks, so one exit for all of them was again quadratic.
    fn trap_block(&mut self, code: Option<TrapCode>) -> ir::Block {
        if let Some((b, uses)) = self.trap_blocks.get_mut(&code)
            && *uses < TRAP_SITES_PER_EXIT
        {
            *uses += 1;
            return *b;
        }
        let b = self.builder.create_block();
        self.trap_blocks.insert(code, (b, 1));
        self.trap_exits.push((code, b));
        b
    }

    /// The stack slot the trap sites leave the trapping instruction's module offset in.
    fn trap_offset_slot(&mut self) -> ir::StackSlot {
        if let Some(s) = self.trap_offset {
            return s;
        }
        let s = self.builder.create_sized_stack_slot(StackSlotData::new(StackSlotKind::ExplicitSlot, 4, 2));
        self.trap_offset = Some(s);
        s
    }

    /// Ends the current block with a jump to the exit of trap `code`, reported at module
    /// offset `at`; writes the gas counter back first, as the exit reads it from memory.
    pub(super) fn trap_jump(&mut self, code: Option<TrapCode>, at: u32) {
        let at = self.builder.ins().iconst(types::I32, i64::from(at));
        self.trap_jump_value(code, at);
    }

    /// [`trap_jump`](Self::trap_jump) with the offset computed at run time (an `i32`).
    pub(super) fn trap_jump_value(&mut self, code: Option<TrapCode>, at: Value) {
        self.flush_counters();
        self.trap_jump_synced(code, at);
    }

    /// [`trap_jump_value`](Self::trap_jump_value) where the counters' variables already hold
    /// what their homes in memory do (just read back after a call or libcall, or returned by
    /// a callee that trapped), so writing them back would store what is there.
    pub(super) fn trap_jump_synced(&mut self, code: Option<TrapCode>, at: Value) {
        let slot = self.trap_offset_slot();
        self.builder.ins().stack_store(PTR, at, slot, 0);
        let exit = self.trap_block(code);
        self.builder.ins().jump(exit, &[]);
    }

    /// A cold block, for the trapping edge of a branch, that traps with `code` at `at`. The
    /// builder stays in the current block.
    pub(super) fn trap_stub(&mut self, code: Option<TrapCode>, at: u32) -> ir::Block {
        self.new_trap_stub(code, at, false)
    }

    /// A [`trap_stub`](Self::trap_stub) for a point where the counters' variables hold what
    /// their homes do (see [`trap_jump_synced`](Self::trap_jump_synced)): it does not write
    /// them back. Metered code has one at every gas check and call site.
    pub(super) fn trap_stub_synced(&mut self, code: Option<TrapCode>, at: u32) -> ir::Block {
        self.new_trap_stub(code, at, true)
    }

    fn new_trap_stub(&mut self, code: Option<TrapCode>, at: u32, synced: bool) -> ir::Block {
        let stub = self.builder.create_block();
        self.builder.set_cold_block(stub);
        self.pending_stubs.push(PendingStub { stub, code, at, synced });
        stub
    }

    /// Fills the stubs made by [`trap_stub`](Self::trap_stub) since the last call; called
    /// once the branch to them has ended the current block. Leaves the builder in no block.
    pub(super) fn fill_trap_stubs(&mut self) {
        while let Some(PendingStub { stub, code, at, synced }) = self.pending_stubs.pop() {
            // Its one predecessor, the branch to it, is in place.
            self.builder.seal_block(stub);
            self.builder.switch_to_block(stub);
            let at = self.builder.ins().iconst(types::I32, i64::from(at));
            match synced {
                true => self.trap_jump_synced(code, at),
                false => self.trap_jump_value(code, at),
            }
        }
    }

    /// Emits the trap exits, one per code used: each records the trap (or, for `None`, this
    /// frame of a trap a callee or libcall recorded) with the offset the site left, and the
    /// frames of the callers, and unwinds to the innermost entry; the counters are in memory.
    pub(super) fn emit_trap_exits(&mut self) {
        for (code, block) in std::mem::take(&mut self.trap_exits) {
            self.builder.switch_to_block(block);
            self.builder.set_cold_block(block);
            let raw = code.map_or(0, vm::trap_code_to_raw);
            let raw = self.builder.ins().iconst(types::I32, i64::from(raw));
            let fi = self.builder.ins().iconst(types::I32, i64::from(self.func_index));
            let slot = self.trap_offset_slot();
            let at = self.builder.ins().stack_load(PTR, types::I32, slot, 0);
            let fp = self.builder.ins().get_frame_pointer(PTR);
            // The libcall is called directly, not through `libcall`, which would read the
            // gas variable (and so give this block a phi over every site again).
            self.libcall_raw(Libcall::TrapUnwind, &[raw, fi, at, fp]);
            // It never returns.
            self.builder.ins().trap(ir::TrapCode::unwrap_user(1));
        }
    }

    /// Branches to a trap stub of `code` when `cond` is non-zero, and continues otherwise.
    pub(super) fn trap_if(&mut self, cond: Value, code: TrapCode) {
        self.branch_trap_if(cond, Some(code));
    }

    pub(super) fn branch_trap_if(&mut self, cond: Value, code: Option<TrapCode>) {
        // Each site branches to a cold stub of its own that passes the offset on, so the hot
        // path does not materialise the offset before every check.
        let stub = self.trap_stub(code, self.offset);
        let cont = self.builder.create_block();
        self.builder.ins().brif(cond, stub, &[], cont, &[]);
        self.fill_trap_stubs();
        self.seal_and_switch(cont);
    }

    /// Propagates a trap when a libcall returned status zero.
    pub(super) fn check_status(&mut self, status: Value) {
        let failed = self.builder.ins().icmp_imm_s(IntCC::Equal, status, 0);
        self.branch_trap_if(failed, None);
    }

    /// Returns `status` with the counters (gas left, operators executed) and `results` (zeros of the result types when `None`:
    /// on a trap or a pending tail call the caller ignores them).
    pub(super) fn return_with(&mut self, status: u8, results: Option<&[Value]>) {
        // A return or a tail call through a record leaves the profiled frame (a trap does not
        // come here: the runtime closes the frames a trap unwinds).
        if self.profile {
            self.libcall(Libcall::ProfileExit, &[]);
        }
        let mut rets = vec![self.builder.ins().iconst(types::I8, i64::from(status))];
        rets.extend(self.counter_values());
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
}
