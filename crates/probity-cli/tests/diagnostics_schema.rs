#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]
//! `probity check --format json` against `docs/diagnostics.schema.json`, checked by a small
//! validator that knows exactly the keywords the schema uses (and refuses any other, so the two
//! cannot drift apart unnoticed).

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::{json, Value};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn schema() -> Value {
    let path = root().join("docs/diagnostics.schema.json");
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).expect("the schema is not JSON")
}

/// Runs `probity check --format json [extra] PATH…`: the exit status and the parsed output.
fn check(extra: &[&str], paths: &[&Path]) -> (Option<i32>, Value) {
    let out = Command::new(env!("CARGO_BIN_EXE_probity"))
        .args(["check", "--format", "json"])
        .args(extra)
        .args(paths)
        .output()
        .unwrap();
    let stdout = String::from_utf8(out.stdout).unwrap();
    let value = serde_json::from_str(&stdout).unwrap_or_else(|e| {
        panic!("the output is not JSON ({e}):\n{stdout}\nstderr:\n{}", String::from_utf8_lossy(&out.stderr))
    });
    (out.status.code(), value)
}

/// A fresh directory under the system's temporary directory, removed when dropped.
struct TempDir(PathBuf);

impl TempDir {
    fn new(name: &str, files: &[(&str, &str)]) -> TempDir {
        let dir = std::env::temp_dir().join(format!("probity-diagnostics-schema-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        for (file, text) in files {
            std::fs::write(dir.join(file), text).unwrap();
        }
        TempDir(dir)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

// ------------------------------------------------------------------ the validator

/// Keywords that only annotate.
const ANNOTATIONS: &[&str] = &["$schema", "$id", "$comment", "title", "description"];

/// Appends to `errors` every way `value` breaks `schema` (`at` names the place in the value).
fn validate(schema: &Value, value: &Value, at: &str, errors: &mut Vec<String>) {
    let Some(map) = schema.as_object() else { panic!("the schema at {at} is not an object") };
    for (keyword, arg) in map {
        match keyword.as_str() {
            k if ANNOTATIONS.contains(&k) => {}
            "type" => {
                let types: Vec<&str> = match arg {
                    Value::String(t) => vec![t.as_str()],
                    Value::Array(ts) => ts.iter().map(|t| t.as_str().unwrap()).collect(),
                    other => panic!("`type` at {at} is {other}"),
                };
                if !types.iter().any(|t| has_type(value, t)) {
                    errors.push(format!("{at}: expected {}, found {value}", types.join(" or ")));
                }
            }
            "enum" => {
                if !arg.as_array().unwrap().contains(value) {
                    errors.push(format!("{at}: {value} is not one of {arg}"));
                }
            }
            "const" => {
                if arg != value {
                    errors.push(format!("{at}: {value} is not {arg}"));
                }
            }
            "required" => {
                if let Some(object) = value.as_object() {
                    for key in arg.as_array().unwrap() {
                        let key = key.as_str().unwrap();
                        if !object.contains_key(key) {
                            errors.push(format!("{at}: `{key}` is missing"));
                        }
                    }
                }
            }
            "properties" => {
                if let Some(object) = value.as_object() {
                    for (key, sub) in arg.as_object().unwrap() {
                        if let Some(v) = object.get(key) {
                            validate(sub, v, &format!("{at}.{key}"), errors);
                        }
                    }
                }
            }
            "additionalProperties" => {
                if let Some(object) = value.as_object() {
                    let known = map.get("properties").and_then(Value::as_object);
                    for (key, v) in object {
                        if known.is_some_and(|k| k.contains_key(key)) {
                            continue;
                        }
                        match arg {
                            Value::Bool(true) => {}
                            Value::Bool(false) => errors.push(format!("{at}: `{key}` is not allowed")),
                            sub => validate(sub, v, &format!("{at}.{key}"), errors),
                        }
                    }
                }
            }
            "items" => {
                if let Some(items) = value.as_array() {
                    for (i, v) in items.iter().enumerate() {
                        validate(arg, v, &format!("{at}[{i}]"), errors);
                    }
                }
            }
            "maxItems" => {
                if let Some(items) = value.as_array() {
                    if items.len() as u64 > arg.as_u64().unwrap() {
                        errors.push(format!("{at}: more than {arg} items"));
                    }
                }
            }
            "minimum" => {
                if let Some(n) = value.as_f64() {
                    if n < arg.as_f64().unwrap() {
                        errors.push(format!("{at}: {value} is less than {arg}"));
                    }
                }
            }
            "minLength" => {
                if let Some(s) = value.as_str() {
                    if (s.chars().count() as u64) < arg.as_u64().unwrap() {
                        errors.push(format!("{at}: {value} is shorter than {arg}"));
                    }
                }
            }
            "pattern" => {
                if let Some(s) = value.as_str() {
                    if !pattern_matches(arg.as_str().unwrap(), s) {
                        errors.push(format!("{at}: {value} does not match {arg}"));
                    }
                }
            }
            "allOf" => {
                for sub in arg.as_array().unwrap() {
                    validate(sub, value, at, errors);
                }
            }
            "anyOf" => {
                let mut why = Vec::new();
                let matched = arg.as_array().unwrap().iter().any(|sub| {
                    let mut e = Vec::new();
                    validate(sub, value, at, &mut e);
                    why.extend(e.iter().cloned());
                    e.is_empty()
                });
                if !matched {
                    errors.push(format!("{at}: matches no branch of anyOf ({})", why.join("; ")));
                }
            }
            other => panic!("the validator does not know the keyword `{other}` (at {at}): teach it first"),
        }
    }
}

fn has_type(value: &Value, t: &str) -> bool {
    match t {
        "null" => value.is_null(),
        "boolean" => value.is_boolean(),
        "string" => value.is_string(),
        "array" => value.is_array(),
        "object" => value.is_object(),
        "number" => value.is_number(),
        // The CLI writes integers without a fraction; `1.0` would be a change worth noticing.
        "integer" => value.is_i64() || value.is_u64(),
        other => panic!("unknown type `{other}` in the schema"),
    }
}

/// Every keyword anywhere in the schema, so that unknown ones fail even where no value reaches.
fn check_keywords(schema: &Value, at: &str) {
    let Some(map) = schema.as_object() else { panic!("the schema at {at} is not an object") };
    for (keyword, arg) in map {
        match keyword.as_str() {
            "properties" => {
                for (key, sub) in arg.as_object().unwrap() {
                    check_keywords(sub, &format!("{at}.{key}"));
                }
            }
            "items" => check_keywords(arg, &format!("{at}[]")),
            "additionalProperties" if arg.is_object() => check_keywords(arg, &format!("{at}.*")),
            "anyOf" | "allOf" => {
                for (i, sub) in arg.as_array().unwrap().iter().enumerate() {
                    check_keywords(sub, &format!("{at}/{keyword}/{i}"));
                }
            }
            "type"
            | "enum"
            | "const"
            | "required"
            | "additionalProperties"
            | "maxItems"
            | "minimum"
            | "minLength"
            | "pattern" => {}
            k if ANNOTATIONS.contains(&k) => {}
            other => panic!("the validator does not know the keyword `{other}` (at {at})"),
        }
    }
}

/// One element of a pattern: a set of character ranges, repeated `min..=max` times.
struct Piece {
    ranges: Vec<(char, char)>,
    min: usize,
    max: usize,
}

/// A regular-expression subset, enough for the schema: `^`, `$`, literal characters, classes
/// such as `[PW]` and `[0-9]`, and the quantifiers `{n}`, `{n,m}`, `?`, `*` and `+`.
fn pattern_matches(pattern: &str, text: &str) -> bool {
    let mut chars = pattern.chars().peekable();
    let anchored_start = chars.next_if_eq(&'^').is_some();
    let mut pieces: Vec<Piece> = Vec::new();
    let mut anchored_end = false;
    while let Some(c) = chars.next() {
        let ranges = match c {
            '$' if chars.peek().is_none() => {
                anchored_end = true;
                break;
            }
            '[' => {
                let mut ranges = Vec::new();
                loop {
                    match chars.next() {
                        Some(']') => break,
                        Some(lo) => {
                            if chars.next_if_eq(&'-').is_some() {
                                let hi = chars.next().unwrap_or_else(|| panic!("unclosed range in {pattern}"));
                                ranges.push((lo, hi));
                            } else {
                                ranges.push((lo, lo));
                            }
                        }
                        None => panic!("unclosed class in {pattern}"),
                    }
                }
                ranges
            }
            '\\' | '.' | '(' | ')' | '|' | '{' | '}' | '*' | '+' | '?' | '^' | '$' => {
                panic!("`{c}` in {pattern} is beyond this small matcher")
            }
            literal => vec![(literal, literal)],
        };
        let (min, max) = match chars.peek() {
            Some('?') => (0, 1),
            Some('*') => (0, usize::MAX),
            Some('+') => (1, usize::MAX),
            Some('{') => {
                chars.next();
                let mut spec = String::new();
                for c in chars.by_ref() {
                    if c == '}' {
                        break;
                    }
                    spec.push(c);
                }
                let (lo, hi) = spec.split_once(',').unwrap_or((spec.as_str(), spec.as_str()));
                (lo.parse().unwrap(), if hi.is_empty() { usize::MAX } else { hi.parse().unwrap() })
            }
            _ => (1, 1),
        };
        if matches!(chars.peek(), Some('?' | '*' | '+')) {
            chars.next();
        }
        pieces.push(Piece { ranges, min, max });
    }
    let text: Vec<char> = text.chars().collect();
    if anchored_start {
        match_here(&pieces, &text, anchored_end)
    } else {
        (0..=text.len()).any(|start| match_here(&pieces, &text[start..], anchored_end))
    }
}

fn match_here(pieces: &[Piece], text: &[char], anchored_end: bool) -> bool {
    let Some((first, rest)) = pieces.split_first() else { return !anchored_end || text.is_empty() };
    let fits = |c: &char| first.ranges.iter().any(|(lo, hi)| lo <= c && c <= hi);
    let available = text.iter().take(first.max).take_while(|c| fits(c)).count();
    (first.min..=available).rev().any(|n| match_here(rest, &text[n..], anchored_end))
}

fn assert_valid(schema: &Value, output: &Value, what: &str) {
    let mut errors = Vec::new();
    validate(schema, output, "$", &mut errors);
    assert!(errors.is_empty(), "{what}: the output does not match the schema:\n{}\n{output:#}", errors.join("\n"));
}

fn records(output: &Value) -> &Vec<Value> {
    output.as_array().expect("the output is not an array")
}

// ------------------------------------------------------------------ tests

#[test]
fn the_validator_knows_every_keyword_of_the_schema() {
    check_keywords(&schema(), "$");
}

#[test]
fn the_small_pattern_matcher_works() {
    for (pattern, text, expected) in [
        ("^[PW][0-9]{4}$", "P0102", true),
        ("^[PW][0-9]{4}$", "W0010", true),
        ("^[PW][0-9]{4}$", "E0102", false),
        ("^[PW][0-9]{4}$", "P010", false),
        ("^[PW][0-9]{4}$", "P01020", false),
        ("^[PW][0-9]{4}$", "p0102", false),
        ("^P", "P0102", true),
        ("^P", "W0102", false),
        ("[0-9]+x?$", "abc12x", true),
        ("a{2,}", "baab", true),
        ("a{2,}", "bab", false),
    ] {
        assert_eq!(pattern_matches(pattern, text), expected, "{pattern} on {text}");
    }
}

#[test]
fn errors_match_the_schema() {
    let schema = schema();
    let bad = root().join("crates/probity-cli/tests/fixtures/bad");
    let (status, output) = check(&[], &[&bad]);
    assert_eq!(status, Some(1));
    assert!(!records(&output).is_empty());
    assert_valid(&schema, &output, "fixtures/bad");

    let inputs = root().join("crates/probity/tests/inputs");
    if inputs.is_dir() {
        let (status, output) = check(&[], &[&inputs]);
        assert_eq!(status, Some(1));
        let list = records(&output);
        assert!(!list.is_empty());
        assert_valid(&schema, &output, "crates/probity/tests/inputs");
        // One problem per file at least, each pointing into its file.
        let files = std::fs::read_dir(&inputs)
            .unwrap()
            .filter(|e| e.as_ref().is_ok_and(|e| e.path().extension().is_some_and(|x| x == "probity")));
        for file in files {
            let path = file.unwrap().path().display().to_string();
            assert!(list.iter().any(|r| r["file"] == path.as_str()), "no diagnostic for {path}");
        }
    }

    // Several paths: one array, ordered by file.
    let spec_inputs = [bad.clone(), inputs.clone()];
    let paths: Vec<&Path> = spec_inputs.iter().map(PathBuf::as_path).filter(|p| p.is_dir()).collect();
    let (_, all) = check(&[], &paths);
    assert_valid(&schema, &all, "several paths");
    let files: Vec<&str> = records(&all).iter().map(|r| r["file"].as_str().unwrap()).collect();
    let mut sorted = files.clone();
    sorted.sort_unstable();
    assert_eq!(files, sorted, "records are not ordered by file");
}

#[test]
fn clean_policies_give_an_empty_array() {
    let schema = schema();
    let gifts = root().join("crates/probity-cli/tests/fixtures/gifts");
    let (status, output) = check(&[], &[&gifts]);
    assert_eq!(status, Some(0));
    assert_eq!(output, Value::Array(Vec::new()));
    assert_valid(&schema, &output, "fixtures/gifts");
    let (_, output) = check(&[], &[&root().join("policies")]);
    assert_valid(&schema, &output, "policies");
}

#[test]
fn warnings_match_the_schema_and_fail_only_under_deny_warnings() {
    let schema = schema();
    let dir = TempDir::new(
        "warnings",
        &[
            (
                "a.probity",
                "policy w \"Warnings\" version \"1\" effective 2026-01-01 until 2026-06-01 timezone \"UTC\"\n\
                 record unused_record { x: int }\n\
                 action sale { amount: money, note: text }\n\
                 rule no_cite on sale let unused = 1 when true then review\n",
            ),
            (
                "b.probity",
                "policy w \"Warnings\" version \"2\" effective 2026-07-01 timezone \"UTC\"\n\
                 action sale { amount: money }\n\
                 rule r cite \"c\" on sale when action.amount > 5 CNY then review\n",
            ),
        ],
    );
    let (status, output) = check(&[], &[&dir.0]);
    assert_eq!(status, Some(0), "{output:#}");
    assert_valid(&schema, &output, "warnings");
    let list = records(&output);
    assert!(list.iter().all(|r| r["severity"] == "warning"), "{output:#}");
    for code in ["W0001", "W0002", "W0003", "W0005", "W0006", "W0010"] {
        assert!(list.iter().any(|r| r["code"] == code), "no {code} in {output:#}");
    }
    // The gap between the versions points at the later one and relates the earlier one.
    let gap = list.iter().find(|r| r["code"] == "W0010").unwrap();
    let related = gap["related"].as_array().unwrap();
    assert_eq!(related.len(), 1);
    assert!(related[0]["file"].as_str().unwrap().ends_with("a.probity"));
    assert!(gap["file"].as_str().unwrap().ends_with("b.probity"));

    let (status, denied) = check(&["--deny-warnings"], &[&dir.0]);
    assert_eq!(status, Some(1));
    assert_eq!(denied, output, "--deny-warnings changed the output");
}

#[test]
fn a_problem_of_the_whole_set_has_no_place() {
    let schema = schema();
    let mut text = String::from("policy many version \"1\" effective 2026-01-01\naction a { n: int }\n");
    for i in 0..=probity::limits::MAX_RULES {
        text.push_str(&format!("rule r{i} cite \"c\" on a when action.n > 1 then review\n"));
    }
    let dir = TempDir::new("many", &[("many.probity", &text)]);
    let (status, output) = check(&[], &[&dir.0]);
    assert_eq!(status, Some(1));
    assert_valid(&schema, &output, "too many rules");
    let list = records(&output);
    let whole = list.iter().find(|r| r["code"] == "P0010").unwrap_or_else(|| panic!("no P0010 in {output:#}"));
    assert_eq!(whole["file"], "");
    for key in ["line", "column", "end_line", "end_column"] {
        assert_eq!(whole[key], 0, "{key}");
    }
}

#[test]
fn the_schema_rejects_what_the_cli_never_writes() {
    let schema = schema();
    let (_, output) = check(&[], &[&root().join("crates/probity-cli/tests/fixtures/bad")]);
    let good = records(&output)[0].clone();
    let mut errors = Vec::new();
    validate(&schema, &Value::Array(vec![good.clone()]), "$", &mut errors);
    assert!(errors.is_empty(), "{errors:?}");

    // (what, key, new value or None to remove the key)
    let place = |line: i64| json!([{"message": "m", "file": "x.probity", "line": line, "column": 1}]);
    let mutations: Vec<(&str, &str, Option<Value>)> = vec![
        ("an extra key", "extra", Some(Value::Null)),
        ("no related", "related", None),
        ("no help", "help", None),
        ("a code of another shape", "code", Some(json!("E0102"))),
        ("a lowercase code", "code", Some(json!("p0102"))),
        ("a five-digit code", "code", Some(json!("P01020"))),
        ("an unknown severity", "severity", Some(json!("info"))),
        ("a P code as a warning", "severity", Some(json!("warning"))),
        ("an empty message", "message", Some(json!(""))),
        ("help as a number", "help", Some(json!(5))),
        ("an empty help", "help", Some(json!(""))),
        ("line 0 in a file", "line", Some(json!(0))),
        ("end_column 0 in a file", "end_column", Some(json!(0))),
        ("a negative column", "column", Some(json!(-1))),
        ("a fractional line", "line", Some(json!(6.5))),
        ("a line as text", "line", Some(json!("6"))),
        ("no file but a line", "file", Some(json!(""))),
        ("related as an object", "related", Some(json!({"message": "m", "file": "x.probity", "line": 1, "column": 1}))),
        ("a related place at line 0", "related", Some(place(0))),
        (
            "a related place without a column",
            "related",
            Some(json!([{"message": "m", "file": "x.probity", "line": 1}])),
        ),
        (
            "a related place with an extra key",
            "related",
            Some(json!([{"message": "m", "file": "x.probity", "line": 1, "column": 1, "end": 2}])),
        ),
        ("a related place in no file", "related", Some(json!([{"message": "m", "file": "", "line": 1, "column": 1}]))),
    ];
    for (what, key, value) in mutations {
        let mut record = good.as_object().unwrap().clone();
        match value {
            Some(v) => record.insert(key.into(), v),
            None => record.remove(key),
        };
        let mut errors = Vec::new();
        validate(&schema, &Value::Array(vec![Value::Object(record)]), "$", &mut errors);
        assert!(!errors.is_empty(), "the schema accepts {what}");
    }
    // The same record with a valid related place passes.
    let mut with_place = good.as_object().unwrap().clone();
    with_place.insert("related".into(), place(3));
    let mut errors = Vec::new();
    validate(&schema, &Value::Array(vec![Value::Object(with_place)]), "$", &mut errors);
    assert!(errors.is_empty(), "{errors:?}");
    for not_an_array in [Value::Null, good.clone(), json!({"diagnostics": []})] {
        let mut errors = Vec::new();
        validate(&schema, &not_an_array, "$", &mut errors);
        assert!(!errors.is_empty(), "the schema accepts {not_an_array}");
    }
    // A record with no place is fine only when everything about the place is empty.
    let mut nowhere = good.as_object().unwrap().clone();
    for key in ["line", "column", "end_line", "end_column"] {
        nowhere.insert(key.into(), 0.into());
    }
    nowhere.insert("file".into(), "".into());
    let mut errors = Vec::new();
    validate(&schema, &Value::Array(vec![Value::Object(nowhere)]), "$", &mut errors);
    assert!(errors.is_empty(), "{errors:?}");
}
