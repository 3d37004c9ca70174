//! The [`Backend`] trait: the seam between the runtime and whatever executes code.
//!
//! A backend (the Cranelift JIT, later an interpreter) turns a validated [`Module`] into a
//! [`CompiledModule`]. The runtime instantiates compiled modules and calls their functions
//! through one calling convention, the *array call*: the callee gets its instance's context and
//! a buffer of [`ValRaw`] slots holding the arguments on entry and the results on return. With
//! one convention for every backend (and for host functions), instances compiled by different
//! backends can import each other's functions and the runtime needs no per-backend code.
//!
//! ```text
//!   bytes ──wes-decode──▶ Module ──Backend::compile──▶ CompiledModule ──runtime──▶ calls
//! ```
//!
//! The layout of the instance context (where memories, tables and globals live) is the contract
//! in [`crate::vm`]: the runtime builds it, a backend reads it at those offsets, and neither
//! knows the other.

use std::fmt;
use std::sync::Arc;

use crate::module::Module;

/// One argument or result slot of the array-call convention: 16 bytes, enough for any value.
///
/// Integers and float bits sit in the low bytes in native byte order; references are the
/// runtime's raw reference representation; a `v128` fills the slot.
pub type ValRaw = u128;

/// The signature of a compiled function's array-call entry point.
///
/// `callee_vmctx` is the context of the instance the function belongs to, `caller_vmctx` the
/// context of the calling instance (null when the host calls), and `args_results` points to
/// `max(params, results)` slots (16-byte aligned; it may be null when that is zero). The function
/// returns a status: [`CALL_RETURNED`] when it returned normally, [`CALL_TRAPPED`] when it
/// trapped (the trap is then recorded in the runtime's per-call state), or [`CALL_TAIL`] when it
/// ended with a tail call that the caller must now make (see [`crate::vm::STORE_TAIL_CALLEE`]).
///
/// Calling one requires a `callee_vmctx` built for it (by the runtime, following
/// [`crate::vm`]) and a buffer holding arguments of its exact signature. Rust calls one only
/// through [`crate::unwind::call_array`]: a trap in native code jumps back to the innermost
/// such call instead of returning, skipping every frame in between, so no Rust frame with
/// anything to drop may stand between it and the code it reaches.
pub type ArrayCallFn =
    unsafe extern "C" fn(callee_vmctx: *mut u8, caller_vmctx: *mut u8, args_results: *mut ValRaw) -> u8;

/// How the runtime reaches one defined function: its array-call entry point, and what that
/// entry gets as its `callee_vmctx`.
///
/// Native code knows which function it is, so its entry gets the instance's vmctx directly
/// (`data` null, [`FuncEntry::native`]). A backend that runs many functions through one entry
/// (an interpreter) names the function with `data`: the runtime then builds, for each instance
/// and such function, a *function context* record (layout [`crate::vm::FUNCCTX_VMCTX`],
/// [`crate::vm::FUNCCTX_DATA`]) holding the instance's vmctx and `data`, and passes the
/// record's address instead (valid for the duration of the call: an entry must not keep the
/// address after it returns, since a composing backend such as tiering may build the record
/// on its stack). Either way every function can be called through its record's `call`
/// without knowing which kind it is, so code of different backends calls, imports and
/// tail-calls each other, and shares tables, in one store; a backend's own code may take the
/// shortcut of a record's native body when it has one ([`FuncEntry::body`]).
#[derive(Clone, Copy, Debug)]
pub struct FuncEntry {
    /// The array-call entry point.
    pub call: ArrayCallFn,
    /// Null, or the backend's per-function data, valid as long as the compiled module lives.
    pub data: *const u8,
    /// Null, or the function's native body, which the runtime copies into the record
    /// ([`crate::vm::FUNCREF_BODY`]) so that the backend's own code can call it directly,
    /// with the record's vmctx, instead of through the array call: for example a
    /// `call_indirect` from one compiled function to another, which then passes its arguments
    /// in registers. Its calling convention is the backend's own business, named by
    /// [`CompiledModule::body_convention`] (only code of that convention may call it); only an
    /// entry with `data` null may have one, since the body gets the instance's vmctx.
    pub body: *const u8,
}

impl FuncEntry {
    /// The entry of native code, which gets the instance's vmctx.
    pub fn native(call: ArrayCallFn) -> FuncEntry {
        FuncEntry { call, data: std::ptr::null(), body: std::ptr::null() }
    }

