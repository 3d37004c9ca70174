//! Facts about a whole module that the translation of one function uses, from one scan of
//! every body before anything is compiled.
//!
//! Which functions may move or resize a linear memory while they run: a function that cannot
//! lets Cranelift load each memory's base and length once, out of its loops (see
//! `Translator::mem_addr`); one that can must reload them after every call. The same scan
//! enforces the per-function limits ([`MAX_BR_TABLE_TARGETS`]), so a module is refused before
//! any work grows with it.

use wasmparser::{BinaryReader, FunctionBody, Operator};
use wes_core::{CompileError, Module};

/// The most targets one `br_table` may have (besides its default). The spec leaves the limit
/// to implementations; this is V8's, SpiderMonkey's and wasmtime's. A table past it makes a
/// jump table and successor lists of its size in every pass.
pub(crate) const MAX_BR_TABLE_TARGETS: u32 = 65_520;

/// The most operators one function body may have.
pub(crate) const MAX_FUNCTION_OPERATORS: u64 = 100_000;

/// The most control operators (those that end a gas segment: blocks, branches, calls, ...)
/// one function body may have.
pub(crate) const MAX_FUNCTION_CONTROL: u64 = 16_000;

/// The most branches (`br`, `br_if`, and each distinct target of a `br_table`) to one label.
pub(crate) const MAX_BRANCHES_PER_LABEL: u64 = 2_048;

/// The most calls (direct, indirect, tail) one function may make.
pub(crate) const MAX_FUNCTION_CALLS: u64 = 2_000;

/// The deepest blocks, loops and ifs may nest in one function.
pub(crate) const MAX_NESTING_DEPTH: u64 = 4096;

/// The most `locals × control operators` one function may have.
pub(crate) const MAX_LOCALS_TIMES_CONTROL: u64 = 30_000_000;

// Why these limits: some shapes of one function make Cranelift and regalloc2 work faster than
// linearly however the translator drives them (measured with `cargo xtask hostile`):
// regalloc2 computes dominators by walking from each predecessor of a block up to the
// dominator found so far, so 100k `br_if`s to one label cost 100k² steps (and the gas
// variable, live into the label from every branch, makes a phi of as many inputs); Cranelift's SSA
// builder keeps, per variable, a map as long as the highest block that reads or writes it,
// so many locals times many blocks is gigabytes; a value live into each of n nested `if`s
// without `else` is live across n² block boundaries (10k nested ifs: 4 s and 600 MB in
// regalloc2's liveness alone). Bounding the size of one function bounds
// both. The values were set with `cargo xtask hostile` so that a function just inside every
// limit compiles within its budget on the project's machines; each function's code is still
// several times what wasmtime makes of it (every trap check is a branch to a cold block), and
// the limits can grow as that shrinks. 100k operators is a function body of 200-400 KB. The limits are on the wasm input, so every node accepts and
// refuses the same modules.

/// Checks one count of function `func_index` against its limit.
fn check_limit(func_index: u32, limit: &'static str, value: u64, max: u64) -> Result<(), CompileError> {
    if value > max {
        return Err(CompileError::FunctionLimit { func_index, limit, value, max });
    }
    Ok(())
}

