//! Hostile action and history JSON: every case gives a clear input error or a fail-closed error
//! finding — never a panic, never an `allow` from a rule that could not read its field.
#![allow(
    clippy::unwrap_used,
    clippy::indexing_slicing,
    clippy::panic,
    clippy::expect_used,
    clippy::arithmetic_side_effects
)]

use probity::{Action, Engine, FindingKind, History, PolicySet, Verdict};
use serde_json::{json, Value};

const POLICY: &str = r#"policy hostile version "1" effective 2026-01-01 timezone "Asia/Shanghai"
record customer { id: text  risk: int }
action probe {
  i: int
  d: decimal
  m: money
  t: text
  day: date
  ts: datetime
  dur: duration
  e: one of low, high
  s: set of text
  l: list of int
  b: bool
  c: customer
}
rule reads_i cite "c" on probe when action.i > 0 then review
rule reads_d cite "c" on probe when action.d > 0 then review
rule reads_m cite "c" on probe when action.m > 0 CNY then review
rule reads_t cite "c" on probe when action.t = "x" then review
rule reads_day cite "c" on probe when action.day > 2000-01-01 then review
rule reads_ts cite "c" on probe when action.ts > 2000-01-01T00:00:00Z then review
rule reads_dur cite "c" on probe when action.dur > 1 day then review
rule reads_e cite "c" on probe when action.e = "high" then review
rule reads_s cite "c" on probe when action.s contains "x" then review
rule reads_l cite "c" on probe when len(action.l) > 0 then review
rule reads_b cite "c" on probe when action.b then review
rule reads_c cite "c" on probe when action.c.risk > 0 then review
"#;

fn engine() -> Engine {
    Engine::new(PolicySet::from_sources([("hostile.probity", POLICY)]).unwrap())
}

fn base() -> Value {
    json!({"type": "probe", "id": "P-1", "at": "2026-03-01T10:00:00+08:00", "rm": {"id": "R1"},
           "i": 0, "d": "0", "m": "0 CNY", "t": "y", "day": "1999-01-01", "ts": "1999-01-01T00:00:00Z",
           "dur": "1 hour", "e": "low", "s": [], "l": [], "b": false, "c": {"id": "C", "risk": 0}})
}

/// The decision when one field is replaced: the rule reading it must fail closed.
fn fails_closed(field: &str, value: Value) {
    let mut action = base();
    action[field] = value.clone();
    let decision = engine().evaluate(&Action::from_value(action).unwrap(), &History::new()).unwrap();
    let rule = format!("reads_{field}");
    let finding = decision.findings.iter().find(|f| f.rule == rule);
    let finding = finding.unwrap_or_else(|| panic!("`{field}` = {value}: no finding for {rule}: {decision:?}"));
    assert_eq!(finding.kind, FindingKind::Error, "`{field}` = {value}: {finding:?}");
    assert_eq!(decision.verdict, Verdict::Review, "`{field}` = {value}");
    assert!(!finding.message.is_empty());
    // Only the rule that read the bad field is affected.
    assert_eq!(decision.findings.len(), 1, "`{field}` = {value}: {:?}", decision.findings);
}

#[test]
fn the_well_formed_probe_is_allowed() {
    let decision = engine().evaluate(&Action::from_value(base()).unwrap(), &History::new()).unwrap();
    assert_eq!(decision.verdict, Verdict::Allow, "{decision:?}");
    assert!(decision.findings.is_empty());
}

