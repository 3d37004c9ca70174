//! Every WebAssembly operator wasmparser knows, as a dense index with its name and proposal.
//!
//! Generated with `wasmparser::for_each_operator!`, as wasmtime generates its fuel table, so a
//! new operator in a wasmparser upgrade gets a price (its class's) without anyone listing it.

use wasmparser::Operator;

macro_rules! define_ops {
    ($( @$proposal:ident $op:ident $({ $($arg:ident: $argty:ty),* })? => $visit:ident ($($ann:tt)*) )*) => {
        /// The operators, in wasmparser's order; the discriminant indexes [`OPERATOR_NAMES`].
        #[allow(non_camel_case_types, clippy::enum_variant_names, reason = "generated from wasmparser's names")]
        #[derive(Clone, Copy, Debug, PartialEq, Eq)]
        #[repr(u16)]
        enum OpId { $($op),* }

        /// The name of every operator (wasmparser's `Operator` variant names, `I32Add`, ...).
        pub const OPERATOR_NAMES: &[&str] = &[$(stringify!($op)),*];

        /// The proposal each operator belongs to (`mvp`, `simd`, `tail_call`, ...), in the
        /// order of [`OPERATOR_NAMES`].
        pub(crate) const OPERATOR_PROPOSALS: &[&str] = &[$(stringify!($proposal)),*];

        /// The dense index of `op` in [`OPERATOR_NAMES`], or `None` for an operator this
        /// wasmparser version added after the list was generated (impossible today).
        pub(crate) fn operator_index(op: &Operator<'_>) -> Option<usize> {
            #[allow(unreachable_patterns, reason = "Operator is non-exhaustive")]
            let id = match op {
                $(Operator::$op { .. } => OpId::$op,)*
                _ => return None,
            };
            Some(id as usize)
        }
    };
}

wasmparser::for_each_operator!(define_ops);

/// The index of the operator named `name`.
pub(crate) fn index_of_name(name: &str) -> Option<usize> {
    OPERATOR_NAMES.iter().position(|n| *n == name)
}

/// The name of `op`, as in [`OPERATOR_NAMES`].
pub fn operator_name(op: &Operator<'_>) -> &'static str {
    operator_index(op).and_then(|i| OPERATOR_NAMES.get(i)).copied().unwrap_or("Unknown")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_indices_agree() {
        assert_eq!(OPERATOR_NAMES.len(), OPERATOR_PROPOSALS.len());
        assert_eq!(operator_index(&Operator::Unreachable), Some(0));
        assert_eq!(operator_name(&Operator::I32Add), "I32Add");
        assert_eq!(operator_name(&Operator::ReturnCall { function_index: 0 }), "ReturnCall");
        assert_eq!(operator_name(&Operator::I8x16Swizzle), "I8x16Swizzle");
        assert_eq!(index_of_name("I64DivS").map(|i| OPERATOR_NAMES[i]), Some("I64DivS"));
        assert!(OPERATOR_NAMES.len() > 500, "SIMD, threads and GC operators are all listed");
    }
}
