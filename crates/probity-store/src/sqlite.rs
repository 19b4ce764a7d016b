//! The embedded store: one SQLite file in WAL mode, each commit synced to disk.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use chrono::{DateTime, FixedOffset};
use probity::store::{
    parse_stored_instant, sortable_instant, stored_instant, Recorded, RmState, Store, StoreError, Transaction,
};
use rusqlite::{params, Connection, ErrorCode, OpenFlags, OptionalExtension, TransactionBehavior};

use crate::{count, SCHEMA_VERSION};

/// The `PRAGMA application_id` of a Probity state (`PROB` in ASCII), which tells a state from
/// another application's SQLite file.
pub const APPLICATION_ID: i64 = 0x5052_4F42;

/// The schema, version [`SCHEMA_VERSION`]. Keys are TEXT compared bytewise (SQLite's BINARY
/// collation), as PostgreSQL's `COLLATE "C"` does.
const SCHEMA: &str = "
CREATE TABLE probity_meta (key TEXT PRIMARY KEY NOT NULL, value TEXT NOT NULL);
CREATE TABLE probity_rm (rm TEXT PRIMARY KEY NOT NULL, state BLOB NOT NULL, clock TEXT NOT NULL);
CREATE TABLE probity_recorded (
    rm TEXT NOT NULL,
    action TEXT NOT NULL,
    hash TEXT NOT NULL,
    records TEXT NOT NULL,
    expires TEXT NOT NULL,
    PRIMARY KEY (rm, action)
);
CREATE INDEX probity_recorded_expires ON probity_recorded (expires);
";

/// A state written before the expiry index was on `expires` alone had it on `(rm, expires)`:
/// an index that every decision recorded inserts into at a random place, which took about as
/// long as the rest of the row's insert. Replaced when the file is opened.
const EXPIRY_INDEX: &str = "
DROP INDEX IF EXISTS probity_recorded_expiry;
CREATE INDEX IF NOT EXISTS probity_recorded_expires ON probity_recorded (expires);
";

/// Above this many RMs with expired decisions to drop, one statement drops them all, walking the
/// decisions by expiry; at most this many, one statement an RM walks that RM's decisions.
const EXPIRE_IN_ONE_STATEMENT_ABOVE: usize = 32;

/// How each commit reaches the disk (`PRAGMA synchronous`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Synchronous {
    /// Each commit's WAL frames are synced before the commit returns: an acknowledged commit
    /// survives a power cut. The default.
    #[default]
    Full,
    /// The WAL is synced only at checkpoints: a commit survives a crash of the process, but the
    /// last commits may be lost in a power cut. For measurements and throwaway states.
    Normal,
}

/// How a [`SqliteStore`] is opened.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SqliteOptions {
    /// How each commit reaches the disk.
    pub synchronous: Synchronous,
    /// How long a transaction waits for another connection's write lock before failing with
    /// [`StoreError::Conflict`].
    pub busy_timeout: Duration,
}

impl Default for SqliteOptions {
    fn default() -> Self {
        SqliteOptions { synchronous: Synchronous::Full, busy_timeout: Duration::from_secs(30) }
    }
}

/// A state in one SQLite file (created, with its schema, if the file does not exist or is
/// empty). Several connections, in one process or several, may open the same file: their
/// transactions run one at a time.
#[derive(Debug)]
pub struct SqliteStore {
    connection: Connection,
}

impl SqliteStore {
    /// Opens (or creates) the state at `path` with the default options.
    pub fn open(path: impl AsRef<Path>) -> Result<SqliteStore, StoreError> {
        SqliteStore::open_with(path, SqliteOptions::default())
    }

    /// Opens (or creates) the state at `path`: a file that is not a Probity state, or one with
    /// a newer schema, is an error and is left as it was.
    pub fn open_with(path: impl AsRef<Path>, options: SqliteOptions) -> Result<SqliteStore, StoreError> {
        // Two connections switching a new file to WAL mode at once: SQLite may answer one
        // `SQLITE_BUSY` at once, without waiting on its busy handler. Try again, for as long as
        // the busy timeout.
        let start = std::time::Instant::now();
        loop {
            match SqliteStore::open_once(path.as_ref(), options) {
                Err(StoreError::Conflict { .. }) if start.elapsed() < options.busy_timeout => {
                    std::thread::sleep(Duration::from_millis(10));
                }
                opened => return opened,
            }
        }
    }

