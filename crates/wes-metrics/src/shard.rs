//! Per-thread shards of a [`Registry`](crate::Registry)'s per-call and per-instance figures.
//!
//! A call's record touches a dozen figures (calls, gas, host calls, operators, growths, the
//! memory peak, three histograms). Kept in shared atomics, each is a locked read-modify-write
//! on a cache line every thread writes; in histograms behind a mutex, three locks per call.
//! Here each thread writes a shard of its own, which no other thread writes: an update is a
//! plain load and store of a relaxed atomic (no locked instruction, no contention), and a
//! reader sums the shards. Sums are exact, because every update of a shard is made by one
//! thread, in order, and a reader only ever reads whole `u64`s: a snapshot taken while calls
//! run sees each call's figures or not yet, per figure.
//!
//! A shard outlives its thread (the registry keeps it), so nothing is lost when a thread ends.

use std::cell::RefCell;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

/// Adds `n` to a figure only the current thread writes: a load and a store, not a locked add.
#[inline]
fn bump(figure: &AtomicU64, n: u64) {
    figure.store(figure.load(Ordering::Relaxed).wrapping_add(n), Ordering::Relaxed);
}

/// A histogram's share in one shard: counts per bucket (the last one is `+Inf`), the sum of
/// the observed values (as `f64` bits) and their count.
#[derive(Debug)]
pub(crate) struct HistogramShard {
    buckets: Box<[AtomicU64]>,
    sum: AtomicU64,
    count: AtomicU64,
}

impl HistogramShard {
    fn new(bounds: &[f64]) -> Self {
        HistogramShard {
            buckets: (0..=bounds.len()).map(|_| AtomicU64::new(0)).collect(),
            sum: AtomicU64::new(0f64.to_bits()),
            count: AtomicU64::new(0),
        }
    }

    /// Records `v` against the upper `bounds` this shard was made for (as Prometheus does: the
    /// first bucket whose bound is at least `v`, else `+Inf`, where a NaN goes too).
    #[inline]
    pub(crate) fn observe(&self, bounds: &[f64], v: f64) {
        let i = bounds.iter().position(|b| *b >= v).unwrap_or(bounds.len());
        if let Some(bucket) = self.buckets.get(i) {
            bump(bucket, 1);
        }
        let sum = f64::from_bits(self.sum.load(Ordering::Relaxed)) + v;
        self.sum.store(sum.to_bits(), Ordering::Relaxed);
        bump(&self.count, 1);
    }
}

/// The sum of a histogram's shards: what Prometheus encodes.
#[derive(Clone, Debug, Default, PartialEq)]
pub(crate) struct HistogramTotal {
    pub(crate) sum: f64,
    pub(crate) count: u64,
    /// `(upper bound, count in that bucket alone)`, `+Inf` last.
    pub(crate) buckets: Vec<(f64, u64)>,
}

/// The upper bounds of the registry's three per-call histograms.
#[derive(Debug)]
pub(crate) struct Bounds {
    pub(crate) seconds: Vec<f64>,
    pub(crate) gas: Vec<f64>,
    pub(crate) pages: Vec<f64>,
}

/// One thread's figures. Written only by its thread; read by any.
#[derive(Debug)]
pub(crate) struct Shard {
    pub(crate) calls_ok: AtomicU64,
    pub(crate) calls_trap: AtomicU64,
    pub(crate) gas_used: AtomicU64,
    pub(crate) host_calls: AtomicU64,
    pub(crate) operators: AtomicU64,
    pub(crate) memory_grows: AtomicU64,
    /// The largest memory 0 of any call on this thread, in pages.
    pub(crate) memory_peak: AtomicU64,
    pub(crate) instances_created: AtomicU64,
    pub(crate) instances_destroyed: AtomicU64,
    /// Calls seen on this thread, for sampling the histograms.
    seen: AtomicU64,
    pub(crate) seconds: HistogramShard,
    pub(crate) gas: HistogramShard,
    pub(crate) pages: HistogramShard,
}

impl Shard {
    fn new(bounds: &Bounds) -> Self {
        Shard {
            calls_ok: AtomicU64::new(0),
            calls_trap: AtomicU64::new(0),
            gas_used: AtomicU64::new(0),
            host_calls: AtomicU64::new(0),
            operators: AtomicU64::new(0),
            memory_grows: AtomicU64::new(0),
            memory_peak: AtomicU64::new(0),
            instances_created: AtomicU64::new(0),
            instances_destroyed: AtomicU64::new(0),
            seen: AtomicU64::new(0),
            seconds: HistogramShard::new(&bounds.seconds),
            gas: HistogramShard::new(&bounds.gas),
            pages: HistogramShard::new(&bounds.pages),
        }
    }

