//! [`ArtifactCache`]: compiled modules of one engine, kept in memory (a least-recently-used set
//! bounded by bytes) and optionally in a directory shared with other processes.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, PoisonError};

use sha2::{Digest, Sha256};
use wes_core::CodeFingerprint;
use wes_decode::Decoder;
use wes_runtime::{Engine, Module};

use crate::artifact::{self, Artifact, ArtifactError, FORMAT_VERSION, WES_VERSION, hex, module_hash};
use crate::disk::DiskCache;
use crate::{CacheError, CacheStats};

/// Where a loaded module came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Source {
    /// The in-memory cache: nothing was read, validated or mapped.
    Memory,
    /// An artifact from the directory, checked, its module validated again, its code mapped.
    Disk,
    /// Compiled now (and stored).
    Compiled,
}

/// Settings of an [`ArtifactCache`].
#[derive(Clone, Debug)]
pub struct CacheConfig {
    /// The most bytes of compiled code and wasm the in-memory cache keeps; the least recently
    /// used module goes first. `0` keeps nothing in memory.
    pub memory_bytes: u64,
    /// The most bytes of artifacts the directory keeps (a directory only); the least recently
    /// used artifacts are deleted after a write that goes past it.
    pub disk_bytes: u64,
}

impl Default for CacheConfig {
    fn default() -> Self {
        CacheConfig { memory_bytes: 256 << 20, disk_bytes: 1 << 30 }
    }
}

/// Compiled modules of one engine, by the SHA-256 of their wasm bytes, in memory and
/// optionally on disk. `Send + Sync`: share it between threads.
///
/// The key of a module is the SHA-256 of its wasm bytes, the WES version, the artifact format,
/// the backend's [`CodeFingerprint`] (its name, every setting that changes the code, the
/// pricing table's hash, the target and the CPU features the code may use) and the engine's
/// pricing hash. A module is always validated again from the bytes the caller passes when its
/// code comes from disk; from memory, it is the module validated when it was first loaded.
#[derive(Debug)]
pub struct ArtifactCache {
    engine: Engine,
    decoder: Decoder,
    fingerprint: CodeFingerprint,
    /// SHA-256 of everything in the key but the module: computed once.
    engine_key: [u8; 32],
    memory: Mutex<Lru>,
    memory_cap: u64,
    disk: Option<DiskCache>,
    counts: Counts,
    last_rejection: Mutex<Option<CacheError>>,
}

#[derive(Debug, Default)]
struct Counts {
    memory_hits: AtomicU64,
    disk_hits: AtomicU64,
    compiled: AtomicU64,
    rejected: AtomicU64,
    memory_evicted: AtomicU64,
    disk_evicted: AtomicU64,
    disk_errors: AtomicU64,
}

/// The in-memory set: modules by module hash, and their last use in order.
#[derive(Debug, Default)]
struct Lru {
    entries: HashMap<[u8; 32], (Module, u64, u64)>,
    by_use: BTreeMap<u64, [u8; 32]>,
    tick: u64,
    bytes: u64,
}

impl Lru {
    fn get(&mut self, hash: &[u8; 32]) -> Option<Module> {
        self.tick += 1;
        let tick = self.tick;
        let (module, _, used) = self.entries.get_mut(hash)?;
        self.by_use.remove(used);
        *used = tick;
        self.by_use.insert(tick, *hash);
        Some(module.clone())
    }

    /// Inserts, then evicts the least recently used until within `cap`; returns how many went.
    fn insert(&mut self, hash: [u8; 32], module: Module, size: u64, cap: u64) -> u64 {
        if size > cap {
            return 0;
        }
        self.tick += 1;
        if let Some((_, old_size, used)) = self.entries.insert(hash, (module, size, self.tick)) {
            self.by_use.remove(&used);
            self.bytes -= old_size;
        }
        self.by_use.insert(self.tick, hash);
        self.bytes += size;
        let mut evicted = 0;
        while self.bytes > cap {
            let Some((_, victim)) = self.by_use.pop_first() else { break };
            if let Some((_, s, _)) = self.entries.remove(&victim) {
                self.bytes -= s;
                evicted += 1;
            }
        }
        evicted
    }
}

impl ArtifactCache {
    /// A cache in memory only, for modules of `engine`, validated with `decoder`.
    ///
    /// # Errors
    ///
    /// [`ArtifactError::Unsupported`] when the engine's backend cannot serialise its code.
    pub fn new(engine: &Engine, decoder: Decoder, config: &CacheConfig) -> Result<ArtifactCache, CacheError> {
        ArtifactCache::build(engine, decoder, config, None)
    }

