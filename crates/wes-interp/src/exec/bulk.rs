//! The ops that go through the runtime's libcalls or read an instance's tables and memory
//! sizes: memory size and growth, bulk memory, `ref.func` and the table operators. Out of the
//! loop's body, so the hot ops keep its registers; they reach the value stack checked.

use wes_core::TrapCode;
use wes_core::vm::{self, Libcall};

use super::vmctx::*;
use crate::code::Op;

/// Runs `op`, one of the ops above, on the value stack `stack` whose running frame's operands
/// end at `sp`; `Err` with the trap to record (`None` when a libcall recorded it).
///
/// # Safety
///
/// `vmctx` must be the live instance context of the running frame.
pub(super) unsafe fn run(
    op: Op,
    vmctx: *mut u8,
    stack: &mut [u64],
    sp_out: &mut usize,
) -> Result<(), Option<TrapCode>> {
    let mut sp = *sp_out;
    // Cell `$i` of the stack, checked: the translator's accounting keeps every index inside
    // the frame, so a miss is its bug, reported as a trap rather than run.
    macro_rules! c {
        ($i:expr) => {
            *stack.get_mut($i).ok_or(Some(TrapCode::Unreachable))?
        };
    }
    macro_rules! trap {
        ($code:expr) => {
            return Err($code)
        };
    }
    match op {
        Op::MemorySize(mem) => {
            // SAFETY: validated index.
            let len: u64 = unsafe { rd(vmctx_entry(vmctx, vm::VMCTX_MEMORIES, mem), vm::MEMORY_LENGTH) };
            c!(sp) = u64::from((len >> 16) as u32);
            sp += 1;
        }
        Op::MemoryGrow(mem) => {
            let delta = c!(sp - 1) as u32;
            let f = lc!(vmctx, Libcall::MemoryGrow, GrowFn);
            // SAFETY: the runtime's libcall with the instance's vmctx.
            let r = unsafe { f(vmctx, mem, delta) };
            if r < 0 {
                trap!(None)
            }
            c!(sp - 1) = u64::from(r as u32);
        }
        Op::MemoryFill(mem) => {
            sp -= 3;
            let (d, v, n) = (c!(sp) as u32, c!(sp + 1) as u32, c!(sp + 2) as u32);
            let f = lc!(vmctx, Libcall::MemoryFill, Bulk4Fn);
            // SAFETY: the runtime's libcall with the instance's vmctx.
            if unsafe { f(vmctx, mem, d, v, n) } == 0 {
                trap!(None)
            }
        }
        Op::MemoryCopy { dst, src } => {
            sp -= 3;
            let (d, s, n) = (c!(sp) as u32, c!(sp + 1) as u32, c!(sp + 2) as u32);
            let f = lc!(vmctx, Libcall::MemoryCopy, Bulk5Fn);
            // SAFETY: the runtime's libcall with the instance's vmctx.
            if unsafe { f(vmctx, dst, src, d, s, n) } == 0 {
                trap!(None)
            }
        }
        Op::MemoryInit { mem, data } => {
            sp -= 3;
            let (d, s, n) = (c!(sp) as u32, c!(sp + 1) as u32, c!(sp + 2) as u32);
            let f = lc!(vmctx, Libcall::MemoryInit, Bulk5Fn);
            // SAFETY: the runtime's libcall with the instance's vmctx.
            if unsafe { f(vmctx, mem, data, d, s, n) } == 0 {
                trap!(None)
            }
        }
        Op::DataDrop(data) => {
            let f = lc!(vmctx, Libcall::DataDrop, DropFn);
            // SAFETY: the runtime's libcall with the instance's vmctx.
            unsafe { f(vmctx, data) };
        }
        Op::RefFunc(f) => {
            // SAFETY: validated index.
            c!(sp) = unsafe { vmctx_entry(vmctx, vm::VMCTX_FUNCS, f) } as u64;
            sp += 1;
        }
        Op::TableGet(t) => {
            let index = u64::from(c!(sp - 1) as u32);
            // SAFETY: `vmctx` is live, the table index validated.
            let Some(p) = (unsafe { table_elem(vmctx, t, index) }) else { trap!(Some(TrapCode::TableOutOfBounds)) };
            // SAFETY: in bounds.
            c!(sp - 1) = unsafe { p.read() };
        }
        Op::TableSet(t) => {
            sp -= 2;
            let index = u64::from(c!(sp) as u32);
            // SAFETY: `vmctx` is live, the table index validated.
            let Some(p) = (unsafe { table_elem(vmctx, t, index) }) else { trap!(Some(TrapCode::TableOutOfBounds)) };
            // SAFETY: in bounds.
            unsafe { p.write(c!(sp + 1)) };
        }
        Op::TableSize(t) => {
            // SAFETY: validated index.
            let len: u64 = unsafe { rd(vmctx_entry(vmctx, vm::VMCTX_TABLES, t), vm::TABLE_LENGTH) };
            c!(sp) = u64::from(len as u32);
            sp += 1;
        }
        Op::TableGrow(t) => {
            sp -= 1;
            let (init, delta) = (c!(sp - 1), c!(sp) as u32);
            let f = lc!(vmctx, Libcall::TableGrow, TableGrowFn);
            // SAFETY: the runtime's libcall with the instance's vmctx.
            let r = unsafe { f(vmctx, t, init, delta) };
            if r < 0 {
                trap!(None)
            }
            c!(sp - 1) = u64::from(r as u32);
        }
        Op::TableFill(t) => {
            sp -= 3;
            let (d, v, n) = (c!(sp) as u32, c!(sp + 1), c!(sp + 2) as u32);
            let f = lc!(vmctx, Libcall::TableFill, TableFillFn);
            // SAFETY: the runtime's libcall with the instance's vmctx.
            if unsafe { f(vmctx, t, d, v, n) } == 0 {
                trap!(None)
            }
        }
        Op::TableCopy { dst, src } => {
            sp -= 3;
            let (d, s, n) = (c!(sp) as u32, c!(sp + 1) as u32, c!(sp + 2) as u32);
            let f = lc!(vmctx, Libcall::TableCopy, Bulk5Fn);
            // SAFETY: the runtime's libcall with the instance's vmctx.
            if unsafe { f(vmctx, dst, src, d, s, n) } == 0 {
                trap!(None)
            }
        }
        Op::TableInit { table, elem } => {
            sp -= 3;
            let (d, s, n) = (c!(sp) as u32, c!(sp + 1) as u32, c!(sp + 2) as u32);
            let f = lc!(vmctx, Libcall::TableInit, Bulk5Fn);
            // SAFETY: the runtime's libcall with the instance's vmctx.
            if unsafe { f(vmctx, table, elem, d, s, n) } == 0 {
                trap!(None)
            }
        }
        Op::ElemDrop(elem) => {
            let f = lc!(vmctx, Libcall::ElemDrop, DropFn);
            // SAFETY: the runtime's libcall with the instance's vmctx.
            unsafe { f(vmctx, elem) };
        }
        _ => {}
    }
    *sp_out = sp;
    Ok(())
}