    fn open_once(path: &Path, options: SqliteOptions) -> Result<SqliteStore, StoreError> {
        let location = path.display().to_string();
        let flags = OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_CREATE | OpenFlags::SQLITE_OPEN_NO_MUTEX;
        let mut connection = Connection::open_with_flags(path, flags)
            .map_err(|e| StoreError::Open { location: location.clone(), source: Box::new(e) })?;
        connection.busy_timeout(options.busy_timeout).map_err(|e| backend("set the busy timeout", e))?;
        // Identify the file before changing anything in it.
        let new = identify(&connection, &location)?;
        if new {
            // 16 KiB pages (the default is 4 KiB): an RM's state (a few KiB of JSON) mostly fits
            // one page instead of a chain of overflow pages, and a commit takes a quarter of the
            // writes. Only an empty file takes it, before it is put in WAL mode.
            connection.execute_batch("PRAGMA page_size=16384").map_err(|e| backend("set the page size", e))?;
        }
        let journal: String = connection
            .query_row("PRAGMA journal_mode=WAL", [], |row| row.get(0))
            .map_err(|e| opening(&location, "switch to WAL mode", e))?;
        if !journal.eq_ignore_ascii_case("wal") {
            return Err(StoreError::Open {
                location,
                source: format!("the file cannot be put in WAL mode (its journal mode stays `{journal}`)").into(),
            });
        }
        let synchronous = match options.synchronous {
            Synchronous::Full => "PRAGMA synchronous=FULL",
            Synchronous::Normal => "PRAGMA synchronous=NORMAL",
        };
        connection.execute_batch(synchronous).map_err(|e| backend("set synchronous", e))?;
        // A 64 MiB page cache (the default is 2 MiB): a batch touches every index page of its
        // RMs, and with the default a 1,000-RM batch took about a third longer.
        connection.execute_batch("PRAGMA cache_size=-65536").map_err(|e| backend("set the cache size", e))?;
        // Reads through a memory map of up to 1 GiB (pages the cache lost are read without a
        // copy), and a checkpoint after 64 MiB of log rather than 4 MiB: a page written again
        // before the checkpoint is copied into the file once.
        connection
            .execute_batch("PRAGMA mmap_size=1073741824; PRAGMA wal_autocheckpoint=4096")
            .map_err(|e| backend("set the memory map and checkpoint size", e))?;
        // The temporary table of RMs whose expired decisions a commit drops stays in memory.
        connection.execute_batch("PRAGMA temp_store=MEMORY").map_err(|e| backend("set the temporary store", e))?;
        connection.set_prepared_statement_cache_capacity(32);
        if new {
            create(&mut connection, &location)?;
        } else {
            replace_expiry_index(&mut connection)?;
        }
        Ok(SqliteStore { connection })
    }
}

/// Whether the file is empty (a new state); an error if it is something else than a state this
/// version reads.
fn identify(connection: &Connection, location: &str) -> Result<bool, StoreError> {
    // One statement, so one snapshot: read one by one, the header could be seen half before and
    // half after another connection created the schema (an application id of 0 with a version).
    let (application, version, objects): (i64, i64, i64) = connection
        .query_row(
            "SELECT (SELECT application_id FROM pragma_application_id), \
                    (SELECT user_version FROM pragma_user_version), \
                    (SELECT count(*) FROM sqlite_schema)",
            [],
            |row| Ok((row.get(0)?, row.get(1)?, row.get(2)?)),
        )
        .map_err(|e| opening(location, "read the file's header", e))?;
    if application == APPLICATION_ID {
        return match version {
            SCHEMA_VERSION => Ok(false),
            v if v > SCHEMA_VERSION => {
                Err(StoreError::NewerSchema { location: location.to_string(), found: v, supported: SCHEMA_VERSION })
            }
            v => Err(StoreError::NotAState {
                location: location.to_string(),
                detail: format!("it is marked as one but has schema version {v}, which no version of Probity wrote"),
            }),
        };
    }
    if application == 0 && version == 0 && objects == 0 {
        return Ok(true);
    }
    Err(StoreError::NotAState {
        location: location.to_string(),
        detail: format!(
            "it is a SQLite database of another application (application id {application}, user version {version}, {objects} schema objects)"
        ),
    })
}

/// Replaces an expiry index on `(rm, expires)` by one on `expires` (see [`EXPIRY_INDEX`]).
fn replace_expiry_index(connection: &mut Connection) -> Result<(), StoreError> {
    let old: i64 = connection
        .query_row(
            "SELECT count(*) FROM sqlite_schema WHERE type = 'index' AND name = 'probity_recorded_expiry'",
            [],
            |row| row.get(0),
        )
        .map_err(|e| failed("read the file's schema", e))?;
    if old == 0 {
        return Ok(());
    }
    let tx = connection.transaction_with_behavior(TransactionBehavior::Immediate).map_err(|e| failed("begin", e))?;
    tx.execute_batch(EXPIRY_INDEX).map_err(|e| backend("replace the expiry index", e))?;
    tx.commit().map_err(|e| failed("commit", e))
}

