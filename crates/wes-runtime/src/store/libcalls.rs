//! What the libcalls do: memory and table growth, bulk operations and segment drops, each
//! charging its dynamic gas before it changes anything.

use super::*;

impl StoreInner {
    fn mem_of(&self, instance: usize, mem: u32) -> Option<usize> {
        Some(*self.instances.get(instance)?.memory_idx.get(mem as usize)? as usize)
    }

    fn table_of(&self, instance: usize, table: u32) -> Option<usize> {
        Some(*self.instances.get(instance)?.table_idx.get(table as usize)? as usize)
    }

    /// `memory.grow`: the old size or -1 (`u32::MAX`); out of gas for the pages is a trap.
    pub(crate) fn memory_grow(&mut self, instance: usize, mem: u32, delta: u32) -> Result<u32, TrapCode> {
        let max = self.engine.config().max_memory_pages;
        let Some(m) = self.mem_of(instance, mem) else { return Ok(u32::MAX) };
        let Some(new_bytes) = self.memories.get(m).and_then(|e| e.check_grow(u64::from(delta), max)) else {
            return Ok(u32::MAX);
        };
        // Make sure the pages can be paid for, grow, then charge: an allocation failure then
        // returns -1 having charged nothing, and running out of gas grows nothing.
        // The limiter is asked first: a refusal is -1, charging nothing, like a grow past the
        // memory's own maximum.
        if self.admit_memory_grow(m, new_bytes).is_none() {
            return Ok(u32::MAX);
        }
        let cost = self.pricing().map_or(0, |p| p.dynamic_cost(DynamicOp::MemoryGrow, u64::from(delta)));
        self.ensure_gas(cost)?;
        let Some(old) = self.commit_memory_grow(m, new_bytes) else { return Ok(u32::MAX) };
        self.stats.memory_grows += 1;
        self.charge_dynamic(DynamicOp::MemoryGrow, u64::from(delta))?;
        Ok(old as u32)
    }

    pub(crate) fn memory_fill(
        &mut self,
        instance: usize,
        mem: u32,
        dst: u32,
        val: u8,
        len: u32,
    ) -> Result<(), TrapCode> {
        let i = self.mem_of(instance, mem).ok_or(TrapCode::MemoryOutOfBounds)?;
        let range = bounds(dst, len, self.memories.get(i).map_or(0, |m| m.data.len()))?;
        self.charge_dynamic(DynamicOp::MemoryFill, u64::from(len))?;
        let m = self.memories.get_mut(i).ok_or(TrapCode::MemoryOutOfBounds)?;
        m.data[range].fill(val);
        m.refresh();
        Ok(())
    }

    pub(crate) fn memory_copy(
        &mut self,
        instance: usize,
        dst_mem: u32,
        src_mem: u32,
        dst: u32,
        src: u32,
        len: u32,
    ) -> Result<(), TrapCode> {
        let d = self.mem_of(instance, dst_mem).ok_or(TrapCode::MemoryOutOfBounds)?;
        let s = self.mem_of(instance, src_mem).ok_or(TrapCode::MemoryOutOfBounds)?;
        let dlen = self.memories.get(d).map_or(0, |m| m.data.len());
        let slen = self.memories.get(s).map_or(0, |m| m.data.len());
        let dr = bounds(dst, len, dlen)?;
        let sr = bounds(src, len, slen)?;
        self.charge_dynamic(DynamicOp::MemoryCopy, u64::from(len))?;
        if d == s {
            let m = &mut self.memories[d];
            m.data.copy_within(sr, dr.start);
            m.refresh();
        } else {
            let (a, b) = pair_mut(&mut self.memories, d, s).ok_or(TrapCode::MemoryOutOfBounds)?;
            a.data[dr].copy_from_slice(&b.data[sr]);
            a.refresh();
            b.refresh();
        }
        Ok(())
    }

    pub(crate) fn memory_init(
        &mut self,
        instance: usize,
        mem: u32,
        data: u32,
        dst: u32,
        src: u32,
        len: u32,
    ) -> Result<(), TrapCode> {
        let m = self.mem_of(instance, mem).ok_or(TrapCode::MemoryOutOfBounds)?;
        let inst = self.instances.get(instance).ok_or(TrapCode::MemoryOutOfBounds)?;
        let bytes: &[u8] = match (inst.module().data.get(data as usize), inst.data_dropped.get(data as usize)) {
            (Some(seg), Some(false)) => inst.module().slice(&seg.range),
            _ => &[],
        };
        let sr = bounds(src, len, bytes.len())?;
        let dr = bounds(dst, len, self.memories.get(m).map_or(0, |x| x.data.len()))?;
        self.charge_dynamic(DynamicOp::MemoryInit, u64::from(len))?;
        let inst = self.instances.get(instance).ok_or(TrapCode::MemoryOutOfBounds)?;
        let bytes: &[u8] = match inst.module().data.get(data as usize) {
            Some(seg) => inst.module().slice(&seg.range),
            None => &[],
        };
        let memory = self.memories.get_mut(m).ok_or(TrapCode::MemoryOutOfBounds)?;
        memory.data[dr].copy_from_slice(bytes.get(sr).ok_or(TrapCode::MemoryOutOfBounds)?);
        memory.refresh();
        Ok(())
    }

