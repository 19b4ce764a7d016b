//! One RM with dense history, and many RMs that hold nothing (issue 15, "Unbounded work"): the
//! results at tens of thousands of items, and what an idle RM keeps. Behaviour only — the work per
//! event is pinned to the plain computation by the property test beside the indexes
//! (`ledger::tests`), and the timings are in docs/performance.md.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    clippy::arithmetic_side_effects
)]

mod common;

use chrono::{DateTime, FixedOffset, TimeDelta};
use common::*;
use probity::*;
use serde_json::json;

const DENSE: &str = r#"policy dense "Dense history"
  version "1"
  effective 2026-01-01
  timezone "UTC"

action gift {
  customer: text
  value: money
}

action registered {
  gift: text
}

ladder conduct
  window 12 months
  points minor 1
  step 3 "warning"

rule gift_cap "Gifts to one customer stay under 1,000 CNY a year"
  cite "c"
  on gift
  when sum(gift.value where customer = action.customer within 12 months) + action.value > 1000 CNY
  then review

duty register "Gifts are registered"
  cite "c"
  on gift
  due within 30 days
  fulfilled by registered where gift = action.id
  otherwise breach minor
"#;

fn start() -> DateTime<FixedOffset> {
    DateTime::parse_from_rfc3339("2026-02-01T00:00:00Z").unwrap()
}

fn at(seconds: i64) -> String {
    (start() + TimeDelta::seconds(seconds)).to_rfc3339()
}

fn gift(id: &str, rm: &str, t: i64, customer: &str, value: &str) -> Action {
    action(json!({"type": "gift", "id": id, "at": at(t), "rm": {"id": rm}, "customer": customer, "value": value}))
}

fn registered(id: &str, rm: &str, t: i64, gift: Option<&str>) -> Action {
    let mut v = json!({"type": "registered", "id": id, "at": at(t), "rm": {"id": rm}});
    if let Some(g) = gift {
        v["gift"] = json!(g);
    }
    action(v)
}

fn fired(d: &Decision) -> Vec<&str> {
    d.findings.iter().map(|f| &*f.rule).collect()
}

/// 40,000 gifts to distinct customers, one a minute, with every 100th to one customer at 100 CNY:
/// the cap fires from that customer's eleventh gift on, and for no one else.
#[test]
fn a_sum_with_where_over_40000_gifts_reads_only_the_customers_gifts() {
    let engine = engine(DENSE);
    let mut ledger = engine.ledger();
    let mut reviewed = Vec::new();
    for i in 0..40_000i64 {
        let (customer, value) = if i % 100 == 0 { ("HOT".to_string(), "100 CNY") } else { (format!("C{i}"), "10 CNY") };
        let s = ledger.submit(&gift(&format!("G{i}"), "R1", i * 60, &customer, value)).unwrap();
        assert_eq!(s.decision.obligations.len(), 1);
        if fired(&s.decision) == ["gift_cap"] {
            reviewed.push(i);
        } else {
            assert!(s.decision.findings.is_empty(), "G{i}: {:?}", s.decision.findings);
        }
    }
    // The k-th gift to HOT (from 0) makes 100 k + 100 CNY: over 1,000 from k = 10.
    assert_eq!(reviewed, (10..400).map(|k| k * 100).collect::<Vec<i64>>());
    assert_eq!(ledger.retained_items(), 80_000, "40,000 gifts in the window and their obligations");
}

/// A customer's gifts that fall out of the 12-month window stop counting, though the index
/// holds other customers' gifts at every instant between.
#[test]
fn the_indexed_window_drops_what_the_plain_one_drops() {
    let engine = engine(DENSE);
    let mut ledger = engine.ledger();
    let year = 366 * 86_400;
    for i in 0..10i64 {
        ledger.submit(&gift(&format!("H{i}"), "R1", i, "HOT", "100 CNY")).unwrap();
    }
    for i in 0..2_000i64 {
        ledger.submit(&gift(&format!("G{i}"), "R1", 10 + i * (year / 2_000), &format!("C{i}"), "10 CNY")).unwrap();
    }
    let d = ledger.evaluate(&gift("H-late", "R1", year + 20, "HOT", "100 CNY")).unwrap();
    assert!(d.findings.is_empty(), "the ten early gifts are out of the window: {:?}", d.findings);
    let fresh = engine.ledger().evaluate(&gift("H-late", "R1", year + 20, "HOT", "100 CNY")).unwrap();
    assert_eq!(d.findings, fresh.findings);
}

