//! An instance's state as plain data, and back: what a snapshot of a running contract holds
//! (the versioned, checksummed file format around it is `wes-lifecycle`'s).
//!
//! Everything the instance can observe is captured, by its own index spaces so that the state
//! means the same in another store, process or machine: every memory (length and contents,
//! as runs of non-zero 4 KiB pages), every global, every table (function references as
//! function indices of the instance, `externref`s as the embedder's numbers), the element
//! segments still alive, the dropped data segments, and the store meter's remaining gas.
//! Imported objects are included: they are part of what the instance sees. A function
//! reference the instance cannot name (a function of another instance or a host function it
//! does not import) cannot be captured, and says so.
//!
//! [`Store::restore`] writes a state into an instance of the same module, typically a fresh
//! one in another engine: it checks first that every object has the snapshot's shape, so a
//! refused state leaves the store as it was.

use serde::{Deserialize, Serialize};
use wes_meter::BasicMeter;

use super::*;
use crate::api::Instance;

/// The granule of the sparse memory contents: pages of zeroes are not stored.
const CHUNK: usize = 4096;

/// A reference, by what the instance calls it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum RefState {
    /// `ref.null`.
    Null,
    /// Function `index` of the instance's function index space.
    Func(u32),
    /// An `externref` with the embedder's number.
    Extern(u32),
}

/// A global's value.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum ValueState {
    /// An `i32`.
    I32(u32),
    /// An `i64`.
    I64(u64),
    /// An `f32`, as bits.
    F32(u32),
    /// An `f64`, as bits.
    F64(u64),
    /// A `v128`.
    V128(u128),
    /// A reference.
    Ref(RefState),
}

/// A memory's length and its non-zero contents.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct MemoryState {
    /// Its length in 64 KiB pages.
    pub pages: u64,
    /// Runs of non-zero 4 KiB pages: `(byte offset, bytes)`, in increasing order; everything
    /// else is zero.
    pub runs: Vec<(u64, Vec<u8>)>,
}

/// Everything an instance can observe, by its own index spaces. See the module docs.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct InstanceState {
    /// Every memory of the instance, imported ones first.
    pub memories: Vec<MemoryState>,
    /// Every global, imported ones first, with its type's mutability (`true`: `mut`).
    pub globals: Vec<(bool, ValueState)>,
    /// Every table's elements, imported ones first.
    pub tables: Vec<Vec<RefState>>,
    /// Each element segment's references; a dropped one is empty.
    pub elements: Vec<Vec<RefState>>,
    /// Which data segments are dropped.
    pub data_dropped: Vec<bool>,
    /// The store meter's remaining gas, or `None` when the store has no meter.
    pub gas_remaining: Option<u64>,
}

/// Why a state cannot be captured from, or restored into, an instance.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SnapshotError {
    /// The instance does not have the snapshot's shape (another module, or other imports).
    #[error("snapshot does not fit the instance: {what}: snapshot has {snapshot}, instance has {instance}")]
    Mismatch {
        /// What differs, for example `"memory 0 maximum pages"`.
        what: String,
        /// The snapshot's value.
        snapshot: String,
        /// The instance's value.
        instance: String,
    },
    /// A reference the instance cannot name by index (a function it neither defines nor
    /// imports): such a state cannot be captured.
    #[error("cannot capture {0}: it refers to a function outside the instance's index space")]
    Unrepresentable(String),
    /// The instance could not be given the snapshot's memory length.
    #[error("cannot restore memory {index} to {pages} pages")]
    Grow {
        /// The memory.
        index: u32,
        /// The pages the snapshot has.
        pages: u64,
    },
}

fn mismatch(what: impl Into<String>, snapshot: impl ToString, instance: impl ToString) -> SnapshotError {
    SnapshotError::Mismatch { what: what.into(), snapshot: snapshot.to_string(), instance: instance.to_string() }
}

impl StoreInner {
    /// The instance's function index of store function `f`, through `reverse`.
    fn ref_state(
        &self,
        raw: u64,
        ty: ValType,
        reverse: &HashMap<u32, u32>,
        what: &dyn Fn() -> String,
    ) -> Result<RefState, SnapshotError> {
        if raw == 0 {
            return Ok(RefState::Null);
        }
        match ty {
            ValType::ExternRef => Ok(RefState::Extern((raw - 1) as u32)),
            _ => {
                let f = self.func_at(raw as usize).ok_or_else(|| SnapshotError::Unrepresentable(what()))?;
                reverse.get(&f).map(|i| RefState::Func(*i)).ok_or_else(|| SnapshotError::Unrepresentable(what()))
            }
        }
    }

