//! Counters of what the instance layer did, kept with atomics so that reading them never
//! stops a check-out.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// One pool's counters.
#[derive(Debug, Default)]
pub(crate) struct Metrics {
    pub(crate) created: AtomicU64,
    pub(crate) reused: AtomicU64,
    pub(crate) evicted: AtomicU64,
    pub(crate) retired: AtomicU64,
    pub(crate) resets: AtomicU64,
    pub(crate) reset_nanos: AtomicU64,
    pub(crate) max_reset_nanos: AtomicU64,
}

impl Metrics {
    pub(crate) fn bump(counter: &AtomicU64) {
        counter.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn record_reset(&self, took: Duration) {
        let nanos = u64::try_from(took.as_nanos()).unwrap_or(u64::MAX);
        self.resets.fetch_add(1, Ordering::Relaxed);
        self.reset_nanos.fetch_add(nanos, Ordering::Relaxed);
        // A new maximum is rare: read before paying for a locked read-modify-write.
        if nanos > self.max_reset_nanos.load(Ordering::Relaxed) {
            self.max_reset_nanos.fetch_max(nanos, Ordering::Relaxed);
        }
    }

    pub(crate) fn add_to(&self, s: &mut MetricsSnapshot) {
        s.created += self.created.load(Ordering::Relaxed);
        s.reused += self.reused.load(Ordering::Relaxed);
        s.evicted += self.evicted.load(Ordering::Relaxed);
        s.retired += self.retired.load(Ordering::Relaxed);
        s.resets += self.resets.load(Ordering::Relaxed);
        s.reset_time += Duration::from_nanos(self.reset_nanos.load(Ordering::Relaxed));
        s.max_reset_time = s.max_reset_time.max(Duration::from_nanos(self.max_reset_nanos.load(Ordering::Relaxed)));
    }
}

/// The instance layer's counters at one moment.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct MetricsSnapshot {
    /// Instances alive now (in use, idle, or held by id).
    pub live: u64,
    /// Instances waiting in pools now.
    pub idle: u64,
    /// Instances created since the start.
    pub created: u64,
    /// Check-outs served by an instance that had been used and reset.
    pub reused: u64,
    /// Idle instances removed to make room, by the idle timeout, or by shrinking.
    pub evicted: u64,
    /// Instances retired at check-in (lifetime limits, failed resets) or destroyed.
    pub retired: u64,
    /// Resets done.
    pub resets: u64,
    /// Time spent resetting, in total.
    pub reset_time: Duration,
    /// The longest reset.
    pub max_reset_time: Duration,
}
