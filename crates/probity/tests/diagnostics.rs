//! Snapshots of rendered diagnostics: one fixture per mistake under `tests/inputs/err_*.probity`,
//! each rendered without colours, plus the JSON records of two of them.
//!
//! To update after an intended change: `INSTA_UPDATE=always cargo test -p probity --test diagnostics`,
//! then review the `.snap` files.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

use std::path::PathBuf;

use probity::*;

fn input(name: &str) -> String {
    let path: PathBuf = [env!("CARGO_MANIFEST_DIR"), "tests", "inputs", name].iter().collect();
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// Loads a fixture (named by its bare file name, so snapshots do not depend on the checkout's
/// path), checks that it fails with exactly one error of the expected code, and returns the
/// diagnostics.
fn failing(name: &str, code: &str) -> Diagnostics {
    let text = input(name);
    let diagnostics = match PolicySet::from_sources([(name, text.as_str())]) {
        Ok(_) => panic!("{name} loaded, but it holds a mistake"),
        Err(d) => d,
    };
    let codes: Vec<&str> = diagnostics.iter().map(Diagnostic::code).collect();
    assert_eq!(codes, vec![code], "{name}:\n{}", diagnostics.render());
    diagnostics
}

/// Renders without ANSI escapes (checked) for the snapshot.
fn rendered(name: &str, code: &str) -> String {
    let text = failing(name, code).render();
    assert!(!text.contains('\u{1b}'), "colours in the plain rendering");
    assert!(text.contains(code));
    assert!(text.contains(name), "the rendering names the file");
    text
}

macro_rules! snapshot_case {
    ($test:ident, $file:literal, $code:literal) => {
        #[test]
        fn $test() {
            insta::assert_snapshot!(rendered($file, $code));
        }
    };
}

snapshot_case!(duration_unit, "err_duration_unit.probity", "P0001");
snapshot_case!(unterminated_text, "err_unterminated_text.probity", "P0002");
snapshot_case!(chained_comparison, "err_chained_comparison.probity", "P0006");
snapshot_case!(unknown_field, "err_unknown_field.probity", "P0102");
snapshot_case!(unknown_action_type, "err_unknown_action_type.probity", "P0103");
snapshot_case!(unknown_function, "err_unknown_function.probity", "P0104");
snapshot_case!(unknown_severity, "err_unknown_severity.probity", "P0105");
snapshot_case!(unknown_timezone, "err_unknown_timezone.probity", "P0108");
snapshot_case!(unknown_currency, "err_unknown_currency.probity", "P0109");
snapshot_case!(money_vs_number, "err_money_vs_number.probity", "P0201");
snapshot_case!(enum_member, "err_enum_member.probity", "P0203");
snapshot_case!(aggregate_without_window, "err_aggregate_without_window.probity", "P0301");
snapshot_case!(duplicate_rule, "err_duplicate_rule.probity", "P0302");
snapshot_case!(ladder_steps, "err_ladder_steps.probity", "P0303");
snapshot_case!(placeholder, "err_placeholder.probity", "P0304");
snapshot_case!(breach_without_ladder, "err_breach_without_ladder.probity", "P0306");

#[test]
fn every_fixture_has_a_snapshot_case() {
    let dir: PathBuf = [env!("CARGO_MANIFEST_DIR"), "tests", "inputs"].iter().collect();
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with("err_") && n.ends_with(".probity"))
        .collect();
    names.sort();
    let this = include_str!("diagnostics.rs");
    for name in &names {
        assert!(this.contains(&format!("\"{name}\"")), "{name} has no snapshot case");
    }
    assert!(names.len() >= 12, "{names:?}");
}

#[test]
fn records_of_an_unknown_field() {
    let records = failing("err_unknown_field.probity", "P0102").records();
    assert_eq!((records[0].line, records[0].column), (9, 46));
    insta::assert_snapshot!(serde_json::to_string_pretty(&records).unwrap());
}

#[test]
fn records_of_a_duplicate_rule() {
    let records = failing("err_duplicate_rule.probity", "P0302").records();
    assert_eq!(records[0].related.len(), 1);
    insta::assert_snapshot!(serde_json::to_string_pretty(&records).unwrap());
}

#[test]
fn records_round_trip_through_serde() {
    let records = failing("err_enum_member.probity", "P0203").records();
    let text = serde_json::to_string(&records).unwrap();
    let back: Vec<DiagnosticRecord> = serde_json::from_str(&text).unwrap();
    assert_eq!(back, records);
    assert_eq!(records[0].help.as_deref(), Some("did you mean `online`?"));
}

