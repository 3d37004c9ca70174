//! The raw machinery under the store: the `#[repr(C)]` structures compiled code reads, the
//! libcalls it calls, the host-function trampoline, and the entry into wasm. This is the one
//! module of wes-runtime with `unsafe`; every block says why it holds.
//!
//! # Stack strategy
//!
//! Wasm calls run on a dedicated stack, switched to with `corosensei::on_stack`, whose size is
//! computed from the configured call-depth limit: `limit × (largest frame of any module in the
//! store + slack) + host reserve`. The backends report each module's largest native frame
//! ([`CompiledModule::max_frame_size`](wes_core::backend::CompiledModule::max_frame_size)), and
//! compiled code counts the frames left at every function entry, so a runaway recursion always meets
//! the depth limit (a deterministic number of wasm frames, the same on every machine) before
//! the native stack can run out. The host reserve covers libcalls and host functions, which
//! never call back into wasm. A guard page below the stack turns a bug in this arithmetic into
//! a crash rather than memory corruption. A module whose frames would make that stack larger
//! than `Config::max_wasm_stack` is refused at instantiation, so the limit stays a promise the
//! host can afford.
//!
//! A per-call frame-cost budget was the alternative; it would make the limit depend on
//! Cranelift's register allocation, which is exactly what must not leak into results.
//!
//! # Aliasing
//!
//! While wasm runs, the store is reached only through the raw pointer in [`VMStoreContext`]:
//! the safe API turns its `&mut Store` into that pointer before entering wasm and does not use
//! the reference again until wasm returns, and libcalls and host calls (which run strictly
//! nested inside that call, on the same thread) rebuild a `&mut StoreInner` from the pointer
//! for their duration only.

use std::panic::AssertUnwindSafe;

use wes_core::backend::{ArrayCallFn, CALL_RETURNED, CALL_TAIL, CALL_TRAPPED, ValRaw};
use wes_core::vm::{self as layout, Libcall};
use wes_core::{TrapCode, Value};

use crate::store::StoreInner;

/// Per-store state compiled code reads and writes (see [`wes_core::vm`]).
#[repr(C)]
#[derive(Debug)]
pub(crate) struct VMStoreContext {
    /// See [`wes_core::vm::STORE_FRAMES_LEFT`].
    pub(crate) frames_left: u32,
    pub(crate) store: *mut StoreInner,
    /// The pending tail call (see [`wes_core::backend::CALL_TAIL`]): callee, caller, and the
    /// buffer of [`layout::TAIL_CALL_SLOTS`] slots with its arguments, owned by the store.
    pub(crate) tail_callee: *const VMFuncRef,
    pub(crate) tail_caller: *mut u8,
    pub(crate) tail_args: *mut ValRaw,
    /// Gas left for metered code; see [`wes_core::vm::STORE_GAS`].
    pub(crate) gas: u64,
}

/// The gas counter of the store context `ctx`.
///
/// `ctx` must be the pointer from [`StoreInner::store_ctx`]: the store's own boxed context.
pub(crate) fn gas_counter(ctx: *mut VMStoreContext) -> u64 {
    // SAFETY: `ctx` is the store's boxed context (by this function's contract), alive as long as
    // the store, and only accessed through this pointer on the thread using the store.
    unsafe { (*ctx).gas }
}

/// Sets the gas counter of the store context `ctx` (the pointer from
/// [`StoreInner::store_ctx`]).
pub(crate) fn set_gas_counter(ctx: *mut VMStoreContext, gas: u64) {
    // SAFETY: as for `gas_counter`.
    unsafe { (*ctx).gas = gas }
}

/// A function-reference record. Boxed by the store, so its address is stable: the address is
/// the `funcref` value.
#[repr(C)]
#[derive(Debug)]
pub(crate) struct VMFuncRef {
    pub(crate) call: ArrayCallFn,
    pub(crate) vmctx: *mut u8,
    pub(crate) type_id: u32,
    pub(crate) store_index: u32,
}

