//! One JSON interface for every surface: the serde request and answer types of each call, typed
//! functions over them, and (in [`text`]) the same calls as JSON text in, JSON text out.
//!
//! The wasm binding passes its arguments straight to these calls, the Python binding converts
//! through the same types, and an HTTP service can serve [`text`] as it is. Every failure is one
//! [`Error`], written as `{"error": {"code", "kind", "message", "field"?, "diagnostics"?}}`.
//!
//! | call | request | answer |
//! | --- | --- | --- |
//! | [`load`] | [`LoadRequest`] `{"sources", "require_policy"?, "files"?}` | an [`Engine`] |
//! | [`check`] | [`CheckRequest`] `{"sources"}` | `[DiagnosticRecord…]` (errors and warnings) |
//! | [`warnings`], [`versions`] | an engine | `[DiagnosticRecord…]`, `[{"id", "version"}…]` |
//! | [`evaluate`] | [`EvaluateRequest`] `{"action", "history"?}` | the [`Decision`], as `probity eval` writes it |
//! | [`explain`] | [`EvaluateRequest`] | the [`Explanation`] |
//! | [`overdue`] | [`OverdueRequest`] `{"history", "at"}` | `[OverdueReport…]` |
//! | [`load_history`] | a ledger and [`HistoryRequest`] `{"history"}` | nothing |
//! | [`submit`] | a ledger and [`SubmitRequest`] `{"action"}` | [`SubmitAnswer`] `{"overdue", "decision"}` |
//! | [`advance`] | a ledger and [`AdvanceRequest`] `{"to"}` | `[OverdueReport…]` |
//! | [`snapshot`] | a ledger | the [`crate::Snapshot`] `{"format", "policies", "rms"}` |
//! | [`restore`] | a ledger and [`RestoreRequest`] `{"snapshot"}` | nothing |
//! | [`restore_json`] | a ledger and the snapshot's JSON text | nothing |
//! | [`replay`] | [`ReplayRequest`] `{"events", "as_of"?}` | [`ReplayAnswer`] `{"records", "summary"}` |
//! | [`format()`] | [`FormatRequest`] `{"source", "name"?}` | [`FormatAnswer`] `{"formatted"}` |
//!
//! Actions and histories are carried as JSON values and decoded by the engine, so numbers keep
//! every digit they were written with.

pub mod text;

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::Value as Json;

use crate::action::{parse_timestamp, Action, InputError};
use crate::decide::explain::Explanation;
use crate::decision::{Decision, OverdueReport, Verdict};
use crate::diagnostics::{DiagnosticRecord, Diagnostics};
use crate::engine::Engine;
use crate::eval::history::History;
use crate::ledger::Ledger;
use crate::policy_set::PolicySet;

// tsify names a `SmolStr` field by its Rust type; on the wire it is a string.
#[cfg(feature = "typescript")]
#[wasm_bindgen::prelude::wasm_bindgen(typescript_custom_section)]
const SMOL_STR: &'static str = "/** Text (a `SmolStr` in Rust). */\nexport type SmolStr = string;";

/// Which surface-level error class a failure is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "typescript", derive(tsify::Tsify))]
pub enum ErrorKind {
    /// The policy text has errors; [`Error::diagnostics`] holds every diagnostic.
    PolicyError,
    /// An action, a history, a time or a request cannot be used.
    InputError,
    /// Probity itself failed (a caught panic): a bug.
    InternalError,
}

impl ErrorKind {
    /// The name, as the error classes of the bindings are named.
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorKind::PolicyError => "PolicyError",
            ErrorKind::InputError => "InputError",
            ErrorKind::InternalError => "InternalError",
        }
    }
}

