//! Measuring function bodies while they are validated: the [`FunctionShape`] of every body,
//! which admission (`wes_core::FunctionLimits`) checks and backends plan with.
//!
//! The validator decodes each operator straight into its visitor; measuring must not decode
//! it a second time into an `Operator`. So the decoder's loop looks only at the first byte of
//! each operator ([`SPECIAL`], a table lookup) and counts it; only the control operators and
//! `memory.grow` go to [`BodyMeter::special`] (after the validator accepted them, so their
//! bytes are known to be well formed), which reads the immediates it needs: branch depths,
//! `br_table` targets and the callee of a direct call. Label depths come from the validator's
//! own control stack, so blocks, loops, ifs and every other frame are counted alike.
//!
//! Which operators count as *control* must be exactly the set `wes_meter::ends_segment`
//! names (the operators after which a gas segment ends); `wes-meter`'s tests check the two
//! agree operator by operator.

use wasmparser::{BinaryReader, Result};
use wes_core::{FunctionShape, ModuleParts};

/// Whether an operator starting with this byte ends a gas segment (or, for `0xfb`, may: the
/// GC proposal's casting branches), is `memory.grow` or is a SIMD operator (`0xfd`): the
/// operators [`BodyMeter::special`] looks at. Every other operator is only counted.
pub(crate) const SPECIAL: [bool; 256] = {
    let mut t = [false; 256];
    // unreachable, block, loop, if, else, try, catch, throw, rethrow, throw_ref, end, br,
    // br_if, br_table, return, the six calls, delegate, catch_all, try_table, memory.grow,
    // br_on_null, br_on_non_null, and the 0xfb and 0xfd prefixes.
    let control: [u8; 29] = [
        0x00, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08, 0x09, 0x0a, 0x0b, 0x0c, 0x0d, 0x0e, 0x0f, 0x10, 0x11, 0x12,
        0x13, 0x14, 0x15, 0x18, 0x19, 0x1f, 0x40, 0xd5, 0xd6, 0xfb, 0xfd,
    ];
    let mut i = 0;
    while i < control.len() {
        t[control[i] as usize] = true;
        i += 1;
    }
    t
};

/// The measurements of one body, operator by operator.
pub(crate) struct BodyMeter {
    shape: FunctionShape,
    /// Branches so far to each open label, the function's own first (one per frame of the
    /// validator's control stack).
    branches: Vec<u64>,
    /// The distinct targets of the current `br_table` (kept to reuse the allocation).
    targets: Vec<u32>,
}

impl BodyMeter {
    pub(crate) fn new(locals: u64) -> Self {
        BodyMeter {
            shape: FunctionShape {
                locals,
                may_move_memory: false,
                may_return_tail: false,
                uses_simd: false,
                ..FunctionShape::default()
            },
            branches: vec![0],
            targets: Vec::new(),
        }
    }

