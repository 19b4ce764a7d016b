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

// ---------------------------------------------------------------- nesting without end

/// Runs `f` on a thread with a small stack, so that any unbounded recursion overflows it.
fn small_stack<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
    std::thread::Builder::new().stack_size(256 * 1024).spawn(f).unwrap().join().unwrap()
}

fn nested_type(word: &str, depth: usize) -> String {
    format!(
        "policy p version \"1\" effective 2026-01-01\naction t {{ x: {}text }}\n\
         rule r cite \"c\" on t when len(action.x) > 0 then review\n",
        format!("{word} of ").repeat(depth)
    )
}

#[test]
fn types_nested_without_end_are_one_coded_error_everywhere() {
    for word in ["list", "set"] {
        for depth in [17, 2_000, 14_000] {
            let src = nested_type(word, depth);
            let copy = src.clone();
            let d = small_stack(move || load_errors(&copy));
            let (code, line, column) = codes_at(&d)[0].clone();
            assert_eq!((code.as_str(), line, column), ("P0011", 2, 15), "{word} × {depth}");
            assert!(d.errors().next().unwrap().help().unwrap().contains("16"));
            let copy = src.clone();
            let formatted = small_stack(move || format_source("p.probity", &copy).map_err(|d| d.records()));
            assert_eq!(formatted.unwrap_err()[0].code, "P0011");
        }
        // At the limit the policy loads, formats and evaluates.
        let src = nested_type(word, 16);
        let copy = src.clone();
        small_stack(move || {
            let e = engine(&copy);
            format_source("p.probity", &copy).unwrap();
            let d = decide(&e, json!({"type": "t", "id": "A", "at": AT, "rm": {"id": "R"}, "x": []}));
            assert!(d.findings.is_empty());
        });
    }
}

#[test]
fn set_of_in_a_comment_or_text_is_not_a_type() {
    let words = "set of ".repeat(40);
    let src = format!(
        "policy p version \"1\" effective 2026-01-01\n# {words}\naction t {{ x: text }}\n\
         rule r cite \"{words}\" on t when action.x = \"a\" then review\n"
    );
    engine(&src);
}

fn record_chain(n: usize, reversed: bool) -> String {
    let mut records: Vec<String> = (1..n).map(|i| format!("record r{i} {{ p: r{} }}\n", i - 1)).collect();
    if reversed {
        records.reverse();
    }
    format!(
        "policy p version \"1\" effective 2026-01-01\nrecord r0 {{ x: int }}\n{}action t {{ c: r{} }}\n\
         rule r cite \"c\" on t when action.c is present then review\n",
        records.concat(),
        n - 1
    )
}

#[test]
fn a_long_chain_of_records_is_one_coded_error() {
    for reversed in [false, true] {
        let src = record_chain(20_000, reversed);
        let d = small_stack(move || load_errors(&src));
        let errors: Vec<_> = d.errors().collect();
        assert_eq!(errors.len(), 1, "{}", d.render());
        assert_eq!(errors[0].code(), "P0011");
        let named = if reversed { "r19999" } else { "r16" };
        assert!(errors[0].message().contains(&format!("`{named}`")), "{}", errors[0].message());
    }
    // Sixteen records deep is allowed; seventeen (the action's field is a level) is not.
    let e = small_stack(|| PolicySet::from_sources([("p.probity", record_chain(16, true))]).is_ok());
    assert!(e);
    assert_eq!(codes_at(&load_errors(&record_chain(17, false)))[0].0, "P0011");
}

#[test]
fn records_and_lists_count_together() {
    let list = "list of ".repeat(15);
    let src = format!(
        "policy p version \"1\" effective 2026-01-01\nrecord inner {{ x: int }}\nrecord outer {{ xs: {list}inner }}\n\
         action t {{ o: outer }}\nrule r cite \"c\" on t when action.o is present then review\n"
    );
    // outer (1) + 15 lists + inner (1) = 17 levels.
    let d = load_errors(&src);
    assert_eq!(codes_at(&d), vec![("P0011".to_string(), 3, 8)]);
    // A field of an action counts the same way.
    let src = format!(
        "policy p version \"1\" effective 2026-01-01\nrecord inner {{ x: int }}\n\
         action t {{ o: list of {list}inner }}\nrule r cite \"c\" on t when action.o is present then review\n"
    );
    assert_eq!(codes_at(&load_errors(&src)), vec![("P0011".to_string(), 3, 15)]);
}

