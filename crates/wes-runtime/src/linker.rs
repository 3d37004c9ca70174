//! [`Linker`]: names for imports, and instantiation; [`InstancePre`]: a module linked once, to
//! instantiate many times.

use std::collections::HashMap;
use std::sync::Arc;

use wes_core::module::ImportType;

use crate::api::{Extern, Instance};
use crate::host::{Caller, HostError, HostFunc, WasmParams, WasmResults};
use crate::{Module, RuntimeError, Store};

#[derive(Clone, Debug)]
enum Definition {
    Extern(Extern),
    Host(HostFunc),
}

/// Definitions by `(module, name)` that satisfy imports: host functions, and items of a store
/// (for example another instance's exports, registered under a module name).
///
/// Host functions belong to no store and can serve any number of stores; store items can only
/// be used with their own store.
#[derive(Clone, Debug, Default)]
pub struct Linker {
    /// By module name, then by name: two levels so that a lookup by `&str` allocates nothing
    /// (a `(String, String)` key needed two allocations per import on every instantiation).
    defs: HashMap<String, HashMap<String, Definition>>,
}

impl Linker {
    /// An empty linker.
    pub fn new() -> Self {
        Linker::default()
    }

    /// Defines `module::name` as a store item. A later definition replaces an earlier one.
    pub fn define(&mut self, module: &str, name: &str, item: Extern) -> &mut Self {
        self.insert(module, name, Definition::Extern(item));
        self
    }

    fn insert(&mut self, module: &str, name: &str, def: Definition) {
        self.defs.entry(module.to_string()).or_default().insert(name.to_string(), def);
    }

    fn lookup(&self, module: &str, name: &str) -> Option<&Definition> {
        self.defs.get(module)?.get(name)
    }

    /// Defines `module::name` as a host function.
    pub fn func(&mut self, module: &str, name: &str, func: HostFunc) -> &mut Self {
        self.insert(module, name, Definition::Host(func));
        self
    }

