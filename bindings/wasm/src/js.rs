//! The `#[wasm_bindgen]` exports: values cross as JSON text, results come back as plain JS
//! objects (`JSON.parse` of the engine's own JSON), failures as JS `Error`s.
//!
//! Calling these natively panics inside wasm-bindgen; the logic they wrap lives in `api.rs`.

use probity::{Engine, Ledger};
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;

use crate::api::{self, Failure};

#[wasm_bindgen(typescript_custom_section)]
const TYPES: &'static str = r#"
/** Policy sources: file name → policy text (a plain object, a `Map`, or `[name, text]` pairs). */
export type PolicySources = Record<string, string> | Map<string, string> | Array<[string, string]>;

/** One problem in a policy file; lines and columns are 1-based (columns count characters). */
export interface Diagnostic {
  code: string;
  severity: "error" | "warning";
  message: string;
  help: string | null;
  file: string;
  line: number;
  column: number;
  end_line: number;
  end_column: number;
  related: Array<{ message: string; file: string; line: number; column: number }>;
}

/** Thrown when policy text does not load: `diagnostics` holds every error and warning. */
export interface PolicyError extends Error {
  name: "PolicyError";
  diagnostics: Diagnostic[];
}

/** Thrown when an action, a history or a time cannot be used; the message says why. */
export interface InputError extends Error {
  name: "InputError";
}

/** Thrown when Probity itself fails (a panic caught at the boundary): a bug, please report it. */
export interface InternalError extends Error {
  name: "InternalError";
}

/** Options of `PolicySet.fromSources`. */
export interface LoadOptions {
  /** Decide `review`, with an error finding (rule `no-policy-in-force`), when no policy
   * version is in force for an action, instead of `allow` with no policies. */
  requirePolicy?: boolean;
}

/** An RM action: `type`, `id`, `at` (RFC 3339 with an offset), `rm.id`, and declared fields. */
export interface Action {
  type: string;
  id: string;
  at: string;
  rm: { id: string; [field: string]: unknown };
  [field: string]: unknown;
}

/** The RM's history: prior actions, breaches and open obligations. */
export interface History {
  actions?: Action[];
  breaches?: Array<{
    rm?: string; policy: string; rule: string; severity: string; ladder?: string;
    at: string; action: string; points?: number;
  }>;
  obligations?: Array<{
    rm?: string; policy: string; duty: string; action: string; due: string; version?: string;
  }>;
}

export type Verdict = "allow" | "review" | "deny";
export type FindingKind = "rule" | "conflict" | "duty" | "overdue" | "error";

export interface AppliedPolicy { id: string; version: string; digest: string }

export interface Finding {
  policy: string;
  rule: string;
  kind: FindingKind;
  outcomes: string[];
  /** Present when the finding records a breach. */
  severity?: string;
  /** Present when the finding records a breach. */
  ladder?: string;
  message: string;
  /** Messages in further languages, by language tag (absent when there are none). */
  messages?: Record<string, string>;
  cite: string[];
  /** The values the rule saw, by path or `let` name, in the order it read them. */
  evidence: Record<string, unknown>;
}

export interface Obligation { policy: string; duty: string; action: string; due: string }
export interface Fulfilment { policy: string; duty: string; action: string }
export interface Sanction {
  policy: string; ladder: string; points: number; step: string; previous: string | null;
}

/** The decision JSON shared by every Probity surface. */
export interface Decision {
  action: string;
  at: string;
  verdict: Verdict;
  policies: AppliedPolicy[];
  findings: Finding[];
  obligations: Obligation[];
  fulfilled: Fulfilment[];
  escalations: string[];
  sanctions: Sanction[];
}

export interface OverdueReport {
  rm: string;
  at: string;
  obligation: Obligation;
  findings: Finding[];
  escalations: string[];
  sanctions: Sanction[];
}

/** What `Ledger.submit` gives: the overdue reports of the implicit advance, then the decision. */
export interface Submission {
  overdue: OverdueReport[];
  decision: Decision;
}
"#;

#[wasm_bindgen]
extern "C" {
    #[wasm_bindgen(js_namespace = JSON, js_name = parse, catch)]
    fn json_parse(text: &str) -> Result<JsValue, JsValue>;

    #[wasm_bindgen(js_namespace = JSON, js_name = stringify, catch)]
    fn json_stringify(value: &JsValue) -> Result<JsValue, JsValue>;

    #[wasm_bindgen(js_namespace = Reflect, js_name = set, catch)]
    fn reflect_set(target: &JsValue, key: &str, value: &JsValue) -> Result<bool, JsValue>;

    #[wasm_bindgen(js_namespace = Reflect, js_name = get, catch)]
    fn reflect_get(target: &JsValue, key: &str) -> Result<JsValue, JsValue>;

    #[wasm_bindgen(js_namespace = Object, js_name = fromEntries, catch)]
    fn object_from_entries(map: &JsValue) -> Result<JsValue, JsValue>;

    #[wasm_bindgen(js_name = String)]
    fn js_string(value: &JsValue) -> String;

    #[wasm_bindgen(js_name = Map)]
    type JsMap;
}

