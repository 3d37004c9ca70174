//! [`InstanceFactory`]: a module linked once, whose instances are made with only per-instance
//! work, and [`LiveInstance`], an instance in a store of its own with its lifecycle.

use std::sync::Arc;
use std::time::Duration;

use wes_runtime::{Engine, Instance, InstancePre, Linker, Module, Store};

use crate::LifecycleError;
use crate::state::{LifecycleController, State};

/// Prepares each new store before instantiation (a meter, the embedder's data...).
pub type StoreSetup = dyn Fn(&mut Store) + Send + Sync;

/// Instantiates a module in a fresh store, for a factory whose instances are made by a layer
/// above the runtime's linker (the security layer binds each instance's host functions to a
/// session of its own, so one [`InstancePre`] cannot serve every instance).
pub type Instantiate = dyn Fn(&mut Store) -> Result<Instance, LifecycleError> + Send + Sync;

/// How a factory instantiates.
#[derive(Clone)]
enum Maker {
    /// Imports resolved once.
    Pre(InstancePre),
    /// The embedder's instantiation.
    Custom(Arc<Instantiate>),
}

/// A module with its imports resolved and type-checked once ([`InstancePre`]); its plan
/// (signature ids, memory and table images) was computed once when it was compiled. Cheap to
/// clone; `Send + Sync`.
#[derive(Clone)]
pub struct InstanceFactory {
    engine: Engine,
    maker: Maker,
    setup: Option<Arc<StoreSetup>>,
}

impl std::fmt::Debug for InstanceFactory {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut d = f.debug_struct("InstanceFactory");
        match &self.maker {
            Maker::Pre(pre) => d.field("pre", pre),
            Maker::Custom(_) => d.field("custom", &true),
        };
        d.finish_non_exhaustive()
    }
}

impl InstanceFactory {
    /// Links `module` with `linker` once.
    ///
    /// # Errors
    ///
    /// [`LifecycleError::Runtime`] when an import is missing or mistyped.
    pub fn new(engine: &Engine, linker: &Linker, module: &Module) -> Result<Self, LifecycleError> {
        Ok(InstanceFactory { engine: engine.clone(), maker: Maker::Pre(linker.instantiate_pre(module)?), setup: None })
    }

    /// A factory whose instances `instantiate` makes, each in a fresh store of `engine` (after
    /// the [store setup](Self::with_store_setup), if any).
    pub fn from_fn(
        engine: &Engine,
        instantiate: impl Fn(&mut Store) -> Result<Instance, LifecycleError> + Send + Sync + 'static,
    ) -> Self {
        InstanceFactory { engine: engine.clone(), maker: Maker::Custom(Arc::new(instantiate)), setup: None }
    }

    /// Runs `setup` on every new store before the module is instantiated in it.
    pub fn with_store_setup(mut self, setup: impl Fn(&mut Store) + Send + Sync + 'static) -> Self {
        self.setup = Some(Arc::new(setup));
        self
    }

    /// A fresh store with an instance of the module.
    ///
    /// # Errors
    ///
    /// [`LifecycleError::Runtime`] when instantiation fails (a trap in the start function, a
    /// resource limit).
    pub fn instantiate(&self) -> Result<(Store, Instance), LifecycleError> {
        let mut store = Store::new(&self.engine);
        if let Some(setup) = &self.setup {
            setup(&mut store);
        }
        let instance = match &self.maker {
            Maker::Pre(pre) => pre.instantiate(&mut store)?,
            Maker::Custom(instantiate) => instantiate(&mut store)?,
        };
        Ok((store, instance))
    }

    /// A fresh instance checkpointed at its post-instantiation state, ready for reuse.
    pub(crate) fn create(&self, id: InstanceId, now: Duration) -> Result<LiveInstance, LifecycleError> {
        let (mut store, instance) = self.instantiate()?;
        let mut life = LifecycleController::new(now);
        store.checkpoint()?;
        life.transition(State::Ready, now)?;
        Ok(LiveInstance { id, store, instance, life })
    }
}

/// An instance's id, unique within its [`InstanceManager`](crate::InstanceManager).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct InstanceId(pub u64);

/// An instance in a store of its own, with its lifecycle.
#[derive(Debug)]
pub struct LiveInstance {
    id: InstanceId,
    store: Store,
    instance: Instance,
    pub(crate) life: LifecycleController,
}

impl LiveInstance {
    /// Its id.
    pub fn id(&self) -> InstanceId {
        self.id
    }

    /// The instance handle.
    pub fn instance(&self) -> Instance {
        self.instance
    }

    /// Its store.
    pub fn store(&self) -> &Store {
        &self.store
    }

    /// Its store, to call into the instance.
    pub fn store_mut(&mut self) -> &mut Store {
        &mut self.store
    }

    /// Its lifecycle.
    pub fn lifecycle(&self) -> &LifecycleController {
        &self.life
    }

    /// Calls the export `name`.
    ///
    /// # Errors
    ///
    /// [`LifecycleError::NoSuchExport`] or the call's [`LifecycleError::Runtime`] error.
    pub fn call(&mut self, name: &str, args: &[wes_core::Value]) -> Result<Vec<wes_core::Value>, LifecycleError> {
        let f =
            self.instance.get_func(&self.store, name).ok_or_else(|| LifecycleError::NoSuchExport(name.to_string()))?;
        Ok(f.call(&mut self.store, args)?)
    }

    /// Returns the store to its post-instantiation state.
    pub(crate) fn reset(&mut self) -> Result<(), LifecycleError> {
        self.store.reset()?;
        Ok(())
    }
}