#[test]
fn the_rendering_starts_with_one_line_as_rustc_writes_it() {
    let d = failing("err_unknown_field.probity", "P0102");
    let first = d.iter().next().unwrap();
    let text = first.render();
    let mut lines = text.lines();
    assert_eq!(lines.next(), Some(format!("error[P0102]: {}", first.message()).as_str()), "{text}");
    let (line, column) = first.line_column();
    let place = format!("err_unknown_field.probity:{line}:{column}]");
    assert!(lines.next().is_some_and(|l| l.trim_start().starts_with("╭─[") && l.ends_with(&place)), "{text}");
    assert!(!text.contains('×'), "miette's own message line is gone:\n{text}");
    // A warning says so, and a diagnostic with no place (P0010) is the headline and its help.
    let warnings = PolicySet::diagnose([("w.probity", "policy w version \"1\" effective 2026-01-01\naction a { }\n")]);
    let w = warnings.iter().find(|d| d.code() == "W0005").unwrap();
    assert!(w.render().starts_with("warning[W0005]: action `a` is never used\n"), "{}", w.render());
}

#[test]
fn coloured_rendering_differs_only_by_escapes() {
    let d = failing("err_unknown_field.probity", "P0102");
    let first = d.iter().next().unwrap();
    let coloured = first.render_with(true);
    assert!(coloured.contains('\u{1b}'), "no colours");
    assert_eq!(first.render(), first.render_with(false));
    assert!(coloured.starts_with("\u{1b}[1;31merror[P0102]\u{1b}[0m\u{1b}[1m: "), "{coloured:?}");
    let plain = strip_escapes(&coloured);
    assert_eq!(plain, first.render());
}

snapshot_case!(unknown_escape, "err_unknown_escape.probity", "P0003");
snapshot_case!(nesting, "err_nesting.probity", "P0004");
snapshot_case!(number_range, "err_number_range.probity", "P0007");
snapshot_case!(bad_date, "err_bad_date.probity", "P0008");
snapshot_case!(placeholder_syntax, "err_placeholder_syntax.probity", "P0009");
snapshot_case!(unknown_name, "err_unknown_name.probity", "P0101");
snapshot_case!(unknown_ladder, "err_unknown_ladder.probity", "P0106");
snapshot_case!(unknown_type, "err_unknown_type.probity", "P0107");
snapshot_case!(record_cycle, "err_record_cycle.probity", "P0110");
snapshot_case!(currency_mismatch, "err_currency_mismatch.probity", "P0202");
snapshot_case!(until_before_effective, "err_until_before_effective.probity", "P0305");
snapshot_case!(rule_without_then, "err_rule_without_then.probity", "P0307");
snapshot_case!(repeated_clause, "err_repeated_clause.probity", "P0308");

/// Every warning the linter gives, rendered, for one file that collects them.
#[test]
fn warnings() {
    let text = input("warn_lints.probity");
    let diagnostics = PolicySet::diagnose([("warn_lints.probity", text.as_str())]);
    assert!(!diagnostics.has_errors(), "{}", diagnostics.render());
    let codes: std::collections::BTreeSet<&str> = diagnostics.iter().map(Diagnostic::code).collect();
    for code in ["W0001", "W0002", "W0003", "W0004", "W0005", "W0006", "W0008", "W0009"] {
        assert!(codes.contains(code), "{code} missing:\n{}", diagnostics.render());
    }
    insta::assert_snapshot!(diagnostics.render());
}

#[test]
fn version_gap_warning() {
    let first = input("warn_version_gap_1.probity");
    let second = "policy gap version \"2\" effective 2026-04-01\naction a { }\n";
    let diagnostics =
        PolicySet::diagnose([("warn_version_gap_1.probity", first.as_str()), ("warn_version_gap_2.probity", second)]);
    let codes: Vec<&str> = diagnostics.iter().map(Diagnostic::code).collect();
    assert!(codes.contains(&"W0010"), "{}", diagnostics.render());
    insta::assert_snapshot!(diagnostics.render());
}

/// The text without ANSI escape sequences (`ESC [ … letter`).
fn strip_escapes(text: &str) -> String {
    let mut out = String::new();
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            for d in chars.by_ref() {
                if d.is_ascii_alphabetic() {
                    break;
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}
