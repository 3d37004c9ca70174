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

use wes_meter::{ChainLink, Chains, Segment};

use super::{Code, Op};

impl Code {
    /// Applies `plan` (over the body's `segments`, in code order) to the charges the
    /// translator emitted: `at[i]` is the op of segment `i`'s charge, `None` when the segment
    /// cannot be reached (no charge was emitted). `metered` and `counting` say what the
    /// charges carry (a cost, an operator count); `absorbed` is room for the charges that go
    /// (reused from body to body). Branches to a charge that goes land on the op after it: the
    /// first of its segment's code, or the next segment's charge.
    ///
    /// # Errors
    ///
    /// A charge of the plan that is not where the translator put it (a translator bug,
    /// refused rather than run with a segment unpaid).
    pub(crate) fn merge_charges(
        &mut self,
        plan: &Chains,
        segments: &[Segment],
        at: &[Option<usize>],
        metered: bool,
        counting: bool,
        absorbed: &mut Vec<usize>,
    ) -> Result<(), String> {
        if plan.len() != at.len() || segments.len() != at.len() {
            return Err(format!("{} segments charged, {} cut, {} planned", at.len(), segments.len(), plan.len()));
        }
        absorbed.clear();
        for (i, &at) in at.iter().enumerate() {
            let Some(at) = at else { continue };
            if !matches!(self.ops.get(at), Some(Op::Charge { .. } | Op::ChargeCount { .. })) {
                return Err(format!("the charge of segment {i} moved"));
            }
            match plan.of(i) {
                None => absorbed.push(at),
                Some(members) if members.len() > 1 => {
                    let first = self.links.len();
                    for &j in members {
                        let s = segments.get(j).ok_or_else(|| format!("a chain names segment {j}"))?;
                        let link = ChainLink {
                            start: s.start,
                            cost: if metered { s.cost } else { 0 },
                            ops: if counting { s.ops } else { 0 },
                        };
                        self.links.push(link);
                    }
                    let links = self.links.get(first..).unwrap_or(&[]);
                    // The plan keeps a chain's sum within `u64`; a body has fewer operators
                    // than bytes, and the chain's segments are distinct.
                    let cost = links.iter().fold(0u64, |a, l| a.saturating_add(l.cost));
                    let ops =
                        u32::try_from(links.iter().fold(0u64, |a, l| a.saturating_add(l.ops))).unwrap_or(u32::MAX);
                    let span = (u32::try_from(first), u32::try_from(members.len()));
                    let (Ok(first), Ok(len)) = span else { return Err("too many merged checks".into()) };
                    self.chains.push((first, len));
                    let chain = u32::try_from(self.chains.len()).map_err(|_| "too many merged checks".to_string())?;
                    self.ops[at] =
                        if ops == 0 { Op::Charge { cost, chain } } else { Op::ChargeCount { cost, ops, chain } };
                }
                Some(_) => {}
            }
        }
        if !absorbed.is_empty() {
            self.remove_ops(absorbed);
        }
        Ok(())
    }

    /// Removes the ops at `remove` (ascending indices), in place; a branch to one lands on the
    /// op that followed it.
    fn remove_ops(&mut self, remove: &[usize]) {
        let len = self.ops.len();
        // Whether the next op (in order) goes, with the index of the next and of the next to go.
        let keeper = || {
            let (mut i, mut next) = (0usize, 0usize);
            move || {
                let gone = remove.get(next) == Some(&i);
                next += usize::from(gone);
                i += 1;
                !gone
            }
        };
        let mut keep = keeper();
        self.ops.retain(|_| keep());
        let mut keep = keeper();
        self.offsets.retain(|_| keep());
        // An op's new index: less the removed ops before it (a removed op's becomes that of
        // the op after it). A target past the end stays past it.
        self.retarget(|pc| {
            let pc = pc as usize;
            if pc >= len {
                return u32::MAX - 1;
            }
            u32::try_from(pc - remove.partition_point(|&r| r < pc)).unwrap_or(u32::MAX - 1)
        });
    }
}
