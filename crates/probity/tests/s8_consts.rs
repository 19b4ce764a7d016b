//! Constants, reference lists, calendars and business days (docs/language.md): the checker's
//! errors (snapshots), the digest with list and calendar files, `fmt`, and business-day
//! arithmetic at its boundaries.
//!
//! To update the snapshots after an intended change:
//! `INSTA_UPDATE=always cargo test -p probity --test s8_consts`, then review the `.snap` files.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

mod common;

use std::path::{Path, PathBuf};

use common::*;
use probity::*;
use serde_json::json;
use sha2::{Digest, Sha256};

/// An action of type `ty` at `at` by RM `R1`, with `fields`.
fn act(ty: &str, at: &str, fields: serde_json::Value) -> serde_json::Value {
    let mut a = json!({"type": ty, "id": format!("{ty}-{at}"), "at": at, "rm": {"id": "R1"}});
    if let (Some(a), Some(f)) = (a.as_object_mut(), fields.as_object()) {
        a.extend(f.clone());
    }
    a
}

const HEAD: &str = "policy p version \"1\" effective 2026-01-01 timezone \"Asia/Shanghai\"\n";

#[test]
fn const_that_is_not_a_literal() {
    let src = format!("{HEAD}action gift {{ value: money }}\nconst cap = 300 USD + 5 USD\n");
    insta::assert_snapshot!(failing_with(&src, "P0401"));
    // A name, `now` or a negated set are not literals either.
    for value in ["cap", "now", "-[1, 2]", "[action.value]", "\"a\" + \"b\""] {
        let src = format!("{HEAD}const cap = 1\nconst other = {value}\n");
        let d = load_errors(&src);
        assert_eq!(codes_at(&d), vec![("P0401".to_string(), 3, 15)], "{value}: {}", d.render());
    }
}

#[test]
fn missing_list_file() {
    let src = format!(
        "{HEAD}action pa_deal {{ security: text }}\nlist restricted from \"tests/inputs/s8/none.txt\"\n\
         rule r cite \"c\" on pa_deal when action.security in restricted then deny\n"
    );
    insta::assert_snapshot!(failing_with(&src, "P0402"));
}

#[test]
fn missing_calendar_file() {
    let src = "policy p version \"1\" effective 2026-01-01\n  calendar \"tests/inputs/s8/none.txt\"\n";
    insta::assert_snapshot!(failing_with(src, "P0403"));
}

#[test]
fn malformed_calendar_line() {
    let src = "policy p version \"1\" effective 2026-01-01\n  calendar \"tests/inputs/s8/cal_broken.txt\"\n";
    let text = failing_with(src, "P0404");
    let d = load_errors(src);
    // Reported at the calendar file's line, with the policy's `calendar` as the related place.
    assert_eq!(d.errors().next().unwrap().line_column(), (3, 1));
    insta::assert_snapshot!(text);
}

#[test]
fn let_shadowing_a_const() {
    let src = format!(
        "{HEAD}const cap = 300 USD\naction gift {{ value: money }}\n\
         rule r cite \"c\" on gift\n  let cap = 500 USD\n  when action.value > cap\n  then review\n"
    );
    let d = load_errors(&src);
    assert_eq!(codes_at(&d), vec![("P0405".to_string(), 5, 7)]);
    insta::assert_snapshot!(failing_with(&src, "P0405"));
}

#[test]
fn window_naming_a_const_that_is_no_duration() {
    let src = format!(
        "{HEAD}const cap = 300 USD\naction gift {{ value: money }}\n\
         rule r cite \"c\" on gift when count(gift within cap) > 1 then review\n"
    );
    insta::assert_snapshot!(failing_with(&src, "P0406"));
    let src = format!(
        "{HEAD}const reply_time = 30 days\naction gift {{ value: money }}\n\
         rule r cite \"c\" on gift when count(gift within reply_tme) > 1 then review\n"
    );
    let text = failing_with(&src, "P0406");
    assert!(text.contains("unknown const `reply_tme`") && text.contains("reply_time"), "{text}");
}

#[test]
fn too_many_business_days() {
    let src = format!(
        "{HEAD}action c {{ }}\naction d {{ }}\n\
         duty r cite \"c\" on c due within 10001 business days fulfilled by d\n"
    );
    insta::assert_snapshot!(failing_with(&src, "P0407"));
    // The limit itself is allowed.
    engine(&format!(
        "{HEAD}action c {{ }}\naction d {{ }}\nduty r cite \"c\" on c due within 10000 business days fulfilled by d\n"
    ));
}

