//! `docs/language.md` is checked like code: its policy examples load (or fail with the code they
//! name), its decision example is what the engine decides, its test files pass under
//! `probity test`, it names every word of the grammar, and the repository's links into it resolve.
//!
//! Fence tags: ` ```probity ` (a complete file: no error, no warning), ` ```probity fragment `
//! (declarations loaded after a minimal header: no error), ` ```probity error=P0301 ` (with or
//! without `fragment`: loading fails with that code), ` ```json probity-action ` and
//! ` ```json probity-decision ` (the decision on that action under the complete policy shown before the action, digests
//! aside; with `require-policy`, under `PolicySet::require_policy(true)`), ` ```json probity-overdue advance=TIME ` (the one overdue report of a ledger given that
//! action and advanced to TIME), ` ```yaml probity-test ` (a test file that must pass); any other
//! ` ```json ` block must at least be JSON.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    clippy::arithmetic_side_effects
)]

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;

use probity::{Engine, PolicySet, Severity};

/// How the repository links into the reference (spelled in two pieces so this file does not match).
const LINK: &str = concat!("language", ".md#");

const FRAGMENT_HEADER: &str = "policy example version \"1\" effective 2026-01-01 timezone \"Asia/Shanghai\"\n";

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn doc() -> String {
    std::fs::read_to_string(root().join("docs/language.md")).unwrap()
}

/// A fenced block: its info string, its body and the line its opening fence is on.
struct Block {
    info: String,
    body: String,
    line: usize,
}

fn blocks(text: &str) -> Vec<Block> {
    let mut out = Vec::new();
    let mut open: Option<Block> = None;
    for (i, line) in text.lines().enumerate() {
        match (&mut open, line.strip_prefix("```")) {
            (None, Some(info)) => {
                open = Some(Block { info: info.trim().to_string(), body: String::new(), line: i + 1 })
            }
            (Some(_), Some("")) => out.extend(open.take()),
            (Some(b), _) => {
                b.body.push_str(line);
                b.body.push('\n');
            }
            (None, None) => {}
        }
    }
    assert!(open.is_none(), "an unclosed fence");
    out
}

/// The inline code spans of the prose (outside fences).
fn code_spans(text: &str) -> Vec<String> {
    let mut prose = String::new();
    let mut fenced = false;
    for line in text.lines() {
        if line.starts_with("```") {
            fenced = !fenced;
        } else if !fenced {
            prose.push_str(line);
            prose.push('\n');
        }
    }
    let mut spans = Vec::new();
    let mut rest = prose.as_str();
    while let Some(start) = rest.find('`') {
        let after = &rest[start..];
        let ticks = after.len() - after.trim_start_matches('`').len();
        let body = &after[ticks..];
        let Some(end) = body.find(&"`".repeat(ticks)) else { break };
        spans.push(body[..end].to_string());
        rest = &body[end + ticks..];
    }
    spans
}

fn normalise_digests(v: &mut serde_json::Value) {
    match v {
        serde_json::Value::Object(map) => {
            for (k, x) in map.iter_mut() {
                if k == "digest" {
                    *x = serde_json::Value::String("sha256:…".into());
                } else {
                    normalise_digests(x);
                }
            }
        }
        serde_json::Value::Array(items) => items.iter_mut().for_each(normalise_digests),
        _ => {}
    }
}

