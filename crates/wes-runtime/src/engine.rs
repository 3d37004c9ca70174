//! [`Config`], [`Engine`] and the compiled [`Module`].

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

use wes_core::backend::{CompiledModule, ValRaw};
use wes_core::{Backend, FuncType, FunctionLimits};
use wes_meter::Pricing;

use crate::RuntimeError;
use crate::limits::StoreLimits;
use crate::plan::ModulePlan;
use crate::vm::{LinearMemory, WasmStack};

/// How many wasm stacks an engine keeps for its next stores.
const CACHED_STACKS: usize = 16;
/// How many memory mappings an engine keeps for its next stores.
const CACHED_MEMORIES: usize = 16;

/// Runtime settings, fixed when an [`Engine`] is made.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct Config {
    /// How many wasm frames may be live at once; one more traps with
    /// [`TrapCode::CallStackExhausted`](wes_core::TrapCode::CallStackExhausted). Counted in wasm
    /// calls, so the same on every machine.
    pub max_call_depth: u32,
    /// The largest a memory may become, in 64 KiB pages; `memory.grow` beyond it returns -1 and
    /// a module asking for more at instantiation fails.
    pub max_memory_pages: u64,
    /// The largest a table may become, in elements; `table.grow` beyond it returns -1.
    pub max_table_elements: u64,
    /// Native stack kept for the runtime's own functions and host functions on top of the
    /// wasm frames, in bytes. Host functions run on the stack wasm runs on, so a host function
    /// needing more than this (deep recursion, large arrays on the stack) must raise it.
    pub host_stack_reserve: usize,
    /// How many host functions may be calling back into wasm at once (through
    /// [`Caller::call`](crate::Caller::call)); one more traps with
    /// [`TrapCode::CallStackExhausted`](wes_core::TrapCode::CallStackExhausted). Each level gets
    /// its own [`Config::host_stack_reserve`] on the wasm stack, so this bounds the stack too.
    pub max_host_reentry: u32,
    /// The pricing metered code is compiled under, or `None` for unmetered execution. It must
    /// be the pricing the backend was configured with: a module whose code records another
    /// pricing table (by content hash) is refused.
    pub pricing: Option<Arc<Pricing>>,
    /// The most native stack a store may reserve for wasm, in bytes. The stack is sized
    /// `max_call_depth × (largest frame + slack) + (max_host_reentry + 1) × host_stack_reserve`;
    /// a module whose frames
    /// would need more is refused at instantiation with [`RuntimeError::ResourceLimit`], so a
    /// module cannot make the host reserve (and a runaway recursion touch) gigabytes.
    pub max_wasm_stack: usize,
    /// The totals every new store is limited to (memory bytes and table elements across its
    /// memories and tables, counts of memories, tables and instances), checked before anything
    /// is allocated; a store can be given other limits or a limiter of the embedder's
    /// ([`Store::set_limits`](crate::Store::set_limits), [`Store::set_limiter`](crate::Store::set_limiter)).
    pub store_limits: StoreLimits,
    /// Whether code counts the wasm operators it executes
    /// ([`StoreStats::operators_executed`](crate::StoreStats::operators_executed)). It must be
    /// what the backend was configured with (`JitConfig::count_operators`,
    /// `InterpConfig::count_operators`): code that counts otherwise is refused, so a count is
    /// never partial. Off by default.
    pub count_operators: bool,
    /// What one function and one module may contain to be admitted (operators, control
    /// operators, calls, branches per label, nesting, locals × control, `br_table` targets,
    /// defined functions). Checked before the backend sees a module, and again when compiled
    /// code is loaded, from the counts the decoder recorded, so every backend admits and
    /// refuses the same modules with the same [`CompileError`](wes_core::CompileError). Part of
    /// consensus: a network must agree on them as it agrees on pricing. The defaults bound the
    /// JIT's compile time and memory ([`FunctionLimits`]).
    pub function_limits: FunctionLimits,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            max_call_depth: 10_000,
            max_memory_pages: 65_536,
            max_table_elements: 10_000_000,
            host_stack_reserve: 1 << 20,
            max_host_reentry: 8,
            pricing: None,
            max_wasm_stack: 512 << 20,
            store_limits: StoreLimits::default(),
            count_operators: false,
            function_limits: FunctionLimits::default(),
        }
    }
}

