//! Random valid modules from `wasm-smith`, compiled and run: every outcome must be a result,
//! a trap or a resource error, never a crash, a hang or a code-generation error, and the module
//! compiled with and without the optimiser must give identical outcomes.

use std::sync::Arc;

use arbitrary::Unstructured;
use wes_core::{CompileError, Value};
use wes_runtime::{Config, Engine, Extern, Linker, Module, RuntimeError, Store};

/// The differential harness's generator settings (`wes_difftest::smith_config`: everything the
/// backends implement, nothing they refuse), with bigger modules: this test compiles fewer.
pub(crate) fn smith_config() -> wasm_smith::Config {
    wasm_smith::Config {
        max_funcs: 12,
        max_instructions: 300,
        max_memory32_bytes: 8 << 16,
        ..wes_difftest::smith_config()
    }
}

#[derive(Debug, Default)]
struct Tally {
    modules: usize,
    calls: usize,
    returned: usize,
    trapped: usize,
}

/// What one export call did: its results or its trap code.
type Outcome = Result<Vec<Value>, wes_core::TrapCode>;

/// Instantiates `module` in a fresh store and calls every exported function in order.
fn run_exports(engine: &Engine, module: &Module, tally: &mut Tally) -> Vec<(String, Outcome)> {
    let mut store = Store::new(engine);
    let instance = match Linker::new().instantiate(&mut store, module) {
        Ok(i) => i,
        Err(RuntimeError::Trap(_) | RuntimeError::ResourceLimit(_)) => return Vec::new(),
        Err(e) => panic!("instantiation failed: {e}"),
    };
    let mut outcomes = Vec::new();
    for (name, item) in instance.exports(&store) {
        let Extern::Func(f) = item else { continue };
        let ty = f.ty(&store).unwrap();
        let args: Vec<Value> = ty.params().iter().map(|t| Value::default_for(*t)).collect();
        tally.calls += 1;
        let outcome = match f.call(&mut store, &args) {
            Ok(results) => {
                tally.returned += 1;
                assert_eq!(results.len(), ty.results().len(), "{name}");
                assert!(results.iter().zip(ty.results()).all(|(v, t)| v.ty() == *t), "{name}");
                // Function references are store-scoped numbers; only their nullness is portable.
                Ok(results
                    .into_iter()
                    .map(|v| match v {
                        Value::FuncRef(r) => Value::I32(i32::from(r.is_some())),
                        v => v,
                    })
                    .collect())
            }
            Err(RuntimeError::Trap(t)) => {
                tally.trapped += 1;
                Err(t.code)
            }
            Err(e) => panic!("{name}: call failed: {e}"),
        };
        outcomes.push((name, outcome));
    }
    outcomes
}

fn run_one(engine: &Engine, reference: &Engine, bytes: &[u8], tally: &mut Tally) {
    let decoded = match wes_decode::decode(bytes) {
        Ok(m) => m,
        // wasm-smith and our feature set may disagree at the edges; decoding is tested elsewhere.
        Err(_) => return,
    };
    let module = match Module::new(engine, decoded) {
        Ok(m) => m,
        Err(RuntimeError::Compile(e @ CompileError::Unsupported { .. })) => panic!("refused a supported module: {e}"),
        Err(e) => panic!("failed to compile a valid module: {e}"),
    };
    tally.modules += 1;
    // The same module compiled without Cranelift's optimiser, in a fresh store, must give
    // exactly the same results, bit for bit, and the same traps.
    let first = run_exports(engine, &module, tally);
    let unoptimised = Module::new(reference, module.module().clone()).unwrap();
    let second = run_exports(reference, &unoptimised, &mut Tally::default());
    assert_eq!(first, second);
}

#[test]
fn random_modules_run_to_the_same_result_or_trap_at_every_opt_level() {
    let mut config = Config::default();
    config.max_call_depth(500).max_memory_pages(64);
    let engine = Engine::new(config.clone(), Arc::new(wes_jit::Jit::new().unwrap()));
    let plain = wes_jit::JitConfig { optimize: false, ..wes_jit::JitConfig::default() };
    let reference = Engine::new(config, Arc::new(wes_jit::Jit::with_config(plain).unwrap()));
    let smith = smith_config();
    let mut rng = fastrand::Rng::with_seed(0x5eed);
    let mut tally = Tally::default();
    for _ in 0..250 {
        let len = rng.usize(1024..8192);
        let seed: Vec<u8> = std::iter::repeat_with(|| rng.u8(..)).take(len).collect();
        let Ok(mut m) = wasm_smith::Module::new(smith.clone(), &mut Unstructured::new(&seed)) else { continue };
        // Loops and recursion draw on a fuel global and trap when it runs out, so every call ends.
        if m.ensure_termination(10_000).is_err() {
            continue;
        }
        run_one(&engine, &reference, &m.to_bytes(), &mut tally);
    }
    // The corpus must exercise something, or this test proves nothing.
    assert!(tally.modules > 200 && tally.calls > 250 && tally.returned > 40, "{tally:?}");
    eprintln!("{tally:?}");
}