    /// A cache in memory and in `dir` (created if needed), which other processes may share.
    ///
    /// # Safety
    ///
    /// Code read from `dir` is run after the checks of [`artifact::load`] (checksum, versions,
    /// backend, CPU, module hash), which detect corruption, not forgery: only processes the
    /// caller trusts may write to `dir`.
    ///
    /// # Errors
    ///
    /// As [`ArtifactCache::new`], and [`CacheError::Io`] when the directory or its lock file
    /// cannot be made.
    pub unsafe fn with_directory(
        engine: &Engine,
        decoder: Decoder,
        config: &CacheConfig,
        dir: &Path,
    ) -> Result<ArtifactCache, CacheError> {
        let disk = DiskCache::open(dir, config.disk_bytes)?;
        ArtifactCache::build(engine, decoder, config, Some(disk))
    }

    fn build(
        engine: &Engine,
        decoder: Decoder,
        config: &CacheConfig,
        disk: Option<DiskCache>,
    ) -> Result<ArtifactCache, CacheError> {
        let backend = engine.backend();
        let fingerprint = backend.fingerprint().ok_or_else(|| ArtifactError::Unsupported(backend.name().into()))?;
        let mut h = Sha256::new();
        h.update(b"wes-cache key\0");
        h.update(FORMAT_VERSION.to_le_bytes());
        for s in [WES_VERSION, &fingerprint.backend, &fingerprint.config, &fingerprint.target] {
            h.update((s.len() as u64).to_le_bytes());
            h.update(s.as_bytes());
        }
        match &engine.config().pricing {
            Some(p) => {
                h.update([1]);
                h.update(p.hash());
            }
            None => h.update([0]),
        }
        Ok(ArtifactCache {
            engine: engine.clone(),
            decoder,
            fingerprint,
            engine_key: h.finalize().into(),
            memory: Mutex::new(Lru::default()),
            memory_cap: config.memory_bytes,
            disk,
            counts: Counts::default(),
            last_rejection: Mutex::new(None),
        })
    }

    /// The engine whose modules this cache holds.
    pub fn engine(&self) -> &Engine {
        &self.engine
    }

    /// The cache key of the module whose wasm bytes hash to `module_hash`, as 64 hex digits
    /// (the artifact's file name in the directory).
    pub fn key(&self, module_hash: &[u8; 32]) -> String {
        let mut h = Sha256::new();
        h.update(self.engine_key);
        h.update(module_hash);
        hex(&h.finalize())
    }

    /// The compiled module for `wasm`: from memory, else from the directory, else compiled
    /// (and stored in both).
    ///
    /// # Errors
    ///
    /// [`CacheError::Decode`] when the bytes do not validate, [`CacheError::Runtime`] when they
    /// do not compile. Neither a bad artifact nor a directory that cannot be read or written is
    /// an error: a bad artifact is counted, recorded ([`ArtifactCache::last_rejection`]),
    /// deleted and recompiled; a failed read or write is counted in
    /// [`CacheStats::disk_errors`](crate::CacheStats::disk_errors).
    pub fn load(&self, wasm: &[u8]) -> Result<(Module, Source), CacheError> {
        self.load_hashed(wasm, module_hash(wasm))
    }

    /// As [`ArtifactCache::load`], with the SHA-256 of `wasm` already computed (a node that
    /// names contracts by their code hash has it), which makes a memory hit a map lookup.
    ///
    /// `module_hash` must be the SHA-256 of `wasm`; a wrong one can only return the module
    /// that hash was loaded for, or store `wasm`'s code under it.
    ///
    /// # Errors
    ///
    /// As [`ArtifactCache::load`].
    pub fn load_hashed(&self, wasm: &[u8], module_hash: [u8; 32]) -> Result<(Module, Source), CacheError> {
        if let Some(m) = self.get(&module_hash) {
            return Ok((m, Source::Memory));
        }
        let Some(disk) = &self.disk else {
            let module = self.compile(wasm, module_hash, None)?;
            return Ok((module, Source::Compiled));
        };
        let key = self.key(&module_hash);
        if let Some(m) = self.try_disk(disk, &key, wasm, module_hash)? {
            return Ok((m, Source::Disk));
        }
        // One process compiles a key at a time; whoever waited finds the artifact written. A
        // directory that cannot hold the lock only costs the work the lock would save.
        let _compiling = disk.lock_key(&key).map_err(|_| self.counts.disk_errors.fetch_add(1, Ordering::Relaxed)).ok();
        if let Some(m) = self.try_disk(disk, &key, wasm, module_hash)? {
            return Ok((m, Source::Disk));
        }
        let module = self.compile(wasm, module_hash, Some((disk, &key)))?;
        Ok((module, Source::Compiled))
    }

    /// The module loaded for `module_hash`, if the in-memory cache has it.
    pub fn get(&self, module_hash: &[u8; 32]) -> Option<Module> {
        let m = self.memory.lock().unwrap_or_else(PoisonError::into_inner).get(module_hash)?;
        self.counts.memory_hits.fetch_add(1, Ordering::Relaxed);
        Some(m)
    }