impl Config {
    /// Sets [`Config::max_call_depth`].
    pub fn max_call_depth(&mut self, depth: u32) -> &mut Self {
        self.max_call_depth = depth;
        self
    }

    /// Sets [`Config::max_memory_pages`].
    pub fn max_memory_pages(&mut self, pages: u64) -> &mut Self {
        self.max_memory_pages = pages;
        self
    }

    /// Sets [`Config::pricing`].
    pub fn pricing(&mut self, pricing: Option<Arc<Pricing>>) -> &mut Self {
        self.pricing = pricing;
        self
    }

    /// Sets [`Config::max_table_elements`].
    pub fn max_table_elements(&mut self, elements: u64) -> &mut Self {
        self.max_table_elements = elements;
        self
    }

    /// Sets [`Config::max_wasm_stack`].
    pub fn max_wasm_stack(&mut self, bytes: usize) -> &mut Self {
        self.max_wasm_stack = bytes;
        self
    }

    /// Sets [`Config::count_operators`].
    pub fn count_operators(&mut self, on: bool) -> &mut Self {
        self.count_operators = on;
        self
    }

    /// Sets [`Config::store_limits`].
    pub fn store_limits(&mut self, limits: StoreLimits) -> &mut Self {
        self.store_limits = limits;
        self
    }

    /// Sets [`Config::max_host_reentry`].
    pub fn max_host_reentry(&mut self, levels: u32) -> &mut Self {
        self.max_host_reentry = levels;
        self
    }

    /// Sets [`Config::function_limits`].
    pub fn function_limits(&mut self, limits: FunctionLimits) -> &mut Self {
        self.function_limits = limits;
        self
    }

    /// Sets [`Config::host_stack_reserve`].
    pub fn host_stack_reserve(&mut self, bytes: usize) -> &mut Self {
        self.host_stack_reserve = bytes;
        self
    }
}

/// A configuration and a backend, shared by every store and module made with it. Cheap to
/// clone.
#[derive(Clone, Debug)]
pub struct Engine {
    inner: Arc<EngineInner>,
}

#[derive(Debug)]
struct EngineInner {
    config: Config,
    backend: Arc<dyn Backend>,
    /// Engine-wide signature ids, so `call_indirect` compares signatures across modules and
    /// stores, and each module's ids are computed once (in its [`ModulePlan`]) rather than
    /// per instance. It only grows: by the distinct signatures of the modules compiled here.
    types: Mutex<HashMap<FuncType, u32>>,
    /// Wasm stacks of dropped stores, for the next stores' first calls: mapping a stack of a
    /// few megabytes (and faulting its top pages in) cost most of a fresh store's first call.
    /// Each with the thread that kept it (see [`kept_by_this_thread`]).
    stacks: Mutex<Vec<(u64, WasmStack)>>,
    /// Memory mappings of dropped stores, scrubbed (every page written dropped), for the next
    /// memories of the same reservation: making and unmapping a reservation and its mappings
    /// was most of a fresh instance's cost. Each with the thread that kept it.
    memories: Mutex<Vec<(u64, LinearMemory)>>,
}

/// A number for the calling thread, to give a thread back the stacks and memories it kept
/// itself when there are some.
///
/// Why: a kept stack or memory has just been written by the thread that dropped it (a call's
/// frames, the scrub of the memory's first pages), so its cache lines sit in that core's
/// cache. Handed to a thread on the other core, every line it touches moves across: with two
/// threads instantiating at once, taking the most recent entry whoever kept it made two
/// threads barely faster than one (1.2-1.3x the rounds of one thread, the scrub's `memset`
/// half of all time).
fn this_thread() -> u64 {
    use std::sync::atomic::{AtomicU64, Ordering};
    static NEXT: AtomicU64 = AtomicU64::new(1);
    thread_local! {
        static ID: u64 = NEXT.fetch_add(1, Ordering::Relaxed);
    }
    ID.with(|id| *id)
}

