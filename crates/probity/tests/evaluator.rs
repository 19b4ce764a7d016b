//! Evaluation semantics (docs/language.md#evaluation), observed through `Engine::evaluate` and
//! the decision JSON.
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
use serde_json::{json, Value as Json};

/// An action of type `t` at `at` for RM `R1` with extra fields.
fn act(t: &str, at: &str, fields: Json) -> Json {
    let mut v = json!({"type": t, "id": "X-1", "at": at, "rm": {"id": "R1"}});
    for (k, val) in fields.as_object().unwrap() {
        v[k] = val.clone();
    }
    v
}

const AT: &str = "2026-03-02T10:00:00+08:00";

// ------------------------------------------------------------------ numbers and money

#[test]
fn decimal_arithmetic_is_exact() {
    let e = engine(
        "policy p version \"1\" effective 2026-01-01\n\
         action t { a: decimal  b: decimal  c: decimal }\n\
         rule exact cite \"c\" on t when action.a + action.b = 0.3 then review\n\
         rule thirds cite \"c\" on t when action.c * 3 = 1 then warn\n\
         rule division cite \"c\" on t let ratio = 7 / 2 when ratio = 3.5 then warn message \"{ratio}\"\n",
    );
    // JSON numbers and numeral strings both keep their exact decimal value.
    let d = decide(&e, act("t", AT, json!({"a": 0.1, "b": 0.2, "c": "0.3333333333"})));
    assert_eq!(rules(&d), vec!["exact", "division"]);
    assert_eq!(d.verdict, Verdict::Review);
    // The value is exactly 3.5 (the engine writes it with the scale the division gave: "3.50").
    let ratio = finding(&d, "division").message.clone();
    assert_eq!(ratio.trim_end_matches('0'), "3.5", "{ratio}");
    let d = decide(&e, act("t", AT, json!({"a": "0.1", "b": "0.2", "c": "0.3333333333"})));
    assert_eq!(rules(&d), vec!["exact", "division"]);
    let d = decide(&e, act("t", AT, json!({"a": "0.1", "b": "0.20000000000000001", "c": "0.3333333333"})));
    assert_eq!(rules(&d), vec!["division"], "one unit in the 17th place is not lost");
}

#[test]
fn money_keeps_its_scale_and_is_never_rounded() {
    let e = engine(
        "policy p version \"1\" effective 2026-01-01\n\
         action t { m: money  j: money  u: money }\n\
         rule show cite \"c\" on t\n\
           let tripled = action.m * 3\n\
           when tripled = 0.015 CNY and action.u * 2 = 0.25 USD\n\
           then warn\n\
           message \"{action.m} {tripled} {action.j} {action.u}\"\n\
         rule big cite \"c\" on t when action.j >= 500 JPY then warn message \"{action.j}\"\n",
    );
    let d = decide(
        &e,
        act("t", AT, json!({"m": "0.005 CNY", "j": "500 JPY", "u": {"amount": "0.125", "currency": "USD"}})),
    );
    let f = finding(&d, "show");
    assert_eq!(f.message, "0.005 CNY 0.015 CNY 500 JPY 0.125 USD");
    assert_eq!(evidence(f, "tripled"), Some(json!("0.015 CNY")));
    assert_eq!(evidence(f, "action.m"), Some(json!("0.005 CNY")));
    // Money with fewer digits than the currency's minor unit is written with them.
    let d = decide(&e, act("t", AT, json!({"m": "500 CNY", "j": "500 JPY", "u": "1 USD"})));
    assert_eq!(rules(&d), vec!["big"]);
    let d = decide(
        &engine("policy p version \"1\" effective 2026-01-01\naction t { m: money }\nrule r cite \"c\" on t when action.m > 1 CNY then warn message \"{action.m}\"\n"),
        act("t", AT, json!({"m": "500 CNY"})),
    );
    assert_eq!(d.findings[0].message, "500.00 CNY");
    assert_eq!(to_json(&d)["findings"][0]["evidence"]["action.m"], json!("500.00 CNY"));
}

#[test]
fn currency_mismatch_is_an_error_finding_that_fails_closed() {
    let src = |on_error: &str| {
        format!(
            "policy p version \"1\" effective 2026-01-01{on_error}\n\
             action t {{ m: money }}\n\
             rule big \"Big\" cite \"limit\" on t when action.m > 500 CNY then warn\n\
             rule other cite \"c\" on t when action.m is present then warn\n"
        )
    };
    let d = decide(&engine(&src("")), act("t", AT, json!({"m": "600 USD"})));
    assert_eq!(d.verdict, Verdict::Review);
    let f = finding(&d, "big");
    assert_eq!(f.kind, FindingKind::Error);
    assert_eq!(*f.outcomes, ["review"]);
    assert_eq!(f.severity, None);
    assert_eq!(f.ladder, None);
    assert!(f.message.contains("currency"), "{}", f.message);
    assert!(f.message.contains("when"), "{}", f.message);
    assert_eq!(*f.cite, ["limit"]);
    // Other rules still run.
    assert_eq!(rules(&d), vec!["big", "other"]);
    assert_eq!(finding(&d, "other").kind, FindingKind::Rule);

    let d = decide(&engine(&src(" on error deny")), act("t", AT, json!({"m": "600 USD"})));
    assert_eq!(d.verdict, Verdict::Deny);
    assert_eq!(*finding(&d, "big").outcomes, ["deny"]);

    // Money arithmetic across currencies is an error too, not a silent false.
    let e = engine("policy p version \"1\" effective 2026-01-01\naction t { a: money  b: money }\nrule r cite \"c\" on t when action.a + action.b > 0 CNY then warn\n");
    let d = decide(&e, act("t", AT, json!({"a": "1 CNY", "b": "1 USD"})));
    assert_eq!(finding(&d, "r").kind, FindingKind::Error);
}

#[test]
fn an_error_in_unless_after_when_held_keeps_a_deny_rule_at_deny() {
    let e = engine(
        "policy p version \"1\" effective 2026-01-01\n\
         action t { n: int  m: money }\n\
         rule deny_rule cite \"c\" on t when action.n > 0 unless action.m > 5 CNY then deny\n\
         rule warn_rule cite \"c\" on t when action.n > 0 unless action.m > 5 CNY then warn, breach minor\n\
         rule deny_when cite \"c\" on t when action.m > 5 CNY then deny\n\
         ladder l window 30 days points minor 1 step 9 \"x\"\n",
    );
    // `when` holds, `unless` cannot be evaluated: the deny rule's verdict stands.
    let d = decide(&e, act("t", AT, json!({"n": 1, "m": "9 USD"})));
    assert_eq!(d.verdict, Verdict::Deny);
    assert_eq!(finding(&d, "deny_rule").kind, FindingKind::Error);
    assert_eq!(*finding(&d, "deny_rule").outcomes, ["deny"]);
    // A rule that would not change the verdict fails closed to the `on error` level.
    assert_eq!(*finding(&d, "warn_rule").outcomes, ["review"]);
    // An error in `when` is not "after `when` held": the `on error` level.
    assert_eq!(*finding(&d, "deny_when").outcomes, ["review"]);
    // No breach is recorded by an error.
    assert!(d.sanctions.is_empty());
    assert!(d.findings.iter().all(|f| f.severity.is_none()));

    // `when` false: the unless is never read, so no error at all.
    let d = decide(&e, act("t", AT, json!({"n": 0, "m": "9 CNY"})));
    assert_eq!(rules(&d), vec!["deny_when"]);
    assert_eq!(d.verdict, Verdict::Deny);
    let d = decide(&e, act("t", AT, json!({"n": 0, "m": "1 CNY"})));
    assert!(d.findings.is_empty());
}

