//! [`RuntimeConfig`]: every setting of a [`Runtime`](crate::Runtime), in one serde document
//! (TOML or JSON), and the one place that turns it into an engine.
//!
//! The backend and the runtime are configured from the same values here, so gas pricing is
//! set once: [`RuntimeConfig::engine`] gives the JIT and the runtime the same `Arc<Pricing>`.
//! Every section and key is optional and documented with its default; an unknown key or a bad
//! value is an error naming the key's path (`gas.refunds.denominator`).

use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde::{Deserialize, Serialize};
use wes_meter::{Pricing, PricingTable, RefundPolicy};

use crate::encoding::Encoding;

/// Why a configuration could not be used.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// The file could not be read.
    #[error("cannot read configuration {path}: {source}")]
    Io {
        /// The file.
        path: String,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The file's extension is neither `.toml` nor `.json`.
    #[error("configuration file {0} must end in .toml or .json")]
    UnknownFormat(String),
    /// The text is not TOML or JSON at all.
    #[error("malformed configuration: {0}")]
    Syntax(String),
    /// A key is unknown or its value is of the wrong type.
    #[error("configuration key `{path}`: {message}")]
    Key {
        /// The key's path, dotted (`gas.refunds.denominator`); `.` for the document itself.
        path: String,
        /// What is wrong.
        message: String,
    },
    /// A value is of the right type but not allowed.
    #[error("configuration key `{path}`: {message}")]
    Value {
        /// The key's path.
        path: &'static str,
        /// What is wrong and what is allowed.
        message: String,
    },
    /// The pricing table (inline or from `gas.pricing_file`) is not usable.
    #[error("configuration key `{path}`: {source}")]
    Pricing {
        /// `gas.pricing` or `gas.pricing_file`.
        path: &'static str,
        /// Why.
        source: wes_meter::PricingError,
    },
    /// The backend could not be made on this host (for example, no SSE4.1 for the JIT).
    #[error("backend `{backend}` is not available on this host: {message}")]
    Backend {
        /// The configured backend.
        backend: String,
        /// Why.
        message: String,
    },
}

/// Everything a [`Runtime`](crate::Runtime) is built from. Each section is optional; see each
/// type for its keys and defaults, and `examples/wes.toml` for a documented file.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
#[non_exhaustive]
pub struct RuntimeConfig {
    /// Gas: whether calls are metered, limits, pricing and refunds.
    pub gas: GasConfig,
    /// Limits of what a module may use at run time.
    pub limits: LimitsConfig,
    /// Backend and compilation.
    pub performance: PerformanceConfig,
    /// How call arguments and results are encoded for the embedder.
    pub data: DataConfig,
    /// What the runtime records about itself.
    pub monitoring: MonitoringConfig,
    /// Reusing instances: pools, pre-warming, lifetimes (`wes-lifecycle`).
    pub instance: InstanceConfig,
    /// The security layer: static limits, capabilities, threat rules, audit (`wes-security`).
    pub security: SecurityConfig,
}

/// The `[gas]` section.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
#[non_exhaustive]
pub struct GasConfig {
    /// Compile metered code and charge every call (default `true`). Off, code runs unmetered
    /// and every gas figure is 0.
    pub metered: bool,
    /// The limit of a call made without one, such as [`Runtime::gas_meter`](crate::Runtime::gas_meter)
    /// with the default (default 10^10).
    pub default_limit: u64,
    /// The largest limit a call may have; [`Runtime::gas_meter`](crate::Runtime::gas_meter)
    /// clamps to it (default `u64::MAX / 2`).
    pub max_limit: u64,
    /// A pricing table inline (`[gas.pricing]`, the format of `docs/pricing.md`); the default
    /// table when neither this nor `pricing_file` is given.
    pub pricing: Option<PricingTable>,
    /// A pricing table in a `.toml` or `.json` file, relative to the configuration file.
    pub pricing_file: Option<PathBuf>,
    /// How much of a call's gas host functions may refund.
    pub refunds: RefundConfig,
    /// Predicting a call's gas: history, estimates, refusing calls that cannot be afforded.
    pub prediction: PredictionConfig,
}

