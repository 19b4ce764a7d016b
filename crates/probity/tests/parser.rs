//! The grammar (docs/language.md#files-words-and-layout): every keyword, literal ordering, texts
//! and messages, comments, layout, syntax errors with their places, recovery, and the limits that keep parsing bounded.
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

/// Every reserved word (docs/language.md#keywords), the outcome and aggregate names included.
const KEYWORDS: &[&str] = &[
    "policy",
    "version",
    "effective",
    "until",
    "timezone",
    "on",
    "error",
    "record",
    "action",
    "rule",
    "conflict",
    "duty",
    "ladder",
    "cite",
    "let",
    "when",
    "unless",
    "then",
    "require",
    "otherwise",
    "due",
    "within",
    "fulfilled",
    "by",
    "where",
    "message",
    "window",
    "points",
    "step",
    "in",
    "not",
    "and",
    "or",
    "contains",
    "is",
    "present",
    "missing",
    "of",
    "one",
    "set",
    "list",
    "true",
    "false",
    "now",
    "today",
    // outcomes
    "deny",
    "review",
    "warn",
    "breach",
    "escalate",
    // aggregates
    "count",
    "exists",
    "sum",
    "min",
    "max",
];

const ALL_KEYWORDS: &str = r#"# A policy that uses every keyword of docs/language.md#keywords.
policy hours "Contact hours and more" version "2026.1" effective 2026-01-01 until 2027-01-01
  timezone "Asia/Shanghai" on error deny   # header clauses in any layout

record rm {
  grade: one of junior, intermediate, senior
  qualifications: set of text
}
record customer { id: text, segment: one of on, one, error, in, not, rule: text  birth_date: date? }
action sale {
  customer: customer
  inbound: int
  internal: bool
  notable: bool
  island: text?
  channel: one of online, onsite, one_off
  hours: int, days: int
  rate: decimal
  amount: money
  opened: date
  tags: set of text
  codes: list of int
  note: text
}
action gift_registered { gift: text }
action gift_received { value: money }

rule late_sale "No sales after hours"
  cite "Consumer protection #4"   # a `#` inside a text is not a comment
  on sale
  let local_hour = hour(now)
  when local_hour >= 21 or today < 2026-01-02 or date(now) < 2026-01-02
  then deny, escalate "compliance"
  message "sale at {local_hour}:00 {{after hours}}"
  message zh "晚间销售 {local_hour} 点"

conflict related "Related parties"
  cite "COI"
  on sale
  when action.note contains "spouse" and not action.internal
  unless exists(gift_registered where gift = action.customer.id within 30 days)
  then review, breach minor in conduct

duty recorded "Recorded" cite "R" on sale
  when action.channel not in ["online"] and action.island is missing
  require action.tags contains "recorded" or action.inbound in [1, 2]
  otherwise warn, breach major

duty register "Register" cite "G" on gift_received
  when action.value >= 200 CNY
  due within 30 days
  fulfilled by gift_registered where gift = action.id
  otherwise review

rule stats "Stats" cite "S" on sale
  when count(sale within 7 days) > 3 or sum(sale.amount within 1 month) > 1000 CNY
    or (exists(sale within 2 weeks) and min(sale.rate within 2 weeks) < 1.5%)
    or (exists(sale within 8 hours) and max(sale.hours within 8 hours) > 30)
    or action.rate = 30% or true = false or action.customer.birth_date is present
    or min(action.days, 3) = max(5, action.hours)
  then warn

ladder conduct "Conduct points" window 12 months points minor 1, major 3 step 1 "verbal" step 3 "formal"
"#;

fn words(src: &str) -> Vec<&str> {
    src.split(|c: char| !(c.is_ascii_alphanumeric() || c == '_')).filter(|w| !w.is_empty()).collect()
}

#[test]
fn every_keyword_appears_in_a_policy_that_loads() {
    let used = words(ALL_KEYWORDS);
    for kw in KEYWORDS {
        assert!(used.contains(kw), "the keyword `{kw}` is not exercised");
    }
    let set = PolicySet::from_sources([("all.probity", ALL_KEYWORDS)]).unwrap_or_else(|d| panic!("{}", d.render()));
    assert_eq!(set.versions().collect::<Vec<_>>(), vec![("hours", "2026.1")]);
    assert_eq!(set.rule_count(), 5);
}

