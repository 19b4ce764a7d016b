//! Periodic duties (`every month | quarter | year`, docs/language.md): the checker's errors
//! (snapshots), `fmt`, the checks a ledger runs as its clock advances (boundaries, versions,
//! time zones), the order of reports, and what the ledger keeps for them.
//!
//! To update the snapshots after an intended change:
//! `INSTA_UPDATE=always cargo test -p probity --test periodic`, then review the `.snap` files.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

mod common;

use chrono::{DateTime, FixedOffset};
use common::*;
use probity::*;
use serde_json::json;

const HEAD: &str = "policy p version \"1\" effective 2025-01-01 timezone \"Asia/Shanghai\"\n";

/// The diagnostics of a source that must fail with exactly one error of `code`, with a hint.
fn t(s: &str) -> DateTime<FixedOffset> {
    parse_timestamp(s).unwrap()
}

fn act(ty: &str, id: &str, at: &str, rm: &str) -> Action {
    action(json!({"type": ty, "id": id, "at": at, "rm": {"id": rm}}))
}

/// A policy with a monthly review duty (no grace) and a ladder.
fn monthly(extra: &str) -> String {
    format!(
        "{HEAD}action audit {{ }}\naction sale {{ }}\n\
         duty monthly cite \"c\" every month require count(audit within period) >= 1 otherwise breach minor\n\
         ladder conduct window 12 months points minor 1 step 1 \"warning\" step 2 \"final warning\"\n{extra}"
    )
}

fn ids(reports: &[OverdueReport]) -> Vec<(String, String, String)> {
    reports
        .iter()
        .map(|r| {
            let o = &r.obligation;
            let what = match (&o.action, &o.period) {
                (Some(a), _) => a.to_string(),
                (None, Some(p)) => format!("{}..{}", p.from, p.until),
                (None, None) => String::new(),
            };
            (r.rm.to_string(), o.duty.to_string(), what)
        })
        .collect()
}

// ---------------------------------------------------------------- checker

#[test]
fn unknown_period() {
    let src = format!("{HEAD}action a {{ }}\nduty d cite \"c\" every week require count(a within period) >= 1\n");
    insta::assert_snapshot!(failing_with(&src, "P0430"));
}

#[test]
fn periodic_duty_with_on() {
    let src = format!("{HEAD}action a {{ }}\nduty d cite \"c\" every month on a require count(a within period) >= 1\n");
    insta::assert_snapshot!(failing_with(&src, "P0431"));
}

#[test]
fn periodic_duty_with_fulfilled_by() {
    let src = format!(
        "{HEAD}action a {{ }}\nduty d cite \"c\" every month require count(a within period) >= 1\n  fulfilled by a\n"
    );
    insta::assert_snapshot!(failing_with(&src, "P0432"));
}

#[test]
fn periodic_duty_without_require() {
    let src = format!("{HEAD}action a {{ }}\nduty d cite \"c\" every quarter otherwise review\n");
    insta::assert_snapshot!(failing_with(&src, "P0433"));
}

#[test]
fn periodic_duty_reading_the_action() {
    let src = format!(
        "{HEAD}action a {{ n: int }}\nduty d cite \"c\" every month\n  require count(a where n = action.n within period) >= 1\n"
    );
    insta::assert_snapshot!(failing_with(&src, "P0434"));
    // `rm.` too, and in a `when` and a message placeholder.
    for clause in ["when rm.id = \"R1\"", "message \"{action.n}\""] {
        let src = format!(
            "{HEAD}action a {{ n: int }}\nduty d cite \"c\" every month {clause} require count(a within period) >= 1\n"
        );
        let d = load_errors(&src);
        assert_eq!(codes_at(&d).iter().map(|c| c.0.as_str()).collect::<Vec<_>>(), ["P0434"], "{clause}");
    }
    // A bare `action` inside a breach aggregate is the breach's field, not the action.
    let ok = format!(
        "{HEAD}action a {{ }}\nladder l window 1 year points minor 1 step 1 \"w\"\n\
         duty d cite \"c\" every month require not exists(breach where action = \"x\" within period)\n"
    );
    engine(&ok);
}