#[test]
fn malformed_declared_fields_are_evaluation_errors_only_for_the_rules_that_read_them() {
    let e = engine(
        "policy p version \"1\" effective 2026-01-01\n\
         action t { m: money  n: int  d: date  k: one of a, b  s: set of int  flag: bool }\n\
         rule reads_m cite \"c\" on t when action.m > 1 CNY then warn\n\
         rule reads_n cite \"c\" on t when action.n > 1 then warn\n\
         rule reads_d cite \"c\" on t when action.d > 2026-01-01 then warn\n\
         rule reads_k cite \"c\" on t when action.k = \"a\" then warn\n\
         rule reads_s cite \"c\" on t when 1 in action.s then warn\n\
         rule reads_flag cite \"c\" on t when action.flag then warn\n",
    );
    let d = decide(
        &e,
        act(
            "t",
            AT,
            json!({"m": "oops", "n": 1.5, "d": "2026-02-30", "k": "c", "s": [1, "x"], "flag": true, "extra": {"ignored": true}}),
        ),
    );
    assert_eq!(rules(&d), vec!["reads_m", "reads_n", "reads_d", "reads_k", "reads_s", "reads_flag"]);
    for f in &d.findings[..5] {
        assert_eq!(f.kind, FindingKind::Error, "{}", f.rule);
    }
    assert_eq!(d.findings[5].kind, FindingKind::Rule);
    assert!(d.findings[0].message.contains("action.m"), "{}", d.findings[0].message);
    // An unknown currency code in a money field is malformed too.
    let d =
        decide(&e, act("t", AT, json!({"m": "5 XYZ", "n": 0, "d": "2026-01-01", "k": "b", "s": [], "flag": false})));
    assert_eq!(rules(&d), vec!["reads_m"]);
    assert_eq!(d.findings[0].kind, FindingKind::Error);
}

#[test]
fn fields_of_records_are_read_each_on_its_own_path() {
    let e = engine(
        "policy p version \"1\" effective 2026-01-01\n\
         record address { city: text  zip: int }\n\
         record customer { risk: int  home: address }\n\
         record rm { grade: one of junior, senior }\n\
         action t { customer: customer }\n\
         rule risky cite \"c\" on t when action.customer.risk > 3 then warn\n\
         rule city cite \"c\" on t when action.customer.home.city = \"Shanghai\" then warn\n\
         rule whole cite \"c\" on t when action.customer is present and rm.grade = \"junior\" then warn\n",
    );
    let customer = json!({"risk": 5, "home": {"city": "Shanghai", "zip": "not a number"}});
    let mut sale = act("t", AT, json!({ "customer": customer }));
    sale["rm"]["grade"] = json!("junior");
    let d = decide(&e, sale.clone());
    // A malformed field of a record (`zip`) troubles no rule that does not read it.
    assert_eq!(rules(&d), vec!["risky", "city", "whole"]);
    assert!(d.findings.iter().all(|f| f.kind == FindingKind::Rule));
    assert_eq!(evidence(finding(&d, "city"), "action.customer.home.city"), Some(json!("Shanghai")));
    assert_eq!(evidence(finding(&d, "whole"), "rm.grade"), Some(json!("junior")));

    // A record that is `null` leaves its fields missing, named by their whole path.
    sale["customer"]["home"] = Json::Null;
    let d = decide(&e, sale.clone());
    assert_eq!(rules(&d), vec!["risky", "city", "whole"]);
    let city = finding(&d, "city");
    assert_eq!(
        (city.kind, city.message.as_str()),
        (FindingKind::Error, "cannot evaluate `when`: `action.customer.home.city` is missing")
    );

    // A record that is not an object makes every field read through it malformed.
    sale["customer"]["home"] = json!("Shanghai");
    let d = decide(&e, sale.clone());
    let city = finding(&d, "city");
    assert_eq!(city.kind, FindingKind::Error);
    assert_eq!(city.message, "cannot evaluate `when`: `action.customer.home.city`: expected an object, found text");
    sale["customer"] = json!(["a list"]);
    let d = decide(&e, sale);
    assert_eq!(rules(&d), vec!["risky", "city", "whole"]);
    for f in &d.findings[..2] {
        assert!(f.message.ends_with("expected an object, found an array"), "{}", f.message);
    }
    assert_eq!(finding(&d, "whole").kind, FindingKind::Error, "the whole record is malformed too");
}

#[test]
fn int_overflow_and_too_many_digits_are_error_findings_not_panics() {
    let e = engine(
        "policy p version \"1\" effective 2026-01-01\n\
         action t { n: int  d: decimal }\n\
         rule square cite \"c\" on t when action.n * action.n > 0 then warn\n\
         rule add cite \"c\" on t when action.n + 1 > 0 then warn\n\
         rule neg cite \"c\" on t when -action.n < 0 or abs(action.n) > 0 then warn\n\
         rule digits cite \"c\" on t when action.d > 0 then warn\n",
    );
    let d = decide(&e, act("t", AT, json!({"n": i64::MAX, "d": "0.1"})));
    assert_eq!(finding(&d, "square").kind, FindingKind::Error);
    assert!(finding(&d, "square").message.contains("overflow"), "{}", finding(&d, "square").message);
    assert_eq!(finding(&d, "add").kind, FindingKind::Error);
    assert_eq!(finding(&d, "neg").kind, FindingKind::Rule, "-i64::MAX fits");
    assert_eq!(finding(&d, "digits").kind, FindingKind::Rule);
    let d = decide(&e, act("t", AT, json!({"n": i64::MIN, "d": "0.12345678901234567890123456789"})));
    assert_eq!(finding(&d, "neg").kind, FindingKind::Error, "-i64::MIN overflows");
    assert_eq!(finding(&d, "digits").kind, FindingKind::Error, "29 decimal places do not fit exactly");
    assert_eq!(d.verdict, Verdict::Review);
    // Division by zero is an error too.
    let e = engine("policy p version \"1\" effective 2026-01-01\naction t { n: int }\nrule r cite \"c\" on t when 1 / action.n > 0 then warn\n");
    assert_eq!(decide(&e, act("t", AT, json!({"n": 0}))).findings[0].kind, FindingKind::Error);
}

