//! Admission: what one function (and one module) may contain before an engine refuses it,
//! whatever backend the engine runs.
//!
//! Two nodes must agree on which modules they admit, or one runs a contract the other refuses.
//! So the rule is here, on the wasm input and nowhere else: the decoder measures every
//! function body in the pass that validates it ([`FunctionShape`], kept in
//! [`FuncBody::shape`](crate::module::FuncBody::shape)), and [`FunctionLimits::check`]
//! compares those counts with the configured bounds without reading a body again. The runtime
//! runs the check before any backend sees the module (`wes_runtime::Config::function_limits`),
//! so the JIT, the interpreter and the tiered backend refuse exactly the same modules with
//! exactly the same [`CompileError::FunctionLimit`]: a network must agree on these limits as it
//! agrees on pricing.
//!
//! Why the bounds exist: some shapes of one function make Cranelift and regalloc2 work faster
//! than linearly however the translator drives them (measured with `cargo xtask hostile`):
//! regalloc2 computes dominators by walking from each predecessor of a block up to the
//! dominator found so far, so 100k `br_if`s to one label cost 100k² steps (and the gas
//! variable, live into the label from every branch, makes a phi of as many inputs);
//! Cranelift's SSA builder keeps, per variable, a map as long as the highest block that reads
//! or writes it, so many locals times many blocks is gigabytes; a value live into each of n
//! nested `if`s without `else` is live across n² block boundaries (10k nested ifs: 4 s and
//! 600 MB in regalloc2's liveness alone). Bounding the size of one function bounds all of
//! them. The interpreter does not need them for its own sake, but a module one backend
//! refuses must be refused by all.
//!
//! The defaults were set with `cargo xtask hostile` so that a function just inside every limit
//! compiles within the corpus budget (2 s and 512 MB) on the project's machines; each
//! function's code is still several times what wasmtime makes of it (every trap check is a
//! branch to a cold block), and the limits can grow as that shrinks. 100k operators is a
//! function body of 200-400 KB.
//!
//! These are not `wes_decode::Limits` (the security policy's static limits, some of which
//! bound the same counts): those are an embedder's optional policy on its decoder, refused
//! while decoding with a byte offset, and a module decoded by any decoder may be handed to an
//! engine. These bind the engine: whatever decoder made the module, the engine refuses what
//! its backends could not be trusted to compile. Both are computed in the same pass over the
//! operators.

use crate::CompileError;
use crate::module::ModuleParts;

/// Upper bounds on what one function, and one module, may contain to be admitted by an
/// engine. Every bound is inclusive: a function with exactly `max_operators` operators is
/// admitted, one more is refused. The [`Default`] is the set the hostile corpus was measured
/// with.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(deny_unknown_fields, default))]
pub struct FunctionLimits {
    /// Operators in one function body, its final `end` included. Default 100,000.
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
    /// Functions a module defines. Default 5,000: even an empty function costs a JIT a
    /// compile of its own (two when it is exported or in a table: body and array-call entry),
    /// so this bounds a module's compile time however small its functions are.
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

    /// Whether `module` is within these limits, from the counts the decoder recorded: no body
    /// is read again, so the check costs one comparison per limit and function.
    ///
    /// The verdict is a function of the module and the limits alone: the defined-function
    /// count first, then the functions in index order, and within one function the limits in
    /// the order of this struct's fields, so every node names the same violation.
    ///
    /// # Errors
    ///
    /// [`CompileError::Limit`] for a module defining more than `max_defined_functions`;
    /// [`CompileError::FunctionLimit`] for the first function past another limit, naming the
    /// limit, the function, its count and the maximum.
    pub fn check(&self, module: &ModuleParts) -> Result<(), CompileError> {
        let defined = module.bodies.len() as u64;
        if defined > self.max_defined_functions {
            return Err(CompileError::Limit(format!(
                "defined functions per module: {defined} (at most {})",
                self.max_defined_functions
            )));
        }
        for (i, body) in module.bodies.iter().enumerate() {
            let func_index = module.num_imported_functions.saturating_add(i as u32);
            let s = &body.shape;
            let checks = [
                ("operators per function", s.operators, self.max_operators),
                ("control operators per function", s.control_operators, self.max_control_operators),
                ("calls per function", s.calls, self.max_calls),
                ("branches to one label", s.max_branches_per_label, self.max_branches_per_label),
                ("nesting depth", s.max_nesting_depth, self.max_nesting_depth),
                (
                    "locals × control operators",
                    s.locals.saturating_mul(s.control_operators),
                    self.max_locals_times_control,
                ),
                ("br_table targets", s.max_br_table_targets, self.max_br_table_targets),
            ];
            for (limit, value, max) in checks {
                if value > max {
                    return Err(CompileError::FunctionLimit { func_index, limit, value, max });
                }
            }
        }
        Ok(())
    }
}

