//! Handles to the objects of a [`Store`]: [`Func`], [`Memory`], [`Table`], [`Global`],
//! [`Instance`], and [`Extern`], any one of them.
//!
//! A handle is an index plus the id of the store that made it. Every method takes the store and
//! checks the id, so a handle of another store is an error ([`RuntimeError::WrongStore`]),
//! never another store's object.

use wes_core::module::ExternKind;
use wes_core::types::{GlobalType, MemoryType, TableType};
use wes_core::{FuncRef, FuncType, Value, WASM_PAGE_SIZE};

use crate::host::HostFunc;
use crate::{RuntimeError, Store};

macro_rules! handle {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
        pub struct $name {
            pub(crate) store: u64,
            pub(crate) index: u32,
        }

        impl $name {
            fn check(&self, store: &Store) -> Result<u32, RuntimeError> {
                if store.inner.id() == self.store { Ok(self.index) } else { Err(RuntimeError::WrongStore) }
            }
        }
    };
}

handle!(
    /// A function: defined in an instance or by the host.
    Func
);
handle!(
    /// A linear memory.
    Memory
);
handle!(
    /// A table of references.
    Table
);
handle!(
    /// A global variable.
    Global
);

/// An instantiated module.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Instance {
    pub(crate) store: u64,
    pub(crate) index: usize,
}

/// Any importable or exportable item.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Extern {
    /// A function.
    Func(Func),
    /// A memory.
    Memory(Memory),
    /// A table.
    Table(Table),
    /// A global.
    Global(Global),
}

impl Extern {
    pub(crate) fn store_item(&self, store: &Store) -> Result<(ExternKind, u32), RuntimeError> {
        Ok(match self {
            Extern::Func(f) => (ExternKind::Func, f.check(store)?),
            Extern::Memory(m) => (ExternKind::Memory, m.check(store)?),
            Extern::Table(t) => (ExternKind::Table, t.check(store)?),
            Extern::Global(g) => (ExternKind::Global, g.check(store)?),
        })
    }

    pub(crate) fn from_store_item(store: &Store, kind: ExternKind, index: u32) -> Extern {
        Extern::from_parts(store.inner.id(), kind, index)
    }

    /// The handle of item `index` of `kind` in the store with id `s`.
    pub(crate) fn from_parts(s: u64, kind: ExternKind, index: u32) -> Extern {
        match kind {
            ExternKind::Func => Extern::Func(Func { store: s, index }),
            ExternKind::Memory => Extern::Memory(Memory { store: s, index }),
            ExternKind::Table => Extern::Table(Table { store: s, index }),
            ExternKind::Global => Extern::Global(Global { store: s, index }),
        }
    }

    /// The kind of item.
    pub fn kind(&self) -> ExternKind {
        match self {
            Extern::Func(_) => ExternKind::Func,
            Extern::Memory(_) => ExternKind::Memory,
            Extern::Table(_) => ExternKind::Table,
            Extern::Global(_) => ExternKind::Global,
        }
    }
}

impl Func {
    /// Places a host function in `store`, for calling directly or defining in a linker.
    pub fn from_host(store: &mut Store, func: &HostFunc) -> Func {
        let index = store.inner.add_host_func(func);
        Func { store: store.inner.id(), index }
    }

    /// This function as a `funcref` value, to pass to wasm or store in a table.
    pub fn to_funcref(&self) -> FuncRef {
        FuncRef::from_index(self.index)
    }

    /// The function a `funcref` value of `store` refers to, or `None` if `store` has no such
    /// function.
    pub fn from_funcref(store: &Store, r: FuncRef) -> Option<Func> {
        store.inner.func_ty(r.index())?;
        Some(Func { store: store.inner.id(), index: r.index() })
    }

    /// The function's type.
    ///
    /// # Errors
    ///
    /// [`RuntimeError::WrongStore`] for a handle of another store.
    pub fn ty(&self, store: &Store) -> Result<FuncType, RuntimeError> {
        let i = self.check(store)?;
        store.inner.func_ty(i).cloned().ok_or(RuntimeError::WrongStore)
    }

