//! Faults of compiled code that are traps: out-of-bounds accesses of code that leaves memory
//! bounds to guard regions, and gas checks of code that does not resume out of gas; the fault
//! handler that turns them into traps.
//!
//! Code that leaves bounds to guard regions ([`CompiledModule::needs_guard_regions`](wes_core::backend::CompiledModule::needs_guard_regions)) accesses linear memory at
//! `base + addr + offset` without comparing against the memory's length. Every memory of its
//! engine is reserved for [`GUARD_RESERVATION`](wes_core::vm::GUARD_RESERVATION) bytes with no
//! access past its length, so an access out of bounds touches a page that is not accessible
//! and the CPU faults (x86-64 writes nothing of a store that faults, so no byte of it lands).
//! Code that does not resume out of gas ([`CompiledModule::resumes_out_of_gas`](wes_core::backend::CompiledModule::resumes_out_of_gas))
//! checks the gas counter with a conditional trap instruction (`ud2`, SIGILL) instead of a
//! call into the runtime that may top up and return.
//!
//! The handler (SIGSEGV, SIGBUS and SIGILL, installed once per process, chaining to the
//! handler that was there before for every fault that is not ours) asks the store running on
//! this thread ([`wes_core::unwind::active_store_context`]) what the faulting instruction is
//! ([`CompiledModule::fault_at`](wes_core::backend::CompiledModule::fault_at)). If it is one of
//! its modules' instructions whose fault is a trap, the handler does no more than redirect the
//! thread: it returns into a landing ([`landing`], [`gas_landing`]) as if the faulting
//! instruction had called it, on the same stack, outside the signal context. The landing
//! records the trap with its function, offset and backtrace (and, out of gas, pays for the
//! segments the check covered that the gas still covers) and unwinds to the innermost entry,
//! exactly what [`Libcall::TrapUnwind`](wes_core::vm::Libcall::TrapUnwind) and
//! [`Libcall::OutOfGasUnwind`](wes_core::vm::Libcall::OutOfGasUnwind) do for an explicit
//! check; so a trap by fault and an explicit one are the same trap, code, offset, gas and
//! frames.
//!
//! x86-64 Linux only; elsewhere [`install`] refuses and no such code is admitted.

use wes_core::TrapCode;

use crate::RuntimeError;
use crate::vm::VMStoreContext;

/// Installs the fault handler (once per process).
///
/// # Errors
///
/// [`RuntimeError::ResourceLimit`] when the host is not x86-64 Linux or the kernel refuses the
/// handler.
pub(crate) fn install() -> Result<(), RuntimeError> {
    imp::install()
}

/// Where a fault of a guarded access resumes: records the out-of-bounds trap of function
/// `func_index` of instance `instance` at module offset `offset`, the frames from the
/// faulting frame (frame pointer `fp`) outward, and unwinds to the store's innermost entry.
///
/// # Safety
///
/// Only the fault handler jumps here, for a fault in compiled code of the store whose context
/// is `ctx` (the innermost [`wes_core::unwind::call_array`] on this thread), `fp` being the
/// faulting frame's frame pointer.
#[cfg_attr(not(all(target_arch = "x86_64", target_os = "linux")), allow(dead_code))]
unsafe extern "C" fn landing(ctx: *mut VMStoreContext, instance: usize, func_index: u32, offset: u32, fp: usize) -> ! {
    // SAFETY: `ctx` is the live context of the store whose code faulted (this function's
    // contract); nothing else uses the store while its code runs on this thread.
    unsafe {
        let buf = (*ctx).unwind;
        if buf.is_null() {
            // Not reachable: the handler only redirects inside an entry (see `lc_trap_unwind`).
            std::process::abort();
        }
        let store = &mut *(*ctx).store;
        store.record_trap(TrapCode::MemoryOutOfBounds, None);
        store.record_frame(instance, func_index, offset);
        store.record_native_frames(fp, (*buf).frame_pointer(), None);
        // Nothing of this frame is left to drop: every frame up to the entry is native code's.
        wes_core::unwind::unwind(buf)
    }
}

