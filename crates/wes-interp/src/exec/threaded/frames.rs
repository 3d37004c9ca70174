//! Calls and returns in handlers: the frame switches that keep a chain of calls of the
//! module's own functions and returns inside the handlers (see the parent module), the array
//! calls of native imports of scalar signatures, and what gives every other call (interpreted
//! imports, first calls, the depth limit, a stack to grow) to the loop.

use std::mem::MaybeUninit;

use wes_core::backend::{ArrayCallFn, CALL_RETURNED, ValRaw};
use wes_core::vm;

use super::super::Frame;
use super::super::stack::cell;
use super::super::vmctx::{is_interp, mem0_of, rd, record_call, vmctx_entry, wr};
#[cfg(debug_assertions)]
use super::broken;
use super::{Next, Regs, pay, run};
use crate::code::{ImportSig, Op, Slot};

// A call of one of the module's own functions whose code is translated, when the frame stack
// and the value stack have room without growing: pushes the caller and goes on at the
// callee's first op (paying its first segment, as the loop's `prepay!` does), so that a chain
// of calls and returns never leaves the handlers. Anything else — a first call that
// translates, the depth limit, a stack to grow; imports are `Op::CallImport`'s — is the
// loop's, which traps or calls in full.
handler!(pub(super) call, Op::Call { f, sp: ds }, |ip, fb, sp, mem0, store, regs| {
    // The move carried to the call first; if the loop must make the call, it starts from
    // the moved height (the loop runs a call only after this handler).
    sp = sp.wrapping_add_signed(isize::from(ds));
    // The frame switch out of line; it goes on to the callee's first op itself.
    return call_frame(ip, fb, sp, mem0, regs, f);
});

// A call of an import: makes the move carried to it (so that the ops on slots before it need
// not push in the general form), then the call itself when its callee is native code (a host
// function, another instance's compiled code) of a signature of scalars (`ImportSig`): the
// same array call the loop makes, without leaving the chain. Anything else — an interpreted
// callee, a `v128`, many parameters or results — is the loop's.
handler!(pub(super) call_import, Op::CallImport { sp: ds, sig, .. }, |ip, fb, sp, mem0, store, regs| {
    sp = sp.wrapping_add_signed(isize::from(ds));
    if sig == ImportSig::General {
        bail!(ip, sp)
    }
    return import_call(ip, fb, sp, mem0, regs);
});

/// The call of [`call_import`] whose signature the handler can make (the op at `ip`, `sp` the
/// height after its move): when the callee's record runs native code, an array call with the
/// frames a call from the loop would give it, its result pushed and the chain going on after
/// the op (paying the segment there, as a return does). A call that does not simply return —
/// a trap the callee recorded, a tail call it left to run — is finished by the loop
/// (`Regs::made`), at this op with the parameters popped, as its own call would end. Out of
/// line and shaped as a handler, as [`call_frame`] is.
///
/// # Safety
///
/// As a handler's, for an `Op::CallImport` at `ip` whose `sig` is not `General`, `sp` the
/// height after its move.
#[inline(never)]
#[allow(unused_unsafe, unused_variables)] // `bail!` and `land!` are written for handlers' bodies
unsafe extern "C" fn import_call(ip: *const Slot, fb: *mut u64, sp: usize, mem0: *mut u8, regs: *mut Regs) -> Next {
    // SAFETY: by this function's contract: `regs` describes the running frame, whose
    // instance's records are live, and the loop's frame stack; `fb` and `sp` its cells.
    unsafe {
        let Op::CallImport { f, sig, .. } = (*ip).op else { bail!(ip, sp) };
        let params = match sig {
            ImportSig::General => bail!(ip, sp),
            ImportSig::Unit { params } | ImportSig::Narrow { params } | ImportSig::Wide { params } => params,
        };
        let vmctx = (*regs).cur.vmctx;
        // A validated import of the running instance.
        let funcref = vmctx_entry(vmctx, vm::VMCTX_FUNCS, f);
        let call = record_call(funcref);
        if is_interp(call) {
            bail!(ip, sp)
        }
        let ctx: *mut u8 = rd(funcref, vm::FUNCREF_VMCTX);
        // As the loop's call: the frames the running one may open (`Executor::frames_left`),
        // less the callee's own.
        let callers = u32::try_from((*(*regs).frames).len()).unwrap_or(u32::MAX);
        let frames_left = (*regs).allowed.saturating_sub(callers).saturating_sub(1);
        let args = sp - usize::from(params);
        let store = (*regs).store;
        // The parameters are cells `args..sp` of the frame.
        let (status, result) = call_scalar(store, call, ctx, vmctx, fb.add(args), params, frames_left);
        if status != CALL_RETURNED {
            (*regs).made = Some(status);
            bail!(ip, args)
        }
        // The frame's operand stack has room for the result (it counts in its height).
        let sp = match sig {
            ImportSig::Narrow { .. } => {
                *cell(fb, args, (*regs).cells) = u64::from(result as u32);
                args + 1
            }
            ImportSig::Wide { .. } => {
                *cell(fb, args, (*regs).cells) = result as u64;
                args + 1
            }
            _ => args,
        };
        // SAFETY: the call falls through to another op.
        land!(ip.add(1), fb, sp, mem0, store, regs)
    }
}

