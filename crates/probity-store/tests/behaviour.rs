//! The store's behaviour, the same cases run against SQLite and PostgreSQL (a throwaway server
//! started for the run). A runner of its own (`harness = false`), so that the server is stopped
//! when the run ends: `cargo test -p probity-store --test behaviour [-- FILTER…]`.
//!
//! Without PostgreSQL's binaries its cases fail, unless `PROBITY_SKIP_POSTGRES=1` is set.

// Not compiled as a test (no harness), so the lints' allowances for tests are given here.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::arithmetic_side_effects,
    clippy::indexing_slicing
)]

#[path = "support/pg.rs"]
mod pg;

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::atomic::{AtomicU32, Ordering};

use chrono::{DateTime, FixedOffset};
use probity_store::{open, Recorded, RmState, Store, StoreError, SCHEMA_VERSION};

/// A backend under test: makes new, empty states and alters them behind the store's back.
trait Env {
    /// The location of a new state (nothing there yet, or an empty database).
    fn fresh(&self) -> String;
    /// Marks the state at `location` (already created) as written with a newer schema.
    fn make_newer(&self, location: &str);
    /// The location of something that is not a Probity state, with what it holds.
    fn foreign(&self) -> Vec<String>;
    /// Locations that cannot be opened.
    fn unreachable(&self) -> Vec<String>;
    /// Ends every other connection to the state at `location` (a lost connection), if the
    /// backend has connections; whether it does.
    fn cut_connections(&self, location: &str) -> bool;
}

struct Sqlite {
    dir: tempfile::TempDir,
    n: AtomicU32,
}

impl Sqlite {
    fn path(&self, name: &str) -> PathBuf {
        let n = self.n.fetch_add(1, Ordering::SeqCst);
        self.dir.path().join(format!("{n}-{name}"))
    }
}

impl Env for Sqlite {
    fn fresh(&self) -> String {
        self.path("state.db").display().to_string()
    }

    fn make_newer(&self, location: &str) {
        let c = rusqlite::Connection::open(location).unwrap();
        c.execute_batch(&format!("PRAGMA user_version = {}", SCHEMA_VERSION + 1)).unwrap();
    }

    fn foreign(&self) -> Vec<String> {
        let text = self.path("notes.txt");
        std::fs::write(&text, "RM-1,RM-2\nthis is not a database, but long enough to have a header ......").unwrap();
        let other = self.path("other.db");
        let c = rusqlite::Connection::open(&other).unwrap();
        c.execute_batch("CREATE TABLE customers (id TEXT); INSERT INTO customers VALUES ('x');").unwrap();
        drop(c);
        vec![text.display().to_string(), other.display().to_string()]
    }

    fn unreachable(&self) -> Vec<String> {
        let missing = self.dir.path().join("no-such-directory").join("state.db");
        vec![missing.display().to_string(), self.dir.path().display().to_string()]
    }

    fn cut_connections(&self, _location: &str) -> bool {
        false
    }
}

struct Postgres {
    server: pg::Server,
}

impl Env for Postgres {
    fn fresh(&self) -> String {
        self.server.create_database()
    }

    fn make_newer(&self, location: &str) {
        let mut c = postgres::Client::connect(location, postgres::NoTls).unwrap();
        c.execute("UPDATE probity_schema SET version = $1", &[&(SCHEMA_VERSION + 1)]).unwrap();
    }

    fn foreign(&self) -> Vec<String> {
        // Another application's table of the same name, without Probity's schema table.
        let url = self.server.create_database();
        let mut c = postgres::Client::connect(&url, postgres::NoTls).unwrap();
        c.batch_execute("CREATE TABLE probity_rm (id integer)").unwrap();
        vec![url]
    }

    fn unreachable(&self) -> Vec<String> {
        vec![format!("postgres://postgres@127.0.0.1:{}/none", pg::free_port()), self.server.url("no_such_database")]
    }

    fn cut_connections(&self, location: &str) -> bool {
        let mut c = postgres::Client::connect(location, postgres::NoTls).unwrap();
        c.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()",
            &[],
        )
        .unwrap();
        true
    }
}

fn at(text: &str) -> DateTime<FixedOffset> {
    DateTime::parse_from_rfc3339(text).unwrap()
}

fn rm_state(blob: &[u8], clock: &str) -> RmState {
    RmState { blob: blob.to_vec(), clock: at(clock) }
}

fn recorded(hash: &str, expires: &str) -> Recorded {
    Recorded { hash: hash.into(), records: format!("{{\"decision\":\"{hash}\"}}\n"), expires: at(expires) }
}

fn store(location: &str) -> Box<dyn Store> {
    open(location).unwrap_or_else(|e| panic!("open {location}: {e}"))
}

/// Every RM id and blob, in the order `read_all_rms` visits them.
fn all_rms(store: &mut dyn Store) -> Vec<(String, Vec<u8>)> {
    let mut tx = store.transaction().unwrap();
    let mut all = Vec::new();
    tx.read_all_rms(&mut |rm, state| {
        all.push((rm.to_string(), state.blob));
        Ok(())
    })
    .unwrap();
    all
}

// The cases.