/// How many stacks, and how many memories, each thread keeps for itself (see [`LocalKept`]).
const LOCAL_KEPT: usize = 2;

/// The stacks and memories a thread's last stores left, kept by that thread before the
/// engine's shared caches: a store made and dropped on one thread then takes and keeps them
/// with no lock and no cache line that another core writes. On two threads, the four lock
/// operations per fresh store on the shared caches' mutexes were a third of what a second
/// thread added to a round. Each entry is tagged with its engine (the address of its shared
/// part), and taken only by that engine; an entry outliving its engine is still just a
/// mapping, freed when the thread ends.
struct LocalKept {
    stacks: Vec<(usize, WasmStack)>,
    memories: Vec<(usize, LinearMemory)>,
    /// Tail-call argument buffers (`vm::TAIL_CALL_SLOTS` slots each; any engine's).
    tail_args: Vec<Box<[ValRaw]>>,
}

thread_local! {
    static LOCAL: std::cell::RefCell<LocalKept> =
        const { std::cell::RefCell::new(LocalKept { stacks: Vec::new(), memories: Vec::new(), tail_args: Vec::new() }) };
}

/// Runs `f` on this thread's [`LocalKept`], or returns `None` when there is none (during the
/// thread's teardown) or it is in use.
fn with_local<T>(f: impl FnOnce(&mut LocalKept) -> Option<T>) -> Option<T> {
    LOCAL.try_with(|l| l.try_borrow_mut().ok().and_then(|mut l| f(&mut l))).ok().flatten()
}

/// Keeps `item`, tagged with engine `me`, in the list of this thread's [`LocalKept`] that
/// `list` picks, dropping an entry another engine left (say, one since dropped) to make room;
/// gives `item` back when the list is full of `me`'s own, or the thread has none.
fn keep_local<T>(me: usize, item: T, list: impl FnOnce(&mut LocalKept) -> &mut Vec<(usize, T)>) -> Option<T> {
    let mut item = Some(item);
    with_local(|l| {
        let list = list(l);
        if list.len() >= LOCAL_KEPT
            && let Some(i) = list.iter().position(|(e, _)| *e != me)
        {
            list.swap_remove(i);
        }
        if list.len() < LOCAL_KEPT {
            list.extend(item.take().map(|x| (me, x)));
        }
        Some(())
    });
    item
}

/// The index of the entry to take from a cache: the most recent that `fits` and this thread
/// kept, else the most recent that `fits`.
fn kept_by_this_thread<T>(entries: &[(u64, T)], fits: impl Fn(&T) -> bool) -> Option<usize> {
    let me = this_thread();
    entries.iter().rposition(|(by, e)| *by == me && fits(e)).or_else(|| entries.iter().rposition(|(_, e)| fits(e)))
}

impl Engine {
    /// An engine running code with `backend`.
    pub fn new(config: Config, backend: Arc<dyn Backend>) -> Self {
        Engine {
            inner: Arc::new(EngineInner {
                config,
                backend,
                types: Mutex::new(HashMap::new()),
                stacks: Mutex::new(Vec::new()),
                memories: Mutex::new(Vec::new()),
            }),
        }
    }

    /// The settings.
    pub fn config(&self) -> &Config {
        &self.inner.config
    }

    /// The backend.
    pub fn backend(&self) -> &Arc<dyn Backend> {
        &self.inner.backend
    }

