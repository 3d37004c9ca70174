//! [`Store`]: every memory, table, global, function and instance one unit of isolation owns,
//! and the handles that name them.
//!
//! Objects are boxed so their addresses never change: compiled code holds pointers to them
//! through the vmctx (see [`wes_core::vm`]). An instance's function records are one block per
//! instance, not one allocation each. Handles are plain indices plus the store's id, and a
//! handle used with another store is an error, never a wrong object.

mod calls;
mod gas;
mod instantiate;
mod libcalls;
mod profile;
mod reset;
mod snapshot;

pub use profile::{FunctionCost, GasProfile};

pub use reset::ResetStats;
pub use snapshot::{InstanceState, MemoryState, RefState, SnapshotError, ValueState};

use std::any::Any;
use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use wes_core::backend::{CompiledModule, ValRaw};
use wes_core::module::{DataMode, ElementItems, ElementMode, ExternKind, ImportType};
use wes_core::types::{GlobalType, Limits, MemoryType, Mutability, TableType};
use wes_core::{FrameInfo, FuncRef, FuncType, Trap, TrapCode, ValType, Value, WASM_PAGE_SIZE};
use wes_meter::{DynamicOp, GasMeter, Pricing};

use crate::RuntimeError;
use crate::engine::{Engine, Module};
use crate::host::HostFunc;
use crate::limits::{LimitExceeded, Limiter, ResourceLimiter, ResourceOp, ResourceUsage, StoreLimits};
use crate::plan::ModulePlan;
use crate::vm::{
    self, HostFuncCtx, LinearMemory, MemoryImage, VMContext, VMFuncContext, VMFuncRef, VMMemoryDef, VMStoreContext,
    VMTableDef, WasmStack,
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
            operators: 0,
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
                func_blocks: Vec::new(),
                host_records: Vec::new(),
                host_funcs: HashMap::new(),
                memories: Vec::new(),
                tables: Vec::new(),
                globals: Vec::new(),
                instances: Vec::new(),
                max_frame: 0,
                stack: None,
                reentry: Reentry::default(),
                stats: StoreStats::default(),
                trap: None,
                data: None,
                pricing: engine.config().pricing.clone(),
                host_call_cost: engine.config().pricing.as_ref().map_or(0, |p| p.host_call_cost()),
                meter: None,
                gas_synced: u64::MAX,
                out_of_gas: None,
                counts_only: false,
                touched: false,
                checkpoint: None,
                profiler: None,
                limiter: Limiter::Limits(engine.config().store_limits),
                usage: ResourceUsage::default(),
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

    /// Takes the data attached with [`Store::set_data`] out of the store.
    pub fn take_data(&mut self) -> Option<Box<dyn Any + Send>> {
        self.inner.data.take()
    }

    /// What has happened in this store so far (counts since it was made).
    pub fn stats(&self) -> StoreStats {
        StoreStats { operators_executed: vm::operator_counter(self.inner.ctx_ptr), ..self.inner.stats }
    }

    /// Starts profiling gas and time per function, discarding any profile so far. Only code
    /// compiled with `JitConfig::profile` reports to it (an engine's backend decides); gas,
    /// results and traps are the same either way.
    pub fn start_profile(&mut self) {
        self.inner.start_profile();
    }

    /// The profile since [`Store::start_profile`], which ends it; `None` if none was started.
    pub fn take_profile(&mut self) -> Option<GasProfile> {
        self.inner.take_profile()
    }

    /// What the store holds now, in the units its limiter counts.
    pub fn resource_usage(&self) -> ResourceUsage {
        self.inner.usage
    }

    /// Limits this store to `limits` from now on (instead of the engine's
    /// [`Config::store_limits`](crate::Config::store_limits)). What the store already holds stays.
    pub fn set_limits(&mut self, limits: StoreLimits) {
        self.inner.limiter = Limiter::Limits(limits);
    }

    /// Makes `limiter` decide, from now on, whether this store may create or grow memories and
    /// tables and instantiate modules (see [`ResourceLimiter`]).
    pub fn set_limiter(&mut self, limiter: impl ResourceLimiter + 'static) {
        self.inner.limiter = Limiter::Custom(Box::new(limiter));
    }
}

