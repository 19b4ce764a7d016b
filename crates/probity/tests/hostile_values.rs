//! Hostile values: decimals that cannot be held exactly, negative money and points, and
//! timestamps at the edges of what can be written. Each fails closed with a clear message.
#![allow(
    clippy::unwrap_used,
    clippy::indexing_slicing,
    clippy::panic,
    clippy::expect_used,
    clippy::arithmetic_side_effects
)]

mod common;

use common::*;
use probity::{FindingKind, History, InputError, PolicySet, Verdict};
use serde_json::{json, Value};

const AT: &str = "2026-03-01T10:00:00+08:00";

fn act(kind: &str, at: &str, fields: Value) -> Value {
    let mut v = json!({"type": kind, "id": "A-1", "at": at, "rm": {"id": "R1"}});
    if let (Value::Object(m), Value::Object(f)) = (&mut v, fields) {
        m.extend(f);
    }
    v
}

// ------------------------------------------------------------------ decimals are exact

/// A policy that shows the result of `action.x OP action.y` in its message.
fn arithmetic_engine() -> probity::Engine {
    engine(
        "policy p version \"1\" effective 2026-01-01\n\
         action t { x: decimal  y: decimal  m: money }\n\
         rule product cite \"c\" on t let v = action.x * action.y when v = v then warn message \"{v}\"\n\
         rule total cite \"c\" on t let v = action.x + action.y when v = v then warn message \"{v}\"\n\
         rule difference cite \"c\" on t let v = action.x - action.y when v = v then warn message \"{v}\"\n\
         rule quotient cite \"c\" on t let v = action.x / action.y when v = v then warn message \"{v}\"\n\
         rule share cite \"c\" on t let v = action.m / 3 when v = v then warn message \"{v}\"\n\
         rule quarter cite \"c\" on t let v = action.m / 4 when v = v then warn message \"{v}\"\n",
    )
}

fn outcome(d: &probity::Decision, rule: &str) -> (FindingKind, String) {
    let f = finding(d, rule);
    (f.kind, f.message.to_string())
}

#[test]
fn a_product_that_needs_more_than_28_digits_is_an_error_not_a_rounding() {
    let e = arithmetic_engine();
    // 3.00000000000001² = 9.0000000000000600000000000001: 29 significant digits.
    let d = decide(&e, act("t", AT, json!({"x": "3.00000000000001", "y": "3.00000000000001", "m": "1 CNY"})));
    let (kind, message) = outcome(&d, "product");
    assert_eq!(kind, FindingKind::Error, "{message}");
    assert!(message.contains("cannot be held exactly"), "{message}");
    assert_eq!(d.verdict, Verdict::Review);
    // 1e-14 × 1e-15 = 1e-29: one significant digit, but 29 after the point.
    let d = decide(&e, act("t", AT, json!({"x": "0.00000000000001", "y": "0.000000000000001", "m": "1 CNY"})));
    assert_eq!(outcome(&d, "product").0, FindingKind::Error, "1e-29 was rounded to 0");
    // What fits stays exact, with the operands' scale.
    let d = decide(&e, act("t", AT, json!({"x": "3.0000000000001", "y": "3.0000000000001", "m": "1 CNY"})));
    assert_eq!(outcome(&d, "product"), (FindingKind::Rule, "9.00000000000060000000000001".into()));
    let d = decide(&e, act("t", AT, json!({"x": "0.00000000000001", "y": "0.00000000000001", "m": "1 CNY"})));
    assert_eq!(outcome(&d, "product"), (FindingKind::Rule, "0.0000000000000000000000000001".into()));
    let d = decide(&e, act("t", AT, json!({"x": "1.50", "y": "2", "m": "1 CNY"})));
    assert_eq!(outcome(&d, "product"), (FindingKind::Rule, "3.00".into()));
    // Factors of ten that cancel still give the exact product: 2^90 × 5^40 × 10^-56 = 2^50 × 10^-16,
    // though 2^90 × 5^40 alone needs 183 bits.
    let d = decide(
        &e,
        act(
            "t",
            AT,
            json!({"x": "0.1237940039285380274899124224", "y": "0.9094947017729282379150390625", "m": "1 CNY"}),
        ),
    );
    let (kind, message) = outcome(&d, "product");
    assert_eq!(kind, FindingKind::Rule, "{message}");
    assert_eq!(message.parse::<rust_decimal::Decimal>().unwrap(), "0.1125899906842624".parse().unwrap(), "{message}");
}

