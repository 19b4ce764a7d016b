//! A test file (docs/language.md#test-files): its YAML form, and reading it within bounds.

use std::collections::BTreeMap;
use std::io::Read as _;
use std::path::Path;

use serde::{Deserialize, Deserializer};

use crate::Error;

/// The largest test file, in bytes (inline policies included).
pub const MAX_TEST_FILE_BYTES: u64 = 16 << 20;

/// A parsed test file.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TestFile {
    /// The file's title.
    pub name: String,
    /// Inline policy sources (entries with a line break) or paths relative to the file.
    #[serde(default)]
    pub policies: Vec<String>,
    /// The cases.
    pub cases: Vec<Case>,
}

/// One case: a fresh ledger, optional history, and steps.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Case {
    /// The case's title.
    pub name: String,
    /// Policies replacing the file's.
    #[serde(default)]
    pub policies: Option<Vec<String>>,
    /// History loaded into the ledger as it is.
    #[serde(default)]
    pub history: Option<serde_json::Value>,
    /// Actions and advances, in order.
    #[serde(default)]
    pub steps: Vec<Step>,
    /// Loading must fail (at this line, when given).
    #[serde(default)]
    pub expect_error: Option<ExpectError>,
}

/// A load error the case expects.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExpectError {
    /// The line (within a policy source) some error must be on.
    #[serde(default)]
    pub line: Option<usize>,
}

/// A step: submit an action, or advance the clock.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Step {
    /// The action to submit.
    #[serde(default)]
    pub action: Option<serde_json::Value>,
    /// The time to advance every RM to.
    #[serde(default)]
    pub advance: Option<String>,
    /// What the step must give.
    #[serde(default)]
    pub expect: Expect,
}

/// Expectations; absent keys are not checked.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Expect {
    pub(crate) verdict: Option<String>,
    pub(crate) policies: Option<Vec<String>>,
    pub(crate) findings: Option<Vec<FindingMatch>>,
    pub(crate) obligations: Option<Vec<String>>,
    pub(crate) fulfilled: Option<Vec<String>>,
    pub(crate) overdue: Option<Vec<String>>,
    pub(crate) escalations: Option<Vec<String>>,
    pub(crate) sanctions: Option<BTreeMap<String, SanctionMatch>>,
}

/// A rule id, or a map of any of `rule`, `kind`, `severity`, `policy`.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
pub(crate) enum FindingMatch {
    Rule(String),
    Fields {
        #[serde(default)]
        rule: Option<String>,
        #[serde(default)]
        kind: Option<String>,
        #[serde(default)]
        severity: Option<String>,
        #[serde(default)]
        policy: Option<String>,
    },
}

/// A step label, or a map of any of `step`, `previous`, `points`.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
pub(crate) enum SanctionMatch {
    Step(String),
    Fields {
        #[serde(default)]
        step: Option<String>,
        #[serde(default, deserialize_with = "present")]
        previous: Option<Option<String>>,
        #[serde(default)]
        points: Option<i64>,
    },
}

/// Tells `previous: null` (expected absent) from no `previous` key (not checked).
fn present<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Option<String>>, D::Error> {
    Option::<String>::deserialize(d).map(Some)
}

impl TestFile {
    /// Reads and parses a test file: within [`MAX_TEST_FILE_BYTES`], and with its flow nesting
    /// checked against [`MAX_YAML_DEPTH`] before the YAML parser sees it.
    pub fn load(path: &Path) -> Result<TestFile, Error> {
        let text = read_text(path, MAX_TEST_FILE_BYTES)?;
        if let Some(line) = yaml_too_deep(&text, MAX_YAML_DEPTH) {
            return Err(Error::TooDeep { path: path.to_path_buf(), line });
        }
        serde_norway::from_str(&text).map_err(|e| Error::Invalid { path: path.to_path_buf(), message: e.to_string() })
    }
}

