//! The `probity` command's library: the test-file runner, shared by the CLI and `cargo test`.

pub mod diff;
pub mod files;
pub mod fmt;
pub mod testfile;
