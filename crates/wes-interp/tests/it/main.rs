//! Integration tests of the interpreter backend: the same programs on the JIT and the
//! interpreter (results, traps with their backtraces and offsets, gas to the unit), and
//! instances of both backends linked in one store.
#![allow(clippy::panic, clippy::unwrap_used, reason = "helpers fail a test by panicking, like assertions do")]

mod admission;
mod differential;
mod merged;
mod mixed;
mod operators;
mod smith;

use std::sync::Arc;

use wes_core::{Backend, Value};
use wes_interp::{InterpConfig, Interpreter};
use wes_meter::Pricing;
use wes_runtime::{Config, Engine, Instance, Linker, Module, RuntimeError, Store};

/// The two backends under test.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Kind {
    Jit,
    Interp,
}

/// An engine whose modules run on `kind`, metered under the default pricing when `metered`.
pub(crate) fn engine(kind: Kind, metered: bool, depth: u32) -> Engine {
    let pricing = metered.then(|| Arc::new(Pricing::default()));
    let mut config = Config::default();
    config.pricing(pricing.clone()).max_call_depth(depth);
    let backend: Arc<dyn Backend> = match kind {
        Kind::Jit => Arc::new(wes_jit::Jit::with_config(wes_jit::JitConfig { pricing, ..Default::default() }).unwrap()),
        Kind::Interp => Arc::new(Interpreter::new(InterpConfig { pricing, ..Default::default() })),
    };
    Engine::new(config, backend)
}

/// `wat` compiled by the interpreter, for an engine of either backend (mixed linking).
pub(crate) fn interp_module(engine: &Engine, wat: &str) -> Module {
    let pricing = engine.config().pricing.clone();
    let interp = Interpreter::new(InterpConfig { pricing, ..Default::default() });
    let compiled = interp.compile(Arc::new(wes_decode::decode_text(wat).unwrap())).unwrap();
    Module::from_compiled(engine, compiled).unwrap()
}

/// `wat` compiled by the engine's own backend.
pub(crate) fn module(engine: &Engine, wat: &str) -> Module {
    Module::new(engine, wes_decode::decode_text(wat).unwrap()).unwrap()
}

/// What one call came to: the results or the error, and the gas used.
pub(crate) type Outcome = (Result<Vec<Value>, RuntimeError>, u64);

/// Calls export `name` of `instance` with a gas limit.
pub(crate) fn call(store: &mut Store, instance: Instance, name: &str, args: &[Value], limit: u64) -> Outcome {
    let f = instance.get_func(store, name).unwrap_or_else(|| panic!("no export {name}"));
    let r = f.call_with_gas(store, args, limit);
    (r.result, r.gas.used())
}

/// Instantiates `wat` on `kind` and calls `name`.
pub(crate) fn run(kind: Kind, metered: bool, wat: &str, name: &str, args: &[Value], limit: u64) -> Outcome {
    let engine = engine(kind, metered, 10_000);
    let m = module(&engine, wat);
    let mut store = Store::new(&engine);
    let instance = Linker::new().instantiate(&mut store, &m).unwrap();
    call(&mut store, instance, name, args, limit)
}