// ------------------------------------------------------------------ optional fields and short-circuits

#[test]
fn optional_fields_are_tested_with_is_present_and_is_missing() {
    let e = engine(
        "policy p version \"1\" effective 2026-01-01\n\
         action t { rid: text?  tags: set of text? }\n\
         rule unguarded cite \"c\" on t when action.rid = \"x\" then warn\n\
         rule guarded cite \"c\" on t when action.rid is present and action.rid = \"x\" then warn\n\
         rule absent cite \"c\" on t when action.rid is missing or action.rid = \"\" then warn\n\
         rule optional_set cite \"c\" on t when action.tags is missing or \"a\" in action.tags then warn\n",
    );
    let d = decide(&e, act("t", AT, json!({})));
    assert_eq!(rules(&d), vec!["unguarded", "absent", "optional_set"]);
    assert_eq!(finding(&d, "unguarded").kind, FindingKind::Error);
    assert!(finding(&d, "unguarded").message.contains("action.rid"), "{}", finding(&d, "unguarded").message);
    // `null` reads like an absent field.
    let d = decide(&e, act("t", AT, json!({"rid": null, "tags": null})));
    assert_eq!(rules(&d), vec!["unguarded", "absent", "optional_set"]);
    let d = decide(&e, act("t", AT, json!({"rid": "x", "tags": ["b"]})));
    assert_eq!(rules(&d), vec!["unguarded", "guarded"]);
    assert!(d.findings.iter().all(|f| f.kind == FindingKind::Rule));
    assert_eq!(d.verdict, Verdict::Allow);
}

#[test]
fn and_or_short_circuit_left_to_right() {
    let e = engine(
        "policy p version \"1\" effective 2026-01-01\n\
         action t { flag: bool  m: money }\n\
         rule and_skips cite \"c\" on t when action.flag and action.m > 5 CNY then warn\n\
         rule or_skips cite \"c\" on t when not action.flag or action.m > 5 CNY then warn\n\
         rule error_first cite \"c\" on t when action.m > 5 CNY and action.flag then warn\n",
    );
    let d = decide(&e, act("t", AT, json!({"flag": false, "m": "9 USD"})));
    assert_eq!(rules(&d), vec!["or_skips", "error_first"]);
    assert_eq!(finding(&d, "or_skips").kind, FindingKind::Rule);
    assert_eq!(finding(&d, "error_first").kind, FindingKind::Error);
    // The short-circuited field is not evidence.
    assert_eq!(evidence_list(finding(&d, "or_skips")), vec![(probity::SmolStr::from("action.flag"), json!(false))]);
}

// ------------------------------------------------------------------ dates and times

#[test]
fn calendar_months_are_clamped_to_the_end_of_the_month() {
    let e = engine(
        "policy p version \"1\" effective 2020-01-01 timezone \"Asia/Shanghai\"\n\
         action t { d: date }\n\
         rule r cite \"c\" on t\n\
           let plus_month = action.d + 1 month\n\
           let minus_month = action.d - 1 month\n\
           let plus_year = action.d + 1 year\n\
           let plus_days = action.d + 30 days\n\
           then warn\n\
           message \"{plus_month} {minus_month} {plus_year} {plus_days}\"\n",
    );
    let msg = |d: &str| decide(&e, act("t", AT, json!({"d": d}))).findings[0].message.clone();
    assert_eq!(msg("2026-01-31"), "2026-02-28 2025-12-31 2027-01-31 2026-03-02");
    assert_eq!(msg("2024-01-31"), "2024-02-29 2023-12-31 2025-01-31 2024-03-01");
    assert_eq!(msg("2024-02-29"), "2024-03-29 2024-01-29 2025-02-28 2024-03-30");
    assert_eq!(msg("2026-03-31"), "2026-04-30 2026-02-28 2027-03-31 2026-04-30");
}

#[test]
fn a_deadline_of_one_month_is_a_calendar_step_in_the_policy_time_zone() {
    let e = engine(
        "policy p version \"1\" effective 2026-01-01 timezone \"Asia/Shanghai\"\n\
         action t { }\n\
         action done { }\n\
         duty d cite \"c\" on t due within 1 month fulfilled by done\n",
    );
    // 2026-01-31 10:00 in Shanghai (given in UTC); one month later is 28 February, same wall time.
    let d = decide(&e, act("t", "2026-01-31T02:00:00Z", json!({})));
    assert_eq!(d.obligations.len(), 1);
    assert_eq!(d.obligations[0].due, "2026-02-28T02:00:00Z");
    assert!(d.findings.is_empty(), "creating an obligation is not a finding");
    assert_eq!(d.verdict, Verdict::Allow);
}

#[test]
fn age_counts_whole_years_including_29_february() {
    let e = engine(
        "policy p version \"1\" effective 2020-01-01 timezone \"Asia/Shanghai\"\n\
         action t { born: date }\n\
         rule r cite \"c\" on t let years = age(action.born) then warn message \"{years}\"\n",
    );
    let age = |born: &str, at: &str| decide(&e, act("t", at, json!({"born": born}))).findings[0].message.clone();
    // The birthday itself counts; the day before does not.
    assert_eq!(age("1956-01-15", "2026-01-15T10:00:00+08:00"), "70");
    assert_eq!(age("1956-01-15", "2026-01-14T10:00:00+08:00"), "69");
    // "today" is the local date in the policy's time zone: 2026-01-14T16:30Z is the 15th in Shanghai.
    assert_eq!(age("1956-01-15", "2026-01-14T16:30:00Z"), "70");
    assert_eq!(age("1956-01-15", "2026-01-14T15:30:00Z"), "69");
    // 29 February: `born + n years` is clamped to 28 February in common years.
    assert_eq!(age("2000-02-29", "2026-02-27T10:00:00+08:00"), "25");
    assert_eq!(age("2000-02-29", "2026-02-28T10:00:00+08:00"), "26");
    assert_eq!(age("2000-02-29", "2028-02-28T10:00:00+08:00"), "27");
    assert_eq!(age("2000-02-29", "2028-02-29T10:00:00+08:00"), "28");
    // Born today: zero.
    assert_eq!(age("2026-03-02", AT), "0");
}

