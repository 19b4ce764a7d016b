//! The decision log: written by a replay, appended, and every kind of alteration found; `why`
//! re-derives a decision with history and reports one that differs.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic,
    clippy::arithmetic_side_effects
)]

use std::path::{Path, PathBuf};

use probity::replay::output;
use probity::{Engine, PolicySet};
use probity_audit::log::{self, LogError, GENESIS};
use probity_audit::{LogPolicies, LogTap, LogWriter};

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn cn() -> PolicySet {
    PolicySet::from_dir(repo().join("policies/cn")).unwrap()
}

/// Replays the first `lines` lines of the example events into the log at `path`.
fn replay_into(path: &Path, lines: usize) {
    let events = std::fs::read_to_string(repo().join("examples/events.jsonl")).unwrap();
    let input: String = events.lines().take(lines).map(|l| format!("{l}\n")).collect();
    let engine = Engine::new(cn());
    let policies = LogPolicies::new(engine.policy_set(), None);
    let mut writer = LogWriter::open_append(path).unwrap();
    let mut tap = LogTap::new(&mut writer, &policies, None::<&mut ()>);
    let options = probity::replay::Options { as_of: None, jobs: 2, max_skew: None, commit_every: None };
    let sink = output::Sink::Memory(Vec::new());
    output::run(&engine, input.as_bytes(), &options, sink, Some(&mut tap), output::Hooks::default()).unwrap();
    tap.finish().unwrap();
}

fn lines(path: &Path) -> Vec<String> {
    std::fs::read_to_string(path).unwrap().lines().map(str::to_string).collect()
}

fn write_lines(path: &Path, lines: &[String]) {
    std::fs::write(path, lines.iter().map(|l| format!("{l}\n")).collect::<String>()).unwrap();
}

struct Logged {
    dir: tempfile::TempDir,
}

impl Logged {
    fn new(events: usize) -> Logged {
        let dir = tempfile::tempdir().unwrap();
        replay_into(&dir.path().join("log"), events);
        Logged { dir }
    }

    fn log(&self) -> PathBuf {
        self.dir.path().join("log")
    }

    /// The log's lines changed by `f`, as `t.log`, and what verifying it finds.
    fn tampered(&self, f: impl FnOnce(&mut Vec<String>)) -> Result<log::Head, LogError> {
        let mut l = lines(&self.log());
        f(&mut l);
        let out = self.dir.path().join("t.log");
        write_lines(&out, &l);
        log::verify(&out)
    }
}

#[test]
fn a_replay_writes_one_chained_line_per_record() {
    let logged = Logged::new(1200);
    let all = lines(&logged.log());
    let head = log::verify(&logged.log()).unwrap();
    assert_eq!(head.lines, all.len() as u64);
    assert_eq!(head.seq, head.lines);
    // 1200 actions (none unusable) and the overdue reports among them.
    let decisions = all.iter().filter(|l| l.contains(",\"record\":{\"decision\":")).count();
    let overdue = all.iter().filter(|l| l.contains(",\"record\":{\"overdue\":")).count();
    assert_eq!(decisions, 1200);
    assert!(overdue > 0);
    assert_eq!(decisions + overdue, all.len());
    let first: serde_json::Value = serde_json::from_str(&all[0]).unwrap();
    assert_eq!(first["seq"], 1);
    assert_eq!(first["prev"], GENESIS);
    assert_eq!(first["policies"]["versions"].as_array().unwrap().len(), 3);
    assert!(all[0].starts_with("{\"seq\":1,\"prev\":\""), "{}", all[0]);
    // Each prev is the sha256 of the line before, and an overdue report has no action.
    use sha2::Digest;
    let second: serde_json::Value = serde_json::from_str(&all[1]).unwrap();
    assert_eq!(second["prev"], format!("{:x}", sha2::Sha256::digest(all[0].as_bytes())));
    let report = all.iter().find(|l| l.contains("\"record\":{\"overdue\":")).unwrap();
    assert!(report.contains(",\"action\":null,"), "{report}");
}

#[test]
fn a_second_run_continues_the_chain() {
    let logged = Logged::new(50);
    let first = log::verify(&logged.log()).unwrap();
    replay_into(&logged.log(), 50);
    let second = log::verify(&logged.log()).unwrap();
    assert_eq!(second.lines, first.lines * 2);
    let all = lines(&logged.log());
    let next: serde_json::Value = serde_json::from_str(&all[first.lines as usize]).unwrap();
    assert_eq!(next["prev"], first.hash.as_str());
    assert_eq!(next["seq"], first.seq + 1);
    // A log that does not verify is not continued.
    let mut l = all.clone();
    l.remove(3);
    write_lines(&logged.log(), &l);
    assert_eq!(LogWriter::open_append(&logged.log()).err().unwrap().code(), "L0004");
}