/// Counts of what happened in a store, for metrics and execution reports. Never consulted by
/// execution, so they cannot change a result or the gas.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct StoreStats {
    /// Successful `memory.grow`s (by wasm code).
    pub memory_grows: u64,
    /// Calls of host functions (from wasm or the embedder) that got past their base cost.
    pub host_calls: u64,
    /// How much more gas the last charge that found the meter short needed (before the
    /// out-of-gas handler, if any, was asked): after an `OutOfGas` trap, the call needed at
    /// least its limit plus this. 0 until a charge has found the meter short.
    pub last_shortfall: u64,
    /// Operations the store's [`ResourceLimiter`] refused: grows that returned -1 for it, and
    /// creations and instantiations that failed with [`RuntimeError::StoreLimit`].
    pub limit_refusals: u64,
    /// The last of those refusals.
    pub last_refusal: Option<LimitExceeded>,
    /// Wasm operators executed in this store, by every call, nested ones included, counted
    /// per straight-line segment when the segment is charged (`docs/pricing.md`): 0 unless the
    /// engine's [`Config::count_operators`](crate::Config::count_operators) is on. Like the gas,
    /// the same on every backend. A call's count is the difference over the call (or
    /// [`GasCall::operators`](crate::GasCall::operators)).
    pub operators_executed: u64,
}

/// A pending trap while it unwinds.
#[derive(Debug)]
pub(crate) struct PendingTrap {
    code: TrapCode,
    detail: Option<String>,
    /// The frames of a wasm call a host function made and whose trap it passed on (see
    /// [`HostError`](crate::HostError)'s `From<RuntimeError>`): they are innermost, so they
    /// come before `frames` in the backtrace.
    inner: Vec<FrameInfo>,
    /// `(instance, function index, module offset)`, innermost first.
    frames: Vec<(usize, u32, u32)>,
}

/// The state of calls that host functions make back into wasm (see [`vm::reenter`](crate::vm::reenter)).
#[derive(Debug, Default)]
pub(crate) struct Reentry {
    /// How many host functions are calling into wasm now.
    pub(crate) depth: u32,
    /// A tail-call buffer for each level of re-entry, made on first use and kept: a nested
    /// call must not write into the buffer of the host function that made it (the host may be
    /// reading its arguments from there).
    pub(crate) tail_buffers: Vec<Box<[ValRaw]>>,
    /// The lowest usable address of the native stack the current call runs on (0 outside a
    /// call), for the check made before each re-entry.
    pub(crate) stack_limit: usize,
}

/// A function of the store: where its record is, and whose it is (which gives its type).
#[derive(Debug)]
pub(crate) struct FuncEntry {
    /// Owned by the instance's record block or by a [`HostRecord`] of this store.
    vmref: *const VMFuncRef,
    owner: FuncOwner,
}

#[derive(Clone, Copy, Debug)]
enum FuncOwner {
    /// A function of `instance`, of the module's type `type_index`.
    Wasm { instance: u32, type_index: u32 },
    /// The host function of `host_records[i]`.
    Host(u32),
}

/// A host function placed in this store: its record, and the context the record points to.
#[derive(Debug)]
pub(crate) struct HostRecord {
    _vmref: Box<VMFuncRef>,
    ctx: Box<HostFuncCtx>,
}

/// Function records that lie together in memory: `count` records from address `start`, the
/// store's functions `first..first + count`. Sorted by address, so a `funcref` (a record's
/// address) turns back into a handle by binary search, without trusting the address.
#[derive(Clone, Copy, Debug)]
struct FuncBlock {
    start: usize,
    count: u32,
    first: u32,
}

#[repr(C)]
#[derive(Debug)]
pub(crate) struct MemoryEntry {
    def: VMMemoryDef,
    data: LinearMemory,
    ty: MemoryType,
    /// What the memory was made with: its length and image (see [`Store::checkpoint`]).
    initial: (usize, Option<Arc<MemoryImage>>),
}