/// The array call of [`import_call`]: `params` cells from `args` into slots on this frame,
/// the frame count, the call (through `call_array`, where a trap in native code unwinds to),
/// and the status with slot 0 (the result, if the callee returned one). Not inlined: the
/// slots' address escapes, which would keep [`import_call`]'s frame alive across its jump to
/// the next handler.
///
/// # Safety
///
/// `store` is the live store context, `call` and `ctx` the entry and context of a live record
/// of native code whose signature takes `params` (at most `ImportSig::MAX_PARAMS`) scalars,
/// `caller` the calling instance's context, `args` readable for `params` cells.
#[inline(never)]
unsafe fn call_scalar(
    store: *mut u8,
    call: usize,
    ctx: *mut u8,
    caller: *mut u8,
    args: *const u64,
    params: u8,
    frames_left: u32,
) -> (u8, ValRaw) {
    let mut slots = [MaybeUninit::<ValRaw>::uninit(); ImportSig::MAX_PARAMS];
    let n = usize::from(params).min(ImportSig::MAX_PARAMS);
    // SAFETY: by this function's contract.
    unsafe {
        for (i, slot) in slots.iter_mut().enumerate().take(n) {
            slot.write(ValRaw::from(args.add(i).read()));
        }
        // Slot 0 holds a parameter or this, then the result if there is one.
        if n == 0 {
            slots[0].write(0);
        }
        wr(store, vm::STORE_FRAMES_LEFT, frames_left);
        #[cfg(test)]
        crate::exec::probe::at_native_call();
        let f = std::mem::transmute::<usize, ArrayCallFn>(call);
        let status = wes_core::unwind::call_array(store, f, ctx, caller, slots.as_mut_ptr().cast::<ValRaw>());
        (status, slots[0].assume_init())
    }
}

// A return to an interpreted caller of this loop: moves the results to the frame's first
// cells, pops the caller and goes on after its call (paying the segment there, as the loop's
// return does). The entry's own frame returns through the loop.
handler!(pub(super) ret, Op::Return { sp: ds }, |ip, fb, sp, mem0, store, regs| {
    // As `call`: the loop returns from the moved height.
    sp = sp.wrapping_add_signed(isize::from(ds));
    // More than one result cell (multi-value, `v128`): the loop returns (see `return_frame`).
    let n = (*(*regs).cur.code).result_cells;
    if n > 1 {
        bail!(ip, sp)
    }
    return return_frame(ip, fb, sp, mem0, regs, n);
});

