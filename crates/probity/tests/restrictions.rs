//! Restrictions (docs/language.md, "Restrictions"): the checker's errors (snapshots), `fmt`,
//! the findings from a ledger, from a seeded ledger and from `Engine::evaluate`, their order
//! and evidence, and the memory bound.
//!
//! To update the snapshots after an intended change:
//! `INSTA_UPDATE=always cargo test -p probity --test restrictions`, then review the `.snap` files.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

mod common;

use common::*;
use probity::*;
use serde_json::json;

const POLICY: &str = r#"policy sales "Sales" version "1" effective 2025-01-01 timezone "Asia/Shanghai"

action product_sale { amount: money }
action product_recommendation { }
action client_meeting { }
action mis_sale { }

rule mis_sale_breach "A mis-sale" cite "c" on mis_sale then breach major in conduct
rule advice "Advice" cite "c" on product_recommendation then warn, breach minor in desk

ladder conduct
  window 12 months
  points minor 1, major 3, severe 6
  step 3 "formal warning"
  step 6 "suspension from sales" restricts product_sale, product_recommendation for 90 days
  step 12 "dismissal review" restricts all

ladder desk
  window 1 month
  points minor 1
  step 1 "desk review" restricts product_recommendation for 3 business days
"#;

const HEAD: &str = "policy p version \"1\" effective 2026-01-01\naction product_sale { }\n";

fn failing(src: &str, code: &str, line: usize, column: usize) -> String {
    let d = load_errors(src);
    assert_eq!(codes_at(&d), vec![(code.to_string(), line, column)], "{}", d.render());
    let text = d.render();
    assert!(text.contains("help:"), "every error has a hint:\n{text}");
    text
}

fn act(ty: &str, id: &str, at: &str) -> Action {
    let mut v = json!({"type": ty, "id": id, "at": at, "rm": {"id": "R1"}});
    if ty == "product_sale" {
        v["amount"] = json!("500 CNY");
    }
    action(v)
}

fn breach(at: &str, severity: &str) -> serde_json::Value {
    json!({"rm": "R1", "policy": "sales", "rule": "mis_sale_breach", "severity": severity, "ladder": "conduct", "at": at, "action": format!("M-{at}")})
}

fn restrictions(d: &Decision) -> Vec<&Finding> {
    d.findings.iter().filter(|f| f.kind == FindingKind::Restriction).collect()
}

// ---------------------------------------------------------------- the checker

#[test]
fn restricting_an_undeclared_type() {
    let src = format!(
        "{HEAD}ladder conduct window 12 months points minor 1\n  step 3 \"suspension\" restricts product_sales\n"
    );
    let text = failing(&src, "P0420", 4, 33);
    assert!(text.contains("product_sale`"), "did you mean:\n{text}");
    insta::assert_snapshot!(text);
}

#[test]
fn a_restricted_type_counts_as_used() {
    let src = format!("{HEAD}ladder conduct window 12 months points minor 1\n  step 3 \"s\" restricts product_sale\n");
    let set = PolicySet::from_sources([("p.probity", src.as_str())]).unwrap();
    assert!(set.warnings().iter().all(|w| w.code() != "W0005"), "{:?}", set.warnings());
}

#[test]
fn a_type_declared_in_another_file_may_be_restricted() {
    let a = "policy a version \"1\" effective 2026-01-01\nladder conduct window 12 months points minor 1\n  step 1 \"s\" restricts gift\n";
    let b = "policy b version \"1\" effective 2026-01-01\naction gift { }\n";
    engine_of(&[("a.probity", a), ("b.probity", b)]);
}

#[test]
fn a_type_listed_twice() {
    let src = format!(
        "{HEAD}ladder conduct window 12 months points minor 1\n  step 3 \"suspension\" restricts product_sale, product_sale\n"
    );
    insta::assert_snapshot!(failing(&src, "P0421", 4, 47));
}

#[test]
fn all_with_other_types() {
    let src = format!(
        "{HEAD}ladder conduct window 12 months points minor 1\n  step 3 \"suspension\" restricts product_sale, all\n"
    );
    insta::assert_snapshot!(failing(&src, "P0422", 4, 47));
}

