#![doc = include_str!("../README.md")]
#![forbid(unsafe_code)]
#![deny(missing_docs)]

mod postgres;
mod sqlite;

pub use crate::postgres::PostgresStore;
pub use crate::sqlite::{SqliteOptions, SqliteStore, Synchronous, APPLICATION_ID};
pub use probity::store::{Recorded, RmState, Store, StoreError, Transaction};

/// The schema version this build writes and reads (`PRAGMA user_version` in SQLite, the
/// `probity_schema` table in PostgreSQL).
pub const SCHEMA_VERSION: i64 = 1;

/// Opens (or creates) the state at `location`: a `postgres://` or `postgresql://` URL is a
/// PostgreSQL database (its tables created if absent), anything else the path of a SQLite file.
pub fn open(location: &str) -> Result<Box<dyn Store>, StoreError> {
    if is_postgres_url(location) {
        Ok(Box::new(PostgresStore::connect(location)?))
    } else {
        Ok(Box::new(SqliteStore::open(location)?))
    }
}

/// Whether `location` names a PostgreSQL database rather than a file.
pub fn is_postgres_url(location: &str) -> bool {
    ["postgres://", "postgresql://"]
        .iter()
        .any(|scheme| location.get(..scheme.len()).is_some_and(|head| head.eq_ignore_ascii_case(scheme)))
}

/// A count read from the database, which is never negative.
fn count(n: i64) -> Result<u64, StoreError> {
    u64::try_from(n).map_err(|_| StoreError::Corrupt(format!("a negative count ({n})")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn postgres_urls_are_told_from_paths() {
        assert!(is_postgres_url("postgres://u@127.0.0.1:5432/db"));
        assert!(is_postgres_url("postgresql://u@host/db"));
        assert!(is_postgres_url("PostgreSQL://u@host/db"));
        assert!(!is_postgres_url("postgres.db"));
        assert!(!is_postgres_url("./postgres://x"));
        assert!(!is_postgres_url("state.sqlite"));
        assert!(!is_postgres_url(""));
    }
}
