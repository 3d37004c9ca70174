//! wasmtime from crates.io: Cranelift, unmetered, with fuel or with epoch interruption; the
//! on-demand (default) or the pooling instance allocator; and, on request (`--explicit-peer`),
//! with explicit bounds checks instead of its guard regions, to measure what bounds checks
//! cost the peer.

use anyhow::{Result, anyhow};
use wasmtime::{Config, Engine, InstanceAllocationStrategy, Linker, Module, PoolingAllocationConfig, Store};

use super::{Compiled, Entry, FUEL, Family, Mode, Running, Runtime, Val};

pub struct Wasmtime {
    label: String,
    mode: Mode,
    pooling: bool,
    engine: Engine,
}

impl Wasmtime {
    pub fn entry(mode: Mode, pooling: bool) -> Entry {
        Wasmtime::build(mode, pooling, false)
    }

    /// wasmtime as WES checks memory accesses: no virtual reservation and no guard pages, so
    /// every load and store compares its end with the memory's length, and no signal-based
    /// traps (every trap is an explicit check). The default allocator. Unlike WES, wasmtime
    /// also keeps its Spectre guard on each checked access (a `select` of the address), so
    /// these rows are an upper bound on what explicit checks cost it.
    pub fn explicit_bounds(mode: Mode) -> Entry {
        Wasmtime::build(mode, false, true)
    }

    fn build(mode: Mode, pooling: bool, explicit: bool) -> Entry {
        let label = match (mode, pooling, explicit) {
            (Mode::Unmetered, _, true) => "wasmtime (explicit)",
            (Mode::Epoch, _, true) => "wasmtime (epoch, explicit)",
            (Mode::Metered, _, true) => "wasmtime (fuel, explicit)",
            (Mode::Unmetered, false, false) => "wasmtime",
            (Mode::Unmetered, true, false) => "wasmtime (pooling)",
            (Mode::Epoch, false, false) => "wasmtime (epoch)",
            (Mode::Epoch, true, false) => "wasmtime (epoch, pooling)",
            (Mode::Metered, false, false) => "wasmtime (fuel)",
            (Mode::Metered, true, false) => "wasmtime (fuel, pooling)",
        }
        .to_string();
        let mut config = Config::new();
        if explicit {
            config
                .signals_based_traps(false)
                .memory_reservation(0)
                .memory_guard_size(0)
                .memory_reservation_for_growth(0);
        }
        match mode {
            Mode::Unmetered => {}
            Mode::Epoch => {
                config.epoch_interruption(true);
            }
            Mode::Metered => {
                config.consume_fuel(true);
            }
        }
        if pooling {
            // Enough slots for the workloads (one live instance at a time) and memories as
            // large as the biggest workload's (16 MiB).
            let mut pool = PoolingAllocationConfig::default();
            pool.total_core_instances(16).total_memories(16).total_tables(16).max_memory_size(64 << 20);
            config.allocation_strategy(InstanceAllocationStrategy::Pooling(pool));
        }
        let engine = Engine::new(&config).map_err(|e| (label.clone(), format!("{e:#}")))?;
        Ok(Box::new(Wasmtime { label, mode, pooling, engine }))
    }
}

impl Runtime for Wasmtime {
    fn label(&self) -> &str {
        &self.label
    }
    fn family(&self) -> Family {
        Family::Wasmtime
    }
    fn mode(&self) -> Mode {
        self.mode
    }
    fn pooling(&self) -> bool {
        self.pooling
    }
    fn compile(&self, wasm: &[u8]) -> Result<Box<dyn Compiled>> {
        let module = Module::new(&self.engine, wasm).map_err(|e| anyhow!("{e:#}"))?;
        let mut linker = Linker::new(&self.engine);
        linker.func_wrap("env", "inc", |x: i64| -> i64 { x.wrapping_add(1) }).map_err(|e| anyhow!("{e:#}"))?;
        super::wasi::link_wasmtime(&mut linker)?;
        let linker = linker.instantiate_pre(&module).map_err(|e| anyhow!("{e:#}"))?;
        Ok(Box::new(WasmtimeCompiled { mode: self.mode, engine: self.engine.clone(), linker }))
    }
}

struct WasmtimeCompiled {
    mode: Mode,
    engine: Engine,
    /// Imports resolved once per module, as an embedder instantiating many times does.
    linker: wasmtime::InstancePre<()>,
}

impl Compiled for WasmtimeCompiled {
    fn instantiate(&self) -> Result<Box<dyn Running>> {
        let mut store = Store::new(&self.engine, ());
        match self.mode {
            Mode::Unmetered => {}
            Mode::Epoch => store.set_epoch_deadline(1 << 40),
            Mode::Metered => store.set_fuel(FUEL).map_err(|e| anyhow!("{e:#}"))?,
        }
        let instance = self.linker.instantiate(&mut store).map_err(|e| anyhow!("{e:#}"))?;
        Ok(Box::new(WasmtimeRunning { mode: self.mode, store, instance }))
    }
}

struct WasmtimeRunning {
    mode: Mode,
    store: Store<()>,
    instance: wasmtime::Instance,
}

impl Running for WasmtimeRunning {
    fn call(&mut self, name: &str, args: &[Val]) -> Result<Vec<Val>> {
        let func = self.instance.get_func(&mut self.store, name).ok_or_else(|| anyhow!("no export {name}"))?;
        let args: Vec<wasmtime::Val> = args
            .iter()
            .map(|a| match *a {
                Val::I32(v) => wasmtime::Val::I32(v),
                Val::I64(v) => wasmtime::Val::I64(v),
                Val::F64(v) => wasmtime::Val::F64(v),
            })
            .collect();
        let mut results = vec![wasmtime::Val::I32(0); func.ty(&self.store).results().len()];
        func.call(&mut self.store, &args, &mut results).map_err(|e| anyhow!("{e:#}"))?;
        results
            .into_iter()
            .map(|r| match r {
                wasmtime::Val::I32(v) => Ok(Val::I32(v)),
                wasmtime::Val::I64(v) => Ok(Val::I64(v)),
                wasmtime::Val::F64(v) => Ok(Val::F64(v)),
                other => Err(anyhow!("unexpected result {other:?}")),
            })
            .collect()
    }
    fn consumed(&self) -> Result<Option<u64>> {
        match self.mode {
            Mode::Metered => {
                let left = self.store.get_fuel().map_err(|e| anyhow!("{e:#}"))?;
                Ok(Some(FUEL - left))
            }
            _ => Ok(None),
        }
    }
}
