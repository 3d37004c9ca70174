//! Raw access to what an instance owns, through the vmctx layout of `wes_core::vm`, and the
//! runtime's libcalls: the only place the interpreter reads or writes through pointers the
//! runtime made, besides the array calls in [`super::calls`].

use wes_core::TrapCode;
use wes_core::vm::{self, Libcall};

use crate::FuncRecord;
use crate::code::LoadKind;

pub(super) type TrapFn = unsafe extern "C" fn(*mut u8, u32, u32, u32);
pub(super) type GrowFn = unsafe extern "C" fn(*mut u8, u32, u32) -> i64;
pub(super) type Bulk4Fn = unsafe extern "C" fn(*mut u8, u32, u32, u32, u32) -> u32;
pub(super) type Bulk5Fn = unsafe extern "C" fn(*mut u8, u32, u32, u32, u32, u32) -> u32;
pub(super) type DropFn = unsafe extern "C" fn(*mut u8, u32);
pub(super) type TableGrowFn = unsafe extern "C" fn(*mut u8, u32, u64, u32) -> i64;
pub(super) type TableFillFn = unsafe extern "C" fn(*mut u8, u32, u32, u64, u32) -> u32;
pub(super) type OutOfGasFn = unsafe extern "C" fn(*mut u8, u64) -> u32;

/// The array-call entry of the function record at `funcref`, read atomically: the runtime may
/// switch a record's entry from another thread (a host function's gate) while this store calls
/// through it.
///
/// # Safety
///
/// `funcref` must be a live function record (layout `vm::FUNCREF_*`).
pub(super) unsafe fn record_call(funcref: *const u8) -> usize {
    // SAFETY: by this function's contract the record is live; its entry is a pointer-sized,
    // pointer-aligned field (records are `repr(C)` and boxed or in arrays of themselves), which
    // the runtime writes only atomically.
    unsafe {
        (*funcref.offset(vm::FUNCREF_CALL as isize).cast::<std::sync::atomic::AtomicUsize>())
            .load(std::sync::atomic::Ordering::Relaxed)
    }
}

/// Reads a `T` at `base + offset`.
///
/// # Safety
///
/// `base + offset` must be valid for reading a `T`.
pub(super) unsafe fn rd<T: Copy>(base: *const u8, offset: i32) -> T {
    // SAFETY: by this function's contract.
    unsafe { base.offset(offset as isize).cast::<T>().read_unaligned() }
}

/// Writes `v` at `base + offset`.
///
/// # Safety
///
/// `base + offset` must be valid for writing a `T`.
pub(super) unsafe fn wr<T: Copy>(base: *mut u8, offset: i32, v: T) {
    // SAFETY: by this function's contract.
    unsafe { base.offset(offset as isize).cast::<T>().write_unaligned(v) }
}

/// Entry `index` of the vmctx's pointer array at `field`.
///
/// # Safety
///
/// `vmctx` must be a live instance context and `index` in range of that array (the module is
/// validated, so every index the translator emits is).
pub(super) unsafe fn vmctx_entry(vmctx: *mut u8, field: i32, index: u32) -> *mut u8 {
    // SAFETY: by this function's contract.
    unsafe {
        let array: *const *mut u8 = rd(vmctx, field);
        array.add(index as usize).read()
    }
}

/// The address of libcall `lc` of the instance behind `vmctx`.
///
/// # Safety
///
/// `vmctx` must be a live instance context.
pub(super) unsafe fn libcall(vmctx: *mut u8, lc: Libcall) -> usize {
    // SAFETY: the libcall table has an entry per `Libcall::ALL` (wes_core::vm).
    unsafe {
        let table: *const usize = rd(vmctx, vm::VMCTX_LIBCALLS);
        table.add(lc.index()).read()
    }
}

macro_rules! lc {
    ($vmctx:expr, $lc:expr, $ty:ty) => {{
        // SAFETY: the table entry of `$lc` is the runtime's function with the signature
        // `Libcall::signature` gives, which `$ty` spells.
        #[allow(unused_unsafe)]
        let f = unsafe { std::mem::transmute::<usize, $ty>(libcall($vmctx, $lc)) };
        f
    }};
}

