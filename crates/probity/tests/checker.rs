//! Static checks (docs/language.md#static-checks): every mistake reported at once, each with its
//! place, a message and a hint; warnings; overlapping versions; stable codes.
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

/// The 1-based column of the `nth` (1-based) occurrence of `needle` in `line`.
fn col(line: &str, needle: &str, nth: usize) -> usize {
    let mut from = 0;
    let mut found = None;
    for _ in 0..nth {
        let i = line[from..].find(needle).unwrap_or_else(|| panic!("`{needle}` not in `{line}`")) + from;
        found = Some(i);
        from = i + 1;
    }
    line[..found.unwrap()].chars().count() + 1
}

const MISTAKES: &[&str] = &[
    /* 1 */ r#"policy p version "1" effective 2026-01-01 timezone "Asia/Shangai""#,
    /* 2 */ r#"record customer { id: text }"#,
    /* 3 */ r#"action sale { amount: money  channel: one of branch, online  who: custmer }"#,
    /* 4 */ r#"rule a "a""#,
    /* 5 */ r#"  cite "c""#,
    /* 6 */ r#"  on sale"#,
    /* 7 */ r#"  when action.amout > 5 CNY"#,
    /* 8 */ r#"  then review"#,
    /* 9 */ r#"rule b "b" cite "c" on sale"#,
    /* 10 */ r#"  when lenn(action.channel) > 1"#,
    /* 11 */ r#"  then review"#,
    /* 12 */ r#"rule c "c" cite "c" on sale"#,
    /* 13 */ r#"  when action.amount > 5000"#,
    /* 14 */ r#"  then breach catastrophic"#,
    /* 15 */ r#"rule a "duplicate" cite "c" on sale then review"#,
    /* 16 */ r#"rule e "e" cite "c" on sale"#,
    /* 17 */ r#"  when action.channel = "brnch" or action.amount > 5 XYZ"#,
    /* 18 */ r#"  then review"#,
    /* 19 */ r#"rule f "f" cite "c""#,
    /* 20 */ r#"  on sael"#,
    /* 21 */ r#"  then breach minor in condcut"#,
    /* 22 */ r#"ladder conduct window 12 months points minor 1, major 3 step 1 "x""#,
];

#[test]
fn every_mistake_is_reported_at_once_with_its_place_and_a_hint() {
    let src = MISTAKES.join("\n");
    let line = |n: usize| MISTAKES[n - 1];
    let err = load_errors(&src);
    let expected: Vec<(&str, usize, usize)> = vec![
        ("P0108", 1, col(line(1), "\"Asia/Shangai\"", 1)),
        ("P0107", 3, col(line(3), "custmer", 1)),
        ("P0102", 7, col(line(7), "amout", 1)),
        ("P0104", 10, col(line(10), "lenn", 1)),
        ("P0201", 13, col(line(13), "action.amount", 1)),
        ("P0105", 14, col(line(14), "catastrophic", 1)),
        ("P0302", 15, col(line(15), "a", 1)),
        ("P0203", 17, col(line(17), "\"brnch\"", 1)),
        ("P0109", 17, col(line(17), "XYZ", 1)),
        ("P0103", 20, col(line(20), "sael", 1)),
        ("P0106", 21, col(line(21), "condcut", 1)),
    ];
    let actual: Vec<(String, usize, usize)> = codes_at(&err);
    let actual: Vec<(&str, usize, usize)> = actual.iter().map(|(c, l, k)| (c.as_str(), *l, *k)).collect();
    assert_eq!(actual, expected, "{}", err.render());

    let by_code = |code: &str| err.errors().find(|d| d.code() == code).unwrap();
    let help = |code: &str| by_code(code).help().unwrap_or_else(|| panic!("{code} has no help")).to_string();
    assert_eq!(help("P0108"), "did you mean `Asia/Shanghai`?");
    assert_eq!(help("P0107"), "did you mean `customer`?");
    assert_eq!(help("P0102"), "did you mean `amount`?");
    assert_eq!(help("P0104"), "did you mean `len`?");
    assert!(help("P0201").contains("5000 CNY"), "{}", help("P0201"));
    assert!(help("P0105").contains("minor") && help("P0105").contains("major"), "{}", help("P0105"));
    assert!(!help("P0302").is_empty());
    assert_eq!(help("P0203"), "did you mean `branch`?");
    assert!(help("P0109").contains("ISO 4217"), "{}", help("P0109"));
    assert_eq!(help("P0103"), "did you mean `sale`?");
    assert_eq!(help("P0106"), "did you mean `conduct`?");

    // Messages name the offending thing.
    assert!(by_code("P0108").message().contains("Asia/Shangai"));
    assert!(by_code("P0102").message().contains("amout"));
    assert!(by_code("P0104").message().contains("lenn"));
    assert!(by_code("P0201").message().contains("money"), "{}", by_code("P0201").message());
    assert!(by_code("P0105").message().contains("catastrophic"));
    assert!(by_code("P0203").message().contains("brnch"));
    assert!(by_code("P0109").message().contains("XYZ"));

    // The duplicate points back at the first definition.
    let dup = by_code("P0302").record();
    assert_eq!(dup.related.len(), 1);
    assert_eq!((dup.related[0].line, dup.related[0].column), (4, 6));

    // Every record carries the file name and a position.
    for r in err.records() {
        assert_eq!(r.file, "p.probity");
        assert!(r.line >= 1 && r.column >= 1);
        assert!((r.end_line, r.end_column) >= (r.line, r.column));
    }
    assert_eq!(err.records().iter().filter(|r| r.severity == Severity::Error).count(), 11);
}

