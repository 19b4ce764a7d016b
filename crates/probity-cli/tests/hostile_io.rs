//! The command against hostile files and paths: outputs that would destroy inputs, endless or
//! oversized reads, special files, mistyped times and messages that must name the right place.
#![allow(clippy::unwrap_used, clippy::indexing_slicing, clippy::panic)]

use std::io::Write;
use std::os::unix::fs::FileTypeExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

fn fixtures() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures")
}

fn gifts() -> String {
    fixtures().join("gifts").display().to_string()
}

/// Runs the command in `dir`, failing the test if it has not ended within 60 seconds (a hang).
fn probity_in(dir: &Path, args: &[&str], input: Option<&[u8]>) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_probity"))
        .args(args)
        .current_dir(dir)
        .stdin(if input.is_some() { Stdio::piped() } else { Stdio::null() })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    if let Some(bytes) = input {
        let mut stdin = child.stdin.take().unwrap();
        let bytes = bytes.to_vec();
        std::thread::spawn(move || {
            let _ = stdin.write_all(&bytes);
        });
    }
    let start = Instant::now();
    while child.try_wait().unwrap().is_none() {
        if start.elapsed() > Duration::from_secs(60) {
            child.kill().unwrap();
            panic!("`probity {}` did not finish within 60 s", args.join(" "));
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    child.wait_with_output().unwrap()
}

fn probity(dir: &Path, args: &[&str]) -> Output {
    probity_in(dir, args, None)
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn gift(id: &str, rm: &str, at: &str) -> String {
    format!(
        r#"{{"type":"gift_received","id":"{id}","at":"{at}","rm":{{"id":"{rm}"}},"giver":"ACME","kind":"goods","value":"50 CNY"}}"#
    )
}

/// Files in `dir` other than `keep`: a temporary file left behind shows up here.
fn strays(dir: &Path, keep: &[&str]) -> Vec<String> {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| !keep.contains(&n.as_str()))
        .collect()
}

fn records(out: &Output) -> Vec<serde_json::Value> {
    text(&out.stdout).lines().map(|l| serde_json::from_str(l).unwrap()).collect()
}

#[test]
fn replay_refuses_to_write_over_its_events_directly_or_through_a_link() {
    let dir = tempfile::tempdir().unwrap();
    let events = std::fs::read(fixtures().join("gifts/events.jsonl")).unwrap();
    std::fs::write(dir.path().join("events.jsonl"), &events).unwrap();
    std::os::unix::fs::symlink("events.jsonl", dir.path().join("link.jsonl")).unwrap();
    for out in ["events.jsonl", "link.jsonl", "./events.jsonl"] {
        for flag in ["--out", "--report"] {
            let run = probity(dir.path(), &["replay", "--policies", &gifts(), "events.jsonl", flag, out]);
            assert_eq!(run.status.code(), Some(2), "{flag} {out}: {}", text(&run.stderr));
            assert!(text(&run.stderr).contains("is the events file"), "{}", text(&run.stderr));
            assert_eq!(std::fs::read(dir.path().join("events.jsonl")).unwrap(), events, "{flag} {out}");
        }
    }
}

#[test]
fn an_output_that_cannot_be_written_fails_before_the_replay_writes_anything() {
    let dir = tempfile::tempdir().unwrap();
    let events = fixtures().join("gifts/events.jsonl").display().to_string();
    std::fs::write(dir.path().join("out.jsonl"), "old\n").unwrap();
    let run = probity(
        dir.path(),
        &["replay", "--policies", &gifts(), &events, "--out", "out.jsonl", "--report", "missing/report.html"],
    );
    assert_eq!(run.status.code(), Some(2), "{}", text(&run.stderr));
    assert!(text(&run.stderr).contains("missing/report.html"), "{}", text(&run.stderr));
    // Neither output was started: the old file is as it was, and no summary was printed.
    assert_eq!(std::fs::read_to_string(dir.path().join("out.jsonl")).unwrap(), "old\n");
    assert!(!text(&run.stderr).contains("events"), "{}", text(&run.stderr));
    assert_eq!(strays(dir.path(), &["out.jsonl"]), Vec::<String>::new());
}

#[test]
fn replay_output_replaces_the_file_whole_and_leaves_no_temporary_file() {
    let dir = tempfile::tempdir().unwrap();
    let events = fixtures().join("gifts/events.jsonl").display().to_string();
    let to_stdout = probity(dir.path(), &["replay", "--policies", &gifts(), &events]);
    std::fs::write(dir.path().join("out.jsonl"), "x".repeat(100_000)).unwrap();
    let run = probity(
        dir.path(),
        &["replay", "--policies", &gifts(), &events, "--out", "out.jsonl", "--report", "report.html"],
    );
    assert_eq!(run.status.code(), to_stdout.status.code(), "{}", text(&run.stderr));
    assert_eq!(std::fs::read(dir.path().join("out.jsonl")).unwrap(), to_stdout.stdout);
    assert!(std::fs::read_to_string(dir.path().join("report.html")).unwrap().contains("<html"));
    assert_eq!(strays(dir.path(), &["out.jsonl", "report.html"]), Vec::<String>::new());
    // A device is written, not replaced.
    let run = probity(dir.path(), &["replay", "--policies", &gifts(), &events, "--out", "/dev/null"]);
    assert_eq!(run.status.code(), to_stdout.status.code(), "{}", text(&run.stderr));
    assert!(std::fs::metadata("/dev/null").unwrap().file_type().is_char_device());
}

#[test]
fn fmt_leaves_a_file_alone_when_its_formatted_text_would_pass_the_size_limit() {
    let dir = tempfile::tempdir().unwrap();
    let head = "policy big \"Big\"\nversion \"1\"\neffective 2026-01-01\ntimezone \"Asia/Shanghai\"\n\n\
                action sale {\namount: int\n}\n\nrule r \"R\"\ncite \"c\"\non sale\n";
    let tail = "when action.amount > 1\nthen review\nmessage \"m\"\n";
    // Each comment line gains two spaces of indentation: 1 MB becomes about 1.6 MB.
    let lines = (1_000_000 - head.len() - tail.len()) / 3;
    let source = format!("{head}{}{tail}", "#x\n".repeat(lines));
    let path = dir.path().join("big.probity");
    std::fs::write(&path, &source).unwrap();
    let check = probity(dir.path(), &["check", "big.probity"]);
    assert_eq!(check.status.code(), Some(0), "{}", text(&check.stderr));
    let run = probity(dir.path(), &["fmt", "big.probity"]);
    assert_eq!(run.status.code(), Some(1), "{}", text(&run.stderr));
    assert!(text(&run.stderr).contains("more than the limit"), "{}", text(&run.stderr));
    assert_eq!(std::fs::read_to_string(&path).unwrap(), source);
    // A small file is formatted in place, keeping its permissions, with nothing left beside it.
    let small = dir.path().join("small.probity");
    std::fs::write(&small, format!("{head}{tail}")).unwrap();
    std::fs::set_permissions(&small, std::os::unix::fs::PermissionsExt::from_mode(0o640)).unwrap();
    let run = probity(dir.path(), &["fmt", "small.probity"]);
    assert_eq!(run.status.code(), Some(0), "{}", text(&run.stderr));
    assert!(std::fs::read_to_string(&small).unwrap().contains("\n  version \"1\"\n"));
    let mode = std::os::unix::fs::PermissionsExt::mode(&std::fs::metadata(&small).unwrap().permissions());
    assert_eq!(mode & 0o777, 0o640);
    assert_eq!(strays(dir.path(), &["big.probity", "small.probity"]), Vec::<String>::new());
}

#[test]
fn a_line_dated_far_ahead_is_an_error_that_moves_no_clock_whatever_the_jobs() {
    let dir = tempfile::tempdir().unwrap();
    let lines = [
        gift("G-1", "R1", "2026-03-01T10:00:00+08:00"),
        gift("G-2", "R2", "2026-03-01T11:00:00+08:00"),
        // A typo of the year.
        gift("G-3", "R1", "2096-03-01T12:00:00+08:00"),
        gift("G-4", "R1", "2026-03-01T13:00:00+08:00"),
        // A quiet weekend: the whole stream moves three days ahead, which is no mistake.
        gift("G-5", "R2", "2026-03-04T09:00:00+08:00"),
        gift("G-6", "R1", "2026-03-04T10:00:00+08:00"),
    ];
    std::fs::write(dir.path().join("events.jsonl"), lines.join("\n")).unwrap();
    let mut outputs = Vec::new();
    for jobs in ["1", "4"] {
        let run = probity(dir.path(), &["replay", "--policies", &gifts(), "events.jsonl", "-j", jobs]);
        assert_eq!(run.status.code(), Some(1), "{}", text(&run.stderr));
        let records = records(&run);
        assert_eq!(records.len(), 6);
        assert_eq!(records[2]["error"]["line"], 3);
        let message = records[2]["error"]["message"].as_str().unwrap();
        assert!(message.contains("more than 1 day ahead"), "{message}");
        for i in [0, 1, 3, 4, 5] {
            assert!(records[i].get("decision").is_some(), "line {}: {}", i + 1, records[i]);
        }
        outputs.push(run.stdout);
    }
    assert_eq!(outputs[0], outputs[1]);
    // A tighter bound makes the weekend a mistake too; `none` lets the typo move R1's clock.
    let run = probity(dir.path(), &["replay", "--policies", &gifts(), "events.jsonl", "--max-skew", "12h"]);
    let tight = records(&run);
    assert!(tight[2].get("error").is_some());
    assert!(tight[4].get("decision").is_some(), "confirmed by the next line: {}", tight[4]);
    let run = probity(dir.path(), &["replay", "--policies", &gifts(), "events.jsonl", "--max-skew", "none"]);
    let loose = records(&run);
    assert!(loose[2].get("decision").is_some());
    assert!(loose[3]["error"]["message"].as_str().unwrap().contains("older than the ledger's clock"));
    let run = probity(dir.path(), &["replay", "--policies", &gifts(), "events.jsonl", "--max-skew", "1 week"]);
    assert_eq!(run.status.code(), Some(2));
}

#[test]
fn a_directory_without_policy_files_is_an_error_everywhere() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("empty")).unwrap();
    let action = fixtures().join("gifts/cash.json").display().to_string();
    let events = fixtures().join("gifts/events.jsonl").display().to_string();
    for args in [
        vec!["check", "empty"],
        vec!["eval", "--policies", "empty", &action],
        vec!["replay", "--policies", "empty", &events],
        vec!["diff", "--old", "empty", "--new", "empty", &events],
    ] {
        let run = probity(dir.path(), &args);
        assert_eq!(run.status.code(), Some(2), "{args:?}");
        assert!(text(&run.stderr).contains("no `.probity` policy files"), "{args:?}: {}", text(&run.stderr));
    }
}

