//! Threaded dispatch: the ops that need nothing but the running frame's cells, memory 0 and
//! the gas counter — and calls of the module's own functions and returns, which switch frames
//! through [`Regs`], and array calls of native imports — run in handlers of their own, each
//! ending in a jump to the next op's
//! handler, whose address its slot holds ([`Slot::run`], from [`HANDLERS`] by the op's tag when
//! the body is sealed). Every handler gets the same few values in registers (the op, the
//! frame, the stack height, memory 0 and [`Regs`]) and has its own register allocation and its
//! own indirect jump, where one `match` in a loop shares one jump among every op and spills
//! what its biggest arm needs. wasmi 2 dispatches so on the same grounds.
//!
//! A handler that cannot finish its op — an operand that traps, an access out of bounds, a
//! charge the counter cannot pay — and every op without a handler of its own return to the
//! loop ([`super::Executor::run`]) with that op's address marked ([`Next`]), untouched: the
//! loop runs it in full (traps, libcalls, interpreted imports, first calls, SIMD, tables) and
//! enters the chain again at the op after. (An import's call that the handler made and that
//! did not return is finished by the loop: [`Regs::made`].)
//!
//! The jump is a tail call. Optimised builds on x86-64 and aarch64 (`wes_threaded`, set by
//! the build script) rely on LLVM turning it into a jump, as wasmi's default dispatch does: a
//! handler keeps no frame across it, so a chain of any length uses one handler frame. The tests
//! check that for every handler (a long loop of each, run directly, must take the stack of a
//! short one) and for a module's loop (`chains_run_in_constant_stack`). Other builds return to
//! the loop after every op instead, which is the same code one op at a time.

use wes_core::vm;

use super::Frame;
use super::stack::{cell, copy_cells};
use super::vmctx::{load_cell, mem0_addr, mem0_end, rd, store_cell, vmctx_entry, wr};
use crate::code::{DropKeep, LoadKind, Op, Slot, Target, Width, for_each_branch_cmp, for_each_fast_op};

/// What handlers read besides their registers; the loop refreshes it before it enters a chain.
pub(super) struct Regs {
    /// The running code's ops, where branch targets count from.
    pub(super) ops: *const Slot,
    /// NaN results are canonicalised (the running code's setting).
    pub(super) canon: bool,
    /// Cells from the running frame's first to the end of the value stack (checked in debug
    /// builds only).
    pub(super) cells: usize,
    /// The live store context (the gas counter). Here rather than in a register: only the
    /// charges read it, and a sixth argument register left every other handler two scratch
    /// registers, so that a load saved and restored one on every run.
    pub(super) store: *mut u8,
    /// The running frame (its `ip` is not kept up to date).
    pub(super) cur: Frame,
    /// The loop's frame stack, where the call and return handlers push and pop callers.
    pub(super) frames: *mut Vec<Frame>,
    /// The frame stack's length from which a call goes to the loop: its capacity (a handler
    /// never grows it), or where the callee could open no frame (`Executor::frames_left`
    /// would be zero), whichever comes first.
    pub(super) room: usize,
    /// Set by a handler that switched frames (a call or a return): the loop reloads the
    /// running frame from `cur` when the chain ends.
    pub(super) switched: bool,
    /// The loop's `Executor::allowed`: the frames its entry frame may open (an import's call
    /// gives its callee what the loop's call would).
    pub(super) allowed: u32,
    /// The status of an array call the `Op::CallImport` handler made that did not simply
    /// return (a trap, a tail call to run): the loop finishes that call, at the op the chain
    /// stopped at, instead of making it.
    pub(super) made: Option<u8>,
}

/// Where a chain stopped: the op to run next and the stack height (in cells from the frame's
/// first). An address with its low bit set (ops are 8-byte aligned) names an op the loop must
/// run itself.
#[repr(C)]
pub(super) struct Next {
    pub(super) ip: *const Slot,
    pub(super) sp: usize,
}

/// A handler: runs the op at `ip` of the frame whose first cell is `fb`, whose stack is `sp`
/// cells high, then the ops after it.
///
/// # Safety
///
/// `ip` is a slot of the running code whose op's tag is this handler's (as its `run`, from
/// [`HANDLERS`], sends it),
/// `regs` describes the code, `fb` and `sp` are its frame's cells and height, `mem0` its
/// instance's memory 0 definition when the code addresses memory 0 (`Code::mem0`); as for the
/// loop's own ops (see `run`).
pub(super) type Handler =
    unsafe extern "C" fn(ip: *const Slot, fb: *mut u64, sp: usize, mem0: *mut u8, regs: *mut Regs) -> Next;

/// The tag of an op: its first byte (`Op` is `repr(u8)`).
const fn tag(op: *const Op) -> usize {
    // SAFETY: `op` points to an op, whose first byte is its tag.
    unsafe { *op.cast::<u8>() as usize }
}

