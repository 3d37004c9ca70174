//! Calls out of the running frame: to interpreted functions (a frame is pushed or replaced),
//! to native code (an array call, then the tail calls it ends with), and the unwinding of a
//! trap through the frames.

use wes_core::backend::{CALL_RETURNED, CALL_TAIL, ValRaw};
use wes_core::vm;
use wes_core::{TrapCode, ValType};

use super::vmctx::{function_context, is_interp, rd, record_call, record_trap, store_of, wr};
use super::{Executor, Exit, Frame};
use crate::code::cells;

/// The signature of a call's callee: that of a function of the caller's module (a direct
/// call), or a type of it (an indirect call, checked). Only a call to native code reads it.
#[derive(Clone, Copy)]
pub(super) enum Sig {
    Func(u32),
    Type(u32),
}

/// How a call ended up being made.
pub(super) enum Called {
    /// A frame was pushed (or replaced): the running frame is now the callee's.
    Frame,
    /// A native call returned; its results are on the stack.
    Done,
}

impl Executor {
    /// The frames the running frame may open, itself included: the entry frame's count less
    /// one per caller below the running frame (a tail call keeps both its count and the depth;
    /// a native callee's tail call back into this loop is pushed as its caller's callee).
    pub(super) fn frames_left(&self) -> u32 {
        let depth = u32::try_from(self.frames.len()).unwrap_or(u32::MAX);
        self.allowed.saturating_sub(depth)
    }

    /// Records the trap of the running frame `cur` (code `code` at `offset` in function
    /// `func_index`, which is `cur`'s unless the call-depth check of a callee failed) and the
    /// frames of every caller.
    ///
    /// # Safety
    ///
    /// Every frame's vmctx must be live.
    pub(super) unsafe fn unwind(
        &mut self,
        vmctx: *mut u8,
        code: Option<TrapCode>,
        func_index: u32,
        offset: u32,
    ) -> Exit {
        // SAFETY: by this function's contract.
        unsafe {
            record_trap(vmctx, code, func_index, offset);
            while let Some(f) = self.frames.pop() {
                record_trap(f.vmctx, None, f.code().func_index, f.code().offset(f.pc()));
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
    /// `funcref` must be a live function record of the store whose signature is `sig` of
    /// `cur`'s module; every frame's vmctx must be live.
    #[cfg_attr(not(debug_assertions), inline(always))]
    pub(super) unsafe fn call(
        &mut self,
        cur: &mut Frame,
        sp: &mut usize,
        funcref: *const u8,
        sig: Sig,
        tail: bool,
    ) -> Result<Called, CallTrap> {
        // SAFETY: `funcref` is a live record (layout `vm::FUNCREF_*`).
        let (call, ctx): (usize, *mut u8) = unsafe { (record_call(funcref), rd(funcref, vm::FUNCREF_VMCTX)) };
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
            let n = code.param_cells as usize;
            let args = *sp - n;
            let fp = if tail {
                self.stack.copy_within(args..*sp, cur.fp);
                cur.fp
            } else {
                self.frames.push(*cur);
                args
            };
            let frames_left = self.frames_left();
            if frames_left == 0 {
                return Err(CallTrap::Entry(vmctx, TrapCode::CallStackExhausted, code.func_index, code.body_offset));
            }
            *sp = self.enter(code, fp).ok_or(CallTrap::Entry(
                vmctx,
                TrapCode::CallStackExhausted,
                code.func_index,
                code.body_offset,
            ))?;
            *cur = Frame { record, code, vmctx, ip: code.slots.as_ptr(), fp };
            return Ok(Called::Frame);
        }
        // SAFETY: as this function's.
        unsafe { self.call_native(cur, sp, funcref, call, ctx, sig, tail) }
    }

    /// [`Executor::call`] of native code `call` with `ctx` (of the record `funcref`): the
    /// array call, with the JIT's frame count. Kept out of line, so the loop's calls between
    /// interpreted functions stay short.
    ///
    /// # Safety
    ///
    /// As [`Executor::call`].
    #[inline(never)]
    #[allow(clippy::too_many_arguments)]
    unsafe fn call_native(
        &mut self,
        cur: &mut Frame,
        sp: &mut usize,
        funcref: *const u8,
        call: usize,
        ctx: *mut u8,
        sig: Sig,
        tail: bool,
    ) -> Result<Called, CallTrap> {
        let shared = &cur.record().shared;
        let module = &shared.module;
        let type_index = match sig {
            Sig::Type(t) => t,
            Sig::Func(f) => module.functions.get(f as usize).copied().ok_or(CallTrap::Recorded)?,
        };
        let ty = module.types.get(type_index as usize).ok_or(CallTrap::Recorded)?;
        let native = shared.native_sigs.get(type_index as usize).ok_or(CallTrap::Recorded)?;
        let (params, results) = (ty.params(), ty.results());
        // The buffer only grows: the callee reads the parameter slots written here and
        // writes its results, so what earlier calls left in it is never read.
        if self.buf.len() < native.slots as usize {
            self.buf.resize(native.slots as usize, 0);
        }
        let args = *sp - native.param_cells as usize;
        if native.scalar {
            // One cell per slot. Indexed, not zipped: a zip's set-up was 30 instructions for
            // the one argument most host functions take.
            for i in 0..native.param_cells as usize {
                if let (Some(slot), Some(&cell)) = (self.buf.get_mut(i), self.stack.get(args + i)) {
                    *slot = ValRaw::from(cell);
                }
            }
        } else {
            cells_to_raw(params, &self.stack[args..*sp], &mut self.buf);
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
                    for (i, v) in self.buf.iter().take(params.len()).enumerate() {
                        tail_args.add(i).write(*v);
                    }
                    wr(store, vm::STORE_TAIL_CALLEE, funcref);
                    wr(store, vm::STORE_TAIL_CALLER, cur.vmctx);
                }
                return Err(CallTrap::Tail);
            }
            // Deeper: the frame is gone, its caller makes the call with the frame's count.
            let caller_vmctx = cur.vmctx;
            let frames_left = self.frames_left();
            *sp = cur.fp;
            let Some(c) = self.frames.pop() else { return Err(CallTrap::Recorded) };
            *cur = c;
            // SAFETY: as this function's.
            return unsafe { self.native_call(cur, sp, call, ctx, caller_vmctx, frames_left, results, native) };
        }
        let frames_left = self.frames_left().saturating_sub(1);
        // SAFETY: as this function's.
        unsafe { self.native_call(cur, sp, call, ctx, cur.vmctx, frames_left, results, native) }
    }

