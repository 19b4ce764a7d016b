//! `Engine::explain`: the clause-level trace agrees with the decision and shows what was read.
#![allow(
    clippy::unwrap_used,
    clippy::indexing_slicing,
    clippy::panic,
    clippy::expect_used,
    clippy::arithmetic_side_effects
)]

use probity::{Action, Engine, History, PolicySet};

const POLICY: &str = r#"policy gifts version "1" effective 2025-01-01 timezone "Asia/Shanghai"
action gift_received { giver: text  kind: one of cash, goods  value: money }
rule cash_gift "Cash is never accepted"
  cite "Conduct rules 4.1"
  on gift_received
  when action.kind = "cash"
  then deny, breach major
rule annual_total "Gifts from one giver above CNY 1,000 in 12 months"
  cite "Gift policy 4.2"
  on gift_received
  let total = sum(gift_received.value where giver = action.giver within 12 months) + action.value
  when total > 1000 CNY
  unless action.kind = "goods" and action.value < 10 CNY
  then review
ladder conduct window 12 months points major 3 step 3 "formal warning" step 6 "suspension"
"#;

fn engine() -> Engine {
    Engine::new(PolicySet::from_sources([("gifts.probity", POLICY)]).unwrap())
}

fn gift(id: &str, at: &str, kind: &str, value: &str) -> Action {
    Action::from_json(&format!(
        r#"{{"type": "gift_received", "id": "{id}", "at": "{at}", "rm": {{"id": "R1"}}, "giver": "ACME", "kind": "{kind}", "value": "{value}"}}"#
    ))
    .unwrap()
}

#[test]
fn the_trace_shows_each_clause_its_values_and_what_aggregates_counted() {
    let engine = engine();
    let history = History {
        actions: vec![
            gift("G-1", "2025-06-01T10:00:00+08:00", "goods", "600 CNY"),
            gift("G-2", "2024-01-01T10:00:00+08:00", "goods", "900 CNY"),
        ],
        breaches: vec![serde_json::from_str(
            r#"{"policy": "gifts", "rule": "cash_gift", "severity": "major", "ladder": "conduct", "at": "2025-09-01T10:00:00+08:00", "action": "G-0"}"#,
        )
        .unwrap()],
        obligations: vec![],
    };
    let action = gift("G-3", "2026-03-01T10:00:00+08:00", "cash", "500 CNY");
    let explanation = engine.explain(&action, &history).unwrap();
    // The decision is exactly the one `evaluate` gives.
    assert_eq!(explanation.decision, engine.evaluate(&action, &history).unwrap());
    assert_eq!(explanation.rules.len(), 2);

    let cash = &explanation.rules[0];
    assert_eq!((cash.rule.as_str(), cash.result.as_str()), ("cash_gift", "fires: deny, breach"));
    assert_eq!(cash.clauses[0].clause, "when");
    assert_eq!(cash.clauses[0].source, r#"action.kind = "cash""#);
    assert_eq!(cash.clauses[0].result, "true");
    assert_eq!(cash.clauses[0].values, vec![("action.kind".to_string(), serde_json::json!("cash"))]);

    let total = &explanation.rules[1];
    assert_eq!(total.result, "fires: review");
    let when = &total.clauses[0];
    assert_eq!(when.result, "true");
    let values: Vec<&str> = when.values.iter().map(|(k, _)| k.as_str()).collect();
    assert_eq!(
        values,
        [
            "total",
            "sum(gift_received.value where giver = action.giver within 12 months)",
            "action.giver",
            "action.value"
        ]
    );
    assert_eq!(when.values[0].1, serde_json::json!("1100.00 CNY"));
    // Only the gift inside the window was counted, and it is named.
    assert_eq!(when.counted.len(), 1);
    assert_eq!(when.counted[0].1, vec!["G-1 at 2025-06-01T10:00:00+08:00".to_string()]);
    // `unless` ran after `when` held, and failed to hold.
    assert_eq!((total.clauses[1].clause.as_str(), total.clauses[1].result.as_str()), ("unless", "false"));

    // The sanction arithmetic: 3 points in the window, 3 new.
    let ladder = &explanation.ladders[0];
    assert_eq!((ladder.before, ladder.added, ladder.total), (3, 3, 6));
    assert_eq!(ladder.step.as_deref(), Some("suspension"));
    assert_eq!(ladder.previous.as_deref(), Some("formal warning"));

    let text = explanation.to_text();
    assert!(text.starts_with("G-3 at 2026-03-01T10:00:00+08:00: deny"), "{text}");
    assert!(text.contains("3 points in the last 1 year + 3 new = 6"), "{text}");
}

#[test]
fn a_rule_that_passes_says_which_clause_stopped_it_and_errors_fail_closed() {
    let engine = engine();
    let explanation =
        engine.explain(&gift("G-4", "2026-03-01T10:00:00+08:00", "goods", "5 CNY"), &History::new()).unwrap();
    assert_eq!(explanation.rules[0].result, "passes: `when` is false");
    assert_eq!(explanation.rules[1].result, "passes: `when` is false");
    assert!(explanation.ladders.is_empty());

    let wrong_currency = gift("G-5", "2026-03-01T10:00:00+08:00", "goods", "5000 USD");
    let explanation = engine.explain(&wrong_currency, &History::new()).unwrap();
    let failed = &explanation.rules[1];
    assert!(failed.result.starts_with("cannot evaluate `when`"), "{}", failed.result);
    assert!(failed.result.ends_with("fails closed to review"), "{}", failed.result);
    assert!(failed.clauses[0].result.starts_with("error: currency mismatch"), "{}", failed.clauses[0].result);
}
