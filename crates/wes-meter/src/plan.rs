//! Where the gas checks go: which segments' costs can be charged, unobservably, by an earlier
//! segment's check.
//!
//! [`function_segments`](crate::function_segments) defines *what* is charged: every segment's
//! cost, before its first operator runs. A backend may charge it earlier, together with an
//! earlier segment's cost, whenever no one can tell the difference. This module works out when
//! that holds, on the segment-level control-flow graph, independently of any backend.
//!
//! A segment is *pure* when none of its operators can trap or change wasm state (locals,
//! `global.get`, constants, non-trapping integer and float arithmetic and conversions, `select`,
//! `drop`, `nop`, and the boundaries `block`, `loop`, `else`, `end`, `br`). A segment Q is
//! *absorbed* when it is not the entry, has a predecessor, and every predecessor P is pure and
//! has Q as its only successor: whenever P's check passes, Q runs next, so P's check may
//! charge for Q as well. Every other segment keeps a check, which charges its *chain*: itself,
//! then while the last element is pure, its unique successor if that is absorbed.
//!
//! A backend emits, for a chain `[(o1,c1,n1), …, (ok,ck,nk)]` (start offset, cost, operators),
//! one check of `c1 + … + ck` on the fast path, which also adds `n1 + … + nk` to the
//! executed-operator count; when it fails, a cold path replays the per-segment checks one by
//! one (the out-of-gas handler is asked for `ci`, the trap is reported at `oi`, and each
//! segment paid for adds its `ni`), so the handler calls, the gas consumed, the operator count
//! and the trap offset are exactly those of one check per segment.
//! Nothing of the chain's first `k - 1` segments is observable in between: they cannot trap,
//! write memory, globals or tables, or call anything, and the handler sees only the meter.
//!
//! Chains are bounded: a chain never visits a segment twice (so every loop of the graph still
//! contains a check and no loop runs unmetered), never has more than [`MAX_CHAIN`] elements and
//! never sums past `u64::MAX`; a segment a chain could not take keeps its own check.

use wasmparser::{BinaryReader, FunctionBody, Operator};

use crate::segment::{FunctionSegments, Segment, ends_segment};

/// The longest chain one check charges for.
pub const MAX_CHAIN: usize = 16;

/// One segment a check charges: what a backend needs to charge it alone (on the slow path)
/// and to add it to the chain's sums (on the fast path).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ChainLink {
    /// The segment's start offset (where its trap is reported when it cannot be paid for).
    pub start: u64,
    /// Its cost ([`Segment::cost`](crate::Segment::cost)).
    pub cost: u64,
    /// Its operators ([`Segment::ops`](crate::Segment::ops)), counted when it is paid for.
    pub ops: u64,
}

impl ChainLink {
    fn of(s: &Segment) -> ChainLink {
        ChainLink { start: s.start, cost: s.cost, ops: s.ops }
    }
}

/// How a segment's cost is charged.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SegmentCharge {
    /// A check at the segment's start charges the segments of `chain`, in execution order;
    /// the first is the segment itself.
    Check {
        /// The segments charged, in the order they run.
        chain: Vec<ChainLink>,
    },
    /// An earlier check paid for this segment: nothing is emitted at its start.
    Absorbed,
}

/// The charge plan of a function: one [`SegmentCharge`] per segment, in code order.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ChargePlan {
    /// `(segment start, charge)`, sorted by start.
    pub charges: Vec<(u64, SegmentCharge)>,
}

impl ChargePlan {
    /// One check per segment, each charging only its own segment (no merging).
    pub fn unmerged(segments: &FunctionSegments) -> ChargePlan {
        ChargePlan {
            charges: segments
                .segments
                .iter()
                .map(|s| (s.start, SegmentCharge::Check { chain: vec![ChainLink::of(s)] }))
                .collect(),
        }
    }

    /// The charge at the segment starting at byte offset `start`, if one does.
    pub fn at(&self, start: u64) -> Option<&SegmentCharge> {
        self.charges.binary_search_by_key(&start, |(s, _)| *s).ok().and_then(|i| self.charges.get(i)).map(|(_, c)| c)
    }

    /// How many segments keep a check.
    pub fn checks(&self) -> usize {
        self.charges.iter().filter(|(_, c)| matches!(c, SegmentCharge::Check { .. })).count()
    }

