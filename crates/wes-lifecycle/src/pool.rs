//! [`InstancePool`]: warm instances of one module, checked out and in without contention
//! (a slot per thread, then crossbeam's `ArrayQueue`: see [`crate::idle`]), reset on check-in
//! to their post-instantiation state.

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, RwLock, Weak};
use std::time::Duration;

use wes_core::spare::{Handles, List, Spares};

use crate::LifecycleError;
use crate::clock::Clock;
use crate::factory::{InstanceFactory, InstanceId, LiveInstance};
use crate::idle::IdleSet;
use crate::metrics::Metrics;
use crate::state::{LifetimePolicy, RetireReason, State};

/// How many instances a pool keeps and may make.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PoolStrategy {
    /// Exactly this many, all made up front; a check-out when all are in use fails with
    /// [`LifecycleError::Exhausted`].
    Fixed(usize),
    /// `min` made up front and kept warm; more made on demand up to `max` live, and idle ones
    /// beyond `min` removed by the idle timeout.
    Dynamic {
        /// Kept warm.
        min: usize,
        /// The most alive at once.
        max: usize,
    },
}

impl PoolStrategy {
    fn min(self) -> usize {
        match self {
            PoolStrategy::Fixed(n) => n,
            PoolStrategy::Dynamic { min, .. } => min,
        }
    }

    fn max(self) -> usize {
        match self {
            PoolStrategy::Fixed(n) => n,
            PoolStrategy::Dynamic { min, max } => max.max(min),
        }
    }
}

/// A pool's settings.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PoolConfig {
    /// How many instances.
    pub strategy: PoolStrategy,
    /// When instances are retired.
    pub lifetime: LifetimePolicy,
    /// The pool's tier when the manager needs room: idle instances of the lowest tier go first,
    /// least recently used module first within a tier.
    pub priority: u8,
}

impl Default for PoolConfig {
    fn default() -> Self {
        PoolConfig {
            strategy: PoolStrategy::Dynamic { min: 0, max: 64 },
            lifetime: LifetimePolicy::default(),
            priority: 0,
        }
    }
}

/// How finely [`PoolShared::touch`] orders pools by their last check-out.
const LRU_RESOLUTION_NANOS: u64 = 1_000_000;

/// A module's id in an [`InstanceManager`](crate::InstanceManager).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ModuleId(pub u32);

/// What the pools of one manager share: the clock, instance ids, the capacity across modules,
/// and the pools themselves, for eviction.
#[derive(Debug)]
pub(crate) struct Env {
    pub(crate) clock: Arc<dyn Clock>,
    /// Times resets on the system's time whatever `clock` is (a reset's time is a cost, not a
    /// lifetime).
    stopwatch: quanta::Clock,
    next_id: AtomicU64,
    capacity: usize,
    pub(crate) live: AtomicUsize,
    pub(crate) pools: RwLock<Vec<Weak<PoolShared>>>,
}

impl Env {
    pub(crate) fn new(clock: Arc<dyn Clock>, capacity: usize) -> Arc<Env> {
        Arc::new(Env {
            clock,
            stopwatch: quanta::Clock::new(),
            next_id: AtomicU64::new(1),
            capacity,
            live: AtomicUsize::new(0),
            pools: RwLock::default(),
        })
    }

    fn now_nanos(&self) -> u64 {
        u64::try_from(self.clock.now().as_nanos()).unwrap_or(u64::MAX)
    }

    /// Evicts one idle instance of another pool: the lowest tier first, the least recently
    /// used module first within a tier. Whether one was evicted.
    fn evict_one(&self, except: &PoolShared) -> bool {
        let pools: Vec<Arc<PoolShared>> = {
            let list = self.pools.read().unwrap_or_else(std::sync::PoisonError::into_inner);
            list.iter().filter_map(Weak::upgrade).collect()
        };
        let mut candidates: Vec<&Arc<PoolShared>> =
            pools.iter().filter(|p| !std::ptr::eq(p.as_ref(), except) && !p.idle.is_empty()).collect();
        candidates.sort_by_key(|p| (p.config.priority, p.last_used.load(Ordering::Relaxed)));
        for pool in candidates {
            if let Some(victim) = pool.idle.pop() {
                pool.retire(victim, RetireReason::Evicted);
                return true;
            }
        }
        false
    }
}

