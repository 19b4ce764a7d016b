//! `probity replay --report`: the HTML report of a small replay has its headings, and its counts
//! agree with the replay's records.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    clippy::arithmetic_side_effects
)]

use std::io::{BufRead, Write};
use std::path::PathBuf;
use std::process::Command;

use chrono::NaiveDate;
use probity::replay::Summary;
use probity::Engine;
use probity_generate::{generate, Config};
use probity_cli::report::{branch_from_rm_id, reindent, Collector, Meta, Tap};

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

/// Replays `input` with a report tap; returns the HTML, the records and the summary.
fn replay(engine: &Engine, input: &[u8], jobs: usize, with_engine: bool) -> (String, Vec<u8>, Summary) {
    let tap = Tap::new(with_engine.then_some(engine));
    let mut records = Vec::new();
    let summary = {
        let reader: Box<dyn BufRead + '_> = Box::new(input);
        let writer: Box<dyn Write + '_> = Box::new(&mut records);
        let mut writer = tap.output(writer);
        probity::replay::replay(engine, tap.input(reader), &mut writer, None, jobs, |_| {}).unwrap()
    };
    let meta = Meta { policies: "policies/cn".into(), events: "events.jsonl".into(), as_of: None };
    (tap.render(&meta, Some(&summary)), records, summary)
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
    assert!(links.len() <= probity_cli::report::TOP_RMS);
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
fn without_an_engine_the_report_uses_the_sanctions_seen() {
    let engine = engine();
    let (html, _, _) = replay(&engine, &events(), 1, false);
    assert!(html.contains("could not all be read from the policies"));
    assert!(html.contains("RMs closest to the next sanction step"));
}

#[test]
fn branches_come_from_the_events_or_the_rm_id() {
    let mut c = Collector::new(None);
    let decision = |id: &str| {
        format!(
            "{{\"decision\":{{\"action\":\"{id}\",\"at\":\"2026-03-02T10:00:00+08:00\",\"verdict\":\"deny\",\"policies\":[],\
             \"findings\":[{{\"policy\":\"p\",\"rule\":\"r\",\"kind\":\"rule\",\"outcomes\":[\"deny\",\"breach\"],\"severity\":\"major\",\
             \"ladder\":\"conduct\",\"message\":\"m\",\"cite\":[],\"evidence\":{{}}}}],\"obligations\":[],\"fulfilled\":[],\"escalations\":[],\"sanctions\":[]}}}}"
        )
    };
    c.input_line(
        br#"{"type":"x","id":"A1","at":"2026-03-02T10:00:00+08:00","rm":{"id":"RM-SH-0001","branch":"SH-Xuhui"}}"#,
    );
    c.input_line(b"   ");
    c.input_line(br#"{"type":"x","id":"A2","at":"2026-03-02T10:00:00+08:00","rm":{"id":"RM-BJ-0002"}}"#);
    c.input_line(b"not json");
    c.record_line(decision("A1").as_bytes());
    c.record_line(decision("A2").as_bytes());
    c.record_line(br#"{"error":{"line":4,"message":"the line is not JSON"}}"#);
    let html = c.render(&Meta::default(), None);
    assert!(html.contains(">SH-Xuhui<"), "the branch of the event");
    assert!(html.contains(">RM-BJ<"), "the rm id's prefix");
    assert!(html.contains("line 4: the line is not JSON"));
    assert!(!html.contains("could not be matched"));
    assert_eq!(branch_from_rm_id("RM-SZ-0012"), "RM-SZ");
    assert_eq!(branch_from_rm_id("R1"), "R1");
}

#[test]
fn text_is_escaped_and_json_keeps_its_order() {
    let mut c = Collector::new(None);
    c.input_line(br#"{"type":"x","id":"<b>","at":"2026-03-02T10:00:00+08:00","rm":{"id":"R<1>","branch":"A&B"}}"#);
    c.record_line(
        br#"{"decision":{"action":"<b>","at":"2026-03-02T10:00:00+08:00","verdict":"review","policies":[],"findings":[{"policy":"p","rule":"r","kind":"rule","outcomes":["review","breach"],"severity":"minor","ladder":"l","message":"<script>","cite":[],"evidence":{}}],"obligations":[],"fulfilled":[],"escalations":[],"sanctions":[{"policy":"p","ladder":"l","points":3,"step":"warning","previous":null}]}}"#,
    );
    let html = c.render(&Meta::default(), None);
    assert!(!html.contains("<script>") && !html.contains("<b>"));
    assert!(html.contains("A&amp;B") && html.contains("R&lt;1&gt;"));
    assert_eq!(
        reindent(r#"{"b":1,"a":[],"c":{"d":"x,y"}}"#),
        "{\n  \"b\": 1,\n  \"a\": [],\n  \"c\": {\n    \"d\": \"x,y\"\n  }\n}"
    );
}

#[test]
fn probity_replay_writes_the_report_and_says_where() {
    let dir = std::env::temp_dir().join(format!("probity-report-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let events_path = dir.join("events.jsonl");
    std::fs::write(&events_path, events()).unwrap();
    let report = dir.join("report.html");
    let out = Command::new(env!("CARGO_BIN_EXE_probity"))
        .args(["replay", "--policies"])
        .arg(root().join("policies/cn"))
        .arg(&events_path)
        .args(["--out", "/dev/null", "--report"])
        .arg(&report)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    let stderr = String::from_utf8(out.stderr).unwrap();
    let last = stderr.lines().last().unwrap();
    assert_eq!(last, format!("report: {}", report.display()), "the path comes after the summary");
    assert!(stderr.find("events").unwrap() < stderr.find("report: ").unwrap());
    let html = std::fs::read_to_string(&report).unwrap();
    assert!(html.contains("Replay report"));
    std::fs::remove_dir_all(&dir).unwrap();
}
