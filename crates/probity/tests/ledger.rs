//! The ledger (docs/language.md#the-ledger): obligations, overdue reports, fulfilment, per-RM
//! clocks, ladders, bounded memory, and agreement with the pure `Engine::evaluate`.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    clippy::arithmetic_side_effects
)]

mod common;

use common::*;
use probity::*;
use serde_json::{json, Value as Json};

const GIFTS: &str = r#"policy gifts version "1" effective 2025-01-01 timezone "Asia/Shanghai"

action gift_received { giver: text  value: money }
action gift_registered { gift: text }
action quick_gift { }

duty gift_register "Gifts of CNY 200 or more are registered within 30 days"
  cite "Gift policy 3.1"
  on gift_received
  when action.value >= 200 CNY
  due within 30 days
  fulfilled by gift_registered where gift = action.id
  otherwise breach minor, escalate "compliance"

duty quick_register "Quick gifts are registered within 5 days"
  cite "Gift policy 3.2"
  on quick_gift
  due within 5 days
  fulfilled by gift_registered where gift = action.id
  otherwise review, breach major

rule repeat_offender "A registration duty missed in the last year"
  cite "Gift policy 3.9"
  on gift_received
  when count(breach where rule = "gift_register" within 12 months) >= 1
  then review

ladder conduct
  window 12 months
  points minor 1, major 3
  step 1 "verbal warning"
  step 3 "formal warning"
"#;

fn gift(id: &str, rm: &str, at: &str, value: &str) -> Action {
    action(json!({"type": "gift_received", "id": id, "at": at, "rm": {"id": rm}, "giver": "ACME", "value": value}))
}

fn quick(id: &str, rm: &str, at: &str) -> Action {
    action(json!({"type": "quick_gift", "id": id, "at": at, "rm": {"id": rm}}))
}

fn register(id: &str, rm: &str, at: &str, gift: &str) -> Action {
    action(json!({"type": "gift_registered", "id": id, "at": at, "rm": {"id": rm}, "gift": gift}))
}

fn duties(reports: &[OverdueReport]) -> Vec<(String, String, String)> {
    reports
        .iter()
        .map(|r| {
            (r.rm.to_string(), r.obligation.duty.to_string(), r.obligation.action.as_deref().unwrap_or("").to_string())
        })
        .collect()
}

fn triple(rm: &str, duty: &str, action: &str) -> (String, String, String) {
    (rm.to_string(), duty.to_string(), action.to_string())
}

#[test]
fn obligations_are_listed_with_their_deadline_and_overdue_reports_come_in_due_order() {
    let e = engine(GIFTS);
    let mut ledger = e.ledger();
    let s = ledger.submit(&gift("G-1", "R1", "2026-03-01T10:00:00+08:00", "250 CNY")).unwrap();
    assert!(s.overdue.is_empty());
    assert_eq!(s.decision.verdict, Verdict::Allow);
    assert!(s.decision.findings.is_empty(), "an obligation is not a finding");
    assert_eq!(
        s.decision.obligations,
        vec![Obligation {
            policy: "gifts".into(),
            duty: "gift_register".into(),
            action: Some("G-1".into()),
            period: None,
            due: "2026-03-31T10:00:00+08:00".into()
        }]
    );
    ledger.submit(&gift("G-2", "R2", "2026-03-01T04:00:00Z", "250 CNY")).unwrap(); // 12:00 in Shanghai
    ledger.submit(&quick("Q-1", "R1", "2026-03-02T10:00:00+08:00")).unwrap(); // due 03-07
    let s = ledger.submit(&quick("Q-2", "R2", "2026-03-03T10:00:00+08:00")).unwrap(); // due 03-08
    assert_eq!(s.decision.obligations[0].due, "2026-03-08T10:00:00+08:00");
    // A small gift creates no obligation.
    assert!(ledger
        .submit(&gift("G-3", "R1", "2026-03-04T10:00:00+08:00", "199.99 CNY"))
        .unwrap()
        .decision
        .obligations
        .is_empty());

    let reports = ledger.advance_to(ts("2026-04-15T00:00:00+08:00"));
    assert_eq!(
        duties(&reports),
        vec![
            triple("R1", "quick_register", "Q-1"),
            triple("R2", "quick_register", "Q-2"),
            triple("R1", "gift_register", "G-1"),
            triple("R2", "gift_register", "G-2"),
        ]
    );
    let at: Vec<&str> = reports.iter().map(|r| r.at.as_str()).collect();
    assert_eq!(
        at,
        vec![
            "2026-03-07T10:00:00+08:00",
            "2026-03-08T10:00:00+08:00",
            "2026-03-31T10:00:00+08:00",
            "2026-03-31T04:00:00Z"
        ]
    );

    // Each report: one finding of kind overdue with the duty's `otherwise` outcomes.
    let q1 = &reports[0];
    assert_eq!(q1.findings.len(), 1);
    let f = &q1.findings[0];
    assert_eq!((f.kind, f.rule.as_str(), f.policy.as_str()), (FindingKind::Overdue, "quick_register", "gifts"));
    assert_eq!(*f.outcomes, ["review", "breach"]);
    assert_eq!(f.severity.as_deref(), Some("major"));
    assert_eq!(f.ladder.as_deref(), Some("conduct"));
    assert_eq!(*f.cite, ["Gift policy 3.2"]);
    assert_eq!(
        q1.sanctions,
        vec![Sanction {
            policy: "gifts".into(),
            ladder: "conduct".into(),
            points: 3,
            step: "formal warning".into(),
            previous: None
        }]
    );
    // R1's second overdue breach adds to the first.
    let g1 = &reports[2];
    assert_eq!(g1.escalations, vec!["compliance"]);
    assert_eq!(*g1.findings[0].outcomes, ["breach", "escalate"]);
    assert_eq!(g1.sanctions[0].points, 4);
    assert_eq!(g1.sanctions[0].previous.as_deref(), Some("formal warning"));
    // R2's are its own.
    assert_eq!(reports[3].sanctions[0].points, 4);
    assert_eq!(reports[1].sanctions[0].points, 3);

    // The overdue report's JSON shape.
    let j = serde_json::to_value(&reports[2]).unwrap();
    assert_eq!(j["rm"], "R1");
    assert_eq!(j["at"], "2026-03-31T10:00:00+08:00");
    assert_eq!(
        j["obligation"],
        json!({"policy": "gifts", "duty": "gift_register", "action": "G-1", "due": "2026-03-31T10:00:00+08:00"})
    );
    assert_eq!(j["findings"][0]["kind"], "overdue");
    assert_eq!(j["escalations"], json!(["compliance"]));
    assert_eq!(j.as_object().unwrap().keys().cloned().collect::<Vec<_>>().len(), 6);
    assert_eq!(serde_json::from_value::<OverdueReport>(j).unwrap(), reports[2]);
}

