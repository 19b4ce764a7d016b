//! The state's one writer: a thread that owns the store and commits submissions in groups.
//! Submissions that arrive while a commit runs are committed together in the next one, so a
//! commit's sync is shared by many; each is answered once its group is committed (and, with a
//! decision log, once its lines are logged and synced: `log.rs`).

use std::collections::HashSet;
use std::sync::mpsc::{self, Receiver, SyncSender, TryRecvError};
use std::sync::{Arc, OnceLock};
use std::thread::JoinHandle;

use axum::http::StatusCode;
use axum::response::Response;
use chrono::{DateTime, FixedOffset};
use probity::api::Error as ApiError;
use probity::store::{Store, StoreError};
use probity::{Action, DurableLedger, Engine, InputError, OverdueReport, Submission};
use tokio::sync::oneshot;

use crate::log::{DecisionLog, Key, MarkedStore};

/// The most submissions committed in one transaction.
pub const GROUP: usize = 256;

/// A submission's answer: its submission or its input error, once committed.
pub type Submitted = Result<Result<Submission, InputError>, StoreFailure>;

/// Work for the writer.
pub enum Job {
    /// Submit an action.
    Submit(Action, oneshot::Sender<Submitted>),
    /// Advance every RM to an instant; the answer is the overdue reports, once committed.
    Advance(DateTime<FixedOffset>, oneshot::Sender<Result<Vec<OverdueReport>, StoreFailure>>),
    /// Count the RMs of the state.
    Count(oneshot::Sender<u64>),
    /// Decide with these policies (and log the bundle digest given) from now on.
    Use(Engine, Option<String>),
    /// Finish the jobs queued before this one, then stop.
    Stop,
}

/// A store's failure, as every job of a rolled-back group is told it (nothing of the group was
/// recorded).
#[derive(Debug, Clone)]
pub struct StoreFailure {
    code: &'static str,
    message: String,
    retryable: bool,
}

impl From<&StoreError> for StoreFailure {
    fn from(e: &StoreError) -> StoreFailure {
        StoreFailure { code: e.code(), message: format!("{e} (hint: {})", e.hint()), retryable: e.is_retryable() }
    }
}

impl StoreFailure {
    /// The decision log cannot be written: the state committed, nothing is acknowledged.
    fn log(message: String) -> StoreFailure {
        StoreFailure { code: "L0001", message, retryable: false }
    }

    /// The error response: 503 for a conflict (the request may be sent again), 500 otherwise.
    pub fn response(self) -> Response {
        let status = if self.retryable { StatusCode::SERVICE_UNAVAILABLE } else { StatusCode::INTERNAL_SERVER_ERROR };
        super::failure(status, ApiError { code: self.code.to_string(), ..ApiError::internal(self.message) })
    }
}

/// The writer has stopped: no answer will come.
pub struct Stopped;

impl Stopped {
    /// 503: the service is stopping.
    pub fn response(self) -> Response {
        super::failure(StatusCode::SERVICE_UNAVAILABLE, ApiError::internal("the service is stopping"))
    }
}

/// The handle the handlers hold.
pub struct Writer {
    jobs: SyncSender<Job>,
    failures: SyncSender<Job>,
    /// Why the decision log cannot be written, once it cannot.
    log_failure: Option<Arc<OnceLock<String>>>,
}

impl Writer {
    /// Starts the writer thread over `store`, logging to `log` if given.
    pub fn start(store: Box<dyn Store>, engine: Engine, log: Option<DecisionLog>) -> (Writer, JoinHandle<()>) {
        let (jobs, receive) = mpsc::sync_channel::<Job>(4 * GROUP);
        let failures = jobs.clone();
        let log_failure = log.as_ref().map(DecisionLog::failure);
        let handle = std::thread::spawn(move || work(MarkedStore::new(store), engine, log, &receive));
        (Writer { jobs, failures, log_failure }, handle)
    }

    /// Sends a job made with its answer's sender and waits (asynchronously) for the answer.
    pub async fn ask<T>(&self, job: impl FnOnce(oneshot::Sender<T>) -> Job) -> Result<T, Stopped> {
        let (send, answer) = oneshot::channel();
        let jobs = self.jobs.clone();
        let job = job(send);
        // The queue is bounded: a full one makes the caller wait, off the async threads.
        let sent = tokio::task::spawn_blocking(move || jobs.send(job)).await;
        if !matches!(sent, Ok(Ok(()))) {
            return Err(Stopped);
        }
        answer.await.map_err(|_| Stopped)
    }

