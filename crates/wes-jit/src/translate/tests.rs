use cranelift_codegen::ir::Opcode;
use cranelift_codegen::settings::{self, Configurable};

use super::*;

/// Translates every function of `wat` and returns the IR.
fn ir(wat: &str) -> Vec<Function> {
    let module = wes_decode::decode_text(wat).unwrap();
    let mut flags = settings::builder();
    flags.set("opt_level", "none").unwrap();
    let isa = cranelift_native::builder().unwrap().finish(settings::Flags::new(flags)).unwrap();
    (0..module.bodies.len() as u32)
        .map(|i| {
            let mut func = Function::new();
            let mut fctx = FunctionBuilderContext::new();
            let facts = FunctionFacts {
                segments: None,
                counters: Counters::default(),
                may_move_memory: true,
                profile: false,
                refill_edges: false,
                guard: false,
                resume_out_of_gas: true,
            };
            translate(&module, i, isa.default_call_conv(), isa.frontend_config(), &mut func, &mut fctx, &facts)
                .unwrap();
            func
        })
        .collect()
}

#[test]
fn wasm_traps_never_use_cranelift_trap_instructions() {
    let funcs = ir(r#"(module (memory 1) (table 1 funcref) (type $t (func (result i32)))
        (func (param i32 i64 f64) (result i32)
          (drop (i32.div_s (local.get 0) (local.get 0)))
          (drop (i64.rem_u (local.get 1) (local.get 1)))
          (drop (i32.trunc_f64_u (local.get 2)))
          (drop (i32.load (local.get 0)))
          (drop (table.get 0 (local.get 0)))
          (memory.fill (local.get 0) (local.get 0) (local.get 0))
          (drop (call_indirect (type $t) (local.get 0)))
          unreachable))"#);
    let f = &funcs[0];
    let mut exits = 0;
    for b in f.layout.blocks() {
        let insts: Vec<_> = f.layout.block_insts(b).collect();
        for (k, i) in insts.iter().enumerate() {
            let op = f.dfg.insts[*i].opcode();
            assert!(!matches!(op, Opcode::Trapz | Opcode::Trapnz), "{op} in\n{}", f.display());
            // A `trap` only marks the end of a trap exit, after the libcall that unwinds
            // and never returns: it is never executed.
            if op == Opcode::Trap {
                let before = k.checked_sub(1).map(|j| f.dfg.insts[insts[j]].opcode());
                assert_eq!(before, Some(Opcode::CallIndirect), "in\n{}", f.display());
                exits += 1;
            }
        }
    }
    assert!(exits >= 1, "{}", f.display());
}

#[test]
fn every_body_checks_its_frame_count_and_returns_a_status() {
    let f = &ir("(module (func (param i32) (result i64) i64.const 7))")[0];
    let text = f.display().to_string();
    // Even a trivial function checks the frames it may open, whose cold trap block calls
    // the libcall that records the trap with this frame's frame pointer and unwinds; the
    // normal exit returns 1.
    assert!(text.contains("iconst.i8 1"), "{text}");
    assert!(!text.contains("iconst.i8 0"), "{text}");
    assert!(text.contains("get_frame_pointer"), "{text}");
    assert!(text.contains("call_indirect"), "{text}");
    assert!(text.contains("icmp eq v1"), "{text}");
    // (vmctx, frames_left, param) -> (status, result), in the tail convention.
    assert_eq!(f.signature.call_conv, CallConv::Tail);
    assert_eq!(f.signature.params.len(), 3);
    assert_eq!(f.signature.returns.len(), 2);
}

#[test]
fn direct_calls_pass_everything_in_registers_and_calls_through_records_store_the_count() {
    let funcs = ir(r#"(module (import "m" "f" (func $imp (param i32) (result i32)))
        (func $g (param i32) (result i32) local.get 0)
        (func (param i32) (result i32)
          (call $g (local.get 0))
          (call $imp)))"#);
    let f = &funcs[1];
    let text = f.display().to_string();
    let opcodes: Vec<Opcode> =
        f.layout.blocks().flat_map(|b| f.layout.block_insts(b)).map(|i| f.dfg.insts[i].opcode()).collect();
    // One direct call of $g's body; the import goes through its record, after the frame
    // count was stored for its entry.
    assert_eq!(opcodes.iter().filter(|o| **o == Opcode::Call).count(), 1, "{text}");
    assert!(opcodes.iter().filter(|o| **o == Opcode::CallIndirect).count() >= 2, "{text}");
    assert!(opcodes.contains(&Opcode::Store), "{text}");
    // The direct call takes (vmctx, frames_left, the i32) and returns (status, result).
    let call = f
        .layout
        .blocks()
        .flat_map(|b| f.layout.block_insts(b))
        .find(|i| f.dfg.insts[*i].opcode() == Opcode::Call)
        .unwrap();
    assert_eq!(f.dfg.inst_args(call).len(), 3, "{text}");
    assert_eq!(f.dfg.inst_results(call).len(), 2, "{text}");
}

/// The bounds checks (compares against the memory length) in `f`.
fn bounds_checks(f: &Function) -> usize {
    let text = f.display().to_string();
    text.lines().filter(|l| l.contains("icmp ugt")).count()
}

#[test]
fn accesses_proven_in_bounds_are_not_checked_again() {
    let funcs = ir(r#"(module (memory 2)
        ;; 0: constant addresses ending within the two declared pages need no check; one past does.
        (func (result i32)
          (i32.add (i32.load offset=131068 (i32.const 0)) (i32.load (i32.const 131069))))
        ;; 1: the same address value again, ending no further: checked once; further: again.
        (func (param i32) (result i32)
          (i32.load offset=8 (local.get 0))
          (i32.store offset=4 (local.get 0) (i32.const 1))
          (i32.load16_u offset=10 (local.get 0))
          i32.add
          (i32.load offset=12 (local.get 0))
          i32.add)
        ;; 2: a check inside an `if` arm proves nothing after the `if`, nor in `else`; one
        ;; before the `if` holds in both arms and after.
        (func (param i32 i32) (result i32)
          (if (local.get 1) (then (drop (i32.load offset=100 (local.get 0))))
                            (else (drop (i32.load offset=100 (local.get 0)))))
          (drop (i32.load offset=100 (local.get 0)))
          (drop (i32.load offset=200 (local.get 0)))
          (if (local.get 1) (then (drop (i32.load offset=200 (local.get 0)))))
          (i32.load offset=196 (local.get 0))))"#);
    assert_eq!(bounds_checks(&funcs[0]), 1, "{}", funcs[0].display());
    assert_eq!(bounds_checks(&funcs[1]), 2, "{}", funcs[1].display());
    assert_eq!(bounds_checks(&funcs[2]), 4, "{}", funcs[2].display());
}
