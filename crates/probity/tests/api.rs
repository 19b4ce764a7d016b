//! `probity::api`: every call typed and as text, its error answers, and decision bytes equal to
//! `Decision::to_json`.
#![allow(
    clippy::unwrap_used,
    clippy::indexing_slicing,
    clippy::panic,
    clippy::expect_used,
    clippy::arithmetic_side_effects
)]

use probity::api::{self, text, ErrorKind};
use probity::{Action, Engine, History, PolicySet};
use serde_json::{json, Value as Json};

const GIFTS: &str = r#"policy gifts "Gifts" version "1" effective 2026-01-01 timezone "Asia/Shanghai"
action gift_received { giver: text  kind: one of cash, goods  value: money  rate: decimal? }
action gift_registered { gift: text }
rule cash_gift "Cash is never accepted"
  cite "Staff conduct rules 4.1"
  on gift_received
  when action.kind = "cash"
  then deny, breach major
  message "cash gift of {action.value} from {action.giver}"
rule odd_rate "A rate above 0.3 is reviewed"
  cite "Staff conduct rules 4.3"
  on gift_received
  when action.rate is present and action.rate > 0.3
  then review
duty gift_register "Gifts are registered"
  cite "Staff conduct rules 4.2"
  on gift_received
  when action.value >= 200 CNY
  due within 30 days
  fulfilled by gift_registered where gift = action.id
  otherwise breach minor
ladder conduct window 12 months points minor 1, major 3 step 3 "formal warning"
"#;

const CASH: &str = r#"{"type": "gift_received", "id": "G-1", "at": "2026-03-01T10:00:00+08:00",
    "rm": {"id": "R1"}, "giver": "ACME", "kind": "cash", "value": "500 CNY"}"#;

fn sources() -> api::Sources {
    api::Sources(vec![("gifts.probity".into(), GIFTS.into())])
}

fn engine() -> Engine {
    api::load(api::LoadRequest { sources: sources(), require_policy: false, files: Default::default() }).unwrap()
}

fn cash() -> Json {
    serde_json::from_str(CASH).unwrap()
}

fn parse(text: &str) -> Json {
    serde_json::from_str(text).unwrap()
}

/// The `error` object of an error answer, checked for its shape.
fn error_of(answer: &str) -> Json {
    let answer = parse(answer);
    assert_eq!(answer.as_object().unwrap().len(), 1, "{answer}");
    let error = answer["error"].clone();
    for key in ["code", "kind", "message"] {
        assert!(error[key].is_string(), "{key}: {error}");
    }
    error
}