#[test]
fn within_period_outside_a_periodic_duty() {
    let src = format!("{HEAD}action a {{ }}\nrule r cite \"c\" on a when count(a within period) > 1 then review\n");
    insta::assert_snapshot!(failing_with(&src, "P0435"));
    let duty =
        format!("{HEAD}action a {{ }}\nduty r cite \"c\" on a require count(a within period) > 1 otherwise review\n");
    assert_eq!(codes_at(&load_errors(&duty))[0].0, "P0435");
}

#[test]
fn every_on_a_rule() {
    let src = format!("{HEAD}action a {{ }}\nrule r cite \"c\" every month on a then review\n");
    insta::assert_snapshot!(failing_with(&src, "P0436"));
}

#[test]
fn every_and_period_are_reserved() {
    for name in ["every", "period"] {
        let src = format!("{HEAD}action a {{ }}\nrule r cite \"c\" on a let {name} = 1 when {name} > 0 then review\n");
        let d = load_errors(&src);
        assert!(d.render().contains("reserved word"), "{name}: {}", d.render());
    }
}

#[test]
fn fmt_round_trips_periodic_duties() {
    let src = format!(
        "{HEAD}action training {{ hours: int }}\n\
         duty annual  \"30 hours\" cite \"c\"   every year\n require sum(training.hours within period) >= 30\n\
         due within 15 days otherwise breach minor\n\
         ladder l window 1 year points minor 1 step 1 \"w\"\n"
    );
    let once = format_source("p.probity", &src).unwrap();
    assert!(once.contains("duty annual \"30 hours\"\n  cite \"c\"\n  every year\n"), "{once}");
    assert!(once.contains("  require sum(training.hours within period) >= 30\n  due within 15 days\n"), "{once}");
    assert_eq!(format_source("p.probity", &once).unwrap(), once, "idempotent");
    assert_eq!(syntax_fingerprint("p", &src).unwrap(), syntax_fingerprint("p", &once).unwrap(), "same meaning");
    engine(&once);
}

// ---------------------------------------------------------------- checks

#[test]
fn a_failed_month_is_reported_with_its_period_and_grace() {
    let src = format!(
        "{HEAD}action audit {{ }}\n\
         duty monthly cite \"c\" every month require count(audit within period) >= 2 due within 3 days\n  \
         otherwise breach minor, escalate \"ops\"\n\
         ladder conduct window 12 months points minor 1 step 1 \"warning\"\n"
    );
    let e = engine(&src);
    let mut ledger = e.ledger();
    ledger.submit(&act("audit", "A", "2026-01-20T10:00:00+08:00", "R1")).unwrap();
    ledger.submit(&act("audit", "B", "2026-02-10T10:00:00+08:00", "R1")).unwrap();
    // In the grace: a review on 2 March does not count for February.
    ledger.submit(&act("audit", "C", "2026-03-02T10:00:00+08:00", "R1")).unwrap();
    assert!(ledger.advance_to(t("2026-03-04T00:00:00+08:00")).is_empty(), "due is end + grace, not yet past");
    let reports = ledger.advance_to(t("2026-03-04T00:00:00.000000001+08:00"));
    assert_eq!(reports.len(), 1);
    let json: serde_json::Value = serde_json::from_str(&reports[0].to_json()).unwrap();
    assert_eq!(
        json["obligation"],
        json!({"policy": "p", "duty": "monthly", "period": {"from": "2026-02-01", "until": "2026-03-01"},
               "due": "2026-03-04T00:00:00+08:00"})
    );
    assert_eq!(json["at"], "2026-03-04T00:00:00+08:00");
    assert_eq!(json["rm"], "R1");
    assert_eq!(json["findings"][0]["kind"], "overdue");
    assert_eq!(json["findings"][0]["outcomes"], json!(["breach", "escalate"]));
    assert_eq!(json["findings"][0]["evidence"], json!({"count(audit within period)": 1}));
    assert_eq!(json["escalations"], json!(["ops"]));
    assert_eq!(json["sanctions"][0]["step"], "warning");
    // The key order of the contract: policy, duty, period, due.
    assert!(reports[0].to_json().contains(
        r#""obligation":{"policy":"p","duty":"monthly","period":{"from":"2026-02-01","until":"2026-03-01"},"due":"#
    ));
}

