//! [`Store`]: every memory, table, global, function and instance one unit of isolation owns,
//! and the handles that name them.
//!
//! Objects are boxed so their addresses never change: compiled code holds pointers to them
//! through the vmctx (see [`wes_core::vm`]). Handles are plain indices plus the store's id, and
//! a handle used with another store is an error, never a wrong object.

use std::any::Any;
use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use wes_core::backend::{CompiledModule, ValRaw};
use wes_core::module::{ConstExpr, ConstOp, DataMode, ElementItems, ElementMode, ExternKind, ImportType};
use wes_core::types::{GlobalType, Limits, MemoryType, Mutability, TableType};
use wes_core::{FrameInfo, FuncRef, FuncType, Trap, TrapCode, ValType, Value, WASM_PAGE_SIZE};
use wes_meter::{ChargeKind, DynamicOp, GasMeter, Pricing};

use crate::RuntimeError;
use crate::engine::{Engine, Module};
use crate::host::{HostFn, HostFunc};
use crate::vm::{
    self, HostFuncCtx, LinearMemory, VMContext, VMFuncRef, VMMemoryDef, VMStoreContext, VMTableDef, WasmStack,
};

/// How many frames a trap's backtrace keeps (the innermost ones).
const MAX_BACKTRACE: usize = 64;
/// Extra native bytes allowed per wasm frame on top of what the backend reports.
const FRAME_SLACK: usize = 64;
/// The largest memory a 32-bit index can address, in pages.
const MAX_WASM_PAGES: u64 = 65_536;

static NEXT_STORE_ID: AtomicU64 = AtomicU64::new(1);

/// The unit of isolation: owns instances and everything they use. Not shared between threads
/// while in use (`&mut` for every operation that can run wasm), so it needs no locks.
#[derive(Debug)]
pub struct Store {
    pub(crate) inner: Box<StoreInner>,
}

impl Store {
    /// An empty store for modules of `engine`.
    pub fn new(engine: &Engine) -> Store {
        let mut tail_args = vec![0 as ValRaw; wes_core::vm::TAIL_CALL_SLOTS as usize].into_boxed_slice();
        let mut ctx = Box::new(VMStoreContext {
            frames_left: engine.config().max_call_depth,
            store: std::ptr::null_mut(),
            tail_callee: std::ptr::null(),
            tail_caller: std::ptr::null_mut(),
            tail_args: tail_args.as_mut_ptr(),
            gas: u64::MAX,
        });
        let ctx_ptr: *mut VMStoreContext = &mut *ctx;
        Store {
            inner: Box::new(StoreInner {
                id: NEXT_STORE_ID.fetch_add(1, Ordering::Relaxed),
                engine: engine.clone(),
                _ctx: ctx,
                ctx_ptr,
                _tail_args: tail_args,
                funcs: Vec::new(),
                func_by_addr: HashMap::new(),
                host_funcs: HashMap::new(),
                memories: Vec::new(),
                tables: Vec::new(),
                globals: Vec::new(),
                instances: Vec::new(),
                types: HashMap::new(),
                max_frame: 0,
                stack: None,
                trap: None,
                data: None,
                pricing: engine.config().pricing.clone(),
                meter: None,
                gas_synced: u64::MAX,
                out_of_gas: None,
            }),
        }
    }

    /// The engine this store runs modules of.
    pub fn engine(&self) -> &Engine {
        &self.inner.engine
    }

    /// Attaches the embedder's data to this store, replacing any earlier data. Host functions
    /// reach it through [`Caller::data`](crate::Caller::data): per-store state (a contract's
    /// context, counters, a virtual file system) without global variables.
    pub fn set_data<T: Any + Send>(&mut self, data: T) {
        self.inner.data = Some(Box::new(data));
    }

    /// The data attached with [`Store::set_data`], if it is a `T`.
    pub fn data<T: Any>(&self) -> Option<&T> {
        self.inner.data.as_ref()?.downcast_ref()
    }

    /// The data attached with [`Store::set_data`], mutably, if it is a `T`.
    pub fn data_mut<T: Any>(&mut self) -> Option<&mut T> {
        self.inner.data_mut()
    }
}

/// A pending trap while it unwinds.
#[derive(Debug)]
pub(crate) struct PendingTrap {
    code: TrapCode,
    detail: Option<String>,
    /// `(instance, function index, module offset)`, innermost first.
    frames: Vec<(usize, u32, u32)>,
}

pub(crate) enum FuncKind {
    Wasm,
    Host { func: Arc<HostFn>, _ctx: Box<HostFuncCtx> },
}

impl std::fmt::Debug for FuncKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            FuncKind::Wasm => "Wasm",
            FuncKind::Host { .. } => "Host",
        })
    }
}

#[derive(Debug)]
pub(crate) struct FuncEntry {
    pub(crate) vmref: Box<VMFuncRef>,
    ty: FuncType,
    kind: FuncKind,
}

#[repr(C)]
#[derive(Debug)]
pub(crate) struct MemoryEntry {
    def: VMMemoryDef,
    data: LinearMemory,
    ty: MemoryType,
}

impl MemoryEntry {
    fn new(ty: MemoryType, max_pages: u64) -> Result<Box<MemoryEntry>, RuntimeError> {
        let pages = ty.limits.min;
        if pages > max_pages.min(MAX_WASM_PAGES) {
            return Err(RuntimeError::ResourceLimit(format!("memory of {pages} pages exceeds the limit")));
        }
        let bytes = (pages * WASM_PAGE_SIZE) as usize;
        let data = LinearMemory::new(bytes)
            .ok_or_else(|| RuntimeError::ResourceLimit(format!("cannot allocate a memory of {pages} pages")))?;
        let mut m = Box::new(MemoryEntry { def: VMMemoryDef { base: std::ptr::null_mut(), length: 0 }, data, ty });
        m.refresh();
        Ok(m)
    }

    /// Re-publishes where the bytes are, after anything that may have moved them.
    fn refresh(&mut self) {
        self.def.base = self.data.as_mut_ptr();
        self.def.length = self.data.len() as u64;
    }

    fn pages(&self) -> u64 {
        self.data.len() as u64 / WASM_PAGE_SIZE
    }

    /// `memory.grow`: the old size in pages, or `None` when it cannot grow that much.
    fn grow(&mut self, delta: u64, max_pages: u64) -> Option<u64> {
        let new_bytes = self.check_grow(delta, max_pages)?;
        self.commit(new_bytes)
    }

    /// The first half of a grow: checks the limits, returning the new length in bytes; `None`
    /// when the limits forbid it.
    fn check_grow(&self, delta: u64, max_pages: u64) -> Option<usize> {
        let new = self.pages().checked_add(delta)?;
        let limit = self.ty.limits.max.unwrap_or(MAX_WASM_PAGES).min(max_pages).min(MAX_WASM_PAGES);
        if new > limit {
            return None;
        }
        let new_bytes = usize::try_from(new * WASM_PAGE_SIZE).ok()?;
        Some(new_bytes)
    }