    /// The plan that merges checks as the module docs describe, for the function whose body
    /// (locals and code, at module offset `body_offset`) was cut into `segments`.
    ///
    /// A function with a boundary operator this analysis does not model (exceptions, `br_on_*`)
    /// gets the [unmerged](ChargePlan::unmerged) plan.
    ///
    /// # Errors
    ///
    /// The reader's error for a malformed body (impossible for a validated module).
    pub fn merged(
        body: &[u8],
        body_offset: u64,
        segments: &FunctionSegments,
    ) -> Result<ChargePlan, wasmparser::BinaryReaderError> {
        let body = FunctionBody::new(BinaryReader::new(body, body_offset));
        let mut ops = body.get_operators_reader()?;
        let mut builder = PlanBuilder::new();
        while !ops.eof() {
            let op = ops.read()?;
            builder.push(&op, ends_segment(&op));
        }
        Ok(builder.finish(&segments.segments))
    }
}

/// No entry: the end of a label's list.
const NONE: usize = usize::MAX;

/// A label of the control stack while the graph is built.
#[derive(Debug)]
struct Label {
    /// For a `loop`: the index of the segment after the `loop` operator (its header).
    header: Option<usize>,
    /// For an `if`: the segment ending with it, until its `else` gives it the else edge.
    if_segment: Option<usize>,
    /// The first of the segments that branch to the segment after this label's `end`: an
    /// entry of [`PlanBuilder::to_end`], or [`NONE`].
    to_end: usize,
}

/// Builds the segment-level graph one operator at a time, alongside a
/// [`SegmentCutter`](crate::SegmentCutter) fed the same operators: for a backend that reads a
/// body once to translate it, cuts its segments in the same pass and wants the merged plan
/// without a second read (the interpreter). [`ChargePlan::merged`] drives it from a reader of
/// its own.
#[derive(Debug)]
pub struct PlanBuilder {
    pure: Vec<bool>,
    /// Edges `(from, to)` as found; sorted and deduplicated when the graph is built (checking
    /// here would cost the list per edge, quadratic for a `br_table` with many targets).
    edges: Vec<(usize, usize)>,
    labels: Vec<Label>,
    /// The labels' lists of segments branching to their end: `(segment, next entry)`, one
    /// arena for every label rather than a list each.
    to_end: Vec<(usize, usize)>,
    /// The segment the next operator belongs to.
    seg: usize,
    /// A boundary operator not modelled here was read: the plan is the unmerged one.
    unmodelled: bool,
    /// What [`PlanBuilder::chains_into`] works out, per segment: its only successor
    /// ([`NONE`] when it has none or several), its incoming edges and those from a pure
    /// segment whose only successor it is, and whether it is absorbed. Kept, with the walk's
    /// stack, so that a builder reused for body after body allocates nothing once warm.
    only: Vec<usize>,
    into: Vec<(u32, u32)>,
    absorbable: Vec<bool>,
    heads: Vec<usize>,
    covered: Vec<bool>,
}

impl Default for PlanBuilder {
    fn default() -> Self {
        PlanBuilder::new()
    }
}

impl PlanBuilder {
    /// A builder at the start of a body.
    pub fn new() -> PlanBuilder {
        PlanBuilder {
            pure: Vec::new(),
            edges: Vec::new(),
            // The function's own label: a branch to it returns.
            labels: vec![Label { header: None, if_segment: None, to_end: NONE }],
            to_end: Vec::new(),
            seg: 0,
            unmodelled: false,
            only: Vec::new(),
            into: Vec::new(),
            absorbable: Vec::new(),
            heads: Vec::new(),
            covered: Vec::new(),
        }
    }

    /// Starts a new body, keeping the memory of the last.
    pub fn clear(&mut self) {
        self.pure.clear();
        self.edges.clear();
        self.labels.clear();
        self.labels.push(Label { header: None, if_segment: None, to_end: NONE });
        self.to_end.clear();
        self.seg = 0;
        self.unmodelled = false;
    }

    /// A builder with room for about `segments` segments (and as many edges), so that its
    /// vectors need not grow on the way.
    pub fn with_capacity(segments: usize) -> PlanBuilder {
        let mut b = PlanBuilder::new();
        b.pure.reserve(segments);
        b.edges.reserve(segments);
        b
    }

