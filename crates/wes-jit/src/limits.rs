//! What one function (and one module) may contain before the JIT refuses to compile it.
//!
//! Some shapes of one function make Cranelift and regalloc2 work faster than linearly however
//! the translator drives them (measured with `cargo xtask hostile`): regalloc2 computes
//! dominators by walking from each predecessor of a block up to the dominator found so far, so
//! 100k `br_if`s to one label cost 100k² steps (and the gas variable, live into the label from
//! every branch, makes a phi of as many inputs); Cranelift's SSA builder keeps, per variable, a
//! map as long as the highest block that reads or writes it, so many locals times many blocks
//! is gigabytes; a value live into each of n nested `if`s without `else` is live across n²
//! block boundaries (10k nested ifs: 4 s and 600 MB in regalloc2's liveness alone). Bounding
//! the size of one function bounds all of them.
//!
//! The defaults were set with `cargo xtask hostile` so that a function just inside every limit
//! compiles within the corpus budget (2 s and 512 MB) on the project's machines; each
//! function's code is still several times what wasmtime makes of it (every trap check is a
//! branch to a cold block), and the limits can grow as that shrinks. 100k operators is a
//! function body of 200-400 KB. The limits are on the wasm input, never on what Cranelift
//! made of it, so every node with the same limits accepts and refuses the same modules: a
//! network must agree on them as it agrees on pricing.
//!
//! They are checked in one scan of every body before anything is compiled
//! (`analysis::may_move_memory`); a function past one is refused with
//! [`CompileError::FunctionLimit`](wes_core::CompileError::FunctionLimit), naming the limit,
//! the function's count and the maximum, and a module with too many functions with
//! [`CompileError::Limit`](wes_core::CompileError::Limit).

/// Upper bounds on what one function, and one module, may contain to be compiled by the JIT.
/// Every bound is inclusive: a function with exactly `max_operators` operators compiles, one
/// more is refused. The [`Default`] is the set the hostile corpus was measured with.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(deny_unknown_fields, default))]
pub struct FunctionLimits {
    /// Operators in one function body. Default 100,000.
    pub max_operators: u64,
    /// Control operators (those that end a gas segment: blocks, branches, calls, `end`, ...)
    /// in one function body. Default 16,000.
    pub max_control_operators: u64,
    /// Calls (direct, indirect, by reference, tail) one function makes. Default 2,000.
    pub max_calls: u64,
    /// Branches (`br`, `br_if`, and each distinct target of a `br_table`) to one label.
    /// Default 2,048.
    pub max_branches_per_label: u64,
    /// How deep blocks, loops and ifs nest in one function. Default 4,096.
    pub max_nesting_depth: u64,
    /// Locals (parameters included) times control operators of one function. Default
    /// 30,000,000.
    pub max_locals_times_control: u64,
    /// Targets of one `br_table`, besides its default. Default 65,520: V8's, SpiderMonkey's
    /// and wasmtime's figure (the spec leaves it to implementations); a table past it makes a
    /// jump table and successor lists of its size in every pass.
    pub max_br_table_targets: u64,
    /// Functions a module defines. Default 5,000: compiling one costs Cranelift about as much
    /// as compiling the module's empty functions does (two compiles: body and entry), so this
    /// bounds a module's compile time however small its functions are.
    pub max_defined_functions: u64,
}

impl Default for FunctionLimits {
    fn default() -> Self {
        FunctionLimits {
            max_operators: 100_000,
            max_control_operators: 16_000,
            max_calls: 2_000,
            max_branches_per_label: 2_048,
            max_nesting_depth: 4_096,
            max_locals_times_control: 30_000_000,
            max_br_table_targets: 65_520,
            max_defined_functions: 5_000,
        }
    }
}

impl FunctionLimits {
    /// No limit at all: every bound `u64::MAX`. For trusted input only; a hostile module can
    /// then make compilation take minutes and gigabytes.
    pub const fn unlimited() -> Self {
        FunctionLimits {
            max_operators: u64::MAX,
            max_control_operators: u64::MAX,
            max_calls: u64::MAX,
            max_branches_per_label: u64::MAX,
            max_nesting_depth: u64::MAX,
            max_locals_times_control: u64::MAX,
            max_br_table_targets: u64::MAX,
            max_defined_functions: u64::MAX,
        }
    }
}

#[cfg(all(test, feature = "serde"))]
mod tests {
    use super::*;

    #[test]
    fn a_configuration_section_sets_some_limits_and_keeps_the_defaults_of_the_rest() {
        let limits: FunctionLimits = serde_json::from_str(r#"{"max_calls": 10, "max_nesting_depth": 64}"#).unwrap();
        assert_eq!(limits, FunctionLimits { max_calls: 10, max_nesting_depth: 64, ..FunctionLimits::default() });
        let back: FunctionLimits = serde_json::from_str(&serde_json::to_string(&limits).unwrap()).unwrap();
        assert_eq!(back, limits);
        let err = serde_json::from_str::<FunctionLimits>(r#"{"max_cals": 10}"#).unwrap_err();
        assert!(err.to_string().contains("max_cals"), "{err}");
    }
}
