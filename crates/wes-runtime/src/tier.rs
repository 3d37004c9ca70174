//! Tiering: a backend made of two, where a module runs on the first (an interpreter, ready at
//! once) while the second (the JIT) compiles it in the background, and calls switch to the
//! second's code as soon as it is ready.
//!
//! Nothing observable changes when a module tiers up: both backends charge the same gas
//! segments (`wes_meter::function_segments`, refused at compile time if their pricing differs,
//! or if one counts executed operators and the other does not),
//! count the same wasm frames and record the same traps, so which tier ran a call is not
//! consensus-visible; only time is.
//!
//! ```text
//!  compile ─▶ lower.compile (now) ─▶ TieredModule ─┬─ entry(i) = tier trampoline + TierFunc i
//!         └─▶ worker thread: upper.compile ─▶ upper entries published once (OnceLock)
//!  call ─▶ trampoline: upper entries published? ─ yes ─▶ upper entry
//!                                               └ no ──▶ lower entry
//! ```
//!
//! The switch is per call, through the function's record, so calls from the embedder, from
//! other instances and through tables move to native code at the next call; code already
//! running keeps running in its tier (an interpreted loop finishes interpreted).
//!
//! The stack the runtime reserves for a store depends on the largest native frame a module
//! reports, which must not change after instantiation: a tiered module reports the larger of
//! the lower tier's frame and `native_frame_budget`, and upper code whose frames exceed that
//! budget is not switched to (the module stays on the lower tier, still correct).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{Receiver, Sender};
use std::sync::{Arc, Condvar, Mutex, OnceLock};

use wes_core::backend::{CompiledModule, FuncEntry};
use wes_core::{Backend, CompileError, Module};

use crate::vm::tier_entry;

/// What a tiered module's trampoline needs for one function: its lower-tier entry, and where
/// the upper tier's entries appear.
#[derive(Debug)]
pub(crate) struct TierFunc {
    pub(crate) shared: Arc<TierShared>,
    pub(crate) index: u32,
    pub(crate) lower: FuncEntry,
}

/// The upper tier's compiled module (kept alive for its code) and its entries (`None` for a
/// function outside [`Module::referenced_functions`] that it made none for: calls keep the
/// lower tier's, and none are made).
pub(crate) type UpperCode = (Arc<dyn CompiledModule>, Box<[Option<FuncEntry>]>);

/// The part of a tiered module the worker writes: the upper tier's code, once.
#[derive(Debug, Default)]
pub(crate) struct TierShared {
    pub(crate) upper: OnceLock<UpperCode>,
    /// Why the upper tier will never be used, when it will not.
    refused: OnceLock<String>,
}

/// How a tiered module's upper tier ended up.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TierState {
    /// Still compiling (or queued).
    Pending,
    /// Calls run the upper tier's code.
    Ready,
    /// The upper tier refused the module or its frames exceed the budget; calls stay on the
    /// lower tier. The reason, for logs.
    Refused(String),
}

/// A module compiled by [`Tiered`].
#[derive(Debug)]
struct TieredModule {
    lower: Arc<dyn CompiledModule>,
    funcs: Box<[TierFunc]>,
    frame: usize,
    /// Whether either tier's code may leave bounds to guard regions (the upper tier's code
    /// arrives later, so this is the backend's answer, not the code's).
    guard: bool,
    /// Whether both tiers' code resumes out of gas (see `Tiered::resumes`).
    resumes: bool,
}

impl CompiledModule for TieredModule {
    fn module(&self) -> &Arc<Module> {
        self.lower.module()
    }

    fn entry(&self, defined_index: u32) -> Option<FuncEntry> {
        let f = self.funcs.get(defined_index as usize)?;
        Some(FuncEntry::with_data(tier_entry, f as *const TierFunc as *const u8))
    }

    fn max_frame_size(&self) -> usize {
        self.frame
    }

    fn pricing_hash(&self) -> Option<[u8; 32]> {
        self.lower.pricing_hash()
    }

    fn counts_operators(&self) -> bool {
        self.lower.counts_operators()
    }

    fn frame_at(&self, pc: usize) -> Option<wes_core::backend::NativeFrame> {
        let upper = self.funcs.first().and_then(|f| f.shared.upper.get()).and_then(|(m, _)| m.frame_at(pc));
        upper.or_else(|| self.lower.frame_at(pc))
    }