/// Creates the schema in an empty file, unless another connection did so first.
fn create(connection: &mut Connection, location: &str) -> Result<(), StoreError> {
    let tx = connection.transaction_with_behavior(TransactionBehavior::Immediate).map_err(|e| failed("begin", e))?;
    // Another process may have created it between `identify` and this lock.
    if !identify(&tx, location)? {
        return Ok(());
    }
    tx.execute_batch(SCHEMA).map_err(|e| backend("create the schema", e))?;
    tx.execute_batch(&format!("PRAGMA application_id = {APPLICATION_ID}; PRAGMA user_version = {SCHEMA_VERSION};"))
        .map_err(|e| backend("create the schema", e))?;
    tx.commit().map_err(|e| failed("commit", e))
}

impl Store for SqliteStore {
    fn transaction(&mut self) -> Result<Box<dyn Transaction + '_>, StoreError> {
        let tx = self
            .connection
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(|e| failed("begin", e))?;
        Ok(Box::new(SqliteTransaction { tx, expired: BTreeMap::new() }))
    }

    fn backend(&self) -> &'static str {
        "sqlite"
    }
}

/// A transaction holding the file's write lock; rolled back when dropped (rusqlite's default).
struct SqliteTransaction<'a> {
    tx: rusqlite::Transaction<'a>,
    /// The RMs whose decisions expiring before an instant (sortable text) are to be dropped:
    /// dropped together before the next read of a decision, a write of one for such an RM, and
    /// the commit.
    expired: BTreeMap<String, String>,
}

impl SqliteTransaction<'_> {
    fn statement(&self, sql: &str) -> Result<rusqlite::CachedStatement<'_>, StoreError> {
        self.tx.prepare_cached(sql).map_err(|e| backend("prepare a statement", e))
    }

    /// Drops the expired decisions noted. For many RMs (a replay's commit) one statement walks
    /// the decisions that expire before the latest of the instants, by the expiry index, and
    /// drops those of a noted RM that expire before its instant; for a few, each RM's
    /// decisions are walked by the primary key.
    fn drop_expired(&mut self) -> Result<(), StoreError> {
        if self.expired.is_empty() {
            return Ok(());
        }
        let expired = std::mem::take(&mut self.expired);
        if expired.len() <= EXPIRE_IN_ONE_STATEMENT_ABOVE {
            // `+expires`: not by the expiry index, which would walk every RM's expired decisions.
            let mut statement = self.statement("DELETE FROM probity_recorded WHERE rm = ?1 AND +expires < ?2")?;
            for (rm, before) in &expired {
                statement.execute([rm, before]).map_err(|e| failed("delete recorded decisions", e))?;
            }
            return Ok(());
        }
        self.tx
            .execute_batch(
                "CREATE TEMP TABLE IF NOT EXISTS probity_expired (rm TEXT PRIMARY KEY NOT NULL, before TEXT NOT NULL)",
            )
            .map_err(|e| backend("note the expired decisions", e))?;
        {
            let mut insert = self.statement("INSERT INTO temp.probity_expired (rm, before) VALUES (?1, ?2)")?;
            for (rm, before) in &expired {
                insert.execute([rm, before]).map_err(|e| failed("note the expired decisions", e))?;
            }
        }
        let latest = expired.values().max().map(String::as_str).unwrap_or_default();
        self.statement(
            "DELETE FROM probity_recorded AS r WHERE r.expires < ?1 \
             AND r.expires < (SELECT e.before FROM temp.probity_expired AS e WHERE e.rm = r.rm)",
        )?
        .execute([latest])
        .map_err(|e| failed("delete recorded decisions", e))?;
        self.tx.execute_batch("DELETE FROM temp.probity_expired").map_err(|e| backend("note the expired decisions", e))
    }
}

