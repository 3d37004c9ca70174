//! Every handler, on a loop of its own, run directly (no module, no loop of `run`): the
//! chain must reach the end of the loop without returning, in the stack it takes for a
//! few turns. A handler LLVM compiled with a call rather than a jump to the next would
//! grow the stack by a frame per turn, and a long loop of it would overflow the native
//! stack of whoever runs the module.

use super::*;
use crate::code::{for_each_branch_cmp, for_each_fast_op};
use crate::num::NumOp;

/// Frame cells: the turn counter, the turn limit, half of it, the turn's parity, a scratch
/// cell, an address (0) and the operand stack from [`SP`].
const CTR: u32 = 0;
const LIMIT: u32 = 1;
const HALF: u32 = 2;
const PARITY: u32 = 3;
const SCRATCH: u32 = 4;
const ADDR: u32 = 5;
const SP: usize = 8;
const CELLS: usize = 64;

fn to(pc: usize) -> Target {
    Target { pc: pc as u32, dk: DropKeep { drop: 0, keep: 0 } }
}

/// The loop bodies, one or more per handler, each given the index of its first op (after
/// the parity op) and leaving the stack as it found it; branches land on the body's next
/// op, taken on some turns and not on others.
fn bodies(at: usize, half: u64) -> Vec<Vec<Op>> {
    let n = |k: usize| to(at + k);
    let half_imm = half as i32;
    let mut b = vec![
        vec![Op::Charge { cost: 1, chain: 0 }],
        vec![Op::ChargeCount { cost: 1, ops: 1, chain: 0 }],
        vec![Op::Br(n(1))],
        vec![
            Op::Const(1),
            Op::Const(2),
            Op::Br(Target { pc: (at + 3) as u32, dk: DropKeep { drop: 1, keep: 1 } }),
            Op::Drop,
        ],
        vec![
            Op::Const(1),
            Op::Const(2),
            Op::Const(3),
            Op::Const(4),
            Op::Br(Target { pc: (at + 5) as u32, dk: DropKeep { drop: 2, keep: 2 } }),
            Op::Drop2,
        ],
        vec![Op::BrCharge { t: n(1), cost: 1 }, Op::Charge { cost: 1, chain: 0 }],
        // Relative to the op itself: one op on.
        vec![Op::Jump { by: std::mem::size_of::<Slot>() as i32 }],
        vec![Op::JumpCharge { by: std::mem::size_of::<Slot>() as i32, cost: 1 }, Op::Charge { cost: 1, chain: 0 }],
        vec![Op::BrAnd { sp: 0, wide: false, zero: true, a: CTR, imm: 1, t: n(1) }],
        vec![Op::LocalGet(PARITY), Op::BrIf(n(2))],
        vec![Op::BrIfZ { sp: 0, wide: true, a: PARITY, cost: 0, t: n(1) }],
        vec![Op::BrIfZ { sp: 0, wide: false, a: PARITY, cost: 1, t: n(2) }, Op::Charge { cost: 1, chain: 0 }],
        vec![Op::IfNez { sp: 0, wide: false, a: PARITY, to: (at + 1) as u32 }],
        vec![Op::LocalGet(PARITY), Op::BrIfEqz((at + 2) as u32)],
        vec![Op::Const(1), Op::Const(2), Op::Drop2],
        vec![Op::Const(1), Op::Const(2), Op::LocalGet(PARITY), Op::Select, Op::Drop],
        vec![Op::Const(7), Op::LocalSet(SCRATCH)],
        vec![Op::Const(7), Op::LocalTee(SCRATCH), Op::Drop],
        vec![Op::StackMove(3), Op::StackMove(-3)],
        vec![Op::Charge { cost: 2, chain: 0 }, Op::Refund { cost: 2 }],
        vec![Op::LocalGetMoved { i: PARITY, sp: 2 }, Op::ConstMoved { v: 7, sp: -2 }, Op::Drop2],
        vec![Op::Copy { d: SCRATCH, a: PARITY }],
        vec![Op::ConstTo { d: SCRATCH, v: 9 }],
        vec![Op::F64MulAddSS { sp: 0, d: SCRATCH, a: CTR, b: LIMIT, c: PARITY }],
        vec![Op::F32MulAddSS { sp: 0, d: SCRATCH, a: CTR, b: LIMIT, c: PARITY }],
        vec![Op::UnS { n: NumOp::I32Clz, sp: 0, d: SCRATCH, a: CTR }],
        vec![Op::I32WrapS { sp: 0, d: SCRATCH, a: CTR }],
        vec![Op::I64ExtendSS { sp: 0, d: SCRATCH, a: CTR }],
        vec![Op::BinSS { n: NumOp::I32DivU, sp: 0, d: SCRATCH, a: CTR, b: LIMIT }],
        vec![Op::BinSI { n: NumOp::I32DivU, sp: 0, d: SCRATCH, a: CTR, imm: 3 }],
        vec![Op::Store32S { sp: 0, a: ADDR, v: CTR, end: 20 }, Op::Load32S { sp: 0, d: SCRATCH, a: ADDR, end: 20 }],
        vec![Op::Store64S { sp: 0, a: ADDR, v: CTR, end: 32 }, Op::Load64S { sp: 0, d: SCRATCH, a: ADDR, end: 32 }],
        vec![Op::Store8 { sp: 0, a: ADDR, v: CTR, end: 49 }, Op::Load8U { sp: 0, d: SCRATCH, a: ADDR, end: 49 }],
        vec![Op::Store8 { sp: 0, a: ADDR, v: CTR, end: 50 }, Op::Load8S { sp: 0, d: SCRATCH, a: ADDR, end: 50 }],
        vec![Op::Store16 { sp: 0, a: ADDR, v: CTR, end: 52 }, Op::Load16U { sp: 0, d: SCRATCH, a: ADDR, end: 52 }],
        vec![Op::Store16 { sp: 0, a: ADDR, v: CTR, end: 54 }, Op::Load16S { sp: 0, d: SCRATCH, a: ADDR, end: 54 }],
        vec![
            Op::StoreS { size: 2, sp: 0, a: ADDR, v: CTR, mem: 0, offset: 40 },
            Op::LoadS { kind: LoadKind::I32S16, sp: 0, d: SCRATCH, a: ADDR, mem: 0, offset: 40 },
        ],
    ];
    macro_rules! fast {
        ([$b:ident] $( $kind:ident => $ss:ident, $si:ident; )*) => {
            $(
                $b.push(vec![Op::$ss { sp: 0, d: SCRATCH, a: CTR, b: LIMIT }]);
                $b.push(vec![Op::$si { sp: 0, d: SCRATCH, a: CTR, imm: 3 }]);
            )*
        };
    }
    for_each_fast_op!(fast, b);
    macro_rules! branches {
        ([$b:ident, $n:ident, $half_imm:ident] $( $kind:ident => $bss:ident, $bsi:ident; )*) => {
            $(
                $b.push(vec![Op::$bss { sp: 0, a: CTR, b: HALF, t: $n(1) }]);
                $b.push(vec![Op::$bsi { sp: 0, a: CTR, imm: $half_imm, t: $n(1) }]);
            )*
        };
    }
    for_each_branch_cmp!(branches, b, n, half_imm);
    b
}

