//! The calls of [`crate::api`] as JSON text in, JSON text out: `Ok` holds the answer's JSON,
//! `Err` the error answer `{"error": {…}}`. A binding or an HTTP service passes text through
//! these as it is; the engine and ledger stay Rust values the caller keeps.

use serde::de::DeserializeOwned;
use serde::Serialize;

use super::{
    AdvanceRequest, CheckRequest, Error, EvaluateRequest, HistoryRequest, OverdueRequest, ReplayRequest,
    RestoreRequest, SubmitRequest,
};
use crate::engine::Engine;
use crate::ledger::Ledger;

/// Compact JSON of an answer. The answer types always serialise (strings, numbers, records);
/// should one ever fail, the result is `null` rather than a panic.
pub fn answer<T: Serialize + ?Sized>(value: &T) -> String {
    serde_json::to_string(value).unwrap_or_else(|_| "null".to_string())
}

/// A request read from JSON text; the wrong shape is an input error coded `I0011`.
pub fn request<T: DeserializeOwned>(text: &str) -> Result<T, Error> {
    serde_json::from_str(text).map_err(|e| Error::input("I0011", format!("invalid request: {e}")))
}

fn call<Q: DeserializeOwned, A: Serialize>(
    text: &str,
    f: impl FnOnce(Q) -> Result<A, Error>,
) -> Result<String, String> {
    request(text).and_then(f).map(|a| answer(&a)).map_err(|e| e.to_json())
}

/// [`super::load`]: `{"sources", "require_policy"?}` → an engine.
pub fn load(request: &str) -> Result<Engine, String> {
    self::request(request).and_then(super::load).map_err(|e| e.to_json())
}

/// [`super::check`]: `{"sources"}` → `[DiagnosticRecord…]`.
pub fn check(request: &str) -> Result<String, String> {
    call(request, |q: CheckRequest| Ok(super::check(q)))
}

/// [`super::warnings`] → `[DiagnosticRecord…]`.
pub fn warnings(engine: &Engine) -> String {
    answer(&super::warnings(engine))
}

/// [`super::versions`] → `[{"id", "version"}…]`.
pub fn versions(engine: &Engine) -> String {
    answer(&super::versions(engine))
}

/// [`super::evaluate`]: `{"action", "history"?}` → the decision JSON.
pub fn evaluate(engine: &Engine, request: &str) -> Result<String, String> {
    call(request, |q: EvaluateRequest| super::evaluate(engine, q))
}

/// [`super::explain`]: `{"action", "history"?}` → the explanation.
pub fn explain(engine: &Engine, request: &str) -> Result<String, String> {
    call(request, |q: EvaluateRequest| super::explain(engine, q))
}

/// [`super::overdue`]: `{"history", "at"}` → `[OverdueReport…]`.
pub fn overdue(engine: &Engine, request: &str) -> Result<String, String> {
    call(request, |q: OverdueRequest| super::overdue(engine, q))
}

/// [`super::load_history`]: `{"history"}` → `null`.
pub fn load_history(ledger: &mut Ledger, request: &str) -> Result<String, String> {
    call(request, |q: HistoryRequest| super::load_history(ledger, q))
}

/// [`super::submit`]: `{"action"}` → `{"overdue", "decision"}`.
pub fn submit(ledger: &mut Ledger, request: &str) -> Result<String, String> {
    call(request, |q: SubmitRequest| super::submit(ledger, q))
}

/// [`super::advance`]: `{"to"}` → `[OverdueReport…]`.
pub fn advance(ledger: &mut Ledger, request: &str) -> Result<String, String> {
    call(request, |q: AdvanceRequest| super::advance(ledger, q))
}

/// [`super::snapshot`] → `{"format", "policies", "rms"}`.
pub fn snapshot(ledger: &Ledger) -> String {
    answer(&ledger.snapshot())
}

/// [`super::restore`]: `{"snapshot"}` → `null`.
pub fn restore(ledger: &mut Ledger, request: &str) -> Result<String, String> {
    call(request, |q: RestoreRequest| super::restore(ledger, q))
}

/// [`super::replay`]: `{"events", "as_of"?}` → `{"records", "summary"}`.
pub fn replay(engine: &Engine, request: &str) -> Result<String, String> {
    call(request, |q: ReplayRequest| super::replay(engine, q))
}

/// [`super::format`]: `{"source", "name"?}` → `{"formatted"}`.
pub fn format(request: &str) -> Result<String, String> {
    call(request, super::format)
}
