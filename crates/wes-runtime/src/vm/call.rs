//! Entering wasm: the dedicated native stack calls run on, the entry itself and the loop that
//! makes pending tail calls.

use super::*;

/// A reserved native stack for wasm calls.
pub(crate) struct WasmStack {
    stack: corosensei::stack::DefaultStack,
    size: usize,
}

impl std::fmt::Debug for WasmStack {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WasmStack").field("size", &self.size).finish()
    }
}

impl WasmStack {
    pub(crate) fn new(size: usize) -> std::io::Result<WasmStack> {
        Ok(WasmStack { stack: corosensei::stack::DefaultStack::new(size)?, size })
    }

    pub(crate) fn size(&self) -> usize {
        self.size
    }
}

/// Calls the function behind `func` with the array call, on `stack`, and makes the tail
/// calls it ends with (see [`CALL_TAIL`]) until one returns; its `results` results are then
/// copied into `args`.
///
/// Returns `false` if the call trapped (the trap is recorded in the store).
///
/// # Safety
///
/// `func` must point to a live `VMFuncRef` of the store behind `ctx`, `ctx.store` must point
/// to that store and no reference to the store may be used until this returns, and `args` must
/// hold `max(params, results)` slots of the function's signature with the arguments in them.
pub(crate) unsafe fn enter_wasm(
    func: *const VMFuncRef,
    args: &mut [ValRaw],
    results: usize,
    ctx: *mut VMStoreContext,
    stack: &mut WasmStack,
) -> bool {
    // SAFETY: `func` is live by this function's contract.
    let (call, vmctx) = unsafe { ((*func).call, (*func).vmctx) };
    // SAFETY: `ctx` is valid by this function's contract and nothing else accesses it now.
    let frames_left = unsafe { (*ctx).frames_left };
    let args = args.as_mut_ptr();
    corosensei::on_stack(&mut stack.stack, move || {
        // SAFETY: `call` is an array-call entry point (compiled by a backend for this
        // signature, or the host trampoline), `vmctx` is the context it was made for, and
        // `args` has enough slots; all by this function's contract.
        let mut status = unsafe { call(vmctx, std::ptr::null_mut(), args) };
        if status != CALL_TAIL {
            return status == CALL_RETURNED;
        }
        // SAFETY: a function returning `CALL_TAIL` has just written a live callee record of
        // this store, the calling instance's vmctx and the arguments into the store context
        // and its tail-call buffer (which always has `TAIL_CALL_SLOTS` slots, enough for any
        // signature); `ctx` is valid by this function's contract.
        unsafe {
            let buffer = (*ctx).tail_args;
            while status == CALL_TAIL {
                let (callee, caller) = ((*ctx).tail_callee, (*ctx).tail_caller);
                // The tail callee takes the frame of the function that tail-called, the first
                // of this call: it may open as many frames as that one could.
                (*ctx).frames_left = frames_left;
                status = ((*callee).call)((*callee).vmctx, caller, buffer);
            }
            if status == CALL_RETURNED {
                std::ptr::copy_nonoverlapping(buffer, args, results);
            }
        }
        status == CALL_RETURNED
    })
}

/// Calls function `func` of `store` with the arguments in `args` (at least
/// `max(params, results)` slots, already type-checked), leaving the results there.
///
/// Returns `Ok(false)` if the call trapped; the trap is then recorded in the store.
pub(crate) fn call(store: &mut StoreInner, func: u32, args: &mut [ValRaw]) -> Result<bool, crate::RuntimeError> {
    let ty = store.func_ty(func).ok_or(crate::RuntimeError::WrongStore)?;
    if args.len() < ty.params().len().max(ty.results().len()) {
        return Err(crate::RuntimeError::TypeMismatch("argument buffer too small".into()));
    }
    let results = ty.results().len();
    let f = store.func_ptr(func).ok_or(crate::RuntimeError::WrongStore)?;
    let mut stack = store.take_stack()?;
    // Load the meter's remaining gas into the counter compiled code decrements; before `me`
    // is made, so the store reference is not used while compiled code holds the pointer.
    store.gas_enter();
    let ctx = store.store_ctx();
    let limit = store.engine().config().max_call_depth;
    let me: *mut StoreInner = store;
    // SAFETY: `ctx` is the store's own context (boxed, alive as long as the store) and is
    // only ever accessed through this pointer; nothing else touches it during this write.
    let saved_frames = unsafe {
        (*ctx).store = me;
        std::mem::replace(&mut (*ctx).frames_left, limit)
    };
    // SAFETY: `f` is a live `FuncRef` record of this store (looked up above), `ctx` is its
    // context and `(*ctx).store` is the store and `store` is not used until the call returns (only `me` is, by libcalls and
    // host calls nested in this call), and `args` was checked to be large enough.
    let ok = unsafe { enter_wasm(f, args, results, ctx, &mut stack) };
    store.gas_leave();
    // SAFETY: as for the first access of `ctx`; the wasm call has returned.
    unsafe {
        (*ctx).frames_left = saved_frames;
        (*ctx).store = std::ptr::null_mut();
    }
    store.put_stack(stack);
    Ok(ok)
}

// SAFETY: every raw pointer a store holds points into memory the store itself owns (boxed
// objects, vectors) or into code kept alive by the `Arc`s it holds, and host functions are
// `Send + Sync`; nothing is tied to the thread that created the store, and `&mut` access is
// required for everything that runs code or mutates state.
unsafe impl Send for StoreInner {}
