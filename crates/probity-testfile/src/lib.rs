#![doc = include_str!("../README.md")]
#![forbid(unsafe_code)]
#![deny(missing_docs)]

mod coverage;
mod expect;
mod file;
mod outcome;
mod run;

use std::fmt;
use std::path::{Path, PathBuf};

pub use coverage::Coverage;
pub use file::{Case, Expect, ExpectError, Step, TestFile, MAX_TEST_FILE_BYTES, MAX_YAML_DEPTH};
pub use outcome::{CaseResult, Failure, FileResult, Mismatch, Subject};
pub use run::Runner;

/// How deep [`find`] goes into directories.
const MAX_DIRECTORY_DEPTH: usize = 32;

/// Why a test file, or a path naming test files, could not be used. The text form names the
/// path at fault.
#[derive(Debug)]
#[non_exhaustive]
pub enum Error {
    /// A path given does not exist.
    Missing {
        /// The path.
        path: PathBuf,
    },
    /// A file or directory could not be read, or is not a regular file.
    Unreadable {
        /// The path.
        path: PathBuf,
        /// Why.
        message: String,
    },
    /// A file is larger than the limit (`size` is `None` when it grew past it while read).
    TooLarge {
        /// The path.
        path: PathBuf,
        /// Its size when it was opened.
        size: Option<u64>,
        /// The limit, in bytes.
        limit: u64,
    },
    /// A file is not UTF-8 from this place on.
    NotUtf8 {
        /// The path.
        path: PathBuf,
        /// The line, from 1.
        line: usize,
        /// The column (in bytes), from 1.
        column: usize,
    },
    /// A test file's brackets nest deeper than [`MAX_YAML_DEPTH`].
    TooDeep {
        /// The path.
        path: PathBuf,
        /// The line of the first bracket past the limit.
        line: usize,
    },
    /// Directories nest deeper than [`find`] goes.
    DirectoriesTooDeep {
        /// The directory too deep.
        path: PathBuf,
    },
    /// The YAML is not a test file (a syntax error, an unknown key, a missing `name`, …).
    Invalid {
        /// The path.
        path: PathBuf,
        /// The parser's message, with the line and column.
        message: String,
    },
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Missing { path } => write!(f, "`{}` does not exist", path.display()),
            Error::Unreadable { path, message } => write!(f, "cannot read `{}`: {message}", path.display()),
            Error::TooLarge { path, size: Some(size), limit } => {
                write!(f, "`{}` is {size} bytes, more than the limit of {limit}", path.display())
            }
            Error::TooLarge { path, size: None, limit } => {
                write!(f, "`{}` is more than {limit} bytes, the limit", path.display())
            }
            Error::NotUtf8 { path, line, column } => {
                write!(f, "`{}`:{line}:{column}: the text is not UTF-8", path.display())
            }
            Error::TooDeep { path, line } => {
                write!(f, "`{}`:{line}: brackets nest deeper than {MAX_YAML_DEPTH} levels", path.display())
            }
            Error::DirectoriesTooDeep { path } => write!(f, "`{}`: directories nest too deep", path.display()),
            Error::Invalid { path, message } => write!(f, "`{}` is not a valid test file: {message}", path.display()),
        }
    }
}

impl std::error::Error for Error {}

/// The test files `paths` name: a file as it is, a directory searched (recursively, in path
/// order) for `*.yaml`. A path that does not exist is an error.
pub fn find(paths: &[PathBuf]) -> Result<Vec<PathBuf>, Error> {
    fn walk(dir: &Path, depth: usize, out: &mut Vec<PathBuf>) -> Result<(), Error> {
        if depth > MAX_DIRECTORY_DEPTH {
            return Err(Error::DirectoriesTooDeep { path: dir.to_path_buf() });
        }
        let unreadable = |e: std::io::Error| Error::Unreadable { path: dir.to_path_buf(), message: e.to_string() };
        let mut found: Vec<PathBuf> =
            std::fs::read_dir(dir).map_err(unreadable)?.filter_map(|e| e.ok().map(|e| e.path())).collect();
        found.sort();
        for path in found {
            if path.is_dir() {
                walk(&path, depth.saturating_add(1), out)?;
            } else if path.extension().is_some_and(|e| e == "yaml") {
                out.push(path);
            }
        }
        Ok(())
    }
    let mut out = Vec::new();
    for path in paths {
        if path.is_dir() {
            walk(path, 0, &mut out)?;
        } else if path.exists() {
            out.push(path.clone());
        } else {
            return Err(Error::Missing { path: path.clone() });
        }
    }
    Ok(out)
}

/// Runs one test file whose policies are inside its own directory ([`Runner::run`]).
pub fn run_file(path: &Path) -> Result<FileResult, Error> {
    Runner::new().run(path)
}