impl Default for GasConfig {
    fn default() -> Self {
        GasConfig {
            metered: true,
            default_limit: 10_000_000_000,
            max_limit: u64::MAX / 2,
            pricing: None,
            pricing_file: None,
            refunds: RefundConfig::default(),
            prediction: PredictionConfig::default(),
        }
    }
}

/// Which estimate [`Runtime::predict`](crate::Runtime::predict) gives when the code has no
/// static bound.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
#[non_exhaustive]
pub enum EstimatorKind {
    /// A least-squares line through (input size, gas) of the recorded calls.
    #[default]
    Linear,
    /// The `quantile` of the gas of the recorded calls.
    Quantile,
}

/// When a call is refused before it starts.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum AdmissionKind {
    /// Never (the call runs until it returns, traps or runs out of gas).
    #[default]
    Off,
    /// When the export's static bound exceeds the gas left: the same on every node.
    StaticBound,
    /// Also when the estimate from this runtime's history does: local advice, not consensus.
    Estimate,
}

/// The `[gas.prediction]` section.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
#[non_exhaustive]
pub struct PredictionConfig {
    /// Refuse calls predicted to cost more than their gas left (default `"off"`;
    /// `"static_bound"`, `"estimate"`).
    pub admission: AdmissionKind,
    /// Record every call's gas and input size, for estimates (default `false`).
    pub record_history: bool,
    /// The most recent calls kept per export (default 1,024).
    pub window: usize,
    /// The estimator (default `"linear"`; `"quantile"`).
    pub estimator: EstimatorKind,
    /// The quantile of the `"quantile"` estimator, 0 to 1 (default 0.95).
    pub quantile: f64,
    /// Reservations sized from an estimate add this share of it, in percent (default 20).
    pub reserve_margin_percent: u64,
}

impl Default for PredictionConfig {
    fn default() -> Self {
        PredictionConfig {
            admission: AdmissionKind::Off,
            record_history: false,
            window: wes_meter::DEFAULT_WINDOW,
            estimator: EstimatorKind::Linear,
            quantile: 0.95,
            reserve_margin_percent: 20,
        }
    }
}

impl PredictionConfig {
    pub(crate) fn estimator(&self) -> wes_meter::Estimator {
        match self.estimator {
            EstimatorKind::Linear => wes_meter::Estimator::Linear,
            EstimatorKind::Quantile => wes_meter::Estimator::Quantile(self.quantile),
        }
    }

    pub(crate) fn admission(&self) -> wes_meter::Admission {
        match self.admission {
            AdmissionKind::Off => wes_meter::Admission::Off,
            AdmissionKind::StaticBound => wes_meter::Admission::StaticBound,
            AdmissionKind::Estimate => wes_meter::Admission::Estimate,
        }
    }
}

/// The `[gas.refunds]` section: at most `numerator / denominator` of what a call consumed may
/// be refunded (default 1/5; a denominator of 0 disables refunds).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
#[non_exhaustive]
pub struct RefundConfig {
    /// The share's numerator (default 1).
    pub numerator: u64,
    /// The share's denominator (default 5).
    pub denominator: u64,
}

impl Default for RefundConfig {
    fn default() -> Self {
        let p = RefundPolicy::default();
        RefundConfig { numerator: p.numerator, denominator: p.denominator }
    }
}