    /// Calls the function with `args` and returns its results.
    ///
    /// # Errors
    ///
    /// [`RuntimeError::Trap`] when the call traps (the store stays usable), and
    /// [`RuntimeError::TypeMismatch`] when the arguments do not match the function's type.
    pub fn call(&self, store: &mut Store, args: &[Value]) -> Result<Vec<Value>, RuntimeError> {
        let i = self.check(store)?;
        store.inner.call(i, args)
    }

    /// Calls the function with a gas limit of `limit` and returns the result with the gas
    /// used, also when the call traps (then the gas charged up to the trap).
    ///
    /// The call runs with a fresh [`wes_meter::BasicMeter`] in place of the store's meter,
    /// which is put back afterwards; the store's out-of-gas handler applies. On an engine
    /// without [`Config::pricing`](crate::Config::pricing) nothing is charged.
    pub fn call_with_gas(&self, store: &mut Store, args: &[Value], limit: u64) -> GasCall {
        let previous = store.inner.set_meter(Some(Box::new(wes_meter::BasicMeter::new(limit))));
        let operators0 = store.stats().operators_executed;
        let result = self.call(store, args);
        let operators = store.stats().operators_executed.wrapping_sub(operators0);
        let meter = store.inner.set_meter(previous);
        let gas = meter.map_or(GasUsage { limit, consumed: 0, refunded: 0 }, |m| GasUsage {
            limit: m.limit(),
            consumed: m.consumed(),
            refunded: m.refunded(),
        });
        GasCall { result, gas, operators }
    }
}

/// What a call's gas came to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct GasUsage {
    /// The limit (with any top-ups).
    pub limit: u64,
    /// Gas charged.
    pub consumed: u64,
    /// Gas refunded (bounded by the refund policy).
    pub refunded: u64,
}

impl GasUsage {
    /// Gas used net of refunds.
    pub fn used(&self) -> u64 {
        self.consumed.saturating_sub(self.refunded)
    }
}

/// The outcome of [`Func::call_with_gas`]: the results or the error, and the gas.
#[derive(Debug)]
pub struct GasCall {
    /// The results, or why the call failed.
    pub result: Result<Vec<Value>, RuntimeError>,
    /// The gas, also for a call that trapped.
    pub gas: GasUsage,
    /// The wasm operators the call executed, also when it trapped (see
    /// [`StoreStats::operators_executed`](crate::StoreStats::operators_executed)); 0 unless
    /// the engine counts them.
    pub operators: u64,
}

impl Store {
    /// Installs the meter calls in this store charge to, returning the previous one. Without a
    /// meter, metered code runs with unlimited gas.
    pub fn set_meter(&mut self, meter: Box<dyn wes_meter::GasMeter>) -> Option<Box<dyn wes_meter::GasMeter>> {
        self.inner.set_meter(Some(meter))
    }

    /// Removes and returns the meter.
    pub fn take_meter(&mut self) -> Option<Box<dyn wes_meter::GasMeter>> {
        self.inner.set_meter(None)
    }

    /// The meter, if one is installed.
    pub fn meter(&self) -> Option<&dyn wes_meter::GasMeter> {
        self.inner.meter()
    }

    /// Installs the handler asked for more gas when a charge does not fit: it gets the meter
    /// and the shortfall, may top the meter up with [`wes_meter::GasMeter::add_gas`], and
    /// returns whether execution should continue. Execution resumes at the exact point it
    /// stopped; if the handler declines or adds nothing, the call traps with `OutOfGas`.
    ///
    /// # Errors
    ///
    /// [`RuntimeError::NoOutOfGasResume`] when the engine's backend compiles gas checks that
    /// trap rather than resume ([`Backend::resumes_out_of_gas`](wes_core::Backend::resumes_out_of_gas);
    /// the JIT's `JitConfig::resume_out_of_gas`): its code has nowhere to resume.
    pub fn set_out_of_gas_handler(
        &mut self,
        handler: impl FnMut(&mut dyn wes_meter::GasMeter, u64) -> bool + Send + 'static,
    ) -> Result<(), RuntimeError> {
        let backend = self.engine().backend();
        if !backend.resumes_out_of_gas() {
            return Err(RuntimeError::NoOutOfGasResume { backend: backend.name() });
        }
        self.inner.set_out_of_gas_handler(Some(Box::new(handler)));
        Ok(())
    }

