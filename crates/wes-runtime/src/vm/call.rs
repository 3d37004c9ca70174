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

    /// The lowest address the stack may grow down to.
    fn limit(&self) -> usize {
        use corosensei::stack::Stack;
        self.stack.limit().get()
    }

    /// The address the stack grows down from.
    fn base(&self) -> usize {
        use corosensei::stack::Stack;
        self.stack.base().get()
    }
}

/// Calls the function behind `func` with the array call and makes the tail calls it ends
/// with (see [`CALL_TAIL`]) until one returns; its `results` results are then copied into
/// `args`. Every tail callee may open `frames_left` frames, as the function that tail-called.
///
/// Returns `false` if the call trapped (the trap is recorded in the store).
///
/// # Safety
///
/// `func` must point to a live `VMFuncRef` of the store behind `ctx`, `ctx.store` must point
/// to that store and no reference to the store may be used until this returns, `ctx.tail_args`
/// must be a buffer of [`layout::TAIL_CALL_SLOTS`] slots that nothing else uses during the call,
/// `args` must point to `max(params, results)` slots of the function's signature with the
/// arguments in them, and the native stack must have room for `frames_left` frames.
unsafe fn run_call(
    func: *const VMFuncRef,
    args: *mut ValRaw,
    results: usize,
    ctx: *mut VMStoreContext,
    frames_left: u32,
) -> bool {
    // SAFETY: `func` is live by this function's contract.
    let (call, vmctx) = unsafe { ((*func).call(), (*func).vmctx) };
    // SAFETY: `call` is an array-call entry point (compiled by a backend for this signature,
    // or the host trampoline), `vmctx` is the context it was made for, `args` has enough
    // slots, and `ctx` is the store's context; all by this function's contract.
    // The call is the store's innermost entry: a trap in native code unwinds to it.
    let mut status = unsafe { wes_core::unwind::call_array(ctx.cast(), call, vmctx, std::ptr::null_mut(), args) };
    if status != CALL_TAIL {
        return status == CALL_RETURNED;
    }
    // SAFETY: a function returning `CALL_TAIL` has just written a live callee record of this
    // store, the calling instance's vmctx and the arguments into the store context and its
    // tail-call buffer (which has `TAIL_CALL_SLOTS` slots, enough for any signature); `ctx` is
    // valid by this function's contract.
    unsafe {
        let buffer = (*ctx).tail_args;
        while status == CALL_TAIL {
            let (callee, caller) = ((*ctx).tail_callee, (*ctx).tail_caller);
            // The tail callee takes the frame of the function that tail-called, the first of
            // this call: it may open as many frames as that one could.
            (*ctx).frames_left = frames_left;
            status = wes_core::unwind::call_array(ctx.cast(), (*callee).call(), (*callee).vmctx, caller, buffer);
        }
        if status == CALL_RETURNED {
            std::ptr::copy_nonoverlapping(buffer, args, results);
        }
    }
    status == CALL_RETURNED
}

/// The function record, result count and slot count of a call of `func` with `args`.
fn callee(store: &StoreInner, func: u32, args: &[ValRaw]) -> Result<(*const VMFuncRef, usize), crate::RuntimeError> {
    // `let else`, not `ok_or`: the error would be built and dropped on every call.
    let Some(ty) = store.func_ty(func) else { return Err(crate::RuntimeError::WrongStore) };
    if args.len() < ty.params().len().max(ty.results().len()) {
        return Err(crate::RuntimeError::TypeMismatch("argument buffer too small".into()));
    }
    let results = ty.results().len();
    let Some(f) = store.func_ptr(func) else { return Err(crate::RuntimeError::WrongStore) };
    Ok((f, results))
}

/// Calls function `func` of `store` with the arguments in `args` (at least
/// `max(params, results)` slots, already type-checked), leaving the results there. This is
/// the embedder's entry into wasm: it switches to the store's wasm stack and loads the gas
/// counter from the meter.
///
/// Returns `Ok(false)` if the call trapped; the trap is then recorded in the store.
pub(crate) fn call(store: &mut StoreInner, func: u32, args: &mut [ValRaw]) -> Result<bool, crate::RuntimeError> {
    let ctx = store.store_ctx();
    // SAFETY: `ctx` is the store's own context (boxed, alive as long as the store) and is
    // only ever accessed through this pointer; nothing else touches it during this read.
    if unsafe { !(*ctx).store.is_null() } {
        // Only reachable if the runtime itself called in while wasm runs: host functions call
        // back through `reenter`, which runs on the stack already in use.
        return Err(crate::RuntimeError::ResourceLimit("the store is already running wasm".into()));
    }
    let (f, results) = callee(store, func, args)?;
    let mut stack = store.take_stack()?;
    store.reentry.stack_limit = stack.limit();
    // Load the meter's remaining gas into the counter compiled code decrements; before `me`
    // is made, so the store reference is not used while compiled code holds the pointer.
    store.gas_enter();
    let limit = store.engine().config().max_call_depth;
    let me: *mut StoreInner = store;
    // SAFETY: as above; nothing else touches the context during this write.
    let saved_frames = unsafe {
        (*ctx).store = me;
        std::mem::replace(&mut (*ctx).frames_left, limit)
    };
    let args = args.as_mut_ptr();
    // SAFETY: no frame is on the wasm stack between calls.
    unsafe { wes_core::unwind::clear_stack_shadow(stack.limit(), stack.base()) };
    let ok = corosensei::on_stack(&mut stack.stack, move || {
        // SAFETY: `f` is a live `FuncRef` record of this store (looked up above), `ctx` is its
        // context, `(*ctx).store` is the store and `store` is not used until the call returns
        // (only `me` is, by libcalls and host calls nested in this call), the context's
        // tail-call buffer is the store's own, `args` was checked to be large enough, and the
        // stack was sized for `limit` frames of the largest size of any module of the store.
        unsafe { run_call(f, args, results, ctx, limit) }
    });
    store.gas_leave();
    // SAFETY: as for the first access of `ctx`; the wasm call has returned.
    unsafe {
        (*ctx).frames_left = saved_frames;
        (*ctx).store = std::ptr::null_mut();
    }
    store.reentry.stack_limit = 0;
    store.put_stack(stack);
    Ok(ok)
}