/// The `[limits]` section; the defaults are those of [`wes_runtime::Config`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
#[non_exhaustive]
pub struct LimitsConfig {
    /// Wasm frames live at once (default 10,000).
    pub max_call_depth: u32,
    /// The largest memory, in 64 KiB pages (default 65,536).
    pub max_memory_pages: u64,
    /// The largest table, in elements (default 10,000,000).
    pub max_table_elements: u64,
    /// Host functions calling back into wasm at once (default 8).
    pub max_host_reentry: u32,
    /// Native stack per host-function level, in bytes (default 1 MiB).
    pub host_stack_reserve: usize,
    /// The most native stack for wasm, in bytes (default 512 MiB).
    pub max_wasm_stack: usize,
    /// What one instance's store may hold in total (`[limits.store]`); creation past a limit
    /// fails, growth past it returns -1. Under `[security] enabled`, the policy's
    /// `[security.resources]` apply instead.
    pub store: StoreLimitsConfig,
    /// What one function and one module may contain to be admitted at all, whatever the
    /// backend (`[limits.compile]`, [`wes_core::FunctionLimits`]: operators, control
    /// operators, calls, branches per label, nesting, locals × control, `br_table` targets,
    /// defined functions); the engine's [`wes_runtime::Config::function_limits`]. The defaults
    /// bound every function's compile time and memory on the JIT, and the interpreter and the
    /// tiered backend refuse the same modules.
    pub compile: wes_core::FunctionLimits,
}

/// The `[limits.store]` section; the defaults are those of [`wes_runtime::StoreLimits`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
#[non_exhaustive]
pub struct StoreLimitsConfig {
    /// Bytes across the store's memories (default 4 GiB).
    pub memory_bytes: u64,
    /// Elements across the store's tables (default 10,000,000).
    pub table_elements: u64,
    /// Memories, tables and instances in the store (default 10,000 each).
    pub memories: u64,
    /// Tables in the store.
    pub tables: u64,
    /// Instances in the store.
    pub instances: u64,
}

impl Default for StoreLimitsConfig {
    fn default() -> Self {
        let l = wes_runtime::StoreLimits::default();
        StoreLimitsConfig {
            memory_bytes: l.memory_bytes,
            table_elements: l.table_elements,
            memories: l.memories,
            tables: l.tables,
            instances: l.instances,
        }
    }
}

impl Default for LimitsConfig {
    fn default() -> Self {
        let c = wes_runtime::Config::default();
        LimitsConfig {
            max_call_depth: c.max_call_depth,
            max_memory_pages: c.max_memory_pages,
            max_table_elements: c.max_table_elements,
            max_host_reentry: c.max_host_reentry,
            host_stack_reserve: c.host_stack_reserve,
            max_wasm_stack: c.max_wasm_stack,
            store: StoreLimitsConfig::default(),
            compile: wes_core::FunctionLimits::default(),
        }
    }
}

/// Which backend runs code.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
#[non_exhaustive]
pub enum BackendKind {
    /// The Cranelift JIT (`wes-jit`): the fastest code, tens of milliseconds to compile a big
    /// module.
    #[default]
    Jit,
    /// The interpreter (`wes-interp`): ready in microseconds, no native code generated.
    Interp,
    /// The interpreter at once, then the JIT's code once it has compiled the module in the
    /// background (`wes_runtime::Tiered`). Results, traps and gas are the same on every tier.
    Tiered,
}

/// How the JIT keeps memory accesses inside the memory (`[performance] bounds_checks`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
#[non_exhaustive]
pub enum BoundsChecks {
    /// Every access compares its end with the memory's length (`wes_jit::BoundsChecks::Explicit`):
    /// portable, no signal handler, no address space reserved past what a memory may grow to.
    Explicit,
    /// Accesses compare nothing; every memory is reserved for 8 GiB plus a guard, and a fault
    /// past the length is the same trap an explicit check raises, with the same gas
    /// (`wes_jit::BoundsChecks::Guard`). Smaller, faster code; x86-64 Linux only, and the
    /// default there.
    Guard,
}

impl Default for BoundsChecks {
    fn default() -> Self {
        match wes_jit::BoundsChecks::default() {
            wes_jit::BoundsChecks::Guard => BoundsChecks::Guard,
            _ => BoundsChecks::Explicit,
        }
    }
}