fn a_new_state_is_empty_and_created_once(env: &dyn Env) {
    let location = env.fresh();
    let mut s = store(&location);
    let mut tx = s.transaction().unwrap();
    assert_eq!(tx.count_rms().unwrap(), 0);
    assert_eq!(tx.all_meta().unwrap(), vec![]);
    assert_eq!(tx.read_rm("RM-1").unwrap(), None);
    assert_eq!(tx.recorded("RM-1", "a1").unwrap(), None);
    tx.set_meta("format", "1").unwrap();
    tx.commit().unwrap();
    drop(s);
    // A second open finds the schema and keeps what was written.
    let mut s = store(&location);
    let mut tx = s.transaction().unwrap();
    assert_eq!(tx.meta("format").unwrap().as_deref(), Some("1"));
}

fn commit_publishes_every_write_together(env: &dyn Env) {
    let location = env.fresh();
    let mut a = store(&location);
    let mut tx = a.transaction().unwrap();
    tx.set_meta("digest", "sha256:ab").unwrap();
    tx.upsert_rm("RM-1", &rm_state(b"one", "2026-03-01T09:00:00+08:00")).unwrap();
    tx.put_recorded("RM-1", "a1", &recorded("h1", "2026-03-31T00:00:00Z")).unwrap();
    // The transaction reads its own writes (PostgreSQL's are still buffered here).
    assert_eq!(tx.read_rm("RM-1").unwrap().unwrap().blob, b"one");
    assert_eq!(tx.recorded("RM-1", "a1").unwrap().unwrap().hash, "h1");
    assert_eq!(tx.count_rms().unwrap(), 1);
    tx.commit().unwrap();
    // Another connection sees all of it.
    let mut b = store(&location);
    let mut tx = b.transaction().unwrap();
    assert_eq!(tx.meta("digest").unwrap().as_deref(), Some("sha256:ab"));
    let state = tx.read_rm("RM-1").unwrap().unwrap();
    assert_eq!(state, rm_state(b"one", "2026-03-01T09:00:00+08:00"));
    assert_eq!(state.clock.offset().local_minus_utc(), 8 * 3600);
    let r = tx.recorded("RM-1", "a1").unwrap().unwrap();
    assert_eq!(r, recorded("h1", "2026-03-31T00:00:00Z"));
    assert_eq!(tx.recorded("RM-1", "a2").unwrap(), None);
    assert_eq!(tx.recorded("RM-2", "a1").unwrap(), None);
}

fn dropping_a_transaction_rolls_it_back(env: &dyn Env) {
    let location = env.fresh();
    let mut s = store(&location);
    let mut tx = s.transaction().unwrap();
    tx.upsert_rm("RM-1", &rm_state(b"kept", "2026-03-01T09:00:00Z")).unwrap();
    tx.set_meta("k", "kept").unwrap();
    tx.commit().unwrap();

    let mut tx = s.transaction().unwrap();
    tx.upsert_rm("RM-1", &rm_state(b"lost", "2026-03-02T09:00:00Z")).unwrap();
    tx.upsert_rm("RM-2", &rm_state(b"lost", "2026-03-02T09:00:00Z")).unwrap();
    tx.put_recorded("RM-1", "a1", &recorded("h", "2026-04-01T00:00:00Z")).unwrap();
    tx.set_meta("k", "lost").unwrap();
    assert!(tx.delete_rm("RM-1").unwrap());
    // Sent to the database (a flush), and still rolled back.
    tx.upsert_rm("RM-3", &rm_state(b"lost", "2026-03-02T09:00:00Z")).unwrap();
    assert_eq!(tx.count_rms().unwrap(), 2);
    drop(tx);

    drop(s);
    let mut s = store(&location);
    assert_eq!(all_rms(&mut *s), vec![("RM-1".to_string(), b"kept".to_vec())]);
    let mut tx = s.transaction().unwrap();
    assert_eq!(tx.meta("k").unwrap().as_deref(), Some("kept"));
    assert_eq!(tx.recorded("RM-1", "a1").unwrap(), None);
    assert_eq!(tx.read_rm("RM-1").unwrap().unwrap().clock, at("2026-03-01T09:00:00Z"));
}

fn read_all_visits_every_rm_in_bytewise_order(env: &dyn Env) {
    let mut s = store(&env.fresh());
    let ids = ["b", "a", "B", "é", "a b", "a-b", "Z9", "z", "", "'; DROP TABLE probity_rm; --"];
    let mut tx = s.transaction().unwrap();
    for id in ids {
        tx.upsert_rm(id, &rm_state(id.as_bytes(), "2026-03-01T09:00:00Z")).unwrap();
    }
    tx.commit().unwrap();
    let mut expected: Vec<&str> = ids.to_vec();
    expected.sort_unstable(); // Rust orders strings bytewise.
    let got = all_rms(&mut *s);
    assert_eq!(got.iter().map(|(rm, _)| rm.as_str()).collect::<Vec<_>>(), expected);
    assert!(got.iter().all(|(rm, blob)| rm.as_bytes() == blob.as_slice()));
    let mut tx = s.transaction().unwrap();
    assert_eq!(tx.count_rms().unwrap(), 10);
    // An error of the visitor stops the reading and is returned.
    let mut seen = 0;
    let e = tx
        .read_all_rms(&mut |_, _| {
            seen += 1;
            if seen == 3 {
                return Err(StoreError::Corrupt("stop".into()));
            }
            Ok(())
        })
        .unwrap_err();
    assert_eq!((e.code(), seen), ("S0007", 3));
}