#[test]
fn fulfilment_at_exactly_the_deadline_is_on_time() {
    let e = engine(GIFTS);
    let mut ledger = e.ledger();
    ledger.submit(&gift("G-1", "R1", "2026-03-01T10:00:00+08:00", "250 CNY")).unwrap();
    // The same instant as the deadline, written in UTC.
    let s = ledger.submit(&register("GR-1", "R1", "2026-03-31T02:00:00Z", "G-1")).unwrap();
    assert!(s.overdue.is_empty());
    assert_eq!(
        s.decision.fulfilled,
        vec![Fulfilment { policy: "gifts".into(), duty: "gift_register".into(), action: "G-1".into() }]
    );
    assert!(ledger.advance_to(ts("2027-01-01T00:00:00Z")).is_empty());
}

#[test]
fn a_registration_for_another_gift_does_not_fulfil() {
    let e = engine(GIFTS);
    let mut ledger = e.ledger();
    ledger.submit(&gift("G-1", "R1", "2026-03-01T10:00:00+08:00", "250 CNY")).unwrap();
    assert!(ledger
        .submit(&register("GR-1", "R1", "2026-03-05T10:00:00+08:00", "G-999"))
        .unwrap()
        .decision
        .fulfilled
        .is_empty());
    // Nor a registration by another RM.
    assert!(ledger
        .submit(&register("GR-2", "R2", "2026-03-05T10:00:00+08:00", "G-1"))
        .unwrap()
        .decision
        .fulfilled
        .is_empty());
    assert_eq!(duties(&ledger.advance_to(ts("2026-04-01T00:00:00+08:00"))), vec![triple("R1", "gift_register", "G-1")]);
}

#[test]
fn a_late_fulfilment_is_reported_overdue_first_then_listed_as_fulfilled_and_the_breach_stands() {
    let e = engine(GIFTS);
    let mut ledger = e.ledger();
    ledger.submit(&gift("G-1", "R1", "2026-03-01T10:00:00+08:00", "250 CNY")).unwrap();
    let s = ledger.submit(&register("GR-1", "R1", "2026-03-31T10:00:01+08:00", "G-1")).unwrap();
    assert_eq!(duties(&s.overdue), vec![triple("R1", "gift_register", "G-1")]);
    assert_eq!(s.overdue[0].sanctions[0].step, "verbal warning");
    assert_eq!(s.decision.fulfilled.len(), 1);
    assert_eq!(s.decision.fulfilled[0].action, "G-1");
    assert!(s.decision.findings.is_empty());
    // Closed now: never reported again, and not fulfilled twice.
    assert!(ledger.advance_to(ts("2026-06-01T00:00:00+08:00")).is_empty());
    assert!(ledger
        .submit(&register("GR-2", "R1", "2026-06-02T10:00:00+08:00", "G-1"))
        .unwrap()
        .decision
        .fulfilled
        .is_empty());
    // The breach stands: the next gift sees it.
    let s = ledger.submit(&gift("G-2", "R1", "2026-06-03T10:00:00+08:00", "10 CNY")).unwrap();
    assert_eq!(rules(&s.decision), vec!["repeat_offender"]);
    assert_eq!(s.decision.verdict, Verdict::Review);
}