/// When the interpreter translates a function to its internal form.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
#[non_exhaustive]
pub enum Translation {
    /// On its first call: loading a module costs only validation.
    #[default]
    Lazy,
    /// All functions when the module is loaded.
    Eager,
    /// On its first call, as `lazy`, and ahead of it on the other `compile_threads` in the
    /// background: a call waits only for the function it needs while the idle cores translate
    /// the rest (the memory of `eager` in the end). For a module whose first call reaches
    /// most of its functions; the threads stop when the module is dropped.
    Background,
}

/// The `[performance]` section.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
#[non_exhaustive]
pub struct PerformanceConfig {
    /// The backend: `"jit"` (the default), `"interp"` or `"tiered"`.
    pub backend: BackendKind,
    /// When the interpreter (`interp`, and the first tier of `tiered`) translates functions:
    /// `"lazy"` (the default), `"eager"` or `"background"`.
    pub translation: Translation,
    /// `tiered` only: the JIT's code is used when its largest native frame is at most this many
    /// bytes (default 8 KiB). The stack a store reserves is sized from it, so it cannot grow
    /// when the module tiers up.
    pub tier_frame_budget: usize,
    /// How the JIT bounds-checks memory accesses: `"guard"` (guard regions; the default on
    /// x86-64 Linux, the only host that has them) or `"explicit"` (the default elsewhere).
    pub bounds_checks: BoundsChecks,
    /// Threads validating and compiling one module's functions (the decoder's validation, the
    /// JIT's compilation, the interpreter's eager translation); 0 (the default) is one per core.
    pub compile_threads: usize,
    /// Optimise generated code (default `true`).
    pub optimize: bool,
    /// Merge gas checks that must run together (default `true`; gas is the same either way).
    pub merge_gas_checks: bool,
    /// A compiled-artifact cache directory (`wes-cache`), relative to the configuration file:
    /// `Runtime::load` takes a module's code from it when a checked artifact is there, and
    /// writes it there after compiling; several processes may share one. Only trusted
    /// processes may write to it: its checks catch corruption and mismatches, not forgery.
    /// Default: none.
    pub cache_dir: Option<PathBuf>,
    /// Bytes of compiled modules kept in memory by the artifact cache, keyed by the module's
    /// SHA-256, so loading the same bytes again costs a hash (default 0: no memory cache, or
    /// 256 MiB when `cache_dir` is set).
    pub cache_memory_bytes: u64,
}

impl Default for PerformanceConfig {
    fn default() -> Self {
        PerformanceConfig {
            backend: BackendKind::Jit,
            translation: Translation::Lazy,
            tier_frame_budget: 8 << 10,
            bounds_checks: BoundsChecks::default(),
            compile_threads: 0,
            optimize: true,
            merge_gas_checks: true,
            cache_dir: None,
            cache_memory_bytes: 0,
        }
    }
}

/// The `[data]` section.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
#[non_exhaustive]
pub struct DataConfig {
    /// The encoding of [`ExecutionResult::encoded`](crate::ExecutionResult::encoded): `"json"`
    /// (the default), `"msgpack"`, `"postcard"` or `"protobuf"`.
    pub encoding: Encoding,
}

/// The `[monitoring]` section.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
#[non_exhaustive]
pub struct MonitoringConfig {
    /// Keep the runtime's metrics registry, [`Runtime::metrics`](crate::Runtime::metrics)
    /// (default `true`).
    pub metrics: bool,
    /// Record one call in this many in the per-call histograms (default 1: every call);
    /// counters always count every call.
    pub sample_every: u64,
    /// Profile every call: gas and time per function, exactly, in
    /// [`ExecutionResult::profile`](crate::ExecutionResult::profile) (default `false`). Code is
    /// compiled to report function entries and exits, which costs time, never gas.
    pub profile: bool,
    /// Count the wasm operators every call executes, in
    /// [`ExecutionResult::operators_executed`](crate::ExecutionResult::operators_executed) and
    /// the metrics' `wes_operators_executed_total` (default `false`). Code is compiled to count
    /// per straight-line segment, with the gas; the count is the same on every backend, and it
    /// costs time, never gas.
    pub count_operators: bool,
}

