//! The decode loop: one pass over the payloads, validating each and recording it in a
//! [`Module`].

use std::ops::Range;
use std::sync::{Arc, Mutex};

use wasmparser::{
    CompositeInnerType, FuncToValidate, FuncValidatorAllocations, FunctionBody, Parser, Payload, ValidPayload,
    Validator, ValidatorResources, WasmFeatures,
};
use wes_core::FunctionShape;
use wes_core::module::{
    ConstExpr, ConstOp, CustomSection, DataMode, DataSegment, ElementItems, ElementMode, ElementSegment, Export,
    ExternKind, FuncBody, Import, ImportType, Module, ModuleParts,
};
use wes_core::types::{FuncType, GlobalType, Limits, MemoryType, Mutability, RefType, TableType, ValType};

use crate::DecodeError;
use crate::limits::{LimitChecker, Limits as ModuleLimits};
use crate::shape;

/// Counts in the input size `Vec`s only up to this many items ahead of reading them, so a
/// forged count cannot make us allocate gigabytes for a tiny module.
const MAX_PREALLOC: usize = 1024;

fn prealloc<T>(count: u32) -> Vec<T> {
    Vec::with_capacity((count as usize).min(MAX_PREALLOC))
}

fn range(r: Range<u64>) -> Range<usize> {
    // Offsets come from a slice we hold, so they fit in usize.
    usize::try_from(r.start).unwrap_or(usize::MAX)..usize::try_from(r.end).unwrap_or(usize::MAX)
}

/// How the decode loop treats function bodies.
#[derive(Clone, Copy)]
pub(crate) enum Bodies<'a> {
    /// Validate each body and measure its shape (the only way to make a module from bytes
    /// nobody has vouched for).
    Validate,
    /// Take each body's shape from this list instead, in order, without reading its
    /// operators: the bytes passed [`Bodies::Validate`] before, with the same features, and
    /// measured to exactly these shapes (see `Decoder::decode_prevalidated`).
    Measured(&'a [FunctionShape]),
}

