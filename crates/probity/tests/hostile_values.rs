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
        act("t", AT, json!({"x": "0.1237940039285380274899124224", "y": "0.9094947017729282379150390625", "m": "1 CNY"})),
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
    let d = decide(&e, act("t", AT, json!({"d": 1, "m": {"amount": 12345678901234567890123456789u128, "currency": "CNY"}})));
    assert_eq!(finding(&d, "m").kind, FindingKind::Error);
    // 28 digits, and trailing zeros after the point, are fine.
    let d = decide(&e, act("t", AT, json!({"d": "9999999999999999999999999999", "m": "1.0000000000000000000000000000 CNY"})));
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
    for literal in ["79228162514264337593543950335", "0.12345678901234567890123456789", "1234567890123456789012345678.9 CNY"] {
        let d = load_errors(&format!(
            "policy p version \"1\" effective 2026-01-01\naction t {{ d: decimal }}\nrule r cite \"c\" on t when action.d > {literal} then warn\n"
        ));
        assert_eq!(codes_at(&d)[0].0, "P0007", "{literal}");
    }
}