/// Turns panics into JS errors: the last line of defence, since the engine does not panic by
/// design. The panicking call throws an `Error` named `InternalError` naming the bug; the object
/// it was called on stays borrowed, so further calls on it fail too (create a new one, or reload
/// the module).
#[wasm_bindgen(start)]
fn start() {
    std::panic::set_hook(Box::new(|info| {
        let message = format!(
            "probity panicked (this is a bug, please report it): {info}; \
             the object in use may be unusable: create a new one or reload the module"
        );
        let error: JsValue = JsError::new(&message).into();
        let _ = reflect_set(&error, "name", &JsValue::from_str("InternalError"));
        wasm_bindgen::throw_val(error)
    }));
}

/// A JS `Error` for a failure: `name` is `PolicyError` (with `diagnostics`) or `InputError`.
fn error(failure: Failure) -> JsValue {
    let error: JsValue = JsError::new(failure.message()).into();
    // Setting a property on a fresh Error cannot fail; if it somehow did, the message remains.
    let _ = reflect_set(&error, "name", &JsValue::from_str(failure.name()));
    if let Some(diagnostics) = failure.diagnostics_json() {
        let _ = reflect_set(&error, "diagnostics", &json_parse(&diagnostics).unwrap_or(JsValue::NULL));
    }
    error
}

/// A plain JS value from the engine's JSON text.
fn object(text: &str) -> Result<JsValue, JsValue> {
    json_parse(text)
}

/// JSON text of an argument: a string is taken as JSON text already, anything else goes
/// through `JSON.stringify` (so a JS number becomes its shortest round-trip text).
fn json_text(value: &JsValue, what: &str) -> Result<String, Failure> {
    if let Some(text) = value.as_string() {
        return Ok(text);
    }
    let written = json_stringify(value)
        .map_err(|e| Failure::Input(format!("invalid {what}: cannot be written as JSON: {}", js_string(&e))))?;
    written.as_string().ok_or_else(|| {
        Failure::Input(format!("invalid {what}: expected an object or JSON text, found {}", js_string(value)))
    })
}

/// JSON text of an optional argument: `undefined` and `null` are none.
fn optional_json_text(value: &JsValue, what: &str) -> Result<Option<String>, Failure> {
    if value.is_undefined() || value.is_null() {
        Ok(None)
    } else {
        json_text(value, what).map(Some)
    }
}

/// Policy sources from a plain object, a `Map` or an array of pairs.
fn sources(value: &JsValue) -> Result<Vec<(String, String)>, Failure> {
    let text = if value.is_instance_of::<JsMap>() {
        let object = object_from_entries(value)
            .map_err(|e| Failure::Input(format!("invalid policy sources: {}", js_string(&e))))?;
        json_text(&object, "policy sources")?
    } else {
        json_text(value, "policy sources")?
    };
    api::sources_from_json(&text)
}

/// An instant: RFC 3339 text (with an offset) or a JS `Date`.
fn time(value: &JsValue) -> Result<String, Failure> {
    if let Some(text) = value.as_string() {
        return Ok(text);
    }
    let written = json_stringify(value).ok().and_then(|w| w.as_string());
    written.and_then(|w| serde_json::from_str::<String>(&w).ok()).ok_or_else(|| {
        Failure::Input(format!("invalid time: expected RFC 3339 text or a valid Date, found {}", js_string(value)))
    })
}

/// A loaded, checked set of policy files.
#[wasm_bindgen(js_name = PolicySet)]
pub struct JsPolicySet {
    engine: Engine,
}

#[wasm_bindgen(js_class = PolicySet)]
impl JsPolicySet {
    /// Loads policy sources. Throws a `PolicyError` carrying every diagnostic if any has errors.
    /// `options.requirePolicy`: see `LoadOptions`.
    #[wasm_bindgen(js_name = fromSources)]
    pub fn from_sources(
        #[wasm_bindgen(unchecked_param_type = "PolicySources")] sources: JsValue,
        #[wasm_bindgen(unchecked_optional_param_type = "LoadOptions")] options: Option<JsValue>,
    ) -> Result<JsPolicySet, JsValue> {
        let require_policy = match options.filter(|o| !o.is_undefined() && !o.is_null()) {
            Some(o) => reflect_get(&o, "requirePolicy").map(|v| v.is_truthy()).unwrap_or(false),
            None => false,
        };
        let engine = api::load_with(self::sources(&sources).map_err(error)?, require_policy).map_err(error)?;
        Ok(JsPolicySet { engine })
    }

