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
//! The ops that need nothing but the frame's cells, memory 0 and the gas counter run in
//! threaded handlers that jump from op to op ([`threaded`]), and so do calls of the module's
//! own functions and returns; the loop enters them, and runs in full whatever a handler hands
//! back (imports, first calls, traps, unpaid charges, everything else).
//!
//! Every protocol is the JIT's (`wes-jit/src/translate/*.rs`):
//! - **Frames.** Each frame may open `frames_left` frames, itself included; a callee gets one
//!   fewer, a tail callee the same (so a frame's count is the entry frame's less the callers
//!   below it: [`Executor::frames_left`]); a function entered with zero traps
//!   `CallStackExhausted` at its body's start. Before an array call, the count the callee gets
//!   is written to `STORE_FRAMES_LEFT`.
//! - **Traps** are recorded through `Libcall::Trap`: the innermost frame with the code and the
//!   trapping operator's module offset, then every caller with code 0 at its call's offset.
//!   A callee or libcall that trapped has recorded its part already.
//! - **Tail calls** to native code leave through [`CALL_TAIL`] when the tail-calling frame is
//!   the entry's own; deeper, the frame is popped and its caller makes the call. A native
//!   callee that returns `CALL_TAIL` has its pending calls made here, in a loop.
//! - **Gas** lives in the store context (`STORE_GAS`), where libcalls, host functions and other
//!   instances charge it too; each segment's charge reads and writes it there, and, when
//!   counting, adds the segment's operators to `STORE_OPERATORS` once it is paid for.

#[macro_use]
mod vmctx;

mod bulk;
mod calls;
mod entry;
#[cfg(test)]
pub(crate) mod probe;
mod stack;
mod threaded;
mod vector;

use wes_core::TrapCode;
use wes_core::backend::ValRaw;
use wes_core::vm;

use self::calls::{CallTrap, Called, Sig};
pub(crate) use self::entry::interp_entry;
use self::stack::{cell, copy_cells};
use self::threaded::Regs;
pub(crate) use self::threaded::handler_address;
use self::vmctx::*;
use crate::FuncRecord;
use crate::code::{Code, Op, Slot, Target, Width};
use crate::simd::SimdArity;

/// An honest upper bound of the native stack one nesting of the interpreter takes: the entry,
/// the loop's frame and the call it makes into native code. Every nesting belongs to at least
/// one wasm frame (the one making the native call), so this bounds the native stack per wasm
/// frame. The `frame_bound` test measures it: 576 bytes in a release build, 7,904 in a debug
/// build (2026-11-30, with the fused ops: an unoptimised build gives every match arm its own
/// stack slots); 17,280 in a debug build since the cells are reached through raw pointers
/// checked by a function call per access (every access's temporaries get their own slots).
pub(crate) const MAX_NATIVE_FRAME: usize = if cfg!(debug_assertions) { 24 * 1024 } else { 4 * 1024 };

/// One wasm frame of the interpreter.
///
/// In this order (`repr(C)`): a call in the threaded handlers pushes a copy of the running
/// frame with its `ip` replaced, the fields before `ip` copied as two 16-byte moves. How many
/// frames it may open is not kept here: it follows from its depth ([`Executor::frames_left`]),
/// so a call need not copy and count it.
#[derive(Clone, Copy, Debug)]
#[repr(C)]
struct Frame {
    record: *const FuncRecord,
    code: *const Code,
    vmctx: *mut u8,
    /// Index of the frame's first local in the value stack.
    fp: usize,
    /// The op being executed (for a caller: its call), an op of `code`. An address rather
    /// than an index: a call and a return in the threaded handlers save and resume it
    /// without dividing or multiplying by an op's size.
    ip: *const Slot,
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

    /// The index in its code of the op the frame is executing (for trap offsets and
    /// backtraces). By address arithmetic rather than `offset_from`, whose contract a stale
    /// `ip` would break: an `ip` outside the code gives an index past its end, which
    /// `Code::offset` answers with the body's offset.
    fn pc(&self) -> usize {
        let from = self.code().slots.as_ptr().addr();
        self.ip.addr().wrapping_sub(from) / std::mem::size_of::<Slot>()
    }
}

