//! The HTML report of a small replay: its headings, its counts against the replay's records,
//! the same page whatever the threads, and what it takes from typed records.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    clippy::arithmetic_side_effects
)]

use probity::replay::Options;
use std::path::PathBuf;

use chrono::NaiveDate;
use probity::replay::{Record, Summary};
use probity::{Action, Decision, Engine};
use probity_generate::{generate, Config};
use probity_report::{branch_from_rm_id, reindent, Collector, Meta, TOP_RMS};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn engine() -> Engine {
    Engine::new(probity::PolicySet::from_dir(root().join("policies/cn")).unwrap())
}

fn events() -> Vec<u8> {
    let config = Config {
        rms: 12,
        days: 75,
        seed: 11,
        violation_rate: 0.15,
        start: NaiveDate::from_ymd_opt(2026, 2, 2).unwrap(),
    };
    let mut out = Vec::new();
    generate(&config, &mut out, None).unwrap();
    out
}

/// Replays `input` with a report; returns the HTML, the records and the summary.
fn replay(engine: &Engine, input: &[u8], jobs: usize, with_engine: bool) -> (String, Vec<u8>, Summary) {
    let mut collector = Collector::new(with_engine.then_some(engine));
    let mut records = Vec::new();
    let summary = probity_report::replay(
        engine,
        &mut collector,
        input,
        &mut records,
        &Options { jobs, ..Options::default() },
        |_| {},
    )
    .unwrap();
    let meta = Meta { policies: "policies/cn".into(), events: "events.jsonl".into(), as_of: None };
    (collector.render(&meta, Some(&summary)).unwrap(), records, summary)
}

fn between<'a>(html: &'a str, start: &str, end: &str) -> &'a str {
    let from = html.find(start).unwrap_or_else(|| panic!("no {start}")) + start.len();
    let len = html[from..].find(end).unwrap();
    &html[from..from + len]
}

