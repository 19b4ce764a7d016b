//! A tour of the public API: loading from named sources and from a directory, evaluating,
//! the ledger, overdue reports, decisions through serde, and diagnostics records.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    clippy::arithmetic_side_effects
)]

mod common;

use std::path::{Path, PathBuf};

use common::ts;
use probity::*;
use serde_json::json;

const GIFTS: &str = r#"policy gifts "Gifts and hospitality" version "2026.1" effective 2026-01-01 timezone "Asia/Shanghai"

action gift_received { giver: text  kind: one of cash, goods  value: money }
action gift_registered { gift: text }

rule cash_gift "Cash is never accepted"
  cite "Staff conduct rules 4.1"
  on gift_received
  when action.kind = "cash"
  then deny, breach major, escalate "compliance"
  message "cash gift of {action.value} from {action.giver}"
  message zh "收受现金礼品 {action.value}"

duty gift_register "Gifts of CNY 200 or more are registered within 30 days"
  cite "Gift policy 3.1"
  on gift_received
  when action.value >= 200 CNY
  due within 30 days
  fulfilled by gift_registered where gift = action.id
  otherwise breach minor

ladder conduct window 12 months points minor 1, major 3 step 1 "verbal warning" step 3 "formal warning"
"#;

const HOURS: &str = "policy hours \"Contact hours\" version \"1\" effective 2026-01-01 timezone \"Asia/Shanghai\"\n\
    action customer_call { }\n\
    rule late_call cite \"Consumer protection\" on customer_call when hour(now) >= 21 then deny\n";

fn gift_json(id: &str, at: &str, kind: &str, value: &str) -> String {
    json!({"type": "gift_received", "id": id, "at": at, "rm": {"id": "R1"}, "giver": "ACME", "kind": kind, "value": value}).to_string()
}

/// A fresh directory under the system's temporary directory, removed on drop.
struct TempDir(PathBuf);