    /// Removes the out-of-gas handler.
    pub fn clear_out_of_gas_handler(&mut self) {
        self.inner.set_out_of_gas_handler(None);
    }
}

impl Memory {
    /// A new memory of type `ty` in `store`, zero-filled.
    ///
    /// # Errors
    ///
    /// [`RuntimeError::ResourceLimit`] when the minimum size exceeds the configured limit or
    /// cannot be allocated.
    pub fn new(store: &mut Store, ty: MemoryType) -> Result<Memory, RuntimeError> {
        let index = store.inner.add_memory(ty)?;
        Ok(Memory { store: store.inner.id(), index })
    }

    /// The memory's declared type.
    ///
    /// # Errors
    ///
    /// [`RuntimeError::WrongStore`] for a handle of another store.
    pub fn ty(&self, store: &Store) -> Result<MemoryType, RuntimeError> {
        store.inner.memory_ty(self.check(store)?).ok_or(RuntimeError::WrongStore)
    }

    /// The current size in pages.
    ///
    /// # Errors
    ///
    /// [`RuntimeError::WrongStore`] for a handle of another store.
    pub fn size(&self, store: &Store) -> Result<u64, RuntimeError> {
        Ok(self.data(store)?.len() as u64 / WASM_PAGE_SIZE)
    }

    /// The memory's bytes.
    ///
    /// # Errors
    ///
    /// [`RuntimeError::WrongStore`] for a handle of another store.
    pub fn data<'s>(&self, store: &'s Store) -> Result<&'s [u8], RuntimeError> {
        // Not `ok_or`: the error would be built and dropped on every read (the facade reads
        // the size twice per call).
        match store.inner.memory_data(self.check(store)?) {
            Some(data) => Ok(data),
            None => Err(RuntimeError::WrongStore),
        }
    }

    /// The memory's bytes, to write.
    ///
    /// # Errors
    ///
    /// [`RuntimeError::WrongStore`] for a handle of another store.
    pub fn data_mut<'s>(&self, store: &'s mut Store) -> Result<&'s mut [u8], RuntimeError> {
        let i = self.check(store)?;
        store.inner.memory_data_mut(i).ok_or(RuntimeError::WrongStore)
    }

    /// Grows the memory by `delta` pages, like `memory.grow`: the old size, or `None` when the
    /// memory cannot grow that much.
    ///
    /// # Errors
    ///
    /// [`RuntimeError::WrongStore`] for a handle of another store.
    pub fn grow(&self, store: &mut Store, delta: u64) -> Result<Option<u64>, RuntimeError> {
        let i = self.check(store)?;
        Ok(store.inner.memory_grow_pages(i, delta))
    }
}

impl Table {
    /// A new table of type `ty` in `store`, every element `init`.
    ///
    /// # Errors
    ///
    /// [`RuntimeError::TypeMismatch`] when `init` is not of the element type, and
    /// [`RuntimeError::ResourceLimit`] when the minimum size exceeds the configured limit.
    pub fn new(store: &mut Store, ty: TableType, init: Value) -> Result<Table, RuntimeError> {
        let index = store.inner.add_table(ty, init)?;
        Ok(Table { store: store.inner.id(), index })
    }

    /// The table's declared type.
    ///
    /// # Errors
    ///
    /// [`RuntimeError::WrongStore`] for a handle of another store.
    pub fn ty(&self, store: &Store) -> Result<TableType, RuntimeError> {
        store.inner.table_ty(self.check(store)?).ok_or(RuntimeError::WrongStore)
    }

    /// The current size in elements.
    ///
    /// # Errors
    ///
    /// [`RuntimeError::WrongStore`] for a handle of another store.
    pub fn size(&self, store: &Store) -> Result<u64, RuntimeError> {
        store.inner.table_size(self.check(store)?).ok_or(RuntimeError::WrongStore)
    }

    /// Element `index`, or `None` past the end.
    ///
    /// # Errors
    ///
    /// [`RuntimeError::WrongStore`] for a handle of another store.
    pub fn get(&self, store: &Store, index: u64) -> Result<Option<Value>, RuntimeError> {
        Ok(store.inner.table_get(self.check(store)?, index))
    }