impl MemoryEntry {
    /// A memory of type `ty` holding `image` (which must fit its initial size) and zeroes.
    fn new(engine: &Engine, ty: MemoryType, image: Option<Arc<MemoryImage>>) -> Result<Box<MemoryEntry>, RuntimeError> {
        let max_pages = engine.config().max_memory_pages;
        let pages = ty.limits.min;
        let limit = max_pages.min(MAX_WASM_PAGES);
        if pages > limit {
            return Err(RuntimeError::ResourceLimit(format!(
                "memory of {pages} pages exceeds the limit of {limit} pages"
            )));
        }
        let bytes = (pages * WASM_PAGE_SIZE) as usize;
        let max = (ty.limits.max.unwrap_or(MAX_WASM_PAGES).min(limit) * WASM_PAGE_SIZE) as usize;
        // A mapping a dropped store left, reset to this memory's contents, or a new one.
        let recycled = LinearMemory::reservation(bytes, max)
            .and_then(|r| engine.take_memory(r, image.as_ref().map(|i| i.id())))
            .and_then(|mut m| m.reset(bytes, image.as_deref()).then_some(m));
        let data = match recycled {
            Some(m) => m,
            None => LinearMemory::new(bytes, max, image.as_deref())
                .ok_or_else(|| RuntimeError::ResourceLimit(format!("cannot map a memory of {pages} pages")))?,
        };
        let def = VMMemoryDef { base: std::ptr::null_mut(), length: 0 };
        let mut m = Box::new(MemoryEntry { def, data, ty, initial: (bytes, image) });
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

    /// Whether the table's own limits (its declared maximum, the engine's `max`) let it grow by
    /// `delta`.
    fn allows(&self, delta: u64, max: u64) -> bool {
        let limit = self.ty.limits.max.unwrap_or(u64::from(u32::MAX)).min(max);
        (self.elems.len() as u64).checked_add(delta).is_some_and(|new| new <= limit)
    }

    /// Checks the limits and reserves room for `delta` more elements; the new length.
    fn reserve(&mut self, delta: u64, max: u64) -> Option<u64> {
        if !self.allows(delta, max) {
            return None;
        }
        self.elems.try_reserve_exact(usize::try_from(delta).ok()?).ok()?;
        Some(self.elems.len() as u64 + delta)
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
    /// Owns the signature ids the vmctx points to.
    _plan: Arc<ModulePlan>,
    _compiled: Arc<dyn CompiledModule>,
    vmctx: Box<VMContext>,
    /// The records of the functions the instance defines, in one block.
    _records: Box<[VMFuncRef]>,
    /// The function contexts of the functions whose backend asked for one.
    _contexts: Box<[VMFuncContext]>,
    funcs: Vec<*const VMFuncRef>,
    // The arrays the vmctx points to: owned here, read only by compiled code.
    _memory_defs: Vec<*mut VMMemoryDef>,
    _table_defs: Vec<*mut VMTableDef>,
    _global_slots: Vec<*mut ValRaw>,
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
    /// Where the records of `funcs` are, to turn `funcref`s back into handles.
    func_blocks: Vec<FuncBlock>,
    host_records: Vec<HostRecord>,
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
    /// The largest native frame of any module instantiated here.
    max_frame: usize,
    stack: Option<WasmStack>,
    pub(crate) reentry: Reentry,
    pub(crate) stats: StoreStats,
    trap: Option<PendingTrap>,
    /// The embedder's per-store data, for host functions.
    data: Option<Box<dyn Any + Send>>,
    /// The pricing metered code of this store's engine was compiled under; `None` when the
    /// engine does not meter.
    pricing: Option<Arc<Pricing>>,
    /// `pricing`'s base cost of a host call (0 without pricing), read on every host call.
    host_call_cost: u64,
    /// The meter calls charge to; without one, metered code runs with unlimited gas.
    meter: Option<Box<dyn GasMeter>>,
    /// The gas counter's value when the meter last saw it: the meter is behind by
    /// `gas_synced - counter`.
    gas_synced: u64,
    /// Asked for more gas when a charge does not fit.
    out_of_gas: Option<HandlerBox>,
    /// The meter's [`GasMeter::counts_only`]: host calls may then be charged from the gas
    /// counter. Read whenever the counter is loaded from the meter.
    counts_only: bool,
    /// Whether a memory may differ from what it was made with: code ran, the embedder wrote
    /// or grew one, or segments were copied in (see [`Store::checkpoint`]).
    touched: bool,
    /// What [`Store::reset`] returns the store to.
    checkpoint: Option<reset::Checkpoint>,
    /// The gas profiler, while one runs ([`Store::start_profile`]).
    profiler: Option<Box<profile::Profiler>>,
    /// Asked before anything is added to the store or grown.
    limiter: Limiter,
    /// What the store holds, kept up to date by every creation, growth and reset.
    usage: ResourceUsage,
}

impl Drop for StoreInner {
    fn drop(&mut self) {
        // The stack and the memory mappings outlive the store in the engine's caches, for the
        // next stores (memories scrubbed first: nothing written here survives).
        if let Some(stack) = self.stack.take() {
            self.engine.put_stack(stack);
        }
        for m in self.memories.drain(..) {
            let MemoryEntry { mut data, .. } = *m;
            if data.scrub() {
                self.engine.put_memory(data);
            }
        }
    }
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

/// The bytes a memory of type `ty` has when it is made.
fn memory_bytes(ty: &MemoryType) -> u64 {
    ty.limits.min.saturating_mul(WASM_PAGE_SIZE)
}

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
        self.trap = Some(PendingTrap { code, detail, inner: Vec::new(), frames: Vec::new() });
    }

    /// Records the trap of a wasm call a host function made and passed on as its own error:
    /// the same code and detail, with the inner call's frames first in the backtrace.
    pub(crate) fn record_inner_trap(&mut self, trap: Trap) {
        self.trap =
            Some(PendingTrap { code: trap.code, detail: trap.detail, inner: trap.backtrace, frames: Vec::new() });
    }

    pub(crate) fn record_frame(&mut self, instance: usize, func_index: u32, offset: u32) {
        let trap = self.trap.get_or_insert_with(|| PendingTrap {
            // A status of zero without a recorded trap would be a runtime bug; report it as a
            // host error rather than losing the trap.
            code: TrapCode::HostError,
            detail: Some("trap without a recorded cause".into()),
            inner: Vec::new(),
            frames: Vec::new(),
        });
        if trap.inner.len() + trap.frames.len() < MAX_BACKTRACE {
            trap.frames.push((instance, func_index, offset));
        }
    }

    pub(crate) fn take_trap(&mut self) -> Trap {
        let pending = self.trap.take().unwrap_or(PendingTrap {
            code: TrapCode::HostError,
            detail: Some("trap without a recorded cause".into()),
            inner: Vec::new(),
            frames: Vec::new(),
        });
        let mut trap = Trap::new(pending.code);
        trap.detail = pending.detail;
        trap.backtrace = pending.inner;
        trap.backtrace.extend(pending.frames.iter().map(|(i, f, at)| FrameInfo {
            func_index: *f,
            func_name: self.instances.get(*i).and_then(|inst| inst.module.func_name(*f)).map(str::to_string),
            offset: Some(*at),
        }));
        trap
    }

    // ---- values ------------------------------------------------------------------------

    /// The raw form of a value, or `None` for a function reference of another store.
    #[inline]
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
        Some(f.vmref as usize as ValRaw)
    }

