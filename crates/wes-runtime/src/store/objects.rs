//! Making and finding the store's objects: function records and their blocks, memories,
//! tables, globals, host functions, and the exports of instances.

use super::*;

impl StoreInner {
    /// Records that the `count` records from `start` are the functions from `first` on.
    pub(super) fn add_func_block(&mut self, start: *const VMFuncRef, count: u32, first: u32) {
        let start = start as usize;
        let at = self.func_blocks.partition_point(|b| b.start < start);
        self.func_blocks.insert(at, FuncBlock { start, count, first });
    }

    pub(crate) fn add_host_func(&mut self, f: &HostFunc) -> u32 {
        self.add_host_func_typed(f, None)
    }

    /// [`StoreInner::add_host_func`] with the engine's id of the function's type, when the
    /// caller already has it.
    pub(crate) fn add_host_func_typed(&mut self, f: &HostFunc, type_id: Option<u32>) -> u32 {
        let key = Arc::as_ptr(&f.data) as *const () as usize;
        if let Some(i) = self.host_funcs.get(&key) {
            return *i;
        }
        let type_id = type_id.unwrap_or_else(|| Engine::type_id(&self.engine, &f.data.ty));
        let index = self.funcs.len() as u32;
        let data = Arc::as_ptr(&f.data) as *const u8;
        let host = std::mem::ManuallyDrop::new(crate::spare::HOST_SPARES.clone(&f.data));
        let mut ctx = Box::new(HostFuncCtx { store: self.ctx_ptr, data, host });
        let vmctx = &mut *ctx as *mut HostFuncCtx as *mut u8;
        // A host function has no body: compiled code calls it through its trampoline.
        let vmref = Box::new(VMFuncRef::new(f.data.trampoline, vmctx, type_id, index, std::ptr::null()));
        let ptr: *const VMFuncRef = &*vmref;
        // A gated function's record follows its gate from now until the store frees it: its
        // entry is set under the lock its gate is switched under.
        let gated = f.data.call.gated();
        if gated {
            let mut records = f.data.records.lock().unwrap_or_else(PoisonError::into_inner);
            vmref.set_call(f.data.gated_entry());
            records.0.push(ptr as usize);
        }
        self.add_func_block(ptr, 1, index);
        self.funcs.push(FuncEntry { vmref: ptr, owner: FuncOwner::Host(self.host_records.len() as u32) });
        self.host_records.push(HostRecord { vmref, ctx, gated });
        self.host_funcs.insert(key, index);
        index
    }

    pub(crate) fn func_ty(&self, index: u32) -> Option<&FuncType> {
        match self.funcs.get(index as usize)?.owner {
            FuncOwner::Wasm { instance, type_index } => {
                self.instances.get(instance as usize)?.module().types.get(type_index as usize)
            }
            FuncOwner::Host(h) => Some(&self.host_records.get(h as usize)?.ctx.host.ty),
        }
    }

    pub(crate) fn func_ptr(&self, index: u32) -> Option<*const VMFuncRef> {
        self.funcs.get(index as usize).map(|f| f.vmref)
    }

    pub(crate) fn add_memory(&mut self, ty: MemoryType) -> Result<u32, RuntimeError> {
        let more = ResourceUsage { memories: 1, memory_bytes: memory_bytes(&ty), ..ResourceUsage::default() };
        self.admit(ResourceOp::CreateMemory, &more)?;
        self.add_memory_from(ty, None)
    }

    /// The image memory `initial` names: defined memory `index` of instance `instance`'s
    /// module, if it has one.
    pub(super) fn initial_image(&self, initial: Option<(u32, u32)>) -> Option<Arc<MemoryImage>> {
        let (instance, index) = initial?;
        self.instances.get(instance as usize)?.plan.memory_images.get(index as usize)?.clone()
    }

    /// A memory of type `ty` holding `image` and zeroes; the limiter must have admitted it.
    pub(super) fn add_memory_from(
        &mut self,
        ty: MemoryType,
        image: Option<(&MemoryImage, (u32, u32))>,
    ) -> Result<u32, RuntimeError> {
        let m = MemoryEntry::new(&self.engine, ty, image)?;
        self.usage.memories += 1;
        self.usage.memory_bytes += m.data.len() as u64;
        self.memories.push(m);
        Ok(self.memories.len() as u32 - 1)
    }