    /// The second half: grows to `new_bytes`; the old size in pages, or `None` when the memory
    /// cannot be allocated (nothing changed).
    fn commit(&mut self, new_bytes: usize) -> Option<u64> {
        let old = self.pages();
        if !self.data.grow_to(new_bytes) {
            return None;
        }
        self.refresh();
        Some(old)
    }
}

#[repr(C)]
#[derive(Debug)]
pub(crate) struct TableEntry {
    def: VMTableDef,
    elems: Vec<u64>,
    ty: TableType,
}

impl TableEntry {
    fn new(ty: TableType, init: u64, max: u64) -> Result<Box<TableEntry>, RuntimeError> {
        let len = ty.limits.min;
        if len > max {
            return Err(RuntimeError::ResourceLimit(format!("table of {len} elements exceeds the limit")));
        }
        let mut elems = Vec::new();
        elems
            .try_reserve_exact(len as usize)
            .map_err(|_| RuntimeError::ResourceLimit(format!("cannot allocate a table of {len} elements")))?;
        elems.resize(len as usize, init);
        let mut t = Box::new(TableEntry { def: VMTableDef { base: std::ptr::null_mut(), length: 0 }, elems, ty });
        t.refresh();
        Ok(t)
    }

    fn refresh(&mut self) {
        self.def.base = self.elems.as_mut_ptr();
        self.def.length = self.elems.len() as u64;
    }

    /// Checks the limits and reserves room for `delta` more elements; the new length.
    fn reserve(&mut self, delta: u64, max: u64) -> Option<u64> {
        let new = (self.elems.len() as u64).checked_add(delta)?;
        let limit = self.ty.limits.max.unwrap_or(u64::from(u32::MAX)).min(max);
        if new > limit {
            return None;
        }
        self.elems.try_reserve_exact(usize::try_from(delta).ok()?).ok()?;
        Some(new)
    }

    /// Fills the reserved room with `init`; the old length.
    fn commit(&mut self, new: u64, init: u64) -> u64 {
        let old = self.elems.len() as u64;
        self.elems.resize(new as usize, init);
        self.refresh();
        old
    }
}

#[repr(C)]
#[derive(Debug)]
pub(crate) struct GlobalEntry {
    value: ValRaw,
    ty: GlobalType,
}

#[derive(Debug)]
pub(crate) struct InstanceEntry {
    module: Arc<wes_core::Module>,
    _compiled: Arc<dyn CompiledModule>,
    _vmctx: Box<VMContext>,
    funcs: Vec<*const VMFuncRef>,
    _memory_defs: Vec<*mut VMMemoryDef>,
    _table_defs: Vec<*mut VMTableDef>,
    _global_slots: Vec<*mut ValRaw>,
    _type_ids: Vec<u32>,
    func_idx: Vec<u32>,
    memory_idx: Vec<u32>,
    table_idx: Vec<u32>,
    global_idx: Vec<u32>,
    /// Element segments as references; dropped ones are empty.
    elements: Vec<Vec<u64>>,
    data_dropped: Vec<bool>,
}

/// The store's contents. Libcalls reach it through the raw pointer in [`VMStoreContext`].
#[derive(Debug)]
pub(crate) struct StoreInner {
    id: u64,
    engine: Engine,
    /// Owns the store context; after construction it is accessed only through `ctx_ptr`,
    /// because compiled code holds that pointer too.
    _ctx: Box<VMStoreContext>,
    ctx_ptr: *mut VMStoreContext,
    /// The tail-call buffer the store context points to; accessed only through that pointer.
    _tail_args: Box<[ValRaw]>,
    funcs: Vec<FuncEntry>,
    /// Store index of each `FuncRef` record by address, to turn `funcref`s back into handles.
    func_by_addr: HashMap<usize, u32>,
    /// Host functions already placed in this store, by the address of their implementation.
    host_funcs: HashMap<usize, u32>,
    // Boxed so that their addresses, which compiled code holds, survive the vectors growing.
    #[expect(clippy::vec_box, reason = "compiled code holds pointers to the boxed entries")]
    memories: Vec<Box<MemoryEntry>>,
    #[expect(clippy::vec_box, reason = "compiled code holds pointers to the boxed entries")]
    tables: Vec<Box<TableEntry>>,
    #[expect(clippy::vec_box, reason = "compiled code holds pointers to the boxed entries")]
    globals: Vec<Box<GlobalEntry>>,
    instances: Vec<InstanceEntry>,
    /// Store-wide signature ids, so `call_indirect` compares signatures across modules.
    types: HashMap<FuncType, u32>,
    /// The largest native frame of any module instantiated here.
    max_frame: usize,
    stack: Option<WasmStack>,
    trap: Option<PendingTrap>,
    /// The embedder's per-store data, for host functions.
    data: Option<Box<dyn Any + Send>>,
    /// The pricing metered code of this store's engine was compiled under; `None` when the
    /// engine does not meter.
    pricing: Option<Arc<Pricing>>,
    /// The meter calls charge to; without one, metered code runs with unlimited gas.
    meter: Option<Box<dyn GasMeter>>,
    /// The gas counter's value when the meter last saw it: the meter is behind by
    /// `gas_synced - counter`.
    gas_synced: u64,
    /// Asked for more gas when a charge does not fit.
    out_of_gas: Option<HandlerBox>,
}

/// The out-of-gas handler, with a `Debug` that says only whether there is one.
pub(crate) struct HandlerBox(Box<OutOfGasHandler>);

impl std::fmt::Debug for HandlerBox {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("OutOfGasHandler")
    }
}

/// An embedder's out-of-gas handler: given the meter and how much more gas the charge needs,
/// it may top the meter up ([`GasMeter::add_gas`]) and return `true` to continue, or return
/// `false` to let the call trap with `OutOfGas`.
pub type OutOfGasHandler = dyn FnMut(&mut dyn GasMeter, u64) -> bool + Send;

fn bounds(offset: u32, len: u32, size: usize) -> Result<std::ops::Range<usize>, TrapCode> {
    let end = u64::from(offset) + u64::from(len);
    if end > size as u64 { Err(TrapCode::MemoryOutOfBounds) } else { Ok(offset as usize..end as usize) }
}

fn table_bounds(offset: u32, len: u32, size: usize) -> Result<std::ops::Range<usize>, TrapCode> {
    bounds(offset, len, size).map_err(|_| TrapCode::TableOutOfBounds)
}

impl StoreInner {
    pub(crate) fn id(&self) -> u64 {
        self.id
    }

    pub(crate) fn engine(&self) -> &Engine {
        &self.engine
    }