#[test]
fn an_overdue_obligation_is_reported_once_but_stays_open() {
    let e = engine(GIFTS);
    let mut ledger = e.ledger();
    ledger.submit(&gift("G-1", "R1", "2026-03-01T10:00:00+08:00", "250 CNY")).unwrap();
    // Exactly at the deadline nothing is overdue yet; one second later it is.
    assert!(ledger.advance_to(ts("2026-03-31T10:00:00+08:00")).is_empty());
    assert_eq!(ledger.advance_to(ts("2026-03-31T10:00:01+08:00")).len(), 1);
    assert!(ledger.advance_to(ts("2026-04-10T00:00:00+08:00")).is_empty());
    let s = ledger.submit(&gift("G-2", "R1", "2026-04-20T10:00:00+08:00", "10 CNY")).unwrap();
    assert!(s.overdue.is_empty());
    // Still open: a late registration closes it.
    let s = ledger.submit(&register("GR-1", "R1", "2026-04-21T10:00:00+08:00", "G-1")).unwrap();
    assert_eq!(s.decision.fulfilled.len(), 1);
}

#[test]
fn actions_out_of_order_per_rm_are_input_errors_and_other_rms_are_independent() {
    let e = engine(GIFTS);
    let mut ledger = e.ledger();
    ledger.submit(&gift("G-1", "R1", "2026-03-02T10:00:00+08:00", "10 CNY")).unwrap();
    match ledger.submit(&gift("G-0", "R1", "2026-03-01T10:00:00+08:00", "10 CNY")) {
        Err(InputError::OutOfOrder { action, rm, .. }) => {
            assert_eq!((action.as_str(), rm.as_str()), ("G-0", "R1"));
        }
        other => panic!("expected OutOfOrder, got {other:?}"),
    }
    // Another RM may be earlier; the same instant as the clock is fine.
    ledger.submit(&gift("G-9", "R2", "2026-03-01T10:00:00+08:00", "10 CNY")).unwrap();
    ledger.submit(&gift("G-2", "R1", "2026-03-02T02:00:00Z", "10 CNY")).unwrap();
    assert_eq!(ledger.rm_count(), 2);
}

#[test]
fn advance_to_leaves_rms_already_past_that_time() {
    let e = engine(GIFTS);
    let mut ledger = e.ledger();
    ledger.submit(&gift("G-1", "R1", "2026-06-01T10:00:00+08:00", "250 CNY")).unwrap();
    ledger.submit(&gift("G-2", "R2", "2026-03-01T10:00:00+08:00", "250 CNY")).unwrap();
    let reports = ledger.advance_to(ts("2026-05-01T00:00:00+08:00"));
    assert_eq!(duties(&reports), vec![triple("R2", "gift_register", "G-2")]);
    // R1's clock stays at 1 June; R2's moved to 1 May.
    assert!(matches!(
        ledger.submit(&gift("G-3", "R1", "2026-05-15T10:00:00+08:00", "1 CNY")),
        Err(InputError::OutOfOrder { .. })
    ));
    assert!(matches!(
        ledger.submit(&gift("G-4", "R2", "2026-04-15T10:00:00+08:00", "1 CNY")),
        Err(InputError::OutOfOrder { .. })
    ));
    ledger.submit(&gift("G-5", "R2", "2026-05-01T00:00:00+08:00", "1 CNY")).unwrap();
    ledger.submit(&gift("G-6", "R1", "2026-06-01T10:00:00+08:00", "1 CNY")).unwrap();
    // Advancing backwards reports nothing and changes nothing.
    assert!(ledger.advance_to(ts("2026-01-01T00:00:00Z")).is_empty());
    // G-1 falls due on 1 July.
    assert_eq!(duties(&ledger.advance_to(ts("2026-07-02T00:00:00+08:00"))), vec![triple("R1", "gift_register", "G-1")]);
}

