//! Executable memory: the one place in wes-jit with `unsafe`.
//!
//! A module's machine code is copied into a fresh mapping while it is read+write, then the
//! mapping is flipped to read+execute before any pointer into it is handed out. It is never
//! writable and executable at once. The `region` crate does the mapping: it is a small,
//! well-kept wrapper over `mmap`/`mprotect` (and `VirtualAlloc`/`VirtualProtect`), so this file
//! needs no platform code of its own.

use wes_core::CompileError;
use wes_core::backend::ArrayCallFn;

/// A read+execute mapping holding the code of one module. Unmapped on drop.
pub(crate) struct CodeMemory {
    alloc: region::Allocation,
    len: usize,
}

impl std::fmt::Debug for CodeMemory {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CodeMemory").field("len", &self.len).finish()
    }
}

// SAFETY: the mapping is immutable (read+execute) once constructed and owned by this value;
// sharing a pointer to immutable bytes between threads is sound.
unsafe impl Send for CodeMemory {}
// SAFETY: as for `Send`: nothing mutates the mapping after `CodeMemory::new` returns.
unsafe impl Sync for CodeMemory {}

impl CodeMemory {
    /// Maps `code` read+execute.
    pub(crate) fn new(code: &[u8]) -> Result<CodeMemory, CompileError> {
        let len = code.len().max(1);
        let mut alloc = region::alloc(len, region::Protection::READ_WRITE)
            .map_err(|e| CompileError::Limit(format!("cannot map {len} bytes for code: {e}")))?;
        let ptr = alloc.as_mut_ptr::<u8>();
        // SAFETY: `alloc` is a fresh read+write mapping of at least `len >= code.len()` bytes
        // that nothing else references, and `code` cannot overlap it.
        unsafe { std::ptr::copy_nonoverlapping(code.as_ptr(), ptr, code.len()) };
        // SAFETY: the range is exactly the mapping we own; no reference into it exists yet.
        unsafe { region::protect(ptr, len, region::Protection::READ_EXECUTE) }
            .map_err(|e| CompileError::Host(format!("cannot make code executable: {e}")))?;
        Ok(CodeMemory { alloc, len: code.len() })
    }

    /// The code, as it was mapped (for serialising it; see `artifact.rs`).
    pub(crate) fn bytes(&self) -> &[u8] {
        // SAFETY: the mapping is readable (read+execute), at least `len` bytes long, never
        // written after `new` returned, and lives as long as `self`, which the slice borrows.
        unsafe { std::slice::from_raw_parts(self.alloc.as_ptr::<u8>(), self.len) }
    }

    /// The offset in the code of address `pc`, if `pc` is inside it.
    pub(crate) fn offset_of(&self, pc: usize) -> Option<usize> {
        let base = self.alloc.as_ptr::<u8>() as usize;
        pc.checked_sub(base).filter(|o| *o < self.len)
    }

    /// The address of the code at `offset`, or `None` if `offset` is outside the code.
    pub(crate) fn address(&self, offset: usize) -> Option<*const u8> {
        (offset < self.len).then(|| self.alloc.as_ptr::<u8>().wrapping_add(offset))
    }

    /// The array-call entry point of the function whose code starts at `offset`.
    ///
    /// Returns `None` if `offset` is outside the code.
    ///
    /// The caller (wes-jit's compiler) only passes offsets where it placed the start of a
    /// function compiled with the array-call signature, which is what makes the result callable.
    pub(crate) fn entry(&self, offset: usize) -> Option<ArrayCallFn> {
        if offset >= self.len {
            return None;
        }
        // SAFETY: `offset` is inside the mapping (checked above).
        let ptr = unsafe { self.alloc.as_ptr::<u8>().add(offset) };
        // SAFETY: the mapping is read+execute and lives as long as `self`, which the compiled
        // module keeps alive for as long as the runtime holds the entry point; the bytes at
        // `offset` are a function Cranelift compiled with exactly the `ArrayCallFn` signature
        // and calling convention (see `translate::array_call_signature`).
        Some(unsafe { std::mem::transmute::<*const u8, ArrayCallFn>(ptr) })
    }
}
