//! The library against hostile input streams and policy directories: endless lines, mistyped
//! times, special files and sets with no policy in force.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic,
    clippy::arithmetic_side_effects
)]

use std::io::Read;

use probity::replay::{self, Line, Lines, Options};
use probity::{Engine, LoadError, PolicySet};

const GIFTS: &str = r#"policy gifts "Gifts" version "1" effective 2025-01-01 timezone "Asia/Shanghai"

action gift { value: money }

rule big_gift "Large gifts are reviewed"
  cite "Gift policy 1"
  on gift
  when action.value >= 1000 CNY
  then review
  message "gift of {action.value}"
"#;

fn engine() -> Engine {
    Engine::new(PolicySet::from_sources([("gifts.probity", GIFTS)]).unwrap())
}

fn gift(id: &str, rm: &str, at: &str) -> String {
    format!(r#"{{"type":"gift","id":"{id}","at":"{at}","rm":{{"id":"{rm}"}},"value":"50 CNY"}}"#)
}

fn records(engine: &Engine, input: &str, options: &Options) -> Vec<serde_json::Value> {
    let mut out = Vec::new();
    replay::replay_to(engine, input.as_bytes(), &mut out, options, |_| {}).unwrap();
    String::from_utf8(out).unwrap().lines().map(|l| serde_json::from_str(l).unwrap()).collect()
}

/// An endless reader of one byte, counting what was read.
struct Endless {
    byte: u8,
    left: u64,
}

impl Read for Endless {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = buf.len().min(usize::try_from(self.left).unwrap());
        buf[..n].fill(self.byte);
        self.left -= n as u64;
        Ok(n)
    }
}

#[test]
fn lines_hold_at_most_an_actions_size_and_go_on_at_the_next_newline() {
    let long = Endless { byte: b'0', left: 50 << 20 };
    let input = std::io::BufReader::new(long.chain(&b"\nnext\n\nlast"[..]));
    let lines: Vec<Line> = Lines::new(input).map(Result::unwrap).collect();
    assert_eq!(
        lines,
        [Line::TooLong(50 << 20), Line::Text(b"next".to_vec()), Line::Text(Vec::new()), Line::Text(b"last".to_vec())]
    );
    // Exactly at the limit (with a `\r`) is still a line.
    let limit = probity::limits::MAX_ACTION_BYTES;
    let mut exact = vec![b'a'; limit];
    exact.extend_from_slice(b"\r\n");
    let lines: Vec<Line> = Lines::new(&exact[..]).map(Result::unwrap).collect();
    assert!(matches!(&lines[..], [Line::Text(bytes)] if bytes.len() == limit + 1));
}

#[test]
fn an_over_long_line_is_one_error_record_and_the_replay_goes_on() {
    let engine = engine();
    let input = format!("{}\n{}\n", "x".repeat(3 << 20), gift("G-1", "R1", "2026-03-01T10:00:00+08:00"));
    let records = records(&engine, &input, &Options::default());
    assert_eq!(records.len(), 2);
    assert_eq!(records[0]["error"]["line"], 1);
    assert_eq!(records[0]["error"]["message"], "action is 3145728 bytes, more than the limit of 1048576");
    assert_eq!(records[1]["decision"]["action"], "G-1");
}

#[test]
fn an_action_far_ahead_of_the_stream_moves_no_clock_and_the_check_does_not_depend_on_jobs() {
    let engine = engine();
    let mut lines = Vec::new();
    // Many RMs, so that several jobs share them; RM 7's third action is a typo of the year.
    for i in 0..50 {
        lines.push(gift(&format!("A-{i}"), &format!("R{i}"), "2026-03-01T10:00:00+08:00"));
    }
    lines.push(gift("TYPO", "R7", "2062-03-01T11:00:00+08:00"));
    for i in 0..50 {
        lines.push(gift(&format!("B-{i}"), &format!("R{i}"), "2026-03-01T12:00:00+08:00"));
    }
    let input = lines.join("\n");
    let one = records(&engine, &input, &Options { jobs: 1, ..Options::default() });
    let four = records(&engine, &input, &Options { jobs: 4, ..Options::default() });
    assert_eq!(one, four);
    assert_eq!(one.len(), 101);
    assert_eq!(one[50]["error"]["line"], 51);
    let message = one[50]["error"]["message"].as_str().unwrap();
    assert!(message.starts_with("`at`: 2062-03-01T11:00:00+08:00 is more than 1 day ahead"), "{message}");
    assert!(one.iter().enumerate().all(|(i, r)| i == 50 || r.get("decision").is_some()));
    // `replay` (and `replay_with`) bound the skew by default too.
    let mut out = Vec::new();
    let summary = replay::replay(&engine, input.as_bytes(), &mut out, None, 2, |_| {}).unwrap();
    assert_eq!(summary.errors, 1);
    // Without a bound, the typo moves R7's clock and its next action is out of order.
    let loose = records(&engine, &input, &Options { max_skew: None, ..Options::default() });
    assert!(loose[50].get("decision").is_some());
    assert!(loose[58]["error"]["message"].as_str().unwrap().contains("older than the ledger's clock"));
}