#[test]
fn names_declared_twice_and_calendars_given_twice() {
    let src = format!("{HEAD}const a = 1\nconst a = 2\n");
    assert_eq!(codes_at(&load_errors(&src)), vec![("P0302".to_string(), 3, 7)]);
    let src = "policy p version \"1\" effective 2026-01-01\n  calendar \"tests/inputs/s8/cal.txt\"\n  \
               calendar \"tests/inputs/s8/cal.txt\"\n";
    assert_eq!(codes_at(&load_errors(src)), vec![("P0308".to_string(), 3, 12)]);
}

#[test]
fn new_keywords_are_reserved_and_business_only_stands_in_lengths_of_time() {
    for word in ["const", "list", "from", "business", "calendar"] {
        let src = format!("{HEAD}action t {{ }}\nrule {word} cite \"c\" on t then warn\n");
        assert_eq!(load_errors(&src).errors().next().unwrap().code(), "P0001", "{word}");
    }
    // As field names (after `.`, or declared) they are still names.
    engine(&format!(
        "{HEAD}action t {{ from: text  calendar: int }}\n\
         rule r cite \"c\" on t when action.from = \"x\" and action.calendar > 1 then warn\n"
    ));
    let src = format!("{HEAD}action t {{ }}\nrule r cite \"c\" on t when now + 2 business days > now then warn\n");
    assert_eq!(codes_at(&load_errors(&src))[0].0, "P0001");
    let src = format!("{HEAD}const reply = 2 business days\n");
    assert_eq!(codes_at(&load_errors(&src))[0].0, "P0001");
}

// ---------------------------------------------------------------- digests

/// A scratch directory under the target directory, removed when dropped.
struct Scratch(PathBuf);