#[test]
fn an_edited_line_is_named() {
    let logged = Logged::new(200);
    let e = logged.tampered(|l| l[10] = l[10].replacen("\"allow\"", "\"deny\"", 1)).unwrap_err();
    assert!(matches!(e, LogError::Edited { line: 11, next: 12, .. }), "{e}");
    assert_eq!(e.code(), "L0003");
    // The last line edited: nothing after it records its hash, so only a head kept elsewhere shows it.
    let intact = log::verify(&logged.log()).unwrap();
    let edited = logged
        .tampered(|l| {
            let last = l.len() - 1;
            l[last] = l[last].replacen("\"allow\"", "\"deny\"", 1);
        })
        .unwrap();
    assert_eq!(edited.lines, intact.lines);
    assert_ne!(edited.hash, intact.hash);
}

#[test]
fn a_removed_line_is_found() {
    let logged = Logged::new(200);
    let e = logged.tampered(|l| drop(l.remove(20))).unwrap_err();
    assert!(matches!(e, LogError::Removed { line: 21, missing: 1, expected: 21, found: 22 }), "{e}");
    let e = logged.tampered(|l| drop(l.drain(5..8))).unwrap_err();
    assert!(matches!(e, LogError::Removed { line: 6, missing: 3, .. }), "{e}");
    // The first line removed.
    let e = logged.tampered(|l| drop(l.remove(0))).unwrap_err();
    assert!(matches!(e, LogError::Removed { line: 1, missing: 1, .. }), "{e}");
}

#[test]
fn an_inserted_line_is_found() {
    let logged = Logged::new(200);
    // A copy of a line.
    let e = logged.tampered(|l| l.insert(31, l[30].clone())).unwrap_err();
    assert!(matches!(e, LogError::Inserted { line: 32, expected: 32, found: 31 }), "{e}");
    assert_eq!(e.code(), "L0005");
    // A forged line with the right seq and prev: the line after it no longer chains.
    let e = logged
        .tampered(|l| {
            let mut forged: serde_json::Value = serde_json::from_str(&l[30]).unwrap();
            forged["seq"] = 32.into();
            use sha2::Digest;
            forged["prev"] = format!("{:x}", sha2::Sha256::digest(l[30].as_bytes())).into();
            l.insert(31, forged.to_string());
        })
        .unwrap_err();
    assert!(matches!(e, LogError::Inserted { line: 33, .. }), "{e}");
}

#[test]
fn swapped_lines_are_found() {
    let logged = Logged::new(200);
    let e = logged.tampered(|l| l.swap(40, 41)).unwrap_err();
    assert!(matches!(e, LogError::Swapped { line: 41, next: 42, first: 42, second: 41 }), "{e}");
    assert_eq!(e.code(), "L0006");
}

#[test]
fn a_cut_tail_verifies_but_changes_the_head() {
    let logged = Logged::new(200);
    let intact = log::verify(&logged.log()).unwrap();
    let cut = logged.tampered(|l| drop(l.pop())).unwrap();
    assert_eq!(cut.lines + 1, intact.lines);
    assert_ne!(cut.hash, intact.hash);
    // Cut inside a line: the file ends without its newline.
    let mut bytes = std::fs::read(logged.log()).unwrap();
    bytes.truncate(bytes.len() - 10);
    let path = logged.dir.path().join("short.log");
    std::fs::write(&path, bytes).unwrap();
    let e = log::verify(&path).unwrap_err();
    assert!(matches!(e, LogError::Truncated { line } if line == intact.lines), "{e}");
}

#[test]
fn what_is_not_a_log() {
    let logged = Logged::new(20);
    let e = logged.tampered(|l| l[3] = "{\"seq\":4}".into()).unwrap_err();
    assert!(matches!(e, LogError::NotALine { line: 4, .. }), "{e}");
    let e = logged.tampered(|l| l[0] = l[0].replacen(GENESIS, &"0".repeat(64), 1)).unwrap_err();
    assert!(matches!(e, LogError::NotALine { line: 1, .. }), "{e}");
    assert!(e.to_string().contains("genesis"), "{e}");
    let e = log::verify(&logged.dir.path().join("absent")).unwrap_err();
    assert_eq!(e.code(), "L0001");
    assert!(!e.is_tamper());
    // An empty log is intact, its head the genesis value.
    let empty = logged.dir.path().join("empty");
    std::fs::write(&empty, "").unwrap();
    assert_eq!(log::verify(&empty).unwrap(), log::Head { lines: 0, seq: 0, hash: GENESIS.into() });
}