#[test]
fn sums_and_differences_that_need_more_than_28_digits_are_errors() {
    let e = arithmetic_engine();
    // 1e27 + 0.1 needs 29 digits; rust_decimal would round it to 1e27.
    let d = decide(&e, act("t", AT, json!({"x": "1000000000000000000000000000", "y": "0.1", "m": "1 CNY"})));
    assert_eq!(outcome(&d, "total").0, FindingKind::Error, "{}", outcome(&d, "total").1);
    // 1e27 - 0.1 has 28 nines: it fits, exactly.
    assert_eq!(outcome(&d, "difference"), (FindingKind::Rule, "999999999999999999999999999.9".into()));
    // Nines that carry into a 29th digit.
    let nines = "9999999999999999999999999999";
    let d = decide(&e, act("t", AT, json!({"x": nines, "y": "1", "m": "1 CNY"})));
    assert_eq!(outcome(&d, "total").0, FindingKind::Error);
    assert_eq!(outcome(&d, "difference"), (FindingKind::Rule, "9999999999999999999999999998".into()));
    // Exact sums keep the finer scale, as before.
    let d = decide(&e, act("t", AT, json!({"x": "0.10", "y": "0.2", "m": "1 CNY"})));
    assert_eq!(outcome(&d, "total"), (FindingKind::Rule, "0.30".into()));
    assert_eq!(outcome(&d, "difference"), (FindingKind::Rule, "-0.10".into()));
}

#[test]
fn a_quotient_without_an_exact_decimal_value_is_an_error() {
    let e = arithmetic_engine();
    let d = decide(&e, act("t", AT, json!({"x": "7", "y": "2", "m": "100 CNY"})));
    let (kind, message) = outcome(&d, "quotient");
    assert_eq!((kind, message.parse::<rust_decimal::Decimal>().unwrap()), (FindingKind::Rule, "3.5".parse().unwrap()));
    // 100 CNY / 3 is 33.333…: no exact value, so an error rather than 33.333333333333333333333333333.
    let (kind, message) = outcome(&d, "share");
    assert_eq!(kind, FindingKind::Error, "{message}");
    assert!(message.contains("100 / 3 has no exact decimal value"), "{message}");
    assert!(message.contains("a > b * c"), "the message says how to write it instead: {message}");
    assert_eq!(outcome(&d, "quarter"), (FindingKind::Rule, "25.00 CNY".into()));
    let d = decide(&e, act("t", AT, json!({"x": "1", "y": "3", "m": "99.99 CNY"})));
    assert_eq!(outcome(&d, "quotient").0, FindingKind::Error);
    assert_eq!(outcome(&d, "share"), (FindingKind::Rule, "33.33 CNY".into()));
    // A quotient that terminates only past 28 places is not exact either: 1 / 2^40.
    let d = decide(&e, act("t", AT, json!({"x": "1", "y": "1099511627776", "m": "1 CNY"})));
    assert_eq!(outcome(&d, "quotient").0, FindingKind::Error);
    let d = decide(&e, act("t", AT, json!({"x": "1", "y": "0", "m": "1 CNY"})));
    assert_eq!(outcome(&d, "quotient"), (FindingKind::Error, "cannot evaluate `when`: division by zero".into()));
}

