//! WES's Cranelift backend: validated WebAssembly functions in, host machine code out.
//!
//! [`Jit`] implements [`wes_core::Backend`]. It translates each function body (re-read in place
//! from the module's bytes) to Cranelift IR, compiles the functions in parallel on scoped
//! threads, and maps the result as one read+execute code region. Nothing outside this crate
//! knows that Cranelift is involved: the runtime sees [`CompiledModule`] entry points with the
//! array-call convention and the instance layout of [`wes_core::vm`].
//!
//! | choice | why |
//! |---|---|
//! | traps are explicit checks that branch to a cold block and unwind; the only faults are guarded accesses and trapping gas checks, whose sites are tables the fault handler reads | every machine traps alike, at the same operator, with the same gas |
//! | gas checks are conditional traps unless a store may top up ([`JitConfig::resume_out_of_gas`]) | a check adds no block, so metered code compiles in about the time of unmetered code |
//! | memory bounds are left to guard regions on x86-64 Linux ([`BoundsChecks::Guard`], the default there), checked explicitly elsewhere or on request ([`BoundsChecks::Explicit`]) | a fault is turned into exactly the trap an explicit check raises; the checks were over half of the blocks of LLVM code and most of the execution gap on integer code over memory |
//! | NaN canonicalisation on by default, by our own pass (`nan.rs`) | float results are bit-identical on every host, at the latency of the operation alone |
//! | calls from the runtime and to host functions use each function's array-call entry | one convention for wasm, host and other backends' callees |
//! | a direct call inside a module calls the callee's body with arguments, frame count and gas in registers, and so does a call through a record that holds a body (tables, imports) | calls cost what a native call costs (fib: 1.97× wasmtime before, on par after; a `call_indirect` loop 2.2× faster) |
//!
//! For profiling, setting the environment variable `WES_PERF_MAP` makes every compiled or
//! loaded module append its functions to `/tmp/perf-<pid>.map`, the file `perf report` reads
//! to name code it finds no symbols for (`wasm[N]` for the body of function `N`, with its
//! name from the module when there is one, `entry[N]` for its array-call entry).
//!
//! ```
//! use std::sync::Arc;
//! use wes_core::Backend;
//!
//! let module = wes_decode::decode_text("(module (func (export \"f\") (result i32) i32.const 7))")?;
//! let compiled = wes_jit::Jit::new()?.compile(Arc::new(module))?;
//! assert!(compiled.entry(0).is_some());
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
#![deny(missing_docs)]

mod artifact;
mod code_memory;
mod config;
mod module;
mod nan;
mod translate;

pub use crate::config::{BoundsChecks, JitConfig};
pub(crate) use crate::module::{
    CodeSite, GasChecks, GasSite, JitModule, Layout, Sites, body_convention, write_perf_map,
};

use std::sync::{Arc, Mutex};

use cranelift_codegen::Context;
use cranelift_codegen::FinalizedRelocTarget;
use cranelift_codegen::binemit::Reloc;
use cranelift_codegen::ir::ExternalName;
use cranelift_codegen::isa::OwnedTargetIsa;
use cranelift_codegen::settings::{self, Configurable};
use cranelift_frontend::FunctionBuilderContext;
use wes_core::backend::CompiledModule;
use wes_core::{Backend, CompileError, Module};
use wes_meter::Pricing;

use crate::code_memory::CodeMemory;

/// The Cranelift backend.
#[derive(Clone)]
pub struct Jit {
    isa: OwnedTargetIsa,
    /// The same target without Cranelift's optimiser, for functions past
    /// [`LARGE_FUNCTION_BLOCKS`] or [`LARGE_FUNCTION_INSTS`].
    isa_large: OwnedTargetIsa,
    config: JitConfig,
}

