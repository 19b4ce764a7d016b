//! The durable ledger over a store (the in-memory one): batches commit all or nothing, a re-run
//! of a committed batch returns the recorded decisions, and snapshots pass through the JSON API.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    clippy::arithmetic_side_effects
)]

use probity::api::{self, text};
use probity::store::{MemoryStore, Store};
use probity::{Action, DurableLedger, Engine, PolicySet};

const POLICY: &str = r#"policy gifts "Gifts"
  version "1"
  effective 2026-01-01
  timezone "UTC"

action gift {
  value: money
}

action registered {
  gift: text
}

ladder conduct
  window 30 days
  points minor 1
  step 1 "warning"

duty register "Gifts are registered"
  cite "c"
  on gift
  due within 1 days
  fulfilled by registered where gift = action.id
  otherwise breach minor
"#;

fn engine() -> Engine {
    Engine::new(PolicySet::from_sources([("gifts.probity", POLICY)]).unwrap())
}

fn gift(id: &str, rm: &str, at: &str) -> Action {
    Action::from_json(&format!(
        r#"{{"type": "gift", "id": "{id}", "at": "{at}", "rm": {{"id": "{rm}"}}, "value": "5 CNY"}}"#
    ))
    .unwrap()
}

fn records(results: &[Result<probity::Submission, probity::InputError>]) -> Vec<String> {
    let mut out = Vec::new();
    for r in results {
        let s = r.as_ref().unwrap();
        out.extend(s.overdue.iter().map(|o| o.to_json()));
        out.push(s.decision.to_json());
    }
    out
}

#[test]
fn a_batch_split_and_rerun_gives_one_runs_records_and_reports_nothing_twice() {
    let engine = engine();
    let batch1 = [gift("G1", "R1", "2026-03-01T00:00:00Z"), gift("G2", "R2", "2026-03-01T00:00:00Z")];
    // Two days on: both gifts' duties fall overdue, reported with R1's next gift.
    let batch2 = [gift("G3", "R1", "2026-03-03T00:00:00Z")];
    let mut one = engine.ledger();
    let whole: Vec<_> = batch1.iter().chain(&batch2).map(|a| one.submit(a)).collect();
    let mut store = MemoryStore::new();
    let mut ledger = DurableLedger::new(&engine, &mut store);
    let first = ledger.submit_batch(&batch1).unwrap();
    let second = ledger.submit_batch(&batch2).unwrap();
    let mut got = records(&first);
    got.extend(records(&second));
    assert_eq!(got, records(&whole));
    assert!(records(&second)[0].contains("\"overdue\""), "{:?}", records(&second));
    // The second batch again: the recorded decisions, the overdue report not made again.
    let again = ledger.submit_batch(&batch2).unwrap();
    let decisions = |r: &[String]| r.iter().filter(|l| !l.contains("\"obligation\":{")).cloned().collect::<Vec<_>>();
    assert_eq!(records(&again), decisions(&records(&second)));
    assert_eq!(records(&again).len(), 1);
    let state = ledger.load().unwrap();
    assert_eq!(state.snapshot().to_json(), one.snapshot().to_json());
    // G1 reported overdue (R2 was not advanced); G2 and G3 still open.
    assert_eq!(state.open_obligations(), (2, 1));
}

#[test]
fn a_batch_dropped_before_its_commit_leaves_the_previous_state() {
    let engine = engine();
    let mut store = MemoryStore::new();
    DurableLedger::new(&engine, &mut store).submit_batch(&[gift("G1", "R1", "2026-03-01T00:00:00Z")]).unwrap();
    let before = DurableLedger::new(&engine, &mut store).load().unwrap().snapshot().to_json();
    {
        // A transaction that writes a changed state and is dropped (a crash before the commit).
        let mut tx = store.transaction().unwrap();
        let mut state = tx.read_rm("R1").unwrap().unwrap();
        state.blob = b"{}".to_vec();
        tx.upsert_rm("R1", &state).unwrap();
    }
    assert_eq!(DurableLedger::new(&engine, &mut store).load().unwrap().snapshot().to_json(), before);
    // A damaged state is a store error (S0007), not a panic.
    let mut tx = store.transaction().unwrap();
    let mut state = tx.read_rm("R1").unwrap().unwrap();
    state.blob = br#"{"format": 7}"#.to_vec();
    tx.upsert_rm("R1", &state).unwrap();
    tx.commit().unwrap();
    let e =
        DurableLedger::new(&engine, &mut store).submit_batch(&[gift("G2", "R1", "2026-03-02T00:00:00Z")]).unwrap_err();
    assert_eq!(e.code(), "S0007", "{e}");
    assert!(e.to_string().contains("format 7"), "{e}");
}

