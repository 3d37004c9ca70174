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
//!         Br body                   ;; new: the way in from above skips the copy
//!   x:    Br h                      ;; new: the back edge lands here when it cannot pay both
//!         <pure ops, copied>        ;; new: the back edge lands here when it paid c1 + c2
//!         B' (cond) -> r            ;; new: B's copy, falling through into the body
//!   body: ...
//!         BrCharge { x, c1 + c2 }   ;; the back edge, was BrCharge { h, c1 }
//!   ...
//!   r:    Refund c2                 ;; new, at the end: where B' branches out, the body's
//!         Br exit                   ;; segment paid ahead is given back
//! ```
//!
//! The copy falls through into the body, as the original test does: a taken branch costs a
//! turn a few instructions more than falling through, and a jump after the copy a dispatch.
//!
//! Gas is what the two charges make it: nothing between the payment and `B'` can trap, call
//! out or read the counter (the copied ops are pure slot arithmetic, constants and copies), so
//! whether `B'` falls through (both segments due) or branches out (the refund restores the
//! counter the first charge alone leaves) no one can tell the difference; when the counter
//! cannot pay both, the back edge takes the original path, whose charges run as before (the
//! out-of-gas handler asked, a trap at their own offsets). Either charge may be a merged check
//! (`Op::Charge::chain`): its cost is its chain's, paid at once on the fast path, and its slow
//! path is the original one's. Charges that count operators are left alone (a refund would
//! have to uncount them).
//!
//! Linear in the body and allocating little (it runs on every function a lazy first call
//! reaches): the back edges are found in one pass and sorted, the ops move up in place from the
//! last, and a target's new index is its old one plus the copies inserted before it, found by
//! a binary search of the loops.

use super::{Code, DropKeep, Op, Target};

/// The most pure ops a loop's test may take to be copied.
const MAX_TEST_OPS: usize = 8;

/// A loop to invert: its header's charge at `h`, the test at `b` (`b + 1` is the body's
/// charge), what the two charges cost, and its back edges (a range of the sorted edges).
struct Loop {
    h: usize,
    b: usize,
    c1: u64,
    c2: u64,
    edges: std::ops::Range<usize>,
}

impl Loop {
    /// The ops that go in before the body: the entry's jump, `x`, the copied test and `B'`.
    fn inserted(&self) -> usize {
        self.b - self.h + 2
    }
}