    /// Decide with `engine` (from `bundle`, its manifest digest) from the next group on.
    pub fn use_engine(&self, engine: Engine, bundle: Option<String>) {
        let _ = self.failures.send(Job::Use(engine, bundle));
    }

    /// Why the decision log cannot be written (and so nothing is acknowledged), if it cannot.
    pub fn log_failure(&self) -> Option<String> {
        self.log_failure.as_ref().and_then(|f| f.get().cloned())
    }

    /// Stops the writer once the jobs queued are done.
    pub fn stop(&self) {
        let _ = self.failures.send(Job::Stop);
    }
}

/// The writer's loop: a group of submissions (up to [`GROUP`], as many as are queued) per
/// transaction; any other job on its own, in queue order.
fn work(mut store: MarkedStore, mut engine: Engine, mut log: Option<DecisionLog>, jobs: &Receiver<Job>) {
    let mut next: Option<Job> = None;
    loop {
        let job = match next.take() {
            Some(job) => job,
            None => match jobs.recv() {
                Ok(job) => job,
                Err(_) => return,
            },
        };
        match job {
            Job::Submit(action, reply) => {
                let mut group = vec![(action, reply)];
                while group.len() < GROUP {
                    match jobs.try_recv() {
                        Ok(Job::Submit(action, reply)) => group.push((action, reply)),
                        Ok(other) => {
                            next = Some(other);
                            break;
                        }
                        Err(TryRecvError::Empty | TryRecvError::Disconnected) => break,
                    }
                }
                match log.as_mut() {
                    Some(log) => submit_logged(&mut store, &engine, log, group),
                    None => submit(&mut store, &engine, group),
                }
            }
            Job::Advance(at, reply) => {
                let _ = reply.send(advance(&mut store, &engine, log.as_mut(), at));
            }
            Job::Count(reply) => {
                let count = store.transaction().and_then(|mut tx| tx.count_rms());
                let _ = reply.send(count.unwrap_or(0));
            }
            Job::Use(new, bundle) => {
                if let Some(log) = log.as_mut() {
                    log.use_engine(&new, bundle.as_deref());
                }
                engine = new;
            }
            Job::Stop => return,
        }
    }
}

/// Commits a group and answers each submission; on a store error every submission of the
/// group is answered with it (none was recorded).
fn submit(store: &mut MarkedStore, engine: &Engine, group: Vec<(Action, oneshot::Sender<Submitted>)>) {
    let actions: Vec<Action> = group.iter().map(|(a, _)| a.clone()).collect();
    match DurableLedger::new(engine, store).submit_batch(&actions) {
        Ok(results) => {
            for ((_, reply), result) in group.into_iter().zip(results) {
                let _ = reply.send(Ok(result));
            }
        }
        Err(e) => {
            eprintln!("probity serve: a commit failed: [{}] {e}", e.code());
            let failure = StoreFailure::from(&e);
            for (_, reply) in group {
                let _ = reply.send(Err(failure.clone()));
            }
        }
    }
}

/// Advances every RM; with a log, the reports are logged (and synced) before they are answered.
fn advance(
    store: &mut MarkedStore,
    engine: &Engine,
    log: Option<&mut DecisionLog>,
    at: DateTime<FixedOffset>,
) -> Result<Vec<OverdueReport>, StoreFailure> {
    let Some(log) = log else {
        return DurableLedger::new(engine, store).advance_to(at).map_err(|e| StoreFailure::from(&e));
    };
    if let Some(failed) = log.failed() {
        return Err(StoreFailure::log(failed.to_string()));
    }
    store.mark(log.marker([]));
    let reports = DurableLedger::new(engine, store).advance_to(at).map_err(|e| StoreFailure::from(&e))?;
    log.reports(&reports);
    log.sync().map_err(StoreFailure::log)?;
    Ok(reports)
}

/// The submissions of a group whose receipts the state already holds (retries), read before
/// the group is committed.
fn retries(store: &mut dyn Store, actions: &[Action]) -> Result<HashSet<Key>, StoreError> {
    let mut tx = store.transaction()?;
    let mut found = HashSet::new();
    for action in actions {
        if tx.recorded(action.rm(), action.id())?.is_some() {
            found.insert((action.rm().to_string(), action.id().to_string()));
        }
    }
    Ok(found)
}

