//! Stack moves carried to where they are read.
//!
//! The translator gives every op the stack move of the wasm operators it stands for: an `add`
//! writing a temporary pushes a cell, the `xor` consuming it pops one. Most ops that move the
//! stack name every cell they touch as a slot of the frame, though, so the stack's height
//! (the handlers' `sp`) means nothing to them: only ops that push or pop at the top
//! (`local.get`, calls, returns, branches that drop cells...) read it. Making the move costs
//! each op two instructions; instead, [`Code::sink_stack_moves`] takes the moves out of the
//! ops whose handlers need not make them ([`Op::slot_move_mut`]) and adds them up, and the
//! sum is made where the height is next read: by the next op that makes a move of its own
//! ([`Op::own_move_mut`]: a fused conditional branch, before it tests; a call or a return;
//! an op in the general form, after its work), by a push (`local.get` or a constant, in a
//! form that moves first), or else, before any other op and before every branch target (where
//! paths meet, and each must arrive at the same height), by the last op that gave up its move,
//! turned back into its general form ([`Op::moving`]). Only a sum past an `i8` takes an
//! [`Op::StackMove`] of its own.
//!
//! An op on slots runs alike at any height, and so does a trap it raises (a trap discards the
//! stack); none of them calls out or leaves the running frame, so nothing sees the height
//! while it lags. Nor does a segment's charge, which the height may lag across too. In a loop
//! whose back edge is a fused branch (xorshift's, matmul's inner loop) no move is made at all:
//! what one op pushes the next pops.

use super::{Code, Op, RETURN};

impl Code {
    /// Moves the stack moves of ops on slots to where the height is read (see the module's
    /// documentation). Branch targets are renumbered when `StackMove`s go in.
    pub(crate) fn sink_stack_moves(&mut self) {
        if !self.ops.iter_mut().any(|op| op.slot_move_mut().is_some_and(|sp| *sp != 0)) {
            return;
        }
        let len = self.ops.len();
        // Where paths meet: every branch's target.
        let mut target = vec![false; len];
        let mut mark = |pc: u32| {
            if let Some(t) = target.get_mut(pc as usize) {
                *t = true;
            }
        };
        for op in &self.ops {
            match *op {
                Op::BrIfEqz(pc) | Op::IfNez { to: pc, .. } => mark(pc),
                ref op => {
                    if let Some(t) = op.target() {
                        mark(t.pc);
                    }
                }
            }
        }
        for t in &self.tables {
            mark(t.pc);
        }
        // `StackMove`s to put before the op at each index, in order.
        let mut inserts: Vec<(usize, i32)> = Vec::new();
        // The move not yet made, and the last op that gave its up (the ops since read no
        // height and make no move).
        let (mut pending, mut last): (i32, Option<usize>) = (0, None);
        let ops = &mut self.ops;
        // Makes the pending move before the op at `at`.
        let mut settle = |ops: &mut [Op], pending: &mut i32, last: &mut Option<usize>, at: usize| {
            let general = match (last.take(), i8::try_from(*pending)) {
                (Some(k), Ok(sp)) => ops.get(k).and_then(|op| op.moving(sp)).map(|op| (k, op)),
                _ => None,
            };
            match general {
                Some((k, op)) => ops[k] = op,
                None => inserts.push((at, *pending)),
            }
            *pending = 0;
        };
        for at in 0..len {
            if pending != 0 && target[at] {
                settle(ops, &mut pending, &mut last, at);
            }
            let op = &mut ops[at];
            if let Some(sp) = op.slot_move_mut() {
                pending += i32::from(*sp);
                *sp = 0;
                last = Some(at);
            } else if matches!(op, Op::Copy { .. } | Op::ConstTo { .. } | Op::Charge { .. } | Op::ChargeCount { .. })
                || pending == 0
            {
                // Slot to slot, or a segment's charge: no move, and the height may lag across
                // it (a charge the counter cannot pay traps, or asks the store's out-of-gas
                // handler, which cannot run wasm, and goes on at the same height). Or nothing
                // lags.
            } else if let Some(sp) = op.own_move_mut()
                && let Ok(joint) = i8::try_from(i32::from(*sp) + pending)
            {
                *sp = joint;
                (pending, last) = (0, None);
            } else if let (Op::LocalGet(i), Ok(sp)) = (*op, i8::try_from(pending)) {
                // The commonest op to read the height after ops on slots: a push.
                *op = Op::LocalGetMoved { i, sp };
                (pending, last) = (0, None);
            } else if let (Op::Const(v), Ok(sp)) = (*op, i8::try_from(pending)) {
                *op = Op::ConstMoved { v, sp };
                (pending, last) = (0, None);
            } else {
                settle(ops, &mut pending, &mut last, at);
            }
        }
        // A body falls off its end only into the `Unreachable` that `seal` adds, where
        // nothing reads the height; it is made exact all the same.
        if pending != 0 {
            settle(ops, &mut pending, &mut last, len);
        }
        if !inserts.is_empty() {
            self.insert_moves(&inserts);
        }
    }

    /// Puts a [`Op::StackMove`] of `by` before the op at each `(at, by)` of `inserts` (in
    /// order; `at` may be the length), and renumbers branch targets: a branch lands on the
    /// op it named, after the move, which is the way in of the path falling through.
    fn insert_moves(&mut self, inserts: &[(usize, i32)]) {
        let len = self.ops.len();
        let mut new_index = Vec::with_capacity(len);
        let mut ops = Vec::with_capacity(len + inserts.len());
        let mut offsets = Vec::with_capacity(len + inserts.len());
        let mut next = inserts.iter().peekable();
        for (at, &op) in self.ops.iter().enumerate() {
            let offset = self.offset(at);
            while let Some(&(_, by)) = next.next_if(|(i, _)| *i == at) {
                ops.push(Op::StackMove(by));
                offsets.push(offset);
            }
            new_index.push(u32::try_from(ops.len()).unwrap_or(u32::MAX - 1));
            ops.push(op);
            offsets.push(offset);
        }
        for &(_, by) in next {
            ops.push(Op::StackMove(by));
            offsets.push(self.offsets.last().copied().unwrap_or(self.body_offset));
        }
        self.ops = ops;
        self.offsets = offsets;
        self.retarget(|pc| new_index.get(pc as usize).copied().unwrap_or(u32::MAX - 1));
    }

    /// Points every branch at `new_index(pc)`, the new index of the op it named (ops went in
    /// or out). A target past the end must stay past it, for `seal` to report.
    pub(super) fn retarget(&mut self, new_index: impl Fn(u32) -> u32) {
        for op in &mut self.ops {
            op.retarget(&new_index);
        }
        self.retarget_tables(new_index);
    }

    /// [`Code::retarget`] for the `br_table` targets alone.
    pub(super) fn retarget_tables(&mut self, new_index: impl Fn(u32) -> u32) {
        for t in &mut self.tables {
            if t.pc != RETURN {
                t.pc = new_index(t.pc);
            }
        }
    }
}

impl Op {
    /// Points the op's branch, if it has one, at `new_index(pc)` (see [`Code::retarget`]).
    pub(super) fn retarget(&mut self, new_index: impl Fn(u32) -> u32) {
        let pc = match self {
            Op::BrIfEqz(pc) | Op::IfNez { to: pc, .. } => pc,
            op => match op.target_mut() {
                Some(t) => &mut t.pc,
                None => return,
            },
        };
        if *pc != RETURN {
            *pc = new_index(*pc);
        }
    }
}
