//! The host-function trampoline: the array-call entry of every host function.

use super::*;

/// The array-call entry point of a host function whose closure has type `F`; each host
/// function's record points to the instance for its own closure type, so the closure is
/// called directly rather than through its `dyn` vtable.
///
/// `callee_vmctx` is the function's [`HostFuncCtx`]; `caller_vmctx` the calling instance's
/// context, or null when the embedder calls the function directly.
///
/// The store's host-call cost is paid from the gas counter when that needs no call; when the
/// cost needs the meter, the whole call is [`host_checked`]'s, reached by a jump with the
/// arguments as they came, so that the common path saves nothing for it. A gated function
/// (see [`Gate`](crate::host::Gate)) is entered here only while its gate is open: closed, its
/// records point at [`host_checked`] instead, so the gate costs this path nothing.
///
/// # Safety
///
/// `callee_vmctx` must be the `HostFuncCtx` of a host function of a store that is inside
/// [`call`], whose data was made with this `F` (its `trampoline` is this function, its
/// `checked` the same `F`'s [`host_checked`]),
/// `caller_vmctx` null or a live instance context of that store, and `args` a 16-byte aligned
/// buffer of `max(params, results)` slots (or null if that is zero).
pub(crate) unsafe extern "C" fn host_trampoline<F>(
    callee_vmctx: *mut u8,
    caller_vmctx: *mut u8,
    args: *mut ValRaw,
) -> u8
where
    F: crate::host::HostCall + 'static,
{
    // SAFETY: this function's contract, which `host_data` and `host_store` share.
    let (host, store) = unsafe { (host_data::<F>(callee_vmctx), host_store(callee_vmctx)) };
    if !store.charge_host_call_inline() {
        // SAFETY: the arguments as this function received them, under the same contract.
        return unsafe { host_checked::<F>(callee_vmctx, caller_vmctx, args) };
    }
    // SAFETY: as above; `host` is `callee_vmctx`'s.
    unsafe { host_call::<F, false>(host, store, caller_vmctx, args) }
}

/// The cold entry of a host function: a call whose base cost the gas counter could not pay
/// inline (nothing charged yet; [`host_trampoline`] jumps here), or a call of a gated function
/// while its gate is closed (its records point here). The cost charged, then the closer check
/// ([`HostCall::check`](crate::host::HostCall::check)) if the gate is still closed, then the
/// call.
///
/// # Safety
///
/// As [`host_trampoline`].
#[inline(never)]
pub(crate) unsafe extern "C" fn host_checked<F>(callee_vmctx: *mut u8, caller_vmctx: *mut u8, args: *mut ValRaw) -> u8
where
    F: crate::host::HostCall + 'static,
{
    // SAFETY: this function's contract, which `host_data`, `host_store` and `host_call` share.
    unsafe {
        let (host, store) = (host_data::<F>(callee_vmctx), host_store(callee_vmctx));
        // The host call's base cost is charged before the host function (or its check) runs.
        if let Err(code) = store.charge_host_call() {
            store.record_trap(code, None);
            return CALL_TRAPPED;
        }
        match !host.call.gated() || host.gate.load(std::sync::atomic::Ordering::Acquire) {
            true => host_call::<F, false>(host, store, caller_vmctx, args),
            false => host_call::<F, true>(host, store, caller_vmctx, args),
        }
    }
}

/// The host function's data, borrowed for the call.
///
/// # Safety
///
/// `callee_vmctx` as [`host_trampoline`] requires.
#[inline(always)]
unsafe fn host_data<'a, F: crate::host::HostCall + 'static>(callee_vmctx: *mut u8) -> &'a HostFuncData<F> {
    // SAFETY: a host function's `FuncRef` record always carries its own `HostFuncCtx` as vmctx,
    // boxed in the function's store entry, and entries live as long as the store: nothing the
    // host function can reach through its `Caller` removes or moves it, so borrowing the
    // `HostFuncData` it holds for the call is sound and spares an `Arc` clone per call. The
    // data was made by `host::make_data::<F>`, which unsized a `HostFuncData<F>` and recorded
    // this very instance as its trampoline (and the record's `call` is that trampoline), so
    // the `dyn` data is a `HostFuncData<F>` and the cast back to it is exact.
    unsafe {
        let ctx = &*(callee_vmctx as *const HostFuncCtx);
        &*(ctx.data as *const HostFuncData<F>)
    }
}

/// The store executing the host function.
///
/// # Safety
///
/// `callee_vmctx` as [`host_trampoline`] requires.
#[inline(always)]
unsafe fn host_store<'a>(callee_vmctx: *mut u8) -> &'a mut StoreInner {
    // SAFETY: the store a host function's context names is the one executing (it is inside
    // `vm::call`); the context as in `host_data`.
    unsafe { &mut *(*(*(callee_vmctx as *const HostFuncCtx)).store).store }
}

/// The call, its base cost already paid: the closer check when `CHECK`, the host function, its
/// outcome.
///
/// # Safety
///
/// `host` and `store` are the called function's data and the store executing it
/// ([`host_data`], [`host_store`] of its `callee_vmctx`), and `caller_vmctx` and `args` are as
/// [`host_trampoline`] requires.
#[inline(always)]
unsafe fn host_call<F, const CHECK: bool>(
    host: &HostFuncData<F>,
    store: &mut StoreInner,
    caller_vmctx: *mut u8,
    args: *mut ValRaw,
) -> u8
where
    F: crate::host::HostCall + 'static,
{
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
    store.stats.host_calls += 1;
    let outcome = std::panic::catch_unwind(AssertUnwindSafe(|| {
        if CHECK {
            host.call.check()?;
        }
        let mut caller = crate::host::Caller::new(store, caller);
        host.call.call(&mut caller, &host.ty, slots)
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
