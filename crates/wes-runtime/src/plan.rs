//! [`ModulePlan`]: everything about instantiating a module that does not depend on the
//! instance, computed once per compiled module so that each instantiation does only the
//! per-instance work.
//!
//! - The engine-wide signature id of each of the module's types and of each defined function
//!   (compiled code compares them in `call_indirect`), instead of hashing signatures per
//!   instance.
//! - The initial image of each defined memory: the bytes its active data segments write
//!   ([`MemoryImage`], mapped copy-on-write when large).
//! - The initial contents of each defined table: what its initialiser and its active element
//!   segments put there, as function indices (each instance turns them into its own records).
//!
//! Images are used only when every segment of the kind is *imageable*: its offset is a
//! constant, it targets a memory or table the module defines, and it fits the initial size
//! (so it cannot trap). Then nothing observable differs from copying the segments in order:
//! the objects are the instance's own, nobody can see them before instantiation returns, and
//! the segments' gas is still charged one by one, in the spec's order (see
//! `store/instantiate.rs`). Otherwise that kind is copied at run time, exactly as the spec
//! orders it.

use std::sync::Arc;

use wes_core::WASM_PAGE_SIZE;
use wes_core::backend::{CompiledModule, FuncEntry, ValRaw};
use wes_core::module::{ConstExpr, ConstOp, DataMode, ElementItems, ElementMode};

use crate::engine::Engine;
use crate::vm::MemoryImage;

/// A table element of an image: a function index of the module, or [`NULL_FUNC`].
pub(crate) const NULL_FUNC: u32 = u32::MAX;

/// The initial contents of a defined table.
#[derive(Debug, Default)]
pub(crate) struct TableImage {
    /// The initialiser's value for every element.
    pub(crate) fill: u32,
    /// Then the active element segments' items, in order: `(offset, function indices)`.
    pub(crate) writes: Vec<(u32, Vec<u32>)>,
}

/// See the module docs.
#[derive(Debug)]
pub(crate) struct ModulePlan {
    /// The code the plan is for, and the module it was compiled from: an instance holds its
    /// plan alone, so that instantiating and dropping one moves one reference count on lines
    /// that every thread instantiating the module shares, not three.
    pub(crate) compiled: Arc<dyn CompiledModule>,
    /// `compiled.module()`, kept here to be read without a virtual call.
    pub(crate) module: Arc<wes_core::Module>,
    /// Engine-wide signature id of each type of the module (the vmctx's `type_ids`).
    pub(crate) type_ids: Box<[u32]>,
    /// Engine-wide signature id of each defined function.
    pub(crate) func_type_ids: Box<[u32]>,
    /// The entry of each defined function (for one the backend gave none, because nothing
    /// outside the module reaches it, [`crate::vm::no_entry`]), or the index (in the function
    /// index space) of the first referenced function the backend has no entry for.
    /// first the backend has none for.
    pub(crate) entries: Result<Box<[FuncEntry]>, u32>,
    /// Per defined memory, its image (`None`: all zeroes); meaningful when `data_in_image`.
    pub(crate) memory_images: Vec<Option<Arc<MemoryImage>>>,
    /// Every active data segment is in `memory_images`.
    pub(crate) data_in_image: bool,
    /// Per defined table, its initial contents; meaningful when `elems_in_image`.
    pub(crate) table_images: Vec<TableImage>,
    /// Every table initialiser and active element segment is in `table_images`.
    pub(crate) elems_in_image: bool,
}

impl ModulePlan {
    pub(crate) fn new(engine: &Engine, compiled: Arc<dyn CompiledModule>) -> ModulePlan {
        let module = Arc::clone(compiled.module());
        let m = &*module;
        let mut entries = entries(compiled.as_ref());
        // Bodies go into records only in the engine backend's convention, the one every
        // admitted module whose code calls bodies uses (see `Module::admitted`).
        let convention = engine.backend().body_convention();
        if convention.is_none() || compiled.body_convention() != convention {
            for e in entries.iter_mut().flat_map(|e| e.iter_mut()) {
                e.body = std::ptr::null();
            }
        }
        let type_ids: Box<[u32]> = m.types.iter().map(|t| engine.type_id(t)).collect();
        let func_type_ids =
            m.bodies.iter().map(|b| type_ids.get(b.type_index as usize).copied().unwrap_or(u32::MAX)).collect();
        let (memory_images, data_in_image) = match memory_images(m) {
            Some(images) => (images, true),
            None => (Vec::new(), false),
        };
        let (table_images, elems_in_image) = match table_images(m) {
            Some(images) => (images, true),
            None => (Vec::new(), false),
        };
        ModulePlan {
            compiled,
            module,
            type_ids,
            func_type_ids,
            entries,
            memory_images,
            data_in_image,
            table_images,
            elems_in_image,
        }
    }
}

/// The entry of each defined function of `compiled`; for one the backend gave none because
/// nothing outside the module reaches it, [`crate::vm::no_entry`]. `Err`: the index (in the
/// function index space) of the first referenced function the backend has no entry for.
pub(crate) fn entries(compiled: &dyn CompiledModule) -> Result<Box<[FuncEntry]>, u32> {
    let m = compiled.module();
    let referenced = m.referenced_functions();
    (0..m.bodies.len() as u32)
        .map(|i| {
            let index = m.num_imported_functions + i;
            match compiled.entry(i) {
                Some(entry) => Ok(entry),
                None if !referenced.get(index as usize).copied().unwrap_or(true) => {
                    Ok(FuncEntry::native(crate::vm::no_entry))
                }
                None => Err(index),
            }
        })
        .collect()
}

