//! WES with an instance pool (wes-lifecycle): "instantiate" checks a warm instance out of the
//! module's pool, and dropping it checks it back in, reset to its post-instantiation state.
//! The counterpart of wasmtime's pooling allocator, one level up: no instantiation at all.

use std::sync::Arc;

use anyhow::{Context, Result, anyhow};
use wes_core::Value;
use wes_lifecycle::{InstanceFactory, InstancePool, Lease, PoolConfig, PoolStrategy, SystemClock};
use wes_runtime::{Caller, Engine, HostError, Linker, Module};

use super::{Compiled, Entry, FUEL, Family, Mode, Running, Runtime, Val};

pub struct WesPool {
    label: String,
    mode: Mode,
    engine: Engine,
}

impl WesPool {
    pub fn unmetered() -> Entry {
        WesPool::with_gas("WES (pool)", Mode::Unmetered)
    }

    pub fn metered() -> Entry {
        WesPool::with_gas("WES (gas, pool)", Mode::Metered)
    }

    fn with_gas(label: &str, mode: Mode) -> Entry {
        let engine = super::wes::engine(label, mode)?;
        Ok(Box::new(WesPool { label: label.to_string(), mode, engine }))
    }
}

impl Runtime for WesPool {
    fn label(&self) -> &str {
        &self.label
    }
    fn family(&self) -> Family {
        Family::Wes
    }
    fn mode(&self) -> Mode {
        self.mode
    }
    fn pooling(&self) -> bool {
        true
    }
    fn compile(&self, wasm: &[u8]) -> Result<Box<dyn Compiled>> {
        let module = Module::new(&self.engine, wes_decode::decode(wasm).context("decode")?).context("compile")?;
        let mut linker = Linker::new();
        linker.func_wrap("env", "inc", |_: &mut Caller<'_>, (x,): (i64,)| -> Result<i64, HostError> {
            Ok(x.wrapping_add(1))
        });
        super::wasi::link_wes(&mut linker);
        let mut factory = InstanceFactory::new(&self.engine, &linker, &module)?;
        let metered = self.mode == Mode::Metered;
        if metered {
            factory = factory.with_store_setup(|store| {
                store.set_meter(Box::new(wes_meter::BasicMeter::new(FUEL)));
            });
        }
        // The harness keeps one instance for the check while it times fresh ones.
        let config = PoolConfig { strategy: PoolStrategy::Dynamic { min: 0, max: 4 }, ..PoolConfig::default() };
        let pool = InstancePool::new(factory, config, Arc::new(SystemClock::new()))?;
        Ok(Box::new(PoolCompiled { pool, metered }))
    }
}

struct PoolCompiled {
    pool: InstancePool,
    metered: bool,
}

impl Compiled for PoolCompiled {
    fn instantiate(&self) -> Result<Box<dyn Running>> {
        Ok(Box::new(PoolRunning { lease: self.pool.checkout()?, metered: self.metered }))
    }
}

struct PoolRunning {
    lease: Lease,
    metered: bool,
}

impl Running for PoolRunning {
    fn call(&mut self, name: &str, args: &[Val]) -> Result<Vec<Val>> {
        let args: Vec<Value> = args
            .iter()
            .map(|a| match *a {
                Val::I32(v) => Value::I32(v),
                Val::I64(v) => Value::I64(v),
                Val::F64(v) => Value::F64(v),
            })
            .collect();
        self.lease
            .call(name, &args)?
            .into_iter()
            .map(|r| match r {
                Value::I32(v) => Ok(Val::I32(v)),
                Value::I64(v) => Ok(Val::I64(v)),
                Value::F64(v) => Ok(Val::F64(v)),
                other => Err(anyhow!("unexpected result {other:?}")),
            })
            .collect()
    }
    fn consumed(&self) -> Result<Option<u64>> {
        if !self.metered {
            return Ok(None);
        }
        let meter = self.lease.store().meter().ok_or_else(|| anyhow!("the meter is gone"))?;
        Ok(Some(meter.used()))
    }
}