/// Functions of more Cranelift blocks than this compile without Cranelift's optimiser.
///
/// Why: the optimiser's GVN pass finds the depth of a value's block in the dominator tree by a
/// linear scan of the path from the root, once per pure instruction, so its time grows with
/// instructions × depth. Every trap check and gas check ends a block (traps are branches to
/// cold blocks, never Cranelift `trap` instructions), so a long function is a deep tree:
/// 100k blocks in a row did not compile in 30 s. Past this size the code is plainer but the
/// compile stays linear; results, traps and gas do not depend on it.
const LARGE_FUNCTION_BLOCKS: usize = 4096;

/// Functions of more Cranelift instructions than this compile without Cranelift's optimiser
/// too, however few their blocks.
///
/// Why: GVN shares every repeated pure value of a long straight run (say the addresses of
/// 20,000 loads from one base at 1,000 offsets, once bounds checks that are proven no longer
/// split it into blocks) from its first use to its last, and regalloc2's second chance for
/// spilled bundles then scans those long ranges against each other: the hostile corpus's
/// 100k-instruction body took 1.4-1.6 s metered with the optimiser against 0.9-1.0 s without.
/// The biggest function of the C benchmark module is about a fifth of this.
const LARGE_FUNCTION_INSTS: usize = 65_536;

/// After a function of more Cranelift instructions than this, a compile thread starts the
/// next function with a fresh Cranelift context instead of reusing the old one.
///
/// Why: the register allocator keeps its scratch tables in the context between functions, and
/// one of them, the set of bundles that conflict with an allocation attempt, is a hash set
/// that regalloc2 clears before every attempt; clearing writes all of its capacity, and the
/// capacity stays at the largest any earlier function needed. After one big function of the C
/// benchmark module every later function paid for it: `memset` was 13% of the instructions of
/// the whole compile unmetered and 16% metered (callgrind). Small functions are the common
/// case, and for them reusing the context is what saves allocations.
const FRESH_CONTEXT_INSTS: usize = 4096;

impl std::fmt::Debug for Jit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Jit").field("isa", &self.isa.name()).field("config", &self.config).finish()
    }
}

impl Jit {
    /// A JIT for the host with the default [`JitConfig`].
    ///
    /// # Errors
    ///
    /// [`CompileError::Host`] when Cranelift does not support the host.
    pub fn new() -> Result<Jit, CompileError> {
        Jit::with_config(JitConfig::default())
    }

    /// A JIT for the host with the given settings.
    ///
    /// # Errors
    ///
    /// [`CompileError::Host`] when Cranelift does not support the host, the host is not a
    /// 64-bit little-endian machine (the layout of [`wes_core::vm`] assumes one), or it is an
    /// x86-64 CPU without SSE4.1 (needed for SIMD).
    pub fn with_config(config: JitConfig) -> Result<Jit, CompileError> {
        if !(cfg!(target_pointer_width = "64") && cfg!(target_endian = "little")) {
            return Err(CompileError::Host("the JIT needs a 64-bit little-endian host".into()));
        }
        let host = |e: &dyn std::fmt::Display| CompileError::Host(e.to_string());
        let mut flags = settings::builder();
        let set = |flags: &mut settings::Builder, k: &str, v: &str| flags.set(k, v).map_err(|e| host(&e));
        // Bodies return their status, the gas and every result; results past the return
        // registers go to a return area.
        set(&mut flags, "enable_multi_ret_implicit_sret", "true")?;
        // Cranelift's `return_call` (tail calls between bodies) needs frame pointers.
        set(&mut flags, "preserve_frame_pointers", "true")?;
        set(&mut flags, "opt_level", if config.optimize { "speed" } else { "none" })?;
        // NaNs are canonicalised by our own pass (nan.rs), which is cheaper for scalars.
        set(&mut flags, "enable_nan_canonicalization", "false")?;
        set(&mut flags, "enable_verifier", if cfg!(debug_assertions) { "true" } else { "false" })?;
        // Code is placed anywhere in memory and calls go through pointers, so no relocations.
        set(&mut flags, "is_pic", "false")?;
        check_host_features()?;
        if config.bounds_checks == BoundsChecks::Guard && !cfg!(all(target_arch = "x86_64", target_os = "linux")) {
            return Err(CompileError::Unsupported {
                backend: "jit",
                what: "guard-region bounds checks on this host (x86-64 Linux only)".into(),
                func_index: None,
            });
        }
        let isa_builder = cranelift_native::builder().map_err(|e| host(&e))?;
        let isa = isa_builder.finish(settings::Flags::new(flags.clone())).map_err(|e| host(&e))?;
        set(&mut flags, "opt_level", "none")?;
        let isa_large = isa_builder.finish(settings::Flags::new(flags)).map_err(|e| host(&e))?;
        Ok(Jit { isa, isa_large, config })
    }