#[test]
fn wrong_types_in_every_field_kind_fail_closed() {
    let wrong: [(&str, Vec<Value>); 12] = [
        ("i", vec![json!("1"), json!(1.5), json!(true), json!([1]), json!({"n": 1})]),
        ("d", vec![json!("abc"), json!(true), json!([]), json!("1e400")]),
        (
            "m",
            vec![
                json!(500),
                json!("500"),
                json!("500 XYZ"),
                json!("500 usd"),
                json!({"amount": "1"}),
                json!("1 CNY 2"),
            ],
        ),
        ("t", vec![json!(1), json!(["x"]), json!({"x": 1})]),
        ("day", vec![json!("2026-02-30"), json!("2026-13-01"), json!("01/03/2026"), json!(20260301)]),
        (
            "ts",
            vec![json!("2026-03-01T10:00:00"), json!("2026-03-01T10:00:00+25:00"), json!("2026-03-01 10:00"), json!(0)],
        ),
        ("dur", vec![json!("soon"), json!("1.5 days"), json!(86400), json!("99999999999999999999 years")]),
        ("e", vec![json!("medium"), json!("HIGH"), json!(1)]),
        ("s", vec![json!("x"), json!([1, 2]), json!({"x": true})]),
        ("l", vec![json!([1, "x"]), json!("1,2"), json!([1.5])]),
        ("b", vec![json!("true"), json!(1), json!([])]),
        ("c", vec![json!("C"), json!({"id": "C", "risk": "high"}), json!([])]),
    ];
    for (field, values) in wrong {
        for value in values {
            fails_closed(field, value);
        }
    }
}

#[test]
fn missing_and_null_fields_fail_closed() {
    for field in ["i", "d", "m", "t", "day", "ts", "dur", "e", "s", "l", "b", "c"] {
        fails_closed(field, Value::Null);
        let mut action = base();
        action.as_object_mut().unwrap().remove(field);
        let decision = engine().evaluate(&Action::from_value(action).unwrap(), &History::new()).unwrap();
        assert_eq!(decision.verdict, Verdict::Review, "missing `{field}`");
        assert!(decision.findings.iter().any(|f| f.rule == format!("reads_{field}") && f.kind == FindingKind::Error));
    }
}

