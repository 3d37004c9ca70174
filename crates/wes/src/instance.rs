//! [`Instance`]: a module instantiated for one user, with its gas meter: execute, read the
//! result, destroy. Fresh, in a store of its own, or checked out of its module's pool.

use std::sync::Arc;
use wes_core::{TrapCode, Value};
use wes_lifecycle::Lease;
use wes_meter::GasFigures;
use wes_runtime::Store;
use wes_security::{Invocation, ModuleHash, SecurityManager, Session};

use crate::config::AdmissionKind;
use crate::encoding::Encoding;
use crate::error::{ErrorCode, ErrorKind, RuntimeError};
use crate::host::HostState;
use crate::predict::{Analysis, Predictions};
use crate::result::{ExecutionResult, GasReport, MemoryReport};
use crate::runtime::Monitor;
use wes_metrics::CallRecord;

/// An instance of a module with its gas meter, made by
/// [`Runtime::create_instance`](crate::Runtime::create_instance).
pub struct Instance {
    pub(crate) id: u64,
    pub(crate) slot: Slot,
    /// The module's SHA-256 (copied: an `Arc` of its text would be two locked operations per
    /// instance); spelled out only for errors, traces and predictions.
    pub(crate) hash: ModuleHash,
    pub(crate) encoding: Encoding,
    /// The runtime's metrics and clock.
    pub(crate) monitor: Arc<Monitor>,
    /// The security layer and this instance's session, when the runtime has one.
    pub(crate) security: Option<(Arc<SecurityManager>, Arc<Session>)>,
    /// What admission and history need, when `[gas.prediction]` uses either (boxed: an
    /// instance is moved by value a few times per use, and most have none).
    pub(crate) prediction: Option<Box<Predicting>>,
    /// Profile every call (`monitoring.profile`).
    pub(crate) profile: bool,
    /// The instance's memory 0, looked up once: every call reads its size twice.
    pub(crate) memory: Option<wes_runtime::Memory>,
}

/// An instance's link to its runtime's predictions.
#[derive(Debug)]
pub(crate) struct Predicting {
    pub(crate) predictions: Arc<Predictions>,
    /// The module's hash as predictions key it.
    pub(crate) hash: Arc<str>,
    pub(crate) analysis: Arc<Analysis>,
    pub(crate) module: wes_runtime::Module,
}

/// Where an instance lives.
pub(crate) enum Slot {
    /// In a store of its own, freed with it.
    Own { store: Store, instance: wes_runtime::Instance },
    /// Checked out of its module's pool; back to it, reset, when dropped.
    Pooled(Lease),
}

impl std::fmt::Debug for Instance {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let pooled = matches!(self.slot, Slot::Pooled(_));
        f.debug_struct("Instance")
            .field("id", &self.id)
            .field("module", &self.hash.to_hex())
            .field("pooled", &pooled)
            .finish_non_exhaustive()
    }
}

impl Instance {
    fn store(&self) -> &Store {
        match &self.slot {
            Slot::Own { store, .. } => store,
            Slot::Pooled(lease) => lease.store(),
        }
    }

    fn store_mut(&mut self) -> &mut Store {
        match &mut self.slot {
            Slot::Own { store, .. } => store,
            Slot::Pooled(lease) => lease.store_mut(),
        }
    }

    fn instance(&self) -> wes_runtime::Instance {
        match &self.slot {
            Slot::Own { instance, .. } => *instance,
            Slot::Pooled(lease) => lease.instance(),
        }
    }
}

impl Drop for Instance {
    fn drop(&mut self) {
        if let Slot::Pooled(lease) = &mut self.slot {
            // The pool resets the wasm state on check-in; what the facade keeps in the store
            // is cleared here, so the next user starts clean (the session stays: it is the
            // instance's, and budgets restart with each call).
            let store = lease.store_mut();
            store.take_meter();
            if let Some(state) = store.data_mut::<HostState>() {
                state.clear();
            }
        }
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
        if let Some(s) = self.store_mut().data_or_insert_with(HostState::default) {
            s.user = Some(Box::new(data));
        }
    }

    /// The embedder's data, if it is a `T`.
    pub fn data_mut<T: std::any::Any>(&mut self) -> Option<&mut T> {
        self.store_mut().data_mut::<HostState>()?.user.as_mut()?.downcast_mut()
    }