    /// Adds the body's next operator; `ends` is whether it ends a segment
    /// ([`ends_segment`], which a [`SegmentCutter`](crate::SegmentCutter) fed the same operator
    /// has just worked out).
    #[inline]
    pub fn push(&mut self, op: &Operator<'_>, ends: bool) {
        if self.pure.len() <= self.seg {
            self.pure.resize(self.seg + 1, true);
        }
        if !is_pure(op)
            && let Some(p) = self.pure.get_mut(self.seg)
        {
            *p = false;
        }
        if ends {
            self.boundary(op);
        }
    }

    /// The edges of the boundary `op`, which ends segment `self.seg`.
    fn boundary(&mut self, op: &Operator<'_>) {
        let seg = self.seg;
        let next = seg + 1;
        match op {
            Operator::Block { .. } => {
                self.edges.push((seg, next));
                self.labels.push(Label { header: None, if_segment: None, to_end: NONE });
            }
            Operator::Loop { .. } => {
                self.edges.push((seg, next));
                self.labels.push(Label { header: Some(next), if_segment: None, to_end: NONE });
            }
            Operator::If { .. } => {
                self.edges.push((seg, next));
                self.labels.push(Label { header: None, if_segment: Some(seg), to_end: NONE });
            }
            Operator::Else => {
                if let Some(label) = self.labels.last_mut() {
                    if let Some(i) = label.if_segment.take() {
                        self.edges.push((i, next));
                    }
                    self.to_end.push((seg, label.to_end));
                    label.to_end = self.to_end.len() - 1;
                }
            }
            Operator::End => {
                if let Some(label) = self.labels.pop() {
                    if self.labels.is_empty() {
                        // The function's final `end` returns.
                    } else {
                        self.edges.push((seg, next));
                        let mut at = label.to_end;
                        while let Some(&(s, after)) = self.to_end.get(at) {
                            self.edges.push((s, next));
                            at = after;
                        }
                        if let Some(s) = label.if_segment {
                            self.edges.push((s, next));
                        }
                    }
                }
            }
            Operator::Br { relative_depth } => self.branch(*relative_depth),
            Operator::BrIf { relative_depth } => {
                self.branch(*relative_depth);
                self.edges.push((seg, next));
            }
            Operator::BrTable { targets } => {
                for t in targets.targets() {
                    match t {
                        Ok(t) => self.branch(t),
                        // Unreadable (impossible for a validated body): merge nothing.
                        Err(_) => self.unmodelled = true,
                    }
                }
                self.branch(targets.default());
            }
            Operator::Call { .. } | Operator::CallIndirect { .. } | Operator::CallRef { .. } => {
                self.edges.push((seg, next));
            }
            Operator::Return
            | Operator::Unreachable
            | Operator::ReturnCall { .. }
            | Operator::ReturnCallIndirect { .. }
            | Operator::ReturnCallRef { .. } => {}
            _ => self.unmodelled = true,
        }
        self.seg = next;
    }

    /// Records the edge of a branch from the current segment to relative depth `d`: to a
    /// loop's header now, to the segment after a block's `end` when that `end` is read, or
    /// none (a return).
    fn branch(&mut self, d: u32) {
        let Some(i) = self.labels.len().checked_sub(1 + d as usize) else { return };
        let Some(label) = self.labels.get_mut(i) else { return };
        match label.header {
            Some(h) => self.edges.push((self.seg, h)),
            None if i == 0 => {} // returns
            None => {
                self.to_end.push((self.seg, label.to_end));
                label.to_end = self.to_end.len() - 1;
            }
        }
    }

    /// The plan for the body whose operators were pushed, cut into `segments` (by a
    /// [`SegmentCutter`](crate::SegmentCutter) fed the same operators, or
    /// [`function_segments`](crate::function_segments)).
    pub fn finish(self, segments: &[Segment]) -> ChargePlan {
        let chains = self.chains(segments);
        ChargePlan {
            charges: segments
                .iter()
                .enumerate()
                .map(|(i, seg)| {
                    let charge = match chains.of(i) {
                        Some(c) => SegmentCharge::Check {
                            chain: c.iter().filter_map(|&j| segments.get(j).map(ChainLink::of)).collect(),
                        },
                        None => SegmentCharge::Absorbed,
                    };
                    (seg.start, charge)
                })
                .collect(),
        }
    }

