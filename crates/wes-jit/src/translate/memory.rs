//! Linear-memory and table accesses, with their explicit bounds checks.

use cranelift_codegen::ir::condcodes::IntCC;
use cranelift_codegen::ir::{self, InstBuilder, MemFlagsData, Type, Value, types};
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

impl Translator<'_, '_> {
    /// The native address of a `size`-byte access at `addr + offset` in memory `mem`, after the
    /// bounds check.
    pub(super) fn mem_addr(&mut self, mem: u32, addr: Value, offset: u64, size: u32) -> Value {
        let def = self.vmctx_entry(vm::VMCTX_MEMORIES, mem);
        let mut flags = self.region_flags(MemFlagsData::trusted(), Region::MemoryDef);
        if self.memory_fixed {
            // Nothing this function does can move or resize a memory, so Cranelift may load
            // base and length once, out of every loop.
            flags = flags.with_readonly().with_can_move();
        }
        let len = self.builder.ins().load(types::I64, flags, def, vm::MEMORY_LENGTH);
        let base = self.builder.ins().load(PTR, flags, def, vm::MEMORY_BASE);
        let addr = self.builder.ins().uextend(types::I64, addr);
        // In bounds when `addr + offset + size <= len`. `offset < 2^32` and `size <= 16` for
        // 32-bit memories, so the sum cannot wrap. (Comparing `addr` with `len - (offset +
        // size)` instead saves an instruction per access, but every distinct offset then
        // makes a loop-invariant value of its own, and in a loop with many offsets they
        // crowd the registers and are spilled: sha256 got slower.)
        let end = self.builder.ins().iadd_imm_s(addr, offset.saturating_add(u64::from(size)) as i64);
        let oob = self.builder.ins().icmp(IntCC::UnsignedGreaterThan, end, len);
        self.trap_if(oob, TrapCode::MemoryOutOfBounds);
        let native = self.builder.ins().iadd(base, addr);
        if offset == 0 { native } else { self.builder.ins().iadd_imm_s(native, offset as i64) }
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
