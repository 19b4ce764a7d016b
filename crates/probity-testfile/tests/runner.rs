//! The runner's behaviour: the text of every kind of failure, byte for byte; the structured
//! results behind it; coverage; the bounds on test files and the places policy paths may lead.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use probity_testfile::{find, run_file, Error, Failure, FileResult, Mismatch, Runner, Subject};

fn fixtures() -> PathBuf {
    PathBuf::from("tests/fixtures")
}

/// A file's results as `probity test` prints them.
fn text(result: &FileResult) -> String {
    let mut out = format!("{} — {}\n", result.path.display(), result.name);
    for case in &result.cases {
        let _ = writeln!(out, "  {} {}", if case.passed() { '✓' } else { '✗' }, case.name);
        for failure in &case.failures {
            for line in failure.to_string().lines() {
                let _ = writeln!(out, "      {line}");
            }
        }
    }
    out
}

#[test]
fn every_failure_reads_as_the_cli_printed_it_before_the_move() {
    // failing.txt is what `probity test --coverage` printed for failing.yaml when the runner was
    // still part of the CLI.
    let mut runner = Runner::new();
    let result = runner.run(&fixtures().join("failing.yaml")).unwrap();
    let mut out = text(&result);
    out.push_str(&runner.coverage().report());
    let _ = writeln!(out, "{} passed, {} failed", result.passed(), result.failed());
    let expected = std::fs::read_to_string(fixtures().join("failing.txt")).unwrap();
    assert_eq!(out, expected);
}

#[test]
fn a_step_failure_holds_each_key_that_differs_in_table_order() {
    let result = run_file(&fixtures().join("failing.yaml")).unwrap();
    assert_eq!((result.passed(), result.failed()), (1, 9));
    let Failure::Step { number, subject, mismatches } = &result.cases[1].failures[0] else { panic!() };
    assert_eq!((*number, subject), (1, &Subject::Action("G-1".into())));
    let keys: Vec<&str> = mismatches
        .iter()
        .map(|m| match m {
            Mismatch::Differs { key, .. } => *key,
            other => panic!("{other:?}"),
        })
        .collect();
    assert_eq!(
        keys,
        ["verdict", "policies", "findings", "obligations", "fulfilled", "overdue", "escalations", "sanctions"]
    );
    assert_eq!(mismatches[0], Mismatch::Differs { key: "verdict", expected: "allow".into(), actual: "deny".into() });
    let Failure::Step { subject, mismatches, .. } = &result.cases[2].failures[0] else { panic!() };
    assert_eq!(subject, &Subject::Advance("2026-04-01T10:00:00+08:00".into()));
    assert_eq!(mismatches[0], Mismatch::NotAfterAdvance("verdict"));
    assert_eq!(mismatches.len(), 8);
    assert_eq!(result.cases[3].failures, [Failure::Loaded]);
    assert!(matches!(&result.cases[4].failures[..], [Failure::Stopped(m)] if m.starts_with("invalid history: ")));
}

#[test]
fn a_load_error_on_another_line_lists_the_errors_and_policies_that_do_not_load_carry_their_diagnostics() {
    let result = run_file(&fixtures().join("load_errors.yaml")).unwrap();
    assert_eq!(result.failed(), 2);
    let [Failure::NoErrorOnLine { line: 2, errors }] = &result.cases[0].failures[..] else { panic!() };
    assert_eq!(errors.len(), 1);
    assert!(errors[0].contains("load_errors.yaml#1:4:6") && errors[0].contains("P0103"), "{errors:?}");
    let [Failure::NotLoaded(diagnostics)] = &result.cases[1].failures[..] else { panic!() };
    assert_eq!(diagnostics.errors().count(), 1);
    let shown = result.cases[1].failures[0].to_string();
    assert!(shown.starts_with("the policies did not load:\n") && shown.contains("unknown action type `nothing`"));
}