pub(crate) fn read_module(
    bytes: Arc<[u8]>,
    features: WasmFeatures,
    limits: &ModuleLimits,
    bodies: Bodies<'_>,
    threads: usize,
) -> Result<Module, DecodeError> {
    let mut limits = LimitChecker::new(limits);
    let mut validator = Validator::new_with_features(features);
    let mut m = ModuleParts { bytes: Arc::clone(&bytes), ..ModuleParts::default() };
    // Direct calls between defined functions, to spread `may_move_memory` and
    // `may_return_tail` once every body is measured.
    let mut calls = shape::DirectCalls::default();
    // Bodies the validator handed out, validated together (on several threads) when
    // `MAX_BATCH` wait or the code section ends: before anything after them is looked at, so
    // that the first error reported is the one a body-by-body pass would report.
    let mut pending: Vec<Pending<'_>> = Vec::new();

    // Read every payload; the bodies are validated in batches (see `pending`).
    let read = (|| -> Result<(), DecodeError> {
        for payload in Parser::new(0).parse_all(&bytes) {
            if !matches!(payload, Ok(Payload::CodeSectionEntry(_))) {
                validate_bodies(&limits, features, threads, &mut m, std::mem::take(&mut pending), &mut calls)?;
            }
            let payload = payload.map_err(DecodeError::malformed)?;
            // Limits on what the section header declares come before anything is read or
            // allocated for the items; limits on the items as soon as they are recorded.
            limits.before(&m, &payload)?;
            // Read the section ourselves as well as validating it: a read error of ours is a
            // malformed encoding; otherwise the validator's verdict comes first, so that a feature
            // gate is reported as such rather than as something we cannot represent.
            let recorded = record(&mut m, &payload);
            if let Err(e @ DecodeError::Malformed { .. }) = recorded {
                return Err(e);
            }
            if recorded.is_ok() {
                limits.after(&m, &payload)?;
            }
            let verdict = validator.payload(&payload);
            let verdict = match (recorded, verdict) {
                (_, Err(e)) => return Err(DecodeError::from_validator(e)),
                (Err(e), Ok(_)) => return Err(e),
                (Ok(()), Ok(v)) => v,
            };
            match verdict {
                ValidPayload::Ok | ValidPayload::End(_) => {}
                ValidPayload::Func(to_validate, body) => {
                    if let Bodies::Measured(shapes) = bodies {
                        let defined = m.bodies.len().saturating_sub(1);
                        let shape = shapes.get(defined).ok_or_else(|| DecodeError::Malformed {
                            offset: body.range().start,
                            message: format!("no measured shape for defined function {defined}"),
                        })?;
                        limits.check_shape(to_validate.index, shape, body.range().start)?;
                        if let Some(recorded) = m.bodies.last_mut() {
                            recorded.shape = shape.clone();
                        }
                        continue;
                    }
                    // The body just recorded is the one the validator handed back.
                    pending.push(Pending { defined: m.bodies.len().saturating_sub(1), to_validate, body });
                    // A batch at most this long: what waits costs memory (about 100 bytes a
                    // body), and a code section of a million tiny bodies must not hold them all.
                    if pending.len() >= MAX_BATCH {
                        validate_bodies(&limits, features, threads, &mut m, std::mem::take(&mut pending), &mut calls)?;
                    }
                }
                ValidPayload::Parser(_) => {
                    return Err(DecodeError::unsupported(0, "nested modules and components"));
                }
            }
        }
        Ok(())
    })();
    // Whatever stopped the read, the bodies before it were validated first by a body-by-body
    // pass, so an error among them is the one to report.
    validate_bodies(&limits, features, threads, &mut m, pending, &mut calls)?;
    read?;
    match bodies {
        Bodies::Validate => shape::spread(&mut m, calls),
        // Measured shapes were spread when they were measured; one per body, no more.
        Bodies::Measured(shapes) => {
            if shapes.len() != m.bodies.len() {
                return Err(DecodeError::Malformed {
                    offset: bytes.len() as u64,
                    message: format!("{} measured shapes for {} function bodies", shapes.len(), m.bodies.len()),
                });
            }
        }
    }
    // SAFETY: `m` was recorded from `bytes` payload by payload as the validator, with the
    // features the caller asked for, accepted each of them, and the end of the module (counts
    // of functions and bodies, data count); a payload it refused returned above. Every function
    // body was validated here, or (`Bodies::Measured`, whose caller vouches for it) was
    // validated with the same features when these bytes were decoded before. So `m` is a
    // valid module, as `from_parts_unchecked` requires.
    Ok(unsafe { Module::from_parts_unchecked(m) })
}

/// The most bodies waiting for validation at once (see `read_module`).
const MAX_BATCH: usize = 4096;

/// A function body waiting for validation: the defined function it is, and what the
/// validator handed out for it.
struct Pending<'a> {
    defined: usize,
    to_validate: FuncToValidate<ValidatorResources>,
    body: FunctionBody<'a>,
}