    fn ref_raw(
        &self,
        r: RefState,
        ty: ValType,
        funcs: &[u32],
        what: &dyn Fn() -> String,
    ) -> Result<u64, SnapshotError> {
        match (r, ty) {
            (RefState::Null, _) => Ok(0),
            (RefState::Extern(x), ValType::ExternRef) => Ok(u64::from(x) + 1),
            (RefState::Func(i), ValType::FuncRef) => {
                let f = funcs
                    .get(i as usize)
                    .ok_or_else(|| mismatch(what(), format!("function {i}"), format!("{} functions", funcs.len())))?;
                let vmref = self
                    .funcs
                    .get(*f as usize)
                    .ok_or_else(|| mismatch(what(), format!("function {i}"), "no such function"))?
                    .vmref;
                Ok(vmref as usize as u64)
            }
            (r, ty) => Err(mismatch(what(), format!("{r:?}"), format!("a {ty} slot"))),
        }
    }

    fn capture(&self, instance: usize) -> Result<InstanceState, RuntimeError> {
        let inst = self.instances.get(instance).ok_or(RuntimeError::WrongStore)?;
        let reverse: HashMap<u32, u32> = inst.func_idx.iter().enumerate().map(|(i, f)| (*f, i as u32)).rev().collect();
        let mut memories = Vec::with_capacity(inst.memory_idx.len());
        for &m in &inst.memory_idx {
            let m = self.memories.get(m as usize).ok_or(RuntimeError::WrongStore)?;
            let data: &[u8] = &m.data;
            let mut runs: Vec<(u64, Vec<u8>)> = Vec::new();
            for (i, chunk) in data.chunks(CHUNK).enumerate() {
                if chunk.iter().all(|b| *b == 0) {
                    continue;
                }
                let at = (i * CHUNK) as u64;
                match runs.last_mut() {
                    Some((start, bytes)) if *start + bytes.len() as u64 == at => bytes.extend_from_slice(chunk),
                    _ => runs.push((at, chunk.to_vec())),
                }
            }
            memories.push(MemoryState { pages: m.pages(), runs });
        }
        let mut globals = Vec::with_capacity(inst.global_idx.len());
        for (i, &g) in inst.global_idx.iter().enumerate() {
            let g = self.globals.get(g as usize).ok_or(RuntimeError::WrongStore)?;
            let raw = g.value;
            let v = match g.ty.content {
                ValType::I32 => ValueState::I32(raw as u32),
                ValType::I64 => ValueState::I64(raw as u64),
                ValType::F32 => ValueState::F32(raw as u32),
                ValType::F64 => ValueState::F64(raw as u64),
                ValType::V128 => ValueState::V128(raw),
                ty => ValueState::Ref(self.ref_state(raw as u64, ty, &reverse, &|| format!("global {i}"))?),
            };
            globals.push((g.ty.mutability == Mutability::Var, v));
        }
        let mut tables = Vec::with_capacity(inst.table_idx.len());
        for (i, &t) in inst.table_idx.iter().enumerate() {
            let t = self.tables.get(t as usize).ok_or(RuntimeError::WrongStore)?;
            let ty = ValType::from(t.ty.element);
            let elems = t
                .elems
                .iter()
                .enumerate()
                .map(|(j, raw)| self.ref_state(*raw, ty, &reverse, &|| format!("table {i} element {j}")))
                .collect::<Result<Vec<_>, _>>()?;
            tables.push(elems);
        }
        let mut elements = Vec::with_capacity(inst.elements.len());
        for (i, seg) in inst.elements.iter().enumerate() {
            let ty = inst.module().elements.get(i).map_or(ValType::FuncRef, |s| ValType::from(s.ty));
            let refs = seg
                .iter()
                .enumerate()
                .map(|(j, raw)| self.ref_state(*raw, ty, &reverse, &|| format!("element segment {i} item {j}")))
                .collect::<Result<Vec<_>, _>>()?;
            elements.push(refs);
        }
        Ok(InstanceState {
            memories,
            globals,
            tables,
            elements,
            data_dropped: inst.data_dropped.clone(),
            gas_remaining: self.meter.as_ref().map(|m| m.remaining()),
        })
    }

