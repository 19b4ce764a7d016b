//! The `probity` command's library: what its subcommands share with its tests (`diff`, the
//! bounded reads and atomic outputs of `files`, `fmt`, the provenance commands of `audit`). The test-file runner is the
//! `probity-testfile` crate.

pub mod audit;
pub mod diff;
pub mod files;
pub mod fmt;