#[test]
fn inputs_and_literals_hold_28_significant_digits() {
    let e = engine(
        "policy p version \"1\" effective 2026-01-01\n\
         action t { d: decimal  m: money }\n\
         rule d cite \"c\" on t when action.d > 0 then warn\n\
         rule m cite \"c\" on t when action.m > 0 CNY then warn\n",
    );
    // 29 digits fit rust_decimal's 96 bits, but not 28 significant digits.
    let d = decide(&e, act("t", AT, json!({"d": "79228162514264337593543950335", "m": "1 CNY"})));
    assert_eq!(finding(&d, "d").kind, FindingKind::Error);
    assert!(finding(&d, "d").message.contains("28 significant digits"), "{}", finding(&d, "d").message);
    let d = decide(&e, act("t", AT, json!({"d": 1, "m": "12345678901234567890123456789 CNY"})));
    assert_eq!(finding(&d, "m").kind, FindingKind::Error);
    let d = decide(
        &e,
        act("t", AT, json!({"d": 1, "m": {"amount": 12345678901234567890123456789u128, "currency": "CNY"}})),
    );
    assert_eq!(finding(&d, "m").kind, FindingKind::Error);
    // 28 digits, and trailing zeros after the point, are fine.
    let d = decide(
        &e,
        act("t", AT, json!({"d": "9999999999999999999999999999", "m": "1.0000000000000000000000000000 CNY"})),
    );
    assert_eq!((finding(&d, "d").kind, finding(&d, "m").kind), (FindingKind::Rule, FindingKind::Rule));
    // History actions are read the same way.
    let e = engine(
        "policy p version \"1\" effective 2026-01-01\n\
         action t { m: money }\n\
         rule total cite \"c\" on t when sum(t.m within 30 days) > 0 CNY then warn\n",
    );
    let past = act("t", "2026-02-20T10:00:00+08:00", json!({"m": "79228162514264337593543950335 CNY"}));
    let d = decide_with(&e, act("t", AT, json!({"m": "1 CNY"})), json!({"actions": [past]}));
    assert_eq!(finding(&d, "total").kind, FindingKind::Error);
    // A literal with 29 significant digits does not load.
    for literal in
        ["79228162514264337593543950335", "0.12345678901234567890123456789", "1234567890123456789012345678.9 CNY"]
    {
        let d = load_errors(&format!(
            "policy p version \"1\" effective 2026-01-01\naction t {{ d: decimal }}\nrule r cite \"c\" on t when action.d > {literal} then warn\n"
        ));
        assert_eq!(codes_at(&d)[0].0, "P0007", "{literal}");
    }
}

// ------------------------------------------------------------------ negative money and points

const GIFTS: &str = "policy gifts version \"1\" effective 2026-01-01 timezone \"Asia/Shanghai\"\n\
    record donor { name: text  limit: money }\n\
    action gift_received { value: money  refund: signed money?  items: list of money  donor: donor }\n\
    rule annual_cap cite \"c\" on gift_received\n\
      when sum(gift_received.value within 365 days) + action.value > 1000 CNY then deny\n\
    rule refunded cite \"c\" on gift_received when action.refund is present and action.refund < 0 CNY then warn message \"{action.refund}\"\n\
    rule itemised cite \"c\" on gift_received when len(action.items) > 5 then warn\n\
    rule donor_limit cite \"c\" on gift_received when action.donor.limit < action.value then warn\n";

fn gift(id: &str, at: &str, value: &str, extra: Value) -> Value {
    let mut fields = json!({"value": value, "items": [], "donor": {"name": "d", "limit": "10000 CNY"}});
    if let (Value::Object(m), Value::Object(x)) = (&mut fields, extra) {
        m.extend(x);
    }
    let mut a = act("gift_received", at, fields);
    a["id"] = json!(id);
    a
}

fn input_error(e: &probity::Engine, action: Value, history: Value) -> (String, String) {
    let history: History = serde_json::from_value(history).unwrap();
    match e.evaluate(&probity::Action::from_value(action).unwrap(), &history) {
        Err(InputError::Field { field, problem, .. }) => (field, problem),
        other => panic!("expected an input error naming a field, got {other:?}"),
    }
}

