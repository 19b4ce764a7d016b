//! WebAssembly binding of the Probity policy engine: pass-throughs over [`probity::api`].
//!
//! JS values cross as JSON text (a string argument is taken as JSON text already, anything else
//! goes through `JSON.stringify`); answers come back as plain objects parsed from the engine's
//! own JSON; a failure is a JS `Error` named by its [`api::ErrorKind`] (`PolicyError`,
//! `InputError`, `InternalError`) carrying the [`api::Error`] fields (`code`, `field`,
//! `diagnostics`). The TypeScript types are generated from the core's types (its `typescript`
//! feature). See `README.md` for the JS API.
#![forbid(unsafe_code)]
#![deny(missing_docs)]

use probity::api::{self, text::answer};
use probity::{Engine, Ledger};
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;

#[wasm_bindgen]
extern "C" {
    #[wasm_bindgen(js_namespace = JSON, js_name = parse, catch)]
    fn json_parse(text: &str) -> Result<JsValue, JsValue>;
    #[wasm_bindgen(js_namespace = JSON, js_name = stringify, catch)]
    fn json_stringify(value: &JsValue) -> Result<JsValue, JsValue>;
    #[wasm_bindgen(js_namespace = Reflect, js_name = set, catch)]
    fn reflect_set(target: &JsValue, key: &str, value: &JsValue) -> Result<bool, JsValue>;
    #[wasm_bindgen(js_namespace = Object, js_name = assign, catch)]
    fn object_assign(target: &JsValue, source: &JsValue) -> Result<JsValue, JsValue>;
    #[wasm_bindgen(js_namespace = Object, js_name = fromEntries, catch)]
    fn object_from_entries(map: &JsValue) -> Result<JsValue, JsValue>;
    #[wasm_bindgen(js_name = String)]
    fn js_string(value: &JsValue) -> String;
    #[wasm_bindgen(js_name = Map)]
    type JsMap;
}

/// Turns panics into JS errors: the last line of defence, since the engine does not panic by
/// design. The panicking call throws an `InternalError` naming the bug; the object it was called
/// on stays borrowed, so further calls on it fail too (create a new one, or reload the module).
#[wasm_bindgen(start)]
fn start() {
    std::panic::set_hook(Box::new(|info| {
        wasm_bindgen::throw_val(error(api::Error::internal(format!(
            "probity panicked (this is a bug, please report it): {info}; \
             the object in use may be unusable: create a new one or reload the module"
        ))))
    }));
}

/// A JS `Error` for a failure: `name` is its kind, and the [`api::Error`] fields (`code`, and
/// `field` and `diagnostics` when it has them) are its properties. Setting a property on a fresh
/// `Error` cannot fail; if it did, the message would remain.
fn error(failure: api::Error) -> JsValue {
    let error: JsValue = JsError::new(&failure.message).into();
    let _ = object_assign(&error, &json_parse(&answer(&failure)).unwrap_or(JsValue::NULL));
    let _ = reflect_set(&error, "name", &JsValue::from_str(failure.kind.as_str()));
    error
}

/// A plain JS value of an answer.
fn object<T: serde::Serialize>(value: Result<T, api::Error>) -> Result<JsValue, JsValue> {
    json_parse(&answer(&value.map_err(error)?))
}

/// JSON text of an argument: a string as it is, anything else through `JSON.stringify` (so a
/// JS number becomes its shortest round-trip text).
fn json_text(value: &JsValue, what: &str) -> Result<String, api::Error> {
    if let Some(text) = value.as_string() {
        return Ok(text);
    }
    let invalid = |why: String| api::Error::input("I0001", format!("invalid {what}: {why}"));
    let written =
        json_stringify(value).map_err(|e| invalid(format!("cannot be written as JSON: {}", js_string(&e))))?;
    written.as_string().ok_or_else(|| invalid(format!("expected an object or JSON text, found {}", js_string(value))))
}

/// A JSON argument as a value (an action within the action size limit).
fn json(value: &JsValue, what: &str) -> Result<serde_json::Value, api::Error> {
    api::argument(what, &json_text(value, what)?)
}