    /// Counts since the cache was made.
    pub fn stats(&self) -> CacheStats {
        let c = &self.counts;
        let get = |a: &AtomicU64| a.load(Ordering::Relaxed);
        let memory = self.memory.lock().unwrap_or_else(PoisonError::into_inner);
        CacheStats {
            memory_hits: get(&c.memory_hits),
            disk_hits: get(&c.disk_hits),
            compiled: get(&c.compiled),
            rejected: get(&c.rejected),
            memory_evicted: get(&c.memory_evicted),
            disk_evicted: get(&c.disk_evicted),
            disk_errors: get(&c.disk_errors),
            memory_modules: memory.entries.len() as u64,
            memory_bytes: memory.bytes,
        }
    }

    /// Why the last artifact from the directory was refused, if one was.
    pub fn last_rejection(&self) -> Option<String> {
        self.last_rejection.lock().unwrap_or_else(PoisonError::into_inner).as_ref().map(ToString::to_string)
    }

    /// The last refusal itself (typed), taken out of the cache.
    pub fn take_last_rejection(&self) -> Option<CacheError> {
        self.last_rejection.lock().unwrap_or_else(PoisonError::into_inner).take()
    }

    /// The artifact in the directory under `key`, checked and loaded, or `None` when there is
    /// none or it is refused (then it is deleted).
    fn try_disk(
        &self,
        disk: &DiskCache,
        key: &str,
        wasm: &[u8],
        module_hash: [u8; 32],
    ) -> Result<Option<Module>, CacheError> {
        let bytes = match disk.read(key) {
            Ok(Some(b)) => b,
            Ok(None) => return Ok(None),
            Err(_) => {
                self.counts.disk_errors.fetch_add(1, Ordering::Relaxed);
                return Ok(None);
            }
        };
        let checked = Artifact::decode(&bytes).and_then(|a| {
            a.check_against(&self.fingerprint, Some(module_hash))?;
            Ok(a)
        });
        let artifact = match checked {
            Ok(a) => a,
            Err(e) => {
                self.reject(disk, key, e.into());
                return Ok(None);
            }
        };
        // SAFETY: the directory is trusted (`with_directory`'s contract) and the artifact was
        // checked for this engine's fingerprint and for exactly these wasm bytes above.
        match unsafe { artifact::load_checked(&self.engine, &self.decoder, wasm, &artifact) } {
            Ok(m) => {
                self.counts.disk_hits.fetch_add(1, Ordering::Relaxed);
                self.remember(module_hash, &m, artifact.payload.len() + wasm.len());
                Ok(Some(m))
            }
            // The wasm itself is invalid: that is the caller's error, not the artifact's.
            Err(e @ CacheError::Decode(_)) => Err(e),
            Err(e) => {
                self.reject(disk, key, e);
                Ok(None)
            }
        }
    }

    fn reject(&self, disk: &DiskCache, key: &str, why: CacheError) {
        self.counts.rejected.fetch_add(1, Ordering::Relaxed);
        disk.remove(key);
        *self.last_rejection.lock().unwrap_or_else(PoisonError::into_inner) = Some(why);
    }

    fn compile(
        &self,
        wasm: &[u8],
        module_hash: [u8; 32],
        disk: Option<(&DiskCache, &str)>,
    ) -> Result<Module, CacheError> {
        let module = Module::new(&self.engine, self.decoder.decode(wasm)?)?;
        self.counts.compiled.fetch_add(1, Ordering::Relaxed);
        let artifact = Artifact::new(&self.engine, &self.decoder, &module, wasm, false)?;
        if let Some((disk, key)) = disk {
            match disk.write(key, &artifact.encode()) {
                Ok(e) => {
                    self.counts.disk_evicted.fetch_add(e.files, Ordering::Relaxed);
                }
                Err(_) => {
                    self.counts.disk_errors.fetch_add(1, Ordering::Relaxed);
                }
            }
        }
        self.remember(module_hash, &module, artifact.payload.len() + wasm.len());
        Ok(module)
    }

    fn remember(&self, module_hash: [u8; 32], module: &Module, size: usize) {
        let evicted = self.memory.lock().unwrap_or_else(PoisonError::into_inner).insert(
            module_hash,
            module.clone(),
            size as u64,
            self.memory_cap,
        );
        self.counts.memory_evicted.fetch_add(evicted, Ordering::Relaxed);
    }

    /// The directory, if the cache has one.
    pub fn directory(&self) -> Option<&Path> {
        self.disk.as_ref().map(DiskCache::dir)
    }
}

// Shared between threads by design.
const _: () = {
    const fn is_send_sync<T: Send + Sync>() {}
    is_send_sync::<ArtifactCache>();
};
