//! The work of `benches/engine.rs`, repeated N times, for counting instructions under callgrind
//! (the shared machine's timings are noise, its instruction counts are not):
//!
//! ```sh
//! cargo build --release -p probity --example bench_work
//! valgrind --tool=callgrind --callgrind-out-file=/dev/null target/release/examples/bench_work product_sale 1000
//! ```
//!
//! Run it twice with different N: the difference of the totals over the difference of N is the
//! instructions per iteration, without the loading of the policies. `benches/instructions.sh`
//! does that for the three benches. `PROBITY_BENCH_POLICIES` names another policy directory
//! (default `policies/cn`), to count the same work over an older copy of the policies.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::hint::black_box;
use std::path::PathBuf;

use probity::{Action, Engine, History, PolicySet};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn main() {
    let mut args = std::env::args().skip(1);
    let bench = args.next().expect("a bench: product_sale, product_sale_from_json or sample_events");
    let n: usize = args.next().map_or(1, |s| s.parse().expect("a count"));
    let policies = std::env::var_os("PROBITY_BENCH_POLICIES").map_or_else(|| root().join("policies/cn"), PathBuf::from);
    let set = PolicySet::from_dir(policies).expect("the policies load");
    let engine = Engine::new(set);
    let text = std::fs::read_to_string(root().join("examples/events.jsonl")).expect("examples/events.jsonl exists");
    let events: Vec<Action> = text.lines().map(|l| Action::from_json(l).expect("a valid action")).collect();
    let sale = events.iter().find(|a| a.kind() == "product_sale").expect("a product sale").clone();
    let history = History::new();
    match bench.as_str() {
        "product_sale" => {
            for _ in 0..n {
                black_box(engine.evaluate(black_box(&sale), &history).expect("decides"));
            }
        }
        "product_sale_from_json" => {
            let json = sale.to_value().to_string();
            for _ in 0..n {
                let action = Action::from_json(black_box(&json)).expect("parses");
                black_box(engine.evaluate(&action, &history).expect("decides"));
            }
        }
        "sample_events" => {
            // As criterion's batches: the ledgers are made before and dropped after.
            let mut ledgers: Vec<_> = (0..n).map(|_| engine.ledger()).collect();
            for ledger in &mut ledgers {
                for action in &events {
                    ledger.submit(action).expect("in time order");
                }
            }
            // Not dropped: criterion does not time the drop either.
            std::mem::forget(black_box(ledgers));
        }
        other => panic!("no bench {other}"),
    }
}
