//! Running a test file's cases: each on a fresh ledger, its policies read only from the places
//! allowed.

use std::path::{Path, PathBuf};

use probity::{Action, Engine, History, PolicySet};

use crate::file::{read_text, Case, TestFile};
use crate::{expect, CaseResult, Coverage, Error, Failure, FileResult, Subject};

/// Runs test files, adding what their cases exercised to one [`Coverage`].
///
/// A policy path a test file names is resolved against the file's directory and, links
/// followed, must lead inside that directory or inside one of the runner's roots.
#[derive(Debug, Default)]
pub struct Runner {
    /// The roots, canonical (those that exist).
    roots: Vec<PathBuf>,
    coverage: Coverage,
}

/// Where a test file's policy paths are resolved (`dir`) and may lead (`allowed`, canonical).
struct Places {
    dir: PathBuf,
    allowed: Vec<PathBuf>,
}

impl Runner {
    /// A runner whose test files may name policies only inside their own directory.
    pub fn new() -> Runner {
        Runner::default()
    }

    /// Also lets test files name policies under `roots` (for `probity test`, the paths given on
    /// the command line, so that a suite's files may share policies with `..`).
    #[must_use]
    pub fn allow(mut self, roots: &[PathBuf]) -> Runner {
        self.roots.extend(roots.iter().filter_map(|r| std::fs::canonicalize(r).ok()));
        self
    }

    /// Loads a test file ([`TestFile::load`]) and runs every case. An error is the file's (it
    /// cannot be read or is not a test file); what goes wrong inside a case is that case's
    /// failure.
    pub fn run(&mut self, path: &Path) -> Result<FileResult, Error> {
        let file = TestFile::load(path)?;
        let dir = path.parent().map(Path::to_path_buf).unwrap_or_default();
        let mut allowed = self.roots.clone();
        allowed.extend(std::fs::canonicalize(if dir.as_os_str().is_empty() { Path::new(".") } else { &dir }).ok());
        let places = Places { dir, allowed };
        let cases = file.cases.iter().map(|case| self.case(&file, case, &places, path)).collect();
        Ok(FileResult { path: path.to_path_buf(), name: file.name, cases })
    }

    /// What the cases run so far exercised.
    pub fn coverage(&self) -> &Coverage {
        &self.coverage
    }

    fn case(&mut self, file: &TestFile, case: &Case, places: &Places, path: &Path) -> CaseResult {
        let mut failures = Vec::new();
        if let Err(e) = self.steps(file, case, places, path, &mut failures) {
            failures.push(e);
        }
        CaseResult { name: case.name.clone(), failures }
    }

    /// Runs a case's steps, pushing each unmet expectation; an error stops the case.
    fn steps(
        &mut self,
        file: &TestFile,
        case: &Case,
        places: &Places,
        path: &Path,
        failures: &mut Vec<Failure>,
    ) -> Result<(), Failure> {
        let sources = sources(case.policies.as_deref().unwrap_or(&file.policies), places, path)?;
        let loaded = PolicySet::from_sources(sources);
        if let Some(expected) = &case.expect_error {
            match loaded {
                Ok(_) => failures.push(Failure::Loaded),
                Err(diagnostics) => {
                    if let Some(line) = expected.line {
                        if !diagnostics.errors().any(|d| d.line_column().0 == line) {
                            let errors = diagnostics.errors().map(|d| d.to_string()).collect();
                            failures.push(Failure::NoErrorOnLine { line, errors });
                        }
                    }
                }
            }
            return Ok(());
        }
        let set = loaded.map_err(Failure::NotLoaded)?;
        self.coverage.learn(&set);
        let engine = Engine::new(set);
        let mut ledger = engine.ledger();
        if let Some(history) = &case.history {
            let invalid = |e: String| Failure::Stopped(format!("invalid history: {e}"));
            let history: History = serde_json::from_value(history.clone()).map_err(|e| invalid(e.to_string()))?;
            ledger.load(&history).map_err(|e| invalid(e.to_string()))?;
        }
        for (i, step) in case.steps.iter().enumerate() {
            let number = i.saturating_add(1);
            let stop = |message: String| Failure::Stopped(format!("step {number}: {message}"));
            let (subject, mismatches) = match (&step.action, &step.advance) {
                (Some(json), None) => {
                    let action = Action::from_value(json.clone()).map_err(|e| stop(format!("invalid action: {e}")))?;
                    let submission = ledger.submit(&action).map_err(|e| stop(e.to_string()))?;
                    submission.overdue.iter().for_each(|r| self.coverage.overdue(r, engine.policy_set()));
                    self.coverage.decision(&submission.decision);
                    let mismatches = expect::decision(&step.expect, &submission.decision, &submission.overdue);
                    (Subject::Action(action.id().to_string()), mismatches)
                }
                (None, Some(at)) => {
                    // The core's parser, as for actions' times (second 60 refused, say why).
                    let t = probity::parse_timestamp(at).map_err(|e| {
                        let problem = match e {
                            probity::InputError::Field { problem, .. } => problem,
                            other => other.to_string(),
                        };
                        stop(format!("invalid `advance` time: {problem}"))
                    })?;
                    let reports = ledger.advance_to(t);
                    reports.iter().for_each(|r| self.coverage.overdue(r, engine.policy_set()));
                    (Subject::Advance(at.clone()), expect::advance(&step.expect, &reports))
                }
                _ => return Err(stop("a step has either `action` or `advance`".into())),
            };
            if !mismatches.is_empty() {
                failures.push(Failure::Step { number, subject, mismatches });
            }
        }
        Ok(())
    }
}

/// The named sources of a case's policies: inline texts (an entry with a line break), named
/// `FILE#N`, and files read within the source limit from the places allowed.
fn sources(list: &[String], places: &Places, file: &Path) -> Result<Vec<(String, String)>, Failure> {
    list.iter()
        .enumerate()
        .map(|(i, entry)| {
            if entry.contains('\n') {
                return Ok((format!("{}#{}", file.display(), i.saturating_add(1)), entry.clone()));
            }
            let path: PathBuf = places.dir.join(entry);
            let real = std::fs::canonicalize(&path)
                .map_err(|e| Failure::Stopped(format!("cannot read policy `{}`: {e}", path.display())))?;
            if !places.allowed.iter().any(|root| real.starts_with(root)) {
                return Err(Failure::Stopped(format!(
                    "policy `{}` is outside the test file's directory (name it on the command line to allow it)",
                    path.display()
                )));
            }
            let text = read_text(&path, probity::limits::MAX_SOURCE_BYTES as u64)
                .map_err(|e| Failure::Stopped(format!("policy: {e}")))?;
            Ok((path.display().to_string(), text))
        })
        .collect()
}
