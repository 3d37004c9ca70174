//! The internal form a function body is translated to: a flat array of [`Op`]s with branch
//! targets and stack adjustments resolved, executed by [`crate::exec`].
//!
//! Values live in untyped 64-bit cells: `i32` and `f32` zero-extended, `i64`, `f64` and
//! references as they are, a `v128` in two cells (low half first). The translator knows every
//! value's type, so each op knows how many cells it touches. A frame's cells are its locals
//! (parameters first) followed by its operand stack; every stack height and local index below
//! is counted in cells from the frame's first local.

use wes_core::ValType;

/// How a branch leaves the operand stack: the top `keep` cells move down over `drop` cells.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct DropKeep {
    pub(crate) drop: u32,
    pub(crate) keep: u32,
}

/// A resolved branch: where it goes (or [`RETURN`]) and how it adjusts the stack.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Target {
    pub(crate) pc: u32,
    pub(crate) dk: DropKeep,
}

/// The branch target meaning "return from the function".
pub(crate) const RETURN: u32 = u32::MAX;

/// The width of a value in memory or in a global slot.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Width {
    W32,
    W64,
    W128,
}

/// A `v128` load: what it reads and how it fills the vector.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum VLoad {
    /// `v128.load`.
    Full,
    /// `v128.load8x8_s` and its kin: eight bytes, each lane widened.
    Extend { lane_bytes: u8, signed: bool },
    /// `v128.load*_splat`.
    Splat(u8),
    /// `v128.load32_zero`, `v128.load64_zero`.
    Zero(u8),
}

impl VLoad {
    /// Bytes read from memory.
    pub(crate) fn size(self) -> u64 {
        match self {
            VLoad::Full => 16,
            VLoad::Extend { .. } => 8,
            VLoad::Splat(n) | VLoad::Zero(n) => u64::from(n),
        }
    }
}

/// A linear-memory load: size in bytes and how it extends to its cell.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum LoadKind {
    I32,
    I64,
    I32S8,
    I32U8,
    I32S16,
    I32U16,
    I64S8,
    I64U8,
    I64S16,
    I64U16,
    I64S32,
    I64U32,
}

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
        }
    };
}
pub(crate) use for_each_fast_op;