#[test]
fn snapshot_and_restore_through_the_json_interface() {
    let engine = engine();
    let mut ledger = engine.ledger();
    ledger.submit(&gift("G1", "R1", "2026-03-01T00:00:00Z")).unwrap();
    let snapshot = text::snapshot(&ledger);
    let parsed: serde_json::Value = serde_json::from_str(&snapshot).unwrap();
    assert_eq!(parsed["format"], 1);
    assert_eq!(parsed["policies"][0]["id"], "gifts");
    assert!(parsed["policies"][0]["digest"].as_str().unwrap().starts_with("sha256:"));
    let mut other = engine.ledger();
    let request = serde_json::json!({ "snapshot": parsed }).to_string();
    assert_eq!(text::restore(&mut other, &request).unwrap(), "null");
    assert_eq!(text::snapshot(&other), snapshot);
    // Again: the RM is already there.
    let snapshot_value = serde_json::value::to_raw_value(&parsed).unwrap();
    let e = api::restore(&mut other, api::RestoreRequest { snapshot: snapshot_value }).unwrap_err();
    assert_eq!(e.code, "I0015");
    let e = text::restore(&mut other, r#"{"snapshot": {"format": 2}}"#).unwrap_err();
    assert!(e.contains("I0013"), "{e}");
    // The snapshot as text, read as it is: the same state; text that is not a snapshot is I0013.
    let mut third = engine.ledger();
    api::restore_json(&mut third, &snapshot).unwrap();
    assert_eq!(text::snapshot(&third), snapshot);
    assert_eq!(api::restore_json(&mut third, &snapshot).unwrap_err().code, "I0015");
    for bad in ["", "{", "[]", r#"{"format": 1}"#] {
        assert_eq!(api::restore_json(&mut engine.ledger(), bad).unwrap_err().code, "I0013", "{bad}");
    }
}

/// Version 2 of the policy, in force from 2026-03-10: gifts are registered within 2 days.
fn with_version_2() -> Engine {
    let v2 = POLICY
        .replace("version \"1\"", "version \"2\"")
        .replace("effective 2026-01-01", "effective 2026-03-10")
        .replace("due within 1 days", "due within 2 days");
    Engine::new(PolicySet::from_sources([("gifts.probity", POLICY), ("gifts-2.probity", &v2)]).unwrap())
}

/// A state built under version 1 continues under a set that adds version 2 (a new file with a
/// later `effective`): every RM's state is kept, an obligation opened under version 1 keeps
/// its deadline and is still reported, and the records are those of a ledger that had both
/// versions from the start (version 2 decides only what comes from its day on).
#[test]
fn a_new_policy_version_over_an_existing_state_keeps_every_rms_state() {
    let before = [gift("G1", "R1", "2026-03-08T00:00:00Z"), gift("G2", "R2", "2026-03-09T12:00:00Z")];
    let after = [gift("G3", "R1", "2026-03-10T06:00:00Z"), gift("G4", "R2", "2026-03-12T00:00:00Z")];
    let mut store = MemoryStore::new();
    let first = DurableLedger::new(&engine(), &mut store).submit_batch(&before).unwrap();
    let later = with_version_2();
    let second = DurableLedger::new(&later, &mut store).submit_batch(&after).unwrap();
    let mut got = records(&first);
    got.extend(records(&second));
    let mut one = later.ledger();
    let whole: Vec<_> = before.iter().chain(&after).map(|a| one.submit(a)).collect();
    assert_eq!(got, records(&whole));
    // G1's duty (version 1, due 2026-03-09) is reported with R1's next gift; G3 is decided by
    // version 2 and gets its two days.
    assert!(got.iter().any(|r| r.contains("\"action\":\"G1\"") && r.contains("\"version\":\"1\"")), "{got:?}");
    let g3 = second[0].as_ref().unwrap();
    assert_eq!(g3.decision.policies[0].version, "2");
    assert_eq!(g3.decision.obligations[0].due, "2026-03-12T06:00:00Z");
    let state = DurableLedger::new(&later, &mut store).load().unwrap();
    assert_eq!(state.snapshot().to_json(), one.snapshot().to_json());
    // The state names both versions now.
    let mut tx = store.transaction().unwrap();
    let policies = tx.meta(probity::META_POLICIES).unwrap().unwrap();
    assert!(policies.contains("\"version\":\"1\"") && policies.contains("\"version\":\"2\""), "{policies}");
}

/// Advancing a durable ledger reports what fell overdue once, commits it, and a second advance
/// to the same instant reports nothing; the state equals an in-memory ledger's.
#[test]
fn a_durable_advance_reports_once_and_commits() {
    let engine = engine();
    let mut store = MemoryStore::new();
    let gifts = [gift("G1", "R1", "2026-03-01T00:00:00Z"), gift("G2", "R2", "2026-03-01T12:00:00Z")];
    DurableLedger::new(&engine, &mut store).submit_batch(&gifts).unwrap();
    let at = chrono::DateTime::parse_from_rfc3339("2026-03-03T00:00:00Z").unwrap();
    let reports = DurableLedger::new(&engine, &mut store).advance_to(at).unwrap();
    let mut one = engine.ledger();
    gifts.iter().for_each(|g| drop(one.submit(g).unwrap()));
    let expected = one.advance_to(at);
    assert_eq!(reports, expected);
    assert_eq!(reports.len(), 2);
    assert!(DurableLedger::new(&engine, &mut store).advance_to(at).unwrap().is_empty());
    let state = DurableLedger::new(&engine, &mut store).load().unwrap();
    assert_eq!(state.snapshot().to_json(), one.snapshot().to_json());
}

/// A recorded decision's evidence is in evaluation order (`action.value` before `action.kind`):
/// a snapshot restored through the JSON interface, as text, keeps it, so a retry after the
/// restore answers the decision byte for byte as it was first given.
#[test]
fn a_snapshot_through_the_json_interface_keeps_the_evidence_order() {
    let source = r#"policy gifts "Gifts"
  version "1"
  effective 2026-01-01
  timezone "UTC"

action gift {
  value: money
  kind: one of cash, goods
}

rule big_goods "Big gifts of goods"
  cite "c"
  on gift
  when action.value >= 200 CNY and action.kind = "goods"
  then review
"#;
    let engine = Engine::new(PolicySet::from_sources([("gifts.probity", source)]).unwrap());
    let mut ledger = engine.ledger();
    let action = Action::from_json(
        r#"{"type": "gift", "id": "G1", "at": "2026-03-01T00:00:00Z", "rm": {"id": "R1"}, "value": "300 CNY", "kind": "goods"}"#,
    )
    .unwrap();
    let first = ledger.submit(&action).unwrap().decision.to_json();
    let value = first.find("action.value").unwrap();
    let kind = first.find("action.kind").unwrap();
    assert!(value < kind, "the evidence is in evaluation order: {first}");
    let snapshot = text::snapshot(&ledger);
    let mut restored = engine.ledger();
    assert_eq!(text::restore(&mut restored, &format!(r#"{{"snapshot": {snapshot}}}"#)).unwrap(), "null");
    assert_eq!(text::snapshot(&restored), snapshot);
    assert_eq!(restored.submit(&action).unwrap().decision.to_json(), first);
}