#[test]
fn require_policy_reviews_an_action_no_policy_is_in_force_for() {
    let dir = tempfile::tempdir().unwrap();
    // The gifts policy takes effect in 2025.
    std::fs::write(dir.path().join("early.json"), gift("G-0", "R1", "2020-01-01T10:00:00+08:00")).unwrap();
    let plain = probity(dir.path(), &["eval", "--policies", &gifts(), "early.json"]);
    let plain: serde_json::Value = serde_json::from_slice(&plain.stdout).unwrap();
    assert_eq!(plain["verdict"], "allow");
    let strict = probity(dir.path(), &["eval", "--policies", &gifts(), "--require-policy", "early.json"]);
    assert_eq!(strict.status.code(), Some(0), "{}", text(&strict.stderr));
    let strict: serde_json::Value = serde_json::from_slice(&strict.stdout).unwrap();
    assert_eq!(strict["verdict"], "review");
    assert_eq!(strict["policies"], serde_json::json!([]));
    assert_eq!(strict["findings"][0]["kind"], "error");
    assert_eq!(strict["findings"][0]["rule"], "no-policy-in-force");
    let run = probity(dir.path(), &["replay", "--policies", &gifts(), "--require-policy", "early.json"]);
    assert!(text(&run.stdout).contains("no-policy-in-force"), "{}", text(&run.stdout));
    // An action a policy is in force for is decided as before.
    let cash = fixtures().join("gifts/cash.json").display().to_string();
    let a = probity(dir.path(), &["eval", "--policies", &gifts(), &cash]);
    let b = probity(dir.path(), &["eval", "--policies", &gifts(), "--require-policy", &cash]);
    assert_eq!(a.stdout, b.stdout);
}