/// Increments `counter` if it is below `limit`; whether it did.
fn increment_below(counter: &AtomicUsize, limit: usize) -> bool {
    counter.fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| (n < limit).then_some(n + 1)).is_ok()
}

#[derive(Debug)]
pub(crate) struct PoolShared {
    pub(crate) module: ModuleId,
    factory: InstanceFactory,
    config: PoolConfig,
    idle: IdleSet,
    /// This pool's instances alive: idle, checked out, or held by id.
    live: AtomicUsize,
    /// When an instance of this pool was last checked out (clock nanoseconds).
    last_used: AtomicU64,
    pub(crate) env: Arc<Env>,
    /// [`InstancePool`] handles of this pool; leases are not counted (see [`POOL_SPARES`]).
    handles: AtomicUsize,
}

impl Handles for PoolShared {
    fn handles(&self) -> &AtomicUsize {
        &self.handles
    }
}

thread_local! {
    static POOL_KEPT: Arc<List<PoolShared>> = POOL_SPARES.register();
}

/// Leases' references to their pools, kept per thread between one lease and the next
/// (`wes_core::spare`): a lease is taken and given back on every call, and an `Arc` clone and
/// drop each time were the one line two threads using one pool both wrote. Kept only while an
/// [`InstancePool`] handle exists, so a dropped pool still goes with its last lease.
static POOL_SPARES: Spares<PoolShared> = Spares::new(&POOL_KEPT, 4);

impl PoolShared {
    /// The counters this thread adds to (see [`crate::idle`]).
    pub(crate) fn metrics(&self) -> &Metrics {
        self.idle.metrics()
    }

    /// Adds the pool's counters to `s`.
    pub(crate) fn add_metrics_to(&self, s: &mut crate::MetricsSnapshot) {
        self.idle.add_metrics_to(s);
    }

    /// Records a check-out at `now` for the manager's least-recently-used order, to the
    /// millisecond: pools used from several threads then do not write the shared line on
    /// every check-out.
    fn touch(&self, now: Duration) {
        let nanos = u64::try_from(now.as_nanos()).unwrap_or(u64::MAX);
        if nanos.saturating_sub(self.last_used.load(Ordering::Relaxed)) >= LRU_RESOLUTION_NANOS {
            self.last_used.store(nanos, Ordering::Relaxed);
        }
    }

    /// Reserves room for one more instance, in this pool and across the manager (evicting
    /// another module's idle instance if needed).
    fn reserve(&self) -> Result<(), LifecycleError> {
        let max = self.config.strategy.max();
        if !increment_below(&self.live, max) {
            return Err(LifecycleError::Exhausted { module: self.module, max });
        }
        loop {
            if increment_below(&self.env.live, self.env.capacity) {
                return Ok(());
            }
            if !self.env.evict_one(self) {
                self.live.fetch_sub(1, Ordering::AcqRel);
                return Err(LifecycleError::CapacityReached { capacity: self.env.capacity });
            }
        }
    }

    pub(crate) fn release(&self) {
        self.live.fetch_sub(1, Ordering::AcqRel);
        self.env.live.fetch_sub(1, Ordering::AcqRel);
    }

    /// A new instance, counted (the room for it must be reserved).
    pub(crate) fn create(&self) -> Result<Box<LiveInstance>, LifecycleError> {
        let id = InstanceId(self.env.next_id.fetch_add(1, Ordering::Relaxed));
        match self.factory.create(id, self.env.clock.now()) {
            Ok(inst) => {
                Metrics::bump(&self.metrics().created);
                Ok(Box::new(inst))
            }
            Err(e) => {
                self.release();
                Err(e)
            }
        }
    }

    /// Reserves room and creates an instance.
    pub(crate) fn reserve_and_create(&self) -> Result<Box<LiveInstance>, LifecycleError> {
        self.reserve()?;
        self.create()
    }