    /// The function whose record is at `addr`, if it is one of this store's.
    fn func_at(&self, addr: usize) -> Option<u32> {
        let size = std::mem::size_of::<VMFuncRef>();
        let block = self.func_blocks.get(self.func_blocks.partition_point(|b| b.start <= addr).checked_sub(1)?)?;
        let offset = addr - block.start;
        let i = u32::try_from(offset / size).ok().filter(|i| offset.is_multiple_of(size) && *i < block.count)?;
        Some(block.first + i)
    }

    /// The value of type `ty` whose raw form is `raw`.
    #[inline]
    pub(crate) fn raw_to_value(&self, raw: ValRaw, ty: ValType) -> Value {
        match ty {
            ValType::I32 => Value::I32(raw as u32 as i32),
            ValType::I64 => Value::I64(raw as u64 as i64),
            ValType::F32 => Value::F32(raw as u32),
            ValType::F64 => Value::F64(raw as u64),
            ValType::V128 => Value::V128(raw),
            ValType::FuncRef => {
                let addr = raw as u64 as usize;
                Value::FuncRef(if addr == 0 { None } else { self.func_at(addr).map(FuncRef::from_index) })
            }
            ValType::ExternRef => {
                let x = raw as u64;
                Value::ExternRef(if x == 0 { None } else { Some(wes_core::ExternRef((x - 1) as u32)) })
            }
        }
    }