#[test]
fn the_all_keywords_policy_evaluates() {
    let e = engine(ALL_KEYWORDS);
    let sale = |at: &str, extra: serde_json::Value| {
        let mut v = json!({"type": "sale", "id": "S-1", "at": at, "rm": {"id": "R1", "grade": "junior", "qualifications": []},
            "customer": {"id": "C1", "segment": "not", "rule": "x"}, "inbound": 1, "internal": false, "notable": false,
            "channel": "onsite", "hours": 1, "days": 1, "rate": "0.5", "amount": "10 CNY", "opened": "2026-01-01",
            "tags": [], "codes": [1, 2], "note": "n"});
        for (k, val) in extra.as_object().unwrap() {
            v[k] = val.clone();
        }
        v
    };
    // 22:00 local: after hours; the message holds literal braces and the zh message.
    let d = decide(&e, sale("2026-03-02T22:00:00+08:00", json!({})));
    assert_eq!(d.verdict, Verdict::Deny);
    assert_eq!(rules(&d), vec!["late_sale"]);
    let f = finding(&d, "late_sale");
    assert_eq!(f.message, "sale at 22:00 {after hours}");
    assert_eq!(f.messages, vec![(probity::SmolStr::from("zh"), probity::SmolStr::from("晚间销售 22 点"))]);
    assert_eq!(*f.cite, ["Consumer protection #4"]);
    assert_eq!(d.escalations, vec!["compliance"]);

    // Daytime; a note about a spouse is a conflict; `not in` / `is missing` / `require` fail.
    let d = decide(&e, sale("2026-03-02T10:00:00+08:00", json!({"note": "my spouse", "inbound": 5})));
    assert_eq!(rules(&d), vec!["related", "recorded"]);
    assert_eq!(finding(&d, "related").kind, FindingKind::Conflict);
    assert_eq!(finding(&d, "recorded").kind, FindingKind::Duty);
    assert_eq!(finding(&d, "recorded").severity.as_deref(), Some("major"));
    assert_eq!(d.verdict, Verdict::Review);

    // 30% and a present optional field fire `stats`.
    let d = decide(&e, sale("2026-03-02T10:00:00+08:00", json!({"rate": "0.30", "channel": "online"})));
    assert_eq!(rules(&d), vec!["stats"]);
    assert_eq!(d.verdict, Verdict::Allow);
}

#[test]
fn on_is_not_the_start_of_one_of() {
    let e = engine(
        "policy p version \"1\" effective 2026-01-01\n\
         action a { k: one of on, one, off }\n\
         rule r cite \"c\" on a when action.k = \"on\" then deny\n",
    );
    let base = json!({"type": "a", "id": "A", "at": "2026-03-01T10:00:00Z", "rm": {"id": "R"}});
    let mut on = base.clone();
    on["k"] = json!("on");
    let mut one = base.clone();
    one["k"] = json!("one");
    assert_eq!(decide(&e, on).verdict, Verdict::Deny);
    assert_eq!(decide(&e, one).verdict, Verdict::Allow);
}

#[test]
fn in_is_not_the_start_of_int_or_of_a_name() {
    let e = engine(
        "policy p version \"1\" effective 2026-01-01\n\
         action a { inbound: int  index: int  ins: set of int }\n\
         rule r cite \"c\" on a when action.inbound in action.ins and action.index in [7] then deny\n",
    );
    let act = |inbound: i64, index: i64| json!({"type": "a", "id": "A", "at": "2026-03-01T10:00:00Z", "rm": {"id": "R"}, "inbound": inbound, "index": index, "ins": [1, 2]});
    assert_eq!(decide(&e, act(2, 7)).verdict, Verdict::Deny);
    assert_eq!(decide(&e, act(3, 7)).verdict, Verdict::Allow);
    assert_eq!(decide(&e, act(2, 8)).verdict, Verdict::Allow);
}

#[test]
fn not_in_is_one_operator_and_prefix_not_binds_looser_than_comparisons() {
    let e = engine(
        "policy p version \"1\" effective 2026-01-01\n\
         action a { n: int  flag: bool  notable: bool }\n\
         rule infix cite \"c\" on a when action.n not in [1, 2] then warn\n\
         rule prefix cite \"c\" on a when not action.n in [1, 2] then warn\n\
         rule looser cite \"c\" on a when not action.n = 1 and action.flag then warn\n\
         rule name cite \"c\" on a when action.notable then warn\n",
    );
    let act = |n: i64, flag: bool, notable: bool| json!({"type": "a", "id": "A", "at": "2026-03-01T10:00:00Z", "rm": {"id": "R"}, "n": n, "flag": flag, "notable": notable});
    assert_eq!(rules(&decide(&e, act(3, true, false))), vec!["infix", "prefix", "looser"]);
    assert_eq!(rules(&decide(&e, act(1, true, true))), vec!["name"]);
    // `not n = 1 and flag` is `(not (n = 1)) and flag`, not `not ((n = 1) and flag)`.
    assert_eq!(rules(&decide(&e, act(2, false, false))), Vec::<String>::new());
}

