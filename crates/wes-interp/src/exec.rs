//! Execution: the array-call entry every interpreted function shares, and the loop that runs
//! the internal form.
//!
//! The loop keeps wasm frames on a heap stack ([`Frame`]) and values in one heap array of
//! cells: a call or tail call to an interpreted function — of this instance, another instance
//! or another module, recognised by its function record's entry being [`interp_entry`] — pushes
//! or replaces a frame, so a hostile module cannot overflow the native stack. Only a call to
//! native code (JIT code, host functions) nests a native call, through the array call, exactly
//! as the JIT makes it.
//!
//! Every protocol is the JIT's (`wes-jit/src/translate/*.rs`):
//! - **Frames.** Each frame may open `frames_left` frames, itself included; a callee gets one
//!   fewer, a tail callee the same; a function entered with zero traps `CallStackExhausted` at
//!   its body's start. Before an array call, the count the callee gets is written to
//!   `STORE_FRAMES_LEFT`.
//! - **Traps** are recorded through `Libcall::Trap`: the innermost frame with the code and the
//!   trapping operator's module offset, then every caller with code 0 at its call's offset.
//!   A callee or libcall that trapped has recorded its part already.
//! - **Tail calls** to native code leave through [`CALL_TAIL`] when the tail-calling frame is
//!   the entry's own; deeper, the frame is popped and its caller makes the call. A native
//!   callee that returns `CALL_TAIL` has its pending calls made here, in a loop.
//! - **Gas** lives in the store context (`STORE_GAS`), where libcalls, host functions and other
//!   instances charge it too; each segment's charge reads and writes it there, and, when
//!   counting, adds the segment's operators to `STORE_OPERATORS` once it is paid for.

use wes_core::backend::{CALL_RETURNED, CALL_TAIL, CALL_TRAPPED, ValRaw};
use wes_core::vm::{self, Libcall};
use wes_core::{TrapCode, ValType};

use crate::FuncRecord;
use crate::code::{Code, LoadKind, Op, RETURN, Target, Width};

/// An honest upper bound of the native stack one nesting of the interpreter takes: the entry,
/// the loop's frame and the call it makes into native code. Every nesting belongs to at least
/// one wasm frame (the one making the native call), so this bounds the native stack per wasm
/// frame. Measured by the `host_reentry_chain_stays_within_the_frame_bound` test (a debug
/// build's frames are several times a release build's).
pub(crate) const MAX_NATIVE_FRAME: usize = if cfg!(debug_assertions) { 32 * 1024 } else { 4 * 1024 };

type TrapFn = unsafe extern "C" fn(*mut u8, u32, u32, u32);
type GrowFn = unsafe extern "C" fn(*mut u8, u32, u32) -> i64;
type Bulk4Fn = unsafe extern "C" fn(*mut u8, u32, u32, u32, u32) -> u32;
type Bulk5Fn = unsafe extern "C" fn(*mut u8, u32, u32, u32, u32, u32) -> u32;
type DropFn = unsafe extern "C" fn(*mut u8, u32);
type TableGrowFn = unsafe extern "C" fn(*mut u8, u32, u64, u32) -> i64;
type TableFillFn = unsafe extern "C" fn(*mut u8, u32, u32, u64, u32) -> u32;
type OutOfGasFn = unsafe extern "C" fn(*mut u8, u64) -> u32;

/// Reads a `T` at `base + offset`.
///
/// # Safety
///
/// `base + offset` must be valid for reading a `T`.
unsafe fn rd<T: Copy>(base: *const u8, offset: i32) -> T {
    // SAFETY: by this function's contract.
    unsafe { base.offset(offset as isize).cast::<T>().read_unaligned() }
}

/// Writes `v` at `base + offset`.
///
/// # Safety
///
/// `base + offset` must be valid for writing a `T`.
unsafe fn wr<T: Copy>(base: *mut u8, offset: i32, v: T) {
    // SAFETY: by this function's contract.
    unsafe { base.offset(offset as isize).cast::<T>().write_unaligned(v) }
}