#[test]
fn periods_are_local_months_quarters_and_years() {
    let src = format!(
        "{HEAD}action audit {{ }}\n\
         duty m cite \"c\" every month require count(audit within period) >= 1\n\
         duty q cite \"c\" every quarter require count(audit within period) >= 1\n\
         duty y cite \"c\" every year require count(audit within period) >= 1\n"
    );
    let e = engine(&src);
    let mut ledger = e.ledger();
    // 31 Dec 2025 17:00 UTC is 1 Jan 2026 01:00 in Shanghai: every period of 2026 counts.
    ledger.submit(&act("audit", "A", "2025-12-31T17:00:00Z", "R1")).unwrap();
    let reports = ledger.advance_to(t("2027-01-01T00:00:01+08:00"));
    let periods: Vec<(String, String)> = ids(&reports).into_iter().map(|(_, d, p)| (d, p)).collect();
    // January had the review; the other months, the quarters after the first, and not the year.
    let mut expected: Vec<(String, String)> = Vec::new();
    for m in 2..=12u32 {
        let until = if m == 12 { "2027-01-01".to_string() } else { format!("2026-{:02}-01", m + 1) };
        expected.push(("m".into(), format!("2026-{m:02}-01..{until}")));
        if m % 3 == 0 && m > 3 {
            let from = format!("2026-{:02}-01", m - 2);
            expected.push(("q".into(), format!("{from}..{until}")));
        }
    }
    assert_eq!(periods, expected);
    assert!(reports.iter().all(|r| r.at.ends_with("T00:00:00+08:00")), "local midnight");
}

#[test]
fn reports_of_one_advance_are_in_due_policy_duty_rm_action_order() {
    let a = "policy a version \"1\" effective 2025-01-01 timezone \"UTC\"\n\
             action audit { }\naction gift { }\naction reg { }\n\
             duty z cite \"c\" every month require count(audit within period) >= 1\n\
             duty g cite \"c\" on gift due within 1 month fulfilled by reg\n";
    let b = "policy b version \"1\" effective 2025-01-01 timezone \"UTC\"\n\
             action audit { }\n\
             duty m cite \"c\" every month require count(audit within period) >= 1\n";
    let e = engine_of(&[("a.probity", a), ("b.probity", b)]);
    let mut ledger = e.ledger();
    // Gifts due exactly at the end of February (1 March 00:00 UTC), when the checks of February
    // are due too.
    ledger.submit(&act("gift", "G2", "2026-02-01T00:00:00Z", "R2")).unwrap();
    ledger.submit(&act("gift", "G1", "2026-02-01T00:00:00Z", "R2")).unwrap();
    ledger.submit(&act("gift", "G0", "2026-02-01T00:00:00Z", "R1")).unwrap();
    let reports = ledger.advance_to(t("2026-03-01T00:00:01Z"));
    let order: Vec<(String, String, String)> = ids(&reports);
    let expected = [
        ("R1", "g", "G0"),
        ("R2", "g", "G1"),
        ("R2", "g", "G2"),
        ("R1", "z", "2026-02-01..2026-03-01"),
        ("R2", "z", "2026-02-01..2026-03-01"),
        ("R1", "m", "2026-02-01..2026-03-01"),
        ("R2", "m", "2026-02-01..2026-03-01"),
    ];
    let expected: Vec<(String, String, String)> =
        expected.iter().map(|(r, d, w)| (r.to_string(), d.to_string(), w.to_string())).collect();
    assert_eq!(order, expected);
    // A submit's implicit advance: the acting RM's reports only, in the same order.
    let mut ledger = e.ledger();
    ledger.submit(&act("gift", "G1", "2026-02-01T00:00:00Z", "R1")).unwrap();
    ledger.submit(&act("gift", "G9", "2026-02-01T00:00:00Z", "R2")).unwrap();
    let s = ledger.submit(&act("audit", "V", "2026-03-01T00:00:01Z", "R1")).unwrap();
    let order: Vec<(String, String)> = ids(&s.overdue).into_iter().map(|(r, d, _)| (r, d)).collect();
    assert_eq!(order, [("R1", "g"), ("R1", "z"), ("R1", "m")].map(|(r, d)| (r.to_string(), d.to_string())));
    // R2's come with the next advance, once.
    let rest = ledger.advance_to(t("2026-03-02T00:00:00Z"));
    assert_eq!(ids(&rest).iter().map(|x| x.0.as_str()).collect::<Vec<_>>(), ["R2", "R2", "R2"]);
    assert!(ledger.advance_to(t("2026-03-03T00:00:00Z")).is_empty());
}