    /// The names of the instance's exports, in the module's order.
    pub fn export_names(&self) -> Vec<String> {
        self.instance().exports(self.store()).into_iter().map(|(name, _)| name).collect()
    }

    /// The type of exported function `name`.
    ///
    /// # Errors
    ///
    /// [`ErrorCode::NoSuchExport`] when there is no export `name` or it is not a function.
    pub fn func_type(&self, name: &str) -> Result<wes_core::FuncType, RuntimeError> {
        let func = self.instance().get_func(self.store(), name).ok_or_else(|| {
            let what = match self.instance().get_export(self.store(), name) {
                Some(_) => format!("export `{name}` is not a function"),
                None => format!("no exported function `{name}`"),
            };
            RuntimeError::new(ErrorKind::Validation, ErrorCode::NoSuchExport, what)
        })?;
        Ok(func.ty(self.store())?)
    }

    /// Gas the instance's meter has left.
    pub fn gas_remaining(&self) -> u64 {
        self.store().meter().map_or(0, |m| m.remaining())
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
        let memory = self.memory.ok_or_else(no_memory)?;
        let mem = memory.data_mut(self.store_mut())?;
        let range = range(offset, data.len(), mem.len())?;
        mem[range].copy_from_slice(data);
        Ok(())
    }

    fn memory_data(&self) -> Result<&[u8], RuntimeError> {
        let memory = self.memory.ok_or_else(no_memory)?;
        Ok(memory.data(self.store())?)
    }

    fn memory_pages(&self) -> u64 {
        self.memory.and_then(|m| m.size(self.store()).ok()).unwrap_or(0)
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
        // Only prediction reads the input size.
        let input_size = match self.prediction {
            Some(_) => args.iter().map(value_bytes).sum::<u64>(),
            None => 0,
        };
        self.execute_sized(name, args, input_size)
    }

