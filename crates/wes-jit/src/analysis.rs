//! Facts about a whole module that the translation of one function uses.
//!
//! Today one: which functions may move or resize a linear memory while they run. A function
//! that cannot lets Cranelift load each memory's base and length once, out of its loops (see
//! `Translator::mem_addr`); one that can must reload them after every call.

use wasmparser::{BinaryReader, FunctionBody, Operator};
use wes_core::{CompileError, Module};

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
        let mut ops = reader.get_operators_reader().map_err(codegen)?;
        while !ops.eof() {
            match ops.read().map_err(codegen)? {
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