    /// The entry of native code with a body its own backend's code may call directly (see
    /// [`FuncEntry::body`]).
    pub fn native_with_body(call: ArrayCallFn, body: *const u8) -> FuncEntry {
        FuncEntry { call, data: std::ptr::null(), body }
    }

    /// An entry that gets a function context holding the instance's vmctx and `data`.
    pub fn with_data(call: ArrayCallFn, data: *const u8) -> FuncEntry {
        FuncEntry { call, data, body: std::ptr::null() }
    }
}

// SAFETY: a `FuncEntry` is two code addresses and an address the runtime copies into records;
// `data` is never dereferenced except by the backend's own entry point, and `body` only called
// by the backend's own code, on the thread running the call; the backend keeps the code and
// what `data` points to alive and immutable-or-synchronised for as long as the compiled module
// (which is `Send + Sync`) lives.
unsafe impl Send for FuncEntry {}
// SAFETY: as for `Send`.
unsafe impl Sync for FuncEntry {}

/// Status of an array call that trapped.
pub const CALL_TRAPPED: u8 = 0;
/// Status of an array call that returned; its results are in the slots.
pub const CALL_RETURNED: u8 = 1;
/// Status of an array call that ended in a tail call: the function's frame is gone, and the
/// caller must call the function-reference record in the store context's tail-call callee with
/// the arguments in its tail-call buffer (repeating while the status stays `CALL_TAIL`), then
/// take the results from that buffer. This keeps tail calls in constant native stack while
/// every entry point keeps the one C-ABI array-call signature.
pub const CALL_TAIL: u8 = 2;

/// Why a backend could not compile a module.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CompileError {
    /// The module uses something this backend does not implement.
    #[error("{backend} backend does not support {what}{}", at_func(*func_index))]
    Unsupported {
        /// The backend's name.
        backend: &'static str,
        /// What is missing, for example `"the v128 type"`.
        what: String,
        /// The function that needs it, when it is a function body.
        func_index: Option<u32>,
    },
    /// Code generation failed for a function. For a validated module this is a backend bug.
    #[error("code generation failed{}: {message}", at_func(Some(*func_index)))]
    Codegen {
        /// The function being compiled.
        func_index: u32,
        /// What the code generator said.
        message: String,
    },
    /// A limit of the backend or the host was reached (code size, executable memory).
    #[error("compilation limit reached: {0}")]
    Limit(String),
    /// A function exceeds a limit the backend puts on what one function may contain, so that
    /// no function can make compilation take unbounded time or memory.
    #[error("function {func_index} exceeds the limit on {limit}: {value} (at most {max})")]
    FunctionLimit {
        /// The function.
        func_index: u32,
        /// What is limited, for example `"br_table targets"`.
        limit: &'static str,
        /// How many the function has (the first count found past the limit).
        value: u64,
        /// The most allowed.
        max: u64,
    },
    /// The host cannot run this backend (for example a CPU without a required extension).
    #[error("host not supported: {0}")]
    Host(String),
    /// Serialised code (see [`Backend::deserialize`]) is malformed or does not fit the module.
    #[error("compiled artifact refused: {0}")]
    Artifact(String),
}

fn at_func(func_index: Option<u32>) -> String {
    func_index.map(|i| format!(" in function {i}")).unwrap_or_default()
}

/// A compiler or interpreter: turns validated modules into something the runtime can call.
///
/// Backends are chosen at run time (`dyn Backend`), so a node can switch between the JIT and the
/// interpreter by configuration. Two backends given the same module, inputs and pricing must
/// produce the same results, traps and gas.
pub trait Backend: Send + Sync + fmt::Debug {
    /// A short, stable name (`"jit"`, `"interp"`) for errors, metrics and configuration.
    fn name(&self) -> &'static str;

    /// Whether code this backend compiles leaves memory bounds to guard regions (see
    /// [`CompiledModule::needs_guard_regions`]): the runtime then reserves every memory of an
    /// engine using this backend for [`GUARD_RESERVATION`](crate::vm::GUARD_RESERVATION) bytes
    /// and installs its fault handler. `false` by default.
    fn needs_guard_regions(&self) -> bool {
        false
    }

