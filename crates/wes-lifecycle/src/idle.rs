//! A pool's idle instances and counters, laid out so that threads do not share cache lines on
//! the way through a check-out and a check-in.
//!
//! Each thread has a *lane* (threads are numbered as they first use a pool, and lanes are
//! shared round-robin when there are more threads than lanes): one slot for an idle instance
//! and the pool's counters for what that thread did, in a cache line of its own. A check-in
//! parks the instance in the thread's slot when it is empty, so the thread's next check-out
//! gets back the instance whose memory it just reset, still in its core's cache; before
//! this, a first-in first-out queue handed it to the other thread, and the next reset
//! zeroed 64 KiB of lines the other core held (two threads ran 0.96× the rounds of one).
//! Everything else goes through the shared lock-free queue, and a thread whose slot and the
//! queue are empty takes from the other lanes before the pool makes a new instance, so no
//! idle instance is ever out of reach.
//!
//! A slot is a `Mutex`: taken and released by its own thread, it costs two uncontended
//! atomic operations on a line that core holds; other threads touch it only when they steal,
//! count or evict.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, PoisonError};

use crossbeam_queue::ArrayQueue;

use crate::factory::LiveInstance;
use crate::metrics::{Metrics, MetricsSnapshot};

/// The most lanes a pool has.
const MAX_LANES: usize = 64;

/// Numbers threads in the order they first use any pool.
static NEXT_THREAD: AtomicUsize = AtomicUsize::new(0);

thread_local! {
    static THREAD: usize = NEXT_THREAD.fetch_add(1, Ordering::Relaxed);
}

/// One thread's slot and counters, alone in its cache lines.
#[derive(Debug, Default)]
#[repr(align(128))]
struct Lane {
    slot: Mutex<Option<Box<LiveInstance>>>,
    metrics: Metrics,
}

impl Lane {
    fn take(&self) -> Option<Box<LiveInstance>> {
        self.slot.lock().unwrap_or_else(PoisonError::into_inner).take()
    }

    fn is_occupied(&self) -> bool {
        self.slot.lock().unwrap_or_else(PoisonError::into_inner).is_some()
    }
}

/// The idle instances of one pool, and its counters.
#[derive(Debug)]
pub(crate) struct IdleSet {
    lanes: Box<[Lane]>,
    shared: ArrayQueue<Box<LiveInstance>>,
}

impl IdleSet {
    /// Room for `capacity` idle instances in the shared queue (the pool's maximum, so a
    /// push never fails while the pool keeps to it), and a lane per thread up to twice the
    /// host's cores.
    pub(crate) fn new(capacity: usize) -> IdleSet {
        let cores = std::thread::available_parallelism().map_or(4, std::num::NonZeroUsize::get);
        let lanes = (2 * cores).next_power_of_two().clamp(2, MAX_LANES);
        IdleSet { lanes: (0..lanes).map(|_| Lane::default()).collect(), shared: ArrayQueue::new(capacity.max(1)) }
    }

    fn lane(&self) -> &Lane {
        let i = THREAD.with(|t| *t) & (self.lanes.len() - 1);
        &self.lanes[i]
    }

    /// The counters of this thread's lane, to add to.
    pub(crate) fn metrics(&self) -> &Metrics {
        &self.lane().metrics
    }

    /// Adds every lane's counters to `s`.
    pub(crate) fn add_metrics_to(&self, s: &mut MetricsSnapshot) {
        for lane in self.lanes.iter() {
            lane.metrics.add_to(s);
        }
    }

    /// An idle instance: the one this thread parked last if it is still there, else the
    /// oldest in the shared queue, else one another thread parked.
    pub(crate) fn pop(&self) -> Option<Box<LiveInstance>> {
        self.lane().take().or_else(|| self.shared.pop()).or_else(|| self.lanes.iter().find_map(Lane::take))
    }

    /// Adds an idle instance: parked in this thread's slot if it is empty, else queued;
    /// given back when the queue is full.
    pub(crate) fn push(&self, inst: Box<LiveInstance>) -> Result<(), Box<LiveInstance>> {
        {
            let mut slot = self.lane().slot.lock().unwrap_or_else(PoisonError::into_inner);
            if slot.is_none() {
                *slot = Some(inst);
                return Ok(());
            }
        }
        self.shared.push(inst)
    }

    /// Passes every idle instance to `keep`, which gives back those that stay idle (in their
    /// lane, or at the back of the queue) and disposes of the others; one at a time, so a
    /// check-out meanwhile still finds the rest. One the queue has no room for again goes to
    /// `overflow`.
    pub(crate) fn retain(
        &self,
        mut keep: impl FnMut(Box<LiveInstance>) -> Option<Box<LiveInstance>>,
        mut overflow: impl FnMut(Box<LiveInstance>),
    ) {
        for lane in self.lanes.iter() {
            let mut slot = lane.slot.lock().unwrap_or_else(PoisonError::into_inner);
            if let Some(inst) = slot.take() {
                *slot = keep(inst);
            }
        }
        for _ in 0..self.shared.len() {
            let Some(inst) = self.shared.pop() else { break };
            if let Some(inst) = keep(inst)
                && let Err(inst) = self.shared.push(inst)
            {
                overflow(inst);
            }
        }
    }

    /// How many instances are idle now.
    pub(crate) fn len(&self) -> usize {
        self.shared.len() + self.lanes.iter().filter(|l| l.is_occupied()).count()
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.len() == 0
    }
}