#[test]
fn every_example_loads_decides_and_passes() {
    let text = doc();
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("language_doc");
    std::fs::create_dir_all(&dir).unwrap();
    let mut failures = Vec::new();
    let (mut policies, mut tests, mut decisions) = (0, 0, 0);
    let mut last_policy: Option<String> = None;
    let mut last_action: Option<(String, String)> = None;
    for b in blocks(&text) {
        let words: Vec<&str> = b.info.split_whitespace().collect();
        let at = format!("docs/language.md:{}", b.line);
        match words.first().copied() {
            Some("probity") => {
                policies += 1;
                let mut fragment = false;
                let mut expected_code = None;
                for w in &words[1..] {
                    match *w {
                        "fragment" => fragment = true,
                        w if w.starts_with("error=") => expected_code = Some(w["error=".len()..].to_string()),
                        other => failures.push(format!("{at}: unknown fence tag `{other}`")),
                    }
                }
                let source = if fragment { format!("{FRAGMENT_HEADER}{}", b.body) } else { b.body.clone() };
                // Named by the document's path, so that list and calendar files are read from docs/.
                let named = root().join(&at).display().to_string();
                let diagnostics = PolicySet::diagnose([(named, source.clone())]);
                let codes: Vec<&str> = diagnostics.iter().map(|d| d.code()).collect();
                match expected_code {
                    Some(code) => {
                        if !diagnostics.errors().any(|d| d.code() == code) {
                            failures.push(format!("{at}: expected error {code}, got {codes:?}"));
                        }
                    }
                    None if fragment => {
                        if diagnostics.has_errors() {
                            failures.push(format!("{at}: the fragment does not load:\n{}", diagnostics.render()));
                        }
                    }
                    None => {
                        if diagnostics.is_empty() {
                            last_policy = Some(source);
                        } else {
                            failures.push(format!("{at}: a complete example must be clean:\n{}", diagnostics.render()));
                            last_policy = None;
                        }
                    }
                }
                assert!(diagnostics.iter().all(|d| matches!(d.severity(), Severity::Error | Severity::Warning)));
            }
            // An action is decided under the complete policy shown before it.
            Some("json") if words.get(1) == Some(&"probity-action") => {
                last_action = last_policy.clone().map(|p| (p, b.body.clone()));
            }
            Some("json") if words.get(1) == Some(&"probity-decision") => {
                decisions += 1;
                let Some((policy, action)) = &last_action else {
                    failures.push(format!("{at}: a decision needs a complete policy and an action before it"));
                    continue;
                };
                let require = match words.get(2..) {
                    Some([]) | None => false,
                    Some(["require-policy"]) => true,
                    Some(other) => {
                        failures.push(format!("{at}: unknown decision tags {other:?}"));
                        continue;
                    }
                };
                let set = PolicySet::from_sources([("doc.probity", policy.as_str())]).unwrap().require_policy(require);
                let decision = Engine::new(set).evaluate_json(action, None).unwrap();
                let mut actual = serde_json::to_value(&decision).unwrap();
                normalise_digests(&mut actual);
                let mut expected: serde_json::Value = serde_json::from_str(&b.body).unwrap();
                normalise_digests(&mut expected);
                if actual != expected {
                    failures
                        .push(format!("{at}: the engine decides\n{}", serde_json::to_string_pretty(&actual).unwrap()));
                }
            }
            Some("json") if words.get(1) == Some(&"probity-overdue") => {
                decisions += 1;
                let (Some((policy, action)), Some(advance)) =
                    (&last_action, words.get(2).and_then(|w| w.strip_prefix("advance=")))
                else {
                    failures.push(format!("{at}: an overdue report needs a policy, an action and `advance=TIME`"));
                    continue;
                };
                let set = PolicySet::from_sources([("doc.probity", policy.as_str())]).unwrap();
                let mut ledger = Engine::new(set).ledger();
                ledger.submit(&probity::Action::from_json(action).unwrap()).unwrap();
                let reports = ledger.advance_to(probity::parse_timestamp(advance).unwrap());
                let mut actual = serde_json::to_value(&reports).unwrap();
                normalise_digests(&mut actual);
                let expected: serde_json::Value = serde_json::from_str(&b.body).unwrap();
                if actual != serde_json::Value::Array(vec![expected]) {
                    failures
                        .push(format!("{at}: the ledger reports\n{}", serde_json::to_string_pretty(&actual).unwrap()));
                }
            }
            Some("yaml") if words.get(1) == Some(&"probity-test") => {
                tests += 1;
                let path = dir.join(format!("example_{}.yaml", b.line));
                std::fs::write(&path, &b.body).unwrap();
                let out = Command::new(env!("CARGO_BIN_EXE_probity")).arg("test").arg(&path).output().unwrap();
                let stdout = String::from_utf8_lossy(&out.stdout);
                let ran =
                    stdout.lines().last().is_some_and(|l| l.ends_with(" passed, 0 failed") && !l.starts_with("0 "));
                if !out.status.success() || !ran {
                    failures.push(format!(
                        "{at}: `probity test` failed:\n{stdout}{}",
                        String::from_utf8_lossy(&out.stderr)
                    ));
                }
                std::fs::remove_file(&path).unwrap();
            }
            Some("json") if words.len() == 1 => {
                if let Err(e) = serde_json::from_str::<serde_json::Value>(&b.body) {
                    failures.push(format!("{at}: not JSON: {e}"));
                }
            }
            Some(tag) if tag.starts_with("probity") || b.info.contains("probity") => {
                failures.push(format!("{at}: unknown fence `{}`", b.info));
            }
            _ => {}
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
    assert!(policies >= 15 && tests >= 1 && decisions >= 1, "examples went missing: {policies} {tests} {decisions}");
}

#[test]
fn a_wrong_example_fails_the_check() {
    // The checker the test relies on does reject what a doc example might get wrong.
    let unknown = PolicySet::diagnose([("x", format!("{FRAGMENT_HEADER}rule r cite \"x\" on nothing then review\n"))]);
    assert!(unknown.errors().any(|d| d.code() == "P0103"));
    let warned = PolicySet::diagnose([("x", format!("{FRAGMENT_HEADER}action a {{ }}\nrule r on a then review\n"))]);
    assert!(!warned.has_errors() && !warned.is_empty(), "a rule without `cite` is warned about");
}

fn grammar() -> String {
    fn find(dir: &Path) -> Option<PathBuf> {
        for entry in std::fs::read_dir(dir).ok()? {
            let path = entry.ok()?.path();
            if path.is_dir() {
                if let Some(p) = find(&path) {
                    return Some(p);
                }
            } else if path.file_name().is_some_and(|n| n == "grammar.pest") {
                return Some(path);
            }
        }
        None
    }
    let path = find(&root().join("crates/probity/src")).expect("grammar.pest");
    std::fs::read_to_string(path).unwrap()
}

#[test]
fn every_word_of_the_grammar_is_documented_in_backticks() {
    let grammar = grammar();
    let mut words = BTreeSet::new();
    for line in grammar.lines().filter(|l| !l.trim_start().starts_with("//")) {
        for piece in line.split('"').skip(1).step_by(2) {
            if piece.len() > 1 && piece.bytes().all(|c| c.is_ascii_lowercase() || c == b'_') {
                words.insert(piece.to_string());
            }
        }
    }
    assert!(words.len() > 60 && words.contains("fulfilled") && words.contains("escalate"), "{words:?}");
    let documented: BTreeSet<String> = code_spans(&doc())
        .iter()
        .flat_map(|s| {
            s.split(|c: char| !(c.is_ascii_alphanumeric() || c == '_')).map(str::to_string).collect::<Vec<_>>()
        })
        .collect();
    let missing: Vec<&String> = words.iter().filter(|w| !documented.contains(*w)).collect();
    assert!(missing.is_empty(), "words of the grammar not in any `code span` of docs/language.md: {missing:?}");
    assert!(doc().lines().count() >= 300);
}

/// GitHub's anchor for a heading: lowercase, punctuation dropped, spaces as hyphens.
fn slug(heading: &str) -> String {
    heading
        .trim()
        .to_lowercase()
        .chars()
        .filter(|c| c.is_alphanumeric() || *c == ' ' || *c == '-' || *c == '_')
        .map(|c| if c == ' ' { '-' } else { c })
        .collect()
}

/// Every text file of the repository, outside build output and installed packages.
fn repository_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_string_lossy().to_string();
        if path.is_dir() {
            if !matches!(name.as_str(), "target" | ".git" | "node_modules" | ".venv" | "__pycache__") {
                repository_files(&path, out);
            }
        } else {
            out.push(path);
        }
    }
}

