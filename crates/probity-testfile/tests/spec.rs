//! The acceptance corpus and the policies' own tests: every case must pass.

use std::path::PathBuf;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

#[test]
fn spec_corpus_passes() {
    let files = probity_testfile::find(&[root().join("tests/spec")]).unwrap();
    assert!(files.len() >= 9, "the corpus is missing files");
    let mut failures = Vec::new();
    let mut passed = 0;
    for file in &files {
        let result = probity_testfile::run_file(file).unwrap();
        for r in result.cases {
            if r.passed() {
                passed += 1;
            } else {
                let text: Vec<String> = r.failures.iter().map(ToString::to_string).collect();
                failures.push(format!("{} — {}\n{}", file.display(), r.name, text.join("\n")));
            }
        }
    }
    assert!(failures.is_empty(), "{} passed, {} failed:\n{}", passed, failures.len(), failures.join("\n\n"));
    assert_eq!(passed, 138);
}

#[test]
fn the_policies_tests_pass_and_exercise_every_rule_and_step() {
    let roots = [root().join("policies")];
    let mut runner = probity_testfile::Runner::new().allow(&roots);
    let mut passed = 0;
    for file in probity_testfile::find(&roots).unwrap() {
        let result = runner.run(&file).unwrap();
        assert_eq!(result.failed(), 0, "{}", file.display());
        passed += result.passed();
    }
    assert_eq!(passed, 278);
    assert!(runner.coverage().complete(), "{}", runner.coverage().report());
    assert!(runner.coverage().meets(100));
    assert!(runner.coverage().report().ends_with("  total: 262/262 rules and ladder steps (100.0%)\n"));
}