    /// The plan of [`PlanBuilder::finish`] as segment indices, in two flat vectors rather
    /// than a list per segment.
    pub fn chains(mut self, segments: &[Segment]) -> Chains {
        let mut out = Chains::default();
        self.chains_into(segments, &mut out);
        out
    }

    /// [`PlanBuilder::chains`] into `out`, keeping this builder's memory: for a backend that
    /// plans every function it translates and reuses one builder and one [`Chains`] (then
    /// [`PlanBuilder::clear`]s it for the next body).
    pub fn chains_into(&mut self, segments: &[Segment], out: &mut Chains) {
        let n = segments.len();
        out.spans.clear();
        out.members.clear();
        if !self.graph(n) {
            out.single(n);
            return;
        }
        let cost = |i: usize| segments.get(i).map_or(0, |s| s.cost);
        if !self.absorbable.contains(&true) {
            out.single(n);
            return;
        }
        // A round walks every head's chain; a segment a walk cannot take becomes a head and is
        // walked in the same round. Marking a segment only truncates the chains that ran
        // through it (its own walk covers the rest), so the round after a changing one is a
        // fixpoint: two rounds, three if the coverage check below marks anything. This keeps
        // the analysis linear (at most MAX_CHAIN steps per head per round) on hostile input.
        loop {
            let mut changed = false;
            out.spans.clear();
            out.spans.resize(n, None);
            out.members.clear();
            let (absorbable, heads) = (&mut self.absorbable, &mut self.heads);
            heads.clear();
            heads.extend((0..n).rev().filter(|&s| !absorbable.get(s).copied().unwrap_or(false)));
            while let Some(s) = heads.pop() {
                let start = out.members.len();
                out.members.push(s);
                let mut sum = cost(s);
                let mut cur = s;
                while self.pure.get(cur).copied().unwrap_or(false)
                    && let Some(q) = self.only.get(cur).copied().filter(|&o| o != NONE)
                    && absorbable.get(q).copied().unwrap_or(false)
                {
                    let chain = out.members.get(start..).unwrap_or(&[]);
                    match sum.checked_add(cost(q)) {
                        Some(total) if chain.len() < MAX_CHAIN && !chain.contains(&q) => {
                            sum = total;
                            out.members.push(q);
                            cur = q;
                        }
                        _ => {
                            // The chain cannot take `q`: it keeps its own check.
                            if let Some(a) = absorbable.get_mut(q) {
                                *a = false;
                            }
                            heads.push(q);
                            changed = true;
                            break;
                        }
                    }
                }
                if let Some(c) = out.spans.get_mut(s) {
                    *c = Some((start, out.members.len() - start));
                }
            }
            if changed {
                continue;
            }
            // An absorbed segment no chain pays for (only possible in code no path from the
            // entry reaches) keeps its own check, so nothing ever runs unpaid.
            let covered = &mut self.covered;
            covered.clear();
            covered.resize(n, false);
            for &i in &out.members {
                if let Some(c) = covered.get_mut(i) {
                    *c = true;
                }
            }
            for (a, &c) in absorbable.iter_mut().zip(covered.iter()) {
                if *a && !c {
                    *a = false;
                    changed = true;
                }
            }
            if !changed {
                return;
            }
        }
    }