/// Evaluates a constant expression; `global` and `func` give the values of `global.get` and
/// `ref.func` (`None`: not available, and the expression then has no value).
pub(crate) fn eval_const(
    expr: &ConstExpr,
    global: impl Fn(u32) -> Option<ValRaw>,
    func: impl Fn(u32) -> Option<ValRaw>,
) -> Option<ValRaw> {
    let mut stack: Vec<ValRaw> = Vec::with_capacity(2);
    for op in &expr.ops {
        let v = match *op {
            ConstOp::I32Const(x) => ValRaw::from(x as u32),
            ConstOp::I64Const(x) => ValRaw::from(x as u64),
            ConstOp::F32Const(b) => ValRaw::from(b),
            ConstOp::F64Const(b) => ValRaw::from(b),
            ConstOp::V128Const(x) => x,
            ConstOp::RefNull(_) => 0,
            ConstOp::RefFunc(i) => func(i)?,
            ConstOp::GlobalGet(i) => global(i)?,
            ConstOp::I32Add | ConstOp::I32Sub | ConstOp::I32Mul => {
                let b = stack.pop()? as u32;
                let a = stack.pop()? as u32;
                ValRaw::from(match op {
                    ConstOp::I32Add => a.wrapping_add(b),
                    ConstOp::I32Sub => a.wrapping_sub(b),
                    _ => a.wrapping_mul(b),
                })
            }
            ConstOp::I64Add | ConstOp::I64Sub | ConstOp::I64Mul => {
                let b = stack.pop()? as u64;
                let a = stack.pop()? as u64;
                ValRaw::from(match op {
                    ConstOp::I64Add => a.wrapping_add(b),
                    ConstOp::I64Sub => a.wrapping_sub(b),
                    _ => a.wrapping_mul(b),
                })
            }
        };
        stack.push(v);
    }
    stack.pop()
}

/// An offset that needs no instance to compute.
fn const_offset(expr: &ConstExpr) -> Option<u32> {
    eval_const(expr, |_| None, |_| None).map(|v| v as u32)
}

/// A reference that needs no instance to compute, as a function index or [`NULL_FUNC`].
fn const_func(expr: &ConstExpr) -> Option<u32> {
    match expr.ops.as_slice() {
        [ConstOp::RefNull(_)] => Some(NULL_FUNC),
        [ConstOp::RefFunc(i)] => Some(*i),
        _ => None,
    }
}

/// The images of the defined memories, or `None` when some active data segment is not
/// imageable.
fn memory_images(m: &wes_core::Module) -> Option<Vec<Option<Arc<MemoryImage>>>> {
    let imported = m.num_imported_memories as usize;
    let defined = m.memories.get(imported..)?;
    let mut segments: Vec<Vec<(usize, &[u8])>> = vec![Vec::new(); defined.len()];
    for seg in &m.data {
        let DataMode::Active { memory, offset } = &seg.mode else { continue };
        let index = (*memory as usize).checked_sub(imported)?;
        let size = usize::try_from(defined.get(index)?.limits.min.checked_mul(WASM_PAGE_SIZE)?).ok()?;
        let start = const_offset(offset)? as usize;
        let bytes = m.bytes.get(seg.range.clone())?;
        if start.checked_add(bytes.len())? > size {
            return None;
        }
        segments.get_mut(index)?.push((start, bytes));
    }
    let mut images = Vec::with_capacity(defined.len());
    for (ty, segs) in defined.iter().zip(&segments) {
        let size = usize::try_from(ty.limits.min.checked_mul(WASM_PAGE_SIZE)?).ok()?;
        images.push(MemoryImage::new(segs, size).map(Arc::new));
    }
    Some(images)
}

/// The initial contents of the defined tables, or `None` when some initialiser or active
/// element segment is not imageable.
fn table_images(m: &wes_core::Module) -> Option<Vec<TableImage>> {
    let imported = m.num_imported_tables as usize;
    let defined = m.tables.get(imported..)?;
    let mut images: Vec<TableImage> = Vec::with_capacity(defined.len());
    for init in &m.table_inits {
        let fill = match init {
            Some(e) => const_func(e)?,
            None => NULL_FUNC,
        };
        images.push(TableImage { fill, writes: Vec::new() });
    }
    if images.len() != defined.len() {
        return None;
    }
    for seg in &m.elements {
        let ElementMode::Active { table, offset } = &seg.mode else { continue };
        let index = (*table as usize).checked_sub(imported)?;
        let start = const_offset(offset)?;
        let items: Vec<u32> = match &seg.items {
            ElementItems::Functions(fs) => fs.clone(),
            ElementItems::Exprs(es) => es.iter().map(const_func).collect::<Option<_>>()?,
        };
        let end = u64::from(start) + items.len() as u64;
        if end > defined.get(index)?.limits.min {
            return None;
        }
        images.get_mut(index)?.writes.push((start, items));
    }
    Some(images)
}