#[test]
fn ladder_sanctions_decay_with_the_window() {
    let e = engine(
        "policy d version \"1\" effective 2025-01-01\n\
         action err { sev: one of minor, major }\n\
         rule minor_err cite \"c\" on err when action.sev = \"minor\" then breach minor\n\
         rule major_err cite \"c\" on err when action.sev = \"major\" then breach major\n\
         ladder l window 30 days points minor 1, major 3 step 1 \"coaching\" step 3 \"warning\" step 5 \"final\"\n",
    );
    let mut ledger = e.ledger();
    let mut step = |id: &str, at: &str, sev: &str| {
        let s =
            ledger.submit(&action(json!({"type": "err", "id": id, "at": at, "rm": {"id": "R1"}, "sev": sev}))).unwrap();
        assert_eq!(s.decision.verdict, Verdict::Allow);
        let sanction = &s.decision.sanctions[0];
        (sanction.points, sanction.step.clone(), sanction.previous.clone())
    };
    assert_eq!(step("E-1", "2026-03-01T10:00:00Z", "major"), (3, "warning".into(), None));
    assert_eq!(step("E-2", "2026-03-20T10:00:00Z", "minor"), (4, "warning".into(), Some("warning".into())));
    // Exactly 30 days after E-1: still inside the window.
    assert_eq!(step("E-3", "2026-03-31T10:00:00Z", "minor"), (5, "final".into(), Some("warning".into())));
    // One second later E-1 has decayed: 1 + 1 + 1.
    assert_eq!(step("E-4", "2026-03-31T10:00:01Z", "minor"), (3, "warning".into(), Some("coaching".into())));
    // Much later, only the new breach counts.
    assert_eq!(step("E-5", "2026-09-01T10:00:00Z", "minor"), (1, "coaching".into(), None));
}

#[test]
fn history_loaded_into_the_ledger_counts() {
    let e = engine(GIFTS);
    let mut ledger = e.ledger();
    let history: History = serde_json::from_value(json!({
        "actions": [{"type": "gift_received", "id": "G-0", "at": "2026-01-01T10:00:00+08:00", "rm": {"id": "R1"}, "giver": "A", "value": "300 CNY"}],
        "breaches": [{"rm": "R1", "policy": "gifts", "rule": "gift_register", "severity": "minor", "ladder": "conduct", "at": "2026-01-15T10:00:00+08:00", "action": "G-00"}],
        "obligations": [{"rm": "R1", "policy": "gifts", "duty": "gift_register", "action": "G-0", "due": "2026-01-31T10:00:00+08:00"}]
    }))
    .unwrap();
    ledger.load(&history).unwrap();
    // The loaded obligation is already due: the first advance reports it, stamped at its
    // deadline, with the loaded breach (before the deadline) counted.
    let s = ledger.submit(&gift("G-1", "R1", "2026-03-01T10:00:00+08:00", "10 CNY")).unwrap();
    assert_eq!(duties(&s.overdue), vec![triple("R1", "gift_register", "G-0")]);
    assert_eq!(s.overdue[0].sanctions[0].points, 2);
    assert_eq!(rules(&s.decision), vec!["repeat_offender"]);
    // Breaches and obligations without `rm` cannot be loaded into a ledger.
    let orphan: History = serde_json::from_value(json!({"breaches": [{"policy": "gifts", "rule": "x", "severity": "minor", "at": "2026-02-01T10:00:00Z", "action": "A"}]})).unwrap();
    assert!(matches!(e.ledger().load(&orphan), Err(InputError::Field { .. })));
}

#[test]
fn engine_overdue_is_a_pure_helper() {
    let e = engine(GIFTS);
    let history: History = serde_json::from_value(json!({
        "actions": [
            {"type": "gift_received", "id": "G-1", "at": "2026-03-01T10:00:00+08:00", "rm": {"id": "R1"}, "giver": "A", "value": "300 CNY"},
            {"type": "quick_gift", "id": "Q-1", "at": "2026-03-10T10:00:00+08:00", "rm": {"id": "R2"}}
        ],
        "obligations": [
            {"rm": "R1", "policy": "gifts", "duty": "gift_register", "action": "G-1", "due": "2026-03-31T10:00:00+08:00"},
            {"rm": "R2", "policy": "gifts", "duty": "quick_register", "action": "Q-1", "due": "2026-03-15T10:00:00+08:00"}
        ]
    }))
    .unwrap();
    let at = ts("2026-04-01T00:00:00+08:00");
    let first = e.overdue(&history, at).unwrap();
    assert_eq!(duties(&first), vec![triple("R2", "quick_register", "Q-1"), triple("R1", "gift_register", "G-1")]);
    assert_eq!(e.overdue(&history, at).unwrap(), first, "nothing was recorded");
    assert!(e.overdue(&history, ts("2026-03-15T10:00:00+08:00")).unwrap().is_empty());
}

