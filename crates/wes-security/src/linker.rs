//! [`GuardedLinker`]: a [`Linker`] whose host functions belong to capabilities. Importing one
//! of an ungranted capability fails at link time; every call of one goes through the
//! instance's [`Session`] first.
//!
//! Each guarded function is defined once, as a closure; at instantiation it is wrapped, for
//! that instance, in a guard bound to the instance's session and handed to the runtime as an
//! ordinary [`HostFunc`]. The runtime needs no change and knows nothing of capabilities: the
//! guard is part of the host function.

use std::collections::HashMap;
use std::sync::Arc;

use wes_core::{FuncType, Value};
use wes_runtime::{Caller, HostError, HostFunc, Instance, Linker, Module, Store, WasmParams, WasmResults};

use crate::permission::{Capability, Permit, Session};
use crate::{ModuleIdentity, PermissionController, SecurityError};

type MakeGuarded = dyn Fn(&Arc<Session>) -> HostFunc + Send + Sync;

#[derive(Clone)]
struct Guarded {
    capability: Capability,
    make: Arc<MakeGuarded>,
}

/// Host functions by `(module, name)`, each of a capability, plus ordinary definitions.
/// Cloning copies the definitions (the closures are shared).
#[derive(Clone)]
pub struct GuardedLinker {
    controller: Arc<PermissionController>,
    plain: Linker,
    guarded: HashMap<(String, String), Guarded>,
}

impl std::fmt::Debug for GuardedLinker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GuardedLinker").field("guarded", &self.guarded.len()).finish_non_exhaustive()
    }
}

/// An instance made by a [`GuardedLinker`], with its session.
#[derive(Clone, Debug)]
pub struct GuardedInstance {
    /// The runtime's instance.
    pub instance: Instance,
    /// Its permissions and budgets.
    pub session: Arc<Session>,
}

impl GuardedLinker {
    /// An empty linker checking against `controller`.
    pub fn new(controller: Arc<PermissionController>) -> Self {
        GuardedLinker { controller, plain: Linker::new(), guarded: HashMap::new() }
    }

    /// The controller.
    pub fn controller(&self) -> &Arc<PermissionController> {
        &self.controller
    }

    /// The linker of ordinary definitions (other instances' exports, host functions that need
    /// no capability). A guarded definition of the same name takes precedence.
    pub fn plain(&mut self) -> &mut Linker {
        &mut self.plain
    }

    /// The linker of ordinary definitions, to read.
    pub fn plain_ref(&self) -> &Linker {
        &self.plain
    }