impl Default for MonitoringConfig {
    fn default() -> Self {
        MonitoringConfig { metrics: true, sample_every: 1, profile: false, count_operators: false }
    }
}

/// The `[instance]` section: whether instances are reused, and how many are kept.
///
/// With `reuse` on, each loaded module gets a pool: [`Runtime::create_instance`](crate::Runtime::create_instance)
/// checks out a warm instance and [`Runtime::destroy_instance`](crate::Runtime::destroy_instance)
/// returns it, reset to its state right after instantiation (memory, globals, tables, dropped
/// segments; the embedder's data is cleared), so nothing one user wrote is seen by the next.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
#[non_exhaustive]
pub struct InstanceConfig {
    /// Pool and reuse instances (default `false`: every instance is made fresh and freed).
    pub reuse: bool,
    /// The most instances of one module alive at once, in use or idle (default 64).
    pub pool_size: usize,
    /// Instances of each module made when it is loaded, before its first call (default 0).
    pub prewarm: usize,
    /// The most pooled instances alive across all modules; past it, idle instances of the
    /// least recently used module are evicted (default 1,024).
    pub capacity: usize,
    /// Retire an instance this many milliseconds after it was made (default: never).
    pub max_lifetime_ms: Option<u64>,
    /// Retire an instance after this many uses (default: never).
    pub max_uses: Option<u64>,
    /// Evict an instance idle this many milliseconds, keeping `prewarm` per module, when
    /// [`Runtime::evict_expired`](crate::Runtime::evict_expired) runs (default: never).
    pub idle_timeout_ms: Option<u64>,
}

impl Default for InstanceConfig {
    fn default() -> Self {
        InstanceConfig {
            reuse: false,
            pool_size: 64,
            prewarm: 0,
            capacity: 1024,
            max_lifetime_ms: None,
            max_uses: None,
            idle_timeout_ms: None,
        }
    }
}

impl InstanceConfig {
    /// The pool settings of one module.
    pub(crate) fn pool(&self) -> wes_lifecycle::PoolConfig {
        let ms = |v: Option<u64>| v.map(std::time::Duration::from_millis);
        wes_lifecycle::PoolConfig {
            strategy: wes_lifecycle::PoolStrategy::Dynamic { min: self.prewarm, max: self.pool_size },
            lifetime: wes_lifecycle::LifetimePolicy {
                max_age: ms(self.max_lifetime_ms),
                max_uses: self.max_uses,
                idle_timeout: ms(self.idle_timeout_ms),
            },
            priority: 0,
        }
    }
}

/// The preset a `[security]` section starts from.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
#[non_exhaustive]
pub enum SecurityPreset {
    /// Only the spec's limits, every capability granted, no threat rule acting.
    #[default]
    Spec,
    /// Limits and budgets in the spirit of CosmWasm and NEAR (see
    /// [`wes_security::SecurityPolicy::contract`]).
    Contract,
}

/// The `[security]` section: a preset, overridden key by key, and an audit log.
///
/// ```toml
/// [security]
/// enabled = true
/// preset = "contract"
/// audit_log = "audit.jsonl"
/// [security.limits]            # keys of wes_decode::Limits
/// max_memory_pages = 256
/// [security.capabilities]
/// grants = { "token" = ["time"] }
/// [security.threats.trap_storm]
/// threshold = 5
/// ```
///
/// The tables `limits`, `capabilities` and `threats` are those of
/// [`wes_security::SecurityPolicy`]; a key given replaces the preset's, a key left out keeps it.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
#[non_exhaustive]
pub struct SecurityConfig {
    /// Run modules under the security layer (default `false`: no limits beyond the spec's,
    /// host functions unguarded, nothing monitored or audited).
    pub enabled: bool,
    /// The policy the overrides start from (default `"spec"`).
    pub preset: SecurityPreset,
    /// Overrides of the preset's static limits.
    #[serde(skip_serializing_if = "serde_json::Map::is_empty")]
    pub limits: serde_json::Map<String, serde_json::Value>,
    /// Overrides of the preset's grants and budgets.
    #[serde(skip_serializing_if = "serde_json::Map::is_empty")]
    pub capabilities: serde_json::Map<String, serde_json::Value>,
    /// Overrides of the preset's threat rules.
    #[serde(skip_serializing_if = "serde_json::Map::is_empty")]
    pub threats: serde_json::Map<String, serde_json::Value>,
    /// Append every security decision to this file, one hash-chained JSON line each, relative
    /// to the configuration file (default: no audit log).
    pub audit_log: Option<PathBuf>,
}