/// Calls function `func` of `store` from inside a host function (the store is running wasm,
/// on its wasm stack), with the arguments in `args` as for [`call`].
///
/// The call is an ordinary call of the host function's frame: it goes on on the same stack,
/// with the same gas counter (no settlement with the meter: gas flows exactly as between wasm
/// functions), and with one frame fewer than the host function was given (the host frame
/// counts as a wasm frame, so the depth limit bounds any mix of wasm and host frames). The
/// number of host functions calling into wasm at once is limited by
/// [`Config::max_host_reentry`](crate::Config::max_host_reentry), for which the stack reserves
/// [`Config::host_stack_reserve`](crate::Config::host_stack_reserve) each; past either limit,
/// or if the native stack left is short all the same (a host function using more than its
/// reserve), the call traps with `CallStackExhausted` before it starts.
///
/// Returns `Ok(false)` if the call trapped; the trap is then recorded in the store.
pub(crate) fn reenter(store: &mut StoreInner, func: u32, args: &mut [ValRaw]) -> Result<bool, crate::RuntimeError> {
    let ctx = store.store_ctx();
    // SAFETY: `ctx` is the store's own context; a host function runs strictly inside `call`,
    // on this thread, and nothing else reads or writes the context while it runs.
    if unsafe { (*ctx).store.is_null() } {
        return Err(crate::RuntimeError::ResourceLimit("the store is not running wasm".into()));
    }
    let (f, results) = callee(store, func, args)?;
    // SAFETY: as above.
    let frames_left = unsafe { (*ctx).frames_left };
    let config = store.engine().config();
    let depth = store.reentry.depth;
    if depth >= config.max_host_reentry {
        let detail = format!("more than {} host functions calling into wasm at once", config.max_host_reentry);
        store.record_trap(TrapCode::CallStackExhausted, Some(detail));
        return Ok(false);
    }
    let callee_frames = frames_left.saturating_sub(1);
    let need = store.stack_needed(callee_frames);
    let here = std::ptr::addr_of!(need) as usize;
    if here.saturating_sub(store.reentry.stack_limit) < need {
        let detail = format!("{need} bytes of native stack needed for {callee_frames} frames, not available");
        store.record_trap(TrapCode::CallStackExhausted, Some(detail));
        return Ok(false);
    }
    let buffer = store.reentry_tail_buffer(depth as usize);
    store.reentry.depth += 1;
    let me: *mut StoreInner = store;
    // SAFETY: as above. The nested call reaches the store through `me`, derived from the host
    // function's own `&mut StoreInner`, which is not used until the call returns; the
    // enclosing call's pointer is put back afterwards.
    let saved = unsafe {
        let saved = ((*ctx).store, (*ctx).frames_left, (*ctx).tail_args);
        (*ctx).store = me;
        (*ctx).frames_left = callee_frames;
        (*ctx).tail_args = buffer;
        saved
    };
    // SAFETY: `f` is a live record of this store, `ctx` its context pointing to the store
    // through `me` (nothing else uses the store until this returns), the context's tail-call
    // buffer is this level's own, `args` was checked to be large enough, and the stack has
    // room for `callee_frames` frames (checked above).
    let ok = unsafe { run_call(f, args.as_mut_ptr(), results, ctx, callee_frames) };
    // SAFETY: as above; the nested call has returned.
    unsafe {
        ((*ctx).store, (*ctx).frames_left, (*ctx).tail_args) = saved;
    }
    store.reentry.depth -= 1;
    Ok(ok)
}

// SAFETY: every raw pointer a store holds points into memory the store itself owns (boxed
// objects, vectors) or into code kept alive by the `Arc`s it holds, and host functions are
// `Send + Sync`; nothing is tied to the thread that created the store, and `&mut` access is
// required for everything that runs code or mutates state.
unsafe impl Send for StoreInner {}
