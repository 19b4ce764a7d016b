#![doc = include_str!("../README.md")]
#![forbid(unsafe_code)]
#![deny(missing_docs)]

// The pipeline, in order: text → syntax tree → checked and compiled policies → decisions.
mod action;
pub mod api;
mod check;
mod decide;
mod engine;
mod eval;
mod ledger;
// Declarations and name uses of a file, for editors (the language server).
pub mod outline;
mod parse;
mod policy_set;
mod program;
mod refdata;
pub mod replay;
// The durable store interface that a ledger's state is kept behind (backends: probity-store).
pub mod store;

// Shared by every phase.
mod decision;
mod diagnostics;
pub mod limits;
mod value;

pub use action::{parse_timestamp, parse_timestamp_field, Action, FieldFault, InputError, InputErrorRecord};
pub use decide::explain::{ClauseTrace, Explanation, LadderTrace, RestrictionTrace, RuleTrace};
pub use decision::{
    AppliedPolicy, Decision, EvidenceValue, Finding, FindingKind, Fulfilment, Obligation, ObligationPeriod,
    OverdueReport, Sanction, Verdict,
};
pub use diagnostics::{Diagnostic, DiagnosticRecord, Diagnostics, RelatedRecord, Severity, SourceFile};
pub use engine::Engine;
pub use eval::history::{History, HistoryBreach, HistoryObligation};
pub use eval::{EvalError, InvalidField, Operands};
pub use ledger::{
    DurableLedger, Ledger, PolicyDigest, RecordedDecision, RmChange, RmSnapshot, Snapshot, StateSummary, Submission,
    META_FORMAT, META_POLICIES, SNAPSHOT_FORMAT,
};
pub use parse::format::{format_source, syntax_fingerprint};
pub use policy_set::{LoadError, PolicySet, RuleInfo, NO_POLICY_IN_FORCE};
pub use smol_str::SmolStr;
