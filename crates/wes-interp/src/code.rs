//! The internal form a function body is translated to: a flat array of [`Op`]s with branch
//! targets and stack adjustments resolved, executed by [`crate::exec`].
//!
//! Values live in untyped 64-bit cells: `i32` and `f32` zero-extended, `i64`, `f64` and
//! references as they are. A frame's cells are its locals (parameters first) followed by its
//! operand stack; every stack height below is counted from the frame's first local.

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
    Select,
    LocalGet(u32),
    LocalSet(u32),
    LocalTee(u32),
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
    Num(crate::num::NumOp),
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
    pub(crate) num_results: u32,
    /// Declared locals, after the parameters (zeroed on entry).
    pub(crate) num_locals: u32,
    /// The most cells the operand stack holds at once.
    pub(crate) max_height: u32,
    pub(crate) ops: Vec<Op>,
    /// The module offset of the wasm operator each op came from (for traps).
    pub(crate) offsets: Vec<u32>,
    /// The targets of every `br_table`.
    pub(crate) tables: Vec<Target>,
}

impl Code {
    /// Cells a frame of this function needs: locals and operand stack.
    pub(crate) fn frame_cells(&self) -> usize {
        self.params.len() + self.num_locals as usize + self.max_height as usize
    }

    /// The module offset of the op at `pc`.
    pub(crate) fn offset(&self, pc: usize) -> u32 {
        self.offsets.get(pc).copied().unwrap_or(self.body_offset)
    }
}