/// Entry `index` of the vmctx's pointer array at `field`.
///
/// # Safety
///
/// `vmctx` must be a live instance context and `index` in range of that array (the module is
/// validated, so every index the translator emits is).
unsafe fn vmctx_entry(vmctx: *mut u8, field: i32, index: u32) -> *mut u8 {
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
unsafe fn libcall(vmctx: *mut u8, lc: Libcall) -> usize {
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
unsafe fn store_of(vmctx: *mut u8) -> *mut u8 {
    // SAFETY: by this function's contract.
    unsafe { rd(vmctx, vm::VMCTX_STORE) }
}

/// The cell holding a value of type `ty` passed in an array-call slot.
fn from_raw(ty: ValType, raw: ValRaw) -> u64 {
    match ty {
        ValType::I32 | ValType::F32 => u64::from(raw as u32),
        _ => raw as u64,
    }
}

/// One wasm frame of the interpreter.
#[derive(Clone, Copy, Debug)]
struct Frame {
    record: *const FuncRecord,
    code: *const Code,
    vmctx: *mut u8,
    /// The op being executed (for a caller: its call).
    pc: usize,
    /// Index of the frame's first local in the value stack.
    fp: usize,
    frames_left: u32,
}

impl Frame {
    /// The frame's function record, for as long as the call runs.
    fn record<'a>(&self) -> &'a FuncRecord {
        // SAFETY: the record lives as long as its compiled module, beyond the call.
        unsafe { &*self.record }
    }

    /// The frame's code, for as long as the call runs (not tied to this copy of the frame).
    fn code<'a>(&self) -> &'a Code {
        // SAFETY: `code` points into a function record whose compiled module lives while any
        // instance of it does, and so for the whole call.
        unsafe { &*self.code }
    }
}

/// Why the loop stopped.
enum Exit {
    Returned,
    /// The entry's own frame tail-called native code: return `CALL_TAIL`.
    Tail,
    Trapped,
}

/// The function context the runtime passed: the instance's vmctx and the function's record.
///
/// # Safety
///
/// `ctx` must be a function context built for an entry of this backend.
unsafe fn function_context(ctx: *const u8) -> (*mut u8, *const FuncRecord) {
    // SAFETY: by this function's contract (layout `vm::FUNCCTX_*`).
    unsafe { (rd(ctx, vm::FUNCCTX_VMCTX), rd(ctx, vm::FUNCCTX_DATA)) }
}

/// Whether `call` is this backend's entry point.
fn is_interp(call: usize) -> bool {
    call == interp_entry as *const () as usize
}

/// The array-call entry of every interpreted function.
///
/// # Safety
///
/// As [`wes_core::backend::ArrayCallFn`]: `callee` is a function context the runtime built for
/// an entry of this backend (its data a [`FuncRecord`] of a live compiled module) and `args`
/// holds the function's arguments in `max(params, results)` slots.
pub(crate) unsafe extern "C" fn interp_entry(callee: *mut u8, _caller: *mut u8, args: *mut ValRaw) -> u8 {
    // SAFETY: by this function's contract.
    let (vmctx, record) = unsafe { function_context(callee) };
    // SAFETY: the record lives as long as the compiled module, which outlives the call.
    let rec = unsafe { &*record };
    // SAFETY: `vmctx` is the live instance context of the function.
    let store = unsafe { store_of(vmctx) };
    // SAFETY: the store context holds the frame count (`vm::STORE_FRAMES_LEFT`).
    let frames_left: u32 = unsafe { rd(store, vm::STORE_FRAMES_LEFT) };
    let mut ex = Executor { stack: Vec::new(), frames: Vec::new(), buf: Vec::new() };
    let code = match rec.code() {
        Ok(c) => c,
        Err(_) => {
            // Compilation checked every body, so this is a translator bug; it traps rather
            // than runs something else.
            // SAFETY: `vmctx` is live.
            unsafe { record_trap(vmctx, Some(TrapCode::HostError), rec.func_index(), 0) };
            return CALL_TRAPPED;
        }
    };
    let n = code.params.len();
    ex.stack.resize(code.frame_cells(), 0);
    for (i, ty) in code.params.iter().enumerate() {
        // SAFETY: `args` holds the parameters, by this function's contract.
        ex.stack[i] = from_raw(*ty, unsafe { args.add(i).read() });
    }
    let frame = Frame { record, code, vmctx, pc: 0, fp: 0, frames_left };
    if frames_left == 0 {
        // SAFETY: `vmctx` is live.
        unsafe { record_trap(vmctx, Some(TrapCode::CallStackExhausted), code.func_index, code.body_offset) };
        return CALL_TRAPPED;
    }
    // SAFETY: the frame's vmctx and record are live for the call.
    match unsafe { ex.run(frame, n + code.num_locals as usize) } {
        Exit::Returned => {
            for (i, v) in ex.stack.iter().take(code.num_results as usize).enumerate() {
                // SAFETY: `args` has room for the results, by this function's contract.
                unsafe { args.add(i).write(ValRaw::from(*v)) };
            }
            CALL_RETURNED
        }
        Exit::Tail => CALL_TAIL,
        Exit::Trapped => CALL_TRAPPED,
    }
}

/// Records a trap (`code`, or `None` when a callee or libcall recorded it) and the frame of
/// `func_index` stopped at `offset`.
///
/// # Safety
///
/// `vmctx` must be a live instance context.
unsafe fn record_trap(vmctx: *mut u8, code: Option<TrapCode>, func_index: u32, offset: u32) {
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
unsafe fn charge(vmctx: *mut u8, cost: u64) -> bool {
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
unsafe fn mem_addr(vmctx: *mut u8, mem: u32, addr: u64, offset: u64, size: u64) -> Option<*mut u8> {
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

/// The address of element `index` of table `table`, or `None` when out of bounds.
///
/// # Safety
///
/// `vmctx` must be a live instance context with table `table`.
unsafe fn table_elem(vmctx: *mut u8, table: u32, index: u64) -> Option<*mut u64> {
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

struct Executor {
    /// Cells of every frame: locals, then operands.
    stack: Vec<u64>,
    /// The callers of the running frame, innermost last.
    frames: Vec<Frame>,
    /// The argument/result buffer of native calls.
    buf: Vec<ValRaw>,
}

/// How a call ended up being made.
enum Called {
    /// A frame was pushed (or replaced): run it.
    Frame(Frame),
    /// A native call returned; its results are on the stack.
    Done,
}

impl Executor {
    /// Makes room for a frame of `code` at `fp` and zeroes its declared locals.
    fn enter(&mut self, code: &Code, fp: usize) -> usize {
        let need = fp + code.frame_cells();
        if self.stack.len() < need {
            self.stack.resize(need.max(self.stack.len() * 2), 0);
        }
        let locals = fp + code.params.len();
        let end = locals + code.num_locals as usize;
        self.stack[locals..end].fill(0);
        end
    }

    /// Records the trap of the running frame `cur` (code `code` at `offset` in function
    /// `func_index`, which is `cur`'s unless the call-depth check of a callee failed) and the
    /// frames of every caller.
    ///
    /// # Safety
    ///
    /// Every frame's vmctx must be live.
    unsafe fn unwind(&mut self, vmctx: *mut u8, code: Option<TrapCode>, func_index: u32, offset: u32) -> Exit {
        // SAFETY: by this function's contract.
        unsafe {
            record_trap(vmctx, code, func_index, offset);
            while let Some(f) = self.frames.pop() {
                record_trap(f.vmctx, None, f.code().func_index, f.code().offset(f.pc));
            }
        }
        Exit::Trapped
    }

    /// Calls the function behind `funcref` from frame `cur` (whose operands end at `sp` with
    /// the arguments), as a tail call when `tail`. Returns the frame to run, or `Done` with
    /// the results pushed and the new `sp`; `Err` when it trapped (recorded down to `cur`'s
    /// callers, exclusive: `Err(None)` means the callee recorded it and `cur` must record its
    /// frame; `Err(Some(code))` a trap in the callee's entry, recorded by the caller with
    /// [`Executor::unwind`]).
    ///
    /// # Safety
    ///
    /// `funcref` must be a live function record of the store whose signature is `type_index`
    /// of `cur`'s module; every frame's vmctx must be live.
    unsafe fn call(
        &mut self,
        cur: &mut Frame,
        sp: &mut usize,
        funcref: *const u8,
        type_index: u32,
        tail: bool,
    ) -> Result<Called, CallTrap> {
        // SAFETY: `funcref` is a live record (layout `vm::FUNCREF_*`).
        let (call, ctx): (usize, *mut u8) = unsafe { (rd(funcref, vm::FUNCREF_CALL), rd(funcref, vm::FUNCREF_VMCTX)) };
        if is_interp(call) {
            // SAFETY: an interpreted function's record points to its function context.
            let (vmctx, record) = unsafe { function_context(ctx) };
            // SAFETY: the record lives as long as its compiled module, beyond this call.
            let rec = unsafe { &*record };
            let Ok(code) = rec.code() else {
                if !tail {
                    self.frames.push(*cur);
                }
                return Err(CallTrap::Entry(vmctx, TrapCode::HostError, rec.func_index(), 0));
            };
            let n = code.params.len();
            let args = *sp - n;
            let (fp, frames_left) = if tail {
                self.stack.copy_within(args..*sp, cur.fp);
                (cur.fp, cur.frames_left)
            } else {
                self.frames.push(*cur);
                (args, cur.frames_left.saturating_sub(1))
            };
            if frames_left == 0 {
                return Err(CallTrap::Entry(vmctx, TrapCode::CallStackExhausted, code.func_index, code.body_offset));
            }
            *sp = self.enter(code, fp);
            return Ok(Called::Frame(Frame { record, code, vmctx, pc: 0, fp, frames_left }));
        }
        // Native code: the array call, with the JIT's frame count.
        let module = &cur.record().shared.module;
        let ty = module.types.get(type_index as usize).ok_or(CallTrap::Recorded)?;
        let (n, results) = (ty.params().len(), ty.results());
        self.buf.clear();
        self.buf.resize(n.max(results.len()).max(1), 0);
        let args = *sp - n;
        for (slot, v) in self.buf.iter_mut().zip(&self.stack[args..*sp]) {
            *slot = ValRaw::from(*v);
        }
        *sp = args;
        if tail {
            if self.frames.is_empty() {
                // The entry's own frame: the caller of the entry makes the call.
                // SAFETY: the store context's tail-call fields (`vm::STORE_TAIL_*`) and buffer
                // of `TAIL_CALL_SLOTS` slots, which any signature fits.
                unsafe {
                    let store = store_of(cur.vmctx);
                    let tail_args: *mut ValRaw = rd(store, vm::STORE_TAIL_ARGS);
                    for (i, v) in self.buf.iter().take(n).enumerate() {
                        tail_args.add(i).write(*v);
                    }
                    wr(store, vm::STORE_TAIL_CALLEE, funcref);
                    wr(store, vm::STORE_TAIL_CALLER, cur.vmctx);
                }
                return Err(CallTrap::Tail);
            }
            // Deeper: the frame is gone, its caller makes the call with the frame's count.
            let caller_vmctx = cur.vmctx;
            let frames_left = cur.frames_left;
            *sp = cur.fp;
            let Some(c) = self.frames.pop() else { return Err(CallTrap::Recorded) };
            *cur = c;
            // SAFETY: as this function's.
            return unsafe { self.native_call(cur, sp, call, ctx, caller_vmctx, frames_left, results) };
        }
        let frames_left = cur.frames_left.saturating_sub(1);
        // SAFETY: as this function's.
        unsafe { self.native_call(cur, sp, call, ctx, cur.vmctx, frames_left, results) }
    }

    /// Makes an array call of native code `call` with `ctx` and the arguments in `self.buf`,
    /// then the tail calls it ends with; the results land on `cur`'s stack at `sp`.
    ///
    /// # Safety
    ///
    /// As [`Executor::call`]; `call` and `ctx` come from a live function record.
    #[allow(clippy::too_many_arguments)]
    unsafe fn native_call(
        &mut self,
        cur: &mut Frame,
        sp: &mut usize,
        call: usize,
        ctx: *mut u8,
        caller_vmctx: *mut u8,
        frames_left: u32,
        results: &[ValType],
    ) -> Result<Called, CallTrap> {
        // SAFETY: the store context of a live instance; `call` is an array-call entry point
        // (`FUNCREF_CALL` of a live record) and `buf` holds its arguments in enough slots.
        unsafe {
            let store = store_of(cur.vmctx);
            wr(store, vm::STORE_FRAMES_LEFT, frames_left);
            let f = std::mem::transmute::<usize, wes_core::backend::ArrayCallFn>(call);
            let mut status = f(ctx, caller_vmctx, self.buf.as_mut_ptr());
            let mut out: *const ValRaw = self.buf.as_ptr();
            while status == CALL_TAIL {
                wr(store, vm::STORE_FRAMES_LEFT, frames_left);
                let tail_args: *mut ValRaw = rd(store, vm::STORE_TAIL_ARGS);
                let callee: *const u8 = rd(store, vm::STORE_TAIL_CALLEE);
                let caller: *mut u8 = rd(store, vm::STORE_TAIL_CALLER);
                let call: usize = rd(callee, vm::FUNCREF_CALL);
                let ctx: *mut u8 = rd(callee, vm::FUNCREF_VMCTX);
                if is_interp(call) {
                    // Run it here, as a frame `cur` called.
                    let (vmctx, record) = function_context(ctx);
                    let rec = &*record;
                    self.frames.push(*cur);
                    let code =
                        rec.code().map_err(|_| CallTrap::Entry(vmctx, TrapCode::HostError, rec.func_index(), 0))?;
                    if frames_left == 0 {
                        return Err(CallTrap::Entry(
                            vmctx,
                            TrapCode::CallStackExhausted,
                            code.func_index,
                            code.body_offset,
                        ));
                    }
                    let fp = *sp;
                    let end = self.enter(code, fp);
                    for (i, ty) in code.params.iter().enumerate() {
                        self.stack[fp + i] = from_raw(*ty, tail_args.add(i).read());
                    }
                    *sp = end;
                    return Ok(Called::Frame(Frame { record, code, vmctx, pc: 0, fp, frames_left }));
                }
                let f = std::mem::transmute::<usize, wes_core::backend::ArrayCallFn>(call);
                status = f(ctx, caller, tail_args);
                out = tail_args;
            }
            if status != CALL_RETURNED {
                return Err(CallTrap::Recorded);
            }
            if self.stack.len() < *sp + results.len() {
                self.stack.resize(*sp + results.len(), 0);
            }
            for (i, ty) in results.iter().enumerate() {
                self.stack[*sp + i] = from_raw(*ty, out.add(i).read());
            }
            *sp += results.len();
        }
        Ok(Called::Done)
    }

    /// Runs from frame `cur`, whose operand stack starts at `sp`, until the entry's frame
    /// returns (its results then start at cell 0), tail-calls native code, or traps.
    ///
    /// # Safety
    ///
    /// Every frame's vmctx and record must be live for the call.
    #[allow(clippy::too_many_lines)]
    unsafe fn run(&mut self, mut cur: Frame, mut sp: usize) -> Exit {
        let mut code: &Code = cur.code();
        let mut pc = 0usize;
        let mut vmctx = cur.vmctx;
        let mut canon = cur.record().shared.nan_canonicalization;
        macro_rules! trap {
            ($code:expr) => {{
                // SAFETY: every frame's vmctx is live.
                return unsafe { self.unwind(vmctx, $code, code.func_index, code.offset(pc)) };
            }};
        }
        macro_rules! switch {
            ($frame:expr) => {{
                cur = $frame;
                code = cur.code();
                pc = cur.pc;
                vmctx = cur.vmctx;
                canon = cur.record().shared.nan_canonicalization;
            }};
        }
        macro_rules! branch {
            ($t:expr) => {{
                let t: Target = $t;
                if t.pc == RETURN {
                    do_return!();
                } else {
                    let keep = t.dk.keep as usize;
                    if t.dk.drop > 0 {
                        let from = sp - keep;
                        self.stack.copy_within(from..sp, from - t.dk.drop as usize);
                        sp -= t.dk.drop as usize;
                    }
                    pc = t.pc as usize;
                }
            }};
        }
        macro_rules! do_return {
            () => {{
                let n = code.num_results as usize;
                self.stack.copy_within(sp - n..sp, cur.fp);
                sp = cur.fp + n;
                match self.frames.pop() {
                    None => return Exit::Returned,
                    Some(f) => {
                        switch!(f);
                        pc += 1;
                    }
                }
            }};
        }
        macro_rules! called {
            ($r:expr) => {{
                match $r {
                    Ok(Called::Frame(f)) => switch!(f),
                    Ok(Called::Done) => {
                        code = cur.code();
                        pc = cur.pc + 1;
                        vmctx = cur.vmctx;
                        canon = cur.record().shared.nan_canonicalization;
                    }
                    Err(CallTrap::Tail) => return Exit::Tail,
                    Err(CallTrap::Recorded) => {
                        code = cur.code();
                        pc = cur.pc;
                        vmctx = cur.vmctx;
                        trap!(None)
                    }
                    Err(CallTrap::Entry(callee_vmctx, c, fi, off)) => {
                        // SAFETY: every frame's vmctx is live.
                        return unsafe { self.unwind(callee_vmctx, Some(c), fi, off) };
                    }
                }
            }};
        }
        loop {
            let Some(op) = code.ops.get(pc).copied() else { trap!(Some(TrapCode::Unreachable)) };
            match op {
                Op::Charge { cost, ops } => {
                    // SAFETY: `vmctx` is live.
                    if cost > 0 && !unsafe { charge(vmctx, cost) } {
                        trap!(None)
                    }
                    // Counted once paid for, as the JIT counts (an unpaid segment counts none).
                    if ops > 0 {
                        // SAFETY: `vmctx` is live; its store context holds the operator counter.
                        unsafe {
                            let store = store_of(vmctx);
                            let n: u64 = rd(store, vm::STORE_OPERATORS);
                            wr(store, vm::STORE_OPERATORS, n.wrapping_add(u64::from(ops)));
                        }
                    }
                }
                Op::Unreachable => trap!(Some(TrapCode::Unreachable)),
                Op::Br(t) => {
                    branch!(t);
                    continue;
                }
                Op::BrIf(t) => {
                    sp -= 1;
                    if self.stack[sp] as u32 != 0 {
                        branch!(t);
                        continue;
                    }
                }
                Op::BrIfEqz(to) => {
                    sp -= 1;
                    if self.stack[sp] as u32 == 0 {
                        pc = to as usize;
                        continue;
                    }
                }
                Op::BrTable { start, len } => {
                    sp -= 1;
                    let i = (self.stack[sp] as u32).min(len);
                    let Some(t) = code.tables.get((start + i) as usize).copied() else {
                        trap!(Some(TrapCode::Unreachable))
                    };
                    branch!(t);
                    continue;
                }
                Op::Return => {
                    do_return!();
                    continue;
                }
                Op::Call(f) => {
                    cur.pc = pc;
                    // SAFETY: validated index; the record is live.
                    let funcref = unsafe { vmctx_entry(vmctx, vm::VMCTX_FUNCS, f) };
                    let ti = cur.record().shared.module.functions.get(f as usize).copied().unwrap_or(0);
                    // SAFETY: a live record of the store, of type `ti`.
                    let r = unsafe { self.call(&mut cur, &mut sp, funcref, ti, false) };
                    called!(r);
                    continue;
                }
                Op::ReturnCall(f) => {
                    cur.pc = pc;
                    // SAFETY: validated index; the record is live.
                    let funcref = unsafe { vmctx_entry(vmctx, vm::VMCTX_FUNCS, f) };
                    let ti = cur.record().shared.module.functions.get(f as usize).copied().unwrap_or(0);
                    // SAFETY: a live record of the store, of type `ti`.
                    let r = unsafe { self.call(&mut cur, &mut sp, funcref, ti, true) };
                    called!(r);
                    continue;
                }
                Op::CallIndirect { type_index, table } | Op::ReturnCallIndirect { type_index, table } => {
                    sp -= 1;
                    let index = u64::from(self.stack[sp] as u32);
                    // SAFETY: `vmctx` is live and the table index validated.
                    let Some(elem) = (unsafe { table_elem(vmctx, table, index) }) else {
                        trap!(Some(TrapCode::UndefinedElement))
                    };
                    // SAFETY: in bounds.
                    let funcref = unsafe { elem.read() } as *const u8;
                    if funcref.is_null() {
                        trap!(Some(TrapCode::IndirectCallToNull))
                    }
                    // SAFETY: a non-null element is a live record; type ids are per type index.
                    let (actual, expected): (u32, u32) = unsafe {
                        let ids: *const u32 = rd(vmctx, vm::VMCTX_TYPE_IDS);
                        (rd(funcref, vm::FUNCREF_TYPE_ID), ids.add(type_index as usize).read())
                    };
                    if actual != expected {
                        trap!(Some(TrapCode::IndirectCallTypeMismatch))
                    }
                    cur.pc = pc;
                    let tail = matches!(op, Op::ReturnCallIndirect { .. });
                    // SAFETY: a live record of the store, of type `type_index`.
                    let r = unsafe { self.call(&mut cur, &mut sp, funcref, type_index, tail) };
                    called!(r);
                    continue;
                }
                Op::Drop => sp -= 1,
                Op::Select => {
                    sp -= 2;
                    if self.stack[sp + 1] as u32 == 0 {
                        self.stack[sp - 1] = self.stack[sp];
                    }
                }
                Op::LocalGet(i) => {
                    self.stack[sp] = self.stack[cur.fp + i as usize];
                    sp += 1;
                }
                Op::LocalSet(i) => {
                    sp -= 1;
                    self.stack[cur.fp + i as usize] = self.stack[sp];
                }
                Op::LocalTee(i) => self.stack[cur.fp + i as usize] = self.stack[sp - 1],
                Op::GlobalGet(g, w) => {
                    // SAFETY: validated index; a global slot is a 16-byte `ValRaw`.
                    let v = unsafe {
                        let p = vmctx_entry(vmctx, vm::VMCTX_GLOBALS, g);
                        match w {
                            Width::W32 => u64::from(rd::<u32>(p, 0)),
                            Width::W64 => rd::<u64>(p, 0),
                        }
                    };
                    self.stack[sp] = v;
                    sp += 1;
                }
                Op::GlobalSet(g, w) => {
                    sp -= 1;
                    let v = self.stack[sp];
                    // SAFETY: validated index; a global slot is a 16-byte `ValRaw`.
                    unsafe {
                        let p = vmctx_entry(vmctx, vm::VMCTX_GLOBALS, g);
                        match w {
                            Width::W32 => wr(p, 0, v as u32),
                            Width::W64 => wr(p, 0, v),
                        }
                    }
                }
                Op::Load { kind, mem, offset } => {
                    let addr = u64::from(self.stack[sp - 1] as u32);
                    let size = match kind {
                        LoadKind::I32 | LoadKind::I64S32 | LoadKind::I64U32 => 4,
                        LoadKind::I64 => 8,
                        LoadKind::I32S8 | LoadKind::I32U8 | LoadKind::I64S8 | LoadKind::I64U8 => 1,
                        _ => 2,
                    };
                    // SAFETY: `vmctx` is live, the memory index validated.
                    let Some(p) = (unsafe { mem_addr(vmctx, mem, addr, offset, size) }) else {
                        trap!(Some(TrapCode::MemoryOutOfBounds))
                    };
                    // SAFETY: `p..p+size` is inside the memory (checked against its length).
                    let v = unsafe {
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
                    };
                    self.stack[sp - 1] = v;
                }
                Op::Store { size, mem, offset } => {
                    sp -= 2;
                    let addr = u64::from(self.stack[sp] as u32);
                    let v = self.stack[sp + 1];
                    // SAFETY: `vmctx` is live, the memory index validated.
                    let Some(p) = (unsafe { mem_addr(vmctx, mem, addr, offset, u64::from(size)) }) else {
                        trap!(Some(TrapCode::MemoryOutOfBounds))
                    };
                    // SAFETY: `p..p+size` is inside the memory (checked against its length).
                    unsafe {
                        match size {
                            1 => wr(p, 0, v as u8),
                            2 => wr(p, 0, v as u16),
                            4 => wr(p, 0, v as u32),
                            _ => wr(p, 0, v),
                        }
                    }
                }
                Op::MemorySize(mem) => {
                    // SAFETY: validated index.
                    let len: u64 = unsafe { rd(vmctx_entry(vmctx, vm::VMCTX_MEMORIES, mem), vm::MEMORY_LENGTH) };
                    self.stack[sp] = u64::from((len >> 16) as u32);
                    sp += 1;
                }
                Op::MemoryGrow(mem) => {
                    let delta = self.stack[sp - 1] as u32;
                    let f = lc!(vmctx, Libcall::MemoryGrow, GrowFn);
                    // SAFETY: the runtime's libcall with the instance's vmctx.
                    let r = unsafe { f(vmctx, mem, delta) };
                    if r < 0 {
                        trap!(None)
                    }
                    self.stack[sp - 1] = u64::from(r as u32);
                }
                Op::MemoryFill(mem) => {
                    sp -= 3;
                    let (d, v, n) = (self.stack[sp] as u32, self.stack[sp + 1] as u32, self.stack[sp + 2] as u32);
                    let f = lc!(vmctx, Libcall::MemoryFill, Bulk4Fn);
                    // SAFETY: the runtime's libcall with the instance's vmctx.
                    if unsafe { f(vmctx, mem, d, v, n) } == 0 {
                        trap!(None)
                    }
                }
                Op::MemoryCopy { dst, src } => {
                    sp -= 3;
                    let (d, s, n) = (self.stack[sp] as u32, self.stack[sp + 1] as u32, self.stack[sp + 2] as u32);
                    let f = lc!(vmctx, Libcall::MemoryCopy, Bulk5Fn);
                    // SAFETY: the runtime's libcall with the instance's vmctx.
                    if unsafe { f(vmctx, dst, src, d, s, n) } == 0 {
                        trap!(None)
                    }
                }
                Op::MemoryInit { mem, data } => {
                    sp -= 3;
                    let (d, s, n) = (self.stack[sp] as u32, self.stack[sp + 1] as u32, self.stack[sp + 2] as u32);
                    let f = lc!(vmctx, Libcall::MemoryInit, Bulk5Fn);
                    // SAFETY: the runtime's libcall with the instance's vmctx.
                    if unsafe { f(vmctx, mem, data, d, s, n) } == 0 {
                        trap!(None)
                    }
                }
                Op::DataDrop(data) => {
                    let f = lc!(vmctx, Libcall::DataDrop, DropFn);
                    // SAFETY: the runtime's libcall with the instance's vmctx.
                    unsafe { f(vmctx, data) };
                }
                Op::Const(v) => {
                    self.stack[sp] = v;
                    sp += 1;
                }
                Op::Num(n) => {
                    let r = if n.arity() == 1 {
                        n.eval(self.stack[sp - 1], 0, canon)
                    } else {
                        sp -= 1;
                        n.eval(self.stack[sp - 1], self.stack[sp], canon)
                    };
                    match r {
                        Ok(v) => self.stack[sp - 1] = v,
                        Err(c) => trap!(Some(c)),
                    }
                }
                Op::RefFunc(f) => {
                    // SAFETY: validated index.
                    self.stack[sp] = unsafe { vmctx_entry(vmctx, vm::VMCTX_FUNCS, f) } as u64;
                    sp += 1;
                }
                Op::TableGet(t) => {
                    let index = u64::from(self.stack[sp - 1] as u32);
                    // SAFETY: `vmctx` is live, the table index validated.
                    let Some(p) = (unsafe { table_elem(vmctx, t, index) }) else {
                        trap!(Some(TrapCode::TableOutOfBounds))
                    };
                    // SAFETY: in bounds.
                    self.stack[sp - 1] = unsafe { p.read() };
                }
                Op::TableSet(t) => {
                    sp -= 2;
                    let index = u64::from(self.stack[sp] as u32);
                    // SAFETY: `vmctx` is live, the table index validated.
                    let Some(p) = (unsafe { table_elem(vmctx, t, index) }) else {
                        trap!(Some(TrapCode::TableOutOfBounds))
                    };
                    // SAFETY: in bounds.
                    unsafe { p.write(self.stack[sp + 1]) };
                }
                Op::TableSize(t) => {
                    // SAFETY: validated index.
                    let len: u64 = unsafe { rd(vmctx_entry(vmctx, vm::VMCTX_TABLES, t), vm::TABLE_LENGTH) };
                    self.stack[sp] = u64::from(len as u32);
                    sp += 1;
                }
                Op::TableGrow(t) => {
                    sp -= 1;
                    let (init, delta) = (self.stack[sp - 1], self.stack[sp] as u32);
                    let f = lc!(vmctx, Libcall::TableGrow, TableGrowFn);
                    // SAFETY: the runtime's libcall with the instance's vmctx.
                    let r = unsafe { f(vmctx, t, init, delta) };
                    if r < 0 {
                        trap!(None)
                    }
                    self.stack[sp - 1] = u64::from(r as u32);
                }
                Op::TableFill(t) => {
                    sp -= 3;
                    let (d, v, n) = (self.stack[sp] as u32, self.stack[sp + 1], self.stack[sp + 2] as u32);
                    let f = lc!(vmctx, Libcall::TableFill, TableFillFn);
                    // SAFETY: the runtime's libcall with the instance's vmctx.
                    if unsafe { f(vmctx, t, d, v, n) } == 0 {
                        trap!(None)
                    }
                }
                Op::TableCopy { dst, src } => {
                    sp -= 3;
                    let (d, s, n) = (self.stack[sp] as u32, self.stack[sp + 1] as u32, self.stack[sp + 2] as u32);
                    let f = lc!(vmctx, Libcall::TableCopy, Bulk5Fn);
                    // SAFETY: the runtime's libcall with the instance's vmctx.
                    if unsafe { f(vmctx, dst, src, d, s, n) } == 0 {
                        trap!(None)
                    }
                }
                Op::TableInit { table, elem } => {
                    sp -= 3;
                    let (d, s, n) = (self.stack[sp] as u32, self.stack[sp + 1] as u32, self.stack[sp + 2] as u32);
                    let f = lc!(vmctx, Libcall::TableInit, Bulk5Fn);
                    // SAFETY: the runtime's libcall with the instance's vmctx.
                    if unsafe { f(vmctx, table, elem, d, s, n) } == 0 {
                        trap!(None)
                    }
                }
                Op::ElemDrop(elem) => {
                    let f = lc!(vmctx, Libcall::ElemDrop, DropFn);
                    // SAFETY: the runtime's libcall with the instance's vmctx.
                    unsafe { f(vmctx, elem) };
                }
            }
            pc += 1;
        }
    }
}

/// How a call failed to go on.
enum CallTrap {
    /// The callee (or the native code it tail-called) trapped and recorded it; the calling
    /// frame records its own frame.
    Recorded,
    /// The callee trapped on entry (call depth, or a body that could not be translated):
    /// `(callee vmctx, code, callee function index, offset)`; its caller is already on the
    /// frame stack.
    Entry(*mut u8, TrapCode, u32, u32),
    /// The entry's own frame tail-called native code: return `CALL_TAIL`.
    Tail,
}
