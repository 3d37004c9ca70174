//! Calls: direct calls between bodies, array calls through function records (imports, tables,
//! references), and libcalls into the runtime.

use cranelift_codegen::ir::condcodes::IntCC;
use cranelift_codegen::ir::{
    self, AbiParam, InstBuilder, MemFlagsData, Signature, StackSlotData, StackSlotKind, Value, types,
};
use wes_core::vm::{self, AbiType, Libcall};
use wes_core::{CompileError, TrapCode};

use super::entry::out_of_gas_shim_signature;
use super::{
    BODY_NAMESPACE, PTR, Region, SHIM_NAMESPACE, Translator, array_call_signature, body_signature, defined_type,
    ir_type,
};

/// Where a direct call goes (see `Translator::callee`).
pub(super) enum Callee {
    /// The body of this defined function.
    Body(u32),
    /// The function behind this record, of this type.
    Record(Value, u32),
}

impl Translator<'_, '_> {
    /// Makes the frame count of the next array call `frames_left - 1`, as a direct call's.
    pub(super) fn store_callee_frames(&mut self) {
        let store = self.load_ptr(self.vmctx, vm::VMCTX_STORE, true);
        self.builder.ins().store(MemFlagsData::trusted(), self.callee_frames, store, vm::STORE_FRAMES_LEFT);
    }

    /// The reference to the body of defined function `defined_index`, imported once.
    pub(super) fn body_ref(&mut self, defined_index: u32) -> Result<ir::FuncRef, CompileError> {
        if let Some(r) = self.body_refs.get(&defined_index) {
            return Ok(*r);
        }
        let type_index = self
            .module
            .bodies
            .get(defined_index as usize)
            .map(|b| b.type_index)
            .ok_or_else(|| self.err("no body for this function"))?;
        let sig = self.body_sig(type_index)?;
        let name =
            self.builder.func.declare_imported_user_function(ir::UserExternalName::new(BODY_NAMESPACE, defined_index));
        let r = self.builder.import_function(ir::ExtFuncData {
            name: ir::ExternalName::User(name),
            signature: sig,
            colocated: true,
            patchable: false,
        });
        self.body_refs.insert(defined_index, r);
        Ok(r)
    }

    /// The arguments of a direct call of a body: `vmctx, frames, [gas], [operators], params`.
    pub(super) fn body_args(&mut self, frames: Value, params: usize) -> Result<Vec<Value>, CompileError> {
        let args = self.popn(params)?;
        let mut all = vec![self.vmctx, frames];
        all.extend(self.counter_values());
        all.extend(args);
        Ok(all)
    }

    /// How `call` or `return_call` of `function_index` reaches it: a defined function's body
    /// directly, an import through its function-reference record.
    pub(super) fn callee(&mut self, function_index: u32) -> Result<Callee, CompileError> {
        let type_index = *self
            .module
            .functions
            .get(function_index as usize)
            .ok_or_else(|| self.err("function index out of range"))?;
        Ok(match function_index.checked_sub(self.module.num_imported_functions) {
            Some(defined) => Callee::Body(defined),
            None => Callee::Record(self.vmctx_entry(vm::VMCTX_FUNCS, function_index), type_index),
        })
    }

    /// `call` of defined function `defined_index`: a direct call of its body, the arguments,
    /// frame count and gas in registers.
    pub(super) fn direct_call(&mut self, defined_index: u32) -> Result<(), CompileError> {
        let ty = defined_type(self.module, defined_index)?;
        let params = ty.params().len();
        let result_types = ty.results().iter().map(|r| ir_type(*r, self.func_index)).collect::<Result<Vec<_>, _>>()?;
        let callee = self.body_ref(defined_index)?;
        let args = self.body_args(self.callee_frames, params)?;
        let call = self.builder.ins().call(callee, &args);
        let rets = self.builder.inst_results(call).to_vec();
        let status = rets[0];
        let results = self.take_returned_counters(&rets[1..]).to_vec();
        let may_tail = self.module.bodies.get(defined_index as usize).is_none_or(|b| b.shape.may_return_tail);
        let results = self.body_call_status(status, &results, &result_types, may_tail)?;
        for r in results {
            self.push(r);
        }
        Ok(())
    }

    /// `return_call` of defined function `defined_index`: a native tail call of its body,
    /// which takes over this function's frame, frame count and caller.
    pub(super) fn direct_return_call(&mut self, defined_index: u32) -> Result<(), CompileError> {
        let ty = defined_type(self.module, defined_index)?;
        let callee = self.body_ref(defined_index)?;
        if self.profile {
            // The callee replaces this frame: it leaves before the callee enters.
            self.libcall(Libcall::ProfileExit, &[]);
        }
        let args = self.body_args(self.frames_left, ty.params().len())?;
        self.builder.ins().return_call(callee, &args);
        self.reachable = false;
        Ok(())
    }

    /// Calls libcall `lc` with `args` (after the vmctx), the counters written back before
    /// and read again after (see [`gas`](super::gas)).
    pub(super) fn libcall(&mut self, lc: Libcall, args: &[Value]) -> Option<Value> {
        self.flush_counters();
        let r = self.libcall_raw(lc, args);
        self.reload_counters();
        r
    }

