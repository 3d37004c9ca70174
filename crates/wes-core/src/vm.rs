//! The instance-context (*vmctx*) contract between the runtime and the backends.
//!
//! Compiled code reaches everything an instance owns through one pointer, the vmctx, which the
//! runtime passes as the first argument of every [array call](crate::backend::ArrayCallFn).
//! This module is that contract, as plain numbers: the runtime lays its `#[repr(C)]` structures
//! out to match (and asserts it in tests), backends emit loads and stores at these offsets. It
//! knows nothing about either side.
//!
//! Every per-kind table is an array of *pointers* to the runtime's objects, one per index of
//! the module's index space (imports first), so imported and defined items are accessed the
//! same way and objects never move while an instance holds them:
//!
//! ```text
//!  vmctx ─┬─ +0  store context ──▶ { frames_left: u32, _, _, tail_callee,
//!         │                          tail_caller, tail_args, gas: u64, operators: u64 }
//!         ├─ +8  libcalls     ──▶ [fn ptr; Libcall::ALL.len()]
//!         ├─ +16 funcs        ──▶ [*const FuncRef; functions]   FuncRef { call, vmctx, type_id, body }
//!         ├─ +24 memories     ──▶ [*mut MemoryDef; memories]    MemoryDef { base, length }
//!         ├─ +32 tables       ──▶ [*mut TableDef; tables]       TableDef { base, length }
//!         ├─ +40 globals      ──▶ [*mut ValRaw; globals]
//!         ├─ +48 type ids     ──▶ [u32; types]                  store-wide signature ids
//!         └─ +56 memory 0's base (guard regions only, else null)
//! ```
//!
//! References are pointer-sized: a `funcref` is the address of the function's `FuncRef`
//! record (the same address wherever the function is imported, so references compare equal),
//! an `externref` is its host number plus one; zero is null for both.

use crate::trap::TrapCode;

/// Size in bytes of a pointer and of a reference value. Backends support 64-bit hosts only.
pub const POINTER_SIZE: u32 = 8;

/// Offset of the store-context pointer in the vmctx.
pub const VMCTX_STORE: i32 = 0;
/// Offset of the libcall-table pointer in the vmctx.
pub const VMCTX_LIBCALLS: i32 = 8;
/// Offset of the remaining-gas counter (`u64`) in the store context. Metered code subtracts
/// each segment's cost from it before the segment runs and calls [`Libcall::OutOfGas`] when it
/// holds less than the cost. It lives in the store context, not in each instance's vmctx,
/// because calls between instances of one store share one budget.
pub const STORE_GAS: i32 = 40;
/// Offset of the executed-operator counter (`u64`) in the store context. Code compiled to count
/// operators adds each segment's operator count (`wes_meter::Segment::ops`) to it when it
/// charges the segment, keeping it in a register while it runs and writing it back where it
/// writes the gas counter back. It only grows (wrapping), for the store's whole life; the
/// runtime reports differences. Shared by every instance of the store, like the gas counter.
pub const STORE_OPERATORS: i32 = 48;

/// Offset of the function-reference array pointer in the vmctx.
pub const VMCTX_FUNCS: i32 = 16;
/// Offset of the memory-definition array pointer in the vmctx.
pub const VMCTX_MEMORIES: i32 = 24;
/// Offset of the table-definition array pointer in the vmctx.
pub const VMCTX_TABLES: i32 = 32;
/// Offset of the global-slot array pointer in the vmctx.
pub const VMCTX_GLOBALS: i32 = 40;
/// Offset of the signature-id array pointer (`u32` per module type index) in the vmctx.
pub const VMCTX_TYPE_IDS: i32 = 48;
/// Offset of memory 0's base address in the vmctx, when the instance has a memory and its
/// engine reserves guard regions ([`GUARD_RESERVATION`]): such a memory never moves (every
/// length a 32-bit memory can grow to lies inside its reservation), so the base is fixed for
/// the instance's life and code that leaves bounds to guard regions may read it here, one
/// load from the vmctx, instead of through the memory's definition. Null otherwise.
pub const VMCTX_MEMORY0_BASE: i32 = 56;
/// Size of the part of the vmctx backends may read.
pub const VMCTX_HEADER_SIZE: u32 = 64;

/// Offset of the number of wasm frames (`u32`) the next function entered through an array
/// call may still open, itself included, in the store context. The runtime sets it to the
/// call-depth limit before a call; compiled code writes its own count less one before every
/// array call it makes (between compiled functions the count travels in a register). A
/// function entered with a count of zero traps with [`TrapCode::CallStackExhausted`].
pub const STORE_FRAMES_LEFT: i32 = 0;