#[test]
fn an_rm_is_subject_from_its_first_action_of_any_type_seeded_or_submitted() {
    let e = engine(&monthly(""));
    // Seeded: an action of a type no window keeps, in January.
    let mut ledger = e.ledger();
    let history: History = serde_json::from_value(json!({
        "actions": [{"type": "sale", "id": "S0", "at": "2026-01-05T09:00:00+08:00", "rm": {"id": "R1"}}]
    }))
    .unwrap();
    ledger.load(&history).unwrap();
    let reports = ledger.advance_to(t("2026-03-01T00:00:01+08:00"));
    assert_eq!(ids(&reports), [("R1".into(), "monthly".into(), "2026-02-01..2026-03-01".into())]);
    // The pure helper agrees.
    let pure = e.overdue(&history, t("2026-03-01T00:00:01+08:00")).unwrap();
    assert_eq!(pure, reports);
    // An action of an undeclared type counts too; its RM's idle months are still checked after
    // the ledger has dropped everything it held.
    let mut ledger = e.ledger();
    ledger.submit(&act("unknown_type", "X", "2026-01-31T23:59:59+08:00", "R9")).unwrap();
    assert_eq!(ledger.retained_items(), 0);
    let reports = ledger.advance_to(t("2026-06-01T00:00:01+08:00"));
    assert_eq!(reports.len(), 4, "February to May: {:?}", ids(&reports));
    assert_eq!(reports[3].sanctions[0].step, "final warning");
    // An RM known only by a seeded breach is not subject.
    let mut ledger = e.ledger();
    let breach_only: History = serde_json::from_value(json!({"breaches": [{"rm": "R5", "policy": "p",
        "rule": "x", "severity": "minor", "ladder": "conduct", "at": "2026-01-05T09:00:00+08:00", "action": "Q"}]}))
    .unwrap();
    ledger.load(&breach_only).unwrap();
    assert!(ledger.advance_to(t("2026-06-01T00:00:00+08:00")).is_empty());
}

#[test]
fn a_what_if_evaluation_sees_the_breaches_of_due_checks_but_records_nothing() {
    let e = engine(&monthly(
        "rule warned cite \"c\" on sale when exists(breach where rule = \"monthly\" within 1 year) then review\n",
    ));
    let mut ledger = e.ledger();
    ledger.submit(&act("sale", "S1", "2026-01-10T10:00:00+08:00", "R1")).unwrap();
    let later = act("sale", "S2", "2026-03-02T10:00:00+08:00", "R1");
    assert_eq!(ledger.evaluate(&later).unwrap().verdict, Verdict::Review);
    assert_eq!(ledger.evaluate(&later).unwrap().verdict, Verdict::Review, "nothing was recorded");
    let s = ledger.submit(&later).unwrap();
    assert_eq!(s.overdue.len(), 1);
    assert_eq!(s.decision.verdict, Verdict::Review);
}

