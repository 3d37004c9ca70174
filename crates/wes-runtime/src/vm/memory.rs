//! Linear memory's bytes.

/// The bytes of a linear memory: one zero-initialised heap block.
///
/// A fresh block comes from `alloc_zeroed`, which for large sizes maps zero pages the OS
/// provides lazily, so declaring a big memory costs address space, not time or resident memory,
/// until the pages are used. Growing reallocates (in place when the allocator can) and zeroes
/// only the new part. Allocation failure is reported, never an abort, so `memory.grow` can
/// return -1.
pub(crate) struct LinearMemory {
    /// Points to `len` initialised bytes allocated with [`LinearMemory::layout`], or is
    /// dangling when `len` is 0.
    ptr: std::ptr::NonNull<u8>,
    len: usize,
}

impl std::fmt::Debug for LinearMemory {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LinearMemory").field("len", &self.len).finish()
    }
}

// SAFETY: `LinearMemory` uniquely owns its block, like a `Vec<u8>`.
unsafe impl Send for LinearMemory {}
// SAFETY: shared access only reads, like a `Vec<u8>`.
unsafe impl Sync for LinearMemory {}

impl LinearMemory {
    const ALIGN: usize = 16;

    fn layout(len: usize) -> Option<std::alloc::Layout> {
        std::alloc::Layout::from_size_align(len, Self::ALIGN).ok()
    }

    fn dangling() -> std::ptr::NonNull<u8> {
        // An aligned, non-null address that is never dereferenced (the length is 0).
        std::ptr::NonNull::<u128>::dangling().cast()
    }

    /// `len` zero bytes, or `None` if they cannot be allocated.
    pub(crate) fn new(len: usize) -> Option<LinearMemory> {
        if len == 0 {
            return Some(LinearMemory { ptr: Self::dangling(), len: 0 });
        }
        let layout = Self::layout(len)?;
        // SAFETY: `layout` has a non-zero size.
        let ptr = std::ptr::NonNull::new(unsafe { std::alloc::alloc_zeroed(layout) })?;
        Some(LinearMemory { ptr, len })
    }

    /// Grows to `new_len` bytes (at least the current length), zeroing the new ones; `false`
    /// if the memory cannot be allocated, in which case nothing changed.
    pub(crate) fn grow_to(&mut self, new_len: usize) -> bool {
        if new_len <= self.len {
            return new_len == self.len;
        }
        if self.len == 0 {
            return match LinearMemory::new(new_len) {
                Some(m) => {
                    *self = m;
                    true
                }
                None => false,
            };
        }
        let (Some(old), Some(_)) = (Self::layout(self.len), Self::layout(new_len)) else { return false };
        // SAFETY: `self.ptr` was allocated with `old` (the layout of `self.len` bytes), and
        // `new_len` is non-zero and fits a layout (checked above).
        let grown = unsafe { std::alloc::realloc(self.ptr.as_ptr(), old, new_len) };
        let Some(ptr) = std::ptr::NonNull::new(grown) else { return false };
        // SAFETY: the block now has `new_len` bytes, of which the first `self.len` are kept
        // by `realloc`; this initialises the rest.
        unsafe { ptr.as_ptr().add(self.len).write_bytes(0, new_len - self.len) };
        self.ptr = ptr;
        self.len = new_len;
        true
    }
}

impl std::ops::Deref for LinearMemory {
    type Target = [u8];

    fn deref(&self) -> &[u8] {
        // SAFETY: `ptr` points to `len` initialised bytes owned by `self` (or is dangling and
        // aligned with `len == 0`).
        unsafe { std::slice::from_raw_parts(self.ptr.as_ptr(), self.len) }
    }
}

impl std::ops::DerefMut for LinearMemory {
    fn deref_mut(&mut self) -> &mut [u8] {
        // SAFETY: as for `deref`, and `&mut self` makes this the only access.
        unsafe { std::slice::from_raw_parts_mut(self.ptr.as_ptr(), self.len) }
    }
}

impl Drop for LinearMemory {
    fn drop(&mut self) {
        if let (true, Some(layout)) = (self.len > 0, Self::layout(self.len)) {
            // SAFETY: a non-empty block was allocated with exactly this layout and is freed once.
            unsafe { std::alloc::dealloc(self.ptr.as_ptr(), layout) };
        }
    }
}
