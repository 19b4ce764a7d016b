//! The durable store behind a ledger: the interface that the SQLite and PostgreSQL backends (the
//! `probity-store` crate) implement, so that the core names no database.
//!
//! The store keeps three things, and interprets none of their contents:
//! - **meta**: key → text, such as the state format's version and the digests of the policies
//!   the state was built with ([`Transaction::meta`], [`Transaction::set_meta`]);
//! - **one row per RM**: the RM's state as an opaque, versioned blob that the core serialises,
//!   and the RM's clock ([`RmState`]);
//! - **recorded decisions**: per RM and action id, the content hash of the action and the record
//!   lines its submission produced, kept until an expiry instant ([`Recorded`]), so that a
//!   retried submission returns what was recorded instead of counting twice.
//!
//! Everything happens inside a [`Transaction`]: its writes take effect all together at
//! [`Transaction::commit`], or not at all when it is dropped without one (a crash is such a
//! drop). A durable ledger's submission of a batch is meant to be one transaction:
//!
//! 1. [`Store::transaction`];
//! 2. for each RM of the batch, in ascending order of id: [`Transaction::lock_rm`], then
//!    [`Transaction::read_rm`] (its state as committed by whoever held the lock last);
//! 3. per action, [`Transaction::recorded`]: a recorded decision with the same content hash is
//!    returned as it is; otherwise the action is decided and [`Transaction::put_recorded`] keeps
//!    its record lines;
//! 4. per RM, [`Transaction::upsert_rm`] with the new state, and
//!    [`Transaction::delete_recorded_before`] with the instant before which the bounded-memory
//!    rules have dropped the RM's actions;
//! 5. [`Transaction::commit`]; only then are the decisions acknowledged.
//!
//! A restore reads every RM with [`Transaction::read_all_rms`]. Every failure is a
//! [`StoreError`] with a stable code; no input makes a store panic.

use std::collections::BTreeMap;

use chrono::{DateTime, Datelike, FixedOffset, SecondsFormat, Utc};

/// The source of a [`StoreError`]: the backend's own error, kept for its detail.
pub type Source = Box<dyn std::error::Error + Send + Sync + 'static>;

/// A failure of a store, with a stable code ([`StoreError::code`], `S0001`…).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// `S0001`: the location cannot be opened or connected to.
    #[error("cannot open the state at {location}: {source}")]
    Open {
        /// The file path or the URL (without its password).
        location: String,
        /// Why.
        source: Source,
    },
    /// `S0002`: the location holds something else than a Probity state.
    #[error("{location} is not a Probity state: {detail}")]
    NotAState {
        /// The file path or the URL.
        location: String,
        /// What was found instead.
        detail: String,
    },
    /// `S0003`: the state was written by a later version of Probity, with a schema this one does
    /// not know.
    #[error(
        "the state at {location} has schema version {found}, newer than the {supported} this version of Probity reads"
    )]
    NewerSchema {
        /// The file path or the URL.
        location: String,
        /// The state's schema version.
        found: i64,
        /// The newest schema version this build reads.
        supported: i64,
    },
    /// `S0004`: the transaction lost a race with another writer (a deadlock, a serialisation
    /// failure, a lock not granted in time) and was rolled back; running it again may succeed.
    #[error("the transaction conflicted with another writer and was rolled back: {source}")]
    Conflict {
        /// The backend's report.
        source: Source,
    },
    /// `S0005`: the database failed an operation (a full disk, a lost connection, an I/O error).
    #[error("the state's database failed to {operation}: {source}")]
    Backend {
        /// What was being done, such as `commit` or `read an RM`.
        operation: &'static str,
        /// The backend's report.
        source: Source,
    },
    /// `S0006`: a value the store cannot hold, such as an instant outside the years 0000 to 9999.
    #[error("{0}")]
    OutOfRange(String),
    /// `S0007`: a stored value cannot be read back (the state was altered by hand or damaged).
    #[error("the state is damaged: {0}")]
    Corrupt(String),
    /// `S0008`: the state holds an item of a policy version (or of a duty or ladder of it) that
    /// the policy set it is opened with does not have.
    #[error("the state does not fit the policy set: {0}")]
    PolicyMismatch(String),
}

