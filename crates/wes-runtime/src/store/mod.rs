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
mod objects;
mod profile;
mod reset;
mod snapshot;
mod traps;

pub use profile::{FunctionCost, GasProfile};

pub use reset::ResetStats;
pub use snapshot::{InstanceState, MemoryState, RefState, SnapshotError, ValueState};

use std::any::Any;
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, PoisonError};

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

/// How many store ids a thread takes from [`NEXT_STORE_ID`] at once.
const STORE_ID_BATCH: u64 = 256;

/// A store id no other store of the process has: from this thread's batch, taken from the
/// shared counter once per [`STORE_ID_BATCH`] stores, so that threads making stores at once
/// do not pass the counter's cache line between them on every store.
fn next_store_id() -> u64 {
    thread_local! {
        static BATCH: std::cell::Cell<(u64, u64)> = const { std::cell::Cell::new((0, 0)) };
    }
    let fresh = || NEXT_STORE_ID.fetch_add(STORE_ID_BATCH, Ordering::Relaxed);
    BATCH
        .try_with(|b| {
            let (next, end) = b.get();
            let next = if next < end { next } else { fresh() };
            b.set((next + 1, if next < end { end } else { next + STORE_ID_BATCH }));
            next
        })
        .unwrap_or_else(|_| fresh())
}

/// The unit of isolation: owns instances and everything they use. Not shared between threads
/// while in use (`&mut` for every operation that can run wasm), so it needs no locks.
#[derive(Debug)]
pub struct Store {
    pub(crate) inner: Box<StoreInner>,
}