/// Why a call failed, as every surface reports it.
///
/// `code` is stable: `policy-errors` for policy text with errors, an [`InputError::code`]
/// (`I0001`…, see the diagnostics guide), `I0011` for a
/// request of the wrong shape, `internal` for a caught panic.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "typescript", derive(tsify::Tsify), tsify(rename = "ProbityError"))]
pub struct Error {
    /// The stable code.
    pub code: String,
    /// The error class.
    pub kind: ErrorKind,
    /// The readable message.
    pub message: String,
    /// The input field at fault (`at`, `rm.id`, `breaches[0].rm`), when one is.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
    /// For a policy error, every diagnostic (errors and warnings), in file and position order.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub diagnostics: Option<Vec<DiagnosticRecord>>,
}

impl Error {
    /// An input error with a code and a message, naming no field.
    pub fn input(code: &str, message: impl Into<String>) -> Error {
        Error {
            code: code.into(),
            kind: ErrorKind::InputError,
            message: message.into(),
            field: None,
            diagnostics: None,
        }
    }

    /// An internal error (a bug), such as a panic a binding caught.
    pub fn internal(message: impl Into<String>) -> Error {
        Error { kind: ErrorKind::InternalError, ..Error::input("internal", message) }
    }

    /// The message of a panic a binding or the service caught (its payload, as `catch_unwind`
    /// gives it), for [`Error::internal`].
    pub fn panic_message(payload: Box<dyn std::any::Any + Send>) -> String {
        let text = payload.downcast_ref::<&str>().map(|s| (*s).to_owned());
        text.or_else(|| payload.downcast_ref::<String>().cloned()).unwrap_or_else(|| "a panic without a message".into())
    }

    /// An [`InputError`] about `what` (`action`, `history`): `invalid action: …`.
    pub fn invalid(what: &str, e: &InputError) -> Error {
        Error::from_input(e, format!("invalid {what}: {e}"))
    }

    fn from_input(e: &InputError, message: String) -> Error {
        // `at` for an action out of order, `id` for an id reused, the path of a bad field.
        Error { field: e.field().map(str::to_owned), ..Error::input(e.code(), message) }
    }

    /// The error answer as JSON text: `{"error": {…}}`.
    pub fn to_json(&self) -> String {
        #[derive(Serialize)]
        struct Answer<'a> {
            error: &'a Error,
        }
        // The fields are strings and records, which always serialise.
        serde_json::to_string(&Answer { error: self }).unwrap_or_default()
    }
}

impl Error {
    /// A policy error whose message is the headline (`2 error(s) in policy text`) and every
    /// diagnostic rendered with its source excerpt, as the Python binding raises it.
    pub fn rendered(d: &Diagnostics) -> Error {
        let summary = d.to_string();
        let headline = summary.lines().next().unwrap_or("policy text has errors");
        let message = format!("{headline}\n\n{}", d.render().trim_end());
        let diagnostics = Some(d.records());
        Error { code: "policy-errors".into(), kind: ErrorKind::PolicyError, message, field: None, diagnostics }
    }
}

impl From<Diagnostics> for Error {
    fn from(d: Diagnostics) -> Error {
        Error {
            code: "policy-errors".into(),
            kind: ErrorKind::PolicyError,
            message: d.to_string(),
            field: None,
            diagnostics: Some(d.records()),
        }
    }
}

