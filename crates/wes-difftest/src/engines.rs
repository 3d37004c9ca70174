//! The engines compared: every backend and configuration that must give the same results,
//! traps and (when metered under one pricing) gas.

use std::sync::Arc;

use wes_core::CompileError;
use wes_interp::{InterpConfig, Interpreter};
use wes_jit::{Jit, JitConfig};
use wes_meter::Pricing;
use wes_runtime::{Config, Engine};

/// The gas limit of every call and of instantiation on a metered engine. Generated modules
/// burn [`FUEL`](crate::FUEL) long before it in most calls; the rest run out of gas here, which
/// is an outcome like any other.
pub const CALL_GAS: u64 = 1_000_000;

/// The runtime settings every compared engine shares: limits small enough that a hostile
/// module's recursion, memory and tables stay cheap to run and to hash.
pub fn engine_config() -> Config {
    let mut config = Config::default();
    config.max_call_depth(300).max_memory_pages(64).max_table_elements(10_000);
    config
}

/// The engines compared today, named; the first metered one is the reference the others are
/// held to.
///
/// Each JIT pair differs in one setting whose results, traps and gas are promised not to
/// depend on it: Cranelift's optimiser, gas checks merged or one per segment, gas checks that
/// trap (the default) or resume (`JitConfig::resume_out_of_gas`), profiler calls,
/// metering itself (results and traps only), bounds checks explicit or left to guard regions. The interpreter (named `interp…`) is the other
/// backend: translating lazily or eagerly, metered and unmetered.
///
/// # Errors
///
/// [`CompileError::Host`] when the JIT does not support this host.
pub fn standard_engines() -> Result<Vec<(&'static str, Engine)>, CompileError> {
    let pricing = Arc::new(Pricing::default());
    // One compile thread: the harness runs many small modules, and tests run in parallel.
    let base = JitConfig { threads: 1, ..JitConfig::default() };
    let metered = |jit: JitConfig| -> Result<Engine, CompileError> {
        let backend = Jit::with_config(JitConfig { pricing: Some(pricing.clone()), ..jit })?;
        let mut config = engine_config();
        config.pricing(Some(pricing.clone()));
        Ok(Engine::new(config, Arc::new(backend)))
    };
    let unmetered = |jit: JitConfig| -> Result<Engine, CompileError> {
        Ok(Engine::new(engine_config(), Arc::new(Jit::with_config(jit)?)))
    };
    let interp = |config: InterpConfig| -> Engine {
        let mut runtime = engine_config();
        runtime.pricing(config.pricing.clone());
        Engine::new(runtime, Arc::new(Interpreter::new(config)))
    };
    Ok(vec![
        ("jit", metered(base.clone())?),
        ("jit-noopt", metered(JitConfig { optimize: false, ..base.clone() })?),
        ("jit-per-segment", metered(JitConfig { merge_gas_checks: false, ..base.clone() })?),
        // Checks that call the runtime and resume rather than trap: the same gas and traps
        // whether the store could top up or not.
        ("jit-resume", metered(JitConfig { resume_out_of_gas: true, ..base.clone() })?),
        ("jit-profile", metered(JitConfig { profile: true, ..base.clone() })?),
        // Bounds checked explicitly rather than left to guard regions (the default on x86-64
        // Linux, where a fault of an access must be the trap an explicit check raises, with
        // the same gas).
        ("jit-explicit", metered(JitConfig { bounds_checks: wes_jit::BoundsChecks::Explicit, ..base.clone() })?),
        (
            "jit-explicit-unmetered",
            unmetered(JitConfig { bounds_checks: wes_jit::BoundsChecks::Explicit, ..base.clone() })?,
        ),
        ("jit-unmetered", unmetered(base)?),
        ("interp", interp(InterpConfig { pricing: Some(pricing.clone()), ..InterpConfig::default() })),
        (
            "interp-eager",
            interp(InterpConfig { pricing: Some(pricing.clone()), eager: true, ..InterpConfig::default() }),
        ),
        ("interp-unmetered", interp(InterpConfig::default())),
    ])
}

/// The engines one module runs on when comparing every engine on every module costs too much:
/// the reference (`all[0]`), the interpreter engine number `pick` and the other JIT engine number
/// `pick`, each counted modulo how many there are. Every module is compared across the two
/// backends, and over many values of `pick` every engine sees its share.
#[must_use]
pub fn rotation<'a>(pick: usize, all: &[(&'a str, Engine)]) -> Vec<(&'a str, Engine)> {
    let Some((reference, others)) = all.split_first() else { return Vec::new() };
    let (interps, jits): (Vec<_>, Vec<_>) = others.iter().partition(|(name, _)| name.starts_with("interp"));
    let mut chosen = vec![reference.clone()];
    if !interps.is_empty() {
        chosen.push(interps[pick % interps.len()].clone());
    }
    if !jits.is_empty() {
        chosen.push(jits[pick % jits.len()].clone());
    }
    chosen
}