/// Enters the chain at `ip`.
///
/// # Safety
///
/// As [`Handler`].
#[inline(always)]
pub(super) unsafe fn enter(ip: *const Slot, fb: *mut u64, sp: usize, mem0: *mut u8, regs: *mut Regs) -> Next {
    // SAFETY: by this function's contract; `ip`'s slot holds its op's handler.
    unsafe { run(ip)(ip, fb, sp, mem0, regs) }
}

/// The handler of the op at `ip`, from its slot.
///
/// # Safety
///
/// `ip` is a slot of a sealed body (`Code::slots`), whose `run` is its op's handler's address.
#[inline(always)]
unsafe fn run(ip: *const Slot) -> Handler {
    // SAFETY: `run` holds the address of a `Handler` (`handler_address`), and a function
    // pointer and its address convert both ways.
    unsafe { std::mem::transmute::<usize, Handler>((*ip).run) }
}

/// The address of the handler of `op`, for its slot (`Code::slots`).
pub(crate) fn handler_address(op: &Op) -> usize {
    HANDLERS[tag(op)] as usize
}

/// Cell `$i` of the running frame.
macro_rules! s {
    ($fb:ident, $regs:ident, $i:expr) => {
        // SAFETY: as the loop's slots: every slot an op names lies in its frame, whose cells
        // were reserved before it ran.
        *unsafe { &mut *cell($fb, $i as usize, (*$regs).cells) }
    };
}

/// Goes on to the op at `$ip`: its handler in threaded builds, else back to the loop.
macro_rules! next {
    ($ip:expr, $fb:ident, $sp:expr, $mem0:ident, $store:ident, $regs:ident) => {{
        let ip: *const Slot = $ip;
        let sp: usize = $sp;
        #[cfg(wes_threaded)]
        // SAFETY: `ip` is an op of the running code (the op after one that falls through, or
        // a branch target, both checked by `Code::seal`), so this handler's contract holds.
        return unsafe { run(ip)(ip, $fb, sp, $mem0, $regs) };
        #[cfg(not(wes_threaded))]
        return Next { ip, sp };
    }};
}

/// Goes on at `$to`, a branch's target or the op a conditional branch falls through to: a
/// segment's charge there (counting no operators) is paid here when the counter holds enough
/// and skipped, as [`Op::BrCharge`] does for a `br` (one dispatch less where a loop's `br_if`
/// goes back, or a test falls through into a new segment); otherwise that op runs.
macro_rules! land {
    ($to:expr, $fb:ident, $sp:expr, $mem0:ident, $store:ident, $regs:ident) => {{
        let to: *const Slot = $to;
        // SAFETY: `to` is an op of the running code (as for `next!`); a charge falls through
        // to another op.
        // The store read only here, not where the handler starts: a handler's first load
        // of it cannot move below its writes to cells (which may alias, as far as the
        // compiler knows), so every branch paid for it, taken or not, metered or not.
        if let Op::Charge { cost, .. } = unsafe { (*to).op }
            && unsafe { pay((*$regs).store, cost) }
        {
            next!(unsafe { to.add(1) }, $fb, $sp, $mem0, $store, $regs)
        }
        next!(to, $fb, $sp, $mem0, $store, $regs)
    }};
}

/// Returns to the loop, which runs the op at `$ip` itself.
macro_rules! bail {
    ($ip:ident, $sp:ident) => {{
        #[cfg(test)]
        crate::exec::probe::at_chain_end();
        return Next { ip: $ip.wrapping_byte_add(1), sp: $sp };
    }};
}

/// The op after the one at `$ip`.
macro_rules! after {
    ($ip:ident) => {
        // SAFETY: a handled op that goes on falls through, so another op follows it.
        unsafe { $ip.add(1) }
    };
}

/// Defines a handler: `$op` is the op's pattern, `$body` runs it and ends in `next!` or
/// `bail!`. The table never sends an op of another tag here.
macro_rules! handler {
    ($vis:vis $name:ident, $pat:pat, |$ip:ident, $fb:ident, $sp:ident, $mem0:ident, $store:ident, $regs:ident| $body:block) => {
        #[allow(non_snake_case, unused_mut, unused_variables)]
        $vis unsafe extern "C" fn $name(
            $ip: *const Slot,
            $fb: *mut u64,
            mut $sp: usize,
            $mem0: *mut u8,
            $regs: *mut Regs,
        ) -> Next {
            // SAFETY: `ip` is an op of the running code, by the handler's contract.
            let $pat = (unsafe { (*$ip).op }) else {
                #[cfg(debug_assertions)]
                broken("an op reached the handler of another tag");
                // SAFETY: a slot sends its op only to the handler of its tag (by the
                // handler's contract), and this handler's pattern is that tag's variant.
                #[cfg(not(debug_assertions))]
                unsafe {
                    std::hint::unreachable_unchecked()
                };
            };
            // Read only by the handlers that use it.
            // SAFETY: `regs` is the loop's, by the handler's contract.
            let $store: *mut u8 = unsafe { (*$regs).store };
            // SAFETY: by the handler's contract (see `Handler`).
            #[allow(unused_unsafe)]
            unsafe {
                $body
            }
        }
    };
}

