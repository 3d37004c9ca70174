//! A module the JIT compiled or loaded ([`JitModule`]): its code region, where its functions
//! start, and the tables that say what an address in its code means (call sites for
//! backtraces, guarded accesses and trapping gas checks for faults).

use std::sync::Arc;

use wes_core::backend::{CompiledModule, FuncEntry, NativeFrame};
use wes_core::{CompileError, Module};

use crate::code_memory::CodeMemory;

/// A place in a module's code that names a wasm operator: a call site of a body (what a
/// return address found on the stack by a trap that unwinds means, see `wes_core::unwind`), or
/// a guarded memory access (what a fault there means, see [`BoundsChecks::Guard`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct CodeSite {
    /// The offset in the module's code: of a call's return address, or of the access
    /// instruction's first byte.
    pub(crate) at: u32,
    /// The function whose body it is in.
    pub(crate) func_index: u32,
    /// The module offset of the operator.
    pub(crate) offset: u32,
}

/// A module's sites: what its call sites and faulting instructions mean.
pub(crate) struct Sites {
    /// Call sites, sorted by return address.
    pub(crate) frames: Vec<CodeSite>,
    /// Guarded memory accesses, sorted by instruction offset.
    pub(crate) faults: Vec<CodeSite>,
    /// Trapping gas checks.
    pub(crate) gas: GasChecks,
}

/// A module's trapping gas checks (code without `JitConfig::resume_out_of_gas`): where each
/// check's trap instruction is and the segments it charges.
#[derive(Debug, Default)]
pub(crate) struct GasChecks {
    /// The checks, sorted by the trap instruction's offset in the module's code.
    pub(crate) sites: Vec<GasSite>,
    /// The segments of every check, each check's a run of them.
    pub(crate) links: Vec<wes_core::GasLink>,
}

impl GasChecks {
    /// Adds the check of function `func_index` whose trap is at `at`, charging `chain`.
    pub(crate) fn push(&mut self, at: u32, func_index: u32, chain: &[wes_core::GasLink]) -> Result<(), CompileError> {
        let too_many = || CompileError::Limit("more than 2^32 gas checks".into());
        let first = u32::try_from(self.links.len()).map_err(|_| too_many())?;
        let len = u32::try_from(chain.len()).map_err(|_| too_many())?;
        self.links.extend_from_slice(chain);
        self.sites.push(GasSite { at, func_index, first, len });
        Ok(())
    }
}

/// One trapping gas check ([`GasChecks`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct GasSite {
    /// The trap instruction's offset in the module's code.
    pub(crate) at: u32,
    /// The function whose body it is in.
    pub(crate) func_index: u32,
    /// Its segments: `links[first..first + len]`.
    pub(crate) first: u32,
    pub(crate) len: u32,
}

/// The convention of the JIT's bodies ([`Backend::body_convention`]): Cranelift's tail-call
/// convention with the vmctx, the frame count and the counters the code carries (gas when
/// metered, operators when counting) before the parameters (`translate::body_signature`).
pub(crate) fn body_convention(gas: bool, operators: bool) -> u64 {
    u64::from_le_bytes(*b"wesjit\0\0") | u64::from(gas) << 56 | u64::from(operators) << 57
}

/// Appends `memory`'s functions to `/tmp/perf-<pid>.map` (see the crate docs): a profiling
/// aid, so a failure to write is ignored.
pub(crate) fn write_perf_map(module: &Module, memory: &CodeMemory, layout: &Layout) {
    use std::io::Write;
    let imported = module.num_imported_functions;
    let mut starts: Vec<(usize, String)> = Vec::new();
    for (i, &at) in layout.bodies.iter().enumerate() {
        let index = imported + i as u32;
        let name = module.func_name(index).map(|n| format!(" {n}")).unwrap_or_default();
        starts.push((at, format!("wasm[{index}]{name}")));
    }
    for (i, at) in layout.entries.iter().enumerate() {
        if let Some(at) = at {
            starts.push((*at, format!("entry[{}]", imported + i as u32)));
        }
    }
    starts.sort_unstable_by_key(|s| s.0);
    let ends: Vec<usize> = starts.iter().skip(1).map(|s| s.0).chain([memory.bytes().len()]).collect();
    let mut out = String::new();
    for ((at, name), end) in starts.iter().zip(ends) {
        if let Some(addr) = memory.address(*at) {
            out.push_str(&format!("{:x} {:x} {name}\n", addr as usize, end - at));
        }
    }
    let path = format!("/tmp/perf-{}.map", std::process::id());
    if let Ok(mut f) = std::fs::OpenOptions::new().create(true).append(true).open(path) {
        let _ = f.write_all(out.as_bytes());
    }
}

