//! The shared store: tables in a PostgreSQL database, created if absent. Writers of the same RM
//! are serialised by a transaction-scoped advisory lock per RM.

use std::collections::BTreeMap;

use chrono::{DateTime, FixedOffset};
use postgres::error::SqlState;
use postgres::types::ToSql;
use postgres::{Client, NoTls, Statement};
use probity::store::{
    parse_stored_instant, sortable_instant, stored_instant, Recorded, RmState, Store, StoreError, Transaction,
};
use sha2::{Digest, Sha256};

use crate::{count, SCHEMA_VERSION};

/// The schema, version [`SCHEMA_VERSION`]: the SQLite schema's tables, with keys compared
/// bytewise (`COLLATE "C"`) so that both backends list RMs in the same order.
const SCHEMA: &str = r#"
CREATE TABLE probity_schema (version bigint NOT NULL);
CREATE TABLE probity_meta (key text COLLATE "C" PRIMARY KEY, value text NOT NULL);
CREATE TABLE probity_rm (rm text COLLATE "C" PRIMARY KEY, state bytea NOT NULL, clock text NOT NULL);
CREATE TABLE probity_recorded (
    rm text COLLATE "C" NOT NULL,
    action text COLLATE "C" NOT NULL,
    hash text NOT NULL,
    records text NOT NULL,
    expires text COLLATE "C" NOT NULL,
    PRIMARY KEY (rm, action)
);
CREATE INDEX probity_recorded_expiry ON probity_recorded (rm, expires);
"#;

/// The advisory lock key that serialises creating the schema (`PROB` and zeros).
const SCHEMA_LOCK: i64 = 0x5052_4F42_0000_0000;

/// Buffered writes are sent in statements of at most this many rows.
const FLUSH_ROWS: usize = 4096;

/// A state in the tables `probity_*` of a PostgreSQL database. Each store is one connection;
/// processes that share the database share the state, and their transactions that lock the same
/// RM run one after the other.
pub struct PostgresStore {
    client: Client,
    statements: Statements,
}

impl std::fmt::Debug for PostgresStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PostgresStore").finish_non_exhaustive()
    }
}

/// Every statement a transaction runs, prepared once per connection.
struct Statements {
    meta: Statement,
    all_meta: Statement,
    set_meta: Statement,
    lock: Statement,
    read_rm: Statement,
    all_rms: Statement,
    count_rms: Statement,
    upsert_rms: Statement,
    delete_rm: Statement,
    delete_rm_recorded: Statement,
    recorded: Statement,
    all_recorded: Statement,
    put_recorded: Statement,
    delete_recorded_before: Statement,
}

impl Statements {
    fn prepare(client: &mut Client) -> Result<Statements, postgres::Error> {
        Ok(Statements {
            meta: client.prepare("SELECT value FROM probity_meta WHERE key = $1")?,
            all_meta: client.prepare("SELECT key, value FROM probity_meta ORDER BY key")?,
            set_meta: client.prepare(
                "INSERT INTO probity_meta (key, value) VALUES ($1, $2) ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value",
            )?,
            lock: client.prepare("SELECT pg_advisory_xact_lock($1)")?,
            read_rm: client.prepare("SELECT state, clock FROM probity_rm WHERE rm = $1")?,
            all_rms: client.prepare("SELECT rm, state, clock FROM probity_rm ORDER BY rm")?,
            count_rms: client.prepare("SELECT count(*) FROM probity_rm")?,
            upsert_rms: client.prepare(
                "INSERT INTO probity_rm (rm, state, clock) SELECT * FROM unnest($1::text[], $2::bytea[], $3::text[]) \
                 ON CONFLICT (rm) DO UPDATE SET state = EXCLUDED.state, clock = EXCLUDED.clock",
            )?,
            delete_rm: client.prepare("DELETE FROM probity_rm WHERE rm = $1")?,
            delete_rm_recorded: client.prepare("DELETE FROM probity_recorded WHERE rm = $1")?,
            recorded: client.prepare("SELECT hash, records, expires FROM probity_recorded WHERE rm = $1 AND action = $2")?,
            all_recorded: client
                .prepare("SELECT action, hash, records, expires FROM probity_recorded WHERE rm = $1 ORDER BY action")?,
            put_recorded: client.prepare(
                "INSERT INTO probity_recorded (rm, action, hash, records, expires) \
                 SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[]) \
                 ON CONFLICT (rm, action) DO UPDATE SET hash = EXCLUDED.hash, records = EXCLUDED.records, expires = EXCLUDED.expires",
            )?,
            delete_recorded_before: client.prepare("DELETE FROM probity_recorded WHERE rm = $1 AND expires < $2")?,
        })
    }
}