impl From<InputError> for Error {
    /// An input error as the engine words it (`action … is older than the ledger's clock …`).
    fn from(e: InputError) -> Error {
        let message = e.to_string();
        Error::from_input(&e, message)
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for Error {}

/// Policy sources: file name and text. Read from a JSON object `{"gifts.probity": "policy gifts
/// …"}` (its files taken in name order) or an array of `["name", "text"]` pairs (in the order
/// given); written as pairs.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Sources(pub Vec<(String, String)>);

impl Sources {
    /// Sources from JSON text, with a message saying what shape was expected.
    pub fn from_json(text: &str) -> Result<Sources, Error> {
        let value: Json =
            serde_json::from_str(text).map_err(|e| Error::input("I0001", format!("invalid policy sources: {e}")))?;
        Sources::from_value(value).map_err(|message| Error::input("I0011", message))
    }

    fn from_value(value: Json) -> Result<Sources, String> {
        let shape = || {
            "invalid policy sources: expected an object mapping file names to policy text, \
             such as `{\"gifts.probity\": \"policy gifts …\"}`"
                .to_string()
        };
        let pairs = match value {
            Json::Object(map) => map
                .into_iter()
                .map(|(name, text)| match text {
                    Json::String(text) => Ok((name, text)),
                    _ => Err(format!("invalid policy sources: the text of `{name}` is not a string")),
                })
                .collect::<Result<_, _>>()?,
            Json::Array(items) => items
                .into_iter()
                .map(|item| match item {
                    Json::Array(pair) => match <[Json; 2]>::try_from(pair) {
                        Ok([Json::String(name), Json::String(text)]) => Ok((name, text)),
                        _ => Err(shape()),
                    },
                    _ => Err(shape()),
                })
                .collect::<Result<_, _>>()?,
            _ => return Err(shape()),
        };
        Ok(Sources(pairs))
    }
}

impl Serialize for Sources {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.0.serialize(s)
    }
}

impl<'de> Deserialize<'de> for Sources {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Sources::from_value(Json::deserialize(d)?).map_err(serde::de::Error::custom)
    }
}

/// Options of [`load`].
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "typescript", derive(tsify::Tsify))]
pub struct LoadOptions {
    /// Decide `review`, with an error finding (rule `no-policy-in-force`), when no policy
    /// version is in force for an action, instead of `allow` with no policies. Also read as
    /// `requirePolicy`, the name JavaScript uses.
    #[serde(default, alias = "requirePolicy")]
    #[cfg_attr(feature = "typescript", tsify(optional))]
    pub require_policy: bool,
    /// The text of list and calendar files, by the path the engine reads each from (see
    /// [`PolicySet::from_sources_with_files`]); others are read from the file system.
    #[serde(default)]
    #[cfg_attr(feature = "typescript", tsify(optional))]
    pub files: std::collections::BTreeMap<String, String>,
}

/// `load`: policy sources and options.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "typescript", derive(tsify::Tsify))]
#[serde(deny_unknown_fields)]
pub struct LoadRequest {
    /// The policy files.
    #[cfg_attr(feature = "typescript", tsify(type = "PolicySources"))]
    pub sources: Sources,
    /// See [`LoadOptions::require_policy`].
    #[serde(default, alias = "requirePolicy")]
    #[cfg_attr(feature = "typescript", tsify(optional))]
    pub require_policy: bool,
    /// See [`LoadOptions::files`].
    #[serde(default)]
    #[cfg_attr(feature = "typescript", tsify(optional))]
    pub files: std::collections::BTreeMap<String, String>,
}

// The type of policy sources, as [`Sources`] reads them.
#[cfg(feature = "typescript")]
#[wasm_bindgen::prelude::wasm_bindgen(typescript_custom_section)]
const POLICY_SOURCES: &'static str = "/** Policy sources: file name → policy text, or `[name, text]` pairs. */\n\
    export type PolicySources = Record<string, string> | Array<[string, string]>;";

/// Loads and checks policy sources; on failure a policy error carrying every diagnostic.
pub fn load(request: LoadRequest) -> Result<Engine, Error> {
    let set = PolicySet::from_sources_with_files(request.sources.0, request.files)?;
    Ok(Engine::new(set.require_policy(request.require_policy)))
}

/// `check`: policy sources to check without loading them.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "typescript", derive(tsify::Tsify))]
#[serde(deny_unknown_fields)]
pub struct CheckRequest {
    /// The policy files.
    #[cfg_attr(feature = "typescript", tsify(type = "PolicySources"))]
    pub sources: Sources,
}

/// Every diagnostic of the sources, errors and warnings; empty when they load cleanly.
pub fn check(request: CheckRequest) -> Vec<DiagnosticRecord> {
    PolicySet::diagnose(request.sources.0).records()
}