/// Where a module's functions start in its code: per defined function, the array-call entry
/// (`None`: it has none, see [`Module::referenced_functions`]) and the body.
pub(crate) struct Layout {
    pub(crate) entries: Vec<Option<usize>>,
    pub(crate) bodies: Vec<usize>,
}

/// A module compiled by the [`Jit`].
pub(crate) struct JitModule {
    pub(crate) module: Arc<Module>,
    pub(crate) memory: CodeMemory,
    /// Per defined function, where its array-call entry starts in `memory` (`None`: it has
    /// none, see [`Module::referenced_functions`]).
    pub(crate) offsets: Vec<Option<usize>>,
    /// Per defined function, where its body starts in `memory`.
    pub(crate) bodies: Vec<usize>,
    /// The call sites of every body, sorted by return address.
    pub(crate) frames: Vec<CodeSite>,
    /// The guarded memory accesses of every body, sorted by instruction offset.
    pub(crate) faults: Vec<CodeSite>,
    /// The trapping gas checks of every body.
    pub(crate) gas: GasChecks,
    /// Whether the code leaves bounds to guard regions (`BoundsChecks::Guard`).
    pub(crate) guard: bool,
    /// Whether gas checks resume out of gas (see [`Jit::code_resumes`]).
    pub(crate) resumes_out_of_gas: bool,
    pub(crate) max_frame: usize,
    pub(crate) pricing_hash: Option<[u8; 32]>,
    /// Whether the code counts executed operators (`JitConfig::count_operators`).
    pub(crate) counts_operators: bool,
}

impl std::fmt::Debug for JitModule {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JitModule")
            .field("functions", &self.offsets.len())
            .field("code", &self.memory)
            .field("max_frame", &self.max_frame)
            .finish()
    }
}

impl CompiledModule for JitModule {
    fn module(&self) -> &Arc<Module> {
        &self.module
    }

    fn entry(&self, defined_index: u32) -> Option<FuncEntry> {
        let offset = (*self.offsets.get(defined_index as usize)?)?;
        let call = self.memory.entry(offset)?;
        // The body, for compiled code that calls the function through its record (a
        // `call_indirect`, a call of an import): it passes the arguments, the frame count and
        // the counters in registers, as between bodies, rather than through the entry.
        match self.bodies.get(defined_index as usize).and_then(|&at| self.memory.address(at)) {
            Some(body) => Some(FuncEntry::native_with_body(call, body)),
            None => Some(FuncEntry::native(call)),
        }
    }

    fn max_frame_size(&self) -> usize {
        self.max_frame
    }

    fn pricing_hash(&self) -> Option<[u8; 32]> {
        self.pricing_hash
    }

    fn counts_operators(&self) -> bool {
        self.counts_operators
    }

    fn serialize(&self) -> Option<Vec<u8>> {
        Some(self.serialize_code())
    }

    fn frame_at(&self, pc: usize) -> Option<NativeFrame> {
        let at = self.memory.offset_of(pc)?;
        let at = u32::try_from(at).ok()?;
        Some(match self.frames.binary_search_by_key(&at, |s| s.at) {
            Ok(i) => {
                let s = self.frames[i];
                NativeFrame::Wasm { func_index: s.func_index, offset: s.offset }
            }
            // Every call a body makes is a site; other code is an entry's or a shim's.
            Err(_) => NativeFrame::Trampoline,
        })
    }

    fn needs_guard_regions(&self) -> bool {
        self.guard
    }

    fn body_convention(&self) -> Option<u64> {
        Some(body_convention(self.pricing_hash.is_some(), self.counts_operators))
    }

    fn fault_at(&self, pc: usize) -> Option<wes_core::Fault<'_>> {
        let at = u32::try_from(self.memory.offset_of(pc)?).ok()?;
        if let Ok(i) = self.faults.binary_search_by_key(&at, |s| s.at) {
            let s = self.faults.get(i)?;
            return Some(wes_core::Fault::MemoryOutOfBounds { func_index: s.func_index, offset: s.offset });
        }
        let i = self.gas.sites.binary_search_by_key(&at, |s| s.at).ok()?;
        let s = self.gas.sites.get(i)?;
        let chain = self.gas.links.get(s.first as usize..(s.first as usize).checked_add(s.len as usize)?)?;
        Some(wes_core::Fault::OutOfGas { func_index: s.func_index, chain })
    }

    fn resumes_out_of_gas(&self) -> bool {
        self.resumes_out_of_gas
    }
}
