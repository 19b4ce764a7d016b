//! Typed, coded errors: every evaluation error code reached from a policy and an action (and
//! carried into the error finding), every input error code from a bad action or history, the
//! input error record's JSON shape, and the source chain of a load error.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

mod common;

use common::*;
use probity::*;
use serde_json::{json, Value as Json};

/// A policy with one rule whose `when` is `condition`, over an action type `a` with fields of
/// every kind the cases need.
fn policy(condition: &str) -> Engine {
    engine(&format!(
        "policy p version \"1\" effective 2026-01-01 timezone \"UTC\"\n\
         action a {{ x: int?  y: int?  n: decimal?  m: money?  d: date?  span: duration? }}\n\
         rule r \"r\" cite \"c\" on a when {condition} then deny\n"
    ))
}

fn act(fields: Json) -> Json {
    let mut action = json!({"type": "a", "id": "A1", "at": "2026-03-01T10:00:00Z", "rm": {"id": "R1"}});
    for (k, v) in fields.as_object().unwrap() {
        action[k] = v.clone();
    }
    action
}

/// The one error finding of deciding `fields` under `condition`: its code and message.
fn error_of(condition: &str, fields: Json) -> (String, String, String) {
    let decision = decide(&policy(condition), act(fields));
    let f = finding(&decision, "r");
    assert_eq!(f.kind, FindingKind::Error, "{}", decision.to_json());
    (f.code.as_deref().unwrap_or_default().to_string(), f.message.to_string(), decision.to_json())
}

