//! Instantiation, as the spec orders it: imports matched, then globals, tables and memories
//! created, element and data segments copied in order, then the start function run.

use wes_core::module::ConstExpr;
use wes_meter::DynamicOp;

use super::*;
use crate::plan::NULL_FUNC;

impl StoreInner {
    fn import_error(import: &wes_core::module::Import, reason: impl Into<String>) -> RuntimeError {
        RuntimeError::IncompatibleImport {
            module: import.module.clone(),
            name: import.name.clone(),
            reason: reason.into(),
        }
    }

    /// Checks `imports` (one store item per import of `module`, in order) against what the
    /// module declares.
    fn check_imports(&self, module: &wes_core::Module, imports: &[(ExternKind, u32)]) -> Result<(), RuntimeError> {
        if imports.len() != module.imports.len() {
            return Err(RuntimeError::TypeMismatch(format!(
                "module has {} imports, {} given",
                module.imports.len(),
                imports.len()
            )));
        }
        for (import, (kind, index)) in module.imports.iter().zip(imports) {
            let e = |r: &str| Self::import_error(import, r);
            match (&import.ty, kind) {
                (ImportType::Func(t), ExternKind::Func) => {
                    let want = module.types.get(*t as usize).ok_or_else(|| e("bad type index"))?;
                    let have = self.func_ty(*index).ok_or_else(|| e("unknown function"))?;
                    if have != want {
                        return Err(e(&format!("incompatible import type: expected {want}, found {have}")));
                    }
                }
                (ImportType::Table(want), ExternKind::Table) => {
                    let t = self.tables.get(*index as usize).ok_or_else(|| e("unknown table"))?;
                    let have = Limits { min: t.elems.len() as u64, max: t.ty.limits.max };
                    if t.ty.element != want.element || !have.matches(&want.limits) {
                        return Err(e("incompatible import type: table type mismatch"));
                    }
                }
                (ImportType::Memory(want), ExternKind::Memory) => {
                    let m = self.memories.get(*index as usize).ok_or_else(|| e("unknown memory"))?;
                    let have = Limits { min: m.pages(), max: m.ty.limits.max };
                    if !have.matches(&want.limits) {
                        return Err(e("incompatible import type: memory limits mismatch"));
                    }
                }
                (ImportType::Global(want), ExternKind::Global) => {
                    let g = self.globals.get(*index as usize).ok_or_else(|| e("unknown global"))?;
                    if g.ty != *want {
                        return Err(e("incompatible import type: global type mismatch"));
                    }
                }
                (_, kind) => return Err(e(&format!("incompatible import type: got a {}", kind.name()))),
            }
        }
        Ok(())
    }

    fn eval_const(
        &self,
        expr: &ConstExpr,
        globals: &[u32],
        funcs: &[*const VMFuncRef],
    ) -> Result<ValRaw, RuntimeError> {
        crate::plan::eval_const(
            expr,
            |g| Some(self.globals.get(*globals.get(g as usize)? as usize)?.value),
            |f| Some(*funcs.get(f as usize)? as usize as ValRaw),
        )
        .ok_or_else(|| RuntimeError::TypeMismatch("malformed constant expression".into()))
    }

    /// Instantiates `module` with `imports` (store items, one per import in order): creates
    /// its objects, initialises tables and memories from active segments in order (trapping
    /// like the spec's `table.init`/`memory.init`, with earlier writes kept), then runs the
    /// start function.
    ///
    /// What does not depend on the instance comes from the module's [`ModulePlan`]: signature
    /// ids, and, where every segment of a kind is imageable, the initial contents of its
    /// memories and tables, which then need no copying segment by segment (their gas is still
    /// charged segment by segment, in order).
    pub(crate) fn instantiate(
        &mut self,
        module: &Module,
        imports: &[(ExternKind, u32)],
    ) -> Result<usize, RuntimeError> {
        if !module.engine.same(&self.engine) {
            return Err(RuntimeError::EngineMismatch);
        }
        // Borrowed, not cloned: every clone is an atomic add on a line every thread
        // instantiating this module shares; the instance takes one reference, to the plan.
        let plan = &module.plan;
        let (compiled, m) = (&plan.compiled, &*plan.module);
        self.check_imports(m, imports)?;
        let frame = compiled.max_frame_size();
        let need = self.stack_size_for(self.max_frame.max(frame));
        let max = self.engine.config().max_wasm_stack;
        if need > max {
            return Err(RuntimeError::ResourceLimit(format!(
                "frames of up to {frame} bytes at the call depth limit need {need} bytes of stack, more than the \
                 {max} allowed"
            )));
        }
        // Everything the instance will hold, asked for at once before anything is made.
        let defined_memories = m.memories.get(m.num_imported_memories as usize..).unwrap_or_default();
        let defined_tables = m.tables.get(m.num_imported_tables as usize..).unwrap_or_default();
        let more = ResourceUsage {
            instances: 1,
            memories: defined_memories.len() as u64,
            memory_bytes: defined_memories.iter().fold(0, |sum: u64, t| sum.saturating_add(memory_bytes(t))),
            tables: defined_tables.len() as u64,
            table_elements: defined_tables.iter().fold(0, |sum: u64, t| sum.saturating_add(t.limits.min)),
        };
        self.admit(ResourceOp::Instantiate, &more)?;
        // A failure while the instance's objects are made leaves nothing of it in the store.
        let mark = self.mark();
        let instance = match self.create_instance(plan, imports) {
            Ok(instance) => instance,
            Err(e) => {
                self.rollback(mark);
                return Err(e);
            }
        };
        self.initialise(instance, m, plan)?;
        Ok(instance)
    }