    /// The calling convention of the native bodies this backend's code may call directly
    /// through function records ([`FuncEntry::body`]), as a number that differs between any
    /// two conventions; `None` (the default) when its code calls every record through its array
    /// call. The runtime copies a module's bodies into records only when its
    /// [`CompiledModule::body_convention`] is the engine backend's, and admits no module whose
    /// code expects another convention than the engine's bodies have.
    fn body_convention(&self) -> Option<u64> {
        None
    }

    /// Whether this backend's metered code resumes when a gas check finds the counter short
    /// and the store's out-of-gas handler adds gas ([`CompiledModule::resumes_out_of_gas`]);
    /// a store of an engine whose backend does not refuses an out-of-gas handler. `true` by
    /// default.
    fn resumes_out_of_gas(&self) -> bool {
        true
    }

    /// Compiles every function of `module`.
    ///
    /// # Errors
    ///
    /// [`CompileError`] when the module uses something the backend does not implement, when the
    /// host cannot run it, or when a limit is reached. Never panics on a validated module.
    fn compile(&self, module: Arc<Module>) -> Result<Arc<dyn CompiledModule>, CompileError>;

    /// What this backend's compiled code depends on besides the module, when its code can be
    /// serialised ([`CompiledModule::serialize`]) and loaded back ([`Backend::deserialize`]);
    /// `None` (the default) when it cannot. Two backends with equal fingerprints produce
    /// interchangeable code for the same module; an artifact is only loaded by a backend with
    /// the fingerprint it was made with.
    fn fingerprint(&self) -> Option<CodeFingerprint> {
        None
    }

    /// Loads code that [`CompiledModule::serialize`] of a backend with this backend's
    /// [`fingerprint`](Backend::fingerprint) produced for `module`.
    ///
    /// The backend checks what it can (the payload's own framing, that every entry point lies
    /// inside the code, that the function count matches `module`), so a payload that is merely
    /// corrupt is refused; it cannot tell code that was forged from code it compiled.
    ///
    /// # Safety
    ///
    /// `payload` must be exactly what `serialize` returned for a compilation of `module` (the
    /// same validated module, byte for byte) by a backend with this fingerprint: the bytes are
    /// mapped as machine code and run. Callers establish this with a checksum over a trusted
    /// file, not by trusting the file's contents.
    ///
    /// # Errors
    ///
    /// [`CompileError::Unsupported`] when the backend cannot load code (the default), and
    /// [`CompileError::Artifact`] when the payload is malformed or does not fit `module`.
    unsafe fn deserialize(&self, module: Arc<Module>, payload: &[u8]) -> Result<Arc<dyn CompiledModule>, CompileError> {
        let _ = (module, payload);
        Err(CompileError::Unsupported { backend: self.name(), what: "loading compiled code".into(), func_index: None })
    }
}

/// What a backend's compiled code depends on besides the module: the key under which code
/// may be cached, and what an artifact records so that no other backend, configuration or
/// CPU runs it.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct CodeFingerprint {
    /// The backend's [`Backend::name`].
    pub backend: String,
    /// Every setting that changes the code (not, say, the number of compile threads), as
    /// text, including the pricing table's hash for metered code.
    pub config: String,
    /// The target the code runs on: architecture and the CPU features the code may use.
    pub target: String,
}

/// A module compiled by a [`Backend`].
pub trait CompiledModule: Send + Sync + fmt::Debug {
    /// The module this was compiled from.
    fn module(&self) -> &Arc<Module>;

    /// How the runtime calls defined function `defined_index` (0 is the first function that
    /// is not imported), or `None` if there is no such function. A backend may also give no
    /// entry for a function outside [`Module::referenced_functions`](crate::Module): nothing
    /// outside its module can call it, so the runtime never does; it must give one for every
    /// referenced function.
    fn entry(&self, defined_index: u32) -> Option<FuncEntry>;

    /// An upper bound, in bytes, of the native stack one activation of any function of this
    /// module uses (its frame, return address and the argument buffer of its calls; not the
    /// runtime's libcalls). The runtime sizes the stack wasm runs on from this and the call-depth
    /// limit, so that the depth limit, not the native stack, is what a runaway recursion hits.
    fn max_frame_size(&self) -> usize;

    /// The content hash of the pricing table the code was compiled to charge gas under, or
    /// `None` when the code is not metered. The runtime never runs code under another table.
    fn pricing_hash(&self) -> Option<[u8; 32]> {
        None
    }

    /// Whether the code counts the wasm operators it executes into the store context's
    /// [`STORE_OPERATORS`](crate::vm::STORE_OPERATORS) counter (per straight-line segment, when
    /// the segment is charged). The runtime never mixes code that counts with code that does not.
    fn counts_operators(&self) -> bool {
        false
    }