    /// Whether the backend's code leaves memory bounds to guard regions, so that every memory
    /// of this engine is reserved for [`GUARD_RESERVATION`](wes_core::vm::GUARD_RESERVATION)
    /// bytes ([`Backend::needs_guard_regions`]).
    pub fn guard_regions(&self) -> bool {
        self.inner.backend.needs_guard_regions()
    }

    /// The engine-wide id of the signature `ty`.
    pub(crate) fn type_id(&self, ty: &FuncType) -> u32 {
        // A panic elsewhere cannot leave the map inconsistent (one insert at a time).
        let mut types = self.inner.types.lock().unwrap_or_else(PoisonError::into_inner);
        let next = types.len() as u32;
        *types.entry(ty.clone()).or_insert(next)
    }

    /// A cached wasm stack of at least `size` bytes, if there is one.
    pub(crate) fn take_stack(&self, size: usize) -> Option<WasmStack> {
        let me = self.key();
        let local = with_local(|l| {
            let i = l.stacks.iter().rposition(|(e, s)| *e == me && s.size() >= size)?;
            Some(l.stacks.swap_remove(i).1)
        });
        if local.is_some() {
            return local;
        }
        let mut stacks = self.inner.stacks.lock().unwrap_or_else(PoisonError::into_inner);
        let i = kept_by_this_thread(&stacks, |s| s.size() >= size)?;
        Some(stacks.swap_remove(i).1)
    }

    /// Keeps `stack` for a later store (or drops it when enough are kept).
    pub(crate) fn put_stack(&self, stack: WasmStack) {
        let Some(stack) = keep_local(self.key(), stack, |l| &mut l.stacks) else { return };
        let mut stacks = self.inner.stacks.lock().unwrap_or_else(PoisonError::into_inner);
        if stacks.len() < CACHED_STACKS {
            stacks.push((this_thread(), stack));
        }
    }

    /// A kept memory mapping of `reserved` bytes, preferably one with the image `image`
    /// already mapped.
    pub(crate) fn take_memory(&self, reserved: usize, image: Option<u64>) -> Option<LinearMemory> {
        let me = self.key();
        let local = with_local(|l| {
            let mine = |m: &LinearMemory| m.reserved() == reserved;
            let i = l.memories.iter().rposition(|(e, m)| *e == me && mine(m) && m.mapped_image() == image);
            let i = i.or_else(|| l.memories.iter().rposition(|(e, m)| *e == me && mine(m)))?;
            Some(l.memories.swap_remove(i).1)
        });
        if local.is_some() {
            return local;
        }
        let mut memories = self.inner.memories.lock().unwrap_or_else(PoisonError::into_inner);
        let fits = |m: &LinearMemory| m.reserved() == reserved;
        let i = kept_by_this_thread(&memories, |m| fits(m) && m.mapped_image() == image)
            .or_else(|| kept_by_this_thread(&memories, fits))?;
        Some(memories.swap_remove(i).1)
    }

    /// Keeps a scrubbed memory mapping for a later store (or unmaps it when enough are kept).
    pub(crate) fn put_memory(&self, memory: LinearMemory) {
        let Some(memory) = keep_local(self.key(), memory, |l| &mut l.memories) else { return };
        let mut memories = self.inner.memories.lock().unwrap_or_else(PoisonError::into_inner);
        if memories.len() < CACHED_MEMORIES {
            memories.push((this_thread(), memory));
        }
    }

    /// A store's tail-call argument buffer: one a dropped store on this thread left, or a new
    /// zeroed one. A new one is 16 KB of `calloc`, whose zeroing was a sixth of a fresh
    /// contract instance's round. A kept buffer holds what its last store's tail calls passed
    /// through it; nothing reads a slot a tail call did not first write for that very call
    /// (as with the wasm stacks kept between stores, which hold old frames).
    pub(crate) fn take_tail_args() -> Box<[ValRaw]> {
        with_local(|l| l.tail_args.pop())
            .unwrap_or_else(|| vec![0 as ValRaw; wes_core::vm::TAIL_CALL_SLOTS as usize].into_boxed_slice())
    }

