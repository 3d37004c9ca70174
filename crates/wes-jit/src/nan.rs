//! NaN canonicalisation: every NaN a float instruction produces becomes the canonical NaN, so
//! float results are bit-identical on every host (wasm lets hardware choose NaN payloads, and
//! x86 and Arm choose differently).
//!
//! Cranelift has this pass built in (`enable_nan_canonicalization`), covering the same
//! instructions as this one. For scalars it does the check in vector registers
//! (`cmpunord` + `blendv`), which puts two more instructions with several cycles of latency on
//! the data path of every float operation: a loop-carried float sum (a dot product, a matrix
//! multiply) runs at a third of its speed. Here a scalar result is checked with a compare and a
//! `select`, which x64 lowers to a conditional jump around a move: the jump is never taken
//! unless a NaN appears, so the result's latency is that of the operation alone. Vectors keep
//! Cranelift's lane-wise select, which is branch-free and off no worse. A result used only as
//! an operand of other such instructions is not checked at all (see [`observable`]).

use cranelift_codegen::cursor::{Cursor, FuncCursor};
use cranelift_codegen::entity::EntitySet;
use cranelift_codegen::ir::condcodes::FloatCC;
use cranelift_codegen::ir::immediates::{Ieee32, Ieee64};
use cranelift_codegen::ir::{Function, InstBuilder, InstructionData, MemFlagsData, Opcode, Value, types};

/// Whether `opcode` is a float instruction whose NaN results hardware may choose.
fn produces_nan(opcode: Opcode) -> bool {
    matches!(
        opcode,
        Opcode::Ceil
            | Opcode::Floor
            | Opcode::Nearest
            | Opcode::Sqrt
            | Opcode::Trunc
            | Opcode::Fdemote
            | Opcode::Fpromote
            | Opcode::FvpromoteLow
            | Opcode::Fvdemote
            | Opcode::Fadd
            | Opcode::Fdiv
            | Opcode::Fmax
            | Opcode::Fmin
            | Opcode::Fmul
            | Opcode::Fsub
            | Opcode::Fma
    )
}

/// The values whose bits can be observed: those used by anything other than an instruction
/// this pass canonicalises. A NaN used only as an operand of such instructions cannot be seen,
/// because each of them turns a NaN operand into a NaN result, which is then canonicalised
/// itself: in `a * b + c`, only the sum needs the check.
fn observable(func: &Function) -> EntitySet<Value> {
    let mut seen = EntitySet::with_capacity(func.dfg.num_values());
    for block in func.layout.blocks() {
        for inst in func.layout.block_insts(block) {
            let data = &func.dfg.insts[inst];
            let absorbs = produces_nan(data.opcode())
                && func.dfg.inst_results(inst).first().is_some_and(|r| func.dfg.value_type(*r).lane_type().is_float());
            if absorbs {
                continue;
            }
            for v in func.dfg.inst_values(inst) {
                seen.insert(func.dfg.resolve_aliases(v));
            }
        }
    }
    seen
}

/// Rewrites `func` so that each NaN a float instruction produces, where it can be observed,
/// is the canonical NaN (sign clear, quiet bit set, payload zero).
pub(crate) fn canonicalize_nans(func: &mut Function) {
    // Most functions of integer code have no such instruction: a scan of opcodes is cheaper
    // than `observable`'s set of every value (together 2.8% of a metered compile of the C
    // benchmark module before this check).
    let any = func
        .layout
        .blocks()
        .any(|block| func.layout.block_insts(block).any(|inst| produces_nan(func.dfg.insts[inst].opcode())));
    if !any {
        return;
    }
    let observable = observable(func);
    let mut pos = FuncCursor::new(func);
    while pos.next_block().is_some() {
        while let Some(inst) = pos.next_inst() {
            let opcode = match pos.func.dfg.insts[inst] {
                InstructionData::Unary { opcode, .. }
                | InstructionData::Binary { opcode, .. }
                | InstructionData::Ternary { opcode, .. } => opcode,
                _ => continue,
            };
            // Every block ends with a terminator, so a float instruction always has a next one
            // to insert before; checked anyway rather than assumed.
            if !produces_nan(opcode) || pos.func.layout.next_inst(inst).is_none() {
                continue;
            }
            let val = pos.func.dfg.first_result(inst);
            if !observable.contains(val) {
                continue;
            }
            let ty = pos.func.dfg.value_type(val);
            let canon = match ty {
                types::F32 | types::F32X4 => pos.ins().f32const(Ieee32::NAN),
                types::F64 | types::F64X2 => pos.ins().f64const(Ieee64::NAN),
                // Only float types reach these opcodes in code the translator emits.
                _ => continue,
            };
            // The instruction now defines `raw`; `val`, which every user reads, becomes the
            // canonicalised value computed right after it.
            let raw = pos.func.dfg.replace_result(val, ty);
            pos.next_inst();
            let is_nan = pos.ins().fcmp(FloatCC::Unordered, raw, raw);
            if ty.is_vector() {
                let canon = pos.ins().splat(ty, canon);
                let mask = pos.ins().bitcast(ty, MemFlagsData::new(), is_nan);
                pos.ins().with_result(val).bitselect(mask, canon, raw);
            } else {
                pos.ins().with_result(val).select(is_nan, canon, raw);
            }
            // Step back so the instruction after the new ones is visited next.
            pos.prev_inst();
        }
    }
}
