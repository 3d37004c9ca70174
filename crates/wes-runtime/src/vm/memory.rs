//! Linear memory's bytes, and the initial images memories are made from.
//!
//! Each memory is one private mapping of its own, reserved at creation for the most it may
//! ever grow to (the declared maximum, capped by the engine's limit) and readable and writable
//! up to its current length; the rest stays `PROT_NONE` until `memory.grow` opens it. So the
//! base never moves, growing is one `mprotect`, and untouched pages cost neither time nor
//! resident memory: the kernel supplies zero pages on first use. Code that checks every access
//! against the length explicitly (the default) needs the `PROT_NONE` tail only for the
//! kernel's commit accounting; for code that leaves bounds to guard regions it is the bounds
//! check: such an engine reserves [`GUARD_RESERVATION`] bytes for every memory, past any
//! address an access can form, and an access past the length faults (`vm::fault`).
//!
//! A memory whose module has data segments starts from a [`MemoryImage`]: the bytes the
//! segments write, computed once per module. A large image is a sealed `memfd` that each
//! instance maps copy-on-write over the start of its memory (one `mmap`, no copy: a page is
//! copied only when the instance writes to it); a small one is copied in. Resetting a memory to
//! its image ([`LinearMemory::reset`], for pooled instances and for mappings the engine keeps
//! from dropped stores) copies the image's first 64 KiB back in place and drops the pages past
//! them with `madvise(MADV_DONTNEED)`, which drops exactly the pages that were written: the next
//! access sees the image (or zeroes) again. [`LinearMemory::scrub`] drops every written page
//! before a mapping is kept for another store.
//!
//! Mapping failures are reported, never an abort, so `memory.grow` can return -1. If a
//! reservation of the maximum size cannot be made, the memory reserves only its length and a
//! grow past it moves to a new mapping (compiled code reloads the base after anything that may
//! grow memory).

use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::ptr::NonNull;

use wes_core::vm::GUARD_RESERVATION;

/// Images of at most this many bytes are copied into each instance's memory rather than mapped:
/// a copy of a few pages is cheaper than the `mmap` and the page faults of a mapping.
const COPY_IMAGE_LIMIT: usize = 16 * 1024;

/// A reset restores this many bytes at the start of a memory by copying, keeping the pages
/// resident, and drops only the pages past them: a small contract's memory is then reset with
/// no system call and reused with no page fault (each of which costs more than copying 64 KiB
/// on a loaded machine), while a large memory still costs in proportion to what was touched.
const KEEP_RESIDENT: usize = 64 * 1024;

/// Makes `memory` hold `head` followed by zeroes, writing only the 4 KiB blocks that differ.
///
/// A call usually leaves most of a small memory as it found it (a contract reads its input
/// and writes a few stack and heap lines), and reading a block is about twice as fast as
/// writing it on the machine of `docs/benchmarks.md` (64 KiB: 0.7 µs to check against 1.5 µs
/// to `memset`, with AVX2). A block that is read stays shared in this core's cache instead of
/// being taken over for writing, which also matters when the next user runs on another core.
fn restore(memory: &mut [u8], head: &[u8]) {
    const BLOCK: usize = 4096;
    for (i, block) in memory.chunks_mut(BLOCK).enumerate() {
        let from = head.len().min(i * BLOCK);
        let data = &head[from..head.len().min(from + block.len())];
        let (start, rest) = block.split_at_mut(data.len());
        // Past the head (most blocks) there is nothing to compare: not even a `memcmp` of
        // nothing, a library call per block.
        if !data.is_empty() && start != data {
            start.copy_from_slice(data);
        }
        if !is_zero(rest) {
            rest.fill(0);
        }
    }
}

/// Whether every byte of `bytes` is zero.
fn is_zero(bytes: &[u8]) -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        if std::is_x86_feature_detected!("avx512f") {
            // SAFETY: the CPU has AVX-512F, the only feature `is_zero_avx512` is compiled for.
            return unsafe { is_zero_avx512(bytes) };
        }
        if std::is_x86_feature_detected!("avx2") {
            // SAFETY: the CPU has AVX2, the only feature `is_zero_avx2` is compiled for.
            return unsafe { is_zero_avx2(bytes) };
        }
    }
    is_zero_portable(bytes)
}