impl TempDir {
    fn new(tag: &str) -> TempDir {
        let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos();
        let dir = std::env::temp_dir().join(format!("probity-test-{tag}-{}-{nanos}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        TempDir(dir)
    }

    fn write(&self, relative: &str, text: &str) -> PathBuf {
        let path = self.0.join(relative);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, text).unwrap();
        path
    }

    fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

#[test]
fn load_from_named_sources() {
    let set = PolicySet::from_sources([("gifts.probity", GIFTS), ("hours.probity", HOURS)]).unwrap();
    assert_eq!(set.versions().collect::<Vec<_>>(), vec![("gifts", "2026.1"), ("hours", "1")]);
    assert_eq!(set.rule_count(), 3);
    assert!(set.warnings().is_empty(), "{:?}", set.warnings());
    // Owned strings work as well as borrowed ones.
    let owned = vec![(String::from("gifts.probity"), GIFTS.to_string())];
    assert!(PolicySet::from_sources(owned).is_ok());
    // No sources at all is an empty, usable set.
    let empty = Engine::new(PolicySet::from_sources(Vec::<(String, String)>::new()).unwrap());
    let d = empty.evaluate_json(&gift_json("G-1", "2026-03-01T10:00:00+08:00", "cash", "1 CNY"), None).unwrap();
    assert_eq!(d.verdict, Verdict::Allow);
    assert!(d.policies.is_empty());
}

#[test]
fn load_from_a_directory() {
    let dir = TempDir::new("load");
    dir.write("gifts.probity", GIFTS);
    dir.write("nested/deeper/hours.probity", HOURS);
    dir.write("README.md", "not a policy");
    dir.write("notes.probity.bak", "policy broken");
    let set = PolicySet::from_dir(dir.path()).unwrap();
    assert_eq!(set.versions().collect::<Vec<_>>(), vec![("gifts", "2026.1"), ("hours", "1")]);

    // A broken file: the diagnostics name it by its path.
    dir.write("nested/broken.probity", "policy broken version \"1\" effective 2026-01-01\naction a { n: int }\nrule r cite \"c\" on a when action.m > 1 then deny\n");
    match PolicySet::from_dir(dir.path()) {
        Err(LoadError::Policy(d)) => {
            let e = d.errors().next().unwrap();
            assert_eq!(e.code(), "P0102");
            assert!(e.file().ends_with("broken.probity"), "{}", e.file());
            assert_eq!(e.line_column(), (3, 34));
        }
        other => panic!("expected policy errors, got {other:?}"),
    }
    // A directory that does not exist.
    match PolicySet::from_dir(dir.path().join("missing")) {
        Err(LoadError::Io { path, .. }) => assert!(path.ends_with("missing")),
        other => panic!("expected an I/O error, got {other:?}"),
    }
}

#[test]
fn evaluate_an_action() {
    let engine = Engine::new(PolicySet::from_sources([("gifts.probity", GIFTS)]).unwrap());
    assert_eq!(engine.policy_set().rule_count(), 2);
    let action = Action::from_json(&gift_json("G-1", "2026-03-01T10:00:00+08:00", "cash", "500 CNY")).unwrap();
    assert_eq!((action.kind(), action.id(), action.rm()), ("gift_received", "G-1", "R1"));
    assert_eq!(action.at(), ts("2026-03-01T02:00:00Z"));
    assert_eq!(action.to_value()["giver"], "ACME");

    let d = engine.evaluate(&action, &History::new()).unwrap();
    assert_eq!(d.action, "G-1");
    assert_eq!(d.at, "2026-03-01T10:00:00+08:00");
    assert_eq!(d.verdict, Verdict::Deny);
    assert_eq!(d.findings.len(), 1);
    let f = &d.findings[0];
    assert_eq!((f.policy.as_str(), f.rule.as_str(), f.kind), ("gifts", "cash_gift", FindingKind::Rule));
    assert_eq!(f.message, "cash gift of 500.00 CNY from ACME");
    assert_eq!(f.messages, vec![(SmolStr::from("zh"), SmolStr::from("收受现金礼品 500.00 CNY"))]);
    assert_eq!(d.escalations, vec!["compliance"]);
    assert_eq!(d.sanctions[0].step, "formal warning");
    assert_eq!(d.obligations.len(), 1);
    assert_eq!(d.obligations[0].due, "2026-03-31T10:00:00+08:00");

    // The same through JSON, and the engine is cheap to clone and shareable across threads.
    let again = engine.evaluate_json(&gift_json("G-1", "2026-03-01T10:00:00+08:00", "cash", "500 CNY"), None).unwrap();
    assert_eq!(again, d);
    let clone = engine.clone();
    let handle = std::thread::spawn(move || {
        clone.evaluate_json(&gift_json("G-2", "2026-03-01T10:00:00+08:00", "goods", "1 CNY"), None).unwrap()
    });
    assert_eq!(handle.join().unwrap().verdict, Verdict::Allow);
    fn shareable<T: Send + Sync + Clone>() {}
    shareable::<Engine>();
    shareable::<Decision>();

    // Evaluation is pure: a history passed in is read, never written.
    let history = History::from_json(&json!({"obligations": [{"policy": "gifts", "duty": "gift_register", "action": "G-0", "due": "2026-03-20T10:00:00+08:00"}]}).to_string()).unwrap();
    let registration = Action::from_json(&json!({"type": "gift_registered", "id": "GR-1", "at": "2026-03-10T10:00:00+08:00", "rm": {"id": "R1"}, "gift": "G-0"}).to_string()).unwrap();
    let d = engine.evaluate(&registration, &history).unwrap();
    assert_eq!(
        d.fulfilled,
        vec![Fulfilment { policy: "gifts".into(), duty: "gift_register".into(), action: "G-0".into() }]
    );
    assert_eq!(engine.evaluate(&registration, &history).unwrap(), d);
    assert_eq!(history.len(), 1);
}

#[test]
fn verdicts_are_ordered() {
    assert!(Verdict::Allow < Verdict::Review && Verdict::Review < Verdict::Deny);
    assert_eq!([Verdict::Allow, Verdict::Review, Verdict::Deny].map(Verdict::as_str), ["allow", "review", "deny"]);
    assert_eq!(Verdict::Deny.to_string(), "deny");
    assert_eq!(serde_json::to_string(&FindingKind::Overdue).unwrap(), "\"overdue\"");
    // Each keyword is the one the decision JSON writes.
    for kind in [FindingKind::Rule, FindingKind::Conflict, FindingKind::Duty, FindingKind::Overdue, FindingKind::Error]
    {
        assert_eq!(serde_json::to_value(kind).unwrap(), kind.as_str());
    }
    for verdict in [Verdict::Allow, Verdict::Review, Verdict::Deny] {
        assert_eq!(serde_json::to_value(verdict).unwrap(), verdict.as_str());
    }
}

#[test]
fn ledger_submit_and_advance() {
    let engine = Engine::new(PolicySet::from_sources([("gifts.probity", GIFTS)]).unwrap());
    let mut ledger = engine.ledger();
    let action = |text: String| Action::from_json(&text).unwrap();
    let s: Submission =
        ledger.submit(&action(gift_json("G-1", "2026-03-01T10:00:00+08:00", "goods", "300 CNY"))).unwrap();
    assert!(s.overdue.is_empty());
    assert_eq!(s.decision.obligations.len(), 1);
    assert_eq!(ledger.rm_count(), 1);
    assert!(ledger.retained_items() >= 1, "the open obligation is held");

    // The implicit advance of a later submission reports the missed deadline first.
    let s = ledger.submit(&action(gift_json("G-2", "2026-04-02T10:00:00+08:00", "cash", "10 CNY"))).unwrap();
    assert_eq!(s.overdue.len(), 1);
    let report = &s.overdue[0];
    assert_eq!((report.rm.as_str(), report.at.as_str()), ("R1", "2026-03-31T10:00:00+08:00"));
    assert_eq!(report.obligation.duty, "gift_register");
    assert_eq!(report.findings[0].kind, FindingKind::Overdue);
    assert_eq!(report.sanctions[0].step, "verbal warning");
    // The overdue breach (1) and the cash breach (3) add up on the ladder.
    assert_eq!(s.decision.sanctions[0].points, 4);
    assert_eq!(s.decision.sanctions[0].previous.as_deref(), Some("verbal warning"));

    // advance_to reports nothing new; an older action is refused.
    assert!(ledger.advance_to(ts("2026-12-31T00:00:00Z")).is_empty());
    assert!(matches!(
        ledger.submit(&action(gift_json("G-0", "2026-01-01T10:00:00+08:00", "goods", "1 CNY"))),
        Err(InputError::OutOfOrder { .. })
    ));
    // A new ledger from the same engine starts empty.
    let fresh = engine.ledger();
    assert_eq!(fresh.rm_count(), 0);
    assert_eq!(fresh.retained_items(), 0);
}

#[test]
fn engine_overdue_from_history_json() {
    let engine = Engine::new(PolicySet::from_sources([("gifts.probity", GIFTS)]).unwrap());
    let history = History::from_json(
        r#"{"actions": [{"type": "gift_received", "id": "G-1", "at": "2026-03-01T10:00:00+08:00", "rm": {"id": "R1"}, "giver": "A", "kind": "goods", "value": "300 CNY"}],
            "obligations": [{"rm": "R1", "policy": "gifts", "duty": "gift_register", "action": "G-1", "due": "2026-03-31T10:00:00+08:00"}]}"#,
    )
    .unwrap();
    assert!(engine.overdue(&history, ts("2026-03-31T10:00:00+08:00")).unwrap().is_empty());
    let reports = engine.overdue(&history, ts("2026-04-01T00:00:00+08:00")).unwrap();
    assert_eq!(reports.len(), 1);
    assert_eq!(reports[0].obligation.action.as_deref(), Some("G-1"));
    // The history type round-trips through serde.
    let text = serde_json::to_string(&history).unwrap();
    assert_eq!(History::from_json(&text).unwrap(), history);
}

#[test]
fn decision_json_round_trip_through_serde() {
    let engine = Engine::new(PolicySet::from_sources([("gifts.probity", GIFTS), ("hours.probity", HOURS)]).unwrap());
    let d = engine.evaluate_json(&gift_json("G-1", "2026-03-01T10:00:00+08:00", "cash", "500 CNY"), None).unwrap();
    let text = serde_json::to_string(&d).unwrap();
    assert_eq!(text, d.to_json());
    let back: Decision = serde_json::from_str(&text).unwrap();
    assert_eq!(back, d);
    // Evidence and messages keep their order through the round trip.
    assert_eq!(back.findings[0].evidence, d.findings[0].evidence);
    assert_eq!(serde_json::to_string(&back).unwrap(), text);
    // Pretty or compact, the value is the same.
    let pretty = serde_json::to_string_pretty(&d).unwrap();
    assert_eq!(serde_json::from_str::<Decision>(&pretty).unwrap(), d);
    // The digest names the file's content.
    assert!(d.policies.iter().all(|p| p.digest.starts_with("sha256:") && p.digest.len() == 7 + 64));

    // Overdue reports round-trip too.
    let mut ledger = engine.ledger();
    ledger
        .submit(&Action::from_json(&gift_json("G-1", "2026-03-01T10:00:00+08:00", "goods", "300 CNY")).unwrap())
        .unwrap();
    let reports = ledger.advance_to(ts("2026-05-01T00:00:00Z"));
    let text = reports[0].to_json();
    assert_eq!(serde_json::from_str::<OverdueReport>(&text).unwrap(), reports[0]);

    // Actions serialise back to their JSON.
    let a = Action::from_json(&gift_json("G-9", "2026-03-01T10:00:00+08:00", "goods", "1 CNY")).unwrap();
    let back: Action = serde_json::from_str(&serde_json::to_string(&a).unwrap()).unwrap();
    assert_eq!(back, a);
    assert!(serde_json::from_str::<Action>("{\"type\": \"x\"}").is_err());
}

#[test]
fn diagnostics_records() {
    let err = PolicySet::from_sources([(
        "bad.probity",
        "policy bad version \"1\" effective 2026-01-01\naction sale { amount: money }\nrule r on sale when action.amout > 5 CNY then review\n",
    )])
    .unwrap_err();
    assert!(err.has_errors());
    assert!(!err.is_empty());
    assert_eq!(err.len(), 2, "{}", err.render());
    let records = err.records();
    // The warning (no cite) and the error sit on the same line, in position order.
    assert_eq!(
        records.iter().map(|r| (r.code.as_str(), r.severity)).collect::<Vec<_>>(),
        vec![("W0001", Severity::Warning), ("P0102", Severity::Error)]
    );
    let r = &records[1];
    assert_eq!((r.file.as_str(), r.line, r.column, r.end_line, r.end_column), ("bad.probity", 3, 28, 3, 33));
    assert_eq!(r.message, "action `sale` has no field `amout`");
    assert_eq!(r.help.as_deref(), Some("did you mean `amount`?"));
    assert!(r.related.is_empty());
    // The JSON record has the shared field names.
    let j = serde_json::to_value(r).unwrap();
    for key in ["code", "severity", "message", "help", "file", "line", "column", "end_line", "end_column", "related"] {
        assert!(j.get(key).is_some(), "{key}");
    }
    assert_eq!(j["severity"], "error");
    // The diagnostic matches its record.
    let d = err.errors().next().unwrap();
    assert_eq!(d.record(), *r);
    assert_eq!(d.span().len(), 5);
    assert_eq!(
        d.to_string(),
        "bad.probity:3:28: error[P0102]: action `sale` has no field `amout` (help: did you mean `amount`?)"
    );
    assert!(d.render().contains("bad.probity:3:28"));
    assert!((&err).into_iter().count() == 2);
    // A source file maps offsets to 1-based lines and character columns.
    let source = SourceFile::new("x.probity", "ab\n客户c\n");
    assert_eq!(source.name(), "x.probity");
    assert_eq!(source.line_column(0), (1, 1));
    assert_eq!(source.line_column(3), (2, 1));
    assert_eq!(source.line_column(9), (2, 3), "columns count characters, not bytes");
}

#[test]
fn timestamps_and_histories_are_checked_at_the_boundary() {
    let t = parse_timestamp("2026-03-01T10:00:00+08:00").unwrap();
    assert_eq!(t.to_rfc3339(), "2026-03-01T10:00:00+08:00");
    let err = parse_timestamp("2026-03-01T10:00:00").unwrap_err().to_string();
    assert!(err.contains("no UTC offset"), "{err}");
    assert!(History::from_json("[]").unwrap_err().to_string().contains("found an array"));
    assert!(History::from_json(r#"{"actions": [], "extra": 1}"#).is_err());
    assert!(History::from_json(r#"{"actions": []}"#).unwrap().is_empty());
}

/// What a test encoder keeps of a record.
#[derive(Debug, PartialEq, Eq)]
enum Seen {
    Overdue { line: Option<usize>, rm: String },
    Decision { line: usize, rm: String, verdict: Verdict },
    Error { line: usize, rm: Option<String> },
}

#[test]
fn replay_with_hands_each_line_its_records_in_input_order() {
    let engine = Engine::new(PolicySet::from_sources([("gifts.probity", GIFTS)]).unwrap());
    let gift = |id: &str, rm: &str, at: &str, kind: &str| {
        json!({"type": "gift_received", "id": id, "at": at, "rm": {"id": rm}, "giver": "ACME", "kind": kind, "value": "300 CNY"})
            .to_string()
    };
    let lines = [
        gift("G-1", "R1", "2026-03-01T10:00:00+08:00", "goods"),
        gift("G-2", "R2", "2026-03-02T10:00:00+08:00", "cash"),
        String::new(),
        // Not an action, but JSON naming its RM; then neither.
        json!({"type": "gift_received", "rm": {"id": "R2"}}).to_string(),
        "{ not json".to_owned(),
        // R1's next action finds G-1's registration overdue.
        gift("G-3", "R1", "2026-04-02T10:00:00+08:00", "goods"),
        // Older than R1's last action.
        gift("G-4", "R1", "2026-01-01T10:00:00+08:00", "goods"),
    ];
    let input = lines.join("\n");
    let expected = vec![
        vec![Seen::Decision { line: 1, rm: "R1".into(), verdict: Verdict::Allow }],
        vec![Seen::Decision { line: 2, rm: "R2".into(), verdict: Verdict::Deny }],
        vec![Seen::Error { line: 4, rm: Some("R2".into()) }],
        vec![Seen::Error { line: 5, rm: None }],
        vec![
            Seen::Overdue { line: Some(6), rm: "R1".into() },
            Seen::Decision { line: 6, rm: "R1".into(), verdict: Verdict::Allow },
        ],
        vec![Seen::Error { line: 7, rm: Some("R1".into()) }],
        // The closing advance: R2's and R1's (G-3) registrations, one to an encoding.
        vec![Seen::Overdue { line: None, rm: "R2".into() }],
        vec![Seen::Overdue { line: None, rm: "R1".into() }],
    ];
    let encode = |seen: &mut Vec<Seen>, record: &replay::Record<'_>| {
        seen.push(match *record {
            replay::Record::Overdue { line, report } => Seen::Overdue { line, rm: report.rm.to_string() },
            replay::Record::Decision { line, rm, decision, .. } => {
                Seen::Decision { line, rm: rm.to_owned(), verdict: decision.verdict }
            }
            replay::Record::Error { line, rm, .. } => Seen::Error { line, rm: rm.map(str::to_owned) },
        });
    };
    let as_of = Some(ts("2026-12-31T00:00:00Z"));
    for jobs in [1, 2, 3] {
        let mut encoded = Vec::new();
        let summary = replay::replay_with(
            &engine,
            input.as_bytes(),
            as_of,
            jobs,
            encode,
            |seen| {
                encoded.push(seen);
                Ok(())
            },
            |_| {},
        )
        .unwrap();
        assert_eq!(encoded, expected, "{jobs} job(s)");
        assert_eq!((summary.events, summary.errors, summary.overdue_reports), (3, 3, 3));
    }

    // `replay` writes what `Record::write_json` gives, a line each.
    let mut out = Vec::new();
    replay::replay(&engine, input.as_bytes(), &mut out, as_of, 2, |_| {}).unwrap();
    let records: Vec<serde_json::Value> =
        String::from_utf8(out).unwrap().lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(records.len(), 9);
    assert_eq!(records[2]["error"]["line"], 4);
    assert_eq!(records[4]["overdue"]["rm"], "R1");
    assert_eq!(records[5]["decision"]["action"], "G-3");

    // A line longer than an action may be is not read for its RM.
    let padding = "x".repeat(limits::MAX_ACTION_BYTES);
    let long = json!({"type": "gift_received", "rm": {"id": "R9"}, "note": padding}).to_string();
    let mut seen = Vec::new();
    replay::replay_with(
        &engine,
        long.as_bytes(),
        None,
        1,
        encode,
        |s| {
            seen.push(s);
            Ok(())
        },
        |_| {},
    )
    .unwrap();
    assert_eq!(seen, vec![vec![Seen::Error { line: 1, rm: None }]]);

    // An error from the emitter ends the replay with that error.
    let failed = replay::replay_with(
        &engine,
        input.as_bytes(),
        None,
        2,
        encode,
        |_| Err(std::io::Error::other("disk full")),
        |_| {},
    );
    assert_eq!(failed.unwrap_err().to_string(), "disk full");
}

#[test]
fn the_outline_of_a_file_for_editors() {
    let o = outline::outline("gifts.probity", GIFTS);
    let action = o.declarations.iter().find(|d| d.kind == outline::DeclarationKind::Action).unwrap();
    assert_eq!(&GIFTS[action.name_span.clone()], action.name);
    let fields: Vec<&str> = o
        .declarations
        .iter()
        .filter(|d| d.kind == outline::DeclarationKind::Field && d.parent.as_deref() == Some(action.name.as_str()))
        .map(|d| d.name.as_str())
        .collect();
    assert!(!fields.is_empty());
    // Every use is where its name is written.
    assert!(o.uses.iter().all(|u| GIFTS[u.span.clone()] == u.name));
    // A diagnostic's related places are public too.
    let twice = format!("{GIFTS}\nconst c = 1\nconst c = 2\n");
    let diagnostics = PolicySet::diagnose([("gifts.probity", twice.as_str())]);
    let related: Vec<_> = diagnostics.iter().flat_map(|d| d.related()).collect();
    assert!(
        related.iter().any(|(_, file, span)| *file == "gifts.probity" && twice[span.clone()].starts_with('c')),
        "{related:?}"
    );
}
