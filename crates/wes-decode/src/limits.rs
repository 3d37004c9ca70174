//! [`Limits`]: the static shape a module may have, checked while it is decoded, before any
//! compilation.
//!
//! The spec bounds almost nothing (a module may declare a million functions, each with fifty
//! thousand locals), and `wasmparser` enforces only the limits the engines agreed on for the
//! web. An embedder that runs code from strangers wants tighter bounds: a contract platform
//! does not need ten thousand imports, and every one of them costs compile time and memory
//! before the first instruction runs. These limits are checked in the decoder's one pass over
//! the payloads:
//!
//! - section item counts are checked against the section header, **before** anything is
//!   allocated for the items (so a forged count costs nothing);
//! - per-item limits (parameters of a type, pages of a memory) as each item is read;
//! - per-function limits (body bytes, locals, operators, nesting, `br_table` targets) while
//!   the body is validated: the operators are decoded once and both the validator and the
//!   limits see them.
//!
//! A violation is [`DecodeError::LimitExceeded`](crate::DecodeError::LimitExceeded), naming the
//! [`Limit`], its value, the actual value and, where there is one, the index of the function
//! (or type, memory, table) at fault.
//!
//! [`Limits::default`] checks nothing beyond what `wasmparser` already enforces, so a decoder
//! without limits behaves exactly as before they existed. [`Limits::spec`] states the
//! spec's and `wasmparser`'s own limits explicitly, so that they too are reported as typed
//! limit errors.

use std::fmt;

use wasmparser::{FuncValidator, FunctionBody, ValidatorResources, WasmFeatures};
use wes_core::types::Limits as TypeLimits;
use wes_core::{FunctionShape, ModuleParts};

use crate::DecodeError;
use crate::shape::{BodyMeter, SPECIAL};

/// Upper bounds on a module's static shape. Every bound is inclusive: a module with exactly
/// `max_functions` functions passes, one more fails. `u64::MAX` means "no limit of ours".
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(deny_unknown_fields, default))]
pub struct Limits {
    /// Bytes of the whole binary module.
    pub max_module_bytes: u64,
    /// Function types in the type section.
    pub max_types: u64,
    /// Functions, imported and defined (the function index space).
    pub max_functions: u64,
    /// Entries of the import section.
    pub max_imports: u64,
    /// Entries of the export section.
    pub max_exports: u64,
    /// Globals, imported and defined.
    pub max_globals: u64,
    /// Tables, imported and defined.
    pub max_tables: u64,
    /// Memories, imported and defined.
    pub max_memories: u64,
    /// Data segments.
    pub max_data_segments: u64,
    /// Element segments.
    pub max_element_segments: u64,
    /// Locals of one function, its parameters included (the count `wasmparser` bounds).
    pub max_locals_per_function: u64,
    /// Parameters of one function type.
    pub max_params: u64,
    /// Results of one function type.
    pub max_results: u64,
    /// Bytes of one function body (its locals and operators).
    pub max_body_bytes: u64,
    /// Operators of one function body, its final `end` included.
    pub max_operators_per_function: u64,
    /// Nested control frames (`block`, `loop`, `if`, `try_table`) open at once inside one
    /// function; the function's own frame does not count.
    pub max_nesting_depth: u64,
    /// Targets of one `br_table`, the default target not included.
    pub max_br_table_targets: u64,
    /// Initial and (when declared) maximum pages of one memory. A memory declared without a
    /// maximum may grow as far as the runtime allows; bound that in the runtime.
    pub max_memory_pages: u64,
    /// Initial and (when declared) maximum elements of one table.
    pub max_table_elements: u64,
    /// Bytes of all custom sections together (names and payloads), the `name` section
    /// included.
    pub max_custom_section_bytes: u64,
}

impl Default for Limits {
    /// No limits beyond those `wasmparser` enforces itself: decoding behaves exactly as if
    /// there were no [`Limits`].
    fn default() -> Self {
        Limits::unlimited()
    }
}

impl Limits {
    /// No limits of ours at all (`u64::MAX` everywhere). `wasmparser`'s own limits still apply
    /// and are reported as [`DecodeError::Invalid`](crate::DecodeError::Invalid) or
    /// [`DecodeError::Malformed`](crate::DecodeError::Malformed), as before.
    pub const fn unlimited() -> Self {
        Limits {
            max_module_bytes: u64::MAX,
            max_types: u64::MAX,
            max_functions: u64::MAX,
            max_imports: u64::MAX,
            max_exports: u64::MAX,
            max_globals: u64::MAX,
            max_tables: u64::MAX,
            max_memories: u64::MAX,
            max_data_segments: u64::MAX,
            max_element_segments: u64::MAX,
            max_locals_per_function: u64::MAX,
            max_params: u64::MAX,
            max_results: u64::MAX,
            max_body_bytes: u64::MAX,
            max_operators_per_function: u64::MAX,
            max_nesting_depth: u64::MAX,
            max_br_table_targets: u64::MAX,
            max_memory_pages: u64::MAX,
            max_table_elements: u64::MAX,
            max_custom_section_bytes: u64::MAX,
        }
    }

