//! [`Runtime`], [`LoadedModule`] and [`Instance`]: load, instantiate, execute, destroy,
//! metrics and diagnosis.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use sha2::{Digest, Sha256};
use wes_core::{TrapCode, Value};
use wes_meter::{BasicMeter, GasMeter};
use wes_runtime::{Engine, Linker, Store};

use crate::config::RuntimeConfig;
use crate::encoding::Encoding;
use crate::error::{Diagnosis, ErrorCode, ErrorKind, RuntimeError};
use crate::host::HostState;
use crate::result::{ExecutionResult, GasReport, MemoryReport};
use wes_metrics::{CallRecord, CompileRecord, MetricsCollector, MetricsSnapshot, Registry};

/// A configured WES: an engine built from a [`RuntimeConfig`], the host functions modules may
/// import, and counters. Load modules and create instances through it; share it by reference
/// between threads (each instance is used by one thread at a time).
#[derive(Debug)]
pub struct Runtime {
    config: RuntimeConfig,
    engine: Engine,
    linker: Linker,
    encoding: Encoding,
    monitor: Arc<Monitor>,
    next_instance: AtomicU64,
}

/// A module decoded, validated and compiled by a [`Runtime`]; cheap to clone, shareable
/// between threads, instantiable any number of times.
#[derive(Clone, Debug)]
pub struct LoadedModule {
    module: wes_runtime::Module,
    hash: Arc<str>,
}

impl LoadedModule {
    /// SHA-256 of the module's bytes, in hex.
    pub fn hash(&self) -> &str {
        &self.hash
    }

    /// The validated module: imports, exports, types.
    pub fn module(&self) -> &wes_core::Module {
        self.module.module()
    }
}

/// An instance of a module with its own store and gas meter, made by
/// [`Runtime::create_instance`].
pub struct Instance {
    id: u64,
    store: Store,
    instance: wes_runtime::Instance,
    hash: Arc<str>,
    encoding: Encoding,
    monitor: Arc<Monitor>,
    /// The shortfall of the charge that ran out of gas, recorded by the store's handler.
    shortfall: Arc<AtomicU64>,
    depth_limits: (u32, u32),
}

impl std::fmt::Debug for Instance {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Instance").field("id", &self.id).field("module", &self.hash).finish_non_exhaustive()
    }
}

/// Where the runtime reports what it does: its own registry (unless `monitoring.metrics` is
/// off) and any collectors the embedder added.
#[derive(Clone, Debug, Default)]
struct Monitor {
    registry: Option<Arc<Registry>>,
    extra: Vec<Arc<dyn MetricsCollector>>,
}

impl Monitor {
    fn each(&self, f: impl Fn(&dyn MetricsCollector)) {
        if let Some(r) = &self.registry {
            f(r.as_ref());
        }
        for c in &self.extra {
            f(c.as_ref());
        }
    }
}

impl Runtime {
    /// A runtime as `config` describes, with the `wes.log` capability linked.
    ///
    /// # Errors
    ///
    /// [`ErrorCode::Config`] when the pricing or the backend cannot be made.
    pub fn new(config: RuntimeConfig) -> Result<Runtime, RuntimeError> {
        let engine = config.engine()?;
        let mut linker = Linker::new();
        linker.func_wrap("wes", "log", crate::host::log_capability);
        let registry = config.monitoring.metrics.then(|| Arc::new(Registry::new(config.monitoring.sample_every)));
        let monitor = Arc::new(Monitor { registry, extra: Vec::new() });
        Ok(Runtime {
            encoding: config.data.encoding,
            config,
            engine,
            linker,
            monitor,
            next_instance: AtomicU64::new(1),
        })
    }

    /// The configuration the runtime was made from.
    pub fn config(&self) -> &RuntimeConfig {
        &self.config
    }

    /// The engine, for an embedder that needs the lower layers ([`wes_runtime`]) directly.
    pub fn engine(&self) -> &Engine {
        &self.engine
    }

    /// The host functions and items modules may import.
    pub fn linker(&self) -> &Linker {
        &self.linker
    }

    /// The host functions and items modules may import, to add to. Define the embedder's host functions
    /// here before creating instances (`wes.log` is already defined).
    pub fn linker_mut(&mut self) -> &mut Linker {
        &mut self.linker
    }