    /// The calling convention of this module's native bodies ([`FuncEntry::body`]), which its
    /// own code also uses when it calls a record's body (see [`Backend::body_convention`]);
    /// `None` (the default) for code that calls no body directly and gives none.
    fn body_convention(&self) -> Option<u64> {
        None
    }

    /// The code as bytes that [`Backend::deserialize`] of a backend with the same
    /// [`Backend::fingerprint`] turns back into this compiled module (given the same validated
    /// module), or `None` when the backend cannot serialise its code (the default). The
    /// module itself is not included: the loader validates the wasm bytes again.
    fn serialize(&self) -> Option<Vec<u8>> {
        None
    }

    /// What this module's native code at return address `pc` is, or `None` when `pc` is not
    /// in its code (the default: a backend without native code). The runtime asks when it
    /// walks the frames a trap unwinds (see [`crate::unwind`]).
    fn frame_at(&self, pc: usize) -> Option<NativeFrame> {
        let _ = pc;
        None
    }

    /// Whether this module's code leaves memory bounds to guard regions: it accesses linear
    /// memory without comparing against its length, so every memory it can reach must be
    /// reserved for [`GUARD_RESERVATION`](crate::vm::GUARD_RESERVATION) bytes with no access
    /// past its length, and a fault there must become a trap ([`CompiledModule::fault_at`]).
    /// `false` by default.
    fn needs_guard_regions(&self) -> bool {
        false
    }

    /// What a fault of the instruction at `pc` of this module's code means, when it is one of
    /// the instructions whose fault is a trap ([`Fault`]); `None` otherwise (the default).
    /// Called from a signal handler: it must not allocate, lock or panic.
    fn fault_at(&self, pc: usize) -> Option<Fault<'_>> {
        let _ = pc;
        None
    }

    /// Whether a gas check of this module's code that finds the counter short asks the
    /// runtime for more and resumes when the store's out-of-gas handler adds it (`true`, the
    /// default), or faults and is the `OutOfGas` trap ([`Fault::OutOfGas`]) with no handler
    /// asked. Code that faults needs the runtime's fault handler, like code that
    /// [needs guard regions](CompiledModule::needs_guard_regions).
    fn resumes_out_of_gas(&self) -> bool {
        true
    }
}

/// What the fault of an instruction of compiled code means ([`CompiledModule::fault_at`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fault<'a> {
    /// A linear-memory access out of bounds (code that leaves bounds to guard regions): the
    /// function it belongs to and the module offset of its operator.
    MemoryOutOfBounds {
        /// The function (in the module's function index space).
        func_index: u32,
        /// The module offset of the access operator.
        offset: u32,
    },
    /// A gas check that found the counter short, in code that does not
    /// [resume](CompiledModule::resumes_out_of_gas): the segments it charges, in the order
    /// they run. The counter's home in the store context holds the gas the check found; the
    /// segments it can pay for are charged in order, and the first it cannot is the
    /// `OutOfGas` trap, at its start, exactly as one check per segment would have stopped.
    OutOfGas {
        /// The function (in the module's function index space).
        func_index: u32,
        /// The segments, at least one.
        chain: &'a [GasLink],
    },
}

/// One segment a gas check charges ([`Fault::OutOfGas`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct GasLink {
    /// The module offset where the segment starts (where it traps when it cannot be paid).
    pub offset: u32,
    /// Its cost.
    pub cost: u64,
    /// Its operators, counted when it is paid for (executed-operator counts).
    pub ops: u64,
}

/// What native code at a return address is, for the backtrace of a trap that unwinds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NativeFrame {
    /// A call site in the body of function `func_index`, the call at module offset `offset`.
    Wasm {
        /// The function (in the module's function index space).
        func_index: u32,
        /// The module offset of the call.
        offset: u32,
    },
    /// Code of the module that is not a wasm frame (an array-call entry, a shim).
    Trampoline,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_name_the_function() {
        let e = CompileError::Unsupported { backend: "jit", what: "the v128 type".into(), func_index: Some(4) };
        assert_eq!(e.to_string(), "jit backend does not support the v128 type in function 4");
        let e = CompileError::Codegen { func_index: 2, message: "verifier".into() };
        assert_eq!(e.to_string(), "code generation failed in function 2: verifier");
    }
}