#[test]
fn an_endless_line_costs_bounded_memory_and_is_one_error_record() {
    let dir = tempfile::tempdir().unwrap();
    let run = probity(dir.path(), &["replay", "--policies", &gifts(), "/dev/zero"]);
    assert_eq!(run.status.code(), Some(2));
    assert!(text(&run.stderr).contains("not a regular file or a pipe"), "{}", text(&run.stderr));
    // Through a pipe: 20 MB without a newline, then an action.
    let mut input = vec![b'x'; 20 << 20];
    input.push(b'\n');
    input.extend_from_slice(gift("G-1", "R1", "2026-03-01T10:00:00+08:00").as_bytes());
    let run = probity_in(dir.path(), &["replay", "--policies", &gifts(), "-"], Some(&input));
    let records = records(&run);
    assert_eq!(records.len(), 2, "{}", text(&run.stderr));
    assert_eq!(records[0]["error"]["line"], 1);
    assert!(records[0]["error"]["message"].as_str().unwrap().contains("20971520 bytes, more than the limit"));
    assert_eq!(records[1]["decision"]["action"], "G-1");
}

#[test]
fn special_and_oversized_policy_files_are_refused_before_they_are_read() {
    let dir = tempfile::tempdir().unwrap();
    let action = fixtures().join("gifts/cash.json").display().to_string();
    let source = std::fs::read_to_string(fixtures().join("gifts/gifts.probity")).unwrap();
    for (name, make) in [("fifo", 0), ("zero", 1), ("huge", 2)] {
        let policies = dir.path().join(name);
        std::fs::create_dir(&policies).unwrap();
        std::fs::write(policies.join("gifts.probity"), &source).unwrap();
        let odd = policies.join("odd.probity");
        match make {
            0 => assert!(Command::new("mkfifo").arg(&odd).status().unwrap().success()),
            1 => std::os::unix::fs::symlink("/dev/zero", &odd).unwrap(),
            _ => std::fs::File::create(&odd).unwrap().set_len(1 << 30).unwrap(),
        }
        for args in [vec!["check", name], vec!["eval", "--policies", name, &action], vec!["fmt", name]] {
            let run = probity(dir.path(), &args);
            assert_eq!(run.status.code(), Some(2), "{args:?}: {}", text(&run.stderr));
            let err = text(&run.stderr);
            let expected = if make == 2 { "more than the limit" } else { "not a regular file" };
            assert!(err.contains("odd.probity") && err.contains(expected), "{args:?}: {err}");
        }
    }
}