/// Reads `path` as UTF-8 text of at most `limit` bytes. Anything but a regular file (links
/// followed) is refused before it is opened, a file larger than `limit` before it is read, and
/// no more than `limit + 1` bytes are ever read (the file may grow meanwhile).
pub(crate) fn read_text(path: &Path, limit: u64) -> Result<String, Error> {
    let unreadable = |message: String| Error::Unreadable { path: path.to_path_buf(), message };
    let metadata = std::fs::metadata(path).map_err(|e| unreadable(e.to_string()))?;
    if !metadata.is_file() {
        return Err(unreadable("not a regular file".into()));
    }
    if metadata.len() > limit {
        return Err(Error::TooLarge { path: path.to_path_buf(), size: Some(metadata.len()), limit });
    }
    let file = std::fs::File::open(path).map_err(|e| unreadable(e.to_string()))?;
    let mut bytes = Vec::new();
    file.take(limit.saturating_add(1)).read_to_end(&mut bytes).map_err(|e| unreadable(e.to_string()))?;
    if bytes.len() as u64 > limit {
        return Err(Error::TooLarge { path: path.to_path_buf(), size: None, limit });
    }
    String::from_utf8(bytes).map_err(|e| {
        let valid = e.utf8_error().valid_up_to();
        let before = e.as_bytes().get(..valid).unwrap_or_default();
        let line = before.iter().filter(|&&b| b == b'\n').count().saturating_add(1);
        let column = before.iter().rev().take_while(|&&b| b != b'\n').count().saturating_add(1);
        Error::NotUtf8 { path: path.to_path_buf(), line, column }
    })
}

/// The deepest nesting of flow collections (`[`, `{`) a test file may have.
pub const MAX_YAML_DEPTH: usize = 64;

/// Checks a YAML text's flow nesting before it reaches the parser (deep nesting is slow to parse
/// and unbounded nesting does not end). Brackets in quoted scalars, comments and block scalars
/// (`|`, `>`) do not count. Returns the line of the first bracket past the limit.
pub(crate) fn yaml_too_deep(text: &str, limit: usize) -> Option<usize> {
    let mut depth = 0usize;
    // The indentation of the line that opened a block scalar, while inside one.
    let mut block: Option<usize> = None;
    let mut quote: Option<char> = None;
    for (index, line) in text.lines().enumerate() {
        let indent = line.len().saturating_sub(line.trim_start_matches(' ').len());
        let content = line.trim();
        if let Some(parent) = block {
            if content.is_empty() || indent > parent {
                continue;
            }
            block = None;
        }
        let mut previous = ' ';
        let mut chars = line.chars().peekable();
        while let Some(c) = chars.next() {
            match quote {
                Some('\'') if c == '\'' => {
                    // `''` is an escaped quote.
                    if chars.peek() == Some(&'\'') {
                        chars.next();
                    } else {
                        quote = None;
                    }
                }
                Some('"') if c == '\\' => {
                    chars.next();
                }
                Some(q) if c == q => quote = None,
                Some(_) => {}
                None => match c {
                    '#' if previous == ' ' || previous == '\t' => break,
                    '\'' | '"' if matches!(previous, ' ' | '\t' | '[' | '{' | ',' | ':' | '-' | '?') => {
                        quote = Some(c);
                    }
                    '[' | '{' => {
                        depth = depth.saturating_add(1);
                        if depth > limit {
                            return Some(index.saturating_add(1));
                        }
                    }
                    ']' | '}' => depth = depth.saturating_sub(1),
                    _ => {}
                },
            }
            previous = c;
        }
        // A block scalar starts after a `|` or `>` indicator that ends the line.
        if quote.is_none() && depth == 0 {
            let code = content.split(" #").next().unwrap_or_default().trim_end();
            let indicator = code.trim_end_matches(|c: char| c == '-' || c == '+' || c.is_ascii_digit());
            if indicator.ends_with('|') || indicator.ends_with('>') {
                let before = indicator.get(..indicator.len().saturating_sub(1)).unwrap_or_default().trim_end();
                if before.is_empty() || before.ends_with(':') || before.ends_with('-') {
                    block = Some(indent);
                }
            }
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::yaml_too_deep;

    #[test]
    fn flow_nesting_is_counted_outside_quotes_comments_and_block_scalars() {
        assert_eq!(yaml_too_deep("a: [[[1]]]\n", 3), None);
        assert_eq!(yaml_too_deep("a: [[[[1]]]]\n", 3), Some(1));
        assert_eq!(yaml_too_deep("a: '[[[['\nb: \"[[[[\"\n# [[[[\n", 3), None);
        assert_eq!(yaml_too_deep("p:\n  - |\n    [[[[ x\n  - y\nq: [[[[\n", 3), Some(5));
        assert_eq!(yaml_too_deep("name: RM's [[[[ gift\n", 3), Some(1));
        assert_eq!(yaml_too_deep(&"[".repeat(1_000_000), 64), Some(1));
    }
}