    /// The settings this JIT compiles with.
    pub fn config(&self) -> &JitConfig {
        &self.config
    }

    /// Whether this JIT's code resumes out of gas: unmetered code has no check to stop it, and
    /// metered code resumes with `JitConfig::resume_out_of_gas`.
    pub(crate) fn code_resumes(&self) -> bool {
        self.config.pricing.is_none() || self.config.resume_out_of_gas
    }

    /// A module of code this JIT compiled (or loaded): what the code depends on besides its
    /// tables comes from the settings.
    fn module_of(
        &self,
        module: Arc<Module>,
        memory: CodeMemory,
        layout: Layout,
        sites: Sites,
        max_frame: usize,
    ) -> Arc<JitModule> {
        if std::env::var_os("WES_PERF_MAP").is_some() {
            write_perf_map(&module, &memory, &layout);
        }
        Arc::new(JitModule {
            module,
            memory,
            offsets: layout.entries,
            bodies: layout.bodies,
            frames: sites.frames,
            faults: sites.faults,
            gas: sites.gas,
            guard: self.config.bounds_checks == BoundsChecks::Guard,
            resumes_out_of_gas: self.code_resumes(),
            max_frame,
            pricing_hash: self.config.pricing.as_ref().map(|p| p.hash()),
            counts_operators: self.config.count_operators,
        })
    }
}

/// Cranelift lowers SIMD (and float rounding) with SSE4.1 instructions on x86-64 and has no
/// fallback; without them a module would fail to compile, or worse, hit an illegal
/// instruction. Refuse the host up front instead.
fn check_host_features() -> Result<(), CompileError> {
    #[cfg(target_arch = "x86_64")]
    {
        if !std::arch::is_x86_feature_detected!("sse4.1") {
            return Err(CompileError::Host(
                "the JIT needs an x86-64 CPU with SSE4.1 (for SIMD and float rounding); this CPU lacks it".into(),
            ));
        }
    }
    Ok(())
}

/// What a call between pieces of compiled code calls.
#[derive(Clone, Copy, Debug)]
enum CallTarget {
    /// The body of a defined function, by defined index.
    Body(u32),
    /// The module's out-of-gas shim.
    OutOfGasShim,
    /// The module's replay shim.
    ReplayShim,
}

/// A call from compiled code to a body or the shim, patched when the code is laid out.
struct BodyCall {
    /// Offset of the 32-bit displacement in the calling function's code.
    at: usize,
    /// What it calls.
    target: CallTarget,
    /// What Cranelift adds to the target address (the displacement counts from the end of
    /// the field).
    addend: i64,
}

/// The machine code of one function, before it is placed in the code region.
struct CompiledFunc {
    code: Vec<u8>,
    frame_size: usize,
    calls: Vec<BodyCall>,
    /// Its call sites: the return address's offset in `code` and the module offset of the
    /// operator that made the call, by return address.
    sites: Vec<(u32, u32)>,
    /// Its guarded memory accesses: the instruction's offset in `code` and the module offset
    /// of its operator, by instruction offset.
    faults: Vec<(u32, u32)>,
    /// Its trapping gas checks: the trap instruction's offset in `code` and the segments the
    /// check charges, by instruction offset.
    gas: Vec<(u32, Vec<wes_core::GasLink>)>,
}

/// The module-level helpers of metered code.
struct Shims {
    out_of_gas: CompiledFunc,
    replay: CompiledFunc,
}