#[test]
fn coverage_counts_rules_and_steps_together_and_meets_a_percentage_in_integers() {
    let mut runner = Runner::new();
    let result = runner.run(Path::new("../../tests/spec/09_ladders.yaml")).unwrap();
    assert_eq!(result.failed(), 0);
    let coverage = runner.coverage();
    assert_eq!(coverage.totals(), (7, 10));
    assert!(coverage.meets(70) && !coverage.meets(71) && !coverage.complete());
    let report = coverage.report();
    assert!(report.contains("discipline@1: 2/3 rules fired, 4/5 ladder steps reached\n"), "{report}");
    assert!(report.contains("    never fired: trade_error_breach\n"), "{report}");
    assert!(report.contains("    never reached: discipline: termination\n"), "{report}");
    assert!(report.ends_with("  total: 7/10 rules and ladder steps (70.0%)\n"), "{report}");
    // Nothing to exercise is complete, and shown as 100 %.
    let empty = Runner::new();
    assert!(empty.coverage().complete() && empty.coverage().meets(100));
    assert_eq!(empty.coverage().report(), "coverage\n  total: 0/0 rules and ladder steps (100.0%)\n");
}

#[test]
fn coverage_counts_periodic_duties_under_the_version_of_the_periods_last_day() {
    let mut runner = Runner::new();
    let result = runner.run(Path::new("../../tests/spec/11_periodic.yaml")).unwrap();
    assert_eq!(result.failed(), 0);
    let report = runner.coverage().report();
    // The case of two versions: only version 2 checked a period (ending after it took effect).
    assert!(report.contains("  ops@2: 1/1 rules fired, 1/1 ladder steps reached\n"), "{report}");
    assert!(report.contains("  training@1: 1/1 rules fired"), "{report}");
    assert!(runner.coverage().complete(), "{report}");
}

#[test]
fn find_takes_files_as_given_and_searches_directories_for_yaml_in_path_order() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("b/c")).unwrap();
    for name in ["b/c/z.yaml", "b/a.yaml", "b/notes.txt", "a.yml", "m.yaml"] {
        std::fs::write(dir.path().join(name), "").unwrap();
    }
    let given = dir.path().join("a.yml");
    let found = find(&[dir.path().to_path_buf(), given.clone()]).unwrap();
    let names: Vec<String> = found.iter().map(|p| p.strip_prefix(dir.path()).unwrap().display().to_string()).collect();
    assert_eq!(names, ["b/a.yaml", "b/c/z.yaml", "m.yaml", "a.yml"]);
    let missing = find(&[dir.path().join("nope")]).unwrap_err();
    assert!(matches!(missing, Error::Missing { .. }));
    assert_eq!(missing.to_string(), format!("`{}` does not exist", dir.path().join("nope").display()));
}

#[test]
fn a_deeply_nested_test_file_is_refused_before_the_yaml_parser() {
    let dir = tempfile::tempdir().unwrap();
    let open = dir.path().join("open.yaml");
    let closed = dir.path().join("closed.yaml");
    std::fs::write(&open, format!("name: x\ncases: {}\n", "[".repeat(1_000_000))).unwrap();
    std::fs::write(&closed, format!("name: x\ncases: {}{}\n", "[".repeat(100_000), "]".repeat(100_000))).unwrap();
    for file in [open, closed] {
        let error = run_file(&file).unwrap_err();
        assert!(matches!(error, Error::TooDeep { line: 2, .. }), "{error:?}");
        assert_eq!(error.to_string(), format!("`{}`:2: brackets nest deeper than 64 levels", file.display()));
    }
}

#[test]
fn a_test_file_that_cannot_be_used_is_an_error_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    let path = |name: &str| dir.path().join(name);
    std::fs::write(path("key.yaml"), "name: x\ncases: []\ncase: []\n").unwrap();
    std::fs::write(path("bytes.yaml"), b"name: x\n  # \xff\ncases: []\n").unwrap();
    std::fs::File::create(path("huge.yaml")).unwrap().set_len(probity_testfile::MAX_TEST_FILE_BYTES + 1).unwrap();
    std::fs::create_dir(path("dir.yaml")).unwrap();
    let error = run_file(&path("key.yaml")).unwrap_err();
    assert!(matches!(error, Error::Invalid { .. }), "{error:?}");
    assert!(error.to_string().contains("key.yaml` is not a valid test file: unknown field `case`"), "{error}");
    let error = run_file(&path("bytes.yaml")).unwrap_err();
    assert_eq!(error.to_string(), format!("`{}`:2:5: the text is not UTF-8", path("bytes.yaml").display()));
    let error = run_file(&path("huge.yaml")).unwrap_err();
    assert!(matches!(error, Error::TooLarge { size: Some(16_777_217), limit: 16_777_216, .. }), "{error:?}");
    assert!(error.to_string().ends_with("is 16777217 bytes, more than the limit of 16777216"), "{error}");
    let error = run_file(&path("dir.yaml")).unwrap_err();
    assert!(error.to_string().ends_with("dir.yaml`: not a regular file"), "{error}");
    assert!(matches!(run_file(&path("none.yaml")), Err(Error::Unreadable { .. })));
}