#[test]
fn the_version_on_the_periods_last_local_day_checks_it() {
    let v1 =
        format!("{HEAD}action audit {{ }}\nduty m cite \"v1\" every month require count(audit within period) >= 1\n");
    // Version 2 takes effect on 1 March local time (29 February 16:00 UTC would be 1 March).
    let v2 = "policy p version \"2\" effective 2026-03-01 timezone \"Asia/Shanghai\"\naction audit { }\n\
              duty m cite \"v2\" every month require count(audit within period) >= 5\n";
    let e = engine_of(&[("v1.probity", v1.as_str()), ("v2.probity", v2)]);
    let mut ledger = e.ledger();
    for (i, at) in ["2026-01-10", "2026-02-10", "2026-03-10"].iter().enumerate() {
        ledger.submit(&act("audit", &format!("R{i}"), &format!("{at}T10:00:00+08:00"), "R1")).unwrap();
    }
    let reports = ledger.advance_to(t("2026-04-01T00:00:01+08:00"));
    // February (version 1) passes; March (version 2) fails.
    assert_eq!(ids(&reports), [("R1".into(), "m".into(), "2026-03-01..2026-04-01".into())]);
    assert_eq!(reports[0].findings[0].cite[0], "v2");
}

#[test]
fn a_period_after_the_last_version_ends_is_not_checked() {
    let src = "policy p version \"1\" effective 2025-01-01 until 2026-03-31 timezone \"UTC\"\naction audit { }\n\
               duty m cite \"c\" every month require count(audit within period) >= 1\n";
    let e = engine(src);
    let mut ledger = e.ledger();
    ledger.submit(&act("audit", "A", "2026-01-10T10:00:00Z", "R1")).unwrap();
    // February fails; March ends on the 31st, when no version is in force: no check. Nor later.
    let reports = ledger.advance_to(t("2030-01-01T00:00:00Z"));
    assert_eq!(ids(&reports), [("R1".into(), "m".into(), "2026-02-01..2026-03-01".into())]);
}

#[test]
fn a_midnight_skipped_by_a_clock_change_starts_the_period_at_the_first_instant_after() {
    // Santiago moved its clocks from 00:00 to 01:00 on 2026-09-06: 1 September is unaffected,
    // so use the time zone's own midnight gap in 2026 through a month that starts on one.
    // America/Asuncion (Paraguay) kept DST at midnight until 2024: 2023-10-01 00:00 did not exist.
    let src = "policy p version \"1\" effective 2023-01-01 timezone \"America/Asuncion\"\naction audit { }\n\
               duty m cite \"c\" every month require count(audit within period) >= 1\n";
    let e = engine(src);
    let mut ledger = e.ledger();
    ledger.submit(&act("audit", "A", "2023-08-15T10:00:00-04:00", "R1")).unwrap();
    let reports = ledger.advance_to(t("2023-10-02T00:00:00-03:00"));
    // September [1 Sep 00:00 -04:00, 1 Oct 01:00 -03:00): its end is the first instant of 1 October.
    assert_eq!(ids(&reports), [("R1".into(), "m".into(), "2023-09-01..2023-10-01".into())]);
    assert_eq!(reports[0].at, "2023-10-01T01:00:00-03:00");
}