#[test]
fn negative_money_is_an_input_error_naming_the_field() {
    let e = engine(GIFTS);
    // A "-5000 CNY" gift used to cancel the cap: 900 + (-5000) + 900 <= 1000.
    let (field, problem) = input_error(&e, gift("G-1", AT, "-5000 CNY", json!({})), json!({}));
    assert_eq!(field, "value");
    assert!(problem.contains("`-5000.00 CNY` is negative") && problem.contains("signed money"), "{problem}");
    let (field, _) = input_error(&e, gift("G-1", AT, "1 CNY", json!({"items": ["1 CNY", "-2 CNY"]})), json!({}));
    assert_eq!(field, "items[1]");
    let (field, _) = input_error(
        &e,
        gift("G-1", AT, "1 CNY", json!({"donor": {"name": "d", "limit": {"amount": "-1", "currency": "CNY"}}})),
        json!({}),
    );
    assert_eq!(field, "donor.limit");
    // In history, the error names the item.
    let past = gift("G-0", "2026-02-01T10:00:00+08:00", "-5000 CNY", json!({}));
    let (field, _) = input_error(&e, gift("G-1", AT, "900 CNY", json!({})), json!({"actions": [past.clone()]}));
    assert_eq!(field, "actions[0].value");
    // The ledger refuses it the same way, and its clock does not move.
    let mut ledger = e.ledger();
    let late = probity::Action::from_value(gift("G-2", "2026-03-02T10:00:00+08:00", "-5 CNY", json!({}))).unwrap();
    assert!(matches!(ledger.submit(&late), Err(InputError::Field { .. })));
    let earlier = probity::Action::from_value(gift("G-3", AT, "900 CNY", json!({}))).unwrap();
    assert!(ledger.submit(&earlier).is_ok(), "the refused action moved the RM's clock");
    assert!(matches!(
        ledger.load(&serde_json::from_value(json!({"actions": [past]})).unwrap()),
        Err(InputError::Field { .. })
    ));
    // Zero, and negative zero, are not negative.
    for zero in ["0 CNY", "-0 CNY", "-0.00 CNY"] {
        let d = decide(&e, gift("G-1", AT, zero, json!({})));
        assert_eq!(d.verdict, Verdict::Allow, "{zero}");
    }
}

#[test]
fn signed_money_fields_may_be_negative() {
    let e = engine(GIFTS);
    let d = decide(&e, gift("G-1", AT, "10 CNY", json!({"refund": "-250.5 CNY"})));
    assert_eq!(finding(&d, "refunded").message, "-250.50 CNY");
    // The type checks as money: compared with money, added to money.
    let e = engine(
        "policy p version \"1\" effective 2026-01-01\n\
         action t { net: signed money  flows: list of signed money }\n\
         rule r cite \"c\" on t when action.net + 100 CNY < 0 CNY and len(action.flows) = 2 then warn\n",
    );
    let d = decide(&e, act("t", AT, json!({"net": "-101 CNY", "flows": ["-1 CNY", "2 CNY"]})));
    assert_eq!(rules(&d), vec!["r"]);
    // Aggregates over a signed field sum money; history items may be negative there.
    let e = engine(
        "policy p version \"1\" effective 2026-01-01\n\
         record leg { amount: signed money }\n\
         action t { net: signed money  leg: leg }\n\
         rule r cite \"c\" on t when sum(t.net within 30 days) < 0 CNY and min(t.net within 30 days) < action.leg.amount then warn\n",
    );
    let past = act("t", "2026-02-20T10:00:00+08:00", json!({"net": "-50 CNY", "leg": {"amount": "-1 CNY"}}));
    let d =
        decide_with(&e, act("t", AT, json!({"net": "1 CNY", "leg": {"amount": "1 CNY"}})), json!({"actions": [past]}));
    assert_eq!(rules(&d), vec!["r"]);
    // Only money can be signed.
    let d = load_errors("policy p version \"1\" effective 2026-01-01\naction t { n: signed int }\n");
    assert_eq!(codes_at(&d), vec![("P0107".into(), 2, 22)]);
    // `signed` is no reserved word: a type or field may still be called so.
    let src = "policy p version \"1\" effective 2026-01-01\nrecord signed { by: text }\naction t { signed: signed\n  money: money }\n\
               rule r cite \"c\" on t when action.signed.by = \"x\" and action.money > 0 CNY then warn\n";
    let d = decide(&engine(src), act("t", AT, json!({"signed": {"by": "x"}, "money": "1 CNY"})));
    assert_eq!(rules(&d), vec!["r"]);
}