    /// Decodes, validates and compiles a module from its binary or text form.
    ///
    /// # Errors
    ///
    /// [`ErrorCode::InvalidModule`] for bytes that are not a valid module,
    /// [`ErrorCode::CompileFailed`] or [`ErrorCode::ResourceLimit`] when the backend fails.
    pub fn load(&self, bytes: &[u8]) -> Result<LoadedModule, RuntimeError> {
        let start = Instant::now();
        let hash: Arc<str> = Sha256::digest(bytes).iter().map(|b| format!("{b:02x}")).collect::<String>().into();
        let _span = tracing::info_span!("wes.load", module = %hash, bytes = bytes.len()).entered();
        let with_hash = |mut e: RuntimeError| {
            e.context_mut().module_hash = Some(hash.to_string());
            e
        };
        let decoded = tracing::info_span!("wes.decode").in_scope(|| wes_decode::decode_any(bytes));
        let loaded = decoded.map_err(RuntimeError::from).and_then(|m| {
            let _span = tracing::info_span!("wes.compile", functions = m.bodies.len()).entered();
            wes_runtime::Module::new(&self.engine, m).map_err(RuntimeError::from)
        });
        if let Err(e) = &loaded {
            tracing::info!(code = %e.code(), "module refused");
        }
        let record = CompileRecord { bytes: bytes.len() as u64, duration: start.elapsed(), failed: loaded.is_err() };
        self.monitor.each(|c| c.module_loaded(&record));
        Ok(LoadedModule { module: loaded.map_err(with_hash)?, hash })
    }

    /// A gas meter of `limit` (clamped to `gas.max_limit`) with the configured refund policy,
    /// for [`Runtime::create_instance`].
    pub fn gas_meter(&self, limit: u64) -> Box<dyn GasMeter> {
        let limit = limit.min(self.config.gas.max_limit);
        Box::new(BasicMeter::new(limit).with_refund_policy(self.config.refund_policy()))
    }

    /// A gas meter of the configured `gas.default_limit`.
    pub fn default_gas_meter(&self) -> Box<dyn GasMeter> {
        self.gas_meter(self.config.gas.default_limit)
    }

    /// Instantiates `module` in a store of its own, drawing gas from `meter` for its start
    /// function and every later call.
    ///
    /// # Errors
    ///
    /// [`ErrorCode::UnknownImport`] / [`ErrorCode::IncompatibleImport`] when an import is not
    /// linked as the module expects, a trap of the start function or of segment
    /// initialisation, [`ErrorCode::ResourceLimit`] when a memory or table is too large.
    pub fn create_instance(&self, module: &LoadedModule, meter: Box<dyn GasMeter>) -> Result<Instance, RuntimeError> {
        let id = self.next_instance.fetch_add(1, Ordering::Relaxed);
        let _span = tracing::info_span!("wes.instantiate", module = %module.hash, instance = id).entered();
        let mut store = Store::new(&self.engine);
        store.set_meter(meter);
        store.set_data(HostState::default());
        let shortfall = Arc::new(AtomicU64::new(0));
        let seen = Arc::clone(&shortfall);
        store.set_out_of_gas_handler(move |_, needed| {
            seen.store(needed, Ordering::Relaxed);
            false
        });
        let instance = self.linker.instantiate(&mut store, &module.module).map_err(|e| {
            let linked = match &e {
                wes_runtime::RuntimeError::UnknownImport { module, .. }
                | wes_runtime::RuntimeError::IncompatibleImport { module, .. } => Some(self.linker.names_in(module)),
                _ => None,
            };
            let mut e = RuntimeError::from(e);
            e.facts_mut().linked = linked;
            e.context_mut().module_hash = Some(module.hash.to_string());
            e.context_mut().instance_id = Some(id);
            e
        })?;
        self.monitor.each(|c| c.instance_created());
        let config = self.engine.config();
        Ok(Instance {
            id,
            store,
            instance,
            hash: Arc::clone(&module.hash),
            encoding: self.encoding,
            monitor: Arc::clone(&self.monitor),
            shortfall,
            depth_limits: (config.max_call_depth, config.max_host_reentry),
        })
    }

    /// Destroys an instance, freeing its store (dropping it does the same).
    pub fn destroy_instance(&self, instance: Instance) {
        drop(instance);
    }

