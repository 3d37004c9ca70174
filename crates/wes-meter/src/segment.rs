//! Straight-line segments and their costs: the one definition of "what code costs" that every
//! backend compiles in.
//!
//! A function body is cut into *segments*: maximal runs of operators that end with a
//! control-flow boundary ([`ends_segment`]: `block`, `loop`, `if`, `else`, `end`, branches,
//! `return`, calls, `unreachable`, ...). The boundary belongs to the segment it ends; the next
//! segment starts at the operator after it. Function entries and loop headers therefore start
//! segments, so a loop's back edge always re-enters a charged segment.
//!
//! A segment's cost is the sum of its operators' prices, and the whole cost is charged by one
//! check-and-deduct *before* its first operator runs. Whenever control reaches the start of a
//! segment, the segment is paid for; a branch that leaves a segment early forfeits nothing and
//! is refunded nothing. Because segments are computed from the *input wasm operators* by this
//! function alone, gas does not depend on the backend, its optimisations or its version.
//!
//! The same segments define the *executed-operator count* (issue 15's "instructions
//! executed"): a segment adds its operator count ([`Segment::ops`], every operator the body's
//! reader yields, the boundary included) exactly when its cost is charged. So a segment that
//! traps part-way counts all its operators, as it has paid for all of them, and a segment that
//! cannot be paid for (out of gas) counts none. Unmetered code counts at the same points.
//!
//! "Charged before it runs" is the semantics, not necessarily one check per segment: a backend
//! may pay for several segments with one check where no one can tell the difference
//! ([`crate::plan::ChargePlan`] says where; the gas, out-of-gas handler requests, trap offsets
//! and wasm state at a trap stay exactly those of one check per segment).

use wasmparser::{BinaryReader, FunctionBody, Operator};

use crate::pricing::Pricing;

/// One straight-line segment of a function body.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Segment {
    /// Byte offset, in the module, of the segment's first operator.
    pub start: u64,
    /// Byte offset of its last operator (the boundary that ends it).
    pub end: u64,
    /// The sum of its operators' prices (saturating).
    pub cost: u64,
    /// How many operators it holds: every operator the body's reader yields from `start` to
    /// `end`, the boundary included (`block`, `loop`, `if`, `else` and `end` count like any
    /// other). What a backend adds to the executed-operator count when it charges the segment.
    pub ops: u64,
}

/// What the segment analysis learns about a function body.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct FunctionSegments {
    /// Segments in code order (sorted by `start`).
    pub segments: Vec<Segment>,
    /// Whether the body contains a `loop`.
    pub has_loop: bool,
    /// Function indices of direct calls (`call`, `return_call`), one entry per call site.
    pub direct_calls: Vec<u32>,
    /// Whether the body calls through a table or a reference.
    pub has_indirect_call: bool,
    /// Whether the body has an operator with a run-time cost (bulk memory or table operations,
    /// `memory.grow`, `table.grow`).
    pub has_dynamic_cost: bool,
}

impl FunctionSegments {
    /// The segment starting at byte offset `start`, if one does.
    pub fn at(&self, start: u64) -> Option<&Segment> {
        self.segments.binary_search_by_key(&start, |s| s.start).ok().and_then(|i| self.segments.get(i))
    }

    /// The sum of every segment's cost: what one pass over every operator costs.
    pub fn total(&self) -> u64 {
        self.segments.iter().fold(0u64, |a, s| a.saturating_add(s.cost))
    }

    /// The number of operators of the body: the sum of every segment's [`Segment::ops`].
    pub fn total_ops(&self) -> u64 {
        self.segments.iter().fold(0u64, |a, s| a.saturating_add(s.ops))
    }
}

