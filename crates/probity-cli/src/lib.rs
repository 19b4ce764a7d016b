//! The `probity` command's library: the test-file runner and replay, shared by the CLI and
//! `cargo test`.

pub mod replay;
pub mod testfile;
