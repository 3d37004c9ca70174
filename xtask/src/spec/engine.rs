//! The backends the spec runner can drive: which exist, and the executor of each.

use std::sync::OnceLock;
use std::sync::atomic::{AtomicBool, Ordering};

use wes_runtime::Engine;
use wes_wast::{Executor, RuntimeExecutor};

/// The backends `--backend` accepts, in the order `cargo xtask ci` runs them.
pub(crate) const BACKENDS: &[&str] = &["validate", "jit", "interp"];

/// Whether `backend` executes code (and so must run every directive).
pub(crate) fn executes(backend: &str) -> bool {
    backend != "validate"
}

/// A fresh executor for one script: `Ok(None)` for a backend that only validates, an error for
/// an executing backend that cannot start (which fails the run: its directives must not be
/// quietly skipped).
pub(crate) fn executor(backend: &str, metered: bool) -> Result<Option<Box<dyn Executor>>, String> {
    match backend {
        "jit" => {
            let engine = jit_engine(metered)?;
            Ok(Some(Box::new(RuntimeExecutor::new(engine)) as Box<dyn Executor>))
        }
        "interp" => {
            let engine = interp_engine(metered)?;
            Ok(Some(Box::new(RuntimeExecutor::new(engine)) as Box<dyn Executor>))
        }
        _ => Ok(None),
    }
}

/// `--profile-hooks`: compile with the gas profiler's entry and exit calls. Set once, before
/// the first engine is made.
static PROFILE_HOOKS: AtomicBool = AtomicBool::new(false);

pub(crate) fn set_profile_hooks(on: bool) {
    PROFILE_HOOKS.store(on, Ordering::Relaxed);
}

/// `--count-operators`: compile code that counts the operators it executes. Set once, before
/// the first engine is made.
static COUNT_OPERATORS: AtomicBool = AtomicBool::new(false);

pub(crate) fn set_count_operators(on: bool) {
    COUNT_OPERATORS.store(on, Ordering::Relaxed);
}

/// One JIT engine per metering mode for the whole run: compiling the ISA description once is
/// enough. Built through the facade's configuration, the one place engines are put together;
/// metered runs use the default pricing, so every directive also runs through the gas checks.
fn jit_engine(metered: bool) -> Result<Engine, String> {
    static METERED: OnceLock<Result<Engine, String>> = OnceLock::new();
    static UNMETERED: OnceLock<Result<Engine, String>> = OnceLock::new();
    let slot = if metered { &METERED } else { &UNMETERED };
    slot.get_or_init(|| {
        let mut config = wes::RuntimeConfig::default();
        config.gas.metered = metered;
        config.monitoring.profile = PROFILE_HOOKS.load(Ordering::Relaxed);
        config.monitoring.count_operators = COUNT_OPERATORS.load(Ordering::Relaxed);
        config.engine().map_err(|e| format!("cannot start the JIT: {e}"))
    })
    .clone()
}

/// One interpreter engine per metering mode: the runtime configuration and pricing the
/// facade gives the JIT engine, with the interpreter as its backend.
fn interp_engine(metered: bool) -> Result<Engine, String> {
    static METERED: OnceLock<Result<Engine, String>> = OnceLock::new();
    static UNMETERED: OnceLock<Result<Engine, String>> = OnceLock::new();
    let slot = if metered { &METERED } else { &UNMETERED };
    slot.get_or_init(|| {
        let mut config = wes::RuntimeConfig::default();
        config.gas.metered = metered;
        let pricing = config.pricing().map_err(|e| format!("cannot start the interpreter: {e}"))?;
        let runtime = jit_engine(metered)?.config().clone();
        let count_operators = COUNT_OPERATORS.load(Ordering::Relaxed);
        let interp =
            wes_interp::Interpreter::new(wes_interp::InterpConfig { pricing, count_operators, ..Default::default() });
        Ok(Engine::new(runtime, std::sync::Arc::new(interp)))
    })
    .clone()
}