impl SecurityConfig {
    /// The policy: the preset with the overrides applied.
    ///
    /// # Errors
    ///
    /// [`ConfigError::Key`] naming the overriding key (`security.limits.max_tables`) when it is
    /// unknown or of the wrong type.
    pub fn policy(&self) -> Result<wes_security::SecurityPolicy, ConfigError> {
        let preset = match self.preset {
            SecurityPreset::Spec => wes_security::SecurityPolicy::spec(),
            SecurityPreset::Contract => wes_security::SecurityPolicy::contract(),
        };
        let internal = |e: serde_json::Error| ConfigError::Key { path: "security".into(), message: e.to_string() };
        let mut policy = serde_json::to_value(&preset).map_err(internal)?;
        for (table, overrides) in
            [("limits", &self.limits), ("capabilities", &self.capabilities), ("threats", &self.threats)]
        {
            if let Some(base) = policy.get_mut(table) {
                merge(base, overrides);
            }
        }
        serde_path_to_error::deserialize(policy).map_err(|e| ConfigError::Key {
            path: format!("security.{}", e.path()),
            message: one_line(&e.inner().to_string()),
        })
    }
}

/// Replaces `base`'s keys by those of `overrides`, recursively into tables both have.
fn merge(base: &mut serde_json::Value, overrides: &serde_json::Map<String, serde_json::Value>) {
    let serde_json::Value::Object(base) = base else { return };
    for (key, value) in overrides {
        match (base.get_mut(key), value) {
            (Some(b @ serde_json::Value::Object(_)), serde_json::Value::Object(o)) => merge(b, o),
            _ => {
                base.insert(key.clone(), value.clone());
            }
        }
    }
}

