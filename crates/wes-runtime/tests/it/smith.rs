//! Random valid modules from `wasm-smith`, compiled and run: every outcome must be a result,
//! a trap or a resource error, never a crash, a hang or a code-generation error.

use std::sync::Arc;

use arbitrary::Unstructured;
use wes_core::{CompileError, Value};
use wes_runtime::{Config, Engine, Extern, Linker, Module, RuntimeError, Store};

/// Everything the JIT implements, nothing it refuses.
fn smith_config() -> wasm_smith::Config {
    wasm_smith::Config {
        min_funcs: 2,
        max_funcs: 12,
        max_instructions: 300,
        max_imports: 0,
        max_memories: 1,
        max_tables: 3,
        max_memory32_bytes: 8 << 16,
        max_table_elements: 1_000,
        export_everything: true,
        simd_enabled: false,
        relaxed_simd_enabled: false,
        tail_call_enabled: false,
        exceptions_enabled: false,
        gc_enabled: false,
        threads_enabled: false,
        memory64_enabled: false,
        wide_arithmetic_enabled: false,
        custom_page_sizes_enabled: false,
        ..wasm_smith::Config::default()
    }
}

#[derive(Debug, Default)]
struct Tally {
    modules: usize,
    calls: usize,
    returned: usize,
    trapped: usize,
}

fn run_one(engine: &Engine, bytes: &[u8], tally: &mut Tally) {
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
    let mut store = Store::new(engine);
    let instance = match Linker::new().instantiate(&mut store, &module) {
        Ok(i) => i,
        Err(RuntimeError::Trap(_) | RuntimeError::ResourceLimit(_)) => return,
        Err(e) => panic!("instantiation failed: {e}"),
    };
    for (name, item) in instance.exports(&store) {
        let Extern::Func(f) = item else { continue };
        let ty = f.ty(&store).unwrap();
        let args: Vec<Value> = ty.params().iter().map(|t| Value::default_for(*t)).collect();
        tally.calls += 1;
        match f.call(&mut store, &args) {
            Ok(results) => {
                tally.returned += 1;
                assert_eq!(results.len(), ty.results().len(), "{name}");
                assert!(results.iter().zip(ty.results()).all(|(v, t)| v.ty() == *t), "{name}");
            }
            Err(RuntimeError::Trap(_)) => tally.trapped += 1,
            Err(e) => panic!("{name}: call failed: {e}"),
        }
    }
}

#[test]
fn random_modules_run_to_a_result_or_a_trap() {
    let mut config = Config::default();
    config.max_call_depth(500).max_memory_pages(64);
    let engine = Engine::new(config, Arc::new(wes_jit::Jit::new().unwrap()));
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
        run_one(&engine, &m.to_bytes(), &mut tally);
    }
    // The corpus must exercise something, or this test proves nothing.
    assert!(tally.modules > 200 && tally.calls > 250 && tally.returned > 40, "{tally:?}");
    eprintln!("{tally:?}");
}