impl StoreError {
    /// The stable code (`S0001`…).
    pub fn code(&self) -> &'static str {
        match self {
            StoreError::Open { .. } => "S0001",
            StoreError::NotAState { .. } => "S0002",
            StoreError::NewerSchema { .. } => "S0003",
            StoreError::Conflict { .. } => "S0004",
            StoreError::Backend { .. } => "S0005",
            StoreError::OutOfRange(_) => "S0006",
            StoreError::Corrupt(_) => "S0007",
            StoreError::PolicyMismatch(_) => "S0008",
        }
    }

    /// A hint on what to do about the error.
    pub fn hint(&self) -> &'static str {
        match self {
            StoreError::Open { .. } => {
                "check the path (its directory must exist) or the URL, the server and the credentials"
            }
            StoreError::NotAState { .. } => {
                "give the path of a state that Probity created, or a path where none exists yet"
            }
            StoreError::NewerSchema { .. } => "open it with the version of Probity that wrote it, or a later one",
            StoreError::Conflict { .. } => {
                "run the transaction again; lock RMs in ascending order of id to avoid deadlocks"
            }
            StoreError::Backend { .. } => "see the database's message; nothing of the transaction was committed",
            StoreError::OutOfRange(_) => "instants are stored for the years 0000 to 9999",
            StoreError::Corrupt(_) => "restore the state from a backup, or rebuild it by replaying",
            StoreError::PolicyMismatch(_) => {
                "open it with the policy set it was built with, or one that adds versions to it (a new file with a later `effective`)"
            }
        }
    }

    /// Whether running the same transaction again may succeed ([`StoreError::Conflict`]).
    pub fn is_retryable(&self) -> bool {
        matches!(self, StoreError::Conflict { .. })
    }
}

/// One RM's row: the core's serialised state of the RM, and its clock.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RmState {
    /// The RM's state as the core serialised it (versioned by the core; opaque to the store).
    pub blob: Vec<u8>,
    /// The RM's clock: the latest instant its state has seen. Stored with its UTC offset, so
    /// that it reads back as it was written.
    pub clock: DateTime<FixedOffset>,
}

/// The first bytes of an RM state packed by [`pack_state`]: a NUL, which no JSON text starts
/// with, and `PZ4`. The JSON's length follows (four bytes, little-endian), then the LZ4 block.
const PACKED: &[u8; 4] = b"\0PZ4";

/// The longest RM state [`unpack_state`] unpacks, in bytes of JSON: a damaged length cannot make
/// it allocate more.
pub const MAX_STATE_BYTES: usize = 1 << 30;

/// An RM state's JSON as a store keeps it: an LZ4 block behind a short header. A state is
/// mostly its kept actions' JSON, whose keys and RM details repeat from one action to the next,
/// and a commit rewrites every changed RM's state: packed, it writes about a fifth of the bytes.
/// After the four bytes `\0PZ4` comes `lz4_flex`'s size-prepended block. A state too long for
/// that size (4 GiB) stays plain JSON.
pub fn pack_state(json: &str) -> Vec<u8> {
    if u32::try_from(json.len()).is_err() {
        return json.as_bytes().to_vec();
    }
    [&PACKED[..], &lz4_flex::block::compress_prepend_size(json.as_bytes())].concat()
}

/// The JSON of an RM state as a store keeps it: packed by [`pack_state`], or plain JSON text
/// (as states written before packing were, and as `probity.spark` seeds one). An error says
/// why the bytes are neither.
pub fn unpack_state(blob: &[u8]) -> Result<std::borrow::Cow<'_, str>, String> {
    let Some(rest) = blob.strip_prefix(PACKED) else {
        return std::str::from_utf8(blob).map(std::borrow::Cow::Borrowed).map_err(|e| format!("not UTF-8: {e}"));
    };
    let (length, block) = rest.split_first_chunk::<4>().ok_or("a packed state without its length")?;
    let length = usize::try_from(u32::from_le_bytes(*length)).unwrap_or(usize::MAX);
    if length > MAX_STATE_BYTES {
        return Err(format!("a packed state of {length} bytes, more than the limit of {MAX_STATE_BYTES}"));
    }
    let bytes =
        lz4_flex::block::decompress(block, length).map_err(|e| format!("a packed state that does not unpack: {e}"))?;
    if bytes.len() != length {
        return Err(format!("a packed state of {} bytes, not the {length} its header says", bytes.len()));
    }
    String::from_utf8(bytes).map(std::borrow::Cow::Owned).map_err(|e| format!("not UTF-8: {e}"))
}

