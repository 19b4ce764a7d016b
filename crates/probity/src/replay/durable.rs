//! A replay whose ledger state lives in a [`Store`]: it loads the state, replays, and commits
//! what changed every so many lines; the records of a part are emitted only once the part is
//! committed. Re-running lines already committed returns their recorded decisions and reports
//! nothing overdue again, so a replay split into runs, or killed and run again, gives the
//! records of one uninterrupted run.
//!
//! The store has a thread of its own for the whole replay: a part is written and committed
//! there while the next part is decided, so the store's work overlaps the deciding; at most one
//! commit runs at a time, and a part's records are emitted once its commit has returned. Lines
//! that may be retries are looked up there too, after the commit running.

use std::io::BufRead;
use std::sync::mpsc;

use super::{run, shard, Answered, Checkpoint, Options, Parsed, Record, Summary, Worker};
use crate::action::Action;
use crate::engine::Engine;
use crate::ledger::durable::{read_all, unrestorable, write_changes, write_meta};
use crate::ledger::RmChange;
use crate::ledger::{action_hash, id_reused};
use crate::policy_set::PolicySet;
use crate::store::{Store, StoreError};

/// The fewest lines between two commits. A commit writes the state of every RM that changed
/// since the last one, so it also waits for sixteen lines per RM the state tracks: the state
/// written then stays a small share of the bytes committed.
pub const COMMIT_EVERY_AT_LEAST: usize = 10_000;

/// Lines per RM the state tracks between two commits, when that is more than
/// [`COMMIT_EVERY_AT_LEAST`].
pub const COMMIT_EVERY_PER_RM: usize = 16;

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
        // Without their recorded decisions: a retry is looked up when it comes.
        read_all(tx.as_mut(), false).map_err(std::io::Error::other)?
    };
    let mut rms = 0usize;
    for snapshot in snapshots {
        let rm = snapshot.rm().to_string();
        if let Some(worker) = workers.get_mut(shard(&rm, jobs)) {
            worker.ledger.restore_rm(snapshot).map_err(|e| std::io::Error::other(unrestorable(&rm, &e)))?;
            rms = rms.saturating_add(1);
        }
    }
    for worker in &mut workers {
        worker.ledger.track_changes();
    }
    let set = engine.policy_set();
    std::thread::scope(|scope| {
        let (jobs, inbox) = mpsc::channel::<Job>();
        let (outbox, done) = mpsc::channel::<Done>();
        // One thread for the store, for the whole replay: it keeps its memory warm from one
        // commit to the next (a thread a commit took fresh pages from the system each time).
        scope.spawn(move || serve_store(store, set, &inbox, &outbox));
        let mut saver = Saver {
            jobs,
            done,
            committing: None,
            finished: None,
            ready: 0,
            since: 0,
            rms,
            every: options.commit_every,
        };
        run(workers, input, options, encode, emit, progress, &mut saver)
        // Dropping the saver ends the store's thread; the scope waits for it.
    })
}

fn corrupt(rm: &str, e: &dyn std::fmt::Display) -> StoreError {
    crate::ledger::durable::corrupt(rm, e)
}

/// Work for the store's thread.
enum Job {
    /// Write the workers' changes and commit.
    Commit(Vec<Vec<RmChange>>),
    /// Look up the recorded decisions of lines that may be retries.
    LookUp(Vec<(usize, Action)>),
}

/// What the store's thread did.
enum Done {
    Committed(Result<(), StoreError>),
    LookedUp(Result<Vec<Answered>, StoreError>),
}

/// The store's thread: each job in turn, until the replay drops its end of the channel.
fn serve_store(store: &mut dyn Store, set: &PolicySet, inbox: &mpsc::Receiver<Job>, outbox: &mpsc::Sender<Done>) {
    for job in inbox {
        let done = match job {
            Job::Commit(changes) => Done::Committed(commit(store, changes, set)),
            Job::LookUp(candidates) => Done::LookedUp(look_up(store, candidates)),
        };
        if outbox.send(done).is_err() {
            return;
        }
    }
}

/// The recorded decisions of `candidates` (retries, perhaps), from the store.
fn look_up(store: &mut dyn Store, candidates: Vec<(usize, Action)>) -> Result<Vec<Answered>, StoreError> {
    let mut tx = store.transaction()?;
    let mut out = Vec::new();
    for (line, action) in candidates {
        let Some(recorded) = tx.recorded(action.rm(), action.id())? else { continue };
        let hash = action_hash(&action);
        let answer = if recorded.hash == hash {
            let decision: crate::Decision = serde_json::from_str(&recorded.records)
                .map_err(|e| corrupt(action.rm(), &format!("the recorded decision on `{}`: {e}", action.id())))?;
            Ok(decision)
        } else {
            let at: Option<String> = serde_json::from_str::<serde_json::Value>(&recorded.records)
                .ok()
                .and_then(|d| d.get("at").and_then(|a| a.as_str().map(str::to_string)));
            Err(id_reused(&action, at.as_deref().unwrap_or("?"), &recorded.hash, &hash))
        };
        out.push(Answered { line, action, answer });
    }
    Ok(out)
}