/// [`is_zero`] with 64-byte loads, four OR-ed per test: half the loads and a quarter of the
/// tests of the AVX2 build per 256 bytes. A pooled round of the contract workload spent 61 %
/// of its time here (checking its 64 KiB against the image at each reset).
///
/// # Safety
///
/// The CPU must support AVX-512F.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
unsafe fn is_zero_avx512(bytes: &[u8]) -> bool {
    use std::arch::x86_64::{__m512i, _mm512_loadu_si512, _mm512_or_si512, _mm512_test_epi64_mask};
    let mut blocks = bytes.chunks_exact(256);
    for block in blocks.by_ref() {
        let p = block.as_ptr().cast::<__m512i>();
        // SAFETY: `block` is 256 bytes, so the four unaligned 64-byte loads at `p`, `p + 1`,
        // `p + 2` and `p + 3` (in 64-byte units) read inside it.
        let (a, b, c, d) = unsafe {
            (
                _mm512_loadu_si512(p),
                _mm512_loadu_si512(p.add(1)),
                _mm512_loadu_si512(p.add(2)),
                _mm512_loadu_si512(p.add(3)),
            )
        };
        let or = _mm512_or_si512(_mm512_or_si512(a, b), _mm512_or_si512(c, d));
        if _mm512_test_epi64_mask(or, or) != 0 {
            return false;
        }
    }
    // The rest (a block past an image's head is rarely a multiple of 256 bytes): 64 bytes at
    // a time, the last load ending at the slice's end and overlapping the one before it.
    let rest = blocks.remainder();
    if rest.len() < 64 {
        return rest.iter().all(|&b| b == 0);
    }
    let last = rest.len() - 64;
    (0..rest.len()).step_by(64).map(|at| at.min(last)).all(|at| {
        // SAFETY: `at + 64 <= rest.len()`, so the unaligned load reads inside `rest`.
        let v = unsafe { _mm512_loadu_si512(rest.as_ptr().add(at).cast::<__m512i>()) };
        _mm512_test_epi64_mask(v, v) == 0
    })
}

/// [`is_zero_portable`] compiled for AVX2 (32-byte loads: twice the SSE2 build's rate).
///
/// # Safety
///
/// The CPU must support AVX2.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn is_zero_avx2(bytes: &[u8]) -> bool {
    is_zero_portable(bytes)
}

/// Whether every byte is zero: OR-ed 256 bytes at a time (a loop the compiler vectorises),
/// stopping at the first block that is not.
#[inline(always)]
fn is_zero_portable(bytes: &[u8]) -> bool {
    let mut blocks = bytes.chunks_exact(256);
    blocks.by_ref().all(|block| {
        let mut acc = 0u64;
        for word in block.chunks_exact(8) {
            let mut w = [0u8; 8];
            w.copy_from_slice(word);
            acc |= u64::from_ne_bytes(w);
        }
        acc == 0
    }) && blocks.remainder().iter().all(|&b| b == 0)
}

/// The host's page size (4 KiB on the hosts WES supports; asked once).
fn page_size() -> usize {
    static PAGE: std::sync::OnceLock<usize> = std::sync::OnceLock::new();
    *PAGE.get_or_init(|| {
        // SAFETY: `sysconf` has no preconditions.
        let p = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
        usize::try_from(p).ok().filter(|p| p.is_power_of_two()).unwrap_or(4096)
    })
}

fn round_up(n: usize) -> Option<usize> {
    let p = page_size();
    n.checked_add(p - 1).map(|n| n & !(p - 1))
}

/// The initial contents of a memory: what its module's active data segments write, in order.
#[derive(Debug)]
pub(crate) struct MemoryImage {
    /// Unique in the process: tells which image a memory has mapped.
    id: u64,
    /// Bytes `[0, len)` of the memory come from the image; `len` is a multiple of the page
    /// size for a mapped image.
    len: usize,
    source: ImageSource,
    /// The image's first `min(len, KEEP_RESIDENT)` bytes, which a reset copies back.
    head: Box<[u8]>,
}

/// The first `min(len, KEEP_RESIDENT)` bytes of an image of `len` bytes made of `segments`.
fn head_of(segments: &[(usize, &[u8])], len: usize) -> Box<[u8]> {
    let mut head = vec![0u8; len.min(KEEP_RESIDENT)];
    for (offset, bytes) in segments {
        if let Some(room) = head.len().checked_sub(*offset) {
            let n = room.min(bytes.len());
            head[*offset..offset + n].copy_from_slice(&bytes[..n]);
        }
    }
    head.into_boxed_slice()
}