#[test]
fn days_between_is_signed() {
    let e = engine(
        "policy p version \"1\" effective 2020-01-01 timezone \"Asia/Shanghai\"\n\
         action t { a: date  b: date }\n\
         rule r cite \"c\" on t let n = days_between(action.a, action.b) let to_now = days_between(action.a, now) then warn message \"{n} {to_now}\"\n",
    );
    let msg = |a: &str, b: &str| decide(&e, act("t", AT, json!({"a": a, "b": b}))).findings[0].message.clone();
    assert_eq!(msg("2026-02-01", "2026-03-01"), "28 29");
    assert_eq!(msg("2026-03-01", "2026-02-01"), "-28 1");
    assert_eq!(msg("2026-03-02", "2026-03-02"), "0 0");
}

#[test]
fn hour_weekday_and_today_are_local_to_the_policy_time_zone() {
    let rule = "action t { }\nrule r cite \"c\" on t let h = hour(now) let w = weekday(now) let m = month(now) let y = year(today) let d = today then warn message \"{h} {w} {m} {y} {d}\"\n";
    let shanghai = engine(&format!("policy sh version \"1\" effective 2020-01-01 timezone \"Asia/Shanghai\"\n{rule}"));
    let utc = engine(&format!("policy utc version \"1\" effective 2020-01-01\n{rule}"));
    let london = engine(&format!("policy ldn version \"1\" effective 2020-01-01 timezone \"Europe/London\"\n{rule}"));
    // 2026-12-31 23:30 UTC is Friday 1 January 2027, 07:30, in Shanghai.
    let at = "2026-12-31T23:30:00Z";
    assert_eq!(decide(&shanghai, act("t", at, json!({}))).findings[0].message, "7 5 1 2027 2027-01-01");
    assert_eq!(decide(&utc, act("t", at, json!({}))).findings[0].message, "23 4 12 2026 2026-12-31");
    // London in summer time is UTC+1.
    assert_eq!(
        decide(&london, act("t", "2026-07-05T23:30:00Z", json!({}))).findings[0].message,
        "0 1 7 2026 2026-07-06"
    );
    // Sunday is 7.
    assert_eq!(decide(&utc, act("t", "2026-03-01T12:00:00Z", json!({}))).findings[0].message, "12 7 3 2026 2026-03-01");
}

#[test]
fn a_date_compared_with_a_datetime_uses_its_local_date() {
    let e = engine(
        "policy p version \"1\" effective 2020-01-01 timezone \"Asia/Shanghai\"\n\
         action t { d: date  t: datetime }\n\
         rule same_day cite \"c\" on t when action.d = now then warn\n\
         rule before cite \"c\" on t when action.d < action.t then warn\n\
         rule local_date cite \"c\" on t when date(action.t) = action.d then warn\n",
    );
    // 20:00 at UTC-5 on 1 March is 09:00 on 2 March in Shanghai.
    let d = decide(&e, act("t", "2026-03-01T20:00:00-05:00", json!({"d": "2026-03-02", "t": "2026-03-01T16:00:00Z"})));
    assert_eq!(rules(&d), vec!["same_day", "local_date"]);
    let d = decide(&e, act("t", "2026-03-01T20:00:00-05:00", json!({"d": "2026-03-01", "t": "2026-03-01T16:00:00Z"})));
    assert_eq!(rules(&d), vec!["before"]);
}

#[test]
fn days_are_exact_and_months_are_calendar_steps_across_a_clock_change() {
    // Europe/London moves to summer time (UTC+1) on 29 March 2026.
    let e = engine(
        "policy p version \"1\" effective 2020-01-01 timezone \"Europe/London\"\n\
         action t { }\naction done { }\n\
         duty exact cite \"c\" on t due within 30 days fulfilled by done\n\
         duty monthly cite \"c\" on t due within 1 month fulfilled by done\n\
         rule local cite \"c\" on t let h = hour(now + 10 days) then warn message \"{h}\"\n",
    );
    let d = decide(&e, act("t", "2026-03-20T10:00:00Z", json!({})));
    let dues: Vec<(&str, &str)> = d.obligations.iter().map(|o| (o.duty.as_str(), o.due.as_str())).collect();
    // 30 days are 720 hours; one month is the same wall-clock time a month later (10:00 BST).
    assert_eq!(dues, vec![("exact", "2026-04-19T10:00:00Z"), ("monthly", "2026-04-20T09:00:00Z")]);
    assert_eq!(d.findings[0].message, "11", "10:00 UTC on 30 March is 11:00 in London");
}

#[test]
fn datetime_arithmetic_with_exact_durations() {
    let e = engine(
        "policy p version \"1\" effective 2020-01-01 timezone \"Asia/Shanghai\"\n\
         action t { t: datetime }\n\
         rule r cite \"c\" on t let later = action.t + 8 hours + 15 minutes let earlier = now - 2 weeks then warn message \"{later} {earlier}\"\n",
    );
    let d = decide(&e, act("t", "2026-03-02T10:00:00+08:00", json!({"t": "2026-03-01T20:00:00Z"})));
    assert_eq!(d.findings[0].message, "2026-03-02T04:15:00Z 2026-02-16T10:00:00+08:00");
}

// ------------------------------------------------------------------ enums, sets, text

#[test]
fn enums_are_ordered_as_declared() {
    let e = engine(
        "policy p version \"1\" effective 2020-01-01\n\
         record rm { grade: one of junior, intermediate, senior }\n\
         action t { }\n\
         rule below cite \"c\" on t when rm.grade < \"intermediate\" then warn\n\
         rule at_least cite \"c\" on t when rm.grade >= \"intermediate\" then warn\n\
         rule top cite \"c\" on t when rm.grade > \"intermediate\" and rm.grade != \"junior\" then warn\n",
    );
    let grade = |g: &str| {
        let mut a = act("t", AT, json!({}));
        a["rm"]["grade"] = json!(g);
        rules(&decide(&e, a))
    };
    assert_eq!(grade("junior"), vec!["below"]);
    assert_eq!(grade("intermediate"), vec!["at_least"]);
    assert_eq!(grade("senior"), vec!["at_least", "top"]);
}

#[test]
fn set_membership_and_contains() {
    let e = engine(
        "policy p version \"1\" effective 2020-01-01\n\
         action t { tags: set of text  kind: one of cash, card, goods  codes: list of int  note: text }\n\
         rule tag_in cite \"c\" on t when \"vip\" in action.tags then warn\n\
         rule tag_contains cite \"c\" on t when action.tags contains \"vip\" then warn\n\
         rule enum_in cite \"c\" on t when action.kind in [\"cash\", \"card\"] then warn\n\
         rule enum_not_in cite \"c\" on t when action.kind not in [\"cash\", \"card\"] then warn\n\
         rule list_in cite \"c\" on t when 3 in action.codes and len(action.codes) = 3 and len(action.tags) = 1 then warn\n\
         rule text_contains cite \"c\" on t when lower(action.note) contains \"gift\" then warn\n",
    );
    let d =
        decide(&e, act("t", AT, json!({"tags": ["vip", "vip"], "kind": "card", "codes": [3, 3, 1], "note": "A GIFT"})));
    assert_eq!(rules(&d), vec!["tag_in", "tag_contains", "enum_in", "list_in", "text_contains"]);
    let d = decide(&e, act("t", AT, json!({"tags": [], "kind": "goods", "codes": [], "note": "gif t"})));
    assert_eq!(rules(&d), vec!["enum_not_in"]);
}

