//! A replay whose ledger state lives in a [`Store`]: it loads the state, replays, and commits
//! what changed every so many lines; the records of a part are emitted only once the part is
//! committed. Re-running lines already committed returns their recorded decisions and reports
//! nothing overdue again, so a replay split into runs, or killed and run again, gives the
//! records of one uninterrupted run.

use std::io::BufRead;

use super::{run, shard, Checkpoint, Options, Record, Summary, Worker};
use crate::engine::Engine;
use crate::ledger::durable::{read_all, write_changes, write_meta};
use crate::store::{Store, StoreError};

/// The fewest lines between two commits. A commit writes the state of every RM that changed
/// since the last one, so it also waits for four lines per RM the state tracks: the cost of
/// the state written stays a small share of the lines replayed.
pub const COMMIT_EVERY_AT_LEAST: usize = 10_000;

/// [`super::replay_with_options`] over the state in `store`, created if empty. A store error is
/// returned as an I/O error of kind `Other` whose inner error is the [`StoreError`]; the
/// records emitted before it are committed.
pub fn replay_durable<L: Default + Send>(
    engine: &Engine,
    input: impl BufRead,
    store: &mut dyn Store,
    options: &Options,
    encode: impl Fn(&mut L, &Record<'_>) + Sync,
    emit: impl FnMut(L) -> std::io::Result<()>,
    progress: impl FnMut(u64),
) -> std::io::Result<Summary> {
    let jobs = options.jobs.clamp(1, 64);
    let mut workers: Vec<Worker> = (0..jobs).map(|_| Worker::new(engine.ledger())).collect();
    let snapshots = {
        let mut tx = store.transaction().map_err(std::io::Error::other)?;
        read_all(tx.as_mut()).map_err(std::io::Error::other)?
    };
    let mut rms = 0usize;
    for snapshot in snapshots {
        let rm = snapshot.rm().to_string();
        if let Some(worker) = workers.get_mut(shard(&rm, jobs)) {
            worker.ledger.restore_rm(snapshot).map_err(|e| std::io::Error::other(corrupt(&rm, &e)))?;
            rms = rms.saturating_add(1);
        }
    }
    for worker in &mut workers {
        worker.ledger.track_changes();
    }
    let mut saver = Saver { engine, store, since: 0, rms, every: options.commit_every };
    run(workers, input, options, encode, emit, progress, &mut saver)
}

fn corrupt(rm: &str, e: &dyn std::fmt::Display) -> StoreError {
    crate::ledger::durable::corrupt(rm, e)
}

/// Commits the workers' changes to the store.
struct Saver<'a> {
    engine: &'a Engine,
    store: &'a mut dyn Store,
    /// Lines replayed since the last commit.
    since: usize,
    /// The RMs the state tracks (as of the last commit).
    rms: usize,
    /// [`Options::commit_every`].
    every: Option<usize>,
}

impl Saver<'_> {
    fn commit(&mut self, workers: &mut [Worker]) -> Result<(), StoreError> {
        let mut tx = self.store.transaction()?;
        for worker in workers.iter_mut() {
            write_changes(tx.as_mut(), worker.ledger.take_changes())?;
        }
        write_meta(tx.as_mut(), self.engine.policy_set())?;
        tx.commit()?;
        self.since = 0;
        self.rms = workers.iter().map(|w| w.ledger.rm_count()).sum();
        Ok(())
    }
}

impl Checkpoint for Saver<'_> {
    fn batch_done(&mut self, workers: &mut [Worker], lines: usize) -> std::io::Result<bool> {
        self.since = self.since.saturating_add(lines);
        let every = self.every.unwrap_or_else(|| COMMIT_EVERY_AT_LEAST.max(self.rms.saturating_mul(4)));
        if self.since < every.max(1) {
            return Ok(false);
        }
        self.commit(workers).map_err(std::io::Error::other)?;
        Ok(true)
    }

    fn finish(&mut self, workers: &mut [Worker]) -> std::io::Result<()> {
        self.commit(workers).map_err(std::io::Error::other)
    }
}