/// Validates `pending` and measures each body's shape into `m`, on up to `threads` threads
/// (0: one per core) taking bodies in turn. Bodies do not depend on each other, so every shape
/// and the calls gathered are those of one thread; the error returned is the first body's in
/// the module's order, whichever thread met it.
fn validate_bodies(
    limits: &LimitChecker<'_>,
    features: WasmFeatures,
    threads: usize,
    m: &mut ModuleParts,
    pending: Vec<Pending<'_>>,
    calls: &mut shape::DirectCalls,
) -> Result<(), DecodeError> {
    if pending.is_empty() {
        return Ok(());
    }
    // Validating a small body takes about 2 µs (the compile workload's): a thread, which
    // costs tens of microseconds, is worth it only for a few dozen.
    const BODIES_PER_THREAD: usize = 32;
    let imported = m.num_imported_functions;
    let slots: Vec<Mutex<Option<Pending<'_>>>> = pending.into_iter().map(|p| Mutex::new(Some(p))).collect();
    type Measured = (usize, Result<FunctionShape, DecodeError>);
    let parts = wes_core::parallel::for_each_index(
        slots.len(),
        threads,
        BODIES_PER_THREAD,
        || (FuncValidatorAllocations::default(), shape::DirectCalls::default(), Vec::<Measured>::new()),
        |(allocs, calls, done), i| {
            // Each slot is taken by one thread only (each index is handed out once).
            let Some(Pending { defined, to_validate, body }) =
                slots.get(i).and_then(|slot| slot.lock().ok()).and_then(|mut p| p.take())
            else {
                return;
            };
            let mut func = to_validate.into_validator(std::mem::take(allocs));
            let shape = limits.validate_body(&mut func, &body, features, imported, calls);
            *allocs = func.into_allocations();
            done.push((defined, shape));
        },
    );
    let mut measured: Vec<Measured> = Vec::with_capacity(slots.len());
    for (_, c, done) in parts {
        measured.extend(done);
        calls.plain.extend(c.plain);
        calls.tail.extend(c.tail);
    }
    // Every body must have been validated before the module can be sealed as valid: a slot
    // not taken (it cannot happen: only a panic while one was held would poison it) refuses
    // the module rather than letting an unchecked body through.
    if measured.len() != slots.len() {
        let offset = m.bodies.first().map_or(0, |b| b.range.start as u64);
        return Err(DecodeError::Invalid { offset, message: "a function body was not validated".into() });
    }
    measured.sort_unstable_by_key(|(defined, _)| *defined);
    for (defined, shape) in measured {
        if let Some(recorded) = m.bodies.get_mut(defined) {
            recorded.shape = shape?;
        }
    }
    Ok(())
}

/// Rejects a section whose item count cannot fit in its bytes. Every item takes at least one
/// byte, so such a section is malformed anyway; rejecting it here matters because wasmparser's
/// validator reserves room for the declared count (up to its own limits of about a million
/// items) before reading any item, which would let a few hundred forged bytes cost megabytes.
fn check_count(count: u32, range: Range<u64>) -> Result<(), DecodeError> {
    let len = range.end.saturating_sub(range.start);
    if u64::from(count) > len {
        return Err(DecodeError::Malformed {
            offset: range.start,
            message: format!("section declares {count} items but has only {len} bytes"),
        });
    }
    Ok(())
}