#[test]
fn is_present_and_is_missing_are_postfix() {
    let e = engine(
        "policy p version \"1\" effective 2026-01-01\n\
         action a { island: text?  isn: int? }\n\
         rule has_island cite \"c\" on a when action.island is present then warn\n\
         rule no_isn cite \"c\" on a when action.isn is missing and not action.island is missing then warn\n",
    );
    let base = json!({"type": "a", "id": "A", "at": "2026-03-01T10:00:00Z", "rm": {"id": "R"}});
    assert_eq!(rules(&decide(&e, base.clone())), Vec::<String>::new());
    let mut with = base.clone();
    with["island"] = json!("x");
    assert_eq!(rules(&decide(&e, with.clone())), vec!["has_island", "no_isn"]);
    with["isn"] = json!(3);
    assert_eq!(rules(&decide(&e, with)), vec!["has_island"]);
}

#[test]
fn duration_units_are_not_reserved() {
    let e = engine(
        "policy hours version \"1\" effective 2026-01-01\n\
         action days { hours: int  minutes: int  weeks: int  months: int  years: int  day: int }\n\
         rule minute cite \"c\" on days\n\
           let hour = action.hours * 60 + action.minutes\n\
           when hour > action.day and count(days within 2 days) = 0 and action.months + action.years + action.weeks = 0\n\
           then warn message \"{hour}\"\n",
    );
    let d = decide(
        &e,
        json!({"type": "days", "id": "A", "at": "2026-03-01T10:00:00Z", "rm": {"id": "R"},
               "hours": 1, "minutes": 30, "weeks": 0, "months": 0, "years": 0, "day": 10}),
    );
    assert_eq!(d.policies[0].id, "hours");
    assert_eq!(finding(&d, "minute").message, "90");
}

#[test]
fn field_names_may_be_keywords_where_declared_after_a_dot_and_bare_in_where() {
    let e = engine(
        "policy p version \"1\" effective 2026-01-01\n\
         record customer { rule: text  policy: text  when: text  on: bool }\n\
         action a { customer: customer  action: text  error: int  step: int  window: int }\n\
         rule r cite \"c\" on a\n\
           when action.customer.rule = \"x\" and action.customer.when = \"w\" and action.customer.on\n\
             and action.action = \"act\" and count(a where error = action.error and step = 2 and window = 3 within 7 days) = 1\n\
           then breach minor\n\
         rule again cite \"c\" on a\n\
           when count(breach where rule = \"r\" and policy = \"p\" and action = \"A-1\" within 7 days) = 1\n\
           then warn\n\
         ladder l window 30 days points minor 1 step 5 \"x\"\n",
    );
    let act = |id: &str, at: &str| {
        json!({"type": "a", "id": id, "at": at, "rm": {"id": "R"},
               "customer": {"rule": "x", "policy": "y", "when": "w", "on": true},
               "action": "act", "error": 4, "step": 2, "window": 3})
    };
    let mut ledger = e.ledger();
    let first = ledger.submit(&action(act("A-1", "2026-03-01T10:00:00Z"))).unwrap();
    assert_eq!(rules(&first.decision), Vec::<String>::new(), "no earlier `a` yet");
    let second = ledger.submit(&action(act("A-2", "2026-03-02T10:00:00Z"))).unwrap();
    assert_eq!(rules(&second.decision), vec!["r"]);
    let third = ledger.submit(&action(act("A-3", "2026-03-03T10:00:00Z"))).unwrap();
    // `r` counts two earlier `a` now; `again` sees exactly one breach, recorded for A-2 — so
    // `action = "A-1"` must not match it.
    assert_eq!(rules(&third.decision), Vec::<String>::new());
}

