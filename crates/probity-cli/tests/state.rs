//! `probity replay --state`: a replay split into runs, a part retried, and runs killed
//! (SIGKILL) at random moments give the records of one uninterrupted run, with SQLite and with
//! a PostgreSQL server the test starts; `probity state show` summarises a state.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    clippy::arithmetic_side_effects
)]

#[path = "../../probity-store/tests/support/pg.rs"]
#[allow(dead_code)]
mod pg;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn probity() -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_probity"));
    command.current_dir(root());
    command
}

/// A generated stream of `rms` RMs over `days` days, in `dir`.
fn events(dir: &Path, rms: u32, days: u32) -> PathBuf {
    let path = dir.join(format!("events-{rms}-{days}.jsonl"));
    let status = probity()
        .args(["generate", "--rms", &rms.to_string(), "--days", &days.to_string(), "--seed", "11", "--out"])
        .arg(&path)
        .stderr(Stdio::null())
        .status()
        .unwrap();
    assert!(status.success());
    path
}

/// `probity replay --state STATE EVENTS --out OUT` (and extra arguments); its records.
fn replay(state: &str, events: &Path, out: &Path, extra: &[&str]) -> String {
    let output = probity()
        .args(["replay", "--policies", "policies/cn", "--state", state])
        .args(extra)
        .arg(events)
        .arg("--out")
        .arg(out)
        .output()
        .unwrap();
    assert!(output.status.success(), "replay failed: {}", String::from_utf8_lossy(&output.stderr));
    std::fs::read_to_string(out).unwrap()
}

fn plain_replay(events: &Path, out: &Path) -> String {
    let status = probity()
        .args(["replay", "--policies", "policies/cn"])
        .arg(events)
        .arg("--out")
        .arg(out)
        .stderr(Stdio::null())
        .status()
        .unwrap();
    assert!(status.success());
    std::fs::read_to_string(out).unwrap()
}

fn decisions(records: &str) -> Vec<&str> {
    records.lines().filter(|l| l.starts_with("{\"decision\"")).collect()
}

/// The events split into three files of about equal lines.
fn split(dir: &Path, events: &Path) -> [PathBuf; 3] {
    let text = std::fs::read_to_string(events).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    let k = lines.len() / 3;
    let parts = [&lines[..k], &lines[k..2 * k], &lines[2 * k..]];
    let mut out = [PathBuf::new(), PathBuf::new(), PathBuf::new()];
    for (i, part) in parts.iter().enumerate() {
        out[i] = dir.join(format!("part{i}.jsonl"));
        std::fs::write(&out[i], part.iter().map(|l| format!("{l}\n")).collect::<String>()).unwrap();
    }
    out
}

/// Split into three runs with the middle one run twice: the one-run replay's bytes; the retry
/// gives the recorded decisions and reports nothing overdue.
fn split_replay_is_the_whole_replay(whole_state: &str, split_state: &str) {
    let dir = tempfile::tempdir().unwrap();
    let events = events(dir.path(), 150, 75);
    let whole = replay(whole_state, &events, &dir.path().join("whole"), &["--commit-every", "700"]);
    assert_eq!(whole, plain_replay(&events, &dir.path().join("plain")), "a state changes no record");
    assert!(whole.contains("{\"overdue\""), "the workload reports overdue obligations");
    let [p1, p2, p3] = split(dir.path(), &events);
    let o1 = replay(split_state, &p1, &dir.path().join("o1"), &[]);
    let o2 = replay(split_state, &p2, &dir.path().join("o2"), &["--commit-every", "300"]);
    let retried = replay(split_state, &p2, &dir.path().join("o2r"), &[]);
    let o3 = replay(split_state, &p3, &dir.path().join("o3"), &[]);
    assert_eq!(format!("{o1}{o2}{o3}"), whole);
    assert_eq!(decisions(&retried), decisions(&o2));
    assert!(!retried.contains("{\"overdue\""), "a retried part reports nothing overdue again");
    assert_eq!(snapshot(whole_state), snapshot(split_state), "the states are equal");
}

/// A state's whole content, as the core's snapshot JSON.
fn snapshot(location: &str) -> String {
    let set = probity::PolicySet::from_dir(root().join("policies/cn")).unwrap();
    let engine = probity::Engine::new(set);
    let mut store = probity_store::open(location).unwrap();
    let ledger = probity::DurableLedger::new(&engine, store.as_mut()).load().unwrap();
    ledger.snapshot().to_json()
}

#[test]
fn sqlite_split_and_retried_replay_is_the_whole_replay() {
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = (dir.path().join("a.db"), dir.path().join("b.db"));
    split_replay_is_the_whole_replay(a.to_str().unwrap(), b.to_str().unwrap());
}

#[test]
fn postgres_split_and_retried_replay_is_the_whole_replay() {
    if std::env::var_os("PROBITY_SKIP_POSTGRES").is_some() {
        return;
    }
    let server = pg::Server::start(false).unwrap_or_else(|e| panic!("{e}"));
    split_replay_is_the_whole_replay(&server.create_database(), &server.create_database());
}

