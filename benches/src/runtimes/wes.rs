//! WES: wes-decode, then wes-runtime with the Cranelift backend (wes-jit) or the interpreter
//! (wes-interp); unmetered, or gas-metered under wes-meter's default pricing.

use anyhow::{Context, Result, anyhow};
use wes_core::Value;
use wes_runtime::{Caller, Engine, HostError, InstancePre, Linker, Module, Store};

use crate::workloads::Kind;

use super::{Compiled, Entry, FUEL, Family, Mode, Running, Runtime, Val};

pub struct Wes {
    label: String,
    mode: Mode,
    family: Family,
    engine: Engine,
    /// Shown in the first-result workload only.
    first_result_only: bool,
}

impl Wes {
    pub fn unmetered() -> Entry {
        Wes::with_gas("WES", Mode::Unmetered)
    }

    /// Unmetered WES with explicit bounds checks (`[performance] bounds_checks = "explicit"`):
    /// beside `WES` (guard regions, the default on x86-64 Linux), what the checks cost.
    pub fn explicit() -> Entry {
        Wes::bounds("WES (explicit)", Mode::Unmetered)
    }

    /// Gas-metered WES with explicit bounds checks.
    pub fn metered_explicit() -> Entry {
        Wes::bounds("WES (gas, explicit)", Mode::Metered)
    }

    fn bounds(label: &str, mode: Mode) -> Entry {
        let mut config = wes::RuntimeConfig::default();
        config.gas.metered = mode == Mode::Metered;
        config.performance.bounds_checks = wes::BoundsChecks::Explicit;
        let engine = config.engine().map_err(|e| (label.to_string(), e.to_string()))?;
        Ok(Box::new(Wes { label: label.to_string(), mode, family: Family::Wes, engine, first_result_only: false }))
    }

    /// Gas-metered WES under the default pricing: the JIT charges each straight-line segment
    /// up front, and every store gets a meter holding [`FUEL`] gas.
    pub fn metered() -> Entry {
        Wes::with_gas("WES (gas)", Mode::Metered)
    }

    /// Metered WES that also counts the operators it executes (`[monitoring] count_operators`):
    /// beside `WES (gas)`, the cost of counting.
    pub fn metered_counting() -> Entry {
        let label = "WES (gas, ops)";
        let mut config = wes::RuntimeConfig::default();
        config.gas.metered = true;
        config.monitoring.count_operators = true;
        let engine = config.engine().map_err(|e| (label.to_string(), e.to_string()))?;
        Ok(Box::new(Wes {
            label: label.to_string(),
            mode: Mode::Metered,
            family: Family::Wes,
            engine,
            first_result_only: false,
        }))
    }

    /// The interpreter translating every function when the module is loaded, as wasmi's eager
    /// rows do: its compile row is translation throughput.
    pub fn interp_eager() -> Entry {
        Wes::interp("WES interp (eager)", Mode::Unmetered, wes::Translation::Eager)
    }

    /// The metered interpreter translating each function on its first call (its default):
    /// its compile row is validation alone, and bytes-to-first-result is what a user waits.
    pub fn interp_metered() -> Entry {
        Wes::interp("WES interp (gas, lazy)", Mode::Metered, wes::Translation::Lazy)
    }

    /// The metered interpreter translating each function on its first call and ahead of it
    /// on the other cores (`translation = "background"`), in the first-result rows only: the
    /// module's first call reaches nearly every function, which the idle core translates
    /// meanwhile. The other workloads translate before they are timed, as the lazy row does.
    pub fn interp_background() -> Entry {
        let mut row = Wes::interp_row("WES interp (gas, background)", Mode::Metered, wes::Translation::Background)?;
        row.first_result_only = true;
        Ok(Box::new(row))
    }

    fn with_gas(label: &str, mode: Mode) -> Entry {
        let engine = engine(label, mode)?;
        Ok(Box::new(Wes { label: label.to_string(), mode, family: Family::Wes, engine, first_result_only: false }))
    }

    fn interp(label: &str, mode: Mode, translation: wes::Translation) -> Entry {
        Ok(Box::new(Wes::interp_row(label, mode, translation)?))
    }

    fn interp_row(label: &str, mode: Mode, translation: wes::Translation) -> Result<Wes, (String, String)> {
        let mut config = wes::RuntimeConfig::default();
        config.gas.metered = mode == Mode::Metered;
        config.performance.backend = wes::BackendKind::Interp;
        config.performance.translation = translation;
        let engine = config.engine().map_err(|e| (label.to_string(), e.to_string()))?;
        Ok(Wes { label: label.to_string(), mode, family: Family::WesInterp, engine, first_result_only: false })
    }
}

/// A WES engine as an embedder gets it: from the facade's configuration, the one place WES
/// puts an engine together (pricing set once for the code and the runtime). The pooled rows
/// use it too.
pub fn engine(label: &str, mode: Mode) -> Result<Engine, (String, String)> {
    let mut config = wes::RuntimeConfig::default();
    config.gas.metered = mode == Mode::Metered;
    config.engine().map_err(|e| (label.to_string(), e.to_string()))
}

impl Runtime for Wes {
    fn label(&self) -> &str {
        &self.label
    }
    fn family(&self) -> Family {
        self.family
    }
    fn mode(&self) -> Mode {
        self.mode
    }
    fn runs(&self, kind: &Kind) -> bool {
        !self.first_result_only || matches!(kind, Kind::FirstResult)
    }
    fn compile(&self, wasm: &[u8]) -> Result<Box<dyn Compiled>> {
        let decoded = wes_decode::decode(wasm).context("decode")?;
        let module = Module::new(&self.engine, decoded).context("compile")?;
        let mut linker = Linker::new();
        linker.func_wrap("env", "inc", |_: &mut Caller<'_>, (x,): (i64,)| -> Result<i64, HostError> {
            Ok(x.wrapping_add(1))
        });
        super::wasi::link_wes(&mut linker);
        let pre = linker.instantiate_pre(&module).context("link")?;
        Ok(Box::new(WesCompiled { metered: self.mode == Mode::Metered, engine: self.engine.clone(), pre }))
    }
}

struct WesCompiled {
    metered: bool,
    engine: Engine,
    /// Imports resolved once per module, as with wasmtime's `InstancePre`.
    pre: InstancePre,
}

impl Compiled for WesCompiled {
    fn instantiate(&self) -> Result<Box<dyn Running>> {
        let mut store = Store::new(&self.engine);
        if self.metered {
            store.set_meter(Box::new(wes_meter::BasicMeter::new(FUEL)));
        }
        let instance = self.pre.instantiate(&mut store).context("instantiate")?;
        Ok(Box::new(WesRunning { store, instance, metered: self.metered }))
    }
}

struct WesRunning {
    metered: bool,
    store: Store,
    instance: wes_runtime::Instance,
}

impl Running for WesRunning {
    fn call(&mut self, name: &str, args: &[Val]) -> Result<Vec<Val>> {
        let func = self.instance.get_func(&self.store, name).ok_or_else(|| anyhow!("no export {name}"))?;
        let args: Vec<Value> = args
            .iter()
            .map(|a| match *a {
                Val::I32(v) => Value::I32(v),
                Val::I64(v) => Value::I64(v),
                Val::F64(v) => Value::F64(v),
            })
            .collect();
        let results = func.call(&mut self.store, &args)?;
        results
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
        let meter = self.store.meter().ok_or_else(|| anyhow!("the meter is gone"))?;
        Ok(Some(meter.used()))
    }
}
