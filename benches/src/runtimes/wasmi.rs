//! wasmi from crates.io: the register-machine interpreter, with or without fuel. Eager
//! compilation, so `compile` does the same work as the JITs' (every function translated); and
//! one lazy row (translation on first call), wasmi's default, for bytes-to-first-result.

use anyhow::{Result, anyhow};
use wasmi::{CompilationMode, Config, Engine, Linker, Module, Store};

use super::{Compiled, Entry, FUEL, Family, Mode, Running, Runtime, Val};

pub struct Wasmi {
    label: String,
    mode: Mode,
    engine: Engine,
}

impl Wasmi {
    pub fn entry(mode: Mode) -> Entry {
        let label = match mode {
            Mode::Metered => "wasmi (fuel)",
            _ => "wasmi",
        }
        .to_string();
        let mut config = Config::default();
        config.compilation_mode(CompilationMode::Eager);
        config.consume_fuel(mode == Mode::Metered);
        Ok(Box::new(Wasmi { label, mode, engine: Engine::new(&config) }))
    }

    /// Unmetered, translating each function on its first call.
    pub fn lazy() -> Entry {
        let mut config = Config::default();
        config.compilation_mode(CompilationMode::Lazy);
        Ok(Box::new(Wasmi { label: "wasmi (lazy)".into(), mode: Mode::Unmetered, engine: Engine::new(&config) }))
    }
}

impl Runtime for Wasmi {
    fn label(&self) -> &str {
        &self.label
    }
    fn family(&self) -> Family {
        Family::Wasmi
    }
    fn mode(&self) -> Mode {
        self.mode
    }
    fn compile(&self, wasm: &[u8]) -> Result<Box<dyn Compiled>> {
        let module = Module::new(&self.engine, wasm).map_err(|e| anyhow!("{e}"))?;
        let mut linker = Linker::new(&self.engine);
        linker.func_wrap("env", "inc", |x: i64| -> i64 { x.wrapping_add(1) }).map_err(|e| anyhow!("{e}"))?;
        super::wasi::link_wasmi(&mut linker)?;
        Ok(Box::new(WasmiCompiled { mode: self.mode, engine: self.engine.clone(), module, linker }))
    }
}

struct WasmiCompiled {
    mode: Mode,
    engine: Engine,
    module: Module,
    linker: Linker<()>,
}

impl Compiled for WasmiCompiled {
    fn instantiate(&self) -> Result<Box<dyn Running>> {
        let mut store = Store::new(&self.engine, ());
        if self.mode == Mode::Metered {
            store.set_fuel(FUEL).map_err(|e| anyhow!("{e}"))?;
        }
        let instance = self.linker.instantiate_and_start(&mut store, &self.module).map_err(|e| anyhow!("{e}"))?;
        Ok(Box::new(WasmiRunning { mode: self.mode, store, instance }))
    }
}

struct WasmiRunning {
    mode: Mode,
    store: Store<()>,
    instance: wasmi::Instance,
}

impl Running for WasmiRunning {
    fn call(&mut self, name: &str, args: &[Val]) -> Result<Vec<Val>> {
        let func = self.instance.get_func(&self.store, name).ok_or_else(|| anyhow!("no export {name}"))?;
        let args: Vec<wasmi::Val> = args
            .iter()
            .map(|a| match *a {
                Val::I32(v) => wasmi::Val::I32(v),
                Val::I64(v) => wasmi::Val::I64(v),
                Val::F64(v) => wasmi::Val::F64(wasmi::F64::from_bits(v)),
            })
            .collect();
        let mut results = vec![wasmi::Val::I32(0); func.ty(&self.store).results().len()];
        func.call(&mut self.store, &args, &mut results).map_err(|e| anyhow!("{e}"))?;
        results
            .into_iter()
            .map(|r| match r {
                wasmi::Val::I32(v) => Ok(Val::I32(v)),
                wasmi::Val::I64(v) => Ok(Val::I64(v)),
                wasmi::Val::F64(v) => Ok(Val::F64(v.to_bits())),
                other => Err(anyhow!("unexpected result {other:?}")),
            })
            .collect()
    }
    fn consumed(&self) -> Result<Option<u64>> {
        match self.mode {
            Mode::Metered => {
                let left = self.store.get_fuel().map_err(|e| anyhow!("{e}"))?;
                Ok(Some(FUEL - left))
            }
            _ => Ok(None),
        }
    }
}