fn record(m: &mut ModuleParts, payload: &Payload<'_>) -> Result<(), DecodeError> {
    let mal = DecodeError::malformed;
    match payload {
        Payload::TypeSection(r) => check_count(r.count(), r.range())?,
        Payload::ImportSection(r) => check_count(r.count(), r.range())?,
        Payload::FunctionSection(r) => check_count(r.count(), r.range())?,
        Payload::TableSection(r) => check_count(r.count(), r.range())?,
        Payload::MemorySection(r) => check_count(r.count(), r.range())?,
        Payload::GlobalSection(r) => check_count(r.count(), r.range())?,
        Payload::ExportSection(r) => check_count(r.count(), r.range())?,
        Payload::ElementSection(r) => check_count(r.count(), r.range())?,
        Payload::DataSection(r) => check_count(r.count(), r.range())?,
        Payload::CodeSectionStart { count, unchecked_range, .. } => check_count(*count, unchecked_range.clone())?,
        _ => {}
    }
    match payload {
        Payload::Version { encoding, range, .. } if *encoding != wasmparser::Encoding::Module => {
            return Err(DecodeError::unsupported(range.start, "components (only core modules are supported)"));
        }
        Payload::TypeSection(reader) => {
            m.types = prealloc(reader.count());
            for group in reader.clone().into_iter_with_offsets() {
                let (offset, group) = group.map_err(mal)?;
                for sub in group.into_types() {
                    match sub.composite_type.inner {
                        CompositeInnerType::Func(f) => {
                            let params =
                                f.params().iter().map(|t| val_type(*t, offset)).collect::<Result<Vec<_>, _>>()?;
                            let results =
                                f.results().iter().map(|t| val_type(*t, offset)).collect::<Result<Vec<_>, _>>()?;
                            m.types.push(FuncType::new(params, results));
                        }
                        _ => return Err(DecodeError::unsupported(offset, "GC struct, array and continuation types")),
                    }
                }
            }
        }
        Payload::ImportSection(reader) => {
            m.imports = prealloc(reader.count());
            for import in reader.clone().into_imports_with_offsets() {
                let (offset, import) = import.map_err(mal)?;
                let ty = match import.ty {
                    wasmparser::TypeRef::Func(t) | wasmparser::TypeRef::FuncExact(t) => {
                        m.functions.push(t);
                        m.num_imported_functions += 1;
                        ImportType::Func(t)
                    }
                    wasmparser::TypeRef::Table(t) => {
                        let t = table_type(t, offset)?;
                        m.tables.push(t);
                        m.num_imported_tables += 1;
                        ImportType::Table(t)
                    }
                    wasmparser::TypeRef::Memory(t) => {
                        let t = memory_type(t);
                        m.memories.push(t);
                        m.num_imported_memories += 1;
                        ImportType::Memory(t)
                    }
                    wasmparser::TypeRef::Global(t) => {
                        let t = global_type(t, offset)?;
                        m.globals.push(t);
                        m.num_imported_globals += 1;
                        ImportType::Global(t)
                    }
                    wasmparser::TypeRef::Tag(_) => return Err(DecodeError::unsupported(offset, "exception tags")),
                };
                m.imports.push(Import { module: import.module.to_string(), name: import.name.to_string(), ty });
            }
        }
        Payload::FunctionSection(reader) => {
            m.functions.reserve((reader.count() as usize).min(MAX_PREALLOC));
            for ty in reader.clone() {
                m.functions.push(ty.map_err(mal)?);
            }
        }
        Payload::TableSection(reader) => {
            for table in reader.clone().into_iter_with_offsets() {
                let (offset, table) = table.map_err(mal)?;
                m.tables.push(table_type(table.ty, offset)?);
                m.table_inits.push(match table.init {
                    wasmparser::TableInit::RefNull => None,
                    wasmparser::TableInit::Expr(e) => Some(const_expr(&e)?),
                });
            }
        }
        Payload::MemorySection(reader) => {
            for memory in reader.clone().into_iter_with_offsets() {
                let (offset, memory) = memory.map_err(mal)?;
                if !memory.memory64 {
                    check_u32_limits(&m.bytes, offset)?;
                }
                m.memories.push(memory_type(memory));
            }
        }
        Payload::TagSection(reader) => {
            return Err(DecodeError::unsupported(reader.range().start, "exception tags"));
        }
        Payload::GlobalSection(reader) => {
            for global in reader.clone().into_iter_with_offsets() {
                let (offset, global) = global.map_err(mal)?;
                m.globals.push(global_type(global.ty, offset)?);
                m.global_inits.push(const_expr(&global.init_expr)?);
            }
        }
        Payload::ExportSection(reader) => {
            m.exports = prealloc(reader.count());
            for export in reader.clone().into_iter_with_offsets() {
                let (offset, export) = export.map_err(mal)?;
                let kind = match export.kind {
                    wasmparser::ExternalKind::Func | wasmparser::ExternalKind::FuncExact => ExternKind::Func,
                    wasmparser::ExternalKind::Table => ExternKind::Table,
                    wasmparser::ExternalKind::Memory => ExternKind::Memory,
                    wasmparser::ExternalKind::Global => ExternKind::Global,
                    wasmparser::ExternalKind::Tag => return Err(DecodeError::unsupported(offset, "exception tags")),
                };
                m.exports.push(Export { name: export.name.to_string(), kind, index: export.index });
            }
        }
        Payload::StartSection { func, .. } => m.start = Some(*func),
        Payload::ElementSection(reader) => {
            m.elements = prealloc(reader.count());
            for element in reader.clone() {
                let element = element.map_err(mal)?;
                let mode = match element.kind {
                    wasmparser::ElementKind::Passive => ElementMode::Passive,
                    wasmparser::ElementKind::Declared => ElementMode::Declared,
                    wasmparser::ElementKind::Active { table_index, offset_expr } => {
                        ElementMode::Active { table: table_index.unwrap_or(0), offset: const_expr(&offset_expr)? }
                    }
                };
                let offset = element.range.start;
                let (ty, items) = match element.items {
                    wasmparser::ElementItems::Functions(funcs) => {
                        let mut items = prealloc(funcs.count());
                        for f in funcs {
                            items.push(f.map_err(mal)?);
                        }
                        (RefType::FuncRef, ElementItems::Functions(items))
                    }
                    wasmparser::ElementItems::Expressions(ty, exprs) => {
                        let mut items = prealloc(exprs.count());
                        for e in exprs {
                            items.push(const_expr(&e.map_err(mal)?)?);
                        }
                        (ref_type(ty, offset)?, ElementItems::Exprs(items))
                    }
                };
                m.elements.push(ElementSegment { mode, ty, items });
            }
        }
        Payload::DataSection(reader) => {
            m.data = prealloc(reader.count());
            for data in reader.clone() {
                let data = data.map_err(mal)?;
                let mode = match data.kind {
                    wasmparser::DataKind::Passive => DataMode::Passive,
                    wasmparser::DataKind::Active { memory_index, offset_expr } => {
                        DataMode::Active { memory: memory_index, offset: const_expr(&offset_expr)? }
                    }
                };
                // The payload is the tail of the segment's encoding.
                let seg = range(data.range);
                let start = seg.end.saturating_sub(data.data.len());
                m.data.push(DataSegment { mode, range: start..seg.end });
            }
        }
        Payload::CodeSectionStart { count, .. } => m.bodies = prealloc(*count),
        Payload::CodeSectionEntry(body) => {
            let index = m.num_imported_functions as usize + m.bodies.len();
            // The validator rejects a body without a declared function; until it has seen this
            // one we record what we can.
            let type_index = m.functions.get(index).copied().unwrap_or(u32::MAX);
            // Its shape is measured as the validator reads it (`limits::scan_body`).
            m.bodies.push(FuncBody { type_index, range: range(body.range()), shape: Default::default() });
        }
        Payload::CustomSection(reader) => {
            if reader.name() == "name" {
                // The spec makes custom sections advisory: a damaged name section loses the
                // names, never the module.
                if let wasmparser::KnownCustom::Name(names) = reader.as_known() {
                    read_names(m, names);
                }
            } else {
                let start = usize::try_from(reader.data_offset()).unwrap_or(usize::MAX);
                m.custom_sections.push(CustomSection {
                    name: reader.name().to_string(),
                    range: start..start.saturating_add(reader.data().len()),
                });
            }
        }
        // The data count section only matters to validation; unknown sections are rejected by
        // the validator; the rest are component-model payloads, refused at the version header.
        _ => {}
    }
    Ok(())
}