    /// Asks for `cost` gas through the out-of-gas shim, reporting a failure at module offset
    /// `at`: it returns only when the counter (read back here) holds at least `cost`; when the
    /// handler gives no more, the libcall behind the shim unwinds (see [`traps`](super::traps)).
    pub(super) fn refill(&mut self, cost: Value, at: u32) {
        self.flush_counters();
        // Through the shim that preserves every register, so that values live across the
        // (cold) call need not be kept in callee-saved registers or spilled around loops.
        let shim = match self.out_of_gas_shim {
            Some(f) => f,
            None => {
                let sig = self.builder.import_signature(out_of_gas_shim_signature());
                let name =
                    self.builder.func.declare_imported_user_function(ir::UserExternalName::new(SHIM_NAMESPACE, 0));
                let f = self.builder.import_function(ir::ExtFuncData {
                    name: ir::ExternalName::User(name),
                    signature: sig,
                    colocated: true,
                    patchable: false,
                });
                self.out_of_gas_shim = Some(f);
                f
            }
        };
        let at = self.builder.ins().iconst(types::I32, i64::from(at));
        self.builder.ins().call(shim, &[self.vmctx, cost, at]);
        self.reload_counters();
    }

    /// Calls libcall `lc` through the vmctx's libcall table, leaving the gas counter alone.
    pub(super) fn libcall_raw(&mut self, lc: Libcall, args: &[Value]) -> Option<Value> {
        let sig = match self.libcall_sigs.get(&lc) {
            Some(s) => *s,
            None => {
                let (params, results) = lc.signature();
                let abi = |t: &AbiType| {
                    AbiParam::new(match t {
                        AbiType::I32 => types::I32,
                        AbiType::I64 | AbiType::Ptr => types::I64,
                    })
                };
                let mut sig = Signature::new(self.call_conv);
                sig.params.extend(params.iter().map(abi));
                sig.returns.extend(results.iter().map(abi));
                let s = self.builder.import_signature(sig);
                self.libcall_sigs.insert(lc, s);
                s
            }
        };
        let mut all = vec![self.vmctx];
        all.extend_from_slice(args);
        let table = self.load_ptr(self.vmctx, vm::VMCTX_LIBCALLS, true);
        let offset = i32::try_from(lc.index() as u64 * u64::from(vm::POINTER_SIZE)).unwrap_or(i32::MAX);
        let callee = self.load_ptr(table, offset, true);
        let call = self.builder.ins().call_indirect(sig, callee, &all);
        self.builder.inst_results(call).first().copied()
    }

    /// A libcall that returns a status, with the trap propagated.
    pub(super) fn libcall_checked(&mut self, lc: Libcall, args: &[Value]) -> Result<(), CompileError> {
        let status = self.libcall(lc, args).ok_or_else(|| self.err("libcall without status"))?;
        self.check_status(status);
        Ok(())
    }

    /// Calls the function behind `funcref` (a non-null `FuncRef` record) of type
    /// `type_index`. A function this JIT compiled has its body in the record
    /// ([`vm::FUNCREF_BODY`]): it is called directly, as between bodies, with the arguments,
    /// frame count and counters in registers. Anything else (a host function, another
    /// backend's function) goes through the record's array call.
    pub(super) fn array_call(&mut self, funcref: Value, type_index: u32) -> Result<(), CompileError> {
        let ty = self.module.types.get(type_index as usize).ok_or_else(|| self.err("type index out of range"))?;
        let params = ty.params().len();
        let result_types = ty.results().iter().map(|r| ir_type(*r, self.func_index)).collect::<Result<Vec<_>, _>>()?;
        let args = self.popn(params)?;
        let callee_vmctx = self.builder.ins().load(PTR, MemFlagsData::trusted(), funcref, vm::FUNCREF_VMCTX);
        if !self.record_bodies {
            for v in self.record_call(funcref, callee_vmctx, &args, &result_types)? {
                self.push(v);
            }
            return Ok(());
        }
        let body = self.builder.ins().load(PTR, MemFlagsData::trusted(), funcref, vm::FUNCREF_BODY);
        let direct = self.builder.create_block();
        let through = self.builder.create_block();
        let cont = self.builder.create_block();
        for t in &result_types {
            self.builder.append_block_param(cont, *t);
        }
        self.builder.ins().brif(body, direct, &[], through, &[]);

        // The body, as a direct call makes it; the callee is unknown, so it may end in a tail
        // call through a record.
        self.builder.switch_to_block(direct);
        let sig = self.body_sig(type_index)?;
        let mut call_args = vec![callee_vmctx, self.callee_frames];
        call_args.extend(self.counter_values());
        call_args.extend(&args);
        let call = self.builder.ins().call_indirect(sig, body, &call_args);
        let rets = self.builder.inst_results(call).to_vec();
        let results = self.take_returned_counters(&rets[1..]).to_vec();
        self.body_call_status_to(rets[0], &results, &result_types, true, cont)?;

        self.builder.switch_to_block(through);
        let results = self.record_call(funcref, callee_vmctx, &args, &result_types)?;
        let results: Vec<ir::BlockArg> = results.into_iter().map(ir::BlockArg::Value).collect();
        self.builder.ins().jump(cont, &results);

        self.builder.switch_to_block(cont);
        for v in self.builder.block_params(cont).to_vec() {
            self.push(v);
        }
        Ok(())
    }