/// 40,000 open obligations and 2,000 registrations that meet none of them: none is met and
/// every one stays open; then two that match meet exactly theirs, in deadline order.
#[test]
fn non_matching_fulfilments_leave_40000_obligations_open() {
    let engine = engine(DENSE);
    let mut ledger = engine.ledger();
    let n = 40_000i64;
    for i in 0..n {
        ledger.submit(&gift(&format!("G{i}"), "R1", i * 30, &format!("C{i}"), "10 CNY")).unwrap();
    }
    for i in 0..2_000i64 {
        let s = ledger.submit(&registered(&format!("X{i}"), "R1", n * 30 + i, Some(&format!("NOPE{i}")))).unwrap();
        assert!(s.decision.fulfilled.is_empty() && s.decision.findings.is_empty());
    }
    assert_eq!(ledger.open_obligations(), (40_000, 0));
    let s = ledger.submit(&registered("Y1", "R1", n * 30 + 2_000, Some("G39999"))).unwrap();
    let met: Vec<&str> = s.decision.fulfilled.iter().map(|f| &*f.action).collect();
    assert_eq!(met, ["G39999"]);
    assert_eq!(ledger.open_obligations(), (39_999, 0));
    // Advancing past every deadline reports the rest once each, in deadline order.
    let reports = ledger.advance_to(start() + TimeDelta::days(200));
    assert_eq!(reports.len(), 39_999);
    let actions: Vec<String> =
        reports.iter().map(|r| r.obligation.action.as_deref().unwrap_or("").to_string()).collect();
    assert_eq!(actions, (0..39_999).map(|i| format!("G{i}")).collect::<Vec<String>>());
    assert!(ledger.advance_to(start() + TimeDelta::days(201)).is_empty());
}

/// A registration without the field the equality reads cannot be looked up: it still tries every
/// obligation, and each gives its error finding (fail closed), as without the index.
#[test]
fn a_fulfilment_without_its_key_still_tries_every_obligation() {
    let engine = engine(DENSE);
    let mut ledger = engine.ledger();
    for i in 0..3i64 {
        ledger.submit(&gift(&format!("G{i}"), "R1", i, &format!("C{i}"), "10 CNY")).unwrap();
    }
    let s = ledger.submit(&registered("X", "R1", 10, None)).unwrap();
    assert!(s.decision.fulfilled.is_empty());
    let errors: Vec<(&str, FindingKind)> = s.decision.findings.iter().map(|f| (&*f.rule, f.kind)).collect();
    assert_eq!(errors, vec![("register", FindingKind::Error); 3]);
    assert_eq!(s.decision.verdict, Verdict::Review);
}

/// `Engine::evaluate` with a seeded history of 20,000 gifts and 20,000 open obligations: the
/// decision reads the customer's gifts and meets the one obligation it names.
#[test]
fn a_seeded_dense_history_decides_as_the_ledger_does() {
    let engine = engine(DENSE);
    let mut history = History::new();
    let mut ledger = engine.ledger();
    for i in 0..20_000i64 {
        let customer = if i % 1_000 == 0 { "HOT".to_string() } else { format!("C{i}") };
        let g = gift(&format!("G{i}"), "R1", i * 60, &customer, "100 CNY");
        ledger.submit(&g).unwrap();
        history.actions.push(g);
        history.obligations.push(HistoryObligation {
            rm: None,
            policy: "dense".into(),
            duty: "register".into(),
            action: format!("G{i}"),
            due: at(i * 60 + 30 * 86_400),
            version: None,
        });
    }
    let next = registered("Y", "R1", 20_000 * 60, Some("G777"));
    let pure = engine.evaluate(&next, &history).unwrap();
    assert_eq!(pure.fulfilled.iter().map(|f| &*f.action).collect::<Vec<_>>(), ["G777"]);
    assert_eq!(pure, ledger.evaluate(&next).unwrap());
    let hot = gift("G-hot", "R1", 20_000 * 60, "HOT", "100 CNY");
    let pure = engine.evaluate(&hot, &history).unwrap();
    assert_eq!(fired(&pure), ["gift_cap"], "twenty gifts of 100 CNY to HOT before it");
    assert_eq!(pure.findings, ledger.evaluate(&hot).unwrap().findings);
}