fn next_image_id() -> u64 {
    static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);
    NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
}

#[derive(Debug)]
enum ImageSource {
    /// A sealed memfd of exactly `len` bytes, mapped copy-on-write.
    File(OwnedFd),
    /// The bytes `[offset, offset + bytes.len())`, copied in; the rest of the image is zero.
    Bytes { offset: usize, bytes: Box<[u8]> },
}

impl MemoryImage {
    /// The image of `segments` (`(offset, bytes)` in the order the module lists them, each
    /// within `memory_len`), or `None` when they write nothing.
    pub(crate) fn new(segments: &[(usize, &[u8])], memory_len: usize) -> Option<MemoryImage> {
        let written = segments.iter().filter(|(_, b)| !b.is_empty());
        let start = written.clone().map(|(o, _)| *o).min()?;
        let end = written.map(|(o, b)| o + b.len()).max()?;
        if end > memory_len {
            return None;
        }
        if end - start > COPY_IMAGE_LIMIT
            && let Some(len) = round_up(end).filter(|l| *l <= memory_len)
            && let Some(fd) = Self::memfd(segments, len)
        {
            let head = head_of(segments, len);
            return Some(MemoryImage { id: next_image_id(), len, source: ImageSource::File(fd), head });
        }
        let mut bytes = vec![0u8; end - start];
        for (offset, b) in segments.iter().filter(|(_, b)| !b.is_empty()) {
            bytes[offset - start..offset - start + b.len()].copy_from_slice(b);
        }
        Some(MemoryImage {
            id: next_image_id(),
            len: end,
            source: ImageSource::Bytes { offset: start, bytes: bytes.into_boxed_slice() },
            head: head_of(segments, end),
        })
    }

    /// A mapped image of `data` (a whole memory, whose length is a multiple of the page size),
    /// writing only its non-zero pages; `None` if the host has no memfd.
    pub(crate) fn snapshot(data: &[u8]) -> Option<MemoryImage> {
        let page = page_size();
        let mut runs: Vec<(usize, &[u8])> = Vec::new();
        for (i, chunk) in data.chunks(page).enumerate() {
            if chunk.iter().all(|b| *b == 0) {
                continue;
            }
            match runs.last_mut() {
                Some((start, run)) if *start + run.len() == i * page => {
                    *run = &data[*start..*start + run.len() + chunk.len()];
                }
                _ => runs.push((i * page, chunk)),
            }
        }
        let len = round_up(data.len())?;
        let fd = Self::memfd(&runs, len)?;
        let head = head_of(&runs, len);
        Some(MemoryImage { id: next_image_id(), len, source: ImageSource::File(fd), head })
    }

    /// Unique in the process.
    pub(crate) fn id(&self) -> u64 {
        self.id
    }

    fn is_mapped(&self) -> bool {
        matches!(self.source, ImageSource::File(_))
    }

    /// A sealed memfd of `len` bytes holding `segments`; `None` if the host has no memfd.
    fn memfd(segments: &[(usize, &[u8])], len: usize) -> Option<OwnedFd> {
        // SAFETY: the name is a NUL-terminated string; the flags are valid.
        let raw =
            unsafe { libc::memfd_create(c"wes-memory-image".as_ptr(), libc::MFD_CLOEXEC | libc::MFD_ALLOW_SEALING) };
        if raw < 0 {
            return None;
        }
        // SAFETY: `raw` is a new descriptor this function owns from here on.
        let fd = unsafe { OwnedFd::from_raw_fd(raw) };
        // SAFETY: `fd` is open; `len` fits an `off_t` (it is at most a 4 GiB memory).
        if unsafe { libc::ftruncate(fd.as_raw_fd(), len as libc::off_t) } != 0 {
            return None;
        }
        for (offset, bytes) in segments {
            let mut done = 0;
            while done < bytes.len() {
                let rest = &bytes[done..];
                // SAFETY: `rest` is a live buffer of `rest.len()` bytes; the file is open.
                let n = unsafe {
                    libc::pwrite(fd.as_raw_fd(), rest.as_ptr().cast(), rest.len(), (offset + done) as libc::off_t)
                };
                if n <= 0 {
                    return None;
                }
                done += n as usize;
            }
        }
        // Sealed, so no one (not even this process by mistake) can change what instances map.
        let seals = libc::F_SEAL_SHRINK | libc::F_SEAL_GROW | libc::F_SEAL_WRITE | libc::F_SEAL_SEAL;
        // SAFETY: `fd` is an open memfd created with sealing allowed.
        if unsafe { libc::fcntl(fd.as_raw_fd(), libc::F_ADD_SEALS, seals) } != 0 {
            return None;
        }
        Some(fd)
    }
}