/// Takes branch `t` of the op at `$ip` from stack height `$sp`: moves the kept cells down over
/// the dropped ones and goes on at the target. One kept cell moves here; more go to
/// [`branch_move`], so that no branch handler holds more values than its registers (a copy
/// loop or a `memmove` call here would make every branch save and restore registers on every
/// run, taken or not).
macro_rules! branch {
    ($t:expr, $ip:ident, $fb:ident, $sp:ident, $mem0:ident, $store:ident, $regs:ident) => {{
        let t: Target = $t;
        let DropKeep { drop, keep } = t.dk;
        if drop > 0 {
            if keep > 1 {
                // SAFETY: as this handler's: the op at `ip` is the branch, `sp` the height.
                return unsafe { branch_move($ip, $fb, $sp, $mem0, $regs) };
            }
            if keep == 1 {
                s!($fb, $regs, $sp - 1 - drop as usize) = s!($fb, $regs, $sp - 1);
            }
            $sp -= drop as usize;
        }
        // SAFETY: `t.pc` is an op of the running code (`Code::seal`).
        land!(unsafe { (*$regs).ops.add(t.pc as usize) }, $fb, $sp, $mem0, $store, $regs)
    }};
}

/// The rest of a taken branch that keeps more than one cell: moves them and goes on at the
/// target (`sp` is the height at the branch, its operands popped). Never inlined: inlined, its
/// own jump to the next handler would become a call from the branch's handler.
#[allow(unused_variables)]
#[inline(never)]
unsafe extern "C" fn branch_move(ip: *const Slot, fb: *mut u64, mut sp: usize, mem0: *mut u8, regs: *mut Regs) -> Next {
    // SAFETY: `ip` is the branch op (by the caller). (By value: a local whose address is
    // taken would keep this frame alive across the jump to the next handler.)
    let Some(t) = (unsafe { (*ip).op.target() }) else { bail!(ip, sp) };
    let DropKeep { drop, keep } = t.dk;
    let from = sp - keep as usize;
    let to = from - drop as usize;
    // SAFETY: both ranges are cells of the frame (the translator's stack accounting); the
    // copy goes downwards, so overlapping ranges copy right.
    unsafe { copy_cells(fb, from, sp, to, (*regs).cells) };
    sp -= drop as usize;
    // SAFETY: `t.pc` is an op of the running code (`Code::seal`).
    next!(unsafe { (*regs).ops.add(t.pc as usize) }, fb, sp, mem0, store, regs)
}

/// A debug build's check of an invariant the translator keeps failed (`what`): out of line,
/// with nothing of the handler's passed by reference, so that no handler's locals escape (as a
/// `debug_assert!` formatting them would make them). Release builds have no such checks; the
/// tag check, which [`HANDLERS`] makes redundant, was a compare and a branch on every op.
#[cfg(debug_assertions)]
#[cold]
#[inline(never)]
#[allow(clippy::panic)] // a debug build's invariant check, as `debug_assert!` is
fn broken(what: &'static str) -> ! {
    panic!("{what}")
}

/// Pays `cost` from the store's counter when it holds enough.
///
/// # Safety
///
/// `store` is the live store context.
#[inline(always)]
unsafe fn pay(store: *mut u8, cost: u64) -> bool {
    // SAFETY: the store context holds the counter at `vm::STORE_GAS`.
    unsafe {
        let gas: u64 = rd(store, vm::STORE_GAS);
        let paid = gas >= cost;
        if paid {
            wr(store, vm::STORE_GAS, gas - cost);
        }
        paid
    }
}

/// Memory 0's address of a `size`-byte access at `addr + offset`, `None` when out of bounds.
///
/// # Safety
///
/// `mem0` is the live definition of memory 0.
#[inline(always)]
unsafe fn at0(mem0: *mut u8, addr: u64, offset: u64, size: u64) -> Option<*mut u8> {
    let offset = u32::try_from(offset).ok()?;
    // SAFETY: by this function's contract.
    unsafe { mem0_addr(mem0, addr as u32, offset, size) }
}

/// A debug build's check that a cell a narrow (`i32`) test reads is zero-extended, as every
/// `i32` cell is (see `crate::code`), which the tests rely on to skip the width.
#[inline(always)]
fn narrow_check(v: u64, wide: bool) {
    #[cfg(debug_assertions)]
    if !wide && v >> 32 != 0 {
        broken("an i32 cell is not zero-extended");
    }
    let _ = (v, wide);
}

/// The handler of the ops the loop runs.
#[allow(unused_variables)]
unsafe extern "C" fn exit(ip: *const Slot, fb: *mut u64, sp: usize, mem0: *mut u8, regs: *mut Regs) -> Next {
    bail!(ip, sp)
}

