//! Instantiation, as the spec orders it: imports matched, then globals, tables and memories
//! created, element and data segments copied in order, then the start function run.

use super::*;

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
        let bad = || RuntimeError::TypeMismatch("malformed constant expression".into());
        let mut stack: Vec<ValRaw> = Vec::with_capacity(2);
        for op in &expr.ops {
            let v = match *op {
                ConstOp::I32Const(x) => ValRaw::from(x as u32),
                ConstOp::I64Const(x) => ValRaw::from(x as u64),
                ConstOp::F32Const(b) => ValRaw::from(b),
                ConstOp::F64Const(b) => ValRaw::from(b),
                ConstOp::V128Const(x) => x,
                ConstOp::RefNull(_) => 0,
                ConstOp::RefFunc(i) => *funcs.get(i as usize).ok_or_else(bad)? as usize as ValRaw,
                ConstOp::GlobalGet(i) => {
                    let g = *globals.get(i as usize).ok_or_else(bad)?;
                    self.globals.get(g as usize).ok_or_else(bad)?.value
                }
                ConstOp::I32Add | ConstOp::I32Sub | ConstOp::I32Mul => {
                    let b = stack.pop().ok_or_else(bad)? as u32;
                    let a = stack.pop().ok_or_else(bad)? as u32;
                    ValRaw::from(match op {
                        ConstOp::I32Add => a.wrapping_add(b),
                        ConstOp::I32Sub => a.wrapping_sub(b),
                        _ => a.wrapping_mul(b),
                    })
                }
                ConstOp::I64Add | ConstOp::I64Sub | ConstOp::I64Mul => {
                    let b = stack.pop().ok_or_else(bad)? as u64;
                    let a = stack.pop().ok_or_else(bad)? as u64;
                    ValRaw::from(match op {
                        ConstOp::I64Add => a.wrapping_add(b),
                        ConstOp::I64Sub => a.wrapping_sub(b),
                        _ => a.wrapping_mul(b),
                    })
                }
            };
            stack.push(v);
        }
        stack.pop().ok_or_else(bad)
    }

    /// Instantiates `module` with `imports` (store items, one per import in order): creates
    /// its objects, initialises tables and memories from active segments in order (trapping
    /// like the spec's `table.init`/`memory.init`, with earlier writes kept), then runs the
    /// start function.
    pub(crate) fn instantiate(
        &mut self,
        module: &Module,
        imports: &[(ExternKind, u32)],
    ) -> Result<usize, RuntimeError> {
        if !module.engine.same(&self.engine) {
            return Err(RuntimeError::EngineMismatch);
        }
        let compiled = Arc::clone(&module.compiled);
        let m = Arc::clone(compiled.module());
        self.check_imports(&m, imports)?;
        let frame = compiled.max_frame_size();
        let need = self.stack_size_for(self.max_frame.max(frame));
        let max = self.engine.config().max_wasm_stack;
        if need > max {
            return Err(RuntimeError::ResourceLimit(format!(
                "frames of up to {frame} bytes at the call depth limit need {need} bytes of stack, more than the \
                 {max} allowed"
            )));
        }
        let instance = self.instances.len();

        let mut vmctx = Box::new(VMContext {
            store: self.ctx_ptr,
            libcalls: vm::LIBCALLS.as_ptr(),
            funcs: std::ptr::null(),
            memories: std::ptr::null(),
            tables: std::ptr::null(),
            globals: std::ptr::null(),
            type_ids: std::ptr::null(),
            instance,
        });
        let vmctx_ptr = &mut *vmctx as *mut VMContext as *mut u8;
        let type_ids: Vec<u32> = m.types.iter().map(|t| self.type_id(t)).collect();

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
        for (di, body) in m.bodies.iter().enumerate() {
            let fi = m.num_imported_functions + di as u32;
            let call = compiled.entry(di as u32).ok_or(RuntimeError::Compile(wes_core::CompileError::Codegen {
                func_index: fi,
                message: "backend has no entry point".into(),
            }))?;
            let ty = m.types.get(body.type_index as usize).cloned().unwrap_or_else(|| FuncType::new([], []));
            let type_id = self.type_id(&ty);
            let vmref = Box::new(VMFuncRef { call, vmctx: vmctx_ptr, type_id, store_index: 0 });
            func_idx.push(self.push_func(vmref, ty, None));
        }
        let funcs: Vec<*const VMFuncRef> =
            func_idx.iter().map(|i| self.func_ptr(*i).unwrap_or(std::ptr::null())).collect();

        let inconsistent = || RuntimeError::TypeMismatch("module is inconsistent (not validated?)".into());
        for ty in m.memories.get(m.num_imported_memories as usize..).ok_or_else(inconsistent)? {
            memory_idx.push(self.add_memory(*ty)?);
        }
        for (gi, init) in m.global_inits.iter().enumerate() {
            let ty = *m.globals.get(m.num_imported_globals as usize + gi).ok_or_else(inconsistent)?;
            let value = self.eval_const(init, &global_idx, &funcs)?;
            self.globals.push(Box::new(GlobalEntry { value, ty }));
            global_idx.push(self.globals.len() as u32 - 1);
        }
        for (ti, init) in m.table_inits.iter().enumerate() {
            let ty = *m.tables.get(m.num_imported_tables as usize + ti).ok_or_else(inconsistent)?;
            let raw = match init {
                Some(e) => self.eval_const(e, &global_idx, &funcs)? as u64,
                None => 0,
            };
            let t = TableEntry::new(ty, raw, self.engine.config().max_table_elements)?;
            self.tables.push(t);
            table_idx.push(self.tables.len() as u32 - 1);
        }

        let mut elements = Vec::with_capacity(m.elements.len());
        for seg in &m.elements {
            let items: Vec<u64> = match &seg.items {
                ElementItems::Functions(fs) => {
                    fs.iter().map(|f| funcs.get(*f as usize).map_or(0, |p| *p as usize as u64)).collect()
                }
                ElementItems::Exprs(es) => es
                    .iter()
                    .map(|e| self.eval_const(e, &global_idx, &funcs).map(|v| v as u64))
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
        vmctx.funcs = funcs.as_ptr();
        vmctx.memories = memory_defs.as_ptr();
        vmctx.tables = table_defs.as_ptr();
        vmctx.globals = global_slots.as_ptr();
        vmctx.type_ids = type_ids.as_ptr();
        self.max_frame = self.max_frame.max(compiled.max_frame_size());

        let num_data = m.data.len();
        self.instances.push(InstanceEntry {
            module: Arc::clone(&m),
            _compiled: compiled,
            _vmctx: vmctx,
            funcs,
            _memory_defs: memory_defs,
            _table_defs: table_defs,
            _global_slots: global_slots,
            _type_ids: type_ids,
            func_idx,
            memory_idx,
            table_idx,
            global_idx,
            elements,
            data_dropped: vec![false; num_data],
        });

        // Active element segments, in order, then data segments: each is a `table.init` /
        // `memory.init` followed by a drop, and the first that is out of bounds traps.
        let global_idx = self.instances[instance].global_idx.clone();
        let funcs = self.instances[instance].funcs.clone();
        for (i, seg) in m.elements.iter().enumerate() {
            match &seg.mode {
                ElementMode::Active { table, offset } => {
                    let offset = self.eval_const(offset, &global_idx, &funcs)? as u32;
                    let len = u32::try_from(seg.items.len()).unwrap_or(u32::MAX);
                    self.table_init(instance, *table, i as u32, offset, 0, len)
                        .map_err(|c| RuntimeError::Trap(Trap::new(c)))?;
                    self.elem_drop(instance, i as u32);
                }
                ElementMode::Declared => self.elem_drop(instance, i as u32),
                ElementMode::Passive => {}
            }
        }
        for (i, seg) in m.data.iter().enumerate() {
            if let DataMode::Active { memory, offset } = &seg.mode {
                let offset = self.eval_const(offset, &global_idx, &funcs)? as u32;
                let len = u32::try_from(seg.range.len()).unwrap_or(u32::MAX);
                self.memory_init(instance, *memory, i as u32, offset, 0, len)
                    .map_err(|c| RuntimeError::Trap(Trap::new(c)))?;
                self.data_drop(instance, i as u32);
            }
        }
        if let Some(start) = m.start {
            let f = *self.instances[instance].func_idx.get(start as usize).ok_or(RuntimeError::WrongStore)?;
            self.call(f, &[])?;
        }
        Ok(instance)
    }
}