#[test]
fn no_constant_when_warning_cascades_from_an_error() {
    let err = load_errors("policy p version \"1\" effective 2026-01-01\naction a { k: text }\nrule r cite \"c\" on a when lenn(action.k) > 1 then deny\n");
    assert_eq!(err.iter().map(Diagnostic::code).collect::<Vec<_>>(), vec!["P0104"], "{}", err.render());
}

#[test]
fn diagnostics_are_in_position_order_and_display_as_file_line_column() {
    let src = MISTAKES.join("\n");
    let err = load_errors(&src);
    let positions: Vec<(usize, usize)> = err.iter().map(Diagnostic::line_column).collect();
    let mut sorted = positions.clone();
    sorted.sort();
    assert_eq!(positions, sorted);
    let first = err.errors().next().unwrap().to_string();
    assert!(first.starts_with("p.probity:1:"), "{first}");
    assert!(first.contains("error[P0108]"), "{first}");
    assert!(first.contains("(help: did you mean `Asia/Shanghai`?)"), "{first}");
    let summary = err.to_string();
    assert!(summary.starts_with("11 error(s) in policy text"), "{summary}");
}

#[test]
fn warnings_no_cite_unused_let_constant_when() {
    let lines = [
        r#"policy p version "1" effective 2026-01-01"#,
        r#"action a { n: int }"#,
        r#"rule no_cite on a when action.n > 1 then warn"#,
        r#"rule unused cite "c" on a let spare = action.n * 2 when action.n > 1 then warn"#,
        r#"rule constant cite "c" on a when 1 < 2 then warn"#,
        r#"rule always cite "c" on a when true then warn"#,
        r#"rule fine cite "c" on a let used = action.n when used > 1 then warn message "{used}""#,
    ];
    let src = lines.join("\n");
    let set = PolicySet::from_sources([("w.probity", src.as_str())]).unwrap_or_else(|d| panic!("{}", d.render()));
    let warnings: Vec<(&str, (usize, usize))> = set.warnings().iter().map(|w| (w.code(), w.line_column())).collect();
    assert_eq!(
        warnings,
        vec![
            ("W0001", (3, col(lines[2], "no_cite", 1))),
            ("W0002", (4, col(lines[3], "spare", 1))),
            ("W0003", (5, col(lines[4], "1 < 2", 1))),
            ("W0003", (6, col(lines[5], "true", 1))),
        ]
    );
    for w in set.warnings() {
        assert_eq!(w.severity(), Severity::Warning);
        assert!(w.help().is_some(), "{} has no help", w.code());
    }
    assert!(set.warnings()[0].message().contains("no_cite"));
    assert!(set.warnings()[1].message().contains("spare"));
    assert!(set.warnings()[3].message().contains("always true"), "{}", set.warnings()[3].message());

    // `diagnose` gives the same warnings without keeping the set.
    let diagnosed = PolicySet::diagnose([("w.probity", src.as_str())]);
    assert!(!diagnosed.has_errors());
    assert_eq!(diagnosed.iter().map(Diagnostic::code).collect::<Vec<_>>(), vec!["W0001", "W0002", "W0003", "W0003"]);
    assert_eq!(diagnosed.records().iter().filter(|r| r.severity == Severity::Warning).count(), 4);

    // With an error as well, `diagnose` (and a failed load) report both, in position order.
    let broken = format!("{src}\nrule bad cite \"c\" on a when action.nn > 1 then warn");
    let diagnosed = PolicySet::diagnose([("w.probity", broken.as_str())]);
    assert!(diagnosed.has_errors());
    assert_eq!(
        diagnosed.iter().map(Diagnostic::code).collect::<Vec<_>>(),
        vec!["W0001", "W0002", "W0003", "W0003", "P0102"]
    );
    assert_eq!(diagnosed.errors().count(), 1);
}