impl PostgresStore {
    /// Connects to the database at `url` (`postgres://user:password@host:port/database`, without
    /// TLS) and creates the tables if they are absent.
    pub fn connect(url: &str) -> Result<PostgresStore, StoreError> {
        let location = redact(url);
        let mut client = Client::connect(url, NoTls)
            .map_err(|e| StoreError::Open { location: location.clone(), source: Box::new(e) })?;
        prepare_schema(&mut client, &location)?;
        let statements = Statements::prepare(&mut client).map_err(|e| failed("prepare the statements", e))?;
        Ok(PostgresStore { client, statements })
    }
}

/// Creates the schema if absent (one process at a time), or checks its version.
fn prepare_schema(client: &mut Client, location: &str) -> Result<(), StoreError> {
    let mut tx = client.transaction().map_err(|e| failed("begin", e))?;
    tx.execute("SELECT pg_advisory_xact_lock($1)", &[&SCHEMA_LOCK]).map_err(|e| failed("lock the schema", e))?;
    let exists = |tx: &mut postgres::Transaction<'_>, table: &str| -> Result<bool, StoreError> {
        tx.query_one("SELECT to_regclass($1::text) IS NOT NULL", &[&table])
            .and_then(|row| row.try_get::<_, bool>(0))
            .map_err(|e| failed("read the schema", e))
    };
    if !exists(&mut tx, "probity_schema")? {
        for table in ["probity_meta", "probity_rm", "probity_recorded"] {
            if exists(&mut tx, table)? {
                return Err(StoreError::NotAState {
                    location: location.to_string(),
                    detail: format!("it has a table `{table}` but no `probity_schema`"),
                });
            }
        }
        tx.batch_execute(SCHEMA).map_err(|e| failed("create the schema", e))?;
        tx.execute("INSERT INTO probity_schema (version) VALUES ($1)", &[&SCHEMA_VERSION])
            .map_err(|e| failed("create the schema", e))?;
        return tx.commit().map_err(|e| failed("commit", e));
    }
    let row = tx
        .query_one("SELECT max(version), count(*) FROM probity_schema", &[])
        .map_err(|e| failed("read the schema version", e))?;
    let version: Option<i64> = row.try_get(0).map_err(|e| failed("read the schema version", e))?;
    let rows: i64 = row.try_get(1).map_err(|e| failed("read the schema version", e))?;
    match (version, rows) {
        (Some(SCHEMA_VERSION), 1) => tx.commit().map_err(|e| failed("commit", e)),
        (Some(v), 1) if v > SCHEMA_VERSION => {
            Err(StoreError::NewerSchema { location: location.to_string(), found: v, supported: SCHEMA_VERSION })
        }
        _ => Err(StoreError::NotAState {
            location: location.to_string(),
            detail: format!("its `probity_schema` holds {rows} rows (the newest version {version:?}) instead of the one version row"),
        }),
    }
}

impl Store for PostgresStore {
    fn transaction(&mut self) -> Result<Box<dyn Transaction + '_>, StoreError> {
        let PostgresStore { client, statements } = self;
        let tx = client.transaction().map_err(|e| failed("begin", e))?;
        Ok(Box::new(PostgresTransaction { tx, statements, rms: BTreeMap::new(), recorded: BTreeMap::new() }))
    }

    fn backend(&self) -> &'static str {
        "postgres"
    }
}

