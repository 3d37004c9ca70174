//! The ops of the internal form: [`Op`], generated with its per-operator variants from the
//! operator lists ([`for_each_fast_op`], [`for_each_branch_cmp`]), and what the passes ask of
//! an op (its targets, its stack move, whether it is pure).

use wes_core::ValType;

use super::{LoadKind, Operand, Target, VLoad, Width};

/// Calls `$m!` with the integer operators that cannot trap, each with the names of its two
/// ops: slots `d = a op b` and `d = a op imm`, both moving the stack by `sp` cells, as
/// [`Op::BinSS`] and [`Op::BinSI`] do. Each has its own discriminant, so the loop dispatches
/// once per op instead of matching the operator again inside a generic arm (the operators
/// the workloads spend their time in; the rest stay generic).
macro_rules! for_each_fast_op {
    ($m:ident $(, $($extra:tt)*)?) => {
        $m! {
            [$($($extra)*)?]
            I32Add => I32AddSS, I32AddSI; I32Sub => I32SubSS, I32SubSI; I32Mul => I32MulSS, I32MulSI;
            I32And => I32AndSS, I32AndSI; I32Or => I32OrSS, I32OrSI; I32Xor => I32XorSS, I32XorSI;
            I32Shl => I32ShlSS, I32ShlSI; I32ShrS => I32ShrSSS, I32ShrSSI; I32ShrU => I32ShrUSS, I32ShrUSI;
            I32Rotl => I32RotlSS, I32RotlSI; I32Rotr => I32RotrSS, I32RotrSI;
            I32Eq => I32EqSS, I32EqSI; I32Ne => I32NeSS, I32NeSI; I32LtS => I32LtSSS, I32LtSSI;
            I32LtU => I32LtUSS, I32LtUSI; I32GtS => I32GtSSS, I32GtSSI; I32GtU => I32GtUSS, I32GtUSI;
            I32LeS => I32LeSSS, I32LeSSI; I32LeU => I32LeUSS, I32LeUSI; I32GeS => I32GeSSS, I32GeSSI;
            I32GeU => I32GeUSS, I32GeUSI;
            I64Add => I64AddSS, I64AddSI; I64Sub => I64SubSS, I64SubSI; I64Mul => I64MulSS, I64MulSI;
            I64And => I64AndSS, I64AndSI; I64Or => I64OrSS, I64OrSI; I64Xor => I64XorSS, I64XorSI;
            I64Shl => I64ShlSS, I64ShlSI; I64ShrS => I64ShrSSS, I64ShrSSI; I64ShrU => I64ShrUSS, I64ShrUSI;
            I64Rotl => I64RotlSS, I64RotlSI; I64Rotr => I64RotrSS, I64RotrSI;
            I64Eq => I64EqSS, I64EqSI; I64Ne => I64NeSS, I64NeSI; I64LtS => I64LtSSS, I64LtSSI;
            I64LtU => I64LtUSS, I64LtUSI; I64GtS => I64GtSSS, I64GtSSI; I64GtU => I64GtUSS, I64GtUSI;
            I64LeS => I64LeSSS, I64LeSSI; I64LeU => I64LeUSS, I64LeUSI; I64GeS => I64GeSSS, I64GeSSI;
            I64GeU => I64GeUSS, I64GeUSI;
            F32Add => F32AddSS, F32AddSI; F32Sub => F32SubSS, F32SubSI; F32Mul => F32MulSS, F32MulSI;
            F32Div => F32DivSS, F32DivSI; F32Min => F32MinSS, F32MinSI; F32Max => F32MaxSS, F32MaxSI;
            F32Copysign => F32CopysignSS, F32CopysignSI;
            F64Add => F64AddSS, F64AddSI; F64Sub => F64SubSS, F64SubSI; F64Mul => F64MulSS, F64MulSI;
            F64Div => F64DivSS, F64DivSI; F64Min => F64MinSS, F64MinSI; F64Max => F64MaxSS, F64MaxSI;
            F64Copysign => F64CopysignSS, F64CopysignSI;
        }
    };
}
pub(crate) use for_each_fast_op;