/// Runs `turns` turns of `body` as the loop would: returns how many times the chain came
/// back before the end, how deep the handlers went, the final stack height, the gas paid
/// and the operators counted.
fn run(body: &dyn Fn(usize) -> Vec<Op>, turns: u64) -> (usize, usize, usize, u64, u64) {
    // The parity of the turn, the body, the count, the loop's branch, and an op the loop
    // runs (that ends the chain).
    let mut ops = vec![Op::BinSI { n: NumOp::I32And, sp: 0, d: PARITY, a: CTR, imm: 1 }];
    ops.extend(body(1));
    ops.push(Op::I32AddSI { sp: 0, d: CTR, a: CTR, imm: 1 });
    ops.push(Op::BrI32LtUSS { sp: 0, a: CTR, b: LIMIT, t: to(0) });
    ops.push(Op::Unreachable);
    let end = ops.len() - 1;
    let ops: Vec<Slot> = ops.iter().map(|op| Slot { run: super::handler_address(op), op: *op }).collect();

    let mut cells = [0u64; CELLS];
    cells[LIMIT as usize] = turns;
    cells[HALF as usize] = turns / 2;
    let mut store = [0u64; 16];
    store[vm::STORE_GAS as usize / 8] = u64::MAX;
    let mut memory = vec![0u8; 64];
    let mut mem0 = [0u64; 4];
    mem0[vm::MEMORY_BASE as usize / 8] = memory.as_mut_ptr() as u64;
    mem0[vm::MEMORY_LENGTH as usize / 8] = memory.len() as u64;
    // No frame: the call and return handlers are the module tests' (`crate::tests`).
    let mut frames = Vec::new();
    let cur = Frame {
        record: std::ptr::null(),
        code: std::ptr::null(),
        vmctx: std::ptr::null_mut(),
        fp: 0,
        ip: ops.as_ptr(),
    };
    let mut regs = Regs {
        ops: ops.as_ptr(),
        canon: true,
        cells: CELLS,
        store: store.as_mut_ptr().cast(),
        cur,
        frames: &raw mut frames,
        room: 0,
        switched: false,
        allowed: 0,
        made: None,
    };

    let outer = crate::exec::probe::enter();
    crate::exec::probe::CHAIN_DEEPEST.with(|d| d.set(0));
    let (mut ip, mut sp, mut returns) = (ops.as_ptr(), SP, 0);
    loop {
        // SAFETY: `ip` is an op of `ops`, whose branches land on its ops; every slot is
        // one of `cells`; `mem0` describes `memory` and `store` holds a counter.
        let next = unsafe { enter(ip, cells.as_mut_ptr(), sp, mem0.as_mut_ptr().cast(), &raw mut regs) };
        sp = next.sp;
        if next.ip as usize & 1 == 1 {
            assert_eq!(next.ip.wrapping_byte_sub(1), ops[end..].as_ptr(), "a handler gave up: {:?}", ops);
            break;
        }
        ip = next.ip;
        returns += 1;
    }
    let deepest = crate::exec::probe::CHAIN_DEEPEST.with(std::cell::Cell::get);
    crate::exec::probe::leave(outer);
    assert_eq!(cells[CTR as usize], turns);
    (returns, deepest, sp, u64::MAX - store[vm::STORE_GAS as usize / 8], store[vm::STORE_OPERATORS as usize / 8])
}