/// A transaction whose RM and recorded-decision writes are buffered and sent in a few
/// multi-row statements (at the commit, or before a read that the buffer cannot answer), since
/// each statement is a round trip to the server. Rolled back when dropped (the `postgres`
/// crate's default).
struct PostgresTransaction<'a> {
    tx: postgres::Transaction<'a>,
    statements: &'a Statements,
    /// RM rows written and not yet sent.
    rms: BTreeMap<String, RmState>,
    /// Recorded decisions written and not yet sent, by RM and action id.
    recorded: BTreeMap<(String, String), Buffered>,
}

/// A recorded decision not yet sent, with its expiry as it is stored.
struct Buffered {
    recorded: Recorded,
    expires: String,
}

impl PostgresTransaction<'_> {
    /// Sends the buffered writes.
    fn flush(&mut self) -> Result<(), StoreError> {
        let rms = std::mem::take(&mut self.rms);
        let rms: Vec<(&String, &RmState)> = rms.iter().collect();
        for chunk in rms.chunks(FLUSH_ROWS) {
            let ids: Vec<&str> = chunk.iter().map(|(rm, _)| rm.as_str()).collect();
            let blobs: Vec<&[u8]> = chunk.iter().map(|(_, state)| state.blob.as_slice()).collect();
            let clocks: Vec<String> = chunk.iter().map(|(_, state)| stored_instant(state.clock)).collect();
            self.tx
                .execute(&self.statements.upsert_rms, &[&ids, &blobs, &clocks])
                .map_err(|e| failed("write RMs", e))?;
        }
        let recorded = std::mem::take(&mut self.recorded);
        let recorded: Vec<_> = recorded.iter().collect();
        for chunk in recorded.chunks(FLUSH_ROWS) {
            let rms: Vec<&str> = chunk.iter().map(|((rm, _), _)| rm.as_str()).collect();
            let actions: Vec<&str> = chunk.iter().map(|((_, action), _)| action.as_str()).collect();
            let hashes: Vec<&str> = chunk.iter().map(|(_, b)| b.recorded.hash.as_str()).collect();
            let records: Vec<&str> = chunk.iter().map(|(_, b)| b.recorded.records.as_str()).collect();
            let expires: Vec<&str> = chunk.iter().map(|(_, b)| b.expires.as_str()).collect();
            let params: [&(dyn ToSql + Sync); 5] = [&rms, &actions, &hashes, &records, &expires];
            self.tx
                .execute(&self.statements.put_recorded, &params)
                .map_err(|e| failed("write recorded decisions", e))?;
        }
        Ok(())
    }
}

