//! `probity replay --report`: the CLI writes the report after the summary and says where; the
//! report's content is `probity-report`'s (its tests pin the figures).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    clippy::arithmetic_side_effects
)]

use std::path::PathBuf;
use std::process::Command;

use chrono::NaiveDate;
use probity_generate::{generate, Config};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
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

#[test]
fn probity_replay_writes_the_report_and_says_where() {
    let dir = std::env::temp_dir().join(format!("probity-report-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let events_path = dir.join("events.jsonl");
    std::fs::write(&events_path, events()).unwrap();
    let report = dir.join("report.html");
    let records = dir.join("records.jsonl");
    let run = |extra: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_probity"))
            .args(["replay", "--policies"])
            .arg(root().join("policies/cn"))
            .arg(&events_path)
            .arg("--out")
            .arg(&records)
            .args(extra)
            .output()
            .unwrap()
    };
    let out = run(&["--report", report.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    let stderr = String::from_utf8(out.stderr).unwrap();
    let last = stderr.lines().last().unwrap();
    assert_eq!(last, format!("report: {}", report.display()), "the path comes after the summary");
    assert!(stderr.find("events").unwrap() < stderr.find("report: ").unwrap());
    let html = std::fs::read_to_string(&report).unwrap();
    assert!(html.contains("Replay report"));
    let policies = root().join("policies/cn").display().to_string();
    assert!(html.contains(&format!("<code>{}</code>", probity_report::escape(&policies))));
    // The records are those of a replay without a report.
    let with_report = std::fs::read(&records).unwrap();
    let out = run(&[]);
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(std::fs::read(&records).unwrap(), with_report);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn labels_add_precision_and_recall_to_the_report() {
    let dir = std::env::temp_dir().join(format!("probity-report-labels-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let config = Config {
        rms: 12,
        days: 75,
        seed: 11,
        violation_rate: 0.15,
        start: NaiveDate::from_ymd_opt(2026, 2, 2).unwrap(),
    };
    let (mut events, mut labels) = (Vec::new(), Vec::new());
    generate(&config, &mut events, Some(&mut labels)).unwrap();
    std::fs::write(dir.join("events.jsonl"), events).unwrap();
    std::fs::write(dir.join("labels.jsonl"), labels).unwrap();
    let run = |extra: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_probity"))
            .current_dir(&dir)
            .args(["replay", "--policies"])
            .arg(root().join("policies/cn"))
            .args(["events.jsonl", "--out", "records.jsonl"])
            .args(extra)
            .output()
            .unwrap()
    };
    let out = run(&["--report", "report.html", "--labels", "labels.jsonl"]);
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    let html = std::fs::read_to_string(dir.join("report.html")).unwrap();
    assert!(html.contains("Precision and recall against the labels"));
    assert!(html.contains("<code>suitability_wealth</code>"));
    // Labels need a report, and a missing file is named.
    let out = run(&["--labels", "labels.jsonl"]);
    assert_eq!(out.status.code(), Some(2));
    let out = run(&["--report", "report.html", "--labels", "missing.jsonl"]);
    assert_ne!(out.status.code(), Some(0));
    assert!(String::from_utf8_lossy(&out.stderr).contains("missing.jsonl"));
    std::fs::remove_dir_all(&dir).unwrap();
}