/// 10,000 RMs that each did something no window reads hold nothing: each keeps its clock, not a
/// history.
#[test]
fn rms_that_hold_nothing_keep_only_their_clock() {
    let engine = engine(DENSE);
    let mut ledger = engine.ledger();
    for r in 0..10_000i64 {
        ledger.submit(&registered(&format!("X{r}"), &format!("R{r}"), r, Some("none"))).unwrap();
    }
    assert_eq!((ledger.rm_count(), ledger.active_rm_count(), ledger.retained_items()), (10_000, 0, 0));
    // RMs with gifts hold them (and their obligations) until the windows pass them by.
    for r in 0..1_000i64 {
        ledger.submit(&gift(&format!("G{r}"), &format!("R{r}"), 20_000 + r, "C", "10 CNY")).unwrap();
    }
    assert_eq!(ledger.active_rm_count(), 1_000);
    let reports = ledger.advance_to(start() + TimeDelta::days(40));
    assert_eq!(reports.len(), 1_000, "each gift's registration is overdue");
    assert_eq!(ledger.active_rm_count(), 1_000, "the breaches count on the ladder for 12 months");
    ledger.advance_to(start() + TimeDelta::days(800));
    assert_eq!((ledger.rm_count(), ledger.active_rm_count(), ledger.retained_items()), (10_000, 0, 0));
}

/// An RM reduced to its clock still refuses an action older than what it decided, and decides a
/// later one as a ledger that never held it would.
#[test]
fn an_idle_rm_keeps_its_clock() {
    let engine = engine(DENSE);
    let mut ledger = engine.ledger();
    ledger.submit(&registered("X1", "R1", 1_000, Some("none"))).unwrap();
    assert_eq!(ledger.active_rm_count(), 0);
    let older = registered("X0", "R1", 999, Some("none"));
    assert!(matches!(ledger.submit(&older), Err(InputError::OutOfOrder { .. })));
    assert!(matches!(ledger.evaluate(&older), Err(InputError::OutOfOrder { .. })));
    // An advance moves an idle RM's clock too.
    ledger.advance_to(start() + TimeDelta::seconds(5_000));
    assert!(matches!(ledger.submit(&registered("X2", "R1", 4_999, None)), Err(InputError::OutOfOrder { .. })));
    let later = gift("G1", "R1", 5_000, "C", "2000 CNY");
    let fresh = engine.ledger().submit(&later).unwrap();
    assert_eq!(ledger.submit(&later).unwrap(), fresh);
    assert_eq!(ledger.active_rm_count(), 1);
    // Equal to the clock is in order.
    assert!(ledger.submit(&registered("X3", "R1", 5_000, Some("G1"))).is_ok());
}

/// 20,000 missed registrations on one RM: the ladder's points over the year are the breaches'
/// count, read from running totals, and a breach that falls out of the window stops counting.
#[test]
fn twenty_thousand_breaches_are_totalled_by_ladder() {
    let source = format!(
        "{DENSE}
rule heavy \"Heavy points\"
  cite \"c\"
  on registered
  let total = sum(breach.points where ladder = \"conduct\" within 12 months)
  let missed = count(breach where rule = \"register\" within 12 months)
  when total >= 3
  then review
  message \"{{total}} points, {{missed}} missed\"
"
    );
    let engine = engine(&source);
    let mut ledger = engine.ledger();
    for i in 0..20_000i64 {
        ledger.submit(&gift(&format!("G{i}"), "R1", i * 60, &format!("C{i}"), "1 CNY")).unwrap();
    }
    assert_eq!(ledger.advance_to(start() + TimeDelta::days(60)).len(), 20_000);
    let message = |t: i64| {
        let d = ledger.evaluate(&registered("Y", "R1", t, Some("none"))).unwrap();
        d.findings.iter().map(|f| f.message.to_string()).collect::<Vec<String>>()
    };
    assert_eq!(message(60 * 86_400), ["20000 points, 20000 missed"]);
    // The first breach was due 30 days after the first gift, stamped then; a year and a minute
    // later, the first breach is out of the window.
    let year = 365 * 86_400;
    assert_eq!(message(30 * 86_400 + year + 60), ["19999 points, 19999 missed"]);
}
