//! What every step of one `rko build` run shares: the settings, `.ko.yaml`,
//! the cache, the registry options, the environment, the clock's reading
//! and the pool of `--jobs` threads, passed down as one value.

use crate::error::Result;
use crate::porcelain::cache::Cache;
use crate::porcelain::settings::env::Env;
use crate::porcelain::settings::ko_yaml::KoConfig;
use crate::porcelain::settings::plan::Settings;
use crate::porcelain::settings::template::Templating;
use crate::registry::RegistryOptions;
use rayon::prelude::*;
use rayon::ThreadPool;
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};

/// What building shares across import paths.
#[derive(Debug, Clone, Copy)]
pub struct Context<'a> {
    pub settings: &'a Settings,
    /// `.ko.yaml`, templates rendered.
    pub config: &'a KoConfig,
    pub cache: &'a Cache,
    pub registry: &'a RegistryOptions,
    /// Where relative import paths are resolved.
    pub work_dir: &'a Path,
    /// The run's `--jobs` threads: listing, checking and building binaries,
    /// and assembling images run on them, nested maps included (a thread
    /// waiting on its inner items takes others' work meanwhile).
    pub pool: &'a ThreadPool,
    /// What flags' and ldflags' templates read.
    pub templating: &'a Templating,
    /// The process environment, which `go` inherits.
    pub env: &'a Env,
    /// When the run started, in seconds since the epoch: files changed
    /// since are racy for the fingerprints of binaries.
    pub now: u64,
}

impl Context<'_> {
    /// `--jobs`: the threads of the run's pool.
    pub fn jobs(self) -> usize {
        self.pool.current_num_threads()
    }

    /// `work` applied to every item in the run's pool, results in input
    /// order (see [`try_map_in`]).
    pub fn try_map<T: Sync, R: Send>(
        self,
        items: &[T],
        work: impl Fn(&T) -> Result<R> + Sync,
    ) -> Result<Vec<R>> {
        try_map_in(self.pool, items, work)
    }
}

/// `work` applied to every item on `pool`'s threads, results in input
/// order. After a failure no later item starts, but every earlier one runs:
/// the error returned is the first in input order whatever the threads'
/// timing.
fn try_map_in<T: Sync, R: Send>(
    pool: &ThreadPool,
    items: &[T],
    work: impl Fn(&T) -> Result<R> + Sync,
) -> Result<Vec<R>> {
    let first_failure = AtomicUsize::new(usize::MAX);
    let results: Vec<Option<Result<R>>> = pool.install(|| {
        let each = items.par_iter().enumerate().map(|(i, item)| {
            if i > first_failure.load(Ordering::Relaxed) {
                return None;
            }
            let result = work(item);
            if result.is_err() {
                first_failure.fetch_min(i, Ordering::Relaxed);
            }
            Some(result)
        });
        each.collect()
    });
    // Only items after the first failure are skipped, and collecting stops
    // at that failure.
    results
        .into_iter()
        .map(|result| result.expect("an item before the first failure ran"))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::Error;
    use std::sync::atomic::AtomicBool;
    use std::time::Duration;

    fn pool(threads: usize) -> ThreadPool {
        rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .thread_name(|i| format!("pool-{i}"))
            .build()
            .unwrap()
    }

    #[test]
    fn results_keep_input_order_for_any_number_of_threads() {
        let items: Vec<u32> = (0..500).collect();
        for threads in [1, 2, 8] {
            let doubled = try_map_in(&pool(threads), &items, |&i| Ok(i * 2)).unwrap();
            assert_eq!(doubled, items.iter().map(|i| i * 2).collect::<Vec<_>>());
        }
        assert!(try_map_in(&pool(2), &Vec::<u32>::new(), |&i| Ok(i))
            .unwrap()
            .is_empty());
    }

    /// Item 120 fails at once while the items before 100 take their time:
    /// item 50, which fails too, is still the one named, and every item
    /// before it ran.
    #[test]
    fn the_first_failure_in_input_order_wins_however_late_it_comes() {
        let items: Vec<usize> = (0..200).collect();
        for threads in [1, 2, 8] {
            let ran: Vec<AtomicBool> = items.iter().map(|_| AtomicBool::new(false)).collect();
            let err = try_map_in(&pool(threads), &items, |&i| {
                ran[i].store(true, Ordering::Relaxed);
                if i < 100 {
                    std::thread::sleep(Duration::from_millis(2));
                }
                match i {
                    50 => Err(Error::invalid("item 50")),
                    120 => Err(Error::invalid("item 120")),
                    _ => Ok(i),
                }
            })
            .unwrap_err();
            assert_eq!(err.to_string(), "item 50", "{threads} threads");
            let before = ran[..=50].iter().filter(|r| r.load(Ordering::Relaxed));
            assert_eq!(before.count(), 51, "{threads} threads");
        }
    }

    #[test]
    fn no_item_after_a_failure_starts_on_one_thread() {
        let started = AtomicUsize::new(0);
        let items: Vec<u32> = (0..100).collect();
        let result = try_map_in(&pool(1), &items, |&i| {
            started.fetch_add(1, Ordering::Relaxed);
            if i == 10 {
                Err(Error::invalid("item 10"))
            } else {
                Ok(i)
            }
        });
        assert!(result.is_err());
        assert_eq!(started.into_inner(), 11);
    }

    /// A map inside a map's item runs on the same threads (not on rayon's
    /// global ones), and each keeps its order.
    #[test]
    fn nested_maps_share_the_pool() {
        let pool = pool(2);
        let outer: Vec<u32> = (0..20).collect();
        let got = try_map_in(&pool, &outer, |&i| {
            let inner: Vec<u32> = (0..20).collect();
            let names = try_map_in(&pool, &inner, |&j| {
                Ok((
                    i * 100 + j,
                    std::thread::current().name().map(str::to_string),
                ))
            })?;
            Ok(names)
        })
        .unwrap();
        for (i, names) in got.iter().enumerate() {
            let values: Vec<u32> = names.iter().map(|(v, _)| *v).collect();
            let want: Vec<u32> = (0..20).map(|j| i as u32 * 100 + j).collect();
            assert_eq!(values, want);
            for (_, thread) in names {
                assert!(thread.as_deref().is_some_and(|t| t.starts_with("pool-")));
            }
        }
    }
}