#[test]
fn signed_money_survives_formatting() {
    let src = "policy p version \"1\" effective 2026-01-01\naction t {\n  net: signed money?\n  flows: set of signed money\n}\n";
    let formatted = probity::format_source("p.probity", src).unwrap();
    assert!(
        formatted.contains("net: signed money?") && formatted.contains("flows: set of signed money"),
        "{formatted}"
    );
    assert_eq!(probity::format_source("p.probity", &formatted).unwrap(), formatted);
    PolicySet::from_sources([("p.probity", formatted.as_str())]).unwrap();
}

const LADDER: &str = "policy p version \"1\" effective 2026-01-01\n\
    action t { }\n\
    ladder conduct window 365 days points minor 1, major 4 step 5 \"warning\"\n\
    rule r cite \"c\" on t when true then breach major\n";

#[test]
fn history_points_must_be_whole_and_not_negative() {
    let breach = |points: &str| {
        format!(
            r#"{{"breaches": [{{"policy": "p", "rule": "r", "severity": "major", "ladder": "conduct",
               "at": "2026-02-01T10:00:00+08:00", "action": "A-0", "points": {points}}}]}}"#
        )
    };
    let error = |points: &str| match History::from_json(&breach(points)) {
        Err(InputError::Json(message)) => message,
        other => panic!("{points}: expected a JSON error, got {other:?}"),
    };
    let message = error("-5");
    assert!(message.contains("`points` must not be negative, found -5"), "{message}");
    let message = error("1e30");
    assert!(!message.contains("floating point"), "{message}");
    assert!(message.contains("whole number from 0 to 9223372036854775807, found 1e"), "{message}");
    assert!(error("2.5").contains("found 2.5"));
    assert!(error("9223372036854775808").contains("found 9223372036854775808"));
    assert!(error("\"4\"").contains("number"));
    // Read from a JSON value (as the bindings read a history) the same way.
    let value: Value = serde_json::from_str(&breach("1e30")).unwrap();
    let message = serde_json::from_value::<History>(value).unwrap_err().to_string();
    assert!(message.contains("whole number from 0 to") && !message.contains("floating point"), "{message}");
    let value: Value = serde_json::from_str(&breach("-1")).unwrap();
    assert!(serde_json::from_value::<History>(value).unwrap_err().to_string().contains("must not be negative"));
    assert_eq!(History::from_json(&breach("4")).unwrap().breaches[0].points, Some(4));
    assert_eq!(History::from_json(&breach("null")).unwrap().breaches[0].points, None);
    // A history built in code is checked too.
    let e = engine(LADDER);
    let mut history = History::from_json(&breach("4")).unwrap();
    history.breaches[0].points = Some(-5);
    match e.evaluate(&probity::Action::from_value(act("t", AT, json!({}))).unwrap(), &history) {
        Err(InputError::Field { field, .. }) => assert_eq!(field, "breaches[0].points"),
        other => panic!("{other:?}"),
    }
    // With 4 prior points the step at 5 is reached; negative points could have erased it.
    let history = History::from_json(&breach("4")).unwrap();
    let d = e.evaluate(&probity::Action::from_value(act("t", AT, json!({}))).unwrap(), &history).unwrap();
    assert_eq!(d.sanctions[0].step, "warning");
}

// ------------------------------------------------------------------ timestamps

