//! Traps that unwind: the one way Rust enters code that may trap by unwinding, and the jump
//! back to it.
//!
//! Native code (the JIT) raises a trap without returning through its frames: the libcall that
//! records the trap jumps straight back to the innermost [`call_array`] of the store, which
//! returns [`CALL_TRAPPED`](crate::backend::CALL_TRAPPED). So compiled code needs no status branch after a direct call or a
//! failed gas refill, which was over a tenth of the work of compiling metered code
//! (docs/benchmarks.md, "Traps that unwind").
//!
//! What makes the jump sound: every call from Rust into an array-call entry goes through
//! [`call_array`] (the runtime's calls, host functions calling back, the interpreter calling
//! out, the tier trampoline), so the frames a trap skips are only those of compiled code, which
//! own nothing to drop, and of the libcall that raises it, which has dropped what it owns before
//! it jumps. `enter` saves the callee-saved registers and the stack pointer in an
//! [`UnwindBuf`] and `unwind` restores them, so to the Rust caller of `enter` the jump is an
//! ordinary return of `CALL_TRAPPED`. The innermost buffer of a store is linked from its
//! store context ([`crate::vm::STORE_UNWIND`]), where the libcalls find it.
//!
//! The buffer also records `enter`'s frame pointer: a walk of the frame-pointer chain from a
//! trapping frame of compiled code (which keeps frame pointers) stops there, having seen every
//! compiled frame the trap unwinds, which is how the backtrace is made.
//!
//! x86-64 with the System V convention only; on other hosts no code that unwinds can run (the
//! JIT refuses them), `enter` is an ordinary call and `unwind` aborts.

use crate::backend::{ArrayCallFn, ValRaw};
use crate::vm::STORE_UNWIND;

/// Where `unwind` returns to: the stack and frame pointers of one `enter`, and the buffer of
/// the enclosing one (null for the outermost).
#[repr(C)]
#[derive(Debug)]
pub struct UnwindBuf {
    sp: usize,
    fp: usize,
    prev: *mut UnwindBuf,
}

impl UnwindBuf {
    /// The frame pointer of the `enter` this buffer belongs to: the value a walk of the
    /// frame-pointer chain finds saved in the frame of the function `enter` called.
    pub fn frame_pointer(&self) -> usize {
        self.fp
    }
}

/// Under AddressSanitizer (`cargo fuzz`), marks the stack between `low` and `high` as free of
/// any frame: frames a jump left, or that ran on a stack of the runtime's own (wasm runs on one
/// the sanitizer does not know, so it cannot clear it itself before a jump or a signal's
/// landing) would otherwise keep their locals' poison, and a later frame there would be
/// reported for using them. Nothing in other builds.
///
/// # Safety
///
/// `low..high` is part of a stack of this thread that no live frame uses.
#[inline]
pub unsafe fn clear_stack_shadow(low: usize, high: usize) {
    #[cfg(wes_asan)]
    if high > low {
        unsafe extern "C" {
            fn __asan_unpoison_memory_region(addr: *const u8, size: usize);
        }
        // SAFETY: the sanitizer's runtime is linked whenever the crate is built with it; the
        // range is stack memory (this function's contract).
        unsafe { __asan_unpoison_memory_region(low as *const u8, high - low) };
    }
    #[cfg(not(wes_asan))]
    let _ = (low, high);
}

#[cfg(all(target_arch = "x86_64", not(windows)))]
mod native {
    use super::*;

    /// Calls `f(callee, caller, args)` after saving the callee-saved registers and the stack
    /// and frame pointers in `buf`; returns its status, or `0` (`CALL_TRAPPED`) when something
    /// it called jumped back with `unwind` on `buf`.
    ///
    /// # Safety
    ///
    /// `buf` must be valid for writes and stay where it is until this returns, and `f`,
    /// `callee`, `caller` and `args` must be what an array call of `f` requires.
    #[unsafe(naked)]
    pub(super) unsafe extern "C" fn enter(
        buf: *mut UnwindBuf,
        f: ArrayCallFn,
        callee: *mut u8,
        caller: *mut u8,
        args: *mut ValRaw,
    ) -> u8 {
        core::arch::naked_asm!(
            "push rbp",
            "mov rbp, rsp",
            "push rbx",
            "push r12",
            "push r13",
            "push r14",
            "push r15",
            // Keeps the stack 16-byte aligned at the call below.
            "sub rsp, 8",
            "mov [rdi], rsp",
            "mov [rdi + 8], rbp",
            "mov rax, rsi",
            "mov rdi, rdx",
            "mov rsi, rcx",
            "mov rdx, r8",
            "call rax",
            "add rsp, 8",
            "pop r15",
            "pop r14",
            "pop r13",
            "pop r12",
            "pop rbx",
            "pop rbp",
            "ret",
        )
    }

    /// Returns `0` from the `enter` that filled `buf`, with the registers it saved.
    ///
    /// # Safety
    ///
    /// `buf` must have been filled by an `enter` that has not returned, called on this
    /// thread's current stack, and every frame between here and that `enter` must be one
    /// that may be skipped: compiled code, or Rust that owns nothing left to drop.
    pub unsafe extern "C" fn unwind(buf: *const UnwindBuf) -> ! {
        // Under AddressSanitizer the frames the jump skips would leave their locals' shadow
        // poisoned, and a later frame at the same addresses would be reported for using them
        // (the differential fuzzer was, after some twelve thousand inputs). The sanitizer
        // clears the stack itself before a call that does not return, but not here: wasm runs
        // on the store's own stack (`corosensei`), which it does not know. So the skipped
        // range — from this frame up to `enter`'s — is cleared by hand.
        #[cfg(wes_asan)]
        {
            let here = 0u8;
            let low = std::hint::black_box(&raw const here) as usize;
            // SAFETY: `buf` was filled by a live `enter` (this function's contract); the range
            // is this thread's stack between here and `enter`'s frame, which the jump leaves.
            unsafe { super::clear_stack_shadow(low, (*buf).sp) };
        }
        // SAFETY: by this function's contract.
        unsafe { jump(buf) }
    }

