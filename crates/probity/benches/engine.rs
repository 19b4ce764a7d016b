//! Criterion benchmarks: one evaluation against the sample policy set (30+ rules), and a
//! ledger replay of the sample events, and their canonical JSON.

#![allow(clippy::expect_used)]
use std::path::PathBuf;

use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use probity::{Action, Engine, History, PolicySet};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn engine() -> Engine {
    let set = PolicySet::from_dir(root().join("policies/cn")).expect("the sample policies load");
    Engine::new(set)
}

fn events() -> Vec<Action> {
    let text = std::fs::read_to_string(root().join("examples/events.jsonl")).expect("examples/events.jsonl exists");
    text.lines().map(|l| Action::from_json(l).expect("a valid action")).collect()
}

fn single_evaluation(c: &mut Criterion) {
    let engine = engine();
    let events = events();
    // The action type with the most rules: a product sale.
    let sale = events.iter().find(|a| a.kind() == "product_sale").expect("a product sale").clone();
    let history = History::new();
    let mut group = c.benchmark_group("evaluate");
    group.throughput(Throughput::Elements(1));
    group.bench_function("product_sale", |b| b.iter(|| engine.evaluate(&sale, &history).expect("decides")));
    let json = sale.to_value().to_string();
    group.bench_function("product_sale_from_json", |b| {
        b.iter(|| engine.evaluate(&Action::from_json(&json).expect("parses"), &history).expect("decides"))
    });
    group.finish();
}

fn replay(c: &mut Criterion) {
    let engine = engine();
    let events = events();
    let mut group = c.benchmark_group("replay");
    group.throughput(Throughput::Elements(events.len() as u64));
    group.sample_size(10);
    group.bench_function("sample_events", |b| {
        b.iter_batched(
            || engine.ledger(),
            |mut ledger| {
                for action in &events {
                    ledger.submit(action).expect("in time order");
                }
                ledger
            },
            BatchSize::LargeInput,
        )
    });
    group.finish();
}

/// The canonical JSON of each sample event: what a durable ledger hashes and keeps for every
/// action it records.
fn canonical_json(c: &mut Criterion) {
    let events = events();
    let mut group = c.benchmark_group("canonical_json");
    group.throughput(Throughput::Elements(events.len() as u64));
    group
        .bench_function("sample_events", |b| b.iter(|| events.iter().map(|a| a.canonical_json().len()).sum::<usize>()));
    group.finish();
}

criterion_group!(benches, single_evaluation, replay, canonical_json);
criterion_main!(benches);