/// Offset of the pending tail call's callee (`*const FuncRef`) in the store context, written
/// by a function that returns [`CALL_TAIL`](crate::backend::CALL_TAIL).
pub const STORE_TAIL_CALLEE: i32 = 16;
/// Offset of the pending tail call's caller vmctx (the instance that made the tail call) in
/// the store context; the callee gets it as its `caller_vmctx`.
pub const STORE_TAIL_CALLER: i32 = 24;
/// Offset of the pointer to the store's tail-call buffer ([`TAIL_CALL_SLOTS`] slots) in the
/// store context: the pending tail call's arguments, then its results.
pub const STORE_TAIL_ARGS: i32 = 32;
/// Offset of the innermost [`UnwindBuf`](crate::unwind::UnwindBuf) of the store (null outside
/// wasm) in the store context: where a trap raised in native code unwinds to (see
/// [`crate::unwind`]).
pub const STORE_UNWIND: i32 = 56;
/// Bytes reserved for each linear memory when compiled code leaves bounds to guard regions
/// ([`CompiledModule::needs_guard_regions`](crate::backend::CompiledModule::needs_guard_regions)):
/// every address a 32-bit memory access can form, `base + addr + offset + size` with `addr` and
/// `offset` below 2^32 and `size` at most 16, lies inside, so an access past the memory's
/// length lands on a page that is not accessible and faults.
pub const GUARD_RESERVATION: usize = (8 << 30) + (64 << 10);
/// Slots of the tail-call buffer: the most parameters or results a function type may have
/// (the validator's limit), so every signature fits.
pub const TAIL_CALL_SLOTS: u32 = 1000;

/// Offset of the array-call entry point in a function-reference record.
pub const FUNCREF_CALL: i32 = 0;
/// Offset of the callee vmctx in a function-reference record.
pub const FUNCREF_VMCTX: i32 = 8;
/// Offset of the store-wide signature id (`u32`) in a function-reference record.
pub const FUNCREF_TYPE_ID: i32 = 16;
/// Offset of the native body in a function-reference record: null, or the address of the
/// function's compiled body with the calling convention of the backend that compiled it (its
/// [`FuncEntry::body`](crate::backend::FuncEntry::body)). Code of that backend may call the
/// body directly, with the record's vmctx, instead of going through the array call; code of
/// any other kind must use the array call.
pub const FUNCREF_BODY: i32 = 24;

/// Offset of the instance's vmctx in a function context: the record an entry that asked for one
/// (a [`FuncEntry`](crate::backend::FuncEntry) with data) gets as its `callee_vmctx`.
pub const FUNCCTX_VMCTX: i32 = 0;
/// Offset of the backend's per-function data pointer in a function context.
pub const FUNCCTX_DATA: i32 = 8;

/// Offset of the base address in a memory definition.
pub const MEMORY_BASE: i32 = 0;
/// Offset of the current length in bytes (`u64`) in a memory definition.
pub const MEMORY_LENGTH: i32 = 8;

/// Offset of the element array's address in a table definition; elements are
/// [`POINTER_SIZE`]-byte references.
pub const TABLE_BASE: i32 = 0;
/// Offset of the current length in elements (`u64`) in a table definition.
pub const TABLE_LENGTH: i32 = 8;

/// Size of one argument/result slot of the array call ([`crate::backend::ValRaw`]).
pub const VALRAW_SIZE: u32 = 16;

/// The parameter and result types of libcalls, as machine types.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AbiType {
    /// A 32-bit integer.
    I32,
    /// A 64-bit integer or a reference.
    I64,
    /// A pointer (the vmctx).
    Ptr,
}

/// The runtime functions compiled code calls, through the vmctx's libcall table.
///
/// Each takes the calling instance's vmctx first. Those that can trap return an `i32` status:
/// `1` when they succeeded, `0` when they trapped, in which case the runtime has already
/// recorded the trap: the interpreter then returns through its frames, native code calls
/// [`Libcall::TrapUnwind`] (with code `0`) to add its frames and unwind.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Libcall {
    /// `(vmctx, code: i32, func_index: i32, offset: i32)`: records a trap raised by compiled
    /// code (`code` from [`trap_code_to_raw`], or `0` when a callee or libcall already recorded
    /// it) and the frame of `func_index`, stopped at module offset `offset`, for the backtrace.
    Trap,
    /// `(vmctx, memory: i32, delta: i32) -> i64`: `memory.grow`. The low 32 bits are the old
    /// size or -1; a negative result means the libcall trapped (out of gas for the pages).
    MemoryGrow,
    /// `(vmctx, memory, dst, value, len) -> status`: `memory.fill`.
    MemoryFill,
    /// `(vmctx, dst_memory, src_memory, dst, src, len) -> status`: `memory.copy`.
    MemoryCopy,
    /// `(vmctx, memory, data, dst, src, len) -> status`: `memory.init`.
    MemoryInit,
    /// `(vmctx, data)`: `data.drop`.
    DataDrop,
    /// `(vmctx, table: i32, init: i64, delta: i32) -> i64`: `table.grow`, encoded as for
    /// [`Libcall::MemoryGrow`].
    TableGrow,
    /// `(vmctx, table, dst, value: i64, len) -> status`: `table.fill`.
    TableFill,
    /// `(vmctx, dst_table, src_table, dst, src, len) -> status`: `table.copy`.
    TableCopy,
    /// `(vmctx, table, elem, dst, src, len) -> status`: `table.init`.
    TableInit,
    /// `(vmctx, elem)`: `elem.drop`.
    ElemDrop,
    /// `(vmctx, cost: i64) -> status`: the segment about to run costs `cost` and the gas
    /// counter ([`STORE_GAS`]) holds less. The runtime asks the embedder's out-of-gas handler
    /// for more; status 1 means the counter now holds at least `cost` (the caller re-checks
    /// and deducts it), 0 that the call traps with `OutOfGas`. The interpreter's; native code
    /// calls [`Libcall::OutOfGasUnwind`].
    OutOfGas,
    /// `(vmctx, func_index: i32)`: a function of this instance was entered, in code compiled
    /// for profiling (`JitConfig::profile`); the gas counter is flushed.
    ProfileEnter,
    /// `(vmctx)`: the innermost profiled function returns or tail-calls; the gas counter is
    /// flushed.
    ProfileExit,
    /// `(vmctx, code: i32, func_index: i32, offset: i32, fp: ptr)`, never returns: as
    /// [`Libcall::Trap`], then the frames of the callers up to the innermost entry (walking the
    /// frame-pointer chain from `fp`, the trapping frame's frame pointer), then unwinds to that
    /// entry (see [`crate::unwind`]). For native code, whose frames keep frame pointers.
    TrapUnwind,
    /// `(vmctx, cost: i64, offset: i32, fp: ptr)`: as [`Libcall::OutOfGas`], but when the
    /// handler gives no more gas it records the `OutOfGas` trap at module offset `offset` of
    /// the function whose code called the caller (`fp` is the caller's frame pointer: a shim
    /// between the segment and this libcall) and unwinds as [`Libcall::TrapUnwind`] does; so
    /// it returns only when the counter holds at least `cost`.
    OutOfGasUnwind,
}