#[test]
fn the_ledger_keeps_a_period_and_its_grace_of_history() {
    let src = format!(
        "{HEAD}action audit {{ }}\naction sale {{ }}\n\
         duty q cite \"c\" every quarter require count(audit within period) >= 1 due within 20 days\n"
    );
    let e = engine(&src);
    let mut ledger = e.ledger();
    ledger.submit(&act("sale", "S", "2025-12-20T10:00:00+08:00", "R1")).unwrap();
    // The only review of the first quarter, on its first day.
    ledger.submit(&act("audit", "A", "2026-01-01T00:00:00+08:00", "R1")).unwrap();
    // Actions up to the check (a quarter and 20 days later) must not prune it away.
    ledger.submit(&act("sale", "S2", "2026-04-20T23:00:00+08:00", "R1")).unwrap();
    assert_eq!(ledger.retained_items(), 1);
    assert!(ledger.advance_to(t("2026-04-21T00:00:01+08:00")).is_empty(), "the review still counts");
}

#[test]
fn the_reference_example_report() {
    // The periodic duty example of docs/language.md, byte for byte in its JSON.
    let src = "policy cn_training version \"2026.1\" effective 2026-01-01 timezone \"Asia/Shanghai\"\n\
               action training_completed { hours: int }\n\
               duty annual_training \"30 hours of compliance training each calendar year\"\n  \
               cite \"银行业金融机构从业人员行为管理指引 (2018) art. 21\"\n  every year\n  \
               require sum(training_completed.hours within period) >= 30\n  due within 15 days\n  otherwise breach minor\n\
               ladder conduct window 12 months points minor 1 step 1 \"verbal warning\"\n";
    let e = engine(src);
    let mut ledger = e.ledger();
    let first = json!({"type": "training_completed", "id": "T-1", "at": "2026-01-01T00:00:00+08:00",
                       "rm": {"id": "R7"}, "hours": 12});
    ledger.submit(&action(first)).unwrap();
    assert!(ledger.advance_to(t("2027-01-16T00:00:00+08:00")).is_empty());
    let reports = ledger.advance_to(t("2027-01-16T00:00:01+08:00"));
    let expected = concat!(
        r#"{"rm":"R7","at":"2027-01-16T00:00:00+08:00","obligation":{"policy":"cn_training","duty":"annual_training","#,
        r#""period":{"from":"2026-01-01","until":"2027-01-01"},"due":"2027-01-16T00:00:00+08:00"},"#,
        r#""findings":[{"policy":"cn_training","rule":"annual_training","kind":"overdue","outcomes":["breach"],"#,
        r#""severity":"minor","ladder":"conduct","message":"30 hours of compliance training each calendar year","#,
        r#""cite":["银行业金融机构从业人员行为管理指引 (2018) art. 21"],"#,
        r#""evidence":{"sum(training_completed.hours within period)":12}}],"escalations":[],"#,
        r#""sanctions":[{"policy":"cn_training","ladder":"conduct","points":1,"step":"verbal warning","previous":null}]}"#
    );
    assert_eq!(reports.len(), 1);
    assert_eq!(reports[0].to_json(), expected);
    // Round trip through serde, as bindings read reports back.
    let back: OverdueReport = serde_json::from_str(expected).unwrap();
    assert_eq!(back, reports[0]);
}

#[test]
fn a_require_that_cannot_be_evaluated_is_an_error_finding_without_breach() {
    let src = format!(
        "{HEAD}action audit {{ n: int }}\n\
         duty m cite \"c\" every month require max(audit.n within period) > 1 otherwise breach minor\n\
         ladder conduct window 12 months points minor 1 step 1 \"warning\"\n"
    );
    let e = engine(&src);
    let mut ledger = e.ledger();
    ledger.submit(&act("audit", "A", "2026-01-10T10:00:00+08:00", "R1")).unwrap();
    let reports = ledger.advance_to(t("2026-03-01T00:00:01+08:00"));
    assert_eq!(reports.len(), 1, "February had no audit: its max is absent");
    let f = &reports[0].findings[0];
    assert_eq!(f.kind, FindingKind::Error);
    assert!(f.message.starts_with("cannot evaluate `require`"), "{}", f.message);
    assert!(f.severity.is_none() && reports[0].sanctions.is_empty());
}