/// Twenty runs SIGKILLed at pseudo-random moments, each resuming the state the last left, then
/// one run to the end: its decisions are an uninterrupted run's, and the states are equal.
#[test]
fn sqlite_replay_killed_twenty_times_resumes_to_the_same_records() {
    let dir = tempfile::tempdir().unwrap();
    let events = events(dir.path(), 200, 90);
    let plain = plain_replay(&events, &dir.path().join("plain"));
    let uninterrupted = dir.path().join("whole.db");
    replay(uninterrupted.to_str().unwrap(), &events, &dir.path().join("whole"), &["--commit-every", "400"]);
    let state = dir.path().join("killed.db");
    let state = state.to_str().unwrap();
    // A linear congruential sequence: moments from 50 ms to about 1.5 s after the start, the
    // same every run, later by half a second after each run that committed nothing (a loaded
    // machine may take longer than that to start and commit its first part).
    let mut seed: u64 = 0x2545_f491;
    let mut killed_with_progress = 0;
    let mut later = 0;
    for _ in 0..20 {
        seed = seed.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1_442_695_040_888_963_407);
        let millis = 50 + later + (seed >> 33) % 1500;
        let before = recorded(state);
        let mut child = probity()
            .args(["replay", "--policies", "policies/cn", "--commit-every", "400", "--state", state])
            .arg(&events)
            .arg("--out")
            .arg(dir.path().join("killed"))
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        std::thread::sleep(Duration::from_millis(millis));
        let _ = child.kill();
        let _ = child.wait();
        if recorded(state) > before {
            killed_with_progress += 1;
        } else {
            later += 500;
        }
    }
    assert!(killed_with_progress > 0, "no killed run committed anything: the test kills too early");
    let resumed = replay(state, &events, &dir.path().join("resumed"), &[]);
    assert_eq!(decisions(&resumed), decisions(&plain));
    assert_eq!(snapshot(state), snapshot(uninterrupted.to_str().unwrap()));
}

/// The decisions a state has recorded (0 for a state not created yet), from `state show`.
fn recorded(location: &str) -> usize {
    if !Path::new(location).exists() {
        return 0;
    }
    let output = probity().args(["state", "show", location]).output().unwrap();
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let text = String::from_utf8(output.stdout).unwrap();
    let line = text.lines().find(|l| l.starts_with("decisions recorded")).unwrap();
    line.split_whitespace().last().unwrap().parse().unwrap()
}

#[test]
fn state_show_summarises_a_state() {
    let dir = tempfile::tempdir().unwrap();
    let events = events(dir.path(), 40, 120);
    let state = dir.path().join("s.db");
    let state = state.to_str().unwrap();
    let records = replay(state, &events, &dir.path().join("out"), &[]);
    let show = |extra: &[&str]| {
        let output = probity().args(["state", "show", state]).args(extra).output().unwrap();
        assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
        String::from_utf8(output.stdout).unwrap()
    };
    let text = show(&[]);
    let value = |name: &str| -> String {
        let line = text.lines().find(|l| l.starts_with(name)).unwrap_or_else(|| panic!("no `{name}` in\n{text}"));
        line[name.len()..].trim().to_string()
    };
    assert_eq!(value("backend"), "sqlite");
    assert_eq!(value("RMs"), "40");
    assert_eq!(value("decisions recorded"), decisions(&records).len().to_string());
    assert!(value("restrictions in force").starts_with('-'), "unknown without the policies");
    assert!(text.contains("cn_wealth_sales 2026.1 sha256:"), "{text}");
    let with_policies = show(&["--policies", "policies/cn"]);
    let in_force = with_policies.lines().find(|l| l.starts_with("restrictions in force")).unwrap();
    assert!(in_force.split_whitespace().last().unwrap().parse::<usize>().is_ok(), "{in_force}");
}

#[test]
fn a_state_that_is_not_one_is_a_coded_error() {
    let dir = tempfile::tempdir().unwrap();
    let bogus = dir.path().join("bogus.db");
    let text = "not a database at all, but long enough to look like a file header....";
    std::fs::write(&bogus, text).unwrap();
    let events = events(dir.path(), 5, 3);
    let output =
        probity().args(["replay", "--policies", "policies/cn", "--state"]).arg(&bogus).arg(&events).output().unwrap();
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("[S0002]"), "{stderr}");
    assert!(stderr.contains("hint:"), "{stderr}");
    assert_eq!(std::fs::read_to_string(&bogus).unwrap(), text, "the file is left as it was");
}

#[test]
fn a_state_opened_with_policies_that_lack_its_version_is_s0008() {
    let dir = tempfile::tempdir().unwrap();
    let events = events(dir.path(), 100, 60);
    let state = dir.path().join("s.db");
    let state = state.to_str().unwrap();
    replay(state, &events, &dir.path().join("out"), &[]);
    // Only the 2025 version: the state's obligations and restrictions name 2026.1.
    let old = dir.path().join("old");
    std::fs::create_dir(&old).unwrap();
    std::fs::copy(root().join("policies/cn/wealth_sales_2025.probity"), old.join("wealth_sales_2025.probity")).unwrap();
    let output =
        probity().args(["replay", "--policies"]).arg(&old).args(["--state", state]).arg(&events).output().unwrap();
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("[S0008]") && stderr.contains("version `2026.1`"), "{stderr}");
    assert!(stderr.contains("later `effective`"), "{stderr}");
}