/// Whether `op` ends a straight-line segment.
pub fn ends_segment(op: &Operator<'_>) -> bool {
    use Operator as O;
    matches!(
        op,
        O::Block { .. }
            | O::Loop { .. }
            | O::If { .. }
            | O::Else
            | O::End
            | O::Br { .. }
            | O::BrIf { .. }
            | O::BrTable { .. }
            | O::Return
            | O::Call { .. }
            | O::CallIndirect { .. }
            | O::ReturnCall { .. }
            | O::ReturnCallIndirect { .. }
            | O::CallRef { .. }
            | O::ReturnCallRef { .. }
            | O::Unreachable
            | O::BrOnNull { .. }
            | O::BrOnNonNull { .. }
            | O::BrOnCast { .. }
            | O::BrOnCastFail { .. }
            | O::Try { .. }
            | O::Catch { .. }
            | O::CatchAll
            | O::Delegate { .. }
            | O::Rethrow { .. }
            | O::Throw { .. }
            | O::ThrowRef
            | O::TryTable { .. }
    )
}

/// Cuts a body's operators into segments as they are read, for a backend that reads them
/// anyway ([`function_segments`] is this over a reader of its own): one pass instead of two,
/// and still the one definition of what a segment is and costs.
///
/// Feed every operator the body's reader yields, in order, to [`SegmentCutter::push`]; before
/// each, [`SegmentCutter::at_start`] says whether it begins a segment, and `push` returns the
/// segment the operator ends, if it ends one; [`SegmentCutter::finish`] returns the last
/// segment when the body stops without a boundary (impossible for a validated body, which ends
/// with `end`).
#[derive(Clone, Debug, Default)]
pub struct SegmentCutter {
    current: Option<Segment>,
}

impl SegmentCutter {
    /// A cutter at the start of a body.
    pub fn new() -> Self {
        SegmentCutter::default()
    }

    /// Whether the next operator starts a segment.
    #[inline]
    pub fn at_start(&self) -> bool {
        self.current.is_none()
    }

    /// Adds `op`, at module offset `offset`, priced by `pricing`; the segment it ends, if it
    /// is a boundary ([`ends_segment`]).
    #[inline]
    pub fn push(&mut self, op: &Operator<'_>, offset: u64, pricing: &Pricing) -> Option<Segment> {
        let seg = self.current.get_or_insert(Segment { start: offset, end: offset, cost: 0, ops: 0 });
        seg.cost = seg.cost.saturating_add(pricing.operator_cost(op));
        seg.ops += 1;
        seg.end = offset;
        if ends_segment(op) { self.current.take() } else { None }
    }

    /// The segment still open, if the body ended inside one.
    pub fn finish(&mut self) -> Option<Segment> {
        self.current.take()
    }
}