    /// A table of type `ty` every element of which is `raw`; the limiter must have admitted it.
    pub(super) fn push_table(&mut self, t: Box<TableEntry>) -> u32 {
        self.usage.tables += 1;
        self.usage.table_elements += t.elems.len() as u64;
        self.tables.push(t);
        self.tables.len() as u32 - 1
    }

    /// Asks the limiter whether the store may hold `more` on top of what it holds; a refusal is
    /// counted in the stats.
    pub(crate) fn admit(&mut self, op: ResourceOp, more: &ResourceUsage) -> Result<(), LimitExceeded> {
        let desired = self.usage.plus(more);
        let verdict = self.limiter.admit(op, &self.usage, &desired);
        if let Err(refusal) = verdict {
            self.stats.limit_refusals += 1;
            self.stats.last_refusal = Some(refusal);
        }
        verdict
    }

    /// Recomputes the usage from the objects (after a reset changed their sizes).
    pub(super) fn recount_usage(&mut self) {
        self.usage = ResourceUsage {
            memory_bytes: self.memories.iter().map(|m| m.data.len() as u64).sum(),
            table_elements: self.tables.iter().map(|t| t.elems.len() as u64).sum(),
            memories: self.memories.len() as u64,
            tables: self.tables.len() as u64,
            instances: self.instances.len() as u64,
        };
    }

    pub(crate) fn add_table(&mut self, ty: TableType, init: Value) -> Result<u32, RuntimeError> {
        if init.ty() != ValType::from(ty.element) {
            return Err(RuntimeError::TypeMismatch(format!("table of {} initialised with {}", ty.element, init.ty())));
        }
        let raw = self.value_to_raw(init).ok_or(RuntimeError::WrongStore)? as u64;
        let more = ResourceUsage { tables: 1, table_elements: ty.limits.min, ..ResourceUsage::default() };
        self.admit(ResourceOp::CreateTable, &more)?;
        let t = TableEntry::new(ty, raw, self.engine.config().max_table_elements)?;
        Ok(self.push_table(t))
    }

    pub(crate) fn add_global(&mut self, ty: GlobalType, init: Value) -> Result<u32, RuntimeError> {
        if init.ty() != ty.content {
            return Err(RuntimeError::TypeMismatch(format!("global of {} initialised with {}", ty.content, init.ty())));
        }
        let value = self.value_to_raw(init).ok_or(RuntimeError::WrongStore)?;
        self.globals.push(Box::new(GlobalEntry { value, ty }));
        Ok(self.globals.len() as u32 - 1)
    }

    pub(crate) fn global_get(&self, index: u32) -> Option<Value> {
        let g = self.globals.get(index as usize)?;
        Some(self.raw_to_value(g.value, g.ty.content))
    }

    pub(crate) fn global_ty(&self, index: u32) -> Option<GlobalType> {
        self.globals.get(index as usize).map(|g| g.ty)
    }

    pub(crate) fn global_set(&mut self, index: u32, v: Value) -> Result<(), RuntimeError> {
        let raw = self.value_to_raw(v).ok_or(RuntimeError::WrongStore)?;
        let g = self.globals.get_mut(index as usize).ok_or(RuntimeError::WrongStore)?;
        if g.ty.mutability != Mutability::Var {
            return Err(RuntimeError::TypeMismatch("global is immutable".into()));
        }
        if v.ty() != g.ty.content {
            return Err(RuntimeError::TypeMismatch(format!("global of {} set to {}", g.ty.content, v.ty())));
        }
        g.value = raw;
        Ok(())
    }

    pub(crate) fn memory_data(&self, index: u32) -> Option<&[u8]> {
        self.memories.get(index as usize).map(|m| &m.data[..])
    }

    pub(crate) fn memory_data_mut(&mut self, index: u32) -> Option<&mut [u8]> {
        self.touched = true;
        let m = self.memories.get_mut(index as usize)?;
        m.refresh();
        Some(&mut m.data[..])
    }