#[test]
fn numbers_beyond_the_types_fail_closed() {
    let engine = engine();
    for (field, text) in [
        ("i", r#"99999999999999999999"#),
        ("i", r#"-9223372036854775809"#),
        ("d", r#"0.1234567890123456789012345678901234567890"#),
        ("d", r#"123456789012345678901234567890"#),
        ("m", r#"{"amount": "0.1234567890123456789012345678901234567890", "currency": "CNY"}"#),
    ] {
        let json =
            base().to_string().replacen(&format!(r#""{field}":"#), &format!(r#""{field}": {text}, "_{field}":"#), 1);
        let decision = engine.evaluate(&Action::from_json(&json).unwrap(), &History::new()).unwrap();
        let finding = decision.findings.iter().find(|f| f.rule == format!("reads_{field}")).unwrap();
        assert_eq!(finding.kind, FindingKind::Error, "{field} = {text}: {finding:?}");
    }
}

#[test]
fn exact_decimals_survive_the_json_path() {
    let mut action = base();
    action["d"] = serde_json::from_str("0.1000000000000000000000000001").unwrap();
    let decision = engine().explain(&Action::from_value(action).unwrap(), &History::new()).unwrap();
    let d = &decision.rules[1].clauses[0].values[0];
    assert_eq!(d.1, json!("0.1000000000000000000000000001"));
}

#[test]
fn malformed_documents_are_input_errors() {
    let cases = [
        ("", "invalid JSON"),
        ("null", "JSON object"),
        ("[]", "JSON object"),
        (r#"{"type": "probe""#, "invalid JSON"),
        (
            r#"{"type": "probe", "type": "other", "id": "1", "at": "2026-01-01T00:00:00Z", "rm": {"id": "R"}}"#,
            "appears twice",
        ),
        (
            r#"{"type": "probe", "id": "1", "at": "2026-01-01T00:00:00Z", "rm": {"id": "R", "id": "S"}}"#,
            "appears twice",
        ),
        (r#"{"type": "probe", "id": "1", "at": NaN, "rm": {"id": "R"}}"#, "invalid JSON"),
        (
            r#"{"type": "probe", "id": "1", "at": "2026-01-01T00:00:00Z", "rm": {"id": "R"}, "i": Infinity}"#,
            "invalid JSON",
        ),
        (r#"{"type": 7, "id": "1", "at": "2026-01-01T00:00:00Z", "rm": {"id": "R"}}"#, "`type`"),
        (r#"{"type": "probe", "id": "", "at": "2026-01-01T00:00:00Z", "rm": {"id": "R"}}"#, "`id`"),
        (r#"{"type": "probe", "id": "1", "at": "2026-02-30T00:00:00Z", "rm": {"id": "R"}}"#, "`at`"),
        (r#"{"type": "probe", "id": "1", "at": "2026-01-01T00:00:00+0800", "rm": {"id": "R"}}"#, "`at`"),
        (r#"{"type": "probe", "id": "1", "at": "2026-01-01T00:00:00", "rm": {"id": "R"}}"#, "no UTC offset"),
        (r#"{"type": "probe", "id": "1", "at": "2026-01-01T00:00:00Z", "rm": "R"}"#, "`rm`"),
        (r#"{"type": "probe", "id": "1", "at": "2026-01-01T00:00:00Z", "rm": {"id": 5}}"#, "`rm.id`"),
    ];
    for (text, expected) in cases {
        let err = Action::from_json(text).unwrap_err().to_string();
        assert!(err.contains(expected), "{text}: {err}");
    }
    let deep = format!(
        r#"{{"type": "probe", "id": "1", "at": "2026-01-01T00:00:00Z", "rm": {{"id": "R"}}, "x": {}{}}}"#,
        "[".repeat(100),
        "]".repeat(100)
    );
    assert!(Action::from_json(&deep).is_err());
    let mut long = base();
    long["t"] = json!("x".repeat(200_000));
    let decision = engine().evaluate(&Action::from_json(&long.to_string()).unwrap(), &History::new()).unwrap();
    assert_eq!(decision.verdict, Verdict::Allow);
    long["t"] = json!("x".repeat(probity::limits::MAX_ACTION_BYTES));
    assert!(Action::from_json(&long.to_string()).unwrap_err().to_string().contains("limit"));
}

#[test]
fn hostile_history_is_an_input_error() {
    let engine = engine();
    let action = Action::from_value(base()).unwrap();
    for text in [
        r#"{"breaches": [{"policy": "hostile", "rule": "r", "severity": "minor", "at": "yesterday", "action": "x"}]}"#,
        r#"{"breaches": [{"policy": "hostile", "rule": "r", "severity": "minor", "ladder": "nope", "at": "2026-01-01T00:00:00Z", "action": "x"}]}"#,
        r#"{"obligations": [{"policy": "hostile", "duty": "none", "action": "x", "due": "2026-01-01T00:00:00Z"}]}"#,
        r#"{"obligations": [{"policy": "unknown", "duty": "d", "action": "x", "due": "2026-01-01T00:00:00Z"}]}"#,
        r#"{"actions": [{"type": "probe"}]}"#,
        r#"{"actions": [], "unknown": []}"#,
        r#"{"actions": {}}"#,
        r#"{"actions": [], "actions": []}"#,
        r#"{"breaches": [{"policy": "hostile", "policy": "other", "rule": "r", "severity": "minor", "at": "2026-01-01T00:00:00Z", "action": "x"}]}"#,
        r#"{"actions": [{"type": "probe", "id": "1", "id": "2", "at": "2026-01-01T00:00:00Z", "rm": {"id": "R"}}]}"#,
    ] {
        let err = History::from_json(text).and_then(|h| engine.evaluate(&action, &h));
        assert!(err.is_err(), "{text}");
    }
    let err = History::from_json("[]").unwrap_err().to_string();
    assert!(err.contains("expected an object with `actions`"), "{err}");
    let err = History::from_json(r#"{"actions": [{"type": "probe", "type": "x"}]}"#).unwrap_err().to_string();
    assert!(err.contains("appears twice"), "{err}");
}