fn blobs_and_clocks_read_back_as_written(env: &dyn Env) {
    let location = env.fresh();
    // Not UTF-8, with zero bytes; and a large one.
    let odd: Vec<u8> = vec![0, 255, 0, 128, 10, 13, 0];
    let large: Vec<u8> = (0..200_000u32).map(|i| (i % 251) as u8).collect();
    let mut s = store(&location);
    let mut tx = s.transaction().unwrap();
    tx.upsert_rm("odd", &RmState { blob: odd.clone(), clock: at("2026-03-01T09:00:00.123456789-05:30") }).unwrap();
    tx.upsert_rm("large", &RmState { blob: large.clone(), clock: at("9999-12-31T23:59:59Z") }).unwrap();
    tx.commit().unwrap();
    drop(s);
    let mut s = store(&location);
    let mut tx = s.transaction().unwrap();
    let got = tx.read_rm("odd").unwrap().unwrap();
    assert_eq!(got.blob, odd);
    assert_eq!(got.clock, at("2026-03-01T09:00:00.123456789-05:30"));
    assert_eq!(got.clock.offset().local_minus_utc(), -(5 * 3600 + 1800));
    assert_eq!(tx.read_rm("large").unwrap().unwrap().blob, large);
}

fn upsert_replaces_and_delete_removes_an_rm_with_its_records(env: &dyn Env) {
    let location = env.fresh();
    let mut s = store(&location);
    let mut tx = s.transaction().unwrap();
    tx.upsert_rm("RM-1", &rm_state(b"v1", "2026-03-01T09:00:00Z")).unwrap();
    tx.upsert_rm("RM-2", &rm_state(b"v1", "2026-03-01T09:00:00Z")).unwrap();
    tx.put_recorded("RM-1", "a1", &recorded("h1", "2026-04-01T00:00:00Z")).unwrap();
    tx.put_recorded("RM-2", "a1", &recorded("h2", "2026-04-01T00:00:00Z")).unwrap();
    tx.commit().unwrap();

    let mut tx = s.transaction().unwrap();
    tx.upsert_rm("RM-2", &rm_state(b"v2", "2026-03-02T09:00:00Z")).unwrap();
    tx.upsert_rm("RM-2", &rm_state(b"v3", "2026-03-03T09:00:00Z")).unwrap();
    tx.put_recorded("RM-2", "a1", &recorded("h2b", "2026-04-02T00:00:00Z")).unwrap();
    assert!(tx.delete_rm("RM-1").unwrap());
    assert!(!tx.delete_rm("RM-1").unwrap());
    assert!(!tx.delete_rm("RM-9").unwrap());
    // An RM written only in this transaction, then deleted in it.
    tx.upsert_rm("RM-3", &rm_state(b"new", "2026-03-03T09:00:00Z")).unwrap();
    tx.put_recorded("RM-3", "a1", &recorded("h3", "2026-04-02T00:00:00Z")).unwrap();
    assert!(tx.delete_rm("RM-3").unwrap());
    tx.commit().unwrap();

    let mut other = store(&location);
    assert_eq!(all_rms(&mut *other), vec![("RM-2".to_string(), b"v3".to_vec())]);
    let mut tx = other.transaction().unwrap();
    assert_eq!(tx.read_rm("RM-2").unwrap().unwrap().clock, at("2026-03-03T09:00:00Z"));
    assert_eq!(tx.recorded("RM-1", "a1").unwrap(), None);
    assert_eq!(tx.recorded("RM-3", "a1").unwrap(), None);
    assert_eq!(tx.all_recorded("RM-2").unwrap(), vec![("a1".to_string(), recorded("h2b", "2026-04-02T00:00:00Z"))]);
}

