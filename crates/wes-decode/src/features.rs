//! [`Features`]: which WebAssembly proposals the decoder accepts.

use wasmparser::WasmFeatures;

/// The WebAssembly proposals a module may use.
///
/// The default is what WES executes: all of WebAssembly 2.0 (multi-value, bulk memory,
/// reference types, fixed-width SIMD, sign extension, non-trapping float-to-int, mutable
/// globals) plus tail calls and extended constant expressions. The other proposals are off:
/// a module that uses one is rejected with [`DecodeError::FeatureNotEnabled`]. Turning one on
/// lets such modules through the decoder, but a backend may still refuse to compile them.
///
/// [`DecodeError::FeatureNotEnabled`]: crate::DecodeError::FeatureNotEnabled
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Features {
    /// Fixed-width 128-bit SIMD (part of WebAssembly 2.0).
    pub simd: bool,
    /// `return_call` and `return_call_indirect`.
    pub tail_call: bool,
    /// `add`, `sub`, `mul` in constant expressions.
    pub extended_const: bool,
    /// Shared memories and atomics.
    pub threads: bool,
    /// Relaxed SIMD: results may differ between machines, so it is off for determinism.
    pub relaxed_simd: bool,
    /// 64-bit memory and table addresses.
    pub memory64: bool,
    /// More than one memory.
    pub multi_memory: bool,
    /// Garbage-collected structs and arrays (and typed function references).
    pub gc: bool,
    /// Exception handling.
    pub exceptions: bool,
}

impl Default for Features {
    fn default() -> Self {
        Features {
            simd: true,
            tail_call: true,
            extended_const: true,
            threads: false,
            relaxed_simd: false,
            memory64: false,
            multi_memory: false,
            gc: false,
            exceptions: false,
        }
    }
}

impl Features {
    /// WebAssembly 2.0 exactly, without tail calls or extended-const.
    pub fn wasm2() -> Self {
        Features { tail_call: false, extended_const: false, ..Features::default() }
    }

    /// The same set as `wasmparser` flags.
    pub fn to_wasmparser(&self) -> WasmFeatures {
        let mut f = WasmFeatures::WASM2;
        f.set(WasmFeatures::SIMD, self.simd);
        f.set(WasmFeatures::TAIL_CALL, self.tail_call);
        f.set(WasmFeatures::EXTENDED_CONST, self.extended_const);
        f.set(WasmFeatures::THREADS, self.threads);
        f.set(WasmFeatures::RELAXED_SIMD, self.relaxed_simd);
        f.set(WasmFeatures::MEMORY64, self.memory64);
        f.set(WasmFeatures::MULTI_MEMORY, self.multi_memory);
        f.set(WasmFeatures::GC, self.gc);
        f.set(WasmFeatures::FUNCTION_REFERENCES, self.gc);
        f.set(WasmFeatures::EXCEPTIONS, self.exceptions);
        f
    }
}