impl Transaction for SqliteTransaction<'_> {
    fn meta(&mut self, key: &str) -> Result<Option<String>, StoreError> {
        self.statement("SELECT value FROM probity_meta WHERE key = ?1")?
            .query_row([key], |row| row.get(0))
            .optional()
            .map_err(|e| failed("read a meta value", e))
    }

    fn all_meta(&mut self) -> Result<Vec<(String, String)>, StoreError> {
        let mut statement = self.statement("SELECT key, value FROM probity_meta ORDER BY key")?;
        let rows = statement
            .query_map([], |row| Ok((row.get(0)?, row.get(1)?)))
            .map_err(|e| failed("read the meta values", e))?;
        rows.collect::<Result<_, _>>().map_err(|e| failed("read the meta values", e))
    }

    fn set_meta(&mut self, key: &str, value: &str) -> Result<(), StoreError> {
        self.statement("INSERT INTO probity_meta (key, value) VALUES (?1, ?2) ON CONFLICT (key) DO UPDATE SET value = excluded.value")?
            .execute([key, value])
            .map_err(|e| failed("write a meta value", e))?;
        Ok(())
    }

    fn lock_rm(&mut self, _rm: &str) -> Result<(), StoreError> {
        // The transaction holds the whole file's write lock since it began.
        Ok(())
    }

    fn read_rm(&mut self, rm: &str) -> Result<Option<RmState>, StoreError> {
        let row: Option<(Vec<u8>, String)> = self
            .statement("SELECT state, clock FROM probity_rm WHERE rm = ?1")?
            .query_row([rm], |row| Ok((row.get(0)?, row.get(1)?)))
            .optional()
            .map_err(|e| failed("read an RM", e))?;
        row.map(|(blob, clock)| Ok(RmState { blob, clock: parse_stored_instant(&clock)? })).transpose()
    }

    fn read_all_rms(
        &mut self,
        visit: &mut dyn FnMut(&str, RmState) -> Result<(), StoreError>,
    ) -> Result<(), StoreError> {
        let mut statement = self.statement("SELECT rm, state, clock FROM probity_rm ORDER BY rm")?;
        let mut rows = statement.query([]).map_err(|e| failed("read the RMs", e))?;
        while let Some(row) = rows.next().map_err(|e| failed("read the RMs", e))? {
            let rm: String = row.get(0).map_err(|e| failed("read the RMs", e))?;
            let blob: Vec<u8> = row.get(1).map_err(|e| failed("read the RMs", e))?;
            let clock: String = row.get(2).map_err(|e| failed("read the RMs", e))?;
            visit(&rm, RmState { blob, clock: parse_stored_instant(&clock)? })?;
        }
        Ok(())
    }

    fn count_rms(&mut self) -> Result<u64, StoreError> {
        let n: i64 = self
            .statement("SELECT count(*) FROM probity_rm")?
            .query_row([], |row| row.get(0))
            .map_err(|e| failed("count the RMs", e))?;
        count(n)
    }

    fn upsert_rm(&mut self, rm: &str, state: &RmState) -> Result<(), StoreError> {
        self.statement(
            "INSERT INTO probity_rm (rm, state, clock) VALUES (?1, ?2, ?3) \
             ON CONFLICT (rm) DO UPDATE SET state = excluded.state, clock = excluded.clock",
        )?
        .execute(params![rm, &state.blob[..], stored_instant(state.clock)])
        .map_err(|e| failed("write an RM", e))?;
        Ok(())
    }

    fn delete_rm(&mut self, rm: &str) -> Result<bool, StoreError> {
        self.expired.remove(rm);
        self.statement("DELETE FROM probity_recorded WHERE rm = ?1")?
            .execute([rm])
            .map_err(|e| failed("delete an RM", e))?;
        let deleted = self
            .statement("DELETE FROM probity_rm WHERE rm = ?1")?
            .execute([rm])
            .map_err(|e| failed("delete an RM", e))?;
        Ok(deleted > 0)
    }

    fn recorded(&mut self, rm: &str, action: &str) -> Result<Option<Recorded>, StoreError> {
        self.drop_expired()?;
        let row: Option<(String, String, String)> = self
            .statement("SELECT hash, records, expires FROM probity_recorded WHERE rm = ?1 AND action = ?2")?
            .query_row([rm, action], |row| Ok((row.get(0)?, row.get(1)?, row.get(2)?)))
            .optional()
            .map_err(|e| failed("read a recorded decision", e))?;
        row.map(|(hash, records, expires)| Ok(Recorded { hash, records, expires: parse_stored_instant(&expires)? }))
            .transpose()
    }

    fn all_recorded(&mut self, rm: &str) -> Result<Vec<(String, Recorded)>, StoreError> {
        self.drop_expired()?;
        let mut statement = self
            .statement("SELECT action, hash, records, expires FROM probity_recorded WHERE rm = ?1 ORDER BY action")?;
        let rows = statement
            .query_map([rm], |row| Ok((row.get::<_, String>(0)?, row.get(1)?, row.get(2)?, row.get::<_, String>(3)?)))
            .map_err(|e| failed("read recorded decisions", e))?;
        let mut all = Vec::new();
        for row in rows {
            let (action, hash, records, expires) = row.map_err(|e| failed("read recorded decisions", e))?;
            all.push((action, Recorded { hash, records, expires: parse_stored_instant(&expires)? }));
        }
        Ok(all)
    }

    fn put_recorded(&mut self, rm: &str, action: &str, recorded: &Recorded) -> Result<(), StoreError> {
        let expires = sortable_instant(recorded.expires)?;
        if self.expired.contains_key(rm) {
            self.drop_expired()?;
        }
        self.statement(
            "INSERT INTO probity_recorded (rm, action, hash, records, expires) VALUES (?1, ?2, ?3, ?4, ?5) \
             ON CONFLICT (rm, action) DO UPDATE SET hash = excluded.hash, records = excluded.records, expires = excluded.expires",
        )?
        .execute(params![rm, action, recorded.hash, recorded.records, expires])
        .map_err(|e| failed("write a recorded decision", e))?;
        Ok(())
    }

    fn delete_recorded_before(&mut self, rm: &str, at: DateTime<FixedOffset>) -> Result<(), StoreError> {
        let at = sortable_instant(at)?;
        let before = self.expired.entry(rm.to_string()).or_default();
        if at > *before {
            *before = at;
        }
        Ok(())
    }

    fn commit(mut self: Box<Self>) -> Result<(), StoreError> {
        self.drop_expired()?;
        self.tx.commit().map_err(|e| failed("commit", e))
    }
}