/// What one function body contains, counted by the decoder in the pass that validates it: the
/// counts [`FunctionLimits`] bounds, and the facts a backend wants about a body before
/// translating it. Every count is of wasm operators, so it is the same on every machine.
///
/// The [`Default`] is the most conservative shape (nothing counted, `may_move_memory`,
/// `may_return_tail` and `uses_simd` true): what a body recorded by something other than the decoder is taken to be.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct FunctionShape {
    /// Operators, the final `end` included.
    pub operators: u64,
    /// Control operators: those after which a new gas segment starts (`wes_meter::ends_segment`).
    pub control_operators: u64,
    /// Calls of every kind: direct, indirect, by reference, tail.
    pub calls: u64,
    /// The most branches to any one label (`br`, `br_if`, each distinct target of a
    /// `br_table`), the function's own label included.
    pub max_branches_per_label: u64,
    /// How deep blocks, loops, ifs and `try`s nest; the function's own frame does not count.
    pub max_nesting_depth: u64,
    /// Locals, parameters included.
    pub locals: u64,
    /// Targets of the largest `br_table`, besides its default.
    pub max_br_table_targets: u64,
    /// Whether running the function may move or resize a linear memory: it grows one, calls
    /// through a table or reference (the callee is unknown), calls an import (a host function
    /// or another instance, which may grow a shared memory), or calls a defined function that
    /// may. A backend that knows a function cannot may keep each memory's base and length in
    /// registers across the function.
    pub may_move_memory: bool,
    /// Whether the function may end by returning to its caller a tail call still to be made:
    /// it tail-calls through a table, a reference or an import (whose callee the caller's
    /// side must call), or `return_call`s a defined function that may. A backend whose calls
    /// hand such pending tail calls back (the JIT's `CALL_TAIL`) needs no code for them after
    /// a direct call of a function that cannot; code compiled from Rust or C has no tail calls.
    pub may_return_tail: bool,
    /// Whether the body holds any SIMD operator (`0xfd`-prefixed), so a backend that checks
    /// SIMD operators before running a body can skip bodies without any.
    pub uses_simd: bool,
}

impl Default for FunctionShape {
    fn default() -> Self {
        FunctionShape {
            operators: 0,
            control_operators: 0,
            calls: 0,
            max_branches_per_label: 0,
            max_nesting_depth: 0,
            locals: 0,
            max_br_table_targets: 0,
            may_move_memory: true,
            may_return_tail: true,
            uses_simd: true,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::module::FuncBody;

    fn module(shapes: Vec<FunctionShape>) -> ModuleParts {
        let bodies = shapes.into_iter().map(|shape| FuncBody { type_index: 0, range: 0..0, shape }).collect();
        ModuleParts { num_imported_functions: 2, bodies, ..ModuleParts::default() }
    }

    #[test]
    fn each_limit_admits_its_maximum_and_refuses_one_more_by_name() {
        let limits = FunctionLimits::default();
        let at = FunctionShape {
            operators: limits.max_operators,
            control_operators: limits.max_control_operators,
            calls: limits.max_calls,
            max_branches_per_label: limits.max_branches_per_label,
            max_nesting_depth: limits.max_nesting_depth,
            locals: limits.max_locals_times_control / limits.max_control_operators,
            max_br_table_targets: limits.max_br_table_targets,
            may_move_memory: false,
            may_return_tail: false,
            uses_simd: false,
        };
        assert_eq!(limits.check(&module(vec![FunctionShape::default(), at.clone()])), Ok(()));
        type Bump = fn(&mut FunctionShape);
        let past: [(&str, Bump); 7] = [
            ("operators per function", |s| s.operators += 1),
            ("control operators per function", |s| s.control_operators += 1),
            ("calls per function", |s| s.calls += 1),
            ("branches to one label", |s| s.max_branches_per_label += 1),
            ("nesting depth", |s| s.max_nesting_depth += 1),
            ("locals × control operators", |s| {
                s.control_operators = 15_000;
                s.locals = 2_001;
            }),
            ("br_table targets", |s| s.max_br_table_targets += 1),
        ];
        for (name, bump) in past {
            let mut shape = at.clone();
            bump(&mut shape);
            match limits.check(&module(vec![FunctionShape::default(), shape])) {
                Err(CompileError::FunctionLimit { func_index: 3, limit, value, max }) => {
                    assert_eq!(limit, name);
                    assert_eq!(value, max + if name.starts_with("locals") { 15_000 } else { 1 }, "{name}");
                }
                other => panic!("{name}: {other:?}"),
            }
        }
    }

    #[test]
    fn too_many_defined_functions_is_a_module_limit() {
        let limits = FunctionLimits { max_defined_functions: 2, ..FunctionLimits::default() };
        assert_eq!(limits.check(&module(vec![FunctionShape::default(); 2])), Ok(()));
        let err = limits.check(&module(vec![FunctionShape::default(); 3])).unwrap_err();
        assert_eq!(err.to_string(), "compilation limit reached: defined functions per module: 3 (at most 2)");
    }

    #[test]
    fn unlimited_admits_anything() {
        let huge = FunctionShape {
            operators: u64::MAX,
            control_operators: u64::MAX,
            locals: u64::MAX,
            ..FunctionShape::default()
        };
        assert_eq!(FunctionLimits::unlimited().check(&module(vec![huge])), Ok(()));
    }
}

#[cfg(all(test, feature = "serde"))]
mod serde_tests {
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