handler!(charge, Op::Charge { cost, .. }, |ip, fb, sp, mem0, store, regs| {
    if !pay(store, cost) {
        bail!(ip, sp)
    }
    next!(after!(ip), fb, sp, mem0, store, regs)
});

handler!(charge_count, Op::ChargeCount { cost, ops, .. }, |ip, fb, sp, mem0, store, regs| {
    if !pay(store, cost) {
        bail!(ip, sp)
    }
    // Counted once paid for, as the JIT counts.
    let n: u64 = rd(store, vm::STORE_OPERATORS);
    wr(store, vm::STORE_OPERATORS, n.wrapping_add(u64::from(ops)));
    next!(after!(ip), fb, sp, mem0, store, regs)
});

handler!(br, Op::Br(t), |ip, fb, sp, mem0, store, regs| { branch!(t, ip, fb, sp, mem0, store, regs) });

handler!(br_charge, Op::BrCharge { t, cost }, |ip, fb, sp, mem0, store, regs| {
    // `Code::seal` fuses only branches that drop no cells.
    #[cfg(debug_assertions)]
    if t.dk.drop != 0 {
        broken("a fused branch to a charge drops cells");
    }
    // Lands after the charge when it is paid here, on it otherwise (where it runs in full).
    // SAFETY: `t.pc` is an op of the running code (`Code::seal`), a charge, which another op
    // follows (or an inverted loop's way in, `Code::invert_loops`, which its copied test
    // follows).
    let to = (*regs).ops.add(t.pc as usize);
    // Two tails rather than one on a computed address: the paid path, taken on every turn of
    // a loop, then needs no register beyond the handler's own (the computed one made it save
    // and restore one on every turn, and took 20 instructions to this one's 13).
    if pay(store, cost) {
        next!(to.add(1), fb, sp, mem0, store, regs)
    }
    next!(to, fb, sp, mem0, store, regs)
});

handler!(jump, Op::Jump { by }, |ip, fb, sp, mem0, store, regs| {
    // SAFETY: `by` leads to an op of the running code (`Code::seal` checked the target).
    next!(ip.byte_offset(by as isize), fb, sp, mem0, store, regs)
});

handler!(jump_charge, Op::JumpCharge { by, cost }, |ip, fb, sp, mem0, store, regs| {
    // As `br_charge`: after the charge when it is paid here, on it otherwise.
    // SAFETY: `by` leads to a charge of the running code (`Code::seal`), which another op
    // follows (or an inverted loop's way in, as for `br_charge`).
    let to = ip.byte_offset(by as isize);
    if pay(store, cost) {
        next!(to.add(1), fb, sp, mem0, store, regs)
    }
    next!(to, fb, sp, mem0, store, regs)
});

handler!(refund, Op::Refund { cost }, |ip, fb, sp, mem0, store, regs| {
    // The counter held `cost` a few pure ops ago (`Code::invert_loops`): no overflow.
    let gas: u64 = rd(store, vm::STORE_GAS);
    wr(store, vm::STORE_GAS, gas.wrapping_add(cost));
    next!(after!(ip), fb, sp, mem0, store, regs)
});

handler!(stack_move, Op::StackMove(by), |ip, fb, sp, mem0, store, regs| {
    next!(after!(ip), fb, { sp.wrapping_add_signed(by as isize) }, mem0, store, regs)
});

handler!(br_and, Op::BrAnd { sp: ds, wide, zero, a, imm, t }, |ip, fb, sp, mem0, store, regs| {
    // An `i32` cell is zero-extended (see `crate::code`), so the 64-bit `and` of it is the
    // 32-bit one, zero-extended: the width needs no test here.
    let v = s!(fb, regs, a);
    narrow_check(v, wide);
    let v = v & (imm as i64 as u64);
    sp = sp.wrapping_add_signed(isize::from(ds));
    if (v == 0) == zero {
        branch!(t, ip, fb, sp, mem0, store, regs)
    }
    land!(after!(ip), fb, sp, mem0, store, regs)
});

handler!(br_if, Op::BrIf(t), |ip, fb, sp, mem0, store, regs| {
    sp -= 1;
    if s!(fb, regs, sp) as u32 != 0 {
        branch!(t, ip, fb, sp, mem0, store, regs)
    }
    land!(after!(ip), fb, sp, mem0, store, regs)
});

handler!(br_if_z, Op::BrIfZ { sp: ds, wide, a, cost, t }, |ip, fb, sp, mem0, store, regs| {
    // As `br_and`: zero in 64 bits is zero in 32 for a zero-extended cell.
    let v = s!(fb, regs, a);
    narrow_check(v, wide);
    sp = sp.wrapping_add_signed(isize::from(ds));
    if v == 0 {
        branch!(t, ip, fb, sp, mem0, store, regs)
    }
    // The charge this op falls through to, paid here when the counter holds enough;
    // otherwise that `Charge` op runs next.
    // The store read only when there is a charge (as in `land!`).
    if cost > 0 && pay((*regs).store, u64::from(cost)) {
        next!(after!(ip).add(1), fb, sp, mem0, store, regs)
    }
    next!(after!(ip), fb, sp, mem0, store, regs)
});

