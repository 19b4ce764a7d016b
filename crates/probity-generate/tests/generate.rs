//! The generator: every injected violation makes the rule it maps to fire, on the injected
//! action and (almost) nowhere else; the same arguments give the same bytes.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    clippy::arithmetic_side_effects
)]

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::PathBuf;

use chrono::NaiveDate;
use probity_generate::{generate, Config, Stats, Violation, POLICY};

fn policies() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../policies/cn")
}

fn config(seed: u64) -> Config {
    Config { rms: 100, days: 340, seed, violation_rate: 0.05, start: NaiveDate::from_ymd_opt(2025, 11, 3).unwrap() }
}

fn run(config: &Config) -> (Vec<u8>, Vec<u8>, Stats) {
    let mut events = Vec::new();
    let mut labels = Vec::new();
    let stats = generate(config, &mut events, Some(&mut labels)).unwrap();
    (events, labels, stats)
}

#[test]
fn injected_violations_trigger_their_rules_and_nothing_else_does() {
    let (events, labels, stats) = run(&config(7));
    let lines = events.split(|b| *b == b'\n').filter(|l| !l.is_empty()).count();
    assert!((15_000..30_000).contains(&lines), "{lines} events");
    assert_eq!(stats.events as usize, lines);

    // The labels: id → kind.
    let mut injected: HashMap<String, Violation> = HashMap::new();
    for line in String::from_utf8(labels).unwrap().lines() {
        let v: serde_json::Value = serde_json::from_str(line).unwrap();
        let kind = Violation::from_name(v["kind"].as_str().unwrap()).unwrap();
        assert_eq!(v["rule"], kind.rule());
        assert_eq!(v["policy"], POLICY);
        assert!(injected.insert(v["id"].as_str().unwrap().to_string(), kind).is_none(), "{line}");
    }
    assert_eq!(injected.len() as u64, stats.total_injected());

    // Replay through the engine, advancing past every deadline at the end.
    let engine = probity::Engine::new(probity::PolicySet::from_dir(policies()).unwrap());
    let as_of = chrono::DateTime::parse_from_rfc3339("2027-06-01T00:00:00+08:00").unwrap();
    let mut records = Vec::new();
    let summary = probity::replay::replay(&engine, &events[..], &mut records, Some(as_of), 1, |_| {}).unwrap();
    assert_eq!(summary.errors, 0, "every generated line is a valid action");
    assert_eq!(summary.events as usize, lines);

    // Which rules fired on which action (overdue findings count for the obligation's action).
    let mut fired: HashMap<String, BTreeSet<String>> = HashMap::new();
    let mut per_rule: BTreeMap<String, u64> = BTreeMap::new();
    let mut types: HashMap<String, String> = HashMap::new();
    for line in String::from_utf8(events).unwrap().lines() {
        let v: serde_json::Value = serde_json::from_str(line).unwrap();
        types.insert(v["id"].as_str().unwrap().to_string(), v["type"].as_str().unwrap().to_string());
    }
    for line in String::from_utf8(records).unwrap().lines() {
        let v: serde_json::Value = serde_json::from_str(line).unwrap();
        let (action, findings) = if let Some(d) = v.get("decision") {
            (d["action"].as_str().unwrap().to_string(), d["findings"].as_array().unwrap().clone())
        } else if let Some(o) = v.get("overdue") {
            // A periodic report has no action: every generated RM trains 48 hours a year and books
            // its mandatory leave between February and September, so the 2026 checks of
            // annual_training and mandatory_leave (run by the advance to `as_of`) pass for all.
            let action = o["obligation"]["action"].as_str();
            let action = action.unwrap_or_else(|| panic!("a periodic check failed: {line}"));
            (action.to_string(), o["findings"].as_array().unwrap().clone())
        } else {
            panic!("unexpected record {line}");
        };
        for f in findings {
            assert_ne!(f["kind"], "error", "{line}");
            if f["policy"] == POLICY {
                let rule = f["rule"].as_str().unwrap().to_string();
                *per_rule.entry(rule.clone()).or_default() += 1;
                fired.entry(action.clone()).or_default().insert(rule);
            }
        }
    }

    let mut report = String::new();
    let mut failures = Vec::new();
    for &kind in Violation::ALL {
        let ids: Vec<&String> = injected.iter().filter(|(_, k)| **k == kind).map(|(id, _)| id).collect();
        let count = ids.len() as u64;
        assert_eq!(count, stats.injected(kind));
        let missing: Vec<&&String> =
            ids.iter().filter(|id| !fired.get(id.as_str()).is_some_and(|r| r.contains(kind.rule()))).collect();
        let findings = per_rule.get(kind.rule()).copied().unwrap_or(0);
        // Kinds that share a rule (two ways to miss the cooling-off call-back) share its findings.
        let same_rule: Vec<&String> =
            injected.iter().filter(|(_, k)| k.rule() == kind.rule()).map(|(id, _)| id).collect();
        let rule_count = same_rule.len() as u64;
        report.push_str(&format!("{:32} {:32} injected {count:4} findings {findings:4}\n", kind.name(), kind.rule()));
        for id in &ids {
            assert_eq!(types[id.as_str()], kind.action(), "{} is labelled {}", id, kind.name());
        }
        if count == 0 {
            failures.push(format!("{}: never injected", kind.name()));
        }
        if !missing.is_empty() {
            failures.push(format!(
                "{}: {} injected actions without a {} finding: {missing:?}",
                kind.name(),
                missing.len(),
                kind.rule()
            ));
        }
        // Findings elsewhere: a tolerance of 2 % (at least 1) for coincidences of the background.
        let tolerance = (rule_count / 50).max(1);
        if findings > rule_count + tolerance {
            let extra: Vec<&String> = fired
                .iter()
                .filter(|(id, rules)| rules.contains(kind.rule()) && !same_rule.contains(id))
                .map(|(id, _)| id)
                .take(5)
                .collect();
            failures.push(format!(
                "{}: {findings} findings of {} for {rule_count} injected, e.g. {extra:?}",
                kind.name(),
                kind.rule()
            ));
        }
    }
    assert!(failures.is_empty(), "{}\n{report}", failures.join("\n"));
    eprintln!("{report}");
}