/// An instant: RFC 3339 text (with an offset) or a valid JS `Date` (`JSON.stringify` writes it
/// in UTC); the core parses it.
fn time(value: &JsValue) -> Result<String, JsValue> {
    if let Some(text) = value.as_string() {
        return Ok(text);
    }
    let written = json_stringify(value).ok().and_then(|w| w.as_string());
    written.and_then(|w| serde_json::from_str::<String>(&w).ok()).ok_or_else(|| {
        let message = format!("invalid time: expected RFC 3339 text or a valid Date, found {}", js_string(value));
        error(api::Error::input("I0006", message))
    })
}

/// Policy sources from a plain object, a `Map` or an array of pairs.
fn sources(value: &JsValue) -> Result<api::Sources, JsValue> {
    let value = match value.is_instance_of::<JsMap>() {
        true => object_from_entries(value).map_err(|e| error(api::Error::input("I0011", js_string(&e))))?,
        false => value.clone(),
    };
    api::Sources::from_json(&json_text(&value, "policy sources").map_err(error)?).map_err(error)
}

/// A loaded, checked set of policy files.
#[wasm_bindgen(js_name = PolicySet)]
pub struct JsPolicySet {
    engine: Engine,
}

#[wasm_bindgen(js_class = PolicySet)]
impl JsPolicySet {
    /// Loads policy sources. Throws a `PolicyError` carrying every diagnostic if any has errors.
    #[wasm_bindgen(js_name = fromSources)]
    pub fn from_sources(
        #[wasm_bindgen(unchecked_param_type = "PolicySources | Map<string, string>")] sources: JsValue,
        #[wasm_bindgen(unchecked_optional_param_type = "{ requirePolicy?: boolean, files?: Record<string, string> }")]
        options: Option<JsValue>,
    ) -> Result<JsPolicySet, JsValue> {
        let sources = self::sources(&sources)?;
        let options: api::LoadOptions = match options.filter(|o| !o.is_undefined() && !o.is_null()) {
            Some(o) => api::json_argument("options", &json_text(&o, "options").map_err(error)?).map_err(error)?,
            None => api::LoadOptions::default(),
        };
        let request = api::LoadRequest { sources, require_policy: options.require_policy, files: options.files };
        Ok(JsPolicySet { engine: api::load(request).map_err(error)? })
    }

    /// Checks policy sources without loading them: every error and warning (empty when clean).
    #[wasm_bindgen(unchecked_return_type = "DiagnosticRecord[]")]
    pub fn check(
        #[wasm_bindgen(unchecked_param_type = "PolicySources | Map<string, string>")] sources: JsValue,
    ) -> Result<JsValue, JsValue> {
        object(Ok(api::check(api::CheckRequest { sources: self::sources(&sources)? })))
    }

    /// The warnings of the load.
    #[wasm_bindgen(getter, unchecked_return_type = "DiagnosticRecord[]")]
    pub fn warnings(&self) -> Result<JsValue, JsValue> {
        object(Ok(api::warnings(&self.engine)))
    }

    /// `{id, version}` of every loaded file, ordered by id and effective date.
    #[wasm_bindgen(unchecked_return_type = "PolicyVersion[]")]
    pub fn versions(&self) -> Result<JsValue, JsValue> {
        object(Ok(api::versions(&self.engine)))
    }

    /// The number of rules, conflicts and duties across all files.
    #[wasm_bindgen(getter, js_name = ruleCount)]
    pub fn rule_count(&self) -> usize {
        self.engine.policy_set().rule_count()
    }
}

/// Evaluates actions against a policy set. Pure: nothing is recorded.
#[wasm_bindgen(js_name = Engine)]
pub struct JsEngine {
    engine: Engine,
}

#[wasm_bindgen(js_class = Engine)]
impl JsEngine {
    /// An engine for a policy set (which stays usable).
    #[wasm_bindgen(constructor)]
    pub fn new(set: &JsPolicySet) -> JsEngine {
        JsEngine { engine: set.engine.clone() }
    }

