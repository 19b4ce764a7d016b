//! The decision log of a service (`--log FILE`): every submission's decision and overdue
//! reports, and every advance's reports, appended in commit order to probity-audit's
//! hash-chained log, in the line format of `probity replay --log`.
//!
//! Crash consistency (docs/decisions.md): a group is committed to the state first, then its
//! lines are written and synced, then it is acknowledged, so an acknowledged submission is in
//! both. A retry (the store already holds its receipt) is not logged again. The commit that
//! records a group also records, in the state's meta [`MARKER`], the log's seq before it and the
//! submissions it may add; at a restart, those the log does not hold after that seq were
//! committed but never logged (the process stopped in between, unacknowledged), and each is
//! logged when it is retried.

use std::collections::BTreeSet;
use std::io::BufRead;
use std::path::Path;
use std::sync::{Arc, OnceLock};

use chrono::{DateTime, FixedOffset};
use probity::store::{Recorded, RmState, Store, StoreError, Transaction};
use probity::{Action, Decision, Engine, OverdueReport};
use probity_audit::{LogError, LogPolicies, LogWriter};
use serde::{Deserialize, Serialize};

/// The state's meta key holding the log marker of the last commit.
pub const MARKER: &str = "serve.log";

/// A submission as the marker names it: its RM and action id.
pub type Key = (String, String);

/// What the commit of a group records beside it.
#[derive(Serialize, Deserialize, Default)]
struct Marker {
    /// The log's last seq before the group's lines.
    after: u64,
    /// Submissions that may be in the state and not yet in the log.
    unlogged: Vec<Key>,
}