#[test]
fn an_obligation_keeps_the_policy_version_that_created_it() {
    let v1 = "policy reg version \"1\" effective 2026-01-01 timezone \"Asia/Shanghai\"\n\
              action gift { }\naction registered { gift: text }\naction filed { gift: text }\n\
              duty register cite \"v1\" on gift due within 30 days fulfilled by registered where gift = action.id otherwise breach minor\n\
              ladder conduct window 12 months points minor 1, major 3 step 1 \"v1 verbal\" step 3 \"v1 formal\"\n";
    let v2 = "policy reg version \"2\" effective 2026-03-15 timezone \"Asia/Shanghai\"\n\
              action gift { }\naction registered { gift: text }\naction filed { gift: text }\n\
              duty register cite \"v2\" on gift due within 10 days fulfilled by filed where gift = action.id otherwise deny, breach major\n\
              ladder conduct window 12 months points minor 1, major 3 step 1 \"v2 verbal\" step 3 \"v2 formal\"\n";
    let e = engine_of(&[("v1.probity", v1), ("v2.probity", v2)]);
    let mut ledger = e.ledger();
    let g = |id: &str, at: &str| action(json!({"type": "gift", "id": id, "at": at, "rm": {"id": "R1"}}));
    assert_eq!(
        ledger.submit(&g("G-1", "2026-03-01T10:00:00+08:00")).unwrap().decision.obligations[0].due,
        "2026-03-31T10:00:00+08:00"
    );
    ledger.submit(&g("G-2", "2026-03-02T10:00:00+08:00")).unwrap();
    // Under version 2, a `registered` action still meets version 1's obligation; `filed` does not.
    let filed = action(
        json!({"type": "filed", "id": "F-2", "at": "2026-03-20T10:00:00+08:00", "rm": {"id": "R1"}, "gift": "G-2"}),
    );
    let s = ledger.submit(&filed).unwrap();
    assert_eq!(s.decision.policies[0].version, "2");
    assert!(s.decision.fulfilled.is_empty());
    let registered = action(
        json!({"type": "registered", "id": "R-1", "at": "2026-03-21T10:00:00+08:00", "rm": {"id": "R1"}, "gift": "G-1"}),
    );
    let s = ledger.submit(&registered).unwrap();
    assert_eq!(s.decision.fulfilled.len(), 1);
    // G-2 falls overdue under version 1's `otherwise` and ladder.
    let reports = ledger.advance_to(ts("2026-04-05T00:00:00+08:00"));
    assert_eq!(duties(&reports), vec![triple("R1", "register", "G-2")]);
    assert_eq!(reports[0].findings[0].severity.as_deref(), Some("minor"));
    assert_eq!(*reports[0].findings[0].outcomes, ["breach"]);
    assert_eq!(*reports[0].findings[0].cite, ["v1"]);
    assert_eq!(reports[0].sanctions[0].step, "v1 verbal");
}

#[test]
fn fulfilment_predicates_see_the_later_action_as_bare_names_and_now() {
    let e = engine(
        "policy p version \"1\" effective 2026-01-01\n\
         action loan { amount: money }\n\
         action review_done { loan: text  amount: money }\n\
         duty reviewed cite \"c\" on loan due within 10 days\n\
           fulfilled by review_done where loan = action.id and amount = action.amount and now > action.at + 1 day\n",
    );
    let mut ledger = e.ledger();
    let l = action(
        json!({"type": "loan", "id": "L-1", "at": "2026-03-01T10:00:00Z", "rm": {"id": "R1"}, "amount": "100 CNY"}),
    );
    ledger.submit(&l).unwrap();
    let done = |id: &str, at: &str, amount: &str| {
        action(json!({"type": "review_done", "id": id, "at": at, "rm": {"id": "R1"}, "loan": "L-1", "amount": amount}))
    };
    // Too soon (`now` is the later action's time), then the wrong amount, then right.
    assert!(ledger.submit(&done("D-1", "2026-03-02T09:00:00Z", "100 CNY")).unwrap().decision.fulfilled.is_empty());
    assert!(ledger.submit(&done("D-2", "2026-03-03T09:00:00Z", "99 CNY")).unwrap().decision.fulfilled.is_empty());
    assert_eq!(ledger.submit(&done("D-3", "2026-03-04T09:00:00Z", "100 CNY")).unwrap().decision.fulfilled.len(), 1);
}

#[test]
fn one_action_can_fulfil_several_obligations_listed_in_due_order() {
    let e = engine(
        "policy p version \"1\" effective 2026-01-01\n\
         action a { }\naction b { }\naction filed { }\n\
         duty slow cite \"c\" on a due within 20 days fulfilled by filed\n\
         duty fast cite \"c\" on b due within 5 days fulfilled by filed\n",
    );
    let mut ledger = e.ledger();
    let at = |t: &str, id: &str, when: &str| action(json!({"type": t, "id": id, "at": when, "rm": {"id": "R1"}}));
    ledger.submit(&at("a", "A-1", "2026-03-01T10:00:00Z")).unwrap();
    ledger.submit(&at("b", "B-1", "2026-03-02T10:00:00Z")).unwrap();
    ledger.submit(&at("a", "A-2", "2026-03-02T10:00:00Z")).unwrap();
    let s = ledger.submit(&at("filed", "F-1", "2026-03-03T10:00:00Z")).unwrap();
    let met: Vec<(&str, &str)> = s.decision.fulfilled.iter().map(|f| (f.duty.as_str(), f.action.as_str())).collect();
    assert_eq!(met, vec![("fast", "B-1"), ("slow", "A-1"), ("slow", "A-2")]);
    assert!(ledger.advance_to(ts("2027-01-01T00:00:00Z")).is_empty());
    assert!(ledger.submit(&at("filed", "F-2", "2027-01-02T10:00:00Z")).unwrap().decision.fulfilled.is_empty());
}

