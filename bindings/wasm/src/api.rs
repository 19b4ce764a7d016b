//! The binding's logic as plain Rust: JSON text in, JSON text out, failures as data.
//!
//! Everything here runs natively (`cargo test -p probity-wasm`); the `#[wasm_bindgen]` layer in
//! `js.rs` only moves strings across the boundary and turns [`Failure`] into a JS `Error`.

use chrono::{DateTime, FixedOffset};
use probity::{
    Action, Decision, DiagnosticRecord, Diagnostics, Engine, History, InputError, Ledger, OverdueReport, PolicySet,
};
use serde::Serialize;
use serde_json::Value as Json;

/// Why a call failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Failure {
    /// The policy text has errors: every diagnostic (errors and warnings), in file and position order.
    Policy {
        /// The readable summary (`N error(s) in policy text` and one line per diagnostic).
        message: String,
        /// The records, as on every other surface.
        diagnostics: Vec<DiagnosticRecord>,
    },
    /// An action, a history, a time or an argument cannot be used.
    Input(String),
}

impl Failure {
    /// The error's name on the JS side.
    pub fn name(&self) -> &'static str {
        match self {
            Failure::Policy { .. } => "PolicyError",
            Failure::Input(_) => "InputError",
        }
    }

    /// The readable message.
    pub fn message(&self) -> &str {
        match self {
            Failure::Policy { message, .. } | Failure::Input(message) => message,
        }
    }

    /// The diagnostics as a JSON array, for a policy failure.
    pub fn diagnostics_json(&self) -> Option<String> {
        match self {
            Failure::Policy { diagnostics, .. } => Some(to_json(diagnostics)),
            Failure::Input(_) => None,
        }
    }

    fn input(what: &str, error: impl std::fmt::Display) -> Failure {
        Failure::Input(format!("invalid {what}: {error}"))
    }
}

impl From<Diagnostics> for Failure {
    fn from(d: Diagnostics) -> Failure {
        Failure::Policy { message: d.to_string(), diagnostics: d.records() }
    }
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.message())
    }
}

impl std::error::Error for Failure {}

/// Compact JSON of a serde value. The engine's output types always serialise; should one ever
/// fail, the result is `null` rather than a panic.
fn to_json<T: Serialize + ?Sized>(value: &T) -> String {
    serde_json::to_string(value).unwrap_or_else(|_| "null".to_string())
}

/// Reads policy sources given as a JSON object `{"name": "text", …}` or an array of
/// `["name", "text"]` pairs.
pub fn sources_from_json(text: &str) -> Result<Vec<(String, String)>, Failure> {
    let value: Json = serde_json::from_str(text).map_err(|e| Failure::input("policy sources", e))?;
    let shape = || {
        Failure::Input(
            "invalid policy sources: expected an object mapping file names to policy text, \
             such as `{\"gifts.probity\": \"policy gifts …\"}`"
                .into(),
        )
    };
    match value {
        Json::Object(map) => map
            .into_iter()
            .map(|(name, text)| match text {
                Json::String(text) => Ok((name, text)),
                _ => Err(Failure::Input(format!("invalid policy sources: the text of `{name}` is not a string"))),
            })
            .collect(),
        Json::Array(items) => items
            .into_iter()
            .map(|item| match item {
                Json::Array(pair) => match <[Json; 2]>::try_from(pair) {
                    Ok([Json::String(name), Json::String(text)]) => Ok((name, text)),
                    _ => Err(shape()),
                },
                _ => Err(shape()),
            })
            .collect(),
        _ => Err(shape()),
    }
}

/// Loads and checks policy sources; on failure, every diagnostic.
pub fn load(sources: Vec<(String, String)>) -> Result<Engine, Failure> {
    load_with(sources, false)
}

/// [`load`], where with `require_policy` an action no policy version is in force for is
/// decided `review` with an error finding (`PolicySet::require_policy`).
pub fn load_with(sources: Vec<(String, String)>, require_policy: bool) -> Result<Engine, Failure> {
    Ok(Engine::new(PolicySet::from_sources(sources)?.require_policy(require_policy)))
}

/// Checks policy sources without keeping them: every diagnostic (errors and warnings) as a JSON
/// array of records. An empty array means the sources load cleanly.
pub fn diagnose(sources: Vec<(String, String)>) -> String {
    to_json(&PolicySet::diagnose(sources).records())
}

/// The warnings of a loaded policy set, as a JSON array of diagnostic records.
pub fn warnings(engine: &Engine) -> String {
    let records: Vec<DiagnosticRecord> = engine.policy_set().warnings().iter().map(|d| d.record()).collect();
    to_json(&records)
}

/// `[{"id", "version"}, …]` of every loaded policy file, ordered by id and effective date.
pub fn versions(engine: &Engine) -> String {
    #[derive(Serialize)]
    struct Version<'a> {
        id: &'a str,
        version: &'a str,
    }
    let list: Vec<Version<'_>> = engine.policy_set().versions().map(|(id, version)| Version { id, version }).collect();
    to_json(&list)
}

