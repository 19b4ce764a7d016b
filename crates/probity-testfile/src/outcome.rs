//! What running a test file gives: per case, the failures, each a diff of expected against actual.

use std::fmt;
use std::path::PathBuf;

/// The result of running one test file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileResult {
    /// The test file.
    pub path: PathBuf,
    /// Its title (`name:`).
    pub name: String,
    /// One result per case, in the file's order.
    pub cases: Vec<CaseResult>,
}

impl FileResult {
    /// How many cases passed.
    pub fn passed(&self) -> usize {
        self.cases.iter().filter(|c| c.passed()).count()
    }

    /// How many cases failed.
    pub fn failed(&self) -> usize {
        self.cases.len().saturating_sub(self.passed())
    }
}

/// The result of one case.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CaseResult {
    /// The case's title.
    pub name: String,
    /// Empty when the case passed; otherwise what differed, in step order.
    pub failures: Vec<Failure>,
}

impl CaseResult {
    /// Whether the case passed.
    pub fn passed(&self) -> bool {
        self.failures.is_empty()
    }
}

/// Why a case failed. The text form (`Display`) is what `probity test` prints under the case.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Failure {
    /// A step gave something other than its `expect`.
    Step {
        /// The step's number, from 1.
        number: usize,
        /// What the step did.
        subject: Subject,
        /// Each expectation it did not meet, in the order of the `expect` keys' table.
        mismatches: Vec<Mismatch>,
    },
    /// `expect_error` was given, but the policies loaded.
    Loaded,
    /// `expect_error: {line: N}` was given, and no error is on that line.
    NoErrorOnLine {
        /// The line expected.
        line: usize,
        /// Every error there was, one line each.
        errors: Vec<String>,
    },
    /// The case's policies did not load (and no error was expected).
    NotLoaded(probity::Diagnostics),
    /// The case stopped before its end: a policy path that cannot be read or leads outside the
    /// places allowed, an invalid history, action or `advance` time, or a step with neither or
    /// both of `action` and `advance`.
    Stopped(String),
}

/// What a step did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Subject {
    /// Submitted the action with this id.
    Action(String),
    /// Advanced every RM to this time (as the test file gives it).
    Advance(String),
}

/// One expectation a step did not meet.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Mismatch {
    /// The key's expected and actual values differ.
    Differs {
        /// The `expect` key (`verdict`, `findings`, …).
        key: &'static str,
        /// What the test file expects, as text (`[a, b]` for a list).
        expected: String,
        /// What the engine gave, in the same form.
        actual: String,
    },
    /// The key cannot be checked after an advance (`verdict`, `policies`, `obligations`,
    /// `fulfilled`): an advance makes no decision.
    NotAfterAdvance(&'static str),
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Failure::Step { number, subject, mismatches } => {
                match subject {
                    Subject::Action(id) => write!(f, "step {number} (action {id}):")?,
                    Subject::Advance(at) => write!(f, "step {number} (advance to {at}):")?,
                }
                mismatches.iter().try_for_each(|m| write!(f, "\n  {m}"))
            }
            Failure::Loaded => f.write_str("expected the policies not to load, but they loaded"),
            Failure::NoErrorOnLine { line, errors } => {
                write!(f, "expected an error on line {line}; the errors were:\n  {}", errors.join("\n  "))
            }
            Failure::NotLoaded(diagnostics) => write!(f, "the policies did not load:\n{}", diagnostics.render()),
            Failure::Stopped(message) => f.write_str(message),
        }
    }
}

impl fmt::Display for Mismatch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Mismatch::Differs { key, expected, actual } => {
                write!(f, "{key}\n    - expected: {expected}\n    + actual:   {actual}")
            }
            Mismatch::NotAfterAdvance(key) => write!(f, "{key}: an advance step has no `{key}` to check"),
        }
    }
}