// ------------------------------------------------------------------ aggregates

const AGG: &str = "policy p version \"1\" effective 2020-01-01 timezone \"Asia/Shanghai\"\n\
    action sale { n: int  m: money }\n\
    rule unguarded_max cite \"c\" on sale when max(sale.n within 30 days) > 5 then warn\n\
    rule guarded_max cite \"c\" on sale when exists(sale within 30 days) and max(sale.n within 30 days) > 5 then warn\n\
    rule guarded_min cite \"c\" on sale when exists(sale within 30 days) and min(sale.n within 30 days) < 2 then warn\n\
    rule small_total cite \"c\" on sale when sum(sale.m within 30 days) < 100 USD then warn\n\
    rule running_total cite \"c\" on sale let total = sum(sale.m within 30 days) + action.m when total > 100 EUR then warn message \"{total}\"\n";

#[test]
fn min_and_max_of_no_items_are_errors_unless_guarded() {
    let e = engine(AGG);
    let d = decide(&e, act("sale", AT, json!({"n": 1, "m": "10 EUR"})));
    assert_eq!(rules(&d), vec!["unguarded_max", "small_total"]);
    assert_eq!(finding(&d, "unguarded_max").kind, FindingKind::Error);
    assert_eq!(d.verdict, Verdict::Review);
}

#[test]
fn the_sum_of_no_items_is_a_zero_of_any_currency() {
    let e = engine(AGG);
    // `small_total` compares the empty sum with USD, `running_total` adds it to EUR: no error.
    let d = decide(&e, act("sale", AT, json!({"n": 1, "m": "101 EUR"})));
    assert_eq!(rules(&d), vec!["unguarded_max", "small_total", "running_total"]);
    assert_eq!(finding(&d, "small_total").kind, FindingKind::Rule);
    assert_eq!(finding(&d, "running_total").kind, FindingKind::Rule);
    assert_eq!(finding(&d, "running_total").message, "101.00 EUR");
}

#[test]
fn aggregates_read_the_history_window() {
    let e = engine(AGG);
    let history = json!({"actions": [
        {"type": "sale", "id": "S-0", "at": "2026-01-01T10:00:00+08:00", "rm": {"id": "R1"}, "n": 100, "m": "1000 EUR"},
        {"type": "sale", "id": "S-1", "at": "2026-02-10T10:00:00+08:00", "rm": {"id": "R1"}, "n": 9, "m": "60 EUR"},
        {"type": "sale", "id": "S-2", "at": "2026-02-20T10:00:00+08:00", "rm": {"id": "R1"}, "n": 1, "m": "30 EUR"},
        {"type": "sale", "id": "S-3", "at": "2026-02-21T10:00:00+08:00", "rm": {"id": "R2"}, "n": 50, "m": "999 EUR"}
    ]});
    let d = decide_with(&e, act("sale", AT, json!({"n": 1, "m": "20 EUR"})), history);
    // S-0 is outside 30 days, S-3 belongs to another RM. max 9, min 1; 90 EUR + 20 EUR.
    // `small_total` now compares EUR with USD: an error, not a silent false.
    assert_eq!(rules(&d), vec!["unguarded_max", "guarded_max", "guarded_min", "small_total", "running_total"]);
    let kinds: Vec<FindingKind> = d.findings.iter().map(|f| f.kind).collect();
    assert_eq!(
        kinds,
        vec![FindingKind::Rule, FindingKind::Rule, FindingKind::Rule, FindingKind::Error, FindingKind::Rule]
    );
    assert_eq!(finding(&d, "running_total").message, "110.00 EUR");
    // One item is enough for the mismatch.
    let history = json!({"actions": [{"type": "sale", "id": "S-1", "at": "2026-02-10T10:00:00+08:00", "rm": {"id": "R1"}, "n": 1, "m": "60 EUR"}]});
    let d = decide_with(&e, act("sale", AT, json!({"n": 1, "m": "20 EUR"})), history);
    assert_eq!(finding(&d, "small_total").kind, FindingKind::Error);
}

#[test]
fn the_current_action_is_not_in_its_own_history_but_an_earlier_one_at_the_same_time_is() {
    let e = engine(
        "policy p version \"1\" effective 2020-01-01\n\
         action sale { }\n\
         rule r cite \"c\" on sale let n = count(sale within 1 day) then warn message \"{n}\"\n",
    );
    let history = json!({"actions": [
        {"type": "sale", "id": "S-0", "at": "2026-03-01T10:00:00Z", "rm": {"id": "R1"}},
        {"type": "sale", "id": "S-LATER", "at": "2026-03-01T10:00:01Z", "rm": {"id": "R1"}}
    ]});
    let d = decide_with(&e, act("sale", "2026-03-01T10:00:00Z", json!({})), history);
    assert_eq!(d.findings[0].message, "1", "the earlier action at the same instant counts, a later one does not");
    // The window's lower bound is inclusive.
    let history = json!({"actions": [{"type": "sale", "id": "S-0", "at": "2026-02-28T10:00:00Z", "rm": {"id": "R1"}}]});
    assert_eq!(
        decide_with(&e, act("sale", "2026-03-01T10:00:00Z", json!({})), history.clone()).findings[0].message,
        "1"
    );
    assert_eq!(decide_with(&e, act("sale", "2026-03-01T10:00:01Z", json!({})), history).findings[0].message, "0");
}

#[test]
fn inside_where_a_bare_name_is_the_items_field_even_if_a_let_has_its_name() {
    let e = engine(
        "policy p version \"1\" effective 2020-01-01\n\
         action gift { giver: text }\n\
         rule r cite \"c\" on gift\n\
           let giver = \"nobody\"\n\
           let same = count(gift where giver = action.giver within 30 days)\n\
           when giver = \"nobody\" then warn message \"{same}\"\n",
    );
    let history = json!({"actions": [
        {"type": "gift", "id": "G-0", "at": "2026-03-01T10:00:00Z", "rm": {"id": "R1"}, "giver": "ACME"},
        {"type": "gift", "id": "G-1", "at": "2026-03-01T11:00:00Z", "rm": {"id": "R1"}, "giver": "BETA"}
    ]});
    let d = decide_with(&e, act("gift", "2026-03-02T10:00:00Z", json!({"giver": "ACME"})), history);
    assert_eq!(d.findings[0].message, "1");
}