/// The warnings of a loaded policy set.
pub fn warnings(engine: &Engine) -> Vec<DiagnosticRecord> {
    engine.policy_set().warnings().iter().map(|d| d.record()).collect()
}

/// A loaded policy file's id and version.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "typescript", derive(tsify::Tsify))]
pub struct PolicyVersion {
    /// The policy id.
    pub id: String,
    /// Its version.
    pub version: String,
}

/// Every loaded policy file with the digest of its bytes, ordered by id and effective date.
pub fn digests(engine: &Engine) -> Vec<crate::PolicyDigest> {
    crate::ledger::policy_digests(engine.policy_set())
}

/// Every loaded policy file, ordered by id and effective date.
pub fn versions(engine: &Engine) -> Vec<PolicyVersion> {
    engine
        .policy_set()
        .versions()
        .map(|(id, version)| PolicyVersion { id: id.into(), version: version.into() })
        .collect()
}

/// A policy set in a few words, for a binding's `repr`: `3 policy file(s), 41 rule(s)`.
pub fn describe(engine: &Engine) -> String {
    let set = engine.policy_set();
    format!("{} policy file(s), {} rule(s)", set.versions().count(), set.rule_count())
}

/// An overdue report in a few words, for a binding's `repr`: `gifts/register of "G1" for RM
/// "R1", due 2026-03-02T00:00:00Z` (a periodic duty's names its period instead of an action).
pub fn describe_overdue(report: &OverdueReport) -> String {
    let o = &report.obligation;
    let of = match (&o.action, &o.period) {
        (Some(action), _) => format!("{action:?}"),
        (_, period) => period.as_ref().map_or_else(String::new, |p| format!("period {} to {}", p.from, p.until)),
    };
    format!("{}/{} of {of} for RM {:?}, due {}", o.policy, o.duty, report.rm, o.due)
}

/// Appends one JSON value given as text to JSON lines: its line breaks (JSON whitespace) made
/// spaces and one line break after it, so that line numbers are row numbers.
pub fn push_json_line(out: &mut Vec<u8>, text: &[u8]) {
    let text = text.strip_suffix(b"\n").unwrap_or(text);
    out.extend(text.iter().map(|&b| if b == b'\n' || b == b'\r' { b' ' } else { b }));
    out.push(b'\n');
}

/// A JSON argument given as text, as the engine takes it: an `action` within the action size
/// limit ([`action_argument`]), anything else as [`json_argument`] reads it.
pub fn argument(what: &str, text: &str) -> Result<Json, Error> {
    match what {
        "action" => action_argument(text),
        _ => json_argument(what, text),
    }
}

/// `evaluate` and `explain`: an action and the RM's history (none is the empty history).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "typescript", derive(tsify::Tsify))]
#[serde(deny_unknown_fields)]
pub struct EvaluateRequest {
    /// The action: `type`, `id`, `at`, `rm` and its declared fields.
    #[cfg_attr(feature = "typescript", tsify(type = "Action"))]
    pub action: Json,
    /// The history: `{"actions", "breaches", "obligations"}`; `null` or absent is none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "typescript", tsify(type = "History | null"))]
    pub history: Option<Json>,
}

/// The action of a request.
pub fn action(value: Json) -> Result<Action, Error> {
    Action::from_value(value).map_err(|e| Error::invalid("action", &e))
}

/// The history of a request; `None` and `null` are the empty history.
pub fn history(value: Option<Json>) -> Result<History, Error> {
    match value {
        None | Some(Json::Null) => Ok(History::new()),
        // Read through the engine's own reader, for its wording and limits.
        Some(value) => History::from_json(&value.to_string()).map_err(|e| Error::invalid("history", &e)),
    }
}

/// A JSON argument given as text (`what` is `action`, `history`, …): `invalid action: invalid
/// JSON: …` when it is not JSON (or not of `T`'s shape).
pub fn json_argument<T: serde::de::DeserializeOwned>(what: &str, text: &str) -> Result<T, Error> {
    serde_json::from_str(text).map_err(|e| Error::invalid(what, &InputError::Json(e.to_string())))
}