/// wasmparser reads memory limits as 64-bit LEB128 whatever the memory's index type, so it
/// accepts a 32-bit limit spelled with six or more bytes. The spec makes that malformed
/// ("integer representation too long"), so re-read the limits of a 32-bit memory strictly.
fn check_u32_limits(bytes: &[u8], offset: u64) -> Result<(), DecodeError> {
    let start = usize::try_from(offset).unwrap_or(usize::MAX);
    let Some(&flags) = bytes.get(start) else { return Ok(()) };
    let mut pos = start + 1;
    let fields = if flags & 0x01 != 0 { 2 } else { 1 };
    for _ in 0..fields {
        pos += strict_u32_leb_len(bytes, pos).ok_or_else(|| DecodeError::Malformed {
            offset: pos as u64,
            message: "integer representation too long".to_string(),
        })?;
    }
    Ok(())
}

/// The length of the unsigned 32-bit LEB128 at `pos`, or `None` if it takes more than five
/// bytes or sets bits above bit 31.
fn strict_u32_leb_len(bytes: &[u8], pos: usize) -> Option<usize> {
    for i in 0..5 {
        let byte = *bytes.get(pos + i)?;
        if i == 4 && byte & 0xf0 != 0 {
            return None;
        }
        if byte & 0x80 == 0 {
            return Some(i + 1);
        }
    }
    None
}