/// The id of the first logged decision with a sanction whose RM had acted before.
fn sanctioned(path: &Path) -> (String, String) {
    let mut seen = std::collections::HashSet::new();
    for line in lines(path) {
        let v: serde_json::Value = serde_json::from_str(&line).unwrap();
        let Some(action) = v["action"].as_object() else { continue };
        let rm = action["rm"]["id"].as_str().unwrap().to_string();
        let sanctions = v["record"]["decision"]["sanctions"].as_array().unwrap();
        if !sanctions.is_empty() && seen.contains(&rm) {
            return (action["id"].as_str().unwrap().to_string(), rm);
        }
        seen.insert(rm);
    }
    panic!("no sanctioned decision with history");
}

#[test]
fn why_re_derives_a_decision_with_history() {
    let logged = Logged::new(5296);
    let (id, rm) = sanctioned(&logged.log());
    let why = log::why(&logged.log(), &id, cn()).unwrap();
    assert!(why.identical(), "{}", why.to_text());
    assert_eq!(why.rm, rm);
    assert!(why.prior > 0);
    assert_eq!(why.logged, why.derived);
    assert!(why.derived.contains("\"sanctions\":[{"), "{}", why.derived);
    let text = why.to_text();
    assert!(text.contains("byte for byte the logged record"), "{text}");
    assert!(why.explanation.is_some());
    assert!(why.explanation_agrees, "{text}");
}

#[test]
fn why_reports_a_mismatch_under_other_policies() {
    let logged = Logged::new(5296);
    let (id, _) = sanctioned(&logged.log());
    // The same policies with one more comment: other digests, so other records.
    let tmp = tempfile::tempdir().unwrap();
    for entry in std::fs::read_dir(repo().join("policies/cn")).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            // The calendar the 2026 version reads, unchanged.
            let sub = tmp.path().join(path.file_name().unwrap());
            std::fs::create_dir_all(&sub).unwrap();
            for file in std::fs::read_dir(&path).unwrap() {
                let file = file.unwrap().path();
                std::fs::copy(&file, sub.join(file.file_name().unwrap())).unwrap();
            }
            continue;
        }
        let mut text = std::fs::read_to_string(&path).unwrap();
        if path.extension().is_some_and(|e| e == "probity") {
            text.push_str("# changed\n");
        }
        std::fs::write(tmp.path().join(path.file_name().unwrap()), text).unwrap();
    }
    let why = log::why(&logged.log(), &id, PolicySet::from_dir(tmp.path()).unwrap()).unwrap();
    assert!(!why.identical());
    let difference = why.difference.clone().unwrap();
    assert!(difference.contains("`policies`"), "{difference}");
    assert!(why.to_text().contains("MISMATCH"), "{}", why.to_text());
    // Only the earlier policy version: the decision itself differs.
    let only_2025 = tempfile::tempdir().unwrap();
    std::fs::copy(repo().join("policies/cn/wealth_sales_2025.probity"), only_2025.path().join("p.probity")).unwrap();
    let later = lines(&logged.log())
        .into_iter()
        .rev()
        .find_map(|l| {
            let v: serde_json::Value = serde_json::from_str(&l).unwrap();
            v["action"]["id"].as_str().map(str::to_string)
        })
        .unwrap();
    let why = log::why(&logged.log(), &later, PolicySet::from_dir(only_2025.path()).unwrap()).unwrap();
    assert!(!why.identical(), "{}", why.to_text());
}

#[test]
fn why_needs_an_intact_log_and_a_logged_action() {
    let logged = Logged::new(100);
    let e = log::why(&logged.log(), "NO-SUCH-ID", cn()).unwrap_err();
    assert_eq!(e.code(), "L0008");
    let mut l = lines(&logged.log());
    l.swap(10, 11);
    write_lines(&logged.log(), &l);
    let e = log::why(&logged.log(), "S-000001", cn()).unwrap_err();
    assert_eq!(e.code(), "L0006");
}

#[test]
fn every_code_is_documented() {
    let docs = std::fs::read_to_string(repo().join("docs/diagnostics.md")).unwrap();
    for n in 1..=8 {
        let code = format!("L000{n}");
        assert!(docs.contains(&code), "{code} is not in docs/diagnostics.md");
    }
}