    /// Checks policy sources without loading them: every error and warning (empty when clean).
    #[wasm_bindgen(unchecked_return_type = "Diagnostic[]")]
    pub fn check(#[wasm_bindgen(unchecked_param_type = "PolicySources")] sources: JsValue) -> Result<JsValue, JsValue> {
        object(&api::diagnose(self::sources(&sources).map_err(error)?))
    }

    /// The warnings of the load.
    #[wasm_bindgen(getter, unchecked_return_type = "Diagnostic[]")]
    pub fn warnings(&self) -> Result<JsValue, JsValue> {
        object(&api::warnings(&self.engine))
    }

    /// `{id, version}` of every loaded file, ordered by id and effective date.
    #[wasm_bindgen(unchecked_return_type = "Array<{ id: string; version: string }>")]
    pub fn versions(&self) -> Result<JsValue, JsValue> {
        object(&api::versions(&self.engine))
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
    /// Returns the decision as a plain object; throws an `InputError` for unusable input.
    #[wasm_bindgen(unchecked_return_type = "Decision")]
    pub fn evaluate(
        &self,
        #[wasm_bindgen(unchecked_param_type = "Action | string")] action: JsValue,
        #[wasm_bindgen(unchecked_optional_param_type = "History | string | null")] history: Option<JsValue>,
    ) -> Result<JsValue, JsValue> {
        object(&self.evaluate_text(&action, history.as_ref())?)
    }

    /// Like `evaluate`, but returns the decision JSON text exactly as the Rust engine writes it.
    #[wasm_bindgen(js_name = evaluateJson)]
    pub fn evaluate_json(
        &self,
        #[wasm_bindgen(unchecked_param_type = "Action | string")] action: JsValue,
        #[wasm_bindgen(unchecked_optional_param_type = "History | string | null")] history: Option<JsValue>,
    ) -> Result<String, JsValue> {
        self.evaluate_text(&action, history.as_ref())
    }

    fn evaluate_text(&self, action: &JsValue, history: Option<&JsValue>) -> Result<String, JsValue> {
        let action = json_text(action, "action").map_err(error)?;
        let history = match history {
            Some(h) => optional_json_text(h, "history").map_err(error)?,
            None => None,
        };
        api::evaluate(&self.engine, &action, history.as_deref()).map_err(error)
    }

    /// The overdue reports of a history at a time (pure): every open obligation due before it.
    #[wasm_bindgen(unchecked_return_type = "OverdueReport[]")]
    pub fn overdue(
        &self,
        #[wasm_bindgen(unchecked_param_type = "History | string")] history: JsValue,
        #[wasm_bindgen(unchecked_param_type = "string | Date")] at: JsValue,
    ) -> Result<JsValue, JsValue> {
        let history = json_text(&history, "history").map_err(error)?;
        let at = time(&at).map_err(error)?;
        object(&api::overdue(&self.engine, &history, &at).map_err(error)?)
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
        let history = json_text(&history, "history").map_err(error)?;
        api::ledger_load(&mut self.ledger, &history).map_err(error)
    }

    /// Records an action (whatever its verdict): first the overdue reports of the implicit
    /// advance to the action's time, then its decision. Actions must arrive in time order per RM.
    #[wasm_bindgen(unchecked_return_type = "Submission")]
    pub fn submit(
        &mut self,
        #[wasm_bindgen(unchecked_param_type = "Action | string")] action: JsValue,
    ) -> Result<JsValue, JsValue> {
        let action = json_text(&action, "action").map_err(error)?;
        object(&api::submit(&mut self.ledger, &action).map_err(error)?)
    }

    /// Advances every RM to a time, reporting obligations that fell overdue, in deadline order.
    #[wasm_bindgen(js_name = advanceTo, unchecked_return_type = "OverdueReport[]")]
    pub fn advance_to(
        &mut self,
        #[wasm_bindgen(unchecked_param_type = "string | Date")] time: JsValue,
    ) -> Result<JsValue, JsValue> {
        let at = self::time(&time).map_err(error)?;
        object(&api::advance_to(&mut self.ledger, &at).map_err(error)?)
    }
}