#[test]
fn a_date_out_of_range_is_an_evaluation_error() {
    let e = engine(
        "policy p version \"1\" effective 2020-01-01\n\
         action t { d: date  dur: duration }\n\
         rule date_shift cite \"c\" on t when action.d + action.dur > 2026-01-01 then warn\n\
         rule time_shift cite \"c\" on t when now + action.dur > now then warn\n",
    );
    let d = decide(&e, act("t", AT, json!({"d": "2026-01-01", "dur": "3000000 years"})));
    assert_eq!(rules(&d), vec!["date_shift", "time_shift"]);
    assert!(d.findings.iter().all(|f| f.kind == FindingKind::Error), "{}", d.to_json());
    assert_eq!(d.verdict, Verdict::Review);
    let d = decide(&e, act("t", AT, json!({"d": "2026-01-01", "dur": "2 days"})));
    assert!(d.findings.iter().all(|f| f.kind == FindingKind::Rule));
    assert_eq!(rules(&d), vec!["date_shift", "time_shift"]);
}

#[test]
fn durations_money_functions_and_abs() {
    let e = engine(
        "policy p version \"1\" effective 2020-01-01\n\
         action t { dur: duration  m: money  n: int }\n\
         rule long cite \"c\" on t when action.dur > 2 days then warn\n\
         rule parts cite \"c\" on t when amount(action.m) = 12.5 and currency(action.m) = \"USD\" and abs(-action.m) = action.m then warn\n\
         rule distance cite \"c\" on t when abs(action.n - 10) <= 2 then warn\n",
    );
    let d = decide(&e, act("t", AT, json!({"dur": "3 days", "m": "12.50 USD", "n": 11})));
    assert_eq!(rules(&d), vec!["long", "parts", "distance"]);
    assert!(d.findings.iter().all(|f| f.kind == FindingKind::Rule));
    // A calendar duration has no fixed length in days: comparing is an error, not a guess.
    let d = decide(&e, act("t", AT, json!({"dur": "1 month", "m": "12.5 USD", "n": 7})));
    assert_eq!(rules(&d), vec!["long", "parts"]);
    assert_eq!(finding(&d, "long").kind, FindingKind::Error);
}

// ------------------------------------------------------------------ decisions

#[test]
fn findings_are_ordered_by_policy_id_then_rule_position_and_escalations_deduplicated() {
    let b = "policy b_pol version \"1\" effective 2020-01-01\naction t { }\n\
             rule z cite \"c\" on t then warn, escalate \"aml\"\n\
             rule a cite \"c\" on t then review, escalate \"compliance\"\n";
    let a = "policy a_pol version \"2\" effective 2020-01-01\naction t { }\naction other { }\n\
             rule z cite \"c\" on t then escalate \"compliance\"\n\
             rule m cite \"c\" on other then deny\n\
             rule a cite \"c\" on t then escalate \"compliance\", escalate \"aml\"\n";
    let c = "policy c_pol version \"1\" effective 2020-01-01\naction other { }\nrule x cite \"c\" on other then deny\n";
    let e = engine_of(&[("b.probity", b), ("c.probity", c), ("a.probity", a)]);
    let d = decide(&e, act("t", AT, json!({})));
    let order: Vec<(probity::SmolStr, probity::SmolStr)> =
        d.findings.iter().map(|f| (f.policy.clone(), f.rule.clone())).collect();
    assert_eq!(
        order,
        vec![
            ("a_pol".into(), "z".into()),
            ("a_pol".into(), "a".into()),
            ("b_pol".into(), "z".into()),
            ("b_pol".into(), "a".into())
        ]
    );
    assert_eq!(d.escalations, vec!["compliance", "aml"]);
    // Every policy in force is listed, ordered by id, even one with no rule for this type.
    let listed: Vec<(&str, &str)> = d.policies.iter().map(|p| (p.id.as_str(), p.version.as_str())).collect();
    assert_eq!(listed, vec![("a_pol", "2"), ("b_pol", "1"), ("c_pol", "1")]);
    assert_eq!(d.verdict, Verdict::Review);
    // Outcome keywords are listed in the order written.
    assert_eq!(*d.findings[1].outcomes, ["escalate", "escalate"]);
    assert_eq!(*d.findings[3].outcomes, ["review", "escalate"]);
}

#[test]
fn the_digest_is_the_sha256_of_the_file_bytes() {
    use sha2::{Digest, Sha256};
    let src = "policy p version \"1\" effective 2020-01-01\naction t { }\n";
    let d = decide(&engine(src), act("t", AT, json!({})));
    let hex: String = Sha256::digest(src.as_bytes()).iter().map(|b| format!("{b:02x}")).collect();
    assert_eq!(d.policies[0].digest, format!("sha256:{hex}"));
    // One more byte, another digest.
    let d2 = decide(&engine(&format!("{src}\n")), act("t", AT, json!({})));
    assert_ne!(d.policies[0].digest, d2.policies[0].digest);
}

const SUITABILITY: &str = r#"policy cn_wealth_sales "Wealth management sales conduct"
  version "2026.1"
  effective 2026-02-01
  timezone "Asia/Shanghai"

record customer {
  id: text
  risk_level: int
  segment: one of retail, private, corporate
}
action product_sale {
  customer: customer
  product_risk: int
  amount: money
  recording_id: text?
}

rule suitability "Product risk must not exceed the customer's risk level"
  cite "理财公司理财产品销售管理暂行办法 art. 25(1)"
  on product_sale
  when action.product_risk > action.customer.risk_level
  unless action.customer.segment = "private" and action.amount >= 3000000 CNY
  then deny, breach major
  message "product risk R{action.product_risk} exceeds customer level C{action.customer.risk_level}"
  message zh "产品风险等级 R{action.product_risk} 高于客户风险承受能力 C{action.customer.risk_level}"
  message fr "recording {action.recording_id}"

ladder conduct "Conduct points"
  window 12 months
  points minor 1, major 3, severe 6
  step 3 "formal warning"
  step 6 "suspension from sales"
"#;

fn suitability_sale(segment: &str, amount: &str) -> Json {
    json!({"type": "product_sale", "id": "S-1001", "at": "2026-03-01T10:00:00+08:00", "rm": {"id": "R1"},
           "customer": {"id": "C1", "risk_level": 3, "segment": segment}, "product_risk": 5, "amount": amount})
}