/// Where a memory's bytes are and how many there are.
#[repr(C)]
#[derive(Debug)]
pub(crate) struct VMMemoryDef {
    pub(crate) base: *mut u8,
    pub(crate) length: u64,
}

/// Where a table's elements are and how many there are.
#[repr(C)]
#[derive(Debug)]
pub(crate) struct VMTableDef {
    pub(crate) base: *mut u64,
    pub(crate) length: u64,
}

/// The instance context. The header up to `instance` is the layout of [`wes_core::vm`].
#[repr(C)]
#[derive(Debug)]
pub(crate) struct VMContext {
    pub(crate) store: *mut VMStoreContext,
    pub(crate) libcalls: *const usize,
    pub(crate) funcs: *const *const VMFuncRef,
    pub(crate) memories: *const *mut VMMemoryDef,
    pub(crate) tables: *const *mut VMTableDef,
    pub(crate) globals: *const *mut ValRaw,
    pub(crate) type_ids: *const u32,
    /// The instance's index in its store (runtime-private).
    pub(crate) instance: usize,
}

/// The `vmctx` of a host function: enough to find the store and the function.
#[repr(C)]
#[derive(Debug)]
pub(crate) struct HostFuncCtx {
    pub(crate) store: *mut VMStoreContext,
    pub(crate) func: u32,
}

// The layout contract, checked at compile time.
const _: () = {
    use std::mem::offset_of;
    assert!(offset_of!(VMContext, store) == layout::VMCTX_STORE as usize);
    assert!(offset_of!(VMContext, libcalls) == layout::VMCTX_LIBCALLS as usize);
    assert!(offset_of!(VMContext, funcs) == layout::VMCTX_FUNCS as usize);
    assert!(offset_of!(VMContext, memories) == layout::VMCTX_MEMORIES as usize);
    assert!(offset_of!(VMContext, tables) == layout::VMCTX_TABLES as usize);
    assert!(offset_of!(VMContext, globals) == layout::VMCTX_GLOBALS as usize);
    assert!(offset_of!(VMContext, type_ids) == layout::VMCTX_TYPE_IDS as usize);
    assert!(offset_of!(VMContext, instance) == layout::VMCTX_HEADER_SIZE as usize);
    assert!(offset_of!(VMStoreContext, frames_left) == layout::STORE_FRAMES_LEFT as usize);
    assert!(offset_of!(VMStoreContext, tail_callee) == layout::STORE_TAIL_CALLEE as usize);
    assert!(offset_of!(VMStoreContext, tail_caller) == layout::STORE_TAIL_CALLER as usize);
    assert!(offset_of!(VMStoreContext, tail_args) == layout::STORE_TAIL_ARGS as usize);
    assert!(offset_of!(VMStoreContext, gas) == layout::STORE_GAS as usize);
    assert!(offset_of!(VMFuncRef, call) == layout::FUNCREF_CALL as usize);
    assert!(offset_of!(VMFuncRef, vmctx) == layout::FUNCREF_VMCTX as usize);
    assert!(offset_of!(VMFuncRef, type_id) == layout::FUNCREF_TYPE_ID as usize);
    assert!(offset_of!(VMMemoryDef, base) == layout::MEMORY_BASE as usize);
    assert!(offset_of!(VMMemoryDef, length) == layout::MEMORY_LENGTH as usize);
    assert!(offset_of!(VMTableDef, base) == layout::TABLE_BASE as usize);
    assert!(offset_of!(VMTableDef, length) == layout::TABLE_LENGTH as usize);
    assert!(std::mem::size_of::<ValRaw>() == layout::VALRAW_SIZE as usize);
    assert!(std::mem::size_of::<usize>() == layout::POINTER_SIZE as usize);
};

/// The libcall table every vmctx points to, in [`Libcall::ALL`] order.
pub(crate) struct LibcallTable([*const (); 12]);

// SAFETY: the table is immutable and holds addresses of functions, which are valid from any
// thread.
unsafe impl Sync for LibcallTable {}

impl LibcallTable {
    pub(crate) fn as_ptr(&self) -> *const usize {
        self.0.as_ptr().cast()
    }
}