    /// The implementation limits of the WebAssembly JS API spec ("Limits" in the JS API
    /// document: the figures the engines agreed on, and that `wasmparser` mostly enforces
    /// itself), stated here so that a violation is a typed [`Limit`] error rather than a
    /// validator message. Where that list bounds nothing, the limit stays `u64::MAX`:
    /// operators, nesting and `br_table` targets (each bounded by the body size) and custom
    /// sections (bounded by the module size). Element segments and memories take
    /// `wasmparser`'s bounds (100,000 and 100).
    ///
    /// Memory pages are the 32-bit core spec limit (65,536 pages, 4 GiB), applied to every
    /// memory: WES does not run 64-bit memories.
    pub const fn spec() -> Self {
        Limits {
            max_module_bytes: 1 << 30,
            max_types: 1_000_000,
            max_functions: 1_000_000,
            max_imports: 100_000,
            max_exports: 100_000,
            max_globals: 1_000_000,
            max_tables: 100_000,
            max_memories: 100,
            max_data_segments: 100_000,
            max_element_segments: 100_000,
            max_locals_per_function: 50_000,
            max_params: 1_000,
            max_results: 1_000,
            max_body_bytes: 7_654_321,
            max_operators_per_function: u64::MAX,
            max_nesting_depth: u64::MAX,
            max_br_table_targets: u64::MAX,
            max_memory_pages: 65_536,
            max_table_elements: 10_000_000,
            max_custom_section_bytes: u64::MAX,
        }
    }

    /// The value of one limit.
    pub fn get(&self, limit: Limit) -> u64 {
        match limit {
            Limit::ModuleBytes => self.max_module_bytes,
            Limit::Types => self.max_types,
            Limit::Functions => self.max_functions,
            Limit::Imports => self.max_imports,
            Limit::Exports => self.max_exports,
            Limit::Globals => self.max_globals,
            Limit::Tables => self.max_tables,
            Limit::Memories => self.max_memories,
            Limit::DataSegments => self.max_data_segments,
            Limit::ElementSegments => self.max_element_segments,
            Limit::LocalsPerFunction => self.max_locals_per_function,
            Limit::Params => self.max_params,
            Limit::Results => self.max_results,
            Limit::BodyBytes => self.max_body_bytes,
            Limit::OperatorsPerFunction => self.max_operators_per_function,
            Limit::NestingDepth => self.max_nesting_depth,
            Limit::BrTableTargets => self.max_br_table_targets,
            Limit::MemoryPages => self.max_memory_pages,
            Limit::TableElements => self.max_table_elements,
            Limit::CustomSectionBytes => self.max_custom_section_bytes,
        }
    }
}

/// Which limit a module exceeded. [`Limit::name`] is the field of [`Limits`] that sets it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[non_exhaustive]
pub enum Limit {
    /// [`Limits::max_module_bytes`].
    ModuleBytes,
    /// [`Limits::max_types`].
    Types,
    /// [`Limits::max_functions`].
    Functions,
    /// [`Limits::max_imports`].
    Imports,
    /// [`Limits::max_exports`].
    Exports,
    /// [`Limits::max_globals`].
    Globals,
    /// [`Limits::max_tables`].
    Tables,
    /// [`Limits::max_memories`].
    Memories,
    /// [`Limits::max_data_segments`].
    DataSegments,
    /// [`Limits::max_element_segments`].
    ElementSegments,
    /// [`Limits::max_locals_per_function`].
    LocalsPerFunction,
    /// [`Limits::max_params`].
    Params,
    /// [`Limits::max_results`].
    Results,
    /// [`Limits::max_body_bytes`].
    BodyBytes,
    /// [`Limits::max_operators_per_function`].
    OperatorsPerFunction,
    /// [`Limits::max_nesting_depth`].
    NestingDepth,
    /// [`Limits::max_br_table_targets`].
    BrTableTargets,
    /// [`Limits::max_memory_pages`].
    MemoryPages,
    /// [`Limits::max_table_elements`].
    TableElements,
    /// [`Limits::max_custom_section_bytes`].
    CustomSectionBytes,
}

