//! [`Runtime`] and [`LoadedModule`]: load (admit, decode, compile, pool), instantiate,
//! destroy, metrics and diagnosis. [`Instance`](crate::Instance) is in `instance.rs`.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use wes_lifecycle::{InstanceFactory, InstanceManager, InstancePool, LifecycleError, ManagerConfig};
use wes_meter::{BasicMeter, GasMeter};
use wes_runtime::{Engine, Linker, Store};
use wes_security::{GuardedLinker, ModuleHash, ModuleIdentity, SecurityManager};

use crate::config::{AdmissionKind, RuntimeConfig};
use crate::encoding::Encoding;
use crate::error::{Diagnosis, ErrorCode, RuntimeError};
use crate::host::HostState;
use crate::instance::{Instance, Slot};
use crate::predict::{Analysis, Predictions};
use wes_meter::{GasAccount, Prediction, Reservation};
use wes_metrics::{CompileRecord, MetricsCollector, MetricsSnapshot, Registry};

/// A configured WES: an engine built from a [`RuntimeConfig`], the host functions modules may
/// import, the security layer and instance pools when configured, and counters. Load modules
/// and create instances through it; share it by reference between threads (each instance is
/// used by one thread at a time).
#[derive(Debug)]
pub struct Runtime {
    config: RuntimeConfig,
    engine: Engine,
    host: Host,
    encoding: Encoding,
    monitor: Arc<Monitor>,
    next_instance: AtomicU64,
    /// Which definitions the plain linker holds: a number no other linker state of any
    /// runtime had, renewed whenever [`Runtime::linker_mut`] hands the linker out. A module's
    /// imports resolved at load stay good while it is unchanged.
    linker_generation: u64,
    /// The instance pools, when `instance.reuse` is on.
    pools: Option<InstanceManager>,
    /// The security layer, when `security.enabled` is on.
    security: Option<Arc<SecurityManager>>,
    /// Static bounds, history and admission (`[gas.prediction]`).
    predictions: Arc<Predictions>,
    /// Compiled code by module hash, in memory and on disk (`performance.cache_dir`).
    cache: Option<wes_cache::ArtifactCache>,
    /// Validates modules whose code comes from an artifact or the cache.
    decoder: wes_decode::Decoder,
}

/// The host functions: a plain linker, or a guarded one under a security layer (whose plain
/// part holds the definitions that need no capability).
#[derive(Clone, Debug)]
enum Host {
    Plain(Linker),
    Guarded(GuardedLinker),
}

/// A module decoded, validated and compiled by a [`Runtime`]; cheap to clone, shareable
/// between threads, instantiable any number of times.
#[derive(Clone, Debug)]
pub struct LoadedModule {
    module: wes_runtime::Module,
    hash: Arc<str>,
    /// The SHA-256 that `hash` spells: what an instance keeps (a copy, where the text would
    /// be a reference count to take and release per instance).
    digest: ModuleHash,
    /// Who the module is to the security layer, when there is one.
    identity: Option<ModuleIdentity>,
    /// Its pool (registered with the runtime's manager), when instances are reused and its
    /// imports could be linked at load; held here so a check-out takes no lock.
    pool: Option<InstancePool>,
    /// Its imports resolved and type-checked at load against the plain linker of generation
    /// `.0` (no security layer, no pool, and every import defined then): fresh instances skip
    /// the name lookups and signature checks while the linker is unchanged.
    linked: Option<(u64, wes_runtime::InstancePre)>,
    /// Its static gas analysis, made when first asked for.
    analysis: Arc<Analysis>,
    /// Where its code came from.
    code: CodeSource,
}

/// Where a [`LoadedModule`]'s code came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum CodeSource {
    /// Compiled by this load.
    Compiled,
    /// A compiled artifact ([`Runtime::load_artifact`]).
    Artifact,
    /// The artifact cache (`performance.cache_dir` / `cache_memory_bytes`): from memory, from
    /// the directory, or compiled now and stored.
    Cache(wes_cache::Source),
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

    /// Where the module's code came from.
    pub fn code_source(&self) -> CodeSource {
        self.code
    }

    /// Whether the module has a start function (it runs when an instance is made).
    pub fn has_start(&self) -> bool {
        self.module.module().start.is_some()
    }
}