/// A record line, as `probity replay` writes it.
#[derive(Serialize)]
#[serde(rename_all = "lowercase")]
enum RecordJson<'a> {
    Decision(&'a Decision),
    Overdue(&'a OverdueReport),
}

/// The log and what the writer knows of it.
pub struct DecisionLog {
    writer: LogWriter,
    policies: LogPolicies,
    /// Committed, never logged (found at the start): logged when retried.
    unlogged: BTreeSet<Key>,
    /// A write failed: nothing more is acknowledged (shared with `/health`).
    failed: Arc<OnceLock<String>>,
}

/// The message of a log error, with its code and hint.
pub fn log_error(e: &LogError) -> String {
    format!("[{}] {e}\nhint: {}", e.code(), e.hint())
}

impl DecisionLog {
    /// Opens `path` to continue (a log that does not verify is refused) and finds the
    /// submissions the state committed that it lacks.
    pub fn open(path: &Path, engine: &Engine, bundle: Option<&str>, store: &mut dyn Store) -> Result<Self, String> {
        let writer = LogWriter::open_append(path).map_err(|e| log_error(&e))?;
        let policies = LogPolicies::new(engine.policy_set(), bundle);
        let store_error = |e: StoreError| format!("[{}] {e}\nhint: {}", e.code(), e.hint());
        let mut tx = store.transaction().map_err(store_error)?;
        let marker = match tx.meta(MARKER).map_err(store_error)? {
            Some(text) => serde_json::from_str::<Marker>(&text)
                .map_err(|e| format!("the state's `{MARKER}` meta value cannot be read: {e}"))?,
            None => Marker::default(),
        };
        let mut unlogged = BTreeSet::new();
        if !marker.unlogged.is_empty() {
            let logged = logged_after(path, marker.after)?;
            for (rm, id) in marker.unlogged {
                if !logged.contains(&id) && tx.recorded(&rm, &id).map_err(store_error)?.is_some() {
                    unlogged.insert((rm, id));
                }
            }
        }
        drop(tx);
        if !unlogged.is_empty() {
            eprintln!(
                "probity serve: {} submission(s) in the state are not in the log `{}` (the service stopped between \
                 their commit and their log line; they were not acknowledged): each is logged when it is retried",
                unlogged.len(),
                path.display()
            );
        }
        Ok(DecisionLog { writer, policies, unlogged, failed: Arc::default() })
    }

    /// The policies every line names from now on.
    pub fn use_engine(&mut self, engine: &Engine, bundle: Option<&str>) {
        self.policies = LogPolicies::new(engine.policy_set(), bundle);
    }

    /// Why nothing more can be acknowledged, if a write failed.
    pub fn failed(&self) -> Option<&str> {
        self.failed.get().map(String::as_str)
    }

    /// The failure, as `/health` reads it.
    pub fn failure(&self) -> Arc<OnceLock<String>> {
        Arc::clone(&self.failed)
    }

    /// Whether a retry of `key` (answered from the state's receipt) is logged: only one that
    /// was committed and never logged.
    pub fn take_unlogged(&mut self, key: &Key) -> bool {
        self.unlogged.remove(key)
    }

    /// The marker the next commit records: the seq so far, `group` and those still unlogged.
    pub fn marker(&self, group: impl IntoIterator<Item = Key>) -> String {
        let mut unlogged: BTreeSet<Key> = self.unlogged.clone();
        unlogged.extend(group);
        let marker = Marker { after: self.writer.head().0, unlogged: unlogged.into_iter().collect() };
        serde_json::to_string(&marker).unwrap_or_default()
    }

    /// Appends a submission's overdue reports, then its decision.
    pub fn submission(&mut self, action: &Action, overdue: &[OverdueReport], decision: &Decision) {
        for report in overdue {
            self.append(None, &RecordJson::Overdue(report));
        }
        self.append(Some(action), &RecordJson::Decision(decision));
    }

    /// Appends an advance's reports.
    pub fn reports(&mut self, reports: &[OverdueReport]) {
        for report in reports {
            self.append(None, &RecordJson::Overdue(report));
        }
    }

    fn append(&mut self, action: Option<&Action>, record: &RecordJson<'_>) {
        if self.failed.get().is_some() {
            return;
        }
        let written = serde_json::to_string(record)
            .map_err(|e| e.to_string())
            .and_then(|json| self.writer.append(action, &json, &self.policies).map_err(|e| log_error(&e)));
        if let Err(e) = written {
            let _ = self.failed.set(e);
        }
    }

    /// Writes the lines appended and waits for the disk: `Err` (and every later call) once a
    /// write failed.
    pub fn sync(&mut self) -> Result<(), String> {
        if let Err(e) = self.writer.sync() {
            let _ = self.failed.set(log_error(&e));
        }
        self.failed.get().cloned().map_or(Ok(()), Err)
    }
}

/// The action ids of the decision lines after seq `after`.
fn logged_after(path: &Path, after: u64) -> Result<BTreeSet<String>, String> {
    #[derive(Deserialize)]
    struct Line {
        seq: u64,
        action: Option<Id>,
    }
    #[derive(Deserialize)]
    struct Id {
        id: String,
    }
    let file = std::fs::File::open(path).map_err(|e| format!("cannot read `{}`: {e}", path.display()))?;
    let mut ids = BTreeSet::new();
    for line in std::io::BufReader::with_capacity(1 << 16, file).lines() {
        let line = line.map_err(|e| format!("cannot read `{}`: {e}", path.display()))?;
        // The log was verified as it was opened: every line is one.
        let Ok(parsed) = serde_json::from_str::<Line>(&line) else { continue };
        if let (true, Some(action)) = (parsed.seq > after, parsed.action) {
            ids.insert(action.id);
        }
    }
    Ok(ids)
}

/// A store whose next transaction also records a marker in the meta as it commits.
pub struct MarkedStore {
    inner: Box<dyn Store>,
    marker: Option<String>,
}

impl MarkedStore {
    /// Wraps a store.
    pub fn new(inner: Box<dyn Store>) -> Self {
        MarkedStore { inner, marker: None }
    }

    /// The next transaction commits `marker` under [`MARKER`] with its writes.
    pub fn mark(&mut self, marker: String) {
        self.marker = Some(marker);
    }
}

impl Store for MarkedStore {
    fn transaction(&mut self) -> Result<Box<dyn Transaction + '_>, StoreError> {
        let inner = self.inner.transaction()?;
        Ok(Box::new(MarkedTransaction { inner, marker: self.marker.take() }))
    }

    fn backend(&self) -> &'static str {
        self.inner.backend()
    }
}

struct MarkedTransaction<'a> {
    inner: Box<dyn Transaction + 'a>,
    marker: Option<String>,
}

impl Transaction for MarkedTransaction<'_> {
    fn meta(&mut self, key: &str) -> Result<Option<String>, StoreError> {
        self.inner.meta(key)
    }
    fn all_meta(&mut self) -> Result<Vec<(String, String)>, StoreError> {
        self.inner.all_meta()
    }
    fn set_meta(&mut self, key: &str, value: &str) -> Result<(), StoreError> {
        self.inner.set_meta(key, value)
    }
    fn lock_rm(&mut self, rm: &str) -> Result<(), StoreError> {
        self.inner.lock_rm(rm)
    }
    fn read_rm(&mut self, rm: &str) -> Result<Option<RmState>, StoreError> {
        self.inner.read_rm(rm)
    }
    fn read_all_rms(
        &mut self,
        visit: &mut dyn FnMut(&str, RmState) -> Result<(), StoreError>,
    ) -> Result<(), StoreError> {
        self.inner.read_all_rms(visit)
    }
    fn count_rms(&mut self) -> Result<u64, StoreError> {
        self.inner.count_rms()
    }
    fn upsert_rm(&mut self, rm: &str, state: &RmState) -> Result<(), StoreError> {
        self.inner.upsert_rm(rm, state)
    }
    fn delete_rm(&mut self, rm: &str) -> Result<bool, StoreError> {
        self.inner.delete_rm(rm)
    }
    fn recorded(&mut self, rm: &str, action: &str) -> Result<Option<Recorded>, StoreError> {
        self.inner.recorded(rm, action)
    }
    fn all_recorded(&mut self, rm: &str) -> Result<Vec<(String, Recorded)>, StoreError> {
        self.inner.all_recorded(rm)
    }
    fn put_recorded(&mut self, rm: &str, action: &str, recorded: &Recorded) -> Result<(), StoreError> {
        self.inner.put_recorded(rm, action, recorded)
    }
    fn delete_recorded_before(&mut self, rm: &str, at: DateTime<FixedOffset>) -> Result<(), StoreError> {
        self.inner.delete_recorded_before(rm, at)
    }
    fn commit(mut self: Box<Self>) -> Result<(), StoreError> {
        if let Some(marker) = self.marker.take() {
            self.inner.set_meta(MARKER, &marker)?;
        }
        self.inner.commit()
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]
mod tests {
    use super::*;
    use probity::store::MemoryStore;
    use probity::PolicySet;