#[test]
fn the_ledger_records_actions_whatever_their_verdict() {
    let e = engine(
        "policy p version \"1\" effective 2026-01-01\n\
         action sale { }\n\
         rule burst cite \"c\" on sale let n = count(sale within 1 day) when n >= 1 then deny message \"{n}\"\n",
    );
    let mut ledger = e.ledger();
    let sale = |id: &str, at: &str| action(json!({"type": "sale", "id": id, "at": at, "rm": {"id": "R1"}}));
    assert_eq!(ledger.submit(&sale("S-1", "2026-03-01T10:00:00Z")).unwrap().decision.verdict, Verdict::Allow);
    assert_eq!(ledger.submit(&sale("S-2", "2026-03-01T11:00:00Z")).unwrap().decision.verdict, Verdict::Deny);
    // The denied S-2 was recorded too.
    assert_eq!(ledger.submit(&sale("S-3", "2026-03-01T12:00:00Z")).unwrap().decision.findings[0].message, "2");
    // `evaluate` records nothing.
    let d = e.evaluate(&sale("S-4", "2026-03-01T13:00:00Z"), &History::new()).unwrap();
    assert_eq!(d.verdict, Verdict::Allow);
}

#[test]
fn memory_stays_bounded_by_the_longest_window() {
    let e = engine(
        "policy m version \"1\" effective 2020-01-01\n\
         action sale { n: int }\n\
         action reg { ref: text }\n\
         rule busy cite \"c\" on sale when count(sale within 30 days) > 100000 then review\n\
         rule flagged cite \"c\" on sale when action.n = 0 then breach minor\n\
         duty follow_up cite \"c\" on sale when action.n = 1 due within 7 days fulfilled by reg where ref = action.id otherwise breach minor\n\
         ladder l window 30 days points minor 1 step 1000000 \"never\"\n",
    );
    let mut ledger = e.ledger();
    let start = ts("2021-01-01T00:00:00Z");
    let mut overdue = 0usize;
    let mut fulfilled = 0usize;
    let mut max_retained = 0usize;
    for i in 0..20_000i64 {
        // One sale every two hours: about four and a half years.
        let at = start + chrono::TimeDelta::hours(2 * i);
        let id = format!("S-{i}");
        let sale = action(json!({"type": "sale", "id": id, "at": at.to_rfc3339(), "rm": {"id": "R1"}, "n": i % 10}));
        let s = ledger.submit(&sale).unwrap();
        overdue += s.overdue.len();
        assert!(s.decision.findings.iter().all(|f| f.kind != FindingKind::Error));
        assert!(s.decision.sanctions.is_empty(), "no step is reached, so no sanction entry");
        // Register every other follow-up, a day later (submitted with the next sales' clock).
        if i % 10 == 1 && i % 20 == 1 {
            let reg_at = at + chrono::TimeDelta::minutes(30);
            let reg = action(
                json!({"type": "reg", "id": format!("R-{i}"), "at": reg_at.to_rfc3339(), "rm": {"id": "R1"}, "ref": id}),
            );
            fulfilled += ledger.submit(&reg).unwrap().decision.fulfilled.len();
        }
        max_retained = max_retained.max(ledger.retained_items());
        if i == 1_000 || i == 19_999 {
            // ~372 sales in 31 days, ~37 breaches, a few dozen obligations.
            assert!(ledger.retained_items() < 700, "retained {} at {i}", ledger.retained_items());
        }
    }
    assert!(max_retained < 700, "retained up to {max_retained}");
    assert_eq!(fulfilled, 1_000);
    // 2,000 follow-ups, 1,000 met; all but the last few days' are reported.
    assert!((990..=1_000).contains(&overdue), "{overdue} overdue reports");
    assert_eq!(ledger.rm_count(), 1);
}