pub(crate) static LIBCALLS: LibcallTable = LibcallTable([
    lc_trap as *const (),
    lc_memory_grow as *const (),
    lc_memory_fill as *const (),
    lc_memory_copy as *const (),
    lc_memory_init as *const (),
    lc_data_drop as *const (),
    lc_table_grow as *const (),
    lc_table_fill as *const (),
    lc_table_copy as *const (),
    lc_table_init as *const (),
    lc_elem_drop as *const (),
    lc_out_of_gas as *const (),
]);

const _: () = assert!(LIBCALLS.0.len() == Libcall::ALL.len());

/// Runs `f` with the store and the instance index behind `vmctx`.
///
/// # Safety
///
/// `vmctx` must be the context of a live instance, called from compiled code while its store
/// is inside [`enter_wasm`] (so the store pointer is set and no other reference to the store is
/// in use).
unsafe fn with_store<R>(vmctx: *mut VMContext, f: impl FnOnce(&mut StoreInner, usize) -> R) -> R {
    // SAFETY: by the contract of this function, `vmctx` points to a live `VMContext` whose
    // store context's `store` points to the store currently executing wasm, and nothing else
    // uses that store until this libcall returns.
    let (store, instance) = unsafe {
        let ctx = &*vmctx;
        (&mut *(*ctx.store).store, ctx.instance)
    };
    f(store, instance)
}

/// Converts a libcall's `Result` to the status compiled code expects, recording the trap.
fn status(store: &mut StoreInner, r: Result<(), TrapCode>) -> u32 {
    match r {
        Ok(()) => 1,
        Err(code) => {
            store.record_trap(code, None);
            0
        }
    }
}

/// [`Libcall::Trap`].
///
/// # Safety
///
/// As [`with_store`]: only compiled code calls this, with its own vmctx.
unsafe extern "C" fn lc_trap(vmctx: *mut VMContext, code: u32, func_index: u32, offset: u32) {
    // SAFETY: called only by compiled code with its own vmctx.
    unsafe {
        with_store(vmctx, |s, i| {
            if let Some(code) = layout::trap_code_from_raw(code) {
                let detail = (code == TrapCode::CallStackExhausted)
                    .then(|| format!("more than {} nested wasm calls", s.engine().config().max_call_depth));
                s.record_trap(code, detail);
            }
            s.record_frame(i, func_index, offset);
        })
    }
}

/// The encoding of a grow libcall's result: the old size or -1 in the low 32 bits, or -1 as an
/// `i64` when the grow trapped (the trap is recorded).
fn grow_status(store: &mut StoreInner, r: Result<u32, TrapCode>) -> i64 {
    match r {
        Ok(v) => i64::from(v),
        Err(code) => {
            store.record_trap(code, None);
            -1
        }
    }
}

/// [`Libcall::MemoryGrow`].
///
/// # Safety
///
/// As [`with_store`]: only compiled code calls this, with its own vmctx.
unsafe extern "C" fn lc_memory_grow(vmctx: *mut VMContext, mem: u32, delta: u32) -> i64 {
    // SAFETY: called only by compiled code with its own vmctx.
    unsafe {
        with_store(vmctx, |s, i| {
            let r = s.memory_grow(i, mem, delta);
            grow_status(s, r)
        })
    }
}

/// [`Libcall::MemoryFill`].
///
/// # Safety
///
/// As [`with_store`]: only compiled code calls this, with its own vmctx.
unsafe extern "C" fn lc_memory_fill(vmctx: *mut VMContext, mem: u32, dst: u32, val: u32, len: u32) -> u32 {
    // SAFETY: called only by compiled code with its own vmctx.
    unsafe {
        with_store(vmctx, |s, i| {
            let r = s.memory_fill(i, mem, dst, val as u8, len);
            status(s, r)
        })
    }
}