    /// [`Instance::execute`], telling the runtime's prediction how big the call's input is
    /// (`input_size`, in whatever measure suits the embedder, such as the bytes of the message
    /// written to memory before the call): calls are recorded with it for estimates
    /// (`gas.prediction.record_history`), and admission (`gas.prediction.admission`) predicts
    /// with it. [`Instance::execute`] passes the bytes of its arguments.
    ///
    /// # Errors
    ///
    /// As [`Instance::execute`], and [`ErrorCode::Unaffordable`] when admission refuses the
    /// call before it starts (nothing runs, no gas is used).
    pub fn execute_sized(
        &mut self,
        name: &str,
        args: &[Value],
        input_size: u64,
    ) -> Result<ExecutionResult, RuntimeError> {
        let _span =
            tracing::info_span!("wes.call", module = %self.hash.to_hex(), export = name, instance = self.id).entered();
        let context = |mut e: RuntimeError, id: u64, hash: &ModuleHash| {
            let c = e.context_mut();
            c.export = Some(name.to_string());
            c.instance_id = Some(id);
            c.module_hash = Some(hash.to_hex());
            e
        };
        let Some(func) = self.instance().get_func(self.store(), name) else {
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
        // One call through the meter's `dyn` each side of the call, not one per figure.
        let meter = |s: &Store| s.meter().map_or(GasFigures::default(), |m| m.figures());
        let gas0 = meter(self.store());
        let remaining0 = gas0.remaining;
        let stats0 = self.store().stats();
        let pages0 = self.memory_pages();
        if let Some(s) = self.store_mut().data_mut::<HostState>() {
            s.logs.clear();
            s.log_bytes = 0;
            s.effects.clear();
        }
        if let Some(p) = &self.prediction
            && p.predictions.config.admission != AdmissionKind::Off
        {
            let predicted = p.predictions.predict(p.module.module(), &p.analysis, &p.hash, name, input_size);
            wes_meter::admit(&predicted, remaining0, p.predictions.config.admission())
                .map_err(|e| context(e.into(), self.id, &self.hash))?;
        }
        if let Some((security, session)) = &self.security {
            security.begin_invocation(session).map_err(|e| context(e.into(), self.id, &self.hash))?;
        }

        let profiling = self.profile;
        if profiling {
            self.store_mut().start_profile();
        }
        // Two reads of the time-stamp counter (about a third of two `Instant::now` here),
        // scaled to time once.
        let start = self.monitor.clock.raw();
        let outcome = func.call(self.store_mut(), args);
        let clock = &self.monitor.clock;
        let duration = clock.delta(start, clock.raw());
        let profile = if profiling { self.store_mut().take_profile() } else { None };

        let gas1 = meter(self.store());
        let stats1 = self.store().stats();
        let pages1 = self.memory_pages();
        let (logs, side_effects) = match self.store_mut().data_mut::<HostState>() {
            Some(s) => (std::mem::take(&mut s.logs), std::mem::take(&mut s.effects)),
            None => (Vec::new(), Vec::new()),
        };
        let consumed = gas1.consumed.saturating_sub(gas0.consumed);
        let refunded = gas1.refunded.saturating_sub(gas0.refunded);
        let gas = GasReport {
            limit: gas1.limit,
            consumed,
            refunded,
            used: consumed.saturating_sub(refunded),
            remaining: gas1.remaining,
        };
        let host_calls = stats1.host_calls.saturating_sub(stats0.host_calls);
        // The store's counter only grows (wrapping), so the difference is this call's.
        let operators = stats1.operators_executed.wrapping_sub(stats0.operators_executed);
        let operators_executed = self.store().engine().config().count_operators.then_some(operators);
        let memory = MemoryReport {
            initial_pages: pages0,
            peak_pages: pages1.max(pages0),
            final_pages: pages1,
            growths: stats1.memory_grows.saturating_sub(stats0.memory_grows),
        };

        let (values, mut error) = match outcome {
            Ok(values) => (values, None),
            Err(e @ wes_runtime::RuntimeError::Trap(_)) => {
                let mut e = context(RuntimeError::from(e), self.id, &self.hash);
                match e.trap_code() {
                    Some(TrapCode::OutOfGas) => {
                        e.facts_mut().gas = Some((remaining0, consumed, stats1.last_shortfall));
                    }
                    Some(TrapCode::CallStackExhausted) => {
                        let config = self.store().engine().config();
                        e.facts_mut().depth = Some((config.max_call_depth, config.max_host_reentry));
                    }
                    _ => {}
                }
                (Vec::new(), Some(e))
            }
            Err(other) => return Err(context(other.into(), self.id, &self.hash)),
        };
        if let Some((security, session)) = &self.security {
            let seen = Invocation {
                host_calls: stats1.host_calls.saturating_sub(stats0.host_calls),
                pages_grown: pages1.saturating_sub(pages0),
                trap: error.as_ref().and_then(RuntimeError::trap_code),
            };
            match security.end_invocation(session, &seen) {
                Ok(None) => {}
                // A host call was refused: the call trapped because of that decision, so the
                // decision is the error (with the trap's backtrace).
                Ok(Some(violation)) => {
                    let mut e = context(violation.into(), self.id, &self.hash);
                    e.set_trap(error.as_mut().and_then(RuntimeError::take_trap));
                    error = Some(e);
                }
                Err(audit) => return Err(context(audit.into(), self.id, &self.hash)),
            }
        }
        let record = CallRecord {
            duration,
            gas_used: gas.used,
            trap: error.as_ref().and_then(RuntimeError::trap_code).map(TrapCode::name),
            memory_initial_pages: memory.initial_pages,
            memory_peak_pages: memory.peak_pages,
            memory_grows: memory.growths,
            host_calls,
            operators_executed: operators,
        };
        self.monitor.each(|c| c.call_finished(&record));
        if let Some(p) = &self.prediction {
            p.predictions.record(&p.hash, name, input_size, gas.used);
        }
        tracing::info!(gas_used = gas.used, trap = record.trap, "call finished");
        Ok(ExecutionResult {
            success: error.is_none(),
            values,
            encoding: self.encoding,
            gas,
            memory,
            duration,
            host_calls,
            operators_executed,
            logs,
            side_effects,
            error,
            profile,
        })
    }
}

/// The bytes of a value as an argument: 4, 8 or 16 (a reference counts as 4).
fn value_bytes(v: &Value) -> u64 {
    match v {
        Value::I64(_) | Value::F64(_) => 8,
        Value::V128(_) => 16,
        _ => 4,
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