// ---------------------------------------------------------------- a byte order mark

#[test]
fn a_leading_byte_order_mark_is_accepted() {
    let plain = "policy p version \"1\" effective 2026-01-01\naction t { x: text }\n\
                 rule r cite \"c\" on t when action.x = \"a\" then review\n";
    let bom = format!("\u{feff}{plain}");
    let e = engine(&bom);
    let d = decide(&e, json!({"type": "t", "id": "A", "at": AT, "rm": {"id": "R"}, "x": "a"}));
    assert_eq!(rules(&d), vec!["r"]);
    // Columns on the first line do not count the mark, in records and in the excerpt.
    let broken = "\u{feff}policy p version 1 effective 2026-01-01\n";
    let d = load_errors(broken);
    assert_eq!(codes_at(&d), vec![("P0001".to_string(), 1, 18)]);
    assert!(d.render().contains("p.probity:1:18"), "{}", d.render());
    // The formatter writes the canonical text, without the mark.
    assert_eq!(format_source("p.probity", &bom).unwrap(), format_source("p.probity", plain).unwrap());
    // A mark anywhere else is still an error.
    let inner = plain.replace("action t", "\u{feff}action t");
    assert_eq!(codes_at(&load_errors(&inner))[0].0, "P0001");
}

// ---------------------------------------------------------------- wide lines

#[test]
fn a_diagnostic_past_column_65535_renders() {
    for width in [70_000usize, 200_000] {
        let src = format!(
            "policy p version \"1\" effective 2026-01-01 action t {{ x: text }} {}rule r on t when action.x = \"a\" then review\n",
            " ".repeat(width)
        );
        let d = small_stack({
            let src = src.clone();
            move || PolicySet::from_sources([("p.probity", src.as_str())]).unwrap().warnings().to_vec()
        });
        assert_eq!(d.len(), 1);
        let w = &d[0];
        assert_eq!(w.code(), "W0001");
        // At the rule's id.
        let column = src.find("rule r").unwrap() + 6;
        assert_eq!(w.line_column(), (1, column));
        let text = w.render();
        assert!(text.contains(&format!("p.probity:1:{column}")), "{text}");
        assert!(text.contains("rule r on t"), "{text}");
        assert!(text.len() < 2_000, "a wide line is drawn as a window, not whole: {} bytes", text.len());
        let record = serde_json::to_value(w.record()).unwrap();
        assert_eq!(record["column"], column);
        assert_eq!(record["end_column"], column + 1);
    }
}

#[test]
fn an_error_with_a_related_place_on_a_wide_line_renders() {
    let pad = " ".repeat(70_000);
    let src = format!(
        "policy p version \"1\" effective 2026-01-01 action t {{ x: text }} {pad}rule r cite \"c\" on t then review {pad}rule r cite \"c\" on t then review\n"
    );
    let d = load_errors(&src);
    let e = d.errors().next().unwrap();
    assert_eq!(e.code(), "P0302");
    let text = d.render();
    assert!(text.contains("`r` is defined twice"), "{text}");
    assert_eq!(e.record().related.len(), 1);
}

#[test]
fn excerpts_of_ordinary_lines_are_unchanged() {
    // The context lines around a span, and a span at the very end of the file.
    let src = "policy p version \"1\" effective 2026-01-01\naction t { x: text }\n\
               rule r cite \"c\" on t\n  when action.y = \"a\"\n  then review\n";
    let text = load_errors(src).render();
    assert!(
        text.contains("   ╭─[p.probity:4:15]\n 3 │ rule r cite \"c\" on t\n 4 │   when action.y = \"a\"\n"),
        "{text}"
    );
    assert!(text.contains(" 5 │   then review\n"), "{text}");
    let end = "policy p version \"1\" effective 2026-01-01\naction t { x: text }\nrule r cite \"c\" on t when";
    let text = load_errors(end).render();
    assert!(text.contains("p.probity:3:26]\n 2 │ action t { x: text }\n 3 │ rule r cite \"c\" on t when\n"), "{text}");
}

