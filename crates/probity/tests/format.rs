//! `format_source` (`probity fmt`): one canonical layout, comments kept in place, and two
//! properties over every policy we have and over random ones: formatting is idempotent and
//! faithful (the formatted text parses to the same tree, spans and parentheses aside, and
//! loads with the same diagnostics).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    clippy::arithmetic_side_effects
)]

use std::path::{Path, PathBuf};

use probity::{format_source, syntax_fingerprint, PolicySet};
use proptest::prelude::*;

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn fmt(text: &str) -> String {
    format_source("p.probity", text).unwrap_or_else(|d| panic!("did not format:\n{}", d.render()))
}

/// The comments of a text, by a scan independent of the formatter's: `#` outside a text
/// literal, to the end of the line, without trailing white space; sorted.
fn comments(text: &str) -> Vec<String> {
    let mut found = Vec::new();
    for line in text.lines() {
        let mut in_text = false;
        let mut escaped = false;
        for (i, c) in line.char_indices() {
            if in_text {
                if escaped {
                    escaped = false;
                } else if c == '\\' {
                    escaped = true;
                } else if c == '"' {
                    in_text = false;
                }
            } else if c == '"' {
                in_text = true;
            } else if c == '#' {
                found.push(line[i..].trim_end().to_string());
                break;
            }
        }
    }
    found.sort();
    found
}

/// The codes of every diagnostic a lone file loads with.
fn load_codes(name: &str, text: &str) -> Vec<&'static str> {
    let mut codes: Vec<_> = PolicySet::diagnose([(name, text)]).iter().map(|d| d.code()).collect();
    codes.sort_unstable();
    codes
}

/// Formatting `text` is idempotent, faithful, and keeps every comment exactly once.
fn assert_round_trip(name: &str, text: &str) -> String {
    let once = format_source(name, text).unwrap_or_else(|d| panic!("{name} did not format:\n{}", d.render()));
    let twice = format_source(name, &once).unwrap_or_else(|d| panic!("{name}: output does not parse:\n{}", d.render()));
    assert_eq!(once, twice, "{name}: formatting is not idempotent; first output:\n{once}");
    let before = syntax_fingerprint(name, text).unwrap();
    let after = syntax_fingerprint(name, &once).unwrap();
    assert_eq!(before, after, "{name}: the formatted text means something else:\n{once}");
    assert_eq!(comments(text), comments(&once), "{name}: comments lost or duplicated:\n{once}");
    assert_eq!(load_codes(name, text), load_codes(name, &once), "{name}: loads differently:\n{once}");
    assert!(once.ends_with('\n') && !once.ends_with("\n\n"), "{name}: one final line break");
    assert!(!once.contains("\n\n\n"), "{name}: at most one blank line in a row");
    assert!(once.lines().all(|l| l == l.trim_end()), "{name}: trailing white space");
    once
}

fn policy_files() -> Vec<PathBuf> {
    fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                walk(&path, out);
            } else if path.extension().is_some_and(|e| e == "probity") {
                out.push(path);
            }
        }
    }
    let mut out = Vec::new();
    walk(&root().join("policies"), &mut out);
    out.sort();
    out
}

/// Every inline policy source of the spec files: `(file and place, text)`.
fn spec_sources() -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut files: Vec<_> = std::fs::read_dir(root().join("tests/spec"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "yaml"))
        .collect();
    files.sort();
    for file in files {
        let yaml: serde_norway::Value = serde_norway::from_str(&std::fs::read_to_string(&file).unwrap()).unwrap();
        let name = file.file_name().unwrap().to_string_lossy().to_string();
        let mut lists = vec![(name.clone(), yaml.get("policies").cloned())];
        if let Some(cases) = yaml.get("cases").and_then(|c| c.as_sequence()) {
            for (i, case) in cases.iter().enumerate() {
                lists.push((format!("{name} case {i}"), case.get("policies").cloned()));
            }
        }
        for (place, list) in lists {
            let Some(serde_norway::Value::Sequence(items)) = list else { continue };
            for (j, item) in items.iter().enumerate() {
                if let Some(text) = item.as_str().filter(|t| t.contains('\n')) {
                    out.push((format!("{place} policy {j}"), text.to_string()));
                }
            }
        }
    }
    out
}