    pub(crate) fn data_drop(&mut self, instance: usize, data: u32) {
        if let Some(d) = self.instances.get_mut(instance).and_then(|i| i.data_dropped.get_mut(data as usize)) {
            *d = true;
        }
    }

    /// `table.grow`: the old size or -1 (`u32::MAX`); out of gas for the elements is a trap.
    pub(crate) fn table_grow(&mut self, instance: usize, table: u32, init: u64, delta: u32) -> Result<u32, TrapCode> {
        let max = self.engine.config().max_table_elements;
        let Some(t) = self.table_of(instance, table) else { return Ok(u32::MAX) };
        let Some(len) = self.tables.get(t).map(|e| e.elems.len() as u64) else { return Ok(u32::MAX) };
        // Limits first (the table's own, then the store's), before any room is reserved: a
        // refusal is -1, charging nothing.
        if !self.tables.get(t).is_some_and(|e| e.allows(u64::from(delta), max)) {
            return Ok(u32::MAX);
        }
        let more = ResourceUsage { table_elements: u64::from(delta), ..ResourceUsage::default() };
        if self.admit(ResourceOp::TableGrow, &more).is_err() {
            return Ok(u32::MAX);
        }
        let Some(new) = self.tables.get_mut(t).and_then(|e| e.reserve(u64::from(delta), max)) else {
            return Ok(u32::MAX);
        };
        self.charge_dynamic(DynamicOp::TableGrow, u64::from(delta))?;
        let old = self.tables.get_mut(t).map_or(u32::MAX, |e| e.commit(new, init) as u32);
        self.usage.table_elements += new - len;
        Ok(old)
    }

    pub(crate) fn table_fill(
        &mut self,
        instance: usize,
        table: u32,
        dst: u32,
        val: u64,
        len: u32,
    ) -> Result<(), TrapCode> {
        let i = self.table_of(instance, table).ok_or(TrapCode::TableOutOfBounds)?;
        let range = table_bounds(dst, len, self.tables.get(i).map_or(0, |t| t.elems.len()))?;
        self.charge_dynamic(DynamicOp::TableFill, u64::from(len))?;
        let t = self.tables.get_mut(i).ok_or(TrapCode::TableOutOfBounds)?;
        t.elems[range].fill(val);
        t.refresh();
        Ok(())
    }

    pub(crate) fn table_copy(
        &mut self,
        instance: usize,
        dst_table: u32,
        src_table: u32,
        dst: u32,
        src: u32,
        len: u32,
    ) -> Result<(), TrapCode> {
        let d = self.table_of(instance, dst_table).ok_or(TrapCode::TableOutOfBounds)?;
        let s = self.table_of(instance, src_table).ok_or(TrapCode::TableOutOfBounds)?;
        let dlen = self.tables.get(d).map_or(0, |t| t.elems.len());
        let slen = self.tables.get(s).map_or(0, |t| t.elems.len());
        let dr = table_bounds(dst, len, dlen)?;
        let sr = table_bounds(src, len, slen)?;
        self.charge_dynamic(DynamicOp::TableCopy, u64::from(len))?;
        if d == s {
            let t = &mut self.tables[d];
            t.elems.copy_within(sr, dr.start);
            t.refresh();
        } else {
            let (a, b) = pair_mut(&mut self.tables, d, s).ok_or(TrapCode::TableOutOfBounds)?;
            a.elems[dr].copy_from_slice(&b.elems[sr]);
            a.refresh();
            b.refresh();
        }
        Ok(())
    }

    pub(crate) fn table_init(
        &mut self,
        instance: usize,
        table: u32,
        elem: u32,
        dst: u32,
        src: u32,
        len: u32,
    ) -> Result<(), TrapCode> {
        let t = self.table_of(instance, table).ok_or(TrapCode::TableOutOfBounds)?;
        let inst = self.instances.get(instance).ok_or(TrapCode::TableOutOfBounds)?;
        let items: &[u64] = inst.elements.get(elem as usize).map_or(&[], Vec::as_slice);
        let sr = table_bounds(src, len, items.len())?;
        let dr = table_bounds(dst, len, self.tables.get(t).map_or(0, |x| x.elems.len()))?;
        self.charge_dynamic(DynamicOp::TableInit, u64::from(len))?;
        let inst = self.instances.get(instance).ok_or(TrapCode::TableOutOfBounds)?;
        let items: &[u64] = inst.elements.get(elem as usize).map_or(&[], Vec::as_slice);
        let tbl = self.tables.get_mut(t).ok_or(TrapCode::TableOutOfBounds)?;
        tbl.elems[dr].copy_from_slice(items.get(sr).ok_or(TrapCode::TableOutOfBounds)?);
        tbl.refresh();
        Ok(())
    }

    pub(crate) fn elem_drop(&mut self, instance: usize, elem: u32) {
        if let Some(e) = self.instances.get_mut(instance).and_then(|i| i.elements.get_mut(elem as usize)) {
            *e = Vec::new();
        }
    }
}

/// Two distinct elements of a slice, mutably.
fn pair_mut<T>(v: &mut [T], a: usize, b: usize) -> Option<(&mut T, &mut T)> {
    if a == b || a >= v.len() || b >= v.len() {
        return None;
    }
    if a < b {
        let (l, r) = v.split_at_mut(b);
        Some((&mut l[a], &mut r[0]))
    } else {
        let (l, r) = v.split_at_mut(a);
        Some((&mut r[0], &mut l[b]))
    }
}