fn recorded_decisions_expire_strictly_before_the_instant(env: &dyn Env) {
    let location = env.fresh();
    let mut s = store(&location);
    let mut tx = s.transaction().unwrap();
    // 17:00+08:00 is 09:00Z: the instants are compared, not the texts.
    tx.put_recorded("RM-1", "early", &recorded("h", "2026-03-01T17:00:00+08:00")).unwrap();
    tx.put_recorded("RM-1", "edge", &recorded("h", "2026-03-01T10:00:00Z")).unwrap();
    tx.put_recorded("RM-1", "late", &recorded("h", "2026-03-01T10:00:00.000000001Z")).unwrap();
    tx.put_recorded("RM-2", "early", &recorded("h", "2026-03-01T00:00:00Z")).unwrap();
    tx.commit().unwrap();

    let mut tx = s.transaction().unwrap();
    // 09:30Z: only `early` (09:00Z) is before it, though its text "…T17:00…" sorts after.
    tx.delete_recorded_before("RM-1", at("2026-03-01T09:30:00Z")).unwrap();
    assert_eq!(tx.recorded("RM-1", "early").unwrap(), None);
    // The boundary: one that expires at the instant itself is kept.
    tx.delete_recorded_before("RM-1", at("2026-03-01T18:00:00+08:00")).unwrap();
    assert!(tx.recorded("RM-1", "edge").unwrap().is_some());
    tx.commit().unwrap();
    let names = |s: &mut Box<dyn Store>, rm: &str| -> Vec<String> {
        let mut tx = s.transaction().unwrap();
        tx.all_recorded(rm).unwrap().into_iter().map(|(a, _)| a).collect()
    };
    assert_eq!(names(&mut s, "RM-1"), ["edge", "late"]);
    // A nanosecond later `edge` goes; `late` is still kept; RM-2's are not touched.
    let mut tx = s.transaction().unwrap();
    tx.delete_recorded_before("RM-1", at("2026-03-01T10:00:00.000000001Z")).unwrap();
    tx.commit().unwrap();
    assert_eq!(names(&mut s, "RM-1"), ["late"]);
    assert_eq!(names(&mut s, "RM-2"), ["early"]);

    // Written and expired in one transaction (PostgreSQL's writes are buffered until then).
    let mut tx = s.transaction().unwrap();
    tx.put_recorded("RM-3", "x", &recorded("h", "2026-03-01T00:00:00Z")).unwrap();
    tx.put_recorded("RM-3", "y", &recorded("h", "2026-03-05T00:00:00Z")).unwrap();
    tx.delete_recorded_before("RM-3", at("2026-03-02T00:00:00Z")).unwrap();
    assert_eq!(tx.recorded("RM-3", "x").unwrap(), None);
    tx.commit().unwrap();
    assert_eq!(names(&mut s, "RM-3"), ["y"]);
}

/// Expiring the decisions of many RMs in one transaction (a replay's commit, which SQLite does
/// in one statement): each RM's own instant is kept to, the boundary included, and an RM not
/// named keeps decisions that expired long ago.
fn many_rms_expire_each_to_its_own_instant(env: &dyn Env) {
    let mut s = store(&env.fresh());
    let mut tx = s.transaction().unwrap();
    for i in 0..100 {
        let rm = format!("RM-{i:03}");
        tx.put_recorded(&rm, "old", &recorded("h", "2026-01-01T00:00:00Z")).unwrap();
        tx.put_recorded(&rm, "edge", &recorded("h", &format!("2026-03-01T00:{:02}:00Z", i % 60))).unwrap();
        tx.put_recorded(&rm, "new", &recorded("h", "2026-06-01T00:00:00Z")).unwrap();
    }
    tx.commit().unwrap();
    let mut tx = s.transaction().unwrap();
    // Every RM but RM-099 expires to its own edge: RM-i's `edge` expires at minute i % 60, and
    // the instant given is that minute for even i (kept) and a minute later for odd i (dropped).
    for i in 0..99 {
        let minute = i % 60 + i % 2;
        let rm = format!("RM-{i:03}");
        let before =
            if minute == 60 { "2026-03-01T01:00:00Z".to_string() } else { format!("2026-03-01T00:{minute:02}:00Z") };
        tx.delete_recorded_before(&rm, at(&before)).unwrap();
    }
    // Noted twice: the later instant counts.
    tx.delete_recorded_before("RM-000", at("2025-01-01T00:00:00Z")).unwrap();
    tx.commit().unwrap();
    let mut tx = s.transaction().unwrap();
    for i in 0..100 {
        let rm = format!("RM-{i:03}");
        let names: Vec<String> = tx.all_recorded(&rm).unwrap().into_iter().map(|(a, _)| a).collect();
        let expected: &[&str] = match i {
            99 => &["edge", "new", "old"],
            i if i % 2 == 0 => &["edge", "new"],
            _ => &["new"],
        };
        assert_eq!(names, expected, "{rm}");
    }
}

fn an_instant_the_store_cannot_hold_is_an_error(env: &dyn Env) {
    let mut s = store(&env.fresh());
    let mut tx = s.transaction().unwrap();
    // 9999-12-31T20:00-08:00 is in the year 10000 in UTC.
    let e = tx.put_recorded("RM-1", "a", &recorded("h", "9999-12-31T20:00:00-08:00")).unwrap_err();
    assert_eq!(e.code(), "S0006");
    let e = tx.delete_recorded_before("RM-1", at("0000-01-01T00:30:00+01:00")).unwrap_err();
    assert_eq!(e.code(), "S0006");
    tx.commit().unwrap();
}

fn meta_values_are_replaced_and_listed_in_order(env: &dyn Env) {
    let mut s = store(&env.fresh());
    let mut tx = s.transaction().unwrap();
    tx.set_meta("policy:b", "sha256:2").unwrap();
    tx.set_meta("policy:a", "sha256:1").unwrap();
    tx.set_meta("format", "1").unwrap();
    tx.set_meta("format", "2").unwrap();
    tx.commit().unwrap();
    let mut tx = s.transaction().unwrap();
    let all = tx.all_meta().unwrap();
    let expected = [("format", "2"), ("policy:a", "sha256:1"), ("policy:b", "sha256:2")];
    assert_eq!(all, expected.map(|(k, v)| (k.to_string(), v.to_string())));
    assert_eq!(tx.meta("missing").unwrap(), None);
}