    pub(crate) fn data_mut<T: Any>(&mut self) -> Option<&mut T> {
        self.data.as_mut()?.downcast_mut()
    }

    pub(crate) fn store_ctx(&mut self) -> *mut VMStoreContext {
        self.ctx_ptr
    }

    // ---- traps -------------------------------------------------------------------------

    pub(crate) fn record_trap(&mut self, code: TrapCode, detail: Option<String>) {
        self.trap = Some(PendingTrap { code, detail, frames: Vec::new() });
    }

    pub(crate) fn record_frame(&mut self, instance: usize, func_index: u32, offset: u32) {
        let trap = self.trap.get_or_insert_with(|| PendingTrap {
            // A status of zero without a recorded trap would be a runtime bug; report it as a
            // host error rather than losing the trap.
            code: TrapCode::HostError,
            detail: Some("trap without a recorded cause".into()),
            frames: Vec::new(),
        });
        if trap.frames.len() < MAX_BACKTRACE {
            trap.frames.push((instance, func_index, offset));
        }
    }

    fn take_trap(&mut self) -> Trap {
        let pending = self.trap.take().unwrap_or(PendingTrap {
            code: TrapCode::HostError,
            detail: Some("trap without a recorded cause".into()),
            frames: Vec::new(),
        });
        let mut trap = Trap::new(pending.code);
        trap.detail = pending.detail;
        trap.backtrace = pending
            .frames
            .iter()
            .map(|(i, f, at)| FrameInfo {
                func_index: *f,
                func_name: self.instances.get(*i).and_then(|inst| inst.module.func_name(*f)).map(str::to_string),
                offset: Some(*at),
            })
            .collect();
        trap
    }

    // ---- values ------------------------------------------------------------------------

    /// The raw form of a value, or `None` for a function reference of another store.
    pub(crate) fn value_to_raw(&self, v: Value) -> Option<ValRaw> {
        Some(match v {
            Value::I32(x) => ValRaw::from(x as u32),
            Value::I64(x) => ValRaw::from(x as u64),
            Value::F32(b) => ValRaw::from(b),
            Value::F64(b) => ValRaw::from(b),
            Value::V128(x) => x,
            Value::FuncRef(None) | Value::ExternRef(None) => 0,
            Value::FuncRef(Some(r)) => self.funcref_raw(r)?,
            Value::ExternRef(Some(e)) => ValRaw::from(e.0) + 1,
        })
    }

    fn funcref_raw(&self, r: FuncRef) -> Option<ValRaw> {
        let f = self.funcs.get(r.index() as usize)?;
        Some(&*f.vmref as *const VMFuncRef as usize as ValRaw)
    }

    pub(crate) fn raw_to_value(&self, raw: ValRaw, ty: ValType) -> Value {
        match ty {
            ValType::I32 => Value::I32(raw as u32 as i32),
            ValType::I64 => Value::I64(raw as u64 as i64),
            ValType::F32 => Value::F32(raw as u32),
            ValType::F64 => Value::F64(raw as u64),
            ValType::V128 => Value::V128(raw),
            ValType::FuncRef => {
                let addr = raw as u64 as usize;
                Value::FuncRef(if addr == 0 {
                    None
                } else {
                    self.func_by_addr.get(&addr).map(|i| FuncRef::from_index(*i))
                })
            }
            ValType::ExternRef => {
                let x = raw as u64;
                Value::ExternRef(if x == 0 { None } else { Some(wes_core::ExternRef((x - 1) as u32)) })
            }
        }
    }

    // ---- objects -----------------------------------------------------------------------

    fn push_func(&mut self, vmref: Box<VMFuncRef>, ty: FuncType, kind: FuncKind) -> u32 {
        let index = self.funcs.len() as u32;
        let mut vmref = vmref;
        vmref.store_index = index;
        self.func_by_addr.insert(&*vmref as *const VMFuncRef as usize, index);
        self.funcs.push(FuncEntry { vmref, ty, kind });
        index
    }

    fn type_id(&mut self, ty: &FuncType) -> u32 {
        let next = self.types.len() as u32;
        *self.types.entry(ty.clone()).or_insert(next)
    }

    pub(crate) fn add_host_func(&mut self, f: &HostFunc) -> u32 {
        let key = Arc::as_ptr(&f.func) as *const () as usize;
        if let Some(i) = self.host_funcs.get(&key) {
            return *i;
        }
        let type_id = self.type_id(&f.ty);
        let index = self.funcs.len() as u32;
        let mut ctx = Box::new(HostFuncCtx { store: self.ctx_ptr, func: index });
        let vmref = Box::new(VMFuncRef {
            call: vm::host_trampoline,
            vmctx: &mut *ctx as *mut HostFuncCtx as *mut u8,
            type_id,
            store_index: index,
        });
        let i = self.push_func(vmref, f.ty.clone(), FuncKind::Host { func: Arc::clone(&f.func), _ctx: ctx });
        self.host_funcs.insert(key, i);
        i
    }

    pub(crate) fn host_func(&self, index: u32) -> Option<(FuncType, Arc<HostFn>)> {
        let f = self.funcs.get(index as usize)?;
        match &f.kind {
            FuncKind::Host { func, .. } => Some((f.ty.clone(), Arc::clone(func))),
            FuncKind::Wasm => None,
        }
    }

    pub(crate) fn func_ty(&self, index: u32) -> Option<&FuncType> {
        self.funcs.get(index as usize).map(|f| &f.ty)
    }

    pub(crate) fn func_ptr(&self, index: u32) -> Option<*const VMFuncRef> {
        self.funcs.get(index as usize).map(|f| &*f.vmref as *const VMFuncRef)
    }

    pub(crate) fn add_memory(&mut self, ty: MemoryType) -> Result<u32, RuntimeError> {
        let m = MemoryEntry::new(ty, self.engine.config().max_memory_pages)?;
        self.memories.push(m);
        Ok(self.memories.len() as u32 - 1)
    }

    pub(crate) fn add_table(&mut self, ty: TableType, init: Value) -> Result<u32, RuntimeError> {
        if init.ty() != ValType::from(ty.element) {
            return Err(RuntimeError::TypeMismatch(format!("table of {} initialised with {}", ty.element, init.ty())));
        }
        let raw = self.value_to_raw(init).ok_or(RuntimeError::WrongStore)? as u64;
        let t = TableEntry::new(ty, raw, self.engine.config().max_table_elements)?;
        self.tables.push(t);
        Ok(self.tables.len() as u32 - 1)
    }

    pub(crate) fn add_global(&mut self, ty: GlobalType, init: Value) -> Result<u32, RuntimeError> {
        if init.ty() != ty.content {
            return Err(RuntimeError::TypeMismatch(format!("global of {} initialised with {}", ty.content, init.ty())));
        }
        let value = self.value_to_raw(init).ok_or(RuntimeError::WrongStore)?;
        self.globals.push(Box::new(GlobalEntry { value, ty }));
        Ok(self.globals.len() as u32 - 1)
    }