/// Calls `$m!` with the integer comparisons that fuse with the conditional branch testing
/// them, each with the names of its two ops: branch when `a op b` (slots) or `a op imm` holds,
/// after moving the stack by `sp` cells, as [`Op::BrIfZ`] does for `eqz`. A `br_if` fuses the
/// comparison itself, an `if` its negation ([`crate::num::NumOp::negated`]).
macro_rules! for_each_branch_cmp {
    ($m:ident $(, $($extra:tt)*)?) => {
        $m! {
            [$($($extra)*)?]
            I32Eq => BrI32EqSS, BrI32EqSI; I32Ne => BrI32NeSS, BrI32NeSI;
            I32LtS => BrI32LtSSS, BrI32LtSSI; I32LtU => BrI32LtUSS, BrI32LtUSI;
            I32GtS => BrI32GtSSS, BrI32GtSSI; I32GtU => BrI32GtUSS, BrI32GtUSI;
            I32LeS => BrI32LeSSS, BrI32LeSSI; I32LeU => BrI32LeUSS, BrI32LeUSI;
            I32GeS => BrI32GeSSS, BrI32GeSSI; I32GeU => BrI32GeUSS, BrI32GeUSI;
            I64Eq => BrI64EqSS, BrI64EqSI; I64Ne => BrI64NeSS, BrI64NeSI;
            I64LtS => BrI64LtSSS, BrI64LtSSI; I64LtU => BrI64LtUSS, BrI64LtUSI;
            I64GtS => BrI64GtSSS, BrI64GtSSI; I64GtU => BrI64GtUSS, BrI64GtUSI;
            I64LeS => BrI64LeSSS, BrI64LeSSI; I64LeU => BrI64LeUSS, BrI64LeUSI;
            I64GeS => BrI64GeSSS, BrI64GeSSI; I64GeU => BrI64GeUSS, BrI64GeUSI;
        }
    };
}
pub(crate) use for_each_branch_cmp;

/// Passes the list of [`for_each_branch_cmp`] on to [`define_op`] with that of
/// [`for_each_fast_op`].
macro_rules! define_op_with_branches {
    ([] $( $bk:ident => $bss:ident, $bsi:ident; )*) => {
        for_each_fast_op!(define_op, $( $bk => $bss, $bsi; )*);
    };
}