fn a_foreign_or_newer_state_is_refused_and_left_alone(env: &dyn Env) {
    for location in env.foreign() {
        let before = std::fs::read(&location).ok();
        let e = open(&location).unwrap_err();
        assert_eq!(e.code(), "S0002", "{location}: {e}");
        assert!(e.to_string().contains("is not a Probity state"), "{e}");
        // A file is not changed by the attempt.
        assert_eq!(std::fs::read(&location).ok(), before);
    }
    let location = env.fresh();
    let mut s = store(&location);
    let mut tx = s.transaction().unwrap();
    tx.upsert_rm("RM-1", &rm_state(b"x", "2026-03-01T09:00:00Z")).unwrap();
    tx.commit().unwrap();
    drop(s);
    env.make_newer(&location);
    let e = open(&location).unwrap_err();
    assert_eq!(e.code(), "S0003");
    match e {
        StoreError::NewerSchema { found, supported, .. } => {
            assert_eq!((found, supported), (SCHEMA_VERSION + 1, SCHEMA_VERSION))
        }
        other => panic!("{other}"),
    }
}

fn an_unreachable_location_is_an_open_error(env: &dyn Env) {
    for location in env.unreachable() {
        let e = open(&location).unwrap_err();
        assert_eq!(e.code(), "S0001", "{location}: {e}");
        assert!(e.to_string().contains(&location), "{e}");
        assert!(!e.hint().is_empty());
    }
}

/// Two processes creating one new state at once: both open it, and it is created once.
fn two_connections_may_create_a_state_at_once(env: &dyn Env) {
    let location = env.fresh();
    let opener = |location: String| move || open(&location).map(|_| ());
    let a = std::thread::spawn(opener(location.clone()));
    let b = std::thread::spawn(opener(location.clone()));
    a.join().unwrap().unwrap();
    b.join().unwrap().unwrap();
    let mut s = store(&location);
    assert_eq!(s.transaction().unwrap().count_rms().unwrap(), 0);
}

/// A connection lost in the middle of a transaction: every later call fails with S0005 (none
/// panics, dropping the transaction included), and nothing of it was committed.
fn a_lost_connection_is_an_error(env: &dyn Env) {
    let location = env.fresh();
    let mut s = store(&location);
    let mut tx = s.transaction().unwrap();
    tx.upsert_rm("RM-1", &rm_state(b"x", "2026-03-01T09:00:00Z")).unwrap();
    if !env.cut_connections(&location) {
        return; // An embedded file has no connection to lose.
    }
    let e = tx.read_rm("RM-2").unwrap_err();
    assert_eq!(e.code(), "S0005", "{e}");
    assert_eq!(tx.commit().unwrap_err().code(), "S0005");
    assert_eq!(s.transaction().err().map(|e| e.code()), Some("S0005"));
    assert_eq!(all_rms(&mut *store(&location)), vec![]);
}

/// Two connections increment one RM's counter, read-modify-write, many times each: locking the
/// RM serialises them, so no increment is lost.
fn writers_that_lock_the_same_rm_never_lose_an_update(env: &dyn Env) {
    const ROUNDS: u32 = 150;
    let location = env.fresh();
    drop(store(&location)); // Create the schema once, before the race.
    let work = |location: String, me: &'static str| {
        move || {
            let mut s = open(&location).unwrap();
            for i in 0..ROUNDS {
                loop {
                    let attempt = (|| -> Result<(), StoreError> {
                        let mut tx = s.transaction()?;
                        tx.lock_rm("counter")?;
                        let n: u32 = match tx.read_rm("counter")? {
                            Some(state) => String::from_utf8(state.blob).unwrap().parse().unwrap(),
                            None => 0,
                        };
                        tx.upsert_rm("counter", &rm_state((n + 1).to_string().as_bytes(), "2026-03-01T09:00:00Z"))?;
                        tx.put_recorded(
                            "counter",
                            &format!("{me}-{i}"),
                            &recorded(&n.to_string(), "2026-04-01T00:00:00Z"),
                        )?;
                        tx.commit()
                    })();
                    match attempt {
                        Ok(()) => break,
                        Err(e) if e.is_retryable() => continue,
                        Err(e) => panic!("{e}"),
                    }
                }
            }
        }
    };
    let a = std::thread::spawn(work(location.clone(), "a"));
    let b = std::thread::spawn(work(location.clone(), "b"));
    a.join().unwrap();
    b.join().unwrap();
    let mut s = store(&location);
    let mut tx = s.transaction().unwrap();
    let n: u32 = String::from_utf8(tx.read_rm("counter").unwrap().unwrap().blob).unwrap().parse().unwrap();
    assert_eq!(n, 2 * ROUNDS);
    // Each increment saw a distinct value: no two read the same counter.
    let mut seen: Vec<u32> =
        tx.all_recorded("counter").unwrap().into_iter().map(|(_, r)| r.hash.parse().unwrap()).collect();
    seen.sort_unstable();
    assert_eq!(seen, (0..2 * ROUNDS).collect::<Vec<_>>());
}