handler!(if_nez, Op::IfNez { sp: ds, wide, a, to }, |ip, fb, sp, mem0, store, regs| {
    // As `br_if_z`.
    let v = s!(fb, regs, a);
    narrow_check(v, wide);
    sp = sp.wrapping_add_signed(isize::from(ds));
    if v != 0 {
        land!((*regs).ops.add(to as usize), fb, sp, mem0, store, regs)
    }
    land!(after!(ip), fb, sp, mem0, store, regs)
});

handler!(br_if_eqz, Op::BrIfEqz(to), |ip, fb, sp, mem0, store, regs| {
    sp -= 1;
    if s!(fb, regs, sp) as u32 == 0 {
        land!((*regs).ops.add(to as usize), fb, sp, mem0, store, regs)
    }
    land!(after!(ip), fb, sp, mem0, store, regs)
});

handler!(drop1, Op::Drop, |ip, fb, sp, mem0, store, regs| { next!(after!(ip), fb, { sp - 1 }, mem0, store, regs) });

handler!(drop2, Op::Drop2, |ip, fb, sp, mem0, store, regs| { next!(after!(ip), fb, { sp - 2 }, mem0, store, regs) });

handler!(select, Op::Select, |ip, fb, sp, mem0, store, regs| {
    sp -= 2;
    if s!(fb, regs, sp + 1) as u32 == 0 {
        s!(fb, regs, sp - 1) = s!(fb, regs, sp);
    }
    next!(after!(ip), fb, sp, mem0, store, regs)
});

handler!(local_get, Op::LocalGet(i), |ip, fb, sp, mem0, store, regs| {
    s!(fb, regs, sp) = s!(fb, regs, i);
    next!(after!(ip), fb, { sp + 1 }, mem0, store, regs)
});

handler!(local_get_moved, Op::LocalGetMoved { i, sp: ds }, |ip, fb, sp, mem0, store, regs| {
    sp = sp.wrapping_add_signed(isize::from(ds));
    s!(fb, regs, sp) = s!(fb, regs, i);
    next!(after!(ip), fb, { sp + 1 }, mem0, store, regs)
});

handler!(local_set, Op::LocalSet(i), |ip, fb, sp, mem0, store, regs| {
    sp -= 1;
    s!(fb, regs, i) = s!(fb, regs, sp);
    next!(after!(ip), fb, sp, mem0, store, regs)
});

handler!(local_tee, Op::LocalTee(i), |ip, fb, sp, mem0, store, regs| {
    s!(fb, regs, i) = s!(fb, regs, sp - 1);
    next!(after!(ip), fb, sp, mem0, store, regs)
});

// A global of the running instance (LLVM's code reads and writes its stack pointer in one in
// every function that keeps a frame in memory); a `v128` one is the loop's.
handler!(global_get, Op::GlobalGet(g, w), |ip, fb, sp, mem0, store, regs| {
    // A validated index of the running instance; a global's slot is a 16-byte `ValRaw`.
    let p = vmctx_entry((*regs).cur.vmctx, vm::VMCTX_GLOBALS, g);
    s!(fb, regs, sp) = match w {
        Width::W32 => u64::from(rd::<u32>(p, 0)),
        Width::W64 => rd::<u64>(p, 0),
        Width::W128 => bail!(ip, sp),
    };
    next!(after!(ip), fb, { sp + 1 }, mem0, store, regs)
});

handler!(global_set, Op::GlobalSet(g, w), |ip, fb, sp, mem0, store, regs| {
    // As `global_get`.
    let p = vmctx_entry((*regs).cur.vmctx, vm::VMCTX_GLOBALS, g);
    let v = s!(fb, regs, sp - 1);
    match w {
        Width::W32 => wr(p, 0, v as u32),
        Width::W64 => wr(p, 0, v),
        Width::W128 => bail!(ip, sp),
    }
    next!(after!(ip), fb, { sp - 1 }, mem0, store, regs)
});

handler!(copy, Op::Copy { d, a }, |ip, fb, sp, mem0, store, regs| {
    s!(fb, regs, d) = s!(fb, regs, a);
    next!(after!(ip), fb, sp, mem0, store, regs)
});

handler!(const_to, Op::ConstTo { d, v }, |ip, fb, sp, mem0, store, regs| {
    s!(fb, regs, d) = v;
    next!(after!(ip), fb, sp, mem0, store, regs)
});

handler!(const1, Op::Const(v), |ip, fb, sp, mem0, store, regs| {
    s!(fb, regs, sp) = v;
    next!(after!(ip), fb, { sp + 1 }, mem0, store, regs)
});

handler!(const_moved, Op::ConstMoved { v, sp: ds }, |ip, fb, sp, mem0, store, regs| {
    sp = sp.wrapping_add_signed(isize::from(ds));
    s!(fb, regs, sp) = v;
    next!(after!(ip), fb, { sp + 1 }, mem0, store, regs)
});

