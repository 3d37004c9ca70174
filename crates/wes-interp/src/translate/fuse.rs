//! The translator's fusions: an op absorbs the ops just emitted that push its operands (a
//! `local.get` becomes a local's slot, a `const` an immediate), the `local.set` of its result,
//! and a conditional branch absorbs the comparison it tests. Each is a peephole over the ops
//! emitted since the last branch target ([`Translator::pc`]).

use wes_core::{CompileError, ValType};

use super::Translator;
use crate::code::{LoadKind, Op, Target};
use crate::num::NumOp;

/// The most ops a right operand computed from locals may take for the `local.get` of the left
/// operand before it to fold into the op using both ([`Translator::take_left_local`]).
const MAX_RIGHT_OPS: usize = 32;

impl Translator<'_> {
    /// Emits binary operator `n`, whose operands were just popped (they sat at cells `height`
    /// and `height + 1`), as one op on slots writing its result to cell `height`. When `n`
    /// cannot trap (so no trap reports a fused op's offset) and no branch target lies between
    /// them (see [`Translator::pc`]), the op absorbs the ops just emitted that push its
    /// operands: a `local.get` becomes a local's slot, a `const` an immediate. The fused op
    /// replaces them, at the offset of the first. A `local.get a` followed by one fused op
    /// that pushes the right operand from locals and constants is absorbed too: that op now
    /// writes the lower cell and reads no stack cell, and nothing between reads or writes `a`.
    pub(super) fn emit_binary(&mut self, n: NumOp) {
        let h = self.height;
        let (top, below) = (self.slot(h), self.slot(h + 1));
        let len = self.ops.len();
        let last2 = if len >= 2 && len - 2 >= self.fence { self.ops.get(len - 2..) } else { None };
        let last1 = if len > self.fence { self.ops.last().copied() } else { None };
        let fused = match (last2, last1) {
            _ if n.can_trap() => None,
            (Some(&[Op::LocalGet(a), Op::LocalGet(b)]), _) => Some((2, Op::bin_ss(n, 1, top, a, b))),
            (Some(&[Op::LocalGet(a), Op::Const(c)]), _) => Some((2, Op::bin_si(n, 1, top, a, c))),
            (Some(&[Op::LocalGet(a), mut right]), _) if right.dest() == Some((below, 1)) => {
                if let Some((d, _)) = right.dest_mut() {
                    *d = top;
                }
                // The right operand's op keeps its own offset (the fused op, below, that of
                // the `local.get`'s successor: it cannot trap).
                let at = len - 2;
                self.ops.remove(at);
                self.offsets.remove(at);
                self.ops[at] = right;
                if !self.fuse_mul_add(n, 0, top, a, top) {
                    self.emit(Op::bin_ss(n, 0, top, a, top));
                }
                return;
            }
            (_, Some(Op::LocalGet(b))) => Some((1, Op::bin_ss(n, 0, top, top, b))),
            (_, Some(Op::Const(c))) => Some((1, Op::bin_si(n, 0, top, top, c))),
            _ => None,
        };
        match fused {
            Some((k, op)) => {
                self.ops.truncate(len - k);
                self.ops.push(op);
                self.offsets.truncate(len - k + 1);
            }
            None => {
                let (sp, a) = match self.take_left_local(top) {
                    Some(a) => (0, a),
                    None => (-1, top),
                };
                if !self.fuse_mul_add(n, sp, top, a, below) {
                    self.emit(Op::bin_ss(n, sp, top, a, below));
                }
            }
        }
    }

    /// For an `f64.add` (`f32.add`) of slot `a` and the stack cell `b`, writing `d` and moving
    /// the stack by `sp`: when the op just emitted is the `f64.mul` (`f32.mul`) on slots that
    /// wrote `b` (no branch target between), turns it into [`Op::F64MulAddSS`]
    /// ([`Op::F32MulAddSS`]) and returns true. No op reads the product after the `add`: `b`
    /// is the cell it pops, or the one it writes (`d`, when the `mul` was moved down to the
    /// left operand's cell). Neither operator can trap: the fused op keeps the `mul`'s offset.
    fn fuse_mul_add(&mut self, n: NumOp, sp: i8, d: u32, a: u32, b: u32) -> bool {
        if self.ops.len() <= self.fence {
            return false;
        }
        let Some(last) = self.ops.last_mut() else { return false };
        *last = match (n, *last) {
            (NumOp::F64Add, Op::F64MulSS { sp: m, d: p, a: x, b: y }) if p == b => match m.checked_add(sp) {
                Some(sp) => Op::F64MulAddSS { sp, d, a: x, b: y, c: a },
                None => return false,
            },
            (NumOp::F32Add, Op::F32MulSS { sp: m, d: p, a: x, b: y }) if p == b => match m.checked_add(sp) {
                Some(sp) => Op::F32MulAddSS { sp, d, a: x, b: y, c: a },
                None => return false,
            },
            _ => return false,
        };
        true
    }

    /// Emits unary operator `n`, whose operand was just popped (it sat at cell `height`), as
    /// one op on slots writing its result to that cell; a `local.get` just emitted for the
    /// operand becomes the local's slot when `n` cannot trap and no branch targets the op.
    ///
    /// `i64.extend_i32_u` emits nothing: an `i32` cell holds its value zero-extended already
    /// (every op writing one, and every call's and entry's conversion of a native `i32`), so
    /// the operand's cell is the result's. `i32.wrap_i64` and `i64.extend_i32_s` have ops on
    /// slots of their own.
    pub(super) fn emit_unary(&mut self, n: NumOp) {
        if n == NumOp::I64ExtendI32U {
            return;
        }
        let top = self.slot(self.height);
        let len = self.ops.len();
        let op = |sp, d, a| match n {
            NumOp::I32WrapI64 => Op::I32WrapS { sp, d, a },
            NumOp::I64ExtendI32S => Op::I64ExtendSS { sp, d, a },
            n => Op::UnS { n, sp, d, a },
        };
        match self.ops.last() {
            Some(&Op::LocalGet(a)) if !n.can_trap() && len > self.fence => {
                self.ops.truncate(len - 1);
                self.ops.push(op(1, top, a));
            }
            _ => {
                self.emit(op(0, top, top));
            }
        }
    }

    /// For a conditional branch whose condition was just popped: when the op just emitted is
    /// the `eqz` computing it (and no branch targets the branch), removes it and returns what
    /// the branch tests instead: the `eqz`'s operand slot, the stack move of both (the `eqz`'s
    /// and the condition's pop), and whether the operand is an `i64`. Neither can trap, so
    /// the fused branch's offset (the branch's own) is never reported.
    pub(super) fn take_eqz(&mut self) -> Option<(u32, i8, bool)> {
        let top = self.slot(self.height);
        let len = self.ops.len();
        let Some(&Op::UnS { n, sp, d, a }) = self.ops.last() else { return None };
        let wide = match n {
            NumOp::I32Eqz => false,
            NumOp::I64Eqz => true,
            _ => return None,
        };
        if d != top || len <= self.fence {
            return None;
        }
        self.ops.truncate(len - 1);
        self.offsets.truncate(len - 1);
        Some((a, sp - 1, wide))
    }

    /// Fuses the `LocalSet` just emitted at `at` into the op before it, which then writes the
    /// local's slot instead of the stack's top, when no branch targets the `LocalSet` (see
    /// [`Translator::pc`]); a `local.get` or constant before it becomes one copy to the local. The fused op keeps the binary op's offset, which
    /// is where it traps if it does (the store cannot).
    pub(super) fn fuse_local_set(&mut self, at: usize) {
        if at == 0 || at <= self.fence {
            return;
        }
        let top = self.slot(self.height);
        let (Some(Op::LocalSet(local)), Some(prev)) = (self.ops.get(at).copied(), self.ops.get_mut(at - 1)) else {
            return;
        };
        // The `local.get` or constant pushing the value: one op writing the local.
        let direct = match *prev {
            Op::LocalGet(a) => Some(Op::Copy { d: local, a }),
            Op::Const(v) => Some(Op::ConstTo { d: local, v }),
            _ => None,
        };
        if let Some(op) = direct {
            *prev = op;
            self.ops.truncate(at);
            self.offsets.truncate(at);
            return;
        }
        let Some((d, sp)) = prev.dest_mut() else { return };
        if *d != top {
            return;
        }
        *d = local;
        *sp -= 1;
        self.ops.truncate(at);
        self.offsets.truncate(at);
    }

    /// For an op whose left operand sat at slot `top` and whose right operand was just
    /// computed into `top + 1` by ops on slots: when the op pushing the left operand is a
    /// `local.get` (no branch target after it) followed by those ops alone, none of which
    /// writes the local or reads or writes `top`, removes the `local.get` and returns its
    /// local's slot. The ops after it keep their slots (they never read the stack pointer),
    /// so the op using both then moves the stack by one cell less.
    fn take_left_local(&mut self, top: u32) -> Option<u32> {
        let below = top.checked_add(1)?;
        let len = self.ops.len();
        let last = self.ops.last()?;
        if last.dest().map(|(d, _)| d) != Some(below) {
            return None;
        }
        let lowest = self.fence.max(len.saturating_sub(MAX_RIGHT_OPS + 1));
        let mut net: i32 = 0;
        for p in (lowest..len).rev() {
            let op = self.ops.get(p)?;
            if let Op::LocalGet(x) = *op {
                if net != 1 {
                    return None;
                }
                let clean = self
                    .ops
                    .get(p + 1..)?
                    .iter()
                    .all(|o| o.dest().is_some_and(|(d, _)| d != x && d != top) && !o.reads_slot(top));
                if !clean {
                    return None;
                }
                self.ops.remove(p);
                self.offsets.remove(p);
                return Some(x);
            }
            let (_, sp) = op.dest()?;
            net += i32::from(sp);
        }
        None
    }

    /// For an `eqz` of slot `a` just fused into a branch ([`Translator::take_eqz`]): when the
    /// op before it is the `and` of a slot with an immediate computing `a` on the stack's top
    /// (no branch target between), removes it and returns its operand slot, immediate (one
    /// that fits 32 bits sign-extended) and stack move. It cannot trap.
    pub(super) fn take_and(&mut self, a: u32, wide: bool) -> Option<(u32, i32, i8)> {
        let len = self.ops.len();
        if len <= self.fence || a != self.slot(self.height) {
            return None;
        }
        let (n, x, b, sp, d) = self.ops.last()?.fast_parts()?;
        let want = if wide { NumOp::I64And } else { NumOp::I32And };
        let crate::code::Operand::Imm(imm) = b else { return None };
        if n != want || d != a {
            return None;
        }
        let imm = if wide { i32::try_from(imm as i64).ok()? } else { imm as u32 as i32 };
        self.ops.truncate(len - 1);
        self.offsets.truncate(len - 1);
        Some((x, imm, sp))
    }

    /// For a conditional branch whose condition was just popped: when the op just emitted is
    /// an integer comparison computing it (and no branch targets the branch), removes it and
    /// returns the fused compare-and-branch to `t`, testing the comparison or, when `negate`
    /// (an `if`, which jumps when its condition is false), its negation. Neither can trap, so
    /// the fused op's offset (the branch's own) is never reported.
    pub(super) fn take_compare(&mut self, negate: bool, t: Target) -> Option<Op> {
        let top = self.slot(self.height);
        let len = self.ops.len();
        if len <= self.fence {
            return None;
        }
        let (n, a, b, sp, d) = self.ops.last()?.fast_parts()?;
        if d != top {
            return None;
        }
        let n = if negate { n.negated()? } else { n.negated().map(|_| n)? };
        let op = Op::branch_cmp(n, sp - 1, a, b, t)?;
        self.ops.truncate(len - 1);
        self.offsets.truncate(len - 1);
        Some(op)
    }

    /// A scalar load: the address's `local.get` and the result's `local.set` fold into it.
    /// The op keeps the load's own offset, where it traps.
    pub(super) fn load(&mut self, m: &wasmparser::MemArg, kind: LoadKind, ty: ValType) -> Result<(), CompileError> {
        let (mem, offset) = self.memarg(m)?;
        self.pop(1)?;
        let top = self.slot(self.height);
        let len = self.ops.len();
        let (a, sp) = match self.ops.last() {
            Some(&Op::LocalGet(x)) if len > self.fence => {
                self.ops.truncate(len - 1);
                self.offsets.truncate(len - 1);
                (x, 1)
            }
            _ => (top, 0),
        };
        // The ops of memory 0 of their own take the access's end (offset plus size).
        let end = offset.checked_add(kind.size()).map(u32::try_from);
        let op = match (kind, end) {
            // `i64.load32_u` makes the cell `i32.load` makes.
            (LoadKind::I32 | LoadKind::I64U32, Some(Ok(end))) if mem == 0 => Op::Load32S { sp, d: top, a, end },
            (LoadKind::I64, Some(Ok(end))) if mem == 0 => Op::Load64S { sp, d: top, a, end },
            (LoadKind::I32U8 | LoadKind::I64U8, Some(Ok(end))) if mem == 0 => Op::Load8U { sp, d: top, a, end },
            (LoadKind::I32U16 | LoadKind::I64U16, Some(Ok(end))) if mem == 0 => Op::Load16U { sp, d: top, a, end },
            (LoadKind::I32S8, Some(Ok(end))) if mem == 0 => Op::Load8S { sp, d: top, a, end },
            (LoadKind::I32S16, Some(Ok(end))) if mem == 0 => Op::Load16S { sp, d: top, a, end },
            _ => Op::LoadS { kind, sp, d: top, a, mem, offset },
        };
        self.mem0 |= mem == 0;
        self.emit(op);
        self.push(&[ty]);
        Ok(())
    }

    /// A scalar store of `size` bytes: the `local.get`s of the value and the address fold
    /// into it (the address's also when ops on slots compute the value). The op keeps the
    /// store's own offset, where it traps.
    pub(super) fn store(&mut self, m: &wasmparser::MemArg, size: u8) -> Result<(), CompileError> {
        let (mem, offset) = self.memarg(m)?;
        self.pop(2)?;
        let top = self.slot(self.height);
        let below = top.saturating_add(1);
        let (mut a, mut v, mut sp) = (top, below, -2i8);
        let len = self.ops.len();
        if let Some(&Op::LocalGet(x)) = self.ops.last()
            && len > self.fence
        {
            self.ops.truncate(len - 1);
            self.offsets.truncate(len - 1);
            v = x;
            sp += 1;
            let len = len - 1;
            if let Some(&Op::LocalGet(y)) = self.ops.last()
                && len > self.fence
            {
                self.ops.truncate(len - 1);
                self.offsets.truncate(len - 1);
                a = y;
                sp += 1;
            }
        } else if let Some(y) = self.take_left_local(top) {
            a = y;
            sp += 1;
        }
        // As for loads: the access's end.
        let end = offset.checked_add(u64::from(size)).map(u32::try_from);
        let op = match (size, end) {
            (4, Some(Ok(end))) if mem == 0 => Op::Store32S { sp, a, v, end },
            (8, Some(Ok(end))) if mem == 0 => Op::Store64S { sp, a, v, end },
            (1, Some(Ok(end))) if mem == 0 => Op::Store8 { sp, a, v, end },
            (2, Some(Ok(end))) if mem == 0 => Op::Store16 { sp, a, v, end },
            _ => Op::StoreS { size, sp, a, v, mem, offset },
        };
        self.mem0 |= mem == 0;
        self.emit(op);
        Ok(())
    }
}