    /// Decides on an action (an object or its JSON text) given the RM's history (optional).
    #[wasm_bindgen(unchecked_return_type = "Decision")]
    pub fn evaluate(
        &self,
        #[wasm_bindgen(unchecked_param_type = "Action | string")] action: JsValue,
        #[wasm_bindgen(unchecked_optional_param_type = "History | string | null")] history: Option<JsValue>,
    ) -> Result<JsValue, JsValue> {
        json_parse(&self.evaluate_json(action, history)?)
    }

    /// Like `evaluate`, but returns the decision JSON text exactly as the Rust engine writes it.
    #[wasm_bindgen(js_name = evaluateJson)]
    pub fn evaluate_json(
        &self,
        #[wasm_bindgen(unchecked_param_type = "Action | string")] action: JsValue,
        #[wasm_bindgen(unchecked_optional_param_type = "History | string | null")] history: Option<JsValue>,
    ) -> Result<String, JsValue> {
        let history = history.filter(|h| !h.is_undefined() && !h.is_null());
        let request = api::EvaluateRequest {
            action: json(&action, "action").map_err(error)?,
            history: history.map(|h| json(&h, "history")).transpose().map_err(error)?,
        };
        Ok(answer(&api::evaluate(&self.engine, request).map_err(error)?))
    }

    /// The overdue reports of a history at a time (pure): every open obligation due before it.
    #[wasm_bindgen(unchecked_return_type = "OverdueReport[]")]
    pub fn overdue(
        &self,
        #[wasm_bindgen(unchecked_param_type = "History | string")] history: JsValue,
        #[wasm_bindgen(unchecked_param_type = "string | Date")] at: JsValue,
    ) -> Result<JsValue, JsValue> {
        let history = json(&history, "history").map_err(error)?;
        object(api::overdue(&self.engine, api::OverdueRequest { history, at: time(&at)? }))
    }

    /// A new, empty ledger over this engine's policy set.
    pub fn ledger(&self) -> JsLedger {
        JsLedger { ledger: self.engine.ledger() }
    }
}

/// A stateful, per-RM history: records what happened, tracks obligations, reports the overdue.
#[wasm_bindgen(js_name = Ledger)]
pub struct JsLedger {
    ledger: Ledger,
}

#[wasm_bindgen(js_class = Ledger)]
impl JsLedger {
    /// An empty ledger over an engine's policy set.
    #[wasm_bindgen(constructor)]
    pub fn new(engine: &JsEngine) -> JsLedger {
        engine.ledger()
    }

    /// Loads history as it is (nothing is evaluated); breaches and obligations must name `rm`.
    pub fn load(
        &mut self,
        #[wasm_bindgen(unchecked_param_type = "History | string")] history: JsValue,
    ) -> Result<(), JsValue> {
        let history = json(&history, "history").map_err(error)?;
        api::load_history(&mut self.ledger, api::HistoryRequest { history }).map_err(error)
    }

    /// Records an action (whatever its verdict): first the overdue reports of the implicit
    /// advance to the action's time, then its decision. Actions must arrive in time order per RM.
    #[wasm_bindgen(unchecked_return_type = "Submission")]
    pub fn submit(
        &mut self,
        #[wasm_bindgen(unchecked_param_type = "Action | string")] action: JsValue,
    ) -> Result<JsValue, JsValue> {
        let action = json(&action, "action").map_err(error)?;
        object(api::submit(&mut self.ledger, api::SubmitRequest { action }))
    }

    /// Advances every RM to a time, reporting obligations that fell overdue, in deadline order.
    #[wasm_bindgen(js_name = advanceTo, unchecked_return_type = "OverdueReport[]")]
    pub fn advance_to(
        &mut self,
        #[wasm_bindgen(unchecked_param_type = "string | Date")] time: JsValue,
    ) -> Result<JsValue, JsValue> {
        object(api::advance(&mut self.ledger, api::AdvanceRequest { to: self::time(&time)? }))
    }
}