#[test]
fn bare_breach_fields_match_in_where() {
    let e = engine(
        "policy p version \"1\" effective 2026-01-01\n\
         action a { n: int }\n\
         rule r cite \"c\" on a when action.n > 0 then breach minor\n\
         rule seen cite \"c\" on a\n\
           when exists(breach where rule = \"r\" and policy = \"p\" and action = \"A-1\" and severity = \"minor\" and ladder = \"l\" and points = 1 within 7 days)\n\
           then warn\n\
         ladder l window 30 days points minor 1 step 5 \"x\"\n",
    );
    let mut ledger = e.ledger();
    let a = |id: &str, at: &str, n: i64| json!({"type": "a", "id": id, "at": at, "rm": {"id": "R"}, "n": n});
    ledger.submit(&action(a("A-1", "2026-03-01T10:00:00Z", 1))).unwrap();
    let d = ledger.submit(&action(a("A-2", "2026-03-02T10:00:00Z", 0))).unwrap().decision;
    assert_eq!(rules(&d), vec!["seen"]);
}

#[test]
fn enum_members_end_where_the_next_field_begins() {
    let e = engine(
        "policy p version \"1\" effective 2026-01-01\n\
         action a { kind: one of cash, card, other, rule: text  channel: one of branch, online\n  on: bool, error: one of in, not }\n\
         rule r cite \"c\" on a when action.kind = \"other\" and action.rule = \"x\" and action.channel = \"online\" and action.on and action.error = \"not\" then deny\n",
    );
    let d = decide(
        &e,
        json!({"type": "a", "id": "A", "at": "2026-03-01T10:00:00Z", "rm": {"id": "R"},
               "kind": "other", "rule": "x", "channel": "online", "on": true, "error": "not"}),
    );
    assert_eq!(d.verdict, Verdict::Deny);
    // `rule` is a field, not a fourth member of `kind`.
    let err = load_errors(
        "policy p version \"1\" effective 2026-01-01\n\
         action a { kind: one of cash, card, rule: text }\n\
         rule r cite \"c\" on a when action.kind = \"rule\" then deny\n",
    );
    assert_eq!(codes_at(&err), vec![("P0203".to_string(), 3, 41)]);
}

#[test]
fn date_before_number() {
    let e = engine(
        "policy p version \"1\" effective 2026-01-01 timezone \"Asia/Shanghai\"\n\
         action a { d: date  n: int }\n\
         rule date_lit cite \"c\" on a when action.d = 2026-02-01 then warn\n\
         rule arithmetic cite \"c\" on a when action.n = 2026 - 02 - 01 then warn\n",
    );
    let d = decide(
        &e,
        json!({"type": "a", "id": "A", "at": "2026-03-01T10:00:00Z", "rm": {"id": "R"}, "d": "2026-02-01", "n": 2023}),
    );
    assert_eq!(rules(&d), vec!["date_lit", "arithmetic"]);
    // A date literal next to an int is a type error, which proves it was read as a date.
    let err = load_errors(
        "policy p version \"1\" effective 2026-01-01\naction a { n: int }\nrule r cite \"c\" on a when action.n = 2026-02-01 then deny\n",
    );
    assert_eq!(err.errors().next().unwrap().code(), "P0201");
    // A datetime literal without an offset is an error at the literal.
    let err = load_errors(
        "policy p version \"1\" effective 2026-01-01\naction a { t: datetime }\nrule r cite \"c\" on a when action.t > 2026-02-01T09:00:00 then deny\n",
    );
    assert_eq!(codes_at(&err), vec![("P0008".to_string(), 3, 38)]);
}

#[test]
fn datetime_literals_with_an_offset() {
    let e = engine(
        "policy p version \"1\" effective 2026-01-01 timezone \"Asia/Shanghai\"\n\
         action a { t: datetime }\n\
         rule offset cite \"c\" on a when action.t = 2026-02-01T09:00:00+08:00 then warn\n\
         rule zulu cite \"c\" on a when action.t = 2026-02-01T01:00:00Z then warn\n\
         rule before cite \"c\" on a when now < 2026-02-01T09:00:00+08:00 then warn\n",
    );
    let d = decide(
        &e,
        json!({"type": "a", "id": "A", "at": "2026-02-01T00:59:59Z", "rm": {"id": "R"}, "t": "2026-02-01T01:00:00Z"}),
    );
    assert_eq!(rules(&d), vec!["offset", "zulu", "before"]);
}

#[test]
fn percent_literals() {
    let e = engine(
        "policy p version \"1\" effective 2026-01-01\n\
         action a { rate: decimal }\n\
         rule thirty cite \"c\" on a when action.rate = 30% then warn\n\
         rule one_and_a_half cite \"c\" on a when action.rate = 1.5% then warn\n\
         rule hundred cite \"c\" on a when action.rate = 100% then warn\n",
    );
    let act =
        |rate: &str| json!({"type": "a", "id": "A", "at": "2026-03-01T10:00:00Z", "rm": {"id": "R"}, "rate": rate});
    assert_eq!(rules(&decide(&e, act("0.30"))), vec!["thirty"]);
    assert_eq!(rules(&decide(&e, act("0.3"))), vec!["thirty"]);
    assert_eq!(rules(&decide(&e, act("0.015"))), vec!["one_and_a_half"]);
    assert_eq!(rules(&decide(&e, act("1"))), vec!["hundred"]);
    assert_eq!(rules(&decide(&e, act("30"))), Vec::<String>::new());
}