#[test]
fn evidence_lists_what_the_rule_read_in_order() {
    let e = engine(SUITABILITY);
    let d = decide(&e, suitability_sale("retail", "50000 CNY"));
    let f = finding(&d, "suitability");
    // `action.amount` was never read: the `unless` stopped at the segment.
    assert_eq!(
        evidence_list(f),
        vec![
            (probity::SmolStr::from("action.product_risk"), json!(5)),
            (probity::SmolStr::from("action.customer.risk_level"), json!(3)),
            (probity::SmolStr::from("action.customer.segment"), json!("retail")),
        ]
    );
    let d = decide(&e, suitability_sale("private", "50000 CNY"));
    let f = finding(&d, "suitability");
    assert_eq!(
        f.evidence.iter().map(|(k, _)| k.as_str()).collect::<Vec<_>>(),
        vec!["action.product_risk", "action.customer.risk_level", "action.customer.segment", "action.amount"]
    );
    assert_eq!(evidence(f, "action.amount"), Some(json!("50000.00 CNY")));
    // The exception holds for a large private-banking sale.
    assert!(decide(&e, suitability_sale("private", "3000000 CNY")).findings.is_empty());
}

#[test]
fn lets_are_evidence_under_their_names_and_aggregates_under_their_text() {
    let e = engine(
        "policy p version \"1\" effective 2020-01-01\n\
         action t { a: int  b: int  c: text }\n\
         rule r cite \"c\" on t\n\
           let total = action.a + action.b\n\
           let unused_here = action.c\n\
           when total > 1 and count(t   where c = action.c\n   within 7 days) = 0\n\
           then warn message \"{unused_here}\"\n",
    );
    let d = decide(&e, act("t", AT, json!({"a": 1, "b": 2, "c": "x"})));
    let f = finding(&d, "r");
    assert_eq!(
        evidence_list(f),
        vec![
            (probity::SmolStr::from("total"), json!(3)),
            (probity::SmolStr::from("action.a"), json!(1)),
            (probity::SmolStr::from("action.b"), json!(2)),
            (probity::SmolStr::from("unused_here"), json!("x")),
            (probity::SmolStr::from("action.c"), json!("x")),
            (probity::SmolStr::from("count(t where c = action.c within 7 days)"), json!(0)),
        ]
    );
}

#[test]
fn fields_read_inside_where_are_not_evidence() {
    let e = engine(
        "policy p version \"1\" effective 2020-01-01\n\
         action t { c: text  n: int }\n\
         rule r cite \"c\" on t when count(t where c = action.c within 7 days) = 0 and action.n > 0 then warn\n",
    );
    let earlier =
        json!({"type": "t", "id": "X-0", "at": "2026-03-01T10:00:00+08:00", "rm": {"id": "R1"}, "c": "y", "n": 1});
    let d = decide_with(&e, act("t", AT, json!({"c": "x", "n": 1})), json!({"actions": [earlier]}));
    // The filter compared `action.c` with the earlier item's `c`; the aggregate's value is the
    // evidence, not what it read item by item.
    assert_eq!(
        evidence_list(finding(&d, "r")),
        vec![
            (probity::SmolStr::from("count(t where c = action.c within 7 days)"), json!(0)),
            (probity::SmolStr::from("action.n"), json!(1)),
        ]
    );
}

#[test]
fn messages_placeholders_and_languages() {
    let e = engine(SUITABILITY);
    let d = decide(&e, suitability_sale("retail", "50000 CNY"));
    let f = finding(&d, "suitability");
    assert_eq!(f.message, "product risk R5 exceeds customer level C3");
    // The absent optional field renders as `?`, and is not an error.
    assert_eq!(
        f.messages,
        vec![
            (probity::SmolStr::from("zh"), probity::SmolStr::from("产品风险等级 R5 高于客户风险承受能力 C3")),
            (probity::SmolStr::from("fr"), probity::SmolStr::from("recording ?")),
        ]
    );
    assert_eq!(f.kind, FindingKind::Rule);
    let j = to_json(&d);
    assert_eq!(
        j["findings"][0]["messages"],
        json!({"zh": "产品风险等级 R5 高于客户风险承受能力 C3", "fr": "recording ?"})
    );
    assert_eq!(j["findings"][0]["cite"], json!(["理财公司理财产品销售管理暂行办法 art. 25(1)"]));
    // Without further languages, `messages` is omitted.
    let plain = decide(&engine(AGG), act("sale", AT, json!({"n": 1, "m": "101 EUR"})));
    assert!(to_json(&plain)["findings"][2].get("messages").is_none());
}

#[test]
fn the_decision_json_matches_the_contract() {
    let e = engine(SUITABILITY);
    let d = decide(&e, suitability_sale("retail", "50000 CNY"));
    let j = to_json(&d);
    let digest = d.policies[0].digest.clone();
    assert_eq!(
        j,
        json!({
            "action": "S-1001",
            "at": "2026-03-01T10:00:00+08:00",
            "verdict": "deny",
            "policies": [{"id": "cn_wealth_sales", "version": "2026.1", "digest": digest}],
            "findings": [{
                "policy": "cn_wealth_sales", "rule": "suitability", "kind": "rule",
                "outcomes": ["deny", "breach"], "severity": "major", "ladder": "conduct",
                "message": "product risk R5 exceeds customer level C3",
                "messages": {"zh": "产品风险等级 R5 高于客户风险承受能力 C3", "fr": "recording ?"},
                "cite": ["理财公司理财产品销售管理暂行办法 art. 25(1)"],
                "evidence": {"action.product_risk": 5, "action.customer.risk_level": 3, "action.customer.segment": "retail"}
            }],
            "obligations": [],
            "fulfilled": [],
            "escalations": [],
            "sanctions": [{"policy": "cn_wealth_sales", "ladder": "conduct", "points": 3, "step": "formal warning", "previous": null}]
        })
    );
    // Keys come out in the contract's order.
    let text = d.to_json();
    let keys = [
        "\"action\"",
        "\"at\"",
        "\"verdict\"",
        "\"policies\"",
        "\"findings\"",
        "\"obligations\"",
        "\"fulfilled\"",
        "\"escalations\"",
        "\"sanctions\"",
    ];
    let positions: Vec<usize> = keys.iter().map(|k| text.find(k).unwrap()).collect();
    assert!(positions.windows(2).all(|w| w[0] < w[1]), "{text}");
}

#[test]
fn decision_json_is_deterministic() {
    let history = json!({"actions": [
        {"type": "sale", "id": "S-1", "at": "2026-02-10T10:00:00+08:00", "rm": {"id": "R1"}, "n": 9, "m": "60 EUR"},
        {"type": "sale", "id": "S-2", "at": "2026-02-20T10:00:00+08:00", "rm": {"id": "R1"}, "n": 1, "m": "30 EUR"}
    ]});
    let a = act("sale", AT, json!({"n": 1, "m": "20 EUR"}));
    let first = decide_with(&engine(AGG), a.clone(), history.clone()).to_json();
    for _ in 0..5 {
        // Same engine, and freshly loaded engines, give the same bytes.
        assert_eq!(decide_with(&engine(AGG), a.clone(), history.clone()).to_json(), first);
    }
    let e = engine(SUITABILITY);
    let one = decide(&e, suitability_sale("retail", "1 CNY")).to_json();
    let two = decide(&e, suitability_sale("retail", "1 CNY")).to_json();
    assert_eq!(one.as_bytes(), two.as_bytes());
}