    /// Keeps a dropped store's tail-call buffer for this thread's next store.
    pub(crate) fn put_tail_args(buffer: Box<[ValRaw]>) {
        let mut buffer = Some(buffer);
        with_local(|l| {
            if l.tail_args.len() < LOCAL_KEPT {
                l.tail_args.extend(buffer.take());
            }
            Some(())
        });
    }

    /// A clone for a store: from this thread's spares when it has one (see `spare`), so that
    /// a fresh store takes no atomic count on the engine's shared line.
    pub(crate) fn clone_for_store(&self) -> Engine {
        Engine { inner: crate::spare::clone(&self.inner) }
    }

    /// Gives a store's clone back to this thread's spares.
    pub(crate) fn release(self) {
        crate::spare::release(self.inner);
    }

    /// What [`LocalKept`] tags this engine's entries with.
    fn key(&self) -> usize {
        Arc::as_ptr(&self.inner) as usize
    }

    pub(crate) fn same(&self, other: &Engine) -> bool {
        Arc::ptr_eq(&self.inner, &other.inner)
    }
}

/// A module compiled by an engine's backend, ready to instantiate in any store of that
/// engine. Cheap to clone.
#[derive(Clone, Debug)]
pub struct Module {
    pub(crate) engine: Engine,
    /// What instantiation needs that does not depend on the instance, computed once, with
    /// the compiled code itself.
    pub(crate) plan: Arc<ModulePlan>,
}

impl Module {
    /// Admits and compiles a validated module.
    ///
    /// # Errors
    ///
    /// [`RuntimeError::Compile`] when the module is past the engine's
    /// [`Config::function_limits`] or the backend cannot compile it.
    pub fn new(engine: &Engine, module: wes_core::Module) -> Result<Module, RuntimeError> {
        Module::from_arc(engine, Arc::new(module))
    }

    /// Admits and compiles a validated module shared with other owners. Admission comes
    /// first and does not depend on the backend: a module past the engine's
    /// [`Config::function_limits`] is refused before any backend sees it.
    ///
    /// # Errors
    ///
    /// [`RuntimeError::Compile`] when the module is past the engine's
    /// [`Config::function_limits`] ([`CompileError::FunctionLimit`](wes_core::CompileError::FunctionLimit),
    /// or [`CompileError::Limit`](wes_core::CompileError::Limit) for too many functions) or
    /// the backend cannot compile it.
    pub fn from_arc(engine: &Engine, module: Arc<wes_core::Module>) -> Result<Module, RuntimeError> {
        engine.config().function_limits.check(&module)?;
        Module::admitted(engine, engine.backend().compile(module)?)
    }

    /// A module from code the engine's backend compiled or loaded (for example through
    /// [`Backend::deserialize`](wes_core::Backend::deserialize) from a compiled artifact).
    ///
    /// # Errors
    ///
    /// [`RuntimeError::PricingMismatch`] when the code was compiled under another pricing than
    /// the engine's, [`RuntimeError::OperatorCountMismatch`] when it counts operators and the
    /// engine does not, or the other way round; [`RuntimeError::Compile`] when its module is
    /// past the engine's [`Config::function_limits`] (code compiled under looser limits
    /// elsewhere is admitted here only if it passes these).
    pub fn from_compiled(engine: &Engine, compiled: Arc<dyn CompiledModule>) -> Result<Module, RuntimeError> {
        engine.config().function_limits.check(compiled.module())?;
        Module::admitted(engine, compiled)
    }