/// An action given as JSON text, as [`Action::from_json`] takes it: over the action size limit
/// it is refused before it is parsed.
pub fn action_argument(text: &str) -> Result<Json, Error> {
    if text.len() > crate::limits::MAX_ACTION_BYTES {
        let e = InputError::Limit(format!(
            "action is {} bytes, more than the limit of {}",
            text.len(),
            crate::limits::MAX_ACTION_BYTES
        ));
        return Err(Error::invalid("action", &e));
    }
    json_argument("action", text)
}

/// An instant of a request (`what` names the field): RFC 3339 with an offset, second 60 refused.
pub fn time(what: &str, text: &str) -> Result<chrono::DateTime<chrono::FixedOffset>, Error> {
    parse_timestamp(text).map_err(|e| {
        let problem = match &e {
            InputError::Field { problem, .. } => problem.clone(),
            other => other.to_string(),
        };
        Error { field: Some(what.into()), ..Error::input(e.code(), format!("invalid time: {problem}")) }
    })
}

/// Decides on an action given the RM's history. Pure: nothing is recorded. The answer's JSON is
/// [`Decision::to_json`], byte for byte.
pub fn evaluate(engine: &Engine, request: EvaluateRequest) -> Result<Decision, Error> {
    let action = action(request.action)?;
    let history = history(request.history)?;
    Ok(engine.evaluate(&action, &history)?)
}

/// Decides on an action like [`evaluate`], explaining every clause, aggregate and ladder.
pub fn explain(engine: &Engine, request: EvaluateRequest) -> Result<Explanation, Error> {
    let action = action(request.action)?;
    let history = history(request.history)?;
    Ok(engine.explain(&action, &history)?)
}

/// `overdue`: a history and an instant.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "typescript", derive(tsify::Tsify))]
#[serde(deny_unknown_fields)]
pub struct OverdueRequest {
    /// The history.
    #[cfg_attr(feature = "typescript", tsify(type = "History"))]
    pub history: Json,
    /// RFC 3339 with an offset.
    pub at: String,
}

/// The overdue reports of a history at an instant (pure): every open obligation due before it.
pub fn overdue(engine: &Engine, request: OverdueRequest) -> Result<Vec<OverdueReport>, Error> {
    let history = history(Some(request.history))?;
    let at = time("at", &request.at)?;
    Ok(engine.overdue(&history, at)?)
}

/// `load_history`: history to seed a ledger with.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "typescript", derive(tsify::Tsify))]
#[serde(deny_unknown_fields)]
pub struct HistoryRequest {
    /// The history; its breaches and obligations must name `rm`.
    #[cfg_attr(feature = "typescript", tsify(type = "History"))]
    pub history: Json,
}

/// Loads history into a ledger as it is (nothing is evaluated).
pub fn load_history(ledger: &mut Ledger, request: HistoryRequest) -> Result<(), Error> {
    let history = history(Some(request.history))?;
    ledger.load(&history).map_err(|e| Error::invalid("history", &e))
}

/// `submit`: an action for a ledger.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "typescript", derive(tsify::Tsify))]
#[serde(deny_unknown_fields)]
pub struct SubmitRequest {
    /// The action.
    #[cfg_attr(feature = "typescript", tsify(type = "Action"))]
    pub action: Json,
}

/// What [`submit`] gives: the overdue reports of the implicit advance to the action's time,
/// then the decision.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "typescript", derive(tsify::Tsify), tsify(rename = "Submission"))]
pub struct SubmitAnswer {
    /// Obligations that fell overdue before the action, in deadline order.
    pub overdue: Vec<OverdueReport>,
    /// The decision on the action.
    pub decision: Decision,
}

/// Records an action in a ledger (whatever its verdict). Actions arrive in time order per RM.
pub fn submit(ledger: &mut Ledger, request: SubmitRequest) -> Result<SubmitAnswer, Error> {
    let action = action(request.action)?;
    let submission = ledger.submit(&action)?;
    Ok(SubmitAnswer { overdue: submission.overdue, decision: submission.decision })
}