    /// Works out `only`, `into` and `absorbable` over `n` segments; false when the graph
    /// cannot be trusted: an operator it does not model, or not the segments the operators
    /// cut (impossible for a validated body).
    fn graph(&mut self, n: usize) -> bool {
        if self.unmodelled || self.seg != n || self.edges.iter().any(|&(f, t)| f >= n || t >= n) {
            return false;
        }
        self.pure.resize(n, true);
        // Several edges between the same two segments (a `br_table` naming a target twice)
        // change neither a segment's only successor nor whether all its predecessors allow
        // absorbing it, so they need not be removed.
        const SEVERAL: usize = NONE - 1;
        let only = &mut self.only;
        only.clear();
        only.resize(n, NONE);
        for &(f, t) in &self.edges {
            if let Some(o) = only.get_mut(f) {
                *o = match *o {
                    NONE => t,
                    o if o == t => t,
                    _ => SEVERAL,
                };
            }
        }
        for o in only.iter_mut() {
            if *o == SEVERAL {
                *o = NONE;
            }
        }
        // Per segment: its incoming edges, and those from a pure segment whose only successor
        // it is.
        let into = &mut self.into;
        into.clear();
        into.resize(n, (0, 0));
        for &(f, t) in &self.edges {
            let good = self.pure.get(f).copied().unwrap_or(false) && only.get(f) == Some(&t);
            if let Some((all, fine)) = into.get_mut(t) {
                *all = all.saturating_add(1);
                *fine = fine.saturating_add(u32::from(good));
            }
        }
        self.absorbable.clear();
        self.absorbable.extend(into.iter().enumerate().map(|(q, &(all, fine))| q != 0 && all > 0 && fine == all));
        true
    }
}

/// A merged plan as segment indices ([`PlanBuilder::chains`]).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Chains {
    /// Per segment: where its chain lies in `members` (start, length), `None` when absorbed.
    spans: Vec<Option<(usize, usize)>>,
    members: Vec<usize>,
}

impl Chains {
    /// Every one of `n` segments its own check.
    fn single(&mut self, n: usize) {
        self.spans.clear();
        self.spans.extend((0..n).map(|i| Some((i, 1))));
        self.members.clear();
        self.members.extend(0..n);
    }

    /// The chain segment `i`'s check charges (itself first), in the order they run; `None`
    /// when an earlier check pays for segment `i` (or there is no segment `i`).
    pub fn of(&self, i: usize) -> Option<&[usize]> {
        let (start, len) = self.spans.get(i).copied().flatten()?;
        self.members.get(start..start + len)
    }

    /// How many segments the plan covers.
    pub fn len(&self) -> usize {
        self.spans.len()
    }

    /// Whether it covers none.
    pub fn is_empty(&self) -> bool {
        self.spans.is_empty()
    }
}