#[test]
fn text_escapes_and_literal_braces() {
    let e = engine(concat!(
        "policy p version \"1\" effective 2026-01-01\n",
        "action a { n: int }\n",
        "rule r \"Title with \\\"quotes\\\"\" cite \"a \\\"b\\\" \\\\ c\\nd\" on a\n",
        "  then warn\n",
        "  message \"{{n}} = {action.n} }} \\\"q\\\" \\\\ {{{action.n}}}\\nline 2\"\n",
    ));
    let d = decide(&e, json!({"type": "a", "id": "A", "at": "2026-03-01T10:00:00Z", "rm": {"id": "R"}, "n": 5}));
    let f = finding(&d, "r");
    assert_eq!(*f.cite, ["a \"b\" \\ c\nd"]);
    assert_eq!(f.message, "{n} = 5 } \"q\" \\ {5}\nline 2");
    // A rule without a message uses its title.
    let e = engine("policy p version \"1\" effective 2026-01-01\naction a { }\nrule r \"Title \\\"q\\\"\" cite \"c\" on a then warn\n");
    let d = decide(&e, json!({"type": "a", "id": "A", "at": "2026-03-01T10:00:00Z", "rm": {"id": "R"}}));
    assert_eq!(d.findings[0].message, "Title \"q\"");
}

#[test]
fn unknown_escape_is_an_error_at_the_backslash() {
    let err = load_errors(
        "policy p version \"1\" effective 2026-01-01\naction a { }\nrule r cite \"tab\\there\" on a then warn\n",
    );
    assert_eq!(codes_at(&err), vec![("P0003".to_string(), 3, 17)]);
}

#[test]
fn unmatched_braces_in_messages_are_errors() {
    let err = load_errors("policy p version \"1\" effective 2026-01-01\naction a { n: int }\nrule r cite \"c\" on a then warn message \"a } b\"\n");
    assert_eq!(codes_at(&err), vec![("P0009".to_string(), 3, 43)]);
    let err = load_errors("policy p version \"1\" effective 2026-01-01\naction a { n: int }\nrule r cite \"c\" on a then warn message \"a {action.n\"\n");
    assert_eq!(codes_at(&err), vec![("P0009".to_string(), 3, 43)]);
}

#[test]
fn comments_are_ignored_anywhere_white_space_may_be() {
    let e = engine(
        "# leading comment\n\
         policy p # after the id\n\
           version \"1\" # after the version\n\
           effective 2026-01-01\n\
         # between declarations\n\
         action a { # in a block\n\
           n: int # after a field\n\
         }\n\
         rule r cite \"see #4\" # after a cite\n\
           on a\n\
           when action.n > # inside an expression\n\
             1\n\
           then deny # the end, without a newline",
    );
    let d = decide(&e, json!({"type": "a", "id": "A", "at": "2026-03-01T10:00:00Z", "rm": {"id": "R"}, "n": 2}));
    assert_eq!(d.verdict, Verdict::Deny);
    assert_eq!(*d.findings[0].cite, ["see #4"]);
}

#[test]
fn one_line_declarations_and_an_empty_record() {
    let e = engine(
        "policy p version \"1\" effective 2026-01-01 timezone \"UTC\" action a { n: int, m: int } action b { } record rm { grade: int } \
         rule r cite \"c\" on a, b when rm.grade > 1 then review, breach minor message \"grade {rm.grade}\" \
         ladder l window 30 days points minor 1 step 1 \"note\"",
    );
    for kind in ["a", "b"] {
        let d =
            decide(&e, json!({"type": kind, "id": "X", "at": "2026-03-01T10:00:00Z", "rm": {"id": "R", "grade": 2}}));
        assert_eq!(d.verdict, Verdict::Review, "{kind}");
        assert_eq!(d.findings[0].message, "grade 2");
        assert_eq!(d.sanctions[0].step, "note");
    }
}