    pub(crate) fn global_get(&self, index: u32) -> Option<Value> {
        let g = self.globals.get(index as usize)?;
        Some(self.raw_to_value(g.value, g.ty.content))
    }

    pub(crate) fn global_ty(&self, index: u32) -> Option<GlobalType> {
        self.globals.get(index as usize).map(|g| g.ty)
    }

    pub(crate) fn global_set(&mut self, index: u32, v: Value) -> Result<(), RuntimeError> {
        let raw = self.value_to_raw(v).ok_or(RuntimeError::WrongStore)?;
        let g = self.globals.get_mut(index as usize).ok_or(RuntimeError::WrongStore)?;
        if g.ty.mutability != Mutability::Var {
            return Err(RuntimeError::TypeMismatch("global is immutable".into()));
        }
        if v.ty() != g.ty.content {
            return Err(RuntimeError::TypeMismatch(format!("global of {} set to {}", g.ty.content, v.ty())));
        }
        g.value = raw;
        Ok(())
    }

    pub(crate) fn memory_data(&self, index: u32) -> Option<&[u8]> {
        self.memories.get(index as usize).map(|m| &m.data[..])
    }

    pub(crate) fn memory_data_mut(&mut self, index: u32) -> Option<&mut [u8]> {
        let m = self.memories.get_mut(index as usize)?;
        m.refresh();
        Some(&mut m.data[..])
    }

    pub(crate) fn memory_ty(&self, index: u32) -> Option<MemoryType> {
        self.memories.get(index as usize).map(|m| m.ty)
    }

    pub(crate) fn memory_grow_pages(&mut self, index: u32, delta: u64) -> Option<u64> {
        let max = self.engine.config().max_memory_pages;
        self.memories.get_mut(index as usize)?.grow(delta, max)
    }

    pub(crate) fn instance_memory_data(&mut self, instance: usize, mem: u32) -> Option<&mut [u8]> {
        let index = *self.instances.get(instance)?.memory_idx.get(mem as usize)?;
        let m = self.memories.get_mut(index as usize)?;
        m.refresh();
        Some(&mut m.data[..])
    }

    pub(crate) fn table_size(&self, index: u32) -> Option<u64> {
        self.tables.get(index as usize).map(|t| t.elems.len() as u64)
    }

    pub(crate) fn table_ty(&self, index: u32) -> Option<TableType> {
        self.tables.get(index as usize).map(|t| t.ty)
    }

    pub(crate) fn table_get(&self, index: u32, elem: u64) -> Option<Value> {
        let t = self.tables.get(index as usize)?;
        let raw = *t.elems.get(usize::try_from(elem).ok()?)?;
        Some(self.raw_to_value(ValRaw::from(raw), ValType::from(t.ty.element)))
    }

    pub(crate) fn table_set(&mut self, index: u32, elem: u64, v: Value) -> Result<(), RuntimeError> {
        let raw = self.value_to_raw(v).ok_or(RuntimeError::WrongStore)? as u64;
        let t = self.tables.get_mut(index as usize).ok_or(RuntimeError::WrongStore)?;
        if v.ty() != ValType::from(t.ty.element) {
            return Err(RuntimeError::TypeMismatch(format!("table of {} set to {}", t.ty.element, v.ty())));
        }
        let slot = usize::try_from(elem)
            .ok()
            .and_then(|e| t.elems.get_mut(e))
            .ok_or(RuntimeError::Trap(Trap::new(TrapCode::TableOutOfBounds)))?;
        *slot = raw;
        Ok(())
    }

    pub(crate) fn instance_module(&self, instance: usize) -> Option<&Arc<wes_core::Module>> {
        self.instances.get(instance).map(|i| &i.module)
    }

    /// The export `name` of an instance, as a store-level item.
    pub(crate) fn export(&self, instance: usize, name: &str) -> Option<(ExternKind, u32)> {
        let inst = self.instances.get(instance)?;
        let e = inst.module.export(name)?;
        let list = match e.kind {
            ExternKind::Func => &inst.func_idx,
            ExternKind::Table => &inst.table_idx,
            ExternKind::Memory => &inst.memory_idx,
            ExternKind::Global => &inst.global_idx,
        };
        Some((e.kind, *list.get(e.index as usize)?))
    }

    // ---- gas ---------------------------------------------------------------------------

    /// Loads the meter's remaining gas into the counter before wasm runs.
    pub(crate) fn gas_enter(&mut self) {
        let gas = self.meter.as_ref().map_or(u64::MAX, |m| m.remaining());
        vm::set_gas_counter(self.ctx_ptr, gas);
        self.gas_synced = gas;
    }

    /// Charges the meter what compiled code spent since the last sync.
    pub(crate) fn gas_leave(&mut self) {
        self.gas_sync();
    }

    fn gas_sync(&mut self) {
        let counter = vm::gas_counter(self.ctx_ptr);
        if let Some(meter) = &mut self.meter {
            let spent = self.gas_synced.saturating_sub(counter);
            if spent > 0 {
                // Cannot fail: the counter started at the meter's remaining gas.
                let _ = meter.charge_for(ChargeKind::Code, spent);
            }
        }
        self.gas_synced = counter;
    }

    /// After the meter changed: the counter becomes its remaining gas.
    fn gas_reload(&mut self) {
        if let Some(meter) = &self.meter {
            let gas = meter.remaining();
            vm::set_gas_counter(self.ctx_ptr, gas);
            self.gas_synced = gas;
        }
    }

    /// Asks the out-of-gas handler for `needed` more gas; whether it added any.
    fn ask_for_gas(&mut self, needed: u64) -> bool {
        let (Some(meter), Some(handler)) = (&mut self.meter, &mut self.out_of_gas) else { return false };
        let before = meter.remaining();
        (handler.0)(meter.as_mut(), needed) && meter.remaining() > before
    }

    /// The base cost of a host call (0 when not metering).
    pub(crate) fn host_call_cost(&self) -> u64 {
        self.pricing.as_ref().map_or(0, |p| p.host_call_cost())
    }

    /// Charges `amount` at run time (a dynamic cost, a host call, a host function's charge),
    /// asking the out-of-gas handler when it does not fit. Nothing is charged when the engine
    /// does not meter or the store has no meter.
    pub(crate) fn charge_gas(&mut self, kind: ChargeKind, amount: u64) -> Result<(), TrapCode> {
        if self.pricing.is_none() || self.meter.is_none() || amount == 0 {
            return Ok(());
        }
        self.gas_sync();
        loop {
            let Some(meter) = &mut self.meter else { return Ok(()) };
            match meter.charge_for(kind, amount) {
                Ok(()) => break,
                Err(e) => {
                    if !self.ask_for_gas(e.requested - e.remaining) {
                        return Err(TrapCode::OutOfGas);
                    }
                }
            }
        }
        self.gas_reload();
        Ok(())
    }