    /// How many of each object the store holds, for [`StoreInner::rollback`].
    fn mark(&self) -> Mark {
        Mark {
            funcs: self.funcs.len(),
            memories: self.memories.len(),
            tables: self.tables.len(),
            globals: self.globals.len(),
            instances: self.instances.len(),
            max_frame: self.max_frame,
            usage: self.usage,
        }
    }

    /// Removes everything added since `mark` (by a failed instantiation, before any of it was
    /// reachable from outside).
    fn rollback(&mut self, mark: Mark) {
        self.func_blocks.retain(|b| (b.first as usize) < mark.funcs);
        self.funcs.truncate(mark.funcs);
        self.memories.truncate(mark.memories);
        self.tables.truncate(mark.tables);
        self.globals.truncate(mark.globals);
        self.instances.truncate(mark.instances);
        self.max_frame = mark.max_frame;
        self.usage = mark.usage;
    }

    /// Makes the instance's function records, memories, globals and tables, and its vmctx.
    fn create_instance(
        &mut self,
        plan: &Arc<ModulePlan>,
        imports: &[(ExternKind, u32)],
    ) -> Result<usize, RuntimeError> {
        let (compiled, m) = (&plan.compiled, &*plan.module);
        let instance = self.instances.len();

        let mut vmctx = Box::new(VMContext {
            store: self.ctx_ptr,
            libcalls: vm::LIBCALLS.as_ptr(),
            funcs: std::ptr::null(),
            memories: std::ptr::null(),
            tables: std::ptr::null(),
            globals: std::ptr::null(),
            type_ids: plan.type_ids.as_ptr(),
            memory0_base: std::ptr::null_mut(),
            instance,
        });
        let vmctx_ptr = &mut *vmctx as *mut VMContext as *mut u8;

        let mut func_idx = Vec::with_capacity(m.functions.len());
        let mut memory_idx = Vec::with_capacity(m.memories.len());
        let mut table_idx = Vec::with_capacity(m.tables.len());
        let mut global_idx = Vec::with_capacity(m.globals.len());
        for (kind, index) in imports {
            match kind {
                ExternKind::Func => func_idx.push(*index),
                ExternKind::Memory => memory_idx.push(*index),
                ExternKind::Table => table_idx.push(*index),
                ExternKind::Global => global_idx.push(*index),
            }
        }

        // The defined functions' records, in one block, registered with the store together
        // with the instance that owns them (so a failure further on leaves nothing dangling).
        let first = self.funcs.len() as u32;
        let entries = plan.entries.as_ref().map_err(|&func_index| {
            RuntimeError::Compile(wes_core::CompileError::Codegen {
                func_index,
                message: "backend has no entry point".into(),
            })
        })?;
        // Functions whose backend asked for a function context get one each (see
        // `FuncEntry`); it holds the instance's vmctx, whose address is already fixed.
        let contexts: Box<[VMFuncContext]> = entries
            .iter()
            .filter(|e| !e.data.is_null())
            .map(|e| VMFuncContext { vmctx: vmctx_ptr, data: e.data })
            .collect();
        let mut next_context = contexts.iter();
        let records: Vec<VMFuncRef> = entries
            .iter()
            .zip(plan.func_type_ids.iter())
            .zip(first..)
            .map(|((entry, &type_id), store_index)| {
                let vmctx = match entry.data.is_null() {
                    true => vmctx_ptr,
                    false => next_context.next().map_or(std::ptr::null_mut(), |c| c as *const VMFuncContext as *mut u8),
                };
                // A body is called with the instance's vmctx, so only an entry without a
                // function context may have one.
                let body = if entry.data.is_null() { entry.body } else { std::ptr::null() };
                VMFuncRef::new(entry.call, vmctx, type_id, store_index, body)
            })
            .collect();
        let records = records.into_boxed_slice();
        let mut funcs: Vec<*const VMFuncRef> = Vec::with_capacity(m.functions.len());
        funcs.extend(func_idx.iter().map(|i| self.func_ptr(*i).unwrap_or(std::ptr::null())));
        funcs.extend(records.iter().map(|r| r as *const VMFuncRef));
        func_idx.extend(first..first + records.len() as u32);
        let owner = instance as u32;
        self.funcs.extend(m.bodies.iter().zip(records.iter()).map(|(body, r)| FuncEntry {
            vmref: r,
            owner: FuncOwner::Wasm { instance: owner, type_index: body.type_index },
        }));
        self.add_func_block(records.as_ptr(), records.len() as u32, first);
        let num_data = m.data.len();
        self.instances.push(InstanceEntry {
            plan: std::mem::ManuallyDrop::new(crate::spare::clone(plan)),
            vmctx,
            _records: records,
            _contexts: contexts,
            funcs,
            _memory_defs: Vec::new(),
            _table_defs: Vec::new(),
            _global_slots: Vec::new(),
            func_idx,
            memory_idx: Vec::new(),
            table_idx: Vec::new(),
            global_idx: Vec::new(),
            elements: Vec::new(),
            data_dropped: vec![false; num_data],
        });

        let inconsistent = || RuntimeError::TypeMismatch("module is inconsistent (not validated?)".into());
        let defined_memories = m.memories.get(m.num_imported_memories as usize..).ok_or_else(inconsistent)?;
        for (i, ty) in defined_memories.iter().enumerate() {
            // Borrowed from the plan, which the instance holds: the memory names it by
            // instance and index rather than taking a reference count of its own.
            let image = if plan.data_in_image { plan.memory_images.get(i).and_then(Option::as_deref) } else { None };
            memory_idx.push(self.add_memory_from(*ty, image.map(|im| (im, (instance as u32, i as u32))))?);
        }
        let funcs = &self.instances[instance].funcs;
        for (gi, init) in m.global_inits.iter().enumerate() {
            let ty = *m.globals.get(m.num_imported_globals as usize + gi).ok_or_else(inconsistent)?;
            let value = self.eval_const(init, &global_idx, funcs)?;
            self.globals.push(Box::new(GlobalEntry { value, ty }));
            global_idx.push(self.globals.len() as u32 - 1);
        }
        let max_table = self.engine.config().max_table_elements;
        for (ti, init) in m.table_inits.iter().enumerate() {
            let ty = *m.tables.get(m.num_imported_tables as usize + ti).ok_or_else(inconsistent)?;
            let funcs = &self.instances[instance].funcs;
            let image = plan.table_images.get(ti).filter(|_| plan.elems_in_image);
            let raw = match (image, init) {
                (Some(image), _) => func_raw_of(funcs, image.fill),
                (None, Some(e)) => self.eval_const(e, &global_idx, funcs)? as u64,
                (None, None) => 0,
            };
            let mut t = TableEntry::new(ty, raw, max_table)?;
            if let Some(image) = image {
                for (offset, items) in &image.writes {
                    let dst =
                        t.elems.get_mut(*offset as usize..*offset as usize + items.len()).ok_or_else(inconsistent)?;
                    for (d, f) in dst.iter_mut().zip(items) {
                        *d = func_raw_of(funcs, *f);
                    }
                }
            }
            table_idx.push(self.push_table(t));
        }

        // Element segments as references, for `table.init`: the passive ones, and the active
        // ones when they are copied segment by segment.
        let funcs = &self.instances[instance].funcs;
        let mut elements = Vec::with_capacity(m.elements.len());
        for seg in &m.elements {
            let needed = match seg.mode {
                ElementMode::Passive => true,
                ElementMode::Active { .. } => !plan.elems_in_image,
                ElementMode::Declared => false,
            };
            let items: Vec<u64> = match &seg.items {
                _ if !needed => Vec::new(),
                ElementItems::Functions(fs) => fs.iter().map(|f| func_raw_of(funcs, *f)).collect(),
                ElementItems::Exprs(es) => es
                    .iter()
                    .map(|e| self.eval_const(e, &global_idx, funcs).map(|v| v as u64))
                    .collect::<Result<_, _>>()?,
            };
            elements.push(items);
        }

        let memory_defs: Vec<*mut VMMemoryDef> = memory_idx
            .iter()
            .map(|i| {
                self.memories.get_mut(*i as usize).map_or(std::ptr::null_mut(), |m| &mut m.def as *mut VMMemoryDef)
            })
            .collect();
        let table_defs: Vec<*mut VMTableDef> = table_idx
            .iter()
            .map(|i| self.tables.get_mut(*i as usize).map_or(std::ptr::null_mut(), |t| &mut t.def as *mut VMTableDef))
            .collect();
        let global_slots: Vec<*mut ValRaw> = global_idx
            .iter()
            .map(|i| self.globals.get_mut(*i as usize).map_or(std::ptr::null_mut(), |g| &mut g.value as *mut ValRaw))
            .collect();
        self.max_frame = self.max_frame.max(compiled.max_frame_size());
        // Guard-reserved memories never move (see `vm::VMCTX_MEMORY0_BASE`).
        let memory0_base = match (self.engine.guard_regions(), memory_idx.first()) {
            (true, Some(&i)) => self.memories.get(i as usize).map_or(std::ptr::null_mut(), |m| m.def.base),
            _ => std::ptr::null_mut(),
        };
        let inst = &mut self.instances[instance];
        inst.vmctx.funcs = inst.funcs.as_ptr();
        inst.vmctx.memories = memory_defs.as_ptr();
        inst.vmctx.memory0_base = memory0_base;
        inst.vmctx.tables = table_defs.as_ptr();
        inst.vmctx.globals = global_slots.as_ptr();
        inst._memory_defs = memory_defs;
        inst._table_defs = table_defs;
        inst._global_slots = global_slots;
        inst.memory_idx = memory_idx;
        inst.table_idx = table_idx;
        inst.global_idx = global_idx;
        inst.elements = elements;
        self.usage.instances += 1;
        Ok(instance)
    }

