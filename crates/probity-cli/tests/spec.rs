//! The acceptance corpus: every case of `tests/spec/*.yaml` must pass.

use std::path::PathBuf;

#[test]
fn spec_corpus_passes() {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/spec");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "yaml"))
        .collect();
    files.sort();
    assert!(files.len() >= 9, "the corpus is missing files");
    let mut failures = Vec::new();
    let mut passed = 0;
    for file in &files {
        let (_, results) = probity_cli::testfile::run_file(file).unwrap();
        for r in results {
            if r.passed() {
                passed += 1;
            } else {
                failures.push(format!("{} — {}\n{}", file.display(), r.name, r.failures.join("\n")));
            }
        }
    }
    assert!(failures.is_empty(), "{} passed, {} failed:\n{}", passed, failures.len(), failures.join("\n\n"));
}
