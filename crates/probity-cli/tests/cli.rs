//! The `probity` command as a user runs it: exit codes, output and error messages.
#![allow(clippy::unwrap_used)]

use std::path::PathBuf;
use std::process::{Command, Output};

fn fixtures() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures")
}

fn probity(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_probity")).args(args).current_dir(fixtures()).output().unwrap()
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8(bytes.to_vec()).unwrap()
}

#[test]
fn check_reports_every_error_with_place_and_hint() {
    let out = probity(&["check", "bad"]);
    assert_eq!(out.status.code(), Some(1));
    let err = text(&out.stderr);
    assert!(err.contains("P0102"), "{err}");
    assert!(err.contains("bad/mistakes.probity:6:15"), "{err}");
    assert!(err.contains("did you mean `amount`?"), "{err}");
    assert!(err.contains("P0203"), "{err}");
    assert!(err.contains("bad/mistakes.probity:11:25"), "{err}");
    assert!(err.contains("did you mean `branch`?"), "{err}");
    assert!(err.contains("2 error(s), 0 warning(s)"), "{err}");
}

#[test]
fn check_json_gives_records() {
    let out = probity(&["check", "--format", "json", "bad/mistakes.probity"]);
    assert_eq!(out.status.code(), Some(1));
    let records: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let records = records.as_array().unwrap();
    assert_eq!(records.len(), 2);
    assert_eq!(records[0]["code"], "P0102");
    assert_eq!(records[0]["line"], 6);
    assert_eq!(records[0]["column"], 15);
    assert_eq!(records[1]["code"], "P0203");
}