/// Where a fault of a gas check resumes: pays for what the check's `chain` (`len` links at
/// `chain`) still can, records the `OutOfGas` trap of function `func_index` of instance
/// `instance` at the segment it cannot pay for and the frames from the faulting frame (frame
/// pointer `fp`) outward, and unwinds to the store's innermost entry.
///
/// # Safety
///
/// Only the fault handler jumps here, for a gas check in compiled code of the store whose
/// context is `ctx` (the innermost [`wes_core::unwind::call_array`] on this thread), `fp`
/// being the faulting frame's frame pointer and `chain`/`len` the check's links, borrowed
/// from the instance's compiled module, which the store keeps alive.
#[cfg_attr(not(all(target_arch = "x86_64", target_os = "linux")), allow(dead_code))]
unsafe extern "C" fn gas_landing(
    ctx: *mut VMStoreContext,
    instance: usize,
    func_index: u32,
    chain: *const wes_core::GasLink,
    len: usize,
    fp: usize,
) -> ! {
    // SAFETY: as in `landing`; `chain` and `len` describe the check's links in the compiled
    // module of an instance of this store (the contract), which outlives this call.
    unsafe {
        let buf = (*ctx).unwind;
        if buf.is_null() {
            std::process::abort();
        }
        let store = &mut *(*ctx).store;
        let chain = std::slice::from_raw_parts(chain, len);
        store.gas_fault(instance, func_index, chain);
        store.record_native_frames(fp, (*buf).frame_pointer(), None);
        wes_core::unwind::unwind(buf)
    }
}

/// The instance of the store behind `ctx` whose code holds the instruction at `pc` whose
/// fault is a trap, and what it means, or `None`. Allocates nothing and takes no lock: called
/// in a signal handler.
///
/// # Safety
///
/// `ctx` must be null or the context of a live store whose code is running on this thread;
/// the fault borrows from that store's modules.
#[cfg_attr(not(all(target_arch = "x86_64", target_os = "linux")), allow(dead_code))]
unsafe fn fault_at<'a>(ctx: *mut VMStoreContext, pc: usize) -> Option<(usize, wes_core::Fault<'a>)> {
    if ctx.is_null() {
        return None;
    }
    // SAFETY: `ctx` is a live store's context (the contract), its `store` the live store,
    // which this thread is running code of; it is only read here.
    unsafe { (*(*ctx).store).fault_at(pc) }
}

#[cfg(all(target_arch = "x86_64", target_os = "linux"))]
mod imp {
    use std::cell::UnsafeCell;
    use std::mem::MaybeUninit;
    use std::sync::atomic::{AtomicU8, Ordering};
    use std::sync::{Mutex, PoisonError};

    use super::*;

    const SIGNALS: [libc::c_int; 3] = [libc::SIGSEGV, libc::SIGBUS, libc::SIGILL];

    /// The actions that were installed before ours, for [`SIGNALS`]: written by the kernel
    /// (as `sigaction`'s old action) while `INSTALL` is held and `STATE` is not
    /// `INSTALLED`, only read after.
    struct Previous(UnsafeCell<[MaybeUninit<libc::sigaction>; 3]>);

    // SAFETY: written only under `INSTALL` before `STATE` becomes `INSTALLED` (a release
    // store), read only after an acquire load sees `INSTALLED`.
    unsafe impl Sync for Previous {}

    static PREVIOUS: Previous =
        Previous(UnsafeCell::new([MaybeUninit::zeroed(), MaybeUninit::zeroed(), MaybeUninit::zeroed()]));
    static INSTALL: Mutex<()> = Mutex::new(());
    static STATE: AtomicU8 = AtomicU8::new(NOT_INSTALLED);
    const NOT_INSTALLED: u8 = 0;
    const INSTALLED: u8 = 1;

    pub(super) fn install() -> Result<(), RuntimeError> {
        let _guard = INSTALL.lock().unwrap_or_else(PoisonError::into_inner);
        if STATE.load(Ordering::Acquire) == INSTALLED {
            return Ok(());
        }
        let previous = PREVIOUS.0.get().cast::<libc::sigaction>();
        for (i, sig) in SIGNALS.iter().enumerate() {
            // SAFETY: a zeroed `sigaction` is a valid value to fill in; `previous + i` is
            // this signal's slot, which nothing reads until `STATE` says `INSTALLED` (see
            // `Previous`). The handler is async-signal-safe: it reads thread-local and store
            // data, and writes only the signal context and a word of the faulting stack.
            let failed = unsafe {
                let mut action: libc::sigaction = MaybeUninit::zeroed().assume_init();
                action.sa_sigaction = handler as *const () as usize;
                action.sa_flags = libc::SA_SIGINFO | libc::SA_ONSTACK | libc::SA_NODEFER;
                libc::sigemptyset(&mut action.sa_mask);
                libc::sigaction(*sig, &action, previous.add(i)) != 0
            };
            if failed {
                let error = std::io::Error::last_os_error();
                for (j, sig) in SIGNALS.iter().enumerate().take(i) {
                    // SAFETY: slot `j` holds the action the kernel replaced with ours.
                    unsafe { libc::sigaction(*sig, previous.add(j), std::ptr::null_mut()) };
                }
                return Err(RuntimeError::ResourceLimit(format!(
                    "cannot install the fault handler guard regions need: {error}"
                )));
            }
        }
        STATE.store(INSTALLED, Ordering::Release);
        Ok(())
    }