/// The store context of the instance behind `vmctx`.
///
/// # Safety
///
/// `vmctx` must be a live instance context.
pub(super) unsafe fn store_of(vmctx: *mut u8) -> *mut u8 {
    // SAFETY: by this function's contract.
    unsafe { rd(vmctx, vm::VMCTX_STORE) }
}

/// The function context the runtime passed: the instance's vmctx and the function's record.
///
/// # Safety
///
/// `ctx` must be a function context built for an entry of this backend.
pub(super) unsafe fn function_context(ctx: *const u8) -> (*mut u8, *const FuncRecord) {
    // SAFETY: by this function's contract (layout `vm::FUNCCTX_*`).
    unsafe { (rd(ctx, vm::FUNCCTX_VMCTX), rd(ctx, vm::FUNCCTX_DATA)) }
}

/// Whether `call` is this backend's entry point.
pub(super) fn is_interp(call: usize) -> bool {
    call == super::interp_entry as *const () as usize
}

/// Records a trap (`code`, or `None` when a callee or libcall recorded it) and the frame of
/// `func_index` stopped at `offset`.
///
/// # Safety
///
/// `vmctx` must be a live instance context.
pub(super) unsafe fn record_trap(vmctx: *mut u8, code: Option<TrapCode>, func_index: u32, offset: u32) {
    let raw = code.map_or(0, vm::trap_code_to_raw);
    let f = lc!(vmctx, Libcall::Trap, TrapFn);
    // SAFETY: the runtime's trap libcall, called with the instance's own vmctx.
    unsafe { f(vmctx, raw, func_index, offset) };
}

/// Pays `cost` from the store's gas counter, asking the out-of-gas handler for more while it
/// holds less; `false` when that fails (the libcall recorded the trap).
///
/// # Safety
///
/// `vmctx` must be a live instance context.
pub(super) unsafe fn charge(vmctx: *mut u8, cost: u64) -> bool {
    // SAFETY: `vmctx` is live; its store context holds the counter at `vm::STORE_GAS`.
    unsafe {
        let store = store_of(vmctx);
        loop {
            let gas: u64 = rd(store, vm::STORE_GAS);
            if gas >= cost {
                wr(store, vm::STORE_GAS, gas - cost);
                return true;
            }
            let f = lc!(vmctx, Libcall::OutOfGas, OutOfGasFn);
            if f(vmctx, cost) == 0 {
                return false;
            }
        }
    }
}

/// The native address of a `size`-byte access at `addr + offset` of memory `mem`, or `None`
/// when it is out of bounds.
///
/// # Safety
///
/// `vmctx` must be a live instance context with memory `mem`.
pub(super) unsafe fn mem_addr(vmctx: *mut u8, mem: u32, addr: u64, offset: u64, size: u64) -> Option<*mut u8> {
    // SAFETY: by this function's contract.
    unsafe {
        let def = vmctx_entry(vmctx, vm::VMCTX_MEMORIES, mem);
        let len: u64 = rd(def, vm::MEMORY_LENGTH);
        let base: *mut u8 = rd(def, vm::MEMORY_BASE);
        let end = addr.checked_add(offset)?.checked_add(size)?;
        if end > len {
            return None;
        }
        Some(base.add((addr + offset) as usize))
    }
}

/// The definition of memory 0 of the instance behind `vmctx` when `code` addresses it with
/// the ops that take it from the loop ([`crate::code::Code::mem0`]), else null.
///
/// # Safety
///
/// `vmctx` must be a live instance context of `code`'s module.
#[inline(always)]
pub(super) unsafe fn mem0_of(code: &crate::code::Code, vmctx: *mut u8) -> *mut u8 {
    if code.mem0 {
        // SAFETY: the module has a memory 0 (the translator sets `mem0` only then).
        unsafe { vmctx_entry(vmctx, vm::VMCTX_MEMORIES, 0) }
    } else {
        std::ptr::null_mut()
    }
}

