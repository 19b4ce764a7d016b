//! Criterion: committing one batch as a durable ledger will, in one transaction: 1,000 RM
//! upserts (a 512-byte state each) and 10,000 recorded decisions (ten per RM, 300 bytes of
//! record lines each, with fresh action ids every batch, so the tables grow as in a replay).
//!
//! - `batch/sqlite_full`: the default, `synchronous=FULL` (each commit synced to disk);
//! - `batch/sqlite_normal`: `synchronous=NORMAL`, measured to show what durability costs;
//! - `batch/postgres`: a throwaway server on loopback with fsync on (skipped, with a note, when
//!   PostgreSQL's binaries are absent).
//!
//! - `single/sqlite_{full,normal}`: one RM upsert and one recorded decision per commit (a
//!   service's single submission), where the sync of each commit is most of the cost.
//!
//! Run with `cargo bench -p probity-store --bench store`.

#![allow(clippy::expect_used, clippy::arithmetic_side_effects, clippy::panic, clippy::unwrap_used)]

#[path = "../tests/support/pg.rs"]
mod pg;

use std::time::Duration;

use chrono::{DateTime, FixedOffset, TimeDelta};
use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use probity_store::{PostgresStore, Recorded, RmState, SqliteOptions, SqliteStore, Store, Synchronous};

const RMS: usize = 1_000;
const DECISIONS_PER_RM: usize = 10;

/// Writes and commits batch number `batch`.
fn commit_batch(store: &mut dyn Store, batch: u64, start: DateTime<FixedOffset>) {
    commit_rms(store, batch, start, RMS, DECISIONS_PER_RM);
}

/// Writes `rms` RMs with `per_rm` recorded decisions each, and commits.
fn commit_rms(store: &mut dyn Store, batch: u64, start: DateTime<FixedOffset>, rms: usize, per_rm: usize) {
    let clock = start + TimeDelta::seconds(i64::try_from(batch).unwrap());
    let blob = vec![b'x'; 512];
    let records = "r".repeat(300);
    let mut tx = store.transaction().expect("begin");
    for rm in 0..rms {
        let id = format!("RM-{rm:05}");
        for d in 0..per_rm {
            let recorded = Recorded {
                hash: format!("{batch:08x}{d:04x}"),
                records: records.clone(),
                expires: clock + TimeDelta::days(365),
            };
            tx.put_recorded(&id, &format!("a-{batch}-{d}"), &recorded).expect("put");
        }
        tx.upsert_rm(&id, &RmState { blob: blob.clone(), clock }).expect("upsert");
    }
    tx.commit().expect("commit");
}

fn batches(c: &mut Criterion) {
    let start = DateTime::parse_from_rfc3339("2026-03-01T09:00:00+08:00").unwrap();
    let mut group = c.benchmark_group("batch");
    group.sample_size(10);
    group.measurement_time(Duration::from_secs(10));
    group.throughput(Throughput::Elements(u64::try_from(RMS * DECISIONS_PER_RM).unwrap()));

    let dir = tempfile::tempdir().expect("a temporary directory");
    for (name, synchronous) in [("sqlite_full", Synchronous::Full), ("sqlite_normal", Synchronous::Normal)] {
        let options = SqliteOptions { synchronous, ..SqliteOptions::default() };
        let mut store = SqliteStore::open_with(dir.path().join(format!("{name}.db")), options).expect("open");
        let mut batch = 0u64;
        group.bench_function(name, |b| {
            b.iter(|| {
                batch += 1;
                commit_batch(&mut store, batch, start);
            })
        });
    }

    match pg::Server::start(true) {
        Ok(server) => {
            let mut store = PostgresStore::connect(&server.create_database()).expect("connect");
            let mut batch = 0u64;
            group.bench_function("postgres", |b| {
                b.iter(|| {
                    batch += 1;
                    commit_batch(&mut store, batch, start);
                })
            });
            drop(store);
            drop(server);
        }
        Err(why) => eprintln!("batch/postgres skipped: {why}"),
    }
    group.finish();
}

fn singles(c: &mut Criterion) {
    let start = DateTime::parse_from_rfc3339("2026-03-01T09:00:00+08:00").unwrap();
    let mut group = c.benchmark_group("single");
    group.sample_size(20);
    group.measurement_time(Duration::from_secs(5));
    let dir = tempfile::tempdir().expect("a temporary directory");
    for (name, synchronous) in [("sqlite_full", Synchronous::Full), ("sqlite_normal", Synchronous::Normal)] {
        let options = SqliteOptions { synchronous, ..SqliteOptions::default() };
        let mut store = SqliteStore::open_with(dir.path().join(format!("{name}.db")), options).expect("open");
        let mut batch = 0u64;
        group.bench_function(name, |b| {
            b.iter(|| {
                batch += 1;
                commit_rms(&mut store, batch, start, 1, 1);
            })
        });
    }
    group.finish();
}

criterion_group!(benches, batches, singles);
criterion_main!(benches);