    /// Makes sure `amount` can be charged (asking the out-of-gas handler if needed) without
    /// charging it.
    fn ensure_gas(&mut self, amount: u64) -> Result<(), TrapCode> {
        if self.pricing.is_none() || self.meter.is_none() || amount == 0 {
            return Ok(());
        }
        self.gas_sync();
        loop {
            let remaining = self.meter.as_ref().map_or(u64::MAX, |m| m.remaining());
            if remaining >= amount {
                self.gas_reload();
                return Ok(());
            }
            if !self.ask_for_gas(amount - remaining) {
                self.gas_reload();
                return Err(TrapCode::OutOfGas);
            }
        }
    }

    fn charge_dynamic(&mut self, op: DynamicOp, units: u64) -> Result<(), TrapCode> {
        let cost = self.pricing.as_ref().map_or(0, |p| p.dynamic_cost(op, units));
        self.charge_gas(ChargeKind::Dynamic(op.name()), cost)
    }

    /// The `OutOfGas` libcall: a segment costing `cost` found the counter short. Returns
    /// whether the counter now covers it; otherwise the `OutOfGas` trap is recorded.
    pub(crate) fn refill_gas(&mut self, cost: u64) -> bool {
        if self.meter.is_none() {
            // Unlimited gas: the counter only ran down from u64::MAX.
            vm::set_gas_counter(self.ctx_ptr, u64::MAX);
            self.gas_synced = u64::MAX;
            return true;
        }
        self.gas_sync();
        loop {
            let remaining = self.meter.as_ref().map_or(0, |m| m.remaining());
            if remaining >= cost {
                self.gas_reload();
                return true;
            }
            if !self.ask_for_gas(cost - remaining) {
                self.gas_reload();
                self.record_trap(TrapCode::OutOfGas, None);
                return false;
            }
        }
    }

    /// Refunds up to `amount` (bounded by the meter's policy); what was refunded.
    pub(crate) fn refund_gas(&mut self, amount: u64) -> u64 {
        self.gas_sync();
        self.meter.as_mut().map_or(0, |m| m.refund(amount))
    }

    /// Gas left, as the running code sees it; `None` without a meter.
    pub(crate) fn gas_remaining(&mut self) -> Option<u64> {
        self.gas_sync();
        self.meter.as_ref().map(|m| m.remaining())
    }

    pub(crate) fn set_meter(&mut self, meter: Option<Box<dyn GasMeter>>) -> Option<Box<dyn GasMeter>> {
        std::mem::replace(&mut self.meter, meter)
    }

    pub(crate) fn meter(&self) -> Option<&dyn GasMeter> {
        self.meter.as_deref()
    }

    pub(crate) fn set_out_of_gas_handler(&mut self, handler: Option<Box<OutOfGasHandler>>) {
        self.out_of_gas = handler.map(HandlerBox);
    }

    // ---- calls -------------------------------------------------------------------------

    /// The native stack a call needs for the configured depth and the largest frame here.
    pub(crate) fn stack_size(&self) -> usize {
        self.stack_size_for(self.max_frame)
    }

    fn stack_size_for(&self, max_frame: usize) -> usize {
        let config = self.engine.config();
        let per_frame = max_frame.saturating_add(FRAME_SLACK);
        (config.max_call_depth as usize).saturating_mul(per_frame).saturating_add(config.host_stack_reserve)
    }

    pub(crate) fn take_stack(&mut self) -> Result<WasmStack, RuntimeError> {
        let need = self.stack_size();
        match self.stack.take() {
            Some(s) if s.size() >= need => Ok(s),
            _ => WasmStack::new(need)
                .map_err(|e| RuntimeError::ResourceLimit(format!("cannot map a {need}-byte stack for wasm: {e}"))),
        }
    }

    pub(crate) fn put_stack(&mut self, stack: WasmStack) {
        self.stack = Some(stack);
    }

    /// Calls function `func` of this store with `args`.
    pub(crate) fn call(&mut self, func: u32, args: &[Value]) -> Result<Vec<Value>, RuntimeError> {
        let ty = self.func_ty(func).ok_or(RuntimeError::WrongStore)?.clone();
        if args.len() != ty.params().len() || args.iter().zip(ty.params()).any(|(a, t)| a.ty() != *t) {
            let got: Vec<&str> = args.iter().map(|a| a.ty().name()).collect();
            return Err(RuntimeError::TypeMismatch(format!("{ty} called with ({})", got.join(" "))));
        }
        let mut buf = vec![0 as ValRaw; ty.params().len().max(ty.results().len()).max(1)];
        for (slot, a) in buf.iter_mut().zip(args) {
            *slot = self.value_to_raw(*a).ok_or(RuntimeError::WrongStore)?;
        }
        if !vm::call(self, func, &mut buf)? {
            return Err(RuntimeError::Trap(self.take_trap()));
        }
        Ok(ty.results().iter().zip(&buf).map(|(t, raw)| self.raw_to_value(*raw, *t)).collect())
    }

    // ---- libcalls ----------------------------------------------------------------------

    fn mem_of(&self, instance: usize, mem: u32) -> Option<usize> {
        Some(*self.instances.get(instance)?.memory_idx.get(mem as usize)? as usize)
    }

    fn table_of(&self, instance: usize, table: u32) -> Option<usize> {
        Some(*self.instances.get(instance)?.table_idx.get(table as usize)? as usize)
    }

    /// `memory.grow`: the old size or -1 (`u32::MAX`); out of gas for the pages is a trap.
    pub(crate) fn memory_grow(&mut self, instance: usize, mem: u32, delta: u32) -> Result<u32, TrapCode> {
        let max = self.engine.config().max_memory_pages;
        let Some(m) = self.mem_of(instance, mem) else { return Ok(u32::MAX) };
        let Some(new_bytes) = self.memories.get(m).and_then(|e| e.check_grow(u64::from(delta), max)) else {
            return Ok(u32::MAX);
        };
        // Make sure the pages can be paid for, grow, then charge: an allocation failure then
        // returns -1 having charged nothing, and running out of gas grows nothing.
        let cost = self.pricing.as_ref().map_or(0, |p| p.dynamic_cost(DynamicOp::MemoryGrow, u64::from(delta)));
        self.ensure_gas(cost)?;
        let Some(old) = self.memories.get_mut(m).and_then(|e| e.commit(new_bytes)) else { return Ok(u32::MAX) };
        self.charge_dynamic(DynamicOp::MemoryGrow, u64::from(delta))?;
        Ok(old as u32)
    }