/// [`Libcall::MemoryCopy`].
///
/// # Safety
///
/// As [`with_store`]: only compiled code calls this, with its own vmctx.
unsafe extern "C" fn lc_memory_copy(vmctx: *mut VMContext, dm: u32, sm: u32, dst: u32, src: u32, len: u32) -> u32 {
    // SAFETY: called only by compiled code with its own vmctx.
    unsafe {
        with_store(vmctx, |s, i| {
            let r = s.memory_copy(i, dm, sm, dst, src, len);
            status(s, r)
        })
    }
}

/// [`Libcall::MemoryInit`].
///
/// # Safety
///
/// As [`with_store`]: only compiled code calls this, with its own vmctx.
unsafe extern "C" fn lc_memory_init(vmctx: *mut VMContext, mem: u32, data: u32, dst: u32, src: u32, len: u32) -> u32 {
    // SAFETY: called only by compiled code with its own vmctx.
    unsafe {
        with_store(vmctx, |s, i| {
            let r = s.memory_init(i, mem, data, dst, src, len);
            status(s, r)
        })
    }
}

/// [`Libcall::DataDrop`].
///
/// # Safety
///
/// As [`with_store`]: only compiled code calls this, with its own vmctx.
unsafe extern "C" fn lc_data_drop(vmctx: *mut VMContext, data: u32) {
    // SAFETY: called only by compiled code with its own vmctx.
    unsafe { with_store(vmctx, |s, i| s.data_drop(i, data)) }
}

/// [`Libcall::TableGrow`].
///
/// # Safety
///
/// As [`with_store`]: only compiled code calls this, with its own vmctx.
unsafe extern "C" fn lc_table_grow(vmctx: *mut VMContext, table: u32, init: u64, delta: u32) -> i64 {
    // SAFETY: called only by compiled code with its own vmctx.
    unsafe {
        with_store(vmctx, |s, i| {
            let r = s.table_grow(i, table, init, delta);
            grow_status(s, r)
        })
    }
}

/// [`Libcall::TableFill`].
///
/// # Safety
///
/// As [`with_store`]: only compiled code calls this, with its own vmctx.
unsafe extern "C" fn lc_table_fill(vmctx: *mut VMContext, table: u32, dst: u32, val: u64, len: u32) -> u32 {
    // SAFETY: called only by compiled code with its own vmctx.
    unsafe {
        with_store(vmctx, |s, i| {
            let r = s.table_fill(i, table, dst, val, len);
            status(s, r)
        })
    }
}

/// [`Libcall::TableCopy`].
///
/// # Safety
///
/// As [`with_store`]: only compiled code calls this, with its own vmctx.
unsafe extern "C" fn lc_table_copy(vmctx: *mut VMContext, dt: u32, st: u32, dst: u32, src: u32, len: u32) -> u32 {
    // SAFETY: called only by compiled code with its own vmctx.
    unsafe {
        with_store(vmctx, |s, i| {
            let r = s.table_copy(i, dt, st, dst, src, len);
            status(s, r)
        })
    }
}

/// [`Libcall::TableInit`].
///
/// # Safety
///
/// As [`with_store`]: only compiled code calls this, with its own vmctx.
unsafe extern "C" fn lc_table_init(vmctx: *mut VMContext, table: u32, elem: u32, dst: u32, src: u32, len: u32) -> u32 {
    // SAFETY: called only by compiled code with its own vmctx.
    unsafe {
        with_store(vmctx, |s, i| {
            let r = s.table_init(i, table, elem, dst, src, len);
            status(s, r)
        })
    }
}

/// [`Libcall::OutOfGas`].
///
/// # Safety
///
/// As [`with_store`]: only compiled code calls this, with its own vmctx.
unsafe extern "C" fn lc_out_of_gas(vmctx: *mut VMContext, cost: u64) -> u32 {
    // SAFETY: called only by compiled code with its own vmctx.
    unsafe { with_store(vmctx, |s, _| u32::from(s.refill_gas(cost))) }
}

/// [`Libcall::ElemDrop`].
///
/// # Safety
///
/// As [`with_store`]: only compiled code calls this, with its own vmctx.
unsafe extern "C" fn lc_elem_drop(vmctx: *mut VMContext, elem: u32) {
    // SAFETY: called only by compiled code with its own vmctx.
    unsafe { with_store(vmctx, |s, i| s.elem_drop(i, elem)) }
}

