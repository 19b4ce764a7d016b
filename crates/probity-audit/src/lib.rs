//! Provenance for probity: signed policy bundles ([`bundle`]) and the hash-chained decision log
//! ([`log`]). See docs/provenance.md.

#![forbid(unsafe_code)]
#![deny(missing_docs)]

pub mod bundle;
pub mod log;

pub use bundle::{keygen, load_bundle, pack, BundleError, Verified};
pub use log::{LogError, LogPolicies, LogTap, LogWriter};