    fn engine() -> Engine {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../policies/cn");
        Engine::new(PolicySet::from_dir(&dir).unwrap())
    }

    fn receipt() -> Recorded {
        let expires = chrono::DateTime::parse_from_rfc3339("2027-01-01T00:00:00Z").unwrap();
        Recorded { hash: "sha256:00".into(), records: "{}".into(), expires }
    }

    /// A store whose last commit marked `unlogged` after `after`, with receipts for `recorded`.
    fn store(after: u64, unlogged: &[&str], recorded: &[&str]) -> MemoryStore {
        let mut store = MemoryStore::new();
        let mut tx = store.transaction().unwrap();
        let marker = Marker { after, unlogged: unlogged.iter().map(|id| ("RM".into(), id.to_string())).collect() };
        tx.set_meta(MARKER, &serde_json::to_string(&marker).unwrap()).unwrap();
        for id in recorded {
            tx.put_recorded("RM", id, &receipt()).unwrap();
        }
        tx.commit().unwrap();
        store
    }

    fn action(id: &str) -> Action {
        Action::from_json(&format!(
            r#"{{"type": "customer_call", "id": "{id}", "at": "2026-03-01T09:00:00+08:00", "rm": {{"id": "RM"}}}}"#
        ))
        .unwrap()
    }

    #[test]
    fn a_commit_the_log_lacks_is_found_and_logged_once() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("log");
        let engine = engine();
        // A committed and in the log; B committed, not logged; C marked but never recorded (an
        // input error).
        let mut log = DecisionLog::open(&path, &engine, None, &mut store(0, &[], &[])).unwrap();
        let decision = engine.evaluate(&action("A"), &probity::History::new()).unwrap();
        log.submission(&action("A"), &[], &decision);
        log.sync().unwrap();
        drop(log);
        let mut marked = store(0, &["A", "B", "C"], &["A", "B"]);
        let mut log = DecisionLog::open(&path, &engine, None, &mut marked).unwrap();
        let b = ("RM".to_string(), "B".to_string());
        assert_eq!(log.unlogged, BTreeSet::from([b.clone()]));
        // The next commit's marker carries B on, with the seq so far.
        let next: Marker = serde_json::from_str(&log.marker([("RM".into(), "D".into())])).unwrap();
        assert_eq!((next.after, next.unlogged.len()), (1, 2));
        assert!(log.take_unlogged(&b));
        assert!(!log.take_unlogged(&b), "logged once");
        // A marker after the log's lines: none of them counts as logged.
        let log = DecisionLog::open(&path, &engine, None, &mut store(1, &["A"], &["A"])).unwrap();
        assert_eq!(log.unlogged.len(), 1);
    }

    #[test]
    fn a_marker_that_is_not_one_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let mut store = MemoryStore::new();
        let mut tx = store.transaction().unwrap();
        tx.set_meta(MARKER, "not json").unwrap();
        tx.commit().unwrap();
        let error = DecisionLog::open(&dir.path().join("log"), &engine(), None, &mut store).err().unwrap();
        assert!(error.contains(MARKER), "{error}");
    }

    #[test]
    fn a_marked_store_writes_its_marker_with_the_next_commit_only() {
        let mut store = MarkedStore::new(Box::new(MemoryStore::new()));
        store.mark("first".into());
        store.transaction().unwrap().commit().unwrap();
        store.transaction().unwrap().commit().unwrap();
        assert_eq!(store.transaction().unwrap().meta(MARKER).unwrap().as_deref(), Some("first"));
        // A transaction dropped without a commit writes nothing, and uses the marker up.
        store.mark("second".into());
        drop(store.transaction().unwrap());
        store.transaction().unwrap().commit().unwrap();
        assert_eq!(store.transaction().unwrap().meta(MARKER).unwrap().as_deref(), Some("first"));
    }
}