/// Two durable ledgers (two connections, as two service processes) submitting actions of the
/// same RM at once: their batches are serialised per RM, so the state keeps every action a
/// batch acknowledged and counts each once.
fn durable_ledgers_submitting_for_one_rm_are_serialised(env: &dyn Env) {
    const ROUNDS: u32 = 40;
    const POLICY: &str = "policy gifts \"Gifts\"\n  version \"1\"\n  effective 2026-01-01\n  timezone \"UTC\"\n\naction gift {\n  n: int\n}\n\nrule many \"Many gifts\"\n  cite \"c\"\n  on gift\n  let before = count(gift within 30 days)\n  when before >= 0\n  then review\n  message \"{before} before\"\n";
    let location = env.fresh();
    drop(store(&location));
    let engine = probity::Engine::new(probity::PolicySet::from_sources([("gifts.probity", POLICY)]).unwrap());
    let work = |location: String, me: u32, engine: probity::Engine| {
        move || {
            let mut s = open(&location).unwrap();
            let mut acknowledged = 0u32;
            for i in 0..ROUNDS {
                // Both writers go forward in time, interleaved: a's at second 2i, b's at 2i+1.
                let second = 2 * i + me;
                let json = format!(
                    r#"{{"type": "gift", "id": "g{me}-{i}", "at": "2026-03-01T00:{:02}:{:02}Z", "rm": {{"id": "R1"}}, "n": {i}}}"#,
                    second / 60,
                    second % 60
                );
                let action = probity::Action::from_json(&json).unwrap();
                loop {
                    match probity::DurableLedger::new(&engine, s.as_mut()).submit_batch(std::slice::from_ref(&action)) {
                        Ok(results) => {
                            // An action older than one the other writer committed is refused
                            // (I0009); any other is acknowledged.
                            if results[0].is_ok() {
                                acknowledged += 1;
                            }
                            break;
                        }
                        Err(e) if e.is_retryable() => continue,
                        Err(e) => panic!("{e}"),
                    }
                }
            }
            acknowledged
        }
    };
    let a = std::thread::spawn(work(location.clone(), 0, engine.clone()));
    let b = std::thread::spawn(work(location.clone(), 1, engine.clone()));
    let acknowledged = a.join().unwrap() + b.join().unwrap();
    let mut s = store(&location);
    let ledger = probity::DurableLedger::new(&engine, s.as_mut()).load().unwrap();
    // Every acknowledged gift is kept (none was overwritten by the other writer's stale state).
    assert_eq!(ledger.retained_items(), acknowledged as usize);
    assert!(acknowledged >= ROUNDS, "at least one writer's every gift goes forward");
    assert_eq!(ledger.recorded_count(), acknowledged as usize);
}

/// Locking one RM does not wait for a transaction that holds another.
fn locks_of_different_rms_do_not_wait_for_each_other(env: &dyn Env) {
    let location = env.fresh();
    let mut a = store(&location);
    if a.backend() == "sqlite" {
        // A SQLite transaction holds the whole file: nothing to show.
        return;
    }
    let mut b = store(&location);
    let mut ta = a.transaction().unwrap();
    ta.lock_rm("RM-1").unwrap();
    ta.lock_rm("RM-1").unwrap(); // Twice is harmless.
    let mut tb = b.transaction().unwrap();
    // Would block for ever if locks were not per RM (the test would hang, not pass).
    tb.lock_rm("RM-2").unwrap();
    tb.upsert_rm("RM-2", &rm_state(b"b", "2026-03-01T09:00:00Z")).unwrap();
    tb.commit().unwrap();
    ta.upsert_rm("RM-1", &rm_state(b"a", "2026-03-01T09:00:00Z")).unwrap();
    ta.commit().unwrap();
    assert_eq!(all_rms(&mut *a).len(), 2);
}

/// The child process of `a_killed_writer_loses_no_acknowledged_commit`: increments the counter
/// RM and records a decision per increment, one transaction each, printing each count once it
/// is committed, until it is killed (or, if nobody kills it, a bounded number of times).
fn child_writer(location: &str) {
    use std::io::Write as _;
    let mut s = store(location);
    let mut out = std::io::stdout().lock();
    for _ in 0..100_000 {
        let mut tx = s.transaction().unwrap();
        tx.lock_rm("counter").unwrap();
        let n = counter(&mut *tx);
        tx.upsert_rm("counter", &rm_state((n + 1).to_string().as_bytes(), "2026-03-01T09:00:00Z")).unwrap();
        tx.put_recorded("counter", &format!("a{}", n + 1), &recorded(&(n + 1).to_string(), "2026-04-01T00:00:00Z"))
            .unwrap();
        tx.commit().unwrap();
        // Acknowledged only now; a parent that has gone makes this fail, which ends the child.
        if writeln!(out, "{}", n + 1).and_then(|()| out.flush()).is_err() {
            return;
        }
    }
}

fn counter(tx: &mut dyn probity_store::Transaction) -> u32 {
    match tx.read_rm("counter").unwrap() {
        Some(state) => String::from_utf8(state.blob).unwrap().parse().unwrap(),
        None => 0,
    }
}

