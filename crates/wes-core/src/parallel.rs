//! One module's independent items (function bodies to validate, translate or compile) spread
//! over threads: the decoder, the interpreter and the JIT share this, so the thread count a
//! configuration gives means the same in each.

use std::sync::atomic::{AtomicUsize, Ordering};

/// The threads a configured count means: `threads`, or one per core for 0.
pub fn resolve(threads: usize) -> usize {
    match threads {
        0 => std::thread::available_parallelism().map_or(1, |p| p.get()),
        t => t,
    }
}

/// Runs `work(&mut state, i)` once for every `i` in `0..n`, on up to `threads` threads (0: one
/// per core), each taking the next index in turn with its own state made by `init`. Fewer
/// threads run when there are fewer than `per_thread` items for each (a thread costs tens of
/// microseconds to start and join); the calling thread is one of them. Returns every thread's
/// final state, the calling thread's first.
///
/// Which thread ran an item is not deterministic: callers keep each item's result by its
/// index, so that what they report does not depend on it. A panic in `work` on any thread
/// reaches the caller once every thread has stopped.
pub fn for_each_index<S: Send>(
    n: usize,
    threads: usize,
    per_thread: usize,
    init: impl Fn() -> S + Sync,
    work: impl Fn(&mut S, usize) + Sync,
) -> Vec<S> {
    let threads = resolve(threads).min(n.div_ceil(per_thread.max(1)).max(1));
    let next = AtomicUsize::new(0);
    let run = || {
        let mut state = init();
        loop {
            let i = next.fetch_add(1, Ordering::Relaxed);
            if i >= n {
                return state;
            }
            work(&mut state, i);
        }
    };
    if threads <= 1 {
        return vec![run()];
    }
    std::thread::scope(|s| {
        let others: Vec<_> = (1..threads).map(|_| s.spawn(run)).collect();
        let mut states = vec![run()];
        for h in others {
            states.push(h.join().unwrap_or_else(|e| std::panic::resume_unwind(e)));
        }
        states
    })
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicU32, Ordering};

    use super::for_each_index;

    #[test]
    fn every_index_runs_once_on_any_number_of_threads() {
        for (n, threads, per_thread) in [(0, 4, 1), (1, 4, 1), (100, 1, 1), (100, 3, 1), (100, 8, 40), (1000, 0, 8)] {
            let runs: Vec<AtomicU32> = (0..n).map(|_| AtomicU32::new(0)).collect();
            let states = for_each_index(n, threads, per_thread, Vec::new, |seen: &mut Vec<usize>, i| {
                runs[i].fetch_add(1, Ordering::Relaxed);
                seen.push(i);
            });
            assert!(runs.iter().all(|r| r.load(Ordering::Relaxed) == 1), "{n} {threads} {per_thread}");
            let mut all: Vec<usize> = states.iter().flatten().copied().collect();
            all.sort_unstable();
            assert_eq!(all, (0..n).collect::<Vec<_>>());
            // No more threads than items allow: 100 items at 40 per thread is 3.
            if (n, threads, per_thread) == (100, 8, 40) {
                assert_eq!(states.len(), 3);
            }
            if threads == 1 {
                assert_eq!(states.len(), 1);
            }
        }
    }
}