/// Parses an action.
pub fn action(text: &str) -> Result<Action, Failure> {
    Action::from_json(text).map_err(|e| Failure::input("action", e))
}

/// Parses a history; `None` is the empty history.
pub fn history(text: Option<&str>) -> Result<History, Failure> {
    match text {
        Some(text) => History::from_json(text).map_err(|e| Failure::input("history", e)),
        None => Ok(History::new()),
    }
}

/// Parses an RFC 3339 timestamp with an offset.
pub fn time(text: &str) -> Result<DateTime<FixedOffset>, Failure> {
    DateTime::parse_from_rfc3339(text)
        .map_err(|e| Failure::Input(format!("invalid time `{text}`: {e} (use RFC 3339 with an offset)")))
}

fn evaluation(e: InputError) -> Failure {
    Failure::Input(e.to_string())
}

/// Decides on an action given the RM's history (pure: nothing is recorded). The decision JSON.
pub fn evaluate(engine: &Engine, action_json: &str, history_json: Option<&str>) -> Result<String, Failure> {
    let action = action(action_json)?;
    let history = history(history_json)?;
    let decision: Decision = engine.evaluate(&action, &history).map_err(evaluation)?;
    Ok(to_json(&decision))
}

/// The overdue reports of a history at a time (pure), as a JSON array.
pub fn overdue(engine: &Engine, history_json: &str, at: &str) -> Result<String, Failure> {
    let history = history(Some(history_json))?;
    let reports: Vec<OverdueReport> = engine.overdue(&history, time(at)?).map_err(evaluation)?;
    Ok(to_json(&reports))
}

/// Loads history into a ledger as it is (nothing is evaluated).
pub fn ledger_load(ledger: &mut Ledger, history_json: &str) -> Result<(), Failure> {
    let history = history(Some(history_json))?;
    ledger.load(&history).map_err(|e| Failure::input("history", e))
}

/// Submits an action to a ledger: `{"overdue": [report…], "decision": {…}}`.
pub fn submit(ledger: &mut Ledger, action_json: &str) -> Result<String, Failure> {
    #[derive(Serialize)]
    struct Submission<'a> {
        overdue: &'a [OverdueReport],
        decision: &'a Decision,
    }
    let action = action(action_json)?;
    let submission = ledger.submit(&action).map_err(evaluation)?;
    Ok(to_json(&Submission { overdue: &submission.overdue, decision: &submission.decision }))
}

/// Advances every RM of a ledger to a time: the overdue reports, as a JSON array.
pub fn advance_to(ledger: &mut Ledger, at: &str) -> Result<String, Failure> {
    Ok(to_json(&ledger.advance_to(time(at)?)))
}

#[cfg(test)]
mod tests {
    use super::*;

    const GIFTS: &str = r#"policy gifts "Gifts" version "1" effective 2026-01-01 timezone "Asia/Shanghai"
action gift_received { giver: text  kind: one of cash, goods  value: money }
action gift_registered { gift: text }
rule cash_gift "Cash is never accepted"
  cite "Staff conduct rules 4.1"
  on gift_received
  when action.kind = "cash"
  then deny, breach major
  message "cash gift of {action.value} from {action.giver}"
duty gift_register "Gifts are registered"
  cite "Staff conduct rules 4.2"
  on gift_received
  when action.value >= 200 CNY
  due within 30 days
  fulfilled by gift_registered where gift = action.id
  otherwise breach minor
ladder conduct window 12 months points minor 1, major 3 step 3 "formal warning"
"#;