handler!(un_s, Op::UnS { n, sp: ds, d, a }, |ip, fb, sp, mem0, store, regs| {
    let Ok(v) = n.eval(s!(fb, regs, a), 0, (*regs).canon) else { bail!(ip, sp) };
    s!(fb, regs, d) = v;
    next!(after!(ip), fb, { sp.wrapping_add_signed(isize::from(ds)) }, mem0, store, regs)
});

handler!(i32_wrap, Op::I32WrapS { d, a, .. }, |ip, fb, sp, mem0, store, regs| {
    s!(fb, regs, d) = u64::from(s!(fb, regs, a) as u32);
    next!(after!(ip), fb, sp, mem0, store, regs)
});

handler!(i64_extend_s, Op::I64ExtendSS { d, a, .. }, |ip, fb, sp, mem0, store, regs| {
    s!(fb, regs, d) = s!(fb, regs, a) as u32 as i32 as i64 as u64;
    next!(after!(ip), fb, sp, mem0, store, regs)
});

handler!(bin_ss, Op::BinSS { n, sp: ds, d, a, b }, |ip, fb, sp, mem0, store, regs| {
    let Ok(v) = n.eval(s!(fb, regs, a), s!(fb, regs, b), (*regs).canon) else { bail!(ip, sp) };
    s!(fb, regs, d) = v;
    next!(after!(ip), fb, { sp.wrapping_add_signed(isize::from(ds)) }, mem0, store, regs)
});

handler!(bin_si, Op::BinSI { n, sp: ds, d, a, imm }, |ip, fb, sp, mem0, store, regs| {
    let Ok(v) = n.eval(s!(fb, regs, a), imm, (*regs).canon) else { bail!(ip, sp) };
    s!(fb, regs, d) = v;
    next!(after!(ip), fb, { sp.wrapping_add_signed(isize::from(ds)) }, mem0, store, regs)
});

/// A load from memory 0 into slot `d`, read as `$ty` and widened by `$widen`.
macro_rules! load_handler {
    ($name:ident, $variant:ident, $ty:ty) => {
        load_handler!($name, $variant, $ty as |v: $ty| u64::from(v));
    };
    ($name:ident, $variant:ident, $ty:ty as $widen:expr) => {
        handler!($name, Op::$variant { d, a, end, .. }, |ip, fb, sp, mem0, store, regs| {
            // `end` counts the size (`Code::seal` checks it).
            let Some(p) = mem0_end(mem0, s!(fb, regs, a) as u32, end, size_of::<$ty>()) else { bail!(ip, sp) };
            // SAFETY: `p..p+size` is inside the memory (checked against its length).
            s!(fb, regs, d) = $widen(rd::<$ty>(p, 0));
            next!(after!(ip), fb, sp, mem0, store, regs)
        });
    };
}
load_handler!(load32, Load32S, u32);
load_handler!(load64, Load64S, u64);
load_handler!(load8u, Load8U, u8);
load_handler!(load16u, Load16U, u16);
load_handler!(load8s, Load8S, i8 as |v: i8| u64::from(v as i32 as u32));
load_handler!(load16s, Load16S, i16 as |v: i16| u64::from(v as i32 as u32));

/// A store of slot `v` to memory 0, as `$ty`.
macro_rules! store_handler {
    ($name:ident, $variant:ident, $ty:ty) => {
        handler!($name, Op::$variant { a, v, end, .. }, |ip, fb, sp, mem0, store, regs| {
            // As for loads.
            let Some(p) = mem0_end(mem0, s!(fb, regs, a) as u32, end, size_of::<$ty>()) else { bail!(ip, sp) };
            // SAFETY: `p..p+size` is inside the memory (checked against its length).
            wr::<$ty>(p, 0, s!(fb, regs, v) as $ty);
            next!(after!(ip), fb, sp, mem0, store, regs)
        });
    };
}
store_handler!(store32, Store32S, u32);
store_handler!(store64, Store64S, u64);
store_handler!(store8, Store8, u8);
store_handler!(store16, Store16, u16);

handler!(load_s, Op::LoadS { kind, sp: ds, d, a, mem, offset }, |ip, fb, sp, mem0, store, regs| {
    let size = kind.size();
    // Another memory than 0 is the loop's (its definition is not in a register).
    if mem != 0 {
        bail!(ip, sp)
    }
    let Some(p) = at0(mem0, u64::from(s!(fb, regs, a) as u32), offset, size) else { bail!(ip, sp) };
    // SAFETY: `p..p+size` is inside the memory (checked against its length).
    s!(fb, regs, d) = load_cell(kind, p);
    next!(after!(ip), fb, { sp.wrapping_add_signed(isize::from(ds)) }, mem0, store, regs)
});