/// The bytes of a linear memory: a private mapping (see the module docs).
pub(crate) struct LinearMemory {
    /// The start of a mapping of `reserved` bytes, or dangling when `reserved` is 0.
    ptr: NonNull<u8>,
    /// Bytes `[0, len)` are readable and writable and hold the memory's contents.
    len: usize,
    /// Bytes `[0, reserved)` are mapped (those past `len` with `PROT_NONE`).
    reserved: usize,
    /// `(id, len)` when bytes `[0, len)` are a copy-on-write mapping of that image's file.
    mapped: Option<(u64, usize)>,
    /// No page was written since the last [`LinearMemory::scrub`]: `[0, len)` reads as the
    /// mapped image and zeroes.
    clean: bool,
}

impl std::fmt::Debug for LinearMemory {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LinearMemory").field("len", &self.len).field("reserved", &self.reserved).finish()
    }
}

// SAFETY: `LinearMemory` uniquely owns its mapping, like a `Vec<u8>` its buffer.
unsafe impl Send for LinearMemory {}
// SAFETY: shared access only reads, like a `Vec<u8>`.
unsafe impl Sync for LinearMemory {}

/// An anonymous private mapping of `len` bytes (`len > 0`), readable and writable or not.
fn map_anon(len: usize, writable: bool) -> Option<NonNull<u8>> {
    let prot = if writable { libc::PROT_READ | libc::PROT_WRITE } else { libc::PROT_NONE };
    let flags = libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_NORESERVE;
    // SAFETY: a fresh mapping at an address of the kernel's choosing touches nothing existing.
    let p = unsafe { libc::mmap(std::ptr::null_mut(), len, prot, flags, -1, 0) };
    if p == libc::MAP_FAILED { None } else { NonNull::new(p.cast()) }
}

impl LinearMemory {
    fn dangling() -> NonNull<u8> {
        // An aligned, non-null address that is never dereferenced (the length is 0).
        NonNull::<u128>::dangling().cast()
    }

    /// The bytes a memory of `len` bytes that may grow to `max` reserves: with `guard`, the
    /// guard reservation, which holds any 32-bit memory.
    pub(crate) fn reservation(len: usize, max: usize, guard: bool) -> Option<usize> {
        if guard {
            return (max.max(len) < GUARD_RESERVATION).then_some(GUARD_RESERVATION);
        }
        round_up(max.max(len))
    }

    /// The bytes reserved.
    pub(crate) fn reserved(&self) -> usize {
        self.reserved
    }

    /// The id of the image mapped at the start, if any.
    pub(crate) fn mapped_image(&self) -> Option<u64> {
        self.mapped.map(|(id, _)| id)
    }

    /// A memory of `len` bytes that may grow to `max` bytes, holding `image` (whose length
    /// must be at most `len`) and zeroes; `None` if it cannot be mapped. With `guard`, it is
    /// reserved for [`GUARD_RESERVATION`] bytes or not made at all (its code has no bounds
    /// checks of its own).
    pub(crate) fn new(len: usize, max: usize, guard: bool, image: Option<&MemoryImage>) -> Option<LinearMemory> {
        if image.is_some_and(|i| i.len > len) {
            return None;
        }
        let len_pages = round_up(len)?;
        let want = Self::reservation(len, max, guard)?;
        if want == 0 {
            return Some(LinearMemory { ptr: Self::dangling(), len: 0, reserved: 0, mapped: None, clean: false });
        }
        // Reserve the maximum with no access past the length, or, if the address space will
        // not have it, just the length (never for a guard reservation: it is the bounds check).
        let (ptr, reserved, open) = match map_anon(want, want == len_pages) {
            Some(p) => (p, want, want == len_pages),
            None if len_pages > 0 && !guard => (map_anon(len_pages, true)?, len_pages, true),
            None => return None,
        };
        let mut mem = LinearMemory { ptr, len: 0, reserved, mapped: None, clean: false };
        // SAFETY: `[ptr, ptr + len)` lies in the mapping `mem` owns (and unmaps on failure).
        if !open
            && len > 0
            && unsafe { libc::mprotect(ptr.as_ptr().cast(), len, libc::PROT_READ | libc::PROT_WRITE) } != 0
        {
            return None;
        }
        mem.len = len;
        if let Some(image) = image {
            mem.load_image(image)?;
        }
        Some(mem)
    }