    fn needs_guard_regions(&self) -> bool {
        self.guard
    }

    fn fault_at(&self, pc: usize) -> Option<wes_core::Fault<'_>> {
        let upper = self.funcs.first().and_then(|f| f.shared.upper.get()).and_then(|(m, _)| m.fault_at(pc));
        upper.or_else(|| self.lower.fault_at(pc))
    }

    fn resumes_out_of_gas(&self) -> bool {
        self.resumes
    }
}

/// One module the worker must compile with the upper tier.
struct Job {
    module: Arc<Module>,
    shared: Arc<TierShared>,
    frame: usize,
    lower_pricing: Option<[u8; 32]>,
    lower_counts: bool,
}

/// What the worker has done, for [`Tiered::wait_idle`] and [`Tiered::stats`].
#[derive(Debug, Default)]
struct Progress {
    queued: AtomicU64,
    done: Mutex<(u64, u64)>,
    changed: Condvar,
}

/// Counts of a [`Tiered`] backend's background work.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TierStats {
    /// Modules handed to the upper tier.
    pub queued: u64,
    /// Modules whose upper-tier code calls now use.
    pub ready: u64,
    /// Modules the upper tier refused (or whose frames exceed the budget).
    pub refused: u64,
}

/// A backend that runs modules on `lower` at once and on `upper` once it has compiled them
/// (see the module docs).
#[derive(Debug)]
pub struct Tiered {
    lower: Arc<dyn Backend>,
    /// Whether either tier's code leaves bounds to guard regions.
    guard: bool,
    /// Whether both tiers' code resumes when a gas check finds the counter short: a module
    /// may run on either, so the store may have an out-of-gas handler only if both do.
    resumes: bool,
    native_frame_budget: usize,
    jobs: Mutex<Sender<Job>>,
    progress: Arc<Progress>,
}

impl Tiered {
    /// Tiers `lower` (which compiles every module at once) up to `upper` (which compiles in
    /// one background thread, one module at a time, in the order they were compiled). Upper
    /// code is used when its largest native frame is at most `native_frame_budget` bytes,
    /// which every tiered module reports as its frame (with the lower tier's if larger).
    pub fn new(lower: Arc<dyn Backend>, upper: Arc<dyn Backend>, native_frame_budget: usize) -> Tiered {
        let guard = lower.needs_guard_regions() || upper.needs_guard_regions();
        let resumes = lower.resumes_out_of_gas() && upper.resumes_out_of_gas();
        let (tx, rx) = std::sync::mpsc::channel::<Job>();
        let progress = Arc::new(Progress::default());
        let worker_progress = Arc::clone(&progress);
        // The worker ends when the backend (the only sender) is dropped.
        std::thread::Builder::new()
            .name("wes-tier-up".into())
            .spawn(move || worker(upper, rx, worker_progress))
            .map(drop)
            .unwrap_or_else(|_| {
                // Without a thread nothing tiers up; modules run on the lower tier, which is
                // correct, only slower. The jobs sent then fail to send and are counted as
                // refused.
            });
        Tiered { lower, guard, resumes, native_frame_budget, jobs: Mutex::new(tx), progress }
    }

    /// What the background compiler has done so far.
    pub fn stats(&self) -> TierStats {
        let (ready, refused) = *self.progress.done.lock().unwrap_or_else(|e| e.into_inner());
        TierStats { queued: self.progress.queued.load(Ordering::Relaxed), ready, refused }
    }

    /// Blocks until every module compiled so far has been handed to the upper tier and
    /// finished (ready or refused). For tests, benchmarks and embedders that prefer to
    /// warm up before serving.
    pub fn wait_idle(&self) {
        let mut done = self.progress.done.lock().unwrap_or_else(|e| e.into_inner());
        while done.0 + done.1 < self.progress.queued.load(Ordering::Acquire) {
            done = self.progress.changed.wait(done).unwrap_or_else(|e| e.into_inner());
        }
    }