#[test]
fn titles_are_optional() {
    let e = engine(
        "policy p version \"1\" effective 2026-01-01\n\
         action a { }\n\
         rule r cite \"c\" on a then warn\n\
         conflict c cite \"c\" on a then warn\n\
         duty d cite \"c\" on a require false\n\
         ladder l window 1 year points minor 1 step 1 \"x\"\n",
    );
    let d = decide(&e, json!({"type": "a", "id": "A", "at": "2026-03-01T10:00:00Z", "rm": {"id": "R"}}));
    assert_eq!(rules(&d), vec!["r", "c", "d"]);
    assert_eq!(d.findings[0].message, "r", "a rule without title or message uses its id");
    assert_eq!(d.verdict, Verdict::Review, "a failed duty without `otherwise` is a review");
}

// ------------------------------------------------------------------ syntax errors

#[test]
fn misspelled_keyword_is_reported_with_line_column_and_did_you_mean() {
    let err = load_errors(
        "policy p version \"1\" effective 2026-01-01\n\
         action product_sale { amount: money }\n\
         rule r \"r\"\n  onn product_sale\n  then review\n",
    );
    let e = err.errors().next().unwrap();
    assert_eq!(e.code(), "P0001");
    assert_eq!(e.line_column(), (4, 3));
    assert_eq!(e.help(), Some("did you mean `on`?"));
    assert!(e.message().contains("found `onn`"), "{}", e.message());
    assert_eq!(err.len(), 1);
}

#[test]
fn a_missing_operand_is_reported_at_the_next_word() {
    let err = load_errors("policy p version \"1\" effective 2026-01-01\naction a { n: int }\nrule r cite \"c\" on a\n  when action.n >\n  then deny\n");
    let e = err.errors().next().unwrap();
    assert_eq!((e.code(), e.line_column()), ("P0001", (5, 3)));
    assert!(e.message().ends_with("found `then`"), "{}", e.message());
}

#[test]
fn syntax_error_messages_list_alternatives_readably() {
    let err = load_errors("policy p version \"1\" effective 2026-01-01\naction a { n: int }\nrule r cite \"c\" on a\n  when action.n >\n  then deny\n");
    let message = err.errors().next().unwrap().message().to_string();
    for raw in ["kw ", "aggregate name", "expressionaggregate", "todayan"] {
        assert!(!message.contains(raw), "raw grammar names in: {message}");
    }
    let err =
        load_errors("policy p version \"1\" effective 2026-01-01\naction a { n: int }\nrule r\n  onn a\n  then deny\n");
    let message = err.errors().next().unwrap().message().to_string();
    // Each alternative is separated from the next by ", " or " or ".
    assert!(!message.contains("`a declaration"), "{message}");
    assert!(!message.contains("`message`a"), "{message}");
}

#[test]
fn a_missing_brace_is_reported_where_the_block_should_start() {
    let err = load_errors("policy p version \"1\" effective 2026-01-01\naction a n: int }\n");
    assert_eq!(codes_at(&err), vec![("P0001".to_string(), 2, 10)]);
}

#[test]
fn syntax_errors_in_three_declarations_are_all_reported() {
    let src = "policy p version \"1\" effective 2026-01-01\n\
               action a { n: int }\n\
               rule one cite \"c\"\n  on a\n  when action.n >> 1\n  then deny\n\
               rule fine cite \"c\" on a when action.n = 1 then deny\n\
               record r { x int }\n\
               ladder l window 12 monthz points minor 1 step 1 \"x\"\n\
               duty ok cite \"c\" on a require action.n > 0\n";
    let err = load_errors(src);
    assert_eq!(
        codes_at(&err),
        // The malformed field is reported at its name (`x`), where a field was expected.
        vec![("P0001".to_string(), 5, 18), ("P0001".to_string(), 8, 12), ("P0001".to_string(), 9, 20)],
        "{}",
        err.render()
    );
    // The last error points at the unknown unit, with the unit hint.
    let last = err.errors().last().unwrap();
    assert!(last.message().contains("`monthz`"), "{}", last.message());
    assert!(last.help().unwrap().contains("days"));
}

#[test]
fn a_header_error_does_not_hide_errors_in_later_declarations() {
    let err = load_errors("policy p version 1 effective 2026-01-01\naction a { n: int }\nrule r cite \"c\" on a when action.n > then deny\n");
    assert_eq!(codes_at(&err), vec![("P0001".to_string(), 1, 18), ("P0001".to_string(), 3, 38)], "{}", err.render());
}

