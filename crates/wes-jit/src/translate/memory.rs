//! Linear-memory and table accesses, with their explicit bounds checks, and the checks they
//! can do without.

use std::collections::HashMap;

use cranelift_codegen::ir::condcodes::IntCC;
use cranelift_codegen::ir::{self, InstBuilder, InstructionData, MemFlagsData, Opcode, Type, Value, ValueDef, types};
use wes_core::vm;
use wes_core::{CompileError, TrapCode};

use super::{PTR, Region, Translator, unsupported};

#[derive(Clone, Copy, Debug)]
pub(super) enum Ext {
    None,
    S,
    U,
}

pub(super) fn memory_index(memarg: &wasmparser::MemArg, func_index: u32) -> Result<u32, CompileError> {
    match memarg.target {
        wasmparser::MemArgTarget::Memory(m) => Ok(m),
        wasmparser::MemArgTarget::Array(_) => Err(unsupported("GC array accesses", func_index)),
    }
}

/// What the bounds checks passed so far prove: for a memory and an address value (an SSA
/// value, so one number wherever it is used), that the memory holds at least `end` bytes past
/// it. Since a memory only ever grows, a later access at that address ending at or below
/// `end` is in bounds and needs no check.
///
/// Only checks on every path to the current point count: the translator visits operators in
/// order, and a fact learnt inside a block, loop or `if` arm is forgotten at its `end` (and at
/// `else`), where control also arrives from paths that did not pass it. What remains at any
/// point is what the checks that dominate it proved. A map with an undo log keeps every
/// operation constant-time, so a function of a million accesses costs linear time.
#[derive(Default)]
pub(super) struct BoundsFacts {
    ends: HashMap<(u32, Value), u64>,
    /// `(key, what it mapped to before)`, in the order facts were learnt.
    undo: Vec<((u32, Value), Option<u64>)>,
}

impl BoundsFacts {
    /// The point to forget back to: facts learnt after it are forgotten by
    /// [`forget_since`](Self::forget_since).
    pub(super) fn mark(&self) -> usize {
        self.undo.len()
    }

    pub(super) fn forget_since(&mut self, mark: usize) {
        let BoundsFacts { ends, undo } = self;
        for (key, before) in undo.drain(mark.min(undo.len())..).rev() {
            match before {
                Some(end) => ends.insert(key, end),
                None => ends.remove(&key),
            };
        }
    }

    fn proven(&self, mem: u32, addr: Value, end: u64) -> bool {
        self.ends.get(&(mem, addr)).is_some_and(|&e| e >= end)
    }

    fn learn(&mut self, mem: u32, addr: Value, end: u64) {
        let before = self.ends.insert((mem, addr), end);
        self.undo.push(((mem, addr), before));
    }
}

impl Translator<'_, '_> {
    /// The native address of a `size`-byte access at `addr + offset` in memory `mem`, after the
    /// bounds check, or without one when the access is known to be in bounds: it ends within
    /// the memory's declared minimum size (the memory is never smaller), or a check that every
    /// path here passed covers it ([`BoundsFacts`]).
    ///
    /// With guard regions there is no check: `base + addr + offset` stays inside the memory's
    /// reservation ([`vm::GUARD_RESERVATION`]), and the access itself faults past the length.
    pub(super) fn mem_addr(&mut self, mem: u32, addr: Value, offset: u64, size: u32) -> Value {
        if self.guard {
            // No check, and a guard-reserved memory never moves: its base is fixed for the
            // instance's life, so Cranelift may load it once, out of every loop and across
            // calls; memory 0's sits in the vmctx itself.
            let base = if mem == 0 {
                self.load_ptr(self.vmctx, vm::VMCTX_MEMORY0_BASE, true)
            } else {
                let def = self.vmctx_entry(vm::VMCTX_MEMORIES, mem);
                self.load_ptr(def, vm::MEMORY_BASE, true)
            };
            let addr = self.builder.ins().uextend(types::I64, addr);
            let native = self.builder.ins().iadd(base, addr);
            return if offset == 0 { native } else { self.builder.ins().iadd_imm_s(native, offset as i64) };
        }
        let def = self.vmctx_entry(vm::VMCTX_MEMORIES, mem);
        let mut flags = self.region_flags(MemFlagsData::trusted(), Region::MemoryDef);
        if self.memory_fixed {
            // Nothing this function does can move or resize a memory, so Cranelift may load
            // base and length once, out of every loop.
            flags = flags.with_readonly().with_can_move();
        }
        // `offset < 2^32` and `size <= 16` for 32-bit memories, so nothing here wraps.
        let reach = offset.saturating_add(u64::from(size));
        // The SSA builder may stand for one value by several aliases; the facts key on what
        // they resolve to.
        let wasm_addr = self.builder.func.dfg.resolve_aliases(addr);
        let within_minimum =
            self.const_u32(wasm_addr).is_some_and(|a| u64::from(a).saturating_add(reach) <= self.memory_minimum(mem));
        let checked = within_minimum || self.bounds.proven(mem, wasm_addr, reach);
        let base = self.builder.ins().load(PTR, flags, def, vm::MEMORY_BASE);
        let addr = self.builder.ins().uextend(types::I64, addr);
        if !checked {
            let len = self.builder.ins().load(types::I64, flags, def, vm::MEMORY_LENGTH);
            // In bounds when `addr + reach <= len`. (Comparing `addr` with `len - reach`
            // instead saves an instruction per access, but every distinct offset then makes a
            // loop-invariant value of its own, and in a loop with many offsets they crowd the
            // registers and are spilled: sha256 got slower.)
            let end = self.builder.ins().iadd_imm_s(addr, reach as i64);
            let oob = self.builder.ins().icmp(IntCC::UnsignedGreaterThan, end, len);
            self.trap_if(oob, TrapCode::MemoryOutOfBounds);
            self.bounds.learn(mem, wasm_addr, reach);
        }
        let native = self.builder.ins().iadd(base, addr);
        if offset == 0 { native } else { self.builder.ins().iadd_imm_s(native, offset as i64) }
    }