macro_rules! define_op {
    ([ $( $bk:ident => $bss:ident, $bsi:ident; )* ] $( $kind:ident => $ss:ident, $si:ident; )*) => {
/// One instruction of the internal form.
///
/// `repr(u8)`: the first byte of an op is its tag, by which its slot gets the op's threaded
/// handler ([`super::Slot`], `crate::exec::threaded`); fields are ordered so that no op passes
/// 24 bytes.
#[derive(Clone, Copy, Debug, PartialEq)]
#[repr(u8)]
pub(crate) enum Op {
    /// Pays `cost` for the segment that starts here (see `wes_meter::function_segments`).
    /// With a `chain` (its index in [`Code::chains`] plus one; 0: none), the check of a merged
    /// plan (`wes_meter::ChargePlan`): `cost` is the sum of the chain's segments, paid at once
    /// when the counter holds enough; when it does not, the loop pays them one by one, exactly
    /// as a charge at each segment would (the out-of-gas handler asked for each, a trap at the
    /// segment that cannot be paid). A branch, a call or a return landing on one pays it and
    /// skips it (`land!` in `crate::exec::threaded`): one test of the tag tells.
    Charge {
        cost: u64,
        chain: u32,
    },
    /// [`Op::Charge`] of a segment whose `ops` operators are counted once it is paid
    /// (`count_operators`); `ops` is the chain's sum with a `chain`. An op of its own so that
    /// a landing's test of the tag leaves it alone: it runs, and counts.
    ChargeCount {
        cost: u64,
        ops: u32,
        chain: u32,
    },
    Unreachable,
    Br(Target),
    /// A `br` that drops no cells to a [`Op::Charge`] of `cost` (that counts no operators),
    /// fused: pays it and lands after it when the counter holds enough; otherwise lands on it
    /// (which asks the out-of-gas handler, or traps at its own offset).
    BrCharge {
        t: Target,
        cost: u64,
    },
    /// A `br` that moves no cells, to an op that is not a charge the branch could pay, as
    /// [`Code::seal`] leaves it: goes on at the op `by` bytes from this one. Found from the
    /// op's own address, a taken branch reads one field and tests nothing (a `Br` reads the
    /// code's base, its drop and keep, and looks at the op it lands on).
    Jump {
        by: i32,
    },
    /// A [`Op::BrCharge`] as [`Code::seal`] leaves it: the charge is `by` bytes from this op.
    JumpCharge {
        by: i32,
        cost: u64,
    },
    /// Gives `cost` back to the counter: a loop's exit after its back edge paid the body's
    /// segment ahead ([`Code::invert_loops`]); the counter held it a few pure ops before.
    Refund {
        cost: u64,
    },
    /// `br_if`: branches when the popped condition is non-zero.
    BrIf(Target),
    /// Jumps to `pc` when the popped condition is zero (`if`).
    BrIfEqz(u32),
    /// `i32.eqz` or `i64.eqz` (`wide`) of slot `a` and the `br_if` on it, fused: moves the
    /// stack by `sp` cells (the condition's pop and the operand's, if it was on the stack),
    /// then branches when `a` is zero. When it falls through to a [`Op::Charge`] of `cost`
    /// (non-zero, counting no operators; set by [`Code::seal`]), it pays that charge too and
    /// skips it if the counter holds enough (otherwise the charge runs).
    BrIfZ {
        sp: i8,
        wide: bool,
        a: u32,
        cost: u32,
        t: Target,
    },
    /// An `eqz` of slot `a` and the `if` on it, fused: moves the stack by `sp` cells, then
    /// jumps to `to` (the else branch) when `a` is non-zero.
    IfNez {
        sp: i8,
        wide: bool,
        a: u32,
        to: u32,
    },
    /// `i32.and`/`i64.and` (`wide`) of slot `a` with `imm` (sign-extended) feeding a branch,
    /// fused: moves the stack by `sp` cells, then branches when the result is zero (`zero`)
    /// or non-zero (`br_if (eqz (and a imm))` and `if (eqz (and a imm))`).
    BrAnd {
        sp: i8,
        wide: bool,
        zero: bool,
        a: u32,
        imm: i32,
        t: Target,
    },
    /// A segment's [`Op::Charge`] of `cost` (counting no operators) right before a `return`,
    /// fused: pays it, then returns. The `return` stays after it for branches landing there.
    ChargeReturn {
        cost: u64,
        sp: i8,
    },
    /// Moves the stack by `by` cells: the moves of the ops before it that name their cells as
    /// slots, which [`Code::seal`] takes out of them and carries here, to the first op after
    /// them that reads the stack (see `code/sink.rs`).
    StackMove(i32),
    /// `br_table` over `len` targets starting at `start` in [`Code::tables`], the default last.
    BrTable {
        start: u32,
        len: u32,
    },
    /// Moves the stack by `sp` cells (a move carried here, see `code/sink.rs`), then returns
    /// the top cells.
    Return {
        sp: i8,
    },
    /// A call of one of the module's own functions (of the same instance), `f`, after moving
    /// the stack by `sp` cells (as [`Op::Return`]).
    Call {
        f: u32,
        sp: i8,
    },
    /// A call of an imported function `f` (native, or interpreted in another instance), which
    /// goes through the instance's function record, after moving the stack by `sp` cells (as
    /// [`Op::Call`]). `sig` says whether the handler may make it itself (see [`ImportSig`]).
    CallImport {
        f: u32,
        sp: i8,
        sig: ImportSig,
    },
    CallIndirect {
        type_index: u32,
        table: u32,
    },
    ReturnCall(u32),
    ReturnCallIndirect {
        type_index: u32,
        table: u32,
    },
    Drop,
    Drop2,
    Select,
    Select2,
    LocalGet(u32),
    /// A [`Op::LocalGet`] of local `i` after moving the stack by `sp` cells: the move of the
    /// ops before it, carried here by [`Code::seal`] (`code/sink.rs`).
    LocalGetMoved {
        i: u32,
        sp: i8,
    },
    LocalSet(u32),
    LocalTee(u32),
    /// `local.get a` then `local.set d`: copies slot `a` to slot `d`.
    Copy {
        d: u32,
        a: u32,
    },
    /// A constant then `local.set d`: writes `v` to slot `d`.
    ConstTo {
        d: u32,
        v: u64,
    },
    LocalGet2(u32),
    LocalSet2(u32),
    LocalTee2(u32),
    GlobalGet(u32, Width),
    GlobalSet(u32, Width),
    /// A load of `kind` from memory `mem` at slot `a` (the address) plus `offset` into slot
    /// `d`, then the stack moves by `sp` cells. The translator folds a `local.get` of the
    /// address and a `local.set` of the result into the op, as for [`Op::BinSS`]; the stack
    /// form reads and writes the top cell (`sp` = 0).
    LoadS {
        kind: LoadKind,
        sp: i8,
        d: u32,
        a: u32,
        mem: u32,
        offset: u64,
    },
    /// [`Op::LoadS`] of 4 bytes (`i32.load`, `f32.load`) from memory 0. Its `end`, as every
    /// memory-0 op's of its own (`Load*`, `Store*` without a memory), is the access's end past
    /// the address: the static offset plus the size. The bounds check compares the address
    /// plus `end` with the length, and the access addresses back from it, one sum where the
    /// offset took two (an offset within 4 bytes of 2^32 keeps the general op).
    Load32S {
        sp: i8,
        d: u32,
        a: u32,
        end: u32,
    },
    /// [`Op::LoadS`] of 8 bytes (`i64.load`, `f64.load`) from memory 0.
    Load64S {
        sp: i8,
        d: u32,
        a: u32,
        end: u32,
    },
    /// [`Op::LoadS`] of 1 byte, zero-extended (`i32.load8_u`, `i64.load8_u`: the same cell),
    /// from memory 0. The narrow loads and stores are C's bytes and shorts.
    Load8U {
        sp: i8,
        d: u32,
        a: u32,
        end: u32,
    },
    /// [`Op::LoadS`] of 1 byte, sign-extended to 32 bits (`i32.load8_s`), from memory 0.
    Load8S {
        sp: i8,
        d: u32,
        a: u32,
        end: u32,
    },
    /// [`Op::LoadS`] of 2 bytes, zero-extended (`i32.load16_u`, `i64.load16_u`), from memory 0.
    Load16U {
        sp: i8,
        d: u32,
        a: u32,
        end: u32,
    },
    /// [`Op::LoadS`] of 2 bytes, sign-extended to 32 bits (`i32.load16_s`), from memory 0.
    Load16S {
        sp: i8,
        d: u32,
        a: u32,
        end: u32,
    },
    /// A store of the low `size` bytes of slot `v` to memory `mem` at slot `a` plus `offset`,
    /// then the stack moves by `sp` cells (the stack form reads the top two cells, `sp` = -2).
    StoreS {
        size: u8,
        sp: i8,
        a: u32,
        v: u32,
        mem: u32,
        offset: u64,
    },
    /// [`Op::StoreS`] of 4 bytes to memory 0.
    Store32S {
        sp: i8,
        a: u32,
        v: u32,
        end: u32,
    },
    /// [`Op::StoreS`] of 8 bytes to memory 0.
    Store64S {
        sp: i8,
        a: u32,
        v: u32,
        end: u32,
    },
    /// [`Op::StoreS`] of 1 byte to memory 0.
    Store8 {
        sp: i8,
        a: u32,
        v: u32,
        end: u32,
    },
    /// [`Op::StoreS`] of 2 bytes to memory 0.
    Store16 {
        sp: i8,
        a: u32,
        v: u32,
        end: u32,
    },
    MemorySize(u32),
    MemoryGrow(u32),
    MemoryFill(u32),
    MemoryCopy {
        dst: u32,
        src: u32,
    },
    MemoryInit {
        mem: u32,
        data: u32,
    },
    DataDrop(u32),
    Const(u64),
    /// A [`Op::Const`] after moving the stack by `sp` cells (as [`Op::LocalGetMoved`]).
    ConstMoved {
        v: u64,
        sp: i8,
    },
    /// `v128.const` of [`Code::v128s`] at this index.
    ConstV(u32),
    /// A numeric operator of one operand (its arity decided at translation) on frame slots:
    /// `d = op a`, then the stack moves by `sp` cells (a `local.get` of the operand and a
    /// `local.set` of the result fuse in as for [`Op::BinSS`]).
    UnS {
        n: crate::num::NumOp,
        sp: i8,
        d: u32,
        a: u32,
    },
    /// [`Op::UnS`] of `i32.wrap_i64`: the low half of the cell (compiled code wraps the
    /// 64-bit arithmetic of 32-bit values back on every use). An op on slots: its stack move
    /// goes to the next op that reads the height (`code/sink.rs`), as for the fast binary ops.
    I32WrapS {
        sp: i8,
        d: u32,
        a: u32,
    },
    /// [`Op::UnS`] of `i64.extend_i32_s`. (`i64.extend_i32_u` has no op: an `i32` cell is
    /// zero-extended already, so the translator emits nothing for it.)
    I64ExtendSS {
        sp: i8,
        d: u32,
        a: u32,
    },
    /// A numeric operator of two operands on frame slots: `d = a op b`, then the operand
    /// stack moves by `sp` cells. Slots count cells from the frame's first local, so an
    /// operand or the result is a local or an operand-stack cell alike: the translator fuses
    /// the `local.get`s and `const`s pushing the operands and the `local.set` of the result
    /// into the op, and the stack-only form reads the top two cells and writes the lower
    /// (`sp` = -1). The operators of [`for_each_fast_op`] have ops of their own instead.
    BinSS {
        n: crate::num::NumOp,
        sp: i8,
        d: u32,
        a: u32,
        b: u32,
    },
    /// `f64.mul` of slots `a` and `b` and the `f64.add` of slot `c` and that product, fused:
    /// `d = c + a * b`, rounded after each as the two operators are (no fused multiply-add),
    /// the product in no cell — the stack cell the `mul` pushed is the `add`'s to pop. A dot
    /// product's step (matmul's inner loop): one dispatch and one cell's store and reload
    /// fewer. The stack move `sp` is made as for the ops of [`for_each_fast_op`].
    F64MulAddSS {
        sp: i8,
        d: u32,
        a: u32,
        b: u32,
        c: u32,
    },
    /// [`Op::F64MulAddSS`] of `f32.mul` and `f32.add`.
    F32MulAddSS {
        sp: i8,
        d: u32,
        a: u32,
        b: u32,
        c: u32,
    },
    /// `d = a op imm`, then the stack moves by `sp` cells.
    BinSI {
        n: crate::num::NumOp,
        sp: i8,
        d: u32,
        a: u32,
        imm: u64,
    },
    /// The SIMD operator of [`Code::simd`] at this index, of this arity.
    Simd(u32, crate::simd::SimdArity),
    LoadV {
        kind: VLoad,
        mem: u32,
        offset: u64,
    },
    StoreV {
        mem: u32,
        offset: u64,
    },
    LoadLane {
        size: u8,
        lane: u8,
        mem: u32,
        offset: u64,
    },
    StoreLane {
        size: u8,
        lane: u8,
        mem: u32,
        offset: u64,
    },
    RefFunc(u32),
    TableGet(u32),
    TableSet(u32),
    TableSize(u32),
    TableGrow(u32),
    TableFill(u32),
    TableCopy {
        dst: u32,
        src: u32,
    },
    TableInit {
        table: u32,
        elem: u32,
    },
    ElemDrop(u32),
    $(
        $ss { sp: i8, d: u32, a: u32, b: u32 },
        $si { sp: i8, d: u32, a: u32, imm: u64 },
    )*
    $(
        $bss { sp: i8, a: u32, b: u32, t: Target },
        $bsi { sp: i8, a: u32, imm: i32, t: Target },
    )*
}

impl Op {
    /// The op computing `d = a n b` on slots and moving the stack by `sp`: the operator's
    /// own op when it has one, else [`Op::BinSS`].
    pub(crate) fn bin_ss(n: crate::num::NumOp, sp: i8, d: u32, a: u32, b: u32) -> Op {
        match n {
            $( crate::num::NumOp::$kind => Op::$ss { sp, d, a, b }, )*
            _ => Op::BinSS { n, sp, d, a, b },
        }
    }

    /// The op computing `d = a n imm`: the operator's own op when it has one, else
    /// [`Op::BinSI`].
    pub(crate) fn bin_si(n: crate::num::NumOp, sp: i8, d: u32, a: u32, imm: u64) -> Op {
        match n {
            $( crate::num::NumOp::$kind => Op::$si { sp, d, a, imm }, )*
            _ => Op::BinSI { n, sp, d, a, imm },
        }
    }

    /// The operator of an op of [`for_each_fast_op`].
    #[cfg(test)]
    pub(crate) fn fast_kind(&self) -> Option<crate::num::NumOp> {
        match self {
            $( Op::$ss { .. } | Op::$si { .. } => Some(crate::num::NumOp::$kind), )*
            _ => None,
        }
    }

    /// The operator, operand slot, right operand (a slot, or an immediate) and stack move of
    /// an op of [`for_each_fast_op`] writing slot `d`.
    pub(crate) fn fast_parts(&self) -> Option<(crate::num::NumOp, u32, Operand, i8, u32)> {
        match *self {
            $(
                Op::$ss { sp, d, a, b } => Some((crate::num::NumOp::$kind, a, Operand::Slot(b), sp, d)),
                Op::$si { sp, d, a, imm } => Some((crate::num::NumOp::$kind, a, Operand::Imm(imm), sp, d)),
            )*
            _ => None,
        }
    }

    /// The fused branch on comparison `n` of slot `a` with `b`, after moving the stack by
    /// `sp`, to `t`; `None` when `n` has none, or `b` is an immediate that does not fit.
    pub(crate) fn branch_cmp(n: crate::num::NumOp, sp: i8, a: u32, b: Operand, t: Target) -> Option<Op> {
        $(
            if n == crate::num::NumOp::$bk {
                return match b {
                    Operand::Slot(b) => Some(Op::$bss { sp, a, b, t }),
                    Operand::Imm(imm) => {
                        // The op keeps 32 bits, sign-extended for `i64`: an `i32` comparison
                        // reads the low 32 bits alone, an `i64` one needs the value to fit.
                        let wide = n.i64_compare();
                        let imm = if wide { i32::try_from(imm as i64).ok()? } else { imm as u32 as i32 };
                        Some(Op::$bsi { sp, a, imm, t })
                    }
                };
            }
        )*
        None
    }

    /// The target of a branch op.
    #[inline]
    pub(crate) fn target(&self) -> Option<Target> {
        match *self {
            Op::Br(t) | Op::BrIf(t) | Op::BrIfZ { t, .. } | Op::BrCharge { t, .. } | Op::BrAnd { t, .. } => Some(t),
            $( Op::$bss { t, .. } | Op::$bsi { t, .. } => Some(t), )*
            _ => None,
        }
    }

    /// Ops that cannot trap, call out, read or change anything but their frame's cells and
    /// the globals, or go anywhere but to the next op: what [`Code::invert_loops`] may run
    /// with a segment paid ahead.
    pub(crate) fn is_pure(&self) -> bool {
        match self {
            $( Op::$ss { .. } | Op::$si { .. } => true, )*
            Op::F64MulAddSS { .. } | Op::F32MulAddSS { .. } => true,
            Op::I32WrapS { .. }
            | Op::I64ExtendSS { .. }
            | Op::ConstTo { .. }
            | Op::Copy { .. }
            | Op::Const(_)
            | Op::ConstMoved { .. }
            | Op::LocalGet(_)
            | Op::LocalGetMoved { .. }
            | Op::LocalSet(_)
            | Op::LocalTee(_)
            | Op::StackMove(_)
            | Op::GlobalGet(..) => true,
            _ => false,
        }
    }

    /// A branch taken or not by a condition, falling through otherwise.
    pub(crate) fn is_conditional_branch(&self) -> bool {
        match self {
            $( Op::$bss { .. } | Op::$bsi { .. } => true, )*
            Op::BrIf(_) | Op::BrIfZ { .. } | Op::BrAnd { .. } => true,
            _ => false,
        }
    }

    /// The target of a branch op, to patch.
    #[inline]
    pub(crate) fn target_mut(&mut self) -> Option<&mut Target> {
        match self {
            Op::Br(t) | Op::BrIf(t) | Op::BrIfZ { t, .. } | Op::BrCharge { t, .. } | Op::BrAnd { t, .. } => Some(t),
            $( Op::$bss { t, .. } | Op::$bsi { t, .. } => Some(t), )*
            _ => None,
        }
    }

    /// Whether the op may read slot `s` (true for any op not on slots).
    pub(crate) fn reads_slot(&self, s: u32) -> bool {
        match *self {
            Op::BinSS { a, b, .. } => a == s || b == s,
            Op::F64MulAddSS { a, b, c, .. } | Op::F32MulAddSS { a, b, c, .. } => a == s || b == s || c == s,
            Op::BinSI { a, .. } | Op::UnS { a, .. } => a == s,
            Op::I32WrapS { a, .. } | Op::I64ExtendSS { a, .. } => a == s,
            Op::LoadS { a, .. } | Op::Load32S { a, .. } | Op::Load64S { a, .. } | Op::Copy { a, .. } => a == s,
            Op::Load8U { a, .. } | Op::Load8S { a, .. } | Op::Load16U { a, .. } | Op::Load16S { a, .. } => a == s,
            Op::ConstTo { .. } => false,
            $(
                Op::$ss { a, b, .. } => a == s || b == s,
                Op::$si { a, .. } => a == s,
            )*
            _ => true,
        }
    }

    /// For a numeric op on slots: its result slot and stack move.
    pub(crate) fn dest(&self) -> Option<(u32, i8)> {
        match *self {
            Op::BinSS { d, sp, .. } | Op::BinSI { d, sp, .. } | Op::UnS { d, sp, .. } => Some((d, sp)),
            Op::F64MulAddSS { d, sp, .. } | Op::F32MulAddSS { d, sp, .. } => Some((d, sp)),
            Op::I32WrapS { d, sp, .. } | Op::I64ExtendSS { d, sp, .. } => Some((d, sp)),
            Op::LoadS { d, sp, .. } | Op::Load32S { d, sp, .. } | Op::Load64S { d, sp, .. } => Some((d, sp)),
            Op::Load8U { d, sp, .. } | Op::Load8S { d, sp, .. } | Op::Load16U { d, sp, .. } | Op::Load16S { d, sp, .. } => {
                Some((d, sp))
            }
            Op::Copy { d, .. } | Op::ConstTo { d, .. } => Some((d, 0)),
            $( Op::$ss { d, sp, .. } | Op::$si { d, sp, .. } => Some((d, sp)), )*
            _ => None,
        }
    }

    /// The stack move of an op whose handler does not make it: an op on slots of its own
    /// ([`for_each_fast_op`]), a load or store of memory 0 with an op of its own. Neither it nor a
    /// trap it raises depends on the stack's height, so [`Code::seal`] carries the move on to
    /// the next op that reads the height (`code/sink.rs`); sealed code has 0 here.
    #[inline]
    pub(crate) fn slot_move_mut(&mut self) -> Option<&mut i8> {
        match self {
            Op::Load32S { sp, .. } | Op::Load64S { sp, .. } => Some(sp),
            Op::F64MulAddSS { sp, .. } | Op::F32MulAddSS { sp, .. } => Some(sp),
            Op::I32WrapS { sp, .. } | Op::I64ExtendSS { sp, .. } => Some(sp),
            Op::Load8U { sp, .. } | Op::Load8S { sp, .. } | Op::Load16U { sp, .. } | Op::Load16S { sp, .. } => Some(sp),
            Op::Store32S { sp, .. } | Op::Store64S { sp, .. } => Some(sp),
            Op::Store8 { sp, .. } | Op::Store16 { sp, .. } => Some(sp),
            $( Op::$ss { sp, .. } | Op::$si { sp, .. } => Some(sp), )*
            _ => None,
        }
    }

    /// The stack move of an op on slots that makes it (after its work) or of a fused
    /// conditional branch (before it tests its slot): a move carried from the ops before it
    /// can join its own.
    pub(crate) fn own_move_mut(&mut self) -> Option<&mut i8> {
        match self {
            Op::BinSS { sp, .. } | Op::BinSI { sp, .. } | Op::UnS { sp, .. } => Some(sp),
            Op::LoadS { sp, .. } | Op::StoreS { sp, .. } => Some(sp),
            Op::BrIfZ { sp, .. } | Op::IfNez { sp, .. } | Op::BrAnd { sp, .. } => Some(sp),
            $( Op::$bss { sp, .. } | Op::$bsi { sp, .. } => Some(sp), )*
            Op::Call { sp, .. } | Op::CallImport { sp, .. } | Op::Return { sp } | Op::ChargeReturn { sp, .. } => {
                Some(sp)
            }
            _ => None,
        }
    }

    /// The `end` and access size of an op of memory 0 of its own (`Load32S`...`Store16`).
    pub(crate) fn mem0_end(&self) -> Option<(u32, u32)> {
        match *self {
            Op::Load64S { end, .. } | Op::Store64S { end, .. } => Some((end, 8)),
            Op::Load32S { end, .. } | Op::Store32S { end, .. } => Some((end, 4)),
            Op::Load16U { end, .. } | Op::Load16S { end, .. } | Op::Store16 { end, .. } => Some((end, 2)),
            Op::Load8U { end, .. } | Op::Load8S { end, .. } | Op::Store8 { end, .. } => Some((end, 1)),
            _ => None,
        }
    }

    /// An op of [`Op::slot_move_mut`] in the general form whose handler makes its move, with
    /// move `sp`: the same work, a few instructions slower, and one dispatch fewer than a
    /// [`Op::StackMove`] after it.
    pub(crate) fn moving(&self, sp: i8) -> Option<Op> {
        match *self {
            Op::Load32S { d, a, end, .. } => {
                Some(Op::LoadS { kind: LoadKind::I32, sp, d, a, mem: 0, offset: u64::from(end) - 4 })
            }
            Op::Load64S { d, a, end, .. } => {
                Some(Op::LoadS { kind: LoadKind::I64, sp, d, a, mem: 0, offset: u64::from(end) - 8 })
            }
            Op::Store32S { a, v, end, .. } => Some(Op::StoreS { size: 4, sp, a, v, mem: 0, offset: u64::from(end) - 4 }),
            Op::Store64S { a, v, end, .. } => Some(Op::StoreS { size: 8, sp, a, v, mem: 0, offset: u64::from(end) - 8 }),
            Op::I32WrapS { d, a, .. } => Some(Op::UnS { n: crate::num::NumOp::I32WrapI64, sp, d, a }),
            Op::I64ExtendSS { d, a, .. } => Some(Op::UnS { n: crate::num::NumOp::I64ExtendI32S, sp, d, a }),
            Op::Store8 { a, v, end, .. } => Some(Op::StoreS { size: 1, sp, a, v, mem: 0, offset: u64::from(end) - 1 }),
            Op::Store16 { a, v, end, .. } => Some(Op::StoreS { size: 2, sp, a, v, mem: 0, offset: u64::from(end) - 2 }),
            Op::Load8U { d, a, end, .. } => {
                Some(Op::LoadS { kind: LoadKind::I32U8, sp, d, a, mem: 0, offset: u64::from(end) - 1 })
            }
            Op::Load8S { d, a, end, .. } => {
                Some(Op::LoadS { kind: LoadKind::I32S8, sp, d, a, mem: 0, offset: u64::from(end) - 1 })
            }
            Op::Load16U { d, a, end, .. } => {
                Some(Op::LoadS { kind: LoadKind::I32U16, sp, d, a, mem: 0, offset: u64::from(end) - 2 })
            }
            Op::Load16S { d, a, end, .. } => {
                Some(Op::LoadS { kind: LoadKind::I32S16, sp, d, a, mem: 0, offset: u64::from(end) - 2 })
            }
            $(
                Op::$ss { d, a, b, .. } => Some(Op::BinSS { n: crate::num::NumOp::$kind, sp, d, a, b }),
                Op::$si { d, a, imm, .. } => Some(Op::BinSI { n: crate::num::NumOp::$kind, sp, d, a, imm }),
            )*
            _ => None,
        }
    }

    /// For a numeric op on slots: its result slot and stack move, to retarget.
    pub(crate) fn dest_mut(&mut self) -> Option<(&mut u32, &mut i8)> {
        match self {
            Op::BinSS { d, sp, .. } | Op::BinSI { d, sp, .. } | Op::UnS { d, sp, .. } => Some((d, sp)),
            Op::F64MulAddSS { d, sp, .. } | Op::F32MulAddSS { d, sp, .. } => Some((d, sp)),
            Op::I32WrapS { d, sp, .. } | Op::I64ExtendSS { d, sp, .. } => Some((d, sp)),
            Op::LoadS { d, sp, .. } | Op::Load32S { d, sp, .. } | Op::Load64S { d, sp, .. } => Some((d, sp)),
            Op::Load8U { d, sp, .. } | Op::Load8S { d, sp, .. } | Op::Load16U { d, sp, .. } | Op::Load16S { d, sp, .. } => {
                Some((d, sp))
            }
            $( Op::$ss { d, sp, .. } | Op::$si { d, sp, .. } => Some((d, sp)), )*
            _ => None,
        }
    }
}

#[cfg(test)]
/// The operators with ops of their own.
pub(crate) const FAST_OPS: &[crate::num::NumOp] = &[$( crate::num::NumOp::$kind ),*];
    };
}
for_each_branch_cmp!(define_op_with_branches);