    /// Copies the active segments in, in order, then runs the start function: what may trap,
    /// leaving earlier writes in place as the spec requires.
    fn initialise(&mut self, instance: usize, m: &wes_core::Module, plan: &ModulePlan) -> Result<(), RuntimeError> {
        // Active element segments, in order, then data segments: each is a `table.init` /
        // `memory.init` followed by a drop, and the first that is out of bounds traps. An
        // imaged segment is already in place and cannot trap; only its gas is charged.
        let trap = |c| RuntimeError::Trap(Trap::new(c));
        let global_idx = self.instances[instance].global_idx.clone();
        let funcs = self.instances[instance].funcs.clone();
        for (i, seg) in m.elements.iter().enumerate() {
            match &seg.mode {
                ElementMode::Active { table, offset } => {
                    let len = u32::try_from(seg.items.len()).unwrap_or(u32::MAX);
                    if plan.elems_in_image {
                        self.charge_dynamic(DynamicOp::TableInit, u64::from(len)).map_err(trap)?;
                    } else {
                        let offset = self.eval_const(offset, &global_idx, &funcs)? as u32;
                        self.table_init(instance, *table, i as u32, offset, 0, len).map_err(trap)?;
                    }
                    self.elem_drop(instance, i as u32);
                }
                ElementMode::Declared => self.elem_drop(instance, i as u32),
                ElementMode::Passive => {}
            }
        }
        if !plan.data_in_image && !m.data.is_empty() {
            self.touched = true;
        }
        for (i, seg) in m.data.iter().enumerate() {
            if let DataMode::Active { memory, offset } = &seg.mode {
                let len = u32::try_from(seg.range.len()).unwrap_or(u32::MAX);
                if plan.data_in_image {
                    self.charge_dynamic(DynamicOp::MemoryInit, u64::from(len)).map_err(trap)?;
                } else {
                    let offset = self.eval_const(offset, &global_idx, &funcs)? as u32;
                    self.memory_init(instance, *memory, i as u32, offset, 0, len).map_err(trap)?;
                }
                self.data_drop(instance, i as u32);
            }
        }
        if let Some(start) = m.start {
            let f = *self.instances[instance].func_idx.get(start as usize).ok_or(RuntimeError::WrongStore)?;
            self.call(f, &[])?;
        }
        Ok(())
    }
}

/// What a store held before an instantiation (see [`StoreInner::rollback`]).
struct Mark {
    funcs: usize,
    memories: usize,
    tables: usize,
    globals: usize,
    instances: usize,
    max_frame: usize,
    usage: ResourceUsage,
}

/// The raw reference to function `f` of an instance whose records are `funcs`; null for
/// [`NULL_FUNC`] (or an index the module does not have, which validation rules out).
fn func_raw_of(funcs: &[*const VMFuncRef], f: u32) -> u64 {
    if f == NULL_FUNC { 0 } else { funcs.get(f as usize).map_or(0, |p| *p as usize as u64) }
}