    const CASH: &str = r#"{"type": "gift_received", "id": "G-1", "at": "2026-03-01T10:00:00+08:00",
        "rm": {"id": "R1"}, "giver": "ACME", "kind": "cash", "value": "500 CNY"}"#;

    fn engine() -> Engine {
        load(vec![("gifts.probity".into(), GIFTS.into())]).unwrap()
    }

    #[test]
    fn require_policy_reviews_an_action_no_policy_is_in_force_for() {
        let early = CASH.replace("2026-03-01", "2020-03-01");
        let plain: Json = serde_json::from_str(&evaluate(&engine(), &early, None).unwrap()).unwrap();
        assert_eq!(plain["verdict"], "allow");
        let strict = load_with(vec![("gifts.probity".into(), GIFTS.into())], true).unwrap();
        let decision: Json = serde_json::from_str(&evaluate(&strict, &early, None).unwrap()).unwrap();
        assert_eq!(decision["verdict"], "review");
        assert_eq!(decision["findings"][0]["rule"], "no-policy-in-force");
        assert_eq!(evaluate(&strict, CASH, None), evaluate(&engine(), CASH, None));
    }

    #[test]
    fn sources_as_object_or_pairs() {
        let object = sources_from_json(r#"{"a.probity": "x", "b.probity": "y"}"#).unwrap();
        assert_eq!(object, vec![("a.probity".into(), "x".into()), ("b.probity".into(), "y".into())]);
        let pairs = sources_from_json(r#"[["b", "y"], ["a", "x"]]"#).unwrap();
        assert_eq!(pairs, vec![("b".into(), "y".into()), ("a".into(), "x".into())]);
        for bad in [r#"{"a": 1}"#, r#"[["a"]]"#, r#"[["a", "x", "y"]]"#, "42", "nope"] {
            assert!(matches!(sources_from_json(bad), Err(Failure::Input(_))), "{bad}");
        }
    }

    #[test]
    fn evaluate_gives_the_engines_bytes() {
        let engine = engine();
        let ours = evaluate(&engine, CASH, None).unwrap();
        let theirs = engine.evaluate_json(CASH, None).unwrap();
        assert_eq!(ours, serde_json::to_string(&theirs).unwrap());
        assert!(ours.contains(r#""verdict":"deny""#), "{ours}");
    }

    #[test]
    fn policy_errors_carry_every_diagnostic() {
        let broken = GIFTS.replace("action.kind = \"cash\"", "action.knd = \"cash\"");
        let failure = load(vec![("gifts.probity".into(), broken)]).unwrap_err();
        assert_eq!(failure.name(), "PolicyError");
        let Failure::Policy { diagnostics, message } = &failure else { panic!("{failure:?}") };
        assert!(message.contains("error(s) in policy text"), "{message}");
        let first = diagnostics.iter().find(|d| d.message.contains("knd")).unwrap();
        assert_eq!((first.line, first.file.as_str()), (7, "gifts.probity"));
        let json: Json = serde_json::from_str(&failure.diagnostics_json().unwrap()).unwrap();
        assert_eq!(json.as_array().unwrap().len(), diagnostics.len());
        assert!(diagnose(vec![("gifts.probity".into(), GIFTS.into())]) == "[]");
    }

    #[test]
    fn input_errors_have_clear_messages() {
        let engine = engine();
        let e = evaluate(&engine, r#"{"type": "gift_received", "id": "G", "at": "2026-03-01T10:00:00Z"}"#, None);
        assert_eq!(
            e.unwrap_err().message(),
            "invalid action: `rm`: missing: every action names its RM as `{\"id\": …}`"
        );
        let e = evaluate(&engine, CASH, Some(r#"{"actions": 3}"#)).unwrap_err();
        assert!(e.message().starts_with("invalid history: "), "{e}");
        assert!(time("yesterday").unwrap_err().message().contains("RFC 3339"));
    }

    #[test]
    fn ledger_submits_and_advances() {
        let engine = engine();
        let mut ledger = engine.ledger();
        let goods = CASH.replace("\"cash\"", "\"goods\"");
        let first: Json = serde_json::from_str(&submit(&mut ledger, &goods).unwrap()).unwrap();
        assert_eq!(first["overdue"], Json::Array(vec![]));
        assert_eq!(first["decision"]["obligations"][0]["duty"], "gift_register");
        let reports: Json =
            serde_json::from_str(&advance_to(&mut ledger, "2026-04-05T00:00:00+08:00").unwrap()).unwrap();
        assert_eq!(reports[0]["obligation"]["duty"], "gift_register");
        assert_eq!(advance_to(&mut ledger, "2026-04-06T00:00:00+08:00").unwrap(), "[]");
        let older = CASH.replace("2026-03-01", "2026-02-01");
        assert!(submit(&mut ledger, &older).unwrap_err().message().contains("time order"));
    }

    #[test]
    fn ledger_history_and_pure_overdue() {
        let engine = engine();
        let history = r#"{"obligations": [{"rm": "R1", "policy": "gifts", "duty": "gift_register",
            "action": "G-0", "due": "2026-02-01T10:00:00+08:00"}]}"#;
        let pure: Json = serde_json::from_str(&overdue(&engine, history, "2026-03-01T00:00:00Z").unwrap()).unwrap();
        assert_eq!(pure.as_array().unwrap().len(), 1);
        let mut ledger = engine.ledger();
        ledger_load(&mut ledger, history).unwrap();
        let submitted: Json = serde_json::from_str(&submit(&mut ledger, CASH).unwrap()).unwrap();
        assert_eq!(submitted["overdue"], pure);
        let no_rm = r#"{"breaches": [{"policy": "gifts", "rule": "cash_gift", "severity": "major", "at": "2026-01-01T00:00:00Z", "action": "G"}]}"#;
        assert!(ledger_load(&mut ledger, no_rm).unwrap_err().message().contains("breaches[0].rm"));
    }

    #[test]
    fn warnings_and_versions() {
        let engine = engine();
        assert_eq!(versions(&engine), r#"[{"id":"gifts","version":"1"}]"#);
        assert_eq!(warnings(&engine), "[]");
        let uncited = GIFTS.replace("  cite \"Staff conduct rules 4.1\"\n", "");
        let engine = load(vec![("g".into(), uncited)]).unwrap();
        let warnings: Json = serde_json::from_str(&warnings(&engine)).unwrap();
        assert_eq!(warnings[0]["severity"], "warning", "{warnings}");
    }
}