/// What the compile of one defined function needs to know about it beyond its body.
#[derive(Clone, Copy)]
struct FuncFacts {
    /// It may grow a memory or call something that might (`FunctionShape::may_move_memory`).
    may_move_memory: bool,
    /// Something outside the module can call it (see [`Module::referenced_functions`]).
    needs_entry: bool,
}

/// A defined function's body and its array-call entry, if it needs one (see
/// [`Module::referenced_functions`]).
struct CompiledPair {
    body: CompiledFunc,
    entry: Option<CompiledFunc>,
}

impl Jit {
    /// The counters compiled bodies carry.
    fn counters(&self) -> translate::Counters {
        translate::Counters { gas: self.config.pricing.is_some(), ops: self.config.count_operators }
    }

    /// The pricing segments are cut and priced under: the configured one, or, for unmetered
    /// code that counts operators (which needs the segments but not their costs), the default.
    fn segment_pricing(&self) -> Option<Arc<Pricing>> {
        match &self.config.pricing {
            Some(p) => Some(Arc::clone(p)),
            None if self.config.count_operators => Some(Arc::new(Pricing::default())),
            None => None,
        }
    }

    fn compile_one(
        &self,
        module: &Module,
        defined_index: u32,
        facts: FuncFacts,
        segment_pricing: Option<&Pricing>,
        ctx: &mut Context,
        fctx: &mut FunctionBuilderContext,
    ) -> Result<CompiledPair, CompileError> {
        let func_index = module.num_imported_functions + defined_index;
        ctx.clear();
        let segments = match segment_pricing {
            Some(pricing) => {
                let body = module
                    .bodies
                    .get(defined_index as usize)
                    .ok_or_else(|| CompileError::Codegen { func_index, message: "no body for this function".into() })?;
                let bytes = module.bytes.get(body.range.clone()).ok_or_else(|| CompileError::Codegen {
                    func_index,
                    message: "function body outside the module bytes".into(),
                })?;
                let segs = wes_meter::function_segments(bytes, body.range.start as u64, pricing)
                    .map_err(|e| CompileError::Codegen { func_index, message: e.to_string() })?;
                let plan = if self.config.merge_gas_checks {
                    wes_meter::ChargePlan::merged(bytes, body.range.start as u64, &segs)
                        .map_err(|e| CompileError::Codegen { func_index, message: e.to_string() })?
                } else {
                    wes_meter::ChargePlan::unmerged(&segs)
                };
                Some(plan)
            }
            None => None,
        };
        let mut function_facts = translate::FunctionFacts {
            segments: segments.as_ref(),
            counters: self.counters(),
            may_move_memory: facts.may_move_memory,
            profile: self.config.profile,
            refill_edges: false,
            guard: self.config.bounds_checks == BoundsChecks::Guard,
            resume_out_of_gas: self.config.resume_out_of_gas,
        };
        let (call_conv, frontend) = (self.isa.default_call_conv(), self.isa.frontend_config());
        let mut translated =
            translate::translate(module, defined_index, call_conv, frontend, &mut ctx.func, fctx, &function_facts)?;
        if self.config.pricing.is_some() && translate::needs_refill_edges(&ctx.func) {
            // Translated again, rather than decided up front: the figure that predicts the
            // register allocator's square is the translated function's (see `needs_refill_edges`).
            ctx.clear();
            function_facts.refill_edges = true;
            translated =
                translate::translate(module, defined_index, call_conv, frontend, &mut ctx.func, fctx, &function_facts)?;
        }
        if self.config.nan_canonicalization {
            nan::canonicalize_nans(&mut ctx.func);
        }
        let body = self.finish(ctx, func_index, &translated)?;
        if !facts.needs_entry {
            return Ok(CompiledPair { body, entry: None });
        }
        ctx.clear();
        translate::translate_entry(
            module,
            defined_index,
            self.isa.default_call_conv(),
            self.counters(),
            self.isa.frontend_config(),
            &mut ctx.func,
            fctx,
        )?;
        let entry = self.finish(ctx, func_index, &translate::Translated::default())?;
        Ok(CompiledPair { body, entry: Some(entry) })
    }

