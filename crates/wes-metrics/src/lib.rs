//! Metrics of a WES runtime: what happened (modules compiled, instances made, calls, gas,
//! traps by code, memory, host calls), recorded through the [`MetricsCollector`] interface and
//! exposed by [`Registry`] in the Prometheus text format (through `prometheus-client`) and as
//! JSON ([`MetricsSnapshot`]).
//!
//! Each layer reports facts as records ([`CompileRecord`], [`CallRecord`]); only the collector
//! chooses what to keep and in which format. An embedder plugs in its own collector (a
//! StatsD sink, say) by implementing the trait; [`Registry`] is the one WES ships.
//!
//! ```
//! use std::time::Duration;
//! use wes_metrics::{CallRecord, MetricsCollector, Registry};
//!
//! let registry = Registry::new(1);
//! registry.call_finished(&CallRecord { gas_used: 120, duration: Duration::from_micros(15), ..CallRecord::default() });
//! registry.call_finished(&CallRecord { trap: Some("OutOfGas"), gas_used: 1000, ..CallRecord::default() });
//! let text = registry.encode_prometheus();
//! assert!(text.contains("wes_calls_total{outcome=\"trap\"} 1"));
//! assert!(text.contains("wes_traps_total{code=\"OutOfGas\"} 1"));
//! assert_eq!(registry.snapshot().gas_used, 1120);
//! ```
//!
//! Counters are always exact; histograms (durations, gas and memory per call) can be sampled,
//! one call in `sample_every`, to keep their cost off a hot path. Recording never fails and
//! never blocks on anything but the histogram's own lock.
#![deny(missing_docs)]

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use serde::Serialize;

/// A module was decoded, validated and compiled (or failed to be).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CompileRecord {
    /// The module's size in bytes.
    pub bytes: u64,
    /// Time spent decoding, validating and compiling.
    pub duration: Duration,
    /// Whether it was refused or failed to compile.
    pub failed: bool,
}

/// A call of an export finished, returned or trapped.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CallRecord {
    /// Wall-clock time of the call.
    pub duration: Duration,
    /// Gas used, net of refunds.
    pub gas_used: u64,
    /// The trap's code name (`TrapCode::name`), when the call trapped.
    pub trap: Option<&'static str>,
    /// Memory 0's size when the call started and its peak, in pages.
    pub memory_initial_pages: u64,
    /// The peak size of memory 0 during the call, in pages.
    pub memory_peak_pages: u64,
    /// Successful `memory.grow`s during the call.
    pub memory_grows: u64,
    /// Host functions called during the call.
    pub host_calls: u64,
    /// Wasm operators the call executed (0 when the runtime does not count them).
    pub operators_executed: u64,
}

/// Where the facts a runtime reports go. Implementations must be cheap and must not fail:
/// they run on every call.
pub trait MetricsCollector: Send + Sync + std::fmt::Debug {
    /// A module was loaded (or failed to load).
    fn module_loaded(&self, record: &CompileRecord);
    /// An instance was created.
    fn instance_created(&self);
    /// An instance was destroyed or dropped.
    fn instance_destroyed(&self);
    /// A call finished.
    fn call_finished(&self, record: &CallRecord);
}

/// The counts of a [`Registry`] at one moment, for JSON and for tests.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct MetricsSnapshot {
    /// Modules loaded successfully.
    pub modules_loaded: u64,
    /// Modules refused or failed to compile.
    pub modules_failed: u64,
    /// Time spent loading modules, in nanoseconds.
    pub compile_nanos: u64,
    /// Bytes of the modules loaded.
    pub module_bytes: u64,
    /// Instances created.
    pub instances_created: u64,
    /// Instances destroyed.
    pub instances_destroyed: u64,
    /// Instances alive now.
    pub instances_live: u64,
    /// Calls that finished (returned or trapped).
    pub calls: u64,
    /// Calls that trapped.
    pub calls_trapped: u64,
    /// Traps by code name.
    pub traps: BTreeMap<String, u64>,
    /// Gas used by all calls, net of refunds.
    pub gas_used: u64,
    /// Host functions called.
    pub host_calls: u64,
    /// Successful `memory.grow`s.
    pub memory_grows: u64,
    /// The largest memory 0 any call reached, in pages.
    pub memory_peak_pages: u64,
    /// Wasm operators executed by all calls (0 unless the runtime counts them).
    pub operators_executed: u64,
}

/// The collector WES ships: exact counters, sampled histograms, Prometheus text and JSON.
#[derive(Debug)]
pub struct Registry {
    registry: prometheus_client::registry::Registry,
    sample_every: u64,
    seen: AtomicU64,
    modules: Family<Vec<(String, String)>, Counter>,
    compile_nanos: Counter,
    module_bytes: Counter,
    compile_seconds: Histogram,
    instances_created: Counter,
    instances_destroyed: Counter,
    instances_live: Gauge,
    calls: Family<Vec<(String, String)>, Counter>,
    traps: Family<Vec<(String, String)>, Counter>,
    gas_used: Counter,
    host_calls: Counter,
    operators: Counter,
    memory_grows: Counter,
    memory_peak: Gauge,
    call_seconds: Histogram,
    call_gas: Histogram,
    call_pages: Histogram,
    /// The labelled counters every call touches, looked up once: a family lookup hashes and
    /// allocates its label set, which a per-call path cannot afford.
    calls_ok: Counter,
    calls_trap: Counter,
}

