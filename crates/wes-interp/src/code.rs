//! The internal form a function body is translated to: a flat array of [`Op`]s with branch
//! targets and stack adjustments resolved, executed by [`crate::exec`] from [`Slot`]s (each op
//! beside its handler's address).
//!
//! Values live in untyped 64-bit cells: `i32` and `f32` zero-extended, `i64`, `f64` and
//! references as they are, a `v128` in two cells (low half first). The translator knows every
//! value's type, so each op knows how many cells it touches. A frame's cells are its locals
//! (parameters first) followed by its operand stack; every stack height and local index below
//! is counted in cells from the frame's first local.

use wes_core::ValType;

mod charges;
mod invert;
mod seal;
mod sink;

/// How a branch leaves the operand stack: the top `keep` cells move down over `drop` cells.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct DropKeep {
    pub(crate) drop: u32,
    pub(crate) keep: u32,
}

/// A resolved branch: where it goes and how it adjusts the stack. The translator writes
/// [`RETURN`] for a branch out of the function; [`Code::seal`] points it at a `return` op.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Target {
    pub(crate) pc: u32,
    pub(crate) dk: DropKeep,
}

/// The branch target meaning "return from the function", until the body is sealed.
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

impl LoadKind {
    /// Bytes read from memory.
    pub(crate) fn size(self) -> u64 {
        match self {
            LoadKind::I32 | LoadKind::I64S32 | LoadKind::I64U32 => 4,
            LoadKind::I64 => 8,
            LoadKind::I32S8 | LoadKind::I32U8 | LoadKind::I64S8 | LoadKind::I64U8 => 1,
            LoadKind::I32S16 | LoadKind::I32U16 | LoadKind::I64S16 | LoadKind::I64U16 => 2,
        }
    }
}

mod op;
#[cfg(test)]
pub(crate) use op::FAST_OPS;
pub(crate) use op::{ImportSig, Op};
pub(crate) use op::{for_each_branch_cmp, for_each_fast_op};

/// An op as the interpreter runs it: the address of its threaded handler
/// (`crate::exec::handler_address`), then the op. Each handler ends by jumping to the next
/// op's handler; read from the op's slot, that is one load and the jump, where finding it by
/// the op's tag in the handlers' table took two dependent loads and, in a
/// position-independent build, an instruction more to address the table (wasmi's ops carry
/// their handlers so, for the same reason).
#[derive(Clone, Copy, Debug)]
#[repr(C)]
pub(crate) struct Slot {
    pub(crate) run: usize,
    pub(crate) op: Op,
}

/// The right operand of a binary op: a slot or an immediate.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Operand {
    Slot(u32),
    Imm(u64),
}

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
    /// The ops while the body is translated and sealed; emptied when translation ends (the
    /// ops run from `slots`).
    pub(crate) ops: Vec<Op>,
    /// The sealed ops, each with its handler: what runs.
    pub(crate) slots: Box<[Slot]>,
    /// The module offset of the wasm operator each op came from (for traps).
    pub(crate) offsets: Vec<u32>,
    /// The targets of every `br_table`.
    pub(crate) tables: Vec<Target>,
    /// The constants of `v128.const`.
    pub(crate) v128s: Vec<u128>,
    /// The SIMD lane operators.
    pub(crate) simd: Vec<crate::simd::SimdOp>,
    /// Each merged check's segments (`Op::Charge::chain`): where they lie in `links`.
    pub(crate) chains: Vec<(u32, u32)>,
    /// The segments merged checks pay for, chain after chain, each in the order they run.
    pub(crate) links: Vec<wes_meter::ChainLink>,
    /// Some scalar load or store addresses memory 0, through the definition the loop keeps
    /// and passes to the threaded handlers: the loop reads it when the frame starts running.
    pub(crate) mem0: bool,
    /// NaN results of the operators the JIT canonicalises are canonicalised (the module's
    /// setting, kept here so a frame switch reads it with the code).
    pub(crate) canon: bool,
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
        // A handler's address and the op: the jump offsets (`Op::Jump::by`) count these.
        assert_eq!(std::mem::size_of::<Slot>(), 32);
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
        let op = Op::bin_si(crate::num::NumOp::F64Eq, 0, 3, 3, 7);
        assert!(matches!(op, Op::BinSI { n: crate::num::NumOp::F64Eq, sp: 0, d: 3, a: 3, imm: 7 }));
    }
}
