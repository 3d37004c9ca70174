//! Reference counts that stay on one core, for shared objects that must still be dropped as
//! soon as nobody uses them.
//!
//! A store holding a host function, or a lease holding its pool, clones an `Arc` and drops it
//! again: an atomic add and subtract per store (per lease) on a line that every thread doing
//! the same writes. On two threads that line moves between the cores twice per round. Here a
//! dropped clone becomes this thread's *spare* instead of decrementing, and the next clone of
//! the same object on this thread takes it back: no atomic read-modify-write on a shared line
//! in a steady state of one store (lease) after another.
//!
//! Unlike a cache that frees when convenient, these spares never keep an object alive past
//! its users. An object counts its *handles* ([`Handles`]: the embedder-facing values it is
//! reached through, such as a `HostFunc` or an `InstancePool`, whose clones are rare); a clone
//! is kept as a spare only while a handle exists, and when the last handle goes,
//! [`Spares::purge`] takes the spares of it from every thread, so the object is dropped with its
//! last real user, as with plain `Arc`s. Each thread's spares are behind a mutex that only that
//! thread locks in a steady state (uncontended: its line stays on that core), so that a purge
//! can reach them from any thread.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError, Weak};
use std::thread::LocalKey;

/// An object whose clones may be kept as spares: it counts its handles.
pub trait Handles {
    /// How many handles of the object exist. Incremented when a handle is made or cloned,
    /// decremented when one is dropped; the drop that takes it to zero must call
    /// [`Spares::purge`].
    fn handles(&self) -> &AtomicUsize;
}

/// One thread's spares of objects of type `T`.
pub type List<T> = Mutex<Vec<Arc<T>>>;

/// The spares of objects of type `T`, on every thread: a `static`, paired with the
/// thread-local list of each thread, which is made by [`Spares::register`]:
///
/// ```
/// use std::sync::Arc;
/// use std::sync::atomic::AtomicUsize;
/// use wes_core::spare::{Handles, List, Spares};
///
/// struct Shared { handles: AtomicUsize }
/// impl Handles for Shared {
///     fn handles(&self) -> &AtomicUsize { &self.handles }
/// }
/// thread_local! { static KEPT: Arc<List<Shared>> = SPARES.register(); }
/// static SPARES: Spares<Shared> = Spares::new(&KEPT, 4);
///
/// let shared = Arc::new(Shared { handles: AtomicUsize::new(1) });
/// let user = SPARES.clone(&shared);
/// SPARES.release(user); // kept: a handle exists
/// assert_eq!(Arc::strong_count(&shared), 2);
/// let user = SPARES.clone(&shared); // the spare, no new count
/// assert_eq!(Arc::strong_count(&shared), 2);
/// SPARES.release(user);
/// // The last handle goes: its spares go with it.
/// SPARES.drop_handle(&shared);
/// assert_eq!(Arc::strong_count(&shared), 1);
/// ```
pub struct Spares<T: ?Sized + 'static> {
    local: &'static LocalKey<Arc<List<T>>>,
    /// Every thread's list (those of ended threads are dropped when next seen).
    all: Mutex<Vec<Weak<List<T>>>>,
    /// How many spares a thread keeps, the oldest given back first.
    keep: usize,
}

impl<T: ?Sized + 'static> std::fmt::Debug for Spares<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Spares").field("keep", &self.keep).finish_non_exhaustive()
    }
}

impl<T: ?Sized + Handles + Send + Sync + 'static> Spares<T> {
    /// Spares kept in `local`, at most `keep` per thread.
    pub const fn new(local: &'static LocalKey<Arc<List<T>>>, keep: usize) -> Self {
        Spares { local, all: Mutex::new(Vec::new()), keep }
    }

    /// A new thread's list, known to [`Spares::purge`]: the initialiser of the thread-local.
    pub fn register(&self) -> Arc<List<T>> {
        let list = Arc::new(Mutex::new(Vec::new()));
        let mut all = self.all.lock().unwrap_or_else(PoisonError::into_inner);
        all.retain(|l| l.strong_count() > 0);
        all.push(Arc::downgrade(&list));
        list
    }

    /// A new handle of the object: the handle count incremented, and a plain clone (handles
    /// are made rarely: a linker definition, a pool handed out).
    pub fn clone_handle(arc: &Arc<T>) -> Arc<T> {
        arc.handles().fetch_add(1, Ordering::Relaxed);
        Arc::clone(arc)
    }

    /// A handle of the object is being dropped (the caller drops its `Arc` after): the count
    /// decremented, and when that was the last handle, every thread's spares of the object
    /// taken ([`Spares::purge`]). The decrement comes first, as [`Spares::release`] relies on.
    pub fn drop_handle(&self, arc: &Arc<T>) {
        if arc.handles().fetch_sub(1, Ordering::SeqCst) == 1 {
            self.purge(arc);
        }
    }

    /// A clone of `arc` for a user: this thread's spare of the object if it has one, else
    /// `Arc::clone`. The caller reaches the object through a handle (or a user holding one).
    pub fn clone(&self, arc: &Arc<T>) -> Arc<T> {
        let spare = self
            .local
            .try_with(|kept| {
                let mut kept = kept.lock().unwrap_or_else(PoisonError::into_inner);
                let i = kept.iter().rposition(|k| Arc::ptr_eq(k, arc))?;
                Some(kept.swap_remove(i))
            })
            .ok()
            .flatten();
        spare.unwrap_or_else(|| Arc::clone(arc))
    }

    /// Gives a user's clone back: kept as this thread's spare while a handle of the object
    /// exists, else dropped (decremented) at once.
    ///
    /// Kept means pushed under this thread's lock and the handle count read again after the
    /// push, still under it. A purge decrements the count before it takes the lock, so either
    /// this reads zero and drops the clone itself, or the purge finds it in the list.
    pub fn release(&self, arc: Arc<T>) {
        if arc.handles().load(Ordering::SeqCst) == 0 {
            return;
        }
        let mut arc = Some(arc);
        // Dropped outside the lock: a last reference runs the object's destructor, which may
        // release or purge other objects.
        let dropped = self
            .local
            .try_with(|kept| {
                let mut kept = kept.lock().unwrap_or_else(PoisonError::into_inner);
                let mut dropped = Vec::new();
                if kept.len() >= self.keep {
                    dropped.push(kept.remove(0));
                }
                if let Some(a) = arc.take() {
                    match a.handles().load(Ordering::SeqCst) {
                        0 => dropped.push(a),
                        _ => kept.push(a),
                    }
                }
                dropped
            })
            .unwrap_or_default();
        drop(dropped);
        drop(arc);
    }

    /// Takes every thread's spares of `arc`, whose last handle has just gone (its count is
    /// zero): the users still holding it keep it alive, and the last of them drops it.
    pub fn purge(&self, arc: &Arc<T>) {
        let all: Vec<Arc<List<T>>> = {
            let all = self.all.lock().unwrap_or_else(PoisonError::into_inner);
            all.iter().filter_map(Weak::upgrade).collect()
        };
        let mut dropped = Vec::new();
        for list in &all {
            let mut list = list.lock().unwrap_or_else(PoisonError::into_inner);
            let mut i = 0;
            while i < list.len() {
                match Arc::ptr_eq(&list[i], arc) {
                    true => dropped.push(list.swap_remove(i)),
                    false => i += 1,
                }
            }
        }
        drop(dropped);
    }
}