/// `restore`: a snapshot (as [`crate::Ledger::snapshot`] gives it) to add to a ledger.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "typescript", derive(tsify::Tsify))]
#[serde(deny_unknown_fields)]
pub struct RestoreRequest {
    /// The snapshot: `{"format", "policies", "rms"}`, kept as the request wrote it: a recorded
    /// decision's evidence is in evaluation order, which a JSON tree would sort.
    #[cfg_attr(feature = "typescript", tsify(type = "unknown"))]
    pub snapshot: Box<serde_json::value::RawValue>,
}

impl PartialEq for RestoreRequest {
    fn eq(&self, other: &Self) -> bool {
        self.snapshot.get() == other.snapshot.get()
    }
}

/// A ledger's whole state as JSON: `{"format", "policies", "rms"}`.
pub fn snapshot(ledger: &Ledger) -> Json {
    serde_json::to_value(ledger.snapshot()).unwrap_or_default()
}

/// Adds a snapshot's RMs to a ledger (all or nothing).
pub fn restore(ledger: &mut Ledger, request: RestoreRequest) -> Result<(), Error> {
    restore_json(ledger, request.snapshot.get())
}

/// Adds the RMs of a snapshot given as JSON text to a ledger (all or nothing), as [`restore`]:
/// I0013 for text that is not a snapshot, I0014 for an item of a version the set lacks, I0015
/// for an RM the ledger tracks already.
pub fn restore_json(ledger: &mut Ledger, text: &str) -> Result<(), Error> {
    // A JSON tree (a request's, a binding's dict) sorts the decisions' members: put them back in
    // their order (a decision as the engine wrote it reads back the same).
    let snapshot = crate::Snapshot::from_json(text)?.with_decisions_in_order()?;
    Ok(ledger.restore(snapshot)?)
}

/// `advance`: the instant to move every RM of a ledger to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "typescript", derive(tsify::Tsify))]
#[serde(deny_unknown_fields)]
pub struct AdvanceRequest {
    /// RFC 3339 with an offset.
    pub to: String,
}

/// Advances every RM of a ledger: the obligations that fell overdue, in deadline order.
pub fn advance(ledger: &mut Ledger, request: AdvanceRequest) -> Result<Vec<OverdueReport>, Error> {
    Ok(ledger.advance_to(time("to", &request.to)?))
}

/// `replay`: JSON-lines actions and the instant to advance every RM to at the end.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "typescript", derive(tsify::Tsify))]
#[serde(deny_unknown_fields)]
pub struct ReplayRequest {
    /// One action per line, as `probity replay` reads them.
    pub events: String,
    /// RFC 3339 with an offset.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub as_of: Option<String>,
}

/// One record of a replay, written as `probity replay` writes its lines.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "typescript", derive(tsify::Tsify))]
#[serde(rename_all = "lowercase")]
pub enum ReplayRecord {
    /// The decision on a line's action.
    Decision(Decision),
    /// An obligation found overdue.
    Overdue(OverdueReport),
    /// A line that could not be used.
    Error {
        /// The line, numbered from 1.
        line: usize,
        /// Why.
        message: String,
    },
}

/// What a replay saw, as the CLI's summary table counts it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "typescript", derive(tsify::Tsify))]
pub struct ReplaySummary {
    /// Input lines that were actions.
    pub events: u64,
    /// Decisions per verdict (`allow`, `review`, `deny`, all three always present).
    pub verdicts: BTreeMap<String, u64>,
    /// Breaches per `policy/rule`.
    pub breaches: BTreeMap<String, u64>,
    /// Sanctions per `policy/ladder → step`.
    pub sanctions: BTreeMap<String, u64>,
    /// Overdue reports written.
    pub overdue_reports: u64,
    /// Obligations still open at the end, not yet overdue.
    pub open_obligations: usize,
    /// Obligations reported overdue and still open at the end.
    pub overdue_open: usize,
    /// Lines that could not be used.
    pub errors: u64,
    /// The summary as the aligned table `probity replay` prints.
    pub table: String,
}