    /// Puts `image` at the start of the memory, whose pages there must be untouched (zero).
    fn load_image(&mut self, image: &MemoryImage) -> Option<()> {
        self.load_image_from(image, 0)
    }

    /// [`LinearMemory::load_image`] for a memory whose first `from` bytes already hold the
    /// image (a copied image's bytes before `from` are skipped).
    fn load_image_from(&mut self, image: &MemoryImage, from: usize) -> Option<()> {
        match &image.source {
            ImageSource::File(fd) => {
                // SAFETY: `[ptr, ptr + image.len)` lies within `len` (checked by the callers)
                // in the mapping this memory owns; `MAP_FIXED` replaces exactly those pages,
                // privately (writes never reach the file).
                let p = unsafe {
                    libc::mmap(
                        self.ptr.as_ptr().cast(),
                        image.len,
                        libc::PROT_READ | libc::PROT_WRITE,
                        libc::MAP_PRIVATE | libc::MAP_FIXED,
                        fd.as_raw_fd(),
                        0,
                    )
                };
                if p == libc::MAP_FAILED {
                    return None;
                }
                self.mapped = Some((image.id, image.len));
            }
            ImageSource::Bytes { offset, bytes } => {
                let skip = from.saturating_sub(*offset).min(bytes.len());
                self.get_mut(offset + skip..offset + bytes.len())?.copy_from_slice(&bytes[skip..]);
            }
        }
        Some(())
    }

    fn get_mut(&mut self, range: std::ops::Range<usize>) -> Option<&mut [u8]> {
        std::ops::DerefMut::deref_mut(self).get_mut(range)
    }

    /// Grows to `new_len` bytes (at least the current length); `false` if the memory cannot be
    /// mapped, in which case nothing changed. Nothing is written: the new bytes are untouched
    /// pages that read as zero and cost no resident memory until wasm writes them.
    pub(crate) fn grow_to(&mut self, new_len: usize) -> bool {
        if new_len <= self.len {
            return new_len == self.len;
        }
        if new_len <= self.reserved {
            // SAFETY: `[ptr + len, ptr + new_len)` lies in the reservation this memory owns;
            // its pages were never written since they were last dropped, so they read as zero.
            let ok = unsafe {
                libc::mprotect(
                    self.ptr.as_ptr().add(self.len).cast(),
                    new_len - self.len,
                    libc::PROT_READ | libc::PROT_WRITE,
                )
            } == 0;
            if ok {
                self.len = new_len;
            }
            return ok;
        }
        // Past the reservation: move to a new mapping.
        let Some(reserved) = round_up(new_len) else { return false };
        let Some(ptr) = map_anon(reserved, true) else { return false };
        // SAFETY: both mappings are live, distinct, and at least `len` bytes long.
        unsafe { std::ptr::copy_nonoverlapping(self.ptr.as_ptr(), ptr.as_ptr(), self.len) };
        self.unmap();
        *self = LinearMemory { ptr, len: new_len, reserved, mapped: None, clean: false };
        true
    }

