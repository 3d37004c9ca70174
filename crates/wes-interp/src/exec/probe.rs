//! Test-only measurement of the native stack one nesting takes: from the entry's frame to the
//! point where the loop calls native code (see the `frame_bound` test).

use std::cell::Cell;

thread_local! {
    static ENTRY: Cell<usize> = const { Cell::new(0) };
    pub(crate) static DEEPEST: Cell<usize> = const { Cell::new(0) };
}

/// An address in the caller's frame.
#[inline(never)]
fn here() -> usize {
    let x = 0u8;
    std::hint::black_box(&x) as *const u8 as usize
}

/// At the entry: remembers where its frame is, returning the outer nesting's.
#[inline(always)]
pub(crate) fn enter() -> usize {
    ENTRY.with(|e| e.replace(here()))
}

/// At the entry's return: back to the outer nesting.
pub(crate) fn leave(outer: usize) {
    ENTRY.with(|e| e.set(outer));
}

/// Just before a native call: how deep the stack is below the entry.
#[inline(always)]
pub(crate) fn at_native_call() {
    let used = ENTRY.with(Cell::get).saturating_sub(here());
    DEEPEST.with(|d| d.set(d.get().max(used)));
}

thread_local! {
    /// The deepest a chain of threaded handlers reached below the entry's frame.
    pub(crate) static CHAIN_DEEPEST: Cell<usize> = const { Cell::new(0) };
}

/// Where a chain of handlers ends: how deep the stack is below the entry.
#[inline(always)]
pub(crate) fn at_chain_end() {
    let used = ENTRY.with(Cell::get).saturating_sub(here());
    CHAIN_DEEPEST.with(|d| d.set(d.get().max(used)));
}