#[test]
fn a_for_that_is_not_positive() {
    let src = format!(
        "{HEAD}ladder conduct window 12 months points minor 1\n  step 3 \"s\" restricts all for 0 business days\n"
    );
    insta::assert_snapshot!(failing(&src, "P0423", 4, 32));
    // A const with an error is reported once, at the const.
    let src = format!(
        "{HEAD}const none = -1 days\nladder conduct window 12 months points minor 1\n  step 3 \"s\" restricts all for none\n"
    );
    failing(&src, "P0401", 3, 14);
    // One minute is enough; a const naming no duration is P0406 alone.
    engine(&format!(
        "{HEAD}ladder conduct window 12 months points minor 1\n  step 3 \"s\" restricts all for 1 minute\n"
    ));
    let src = format!(
        "{HEAD}const cap = 5\nladder conduct window 12 months points minor 1\n  step 3 \"s\" restricts all for cap\n"
    );
    failing(&src, "P0406", 5, 32);
}

#[test]
fn restricts_is_a_syntax_error_without_a_type() {
    let src = format!("{HEAD}ladder conduct window 12 months points minor 1\n  step 3 \"s\" restricts for 9 days\n");
    assert_eq!(load_errors(&src).errors().next().unwrap().code(), "P0001");
}

// ---------------------------------------------------------------- fmt

#[test]
fn fmt_prints_the_clause_and_round_trips() {
    let src = format!(
        "{HEAD}action gift {{ }}\nconst d = 5 days\nladder conduct window 12 months points minor 1\n  step 1 \"a\" restricts product_sale,gift   for 90 days\n  step 2 \"b\" restricts gift for 3 business days\n  step 3 \"c\" restricts all\n  step 4 \"d\" restricts gift for d\n  step 5 \"e\"\n"
    );
    let once = format_source("p.probity", &src).unwrap();
    assert!(once.contains("  step 1 \"a\" restricts product_sale, gift for 90 days\n"), "{once}");
    assert!(once.contains("  step 2 \"b\" restricts gift for 3 business days\n"), "{once}");
    assert!(once.contains("  step 3 \"c\" restricts all\n"), "{once}");
    assert!(once.contains("  step 4 \"d\" restricts gift for d\n"), "{once}");
    assert!(once.contains("  step 5 \"e\"\n"), "{once}");
    assert_eq!(format_source("p.probity", &once).unwrap(), once, "fmt is idempotent");
    PolicySet::from_sources([("p.probity", once.as_str())]).unwrap();
}

// ---------------------------------------------------------------- the ledger

#[test]
fn ledger_restricts_after_the_reaching_decision_with_evidence() {
    let engine = engine(POLICY);
    let mut ledger = engine.ledger();
    ledger.submit(&act("mis_sale", "M-1", "2026-03-01T10:00:00+08:00")).unwrap();
    let reaching = ledger.submit(&act("mis_sale", "M-2", "2026-03-01T10:00:00+08:00")).unwrap().decision;
    assert!(restrictions(&reaching).is_empty(), "the reaching record is not restricted by its own step");
    assert_eq!(reaching.sanctions[0].step, "suspension from sales");
    let d = ledger.submit(&act("product_sale", "S-1", "2026-03-01T10:00:00+08:00")).unwrap().decision;
    assert_eq!(d.verdict, Verdict::Deny);
    let f = restrictions(&d)[0];
    assert_eq!((f.policy.as_str(), f.rule.as_str()), ("sales", "conduct"));
    let j = serde_json::to_value(f).unwrap();
    assert_eq!(j["outcomes"], json!(["deny"]));
    assert_eq!(j["cite"], json!([]));
    assert!(j.get("severity").is_none() && j.get("ladder").is_none(), "{j}");
    assert_eq!(j["kind"], "restriction");
    assert_eq!(
        j["evidence"],
        json!({"step": "suspension from sales", "reached": "2026-03-01T10:00:00+08:00", "until": "2026-05-30T10:00:00+08:00", "points": 6})
    );
    assert!(f.message.contains("suspension from sales") && f.message.contains("product_sale"), "{}", f.message);
    // Only listed types: a client meeting is not held back at 6 points.
    let d = ledger.submit(&act("client_meeting", "C-1", "2026-03-02T10:00:00+08:00")).unwrap().decision;
    assert_eq!(d.verdict, Verdict::Allow);
}