    /// A module from code compiled from an admitted module.
    fn admitted(engine: &Engine, compiled: Arc<dyn CompiledModule>) -> Result<Module, RuntimeError> {
        let expected = engine.config().pricing.as_ref().map(|p| p.hash());
        if compiled.pricing_hash() != expected {
            let show = |h: Option<[u8; 32]>| match h {
                Some(h) => h.iter().take(8).map(|b| format!("{b:02x}")).collect::<String>(),
                None => "unmetered".to_string(),
            };
            return Err(RuntimeError::PricingMismatch {
                compiled: show(compiled.pricing_hash()),
                engine: show(expected),
            });
        }
        if compiled.counts_operators() != engine.config().count_operators {
            return Err(RuntimeError::OperatorCountMismatch {
                compiled: compiled.counts_operators(),
                engine: engine.config().count_operators,
            });
        }
        // Code that calls records' bodies directly must find only bodies of its own
        // convention in them: the engine's, or none at all (see `ModulePlan::new`).
        if let (Some(compiled), Some(engine)) = (compiled.body_convention(), engine.backend().body_convention())
            && compiled != engine
        {
            return Err(RuntimeError::BodyConventionMismatch { compiled, engine });
        }
        if compiled.needs_guard_regions() {
            // Its memories must be guarded, and its faults must become traps.
            if !engine.guard_regions() {
                return Err(RuntimeError::ResourceLimit(
                    "the code leaves memory bounds to guard regions, and this engine's memories have none".into(),
                ));
            }
            crate::vm::fault::install()?;
        }
        if !compiled.resumes_out_of_gas() {
            // A store of an engine whose code resumes may have an out-of-gas handler, which
            // this code could not honour.
            if engine.backend().resumes_out_of_gas() {
                return Err(RuntimeError::OutOfGasResumeMismatch { engine: engine.backend().name() });
            }
            // Its gas checks fault, and the faults must become traps.
            crate::vm::fault::install()?;
        }
        let plan = Arc::new(ModulePlan::new(engine, compiled));
        Ok(Module { engine: engine.clone(), plan })
    }

    /// The validated module this was compiled from.
    pub fn module(&self) -> &wes_core::Module {
        &self.plan.module
    }

    /// The compiled code (to serialise it with [`CompiledModule::serialize`]).
    pub fn compiled(&self) -> &Arc<dyn CompiledModule> {
        &self.plan.compiled
    }
}

#[cfg(test)]
mod tests {
    use super::{LinearMemory, keep_local, kept_by_this_thread, this_thread, with_local};

    #[test]
    fn a_thread_takes_what_it_kept_before_what_others_kept() {
        let me = this_thread();
        let other = std::thread::spawn(this_thread).join().expect("the thread runs");
        assert_ne!(me, other);
        let kept = [(me, 1), (other, 2), (me, 3), (other, 4)];
        // Its own most recent entry, though another thread's is more recent.
        assert_eq!(kept_by_this_thread(&kept, |_| true), Some(2));
        // None of its own fits: the most recent that fits, whoever kept it.
        assert_eq!(kept_by_this_thread(&kept, |v| *v % 2 == 0), Some(3));
        assert_eq!(kept_by_this_thread(&kept, |v| *v == 1), Some(0));
        assert_eq!(kept_by_this_thread(&kept, |v| *v > 4), None);
    }

    #[test]
    fn a_thread_keeps_two_memories_and_another_engines_give_way() {
        // On a thread of its own, whose lists start empty.
        std::thread::spawn(|| {
            let memory = || LinearMemory::new(65_536, 65_536, false, None).expect("a 64 KiB mapping");
            let count = |engine: usize| {
                with_local(|l| Some(l.memories.iter().filter(|(e, _)| *e == engine).count())).expect("a local list")
            };
            assert!(keep_local(1, memory(), |l| &mut l.memories).is_none());
            assert!(keep_local(1, memory(), |l| &mut l.memories).is_none());
            // Full of engine 1's own: the third is given back (for the shared cache).
            assert!(keep_local(1, memory(), |l| &mut l.memories).is_some());
            // Engine 2's takes the place of one of engine 1's.
            assert!(keep_local(2, memory(), |l| &mut l.memories).is_none());
            assert_eq!((count(1), count(2)), (1, 1));
        })
        .join()
        .expect("the thread runs");
    }
}
