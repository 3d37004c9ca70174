//! [`InstanceManager`]: the instance layer's front door. Modules are registered with a pool
//! each; instances are checked out of pools, or created and held by id; a capacity across
//! modules is kept by evicting idle instances (lowest tier, least recently used module first);
//! an evictor pass enforces lifetimes and idle timeouts. `Send + Sync`.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError, RwLock};

use crate::LifecycleError;
use crate::clock::{Clock, SystemClock};
use crate::factory::{InstanceFactory, InstanceId, LiveInstance};
use crate::metrics::MetricsSnapshot;
use crate::pool::{Env, InstancePool, Lease, ModuleId, PoolConfig};
use crate::state::State;

/// A manager's settings.
#[derive(Clone, Debug)]
pub struct ManagerConfig {
    /// The most instances alive at once, across every module.
    pub capacity: usize,
    /// The clock lifetimes and idle timeouts are measured on.
    pub clock: Arc<dyn Clock>,
}

impl Default for ManagerConfig {
    fn default() -> Self {
        ManagerConfig { capacity: 1024, clock: Arc::new(SystemClock::new()) }
    }
}

/// An instance held by id: used by one thread at a time.
pub type HeldInstance = Arc<Mutex<LiveInstance>>;

/// See the module docs.
#[derive(Debug)]
pub struct InstanceManager {
    env: Arc<Env>,
    pools: RwLock<HashMap<ModuleId, InstancePool>>,
    held: Mutex<HashMap<InstanceId, (ModuleId, HeldInstance)>>,
}

impl Default for InstanceManager {
    fn default() -> Self {
        InstanceManager::new(ManagerConfig::default())
    }
}

impl InstanceManager {
    /// An empty manager.
    pub fn new(config: ManagerConfig) -> Self {
        InstanceManager {
            env: Env::new(config.clock, config.capacity),
            pools: RwLock::default(),
            held: Mutex::default(),
        }
    }

    /// Registers a module with its pool, making the strategy's minimum of instances now.
    ///
    /// # Errors
    ///
    /// As [`InstancePool::checkout`], for the instances made up front.
    pub fn register(&self, factory: InstanceFactory, config: PoolConfig) -> Result<ModuleId, LifecycleError> {
        let mut pools = self.pools.write().unwrap_or_else(PoisonError::into_inner);
        let id = ModuleId(u32::try_from(pools.len()).map_err(|_| LifecycleError::UnknownModule(ModuleId(u32::MAX)))?);
        let pool = InstancePool::in_env(id, factory, config, Arc::clone(&self.env))?;
        pools.insert(id, pool);
        Ok(id)
    }

    /// The pool of `module`, to check instances out of it without going through the manager.
    pub fn pool(&self, module: ModuleId) -> Option<InstancePool> {
        self.pools.read().unwrap_or_else(PoisonError::into_inner).get(&module).cloned()
    }

    fn pool_or_err(&self, module: ModuleId) -> Result<InstancePool, LifecycleError> {
        self.pool(module).ok_or(LifecycleError::UnknownModule(module))
    }

    /// Checks an instance of `module` out of its pool (see [`InstancePool::checkout`]).
    ///
    /// # Errors
    ///
    /// [`LifecycleError::UnknownModule`], or as [`InstancePool::checkout`].
    pub fn checkout(&self, module: ModuleId) -> Result<Lease, LifecycleError> {
        self.pool_or_err(module)?.checkout()
    }

    /// Makes instances of `module` until `n` are idle.
    ///
    /// # Errors
    ///
    /// [`LifecycleError::UnknownModule`], or as [`InstancePool::checkout`].
    pub fn prewarm(&self, module: ModuleId, n: usize) -> Result<(), LifecycleError> {
        self.pool_or_err(module)?.prewarm(n)
    }

    /// Creates an instance of `module` held by the manager until [`InstanceManager::destroy`];
    /// it counts against the pool's maximum and the capacity.
    ///
    /// # Errors
    ///
    /// [`LifecycleError::UnknownModule`], or as [`InstancePool::checkout`].
    pub fn create(&self, module: ModuleId) -> Result<InstanceId, LifecycleError> {
        let pool = self.pool_or_err(module)?;
        let mut inst = pool.shared.reserve_and_create()?;
        inst.life.transition(State::InUse, self.env.clock.now())?;
        let id = inst.id();
        self.held.lock().unwrap_or_else(PoisonError::into_inner).insert(id, (module, Arc::new(Mutex::new(*inst))));
        Ok(id)
    }

    /// The instance `id` made by [`InstanceManager::create`], if it is alive.
    pub fn get(&self, id: InstanceId) -> Option<HeldInstance> {
        self.held.lock().unwrap_or_else(PoisonError::into_inner).get(&id).map(|(_, i)| Arc::clone(i))
    }

    /// Destroys the instance `id`; whether there was one. A clone of its handle still in use
    /// keeps the store alive until dropped, but it no longer counts.
    pub fn destroy(&self, id: InstanceId) -> bool {
        let Some((module, held)) = self.held.lock().unwrap_or_else(PoisonError::into_inner).remove(&id) else {
            return false;
        };
        let now = self.env.clock.now();
        {
            let mut inst = held.lock().unwrap_or_else(PoisonError::into_inner);
            let _ = inst.life.transition(State::Retiring, now);
            let _ = inst.life.transition(State::Destroyed, now);
        }
        if let Some(pool) = self.pool(module) {
            crate::metrics::Metrics::bump(&pool.shared.metrics().retired);
            pool.shared.release();
        }
        true
    }

    /// The evictor's pass over every pool: retires idle instances past their lifetime or idle
    /// timeout. How many it retired. Run it periodically (or from a test, after moving a
    /// [`ManualClock`](crate::ManualClock)).
    pub fn evict_expired(&self) -> usize {
        let pools: Vec<InstancePool> =
            self.pools.read().unwrap_or_else(PoisonError::into_inner).values().cloned().collect();
        pools.iter().map(InstancePool::evict_expired).sum()
    }

    /// The counters of every pool, with the instances alive and idle now.
    pub fn metrics(&self) -> MetricsSnapshot {
        let pools = self.pools.read().unwrap_or_else(PoisonError::into_inner);
        let mut s = MetricsSnapshot::default();
        for pool in pools.values() {
            pool.shared.add_metrics_to(&mut s);
            s.idle += pool.idle() as u64;
        }
        s.live = self.env.live.load(std::sync::atomic::Ordering::Acquire) as u64;
        s
    }
}