/// A segment's charge, counting `ops` operators when it is paid.
fn charge(cost: u64, ops: u32) -> Op {
    if ops == 0 { Op::Charge { cost, chain: 0 } } else { Op::ChargeCount { cost, ops, chain: 0 } }
}

/// A conditional branch pays the charge it lands on, taken or not, once; a charge that
/// counts operators is left to run (and count).
#[test]
fn a_conditional_branch_pays_the_charge_it_lands_on_once() {
    for ops in [0, 2] {
        // Taken on even turns, to the second charge; on odd turns both charges run.
        let body = move |at: usize| {
            vec![Op::BrI32LtUSI { sp: 0, a: PARITY, imm: 1, t: to(at + 2) }, charge(3, ops), charge(3, ops)]
        };
        let (_, _, sp, gas, counted) = run(&body, 100);
        assert_eq!((sp, gas, counted), (SP, 450, 150 * u64::from(ops)), "counting {ops}");
    }
}

/// A `br` to a charge pays it once: fused (dropping nothing), it pays and skips the charge;
/// dropping cells (which `Code::seal` does not fuse), keeping none, one or two, it lands on
/// the charge, which pays.
#[test]
fn a_branch_to_a_charge_pays_once() {
    for (drop, keep) in [(0, 0), (2, 0), (2, 1), (2, 2)] {
        let body = move |at: usize| {
            let mut ops: Vec<Op> = (0..u64::from(drop + keep)).map(Op::Const).collect();
            let t = Target { pc: (at + ops.len() + 1) as u32, dk: DropKeep { drop, keep } };
            ops.push(if drop == 0 { Op::BrCharge { t, cost: 5 } } else { Op::Br(t) });
            ops.push(Op::Charge { cost: 5, chain: 0 });
            ops.extend((0..keep).map(|_| Op::Drop));
            ops
        };
        let (_, _, sp, gas, _) = run(&body, 100);
        assert_eq!((sp, gas), (SP, 500), "dropping {drop}, keeping {keep}");
    }
}

#[test]
fn every_handler_runs_in_constant_stack() {
    let (short, long) = (4, 4000);
    let count = bodies(1, 0).len();
    let mut covered = Vec::new();
    for i in 0..count {
        let body = |half| move |at| bodies(at, half).swap_remove(i);
        let (r_short, d_short, sp_short, ..) = run(&body(short / 2), short);
        let (r_long, d_long, sp_long, ..) = run(&body(long / 2), long);
        let ops = bodies(1, 0).swap_remove(i);
        assert_eq!((sp_short, sp_long), (SP, SP), "{ops:?} moved the stack");
        assert!(d_short > 0, "{ops:?}: the chain never went back to the loop");
        assert_eq!(d_short, d_long, "{ops:?}: the native stack grew with the turns");
        if cfg!(wes_threaded) {
            assert_eq!((r_short, r_long), (0, 0), "{ops:?} returned to the loop");
        }
        covered.extend(ops.iter().map(|op| tag(op)));
    }
    // Calls, returns and globals need a module: `crate::tests::chains_run_in_constant_stack`
    // (an import's call, `crate::tests::frame_bound`).
    covered.extend([
        tag(&Op::GlobalGet(0, crate::code::Width::W32)),
        tag(&Op::GlobalSet(0, crate::code::Width::W32)),
        tag(&Op::Call { f: 0, sp: 0 }),
        tag(&Op::CallImport { f: 0, sp: 0, sig: crate::code::ImportSig::General }),
        tag(&Op::Return { sp: 0 }),
        tag(&Op::ChargeReturn { cost: 0, sp: 0 }),
    ]);
    for (t, h) in HANDLERS.iter().enumerate() {
        if !std::ptr::fn_addr_eq(*h, exit as Handler) {
            assert!(covered.contains(&t), "the handler of tag {t} is not tested");
        }
    }
}