/// Whether `op` can neither trap nor change wasm state (memory, tables, globals) nor call out.
fn is_pure(op: &Operator<'_>) -> bool {
    use Operator as O;
    matches!(
        op,
        O::Nop
            | O::Drop
            | O::Select
            | O::TypedSelect { .. }
            | O::Block { .. }
            | O::Loop { .. }
            | O::Else
            | O::End
            | O::Br { .. }
            | O::LocalGet { .. }
            | O::LocalSet { .. }
            | O::LocalTee { .. }
            | O::GlobalGet { .. }
            | O::I32Const { .. }
            | O::I64Const { .. }
            | O::F32Const { .. }
            | O::F64Const { .. }
            | O::I32Eqz
            | O::I32Eq
            | O::I32Ne
            | O::I32LtS
            | O::I32LtU
            | O::I32GtS
            | O::I32GtU
            | O::I32LeS
            | O::I32LeU
            | O::I32GeS
            | O::I32GeU
            | O::I64Eqz
            | O::I64Eq
            | O::I64Ne
            | O::I64LtS
            | O::I64LtU
            | O::I64GtS
            | O::I64GtU
            | O::I64LeS
            | O::I64LeU
            | O::I64GeS
            | O::I64GeU
            | O::F32Eq
            | O::F32Ne
            | O::F32Lt
            | O::F32Gt
            | O::F32Le
            | O::F32Ge
            | O::F64Eq
            | O::F64Ne
            | O::F64Lt
            | O::F64Gt
            | O::F64Le
            | O::F64Ge
            | O::I32Clz
            | O::I32Ctz
            | O::I32Popcnt
            | O::I32Add
            | O::I32Sub
            | O::I32Mul
            | O::I32And
            | O::I32Or
            | O::I32Xor
            | O::I32Shl
            | O::I32ShrS
            | O::I32ShrU
            | O::I32Rotl
            | O::I32Rotr
            | O::I64Clz
            | O::I64Ctz
            | O::I64Popcnt
            | O::I64Add
            | O::I64Sub
            | O::I64Mul
            | O::I64And
            | O::I64Or
            | O::I64Xor
            | O::I64Shl
            | O::I64ShrS
            | O::I64ShrU
            | O::I64Rotl
            | O::I64Rotr
            | O::F32Abs
            | O::F32Neg
            | O::F32Ceil
            | O::F32Floor
            | O::F32Trunc
            | O::F32Nearest
            | O::F32Sqrt
            | O::F32Add
            | O::F32Sub
            | O::F32Mul
            | O::F32Div
            | O::F32Min
            | O::F32Max
            | O::F32Copysign
            | O::F64Abs
            | O::F64Neg
            | O::F64Ceil
            | O::F64Floor
            | O::F64Trunc
            | O::F64Nearest
            | O::F64Sqrt
            | O::F64Add
            | O::F64Sub
            | O::F64Mul
            | O::F64Div
            | O::F64Min
            | O::F64Max
            | O::F64Copysign
            | O::I32WrapI64
            | O::I64ExtendI32S
            | O::I64ExtendI32U
            | O::I32Extend8S
            | O::I32Extend16S
            | O::I64Extend8S
            | O::I64Extend16S
            | O::I64Extend32S
            | O::F32ConvertI32S
            | O::F32ConvertI32U
            | O::F32ConvertI64S
            | O::F32ConvertI64U
            | O::F32DemoteF64
            | O::F64ConvertI32S
            | O::F64ConvertI32U
            | O::F64ConvertI64S
            | O::F64ConvertI64U
            | O::F64PromoteF32
            | O::I32ReinterpretF32
            | O::I64ReinterpretF64
            | O::F32ReinterpretI32
            | O::F64ReinterpretI64
            | O::I32TruncSatF32S
            | O::I32TruncSatF32U
            | O::I32TruncSatF64S
            | O::I32TruncSatF64U
            | O::I64TruncSatF32S
            | O::I64TruncSatF32U
            | O::I64TruncSatF64S
            | O::I64TruncSatF64U
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Pricing, function_segments};

    /// The segments and merged plan of the last function of `wat`.
    fn plan_of(wat: &str) -> (FunctionSegments, ChargePlan) {
        let m = wes_decode::decode_text(wat).unwrap();
        let body = m.bodies.last().unwrap();
        let bytes = &m.bytes[body.range.clone()];
        let segs = function_segments(bytes, body.range.start as u64, &Pricing::default()).unwrap();
        let plan = ChargePlan::merged(bytes, body.range.start as u64, &segs).unwrap();
        assert_eq!(plan.charges.len(), segs.segments.len());
        (segs, plan)
    }

    /// Per segment: the indices of the segments its check charges, or `None` when absorbed.
    fn shape(segs: &FunctionSegments, plan: &ChargePlan) -> Vec<Option<Vec<usize>>> {
        plan.charges
            .iter()
            .map(|(_, c)| match c {
                SegmentCharge::Check { chain } => Some(
                    chain
                        .iter()
                        .map(|link| {
                            let i = segs.segments.iter().position(|s| s.start == link.start).unwrap();
                            assert_eq!(segs.segments[i].cost, link.cost);
                            assert_eq!(segs.segments[i].ops, link.ops);
                            i
                        })
                        .collect(),
                ),
                SegmentCharge::Absorbed => None,
            })
            .collect()
    }

    #[test]
    fn xorshift_loop_has_two_checks_per_iteration() {
        let (segs, plan) = plan_of(include_str!("../../../benches/workloads/xorshift.wat"));
        // 0 [i64.const local.set block] 1 [loop] 2 [local.get i64.eqz br_if] 3 [... if]
        // 4 [then ... else] 5 [else arm ... end] 6 [join ... br] 7 [end: loop, dead]
        // 8 [end: block] 9 [local.get end]
        let shape = shape(&segs, &plan);
        assert_eq!(
            shape,
            vec![
                Some(vec![0, 1, 2]),
                None,
                None,
                Some(vec![3]),
                Some(vec![4, 6, 2]),
                Some(vec![5, 6, 2]),
                None,
                Some(vec![7, 8]),
                None,
                Some(vec![9]),
            ]
        );
        assert_eq!(plan.checks(), 6);
        // One iteration runs segments 2, 3, 4 or 5, 6: the checks of 3 and of 4 or 5.
        assert_eq!(
            plan.at(segs.segments[3].start),
            Some(&SegmentCharge::Check { chain: vec![ChainLink::of(&segs.segments[3])] })
        );
        assert_eq!(ChargePlan::unmerged(&segs).checks(), 10);
    }

    #[test]
    fn chains_carry_each_segments_operators() {
        let (segs, plan) = plan_of(include_str!("../../../benches/workloads/xorshift.wat"));
        let ops = |p: &ChargePlan| -> u64 {
            p.charges
                .iter()
                .filter_map(|(_, c)| match c {
                    SegmentCharge::Check { chain } => Some(chain.iter().map(|l| l.ops).sum::<u64>()),
                    SegmentCharge::Absorbed => None,
                })
                .sum()
        };
        assert_eq!(ops(&ChargePlan::unmerged(&segs)), segs.total_ops());
        // Merged, a segment may be charged by several chains (one per path into it), so the
        // plan's static sum is no total; each chain carries its segments' own counts.
        assert!(ops(&plan) >= segs.total_ops());
        // The chain of segment 0 is [i64.const local.set block] [loop] [local.get i64.eqz
        // br_if]: 3 + 1 + 3 operators in one check.
        let Some(SegmentCharge::Check { chain }) = plan.at(segs.segments[0].start) else { panic!() };
        assert_eq!(chain.iter().map(|l| l.ops).collect::<Vec<_>>(), vec![3, 1, 3]);
    }

    #[test]
    fn a_loop_that_only_branches_back_keeps_its_check() {
        let (segs, plan) = plan_of("(module (func (loop br 0)))");
        // 0 [loop] 1 [br 0] 2 [end: loop, dead] 3 [end]
        assert_eq!(shape(&segs, &plan), vec![Some(vec![0]), Some(vec![1]), Some(vec![2, 3]), None]);
    }

    #[test]
    fn a_br_if_fallthrough_is_not_absorbed() {
        let (segs, plan) =
            plan_of("(module (func (param i32) (result i32) (block (br_if 0 (local.get 0)) (nop)) (i32.const 7)))");
        // 0 [block] 1 [local.get br_if] 2 [nop end] 3 [i32.const end]
        assert_eq!(shape(&segs, &plan), vec![Some(vec![0, 1]), None, Some(vec![2]), Some(vec![3])]);
    }

    #[test]
    fn impure_predecessors_block_absorption() {
        // Each of a store, a call and a division makes the segment impure, so the segment
        // after it (which has no other predecessor) keeps its own check.
        for (op, pre) in [
            ("i32.store", "(i32.const 0) (i32.const 1)"),
            ("call $f", ""),
            ("i32.div_u", "(i32.const 6) (i32.const 3)"),
            ("i32.load drop", "(i32.const 0)"),
        ] {
            let wat = format!(
                "(module (memory 1) (func $f) (func {pre} {op} {} (block (nop)) (i32.const 1) drop))",
                if op.starts_with("i32.div") { "drop" } else { "" }
            );
            let (segs, plan) = plan_of(&wat);
            let shape = shape(&segs, &plan);
            assert_eq!(shape[0], Some(vec![0]), "{op}: {shape:?}");
            assert!(shape[1].is_some(), "{op}: {shape:?}");
        }
        // The same shape with pure code merges.
        let (segs, plan) = plan_of("(module (func (i32.const 1) drop (block (nop)) (i32.const 1) drop))");
        // 0 [i32.const drop block] 1 [nop end] 2 [i32.const drop end]
        assert_eq!(shape(&segs, &plan), vec![Some(vec![0, 1, 2]), None, None]);
    }

    #[test]
    fn chains_are_capped() {
        let n = MAX_CHAIN + 4;
        let wat = format!("(module (func {} {}))", "(block ".repeat(n), ")".repeat(n));
        let (segs, plan) = plan_of(&wat);
        // n [block] segments, then the n `end`s (each a segment): one chain of MAX_CHAIN
        // elements, then a new check.
        let shape = shape(&segs, &plan);
        assert_eq!(shape[0], Some((0..MAX_CHAIN).collect()));
        assert!(shape[1..MAX_CHAIN].iter().all(Option::is_none));
        assert_eq!(shape[MAX_CHAIN], Some((MAX_CHAIN..2 * MAX_CHAIN).collect()));
        let total: usize = shape.iter().flatten().map(Vec::len).sum();
        assert_eq!(total, segs.segments.len(), "every segment is charged exactly once");
    }
}
