//! The Probity language server: LSP over stdio on a folder of policy files taken as one
//! policy set (the client's root), with the open documents in place of the files on disk.
//! Synchronous, on lsp-server's connection: diagnostics as you type with did-you-mean quick
//! fixes, hover, definition, references, completion, formatting, document symbols and semantic tokens.
#![forbid(unsafe_code)]
#![deny(missing_docs)]

mod analysis;
mod complete;
mod semantic;
mod server;
mod text;
mod world;

pub use server::{run, run_stdio, serve};