    /// Sets element `index`.
    ///
    /// # Errors
    ///
    /// [`RuntimeError::TypeMismatch`] for a value of the wrong type, a `Trap` with
    /// `TableOutOfBounds` past the end.
    pub fn set(&self, store: &mut Store, index: u64, value: Value) -> Result<(), RuntimeError> {
        let i = self.check(store)?;
        store.inner.table_set(i, index, value)
    }
}

impl Global {
    /// A new global of type `ty` in `store`.
    ///
    /// # Errors
    ///
    /// [`RuntimeError::TypeMismatch`] when `value` is not of the global's type.
    pub fn new(store: &mut Store, ty: GlobalType, value: Value) -> Result<Global, RuntimeError> {
        let index = store.inner.add_global(ty, value)?;
        Ok(Global { store: store.inner.id(), index })
    }

    /// The global's type.
    ///
    /// # Errors
    ///
    /// [`RuntimeError::WrongStore`] for a handle of another store.
    pub fn ty(&self, store: &Store) -> Result<GlobalType, RuntimeError> {
        store.inner.global_ty(self.check(store)?).ok_or(RuntimeError::WrongStore)
    }

    /// The current value.
    ///
    /// # Errors
    ///
    /// [`RuntimeError::WrongStore`] for a handle of another store.
    pub fn get(&self, store: &Store) -> Result<Value, RuntimeError> {
        store.inner.global_get(self.check(store)?).ok_or(RuntimeError::WrongStore)
    }

    /// Sets the value of a mutable global.
    ///
    /// # Errors
    ///
    /// [`RuntimeError::TypeMismatch`] for an immutable global or a value of the wrong type.
    pub fn set(&self, store: &mut Store, value: Value) -> Result<(), RuntimeError> {
        let i = self.check(store)?;
        store.inner.global_set(i, value)
    }
}

impl Instance {
    fn check(&self, store: &Store) -> Result<usize, RuntimeError> {
        if store.inner.id() == self.store { Ok(self.index) } else { Err(RuntimeError::WrongStore) }
    }

    /// The export called `name`, if there is one.
    pub fn get_export(&self, store: &Store, name: &str) -> Option<Extern> {
        let i = self.check(store).ok()?;
        let (kind, index) = store.inner.export(i, name)?;
        Some(Extern::from_store_item(store, kind, index))
    }

    /// The exported function called `name`, if there is one.
    pub fn get_func(&self, store: &Store, name: &str) -> Option<Func> {
        match self.get_export(store, name)? {
            Extern::Func(f) => Some(f),
            _ => None,
        }
    }

    /// Memory `index` of the instance in its module's memory index space (imported or
    /// defined, exported or not), for an embedder that owns the module's memory as a whole.
    pub fn memory(&self, store: &Store, index: u32) -> Option<Memory> {
        let i = self.check(store).ok()?;
        let m = store.inner.instance_memory(i, index)?;
        Some(Memory { store: store.inner.id(), index: m })
    }

    /// The exported memory called `name`, if there is one.
    pub fn get_memory(&self, store: &Store, name: &str) -> Option<Memory> {
        match self.get_export(store, name)? {
            Extern::Memory(m) => Some(m),
            _ => None,
        }
    }

    /// The exported table called `name`, if there is one.
    pub fn get_table(&self, store: &Store, name: &str) -> Option<Table> {
        match self.get_export(store, name)? {
            Extern::Table(t) => Some(t),
            _ => None,
        }
    }

    /// The exported global called `name`, if there is one.
    pub fn get_global(&self, store: &Store, name: &str) -> Option<Global> {
        match self.get_export(store, name)? {
            Extern::Global(g) => Some(g),
            _ => None,
        }
    }

    /// Every export, in the order of the export section.
    pub fn exports(&self, store: &Store) -> Vec<(String, Extern)> {
        let Ok(i) = self.check(store) else { return Vec::new() };
        let Some(module) = store.inner.instance_module(i) else { return Vec::new() };
        module
            .exports
            .iter()
            .filter_map(|e| {
                let (kind, index) = store.inner.export(i, &e.name)?;
                Some((e.name.clone(), Extern::from_store_item(store, kind, index)))
            })
            .collect()
    }
}