// ---------------------------------------------------------------- the policies we have

#[test]
fn every_policy_file_round_trips() {
    let files = policy_files();
    assert!(files.len() >= 6, "{files:?}");
    for path in files {
        let text = std::fs::read_to_string(&path).unwrap();
        assert_round_trip(&path.display().to_string(), &text);
    }
}

#[test]
fn every_spec_policy_round_trips() {
    let sources = spec_sources();
    let mut formatted = 0;
    for (place, text) in &sources {
        if format_source(place, text).is_err() {
            // Some load-error cases are syntax errors on purpose.
            let syntax_cases = ["07_load_errors", "13_business_days"];
            assert!(syntax_cases.iter().any(|f| place.starts_with(f)), "{place} does not parse");
            continue;
        }
        assert_round_trip(place, text);
        formatted += 1;
    }
    assert!(formatted >= 20, "only {formatted} of {} spec policies formatted", sources.len());
}

#[test]
fn the_formatted_policies_decide_the_same() {
    // Faithful at the engine level too: every policy directory loads after formatting, with
    // the same versions and rule counts.
    for dir in ["cn", "uk", "us"] {
        let dir = root().join("policies").join(dir);
        let files: Vec<_> = policy_files().into_iter().filter(|p| p.starts_with(&dir)).collect();
        let sources: Vec<(String, String)> =
            files.iter().map(|p| (p.display().to_string(), std::fs::read_to_string(p).unwrap())).collect();
        let formatted: Vec<(String, String)> = sources.iter().map(|(n, t)| (n.clone(), fmt(t))).collect();
        let a = PolicySet::from_sources(sources).unwrap();
        let b = PolicySet::from_sources(formatted).unwrap();
        assert_eq!(a.versions().collect::<Vec<_>>(), b.versions().collect::<Vec<_>>());
        assert_eq!(a.rule_count(), b.rule_count());
    }
}

#[test]
fn snapshot_cn_wealth_sales_2026() {
    let text = std::fs::read_to_string(root().join("policies/cn/wealth_sales_2026.probity")).unwrap();
    insta::assert_snapshot!(fmt(&text));
}

#[test]
fn snapshot_uk_fca_conduct_2026() {
    let text = std::fs::read_to_string(root().join("policies/uk/fca_conduct_2026.probity")).unwrap();
    insta::assert_snapshot!(fmt(&text));
}

// ---------------------------------------------------------------- the layout

const HEADER: &str = "policy p \"P\"\n  version \"1\"\n  effective 2026-01-01\n";

#[test]
fn the_header_takes_its_own_lines_in_a_fixed_order() {
    let src = "policy p on error deny timezone \"UTC\" until 2027-01-01 effective 2026-01-01 version \"1\"";
    assert_eq!(
        fmt(src),
        "policy p\n  version \"1\"\n  effective 2026-01-01\n  until 2027-01-01\n  timezone \"UTC\"\n  on error deny\n"
    );
}

#[test]
fn declarations_are_separated_by_one_blank_line_and_fields_take_a_line_each() {
    let src = format!(
        "{HEADER}record customer {{ id: text, risk: int birth: date? }}\n\n\n\naction sale {{ customer: customer, \
         tags: set of text?, kind: one of a, b, c\n  items: list of int }}\naction empty {{ }}"
    );
    assert_eq!(
        fmt(&src),
        format!(
            "{HEADER}\nrecord customer {{\n  id: text\n  risk: int\n  birth: date?\n}}\n\naction sale {{\n  \
             customer: customer\n  tags: set of text?\n  kind: one of a, b, c\n  items: list of int\n}}\n\n\
             action empty {{}}\n"
        )
    );
}

