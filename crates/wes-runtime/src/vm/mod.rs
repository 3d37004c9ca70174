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
//! the native stack can run out. The host reserve covers libcalls and host functions; a host
//! function may call back into wasm ([`reenter`]), on the same stack, and each of the at most
//! `Config::max_host_reentry` host functions doing so at once has a reserve of its own, so the
//! stack is `limit × (largest frame + slack) + (max_host_reentry + 1) × host reserve`. A host
//! frame counts as one wasm frame against the depth limit, and before a re-entry the stack
//! left is checked against what the frames left could need, a second line of defence against a
//! host function that uses more than its reserve. A guard page below the stack turns a bug in
//! this arithmetic into a crash rather than memory corruption. A module whose frames would
//! make that stack larger than `Config::max_wasm_stack` is refused at instantiation, so the
//! limit stays a promise the host can afford.
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
//! for their duration only. A host function calling back into wasm hands its own `&mut` over
//! the same way: [`reenter`] puts a pointer derived from it into the store context for the
//! nested call and restores the enclosing call's pointer afterwards, so every access stays
//! derived from the reference of the frame that is running.

mod call;
pub(crate) mod fault;
mod host;
mod libcalls;
mod memory;
mod tier;

pub(crate) use call::{WasmStack, call, reenter};
pub(crate) use host::{host_checked, host_trampoline};
pub(crate) use libcalls::LIBCALLS;
pub(crate) use memory::{LinearMemory, MemoryImage};
pub(crate) use tier::tier_entry;

use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use wes_core::TrapCode;
use wes_core::backend::{ArrayCallFn, CALL_RETURNED, CALL_TAIL, CALL_TRAPPED, FuncEntry, ValRaw};
use wes_core::vm::{self as layout, Libcall};

use crate::host::HostFuncData;
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
    /// Operators executed by code that counts them; see [`wes_core::vm::STORE_OPERATORS`].
    pub(crate) operators: u64,
    /// The innermost entry a trap in native code unwinds to; see [`wes_core::vm::STORE_UNWIND`].
    pub(crate) unwind: *mut wes_core::unwind::UnwindBuf,
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

/// The executed-operator counter of the store context `ctx` (the pointer from
/// [`StoreInner::store_ctx`]).
pub(crate) fn operator_counter(ctx: *mut VMStoreContext) -> u64 {
    // SAFETY: as for `gas_counter`.
    unsafe { (*ctx).operators }
}

/// Sets the executed-operator counter of the store context `ctx` (the pointer from
/// [`StoreInner::store_ctx`]).
pub(crate) fn set_operator_counter(ctx: *mut VMStoreContext, operators: u64) {
    // SAFETY: as for `gas_counter`.
    unsafe { (*ctx).operators = operators }
}

/// A function-reference record. Boxed by the store, so its address is stable: the address is
/// the `funcref` value.
#[repr(C)]
#[derive(Debug)]
pub(crate) struct VMFuncRef {
    /// The array-call entry, an [`ArrayCallFn`] (see [`VMFuncRef::call`]). Atomic because a
    /// gated host function's entry is switched from another thread while the store may be
    /// calling through it (see [`crate::host::Gate`]); compiled code loads it with a plain
    /// load, which on the targets we compile for is the same instruction.
    call: AtomicUsize,
    pub(crate) vmctx: *mut u8,
    pub(crate) type_id: u32,
    pub(crate) store_index: u32,
    /// The backend's native body, or null (see [`wes_core::backend::FuncEntry::body`]).
    pub(crate) body: *const u8,
}

impl VMFuncRef {
    pub(crate) fn new(call: ArrayCallFn, vmctx: *mut u8, type_id: u32, store_index: u32, body: *const u8) -> Self {
        VMFuncRef { call: AtomicUsize::new(call as usize), vmctx, type_id, store_index, body }
    }

    /// The record's array-call entry.
    #[inline]
    pub(crate) fn call(&self) -> ArrayCallFn {
        let call = self.call.load(Ordering::Relaxed);
        // SAFETY: `call` is only ever written from an `ArrayCallFn` (`new`, `set_call`), and a
        // function pointer round-trips through `usize` unchanged.
        unsafe { std::mem::transmute::<usize, ArrayCallFn>(call) }
    }

    /// Switches the record to another entry of the same function (a gate's two entries):
    /// calls that load the record after this take `call`.
    pub(crate) fn set_call(&self, call: ArrayCallFn) {
        self.call.store(call as usize, Ordering::Release);
    }
}