/// A failed operation: a conflict when another connection held the lock too long, else a
/// backend error.
fn failed(operation: &'static str, e: rusqlite::Error) -> StoreError {
    match e.sqlite_error_code() {
        Some(ErrorCode::DatabaseBusy | ErrorCode::DatabaseLocked) => StoreError::Conflict { source: Box::new(e) },
        _ => backend(operation, e),
    }
}

fn backend(operation: &'static str, e: rusqlite::Error) -> StoreError {
    StoreError::Backend { operation, source: Box::new(e) }
}

/// A failure while opening: a file that is not a database is not a state, and one that cannot be
/// opened (a directory, no permission) an open error.
fn opening(location: &str, operation: &'static str, e: rusqlite::Error) -> StoreError {
    match e.sqlite_error_code() {
        Some(ErrorCode::NotADatabase) => {
            StoreError::NotAState { location: location.to_string(), detail: "the file is not a SQLite database".into() }
        }
        Some(ErrorCode::CannotOpen | ErrorCode::PermissionDenied | ErrorCode::ReadOnly) => {
            StoreError::Open { location: location.to_string(), source: Box::new(e) }
        }
        _ => failed(operation, e),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn indexes(path: &Path) -> Vec<String> {
        let c = Connection::open(path).unwrap();
        let mut s =
            c.prepare("SELECT name FROM sqlite_schema WHERE type = 'index' AND sql IS NOT NULL ORDER BY name").unwrap();
        let names = s.query_map([], |row| row.get(0)).unwrap();
        names.collect::<Result<_, _>>().unwrap()
    }

    #[test]
    fn a_state_with_the_old_expiry_index_gets_the_new_one_when_opened() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.db");
        drop(SqliteStore::open(&path).unwrap());
        assert_eq!(indexes(&path), ["probity_recorded_expires"]);
        // As a state written before: the index on (rm, expires).
        Connection::open(&path)
            .unwrap()
            .execute_batch(
                "DROP INDEX probity_recorded_expires; CREATE INDEX probity_recorded_expiry ON probity_recorded (rm, expires)",
            )
            .unwrap();
        let mut store = SqliteStore::open(&path).unwrap();
        assert_eq!(indexes(&path), ["probity_recorded_expires"]);
        // And it works as before.
        let mut tx = store.transaction().unwrap();
        let expires = DateTime::parse_from_rfc3339("2026-03-01T00:00:00Z").unwrap();
        tx.put_recorded("RM-1", "a", &Recorded { hash: "h".into(), records: "{}".into(), expires }).unwrap();
        tx.delete_recorded_before("RM-1", DateTime::parse_from_rfc3339("2026-03-02T00:00:00Z").unwrap()).unwrap();
        assert_eq!(tx.recorded("RM-1", "a").unwrap(), None);
    }
}
