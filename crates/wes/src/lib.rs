//! WES, the facade: one [`Runtime`] built from one [`RuntimeConfig`], for embedders who want
//! the common case — load a module, give it a gas limit, call it, read the result, the exact
//! gas and a clear error — without assembling the lower crates by hand.
//!
//! ```
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! use wes::{Runtime, RuntimeConfig, Value};
//!
//! let config = RuntimeConfig::from_toml(r#"
//!     [gas]
//!     default_limit = 1_000_000
//!     [data]
//!     encoding = "json"
//! "#)?;
//! let runtime = Runtime::new(config)?;
//! let module = runtime.load(br#"(module
//!     (import "wes" "log" (func $log (param i32 i32)))
//!     (memory 1) (data (i32.const 0) "adding")
//!     (func (export "main") (param i32 i32) (result i32)
//!       (call $log (i32.const 0) (i32.const 6))
//!       (i32.add (local.get 0) (local.get 1))))"#)?;   // decode, validate, compile
//! let meter = runtime.gas_meter(1_000_000);
//! let mut instance = runtime.create_instance(&module, meter)?;
//! let result = instance.execute("main", &[Value::I32(40), Value::I32(2)])?;
//! assert!(result.success);
//! assert_eq!(result.values, [Value::I32(42)]);
//! assert_eq!(result.encoded()?, br#"[{"i32":42}]"#);
//! assert_eq!(result.logs, ["adding"]);
//! assert!(result.gas.used > 0);
//! runtime.destroy_instance(instance);
//!
//! let metrics = runtime.metrics();
//! assert_eq!((metrics.calls, metrics.instances_live), (1, 0));
//!
//! // Errors carry a kind, a stable code and their context; `diagnose` says what to do.
//! let mut instance = runtime.create_instance(&module, runtime.gas_meter(10))?;
//! let failed = instance.execute("main", &[Value::I32(1), Value::I32(2)])?;
//! let error = failed.error.expect("10 gas is not enough");
//! assert_eq!(error.code(), wes::ErrorCode::OutOfGas);
//! let diagnosis = runtime.diagnose(&error);
//! assert!(diagnosis.suggestion.contains("needs at least"));
//! # Ok(())
//! # }
//! ```
//!
//! | type | what it is |
//! |---|---|
//! | [`RuntimeConfig`] | every setting, from TOML or JSON: `[gas]`, `[limits]`, `[performance]`, `[data]`, `[monitoring]`, `[instance]` (pooling and reuse), `[security]` (policy, capabilities, threats, audit) |
//! | [`Runtime`] | the engine built from it, the host functions, metrics ([`Runtime::metrics`], Prometheus text and JSON, through `wes-metrics`) and [`Runtime::diagnose`] |
//! | [`LoadedModule`] | a validated, compiled module |
//! | [`Instance`] | a module instantiated for one user with its gas meter: in a store of its own, or out of its module's pool |
//! | [`ExecutionResult`] | results typed and encoded, gas, memory, time, host calls, logs, side effects, the error |
//! | [`RuntimeError`] | kind, stable code, message, details, backtrace, context, retryability |
//! | [`DataEncoder`] | values as JSON, MessagePack, postcard or Protocol Buffers |
//!
//! The configuration is the one source of truth for an engine: [`RuntimeConfig::engine`]
//! configures the backend and the runtime from the same values, so gas pricing is set once.
//! Embedders who need the lower layers use the crates directly ([`wes_runtime`],
//! [`wes_meter`], [`wes_decode`], [`wes_jit`]); [`Runtime::engine`] and
//! [`Runtime::linker_mut`] are the bridges.
//!
//! Host functions are defined on [`Runtime::linker_mut`] as [`wes_runtime`] host functions;
//! [`host`] adds what the facade records: logs, side effects and the instance's data. Every
//! runtime links `wes.log`: `(import "wes" "log" (func (param i32 i32)))`, the UTF-8 text at
//! a pointer and length, one gas per byte.
#![deny(missing_docs)]

mod config;
mod encoding;
mod error;
pub mod host;
mod instance;
mod predict;
mod result;
mod runtime;

pub use config::{
    AdmissionKind, BackendKind, BoundsChecks, ConfigError, DataConfig, EstimatorKind, GasConfig, InstanceConfig,
    LimitsConfig, MonitoringConfig, PerformanceConfig, PredictionConfig, RefundConfig, RuntimeConfig, SecurityConfig,
    SecurityPreset, Translation,
};
pub use encoding::{
    DataEncoder, Encoding, EncodingError, JsonEncoder, MsgpackEncoder, PostcardEncoder, ProtobufEncoder,
};
pub use error::{Diagnosis, ErrorCode, ErrorContext, ErrorKind, RuntimeError};
pub use instance::Instance;
pub use result::{ExecutionResult, GasReport, MemoryReport, SideEffect};
pub use runtime::{CodeSource, LoadedModule, Runtime};
pub use wes_cache::Source as CacheSource;
pub use wes_metrics::{CallRecord, CompileRecord, MetricsCollector, MetricsSnapshot, Registry};
pub use wes_security::{GuardedLinker, Permit, SecurityManager, SecurityPolicy};

pub use wes_core::{ExternRef, FrameInfo, FuncRef, FuncType, Trap, TrapCode, ValType, Value};
pub use wes_meter::{GasAccount, GasMeter, Prediction, Reservation, Settlement};
pub use wes_runtime::{Caller, FunctionCost, GasProfile, HostError, HostFunc, Linker};
