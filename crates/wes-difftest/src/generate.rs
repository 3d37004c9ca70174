//! Generating modules from seed bytes, and telling which proposals a module uses.

use arbitrary::Unstructured;

/// Fuel each generated module starts with: every loop iteration and function entry draws on a
/// fuel global and the module traps (`unreachable`) when it runs out, so most calls end well
/// before the harness's gas limit and the tight-limit reruns stay cheap.
pub const FUEL: u32 = 2_000;

/// Why seed bytes gave no module.
#[derive(Debug, thiserror::Error)]
pub enum GenerateError {
    /// wasm-smith ran out of seed bytes or rejected them.
    #[error("wasm-smith: {0}")]
    Smith(#[from] arbitrary::Error),
    /// The termination pass refused the module.
    #[error("wasm-smith ensure_termination: {0}")]
    Termination(String),
}

/// What wasm-smith generates: everything the backends implement (WebAssembly 2.0 with SIMD,
/// tail calls, reference types, bulk memory, multi-value), nothing they refuse (threads,
/// memory64, exceptions, GC, relaxed SIMD), no imports ([`smith_config_with_host`] adds them).
///
/// Started from `wes-runtime`'s `tests/it/smith.rs`; fewer, smaller functions so that two
/// thousand modules on five engines fit in a debug-build test.
pub fn smith_config() -> wasm_smith::Config {
    wasm_smith::Config {
        min_types: 2,
        min_funcs: 2,
        max_funcs: 8,
        max_instructions: 200,
        max_imports: 0,
        max_memories: 1,
        max_tables: 3,
        max_memory32_bytes: 2 << 16,
        max_table_elements: 1_000,
        export_everything: true,
        simd_enabled: true,
        relaxed_simd_enabled: false,
        tail_call_enabled: true,
        reference_types_enabled: true,
        bulk_memory_enabled: true,
        multi_value_enabled: true,
        saturating_float_to_int_enabled: true,
        sign_extension_ops_enabled: true,
        extended_const_enabled: true,
        exceptions_enabled: false,
        gc_enabled: false,
        threads_enabled: false,
        memory64_enabled: false,
        wide_arithmetic_enabled: false,
        custom_page_sizes_enabled: false,
        canonicalize_nans: false,
        disallow_traps: false,
        ..wasm_smith::Config::default()
    }
}

/// The host functions a generated module may import (module `host`), which every engine's
/// store defines alike (`crate::run::host_linker`): one of each signature form a backend may
/// call by a path of its own — no result, a 32-bit or a 64-bit one, floats, references, up to
/// eight parameters — and forms that take the general path (nine parameters, two results, a
/// `v128`). Each returns a mix of its arguments, or fails (a host error, a trap) for some.
pub const HOST_IMPORTS: &str = r#"(module
  (import "host" "i32" (func (param i32) (result i32)))
  (import "host" "i64" (func (param i64 i64) (result i64)))
  (import "host" "f32" (func (param f32) (result f32)))
  (import "host" "f64" (func (param f64 i32) (result f64)))
  (import "host" "unit" (func (param i32 i64 f32 f64)))
  (import "host" "none" (func))
  (import "host" "ref" (func (param externref i32) (result externref)))
  (import "host" "eight" (func (param i32 i64 i32 i64 i32 i64 i32 i64) (result i64)))
  (import "host" "nine" (func (param i32 i32 i32 i32 i32 i32 i32 i32 i32) (result i32)))
  (import "host" "pair" (func (param i32) (result i32 i64)))
  (import "host" "v128" (func (param v128 i32) (result v128))))"#;

/// [`smith_config`] with the imports of [`HOST_IMPORTS`] available: what [`generate`] uses.
/// (The crates' own wasm-smith tests instantiate without a host and keep [`smith_config`].)
pub fn smith_config_with_host() -> wasm_smith::Config {
    let base = smith_config();
    wasm_smith::Config {
        // Imported functions count among the functions: room for every import beside the
        // defined ones.
        max_funcs: base.max_funcs + 8,
        max_imports: 16,
        available_imports: wat::parse_str(HOST_IMPORTS).ok(),
        ..base
    }
}

/// The module wasm-smith makes of `seed` under [`smith_config_with_host`], with [`FUEL`]
/// inserted.
///
/// # Errors
///
/// [`GenerateError`] when the seed is too short for wasm-smith or the termination pass fails.
pub fn generate(seed: &[u8]) -> Result<Vec<u8>, GenerateError> {
    let mut module = wasm_smith::Module::new(smith_config_with_host(), &mut Unstructured::new(seed))?;
    module.ensure_termination(FUEL).map_err(|e| GenerateError::Termination(e.to_string()))?;
    Ok(module.to_bytes())
}

/// The proposals a module's code uses, for coverage counts.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ModuleFeatures {
    /// It has SIMD operators.
    pub simd: bool,
    /// It has `return_call` or `return_call_indirect`.
    pub tail_calls: bool,
    /// It has reference-type operators (`ref.*`, `table.get/set/size/grow/fill`, typed `select`).
    pub reference_types: bool,
    /// It has bulk memory or table operators (`memory.copy/fill/init`, `data.drop`,
    /// `table.copy/init`, `elem.drop`).
    pub bulk_memory: bool,
    /// It defines a table (generated modules import none).
    pub tables: bool,
    /// It imports host functions (and calls them, unless its code never reaches a call).
    pub host_imports: bool,
}

/// Which proposals the code of `bytes` uses, by a scan of its operators; a module that does
/// not parse uses none.
pub fn module_features(bytes: &[u8]) -> ModuleFeatures {
    use wasmparser::{Operator as O, Payload};
    let mut f = ModuleFeatures::default();
    for payload in wasmparser::Parser::new(0).parse_all(bytes) {
        match payload {
            Ok(Payload::TableSection(s)) if s.count() > 0 => f.tables = true,
            Ok(Payload::ImportSection(s)) if s.count() > 0 => f.host_imports = true,
            Ok(Payload::CodeSectionEntry(body)) => {
                let Ok(reader) = body.get_operators_reader() else { continue };
                for op in reader.into_iter().flatten() {
                    match op {
                        O::ReturnCall { .. } | O::ReturnCallIndirect { .. } => f.tail_calls = true,
                        O::RefNull { .. }
                        | O::RefIsNull
                        | O::RefFunc { .. }
                        | O::TableGet { .. }
                        | O::TableSet { .. }
                        | O::TableSize { .. }
                        | O::TableGrow { .. }
                        | O::TableFill { .. }
                        | O::TypedSelect { .. } => f.reference_types = true,
                        O::MemoryCopy { .. }
                        | O::MemoryFill { .. }
                        | O::MemoryInit { .. }
                        | O::DataDrop { .. }
                        | O::TableCopy { .. }
                        | O::TableInit { .. }
                        | O::ElemDrop { .. } => f.bulk_memory = true,
                        ref op => {
                            let class = wes_meter::operator_class(wes_meter::operator_name(op));
                            f.simd |= class == Some(wes_meter::OpClass::Simd);
                        }
                    }
                }
            }
            _ => {}
        }
    }
    f
}