fn read_names(m: &mut ModuleParts, names: wasmparser::NameSectionReader<'_>) {
    for name in names.into_iter().flatten() {
        match name {
            wasmparser::Name::Module { name, .. } => m.names.module = Some(name.to_string()),
            wasmparser::Name::Function(map) => {
                for naming in map.into_iter().flatten() {
                    m.names.functions.insert(naming.index, naming.name.to_string());
                }
            }
            _ => {}
        }
    }
}

fn val_type(t: wasmparser::ValType, offset: u64) -> Result<ValType, DecodeError> {
    Ok(match t {
        wasmparser::ValType::I32 => ValType::I32,
        wasmparser::ValType::I64 => ValType::I64,
        wasmparser::ValType::F32 => ValType::F32,
        wasmparser::ValType::F64 => ValType::F64,
        wasmparser::ValType::V128 => ValType::V128,
        wasmparser::ValType::Ref(r) => ref_type(r, offset)?.into(),
    })
}

fn ref_type(r: wasmparser::RefType, offset: u64) -> Result<RefType, DecodeError> {
    if r == wasmparser::RefType::FUNCREF {
        Ok(RefType::FuncRef)
    } else if r == wasmparser::RefType::EXTERNREF {
        Ok(RefType::ExternRef)
    } else {
        Err(DecodeError::unsupported(offset, format!("reference type {r}")))
    }
}

fn table_type(t: wasmparser::TableType, offset: u64) -> Result<TableType, DecodeError> {
    Ok(TableType { element: ref_type(t.element_type, offset)?, limits: Limits { min: t.initial, max: t.maximum } })
}

fn memory_type(t: wasmparser::MemoryType) -> MemoryType {
    MemoryType { limits: Limits { min: t.initial, max: t.maximum }, shared: t.shared, memory64: t.memory64 }
}

fn global_type(t: wasmparser::GlobalType, offset: u64) -> Result<GlobalType, DecodeError> {
    Ok(GlobalType {
        content: val_type(t.content_type, offset)?,
        mutability: if t.mutable { Mutability::Var } else { Mutability::Const },
    })
}

fn const_expr(e: &wasmparser::ConstExpr<'_>) -> Result<ConstExpr, DecodeError> {
    use wasmparser::Operator as O;
    let mut ops = Vec::new();
    let mut reader = e.get_operators_reader();
    while !reader.eof() {
        let offset = reader.original_position();
        let op = match reader.read().map_err(DecodeError::malformed)? {
            O::I32Const { value } => ConstOp::I32Const(value),
            O::I64Const { value } => ConstOp::I64Const(value),
            O::F32Const { value } => ConstOp::F32Const(value.bits()),
            O::F64Const { value } => ConstOp::F64Const(value.bits()),
            O::V128Const { value } => ConstOp::V128Const(u128::from_le_bytes(*value.bytes())),
            O::RefNull { hty } => ConstOp::RefNull(match hty {
                wasmparser::HeapType::Abstract { ty: wasmparser::AbstractHeapType::Func, .. } => RefType::FuncRef,
                wasmparser::HeapType::Abstract { ty: wasmparser::AbstractHeapType::Extern, .. } => RefType::ExternRef,
                other => return Err(DecodeError::unsupported(offset, format!("null of heap type {other:?}"))),
            }),
            O::RefFunc { function_index } => ConstOp::RefFunc(function_index),
            O::GlobalGet { global_index } => ConstOp::GlobalGet(global_index),
            O::I32Add => ConstOp::I32Add,
            O::I32Sub => ConstOp::I32Sub,
            O::I32Mul => ConstOp::I32Mul,
            O::I64Add => ConstOp::I64Add,
            O::I64Sub => ConstOp::I64Sub,
            O::I64Mul => ConstOp::I64Mul,
            O::End => break,
            // Anything else is rejected by the validator with a precise message; returning
            // here first would replace that message with a vaguer one, so record nothing.
            _ => return Ok(ConstExpr { ops }),
        };
        ops.push(op);
    }
    Ok(ConstExpr { ops })
}