    /// Adds a collector that gets every record the runtime makes from now on, besides its own
    /// registry (instances created earlier keep reporting where they did).
    pub fn add_collector(&mut self, collector: Arc<dyn MetricsCollector>) {
        let mut monitor = Monitor::clone(&self.monitor);
        monitor.extra.push(collector);
        self.monitor = Arc::new(monitor);
    }

    /// The counts of the runtime's registry (all zero when `monitoring.metrics` is off).
    pub fn metrics(&self) -> MetricsSnapshot {
        self.monitor.registry.as_ref().map(|r| r.snapshot()).unwrap_or_default()
    }

    /// The registry in the Prometheus text exposition format (empty when `monitoring.metrics`
    /// is off), for a `/metrics` endpoint.
    pub fn metrics_prometheus(&self) -> String {
        self.monitor.registry.as_ref().map(|r| r.encode_prometheus()).unwrap_or_default()
    }

    /// The registry's counts as JSON.
    pub fn metrics_json(&self) -> String {
        self.monitor.registry.as_ref().map(|r| r.encode_json()).unwrap_or_default()
    }

    /// The cause of `error` and a concrete suggestion for it.
    pub fn diagnose(&self, error: &RuntimeError) -> Diagnosis {
        crate::error::diagnose(error)
    }
}

impl Drop for Instance {
    fn drop(&mut self) {
        self.monitor.each(|c| c.instance_destroyed());
    }
}

impl Instance {
    /// The instance's id in its runtime.
    pub fn id(&self) -> u64 {
        self.id
    }

    /// Attaches the embedder's data, for host functions (see [`crate::host::data`]).
    pub fn set_data<T: std::any::Any + Send>(&mut self, data: T) {
        if let Some(s) = self.store.data_mut::<HostState>() {
            s.user = Some(Box::new(data));
        }
    }

    /// The embedder's data, if it is a `T`.
    pub fn data_mut<T: std::any::Any>(&mut self) -> Option<&mut T> {
        self.store.data_mut::<HostState>()?.user.as_mut()?.downcast_mut()
    }

    /// Gas the instance's meter has left.
    pub fn gas_remaining(&self) -> u64 {
        self.store.meter().map_or(0, |m| m.remaining())
    }

    /// Reads `buf.len()` bytes at `offset` of the instance's memory 0.
    ///
    /// # Errors
    ///
    /// [`ErrorCode::ResourceLimit`] when the instance has no memory or the range is outside it.
    pub fn read_memory(&self, offset: u64, buf: &mut [u8]) -> Result<(), RuntimeError> {
        let data = self.memory_data()?;
        let range = range(offset, buf.len(), data.len())?;
        buf.copy_from_slice(&data[range]);
        Ok(())
    }

    /// Writes `data` at `offset` of the instance's memory 0.
    ///
    /// # Errors
    ///
    /// [`ErrorCode::ResourceLimit`] when the instance has no memory or the range is outside it.
    pub fn write_memory(&mut self, offset: u64, data: &[u8]) -> Result<(), RuntimeError> {
        let memory = self.instance.memory(&self.store, 0).ok_or_else(no_memory)?;
        let mem = memory.data_mut(&mut self.store)?;
        let range = range(offset, data.len(), mem.len())?;
        mem[range].copy_from_slice(data);
        Ok(())
    }

    fn memory_data(&self) -> Result<&[u8], RuntimeError> {
        let memory = self.instance.memory(&self.store, 0).ok_or_else(no_memory)?;
        Ok(memory.data(&self.store)?)
    }

    fn memory_pages(&self) -> u64 {
        self.instance.memory(&self.store, 0).and_then(|m| m.size(&self.store).ok()).unwrap_or(0)
    }