/// What the handler of [`Op::CallImport`] needs to make an array call of native code itself:
/// the parameters' count, each a scalar (one cell, one slot), and the result's width. Other
/// signatures (`v128`, more results or parameters) go to the loop's general call.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub(crate) enum ImportSig {
    /// Not made by the handler.
    General,
    /// `params` scalar parameters and no result.
    Unit { params: u8 },
    /// `params` scalar parameters and an `i32` or `f32` result (its slot's low 32 bits).
    Narrow { params: u8 },
    /// `params` scalar parameters and an `i64`, `f64` or reference result (64 bits).
    Wide { params: u8 },
}

impl ImportSig {
    /// The most parameters of a call the handler makes itself: its slots are on its frame.
    pub(crate) const MAX_PARAMS: usize = 8;

    /// The signature `params -> results` as the handler can make it.
    pub(crate) fn of(params: &[ValType], results: &[ValType]) -> ImportSig {
        let scalar = |t: &ValType| *t != ValType::V128;
        let Ok(n) = u8::try_from(params.len()) else { return ImportSig::General };
        if params.len() > Self::MAX_PARAMS || !params.iter().all(scalar) {
            return ImportSig::General;
        }
        match results {
            [] => ImportSig::Unit { params: n },
            [ValType::I32 | ValType::F32] => ImportSig::Narrow { params: n },
            [t] if scalar(t) => ImportSig::Wide { params: n },
            _ => ImportSig::General,
        }
    }
}