    /// Compiles the out-of-gas and replay shims (see `translate::translate_out_of_gas_shim`
    /// and `translate::translate_replay_shim`).
    fn compile_shims(&self) -> Result<Shims, CompileError> {
        let mut ctx = Context::new();
        let mut fctx = FunctionBuilderContext::new();
        let (call_conv, frontend) = (self.isa.default_call_conv(), self.isa.frontend_config());
        translate::translate_out_of_gas_shim(call_conv, frontend, &mut ctx.func, &mut fctx);
        let out_of_gas = self.finish(&mut ctx, 0, &translate::Translated::default())?;
        ctx.clear();
        translate::translate_replay_shim(self.config.count_operators, call_conv, frontend, &mut ctx.func, &mut fctx);
        let replay = self.finish(&mut ctx, 0, &translate::Translated::default())?;
        Ok(Shims { out_of_gas, replay })
    }

    /// Compiles the function in `ctx` to machine code; `translated` says where its guarded
    /// memory accesses and trapping gas checks are (what `translate::translate` returned).
    fn finish(
        &self,
        ctx: &mut Context,
        func_index: u32,
        translated: &translate::Translated,
    ) -> Result<CompiledFunc, CompileError> {
        let insts = ctx.func.dfg.num_insts();
        let compiled = self.finish_in(ctx, func_index, insts, translated);
        if insts > FRESH_CONTEXT_INSTS {
            // Drops the register allocator's scratch tables this function grew (see
            // `FRESH_CONTEXT_INSTS`); the next function starts from empty ones.
            *ctx = Context::new();
        }
        compiled
    }