    /// Calls export `name` with `args`.
    ///
    /// A call that runs gives an [`ExecutionResult`] whether it returns or traps (then with
    /// `success == false` and the error, and the gas it used up to the trap); `Err` means the
    /// call could not start.
    ///
    /// # Errors
    ///
    /// [`ErrorCode::NoSuchExport`] when there is no exported function `name`,
    /// [`ErrorCode::BadArguments`] when `args` do not match its parameters.
    pub fn execute(&mut self, name: &str, args: &[Value]) -> Result<ExecutionResult, RuntimeError> {
        let _span = tracing::info_span!("wes.call", module = %self.hash, export = name, instance = self.id).entered();
        let context = |mut e: RuntimeError, id: u64, hash: &str| {
            let c = e.context_mut();
            c.export = Some(name.to_string());
            c.instance_id = Some(id);
            c.module_hash = Some(hash.to_string());
            e
        };
        let Some(func) = self.instance.get_func(&self.store, name) else {
            let e = RuntimeError::new(
                ErrorKind::Validation,
                ErrorCode::NoSuchExport,
                format!("no exported function `{name}`"),
            );
            return Err(context(e, self.id, &self.hash));
        };
        // The arguments are type-checked by the call itself (a mismatch comes back as
        // `BadArguments` below, before anything ran); checking them here too would clone the
        // function's type on every call.
        let meter = |s: &Store| s.meter().map_or((0, 0, 0), |m| (m.consumed(), m.refunded(), m.remaining()));
        let (consumed0, refunded0, remaining0) = meter(&self.store);
        let stats0 = self.store.stats();
        let pages0 = self.memory_pages();
        if let Some(s) = self.store.data_mut::<HostState>() {
            s.logs.clear();
            s.log_bytes = 0;
            s.effects.clear();
        }
        self.shortfall.store(0, Ordering::Relaxed);

        let start = Instant::now();
        let outcome = func.call(&mut self.store, args);
        let duration = start.elapsed();

        let (consumed1, refunded1, remaining) = meter(&self.store);
        let stats1 = self.store.stats();
        let pages1 = self.memory_pages();
        let (logs, side_effects) = match self.store.data_mut::<HostState>() {
            Some(s) => (std::mem::take(&mut s.logs), std::mem::take(&mut s.effects)),
            None => (Vec::new(), Vec::new()),
        };
        let consumed = consumed1.saturating_sub(consumed0);
        let refunded = refunded1.saturating_sub(refunded0);
        let gas = GasReport {
            limit: self.store.meter().map_or(0, |m| m.limit()),
            consumed,
            refunded,
            used: consumed.saturating_sub(refunded),
            remaining,
        };
        let host_calls = stats1.host_calls.saturating_sub(stats0.host_calls);
        let memory = MemoryReport {
            initial_pages: pages0,
            peak_pages: pages1.max(pages0),
            final_pages: pages1,
            growths: stats1.memory_grows.saturating_sub(stats0.memory_grows),
        };

        let (values, error) = match outcome {
            Ok(values) => (values, None),
            Err(e @ wes_runtime::RuntimeError::Trap(_)) => {
                let mut e = context(RuntimeError::from(e), self.id, &self.hash);
                match e.trap_code() {
                    Some(TrapCode::OutOfGas) => {
                        e.facts_mut().gas = Some((remaining0, consumed, self.shortfall.load(Ordering::Relaxed)));
                    }
                    Some(TrapCode::CallStackExhausted) => e.facts_mut().depth = Some(self.depth_limits),
                    _ => {}
                }
                (Vec::new(), Some(e))
            }
            Err(other) => return Err(context(other.into(), self.id, &self.hash)),
        };
        let record = CallRecord {
            duration,
            gas_used: gas.used,
            trap: error.as_ref().and_then(RuntimeError::trap_code).map(TrapCode::name),
            memory_initial_pages: memory.initial_pages,
            memory_peak_pages: memory.peak_pages,
            memory_grows: memory.growths,
            host_calls,
        };
        self.monitor.each(|c| c.call_finished(&record));
        tracing::info!(gas_used = gas.used, trap = record.trap, "call finished");
        Ok(ExecutionResult {
            success: error.is_none(),
            values,
            encoding: self.encoding,
            gas,
            memory,
            duration,
            host_calls,
            logs,
            side_effects,
            error,
        })
    }
}

fn no_memory() -> RuntimeError {
    RuntimeError::new(ErrorKind::Memory, ErrorCode::ResourceLimit, "the instance has no memory")
}

fn range(offset: u64, len: usize, size: usize) -> Result<std::ops::Range<usize>, RuntimeError> {
    let end = usize::try_from(offset).ok().and_then(|s| s.checked_add(len).map(|e| (s, e)));
    match end {
        Some((s, e)) if e <= size => Ok(s..e),
        _ => Err(RuntimeError::new(
            ErrorKind::Memory,
            ErrorCode::MemoryOutOfBounds,
            format!("{len} bytes at {offset} are outside a memory of {size} bytes"),
        )),
    }
}