/// The `call` of the record of a defined function its backend compiled no entry for: one
/// outside [`wes_core::Module::referenced_functions`], which no export, table, reference or
/// import leads to, so nothing calls it through its record. Should anything ever do so, the
/// call traps with a message naming the cause instead of jumping to an arbitrary address.
///
/// # Safety
///
/// `callee_vmctx` must be the live [`VMContext`] of an instance whose store is inside [`call`]
/// (what every record of a defined function carries).
pub(crate) unsafe extern "C" fn no_entry(callee_vmctx: *mut u8, _caller_vmctx: *mut u8, _args: *mut ValRaw) -> u8 {
    // SAFETY: by the contract above, `callee_vmctx` is a live instance context, whose store
    // context names the store executing the call; nothing else borrows the store during it.
    let store = unsafe { &mut *(*(*(callee_vmctx as *const VMContext)).store).store };
    store.record_trap(
        TrapCode::HostError,
        Some("internal error: a function without an array-call entry was called through its record".into()),
    );
    CALL_TRAPPED
}

/// The function context of a defined function whose backend asked for one (a
/// [`wes_core::backend::FuncEntry`] with data): its entry gets this record as `callee_vmctx`.
/// Owned by the instance, in one block, so its address is stable.
#[repr(C)]
#[derive(Debug)]
pub(crate) struct VMFuncContext {
    pub(crate) vmctx: *mut u8,
    pub(crate) data: *const u8,
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
    /// Memory 0's base when the engine reserves guard regions (it never moves then), else
    /// null ([`wes_core::vm::VMCTX_MEMORY0_BASE`]).
    pub(crate) memory0_base: *mut u8,
    /// The instance's index in its store (runtime-private).
    pub(crate) instance: usize,
}

/// The `vmctx` of a host function: the store, and the function's type and implementation,
/// which the trampoline borrows for the call rather than looking them up or cloning them.
pub(crate) struct HostFuncCtx {
    pub(crate) store: *mut VMStoreContext,
    /// `Arc::as_ptr(&host)`, thin: the trampoline reads its function's data through it
    /// without working out, from the `dyn` vtable's alignment, where in the `Arc` the data
    /// starts (six instructions of every host call).
    pub(crate) data: *const u8,
    /// The store's reference to the function's data: from and back to the thread's spares
    /// (`crate::spare::HOST_SPARES`), given back by the store's `HostRecord`.
    pub(crate) host: std::mem::ManuallyDrop<Arc<HostFuncData>>,
}

impl std::fmt::Debug for HostFuncCtx {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HostFuncCtx").field("ty", &self.host.ty).finish_non_exhaustive()
    }
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
    assert!(offset_of!(VMContext, memory0_base) == layout::VMCTX_MEMORY0_BASE as usize);
    assert!(offset_of!(VMContext, instance) == layout::VMCTX_HEADER_SIZE as usize);
    assert!(offset_of!(VMStoreContext, frames_left) == layout::STORE_FRAMES_LEFT as usize);
    assert!(offset_of!(VMStoreContext, tail_callee) == layout::STORE_TAIL_CALLEE as usize);
    assert!(offset_of!(VMStoreContext, tail_caller) == layout::STORE_TAIL_CALLER as usize);
    assert!(offset_of!(VMStoreContext, tail_args) == layout::STORE_TAIL_ARGS as usize);
    assert!(offset_of!(VMStoreContext, unwind) == layout::STORE_UNWIND as usize);
    assert!(offset_of!(VMStoreContext, gas) == layout::STORE_GAS as usize);
    assert!(offset_of!(VMStoreContext, operators) == layout::STORE_OPERATORS as usize);
    assert!(offset_of!(VMFuncRef, call) == layout::FUNCREF_CALL as usize);
    assert!(offset_of!(VMFuncRef, vmctx) == layout::FUNCREF_VMCTX as usize);
    assert!(offset_of!(VMFuncRef, type_id) == layout::FUNCREF_TYPE_ID as usize);
    assert!(offset_of!(VMFuncRef, body) == layout::FUNCREF_BODY as usize);
    assert!(offset_of!(VMFuncContext, vmctx) == layout::FUNCCTX_VMCTX as usize);
    assert!(offset_of!(VMFuncContext, data) == layout::FUNCCTX_DATA as usize);
    assert!(offset_of!(VMMemoryDef, base) == layout::MEMORY_BASE as usize);
    assert!(offset_of!(VMMemoryDef, length) == layout::MEMORY_LENGTH as usize);
    assert!(offset_of!(VMTableDef, base) == layout::TABLE_BASE as usize);
    assert!(offset_of!(VMTableDef, length) == layout::TABLE_LENGTH as usize);
    assert!(std::mem::size_of::<ValRaw>() == layout::VALRAW_SIZE as usize);
    assert!(std::mem::size_of::<usize>() == layout::POINTER_SIZE as usize);
};