#[test]
fn many_warnings_render() {
    // 10,000 unused fields of one action, ten to a line (the `load/render_warnings` bench
    // measures that rendering them grows linearly).
    let names: Vec<String> = (0..10_000).map(|i| format!("f{i}: int")).collect();
    let lines: Vec<String> = names.chunks(10).map(|c| c.join(" ")).collect();
    let src = format!(
        "policy p version \"1\" effective 2026-01-01\naction t {{\n{}\n}}\nrule r cite \"c\" on t when action.f0 = 1 then review\n",
        lines.join("\n")
    );
    let set = PolicySet::from_sources([("p.probity", src.as_str())]).unwrap();
    let warnings = set.warnings();
    assert_eq!(warnings.len(), 9_999);
    let text = warnings.iter().map(Diagnostic::render).collect::<String>();
    assert!(text.contains("p.probity:1002:"), "the last line's warnings carry its number");
}

// ---------------------------------------------------------------- large literals

#[test]
fn a_large_set_literal_loads() {
    // Its cost is measured by the `load/set_literal` bench (quadratic once, 40 s here).
    let n = 60_000;
    let members: Vec<String> = (0..n).map(|i| format!("\"m{i}\"")).collect();
    let src = format!(
        "policy p version \"1\" effective 2026-01-01\naction t {{ x: text }}\n\
         rule r cite \"c\" on t when action.x in [{}, \"m1\"] then review\n",
        members.join(", ")
    );
    let e = engine(&src);
    let hit = decide(&e, json!({"type": "t", "id": "A", "at": AT, "rm": {"id": "R"}, "x": "m59999"}));
    assert_eq!(rules(&hit), vec!["r"]);
    let miss = decide(&e, json!({"type": "t", "id": "A", "at": AT, "rm": {"id": "R"}, "x": "m60000"}));
    assert!(rules(&miss).is_empty());
}

#[test]
fn a_large_enum_loads() {
    // 100,000 members, and 2,000 texts compared with them (cost: the `load/enum` bench).
    let n = 100_000;
    let members: Vec<String> = (0..n).map(|i| format!("m{i}")).collect();
    let texts: Vec<String> = (n - 2_000..n).rev().map(|i| format!("\"m{i}\"")).collect();
    let src = format!(
        "policy p version \"1\" effective 2026-01-01\naction t {{ x: one of {} }}\n\
         rule r cite \"c\" on t when action.x in [{}] and action.x >= \"m2\" then review\n",
        members.join(", "),
        texts.join(", ")
    );
    let e = engine(&src);
    let low = decide(&e, json!({"type": "t", "id": "A", "at": AT, "rm": {"id": "R"}, "x": "m1"}));
    assert!(rules(&low).is_empty());
    let high = decide(&e, json!({"type": "t", "id": "A", "at": AT, "rm": {"id": "R"}, "x": "m99999"}));
    assert_eq!(rules(&high), vec!["r"]);
    // A member listed twice is still found, at its second place.
    let twice = "policy p version \"1\" effective 2026-01-01\naction t { x: one of a, b, a }\n\
                 rule r cite \"c\" on t when action.x = \"a\" then review\n";
    assert_eq!(codes_at(&load_errors(twice)), vec![("P0302".to_string(), 2, 28)]);
    // A text that is not a member, inside a set, is still reported.
    let stray = "policy p version \"1\" effective 2026-01-01\naction t { x: one of a, b }\n\
                 rule r cite \"c\" on t when action.x in [\"a\", \"c\"] then review\n";
    assert_eq!(codes_at(&load_errors(stray))[0].0, "P0203");
}
