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
//! one call in `sample_every` on each thread, to keep their cost off a hot path. The figures a
//! call or an instance touches are kept per thread and summed when read (see `shard.rs`):
//! recording them takes no lock and no locked instruction. Recording never fails; only the
//! rare paths (a trap's code, a module load) take a lock.
#![deny(missing_docs)]

mod shard;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric, NoLabelSet};
use prometheus_client::metrics::MetricType;
use prometheus_client::metrics::counter::{ConstCounter, Counter};
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::ConstGauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use serde::Serialize;

use shard::{Bounds, Shard, Shards};

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
    modules: Family<Vec<(String, String)>, Counter>,
    compile_nanos: Counter,
    module_bytes: Counter,
    compile_seconds: Histogram,
    traps: Family<Vec<(String, String)>, Counter>,
    /// What calls and instances touch, per thread (encoded by [`PerCall`]).
    shards: Arc<Shards>,
}

fn outcome(label: &str, value: &str) -> Vec<(String, String)> {
    vec![(label.to_string(), value.to_string())]
}

impl Registry {
    /// A registry that records every `sample_every`-th call of each thread in its histograms
    /// (1: every call; 0 is taken as 1). Counters count every call.
    pub fn new(sample_every: u64) -> Registry {
        let mut registry = prometheus_client::registry::Registry::with_prefix("wes");
        let shards = Arc::new(Shards::new(Bounds {
            seconds: exponential_buckets(0.000_001, 4.0, 12).collect(),
            gas: exponential_buckets(100.0, 10.0, 10).collect(),
            pages: exponential_buckets(1.0, 4.0, 9).collect(),
        }));
        let r = Registry {
            registry: prometheus_client::registry::Registry::default(),
            sample_every: sample_every.max(1),
            modules: Family::default(),
            compile_nanos: Counter::default(),
            module_bytes: Counter::default(),
            compile_seconds: Histogram::new(exponential_buckets(0.0001, 4.0, 10)),
            traps: Family::default(),
            shards: Arc::clone(&shards),
        };
        registry.register("modules", "Modules loaded, by outcome", r.modules.clone());
        registry.register("compile_nanoseconds", "Time spent loading modules", r.compile_nanos.clone());
        registry.register("module_bytes", "Bytes of the modules loaded", r.module_bytes.clone());
        registry.register("compile_seconds", "Time to load one module", r.compile_seconds.clone());
        registry.register("traps", "Traps, by code", r.traps.clone());
        registry.register_collector(Box::new(PerCall(shards)));
        Registry { registry, ..r }
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
        let sh = &self.shards;
        let created = sh.sum(|s| &s.instances_created);
        let destroyed = sh.sum(|s| &s.instances_destroyed);
        let (ok, trapped) = (sh.sum(|s| &s.calls_ok), sh.sum(|s| &s.calls_trap));
        MetricsSnapshot {
            modules_loaded: count(&self.modules, "outcome", "ok"),
            modules_failed: count(&self.modules, "outcome", "failed"),
            compile_nanos: self.compile_nanos.get(),
            module_bytes: self.module_bytes.get(),
            instances_created: created,
            instances_destroyed: destroyed,
            instances_live: created.saturating_sub(destroyed),
            calls: ok.wrapping_add(trapped),
            calls_trapped: trapped,
            traps,
            gas_used: sh.sum(|s| &s.gas_used),
            host_calls: sh.sum(|s| &s.host_calls),
            memory_grows: sh.sum(|s| &s.memory_grows),
            memory_peak_pages: sh.peak(),
            operators_executed: sh.sum(|s| &s.operators),
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
        self.shards.with(|s| Shard::add(&s.instances_created, 1));
    }

    fn instance_destroyed(&self) {
        self.shards.with(|s| Shard::add(&s.instances_destroyed, 1));
    }

    fn call_finished(&self, r: &CallRecord) {
        if let Some(code) = r.trap {
            // Traps are the rare path: the family's lookup and lock are affordable there.
            self.traps.get_or_create(&outcome("code", code)).inc();
        }
        let bounds = &self.shards.bounds;
        let every = self.sample_every;
        self.shards.with(|s| {
            Shard::add(if r.trap.is_none() { &s.calls_ok } else { &s.calls_trap }, 1);
            Shard::add(&s.gas_used, r.gas_used);
            Shard::add(&s.host_calls, r.host_calls);
            Shard::add(&s.operators, r.operators_executed);
            Shard::add(&s.memory_grows, r.memory_grows);
            s.peak(r.memory_peak_pages);
            if s.sample(every) {
                s.seconds.observe(&bounds.seconds, r.duration.as_secs_f64());
                s.gas.observe(&bounds.gas, r.gas_used as f64);
                s.pages.observe(&bounds.pages, r.memory_peak_pages as f64);
            }
        });
    }
}

/// Picks one of a shard's histograms.
type Which = fn(&Shard) -> &shard::HistogramShard;

/// The per-call and per-instance figures in the Prometheus exposition, summed over the
/// registry's shards when it is encoded (same names, types and help as when they were
/// registered metrics).
#[derive(Debug)]
struct PerCall(Arc<Shards>);

impl Collector for PerCall {
    fn encode(&self, mut encoder: DescriptorEncoder<'_>) -> Result<(), std::fmt::Error> {
        let sh = &self.0;
        let counter = |encoder: &mut DescriptorEncoder<'_>, name: &str, help: &str, n: u64| {
            let c = ConstCounter::new(n);
            c.encode(encoder.encode_descriptor(name, help, None, c.metric_type())?)
        };
        let created = sh.sum(|s| &s.instances_created);
        let destroyed = sh.sum(|s| &s.instances_destroyed);
        counter(&mut encoder, "instances_created", "Instances created", created)?;
        counter(&mut encoder, "instances_destroyed", "Instances destroyed", destroyed)?;
        let live = ConstGauge::new(i64::try_from(created.saturating_sub(destroyed)).unwrap_or(i64::MAX));
        live.encode(encoder.encode_descriptor("instances_live", "Instances alive", None, live.metric_type())?)?;
        {
            let mut calls =
                encoder.encode_descriptor("calls", "Calls that finished, by outcome", None, MetricType::Counter)?;
            for (label, n) in [("ok", sh.sum(|s| &s.calls_ok)), ("trap", sh.sum(|s| &s.calls_trap))] {
                let labels = outcome("outcome", label);
                ConstCounter::new(n).encode(calls.encode_family(&labels)?)?;
            }
        }
        counter(&mut encoder, "gas_used", "Gas used by calls, net of refunds", sh.sum(|s| &s.gas_used))?;
        counter(&mut encoder, "host_calls", "Host functions called", sh.sum(|s| &s.host_calls))?;
        counter(
            &mut encoder,
            "operators_executed",
            "Wasm operators executed by calls (0 unless operators are counted)",
            sh.sum(|s| &s.operators),
        )?;
        counter(&mut encoder, "memory_grows", "Successful memory.grow operations", sh.sum(|s| &s.memory_grows))?;
        let peak = ConstGauge::new(i64::try_from(sh.peak()).unwrap_or(i64::MAX));
        peak.encode(encoder.encode_descriptor(
            "memory_peak_pages",
            "Largest memory 0 of any call, in pages",
            None,
            peak.metric_type(),
        )?)?;
        let histograms: [(&str, &str, Which, &[f64]); 3] = [
            ("call_duration_seconds", "Time of one call (sampled)", |s| &s.seconds, &sh.bounds.seconds),
            ("call_gas", "Gas of one call (sampled)", |s| &s.gas, &sh.bounds.gas),
            ("call_memory_pages", "Peak memory 0 of one call, in pages (sampled)", |s| &s.pages, &sh.bounds.pages),
        ];
        for (name, help, which, bounds) in histograms {
            let h = sh.histogram(which, bounds);
            encoder
                .encode_descriptor(name, help, None, MetricType::Histogram)?
                .encode_histogram::<NoLabelSet>(h.sum, h.count, &h.buckets, None)?;
        }
        Ok(())
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