impl Code {
    /// See the module's documentation. Runs on sealed-shaped ops (branches fused with the
    /// charges they land on, stack moves carried), before branches become relative.
    pub(super) fn invert_loops(&mut self) {
        // The back edges, `(header, edge)`: branches paying a charge before them.
        let mut edges: Vec<(u32, u32)> = Vec::new();
        for (at, op) in self.ops.iter().enumerate() {
            if let Op::BrCharge { t, .. } = *op
                && (t.pc as usize) < at
                && let Ok(at) = u32::try_from(at)
            {
                edges.push((t.pc, at));
            }
        }
        if edges.is_empty() {
            return;
        }
        edges.sort_unstable();
        let mut loops: Vec<Loop> = Vec::new();
        let mut start = 0;
        for group in edges.chunk_by(|a, b| a.0 == b.0) {
            let range = start..start + group.len();
            start = range.end;
            let Some(&Op::BrCharge { cost: c1, .. }) = self.ops.get(group[0].1 as usize) else { continue };
            if let Some(l) = self.invertible(group[0].0 as usize, c1, range) {
                loops.push(l);
            }
        }
        if loops.is_empty() {
            return;
        }
        // Each loop's copy goes in before its body (`b + 2`), in the order of the bodies.
        loops.sort_unstable_by_key(|l| l.b);
        let mut before = Vec::with_capacity(loops.len() + 1);
        before.push(0usize);
        for l in &loops {
            before.push(before[before.len() - 1] + l.inserted());
        }
        let new_index = |pc: u32| -> u32 {
            let k = loops.partition_point(|l| l.b + 2 <= pc as usize);
            pc.saturating_add(before[k] as u32)
        };
        let (len, total) = (self.ops.len(), before[loops.len()]);
        // Every index of the grown body fits a target's `u32` (checked before anything moves).
        if u32::try_from(len + total + 2 * loops.len()).is_err() {
            return;
        }
        self.retarget_tables(new_index);
        let none = DropKeep { drop: 0, keep: 0 };
        let refund_at = |k: usize| (len + total + 2 * k) as u32;
        self.ops.resize(len + total, Op::Unreachable);
        self.offsets.resize(len + total, 0);
        // From the last op down: each moves up by the copies inserted before it, its target
        // renumbered; a loop's copy is written just below its body's first op, over ops
        // already moved (every write is at or above the op read, so nothing is read after it
        // is overwritten; the copied ops are pure, with no target to renumber).
        let mut k = loops.len();
        for i in (0..len).rev() {
            let w = i + before[k];
            let mut op = self.ops[i];
            op.retarget(new_index);
            self.ops[w] = op;
            self.offsets[w] = self.offsets[i];
            if k > 0 && loops[k - 1].b + 2 == i {
                k -= 1;
                let l = &loops[k];
                let mut at = i + before[k];
                let (to_body, to_h) = (new_index(i as u32), new_index(l.h as u32));
                let (offset_h, offset_b) = (self.offsets[l.h], self.offsets[l.b]);
                let mut put = |ops: &mut Vec<Op>, offsets: &mut Vec<u32>, op: Op, offset: u32| {
                    ops[at] = op;
                    offsets[at] = offset;
                    at += 1;
                };
                put(&mut self.ops, &mut self.offsets, Op::Br(Target { pc: to_body, dk: none }), offset_h);
                put(&mut self.ops, &mut self.offsets, Op::Br(Target { pc: to_h, dk: none }), offset_h);
                for j in l.h + 1..l.b {
                    let (op, offset) = (self.ops[j], self.offsets[j]);
                    put(&mut self.ops, &mut self.offsets, op, offset);
                }
                let mut test = self.ops[l.b];
                if let Some(t) = test.target_mut() {
                    t.pc = refund_at(k);
                }
                put(&mut self.ops, &mut self.offsets, test, offset_b);
            }
        }
        // The exits, and the back edges to their second way in.
        for l in &loops {
            // The original test, where it moved to.
            let b = new_index(l.b as u32) as usize;
            let exit = self.ops[b].target().unwrap_or(Target { pc: b as u32, dk: none });
            let offset = self.offsets[b];
            self.ops.extend([Op::Refund { cost: l.c2 }, Op::Br(exit)]);
            self.offsets.extend([offset, offset]);
            let x = new_index(l.b as u32 + 2) - l.inserted() as u32 + 1;
            for &(_, at) in &edges[l.edges.clone()] {
                if let Some(Op::BrCharge { t, cost }) = self.ops.get_mut(new_index(at) as usize)
                    && *cost == l.c1
                {
                    *t = Target { pc: x, dk: none };
                    *cost = l.c1 + l.c2;
                }
            }
        }
    }

    /// The loop headed by the charge at `h`, when a back edge paying `c1` there can pay the
    /// body's segment too: the charge, pure ops, a conditional branch, and the body's charge
    /// after it, all before the back edges.
    fn invertible(&self, h: usize, c1: u64, edges: std::ops::Range<usize>) -> Option<Loop> {
        let Some(&Op::Charge { cost, .. }) = self.ops.get(h) else { return None };
        if cost != c1 {
            return None;
        }
        let b = (h + 1..self.ops.len().min(h + 2 + MAX_TEST_OPS)).find(|&i| !self.ops[i].is_pure())?;
        let test = self.ops.get(b)?;
        let leaves = test.is_conditional_branch() && test.target().is_some_and(|t| t.pc as usize != h);
        let Some(&Op::Charge { cost: c2, .. }) = self.ops.get(b + 1) else { return None };
        (leaves && c1.checked_add(c2).is_some()).then_some(Loop { h, b, c1, c2, edges })
    }
}