#[test]
fn recovery_resumes_only_at_column_one_declarations_not_at_action_paths() {
    // `action.n` at column 1 inside a rule is not a new declaration; the indented `rule` is not either.
    let src = "policy p version \"1\" effective 2026-01-01\n\
               action a { n: int }\n\
               rule one cite \"c\" on a when\n\
               action.n > 1 then deny deny\n\
               \x20 rule two cite \"c\" on a when ) then deny\n\
               rule three cite \"c\" on a when ( then deny\n";
    let err = load_errors(src);
    assert_eq!(codes_at(&err), vec![("P0001".to_string(), 4, 24), ("P0001".to_string(), 6, 33)], "{}", err.render());
}

#[test]
fn unterminated_text_is_reported_at_its_opening_quote() {
    let err = load_errors("policy p version \"1\" effective 2026-01-01\naction a { n: int }\nrule r cite \"c\" on a then deny\n  message \"never closed\n");
    let e = err.errors().next().unwrap();
    assert_eq!((e.code(), e.line_column()), ("P0002", (4, 11)));
    let err = load_errors("policy p \"Unclosed title version \"1\" effective 2026-01-01\n");
    let _ = err; // any error: the title swallows the quote of "1"
    let err = load_errors("policy p version \"1\" effective 2026-01-01 timezone \"UTC\naction a { }\n");
    let e = err.errors().next().unwrap();
    assert_eq!((e.code(), e.line_column()), ("P0002", (1, 52)));
}

#[test]
fn chained_comparisons_are_rejected() {
    for (when, column) in [("1 < action.n < 5", 40), ("action.n = 1 = true", 40), ("1 <= action.n >= 0", 41)] {
        let src = format!("policy p version \"1\" effective 2026-01-01\naction a {{ n: int }}\nrule r cite \"c\" on a when {when} then deny\n");
        let err = load_errors(&src);
        let e = err.errors().next().unwrap();
        assert_eq!((e.code(), e.line_column()), ("P0006", (3, column)), "{when}");
        assert!(e.help().unwrap().contains("and"));
    }
    // Joined with `and`, or grouped, they are fine.
    engine("policy p version \"1\" effective 2026-01-01\naction a { n: int }\nrule r cite \"c\" on a when 1 < action.n and action.n < 5 and (action.n = 1) = true then deny\n");
}

#[test]
fn nesting_up_to_the_limit_loads_and_deeper_is_rejected() {
    let nested = |depth: usize| {
        format!(
            "policy p version \"1\" effective 2026-01-01\naction a {{ n: int }}\nrule r cite \"c\" on a when {}action.n{} > 1 then deny\n",
            "(".repeat(depth),
            ")".repeat(depth)
        )
    };
    engine(&nested(limits::MAX_NESTING));
    let err = load_errors(&nested(limits::MAX_NESTING + 1));
    let e = err.errors().next().unwrap();
    assert_eq!(e.code(), "P0004");
    assert_eq!(e.line_column(), (3, 27 + limits::MAX_NESTING));
}

#[test]
fn a_hundred_thousand_nested_parens_are_rejected_without_overflow() {
    let src = format!(
        "policy p version \"1\" effective 2026-01-01\naction a {{ n: int }}\nrule r cite \"c\" on a when {}1{} > 1 then deny\n",
        "(".repeat(100_000),
        ")".repeat(100_000)
    );
    let err = load_errors(&src);
    assert_eq!(err.errors().next().unwrap().code(), "P0004");
    // Unbalanced openers only, and square brackets, too.
    let src = format!(
        "policy p version \"1\" effective 2026-01-01\naction a {{ n: int }}\nrule r cite \"c\" on a when {}\n",
        "[".repeat(100_000)
    );
    assert_eq!(load_errors(&src).errors().next().unwrap().code(), "P0004");
}

#[test]
fn a_hundred_thousand_prefix_nots_are_rejected_without_overflow() {
    let src = format!(
        "policy p version \"1\" effective 2026-01-01\naction a {{ b: bool }}\nrule r cite \"c\" on a when {}action.b then deny\n",
        "not ".repeat(100_000)
    );
    let err = load_errors(&src);
    assert!(err.has_errors());
    let src = format!(
        "policy p version \"1\" effective 2026-01-01\naction a {{ n: int }}\nrule r cite \"c\" on a when {}action.n > 0 then deny\n",
        "- ".repeat(100_000)
    );
    assert!(load_errors(&src).has_errors());
    // A few are fine, and mean what they say.
    let e = engine("policy p version \"1\" effective 2026-01-01\naction a { b: bool }\nrule r cite \"c\" on a when not not not action.b then deny\n");
    let d = decide(&e, json!({"type": "a", "id": "A", "at": "2026-03-01T10:00:00Z", "rm": {"id": "R"}, "b": false}));
    assert_eq!(d.verdict, Verdict::Deny);
}