    /// Each thread records into a shard of its own; the sums are exact, ended threads included,
    /// and each thread samples its own calls.
    #[test]
    fn counters_from_many_threads_sum_exactly() {
        let r = Arc::new(Registry::new(2));
        let threads: Vec<_> = (0..4u64)
            .map(|t| {
                let r = Arc::clone(&r);
                std::thread::spawn(move || {
                    for i in 0..1_000u64 {
                        let trap = (i % 10 == 0).then_some("OutOfGas");
                        r.call_finished(&CallRecord { gas_used: t + 1, host_calls: 2, trap, ..CallRecord::default() });
                    }
                    r.instance_created();
                    r.instance_created();
                    r.instance_destroyed();
                })
            })
            .collect();
        for t in threads {
            assert!(t.join().is_ok());
        }
        r.call_finished(&CallRecord { gas_used: 5, memory_peak_pages: 9, ..CallRecord::default() });
        let s = r.snapshot();
        assert_eq!((s.calls, s.calls_trapped, s.gas_used, s.host_calls), (4_001, 400, 10_005, 8_000));
        assert_eq!((s.instances_created, s.instances_destroyed, s.instances_live), (8, 4, 4));
        assert_eq!((s.memory_peak_pages, s.traps.get("OutOfGas").copied()), (9, Some(400)));
        let text = r.encode_prometheus();
        // 500 sampled calls on each of four threads, and this thread's first call.
        for line in [
            "wes_call_gas_count 2001",
            "wes_calls_total{outcome=\"ok\"} 3601",
            "wes_calls_total{outcome=\"trap\"} 400",
            "wes_instances_live 4",
            "wes_memory_peak_pages 9",
        ] {
            assert!(text.lines().any(|l| l == line), "{line} in {text}");
        }
    }

    /// Two registries on one thread keep their figures apart.
    #[test]
    fn registries_on_one_thread_are_separate() {
        let (a, b) = (Registry::new(1), Registry::new(1));
        a.call_finished(&CallRecord { gas_used: 3, ..CallRecord::default() });
        b.call_finished(&CallRecord { gas_used: 4, ..CallRecord::default() });
        a.call_finished(&CallRecord { gas_used: 3, ..CallRecord::default() });
        drop(b);
        let c = Registry::new(1);
        c.instance_created();
        assert_eq!((a.snapshot().gas_used, a.snapshot().calls, c.snapshot().instances_live), (6, 2, 1));
        assert_eq!(c.snapshot().calls, 0);
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