#[test]
fn check_passes_good_policies_and_denies_warnings_on_request() {
    let out = probity(&["check", "gifts"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let spec = fixtures().join("../../../../tests/spec");
    let out = probity(&["check", spec.to_str().unwrap()]);
    // The spec directory holds YAML only: no policy file to check is an error, not a pass.
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn check_of_a_missing_path_is_an_error() {
    let out = probity(&["check", "no/such/dir"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("does not exist"));
}

#[test]
fn test_command_counts_cases_and_fails_on_failure() {
    let spec = fixtures().join("../../../../tests/spec");
    let out = probity(&["test", spec.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(0));
    let stdout = text(&out.stdout);
    assert!(stdout.trim_end().ends_with("138 passed, 0 failed"), "{stdout}");

    let broken = std::env::temp_dir().join(format!("probity-broken-{}.yaml", std::process::id()));
    let original = std::fs::read_to_string(spec.join("01_basics.yaml")).unwrap();
    std::fs::write(&broken, original.replace("verdict: deny", "verdict: allow")).unwrap();
    let out = probity(&["test", broken.to_str().unwrap()]);
    std::fs::remove_file(&broken).unwrap();
    assert_eq!(out.status.code(), Some(1));
    let stdout = text(&out.stdout);
    assert!(stdout.contains("- expected: allow"), "{stdout}");
    assert!(stdout.contains("+ actual:   deny"), "{stdout}");
    assert!(stdout.trim_end().ends_with("3 passed, 3 failed"), "{stdout}");
}

#[test]
fn eval_prints_the_decision() {
    let out = probity(&["eval", "--policies", "gifts", "gifts/cash.json"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let decision: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(decision["verdict"], "deny");
    assert_eq!(decision["findings"][0]["rule"], "cash_gift");
    assert_eq!(decision["findings"][0]["message"], "cash gift of 500.00 CNY from ACME");
    assert_eq!(decision["obligations"][0]["due"], "2026-03-31T10:00:00+08:00");
    assert_eq!(decision["sanctions"][0]["step"], "formal warning");
}

#[test]
fn eval_names_the_bad_field() {
    let dir = std::env::temp_dir().join(format!("probity-eval-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let cases = [
        (r#"{"id": "A", "at": "2026-03-01T10:00:00+08:00", "rm": {"id": "R1"}}"#, "I0003", "`type`"),
        (
            r#"{"type": "gift_received", "id": "A", "at": "2026-03-01T10:00:00", "rm": {"id": "R1"}}"#,
            "I0006",
            "no UTC offset",
        ),
        (r#"{"type": "gift_received", "id": "A", "at": "2026-03-01T10:00:00Z", "rm": {}}"#, "I0003", "`rm.id`"),
        (r#"[1, 2]"#, "I0001", "JSON object"),
        (r#"{"type": "#, "I0001", "invalid JSON"),
    ];
    for (i, (json, code, expected)) in cases.iter().enumerate() {
        let path = dir.join(format!("{i}.json"));
        std::fs::write(&path, json).unwrap();
        let out = probity(&["eval", "--policies", "gifts", path.to_str().unwrap()]);
        assert_eq!(out.status.code(), Some(2), "{json}");
        let err = text(&out.stderr);
        // One line, as rustc writes it: the code, the file at fault, the message.
        let first = format!("error[{code}]: `{}`: ", path.display());
        assert!(err.starts_with(&first) && err.lines().count() == 1, "{json}: {err}");
        assert!(err.contains(expected), "{json}: {err}");
        assert!(!err.contains("panicked"), "{err}");
        assert!(out.stdout.is_empty(), "{json}");
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn replay_writes_records_in_order_and_a_summary() {
    let out = probity(&["replay", "--policies", "gifts", "gifts/events.jsonl", "--as-of", "2026-06-01T00:00:00+08:00"]);
    // One line is not JSON: the replay goes on and exits 1 at the end.
    assert_eq!(out.status.code(), Some(1));
    let lines: Vec<serde_json::Value> = text(&out.stdout).lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    let kinds: Vec<&str> = lines.iter().map(|l| l.as_object().unwrap().keys().next().unwrap().as_str()).collect();
    assert_eq!(kinds, ["decision", "decision", "error", "overdue", "decision"]);
    assert_eq!(lines[2]["error"]["line"], 3);
    assert_eq!(lines[3]["overdue"]["obligation"]["action"], "G-1");
    assert_eq!(lines[3]["overdue"]["at"], "2026-03-31T10:00:00+08:00");
    // The late registration still closes the obligation.
    assert_eq!(lines[4]["decision"]["fulfilled"][0]["duty"], "gift_register");
    let summary = text(&out.stderr);
    assert!(summary.contains("events"), "{summary}");
    assert!(summary.contains("gifts/cash_gift"), "{summary}");
    assert!(summary.contains("overdue reports"), "{summary}");
}

#[test]
fn replay_output_does_not_depend_on_the_number_of_threads() {
    let run = |jobs: &str| {
        let out = probity(&[
            "replay",
            "-j",
            jobs,
            "--policies",
            "gifts",
            "gifts/events.jsonl",
            "--as-of",
            "2027-01-01T00:00:00Z",
        ]);
        (out.stdout, text(&out.stderr))
    };
    let (one, summary_one) = run("1");
    let (four, summary_four) = run("4");
    assert!(!one.is_empty());
    assert_eq!(one, four);
    assert_eq!(summary_one, summary_four);
}

#[test]
fn explain_json_gives_the_input_error_record() {
    let dir = std::env::temp_dir().join(format!("probity-explain-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("bad.json");
    std::fs::write(&path, r#"{"type": "gift_received", "id": "A", "at": 5, "rm": {"id": "R1"}}"#).unwrap();
    let out = probity(&["explain", "--format", "json", "--policies", "gifts", path.to_str().unwrap()]);
    std::fs::remove_dir_all(&dir).unwrap();
    assert_eq!(out.status.code(), Some(2));
    let record: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        record,
        serde_json::json!({"code": "I0004", "message": "`at`: expected an RFC 3339 timestamp, found a number", "field": "at"})
    );
    assert!(text(&out.stderr).starts_with("error[I0004]: `"), "{}", text(&out.stderr));
}

#[test]
fn explain_traces_every_rule_of_the_action_type() {
    let out = probity(&["explain", "--policies", "gifts", "gifts/cash.json"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    assert!(stdout.starts_with("G-9 at 2026-03-01T10:00:00+08:00: deny"), "{stdout}");
    assert!(stdout.contains("rule cash_gift: fires: deny, breach"), "{stdout}");
    assert!(stdout.contains(r#"action.kind = "cash""#), "{stdout}");
    assert!(stdout.contains("duty gift_register: starts an obligation due 2026-03-31T10:00:00+08:00"), "{stdout}");
    assert!(stdout.contains("gifts/conduct: 0 points in the last 1 year + 3 new = 3"), "{stdout}");
    let out = probity(&["explain", "--format", "json", "--policies", "gifts", "gifts/cash.json"]);
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(json["decision"]["verdict"], "deny");
    assert_eq!(json["rules"][0]["clauses"][0]["values"]["action.kind"], "cash");
}

#[test]
fn test_coverage_lists_what_never_fired() {
    let spec = fixtures().join("../../../../tests/spec/09_ladders.yaml");
    let out = probity(&["test", "--coverage", spec.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(0));
    let stdout = text(&out.stdout);
    assert!(stdout.contains("discipline@1: 2/3 rules fired, 4/5 ladder steps reached"), "{stdout}");
    assert!(stdout.contains("never fired: trade_error_breach"), "{stdout}");
    assert!(stdout.contains("never reached: discipline: termination"), "{stdout}");
    assert!(stdout.contains("lite@1: 1/1 rules fired, 0/1 ladder steps reached"), "{stdout}");
    assert!(stdout.contains("total: 7/10 rules and ladder steps (70.0%)"), "{stdout}");
}

#[test]
fn test_fails_under_the_coverage_asked_for() {
    let spec = fixtures().join("../../../../tests/spec/09_ladders.yaml");
    let spec = spec.to_str().unwrap();
    // 7 of the 10 rules and steps are exercised: 70 % passes, 71 % does not.
    let out = probity(&["test", "--fail-under", "70", spec]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stdout));
    assert!(text(&out.stdout).contains("never fired: trade_error_breach"), "the report is printed");
    let out = probity(&["test", "--fail-under", "71", spec]);
    assert_eq!(out.status.code(), Some(1));
    let stdout = text(&out.stdout);
    assert!(stdout.contains("passed, 0 failed\ncoverage is under the 71% asked for"), "{stdout}");
    let out = probity(&["test", "--fail-under", "101", spec]);
    assert_eq!(out.status.code(), Some(2), "a percentage above 100 is a usage error");
}

#[test]
fn diff_reports_what_a_new_version_changes() {
    let out = probity(&["diff", "--old", "gifts", "--new", "gifts_strict", "gifts/events.jsonl"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    assert!(stdout.starts_with("3 events replayed, 1 decisions differ, 1 lines unusable"), "{stdout}");
    assert!(stdout.contains("allow → deny: 1  (e.g. G-1)"), "{stdout}");
    assert!(stdout.contains("gifts/cash_gift (rule): 1  (e.g. G-1)"), "{stdout}");
    let out = probity(&["diff", "--format", "json", "--old", "gifts", "--new", "gifts_strict", "gifts/events.jsonl"]);
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(json["verdicts"]["allow → deny"]["count"], 1);
    assert_eq!(json["removed"], serde_json::json!({}));
}

#[test]
fn fmt_rewrites_files_and_check_reports_the_ones_that_would_change() {
    let dir = std::env::temp_dir().join(format!("probity-fmt-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let messy = "policy p version \"1\" effective 2026-01-01   # header\naction sale { amount: money, n: int }\n\
                 rule big on sale when ((action.amount >= 500 CNY)) then deny\n";
    let file = dir.join("p.probity");
    std::fs::write(&file, messy).unwrap();
    let path = dir.to_str().unwrap();

    let out = probity(&["fmt", "--check", path]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    assert!(stdout.contains("would reformat") && stdout.contains("p.probity"), "{stdout}");
    assert!(stdout.contains("-rule big on sale when ((action.amount >= 500 CNY)) then deny"), "{stdout}");
    assert!(stdout.contains("+  when action.amount >= 500 CNY"), "{stdout}");
    assert_eq!(std::fs::read_to_string(&file).unwrap(), messy, "--check changes nothing");

    let out = probity(&["fmt", path]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert_eq!(
        std::fs::read_to_string(&file).unwrap(),
        "policy p\n  version \"1\"\n  effective 2026-01-01  # header\n\naction sale {\n  amount: money\n  n: int\n}\n\n\
         rule big\n  on sale\n  when action.amount >= 500 CNY\n  then deny\n"
    );
    let out = probity(&["fmt", "--check", path]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(out.stdout.is_empty());

    std::fs::write(dir.join("broken.probity"), "policy p version \"1\"\nrule r on sale when (1 > then deny\n").unwrap();
    let out = probity(&["fmt", path]);
    assert_eq!(out.status.code(), Some(1));
    let err = text(&out.stderr);
    assert!(err.contains("broken.probity") && err.contains("P0001"), "{err}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn as_of_is_read_by_the_one_timestamp_parser() {
    // The same parser as action timestamps: second 60 and a missing offset are refused, with
    // the engine's wording, before any event is read.
    for (as_of, expected) in [
        ("2026-06-30T23:59:60+08:00", "has second 60: leap seconds are not accepted"),
        ("2026-06-01T00:00:00", "has no UTC offset"),
        ("soon", "is not an RFC 3339 timestamp"),
    ] {
        let out = probity(&["replay", "--policies", "gifts", "gifts/events.jsonl", "--as-of", as_of]);
        assert_eq!(out.status.code(), Some(2), "{as_of}");
        assert!(out.stdout.is_empty(), "{as_of}");
        let err = text(&out.stderr);
        assert!(err.contains(&format!("--as-of: `{as_of}` {expected}")), "{as_of}: {err}");
    }
    let out = probity(&["replay", "--policies", "gifts", "gifts/events.jsonl", "--as-of", "2026-06-01T00:00:00.5Z"]);
    assert_eq!(out.status.code(), Some(1), "fractional seconds are fine: {}", text(&out.stderr));
}