/// Commits the workers' changes to the store (through its thread), one part at a time.
struct Saver {
    jobs: mpsc::Sender<Job>,
    done: mpsc::Receiver<Done>,
    /// How many pending records the commit running covers.
    committing: Option<usize>,
    /// The outcome of the commit running, if it came while the replay only looked.
    finished: Option<Result<(), StoreError>>,
    /// Pending records committed (by a commit waited for) and not yet handed out to emit.
    ready: usize,
    /// Lines replayed since the last commit started.
    since: usize,
    /// The RMs the state tracks (as of the last commit).
    rms: usize,
    /// [`Options::commit_every`].
    every: Option<usize>,
}

/// The store's thread ended without an answer: it failed.
fn gone() -> std::io::Error {
    std::io::Error::other("the replay's committer failed")
}

impl Saver {
    /// The next answer of the store's thread.
    fn answer(&self) -> std::io::Result<Done> {
        self.done.recv().map_err(|_| gone())
    }

    /// Waits for the commit running, if any; the records it covered are then ready.
    fn wait(&mut self) -> std::io::Result<()> {
        let Some(records) = self.committing.take() else { return Ok(()) };
        let outcome = match self.finished.take() {
            Some(outcome) => outcome,
            None => match self.answer()? {
                Done::Committed(outcome) => outcome,
                Done::LookedUp(_) => return Err(gone()),
            },
        };
        outcome.map_err(std::io::Error::other)?;
        self.ready = self.ready.saturating_add(records);
        Ok(())
    }

    /// Whether a commit is still running (its outcome, if it came, is kept for [`Saver::wait`]).
    fn running(&mut self) -> bool {
        if self.committing.is_none() || self.finished.is_some() {
            return false;
        }
        match self.done.try_recv() {
            Ok(Done::Committed(outcome)) => {
                self.finished = Some(outcome);
                false
            }
            Ok(Done::LookedUp(_)) => false,
            Err(mpsc::TryRecvError::Empty) => true,
            Err(mpsc::TryRecvError::Disconnected) => false,
        }
    }

    /// Whether a commit starts once `since` lines wait. It starts once `every` lines wait and
    /// the last one has returned; the replay waits for a commit still running only once twice
    /// as many lines wait, so a slow commit makes the next part longer instead of stopping the
    /// deciding.
    fn due(&mut self, since: usize) -> bool {
        let every =
            self.every.unwrap_or_else(|| COMMIT_EVERY_AT_LEAST.max(self.rms.saturating_mul(COMMIT_EVERY_PER_RM)));
        let due = every.max(1);
        since >= due && (!self.running() || since >= due.saturating_mul(2))
    }

    /// Starts committing the workers' changes, covering `records` pending records.
    fn start(&mut self, workers: &mut [Worker], records: usize) -> std::io::Result<()> {
        let changes: Vec<Vec<RmChange>> = workers.iter_mut().map(Worker::changes).collect();
        self.since = 0;
        self.rms = workers.iter().map(|w| w.ledger.rm_count()).sum();
        self.jobs.send(Job::Commit(changes)).map_err(|_| gone())?;
        self.committing = Some(records);
        Ok(())
    }
}

fn commit(store: &mut dyn Store, changes: Vec<Vec<RmChange>>, set: &PolicySet) -> Result<(), StoreError> {
    let mut tx = store.transaction()?;
    for part in changes {
        write_changes(tx.as_mut(), part)?;
    }
    write_meta(tx.as_mut(), set)?;
    tx.commit()
}

impl Checkpoint for Saver {
    fn answered(&mut self, workers: &[Worker], parsed: &mut Parsed) -> std::io::Result<Vec<Answered>> {
        let jobs = workers.len();
        let candidates: Vec<(usize, Action)> = parsed
            .iter()
            .filter_map(|(line, a)| a.as_ref().ok().map(|a| (*line, a)))
            .filter(|(_, a)| workers.get(shard(a.rm(), jobs)).is_some_and(|w| w.ledger.may_be_recorded(a)))
            .map(|(line, a)| (line, a.clone()))
            .collect();
        if candidates.is_empty() {
            return Ok(Vec::new());
        }
        // After the commit running: the store answers in order.
        self.wait()?;
        self.jobs.send(Job::LookUp(candidates)).map_err(|_| gone())?;
        let answered = match self.answer()? {
            Done::LookedUp(answered) => answered.map_err(std::io::Error::other)?,
            Done::Committed(_) => return Err(gone()),
        };
        let lines: std::collections::HashSet<usize> = answered.iter().map(|a| a.line).collect();
        parsed.retain(|(line, _)| !lines.contains(line));
        Ok(answered)
    }

    fn commit_after(&mut self, lines: usize) -> bool {
        // Settled before the batch, so that the workers take their changes as they finish it. A
        // commit that returns meanwhile lets the next one start after the next batch.
        self.due(self.since.saturating_add(lines))
    }

    fn batch_done(
        &mut self,
        workers: &mut [Worker],
        lines: usize,
        pending: usize,
        commit: bool,
    ) -> std::io::Result<usize> {
        self.since = self.since.saturating_add(lines);
        if commit {
            self.wait()?;
            self.start(workers, pending.saturating_sub(self.ready))?;
        }
        Ok(std::mem::take(&mut self.ready))
    }

    fn finish(&mut self, workers: &mut [Worker]) -> std::io::Result<()> {
        self.wait()?;
        self.start(workers, 0)?;
        self.wait().map(|_| ())
    }
}
