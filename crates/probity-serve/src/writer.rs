//! The state's one writer: a thread that owns the store and commits submissions in groups.
//! Submissions that arrive while a commit runs are committed together in the next one, so a
//! commit's sync is shared by many; each is answered once its group is committed.

use std::sync::mpsc::{self, Receiver, SyncSender, TryRecvError};
use std::thread::JoinHandle;

use axum::http::StatusCode;
use axum::response::Response;
use chrono::{DateTime, FixedOffset};
use probity::api::Error as ApiError;
use probity::store::{Store, StoreError};
use probity::{Action, DurableLedger, Engine, InputError, OverdueReport, Submission};
use tokio::sync::oneshot;

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
    /// Decide with these policies from now on.
    Use(Engine),
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
}

impl Writer {
    /// Starts the writer thread over `store`.
    pub fn start(store: Box<dyn Store>, engine: Engine) -> (Writer, JoinHandle<()>) {
        let (jobs, receive) = mpsc::sync_channel::<Job>(4 * GROUP);
        let failures = jobs.clone();
        let handle = std::thread::spawn(move || work(store, engine, &receive));
        (Writer { jobs, failures }, handle)
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

    /// Decide with `engine` from the next group on.
    pub fn use_engine(&self, engine: Engine) {
        let _ = self.failures.send(Job::Use(engine));
    }

    /// Stops the writer once the jobs queued are done.
    pub fn stop(&self) {
        let _ = self.failures.send(Job::Stop);
    }
}

/// The writer's loop: a group of submissions (up to [`GROUP`], as many as are queued) per
/// transaction; any other job on its own, in queue order.
fn work(mut store: Box<dyn Store>, mut engine: Engine, jobs: &Receiver<Job>) {
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
                submit(store.as_mut(), &engine, group);
            }
            Job::Advance(at, reply) => {
                let reports = DurableLedger::new(&engine, store.as_mut()).advance_to(at);
                let _ = reply.send(reports.map_err(|e| StoreFailure::from(&e)));
            }
            Job::Count(reply) => {
                let count = store.transaction().and_then(|mut tx| tx.count_rms());
                let _ = reply.send(count.unwrap_or(0));
            }
            Job::Use(new) => engine = new,
            Job::Stop => return,
        }
    }
}

/// Commits a group and answers each submission; on a store error every submission of the
/// group is answered with it (none was recorded).
fn submit(store: &mut dyn Store, engine: &Engine, group: Vec<(Action, oneshot::Sender<Submitted>)>) {
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
