//! The libcalls: runtime services compiled code calls through the table every vmctx points to
//! (growth, bulk operations, segment drops, traps, the out-of-gas refill).

use super::*;

/// The libcall table every vmctx points to, in [`Libcall::ALL`] order.
pub(crate) struct LibcallTable([*const (); 16]);

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
    lc_profile_enter as *const (),
    lc_profile_exit as *const (),
    lc_trap_unwind as *const (),
    lc_out_of_gas_unwind as *const (),
]);

const _: () = assert!(LIBCALLS.0.len() == Libcall::ALL.len());

/// Runs `f` with the store and the instance index behind `vmctx`.
///
/// # Safety
///
/// `vmctx` must be the context of a live instance, called from compiled code while its store
/// is inside [`call`](super::call) (so the store pointer is set and no other reference to the store is
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

/// The innermost entry of the store behind `vmctx` (see [`wes_core::unwind`]).
///
/// # Safety
///
/// As [`with_store`].
unsafe fn innermost_entry(vmctx: *mut VMContext) -> *const wes_core::unwind::UnwindBuf {
    // SAFETY: `vmctx` is a live instance context whose store context is live (the contract).
    unsafe { (*(*vmctx).store).unwind }
}

/// [`Libcall::TrapUnwind`].
///
/// # Safety
///
/// As [`with_store`]; only native code that keeps frame pointers calls this, with its own
/// frame pointer as `fp`, inside an entry of its store (every array call made from Rust goes
/// through [`wes_core::unwind::call_array`]).
unsafe extern "C" fn lc_trap_unwind(vmctx: *mut VMContext, code: u32, func_index: u32, offset: u32, fp: usize) {
    // SAFETY: called only by native code with its own vmctx, inside an entry of its store.
    let buf = unsafe { innermost_entry(vmctx) };
    if buf.is_null() {
        // Not reachable: native code runs only inside an entry. Were it ever reached, going on
        // would run wasm past its trap; stopping the process is the only safe answer.
        std::process::abort();
    }
    // SAFETY: as above; `buf` is the innermost entry's, live until it returns, and `fp` the
    // trapping frame's, called from that entry through native frames only.
    unsafe {
        lc_trap(vmctx, code, func_index, offset);
        let stop = (*buf).frame_pointer();
        with_store(vmctx, |s, _| s.record_native_frames(fp, stop, None));
        // Nothing of this frame is left to drop: every frame up to the entry is native code's.
        wes_core::unwind::unwind(buf)
    }
}

/// [`Libcall::OutOfGasUnwind`].
///
/// # Safety
///
/// As [`lc_trap_unwind`], `fp` being the frame pointer of the shim the segment's code called.
unsafe extern "C" fn lc_out_of_gas_unwind(vmctx: *mut VMContext, cost: u64, offset: u32, fp: usize) {
    // SAFETY: called only by native code with its own vmctx.
    if unsafe { with_store(vmctx, |s, _| s.refill_gas(cost)) } {
        return;
    }
    // SAFETY: as above.
    let buf = unsafe { innermost_entry(vmctx) };
    if buf.is_null() {
        // See `lc_trap_unwind`: not reachable, and going on would run a segment not paid for.
        std::process::abort();
    }
    // SAFETY: as in `lc_trap_unwind`; the refill recorded the `OutOfGas` trap.
    unsafe {
        let stop = (*buf).frame_pointer();
        with_store(vmctx, |s, _| s.record_native_frames(fp, stop, Some(offset)));
        wes_core::unwind::unwind(buf)
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

/// [`Libcall::ProfileEnter`].
///
/// # Safety
///
/// As [`with_store`]: only compiled code calls this, with its own vmctx.
unsafe extern "C" fn lc_profile_enter(vmctx: *mut VMContext, func_index: u32) {
    // SAFETY: called only by compiled code with its own vmctx.
    unsafe { with_store(vmctx, |s, i| s.profile_enter(i, func_index)) }
}

/// [`Libcall::ProfileExit`].
///
/// # Safety
///
/// As [`with_store`]: only compiled code calls this, with its own vmctx.
unsafe extern "C" fn lc_profile_exit(vmctx: *mut VMContext) {
    // SAFETY: called only by compiled code with its own vmctx.
    unsafe { with_store(vmctx, |s, _| s.profile_exit()) }
}