    /// Checks that `state` fits instance `instance` object by object; nothing is written.
    fn check_fits(&self, instance: usize, state: &InstanceState) -> Result<(), RuntimeError> {
        let inst = self.instances.get(instance).ok_or(RuntimeError::WrongStore)?;
        let count = |what: &str, s: usize, i: usize| {
            if s == i { Ok(()) } else { Err(mismatch(format!("number of {what}"), s, i)) }
        };
        count("memories", state.memories.len(), inst.memory_idx.len())?;
        count("globals", state.globals.len(), inst.global_idx.len())?;
        count("tables", state.tables.len(), inst.table_idx.len())?;
        count("element segments", state.elements.len(), inst.elements.len())?;
        count("data segments", state.data_dropped.len(), inst.data_dropped.len())?;
        for (i, (&m, s)) in inst.memory_idx.iter().zip(&state.memories).enumerate() {
            let m = self.memories.get(m as usize).ok_or(RuntimeError::WrongStore)?;
            let max = self.engine.config().max_memory_pages;
            if s.pages < m.pages() || m.check_grow(s.pages - m.pages(), max).is_none() {
                return Err(mismatch(
                    format!("memory {i} pages"),
                    s.pages,
                    format!("{} (limits {:?})", m.pages(), m.ty.limits),
                )
                .into());
            }
            let len = s.pages * WASM_PAGE_SIZE;
            let mut end = 0;
            for (at, bytes) in &s.runs {
                let run_end = at.checked_add(bytes.len() as u64).filter(|e| *at >= end && *e <= len);
                end = run_end.ok_or_else(|| {
                    mismatch(format!("memory {i} contents"), format!("a run at {at}"), format!("{len} bytes"))
                })?;
            }
        }
        for (i, (&g, (mutable, v))) in inst.global_idx.iter().zip(&state.globals).enumerate() {
            let g = self.globals.get(g as usize).ok_or(RuntimeError::WrongStore)?;
            if *mutable != (g.ty.mutability == Mutability::Var) {
                return Err(
                    mismatch(format!("global {i} mutability"), mutable, g.ty.mutability == Mutability::Var).into()
                );
            }
            let ok = matches!(
                (v, g.ty.content),
                (ValueState::I32(_), ValType::I32)
                    | (ValueState::I64(_), ValType::I64)
                    | (ValueState::F32(_), ValType::F32)
                    | (ValueState::F64(_), ValType::F64)
                    | (ValueState::V128(_), ValType::V128)
                    | (ValueState::Ref(_), ValType::FuncRef | ValType::ExternRef)
            );
            if !ok {
                return Err(mismatch(format!("global {i} type"), format!("{v:?}"), g.ty.content).into());
            }
        }
        for (i, (&t, s)) in inst.table_idx.iter().zip(&state.tables).enumerate() {
            let t = self.tables.get(t as usize).ok_or(RuntimeError::WrongStore)?;
            let len = s.len() as u64;
            let max = t.ty.limits.max.unwrap_or(u64::from(u32::MAX)).min(self.engine.config().max_table_elements);
            if len < t.elems.len() as u64 || len > max {
                return Err(mismatch(
                    format!("table {i} length"),
                    len,
                    format!("{} (limits {:?})", t.elems.len(), t.ty.limits),
                )
                .into());
            }
        }
        Ok(())
    }

