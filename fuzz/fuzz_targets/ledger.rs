//! Ledger sequences: submits and advances in arbitrary order and timing, for several RMs.
#![no_main]

use std::sync::OnceLock;

use chrono::{DateTime, Duration, FixedOffset};
use libfuzzer_sys::fuzz_target;
use probity::{Action, Engine, PolicySet};

fn engine() -> &'static Engine {
    static ENGINE: OnceLock<Engine> = OnceLock::new();
    ENGINE.get_or_init(|| {
        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/seeds/policies");
        let mut sources = Vec::new();
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            sources.push((path.display().to_string(), std::fs::read_to_string(&path).unwrap()));
        }
        sources.sort();
        Engine::new(PolicySet::from_sources(sources).unwrap())
    })
}

const TYPES: [&str; 6] = ["product_sale", "gift_received", "gift_registered", "complaint_forwarded", "trade_error", "loan_approval"];

fuzz_target!(|data: &[u8]| {
    let engine = engine();
    let mut ledger = engine.ledger();
    let start: DateTime<FixedOffset> = DateTime::parse_from_rfc3339("2026-01-01T00:00:00+08:00").unwrap();
    let mut t = start;
    for (i, chunk) in data.chunks(4).enumerate() {
        let [op, a, b, c] = [chunk.first(), chunk.get(1), chunk.get(2), chunk.get(3)].map(|x| *x.unwrap_or(&0));
        t += Duration::hours(i64::from(a) * 7 - 200);
        if op % 5 == 0 {
            let _ = ledger.advance_to(t);
            continue;
        }
        let kind = TYPES[usize::from(b) % TYPES.len()];
        let json = format!(
            r#"{{"type": "{kind}", "id": "X-{i}", "at": "{}", "rm": {{"id": "R{}", "grade": "junior", "related_parties": ["P{c}"]}},
               "amount": "{}0 CNY", "value": "{} CNY", "giver": "G{}", "kind": "cash", "gift": "X-{}", "channel": "branch",
               "delay_hours": {}, "borrower": "P{}", "product_risk": {}, "customer": {{"id": "C", "risk_level": {}}}}}"#,
            t.to_rfc3339(), op % 3, u32::from(c) * 1000, u32::from(c) * 10, c % 4, i.saturating_sub(usize::from(c % 4)),
            c, c % 3, c % 6, b % 6
        );
        let action = Action::from_json(&json).unwrap();
        // Out-of-order submissions are input errors, never panics.
        let _ = ledger.submit(&action);
    }
    let _ = ledger.advance_to(t + Duration::days(400));
    assert!(ledger.retained_items() < 100_000);
});