impl Limit {
    /// Every limit, in the order of the fields of [`Limits`].
    pub const ALL: [Limit; 20] = [
        Limit::ModuleBytes,
        Limit::Types,
        Limit::Functions,
        Limit::Imports,
        Limit::Exports,
        Limit::Globals,
        Limit::Tables,
        Limit::Memories,
        Limit::DataSegments,
        Limit::ElementSegments,
        Limit::LocalsPerFunction,
        Limit::Params,
        Limit::Results,
        Limit::BodyBytes,
        Limit::OperatorsPerFunction,
        Limit::NestingDepth,
        Limit::BrTableTargets,
        Limit::MemoryPages,
        Limit::TableElements,
        Limit::CustomSectionBytes,
    ];

    /// The name of the [`Limits`] field (and configuration key) that sets this limit.
    pub fn name(self) -> &'static str {
        match self {
            Limit::ModuleBytes => "max_module_bytes",
            Limit::Types => "max_types",
            Limit::Functions => "max_functions",
            Limit::Imports => "max_imports",
            Limit::Exports => "max_exports",
            Limit::Globals => "max_globals",
            Limit::Tables => "max_tables",
            Limit::Memories => "max_memories",
            Limit::DataSegments => "max_data_segments",
            Limit::ElementSegments => "max_element_segments",
            Limit::LocalsPerFunction => "max_locals_per_function",
            Limit::Params => "max_params",
            Limit::Results => "max_results",
            Limit::BodyBytes => "max_body_bytes",
            Limit::OperatorsPerFunction => "max_operators_per_function",
            Limit::NestingDepth => "max_nesting_depth",
            Limit::BrTableTargets => "max_br_table_targets",
            Limit::MemoryPages => "max_memory_pages",
            Limit::TableElements => "max_table_elements",
            Limit::CustomSectionBytes => "max_custom_section_bytes",
        }
    }

    /// What the index of a violation of this limit counts, if a violation has one:
    /// `"function"`, `"type"`, `"memory"` or `"table"`.
    pub fn index_kind(self) -> Option<&'static str> {
        match self {
            Limit::LocalsPerFunction
            | Limit::BodyBytes
            | Limit::OperatorsPerFunction
            | Limit::NestingDepth
            | Limit::BrTableTargets => Some("function"),
            Limit::Params | Limit::Results => Some("type"),
            Limit::MemoryPages => Some("memory"),
            Limit::TableElements => Some("table"),
            _ => None,
        }
    }
}

impl fmt::Display for Limit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// The `" in function 3"` part of a limit error's message.
pub(crate) struct IndexNote(pub(crate) Limit, pub(crate) Option<u32>);

impl fmt::Display for IndexNote {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (self.0.index_kind(), self.1) {
            (Some(kind), Some(i)) => write!(f, " in {kind} {i}"),
            _ => Ok(()),
        }
    }
}

#[cold]
fn exceeded(limit: Limit, max: u64, actual: u64, index: Option<u32>, offset: u64) -> DecodeError {
    DecodeError::LimitExceeded { limit, max, actual, index, offset }
}

/// Checks `actual <= limits[limit]`.
#[inline]
fn check(limits: &Limits, limit: Limit, actual: u64, index: Option<u32>, offset: u64) -> Result<(), DecodeError> {
    let max = limits.get(limit);
    if actual > max {
        return Err(exceeded(limit, max, actual, index, offset));
    }
    Ok(())
}

/// Checks the module's size, before the decoder copies the bytes.
pub(crate) fn check_module_bytes(limits: &Limits, len: usize) -> Result<(), DecodeError> {
    check(limits, Limit::ModuleBytes, len as u64, None, 0)
}

/// The limits' state over one decode: what has been counted so far.
pub(crate) struct LimitChecker<'l> {
    limits: &'l Limits,
    custom_bytes: u64,
    /// How many of the module's types, tables and memories have had their per-item check.
    types_checked: usize,
    tables_checked: usize,
    memories_checked: usize,
    /// Bodies seen so far, to name the function of the next one.
    bodies: u32,
}

impl<'l> LimitChecker<'l> {
    pub(crate) fn new(limits: &'l Limits) -> Self {
        LimitChecker { limits, custom_bytes: 0, types_checked: 0, tables_checked: 0, memories_checked: 0, bodies: 0 }
    }

