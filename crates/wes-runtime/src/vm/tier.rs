//! The tier trampoline: the array-call entry of every function of a tiered module
//! ([`crate::tier`]), which calls the upper tier's code once it is published and the lower
//! tier's until then.

use super::*;
use crate::tier::TierFunc;

/// Calls `entry` as the function whose instance context is `vmctx`: native code gets `vmctx`
/// itself; an entry with data gets a function context built here, which lives for the call.
///
/// # Safety
///
/// `entry` must be an entry of a function of the instance `vmctx` (made by the backend that
/// compiled that instance's module), and `caller`/`args` as an array call of it requires.
unsafe fn call_entry(entry: FuncEntry, vmctx: *mut u8, caller: *mut u8, args: *mut ValRaw) -> u8 {
    // SAFETY: `vmctx` is a live instance context (the caller vouches), whose first field is
    // its store context.
    let store_ctx = unsafe { (*(vmctx as *const VMContext)).store }.cast::<u8>();
    if entry.data.is_null() {
        // SAFETY: native code's entry takes its instance's vmctx (by the `FuncEntry` contract),
        // the caller vouches for `caller` and `args`, and `store_ctx` is the instance's store
        // context. Through `call_array`: this Rust frame is not one a trap may unwind over.
        return unsafe { wes_core::unwind::call_array(store_ctx, entry.call, vmctx, caller, args) };
    }
    let ctx = VMFuncContext { vmctx, data: entry.data };
    // SAFETY: an entry with data takes a function context holding its instance's vmctx and that
    // data; `ctx` outlives the call (a backend does not keep the context's address past the
    // call: the runtime's own records are the only long-lived contexts it may rely on, and
    // this record is equal to one of them field by field).
    unsafe {
        wes_core::unwind::call_array(store_ctx, entry.call, &ctx as *const VMFuncContext as *mut u8, caller, args)
    }
}

/// The array-call entry of a tiered module's function.
///
/// # Safety
///
/// `callee_vmctx` must be the [`VMFuncContext`] the runtime built for this function of a tiered
/// module (its data a [`TierFunc`] of that module, alive while the instance is), and
/// `caller_vmctx`/`args` as for any array call of the function.
pub(crate) unsafe extern "C" fn tier_entry(callee_vmctx: *mut u8, caller_vmctx: *mut u8, args: *mut ValRaw) -> u8 {
    // SAFETY: by this function's contract, `callee_vmctx` is the function's context record and
    // its data the `TierFunc` the tiered module owns, which the instance keeps alive.
    let (vmctx, func) = unsafe {
        let ctx = &*(callee_vmctx as *const VMFuncContext);
        (ctx.vmctx, &*(ctx.data as *const TierFunc))
    };
    let entry = match func.shared.upper.get().and_then(|(_, entries)| entries.get(func.index as usize)) {
        Some(Some(upper)) => *upper,
        _ => func.lower,
    };
    // SAFETY: both tiers compiled this very module, so either entry is one of this instance's
    // function `func.index` (same signature, same vmctx layout); the caller vouches for the
    // rest.
    unsafe { call_entry(entry, vmctx, caller_vmctx, args) }
}
