//! Every limit is an error value that a test reaches, and real policies stay well inside them.
#![allow(
    clippy::unwrap_used,
    clippy::indexing_slicing,
    clippy::panic,
    clippy::expect_used,
    clippy::arithmetic_side_effects
)]

use probity::{limits, Action, Engine, History, PolicySet};

#[test]
fn the_rule_limit_is_a_load_error() {
    let mut src = String::from("policy p version \"1\" effective 2026-01-01\naction a { n: int }\n");
    for i in 0..=limits::MAX_RULES {
        src.push_str(&format!("rule r{i} cite \"c\" on a when action.n = {i} then review\n"));
    }
    let mut files = vec![("big.probity".to_string(), src)];
    // Split across files so that no single file passes the source-size limit.
    if files[0].1.len() > limits::MAX_SOURCE_BYTES {
        let text = files.pop().unwrap().1;
        let (header, body) = text.split_at(text.find("rule").unwrap());
        let lines: Vec<&str> = body.lines().collect();
        for (n, chunk) in lines.chunks(4000).enumerate() {
            files.push((
                format!("big{n}.probity"),
                format!("{}{}\n", header.replace("policy p", &format!("policy p{n}")), chunk.join("\n")),
            ));
        }
    }
    let err = PolicySet::from_sources(files).unwrap_err();
    assert!(err.errors().any(|d| d.code() == "P0010"), "{err}");
}

#[test]
fn real_policies_are_far_inside_the_limits() {
    let root = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../policies");
    let set = PolicySet::from_dir(&root).unwrap();
    assert!(set.rule_count() * 10 < limits::MAX_RULES);
    for entry in walk(&root) {
        assert!(std::fs::metadata(&entry).unwrap().len() * 10 < limits::MAX_SOURCE_BYTES as u64, "{entry:?}");
    }
}

fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            out.extend(walk(&p));
        } else if p.extension().is_some_and(|x| x == "probity") {
            out.push(p);
        }
    }
    out
}

#[test]
fn the_history_limit_is_an_input_error() {
    let set = PolicySet::from_sources([("p.probity", "policy p version \"1\" effective 2026-01-01\naction a { }\n")])
        .unwrap();
    let engine = Engine::new(set);
    let breach = serde_json::json!({"policy": "p", "rule": "r", "severity": "minor", "at": "2026-01-01T00:00:00Z", "action": "x"});
    let history: History =
        serde_json::from_value(serde_json::json!({"breaches": vec![breach; limits::MAX_HISTORY_ITEMS + 1]})).unwrap();
    let action =
        Action::from_json(r#"{"type": "a", "id": "A", "at": "2026-03-01T00:00:00Z", "rm": {"id": "R"}}"#).unwrap();
    let err = engine.evaluate(&action, &history).unwrap_err().to_string();
    assert!(err.contains("more than the limit"), "{err}");
    assert!(engine.ledger().load(&history).is_err());
}

#[test]
fn the_evaluation_cost_limit_fails_closed() {
    // Each of n history items scans all n: n² steps, past the limit for n = 4,000.
    let set = PolicySet::from_sources([(
        "p.probity",
        "policy p version \"1\" effective 2026-01-01 on error deny\naction a { n: int }\n\
         rule quadratic cite \"c\" on a\n  when count(a where count(a where n = 1 within 1 year) > 0 within 1 year) > 0\n  then review\n",
    )])
    .unwrap();
    let engine = Engine::new(set);
    let actions: Vec<Action> = (0..4000)
        .map(|i| {
            let at =
                chrono::DateTime::parse_from_rfc3339("2026-01-01T00:00:00Z").unwrap() + chrono::Duration::minutes(i);
            Action::from_json(&format!(
                r#"{{"type": "a", "id": "H{i}", "at": "{}", "rm": {{"id": "R"}}, "n": 1}}"#,
                at.to_rfc3339()
            ))
            .unwrap()
        })
        .collect();
    let history = History { actions, ..History::new() };
    let action =
        Action::from_json(r#"{"type": "a", "id": "A", "at": "2026-03-01T00:00:00Z", "rm": {"id": "R"}, "n": 1}"#)
            .unwrap();
    let decision = engine.evaluate(&action, &history).unwrap();
    assert_eq!(decision.verdict, probity::Verdict::Deny);
    assert_eq!(decision.findings[0].kind, probity::FindingKind::Error);
    assert!(decision.findings[0].message.contains("evaluation cost limit"), "{}", decision.findings[0].message);
}
