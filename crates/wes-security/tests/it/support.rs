//! Helpers: an engine, a shared in-memory audit sink, modules admitted and compiled.

use std::io::Write;
use std::sync::{Arc, Mutex, OnceLock};

use wes_runtime::{Config, Engine, Module};
use wes_security::{ModuleIdentity, SecurityManager};

/// One JIT engine for the whole binary: creating one per test costs more than the tests.
pub(crate) fn engine() -> Engine {
    static ENGINE: OnceLock<Engine> = OnceLock::new();
    ENGINE.get_or_init(|| Engine::new(Config::default(), Arc::new(wes_jit::Jit::new().unwrap()))).clone()
}

/// Admits `wat` under `security`'s limits as `name`, and compiles it.
pub(crate) fn load(security: &SecurityManager, wat: &str, name: Option<&str>) -> (ModuleIdentity, Module) {
    let (id, wasm) = security.admit(wat.as_bytes(), name).unwrap();
    (id, Module::new(&engine(), wasm).unwrap())
}

/// A `Write` whose bytes the test can read back.
#[derive(Clone, Default)]
pub(crate) struct Sink(pub(crate) Arc<Mutex<Vec<u8>>>);

impl Write for Sink {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Sink {
    pub(crate) fn text(&self) -> String {
        String::from_utf8(self.0.lock().unwrap().clone()).unwrap()
    }
}
