//! The host-function trampoline: the array-call entry of every host function.

use super::*;

/// The array-call entry point of a host function whose closure has type `F`; each host
/// function's record points to the instance for its own closure type, so the closure is
/// called directly rather than through its `dyn` vtable.
///
/// `callee_vmctx` is the function's [`HostFuncCtx`]; `caller_vmctx` the calling instance's
/// context, or null when the embedder calls the function directly.
///
/// # Safety
///
/// `callee_vmctx` must be the `HostFuncCtx` of a host function of a store that is inside
/// [`call`], whose data was made with this `F` (its `trampoline` is this function),
/// `caller_vmctx` null or a live instance context of that store, and `args` a 16-byte aligned
/// buffer of `max(params, results)` slots (or null if that is zero).
pub(crate) unsafe extern "C" fn host_trampoline<F>(
    callee_vmctx: *mut u8,
    caller_vmctx: *mut u8,
    args: *mut ValRaw,
) -> u8
where
    F: Fn(&mut crate::host::Caller<'_>, &wes_core::FuncType, &mut [ValRaw]) -> Result<(), crate::HostError>
        + Send
        + Sync
        + 'static,
{
    // SAFETY: a host function's `FuncRef` record always carries its own `HostFuncCtx` as vmctx,
    // and the store it names is the one executing (it is inside `vm::call`). The context is
    // boxed in the function's store entry, and entries live as long as the store: nothing the
    // host function can reach through its `Caller` removes or moves it, so borrowing the
    // `HostFuncData` it holds for the call is sound and spares an `Arc` clone per call. The
    // data was made by `host::make_data::<F>`, which unsized a `HostFuncData<F>` and recorded
    // this very instance as its trampoline (and the record's `call` is that trampoline), so
    // the `dyn` data is a `HostFuncData<F>` and the cast back to it is exact.
    let (store, host) = unsafe {
        let ctx = &*(callee_vmctx as *const HostFuncCtx);
        let data = Arc::as_ptr(&ctx.host) as *const HostFuncData<F>;
        (&mut *(*ctx.store).store, &*data)
    };
    let caller = if caller_vmctx.is_null() {
        None
    } else {
        // SAFETY: a non-null caller vmctx is the live `VMContext` of the calling instance.
        Some(unsafe { (*(caller_vmctx as *const VMContext)).instance })
    };
    let slots: &mut [ValRaw] = if host.slots == 0 {
        // Callers may pass a null buffer when there is nothing to pass.
        &mut []
    } else {
        // SAFETY: the caller passes a 16-byte aligned buffer of `max(params, results)` slots
        // for this signature (`host.slots`), which is non-empty here, and no other reference
        // to it exists during the call.
        unsafe { std::slice::from_raw_parts_mut(args, host.slots) }
    };
    // The host call's base cost is charged before the host function runs.
    if let Err(code) = store.charge_host_call() {
        store.record_trap(code, None);
        return CALL_TRAPPED;
    }
    store.stats.host_calls += 1;
    let outcome = std::panic::catch_unwind(AssertUnwindSafe(|| {
        let mut caller = crate::host::Caller::new(store, caller);
        (host.call)(&mut caller, &host.ty, slots)
    }));
    match outcome {
        Ok(Ok(())) => CALL_RETURNED,
        Ok(Err(e)) => host_failed(store, e),
        Err(payload) => host_panicked(store, payload),
    }
}

/// Records the trap of a host function that returned an error; the status to return.
#[cold]
#[inline(never)]
fn host_failed(store: &mut StoreInner, e: crate::HostError) -> u8 {
    match e.trap_code() {
        Some(code) => match e.into_inner_trap() {
            Some(inner) => store.record_inner_trap(inner),
            None => store.record_trap(code, None),
        },
        None => store.record_trap(TrapCode::HostError, Some(e.to_string())),
    }
    CALL_TRAPPED
}

/// Records the trap of a host function that panicked; the status to return.
#[cold]
#[inline(never)]
fn host_panicked(store: &mut StoreInner, payload: Box<dyn std::any::Any + Send>) -> u8 {
    let what =
        payload.downcast_ref::<&str>().map(|s| s.to_string()).or_else(|| payload.downcast_ref::<String>().cloned());
    let message = match what {
        Some(w) => format!("host function panicked: {w}"),
        None => "host function panicked".to_string(),
    };
    store.record_trap(TrapCode::HostError, Some(message));
    CALL_TRAPPED
}