    pub(crate) fn memory_fill(
        &mut self,
        instance: usize,
        mem: u32,
        dst: u32,
        val: u8,
        len: u32,
    ) -> Result<(), TrapCode> {
        let i = self.mem_of(instance, mem).ok_or(TrapCode::MemoryOutOfBounds)?;
        let range = bounds(dst, len, self.memories.get(i).map_or(0, |m| m.data.len()))?;
        self.charge_dynamic(DynamicOp::MemoryFill, u64::from(len))?;
        let m = self.memories.get_mut(i).ok_or(TrapCode::MemoryOutOfBounds)?;
        m.data[range].fill(val);
        m.refresh();
        Ok(())
    }

    pub(crate) fn memory_copy(
        &mut self,
        instance: usize,
        dst_mem: u32,
        src_mem: u32,
        dst: u32,
        src: u32,
        len: u32,
    ) -> Result<(), TrapCode> {
        let d = self.mem_of(instance, dst_mem).ok_or(TrapCode::MemoryOutOfBounds)?;
        let s = self.mem_of(instance, src_mem).ok_or(TrapCode::MemoryOutOfBounds)?;
        let dlen = self.memories.get(d).map_or(0, |m| m.data.len());
        let slen = self.memories.get(s).map_or(0, |m| m.data.len());
        let dr = bounds(dst, len, dlen)?;
        let sr = bounds(src, len, slen)?;
        self.charge_dynamic(DynamicOp::MemoryCopy, u64::from(len))?;
        if d == s {
            let m = &mut self.memories[d];
            m.data.copy_within(sr, dr.start);
            m.refresh();
        } else {
            let (a, b) = pair_mut(&mut self.memories, d, s).ok_or(TrapCode::MemoryOutOfBounds)?;
            a.data[dr].copy_from_slice(&b.data[sr]);
            a.refresh();
            b.refresh();
        }
        Ok(())
    }

    pub(crate) fn memory_init(
        &mut self,
        instance: usize,
        mem: u32,
        data: u32,
        dst: u32,
        src: u32,
        len: u32,
    ) -> Result<(), TrapCode> {
        let m = self.mem_of(instance, mem).ok_or(TrapCode::MemoryOutOfBounds)?;
        let inst = self.instances.get(instance).ok_or(TrapCode::MemoryOutOfBounds)?;
        let bytes: &[u8] = match (inst.module.data.get(data as usize), inst.data_dropped.get(data as usize)) {
            (Some(seg), Some(false)) => inst.module.slice(&seg.range),
            _ => &[],
        };
        let sr = bounds(src, len, bytes.len())?;
        let dr = bounds(dst, len, self.memories.get(m).map_or(0, |x| x.data.len()))?;
        self.charge_dynamic(DynamicOp::MemoryInit, u64::from(len))?;
        let inst = self.instances.get(instance).ok_or(TrapCode::MemoryOutOfBounds)?;
        let bytes: &[u8] = match inst.module.data.get(data as usize) {
            Some(seg) => inst.module.slice(&seg.range),
            None => &[],
        };
        let memory = self.memories.get_mut(m).ok_or(TrapCode::MemoryOutOfBounds)?;
        memory.data[dr].copy_from_slice(bytes.get(sr).ok_or(TrapCode::MemoryOutOfBounds)?);
        memory.refresh();
        Ok(())
    }

    pub(crate) fn data_drop(&mut self, instance: usize, data: u32) {
        if let Some(d) = self.instances.get_mut(instance).and_then(|i| i.data_dropped.get_mut(data as usize)) {
            *d = true;
        }
    }

    /// `table.grow`: the old size or -1 (`u32::MAX`); out of gas for the elements is a trap.
    pub(crate) fn table_grow(&mut self, instance: usize, table: u32, init: u64, delta: u32) -> Result<u32, TrapCode> {
        let max = self.engine.config().max_table_elements;
        let Some(t) = self.table_of(instance, table) else { return Ok(u32::MAX) };
        let Some(new) = self.tables.get_mut(t).and_then(|e| e.reserve(u64::from(delta), max)) else {
            return Ok(u32::MAX);
        };
        self.charge_dynamic(DynamicOp::TableGrow, u64::from(delta))?;
        Ok(self.tables.get_mut(t).map_or(u32::MAX, |e| e.commit(new, init) as u32))
    }

    pub(crate) fn table_fill(
        &mut self,
        instance: usize,
        table: u32,
        dst: u32,
        val: u64,
        len: u32,
    ) -> Result<(), TrapCode> {
        let i = self.table_of(instance, table).ok_or(TrapCode::TableOutOfBounds)?;
        let range = table_bounds(dst, len, self.tables.get(i).map_or(0, |t| t.elems.len()))?;
        self.charge_dynamic(DynamicOp::TableFill, u64::from(len))?;
        let t = self.tables.get_mut(i).ok_or(TrapCode::TableOutOfBounds)?;
        t.elems[range].fill(val);
        t.refresh();
        Ok(())
    }

    pub(crate) fn table_copy(
        &mut self,
        instance: usize,
        dst_table: u32,
        src_table: u32,
        dst: u32,
        src: u32,
        len: u32,
    ) -> Result<(), TrapCode> {
        let d = self.table_of(instance, dst_table).ok_or(TrapCode::TableOutOfBounds)?;
        let s = self.table_of(instance, src_table).ok_or(TrapCode::TableOutOfBounds)?;
        let dlen = self.tables.get(d).map_or(0, |t| t.elems.len());
        let slen = self.tables.get(s).map_or(0, |t| t.elems.len());
        let dr = table_bounds(dst, len, dlen)?;
        let sr = table_bounds(src, len, slen)?;
        self.charge_dynamic(DynamicOp::TableCopy, u64::from(len))?;
        if d == s {
            let t = &mut self.tables[d];
            t.elems.copy_within(sr, dr.start);
            t.refresh();
        } else {
            let (a, b) = pair_mut(&mut self.tables, d, s).ok_or(TrapCode::TableOutOfBounds)?;
            a.elems[dr].copy_from_slice(&b.elems[sr]);
            a.refresh();
            b.refresh();
        }
        Ok(())
    }

    pub(crate) fn table_init(
        &mut self,
        instance: usize,
        table: u32,
        elem: u32,
        dst: u32,
        src: u32,
        len: u32,
    ) -> Result<(), TrapCode> {
        let t = self.table_of(instance, table).ok_or(TrapCode::TableOutOfBounds)?;
        let inst = self.instances.get(instance).ok_or(TrapCode::TableOutOfBounds)?;
        let items: &[u64] = inst.elements.get(elem as usize).map_or(&[], Vec::as_slice);
        let sr = table_bounds(src, len, items.len())?;
        let dr = table_bounds(dst, len, self.tables.get(t).map_or(0, |x| x.elems.len()))?;
        self.charge_dynamic(DynamicOp::TableInit, u64::from(len))?;
        let inst = self.instances.get(instance).ok_or(TrapCode::TableOutOfBounds)?;
        let items: &[u64] = inst.elements.get(elem as usize).map_or(&[], Vec::as_slice);
        let tbl = self.tables.get_mut(t).ok_or(TrapCode::TableOutOfBounds)?;
        tbl.elems[dr].copy_from_slice(items.get(sr).ok_or(TrapCode::TableOutOfBounds)?);
        tbl.refresh();
        Ok(())
    }