    /// [`unwind`]'s jump.
    ///
    /// # Safety
    ///
    /// As [`unwind`].
    #[unsafe(naked)]
    unsafe extern "C" fn jump(buf: *const UnwindBuf) -> ! {
        core::arch::naked_asm!(
            "mov rsp, [rdi]",
            "xor eax, eax",
            "add rsp, 8",
            "pop r15",
            "pop r14",
            "pop r13",
            "pop r12",
            "pop rbx",
            "pop rbp",
            "ret",
        )
    }
}

#[cfg(not(all(target_arch = "x86_64", not(windows))))]
mod native {
    use super::*;

    /// Calls `f`: on this host no code that unwinds runs.
    ///
    /// # Safety
    ///
    /// As for an array call of `f`.
    pub(super) unsafe extern "C" fn enter(
        _buf: *mut UnwindBuf,
        f: ArrayCallFn,
        callee: *mut u8,
        caller: *mut u8,
        args: *mut ValRaw,
    ) -> u8 {
        // SAFETY: the caller vouches for the array call.
        unsafe { f(callee, caller, args) }
    }

    /// Never reached: no backend that unwinds runs on this host.
    ///
    /// # Safety
    ///
    /// None needed; it aborts.
    pub unsafe extern "C" fn unwind(_buf: *const UnwindBuf) -> ! {
        std::process::abort()
    }
}

pub use native::unwind;

/// Makes the array call `f(callee, caller, args)` as the innermost entry of the store whose
/// context is `store_ctx`: a trap in compiled code it reaches unwinds to here and this returns
/// `CALL_TRAPPED` (`0`).
///
/// # Safety
///
/// `store_ctx` must point to the store context of the store `callee` belongs to, readable and
/// writable at [`STORE_UNWIND`], and `f`, `callee`, `caller` and `args` must be what an array
/// call of `f` requires.
#[inline]
pub unsafe fn call_array(
    store_ctx: *mut u8,
    f: ArrayCallFn,
    callee: *mut u8,
    caller: *mut u8,
    args: *mut ValRaw,
) -> u8 {
    // SAFETY: `store_ctx` has a buffer pointer at `STORE_UNWIND` (this function's contract);
    // `buf` lives on this frame until `enter` returns, and is unlinked before it goes away.
    unsafe {
        let slot = store_ctx.add(STORE_UNWIND as usize).cast::<*mut UnwindBuf>();
        let mut buf = UnwindBuf { sp: 0, fp: 0, prev: slot.read() };
        slot.write(&mut buf);
        let outer = ACTIVE_STORE.replace(store_ctx);
        let status = native::enter(&mut buf, f, callee, caller, args);
        ACTIVE_STORE.set(outer);
        slot.write(buf.prev);
        status
    }
}

thread_local! {
    /// The store context of this thread's innermost [`call_array`], null outside any.
    static ACTIVE_STORE: std::cell::Cell<*mut u8> = const { std::cell::Cell::new(std::ptr::null_mut()) };
}

/// The store context of the innermost [`call_array`] running on this thread, or null when
/// none is: the store whose code a fault in compiled code on this thread belongs to. A plain
/// read of a thread-local without a destructor, so a signal handler may call it.
pub fn active_store_context() -> *mut u8 {
    ACTIVE_STORE.get()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `unsafe` only to have the `ArrayCallFn` type: it reads none of its arguments, so it has
    /// no contract.
    unsafe extern "C" fn returns_seven(_: *mut u8, _: *mut u8, _: *mut ValRaw) -> u8 {
        7
    }

    /// Jumps back to the innermost entry, whose buffer the "store context" links.
    ///
    /// # Safety
    ///
    /// `ctx` must be a test context whose link at `STORE_UNWIND` is the buffer of the `enter`
    /// that called this function.
    unsafe extern "C" fn jumps_back(ctx: *mut u8, _: *mut u8, _: *mut ValRaw) -> u8 {
        // SAFETY: `ctx` is the test's context, linking the buffer of the `enter` that called
        // this function; this frame owns nothing.
        unsafe {
            let buf = ctx.add(STORE_UNWIND as usize).cast::<*const UnwindBuf>().read();
            unwind(buf)
        }
    }

    #[test]
    #[cfg(all(target_arch = "x86_64", not(windows)))]
    fn an_unwind_returns_trapped_from_the_innermost_entry_and_unlinks_it() {
        let mut ctx = [0usize; 8];
        let p = ctx.as_mut_ptr().cast::<u8>();
        let (a, b, c) = (std::hint::black_box(11u64), std::hint::black_box(22u64), std::hint::black_box(33u64));
        // SAFETY: `ctx` is big enough to hold the link at `STORE_UNWIND`, and the functions
        // take no arguments they read.
        let (ok, trapped) = unsafe {
            (
                call_array(p, returns_seven, p, p, std::ptr::null_mut()),
                call_array(p, jumps_back, p, p, std::ptr::null_mut()),
            )
        };
        assert_eq!((ok, trapped), (7, 0));
        // Values live across the jump in callee-saved registers or the stack are intact.
        assert_eq!(std::hint::black_box(a + b + c), 66);
        // SAFETY: as above.
        let link = unsafe { p.add(STORE_UNWIND as usize).cast::<*const UnwindBuf>().read() };
        assert!(link.is_null());
    }
}