/// [`submit`] with a log: the group is committed (with the log's marker), then each new
/// submission's overdue reports and decision are logged in submission order and synced, and
/// only then answered. A retry is not logged again (unless it was committed and never logged).
fn submit_logged(
    store: &mut MarkedStore,
    engine: &Engine,
    log: &mut DecisionLog,
    group: Vec<(Action, oneshot::Sender<Submitted>)>,
) {
    let fail = |group: Vec<(Action, oneshot::Sender<Submitted>)>, failure: StoreFailure| {
        for (_, reply) in group {
            let _ = reply.send(Err(failure.clone()));
        }
    };
    if let Some(failed) = log.failed() {
        return fail(group, StoreFailure::log(failed.to_string()));
    }
    let actions: Vec<Action> = group.iter().map(|(a, _)| a.clone()).collect();
    let retried = match retries(store, &actions) {
        Ok(retried) => retried,
        Err(e) => return fail(group, StoreFailure::from(&e)),
    };
    let key = |a: &Action| (a.rm().to_string(), a.id().to_string());
    store.mark(log.marker(actions.iter().map(key).filter(|k| !retried.contains(k))));
    let results = match DurableLedger::new(engine, store).submit_batch(&actions) {
        Ok(results) => results,
        Err(e) => {
            eprintln!("probity serve: a commit failed: [{}] {e}", e.code());
            return fail(group, StoreFailure::from(&e));
        }
    };
    // An id twice in a group: the second is a retry of the first.
    let mut logged: HashSet<Key> = HashSet::new();
    for (action, result) in actions.iter().zip(&results) {
        let Ok(submission) = result else { continue };
        let k = key(action);
        let new = !retried.contains(&k) || log.take_unlogged(&k);
        if new && !logged.contains(&k) {
            log.submission(action, &submission.overdue, &submission.decision);
            logged.insert(k);
        }
    }
    if let Err(e) = log.sync() {
        eprintln!("probity serve: the decision log cannot be written, nothing more is acknowledged: {e}");
        return fail(group, StoreFailure::log(e));
    }
    for ((_, reply), result) in group.into_iter().zip(results) {
        let _ = reply.send(Ok(result));
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;
    use probity::store::MemoryStore;

    fn engine() -> Engine {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../policies/cn");
        Engine::new(probity::PolicySet::from_dir(&dir).unwrap())
    }

    fn action(id: &str) -> Action {
        let text = std::fs::read_to_string(
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/action.json"),
        )
        .unwrap();
        Action::from_json(&text.replace("S-DEMO-0318", id)).unwrap()
    }

    /// Once the log could not be written, no submission or advance is acknowledged (nor
    /// committed), and the writer says why (for `/health`).
    #[test]
    fn a_log_that_cannot_be_written_stops_acknowledgement() {
        let dir = tempfile::tempdir().unwrap();
        let engine = engine();
        let mut store: Box<dyn Store> = Box::new(MemoryStore::new());
        let log = DecisionLog::open(&dir.path().join("log"), &engine, None, store.as_mut()).unwrap();
        let failure = log.failure();
        let (writer, handle) = Writer::start(store, engine, Some(log));
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        runtime.block_on(async {
            let answer = writer.ask(|reply| Job::Submit(action("A"), reply)).await.ok().unwrap();
            assert!(matches!(answer, Ok(Ok(_))));
            assert_eq!(writer.log_failure(), None);
            failure.set("[L0001] the disk is full".into()).unwrap();
            for id in ["B", "A"] {
                let Ok(Err(refused)) = writer.ask(|reply| Job::Submit(action(id), reply)).await else {
                    panic!("{id} was acknowledged without its log line");
                };
                assert_eq!(refused.code, "L0001");
            }
            let to = chrono::DateTime::parse_from_rfc3339("2026-04-01T00:00:00+08:00").unwrap();
            assert!(matches!(writer.ask(|reply| Job::Advance(to, reply)).await, Ok(Err(_))));
            assert_eq!(writer.log_failure().as_deref(), Some("[L0001] the disk is full"));
        });
        writer.stop();
        handle.join().unwrap();
        assert_eq!(std::fs::read_to_string(dir.path().join("log")).unwrap().lines().count(), 1);
    }
}