    pub(crate) fn elem_drop(&mut self, instance: usize, elem: u32) {
        if let Some(e) = self.instances.get_mut(instance).and_then(|i| i.elements.get_mut(elem as usize)) {
            *e = Vec::new();
        }
    }

    // ---- instantiation -----------------------------------------------------------------

    fn import_error(import: &wes_core::module::Import, reason: impl Into<String>) -> RuntimeError {
        RuntimeError::IncompatibleImport {
            module: import.module.clone(),
            name: import.name.clone(),
            reason: reason.into(),
        }
    }

    /// Checks `imports` (one store item per import of `module`, in order) against what the
    /// module declares.
    fn check_imports(&self, module: &wes_core::Module, imports: &[(ExternKind, u32)]) -> Result<(), RuntimeError> {
        if imports.len() != module.imports.len() {
            return Err(RuntimeError::TypeMismatch(format!(
                "module has {} imports, {} given",
                module.imports.len(),
                imports.len()
            )));
        }
        for (import, (kind, index)) in module.imports.iter().zip(imports) {
            let e = |r: &str| Self::import_error(import, r);
            match (&import.ty, kind) {
                (ImportType::Func(t), ExternKind::Func) => {
                    let want = module.types.get(*t as usize).ok_or_else(|| e("bad type index"))?;
                    let have = self.func_ty(*index).ok_or_else(|| e("unknown function"))?;
                    if have != want {
                        return Err(e(&format!("incompatible import type: expected {want}, found {have}")));
                    }
                }
                (ImportType::Table(want), ExternKind::Table) => {
                    let t = self.tables.get(*index as usize).ok_or_else(|| e("unknown table"))?;
                    let have = Limits { min: t.elems.len() as u64, max: t.ty.limits.max };
                    if t.ty.element != want.element || !have.matches(&want.limits) {
                        return Err(e("incompatible import type: table type mismatch"));
                    }
                }
                (ImportType::Memory(want), ExternKind::Memory) => {
                    let m = self.memories.get(*index as usize).ok_or_else(|| e("unknown memory"))?;
                    let have = Limits { min: m.pages(), max: m.ty.limits.max };
                    if !have.matches(&want.limits) {
                        return Err(e("incompatible import type: memory limits mismatch"));
                    }
                }
                (ImportType::Global(want), ExternKind::Global) => {
                    let g = self.globals.get(*index as usize).ok_or_else(|| e("unknown global"))?;
                    if g.ty != *want {
                        return Err(e("incompatible import type: global type mismatch"));
                    }
                }
                (_, kind) => return Err(e(&format!("incompatible import type: got a {}", kind.name()))),
            }
        }
        Ok(())
    }

    fn eval_const(
        &self,
        expr: &ConstExpr,
        globals: &[u32],
        funcs: &[*const VMFuncRef],
    ) -> Result<ValRaw, RuntimeError> {
        let bad = || RuntimeError::TypeMismatch("malformed constant expression".into());
        let mut stack: Vec<ValRaw> = Vec::with_capacity(2);
        for op in &expr.ops {
            let v = match *op {
                ConstOp::I32Const(x) => ValRaw::from(x as u32),
                ConstOp::I64Const(x) => ValRaw::from(x as u64),
                ConstOp::F32Const(b) => ValRaw::from(b),
                ConstOp::F64Const(b) => ValRaw::from(b),
                ConstOp::V128Const(x) => x,
                ConstOp::RefNull(_) => 0,
                ConstOp::RefFunc(i) => *funcs.get(i as usize).ok_or_else(bad)? as usize as ValRaw,
                ConstOp::GlobalGet(i) => {
                    let g = *globals.get(i as usize).ok_or_else(bad)?;
                    self.globals.get(g as usize).ok_or_else(bad)?.value
                }
                ConstOp::I32Add | ConstOp::I32Sub | ConstOp::I32Mul => {
                    let b = stack.pop().ok_or_else(bad)? as u32;
                    let a = stack.pop().ok_or_else(bad)? as u32;
                    ValRaw::from(match op {
                        ConstOp::I32Add => a.wrapping_add(b),
                        ConstOp::I32Sub => a.wrapping_sub(b),
                        _ => a.wrapping_mul(b),
                    })
                }
                ConstOp::I64Add | ConstOp::I64Sub | ConstOp::I64Mul => {
                    let b = stack.pop().ok_or_else(bad)? as u64;
                    let a = stack.pop().ok_or_else(bad)? as u64;
                    ValRaw::from(match op {
                        ConstOp::I64Add => a.wrapping_add(b),
                        ConstOp::I64Sub => a.wrapping_sub(b),
                        _ => a.wrapping_mul(b),
                    })
                }
            };
            stack.push(v);
        }
        stack.pop().ok_or_else(bad)
    }