/// What [`replay`] gives.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "typescript", derive(tsify::Tsify))]
pub struct ReplayAnswer {
    /// The records, in the order `probity replay` writes them.
    pub records: Vec<ReplayRecord>,
    /// The counts.
    pub summary: ReplaySummary,
}

/// Replays JSON-lines actions through a fresh ledger, on one thread.
pub fn replay(engine: &Engine, request: ReplayRequest) -> Result<ReplayAnswer, Error> {
    use crate::replay::{replay_with_options, Options, Record};
    let as_of = request.as_of.as_deref().map(|t| time("as_of", t)).transpose()?;
    let options = Options { as_of, jobs: 1, ..Options::default() };
    let encode = |records: &mut Vec<ReplayRecord>, record: &Record<'_>| {
        records.push(match *record {
            Record::Decision { decision, .. } => ReplayRecord::Decision(decision.clone()),
            Record::Overdue { report, .. } => ReplayRecord::Overdue(report.clone()),
            Record::Error { line, message, .. } => ReplayRecord::Error { line, message: message.into() },
        });
    };
    let mut records = Vec::new();
    let emit = |mut line: Vec<ReplayRecord>| {
        records.append(&mut line);
        Ok(())
    };
    let summary = replay_with_options(engine, request.events.as_bytes(), &options, encode, emit, |_| {})
        // Reading from memory and collecting into memory cannot fail.
        .map_err(|e| Error::internal(format!("replay failed: {e}")))?;
    let verdicts = [Verdict::Allow, Verdict::Review, Verdict::Deny]
        .into_iter()
        .map(|v| (v.as_str().to_string(), summary.verdicts.get(&v).copied().unwrap_or(0)))
        .collect();
    let summary = ReplaySummary {
        events: summary.events,
        verdicts,
        breaches: summary.breaches.clone(),
        sanctions: summary.sanctions.clone(),
        overdue_reports: summary.overdue_reports,
        open_obligations: summary.open_obligations,
        overdue_open: summary.overdue_open,
        errors: summary.errors,
        table: summary.table(),
    };
    Ok(ReplayAnswer { records, summary })
}

/// `format`: one policy file's text and its name (for diagnostics; default `policy.probity`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "typescript", derive(tsify::Tsify))]
#[serde(deny_unknown_fields)]
pub struct FormatRequest {
    /// The policy text.
    pub source: String,
    /// The file name diagnostics name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
}

/// What [`format()`] gives.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "typescript", derive(tsify::Tsify))]
pub struct FormatAnswer {
    /// The text in the canonical layout, comments kept.
    pub formatted: String,
}

/// Formats a policy file; text that does not parse is a policy error with its syntax errors.
pub fn format(request: FormatRequest) -> Result<FormatAnswer, Error> {
    let name = request.name.as_deref().unwrap_or("policy.probity");
    Ok(FormatAnswer { formatted: crate::parse::format::format_source(name, &request.source)? })
}

/// The shape of an action, for the TypeScript declarations only: the engine reads actions as
/// JSON values ([`Action::from_value`]).
#[cfg(feature = "typescript")]
#[derive(Serialize, tsify::Tsify)]
#[tsify(rename = "Action")]
pub struct ActionShape {
    /// The action type.
    #[serde(rename = "type")]
    pub kind: String,
    /// The action's id.
    pub id: String,
    /// RFC 3339 with an offset.
    pub at: String,
    /// The RM: `{"id": …}` and any declared RM fields.
    #[tsify(type = "{ id: string; [field: string]: unknown }")]
    pub rm: Json,
    /// The fields the action type declares.
    #[serde(flatten)]
    #[tsify(type = "Record<string, unknown>")]
    pub fields: Json,
}