#[test]
fn each_evaluation_error_has_its_code_in_the_finding() {
    let cases: &[(&str, Json, &str, &str)] = &[
        ("action.x > 1", json!({}), "E0001", "`action.x` is missing"),
        ("max(a.x within 30 days) > 1", json!({}), "E0002", "`max(…) of no items` is missing"),
        ("action.x > 1", json!({"x": "many"}), "E0003", "`action.x`: "),
        ("action.m > 100 CNY", json!({"m": "5 USD"}), "E0004", "currency mismatch: 5.00 USD and 100.00 CNY"),
        ("action.x / action.y > 1", json!({"x": 1, "y": 0}), "E0005", "division by zero"),
        (
            "action.n * action.n > 1",
            json!({"n": "123456789012345678901234.5"}),
            "E0006",
            "cannot be held exactly: decimals hold 28 significant digits",
        ),
        ("action.x / action.y > 1", json!({"x": 1, "y": 3}), "E0007", "1 / 3 has no exact decimal value"),
        ("action.x + action.x > 1", json!({"x": i64::MAX}), "E0008", "arithmetic overflow"),
        (
            "action.d + action.span > today",
            json!({"d": "2026-01-01", "span": "100000000 days"}),
            "E0009",
            "date out of range",
        ),
        ("action.d + 9000 years > today", json!({"d": "2026-01-01"}), "E0010", "11026-01-01 is outside the years"),
        ("action.d + action.span > today", json!({"d": "2026-01-01", "span": "8 hours"}), "E0011", "whole days"),
        (
            "action.span > 30 days",
            json!({"span": "1 month"}),
            "E0012",
            "cannot compare 1 month with 30 days: months have no fixed length",
        ),
    ];
    for (condition, fields, code, message) in cases {
        let (got, text, json) = error_of(condition, fields.clone());
        assert_eq!(got, *code, "{condition} with {fields}: {text}");
        assert!(text.starts_with("cannot evaluate `when`: "), "{text}");
        assert!(text.contains(message), "{condition}: `{text}` lacks `{message}`");
        // The code follows the kind in the JSON; nothing else changes.
        let expected =
            format!(r#"{{"policy":"p","rule":"r","kind":"error","code":"{code}","outcomes":["review"],"message":"#);
        assert!(json.contains(&expected), "{json}");
    }
}

#[test]
fn an_absent_aggregate_value_reads_as_absent_not_as_an_error() {
    // `min`/`max` of no items is E0002, which presence tests read as absence, like E0001.
    let decision = decide(&policy("max(a.x within 30 days) is missing"), act(json!({})));
    assert_eq!(rules(&decision), ["r"]);
    assert_eq!(decision.findings[0].kind, FindingKind::Rule);
    assert_eq!(decision.findings[0].code, None);
}

#[test]
fn the_step_limit_is_e0013() {
    let engine = engine(
        "policy p version \"1\" effective 2026-01-01\naction a { n: int }\n\
         rule quadratic cite \"c\" on a\n  when count(a where count(a where n = 1 within 1 year) > 0 within 1 year) > 0\n  then review\n",
    );
    let start = ts("2026-01-01T00:00:00Z");
    let actions = (0..3300)
        .map(|i| {
            let at = (start + chrono::Duration::minutes(i)).to_rfc3339();
            action(json!({"type": "a", "id": format!("H{i}"), "at": at, "rm": {"id": "R"}, "n": 1}))
        })
        .collect();
    let history = History { actions, ..History::new() };
    let now = action(json!({"type": "a", "id": "A", "at": "2026-03-01T00:00:00Z", "rm": {"id": "R"}, "n": 1}));
    let decision = engine.evaluate(&now, &history).unwrap();
    let f = &decision.findings[0];
    assert_eq!((f.kind, f.code.as_deref()), (FindingKind::Error, Some("E0013")), "{}", decision.to_json());
    assert!(f.message.contains("evaluation cost limit reached (10000000 steps)"), "{}", f.message);
}

#[test]
fn no_policy_in_force_is_e0100() {
    let set = PolicySet::from_sources([("p.probity", "policy p version \"1\" effective 2027-01-01\naction a { }\n")])
        .unwrap()
        .require_policy(true);
    let decision = Engine::new(set).evaluate(&action(act(json!({}))), &History::new()).unwrap();
    let f = &decision.findings[0];
    assert_eq!((f.rule.as_str(), f.code.as_deref()), (NO_POLICY_IN_FORCE, Some("E0100")));
}

#[test]
fn findings_that_are_not_errors_have_no_code() {
    let decision = decide(&policy("action.x > 1"), act(json!({"x": 2})));
    assert_eq!(decision.findings[0].kind, FindingKind::Rule);
    assert!(!decision.to_json().contains("\"code\""), "{}", decision.to_json());
    // A decision read back keeps the code of an error finding.
    let error = decide(&policy("action.x > 1"), act(json!({})));
    let back: Decision = serde_json::from_str(&error.to_json()).unwrap();
    assert_eq!(back.findings[0].code.as_deref(), Some("E0001"));
    assert_eq!(back.to_json(), error.to_json());
}

#[test]
fn evaluation_errors_display_as_their_message() {
    let e = EvalError::CurrencyMismatch(Box::new(Operands { left: "1.00 USD".into(), right: "1.00 CNY".into() }));
    assert_eq!((e.code(), e.to_string().as_str()), ("E0004", "currency mismatch: 1.00 USD and 1.00 CNY"));
    let e = EvalError::Invalid(Box::new(InvalidField { field: "action.x".into(), problem: "bad".into() }));
    assert_eq!((e.code(), e.to_string().as_str()), ("E0003", "`action.x`: bad"));
    assert_eq!(EvalError::StepLimit { limit: 3 }.to_string(), "evaluation cost limit reached (3 steps)");
    assert_eq!(EvalError::Internal { what: "x" }.code(), "E0000");
}

#[test]
fn a_load_error_keeps_the_io_error_as_its_source() {
    use std::error::Error as _;
    let missing = std::env::temp_dir().join("probity-errors-test-no-such-dir");
    let error = PolicySet::from_dir(&missing).unwrap_err();
    let source = error.source().expect("a source");
    let io = source.downcast_ref::<std::io::Error>().expect("an io::Error");
    assert_eq!(io.kind(), std::io::ErrorKind::NotFound);
    // The message still names the path and the operating system's words, once.
    let text = error.to_string();
    assert!(text.starts_with(&format!("cannot read `{}`: ", missing.display())), "{text}");
    assert!(text.ends_with(&io.to_string()), "{text}");
    match error {
        LoadError::Io { path, source } => assert_eq!((path, source.kind()), (missing, std::io::ErrorKind::NotFound)),
        other => panic!("expected an I/O error, got {other:?}"),
    }
}

#[test]
fn a_directory_without_policy_files_is_not_found() {
    let dir = std::env::temp_dir().join(format!("probity-errors-empty-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let error = PolicySet::from_dir(&dir).unwrap_err();
    std::fs::remove_dir(&dir).unwrap();
    match error {
        LoadError::Io { source, .. } => {
            assert_eq!(source.kind(), std::io::ErrorKind::NotFound);
            assert_eq!(source.to_string(), "no `.probity` policy files in it");
        }
        other => panic!("expected an I/O error, got {other:?}"),
    }
}

/// The input error of an action given as JSON text, decided under the gift policy below.
fn input_error(action: &str, history: Option<&str>) -> InputError {
    let engine = engine(
        "policy g version \"1\" effective 2026-01-01 timezone \"UTC\"\n\
         action gift { value: money }\n\
         ladder conduct window 12 months points minor 1 step 1 \"note\"\n\
         rule r \"r\" cite \"c\" on gift when action.value > 100 CNY then breach minor\n",
    );
    engine.evaluate_json(action, history).unwrap_err()
}

const GOOD: &str =
    r#"{"type": "gift", "id": "G1", "at": "2026-03-01T10:00:00Z", "rm": {"id": "R1"}, "value": "5 CNY"}"#;

/// An action, a history, the code, the field and part of the message expected.
type InputCase = (String, Option<String>, &'static str, Option<&'static str>, &'static str);

#[test]
fn each_input_error_has_its_code_and_field() {
    let deep = format!("{}{}", "[".repeat(100), "]".repeat(100));
    let cases: Vec<InputCase> = vec![
        ("{".into(), None, "I0001", None, "invalid JSON: "),
        (format!(r#"{{"type": "gift", "deep": {deep}}}"#), None, "I0002", None, "levels"),
        (r#"{"type": "gift", "id": "G1", "rm": {"id": "R1"}}"#.into(), None, "I0003", Some("at"), "missing"),
        (r#"{"type": "gift", "id": "G1", "at": 5, "rm": {"id": "R1"}}"#.into(), None, "I0004", Some("at"), "found"),
        (r#"{"type": "gift", "id": "", "at": "2026-03-01T10:00:00Z", "rm": {"id": "R1"}}"#.into(), None, "I0005", Some("id"), "must not be empty"),
        (r#"{"type": "gift", "id": "G1", "at": "2026-03-01T10:00:00", "rm": {"id": "R1"}}"#.into(), None, "I0006", Some("at"), "UTC offset"),
        (GOOD.replace("5 CNY", "-5 CNY"), None, "I0007", Some("value"), "is negative"),
        (
            GOOD.into(),
            Some(r#"{"actions": [{"type": "gift", "id": "H1", "at": "2026-02-01T10:00:00Z", "rm": {"id": "R1"}, "value": "-1 CNY"}]}"#.into()),
            "I0007",
            Some("actions[0].value"),
            "is negative",
        ),
        (
            GOOD.into(),
            Some(r#"{"obligations": [{"policy": "nope", "duty": "d", "action": "H1", "due": "2026-03-10T10:00:00Z"}]}"#.into()),
            "I0008",
            Some("obligations[0].policy"),
            "no version of policy `nope` applies",
        ),
        (
            GOOD.into(),
            Some(r#"{"breaches": [{"policy": "g", "rule": "r", "severity": "grave", "ladder": "conduct", "at": "2026-02-01T10:00:00Z", "action": "H1"}]}"#.into()),
            "I0008",
            Some("breaches[0].severity"),
            "gives no points for `grave`",
        ),
    ];
    for (action, history, code, field, message) in &cases {
        let e = input_error(action, history.as_deref());
        assert_eq!((e.code(), e.field()), (*code, *field), "{action} {history:?}: {e}");
        assert!(e.to_string().contains(message), "{e}");
        let record = e.record();
        assert_eq!(
            (record.code.as_str(), record.field.as_deref(), record.message.as_str()),
            (*code, *field, e.to_string().as_str())
        );
    }
}

#[test]
fn negative_points_in_a_history_built_in_code_are_i0007() {
    let engine = engine("policy g version \"1\" effective 2026-01-01\naction gift { }\n");
    let breach = HistoryBreach {
        rm: None,
        policy: "g".into(),
        rule: "r".into(),
        severity: "minor".into(),
        ladder: None,
        at: "2026-02-01T10:00:00Z".into(),
        action: "H1".into(),
        points: Some(-2),
    };
    let history = History { breaches: vec![breach], ..History::new() };
    let now = action(json!({"type": "gift", "id": "G1", "at": "2026-03-01T10:00:00Z", "rm": {"id": "R1"}}));
    let e = engine.evaluate(&now, &history).unwrap_err();
    assert_eq!((e.code(), e.field()), ("I0007", Some("breaches[0].points")), "{e}");
    assert!(e.to_string().contains("must not be negative, found -2"), "{e}");
}

#[test]
fn an_action_older_than_the_ledger_clock_is_i0009() {
    let engine = engine("policy g version \"1\" effective 2026-01-01\naction gift { }\n");
    let mut ledger = engine.ledger();
    let at = |t: &str| action(json!({"type": "gift", "id": t, "at": t, "rm": {"id": "R1"}}));
    ledger.submit(&at("2026-03-02T10:00:00Z")).unwrap();
    let e = ledger.submit(&at("2026-03-01T10:00:00Z")).unwrap_err();
    assert_eq!((e.code(), e.field()), ("I0009", Some("at")), "{e}");
    assert!(matches!(e, InputError::OutOfOrder { .. }));
}

#[test]
fn a_ledger_history_without_rms_is_missing_a_field() {
    let engine = engine("policy g version \"1\" effective 2026-01-01\naction gift { }\n");
    let history: History = serde_json::from_value(json!({"breaches": [
        {"policy": "g", "rule": "r", "severity": "minor", "at": "2026-02-01T10:00:00Z", "action": "H1"}
    ]}))
    .unwrap();
    let e = engine.ledger().load(&history).unwrap_err();
    assert_eq!((e.code(), e.field()), ("I0003", Some("breaches[0].rm")), "{e}");
}

#[test]
fn a_timestamp_is_i0006_and_the_field_variant_still_matches() {
    let e = parse_timestamp("yesterday").unwrap_err();
    assert_eq!((e.code(), e.field()), ("I0006", Some("timestamp")));
    // Matching on the variant with `..` keeps working; the fault says which kind.
    match e {
        InputError::Field { field, fault, .. } => {
            assert_eq!((field.as_str(), fault), ("timestamp", FieldFault::Timestamp))
        }
        other => panic!("expected a field error, got {other:?}"),
    }
    // A skewed replay line (built by the replay) has its own code.
    assert_eq!(FieldFault::Skewed.code(), "I0010");
}

#[test]
fn the_input_error_record_is_code_message_field() {
    let e = input_error(r#"{"type": "gift", "id": "G1", "at": 5, "rm": {"id": "R1"}}"#, None);
    let json = serde_json::to_string(&e.record()).unwrap();
    assert_eq!(
        json,
        r#"{"code":"I0004","message":"`at`: expected an RFC 3339 timestamp, found a number","field":"at"}"#
    );
    let back: InputErrorRecord = serde_json::from_str(&json).unwrap();
    assert_eq!(back, e.record());
    // An error about no one field has `"field": null`, never a missing key.
    let json = serde_json::to_value(input_error("[1]", None).record()).unwrap();
    assert_eq!(
        json,
        json!({"code": "I0001", "message": "invalid JSON: an action is a JSON object, found an array", "field": null})
    );
}