    fn finish_in(
        &self,
        ctx: &mut Context,
        func_index: u32,
        insts: usize,
        translated: &translate::Translated,
    ) -> Result<CompiledFunc, CompileError> {
        let accesses = &translated.accesses[..];
        let mut ctrl = cranelift_codegen::control::ControlPlane::default();
        let large = ctx.func.dfg.num_blocks() > LARGE_FUNCTION_BLOCKS || insts > LARGE_FUNCTION_INSTS;
        let isa = if large { &self.isa_large } else { &self.isa };
        let compiled = ctx
            .compile(&**isa, &mut ctrl)
            .map_err(|e| CompileError::Codegen { func_index, message: format!("{:?}", e.inner) })?;
        let code = compiled.code_buffer().to_vec();
        // The frame below the frame pointer, plus the saved frame pointer and return address.
        let frame_size = compiled.buffer.frame_layout().map_or(0, |l| l.frame_to_fp_offset as usize) + 16;
        let relocs = compiled.buffer.relocs().to_vec();
        // Each call's operator offset is its instruction's source location (the translator
        // sets one per operator); the last byte of the call instruction is inside its range.
        let srclocs = compiled.buffer.get_srclocs_sorted();
        let mut sites: Vec<(u32, u32)> = compiled
            .buffer
            .call_sites()
            .filter_map(|site| {
                let last = site.ret_addr.checked_sub(1)?;
                let i = srclocs.partition_point(|l| l.end <= last);
                let l = srclocs.get(i).filter(|l| l.start <= last && !l.loc.is_default())?;
                Some((site.ret_addr, l.loc.bits()))
            })
            .collect();
        sites.sort_unstable();
        // Each guarded access (only code with `BoundsChecks::Guard` has them) with the offset
        // of its operator: the instruction's first byte is where it faults, and its source
        // location is its operator's (`translate::is_guarded_access`). One that names no access
        // could fault with nothing right to report, so none may be missing.
        let mut faults = Vec::new();
        for trap in
            compiled.buffer.traps().iter().filter(|t| t.code == cranelift_codegen::ir::TrapCode::HEAP_OUT_OF_BOUNDS)
        {
            let i = srclocs.partition_point(|l| l.end <= trap.offset);
            let loc = srclocs.get(i).filter(|l| l.start <= trap.offset && !l.loc.is_default()).map(|l| l.loc.bits());
            let Some(operator) = loc.filter(|&loc| translate::is_guarded_access(accesses, loc)) else {
                return Err(CompileError::Codegen {
                    func_index,
                    message: format!(
                        "the memory access at code offset {} names no access operator (source location {loc:?})",
                        trap.offset
                    ),
                });
            };
            faults.push((trap.offset, operator));
        }
        faults.sort_unstable();
        // Each trapping gas check with the segments it charges: its trap instruction (out of
        // line) carries the operator offset the translator recorded the check under. One that
        // names no check could fault with no gas to replay, so none may be missing.
        let mut gas = Vec::new();
        for trap in compiled.buffer.traps().iter().filter(|t| t.code == translate::OUT_OF_GAS_TRAP) {
            let i = srclocs.partition_point(|l| l.end <= trap.offset);
            let loc = srclocs.get(i).filter(|l| l.start <= trap.offset && !l.loc.is_default()).map(|l| l.loc.bits());
            let check = loc.and_then(|loc| {
                let k = translated.gas_checks.partition_point(|(at, _)| *at < loc);
                translated.gas_checks.get(k).filter(|(at, _)| *at == loc)
            });
            let Some((_, chain)) = check else {
                return Err(CompileError::Codegen {
                    func_index,
                    message: format!(
                        "the gas check at code offset {} names no check (source location {loc:?})",
                        trap.offset
                    ),
                });
            };
            gas.push((trap.offset, chain.clone()));
        }
        gas.sort_unstable_by_key(|g| g.0);
        let mut calls = Vec::new();
        for reloc in &relocs {
            // Libcalls go through the vmctx table, so the only relocations are calls between
            // bodies, which the layout resolves. Anything else means Cranelift wanted a helper
            // the host lacks (for example a rounding instruction without SSE4.1).
            let target = match (&reloc.kind, &reloc.target) {
                (
                    Reloc::X86CallPCRel4 | Reloc::X86PCRel4 | Reloc::X86CallPLTRel4,
                    FinalizedRelocTarget::ExternalName(ExternalName::User(name)),
                ) => ctx.func.params.user_named_funcs().get(*name).and_then(|n| match n.namespace {
                    translate::BODY_NAMESPACE => Some(CallTarget::Body(n.index)),
                    translate::SHIM_NAMESPACE if n.index == 0 => Some(CallTarget::OutOfGasShim),
                    translate::SHIM_NAMESPACE if n.index == 1 => Some(CallTarget::ReplayShim),
                    _ => None,
                }),
                _ => None,
            };
            let Some(target) = target else {
                return Err(CompileError::Host(format!(
                    "function {func_index} needs a relocation ({:?}); the host CPU lacks a required feature",
                    reloc.target
                )));
            };
            calls.push(BodyCall { at: reloc.offset as usize, target, addend: reloc.addend });
        }
        Ok(CompiledFunc { code, frame_size, calls, sites, faults, gas })
    }
}

/// Rejects what the JIT cannot run before compiling anything, so the error is the same
/// whichever function would have failed first.
///
/// What a module may contain at all (its functions' sizes, shapes and count) is not decided
/// here: the runtime admits a module under `wes_runtime::Config::function_limits`
/// ([`wes_core::FunctionLimits`]) before any backend sees it, so every backend refuses the
/// same modules. Those limits are what bound the JIT's compile time and memory; compiling
/// through the runtime is what applies them.
fn check_supported(module: &Module) -> Result<(), CompileError> {
    // Tail calls pass arguments and results through the store's fixed-size buffer.
    let widest = module.types.iter().map(|t| t.params().len().max(t.results().len())).max().unwrap_or(0);
    if widest > wes_core::vm::TAIL_CALL_SLOTS as usize {
        return Err(CompileError::Limit(format!(
            "a function type with {widest} parameters or results (at most {})",
            wes_core::vm::TAIL_CALL_SLOTS
        )));
    }
    if module.memories.iter().any(|m| m.memory64 || m.shared) {
        return Err(CompileError::Unsupported {
            backend: "jit",
            what: "64-bit or shared memories".into(),
            func_index: None,
        });
    }
    Ok(())
}

