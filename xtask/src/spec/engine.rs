//! The backends the spec runner can drive: which exist, and the executor of each.

use std::sync::OnceLock;
use std::sync::atomic::{AtomicBool, Ordering};

use wes_runtime::Engine;
use wes_wast::{Executor, RuntimeExecutor};

/// The backends `--backend` accepts, in the order `cargo xtask ci` runs them.
/// `jit` is the JIT as configured by default (guard regions on x86-64 Linux), `jit-explicit`
/// the JIT checking every memory access explicitly.
pub(crate) const BACKENDS: &[&str] = &["validate", "jit", "interp", "jit-explicit"];

/// Whether `backend` executes code (and so must run every directive).
pub(crate) fn executes(backend: &str) -> bool {
    backend != "validate"
}

/// The backends `--backend` also accepts but CI does not run: `tiered` starts on the
/// interpreter and switches to the JIT's code mid-run, whatever the timing, with the same results.
pub(crate) const EXTRA_BACKENDS: &[&str] = &["tiered"];

/// A fresh executor for one script: `Ok(None)` for a backend that only validates, an error for
/// an executing backend that cannot start (which fails the run: its directives must not be
/// quietly skipped).
pub(crate) fn executor(backend: &str, metered: bool) -> Result<Option<Box<dyn Executor>>, String> {
    let kind = match backend {
        "jit" | "jit-explicit" => wes::BackendKind::Jit,
        "interp" => wes::BackendKind::Interp,
        "tiered" => wes::BackendKind::Tiered,
        _ => return Ok(None),
    };
    let engine = engine(kind, metered, backend == "jit-explicit")?;
    Ok(Some(Box::new(RuntimeExecutor::new(engine)) as Box<dyn Executor>))
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

/// One engine per backend and metering mode for the whole run (compiling the JIT's ISA
/// description once is enough). Built through the facade's configuration, the one place
/// engines are put together; metered runs use the default pricing, so every directive also
/// runs through the gas checks.
fn engine(kind: wes::BackendKind, metered: bool, explicit: bool) -> Result<Engine, String> {
    type Slot = OnceLock<Result<Engine, String>>;
    static ENGINES: [[Slot; 2]; 4] = [const { [const { OnceLock::new() }, const { OnceLock::new() }] }; 4];
    let index = match kind {
        _ if explicit => 3,
        wes::BackendKind::Interp => 1,
        wes::BackendKind::Tiered => 2,
        _ => 0,
    };
    ENGINES[index][usize::from(metered)]
        .get_or_init(|| {
            let mut config = wes::RuntimeConfig::default();
            config.gas.metered = metered;
            config.performance.backend = kind;
            if explicit {
                config.performance.bounds_checks = wes::BoundsChecks::Explicit;
            }
            config.monitoring.profile = PROFILE_HOOKS.load(Ordering::Relaxed);
            config.monitoring.count_operators = COUNT_OPERATORS.load(Ordering::Relaxed);
            config.engine().map_err(|e| format!("cannot start the {kind:?} backend: {e}"))
        })
        .clone()
}