    /// Retires and destroys `inst`.
    pub(crate) fn retire(&self, mut inst: Box<LiveInstance>, reason: RetireReason) {
        let now = self.env.clock.now();
        // Every state but `Retiring`/`Destroyed` may retire, and an instance reaches here only
        // from those: the transitions cannot fail.
        let _ = inst.life.transition(State::Retiring, now);
        let _ = inst.life.transition(State::Destroyed, now);
        match reason {
            RetireReason::Evicted | RetireReason::IdleTimeout => Metrics::bump(&self.metrics().evicted),
            _ => Metrics::bump(&self.metrics().retired),
        }
        drop(inst);
        self.release();
    }

    fn checkout(self: &Arc<Self>) -> Result<Lease, LifecycleError> {
        let now = self.env.clock.now();
        self.touch(now);
        while let Some(mut inst) = self.idle.pop() {
            if let Some(reason) = inst.life.expired(&self.config.lifetime, now) {
                self.retire(inst, reason);
                continue;
            }
            let reused = inst.life.state() == State::Idle;
            inst.life.transition(State::InUse, now)?;
            if reused {
                Metrics::bump(&self.metrics().reused);
            }
            return Ok(Lease { inst: Some(inst), pool: Some(POOL_SPARES.clone(self)) });
        }
        let mut inst = self.reserve_and_create()?;
        inst.life.transition(State::InUse, now)?;
        Ok(Lease { inst: Some(inst), pool: Some(POOL_SPARES.clone(self)) })
    }

    fn checkin(&self, mut inst: Box<LiveInstance>) {
        // One read of the pool's clock serves the lifetime check and the idle time's start (a
        // reset takes microseconds; lifetimes and idle timeouts are far coarser). The reset
        // itself is timed by two raw counter reads (each clock read cost 2-5% of a round).
        let now = self.env.clock.now();
        if let Some(reason) = inst.life.expired(&self.config.lifetime, now) {
            return self.retire(inst, reason);
        }
        let started = self.env.stopwatch.raw();
        if inst.reset().is_err() {
            return self.retire(inst, RetireReason::ResetFailed);
        }
        self.metrics().record_reset(self.env.stopwatch.delta(started, self.env.stopwatch.raw()));
        if inst.life.transition(State::Idle, now).is_err() {
            return self.retire(inst, RetireReason::ResetFailed);
        }
        if let Err(inst) = self.idle.push(inst) {
            self.retire(inst, RetireReason::Evicted);
        }
    }

    /// Makes instances until `n` are idle (or the limits stop it).
    fn prewarm(&self, n: usize) -> Result<(), LifecycleError> {
        while self.idle.len() < n {
            let inst = self.reserve_and_create()?;
            if let Err(inst) = self.idle.push(inst) {
                self.retire(inst, RetireReason::Evicted);
                break;
            }
        }
        Ok(())
    }

    /// The evictor's pass: retires idle instances past their lifetime or idle timeout, keeping
    /// the strategy's minimum against the idle timeout. How many it retired.
    fn evict_expired(&self) -> usize {
        let now = self.env.clock.now();
        let retired = std::cell::Cell::new(0);
        self.idle.retain(
            |inst| {
                match inst.life.expired(&self.config.lifetime, now) {
                    Some(RetireReason::IdleTimeout)
                        if self.live.load(Ordering::Acquire) <= self.config.strategy.min() => {}
                    Some(reason) => {
                        self.retire(inst, reason);
                        retired.set(retired.get() + 1);
                        return None;
                    }
                    None => {}
                }
                Some(inst)
            },
            |inst| {
                self.retire(inst, RetireReason::Evicted);
                retired.set(retired.get() + 1);
            },
        );
        retired.get()
    }
}

/// A pool of warm instances of one module. Cheap to clone (shared); `Send + Sync`: check-out and
/// check-in take no lock.
#[derive(Debug)]
pub struct InstancePool {
    pub(crate) shared: Arc<PoolShared>,
}

impl Clone for InstancePool {
    fn clone(&self) -> Self {
        InstancePool { shared: Spares::clone_handle(&self.shared) }
    }
}

impl Drop for InstancePool {
    fn drop(&mut self) {
        // The last handle: leases kept as spares on any thread let go of the pool now.
        POOL_SPARES.drop_handle(&self.shared);
    }
}