#[test]
fn warn_and_breach_only_outcomes_leave_the_verdict_at_allow() {
    let e = engine(
        "policy p version \"1\" effective 2020-01-01\naction t { }\n\
         rule w cite \"c\" on t then warn, escalate \"x\"\n\
         rule b cite \"c\" on t then breach minor\n\
         ladder l window 30 days points minor 1 step 1 \"note\"\n",
    );
    let d = decide(&e, act("t", AT, json!({})));
    assert_eq!(d.verdict, Verdict::Allow);
    assert_eq!(rules(&d), vec!["w", "b"]);
    assert_eq!(d.sanctions.len(), 1);
    assert_eq!(d.sanctions[0].step, "note");
    assert_eq!(finding(&d, "b").severity.as_deref(), Some("minor"));
    assert_eq!(finding(&d, "b").ladder.as_deref(), Some("l"));
    assert_eq!(finding(&d, "w").severity, None);
}

#[test]
fn actions_of_undeclared_types_are_not_evaluated_but_policies_are_listed() {
    let e = engine("policy p version \"1\" effective 2020-01-01\naction t { }\nrule r cite \"c\" on t then deny\n");
    let d = decide(&e, act("unknown_type", AT, json!({"anything": [1, 2, 3]})));
    assert_eq!(d.verdict, Verdict::Allow);
    assert!(d.findings.is_empty());
    assert_eq!(d.policies.len(), 1);
}

// ------------------------------------------------------------------ input errors

#[test]
fn malformed_actions_are_input_errors() {
    let e = engine("policy p version \"1\" effective 2020-01-01\naction t { }\n");
    let field = |text: &str| match e.evaluate_json(text, None) {
        Err(InputError::Field { field, .. }) => field,
        other => panic!("expected a field error for {text}, got {other:?}"),
    };
    assert_eq!(field(r#"{"id": "A", "at": "2026-03-01T10:00:00Z", "rm": {"id": "R"}}"#), "type");
    assert_eq!(field(r#"{"type": "t", "at": "2026-03-01T10:00:00Z", "rm": {"id": "R"}}"#), "id");
    assert_eq!(field(r#"{"type": "t", "id": "A", "rm": {"id": "R"}}"#), "at");
    assert_eq!(field(r#"{"type": "t", "id": "A", "at": "2026-03-01T10:00:00Z"}"#), "rm");
    assert_eq!(field(r#"{"type": "t", "id": "A", "at": "2026-03-01T10:00:00Z", "rm": {}}"#), "rm.id");
    assert_eq!(field(r#"{"type": "t", "id": "A", "at": "2026-03-01T10:00:00Z", "rm": {"id": 7}}"#), "rm.id");
    assert_eq!(field(r#"{"type": "t", "id": "A", "at": "2026-03-01", "rm": {"id": "R"}}"#), "at");
    assert_eq!(field(r#"{"type": 3, "id": "A", "at": "2026-03-01T10:00:00Z", "rm": {"id": "R"}}"#), "type");
    // A timestamp without an offset says so.
    match e.evaluate_json(r#"{"type": "t", "id": "A", "at": "2026-03-01T10:00:00", "rm": {"id": "R"}}"#, None) {
        Err(InputError::Field { field, problem, .. }) => {
            assert_eq!(field, "at");
            assert!(problem.contains("offset"), "{problem}");
        }
        other => panic!("{other:?}"),
    }
    // Not an object, not JSON at all.
    assert!(matches!(e.evaluate_json("[1, 2]", None), Err(InputError::Json(_))));
    assert!(matches!(e.evaluate_json("\"text\"", None), Err(InputError::Json(_))));
    assert!(matches!(e.evaluate_json("{not json", None), Err(InputError::Json(_))));
    assert!(Action::from_value(json!(null)).is_err());
    // A well-formed action with `Z` works.
    assert!(e
        .evaluate_json(r#"{"type": "t", "id": "A", "at": "2026-03-01T10:00:00Z", "rm": {"id": "R"}}"#, None)
        .is_ok());
}

#[test]
fn deeply_nested_or_huge_actions_are_input_errors() {
    let e = engine("policy p version \"1\" effective 2020-01-01\naction t { }\n");
    let deep = format!(
        r#"{{"type": "t", "id": "A", "at": "2026-03-01T10:00:00Z", "rm": {{"id": "R"}}, "x": {}1{}}}"#,
        "[".repeat(limits::MAX_JSON_DEPTH + 1),
        "]".repeat(limits::MAX_JSON_DEPTH + 1)
    );
    assert!(e.evaluate_json(&deep, None).is_err());
    let huge = format!(
        r#"{{"type": "t", "id": "A", "at": "2026-03-01T10:00:00Z", "rm": {{"id": "R"}}, "x": "{}"}}"#,
        "a".repeat(limits::MAX_ACTION_BYTES)
    );
    assert!(matches!(e.evaluate_json(&huge, None), Err(InputError::Limit(_))));
}

#[test]
fn malformed_history_is_an_input_error() {
    let e = engine("policy p version \"1\" effective 2020-01-01\naction t { }\nrule r cite \"c\" on t then breach minor\nladder l window 30 days points minor 1 step 1 \"x\"\n");
    let a = r#"{"type": "t", "id": "A", "at": "2026-03-01T10:00:00Z", "rm": {"id": "R"}}"#;
    assert!(e.evaluate_json(a, Some(r#"{"actions": 3}"#)).is_err());
    assert!(e.evaluate_json(a, Some(r#"{"unknown": []}"#)).is_err());
    // A breach whose timestamp has no offset, or whose severity the ladder does not know.
    let bad_at = r#"{"breaches": [{"policy": "p", "rule": "r", "severity": "minor", "ladder": "l", "at": "2026-02-01T10:00:00", "action": "B"}]}"#;
    assert!(matches!(e.evaluate_json(a, Some(bad_at)), Err(InputError::Field { .. })));
    let bad_severity = r#"{"breaches": [{"policy": "p", "rule": "r", "severity": "huge", "ladder": "l", "at": "2026-02-01T10:00:00Z", "action": "B"}]}"#;
    assert!(matches!(e.evaluate_json(a, Some(bad_severity)), Err(InputError::Field { .. })));
    // A good one counts on the ladder.
    let good = r#"{"breaches": [{"policy": "p", "rule": "r", "severity": "minor", "ladder": "l", "at": "2026-02-20T10:00:00Z", "action": "B"}]}"#;
    let d = e.evaluate_json(a, Some(good)).unwrap();
    assert_eq!(d.sanctions[0].points, 2);
    assert_eq!(d.sanctions[0].previous.as_deref(), Some("x"));
}
