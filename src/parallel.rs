//! Threads for work that waits on the network, and locks that outlive a
//! panic. A registry answers faster with more requests in flight than the
//! machine has cores, so transfers get as many threads as they ask for
//! here; the CPU and disk work of a build runs in the run's rayon pool
//! instead (`porcelain::context`). Results come back in input order; after
//! a failure no new item starts, and the error reported is the first in
//! input order, so messages do not depend on thread timing.

use crate::error::Result;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Mutex, RwLock};

/// The threads one of `items` concurrent work items may use inside itself
/// (a layer's compression, an image's transfers), when `jobs` bounds them
/// all.
pub fn share(jobs: usize, items: usize) -> usize {
    (jobs / items.max(1)).max(1)
}

/// The guard of `mutex`, even if a thread panicked holding it: what rko
/// keeps under a lock (caches, lists) is whole after each single write.
pub fn lock<T>(mutex: &std::sync::Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// A read guard of `lock`, even if a thread panicked holding it (as [`lock`]).
pub fn read<T>(lock: &RwLock<T>) -> std::sync::RwLockReadGuard<'_, T> {
    lock.read().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// The write guard of `lock`, even if a thread panicked holding it.
pub fn write_locked<T>(lock: &RwLock<T>) -> std::sync::RwLockWriteGuard<'_, T> {
    lock.write()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// What a scoped thread returned, its panic passed on to the caller.
pub fn joined<T>(handle: std::thread::ScopedJoinHandle<'_, T>) -> T {
    handle
        .join()
        .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
}

/// `work` applied to every item on up to `jobs` threads of its own; `try_`
/// as in `try_for_each`: a failure stops it (and the name stays apart from
/// `Iterator::map` for a reader scanning call sites).
pub fn try_map<T: Sync, R: Send>(
    items: &[T],
    jobs: usize,
    work: impl Fn(&T) -> Result<R> + Sync,
) -> Result<Vec<R>> {
    let next = AtomicUsize::new(0);
    let failed = AtomicBool::new(false);
    let results: Mutex<Vec<Option<Result<R>>>> =
        Mutex::new((0..items.len()).map(|_| None).collect());
    std::thread::scope(|scope| {
        for _ in 0..jobs.max(1).min(items.len().max(1)) {
            scope.spawn(|| loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= items.len() || failed.load(Ordering::Relaxed) {
                    return;
                }
                let result = work(&items[i]);
                if result.is_err() {
                    failed.store(true, Ordering::Relaxed);
                }
                results.lock().expect("no worker panics")[i] = Some(result);
            });
        }
    });
    let results = results.into_inner().expect("no worker panics");
    if failed.into_inner() {
        let error = results.into_iter().flatten().find_map(|r| r.err());
        return Err(error.expect("a failure was recorded"));
    }
    Ok(results
        .into_iter()
        .map(|r| r.expect("every item ran").expect("no failures"))
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::Error;

    #[test]
    fn results_keep_input_order_and_the_first_error_in_order_wins() {
        let items: Vec<u32> = (0..50).collect();
        let doubled = try_map(&items, 4, |&i| Ok(i * 2)).unwrap();
        assert_eq!(doubled, items.iter().map(|i| i * 2).collect::<Vec<_>>());
        let err = try_map(&items, 1, |&i| {
            if i >= 10 {
                Err(Error::invalid(format!("item {i}")))
            } else {
                Ok(i)
            }
        })
        .unwrap_err();
        assert_eq!(err.to_string(), "item 10");
        assert!(try_map(&Vec::<u32>::new(), 4, |&i| Ok(i))
            .unwrap()
            .is_empty());
    }
}