#[test]
fn an_advance_to_the_last_writable_year_ends() {
    // Every month to the end of year 9999 is checked (a deadline after it cannot be written).
    let e = engine(&monthly(""));
    let mut ledger = e.ledger();
    ledger.submit(&act("sale", "S", "9990-01-10T10:00:00+08:00", "R1")).unwrap();
    let reports = ledger.advance_to(t("9999-12-31T23:59:59Z"));
    // February 9990 to November 9999: December's end would be in year 10000.
    assert_eq!(reports.len(), 12 * 10 - 2);
    assert_eq!(reports.last().unwrap().obligation.period.as_ref().unwrap().until, "9999-12-01");
}

#[test]
fn a_check_sees_now_and_today_at_the_periods_end_and_its_lets_and_conditions() {
    // `now` is the period's end and `today` its local date: the first day of the next period.
    let src = format!(
        "{HEAD}action audit {{ }}\n\
         duty m cite \"c\" every month\n  let n = count(audit within period)\n  \
         when today != 2026-04-01\n  unless now = 2026-05-01T00:00:00+08:00\n  require n >= 1\n  \
         otherwise review\n  message \"{{n}} audits\"\n"
    );
    let e = engine(&src);
    let mut ledger = e.ledger();
    ledger.submit(&act("audit", "A", "2026-01-10T10:00:00+08:00", "R1")).unwrap();
    let reports = ledger.advance_to(t("2026-06-01T00:00:01+08:00"));
    // February and May fail; March is skipped by `when`, April by `unless`.
    let periods: Vec<String> = ids(&reports).into_iter().map(|x| x.2).collect();
    assert_eq!(periods, ["2026-02-01..2026-03-01", "2026-05-01..2026-06-01"]);
    assert_eq!(reports[0].findings[0].message, "0 audits");
    assert_eq!(reports[0].findings[0].outcomes.to_vec(), ["review"]);
}

// ---------------------------------------------------------------- with restrictions

#[test]
fn a_failed_periodic_check_can_reach_a_restricting_step() {
    // §8.1: an overdue report reaches a step too, at its `at` (the period's end here).
    let e = engine(&format!(
        "{HEAD}action audit {{ }}\naction sale {{ }}\n\
         duty monthly cite \"c\" every month require count(audit within period) >= 1 otherwise breach minor\n\
         ladder conduct window 12 months points minor 1 step 1 \"suspension\" restricts sale for 10 days\n"
    ));
    let mut ledger = e.ledger();
    ledger.submit(&act("audit", "A-1", "2026-01-20T10:00:00Z", "R1")).unwrap();
    // February has no audit: its check, at 1 March 00:00 local time, breaches and reaches the step.
    let s = ledger.submit(&act("sale", "S-1", "2026-03-05T10:00:00Z", "R1")).unwrap();
    assert_eq!(ids(&s.overdue), vec![("R1".into(), "monthly".into(), "2026-02-01..2026-03-01".into())]);
    assert_eq!(s.overdue[0].sanctions.len(), 1, "{:?}", s.overdue[0].sanctions);
    let restricted: Vec<_> = s.decision.findings.iter().filter(|f| f.kind == FindingKind::Restriction).collect();
    assert_eq!(restricted.len(), 1, "{:?}", s.decision.findings);
    assert_eq!(s.decision.verdict, Verdict::Deny);
    let last = ledger.submit(&act("sale", "S-2", "2026-03-10T23:59:59+08:00", "R1")).unwrap();
    assert!(last.decision.findings.iter().any(|f| f.kind == FindingKind::Restriction), "{:?}", last.decision);
    // Exactly ten days after 1 March 00:00 the restriction has ended (the end is exclusive).
    let after = ledger.submit(&act("sale", "S-3", "2026-03-11T00:00:00+08:00", "R1")).unwrap();
    assert!(after.decision.findings.iter().all(|f| f.kind != FindingKind::Restriction), "{:?}", after.decision);
}
