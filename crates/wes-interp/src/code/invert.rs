//! Loops whose test is at the top (`loop (br_if $out cond) body (br $loop)`, the shape of a
//! `while`) pay two charges per turn metered: the back edge pays the test's segment, the test
//! falling through pays the body's. [`Code::invert_loops`] gives such a loop a second way in
//! for its back edge that pays both at once, ahead:
//!
//! ```text
//!   h:    Charge c1                 ;; the way in from above, and any other branch to h
//!         <pure ops>
//!   b:    B (cond) -> exit
//!         Charge c2
//!         Br body                   ;; new: the entry path skips the copy
//!   x:    Br h                      ;; new: the back edge lands here when it cannot pay both
//!         <pure ops, copied>        ;; new: the back edge lands here when it paid c1 + c2
//!         B' (cond) -> r            ;; new
//!   body: ...
//!         BrCharge { x, c1 + c2 }   ;; the back edge, was BrCharge { h, c1 }
//!   ...
//!   r:    Refund c2                 ;; new, at the end: the exit gives back what the
//!         Br exit                   ;; body's segment was paid ahead
//! ```
//!
//! Gas is what the two charges make it: nothing between the payment and `B'` can trap, call
//! out or read the counter (the copied ops are pure slot arithmetic, constants and copies), so
//! whether `B'` falls through (both segments due) or branches out (the refund restores the
//! counter the first charge alone leaves) no one can tell the difference; when the counter
//! cannot pay both, the back edge takes the original path, whose charges run as before (the
//! out-of-gas handler asked, a trap at their own offsets). Either charge may be a merged
//! check (`Op::Charge::chain`): its cost is its chain's, paid at once on the fast path, and
//! its slow path is the original one's. Charges that count operators are left alone (a
//! refund would have to uncount them). One pass over the ops, whatever the number of loops.

use super::{Code, DropKeep, Op, Target};

/// The most pure ops a loop's test may take to be copied.
const MAX_TEST_OPS: usize = 8;

/// A loop to invert: its header's charge at `h`, the test at `b` (`b + 1` is the body's
/// charge), what the two charges cost.
struct Loop {
    h: usize,
    b: usize,
    c1: u64,
    c2: u64,
}

impl Code {
    /// See the module's documentation. Runs on sealed-shaped ops (branches fused with the
    /// charges they land on, stack moves carried), before branches become relative.
    pub(super) fn invert_loops(&mut self) {
        let len = self.ops.len();
        // The back edges: branches paying a charge before them. A header is looked at once.
        let mut back_edges: Vec<(usize, usize)> = Vec::new();
        let mut looked_at = vec![false; len];
        let mut loops: Vec<Loop> = Vec::new();
        for at in 0..len {
            let Some(&Op::BrCharge { t, cost }) = self.ops.get(at) else { continue };
            let h = t.pc as usize;
            if h >= at {
                continue;
            }
            back_edges.push((at, h));
            if !std::mem::replace(&mut looked_at[h], true)
                && let Some(l) = self.invertible(h, cost)
            {
                loops.push(l);
            }
        }
        // Only back edges from past the body's charge, and paying what the header costs.
        let mut heads = vec![u32::MAX; len];
        for (i, l) in loops.iter().enumerate() {
            heads[l.h] = i as u32;
        }
        back_edges.retain(|&(at, h)| {
            loops
                .get(heads[h] as usize)
                .is_some_and(|l| l.b + 1 < at && matches!(self.ops[at], Op::BrCharge { cost, .. } if cost == l.c1))
        });
        if back_edges.is_empty() {
            return;
        }
        loops.sort_by_key(|l| l.b);
        // The new body: each loop's copy goes in before the op after its body's charge.
        let extra: usize = loops.iter().map(|l| l.b - l.h + 2).sum::<usize>() + 2 * loops.len();
        let mut ops = Vec::with_capacity(len + extra);
        let mut offsets = Vec::with_capacity(len + extra);
        let mut new_index = Vec::with_capacity(len);
        // Per loop: where its `x` and its copied test went.
        let mut placed: Vec<(u32, usize)> = Vec::with_capacity(loops.len());
        let mut next = loops.iter().peekable();
        let none = DropKeep { drop: 0, keep: 0 };
        for at in 0..len {
            if let Some(l) = next.next_if(|l| l.b + 2 == at) {
                let offset = self.offset(l.h);
                // The entry path goes on at the body (`at`, an index of the old ops, renumbered
                // with the rest below).
                ops.push(Op::Br(Target { pc: at as u32, dk: none }));
                offsets.push(offset);
                let x = ops.len() as u32;
                ops.push(Op::Br(Target { pc: l.h as u32, dk: none }));
                offsets.push(offset);
                for i in l.h + 1..=l.b {
                    ops.push(self.ops[i]);
                    offsets.push(self.offset(i));
                }
                placed.push((x, ops.len() - 1));
            }
            new_index.push(ops.len() as u32);
            ops.push(self.ops[at]);
            offsets.push(self.offset(at));
        }
        // The exits: a refund, then the test's own target.
        let mut refunds = Vec::with_capacity(loops.len());
        for l in &loops {
            refunds.push(ops.len() as u32);
            ops.push(Op::Refund { cost: l.c2 });
            offsets.push(self.offset(l.b));
            let exit = self.ops[l.b].target().map_or(0, |t| t.pc);
            ops.push(Op::Br(Target { pc: exit, dk: none }));
            offsets.push(self.offset(l.b));
        }
        self.ops = ops;
        self.offsets = offsets;
        // Every target named an op of the old body: renumbered. Then the new ways in.
        self.retarget(|pc| new_index.get(pc as usize).copied().unwrap_or(u32::MAX - 1));
        // `loops` was sorted after `heads` was made: find each loop's place by its header.
        let mut by_header = vec![u32::MAX; len];
        for (i, l) in loops.iter().enumerate() {
            by_header[l.h] = i as u32;
            if let (Some(&(_, test)), Some(&refund)) = (placed.get(i), refunds.get(i))
                && let Some(t) = self.ops.get_mut(test).and_then(Op::target_mut)
            {
                t.pc = refund;
            }
        }
        for (at, h) in back_edges {
            let i = by_header[h] as usize;
            if let (Some(l), Some(&(x, _)), Some(Op::BrCharge { t, cost })) =
                (loops.get(i), placed.get(i), new_index.get(at).and_then(|&n| self.ops.get_mut(n as usize)))
            {
                *t = Target { pc: x, dk: none };
                *cost = l.c1 + l.c2;
            }
        }
    }

    /// The loop headed by the charge at `h`, when a back edge paying `c1` there can pay the
    /// body's segment too: the charge, pure ops, a conditional branch that leaves, and the
    /// body's charge after it.
    fn invertible(&self, h: usize, c1: u64) -> Option<Loop> {
        let Some(&Op::Charge { cost, ops: 0, .. }) = self.ops.get(h) else { return None };
        if cost != c1 {
            return None;
        }
        let b = (h + 1..self.ops.len().min(h + 2 + MAX_TEST_OPS)).find(|&i| !self.ops[i].is_pure())?;
        let test = self.ops.get(b)?;
        let leaves = test.is_conditional_branch() && test.target().is_some_and(|t| t.pc as usize != h);
        let Some(&Op::Charge { cost: c2, ops: 0, .. }) = self.ops.get(b + 1) else { return None };
        (leaves && c1.checked_add(c2).is_some()).then_some(Loop { h, b, c1, c2 })
    }
}
