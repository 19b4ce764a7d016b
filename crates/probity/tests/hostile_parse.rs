//! Hostile and unusual policy text: keyword field names inside `where`, texts left open, types
//! and records nested without end, very long lines, very large literals and a byte order mark.
//! Each case gives a result or a coded diagnostic — never a panic, never a stack overflow.
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
use serde_json::json;

const AT: &str = "2026-03-10T10:00:00+08:00";

// ---------------------------------------------------------------- keyword fields in `where`

/// An action type whose fields are named by keywords, and rules that read them bare in `where`.
const KEYWORD_FIELDS: &str = r#"policy kw version "1" effective 2026-01-01
action note { message: text  on: int  cite: text  when: int  due: text  where: text  within: int  count: int  action: text }
rule by_keywords cite "c" on note
  when count(note where message = "hi" and on > 1 and cite = "x" and when = 2 and due = "d"
             and where = "w" and within = 3 and count = 4 within 30 days) > 0
  then review
rule by_bare_action cite "c" on note
  when exists(note where action = "A-7" within 30 days)
  then review
rule dotted_action_is_current cite "c" on note
  when exists(note where action = action.action within 30 days)
  then review
"#;

fn note(id: &str, at: &str, action: &str) -> serde_json::Value {
    json!({"type": "note", "id": id, "at": at, "rm": {"id": "R1"}, "message": "hi", "on": 2, "cite": "x",
           "when": 2, "due": "d", "where": "w", "within": 3, "count": 4, "action": action})
}

#[test]
fn keywords_are_bare_field_names_inside_an_aggregates_where() {
    let e = engine(KEYWORD_FIELDS);
    let prior = note("N-1", "2026-03-01T10:00:00+08:00", "A-7");
    let d = decide_with(&e, note("N-2", AT, "A-9"), json!({"actions": [prior]}));
    assert_eq!(rules(&d), vec!["by_keywords", "by_bare_action"]);
    // Another prior item: no keyword condition holds.
    let mut other = note("N-1", "2026-03-01T10:00:00+08:00", "A-9");
    other["message"] = json!("bye");
    let d = decide_with(&e, note("N-2", AT, "A-9"), json!({"actions": [other]}));
    // `action = action.action`: the item's field (A-9) against the current action's (A-9).
    assert_eq!(rules(&d), vec!["dotted_action_is_current"]);
}

#[test]
fn a_bare_action_inside_a_breach_where_is_the_breachs_action() {
    let src = r#"policy kw version "1" effective 2026-01-01
action note { ref: text }
ladder l window 12 months points minor 1 step 5 "x"
rule r cite "c" on note when exists(breach where action = action.ref within 30 days) then review
"#;
    let e = engine(src);
    let history = json!({"breaches": [{"policy": "kw", "rule": "q", "severity": "minor", "ladder": "l",
                                       "at": "2026-03-01T10:00:00+08:00", "action": "B-1"}]});
    let hit = json!({"type": "note", "id": "N-1", "at": AT, "rm": {"id": "R1"}, "ref": "B-1"});
    assert_eq!(rules(&decide_with(&e, hit, history.clone())), vec!["r"]);
    let miss = json!({"type": "note", "id": "N-1", "at": AT, "rm": {"id": "R1"}, "ref": "B-2"});
    assert!(rules(&decide_with(&e, miss, history)).is_empty());
}

#[test]
fn keywords_are_bare_field_names_inside_a_fulfilment_where() {
    let src = r#"policy kw version "1" effective 2026-01-01
action gift { v: int }
action filed { message: text  action: text }
duty register cite "c" on gift due within 30 days
  fulfilled by filed where message = action.id and action = "ok"
  otherwise review
"#;
    let e = engine(src);
    let mut ledger = e.ledger();
    let gift = json!({"type": "gift", "id": "G-1", "at": "2026-03-01T10:00:00+08:00", "rm": {"id": "R1"}, "v": 1});
    ledger.submit(&action(gift)).unwrap();
    let not_ok = json!({"type": "filed", "id": "F-1", "at": "2026-03-02T10:00:00+08:00", "rm": {"id": "R1"},
                        "message": "G-1", "action": "no"});
    assert!(ledger.submit(&action(not_ok)).unwrap().decision.fulfilled.is_empty());
    let ok = json!({"type": "filed", "id": "F-2", "at": "2026-03-03T10:00:00+08:00", "rm": {"id": "R1"},
                    "message": "G-1", "action": "ok"});
    let fulfilled = ledger.submit(&action(ok)).unwrap().decision.fulfilled;
    assert_eq!(fulfilled.len(), 1);
    assert_eq!(fulfilled[0].action, "G-1");
}

#[test]
fn keyword_fields_in_where_survive_formatting() {
    let formatted = format_source("p.probity", KEYWORD_FIELDS).unwrap();
    assert_eq!(
        syntax_fingerprint("p.probity", &formatted).unwrap(),
        syntax_fingerprint("p.probity", KEYWORD_FIELDS).unwrap()
    );
}

#[test]
fn keywords_stay_reserved_outside_where() {
    let src = "policy kw version \"1\" effective 2026-01-01\naction note { message: text }\n\
               rule r cite \"c\" on note when message = \"x\" then review\n";
    assert_eq!(codes_at(&load_errors(src))[0].0, "P0001");
}

// ---------------------------------------------------------------- texts left open

#[test]
fn a_text_that_runs_onto_the_next_line_is_reported_at_its_opening_quote() {
    let src = "policy p version \"1\" effective 2026-01-01\naction t { x: text }\n\
               rule r cite \"c\" on t\n  when action.x = \"abc\ndef\" then review\n\
               rule q cite \"c\" on t when action.x = \"a\" then review\n";
    assert_eq!(codes_at(&load_errors(src)), vec![("P0002".to_string(), 4, 19)]);
    // The same in a title and in a message.
    let title = "policy p version \"1\" effective 2026-01-01\naction t { x: text }\n\
                 rule r \"a title\nthat goes on\" cite \"c\" on t then review\n";
    assert_eq!(codes_at(&load_errors(title)), vec![("P0002".to_string(), 3, 8)]);
    let message = "policy p version \"1\" effective 2026-01-01\naction t { x: text }\n\
                   rule r cite \"c\" on t then review message \"one\ntwo\"\n";
    assert_eq!(codes_at(&load_errors(message)), vec![("P0002".to_string(), 3, 42)]);
}

#[test]
fn an_earlier_syntax_error_is_still_reported_before_an_open_text() {
    let src = "policy p version \"1\" effective 2026-01-01\naction t { x: text }\n\
               rule r cite \"c\" on t when action.x = = \"abc\ndef\" then review\n";
    assert_eq!(codes_at(&load_errors(src)), vec![("P0001".to_string(), 3, 38)]);
}

