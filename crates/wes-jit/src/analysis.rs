//! Facts about a whole module that the translation of one function uses, from one scan of
//! every body before anything is compiled.
//!
//! Which functions may move or resize a linear memory while they run: a function that cannot
//! lets Cranelift load each memory's base and length once, out of its loops (see
//! `Translator::mem_addr`); one that can must reload them after every call. Which functions
//! may return `CALL_TAIL`: a direct call of one that cannot needs no code for pending tail
//! calls after it. The same scan enforces the per-function limits ([`FunctionLimits`]), so a module is refused before any
//! work grows with it.

use wasmparser::{BinaryReader, FunctionBody, Operator};
use wes_core::{CompileError, Module};

use crate::FunctionLimits;

/// Checks one count of function `func_index` against its limit.
fn check_limit(func_index: u32, limit: &'static str, value: u64, max: u64) -> Result<(), CompileError> {
    if value > max {
        return Err(CompileError::FunctionLimit { func_index, limit, value, max });
    }
    Ok(())
}

/// What [`module_facts`] found, per defined function.
#[derive(Debug)]
pub(crate) struct ModuleFacts {
    /// Whether running it may move or resize a memory: it grows one, calls through a table or
    /// reference (the callee is unknown), calls an import (a host function or another
    /// instance, which may grow a shared memory), or calls a function that may.
    pub(crate) may_move_memory: Vec<bool>,
    /// Whether its body may return `CALL_TAIL` (see `translate/tail_call.rs`): it tail-calls
    /// through a table, a reference or an import, or tail-calls (`return_call`) a defined
    /// function that may. Ordinary calls never pass `CALL_TAIL` on: their call site makes the
    /// pending tail calls.
    pub(crate) may_return_tail: Vec<bool>,
}

/// The [`ModuleFacts`] of `module`, and its per-function limits checked. Conservative: a
/// function the scan cannot read counts as one that may do either.
///
/// # Errors
///
/// [`CompileError::FunctionLimit`] for the first function past one of `limits`.
pub(crate) fn module_facts(module: &Module, limits: &FunctionLimits) -> Result<ModuleFacts, CompileError> {
    let imported = module.num_imported_functions;
    let n = module.bodies.len();
    let mut moves = vec![false; n];
    let mut tails = vec![false; n];
    // Direct calls to defined functions, as (caller, callee) defined indices; and the direct
    // tail calls among them.
    let mut callers_of: Vec<Vec<u32>> = vec![Vec::new(); n];
    let mut tail_callers_of: Vec<Vec<u32>> = vec![Vec::new(); n];
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
                check_limit(func_index, "branches to one label", *n, limits.max_branches_per_label)?;
            }
            Ok(())
        };
        let mut ops = reader.get_operators_reader().map_err(codegen)?;
        while !ops.eof() {
            let op = ops.read().map_err(codegen)?;
            operators += 1;
            check_limit(func_index, "operators per function", operators, limits.max_operators)?;
            if wes_meter::ends_segment(&op) {
                control += 1;
                check_limit(func_index, "control operators per function", control, limits.max_control_operators)?;
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
                check_limit(func_index, "calls per function", calls, limits.max_calls)?;
            }
            match &op {
                Operator::Br { relative_depth } | Operator::BrIf { relative_depth } => {
                    branch_to(&mut branches, *relative_depth)?;
                }
                Operator::BrTable { targets } if u64::from(targets.len()) <= limits.max_br_table_targets => {
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
                    check_limit(func_index, "nesting depth", depth, limits.max_nesting_depth)?;
                    branches.push(0);
                }
                Operator::End => {
                    depth = depth.saturating_sub(1);
                    branches.pop();
                }
                Operator::BrTable { targets } if u64::from(targets.len()) > limits.max_br_table_targets => {
                    return Err(CompileError::FunctionLimit {
                        func_index,
                        limit: "br_table targets",
                        value: u64::from(targets.len()),
                        max: limits.max_br_table_targets,
                    });
                }
                Operator::MemoryGrow { .. } | Operator::CallIndirect { .. } | Operator::CallRef { .. } => {
                    moves[i] = true
                }
                Operator::ReturnCallIndirect { .. } | Operator::ReturnCallRef { .. } => {
                    moves[i] = true;
                    tails[i] = true;
                }
                Operator::Call { function_index } | Operator::ReturnCall { function_index } => {
                    let tail = matches!(op, Operator::ReturnCall { .. });
                    match function_index.checked_sub(imported) {
                        Some(callee) => {
                            if let Some(c) = callers_of.get_mut(callee as usize) {
                                c.push(i as u32);
                            }
                            if let Some(c) = tail_callers_of.get_mut(callee as usize).filter(|_| tail) {
                                c.push(i as u32);
                            }
                        }
                        None => {
                            moves[i] = true;
                            tails[i] |= tail;
                        }
                    }
                }
                _ => {}
            }
        }
        let params = module
            .types
            .get(module.functions.get(func_index as usize).copied().unwrap_or(0) as usize)
            .map_or(0, |t| t.params().len() as u64);
        check_limit(
            func_index,
            "locals × control operators",
            (locals + params) * control,
            limits.max_locals_times_control,
        )?;
    }
    // Whoever calls a function that may move memory may too; whoever tail-calls one that may
    // return `CALL_TAIL` may too.
    propagate(&mut moves, &mut callers_of);
    propagate(&mut tails, &mut tail_callers_of);
    Ok(ModuleFacts { may_move_memory: moves, may_return_tail: tails })
}