    /// Adds `n` to `figure` of this shard (the calling thread's own).
    #[inline]
    pub(crate) fn add(figure: &AtomicU64, n: u64) {
        bump(figure, n);
    }

    /// Raises this shard's memory peak to `pages` if it is larger.
    #[inline]
    pub(crate) fn peak(&self, pages: u64) {
        if pages > self.memory_peak.load(Ordering::Relaxed) {
            self.memory_peak.store(pages, Ordering::Relaxed);
        }
    }

    /// Whether this call is one the histograms sample: the first of every `every` calls on
    /// this thread.
    #[inline]
    pub(crate) fn sample(&self, every: u64) -> bool {
        let seen = self.seen.load(Ordering::Relaxed);
        self.seen.store(seen.wrapping_add(1), Ordering::Relaxed);
        seen.is_multiple_of(every)
    }
}

/// Identifies a registry's shard set in a thread's list (never reused).
static NEXT_ID: AtomicU64 = AtomicU64::new(1);

thread_local! {
    /// This thread's shards, one per registry it has recorded into, the last used first.
    static LOCAL: RefCell<Vec<(u64, Arc<Shard>)>> = const { RefCell::new(Vec::new()) };
}

/// A registry's shards: one per thread that ever recorded into it.
#[derive(Debug)]
pub(crate) struct Shards {
    id: u64,
    pub(crate) bounds: Bounds,
    all: Mutex<Vec<Arc<Shard>>>,
}

impl Shards {
    pub(crate) fn new(bounds: Bounds) -> Self {
        Shards { id: NEXT_ID.fetch_add(1, Ordering::Relaxed), bounds, all: Mutex::new(Vec::new()) }
    }

    /// Runs `f` on the calling thread's shard, made (and registered) on its first use. `f`
    /// must not record into a registry itself (the thread's list is borrowed meanwhile).
    #[inline]
    pub(crate) fn with(&self, f: impl FnOnce(&Shard)) {
        let mut f = Some(f);
        let _ = LOCAL.try_with(|local| {
            let mut local = local.borrow_mut();
            if local.first().is_none_or(|(id, _)| *id != self.id) {
                self.find_or_register(&mut local);
            }
            if let (Some((_, shard)), Some(f)) = (local.first(), f.take()) {
                f(shard);
            }
        });
        // The thread's locals are being torn down (a record made from another local's
        // destructor): a shard of its own, registered, keeps the record exact.
        if let Some(f) = f {
            f(&self.register());
        }
    }

    /// Puts the calling thread's shard first in its list when it is not the one used last:
    /// moved up, or made. Shards of registries that were dropped are forgotten on the way.
    #[cold]
    fn find_or_register(&self, local: &mut Vec<(u64, Arc<Shard>)>) {
        if let Some(i) = local.iter().position(|(id, _)| *id == self.id) {
            let entry = local.remove(i);
            local.insert(0, entry);
            return;
        }
        // A shard only this thread still holds belongs to a registry that is gone.
        local.retain(|(_, shard)| Arc::strong_count(shard) > 1);
        local.insert(0, (self.id, self.register()));
    }

    fn register(&self) -> Arc<Shard> {
        let shard = Arc::new(Shard::new(&self.bounds));
        self.all.lock().unwrap_or_else(PoisonError::into_inner).push(Arc::clone(&shard));
        shard
    }

    /// Sums `figure` over every shard.
    pub(crate) fn sum(&self, figure: impl Fn(&Shard) -> &AtomicU64) -> u64 {
        let all = self.all.lock().unwrap_or_else(PoisonError::into_inner);
        all.iter().fold(0u64, |n, s| n.wrapping_add(figure(s).load(Ordering::Relaxed)))
    }

    /// The largest memory peak of any shard.
    pub(crate) fn peak(&self) -> u64 {
        let all = self.all.lock().unwrap_or_else(PoisonError::into_inner);
        all.iter().map(|s| s.memory_peak.load(Ordering::Relaxed)).max().unwrap_or(0)
    }

    /// Sums one histogram over every shard.
    pub(crate) fn histogram(&self, which: impl Fn(&Shard) -> &HistogramShard, bounds: &[f64]) -> HistogramTotal {
        let all = self.all.lock().unwrap_or_else(PoisonError::into_inner);
        let mut total = HistogramTotal {
            sum: 0.0,
            count: 0,
            buckets: bounds.iter().copied().chain([f64::INFINITY]).map(|b| (b, 0)).collect(),
        };
        for shard in all.iter() {
            let h = which(shard);
            total.sum += f64::from_bits(h.sum.load(Ordering::Relaxed));
            total.count = total.count.wrapping_add(h.count.load(Ordering::Relaxed));
            for ((_, n), bucket) in total.buckets.iter_mut().zip(h.buckets.iter()) {
                *n = n.wrapping_add(bucket.load(Ordering::Relaxed));
            }
        }
        total
    }
}