/// The native address of a `size`-byte access at `addr + offset` of the memory defined at
/// `def`, or `None` when it is out of bounds.
///
/// # Safety
///
/// `def` must be a live memory definition.
#[inline(always)]
pub(super) unsafe fn mem0_addr(def: *mut u8, addr: u32, offset: u32, size: u64) -> Option<*mut u8> {
    // SAFETY: by this function's contract.
    unsafe {
        let len: u64 = rd(def, vm::MEMORY_LENGTH);
        let at = u64::from(addr) + u64::from(offset);
        if at + size > len {
            return None;
        }
        let base: *mut u8 = rd(def, vm::MEMORY_BASE);
        Some(base.add(at as usize))
    }
}

/// The native address of a `size`-byte access of the memory defined at `def` that ends `end`
/// bytes past `addr` (an op of memory 0's `end`: the static offset plus `size`), or `None`
/// when it is out of bounds. One sum, checked and then addressed from: the access starts
/// `size` bytes before it, which folds into the load's displacement.
///
/// # Safety
///
/// `def` must be a live memory definition, and `end >= size`.
#[inline(always)]
pub(super) unsafe fn mem0_end(def: *mut u8, addr: u32, end: u32, size: usize) -> Option<*mut u8> {
    // SAFETY: by this function's contract.
    unsafe {
        let len: u64 = rd(def, vm::MEMORY_LENGTH);
        let end = u64::from(addr) + u64::from(end);
        if end > len {
            return None;
        }
        let base: *mut u8 = rd(def, vm::MEMORY_BASE);
        // `size <= end <= len`: both addresses lie in the memory or one past its end.
        Some(base.add(end as usize).sub(size))
    }
}

/// Reads a load of `kind` at `p`, extended to its cell.
///
/// # Safety
///
/// `p..p + kind.size()` must be readable.
#[inline(always)]
pub(super) unsafe fn load_cell(kind: LoadKind, p: *const u8) -> u64 {
    // SAFETY: by this function's contract.
    unsafe {
        match kind {
            LoadKind::I32 | LoadKind::I64U32 => u64::from(rd::<u32>(p, 0)),
            LoadKind::I64 => rd::<u64>(p, 0),
            LoadKind::I32S8 => u64::from(i32::from(rd::<i8>(p, 0)) as u32),
            LoadKind::I32U8 | LoadKind::I64U8 => u64::from(rd::<u8>(p, 0)),
            LoadKind::I32S16 => u64::from(i32::from(rd::<i16>(p, 0)) as u32),
            LoadKind::I32U16 | LoadKind::I64U16 => u64::from(rd::<u16>(p, 0)),
            LoadKind::I64S8 => i64::from(rd::<i8>(p, 0)) as u64,
            LoadKind::I64S16 => i64::from(rd::<i16>(p, 0)) as u64,
            LoadKind::I64S32 => i64::from(rd::<i32>(p, 0)) as u64,
        }
    }
}

/// Writes the low `size` bytes of `v` at `p`.
///
/// # Safety
///
/// `p..p + size` must be writable.
#[inline(always)]
pub(super) unsafe fn store_cell(size: u8, p: *mut u8, v: u64) {
    // SAFETY: by this function's contract.
    unsafe {
        match size {
            1 => wr(p, 0, v as u8),
            2 => wr(p, 0, v as u16),
            4 => wr(p, 0, v as u32),
            _ => wr(p, 0, v),
        }
    }
}

/// The address of element `index` of table `table`, or `None` when out of bounds.
///
/// # Safety
///
/// `vmctx` must be a live instance context with table `table`.
pub(super) unsafe fn table_elem(vmctx: *mut u8, table: u32, index: u64) -> Option<*mut u64> {
    // SAFETY: by this function's contract.
    unsafe {
        let def = vmctx_entry(vmctx, vm::VMCTX_TABLES, table);
        let len: u64 = rd(def, vm::TABLE_LENGTH);
        if index >= len {
            return None;
        }
        let base: *mut u64 = rd(def, vm::TABLE_BASE);
        Some(base.add(index as usize))
    }
}