impl Scratch {
    fn new(name: &str) -> Scratch {
        let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(format!("s8-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(dir.join("lists")).unwrap();
        Scratch(dir)
    }

    fn write(&self, path: &str, text: &str) {
        std::fs::write(self.0.join(path), text).unwrap();
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn digest_of(dir: &Path, action: serde_json::Value) -> String {
    let set = PolicySet::from_dir(dir).unwrap();
    let d = Engine::new(set).evaluate(&Action::from_value(action).unwrap(), &History::new()).unwrap();
    d.policies[0].digest.to_string()
}

const LISTED: &str = "policy p version \"1\" effective 2026-01-01\n  calendar \"cal.txt\"\n\
                      action pa_deal { security: text }\nlist restricted from \"lists/r.txt\"\n\
                      list watch from \"lists/w.txt\"\n\
                      rule r cite \"c\" on pa_deal when action.security in restricted then deny\n\
                      rule w cite \"c\" on pa_deal when action.security in watch then warn\n";

#[test]
fn the_digest_covers_list_and_calendar_files_in_declaration_order() {
    let s = Scratch::new("digest");
    s.write("p.probity", LISTED);
    s.write("cal.txt", "holiday 2026-05-01\n");
    s.write("lists/r.txt", "A1\nB2\n");
    s.write("lists/w.txt", "C3\n");
    let deal =
        json!({"type": "pa_deal", "id": "P1", "at": "2026-03-02T10:00:00Z", "rm": {"id": "R1"}, "security": "A1"});
    let mut h = Sha256::new();
    h.update(LISTED.as_bytes());
    for (path, bytes) in [("cal.txt", "holiday 2026-05-01\n"), ("lists/r.txt", "A1\nB2\n"), ("lists/w.txt", "C3\n")] {
        h.update([0u8]);
        h.update(path.as_bytes());
        h.update([0u8]);
        h.update(bytes.as_bytes());
    }
    let expected = format!("sha256:{:x}", h.finalize());
    assert_eq!(digest_of(&s.0, deal.clone()), expected);
    // A changed list changes every decision's digest; so does a changed calendar.
    s.write("lists/w.txt", "C3\nD4\n");
    let after_list = digest_of(&s.0, deal.clone());
    assert_ne!(after_list, expected);
    s.write("cal.txt", "holiday 2026-05-02\n");
    assert_ne!(digest_of(&s.0, deal.clone()), after_list);
}

#[test]
fn a_policy_without_list_or_calendar_keeps_the_digest_of_its_bytes() {
    let src =
        format!("{HEAD}const cap = 5\naction t {{ n: int }}\nrule r cite \"c\" on t when action.n > cap then warn\n");
    let e = engine(&src);
    let d = decide(&e, act("t", "2026-03-02T10:00:00Z", json!({"n": 6})));
    assert_eq!(d.policies[0].digest, format!("sha256:{:x}", Sha256::digest(src.as_bytes())));
    assert_eq!(d.findings.len(), 1);
}

#[test]
fn list_files_are_relative_to_the_policy_file() {
    // Named by a path, a source reads its lists next to it.
    let src = format!(
        "{HEAD}action pa_deal {{ security: text }}\nlist restricted from \"restricted.txt\"\n\
         rule r cite \"c\" on pa_deal when action.security in restricted then deny\n"
    );
    let e = engine_of(&[("tests/inputs/s8/p.probity", &src)]);
    let deny = decide(&e, act("pa_deal", "2026-03-02T10:00:00Z", json!({"security": "B2"})));
    assert_eq!(deny.verdict, Verdict::Deny);
    assert_eq!(deny.findings[0].evidence.len(), 1, "the list is not evidence, the field is");
    let allow = decide(&e, act("pa_deal", "2026-03-02T10:00:00Z", json!({"security": "# restricted (fixture)"})));
    assert_eq!(allow.verdict, Verdict::Allow);
}

// ---------------------------------------------------------------- fmt

#[test]
fn fmt_round_trips_consts_lists_calendars_and_business_days() {
    let src = "policy p version \"1\" effective 2026-01-01 timezone \"Asia/Shanghai\" calendar \"c.txt\"\n\
               const cap = 300 USD   # the cap\nconst floor = -5\nconst days = [\"a\",\"b\"]\n\
               const reply = 30 days\nlist   restricted   from \"r.txt\"\n\
               action t { n: int }\naction u { ref: text }\n\
               duty d on t due within 15 business days fulfilled by u where ref = action.id otherwise review\n\
               duty e on t due within reply fulfilled by u otherwise review\n\
               rule r on t when count(t within 1 business day) > 0 and count(t within reply) > floor then warn\n";
    let once = format_source("p.probity", src).unwrap();
    let expected = "policy p\n  version \"1\"\n  effective 2026-01-01\n  timezone \"Asia/Shanghai\"\n  \
                    calendar \"c.txt\"\n\nconst cap = 300 USD  # the cap\nconst floor = -5\n\
                    const days = [\"a\", \"b\"]\nconst reply = 30 days\nlist restricted from \"r.txt\"\n\naction t {";
    assert!(once.starts_with(expected), "{once}");
    assert!(once.contains("  due within 15 business days\n"), "{once}");
    assert!(once.contains("  due within reply\n"), "{once}");
    assert!(once.contains("count(t within 1 business day) > 0 and count(t within reply) > floor"), "{once}");
    assert_eq!(format_source("p.probity", &once).unwrap(), once, "idempotent");
    assert_eq!(syntax_fingerprint("p", src).unwrap(), syntax_fingerprint("p", &once).unwrap(), "same meaning");
}

// ---------------------------------------------------------------- evaluation

fn due_of(src: &str, at: &str) -> String {
    let e = engine(src);
    let d = decide(&e, act("c", at, json!({})));
    d.obligations[0].due.to_string()
}

#[test]
fn business_day_deadlines_keep_the_local_time_and_the_actions_offset() {
    let src = format!(
        "{HEAD}action c {{ }}\naction d {{ }}\nduty r cite \"c\" on c due within 1 business day fulfilled by d\n"
    );
    // Friday 16:00 in Shanghai → Monday 16:00, written with the action's offset.
    assert_eq!(due_of(&src, "2026-05-08T16:00:00+08:00"), "2026-05-11T16:00:00+08:00");
    // Friday 20:00 UTC is Saturday 04:00 in Shanghai: counted from Saturday → Monday.
    assert_eq!(due_of(&src, "2026-05-08T20:00:00Z"), "2026-05-10T20:00:00Z");
    // 0 business days: the instant itself.
    let zero = src.replace("1 business day", "0 business days");
    assert_eq!(due_of(&zero, "2026-05-09T10:00:00+08:00"), "2026-05-09T10:00:00+08:00");
}

#[test]
fn the_ledger_keeps_what_a_business_day_window_reads() {
    // 5 business days span at most 7 days (plus one per holiday): an action 6 days back must
    // still be held; a week's worth of Mondays to Fridays reaches it.
    let src =
        format!("{HEAD}action t {{ }}\nrule r cite \"c\" on t when count(t within 5 business days) >= 1 then warn\n");
    let e = engine(&src);
    let mut ledger = e.ledger();
    let first = ledger.submit(&action(act("t", "2026-05-04T10:00:00+08:00", json!({})))).unwrap();
    assert!(first.decision.findings.is_empty());
    // Monday 11 May 10:00 less 5 business days is Monday 4 May 10:00: still inside.
    let second = ledger.submit(&action(act("t", "2026-05-11T10:00:00+08:00", json!({})))).unwrap();
    assert_eq!(second.decision.findings.len(), 1);
}

#[test]
fn list_and_calendar_files_given_in_memory() {
    let src = "policy pa version \"1\" effective 2026-01-01 timezone \"Asia/Shanghai\"\n  calendar \"cn.txt\"\n\
               list restricted from \"lists/restricted.txt\"\naction pa_deal { security: text }\n\
               action pa_reported { deal: text }\n\
               rule r cite \"c\" on pa_deal when action.security in restricted then deny\n\
               duty d cite \"c\" on pa_deal due within 2 business days fulfilled by pa_reported otherwise review\n";
    let files = [("cn.txt", "holiday 2026-05-01\nholiday 2026-05-04\n"), ("lists/restricted.txt", "A1\n  B2  \n")];
    let set = PolicySet::from_sources_with_files([("pa.probity", src)], files).unwrap();
    let e = Engine::new(set);
    let d = decide(&e, act("pa_deal", "2026-04-30T10:00:00+08:00", json!({"security": "B2"})));
    assert_eq!(d.verdict, Verdict::Deny);
    assert_eq!(d.obligations[0].due.to_string(), "2026-05-06T10:00:00+08:00");
    // Through the JSON interface (as the wasm binding loads), the same engine.
    let request: api::LoadRequest = serde_json::from_value(json!({
        "sources": {"pa.probity": src},
        "files": {"cn.txt": "holiday 2026-05-01\nholiday 2026-05-04\n", "lists/restricted.txt": "A1\n  B2  \n"},
    }))
    .unwrap();
    let via_api = api::load(request).unwrap();
    let same = decide(&via_api, act("pa_deal", "2026-04-30T10:00:00+08:00", json!({"security": "B2"})));
    assert_eq!(same, d);
    // Keyed by the path the engine reads: next to a source named in a directory.
    let nested = PolicySet::from_sources_with_files(
        [("dir/pa.probity", src)],
        [("dir/cn.txt", ""), ("dir/lists/restricted.txt", "Z9\n")],
    )
    .unwrap();
    let z = decide(&Engine::new(nested), act("pa_deal", "2026-04-30T10:00:00+08:00", json!({"security": "Z9"})));
    assert_eq!(z.verdict, Verdict::Deny);
    // A file given neither in memory nor on disk is the list's load error.
    let missing = PolicySet::from_sources_with_files([("pa.probity", src)], [("cn.txt", "")]).unwrap_err();
    assert_eq!(codes_at(&missing), vec![("P0402".to_string(), 3, 1)]);
}

#[test]
fn a_const_in_a_message_and_recovery_at_const_and_list_lines() {
    let src = format!(
        "{HEAD}const cap = 300 USD\naction gift {{ value: money }}\n\
         rule r cite \"c\" on gift when action.value > cap then review message \"{{action.value}} is over {{cap}}\"\n"
    );
    let d = decide(&engine(&src), act("gift", "2026-03-02T10:00:00Z", json!({"value": "301 USD"})));
    assert_eq!(d.findings[0].message, "301.00 USD is over 300.00 USD");
    // A syntax error in one declaration does not hide those of the next: each `const` and
    // `list` line starts a declaration of its own.
    let src = format!("{HEAD}const a = \nconst b = 2 2\nlist c from\nrule r on\n");
    let lines: Vec<usize> = codes_at(&load_errors(&src)).into_iter().map(|(_, l, _)| l).collect();
    assert_eq!(lines, vec![3, 3, 5, 6], "{}", load_errors(&src).render());
    let text = load_errors(&src).render();
    assert!(!text.contains("`const`") && !text.contains("`list of`"), "declarations are named as before:\n{text}");
}