#[test]
fn clauses_take_a_line_each_in_the_order_written() {
    let src = format!(
        "{HEADER}action sale {{ amount: money }}\nrule big \"Big\" on sale then deny,breach major in conduct , \
         escalate \"x\" when action.amount>=500 CNY cite \"c\" message zh \"大 {{action.amount}} {{{{x}}}}\"\n\
         ladder conduct \"C\" step 3 \"w\" points major 3,minor 1 window 1 years"
    );
    assert_eq!(
        fmt(&src),
        format!(
            "{HEADER}\naction sale {{\n  amount: money\n}}\n\nrule big \"Big\"\n  on sale\n  then deny, breach major in \
             conduct, escalate \"x\"\n  when action.amount >= 500 CNY\n  cite \"c\"\n  message zh \"大 \
             {{action.amount}} {{{{x}}}}\"\n\nladder conduct \"C\"\n  window 1 year\n  points major 3, minor 1\n  \
             step 3 \"w\"\n"
        )
    );
}

#[test]
fn duties_keep_their_clauses() {
    let src = format!(
        "{HEADER}action gift {{ value: money }}\naction reg {{ gift: text }}\nduty d \"D\" on gift due within 1 days \
         fulfilled by reg where gift = action.id otherwise breach minor\nduty e on gift require \
         action.value is present otherwise review\nduty f on gift due within 2 hour fulfilled by reg"
    );
    let out = fmt(&src);
    assert!(out.contains(
        "duty d \"D\"\n  on gift\n  due within 1 day\n  fulfilled by reg where gift = action.id\n  otherwise breach minor\n"
    ));
    assert!(out.contains("duty e\n  on gift\n  require action.value is present\n  otherwise review\n"));
    assert!(out.contains("  due within 2 hours\n  fulfilled by reg\n"));
}

fn when(expr: &str) -> String {
    let src = format!(
        "{HEADER}action sale {{ amount: money, n: int, m: int, rate: decimal, tags: set of text, note: text? }}\n\
         rule r on sale when {expr} then deny"
    );
    let out = fmt(&src);
    let start = out.find("  when ").unwrap() + 7;
    let end = out.find("\n  then").unwrap();
    out[start..end].to_string()
}

#[test]
fn expressions_keep_only_the_parentheses_the_tree_needs() {
    assert_eq!(when("((action.n > 1)) and (action.m < 2)"), "action.n > 1 and action.m < 2");
    assert_eq!(
        when("(action.n > 1 or action.m < 2) and action.n = 3"),
        "(action.n > 1 or action.m < 2) and action.n = 3"
    );
    assert_eq!(
        when("action.n > 1 or (action.m < 2 and action.n = 3)"),
        "action.n > 1 or action.m < 2 and action.n = 3"
    );
    assert_eq!(
        when("(action.n > 1 and action.m < 2) and action.n = 3"),
        "action.n > 1 and action.m < 2 and action.n = 3"
    );
    // And is left-associative: the grouping on the right is a different tree.
    assert_eq!(
        when("action.n > 1 and (action.m < 2 and action.n = 3)"),
        "action.n > 1 and (action.m < 2 and action.n = 3)"
    );
    assert_eq!(when("not (action.tags contains \"x\")"), "not action.tags contains \"x\"");
    assert_eq!(when("not (action.n > 1 and action.m > 1)"), "not (action.n > 1 and action.m > 1)");
    assert_eq!(when("(not action.note is present) = true"), "(not action.note is present) = true");
    assert_eq!(when("((action.n) + (action.m * 2)) > 3"), "action.n + action.m * 2 > 3");
    assert_eq!(when("(action.n + action.m) * 2 > 3"), "(action.n + action.m) * 2 > 3");
    assert_eq!(when("action.n - (action.m - 1) > 3"), "action.n - (action.m - 1) > 3");
    assert_eq!(when("(action.n - action.m) - 1 > 3"), "action.n - action.m - 1 > 3");
    assert_eq!(when("-(action.n) * -(action.m + 1) > 0"), "-action.n * -(action.m + 1) > 0");
    assert_eq!(when("((action.n > 1)) = ((action.m > 1))"), "(action.n > 1) = (action.m > 1)");
    assert_eq!(when("(action.n > 1) = true"), "(action.n > 1) = true");
    assert_eq!(when("(action.note is present) = true"), "action.note is present = true");
    assert_eq!(when("max((action.n), abs(action.m)) > 0"), "max(action.n, abs(action.m)) > 0");
}