macro_rules! define_op {
    ([] $( $kind:ident => $ss:ident, $si:ident; )*) => {
/// One instruction of the internal form.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) enum Op {
    /// Pays `cost` for the segment that starts here (see `wes_meter::function_segments`) and
    /// then counts its `ops` operators.
    Charge {
        cost: u64,
        ops: u32,
    },
    Unreachable,
    Br(Target),
    /// `br_if`: branches when the popped condition is non-zero.
    BrIf(Target),
    /// Jumps to `pc` when the popped condition is zero (`if`).
    BrIfEqz(u32),
    /// `i32.eqz` or `i64.eqz` (`wide`) of slot `a` and the `br_if` on it, fused: moves the
    /// stack by `sp` cells (the condition's pop and the operand's, if it was on the stack),
    /// then branches when `a` is zero.
    BrIfZ {
        a: u32,
        sp: i8,
        wide: bool,
        t: Target,
    },
    /// An `eqz` of slot `a` and the `if` on it, fused: moves the stack by `sp` cells, then
    /// jumps to `to` (the else branch) when `a` is non-zero.
    IfNez {
        a: u32,
        sp: i8,
        wide: bool,
        to: u32,
    },
    /// `br_table` over `len` targets starting at `start` in [`Code::tables`], the default last.
    BrTable {
        start: u32,
        len: u32,
    },
    Return,
    Call(u32),
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
    LocalSet(u32),
    LocalTee(u32),
    LocalGet2(u32),
    LocalSet2(u32),
    LocalTee2(u32),
    GlobalGet(u32, Width),
    GlobalSet(u32, Width),
    Load {
        kind: LoadKind,
        mem: u32,
        offset: u64,
    },
    Store {
        size: u8,
        mem: u32,
        offset: u64,
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

    /// The operator of an op of [`for_each_fast_op`] (the loop's debug builds read it; its
    /// optimised builds know it from the arm).
    #[cfg_attr(not(debug_assertions), allow(dead_code))]
    pub(crate) fn fast_kind(&self) -> Option<crate::num::NumOp> {
        match self {
            $( Op::$ss { .. } | Op::$si { .. } => Some(crate::num::NumOp::$kind), )*
            _ => None,
        }
    }

    /// For a numeric op on slots: its result slot and stack move.
    pub(crate) fn dest(&self) -> Option<(u32, i8)> {
        match *self {
            Op::BinSS { d, sp, .. } | Op::BinSI { d, sp, .. } | Op::UnS { d, sp, .. } => Some((d, sp)),
            $( Op::$ss { d, sp, .. } | Op::$si { d, sp, .. } => Some((d, sp)), )*
            _ => None,
        }
    }

    /// For a numeric op on slots: its result slot and stack move, to retarget.
    pub(crate) fn dest_mut(&mut self) -> Option<(&mut u32, &mut i8)> {
        match self {
            Op::BinSS { d, sp, .. } | Op::BinSI { d, sp, .. } | Op::UnS { d, sp, .. } => Some((d, sp)),
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
for_each_fast_op!(define_op);

/// One function body in the internal form.
#[derive(Debug)]
pub(crate) struct Code {
    /// The function's index in the module's function index space.
    pub(crate) func_index: u32,
    /// The module offset reported for a trap before the first instruction (the call-depth
    /// check): the start of the body, as the JIT reports it.
    pub(crate) body_offset: u32,
    pub(crate) params: Vec<ValType>,
    pub(crate) results: Vec<ValType>,
    /// Cells of the parameters.
    pub(crate) param_cells: u32,
    /// Cells of the results.
    pub(crate) result_cells: u32,
    /// Cells of the declared locals, after the parameters (zeroed on entry).
    pub(crate) local_cells: u32,
    /// The most cells the operand stack holds at once.
    pub(crate) max_height: u32,
    pub(crate) ops: Vec<Op>,
    /// The module offset of the wasm operator each op came from (for traps).
    pub(crate) offsets: Vec<u32>,
    /// The targets of every `br_table`.
    pub(crate) tables: Vec<Target>,
    /// The constants of `v128.const`.
    pub(crate) v128s: Vec<u128>,
    /// The SIMD lane operators.
    pub(crate) simd: Vec<crate::simd::SimdOp>,
}

/// Cells a value of type `ty` takes.
pub(crate) fn cells(ty: ValType) -> u32 {
    if ty == ValType::V128 { 2 } else { 1 }
}

impl Code {
    /// Cells a frame of this function needs: locals and operand stack.
    pub(crate) fn frame_cells(&self) -> usize {
        self.param_cells as usize + self.local_cells as usize + self.max_height as usize
    }

    /// Makes `ops` safe to run without bounds checks on the program counter: ends it with an
    /// op that does not fall through (an `Unreachable` that is never reached, when the body's
    /// last op could fall through — the translator emits none past unreachable code) and
    /// checks that every branch lands on an op. The loop relies on both (see `exec::run`);
    /// a failure here is a translator bug, reported rather than run.
    pub(crate) fn seal(&mut self) -> Result<(), String> {
        let ends = matches!(self.ops.last(), Some(Op::Unreachable | Op::Br(_) | Op::BrTable { .. } | Op::Return));
        if !ends {
            self.ops.push(Op::Unreachable);
            self.offsets.push(self.offsets.last().copied().unwrap_or(self.body_offset));
        }
        let len = self.ops.len();
        let lands = |pc: u32| pc == RETURN || (pc as usize) < len;
        let bad = self.ops.iter().position(|op| match *op {
            Op::Br(t) | Op::BrIf(t) | Op::BrIfZ { t, .. } => !lands(t.pc),
            Op::BrIfEqz(pc) | Op::IfNez { to: pc, .. } => pc == RETURN || !lands(pc),
            _ => false,
        });
        if let Some(at) = bad {
            return Err(format!("op {at} branches past the end of the body ({len} ops)"));
        }
        if let Some(t) = self.tables.iter().find(|t| !lands(t.pc)) {
            return Err(format!("a br_table target ({}) lies past the end of the body ({len} ops)", t.pc));
        }
        Ok(())
    }

    /// The module offset of the op at `pc`.
    pub(crate) fn offset(&self, pc: usize) -> u32 {
        self.offsets.get(pc).copied().unwrap_or(self.body_offset)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The loop copies one op per step: what does not fit in 24 bytes (a `v128` constant, a
    /// SIMD operator's immediates, `br_table` targets) lives in side tables.
    #[test]
    fn ops_stay_small() {
        assert!(std::mem::size_of::<Op>() <= 24, "{}", std::mem::size_of::<Op>());
    }

    /// The ops of their own skip the trap check: none of their operators may trap, and each
    /// is a binary operator.
    #[test]
    fn fast_ops_cannot_trap() {
        for n in FAST_OPS {
            assert!(!n.can_trap() && n.arity() == 2, "{n:?}");
        }
        let op = Op::bin_ss(crate::num::NumOp::I64Xor, -1, 3, 3, 4);
        assert_eq!(op, Op::I64XorSS { sp: -1, d: 3, a: 3, b: 4 });
        for &n in FAST_OPS {
            assert_eq!(Op::bin_ss(n, 0, 0, 0, 0).fast_kind(), Some(n));
            assert_eq!(Op::bin_si(n, 0, 0, 0, 0).fast_kind(), Some(n));
        }
        let op = Op::bin_si(crate::num::NumOp::F64Add, 0, 3, 3, 7);
        assert!(matches!(op, Op::BinSI { n: crate::num::NumOp::F64Add, sp: 0, d: 3, a: 3, imm: 7 }));
    }
}