    /// Before a payload is read: the counts its header declares, added to what the module
    /// already has. Nothing has been allocated for the items yet.
    pub(crate) fn before(&mut self, m: &ModuleParts, payload: &wasmparser::Payload<'_>) -> Result<(), DecodeError> {
        use wasmparser::Payload as P;
        let l = self.limits;
        let n = |len: usize, count: u32| len as u64 + u64::from(count);
        match payload {
            P::TypeSection(r) => check(l, Limit::Types, n(m.types.len(), r.count()), None, r.range().start),
            P::ImportSection(r) => check(l, Limit::Imports, u64::from(r.count()), None, r.range().start),
            P::FunctionSection(r) => check(l, Limit::Functions, n(m.functions.len(), r.count()), None, r.range().start),
            P::TableSection(r) => check(l, Limit::Tables, n(m.tables.len(), r.count()), None, r.range().start),
            P::MemorySection(r) => check(l, Limit::Memories, n(m.memories.len(), r.count()), None, r.range().start),
            P::GlobalSection(r) => check(l, Limit::Globals, n(m.globals.len(), r.count()), None, r.range().start),
            P::ExportSection(r) => check(l, Limit::Exports, u64::from(r.count()), None, r.range().start),
            P::ElementSection(r) => check(l, Limit::ElementSegments, u64::from(r.count()), None, r.range().start),
            P::DataSection(r) => check(l, Limit::DataSegments, u64::from(r.count()), None, r.range().start),
            P::CodeSectionEntry(body) => {
                let index = m.num_imported_functions.saturating_add(self.bodies);
                self.bodies = self.bodies.saturating_add(1);
                let range = body.range();
                let len = range.end.saturating_sub(range.start);
                check(l, Limit::BodyBytes, len, Some(index), range.start)
            }
            P::CustomSection(r) => {
                let range = r.range();
                self.custom_bytes = self.custom_bytes.saturating_add(range.end.saturating_sub(range.start));
                check(l, Limit::CustomSectionBytes, self.custom_bytes, None, range.start)
            }
            _ => Ok(()),
        }
    }

    /// After a payload has been recorded in `m`: the items it added (types' parameters and
    /// results, tables' and memories' sizes, imported items' counts). Each item was read
    /// one at a time, so nothing was allocated in proportion to a declared count.
    pub(crate) fn after(&mut self, m: &ModuleParts, payload: &wasmparser::Payload<'_>) -> Result<(), DecodeError> {
        use wasmparser::Payload as P;
        let l = self.limits;
        let offset = match payload {
            P::TypeSection(r) => r.range().start,
            P::ImportSection(r) => r.range().start,
            P::TableSection(r) => r.range().start,
            P::MemorySection(r) => r.range().start,
            _ => return Ok(()),
        };
        if let P::ImportSection(_) = payload {
            check(l, Limit::Functions, m.functions.len() as u64, None, offset)?;
            check(l, Limit::Tables, m.tables.len() as u64, None, offset)?;
            check(l, Limit::Memories, m.memories.len() as u64, None, offset)?;
            check(l, Limit::Globals, m.globals.len() as u64, None, offset)?;
        }
        for (i, ty) in m.types.iter().enumerate().skip(self.types_checked) {
            let index = u32::try_from(i).ok();
            check(l, Limit::Params, ty.params().len() as u64, index, offset)?;
            check(l, Limit::Results, ty.results().len() as u64, index, offset)?;
        }
        self.types_checked = m.types.len();
        for (i, t) in m.tables.iter().enumerate().skip(self.tables_checked) {
            size_limits(l, Limit::TableElements, &t.limits, u32::try_from(i).ok(), offset)?;
        }
        self.tables_checked = m.tables.len();
        for (i, mem) in m.memories.iter().enumerate().skip(self.memories_checked) {
            size_limits(l, Limit::MemoryPages, &mem.limits, u32::try_from(i).ok(), offset)?;
        }
        self.memories_checked = m.memories.len();
        Ok(())
    }

    /// Checks the per-function limits against a shape measured before (by
    /// [`LimitChecker::validate_body`] in an earlier decode of the same bytes), for function
    /// `index` whose body starts at `offset`. The error names the limit and the actual value as
    /// the measuring pass would; only the offset is the body's, not the operator's.
    pub(crate) fn check_shape(&self, index: u32, shape: &FunctionShape, offset: u64) -> Result<(), DecodeError> {
        let (l, index) = (self.limits, Some(index));
        check(l, Limit::LocalsPerFunction, shape.locals, index, offset)?;
        check(l, Limit::OperatorsPerFunction, shape.operators, index, offset)?;
        check(l, Limit::NestingDepth, shape.max_nesting_depth, index, offset)?;
        check(l, Limit::BrTableTargets, shape.max_br_table_targets, index, offset)
    }