/// A deterministic sequence of events for two RMs.
fn events() -> Vec<Json> {
    let mut seed: u64 = 0x5eed;
    let mut next = |n: u64| {
        seed = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        (seed >> 33) % n
    };
    let mut at = ts("2026-01-01T09:00:00+08:00");
    let mut gifts: Vec<Vec<String>> = vec![Vec::new(), Vec::new()];
    let mut out = Vec::new();
    for i in 0..160 {
        at += chrono::TimeDelta::hours(i64::try_from(next(60)).unwrap()); // sometimes zero: equal timestamps
        let r = usize::try_from(next(2)).unwrap();
        let rm = ["R1", "R2"][r];
        let id = format!("E-{i}");
        let event = if next(3) == 0 && !gifts[r].is_empty() {
            let which = usize::try_from(next(u64::try_from(gifts[r].len()).unwrap() + 1)).unwrap();
            let target = gifts[r].get(which).cloned().unwrap_or_else(|| "nothing".into());
            json!({"type": "gift_registered", "id": id, "at": at.to_rfc3339(), "rm": {"id": rm}, "gift": target})
        } else {
            gifts[r].push(id.clone());
            let value = ["50 CNY", "250 CNY", "800.50 CNY"][usize::try_from(next(3)).unwrap()];
            let kind = if next(8) == 0 { "cash" } else { "goods" };
            let giver = ["ACME", "BETA"][usize::try_from(next(2)).unwrap()];
            json!({"type": "gift_received", "id": id, "at": at.to_rfc3339(), "rm": {"id": rm}, "giver": giver, "kind": kind, "value": value})
        };
        out.push(event);
    }
    out
}

const EQUIVALENCE: &str = r#"policy gifts version "1" effective 2025-01-01 timezone "Asia/Shanghai"
action gift_received { giver: text  kind: one of cash, goods  value: money }
action gift_registered { gift: text }
rule cash_gift cite "c" on gift_received when action.kind = "cash" then deny, breach major
rule annual_total cite "c" on gift_received
  let total = sum(gift_received.value where giver = action.giver within 12 months) + action.value
  when total > 1000 CNY then review message "{total}"
rule repeat_offender cite "c" on gift_received when count(breach within 90 days) >= 2 then review, escalate "compliance"
duty gift_register cite "c" on gift_received when action.value >= 200 CNY due within 30 days
  fulfilled by gift_registered where gift = action.id otherwise breach minor, escalate "compliance"
ladder conduct window 6 months points minor 1, major 3 step 1 "verbal warning" step 3 "formal warning" step 6 "suspension"
"#;

/// What the caller of `Engine::evaluate` would keep for one RM.
#[derive(Default)]
struct Model {
    actions: Vec<Action>,
    breaches: Vec<HistoryBreach>,
    /// Open obligations, and whether each was reported overdue.
    obligations: Vec<(HistoryObligation, bool)>,
}

impl Model {
    fn history(&self, only_unreported: bool) -> History {
        History {
            actions: self.actions.clone(),
            breaches: self.breaches.clone(),
            obligations: self
                .obligations
                .iter()
                .filter(|(_, reported)| !only_unreported || !reported)
                .map(|(o, _)| o.clone())
                .collect(),
        }
    }

    fn record_breaches(&mut self, rm: &str, findings: &[Finding], at: &str, action: &str) {
        for f in findings.iter().filter(|f| f.severity.is_some()) {
            self.breaches.push(HistoryBreach {
                rm: Some(rm.into()),
                policy: f.policy.to_string(),
                rule: f.rule.to_string(),
                severity: f.severity.clone().unwrap().to_string(),
                ladder: f.ladder.as_ref().map(ToString::to_string),
                at: at.into(),
                action: action.into(),
                points: None,
            });
        }
    }
}

#[test]
fn a_ledger_fed_in_order_decides_like_evaluate_with_the_equivalent_history() {
    let e = engine(EQUIVALENCE);
    let mut ledger = e.ledger();
    let mut models: std::collections::HashMap<String, Model> = std::collections::HashMap::new();
    let (mut findings, mut fulfilled, mut overdue, mut sanctions) = (0, 0, 0, 0);
    for event in events() {
        let a = action(event);
        let rm = a.rm().to_string();
        let model = models.entry(rm.clone()).or_default();
        // The pure helper agrees with the ledger's implicit advance...
        let expected_overdue = e.overdue(&model.history(true), a.at()).unwrap();
        // ...and `evaluate` with everything the RM did before agrees with the ledger's decision.
        let expected = e.evaluate(&a, &model.history(false)).unwrap();
        let s = ledger.submit(&a).unwrap();
        assert_eq!(s.overdue, expected_overdue, "overdue before {}", a.id());
        for report in &s.overdue {
            let action = report.obligation.action.clone().unwrap_or_default();
            model.record_breaches(&rm, &report.findings, &report.at, &action);
            for (o, reported) in &mut model.obligations {
                if o.action == action && o.duty == report.obligation.duty {
                    *reported = true;
                }
            }
        }
        // The overdue breaches are part of the history the decision reads.
        let expected = if s.overdue.is_empty() { expected } else { e.evaluate(&a, &model.history(false)).unwrap() };
        assert_eq!(s.decision, expected, "decision on {}", a.id());
        assert_eq!(s.decision.to_json(), expected.to_json());
        findings += s.decision.findings.len();
        fulfilled += s.decision.fulfilled.len();
        overdue += s.overdue.len();
        sanctions += s.decision.sanctions.len();
        // Record what happened, as a caller of `evaluate` would.
        let d = &s.decision;
        model.record_breaches(&rm, &d.findings, &d.at, &d.action);
        model.obligations.retain(|(o, _)| !d.fulfilled.iter().any(|f| f.action == o.action && f.duty == o.duty));
        for o in &d.obligations {
            model.obligations.push((
                HistoryObligation {
                    rm: Some(rm.clone()),
                    policy: o.policy.to_string(),
                    duty: o.duty.to_string(),
                    action: o.action.as_deref().unwrap_or("").to_string(),
                    due: o.due.to_string(),
                    version: None,
                },
                false,
            ));
        }
        model.actions.push(a);
    }
    // The sequence exercises every path.
    assert!(
        findings > 10 && fulfilled > 3 && overdue > 3 && sanctions > 3,
        "{findings} {fulfilled} {overdue} {sanctions}"
    );
}

