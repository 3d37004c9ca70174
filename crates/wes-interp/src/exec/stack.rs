//! The value stack: the cells of every frame of one nesting of the loop, the bound all
//! nestings of a thread share, and the unchecked cell access the loop uses.

use super::Executor;
use crate::code::Code;

/// The most cells the value stacks of one thread may hold together, across host re-entries
/// (512 MiB, the runtime's default limit of the native stack wasm runs on). The JIT keeps
/// locals on the native stack, which the runtime bounds; this is the interpreter's bound, so a
/// module of huge frames recursing deeply traps `CallStackExhausted` rather than exhausting
/// the host's memory.
pub(super) const MAX_STACK_CELLS: usize = 64 << 20;

thread_local! {
    /// Cells the live executors of this thread hold (see [`MAX_STACK_CELLS`]).
    static CELLS: std::cell::Cell<usize> = const { std::cell::Cell::new(0) };
}

/// The address of cell `i` of a value stack of `len` cells at `base`, checked in debug builds
/// only (a function, not a macro, so that unoptimised builds keep the loop's frame small).
///
/// # Safety
///
/// `i < len`, and `base` points to `len` cells.
#[inline(always)]
pub(super) unsafe fn cell(base: *mut u64, i: usize, len: usize) -> *mut u64 {
    if cfg!(debug_assertions) && i >= len {
        past_the_stack(i, len);
    }
    // SAFETY: by this function's contract.
    unsafe { base.add(i) }
}

/// A debug build's check of [`cell`] failed. Out of line, with its values passed by value: a
/// `debug_assert!` formatting them would take their addresses, and a threaded handler whose
/// locals' addresses escape cannot end in a jump (see `threaded`).
#[cold]
#[inline(never)]
#[allow(clippy::panic)] // a debug build's invariant check, as `debug_assert!` is
fn past_the_stack(i: usize, len: usize) -> ! {
    panic!("cell {i} past the value stack ({len} cells)")
}

/// Copies cells `from..to` of a value stack of `len` cells at `base` to `dst` (the ranges may
/// overlap), checked in debug builds only.
///
/// # Safety
///
/// Both ranges lie inside the `len` cells at `base`.
#[inline(always)]
pub(super) unsafe fn copy_cells(base: *mut u64, from: usize, to: usize, dst: usize, len: usize) {
    debug_assert!(from <= to && to <= len && dst.saturating_add(to - from) <= len);
    // SAFETY: by this function's contract.
    unsafe { std::ptr::copy(base.add(from), base.add(dst), to - from) };
}

impl Drop for Executor {
    fn drop(&mut self) {
        let held = self.stack.len();
        CELLS.with(|cells| cells.set(cells.get().saturating_sub(held)));
    }
}

impl Executor {
    /// Grows the value stack to at least `need` cells (doubling, within what
    /// [`MAX_STACK_CELLS`] leaves this thread); `false` when that does not fit.
    pub(super) fn grow(&mut self, need: usize) -> bool {
        let len = self.stack.len();
        if len >= need {
            return true;
        }
        CELLS.with(|cells| {
            let used = cells.get();
            let room = MAX_STACK_CELLS.saturating_sub(used);
            if need - len > room {
                return false;
            }
            let target = need.max(len.saturating_mul(2)).min(len + room);
            cells.set(used + (target - len));
            self.stack.resize(target, 0);
            true
        })
    }

    /// Makes room for a frame of `code` at `fp` and zeroes its declared locals; returns where
    /// its operand stack starts, or `None` past [`MAX_STACK_CELLS`].
    pub(super) fn enter(&mut self, code: &Code, fp: usize) -> Option<usize> {
        let need = fp.checked_add(code.frame_cells())?;
        if !self.grow(need) {
            return None;
        }
        let locals = fp + code.param_cells as usize;
        let end = locals + code.local_cells as usize;
        if end > locals {
            self.stack[locals..end].fill(0);
        }
        Some(end)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::exec::Executor;

    #[test]
    fn value_stacks_share_one_bound_per_thread() {
        let before = CELLS.with(std::cell::Cell::get);
        // Another nesting already holds all but 100 cells of the bound.
        CELLS.with(|c| c.set(MAX_STACK_CELLS - 100));
        let mut ex = Executor { stack: Vec::new(), frames: Vec::new(), buf: Vec::new(), allowed: 1 };
        assert!(!ex.grow(101));
        assert!(ex.grow(60));
        assert!(ex.stack.len() >= 60 && ex.stack.len() <= 100);
        assert!(!ex.grow(101));
        assert!(ex.grow(100));
        assert_eq!(CELLS.with(std::cell::Cell::get), MAX_STACK_CELLS);
        drop(ex);
        assert_eq!(CELLS.with(std::cell::Cell::get), MAX_STACK_CELLS - 100);
        CELLS.with(|c| c.set(before));
    }
}