/// Cuts the operators of a function body into segments and prices them with `pricing`.
///
/// `body` is the function body's bytes (locals and code, without the size prefix) and
/// `body_offset` their offset in the module, so segment offsets are module offsets as the
/// backends see them.
///
/// # Errors
///
/// The reader's error for a malformed body (impossible for a validated module).
pub fn function_segments(
    body: &[u8],
    body_offset: u64,
    pricing: &Pricing,
) -> Result<FunctionSegments, wasmparser::BinaryReaderError> {
    let body = FunctionBody::new(BinaryReader::new(body, body_offset));
    let mut ops = body.get_operators_reader()?;
    let mut out = FunctionSegments::default();
    let mut cutter = SegmentCutter::new();
    while !ops.eof() {
        // Not `read_with_offset`: see wes-interp's translate.rs.
        let offset = ops.original_position();
        let op = ops.read()?;
        match &op {
            Operator::Loop { .. } => out.has_loop = true,
            Operator::Call { function_index } | Operator::ReturnCall { function_index } => {
                out.direct_calls.push(*function_index);
            }
            Operator::CallIndirect { .. }
            | Operator::ReturnCallIndirect { .. }
            | Operator::CallRef { .. }
            | Operator::ReturnCallRef { .. } => out.has_indirect_call = true,
            Operator::MemoryGrow { .. }
            | Operator::MemoryFill { .. }
            | Operator::MemoryCopy { .. }
            | Operator::MemoryInit { .. }
            | Operator::TableGrow { .. }
            | Operator::TableFill { .. }
            | Operator::TableCopy { .. }
            | Operator::TableInit { .. } => out.has_dynamic_cost = true,
            _ => {}
        }
        if let Some(seg) = cutter.push(&op, offset, pricing) {
            out.segments.push(seg);
        }
    }
    if let Some(seg) = cutter.finish() {
        out.segments.push(seg);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The decoder counts control operators by opcode (`FunctionShape::control_operators`,
    /// what admission bounds) without decoding them; it must count exactly the operators
    /// `ends_segment` names.
    #[test]
    fn the_decoders_control_count_is_the_segment_boundaries() {
        let all = wes_decode::Features { gc: true, exceptions: true, ..wes_decode::Features::default() };
        let wats = [
            r#"(module (type $t (func (param i32) (result i32))) (table 1 funcref) (memory 1)
                 (func $f (type $t) (param i32) (result i32)
                   (block $a
                     (loop $b
                       (if (local.get 0) (then (br $b)) (else unreachable))
                       (br_if $b (i32.const 0))
                       (br_table $a $b $a (i32.const 1))))
                   (drop (memory.grow (i32.const 0)))
                   (drop (call $f (i32.const 1)))
                   (drop (call_indirect (type $t) (i32.const 1) (i32.const 0)))
                   (if (i32.const 0) (then (return (i32.const 2))))
                   (return_call_indirect (type $t) (i32.const 1) (i32.const 0)))
                 (func (result i32) (return_call $f (i32.const 3))))"#,
            // The GC proposal's casts need types the decoder does not represent (anyref), and
            // throwing needs tags it does not represent either, so only the branches on null,
            // the calls by reference and `try_table` are here.
            r#"(module (type $t (func (param i32) (result i32)))
                 (func $f (type $t) (param i32) (result i32) (local.get 0))
                 (elem declare func $f)
                 (func (result i32) (local (ref null $t))
                   (block $a (result i32)
                     (drop (block $n (result (ref $t)) (br_on_non_null $n (local.get 0)) (i32.const 0) (br $a)))
                     (drop (br_on_null $a (i32.const 1) (local.get 0)))
                     (drop (call_ref $t (i32.const 1) (ref.func $f)))
                     (drop (try_table (result i32) (i32.const 5)))
                     (return_call_ref $t (i32.const 1) (ref.func $f)))))"#,
        ];
        for wat in wats {
            let m = wes_decode::Decoder::new(all).decode_text(wat).unwrap();
            let mut total = 0;
            for body in &m.bodies {
                let bytes = &m.bytes[body.range.clone()];
                let reader = wasmparser::FunctionBody::new(wasmparser::BinaryReader::new(bytes, 0));
                let mut ops = reader.get_operators_reader().unwrap();
                let mut control = 0;
                while !ops.eof() {
                    control += u64::from(ends_segment(&ops.read().unwrap()));
                }
                assert_eq!(body.shape.control_operators, control, "{wat}");
                total += control;
            }
            assert!(total > 10, "{total}");
        }
    }

    fn segments_of(wat: &str) -> FunctionSegments {
        let m = wes_decode::decode_text(wat).unwrap();
        let body = &m.bodies[0];
        function_segments(&m.bytes[body.range.clone()], body.range.start as u64, &Pricing::default()).unwrap()
    }

    /// A cutter fed operator by operator says a segment starts exactly where one does and
    /// hands each segment over at its last operator.
    #[test]
    fn a_cutter_starts_and_ends_segments_where_they_are() {
        let m = wes_decode::decode_text(
            "(module (func (param i32) (result i32)
               local.get 0 drop
               (block (loop local.get 0 br_if 1 br 0))
               (if (result i32) (local.get 0) (then i32.const 1) (else i32.const 2))))",
        )
        .unwrap();
        let body = &m.bodies[0];
        let pricing = Pricing::default();
        let whole = function_segments(&m.bytes[body.range.clone()], body.range.start as u64, &pricing).unwrap();
        let reader = FunctionBody::new(BinaryReader::new(&m.bytes[body.range.clone()], body.range.start as u64));
        let mut ops = reader.get_operators_reader().unwrap();
        let mut cutter = SegmentCutter::new();
        let (mut starts, mut cut) = (Vec::new(), Vec::new());
        while !ops.eof() {
            let (op, offset) = ops.read_with_offset().unwrap();
            if cutter.at_start() {
                starts.push(offset);
            }
            if let Some(seg) = cutter.push(&op, offset, &pricing) {
                assert_eq!(seg.end, offset, "a segment ends at the operator that ends it");
                cut.push(seg);
            }
        }
        assert_eq!(cutter.finish(), None, "a validated body ends with `end`");
        // [local.get drop block] [loop] [local.get br_if] [br] [end] [end] [local.get if]
        // [i32.const else] [i32.const end] [end]
        let ops: Vec<u64> = cut.iter().map(|s| s.ops).collect();
        assert_eq!(ops, vec![3, 1, 2, 1, 1, 1, 2, 2, 2, 1], "{cut:?}");
        assert!(cut.windows(2).all(|w| w[0].end < w[1].start), "{cut:?}");
        // `at_start` is what the translator emits charges by, and `function_segments` does not
        // use it: the starts it gave must be the segments' own.
        assert_eq!(starts, cut.iter().map(|s| s.start).collect::<Vec<_>>());
        assert_eq!(cut, whole.segments);
    }

    #[test]
    fn straight_line_code_is_one_segment() {
        // i32.const 1 (1) + i32.const 2 (1) + i32.add (1) + end (1)
        let s = segments_of("(module (func (result i32) i32.const 1 i32.const 2 i32.add))");
        assert_eq!(s.segments.len(), 1);
        assert_eq!(s.segments[0].cost, 4);
        assert_eq!(s.segments[0].ops, 4);
        assert!(!s.has_loop && s.direct_calls.is_empty());
    }

    #[test]
    fn boundaries_split_and_loops_start_segments() {
        let s = segments_of(
            "(module (func (param i32)
               local.get 0 drop             ;; segment 1: local.get drop loop = 3
               (loop                         ;; segment 2 starts at the header
                 local.get 0 br_if 0)        ;;   local.get br_if = 2
               i32.const 1 drop              ;; the loop's `end` is a segment of its own
             ))",
        );
        let costs: Vec<u64> = s.segments.iter().map(|s| s.cost).collect();
        // [local.get, drop, loop] [local.get, br_if] [end] [i32.const, drop, end]
        assert_eq!(costs, vec![3, 2, 1, 3]);
        let ops: Vec<u64> = s.segments.iter().map(|s| s.ops).collect();
        assert_eq!(ops, vec![3, 2, 1, 3]);
        assert_eq!(s.total_ops(), 9);
        assert!(s.has_loop);
        assert_eq!(s.at(s.segments[1].start), Some(&s.segments[1]));
        assert_eq!(s.total(), 9);
    }

    #[test]
    fn calls_end_segments_and_are_recorded() {
        let s =
            segments_of("(module (func $f) (func call $f call $f (call_indirect (i32.const 0))) (table 1 funcref))");
        assert_eq!(s.segments.len(), 1, "function 0 is empty: one segment of `end`");
        let m = wes_decode::decode_text(
            "(module (table 1 funcref) (func $f) (func call $f call $f (call_indirect (i32.const 0))))",
        )
        .unwrap();
        let b = &m.bodies[1];
        let s = function_segments(&m.bytes[b.range.clone()], b.range.start as u64, &Pricing::default()).unwrap();
        assert_eq!(s.direct_calls, vec![0, 0]);
        assert!(s.has_indirect_call);
        let costs: Vec<u64> = s.segments.iter().map(|s| s.cost).collect();
        // [call] [call] [i32.const, call_indirect] [end]
        assert_eq!(costs, vec![10, 10, 16, 1]);
        // Operators are counted one each, whatever they cost.
        let ops: Vec<u64> = s.segments.iter().map(|s| s.ops).collect();
        assert_eq!(ops, vec![1, 1, 2, 1]);
    }
}