// A segment's charge and the `return` it ends in: as `ret`, once the charge is paid (which
// the loop does when the counter holds too little, or when the entry's own frame returns).
handler!(pub(super) charge_return, Op::ChargeReturn { cost, sp: ds }, |ip, fb, sp, mem0, store, regs| {
    sp = sp.wrapping_add_signed(isize::from(ds));
    let n = (*(*regs).cur.code).result_cells;
    if (*(*regs).frames).is_empty() || n > 1 || !pay(store, cost) {
        bail!(ip, sp)
    }
    // Cannot bail now: there is a caller.
    return return_frame(ip, fb, sp, mem0, regs, n);
});

/// The frame switch of [`call`] for `Op::Call { f, .. }` at `ip` (at the moved height `sp`),
/// then the callee's first op; the loop runs the call when the switch cannot be made here.
/// Out of line, so that the `call` handler stays small, and a handler's shape itself (it ends
/// in the jump to the next op's handler), so that nothing comes back through memory or a
/// return. This half checks that the call can be made here; [`enter_frame`] makes it: each
/// half holds few enough values to need no saved register.
///
/// # Safety
///
/// As a handler's, for the op `Op::Call { f, .. }` at `ip`, `sp` the height after its move.
#[inline(never)]
#[allow(unused_unsafe, unused_variables)] // `bail!` is written for handlers' bodies
unsafe extern "C" fn call_frame(
    ip: *const Slot,
    fb: *mut u64,
    sp: usize,
    mem0: *mut u8,
    regs: *mut Regs,
    f: u32,
) -> Next {
    // SAFETY: by this function's contract: `regs` describes the running frame, whose
    // instance's records are live, and the loop's frame stack.
    unsafe {
        // Only when the instance's record of the callee runs this interpreter: in a tiered
        // module it runs the tier trampoline, which moves calls to the JIT's code once that is
        // ready, and a direct call must move too, so it goes to the loop (a validated index of
        // the running instance).
        if !is_interp(record_call(vmctx_entry((*regs).cur.vmctx, vm::VMCTX_FUNCS, f))) {
            bail!(ip, sp)
        }
        let caller_record = (*regs).cur.record;
        let own = (*caller_record).defined_index;
        // The module's imports come first in its function index space (`Op::Call` names one
        // of its own functions).
        let defined = f - ((*(*regs).cur.code).func_index - own);
        // A function of the caller's own module, in the same instance: its interpreter record
        // is in the module's boxed slice of them (`InterpModule::records`, by defined index),
        // beside the caller's, which saves two dependent loads through the function context.
        let record = caller_record.offset(defined as isize - own as isize);
        // The record lives as long as its compiled module, beyond this call.
        let Some(Ok(code)) = (*record).code.get() else { bail!(ip, sp) };
        let frames = &*(*regs).frames;
        // The callee's frame starts at its arguments and takes its locals and its operand
        // stack above them, inside the value stack; its caller needs a place in the frame
        // stack without growing it; and a frame of depth left to open.
        let above = code.local_cells as usize + code.max_height as usize;
        if frames.len() >= (*regs).room || sp + above > (*regs).cells {
            bail!(ip, sp)
        }
        enter_frame(ip, fb, sp - code.param_cells as usize, regs, code, record)
    }
}

