//! Properties that must hold for generated event streams: determinism, the ledger agreeing with
//! the pure evaluator given the equivalent history, split replays, and loading from files.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic,
    clippy::arithmetic_side_effects
)]

use std::path::PathBuf;

use probity::{Action, Decision, Engine, History, HistoryBreach, HistoryObligation, OverdueReport, PolicySet};
use proptest::prelude::*;

/// The spec corpus's gifts, duties and ladder policies, as one set.
fn sources() -> Vec<(String, String)> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/spec");
    let mut out = Vec::new();
    for file in ["04_aggregates.yaml", "05_duties.yaml", "09_ladders.yaml"] {
        let yaml: serde_json::Value =
            serde_norway::from_str(&std::fs::read_to_string(dir.join(file)).unwrap()).unwrap();
        let text = yaml["policies"][0].as_str().unwrap().to_string();
        out.push((file.replace(".yaml", ".probity"), text));
    }
    out
}

fn engine() -> Engine {
    Engine::new(PolicySet::from_sources(sources()).unwrap())
}

/// One generated event: minutes after the previous one, a kind, and a few small numbers.
fn event() -> impl Strategy<Value = (u32, u8, u8, u8)> {
    (0u32..20_000, 0u8..5, 0u8..4, 0u8..8)
}

fn actions(events: &[(u32, u8, u8, u8)]) -> Vec<Action> {
    let mut t = chrono::DateTime::parse_from_rfc3339("2026-01-01T09:00:00+08:00").unwrap();
    events
        .iter()
        .enumerate()
        .map(|(i, &(gap, kind, a, b))| {
            t += chrono::Duration::minutes(i64::from(gap));
            let at = t.to_rfc3339();
            let json = match kind {
                0 | 1 => format!(
                    r#"{{"type": "gift_received", "id": "G{i}", "at": "{at}", "rm": {{"id": "R1"}}, "giver": "P{a}", "kind": "{}", "value": "{} CNY"}}"#,
                    ["goods", "cash", "hospitality", "goods"][usize::from(a)],
                    u32::from(b) * 90
                ),
                2 => format!(
                    r#"{{"type": "gift_registered", "id": "GR{i}", "at": "{at}", "rm": {{"id": "R1"}}, "gift": "G{}"}}"#,
                    i.saturating_sub(usize::from(b))
                ),
                3 => format!(
                    r#"{{"type": "complaint_forwarded", "id": "K{i}", "at": "{at}", "rm": {{"id": "R1"}}, "delay_hours": {}}}"#,
                    u32::from(b) * 6
                ),
                _ => format!(
                    r#"{{"type": "product_sale", "id": "S{i}", "at": "{at}", "rm": {{"id": "R1"}}, "channel": "{}"{}}}"#,
                    ["branch", "online"][usize::from(a % 2)],
                    if b % 2 == 0 { r#", "recording_id": "V""# } else { "" }
                ),
            };
            Action::from_json(&json).unwrap()
        })
        .collect()
}

/// What a ledger said about each event: the overdue reports before it, then its decision.
fn through_ledger(engine: &Engine, actions: &[Action]) -> Vec<(Vec<OverdueReport>, Decision)> {
    let mut ledger = engine.ledger();
    actions
        .iter()
        .map(|a| {
            let s = ledger.submit(a).unwrap();
            (s.overdue, s.decision)
        })
        .collect()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    #[test]
    fn evaluation_is_deterministic(events in prop::collection::vec(event(), 1..40)) {
        let engine = engine();
        let acts = actions(&events);
        let first = through_ledger(&engine, &acts);
        let second = through_ledger(&engine, &acts);
        for ((o1, d1), (o2, d2)) in first.iter().zip(&second) {
            prop_assert_eq!(d1.to_json(), d2.to_json());
            prop_assert_eq!(o1.len(), o2.len());
        }
    }

    #[test]
    fn the_ledger_agrees_with_evaluate_given_the_equivalent_history(events in prop::collection::vec(event(), 1..40)) {
        let engine = engine();
        let acts = actions(&events);
        let mut history = History::new();
        for ((overdue, decision), action) in through_ledger(&engine, &acts).into_iter().zip(&acts) {
            // The breaches the ledger recorded for the overdue reports before this action.
            for report in &overdue {
                for f in report.findings.iter().filter(|f| f.severity.is_some()) {
                    history.breaches.push(breach(f, &report.at, report.obligation.action.as_deref().unwrap_or("")));
                }
            }
            let pure = engine.evaluate(action, &history).unwrap();
            prop_assert_eq!(pure.to_json(), decision.to_json());
            // Carry what the ledger recorded into the explicit history.
            history.actions.push(action.clone());
            for f in decision.findings.iter().filter(|f| f.severity.is_some()) {
                history.breaches.push(breach(f, &decision.at, &decision.action));
            }
            history.obligations.retain(|o| !decision.fulfilled.iter().any(|x| x.action == o.action && x.duty == o.duty));
            for o in &decision.obligations {
                history.obligations.push(HistoryObligation {
                    rm: None,
                    policy: o.policy.to_string(),
                    duty: o.duty.to_string(),
                    action: o.action.as_deref().unwrap_or("").to_string(),
                    due: o.due.to_string(),
                    version: None,
                });
            }
        }
    }

    #[test]
    fn a_stream_split_in_two_with_the_ledger_carried_across_replays_like_the_whole(
        events in prop::collection::vec(event(), 2..40),
        cut in 1usize..39,
    ) {
        let engine = engine();
        let acts = actions(&events);
        let cut = cut.min(acts.len() - 1);
        let whole = through_ledger(&engine, &acts);
        let mut first = engine.ledger();
        let mut split = Vec::new();
        for a in &acts[..cut] {
            split.push(first.submit(a).unwrap().decision);
        }
        let mut second = first.clone();
        drop(first);
        for a in &acts[cut..] {
            split.push(second.submit(a).unwrap().decision);
        }
        let whole: Vec<String> = whole.into_iter().map(|(_, d)| d.to_json()).collect();
        let split: Vec<String> = split.into_iter().map(|d| d.to_json()).collect();
        prop_assert_eq!(whole, split);
    }
}

fn breach(f: &probity::Finding, at: &str, action: &str) -> HistoryBreach {
    HistoryBreach {
        rm: None,
        policy: f.policy.to_string(),
        rule: f.rule.to_string(),
        severity: f.severity.clone().unwrap().to_string(),
        ladder: f.ladder.as_ref().map(ToString::to_string),
        at: at.to_string(),
        action: action.to_string(),
        points: None,
    }
}

#[test]
fn a_policy_set_from_files_decides_like_one_from_named_sources() {
    let dir = std::env::temp_dir().join(format!("probity-props-{}", std::process::id()));
    std::fs::create_dir_all(dir.join("nested")).unwrap();
    for (i, (name, text)) in sources().into_iter().enumerate() {
        let path = if i == 0 { dir.join(&name) } else { dir.join("nested").join(&name) };
        std::fs::write(path, text).unwrap();
    }
    let from_files = Engine::new(PolicySet::from_dir(&dir).unwrap());
    std::fs::remove_dir_all(&dir).unwrap();
    let from_sources = engine();
    let events: Vec<(u32, u8, u8, u8)> =
        (0..200u32).map(|i| (i * 37 % 5000, (i % 5) as u8, (i % 4) as u8, (i % 8) as u8)).collect();
    let acts = actions(&events);
    let a = through_ledger(&from_files, &acts);
    let b = through_ledger(&from_sources, &acts);
    for ((_, x), (_, y)) in a.iter().zip(&b) {
        assert_eq!(x.to_json(), y.to_json());
    }
}