#[test]
fn decision_json_is_decision_to_json_byte_for_byte() {
    let engine = engine();
    let history = r#"{"breaches": [{"policy": "gifts", "rule": "cash_gift", "severity": "major",
        "ladder": "conduct", "at": "2026-02-01T00:00:00Z", "action": "G-0"}]}"#;
    // Extra digits survive: the action is carried as JSON and decoded by the engine.
    let precise = CASH.replace(r#""kind": "cash""#, r#""kind": "cash", "rate": 0.30000000000000004"#);
    for (action, history) in [(CASH, None), (precise.as_str(), Some(history))] {
        let expected = engine.evaluate_json(action, history).unwrap().to_json();
        let request = api::EvaluateRequest { action: parse(action), history: history.map(parse) };
        let typed = api::evaluate(&engine, request.clone()).unwrap();
        assert_eq!(typed.to_json(), expected);
        assert_eq!(text::answer(&typed), expected);
        let request_text = serde_json::to_string(&request).unwrap();
        assert_eq!(text::evaluate(&engine, &request_text).unwrap(), expected);
    }
    assert!(engine.evaluate_json(CASH, None).unwrap().to_json().contains(r#""verdict":"deny""#));
}

#[test]
fn load_takes_an_object_or_pairs_and_the_require_policy_option() {
    let object = r#"{"sources": {"gifts.probity": "policy a", "b.probity": "policy b"}}"#;
    let request: api::LoadRequest = text::request(object).unwrap();
    // An object's files are taken in name order, pairs in the order given.
    assert_eq!(request.sources.0[0].0, "b.probity");
    let pairs: api::LoadRequest = text::request(r#"{"sources": [["b", "y"], ["a", "x"]]}"#).unwrap();
    assert_eq!(pairs.sources, api::Sources(vec![("b".into(), "y".into()), ("a".into(), "x".into())]));
    assert!(!pairs.require_policy);

    let early = CASH.replace("2026-03-01", "2020-03-01");
    let plain = text::load(&json!({"sources": {"g": GIFTS}}).to_string()).unwrap();
    assert_eq!(plain.evaluate_json(&early, None).unwrap().verdict.as_str(), "allow");
    for key in ["require_policy", "requirePolicy"] {
        let strict = text::load(&json!({"sources": {"g": GIFTS}, key: true}).to_string()).unwrap();
        let decision = parse(&text::evaluate(&strict, &json!({"action": parse(&early)}).to_string()).unwrap());
        assert_eq!(decision["verdict"], "review", "{key}");
        assert_eq!(decision["findings"][0]["rule"], "no-policy-in-force");
    }
}

#[test]
fn sources_of_the_wrong_shape_are_input_errors() {
    for (bad, message) in [
        (r#"{"a": 1}"#, "invalid policy sources: the text of `a` is not a string"),
        (r#"[["a"]]"#, "invalid policy sources: expected an object mapping file names"),
        (r#"[["a", "x", "y"]]"#, "invalid policy sources: expected an object"),
        ("42", "invalid policy sources: expected an object"),
    ] {
        let e = api::Sources::from_json(bad).unwrap_err();
        assert_eq!((e.kind, e.code.as_str()), (ErrorKind::InputError, "I0011"), "{bad}");
        assert!(e.message.starts_with(message), "{bad}: {e}");
        // Inside a request, the same words.
        let answer = text::load(&format!(r#"{{"sources": {bad}}}"#)).unwrap_err();
        let error = error_of(&answer);
        assert_eq!(error["code"], "I0011");
        assert!(error["message"].as_str().unwrap().contains(message), "{answer}");
    }
    let e = api::Sources::from_json("nope").unwrap_err();
    assert_eq!(e.code, "I0001");
    assert!(e.message.starts_with("invalid policy sources: "), "{e}");
    let error = error_of(&text::load(r#"{"sources": {}, "extra": 1}"#).unwrap_err());
    assert!(error["message"].as_str().unwrap().contains("unknown field `extra`"), "{error}");
}

#[test]
fn policy_errors_carry_every_diagnostic() {
    let broken =
        GIFTS.replace("action.kind = \"cash\"", "action.knd = \"cash\"").replace("breach major", "breach huge");
    let request = api::LoadRequest {
        sources: api::Sources(vec![("gifts.probity".into(), broken)]),
        require_policy: false,
        files: Default::default(),
    };
    let e = api::load(request.clone()).unwrap_err();
    assert_eq!((e.kind, e.code.as_str(), e.field.as_deref()), (ErrorKind::PolicyError, "policy-errors", None));
    assert!(e.message.starts_with("2 error(s) in policy text"), "{e}");
    let diagnostics = e.diagnostics.clone().unwrap();
    assert_eq!(diagnostics.len(), 2);
    assert_eq!((diagnostics[0].code.as_str(), diagnostics[0].line, diagnostics[0].column), ("P0102", 7, 15));
    // The error answer on the text surface is the same error.
    let answer = text::load(&serde_json::to_string(&request).unwrap()).unwrap_err();
    let error = error_of(&answer);
    assert_eq!(error["kind"], "PolicyError");
    assert_eq!(error["diagnostics"].as_array().unwrap().len(), 2);
    assert_eq!(answer, e.to_json());
    let back: api::Error = serde_json::from_value(error).unwrap();
    assert_eq!(back, e);
}

#[test]
fn check_gives_every_diagnostic_without_failing() {
    assert_eq!(api::check(api::CheckRequest { sources: sources() }), vec![]);
    assert_eq!(text::check(&json!({"sources": {"g": GIFTS}}).to_string()).unwrap(), "[]");
    let uncited = GIFTS.replace("  cite \"Staff conduct rules 4.1\"\n", "").replace("breach major", "breach huge");
    let records = parse(&text::check(&json!({"sources": [["g", uncited]]}).to_string()).unwrap());
    let severities: Vec<&str> = records.as_array().unwrap().iter().map(|r| r["severity"].as_str().unwrap()).collect();
    assert_eq!(severities, ["warning", "error"]);
    assert_eq!(records, serde_json::to_value(PolicySet::diagnose([("g", uncited.as_str())]).records()).unwrap());
    assert_eq!(error_of(&text::check("[]").unwrap_err())["code"], "I0011");
}

#[test]
fn warnings_and_versions() {
    let engine = engine();
    assert_eq!(text::versions(&engine), r#"[{"id":"gifts","version":"1"}]"#);
    assert_eq!(api::versions(&engine), vec![api::PolicyVersion { id: "gifts".into(), version: "1".into() }]);
    assert_eq!(text::warnings(&engine), "[]");
    let uncited = GIFTS.replace("  cite \"Staff conduct rules 4.1\"\n", "");
    let engine = api::load(api::LoadRequest {
        sources: api::Sources(vec![("g".into(), uncited)]),
        require_policy: false,
        files: Default::default(),
    });
    let warnings = api::warnings(&engine.unwrap());
    assert_eq!(warnings.len(), 1);
    assert_eq!(warnings[0].severity, probity::Severity::Warning);
}

#[test]
fn input_errors_have_a_stable_code_a_field_and_the_engines_words() {
    let engine = engine();
    let evaluate = |action: Json, history: Option<Json>| {
        api::evaluate(&engine, api::EvaluateRequest { action, history }).unwrap_err()
    };
    let e = evaluate(json!({"type": "gift_received", "id": "G", "at": "2026-03-01T10:00:00Z"}), None);
    assert_eq!(e.message, "invalid action: `rm`: missing: every action names its RM as `{\"id\": …}`");
    assert_eq!((e.kind, e.code.as_str(), e.field.as_deref()), (ErrorKind::InputError, "I0003", Some("rm")));
    let e = evaluate(cash(), Some(json!({"actions": 3})));
    assert!(e.message.starts_with("invalid history: invalid JSON: history: "), "{e}");
    assert_eq!((e.code.as_str(), e.field), ("I0001", None));
    // Null history is none.
    assert!(api::evaluate(&engine, api::EvaluateRequest { action: cash(), history: Some(Json::Null) }).is_ok());
    let long = format!(r#"{{"type": "{}"}}"#, "x".repeat(probity::limits::MAX_ACTION_BYTES));
    let e = api::action_argument(&long).unwrap_err();
    assert_eq!(e.code, "I0002");
    assert!(e.message.starts_with("invalid action: action is "), "{e}");
    assert_eq!(api::action_argument(CASH).unwrap(), cash());
    let e = api::json_argument::<serde_json::Value>("action", r#"{"type": "#).unwrap_err();
    assert!(e.message.starts_with("invalid action: invalid JSON: "), "{e}");
    // The text surface: a request of the wrong shape, then an input error inside a good one.
    for (request, code) in [
        ("not json", "I0011"),
        (r#"{"history": {}}"#, "I0011"),
        (
            r#"{"action": {"type": "gift_received", "id": "G", "at": "2026-03-01T10:00:00", "rm": {"id": "R1"}}}"#,
            "I0006",
        ),
    ] {
        let error = error_of(&text::evaluate(&engine, request).unwrap_err());
        assert_eq!((error["code"].as_str(), error["kind"].as_str()), (Some(code), Some("InputError")), "{request}");
    }
    let error = error_of(
        &text::evaluate(
            &engine,
            r#"{"action": {"type": "x", "id": "G", "at": "2026-03-01T10:00:00", "rm": {"id": "R"}}}"#,
        )
        .unwrap_err(),
    );
    assert_eq!(error["field"], "at");
    assert!(error["message"].as_str().unwrap().contains("has no UTC offset"), "{error}");
}

#[test]
fn times_use_the_one_parser() {
    assert!(api::time("to", "2026-03-01T10:00:00.25+08:00").is_ok());
    for (t, words) in [
        ("2026-06-30T23:59:60Z", "has second 60"),
        ("2026-06-30T10:00:00", "has no UTC offset"),
        ("soon", "`soon` is not an RFC 3339 timestamp"),
    ] {
        let e = api::time("to", t).unwrap_err();
        assert!(e.message.starts_with("invalid time: `"), "{e}");
        assert!(e.message.contains(words), "{t}: {e}");
        assert_eq!((e.code.as_str(), e.field.as_deref()), ("I0006", Some("to")));
    }
}

#[test]
fn explain_is_the_engines_explanation() {
    let engine = engine();
    let request = api::EvaluateRequest { action: cash(), history: None };
    let explanation = api::explain(&engine, request.clone()).unwrap();
    let expected = engine.explain(&Action::from_json(CASH).unwrap(), &History::new()).unwrap();
    assert_eq!(explanation, expected);
    let answer = parse(&text::explain(&engine, &serde_json::to_string(&request).unwrap()).unwrap());
    assert_eq!(answer["decision"], parse(&expected.decision.to_json()));
    assert_eq!(answer["rules"][0]["rule"], "cash_gift");
    let error = error_of(&text::explain(&engine, r#"{"action": []}"#).unwrap_err());
    assert!(error["message"].as_str().unwrap().starts_with("invalid action: "), "{error}");
}

#[test]
fn overdue_is_pure() {
    let engine = engine();
    let history = json!({"obligations": [{"rm": "R1", "policy": "gifts", "duty": "gift_register",
        "action": "G-0", "due": "2026-02-01T10:00:00+08:00"}]});
    let request = api::OverdueRequest { history: history.clone(), at: "2026-03-01T00:00:00Z".into() };
    let reports = api::overdue(&engine, request.clone()).unwrap();
    assert_eq!(reports.len(), 1);
    assert_eq!(reports[0].obligation.action.as_deref(), Some("G-0"));
    assert_eq!(text::overdue(&engine, &serde_json::to_string(&request).unwrap()).unwrap(), text::answer(&reports));
    let early = api::OverdueRequest { history: history.clone(), at: "2026-02-01T10:00:00+08:00".into() };
    assert_eq!(api::overdue(&engine, early).unwrap(), vec![]);
    let bad = api::OverdueRequest { history, at: "2026-02-01".into() };
    assert_eq!(api::overdue(&engine, bad).unwrap_err().field.as_deref(), Some("at"));
}

#[test]
fn a_ledger_loads_submits_and_advances() {
    let engine = engine();
    let mut ledger = engine.ledger();
    let goods = CASH.replace("\"cash\"", "\"goods\"");
    let first = text::submit(&mut ledger, &json!({"action": parse(&goods)}).to_string()).unwrap();
    assert!(first.starts_with(r#"{"overdue":[],"decision":{"#), "{first}");
    let first = parse(&first);
    assert_eq!(first["overdue"], json!([]));
    assert_eq!(first["decision"]["obligations"][0]["duty"], "gift_register");
    let reports = text::advance(&mut ledger, r#"{"to": "2026-04-05T00:00:00+08:00"}"#).unwrap();
    assert_eq!(parse(&reports)[0]["obligation"]["duty"], "gift_register");
    assert_eq!(
        api::advance(&mut ledger, api::AdvanceRequest { to: "2026-04-06T00:00:00+08:00".into() }).unwrap(),
        vec![]
    );
    let error = error_of(&text::advance(&mut ledger, r#"{"to": "2026-04-06T23:59:60Z"}"#).unwrap_err());
    assert_eq!((error["field"].as_str(), error["code"].as_str()), (Some("to"), Some("I0006")));
    let older = CASH.replace("2026-03-01", "2026-02-01").replace("G-1", "G-0");
    let e = api::submit(&mut ledger, api::SubmitRequest { action: parse(&older) }).unwrap_err();
    assert_eq!((e.code.as_str(), e.kind, e.field.as_deref()), ("I0009", ErrorKind::InputError, Some("at")));
    assert!(e.message.contains("time order"), "{e}");
    // The same id with other content: I0012, about the field `id`.
    let kept = CASH.replace("2026-03-01", "2026-04-07").replace("G-1", "G-9");
    api::submit(&mut ledger, api::SubmitRequest { action: parse(&kept) }).unwrap();
    let reused = kept.replace("\"cash\"", "\"goods\"");
    let e = api::submit(&mut ledger, api::SubmitRequest { action: parse(&reused) }).unwrap_err();
    assert_eq!((e.code.as_str(), e.field.as_deref()), ("I0012", Some("id")));

    // History seeds a fresh ledger; the submission then carries the same reports as `overdue`.
    let history = json!({"obligations": [{"rm": "R1", "policy": "gifts", "duty": "gift_register",
        "action": "G-0", "due": "2026-02-01T10:00:00+08:00"}]});
    let pure =
        api::overdue(&engine, api::OverdueRequest { history: history.clone(), at: "2026-03-01T10:00:00+08:00".into() });
    let mut ledger = engine.ledger();
    assert_eq!(text::load_history(&mut ledger, &json!({"history": history}).to_string()).unwrap(), "null");
    let submitted = api::submit(&mut ledger, api::SubmitRequest { action: cash() }).unwrap();
    assert_eq!(submitted.overdue, pure.unwrap());
    let expected = engine.ledger().evaluate(&Action::from_json(CASH).unwrap()).unwrap();
    assert_eq!(submitted.decision.verdict, expected.verdict);
    let no_rm = json!({"breaches": [{"policy": "gifts", "rule": "cash_gift", "severity": "major",
        "at": "2026-01-01T00:00:00Z", "action": "G"}]});
    let e = api::load_history(&mut ledger, api::HistoryRequest { history: no_rm }).unwrap_err();
    assert!(e.message.starts_with("invalid history: ") && e.message.contains("breaches[0].rm"), "{e}");
    assert_eq!(e.field.as_deref(), Some("breaches[0].rm"));
}

#[test]
fn replay_gives_the_records_probity_replay_writes_and_a_summary() {
    let engine = engine();
    // Another action, so another id: the same id with other content is an error (I0012).
    let goods = CASH.replace("\"cash\"", "\"goods\"").replace("G-1", "G-2").replace('\n', " ");
    let events = format!("{}\nnot json\n{goods}\n", CASH.replace('\n', " "));
    let request = api::ReplayRequest { events: events.clone(), as_of: Some("2026-06-01T00:00:00+08:00".into()) };
    let answer = api::replay(&engine, request.clone()).unwrap();
    // The records are the lines `probity replay` writes, in order.
    let mut lines = Vec::new();
    let as_of = Some(api::time("as_of", "2026-06-01T00:00:00+08:00").unwrap());
    probity::replay::replay(&engine, events.as_bytes(), &mut lines, as_of, 1, |_| {}).unwrap();
    let lines: Vec<String> = String::from_utf8(lines).unwrap().lines().map(str::to_string).collect();
    let records: Vec<String> = answer.records.iter().map(text::answer).collect();
    assert_eq!(records, lines);
    assert!(matches!(answer.records[1], api::ReplayRecord::Error { line: 2, .. }), "{:?}", answer.records[1]);
    let kinds: Vec<&str> = lines.iter().map(|l| &l[2..10]).collect();
    assert_eq!(kinds, ["decision", "error\":{", "decision", "overdue\"", "overdue\""]);
    let summary = &answer.summary;
    assert_eq!((summary.events, summary.errors, summary.overdue_reports), (2, 1, 2));
    assert_eq!(summary.verdicts.get("deny"), Some(&1));
    assert_eq!(summary.verdicts.get("review"), Some(&0));
    assert_eq!(summary.breaches.get("gifts/cash_gift"), Some(&1));
    assert!(summary.table.contains("events"), "{}", summary.table);
    let answer_text = text::replay(&engine, &serde_json::to_string(&request).unwrap()).unwrap();
    assert_eq!(parse(&answer_text)["summary"]["verdicts"], json!({"allow": 1, "deny": 1, "review": 0}));
    let bad = api::ReplayRequest { events, as_of: Some("2026-06-01".into()) };
    assert_eq!(api::replay(&engine, bad).unwrap_err().field.as_deref(), Some("as_of"));
}

#[test]
fn format_gives_the_formatted_text_or_the_syntax_errors() {
    let messy = "policy   a version \"1\" effective 2026-01-01 timezone \"UTC\"\n";
    let formatted = api::format(api::FormatRequest { source: messy.into(), name: None }).unwrap();
    assert_eq!(formatted.formatted, probity::format_source("policy.probity", messy).unwrap());
    let answer = text::format(&json!({"source": messy}).to_string()).unwrap();
    assert_eq!(parse(&answer), json!({"formatted": formatted.formatted}));
    let e = api::format(api::FormatRequest { source: "policy".into(), name: Some("x.probity".into()) }).unwrap_err();
    assert_eq!(e.kind, ErrorKind::PolicyError);
    assert_eq!(e.diagnostics.unwrap()[0].file, "x.probity");
    assert_eq!(error_of(&text::format(r#"{"text": "policy"}"#).unwrap_err())["code"], "I0011");
}

#[test]
fn binding_helpers_describe_render_and_write_lines() {
    let engine = engine();
    assert_eq!(api::describe(&engine), "1 policy file(s), 3 rule(s)");
    // An overdue report in a few words: the duty, its action, the RM and the deadline.
    let mut ledger = engine.ledger();
    api::submit(&mut ledger, api::SubmitRequest { action: cash() }).unwrap();
    let reports = api::advance(&mut ledger, api::AdvanceRequest { to: "2026-05-01T00:00:00Z".into() }).unwrap();
    assert_eq!(
        api::describe_overdue(&reports[0]),
        r#"gifts/gift_register of "G-1" for RM "R1", due 2026-03-31T10:00:00+08:00"#
    );
    // A rendered policy error: the headline, then each diagnostic with its excerpt.
    let diagnostics = PolicySet::from_sources([("x.probity", "policy")]).unwrap_err();
    let e = api::Error::rendered(&diagnostics);
    assert_eq!((e.code.as_str(), e.kind), ("policy-errors", ErrorKind::PolicyError));
    assert!(e.message.starts_with("1 error(s) in policy text\n\n"), "{}", e.message);
    assert!(e.message.contains("x.probity"), "{}", e.message);
    assert_eq!(e.diagnostics, Some(diagnostics.records()));
    // JSON lines: line breaks inside a value become spaces, one line break after it.
    let mut out = Vec::new();
    api::push_json_line(&mut out, b"{\"a\":\n1}\n");
    api::push_json_line(&mut out, b"{\r\n}");
    assert_eq!(out, b"{\"a\": 1}\n{  }\n");
    // An argument: an action within the size limit, anything else as JSON.
    let big = format!(r#"{{"id": "{}"}}"#, "x".repeat(probity::limits::MAX_ACTION_BYTES));
    assert_eq!(api::argument("action", &big).unwrap_err().code, "I0002");
    assert!(api::argument("history", &big).is_ok());
    assert_eq!(api::argument("history", "{").unwrap_err().code, "I0001");
}

#[test]
fn internal_errors_have_their_own_kind() {
    let e = api::Error::internal("boom");
    assert_eq!(e.to_json(), r#"{"error":{"code":"internal","kind":"InternalError","message":"boom"}}"#);
    assert_eq!(e.kind.as_str(), "InternalError");
}

/// With the `typescript` feature (the wasm binding enables it, so a workspace test run has it),
/// the declarations are generated from the types, with the JSON's nulls and optional fields.
#[cfg(feature = "typescript")]
#[test]
fn typescript_declarations_follow_the_json() {
    use tsify::Tsify;
    let decision = probity::Decision::DECL;
    assert!(decision.starts_with("/**") && decision.contains("export interface Decision {"), "{decision}");
    assert!(decision.contains("verdict: Verdict;"), "{decision}");
    assert!(probity::Verdict::DECL.contains(r#"export type Verdict = "allow" | "review" | "deny";"#));
    let finding = probity::Finding::DECL;
    for field in ["severity?: SmolStr;", "messages?: Record<string, string>;", "evidence: Record<string, unknown>;"] {
        assert!(finding.contains(field), "{field}: {finding}");
    }
    assert!(probity::Sanction::DECL.contains("previous: SmolStr | null;"));
    assert!(probity::DiagnosticRecord::DECL.contains("help: string | null;"));
    assert!(probity::History::DECL.contains("actions?: Action[];"));
    assert!(api::ActionShape::DECL.contains("export type Action = { type: string; id: string; at: string; rm: {"));
    assert!(api::Error::DECL.contains("export interface ProbityError {"));
    assert!(api::Error::DECL.contains("diagnostics?: DiagnosticRecord[];"));
    assert!(api::SubmitAnswer::DECL.contains("export interface Submission {"));
    assert!(api::ReplayRecord::DECL.contains("{ decision: Decision } | { overdue: OverdueReport }"));
}