#[test]
fn literals_print_canonically() {
    assert_eq!(when("action.rate > 30%"), "action.rate > 30%");
    assert_eq!(when("action.rate > 1.50%"), "action.rate > 1.50%");
    assert_eq!(when("action.rate >= 0.30"), "action.rate >= 0.30");
    assert_eq!(when("action.amount > 500.00   CNY"), "action.amount > 500.00 CNY");
    assert_eq!(when("action.n > 007"), "action.n > 7");
    assert_eq!(
        when("today + 1 days > 2026-01-01 and now < 2026-02-01T09:00+08:00"),
        "today + 1 day > 2026-01-01 and now < 2026-02-01T09:00+08:00"
    );
    assert_eq!(when("today - 3   month < today"), "today - 3 months < today");
    assert_eq!(when(r#"action.note = "a \"q\" \\ \n b""#), r#"action.note = "a \"q\" \\ \n b""#);
    assert_eq!(when(r#"action.note in [ "x" , "y", ]"#), r#"action.note in ["x", "y"]"#);
    assert_eq!(when("action.tags = [ ]"), "action.tags = []");
    assert_eq!(when("count(sale  where (n > 1)  within 30 days) > 1"), "count(sale where n > 1 within 30 days) > 1");
    assert_eq!(when("sum(sale.amount within 1 year) > 0 CNY"), "sum(sale.amount within 1 year) > 0 CNY");
}

#[test]
fn long_expressions_break_before_and_and_or_with_a_hanging_indent() {
    let out = fmt(&format!(
        "{HEADER}action sale {{ amount: money, channel: one of branch, online, phone, n: int }}\n\
         rule r on sale\n  when action.channel = \"branch\" and action.amount >= 1000000 CNY and action.n > 3 and \
         (action.channel = \"online\" or action.channel = \"phone\" or action.amount < 5 CNY or action.n < 100000)\n  \
         then review"
    ));
    assert!(
        out.contains(
            "  when action.channel = \"branch\"\n    and action.amount >= 1000000 CNY\n    and action.n > 3\n    \
             and (action.channel = \"online\"\n      or action.channel = \"phone\"\n      or action.amount < 5 CNY\n      \
             or action.n < 100000)\n  then review\n"
        ),
        "{out}"
    );
    assert!(out.lines().all(|l| l.chars().count() <= 100), "{out}");
}

#[test]
fn long_aggregates_break_before_where_and_within() {
    let out = fmt(&format!(
        "{HEADER}action sale {{ client: text, instrument: text, stage: one of ex_ante, ex_post }}\n\
         rule r on sale\n  when exists(sale where client = action.client and instrument = action.instrument and \
         stage = \"ex_ante\" and client != \"nobody at all\" within 30 days)\n  then review"
    ));
    assert!(
        out.contains(
            "  when exists(sale\n    where client = action.client\n      and instrument = action.instrument\n      \
             and stage = \"ex_ante\"\n      and client != \"nobody at all\"\n    within 30 days)\n"
        ),
        "{out}"
    );
}

// ---------------------------------------------------------------- comments

#[test]
fn comments_stay_where_they_were() {
    let src = "# file comment\n\n# about the policy\npolicy p \"P\"   # the id\n  version \"1\"\n  \
               # the start\n  effective 2026-01-01\n# records\n\n\n\nrecord customer {   # people\n  id: text # the id\n\
               \n  # the level\n  risk: int\n  # nothing after this\n}\n\nrule r \"R\" # title\n  on customer_x\n  \
               when 1 > 2   # never\n    and 2 > 3 # and again\n  # own line inside\n  then deny\n\n# the end\n";
    let out = fmt(src);
    assert_eq!(
        out,
        "# file comment\n\n# about the policy\npolicy p \"P\"  # the id\n  version \"1\"\n  # the start\n  effective \
         2026-01-01\n\n# records\n\nrecord customer {  # people\n  id: text         # the id\n\n  # the level\n  \
         risk: int\n  # nothing after this\n}\n\nrule r \"R\"  # title\n  on customer_x\n  # never\n  # and again\n  \
         when 1 > 2 and 2 > 3\n  # own line inside\n  then deny\n\n# the end\n"
    );
    assert_round_trip("p.probity", src);
}

#[test]
fn a_comment_inside_an_expression_goes_before_its_clause_or_ends_its_line() {
    let src = format!(
        "{HEADER}action sale {{ n: int }}\nrule r on sale\n  when action.n > 1\n    # why two\n    and action.n > 2\n  \
         then deny # deny it\n"
    );
    let out = assert_round_trip("p.probity", &src);
    assert!(out.contains("  # why two\n  when action.n > 1 and action.n > 2\n  then deny  # deny it\n"), "{out}");
    let src = format!("{HEADER}action sale {{ n: int }}\nrule r on sale when action.n > 1 # one\n and action.n > 2\n");
    let out = assert_round_trip("p.probity", &src);
    assert!(out.contains("  when action.n > 1 and action.n > 2  # one\n"), "{out}");
}

#[test]
fn hash_signs_in_texts_are_not_comments() {
    let src =
        format!("{HEADER}action sale {{ n: int }}\nrule r \"#1 \\\"#2\\\"\" on sale then escalate \"#x\" # real\n");
    let out = assert_round_trip("p.probity", &src);
    assert!(out.contains("rule r \"#1 \\\"#2\\\"\"\n  on sale\n  then escalate \"#x\"  # real\n"), "{out}");
}

#[test]
fn text_that_does_not_parse_is_an_error() {
    let err = format_source("bad.probity", "policy p version \"1\"\nrule r on sale when (1 > then deny\n").unwrap_err();
    assert!(err.has_errors());
    assert!(err.render().contains("bad.probity"), "{}", err.render());
    assert!(format_source("bad.probity", "rule r on x").is_err());
}

// ---------------------------------------------------------------- random policies

/// A generated expression, printed with the parentheses its tree needs (plus those it asks
/// for) and with random line breaks and comments before its operators.
#[derive(Clone, Debug)]
enum G {
    Atom(String),
    Bin { op: &'static str, prec: u8, l: Box<G>, r: Box<G>, layout: u8 },
    Not(Box<G>),
    Neg(Box<G>),
    Presence(&'static str, bool),
    Call(&'static str, Vec<G>),
    Agg { head: &'static str, filter: Option<Box<G>>, window: &'static str },
    Paren(Box<G>),
}

impl G {
    fn prec(&self) -> u8 {
        match self {
            G::Bin { prec, .. } => *prec,
            G::Not(_) => 3,
            G::Presence(..) => 4,
            G::Neg(_) => 7,
            _ => 8,
        }
    }

    fn render(&self, min: u8, under_comparison: bool) -> String {
        let s = match self {
            G::Atom(s) => s.clone(),
            G::Bin { op, prec, l, r, layout } => {
                let compare = *prec == 4;
                let gap = match layout % 4 {
                    0 => "\n      ",
                    1 => "  # split\n      ",
                    _ => " ",
                };
                format!("{}{gap}{op} {}", l.render(*prec, compare), r.render(prec + 1, compare))
            }
            G::Not(x) => format!("not {}", x.render(3, false)),
            G::Neg(x) => format!("-{}", x.render(7, false)),
            G::Presence(path, present) => format!("{path} is {}", if *present { "present" } else { "missing" }),
            G::Call(name, args) => {
                format!("{name}({})", args.iter().map(|a| a.render(0, false)).collect::<Vec<_>>().join(", "))
            }
            G::Agg { head, filter: Some(f), window } => format!("{head} where {} within {window})", f.render(0, false)),
            G::Agg { head, filter: None, window } => format!("{head} within {window})"),
            G::Paren(x) => format!("({})", x.render(0, false)),
        };
        if self.prec() < min || (under_comparison && self.prec() == 4 && !matches!(self, G::Presence(..))) {
            format!("({s})")
        } else {
            s
        }
    }
}

fn atom(s: &str) -> G {
    G::Atom(s.to_string())
}

fn bin(op: &'static str, prec: u8, l: G, r: G, layout: u8) -> G {
    G::Bin { op, prec, l: Box::new(l), r: Box::new(r), layout }
}

fn int_expr() -> impl Strategy<Value = G> {
    let leaf = prop_oneof![
        Just(atom("action.product_risk")),
        Just(atom("action.customer.risk_level")),
        (0i64..1000).prop_map(|n| G::Atom(n.to_string())),
        Just(G::Call("len", vec![atom("action.tags")])),
        Just(G::Agg { head: "count(sale", filter: None, window: "30 days" }),
        item_filter().prop_map(|f| G::Agg { head: "count(sale", filter: Some(Box::new(f)), window: "1 year" }),
    ];
    leaf.prop_recursive(3, 10, 2, |inner| {
        prop_oneof![
            (inner.clone(), inner.clone(), prop::sample::select(vec!["+", "-"]), any::<u8>())
                .prop_map(|(a, b, op, l)| bin(op, 5, a, b, l)),
            (inner.clone(), inner.clone(), any::<u8>()).prop_map(|(a, b, l)| bin("*", 6, a, b, l)),
            inner.clone().prop_map(|a| G::Neg(Box::new(a))),
            inner.clone().prop_map(|a| G::Paren(Box::new(a))),
            (inner.clone(), inner.clone()).prop_map(|(a, b)| G::Call("max", vec![a, b])),
            inner.prop_map(|a| G::Call("abs", vec![a])),
        ]
    })
}

fn money_expr() -> impl Strategy<Value = G> {
    let leaf = prop_oneof![
        Just(atom("action.amount")),
        (0u32..100000).prop_map(|n| G::Atom(format!("{n} CNY"))),
        Just(atom("12.50 CNY")),
        Just(G::Agg { head: "sum(sale.amount", filter: None, window: "12 months" }),
        item_filter().prop_map(|f| G::Agg { head: "max(sale.amount", filter: Some(Box::new(f)), window: "2 weeks" }),
    ];
    leaf.prop_recursive(2, 6, 2, |inner| {
        prop_oneof![
            (inner.clone(), inner.clone(), prop::sample::select(vec!["+", "-"]), any::<u8>())
                .prop_map(|(a, b, op, l)| bin(op, 5, a, b, l)),
            (inner.clone(), (1i64..10), any::<u8>()).prop_map(|(a, n, l)| bin("*", 6, a, G::Atom(n.to_string()), l)),
            inner.prop_map(|a| G::Paren(Box::new(a))),
        ]
    })
}

fn decimal_expr() -> impl Strategy<Value = G> {
    let leaf = prop_oneof![Just(atom("action.rate")), Just(atom("30%")), Just(atom("1.5%")), Just(atom("0.250"))];
    leaf.prop_recursive(2, 4, 2, |inner| {
        prop_oneof![
            (inner.clone(), inner.clone(), prop::sample::select(vec!["+", "-"]), any::<u8>())
                .prop_map(|(a, b, op, l)| bin(op, 5, a, b, l)),
            (inner.clone(), inner.clone(), any::<u8>()).prop_map(|(a, b, l)| bin("*", 6, a, b, l)),
        ]
    })
}

/// A condition on a history item (bare names are its fields).
fn item_filter() -> impl Strategy<Value = G> {
    let leaf = prop_oneof![
        (0i64..6).prop_map(|n| bin(">", 4, atom("product_risk"), G::Atom(n.to_string()), 2)),
        Just(bin("=", 4, atom("channel"), atom("\"branch\""), 2)),
        Just(bin("=", 4, atom("customer.id"), atom("action.customer.id"), 2)),
        Just(bin(">=", 4, atom("amount"), atom("100 CNY"), 2)),
        Just(G::Presence("note", true)),
    ];
    leaf.prop_recursive(2, 4, 2, |inner| {
        prop_oneof![
            (inner.clone(), inner.clone(), any::<u8>()).prop_map(|(a, b, l)| bin("and", 2, a, b, l)),
            (inner.clone(), inner, any::<u8>()).prop_map(|(a, b, l)| bin("or", 1, a, b, l)),
        ]
    })
}

fn comparison() -> impl Strategy<Value = &'static str> {
    prop::sample::select(vec!["=", "!=", "<", "<=", ">", ">="])
}

fn bool_expr() -> impl Strategy<Value = G> {
    let leaf = prop_oneof![
        (int_expr(), comparison(), int_expr(), any::<u8>()).prop_map(|(a, op, b, l)| bin(op, 4, a, b, l)),
        (money_expr(), comparison(), money_expr(), any::<u8>()).prop_map(|(a, op, b, l)| bin(op, 4, a, b, l)),
        (decimal_expr(), comparison(), decimal_expr(), any::<u8>()).prop_map(|(a, op, b, l)| bin(op, 4, a, b, l)),
        prop::sample::select(vec![
            "action.channel = \"branch\"",
            "action.channel in [\"branch\", \"online\"]",
            "action.channel not in [\"online\"]",
            "action.customer.segment >= \"private\"",
            "action.tags contains \"vip\"",
            "\"a \\\"q\\\" # not a comment\" in action.tags",
            "action.customer.id = \"x\\\\y\\n\"",
            "today >= 2026-01-01",
            "now < 2026-06-01T09:00:00+08:00",
            "date(now) + 30 days > today",
            "true",
            "false",
        ])
        .prop_map(atom),
        prop::sample::select(vec!["action.note", "action.customer.birth_date"])
            .prop_flat_map(|p| any::<bool>().prop_map(move |b| G::Presence(p, b))),
        item_filter().prop_map(|f| G::Agg { head: "exists(sale", filter: Some(Box::new(f)), window: "3 days" }),
    ];
    leaf.prop_recursive(4, 16, 2, |inner| {
        prop_oneof![
            (inner.clone(), inner.clone(), any::<u8>()).prop_map(|(a, b, l)| bin("and", 2, a, b, l)),
            (inner.clone(), inner.clone(), any::<u8>()).prop_map(|(a, b, l)| bin("or", 1, a, b, l)),
            inner.clone().prop_map(|a| G::Not(Box::new(a))),
            inner.clone().prop_map(|a| G::Paren(Box::new(a))),
            (inner, any::<u8>()).prop_map(|(a, l)| bin("=", 4, G::Paren(Box::new(a)), atom("true"), l)),
        ]
    })
}

/// One rule or duty, as text, with random layout and comments.
fn declaration(index: usize) -> impl Strategy<Value = String> {
    (
        bool_expr(),
        prop::option::of(bool_expr()),
        prop::option::of(int_expr()),
        any::<bool>(),
        prop::collection::vec(0u8..6, 8),
    )
        .prop_map(move |(when, unless, let_expr, duty, seps)| {
            let sep = |i: usize| match seps[i] {
                0 => " ",
                1 => "\n  # about the next clause\n  ",
                2 => "  # end of the line\n  ",
                3 => "\n\n\n  ",
                _ => "\n  ",
            };
            let mut s = if duty { format!("duty d{index} \"Duty {index}\"") } else { format!("rule r{index}") };
            s.push_str(sep(0));
            s.push_str("cite \"c\"");
            s.push_str(sep(1));
            s.push_str("on sale");
            if let Some(e) = &let_expr {
                s.push_str(sep(2));
                s.push_str(&format!("let level = {}", e.render(0, false)));
            }
            s.push_str(sep(3));
            if duty {
                s.push_str(&format!("require {}", when.render(0, false)));
                s.push_str(sep(4));
                s.push_str("otherwise review, breach minor");
            } else {
                s.push_str(&format!("when {}", when.render(0, false)));
                if let Some(u) = &unless {
                    s.push_str(sep(4));
                    s.push_str(&format!("unless {}", u.render(0, false)));
                }
                s.push_str(sep(5));
                s.push_str("then deny, breach major in conduct, escalate \"x\"");
            }
            s.push_str(sep(6));
            let placeholder = if let_expr.is_some() { "level" } else { "action.product_risk" };
            s.push_str(&format!("message \"risk {{{placeholder}}} of {{{{braces}}}} \\\"q\\\"\""));
            s.push_str(sep(7));
            s.push_str("message zh \"风险\"\n");
            s
        })
}

const SCHEMA: &str =
    "# generated\npolicy gen \"Generated\" version \"1\" effective 2026-01-01 timezone \"Asia/Shanghai\"\n\n\
record customer { id: text, risk_level: int, birth_date: date?, segment: one of retail, private }\n\
action sale {  # the only action\n  customer: customer\n  product_risk: int\n  amount: money\n  rate: decimal\n  \
channel: one of branch, online\n  tags: set of text\n  note: text?\n}\n";

const LADDER: &str = "ladder conduct window 12 months points minor 1, major 3 step 1 \"first\" step 4 \"second\"\n";

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn random_policies_round_trip(decls in (1usize..4).prop_flat_map(|n| (0..n).map(declaration).collect::<Vec<_>>())) {
        let mut src = SCHEMA.to_string();
        for d in &decls {
            src.push('\n');
            src.push_str(d);
        }
        src.push_str(LADDER);
        if let Err(d) = PolicySet::from_sources([("gen.probity", src.as_str())]) {
            panic!("the generated policy does not load:\n{src}\n{}", d.render());
        }
        assert_round_trip("gen.probity", &src);
    }
}

#[test]
fn edge_cases_round_trip() {
    let cases = [
        // An empty block, with and without comments inside.
        format!("{HEADER}record a {{ }}\nrecord b {{ # inside\n}}\nrecord c {{\n  # before the brace\n}} # after\n"),
        // A comment between a declaration's name and its brace.
        format!("{HEADER}record a # odd\n{{ x: int }}\n"),
        // A call that would read as an aggregate without its parentheses.
        format!("{HEADER}action sale {{ n: int }}\nrule r on sale when min((action.n)) > 1 and max((n), 2) > 1\n"),
        // Tabs, CRLF line ends and a comment-only tail.
        "policy p\r\n\tversion \"1\"\t# v\r\n\teffective 2026-01-01\r\n\r\n\r\n# tail one\r\n# tail two\r\n".to_string(),
        // A header alone, comments before and after.
        "# a\n\n\n# b\npolicy p # id\n# after".to_string(),
        // Several ladders' clauses out of order, a comment on each line.
        format!(
            "{HEADER}ladder l step 1 \"a\" # s1\n  points minor 1 # p1\n  , major 2 # p2\n  window 3 weeks # w\n  step 2 \"b\"\n"
        ),
        // Deep prefix operators and postfix presence.
        format!(
            "{HEADER}action sale {{ n: int, t: text? }}\nrule r on sale when not not (action.t is present) = \
             (not (action.t is missing)) and - - action.n < -(-1)\n"
        ),
        // Keywords as field names and in paths, enum members that are keywords.
        format!(
            "{HEADER}record rm {{ rule: text, kind: one of on, off }}\naction sale {{ policy: text }}\nrule r on sale \
             when rm.rule = action.policy and rm.kind = \"on\" and count(breach where rule = \"r\" within 1 day) > 0\n"
        ),
    ];
    for (i, src) in cases.iter().enumerate() {
        assert_round_trip(&format!("edge {i}"), src);
    }
    let out = fmt(&cases[0]);
    assert!(
        out.contains("record a {}\n\nrecord b {  # inside\n}\n\nrecord c {\n  # before the brace\n}  # after\n"),
        "{out}"
    );
    let out = fmt(&cases[2]);
    assert!(out.contains("when min((action.n)) > 1 and max(n, 2) > 1\n"), "{out}");
    let out = fmt(&cases[3]);
    assert_eq!(out, "policy p\n  version \"1\"  # v\n  effective 2026-01-01\n\n# tail one\n# tail two\n");
    let out = fmt(&cases[5]);
    assert!(
        out.contains(
            "  window 3 weeks  # w\n  # p1\n  # p2\n  points minor 1, major 2\n  step 1 \"a\"  # s1\n  step 2 \"b\"\n"
        ),
        "{out}"
    );
}