/// Where the runtime reports what it does: its own registry (unless `monitoring.metrics` is
/// off) and any collectors the embedder added.
#[derive(Clone, Debug, Default)]
pub(crate) struct Monitor {
    registry: Option<Arc<Registry>>,
    extra: Vec<Arc<dyn MetricsCollector>>,
    /// Times calls (see [`crate::ExecutionResult::duration`]): here, where every instance
    /// already points, rather than copied into each.
    pub(crate) clock: quanta::Clock,
}

impl Monitor {
    pub(crate) fn each(&self, f: impl Fn(&dyn MetricsCollector)) {
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
    /// [`ErrorCode::Config`] when the pricing, the backend or the security policy cannot be
    /// made, or the audit log cannot be opened.
    pub fn new(config: RuntimeConfig) -> Result<Runtime, RuntimeError> {
        let engine = config.engine()?;
        let security = match config.security.enabled {
            true => Some(Arc::new(security_manager(&config)?)),
            false => None,
        };
        let host = match &security {
            Some(security) => {
                let mut linker = security.linker();
                linker.func_wrap("log", "wes", "log", crate::host::guarded_log_capability)?;
                Host::Guarded(linker)
            }
            None => {
                let mut linker = Linker::new();
                linker.func_wrap("wes", "log", crate::host::log_capability);
                Host::Plain(linker)
            }
        };
        let pools = config.instance.reuse.then(|| {
            InstanceManager::new(ManagerConfig { capacity: config.instance.capacity, ..ManagerConfig::default() })
        });
        let predictions = Arc::new(Predictions::new(config.gas.prediction, engine.config().pricing.clone()));
        let cache = artifact_cache(&config, &engine)?;
        let registry = config.monitoring.metrics.then(|| Arc::new(Registry::new(config.monitoring.sample_every)));
        // The time-stamp counter, calibrated once per process.
        let monitor = Arc::new(Monitor { registry, extra: Vec::new(), clock: quanta::Clock::new() });
        // Bodies are validated on the threads that compile them.
        let decoder = wes_decode::Decoder::default().with_threads(config.performance.compile_threads);
        Ok(Runtime {
            encoding: config.data.encoding,
            config,
            engine,
            host,
            monitor,
            next_instance: AtomicU64::new(1),
            linker_generation: next_linker_generation(),
            pools,
            security,
            predictions,
            cache,
            decoder,
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

    /// The host functions and items modules may import that need no capability.
    pub fn linker(&self) -> &Linker {
        match &self.host {
            Host::Plain(l) => l,
            Host::Guarded(g) => g.plain_ref(),
        }
    }

    /// The host functions and items modules may import, to add to. Define the embedder's host
    /// functions here before loading modules (a pooled module is linked when it is loaded;
    /// `wes.log` is already defined). Under a security layer these need no capability; define
    /// guarded ones on [`Runtime::guarded_linker_mut`].
    pub fn linker_mut(&mut self) -> &mut Linker {
        self.linker_generation = next_linker_generation();
        match &mut self.host {
            Host::Plain(l) => l,
            Host::Guarded(g) => g.plain(),
        }
    }

    /// The linker of host functions grouped into capabilities, when `security.enabled` is on:
    /// importing one the module is not granted fails at instantiation, and every call is
    /// checked against the grant and the capability's budget first.
    pub fn guarded_linker_mut(&mut self) -> Option<&mut GuardedLinker> {
        self.linker_generation = next_linker_generation();
        match &mut self.host {
            Host::Plain(_) => None,
            Host::Guarded(g) => Some(g),
        }
    }

    /// The security layer (permissions, threat monitor, audit log), when `security.enabled`
    /// is on: to grant, revoke, release a quarantined module or add a checker.
    pub fn security(&self) -> Option<&SecurityManager> {
        self.security.as_deref()
    }

    /// Decodes, validates and compiles a module from its binary or text form.
    ///
    /// # Errors
    ///
    /// As [`Runtime::load_named`].
    pub fn load(&self, bytes: &[u8]) -> Result<LoadedModule, RuntimeError> {
        self.load_named(bytes, None)
    }

    /// Decodes, validates and compiles a module; `name` is what the security layer's grants
    /// may name it by (they may also name it by hash). Under a security layer the module is
    /// first admitted: refused while quarantined, and checked against the policy's static
    /// limits before anything is compiled. With `instance.reuse` on, the module's pool is made
    /// (and pre-warmed) here.
    ///
    /// # Errors
    ///
    /// [`ErrorCode::InvalidModule`] for bytes that are not a valid module,
    /// [`ErrorCode::PolicyViolation`] past a limit of the security policy,
    /// [`ErrorCode::Quarantined`], [`ErrorCode::CompileFailed`] or
    /// [`ErrorCode::ResourceLimit`] when the backend fails, and the instantiation errors of
    /// pre-warmed instances.
    pub fn load_named(&self, bytes: &[u8], name: Option<&str>) -> Result<LoadedModule, RuntimeError> {
        self.load_code(bytes, name, None)
    }

    /// Loads a compiled artifact written by `wes compile` (or `wes_cache::Artifact::encode`
    /// with the wasm embedded): the code is not compiled again. The artifact is checked against
    /// this WES, the runtime's configuration (backend settings, pricing, limits) and this CPU,
    /// its embedded module validated again (and admitted by the security layer, when there is
    /// one) before its code is mapped; a mismatch is refused, never run.
    ///
    /// # Safety
    ///
    /// The artifact's code is run. `artifact` must come from a WES the caller trusts and a
    /// place only trusted processes write to: the checks detect corruption and mismatches,
    /// not a forged file with a matching checksum.
    ///
    /// # Errors
    ///
    /// [`ErrorCode::ArtifactRefused`] for a corrupt, foreign or mismatched artifact (or one
    /// without its wasm bytes), and the errors of [`Runtime::load_named`].
    pub unsafe fn load_artifact(&self, artifact: &[u8], name: Option<&str>) -> Result<LoadedModule, RuntimeError> {
        // Decoded once (the checksum covers the whole file): its module is admitted and its
        // code loaded from the same decoded artifact.
        let mut decoded = wes_cache::Artifact::decode(artifact).map_err(wes_cache::CacheError::from)?;
        let wasm = decoded.wasm.take().ok_or(wes_cache::CacheError::Artifact(wes_cache::ArtifactError::NoModule))?;
        self.load_code(&wasm, name, Some(&decoded))
    }

    /// Admits, decodes and compiles `bytes` (or loads their code from `artifact`, or through
    /// the artifact cache), then records, audits and pools the module.
    fn load_code(
        &self,
        bytes: &[u8],
        name: Option<&str>,
        artifact: Option<&wes_cache::Artifact>,
    ) -> Result<LoadedModule, RuntimeError> {
        let start = Instant::now();
        let (identity, digest) = match &self.security {
            Some(_) => {
                let identity = ModuleIdentity::new(bytes, name);
                let digest = *identity.hash();
                (Some(identity), digest)
            }
            None => (None, ModuleHash::of(bytes)),
        };
        let hash: Arc<str> = digest.to_hex().into();
        let _span = tracing::info_span!("wes.load", module = %hash, bytes = bytes.len()).entered();
        let with_hash = |mut e: RuntimeError| {
            e.context_mut().module_hash = Some(hash.to_string());
            e
        };
        // The security layer admits the bytes first (quarantine, static limits): nothing is
        // compiled or loaded for a module it refuses.
        let admitted = match &self.security {
            Some(security) => tracing::info_span!("wes.decode")
                .in_scope(|| security.admit(bytes, name).map(|(_, m)| Some(m)).map_err(RuntimeError::from)),
            None => Ok(None),
        };
        let loaded = admitted.and_then(|admitted| self.code(bytes, admitted, artifact));
        if let Err(e) = &loaded {
            tracing::info!(code = %e.code(), "module refused");
        }
        let duration = start.elapsed();
        let record = CompileRecord { bytes: bytes.len() as u64, duration, failed: loaded.is_err() };
        self.monitor.each(|c| c.module_loaded(&record));
        let (module, code) = loaded.map_err(with_hash)?;
        if let (Some(security), Some(identity)) = (&self.security, &identity) {
            let micros = u64::try_from(duration.as_micros()).unwrap_or(u64::MAX);
            security.record_compile(identity, micros).map_err(|e| with_hash(e.into()))?;
        }
        let pool = self.pool(&module, identity.as_ref()).map_err(|e| with_hash(e.into()))?;
        // A module whose imports are not all defined yet is linked at each instantiation,
        // which reports what is missing.
        let linked = match (&self.host, &pool) {
            (Host::Plain(linker), None) => {
                linker.instantiate_pre(&module).ok().map(|pre| (self.linker_generation, pre))
            }
            _ => None,
        };
        Ok(LoadedModule { module, hash, digest, identity, pool, linked, analysis: Arc::default(), code })
    }

    /// The module's code: from `artifact`, through the artifact cache, or compiled now (from
    /// the module the security layer already decoded, if it did).
    fn code(
        &self,
        bytes: &[u8],
        admitted: Option<wes_core::Module>,
        artifact: Option<&wes_cache::Artifact>,
    ) -> Result<(wes_runtime::Module, CodeSource), RuntimeError> {
        if let Some(artifact) = artifact {
            // SAFETY: only `load_artifact` passes an artifact, under its own contract (the
            // caller trusts where it came from); `bytes` are its embedded module, which
            // `load_decoded` checks against the artifact's hash before mapping any code.
            let module =
                unsafe { wes_cache::artifact::load_decoded(&self.engine, &self.decoder, artifact, Some(bytes)) }?;
            return Ok((module, CodeSource::Artifact));
        }
        if let Some(cache) = &self.cache {
            // The cache keys binary modules; text is encoded first, as decoding it would.
            let wasm = wat::parse_bytes(bytes).map_err(text_error)?;
            let (module, source) = cache.load(&wasm)?;
            return Ok((module, CodeSource::Cache(source)));
        }
        let decoded = match admitted {
            Some(m) => m,
            None => tracing::info_span!("wes.decode").in_scope(|| wes_decode::decode_any(bytes))?,
        };
        let _span = tracing::info_span!("wes.compile", functions = decoded.bodies.len()).entered();
        Ok((wes_runtime::Module::new(&self.engine, decoded)?, CodeSource::Compiled))
    }

    /// Registers `module`'s pool when instances are reused. A module whose imports cannot be
    /// linked now gets none: its instances are made fresh, and report the link error.
    fn pool(
        &self,
        module: &wes_runtime::Module,
        identity: Option<&ModuleIdentity>,
    ) -> Result<Option<InstancePool>, LifecycleError> {
        let Some(pools) = &self.pools else { return Ok(None) };
        let factory = match (&self.host, &self.security, identity) {
            (Host::Guarded(linker), Some(security), Some(identity)) => {
                // Each pooled instance gets its own session (budgets), kept in its store.
                let (linker, security, module, identity) =
                    (linker.clone(), Arc::clone(security), module.clone(), identity.clone());
                InstanceFactory::from_fn(&self.engine, move |store: &mut Store| {
                    let guarded = security
                        .instantiate(&linker, store, &module, &identity)
                        .map_err(|e| LifecycleError::Refused(Box::new(e)))?;
                    if let Some(state) = store.data_mut::<HostState>() {
                        state.session = Some(guarded.session);
                    }
                    Ok(guarded.instance)
                })
            }
            _ => match InstanceFactory::new(&self.engine, self.linker(), module) {
                Ok(factory) => factory,
                Err(_) => return Ok(None),
            },
        };
        // The start function runs when an instance is made, before any user has a meter: the
        // runtime's default limit bounds it (a start function that loops is refused at load or
        // check-out, like any call out of gas).
        let (limit, refunds) = (self.config.gas.default_limit, self.config.refund_policy());
        let factory = factory.with_store_setup(move |store| {
            store.set_meter(Box::new(BasicMeter::new(limit).with_refund_policy(refunds)));
            store.set_data(HostState::default());
        });
        let id = pools.register(factory, self.config.instance.pool())?;
        Ok(pools.pool(id))
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

    /// An instance of `module` drawing gas from `meter` for its start function and every
    /// later call: with `instance.reuse` on, a warm one out of the module's pool (its start
    /// function ran when it was made, under `gas.default_limit`, and is not charged to
    /// `meter`); otherwise a fresh one in a store of its own.
    ///
    /// # Errors
    ///
    /// [`ErrorCode::UnknownImport`] / [`ErrorCode::IncompatibleImport`] when an import is not
    /// linked as the module expects, [`ErrorCode::PermissionDenied`] for an import of a
    /// capability the module is not granted, [`ErrorCode::Quarantined`], a trap of the start
    /// function or of segment initialisation, [`ErrorCode::ResourceLimit`] when a memory or
    /// table is too large, [`ErrorCode::PoolExhausted`] when the module's pool is full.
    pub fn create_instance(&self, module: &LoadedModule, meter: Box<dyn GasMeter>) -> Result<Instance, RuntimeError> {
        let id = self.next_instance.fetch_add(1, Ordering::Relaxed);
        let _span = tracing::info_span!("wes.instantiate", module = %module.hash, instance = id).entered();
        let context = |mut e: RuntimeError| {
            e.context_mut().module_hash = Some(module.hash.to_string());
            e.context_mut().instance_id = Some(id);
            e
        };
        let (slot, session) = match &module.pool {
            Some(pool) => {
                let mut lease = pool.checkout().map_err(|e| context(e.into()))?;
                let store = lease.store_mut();
                store.set_meter(meter);
                let session = store.data_mut::<HostState>().and_then(|s| s.session.clone());
                (Slot::Pooled(lease), session)
            }
            _ => {
                // No `HostState` yet: it is made when a host function or the embedder first
                // needs one (most calls log nothing and record no effect).
                let mut store = Store::new(&self.engine);
                store.set_meter(meter);
                let made = match (&self.host, &self.security, &module.identity) {
                    (Host::Guarded(linker), Some(security), Some(identity)) => security
                        .instantiate(linker, &mut store, &module.module, identity)
                        .map(|g| (g.instance, Some(g.session)))
                        .map_err(RuntimeError::from),
                    _ => match &module.linked {
                        Some((generation, pre)) if *generation == self.linker_generation => pre.instantiate(&mut store),
                        _ => self.linker().instantiate(&mut store, &module.module),
                    }
                    .map(|i| (i, None))
                    .map_err(|e| {
                        let linked = match &e {
                            wes_runtime::RuntimeError::UnknownImport { module, .. }
                            | wes_runtime::RuntimeError::IncompatibleImport { module, .. } => {
                                Some(self.linker().names_in(module))
                            }
                            _ => None,
                        };
                        let mut e = RuntimeError::from(e);
                        e.facts_mut().linked = linked;
                        e
                    }),
                };
                let (instance, session) = made.map_err(|mut e| {
                    // What the start function or the segments consumed before failing.
                    e.facts_mut().gas_used = store.meter().map(|m| m.used());
                    context(e)
                })?;
                (Slot::Own { store, instance }, session)
            }
        };
        self.monitor.each(|c| c.instance_created());
        let security = match (&self.security, session) {
            (Some(manager), Some(session)) => Some((Arc::clone(manager), session)),
            _ => None,
        };
        let p = &self.predictions.config;
        let prediction = (p.record_history || p.admission != AdmissionKind::Off).then(|| {
            Box::new(crate::instance::Predicting {
                predictions: Arc::clone(&self.predictions),
                hash: Arc::clone(&module.hash),
                analysis: Arc::clone(&module.analysis),
                module: module.module.clone(),
            })
        });
        let memory = match &slot {
            Slot::Own { store, instance } => instance.memory(store, 0),
            Slot::Pooled(lease) => lease.instance().memory(lease.store(), 0),
        };
        Ok(Instance {
            id,
            memory,
            slot,
            hash: module.digest,
            encoding: self.encoding,
            monitor: Arc::clone(&self.monitor),
            security,
            prediction,
            profile: self.config.monitoring.profile,
        })
    }

    /// The gas a call of `export` of `module` with an input of `input_size` is predicted to
    /// use: [`Prediction::Exact`] 0 when nothing is metered, [`Prediction::AtMost`] the
    /// export's static bound when its code has one (no loop, recursion, indirect or host call,
    /// or operand-priced operation on any path), else [`Prediction::Estimate`] from the calls
    /// recorded so far (`gas.prediction.record_history`, by `gas.prediction.estimator`), else
    /// [`Prediction::Unknown`] with the reason. Input size is whatever measure the embedder
    /// passes to [`Instance::execute_sized`].
    pub fn predict(&self, module: &LoadedModule, export: &str, input_size: u64) -> Prediction {
        self.predictions.predict(module.module(), &module.analysis, &module.hash, export, input_size)
    }

    /// Takes gas for a call from `account` up front (prepaid), sized by [`Runtime::predict`]:
    /// the static bound, or the estimate plus `gas.prediction.reserve_margin_percent`, or, when
    /// nothing is known, as much of the balance as `gas.default_limit` allows. Run the call under
    /// `runtime.gas_meter(reservation.amount())` and settle with what it used
    /// (`account.settle(reservation, result.gas.used)`, postpaid): the account pays exactly that.
    ///
    /// # Errors
    ///
    /// [`ErrorCode::Unaffordable`] when the static bound exceeds `gas.default_limit` or the balance
    /// cannot cover the reservation.
    pub fn reserve(
        &self,
        account: &GasAccount,
        module: &LoadedModule,
        export: &str,
        input_size: u64,
    ) -> Result<Reservation, RuntimeError> {
        let prediction = self.predict(module, export, input_size);
        let margin = self.predictions.config.reserve_margin_percent;
        account.reserve_for(&prediction, margin, self.config.gas.default_limit).map_err(|e| {
            let mut e = RuntimeError::from(e);
            e.context_mut().module_hash = Some(module.hash.to_string());
            e.context_mut().export = Some(export.to_string());
            e
        })
    }

    /// Destroys an instance (dropping it does the same): a pooled one goes back to its pool,
    /// reset; a fresh one is freed.
    #[inline]
    pub fn destroy_instance(&self, instance: Instance) {
        drop(instance);
    }

    /// Retires pooled instances past their lifetime or idle timeout (`instance.max_lifetime_ms`,
    /// `instance.idle_timeout_ms`); how many. Run it from a timer; a no-op without reuse.
    pub fn evict_expired(&self) -> usize {
        self.pools.as_ref().map_or(0, InstanceManager::evict_expired)
    }

    /// The instance pools' counters (instances live, idle, created, reused, evicted; reset
    /// times), when `instance.reuse` is on.
    pub fn pool_metrics(&self) -> Option<wes_lifecycle::MetricsSnapshot> {
        self.pools.as_ref().map(InstanceManager::metrics)
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

/// The security manager `config` describes, with its audit log when one is configured.
fn security_manager(config: &RuntimeConfig) -> Result<SecurityManager, RuntimeError> {
    let policy = config.security.policy()?;
    let manager = SecurityManager::new(policy)?;
    let Some(path) = &config.security.audit_log else { return Ok(manager) };
    let bad = |what: String| {
        RuntimeError::new(
            crate::ErrorKind::Validation,
            ErrorCode::Config,
            format!("configuration key `security.audit_log`: {}: {what}", path.display()),
        )
    };
    // An existing log is verified and continued, so a restart keeps one chain.
    let existing = match std::fs::read_to_string(path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => String::new(),
        Err(e) => return Err(bad(format!("cannot read it: {e}"))),
    };
    let file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .map_err(|e| bad(format!("cannot open it: {e}")))?;
    let clock = Arc::new(wes_security::SystemClock);
    let logger = wes_security::AuditLogger::resume(Box::new(file), clock, &existing)
        .map_err(|e| bad(format!("the log does not verify, refusing to append to it: {e}")))?;
    Ok(manager.with_audit_logger(logger))
}

/// The artifact cache `[performance]` asks for, if any.
fn artifact_cache(config: &RuntimeConfig, engine: &Engine) -> Result<Option<wes_cache::ArtifactCache>, RuntimeError> {
    let p = &config.performance;
    let memory_bytes = match (&p.cache_dir, p.cache_memory_bytes) {
        (None, 0) => return Ok(None),
        (Some(_), 0) => wes_cache::CacheConfig::default().memory_bytes,
        (_, n) => n,
    };
    let settings = wes_cache::CacheConfig { memory_bytes, ..wes_cache::CacheConfig::default() };
    let decoder = wes_decode::Decoder::default();
    let cache = match &p.cache_dir {
        // SAFETY: the directory is named by the runtime's configuration, which the embedder
        // trusts as it trusts the code reading it (`performance.cache_dir` documents that only
        // trusted processes may write there); every artifact is checked before its code runs.
        Some(dir) => unsafe { wes_cache::ArtifactCache::with_directory(engine, decoder, &settings, dir) },
        None => wes_cache::ArtifactCache::new(engine, decoder, &settings),
    };
    Ok(Some(cache?))
}

/// A text module that does not parse, as the decoder reports it.
fn text_error(e: wat::Error) -> RuntimeError {
    wes_decode::DecodeError::Text { message: e.to_string() }.into()
}

/// A linker generation no runtime has used (see `Runtime::linker_generation`).
fn next_linker_generation() -> u64 {
    static NEXT: AtomicU64 = AtomicU64::new(1);
    NEXT.fetch_add(1, Ordering::Relaxed)
}