#[test]
fn a_let_shadowed_inside_where_is_a_warning() {
    let set = PolicySet::from_sources([(
        "w.probity",
        "policy p version \"1\" effective 2026-01-01\naction a { giver: text }\n\
         rule r cite \"c\" on a let giver = action.giver when count(a where giver = \"x\" within 7 days) > 0 and giver = \"y\" then warn\n",
    )])
    .unwrap();
    assert_eq!(set.warnings().iter().map(Diagnostic::code).collect::<Vec<_>>(), vec!["W0004"]);
}

#[test]
fn overlapping_versions_are_load_errors() {
    let v = |version: &str, effective: &str, until: Option<&str>| {
        format!(
            "policy p version \"{version}\" effective {effective}{}\naction a {{ }}\n",
            until.map(|u| format!(" until {u}")).unwrap_or_default()
        )
    };
    // Same effective date.
    let err = PolicySet::from_sources([
        ("v1.probity", v("1", "2026-01-01", None)),
        ("v2.probity", v("2", "2026-01-01", None)),
    ])
    .unwrap_err();
    let e = err.errors().next().unwrap();
    assert_eq!(e.code(), "P0305");
    assert_eq!(e.file(), "v2.probity");
    assert_eq!(e.line_column(), (1, 8));
    assert!(e.message().contains("`1`") && e.message().contains("`2`"), "{}", e.message());
    assert_eq!(e.record().related[0].file, "v1.probity");
    assert!(e.help().is_some());

    // An `until` later than the next version's `effective` (files given in any order).
    let err = PolicySet::from_sources([
        ("v2.probity", v("2", "2026-06-01", None)),
        ("v1.probity", v("1", "2026-01-01", Some("2026-07-01"))),
    ])
    .unwrap_err();
    assert_eq!(codes_at(&err), vec![("P0305".to_string(), 1, 8)]);
    assert_eq!(err.errors().next().unwrap().file(), "v2.probity");

    // Adjacent versions are fine: the earlier ends where the later begins.
    let e = engine_of(&[
        ("v1.probity", &v("1", "2026-01-01", Some("2026-06-01"))),
        ("v2.probity", &v("2", "2026-06-01", None)),
    ]);
    let d = decide(&e, serde_json::json!({"type": "a", "id": "A", "at": "2026-05-31T23:59:59Z", "rm": {"id": "R"}}));
    assert_eq!(d.policies[0].version, "1");
    let d = decide(&e, serde_json::json!({"type": "a", "id": "A", "at": "2026-06-01T00:00:00Z", "rm": {"id": "R"}}));
    assert_eq!(d.policies[0].version, "2");

    // A gap between versions is fine too: nothing applies inside it.
    let e = engine_of(&[
        ("v1.probity", &v("1", "2026-01-01", Some("2026-03-01"))),
        ("v2.probity", &v("2", "2026-06-01", None)),
    ]);
    let d = decide(&e, serde_json::json!({"type": "a", "id": "A", "at": "2026-04-01T00:00:00Z", "rm": {"id": "R"}}));
    assert!(d.policies.is_empty());

    // `until` not after `effective`.
    let err = load_errors("policy p version \"1\" effective 2026-01-01 until 2026-01-01\n");
    assert_eq!(codes_at(&err), vec![("P0305".to_string(), 1, 49)]);
}