#[test]
fn the_repository_names_no_outside_document_and_its_links_into_the_reference_resolve() {
    let mut fenced = false;
    let mut anchors = BTreeSet::new();
    for line in doc().lines() {
        fenced ^= line.starts_with("```");
        if let Some(heading) = line.strip_prefix('#').filter(|_| !fenced) {
            anchors.insert(slug(heading.trim_start_matches('#')));
        }
    }
    // Spelled in pieces so that this file does not name them itself.
    let outside: Vec<String> = ["DESIGN", "TOOLCHAIN", "STYLE"]
        .iter()
        .map(|n| format!("{n}.md"))
        .chain([format!("/work/{}", "shared")])
        .collect();
    let mut files = Vec::new();
    repository_files(&root(), &mut files);
    let mut problems = Vec::new();
    let mut links = 0;
    for path in &files {
        let Ok(text) = std::fs::read_to_string(path) else { continue };
        let shown = path.strip_prefix(root()).unwrap_or(path).display().to_string();
        for name in &outside {
            if text.contains(name.as_str()) {
                problems.push(format!("{shown} names `{name}`, a document outside the repository"));
            }
        }
        for (i, _) in text.match_indices(LINK) {
            links += 1;
            let anchor: String =
                text[i + LINK.len()..].chars().take_while(|c| c.is_alphanumeric() || *c == '-' || *c == '_').collect();
            if !anchors.contains(&anchor) {
                problems.push(format!("{shown} links to `{LINK}{anchor}`, which is no heading"));
            }
        }
        // The document's own links.
        if shown == "docs/language.md" {
            for (i, _) in text.match_indices("](#") {
                let anchor: String = text[i + 3..].chars().take_while(|c| *c != ')').collect();
                if !anchors.contains(&anchor) {
                    problems.push(format!("docs/language.md links to `#{anchor}`, which is no heading"));
                }
            }
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
    assert!(links >= 5, "the code's pointers into docs/language.md went missing ({links})");
}