    /// Instantiates `module` with `imports` (store items, one per import in order): creates
    /// its objects, initialises tables and memories from active segments in order (trapping
    /// like the spec's `table.init`/`memory.init`, with earlier writes kept), then runs the
    /// start function.
    pub(crate) fn instantiate(
        &mut self,
        module: &Module,
        imports: &[(ExternKind, u32)],
    ) -> Result<usize, RuntimeError> {
        if !module.engine.same(&self.engine) {
            return Err(RuntimeError::EngineMismatch);
        }
        let compiled = Arc::clone(&module.compiled);
        let m = Arc::clone(compiled.module());
        self.check_imports(&m, imports)?;
        let frame = compiled.max_frame_size();
        let need = self.stack_size_for(self.max_frame.max(frame));
        let max = self.engine.config().max_wasm_stack;
        if need > max {
            return Err(RuntimeError::ResourceLimit(format!(
                "frames of up to {frame} bytes at the call depth limit need {need} bytes of stack, more than the \
                 {max} allowed"
            )));
        }
        let instance = self.instances.len();

        let mut vmctx = Box::new(VMContext {
            store: self.ctx_ptr,
            libcalls: vm::LIBCALLS.as_ptr(),
            funcs: std::ptr::null(),
            memories: std::ptr::null(),
            tables: std::ptr::null(),
            globals: std::ptr::null(),
            type_ids: std::ptr::null(),
            instance,
        });
        let vmctx_ptr = &mut *vmctx as *mut VMContext as *mut u8;
        let type_ids: Vec<u32> = m.types.iter().map(|t| self.type_id(t)).collect();

        let mut func_idx = Vec::with_capacity(m.functions.len());
        let mut memory_idx = Vec::with_capacity(m.memories.len());
        let mut table_idx = Vec::with_capacity(m.tables.len());
        let mut global_idx = Vec::with_capacity(m.globals.len());
        for (kind, index) in imports {
            match kind {
                ExternKind::Func => func_idx.push(*index),
                ExternKind::Memory => memory_idx.push(*index),
                ExternKind::Table => table_idx.push(*index),
                ExternKind::Global => global_idx.push(*index),
            }
        }
        for (di, body) in m.bodies.iter().enumerate() {
            let fi = m.num_imported_functions + di as u32;
            let call = compiled.entry(di as u32).ok_or(RuntimeError::Compile(wes_core::CompileError::Codegen {
                func_index: fi,
                message: "backend has no entry point".into(),
            }))?;
            let ty = m.types.get(body.type_index as usize).cloned().unwrap_or_else(|| FuncType::new([], []));
            let type_id = self.type_id(&ty);
            let vmref = Box::new(VMFuncRef { call, vmctx: vmctx_ptr, type_id, store_index: 0 });
            func_idx.push(self.push_func(vmref, ty, FuncKind::Wasm));
        }
        let funcs: Vec<*const VMFuncRef> =
            func_idx.iter().map(|i| self.func_ptr(*i).unwrap_or(std::ptr::null())).collect();

        let inconsistent = || RuntimeError::TypeMismatch("module is inconsistent (not validated?)".into());
        for ty in m.memories.get(m.num_imported_memories as usize..).ok_or_else(inconsistent)? {
            memory_idx.push(self.add_memory(*ty)?);
        }
        for (gi, init) in m.global_inits.iter().enumerate() {
            let ty = *m.globals.get(m.num_imported_globals as usize + gi).ok_or_else(inconsistent)?;
            let value = self.eval_const(init, &global_idx, &funcs)?;
            self.globals.push(Box::new(GlobalEntry { value, ty }));
            global_idx.push(self.globals.len() as u32 - 1);
        }
        for (ti, init) in m.table_inits.iter().enumerate() {
            let ty = *m.tables.get(m.num_imported_tables as usize + ti).ok_or_else(inconsistent)?;
            let raw = match init {
                Some(e) => self.eval_const(e, &global_idx, &funcs)? as u64,
                None => 0,
            };
            let t = TableEntry::new(ty, raw, self.engine.config().max_table_elements)?;
            self.tables.push(t);
            table_idx.push(self.tables.len() as u32 - 1);
        }

        let mut elements = Vec::with_capacity(m.elements.len());
        for seg in &m.elements {
            let items: Vec<u64> = match &seg.items {
                ElementItems::Functions(fs) => {
                    fs.iter().map(|f| funcs.get(*f as usize).map_or(0, |p| *p as usize as u64)).collect()
                }
                ElementItems::Exprs(es) => es
                    .iter()
                    .map(|e| self.eval_const(e, &global_idx, &funcs).map(|v| v as u64))
                    .collect::<Result<_, _>>()?,
            };
            elements.push(items);
        }

        let memory_defs: Vec<*mut VMMemoryDef> = memory_idx
            .iter()
            .map(|i| {
                self.memories.get_mut(*i as usize).map_or(std::ptr::null_mut(), |m| &mut m.def as *mut VMMemoryDef)
            })
            .collect();
        let table_defs: Vec<*mut VMTableDef> = table_idx
            .iter()
            .map(|i| self.tables.get_mut(*i as usize).map_or(std::ptr::null_mut(), |t| &mut t.def as *mut VMTableDef))
            .collect();
        let global_slots: Vec<*mut ValRaw> = global_idx
            .iter()
            .map(|i| self.globals.get_mut(*i as usize).map_or(std::ptr::null_mut(), |g| &mut g.value as *mut ValRaw))
            .collect();
        vmctx.funcs = funcs.as_ptr();
        vmctx.memories = memory_defs.as_ptr();
        vmctx.tables = table_defs.as_ptr();
        vmctx.globals = global_slots.as_ptr();
        vmctx.type_ids = type_ids.as_ptr();
        self.max_frame = self.max_frame.max(compiled.max_frame_size());

        let num_data = m.data.len();
        self.instances.push(InstanceEntry {
            module: Arc::clone(&m),
            _compiled: compiled,
            _vmctx: vmctx,
            funcs,
            _memory_defs: memory_defs,
            _table_defs: table_defs,
            _global_slots: global_slots,
            _type_ids: type_ids,
            func_idx,
            memory_idx,
            table_idx,
            global_idx,
            elements,
            data_dropped: vec![false; num_data],
        });

        // Active element segments, in order, then data segments: each is a `table.init` /
        // `memory.init` followed by a drop, and the first that is out of bounds traps.
        let global_idx = self.instances[instance].global_idx.clone();
        let funcs = self.instances[instance].funcs.clone();
        for (i, seg) in m.elements.iter().enumerate() {
            match &seg.mode {
                ElementMode::Active { table, offset } => {
                    let offset = self.eval_const(offset, &global_idx, &funcs)? as u32;
                    let len = u32::try_from(seg.items.len()).unwrap_or(u32::MAX);
                    self.table_init(instance, *table, i as u32, offset, 0, len)
                        .map_err(|c| RuntimeError::Trap(Trap::new(c)))?;
                    self.elem_drop(instance, i as u32);
                }
                ElementMode::Declared => self.elem_drop(instance, i as u32),
                ElementMode::Passive => {}
            }
        }
        for (i, seg) in m.data.iter().enumerate() {
            if let DataMode::Active { memory, offset } = &seg.mode {
                let offset = self.eval_const(offset, &global_idx, &funcs)? as u32;
                let len = u32::try_from(seg.range.len()).unwrap_or(u32::MAX);
                self.memory_init(instance, *memory, i as u32, offset, 0, len)
                    .map_err(|c| RuntimeError::Trap(Trap::new(c)))?;
                self.data_drop(instance, i as u32);
            }
        }
        if let Some(start) = m.start {
            let f = *self.instances[instance].func_idx.get(start as usize).ok_or(RuntimeError::WrongStore)?;
            self.call(f, &[])?;
        }
        Ok(instance)
    }
}

/// Two distinct elements of a slice, mutably.
fn pair_mut<T>(v: &mut [T], a: usize, b: usize) -> Option<(&mut T, &mut T)> {
    if a == b || a >= v.len() || b >= v.len() {
        return None;
    }
    if a < b {
        let (l, r) = v.split_at_mut(b);
        Some((&mut l[a], &mut r[0]))
    } else {
        let (l, r) = v.split_at_mut(a);
        Some((&mut r[0], &mut l[b]))
    }
}