#[test]
fn a_test_file_reads_policies_only_inside_its_directory_or_the_roots_allowed() {
    let dir = tempfile::tempdir().unwrap();
    let sub = dir.path().join("suite/sub");
    std::fs::create_dir_all(&sub).unwrap();
    std::fs::copy(fixtures().join("gifts.probity"), dir.path().join("suite/gifts.probity")).unwrap();
    std::os::unix::fs::symlink("/dev/zero", sub.join("zero.probity")).unwrap();
    let case = |policy: &str| format!("name: t\npolicies: [{policy}]\ncases:\n  - name: c\n    steps: []\n");
    std::fs::write(sub.join("passwd.yaml"), case("/etc/passwd")).unwrap();
    std::fs::write(sub.join("zero.yaml"), case("zero.probity")).unwrap();
    std::fs::write(sub.join("up.yaml"), case("../gifts.probity")).unwrap();
    for file in ["passwd.yaml", "zero.yaml", "up.yaml"] {
        let result = run_file(&sub.join(file)).unwrap();
        let [Failure::Stopped(message)] = &result.cases[0].failures[..] else { panic!("{file}: {result:?}") };
        assert!(message.contains("outside the test file's directory"), "{file}: {message}");
    }
    // Under a root allowed, `..` may lead to a sibling policy; what is not a regular file stays refused.
    let mut runner = Runner::new().allow(&[dir.path().join("suite")]);
    assert!(runner.run(&sub.join("up.yaml")).unwrap().cases[0].passed());
    std::fs::create_dir(sub.join("dir.probity")).unwrap();
    std::fs::write(sub.join("dir.yaml"), case("dir.probity")).unwrap();
    let result = runner.run(&sub.join("dir.yaml")).unwrap();
    let expected = format!("policy: cannot read `{}`: not a regular file", sub.join("dir.probity").display());
    assert_eq!(result.cases[0].failures[0].to_string(), expected);
    assert_eq!(runner.coverage().totals(), (0, 5), "the policy that loaded was learned");
}

#[test]
fn a_restricting_step_is_covered_by_its_restriction_finding_not_by_being_reached() {
    let dir = tempfile::tempdir().unwrap();
    let policy = "    policy p version \"1\" effective 2026-01-01\n    action bad { }\n    action sale { }\n    \
                  rule r cite \"c\" on bad then breach minor\n    ladder l window 30 days points minor 1\n      \
                  step 1 \"warning\"\n      step 2 \"suspension\" restricts sale for 10 days\n";
    let step = |ty: &str, id: &str, day: u32| {
        format!("      - action: {{type: {ty}, id: {id}, at: \"2026-03-{day:02}T10:00:00Z\", rm: {{id: R1}}}}\n")
    };
    let file = |steps: &str| format!("name: t\npolicies:\n  - |\n{policy}cases:\n  - name: c\n    steps:\n{steps}");
    // Reached, but no later sale: the restricting step is not covered.
    let reached = [step("bad", "B-1", 1), step("bad", "B-2", 2)].concat();
    std::fs::write(dir.path().join("reached.yaml"), file(&reached)).unwrap();
    let mut runner = Runner::new();
    assert!(runner.run(&dir.path().join("reached.yaml")).unwrap().cases[0].passed());
    assert_eq!(runner.coverage().totals(), (2, 3), "the rule and the warning");
    assert!(runner.coverage().report().contains("never reached: l: suspension"), "{}", runner.coverage().report());
    // A sale the step restricts covers it.
    let restricted = [reached, step("sale", "S-1", 3)].concat();
    std::fs::write(dir.path().join("restricted.yaml"), file(&restricted)).unwrap();
    let mut runner = Runner::new();
    assert!(runner.run(&dir.path().join("restricted.yaml")).unwrap().cases[0].passed());
    assert_eq!(runner.coverage().totals(), (3, 3));
}