    fn restore(&mut self, instance: usize, state: &InstanceState) -> Result<(), RuntimeError> {
        self.check_fits(instance, state)?;
        // Every reference is converted before anything is written, so a bad one leaves the
        // store as it was.
        let inst = self.instances.get(instance).ok_or(RuntimeError::WrongStore)?;
        let funcs = inst.func_idx.clone();
        let (memory_idx, global_idx, table_idx) =
            (inst.memory_idx.clone(), inst.global_idx.clone(), inst.table_idx.clone());
        let seg_types: Vec<ValType> = (0..inst.elements.len())
            .map(|i| inst.module().elements.get(i).map_or(ValType::FuncRef, |s| ValType::from(s.ty)))
            .collect();
        let mut globals = Vec::with_capacity(global_idx.len());
        for (i, (&g, (_, v))) in global_idx.iter().zip(&state.globals).enumerate() {
            let ty = self.globals.get(g as usize).ok_or(RuntimeError::WrongStore)?.ty;
            let raw = match *v {
                ValueState::I32(x) => ValRaw::from(x),
                ValueState::I64(x) => ValRaw::from(x),
                ValueState::F32(x) => ValRaw::from(x),
                ValueState::F64(x) => ValRaw::from(x),
                ValueState::V128(x) => x,
                ValueState::Ref(r) => ValRaw::from(self.ref_raw(r, ty.content, &funcs, &|| format!("global {i}"))?),
            };
            if ty.mutability == Mutability::Const && self.globals.get(g as usize).is_some_and(|e| e.value != raw) {
                return Err(mismatch(format!("immutable global {i}"), format!("{v:?}"), "another value").into());
            }
            globals.push(raw);
        }
        let mut tables = Vec::with_capacity(table_idx.len());
        for (i, (&t, s)) in table_idx.iter().zip(&state.tables).enumerate() {
            let ty = ValType::from(self.tables.get(t as usize).ok_or(RuntimeError::WrongStore)?.ty.element);
            let raws = s
                .iter()
                .enumerate()
                .map(|(j, r)| self.ref_raw(*r, ty, &funcs, &|| format!("table {i} element {j}")))
                .collect::<Result<Vec<u64>, _>>()?;
            tables.push(raws);
        }
        let mut elements = Vec::with_capacity(state.elements.len());
        for (i, (seg, ty)) in state.elements.iter().zip(&seg_types).enumerate() {
            let raws = seg
                .iter()
                .enumerate()
                .map(|(j, r)| self.ref_raw(*r, *ty, &funcs, &|| format!("element segment {i} item {j}")))
                .collect::<Result<Vec<u64>, _>>()?;
            elements.push(raws);
        }

        // Write. Memories: grow to the snapshot's length, clear, copy the runs in.
        self.touched = true;
        for (i, (&m, s)) in memory_idx.iter().zip(&state.memories).enumerate() {
            let pages = self.memories.get(m as usize).ok_or(RuntimeError::WrongStore)?.pages();
            let delta = s.pages - pages;
            // Through the store's grow, so the resource limiter is asked and the usage kept.
            if delta > 0 && self.memory_grow_pages(m, delta).is_none() {
                return Err(SnapshotError::Grow { index: i as u32, pages: s.pages }.into());
            }
            let m = self.memories.get_mut(m as usize).ok_or(RuntimeError::WrongStore)?;
            m.refresh();
            let data: &mut [u8] = &mut m.data;
            data.fill(0);
            for (at, bytes) in &s.runs {
                let at = *at as usize;
                if let Some(dst) = data.get_mut(at..at + bytes.len()) {
                    dst.copy_from_slice(bytes);
                }
            }
        }
        for (&g, raw) in global_idx.iter().zip(globals) {
            if let Some(e) = self.globals.get_mut(g as usize) {
                e.value = raw;
            }
        }
        for (&t, raws) in table_idx.iter().zip(tables) {
            if let Some(e) = self.tables.get_mut(t as usize) {
                e.elems = raws;
                e.refresh();
            }
        }
        if let Some(inst) = self.instances.get_mut(instance) {
            inst.elements = elements;
            inst.data_dropped.clone_from(&state.data_dropped);
        }
        if let Some(gas) = state.gas_remaining {
            self.set_meter(Some(Box::new(BasicMeter::new(gas))));
        }
        Ok(())
    }
}

impl Store {
    /// The state of `instance` (see [`InstanceState`]), taken between calls.
    ///
    /// # Errors
    ///
    /// [`RuntimeError::WrongStore`] for an instance of another store, and
    /// [`SnapshotError::Unrepresentable`] when a table, global or segment holds a function the
    /// instance can not name.
    pub fn capture(&self, instance: &Instance) -> Result<InstanceState, RuntimeError> {
        if instance.store != self.inner.id() {
            return Err(RuntimeError::WrongStore);
        }
        self.inner.capture(instance.index)
    }

    /// Writes `state` into `instance`, which must be an instance of the module the state was
    /// captured from, with the same imports: memories (grown to the state's length), globals,
    /// tables, element and data segments; when the state has gas, the store's meter becomes a
    /// [`BasicMeter`] with that much remaining. Calls then continue as they would have in the
    /// captured instance, with the same results and gas.
    ///
    /// # Errors
    ///
    /// [`SnapshotError::Mismatch`] when an object's count, type, mutability, limits or an
    /// immutable global's value differ (the store is then unchanged), [`SnapshotError::Grow`]
    /// when the host cannot map the memory.
    pub fn restore(&mut self, instance: &Instance, state: &InstanceState) -> Result<(), RuntimeError> {
        if instance.store != self.inner.id() {
            return Err(RuntimeError::WrongStore);
        }
        self.inner.restore(instance.index, state)
    }
}
