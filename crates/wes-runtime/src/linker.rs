//! [`Linker`]: names for imports, and instantiation.

use std::collections::HashMap;

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
    defs: HashMap<(String, String), Definition>,
}

impl Linker {
    /// An empty linker.
    pub fn new() -> Self {
        Linker::default()
    }

    /// Defines `module::name` as a store item. A later definition replaces an earlier one.
    pub fn define(&mut self, module: &str, name: &str, item: Extern) -> &mut Self {
        self.defs.insert((module.to_string(), name.to_string()), Definition::Extern(item));
        self
    }

    /// Defines `module::name` as a host function.
    pub fn func(&mut self, module: &str, name: &str, func: HostFunc) -> &mut Self {
        self.defs.insert((module.to_string(), name.to_string()), Definition::Host(func));
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
        let mut names: Vec<String> = self.defs.keys().filter(|(m, _)| m == module).map(|(_, n)| n.clone()).collect();
        names.sort();
        names
    }

    /// The definition of `module::name`, if any, as an item of `store`.
    pub fn get(&self, store: &mut Store, module: &str, name: &str) -> Option<Extern> {
        match self.defs.get(&(module.to_string(), name.to_string()))? {
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
}