#[test]
fn a_jump_the_next_action_confirms_is_no_mistake_even_across_batches() {
    let engine = engine();
    // 4,096 lines make a batch: the jump is the batch's last line, and what confirms it (or
    // not) is the first line of the next.
    for (next, expected_errors) in [("2026-03-09T10:01:00+08:00", 0), ("2026-03-01T10:02:00+08:00", 1)] {
        let mut lines: Vec<String> =
            (0..4095).map(|i| gift(&format!("A-{i}"), &format!("R{}", i % 9), "2026-03-01T10:00:00+08:00")).collect();
        lines.push(gift("JUMP", "R1", "2026-03-09T10:00:00+08:00"));
        lines.push(gift("NEXT", "R2", next));
        let input = lines.join("\n");
        for jobs in [1, 3] {
            let mut out = Vec::new();
            let options = Options { jobs, ..Options::default() };
            let summary = replay::replay_to(&engine, input.as_bytes(), &mut out, &options, |_| {}).unwrap();
            assert_eq!(summary.errors, expected_errors, "next at {next}, {jobs} jobs");
        }
    }
}

#[test]
fn a_directory_without_policy_files_does_not_load() {
    let dir = tempfile_dir();
    match PolicySet::from_dir(dir.path()) {
        Err(LoadError::Io { source, .. }) => {
            assert!(source.to_string().contains("no `.probity` policy files"), "{source}")
        }
        other => panic!("expected a load error, got {other:?}"),
    }
}

#[test]
fn special_and_oversized_policy_files_are_refused_before_they_are_read() {
    for kind in ["fifo", "zero", "huge"] {
        let dir = tempfile_dir();
        std::fs::write(dir.path().join("gifts.probity"), GIFTS).unwrap();
        let odd = dir.path().join("odd.probity");
        match kind {
            "fifo" => assert!(std::process::Command::new("mkfifo").arg(&odd).status().unwrap().success()),
            "zero" => std::os::unix::fs::symlink("/dev/zero", &odd).unwrap(),
            _ => std::fs::File::create(&odd).unwrap().set_len(1 << 30).unwrap(),
        }
        match PolicySet::from_dir(dir.path()) {
            Err(LoadError::Io { path, source }) => {
                let message = source.to_string();
                assert_eq!(path, odd);
                let expected =
                    if kind == "huge" { "1073741824 bytes, more than the limit" } else { "not a regular file" };
                assert!(message.contains(expected), "{kind}: {message}");
            }
            other => panic!("{kind}: expected a load error, got {other:?}"),
        }
    }
}

#[test]
fn a_policy_file_that_is_not_utf8_is_named_with_its_line() {
    let dir = tempfile_dir();
    std::fs::write(dir.path().join("gifts.probity"), [GIFTS.as_bytes(), b"\n# \xff\n"].concat()).unwrap();
    let error = PolicySet::from_dir(dir.path()).unwrap_err().to_string();
    assert!(error.contains("gifts.probity") && error.contains("line 12 is not UTF-8"), "{error}");
}

#[test]
fn require_policy_reviews_actions_no_policy_is_in_force_for() {
    let set = PolicySet::from_sources([("gifts.probity", GIFTS)]).unwrap();
    assert!(!set.requires_policy());
    let strict = Engine::new(PolicySet::from_sources([("gifts.probity", GIFTS)]).unwrap().require_policy(true));
    let early = probity::Action::from_json(&gift("G-0", "R1", "2020-01-01T10:00:00+08:00")).unwrap();
    let plain = Engine::new(set).evaluate(&early, &probity::History::new()).unwrap();
    assert_eq!(plain.verdict, probity::Verdict::Allow);
    let decision = strict.evaluate(&early, &probity::History::new()).unwrap();
    assert_eq!(decision.verdict, probity::Verdict::Review);
    assert!(decision.policies.is_empty());
    let finding = &decision.findings[0];
    assert_eq!((&*finding.policy, &*finding.rule), ("probity", probity::NO_POLICY_IN_FORCE));
    assert_eq!(finding.kind, probity::FindingKind::Error);
    // The ledger decides the same way; an action a policy is in force for is unchanged.
    let mut ledger = strict.ledger();
    assert_eq!(ledger.submit(&early).unwrap().decision.verdict, probity::Verdict::Review);
    let later = probity::Action::from_json(&gift("G-1", "R1", "2026-01-01T10:00:00+08:00")).unwrap();
    let decision = ledger.submit(&later).unwrap().decision;
    assert_eq!(decision.verdict, probity::Verdict::Allow);
    assert!(decision.findings.is_empty());
}

/// A fresh temporary directory (removed when dropped).
fn tempfile_dir() -> TempDir {
    let path = std::env::temp_dir().join(format!(
        "probity-hostile-io-{}-{}",
        std::process::id(),
        COUNTER.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
    ));
    std::fs::create_dir_all(&path).unwrap();
    TempDir(path)
}

static COUNTER: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

struct TempDir(std::path::PathBuf);

impl TempDir {
    fn path(&self) -> &std::path::Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}