impl Store {
    /// An empty store for modules of `engine`.
    pub fn new(engine: &Engine) -> Store {
        let mut tail_args = Engine::take_tail_args();
        let mut ctx = Box::new(VMStoreContext {
            frames_left: engine.config().max_call_depth,
            store: std::ptr::null_mut(),
            tail_callee: std::ptr::null(),
            tail_caller: std::ptr::null_mut(),
            tail_args: tail_args.as_mut_ptr(),
            gas: u64::MAX,
            operators: 0,
            unwind: std::ptr::null_mut(),
        });
        let ctx_ptr: *mut VMStoreContext = &mut *ctx;
        Store {
            inner: Box::new(StoreInner {
                id: next_store_id(),
                engine: std::mem::ManuallyDrop::new(engine.clone_for_store()),
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

    /// The data attached with [`Store::set_data`] if it is a `T`; when the store has none yet,
    /// `make`'s, attached first (so that data a store may never need is made only when it is).
    /// `None` when the store holds data of another type.
    pub fn data_or_insert_with<T: Any + Send>(&mut self, make: impl FnOnce() -> T) -> Option<&mut T> {
        self.inner.data_or_insert_with(make)
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
    vmref: Box<VMFuncRef>,
    ctx: Box<HostFuncCtx>,
    /// Whether the record is in its gated function's list (see [`crate::host::Gate`]).
    gated: bool,
}

impl Drop for HostRecord {
    fn drop(&mut self) {
        if self.gated {
            // Out of the gate's list before the record is freed (the gate writes to the
            // records in it, under this lock).
            let at = &*self.vmref as *const VMFuncRef as usize;
            let mut records = self.ctx.host.records.lock().unwrap_or_else(PoisonError::into_inner);
            records.0.retain(|&r| r != at);
        }
        // SAFETY: taken once, here; the context is not used after (it is freed with the
        // record, and compiled code no longer runs in this store).
        let host = unsafe { std::mem::ManuallyDrop::take(&mut self.ctx.host) };
        crate::spare::HOST_SPARES.release(host);
    }
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
    /// What the memory was made with: its length and where its image is, as an instance and
    /// the index of one of its module's defined memories (see [`Store::checkpoint`]).
    initial: (usize, Option<(u32, u32)>),
}

impl MemoryEntry {
    /// A memory of type `ty` holding `image` (which must fit its initial size) and zeroes.
    fn new(
        engine: &Engine,
        ty: MemoryType,
        image: Option<(&MemoryImage, (u32, u32))>,
    ) -> Result<Box<MemoryEntry>, RuntimeError> {
        let (image, origin) = (image.map(|(i, _)| i), image.map(|(_, o)| o));
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
        let guard = engine.guard_regions();
        let recycled = LinearMemory::reservation(bytes, max, guard)
            .and_then(|r| engine.take_memory(r, image.map(MemoryImage::id)))
            .and_then(|mut m| m.reset(bytes, image).then_some(m));
        let data = match recycled {
            Some(m) => m,
            None => LinearMemory::new(bytes, max, guard, image)
                .ok_or_else(|| RuntimeError::ResourceLimit(format!("cannot map a memory of {pages} pages")))?,
        };
        let def = VMMemoryDef { base: std::ptr::null_mut(), length: 0 };
        let mut m = Box::new(MemoryEntry { def, data, ty, initial: (bytes, origin) });
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
    /// The module, its code, and the signature ids the vmctx points to; given back to this
    /// thread's spares when the instance is dropped (see `crate::spare`).
    plan: std::mem::ManuallyDrop<Arc<ModulePlan>>,
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

impl Drop for InstanceEntry {
    fn drop(&mut self) {
        // SAFETY: the plan is taken once, here, and not used after (the entry is being dropped).
        crate::spare::release(unsafe { std::mem::ManuallyDrop::take(&mut self.plan) });
    }
}

impl InstanceEntry {
    /// The module the instance was made from.
    pub(crate) fn module(&self) -> &wes_core::Module {
        &self.plan.module
    }

    /// The instance's code.
    pub(crate) fn compiled(&self) -> &dyn CompiledModule {
        self.plan.compiled.as_ref()
    }
}

/// The store's contents. Libcalls reach it through the raw pointer in [`VMStoreContext`].
#[derive(Debug)]
pub(crate) struct StoreInner {
    id: u64,
    /// Given back to this thread's spares when the store is dropped (see `crate::spare`).
    engine: std::mem::ManuallyDrop<Engine>,
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
    /// The pricing's base cost of a host call (0 without pricing), read on every host call.
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
        Engine::put_tail_args(std::mem::take(&mut self._tail_args));
        for m in self.memories.drain(..) {
            let MemoryEntry { mut data, .. } = *m;
            if data.scrub() {
                self.engine.put_memory(data);
            }
        }
        // Last: giving the clone back may drop it (no spare kept, as when this thread is
        // ending), and nothing may use the engine after that.
        // SAFETY: the engine is taken once, here, and not used after: this is the last use of
        // `self.engine` in the store's life (the fields dropped after this do not reach it).
        let engine = unsafe { std::mem::ManuallyDrop::take(&mut self.engine) };
        engine.release();
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
    /// The pricing metered code of this store's engine was compiled under; `None` when the
    /// engine does not meter. Read through the engine the store holds rather than cloned into
    /// the store: a clone per store is an atomic add and subtract on a line every thread
    /// making stores of the engine shares.
    #[inline]
    pub(crate) fn pricing(&self) -> Option<&Pricing> {
        self.engine.config().pricing.as_deref()
    }

    pub(crate) fn id(&self) -> u64 {
        self.id
    }

    pub(crate) fn engine(&self) -> &Engine {
        &self.engine
    }

    pub(crate) fn data_or_insert_with<T: Any + Send>(&mut self, make: impl FnOnce() -> T) -> Option<&mut T> {
        self.data.get_or_insert_with(|| Box::new(make())).downcast_mut()
    }

    pub(crate) fn data_mut<T: Any>(&mut self) -> Option<&mut T> {
        self.data.as_mut()?.downcast_mut()
    }

    pub(crate) fn store_ctx(&mut self) -> *mut VMStoreContext {
        self.ctx_ptr
    }
}