#[test]
fn restriction_findings_follow_the_rule_findings_by_ladder_then_threshold() {
    let engine = engine(POLICY);
    let mut ledger = engine.ledger();
    for (i, at) in
        ["2026-03-01T10:00:00+08:00", "2026-03-01T11:00:00+08:00", "2026-03-01T12:00:00+08:00"].iter().enumerate()
    {
        ledger.submit(&act("mis_sale", &format!("M-{i}"), at)).unwrap();
    }
    ledger.submit(&act("mis_sale", "M-3", "2026-03-01T13:00:00+08:00")).unwrap(); // 12 points
    ledger.submit(&act("product_recommendation", "P-1", "2026-03-02T10:00:00+08:00")).unwrap();
    let d = ledger.submit(&act("product_recommendation", "P-2", "2026-03-02T10:00:00+08:00")).unwrap().decision;
    let order: Vec<(String, String)> = d
        .findings
        .iter()
        .map(|f| (f.rule.to_string(), evidence(f, "step").map(|s| s.as_str().unwrap().to_string()).unwrap_or_default()))
        .collect();
    assert_eq!(
        order,
        vec![
            ("advice".into(), String::new()),
            ("conduct".into(), "suspension from sales".into()),
            ("conduct".into(), "dismissal review".into()),
            ("desk".into(), "desk review".into()),
        ]
    );
    let until: Vec<serde_json::Value> = restrictions(&d).iter().map(|f| evidence(f, "until").unwrap()).collect();
    assert_eq!(until[1], serde_json::Value::Null, "no `for`: no end");
    // Tuesday 2 March + 3 business days = Friday 5 March, same time.
    assert_eq!(until[2], json!("2026-03-05T10:00:00+08:00"));
    let f = restrictions(&d)[1];
    assert!(f.message.contains("while `conduct` points stay at 12 or more"), "{}", f.message);
}

#[test]
fn an_overdue_report_reaches_a_step() {
    let src = r#"policy p version "1" effective 2026-01-01 timezone "UTC"
action complaint { }
action logged { complaint: text }
action sale { }
duty log cite "c" on complaint due within 1 day fulfilled by logged where complaint = action.id otherwise breach severe
ladder conduct window 12 months points severe 6
  step 6 "suspension" restricts sale for 10 days
"#;
    let engine = engine(src);
    let mut ledger = engine.ledger();
    ledger.submit(&act("complaint", "K-1", "2026-03-01T10:00:00Z")).unwrap();
    let reports = ledger.advance_to(ts("2026-03-02T10:00:01Z"));
    assert_eq!(reports[0].sanctions[0].step, "suspension");
    let d = ledger.submit(&act("sale", "S-1", "2026-03-12T09:59:59Z")).unwrap().decision;
    let f = restrictions(&d)[0];
    // Reached at the overdue report's `at` (the deadline).
    assert_eq!(evidence(f, "reached"), Some(json!("2026-03-02T10:00:00Z")));
    assert_eq!(evidence(f, "until"), Some(json!("2026-03-12T10:00:00Z")));
    let d = ledger.submit(&act("sale", "S-2", "2026-03-12T10:00:00Z")).unwrap().decision;
    assert!(restrictions(&d).is_empty());
}

// ---------------------------------------------------------------- evaluate and seeded ledgers