#[test]
fn the_same_arguments_give_the_same_bytes() {
    let small = Config { rms: 20, days: 60, ..config(42) };
    let (a, la, sa) = run(&small);
    let (b, lb, sb) = run(&small);
    assert!(!a.is_empty());
    assert_eq!(a, b);
    assert_eq!(la, lb);
    assert_eq!(sa, sb);
    let (c, _, _) = run(&Config { seed: 43, ..small.clone() });
    assert_ne!(a, c, "another seed gives another stream");
}

#[test]
fn events_are_in_time_order_with_increasing_ids() {
    let (events, _, _) = run(&Config { rms: 30, days: 90, ..config(1) });
    let mut last = None;
    let mut last_number: HashMap<String, u64> = HashMap::new();
    for line in String::from_utf8(events).unwrap().lines() {
        let v: serde_json::Value = serde_json::from_str(line).unwrap();
        let at = chrono::DateTime::parse_from_rfc3339(v["at"].as_str().unwrap()).unwrap();
        assert!(last.is_none_or(|l| l <= at), "{line}");
        last = Some(at);
        let id = v["id"].as_str().unwrap();
        let (prefix, number) = id.split_once('-').unwrap();
        let number: u64 = number.parse().unwrap();
        let previous = last_number.insert(prefix.to_string(), number).unwrap_or(0);
        assert_eq!(number, previous + 1, "{id}");
        for field in ["branch", "grade", "qualifications", "related_parties"] {
            assert!(v["rm"].get(field).is_some(), "{line}");
        }
    }
}

#[test]
fn out_of_range_arguments_are_refused() {
    for bad in [
        Config { rms: 0, ..config(1) },
        Config { days: 0, ..config(1) },
        Config { violation_rate: 1.5, ..config(1) },
        Config { violation_rate: f64::NAN, ..config(1) },
    ] {
        assert!(generate(&bad, std::io::sink(), None).is_err());
    }
}

/// The signals are those a core banking or CRM system records, not a confession: an assessment
/// carries its channel, login and device, a call its agent. The background holds what a careless
/// rule would flag (assessments keyed in by the RM at the branch terminal, call-backs by the call
/// centre), and none of it fires the rules those careless readings would mimic.
#[test]
fn the_background_looks_like_what_a_careless_rule_would_flag_and_is_clean() {
    let config = Config {
        rms: 40,
        days: 120,
        seed: 11,
        violation_rate: 0.05,
        start: NaiveDate::from_ymd_opt(2026, 2, 2).unwrap(),
    };
    let (events, labels, _) = run(&config);
    let labelled: BTreeSet<String> = String::from_utf8(labels)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap()["id"].as_str().unwrap().to_string())
        .collect();
    let engine = probity::Engine::new(probity::PolicySet::from_dir(policies()).unwrap());
    let mut records = Vec::new();
    probity::replay::replay(&engine, &events[..], &mut records, None, 1, |_| {}).unwrap();
    let mut proxy_fired = BTreeSet::new();
    for line in String::from_utf8(records).unwrap().lines() {
        let v: serde_json::Value = serde_json::from_str(line).unwrap();
        if let Some(d) = v.get("decision") {
            if d["findings"].as_array().unwrap().iter().any(|f| f["rule"] == "proxy_assessment") {
                proxy_fired.insert(d["action"].as_str().unwrap().to_string());
            }
        }
    }
    let (mut keyed_by_rm, mut centre_callbacks) = (0, 0);
    for line in String::from_utf8(events).unwrap().lines() {
        let v: serde_json::Value = serde_json::from_str(line).unwrap();
        assert!(v.get("completed_by").is_none(), "a confessed field: {line}");
        let id = v["id"].as_str().unwrap();
        match v["type"].as_str().unwrap() {
            "risk_assessment" => {
                assert!(v["device_id"].is_string() && v["operator_id"].is_string(), "{line}");
                if v["channel"] == "branch" && v["operator_id"] == v["rm"]["id"] {
                    keyed_by_rm += 1;
                    assert!(!proxy_fired.contains(id), "a branch assessment keyed in by the RM is flagged: {line}");
                }
            }
            "customer_call" if v["purpose"] == "cooling_off_callback" && v["agent_id"] != v["rm"]["id"] => {
                centre_callbacks += 1;
            }
            _ => {}
        }
    }
    assert!(keyed_by_rm >= 50, "{keyed_by_rm} assisted branch assessments");
    assert!(centre_callbacks >= 10, "{centre_callbacks} call-centre call-backs");
    // Every proxy finding is an injected one: precision 1 for this rule on this stream.
    assert!(proxy_fired.iter().all(|id| labelled.contains(id)), "{proxy_fired:?}");
    assert!(!proxy_fired.is_empty());
}
