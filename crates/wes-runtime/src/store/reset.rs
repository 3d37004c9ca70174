//! Checkpoint and reset: returning a store to an earlier state cheaply, so a pool can hand the
//! same instance to one caller after another without any of them seeing another's writes.
//!
//! A checkpoint records every object's state: each memory's length and contents, as an image
//! (the one it was made from when nothing can have written to it since, otherwise a snapshot
//! of its non-zero pages, mapped copy-on-write in place of its pages), each table's elements,
//! each global's value, and each instance's dropped segments. A reset drops every memory page
//! written since (`madvise`, in proportion to the pages touched, not to the memory's size),
//! shrinks grown memories and tables, and copies the rest back.

use super::*;

/// What [`Store::reset`] returns the store to.
#[derive(Debug)]
pub(crate) struct Checkpoint {
    /// How many of each object there were: a store that gained objects since is not reset
    /// (they would survive it).
    counts: [usize; 5],
    memories: Vec<(usize, Option<Arc<MemoryImage>>)>,
    tables: Vec<Vec<u64>>,
    globals: Vec<ValRaw>,
    /// Per instance: element segments (dropped ones empty) and dropped data segments.
    instances: Vec<(Vec<Vec<u64>>, Vec<bool>)>,
}

/// What a [`Store::reset`] did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ResetStats {
    /// Bytes of memory returned to their checkpointed contents (the memories' lengths; only the
    /// pages written since cost anything).
    ///
    /// How long a reset takes is the caller's to measure, if it wants to: reading the clock
    /// twice cost a pooled round (check-out, call, reset) several per cent on its own.
    pub memory_bytes: u64,
}

impl StoreInner {
    fn counts(&self) -> [usize; 5] {
        [self.funcs.len(), self.memories.len(), self.tables.len(), self.globals.len(), self.instances.len()]
    }

    fn checkpoint(&mut self) -> Result<(), RuntimeError> {
        let mut memories = Vec::with_capacity(self.memories.len());
        for i in 0..self.memories.len() {
            if !self.touched {
                let (len, origin) = self.memories[i].initial;
                memories.push((len, self.initial_image(origin)));
                continue;
            }
            let m = &mut self.memories[i];
            if m.data.is_empty() {
                // Nothing to snapshot, and an empty file cannot be mapped: a reset to no image
                // returns it to zero pages.
                memories.push((0, None));
                continue;
            }
            let failed = || RuntimeError::ResourceLimit(format!("cannot snapshot memory {i} for a checkpoint"));
            let image = MemoryImage::snapshot(&m.data).ok_or_else(failed)?;
            if !m.data.adopt(&image) {
                return Err(failed());
            }
            m.refresh();
            memories.push((m.data.len(), Some(Arc::new(image))));
        }
        self.checkpoint = Some(Checkpoint {
            counts: self.counts(),
            memories,
            tables: self.tables.iter().map(|t| t.elems.clone()).collect(),
            globals: self.globals.iter().map(|g| g.value).collect(),
            instances: self.instances.iter().map(|i| (i.elements.clone(), i.data_dropped.clone())).collect(),
        });
        self.touched = false;
        Ok(())
    }

    fn reset(&mut self) -> Result<ResetStats, RuntimeError> {
        let cp = self.checkpoint.as_ref().ok_or_else(|| RuntimeError::Reset("the store has no checkpoint".into()))?;
        if cp.counts != self.counts() {
            return Err(RuntimeError::Reset("objects were added to the store since its checkpoint".into()));
        }
        let mut memory_bytes = 0u64;
        for (i, (m, (len, image))) in self.memories.iter_mut().zip(&cp.memories).enumerate() {
            if !m.data.reset(*len, image.as_deref()) {
                return Err(RuntimeError::Reset(format!("the kernel refused to reset memory {i}")));
            }
            m.refresh();
            memory_bytes += *len as u64;
        }
        for (t, elems) in self.tables.iter_mut().zip(&cp.tables) {
            t.elems.clear();
            t.elems.extend_from_slice(elems);
            t.refresh();
        }
        for (g, value) in self.globals.iter_mut().zip(&cp.globals) {
            g.value = *value;
        }
        for (inst, (elements, dropped)) in self.instances.iter_mut().zip(&cp.instances) {
            inst.elements.clone_from(elements);
            inst.data_dropped.clone_from(dropped);
        }
        self.trap = None;
        self.touched = false;
        self.recount_usage();
        Ok(ResetStats { memory_bytes })
    }
}

impl Store {
    /// Records the state of everything in the store — memories, tables, globals, dropped
    /// segments — for [`Store::reset`] to return to. Taken right after instantiation (the
    /// start function included), it is the instance's post-instantiation state.
    ///
    /// Cheap when no code has run and no memory was written since the memories were made
    /// (their images are the checkpoint); otherwise each memory's non-zero pages are copied
    /// once into a snapshot it is then mapped from.
    ///
    /// # Errors
    ///
    /// [`RuntimeError::ResourceLimit`] when a snapshot cannot be made (no memfd on the host).
    pub fn checkpoint(&mut self) -> Result<(), RuntimeError> {
        self.inner.checkpoint()
    }

    /// Returns every object of the store to the last [`Store::checkpoint`]: memory contents and
    /// sizes, table elements and sizes, global values, dropped segments. Nothing written since
    /// can be observed afterwards. Memory costs in proportion to the pages written since, not to
    /// its size. The meter, the out-of-gas handler and the embedder's data are left as they are.
    ///
    /// # Errors
    ///
    /// [`RuntimeError::Reset`] when there is no checkpoint, when objects were added since (a new
    /// instance, memory, table, global or host function), or when the kernel refuses; the store
    /// must then not be reused.
    pub fn reset(&mut self) -> Result<ResetStats, RuntimeError> {
        self.inner.reset()
    }
}