    /// The array call of the function behind `funcref`: the arguments in the call buffer,
    /// the frame count and the counters in the store context; returns the results.
    fn record_call(
        &mut self,
        funcref: Value,
        callee_vmctx: Value,
        args: &[Value],
        result_types: &[ir::Type],
    ) -> Result<Vec<Value>, CompileError> {
        let slots = args.len().max(result_types.len());
        let addr = if slots == 0 {
            self.builder.ins().iconst(PTR, 0)
        } else {
            let slot = self.call_buffer()?;
            for (i, a) in args.iter().enumerate() {
                let offset = i32::try_from(i as u64 * u64::from(vm::VALRAW_SIZE)).unwrap_or(i32::MAX);
                self.builder.ins().stack_store(PTR, *a, slot, offset);
            }
            self.builder.ins().stack_addr(PTR, slot, 0)
        };
        let sig = self.array_sig();
        let code = self.builder.ins().load(PTR, MemFlagsData::trusted(), funcref, vm::FUNCREF_CALL);
        self.store_callee_frames();
        self.flush_counters();
        let call = self.builder.ins().call_indirect(sig, code, &[callee_vmctx, self.vmctx, addr]);
        self.reload_counters();
        let status = self.builder.inst_results(call)[0];
        self.call_status(status, result_types.len())?;
        let mut results = Vec::with_capacity(result_types.len());
        if !result_types.is_empty() {
            let slot = self.call_buffer()?;
            for (i, rt) in result_types.iter().enumerate() {
                let offset = i32::try_from(i as u64 * u64::from(vm::VALRAW_SIZE)).unwrap_or(i32::MAX);
                results.push(self.builder.ins().stack_load(PTR, *rt, slot, offset));
            }
        }
        Ok(results)
    }

    /// The body signature of functions of type `type_index`, imported once per function (for
    /// direct calls and calls through records alike).
    fn body_sig(&mut self, type_index: u32) -> Result<ir::SigRef, CompileError> {
        if let Some(s) = self.body_sigs.get(&type_index) {
            return Ok(*s);
        }
        let ty = self.module.types.get(type_index as usize).ok_or_else(|| self.err("type index out of range"))?;
        let counters = super::Counters { gas: self.gas.is_some(), ops: self.ops.is_some() };
        let s = self.builder.import_signature(body_signature(ty, counters, self.func_index)?);
        self.body_sigs.insert(type_index, s);
        Ok(s)
    }

    /// The signature of array calls, imported once per function.
    pub(super) fn array_sig(&mut self) -> ir::SigRef {
        if let Some(s) = self.array_sig {
            return s;
        }
        let s = self.builder.import_signature(array_call_signature(self.call_conv));
        self.array_sig = Some(s);
        s
    }

    /// The function a `call_indirect` or `return_call_indirect` calls: the non-null record at
    /// the popped index of `table`, checked to have type `type_index`.
    pub(super) fn indirect_callee(&mut self, type_index: u32, table_index: u32) -> Result<Value, CompileError> {
        let index = self.pop()?;
        let addr = self.table_elem_addr(table_index, index, TrapCode::UndefinedElement);
        let flags = self.region_flags(MemFlagsData::trusted(), Region::TableElems);
        let funcref = self.builder.ins().load(PTR, flags, addr, 0);
        let null = self.builder.ins().icmp_imm_s(IntCC::Equal, funcref, 0);
        self.trap_if(null, TrapCode::IndirectCallToNull);
        let actual = self.builder.ins().load(types::I32, MemFlagsData::trusted(), funcref, vm::FUNCREF_TYPE_ID);
        let ids = self.load_ptr(self.vmctx, vm::VMCTX_TYPE_IDS, true);
        let offset = i32::try_from(u64::from(type_index) * 4).map_err(|_| self.err("type index too large"))?;
        let expected = self.builder.ins().load(types::I32, MemFlagsData::trusted().with_readonly(), ids, offset);
        let mismatch = self.builder.ins().icmp(IntCC::NotEqual, actual, expected);
        self.trap_if(mismatch, TrapCode::IndirectCallTypeMismatch);
        Ok(funcref)
    }

    /// The shared call buffer, sized for the widest signature of the module.
    pub(super) fn call_buffer(&mut self) -> Result<ir::StackSlot, CompileError> {
        if let Some(s) = self.call_buffer {
            return Ok(s);
        }
        let widest = self.module.types.iter().map(|t| t.params().len().max(t.results().len())).max().unwrap_or(0);
        let size = u32::try_from(widest.max(1) as u64 * u64::from(vm::VALRAW_SIZE))
            .map_err(|_| self.err("signature too wide"))?;
        let s = self.builder.create_sized_stack_slot(StackSlotData::new(StackSlotKind::ExplicitSlot, size, 4));
        self.call_buffer = Some(s);
        Ok(s)
    }
}