/// The runner's own bounds and places are tested in crates/probity-testfile; here, what the
/// command adds: the paths given are roots policies may be shared under, and a file that cannot
/// be used is one failure.
#[test]
fn test_lets_files_under_the_paths_given_share_policies_and_counts_an_unusable_file_as_failed() {
    let dir = tempfile::tempdir().unwrap();
    let sub = dir.path().join("suite/sub");
    std::fs::create_dir_all(&sub).unwrap();
    std::fs::copy(fixtures().join("gifts/gifts.probity"), dir.path().join("suite/gifts.probity")).unwrap();
    std::fs::write(sub.join("up.yaml"), "name: t\npolicies: [../gifts.probity]\ncases:\n  - name: c\n    steps: []\n")
        .unwrap();
    std::fs::write(sub.join("deep.yaml"), format!("name: x\ncases: {}\n", "[".repeat(100))).unwrap();
    let run = probity(dir.path(), &["test", "suite/sub/up.yaml"]);
    let out = text(&run.stdout);
    assert_eq!(run.status.code(), Some(1), "{out}");
    assert!(out.contains("outside the test file's directory") && out.ends_with("0 passed, 1 failed\n"), "{out}");
    let run = probity(dir.path(), &["test", "suite"]);
    let out = text(&run.stdout);
    assert_eq!(run.status.code(), Some(1), "{out}");
    assert!(out.starts_with("✗ `suite/sub/deep.yaml`:2: brackets nest deeper than 64 levels\n"), "{out}");
    assert!(out.contains("suite/sub/up.yaml — t\n  ✓ c\n") && out.ends_with("1 passed, 1 failed\n"), "{out}");
}

#[test]
fn messages_name_the_file_and_line_at_fault() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("action.json"), gift("G-1", "R1", "2026-03-01T10:00:00+08:00")).unwrap();
    std::fs::write(
        dir.path().join("history.json"),
        r#"{"breaches":[{"policy":"gifts","rule":"cash_gift","severity":"major","at":"nope","action":"a"}]}"#,
    )
    .unwrap();
    let run = probity(dir.path(), &["eval", "--policies", &gifts(), "action.json", "--history", "history.json"]);
    assert_eq!(run.status.code(), Some(2));
    let err = text(&run.stderr);
    assert!(err.contains("`history.json`: `breaches[0].at`"), "{err}");
    assert!(!err.contains("action.json"), "{err}");
    std::fs::write(dir.path().join("bad.json"), b"{\"type\": \"gift_received\",\n  \"id\": \"\xff\"}").unwrap();
    let run = probity(dir.path(), &["eval", "--policies", &gifts(), "bad.json"]);
    assert_eq!(run.status.code(), Some(2));
    assert!(text(&run.stderr).contains("`bad.json`:2:10: the text is not UTF-8"), "{}", text(&run.stderr));
    // `diff` counts a line that is not UTF-8 as unusable and goes on, as `replay` does.
    let mut events = std::fs::read(fixtures().join("gifts/events.jsonl")).unwrap();
    events.extend_from_slice(b"\xff\xfe\n");
    events.extend_from_slice(gift("G-7", "R3", "2026-03-05T10:00:00+08:00").as_bytes());
    std::fs::write(dir.path().join("events.jsonl"), events).unwrap();
    let run = probity(dir.path(), &["diff", "--old", &gifts(), "--new", &gifts(), "events.jsonl"]);
    assert_eq!(run.status.code(), Some(0), "{}", text(&run.stderr));
    assert!(
        text(&run.stdout).starts_with("4 events replayed, 0 decisions differ, 2 lines unusable"),
        "{}",
        text(&run.stdout)
    );
    let run = probity(dir.path(), &["replay", "--policies", &gifts(), "events.jsonl"]);
    let records = records(&run);
    let error = records.iter().find(|r| r["error"]["line"] == 5).unwrap();
    assert!(error["error"]["message"].as_str().unwrap().contains("not UTF-8"), "{error}");
}