impl Transaction for PostgresTransaction<'_> {
    fn meta(&mut self, key: &str) -> Result<Option<String>, StoreError> {
        let row = self.tx.query_opt(&self.statements.meta, &[&key]).map_err(|e| failed("read a meta value", e))?;
        row.map(|row| row.try_get(0)).transpose().map_err(|e| failed("read a meta value", e))
    }

    fn all_meta(&mut self) -> Result<Vec<(String, String)>, StoreError> {
        let rows = self.tx.query(&self.statements.all_meta, &[]).map_err(|e| failed("read the meta values", e))?;
        rows.iter()
            .map(|row| Ok((row.try_get(0)?, row.try_get(1)?)))
            .collect::<Result<_, postgres::Error>>()
            .map_err(|e| failed("read the meta values", e))
    }

    fn set_meta(&mut self, key: &str, value: &str) -> Result<(), StoreError> {
        self.tx.execute(&self.statements.set_meta, &[&key, &value]).map_err(|e| failed("write a meta value", e))?;
        Ok(())
    }

    fn lock_rm(&mut self, rm: &str) -> Result<(), StoreError> {
        self.tx.execute(&self.statements.lock, &[&lock_key(rm)]).map_err(|e| failed("lock an RM", e))?;
        Ok(())
    }

    fn read_rm(&mut self, rm: &str) -> Result<Option<RmState>, StoreError> {
        if let Some(state) = self.rms.get(rm) {
            return Ok(Some(state.clone()));
        }
        let Some(row) = self.tx.query_opt(&self.statements.read_rm, &[&rm]).map_err(|e| failed("read an RM", e))?
        else {
            return Ok(None);
        };
        let blob: Vec<u8> = row.try_get(0).map_err(|e| failed("read an RM", e))?;
        let clock: String = row.try_get(1).map_err(|e| failed("read an RM", e))?;
        Ok(Some(RmState { blob, clock: parse_stored_instant(&clock)? }))
    }

    fn read_all_rms(
        &mut self,
        visit: &mut dyn FnMut(&str, RmState) -> Result<(), StoreError>,
    ) -> Result<(), StoreError> {
        self.flush()?;
        // A portal reads the rows a thousand at a time, so memory stays bounded.
        let portal = self.tx.bind(&self.statements.all_rms, &[]).map_err(|e| failed("read the RMs", e))?;
        loop {
            let rows = self.tx.query_portal(&portal, 1000).map_err(|e| failed("read the RMs", e))?;
            if rows.is_empty() {
                return Ok(());
            }
            for row in rows {
                let rm: String = row.try_get(0).map_err(|e| failed("read the RMs", e))?;
                let blob: Vec<u8> = row.try_get(1).map_err(|e| failed("read the RMs", e))?;
                let clock: String = row.try_get(2).map_err(|e| failed("read the RMs", e))?;
                visit(&rm, RmState { blob, clock: parse_stored_instant(&clock)? })?;
            }
        }
    }

    fn count_rms(&mut self) -> Result<u64, StoreError> {
        self.flush()?;
        let row = self.tx.query_one(&self.statements.count_rms, &[]).map_err(|e| failed("count the RMs", e))?;
        count(row.try_get(0).map_err(|e| failed("count the RMs", e))?)
    }

    fn upsert_rm(&mut self, rm: &str, state: &RmState) -> Result<(), StoreError> {
        self.rms.insert(rm.to_string(), state.clone());
        Ok(())
    }

    fn delete_rm(&mut self, rm: &str) -> Result<bool, StoreError> {
        let buffered = self.rms.remove(rm).is_some();
        self.recorded.retain(|(r, _), _| r != rm);
        self.tx.execute(&self.statements.delete_rm_recorded, &[&rm]).map_err(|e| failed("delete an RM", e))?;
        let deleted = self.tx.execute(&self.statements.delete_rm, &[&rm]).map_err(|e| failed("delete an RM", e))?;
        Ok(buffered || deleted > 0)
    }

    fn recorded(&mut self, rm: &str, action: &str) -> Result<Option<Recorded>, StoreError> {
        if let Some(buffered) = self.recorded.get(&(rm.to_string(), action.to_string())) {
            return Ok(Some(buffered.recorded.clone()));
        }
        let Some(row) = self
            .tx
            .query_opt(&self.statements.recorded, &[&rm, &action])
            .map_err(|e| failed("read a recorded decision", e))?
        else {
            return Ok(None);
        };
        recorded_from(&row, 0).map_err(|e| failed("read a recorded decision", e))?.map(Some)
    }

    fn all_recorded(&mut self, rm: &str) -> Result<Vec<(String, Recorded)>, StoreError> {
        self.flush()?;
        let rows =
            self.tx.query(&self.statements.all_recorded, &[&rm]).map_err(|e| failed("read recorded decisions", e))?;
        let mut all = Vec::with_capacity(rows.len());
        for row in rows {
            let action: String = row.try_get(0).map_err(|e| failed("read recorded decisions", e))?;
            let recorded = recorded_from(&row, 1).map_err(|e| failed("read recorded decisions", e))??;
            all.push((action, recorded));
        }
        Ok(all)
    }

    fn put_recorded(&mut self, rm: &str, action: &str, recorded: &Recorded) -> Result<(), StoreError> {
        let expires = sortable_instant(recorded.expires)?;
        self.recorded.insert((rm.to_string(), action.to_string()), Buffered { recorded: recorded.clone(), expires });
        Ok(())
    }

    fn delete_recorded_before(&mut self, rm: &str, at: DateTime<FixedOffset>) -> Result<(), StoreError> {
        let at = sortable_instant(at)?;
        self.flush()?;
        self.tx
            .execute(&self.statements.delete_recorded_before, &[&rm, &at])
            .map(|_| ())
            .map_err(|e| failed("delete recorded decisions", e))
    }

    fn commit(mut self: Box<Self>) -> Result<(), StoreError> {
        self.flush()?;
        self.tx.commit().map_err(|e| failed("commit", e))
    }
}