fn fmt(n: u64) -> String {
    let s = n.to_string();
    let mut out = String::new();
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

#[test]
fn the_report_of_a_replay_has_its_headings_and_counts() {
    let engine = engine();
    let input = events();
    let (html, records, summary) = replay(&engine, &input, 1, true);

    assert!(html.starts_with("<!doctype html>"));
    assert!(html.contains("<html lang=\"en\">"));
    assert!(html.contains("<h1>Replay report</h1>"));
    for heading in [
        "Summary",
        "Breaches per rule",
        "Breaches per policy",
        "Breaches over time",
        "Breaches by branch",
        "RMs by sanction step",
        "Overdue duties",
        "RMs closest to the next sanction step",
        "How this report is computed",
    ] {
        assert!(html.contains(&format!("\">{heading}</h2>")), "missing heading {heading}");
    }
    // Self-contained: no scripts, stylesheets, images or fonts from anywhere.
    for needle in ["<script", "<link", "<img", "http://", "https://", "@import", "url("] {
        assert!(!html.contains(needle), "the report contains {needle}");
    }
    // The stylesheet is the crate's, whole.
    assert!(html.contains(include_str!("../templates/report.css")));

    // The counts, from the records.
    let mut decisions = 0u64;
    let mut denied = 0u64;
    let mut breaches = 0u64;
    let mut overdue = 0u64;
    for line in String::from_utf8(records).unwrap().lines() {
        let v: serde_json::Value = serde_json::from_str(line).unwrap();
        let body = if let Some(d) = v.get("decision") {
            decisions += 1;
            if d["verdict"] == "deny" {
                denied += 1;
            }
            d
        } else {
            overdue += 1;
            &v["overdue"]
        };
        breaches += body["findings"].as_array().unwrap().iter().filter(|f| f.get("severity").is_some()).count() as u64;
    }
    let lines = input.split(|b| *b == b'\n').filter(|l| !l.is_empty()).count() as u64;
    assert_eq!(decisions, lines);
    assert_eq!(summary.events, lines);
    assert!(breaches > 20 && denied > 10 && overdue > 0, "{breaches} {denied} {overdue}");
    assert!(html.contains(&format!("<p class=\"value\" data-value=\"{lines}\">{}</p>", fmt(lines))));
    assert_eq!(between(&html, "id=\"verdict-deny\">", "<"), fmt(denied));
    assert_eq!(
        between(&html, "id=\"card-breaches\"><p class=\"label\">Breaches</p><p class=\"value\" data-value=\"", "\""),
        breaches.to_string()
    );
    // The chart over time adds up to the breaches.
    let chart = between(&html, "<svg class=\"chart\" id=\"chart-time\"", "</svg>");
    let bars: u64 =
        chart.split("data-total=\"").skip(1).map(|s| s[..s.find('"').unwrap()].parse::<u64>().unwrap()).sum();
    assert_eq!(bars, breaches);
    assert!(chart.contains("role=\"img\"") && chart.contains("<title id=\"chart-time-title\">"));
    // The branch chart names the generator's branches.
    let branches = between(&html, "<svg class=\"chart\" id=\"chart-branch\"", "</svg>");
    assert!(branches.contains("<rect"), "{branches}");
    assert!(["SH-", "BJ-", "SZ-", "HZ-", "NJ-", "CD-"].iter().any(|b| branches.contains(b)));
    // Ladder thresholds were read from the policies.
    assert!(html.contains("were read from the policies through the engine"));
    assert!(html.contains("coaching (谈话提醒)"));

    // Every RM in the closest table links to an anchor with its breach records.
    let table = between(&html, "<table id=\"closest-table\">", "</table>");
    let links: Vec<&str> = table.split("<a href=\"#").skip(1).map(|s| &s[..s.find('"').unwrap()]).collect();
    assert!(!links.is_empty());
    assert!(links.len() <= TOP_RMS);
    for anchor in &links {
        let article = between(&html, &format!("<article class=\"rm\" id=\"{anchor}\""), "</article>");
        assert!(article.contains("<details>") && article.contains("&quot;findings&quot;"), "{article}");
    }
}

#[test]
fn the_report_does_not_depend_on_the_threads() {
    let engine = engine();
    let input = events();
    let (one, records_one, _) = replay(&engine, &input, 1, true);
    let (two, records_two, _) = replay(&engine, &input, 2, true);
    assert_eq!(records_one, records_two);
    assert_eq!(one, two);
}

#[test]
fn a_replay_with_a_report_writes_the_records_of_a_plain_replay() {
    let engine = engine();
    let input = events();
    let as_of = Some(probity::parse_timestamp("2026-06-30T00:00:00+08:00").unwrap());
    let mut plain = Vec::new();
    let plain_summary = probity::replay::replay(&engine, &input[..], &mut plain, as_of, 2, |_| {}).unwrap();
    let mut collector = Collector::new(Some(&engine));
    let mut reported = Vec::new();
    let summary = probity_report::replay(
        &engine,
        &mut collector,
        &input[..],
        &mut reported,
        &Options { as_of, jobs: 2, ..Options::default() },
        |_| {},
    )
    .unwrap();
    assert!(!plain.is_empty());
    assert_eq!(plain, reported, "the JSON lines are the same bytes");
    assert_eq!(plain_summary.table(), summary.table());
}

#[test]
fn records_fed_one_by_one_give_the_streamed_report() {
    let engine = engine();
    let input = events();
    let (streamed, _, summary) = replay(&engine, &input, 2, true);
    let mut collector = Collector::new(Some(&engine));
    // The same records through `Collector::record`, on one thread.
    let mut ledger = engine.ledger();
    for (n, line) in input.split(|b| *b == b'\n').filter(|l| !l.is_empty()).enumerate() {
        let action = Action::from_json(std::str::from_utf8(line).unwrap()).unwrap();
        let submission = ledger.submit(&action).unwrap();
        for report in &submission.overdue {
            collector.record(&Record::Overdue { line: Some(n + 1), report });
        }
        let decision = &submission.decision;
        collector.record(&Record::Decision { line: n + 1, rm: action.rm(), action: &action, decision, json: None });
    }
    let meta = Meta { policies: "policies/cn".into(), events: "events.jsonl".into(), as_of: None };
    assert_eq!(collector.render(&meta, Some(&summary)).unwrap(), streamed);
}

#[test]
fn without_an_engine_the_report_uses_the_sanctions_seen() {
    let engine = engine();
    let (html, _, _) = replay(&engine, &events(), 1, false);
    assert!(html.contains("could not all be read from the policies"));
    assert!(html.contains("RMs closest to the next sanction step"));
}

fn action(json: &str) -> Action {
    Action::from_json(json).unwrap()
}

fn breach_decision(id: &str) -> Decision {
    serde_json::from_str(&format!(
        "{{\"action\":\"{id}\",\"at\":\"2026-03-02T10:00:00+08:00\",\"verdict\":\"deny\",\"policies\":[],\
         \"findings\":[{{\"policy\":\"p\",\"rule\":\"r\",\"kind\":\"rule\",\"outcomes\":[\"deny\",\"breach\"],\"severity\":\"major\",\
         \"ladder\":\"conduct\",\"message\":\"m\",\"cite\":[],\"evidence\":{{}}}}],\"obligations\":[],\"fulfilled\":[],\"escalations\":[],\"sanctions\":[]}}"
    ))
    .unwrap()
}

#[test]
fn branches_come_from_the_action_or_the_rm_id() {
    let mut c = Collector::new(None);
    let with_branch = action(
        r#"{"type":"x","id":"A1","at":"2026-03-02T10:00:00+08:00","rm":{"id":"RM-SH-0001","branch":"SH-Xuhui"}}"#,
    );
    let without = action(r#"{"type":"x","id":"A2","at":"2026-03-02T10:00:00+08:00","rm":{"id":"RM-BJ-0002"}}"#);
    // A branch that is not text is no branch (the RM keeps its own id, not an unknown one).
    let numbered =
        action(r#"{"type":"x","id":"A3","at":"2026-03-02T10:00:00+08:00","rm":{"id":"RM-GZ-0003","branch":7}}"#);
    for (n, a) in [&with_branch, &without, &numbered].into_iter().enumerate() {
        let d = breach_decision(a.id());
        c.record(&Record::Decision { line: n + 1, rm: a.rm(), action: a, decision: &d, json: None });
    }
    c.record(&Record::Error { line: 4, rm: None, message: "the line is not JSON" });
    let html = c.render(&Meta::default(), None).unwrap();
    assert!(html.contains(">SH-Xuhui<"), "the branch of the action");
    assert!(html.contains(">RM-BJ<"), "the rm id's prefix");
    assert!(html.contains(">RM-GZ<"), "a branch that is not text");
    assert!(!html.contains("unknown RM"));
    assert!(html.contains("line 4: the line is not JSON"));
    assert!(html.contains("<p>1 input lines could not be used."));
    assert_eq!(branch_from_rm_id("RM-SZ-0012"), "RM-SZ");
    assert_eq!(branch_from_rm_id("R1"), "R1");
}

#[test]
fn text_is_escaped_and_json_keeps_its_order() {
    let mut c = Collector::new(None);
    let a = action(r#"{"type":"x","id":"<b>","at":"2026-03-02T10:00:00+08:00","rm":{"id":"R<1>","branch":"A&B"}}"#);
    let d: Decision = serde_json::from_str(
        r#"{"action":"<b>","at":"2026-03-02T10:00:00+08:00","verdict":"review","policies":[],"findings":[{"policy":"p","rule":"r","kind":"rule","outcomes":["review","breach"],"severity":"minor","ladder":"l","message":"<script>","cite":[],"evidence":{}}],"obligations":[],"fulfilled":[],"escalations":[],"sanctions":[{"policy":"p","ladder":"l","points":3,"step":"warning","previous":null}]}"#,
    )
    .unwrap();
    c.record(&Record::Decision { line: 1, rm: a.rm(), action: &a, decision: &d, json: None });
    let html = c.render(&Meta { policies: "p'\"".into(), ..Meta::default() }, None).unwrap();
    assert!(!html.contains("<script>") && !html.contains("<b>"));
    assert!(html.contains("A&amp;B") && html.contains("R&lt;1&gt;"));
    assert!(html.contains("<code>p&#39;&quot;</code>"), "quotes are escaped as before");
    // The breach record is kept as an example, laid out over lines.
    assert!(html.contains("&quot;decision&quot;: {\n"), "{html}");
    assert_eq!(
        reindent(r#"{"b":1,"a":[],"c":{"d":"x,y"}}"#),
        "{\n  \"b\": 1,\n  \"a\": [],\n  \"c\": {\n    \"d\": \"x,y\"\n  }\n}"
    );
}

#[test]
fn a_digester_reads_the_branch_of_an_rms_first_action_only() {
    let first =
        action(r#"{"type":"x","id":"A1","at":"2026-03-02T10:00:00+08:00","rm":{"id":"RM-SH-1","branch":"SH-Xuhui"}}"#);
    let moved = action(
        r#"{"type":"x","id":"A2","at":"2026-03-03T10:00:00+08:00","rm":{"id":"RM-SH-1","branch":"BJ-Dongcheng"}}"#,
    );
    let render = |items: Vec<probity_report::Item>| {
        let mut c = Collector::new(None);
        items.into_iter().for_each(|item| c.add(item));
        c.render(&Meta::default(), None).unwrap()
    };
    let (d1, d2) = (breach_decision("A1"), breach_decision("A2"));
    let records = [
        Record::Decision { line: 1, rm: first.rm(), action: &first, decision: &d1, json: None },
        Record::Decision { line: 2, rm: moved.rm(), action: &moved, decision: &d2, json: None },
    ];
    let digester = probity_report::Digester::default();
    let digested = render(records.iter().map(|r| digester.item(r)).collect());
    assert!(digested.contains(">SH-Xuhui<") && !digested.contains("BJ-Dongcheng"));
    assert_eq!(digested, render(records.iter().map(probity_report::Item::new).collect()));
}

#[test]
fn restricted_actions_are_counted_in_a_card_and_in_the_replay_summary() {
    let src = "policy p version \"1\" effective 2026-01-01 timezone \"UTC\"\naction bad { }\naction sale { }\n\
               rule r cite \"c\" on bad then breach minor\nladder l window 30 days points minor 1\n  \
               step 1 \"suspension\" restricts sale for 10 days\n";
    let engine = Engine::new(probity::PolicySet::from_sources([("p.probity", src)]).unwrap());
    let line = |ty: &str, id: &str, rm: &str, day: u32| {
        format!(
            "{{\"type\":\"{ty}\",\"id\":\"{id}\",\"at\":\"2026-03-{day:02}T10:00:00Z\",\"rm\":{{\"id\":\"{rm}\"}}}}\n"
        )
    };
    let input = [
        line("bad", "B-1", "R1", 1),
        line("sale", "S-1", "R1", 2),
        line("sale", "S-3", "R2", 2),
        // Reached on 1 March 10:00: restricted until 11 March 10:00, exclusive.
        line("sale", "S-2", "R1", 10),
        line("sale", "S-4", "R1", 11),
    ]
    .concat();
    let (html, _, summary) = replay(&engine, input.as_bytes(), 1, true);
    assert_eq!(summary.restricted_actions, 2);
    assert_eq!(summary.restricted.get("p/l → suspension"), Some(&2));
    assert!(summary.table().contains("restricted actions"), "{}", summary.table());
    let card = between(&html, "id=\"card-restricted\">", "</div>");
    assert!(card.contains("data-value=\"2\""), "{card}");
    assert!(card.contains("by 1 RM"), "{card}");
}

#[test]
fn a_periodic_duty_report_names_its_period() {
    let mut c = Collector::new(None);
    let report: probity::OverdueReport = serde_json::from_str(
        r#"{"rm":"R1","at":"2026-03-01T00:00:00+08:00","obligation":{"policy":"ops","duty":"monthly_review","period":{"from":"2026-02-01","until":"2026-03-01"},"due":"2026-03-01T00:00:00+08:00"},"findings":[{"policy":"ops","rule":"monthly_review","kind":"overdue","outcomes":["breach"],"severity":"minor","ladder":"conduct","message":"m","cite":[],"evidence":{}}],"escalations":[],"sanctions":[{"policy":"ops","ladder":"conduct","points":1,"step":"warning","previous":null}]}"#,
    )
    .unwrap();
    c.record(&Record::Overdue { line: Some(1), report: &report });
    let html = c.render(&Meta::default(), None).unwrap();
    // The overdue table gives the latest period; the RM's breach records name it too.
    assert!(html.contains("<td>2026-02-01 to 2026-03-01</td>"), "{html}");
    assert!(html.contains("<code>period 2026-02-01 to 2026-03-01</code>"), "{html}");
    assert!(html.contains("<code>monthly_review</code>"));
}

/// With the generator's labels, the report scores every labelled rule: each injected violation
/// is found (recall 100 %), and the few findings elsewhere are false positives that lower the
/// precision, counted exactly against the records.
#[test]
fn labels_give_precision_and_recall_per_rule() {
    let config = Config {
        rms: 30,
        days: 120,
        seed: 5,
        violation_rate: 0.08,
        start: NaiveDate::from_ymd_opt(2026, 2, 2).unwrap(),
    };
    let (mut events, mut labels) = (Vec::new(), Vec::new());
    generate(&config, &mut events, Some(&mut labels)).unwrap();
    let labels_text = String::from_utf8(labels).unwrap();
    let parsed = probity_report::Labels::parse(&labels_text).unwrap();
    assert_eq!(parsed.len(), labels_text.lines().count());
    let engine = engine();
    let mut collector = Collector::new(Some(&engine)).with_labels(parsed);
    let mut records = Vec::new();
    let as_of = chrono::DateTime::parse_from_rfc3339("2026-12-01T00:00:00+08:00").unwrap();
    let options = Options { as_of: Some(as_of), ..Options::default() };
    let summary = probity_report::replay(&engine, &mut collector, &events[..], &mut records, &options, |_| {}).unwrap();
    let scores = collector.scores();
    assert!(scores.len() >= 20, "{} labelled rules", scores.len());
    // Count the findings per rule on labelled and other actions from the records themselves.
    let labelled: std::collections::HashSet<(String, String)> = labels_text
        .lines()
        .map(|l| {
            let v: serde_json::Value = serde_json::from_str(l).unwrap();
            (v["rule"].as_str().unwrap().to_string(), v["id"].as_str().unwrap().to_string())
        })
        .collect();
    for s in &scores {
        let (mut tp, mut fp) = (std::collections::HashSet::new(), 0u64);
        for line in String::from_utf8_lossy(&records).lines() {
            let v: serde_json::Value = serde_json::from_str(line).unwrap();
            let (action, findings) = match (v.get("decision"), v.get("overdue")) {
                (Some(d), _) => (d["action"].as_str().unwrap_or_default().to_string(), d["findings"].clone()),
                (_, Some(o)) => {
                    (o["obligation"]["action"].as_str().unwrap_or_default().to_string(), o["findings"].clone())
                }
                _ => continue,
            };
            let fires = findings
                .as_array()
                .unwrap()
                .iter()
                .any(|f| f["rule"] == s.rule.as_str() && f["kind"] != "error" && f["kind"] != "restriction");
            if fires && !action.is_empty() {
                if labelled.contains(&(s.rule.clone(), action.clone())) {
                    tp.insert(action);
                } else {
                    fp += 1;
                }
            }
        }
        assert_eq!(s.true_positives, tp.len() as u64, "{}", s.rule);
        assert_eq!(s.false_positives, fp, "{}", s.rule);
        assert_eq!(s.false_negatives, 0, "{}: every injected violation is found", s.rule);
        assert_eq!(s.recall_permille(), Some(1000), "{}", s.rule);
        assert!(s.precision_permille().unwrap() >= 900, "{}: {:?}", s.rule, s);
    }
    let meta = Meta { policies: "policies/cn".into(), events: "events.jsonl".into(), as_of: None };
    let html = collector.render(&meta, Some(&summary)).unwrap();
    let table = between(&html, "<table id=\"scores-table\">", "</table>");
    for s in &scores {
        assert!(table.contains(&format!("<code>{}</code>", s.rule)), "{}", s.rule);
    }
    assert!(table.contains("100.0 %"));
    // Without labels there is no such section.
    let (plain, _, _) = replay(&engine, &events[..200_000.min(events.len())], 1, true);
    assert!(!plain.contains("scores-table"));
}

#[test]
fn labels_are_read_strictly_and_ratios_are_exact() {
    let labels = probity_report::Labels::parse(
        "{\"id\":\"S-1\",\"rule\":\"r\",\"policy\":\"p\"}\n\n{\"id\":\"S-2\",\"rule\":\"r\",\"policy\":\"p\"}\n",
    )
    .unwrap();
    assert_eq!(labels.len(), 2);
    let e = probity_report::Labels::parse("{\"id\":\"S-1\",\"rule\":\"r\"}\n").unwrap_err();
    assert!(e.contains("line 1") && e.contains("policy"), "{e}");
    let e = probity_report::Labels::parse("{\"id\":\"S-1\",\"rule\":\"r\",\"policy\":\"p\"}\nnot json\n").unwrap_err();
    assert!(e.starts_with("labels line 2"), "{e}");
    assert!(probity_report::Labels::parse("").unwrap().is_empty());
    let score = probity_report::RuleScore {
        policy: "p".into(),
        rule: "r".into(),
        labelled: 3,
        true_positives: 2,
        false_positives: 1,
        false_negatives: 1,
    };
    assert_eq!(score.precision_permille(), Some(667));
    assert_eq!(score.recall_permille(), Some(667));
    assert_eq!(probity_report::percent(Some(667)), "66.7 %");
    assert_eq!(probity_report::percent(Some(1000)), "100.0 %");
    let none =
        probity_report::RuleScore { labelled: 0, true_positives: 0, false_positives: 0, false_negatives: 0, ..score };
    assert_eq!(none.precision_permille(), None);
    assert_eq!(probity_report::percent(none.recall_permille()), "—");
}

/// The background holds what a careless rule would flag: a proxy-assessment rule that reads
/// "the RM was the operator" flags the assisted branch assessments (false positives) and misses
/// the real proxies, sent from the RM's own device through the customer's login, and its
/// precision and recall say so.
#[test]
fn a_careless_rule_shows_in_its_precision_and_recall() {
    let tmp = tempfile_dir();
    let source = root().join("policies/cn");
    for entry in std::fs::read_dir(&source).unwrap() {
        let path = entry.unwrap().path();
        let target = tmp.join(path.file_name().unwrap());
        if path.is_dir() {
            std::fs::create_dir_all(&target).unwrap();
            for file in std::fs::read_dir(&path).unwrap() {
                let file = file.unwrap().path();
                std::fs::copy(&file, target.join(file.file_name().unwrap())).unwrap();
            }
        } else if path.extension().is_some_and(|e| e == "probity") {
            let text = std::fs::read_to_string(&path).unwrap();
            let careful = "when action.channel in [\"mobile\", \"online\"]\n    and rm.devices is present\n    and action.device_id in rm.devices\n";
            assert!(text.contains(careful), "{}", path.display());
            std::fs::write(&target, text.replace(careful, "when action.operator_id = rm.id\n")).unwrap();
        }
    }
    let config =
        Config { rms: 20, days: 90, seed: 3, violation_rate: 0.1, start: NaiveDate::from_ymd_opt(2026, 2, 2).unwrap() };
    let (mut events, mut labels) = (Vec::new(), Vec::new());
    generate(&config, &mut events, Some(&mut labels)).unwrap();
    let labels = probity_report::Labels::parse(&String::from_utf8(labels).unwrap()).unwrap();
    let careless = Engine::new(probity::PolicySet::from_dir(&tmp).unwrap());
    let mut collector = Collector::new(Some(&careless)).with_labels(labels);
    let mut records = Vec::new();
    probity_report::replay(&careless, &mut collector, &events[..], &mut records, &Options::default(), |_| {}).unwrap();
    let proxy = collector.scores().into_iter().find(|s| s.rule == "proxy_assessment").unwrap();
    assert!(proxy.labelled > 0);
    assert_eq!(proxy.true_positives, 0, "{proxy:?}");
    assert!(proxy.false_positives > 10 * proxy.labelled, "{proxy:?}");
    assert_eq!(proxy.precision_permille(), Some(0));
    assert_eq!(proxy.recall_permille(), Some(0));
    std::fs::remove_dir_all(&tmp).unwrap();
}

fn tempfile_dir() -> PathBuf {
    let dir = std::env::temp_dir().join(format!("probity-careless-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}