    /// Returns the memory to `len` bytes (at most the reservation) holding `image` and
    /// zeroes, dropping every page written since: work in proportion to the pages touched, not
    /// to the memory's size. `false` if the kernel refused, in which case the memory must not be
    /// reused.
    pub(crate) fn reset(&mut self, len: usize, image: Option<&MemoryImage>) -> bool {
        if len > self.reserved || image.is_some_and(|i| i.len > len) {
            return false;
        }
        let same_image = match (image, self.mapped) {
            (Some(i), Some((id, _))) => i.id == id,
            (Some(i), None) => !i.is_mapped(),
            (None, mapped) => mapped.is_none(),
        };
        let clean = std::mem::take(&mut self.clean);
        let head_copied = same_image && !clean;
        if head_copied {
            // The same contents go back: copy the first bytes back in place (pages stay
            // resident), drop the pages past them.
            let keep = KEEP_RESIDENT.min(self.len).min(len);
            let head = image.map_or(&[][..], |i| &i.head[..i.head.len().min(keep)]);
            let memory = std::ops::DerefMut::deref_mut(self);
            restore(&mut memory[..keep], head);
            if !self.drop_pages_from(keep) {
                return false;
            }
        } else if !clean && !self.drop_pages_from(0) {
            return false;
        }
        if self.len > len {
            // SAFETY: `[ptr + len, ptr + self.len)` lies in the reservation; it was just dropped.
            if unsafe { libc::mprotect(self.ptr.as_ptr().add(len).cast(), self.len - len, libc::PROT_NONE) } != 0 {
                return false;
            }
            self.len = len;
        } else if self.len < len && !self.grow_to(len) {
            return false;
        }
        if same_image && image.is_none_or(MemoryImage::is_mapped) {
            return true;
        }
        if head_copied && self.len == len {
            // A copied image whose first bytes were just copied back: the rest of it too.
            return image.is_none_or(|i| self.load_image_from(i, KEEP_RESIDENT).is_some());
        }
        if let Some((_, mapped_len)) = self.mapped {
            // Another image is mapped: back to anonymous zero pages before loading this one,
            // accessible only up to the length. The image may reach past it (it was mapped when
            // the memory was longer), and those pages must stay inaccessible: for code that
            // leaves bounds to guard regions, they are the bounds check.
            let flags = libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_FIXED | libc::MAP_NORESERVE;
            let open = mapped_len.min(self.len);
            for (from, to, prot) in [(0, open, libc::PROT_READ | libc::PROT_WRITE), (open, mapped_len, libc::PROT_NONE)]
            {
                if from == to {
                    continue;
                }
                // SAFETY: `[ptr + from, ptr + to)` lies in `[ptr, ptr + mapped_len)`, in the
                // mapping this memory owns (an image was mapped there); `MAP_FIXED` replaces
                // exactly those pages.
                let p = unsafe { libc::mmap(self.ptr.as_ptr().add(from).cast(), to - from, prot, flags, -1, 0) };
                if p == libc::MAP_FAILED {
                    return false;
                }
            }
            self.mapped = None;
        }
        image.is_none_or(|i| self.load_image(i).is_some())
    }

    /// Drops every page written since the memory was made or last reset, so that it holds only
    /// its mapped image and zeroes (for keeping it for another store). `false` if the kernel
    /// refused.
    pub(crate) fn scrub(&mut self) -> bool {
        if self.mapped.is_none() && self.len <= KEEP_RESIDENT {
            // A small memory with no image mapped over it is zeroed in place (every page it
            // was written through lies below its length): its pages stay resident, so neither
            // this store's drop nor the next store's image copy enters the kernel. On the
            // 2-vCPU machine of `docs/benchmarks.md` the `madvise` and the page fault it caused
            // were half of a fresh contract instance's time, and on two threads each `madvise`
            // also interrupted the other CPU to flush its TLB.
            restore(std::ops::DerefMut::deref_mut(self), &[]);
            self.clean = true;
            return true;
        }
        self.clean = self.drop_pages_from(0);
        self.clean
    }

    /// Drops the pages of `[from, len)` (`from` a multiple of the page size).
    fn drop_pages_from(&mut self, from: usize) -> bool {
        if self.len <= from {
            return true;
        }
        // SAFETY: `[ptr + from, ptr + len)` is mapped by this memory; after `DONTNEED` its
        // private pages are gone and reads see the mapped file (an image) or zeroes.
        unsafe { libc::madvise(self.ptr.as_ptr().add(from).cast(), self.len - from, libc::MADV_DONTNEED) == 0 }
    }

    /// Maps `image`, a [`MemoryImage::snapshot`] of this memory's current contents, over it,
    /// so that [`LinearMemory::reset`] can return to these contents. Nothing observable changes.
    pub(crate) fn adopt(&mut self, image: &MemoryImage) -> bool {
        image.is_mapped() && image.len <= self.len && self.load_image(image).is_some()
    }