    /// One operator the validator accepted whose first byte `op[0]` is [`SPECIAL`]. `op`
    /// holds its bytes (and the rest of the body); `height` is the validator's control-stack
    /// height before it, `after` after it. `calls` gathers the direct calls of defined
    /// function `caller` to defined functions; `imported` is the number of imported functions.
    #[inline(never)]
    pub(crate) fn special(
        &mut self,
        op: &[u8],
        height: u32,
        after: u32,
        imported: u32,
        caller: u32,
        calls: &mut DirectCalls,
    ) -> Result<()> {
        let s = &mut self.shape;
        let mut op = BinaryReader::new(op, 0);
        let opcode = op.read_u8()?;
        match opcode {
            0x40 => {
                s.may_move_memory = true;
                return Ok(());
            }
            0xfd => {
                s.uses_simd = true;
                return Ok(());
            }
            // Of the 0xfb operators only br_on_cast and br_on_cast_fail end a segment.
            0xfb if !matches!(op.read_var_u32()?, 0x18 | 0x19) => return Ok(()),
            _ => {}
        }
        s.control_operators += 1;
        match opcode {
            // br, br_if
            0x0c | 0x0d => {
                let depth = op.read_var_u32()?;
                branch_to(&mut self.branches, s, height, depth);
            }
            // br_table
            0x0e => {
                let n = op.read_var_u32()?;
                s.max_br_table_targets = s.max_br_table_targets.max(u64::from(n));
                self.targets.clear();
                // The default target too; each target takes a byte at least, so `n` is
                // bounded by the body's size.
                for _ in 0..=n {
                    self.targets.push(op.read_var_u32()?);
                }
                self.targets.sort_unstable();
                self.targets.dedup();
                for &depth in &self.targets {
                    branch_to(&mut self.branches, s, height, depth);
                }
            }
            // call, return_call
            0x10 | 0x12 => {
                s.calls += 1;
                let tail = opcode == 0x12;
                match op.read_var_u32()?.checked_sub(imported) {
                    Some(callee) if tail => calls.tail.push((callee, caller)),
                    Some(callee) => calls.plain.push((callee, caller)),
                    None => {
                        s.may_move_memory = true;
                        s.may_return_tail |= tail;
                    }
                }
            }
            // call_indirect, return_call_indirect, call_ref, return_call_ref
            0x11 | 0x13..=0x15 => {
                s.calls += 1;
                s.may_move_memory = true;
                s.may_return_tail |= matches!(opcode, 0x13 | 0x15);
            }
            _ => {}
        }
        if after != height {
            // A frame was opened or closed (one at a time).
            self.branches.resize(after as usize, 0);
            s.max_nesting_depth = s.max_nesting_depth.max(u64::from(after.saturating_sub(1)));
        }
        Ok(())
    }

    /// The body's shape, given its count of `operators`; `may_move_memory` and
    /// `may_return_tail` count only what the body does itself until [`spread`] adds what its
    /// callees do.
    pub(crate) fn finish(mut self, operators: u64) -> FunctionShape {
        self.shape.operators = operators;
        self.shape
    }
}

/// Counts a branch `depth` labels out from a point where the control stack is `height`
/// frames high.
fn branch_to(branches: &mut [u64], s: &mut FunctionShape, height: u32, depth: u32) {
    let Some(label) = height.checked_sub(1).and_then(|top| top.checked_sub(depth)) else { return };
    if let Some(n) = branches.get_mut(label as usize) {
        *n += 1;
        s.max_branches_per_label = s.max_branches_per_label.max(*n);
    }
}

/// The direct calls between defined functions of a module, as `(callee, caller)` defined
/// indices: ordinary calls and tail calls (`return_call`).
#[derive(Default)]
pub(crate) struct DirectCalls {
    pub(crate) plain: Vec<(u32, u32)>,
    pub(crate) tail: Vec<(u32, u32)>,
}

/// Spreads what callees do to their callers, once every body is measured: whoever calls a
/// function that may move memory may too (over calls of both kinds), and whoever tail-calls a
/// function that may return `CALL_TAIL` may too (an ordinary call makes its callee's pending
/// tail calls itself, so it passes nothing on).
pub(crate) fn spread(m: &mut ModuleParts, calls: DirectCalls) {
    let DirectCalls { plain, tail } = calls;
    let mut all = plain;
    all.extend_from_slice(&tail);
    spread_flag(m, all, |s| &mut s.may_move_memory);
    spread_flag(m, tail, |s| &mut s.may_return_tail);
}

/// Sets `flag` in every transitive caller, over `calls` (`(callee, caller)` defined indices),
/// of a function whose `flag` is set.
fn spread_flag(m: &mut ModuleParts, mut calls: Vec<(u32, u32)>, flag: fn(&mut FunctionShape) -> &mut bool) {
    calls.sort_unstable();
    let callers = |callee: u32, calls: &[(u32, u32)]| {
        let start = calls.partition_point(|&(c, _)| c < callee);
        let end = calls.partition_point(|&(c, _)| c <= callee);
        calls.get(start..end).unwrap_or(&[]).iter().map(|&(_, caller)| caller).collect::<Vec<_>>()
    };
    let mut work: Vec<u32> = (0..m.bodies.len() as u32).filter(|&i| *flag(&mut m.bodies[i as usize].shape)).collect();
    while let Some(f) = work.pop() {
        for caller in callers(f, &calls) {
            if let Some(body) = m.bodies.get_mut(caller as usize)
                && !*flag(&mut body.shape)
            {
                *flag(&mut body.shape) = true;
                work.push(caller);
            }
        }
    }
}