/// A recorded decision: what a submission of an action produced, kept so that a retry of the
/// same action id returns it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Recorded {
    /// The content hash of the action, to tell a retry (same hash) from a different action that
    /// reuses the id.
    pub hash: String,
    /// The record lines (JSON, one per line) that the submission produced.
    pub records: String,
    /// The instant from which the record is no longer needed:
    /// [`Transaction::delete_recorded_before`] drops it once its argument is later than this.
    /// Stored as the instant alone: it reads back in UTC.
    pub expires: DateTime<FixedOffset>,
}

/// A durable store of ledger state. Object safe: a ledger holds a `Box<dyn Store>`.
pub trait Store: Send {
    /// Begins a transaction. With SQLite it holds the database's write lock from the start
    /// (`BEGIN IMMEDIATE`), waiting a while for another writer to finish; with PostgreSQL it is
    /// `READ COMMITTED`, and writers of the same RM are serialised by [`Transaction::lock_rm`].
    fn transaction(&mut self) -> Result<Box<dyn Transaction + '_>, StoreError>;

    /// The backend's name: `sqlite` or `postgres`.
    fn backend(&self) -> &'static str;
}

impl std::fmt::Debug for dyn Store + '_ {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Store({})", self.backend())
    }
}

/// The reads and writes of one transaction. Writes are visible to the transaction's own reads
/// at once, and to others after [`Transaction::commit`]; dropping the transaction without
/// committing rolls everything back. A backend may send writes to the database in batches, so
/// the error of a write can surface at a later call or at the commit: after any error, drop the
/// transaction.
pub trait Transaction {
    /// The meta value of `key`, if set.
    fn meta(&mut self, key: &str) -> Result<Option<String>, StoreError>;

    /// Every meta entry, in ascending order of key (bytewise).
    fn all_meta(&mut self) -> Result<Vec<(String, String)>, StoreError>;

    /// Sets the meta value of `key`.
    fn set_meta(&mut self, key: &str, value: &str) -> Result<(), StoreError>;

    /// Waits until no other transaction holds the lock of `rm`, then holds it until this one
    /// ends. Call it before reading the RM's state that this transaction will write back: two
    /// transactions (or processes) that lock the same RM run one after the other, so neither
    /// loses the other's update. Locking an RM twice is harmless. Lock several RMs in ascending
    /// order of id: two transactions locking in opposite orders may deadlock, and one of them
    /// then fails with [`StoreError::Conflict`]. With SQLite, where a transaction holds the
    /// whole database's write lock, it does nothing.
    fn lock_rm(&mut self, rm: &str) -> Result<(), StoreError>;

    /// The state of `rm`, if it has a row.
    fn read_rm(&mut self, rm: &str) -> Result<Option<RmState>, StoreError>;

    /// Calls `visit` with every RM's id and state, in ascending order of id (bytewise), stopping
    /// at the first error (its own or `visit`'s).
    fn read_all_rms(
        &mut self,
        visit: &mut dyn FnMut(&str, RmState) -> Result<(), StoreError>,
    ) -> Result<(), StoreError>;

    /// The number of RMs with a row.
    fn count_rms(&mut self) -> Result<u64, StoreError>;

    /// Writes the state of `rm`, replacing any it had.
    fn upsert_rm(&mut self, rm: &str, state: &RmState) -> Result<(), StoreError>;

    /// Deletes the row of `rm` and all its recorded decisions (when the RM moves to another
    /// state); whether it had a row.
    fn delete_rm(&mut self, rm: &str) -> Result<bool, StoreError>;

    /// The recorded decision of `action` (its id) for `rm`, if one is kept.
    fn recorded(&mut self, rm: &str, action: &str) -> Result<Option<Recorded>, StoreError>;

    /// Every recorded decision kept for `rm`, in ascending order of action id (bytewise).
    fn all_recorded(&mut self, rm: &str) -> Result<Vec<(String, Recorded)>, StoreError>;

    /// Keeps the recorded decision of `action` for `rm`, replacing any kept for that id.
    fn put_recorded(&mut self, rm: &str, action: &str, recorded: &Recorded) -> Result<(), StoreError>;

    /// Drops the recorded decisions of `rm` that expire strictly before `at` (one expiring at
    /// `at` itself is kept). A store may drop them later in the transaction, in one statement
    /// for many RMs, but before it reads a recorded decision again and before it commits.
    fn delete_recorded_before(&mut self, rm: &str, at: DateTime<FixedOffset>) -> Result<(), StoreError>;