impl RuntimeConfig {
    /// Reads a `.toml` or `.json` configuration file. A `gas.pricing_file` in it is relative to
    /// the file's directory.
    ///
    /// # Errors
    ///
    /// [`ConfigError`] when the file cannot be read or parsed, or a key is unknown or bad.
    pub fn from_file(path: impl AsRef<Path>) -> Result<RuntimeConfig, ConfigError> {
        let path = path.as_ref();
        let shown = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Io { path: shown.clone(), source })?;
        let mut config = match path.extension().and_then(|e| e.to_str()) {
            Some("toml") => RuntimeConfig::from_toml(&text)?,
            Some("json") => RuntimeConfig::from_json(&text)?,
            _ => return Err(ConfigError::UnknownFormat(shown)),
        };
        if let Some(dir) = path.parent() {
            let files =
                [&mut config.gas.pricing_file, &mut config.security.audit_log, &mut config.performance.cache_dir];
            for file in files.into_iter().flatten() {
                if file.is_relative() {
                    *file = dir.join(&*file);
                }
            }
        }
        Ok(config)
    }

    /// Parses a TOML configuration.
    ///
    /// # Errors
    ///
    /// [`ConfigError`] for malformed text, unknown keys and bad values.
    pub fn from_toml(text: &str) -> Result<RuntimeConfig, ConfigError> {
        let de = toml::de::Deserializer::parse(text).map_err(|e| ConfigError::Syntax(one_line(e.message())))?;
        let config: RuntimeConfig = serde_path_to_error::deserialize(de)
            .map_err(|e| ConfigError::Key { path: e.path().to_string(), message: one_line(e.inner().message()) })?;
        config.check()?;
        Ok(config)
    }

    /// Parses a JSON configuration.
    ///
    /// # Errors
    ///
    /// [`ConfigError`] for malformed text, unknown keys and bad values.
    pub fn from_json(text: &str) -> Result<RuntimeConfig, ConfigError> {
        let mut de = serde_json::Deserializer::from_str(text);
        let config: RuntimeConfig = serde_path_to_error::deserialize(&mut de).map_err(|e| {
            let path = e.path().to_string();
            let inner = e.into_inner();
            if inner.is_syntax() || inner.is_eof() {
                ConfigError::Syntax(inner.to_string())
            } else {
                ConfigError::Key { path, message: strip_position(&inner.to_string()) }
            }
        })?;
        config.check()?;
        Ok(config)
    }

    /// The configuration as TOML, every key written out.
    ///
    /// # Errors
    ///
    /// [`ConfigError::Syntax`] if a value cannot be written (never for a checked configuration).
    pub fn to_toml(&self) -> Result<String, ConfigError> {
        toml::to_string_pretty(self).map_err(|e| ConfigError::Syntax(e.to_string()))
    }

    /// Checks the values that have a type but not every value of it is allowed.
    fn check(&self) -> Result<(), ConfigError> {
        let bad = |path, message: String| Err(ConfigError::Value { path, message });
        if self.gas.default_limit > self.gas.max_limit {
            return bad(
                "gas.default_limit",
                format!("{} is above gas.max_limit ({})", self.gas.default_limit, self.gas.max_limit),
            );
        }
        if self.gas.pricing.is_some() && self.gas.pricing_file.is_some() {
            return bad("gas.pricing_file", "give either gas.pricing or gas.pricing_file, not both".into());
        }
        let p = &self.gas.prediction;
        if !(0.0..=1.0).contains(&p.quantile) {
            return bad("gas.prediction.quantile", format!("{} is not between 0 and 1", p.quantile));
        }
        if p.window == 0 {
            return bad("gas.prediction.window", "must be at least 1".into());
        }
        if self.gas.refunds.numerator > self.gas.refunds.denominator {
            return bad("gas.refunds.numerator", "a refund share above 1 would refund more than was consumed".into());
        }
        if self.limits.max_call_depth == 0 {
            return bad("limits.max_call_depth", "must be at least 1".into());
        }
        if self.limits.max_memory_pages > 65_536 {
            return bad("limits.max_memory_pages", "a 32-bit memory has at most 65,536 pages".into());
        }
        let i = &self.instance;
        if i.pool_size == 0 {
            return bad("instance.pool_size", "must be at least 1".into());
        }
        if i.prewarm > i.pool_size {
            return bad("instance.prewarm", format!("{} is above instance.pool_size ({})", i.prewarm, i.pool_size));
        }
        if i.capacity < i.pool_size {
            return bad("instance.capacity", format!("{} is below instance.pool_size ({})", i.capacity, i.pool_size));
        }
        self.security.policy()?;
        Ok(())
    }

    /// The pricing this configuration meters under: `None` when `gas.metered` is off.
    ///
    /// # Errors
    ///
    /// [`ConfigError::Pricing`] when the inline table or the file is not usable.
    pub fn pricing(&self) -> Result<Option<Arc<Pricing>>, ConfigError> {
        if !self.gas.metered {
            return Ok(None);
        }
        let pricing =
            match (&self.gas.pricing, &self.gas.pricing_file) {
                (Some(table), _) => Pricing::new(table.clone())
                    .map_err(|source| ConfigError::Pricing { path: "gas.pricing", source })?,
                (None, Some(file)) => Pricing::from_file(file)
                    .map_err(|source| ConfigError::Pricing { path: "gas.pricing_file", source })?,
                (None, None) => Pricing::default(),
            };
        Ok(Some(Arc::new(pricing)))
    }

    /// The refund policy of the meters this configuration makes.
    pub fn refund_policy(&self) -> RefundPolicy {
        RefundPolicy { numerator: self.gas.refunds.numerator, denominator: self.gas.refunds.denominator }
    }

    /// The engine this configuration describes: the backend and the runtime made from the same
    /// values, so the pricing the code is compiled under is the pricing it is run under. This
    /// is the one place in WES where an engine's pieces are put together; the CLI and the spec
    /// runner use it too.
    ///
    /// # Errors
    ///
    /// [`ConfigError::Pricing`] for an unusable pricing table, [`ConfigError::Backend`] when
    /// the backend cannot run on this host.
    pub fn engine(&self) -> Result<wes_runtime::Engine, ConfigError> {
        let pricing = self.pricing()?;
        let jit = || -> Result<Arc<dyn wes_core::Backend>, ConfigError> {
            let jit = wes_jit::JitConfig {
                pricing: pricing.clone(),
                optimize: self.performance.optimize,
                threads: self.performance.compile_threads,
                merge_gas_checks: self.performance.merge_gas_checks,
                profile: self.monitoring.profile,
                count_operators: self.monitoring.count_operators,
                bounds_checks: match self.performance.bounds_checks {
                    BoundsChecks::Explicit => wes_jit::BoundsChecks::Explicit,
                    BoundsChecks::Guard => wes_jit::BoundsChecks::Guard,
                },
                ..wes_jit::JitConfig::default()
            };
            let jit = wes_jit::Jit::with_config(jit)
                .map_err(|e| ConfigError::Backend { backend: "jit".into(), message: e.to_string() })?;
            Ok(Arc::new(jit))
        };
        let interp = || -> Result<Arc<dyn wes_core::Backend>, ConfigError> {
            if self.monitoring.profile {
                return Err(ConfigError::Backend {
                    backend: "interp".into(),
                    message: "the gas profiler (monitoring.profile) needs the jit backend".into(),
                });
            }
            Ok(Arc::new(wes_interp::Interpreter::new(wes_interp::InterpConfig {
                pricing: pricing.clone(),
                eager: self.performance.translation == Translation::Eager,
                ahead: self.performance.translation == Translation::Background,
                threads: self.performance.compile_threads,
                count_operators: self.monitoring.count_operators,
                merge_gas_checks: self.performance.merge_gas_checks,
                ..wes_interp::InterpConfig::default()
            })))
        };
        let backend: Arc<dyn wes_core::Backend> = match self.performance.backend {
            BackendKind::Jit => jit()?,
            BackendKind::Interp => interp()?,
            BackendKind::Tiered => {
                Arc::new(wes_runtime::Tiered::new(interp()?, jit()?, self.performance.tier_frame_budget))
            }
        };
        let mut config = wes_runtime::Config::default();
        let l = &self.limits;
        config
            .pricing(pricing)
            .max_call_depth(l.max_call_depth)
            .max_memory_pages(l.max_memory_pages)
            .max_table_elements(l.max_table_elements)
            .max_host_reentry(l.max_host_reentry)
            .host_stack_reserve(l.host_stack_reserve)
            .max_wasm_stack(l.max_wasm_stack)
            .count_operators(self.monitoring.count_operators)
            .function_limits(l.compile.clone())
            .store_limits(wes_runtime::StoreLimits {
                memory_bytes: l.store.memory_bytes,
                table_elements: l.store.table_elements,
                memories: l.store.memories,
                tables: l.store.tables,
                instances: l.store.instances,
            });
        Ok(wes_runtime::Engine::new(config, backend))
    }
}

/// The first line of a parser's message (TOML's draw the offending line under it).
fn one_line(message: &str) -> String {
    message.lines().next().unwrap_or("").trim().to_string()
}

/// serde_json's message without its " at line L column C" (the key path says where).
fn strip_position(message: &str) -> String {
    match message.rfind(" at line ") {
        Some(i) => message[..i].to_string(),
        None => message.to_string(),
    }
}