    /// The value of `v` when it is an `i32` constant.
    fn const_u32(&self, v: Value) -> Option<u32> {
        let dfg = &self.builder.func.dfg;
        let ValueDef::Result(inst, 0) = dfg.value_def(v) else { return None };
        match dfg.insts[inst] {
            InstructionData::UnaryImm { opcode: Opcode::Iconst, imm } if dfg.value_type(v) == types::I32 => {
                Some(imm.bits() as u32)
            }
            _ => None,
        }
    }

    /// The fewest bytes memory `mem` ever has: its declared minimum (an imported memory is at
    /// least as large as its import declares, and no memory shrinks).
    fn memory_minimum(&self, mem: u32) -> u64 {
        self.module.memories.get(mem as usize).map_or(0, |m| m.limits.min.saturating_mul(wes_core::WASM_PAGE_SIZE))
    }

    pub(super) fn load(
        &mut self,
        memarg: &wasmparser::MemArg,
        ty: Type,
        size: u32,
        kind: Ext,
    ) -> Result<(), CompileError> {
        let addr = self.pop()?;
        let p = self.mem_addr(memory_index(memarg, self.func_index)?, addr, memarg.offset, size);
        let flags = self.heap_flags(ir::Endianness::Little);
        let ins = self.builder.ins();
        let v = match (kind, size) {
            (Ext::None, _) => ins.load(ty, flags, p, 0),
            (Ext::S, 1) => ins.sload8(ty, flags, p, 0),
            (Ext::U, 1) => ins.uload8(ty, flags, p, 0),
            (Ext::S, 2) => ins.sload16(ty, flags, p, 0),
            (Ext::U, 2) => ins.uload16(ty, flags, p, 0),
            (Ext::S, _) => ins.sload32(flags, p, 0),
            (Ext::U, _) => ins.uload32(flags, p, 0),
        };
        self.fence_guarded_access();
        self.push(v);
        Ok(())
    }

    pub(super) fn store(&mut self, memarg: &wasmparser::MemArg, size: u32, narrow: bool) -> Result<(), CompileError> {
        let (addr, v) = self.pop2()?;
        let p = self.mem_addr(memory_index(memarg, self.func_index)?, addr, memarg.offset, size);
        let flags = self.heap_flags(ir::Endianness::Little);
        let ins = self.builder.ins();
        match (narrow, size) {
            (false, _) => ins.store(flags, v, p, 0),
            (true, 1) => ins.istore8(flags, v, p, 0),
            (true, 2) => ins.istore16(flags, v, p, 0),
            (true, _) => ins.istore32(flags, v, p, 0),
        };
        self.fence_guarded_access();
        Ok(())
    }

    pub(super) fn table_def(&mut self, table: u32) -> Value {
        self.vmctx_entry(vm::VMCTX_TABLES, table)
    }

    /// The address of element `index` of table `table`, trapping with `code` when out of bounds.
    pub(super) fn table_elem_addr(&mut self, table: u32, index: Value, code: TrapCode) -> Value {
        let def = self.table_def(table);
        let flags = self.region_flags(MemFlagsData::trusted(), Region::TableDef);
        let len = self.builder.ins().load(types::I64, flags, def, vm::TABLE_LENGTH);
        let index = self.builder.ins().uextend(types::I64, index);
        let oob = self.builder.ins().icmp(IntCC::UnsignedGreaterThanOrEqual, index, len);
        self.trap_if(oob, code);
        let base = self.builder.ins().load(PTR, flags, def, vm::TABLE_BASE);
        let scaled = self.builder.ins().imul_imm_s(index, i64::from(vm::POINTER_SIZE));
        self.builder.ins().iadd(base, scaled)
    }
}