/// The second half of [`call_frame`]: pushes the caller (at its call, `ip`), makes the callee
/// the running frame, starting `at` cells into the caller's at `fb`, zeroes its locals, and goes
/// on at its first op (paying its first segment, as the loop's `prepay!` does).
///
/// The callee is a function of the caller's module in the caller's instance, so the running
/// frame's instance context, its NaN setting (`Regs::canon`, the module's) and the store stay
/// as they are: only the record, the code, the frame's place and the depth left change. The
/// running frame's `ip` in [`Regs::cur`] is left as it was: no handler reads it, and the loop
/// sets it from the op a chain stops at before it reads it.
///
/// # Safety
///
/// `call_frame`'s checks hold: `record` and `code` are the callee's, of the running frame's
/// module and instance; the frame stack has room for one more; the callee's frame fits in the
/// cells `Regs` describes; the running frame may open one more.
#[inline(never)]
#[allow(unused_unsafe, unused_variables)] // `land!` is written for handlers' bodies
unsafe extern "C" fn enter_frame(
    ip: *const Slot,
    fb: *mut u64,
    at: usize,
    regs: *mut Regs,
    code: &crate::code::Code,
    record: *const crate::FuncRecord,
) -> Next {
    // SAFETY: by this function's contract.
    unsafe {
        // The caller, at this call, in the room checked (no growth path).
        let frames = &mut *(*regs).frames;
        let len = frames.len();
        frames.as_mut_ptr().add(len).write(Frame { ip, ..(*regs).cur });
        frames.set_len(len + 1);
        let ops = code.slots.as_ptr();
        (*regs).cur.record = record;
        (*regs).cur.code = code;
        (*regs).cur.fp += at;
        (*regs).ops = ops;
        (*regs).cells -= at;
        (*regs).switched = true;
        let cfb = fb.add(at);
        // Volatile stores, one per local: most functions have few, and LLVM turns a plain loop
        // (as `write_bytes`) into a `memset` call, whose caller-saved registers made this
        // handler save and restore registers on every call, locals or not.
        let (n, locals) = (code.param_cells as usize, code.local_cells as usize);
        for i in n..n + locals {
            cfb.add(i).write_volatile(0);
        }
        let (mem0, store) = (mem0_of(code, (*regs).cur.vmctx), (*regs).store);
        land!(ops, cfb, { n + locals }, mem0, store, regs)
    }
}

/// The frame switch of [`ret`] and [`charge_return`] at stack height `sp` of the frame at
/// `fb`, whose function has `n` result cells, then the caller's op after its call; the loop
/// runs the `return` when the running frame has no caller in this loop. Out of line for the
/// reasons [`call_frame`] is.
///
/// # Safety
///
/// As a handler's, for a `return` (or a `ChargeReturn` whose charge is paid) at `ip`, of a
/// function with `n` result cells, at most one. (More go back to the loop: a copy of any
/// length here would be a `memmove` call, and a function that makes a call saves and restores
/// registers on every run, the common single result's too.)
#[inline(never)]
#[allow(unused_unsafe, unused_variables)] // as `call_frame`
unsafe extern "C" fn return_frame(
    ip: *const Slot,
    fb: *mut u64,
    sp: usize,
    mem0: *mut u8,
    regs: *mut Regs,
    n: u32,
) -> Next {
    // SAFETY: by this function's contract: `regs` describes the running frame and the loop's
    // frame stack, whose frames' codes and instances are live.
    unsafe {
        let frames = &mut *(*regs).frames;
        let Some(len) = frames.len().checked_sub(1) else { bail!(ip, sp) };
        // The caller, read in place (its slot stays allocated: popping only shortens the
        // vector), field by field as needed rather than copied out whole first.
        let caller: *const Frame = frames.as_ptr().add(len);
        frames.set_len(len);
        #[cfg(debug_assertions)]
        if n > 1 {
            broken("a return of more than one cell reached its handler");
        }
        // The result, if any, is the top cell of the frame.
        if n == 1 {
            *cell(fb, 0, (*regs).cells) = *cell(fb, sp - 1, (*regs).cells);
        }
        let fp = (*caller).fp;
        let back = (*regs).cur.fp - fp;
        // The caller's code, through its pointer: a method of a local copy not inlined, as in
        // a debug build, would take the local's address, and a frame whose locals' addresses
        // escape cannot end in a jump.
        let code: &crate::code::Code = &*(*caller).code;
        // The caller resumes after its call, which falls through.
        let (to, vmctx) = ((*caller).ip.add(1), (*caller).vmctx);
        (*regs).cur = *caller;
        (*regs).ops = code.slots.as_ptr();
        // The caller may be of another module (the loop's calls push callers of any).
        (*regs).canon = code.canon;
        (*regs).cells += back;
        (*regs).switched = true;
        // The caller's frame starts `back` cells below this one.
        let (cfb, mem0, store) = (fb.sub(back), mem0_of(code, vmctx), (*regs).store);
        land!(to, cfb, { back + n as usize }, mem0, store, regs)
    }
}
