//! Helpers shared by the integration tests (each test file includes this with `mod common;`).
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use chrono::{DateTime, FixedOffset};
use probity::*;
use serde_json::Value as Json;

/// Loads one policy source named `p.probity`, panicking with the rendered diagnostics.
pub fn engine(src: &str) -> Engine {
    engine_of(&[("p.probity", src)])
}

/// Loads several named sources, panicking with the rendered diagnostics.
pub fn engine_of(sources: &[(&str, &str)]) -> Engine {
    match PolicySet::from_sources(sources.iter().copied()) {
        Ok(set) => Engine::new(set),
        Err(d) => panic!("policy did not load:\n{}", d.render()),
    }
}

/// The diagnostics of a source that must fail to load.
pub fn load_errors(src: &str) -> Diagnostics {
    match PolicySet::from_sources([("p.probity", src)]) {
        Ok(_) => panic!("policy loaded, but errors were expected:\n{src}"),
        Err(d) => d,
    }
}

/// The rendered diagnostics of a source that must fail with exactly one error, of `code`, and
/// a hint.
pub fn failing_with(src: &str, code: &str) -> String {
    let d = load_errors(src);
    let codes: Vec<&str> = d.iter().map(Diagnostic::code).collect();
    assert_eq!(codes, vec![code], "{}", d.render());
    let text = d.render();
    assert!(text.contains("help:"), "every error has a hint:\n{text}");
    text
}

/// `(code, line, column)` of every error, in order.
pub fn codes_at(d: &Diagnostics) -> Vec<(String, usize, usize)> {
    d.errors()
        .map(|e| {
            let (l, c) = e.line_column();
            (e.code().to_string(), l, c)
        })
        .collect()
}

pub fn action(value: Json) -> Action {
    Action::from_value(value).unwrap()
}

/// Evaluates an action (as JSON) with an empty history.
pub fn decide(engine: &Engine, value: Json) -> Decision {
    engine.evaluate(&action(value), &History::new()).unwrap()
}

/// Evaluates an action (as JSON) with a history (as JSON).
pub fn decide_with(engine: &Engine, value: Json, history: Json) -> Decision {
    let history: History = serde_json::from_value(history).unwrap();
    engine.evaluate(&action(value), &history).unwrap()
}

/// The decision as a JSON value (through serde).
pub fn to_json(d: &Decision) -> Json {
    serde_json::to_value(d).unwrap()
}

/// Rule ids of the findings, in order.
pub fn rules(d: &Decision) -> Vec<String> {
    d.findings.iter().map(|f| f.rule.to_string()).collect()
}

/// The finding of a rule (the first, if several).
pub fn finding<'d>(d: &'d Decision, rule: &str) -> &'d Finding {
    d.findings.iter().find(|f| f.rule == rule).unwrap_or_else(|| panic!("no finding for `{rule}` in {}", d.to_json()))
}

/// The evidence value a finding recorded for a label.
pub fn evidence(f: &Finding, label: &str) -> Option<Json> {
    f.evidence.iter().find(|(l, _)| l == label).map(|(_, v)| v.to_json())
}

pub fn ts(s: &str) -> DateTime<FixedOffset> {
    DateTime::parse_from_rfc3339(s).unwrap()
}

/// A finding's evidence as (label, JSON value) pairs.
pub fn evidence_list(f: &Finding) -> Vec<(SmolStr, Json)> {
    f.evidence.iter().map(|(l, v)| (l.clone(), v.to_json())).collect()
}