fn outcome(label: &str, value: &str) -> Vec<(String, String)> {
    vec![(label.to_string(), value.to_string())]
}

impl Registry {
    /// A registry that records every `sample_every`-th call in its histograms (1: every call;
    /// 0 is taken as 1). Counters count every call.
    pub fn new(sample_every: u64) -> Registry {
        let mut registry = prometheus_client::registry::Registry::with_prefix("wes");
        let r = Registry {
            registry: prometheus_client::registry::Registry::default(),
            sample_every: sample_every.max(1),
            seen: AtomicU64::new(0),
            modules: Family::default(),
            compile_nanos: Counter::default(),
            module_bytes: Counter::default(),
            compile_seconds: Histogram::new(exponential_buckets(0.0001, 4.0, 10)),
            instances_created: Counter::default(),
            instances_destroyed: Counter::default(),
            instances_live: Gauge::default(),
            calls: Family::default(),
            traps: Family::default(),
            gas_used: Counter::default(),
            host_calls: Counter::default(),
            operators: Counter::default(),
            memory_grows: Counter::default(),
            memory_peak: Gauge::default(),
            call_seconds: Histogram::new(exponential_buckets(0.000_001, 4.0, 12)),
            call_gas: Histogram::new(exponential_buckets(100.0, 10.0, 10)),
            call_pages: Histogram::new(exponential_buckets(1.0, 4.0, 9)),
            calls_ok: Counter::default(),
            calls_trap: Counter::default(),
        };
        registry.register("modules", "Modules loaded, by outcome", r.modules.clone());
        registry.register("compile_nanoseconds", "Time spent loading modules", r.compile_nanos.clone());
        registry.register("module_bytes", "Bytes of the modules loaded", r.module_bytes.clone());
        registry.register("compile_seconds", "Time to load one module", r.compile_seconds.clone());
        registry.register("instances_created", "Instances created", r.instances_created.clone());
        registry.register("instances_destroyed", "Instances destroyed", r.instances_destroyed.clone());
        registry.register("instances_live", "Instances alive", r.instances_live.clone());
        registry.register("calls", "Calls that finished, by outcome", r.calls.clone());
        registry.register("traps", "Traps, by code", r.traps.clone());
        registry.register("gas_used", "Gas used by calls, net of refunds", r.gas_used.clone());
        registry.register("host_calls", "Host functions called", r.host_calls.clone());
        registry.register(
            "operators_executed",
            "Wasm operators executed by calls (0 unless operators are counted)",
            r.operators.clone(),
        );
        registry.register("memory_grows", "Successful memory.grow operations", r.memory_grows.clone());
        registry.register("memory_peak_pages", "Largest memory 0 of any call, in pages", r.memory_peak.clone());
        registry.register("call_duration_seconds", "Time of one call (sampled)", r.call_seconds.clone());
        registry.register("call_gas", "Gas of one call (sampled)", r.call_gas.clone());
        registry.register("call_memory_pages", "Peak memory 0 of one call, in pages (sampled)", r.call_pages.clone());
        let calls_ok = r.calls.get_or_create(&outcome("outcome", "ok")).clone();
        let calls_trap = r.calls.get_or_create(&outcome("outcome", "trap")).clone();
        Registry { registry, calls_ok, calls_trap, ..r }
    }

    /// Everything in the Prometheus text exposition format (OpenMetrics text, `# EOF` last).
    pub fn encode_prometheus(&self) -> String {
        let mut out = String::new();
        // Writing into a String cannot fail.
        let _ = prometheus_client::encoding::text::encode(&mut out, &self.registry);
        out
    }

    /// Everything as JSON (the [`MetricsSnapshot`] fields).
    pub fn encode_json(&self) -> String {
        serde_json::to_string(&self.snapshot()).unwrap_or_default()
    }

