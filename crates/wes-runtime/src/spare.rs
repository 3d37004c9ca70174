//! Reference counts that stay on one core: clones of the engine's and a module's shared parts,
//! kept per thread between the stores (and instances) that hold them.
//!
//! A fresh store clones the engine's `Arc` and each instance its module's plan, and dropping
//! them gives the counts back: four atomic read-modify-writes per round on lines that every
//! thread making stores of that engine and module writes. On two threads that traffic was most
//! of what the second thread added to a round (see `docs/benchmarks.md`). Here a dropped clone
//! goes to this thread's spares instead of decrementing, and the next clone of the same object
//! on this thread takes it back: no atomic operation in a steady state of one store after
//! another. A clone moved to another thread and dropped there joins that thread's spares; it
//! is a plain `Arc` either way.
//!
//! The price: an object outlives its last user by as long as a spare of it is kept, at most
//! [`SPARES`] per thread, the oldest given back (decremented) first when more come, and all of
//! them when the thread ends.
//!
//! Host functions are the exception to that price: their data holds the embedder's closure,
//! whose captures (a channel, a connection) must go when the embedder is done with it, not
//! when some worker thread next makes a store. A store's reference to a host function's data
//! ([`HOST_SPARES`], `wes_core::spare`) is kept as a spare only while a [`HostFunc`] handle
//! of the function exists, in a per-thread list that other threads can reach: when the last
//! handle goes, every thread's spares of the function are taken, so the function is dropped
//! with its last store, as without spares.
//!
//! [`HostFunc`]: crate::HostFunc

use std::any::Any;
use std::cell::RefCell;
use std::sync::Arc;

use wes_core::spare::{Handles, List, Spares};

use crate::host::HostFuncData;

/// How many clones a thread keeps.
const SPARES: usize = 4;

thread_local! {
    static KEPT: RefCell<Vec<Arc<dyn Any + Send + Sync>>> = const { RefCell::new(Vec::new()) };
}

/// A clone of `arc`: this thread's spare of the same object if it has one, else `Arc::clone`.
pub(crate) fn clone<T: Any + Send + Sync>(arc: &Arc<T>) -> Arc<T> {
    let at = Arc::as_ptr(arc) as *const ();
    let spare = KEPT
        .try_with(|kept| {
            let mut kept = kept.try_borrow_mut().ok()?;
            let i = kept.iter().rposition(|k| Arc::as_ptr(k) as *const () == at)?;
            Some(kept.swap_remove(i))
        })
        .ok()
        .flatten();
    match spare.map(Arc::downcast::<T>) {
        Some(Ok(spare)) => spare,
        // Another type at the same address cannot be (it would be the same allocation);
        // whatever it is, it is dropped like any clone.
        _ => Arc::clone(arc),
    }
}

/// Gives a clone back: kept as this thread's spare, the oldest spare dropped to make room.
pub(crate) fn release<T: Any + Send + Sync>(arc: Arc<T>) {
    let arc: Arc<dyn Any + Send + Sync> = arc;
    let mut arc = Some(arc);
    // Dropped outside the borrow: dropping the last clone of an object runs its destructor,
    // which may itself release clones.
    let evicted = KEPT
        .try_with(|kept| {
            let mut kept = kept.try_borrow_mut().ok()?;
            let evicted = (kept.len() >= SPARES).then(|| kept.remove(0));
            kept.extend(arc.take());
            evicted
        })
        .ok()
        .flatten();
    drop(evicted);
    drop(arc);
}

thread_local! {
    static HOST_KEPT: Arc<List<HostFuncData>> = HOST_SPARES.register();
}

/// Stores' references to host functions' data (see the module's documentation): taken by
/// [`crate::store`] when it places a host function, given back when the store drops.
pub(crate) static HOST_SPARES: Spares<HostFuncData> = Spares::new(&HOST_KEPT, SPARES);

impl<F: ?Sized> Handles for HostFuncData<F> {
    fn handles(&self) -> &std::sync::atomic::AtomicUsize {
        &self.handles
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    #[test]
    fn a_released_clone_is_taken_back_and_the_oldest_spare_is_let_go() {
        std::thread::spawn(|| {
            let a = Arc::new(1u32);
            let b = Arc::new(2u64);
            let c = super::clone(&a);
            assert_eq!(Arc::strong_count(&a), 2);
            super::release(c);
            // Kept: the count stands, and the next clone is the spare (no new count).
            assert_eq!(Arc::strong_count(&a), 2);
            let c = super::clone(&a);
            assert_eq!(Arc::strong_count(&a), 2);
            super::release(c);
            // Another object's clones fill the spares and push `a`'s out.
            for _ in 0..super::SPARES {
                super::release(Arc::clone(&b));
            }
            assert_eq!(Arc::strong_count(&a), 1);
            assert_eq!(Arc::strong_count(&b), 1 + super::SPARES);
        })
        .join()
        .expect("the thread runs");
    }
}