#[test]
fn evaluate_derives_restrictions_from_the_history_breaches() {
    let engine = engine(POLICY);
    let history = json!({"breaches": [breach("2026-03-01T10:00:00+08:00", "major"), breach("2026-03-05T10:00:00+08:00", "major")]});
    let sale = json!({"type": "product_sale", "id": "S-1", "at": "2026-03-05T10:00:00+08:00", "rm": {"id": "R1"}, "amount": "5 CNY"});
    let d = decide_with(&engine, sale.clone(), history.clone());
    assert_eq!(d.verdict, Verdict::Deny);
    let f = restrictions(&d)[0];
    assert_eq!(evidence(f, "reached"), Some(json!("2026-03-05T10:00:00+08:00")));
    assert_eq!(evidence(f, "points"), Some(json!(6)));
    // The same from a ledger seeded with that history.
    let mut ledger = engine.ledger();
    ledger.load(&serde_json::from_value(history.clone()).unwrap()).unwrap();
    assert_eq!(ledger.evaluate(&action(sale.clone())).unwrap(), d);
    assert_eq!(ledger.submit(&action(sale)).unwrap().decision, d);
    // A breach after the action does not restrict it; another RM is not restricted.
    let early = json!({"type": "product_sale", "id": "S-0", "at": "2026-03-04T10:00:00+08:00", "rm": {"id": "R1"}, "amount": "5 CNY"});
    assert!(restrictions(&decide_with(&engine, early, history.clone())).is_empty());
    let other = json!({"type": "product_sale", "id": "S-9", "at": "2026-03-05T10:00:00+08:00", "rm": {"id": "R2"}, "amount": "5 CNY"});
    assert!(restrictions(&decide_with(&engine, other, history)).is_empty());
}

#[test]
fn evaluate_takes_the_latest_reaching_and_the_window_of_the_no_for_step() {
    let engine = engine(POLICY);
    let breaches: Vec<_> = (1..=4).map(|d| breach(&format!("2025-03-0{d}T10:00:00+08:00"), "major")).collect();
    let history = json!({ "breaches": breaches });
    let meeting = |at: &str| json!({"type": "client_meeting", "id": "C", "at": at, "rm": {"id": "R1"}});
    // 12 points from 4 March 2025: dismissal review holds while all four are in the window.
    let d = decide_with(&engine, meeting("2026-03-01T10:00:00+08:00"), history.clone());
    let f = restrictions(&d)[0];
    assert_eq!(evidence(f, "step"), Some(json!("dismissal review")));
    assert_eq!(evidence(f, "reached"), Some(json!("2025-03-04T10:00:00+08:00")));
    assert_eq!(evidence(f, "points"), Some(json!(12)));
    // On 1 March 2026 10:00:01 the first breach has left the window: 9 points.
    assert!(restrictions(&decide_with(&engine, meeting("2026-03-01T10:00:01+08:00"), history)).is_empty());
}

#[test]
fn a_restriction_applies_with_no_version_in_force() {
    let src = "policy p version \"1\" effective 2026-01-01 until 2026-02-01\naction sale { }\nrule r cite \"c\" on sale then breach minor\nladder l window 12 months points minor 1\n  step 1 \"s\" restricts sale for 90 days\n";
    let engine = engine(src);
    let mut ledger = engine.ledger();
    ledger.submit(&act("sale", "S-1", "2026-01-31T10:00:00Z")).unwrap();
    let d = ledger.submit(&act("sale", "S-2", "2026-03-01T10:00:00Z")).unwrap().decision;
    assert!(d.policies.is_empty());
    assert_eq!((d.verdict, rules(&d)), (Verdict::Deny, vec!["l".to_string()]));
}

// ---------------------------------------------------------------- memory

#[test]
fn reachings_are_kept_for_the_longest_window_plus_the_longest_for_then_dropped() {
    let src = "policy p version \"1\" effective 2026-01-01 timezone \"UTC\"\naction sale { }\naction bad { }\nrule r cite \"c\" on bad then breach minor\nladder l window 10 days points minor 1\n  step 1 \"s\" restricts sale for 30 days\n";
    let engine = engine(src);
    let mut ledger = engine.ledger();
    ledger.submit(&act("bad", "B-1", "2026-01-01T00:00:00Z")).unwrap();
    assert_eq!(ledger.retained_items(), 2, "the breach and its reaching");
    // 30 days on, the restriction still holds though its breach has left the window.
    let d = ledger.submit(&act("sale", "S-1", "2026-01-30T23:59:59Z")).unwrap().decision;
    assert_eq!(restrictions(&d).len(), 1);
    assert_eq!(ledger.retained_items(), 2);
    let d = ledger.evaluate(&act("sale", "S-2", "2026-01-31T00:00:00Z")).unwrap();
    assert!(restrictions(&d).is_empty(), "reached + 30 days is over");
    // Both are kept for the window plus the `for` (each bound with a day of slack: 42 days)...
    ledger.advance_to(ts("2026-02-12T00:00:00Z"));
    assert_eq!(ledger.retained_items(), 2);
    // ...then dropped, and the RM costs only its clock.
    ledger.advance_to(ts("2026-02-12T00:00:01Z"));
    assert_eq!(ledger.retained_items(), 0);
    assert_eq!(ledger.active_rm_count(), 0);
}