/// Runs `body` in a child test process, so that a stack overflow (which aborts the process)
/// fails this test instead of killing the whole test binary.
fn in_child_process(test_name: &str, body: impl FnOnce()) {
    if std::env::var_os("PROBITY_TEST_CHILD").is_some() {
        body();
        return;
    }
    let output = std::process::Command::new(std::env::current_exe().unwrap())
        .args(["--exact", test_name, "--include-ignored", "--test-threads=1", "--nocapture"])
        .env("PROBITY_TEST_CHILD", "1")
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "child process failed ({}):\n{}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
}

#[test]
fn a_long_flat_operator_chain_does_not_overflow_the_stack() {
    in_child_process("a_long_flat_operator_chain_does_not_overflow_the_stack", || {
        let chain = vec!["action.n = 1"; 1_000].join(" or ");
        let src = format!("policy p version \"1\" effective 2026-01-01\naction a {{ n: int }}\nrule r cite \"c\" on a when {chain} then deny\n");
        // Loading may succeed or report a limit, but must return.
        if let Ok(set) = PolicySet::from_sources([("p.probity", src.as_str())]) {
            let e = Engine::new(set);
            let d =
                decide(&e, json!({"type": "a", "id": "A", "at": "2026-03-01T10:00:00Z", "rm": {"id": "R"}, "n": 2}));
            assert_eq!(d.verdict, Verdict::Allow);
        }
        // A shorter chain loads and means what it says.
        let chain = (0..30).map(|i| format!("action.n = {i}")).collect::<Vec<_>>().join(" or ");
        let src = format!("policy p version \"1\" effective 2026-01-01\naction a {{ n: int }}\nrule r cite \"c\" on a when {chain} then deny\n");
        let e = engine(&src);
        let at = |n: i64| json!({"type": "a", "id": "A", "at": "2026-03-01T10:00:00Z", "rm": {"id": "R"}, "n": n});
        assert_eq!(decide(&e, at(29)).verdict, Verdict::Deny);
        assert_eq!(decide(&e, at(30)).verdict, Verdict::Allow);
        let sum = vec!["action.n"; 1_000].join(" + ");
        let src = format!("policy p version \"1\" effective 2026-01-01\naction a {{ n: int }}\nrule r cite \"c\" on a when {sum} > 0 then deny\n");
        let _ = PolicySet::from_sources([("p.probity", src.as_str())]);
    });
}

#[test]
fn an_over_size_source_is_rejected() {
    let mut src = String::from("policy p version \"1\" effective 2026-01-01\n");
    while src.len() <= limits::MAX_SOURCE_BYTES {
        src.push_str("# padding padding padding padding padding padding padding padding padding\n");
    }
    let err = load_errors(&src);
    let e = err.errors().next().unwrap();
    assert_eq!(e.code(), "P0005");
    assert_eq!(e.line_column(), (1, 1));
    assert!(e.help().is_some());
    // Just under the limit loads.
    let mut src = String::from("policy p version \"1\" effective 2026-01-01\n");
    while src.len() + 80 < limits::MAX_SOURCE_BYTES {
        src.push_str("# padding padding padding padding padding padding padding padding padding\n");
    }
    assert!(PolicySet::from_sources([("p.probity", src)]).is_ok());
}

#[test]
fn numbers_out_of_range_are_errors_not_panics() {
    let err = load_errors("policy p version \"1\" effective 2026-01-01\naction a { n: int }\nrule r cite \"c\" on a when action.n > 99999999999999999999999 then deny\n");
    assert_eq!(codes_at(&err), vec![("P0007".to_string(), 3, 38)]);
    let err = load_errors("policy p version \"1\" effective 2026-01-01\naction a { d: decimal }\nrule r cite \"c\" on a when action.d > 0.12345678901234567890123456789 then deny\n");
    assert_eq!(err.errors().next().unwrap().code(), "P0007");
    let err = load_errors("policy p version \"1\" effective 2026-02-30\n");
    assert_eq!(codes_at(&err), vec![("P0008".to_string(), 1, 32)]);
}

#[test]
fn uppercase_identifiers_are_rejected() {
    let err = load_errors("policy P version \"1\" effective 2026-01-01\n");
    assert_eq!(codes_at(&err), vec![("P0001".to_string(), 1, 8)]);
}