/// Marks every transitive caller (by `callers_of`) of a marked function.
fn propagate(marked: &mut [bool], callers_of: &mut [Vec<u32>]) {
    let mut work: Vec<u32> = (0..marked.len() as u32).filter(|i| marked[*i as usize]).collect();
    while let Some(f) = work.pop() {
        for caller in callers_of.get_mut(f as usize).map(std::mem::take).unwrap_or_default() {
            if let Some(m) = marked.get_mut(caller as usize).filter(|m| !**m) {
                *m = true;
                work.push(caller);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn defaults() -> FunctionLimits {
        FunctionLimits::default()
    }

    #[test]
    fn a_br_table_past_the_limit_is_refused_by_name() {
        let table = |n: u32| {
            let targets = "0 ".repeat(n as usize);
            wes_decode::decode_text(&format!(
                "(module (func (param i32) (block (br_table {targets} 0 (local.get 0)))))"
            ))
            .unwrap()
        };
        let max = defaults().max_br_table_targets;
        assert_eq!(max, 65_520);
        assert!(module_facts(&table(max as u32), &defaults()).is_ok());
        match module_facts(&table(max as u32 + 1), &defaults()) {
            Err(CompileError::FunctionLimit { func_index: 0, limit: "br_table targets", value, max: m }) => {
                assert_eq!((value, m), (max + 1, max));
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
        let depth = defaults().max_nesting_depth;
        assert!(module_facts(&nested(depth), &defaults()).is_ok());
        let err = module_facts(&nested(depth + 1), &defaults()).unwrap_err();
        assert!(matches!(err, CompileError::FunctionLimit { limit: "nesting depth", .. }), "{err}");
        assert!(err.to_string().contains("nesting depth: 4097 (at most 4096)"), "{err}");

        let flat = |control: u64| {
            let body = "(block) ".repeat((control / 2) as usize);
            wes_decode::decode_text(&format!("(module (func {body}))")).unwrap()
        };
        // Each `(block)` is two control operators, and the function's `end` one more.
        let control = defaults().max_control_operators;
        assert!(module_facts(&flat(control - 2), &defaults()).is_ok());
        let err = module_facts(&flat(control), &defaults()).unwrap_err();
        assert!(matches!(err, CompileError::FunctionLimit { limit: "control operators per function", .. }));
    }

    #[test]
    fn configured_limits_replace_the_defaults() {
        // Three calls and a nesting depth of two.
        let m = wes_decode::decode_text("(module (func $f) (func (block (block call $f call $f call $f))))").unwrap();
        assert!(module_facts(&m, &defaults()).is_ok());
        let calls = FunctionLimits { max_calls: 2, ..defaults() };
        match module_facts(&m, &calls) {
            Err(CompileError::FunctionLimit { func_index: 1, limit: "calls per function", value: 3, max: 2 }) => {}
            other => panic!("{other:?}"),
        }
        let nesting = FunctionLimits { max_nesting_depth: 1, ..defaults() };
        match module_facts(&m, &nesting) {
            Err(CompileError::FunctionLimit { func_index: 1, limit: "nesting depth", value: 2, max: 1 }) => {}
            other => panic!("{other:?}"),
        }
        // Raising a limit admits what the default refuses.
        let deep = |n: usize| {
            wes_decode::decode_text(&format!("(module (func {} {}))", "block ".repeat(n), "end ".repeat(n))).unwrap()
        };
        assert!(module_facts(&deep(5_000), &defaults()).is_err());
        assert!(module_facts(&deep(5_000), &FunctionLimits::unlimited()).is_ok());
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
        let moves = module_facts(&m, &defaults()).unwrap().may_move_memory;
        assert_eq!(moves, vec![true, true, true, false, false, true, true, false]);
    }

    #[test]
    fn only_tail_calls_spread_call_tail_and_only_to_tail_callers() {
        let m = wes_decode::decode_text(
            r#"(module (import "h" "f" (func $h)) (table 1 funcref) (type $t (func))
                 (func $indirect (return_call_indirect (type $t) (i32.const 0)))
                 (func $tail_to_indirect return_call $indirect)
                 (func $calls_indirect call $indirect)
                 (func $tail_to_host return_call $h)
                 (func $tail_to_leaf return_call $leaf)
                 (func $leaf)
                 (func $tail_chain return_call $tail_to_indirect)
                 (func $rec return_call $rec))"#,
        )
        .unwrap();
        let tails = module_facts(&m, &defaults()).unwrap().may_return_tail;
        assert_eq!(tails, vec![true, true, false, true, false, false, true, false]);
    }
}
