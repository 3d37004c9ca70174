//! The array-call entry every interpreted function shares: it opens one nesting of the loop
//! ([`Executor::run`]) for the function the runtime's function context names.

use wes_core::TrapCode;
use wes_core::backend::{CALL_RETURNED, CALL_TAIL, CALL_TRAPPED, ValRaw};
use wes_core::vm;

use super::vmctx::{function_context, rd, record_trap, store_of};
use super::{Executor, Exit, Frame, calls};
#[cfg(doc)]
use crate::FuncRecord;

/// The array-call entry of every interpreted function.
///
/// # Safety
///
/// As [`wes_core::backend::ArrayCallFn`]: `callee` is a function context the runtime built for
/// an entry of this backend (its data a [`FuncRecord`] of a live compiled module) and `args`
/// holds the function's arguments in `max(params, results)` slots.
pub(crate) unsafe extern "C" fn interp_entry(callee: *mut u8, _caller: *mut u8, args: *mut ValRaw) -> u8 {
    #[cfg(test)]
    let outer = super::probe::enter();
    // SAFETY: by this function's contract.
    let status = unsafe { entry(callee, args) };
    #[cfg(test)]
    super::probe::leave(outer);
    status
}

/// [`interp_entry`]'s work.
///
/// # Safety
///
/// As [`interp_entry`].
unsafe fn entry(callee: *mut u8, args: *mut ValRaw) -> u8 {
    // SAFETY: by this function's contract.
    let (vmctx, record) = unsafe { function_context(callee) };
    // SAFETY: the record lives as long as the compiled module, which outlives the call.
    let rec = unsafe { &*record };
    // SAFETY: `vmctx` is the live instance context of the function.
    let store = unsafe { store_of(vmctx) };
    // SAFETY: the store context holds the frame count (`vm::STORE_FRAMES_LEFT`).
    let frames_left: u32 = unsafe { rd(store, vm::STORE_FRAMES_LEFT) };
    let Ok(code) = rec.code() else {
        // Compilation checked every body, so this is a translator bug; it traps rather than
        // runs something else.
        // SAFETY: `vmctx` is live.
        unsafe { record_trap(vmctx, Some(TrapCode::HostError), rec.func_index(), 0) };
        return CALL_TRAPPED;
    };
    let mut ex = Executor { stack: Vec::new(), frames: Vec::new(), buf: Vec::new(), allowed: frames_left };
    if frames_left == 0 || !ex.grow(code.frame_cells()) {
        // SAFETY: `vmctx` is live.
        unsafe { record_trap(vmctx, Some(TrapCode::CallStackExhausted), code.func_index, code.body_offset) };
        return CALL_TRAPPED;
    }
    // SAFETY: `args` holds the parameters, by this function's contract.
    unsafe { calls::raw_to_cells(&code.params, args, &mut ex.stack) };
    let frame = Frame { record, code, vmctx, ip: code.slots.as_ptr(), fp: 0 };
    let sp = (code.param_cells + code.local_cells) as usize;
    // SAFETY: the frame's vmctx and record are live for the call.
    match unsafe { ex.run(frame, sp) } {
        Exit::Returned => {
            let n = code.results.len();
            if n > 0 {
                // SAFETY: `args` has room for the results, by this function's contract (it may
                // be null only when there are none).
                let slots = unsafe { std::slice::from_raw_parts_mut(args, n) };
                calls::cells_to_raw(&code.results, &ex.stack, slots);
            }
            CALL_RETURNED
        }
        Exit::Tail => CALL_TAIL,
        Exit::Trapped => CALL_TRAPPED,
    }
}