    /// Makes an array call of native code `call` with `ctx` and the arguments in `self.buf`,
    /// then the tail calls it ends with; the results land on `cur`'s stack at `sp`.
    ///
    /// # Safety
    ///
    /// As [`Executor::call`]; `call` and `ctx` come from a live function record.
    #[allow(clippy::too_many_arguments)]
    pub(super) unsafe fn native_call(
        &mut self,
        cur: &mut Frame,
        sp: &mut usize,
        call: usize,
        ctx: *mut u8,
        caller_vmctx: *mut u8,
        frames_left: u32,
        results: &[ValType],
        native: &crate::NativeSig,
    ) -> Result<Called, CallTrap> {
        // SAFETY: the store context of a live instance; `call` is an array-call entry point
        // (`FUNCREF_CALL` of a live record) and `buf` holds its arguments in enough slots.
        unsafe {
            let store = store_of(cur.vmctx);
            wr(store, vm::STORE_FRAMES_LEFT, frames_left);
            let f = std::mem::transmute::<usize, wes_core::backend::ArrayCallFn>(call);
            #[cfg(test)]
            super::probe::at_native_call();
            // Through `call_array`: a trap in native code unwinds to there, never over the
            // interpreter's frames.
            let status = wes_core::unwind::call_array(store, f, ctx, caller_vmctx, self.buf.as_mut_ptr());
            self.after_native(cur, sp, status, frames_left, results, native)
        }
    }

    /// Finishes the call of import `f` of `cur`'s instance that the `Op::CallImport` handler
    /// made and that ended in `status`, not `CALL_RETURNED` (a trap the callee recorded, a
    /// tail call it left to run), as [`Executor::native_call`] would have; `sp` is the height
    /// with the parameters popped.
    ///
    /// # Safety
    ///
    /// As [`Executor::call`]: every frame's vmctx live; `status` that of an array call of the
    /// import with the frame count this computes, made from `cur` at its call.
    pub(super) unsafe fn finish_import(
        &mut self,
        cur: &mut Frame,
        sp: &mut usize,
        f: u32,
        status: u8,
    ) -> Result<Called, CallTrap> {
        let shared = &cur.record().shared;
        let type_index = shared.module.functions.get(f as usize).copied().ok_or(CallTrap::Recorded)?;
        let ty = shared.module.types.get(type_index as usize).ok_or(CallTrap::Recorded)?;
        let native = shared.native_sigs.get(type_index as usize).ok_or(CallTrap::Recorded)?;
        let frames_left = self.frames_left().saturating_sub(1);
        // SAFETY: by this function's contract.
        unsafe { self.after_native(cur, sp, status, frames_left, ty.results(), native) }
    }

