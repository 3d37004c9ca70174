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
//! Cranelift's lane-wise select, which is branch-free and off no worse. And the check is made
//! where a value's bits are observed, not where it is computed (see [`canonicalize_nans`]): a
//! result used only by other float operations, or carried around a loop, is not checked.

use cranelift_codegen::cursor::{Cursor, FuncCursor};
use cranelift_codegen::entity::packed_option::PackedOption;
use cranelift_codegen::entity::{EntitySet, SecondaryMap};
use cranelift_codegen::ir::condcodes::FloatCC;
use cranelift_codegen::ir::immediates::{Ieee32, Ieee64};
use cranelift_codegen::ir::{Function, InstBuilder, MemFlagsData, Opcode, Value, types};

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

/// Whether `opcode`'s result does not depend on a NaN operand's bits: a float compare (a NaN
/// is unordered whatever its payload) and a float-to-integer conversion (a NaN traps, or
/// saturates to zero). Such a use observes nothing.
fn payload_blind(opcode: Opcode) -> bool {
    matches!(
        opcode,
        Opcode::Fcmp | Opcode::FcvtToSint | Opcode::FcvtToUint | Opcode::FcvtToSintSat | Opcode::FcvtToUintSat
    )
}

/// Whether an instruction of `opcode` with a float result takes a NaN operand's bits without
/// observing them: a NaN-producing operation turns a NaN operand into a NaN result (whose own
/// uses are then looked at), and `select` passes one operand on as it is.
fn passes_on(opcode: Opcode) -> bool {
    produces_nan(opcode) || opcode == Opcode::Select
}

/// The values that may hold a NaN whose bits hardware chose: results of NaN-producing float
/// instructions, and, transitively, `select`s of them and block parameters some branch passes
/// them to. One pass gathers the edges along which such a NaN travels (argument to parameter,
/// operand to `select` result), then a walk from the producers follows them: linear in the
/// function whatever its loops' nesting.
fn maybe_raw(func: &Function) -> EntitySet<Value> {
    let float = |v: Value| func.dfg.value_type(v).lane_type().is_float();
    let mut raw = EntitySet::with_capacity(func.dfg.num_values());
    let mut work: Vec<Value> = Vec::new();
    let mut edges: Vec<(Value, Value)> = Vec::new();
    for block in func.layout.blocks() {
        for inst in func.layout.block_insts(block) {
            let data = &func.dfg.insts[inst];
            let result = func.dfg.inst_results(inst).first().copied().filter(|&r| float(r));
            match (data.opcode(), result) {
                (op, Some(r)) if produces_nan(op) => {
                    raw.insert(r);
                    work.push(r);
                }
                (Opcode::Select, Some(r)) => {
                    for &a in &func.dfg.inst_args(inst)[1..] {
                        edges.push((func.dfg.resolve_aliases(a), r));
                    }
                }
                _ => {}
            }
            for dest in data.branch_destination(&func.dfg.jump_tables, &func.dfg.exception_tables) {
                let params = func.dfg.block_params(dest.block(&func.dfg.value_lists));
                for (arg, &param) in dest.args(&func.dfg.value_lists).zip(params) {
                    if let Some(v) = arg.as_value()
                        && float(param)
                    {
                        edges.push((func.dfg.resolve_aliases(v), param));
                    }
                }
            }
        }
    }
    edges.sort_unstable();
    while let Some(v) = work.pop() {
        let from = edges.partition_point(|&(src, _)| src < v);
        for &(src, dst) in &edges[from..] {
            if src != v {
                break;
            }
            if !raw.contains(dst) {
                raw.insert(dst);
                work.push(dst);
            }
        }
    }
    raw
}

/// Rewrites `func` so that no NaN whose bits hardware chose can be observed: wherever a value
/// that may hold one ([`maybe_raw`]) is used by an instruction that observes its bits (a
/// store, a bit cast, a sign operation, a call, a return, a vector lane operation: anything but
/// another NaN-producing operation, a `select`, a branch to a block parameter, a float compare
/// or a conversion to integer), the use reads a copy in which a NaN is the canonical NaN (sign
/// clear, quiet bit set, payload zero).
///
/// Canonicalising at the observing use rather than after each operation gives the same bits
/// wherever they are observed: an operation with a NaN operand has a NaN result whatever the
/// payloads, a non-NaN result never depends on one, and every observation canonicalises. It
/// keeps the check off a loop-carried value: a running sum (a dot product, a matrix multiply)
/// passed around its loop is checked where it is stored or returned after the loop, not on
/// every iteration (the check there cost a 256 x 256 f64 matrix multiply 14%).
pub(crate) fn canonicalize_nans(func: &mut Function) {
    // Most functions of integer code have no such instruction: a scan of opcodes is cheaper
    // than `maybe_raw`'s set of every value (the set cost 2.8% of a metered compile of the C
    // benchmark module before this check).
    let any = func
        .layout
        .blocks()
        .any(|block| func.layout.block_insts(block).any(|inst| produces_nan(func.dfg.insts[inst].opcode())));
    if !any {
        return;
    }
    let raw = maybe_raw(func);
    let mut pos = FuncCursor::new(func);
    // Per block, the canonical copy already made of a value: later uses in the block read it.
    // Looked up by value (a block of a hundred thousand stores must not search a list), and
    // reset at each block by the keys it set.
    let mut made: SecondaryMap<Value, PackedOption<Value>> = SecondaryMap::new();
    let mut set: Vec<Value> = Vec::new();
    while pos.next_block().is_some() {
        for v in set.drain(..) {
            made[v] = None.into();
        }
        while let Some(inst) = pos.next_inst() {
            let opcode = pos.func.dfg.insts[inst].opcode();
            if payload_blind(opcode) {
                continue;
            }
            let float_result = pos
                .func
                .dfg
                .inst_results(inst)
                .first()
                .is_some_and(|r| pos.func.dfg.value_type(*r).lane_type().is_float());
            if passes_on(opcode) && float_result {
                continue;
            }
            // The operands other than block arguments, which branches pass on unobserved.
            let count = pos.func.dfg.inst_args(inst).len();
            for i in 0..count {
                let v = pos.func.dfg.resolve_aliases(pos.func.dfg.inst_args(inst)[i]);
                if !raw.contains(v) {
                    continue;
                }
                let copy = match made[v].expand() {
                    Some(copy) => copy,
                    None => {
                        let copy = canonical_copy(&mut pos, v);
                        made[v] = copy.into();
                        set.push(v);
                        copy
                    }
                };
                pos.func.dfg.inst_args_mut(inst)[i] = copy;
            }
        }
    }
}

/// Inserts, before the cursor's instruction, `v` with a NaN replaced by the canonical NaN.
/// A scalar is checked with a compare and a `select`, which x64 lowers to a conditional jump
/// around a move, never taken unless a NaN appears; a vector with a lane-wise bit select.
fn canonical_copy(pos: &mut FuncCursor<'_>, v: Value) -> Value {
    let ty = pos.func.dfg.value_type(v);
    let canon =
        if ty.lane_type() == types::F32 { pos.ins().f32const(Ieee32::NAN) } else { pos.ins().f64const(Ieee64::NAN) };
    let is_nan = pos.ins().fcmp(FloatCC::Unordered, v, v);
    if ty.is_vector() {
        let canon = pos.ins().splat(ty, canon);
        let mask = pos.ins().bitcast(ty, MemFlagsData::new(), is_nan);
        pos.ins().bitselect(mask, canon, v)
    } else {
        pos.ins().select(is_nan, canon, v)
    }
}