#[test]
fn a_late_fulfilment_closes_an_overdue_obligation_even_without_windows() {
    let set = probity::PolicySet::from_sources([(
        "late.probity",
        "policy late version \"1\" effective 2026-01-01\naction g { }\naction r { gift: text }\n\
         duty reg \"Registered\" cite \"x\" on g due within 30 days fulfilled by r where gift = action.id\n",
    )])
    .unwrap();
    let engine = probity::Engine::new(set);
    let mut ledger = engine.ledger();
    let g =
        probity::Action::from_json(r#"{"type":"g","id":"G1","at":"2026-03-01T00:00:00Z","rm":{"id":"R"}}"#).unwrap();
    ledger.submit(&g).unwrap();
    let r =
        probity::Action::from_json(r#"{"type":"r","id":"R1","at":"2026-04-10T00:00:00Z","rm":{"id":"R"},"gift":"G1"}"#)
            .unwrap();
    let submission = ledger.submit(&r).unwrap();
    assert_eq!(submission.overdue.len(), 1);
    assert_eq!(submission.decision.fulfilled.len(), 1);
    assert_eq!(ledger.open_obligations(), (0, 0));
}

#[test]
fn ledger_evaluate_is_a_what_if_that_records_nothing() {
    let e = engine(GIFTS);
    let mut ledger = e.ledger();
    ledger.submit(&gift("G-1", "R1", "2026-03-01T10:00:00+08:00", "250 CNY")).unwrap();
    // A registration after the deadline: the what-if sees the overdue report's breach…
    let late = register("GR-1", "R1", "2026-03-31T10:00:01+08:00", "G-1");
    let what_if = ledger.evaluate(&late).unwrap();
    assert_eq!(what_if.fulfilled.len(), 1);
    assert_eq!(what_if.sanctions.len(), 0, "registering earns no sanction itself");
    // …but leaves the ledger as it was: the same what-if again, then the real thing, agree.
    assert_eq!(ledger.evaluate(&late).unwrap(), what_if);
    let next_gift = gift("G-2", "R1", "2026-03-31T10:00:02+08:00", "10 CNY");
    let gift_what_if = ledger.evaluate(&next_gift).unwrap();
    assert_eq!(rules(&gift_what_if), vec!["repeat_offender"], "the breach the advance records counts");
    let s = ledger.submit(&late).unwrap();
    assert_eq!(s.overdue.len(), 1, "evaluate reported nothing and marked nothing reported");
    assert_eq!(s.decision, what_if);
    assert_eq!(ledger.submit(&next_gift).unwrap().decision, gift_what_if);
}

#[test]
fn ledger_evaluate_checks_time_order_and_knows_new_rms() {
    let e = engine(GIFTS);
    let mut ledger = e.ledger();
    ledger.submit(&gift("G-1", "R1", "2026-03-02T10:00:00+08:00", "10 CNY")).unwrap();
    assert!(matches!(
        ledger.evaluate(&gift("G-0", "R1", "2026-03-01T10:00:00+08:00", "10 CNY")),
        Err(InputError::OutOfOrder { .. })
    ));
    let fresh = gift("G-9", "R2", "2026-03-01T10:00:00+08:00", "250 CNY");
    let d = ledger.evaluate(&fresh).unwrap();
    assert_eq!(d, e.evaluate(&fresh, &History::new()).unwrap());
    assert_eq!(d.obligations.len(), 1);
    assert_eq!(ledger.rm_count(), 1, "an RM seen only by evaluate is not added");
}