/// For each defined function of `module`, whether running it may move or resize a memory:
/// it grows one, calls through a table or reference (the callee is unknown), calls an import
/// (a host function or another instance, which may grow a shared memory), or calls a function
/// that may. Conservative: a function the scan cannot read counts as one that may.
pub(crate) fn may_move_memory(module: &Module) -> Result<Vec<bool>, CompileError> {
    let imported = module.num_imported_functions;
    let n = module.bodies.len();
    let mut moves = vec![false; n];
    // Direct calls to defined functions, as (caller, callee) defined indices.
    let mut callers_of: Vec<Vec<u32>> = vec![Vec::new(); n];
    for (i, body) in module.bodies.iter().enumerate() {
        let func_index = imported.saturating_add(i as u32);
        let codegen = |e: wasmparser::BinaryReaderError| CompileError::Codegen { func_index, message: e.to_string() };
        let bytes = module.bytes.get(body.range.clone()).ok_or_else(|| CompileError::Codegen {
            func_index,
            message: "function body outside the module bytes".into(),
        })?;
        let reader = FunctionBody::new(BinaryReader::new(bytes, body.range.start as u64));
        let mut locals = 0u64;
        for l in reader.get_locals_reader().map_err(codegen)? {
            locals += u64::from(l.map_err(codegen)?.0);
        }
        let (mut operators, mut control, mut depth, mut calls) = (0u64, 0u64, 0u64, 0u64);
        // Per open label (the function's own first): branches to it so far.
        let mut branches: Vec<u64> = vec![0];
        let branch_to = |branches: &mut Vec<u64>, relative: u32| -> Result<(), CompileError> {
            let Some(i) = branches.len().checked_sub(1 + relative as usize) else { return Ok(()) };
            if let Some(n) = branches.get_mut(i) {
                *n += 1;
                check_limit(func_index, "branches to one label", *n, MAX_BRANCHES_PER_LABEL)?;
            }
            Ok(())
        };
        let mut ops = reader.get_operators_reader().map_err(codegen)?;
        while !ops.eof() {
            let op = ops.read().map_err(codegen)?;
            operators += 1;
            check_limit(func_index, "operators per function", operators, MAX_FUNCTION_OPERATORS)?;
            if wes_meter::ends_segment(&op) {
                control += 1;
                check_limit(func_index, "control operators per function", control, MAX_FUNCTION_CONTROL)?;
            }
            if matches!(
                op,
                Operator::Call { .. }
                    | Operator::CallIndirect { .. }
                    | Operator::ReturnCall { .. }
                    | Operator::ReturnCallIndirect { .. }
                    | Operator::CallRef { .. }
                    | Operator::ReturnCallRef { .. }
            ) {
                calls += 1;
                check_limit(func_index, "calls per function", calls, MAX_FUNCTION_CALLS)?;
            }
            match &op {
                Operator::Br { relative_depth } | Operator::BrIf { relative_depth } => {
                    branch_to(&mut branches, *relative_depth)?;
                }
                Operator::BrTable { targets } if targets.len() <= MAX_BR_TABLE_TARGETS => {
                    let mut distinct: Vec<u32> =
                        targets.targets().chain([Ok(targets.default())]).collect::<Result<_, _>>().map_err(codegen)?;
                    distinct.sort_unstable();
                    distinct.dedup();
                    for d in distinct {
                        branch_to(&mut branches, d)?;
                    }
                }
                _ => {}
            }
            match op {
                Operator::Block { .. } | Operator::Loop { .. } | Operator::If { .. } => {
                    depth += 1;
                    check_limit(func_index, "nesting depth", depth, MAX_NESTING_DEPTH)?;
                    branches.push(0);
                }
                Operator::End => {
                    depth = depth.saturating_sub(1);
                    branches.pop();
                }
                Operator::BrTable { targets } if targets.len() > MAX_BR_TABLE_TARGETS => {
                    return Err(CompileError::FunctionLimit {
                        func_index,
                        limit: "br_table targets",
                        value: u64::from(targets.len()),
                        max: u64::from(MAX_BR_TABLE_TARGETS),
                    });
                }
                Operator::MemoryGrow { .. }
                | Operator::CallIndirect { .. }
                | Operator::ReturnCallIndirect { .. }
                | Operator::CallRef { .. }
                | Operator::ReturnCallRef { .. } => moves[i] = true,
                Operator::Call { function_index } | Operator::ReturnCall { function_index } => {
                    match function_index.checked_sub(imported) {
                        Some(callee) => {
                            if let Some(c) = callers_of.get_mut(callee as usize) {
                                c.push(i as u32);
                            }
                        }
                        None => moves[i] = true,
                    }
                }
                _ => {}
            }
        }
        let params = module
            .types
            .get(module.functions.get(func_index as usize).copied().unwrap_or(0) as usize)
            .map_or(0, |t| t.params().len() as u64);
        check_limit(func_index, "locals × control operators", (locals + params) * control, MAX_LOCALS_TIMES_CONTROL)?;
    }
    // Whoever calls a function that may move memory may too.
    let mut work: Vec<u32> = (0..n as u32).filter(|i| moves[*i as usize]).collect();
    while let Some(f) = work.pop() {
        for caller in std::mem::take(&mut callers_of[f as usize]) {
            if !moves[caller as usize] {
                moves[caller as usize] = true;
                work.push(caller);
            }
        }
    }
    Ok(moves)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_br_table_past_the_limit_is_refused_by_name() {
        let table = |n: u32| {
            let targets = "0 ".repeat(n as usize);
            wes_decode::decode_text(&format!(
                "(module (func (param i32) (block (br_table {targets} 0 (local.get 0)))))"
            ))
            .unwrap()
        };
        assert!(may_move_memory(&table(MAX_BR_TABLE_TARGETS)).is_ok());
        match may_move_memory(&table(MAX_BR_TABLE_TARGETS + 1)) {
            Err(CompileError::FunctionLimit { func_index: 0, limit: "br_table targets", value, max }) => {
                assert_eq!((value, max), (u64::from(MAX_BR_TABLE_TARGETS) + 1, u64::from(MAX_BR_TABLE_TARGETS)));
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn nesting_and_size_past_the_limits_are_refused_by_name() {
        let nested = |n: u64| {
            let n = n as usize;
            wes_decode::decode_text(&format!("(module (func {} {}))", "block ".repeat(n), "end ".repeat(n))).unwrap()
        };
        assert!(may_move_memory(&nested(MAX_NESTING_DEPTH)).is_ok());
        let err = may_move_memory(&nested(MAX_NESTING_DEPTH + 1)).unwrap_err();
        assert!(matches!(err, CompileError::FunctionLimit { limit: "nesting depth", .. }), "{err}");
        assert!(err.to_string().contains("nesting depth: 4097 (at most 4096)"), "{err}");

        let flat = |control: u64| {
            let body = "(block) ".repeat((control / 2) as usize);
            wes_decode::decode_text(&format!("(module (func {body}))")).unwrap()
        };
        // Each `(block)` is two control operators, and the function's `end` one more.
        assert!(may_move_memory(&flat(MAX_FUNCTION_CONTROL - 2)).is_ok());
        let err = may_move_memory(&flat(MAX_FUNCTION_CONTROL)).unwrap_err();
        assert!(matches!(err, CompileError::FunctionLimit { limit: "control operators per function", .. }));
    }

    #[test]
    fn growth_spreads_to_callers_and_nowhere_else() {
        let m = wes_decode::decode_text(
            r#"(module (import "h" "f" (func $h)) (memory 1) (table 1 funcref) (type $t (func))
                 (func $grows (drop (memory.grow (i32.const 1))))
                 (func $calls_grows call $grows)
                 (func $calls_that call $calls_grows)
                 (func $leaf (drop (i32.load (i32.const 0))))
                 (func $calls_leaf call $leaf)
                 (func $calls_host call $h)
                 (func $indirect (call_indirect (type $t) (i32.const 0)))
                 (func $rec call $rec))"#,
        )
        .unwrap();
        let moves = may_move_memory(&m).unwrap();
        assert_eq!(moves, vec![true, true, true, false, false, true, true, false]);
    }
}
