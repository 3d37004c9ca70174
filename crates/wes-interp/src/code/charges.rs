//! Merged gas checks: `wes_meter::ChargePlan` applied to a translated body.
//!
//! The translator puts one [`Op::Charge`] in front of every reachable segment. Where the plan
//! lets one check pay for a chain of segments (the pure segments a check's segment surely runs
//! into, see `wes_meter::plan`), the chain's first charge takes the chain's sums and names the
//! chain (for the loop, which pays the segments one by one when the counter holds too little),
//! and the charges of the segments it absorbs go: what a loop turn of xorshift pays four
//! times is paid twice. The plan is the JIT's, built from the same operators, so both
//! backends check at the same points, and their gas, out-of-gas requests, operator counts and
//! trap offsets are those of one charge per segment on either.

use wes_meter::{ChargePlan, SegmentCharge};

use super::{Code, Op};

impl Code {
    /// Applies `plan` (one charge per segment of the body, in code order) to the charges the
    /// translator emitted: `at[i]` is the op of segment `i`'s charge, `None` when the segment
    /// cannot be reached (no charge was emitted). `metered` and `counting` say what the
    /// charges carry (a cost, an operator count). Branches to a charge that goes land on the
    /// op after it: the first of its segment's code, or the next segment's charge.
    ///
    /// # Errors
    ///
    /// A charge of the plan that is not where the translator put it (a translator bug,
    /// refused rather than run with a segment unpaid).
    pub(crate) fn merge_charges(
        &mut self,
        plan: &ChargePlan,
        at: &[Option<usize>],
        metered: bool,
        counting: bool,
    ) -> Result<(), String> {
        if plan.charges.len() != at.len() {
            return Err(format!("{} segments charged, {} planned", at.len(), plan.charges.len()));
        }
        let mut absorbed = Vec::new();
        for ((start, charge), &at) in plan.charges.iter().zip(at) {
            let Some(at) = at else { continue };
            let Some(Op::Charge { cost, ops, chain }) = self.ops.get_mut(at) else {
                return Err(format!("the charge of the segment at {start} moved"));
            };
            match charge {
                SegmentCharge::Absorbed => absorbed.push(at),
                SegmentCharge::Check { chain: links } if links.len() > 1 => {
                    let links: Box<[_]> = links
                        .iter()
                        .map(|l| wes_meter::ChainLink {
                            start: l.start,
                            cost: if metered { l.cost } else { 0 },
                            ops: if counting { l.ops } else { 0 },
                        })
                        .collect();
                    // The plan keeps a chain's sum within `u64`; a body has fewer operators
                    // than bytes, and the chain's segments are distinct.
                    *cost = links.iter().fold(0u64, |a, l| a.saturating_add(l.cost));
                    *ops = u32::try_from(links.iter().fold(0u64, |a, l| a.saturating_add(l.ops))).unwrap_or(u32::MAX);
                    self.chains.push(links);
                    *chain = u32::try_from(self.chains.len()).unwrap_or(u32::MAX);
                }
                SegmentCharge::Check { .. } => {}
            }
        }
        if !absorbed.is_empty() {
            self.remove_ops(&absorbed);
        }
        Ok(())
    }

    /// Removes the ops at `remove` (ascending indices); a branch to one lands on the op that
    /// followed it.
    fn remove_ops(&mut self, remove: &[usize]) {
        let len = self.ops.len();
        let mut new_index = Vec::with_capacity(len);
        let mut ops = Vec::with_capacity(len - remove.len().min(len));
        let mut offsets = Vec::with_capacity(ops.capacity());
        let mut next = remove.iter().copied().peekable();
        for (i, &op) in self.ops.iter().enumerate() {
            // A removed op's index becomes that of the op after it.
            new_index.push(u32::try_from(ops.len()).unwrap_or(u32::MAX - 1));
            if next.next_if_eq(&i).is_some() {
                continue;
            }
            ops.push(op);
            offsets.push(self.offset(i));
        }
        self.ops = ops;
        self.offsets = offsets;
        self.retarget(&new_index);
    }
}
