//! Time as the instance layer sees it: a [`Clock`] that lifetimes and idle timeouts are
//! measured on, so that tests can drive it ([`ManualClock`]) instead of sleeping.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// A monotonic clock: the time since some fixed start.
pub trait Clock: Send + Sync + std::fmt::Debug {
    /// The time elapsed since the clock's start; never decreases.
    fn now(&self) -> Duration;

    /// The clock's time at the system's `instant`, when the clock follows the system's
    /// monotonic clock; `None` (the default) when it does not. A pool that reads the system
    /// clock anyway (to time a reset) then needs no second read for the clock's time.
    fn at(&self, instant: Instant) -> Option<Duration> {
        let _ = instant;
        None
    }
}

/// The system's monotonic clock.
#[derive(Debug)]
pub struct SystemClock {
    start: Instant,
}

impl SystemClock {
    /// A clock starting now.
    pub fn new() -> Self {
        SystemClock { start: Instant::now() }
    }
}

impl Default for SystemClock {
    fn default() -> Self {
        SystemClock::new()
    }
}

impl Clock for SystemClock {
    fn now(&self) -> Duration {
        self.start.elapsed()
    }

    fn at(&self, instant: Instant) -> Option<Duration> {
        Some(instant.saturating_duration_since(self.start))
    }
}

/// A clock that moves only when told to: for tests of lifetimes and timeouts.
#[derive(Debug, Default)]
pub struct ManualClock {
    nanos: AtomicU64,
}

impl ManualClock {
    /// A clock at zero.
    pub fn new() -> Self {
        ManualClock::default()
    }

    /// Moves the clock forward by `by`.
    pub fn advance(&self, by: Duration) {
        let by = u64::try_from(by.as_nanos()).unwrap_or(u64::MAX);
        self.nanos.fetch_add(by, Ordering::SeqCst);
    }
}

impl Clock for ManualClock {
    fn now(&self) -> Duration {
        Duration::from_nanos(self.nanos.load(Ordering::SeqCst))
    }
}