    // ---- objects -----------------------------------------------------------------------

    /// Records that the `count` records from `start` are the functions from `first` on.
    fn add_func_block(&mut self, start: *const VMFuncRef, count: u32, first: u32) {
        let start = start as usize;
        let at = self.func_blocks.partition_point(|b| b.start < start);
        self.func_blocks.insert(at, FuncBlock { start, count, first });
    }

    pub(crate) fn add_host_func(&mut self, f: &HostFunc) -> u32 {
        self.add_host_func_typed(f, None)
    }

    /// [`StoreInner::add_host_func`] with the engine's id of the function's type, when the
    /// caller already has it.
    pub(crate) fn add_host_func_typed(&mut self, f: &HostFunc, type_id: Option<u32>) -> u32 {
        let key = Arc::as_ptr(&f.data) as *const () as usize;
        if let Some(i) = self.host_funcs.get(&key) {
            return *i;
        }
        let type_id = type_id.unwrap_or_else(|| self.engine.type_id(&f.data.ty));
        let index = self.funcs.len() as u32;
        let mut ctx = Box::new(HostFuncCtx { store: self.ctx_ptr, host: Arc::clone(&f.data) });
        let vmref = Box::new(VMFuncRef {
            call: f.data.trampoline,
            vmctx: &mut *ctx as *mut HostFuncCtx as *mut u8,
            type_id,
            store_index: index,
        });
        let ptr: *const VMFuncRef = &*vmref;
        self.add_func_block(ptr, 1, index);
        self.funcs.push(FuncEntry { vmref: ptr, owner: FuncOwner::Host(self.host_records.len() as u32) });
        self.host_records.push(HostRecord { _vmref: vmref, ctx });
        self.host_funcs.insert(key, index);
        index
    }

    pub(crate) fn func_ty(&self, index: u32) -> Option<&FuncType> {
        match self.funcs.get(index as usize)?.owner {
            FuncOwner::Wasm { instance, type_index } => {
                self.instances.get(instance as usize)?.module.types.get(type_index as usize)
            }
            FuncOwner::Host(h) => Some(&self.host_records.get(h as usize)?.ctx.host.ty),
        }
    }

    pub(crate) fn func_ptr(&self, index: u32) -> Option<*const VMFuncRef> {
        self.funcs.get(index as usize).map(|f| f.vmref)
    }

    pub(crate) fn add_memory(&mut self, ty: MemoryType) -> Result<u32, RuntimeError> {
        let more = ResourceUsage { memories: 1, memory_bytes: memory_bytes(&ty), ..ResourceUsage::default() };
        self.admit(ResourceOp::CreateMemory, &more)?;
        self.add_memory_from(ty, None)
    }

    /// A memory of type `ty` holding `image` and zeroes; the limiter must have admitted it.
    fn add_memory_from(&mut self, ty: MemoryType, image: Option<Arc<MemoryImage>>) -> Result<u32, RuntimeError> {
        let m = MemoryEntry::new(&self.engine, ty, image)?;
        self.usage.memories += 1;
        self.usage.memory_bytes += m.data.len() as u64;
        self.memories.push(m);
        Ok(self.memories.len() as u32 - 1)
    }