handler!(store_s, Op::StoreS { size, sp: ds, a, v, mem, offset }, |ip, fb, sp, mem0, store, regs| {
    if mem != 0 {
        bail!(ip, sp)
    }
    let Some(p) = at0(mem0, u64::from(s!(fb, regs, a) as u32), offset, u64::from(size)) else { bail!(ip, sp) };
    let v = s!(fb, regs, v);
    // SAFETY: `p..p+size` is inside the memory (checked against its length).
    store_cell(size, p, v);
    next!(after!(ip), fb, { sp.wrapping_add_signed(isize::from(ds)) }, mem0, store, regs)
});

/// The handlers of [`for_each_fast_op`]: operators that cannot trap, each on slots or a slot
/// and an immediate.
macro_rules! fast_handlers {
    ([] $( $kind:ident => $ss:ident, $si:ident; )*) => {
        $(
            handler!($ss, Op::$ss { d, a, b, .. }, |ip, fb, sp, mem0, store, regs| {
                if let Ok(v) = crate::num::NumOp::$kind.eval(s!(fb, regs, a), s!(fb, regs, b), (*regs).canon) {
                    s!(fb, regs, d) = v;
                }
                next!(after!(ip), fb, sp, mem0, store, regs)
            });
            handler!($si, Op::$si { d, a, imm, .. }, |ip, fb, sp, mem0, store, regs| {
                if let Ok(v) = crate::num::NumOp::$kind.eval(s!(fb, regs, a), imm, (*regs).canon) {
                    s!(fb, regs, d) = v;
                }
                next!(after!(ip), fb, sp, mem0, store, regs)
            });
        )*
    };
}
for_each_fast_op!(fast_handlers);

/// The handlers of the fused multiply-adds: the product's NaN is not canonicalised, as the
/// sum's is and a NaN product makes the sum a NaN — the same bits as the two operators'.
macro_rules! mul_add_handler {
    ($name:ident, $op:ident, $mul:ident, $add:ident) => {
        handler!($name, Op::$op { d, a, b, c, .. }, |ip, fb, sp, mem0, store, regs| {
            let p = crate::num::NumOp::$mul.eval(s!(fb, regs, a), s!(fb, regs, b), false);
            if let Ok(p) = p
                && let Ok(v) = crate::num::NumOp::$add.eval(s!(fb, regs, c), p, (*regs).canon)
            {
                s!(fb, regs, d) = v;
            }
            next!(after!(ip), fb, sp, mem0, store, regs)
        });
    };
}
mul_add_handler!(f64_mul_add, F64MulAddSS, F64Mul, F64Add);
mul_add_handler!(f32_mul_add, F32MulAddSS, F32Mul, F32Add);

/// The handlers of [`for_each_branch_cmp`]: move the stack, then branch when the comparison
/// holds.
macro_rules! branch_handlers {
    ([] $( $kind:ident => $bss:ident, $bsi:ident; )*) => {
        $(
            handler!($bss, Op::$bss { sp: ds, a, b, t }, |ip, fb, sp, mem0, store, regs| {
                let holds = matches!(crate::num::NumOp::$kind.eval(s!(fb, regs, a), s!(fb, regs, b), false), Ok(1));
                sp = sp.wrapping_add_signed(isize::from(ds));
                if holds {
                    branch!(t, ip, fb, sp, mem0, store, regs)
                }
                land!(after!(ip), fb, sp, mem0, store, regs)
            });
            handler!($bsi, Op::$bsi { sp: ds, a, imm, t }, |ip, fb, sp, mem0, store, regs| {
                let holds = matches!(crate::num::NumOp::$kind.eval(s!(fb, regs, a), imm as i64 as u64, false), Ok(1));
                sp = sp.wrapping_add_signed(isize::from(ds));
                if holds {
                    branch!(t, ip, fb, sp, mem0, store, regs)
                }
                land!(after!(ip), fb, sp, mem0, store, regs)
            });
        )*
    };
}
for_each_branch_cmp!(branch_handlers);

mod frames;
use frames::{call, call_import, charge_return, ret};