#[test]
fn policies_without_restrictions_keep_no_reachings() {
    let src = "policy p version \"1\" effective 2026-01-01\naction bad { }\nrule r cite \"c\" on bad then breach minor\nladder l window 10 days points minor 1\n  step 1 \"s\"\n";
    let engine = engine(src);
    let mut ledger = engine.ledger();
    ledger.submit(&act("bad", "B-1", "2026-01-01T00:00:00Z")).unwrap();
    assert_eq!(ledger.retained_items(), 1, "the breach only");
}

// ---------------------------------------------------------------- explain

#[test]
fn explain_says_why_each_restriction_holds() {
    let engine = engine(POLICY);
    let history: History = serde_json::from_value(json!({"breaches": [
        breach("2026-03-01T10:00:00+08:00", "severe"),
        breach("2026-03-02T10:00:00+08:00", "severe"),
    ]}))
    .unwrap();
    let e = engine.explain(&act("product_sale", "S-1", "2026-03-03T10:00:00+08:00"), &history).unwrap();
    assert_eq!(
        e.decision,
        engine.evaluate(&act("product_sale", "S-1", "2026-03-03T10:00:00+08:00"), &history).unwrap()
    );
    let steps: Vec<(&str, i64, Option<&str>, Option<i64>)> =
        e.restrictions.iter().map(|r| (r.step.as_str(), r.points, r.until.as_deref(), r.total_now)).collect();
    assert_eq!(
        steps,
        vec![
            ("suspension from sales", 12, Some("2026-05-31T10:00:00+08:00"), None),
            ("dismissal review", 12, None, Some(12)),
        ]
    );
    let text = e.to_text();
    assert!(text.contains("restrictions\n  sales/conduct: step 6 \"suspension from sales\" reached 2026-03-02T10:00:00+08:00 at 12 points; holds until 2026-05-31T10:00:00+08:00\n"), "{text}");
    assert!(text.contains("holds while the total is at least 12: 12 now"), "{text}");
    // Nothing restricted: no `restrictions` key in the JSON.
    let e = engine.explain(&act("product_sale", "S-1", "2026-03-03T10:00:00+08:00"), &History::new()).unwrap();
    assert!(serde_json::to_value(&e).unwrap().get("restrictions").is_none());
}

#[test]
fn fmt_keeps_a_comment_after_a_restricting_step() {
    let src = format!(
        "{HEAD}ladder conduct window 12 months points minor 1\n  step 3 \"s\" restricts product_sale for 9 days   # nine\n  # before the next\n  step 4 \"t\" restricts all # all\n"
    );
    let once = format_source("p.probity", &src).unwrap();
    assert!(once.contains("  step 3 \"s\" restricts product_sale for 9 days  # nine\n"), "{once}");
    assert!(once.contains("  # before the next\n  step 4 \"t\" restricts all  # all\n"), "{once}");
    assert_eq!(format_source("p.probity", &once).unwrap(), once);
}

#[test]
fn a_long_history_derives_its_restrictions_in_one_pass() {
    // 20,000 breaches one minute apart: each reaches the steps again (a quadratic derivation
    // would take minutes here); the latest reaching counts.
    let engine = engine(POLICY);
    let start = ts("2026-01-01T00:00:00+08:00");
    let breaches: Vec<_> =
        (0..20_000i64).map(|i| breach(&(start + chrono::TimeDelta::minutes(i)).to_rfc3339(), "minor")).collect();
    let history = json!({ "breaches": breaches });
    let d = decide_with(
        &engine,
        json!({"type": "client_meeting", "id": "C", "at": "2026-02-01T00:00:00+08:00", "rm": {"id": "R1"}}),
        history,
    );
    let f = restrictions(&d)[0];
    assert_eq!(evidence(f, "step"), Some(json!("dismissal review")));
    assert_eq!(evidence(f, "points"), Some(json!(20_000)));
    assert_eq!(evidence(f, "reached"), Some(json!("2026-01-14T21:19:00+08:00")));
}
