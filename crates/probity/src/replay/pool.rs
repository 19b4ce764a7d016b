//! The threads a replay shares its work among, started once for the whole replay.
//!
//! A thread started per batch was measured to cost more than its work: each new thread took
//! fresh pages from the system for what it allocated (the allocator's pages are per thread),
//! and the kernel's zeroing of those pages was half of a durable replay's time.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::mpsc;
use std::thread::Scope;

/// A unit of work for a thread of the pool; it sends its own result.
type Task<'env> = Box<dyn FnOnce() + Send + 'env>;

/// Threads, each taking tasks in the order given, until the pool is dropped.
pub(super) struct Pool<'env> {
    threads: Vec<mpsc::Sender<Task<'env>>>,
}

/// A task that did not give its result: it panicked, or its thread is gone.
fn failed() -> std::io::Error {
    std::io::Error::other("a replay thread failed")
}

impl<'env> Pool<'env> {
    /// `threads` threads in `scope`; they end when the pool is dropped, before the scope joins them.
    pub(super) fn new<'scope>(scope: &'scope Scope<'scope, 'env>, threads: usize) -> Pool<'env> {
        let threads = (0..threads)
            .map(|_| {
                let (sender, tasks) = mpsc::channel::<Task<'env>>();
                scope.spawn(move || {
                    for task in tasks {
                        // A panic is the last line of defence: the task's result is missing,
                        // which [`Pool::map`] reports as an error, and the thread goes on.
                        let _ = catch_unwind(AssertUnwindSafe(task));
                    }
                });
                sender
            })
            .collect();
        Pool { threads }
    }

    /// A pool without threads, for a replay the calling thread does alone.
    pub(super) fn none() -> Pool<'env> {
        Pool { threads: Vec::new() }
    }

    /// How many threads the pool has (none: the calling thread does the work).
    pub(super) fn threads(&self) -> usize {
        self.threads.len()
    }

    /// Runs the `i`-th job on thread `i` (modulo the threads) and gives their results in job
    /// order; an error if any of them panicked.
    pub(super) fn map<T, F>(&self, jobs: impl IntoIterator<Item = F>) -> std::io::Result<Vec<T>>
    where
        T: Send + 'env,
        F: FnOnce() -> T + Send + 'env,
    {
        let (results, received) = mpsc::channel::<(usize, T)>();
        let mut count = 0usize;
        for (index, job) in jobs.into_iter().enumerate() {
            let thread = self.threads.get(index.checked_rem(self.threads.len()).unwrap_or(0)).ok_or_else(failed)?;
            let results = results.clone();
            let task: Task<'env> = Box::new(move || {
                let _ = results.send((index, job()));
            });
            thread.send(task).map_err(|_| failed())?;
            count = count.saturating_add(1);
        }
        drop(results);
        let mut all: Vec<(usize, T)> = received.iter().collect();
        if all.len() != count {
            return Err(failed());
        }
        all.sort_by_key(|(index, _)| *index);
        Ok(all.into_iter().map(|(_, result)| result).collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn results_come_in_job_order_from_threads_that_stay() {
        std::thread::scope(|scope| {
            let pool = Pool::new(scope, 3);
            for round in 0..50usize {
                let ids = pool.map((0..7usize).map(|i| move || (i, round, std::thread::current().id()))).unwrap();
                assert_eq!(
                    ids.iter().map(|(i, r, _)| (*i, *r)).collect::<Vec<_>>(),
                    (0..7).map(|i| (i, round)).collect::<Vec<_>>()
                );
                // Job i runs on thread i mod 3, the same thread every round.
                assert_eq!(ids[0].2, ids[3].2);
                assert_ne!(ids[0].2, ids[1].2);
            }
        });
    }

    #[test]
    fn a_panicking_job_is_an_error_and_the_pool_goes_on() {
        std::thread::scope(|scope| {
            let pool = Pool::new(scope, 2);
            let jobs: Vec<Box<dyn FnOnce() -> u32 + Send>> = vec![Box::new(|| 1), Box::new(|| panic!("boom"))];
            assert!(pool.map(jobs).is_err());
            assert_eq!(pool.map([|| 5u32, || 6u32]).unwrap(), [5, 6]);
        });
    }

    #[test]
    fn jobs_may_borrow_what_outlives_the_scope() {
        let words = vec!["a".to_string(), "b".to_string()];
        std::thread::scope(|scope| {
            let pool = Pool::new(scope, 2);
            let words = &words;
            assert_eq!(pool.map((0..2).map(|i| move || words[i].len())).unwrap(), [1, 1]);
        });
    }
}
