//! A loop of stateless evaluations of the comparison workload, for profilers: the figures of
//! docs/performance.md come from
//!
//! ```sh
//! cargo build --release -p probity --example evaluate_loop
//! valgrind --tool=callgrind target/release/examples/evaluate_loop 20000
//! target/release/examples/evaluate_loop 2000000      # time per evaluation, wall clock
//! ```
//!
//! 64 generated `loan_sale` actions (bench/policies/workload.probity) are parsed once and then
//! evaluated in turn with an empty history, so the loop measures decoding, deciding and building
//! (and dropping) the decision.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::arithmetic_side_effects, clippy::indexing_slicing)]

use probity::{Action, Engine, History, PolicySet};
use serde_json::json;

const WORKLOAD: &str = include_str!("../../../bench/policies/workload.probity");

fn main() {
    let set = PolicySet::from_sources([("workload.probity", WORKLOAD)]).expect("the workload loads");
    let engine = Engine::new(set);
    let grades = ["junior", "intermediate", "senior"];
    let channels = ["branch", "online", "phone"];
    let actions: Vec<Action> = (0..64u32)
        .map(|i| {
            let mut v = json!({
                "type": "loan_sale", "id": format!("s{i}"),
                "at": format!("2025-0{}-1{}T10:00:00+08:00", 1 + i % 9, i % 10),
                "rm": {"id": format!("rm{}", i % 7), "grade": grades[(i % 3) as usize],
                       "related_parties": ["p1", "p2", format!("p{}", i % 5)]},
                "customer": {"id": format!("c{i}"), "birth_date": format!("19{}-05-0{}", 40 + i % 50, 1 + i % 9),
                             "risk_level": i % 5 + 1},
                "product_risk": (i * 7) % 5 + 1,
                "amount": format!("{} CNY", (u64::from(i) * 137_000) % 7_000_000),
                "borrower": format!("p{}", i % 11),
                "channel": channels[(i % 3) as usize],
            });
            if i % 4 != 0 {
                v["recording_id"] = json!(format!("r{i}"));
            }
            Action::from_value(v).unwrap()
        })
        .collect();
    let history = History::new();
    let n: usize = std::env::args().nth(1).map_or(1_000_000, |s| s.parse().expect("a count"));
    let start = std::time::Instant::now();
    let mut findings = 0usize;
    for i in 0..n {
        findings += engine.evaluate(&actions[i % actions.len()], &history).unwrap().findings.len();
    }
    let elapsed = start.elapsed();
    println!(
        "{n} evaluations: {:.3} µs each, {:.0} a second ({findings} findings)",
        elapsed.as_secs_f64() * 1e6 / n as f64,
        n as f64 / elapsed.as_secs_f64()
    );
}