/// One source per stable code, with the line the error must be on.
const CODES: &[(&str, &str, usize)] = &[
    ("P0001", "policy p version \"1\" effective 2026-01-01\naction a { }\nrule r cite \"c\" onn a then deny\n", 3),
    ("P0002", "policy p version \"1\" effective 2026-01-01\naction a { }\nrule r cite \"c on a then deny\n", 3),
    ("P0003", "policy p version \"1\" effective 2026-01-01\naction a { }\nrule r cite \"\\q\" on a then deny\n", 3),
    ("P0004", "policy p version \"1\" effective 2026-01-01\naction a { n: int }\nrule r cite \"c\" on a when (((((((((((((((((((((((((((((((((((((((((((1))))))))))))))))))))))))))))))))))))))))))) > 0 then deny\n", 3),
    ("P0006", "policy p version \"1\" effective 2026-01-01\naction a { n: int }\nrule r cite \"c\" on a when 1 < action.n < 3 then deny\n", 3),
    ("P0007", "policy p version \"1\" effective 2026-01-01\naction a { n: int }\nrule r cite \"c\" on a when action.n > 99999999999999999999 then deny\n", 3),
    ("P0008", "policy p version \"1\" effective 2026-13-01\n", 1),
    ("P0009", "policy p version \"1\" effective 2026-01-01\naction a { }\nrule r cite \"c\" on a then deny message \"{not a path}\"\n", 3),
    ("P0101", "policy p version \"1\" effective 2026-01-01\naction a { n: int }\nrule r cite \"c\" on a when n > 1 then deny\n", 3),
    ("P0102", "policy p version \"1\" effective 2026-01-01\naction a { n: int }\nrule r cite \"c\" on a when action.m > 1 then deny\n", 3),
    ("P0103", "policy p version \"1\" effective 2026-01-01\naction a { }\nrule r cite \"c\" on b then deny\n", 3),
    ("P0104", "policy p version \"1\" effective 2026-01-01\naction a { n: int }\nrule r cite \"c\" on a when sqrt(action.n) > 1 then deny\n", 3),
    ("P0105", "policy p version \"1\" effective 2026-01-01\naction a { }\nrule r cite \"c\" on a then breach huge\nladder l window 1 year points minor 1 step 1 \"x\"\n", 3),
    ("P0106", "policy p version \"1\" effective 2026-01-01\naction a { }\nrule r cite \"c\" on a then breach minor in m\nladder l window 1 year points minor 1 step 1 \"x\"\n", 3),
    ("P0107", "policy p version \"1\" effective 2026-01-01\naction a { c: client }\n", 2),
    ("P0108", "policy p version \"1\" effective 2026-01-01\n  timezone \"Mars/Olympus\"\n", 2),
    ("P0109", "policy p version \"1\" effective 2026-01-01\naction a { m: money }\nrule r cite \"c\" on a when action.m > 1 ABC then deny\n", 3),
    ("P0110", "policy p version \"1\" effective 2026-01-01\nrecord node { next: node }\n", 2),
    ("P0201", "policy p version \"1\" effective 2026-01-01\naction a { d: date }\nrule r cite \"c\" on a when action.d > 3 then deny\n", 3),
    ("P0202", "policy p version \"1\" effective 2026-01-01\naction a { }\nrule r cite \"c\" on a when 1 CNY < 2 USD then deny\n", 3),
    ("P0203", "policy p version \"1\" effective 2026-01-01\naction a { k: one of x, y }\nrule r cite \"c\" on a when action.k = \"z\" then deny\n", 3),
    ("P0301", "policy p version \"1\" effective 2026-01-01\naction a { }\nrule r cite \"c\" on a when count(a) > 1 then deny\n", 3),
    ("P0302", "policy p version \"1\" effective 2026-01-01\naction a { }\nladder l window 1 year points minor 1 step 1 \"x\"\nladder l window 1 year points minor 1 step 1 \"x\"\n", 4),
    ("P0303", "policy p version \"1\" effective 2026-01-01\nladder l window 1 year points minor 1\n  step 5 \"a\"\n  step 5 \"b\"\n", 4),
    ("P0304", "policy p version \"1\" effective 2026-01-01\naction a { n: int }\nrule r cite \"c\" on a then deny\n  message \"{action.m}\"\n", 4),
    ("P0306", "policy p version \"1\" effective 2026-01-01\naction a { }\nrule r cite \"c\" on a then breach minor\n", 3),
    ("P0307", "policy p effective 2026-01-01\n", 1),
    ("P0308", "policy p version \"1\" effective 2026-01-01\naction a { }\nrule r cite \"c\" on a then deny\n  then review\n", 4),
];

