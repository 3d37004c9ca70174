//! What translation would refuse, found without translating: the checks of a lazily
//! translated module at compile time, so it is refused exactly when eager translation would.

use wasmparser::Operator;
use wes_core::{CompileError, Module};

use super::{body_reader, unsupported, val_type};
use crate::simd::SimdOp;

/// Refuses what no function of `module` can use here (nothing yet: every type is supported).
pub(crate) fn check_module(_module: &Module) -> Result<(), CompileError> {
    Ok(())
}

macro_rules! simd_check {
    ($( @$proposal:ident $op:ident $({ $($arg:ident: $argty:ty),* })? => $visit:ident ($($ann:tt)*))*) => {
        /// Whether `op` is a SIMD operator (of the `simd` or `relaxed_simd` proposals).
        pub(super) fn is_simd(op: &Operator<'_>) -> bool {
            match op {
                $( Operator::$op $( { $($arg: _),* } )? => simd_check!(one @$proposal), )*
                _ => false,
            }
        }
    };
    (one @simd) => { true };
    (one @relaxed_simd) => { true };
    (one @$proposal:ident) => { false };
}
wasmparser::for_each_operator!(simd_check);

/// What translating defined function `defined_index` would refuse, found without translating:
/// SIMD operators that are neither [`SimdOp`]s nor handled by the translator (relaxed SIMD).
pub(crate) fn check_body(module: &Module, defined_index: u32) -> Result<(), CompileError> {
    let func_index = module.num_imported_functions + defined_index;
    let (reader, _) = body_reader(module, defined_index)?;
    let codegen = |e: wasmparser::BinaryReaderError| CompileError::Codegen { func_index, message: e.to_string() };
    for local in reader.get_locals_reader().map_err(codegen)? {
        let (_, t) = local.map_err(codegen)?;
        val_type(t, func_index)?;
    }
    // The decoder recorded whether the body has any SIMD operator; most have none.
    if module.bodies.get(defined_index as usize).is_some_and(|b| !b.shape.uses_simd) {
        return Ok(());
    }
    let mut ops = reader.get_operators_reader().map_err(codegen)?;
    while !ops.eof() {
        let op = ops.read().map_err(codegen)?;
        if is_simd(&op) && !simd_supported(&op) && SimdOp::decode(&op).is_none() {
            return Err(unsupported("SIMD instructions", Some(func_index)));
        }
    }
    Ok(())
}

/// Whether `op` is a SIMD operator the translator handles itself: `v128.const` and the memory
/// operators. The lane operators are [`SimdOp`]s.
fn simd_supported(op: &Operator<'_>) -> bool {
    use Operator as O;
    matches!(
        op,
        O::V128Const { .. }
            | O::V128Load { .. }
            | O::V128Load8x8S { .. }
            | O::V128Load8x8U { .. }
            | O::V128Load16x4S { .. }
            | O::V128Load16x4U { .. }
            | O::V128Load32x2S { .. }
            | O::V128Load32x2U { .. }
            | O::V128Load8Splat { .. }
            | O::V128Load16Splat { .. }
            | O::V128Load32Splat { .. }
            | O::V128Load64Splat { .. }
            | O::V128Load32Zero { .. }
            | O::V128Load64Zero { .. }
            | O::V128Store { .. }
            | O::V128Load8Lane { .. }
            | O::V128Load16Lane { .. }
            | O::V128Load32Lane { .. }
            | O::V128Load64Lane { .. }
            | O::V128Store8Lane { .. }
            | O::V128Store16Lane { .. }
            | O::V128Store32Lane { .. }
            | O::V128Store64Lane { .. }
    )
}
