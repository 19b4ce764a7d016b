//! `probity keygen`, `bundle`, `verify`, `--bundle … --trust …` on the commands that load
//! policies, `replay --log`, `log verify` and `log why`, as a user runs them.
#![allow(clippy::unwrap_used, clippy::indexing_slicing, clippy::arithmetic_side_effects)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn probity(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_probity")).args(args).current_dir(repo()).output().unwrap()
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8(bytes.to_vec()).unwrap()
}

fn s(path: &Path) -> &str {
    path.to_str().unwrap()
}

/// A key pair and a bundle of policies/cn.
fn signed(dir: &Path) -> (PathBuf, PathBuf) {
    let key = dir.join("key");
    let out = probity(&["keygen", "--out", s(&key)]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let bundle = dir.join("cn.bundle");
    let out = probity(&["bundle", "policies/cn", "--out", s(&bundle), "--sign", s(&key)]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(text(&out.stdout).contains("9 file(s), manifest sha256:"), "{}", text(&out.stdout));
    (bundle, dir.join("key.pub"))
}

/// The bundle with one byte of `wealth_sales_2026.probity` changed, re-gzip'd.
fn tampered(bundle: &Path) -> PathBuf {
    use std::io::{Read, Write};
    let raw = std::fs::read(bundle).unwrap();
    let mut tar = Vec::new();
    flate2::read::GzDecoder::new(raw.as_slice()).read_to_end(&mut tar).unwrap();
    let name = b"files/wealth_sales_2026.probity";
    let start = tar.windows(name.len()).position(|w| w == name).unwrap();
    let i = start + tar[start..].windows(9).position(|w| w == b"cash_gift").unwrap();
    tar[i] = b'C';
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    gz.write_all(&tar).unwrap();
    let out = bundle.with_file_name("bad.bundle");
    std::fs::write(&out, gz.finish().unwrap()).unwrap();
    out
}

#[test]
fn eval_and_explain_from_a_bundle_equal_the_directory() {
    let tmp = tempfile::tempdir().unwrap();
    let (bundle, trust) = signed(tmp.path());
    let out = probity(&["verify", s(&bundle), "--trust", s(&trust)]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(text(&out.stdout).contains("policy cn_wealth_sales 2026.1 sha256:"), "{}", text(&out.stdout));
    for command in ["eval", "explain"] {
        let b = probity(&[command, "--bundle", s(&bundle), "--trust", s(&trust), "examples/action.json"]);
        let d = probity(&[command, "--policies", "policies/cn", "examples/action.json"]);
        assert_eq!(b.status.code(), Some(0), "{}", text(&b.stderr));
        assert_eq!(b.stdout, d.stdout, "{command}");
    }
    // Neither source: an error, not a panic.
    let out = probity(&["eval", "examples/action.json"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("--policies DIR"), "{}", text(&out.stderr));
    // A bundle needs a trusted key.
    let out = probity(&["eval", "--bundle", s(&bundle), "examples/action.json"]);
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn a_tampered_or_foreign_bundle_is_refused_everywhere() {
    let tmp = tempfile::tempdir().unwrap();
    let (bundle, trust) = signed(tmp.path());
    let bad = tampered(&bundle);
    let out = probity(&["verify", s(&bad), "--trust", s(&trust)]);
    assert_eq!(out.status.code(), Some(1));
    let err = text(&out.stderr);
    assert!(err.contains("[B0003]") && err.contains("`wealth_sales_2026.probity` was changed"), "{err}");
    let out = probity(&["keygen", "--out", s(&tmp.path().join("other"))]);
    assert!(out.status.success());
    let other = tmp.path().join("other.pub");
    for (file, key, code) in [(&bad, &trust, "[B0003]"), (&bundle, &other, "[B0002]")] {
        let runs: [&[&str]; 4] = [
            &["eval", "examples/action.json"],
            &["explain", "examples/action.json"],
            &["replay", "examples/events.jsonl", "--out", "/dev/null"],
            &["log", "why", "x.log", "S-000001"],
        ];
        for run in runs {
            let mut args: Vec<&str> = run.to_vec();
            args.extend(["--bundle", s(file), "--trust", s(key)]);
            let out = probity(&args);
            assert_eq!(out.status.code(), Some(2), "{args:?}");
            assert!(text(&out.stderr).contains(code), "{args:?}: {}", text(&out.stderr));
            assert!(out.stdout.is_empty(), "{args:?}");
        }
        let out =
            probity(&["diff", "--old", "policies/cn", "--new", s(file), "--trust", s(key), "examples/events.jsonl"]);
        assert_eq!(out.status.code(), Some(2));
        assert!(text(&out.stderr).contains(code), "{}", text(&out.stderr));
    }
    // The private key is not a trusted key: exit 2.
    let out = probity(&["verify", s(&bundle), "--trust", s(&tmp.path().join("key"))]);
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("[B0006]"), "{}", text(&out.stderr));
}

#[test]
fn diff_takes_a_bundle_for_either_side() {
    let tmp = tempfile::tempdir().unwrap();
    let (bundle, trust) = signed(tmp.path());
    let a =
        probity(&["diff", "--old", "policies/cn", "--new", s(&bundle), "--trust", s(&trust), "examples/events.jsonl"]);
    let b = probity(&["diff", "--old", "policies/cn", "--new", "policies/cn", "examples/events.jsonl"]);
    assert_eq!(a.status.code(), Some(0), "{}", text(&a.stderr));
    assert_eq!(a.stdout, b.stdout);
    let out = probity(&["diff", "--old", s(&bundle), "--new", "policies/cn", "examples/events.jsonl"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("--trust"), "{}", text(&out.stderr));
}

#[test]
fn replay_appends_the_log_and_log_verify_checks_it() {
    let tmp = tempfile::tempdir().unwrap();
    let (bundle, trust) = signed(tmp.path());
    let log = tmp.path().join("decisions.log");
    let out = probity(&[
        "replay",
        "--bundle",
        s(&bundle),
        "--trust",
        s(&trust),
        "examples/events.jsonl",
        "--out",
        "/dev/null",
        "--log",
        s(&log),
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let first = std::fs::read_to_string(&log).unwrap();
    let n = first.lines().count();
    assert!(n > 5296, "{n}");
    // A bundle's lines name its manifest.
    assert!(first.lines().next().unwrap().contains("\"policies\":{\"bundle\":\"sha256:"));
    let out = probity(&["log", "verify", s(&log)]);
    assert_eq!(out.status.code(), Some(0));
    assert!(text(&out.stdout).contains(&format!("{n} line(s), chain intact; head seq {n}")), "{}", text(&out.stdout));
    // A second replay continues the chain.
    let out = probity(&[
        "replay",
        "--policies",
        "policies/cn",
        "examples/events.jsonl",
        "--out",
        "/dev/null",
        "--log",
        s(&log),
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let both = std::fs::read_to_string(&log).unwrap();
    assert!(both.starts_with(&first));
    assert_eq!(both.lines().count(), 2 * n);
    assert_eq!(probity(&["log", "verify", s(&log)]).status.code(), Some(0));
    // A swap is found and named; exit 1.
    let mut lines: Vec<&str> = both.lines().collect();
    lines.swap(100, 101);
    let swapped = tmp.path().join("swapped.log");
    std::fs::write(&swapped, lines.iter().map(|l| format!("{l}\n")).collect::<String>()).unwrap();
    let out = probity(&["log", "verify", s(&swapped)]);
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stderr).contains("[L0006] lines 101 and 102 are swapped"), "{}", text(&out.stderr));
    // Such a log is not continued.
    let out = probity(&[
        "replay",
        "--policies",
        "policies/cn",
        "examples/events.jsonl",
        "--out",
        "/dev/null",
        "--log",
        s(&swapped),
    ]);
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("[L0006]"), "{}", text(&out.stderr));
    // A log that cannot be read: exit 2.
    assert_eq!(probity(&["log", "verify", s(&tmp.path().join("absent"))]).status.code(), Some(2));
    // --log may not be the events file.
    let out =
        probity(&["replay", "--policies", "policies/cn", "examples/events.jsonl", "--log", "examples/events.jsonl"]);
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn log_why_confirms_or_reports_a_mismatch() {
    let tmp = tempfile::tempdir().unwrap();
    let (bundle, trust) = signed(tmp.path());
    let log = tmp.path().join("decisions.log");
    let out = probity(&[
        "replay",
        "--policies",
        "policies/cn",
        "examples/events.jsonl",
        "--out",
        "/dev/null",
        "--log",
        s(&log),
    ]);
    assert_eq!(out.status.code(), Some(0));
    // The last decision with a sanction: it had history.
    let logged = std::fs::read_to_string(&log).unwrap();
    let line = logged.lines().rev().find(|l| l.contains("\"sanctions\":[{") && l.contains("\"action\":{")).unwrap();
    let v: serde_json::Value = serde_json::from_str(line).unwrap();
    let id = v["action"]["id"].as_str().unwrap();
    for source in [vec!["--policies", "policies/cn"], vec!["--bundle", s(&bundle), "--trust", s(&trust)]] {
        let mut args = vec!["log", "why", s(&log), id];
        args.extend(source);
        let out = probity(&args);
        assert_eq!(out.status.code(), Some(0), "{}{}", text(&out.stdout), text(&out.stderr));
        let stdout = text(&out.stdout);
        assert!(stdout.contains("byte for byte the logged record"), "{stdout}");
        assert!(stdout.contains("policy cn_wealth_sales"), "{stdout}");
    }
    // Under other policies: a mismatch, exit 1.
    let older = tmp.path().join("older");
    std::fs::create_dir(&older).unwrap();
    std::fs::copy(repo().join("policies/cn/wealth_sales_2025.probity"), older.join("p.probity")).unwrap();
    let out = probity(&["log", "why", s(&log), id, "--policies", s(&older)]);
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stdout).contains("MISMATCH"), "{}", text(&out.stdout));
    let out = probity(&["log", "why", s(&log), "NO-SUCH", "--policies", "policies/cn"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("[L0008]"), "{}", text(&out.stderr));
}
