//! Random valid modules from `wasm-smith` on the JIT and on the interpreter: every export must
//! give the same results bit for bit (function references by nullness), the same trap with the
//! same backtrace (offsets included), the same gas, and leave the same memory; metered (also
//! with an out-of-gas handler topping up mid-call), and unmetered without NaN
//! canonicalisation.

use std::sync::Arc;

use arbitrary::Unstructured;
use wes_core::{Backend, CompileError, Value};
use wes_meter::Pricing;
use wes_runtime::{Config, Engine, Extern, Linker, Module, RuntimeError, Store};

/// The differential harness's generator settings (`wes_difftest::smith_config`: everything both
/// backends implement), with bigger modules: this test compiles fewer.
fn smith_config() -> wasm_smith::Config {
    wasm_smith::Config {
        max_funcs: 12,
        max_instructions: 300,
        max_memory32_bytes: 8 << 16,
        ..wes_difftest::smith_config()
    }
}

/// What one export call did, and the gas it used.
#[derive(Debug, PartialEq)]
enum Outcome {
    Returned(Vec<Value>),
    Trapped(wes_core::Trap),
    Failed(String),
}

/// Instantiates `module` in a fresh store and calls every exported function in order with a
/// gas limit; returns each outcome with its gas, and the final memory of each export.
fn run_exports(engine: &Engine, module: &Module, top_up: Option<u64>) -> Vec<(String, Outcome, u64)> {
    let mut store = Store::new(engine);
    if let Some(n) = top_up {
        // At most 50 top-ups per store, so a runaway call still ends.
        let mut left = 50u32;
        store
            .set_out_of_gas_handler(move |meter: &mut dyn wes_meter::GasMeter, _needed| {
                if left == 0 {
                    return false;
                }
                left -= 1;
                meter.add_gas(n);
                true
            })
            .unwrap();
    }
    let instance = match Linker::new().instantiate(&mut store, module) {
        Ok(i) => i,
        Err(e) => return vec![("<instantiate>".into(), Outcome::Failed(e.to_string()), 0)],
    };
    let mut out = Vec::new();
    for (name, item) in instance.exports(&store) {
        let Extern::Func(f) = item else { continue };
        let ty = f.ty(&store).unwrap();
        let args: Vec<Value> = ty.params().iter().map(|t| Value::default_for(*t)).collect();
        let r = f.call_with_gas(&mut store, &args, 200_000);
        let outcome = match r.result {
            Ok(results) => Outcome::Returned(
                results
                    .into_iter()
                    .map(|v| match v {
                        Value::FuncRef(r) => Value::I32(i32::from(r.is_some())),
                        v => v,
                    })
                    .collect(),
            ),
            Err(RuntimeError::Trap(t)) => Outcome::Trapped(t),
            Err(e) => Outcome::Failed(e.to_string()),
        };
        out.push((name, outcome, r.gas.used()));
    }
    for (name, item) in instance.exports(&store) {
        if let Extern::Memory(m) = item {
            let data = m.data(&store).unwrap();
            let hash =
                data.iter().fold(0xcbf2_9ce4_8422_2325u64, |h, b| (h ^ u64::from(*b)).wrapping_mul(0x100_0000_01b3));
            out.push((format!("memory {name}"), Outcome::Returned(vec![Value::I64(hash as i64)]), 0));
        }
    }
    out
}

/// How the two engines of one pass are built.
#[derive(Clone, Copy, Debug)]
struct Pass {
    metered: bool,
    nan_canonicalization: bool,
    /// A store out-of-gas handler that tops the meter up by this much each time it is asked
    /// (so calls stop and resume in the middle of segments), or none.
    top_up: Option<u64>,
}

/// Runs 300 random modules on both backends under `pass`; returns (modules, calls, returned,
/// trapped).
fn differential(pass: Pass, seed: u64) -> (usize, usize, usize, usize) {
    let pricing = pass.metered.then(|| Arc::new(Pricing::default()));
    let mut config = Config::default();
    config.max_call_depth(500).max_memory_pages(64).pricing(pricing.clone());
    let jit = wes_jit::Jit::with_config(wes_jit::JitConfig {
        pricing: pricing.clone(),
        nan_canonicalization: pass.nan_canonicalization,
        // A store may only have a handler when the code resumes; without, the JIT's checks
        // trap and the runtime replays them, which the interpreter must match as well.
        resume_out_of_gas: pass.top_up.is_some(),
        ..Default::default()
    });
    let engine = Engine::new(config, Arc::new(jit.unwrap()));
    let interp = wes_interp::Interpreter::new(wes_interp::InterpConfig {
        pricing,
        nan_canonicalization: pass.nan_canonicalization,
        ..Default::default()
    });
    let smith = smith_config();
    let mut rng = fastrand::Rng::with_seed(seed);
    let (mut modules, mut calls, mut returned, mut trapped) = (0, 0, 0, 0);
    for _ in 0..300 {
        let len = rng.usize(1024..8192);
        let seed: Vec<u8> = std::iter::repeat_with(|| rng.u8(..)).take(len).collect();
        let Ok(mut m) = wasm_smith::Module::new(smith.clone(), &mut Unstructured::new(&seed)) else { continue };
        if m.ensure_termination(10_000).is_err() {
            continue;
        }
        let Ok(decoded) = wes_decode::decode(&m.to_bytes()) else { continue };
        let decoded = Arc::new(decoded);
        let on_jit = Module::from_arc(&engine, decoded.clone()).unwrap();
        let compiled = match interp.compile(decoded) {
            Ok(c) => c,
            Err(e @ CompileError::Unsupported { .. }) => panic!("refused a supported module: {e}"),
            Err(e) => panic!("failed to compile a valid module: {e}"),
        };
        let on_interp = Module::from_compiled(&engine, compiled).unwrap();
        let a = run_exports(&engine, &on_jit, pass.top_up);
        let b = run_exports(&engine, &on_interp, pass.top_up);
        assert_eq!(a, b, "{pass:?} module {modules}: {:?}", m.to_bytes());
        modules += 1;
        for (_, o, _) in &a {
            calls += 1;
            match o {
                Outcome::Returned(_) => returned += 1,
                Outcome::Trapped(_) => trapped += 1,
                Outcome::Failed(_) => {}
            }
        }
    }
    eprintln!("{pass:?}: {modules} modules, {calls} calls: {returned} returned, {trapped} trapped");
    (modules, calls, returned, trapped)
}

#[test]
fn random_modules_match_the_jit_to_the_unit_of_gas() {
    let pass = Pass { metered: true, nan_canonicalization: true, top_up: None };
    let (modules, calls, returned, trapped) = differential(pass, 0x1e7e);
    assert!(modules > 200 && calls > 250 && returned > 40 && trapped > 20, "{modules} {calls} {returned} {trapped}");
}

#[test]
fn random_modules_resume_after_top_ups_as_the_jit_does() {
    let pass = Pass { metered: true, nan_canonicalization: true, top_up: Some(97) };
    let (modules, calls, ..) = differential(pass, 0x70b);
    assert!(modules > 200 && calls > 250, "{modules} {calls}");
}

#[test]
fn random_modules_match_the_jit_unmetered_and_without_nan_canonicalisation() {
    let pass = Pass { metered: false, nan_canonicalization: false, top_up: None };
    let (modules, calls, returned, _) = differential(pass, 0xca11);
    assert!(modules > 200 && calls > 250 && returned > 40, "{modules} {calls} {returned}");
}