    fn unmap(&mut self) {
        if self.reserved > 0 {
            // SAFETY: the mapping of `reserved` bytes at `ptr` is owned by this memory and
            // unmapped once (the fields are reset right after).
            unsafe { libc::munmap(self.ptr.as_ptr().cast(), self.reserved) };
        }
        self.ptr = Self::dangling();
        self.len = 0;
        self.reserved = 0;
        self.mapped = None;
    }

    /// The base address (stable until a grow past the reservation).
    pub(crate) fn as_mut_ptr(&mut self) -> *mut u8 {
        self.ptr.as_ptr()
    }
}

impl std::ops::Deref for LinearMemory {
    type Target = [u8];

    fn deref(&self) -> &[u8] {
        // SAFETY: `[ptr, ptr + len)` is mapped readable and owned by `self` (or `ptr` is
        // dangling and aligned with `len == 0`).
        unsafe { std::slice::from_raw_parts(self.ptr.as_ptr(), self.len) }
    }
}

impl std::ops::DerefMut for LinearMemory {
    fn deref_mut(&mut self) -> &mut [u8] {
        // SAFETY: as for `deref`, writable, and `&mut self` makes this the only access.
        unsafe { std::slice::from_raw_parts_mut(self.ptr.as_ptr(), self.len) }
    }
}

impl Drop for LinearMemory {
    fn drop(&mut self) {
        self.unmap();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn restore_rewrites_exactly_the_head_and_zeroes_whatever_was_written() {
        let head: Vec<u8> = (0..5000u32).map(|i| (i % 251) as u8 + 1).collect();
        // A byte changed in the head, at a block edge, at the end; the head untouched with
        // the zeroes written; everything written.
        let writes: [&[usize]; 5] = [&[17], &[4095, 4096], &[65535], &[5000, 9000], &[]];
        for (case, at) in writes.iter().enumerate() {
            let mut memory = vec![0u8; 65536];
            memory[..head.len()].copy_from_slice(&head);
            for &i in *at {
                memory[i] ^= 0x5a;
            }
            if case == 4 {
                memory.fill(0xff);
            }
            restore(&mut memory, &head);
            assert_eq!(&memory[..head.len()], &head[..], "case {case}");
            assert!(memory[head.len()..].iter().all(|&b| b == 0), "case {case}");
        }
        let mut odd = vec![7u8; 4096 * 3 + 5];
        restore(&mut odd, &[]);
        assert!(odd.iter().all(|&b| b == 0));
        assert!(is_zero(&odd) && is_zero_portable(&odd));
        odd[4096 * 3 + 4] = 1;
        assert!(!is_zero(&odd) && !is_zero_portable(&odd));
    }

    /// Every build of the zero test this CPU can run, on every length up to past two 256-byte
    /// blocks and a partial one, zero and with one byte set at each position (where the wide
    /// builds' overlapping tail load and block edges fall).
    #[test]
    fn every_zero_test_finds_any_byte() {
        type ZeroTest = fn(&[u8]) -> bool;
        let mut tests: Vec<(&str, ZeroTest)> = vec![("portable", is_zero_portable), ("dispatch", is_zero)];
        #[cfg(target_arch = "x86_64")]
        {
            if std::is_x86_feature_detected!("avx2") {
                // SAFETY: the CPU has AVX2.
                tests.push(("avx2", |b| unsafe { is_zero_avx2(b) }));
            }
            if std::is_x86_feature_detected!("avx512f") {
                // SAFETY: the CPU has AVX-512F.
                tests.push(("avx512", |b| unsafe { is_zero_avx512(b) }));
            }
        }
        let mut buf = vec![0u8; 700];
        for len in 0..buf.len() {
            // Slices starting at an odd offset too: the loads are unaligned.
            for start in [0, 1] {
                let end = (start + len).min(buf.len());
                for (name, test) in &tests {
                    assert!(test(&buf[start..end]), "{name}: zero, {start}..{end}");
                }
                for at in start..end {
                    buf[at] = 0x80;
                    for (name, test) in &tests {
                        assert!(!test(&buf[start..end]), "{name}: byte {at} of {start}..{end}");
                    }
                    buf[at] = 0;
                }
            }
        }
    }
}