    /// The fault handler (see the module documentation).
    ///
    /// # Safety
    ///
    /// Called by the kernel only, with the signal's `info` and `context`.
    unsafe extern "C" fn handler(sig: libc::c_int, info: *mut libc::siginfo_t, context: *mut libc::c_void) {
        // SAFETY: the kernel passes a valid `ucontext_t`; it is this thread's to change.
        let gregs = unsafe { &mut (*context.cast::<libc::ucontext_t>()).uc_mcontext.gregs };
        let pc = gregs[libc::REG_RIP as usize] as usize;
        let ctx = wes_core::unwind::active_store_context().cast::<VMStoreContext>();
        // SAFETY: the active store context is null or a store running code on this thread.
        if let Some((instance, fault)) = unsafe { fault_at(ctx, pc) } {
            let sp = gregs[libc::REG_RSP as usize] as usize;
            // Below the red zone, aligned as for a call: the landing sees the faulting
            // instruction as its caller. The wasm stack keeps room below every frame for the
            // runtime's own calls (`Config::host_stack_reserve`).
            let new_sp = ((sp - 128) & !15) - 8;
            // SAFETY: `new_sp` is below the faulting frame on the stack it runs on, within the
            // room the stack keeps for the runtime's calls.
            unsafe { (new_sp as *mut usize).write(pc) };
            gregs[libc::REG_RSP as usize] = new_sp as i64;
            gregs[libc::REG_RDI as usize] = ctx as usize as i64;
            gregs[libc::REG_RSI as usize] = instance as i64;
            // The faulting frame's frame pointer: compiled code keeps frame pointers.
            let fp = gregs[libc::REG_RBP as usize];
            match fault {
                wes_core::Fault::MemoryOutOfBounds { func_index, offset } => {
                    gregs[libc::REG_RIP as usize] = landing as *const () as usize as i64;
                    gregs[libc::REG_RDX as usize] = i64::from(func_index);
                    gregs[libc::REG_RCX as usize] = i64::from(offset);
                    gregs[libc::REG_R8 as usize] = fp;
                }
                wes_core::Fault::OutOfGas { func_index, chain } => {
                    gregs[libc::REG_RIP as usize] = gas_landing as *const () as usize as i64;
                    gregs[libc::REG_RDX as usize] = i64::from(func_index);
                    gregs[libc::REG_RCX as usize] = chain.as_ptr() as usize as i64;
                    gregs[libc::REG_R8 as usize] = chain.len() as i64;
                    gregs[libc::REG_R9 as usize] = fp;
                }
            }
            return;
        }
        // Not ours: the action that was there before decides.
        let slot = SIGNALS.iter().position(|s| *s == sig);
        let prev = match slot {
            // SAFETY: `INSTALLED` was seen (acquire), so the slot holds the previous action.
            Some(i) if STATE.load(Ordering::Acquire) == INSTALLED => unsafe {
                &*PREVIOUS.0.get().cast::<libc::sigaction>().add(i)
            },
            _ => {
                // Still installing (or a signal not ours): the default action, so the fault
                // ends the process as it would have without us rather than repeating forever.
                // SAFETY: `signal` with `SIG_DFL` has no preconditions.
                unsafe { libc::signal(sig, libc::SIG_DFL) };
                return;
            }
        };
        match prev.sa_sigaction {
            libc::SIG_DFL | libc::SIG_IGN => {
                // Back to it, and the faulting instruction runs again and faults under it.
                // SAFETY: `prev` is a valid action the kernel gave us.
                unsafe { libc::sigaction(sig, prev, std::ptr::null_mut()) };
            }
            f if prev.sa_flags & libc::SA_SIGINFO != 0 => {
                // SAFETY: the previous handler was installed for exactly these arguments.
                let f: extern "C" fn(libc::c_int, *mut libc::siginfo_t, *mut libc::c_void) =
                    unsafe { std::mem::transmute(f) };
                f(sig, info, context)
            }
            f => {
                // SAFETY: as above, a handler taking the signal number only.
                let f: extern "C" fn(libc::c_int) = unsafe { std::mem::transmute(f) };
                f(sig)
            }
        }
    }
}

#[cfg(not(all(target_arch = "x86_64", target_os = "linux")))]
mod imp {
    use super::*;

    pub(super) fn install() -> Result<(), RuntimeError> {
        Err(RuntimeError::ResourceLimit("guard regions need an x86-64 Linux host".into()))
    }
}
