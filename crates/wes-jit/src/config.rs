//! The JIT's settings: [`JitConfig`] and how memory bounds are kept ([`BoundsChecks`]).

use std::sync::Arc;

use wes_meter::Pricing;

/// How linear-memory accesses are kept inside the memory.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum BoundsChecks {
    /// Every access compares its end address with the memory's current length and traps when
    /// it is past it. Portable, needs no signal handling and reserves only what a memory may
    /// grow to; the default where guard regions are not supported.
    Explicit,
    /// Accesses compare nothing: every memory is reserved for
    /// [`GUARD_RESERVATION`](wes_core::vm::GUARD_RESERVATION) bytes with no access past its
    /// length, so an access out of bounds faults, and the runtime's fault handler turns the
    /// fault into the same trap (code, offset, backtrace, gas) an explicit check raises. Fewer
    /// instructions to compile and to run on code over memory. x86-64 Linux only. Metered
    /// code writes its counters to the store context after each gas check (one store per
    /// check), so that at a fault they are where the trap reads them. The default on x86-64
    /// Linux.
    Guard,
}

impl Default for BoundsChecks {
    /// Guard regions where they are supported (x86-64 Linux), explicit checks elsewhere.
    fn default() -> Self {
        if cfg!(all(target_arch = "x86_64", target_os = "linux")) {
            BoundsChecks::Guard
        } else {
            BoundsChecks::Explicit
        }
    }
}

/// Settings of the JIT.
#[derive(Clone, Debug)]
pub struct JitConfig {
    /// Replace every NaN an arithmetic instruction produces by the canonical NaN, so float
    /// results are bit-identical across machines. On by default.
    pub nan_canonicalization: bool,
    /// How memory accesses are bounds-checked.
    pub bounds_checks: BoundsChecks,
    /// Run Cranelift's optimiser (`speed`) rather than just compiling (`none`). On by default.
    pub optimize: bool,
    /// How many threads compile functions; `0` means one per available core.
    pub threads: usize,
    /// Charge gas under this pricing: every straight-line segment starts with a
    /// check-and-deduct of its cost (`wes_meter::function_segments`). `None` (the default)
    /// compiles unmetered code.
    pub pricing: Option<Arc<Pricing>>,
    /// When metered, let one check charge for the segments that must run after it
    /// (`wes_meter::ChargePlan::merged`); the gas, handler calls and traps are exactly those of
    /// one check per segment. On by default; off compiles one check per segment.
    pub merge_gas_checks: bool,
    /// Compile for the gas profiler: every function tells the runtime when it is entered and
    /// when it returns or tail-calls ([`Libcall::ProfileEnter`](wes_core::vm::Libcall) /
    /// `ProfileExit`), so gas and time can be attributed to functions exactly. Gas, results
    /// and traps are the same as without; the calls cost time. Off by default.
    pub profile: bool,
    /// Count the wasm operators executed into the store context's counter
    /// ([`wes_core::vm::STORE_OPERATORS`]): each check adds the operators of the segments it
    /// charges (`wes_meter::ChainLink::ops`), in a register like the gas counter; unmetered
    /// code adds at the same segment starts without a check. The count is defined on the wasm
    /// operators, so it is the same on every backend, merged or not. Gas, results and traps
    /// are the same as without. Off by default.
    pub count_operators: bool,
    /// When metered, a gas check that finds the counter short calls the runtime, which asks
    /// the store's out-of-gas handler for more and resumes at the check when it adds enough
    /// (`Store::set_out_of_gas_handler`). Off by default on x86-64 Linux: a check is then a
    /// conditional trap that adds no block to the function, and a short counter is the
    /// `OutOfGas` trap through the runtime's fault handler, with the same gas, operator count,
    /// offset and backtrace; a store of an engine whose code does not resume refuses an
    /// out-of-gas handler. Off compiles metered code in about two thirds of the time
    /// (docs/benchmarks.md). On by default elsewhere, where the runtime has no fault handler.
    pub resume_out_of_gas: bool,
}

impl Default for JitConfig {
    fn default() -> Self {
        JitConfig {
            nan_canonicalization: true,
            bounds_checks: BoundsChecks::default(),
            optimize: true,
            threads: 0,
            pricing: None,
            merge_gas_checks: true,
            profile: false,
            count_operators: false,
            // Trapping checks need the runtime's fault handler, which is x86-64 Linux only
            // (like `BoundsChecks::Guard`).
            resume_out_of_gas: !cfg!(all(target_arch = "x86_64", target_os = "linux")),
        }
    }
}