    /// Makes every write of the transaction durable, all together. When it returns `Ok` the
    /// writes survive a crash of the process (and, with the default settings, of the machine);
    /// when it fails, none of them took effect.
    fn commit(self: Box<Self>) -> Result<(), StoreError>;
}

/// An instant as text whose bytewise order is the order of the instants: UTC with nine digits of
/// fraction (`2026-03-01T09:00:00.000000000Z`), for the years 0000 to 9999. Backends store
/// expiry instants this way, so that the database compares them exactly (to the nanosecond) and
/// the same way in SQLite and PostgreSQL.
pub fn sortable_instant(at: DateTime<FixedOffset>) -> Result<String, StoreError> {
    let utc = at.with_timezone(&Utc);
    if !(0..=9999).contains(&utc.year()) {
        return Err(StoreError::OutOfRange(format!(
            "{} is outside the years 0000 to 9999 that a state stores",
            at.to_rfc3339_opts(SecondsFormat::AutoSi, true)
        )));
    }
    Ok(utc.to_rfc3339_opts(SecondsFormat::Nanos, true))
}

/// An instant as stored text that keeps its UTC offset (RFC 3339), for the RM clock.
pub fn stored_instant(at: DateTime<FixedOffset>) -> String {
    at.to_rfc3339_opts(SecondsFormat::AutoSi, true)
}

/// Reads back an instant written by [`stored_instant`] or [`sortable_instant`].
pub fn parse_stored_instant(text: &str) -> Result<DateTime<FixedOffset>, StoreError> {
    DateTime::parse_from_rfc3339(text)
        .map_err(|e| StoreError::Corrupt(format!("the instant `{text}` cannot be read: {e}")))
}

/// A store in memory, for tests and examples of what runs over a [`Store`] (the durable
/// backends are in the `probity-store` crate). Its transactions behave as theirs do (commit all
/// or nothing, drop to roll back), but each one works on a copy of the whole state, so it suits
/// small states only, and nothing outlives the value.
#[derive(Debug, Clone, Default)]
pub struct MemoryStore {
    state: MemoryState,
}

#[derive(Debug, Clone, Default)]
struct MemoryState {
    meta: BTreeMap<String, String>,
    rms: BTreeMap<String, RmState>,
    /// By RM, then action id.
    recorded: BTreeMap<String, BTreeMap<String, Recorded>>,
}

impl MemoryStore {
    /// An empty store.
    pub fn new() -> MemoryStore {
        MemoryStore::default()
    }
}

impl Store for MemoryStore {
    fn transaction(&mut self) -> Result<Box<dyn Transaction + '_>, StoreError> {
        let working = self.state.clone();
        Ok(Box::new(MemoryTransaction { committed: &mut self.state, working }))
    }

    fn backend(&self) -> &'static str {
        "memory"
    }
}

/// A copy of the state, written back at the commit.
struct MemoryTransaction<'a> {
    committed: &'a mut MemoryState,
    working: MemoryState,
}

