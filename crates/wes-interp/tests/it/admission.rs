//! Admission does not depend on the backend: a module at each of the engine's
//! `FunctionLimits` is admitted by the JIT, the interpreter and the tiered backend alike, and
//! one just past it is refused by all three with the same error, naming the limit, the
//! function, its count and the maximum.

use std::sync::Arc;

use wes_core::{Backend, CompileError, FunctionLimits};
use wes_interp::{InterpConfig, Interpreter};
use wes_runtime::{Config, Engine, Module, RuntimeError, Tiered};

/// One engine per backend, all admitting under `limits`.
fn engines(limits: &FunctionLimits) -> Vec<(&'static str, Engine)> {
    let jit = || -> Arc<dyn Backend> { Arc::new(wes_jit::Jit::new().unwrap()) };
    let interp = || -> Arc<dyn Backend> { Arc::new(Interpreter::new(InterpConfig::default())) };
    let mut config = Config::default();
    config.function_limits(limits.clone());
    vec![
        ("jit", Engine::new(config.clone(), jit())),
        ("interp", Engine::new(config.clone(), interp())),
        ("tiered", Engine::new(config, Arc::new(Tiered::new(interp(), jit(), 8 << 10)))),
    ]
}

/// Repeats `s` `n` times.
fn rep(s: &str, n: u64) -> String {
    s.repeat(n as usize)
}

/// For each limit: the limit set alone, the module whose count is `n`, and the index of the
/// function that has it.
type Case = (&'static str, fn(&mut FunctionLimits, u64), fn(u64) -> String, u32);

const CASES: [Case; 8] = [
    // `n - 1` nops and the final `end`.
    ("operators per function", |l, n| l.max_operators = n, |n| format!("(module (func {}))", rep("nop ", n - 1)), 0),
    // Each `(block)` is two control operators, `unreachable` one, the final `end` one.
    (
        "control operators per function",
        |l, n| l.max_control_operators = n,
        |n| {
            format!(
                "(module (func {} {}))",
                rep("(block) ", (n - 1) / 2),
                if n.is_multiple_of(2) { "unreachable" } else { "" }
            )
        },
        0,
    ),
    ("calls per function", |l, n| l.max_calls = n, |n| format!("(module (func $f) (func {}))", rep("call $f ", n)), 1),
    (
        "branches to one label",
        |l, n| l.max_branches_per_label = n,
        |n| format!("(module (func (block {})))", rep("(br_if 0 (i32.const 0)) ", n)),
        0,
    ),
    (
        "nesting depth",
        |l, n| l.max_nesting_depth = n,
        |n| format!("(module (func {} {}))", rep("block ", n), rep("end ", n)),
        0,
    ),
    // An empty body has one control operator (its `end`), so its locals are the product.
    (
        "locals × control operators",
        |l, n| l.max_locals_times_control = n,
        |n| format!("(module (func (param i32) (local {})))", rep("i32 ", n - 1)),
        0,
    ),
    (
        "br_table targets",
        |l, n| l.max_br_table_targets = n,
        |n| format!("(module (func (param i32) (block (br_table {} 0 (local.get 0)))))", rep("0 ", n)),
        0,
    ),
    (
        "defined functions per module",
        |l, n| l.max_defined_functions = n,
        |n| format!("(module {})", rep("(func) ", n)),
        0,
    ),
];

#[test]
fn each_limit_admits_its_maximum_and_refuses_one_more_on_every_backend() {
    const MAX: u64 = 12;
    for (limit, set, wat, func_index) in CASES {
        let mut limits = FunctionLimits::unlimited();
        set(&mut limits, MAX);
        let engines = engines(&limits);
        let at = Arc::new(wes_decode::decode_text(&wat(MAX)).unwrap());
        let past = Arc::new(wes_decode::decode_text(&wat(MAX + 1)).unwrap());
        let mut refusals = Vec::new();
        for (backend, engine) in &engines {
            if let Err(e) = Module::from_arc(engine, at.clone()) {
                panic!("{limit} at {MAX} refused by {backend}: {e}");
            }
            let err = Module::from_arc(engine, past.clone()).map(drop).unwrap_err();
            match &err {
                RuntimeError::Compile(CompileError::FunctionLimit { func_index: f, limit: l, value, max }) => {
                    assert_eq!((*f, *l, *value, *max), (func_index, limit, MAX + 1, MAX), "{backend}");
                }
                RuntimeError::Compile(CompileError::Limit(m)) if limit.starts_with("defined") => {
                    assert_eq!(m, &format!("{limit}: {} (at most {MAX})", MAX + 1), "{backend}");
                }
                other => panic!("{limit} past {MAX} on {backend}: {other:?}"),
            }
            refusals.push(format!("{err:?}"));
        }
        assert!(refusals.windows(2).all(|w| w[0] == w[1]), "{limit}: {refusals:#?}");
    }
}

#[test]
fn the_default_limits_refuse_the_same_module_everywhere() {
    // 4,097 nested blocks: past the default nesting depth, which the interpreter would run.
    let deep = Arc::new(
        wes_decode::decode_text(&format!("(module (func {} {}))", rep("block ", 4097), rep("end ", 4097))).unwrap(),
    );
    let messages: Vec<String> = engines(&FunctionLimits::default())
        .iter()
        .map(|(_, engine)| Module::from_arc(engine, deep.clone()).map(drop).unwrap_err().to_string())
        .collect();
    assert_eq!(messages[0], "function 0 exceeds the limit on nesting depth: 4097 (at most 4096)");
    assert!(messages.iter().all(|m| *m == messages[0]), "{messages:#?}");
}

#[test]
fn code_compiled_under_looser_limits_is_refused_when_loaded() {
    // Compiled by a backend directly (as a compiled artifact would be, elsewhere), then
    // handed to an engine whose limits it exceeds.
    let module = Arc::new(wes_decode::decode_text("(module (func $f) (func call $f call $f call $f))").unwrap());
    let compiled = Interpreter::new(InterpConfig::default()).compile(module).unwrap();
    let mut config = Config::default();
    config.function_limits(FunctionLimits { max_calls: 2, ..FunctionLimits::default() });
    let engine = Engine::new(config, Arc::new(Interpreter::new(InterpConfig::default())));
    match Module::from_compiled(&engine, compiled).map(drop) {
        Err(RuntimeError::Compile(CompileError::FunctionLimit {
            func_index: 1,
            limit: "calls per function",
            value: 3,
            max: 2,
        })) => {}
        other => panic!("{other:?}"),
    }
}