/// Why the loop stopped.
enum Exit {
    Returned,
    /// The entry's own frame tail-called native code: return `CALL_TAIL`.
    Tail,
    Trapped,
}

/// The state of one nesting of the loop: its frames and value stack.
struct Executor {
    /// Cells of every frame: locals, then operands.
    stack: Vec<u64>,
    /// The callers of the running frame, innermost last.
    frames: Vec<Frame>,
    /// The argument/result buffer of native calls.
    buf: Vec<ValRaw>,
    /// The frames the entry's frame may open, itself included (`STORE_FRAMES_LEFT` when it
    /// was entered).
    allowed: u32,
}

impl Executor {
    /// Runs from frame `cur`, whose operand stack starts at `sp`, until the entry's frame
    /// returns (its results then start at cell 0), tail-calls native code, or traps.
    ///
    /// # Safety
    ///
    /// Every frame's vmctx and record must be live for the call.
    #[allow(clippy::too_many_lines)]
    unsafe fn run(&mut self, mut cur: Frame, mut sp: usize) -> Exit {
        let mut code: &Code = cur.code();
        let mut vmctx = cur.vmctx;
        // The running frame's first cell (`cur.fp`), where its slots count from.
        let mut fp = cur.fp;
        let mut canon = code.canon;
        // The definition of memory 0 of the running instance, for the ops that address it
        // (null when the running code has none): a frame switch re-reads it.
        // SAFETY: `vmctx` is live.
        let mut mem0: *mut u8 = unsafe { mem0_of(code, vmctx) };
        // The store context, where gas is counted: one for every instance a frame of this
        // loop runs (a store's instances share it).
        // SAFETY: `vmctx` is live.
        let store = unsafe { store_of(vmctx) };
        // The hot state lives in locals of the loop: the running code's ops and the value
        // stack's cells as raw pointers, re-read only where they can change (a frame switch
        // and any call, which may grow the stack and move its cells).
        let mut ops: *const Slot = code.slots.as_ptr();
        // The op to run: an address in `ops` rather than an index, so a dispatch is one load
        // (the index, `pc!()`, is only needed for traps and calls).
        let mut ip: *const Slot = ops;
        let mut base: *mut u64 = self.stack.as_mut_ptr();
        // The running frame's first cell (`base + fp`): slots are reached from it in one
        // addressing step. Re-derived wherever `base` or `fp` change.
        // SAFETY: `fp` is a cell of the stack (the frame's first; `enter` reserved its cells).
        let mut fb: *mut u64 = unsafe { base.add(fp) };
        // Cell `$i` of the value stack, unchecked. Every frame's cells — locals and its
        // operand stack up to `max_height` — were reserved by `Executor::enter` (or `entry`)
        // before the frame ran, and the translator computed `max_height` from the same
        // operand-stack accounting that gives each op its cells, so every index an op forms
        // (`fp + local`, `sp - k` for its operands, `sp + k` below the frame's height) is
        // inside the stack. Debug builds (every `cargo test`) check each access.
        macro_rules! c {
            ($i:expr) => {
                // SAFETY: see above; `base` is re-read after every call that can move the
                // stack's cells, and no other reference to a cell is live.
                *{
                    #[allow(unused_unsafe)]
                    unsafe {
                        &mut *cell(base, $i, self.stack.len())
                    }
                }
            };
        }
        // Slot `$i` of the running frame (cell `fp + $i`), unchecked as `c!`.
        macro_rules! s {
            ($i:expr) => {
                // SAFETY: as `c!`; `fb` is re-derived with `base`.
                *{
                    #[allow(unused_unsafe)]
                    unsafe {
                        &mut *cell(fb, $i, self.stack.len().wrapping_sub(fp))
                    }
                }
            };
        }
        // Copies cells `$from..$to` to `$dst` (the ranges may overlap), unchecked as `c!`.
        macro_rules! cp {
            ($from:expr, $to:expr, $dst:expr) => {
                // SAFETY: as `c!`: both ranges are cells of the running frame.
                unsafe { copy_cells(base, $from, $to, $dst, self.stack.len()) }
            };
        }
        // The index in `ops` of the op at `ip`.
        macro_rules! pc {
            () => {{
                // SAFETY: `ip` points into the running code's ops, which start at `ops`.
                #[allow(unused_unsafe)]
                let at = unsafe { ip.offset_from(ops) as usize };
                at
            }};
        }
        // Moves `ip` to op `$pc` of the running code (a branch target, a call's resumption
        // point: ops of `code`, checked by `Code::seal`).
        macro_rules! goto {
            ($pc:expr) => {{
                // SAFETY: `$pc` is an op of `code` (see above).
                #[allow(unused_unsafe)]
                let to = unsafe { ops.add($pc) };
                ip = to;
            }};
        }
        macro_rules! trap {
            ($code:expr) => {{
                // SAFETY: every frame's vmctx is live.
                return unsafe { self.unwind(vmctx, $code, code.func_index, code.offset(pc!())) };
            }};
        }
        macro_rules! switch {
            () => {{
                fp = cur.fp;
                code = cur.code();
                ops = code.slots.as_ptr();
                base = self.stack.as_mut_ptr();
                // SAFETY: as `fb`'s first value.
                fb = unsafe { base.add(fp) };
                ip = cur.ip;
                vmctx = cur.vmctx;
                canon = code.canon;
                // SAFETY: `vmctx` is live.
                mem0 = unsafe { mem0_of(code, vmctx) };
            }};
        }
        macro_rules! branch {
            ($t:expr) => {{
                let t: Target = $t;
                let keep = t.dk.keep as usize;
                if t.dk.drop > 0 {
                    let from = sp - keep;
                    cp!(from, sp, from - t.dk.drop as usize);
                    sp -= t.dk.drop as usize;
                }
                goto!(t.pc as usize);
            }};
        }
        // The charge of the segment starting where a frame starts or resumes after a call,
        // paid here when the counter holds enough, as the `Charge` op would (one dispatch
        // less per call); otherwise that op runs, and traps or asks for more at its offset.
        macro_rules! prepay {
            () => {{
                // SAFETY: `pc` is an op of `code`: a body's first, or the op after a call
                // (which falls through).
                if let Op::Charge { cost, .. } = unsafe { (*ip).op } {
                    // SAFETY: `store` is the live store context of every frame's instance.
                    let gas: u64 = unsafe { rd(store, vm::STORE_GAS) };
                    if gas >= cost {
                        // SAFETY: as above.
                        unsafe { wr(store, vm::STORE_GAS, gas - cost) };
                        // SAFETY: a charge falls through to another op.
                        ip = unsafe { ip.add(1) };
                    }
                }
            }};
        }
        macro_rules! do_return {
            () => {{
                let n = code.result_cells as usize;
                if n == 1 {
                    c!(fp) = c!(sp - 1);
                } else {
                    cp!(sp - n, sp, fp);
                }
                sp = fp + n;
                match self.frames.pop() {
                    None => return Exit::Returned,
                    Some(f) => {
                        cur = f;
                        switch!();
                        // SAFETY: the caller resumes after its call, which falls through.
                        ip = unsafe { ip.add(1) };
                        prepay!();
                    }
                }
            }};
        }
        macro_rules! called {
            ($r:expr) => {{
                match $r {
                    Ok(Called::Frame) => {
                        switch!();
                        prepay!();
                    }
                    Ok(Called::Done) => {
                        fp = cur.fp;
                        code = cur.code();
                        ops = code.slots.as_ptr();
                        base = self.stack.as_mut_ptr();
                        // SAFETY: as `fb`'s first value.
                        fb = unsafe { base.add(fp) };
                        // SAFETY: the caller resumes after its call, which falls through.
                        ip = unsafe { cur.ip.add(1) };
                        vmctx = cur.vmctx;
                        canon = code.canon;
                        // SAFETY: `vmctx` is live.
                        mem0 = unsafe { mem0_of(code, vmctx) };
                        prepay!();
                    }
                    Err(CallTrap::Tail) => return Exit::Tail,
                    Err(CallTrap::Recorded) => {
                        code = cur.code();
                        ops = code.slots.as_ptr();
                        ip = cur.ip;
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
        // What the threaded handlers read besides their registers (refreshed before each
        // chain: a frame switch or a call changes it), and where their calls and returns
        // leave the frame they switched to.
        let mut regs = Regs {
            ops,
            canon,
            cells: 0,
            store,
            cur,
            frames: &raw mut self.frames,
            room: 0,
            switched: false,
            allowed: self.allowed,
            made: None,
        };
        loop {
            debug_assert!(pc!() < code.slots.len());
            regs.ops = ops;
            regs.canon = canon;
            regs.cells = self.stack.len() - fp;
            regs.cur = cur;
            // Re-derived for each chain: the loop used `self` since.
            regs.frames = &raw mut self.frames;
            regs.room = self.frames.capacity().min(self.allowed.saturating_sub(1) as usize);
            // The ops with handlers of their own run there, one after another, until one the
            // loop must run (see `threaded`).
            // SAFETY: `ip` is an op of `code` (as below), `regs` describes the running code,
            // `fb` and `sp` its frame, `mem0` its instance's memory 0 when it addresses it.
            let next = unsafe { threaded::enter(ip, fb, sp - fp, mem0, &raw mut regs) };
            if regs.switched {
                // A handler called or returned: the chain ended in another frame.
                regs.switched = false;
                cur = regs.cur;
                fp = cur.fp;
                code = cur.code();
                ops = code.slots.as_ptr();
                // SAFETY: as `fb`'s first value (the handlers never grow the stack).
                fb = unsafe { base.add(fp) };
                vmctx = cur.vmctx;
                canon = code.canon;
                // SAFETY: `vmctx` is live.
                mem0 = unsafe { mem0_of(code, vmctx) };
            }
            sp = fp + next.sp;
            if next.ip.addr() & 1 == 0 {
                ip = next.ip;
                continue;
            }
            ip = next.ip.wrapping_byte_sub(1);
            debug_assert!(pc!() < code.slots.len());
            // SAFETY: `ip` is always an op of `code`: the translator ends every body with an
            // op that does not fall through and checks every branch target (`Code::seal`);
            // a call resumes after the op that made it, which falls through; a handler
            // returns the address of an op it was given.
            let op: &Op = unsafe { &(*ip).op };
            // A load from memory 0 of `$size` bytes at slot `$a` plus `$offset`, read as `$ty`.
            macro_rules! load0 {
                ($ty:ty, $d:expr, $a:expr, $end:expr) => {
                    load0!($ty as |v: $ty| u64::from(v), $d, $a, $end)
                };
                ($ty:ty as $widen:expr, $d:expr, $a:expr, $end:expr) => {{
                    let addr = s!($a as usize) as u32;
                    // SAFETY: the translator emits these ops only when the module has a memory,
                    // so `mem0` is its live definition; `end` counts the size (`Code::seal`).
                    let Some(p) = (unsafe { mem0_end(mem0, addr, $end, std::mem::size_of::<$ty>()) }) else {
                        trap!(Some(TrapCode::MemoryOutOfBounds))
                    };
                    // SAFETY: `p..p+size` is inside the memory (checked against its length).
                    s!($d as usize) = $widen(unsafe { rd::<$ty>(p, 0) });
                }};
            }
            macro_rules! store0 {
                ($ty:ty, $a:expr, $v:expr, $end:expr) => {{
                    let addr = s!($a as usize) as u32;
                    let v = s!($v as usize) as $ty;
                    // SAFETY: as `load0!`.
                    let Some(p) = (unsafe { mem0_end(mem0, addr, $end, std::mem::size_of::<$ty>()) }) else {
                        trap!(Some(TrapCode::MemoryOutOfBounds))
                    };
                    // SAFETY: `p..p+size` is inside the memory (checked against its length).
                    unsafe { wr::<$ty>(p, 0, v) };
                }};
            }
            match *op {
                Op::Charge { cost, chain } | Op::ChargeCount { cost, chain, .. } => {
                    let ops = if let Op::ChargeCount { ops, .. } = *op { ops } else { 0 };
                    // Counted once paid for, as the JIT counts (an unpaid segment counts none).
                    macro_rules! count {
                        ($n:expr) => {{
                            let n: u64 = $n;
                            if n > 0 {
                                // SAFETY: `store` is live; it holds the operator counter.
                                unsafe {
                                    let c: u64 = rd(store, vm::STORE_OPERATORS);
                                    wr(store, vm::STORE_OPERATORS, c.wrapping_add(n));
                                }
                            }
                        }};
                    }
                    // The common case inline: the counter holds enough.
                    // SAFETY: `store` is the live store context of every frame's instance.
                    let gas: u64 = unsafe { rd(store, vm::STORE_GAS) };
                    if gas >= cost {
                        // SAFETY: as above.
                        unsafe { wr(store, vm::STORE_GAS, gas - cost) };
                        count!(u64::from(ops));
                    } else if chain == 0 {
                        // SAFETY: `vmctx` is live.
                        if !unsafe { charge(vmctx, cost) } {
                            trap!(None)
                        }
                        count!(u64::from(ops));
                    } else {
                        // A merged check the counter cannot pay at once: the segments of its
                        // chain one by one, as their own charges would be paid (nothing of
                        // them has run: they are pure), the out-of-gas handler asked for each
                        // and a trap reported at the first that cannot be paid.
                        let Some(links) = code
                            .chains
                            .get(chain as usize - 1)
                            .and_then(|&(at, n)| code.links.get(at as usize..at as usize + n as usize))
                        else {
                            trap!(Some(TrapCode::Unreachable))
                        };
                        for l in links.iter() {
                            // SAFETY: `vmctx` is live.
                            if !unsafe { charge(vmctx, l.cost) } {
                                let at = u32::try_from(l.start).unwrap_or(u32::MAX);
                                // SAFETY: as `trap!`.
                                return unsafe { self.unwind(vmctx, None, code.func_index, at) };
                            }
                            count!(l.ops);
                        }
                    }
                }
                Op::Unreachable => trap!(Some(TrapCode::Unreachable)),
                // A call or return comes here only from its handler, which made the op's
                // move before it gave up: `sp` is the moved height.
                Op::ChargeReturn { cost, .. } => {
                    // SAFETY: `store` is the live store context of every frame's instance.
                    let gas: u64 = unsafe { rd(store, vm::STORE_GAS) };
                    if gas >= cost {
                        // SAFETY: as above.
                        unsafe { wr(store, vm::STORE_GAS, gas - cost) };
                    // SAFETY: `vmctx` is live.
                    } else if !unsafe { charge(vmctx, cost) } {
                        trap!(None)
                    }
                    do_return!();
                    continue;
                }
                Op::BrTable { start, len } => {
                    sp -= 1;
                    let i = (c!(sp) as u32).min(len);
                    let Some(t) = code.tables.get((start + i) as usize).copied() else {
                        trap!(Some(TrapCode::Unreachable))
                    };
                    branch!(t);
                    continue;
                }
                Op::Return { .. } => {
                    do_return!();
                    continue;
                }
                Op::Call { f, .. } | Op::CallImport { f, .. } => {
                    cur.ip = ip;
                    // Through a copy: a local whose address is taken lives in memory for the
                    // whole loop, and `sp` is the loop's hottest state.
                    let mut at = sp;
                    let r = match regs.made.take() {
                        // The handler made the array call, which did not simply return.
                        // SAFETY: the status of a call of an import of `cur`'s instance,
                        // `at` the height with its parameters popped.
                        Some(status) => unsafe { self.finish_import(&mut cur, &mut at, f, status) },
                        None => {
                            // SAFETY: validated index; the record is live.
                            let funcref = unsafe { vmctx_entry(vmctx, vm::VMCTX_FUNCS, f) };
                            // SAFETY: a live record of the store, of function `f`'s type.
                            unsafe { self.call(&mut cur, &mut at, funcref, Sig::Func(f), false) }
                        }
                    };
                    sp = at;
                    called!(r);
                    continue;
                }
                Op::ReturnCall(f) => {
                    cur.ip = ip;
                    // SAFETY: validated index; the record is live.
                    let funcref = unsafe { vmctx_entry(vmctx, vm::VMCTX_FUNCS, f) };
                    // Through a copy: a local whose address is taken lives in memory for the
                    // whole loop, and `sp` is the loop's hottest state.
                    let mut at = sp;
                    // SAFETY: a live record of the store, of function `f`'s type.
                    let r = unsafe { self.call(&mut cur, &mut at, funcref, Sig::Func(f), true) };
                    sp = at;
                    called!(r);
                    continue;
                }
                Op::CallIndirect { type_index, table } | Op::ReturnCallIndirect { type_index, table } => {
                    sp -= 1;
                    let index = u64::from(c!(sp) as u32);
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
                    cur.ip = ip;
                    let tail = matches!(*op, Op::ReturnCallIndirect { .. });
                    // Through a copy: a local whose address is taken lives in memory for the
                    // whole loop, and `sp` is the loop's hottest state.
                    let mut at = sp;
                    // SAFETY: a live record of the store, of type `type_index`.
                    let r = unsafe { self.call(&mut cur, &mut at, funcref, Sig::Type(type_index), tail) };
                    sp = at;
                    called!(r);
                    continue;
                }
                Op::Select2 => {
                    // `a` (two cells), `b` (two cells), the condition.
                    sp -= 3;
                    if c!(sp + 2) as u32 == 0 {
                        cp!(sp, sp + 2, sp - 2);
                    }
                }
                Op::LocalGet2(i) => {
                    let at = fp + i as usize;
                    cp!(at, at + 2, sp);
                    sp += 2;
                }
                Op::LocalSet2(i) => {
                    sp -= 2;
                    cp!(sp, sp + 2, fp + i as usize);
                }
                Op::LocalTee2(i) => cp!(sp - 2, sp, fp + i as usize),
                Op::ConstV(i) => {
                    let v = code.v128s.get(i as usize).copied().unwrap_or(0);
                    c!(sp) = v as u64;
                    c!(sp + 1) = (v >> 64) as u64;
                    sp += 2;
                }
                Op::LoadV { kind, mem, offset } => {
                    let addr = u64::from(c!(sp - 1) as u32);
                    // SAFETY: `vmctx` is live, the memory index validated.
                    let Some(p) = (unsafe { mem_addr(vmctx, mem, addr, offset, kind.size()) }) else {
                        trap!(Some(TrapCode::MemoryOutOfBounds))
                    };
                    // SAFETY: `p..p+size` is inside the memory (checked against its length).
                    let v = unsafe { vector::load(kind, p) };
                    c!(sp - 1) = v as u64;
                    c!(sp) = (v >> 64) as u64;
                    sp += 1;
                }
                Op::StoreV { mem, offset } => {
                    sp -= 3;
                    let addr = u64::from(c!(sp) as u32);
                    // SAFETY: `vmctx` is live, the memory index validated.
                    let Some(p) = (unsafe { mem_addr(vmctx, mem, addr, offset, 16) }) else {
                        trap!(Some(TrapCode::MemoryOutOfBounds))
                    };
                    // SAFETY: `p..p+16` is inside the memory (checked against its length).
                    unsafe {
                        vector::write_le(p, 8, c!(sp + 1));
                        vector::write_le(p.add(8), 8, c!(sp + 2));
                    }
                }
                Op::LoadLane { size, lane, mem, offset } | Op::StoreLane { size, lane, mem, offset } => {
                    sp -= 3;
                    let addr = u64::from(c!(sp) as u32);
                    let v = u128::from(c!(sp + 1)) | (u128::from(c!(sp + 2)) << 64);
                    // SAFETY: `vmctx` is live, the memory index validated.
                    let Some(p) = (unsafe { mem_addr(vmctx, mem, addr, offset, u64::from(size)) }) else {
                        trap!(Some(TrapCode::MemoryOutOfBounds))
                    };
                    if matches!(*op, Op::LoadLane { .. }) {
                        // SAFETY: `p..p+size` is inside the memory (checked against its length).
                        let x = unsafe { vector::read_le(p, u64::from(size)) };
                        let v = vector::replace_lane(v, size, lane, x);
                        c!(sp) = v as u64;
                        c!(sp + 1) = (v >> 64) as u64;
                        sp += 2;
                    } else {
                        // SAFETY: `p..p+size` is inside the memory (checked against its length).
                        unsafe { vector::write_le(p, u64::from(size), vector::lane(v, size, lane)) };
                    }
                }
                Op::GlobalGet(g, w) => {
                    // SAFETY: validated index; a global slot is a 16-byte `ValRaw`.
                    let v = unsafe {
                        let p = vmctx_entry(vmctx, vm::VMCTX_GLOBALS, g);
                        match w {
                            Width::W32 => u128::from(rd::<u32>(p, 0)),
                            Width::W64 => u128::from(rd::<u64>(p, 0)),
                            Width::W128 => rd::<u128>(p, 0),
                        }
                    };
                    c!(sp) = v as u64;
                    sp += 1;
                    if w == Width::W128 {
                        c!(sp) = (v >> 64) as u64;
                        sp += 1;
                    }
                }
                Op::GlobalSet(g, w) => {
                    sp -= if w == Width::W128 { 2 } else { 1 };
                    let v = c!(sp);
                    // SAFETY: validated index; a global slot is a 16-byte `ValRaw`.
                    unsafe {
                        let p = vmctx_entry(vmctx, vm::VMCTX_GLOBALS, g);
                        match w {
                            Width::W32 => wr(p, 0, v as u32),
                            Width::W64 => wr(p, 0, v),
                            Width::W128 => wr(p, 0, u128::from(v) | (u128::from(c!(sp + 1)) << 64)),
                        }
                    }
                }
                Op::Load32S { d, a, end, .. } => load0!(u32, d, a, end),
                Op::Load64S { d, a, end, .. } => load0!(u64, d, a, end),
                Op::Store32S { a, v, end, .. } => store0!(u32, a, v, end),
                Op::Load8U { d, a, end, .. } => load0!(u8, d, a, end),
                Op::Load16U { d, a, end, .. } => load0!(u16, d, a, end),
                Op::Load8S { d, a, end, .. } => load0!(i8 as |v: i8| u64::from(v as i32 as u32), d, a, end),
                Op::Load16S { d, a, end, .. } => load0!(i16 as |v: i16| u64::from(v as i32 as u32), d, a, end),
                Op::Store8 { a, v, end, .. } => store0!(u8, a, v, end),
                Op::Store16 { a, v, end, .. } => store0!(u16, a, v, end),
                Op::Store64S { a, v, end, .. } => store0!(u64, a, v, end),
                Op::LoadS { kind, sp: ds, d, a, mem, offset } => {
                    let addr = u64::from(s!(a as usize) as u32);
                    // SAFETY: `vmctx` is live, the memory index validated.
                    let Some(p) = (unsafe { mem_addr(vmctx, mem, addr, offset, kind.size()) }) else {
                        trap!(Some(TrapCode::MemoryOutOfBounds))
                    };
                    // SAFETY: `p..p+size` is inside the memory (checked against its length).
                    s!(d as usize) = unsafe { load_cell(kind, p) };
                    sp = sp.wrapping_add_signed(isize::from(ds));
                }
                Op::StoreS { size, sp: ds, a, v, mem, offset } => {
                    let addr = u64::from(s!(a as usize) as u32);
                    let v = s!(v as usize);
                    // SAFETY: `vmctx` is live, the memory index validated.
                    let Some(p) = (unsafe { mem_addr(vmctx, mem, addr, offset, u64::from(size)) }) else {
                        trap!(Some(TrapCode::MemoryOutOfBounds))
                    };
                    // SAFETY: `p..p+size` is inside the memory (checked against its length).
                    unsafe { store_cell(size, p, v) };
                    sp = sp.wrapping_add_signed(isize::from(ds));
                }
                Op::I32WrapS { d, a, .. } => s!(d as usize) = u64::from(s!(a as usize) as u32),
                Op::I64ExtendSS { d, a, .. } => s!(d as usize) = s!(a as usize) as u32 as i32 as i64 as u64,
                Op::UnS { n, sp: ds, d, a } => {
                    match n.eval(s!(a as usize), 0, canon) {
                        Ok(v) => s!(d as usize) = v,
                        Err(c) => trap!(Some(c)),
                    }
                    sp = sp.wrapping_add_signed(isize::from(ds));
                }
                Op::BinSS { n, sp: ds, d, a, b } => {
                    match n.eval(s!(a as usize), s!(b as usize), canon) {
                        Ok(v) => s!(d as usize) = v,
                        Err(c) => trap!(Some(c)),
                    }
                    sp = sp.wrapping_add_signed(isize::from(ds));
                }
                Op::BinSI { n, sp: ds, d, a, imm } => {
                    match n.eval(s!(a as usize), imm, canon) {
                        Ok(v) => s!(d as usize) = v,
                        Err(c) => trap!(Some(c)),
                    }
                    sp = sp.wrapping_add_signed(isize::from(ds));
                }
                Op::Simd(i, arity) => {
                    let Some(s) = code.simd.get(i as usize).copied() else { trap!(Some(TrapCode::Unreachable)) };
                    let v = |at: usize| u128::from(c!(at)) | (u128::from(c!(at + 1)) << 64);
                    let eval = |a, b, c| if canon { s.eval(a, b, c) } else { s.eval_raw(a, b, c) };
                    // Where the result goes and how many cells the operands took.
                    let (at, r) = match arity {
                        SimdArity::Unary => (sp - 2, eval(v(sp - 2), 0, 0)),
                        SimdArity::Binary => (sp - 4, eval(v(sp - 4), v(sp - 2), 0)),
                        SimdArity::Ternary => {
                            let (a, b, c) = (v(sp - 6), v(sp - 4), v(sp - 2));
                            (sp - 6, eval(a, b, c))
                        }
                        SimdArity::Splat => (sp - 1, eval(u128::from(c!(sp - 1)), 0, 0)),
                        SimdArity::WithScalar => (sp - 3, eval(v(sp - 3), u128::from(c!(sp - 1)), 0)),
                        SimdArity::Reduce => {
                            let r = eval(v(sp - 2), 0, 0);
                            c!(sp - 2) = r as u64;
                            sp -= 1;
                            // SAFETY: the op falls through to another.
                            ip = unsafe { ip.add(1) };
                            continue;
                        }
                    };
                    c!(at) = r as u64;
                    c!(at + 1) = (r >> 64) as u64;
                    sp = at + 2;
                }
                Op::MemorySize(_)
                | Op::MemoryGrow(_)
                | Op::MemoryFill(_)
                | Op::MemoryCopy { .. }
                | Op::MemoryInit { .. }
                | Op::DataDrop(_)
                | Op::RefFunc(_)
                | Op::TableGet(_)
                | Op::TableSet(_)
                | Op::TableSize(_)
                | Op::TableGrow(_)
                | Op::TableFill(_)
                | Op::TableCopy { .. }
                | Op::TableInit { .. }
                | Op::ElemDrop(_) => {
                    // SAFETY: `vmctx` is live; `base` is re-read below.
                    let mut at = sp;
                    let r = unsafe { bulk::run(*op, vmctx, &mut self.stack, &mut at) };
                    sp = at;
                    base = self.stack.as_mut_ptr();
                    // SAFETY: as `fb`'s first value.
                    fb = unsafe { base.add(fp) };
                    if let Err(code) = r {
                        trap!(code)
                    }
                }
                // The ops whose handlers always finish them, which never come back here.
                _ => {
                    debug_assert!(false, "the loop was handed {op:?}, which its handler runs");
                    trap!(Some(TrapCode::HostError))
                }
            }
            // SAFETY: an op that gets here falls through, so another op follows it.
            ip = unsafe { ip.add(1) };
        }
    }
}
