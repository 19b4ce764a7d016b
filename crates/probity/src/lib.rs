#![doc = include_str!("../README.md")]
#![forbid(unsafe_code)]
#![deny(missing_docs)]

mod action;
mod ast;
mod check;
mod decision;
mod diagnostics;
mod engine;
mod eval;
mod explain;
mod format;
mod history;
mod ledger;
pub mod limits;
mod node;
mod parse;
mod policy_set;
mod program;
pub mod replay;
mod value;

pub use action::{parse_timestamp, Action, InputError};
pub use decision::{
    AppliedPolicy, Decision, EvidenceValue, Finding, FindingKind, Fulfilment, Obligation, OverdueReport, Sanction,
    Verdict,
};
pub use diagnostics::{Diagnostic, DiagnosticRecord, Diagnostics, RelatedRecord, Severity, SourceFile};
pub use engine::Engine;
pub use explain::{ClauseTrace, Explanation, LadderTrace, RuleTrace};
pub use format::{format_source, syntax_fingerprint};
pub use history::{History, HistoryBreach, HistoryObligation};
pub use ledger::{Ledger, Submission};
pub use policy_set::{LoadError, PolicySet, RuleInfo, NO_POLICY_IN_FORCE};
pub use smol_str::SmolStr;