    pub(crate) fn memory_ty(&self, index: u32) -> Option<MemoryType> {
        self.memories.get(index as usize).map(|m| m.ty)
    }

    pub(crate) fn memory_grow_pages(&mut self, index: u32, delta: u64) -> Option<u64> {
        self.touched = true;
        let max = self.engine.config().max_memory_pages;
        let new_bytes = self.memories.get(index as usize)?.check_grow(delta, max)?;
        self.admit_memory_grow(index as usize, new_bytes)?;
        self.commit_memory_grow(index as usize, new_bytes)
    }

    /// Asks the limiter whether memory `m` may grow to `new_bytes`.
    pub(super) fn admit_memory_grow(&mut self, m: usize, new_bytes: usize) -> Option<()> {
        let added = (new_bytes as u64).saturating_sub(self.memories.get(m)?.data.len() as u64);
        let more = ResourceUsage { memory_bytes: added, ..ResourceUsage::default() };
        self.admit(ResourceOp::MemoryGrow, &more).ok()
    }

    /// Grows memory `m` to `new_bytes` (checked and admitted); the old size in pages.
    pub(super) fn commit_memory_grow(&mut self, m: usize, new_bytes: usize) -> Option<u64> {
        let entry = self.memories.get_mut(m)?;
        let before = entry.data.len() as u64;
        let old = entry.commit(new_bytes)?;
        self.usage.memory_bytes += entry.data.len() as u64 - before;
        Some(old)
    }

    /// The store index of memory `mem` of an instance (imported or defined, exported or not).
    pub(crate) fn instance_memory(&self, instance: usize, mem: u32) -> Option<u32> {
        self.instances.get(instance)?.memory_idx.get(mem as usize).copied()
    }

    pub(crate) fn instance_memory_data(&mut self, instance: usize, mem: u32) -> Option<&mut [u8]> {
        self.touched = true;
        let index = *self.instances.get(instance)?.memory_idx.get(mem as usize)?;
        let m = self.memories.get_mut(index as usize)?;
        m.refresh();
        Some(&mut m.data[..])
    }

    pub(crate) fn table_size(&self, index: u32) -> Option<u64> {
        self.tables.get(index as usize).map(|t| t.elems.len() as u64)
    }

    pub(crate) fn table_ty(&self, index: u32) -> Option<TableType> {
        self.tables.get(index as usize).map(|t| t.ty)
    }

    pub(crate) fn table_get(&self, index: u32, elem: u64) -> Option<Value> {
        let t = self.tables.get(index as usize)?;
        let raw = *t.elems.get(usize::try_from(elem).ok()?)?;
        Some(self.raw_to_value(ValRaw::from(raw), ValType::from(t.ty.element)))
    }

    pub(crate) fn table_set(&mut self, index: u32, elem: u64, v: Value) -> Result<(), RuntimeError> {
        let raw = self.value_to_raw(v).ok_or(RuntimeError::WrongStore)? as u64;
        let t = self.tables.get_mut(index as usize).ok_or(RuntimeError::WrongStore)?;
        if v.ty() != ValType::from(t.ty.element) {
            return Err(RuntimeError::TypeMismatch(format!("table of {} set to {}", t.ty.element, v.ty())));
        }
        let slot = usize::try_from(elem)
            .ok()
            .and_then(|e| t.elems.get_mut(e))
            .ok_or(RuntimeError::Trap(Trap::new(TrapCode::TableOutOfBounds)))?;
        *slot = raw;
        Ok(())
    }

    pub(crate) fn instance_module(&self, instance: usize) -> Option<&Arc<wes_core::Module>> {
        self.instances.get(instance).map(|i| &i.plan.module)
    }

    /// The export `name` of an instance, as a store-level item.
    pub(crate) fn export(&self, instance: usize, name: &str) -> Option<(ExternKind, u32)> {
        let inst = self.instances.get(instance)?;
        let e = inst.module().export(name)?;
        let list = match e.kind {
            ExternKind::Func => &inst.func_idx,
            ExternKind::Table => &inst.table_idx,
            ExternKind::Memory => &inst.memory_idx,
            ExternKind::Global => &inst.global_idx,
        };
        Some((e.kind, *list.get(e.index as usize)?))
    }
}