    /// Defines `module::name`, of `capability`, from a typed closure (as
    /// [`HostFunc::wrap`]) that also receives the call's [`Permit`].
    ///
    /// The closure is cloned into each instance's host function, so that a call reaches it
    /// with no pointer in between (a closure that only captures `Arc`s and plain values is
    /// `Clone`); state every instance must share goes behind an `Arc` in the capture.
    ///
    /// # Errors
    ///
    /// A bad capability name (see [`PermissionController::capability`]).
    pub fn func_wrap<P, R, F>(
        &mut self,
        capability: &str,
        module: &str,
        name: &str,
        f: F,
    ) -> Result<&mut Self, SecurityError>
    where
        P: WasmParams + 'static,
        R: WasmResults + 'static,
        F: Fn(&mut Caller<'_>, &Permit<'_>, P) -> Result<R, HostError> + Clone + Send + Sync + 'static,
    {
        let cap = self.controller.capability(capability)?;
        let function: Arc<str> = format!("{module}::{name}").into();
        let make = move |session: &Arc<Session>| {
            // The runtime gates the function: its gate, in the function's own data, is open
            // while the guard's capability passes uncounted (granted, no call budget, no
            // checker), and the trampoline tests it inline before the arguments are read;
            // while it is closed, every call is checked out of line (see
            // `HostFunc::wrap_gated`).
            let guard = session.guard(cap, Arc::clone(&function));
            let follower = guard.follower();
            let (func, gate) = HostFunc::wrap_gated(
                (guard, f.clone()),
                |(guard, _)| guard.count(),
                |(guard, f), caller: &mut Caller<'_>, params: P| -> Result<R, HostError> {
                    f(caller, &guard.permit(), params)
                },
            );
            follower.follow(gate);
            func
        };
        self.guarded.insert((module.to_string(), name.to_string()), Guarded { capability: cap, make: Arc::new(make) });
        Ok(self)
    }

    /// Defines `module::name` of type `ty`, of `capability`, from a closure over [`Value`]s
    /// (as [`HostFunc::new`]) that also receives the call's [`Permit`]; cloned into each
    /// instance's host function, as in [`GuardedLinker::func_wrap`].
    ///
    /// # Errors
    ///
    /// A bad capability name (see [`PermissionController::capability`]).
    pub fn func_new<F>(
        &mut self,
        capability: &str,
        module: &str,
        name: &str,
        ty: FuncType,
        f: F,
    ) -> Result<&mut Self, SecurityError>
    where
        F: Fn(&mut Caller<'_>, &Permit<'_>, &[Value], &mut [Value]) -> Result<(), HostError>
            + Clone
            + Send
            + Sync
            + 'static,
    {
        let cap = self.controller.capability(capability)?;
        let function: Arc<str> = format!("{module}::{name}").into();
        let make = move |session: &Arc<Session>| {
            let (f, guard) = (f.clone(), session.guard(cap, Arc::clone(&function)));
            HostFunc::new(ty.clone(), move |caller: &mut Caller<'_>, params: &[Value], results: &mut [Value]| {
                guard.check()?;
                f(caller, &guard.permit(), params, results)
            })
        };
        self.guarded.insert((module.to_string(), name.to_string()), Guarded { capability: cap, make: Arc::new(make) });
        Ok(self)
    }

    /// The capability of `module::name`, if it is a guarded function.
    pub fn capability_of(&self, module: &str, name: &str) -> Option<Capability> {
        self.guarded.get(&(module.to_string(), name.to_string())).map(|g| g.capability)
    }

    /// Checks `module`'s imports against its grant without instantiating: every import of a
    /// guarded function must be of a granted capability.
    ///
    /// # Errors
    ///
    /// [`SecurityError::NotGranted`] for the first import that is not, naming the import and
    /// the capability.
    pub fn check_imports(&self, identity: &ModuleIdentity, wasm: &wes_core::Module) -> Result<(), SecurityError> {
        for import in &wasm.imports {
            if let Some(g) = self.guarded.get(&(import.module.clone(), import.name.clone()))
                && !self.controller.is_granted(identity, &self.controller.name(g.capability))
            {
                return Err(self.not_granted(identity, &import.module, &import.name, g.capability));
            }
        }
        Ok(())
    }

    #[cold]
    fn not_granted(&self, identity: &ModuleIdentity, module: &str, name: &str, cap: Capability) -> SecurityError {
        SecurityError::NotGranted {
            module: identity.to_string(),
            import_module: module.to_string(),
            import_name: name.to_string(),
            capability: self.controller.name(cap),
        }
    }

    /// Instantiates `module` as `identity`: the checkers' instantiation checks, the link-time
    /// capability check, then the runtime's instantiation with each guarded import bound to a
    /// new session.
    ///
    /// # Errors
    ///
    /// [`SecurityError::Refused`] from a checker, [`SecurityError::NotGranted`] for an import of
    /// an ungranted capability, [`SecurityError::Runtime`] for the runtime's link and
    /// instantiation errors (a missing import, a trapping start function, ...).
    pub fn instantiate(
        &self,
        store: &mut Store,
        module: &Module,
        identity: &ModuleIdentity,
    ) -> Result<GuardedInstance, SecurityError> {
        let wasm = module.module();
        self.controller.check_instantiation(identity, wasm)?;
        let session = self.controller.session(identity);
        let mut linker = Linker::new();
        for import in &wasm.imports {
            match self.guarded.get(&(import.module.clone(), import.name.clone())) {
                Some(g) => {
                    if !session.is_granted(g.capability) {
                        return Err(self.not_granted(identity, &import.module, &import.name, g.capability));
                    }
                    linker.func(&import.module, &import.name, (g.make)(&session));
                }
                None => {
                    // Missing definitions are left to the runtime, which reports them.
                    if let Some(item) = self.plain.get(store, &import.module, &import.name) {
                        linker.define(&import.module, &import.name, item);
                    }
                }
            }
        }
        let instance = linker.instantiate(store, module)?;
        Ok(GuardedInstance { instance, session })
    }
}
