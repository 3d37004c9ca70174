//! Sealing a translated body: the last rewrites before it runs (branches fused with what they
//! land on, stack moves carried to where they are read, plain jumps made relative) and the
//! checks the loop relies on to run without bounds checks on the program counter.

use super::{Code, Op, RETURN, Target};

impl Code {
    /// Makes `ops` safe to run without bounds checks on the program counter: ends it with an
    /// op that does not fall through (an `Unreachable` that is never reached, when the body's
    /// last op could fall through — the translator emits none past unreachable code) and
    /// checks that every branch lands on an op. The loop relies on both (see `exec::run`);
    /// a failure here is a translator bug, reported rather than run (so is a charge naming a
    /// chain the body does not have, and an access of memory 0 whose `end` does not count its
    /// size, which the handlers rely on). On the way, branches
    /// fuse with what they land on, and the stack moves of ops on slots go to the ops that
    /// read the height ([`Code::sink_stack_moves`]).
    pub(crate) fn seal(&mut self) -> Result<(), String> {
        let ends = matches!(
            self.ops.last(),
            Some(
                Op::Unreachable
                    | Op::Br(_)
                    | Op::BrCharge { .. }
                    | Op::BrTable { .. }
                    | Op::Return { .. }
                    | Op::Jump { .. }
                    | Op::JumpCharge { .. }
            )
        );
        if !ends {
            self.ops.push(Op::Unreachable);
            self.offsets.push(self.offsets.last().copied().unwrap_or(self.body_offset));
        }
        // A branch out of the function lands on a `return` of its own at the end, so that every
        // branch target is an op: the threaded handlers move the stack and go on, and only the
        // `return` needs the loop. (Moving the kept cells first changes nothing: `return` reads
        // the top `result_cells` cells, which the branch keeps.)
        let exits = |t: &Target| t.pc == RETURN;
        if self.tables.iter().any(exits) || self.ops.iter_mut().any(|op| op.target_mut().is_some_and(|t| exits(t))) {
            let at = u32::try_from(self.ops.len()).map_err(|_| "the body has too many ops".to_string())?;
            for t in self.tables.iter_mut().chain(self.ops.iter_mut().filter_map(Op::target_mut)) {
                if t.pc == RETURN {
                    t.pc = at;
                }
            }
            self.ops.push(Op::Return { sp: 0 });
            self.offsets.push(self.offsets.last().copied().unwrap_or(self.body_offset));
        }
        let len = self.ops.len();
        // A `br` to a `return` returns at once: the return reads the top `result_cells`
        // cells, which the branch leaves where they are (no drop) or keeps on top.
        for at in 0..len {
            if let Some(&Op::Br(t)) = self.ops.get(at)
                && matches!(self.ops.get(t.pc as usize), Some(Op::Return { .. }))
                && (t.dk.drop == 0 || t.dk.keep >= self.result_cells)
            {
                self.ops[at] = Op::Return { sp: 0 };
            }
            // So does a `br` to a segment's charge and the `return` after it (an `if`'s first
            // arm jumping to the function's end, metered): it pays and returns in one op, as
            // the charge would. It stands at the charge's offset, so running out of gas there
            // reports the segment's first operator, as the charge and the JIT do.
            if let Some(&Op::Br(t)) = self.ops.get(at)
                && let Some(&Op::Charge { cost, chain: 0 }) = self.ops.get(t.pc as usize)
                && matches!(self.ops.get(t.pc as usize + 1), Some(Op::Return { .. }))
                && (t.dk.drop == 0 || t.dk.keep >= self.result_cells)
                && let Some(&offset) = self.offsets.get(t.pc as usize)
            {
                self.ops[at] = Op::ChargeReturn { cost, sp: 0 };
                self.offsets[at] = offset;
            }
            // A `br` to a segment's charge pays it itself: one dispatch less per loop turn. Not
            // one that drops cells (rare: a loop's back edge usually drops none), so that the
            // fused op's handler never moves any.
            if let Some(&Op::Br(t)) = self.ops.get(at)
                && t.dk.drop == 0
                && let Some(&Op::Charge { cost, .. }) = self.ops.get(t.pc as usize)
            {
                self.ops[at] = Op::BrCharge { t, cost };
            }
        }
        // The moves of ops on slots, to where the height is read: returns among them, now
        // that the branches to one are returns themselves. Ops may go in: `len` changes.
        self.sink_stack_moves();
        // Loops testing at the top pay the test's and the body's segments at once on their
        // back edge. Ops go in: `len` changes.
        self.invert_loops();
        let len = self.ops.len();
        // A `br_if` on `eqz` pays the charge it falls through to (a loop's exit test, then
        // the segment of the loop's body).
        for at in 0..len.saturating_sub(1) {
            if let Some(&Op::Charge { cost, .. }) = self.ops.get(at + 1)
                && let Ok(cost) = u32::try_from(cost)
                && let Some(Op::BrIfZ { cost: fused, .. }) = self.ops.get_mut(at)
            {
                *fused = cost;
            }
        }
        // A charge right before a `return` pays and returns in one op.
        for at in 1..len {
            // The return's own move goes with it (a charge does not read the height, so a
            // move may be carried past it to the return).
            if let (Some(&Op::Charge { cost, chain: 0 }), Some(&Op::Return { sp })) =
                (self.ops.get(at - 1), self.ops.get(at))
            {
                self.ops[at - 1] = Op::ChargeReturn { cost, sp };
            }
        }
        let lands = |pc: u32| (pc as usize) < len;
        let bad = self.ops.iter_mut().position(|op| match *op {
            Op::BrIfEqz(pc) | Op::IfNez { to: pc, .. } => !lands(pc),
            ref mut op => op.target_mut().is_some_and(|t| !lands(t.pc)),
        });
        if let Some(at) = bad {
            return Err(format!("op {at} branches past the end of the body ({len} ops)"));
        }
        let chains = self.chains.len();
        if let Some(at) = self.ops.iter().position(
            |op| matches!(*op, Op::Charge { chain, .. } | Op::ChargeCount { chain, .. } if chain as usize > chains),
        ) {
            return Err(format!("the charge at op {at} names a chain past the {chains} of the body"));
        }
        // The handlers address an access of memory 0 back from its end, by its size.
        if let Some(at) = self.ops.iter().position(|op| op.mem0_end().is_some_and(|(end, size)| end < size)) {
            return Err(format!("the access at op {at} ends before its size"));
        }
        if let Some(t) = self.tables.iter().find(|t| !lands(t.pc)) {
            return Err(format!("a br_table target ({}) lies past the end of the body ({len} ops)", t.pc));
        }
        // Last, with every target checked: the plain jumps become relative, in bytes of the
        // slots the ops run from (a body too long for an `i32` of bytes keeps its absolute
        // branches).
        let by = |at: usize, pc: u32| {
            let bytes = (pc as i64 - at as i64).checked_mul(std::mem::size_of::<super::Slot>() as i64)?;
            i32::try_from(bytes).ok()
        };
        for at in 0..len {
            let jump = match self.ops[at] {
                Op::Br(t) if t.dk.drop == 0 && !matches!(self.ops[t.pc as usize], Op::Charge { .. }) => {
                    by(at, t.pc).map(|by| Op::Jump { by })
                }
                Op::BrCharge { t, cost } => by(at, t.pc).map(|by| Op::JumpCharge { by, cost }),
                _ => None,
            };
            if let Some(jump) = jump {
                self.ops[at] = jump;
            }
        }
        Ok(())
    }
}