    /// Validates one function body, checking the per-function limits and measuring its
    /// [`FunctionShape`] on the way. `calls` gathers its direct calls of defined functions
    /// (see [`BodyMeter::operator`]).
    pub(crate) fn validate_body(
        &self,
        func: &mut FuncValidator<ValidatorResources>,
        body: &FunctionBody<'_>,
        features: WasmFeatures,
        imported: u32,
        calls: &mut crate::shape::DirectCalls,
    ) -> Result<FunctionShape, DecodeError> {
        scan_body(self.limits, func, body, features, imported, calls).map_err(|e| match e {
            Scan::Limit(e) => e,
            Scan::Wasm(e) => DecodeError::from_validator(e),
        })
    }
}

fn size_limits(l: &Limits, limit: Limit, t: &TypeLimits, index: Option<u32>, offset: u64) -> Result<(), DecodeError> {
    check(l, limit, t.min, index, offset)?;
    if let Some(max) = t.max {
        check(l, limit, max, index, offset)?;
    }
    Ok(())
}

enum Scan {
    Limit(DecodeError),
    Wasm(wasmparser::BinaryReaderError),
}

impl From<wasmparser::BinaryReaderError> for Scan {
    fn from(e: wasmparser::BinaryReaderError) -> Self {
        Scan::Wasm(e)
    }
}

impl From<DecodeError> for Scan {
    fn from(e: DecodeError) -> Self {
        Scan::Limit(e)
    }
}

/// The validator's own loop (`FuncValidator::validate`, without its debug-build self-checks),
/// with the limits checked on each local declaration and before each operator, and each
/// operator measured once the validator accepted it. The validator decodes each operator
/// itself, straight into its visitor; the limits only count, read the validator's
/// control-stack height, and peek at a `br_table`'s target count, and the [`BodyMeter`] reads
/// an opcode byte and a few immediates.
fn scan_body(
    l: &Limits,
    func: &mut FuncValidator<ValidatorResources>,
    body: &FunctionBody<'_>,
    features: WasmFeatures,
    imported: u32,
    calls: &mut crate::shape::DirectCalls,
) -> Result<FunctionShape, Scan> {
    let index = Some(func.index());
    let caller = func.index().saturating_sub(imported);
    let mut reader = body.get_binary_reader();
    // Locals: the parameters count, as they do in the validator's own bound.
    let mut locals = u64::from(func.len_locals());
    for _ in 0..reader.read_var_u32()? {
        let offset = reader.original_position();
        let count: u32 = reader.read()?;
        let ty = reader.read()?;
        locals = locals.saturating_add(u64::from(count));
        check(l, Limit::LocalsPerFunction, locals, index, offset)?;
        func.define_locals(offset, count, ty)?;
    }
    reader.set_features(features);
    let mut meter = BodyMeter::new(locals);
    // The body's bytes, indexed by the reader's position: the measures look at an operator's
    // first byte without decoding it.
    let code = {
        let mut all = body.get_binary_reader();
        all.read_bytes(all.bytes_remaining())?
    };
    let (max_ops, max_depth, max_targets) = (l.max_operators_per_function, l.max_nesting_depth, l.max_br_table_targets);
    let mut operators: u64 = 0;
    while !reader.eof() {
        let offset = reader.original_position();
        operators += 1;
        if operators > max_ops {
            return Err(exceeded(Limit::OperatorsPerFunction, max_ops, operators, index, offset).into());
        }
        let (at, height) = (reader.current_position(), func.control_stack_height());
        // The opcode byte says whether this is a `br_table`; only then is its count read.
        if max_targets != u64::MAX && code.get(at) == Some(&0x0e) {
            let mut peek = reader.clone();
            peek.read_u8()?;
            let targets = u64::from(peek.read_var_u32()?);
            check(l, Limit::BrTableTargets, targets, index, offset)?;
        }
        let special = code.get(at).is_some_and(|&b| SPECIAL[usize::from(b)]);
        reader.visit_operator(&mut func.visitor(offset))??;
        // The validator's control stack holds the function's own frame plus the open blocks.
        let after = func.control_stack_height();
        let depth = u64::from(after).saturating_sub(1);
        if depth > max_depth {
            return Err(exceeded(Limit::NestingDepth, max_depth, depth, index, offset).into());
        }
        if special {
            meter.special(code.get(at..).unwrap_or_default(), height, after, imported, caller, calls)?;
        }
    }
    reader.finish_expression(&func.visitor(reader.original_position()))?;
    Ok(meter.finish(operators))
}