/// The handler of every op, by tag: [`exit`] for the ops the loop runs.
static HANDLERS: [Handler; 256] = {
    let mut h: [Handler; 256] = [exit; 256];
    let t = Target { pc: 0, dk: DropKeep { drop: 0, keep: 0 } };
    let n = crate::num::NumOp::I32Add;
    h[tag(&Op::Charge { cost: 0, chain: 0 })] = charge;
    h[tag(&Op::ChargeCount { cost: 0, ops: 0, chain: 0 })] = charge_count;
    h[tag(&Op::Call { f: 0, sp: 0 })] = call;
    h[tag(&Op::CallImport { f: 0, sp: 0, sig: crate::code::ImportSig::General })] = call_import;
    h[tag(&Op::Return { sp: 0 })] = ret;
    h[tag(&Op::ChargeReturn { cost: 0, sp: 0 })] = charge_return;
    h[tag(&Op::Br(t))] = br;
    h[tag(&Op::BrCharge { t, cost: 0 })] = br_charge;
    h[tag(&Op::Jump { by: 0 })] = jump;
    h[tag(&Op::JumpCharge { by: 0, cost: 0 })] = jump_charge;
    h[tag(&Op::StackMove(0))] = stack_move;
    h[tag(&Op::Refund { cost: 0 })] = refund;
    h[tag(&Op::LocalGetMoved { i: 0, sp: 0 })] = local_get_moved;
    h[tag(&Op::ConstMoved { v: 0, sp: 0 })] = const_moved;
    h[tag(&Op::GlobalGet(0, Width::W32))] = global_get;
    h[tag(&Op::GlobalSet(0, Width::W32))] = global_set;
    h[tag(&Op::BrAnd { sp: 0, wide: false, zero: false, a: 0, imm: 0, t })] = br_and;
    h[tag(&Op::BrIf(t))] = br_if;
    h[tag(&Op::BrIfZ { sp: 0, wide: false, a: 0, cost: 0, t })] = br_if_z;
    h[tag(&Op::IfNez { sp: 0, wide: false, a: 0, to: 0 })] = if_nez;
    h[tag(&Op::BrIfEqz(0))] = br_if_eqz;
    h[tag(&Op::Drop)] = drop1;
    h[tag(&Op::Drop2)] = drop2;
    h[tag(&Op::Select)] = select;
    h[tag(&Op::LocalGet(0))] = local_get;
    h[tag(&Op::LocalSet(0))] = local_set;
    h[tag(&Op::LocalTee(0))] = local_tee;
    h[tag(&Op::Copy { d: 0, a: 0 })] = copy;
    h[tag(&Op::ConstTo { d: 0, v: 0 })] = const_to;
    h[tag(&Op::Const(0))] = const1;
    h[tag(&Op::UnS { n, sp: 0, d: 0, a: 0 })] = un_s;
    h[tag(&Op::I32WrapS { sp: 0, d: 0, a: 0 })] = i32_wrap;
    h[tag(&Op::I64ExtendSS { sp: 0, d: 0, a: 0 })] = i64_extend_s;
    h[tag(&Op::BinSS { n, sp: 0, d: 0, a: 0, b: 0 })] = bin_ss;
    h[tag(&Op::BinSI { n, sp: 0, d: 0, a: 0, imm: 0 })] = bin_si;
    h[tag(&Op::F64MulAddSS { sp: 0, d: 0, a: 0, b: 0, c: 0 })] = f64_mul_add;
    h[tag(&Op::F32MulAddSS { sp: 0, d: 0, a: 0, b: 0, c: 0 })] = f32_mul_add;
    h[tag(&Op::Load32S { sp: 0, d: 0, a: 0, end: 0 })] = load32;
    h[tag(&Op::Load64S { sp: 0, d: 0, a: 0, end: 0 })] = load64;
    h[tag(&Op::Store32S { sp: 0, a: 0, v: 0, end: 0 })] = store32;
    h[tag(&Op::Store64S { sp: 0, a: 0, v: 0, end: 0 })] = store64;
    h[tag(&Op::Load8U { sp: 0, d: 0, a: 0, end: 0 })] = load8u;
    h[tag(&Op::Load8S { sp: 0, d: 0, a: 0, end: 0 })] = load8s;
    h[tag(&Op::Load16U { sp: 0, d: 0, a: 0, end: 0 })] = load16u;
    h[tag(&Op::Load16S { sp: 0, d: 0, a: 0, end: 0 })] = load16s;
    h[tag(&Op::Store8 { sp: 0, a: 0, v: 0, end: 0 })] = store8;
    h[tag(&Op::Store16 { sp: 0, a: 0, v: 0, end: 0 })] = store16;
    h[tag(&Op::LoadS { kind: LoadKind::I32, sp: 0, d: 0, a: 0, mem: 0, offset: 0 })] = load_s;
    h[tag(&Op::StoreS { size: 0, sp: 0, a: 0, v: 0, mem: 0, offset: 0 })] = store_s;
    macro_rules! fast_entries {
        ([$h:ident] $( $kind:ident => $ss:ident, $si:ident; )*) => {
            $(
                $h[tag(&Op::$ss { sp: 0, d: 0, a: 0, b: 0 })] = $ss;
                $h[tag(&Op::$si { sp: 0, d: 0, a: 0, imm: 0 })] = $si;
            )*
        };
    }
    for_each_fast_op!(fast_entries, h);
    macro_rules! branch_entries {
        ([$h:ident, $t:ident] $( $kind:ident => $bss:ident, $bsi:ident; )*) => {
            $(
                $h[tag(&Op::$bss { sp: 0, a: 0, b: 0, t: $t })] = $bss;
                $h[tag(&Op::$bsi { sp: 0, a: 0, imm: 0, t: $t })] = $bsi;
            )*
        };
    }
    for_each_branch_cmp!(branch_entries, h, t);
    h
};

#[cfg(test)]
mod tests;
