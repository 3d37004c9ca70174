//! Integration tests of `wes-runtime` (with the JIT as backend), in one binary to keep link
//! time down.
#![allow(clippy::panic, clippy::unwrap_used, reason = "helpers fail a test by panicking, like assertions do")]

mod gas;
mod gas_merge;
mod golden;
mod guard;
mod host;
mod hostile;
mod images;
mod indirect;
mod instantiate;
mod limits;
mod operators;
mod predict;
mod profile;
mod reentry;
mod reset;
mod simd;
mod smith;
mod stack;
mod tail_call;
mod tier;
mod traps;

use std::sync::Arc;

use wes_core::{Trap, TrapCode, Value};
use wes_runtime::{Config, Engine, Instance, Linker, Module, RuntimeError, Store};

/// An engine with the JIT and `config`.
pub(crate) fn engine_with(config: Config) -> Engine {
    Engine::new(config, Arc::new(wes_jit::Jit::new().unwrap()))
}

/// An engine metering under `pricing`: the JIT compiled with `jit`'s other settings, the
/// runtime with `config`'s. The one place these tests put a metered engine together, so the
/// code and the runtime always get the same pricing (as `wes::RuntimeConfig::engine` does for
/// embedders; these tests sit below the facade).
pub(crate) fn metered_engine(pricing: &Arc<wes_meter::Pricing>, jit: wes_jit::JitConfig, mut config: Config) -> Engine {
    let jit = wes_jit::Jit::with_config(wes_jit::JitConfig { pricing: Some(pricing.clone()), ..jit }).unwrap();
    config.pricing(Some(pricing.clone()));
    Engine::new(config, Arc::new(jit))
}

/// A store and an instance of `wat`, linked with `linker`.
pub(crate) fn instantiate_with(engine: &Engine, linker: &Linker, wat: &str) -> (Store, Instance) {
    let module = Module::new(engine, wes_decode::decode_text(wat).unwrap()).unwrap();
    let mut store = Store::new(engine);
    let instance = linker.instantiate(&mut store, &module).unwrap();
    (store, instance)
}

/// A store and an instance of `wat` with no imports and the default configuration.
pub(crate) fn instantiate(wat: &str) -> (Store, Instance) {
    instantiate_with(&engine_with(Config::default()), &Linker::new(), wat)
}

/// Calls export `name`.
pub(crate) fn call(
    store: &mut Store,
    instance: Instance,
    name: &str,
    args: &[Value],
) -> Result<Vec<Value>, RuntimeError> {
    let f = instance.get_func(store, name).unwrap_or_else(|| panic!("no export {name}"));
    f.call(store, args)
}

/// The trap of a failed call, or a test failure.
pub(crate) fn trap_of(r: Result<Vec<Value>, RuntimeError>) -> Trap {
    match r {
        Err(RuntimeError::Trap(t)) => t,
        other => panic!("expected a trap, got {other:?}"),
    }
}

/// Asserts that calling `name` with `args` traps with `code`.
pub(crate) fn check_trap(store: &mut Store, instance: Instance, name: &str, args: &[Value], code: TrapCode) -> Trap {
    let trap = trap_of(call(store, instance, name, args));
    assert_eq!(trap.code, code, "{name}: {trap}");
    trap
}

/// How many of the host pages of `bytes` are resident (`mincore`): what a memory really costs.
pub(crate) fn resident_pages(bytes: &[u8]) -> usize {
    // SAFETY: `sysconf` has no preconditions.
    let page = unsafe { libc::sysconf(libc::_SC_PAGESIZE) } as usize;
    if bytes.is_empty() {
        return 0;
    }
    let start = bytes.as_ptr() as usize & !(page - 1);
    let len = bytes.as_ptr() as usize + bytes.len() - start;
    let mut vec = vec![0u8; len.div_ceil(page)];
    // SAFETY: `[start, start + len)` is mapped (it covers `bytes`, page-aligned down); `vec` has
    // one byte per page of it.
    let r = unsafe { libc::mincore(start as *mut libc::c_void, len, vec.as_mut_ptr()) };
    assert_eq!(r, 0);
    vec.iter().filter(|v| **v & 1 == 1).count()
}