impl InstancePool {
    /// A pool on its own (not part of an [`InstanceManager`](crate::InstanceManager)), with the
    /// strategy's minimum made up front.
    ///
    /// # Errors
    ///
    /// As [`InstancePool::checkout`], for the instances made up front.
    pub fn new(factory: InstanceFactory, config: PoolConfig, clock: Arc<dyn Clock>) -> Result<Self, LifecycleError> {
        InstancePool::in_env(ModuleId(0), factory, config, Env::new(clock, usize::MAX))
    }

    pub(crate) fn in_env(
        module: ModuleId,
        factory: InstanceFactory,
        config: PoolConfig,
        env: Arc<Env>,
    ) -> Result<Self, LifecycleError> {
        let shared = Arc::new(PoolShared {
            module,
            factory,
            config,
            idle: IdleSet::new(config.strategy.max()),
            live: AtomicUsize::new(0),
            last_used: AtomicU64::new(env.now_nanos()),
            env,
            handles: AtomicUsize::new(1),
        });
        shared.env.pools.write().unwrap_or_else(std::sync::PoisonError::into_inner).push(Arc::downgrade(&shared));
        shared.prewarm(config.strategy.min())?;
        Ok(InstancePool { shared })
    }

    /// An instance for one caller: an idle one if there is one (reset to its post-instantiation
    /// state), otherwise a new one. It returns to the pool when the lease is dropped.
    ///
    /// # Errors
    ///
    /// [`LifecycleError::Exhausted`] when the pool is at its maximum and none is idle;
    /// [`LifecycleError::CapacityReached`] when the manager is full and no other module has an
    /// idle instance to evict; [`LifecycleError::Runtime`] when instantiation fails.
    pub fn checkout(&self) -> Result<Lease, LifecycleError> {
        self.shared.checkout()
    }

    /// Makes instances until `n` are idle: warm before the first call.
    ///
    /// # Errors
    ///
    /// As [`InstancePool::checkout`].
    pub fn prewarm(&self, n: usize) -> Result<(), LifecycleError> {
        self.shared.prewarm(n)
    }

    /// Retires idle instances past their lifetime or idle timeout; how many.
    pub fn evict_expired(&self) -> usize {
        self.shared.evict_expired()
    }

    /// Instances waiting now.
    pub fn idle(&self) -> usize {
        self.shared.idle.len()
    }

    /// Instances alive now (idle or checked out).
    pub fn live(&self) -> usize {
        self.shared.live.load(Ordering::Acquire)
    }

    /// This pool's counters.
    pub fn metrics(&self) -> crate::MetricsSnapshot {
        let mut s = crate::MetricsSnapshot { live: self.live() as u64, idle: self.idle() as u64, ..Default::default() };
        self.shared.add_metrics_to(&mut s);
        s
    }

    /// The module's id in its manager.
    pub fn module(&self) -> ModuleId {
        self.shared.module
    }
}

/// A checked-out instance; back to its pool, reset, when dropped.
#[derive(Debug)]
pub struct Lease {
    inst: Option<Box<LiveInstance>>,
    /// From and back to this thread's spares ([`POOL_SPARES`]), in `Drop` (`None` only
    /// there).
    pool: Option<Arc<PoolShared>>,
}

impl Lease {
    /// Destroys the instance instead of returning it to the pool.
    pub fn discard(mut self) {
        if let (Some(inst), Some(pool)) = (self.inst.take(), &self.pool) {
            pool.retire(inst, RetireReason::Destroyed);
        }
    }
}

impl std::ops::Deref for Lease {
    type Target = LiveInstance;

    fn deref(&self) -> &LiveInstance {
        // A lease holds its instance until it is dropped or discarded (which consumes it).
        self.inst.as_deref().unwrap_or_else(|| unreachable!("a lease always holds its instance"))
    }
}

impl std::ops::DerefMut for Lease {
    fn deref_mut(&mut self) -> &mut LiveInstance {
        self.inst.as_deref_mut().unwrap_or_else(|| unreachable!("a lease always holds its instance"))
    }
}

impl Drop for Lease {
    fn drop(&mut self) {
        if let Some(pool) = self.pool.take() {
            if let Some(inst) = self.inst.take() {
                pool.checkin(inst);
            }
            POOL_SPARES.release(pool);
        }
    }
}