impl Backend for Jit {
    fn name(&self) -> &'static str {
        "jit"
    }

    fn body_convention(&self) -> Option<u64> {
        Some(body_convention(self.config.pricing.is_some(), self.config.count_operators))
    }

    fn compile(&self, module: Arc<Module>) -> Result<Arc<dyn CompiledModule>, CompileError> {
        check_supported(&module)?;
        let n = module.bodies.len();
        // Spawning threads costs more than compiling a handful of small functions, so small
        // modules compile on the calling thread.
        const FUNCS_PER_THREAD: usize = 8;
        // Only functions the runtime, a table, a reference or an import can reach get an
        // array-call entry; the rest are called only body to body. In code compiled from Rust
        // or C most functions are such, and an entry costs Cranelift about as much as a small
        // body: wasmtime likewise makes trampolines only for functions that escape.
        let referenced = module.referenced_functions();
        let imported = module.num_imported_functions as usize;
        let segment_pricing = self.segment_pricing();
        let results: Mutex<Vec<Option<Result<CompiledPair, CompileError>>>> =
            Mutex::new((0..n).map(|_| None).collect());
        wes_core::parallel::for_each_index(
            n,
            self.config.threads,
            FUNCS_PER_THREAD,
            || (Context::new(), FunctionBuilderContext::new()),
            |(ctx, fctx), i| {
                let func_index = module.num_imported_functions.saturating_add(i as u32);
                // A Cranelift panic is a bug of ours or Cranelift's, but it must not take the
                // embedder down: it becomes this function's codegen error.
                let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| match u32::try_from(i) {
                    Ok(di) => {
                        let own = FuncFacts {
                            // Measured by the decoder while validating the body.
                            may_move_memory: module.bodies.get(i).is_none_or(|b| b.shape.may_move_memory),
                            needs_entry: referenced.get(imported + i).copied().unwrap_or(true),
                        };
                        self.compile_one(&module, di, own, segment_pricing.as_deref(), ctx, fctx)
                    }
                    Err(_) => Err(CompileError::Limit("too many functions".into())),
                }))
                .unwrap_or_else(|_| {
                    Err(CompileError::Codegen { func_index, message: "the code generator panicked".into() })
                });
                if r.is_err() {
                    // A translation that stopped half-way leaves the builder context dirty.
                    *ctx = Context::new();
                    *fctx = FunctionBuilderContext::new();
                }
                if let Ok(mut all) = results.lock() {
                    all[i] = Some(r);
                }
            },
        );
        let results = results.into_inner().map_err(|_| CompileError::Limit("a compile thread panicked".into()))?;

        // Lay the bodies out one after another, 16-byte aligned, then the entries, in one
        // region, and resolve the calls between them.
        let mut pairs = Vec::with_capacity(n);
        for (i, r) in results.into_iter().enumerate() {
            pairs.push(r.ok_or_else(|| CompileError::Codegen {
                func_index: module.num_imported_functions + i as u32,
                message: "function was not compiled".into(),
            })??);
        }
        // Metered code calls the shims; one of each per module.
        let shims = match self.config.pricing {
            Some(_) => Some(self.compile_shims()?),
            None => None,
        };
        let mut code = Vec::new();
        let mut place = |f: &CompiledFunc| {
            while code.len() % 16 != 0 {
                code.push(0);
            }
            let at = code.len();
            code.extend_from_slice(&f.code);
            at
        };
        let bodies: Vec<usize> = pairs.iter().map(|p| place(&p.body)).collect();
        let offsets: Vec<Option<usize>> = pairs.iter().map(|p| p.entry.as_ref().map(&mut place)).collect();
        let shim_at = shims.as_ref().map(|s| (place(&s.out_of_gas), place(&s.replay)));
        // The bodies' sites (offsets in each body) as sites of the module's code, sorted.
        let module_sites = |sites: fn(&CompiledFunc) -> &[(u32, u32)]| -> Result<Vec<CodeSite>, CompileError> {
            let mut all = Vec::new();
            for (i, (pair, body_at)) in pairs.iter().zip(&bodies).enumerate() {
                let func_index = module.num_imported_functions + i as u32;
                for &(at, offset) in sites(&pair.body) {
                    let at = u32::try_from(*body_at + at as usize)
                        .map_err(|_| CompileError::Limit("more than 4 GiB of code".into()))?;
                    all.push(CodeSite { at, func_index, offset });
                }
            }
            all.sort_unstable_by_key(|s| s.at);
            Ok(all)
        };
        let frames = module_sites(|f| &f.sites)?;
        let faults = module_sites(|f| &f.faults)?;
        let mut gas = GasChecks::default();
        for (i, (pair, body_at)) in pairs.iter().zip(&bodies).enumerate() {
            let func_index = module.num_imported_functions + i as u32;
            for (at, chain) in &pair.body.gas {
                let at = u32::try_from(*body_at + *at as usize)
                    .map_err(|_| CompileError::Limit("more than 4 GiB of code".into()))?;
                gas.push(at, func_index, chain)?;
            }
        }
        gas.sites.sort_unstable_by_key(|s| s.at);
        for (pair, (body_at, entry_at)) in pairs.iter().zip(bodies.iter().zip(&offsets)) {
            let entry = pair.entry.as_ref().zip(*entry_at);
            for (f, base) in std::iter::once((&pair.body, *body_at)).chain(entry) {
                for call in &f.calls {
                    patch_call(&mut code, base, call, &bodies, shim_at)?;
                }
            }
        }
        // A wasm frame is a body's, plus an entry's when it was called through a record.
        let max_frame = pairs.iter().map(|p| p.body.frame_size).max().unwrap_or(0)
            + pairs.iter().filter_map(|p| p.entry.as_ref()).map(|e| e.frame_size).max().unwrap_or(0);
        let memory = CodeMemory::new(&code)?;
        Ok(self.module_of(
            module,
            memory,
            Layout { entries: offsets, bodies },
            Sites { frames, faults, gas },
            max_frame,
        ))
    }

    fn needs_guard_regions(&self) -> bool {
        self.config.bounds_checks == BoundsChecks::Guard
    }

    fn resumes_out_of_gas(&self) -> bool {
        self.code_resumes()
    }

    fn fingerprint(&self) -> Option<wes_core::CodeFingerprint> {
        Some(self.code_fingerprint())
    }

    unsafe fn deserialize(&self, module: Arc<Module>, payload: &[u8]) -> Result<Arc<dyn CompiledModule>, CompileError> {
        self.load_code(module, payload)
    }
}

/// Writes the displacement of `call` (in the function placed at `base`) to what it calls:
/// a body (placed at `bodies[i]`) or a shim (the out-of-gas and replay shims at `shims`).
fn patch_call(
    code: &mut [u8],
    base: usize,
    call: &BodyCall,
    bodies: &[usize],
    shims: Option<(usize, usize)>,
) -> Result<(), CompileError> {
    let bad =
        || CompileError::Codegen { func_index: 0, message: format!("a call to {:?} is out of range", call.target) };
    let target = match call.target {
        CallTarget::Body(i) => *bodies.get(i as usize).ok_or_else(bad)?,
        CallTarget::OutOfGasShim => shims.ok_or_else(bad)?.0,
        CallTarget::ReplayShim => shims.ok_or_else(bad)?.1,
    };
    let at = base + call.at;
    let value = (target as i64) + call.addend - (at as i64);
    let value = i32::try_from(value).map_err(|_| bad())?;
    code.get_mut(at..at + 4).ok_or_else(bad)?.copy_from_slice(&value.to_le_bytes());
    Ok(())
}