/// A recorded decision from the columns `hash, records, expires` starting at `first`.
fn recorded_from(row: &postgres::Row, first: usize) -> Result<Result<Recorded, StoreError>, postgres::Error> {
    let hash: String = row.try_get(first)?;
    let records: String = row.try_get(first.saturating_add(1))?;
    let expires: String = row.try_get(first.saturating_add(2))?;
    Ok(parse_stored_instant(&expires).map(|expires| Recorded { hash, records, expires }))
}

/// The advisory lock key of an RM: the first 8 bytes of a SHA-256 of its id, the same in every
/// process and version. Two RMs whose keys collide (about one pair in 2⁶⁴) only wait for each
/// other.
fn lock_key(rm: &str) -> i64 {
    let digest = Sha256::new().chain_update(b"probity rm\0").chain_update(rm.as_bytes()).finalize();
    digest.first_chunk::<8>().map_or(0, |bytes| i64::from_be_bytes(*bytes))
}

/// A failed operation: a conflict (a deadlock, a serialisation failure, a lock not available)
/// may succeed when run again; anything else is a backend error.
fn failed(operation: &'static str, e: postgres::Error) -> StoreError {
    let conflict = [SqlState::T_R_DEADLOCK_DETECTED, SqlState::T_R_SERIALIZATION_FAILURE, SqlState::LOCK_NOT_AVAILABLE];
    if e.code().is_some_and(|code| conflict.contains(code)) {
        StoreError::Conflict { source: Box::new(e) }
    } else {
        StoreError::Backend { operation, source: Box::new(e) }
    }
}

/// The URL without its password, for messages.
fn redact(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_string();
    };
    let (authority, path) = rest.split_once('/').map_or((rest, None), |(a, p)| (a, Some(p)));
    let authority = match authority.rsplit_once('@') {
        Some((user_info, host)) => match user_info.split_once(':') {
            Some((user, _)) => format!("{user}:***@{host}"),
            None => authority.to_string(),
        },
        None => authority.to_string(),
    };
    let path = path.map(|path| {
        // A password may also be given as a parameter (`?password=…`).
        path.split('&')
            .map(|part| match part.split_once("password=") {
                Some((head, _)) => format!("{head}password=***"),
                None => part.to_string(),
            })
            .collect::<Vec<_>>()
            .join("&")
    });
    match path {
        Some(path) => format!("{scheme}://{authority}/{path}"),
        None => format!("{scheme}://{authority}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_are_left_out_of_messages() {
        assert_eq!(redact("postgres://u:secret@127.0.0.1:5432/db"), "postgres://u:***@127.0.0.1:5432/db");
        assert_eq!(redact("postgres://u@h/db"), "postgres://u@h/db");
        assert_eq!(redact("postgresql://u:p@h"), "postgresql://u:***@h");
        assert_eq!(redact("postgres://h/db?user=u&password=x&a=b"), "postgres://h/db?user=u&password=***&a=b");
    }

    #[test]
    fn lock_keys_are_stable_and_distinct() {
        // Fixed by the id alone: another process, or a later build, computes the same key
        // (the first 8 bytes of SHA-256 of "probity rm\0RM-1", big-endian).
        assert_eq!(lock_key("RM-1"), 5_797_613_091_891_201_816);
        assert_ne!(lock_key("RM-1"), lock_key("RM-2"));
        assert_ne!(lock_key(""), SCHEMA_LOCK);
    }
}
