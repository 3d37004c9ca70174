//! A directory of artifacts that several processes share.
//!
//! ```text
//!   DIR/.lock            shared by every read and write, exclusive while evicting
//!   DIR/<key>.cwasm      one artifact per key (64 hex digits), written whole or not at all
//!   DIR/<key>.lock       held exclusively while one process compiles that key
//!   DIR/.tmp-*           a write in progress (or a crashed writer's, removed when old)
//! ```
//!
//! - **Atomic writes.** An artifact is written to a temporary file in the directory, synced,
//!   then renamed over its name: a reader sees the old file, the new one, or none, never a part.
//! - **Locks** (`flock`-style advisory locks, through the standard library's `File::lock`
//!   family, so no dependency): readers and writers hold `.lock` shared for the moment they
//!   read or rename; eviction holds it exclusively, so it never deletes a file between another
//!   process's choice and its read. A process about to compile a key holds `<key>.lock`
//!   exclusively, and looks for the artifact again once it has it: of several processes
//!   wanting the same module at once, one compiles and the others load its artifact.
//!   Correctness never rests on the per-key lock (a lost race compiles twice and renames the
//!   same bytes), only the work saved does.
//! - **Size cap.** After a write, while the artifacts' total size is over the cap, the least
//!   recently used (by modification time, which a hit refreshes) is deleted.
//!
//! Nothing read from the directory is trusted for more than the checks of
//! [`crate::artifact`] allow: a bad file is a miss, which recompiles and overwrites it.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime};

use crate::CacheError;

/// Temporary files older than this are a crashed writer's and are removed when evicting.
const STALE_TEMP: Duration = Duration::from_secs(600);

static TEMP_COUNTER: AtomicU64 = AtomicU64::new(0);

/// An artifact directory with a size cap.
#[derive(Debug)]
pub(crate) struct DiskCache {
    dir: PathBuf,
    max_bytes: u64,
}

/// What an eviction pass removed.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct Evicted {
    pub(crate) files: u64,
    pub(crate) bytes: u64,
}

fn io_err<'a>(what: &'static str, path: &'a Path) -> impl FnOnce(io::Error) -> CacheError + 'a {
    move |source| CacheError::Io { what, path: path.to_path_buf(), source }
}

impl DiskCache {
    /// Opens (creating if needed) `dir`.
    pub(crate) fn open(dir: &Path, max_bytes: u64) -> Result<DiskCache, CacheError> {
        fs::create_dir_all(dir).map_err(io_err("creating the cache directory", dir))?;
        let cache = DiskCache { dir: dir.to_path_buf(), max_bytes };
        // Fail now rather than at the first load if the lock file cannot be made.
        cache.dir_lock()?;
        Ok(cache)
    }

    pub(crate) fn dir(&self) -> &Path {
        &self.dir
    }

    fn dir_lock(&self) -> Result<File, CacheError> {
        let path = self.dir.join(".lock");
        OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .map_err(io_err("opening the cache lock", &path))
    }

    fn path(&self, key: &str) -> PathBuf {
        self.dir.join(format!("{key}.cwasm"))
    }

    /// The artifact stored under `key`, if there is one; a hit marks it recently used.
    pub(crate) fn read(&self, key: &str) -> Result<Option<Vec<u8>>, CacheError> {
        let lock = self.dir_lock()?;
        let path = self.path(key);
        lock.lock_shared().map_err(io_err("locking the cache (shared)", &path))?;
        let mut file = match File::open(&path) {
            Ok(f) => f,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(io_err("opening an artifact", &path)(e)),
        };
        let mut bytes = Vec::new();
        file.read_to_end(&mut bytes).map_err(io_err("reading an artifact", &path))?;
        // Recently used, for eviction. A failure (a read-only directory) only weakens the LRU.
        let _ = File::options().write(true).open(&path).and_then(|f| f.set_modified(SystemTime::now()));
        drop(lock);
        Ok(Some(bytes))
    }

    /// Stores `bytes` under `key` atomically, then evicts down to the cap.
    pub(crate) fn write(&self, key: &str, bytes: &[u8]) -> Result<Evicted, CacheError> {
        let path = self.path(key);
        let n = TEMP_COUNTER.fetch_add(1, Ordering::Relaxed);
        let temp = self.dir.join(format!(".tmp-{}-{n}-{key}", std::process::id()));
        {
            let mut file = File::create(&temp).map_err(io_err("creating a temporary artifact", &temp))?;
            let written = file.write_all(bytes).and_then(|()| file.sync_all());
            if let Err(e) = written {
                let _ = fs::remove_file(&temp);
                return Err(io_err("writing a temporary artifact", &temp)(e));
            }
        }
        let lock = self.dir_lock()?;
        lock.lock_shared().map_err(io_err("locking the cache (shared)", &path))?;
        let renamed = fs::rename(&temp, &path);
        drop(lock);
        if let Err(e) = renamed {
            let _ = fs::remove_file(&temp);
            return Err(io_err("renaming an artifact into place", &path)(e));
        }
        self.evict()
    }

    /// Removes a file that failed its checks (it is recompiled and written again).
    pub(crate) fn remove(&self, key: &str) {
        let Ok(lock) = self.dir_lock() else { return };
        if lock.lock_shared().is_ok() {
            let _ = fs::remove_file(self.path(key));
        }
    }

    /// Holds `<key>.lock` exclusively until the returned file is dropped.
    pub(crate) fn lock_key(&self, key: &str) -> Result<File, CacheError> {
        let path = self.dir.join(format!("{key}.lock"));
        let file = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .map_err(io_err("opening a compile lock", &path))?;
        file.lock().map_err(io_err("locking a compile lock", &path))?;
        Ok(file)
    }

    /// Deletes least recently used artifacts until their total is within the cap.
    pub(crate) fn evict(&self) -> Result<Evicted, CacheError> {
        let lock = self.dir_lock()?;
        lock.lock().map_err(io_err("locking the cache (exclusive)", &self.dir))?;
        let mut artifacts = Vec::new();
        let mut total = 0u64;
        let entries = fs::read_dir(&self.dir).map_err(io_err("listing the cache directory", &self.dir))?;
        let now = SystemTime::now();
        for entry in entries.flatten() {
            let name = entry.file_name();
            let name = name.to_string_lossy();
            let Ok(meta) = entry.metadata() else { continue };
            let modified = meta.modified().unwrap_or(SystemTime::UNIX_EPOCH);
            if name.starts_with(".tmp-") {
                if now.duration_since(modified).is_ok_and(|age| age > STALE_TEMP) {
                    let _ = fs::remove_file(entry.path());
                }
            } else if name.ends_with(".cwasm") {
                total += meta.len();
                artifacts.push((modified, meta.len(), entry.path()));
            }
        }
        let mut evicted = Evicted::default();
        if total <= self.max_bytes {
            return Ok(evicted);
        }
        artifacts.sort();
        for (_, len, path) in artifacts {
            if total <= self.max_bytes {
                break;
            }
            if fs::remove_file(&path).is_ok() {
                total -= len;
                evicted.files += 1;
                evicted.bytes += len;
                // Its compile lock (an empty file) goes too. Should a process be compiling
                // that key right now, another may compile it again: more work, never a wrong
                // result.
                let _ = fs::remove_file(path.with_extension("lock"));
            }
        }
        drop(lock);
        Ok(evicted)
    }
}