    /// The tier state of `module`, a module compiled by a tiered backend (`None` otherwise, and
    /// for a module without functions, which has nothing to tier up).
    pub fn state(module: &dyn CompiledModule) -> Option<TierState> {
        // Only a tiered module's entries point at the tier trampoline; their data is then a
        // `TierFunc`, which names the shared state.
        let entry = module.entry(0)?;
        if entry.call as *const () != tier_entry as *const () {
            return None;
        }
        // SAFETY: an entry whose call is the tier trampoline was made by `TieredModule::entry`,
        // whose data is a `TierFunc` of that module, alive while `module` is borrowed.
        let func = unsafe { &*(entry.data as *const TierFunc) };
        Some(match func.shared.upper.get() {
            Some(_) => TierState::Ready,
            None => match func.shared.refused.get() {
                Some(why) => TierState::Refused(why.clone()),
                None => TierState::Pending,
            },
        })
    }
}

impl Backend for Tiered {
    fn name(&self) -> &'static str {
        "tiered"
    }

    fn needs_guard_regions(&self) -> bool {
        self.guard
    }

    fn resumes_out_of_gas(&self) -> bool {
        self.resumes
    }

    fn compile(&self, module: Arc<Module>) -> Result<Arc<dyn CompiledModule>, CompileError> {
        let lower = self.lower.compile(Arc::clone(&module))?;
        let frame = lower.max_frame_size().max(self.native_frame_budget);
        let shared = Arc::new(TierShared::default());
        let lower_entries = crate::plan::entries(&*lower).map_err(|func_index| CompileError::Codegen {
            func_index,
            message: "the lower tier has no entry point".into(),
        })?;
        let funcs: Box<[TierFunc]> = (0..)
            .zip(lower_entries.iter())
            .map(|(index, &lower)| TierFunc { shared: Arc::clone(&shared), index, lower })
            .collect();
        if !funcs.is_empty() {
            let job = Job {
                module,
                shared: Arc::clone(&shared),
                frame,
                lower_pricing: lower.pricing_hash(),
                lower_counts: lower.counts_operators(),
            };
            self.progress.queued.fetch_add(1, Ordering::AcqRel);
            let sent = self.jobs.lock().map(|tx| tx.send(job).is_ok()).unwrap_or(false);
            if !sent {
                refuse(&shared, &self.progress, "the background compiler is not running".into());
            }
        }
        Ok(Arc::new(TieredModule { lower, funcs, frame, guard: self.guard, resumes: self.resumes }))
    }
}

/// Compiles queued modules with `upper` until the backend is dropped.
fn worker(upper: Arc<dyn Backend>, jobs: Receiver<Job>, progress: Arc<Progress>) {
    for job in jobs {
        let outcome = upper.compile(job.module).and_then(|code| {
            if code.pricing_hash() != job.lower_pricing {
                return Err(CompileError::Limit("the tiers charge gas under different pricing".into()));
            }
            if code.counts_operators() != job.lower_counts {
                return Err(CompileError::Limit("one tier counts executed operators, the other does not".into()));
            }
            if code.max_frame_size() > job.frame {
                return Err(CompileError::Limit(format!(
                    "native frames of up to {} bytes exceed the tier budget of {}",
                    code.max_frame_size(),
                    job.frame
                )));
            }
            let m = code.module();
            let referenced = m.referenced_functions();
            let entries: Box<[Option<FuncEntry>]> = (0..m.bodies.len() as u32).map(|i| code.entry(i)).collect();
            let missing = entries
                .iter()
                .zip(m.num_imported_functions as usize..)
                .find(|(e, index)| e.is_none() && referenced.get(*index).copied().unwrap_or(true));
            if let Some((_, index)) = missing {
                return Err(CompileError::Limit(format!("the upper tier has no entry point for function {index}")));
            }
            Ok((code, entries))
        });
        match outcome {
            Ok(ready) => {
                // Published once; the trampoline reads it with an acquire load.
                let _ = job.shared.upper.set(ready);
                let mut done = progress.done.lock().unwrap_or_else(|e| e.into_inner());
                done.0 += 1;
                progress.changed.notify_all();
            }
            Err(e) => refuse(&job.shared, &progress, e.to_string()),
        }
    }
}

fn refuse(shared: &TierShared, progress: &Progress, why: String) {
    let _ = shared.refused.set(why);
    let mut done = progress.done.lock().unwrap_or_else(|e| e.into_inner());
    done.1 += 1;
    progress.changed.notify_all();
}