#[test]
fn second_60_is_not_a_time() {
    let e = engine(LADDER);
    for at in ["2026-03-01T10:00:60+08:00", "2016-12-31T23:59:60Z"] {
        match probity::Action::from_value(act("t", at, json!({}))) {
            Err(InputError::Field { field, problem, .. }) => {
                assert_eq!(field, "at");
                assert!(problem.contains("second 60"), "{problem}");
            }
            other => panic!("{at}: {other:?}"),
        }
        assert!(probity::parse_timestamp(at).is_err());
    }
    // A datetime field holding second 60 is malformed, like any other bad timestamp.
    let e2 = engine(
        "policy p version \"1\" effective 2026-01-01\naction t { ts: datetime }\nrule r cite \"c\" on t when action.ts > 2026-01-01T00:00:00Z then warn\n",
    );
    let d = decide(&e2, act("t", AT, json!({"ts": "2026-03-01T10:00:60Z"})));
    assert_eq!(finding(&d, "r").kind, FindingKind::Error);
    // In history, and in policy literals.
    let history = r#"{"breaches": [{"policy": "p", "rule": "r", "severity": "major", "ladder": "conduct", "at": "2026-02-01T10:00:60+08:00", "action": "A-0"}]}"#;
    let history = History::from_json(history).unwrap();
    assert!(e.evaluate(&probity::Action::from_value(act("t", AT, json!({}))).unwrap(), &history).is_err());
    let d = load_errors(
        "policy p version \"1\" effective 2026-01-01\naction t { }\nrule r cite \"c\" on t when now > 2026-01-01T00:00:60Z then warn\n",
    );
    assert_eq!(codes_at(&d)[0].0, "P0008");
    // Second 59 is fine.
    assert!(probity::parse_timestamp("2026-03-01T10:00:59.999+08:00").is_ok());
}

#[test]
fn every_due_the_engine_writes_can_be_read_back() {
    let e = engine(
        "policy p version \"1\" effective 2026-01-01\naction t { }\naction done { ref: text }\n\
         duty register cite \"c\" on t due within 30 days fulfilled by done where ref = action.id otherwise review\n\
         rule late cite \"c\" on t when now + 1 year > 9999-06-01T00:00:00Z then warn\n",
    );
    // An action late in year 9999: its deadline would fall in year 10000.
    let d = decide(&e, act("t", "9999-12-15T10:00:00+08:00", json!({})));
    let f = finding(&d, "register");
    assert_eq!(f.kind, FindingKind::Error, "{}", d.to_json());
    assert!(f.message.contains("out of range") && f.message.contains("10000-01-14"), "{}", f.message);
    assert!(d.obligations.is_empty());
    assert_eq!(finding(&d, "late").kind, FindingKind::Error, "datetime arithmetic past 9999 is an error too");
    // Earlier, the deadline is written and read back by the history reader.
    let d = decide(&e, act("t", "9999-11-15T10:00:00+08:00", json!({})));
    let due = d.obligations[0].due.to_string();
    assert_eq!(due, "9999-12-15T10:00:00+08:00");
    let history = json!({"obligations": [{"policy": "p", "duty": "register", "action": "A-1", "due": due}]});
    let history: History = serde_json::from_value(history).unwrap();
    let d =
        e.evaluate(&probity::Action::from_value(act("t", "9999-11-20T10:00:00+08:00", json!({}))).unwrap(), &history);
    assert!(d.is_ok(), "{d:?}");
}

#[test]
fn numerals_with_exponents_are_exact_or_refused() {
    let e = engine(
        "policy p version \"1\" effective 2026-01-01\naction t { d: decimal }\n\
         rule r cite \"c\" on t when action.d = action.d then warn message \"{action.d}\"\n",
    );
    let read = |d: Value| {
        let decision = decide(&e, act("t", AT, json!({ "d": d })));
        let f = finding(&decision, "r");
        (f.kind, f.message.to_string())
    };
    // 30 significant digits: rounded to 1.0000000000000000000000000000 before.
    assert_eq!(read(json!("1.00000000000000000000000000001e0")).0, FindingKind::Error);
    assert_eq!(read(json!("1e-29")).0, FindingKind::Error);
    assert_eq!(read(json!("1e28")).0, FindingKind::Error);
    assert_eq!(read(json!("1e27")), (FindingKind::Rule, "1000000000000000000000000000".into()));
    assert_eq!(read(json!("1.50e-27")), (FindingKind::Rule, "0.0000000000000000000000000015".into()));
    assert_eq!(read(json!("2.5E+3")).1.parse::<rust_decimal::Decimal>().unwrap(), "2500".parse().unwrap());
    assert_eq!(
        read(serde_json::from_str("1E-28").unwrap()),
        (FindingKind::Rule, "0.0000000000000000000000000001".into())
    );
}