/// A process killed (SIGKILL) at whatever point it has reached, three times: every commit it
/// acknowledged is kept, and no transaction is kept in part (the counter equals the number of
/// recorded decisions, which are exactly a1…aN).
fn a_killed_writer_loses_no_acknowledged_commit(env: &dyn Env) {
    use std::io::BufRead as _;
    let location = env.fresh();
    drop(store(&location));
    let mut acknowledged = 0;
    for round in 1..=3u32 {
        let mut child = std::process::Command::new(std::env::current_exe().unwrap())
            .args(["--child-writer", &location])
            .stdout(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        let mut lines = std::io::BufReader::new(child.stdout.take().unwrap()).lines();
        // Kill it once it has acknowledged a few more commits, wherever it is then.
        for line in lines.by_ref() {
            acknowledged = line.unwrap().parse().unwrap();
            if acknowledged >= 25 * round {
                break;
            }
        }
        child.kill().unwrap();
        child.wait().unwrap();
        // Counts it printed before it died were acknowledged too.
        for line in lines {
            acknowledged = line.unwrap().parse().unwrap();
        }
        let mut s = store(&location);
        let mut tx = s.transaction().unwrap();
        let n = counter(&mut *tx);
        assert!(n >= acknowledged, "round {round}: {acknowledged} acknowledged, {n} kept");
        // At most the one commit it was making when killed is kept unacknowledged.
        assert!(n <= acknowledged + 1, "round {round}: {acknowledged} acknowledged, {n} kept");
        let mut actions: Vec<u32> =
            tx.all_recorded("counter").unwrap().into_iter().map(|(a, _)| a[1..].parse().unwrap()).collect();
        actions.sort_unstable();
        assert_eq!(actions, (1..=n).collect::<Vec<_>>(), "round {round}");
    }
}

/// Two transactions that lock two RMs in opposite orders deadlock; PostgreSQL cancels one, which
/// fails as a retryable conflict, and the other commits.
fn a_deadlock_fails_one_transaction_as_a_retryable_conflict(env: &dyn Env) {
    use std::sync::mpsc;
    let location = env.fresh();
    if store(&location).backend() == "sqlite" {
        // One SQLite transaction at a time: there is no deadlock to have.
        return;
    }
    let (a_locked, a_has) = mpsc::channel::<()>();
    let (b_locked, b_has) = mpsc::channel::<()>();
    let side = |location: String,
                first: &'static str,
                second: &'static str,
                tell: mpsc::Sender<()>,
                wait: mpsc::Receiver<()>| {
        move || -> Result<(), StoreError> {
            let mut s = open(&location)?;
            let mut tx = s.transaction()?;
            tx.lock_rm(first)?;
            tell.send(()).unwrap();
            wait.recv().unwrap();
            tx.lock_rm(second)?;
            tx.upsert_rm(first, &rm_state(b"x", "2026-03-01T09:00:00Z"))?;
            tx.commit()
        }
    };
    let a = std::thread::spawn(side(location.clone(), "RM-1", "RM-2", a_locked, b_has));
    let b = std::thread::spawn(side(location.clone(), "RM-2", "RM-1", b_locked, a_has));
    let results = [a.join().unwrap(), b.join().unwrap()];
    let conflicts: Vec<&StoreError> = results.iter().filter_map(|r| r.as_ref().err()).collect();
    assert_eq!(conflicts.len(), 1, "{results:?}");
    assert_eq!(conflicts[0].code(), "S0004", "{}", conflicts[0]);
    assert!(conflicts[0].is_retryable());
    assert_eq!(all_rms(&mut *store(&location)).len(), 1);
}

/// An id with the character U+0000: SQLite keeps it; PostgreSQL's text cannot hold it, which is
/// an error (at the commit, where the buffered write is sent), not a panic, and nothing is kept.
fn an_id_with_a_nul_character(env: &dyn Env) {
    let location = env.fresh();
    let mut s = store(&location);
    let mut tx = s.transaction().unwrap();
    tx.upsert_rm("RM\u{0}1", &rm_state(b"x", "2026-03-01T09:00:00Z")).unwrap();
    tx.upsert_rm("RM-2", &rm_state(b"x", "2026-03-01T09:00:00Z")).unwrap();
    let committed = tx.commit();
    if s.backend() == "sqlite" {
        committed.unwrap();
        assert_eq!(all_rms(&mut *s).len(), 2);
        assert_eq!(s.transaction().unwrap().read_rm("RM\u{0}1").unwrap().unwrap().blob, b"x");
    } else {
        let e = committed.unwrap_err();
        assert_eq!(e.code(), "S0005", "{e}");
        assert!(e.to_string().contains("failed to write RMs"), "{e}");
        assert_eq!(all_rms(&mut *s), vec![]);
    }
}

/// More rows than one PostgreSQL statement sends (4,096) and one portal page reads (1,000).
fn many_rms_are_written_and_read_in_pieces(env: &dyn Env) {
    const N: u32 = 5_000;
    let location = env.fresh();
    let mut s = store(&location);
    let mut tx = s.transaction().unwrap();
    for i in 0..N {
        let rm = format!("RM-{i:05}");
        tx.upsert_rm(&rm, &rm_state(rm.as_bytes(), "2026-03-01T09:00:00Z")).unwrap();
        tx.put_recorded(&rm, "a", &recorded(&i.to_string(), "2026-04-01T00:00:00Z")).unwrap();
    }
    tx.commit().unwrap();
    let all = all_rms(&mut *store(&location));
    assert_eq!(all.len(), 5_000);
    assert!(all
        .iter()
        .enumerate()
        .all(|(i, (rm, blob))| *rm == format!("RM-{i:05}") && rm.as_bytes() == blob.as_slice()));
    let mut tx = s.transaction().unwrap();
    assert_eq!(tx.recorded("RM-04999", "a").unwrap().unwrap().hash, "4999");
    assert_eq!(tx.recorded("RM-00000", "a").unwrap().unwrap().hash, "0");
}

type Case = (&'static str, fn(&dyn Env));

const CASES: &[Case] = &[
    ("a_new_state_is_empty_and_created_once", a_new_state_is_empty_and_created_once),
    ("commit_publishes_every_write_together", commit_publishes_every_write_together),
    ("dropping_a_transaction_rolls_it_back", dropping_a_transaction_rolls_it_back),
    ("read_all_visits_every_rm_in_bytewise_order", read_all_visits_every_rm_in_bytewise_order),
    ("blobs_and_clocks_read_back_as_written", blobs_and_clocks_read_back_as_written),
    (
        "upsert_replaces_and_delete_removes_an_rm_with_its_records",
        upsert_replaces_and_delete_removes_an_rm_with_its_records,
    ),
    ("recorded_decisions_expire_strictly_before_the_instant", recorded_decisions_expire_strictly_before_the_instant),
    ("many_rms_expire_each_to_its_own_instant", many_rms_expire_each_to_its_own_instant),
    ("an_instant_the_store_cannot_hold_is_an_error", an_instant_the_store_cannot_hold_is_an_error),
    ("meta_values_are_replaced_and_listed_in_order", meta_values_are_replaced_and_listed_in_order),
    ("a_foreign_or_newer_state_is_refused_and_left_alone", a_foreign_or_newer_state_is_refused_and_left_alone),
    ("an_unreachable_location_is_an_open_error", an_unreachable_location_is_an_open_error),
    ("writers_that_lock_the_same_rm_never_lose_an_update", writers_that_lock_the_same_rm_never_lose_an_update),
    ("locks_of_different_rms_do_not_wait_for_each_other", locks_of_different_rms_do_not_wait_for_each_other),
    ("a_killed_writer_loses_no_acknowledged_commit", a_killed_writer_loses_no_acknowledged_commit),
    (
        "a_deadlock_fails_one_transaction_as_a_retryable_conflict",
        a_deadlock_fails_one_transaction_as_a_retryable_conflict,
    ),
    ("an_id_with_a_nul_character", an_id_with_a_nul_character),
    ("two_connections_may_create_a_state_at_once", two_connections_may_create_a_state_at_once),
    ("a_lost_connection_is_an_error", a_lost_connection_is_an_error),
    ("many_rms_are_written_and_read_in_pieces", many_rms_are_written_and_read_in_pieces),
    ("durable_ledgers_submitting_for_one_rm_are_serialised", durable_ledgers_submitting_for_one_rm_are_serialised),
];

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if let [flag, location] = args.as_slice() {
        if flag == "--child-writer" {
            child_writer(location);
            return ExitCode::SUCCESS;
        }
    }
    let filters: Vec<&str> = args.iter().filter(|a| !a.starts_with('-')).map(String::as_str).collect();
    let names = |backend: &'static str| CASES.iter().map(move |(name, case)| (format!("{backend}::{name}"), *case));
    let selected = |name: &str| filters.is_empty() || filters.iter().any(|f| name.contains(f));
    if args.iter().any(|a| a == "--list") {
        for (name, _) in names("sqlite").chain(names("postgres")).filter(|(n, _)| selected(n)) {
            println!("{name}: test");
        }
        return ExitCode::SUCCESS;
    }
    let (mut passed, mut failed, mut skipped) = (0u32, 0u32, 0u32);
    let mut run = |env: Result<&dyn Env, &str>, backend: &'static str| {
        for (name, case) in names(backend).filter(|(n, _)| selected(n)) {
            let outcome = match env {
                Ok(env) => catch_unwind(AssertUnwindSafe(|| case(env))).map_err(|_| "panicked (see above)".to_string()),
                Err(why) => Err(why.to_string()),
            };
            match outcome {
                Ok(()) => {
                    passed += 1;
                    println!("test {name} ... ok");
                }
                Err(why) => {
                    failed += 1;
                    println!("test {name} ... FAILED: {why}");
                }
            }
        }
    };
    if names("sqlite").any(|(n, _)| selected(&n)) {
        let sqlite = Sqlite { dir: tempfile::tempdir().unwrap(), n: AtomicU32::new(0) };
        run(Ok(&sqlite), "sqlite");
    }
    let postgres_selected = names("postgres").filter(|(n, _)| selected(n)).count();
    if postgres_selected > 0 {
        if std::env::var("PROBITY_SKIP_POSTGRES").is_ok_and(|v| v == "1") {
            skipped += u32::try_from(postgres_selected).unwrap();
            println!("PostgreSQL cases skipped (PROBITY_SKIP_POSTGRES=1)");
        } else {
            match pg::Server::start(false) {
                Ok(server) => {
                    let env = Postgres { server };
                    run(Ok(&env), "postgres");
                }
                Err(why) => run(Err(&why), "postgres"),
            }
        }
    }
    println!("\nbehaviour: {passed} passed, {failed} failed, {skipped} skipped");
    if failed == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}