    /// What follows an array call from `cur` that ended in `status`: the tail calls it left
    /// to run (an interpreted callee pushed as `cur`'s, native ones called here), then the
    /// results, from `self.buf` or the store's tail-call slots, on `cur`'s stack at `sp`.
    ///
    /// # Safety
    ///
    /// As [`Executor::native_call`], `frames_left` the count the call was given.
    unsafe fn after_native(
        &mut self,
        cur: &mut Frame,
        sp: &mut usize,
        mut status: u8,
        frames_left: u32,
        results: &[ValType],
        native: &crate::NativeSig,
    ) -> Result<Called, CallTrap> {
        // SAFETY: by this function's contract: the store context of a live instance, and the
        // tail-call fields a `CALL_TAIL` status leaves in it.
        unsafe {
            let store = store_of(cur.vmctx);
            let mut out: *const ValRaw = self.buf.as_ptr();
            while status == CALL_TAIL {
                wr(store, vm::STORE_FRAMES_LEFT, frames_left);
                let tail_args: *mut ValRaw = rd(store, vm::STORE_TAIL_ARGS);
                let callee: *const u8 = rd(store, vm::STORE_TAIL_CALLEE);
                let caller: *mut u8 = rd(store, vm::STORE_TAIL_CALLER);
                let call: usize = record_call(callee);
                let ctx: *mut u8 = rd(callee, vm::FUNCREF_VMCTX);
                if is_interp(call) {
                    // Run it here, as a frame `cur` called.
                    let (vmctx, record) = function_context(ctx);
                    let rec = &*record;
                    self.frames.push(*cur);
                    let code =
                        rec.code().map_err(|_| CallTrap::Entry(vmctx, TrapCode::HostError, rec.func_index(), 0))?;
                    // `frames_left` is the count of a frame `cur` calls, as its depth gives.
                    debug_assert_eq!(frames_left, self.frames_left());
                    if frames_left == 0 {
                        return Err(CallTrap::Entry(
                            vmctx,
                            TrapCode::CallStackExhausted,
                            code.func_index,
                            code.body_offset,
                        ));
                    }
                    let fp = *sp;
                    let end = self.enter(code, fp).ok_or(CallTrap::Entry(
                        vmctx,
                        TrapCode::CallStackExhausted,
                        code.func_index,
                        code.body_offset,
                    ))?;
                    raw_to_cells(&code.params, tail_args, &mut self.stack[fp..]);
                    *sp = end;
                    *cur = Frame { record, code, vmctx, ip: code.slots.as_ptr(), fp };
                    return Ok(Called::Frame);
                }
                let f = std::mem::transmute::<usize, wes_core::backend::ArrayCallFn>(call);
                status = wes_core::unwind::call_array(store, f, ctx, caller, tail_args);
                out = tail_args;
            }
            if status != CALL_RETURNED {
                return Err(CallTrap::Recorded);
            }
            let n = native.result_cells as usize;
            // The frame reserved room for the results (they count in its operand stack), so
            // this never fails; if it did, the frame would trap at its call.
            if !self.grow(*sp + n) {
                let code = cur.code();
                return Err(CallTrap::Entry(
                    cur.vmctx,
                    TrapCode::CallStackExhausted,
                    code.func_index,
                    code.offset(cur.pc()),
                ));
            }
            match (results, self.stack.get_mut(*sp)) {
                // The common single result, without `raw_to_cells`' loop.
                ([ty], Some(cell)) if *ty != ValType::V128 => *cell = scalar_cell(*ty, out.read()),
                _ => raw_to_cells(results, out, &mut self.stack[*sp..]),
            }
            *sp += n;
        }
        Ok(Called::Done)
    }
}

/// How a call failed to go on.
pub(super) enum CallTrap {
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

/// Writes values of types `tys` from their cells in `src` to array-call slots in `dst`.
pub(super) fn cells_to_raw(tys: &[ValType], src: &[u64], dst: &mut [ValRaw]) {
    let mut at = 0;
    for (ty, slot) in tys.iter().zip(dst.iter_mut()) {
        let lo = src.get(at).copied().unwrap_or(0);
        *slot = if *ty == ValType::V128 {
            let hi = src.get(at + 1).copied().unwrap_or(0);
            ValRaw::from(lo) | (ValRaw::from(hi) << 64)
        } else {
            ValRaw::from(lo)
        };
        at += cells(*ty) as usize;
    }
}

/// The cell of a value of scalar type `ty` (not `v128`) from its array-call slot: 32-bit
/// values zero-extended, as every cell holds them.
fn scalar_cell(ty: ValType, raw: ValRaw) -> u64 {
    match ty {
        ValType::I32 | ValType::F32 => u64::from(raw as u32),
        _ => raw as u64,
    }
}

/// Reads values of types `tys` from array-call slots at `src` into their cells in `dst`.
///
/// # Safety
///
/// `src` must point to at least `tys.len()` slots.
pub(super) unsafe fn raw_to_cells(tys: &[ValType], src: *const ValRaw, dst: &mut [u64]) {
    let mut at = 0;
    for (i, ty) in tys.iter().enumerate() {
        // SAFETY: by this function's contract.
        let raw = unsafe { src.add(i).read() };
        if *ty == ValType::V128 {
            dst[at] = raw as u64;
            dst[at + 1] = (raw >> 64) as u64;
        } else {
            dst[at] = scalar_cell(*ty, raw);
        }
        at += cells(*ty) as usize;
    }
}