#[test]
fn every_stable_code_is_produced_at_its_line() {
    for (code, src, line) in CODES {
        let err = load_errors(src);
        let found: Vec<(String, usize, usize)> = codes_at(&err);
        assert!(
            found.iter().any(|(c, l, _)| c == code && l == line),
            "expected {code} on line {line}, found {found:?}\n{}",
            err.render()
        );
        for d in err.errors() {
            assert!(d.code().len() == 5 && d.code().starts_with('P'), "code {}", d.code());
        }
    }
}

#[test]
fn more_placements_of_errors() {
    // A breach in a policy with several ladders must say which one, at the `breach` outcome.
    let lines = [
        "policy p version \"1\" effective 2026-01-01",
        "action a { }",
        "rule r cite \"c\" on a then review, breach minor",
        "ladder x window 1 year points minor 1 step 1 \"x\"",
        "ladder y window 1 year points minor 1 step 1 \"y\"",
    ];
    let err = load_errors(&lines.join("\n"));
    assert_eq!(codes_at(&err), vec![("P0306".to_string(), 3, col(lines[2], "breach", 1))]);
    assert!(err.errors().next().unwrap().help().unwrap().contains("in <ladder>"));

    // Ladder steps: at the first step out of order.
    let lines = [
        "policy p version \"1\" effective 2026-01-01",
        "ladder l window 1 year points minor 1",
        "  step 1 \"a\" step 4 \"b\"",
        "  step 3 \"c\"",
        "  step 2 \"d\"",
    ];
    let err = load_errors(&lines.join("\n"));
    assert_eq!(codes_at(&err), vec![("P0303".to_string(), 4, 3)]);

    // An aggregate without `within`, with a hint showing the fix.
    let err = load_errors("policy p version \"1\" effective 2026-01-01\naction gift { }\nrule r cite \"c\" on gift when count(gift) > 3 then warn\n");
    let e = err.errors().next().unwrap();
    assert_eq!((e.code(), e.line_column()), ("P0301", (3, 30)));
    assert_eq!(e.help(), Some("add `within`, as in `count(gift within 12 months)`"));

    // An expression error on a later line of a multi-line `when` is reported on that line.
    let err = load_errors(
        "policy p version \"1\" effective 2026-01-01\naction a { n: int  m: money }\nrule r cite \"c\" on a\n  when action.n > 1\n    and action.m > 5\n  then deny\n",
    );
    assert_eq!(codes_at(&err), vec![("P0201".to_string(), 5, 9)]);

    // A placeholder that names nothing, with did-you-mean.
    let err = load_errors("policy p version \"1\" effective 2026-01-01\naction a { amount: money }\nrule r cite \"c\" on a then deny message \"{action.amont}\"\n");
    let e = err.errors().next().unwrap();
    assert_eq!((e.code(), e.line_column()), ("P0304", (3, 41)));
    assert_eq!(e.help(), Some("did you mean `action.amount`?"));

    // Duties: `then` is not allowed, and `due within` needs `fulfilled by`.
    let err = load_errors(
        "policy p version \"1\" effective 2026-01-01\naction a { }\nduty d cite \"c\" on a require true then deny\n",
    );
    assert_eq!(codes_at(&err), vec![("P0308".to_string(), 3, 35)]);
    let err = load_errors(
        "policy p version \"1\" effective 2026-01-01\naction a { }\nduty d cite \"c\" on a due within 3 days\n",
    );
    assert_eq!(codes_at(&err), vec![("P0307".to_string(), 3, 22)]);

    // Rules, conflicts and duties share one namespace.
    let err = load_errors("policy p version \"1\" effective 2026-01-01\naction a { }\nrule x cite \"c\" on a then deny\nduty x cite \"c\" on a require true\n");
    assert_eq!(codes_at(&err), vec![("P0302".to_string(), 4, 6)]);
}

#[test]
fn errors_in_several_files_are_all_reported_in_file_order() {
    let err = PolicySet::from_sources([
        ("b.probity", "policy b version \"1\" effective 2026-01-01\naction a { n: int }\nrule r cite \"c\" on a when action.x > 1 then deny\n"),
        ("a.probity", "policy a version \"1\" effective 2026-01-01 timezone \"Nowhere/City\"\n"),
    ])
    .unwrap_err();
    let files: Vec<(&str, &str)> = err.errors().map(|d| (d.file(), d.code())).collect();
    assert_eq!(files, vec![("a.probity", "P0108"), ("b.probity", "P0102")]);
}