/// The array-call entry point of every host function.
///
/// `callee_vmctx` is the function's [`HostFuncCtx`]; `caller_vmctx` the calling instance's
/// context, or null when the embedder calls the function directly.
///
/// # Safety
///
/// `callee_vmctx` must be the `HostFuncCtx` of a host function of a store that is inside
/// [`call`], `caller_vmctx` null or a live instance context of that store, and `args` a
/// 16-byte aligned buffer of `max(params, results)` slots (or null if that is zero).
pub(crate) unsafe extern "C" fn host_trampoline(callee_vmctx: *mut u8, caller_vmctx: *mut u8, args: *mut ValRaw) -> u8 {
    // SAFETY: a host function's `FuncRef` record always carries its own `HostFuncCtx` as vmctx,
    // and the store it names is the one executing (it is inside `enter_wasm`).
    let (store, func) = unsafe {
        let ctx = &*(callee_vmctx as *const HostFuncCtx);
        (&mut *(*ctx.store).store, ctx.func)
    };
    let caller = if caller_vmctx.is_null() {
        None
    } else {
        // SAFETY: a non-null caller vmctx is the live `VMContext` of the calling instance.
        Some(unsafe { (*(caller_vmctx as *const VMContext)).instance })
    };
    let Some((ty, callable)) = store.host_func(func) else {
        store.record_trap(TrapCode::HostError, Some("not a host function".into()));
        return CALL_TRAPPED;
    };
    let n = ty.params().len().max(ty.results().len());
    let slots: &mut [ValRaw] = if n == 0 {
        // Callers may pass a null buffer when there is nothing to pass.
        &mut []
    } else {
        // SAFETY: the caller passes a 16-byte aligned buffer of `max(params, results)` slots
        // for this signature, which is non-empty here.
        unsafe { std::slice::from_raw_parts_mut(args, n) }
    };
    let base = store.host_call_cost();
    if let Err(code) = store.charge_gas(wes_meter::ChargeKind::HostCall, base) {
        store.record_trap(code, None);
        return CALL_TRAPPED;
    }
    let params: Vec<Value> =
        ty.params().iter().zip(slots.iter()).map(|(t, raw)| store.raw_to_value(*raw, *t)).collect();
    let mut results: Vec<Value> = ty.results().iter().map(|t| Value::default_for(*t)).collect();
    let outcome = std::panic::catch_unwind(AssertUnwindSafe(|| {
        let mut caller = crate::host::Caller::new(store, caller);
        callable(&mut caller, &params, &mut results)
    }));
    let failure = match outcome {
        Ok(Ok(())) => None,
        Ok(Err(e)) => match e.trap_code() {
            Some(code) => Some((code, None)),
            None => Some((TrapCode::HostError, Some(e.to_string()))),
        },
        Err(payload) => {
            let what = payload
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| payload.downcast_ref::<String>().cloned());
            Some((
                TrapCode::HostError,
                Some(match what {
                    Some(w) => format!("host function panicked: {w}"),
                    None => "host function panicked".to_string(),
                }),
            ))
        }
    };
    if let Some((code, message)) = failure {
        store.record_trap(code, message);
        return CALL_TRAPPED;
    }
    for (i, (t, v)) in ty.results().iter().zip(&results).enumerate() {
        if v.ty() != *t {
            let m = format!("host function returned {} for result {i} of type {t}", v.ty());
            store.record_trap(TrapCode::HostError, Some(m));
            return CALL_TRAPPED;
        }
        match store.value_to_raw(*v) {
            Some(raw) => slots[i] = raw,
            None => {
                store.record_trap(TrapCode::HostError, Some("host function returned a foreign funcref".into()));
                return CALL_TRAPPED;
            }
        }
    }
    CALL_RETURNED
}

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