    /// A table of type `ty` every element of which is `raw`; the limiter must have admitted it.
    fn push_table(&mut self, t: Box<TableEntry>) -> u32 {
        self.usage.tables += 1;
        self.usage.table_elements += t.elems.len() as u64;
        self.tables.push(t);
        self.tables.len() as u32 - 1
    }

    /// Asks the limiter whether the store may hold `more` on top of what it holds; a refusal is
    /// counted in the stats.
    pub(crate) fn admit(&mut self, op: ResourceOp, more: &ResourceUsage) -> Result<(), LimitExceeded> {
        let desired = self.usage.plus(more);
        let verdict = self.limiter.admit(op, &self.usage, &desired);
        if let Err(refusal) = verdict {
            self.stats.limit_refusals += 1;
            self.stats.last_refusal = Some(refusal);
        }
        verdict
    }

    /// Recomputes the usage from the objects (after a reset changed their sizes).
    fn recount_usage(&mut self) {
        self.usage = ResourceUsage {
            memory_bytes: self.memories.iter().map(|m| m.data.len() as u64).sum(),
            table_elements: self.tables.iter().map(|t| t.elems.len() as u64).sum(),
            memories: self.memories.len() as u64,
            tables: self.tables.len() as u64,
            instances: self.instances.len() as u64,
        };
    }

    pub(crate) fn add_table(&mut self, ty: TableType, init: Value) -> Result<u32, RuntimeError> {
        if init.ty() != ValType::from(ty.element) {
            return Err(RuntimeError::TypeMismatch(format!("table of {} initialised with {}", ty.element, init.ty())));
        }
        let raw = self.value_to_raw(init).ok_or(RuntimeError::WrongStore)? as u64;
        let more = ResourceUsage { tables: 1, table_elements: ty.limits.min, ..ResourceUsage::default() };
        self.admit(ResourceOp::CreateTable, &more)?;
        let t = TableEntry::new(ty, raw, self.engine.config().max_table_elements)?;
        Ok(self.push_table(t))
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
        self.touched = true;
        let m = self.memories.get_mut(index as usize)?;
        m.refresh();
        Some(&mut m.data[..])
    }

    pub(crate) fn memory_ty(&self, index: u32) -> Option<MemoryType> {
        self.memories.get(index as usize).map(|m| m.ty)
    }

    pub(crate) fn memory_grow_pages(&mut self, index: u32, delta: u64) -> Option<u64> {
        self.touched = true;
        let max = self.engine.config().max_memory_pages;
        let new_bytes = self.memories.get(index as usize)?.check_grow(delta, max)?;
        self.admit_memory_grow(index as usize, new_bytes)?;
        self.commit_memory_grow(index as usize, new_bytes)
    }

    /// Asks the limiter whether memory `m` may grow to `new_bytes`.
    fn admit_memory_grow(&mut self, m: usize, new_bytes: usize) -> Option<()> {
        let added = (new_bytes as u64).saturating_sub(self.memories.get(m)?.data.len() as u64);
        let more = ResourceUsage { memory_bytes: added, ..ResourceUsage::default() };
        self.admit(ResourceOp::MemoryGrow, &more).ok()
    }

    /// Grows memory `m` to `new_bytes` (checked and admitted); the old size in pages.
    fn commit_memory_grow(&mut self, m: usize, new_bytes: usize) -> Option<u64> {
        let entry = self.memories.get_mut(m)?;
        let before = entry.data.len() as u64;
        let old = entry.commit(new_bytes)?;
        self.usage.memory_bytes += entry.data.len() as u64 - before;
        Some(old)
    }

    /// The store index of memory `mem` of an instance (imported or defined, exported or not).
    pub(crate) fn instance_memory(&self, instance: usize, mem: u32) -> Option<u32> {
        self.instances.get(instance)?.memory_idx.get(mem as usize).copied()
    }

    pub(crate) fn instance_memory_data(&mut self, instance: usize, mem: u32) -> Option<&mut [u8]> {
        self.touched = true;
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
}