    /// The counts now.
    pub fn snapshot(&self) -> MetricsSnapshot {
        let count =
            |f: &Family<Vec<(String, String)>, Counter>, l: &str, v: &str| f.get(&outcome(l, v)).map_or(0, |c| c.get());
        let mut traps = BTreeMap::new();
        for code in TRAP_CODES {
            let n = count(&self.traps, "code", code);
            if n > 0 {
                traps.insert((*code).to_string(), n);
            }
        }
        let created = self.instances_created.get();
        let destroyed = self.instances_destroyed.get();
        MetricsSnapshot {
            modules_loaded: count(&self.modules, "outcome", "ok"),
            modules_failed: count(&self.modules, "outcome", "failed"),
            compile_nanos: self.compile_nanos.get(),
            module_bytes: self.module_bytes.get(),
            instances_created: created,
            instances_destroyed: destroyed,
            instances_live: created.saturating_sub(destroyed),
            calls: count(&self.calls, "outcome", "ok") + count(&self.calls, "outcome", "trap"),
            calls_trapped: count(&self.calls, "outcome", "trap"),
            traps,
            gas_used: self.gas_used.get(),
            host_calls: self.host_calls.get(),
            memory_grows: self.memory_grows.get(),
            memory_peak_pages: u64::try_from(self.memory_peak.get()).unwrap_or(0),
            operators_executed: self.operators.get(),
        }
    }
}

impl Default for Registry {
    fn default() -> Self {
        Registry::new(1)
    }
}

/// The trap codes a snapshot reports (`TrapCode::name`s of wes-core, which this crate does
/// not depend on: records carry names).
const TRAP_CODES: &[&str] = &[
    "Unreachable",
    "MemoryOutOfBounds",
    "TableOutOfBounds",
    "IntegerDivideByZero",
    "IntegerOverflow",
    "BadConversionToInteger",
    "IndirectCallToNull",
    "IndirectCallTypeMismatch",
    "UndefinedElement",
    "CallStackExhausted",
    "OutOfGas",
    "HostError",
];

impl MetricsCollector for Registry {
    fn module_loaded(&self, r: &CompileRecord) {
        self.modules.get_or_create(&outcome("outcome", if r.failed { "failed" } else { "ok" })).inc();
        self.compile_nanos.inc_by(u64::try_from(r.duration.as_nanos()).unwrap_or(u64::MAX));
        if !r.failed {
            self.module_bytes.inc_by(r.bytes);
        }
        self.compile_seconds.observe(r.duration.as_secs_f64());
    }

    fn instance_created(&self) {
        self.instances_created.inc();
        self.instances_live.inc();
    }

    fn instance_destroyed(&self) {
        self.instances_destroyed.inc();
        self.instances_live.dec();
    }

    fn call_finished(&self, r: &CallRecord) {
        match r.trap {
            None => {
                self.calls_ok.inc();
            }
            Some(code) => {
                self.calls_trap.inc();
                // Traps are the rare path: the family lookup is affordable there.
                self.traps.get_or_create(&outcome("code", code)).inc();
            }
        }
        // Each counter is a locked add: the ones with nothing to add (no host call, no growth,
        // operators not counted) and a peak that is not new are skipped.
        for (counter, n) in [
            (&self.gas_used, r.gas_used),
            (&self.host_calls, r.host_calls),
            (&self.operators, r.operators_executed),
            (&self.memory_grows, r.memory_grows),
        ] {
            if n != 0 {
                counter.inc_by(n);
            }
        }
        let peak = i64::try_from(r.memory_peak_pages).unwrap_or(i64::MAX);
        if peak > self.memory_peak.get() {
            self.memory_peak.inner().fetch_max(peak, Ordering::Relaxed);
        }
        if self.seen.fetch_add(1, Ordering::Relaxed).is_multiple_of(self.sample_every) {
            self.call_seconds.observe(r.duration.as_secs_f64());
            self.call_gas.observe(r.gas_used as f64);
            self.call_pages.observe(r.memory_peak_pages as f64);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn histograms_sample_and_counters_count_everything() {
        let r = Registry::new(3);
        for gas in 1..=7 {
            r.call_finished(&CallRecord { gas_used: gas, memory_peak_pages: gas, ..CallRecord::default() });
        }
        let text = r.encode_prometheus();
        assert!(text.lines().any(|l| l == "wes_call_gas_count 3"), "{text}");
        assert!(text.lines().any(|l| l == "wes_gas_used_total 28"), "{text}");
        assert!(text.lines().any(|l| l == "wes_operators_executed_total 0"), "{text}");
        let s = r.snapshot();
        assert_eq!((s.calls, s.gas_used, s.memory_peak_pages), (7, 28, 7));
    }

    #[test]
    fn modules_and_instances_are_counted_by_outcome() {
        let r = Registry::default();
        r.module_loaded(&CompileRecord { bytes: 100, duration: Duration::from_millis(2), failed: false });
        r.module_loaded(&CompileRecord { bytes: 5, duration: Duration::from_millis(1), failed: true });
        r.instance_created();
        r.instance_created();
        r.instance_destroyed();
        let s = r.snapshot();
        assert_eq!((s.modules_loaded, s.modules_failed, s.module_bytes), (1, 1, 100));
        assert_eq!(s.compile_nanos, 3_000_000);
        assert_eq!((s.instances_created, s.instances_destroyed, s.instances_live), (2, 1, 1));
        let json: serde_json::Value = serde_json::from_str(&r.encode_json()).unwrap_or_default();
        assert_eq!(json["instances_live"], 1);
    }
}