    /// Defines `module::name` as a typed host function (see [`HostFunc::wrap`]).
    pub fn func_wrap<P: WasmParams, R: WasmResults>(
        &mut self,
        module: &str,
        name: &str,
        f: impl Fn(&mut Caller<'_>, P) -> Result<R, HostError> + Send + Sync + 'static,
    ) -> &mut Self {
        self.func(module, name, HostFunc::wrap(f))
    }

    /// Defines every export of `instance` under the module name `module`, the way the spec
    /// tests' `register` does.
    pub fn instance(&mut self, store: &Store, module: &str, instance: Instance) -> &mut Self {
        for (name, item) in instance.exports(store) {
            self.define(module, &name, item);
        }
        self
    }

    /// The names defined under module name `module`, sorted (for error messages that say what
    /// is linked when an import is missing).
    pub fn names_in(&self, module: &str) -> Vec<String> {
        let mut names: Vec<String> = self.defs.get(module).map(|m| m.keys().cloned().collect()).unwrap_or_default();
        names.sort();
        names
    }

    /// The definition of `module::name`, if any, as an item of `store`.
    pub fn get(&self, store: &mut Store, module: &str, name: &str) -> Option<Extern> {
        match self.lookup(module, name)? {
            Definition::Extern(e) => Some(*e),
            Definition::Host(h) => Some(Extern::Func(crate::Func::from_host(store, h))),
        }
    }

    /// Instantiates `module` in `store`, resolving its imports here.
    ///
    /// # Errors
    ///
    /// [`RuntimeError::UnknownImport`] / [`RuntimeError::IncompatibleImport`] when an import
    /// cannot be satisfied; [`RuntimeError::Trap`] when an active segment is out of bounds or
    /// the start function traps (the instance's effects on imported objects stay, as the spec
    /// requires); [`RuntimeError::ResourceLimit`] when a memory or table is too large.
    pub fn instantiate(&self, store: &mut Store, module: &Module) -> Result<Instance, RuntimeError> {
        let mut items = Vec::with_capacity(module.module().imports.len());
        for import in &module.module().imports {
            let kind = match import.ty {
                ImportType::Func(_) => "func",
                ImportType::Table(_) => "table",
                ImportType::Memory(_) => "memory",
                ImportType::Global(_) => "global",
            };
            let item = self.get(store, &import.module, &import.name).ok_or_else(|| RuntimeError::UnknownImport {
                module: import.module.clone(),
                name: import.name.clone(),
                kind,
            })?;
            items.push(item.store_item(store)?);
        }
        let index = store.inner.instantiate(module, &items)?;
        Ok(Instance { store: store.inner.id(), index })
    }

    /// Resolves and type-checks the imports of `module` once, for instantiating it many
    /// times (in any store, when every import is a host function) with
    /// [`InstancePre::instantiate`]. Like wasmtime's `InstancePre`: a node running the same
    /// contract in a fresh store per call pays for name lookups and signature checks once.
    ///
    /// Later changes to this linker do not affect the result.
    ///
    /// # Errors
    ///
    /// [`RuntimeError::UnknownImport`] when an import has no definition;
    /// [`RuntimeError::IncompatibleImport`] when a host function has the wrong type (store items
    /// are checked at each instantiation, in their store).
    pub fn instantiate_pre(&self, module: &Module) -> Result<InstancePre, RuntimeError> {
        let m = module.module();
        let mut imports = Vec::with_capacity(m.imports.len());
        for import in &m.imports {
            let (kind, want) = match import.ty {
                ImportType::Func(t) => ("func", m.types.get(t as usize)),
                ImportType::Table(_) => ("table", None),
                ImportType::Memory(_) => ("memory", None),
                ImportType::Global(_) => ("global", None),
            };
            let unknown =
                || RuntimeError::UnknownImport { module: import.module.clone(), name: import.name.clone(), kind };
            let def = self.lookup(&import.module, &import.name).ok_or_else(unknown)?;
            imports.push(match def {
                Definition::Host(h) => {
                    let ty = h.ty();
                    if want != Some(ty) {
                        return Err(RuntimeError::IncompatibleImport {
                            module: import.module.clone(),
                            name: import.name.clone(),
                            reason: match want {
                                Some(want) => format!("incompatible import type: expected {want}, found {ty}"),
                                None => "incompatible import type: got a func".to_string(),
                            },
                        });
                    }
                    PreImport::Host { type_id: module.engine.type_id(ty), func: h.clone() }
                }
                Definition::Extern(e) => PreImport::Extern(*e),
            });
        }
        Ok(InstancePre { module: module.clone(), imports: imports.into() })
    }
}

/// A module whose imports are resolved and type-checked (see [`Linker::instantiate_pre`]).
/// Cheap to clone, `Send + Sync`: one per module, shared by every thread instantiating it.
#[derive(Clone, Debug)]
pub struct InstancePre {
    module: Module,
    imports: Arc<[PreImport]>,
}

#[derive(Clone, Debug)]
enum PreImport {
    /// A host function and the engine's id of its type.
    Host { func: HostFunc, type_id: u32 },
    /// An item of one store.
    Extern(Extern),
}

impl InstancePre {
    /// The module.
    pub fn module(&self) -> &Module {
        &self.module
    }

    /// Instantiates the module in `store`.
    ///
    /// # Errors
    ///
    /// As [`Linker::instantiate`]; [`RuntimeError::WrongStore`] when an import is an item of
    /// another store.
    pub fn instantiate(&self, store: &mut Store) -> Result<Instance, RuntimeError> {
        let mut items = Vec::with_capacity(self.imports.len());
        for import in self.imports.iter() {
            items.push(match import {
                PreImport::Host { func, type_id } => {
                    (wes_core::module::ExternKind::Func, store.inner.add_host_func_typed(func, Some(*type_id)))
                }
                PreImport::Extern(e) => e.store_item(store)?,
            });
        }
        let index = store.inner.instantiate(&self.module, &items)?;
        Ok(Instance { store: store.inner.id(), index })
    }
}