impl Transaction for MemoryTransaction<'_> {
    fn meta(&mut self, key: &str) -> Result<Option<String>, StoreError> {
        Ok(self.working.meta.get(key).cloned())
    }

    fn all_meta(&mut self) -> Result<Vec<(String, String)>, StoreError> {
        Ok(self.working.meta.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
    }

    fn set_meta(&mut self, key: &str, value: &str) -> Result<(), StoreError> {
        self.working.meta.insert(key.to_string(), value.to_string());
        Ok(())
    }

    fn lock_rm(&mut self, _rm: &str) -> Result<(), StoreError> {
        // One transaction at a time: `&mut` on the store.
        Ok(())
    }

    fn read_rm(&mut self, rm: &str) -> Result<Option<RmState>, StoreError> {
        Ok(self.working.rms.get(rm).cloned())
    }

    fn read_all_rms(
        &mut self,
        visit: &mut dyn FnMut(&str, RmState) -> Result<(), StoreError>,
    ) -> Result<(), StoreError> {
        self.working.rms.iter().try_for_each(|(rm, state)| visit(rm, state.clone()))
    }

    fn count_rms(&mut self) -> Result<u64, StoreError> {
        u64::try_from(self.working.rms.len()).map_err(|_| StoreError::OutOfRange("too many RMs".into()))
    }

    fn upsert_rm(&mut self, rm: &str, state: &RmState) -> Result<(), StoreError> {
        self.working.rms.insert(rm.to_string(), state.clone());
        Ok(())
    }

    fn delete_rm(&mut self, rm: &str) -> Result<bool, StoreError> {
        self.working.recorded.remove(rm);
        Ok(self.working.rms.remove(rm).is_some())
    }

    fn recorded(&mut self, rm: &str, action: &str) -> Result<Option<Recorded>, StoreError> {
        Ok(self.working.recorded.get(rm).and_then(|kept| kept.get(action)).cloned())
    }

    fn all_recorded(&mut self, rm: &str) -> Result<Vec<(String, Recorded)>, StoreError> {
        let kept = self.working.recorded.get(rm);
        Ok(kept.into_iter().flatten().map(|(a, r)| (a.clone(), r.clone())).collect())
    }

    fn put_recorded(&mut self, rm: &str, action: &str, recorded: &Recorded) -> Result<(), StoreError> {
        // Checked as the durable stores check it, and kept in UTC as they read it back.
        let expires = parse_stored_instant(&sortable_instant(recorded.expires)?)?;
        let recorded = Recorded { expires, ..recorded.clone() };
        self.working.recorded.entry(rm.to_string()).or_default().insert(action.to_string(), recorded);
        Ok(())
    }

    fn delete_recorded_before(&mut self, rm: &str, at: DateTime<FixedOffset>) -> Result<(), StoreError> {
        sortable_instant(at)?;
        let Some(kept) = self.working.recorded.get_mut(rm) else {
            return Ok(());
        };
        kept.retain(|_, r| r.expires >= at);
        if kept.is_empty() {
            self.working.recorded.remove(rm);
        }
        Ok(())
    }

    fn commit(self: Box<Self>) -> Result<(), StoreError> {
        let MemoryTransaction { committed, working } = *self;
        *committed = working;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(text: &str) -> DateTime<FixedOffset> {
        DateTime::parse_from_rfc3339(text).unwrap()
    }

    /// A packed state unpacks to its JSON and is smaller; plain JSON reads as it is; a header
    /// that lies, a cut block, a length over the limit and bytes that are not text are errors.
    #[test]
    fn an_rm_state_is_packed_and_read_back() {
        let json =
            format!("{{\"format\":1,\"actions\":[{}]}}", vec!["{\"rm\":{\"id\":\"RM-1\"},\"n\":\"é\"}"; 200].join(","));
        let packed = pack_state(&json);
        assert!(packed.starts_with(PACKED) && packed.len() * 4 < json.len(), "{} of {}", packed.len(), json.len());
        assert_eq!(unpack_state(&packed).unwrap(), json);
        assert_eq!(unpack_state(json.as_bytes()).unwrap(), json, "plain JSON");
        assert_eq!(unpack_state(&pack_state("")).unwrap(), "");
        let mut lying = packed.clone();
        lying[4] = lying[4].wrapping_add(1);
        assert!(unpack_state(&lying).is_err(), "a length that is not the block's");
        assert!(unpack_state(&packed[..packed.len() - 3]).is_err(), "a cut block");
        assert!(unpack_state(&packed[..6]).unwrap_err().contains("length"), "a cut header");
        let mut huge = PACKED.to_vec();
        huge.extend_from_slice(&u32::MAX.to_le_bytes());
        assert!(unpack_state(&huge).unwrap_err().contains("limit"));
        assert!(unpack_state(&[0xff, 0xfe]).unwrap_err().contains("UTF-8"));
        let not_text = {
            let mut b = PACKED.to_vec();
            b.extend_from_slice(&2u32.to_le_bytes());
            b.extend_from_slice(&lz4_flex::block::compress(&[0xff, 0xfe]));
            b
        };
        assert!(unpack_state(&not_text).unwrap_err().contains("UTF-8"));
    }

    #[test]
    fn sortable_instants_sort_as_the_instants_do() {
        // The same instant in two offsets is one text; a nanosecond later sorts after it.
        let a = sortable_instant(at("2026-03-01T17:00:00+08:00")).unwrap();
        assert_eq!(a, "2026-03-01T09:00:00.000000000Z");
        assert_eq!(sortable_instant(at("2026-03-01T09:00:00Z")).unwrap(), a);
        let b = sortable_instant(at("2026-03-01T09:00:00.000000001Z")).unwrap();
        assert!(a < b);
        // Years of one digit are padded, so 0999 sorts before 1000.
        assert!(
            sortable_instant(at("0999-12-31T23:59:59Z")).unwrap()
                < sortable_instant(at("1000-01-01T00:00:00Z")).unwrap()
        );
    }

    #[test]
    fn an_instant_past_the_year_9999_in_utc_is_out_of_range() {
        // 9999-12-31T20:00-08:00 is 10000-01-01T04:00Z.
        let e = sortable_instant(at("9999-12-31T20:00:00-08:00")).unwrap_err();
        assert_eq!(e.code(), "S0006");
        assert!(sortable_instant(at("9999-12-31T23:59:59.999999999Z")).is_ok());
        let e = sortable_instant(at("0000-01-01T00:00:00+01:00")).unwrap_err();
        assert_eq!(e.code(), "S0006");
    }

    #[test]
    fn stored_instants_keep_their_offset() {
        let t = at("2026-03-01T17:00:00.25+08:00");
        let text = stored_instant(t);
        assert_eq!(text, "2026-03-01T17:00:00.250+08:00");
        let back = parse_stored_instant(&text).unwrap();
        assert_eq!(back, t);
        assert_eq!(back.offset(), t.offset());
        assert_eq!(parse_stored_instant("yesterday").unwrap_err().code(), "S0007");
    }

    #[test]
    fn only_a_conflict_is_retryable() {
        let conflict = StoreError::Conflict { source: "deadlock detected".into() };
        assert!(conflict.is_retryable());
        assert_eq!(conflict.code(), "S0004");
        assert!(!StoreError::Corrupt("x".into()).is_retryable());
    }

    fn state(blob: &[u8]) -> RmState {
        RmState { blob: blob.to_vec(), clock: at("2026-03-01T09:00:00+08:00") }
    }

    fn kept(expires: &str) -> Recorded {
        Recorded { hash: "h".into(), records: "{}\n".into(), expires: at(expires) }
    }

    #[test]
    fn a_memory_store_commits_all_or_nothing() {
        let mut store = MemoryStore::new();
        let boxed: &mut dyn Store = &mut store;
        let mut tx = boxed.transaction().unwrap();
        tx.upsert_rm("b", &state(b"1")).unwrap();
        tx.upsert_rm("a", &state(b"2")).unwrap();
        tx.put_recorded("a", "x", &kept("2026-03-01T17:00:00+08:00")).unwrap();
        tx.set_meta("format", "1").unwrap();
        tx.commit().unwrap();
        // Dropped without a commit: nothing of it is kept.
        let mut tx = boxed.transaction().unwrap();
        tx.upsert_rm("c", &state(b"3")).unwrap();
        assert!(tx.delete_rm("a").unwrap());
        tx.set_meta("format", "2").unwrap();
        drop(tx);
        let mut tx = boxed.transaction().unwrap();
        let mut seen = Vec::new();
        tx.read_all_rms(&mut |rm, s| {
            seen.push((rm.to_string(), s.blob));
            Ok(())
        })
        .unwrap();
        assert_eq!(seen, [("a".to_string(), b"2".to_vec()), ("b".to_string(), b"1".to_vec())]);
        assert_eq!(tx.meta("format").unwrap().as_deref(), Some("1"));
        // Expiry reads back in UTC, the same instant.
        let r = tx.recorded("a", "x").unwrap().unwrap();
        assert_eq!(r.expires, at("2026-03-01T09:00:00Z"));
        assert_eq!(r.expires.offset().local_minus_utc(), 0);
        drop(tx);
        assert_eq!(format!("{boxed:?}"), "Store(memory)");
    }

    #[test]
    fn a_memory_store_expires_strictly_before_the_instant() {
        let mut store = MemoryStore::new();
        let mut tx = store.transaction().unwrap();
        tx.put_recorded("a", "edge", &kept("2026-03-01T10:00:00Z")).unwrap();
        tx.put_recorded("a", "late", &kept("2026-03-01T10:00:00.000000001Z")).unwrap();
        tx.delete_recorded_before("a", at("2026-03-01T18:00:00+08:00")).unwrap();
        assert_eq!(tx.all_recorded("a").unwrap().len(), 2);
        tx.delete_recorded_before("a", at("2026-03-01T10:00:00.000000001Z")).unwrap();
        assert_eq!(tx.all_recorded("a").unwrap().len(), 1);
        tx.delete_recorded_before("nobody", at("2026-03-01T10:00:00Z")).unwrap();
        let e = tx.put_recorded("a", "y", &kept("9999-12-31T20:00:00-08:00")).unwrap_err();
        assert_eq!(e.code(), "S0006");
    }
}