/// The bytes of a linear memory: one zero-initialised heap block.
///
/// A fresh block comes from `alloc_zeroed`, which for large sizes maps zero pages the OS
/// provides lazily, so declaring a big memory costs address space, not time or resident memory,
/// until the pages are used. Growing reallocates (in place when the allocator can) and zeroes
/// only the new part. Allocation failure is reported, never an abort, so `memory.grow` can
/// return -1.
pub(crate) struct LinearMemory {
    /// Points to `len` initialised bytes allocated with [`LinearMemory::layout`], or is
    /// dangling when `len` is 0.
    ptr: std::ptr::NonNull<u8>,
    len: usize,
}

impl std::fmt::Debug for LinearMemory {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LinearMemory").field("len", &self.len).finish()
    }
}

// SAFETY: `LinearMemory` uniquely owns its block, like a `Vec<u8>`.
unsafe impl Send for LinearMemory {}
// SAFETY: shared access only reads, like a `Vec<u8>`.
unsafe impl Sync for LinearMemory {}

impl LinearMemory {
    const ALIGN: usize = 16;

    fn layout(len: usize) -> Option<std::alloc::Layout> {
        std::alloc::Layout::from_size_align(len, Self::ALIGN).ok()
    }

    fn dangling() -> std::ptr::NonNull<u8> {
        // An aligned, non-null address that is never dereferenced (the length is 0).
        std::ptr::NonNull::<u128>::dangling().cast()
    }

    /// `len` zero bytes, or `None` if they cannot be allocated.
    pub(crate) fn new(len: usize) -> Option<LinearMemory> {
        if len == 0 {
            return Some(LinearMemory { ptr: Self::dangling(), len: 0 });
        }
        let layout = Self::layout(len)?;
        // SAFETY: `layout` has a non-zero size.
        let ptr = std::ptr::NonNull::new(unsafe { std::alloc::alloc_zeroed(layout) })?;
        Some(LinearMemory { ptr, len })
    }

    /// Grows to `new_len` bytes (at least the current length), zeroing the new ones; `false`
    /// if the memory cannot be allocated, in which case nothing changed.
    pub(crate) fn grow_to(&mut self, new_len: usize) -> bool {
        if new_len <= self.len {
            return new_len == self.len;
        }
        if self.len == 0 {
            return match LinearMemory::new(new_len) {
                Some(m) => {
                    *self = m;
                    true
                }
                None => false,
            };
        }
        let (Some(old), Some(_)) = (Self::layout(self.len), Self::layout(new_len)) else { return false };
        // SAFETY: `self.ptr` was allocated with `old` (the layout of `self.len` bytes), and
        // `new_len` is non-zero and fits a layout (checked above).
        let grown = unsafe { std::alloc::realloc(self.ptr.as_ptr(), old, new_len) };
        let Some(ptr) = std::ptr::NonNull::new(grown) else { return false };
        // SAFETY: the block now has `new_len` bytes, of which the first `self.len` are kept
        // by `realloc`; this initialises the rest.
        unsafe { ptr.as_ptr().add(self.len).write_bytes(0, new_len - self.len) };
        self.ptr = ptr;
        self.len = new_len;
        true
    }
}

impl std::ops::Deref for LinearMemory {
    type Target = [u8];

    fn deref(&self) -> &[u8] {
        // SAFETY: `ptr` points to `len` initialised bytes owned by `self` (or is dangling and
        // aligned with `len == 0`).
        unsafe { std::slice::from_raw_parts(self.ptr.as_ptr(), self.len) }
    }
}

impl std::ops::DerefMut for LinearMemory {
    fn deref_mut(&mut self) -> &mut [u8] {
        // SAFETY: as for `deref`, and `&mut self` makes this the only access.
        unsafe { std::slice::from_raw_parts_mut(self.ptr.as_ptr(), self.len) }
    }
}

impl Drop for LinearMemory {
    fn drop(&mut self) {
        if let (true, Some(layout)) = (self.len > 0, Self::layout(self.len)) {
            // SAFETY: a non-empty block was allocated with exactly this layout and is freed once.
            unsafe { std::alloc::dealloc(self.ptr.as_ptr(), layout) };
        }
    }
}