impl Libcall {
    /// Every libcall, in table order.
    pub const ALL: &'static [Libcall] = &[
        Libcall::Trap,
        Libcall::MemoryGrow,
        Libcall::MemoryFill,
        Libcall::MemoryCopy,
        Libcall::MemoryInit,
        Libcall::DataDrop,
        Libcall::TableGrow,
        Libcall::TableFill,
        Libcall::TableCopy,
        Libcall::TableInit,
        Libcall::ElemDrop,
        Libcall::OutOfGas,
        Libcall::ProfileEnter,
        Libcall::ProfileExit,
        Libcall::TrapUnwind,
        Libcall::OutOfGasUnwind,
    ];

    /// The position of this libcall in the table.
    pub fn index(self) -> usize {
        Libcall::ALL.iter().position(|l| *l == self).unwrap_or(0)
    }

    /// Parameter types (the vmctx included) and result types.
    pub fn signature(self) -> (&'static [AbiType], &'static [AbiType]) {
        use AbiType::{I32, I64, Ptr};
        match self {
            Libcall::Trap => (&[Ptr, I32, I32, I32], &[]),
            Libcall::MemoryGrow => (&[Ptr, I32, I32], &[I64]),
            Libcall::MemoryFill => (&[Ptr, I32, I32, I32, I32], &[I32]),
            Libcall::MemoryCopy | Libcall::MemoryInit | Libcall::TableCopy | Libcall::TableInit => {
                (&[Ptr, I32, I32, I32, I32, I32], &[I32])
            }
            Libcall::DataDrop | Libcall::ElemDrop | Libcall::ProfileEnter => (&[Ptr, I32], &[]),
            Libcall::ProfileExit => (&[Ptr], &[]),
            Libcall::TableGrow => (&[Ptr, I32, I64, I32], &[I64]),
            Libcall::OutOfGas => (&[Ptr, I64], &[I32]),
            Libcall::TrapUnwind => (&[Ptr, I32, I32, I32, Ptr], &[]),
            Libcall::OutOfGasUnwind => (&[Ptr, I64, I32, Ptr], &[]),
            Libcall::TableFill => (&[Ptr, I32, I32, I64, I32], &[I32]),
        }
    }
}

/// The number compiled code passes to [`Libcall::Trap`] for a trap code (never 0).
pub fn trap_code_to_raw(code: TrapCode) -> u32 {
    TrapCode::ALL.iter().position(|c| *c == code).map_or(u32::MAX, |i| i as u32 + 1)
}

/// The trap code for a number from [`trap_code_to_raw`]; `None` for 0 (already recorded) and
/// for numbers that name no code.
pub fn trap_code_from_raw(raw: u32) -> Option<TrapCode> {
    TrapCode::ALL.get((raw as usize).checked_sub(1)?).copied()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trap_codes_round_trip_and_avoid_zero() {
        for code in TrapCode::ALL {
            let raw = trap_code_to_raw(*code);
            assert_ne!(raw, 0);
            assert_eq!(trap_code_from_raw(raw), Some(*code));
        }
        assert_eq!(trap_code_from_raw(0), None);
    }

    #[test]
    fn libcall_indices_follow_the_table() {
        for (i, l) in Libcall::ALL.iter().enumerate() {
            assert_eq!(l.index(), i);
            assert_eq!(l.signature().0.first(), Some(&AbiType::Ptr));
        }
    }
}
